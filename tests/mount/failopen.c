/* SPDX-License-Identifier: MIT */
/*
 * Description: a preload shim for the daemon that makes its reopens fail.
 *
 *   LD_PRELOAD=libfailopen.so DFS_FAIL_OPEN=GATE directfs ...
 *
 * While the file GATE exists, every open(2) of a /proc/self/fd/N name
 * (how the daemon opens an inode again: dfs_reopen) whose flags hold the
 * kind GATE names fails with EMFILE, as under a full descriptor table:
 * "path" fails O_PATH reopens (the descriptor a create keeps for the new
 * inode), "direct" fails O_DIRECT ones (the engine's, at open with
 * fallback=refuse).  Each failure appends a line to GATE.hits.  Removing
 * GATE ends it.  Nothing else changes.
 */
#define _GNU_SOURCE
/* open and open64 as two symbols: both are wrapped. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int (*real_open)(const char *, int, ...);

/* Should an open of path with flags fail now? */
static int refused(const char *path, int flags)
{
	const char *gate = getenv("DFS_FAIL_OPEN");
	char kind[32] = "", hits[4096];
	ssize_t n;
	int g, fd, want;

	if (!gate || strncmp(path, "/proc/self/fd/", 14))
		return 0;
	g = real_open(gate, O_RDONLY | O_CLOEXEC);
	if (g < 0)
		return 0;
	n = read(g, kind, sizeof(kind) - 1);
	close(g);
	kind[n > 0 ? n : 0] = '\0';
	want = strstr(kind, "direct") ? O_DIRECT : strstr(kind, "path") ? O_PATH : 0;
	if (!want || !(flags & want))
		return 0;
	snprintf(hits, sizeof(hits), "%s.hits", gate);
	fd = real_open(hits, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, "hit\n", 4) != 4)
			perror("failopen");
		close(fd);
	}
	return 1;
}

static int do_open(const char *path, int flags, mode_t mode)
{
	if (!real_open)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (refused(path, flags)) {
		errno = EMFILE;
		return -1;
	}
	return real_open(path, flags, mode);
}

/* The mode argument, there only with O_CREAT or O_TMPFILE. */
#define MODE_ARG(flags, mode)                                      \
	do {                                                        \
		va_list ap;                                         \
		va_start(ap, flags);                                \
		mode = flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0; \
		va_end(ap);                                         \
	} while (0)

int open(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return do_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode;

	MODE_ARG(flags, mode);
	return do_open(path, flags, mode);
}
