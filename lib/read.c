/* SPDX-License-Identifier: MIT */
/*
 * read.c - reads of one file: staged and in-flight ranges come from the
 * stage, the rest from the disk with O_DIRECT (disk.c).  A read of a range
 * that holds nothing staged runs without the file's lock.  Locking rules:
 * dfs_internal.h.
 *
 * Read-ahead.  A read of RA_MIN bytes or more that starts where the last
 * one ended is sequential: the DFS_RA_SLOTS windows from its end onward are
 * read ahead, each into a pool buffer on an I/O thread (one slot each), while
 * the reader's round trips go on; a later read wholly inside a slot is
 * copied from it (waiting for its read if that still runs).  A slot holds
 * the disk's bytes as of disk_gen, which every write to the backing file,
 * truncate and fallocate bumps after it is done: a slot read before such a
 * change is never used after it.  Ranges with anything staged never come
 * from a slot (the stage is looked at first).  Writers short of buffers
 * take idle slots' buffers back first (file.c's reclaim); close waits for
 * running reads and gives the buffers back.
 *
 * Clean windows (window.c) cache what other reads of a file open for
 * writing (a database) find on the disk: a block missing from a window
 * not in flight is read into the window itself; a read that finds no
 * window runs without the lock as before, and its whole blocks are then
 * kept in a window, a new one where a buffer is free at once, unless the
 * disk changed meanwhile (disk_gen).  The next read of those blocks is a
 * copy.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* Reads at least this long start or use read-ahead. */
#define RA_MIN (64 * 1024)

/* Under f->lock, after [off, off + len) of buf was read from the disk
 * without the lock, with disk_gen then gen: keep its whole blocks in the
 * window of their index (a new clean one if a buffer is free at once),
 * unless the disk changed meanwhile.  Blocks already valid stay as they
 * are: they are newer. */
static void keep_read(struct dfs_file *f, const char *buf, size_t len, off_t off,
		      uint64_t gen)
{
	const off_t blk = f->blk;
	uint64_t idx = (uint64_t)off / f->wsize;
	off_t base = (off_t)(idx * f->wsize);
	off_t first = (off + blk - 1) / blk * blk;
	off_t end = (off + (off_t)len) / blk * blk;

	if (first >= end || (uint64_t)(end - 1) / f->wsize != idx ||
	    atomic_load(&f->disk_gen) != gen || file_err(f))
		return;
	struct dfs_window *w = dfs_window_find(f, idx);
	if (!w) {
		if (!dfs_window_spare_now(f))
			return;
		w = dfs_window_new(f, idx);
		if (!w)
			return;
	}
	if (w->inflight)
		return;
	for (off_t p = first; p < end; p += blk) {
		unsigned b = (unsigned)((p - base) / blk);
		if (dfs_blk_valid(w, b))
			continue;
		memcpy(w->buf + (p - base), buf + (p - off), (size_t)blk);
		dfs_blk_set_valid(w, b);
	}
	w->lru = ++f->clock;
}

/* ---- read-ahead ---- */

unsigned dfs_ra_release(struct dfs_file *f, bool all)
{
	unsigned n = 0;

	for (int i = 0; i < DFS_RA_SLOTS; i++) {
		struct dfs_ra *a = &f->ra[i];
		if (!a->buf || a->busy || a->pins)
			continue;
		dfs_pool_put(f->eng, a->buf);
		a->buf = NULL;
		n++;
		if (!all)
			break;
	}
	if (n)
		dfs_update_reclaimable(f);
	return n;
}

void dfs_ra_quiesce(struct dfs_file *f)
{
	for (int i = 0; i < DFS_RA_SLOTS; i++)
		while (f->ra[i].busy || f->ra[i].pins)
			pthread_cond_wait(&f->cv, &f->lock);
}

