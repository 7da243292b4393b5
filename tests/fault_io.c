/* SPDX-License-Identifier: MIT */
/* fault_io.c - see fault_io.h. */
#define _GNU_SOURCE
#include "fault_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>

#define FI_RWF_DONTCACHE 0x80 /* RWF_DONTCACHE, Linux 6.14 */

static bool fd_is_direct(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_DIRECT);
}

/* Under fi->lock: the rule that fires for this call, consuming it. */
static struct fi_rule *match(struct fault_io *fi, enum fi_op op, int fd, int rwf)
{
	bool direct = fd_is_direct(fd);
	fi->calls[op]++;
	for (int i = 0; i < fi->nrules; i++) {
		struct fi_rule *r = &fi->rules[i];
		if (r->op != op || r->count == 0)
			continue;
		if ((r->target == FI_DIRECT && !direct) ||
		    (r->target == FI_PLAIN && direct))
			continue;
		if (r->rwf_flags_mask && !(rwf & r->rwf_flags_mask))
			continue;
		if (r->skip > 0) {
			r->skip--;
			continue;
		}
		if (r->count > 0)
			r->count--;
		fi->fired++;
		return r;
	}
	return NULL;
}

static void audit(struct fault_io *fi, int fd, const void *buf, size_t len, off_t off,
		  bool write)
{
	if (!fd_is_direct(fd))
		return;
	if (write)
		fi->direct_writes++;
	else
		fi->direct_reads++;
	unsigned a = fi->audit_align, m = fi->audit_mem;
	if (a && ((uint64_t)off % a || len % a))
		fi->misaligned++;
	if (m && (uintptr_t)buf % m)
		fi->misaligned_mem++;
}

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static ssize_t fi_pwrite(void *arg, int fd, const void *buf, size_t len, off_t off,
			 int rwf)
{
	struct fault_io *fi = arg;
	pthread_mutex_lock(&fi->lock);
	audit(fi, fd, buf, len, off, true);
	if (!fd_is_direct(fd)) {
		fi->plain_writes++;
		if (rwf & FI_RWF_DONTCACHE)
			fi->dontcache_writes++;
	}
	bool direct = fd_is_direct(fd);
	if (direct) {
		if (++fi->in_direct > fi->max_in_direct)
			fi->max_in_direct = fi->in_direct;
		if (len > fi->max_direct_len)
			fi->max_direct_len = len;
		fi->held++;
		pthread_cond_broadcast(&fi->cv);
		while (fi->hold_direct)
			pthread_cond_wait(&fi->cv, &fi->lock);
		fi->held--;
	}
	struct fi_rule *r = match(fi, FI_PWRITE, fd, rwf);
	struct fi_rule rule = r ? *r : (struct fi_rule){0};
	int slot = direct && fi->ndlog < FI_LOG ? fi->ndlog++ : -1;
	pthread_mutex_unlock(&fi->lock);
	unsigned long long start = now_ns();
	ssize_t n;
	if (r && rule.action == FI_ERRNO)
		n = -rule.err;
	else if (r && rule.action == FI_EINTR)
		n = -EINTR;
	else
		n = dfs_io_default()->pwrite(NULL, fd, buf,
					     r && len > rule.short_len ? rule.short_len : len, off, rwf);
	if (direct) {
		unsigned long long end = now_ns();

		pthread_mutex_lock(&fi->lock);
		fi->in_direct--;
		if (slot >= 0) {
			fi->dlog[slot].start = start;
			fi->dlog[slot].end = end;
		}
		pthread_mutex_unlock(&fi->lock);
	}
	return n;
}

/* A batch is its pieces one after another, each through the rules and
 * the gate as a pwrite; counted. */
static void fi_pwrite_batch(void *arg, int fd, struct dfs_io_piece *p, unsigned n)
{
	struct fault_io *fi = arg;

	pthread_mutex_lock(&fi->lock);
	fi->batches++;
	fi->batch_pieces += n;
	pthread_mutex_unlock(&fi->lock);
	for (unsigned i = 0; i < n; i++)
		p[i].res = fi_pwrite(arg, fd, p[i].buf, p[i].len, p[i].off, 0);
}

static ssize_t fi_pread(void *arg, int fd, void *buf, size_t len, off_t off)
{
	struct fault_io *fi = arg;
	pthread_mutex_lock(&fi->lock);
	audit(fi, fd, buf, len, off, false);
	struct fi_rule *r = match(fi, FI_PREAD, fd, 0);
	struct fi_rule rule = r ? *r : (struct fi_rule){0};
	pthread_mutex_unlock(&fi->lock);
	if (r) {
		if (rule.action == FI_ERRNO)
			return -rule.err;
		if (rule.action == FI_EINTR)
			return -EINTR;
		if (len > rule.short_len)
			len = rule.short_len;
	}
	return dfs_io_default()->pread(NULL, fd, buf, len, off);
}

static int fi_simple(struct fault_io *fi, enum fi_op op, int fd)
{
	pthread_mutex_lock(&fi->lock);
	if (op == FI_FSYNC || op == FI_SYNCFS) {
		fi->held_syncs++;
		pthread_cond_broadcast(&fi->cv);
		while (fi->hold_sync)
			pthread_cond_wait(&fi->cv, &fi->lock);
		fi->held_syncs--;
	}
	struct fi_rule *r = match(fi, op, fd, 0);
	int ret = 1;
	if (r)
		ret = r->action == FI_EINTR ? -EINTR : -r->err;
	pthread_mutex_unlock(&fi->lock);
	return ret;
}

