/* SPDX-License-Identifier: MIT */
/*
 * fileops.c - the file handlers: open, create, read, write, copy_file_range,
 * flush, release, fsync, fallocate and lseek, translated into calls on the
 * inode's engine file, which the inode's session owns (session.h): a
 * handler takes a reference on it for each call (session_get ..
 * session_put) and never a lock.  The handles themselves are this file's
 * alone.
 *
 * Every file is opened with FUSE direct I/O: read(2) and write(2) bypass
 * the kernel's page cache for the mount, every byte written reaches
 * write_buf, and the engine stages it.  The mount's page cache is used
 * only where direct I/O cannot be: shared mappings (where the kernel and
 * libfuse allow them, optable.c) and splices between two mounts; those reads
 * come through paged_read, and mapped writes through write_buf too.
 *
 * Close policy (README, "Using it"): flush, that is close(2), waits until
 * everything this file has staged, tail included, is written, and returns
 * any error; release then fsyncs.  With close=sync, flush fsyncs too.  An
 * error at release cannot reach the application: session.c keeps it, the
 * log says it, and the next flush or fsync of the file returns it.
 *
 * Not here: locks (lockops.c), which flush and release end.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

/* ---- one aligned scratch buffer per FUSE worker thread ---- */

struct scratch {
	void *buf;
	size_t len;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	struct scratch *s = p;

	free(s->buf);
	free(s);
}

static void scratch_init(void)
{
	pthread_key_create(&scratch_key, scratch_free);
}

static void *scratch_get(size_t len)
{
	struct scratch *s;

	pthread_once(&scratch_once, scratch_init);
	s = pthread_getspecific(scratch_key);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s || pthread_setspecific(scratch_key, s)) {
			free(s);
			return NULL;
		}
	}
	if (s->len < len) {
		size_t want = (len + 65535) & ~(size_t)65535;
		void *b;

		if (posix_memalign(&b, 4096, want))
			return NULL;
		free(s->buf);
		s->buf = b;
		s->len = want;
	}
	return s->buf;
}

/* ---- handles ---- */

/*
 * One open of a file (fi->fh), owned by this file alone.  A regular file's
 * handles do their I/O through the inode's session (session.h), taking a
 * reference on its engine file for each call and never a lock; a FIFO,
 * socket or device has a descriptor of its own.  Every handle is on one
 * list, so that those the kernel never released are freed at exit.
 */
struct fs_handle {
	struct fs_inode *inode;
	LIST_ENTRY(fs_handle) link; /* all_handles, under handles_lock */
	int fd;			    /* FIFOs, sockets, devices: own descriptor; else -1 */
	bool writable;
	bool append;
	bool sync; /* O_SYNC / O_DSYNC: every write is synced */
	bool dsync;
	unsigned seen; /* its place in the session's error sequence (s->lock) */
};

static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, fs_handle) all_handles = LIST_HEAD_INITIALIZER(all_handles);

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* The engine file of a regular file's handle, referenced. */
static struct fs_sfile *handle_get(struct fs_handle *h)
{
	struct fs_sfile *sf = session_get(&h->inode->sess);

	assert(sf); /* an open handle keeps one */
	return sf;
}

static void handle_put(struct fs_handle *h, struct fs_sfile *sf)
{
	session_put(&h->inode->sess, sf);
}

/* Let go of one open: its OFD locks and flock, then the session's open. */
static void handle_drop(struct fs *fs, struct fs_handle *h)
{
	struct fs_inode *ino = h->inode;

	pthread_mutex_lock(&handles_lock);
	LIST_REMOVE(h, link);
	pthread_mutex_unlock(&handles_lock);
	if (h->fd >= 0) {
		close(h->fd);
	} else {
		fs_locks_release(ino, (uintptr_t)h);
		session_release(&fs->host, &ino->sess, h->writable);
	}
	free(h);
}

void fs_handles_free_all(void)
{
	struct fs_handle *h;

	pthread_mutex_lock(&handles_lock);
	while ((h = LIST_FIRST(&all_handles))) {
		LIST_REMOVE(h, link);
		if (h->fd >= 0)
			close(h->fd);
		free(h);
	}
	pthread_mutex_unlock(&handles_lock);
}

