/* SPDX-License-Identifier: MIT */
/*
 * logsink.c - where the daemon's log lines go (the engine's too): stderr in
 * the foreground (-f, -d), syslog (daemon facility) once it has detached.
 * Formatting is lib/'s (dfs_log.h).  Under -d, the handlers' trace lines
 * (ending "io_uring" for a request that came over the ring).
 */
#include <stdarg.h>
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

void fs_trace_line(fuse_req_t req, const char *fmt, ...)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bool ring = false;
#ifdef FUSE_CAP_OVER_IO_URING
	ring = fuse_req_is_uring(req);
#endif
	fs_log(fs_of(req), LOG_DEBUG, "trace: %s pid=%d%s", line, (int)ctx->pid,
	       ring ? " io_uring" : "");
}
