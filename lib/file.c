/* SPDX-License-Identifier: MIT */
/*
 * file.c - staging of one backing file: windows, read-modify-write of
 * partial blocks, background O_DIRECT write-out, the tail, truncate, sync,
 * sticky errors and counters.  Locking rules: dfs_internal.h.
 *
 * A window covers wsize bytes at a multiple of wsize and carries a bitmap
 * of valid blocks.  A write makes every block it touches valid: a block it
 * covers only in part is first read from disk (or zero-filled past
 * disk_size).  Write-out writes runs of valid blocks with O_DIRECT, except
 * the block holding a partial end of file, which is written at its exact
 * length through the plain descriptor with RWF_DONTCACHE (or write, then
 * sync_file_range and POSIX_FADV_DONTNEED).  Invalid blocks are never
 * written, so holes and untouched data stay as they are.
 *
 * A window is submitted to the workers when it is full (every block valid,
 * and the logical size reaches its end), when the file has too many staged
 * windows, when the pool needs buffers back, and by flush/sync/truncate.
 * A partially valid window may be submitted many times over a file's life:
 * each time its valid blocks are written and it is gone.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define BOUNCE_MAX (256u * 1024u)

_Static_assert(sizeof(off_t) == 8, "64-bit file offsets required");

/* ---- small helpers ---- */

static off_t win_off(const struct dfs_file *f, const struct dfs_window *w)
{
	return (off_t)(w->idx * f->wsize);
}

static bool blk_valid(const struct dfs_window *w, unsigned b)
{
	return w->valid[b / 64] & (1ull << (b % 64));
}

static void blk_set_valid(struct dfs_window *w, unsigned b)
{
	if (!blk_valid(w, b)) {
		w->valid[b / 64] |= 1ull << (b % 64);
		w->nvalid++;
	}
}

static void blk_clear_valid(struct dfs_window *w, unsigned b)
{
	if (blk_valid(w, b)) {
		w->valid[b / 64] &= ~(1ull << (b % 64));
		w->nvalid--;
	}
}

static size_t bitmap_words(const struct dfs_file *f)
{
	return (f->nblocks + 63) / 64;
}

static struct dfs_window *find_window(struct dfs_file *f, uint64_t idx)
{
	for (struct dfs_window *w = f->windows; w; w = w->next)
		if (w->idx == idx)
			return w;
	return NULL;
}

static void update_reclaimable(struct dfs_file *f)
{
	atomic_store(&f->reclaimable, f->nstaged + (f->spare ? 1 : 0));
}

static void count_add(atomic_uint_fast64_t *fc, atomic_uint_fast64_t *ec, uint64_t n)
{
	atomic_fetch_add(fc, n);
	atomic_fetch_add(ec, n);
}

static void count_sub_pending(struct dfs_file *f, uint64_t n)
{
	atomic_fetch_sub(&f->pending, n);
	atomic_fetch_sub(&f->eng->pending, n);
}

/* Bytes leave the stage: written out, or dropped by a truncate. */
static void settle(struct dfs_file *f, uint64_t n)
{
	count_sub_pending(f, n);
	count_add(&f->synced, &f->eng->synced, n);
}

/* Under f->lock (or before the file is shared). */
static void set_size(struct dfs_file *f, off_t size)
{
	f->size = size;
	atomic_store(&f->size_seen, (long long)size);
}

/* The sticky error: set once, under f->lock; read anywhere. */
static int file_err(struct dfs_file *f)
{
	return atomic_load(&f->err);
}

/* Under f->lock: record the first error; it stays until close. */
static void set_error(struct dfs_file *f, int err)
{
	if (atomic_load(&f->err))
		return;
	atomic_store(&f->err, err);
	atomic_fetch_add(&f->eng->error_files, 1);
	dfs_log(f->eng, LOG_ERR,
		"backing write failed: %s; the file stays in error until closed",
		strerror(-err));
	pthread_cond_broadcast(&f->cv);
}

