/* SPDX-License-Identifier: MIT */
/*
 * dfs_mountinfo.h - reading /proc/self/mountinfo (mountinfo.c), for the
 * daemon (its own mount's ID) and directfs-progress (the mounts there are).
 */
#ifndef DFS_MOUNTINFO_H
#define DFS_MOUNTINFO_H

#include <stdint.h>

/* mountinfo's octal escapes (\040 for a space ...) undone in place. */
void dfs_mountinfo_unescape(char *s);
/* Call fn for each mount, oldest first, with its ID, mount point, type
 * and source, unescaped; a non-zero return from fn stops the walk and is
 * returned.  0, or -errno. */
typedef int dfs_mount_fn(void *arg, uint64_t id, const char *point, const char *type,
			 const char *source);
int dfs_mountinfo_each(dfs_mount_fn *fn, void *arg);
/* The ID (mountinfo's first field, statx's stx_mnt_id) of the newest
 * mount of type fstype at point: 0, or -ENOENT, or -errno. */
int dfs_mountinfo_id(const char *point, const char *fstype, uint64_t *id);

#endif
