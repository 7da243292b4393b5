/* SPDX-License-Identifier: MIT */
/*
 * Description: a preload shim for the daemon that makes its system calls
 * fail on demand, as a full descriptor table or a failing device would.
 *
 *   LD_PRELOAD=libmount_failshim.so DFS_FAIL_OPEN=GATE1 DFS_FAIL_IO=GATE2 directfs ...
 *
 * Reopens (DFS_FAIL_OPEN): while GATE1 exists, every open(2) of a
 * /proc/self/fd/N name (how the daemon opens an inode again: dfs_reopen)
 * whose flags hold the kind GATE1 names fails with EMFILE: "path" fails
 * O_PATH reopens (the descriptor a create keeps for the new inode), and
 * the O_PATH openat(2) of the name the same thread has just created;
 * "procpath" the reopens only; "direct" O_DIRECT ones (the engine's, at
 * open with fallback=refuse).
 *
 * Disk calls (DFS_FAIL_IO): while GATE2 exists and holds "KIND ERRNO
 * TEXT", calls of that kind on a descriptor whose path contains TEXT fail
 * with ERRNO (EIO, ENOSPC or EDQUOT):
 *   direct  pwrite/pwritev2 on an O_DIRECT descriptor (the staged data)
 *   plain   pwrite/pwritev2 on any other (the unaligned tail, small files)
 *   sync    fsync, fdatasync and syncfs (the durability of a file)
 *
 * Each failure appends a line to GATE.hits.  Removing a gate ends it.
 */
#define _GNU_SOURCE
/* open/open64 and pwrite/pwrite64 as separate symbols: all are wrapped. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define REAL(name, type)                                \
	static __typeof__((type)0) real;                \
	if (!real)                                      \
		real = (type)dlsym(RTLD_NEXT, name)

static int (*real_open)(const char *, int, ...);

/* The text of the gate that environment variable env names, into buf;
 * false when there is none. */
static bool gate_read(const char *env, char *buf, size_t len)
{
	const char *gate = getenv(env);
	ssize_t n;
	int g;

	if (!gate)
		return false;
	if (!real_open)
		real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	g = real_open(gate, O_RDONLY | O_CLOEXEC);
	if (g < 0)
		return false;
	n = read(g, buf, len - 1);
	close(g);
	buf[n > 0 ? n : 0] = '\0';
	return true;
}

/* Count one failure made by the gate of env. */
static void gate_hit(const char *env)
{
	char hits[4096];
	int fd;

	snprintf(hits, sizeof(hits), "%s.hits", getenv(env));
	fd = real_open(hits, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, "hit\n", 4) != 4)
			perror("failshim");
		close(fd);
	}
}

/* ---- reopens ---- */

/* Should an open of path with flags fail now?  byname: the O_PATH open
 * of a name just created, which "procpath" lets through. */
static bool refused(const char *path, int flags, bool byname)
{
	char kind[32];
	int want;

	if (strncmp(path, "/proc/self/fd/", 14) ||
	    !gate_read("DFS_FAIL_OPEN", kind, sizeof(kind)))
		return false;
	if (byname && strstr(kind, "procpath"))
		return false;
	want = strstr(kind, "direct") ? O_DIRECT : strstr(kind, "path") ? O_PATH : 0;
	if (!want || !(flags & want))
		return false;
	gate_hit("DFS_FAIL_OPEN");
	return true;
}

