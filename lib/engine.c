/* SPDX-License-Identifier: MIT */
/*
 * engine.c - what the files of one mount share: the staging buffer pool
 * and its memory cap, the I/O worker threads and their queue, reclaim of
 * idle staged buffers when the cap is reached, logging and mount-wide
 * counters.  The staging itself is in stage.c.
 *
 * Back-pressure: dfs_pool_get() blocks, it never fails because of the cap.
 * While buffers are in flight it waits for one to come back; when none is
 * in flight, every buffer sits staged in some file (or as a file's spare),
 * so it asks one such file to write its oldest window out (reclaim).
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <time.h>


void dfs_engine_opts_init(struct dfs_engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->buf_size = DFS_MIB; /* the request size: whole-window writes are traded */
	o->depth = 2;
	o->mem_cap = 64 * DFS_MIB;
	o->max_staged = 4;
	o->small_max = DFS_MIB;
	o->cached_max = 32 * DFS_MIB;
	o->workers = 4;
}

int dfs_engine_opts_check(const struct dfs_engine_opts *o, const char **why)
{
	const char *msg = NULL;

	if (o->buf_size < DFS_BUF_SIZE_MIN || o->buf_size > DFS_BUF_SIZE_MAX ||
	    o->buf_size % DFS_BUF_SIZE_MIN)
		msg = "buffer size must be a multiple of 64 KiB from 64 KiB to 256 MiB";
	else if (o->depth < 1 || o->depth > DFS_DEPTH_MAX)
		msg = "depth must be 1 to 64";
	else if (o->mem_cap < o->buf_size)
		msg = "memory cap must hold at least one buffer";
	else if (o->max_staged < 1 || o->max_staged > 1024)
		msg = "staged windows per file must be 1 to 1024";
	else if (o->workers < 1 || o->workers > DFS_WORKERS_MAX)
		msg = "workers must be 1 to 64";
	if (why)
		*why = msg;
	return msg ? -EINVAL : 0;
}

void dfs_log(struct dfs_engine *e, int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dfs_vlogf(e->o.log, e->o.log_arg, level, fmt, ap);
	va_end(ap);
}

/* ---- pool ---- */

/* Every buffer has DFS_BUF_HEADROOM bytes mapped in front of it, so that
 * the pool's buffers and those dfs_file_write_swap trades are one kind. */
