/* SPDX-License-Identifier: MIT */
/*
 * file.c - open, create, read, write, flush, release, fsync, fallocate and
 * lseek, translated into calls on the inode's engine file.
 *
 * Every file is opened with FUSE direct I/O, so the kernel keeps no page
 * cache for the mount; every byte written reaches write_buf, and the engine
 * stages it.  The engine file is created by the first open of an inode
 * (backing file opened O_RDWR whenever the daemon may, so a later writer
 * finds it writable) and closed by the last release.
 *
 * Close policy (SPEC 3): flush, that is close(2), waits until everything
 * this file has staged, tail included, is written, and returns any error;
 * release then fsyncs.  With close=sync, flush fsyncs too.  An error at
 * release cannot reach the application: it is logged, kept on the inode and
 * returned by the first flush or fsync of the next open.
 *
 * Not here: copy_file_range (left unimplemented, so the kernel and tools
 * fall back to read and write, which go through the stage) and locks (the
 * kernel's own local locking serves everyone on this mount; see README).
 */
#define _GNU_SOURCE
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

/* ---- the inode's engine file ---- */

struct dfs_file *fs_file_get(struct fs_inode *ino)
{
	pthread_rwlock_rdlock(&ino->io);
	return ino->file;
}

void fs_file_put(struct fs_inode *ino)
{
	pthread_rwlock_unlock(&ino->io);
}

