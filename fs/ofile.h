/* SPDX-License-Identifier: MIT */
/*
 * ofile.h - an inode's open engine file, owned by ofile.c and nobody else.
 *
 * Staging is per inode: every handle of a regular file does its I/O
 * through one engine file (struct dfs_file), wrapped in a struct
 * fs_ofile.  ofile.c opens the backing file and creates the engine file at
 * the first open, makes it writable when a writer comes, shows its
 * progress, and at the last release detaches it, writes it out, fsyncs and
 * closes it, keeping any error for the next open.  Handlers (file.c,
 * inode.c, xattr.c) call ofile.c; ofile.c calls only the engine.
 *
 * Locking rules, the one place they are written down (ofile.c is the only
 * file that takes these locks):
 *
 *  - os->lock (mutex) guards everything in struct fs_ofile_slot but the
 *    atomics and what slock guards, and every fs_ofile's refs and
 *    written_out.  It is never held across disk I/O of data: not across a
 *    write-out, an fsync or an engine truncate.  (An O_TRUNC open and a
 *    truncate of a file nobody has open do hold it across their
 *    ftruncate, so that no engine file starts on a size being changed.)
 *  - os->slock (mutex) is a leaf, held only to read or change cur, the
 *    closing list, last and a detached file's written_out.  getattr and
 *    the progress attributes take only slock, so neither ever waits for
 *    the disk.  Changing cur, the closing list or written_out takes lock,
 *    then slock.
 *  - An fs_ofile is referenced by cur (one reference) and by every I/O call
 *    running on it (ofile_get .. ofile_put).  New references are taken only
 *    on cur.  When a writable file replaces a read-only one, the old one is
 *    retired and closed by whoever drops its last reference (it never
 *    holds staged data).
 *  - The last release detaches cur under lock (it moves to the closing
 *    list), waits for the references still running on it, and then writes
 *    it out without the lock; the fsync and close follow in
 *    ofile_finish(), from the committer (commit.c) that batches them.  A new open
 * meanwhile waits only until the detached file is written out (normally at once: close()
 * has written everything already), never for its fsync, and gets a fresh engine file.
 *
 * Invariants (under lock, asserted): opens > 0 implies cur != NULL; refs
 * never drops below 0, and a file is freed only when its last reference
 * goes (the release's own, once every call on it has put its one); busy ==
 * (opens || cur || closing || release_err).
 */
#ifndef DFS_FS_OFILE_H
#define DFS_FS_OFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "dfs_engine.h"

struct fs;
struct fs_inode;

struct fs_ofile {
	struct dfs_file *file;
	int accmode;	  /* O_RDONLY or O_RDWR, as the backing file was opened */
	unsigned refs;	  /* under os->lock */
	bool written_out; /* detached and everything staged is on SOURCE
			   * (set under lock and slock) */
	int err;	  /* of that write-out, for ofile_finish() */
	LIST_ENTRY(fs_ofile) link; /* os->closing while detached */
};

/* One open of a file (fi->fh). */
struct fs_handle {
	struct fs_inode *inode;
	LIST_ENTRY(fs_handle) link; /* os->handles, under os->lock */
	int fd;			    /* FIFOs, sockets, devices: own descriptor; else -1 */
	bool writable;
	bool append;
	bool sync; /* O_SYNC / O_DSYNC: every write is synced */
	bool dsync;
	atomic_int deferred_err; /* a past release's error, for flush/fsync */
};

/* The open-file state of one inode (embedded in struct fs_inode). */
struct fs_ofile_slot {
	pthread_mutex_t lock;
	pthread_cond_t cv; /* references dropped; a detached file written out */
	struct fs_ofile *cur;
	LIST_HEAD(, fs_ofile) closing;
	LIST_HEAD(, fs_handle) handles;
	unsigned opens;	     /* handles of a regular file */
	int release_err;     /* a release's error no handle has seen, -errno */
	atomic_bool busy;    /* the table must keep the inode */
	atomic_uint writers; /* handles open for writing (after their release, the
			      * detached file shows syncing until durable) */

