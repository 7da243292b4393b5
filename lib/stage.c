/* SPDX-License-Identifier: MIT */
/*
 * stage.c - the write stage of one file: a write at any offset copied
 * into aligned windows (window.c; with read-modify-write of partly
 * covered blocks), full windows handed to the workers, their write-out and
 * completion, flushing every window, trimming at a truncate, and giving
 * buffers back to the pool.  Locking rules and invariants: dfs_internal.h.
 *
 * A write makes every block it touches dirty: a block it covers only in
 * part is first read from disk (or zero-filled past disk_size).
 * Write-out writes runs of dirty blocks with O_DIRECT (bridging short
 * gaps of valid clean blocks, one write instead of several), except the
 * block holding a partial end of file, which is written at its exact
 * length without O_DIRECT (disk.c).  Invalid blocks are never written, so
 * holes and untouched data stay as they are.
 *
 * A window is submitted to the workers when it is full (every block
 * dirty, and the logical size reaches its end), when the file has too many
 * staged windows, when the pool needs buffers back, and by
 * flush/sync/truncate.  A full window (a stream) leaves once written and
 * its buffer goes back to the pool.  A partly written one (a database's
 * pages, random writes) stays after its write-out as a clean window: a
 * cache of the blocks it holds for reads (read.c adds blocks it reads from
 * the disk) and for rewrites, which need no read-modify-write.  Clean
 * windows hold no data the disk lacks, so they are the first buffers given
 * back when the pool runs short (file.c's reclaim) or the file needs a new
 * window; a close writes its windows out without keeping them.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* Under f->lock: record the first error; it stays until close. */
void dfs_stage_set_error(struct dfs_file *f, int err)
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

/* ---- windows ---- */

/* Under f->lock: give the waiting spare buffer back to the pool. */
static void spare_release(struct dfs_file *f)
{
	if (!f->spare)
		return;
	dfs_pool_put(f->eng, f->spare);
	f->spare = NULL;
	dfs_update_reclaimable(f);
}

static void window_write_out(struct dfs_job *job);

/* Windows that leave partly written, to this many times depth (at most 64). */
#define PARTIAL_DEPTH_FACTOR 4

/* Under f->lock: how many windows may be in flight with w among them.  A
 * stream's full windows, depth (more costs a stream: docs/benchmarks.md);
 * partly written ones (random writes: few blocks each, little disk time)
 * deeper, so a random writer does not wait on one small write at a time. */
static unsigned depth_for(const struct dfs_file *f, const struct dfs_window *w)
{
	unsigned d = f->eng->o.depth;

	if (dfs_window_full(f, w))
		return d;
	return d * PARTIAL_DEPTH_FACTOR < 64 ? d * PARTIAL_DEPTH_FACTOR : 64;
}

/* Under f->lock, with f->nflight < depth_for(f, w): mark w in flight.  False when
 * it had nothing to write and is gone. */
static bool submit_begin(struct dfs_file *f, struct dfs_window *w)
{
	if (w->ndirty == 0) { /* nothing left to write */
		dfs_window_drop(f, w, true, NULL);
		return false;
	}
	w->inflight = true;
	w->cached = f->flush_cached && f->size <= (off_t)f->eng->o.small_max;
	/* A stream's full window will not be read again; a close keeps
	 * nothing. */
	w->keep = !f->closing && !dfs_window_full(f, w);
	w->eof = f->size;
	f->nstaged--;
	f->nflight++;
	dfs_update_reclaimable(f);

	/* The backing file will reach at least the last dirty block. */
	unsigned last = dfs_blk_dirty_end(f, w);
	/* No valid block starts at or past size (dfs_internal.h). */
	assert(last > 0 && dfs_win_off(f, w) + (off_t)(last - 1) * f->blk < w->eof);
	assert(f->nflight <= depth_for(f, w));
	off_t end = dfs_win_off(f, w) + (off_t)last * f->blk;
	if (end > w->eof)
		end = w->eof;
	/* A padded tail reaches past eof, beyond whatever the disk held:
	 * it extends, and is cut back (window_write_runs). */
	w->extends = end > f->disk_size || (f->tail_padded && end % f->blk);
	if (end > f->disk_size)
		f->disk_size = end;
	assert(f->disk_size <= f->size);
	w->job.run = window_write_out;
	return true;
}

/* Under f->lock, with f->nflight < depth_for(f, w): hand w to the workers. */
static void submit(struct dfs_file *f, struct dfs_window *w)
{
	if (submit_begin(f, w))
		dfs_engine_enqueue(f->eng, &w->job);
}

/* Under f->lock: wait for one completion.  Returns the sticky error. */
int dfs_stage_wait(struct dfs_file *f)
{
	if (!file_err(f))
		pthread_cond_wait(&f->cv, &f->lock);
	return file_err(f);
}

