/* SPDX-License-Identifier: MIT */
/*
 * lockops.c - the lock handlers (getlk, setlk, flock) and the end of locks at
 * close and release, forwarded to SOURCE as OFD locks and flocks on a
 * descriptor per lock owner.  Rules and invariants: lockops.h.
 *
 * POSIX locks go when their process closes any descriptor of the file
 * (the kernel sends that close as a flush with the process as owner), OFD
 * locks and flocks when their open file is released.  Data stays coherent
 * for SOURCE's other users the way NFS keeps it: what the file staged is
 * written out before a lock is let go or weakened, and after one is taken
 * the engine forgets the blocks it kept for reads if the backing file
 * changed meanwhile (dfs_file_lock_acquired).
 *
 * A blocking request that cannot be granted at once waits on a thread of
 * its own (lockwait.c), and ends with EINTR when the caller gets a
 * signal, as a local F_SETLKW does.
 *
 * Not here: deadlock detection (EDEADLK): OFD locks have none, so two
 * processes that each wait for the other's lock wait until one is
 * interrupted.  Special files: the kernel keeps their locks itself.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fs.h"

/* A range one owner holds, for F_GETLK's answer of who holds a lock. */
struct lock_seg {
	off_t start, end; /* inclusive; end INT64_MAX: to the end of the file */
	short type;	  /* F_RDLCK or F_WRLCK */
};

struct fs_lock_owner {
	uint64_t id;			/* the kernel's lock owner */
	int fd;				/* its own open file description */
	uint64_t via;			/* the open file that made it (fi->fh) */
	pid_t pid;			/* the process that locked last */
	unsigned refs;
	bool dead; /* out of the list; closed at the last reference */
	struct lock_seg *segs;
	size_t nsegs, cap;
	LIST_ENTRY(fs_lock_owner) link;
};

/* One request: a POSIX/OFD range or a flock. */
struct lock_want {
	bool is_flock;
	short type; /* F_RDLCK, F_WRLCK or F_UNLCK (flock: LOCK_SH, EX, UN) */
	off_t start, end;
	pid_t pid;
};

/* A blocking request, for its waiter (lockwait.h). */
struct lock_job {
	fuse_req_t req;
	struct fs_inode *ino;
	struct fs_lock_owner *o;
	struct lock_want want;
};

void fs_locks_init(struct fs_locks *l)
{
	pthread_mutex_init(&l->lock, NULL);
	LIST_INIT(&l->owners);
}

static void owner_free(struct fs_lock_owner *o)
{
	close(o->fd);
	free(o->segs);
	free(o);
}

void fs_locks_destroy(struct fs_locks *l)
{
	struct fs_lock_owner *o;

	while ((o = LIST_FIRST(&l->owners))) {
		LIST_REMOVE(o, link);
		assert(o->refs == 1); /* no waiter: each is done before its file is */
		owner_free(o);
	}
	pthread_mutex_destroy(&l->lock);
}

/* ---- owners ---- */

/* Under l->lock: the live owner id, or NULL. */
static struct fs_lock_owner *owner_find_locked(struct fs_locks *l, uint64_t id)
{
	struct fs_lock_owner *o;

	LIST_FOREACH(o, &l->owners, link)
	if (o->id == id) {
		assert(!o->dead && o->refs > 0);
		return o;
	}
	return NULL;
}

/* The owner id of ino, referenced; made (with a descriptor of its own)
 * when create is set and there is none.  NULL with *err set otherwise. */