static char *buf_alloc(size_t size)
{
	void *p = mmap(NULL, DFS_BUF_HEADROOM + size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : (char *)p + DFS_BUF_HEADROOM;
}

static void buf_free(char *buf, size_t size)
{
	munmap(buf - DFS_BUF_HEADROOM, DFS_BUF_HEADROOM + size);
}

size_t dfs_engine_buf_size(const struct dfs_engine *e)
{
	return e->o.buf_size;
}

/* A lent buffer is back (or could not be had): the pool's share grows
 * again if it was counted. */
static void lent_back(struct dfs_engine *e)
{
	pthread_mutex_lock(&e->lock);
	assert(e->lent > 0 && e->lent_counted <= e->lent);
	e->lent--;
	if (e->lent_counted > e->lent) {
		e->lent_counted--;
		e->cap_bufs++;
		pthread_cond_broadcast(&e->pool_cv); /* room for one more */
	}
	pthread_mutex_unlock(&e->lock);
}

/* The pool keeps at least this many buffers of mem_cap for itself
 * whatever is lent out: a writer's window and double buffering. */
#define POOL_MIN 4

/* Lent buffers (a request thread's receive buffer) are counted within
 * mem_cap while the pool keeps POOL_MIN: the pool's share shrinks by one,
 * and a free pool buffer, if any, is the one lent.  Trades swap buffers
 * one for one, so the counts stay true whichever buffer comes back. */
char *dfs_engine_buf_alloc(struct dfs_engine *e)
{
	char *b = NULL;

	pthread_mutex_lock(&e->lock);
	e->lent++;
	if (e->cap_bufs > POOL_MIN) {
		e->cap_bufs--;
		e->lent_counted++;
		if (e->nfree && e->nalloc > e->cap_bufs) {
			b = e->free_bufs[--e->nfree];
			e->nalloc--;
		}
	}
	pthread_mutex_unlock(&e->lock);
	if (!b)
		b = buf_alloc(e->o.buf_size);
	if (!b)
		lent_back(e);
	return b;
}

void dfs_engine_buf_free(struct dfs_engine *e, char *buf)
{
	if (!buf)
		return;
	lent_back(e);
	buf_free(buf, e->o.buf_size);
}

/* Under e->lock: a free or newly allocatable buffer, or NULL. */
static char *pool_take_locked(struct dfs_engine *e, bool *must_alloc)
{
	*must_alloc = false;
	if (e->nfree)
		return e->free_bufs[--e->nfree];
	if (e->nalloc < e->cap_bufs) {
		e->nalloc++;
		*must_alloc = true;
	}
	return NULL;
}

static char *pool_alloc_reserved(struct dfs_engine *e)
{
	char *b = buf_alloc(e->o.buf_size);
	if (!b) {
		pthread_mutex_lock(&e->lock);
		e->nalloc--;
		pthread_cond_broadcast(&e->pool_cv);
		pthread_mutex_unlock(&e->lock);
	}
	return b;
}

char *dfs_pool_try_get(struct dfs_engine *e)
{
	bool must_alloc;

	pthread_mutex_lock(&e->lock);
	char *b = pool_take_locked(e, &must_alloc);
	pthread_mutex_unlock(&e->lock);
	return must_alloc ? pool_alloc_reserved(e) : b;
}

/* Under e->lock: a client with something to reclaim, pinned. */
static struct dfs_client *pick_victim_locked(struct dfs_engine *e)
{
	struct dfs_client *start =
		e->reclaim_cursor ? e->reclaim_cursor : LIST_FIRST(&e->clients);
	struct dfs_client *c = start;

	if (!c)
		return NULL;
	do {
		struct dfs_client *next =
			LIST_NEXT(c, link) ? LIST_NEXT(c, link) : LIST_FIRST(&e->clients);
		if (!c->dying && atomic_load(&c->reclaimable)) {
			e->reclaim_cursor = next;
			c->refs++;
			return c;
		}
		c = next;
	} while (c != start);
	return NULL;
}

char *dfs_pool_get(struct dfs_engine *e)
{
	bool must_alloc;
	char *b;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		b = pool_take_locked(e, &must_alloc);
		if (b || must_alloc)
			break;
		if (e->inflight) {
			pthread_cond_wait(&e->pool_cv, &e->lock);
			continue;
		}
		struct dfs_client *victim = pick_victim_locked(e);
		if (!victim) {
			/* Buffers are between a pool get and a window: they
			 * show up in a moment. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 10 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&e->pool_cv, &e->lock, &ts);
			continue;
		}
		pthread_mutex_unlock(&e->lock);
		victim->reclaim(victim);
		pthread_mutex_lock(&e->lock);
		if (--victim->refs == 0 && victim->dying)
			pthread_cond_broadcast(&e->refs_cv);
	}
	pthread_mutex_unlock(&e->lock);
	return must_alloc ? pool_alloc_reserved(e) : b;
}

static void pool_put_locked(struct dfs_engine *e, char *buf)
{
	if (e->nalloc > e->cap_bufs) { /* the pool's share shrank: a buffer was lent */
		e->nalloc--;
		buf_free(buf, e->o.buf_size); /* rare: once per lent buffer */
	} else {
		assert(e->nfree < e->cap_bufs);
		e->free_bufs[e->nfree++] = buf;
	}
	/* Either way: a waiter looks again (with nothing left in flight, it
	 * asks a file to give a buffer back). */
	pthread_cond_broadcast(&e->pool_cv);
}

void dfs_pool_put(struct dfs_engine *e, char *buf)
{
	pthread_mutex_lock(&e->lock);
	pool_put_locked(e, buf);
	pthread_mutex_unlock(&e->lock);
}

void dfs_pool_put_written(struct dfs_engine *e, char *buf)
{
	pthread_mutex_lock(&e->lock);
	e->inflight--;
	pool_put_locked(e, buf);
	pthread_mutex_unlock(&e->lock);
}

/* ---- workers ---- */

void dfs_engine_enqueue(struct dfs_engine *e, struct dfs_job *job)
{
	pthread_mutex_lock(&e->lock);
	job->next = NULL;
	if (e->qtail)
		e->qtail->next = job;
	else
		e->qhead = job;
	e->qtail = job;
	e->inflight++;
	pthread_cond_signal(&e->queue_cv);
	pthread_mutex_unlock(&e->lock);
}

void dfs_engine_job_done(struct dfs_engine *e)
{
	pthread_mutex_lock(&e->lock);
	assert(e->inflight > 0);
	e->inflight--;
	pthread_cond_broadcast(&e->pool_cv); /* a waiter looks for a victim */
	pthread_mutex_unlock(&e->lock);
}

void dfs_engine_run_here(struct dfs_engine *e, struct dfs_job *job)
{
	pthread_mutex_lock(&e->lock);
	e->inflight++; /* as if queued: its completion gives it back */
	pthread_mutex_unlock(&e->lock);
	job->run(job);
}

static void *worker_main(void *arg)
{
	struct dfs_engine *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		while (!e->qhead && !e->stop)
			pthread_cond_wait(&e->queue_cv, &e->lock);
		if (!e->qhead)
			break;
		struct dfs_job *job = e->qhead;
		e->qhead = job->next;
		if (!e->qhead)
			e->qtail = NULL;
		pthread_mutex_unlock(&e->lock);
		job->run(job);
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

/* ---- pool clients ---- */

void dfs_engine_link(struct dfs_engine *e, struct dfs_client *c)
{
	pthread_mutex_lock(&e->lock);
	LIST_INSERT_HEAD(&e->clients, c, link);
	e->nfiles++;
	pthread_mutex_unlock(&e->lock);
}

void dfs_engine_unlink(struct dfs_engine *e, struct dfs_client *c)
{
	pthread_mutex_lock(&e->lock);
	c->dying = true;
	while (c->refs)
		pthread_cond_wait(&e->refs_cv, &e->lock);
	if (e->reclaim_cursor == c)
		e->reclaim_cursor = LIST_NEXT(c, link);
	LIST_REMOVE(c, link);
	assert(e->nfiles > 0);
	e->nfiles--;
	pthread_mutex_unlock(&e->lock);
}

/* ---- engine ---- */

static void engine_free(struct dfs_engine *e)
{
	for (size_t i = 0; i < e->nfree; i++)
		buf_free(e->free_bufs[i], e->o.buf_size);
	free(e->free_bufs);
	free(e->threads);
	pthread_cond_destroy(&e->refs_cv);
	pthread_cond_destroy(&e->queue_cv);
	pthread_cond_destroy(&e->pool_cv);
	pthread_mutex_destroy(&e->rate_lock);
	pthread_cond_destroy(&e->pace_cv);
	pthread_mutex_destroy(&e->pace_lock);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

static void engine_stop_workers(struct dfs_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_broadcast(&e->queue_cv);
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < e->nthreads; i++)
		pthread_join(e->threads[i], NULL);
	e->nthreads = 0;
}

int dfs_engine_create(const struct dfs_engine_opts *o, struct dfs_engine **out)
{
	int err = dfs_engine_opts_check(o, NULL);
	if (err)
		return err;

	struct dfs_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->o = *o;
	e->io = o->io ? o->io : dfs_io_default();
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->rate_lock, NULL);
	pthread_cond_init(&e->pool_cv, NULL);
	pthread_cond_init(&e->queue_cv, NULL);
	pthread_cond_init(&e->refs_cv, NULL);
	pthread_mutex_init(&e->pace_lock, NULL);
	pthread_cond_init(&e->pace_cv, NULL);
	LIST_INIT(&e->clients);
	e->cap_bufs = o->mem_cap / o->buf_size;
	e->free_bufs = calloc(e->cap_bufs, sizeof(*e->free_bufs));
	e->threads = calloc(o->workers, sizeof(*e->threads));
	if (!e->free_bufs || !e->threads) {
		engine_free(e);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < o->workers; i++) {
		err = -pthread_create(&e->threads[i], NULL, worker_main, e);
		if (err) {
			engine_stop_workers(e);
			engine_free(e);
			return err;
		}
		e->nthreads++;
	}
	*out = e;
	return 0;
}

void dfs_engine_destroy(struct dfs_engine *e)
{
	if (!e)
		return;
	if (e->nfiles)
		dfs_log(e, LOG_ERR, "engine destroyed with %llu files open",
			(unsigned long long)e->nfiles);
	engine_stop_workers(e);
	engine_free(e);
}

uint64_t dfs_engine_now(const struct dfs_engine *e)
{
	struct timespec ts;

	if (e->o.now_ns)
		return e->o.now_ns();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The mount-wide rate is the one directfs-progress shows for any target:
 * how fast written grows.  Bytes are counted per slot of DFS_RATE_SLOT_NS
 * in a ring, a slot whose time has passed being reused; the rate is what
 * the current slot and the DFS_RATE_SPAN - 1 before it hold, over the
 * time they span (0.75 to 1 s).  A second without a write makes it 0.
 */
void dfs_engine_count_rate(struct dfs_engine *e, uint64_t n)
{
	uint64_t slot = dfs_engine_now(e) / DFS_RATE_SLOT_NS;

	pthread_mutex_lock(&e->rate_lock);
	unsigned i = (unsigned)(slot % DFS_RATE_SLOTS);
	if (e->rate[i].slot != slot) {
		e->rate[i].slot = slot;
		e->rate[i].bytes = 0;
	}
	e->rate[i].bytes += n;
	pthread_mutex_unlock(&e->rate_lock);
}

static uint64_t rate_now(struct dfs_engine *e)
{
	uint64_t now = dfs_engine_now(e), slot = now / DFS_RATE_SLOT_NS, sum = 0;

	pthread_mutex_lock(&e->rate_lock);
	for (unsigned i = 0; i < DFS_RATE_SLOTS; i++)
		if (e->rate[i].slot <= slot && e->rate[i].slot + DFS_RATE_SPAN > slot)
			sum += e->rate[i].bytes;
	pthread_mutex_unlock(&e->rate_lock);
	double span = (double)((DFS_RATE_SPAN - 1) * (uint64_t)DFS_RATE_SLOT_NS +
			       now % DFS_RATE_SLOT_NS) /
		      1e9;
	return (uint64_t)((double)sum / span);
}

void dfs_engine_stats(struct dfs_engine *e, struct dfs_engine_stats *st)
{
	pthread_mutex_lock(&e->lock);
	st->open_files = e->nfiles;
	st->mem_used = (uint64_t)e->nalloc * e->o.buf_size;
	pthread_mutex_unlock(&e->lock);
	st->written = atomic_load(&e->written);
	st->synced = atomic_load(&e->synced);
	st->durable = atomic_load(&e->durable);
	st->pending = atomic_load(&e->pending);
	st->fallback_files = atomic_load(&e->fallback_files);
	st->error_files = atomic_load(&e->error_files);
	st->cached = atomic_load(&e->cached);
	st->rate = rate_now(e);
	pthread_mutex_lock(&e->pace_lock);
	st->yielded = e->pace_shared_count;
	st->yielding = dfs_engine_now(e) < e->pace.shared_until;
	pthread_mutex_unlock(&e->pace_lock);
}

const char *dfs_state_string(const struct dfs_file_stats *st, char *buf, size_t len)
{
	dfs_state_format(st->state, st->error, buf, len);
	return buf;
}
