/* SPDX-License-Identifier: MIT */
/*
 * session.c - the open-file state of one inode, from the first open to the
 * fsync after the last release: the state machine of session.h, the
 * references calls take on the engine file, the figures the progress
 * attributes and the record of forgotten files read, and how a batch of
 * released sessions is made durable: FS_FINISH_BATCH files at a time with
 * one syncfs per filesystem, one journal commit and one cache flush for
 * the batch.  The queue and the thread that gather the batches are
 * commit.c's.
 *
 * No FUSE here: the backing file, the log and the inode's pin are the
 * host's (struct fs_host_ops).  Locking rules and states: session.h.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "session.h"

/* One engine file: the life of one session. */
struct fs_sfile {
	struct dfs_file *file;
	struct fs_session *s;
	int accmode;		    /* O_RDONLY or O_RDWR, as the backing file was opened */
	unsigned refs;		    /* under s->lock: cur's or closing's one, and one per call */
	int err;		    /* of the write-out at release */
	bool no_tag;		    /* under s->lock: a change began after it */
	uint64_t removals;	    /* host->removals when it began */
	LIST_ENTRY(fs_sfile) link;  /* s->committing */
	struct fs_commit_item item; /* in the committer's queue */
};

void session_host_init(struct fs_host *host, struct dfs_engine *eng,
		       const struct fs_host_ops *ops, void *arg)
{
	memset(host, 0, sizeof(*host));
	host->eng = eng;
	host->ops = ops;
	host->arg = arg;
}

void session_init(struct fs_session *s, void *owner)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cv, NULL);
	LIST_INIT(&s->committing);
	s->owner = owner;
}

void session_destroy(struct fs_session *s)
{
	assert(s->state == FS_IDLE && !s->cur && LIST_EMPTY(&s->committing));
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->lock);
}

/* Under s->lock: check the invariants and keep the table's view current. */
static void update_busy(struct fs_session *s)
{
	assert(s->state != FS_OPEN || (s->cur && s->opens));
	assert((s->state == FS_CLOSING) == (s->closing != NULL));
	assert(s->state == FS_STARTING || !s->cur == !s->opens);
	atomic_store(&s->busy, s->state != FS_IDLE || s->cur || !LIST_EMPTY(&s->committing) ||
				       (s->err && !s->err_seen));
}

/* Under s->lock: wait until no other call is changing the state
 * (STARTING, CLOSING); drops the lock while it waits. */
static void wait_settled(struct fs_session *s)
{
	while (s->state == FS_STARTING || s->state == FS_CLOSING)
		pthread_cond_wait(&s->cv, &s->lock);
}

/*
 * Under s->lock, before a change of the file may begin (a writer's open,
 * a truncate): no session still committing may tag the file from now on,
 * and a tag being kept is finished first, so that the change's engine
 * file finds it and removes it.  Returns settled, as wait_settled.
 */
static void stop_tagging(struct fs_session *s)
{
	struct fs_sfile *sf;

	LIST_FOREACH(sf, &s->committing, link)
		sf->no_tag = true;
	for (;;) {
		wait_settled(s);
		if (!s->tagging)
			return;
		pthread_cond_wait(&s->cv, &s->lock);
	}
}

/* Under s->lock, state settled: take STARTING for I/O without the lock. */
static void begin_io(struct fs_session *s)
{
	assert(s->state == FS_IDLE || s->state == FS_OPEN);
	s->state = FS_STARTING;
}

/* Under s->lock: the I/O of begin_io is over. */
static void end_io(struct fs_session *s)
{
	assert(s->state == FS_STARTING);
	s->state = s->cur && s->opens ? FS_OPEN : FS_IDLE;
	pthread_cond_broadcast(&s->cv);
}

/* ---- engine files ---- */

/* Open the backing file with access mode acc (or take over created, a
 * descriptor of the file just created, read-write) and an engine file on
 * it.  Without s->lock. */