static int open_backing(struct fs_inode *ino, int accmode)
{
	char path[64];
	int fd;

	fs_proc_path(path, sizeof(path), ino->fd);
	fd = open(path, accmode | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Open the backing file with access mode acc, start an engine file on it
 * and install it; what it replaces comes back in *old and *oldfd.  ino->lock
 * held. */
static int file_install(struct fs *fs, struct fs_inode *ino, int acc,
			struct dfs_file **old, int *oldfd)
{
	struct dfs_file *f;
	int fd = open_backing(ino, acc), r;

	if (fd < 0)
		return fd;
	r = dfs_file_open(fs->eng, fd, &f);
	if (r) {
		close(fd);
		return r;
	}
	pthread_rwlock_wrlock(&ino->io);
	*old = ino->file;
	*oldfd = ino->bfd;
	ino->file = f;
	ino->bfd = fd;
	ino->accmode = acc;
	fs_progress_attach(ino, f);
	pthread_rwlock_unlock(&ino->io);
	return 0;
}

/* ino->lock held, no file yet. */
static int file_start(struct fs *fs, struct fs_inode *ino)
{
	struct dfs_file *none;
	int nofd, r = file_install(fs, ino, O_RDWR, &none, &nofd);

	/* Read-only for now; a later writer gets the reason again. */
	if (r == -EACCES || r == -EPERM || r == -EROFS || r == -ETXTBSY)
		r = file_install(fs, ino, O_RDONLY, &none, &nofd);
	return r;
}

int fs_file_make_writable(struct fs *fs, struct fs_inode *ino)
{
	struct dfs_file *old;
	int oldfd, r;

	if (ino->accmode == O_RDWR)
		return 0;
	r = file_install(fs, ino, O_RDWR, &old, &oldfd);
	if (!r) {
		dfs_file_close(old); /* read-only: nothing staged */
		close(oldfd);
	}
	return r;
}

int fs_file_shut(struct fs *fs, struct fs_inode *ino)
{
	char path[64], name[4096];
	struct dfs_file *f;
	ssize_t n;
	int r, r2, fd;

	/* Write out under the exclusive lock, so nobody sees the backing
	 * size before the staged data is in it; fsync without it, so stat
	 * and reads of other handles do not wait for the disk.  The progress
	 * attributes follow the file until the fsync is done. */
	pthread_rwlock_wrlock(&ino->io);
	f = ino->file;
	r = dfs_file_flush(f);
	ino->file = NULL;
	fd = ino->bfd;
	ino->bfd = -1;
	pthread_rwlock_unlock(&ino->io);

	r2 = dfs_file_finish(f);
	if (!r)
		r = r2;
	fs_progress_detach(ino, r);
	r2 = dfs_file_close(f);
	if (!r)
		r = r2;
	if (r) {
		fs_proc_path(path, sizeof(path), fd);
		n = readlink(path, name, sizeof(name) - 1);
		name[n > 0 ? n : 0] = '\0';
		fs_log(fs, LOG_ERR,
		       "%s: writing out at release failed: %s; "
		       "the next open's first fsync or close reports it",
		       name, strerror(-r));
		if (!ino->release_err)
			atomic_fetch_add(&fs->release_errors, 1);
		ino->release_err = r;
	}
	close(fd);
	return r;
}

/* ---- handles ---- */

static struct fs_handle *handle_of(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

/* ino->lock held. */
static void handle_link(struct fs_inode *ino, struct fs_handle *h)
{
	h->prev = NULL;
	h->next = ino->handles;
	if (h->next)
		h->next->prev = h;
	ino->handles = h;
}

static void handle_unlink(struct fs_inode *ino, struct fs_handle *h)
{
	if (h->prev)
		h->prev->next = h->next;
	else
		ino->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
}

/* Let go of one open; ino->lock not held. */
static void handle_drop(struct fs *fs, struct fs_handle *h)
{
	struct fs_inode *ino = h->inode;

	fs_inode_pin(fs, ino);
	pthread_mutex_lock(&ino->lock);
	handle_unlink(ino, h);
	if (h->fd >= 0) {
		close(h->fd);
	} else {
		if (!--ino->opens && ino->file)
			fs_file_shut(fs, ino);
		/* Only now: a file being released still counts as being
		 * written, until its data is durable. */
		if (h->writable)
			atomic_fetch_sub(&ino->writers, 1);
		atomic_store(&ino->busy, ino->opens || ino->release_err);
	}
	pthread_mutex_unlock(&ino->lock);
	fs_inode_unref(fs, ino, 1);
	free(h);
}

/* FIFOs, sockets and devices: the daemon's own descriptor, no staging. */
static int open_special(struct fs_inode *ino, struct fuse_file_info *fi,
			struct fs_handle *h)
{
	int flags = fi->flags & ~(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_DIRECT);

	h->fd = open_backing(ino, flags);
	if (h->fd < 0)
		return h->fd;
	fi->nonseekable = ino->type != S_IFBLK;
	pthread_mutex_lock(&ino->lock);
	handle_link(ino, h);
	pthread_mutex_unlock(&ino->lock);
	return 0;
}

static int open_regular(struct fs *fs, struct fs_inode *ino, struct fuse_file_info *fi,
			struct fs_handle *h)
{
	int r = 0;

	pthread_mutex_lock(&ino->lock);
	if (!ino->file)
		r = file_start(fs, ino);
	if (!r && (h->writable || (fi->flags & O_TRUNC)))
		r = fs_file_make_writable(fs, ino);
	if (!r && (fi->flags & O_TRUNC)) {
		r = dfs_file_truncate(fs_file_get(ino), 0);
		fs_file_put(ino);
	}
	if (!r) {
		ino->opens++;
		handle_link(ino, h);
		atomic_store(&h->deferred_err, ino->release_err);
		if (ino->release_err)
			atomic_fetch_sub(&fs->release_errors, 1);
		ino->release_err = 0;
		if (h->writable)
			atomic_fetch_add(&ino->writers, 1);
		atomic_store(&ino->busy, true);
	} else if (!ino->opens && ino->file) {
		fs_file_shut(fs, ino);
	}
	pthread_mutex_unlock(&ino->lock);
	return r;
}

static void reply_open(fuse_req_t req, struct fs *fs, struct fs_inode *ino,
		       struct fuse_file_info *fi, const struct fuse_entry_param *e)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	int acc = fi->flags & O_ACCMODE, r;

	if (!h) {
		r = -ENOMEM;
		goto fail;
	}
	h->inode = ino;
	h->fd = -1;
	h->writable = acc != O_RDONLY;
	h->append = fi->flags & O_APPEND;
	h->sync = (fi->flags & O_SYNC) == O_SYNC;
	h->dsync = !h->sync && (fi->flags & O_DSYNC);
	if (ino->type == S_IFREG)
		r = open_regular(fs, ino, fi, h);
	else
		r = open_special(ino, fi, h);
	if (r)
		goto fail;

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
	}
	return;
fail:
	free(h);
	if (e)
		fs_inode_unref(fs, ino, 1);
	fuse_reply_err(req, -r);
}

void fs_open(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);

	if (ino->type == S_IFDIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	reply_open(req, fs, ino, fi, NULL);
}

void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = fs_inode_get(fs, parent);
	int flags = (fi->flags & (O_ACCMODE | O_EXCL)) | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
	struct fuse_entry_param e;
	char path[64];
	bool as_caller;
	int fd, pfd, r;

	r = fs_name_ok(name);
	if (!r)
		r = fs_creds_enter(req, &as_caller);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	/* Created as the caller, with the caller's access mode; the engine
	 * reopens it as the daemon.  O_TRUNC is the engine's to apply. */
	fd = openat(dir->fd, name, flags, mode);
	r = fd < 0 ? -errno : 0;
	fs_creds_leave(fs, as_caller);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fs_proc_path(path, sizeof(path), fd);
	pfd = open(path, O_PATH | O_CLOEXEC);
	r = pfd < 0 ? -errno : 0;
	close(fd);
	if (!r)
		r = fs_lookup_fd(fs, pfd, &e);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	reply_open(req, fs, fs_inode_get(fs, e.ino), fi, &e);
}