static struct fs_lock_owner *owner_get(struct fs *fs, struct fs_inode *ino, uint64_t id,
				       uint64_t via, bool create, int *err)
{
	struct fs_locks *l = &ino->locks;
	struct fs_lock_owner *o, *raced;
	int pfd, fd;

	*err = 0;
	pthread_mutex_lock(&l->lock);
	o = owner_find_locked(l, id);
	if (o)
		o->refs++;
	pthread_mutex_unlock(&l->lock);
	if (o || !create)
		return o;

	pfd = fs_inode_fd(fs, ino);
	if (pfd < 0) {
		*err = pfd;
		return NULL;
	}
	/* Read-write where the daemon may: a write lock needs it, and so
	 * does a flock on NFS, which makes it a POSIX lock. */
	fd = dfs_reopen(pfd, O_RDWR);
	if (fd == -EACCES || fd == -EPERM || fd == -EROFS || fd == -ETXTBSY)
		fd = dfs_reopen(pfd, O_RDONLY);
	fs_inode_fd_put(fs, ino);
	if (fd < 0) {
		*err = fd;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);
		*err = -ENOMEM;
		return NULL;
	}
	o->id = id;
	o->fd = fd;
	o->via = via;
	o->refs = 2; /* the list's and the caller's */
	pthread_mutex_lock(&l->lock);
	raced = owner_find_locked(l, id);
	if (raced)
		raced->refs++;
	else
		LIST_INSERT_HEAD(&l->owners, o, link);
	pthread_mutex_unlock(&l->lock);
	if (raced) {
		owner_free(o);
		o = raced;
	}
	return o;
}

static void owner_put(struct fs_locks *l, struct fs_lock_owner *o)
{
	bool last;

	pthread_mutex_lock(&l->lock);
	assert(o->refs > 0);
	last = --o->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (last) {
		assert(o->dead);
		owner_free(o); /* closing it lets its locks go */
	}
}

/* Under l->lock: take o out of the list and drop the list's reference;
 * whether that was the last. */
static bool owner_unlink_locked(struct fs_lock_owner *o)
{
	assert(!o->dead && o->refs > 0);
	LIST_REMOVE(o, link);
	o->dead = true;
	return --o->refs == 0;
}

/* ---- the ranges an owner holds ---- */

static bool overlaps(const struct lock_seg *s, off_t start, off_t end)
{
	return s->start <= end && start <= s->end;
}

/* Under l->lock: o now holds type on [start, end] (F_UNLCK: nothing). */
static void segs_apply(struct fs_lock_owner *o, short type, off_t start, off_t end)
{
	size_t n = 0, need = o->nsegs + 2;
	struct lock_seg *out;

	if (need > o->cap) {
		out = realloc(o->segs, need * 2 * sizeof(*out));
		if (!out)
			return; /* only F_GETLK's pid is less exact */
		o->segs = out;
		o->cap = need * 2;
	}
	out = malloc(need * sizeof(*out));
	if (!out)
		return;
	for (size_t i = 0; i < o->nsegs; i++) {
		struct lock_seg s = o->segs[i];

		if (!overlaps(&s, start, end)) {
			out[n++] = s;
			continue;
		}
		if (s.start < start)
			out[n++] = (struct lock_seg){s.start, start - 1, s.type};
		if (s.end > end)
			out[n++] = (struct lock_seg){end + 1, s.end, s.type};
	}
	if (type != F_UNLCK)
		out[n++] = (struct lock_seg){start, end, type};
	assert(n <= need);
	memcpy(o->segs, out, n * sizeof(*out));
	o->nsegs = n;
	free(out);
}

/* The pid of an owner of ino other than self holding a lock that
 * conflicts with type on [start, end]; 0 if none is known. */
static pid_t holder_pid(struct fs_inode *ino, const struct fs_lock_owner *self, short type,
			off_t start, off_t end)
{
	struct fs_locks *l = &ino->locks;
	struct fs_lock_owner *o;
	pid_t pid = 0;

	pthread_mutex_lock(&l->lock);
	LIST_FOREACH(o, &l->owners, link)
	{
		if (o == self)
			continue;
		for (size_t i = 0; i < o->nsegs && !pid; i++)
			if (overlaps(&o->segs[i], start, end) &&
			    (o->segs[i].type == F_WRLCK || type == F_WRLCK))
				pid = o->pid;
		if (pid)
			break;
	}
	pthread_mutex_unlock(&l->lock);
	return pid;
}

/* ---- the calls on SOURCE ---- */

static int lock_call(int fd, const struct lock_want *w, bool wait)
{
	if (w->is_flock) {
		int op = w->type == F_WRLCK ? LOCK_EX : w->type == F_RDLCK ? LOCK_SH : LOCK_UN;

		return flock(fd, op | (wait ? 0 : LOCK_NB)) ? -errno : 0;
	}
	struct flock fl = {
		.l_type = w->type,
		.l_whence = SEEK_SET,
		.l_start = w->start,
		.l_len = w->end == INT64_MAX ? 0 : w->end - w->start + 1,
	};
	return fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) ? -errno : 0;
}

