/* SPDX-License-Identifier: MIT */
/*
 * lockwait.h - blocking requests on threads of their own (lockwait.c),
 * for lockops.c's F_SETLKW and blocking flock.  They know nothing of locks:
 * the caller gives the call that blocks and what to do once it is over.
 *
 * Locking: waits->lock guards the list, n and stop; it is a leaf, never
 * held across the blocking call.  Invariant (asserted): n counts the
 * waiter threads alive, each on the list until it ends.
 */
#ifndef DFS_FS_LOCKWAIT_H
#define DFS_FS_LOCKWAIT_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/queue.h>

struct fs_wait;

/* Per mount (in struct fs). */
struct fs_waits {
	pthread_mutex_t lock;
	pthread_cond_t gone; /* a waiter ended */
	LIST_HEAD(, fs_wait) list;
	unsigned n;
	bool stop;
};

/* The call that blocks: 0, or -errno (-EINTR when the wake signal came:
 * it is called again unless the request was interrupted). */
typedef int fs_wait_block_fn(void *arg);
/* Once it is over (r: its result, or -EINTR for an interrupted request):
 * must reply to the request and let go of arg. */
typedef void fs_wait_done_fn(void *arg, int r);

/* Set up the wake signal; at exit, interrupt every waiter and wait for
 * them all to end. */
int fs_waits_start(struct fs_waits *ws);
void fs_waits_stop(struct fs_waits *ws);
/* Run block(arg) for req on a thread of its own until it returns other
 * than -EINTR or the kernel interrupts req, then done(arg, r) there.
 * 0, or -errno (-ENOLCK past the waiters' limit, or at exit) when nothing
 * was started: the caller still owns arg and the reply. */
int fs_wait_start(struct fs_waits *ws, fuse_req_t req, fs_wait_block_fn *block,
		  fs_wait_done_fn *done, void *arg);

#endif