	pthread_mutex_t slock;	    /* leaf: cur, closing, written_out, last */
	struct dfs_file_stats last; /* what the previous session ended with */
};

void ofile_slot_init(struct fs_ofile_slot *os);
void ofile_slot_destroy(struct fs_ofile_slot *os);

/*
 * Count a new open of ino with handle h (h->fd >= 0: a special file, only
 * tracked).  For a regular file: start the engine file at the first open,
 * make it writable for a writer or trunc, truncate it for trunc, and hand
 * h a past release's error.  created is an O_RDWR descriptor of a file
 * just created (taken over, saves reopening it) or -1.  0 or -errno; on
 * error nothing is counted.
 */
int ofile_open(struct fs *fs, struct fs_inode *ino, struct fs_handle *h, bool trunc,
	       int created);
/*
 * Let go of h's open.  The last open of a regular file detaches its engine
 * file and writes out what it staged; that file comes back, and the
 * caller must hand it to ofile_finish() (at once, or from a thread that
 * batches the fsyncs of many files).  NULL otherwise.
 */
struct fs_ofile *ofile_release(struct fs *fs, struct fs_inode *ino, struct fs_handle *h);
/* fsync and close a detached engine file and keep what its session ended
 * with; a failure is logged and kept for the next flush or fsync of the
 * file.  0 or the error. */
int ofile_finish(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of);
/* ofile_finish of n <= FS_FINISH_BATCH files at once: one syncfs per
 * filesystem among them stands for their fsyncs (dfs_file_finish_many). */
#define FS_FINISH_BATCH 64
void ofile_finish_many(struct fs *fs, struct fs_inode **inos, struct fs_ofile **ofs,
		       size_t n);

/* A reference on the inode's engine file, or NULL when it has none (no
 * handle is open).  Every ofile_get is paired with one ofile_put. */
struct fs_ofile *ofile_get(struct fs_inode *ino);
void ofile_put(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of);

/* Change the size of a regular file, open or not. */
int ofile_truncate(struct fs *fs, struct fs_inode *ino, off_t size);
/* Write out whatever the file has staged (before a time is set), as a
 * close does: a small file through the page cache, which its commit
 * drops (tar sets times on every file it has just written). */
int ofile_write_out(struct fs *fs, struct fs_inode *ino);
/* The logical size when an engine file knows it better than the backing
 * file (staged bytes, a write-out still running); false otherwise. */
bool ofile_size(struct fs_inode *ino, off_t *size);
/* The figures the file's last session ended with, and whether they are
 * worth keeping past the inode (memo.h): it wrote, and did not fail (a
 * failed session keeps its inode). */
bool ofile_last_session(struct fs_inode *ino, struct dfs_file_stats *st);
/* Give an inode not yet in the table the last session the memo kept. */
void ofile_restore_session(struct fs_inode *ino, const struct dfs_file_stats *st);
/* Progress figures of a regular file, as the README's "Progress" tells. */
void ofile_progress(struct fs *fs, struct fs_inode *ino, struct dfs_file_stats *st);
/* Is a copy into the file under way, by the figures ofile_progress() just
 * gave: open for writing, or its last release still writing it out or
 * syncing it. */
bool ofile_in_flight(struct fs_inode *ino, const struct dfs_file_stats *st);

/* The file was deleted: a release error kept for its next open has no one
 * to go to; drop it.  Returns whether the inode is still busy. */
bool ofile_forget_error(struct fs *fs, struct fs_inode *ino);

/* At exit: write out, fsync and close the inode's engine file, open or
 * not; 0 or the error. */
int ofile_shut(struct fs *fs, struct fs_inode *ino);
/* At exit, after the session: free the handles the kernel never released. */
void ofile_free_handles(struct fs_inode *ino);

#endif /* DFS_FS_OFILE_H */