/* A write of dirty blocks goes on over at most this many valid clean
 * ones to the next dirty block: one larger write costs less than two. */
#define BRIDGE_BLOCKS 16

/* The end of the run of blocks to write from dirty block b: its dirty
 * blocks, and the next ones across short gaps of valid blocks. */
static unsigned run_end(const struct dfs_file *f, const struct dfs_window *w, unsigned b)
{
	unsigned e = b;

	for (;;) {
		e = dfs_blk_next(f, w, true, e, false);
		unsigned g = e;
		while (g < f->nblocks && g - e < BRIDGE_BLOCKS && dfs_blk_valid(w, g) &&
		       !dfs_blk_dirty(f, w, g))
			g++;
		if (g == e || g >= f->nblocks || !dfs_blk_dirty(f, w, g))
			return e;
		e = g;
	}
}

/* Runs of a window written with O_DIRECT in one batch, at most. */
#define RUN_BATCH 64

/* After a padded tail: the backing file ends at the end of that block,
 * or further where a window beyond was written first (f->disk_end).  Cut
 * it back to eof.  Under extend_lock. */
static int cut_padding(struct dfs_file *f, off_t eof)
{
	const struct dfs_io_ops *io = f->eng->io;
	const off_t blk = f->blk;
	const off_t padded_end = (eof + blk - 1) / blk * blk;
	const off_t to = f->disk_end > eof ? f->disk_end : eof;
	int r = 0;

	assert(eof % blk);
	if (to < padded_end)
		do
			r = io->ftruncate(io->arg, f->fd, to);
		while (r == -EINTR);
	return r;
}

/* Write one window's dirty blocks.  Worker thread, without f->lock (and
 * with f->extend_lock where the window grows the file).  The
 * whole-block runs go to the disk in batches, all at once; a run holding
 * the partial block at end of file, and a window written cached, one
 * write after another. */
static int window_write_runs(struct dfs_file *f, struct dfs_window *w)
{
	const off_t base = dfs_win_off(f, w);
	const off_t blk = f->blk;
	struct dfs_io_piece batch[RUN_BATCH];
	/* A padded tail (f->tail_padded) is written as an extension of the
	 * file (submit_begin set w->extends), so under extend_lock. */
	const bool padded = f->tail_padded && !w->cached;
	bool cut = false;
	off_t hi = 0; /* the end of the last run, at most eof */
	unsigned b = 0, n = 0;
	int r = 0;

	while ((b = dfs_blk_next(f, w, true, b, true)) < f->nblocks && !r) {
		unsigned e = run_end(f, w, b);
		off_t off = base + (off_t)b * blk;
		off_t end = base + (off_t)e * blk;
		const char *src = w->buf + (size_t)b * (size_t)blk;
		if (w->cached) {
			if (end > w->eof)
				end = w->eof;
			r = dfs_disk_write_cached(f, src, (size_t)(end - off), off);
		} else if (end > w->eof && padded) {
			/* The partial block at end of file goes whole (its
			 * bytes past eof are zero: dfs_internal.h), the cut
			 * after the last batch. */
			assert(w->extends);
			batch[n++] = (struct dfs_io_piece){src, (size_t)(end - off), off, 0};
			cut = true;
		} else if (end > w->eof) {
			/* The run holds the partial block at end of file. */
			off_t whole = (w->eof - off) / blk * blk;
			if (whole > 0)
				batch[n++] = (struct dfs_io_piece){src, (size_t)whole, off, 0};
			size_t tail = (size_t)(w->eof - off - whole);
			if (tail)
				r = dfs_disk_write_uncached(f, src + whole, tail,
							    off + whole);
		} else {
			batch[n++] = (struct dfs_io_piece){src, (size_t)(end - off), off, 0};
		}
		hi = end < w->eof ? end : w->eof; /* runs come in file order */
		if (n == RUN_BATCH && !r) {
			r = dfs_disk_write_direct_batch(f, batch, n);
			n = 0;
		}
		b = e;
	}
	if (n && !r)
		r = dfs_disk_write_direct_batch(f, batch, n);
	if (cut && !r)
		r = cut_padding(f, w->eof);
	if (w->extends && !r && f->disk_end < hi)
		f->disk_end = hi;
	return r;
}