/* The engine side of a lock change: write out before one is let go or
 * weakened, look again at SOURCE after one is taken. */
static int engine_turn(struct fs_inode *ino, bool acquired)
{
	struct fs_sfile *sf = session_get(&ino->sess);
	int r = 0;

	if (sf) {
		r = acquired ? dfs_file_lock_acquired(session_file(sf))
			     : dfs_file_lock_release(session_file(sf));
		session_put(&ino->sess, sf);
	}
	return r;
}

/* A lock was granted to o: note it, and let the engine look again. */
static int granted(struct fs_inode *ino, struct fs_lock_owner *o, const struct lock_want *w)
{
	pthread_mutex_lock(&ino->locks.lock);
	o->pid = w->pid;
	if (!w->is_flock)
		segs_apply(o, w->type, w->start, w->end);
	pthread_mutex_unlock(&ino->locks.lock);
	return w->type == F_UNLCK ? 0 : engine_turn(ino, true);
}

/* ---- waiting ---- */

static int job_block(void *arg)
{
	struct lock_job *j = arg;

	return lock_call(j->o->fd, &j->want, true);
}

static void job_done(void *arg, int r)
{
	struct lock_job *j = arg;

	if (!r)
		r = granted(j->ino, j->o, &j->want);
	owner_put(&j->ino->locks, j->o);
	/* The last touch of the inode: until the reply the kernel holds the
	 * file the request came from, so the inode cannot be forgotten;
	 * after it, it can. */
	fuse_reply_err(j->req, -r);
	free(j);
}

/* Wait for want on o on a thread of its own, which replies; takes over
 * the caller's reference on o.  0, or -errno when nothing was started. */
static int wait_start(fuse_req_t req, struct fs *fs, struct fs_inode *ino,
		      struct fs_lock_owner *o, const struct lock_want *want)
{
	struct lock_job *j = malloc(sizeof(*j));
	int r;

	if (!j)
		return -ENOMEM;
	*j = (struct lock_job){.req = req, .ino = ino, .o = o, .want = *want};
	r = fs_wait_start(&fs->lock_waits, req, job_block, job_done, j);
	if (r)
		free(j);
	return r;
}

/* ---- the handlers ---- */

static void lock_request(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi,
			 const struct lock_want *w, bool sleep)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct fs_lock_owner *o;
	int r = 0;

	if (ino->type != S_IFREG) { /* the kernel keeps special files' locks */
		fuse_reply_err(req, ENOLCK);
		return;
	}
	/* Whoever holds the lock next may read SOURCE itself. */
	if (w->type != F_WRLCK)
		r = engine_turn(ino, false);
	if (r) {
		fs_reply_err(req, r, "lock", 0, NULL);
		return;
	}
	o = owner_get(fs, ino, fi->lock_owner, fi->fh, w->type != F_UNLCK, &r);
	if (!o) {
		fs_reply_err(req, r, "lock", 0, NULL); /* unlock of nothing: 0 */
		return;
	}
	r = lock_call(o->fd, w, false);
	if (r == -EAGAIN && sleep) {
		r = wait_start(req, fs, ino, o, w);
		if (!r)
			return; /* the waiter replies */
	} else if (!r) {
		r = granted(ino, o, w);
	}
	owner_put(&ino->locks, o);
	fuse_reply_err(req, -r); /* EAGAIN is the caller's answer, not a failure */
}

void fs_setlk(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi,
	      struct flock *lock, int sleep)
{
	FS_TRACE(req,
		 "setlk ino=%llu fh=%" PRIu64 " owner=%" PRIx64
		 " type=%d off=%lld size=%lld%s",
		 INO(nodeid), fi->fh, fi->lock_owner, lock->l_type, OFF(lock->l_start),
		 OFF(lock->l_len), sleep ? " wait" : "");
	struct lock_want w = {
		.type = lock->l_type,
		.start = lock->l_start,
		.end = lock->l_len ? lock->l_start + lock->l_len - 1 : INT64_MAX,
		.pid = lock->l_pid,
	};

	if (w.type != F_RDLCK && w.type != F_WRLCK && w.type != F_UNLCK) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	lock_request(req, nodeid, fi, &w, sleep);
}