static int sfile_new(struct fs_host *host, struct fs_session *s, int acc, int created,
		     struct fs_sfile **out)
{
	struct fs_sfile *sf = calloc(1, sizeof(*sf));
	int fd = created, r;

	if (!sf) {
		if (created >= 0)
			close(created);
		return -ENOMEM;
	}
	if (fd < 0)
		fd = host->ops->open(host->arg, s->owner, acc);
	if (fd < 0) {
		free(sf);
		return fd;
	}
	r = dfs_file_adopt(host->eng, fd, &sf->file); /* takes fd, also on error */
	if (r) {
		free(sf);
		return r;
	}
	sf->s = s;
	sf->accmode = acc;
	sf->refs = 1; /* cur's */
	sf->removals = atomic_load(&host->removals);
	*out = sf;
	return 0;
}

static int sfile_free(struct fs_sfile *sf)
{
	int r = dfs_file_close(sf->file);

	free(sf);
	return r;
}

/* Without s->lock: a first engine file, read-write where the daemon may
 * open it so (a later writer then finds it writable), else read-only (a
 * writer gets the reason again). */
static int sfile_start(struct fs_host *host, struct fs_session *s, int created,
		       struct fs_sfile **out)
{
	int r = sfile_new(host, s, O_RDWR, created, out);

	if (r == -EACCES || r == -EPERM || r == -EROFS || r == -ETXTBSY)
		r = sfile_new(host, s, O_RDONLY, -1, out);
	return r;
}

/*
 * Under s->lock, in STARTING with the lock dropped in between: make sure
 * there is an engine file, and a writable one if writable.  A read-only
 * one (which never holds anything staged) is replaced, and closed by
 * whoever drops its last reference.
 */
static int sfile_ready(struct fs_host *host, struct fs_session *s, bool writable, int created)
{
	struct fs_sfile *sf, *old = NULL;
	int r = 0;

	assert(s->state == FS_STARTING);
	if (!s->cur) {
		pthread_mutex_unlock(&s->lock);
		r = sfile_start(host, s, created, &sf);
		pthread_mutex_lock(&s->lock);
		if (r)
			return r;
		s->cur = sf;
	} else if (created >= 0) {
		close(created);
	}
	if (!writable || s->cur->accmode == O_RDWR)
		return 0;
	pthread_mutex_unlock(&s->lock);
	r = sfile_new(host, s, O_RDWR, -1, &sf);
	pthread_mutex_lock(&s->lock);
	if (r)
		return r;
	old = s->cur;
	s->cur = sf;
	assert(old->refs > 0);
	if (--old->refs == 0) {
		pthread_mutex_unlock(&s->lock);
		sfile_free(old); /* read-only: nothing to write, nothing fails */
		pthread_mutex_lock(&s->lock);
	}
	return 0;
}

/* ---- references ---- */

struct fs_sfile *session_get(struct fs_session *s)
{
	struct fs_sfile *sf;

	pthread_mutex_lock(&s->lock);
	sf = s->cur;
	if (sf)
		sf->refs++;
	pthread_mutex_unlock(&s->lock);
	return sf;
}

struct dfs_file *session_file(const struct fs_sfile *sf)
{
	return sf->file;
}

void session_put(struct fs_session *s, struct fs_sfile *sf)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	assert(sf->refs > 0);
	last = --sf->refs == 0;
	if (sf->refs == 1 && sf == s->closing)
		pthread_cond_broadcast(&s->cv); /* the release waits for this */
	pthread_mutex_unlock(&s->lock);
	if (last)
		sfile_free(sf); /* a read-only file replaced meanwhile */
}

/* ---- the end of a session ---- */

/*
 * Under s->lock, OPEN (or STARTING on a failed first open) with no open
 * left; returns with the lock held, having dropped it.  Detach cur, wait
 * for the calls still running on it, write it out.  It is then on the
 * committing list, IDLE, and comes back for session_finish.
 */
