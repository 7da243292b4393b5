/* SPDX-License-Identifier: MIT */
/*
 * log.c - the daemon's log: stderr in the foreground (-f, -d), syslog
 * (daemon facility) once it has detached.
 */
#include <stdarg.h>
#include <stdio.h>

#include "fs.h"

static void emit(struct fs *fs, int level, const char *msg)
{
	if (fs->foreground)
		fprintf(stderr, "directfs: %s\n", msg);
	else
		syslog(level, "%s", msg);
}

void fs_log(struct fs *fs, int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(fs, level, msg);
}

void fs_engine_log(void *arg, int level, const char *msg)
{
	emit(arg, level, msg);
}
