/* SPDX-License-Identifier: MIT */
/*
 * fs.h - the directfs daemon: a FUSE low-level passthrough that writes
 * regular files through the staging engine (lib/).
 *
 * The files of fs/, top down; each calls only the ones below it:
 *
 *   main.c       options, checks of SOURCE and MOUNTPOINT, the session, exit
 *   optable.c    connection setup and the one table of operations
 *   inodeops.c   handlers: lookup, getattr, setattr, names (mknod ... rename)
 *   fileops.c    handlers: open, create, read, write, flush, release, fsync ...
 *   dirops.c     handlers: opendir, readdir(plus), releasedir, fsyncdir
 *   xattrops.c   handlers: xattrs, and the progress attributes
 *   creds.c      acting as the caller for creating calls
 *   table.c      the inode table, and what sessions ask of inodes (table.h)
 *   lockops.c    handlers: getlk, setlk, flock, forwarded to SOURCE (lockops.h)
 *   lockwait.c   blocking requests on threads of their own (lockwait.h)
 *   reply_err.c  error replies; logging the failures that are the daemon's lot
 *   forgotten.c  the last sessions of files the kernel forgot (forgotten.h)
 *   session.c    an inode's open-file state, and committing a batch of them (session.h)
 *   commit.c     the group commit's queue and thread (commit.h)
 *   inodefd.c    descriptors of remembered inodes, by file handle (inodefd.h)
 *   loop.c       the request threads: INIT through libfuse's loop, then threads
 *                of its own; their receive buffers, which writes and copies trade
 *   logsink.c    where log lines go: stderr, or syslog once detached; traces
 *
 * struct fs is one per mount and lives for the whole process; the locking
 * rules of what it holds are in table.h (inodes) and session.h (open files).
 */
#ifndef DFS_FS_H
#define DFS_FS_H

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>
#include <sys/stat.h>

#include "dfs_engine.h"
#include "lockwait.h"
#include "table.h"

/* The real-time signals that wake the daemon's own threads, as offsets
 * from SIGRTMIN (which is not a constant), one each and kept apart here:
 * a lock waiter's timer and interruption (lockwait.c), a request thread's
 * read() of /dev/fuse at exit (loop.c). */
enum fs_wake_signal {
	FS_SIG_LOCK_WAKE = 1,
	FS_SIG_LOOP_WAKE = 2,
};

/* The largest read or write request INIT asks for unless -o request_size
 * says otherwise (loop.c). */
#define FS_REQUEST_DEFAULT (1024u * 1024u)
/* The daemon's oom_score_adj where it may lower it (creds.c): far below
 * any program's, short of -1000, which would never let it be chosen. */
#define FS_OOM_SCORE_ADJ (-900)
/* -o checksum: what a file copied from start to end is summed with. */
#define FS_CHECKSUM_DEFAULT DFS_SUM_XXH128

/* -o request_size's ceiling: 64 MiB (the kernel allows 256). */
#define FS_REQUEST_MAX (64u * 1024u * 1024u)

enum fs_close_policy {
	FS_CLOSE_FLUSH, /* close() waits for the data, release fsyncs */
	FS_CLOSE_SYNC,	/* close() also waits for the fsync */
};

struct fs_opts {
	const char *source;
	enum fs_close_policy close_policy;
	bool no_fallback;
	double timeout;	    /* entry and attribute cache, seconds */
	unsigned inode_fds; /* descriptors kept for idle remembered inodes */
	bool multi_user;    /* allow_other or allow_root: others use the mount */
	uint32_t request_size; /* -o request_size: the wish, in bytes */
	bool io_uring;	       /* -o io_uring: libfuse's loop, over io_uring */
	bool background;       /* -o priority=background: yield the disk (pace.c) */
	enum dfs_sum_kind checksum; /* -o checksum (dfs_sum.h) */
};

struct fs {
	struct fs_opts o;
	struct dfs_engine *eng;
	struct fs_inode root;
	struct fs_table table;
	struct fs_ifd_cache ifds;
	struct fs_host host; /* the sessions' view of the mount (session.h) */
	struct fs_waits lock_waits; /* blocking lock requests (lockwait.h) */
	bool is_root;	 /* running as uid 0: may act as the caller */
	bool foreground; /* log to stderr, else syslog */
	bool trace;	 /* -d: each request logged (FS_TRACE) */
	struct fuse_session *se; /* for notifications to the kernel */
	uint32_t max_request;	 /* max_write INIT asks for (loop.c) */
	struct fs_loop *loop;	 /* while fs_loop_run runs */
	/* The kernel checks POSIX ACLs and leaves the umask to us (modes of
	 * creating calls arrive unmasked): multi-user mounts (optable.c). */
	bool acl;
	gid_t *groups;	 /* the daemon's own supplementary groups */
	int ngroups;
	atomic_bool said_no_tags; /* logged that SOURCE keeps no checksum tags */
	int oom_score_adj;	  /* what creds.c could set */
	/* A mount point below SOURCE: the directory underneath (O_PATH) and
	 * the mount's ID; under_fd -1 otherwise (main.c, table.c). */
	int under_fd;
	uint64_t own_mnt_id;
};

static inline struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The inode a FUSE node id names: its address, or the root. */
static inline struct fs_inode *fs_inode_get(struct fs *fs, fuse_ino_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return &fs->root;
	return (struct fs_inode *)(uintptr_t)nodeid;
}

/* An O_PATH descriptor of ino for one call (inodefd.h), or -errno; paired
 * with fs_inode_fd_put. */
static inline int fs_inode_fd(struct fs *fs, struct fs_inode *ino)
{
	return ifd_get(&fs->ifds, &ino->ifd);
}