/*
 * Open ino (the kernel's nodeid) for the request and reply (e: it was just
 * created, and created is an O_RDWR descriptor of it, or -1; both taken
 * over; made: this create made the file, so it carries no tag).  Returns
 * 0 once the open is replied; -errno when nothing was opened and nothing
 * replied (the caller replies); 1 when the reply did not reach the caller
 * (interrupted), who then holds nothing open.
 */
static int open_reply(fuse_req_t req, struct fs *fs, fuse_ino_t nodeid, struct fs_inode *ino,
		      struct fuse_file_info *fi, const struct fuse_entry_param *e,
		      int created, bool made)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	int acc = fi->flags & O_ACCMODE, r;

	if (!h) {
		r = -ENOMEM;
		if (created >= 0)
			close(created);
		goto fail;
	}
	h->inode = ino;
	h->fd = -1;
	h->writable = acc != O_RDONLY;
	h->append = fi->flags & O_APPEND;
	h->sync = (fi->flags & O_SYNC) == O_SYNC;
	h->dsync = !h->sync && (fi->flags & O_DSYNC);
	if (ino->type != S_IFREG) {
		/* FIFOs, sockets and devices: the daemon's own descriptor,
		 * no staging. */
		h->fd = fs_inode_reopen(fs, ino, fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY |
								O_TRUNC | O_DIRECT));
		if (h->fd < 0) {
			r = h->fd;
			goto fail;
		}
		fi->nonseekable = ino->type != S_IFBLK;
	}
	/* The kernel leaves O_TRUNC to the open (atomic_o_trunc), privilege
	 * clearing included. */
	r = fi->flags & O_TRUNC && h->writable ? fs_kill_privs(req, fs, nodeid, ino) : 0;
	if (!r && h->fd < 0)
		r = session_open(&fs->host, &ino->sess, h->writable, fi->flags & O_TRUNC,
				 created, &h->seen);
	else if (created >= 0)
		close(created);
	if (r) {
		if (h->fd >= 0)
			close(h->fd);
		goto fail;
	}
	if (made && h->fd < 0)
		session_made(&ino->sess); /* its open holds the engine file */
	pthread_mutex_lock(&handles_lock);
	LIST_INSERT_HEAD(&all_handles, h, link);
	pthread_mutex_unlock(&handles_lock);

	fi->fh = (uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 15)
	fi->parallel_direct_writes = 1;
#endif
	if ((e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi)) == -ENOENT) {
		/* The caller was interrupted: no release will come. */
		handle_drop(fs, h);
		if (e)
			fs_inode_unref(fs, ino, 1);
		return 1;
	}
	return 0;
fail:
	free(h);
	if (e)
		fs_inode_unref(fs, ino, 1);
	return r;
}

void fs_open(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	FS_TRACE(req, "open ino=%llu flags=0%o", INO(nodeid), (unsigned)fi->flags);
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	int r = ino->type == S_IFDIR ? -EISDIR : open_reply(req, fs, nodeid, ino, fi, NULL, -1, false);

	if (r < 0)
		fs_reply_err(req, r, "open", nodeid, NULL);
}

/*
 * The backing side of a create, as the caller: open name in dfd, creating
 * it (*made says whether this call made it; a file that appeared
 * meanwhile is opened unless excl).  Read-write where possible so that the
 * engine can take the descriptor over (a new file may be opened so
 * whatever its mode); with the caller's own access mode acc where an
 * existing file refuses that, and then *acc becomes -1 (not a descriptor
 * the engine can take).  The descriptor, or -errno.
 */
static int create_backing(int dfd, const char *name, mode_t mode, bool excl, int *acc,
			  bool *made)
{
	const int base = O_NOFOLLOW | O_CLOEXEC;
	int fd = -1;

	/* Exclusive first, so that we know whether we made it: a create
	 * that fails later must take away only a file of its own. */
	for (int tries = 0; fd < 0 && tries < 3; tries++) {
		*made = true;
		fd = openat(dfd, name, base | O_CREAT | O_EXCL | O_RDWR, mode);
		if (fd >= 0 || errno != EEXIST || excl)
			break;
		*made = false;
		fd = openat(dfd, name, base | O_RDWR);
		if (fd < 0 && (errno == EACCES || errno == EROFS || errno == ETXTBSY) &&
		    *acc != O_RDWR) {
			fd = openat(dfd, name, base | *acc);
			if (fd >= 0)
				*acc = -1;
		}
		/* ENOENT: it went away again; create it after all. */
		if (fd < 0 && errno != ENOENT)
			break;
	}
	return fd < 0 ? -errno : fd;
}