static void enter_fallback(struct dfs_file *f, const char *why)
{
	if (atomic_exchange(&f->fallback, true))
		return;
	atomic_fetch_add(&f->eng->fallback_files, 1);
	if (!atomic_exchange(&f->eng->fallback_logged, true))
		dfs_log(f->eng, LOG_WARNING,
			"backing filesystem refuses O_DIRECT (%s): writing uncached "
			"buffered instead",
			why);
}

/* ---- disk I/O (no lock needed: descriptors and flags only) ---- */

/*
 * Buffered write that leaves no page cache behind: RWF_DONTCACHE where the
 * kernel and filesystem have it, else write, write back the range and drop
 * it.  Used for the tail and for whole files in fallback mode.
 */
static int write_uncached(struct dfs_file *f, const char *buf, size_t len, off_t off)
{
	const struct dfs_io_ops *io = f->eng->io;
	int r;

	if (!atomic_load(&f->no_dontcache)) {
		r = dfs_io_write_full(io, f->fd, buf, len, off, RWF_DONTCACHE);
		if (r != -EOPNOTSUPP && r != -EINVAL)
			return r;
		atomic_store(&f->no_dontcache, true);
	}
	r = dfs_io_write_full(io, f->fd, buf, len, off, 0);
	if (r)
		return r;
	r = io->sync_file_range(io->arg, f->fd, off, (off_t)len,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					SYNC_FILE_RANGE_WAIT_AFTER);
	if (r && r != -ENOSYS && r != -EINVAL && r != -ESPIPE)
		return r;
	io->fadvise(io->arg, f->fd, off, (off_t)len, POSIX_FADV_DONTNEED);
	return 0;
}

/* Whole aligned blocks from an aligned buffer. */
static int write_direct(struct dfs_file *f, const char *buf, size_t len, off_t off)
{
	if (atomic_load(&f->fallback))
		return write_uncached(f, buf, len, off);
	int r = dfs_io_write_full(f->eng->io, f->dfd, buf, len, off, 0);
	if (r == -EINVAL) {
		/* Aligned by construction, so this filesystem accepted the
		 * O_DIRECT open but not the I/O. */
		enter_fallback(f, "write refused");
		r = write_uncached(f, buf, len, off);
	}
	return r;
}

/*
 * Read [off, off + len) of the backing file into buf, zero-filling at and
 * past disk_size (or the real end of file).  O_DIRECT in whole blocks, into
 * buf where it is aligned, else through a bounce buffer.
 */
static ssize_t disk_read(struct dfs_file *f, char *buf, size_t len, off_t off,
			 off_t disk_size)
{
	const struct dfs_io_ops *io = f->eng->io;
	size_t want = len;
	char *bounce = NULL;
	ssize_t r = 0;

	if (off >= disk_size)
		want = 0;
	else if ((off_t)(off + len) > disk_size)
		want = (size_t)(disk_size - off);

	if (atomic_load(&f->fallback) && want) {
		r = dfs_io_read_full(io, f->fd, buf, want, off, 1);
		if (r < 0)
			return r;
		io->fadvise(io->arg, f->fd, off, (off_t)want, POSIX_FADV_DONTNEED);
		memset(buf + r, 0, len - (size_t)r);
		return (ssize_t)len;
	}

	const off_t blk = f->blk;
	size_t done = 0;
	while (done < want) {
		off_t pos = off + (off_t)done;
		char *dst = buf + done;
		size_t left = want - done;
		if (pos % blk == 0 && left >= (size_t)blk &&
		    (uintptr_t)dst % f->align.mem == 0) {
			size_t n = left - left % (size_t)blk;
			r = dfs_io_read_full(io, f->dfd, dst, n, pos, f->blk);
			if (r < 0)
				goto out;
			done += (size_t)r;
			if ((size_t)r < n)
				break; /* end of file */
			continue;
		}
		/* Unaligned piece: whole blocks into the bounce buffer. */
		off_t astart = pos - pos % blk;
		off_t aend = pos + (off_t)left;
		aend = (aend + blk - 1) / blk * blk;
		size_t alen = (size_t)(aend - astart);
		if (alen > BOUNCE_MAX)
			alen = BOUNCE_MAX;
		if (!bounce && posix_memalign((void **)&bounce, 4096, BOUNCE_MAX)) {
			r = -ENOMEM;
			goto out;
		}
		r = dfs_io_read_full(io, f->dfd, bounce, alen, astart, f->blk);
		if (r < 0)
			goto out;
		off_t got_end = astart + r;
		if (got_end <= pos)
			break; /* end of file */
		size_t n = (size_t)(got_end - pos);
		if (n > left)
			n = left;
		memcpy(dst, bounce + (pos - astart), n);
		done += n;
		if ((size_t)r < alen)
			break;
	}
	memset(buf + done, 0, len - done);
	r = (ssize_t)len;
out:
	free(bounce);
	return r;
}

