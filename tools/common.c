/* SPDX-License-Identifier: MIT */
/*
 * common.c - helpers both jobs of directfs-progress use (common.h).
 */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - floor(s)) * 1e9)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int get_text(const char *path, enum dfs_attr a, char *buf, size_t len)
{
	ssize_t n = getxattr(path, dfs_attr_name(a), buf, len - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int get_u64(const char *path, enum dfs_attr a, uint64_t *v)
{
	char buf[32], *end;
	int r = get_text(path, a, buf, sizeof(buf));

	if (r)
		return r;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno || *end || end == buf ? -EINVAL : 0;
}

bool file_copy_ended(enum dfs_state st, uint64_t durable, uint64_t size)
{
	return (st == DFS_STATE_IDLE || st == DFS_STATE_FALLBACK) && durable >= size;
}

const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.*f %s", x < 10 ? 2 : x < 100 ? 1 : 0, x, units[u]);
	return buf;
}

unsigned term_cols(void)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

unsigned term_rows(void)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row >= 5)
		return ws.ws_row;
	return 24;
}

bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		return false;
	*out = v;
	return true;
}
