/* SPDX-License-Identifier: MIT */
/*
 * io.c - the default I/O table (real system calls), the loops that make
 * short transfers and EINTR invisible to the rest of the engine, and
 * reopening a descriptor through /proc/self/fd.
 *
 * A batch of writes goes through Linux AIO (io_submit), which for an
 * O_DIRECT descriptor queues them all at the device at once: a window's
 * scattered blocks cost one queue's time instead of one write's latency
 * each.  Each thread has its own AIO context, made at its first batch and
 * destroyed when it ends; a thread that cannot have one, or a write the
 * kernel will not queue, gets a plain pwrite instead.
 */
#define _GNU_SOURCE
#include "dfs_io.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Writes one io_submit queues, and events of a thread's context. */
#define AIO_BATCH 64

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

/* ---- batches through Linux AIO ---- */

/* Each thread's context in aio_key: NULL until its first batch; AIO_NONE
 * when none can be had (a context is the address of a mapping, never 1).
 * A key rather than __thread: this library's position-independent TLS
 * calls __tls_get_addr, which makes the daemon need the dynamic loader by
 * name, and Debian 13's dpkg-shlibdeps warns about its usr-merge
 * diversion (t_deb13). */
#define AIO_NONE ((void *)1)
static pthread_key_t aio_key;
static pthread_once_t aio_once = PTHREAD_ONCE_INIT;
static bool aio_key_ok;

static void aio_ctx_destroy(void *v)
{
	if (v != AIO_NONE)
		syscall(SYS_io_destroy, (aio_context_t)(uintptr_t)v);
}

static void aio_key_make(void)
{
	aio_key_ok = pthread_key_create(&aio_key, aio_ctx_destroy) == 0;
}

/* This thread's context, or 0 (ENOSYS, aio-max-nr reached ...). */
static aio_context_t aio_context(void)
{
	aio_context_t ctx = 0;
	void *v;

	pthread_once(&aio_once, aio_key_make);
	if (!aio_key_ok)
		return 0;
	v = pthread_getspecific(aio_key);
	if (v)
		return v == AIO_NONE ? 0 : (aio_context_t)(uintptr_t)v;
	if (syscall(SYS_io_setup, AIO_BATCH, &ctx) < 0)
		ctx = 0;
	if (pthread_setspecific(aio_key, ctx ? (void *)(uintptr_t)ctx : AIO_NONE) && ctx) {
		syscall(SYS_io_destroy, ctx);
		ctx = 0;
	}
	return ctx;
}

/* Wait for n queued writes of ctx; their results into p. */
static void aio_reap(aio_context_t ctx, struct dfs_io_piece *p, unsigned n)
{
	struct io_event ev[AIO_BATCH];

	while (n > 0) {
		long r = syscall(SYS_io_getevents, ctx, 1L, (long)n, ev, NULL);
		if (r < 0 && errno == EINTR)
			continue;
		/* Nothing else happens to a valid context.  If it did, the
		 * kernel might still be reading buffers the engine would
		 * reuse: stop rather than write wrong bytes. */
		if (r < 0)
			abort();
		for (long i = 0; i < r; i++)
			p[ev[i].data].res = (ssize_t)ev[i].res;
		n -= (unsigned)r;
	}
}

static void sys_pwrite_batch(void *arg, int fd, struct dfs_io_piece *p, unsigned n)
{
	aio_context_t ctx = aio_context();

	for (unsigned i = 0; i < n;) {
		struct iocb cb[AIO_BATCH], *cbp[AIO_BATCH];
		unsigned m = n - i < AIO_BATCH ? n - i : AIO_BATCH, queued = 0;

		memset(cb, 0, sizeof(cb[0]) * m);
		for (unsigned k = 0; k < m; k++) {
			cb[k].aio_data = i + k;
			cb[k].aio_lio_opcode = IOCB_CMD_PWRITE;
			cb[k].aio_fildes = (uint32_t)fd;
			cb[k].aio_buf = (uint64_t)(uintptr_t)p[i + k].buf;
			cb[k].aio_nbytes = p[i + k].len;
			cb[k].aio_offset = p[i + k].off;
			cbp[k] = &cb[k];
		}
		for (unsigned k = 0; k < m;) {
			long r = ctx ? syscall(SYS_io_submit, ctx, (long)(m - k), cbp + k) : -1;
			if (r > 0) {
				queued += (unsigned)r;
				k += (unsigned)r;
				continue;
			}
			/* Not queued (EAGAIN, EINVAL for a file without AIO,
			 * no context): that one is written now. */
			p[i + k].res = sys_pwrite(arg, fd, p[i + k].buf, p[i + k].len,
						  p[i + k].off, 0);
			k++;
		}
		aio_reap(ctx, p, queued);
		i += m;
	}
}

static int sys_fsetxattr(void *arg, int fd, const char *name, const void *value, size_t size,
			 int flags)
{
	(void)arg;
	return fsetxattr(fd, name, value, size, flags) < 0 ? -errno : 0;
}

static int sys_fremovexattr(void *arg, int fd, const char *name)
{
	(void)arg;
	return fremovexattr(fd, name) < 0 ? -errno : 0;
}

static ssize_t sys_flistxattr(void *arg, int fd, char *list, size_t size)
{
	(void)arg;
	ssize_t n = flistxattr(fd, list, size);
	return n < 0 ? -errno : n;
}

static const struct dfs_io_ops default_ops = {
	.pwrite = sys_pwrite,
	.pwrite_batch = sys_pwrite_batch,
	.pread = sys_pread,
	.fsync = sys_fsync,
	.ftruncate = sys_ftruncate,
	.fallocate = sys_fallocate,
	.fadvise = sys_fadvise,
	.sync_file_range = sys_sync_file_range,
	.syncfs = sys_syncfs,
	.fsetxattr = sys_fsetxattr,
	.fremovexattr = sys_fremovexattr,
	.flistxattr = sys_flistxattr,
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

int dfs_io_write_batch(const struct dfs_io_ops *io, int fd, struct dfs_io_piece *p,
		       unsigned n)
{
	int err = 0;

	if (io->pwrite_batch && n > 1) { /* one write: a pwrite costs less */
		io->pwrite_batch(io->arg, fd, p, n);
	} else {
		for (unsigned i = 0; i < n; i++)
			p[i].res = io->pwrite(io->arg, fd, p[i].buf, p[i].len, p[i].off, 0);
	}
	for (unsigned i = 0; i < n; i++) {
		ssize_t r = p[i].res;
		int e = 0;

		assert(r <= (ssize_t)p[i].len);
		if (r == -EINTR || r == -EAGAIN)
			r = 0; /* not written: again, below */
		if (r < 0)
			e = (int)r;
		else if ((size_t)r < p[i].len)
			e = dfs_io_write_full(io, fd, (const char *)p[i].buf + r,
					      p[i].len - (size_t)r, p[i].off + r, 0);
		if (e && !err)
			err = e;
	}
	return err;
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