/* ---- windows ---- */

static struct dfs_window *window_new(struct dfs_file *f, uint64_t idx)
{
	struct dfs_window *w = f->free_windows;

	if (w) {
		f->free_windows = w->next;
	} else {
		w = malloc(sizeof(*w) + bitmap_words(f) * sizeof(uint64_t));
		if (!w)
			return NULL;
	}
	memset(w, 0, sizeof(*w) + bitmap_words(f) * sizeof(uint64_t));
	w->file = f;
	w->idx = idx;
	w->buf = f->spare;
	f->spare = NULL;
	w->next = f->windows;
	f->windows = w;
	f->nstaged++;
	update_reclaimable(f);
	return w;
}

static void window_unlink(struct dfs_file *f, struct dfs_window *w)
{
	struct dfs_window **pp = &f->windows;
	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	w->next = f->free_windows;
	f->free_windows = w;
}

/*
 * A staged window leaves without being written: truncated away (its bytes
 * are settled), or dropped by the close of a file in error (lost).
 */
static void window_drop(struct dfs_file *f, struct dfs_window *w, bool settled)
{
	if (settled)
		settle(f, w->app_bytes);
	else
		count_sub_pending(f, w->app_bytes);
	dfs_pool_put(f->eng, w->buf);
	w->buf = NULL;
	f->nstaged--;
	window_unlink(f, w);
	update_reclaimable(f);
}

/* Under f->lock: give the waiting spare buffer back to the pool. */
static void spare_release(struct dfs_file *f)
{
	if (!f->spare)
		return;
	dfs_pool_put(f->eng, f->spare);
	f->spare = NULL;
	update_reclaimable(f);
}

static bool window_full(const struct dfs_file *f, const struct dfs_window *w)
{
	return w->nvalid == f->nblocks && f->size >= win_off(f, w) + (off_t)f->wsize;
}

/* Under f->lock, with f->nflight < depth: hand w to the workers. */
static void submit(struct dfs_file *f, struct dfs_window *w)
{
	if (w->nvalid == 0) {
		window_drop(f, w, true);
		return;
	}
	w->inflight = true;
	w->eof = f->size;
	f->nstaged--;
	f->nflight++;
	update_reclaimable(f);

	/* The backing file will reach at least the last valid block. */
	unsigned last = f->nblocks;
	while (last > 0 && !blk_valid(w, last - 1))
		last--;
	off_t end = win_off(f, w) + (off_t)last * f->blk;
	if (end > w->eof)
		end = w->eof;
	if (end > f->disk_size)
		f->disk_size = end;

	dfs_engine_enqueue(f->eng, w);
}

static struct dfs_window *oldest_staged(struct dfs_file *f, bool full_only)
{
	struct dfs_window *best = NULL;
	for (struct dfs_window *w = f->windows; w; w = w->next) {
		if (w->inflight || (full_only && !window_full(f, w)))
			continue;
		if (!best || w->lru < best->lru)
			best = w;
	}
	return best;
}

/* Under f->lock: wait for one completion.  Returns the sticky error. */
static int wait_completion(struct dfs_file *f)
{
	if (!file_err(f))
		pthread_cond_wait(&f->cv, &f->lock);
	return file_err(f);
}

