/* SPDX-License-Identifier: MIT */
/*
 * ofile.c - an inode's open engine file: start it at the first open
 * (backing file opened O_RDWR whenever the daemon may, so a later writer
 * finds it writable), make it writable, count opens and writers, hand out
 * references for I/O, show its progress, and at the last release detach
 * it and write it out, fsync and close it, keeping a failure for the next
 * flush or fsync of the file.  Locking rules: ofile.h.
 *
 * Not here: the FUSE requests themselves (file.c, inode.c, xattr.c) and
 * the staging (lib/).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

void ofile_slot_init(struct fs_ofile_slot *os)
{
	memset(os, 0, sizeof(*os));
	pthread_mutex_init(&os->lock, NULL);
	pthread_cond_init(&os->cv, NULL);
	pthread_mutex_init(&os->slock, NULL);
	LIST_INIT(&os->closing);
	LIST_INIT(&os->handles);
}

void ofile_slot_destroy(struct fs_ofile_slot *os)
{
	pthread_mutex_destroy(&os->slock);
	pthread_cond_destroy(&os->cv);
	pthread_mutex_destroy(&os->lock);
}

bool ofile_last_session(struct fs_inode *ino, struct dfs_file_stats *st)
{
	struct fs_ofile_slot *os = &ino->of;

	pthread_mutex_lock(&os->slock);
	*st = os->last;
	pthread_mutex_unlock(&os->slock);
	return st->written && !st->error;
}

void ofile_restore_session(struct fs_inode *ino, const struct dfs_file_stats *st)
{
	struct fs_ofile_slot *os = &ino->of;

	pthread_mutex_lock(&os->slock);
	assert(!os->cur && LIST_EMPTY(&os->closing));
	os->last = *st;
	pthread_mutex_unlock(&os->slock);
}

/* Under os->lock: keep the table's view of the slot current. */
static void update_busy(struct fs_ofile_slot *os)
{
	assert(!os->opens || os->cur);
	atomic_store(&os->busy, os->opens || os->cur || !LIST_EMPTY(&os->closing) ||
					os->release_err);
}

/* Under os->lock: wait until every detached engine file has written out
 * what it staged, so the backing file holds all of it.  Drops the lock
 * while it waits: anything read before it must be read again. */
static void wait_written_out(struct fs_ofile_slot *os)
{
	struct fs_ofile *of;

again:
	LIST_FOREACH(of, &os->closing, link)
	if (!of->written_out) {
		pthread_cond_wait(&os->cv, &os->lock);
		goto again;
	}
}

/* The name of the inode's backing file, for the log. */
/* ---- starting and replacing ---- */

/* Open the backing file with access mode acc (or take over created, a
 * descriptor of the file just created with that mode) and an engine file
 * on it. */
static int ofile_new(struct fs *fs, struct fs_inode *ino, int acc, int created,
		     struct fs_ofile **out)
{
	struct fs_ofile *of = calloc(1, sizeof(*of));
	int fd = created, r;

	if (!of) {
		if (created >= 0)
			close(created);
		return -ENOMEM;
	}
	if (fd < 0) {
		fd = fs_inode_fd(fs, ino);
		if (fd >= 0) {
			int pfd = fd;

			fd = dfs_reopen(pfd, acc);
			fs_inode_fd_put(fs, ino);
		}
	}
	if (fd < 0) {
		free(of);
		return fd;
	}
	r = dfs_file_adopt(fs->eng, fd, &of->file);
	if (r) {
		free(of);
		return r;
	}
	of->accmode = acc;
	of->refs = 1; /* os->cur's */
	*out = of;
	return 0;
}

static int ofile_free(struct fs_ofile *of)
{
	int r = dfs_file_close(of->file);

	free(of);
	return r;
}

/* Under os->lock: install of as cur; the one it replaces comes back. */
static struct fs_ofile *install(struct fs_ofile_slot *os, struct fs_ofile *of)
{
	struct fs_ofile *old = os->cur;

	pthread_mutex_lock(&os->slock);
	os->cur = of;
	pthread_mutex_unlock(&os->slock);
	return old;
}

/* Under os->lock: give up cur's reference on a retired file; the caller
 * frees it when that was the last one. */
static bool drop_ref_locked(struct fs_ofile *of)
{
	assert(of->refs > 0);
	return --of->refs == 0;
}

/* Under os->lock, no engine file yet. */
static int start(struct fs *fs, struct fs_inode *ino, int created)
{
	struct fs_ofile *of;
	int r = ofile_new(fs, ino, O_RDWR, created, &of);

	/* Read-only for now; a later writer gets the reason again. */
	if (r == -EACCES || r == -EPERM || r == -EROFS || r == -ETXTBSY)
		r = ofile_new(fs, ino, O_RDONLY, -1, &of);
	if (!r)
		install(&ino->of, of);
	return r;
}

