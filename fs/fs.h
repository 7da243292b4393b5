/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the directfs daemon: a FUSE low-level passthrough that writes
 * regular files through the staging engine (lib/).
 *
 * Objects and who owns them, the one place they are written down:
 *
 *  - struct fs: one per mount.  Holds the engine, the options and the
 *    inode table.  Lives for the whole process.
 *
 *  - struct fs_inode: one per backing inode the kernel knows, keyed by
 *    (st_dev, st_ino).  It holds an O_PATH|O_NOFOLLOW descriptor, so every
 *    operation resolves names relative to a parent descriptor and never
 *    walks a path from the root: a symlink inside SOURCE cannot lead the
 *    daemon out of it.  The FUSE node id is the inode's address (the root
 *    is FUSE_ROOT_ID).
 *      nlookup is counted under the table lock.  An inode is freed when
 *      nlookup is 0 and it is not busy (no opens, no release error kept).
 *      A release pins its inode with one extra lookup while it runs,
 *      because the kernel may forget the inode before the release is done.
 *      Nobody takes the table lock while holding an inode's lock.
 *
 *  - The engine file (struct dfs_file) of a regular inode is created by its
 *    first open and closed (flush, tail, fsync) by its last release, so
 *    staging is per inode and shared by every handle.
 *      ino->lock (mutex) guards opens, file, bfd, accmode and release_err.
 *      ino->io (rwlock): every I/O call on ino->file holds it for reading;
 *      replacing or closing ino->file holds it for writing.  Lock order:
 *      ino->lock, then ino->io.  The I/O calls themselves may block on
 *      engine back-pressure while holding io for reading; that only delays
 *      a replacement.
 *      ino->slock (a leaf mutex, never held across I/O) guards ino->stats
 *      and ino->last.  getattr and the progress attributes take only it,
 *      never ino->lock or ino->io, so neither waits behind a disk write,
 *      a release's fsync or a replacement.
 *
 *  - struct fs_handle: one per open file (fi->fh).  Regular files do all
 *    I/O through the inode's engine file; other types (FIFOs, devices)
 *    keep their own descriptor in fd.
 */
#ifndef DFS_FS_H
#define DFS_FS_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <syslog.h>

#include "dfs_engine.h"

/* Largest FUSE write and read request (see fs_init). */
#define FS_MAX_WRITE (1024u * 1024u)

struct fs_inode {
	int fd; /* O_PATH | O_NOFOLLOW */
	dev_t dev;
	ino_t ino;
	mode_t type; /* S_IFMT bits */
	uint64_t nlookup;
	struct fs_inode *hnext;

	pthread_mutex_t lock;
	pthread_rwlock_t io;
	unsigned opens;
	atomic_bool busy;	   /* opens || release_err: read without lock */
	int bfd;		   /* backing descriptor handed to the engine */
	int accmode;		   /* its access mode */
	struct dfs_file *file;	   /* regular files, while open */
	int release_err;	   /* fsync error of the last release, -errno */
	struct fs_handle *handles; /* open handles, for the exit path */

	/* Progress (xattr.c).  slock is a leaf lock held only to read or
	 * swap these, never across I/O, so reading an attribute never waits
	 * for the disk.  stats is the engine file whose counters are shown:
	 * ino->file from its install until the last release has written out
	 * and synced it.  last is what the previous open-to-release session
	 * ended with (its error: the release's). */
	pthread_mutex_t slock;
	struct dfs_file *stats;
	struct dfs_file_stats last;
	atomic_uint writers; /* handles open for writing, until released */
};

struct fs_handle {
	struct fs_inode *inode;
	struct fs_handle *next, *prev; /* ino->handles, under ino->lock */
	int fd;			       /* non-regular files only, else -1 */
	bool writable;
	bool append;
	bool sync; /* O_SYNC / O_DSYNC: every write is synced */
	bool dsync;
	atomic_int deferred_err; /* a past release's error, for flush/fsync */
};

enum fs_close_policy {
	FS_CLOSE_FLUSH, /* close() waits for the data, release fsyncs */
	FS_CLOSE_SYNC,	/* close() also waits for the fsync */
};

struct fs_opts {
	char *source;
	size_t buf_size, mem_cap;
	unsigned depth, workers;
	enum fs_close_policy close_policy;
	bool no_fallback;
	double timeout; /* entry and attribute cache, seconds */
};

struct fs_table {
	pthread_mutex_t lock;
	struct fs_inode **buckets;
	size_t nbuckets, count;
};

struct fs {
	struct fs_opts o;
	struct dfs_engine *eng;
	struct fs_inode root;
	struct fs_table table;
	bool is_root;	 /* running as uid 0: may act as the caller */
	bool foreground; /* log to stderr, else syslog */
	gid_t *groups;	 /* the daemon's own supplementary groups */
	int ngroups;
	atomic_uint release_errors; /* inodes holding a release error */
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* log.c */
void fs_log(struct fs *fs, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void fs_engine_log(void *arg, int level, const char *msg);

/* inode.c */
struct fs_inode *fs_inode_get(struct fs *fs, fuse_ino_t ino);
int fs_table_init(struct fs_table *t);
/* Look name up under parent; on success fills e and takes one lookup. */
int fs_do_lookup(struct fs *fs, struct fs_inode *parent, const char *name,
		 struct fuse_entry_param *e);
/* Same, for an O_PATH descriptor the caller opened; takes ownership of fd. */
int fs_lookup_fd(struct fs *fs, int fd, struct fuse_entry_param *e);
/* Put the root (already filled in) in the table. */
void fs_table_add_root(struct fs *fs);
void fs_inode_pin(struct fs *fs, struct fs_inode *ino);
void fs_inode_unref(struct fs *fs, struct fs_inode *ino, uint64_t n);
int fs_inode_stat(struct fs_inode *ino, struct stat *st);
int fs_name_ok(const char *name);
void fs_proc_path(char *buf, size_t len, int fd);
/* Run the rest of a creating request as the caller (fsuid, fsgid, groups). */
int fs_creds_enter(fuse_req_t req, bool *switched);
void fs_creds_leave(struct fs *fs, bool switched);
/* Close every engine file: flush and fsync all staged data.  Returns the
 * number of files that failed. */
unsigned fs_sync_all(struct fs *fs);
/* Free every inode and handle still known; after the session is gone. */
void fs_table_destroy(struct fs *fs);

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		struct fuse_file_info *fi);
void fs_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);
void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
void fs_statfs(fuse_req_t req, fuse_ino_t ino);

/* file.c */
/* The inode's engine file with ino->io held for reading, or NULL. */
struct dfs_file *fs_file_get(struct fs_inode *ino);
void fs_file_put(struct fs_inode *ino);
/* Make the inode's engine file writable (reopening it O_RDWR if it was
 * opened read-only).  Called with ino->lock held. */
int fs_file_make_writable(struct fs *fs, struct fs_inode *ino);
/* Write out, fsync and close the inode's engine file; a failure is kept in
 * release_err and logged.  Called with ino->lock held. */
int fs_file_shut(struct fs *fs, struct fs_inode *ino);

void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi);
void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);

/* dir.c */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* xattr.c */
#define FS_XATTR_PREFIX "user.directfs."
/* Swap the engine file whose progress an inode shows; a session that ends
 * leaves its figures in ino->last. */
void fs_progress_attach(struct fs_inode *ino, struct dfs_file *f);
void fs_progress_detach(struct fs_inode *ino, int err);
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* ops.c */
extern const struct fuse_lowlevel_ops fs_ops;

#endif /* DFS_FS_H */
