/* SPDX-License-Identifier: MIT */
/*
 * log.c - format a log message and hand it to a sink (dfs_log.h).
 */
#include "dfs_log.h"

#include <stdio.h>

#define LOG_LINE_MAX 1024

void dfs_vlogf(dfs_log_sink *sink, void *arg, int level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (sink)
		sink(arg, level, msg);
	else
		fprintf(stderr, "directfs: %s\n", msg);
}

void dfs_logf(dfs_log_sink *sink, void *arg, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dfs_vlogf(sink, arg, level, fmt, ap);
	va_end(ap);
}