/* Under os->lock, with an engine file: make it writable, replacing a
 * read-only one (which holds nothing staged) by a read-write one. */
static int make_writable(struct fs *fs, struct fs_inode *ino)
{
	struct fs_ofile *of, *old;
	int r;

	if (ino->of.cur->accmode == O_RDWR)
		return 0;
	r = ofile_new(fs, ino, O_RDWR, -1, &of);
	if (r)
		return r;
	old = install(&ino->of, of);
	if (drop_ref_locked(old))
		ofile_free(old); /* read-only: nothing to write, nothing fails */
	return 0;
}

/* ---- references ---- */

struct fs_ofile *ofile_get(struct fs_inode *ino)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of;

	pthread_mutex_lock(&os->lock);
	of = os->cur;
	if (of)
		of->refs++;
	pthread_mutex_unlock(&os->lock);
	return of;
}

void ofile_put(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of)
{
	struct fs_ofile_slot *os = &ino->of;
	bool last;

	(void)fs;
	pthread_mutex_lock(&os->lock);
	last = drop_ref_locked(of);
	if (!last && of->refs == 1 && of != os->cur)
		pthread_cond_broadcast(&os->cv); /* a release waits for this */
	pthread_mutex_unlock(&os->lock);
	if (last)
		ofile_free(of); /* retired read-only file */
}

/* ---- the end of a session ---- */

/* Under os->lock: an error of a release that no application saw goes to
 * the handles open now, or stays for the next open. */
static void keep_release_error(struct fs *fs, struct fs_ofile_slot *os, int err)
{
	struct fs_handle *h;
	int none = 0;

	if (LIST_EMPTY(&os->handles)) {
		if (!os->release_err)
			atomic_fetch_add(&fs->release_errors, 1);
		os->release_err = err;
		return;
	}
	LIST_FOREACH(h, &os->handles, link)
	atomic_compare_exchange_strong(&h->deferred_err, &none, err);
}

/*
 * Called with os->lock held; returns with it held, having dropped it in
 * between.  Detach cur, wait for the I/O still running on it and write it
 * out (a new open may start once that is done).  Returns the detached
 * file, for ofile_finish().
 */
static struct fs_ofile *detach_locked(struct fs_inode *ino)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of = os->cur;

	assert(of && !os->opens);
	pthread_mutex_lock(&os->slock);
	os->cur = NULL;
	LIST_INSERT_HEAD(&os->closing, of, link);
	pthread_mutex_unlock(&os->slock);
	while (of->refs > 1)
		pthread_cond_wait(&os->cv, &os->lock);
	pthread_mutex_unlock(&os->lock);

	/* Nobody else can reach of now: no lock needed for its I/O. */
	of->err = dfs_file_flush(of->file);
	pthread_mutex_lock(&os->lock);
	pthread_mutex_lock(&os->slock); /* ofile_size() reads it under slock */
	of->written_out = true;
	pthread_mutex_unlock(&os->slock);
	pthread_cond_broadcast(&os->cv);
	return of;
}

/* The rest of a finish, whose sync returned r2: record the session, close. */
static int finish_with(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of, int r2)
{
	struct fs_ofile_slot *os = &ino->of;
	struct dfs_file_stats st;
	char name[4096];
	int r = of->err;

	assert(of->written_out && of->refs == 1);
	if (!r)
		r = r2;

	pthread_mutex_lock(&os->lock);
	pthread_mutex_lock(&os->slock);
	dfs_file_stats(of->file, &st);
	/* A session that only read leaves the one before as it was. */
	if (st.written || st.error || r) {
		os->last = st;
		os->last.error = r;
	}
	LIST_REMOVE(of, link);
	pthread_mutex_unlock(&os->slock);
	pthread_mutex_unlock(&os->lock);

	r2 = ofile_free(of);
	if (!r)
		r = r2;
	if (r) {
		fs_inode_name(fs, ino, name, sizeof(name));
		fs_log(fs, LOG_ERR,
		       "%s: writing out at release failed: %s; "
		       "the next close or fsync of the file reports it",
		       name, strerror(-r));
	}
	pthread_mutex_lock(&os->lock);
	if (r)
		keep_release_error(fs, os, r);
	update_busy(os);
	pthread_mutex_unlock(&os->lock);
	return r;
}

int ofile_finish(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of)
{
	assert(of->written_out && of->refs == 1);
	return finish_with(fs, ino, of, dfs_file_finish(of->file));
}