/* Write one window's valid blocks.  Worker thread, no locks held. */
static int window_write_runs(struct dfs_file *f, struct dfs_window *w)
{
	const off_t base = win_off(f, w);
	const off_t blk = f->blk;
	unsigned b = 0;

	while (b < f->nblocks) {
		if (!blk_valid(w, b)) {
			b++;
			continue;
		}
		unsigned e = b;
		while (e < f->nblocks && blk_valid(w, e))
			e++;
		off_t off = base + (off_t)b * blk;
		off_t end = base + (off_t)e * blk;
		const char *src = w->buf + (size_t)b * (size_t)blk;
		int r = 0;
		if (end > w->eof) {
			/* The run holds the partial block at end of file. */
			off_t whole = (w->eof - off) / blk * blk;
			if (whole > 0)
				r = write_direct(f, src, (size_t)whole, off);
			size_t tail = (size_t)(w->eof - off - whole);
			if (!r && tail)
				r = write_uncached(f, src + whole, tail, off + whole);
		} else {
			r = write_direct(f, src, (size_t)(end - off), off);
		}
		if (r)
			return r;
		b = e;
	}
	return 0;
}

void dfs_window_write_out(struct dfs_window *w)
{
	struct dfs_file *f = w->file;
	int r = window_write_runs(f, w);

	pthread_mutex_lock(&f->lock);
	if (r) {
		count_sub_pending(f, w->app_bytes);
		set_error(f, r);
	} else {
		settle(f, w->app_bytes);
		dfs_engine_count_rate(f->eng, w->app_bytes);
	}
	char *buf = w->buf;
	w->buf = NULL;
	w->inflight = false;
	f->nflight--;
	window_unlink(f, w);
	/* Return the buffer before waking the file's waiters, so that a
	 * writer woken here finds it in the pool. */
	dfs_pool_put_written(f->eng, buf);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
}

/* ---- staging writes ---- */

enum { PREP_READY = 0, PREP_RETRY = 1 };

/*
 * Under f->lock: make room for a new window.  Returns PREP_READY with
 * f->spare set, PREP_RETRY after anything that dropped the lock (the caller
 * looks again), or -errno.
 */
static int prepare_new_window(struct dfs_file *f)
{
	struct dfs_engine *e = f->eng;
	struct dfs_window *w;

	if (file_err(f))
		return file_err(f);
	/* Full windows waiting for a free slot go first: back-pressure. */
	w = oldest_staged(f, true);
	if (!w && f->nstaged >= e->o.max_staged)
		w = oldest_staged(f, false);
	if (w) {
		if (f->nflight >= e->o.depth) {
			int err = wait_completion(f);
			return err ? err : PREP_RETRY;
		}
		submit(f, w);
		return PREP_RETRY;
	}
	if (f->spare)
		return PREP_READY;
	f->spare = dfs_pool_try_get(e);
	if (f->spare) {
		update_reclaimable(f);
		return PREP_READY;
	}
	pthread_mutex_unlock(&f->lock);
	char *buf = dfs_pool_get(e);
	pthread_mutex_lock(&f->lock);
	if (!buf)
		return -ENOMEM;
	if (f->spare)
		dfs_pool_put(e, buf);
	else
		f->spare = buf;
	update_reclaimable(f);
	return PREP_RETRY;
}

/* Make block b of staged window w valid, reading it if needed. */
static int fill_block(struct dfs_file *f, struct dfs_window *w, unsigned b)
{
	if (blk_valid(w, b))
		return 0;
	char *dst = w->buf + (size_t)b * f->blk;
	off_t off = win_off(f, w) + (off_t)b * f->blk;
	if (off >= f->disk_size) {
		memset(dst, 0, f->blk);
	} else {
		ssize_t r = disk_read(f, dst, f->blk, off, f->disk_size);
		if (r < 0)
			return (int)r;
	}
	blk_set_valid(w, b);
	return 0;
}

