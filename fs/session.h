/* SPDX-License-Identifier: MIT */
/*
 * session.h - the open-file state of one inode, owned by session.c.
 *
 * Staging is per inode: every handle of a regular file does its I/O
 * through one engine file (struct dfs_file).  A session is the life of one
 * such engine file, from the first open of the inode to the fsync after
 * its last release; struct fs_session (one per inode, in struct fs_inode)
 * holds the current one and the ones still being committed, the figures
 * the previous session ended with, and the error of a release that no
 * application has seen yet.  session.c has no FUSE in it: it reaches the
 * backing file, the log and the inode's pin through struct fs_host_ops, so
 * the state machine is tested without a mount (tests/test_session.c).
 *
 * The states of an inode's session object:
 *
 *   IDLE ----open----> STARTING ----opened----> OPEN <--open/release--+
 *    ^  \                 |  (failed)           |  \                  |
 *    |   \--truncate by---+--> IDLE             |   +-----------------+
 *    |      path (no engine file)          last release
 *    |                                          v
 *    +------------ written out ------------ CLOSING
 *
 *   IDLE      no engine file; progress shows `last`, the size is SOURCE's
 *   STARTING  a call opens (or truncates) the backing file without the
 *             lock; every other change of state waits for it
 *   OPEN      an engine file (cur) serves opens >= 1 handles; calls take
 *             references on it (session_get .. session_put)
 *   CLOSING   the last release detached cur and, once the calls still
 *             running on it are done, writes it out without the lock;
 *             opens, truncates and write-outs wait until it is on SOURCE
 *
 * A session written out goes to the committer (session_commit_start) and
 * waits there for its fsync on the committing list, whatever state the
 * inode goes on to: an open meanwhile starts a fresh engine file and never
 * waits for that fsync.  When the fsync is done the session's figures
 * become `last`, and a failure is logged and kept in err for the next
 * flush or fsync of the file (errseq: every handle open then, or opened
 * before anyone has seen it, gets it once).
 *
 * Locking rules, the one place they are written down: s->lock guards
 * every field of struct fs_session but busy (an atomic the inode table
 * reads without it) and every fs_sfile's refs.  It is never held across
 * I/O: opening, truncating, writing out and fsyncing happen in STARTING
 * or CLOSING, or on a referenced engine file, with the lock dropped; so a
 * getattr or a progress attribute, which take only s->lock, never wait for
 * a disk.  The engine's own lock (lib/dfs_internal.h) is never taken
 * under s->lock.  The committer's lock (host->commit.lock) is a leaf.
 *
 * Checksum tags (dfs_file_tag) are kept by the committer once a session
 * is durable, and only one at a time per inode: tagging marks a tag being
 * kept, or a change of the file's times carrying one over
 * (session_tagging_begin).  A writer's open or a truncate marks every
 * session still committing no_tag and waits for tagging to clear, so that
 * the change's engine file finds any tag kept and removes it.
 *
 * Invariants (under s->lock, asserted): OPEN has cur and opens > 0;
 * outside STARTING, cur exists exactly when opens > 0; CLOSING exactly
 * when closing != NULL; an engine file's refs never drop below 1 while it
 * is cur or closing; busy == (state != IDLE || cur || committing || an
 * unseen error).
 */
#ifndef DFS_FS_SESSION_H
#define DFS_FS_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "commit.h"
#include "dfs_engine.h"

/* What session.c needs of the daemon around it, per inode (owner). */
struct fs_host_ops {
	/* The backing file opened with access mode acc (O_RDONLY, O_RDWR):
	 * a descriptor or -errno. */
	int (*open)(void *arg, void *owner, int acc);
	/* Truncate the backing file to size: 0 or -errno. */
	int (*truncate)(void *arg, void *owner, off_t size);
	/* fstat of the backing file: 0 or -errno. */
	int (*stat)(void *arg, void *owner, struct stat *st);
	/* A session failed at its release (err < 0): tell the log. */
	void (*failed)(void *arg, void *owner, int err);
	/* Keep owner until let_go: the committer holds it meanwhile. */
	void (*hold)(void *arg, void *owner);
	void (*let_go)(void *arg, void *owner);
	/* delta descriptors more (or fewer) held by sessions waiting for
	 * their commit: the daemon's descriptor budget counts them. */
	void (*lend)(void *arg, int delta);
	/* A durable file's tag could not be kept (dfs_file_tag's err). */
	void (*untagged)(void *arg, void *owner, int err);
	/* Has the file pages in the mount's own page cache (a mapping) that
	 * the committer's let_go drops?  Then its release goes there even
	 * when there is nothing to sync. */
	bool (*paged)(void *arg, void *owner);
};

/* The group commit: one thread makes released sessions durable in
 * batches of up to FS_FINISH_BATCH with one syncfs per filesystem
 * (dfs_file_finish_many) instead of an fsync each. */
#define FS_FINISH_BATCH 64

struct fs_sfile;

/* One per mount. */
struct fs_host {
	struct dfs_engine *eng;
	const struct fs_host_ops *ops;
	void *arg;
	atomic_uint error_files; /* session objects holding an unseen error */
	/* Sessions that wrote, ended since the mount: made durable, failed. */
	atomic_uint_fast64_t files_done, files_failed;
	/* Names removed through the mount (unlinks, renames over a name):
	 * the committer asks whether a file is gone only when this moved. */
	atomic_uint_fast64_t removals;
	struct fs_committer commit; /* commit.h */
};

