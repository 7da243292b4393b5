/* SPDX-License-Identifier: MIT */
/*
 * io.c - the default I/O table (real system calls), the loops that make
 * short transfers and EINTR invisible to the rest of the engine, and
 * reopening a descriptor through /proc/self/fd.
 */
#define _GNU_SOURCE
#include "dfs_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t sys_pwrite(void *arg, int fd, const void *buf, size_t len, off_t off,
			  int rwf_flags)
{
	(void)arg;
	ssize_t r;
	if (rwf_flags) {
		struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
		r = pwritev2(fd, &iov, 1, off, rwf_flags);
	} else {
		r = pwrite(fd, buf, len, off);
	}
	return r < 0 ? -errno : r;
}

static ssize_t sys_pread(void *arg, int fd, void *buf, size_t len, off_t off)
{
	(void)arg;
	ssize_t r = pread(fd, buf, len, off);
	return r < 0 ? -errno : r;
}

static int sys_fsync(void *arg, int fd, int datasync)
{
	(void)arg;
	int r = datasync ? fdatasync(fd) : fsync(fd);
	return r < 0 ? -errno : 0;
}

static int sys_ftruncate(void *arg, int fd, off_t len)
{
	(void)arg;
	return ftruncate(fd, len) < 0 ? -errno : 0;
}

static int sys_fallocate(void *arg, int fd, int mode, off_t off, off_t len)
{
	(void)arg;
	return fallocate(fd, mode, off, len) < 0 ? -errno : 0;
}

static int sys_fadvise(void *arg, int fd, off_t off, off_t len, int advice)
{
	(void)arg;
	return -posix_fadvise(fd, off, len, advice);
}

static int sys_sync_file_range(void *arg, int fd, off_t off, off_t len,
			       unsigned int flags)
{
	(void)arg;
	return sync_file_range(fd, off, len, flags) < 0 ? -errno : 0;
}

static int sys_syncfs(void *arg, int fd)
{
	(void)arg;
	return syncfs(fd) < 0 ? -errno : 0;
}

static const struct dfs_io_ops default_ops = {
	.pwrite = sys_pwrite,
	.pread = sys_pread,
	.fsync = sys_fsync,
	.ftruncate = sys_ftruncate,
	.fallocate = sys_fallocate,
	.fadvise = sys_fadvise,
	.sync_file_range = sys_sync_file_range,
	.syncfs = sys_syncfs,
	.arg = NULL,
};

const struct dfs_io_ops *dfs_io_default(void)
{
	return &default_ops;
}

int dfs_io_write_full(const struct dfs_io_ops *io, int fd, const void *buf, size_t len,
		      off_t off, int rwf_flags)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t r = io->pwrite(io->arg, fd, p, len, off, rwf_flags);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO; /* no progress: do not spin */
		p += r;
		off += r;
		len -= (size_t)r;
	}
	return 0;
}

ssize_t dfs_io_read_full(const struct dfs_io_ops *io, int fd, void *buf, size_t len,
			 off_t off, unsigned blk)
{
	char *p = buf;
	size_t done = 0;

	while (done < len) {
		ssize_t r =
			io->pread(io->arg, fd, p + done, len - done, off + (off_t)done);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return r;
		if (r == 0)
			break;
		done += (size_t)r;
		if (done < len && (uint64_t)(off + (off_t)done) % blk)
			break; /* ended inside a block: end of file */
	}
	return (ssize_t)done;
}

void dfs_proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

int dfs_reopen(int fd, int flags)
{
	char path[64];
	int nfd;

	dfs_proc_path(path, sizeof(path), fd);
	nfd = open(path, flags | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}
