/* SPDX-License-Identifier: MIT */
/*
 * helper.h - what mount.directfs and umount.directfs both do: run another
 * program and wait for it, and enter the mount namespace mount(8) names
 * with -N.  Messages start with the calling helper's name.
 */
#ifndef DFS_HELPER_H
#define DFS_HELPER_H

#include <stdbool.h>

/* Run argv (argv[0] an absolute path) and wait; its exit status, or 1 if
 * it could not be run or was killed.  verbose: show the command first. */
int helper_run(const char *me, char *const argv[], bool verbose);
/* Enter the mount namespace of the file ns (/proc/PID/ns/mnt); 0, or 1
 * with a message. */
int helper_setns(const char *me, const char *ns);

#endif
