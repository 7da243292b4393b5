/* SPDX-License-Identifier: MIT */
/*
 * commit.c - the group commit's queue and thread (commit.h).
 *
 * A copy of a tree releases one small file after another; fsyncing each
 * in its release would hold a FUSE thread per file for a journal commit.
 * Instead each release queues its written-out file here, and one thread
 * lets releases gather for COMMIT_GATHER_MS (or until a full batch is
 * queued), takes everything queued and hands it to the committing
 * function (session.c: one syncfs per filesystem per batch).  At most max
 * items are pending: each still holds descriptors, so a disk that stalls
 * slows the copy instead of running the daemon out of them.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <time.h>

#include "commit.h"

/* How long a batch may gather items before its commit starts. */
#define COMMIT_GATHER_MS 10

/* Under c->lock: give the batch a moment to grow so that one commit
 * covers many items; woken early only for a full batch or stop. */
static void gather(struct fs_committer *c)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += COMMIT_GATHER_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!c->stop && c->queued < c->full &&
	       pthread_cond_timedwait(&c->cv, &c->lock, &until) != ETIMEDOUT)
		;
}

static void *committer_main(void *arg)
{
	struct fs_committer *c = arg;
	struct fs_commit_item *batch;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->head && !c->stop)
			pthread_cond_wait(&c->cv, &c->lock);
		if (!c->head)
			break;
		gather(c);
		batch = c->head;
		c->queued = 0;
		c->head = NULL;
		c->tail = &c->head;
		pthread_mutex_unlock(&c->lock);
		c->fn(c->arg, batch);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int fs_commit_start(struct fs_committer *c, unsigned max, unsigned full, fs_commit_fn *fn,
		    void *arg)
{
	pthread_condattr_t ca;
	int r;

	assert(max > 0 && full > 0);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->room, NULL);
	c->pending = 0;
	c->queued = 0;
	c->max = max;
	c->full = full;
	c->head = NULL;
	c->tail = &c->head;
	c->stop = false;
	c->fn = fn;
	c->arg = arg;
	r = -pthread_create(&c->thread, NULL, committer_main, c);
	c->running = !r;
	if (r) {
		pthread_cond_destroy(&c->room);
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->lock);
	}
	return r;
}

void fs_commit_stop(struct fs_committer *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL); /* it drains the queue first */
	assert(c->pending == 0);
	c->running = false;
	pthread_cond_destroy(&c->room);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
}

bool fs_commit_add(struct fs_committer *c, struct fs_commit_item *it)
{
	if (!c->running)
		return false;
	it->next = NULL;
	pthread_mutex_lock(&c->lock);
	while (c->pending >= c->max)
		pthread_cond_wait(&c->room, &c->lock);
	c->pending++;
	*c->tail = it;
	c->tail = &it->next;
	if (++c->queued == 1 || c->queued == c->full)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->lock);
	return true;
}

void fs_commit_done(struct fs_committer *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	assert(c->pending >= n);
	c->pending -= n;
	pthread_cond_broadcast(&c->room);
	pthread_mutex_unlock(&c->lock);
}