static inline void fs_inode_fd_put(struct fs *fs, struct fs_inode *ino)
{
	ifd_put(&fs->ifds, &ino->ifd);
}

/* ino opened again with flags (dfs_reopen of its O_PATH descriptor): a
 * new descriptor, or -errno. */
static inline int fs_inode_reopen(struct fs *fs, struct fs_inode *ino, int flags)
{
	int fd = fs_inode_fd(fs, ino), r;

	if (fd < 0)
		return fd;
	r = dfs_reopen(fd, flags);
	fs_inode_fd_put(fs, ino);
	return r;
}

/* fstat of ino's backing file: 0 or -errno (-ENOENT: gone from SOURCE). */
static inline int fs_inode_fstat(struct fs *fs, struct fs_inode *ino, struct stat *st)
{
	int fd = fs_inode_fd(fs, ino), r;

	if (fd < 0)
		return fd;
	r = fstat(fd, st) ? -errno : 0;
	fs_inode_fd_put(fs, ino);
	return r;
}

/* The inode's path on SOURCE, for log lines; "inode N" when unknown. */
static inline void fs_inode_name(struct fs *fs, struct fs_inode *ino, char *name,
				 size_t len)
{
	if (!ifd_path(&fs->ifds, &ino->ifd, name, len))
		snprintf(name, len, "inode %llu", (unsigned long long)ino->ino);
}

/* loop.c: the request size for a wish (a whole number of pages): the
 * lesser of it and the kernel's max_pages_limit (in bytes, to *kernel).
 * fs_loop_run runs the session (-s: one thread, max_threads=N: N, else
 * 10) until it ends: 0, a signal's number, or -errno of /dev/fuse; with
 * o.io_uring, in libfuse's loop.  init() calls fs_loop_inited once INIT
 * is answered. */
uint32_t fs_loop_request_size(uint32_t wish, uint32_t *kernel);
int fs_loop_run(struct fs *fs, struct fuse_session *se, const struct fuse_cmdline_opts *cmd);
/* The buffer a WRITE's payload at data was read into, if this thread may
 * trade it with the engine (dfs_file_write_swap); else NULL. */
char **fs_loop_swap_buf(const void *data);
/* This thread's payload buffer, a staging buffer of the engine's own kind
 * that it may trade (dfs_file_copy), or NULL.  Only for a request whose
 * arguments libfuse has already copied out: its bytes are overwritten. */
char **fs_loop_thread_buf(void);
void fs_loop_inited(struct fs *fs);

/* logsink.c: the sink the daemon and the engine log to (arg: struct fs). */
void fs_log_sink(void *arg, int level, const char *msg);
#define fs_log(fs, level, ...) dfs_logf(fs_log_sink, (fs), (level), __VA_ARGS__)

/* logsink.c: under -d each handler's first statement, before even its
 * declarations' initializers run, logs the request (inode, name, offset,
 * size, flags, the caller's pid), so that a bug report can say what the
 * kernel asked; libfuse's own lines (request number, opcode, the reply's
 * status) come with them.  "ino" is the FUSE inode number.  One table of
 * handlers (optable.c) serves both. */
__attribute__((format(printf, 2, 3))) void fs_trace_line(fuse_req_t req, const char *fmt,
							  ...);
#define FS_TRACE(req, ...)                                                               \
	do {                                                                             \
		if (fs_of(req)->trace)                                                   \
			fs_trace_line((req), __VA_ARGS__);                               \
	} while (0)
#define INO(i) ((unsigned long long)(i))
#define OFF(o) ((long long)(o))

/* reply_err.c: reply -err to req (err <= 0; 0 is success, as with
 * fuse_reply_err, so a handler ends with one call); the failures that are the
 * daemon's lot (out of descriptors or memory, SOURCE's I/O errors) are
 * logged too, with op and the file (nodeid, and name within it), a line a
 * minute at most per kind. */
void fs_reply_err(fuse_req_t req, int err, const char *op, fuse_ino_t nodeid,
		   const char *name);

/* creds.c: note who the daemon runs as; then run the rest of a creating
 * request as the caller (fsuid, fsgid, supplementary groups and, where
 * the kernel left it to us, its umask), on this thread only. */
void fs_creds_init(struct fs *fs);
int fs_creds_enter(fuse_req_t req, bool *switched);
void fs_creds_leave(struct fs *fs, bool switched);
/* Whether the caller holds CAP_FSETID (its /proc status; uid 0 where that
 * cannot be read), and whether gid is its group or one of its groups. */
bool fs_caller_fsetid(fuse_req_t req);
bool fs_caller_in_group(fuse_req_t req, gid_t gid);
/* Before a write, truncate or fallocate by the caller: clear setuid/setgid
 * as a local filesystem would (creds.c).  0 or -errno. */
int fs_kill_privs(fuse_req_t req, struct fs *fs, fuse_ino_t nodeid,
		  struct fs_inode *ino);

/* inodeops.c */
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
void fs_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* fileops.c */
void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void fs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi);
void fs_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
			struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
			struct fuse_file_info *fi_out, size_t len, int flags);
void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi);
void fs_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);
/* At exit, after the session: free the handles the kernel never released. */
void fs_handles_free_all(void);

/* lockops.c */
void fs_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock);
void fs_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
	      struct flock *lock, int sleep);
void fs_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);

/* dirops.c */
void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* xattrops.c */
void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
		 size_t size, int flags);
void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* optable.c */
extern const struct fuse_lowlevel_ops fs_ops;

#endif /* DFS_FS_H */