/*
 * The O_PATH descriptor of a file just created (or opened) as fd, for its
 * inode, and its stat into *st: opened by name in the directory, if the
 * name still is that file (a rename may have put another there since),
 * else through /proc (twice the cost: a walk through procfs).  The
 * descriptor, or -errno.
 */
static int path_fd_of(int dfd, const char *name, int fd, struct stat *st)
{
	struct stat made;
	int pfd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	if (pfd >= 0 && !fstat(fd, &made) && !fstat(pfd, st) && st->st_dev == made.st_dev &&
	    st->st_ino == made.st_ino)
		return pfd;
	if (pfd >= 0)
		close(pfd);
	pfd = dfs_reopen(fd, O_PATH);
	if (pfd >= 0 && fstat(pfd, st)) {
		int r = -errno;

		close(pfd);
		return r;
	}
	return pfd;
}

/* A create failed after making name: take the file away again, if name
 * is still that file (dev, ino). */
static void uncreate(struct fs *fs, struct fs_inode *dir, const char *name, dev_t dev,
		     ino_t ino)
{
	int dfd = fs_inode_fd(fs, dir);
	struct stat st;

	if (dfd < 0)
		return;
	if (!fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) && st.st_dev == dev &&
	    st.st_ino == ino && unlinkat(dfd, name, 0))
		fs_log(fs, LOG_ERR, "a failed create left %s behind: unlink: %s", name,
		       strerror(errno));
	fs_inode_fd_put(fs, dir);
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	FS_TRACE(req, "create parent=%llu name=%s mode=0%o flags=0%o", INO(parent), name,
		 (unsigned)mode, (unsigned)fi->flags);
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = fs_inode_get(fs, parent);
	int acc = fi->flags & O_ACCMODE;
	struct fuse_entry_param e;
	struct stat st;
	bool as_caller, made = false;
	int dfd, fd, pfd, r;

	r = fs_name_ok(name);
	if (!r)
		r = fs_creds_enter(req, &as_caller);
	if (r) {
		fs_reply_err(req, r, "create", parent, name);
		return;
	}
	dfd = fs_inode_fd(fs, dir);
	pfd = fd = dfd;
	if (dfd >= 0) {
		fd = create_backing(dfd, name, mode, fi->flags & O_EXCL, &acc, &made);
		pfd = fd < 0 ? fd : path_fd_of(dfd, name, fd, &st);
		fs_inode_fd_put(fs, dir);
	}
	fs_creds_leave(fs, as_caller);
	if (fd < 0) {
		fs_reply_err(req, fd, "create", parent, name);
		return;
	}
	r = pfd < 0 ? pfd : fs_lookup_fd_stat(fs, pfd, &st, &e);
	if (r) {
		if (made && !fstat(fd, &st))
			uncreate(fs, dir, name, st.st_dev, st.st_ino);
		close(fd);
		fs_reply_err(req, r, "create", parent, name);
		return;
	}
	if (acc < 0) {
		close(fd);
		fd = -1;
	}
	st = e.attr;
	r = open_reply(req, fs, e.ino, fs_inode_get(fs, e.ino), fi, &e, fd, made);
	if (r && made)
		uncreate(fs, dir, name, st.st_dev, st.st_ino);
	if (r < 0)
		fs_reply_err(req, r, "create", parent, name);
}

void fs_release(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	FS_TRACE(req, "release ino=%llu fh=%" PRIu64 " flags=0%o", INO(nodeid), fi->fh,
		 (unsigned)fi->flags);
	handle_drop(fs_of(req), handle_of(fi));
	fuse_reply_err(req, 0);
}

/* ---- data ---- */