/* Copy [off, off + len), which lies inside staged window w. */
static int stage_copy(struct dfs_file *f, struct dfs_window *w, const char *src,
		      size_t len, off_t off)
{
	const off_t base = win_off(f, w);
	const off_t blk = f->blk;
	unsigned first = (unsigned)((off - base) / blk);
	unsigned last = (unsigned)((off + (off_t)len - 1 - base) / blk);
	int r;

	if ((off - base) % blk) {
		r = fill_block(f, w, first);
		if (r)
			return r;
	}
	if ((off + (off_t)len - base) % blk) {
		r = fill_block(f, w, last);
		if (r)
			return r;
	}
	memcpy(w->buf + (off - base), src, len);
	for (unsigned b = first; b <= last; b++)
		blk_set_valid(w, b);
	/* The zero-past-size invariant holds for a freshly filled last block
	 * too: fill_block() zeroed or read past size. */
	w->app_bytes += len;
	w->lru = ++f->clock;
	if (off + (off_t)len > f->size)
		set_size(f, off + (off_t)len);
	f->dirty = true;
	count_add(&f->written, &f->eng->written, len);
	count_add(&f->pending, &f->eng->pending, len);
	return 0;
}

static ssize_t stage_write_locked(struct dfs_file *f, const char *buf, size_t len,
				  off_t off)
{
	size_t done = 0;
	int err = 0;

	while (done < len) {
		if (file_err(f)) {
			err = file_err(f);
			break;
		}
		off_t pos = off + (off_t)done;
		uint64_t idx = (uint64_t)pos / f->wsize;
		struct dfs_window *w = find_window(f, idx);
		if (w && w->inflight) {
			/* Overwriting data on its way to disk: wait for it. */
			wait_completion(f);
			continue;
		}
		if (!w) {
			err = prepare_new_window(f);
			if (err == PREP_RETRY)
				continue;
			if (err < 0)
				break;
			w = window_new(f, idx);
			if (!w) {
				err = -ENOMEM;
				break;
			}
		}
		off_t wend = (off_t)((idx + 1) * f->wsize);
		size_t n = len - done;
		if ((off_t)n > wend - pos)
			n = (size_t)(wend - pos);
		err = stage_copy(f, w, buf + done, n, pos);
		if (err)
			break;
		done += n;
		if (window_full(f, w) && f->nflight < f->eng->o.depth)
			submit(f, w);
	}
	return done ? (ssize_t)done : err;
}

static int check_write_range(const struct dfs_file *f, size_t len, off_t off)
{
	if (f->accmode == O_RDONLY)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	if (len > (size_t)INT64_MAX || off > INT64_MAX - (off_t)len)
		return -EFBIG;
	return 0;
}

ssize_t dfs_file_write(struct dfs_file *f, const void *buf, size_t len, off_t off)
{
	int err = check_write_range(f, len, off);
	if (err)
		return err;
	if (len == 0)
		return atomic_load(&f->err);
	pthread_mutex_lock(&f->lock);
	ssize_t r = stage_write_locked(f, buf, len, off);
	pthread_mutex_unlock(&f->lock);
	return r;
}

ssize_t dfs_file_append(struct dfs_file *f, const void *buf, size_t len, off_t *at)
{
	pthread_mutex_lock(&f->lock);
	off_t off = f->size;
	ssize_t r = check_write_range(f, len, off);
	if (!r && len)
		r = stage_write_locked(f, buf, len, off);
	pthread_mutex_unlock(&f->lock);
	if (at)
		*at = off;
	return r;
}

/* ---- reads ---- */

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
			ssize_t r = disk_read(f, dst + done, n, pos, f->disk_size);
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
		return disk_read(f, buf, len, off, disk_size);
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
		struct dfs_window *w = find_window(f, idx);
		if (w)
			r = read_window_locked(f, w, dst + done, n, pos);
		else
			r = disk_read(f, dst + done, n, pos, f->disk_size);
		if (r < 0)
			break;
		done += n;
	}
	pthread_mutex_unlock(&f->lock);
	return r < 0 ? r : (ssize_t)done;
}

/* ---- flush, sync, truncate ---- */

/* Under f->lock: write out every staged window and wait for all. */
static int flush_locked(struct dfs_file *f)
{
	for (;;) {
		if (file_err(f))
			return file_err(f);
		struct dfs_window *w = oldest_staged(f, false);
		if (w && f->nflight < f->eng->o.depth) {
			submit(f, w);
			continue;
		}
		if (!w && !f->nflight)
			break;
		wait_completion(f);
	}
	spare_release(f);
	return 0;
}

