/* SPDX-License-Identifier: MIT */
/*
 * table.h - the inodes the kernel knows, owned by table.c.
 *
 * One struct fs_inode per backing inode the kernel has looked up, keyed by
 * (st_dev, st_ino).  It is reached through an O_PATH | O_NOFOLLOW
 * descriptor (inodefd.h: kept while in use, else opened again from the inode's
 * file handle), so every operation resolves names relative to a parent
 * descriptor and never walks a path from the root: a symlink inside SOURCE
 * cannot lead the daemon out of it.  The FUSE node id is the inode's address (the root is
 * FUSE_ROOT_ID and lives in struct fs).
 *
 * Locking rules, the one place they are written down:
 *  - t->lock guards the buckets, count and every inode's nlookup and hnext.
 *    It is a leaf as far as inodes go: nobody takes it while holding an
 *    inode's session lock (session.h), and it is never held across I/O.
 *  - dev, ino and type never change after the inode is made; the
 *    descriptor is inodefd.c's to keep, take with fs_inode_fd().
 *  - An inode is freed when nlookup drops to 0 and its session is not
 *    busy; a file's last session outlives it among the forgotten (forgotten.h).  The
 *    kernel holds an inode until its release is answered; a session
 *    waiting for its commit after that pins the inode with one more
 *    lookup (fs_table_host_ops: hold, let_go).
 *
 * Invariants: nlookup never goes below 0 (fs_inode_unref asserts n <=
 * nlookup); the root is never freed.
 */
#ifndef DFS_FS_TABLE_H
#define DFS_FS_TABLE_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "inodefd.h"
#include "lockops.h"
#include "forgotten.h"
#include "session.h"

struct fs;

struct fs_inode {
	struct fs_ifd ifd; /* its O_PATH descriptor (inodefd.c) */
	dev_t dev;
	ino_t ino;
	mode_t type; /* S_IFMT bits */
	/* The mode last seen on SOURCE (lookup, getattr, setattr): writes
	 * look here for setuid/setgid bits before asking SOURCE. */
	atomic_uint mode;
	/* The kernel may hold pages of the file in the mount's own page
	 * cache: a read came from it (a mapping's fault or read-ahead: no
	 * lock owner, as no read(2) sends) or a mapping's write-back.  Taken
	 * back when they are dropped (table.c: host_let_go). */
	atomic_bool paged;
	/* Of the reads from that page cache (fileops.c: paged_read): where the
	 * next one of a sequential stream starts, and the offset below which
	 * its pages were dropped. */
	_Atomic int64_t paged_next, paged_dropped;
	uint64_t nlookup;
	struct fs_inode *hnext;
	struct fs_session sess;	 /* regular files: the open-file state (session.c) */
	struct fs_locks locks;	 /* regular files: locks held on SOURCE (lockops.c) */
};

struct fs_table {
	pthread_mutex_t lock;
	struct fs_inode **buckets;
	size_t nbuckets, count;
	struct fs_forgotten forgotten; /* last sessions of forgotten files */
};

/* Make the table with the root inode on the O_PATH descriptor rootfd
 * (taken over), and the descriptor cache: at most inode_fds descriptors of
 * idle inodes stay open. */
int fs_table_init(struct fs *fs, int rootfd, unsigned inode_fds);
/* Free every inode still known; after the session is gone. */
void fs_table_destroy(struct fs *fs);
/* At exit, once the request loop, the lock waiters and the committer
 * have ended (the caller's only thread): write out and close every
 * engine file; how many failed. */
unsigned fs_table_shut_all(struct fs *fs);

/* Up to max regular files with open-file state (session.h: busy) into inos,
 * each pinned with one lookup for the caller to drop (fs_inode_unref(fs,
 * ino, 1)); returns how many there are in all, which may be more. */
size_t fs_table_busy_files(struct fs *fs, struct fs_inode **inos, size_t max);

void fs_inode_unref(struct fs *fs, struct fs_inode *ino, uint64_t n);
/* Note the mode of a stat of ino just taken. */
void fs_inode_saw(struct fs_inode *ino, const struct stat *st);
/* stat of the inode, with the logical size of a file being written. */
int fs_inode_stat(struct fs *fs, struct fs_inode *ino, struct stat *st);

/* What the sessions (session.h) ask of the inodes: their backing files,
 * their pins, the log, the descriptor budget.  arg: struct fs. */
extern const struct fs_host_ops fs_table_host_ops;

/* A name a lookup or create may use: not empty, ".", ".." or with '/'. */
int fs_name_ok(const char *name);
/* Look name up under parent; on success fills e and takes one lookup. */
int fs_lookup_name(struct fs *fs, struct fs_inode *parent, const char *name,
		   struct fuse_entry_param *e);
/* The same for an O_PATH descriptor the caller opened (taken over). */
int fs_lookup_fd(struct fs *fs, int fd, struct fuse_entry_param *e);
/* fs_lookup_fd with fd's stat already taken (st, fstat of fd itself). */
int fs_lookup_fd_stat(struct fs *fs, int fd, const struct stat *st,
		      struct fuse_entry_param *e);
/* Another lookup of ino, which the kernel holds, from its own stat (no
 * name walked): a link's new name is the inode itself. */
int fs_lookup_inode(struct fs *fs, struct fs_inode *ino, struct fuse_entry_param *e);

#endif /* DFS_FS_TABLE_H */
