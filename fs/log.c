/* SPDX-License-Identifier: MIT */
/*
 * log.c - where the daemon's log lines go (the engine's too): stderr in
 * the foreground (-f, -d), syslog (daemon facility) once it has detached.
 * Formatting is lib/'s (dfs_log.h).
 */
#include <stdio.h>

#include "fs.h"

void fs_log_sink(void *arg, int level, const char *msg)
{
	struct fs *fs = arg;

	if (fs->foreground)
		fprintf(stderr, "directfs: %s\n", msg);
	else
		syslog(level, "%s", msg);
}
