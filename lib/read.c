/* SPDX-License-Identifier: MIT */
/*
 * read.c - reads of one file: staged and in-flight ranges come from the
 * stage, the rest from the disk with O_DIRECT (disk.c).  A read of a range
 * that holds nothing staged runs without the file's lock.  Locking rules:
 * dfs_internal.h.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static bool range_staged(struct dfs_file *f, off_t off, size_t len)
{
	uint64_t first = (uint64_t)off / f->wsize;
	uint64_t last = (uint64_t)(off + (off_t)len - 1) / f->wsize;
	for (struct dfs_window *w = f->windows; w; w = w->next)
		if (w->idx >= first && w->idx <= last)
			return true;
	return false;
}

/* Under f->lock: [off, off + len) inside one window index. */
static ssize_t read_window_locked(struct dfs_file *f, struct dfs_window *w, char *dst,
				  size_t len, off_t off)
{
	const off_t base = win_off(f, w);
	const off_t blk = f->blk;
	size_t done = 0;

	while (done < len) {
		off_t pos = off + (off_t)done;
		unsigned b = (unsigned)((pos - base) / blk);
		bool valid = blk_valid(w, b);
		/* Extend over blocks of the same validity. */
		unsigned e = b + 1;
		while (e < f->nblocks && blk_valid(w, e) == valid)
			e++;
		off_t run_end = base + (off_t)e * blk;
		size_t n = len - done;
		if ((off_t)n > run_end - pos)
			n = (size_t)(run_end - pos);
		if (valid) {
			memcpy(dst + done, w->buf + (pos - base), n);
		} else {
			ssize_t r = dfs_disk_read(f, dst + done, n, pos, f->disk_size);
			if (r < 0)
				return r;
		}
		done += n;
	}
	return (ssize_t)done;
}

ssize_t dfs_file_read(struct dfs_file *f, void *buf, size_t len, off_t off)
{
	if (f->accmode == O_WRONLY)
		return -EBADF;
	if (off < 0)
		return -EINVAL;

	pthread_mutex_lock(&f->lock);
	if (off >= f->size || len == 0) {
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	if ((off_t)len > f->size - off)
		len = (size_t)(f->size - off);

	if (!range_staged(f, off, len)) {
		/* Nothing staged here: read the disk without the lock. */
		off_t disk_size = f->disk_size;
		pthread_mutex_unlock(&f->lock);
		return dfs_disk_read(f, buf, len, off, disk_size);
	}

	char *dst = buf;
	size_t done = 0;
	ssize_t r = 0;
	while (done < len) {
		off_t pos = off + (off_t)done;
		uint64_t idx = (uint64_t)pos / f->wsize;
		off_t wend = (off_t)((idx + 1) * f->wsize);
		size_t n = len - done;
		if ((off_t)n > wend - pos)
			n = (size_t)(wend - pos);
		struct dfs_window *w = dfs_stage_find(f, idx);
		if (w)
			r = read_window_locked(f, w, dst + done, n, pos);
		else
			r = dfs_disk_read(f, dst + done, n, pos, f->disk_size);
		if (r < 0)
			break;
		done += n;
	}
	pthread_mutex_unlock(&f->lock);
	return r < 0 ? r : (ssize_t)done;
}