static ssize_t special_io(struct fs_handle *h, struct fuse_file_info *fi, void *buf,
			  size_t len, off_t off, bool is_write)
{
	ssize_t n;

	if (fi->nonseekable)
		n = is_write ? write(h->fd, buf, len) : read(h->fd, buf, len);
	else
		n = is_write ? pwrite(h->fd, buf, len, off) : pread(h->fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static void reply_read(void *req, const void *data, size_t n)
{
	fuse_reply_buf(req, data, n);
}

/* A read from the mount's own page cache (a mapping's fault or
 * read-ahead, and splice: copy_file_range between two mounts falls back
 * to it, so `cp` from one directfs mount into another reads this way).
 * The pages it fills stay until the session ends (table.c: host_let_go),
 * so a stream through a large file would fill the cache with all of it.
 * Behind a sequential stream of a file open only for reading (a
 * mapping's or a splice's), they are dropped as it goes, 8 MiB at a
 * time, keeping the last PAGED_KEEP bytes plus 16 requests: a page that
 * far back has no read of its own in flight (the kernel sends them in
 * order and the threads take them in order), so the kernel's
 * invalidation waits on no page lock that only a queued request would
 * release. */
#define PAGED_KEEP (16 << 20)

static void paged_read(struct fs *fs, fuse_ino_t nodeid, struct fs_inode *ino, off_t off,
		       size_t size)
{
	int64_t keep = PAGED_KEEP + 16 * (int64_t)fs->max_request;
	int64_t next = atomic_exchange(&ino->paged_next, off + (int64_t)size);
	int64_t from = atomic_load(&ino->paged_dropped);

	atomic_store(&ino->paged, true);
	if (off < from) { /* a new stream from further back */
		atomic_compare_exchange_strong(&ino->paged_dropped, &from, off);
		return;
	}
	if (next != off || off - from < keep + (8 << 20))
		return;
	/* A writer may have a shared mapping with dirty pages, which the
	 * invalidation would write back through this very daemon: only files
	 * nobody has open for writing. */
	if (session_has_writers(&ino->sess))
		return;
	if (!atomic_compare_exchange_strong(&ino->paged_dropped, &from, off - keep))
		return; /* another thread drops this stretch */
	if (!fuse_session_exited(fs->se))
		fuse_lowlevel_notify_inval_inode(fs->se, nodeid, from, off - keep - from);
}

void fs_read(fuse_req_t req, fuse_ino_t nodeid, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	FS_TRACE(req, "read ino=%llu fh=%" PRIu64 " off=%lld size=%zu", INO(nodeid),
		 fi->fh, OFF(off), size);
	struct fs_handle *h = handle_of(fi);
	/* The thread's receive buffer (a READ brings no payload), else a
	 * scratch buffer: no memory beyond memory_cap per thread. */
	char **tbuf = fs_loop_thread_buf();
	void *buf = tbuf && size <= dfs_engine_buf_size(fs_of(req)->eng) ? *tbuf
									 : scratch_get(size);
	struct fs_sfile *sf;
	ssize_t n;

	/* read(2) sends its lock owner; the page cache does not. */
	if (!fi->lock_owner)
		paged_read(fs_of(req), nodeid, fs_inode_get(fs_of(req), nodeid), off, size);
	if (!buf) {
		fs_reply_err(req, -ENOMEM, "read", nodeid, NULL);
		return;
	}
	if (h->fd >= 0) {
		n = special_io(h, fi, buf, size, off, false);
		if (n >= 0)
			fuse_reply_buf(req, buf, (size_t)n);
	} else {
		/* Read-ahead bytes go into the reply straight from the
		 * engine's buffer.  Once the reply is out, the reader may
		 * close and h be freed by its release: only the inode and
		 * the engine file (held by the reference) are used after. */
		struct fs_session *sess = &h->inode->sess;

		sf = session_get(sess);
		assert(sf); /* h is open until the reply is out */
		n = dfs_file_read_deliver(session_file(sf), buf, size, off, reply_read, req);
		session_put(sess, sf);
	}
	if (n < 0)
		fs_reply_err(req, (int)n, "read", nodeid, NULL);
}

/* The payload of a write request as one piece of memory. */
static ssize_t write_payload(struct fuse_bufvec *bufv, const char **data)
{
	size_t len = fuse_buf_size(bufv);
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(len);
	ssize_t n;

	if (bufv->count == 1 && bufv->idx == 0 &&
	    !(bufv->buf[0].flags & FUSE_BUF_IS_FD)) {
		*data = (const char *)bufv->buf[0].mem + bufv->off;
		return (ssize_t)len;
	}
	dst.buf[0].mem = scratch_get(len);
	if (!dst.buf[0].mem)
		return -ENOMEM;
	n = fuse_buf_copy(&dst, bufv, 0);
	*data = dst.buf[0].mem;
	return n;
}

void fs_write_buf(fuse_req_t req, fuse_ino_t nodeid, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi)
{
	FS_TRACE(req, "write ino=%llu fh=%" PRIu64 " off=%lld size=%zu", INO(nodeid),
		 fi->fh, OFF(off), fuse_buf_size(bufv));
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct fs_sfile *sf;
	const char *data;
	ssize_t n = write_payload(bufv, &data);
	int r;

	if (n < 0) {
		fs_reply_err(req, (int)n, "write", nodeid, NULL);
		return;
	}
	if (fi->writepage) /* a mapping's write-back */
		atomic_store(&fs_inode_get(fs, nodeid)->paged, true);
	if (h->fd >= 0) {
		n = special_io(h, fi, (void *)data, (size_t)n, off, true);
	} else if ((r = fs_kill_privs(req, fs, nodeid, h->inode))) {
		n = r;
	} else {
		sf = handle_get(h);
		char **swap = fs_loop_swap_buf(data);

		/* Bytes from a mapping: no order to sum them in. */
		if (fi->writepage)
			dfs_file_digest_give_up(session_file(sf));
		if (h->append)
			n = dfs_file_append(session_file(sf), data, (size_t)n, NULL);
		else if (swap) {
			const char *had = *swap;

			n = dfs_file_write_swap(session_file(sf), swap, (size_t)n, off);
			if (*swap != had)
				FS_TRACE(req, "write ino=%llu off=%lld: traded into the stage, "
					      "not copied", INO(nodeid), OFF(off));
		}
		else
			n = dfs_file_write(session_file(sf), data, (size_t)n, off);
		if (n >= 0 && (h->sync || h->dsync)) {
			r = dfs_file_sync(session_file(sf), h->dsync);
			if (r)
				n = r;
		}
		handle_put(h, sf);
	}
	if (n < 0)
		fs_reply_err(req, (int)n, "write", nodeid, NULL);
	else
		fuse_reply_write(req, (size_t)n);
}

/* At most this many windows per request: the kernel sends the whole
 * length in one request and the reply is a 32-bit count; cp asks again. */
#define COPY_WINDOWS 16

/* copy_file_range(2) between two files of the mount (the kernel sends it
 * only then; between two mounts it splices through their page caches,
 * see paged_read).  The bytes go disk to stage to disk inside the
 * daemon: no copy through the kernel, nothing in a page cache. */
void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len, int flags)
{
	FS_TRACE(req, "copy_file_range ino=%llu off=%lld to ino=%llu off=%lld size=%zu",
		 INO(ino_in), OFF(off_in), INO(ino_out), OFF(off_out), len);
	struct fs *fs = fs_of(req);
	struct fs_handle *in = handle_of(fi_in), *out = handle_of(fi_out);
	size_t most = COPY_WINDOWS * dfs_engine_buf_size(fs->eng);
	char **tbuf = fs_loop_thread_buf(), *own = NULL, **buf = tbuf ? tbuf : &own;
	struct fs_sfile *sin, *sout;
	ssize_t n;

	if (flags) {
		fs_reply_err(req, -EINVAL, "copy_file_range", ino_out, NULL);
		return;
	}
	/* Not a regular file of the engine's, or an appending handle: the
	 * kernel's own copy (read and write requests) does it right. */
	if (in->fd >= 0 || out->fd >= 0 || out->append || !out->writable) {
		fs_reply_err(req, -EOPNOTSUPP, "copy_file_range", ino_out, NULL);
		return;
	}
	if ((n = fs_kill_privs(req, fs, ino_out, out->inode))) {
		fs_reply_err(req, (int)n, "copy_file_range", ino_out, NULL);
		return;
	}
	if (!tbuf && !(own = dfs_engine_buf_alloc(fs->eng))) {
		fs_reply_err(req, -ENOMEM, "copy_file_range", ino_out, NULL);
		return;
	}
	sin = handle_get(in);
	sout = handle_get(out);
	n = dfs_file_copy(session_file(sin), off_in, session_file(sout), off_out,
			  len < most ? len : most, buf);
	if (n >= 0 && (out->sync || out->dsync)) {
		int r = dfs_file_sync(session_file(sout), out->dsync);
		if (r)
			n = r;
	}
	handle_put(out, sout);
	handle_put(in, sin);
	dfs_engine_buf_free(fs->eng, own);
	if (n < 0)
		fs_reply_err(req, (int)n, "copy_file_range", ino_out, NULL);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_flush(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	FS_TRACE(req, "flush ino=%llu fh=%" PRIu64, INO(nodeid), fi->fh);
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	int r = h->fd < 0 ? session_error(&fs->host, &h->inode->sess, &h->seen) : 0, r2 = 0;
	struct fs_sfile *sf;

	/* A reader's close does not push a writer's half-filled buffers. */
	if (h->fd < 0 && h->writable) {
		sf = handle_get(h);
		r2 = fs->o.close_policy == FS_CLOSE_SYNC ? dfs_file_sync(session_file(sf), 0)
							 : dfs_file_close_flush(session_file(sf));
		handle_put(h, sf);
	}
	/* A close(2) ends its process's POSIX locks on the file. */
	if (h->fd < 0)
		fs_locks_flush(h->inode, fi->lock_owner);
	fs_reply_err(req, (r ? r : r2), "flush", nodeid, NULL);
}

void fs_fsync(fuse_req_t req, fuse_ino_t nodeid, int datasync, struct fuse_file_info *fi)
{
	FS_TRACE(req, "fsync ino=%llu fh=%" PRIu64 " datasync=%d", INO(nodeid), fi->fh,
		 datasync);
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	int r = h->fd < 0 ? session_error(&fs->host, &h->inode->sess, &h->seen) : 0, r2;
	struct fs_sfile *sf;

	if (h->fd >= 0) {
		r2 = (datasync ? fdatasync(h->fd) : fsync(h->fd)) ? -errno : 0;
	} else {
		sf = handle_get(h);
		r2 = dfs_file_sync(session_file(sf), datasync);
		handle_put(h, sf);
	}
	fs_reply_err(req, (r ? r : r2), "fsync", nodeid, NULL);
}

void fs_fallocate(fuse_req_t req, fuse_ino_t nodeid, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi)
{
	FS_TRACE(req, "fallocate ino=%llu fh=%" PRIu64 " mode=0x%x off=%lld size=%lld",
		 INO(nodeid), fi->fh, (unsigned)mode, OFF(offset), OFF(length));
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	struct fs_sfile *sf;
	int r;

	if (h->fd >= 0) {
		r = fallocate(h->fd, mode, offset, length) ? -errno : 0;
	} else if (!h->writable) {
		r = -EBADF;
	} else if (!(r = fs_kill_privs(req, fs, nodeid, h->inode))) {
		sf = handle_get(h);
		r = dfs_file_fallocate(session_file(sf), mode, offset, length);
		handle_put(h, sf);
	}
	fs_reply_err(req, r, "fallocate", nodeid, NULL);
}

void fs_lseek(fuse_req_t req, fuse_ino_t nodeid, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	FS_TRACE(req, "lseek ino=%llu fh=%" PRIu64 " off=%lld whence=%d", INO(nodeid),
		 fi->fh, OFF(off), whence);
	struct fs_handle *h = handle_of(fi);
	struct fs_sfile *sf;
	off_t at;

	if (h->fd >= 0) {
		at = lseek(h->fd, off, whence);
		if (at < 0)
			at = -errno;
	} else if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		at = -EINVAL; /* the kernel answers the others itself */
	} else {
		sf = handle_get(h);
		at = dfs_file_seek_data(session_file(sf), off, whence);
		handle_put(h, sf);
	}
	if (at < 0)
		fs_reply_err(req, (int)at, "lseek", nodeid, NULL);
	else
		fuse_reply_lseek(req, at);
}
