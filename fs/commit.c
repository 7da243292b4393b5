/* SPDX-License-Identifier: MIT */
/*
 * commit.c - group commit: the fsyncs of released files, batched.
 *
 * A copy of a tree releases one small file after another.  Fsyncing each
 * in its release would hold a FUSE thread per file for a journal commit.
 * Instead the release hands the detached engine file here (its data is on
 * SOURCE already: close() wrote it, through the page cache for a small
 * file, so a sync(2) covers it) and returns.  One committer thread lets
 * releases gather for COMMIT_GATHER_MS, takes everything queued, and makes
 * it durable FS_FINISH_BATCH files at a time with one syncfs per
 * filesystem (ofile_finish_many, dfs_file_finish_many): one journal commit
 * and one cache flush for the batch instead of one each.  Each file then
 * drops its pages, shows durable = its size, and closes.
 *
 * The queue holds a pin on each inode (taken by the release) and gives it
 * back when the file is done.  Every queued file still holds its engine
 * file's descriptors, so a release waits while as many files are pending
 * as the daemon keeps descriptors of idle inodes (inode_fds): a disk that
 * stalls slows the copy instead of running the daemon out of descriptors.
 * The queued files' descriptors are lent against the inode cache's budget
 * (ifd_lend), so idle inodes close theirs meanwhile.
 * fs_commit_stop() drains it: the daemon exits only after every queued
 * file is durable.
 *
 * Locking: c->lock guards the queue and stop; nothing else is taken under
 * it.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

/* How long a batch may gather files before its commit starts. */
#define COMMIT_GATHER_MS 10

struct commit_item {
	struct commit_item *next;
	struct fs_inode *ino;
	struct fs_ofile *of;
};

/* Make a batch durable, FS_FINISH_BATCH files at a time, and free it. */
static void commit_batch(struct fs *fs, struct commit_item *batch)
{
	struct fs_committer *c = &fs->commit;
	struct fs_inode *inos[FS_FINISH_BATCH];
	struct fs_ofile *ofs[FS_FINISH_BATCH];
	struct commit_item *it;
	size_t n;

	while (batch) {
		for (n = 0; batch && n < FS_FINISH_BATCH; n++) {
			it = batch;
			batch = it->next;
			inos[n] = it->ino;
			ofs[n] = it->of;
			free(it);
		}
		ofile_finish_many(fs, inos, ofs, n);
		ifd_unlend(&fs->ifds, n);
		for (size_t i = 0; i < n; i++)
			fs_inode_unref(fs, inos[i], 1);
		pthread_mutex_lock(&c->lock);
		assert(c->pending >= n);
		c->pending -= n;
		pthread_cond_broadcast(&c->room);
		pthread_mutex_unlock(&c->lock);
	}
}

/*
 * Under c->lock: a copy of a tree releases its files one after another;
 * give the batch a moment to grow so that one syncfs covers many files.
 * fs_commit wakes us early only for a full batch or stop.
 */
static void gather(struct fs_committer *c)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += COMMIT_GATHER_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (!c->stop && c->queued < FS_FINISH_BATCH &&
	       pthread_cond_timedwait(&c->cv, &c->lock, &until) != ETIMEDOUT)
		;
}

static void *committer_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_committer *c = &fs->commit;
	struct commit_item *batch;

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
		commit_batch(fs, batch);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int fs_commit_start(struct fs *fs)
{
	struct fs_committer *c = &fs->commit;
	pthread_condattr_t ca;
	int r;

	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&c->room, NULL);
	c->pending = 0;
	c->queued = 0;
	c->max = fs->ifds.max;
	c->head = NULL;
	c->tail = &c->head;
	c->stop = false;
	r = -pthread_create(&c->thread, NULL, committer_main, fs);
	c->running = !r;
	return r;
}

void fs_commit_stop(struct fs *fs)
{
	struct fs_committer *c = &fs->commit;

	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL); /* it drains the queue first */
	c->running = false;
	pthread_cond_destroy(&c->room);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
}

void fs_commit(struct fs *fs, struct fs_inode *ino, struct fs_ofile *of)
{
	struct fs_committer *c = &fs->commit;
	struct commit_item *it = malloc(sizeof(*it));

	if (!it || !c->running) {
		/* No committer: make it durable here. */
		free(it);
		ofile_finish(fs, ino, of);
		fs_inode_unref(fs, ino, 1);
		return;
	}
	it->next = NULL;
	it->ino = ino;
	it->of = of;
	ifd_lend(&fs->ifds, 1); /* before the committer can give it back */
	pthread_mutex_lock(&c->lock);
	while (c->pending >= c->max)
		pthread_cond_wait(&c->room, &c->lock);
	c->pending++;
	*c->tail = it;
	c->tail = &it->next;
	if (++c->queued == 1 || c->queued == FS_FINISH_BATCH)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->lock);
}