static void window_write_out(struct dfs_job *job)
{
	struct dfs_window *w = dfs_container_of(job, struct dfs_window, job);
	struct dfs_file *f = w->file;
	int r;

	/* Windows that grow the file go one at a time (f->extend_lock);
	 * overwrites inside it run side by side. */
	if (w->extends)
		pthread_mutex_lock(&f->extend_lock);
	r = window_write_runs(f, w);
	if (w->extends)
		pthread_mutex_unlock(&f->extend_lock);
	pthread_mutex_lock(&f->lock);
	if (r) {
		count_sub_pending(f, w->app_bytes);
		dfs_stage_set_error(f, r);
	} else {
		settle(f, w->app_bytes);
	}
	w->app_bytes = 0;
	if (!r && w->keep && !file_err(f)) {
		/* Everything it holds is on disk now: it stays, clean. */
		memset(w->valid + dfs_bitmap_words(f), 0,
		       dfs_bitmap_words(f) * sizeof(uint64_t));
		w->ndirty = 0;
		w->inflight = false;
		f->nflight--;
		f->nclean++;
		dfs_update_reclaimable(f);
		dfs_engine_job_done(f->eng);
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->lock);
		return;
	}
	char *buf = w->buf;
	w->buf = NULL;
	w->inflight = false;
	f->nflight--;
	dfs_window_unlink(f, w);
	/* Return the buffer before waking the file's waiters, so that a
	 * writer woken here finds it in the pool. */
	dfs_pool_put_written(f->eng, buf);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
}

/* ---- staging writes ---- */

/*
 * Under f->lock: make room for a new window.  Returns 0 with *ready true
 * when f->spare holds the buffer for it; 0 with *ready false after
 * anything that submitted a window or dropped the lock (the caller looks
 * again); or -errno.
 */
static int prepare_new_window(struct dfs_file *f, bool *ready)
{
	struct dfs_engine *e = f->eng;
	struct dfs_window *w;

	*ready = false;
	if (file_err(f))
		return file_err(f);
	/* Full windows waiting for a free slot go first: back-pressure. */
	w = dfs_window_oldest_staged(f, true);
	if (!w && f->nstaged >= e->o.max_staged)
		w = dfs_window_oldest_staged(f, false);
	if (w) {
		if (f->nflight >= depth_for(f, w))
			return dfs_stage_wait(f);
		submit(f, w);
		return 0;
	}
	if (!dfs_window_spare_now(f)) {
		pthread_mutex_unlock(&f->lock);
		char *buf = dfs_pool_get(e);
		pthread_mutex_lock(&f->lock);
		if (!buf)
			return -ENOMEM;
		if (f->spare)
			dfs_pool_put(e, buf);
		else
			f->spare = buf;
		dfs_update_reclaimable(f);
		return 0;
	}
	*ready = true;
	return 0;
}

/* Copy [off, off + len), which lies inside staged window w.  With swap,
 * a write of the whole window trades buffers with the caller instead:
 * *swap becomes the window's, and the window's old one (which holds
 * nothing the write leaves) goes back in *swap. */
static int stage_copy(struct dfs_file *f, struct dfs_window *w, const char *src,
		      char **swap, size_t len, off_t off)
{
	const off_t base = dfs_win_off(f, w);
	const off_t blk = f->blk;
	unsigned first = (unsigned)((off - base) / blk);
	unsigned last = (unsigned)((off + (off_t)len - 1 - base) / blk);
	int r;

	if ((off - base) % blk) {
		r = dfs_window_fill_block(f, w, first);
		if (r)
			return r;
	}
	if ((off + (off_t)len - base) % blk) {
		r = dfs_window_fill_block(f, w, last);
		if (r)
			return r;
	}
	if (swap && off == base && len == f->wsize) {
		char *old = w->buf;

		assert(*swap == src);
		w->buf = *swap;
		*swap = old;
	} else {
		memcpy(w->buf + (off - base), src, len);
	}
	for (unsigned b = first; b <= last; b++)
		dfs_blk_set_dirty(f, w, b);
	/* The zero-past-size invariant holds for a freshly filled last block
	 * too: dfs_window_fill_block() zeroed or read past size. */
	w->app_bytes += len;
	w->lru = ++f->clock;
	if (off + (off_t)len > f->size)
		size_set(f, off + (off_t)len);
	f->dirty = true;
	count_add(&f->written, &f->eng->written, len);
	count_add(&f->pending, &f->eng->pending, len);
	dfs_engine_count_rate(f->eng, len);
	return 0;
}

static ssize_t stage_write_locked(struct dfs_file *f, const char *buf, char **swap,
				  size_t len, off_t off)
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
		struct dfs_window *w = dfs_window_find(f, idx);
		if (w && w->inflight) {
			/* Overwriting data on its way to disk: wait for it. */
			dfs_stage_wait(f);
			continue;
		}
		if (!w) {
			bool ready;

			err = prepare_new_window(f, &ready);
			if (err)
				break;
			if (!ready)
				continue;
			w = dfs_window_new(f, idx);
			if (!w) {
				err = -ENOMEM;
				break;
			}
			w->lru = ++f->clock;
		}
		off_t wend = (off_t)((idx + 1) * f->wsize);
		size_t n = len - done;
		if ((off_t)n > wend - pos)
			n = (size_t)(wend - pos);
		err = stage_copy(f, w, buf + done, swap, n, pos);
		if (err) {
			if (!w->nvalid) /* made for this write, which failed */
				dfs_window_drop(f, w, true, NULL);
			break;
		}
		/* Still in hand: swapped in, buf + done is the window's now. */
		dfs_digest_write(f, buf + done, n, pos);
		done += n;
		if (dfs_window_full(f, w) && f->nflight < depth_for(f, w))
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

