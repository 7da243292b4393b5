/* SPDX-License-Identifier: MIT */
/*
 * window.c - the windows of one file: finding them, making and dropping
 * them, their two bitmaps, and filling their blocks from the disk.  The
 * write stage (stage.c) and the reads (read.c) sit on it.  Locking rules
 * and invariants: dfs_internal.h; everything here runs under f->lock.
 *
 * A window covers wsize bytes of the file at a multiple of wsize, in one
 * pool buffer, and carries two bitmaps of one bit per block: valid (the
 * block holds the file's current bytes) and, a subset of those, dirty
 * (not on the disk yet).  A window with dirty blocks is staged, one
 * without is clean: a cache of what it holds, for reads and for rewrites
 * that then need no read-modify-write.  At most one window per index
 * exists.  A window in flight (stage.c) keeps its buffer and bitmaps as
 * they are until its write-out completes.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- the bitmaps ---- */

off_t dfs_win_off(const struct dfs_file *f, const struct dfs_window *w)
{
	return (off_t)(w->idx * f->wsize);
}

size_t dfs_bitmap_words(const struct dfs_file *f)
{
	return (f->nblocks + 63) / 64;
}

bool dfs_blk_valid(const struct dfs_window *w, unsigned b)
{
	return w->valid[b / 64] & (1ull << (b % 64));
}

bool dfs_blk_dirty(const struct dfs_file *f, const struct dfs_window *w, unsigned b)
{
	return w->valid[dfs_bitmap_words(f) + b / 64] & (1ull << (b % 64));
}

unsigned dfs_blk_next(const struct dfs_file *f, const struct dfs_window *w, bool dirty,
		      unsigned from, bool set)
{
	const size_t words = dfs_bitmap_words(f);
	const uint64_t *map = w->valid + (dirty ? words : 0);
	const uint64_t flip = set ? 0 : ~0ull;

	if (from >= f->nblocks)
		return f->nblocks;
	size_t i = from / 64;
	/* The bits below from in its word are out of the search. */
	uint64_t word = (map[i] ^ flip) & (~0ull << (from % 64));
	while (!word) {
		if (++i == words)
			return f->nblocks;
		word = map[i] ^ flip;
	}
	unsigned b = (unsigned)(i * 64) + (unsigned)__builtin_ctzll(word);
	/* Past nblocks the last word's bits are clear, so set when flipped. */
	return b < f->nblocks ? b : f->nblocks;
}

unsigned dfs_blk_dirty_end(const struct dfs_file *f, const struct dfs_window *w)
{
	const size_t words = dfs_bitmap_words(f);
	const uint64_t *map = w->valid + words;

	for (size_t i = words; i-- > 0;)
		if (map[i])
			return (unsigned)(i * 64) + 64 - (unsigned)__builtin_clzll(map[i]);
	return 0;
}

/* Under f->lock: block b of w holds the file's current bytes. */
void dfs_blk_set_valid(struct dfs_window *w, unsigned b)
{
	if (!dfs_blk_valid(w, b)) {
		w->valid[b / 64] |= 1ull << (b % 64);
		w->nvalid++;
	}
}

/* Under f->lock, w not in flight: block b holds bytes the disk lacks.  The
 * window's first dirty block makes a clean window staged. */
void dfs_blk_set_dirty(struct dfs_file *f, struct dfs_window *w, unsigned b)
{
	assert(!w->inflight);
	dfs_blk_set_valid(w, b);
	if (dfs_blk_dirty(f, w, b))
		return;
	w->valid[dfs_bitmap_words(f) + b / 64] |= 1ull << (b % 64);
	if (w->ndirty++ == 0) {
		assert(f->nclean > 0);
		f->nclean--;
		f->nstaged++;
	}
}

/* Under f->lock, w not in flight: block b holds nothing any more.  The
 * window's last dirty block gone makes a staged window clean; its
 * applications' bytes are settled (the caller dropped them). */
