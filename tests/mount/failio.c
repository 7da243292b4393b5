/* SPDX-License-Identifier: MIT */
/*
 * Description: a preload shim for the daemon that fails its disk writes
 * and syncs, as a failing or full device would.
 *
 *   LD_PRELOAD=libfailio.so DFS_FAIL_IO=GATE directfs ...
 *
 * While the file GATE exists and holds "KIND ERRNO TEXT", calls of that
 * kind on a descriptor whose path contains TEXT fail with ERRNO (EIO,
 * ENOSPC or EDQUOT):
 *   direct  pwrite/pwritev2 on an O_DIRECT descriptor (the staged data)
 *   plain   pwrite/pwritev2 on any other (the unaligned tail, small files)
 *   sync    fsync, fdatasync and syncfs (the durability of a file)
 * Each failure appends a line to GATE.hits.  Removing GATE ends it.
 */
#define _GNU_SOURCE
/* pwrite and pwrite64 as two symbols: both are wrapped. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

enum kind { DIRECT, PLAIN, SYNC };

/* The errno to fail a call of kind k on fd with, or 0. */
static int failure(enum kind k, int fd)
{
	const char *gate = getenv("DFS_FAIL_IO");
	char spec[256] = "", kind[16], err[16], text[200], path[64], name[4096];
	ssize_t n;
	int g, e;

	if (!gate)
		return 0;
	g = open(gate, O_RDONLY | O_CLOEXEC);
	if (g < 0)
		return 0;
	n = read(g, spec, sizeof(spec) - 1);
	close(g);
	spec[n > 0 ? n : 0] = '\0';
	if (sscanf(spec, "%15s %15s %199s", kind, err, text) != 3)
		return 0;
	if (k == SYNC ? strcmp(kind, "sync") : strcmp(kind, k == DIRECT ? "direct" : "plain"))
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	name[n > 0 ? n : 0] = '\0';
	if (!strstr(name, text))
		return 0;
	e = !strcmp(err, "ENOSPC") ? ENOSPC : !strcmp(err, "EDQUOT") ? EDQUOT : EIO;
	snprintf(name, sizeof(name), "%s.hits", gate);
	g = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (g >= 0) {
		if (write(g, "hit\n", 4) != 4)
			perror("failio");
		close(g);
	}
	return e;
}

#define REAL(name, type) \
	static __typeof__((type)0) real; \
	if (!real) \
		real = (type)dlsym(RTLD_NEXT, name)

static enum kind write_kind(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_DIRECT) ? DIRECT : PLAIN;
}

/* Fail the call as the gate says, or go on. */
#define FAIL_OR_GO(k, fd)                     \
	do {                                  \
		int e_ = failure((k), (fd));  \
		if (e_) {                     \
			errno = e_;           \
			return -1;            \
		}                             \
	} while (0)

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL("pwrite", ssize_t (*)(int, const void *, size_t, off_t));
	FAIL_OR_GO(write_kind(fd), fd);
	return real(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL("pwrite64", ssize_t (*)(int, const void *, size_t, off_t));
	FAIL_OR_GO(write_kind(fd), fd);
	return real(fd, buf, len, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	REAL("pwritev2", ssize_t (*)(int, const struct iovec *, int, off_t, int));
	FAIL_OR_GO(write_kind(fd), fd);
	return real(fd, iov, cnt, off, flags);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	REAL("pwritev64v2", ssize_t (*)(int, const struct iovec *, int, off_t, int));
	FAIL_OR_GO(write_kind(fd), fd);
	return real(fd, iov, cnt, off, flags);
}

int fsync(int fd)
{
	REAL("fsync", int (*)(int));
	FAIL_OR_GO(SYNC, fd);
	return real(fd);
}

int fdatasync(int fd)
{
	REAL("fdatasync", int (*)(int));
	FAIL_OR_GO(SYNC, fd);
	return real(fd);
}

int syncfs(int fd)
{
	REAL("syncfs", int (*)(int));
	FAIL_OR_GO(SYNC, fd);
	return real(fd);
}