void ofile_finish_many(struct fs *fs, struct fs_inode **inos, struct fs_ofile **ofs,
		       size_t n)
{
	struct dfs_file *files[FS_FINISH_BATCH];
	int res[FS_FINISH_BATCH];

	assert(n <= FS_FINISH_BATCH);
	for (size_t i = 0; i < n; i++) {
		assert(ofs[i]->written_out && ofs[i]->refs == 1);
		files[i] = ofs[i]->file;
	}
	dfs_file_finish_many(files, n, res);
	for (size_t i = 0; i < n; i++)
		finish_with(fs, inos[i], ofs[i], res[i]);
}

/* Under os->lock, dropped in between: detach cur and finish it here. */
static int retire_locked(struct fs *fs, struct fs_inode *ino)
{
	struct fs_ofile *of = detach_locked(ino);
	int r;

	pthread_mutex_unlock(&ino->of.lock);
	r = ofile_finish(fs, ino, of);
	pthread_mutex_lock(&ino->of.lock);
	return r;
}

bool ofile_forget_error(struct fs *fs, struct fs_inode *ino)
{
	struct fs_ofile_slot *os = &ino->of;
	bool busy;

	pthread_mutex_lock(&os->lock);
	if (os->release_err) {
		atomic_fetch_sub(&fs->release_errors, 1);
		os->release_err = 0;
	}
	update_busy(os);
	busy = atomic_load(&os->busy);
	pthread_mutex_unlock(&os->lock);
	return busy;
}

int ofile_shut(struct fs *fs, struct fs_inode *ino)
{
	struct fs_ofile_slot *os = &ino->of;
	int r = 0;

	pthread_mutex_lock(&os->lock);
	if (os->cur) {
		os->opens = 0; /* the kernel is gone: no release will come */
		r = retire_locked(fs, ino);
	}
	update_busy(os);
	pthread_mutex_unlock(&os->lock);
	return r;
}

void ofile_free_handles(struct fs_inode *ino)
{
	struct fs_handle *h;

	while ((h = LIST_FIRST(&ino->of.handles))) {
		LIST_REMOVE(h, link);
		if (h->fd >= 0)
			close(h->fd);
		free(h);
	}
}

/* ---- opens and releases ---- */

int ofile_open(struct fs *fs, struct fs_inode *ino, struct fs_handle *h, bool trunc,
	       int created)
{
	struct fs_ofile_slot *os = &ino->of;
	int r = 0;

	pthread_mutex_lock(&os->lock);
	if (h->fd >= 0) {
		LIST_INSERT_HEAD(&os->handles, h, link);
		pthread_mutex_unlock(&os->lock);
		if (created >= 0)
			close(created);
		return 0;
	}
	/* Waiting drops the lock: whether there is an engine file is
	 * known only after it. */
	wait_written_out(os);
	if (!os->cur) {
		r = start(fs, ino, created);
		created = -1;
	}
	if (created >= 0)
		close(created); /* another open started the file meanwhile */
	if (!r && (h->writable || trunc))
		r = make_writable(fs, ino);
	if (!r && trunc)
		r = dfs_file_truncate(os->cur->file, 0);
	if (!r) {
		os->opens++;
		LIST_INSERT_HEAD(&os->handles, h, link);
		atomic_store(&h->deferred_err, os->release_err);
		if (os->release_err)
			atomic_fetch_sub(&fs->release_errors, 1);
		os->release_err = 0;
		if (h->writable)
			atomic_fetch_add(&os->writers, 1);
	} else if (!os->opens && os->cur) {
		retire_locked(fs, ino);
	}
	update_busy(os);
	pthread_mutex_unlock(&os->lock);
	return r;
}

struct fs_ofile *ofile_release(struct fs *fs, struct fs_inode *ino, struct fs_handle *h)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of = NULL;

	(void)fs;
	pthread_mutex_lock(&os->lock);
	LIST_REMOVE(h, link);
	if (h->fd < 0) {
		assert(os->opens > 0);
		if (!--os->opens)
			of = detach_locked(ino);
		if (h->writable)
			atomic_fetch_sub(&os->writers, 1);
	}
	update_busy(os);
	pthread_mutex_unlock(&os->lock);
	return of;
}

/* ---- calls without a handle ---- */

