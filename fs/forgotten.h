/* SPDX-License-Identifier: MIT */
/*
 * forgotten.h - the last sessions of files the kernel has forgotten, owned by
 * forgotten.c.
 *
 * A file's progress figures after its last release (written, synced,
 * durable) live in its struct fs_inode, and the kernel frees inodes it has
 * not used for a while (memory pressure, drop_caches).  The next lookup
 * makes a new fs_inode, which would report the file as never written
 * through the mount.  So when an inode whose last session wrote something
 * is freed, its figures are kept here by (st_dev, st_ino), with the ctime
 * and size the file had then, and a lookup that makes the inode again
 * takes them back if the file still has that ctime and size: any change on
 * SOURCE since (a write, a chmod, a rename, the inode number reused by a
 * new file) changes the ctime, and the record is dropped.
 *
 * At most FS_FORGOTTEN_MAX records are kept; the oldest goes first.  A lookup
 * that comes between the inode's removal from the table and its record's
 * put (a few system calls) makes the inode without it.
 *
 * Locking rules: m->lock guards everything and is a leaf (table.c may hold
 * its table lock around a call).
 *
 * Invariants (asserted): count <= FS_FORGOTTEN_MAX; a record is on its
 * bucket's chain exactly when it is in use.
 */
#ifndef DFS_FS_FORGOTTEN_H
#define DFS_FS_FORGOTTEN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "dfs_engine.h"

#define FS_FORGOTTEN_MAX 4096
#define FS_FORGOTTEN_BUCKETS 8192 /* a power of two */

struct fs_forgotten_rec {
	dev_t dev;
	ino_t ino;
	struct timespec ctime;
	off_t size;
	struct dfs_file_stats last;
	int32_t next; /* in its bucket's chain; -1 ends it */
	bool used;
};

struct fs_forgotten {
	pthread_mutex_t lock;
	struct fs_forgotten_rec *recs; /* FS_FORGOTTEN_MAX, reused in turn */
	int32_t *buckets;	       /* FS_FORGOTTEN_BUCKETS chain heads, -1: empty */
	uint32_t turn;		       /* the record the next put takes */
	uint32_t count;		       /* records in use */
};

/* 0 or -ENOMEM. */
int fs_forgotten_init(struct fs_forgotten *m);
void fs_forgotten_destroy(struct fs_forgotten *m);
/* Keep last for the file whose stat (taken as its inode is freed) is st,
 * in place of any record it had. */
void fs_forgotten_put(struct fs_forgotten *m, const struct stat *st,
		      const struct dfs_file_stats *last);
/* Take the record of the file whose stat is st out of the records; true and
 * *last filled when there was one and the file has not changed since. */
bool fs_forgotten_take(struct fs_forgotten *m, const struct stat *st,
		       struct dfs_file_stats *last);

#endif /* DFS_FS_FORGOTTEN_H */