void fs_release(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	(void)nodeid;
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

void fs_read(fuse_req_t req, fuse_ino_t nodeid, size_t size, off_t off,
	     struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	void *buf = scratch_get(size);
	ssize_t n;

	(void)nodeid;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (h->fd >= 0) {
		n = special_io(h, fi, buf, size, off, false);
	} else {
		n = dfs_file_read(fs_file_get(h->inode), buf, size, off);
		fs_file_put(h->inode);
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void fs_write_buf(fuse_req_t req, fuse_ino_t nodeid, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	size_t len = fuse_buf_size(bufv);
	struct dfs_file *f;
	const char *data;
	ssize_t n;
	off_t at;

	(void)nodeid;
	if (bufv->count == 1 && bufv->idx == 0 &&
	    !(bufv->buf[0].flags & FUSE_BUF_IS_FD)) {
		data = (const char *)bufv->buf[0].mem + bufv->off;
	} else {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(len);

		dst.buf[0].mem = scratch_get(len);
		if (!dst.buf[0].mem) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		n = fuse_buf_copy(&dst, bufv, 0);
		if (n < 0) {
			fuse_reply_err(req, (int)-n);
			return;
		}
		data = dst.buf[0].mem;
		len = (size_t)n;
	}

	if (h->fd >= 0) {
		n = special_io(h, fi, (void *)data, len, off, true);
	} else {
		f = fs_file_get(h->inode);
		if (h->append)
			n = dfs_file_append(f, data, len, &at);
		else
			n = dfs_file_write(f, data, len, off);
		if (n >= 0 && (h->sync || h->dsync)) {
			int r = dfs_file_sync(f, h->dsync);

			if (r)
				n = r;
		}
		fs_file_put(h->inode);
	}
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_write(req, (size_t)n);
}

void fs_flush(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle *h = handle_of(fi);
	int r = atomic_exchange(&h->deferred_err, 0), r2 = 0;

	(void)nodeid;
	/* A reader's close does not push a writer's half-filled buffers. */
	if (h->fd < 0 && h->writable) {
		struct dfs_file *f = fs_file_get(h->inode);

		r2 = fs->o.close_policy == FS_CLOSE_SYNC ? dfs_file_sync(f, 0)
							 : dfs_file_flush(f);
		fs_file_put(h->inode);
	}
	fuse_reply_err(req, -(r ? r : r2));
}

void fs_fsync(fuse_req_t req, fuse_ino_t nodeid, int datasync, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	int r = atomic_exchange(&h->deferred_err, 0), r2;

	(void)nodeid;
	if (h->fd >= 0) {
		r2 = (datasync ? fdatasync(h->fd) : fsync(h->fd)) ? -errno : 0;
	} else {
		r2 = dfs_file_sync(fs_file_get(h->inode), datasync);
		fs_file_put(h->inode);
	}
	fuse_reply_err(req, -(r ? r : r2));
}

void fs_fallocate(fuse_req_t req, fuse_ino_t nodeid, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	int r;

	(void)nodeid;
	if (h->fd >= 0) {
		r = fallocate(h->fd, mode, offset, length) ? -errno : 0;
	} else if (!h->writable) {
		r = -EBADF;
	} else {
		r = dfs_file_fallocate(fs_file_get(h->inode), mode, offset, length);
		fs_file_put(h->inode);
	}
	fuse_reply_err(req, -r);
}

void fs_lseek(fuse_req_t req, fuse_ino_t nodeid, off_t off, int whence,
	      struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_of(fi);
	struct fs_inode *ino = h->inode;
	off_t at;
	int r;

	(void)nodeid;
	if (h->fd >= 0) {
		at = lseek(h->fd, off, whence);
		r = at < 0 ? -errno : 0;
	} else if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		r = -EINVAL; /* the kernel answers the others itself */
	} else {
		/* Holes are the backing file's: write out what is staged, so
		 * it has them where the logical file has them. */
		r = dfs_file_flush(fs_file_get(ino));
		at = 0;
		if (!r) {
			at = lseek(ino->bfd, off, whence);
			r = at < 0 ? -errno : 0;
		}
		fs_file_put(ino);
	}
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_lseek(req, at);
}
