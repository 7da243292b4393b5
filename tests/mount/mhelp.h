/* SPDX-License-Identifier: MIT */
/*
 * mhelp.h - small pieces the mount tests' C helpers share.
 */
#ifndef MHELP_H
#define MHELP_H

#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

/* pwrite all of buf at off, looping on short writes and EINTR: 0, or
 * -errno (-EIO for a write that makes no progress). */
static inline int pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

#endif
