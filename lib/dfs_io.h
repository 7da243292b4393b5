/* SPDX-License-Identifier: MIT */
/*
 * dfs_io.h - the I/O calls the staging engine makes, as a table.
 *
 * Every read, write, sync and truncate the engine performs on a backing
 * file goes through a struct dfs_io_ops.  dfs_io_default() is the table of
 * real system calls; tests wrap it to return short counts, EINTR, EIO,
 * ENOSPC ... on demand.
 *
 * Each call is one system call, no retries: it returns a count or 0 on
 * success and -errno on failure (never -1 with errno set).  Looping on
 * short transfers and EINTR is the engine's job (dfs_io_write_full,
 * dfs_io_read_full), so a fake may return a short count and the engine
 * must cope.
 */
#ifndef DFS_IO_H
#define DFS_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One write of a batch: buf, len and off in, res out. */
struct dfs_io_piece {
	const void *buf;
	size_t len;
	off_t off;
	ssize_t res; /* what a pwrite of it returned: a count or -errno */
};

struct dfs_io_ops {
	/* pwritev2() of one buffer; flags are RWF_* (0 for plain pwrite). */
	ssize_t (*pwrite)(void *arg, int fd, const void *buf, size_t len, off_t off,
			  int rwf_flags);
	/* n plain pwrites, which the device may run at once (dfs_io_default:
	 * Linux AIO, for an O_DIRECT descriptor); each piece's res is set.
	 * Returns when every one has ended.  NULL: one pwrite after another. */
	void (*pwrite_batch)(void *arg, int fd, struct dfs_io_piece *p, unsigned n);
	ssize_t (*pread)(void *arg, int fd, void *buf, size_t len, off_t off);
	int (*fsync)(void *arg, int fd, int datasync);
	int (*ftruncate)(void *arg, int fd, off_t len);
	int (*fallocate)(void *arg, int fd, int mode, off_t off, off_t len);
	/* posix_fadvise(); advisory, errors are ignored by the engine. */
	int (*fadvise)(void *arg, int fd, off_t off, off_t len, int advice);
	int (*sync_file_range)(void *arg, int fd, off_t off, off_t len,
			       unsigned int flags);
	/* syncfs(): the whole filesystem fd is on. */
	int (*syncfs)(void *arg, int fd);
	/* fsetxattr(), fremovexattr(), flistxattr(): a file's checksum tag
	 * (dfs_sum.h).  flistxattr returns the list's length. */
	int (*fsetxattr)(void *arg, int fd, const char *name, const void *value, size_t size,
			 int flags);
	int (*fremovexattr)(void *arg, int fd, const char *name);
	ssize_t (*flistxattr)(void *arg, int fd, char *list, size_t size);
	void *arg;
};

/* The real system calls. */
const struct dfs_io_ops *dfs_io_default(void);

/*
 * Write all of buf at off, looping on short writes and EINTR.  Returns 0 or
 * -errno.  A write that makes no progress returns -EIO rather than looping.
 */
int dfs_io_write_full(const struct dfs_io_ops *io, int fd, const void *buf, size_t len,
		      off_t off, int rwf_flags);

/*
 * Write every piece in full (pwrite_batch, then dfs_io_write_full for what
 * came back short or interrupted).  Returns 0 or the first -errno; every
 * piece was tried either way.
 */
int dfs_io_write_batch(const struct dfs_io_ops *io, int fd, struct dfs_io_piece *p,
		       unsigned n);

/*
 * Read up to len bytes at off, looping on short reads and EINTR until len
 * bytes or end of file.  Returns the count read (short only at EOF) or
 * -errno.  A short read that leaves the position off a multiple of blk is
 * end of file: for an O_DIRECT descriptor (blk = its alignment) another
 * read there would be misaligned; plain descriptors pass blk = 1.
 */
ssize_t dfs_io_read_full(const struct dfs_io_ops *io, int fd, void *buf, size_t len,
			 off_t off, unsigned blk);

/*
 * "/proc/self/fd/N" into buf: a name for the inode fd refers to that
 * resolves no path (fd may be an O_PATH descriptor).
 */
void dfs_proc_path(char *buf, size_t len, int fd);

/*
 * A new open file description of the file fd refers to, opened with flags
 * (O_CLOEXEC added) through its /proc/self/fd name.  Never dup(): a dup
 * shares the description, its O_APPEND (which makes pwrite ignore its
 * offset) and any O_DIRECT toggle.  Returns the descriptor or -errno.
 */
int dfs_reopen(int fd, int flags);

#endif /* DFS_IO_H */