void dfs_blk_clear(struct dfs_file *f, struct dfs_window *w, unsigned b)
{
	assert(!w->inflight);
	if (dfs_blk_dirty(f, w, b)) {
		w->valid[dfs_bitmap_words(f) + b / 64] &= ~(1ull << (b % 64));
		assert(w->ndirty > 0);
		if (--w->ndirty == 0) {
			assert(f->nstaged > 0);
			f->nstaged--;
			f->nclean++;
			settle(f, w->app_bytes);
			w->app_bytes = 0;
		}
	}
	if (dfs_blk_valid(w, b)) {
		w->valid[b / 64] &= ~(1ull << (b % 64));
		w->nvalid--;
	}
}

/* ---- finding ---- */

/* Under f->lock: the window of index idx, or NULL. */
struct dfs_window *dfs_window_find(struct dfs_file *f, uint64_t idx)
{
	for (struct dfs_window *w = f->windows; w; w = w->next)
		if (w->idx == idx)
			return w;
	return NULL;
}

/* Under f->lock: is any window in [off, off + len)? */
bool dfs_window_any(struct dfs_file *f, off_t off, size_t len)
{
	uint64_t first = (uint64_t)off / f->wsize;
	uint64_t last = (uint64_t)(off + (off_t)len - 1) / f->wsize;
	for (struct dfs_window *w = f->windows; w; w = w->next)
		if (w->idx >= first && w->idx <= last)
			return true;
	return false;
}

/* ---- making and dropping ---- */

/* Under f->lock: a new clean window for idx on the spare buffer (which
 * the caller made sure of). */
struct dfs_window *dfs_window_new(struct dfs_file *f, uint64_t idx)
{
	struct dfs_window *w = f->free_windows;

	if (w) {
		f->free_windows = w->next;
	} else {
		w = malloc(sizeof(*w) + 2 * dfs_bitmap_words(f) * sizeof(uint64_t));
		if (!w)
			return NULL;
	}
	memset(w, 0, sizeof(*w) + 2 * dfs_bitmap_words(f) * sizeof(uint64_t));
	w->file = f;
	w->idx = idx;
	w->buf = f->spare;
	f->spare = NULL;
	assert(w->buf);
	w->next = f->windows;
	f->windows = w;
	f->nclean++;
	dfs_update_reclaimable(f);
	return w;
}

/* Under f->lock: w leaves the file's list (its buffer is the caller's). */
void dfs_window_unlink(struct dfs_file *f, struct dfs_window *w)
{
	struct dfs_window **pp = &f->windows;
	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	w->next = f->free_windows;
	f->free_windows = w;
}

/* Under f->lock: w, not in flight, leaves without being written: clean,
 * truncated away (its bytes are settled), or dropped by the close of a
 * file in error (lost).  Its buffer is handed back: to *take when that is
 * given (the file's next window), else to the pool. */
void dfs_window_drop(struct dfs_file *f, struct dfs_window *w, bool settled, char **take)
{
	assert(!w->inflight);
	if (settled)
		settle(f, w->app_bytes);
	else
		count_sub_pending(f, w->app_bytes);
	if (take)
		*take = w->buf;
	else
		dfs_pool_put(f->eng, w->buf);
	w->buf = NULL;
	if (w->ndirty) {
		assert(f->nstaged > 0);
		f->nstaged--;
	} else {
		assert(f->nclean > 0);
		f->nclean--;
	}
	dfs_window_unlink(f, w);
	dfs_update_reclaimable(f);
}

/* Every block dirty, and the file reaches the window's end: a stream's. */
bool dfs_window_full(const struct dfs_file *f, const struct dfs_window *w)
{
	return w->ndirty == f->nblocks && f->size >= dfs_win_off(f, w) + (off_t)f->wsize;
}

/* Under f->lock: the staged window (full only: a full one) used least
 * recently and not in flight, or NULL. */
struct dfs_window *dfs_window_oldest_staged(struct dfs_file *f, bool full_only)
{
	struct dfs_window *best = NULL;
	for (struct dfs_window *w = f->windows; w; w = w->next) {
		if (w->inflight || !w->ndirty || (full_only && !dfs_window_full(f, w)))
			continue;
		if (!best || w->lru < best->lru)
			best = w;
	}
	return best;
}

/* Under f->lock: the clean window used least recently, or NULL. */
struct dfs_window *dfs_window_oldest_clean(struct dfs_file *f)
{
	struct dfs_window *best = NULL;
	for (struct dfs_window *w = f->windows; w; w = w->next)
		if (!w->inflight && !w->ndirty && (!best || w->lru < best->lru))
			best = w;
	return best;
}