/* dfs_file_write, with swap for a write that may trade buffers. */
static ssize_t file_write(struct dfs_file *f, const char *buf, char **swap, size_t len,
			  off_t off)
{
	int err = check_write_range(f, len, off);
	if (err)
		return err;
	if (len == 0)
		return atomic_load(&f->err);
	pthread_mutex_lock(&f->lock);
	ssize_t r = dfs_digest_change(f);
	if (!r)
		r = stage_write_locked(f, buf, swap, len, off);
	pthread_mutex_unlock(&f->lock);
	return r;
}

ssize_t dfs_file_write(struct dfs_file *f, const void *buf, size_t len, off_t off)
{
	return file_write(f, buf, NULL, len, off);
}

ssize_t dfs_file_write_swap(struct dfs_file *f, char **buf, size_t len, off_t off)
{
	/* Only a whole window is traded: its buffer is the engine's
	 * buf_size (wsize, fixed at open), the same kind as *buf. */
	bool whole = len == f->wsize && off >= 0 && off % (off_t)f->wsize == 0;

	return file_write(f, *buf, whole ? buf : NULL, len, off);
}

ssize_t dfs_file_append(struct dfs_file *f, const void *buf, size_t len, off_t *at)
{
	pthread_mutex_lock(&f->lock);
	ssize_t r = len ? dfs_digest_change(f) : 0;
	/* Staging may drop the lock (waiting for a buffer or a window in
	 * flight): no other append may take the same end of file meanwhile. */
	while (f->appending)
		pthread_cond_wait(&f->cv, &f->lock);
	f->appending = true;
	off_t off = f->size;
	if (!r)
		r = check_write_range(f, len, off);
	if (!r && len)
		r = stage_write_locked(f, buf, NULL, len, off);
	f->appending = false;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	if (at)
		*at = off;
	return r;
}

/* ---- flush, trim, reclaim ---- */

/* Under f->lock: write out every staged window and wait for all. */
int dfs_stage_flush_locked(struct dfs_file *f)
{
	for (;;) {
		if (file_err(f))
			return file_err(f);
		struct dfs_window *w = dfs_window_oldest_staged(f, false);
		if (w && !f->nflight && f->nstaged == 1) {
			/* The last window, and nothing else to overlap it with
			 * (a small file's close): write it here rather than
			 * wake a worker and wait for it. */
			if (submit_begin(f, w)) {
				pthread_mutex_unlock(&f->lock);
				dfs_engine_run_here(f->eng, &w->job);
				pthread_mutex_lock(&f->lock);
			}
			continue;
		}
		if (w && f->nflight < depth_for(f, w)) {
			submit(f, w);
			continue;
		}
		if (!w && !f->nflight)
			break;
		dfs_stage_wait(f);
	}
	spare_release(f);
	return 0;
}

/* Under f->lock: forget staged bytes at and past size. */
void dfs_stage_trim(struct dfs_file *f, off_t size)
{
	struct dfs_window *w = f->windows, *next;

	for (; w; w = next) {
		next = w->next;
		off_t base = dfs_win_off(f, w);
		if (base >= size) {
			dfs_window_drop(f, w, true, NULL);
			continue;
		}
		if (base + (off_t)f->wsize <= size)
			continue;
		off_t rel = size - base;
		unsigned keep = (unsigned)((rel + f->blk - 1) / f->blk);
		for (unsigned b = keep; b < f->nblocks; b++)
			dfs_blk_clear(f, w, b);
		if (rel % f->blk && dfs_blk_valid(w, keep - 1))
			memset(w->buf + rel, 0, f->blk - (size_t)(rel % f->blk));
	}
}

bool dfs_stage_release_spare(struct dfs_file *f)
{
	if (!f->spare)
		return false;
	spare_release(f);
	return true;
}

void dfs_stage_write_oldest(struct dfs_file *f)
{
	struct dfs_window *w = dfs_window_oldest_staged(f, false);

	if (w && f->nflight < depth_for(f, w)) {
		if (submit_begin(f, w)) {
			w->keep = false; /* the pool wants its buffer */
			dfs_engine_enqueue(f->eng, &w->job);
		}
	}
}

uint64_t dfs_stage_discard(struct dfs_file *f)
{
	uint64_t lost = 0;

	assert(f->nflight == 0);
	while (f->windows) {
		lost += f->windows->app_bytes;
		dfs_window_drop(f, f->windows, false, NULL);
	}
	spare_release(f);
	return lost;
}