enum fs_session_state { FS_IDLE, FS_STARTING, FS_OPEN, FS_CLOSING };

/* The open-file state of one inode (embedded in struct fs_inode). */
struct fs_session {
	pthread_mutex_t lock;
	pthread_cond_t cv; /* state changed; references dropped */
	enum fs_session_state state;
	void *owner;		 /* the inode, for the host's calls */
	struct fs_sfile *cur;	 /* OPEN: the engine file */
	struct fs_sfile *closing; /* CLOSING: the detached one */
	LIST_HEAD(, fs_sfile) committing;
	unsigned opens;		  /* handles of the regular file */
	unsigned writers;	  /* of them open for writing */
	int err;		  /* a failed release's error, -errno */
	unsigned err_seq;	  /* bumped with each failure kept in err */
	bool err_seen;		  /* a flush or fsync has returned it */
	struct dfs_file_stats last; /* what the previous session ended with */
	bool tagging;		  /* a tag is being kept or its times changed */
	atomic_bool busy;	  /* the inode table must keep the inode */
};

/* ---- the mount ---- */

void session_host_init(struct fs_host *host, struct dfs_engine *eng,
		       const struct fs_host_ops *ops, void *arg);
/* The committer thread; at most max sessions wait for it (a release
 * waits beyond that).  0 or -errno; without it sessions are made durable
 * by the release itself. */
int session_commit_start(struct fs_host *host, unsigned max);
/* Drain the queue (every session made durable), then stop. */
void session_commit_stop(struct fs_host *host);

void session_init(struct fs_session *s, void *owner);
void session_destroy(struct fs_session *s);

/* ---- opens and releases ---- */

/*
 * A new open of the regular file: start the engine file at the first
 * open, make it writable for a writer or for trunc, truncate it to 0 for
 * trunc.  created is an O_RDWR descriptor of a file just created (taken
 * over) or -1.  *seen is the open's place in the error sequence, for
 * session_error.  0 or -errno; on error nothing is counted.
 */
int session_open(struct fs_host *host, struct fs_session *s, bool writable, bool trunc,
		 int created, unsigned *seen);
/*
 * Let go of one open.  The last one detaches the engine file, writes it
 * out, and hands it to the committer (or makes it durable here when there
 * is none): either way it returns once what was staged is on SOURCE.
 */
void session_release(struct fs_host *host, struct fs_session *s, bool writable);
/* A failed release's error the open at *seen has not returned yet (then
 * *seen moves on), or 0. */
int session_error(struct fs_host *host, struct fs_session *s, unsigned *seen);

/* A reference on the current engine file for one call, or NULL when no
 * handle is open.  Every session_get is paired with a session_put. */
struct fs_sfile *session_get(struct fs_session *s);
struct dfs_file *session_file(const struct fs_sfile *sf);
void session_put(struct fs_session *s, struct fs_sfile *sf);

/*
 * Around a change of the file's times (setattr): no tag is kept
 * meanwhile, so the caller may carry a current tag's timestamp over to
 * the new mtime (dfs_tag_follow).  Not across a session's own I/O.
 */
void session_tagging_begin(struct fs_session *s);
void session_tagging_end(struct fs_session *s);

/* ---- calls without a handle ---- */

/* A name was removed through the mount (unlink, or a rename that may
 * have replaced one): a file waiting for its commit may have no name
 * left, and then it is not made durable (never promised: nobody can
 * open it again).  Its figures stay as they were, durable short. */
void session_names_removed(struct fs_host *host);

/* Change the size of the regular file, open or not. */
int session_truncate(struct fs_host *host, struct fs_session *s, off_t size);
/* Write out whatever the file has staged, as a close does (a small file
 * through the page cache, which its commit drops). */
int session_write_out(struct fs_session *s);
/* At exit: write out, fsync and close the engine file, open or not. */
int session_shut(struct fs_host *host, struct fs_session *s);
/* The open that started the session made the file (an exclusive create):
 * its first change looks for no checksum tag to remove (dfs_file_made). */
void session_made(struct fs_session *s);
/* The file was deleted: an unseen error has nobody left to go to; drop
 * it.  Whether the inode is still busy. */
bool session_forget_error(struct fs_host *host, struct fs_session *s);

/* ---- figures ---- */

/* Is the file open for writing through the mount now? */
bool session_has_writers(struct fs_session *s);

/* The logical size while an engine file knows it better than the backing
 * file (OPEN, or CLOSING before the write-out is done); false otherwise. */
bool session_size(struct fs_session *s, off_t *size);
/* The progress figures of the file (docs/progress.md). */
void session_figures(struct fs_host *host, struct fs_session *s, struct dfs_file_stats *st);
/* Is a copy into the file under way, by the figures just taken: open for
 * writing, or its last release still writing it out or syncing it. */
bool session_in_flight(struct fs_session *s, const struct dfs_file_stats *st);
/* The figures the last session ended with, and whether they are worth
 * keeping past the inode (it wrote and did not fail); and giving them to
 * an inode not yet in use (the record of forgotten files, forgotten.h). */
bool session_last(struct fs_session *s, struct dfs_file_stats *st);
void session_restore(struct fs_session *s, const struct dfs_file_stats *st);

#endif /* DFS_FS_SESSION_H */