static void ra_run(struct dfs_job *job)
{
	struct dfs_ra *a = dfs_container_of(job, struct dfs_ra, job);
	struct dfs_file *f = a->file;
	struct dfs_engine *e = f->eng; /* f may be gone once unlocked */
	/* len stops at the disk's end as it was when the read was asked. */
	ssize_t r = dfs_disk_read(f, a->buf, a->len, a->off, a->off + (off_t)a->len);

	pthread_mutex_lock(&f->lock);
	a->err = r < 0 ? (int)r : 0;
	a->busy = false;
	dfs_update_reclaimable(f);
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->lock);
	dfs_engine_job_done(e);
}

/* Under f->lock: the slot holding (or reading) the current disk's bytes
 * for all of [off, off + len), or NULL. */
static struct dfs_ra *ra_find(struct dfs_file *f, off_t off, size_t len)
{
	uint64_t gen = atomic_load(&f->disk_gen);

	for (int i = 0; i < DFS_RA_SLOTS; i++) {
		struct dfs_ra *a = &f->ra[i];
		if (a->buf && a->gen == gen && !a->err && off >= a->off &&
		    off + (off_t)len <= a->off + (off_t)a->len)
			return a;
	}
	return NULL;
}

/* Under f->lock: have the window holding from and the ones after it read
 * ahead (DFS_RA_SLOTS in all), where a slot and a buffer are free (never
 * waiting for one). */
static void ra_fill(struct dfs_file *f, off_t from)
{
	uint64_t gen = atomic_load(&f->disk_gen);
	off_t first = (off_t)((uint64_t)from / f->wsize) * (off_t)f->wsize;
	off_t wanted_end = first + (off_t)(DFS_RA_SLOTS * f->wsize);

	for (int k = 0; k < DFS_RA_SLOTS; k++) {
		off_t woff = first + (off_t)k * (off_t)f->wsize;
		if (woff >= f->disk_size)
			return;
		if (ra_find(f, woff, 1))
			continue;
		/* A slot not reading, and not holding another wanted window. */
		struct dfs_ra *a = NULL;
		for (int i = 0; i < DFS_RA_SLOTS && !a; i++) {
			struct dfs_ra *c = &f->ra[i];
			bool wanted = c->buf && c->gen == gen && !c->err && c->off >= first &&
				      c->off < wanted_end;
			if (!c->busy && !c->pins && !wanted)
				a = c;
		}
		if (!a)
			return;
		if (!a->buf) {
			a->buf = dfs_pool_try_get(f->eng);
			if (!a->buf)
				return;
		}
		a->file = f;
		a->off = woff;
		a->len = (size_t)(f->disk_size - woff < (off_t)f->wsize ? f->disk_size - woff
									 : (off_t)f->wsize);
		a->gen = gen;
		a->err = 0;
		a->busy = true;
		a->job.run = ra_run;
		dfs_engine_enqueue(f->eng, &a->job);
	}
	dfs_update_reclaimable(f);
}

/* Under f->lock, for a sequential read of [off, off + len) with nothing
 * staged: from a slot if one holds it (waiting for the slot's read if that
 * runs), and keep the next windows coming.  The bytes are copied to dst,
 * or with deliver given, delivered straight from the slot, pinned, with
 * the lock dropped meanwhile (*delivered set).  len, or -ENODATA when no
 * slot holds it (the caller reads the disk). */
static ssize_t ra_read_locked(struct dfs_file *f, char *dst, size_t len, off_t off,
			      dfs_deliver *deliver, void *arg, bool *delivered)
{
	struct dfs_ra *a;

	ra_fill(f, off); /* a first sequential read starts it */
	while ((a = ra_find(f, off, len)) && a->busy)
		pthread_cond_wait(&f->cv, &f->lock);
	if (!a) {
		ra_fill(f, off + (off_t)len);
		return -ENODATA;
	}
	const char *src = a->buf + (off - a->off);
	if (!deliver) {
		memcpy(dst, src, len);
		ra_fill(f, off + (off_t)len);
		return (ssize_t)len;
	}
	/* Pinned: no refill, reclaim or close takes the buffer meanwhile. */
	a->pins++;
	dfs_update_reclaimable(f);
	ra_fill(f, off + (off_t)len);
	pthread_mutex_unlock(&f->lock);
	deliver(arg, src, len);
	pthread_mutex_lock(&f->lock);
	assert(a->pins > 0);
	if (--a->pins == 0) {
		dfs_update_reclaimable(f);
		pthread_cond_broadcast(&f->cv);
	}
	*delivered = true;
	return (ssize_t)len;
}

