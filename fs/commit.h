/* SPDX-License-Identifier: MIT */
/*
 * commit.h - the group commit's queue and thread (commit.c), which know
 * nothing of what they commit: session.c queues its written-out sessions
 * and says how a batch is made durable.
 *
 * Locking: c->lock guards the queue and the counts; it is a leaf (nothing
 * is taken under it) and is never held across the batch's I/O.
 */
#ifndef DFS_FS_COMMIT_H
#define DFS_FS_COMMIT_H

#include <pthread.h>
#include <stdbool.h>

/* Embedded in what is queued. */
struct fs_commit_item {
	struct fs_commit_item *next;
};

/* Makes the batch (a list through next) durable.  For each part of it
 * that is done, it calls fs_commit_done with how many items that was:
 * releases waiting for room go on as soon as there is some. */
typedef void fs_commit_fn(void *arg, struct fs_commit_item *batch);

struct fs_committer {
	pthread_mutex_t lock;
	pthread_cond_t cv;   /* work queued, or stop */
	pthread_cond_t room; /* pending fell below max */
	struct fs_commit_item *head, **tail;
	unsigned pending, max; /* queued or being committed; at most */
	unsigned queued;       /* in the queue, not yet taken */
	unsigned full;	       /* a batch this large starts at once */
	bool stop, running;
	fs_commit_fn *fn;
	void *arg;
	pthread_t thread;
};

/* Start the thread: at most max items pending (fs_commit_add waits
 * beyond that), batches gathered for a few milliseconds or until full
 * items are queued, each handed to fn(arg, batch).  0 or -errno. */
int fs_commit_start(struct fs_committer *c, unsigned max, unsigned full, fs_commit_fn *fn,
		    void *arg);
/* Drain the queue (every batch committed), then stop.  Harmless if the
 * thread never started. */
void fs_commit_stop(struct fs_committer *c);
/* Queue an item, waiting while max are pending; false when there is no
 * thread (the caller commits it itself). */
bool fs_commit_add(struct fs_committer *c, struct fs_commit_item *it);
/* From fn: n items of the batch are durable. */
void fs_commit_done(struct fs_committer *c, unsigned n);

#endif