/* The mode argument, there only with O_CREAT or O_TMPFILE. */
#define OPEN_WRAPPER(sym)                                                       \
	int sym(const char *path, int flags, ...)                               \
	{                                                                       \
		mode_t mode = 0;                                                \
		va_list ap;                                                     \
		REAL(#sym, int (*)(const char *, int, ...));                    \
		va_start(ap, flags);                                            \
		if (flags & (O_CREAT | O_TMPFILE))                              \
			mode = va_arg(ap, mode_t);                              \
		va_end(ap);                                                     \
		if (refused(path, flags, false)) {                              \
			errno = EMFILE;                                         \
			return -1;                                              \
		}                                                               \
		return real(path, flags, mode);                                 \
	}

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

/* The name this thread last created with openat(O_CREAT): a create's
 * descriptor for the new inode is opened by that name. */
static __thread char created[256];

#define OPENAT_WRAPPER(sym)                                                     \
	int sym(int dfd, const char *path, int flags, ...)                      \
	{                                                                       \
		mode_t mode = 0;                                                \
		va_list ap;                                                     \
		int fd;                                                         \
		REAL(#sym, int (*)(int, const char *, int, ...));               \
		va_start(ap, flags);                                            \
		if (flags & (O_CREAT | O_TMPFILE))                              \
			mode = va_arg(ap, mode_t);                              \
		va_end(ap);                                                     \
		if ((flags & O_PATH) && created[0] && !strcmp(path, created)) { \
			created[0] = '\0';                                      \
			if (refused("/proc/self/fd/", flags, true)) {           \
				errno = EMFILE;                                 \
				return -1;                                      \
			}                                                       \
		}                                                               \
		fd = real(dfd, path, flags, mode);                              \
		if (fd >= 0 && (flags & O_CREAT) && strlen(path) < sizeof(created)) \
			strcpy(created, path);                                  \
		return fd;                                                      \
	}

OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

/* ---- disk calls ---- */

enum kind { DIRECT, PLAIN, SYNC };

/* The errno to fail a call of kind k on fd with, or 0. */
static int failure(enum kind k, int fd)
{
	char spec[256], kind[16], err[16], text[200], path[64], name[4096];
	ssize_t n;

	if (!gate_read("DFS_FAIL_IO", spec, sizeof(spec)) ||
	    sscanf(spec, "%15s %15s %199s", kind, err, text) != 3)
		return 0;
	if (strcmp(kind, k == SYNC ? "sync" : k == DIRECT ? "direct" : "plain"))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	name[n > 0 ? n : 0] = '\0';
	if (!strstr(name, text))
		return 0;
	gate_hit("DFS_FAIL_IO");
	return !strcmp(err, "ENOSPC") ? ENOSPC : !strcmp(err, "EDQUOT") ? EDQUOT : EIO;
}

static enum kind write_kind(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_DIRECT) ? DIRECT : PLAIN;
}

/* Fail the call as the gate says, or go on. */
#define FAIL_OR_GO(k, fd)                    \
	do {                                 \
		int e_ = failure((k), (fd)); \
		if (e_) {                    \
			errno = e_;          \
			return -1;           \
		}                            \
	} while (0)

#define PWRITE_WRAPPER(sym)                                                     \
	ssize_t sym(int fd, const void *buf, size_t len, off_t off)             \
	{                                                                       \
		REAL(#sym, ssize_t (*)(int, const void *, size_t, off_t));      \
		FAIL_OR_GO(write_kind(fd), fd);                                 \
		return real(fd, buf, len, off);                                 \
	}

#define PWRITEV2_WRAPPER(sym)                                                            \
	ssize_t sym(int fd, const struct iovec *iov, int cnt, off_t off, int flags)      \
	{                                                                                \
		REAL(#sym, ssize_t (*)(int, const struct iovec *, int, off_t, int));     \
		FAIL_OR_GO(write_kind(fd), fd);                                          \
		return real(fd, iov, cnt, off, flags);                                   \
	}

#define SYNC_WRAPPER(sym)                          \
	int sym(int fd)                            \
	{                                          \
		REAL(#sym, int (*)(int));          \
		FAIL_OR_GO(SYNC, fd);              \
		return real(fd);                   \
	}

PWRITE_WRAPPER(pwrite)
PWRITE_WRAPPER(pwrite64)
PWRITEV2_WRAPPER(pwritev2)
PWRITEV2_WRAPPER(pwritev64v2)
SYNC_WRAPPER(fsync)
SYNC_WRAPPER(fdatasync)
SYNC_WRAPPER(syncfs)
