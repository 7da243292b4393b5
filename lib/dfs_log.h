/* SPDX-License-Identifier: MIT */
/*
 * dfs_log.h - the one logger of directfs.  A message is formatted here and
 * handed whole to a sink: the daemon's (stderr in the foreground, syslog
 * once detached) or a test's.  The engine and the daemon share it.
 */
#ifndef DFS_LOG_H
#define DFS_LOG_H

#include <stdarg.h>

/* Where messages go; level is a syslog level (LOG_ERR ...). */
typedef void dfs_log_sink(void *arg, int level, const char *msg);

/* Format a message and hand it to sink(arg, ...); a NULL sink writes
 * "directfs: MSG" to stderr. */
void dfs_logf(dfs_log_sink *sink, void *arg, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void dfs_vlogf(dfs_log_sink *sink, void *arg, int level, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#endif /* DFS_LOG_H */