static struct fs_sfile *detach_locked(struct fs_session *s)
{
	struct fs_sfile *sf = s->cur;

	assert(sf && !s->opens);
	s->cur = NULL;
	s->closing = sf;
	s->state = FS_CLOSING;
	while (sf->refs > 1)
		pthread_cond_wait(&s->cv, &s->lock);
	pthread_mutex_unlock(&s->lock);

	/* Nobody else can reach sf now: its I/O needs no lock. */
	sf->err = dfs_file_flush(sf->file);

	pthread_mutex_lock(&s->lock);
	s->closing = NULL;
	s->state = FS_IDLE;
	LIST_INSERT_HEAD(&s->committing, sf, link);
	pthread_cond_broadcast(&s->cv);
	return sf;
}

/* Under s->lock: a failed release's error, for the next flush or fsync of
 * each handle open now or opened before anyone has returned it. */
static void keep_error(struct fs_host *host, struct fs_session *s, int err)
{
	if (!s->err || s->err_seen)
		atomic_fetch_add(&host->error_files, 1);
	s->err = err;
	s->err_seq++;
	s->err_seen = false;
}

void session_tagging_begin(struct fs_session *s)
{
	pthread_mutex_lock(&s->lock);
	while (s->tagging)
		pthread_cond_wait(&s->cv, &s->lock);
	s->tagging = true;
	pthread_mutex_unlock(&s->lock);
}

void session_tagging_end(struct fs_session *s)
{
	pthread_mutex_lock(&s->lock);
	assert(s->tagging);
	s->tagging = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->lock);
}

/* A durable session that summed its file: keep the tag, unless a change
 * began since (stop_tagging).  One tag at a time per file, none during a
 * change of its times. */
static void tag(struct fs_host *host, struct fs_sfile *sf)
{
	struct fs_session *s = sf->s;
	int r = -ENODATA;

	session_tagging_begin(s);
	pthread_mutex_lock(&s->lock);
	bool go = !sf->no_tag; /* no change has begun: stop_tagging waits for us now */
	pthread_mutex_unlock(&s->lock);
	if (go)
		r = dfs_file_tag(sf->file);
	if (r && r != -ENODATA)
		host->ops->untagged(host->arg, s->owner, r);
	session_tagging_end(s);
}

/* The rest of a finish whose sync returned r: record the session's
 * figures, keep its tag, close it, keep a failure. */