static int fi_fsync(void *arg, int fd, int datasync)
{
	int r = fi_simple(arg, FI_FSYNC, fd);
	return r <= 0 ? r : dfs_io_default()->fsync(NULL, fd, datasync);
}

static int fi_ftruncate(void *arg, int fd, off_t len)
{
	int r = fi_simple(arg, FI_FTRUNCATE, fd);
	return r <= 0 ? r : dfs_io_default()->ftruncate(NULL, fd, len);
}

static int fi_fallocate(void *arg, int fd, int mode, off_t off, off_t len)
{
	(void)arg;
	return dfs_io_default()->fallocate(NULL, fd, mode, off, len);
}

static int fi_fadvise(void *arg, int fd, off_t off, off_t len, int advice)
{
	struct fault_io *fi = arg;

	if (advice == POSIX_FADV_DONTNEED) {
		pthread_mutex_lock(&fi->lock);
		fi->dontneeds++;
		pthread_mutex_unlock(&fi->lock);
	}
	return dfs_io_default()->fadvise(NULL, fd, off, len, advice);
}

static int fi_sfr(void *arg, int fd, off_t off, off_t len, unsigned int flags)
{
	int r = fi_simple(arg, FI_SFR, fd);
	return r <= 0 ? r : dfs_io_default()->sync_file_range(NULL, fd, off, len, flags);
}

static int fi_syncfs(void *arg, int fd)
{
	int r = fi_simple(arg, FI_SYNCFS, fd);
	return r <= 0 ? r : dfs_io_default()->syncfs(NULL, fd);
}

/* FI_XATTR rules fail fsetxattr and fremovexattr (a SOURCE without user
 * xattrs: EOPNOTSUPP); flistxattr always answers, counted in xattr_lists. */
static int fi_fsetxattr(void *arg, int fd, const char *name, const void *value, size_t size,
			int flags)
{
	int r = fi_simple(arg, FI_XATTR, fd);
	return r <= 0 ? r : dfs_io_default()->fsetxattr(NULL, fd, name, value, size, flags);
}

static int fi_fremovexattr(void *arg, int fd, const char *name)
{
	int r = fi_simple(arg, FI_XATTR, fd);
	return r <= 0 ? r : dfs_io_default()->fremovexattr(NULL, fd, name);
}

static ssize_t fi_flistxattr(void *arg, int fd, char *list, size_t size)
{
	struct fault_io *fi = arg;

	pthread_mutex_lock(&fi->lock);
	fi->xattr_lists++;
	pthread_mutex_unlock(&fi->lock);
	return dfs_io_default()->flistxattr(NULL, fd, list, size);
}

void fault_io_init(struct fault_io *fi)
{
	memset(fi, 0, sizeof(*fi));
	pthread_mutex_init(&fi->lock, NULL);
	pthread_cond_init(&fi->cv, NULL);
	fi->ops = (struct dfs_io_ops){
		.pwrite = fi_pwrite,
		.pwrite_batch = fi_pwrite_batch,
		.pread = fi_pread,
		.fsync = fi_fsync,
		.ftruncate = fi_ftruncate,
		.fallocate = fi_fallocate,
		.fadvise = fi_fadvise,
		.sync_file_range = fi_sfr,
		.syncfs = fi_syncfs,
		.fsetxattr = fi_fsetxattr,
		.fremovexattr = fi_fremovexattr,
		.flistxattr = fi_flistxattr,
		.arg = fi,
	};
}

void fault_io_destroy(struct fault_io *fi)
{
	pthread_cond_destroy(&fi->cv);
	pthread_mutex_destroy(&fi->lock);
}

void fault_io_add(struct fault_io *fi, struct fi_rule r)
{
	pthread_mutex_lock(&fi->lock);
	if (fi->nrules < (int)(sizeof(fi->rules) / sizeof(fi->rules[0])))
		fi->rules[fi->nrules++] = r;
	pthread_mutex_unlock(&fi->lock);
}

void fault_io_clear(struct fault_io *fi)
{
	pthread_mutex_lock(&fi->lock);
	fi->nrules = 0;
	pthread_mutex_unlock(&fi->lock);
}

void fault_io_hold(struct fault_io *fi, bool hold)
{
	pthread_mutex_lock(&fi->lock);
	fi->hold_direct = hold;
	pthread_cond_broadcast(&fi->cv);
	pthread_mutex_unlock(&fi->lock);
}

void fault_io_hold_sync(struct fault_io *fi, bool hold)
{
	pthread_mutex_lock(&fi->lock);
	fi->hold_sync = hold;
	pthread_cond_broadcast(&fi->cv);
	pthread_mutex_unlock(&fi->lock);
}

void fault_io_wait_held_syncs(struct fault_io *fi, int n)
{
	pthread_mutex_lock(&fi->lock);
	while (fi->held_syncs < n)
		pthread_cond_wait(&fi->cv, &fi->lock);
	pthread_mutex_unlock(&fi->lock);
}

int fault_io_held(struct fault_io *fi)
{
	int n;

	pthread_mutex_lock(&fi->lock);
	n = fi->held;
	pthread_mutex_unlock(&fi->lock);
	return n;
}

void fault_io_wait_held(struct fault_io *fi, int n)
{
	pthread_mutex_lock(&fi->lock);
	while (fi->held < n)
		pthread_cond_wait(&fi->cv, &fi->lock);
	pthread_mutex_unlock(&fi->lock);
}
