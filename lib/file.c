/* SPDX-License-Identifier: MIT */
/*
 * file.c - the life of one backing file in the engine: open (descriptors,
 * alignment, fallback), flush, sync, truncate, fallocate, the counters,
 * finish and close.  Staging is in stage.c, reads in read.c, disk I/O in
 * disk.c.  Locking rules and invariants: dfs_internal.h.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

_Static_assert(sizeof(off_t) == 8, "64-bit file offsets required");

/* The backing file's size is known again (disk_end), with no window in
 * flight: under f->lock, or before the file is shared. */
static void disk_end_set(struct dfs_file *f, off_t size)
{
	assert(f->nflight == 0 && size >= 0);
	f->disk_end = size;
}

int dfs_file_flush(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	int r = dfs_stage_flush_locked(f);
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Under f->lock: the backing file's ctime and size; whether they are
 * what the file saw last (and they are now noted as seen). */
static int backing_unchanged(struct dfs_file *f, bool *same)
{
	struct stat st;

	if (fstat(f->fd, &st))
		return -errno;
	*same = st.st_ctim.tv_sec == f->seen_ctime.tv_sec &&
		st.st_ctim.tv_nsec == f->seen_ctime.tv_nsec && st.st_size == f->seen_size;
	f->seen_ctime = st.st_ctim;
	f->seen_size = st.st_size;
	return 0;
}

int dfs_file_lock_release(struct dfs_file *f)
{
	bool same;

	pthread_mutex_lock(&f->lock);
	int r = dfs_stage_flush_locked(f);
	if (!r)
		r = backing_unchanged(f, &same);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_lock_acquired(struct dfs_file *f)
{
	bool same;

	pthread_mutex_lock(&f->lock);
	int r = backing_unchanged(f, &same);
	if (!r && !same) {
		r = dfs_stage_flush_locked(f);
		/* The disk's bytes may differ from what was read: read-ahead
		 * slots (disk_gen) and clean windows are not to be served. */
		atomic_fetch_add(&f->disk_gen, 1);
		dfs_window_drop_clean(f);
		if (!r) {
			r = backing_unchanged(f, &same);
			if (!r) {
				size_set(f, f->seen_size);
				f->disk_size = f->seen_size;
				disk_end_set(f, f->seen_size);
			}
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_close_flush(struct dfs_file *f)
{
	struct dfs_engine *e = f->eng;

	pthread_mutex_lock(&f->lock);
	/* Reserve the file's size against the cap on cached bytes; the sync
	 * that drops the pages gives it back. */
	uint64_t n = (uint64_t)f->size;
	if (e->o.small_max && n <= e->o.small_max && atomic_load(&f->pending) &&
	    !f->tail_padded) {
		if (atomic_fetch_add(&e->cached, n) + n <= e->o.cached_max) {
			atomic_fetch_add(&f->cached, n);
			f->flush_cached = true;
		} else {
			atomic_fetch_sub(&e->cached, n);
		}
	}
	f->closing = true; /* windows written from now on are not kept */
	int r = dfs_stage_flush_locked(f);
	f->flush_cached = false;
	dfs_window_drop_clean(f);
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* The pages a close left cached are gone (synced and dropped, or the file
 * is closing): give their bytes back to the cap. */
static void cached_release(struct dfs_file *f)
{
	uint64_t n = atomic_exchange(&f->cached, 0);

	atomic_fetch_sub(&f->eng->cached, n);
}

/*
 * The two halves of a sync.  sync_begin writes out what is staged and notes
 * what the sync will cover (*covered); 0 or the file's error.  After the
 * sync call itself (result r), sync_end drops the pages and moves durable
 * up, or makes r the file's error.  Returns the file's error.
 */
static int sync_begin(struct dfs_file *f, uint64_t *covered)
{
	pthread_mutex_lock(&f->lock);
	int r = dfs_stage_flush_locked(f);
	if (!r) {
		*covered = atomic_load(&f->synced);
		f->dirty = false; /* a write from now on needs another fsync */
		atomic_fetch_add(&f->syncing, 1);
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int sync_end(struct dfs_file *f, uint64_t covered, int r)
{
	const struct dfs_io_ops *io = f->eng->io;

	if (!r) {
		io->fadvise(io->arg, f->fd, 0, 0, POSIX_FADV_DONTNEED);
		cached_release(f);
	}
	pthread_mutex_lock(&f->lock);
	assert(atomic_load(&f->syncing) > 0);
	atomic_fetch_sub(&f->syncing, 1);
	if (r) {
		dfs_stage_set_error(f, r);
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

static int fsync_retry(struct dfs_file *f, int datasync)
{
	const struct dfs_io_ops *io = f->eng->io;
	int r;

	do
		r = io->fsync(io->arg, f->fd, datasync);
	while (r == -EINTR);
	atomic_fetch_add(&f->eng->own_flushes, 1);
	return r;
}

int dfs_file_sync(struct dfs_file *f, int datasync)
{
	uint64_t covered;
	int r = sync_begin(f, &covered);

	return r ? r : sync_end(f, covered, fsync_retry(f, datasync));
}

int dfs_file_truncate(struct dfs_file *f, off_t size)
{
	const struct dfs_io_ops *io = f->eng->io;

	if (size < 0)
		return -EINVAL;
	if (f->accmode == O_RDONLY)
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	int r = dfs_digest_change(f);
	if (!r)
		r = file_err(f);
	while (!r && f->nflight)
		r = dfs_stage_wait(f);
	if (!r) {
		r = io->ftruncate(io->arg, f->fd, size);
		atomic_fetch_add(&f->disk_gen, 1);
	}
	if (!r) {
		dfs_digest_truncate(f, size);
		dfs_stage_trim(f, size);
		size_set(f, size);
		f->disk_size = size;
		disk_end_set(f, size);
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
	/* Space kept for later changes no byte, nor does an allocation
	 * within the size; anything else changes what the file holds. */
	bool changes = mode != FALLOC_FL_KEEP_SIZE;

	pthread_mutex_lock(&f->lock);
	if (mode == 0 && off <= f->size && len <= f->size - off)
		changes = false;
	int r = changes ? dfs_digest_change(f) : 0;
	if (!r)
		r = dfs_stage_flush_locked(f);
	if (!r && changes)
		dfs_digest_give_up(f);
	if (!r) {
		r = io->fallocate(io->arg, f->fd, mode, off, len);
		atomic_fetch_add(&f->disk_gen, 1);
		/* Clean windows may hold what the disk no longer does. */
		dfs_window_drop_clean(f);
	}
	if (!r) {
		/* Nothing is staged now: the backing file is the truth. */
		f->dirty = true;
		if (fstat(f->fd, &st) == 0) {
			size_set(f, st.st_size);
			f->disk_size = st.st_size;
			disk_end_set(f, st.st_size);
		} else {
			r = -errno;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return r;
}

off_t dfs_file_seek_data(struct dfs_file *f, off_t off, int whence)
{
	pthread_mutex_lock(&f->lock);
	off_t at = dfs_stage_flush_locked(f);
	if (!at) {
		at = lseek(f->fd, off, whence);
		if (at < 0)
			at = -errno;
	}
	pthread_mutex_unlock(&f->lock);
	return at;
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

/* ---- open and close ---- */

/*
 * Whether a new file can use O_DIRECT: its descriptor is opened at first
 * use, or here when fallback is off (a refusal must come at open); else
 * fallback mode where the backing filesystem refuses O_DIRECT (said once
 * in the log), or -EOPNOTSUPP there when fallback is off.  0 or -errno.
 */
static int open_direct(struct dfs_file *f)
{
	const struct dfs_engine_opts *o = &f->eng->o;
	const char *why = NULL;
	int dfd;

	atomic_store(&f->dfd, -1);
	if (f->align.no_dio) {
		why = "statx reports no direct I/O";
	} else if (f->align.off > o->buf_size || o->buf_size % f->align.off ||
		   f->align.mem > 4096) {
		why = "alignment larger than the staging buffer";
	} else if (!o->no_fallback) {
		atomic_store(&f->dfd, DFD_LATER);
	} else {
		dfd = dfs_reopen(f->fd, f->accmode | O_DIRECT);
		if (dfd == -EINVAL)
			why = "open with O_DIRECT refused";
		else if (dfd < 0)
			return dfd;
		else
			atomic_store(&f->dfd, dfd);
	}
	if (!why)
		return 0;
	if (o->no_fallback) {
		dfs_log(f->eng, LOG_ERR,
			"backing filesystem refuses O_DIRECT (%s) and fallback is off",
			why);
		return -EOPNOTSUPP;
	}
	dfs_disk_enter_fallback(f, why);
	return 0;
}

int dfs_file_open(struct dfs_engine *e, int fd, struct dfs_file **out)
{
	int flags = fcntl(fd, F_GETFL), nfd;

	if (flags < 0)
		return -errno;
	/* Read-modify-write needs to read: take O_RDWR where allowed. */
	nfd = (flags & O_ACCMODE) == O_WRONLY ? dfs_reopen(fd, O_RDWR) : -EACCES;
	if (nfd < 0)
		nfd = dfs_reopen(fd, flags & O_ACCMODE);
	if (nfd < 0)
		return nfd;
	return dfs_file_adopt(e, nfd, out);
}

/* The pool, short of buffers, asks this file for one: an idle buffer first
 * (the spare, a read-ahead slot's, a clean window's), else the write-out
 * of its oldest staged window, which gives one back when done.  No locks
 * held. */
static void reclaim(struct dfs_client *c)
{
	struct dfs_file *f = dfs_container_of(c, struct dfs_file, client);

	pthread_mutex_lock(&f->lock);
	if (!dfs_stage_release_spare(f) && !dfs_ra_release(f, false) &&
	    !dfs_window_release_clean(f))
		dfs_stage_write_oldest(f);
	pthread_mutex_unlock(&f->lock);
}

int dfs_file_adopt(struct dfs_engine *e, int fd, struct dfs_file **out)
{
	struct dfs_fd_kind kind;
	struct dfs_align align;
	struct stat st;
	int flags = fcntl(fd, F_GETFL);
	int r = flags < 0 ? -errno : dfs_align_for_fd(fd, &align, &kind);

	if (!r && !kind.known) { /* no statx: ask fstat */
		if (fstat(fd, &st)) {
			r = -errno;
		} else {
			kind.mode = st.st_mode;
			kind.size = (uint64_t)st.st_size;
		}
	}
	if (!r && !S_ISREG(kind.mode))
		r = -EINVAL;
	assert(r || !(flags & (O_APPEND | O_DIRECT)));
	if (r) {
		close(fd);
		return r;
	}

	struct dfs_file *f = calloc(1, sizeof(*f));
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	f->eng = e;
	f->accmode = flags & O_ACCMODE;
	atomic_store(&f->dfd, -1);
	f->fd = fd;
	f->align = align;

	r = open_direct(f);
	if (r)
		goto err_close;
	atomic_store(&f->no_dontcache, e->o.no_dontcache != 0);
	bool on_source = e->o.source_dev && f->align.dev == e->o.source_dev;
	f->cache_local = on_source ? dfs_syncfs_covers(e->o.source_type) : dfs_fd_syncfs_covers(fd);
	f->tail_padded = e->o.tail == DFS_TAIL_PADDED || !f->cache_local;
	atomic_store(&f->drop_reads, on_source ? !dfs_direct_reads_uncached(e->o.source_type) : -1);
	f->blk = atomic_load(&f->fallback) ? DFS_ALIGN_FALLBACK : f->align.off;
	f->wsize = e->o.buf_size;
	f->nblocks = (unsigned)(f->wsize / f->blk);
	assert(kind.size <= INT64_MAX);
	size_set(f, (off_t)kind.size);
	f->disk_size = (off_t)kind.size;
	disk_end_set(f, (off_t)kind.size);
	dfs_digest_open(f, (off_t)kind.size);
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->extend_lock, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->client.reclaim = reclaim;
	dfs_engine_link(e, &f->client);
	*out = f;
	return 0;

err_close:
	close(f->fd);
	free(f);
	return r;
}

/* Whether dfs_file_finish would sync f: *r gets its error otherwise. */
static bool needs_sync(struct dfs_file *f, int *r)
{
	*r = 0;
	if (f->accmode == O_RDONLY)
		return false;
	pthread_mutex_lock(&f->lock);
	bool dirty = f->dirty;
	*r = file_err(f);
	pthread_mutex_unlock(&f->lock);
	return dirty && !*r;
}

int dfs_file_finish(struct dfs_file *f)
{
	int r;

	return needs_sync(f, &r) ? dfs_file_sync(f, 0) : r;
}

bool dfs_file_finish_pending(struct dfs_file *f)
{
	int r;

	return needs_sync(f, &r) || r;
}

/* Files of one dfs_file_finish_many batch; a longer list goes in turns. */
#define FINISH_BATCH 64

/* One turn of dfs_file_finish_many: n <= FINISH_BATCH. */
static void finish_batch(struct dfs_file **files, size_t n, int *res)
{
	uint64_t covered[FINISH_BATCH];
	bool open_[FINISH_BATCH];
	int fsres[FINISH_BATCH]; /* the syncfs result for files[i]'s filesystem */
	size_t nopen = 0;

	assert(n <= FINISH_BATCH);
	for (size_t i = 0; i < n; i++) {
		open_[i] = needs_sync(files[i], &res[i]) &&
			   !(res[i] = sync_begin(files[i], &covered[i]));
		nopen += open_[i];
	}
	/* One syncfs per filesystem; a file of unknown filesystem (dev 0),
	 * of one whose syncfs does not stand in for an fsync (asked of its
	 * first file in the batch), or alone in the batch takes its own
	 * fsync instead. */
	for (size_t i = 0; i < n; i++) {
		struct dfs_file *f = files[i];
		const struct dfs_io_ops *io = f->eng->io;
		size_t j;

		fsres[i] = 1; /* not synced by a syncfs */
		if (!open_[i] || nopen < 2 || !f->align.dev)
			continue;
		for (j = 0; j < i; j++)
			if (open_[j] && files[j]->align.dev == f->align.dev)
				break;
		if (j < i) {
			fsres[i] = fsres[j];
			continue;
		}
		if (!f->cache_local)
			continue;
		do
			fsres[i] = io->syncfs(io->arg, f->fd);
		while (fsres[i] == -EINTR);
		atomic_fetch_add(&f->eng->own_flushes, 1);
	}

	for (size_t i = 0; i < n; i++) {
		struct dfs_file *f = files[i];
		const struct dfs_io_ops *io = f->eng->io;
		int r;

		if (!open_[i])
			continue;
		if (fsres[i]) {
			/* No syncfs, or it failed (its error may be another
			 * file's): this file's own fsync tells. */
			r = fsync_retry(f, 0);
		} else {
			/* Its data is on disk and its metadata committed;
			 * a writeback error of this file's own shows in the
			 * wait (file_fdatawait_range reports the file's
			 * error sequence). */
			do
				r = io->sync_file_range(io->arg, f->fd, 0, 0,
							SYNC_FILE_RANGE_WAIT_BEFORE);
			while (r == -EINTR);
		}
		res[i] = sync_end(f, covered[i], r);
	}
}

void dfs_file_finish_many(struct dfs_file **files, size_t n, int *res)
{
	for (size_t i = 0; i < n; i += FINISH_BATCH)
		finish_batch(files + i, n - i < FINISH_BATCH ? n - i : FINISH_BATCH,
			     res + i);
}

/* dfs_file_close, and with no_sync dfs_file_close_unsynced. */
static int file_close(struct dfs_file *f, bool no_sync)
{
	struct dfs_engine *e = f->eng;
	int r = no_sync ? file_err(f) : dfs_file_finish(f);

	pthread_mutex_lock(&f->lock);
	/* In error: wait out what is in flight, then drop what is staged. */
	while (f->nflight)
		pthread_cond_wait(&f->cv, &f->lock);
	dfs_ra_quiesce(f);
	dfs_ra_release(f, true);
	uint64_t lost = dfs_stage_discard(f);
	pthread_mutex_unlock(&f->lock);
	if (lost && !no_sync)
		dfs_log(e, LOG_ERR,
			"closing a file in error: %llu staged bytes were not written",
			(unsigned long long)lost);

	cached_release(f);
	dfs_engine_unlink(e, &f->client);
	if (file_err(f))
		atomic_fetch_sub(&e->error_files, 1);
	if (atomic_load(&f->fallback))
		atomic_fetch_sub(&e->fallback_files, 1);
	while (f->free_windows) {
		struct dfs_window *w = f->free_windows;
		f->free_windows = w->next;
		free(w);
	}
	if (atomic_load(&f->dfd) >= 0)
		close(atomic_load(&f->dfd));
	close(f->fd);
	dfs_digest_free(f);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->extend_lock);
	free(f);
	return r;
}

int dfs_file_close(struct dfs_file *f)
{
	return file_close(f, false);
}

int dfs_file_close_unsynced(struct dfs_file *f)
{
	return file_close(f, true);
}