static ssize_t file_read(struct dfs_file *f, void *buf, size_t len, off_t off,
			 dfs_deliver *deliver, void *arg, bool *delivered, bool copy)
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

	/* A copy's read (dfs_file_copy) neither reads ahead nor keeps what
	 * it read: it streams, and slots or kept blocks would only add a copy. */
	bool seq = !copy && off == f->ra_next && len >= RA_MIN && !f->eng->o.no_readahead;
	f->ra_next = off + (off_t)len;
	if (!dfs_window_any(f, off, len)) {
		/* Nothing staged here: from a read-ahead slot, else from the
		 * disk without the lock. */
		off_t disk_size = f->disk_size;
		if (seq && off + (off_t)len <= disk_size) {
			ssize_t r = ra_read_locked(f, buf, len, off, deliver, arg, delivered);
			if (r >= 0) {
				pthread_mutex_unlock(&f->lock);
				return r;
			}
		}
		/* A file being written keeps what its random reads find. */
		bool keep = !copy && !seq && f->accmode != O_RDONLY;
		uint64_t gen = atomic_load(&f->disk_gen);
		pthread_mutex_unlock(&f->lock);
		ssize_t r = dfs_disk_read(f, buf, len, off, disk_size);
		if (keep && r == (ssize_t)len) {
			pthread_mutex_lock(&f->lock);
			keep_read(f, buf, len, off, gen);
			pthread_mutex_unlock(&f->lock);
		}
		return r;
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
		struct dfs_window *w = dfs_window_find(f, idx);
		if (w)
			r = dfs_window_read_locked(f, w, dst + done, n, pos);
		else
			r = dfs_disk_read(f, dst + done, n, pos, f->disk_size);
		if (r < 0)
			break;
		done += n;
	}
	pthread_mutex_unlock(&f->lock);
	return r < 0 ? r : (ssize_t)done;
}

ssize_t dfs_file_read(struct dfs_file *f, void *buf, size_t len, off_t off)
{
	bool delivered = false;

	return file_read(f, buf, len, off, NULL, NULL, &delivered, false);
}

ssize_t dfs_file_read_deliver(struct dfs_file *f, void *buf, size_t len, off_t off,
			      dfs_deliver *deliver, void *arg)
{
	bool delivered = false;
	ssize_t r = file_read(f, buf, len, off, deliver, arg, &delivered, false);

	if (r >= 0 && !delivered)
		deliver(arg, buf, (size_t)r);
	return r;
}

/*
 * A copy reads each piece straight into *buf with O_DIRECT, never through
 * read-ahead or into a clean window (either would add a copy), and trades
 * it into out's stage.  Pieces end at out's window edges, so that an aligned copy trades
 * whole windows.
 */
ssize_t dfs_file_copy(struct dfs_file *in, off_t off_in, struct dfs_file *out, off_t off_out,
		      size_t len, char **buf)
{
	const size_t wsize = out->eng->o.buf_size;
	bool delivered = false;
	size_t done = 0;

	assert(in->eng == out->eng);
	if (off_in < 0 || off_out < 0)
		return -EINVAL;
	if (out->accmode == O_RDONLY)
		return -EBADF;
	while (done < len) {
		off_t to = off_out + (off_t)done;
		size_t n = wsize - (size_t)(to % (off_t)wsize);

		if (n > len - done)
			n = len - done;
		ssize_t r = file_read(in, *buf, n, off_in + (off_t)done, NULL, NULL, &delivered,
				      true);
		if (r <= 0) {
			if (r < 0 && !done)
				return r;
			break;
		}
		ssize_t w = dfs_file_write_swap(out, buf, (size_t)r, to);
		if (w < 0)
			return done ? (ssize_t)done : w; /* sticky: the next call says it */
		assert(w == r);
		done += (size_t)r;
		if ((size_t)r < n)
			break; /* in's end of file */
	}
	return (ssize_t)done;
}