void fs_flock(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi, int op)
{
	FS_TRACE(req, "flock ino=%llu fh=%" PRIu64 " owner=%" PRIx64 " op=0x%x",
		 INO(nodeid), fi->fh, fi->lock_owner, op);
	struct lock_want w = {.is_flock = true, .pid = fuse_req_ctx(req)->pid};

	switch (op & ~LOCK_NB) {
	case LOCK_SH: w.type = F_RDLCK; break;
	case LOCK_EX: w.type = F_WRLCK; break;
	case LOCK_UN: w.type = F_UNLCK; break;
	default: fuse_reply_err(req, EINVAL); return;
	}
	lock_request(req, nodeid, fi, &w, !(op & LOCK_NB));
}

void fs_getlk(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi,
	      struct flock *lock)
{
	FS_TRACE(req,
		 "getlk ino=%llu fh=%" PRIu64 " owner=%" PRIx64
		 " type=%d off=%lld size=%lld",
		 INO(nodeid), fi->fh, fi->lock_owner, lock->l_type, OFF(lock->l_start),
		 OFF(lock->l_len));
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct fs_lock_owner *o;
	struct flock fl = *lock;
	int fd, r = 0;
	off_t end = lock->l_len ? lock->l_start + lock->l_len - 1 : INT64_MAX;

	if (ino->type != S_IFREG) {
		fuse_reply_err(req, ENOLCK);
		return;
	}
	/* The owner's own descriptor, so that its own locks do not count;
	 * one without locks if it holds none. */
	o = owner_get(fs, ino, fi->lock_owner, fi->fh, false, &r);
	fd = o ? o->fd : -1;
	if (!o) {
		fd = fs_inode_reopen(fs, ino, O_RDONLY);
		r = fd < 0 ? fd : 0;
	}
	if (!r) {
		fl.l_whence = SEEK_SET;
		fl.l_pid = 0;
		r = fcntl(fd, F_OFD_GETLK, &fl) ? -errno : 0;
	}
	/* An OFD lock's holder has no pid; one of this mount's owners has. */
	if (!r && fl.l_type != F_UNLCK && fl.l_pid == -1)
		fl.l_pid = holder_pid(ino, o, lock->l_type, lock->l_start, end);
	if (o)
		owner_put(&ino->locks, o);
	else if (fd >= 0)
		close(fd);
	if (r)
		fs_reply_err(req, r, "getlk", nodeid, NULL);
	else
		fuse_reply_lock(req, &fl);
}

/* ---- the end of locks ---- */

void fs_locks_flush(struct fs_inode *ino, uint64_t owner)
{
	struct fs_locks *l = &ino->locks;
	struct fs_lock_owner *o;
	bool last = false;

	pthread_mutex_lock(&l->lock);
	o = owner_find_locked(l, owner);
	pthread_mutex_unlock(&l->lock);
	if (!o)
		return;
	engine_turn(ino, false); /* an error stays sticky in the file */
	pthread_mutex_lock(&l->lock);
	o = owner_find_locked(l, owner); /* may have gone meanwhile */
	if (o)
		last = owner_unlink_locked(o);
	pthread_mutex_unlock(&l->lock);
	if (last)
		owner_free(o);
}

void fs_locks_release(struct fs_inode *ino, uint64_t fh)
{
	struct fs_locks *l = &ino->locks;
	struct fs_lock_owner *o, *next, *gone = NULL;
	bool any = false;

	pthread_mutex_lock(&l->lock);
	LIST_FOREACH(o, &l->owners, link)
	any |= o->via == fh;
	pthread_mutex_unlock(&l->lock);
	if (!any)
		return;
	engine_turn(ino, false);
	pthread_mutex_lock(&l->lock);
	for (o = LIST_FIRST(&l->owners); o; o = next) {
		next = LIST_NEXT(o, link);
		if (o->via != fh)
			continue;
		if (owner_unlink_locked(o)) {
			/* Out of the list, link is free: chain the ones to
			 * close once the lock is dropped. */
			LIST_NEXT(o, link) = gone;
			gone = o;
		}
	}
	pthread_mutex_unlock(&l->lock);
	while (gone) {
		o = gone;
		gone = LIST_NEXT(o, link);
		owner_free(o);
	}
}