/* ---- buffers for windows, and clean windows given back ---- */

/* Under f->lock: f->spare holds a buffer without waiting, a free one
 * from the pool or the least recently used clean window's; whether it does. */
bool dfs_window_spare_now(struct dfs_file *f)
{
	if (!f->spare) {
		f->spare = dfs_pool_try_get(f->eng);
		if (!f->spare && f->nclean)
			dfs_window_drop(f, dfs_window_oldest_clean(f), true, &f->spare);
		dfs_update_reclaimable(f);
	}
	return f->spare != NULL;
}

/* Under f->lock: the least recently used clean window's buffer back to the
 * pool; false when there is none. */
bool dfs_window_release_clean(struct dfs_file *f)
{
	struct dfs_window *w = dfs_window_oldest_clean(f);

	if (!w)
		return false;
	dfs_window_drop(f, w, true, NULL);
	return true;
}

/* Under f->lock: every clean window's (the disk changed under them, or
 * the file is closing). */
void dfs_window_drop_clean(struct dfs_file *f)
{
	while (dfs_window_release_clean(f))
		;
}

/* ---- filling from the disk ---- */

/* Under f->lock: make block b of staged window w valid, reading it if
 * needed (zeros past disk_size; a small file through the page cache). */
int dfs_window_fill_block(struct dfs_file *f, struct dfs_window *w, unsigned b)
{
	if (dfs_blk_valid(w, b))
		return 0;
	char *dst = w->buf + (size_t)b * f->blk;
	off_t off = dfs_win_off(f, w) + (off_t)b * f->blk;
	if (off >= f->disk_size) {
		memset(dst, 0, f->blk);
	} else {
		ssize_t r =
			f->disk_size <= (off_t)f->eng->o.small_max
				? dfs_disk_read_cached(f, dst, f->blk, off, f->disk_size)
				: dfs_disk_read(f, dst, f->blk, off, f->disk_size);
		if (r < 0)
			return (int)r;
	}
	dfs_blk_set_valid(w, b);
	return 0;
}

/* Under f->lock, w not in flight: read blocks [b, e) from the disk into
 * the window, valid from now on.  0 or -errno. */
static int fill_blocks(struct dfs_file *f, struct dfs_window *w, unsigned b, unsigned e)
{
	off_t pos = dfs_win_off(f, w) + (off_t)b * f->blk;
	ssize_t r = dfs_disk_read(f, w->buf + (size_t)b * f->blk,
				  (size_t)(e - b) * f->blk, pos, f->disk_size);

	if (r < 0)
		return (int)r;
	for (; b < e; b++)
		dfs_blk_set_valid(w, b);
	return 0;
}

/* Under f->lock: copy [off, off + len), inside w's index, out of w; its
 * missing blocks are read into it first unless it is in flight (then
 * read around it). */
ssize_t dfs_window_read_locked(struct dfs_file *f, struct dfs_window *w, char *dst,
			       size_t len, off_t off)
{
	const off_t base = dfs_win_off(f, w);
	const off_t blk = f->blk;
	size_t done = 0;

	while (done < len) {
		off_t pos = off + (off_t)done;
		unsigned b = (unsigned)((pos - base) / blk);
		bool valid = dfs_blk_valid(w, b);
		/* Extend over blocks of the same validity. */
		unsigned e = dfs_blk_next(f, w, false, b + 1, !valid);
		off_t run_end = base + (off_t)e * blk;
		size_t n = len - done;
		if ((off_t)n > run_end - pos)
			n = (size_t)(run_end - pos);
		if (!valid && !w->inflight) {
			/* Into the window, then copied like a valid run. */
			unsigned eb = (unsigned)((pos + (off_t)n - base + blk - 1) / blk);
			int r = fill_blocks(f, w, b, eb);
			if (r)
				return r;
			valid = true;
		}
		if (valid) {
			memcpy(dst + done, w->buf + (pos - base), n);
		} else {
			ssize_t r = dfs_disk_read(f, dst + done, n, pos, f->disk_size);
			if (r < 0)
				return r;
		}
		done += n;
	}
	w->lru = ++f->clock;
	return (ssize_t)done;
}