int dfs_file_flush(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	int r = flush_locked(f);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_sync(struct dfs_file *f, int datasync)
{
	const struct dfs_io_ops *io = f->eng->io;

	pthread_mutex_lock(&f->lock);
	int r = flush_locked(f);
	if (r) {
		pthread_mutex_unlock(&f->lock);
		return r;
	}
	uint64_t covered = atomic_load(&f->synced);
	f->dirty = false; /* a write from now on needs another fsync */
	atomic_fetch_add(&f->syncing, 1);
	pthread_mutex_unlock(&f->lock);

	do
		r = io->fsync(io->arg, f->fd, datasync);
	while (r == -EINTR);
	if (!r)
		io->fadvise(io->arg, f->fd, 0, 0, POSIX_FADV_DONTNEED);

	pthread_mutex_lock(&f->lock);
	atomic_fetch_sub(&f->syncing, 1);
	if (r) {
		set_error(f, r);
	} else {
		uint64_t old = atomic_load(&f->durable);
		if (covered > old) {
			atomic_store(&f->durable, covered);
			atomic_fetch_add(&f->eng->durable, covered - old);
		}
		r = file_err(f);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Under f->lock: forget staged bytes at and past size. */
static void trim_stage(struct dfs_file *f, off_t size)
{
	struct dfs_window *w = f->windows, *next;

	for (; w; w = next) {
		next = w->next;
		off_t base = win_off(f, w);
		if (base >= size) {
			window_drop(f, w, true);
			continue;
		}
		if (base + (off_t)f->wsize <= size)
			continue;
		off_t rel = size - base;
		unsigned keep = (unsigned)((rel + f->blk - 1) / f->blk);
		for (unsigned b = keep; b < f->nblocks; b++)
			blk_clear_valid(w, b);
		if (rel % f->blk && blk_valid(w, keep - 1))
			memset(w->buf + rel, 0, f->blk - (size_t)(rel % f->blk));
	}
}

int dfs_file_truncate(struct dfs_file *f, off_t size)
{
	const struct dfs_io_ops *io = f->eng->io;

	if (size < 0)
		return -EINVAL;
	if (f->accmode == O_RDONLY)
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	int r = file_err(f);
	while (!r && f->nflight)
		r = wait_completion(f);
	if (!r)
		r = io->ftruncate(io->arg, f->fd, size);
	if (!r) {
		trim_stage(f, size);
		set_size(f, size);
		f->disk_size = size;
		f->dirty = true;
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_fallocate(struct dfs_file *f, int mode, off_t off, off_t len)
{
	const struct dfs_io_ops *io = f->eng->io;
	struct stat st;

	if (f->accmode == O_RDONLY)
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	int r = flush_locked(f);
	if (!r)
		r = io->fallocate(io->arg, f->fd, mode, off, len);
	if (!r) {
		/* Nothing is staged now: the backing file is the truth. */
		f->dirty = true;
		if (fstat(f->fd, &st) == 0) {
			set_size(f, st.st_size);
			f->disk_size = st.st_size;
		} else {
			r = -errno;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

off_t dfs_file_size(struct dfs_file *f)
{
	return (off_t)atomic_load(&f->size_seen);
}

int dfs_file_error(struct dfs_file *f)
{
	return atomic_load(&f->err);
}

void dfs_file_stats(struct dfs_file *f, struct dfs_file_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->written = atomic_load(&f->written);
	st->synced = atomic_load(&f->synced);
	st->durable = atomic_load(&f->durable);
	st->pending = atomic_load(&f->pending);
	st->error = atomic_load(&f->err);
	st->fallback = atomic_load(&f->fallback);
	st->align = f->align;
	st->size = (off_t)atomic_load(&f->size_seen);
	if (st->error)
		st->state = DFS_STATE_ERROR;
	else if (atomic_load(&f->syncing))
		st->state = DFS_STATE_SYNCING;
	else if (st->pending)
		st->state = DFS_STATE_WRITING;
	else if (st->fallback)
		st->state = DFS_STATE_FALLBACK;
	else
		st->state = DFS_STATE_IDLE;
}

/* ---- reclaim (engine.c, pool exhausted, nothing in flight) ---- */

void dfs_file_reclaim(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	if (f->spare) {
		spare_release(f);
	} else if (f->nflight < f->eng->o.depth) {
		struct dfs_window *w = oldest_staged(f, false);
		if (w)
			submit(f, w);
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---- open and close ---- */

/*
 * A new open file description of the same file: never dup(), whose
 * description shares the caller's O_APPEND (which makes pwrite ignore its
 * offset) and would share any O_DIRECT toggle.
 */
static int reopen(int fd, int flags)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, flags | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

int dfs_file_open(struct dfs_engine *e, int fd, struct dfs_file **out)
{
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	int r;

	if (flags < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;

	struct dfs_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->eng = e;
	f->accmode = flags & O_ACCMODE;
	f->dfd = -1;
	/* Read-modify-write needs to read: take O_RDWR where allowed. */
	f->fd = f->accmode == O_WRONLY ? reopen(fd, O_RDWR) : -EACCES;
	if (f->fd >= 0)
		f->accmode = O_RDWR;
	else
		f->fd = reopen(fd, f->accmode);
	if (f->fd < 0) {
		r = f->fd;
		goto err_free;
	}
	r = dfs_align_for_fd(fd, &f->align);
	if (r)
		goto err_close;

	const char *why = NULL;
	if (f->align.no_dio) {
		why = "statx reports no direct I/O";
	} else if (f->align.off > e->o.buf_size || e->o.buf_size % f->align.off ||
		   f->align.mem > 4096) {
		why = "alignment larger than the staging buffer";
	} else {
		f->dfd = reopen(f->fd, f->accmode | O_DIRECT);
		if (f->dfd == -EINVAL)
			why = "open with O_DIRECT refused";
		else if (f->dfd < 0) {
			r = f->dfd;
			goto err_close;
		}
	}
	if (why) {
		f->dfd = -1;
		if (e->o.no_fallback) {
			dfs_log(e, LOG_ERR,
				"backing filesystem refuses O_DIRECT (%s) and fallback "
				"is off",
				why);
			r = -EOPNOTSUPP;
			goto err_close;
		}
		enter_fallback(f, why);
	}
	atomic_store(&f->no_dontcache, e->o.no_dontcache != 0);
	f->blk = atomic_load(&f->fallback) ? DFS_ALIGN_FALLBACK : f->align.off;
	f->wsize = e->o.buf_size;
	f->nblocks = (unsigned)(f->wsize / f->blk);
	set_size(f, st.st_size);
	f->disk_size = st.st_size;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cv, NULL);
	dfs_engine_link(e, f);
	*out = f;
	return 0;

err_close:
	close(f->fd);
err_free:
	free(f);
	return r;
}

int dfs_file_finish(struct dfs_file *f)
{
	if (f->accmode == O_RDONLY)
		return 0;
	pthread_mutex_lock(&f->lock);
	bool dirty = f->dirty;
	int r = file_err(f);
	pthread_mutex_unlock(&f->lock);
	return dirty && !r ? dfs_file_sync(f, 0) : r;
}

int dfs_file_close(struct dfs_file *f)
{
	struct dfs_engine *e = f->eng;
	int r = dfs_file_finish(f);

	pthread_mutex_lock(&f->lock);
	/* In error: wait out what is in flight, then drop what is staged. */
	while (f->nflight)
		pthread_cond_wait(&f->cv, &f->lock);
	uint64_t lost = 0;
	while (f->windows) {
		lost += f->windows->app_bytes;
		window_drop(f, f->windows, false);
	}
	spare_release(f);
	pthread_mutex_unlock(&f->lock);
	if (lost)
		dfs_log(e, LOG_ERR,
			"closing a file in error: %llu staged bytes were not written",
			(unsigned long long)lost);

	dfs_engine_unlink(e, f);
	if (file_err(f))
		atomic_fetch_sub(&e->error_files, 1);
	if (atomic_load(&f->fallback))
		atomic_fetch_sub(&e->fallback_files, 1);
	while (f->free_windows) {
		struct dfs_window *w = f->free_windows;
		f->free_windows = w->next;
		free(w);
	}
	if (f->dfd >= 0)
		close(f->dfd);
	close(f->fd);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return r;
}