int ofile_truncate(struct fs *fs, struct fs_inode *ino, off_t size)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of = NULL;
	char path[64];
	int r = 0;

	pthread_mutex_lock(&os->lock);
	wait_written_out(os);
	if (os->cur) {
		r = make_writable(fs, ino);
		if (!r) {
			of = os->cur;
			of->refs++;
		}
	} else {
		/* Held across the ftruncate: no engine file may start on a
		 * size being changed. */
		int fd = fs_inode_fd(fs, ino);

		r = fd < 0 ? fd : 0;
		if (fd >= 0) {
			dfs_proc_path(path, sizeof(path), fd);
			r = truncate(path, size) ? -errno : 0;
			fs_inode_fd_put(fs, ino);
		}
	}
	pthread_mutex_unlock(&os->lock);
	if (of) {
		r = dfs_file_truncate(of->file, size);
		ofile_put(fs, ino, of);
	}
	return r;
}

int ofile_write_out(struct fs *fs, struct fs_inode *ino)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of;
	int r = 0;

	pthread_mutex_lock(&os->lock);
	wait_written_out(os);
	of = os->cur;
	if (of)
		of->refs++;
	pthread_mutex_unlock(&os->lock);
	if (of) {
		r = dfs_file_close_flush(of->file);
		ofile_put(fs, ino, of);
	}
	return r;
}

/* ---- what getattr and the progress attributes see ---- */

bool ofile_size(struct fs_inode *ino, off_t *size)
{
	struct fs_ofile_slot *os = &ino->of;
	struct fs_ofile *of;
	struct dfs_file *f = NULL;

	/* The current engine file knows best; else one detached and still
	 * writing out what it staged.  Once a detached file is written out
	 * the backing file holds everything, and changes made since (a
	 * truncate by path, another mount, SOURCE itself) are only there:
	 * its own size would be stale while it waits for its commit. */
	pthread_mutex_lock(&os->slock);
	if (os->cur) {
		f = os->cur->file;
	} else {
		LIST_FOREACH(of, &os->closing, link)
		if (!of->written_out) {
			f = of->file;
			break;
		}
	}
	if (f)
		*size = dfs_file_size(f);
	pthread_mutex_unlock(&os->slock);
	return f != NULL;
}

/* stat of the backing file itself. */
static int backing_stat(struct fs *fs, struct fs_inode *ino, struct stat *sb)
{
	int fd = fs_inode_fd(fs, ino), r;

	if (fd < 0)
		return fd;
	r = fstat(fd, sb) ? -errno : 0;
	fs_inode_fd_put(fs, ino);
	return r;
}

static bool is_live(const struct dfs_file_stats *st)
{
	return st->written || st->pending || st->error || st->state == DFS_STATE_SYNCING;
}

/*
 * A regular file's figures are those of its current session (first open
 * to last release) once that session has changed the file; until then,
 * and when the file is not open, those of the session before.  A file not
 * being written holds nothing of directfs's in memory, so once its last
 * release has synced it (or if it was never written through this mount)
 * durable is its size.
 */
bool ofile_in_flight(struct fs_inode *ino, const struct dfs_file_stats *st)
{
	return st->state == DFS_STATE_WRITING || st->state == DFS_STATE_SYNCING ||
	       atomic_load(&ino->of.writers);
}

void ofile_progress(struct fs *fs, struct fs_inode *ino, struct dfs_file_stats *st)
{
	struct fs_ofile_slot *os = &ino->of;
	struct stat sb;
	bool live = false, open = false;
	off_t size = 0;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&os->slock);
	if (os->cur) {
		dfs_file_stats(os->cur->file, st);
		live = is_live(st);
		open = true;
		size = st->size; /* the open file's logical size */
	}
	if (!live && !LIST_EMPTY(&os->closing)) {
		/* A release still writing out or syncing the last session:
		 * until its fsync is done, the file is on its way to durable. */
		dfs_file_stats(LIST_FIRST(&os->closing)->file, st);
		if (st->state == DFS_STATE_IDLE || st->state == DFS_STATE_FALLBACK)
			st->state = DFS_STATE_SYNCING;
		live = true;
	}
	if (!live) {
		*st = os->last;
		st->pending = 0;
	}
	pthread_mutex_unlock(&os->slock);
	if (!live) {
		if (!open && !backing_stat(fs, ino, &sb))
			size = sb.st_size;
		st->size = size;
		if (!st->error)
			st->durable = (uint64_t)size;
		st->state = st->error	   ? DFS_STATE_ERROR
			    : st->fallback ? DFS_STATE_FALLBACK
					   : DFS_STATE_IDLE;
	}
	/* Open for writing is "writing" until the last release is done, so
	 * a watcher knows the copy has not ended yet. */
	if ((st->state == DFS_STATE_IDLE || st->state == DFS_STATE_FALLBACK) &&
	    atomic_load(&os->writers))
		st->state = DFS_STATE_WRITING;
}