static int finish_with(struct fs_host *host, struct fs_sfile *sf, int r)
{
	struct fs_session *s = sf->s;
	struct dfs_file_stats st;
	int r2;

	assert(sf->refs == 1);
	if (sf->err)
		r = sf->err;
	if (!r)
		tag(host, sf);
	dfs_file_stats(sf->file, &st);
	pthread_mutex_lock(&s->lock);
	/* A session that only read leaves the one before as it was. */
	if (st.written || st.error || r) {
		s->last = st;
		s->last.error = r;
	}
	LIST_REMOVE(sf, link);
	pthread_mutex_unlock(&s->lock);

	r2 = sfile_free(sf);
	if (!r)
		r = r2;
	if (r)
		atomic_fetch_add(&host->files_failed, 1);
	else if (st.written)
		atomic_fetch_add(&host->files_done, 1);
	if (r)
		host->ops->failed(host->arg, s->owner, r);
	pthread_mutex_lock(&s->lock);
	if (r)
		keep_error(host, s, r);
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void finish_many(struct fs_host *host, struct fs_sfile **sfs, size_t n)
{
	struct dfs_file *files[FS_FINISH_BATCH];
	int res[FS_FINISH_BATCH];

	assert(n <= FS_FINISH_BATCH);
	for (size_t i = 0; i < n; i++)
		files[i] = sfs[i]->file;
	dfs_file_finish_many(files, n, res);
	for (size_t i = 0; i < n; i++)
		finish_with(host, sfs[i], res[i]);
}

/* Under s->lock, dropped in between: detach cur and make it durable here. */
static int retire_locked(struct fs_host *host, struct fs_session *s)
{
	struct fs_sfile *sf = detach_locked(s);
	int r;

	pthread_mutex_unlock(&s->lock);
	r = finish_with(host, sf, dfs_file_finish(sf->file));
	pthread_mutex_lock(&s->lock);
	return r;
}

/* ---- the committer's batches ---- */

void session_names_removed(struct fs_host *host)
{
	atomic_fetch_add(&host->removals, 1);
}

/* Has a session waiting for its commit lost every name?  Asked only if
 * a name was removed through the mount since the session began. */
static bool gone(struct fs_host *host, struct fs_sfile *sf)
{
	struct stat st;
	int r;

	if (atomic_load(&host->removals) == sf->removals || sf->err)
		return false;
	r = host->ops->stat(host->arg, sf->s->owner, &st);
	return r == -ENOENT || (!r && st.st_nlink == 0);
}

/* A session whose file has no name left: closed without its sync, the
 * figures it had kept (durable short of written: it never got there). */
static void finish_gone(struct fs_sfile *sf)
{
	struct fs_session *s = sf->s;
	struct dfs_file_stats st;

	assert(sf->refs == 1);
	dfs_file_stats(sf->file, &st);
	pthread_mutex_lock(&s->lock);
	if (st.written)
		s->last = st;
	LIST_REMOVE(sf, link);
	pthread_mutex_unlock(&s->lock);
	dfs_file_close_unsynced(sf->file); /* nobody left to see an error */
	free(sf);
	pthread_mutex_lock(&s->lock);
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
}

/* fs_commit_fn: make a batch durable, FS_FINISH_BATCH sessions at a time. */
static void commit_batch(void *arg, struct fs_commit_item *batch)
{
	struct fs_host *host = arg;
	struct fs_sfile *sfs[FS_FINISH_BATCH];
	void *owners[FS_FINISH_BATCH];
	size_t n, live;

	while (batch) {
		for (n = live = 0; batch && n < FS_FINISH_BATCH; n++) {
			struct fs_sfile *sf = (struct fs_sfile *)((char *)batch -
								  offsetof(struct fs_sfile, item));
			owners[n] = sf->s->owner;
			batch = batch->next;
			if (gone(host, sf))
				finish_gone(sf);
			else
				sfs[live++] = sf;
		}
		if (live)
			finish_many(host, sfs, live);
		host->ops->lend(host->arg, -(int)n);
		/* Last: letting go may free the inode and its session. */
		for (size_t i = 0; i < n; i++)
			host->ops->let_go(host->arg, owners[i]);
		fs_commit_done(&host->commit, (unsigned)n);
	}
}

int session_commit_start(struct fs_host *host, unsigned max)
{
	return fs_commit_start(&host->commit, max, FS_FINISH_BATCH, commit_batch, host);
}

void session_commit_stop(struct fs_host *host)
{
	fs_commit_stop(&host->commit);
}

/* Hand a written-out session to the committer, holding its inode until it
 * is durable; false when there is no committer. */
static bool commit(struct fs_host *host, struct fs_sfile *sf)
{
	if (!host->commit.running)
		return false;
	host->ops->hold(host->arg, sf->s->owner);
	host->ops->lend(host->arg, 1); /* before the committer can give it back */
	return fs_commit_add(&host->commit, &sf->item); /* true: it runs */
}

/* ---- opens and releases ---- */

int session_open(struct fs_host *host, struct fs_session *s, bool writable, bool trunc,
		 int created, unsigned *seen)
{
	struct fs_sfile *sf;
	int r;

	pthread_mutex_lock(&s->lock);
	if (writable || trunc)
		stop_tagging(s);
	else
		wait_settled(s);
	begin_io(s);
	r = sfile_ready(host, s, writable || trunc, created);
	if (!r && trunc) {
		sf = s->cur;
		sf->refs++;
		pthread_mutex_unlock(&s->lock);
		r = dfs_file_truncate(sf->file, 0);
		pthread_mutex_lock(&s->lock);
		sf->refs--; /* cur still holds its own */
	}
	if (!r) {
		s->opens++;
		s->writers += writable;
		*seen = s->err && !s->err_seen ? s->err_seq - 1 : s->err_seq;
	}
	if (r && !s->opens && s->cur)
		retire_locked(host, s); /* a failed first open: detach, write out, fsync */
	else
		end_io(s);
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void session_release(struct fs_host *host, struct fs_session *s, bool writable)
{
	struct fs_sfile *sf = NULL;

	pthread_mutex_lock(&s->lock);
	while (s->state == FS_STARTING) /* an open making the file writable */
		pthread_cond_wait(&s->cv, &s->lock);
	assert(s->state == FS_OPEN && s->opens > 0);
	assert(!writable || s->writers > 0);
	s->writers -= writable;
	if (!--s->opens)
		sf = detach_locked(s);
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
	if (!sf)
		return;
	/* A session that changed nothing has nothing to make durable: it
	 * ends here, and its figures never show as syncing; unless pages
	 * of a mapping wait for the committer to drop them. */
	bool to_commit = sf->err || dfs_file_finish_pending(sf->file) ||
			 host->ops->paged(host->arg, s->owner);
	if (!to_commit || !commit(host, sf))
		finish_with(host, sf, dfs_file_finish(sf->file));
}

int session_error(struct fs_host *host, struct fs_session *s, unsigned *seen)
{
	int r = 0;

	pthread_mutex_lock(&s->lock);
	if (*seen != s->err_seq) {
		r = s->err;
		*seen = s->err_seq;
		if (!s->err_seen) {
			s->err_seen = true;
			atomic_fetch_sub(&host->error_files, 1);
		}
		update_busy(s);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* ---- calls without a handle ---- */

int session_truncate(struct fs_host *host, struct fs_session *s, off_t size)
{
	struct fs_sfile *sf = NULL;
	int r;

	pthread_mutex_lock(&s->lock);
	stop_tagging(s);
	begin_io(s);
	if (s->cur) {
		r = sfile_ready(host, s, true, -1);
		if (!r) {
			sf = s->cur;
			sf->refs++;
		}
	} else {
		/* No engine file may start on a size being changed: opens
		 * wait while this is STARTING. */
		pthread_mutex_unlock(&s->lock);
		r = host->ops->truncate(host->arg, s->owner, size);
		pthread_mutex_lock(&s->lock);
	}
	end_io(s);
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
	if (sf) {
		r = dfs_file_truncate(sf->file, size);
		session_put(s, sf);
	}
	return r;
}

int session_write_out(struct fs_session *s)
{
	struct fs_sfile *sf;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	wait_settled(s);
	sf = s->cur;
	if (sf)
		sf->refs++;
	pthread_mutex_unlock(&s->lock);
	if (sf) {
		r = dfs_file_close_flush(sf->file);
		session_put(s, sf);
	}
	return r;
}

int session_shut(struct fs_host *host, struct fs_session *s)
{
	int r = 0;

	pthread_mutex_lock(&s->lock);
	assert(s->state == FS_IDLE || s->state == FS_OPEN);
	if (s->cur) {
		s->opens = 0; /* the kernel is gone: no release will come */
		s->writers = 0;
		r = retire_locked(host, s);
	}
	update_busy(s);
	pthread_mutex_unlock(&s->lock);
	return r;
}

void session_made(struct fs_session *s)
{
	pthread_mutex_lock(&s->lock);
	assert(s->cur);
	dfs_file_made(s->cur->file);
	pthread_mutex_unlock(&s->lock);
}

bool session_forget_error(struct fs_host *host, struct fs_session *s)
{
	bool busy;

	pthread_mutex_lock(&s->lock);
	if (s->err && !s->err_seen) {
		s->err_seen = true;
		atomic_fetch_sub(&host->error_files, 1);
	}
	update_busy(s);
	busy = atomic_load(&s->busy);
	pthread_mutex_unlock(&s->lock);
	return busy;
}

/* ---- figures ---- */

bool session_has_writers(struct fs_session *s)
{
	pthread_mutex_lock(&s->lock);
	bool w = s->writers > 0;
	pthread_mutex_unlock(&s->lock);
	return w;
}

bool session_size(struct fs_session *s, off_t *size)
{
	struct fs_sfile *sf;

	/* The current engine file knows best; else one detached and still
	 * writing out what it staged.  Once a session is written out the
	 * backing file holds everything, and changes made since (a truncate
	 * by path, another mount, SOURCE itself) are only there: its own
	 * size would be stale while it waits for its commit. */
	pthread_mutex_lock(&s->lock);
	sf = s->cur ? s->cur : s->closing;
	if (sf)
		*size = dfs_file_size(sf->file);
	pthread_mutex_unlock(&s->lock);
	return sf != NULL;
}

static bool is_live(const struct dfs_file_stats *st)
{
	return st->written || st->pending || st->error || st->state == DFS_STATE_SYNCING;
}

/*
 * A regular file's figures are those of its current session once that
 * session has changed the file; until then, and when the file is not
 * open, those of the session before.  A file not being written holds
 * nothing of directfs's in memory, so once its last release has synced it
 * (or if it was never written through this mount) durable is its size.
 */
void session_figures(struct fs_host *host, struct fs_session *s, struct dfs_file_stats *st)
{
	struct fs_sfile *sf;
	struct stat sb;
	bool live = false, open = false;
	unsigned writers;
	off_t size = 0;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&s->lock);
	if (s->cur) {
		dfs_file_stats(s->cur->file, st);
		live = is_live(st);
		open = true;
		size = st->size; /* the open file's logical size */
	}
	sf = s->closing ? s->closing : LIST_FIRST(&s->committing);
	if (!live && sf) {
		/* A release still writing out or syncing the last session:
		 * until its fsync is done, the file is on its way to durable. */
		dfs_file_stats(sf->file, st);
		if (st->state == DFS_STATE_IDLE || st->state == DFS_STATE_FALLBACK)
			st->state = DFS_STATE_SYNCING;
		live = true;
	}
	if (!live) {
		*st = s->last;
		st->pending = 0;
	}
	writers = s->writers;
	pthread_mutex_unlock(&s->lock);
	if (!live) {
		if (!open && !host->ops->stat(host->arg, s->owner, &sb))
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
	if ((st->state == DFS_STATE_IDLE || st->state == DFS_STATE_FALLBACK) && writers)
		st->state = DFS_STATE_WRITING;
}

bool session_in_flight(struct fs_session *s, const struct dfs_file_stats *st)
{
	unsigned writers;

	pthread_mutex_lock(&s->lock);
	writers = s->writers;
	pthread_mutex_unlock(&s->lock);
	return st->state == DFS_STATE_WRITING || st->state == DFS_STATE_SYNCING || writers;
}

bool session_last(struct fs_session *s, struct dfs_file_stats *st)
{
	pthread_mutex_lock(&s->lock);
	*st = s->last;
	pthread_mutex_unlock(&s->lock);
	return st->written && !st->error;
}

void session_restore(struct fs_session *s, const struct dfs_file_stats *st)
{
	pthread_mutex_lock(&s->lock);
	assert(s->state == FS_IDLE && !s->cur && LIST_EMPTY(&s->committing));
	s->last = *st;
	pthread_mutex_unlock(&s->lock);
}
