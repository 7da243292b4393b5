/* SPDX-License-Identifier: MIT */
/*
 * Description: the global staging cap.  Writers past the cap block and
 * never fail, even when every buffer sits idle in other files' partial
 * windows (reclaim); staging memory never exceeds the cap; buffers are
 * reused, not allocated per flush; buffers lent outside the pool count.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "dfs_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB 1024
#define NWRITERS 8

struct writer {
	struct dfs_file *f;
	char path[4200];
	size_t len;
	uint32_t seed;
	int failed;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t rs = w->seed;
	char *buf = malloc(w->len);
	tu_pattern(buf, w->len, 0, w->seed);
	size_t off = 0;
	while (off < w->len) {
		size_t n = 1 + tu_rand(&rs) % (100 * KiB);
		if (n > w->len - off)
			n = w->len - off;
		if (dfs_file_write(w->f, buf + off, n, (off_t)off) != (ssize_t)n)
			w->failed = 1;
		off += n;
	}
	/* and some rewrites at random places */
	for (int i = 0; i < 50; i++) {
		size_t o = tu_rand(&rs) % w->len, n = 1 + tu_rand(&rs) % 3000;
		if (n > w->len - o)
			n = w->len - o;
		if (dfs_file_write(w->f, buf + o, n, (off_t)o) != (ssize_t)n)
			w->failed = 1;
	}
	free(buf);
	return NULL;
}

static atomic_bool sampling;
static atomic_uint_fast64_t peak;

/* The peak of bytes staged or in flight across the engine: counted from
 * the bytes written and written out, not from the pool's own count of
 * buffers, so a pool that handed out more than the cap shows here. */
static void *sampler(void *arg)
{
	struct dfs_engine *e = arg;
	while (atomic_load(&sampling)) {
		struct dfs_engine_stats st;
		dfs_engine_stats(e, &st);
		if (st.pending > atomic_load(&peak))
			atomic_store(&peak, st.pending);
		usleep(50);
	}
	return NULL;
}

START_TEST(test_writers_block_not_fail)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	tu_small_opts(&o);
	o.mem_cap = 2 * o.buf_size; /* fewer buffers than writers */
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);

	struct writer w[NWRITERS];
	pthread_t t[NWRITERS], ts;
	atomic_store(&sampling, true);
	atomic_store(&peak, 0);
	pthread_create(&ts, NULL, sampler, e);
	for (int i = 0; i < NWRITERS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "bp%d", i);
		w[i] = (struct writer){.len = 1 * 1024 * KiB + 77 * (size_t)i,
				       .seed = 100 + (uint32_t)i};
		w[i].f = tu_engine_create(e, w[i].path, sizeof(w[i].path), name);
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NWRITERS; i++) {
		ck_assert_int_eq(w[i].failed, 0);
		ck_assert_int_eq(dfs_file_close(w[i].f), 0);
	}
	atomic_store(&sampling, false);
	pthread_join(ts, NULL);
	/* Never above the cap, and the cap was reached (most of it): the
	 * writers outran the disk and had to wait. */
	ck_assert_uint_le(atomic_load(&peak), o.mem_cap);
	ck_assert_uint_gt(atomic_load(&peak), o.mem_cap / 2);
	dfs_engine_destroy(e);

	for (int i = 0; i < NWRITERS; i++) {
		size_t n;
		char *got = tu_slurp(w[i].path, &n);
		char *want = malloc(w[i].len);
		tu_pattern(want, w[i].len, 0, w[i].seed);
		ck_assert_uint_eq(n, w[i].len);
		ck_assert_msg(memcmp(got, want, n) == 0, "writer %d: bytes differ", i);
		free(got);
		free(want);
	}
}
END_TEST

/* Every buffer idle in some other file's partial window: reclaim. */
START_TEST(test_reclaim_idle_partials)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	tu_small_opts(&o);
	o.mem_cap = 4 * o.buf_size;
	o.max_staged = 4;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);

	enum { NF = 12 };
	struct dfs_file *f[NF];
	char path[NF][4200];
	for (int i = 0; i < NF; i++) {
		char name[32];
		snprintf(name, sizeof(name), "idle%d", i);
		f[i] = tu_engine_create(e, path[i], sizeof(path[i]), name);
	}
	/* Two rounds of small writes in distinct windows of every file. */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NF; i++) {
			char rec[100];
			memset(rec, 'A' + i, sizeof(rec));
			off_t off = round * 64 * KiB + 10;
			ck_assert_int_eq(dfs_file_write(f[i], rec, sizeof(rec), off),
					 100);
		}
	struct dfs_engine_stats st;
	dfs_engine_stats(e, &st);
	ck_assert_uint_le(st.mem_used, o.mem_cap);
	for (int i = 0; i < NF; i++)
		ck_assert_int_eq(dfs_file_close(f[i]), 0);
	dfs_engine_destroy(e);
	for (int i = 0; i < NF; i++) {
		size_t n;
		char *got = tu_slurp(path[i], &n);
		ck_assert_uint_eq(n, 64 * KiB + 110);
		size_t b = 0;
		for (; b < n; b++) {
			bool rec = (b >= 10 && b < 110) || b >= 64 * KiB + 10;
			if (got[b] != (rec ? 'A' + i : 0))
				break;
		}
		ck_assert_msg(b == n, "file %d: wrong byte at %zu", i, b);
		free(got);
	}
}
END_TEST

/* A long sequential stream reuses a handful of buffers. */
START_TEST(test_buffers_reused)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	tu_small_opts(&o);
	o.mem_cap = 64 * o.buf_size;
	o.depth = 2;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	char path[4200];
	struct dfs_file *f = tu_engine_create(e, path, sizeof(path), "reuse");
	char *buf = malloc(o.buf_size);
	for (int i = 0; i < 64; i++) {
		tu_pattern(buf, o.buf_size, (off_t)i * (off_t)o.buf_size, 1);
		ck_assert_int_eq(
			dfs_file_write(f, buf, o.buf_size, (off_t)i * (off_t)o.buf_size),
			(ssize_t)o.buf_size);
	}
	struct dfs_engine_stats st;
	dfs_engine_stats(e, &st);
	/* depth in flight + one full waiting + one filling, at most */
	ck_assert_uint_le(st.mem_used, (o.depth + 2) * o.buf_size);
	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_destroy(e);
	free(buf);
}
END_TEST

/* An engine of cap buffers of 1 MiB with lent of them lent out (into
 * lent[]): the pool hands out exactly want buffers, then none. */
static struct dfs_engine *lent_engine(unsigned cap, char **lent, unsigned nlent, unsigned want)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	char *got[16];

	dfs_engine_opts_init(&o);
	o.buf_size = 1024 * KiB;
	o.mem_cap = cap * o.buf_size;
	o.log = tu_log;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	for (unsigned i = 0; i < nlent; i++)
		ck_assert_ptr_nonnull(lent[i] = dfs_engine_buf_alloc(e));
	for (unsigned i = 0; i < want; i++)
		ck_assert_ptr_nonnull(got[i] = dfs_pool_try_get(e));
	ck_assert_ptr_null(dfs_pool_try_get(e));
	for (unsigned i = 0; i < want; i++)
		dfs_pool_put(e, got[i]);
	return e;
}

/*
 * Buffers lent outside the pool (a request thread's receive buffer) are
 * counted within the cap while the pool keeps four: with an 8-buffer cap
 * and three lent, the pool hands out five and then none; a lent one
 * given back makes room for one more, and a free pool buffer is the one
 * lent when the pool has any.  With a 6-buffer cap and three lent, only
 * two count: the pool keeps four.
 */
START_TEST(test_lent_counted)
{
	struct dfs_engine *e;
	char *lent[3], *got[6];

	e = lent_engine(8, lent, 3, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(got[i] = dfs_pool_try_get(e));
	dfs_engine_buf_free(e, lent[2]);
	ck_assert_ptr_nonnull(got[5] = dfs_pool_try_get(e));
	ck_assert_ptr_null(dfs_pool_try_get(e));
	/* One back to the pool, then lent again: that one, no new mapping. */
	dfs_pool_put(e, got[5]);
	ck_assert_ptr_eq(lent[2] = dfs_engine_buf_alloc(e), got[5]);
	ck_assert_ptr_null(dfs_pool_try_get(e));
	for (int i = 0; i < 5; i++)
		dfs_pool_put(e, got[i]);
	for (int i = 0; i < 3; i++)
		dfs_engine_buf_free(e, lent[i]);
	dfs_engine_destroy(e);

	e = lent_engine(6, lent, 3, 4); /* only two count: the pool keeps four */
	for (int i = 0; i < 3; i++)
		dfs_engine_buf_free(e, lent[i]);
	dfs_engine_destroy(e);
}
END_TEST

/* A pool client with one buffer to give back. */
struct one_back {
	struct dfs_client c;
	struct dfs_engine *e;
	char *buf;
};

static void give_back(struct dfs_client *c)
{
	struct one_back *o = (struct one_back *)c;

	atomic_store(&c->reclaimable, 0);
	dfs_pool_put(o->e, o->buf);
}

static void *getter(void *arg)
{
	return dfs_pool_get(arg);
}

/*
 * A getter waiting for a buffer in flight is woken when that buffer comes
 * back, even when it is not kept (the pool's share shrank meanwhile,
 * because a buffer was lent): with nothing left in flight it asks a file
 * to give one back.  Before, the getter slept on forever (seen as a cp
 * stuck in the neighbour benchmark).
 */
START_TEST(test_lent_wakes_getter)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	struct one_back ob = {0};
	char *got[5], *lent;
	pthread_t t;
	void *res;

	dfs_engine_opts_init(&o);
	o.buf_size = 1024 * KiB;
	o.mem_cap = 5 * o.buf_size;
	o.log = tu_log;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(got[i] = dfs_pool_try_get(e));
	/* got[4] is held by a file that can give it back; got[0] is in flight. */
	ob.e = e;
	ob.buf = got[4];
	ob.c.reclaim = give_back;
	atomic_store(&ob.c.reclaimable, 1);
	dfs_engine_link(e, &ob.c);
	pthread_mutex_lock(&e->lock);
	e->inflight++;
	pthread_mutex_unlock(&e->lock);
	ck_assert_int_eq(pthread_create(&t, NULL, getter, e), 0);
	usleep(100 * 1000); /* the getter waits for the buffer in flight */
	ck_assert_ptr_nonnull(lent = dfs_engine_buf_alloc(e)); /* the share shrinks to 4 */
	dfs_pool_put_written(e, got[0]);		       /* not kept: 5 > 4 */
	ck_assert_int_eq(pthread_join(t, &res), 0);
	ck_assert_ptr_eq(res, got[4]);
	dfs_pool_put(e, res);
	for (int i = 1; i < 4; i++)
		dfs_pool_put(e, got[i]);
	dfs_engine_buf_free(e, lent);
	dfs_engine_unlink(e, &ob.c);
	dfs_engine_destroy(e);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "pool", .odirect = true, .timeout = 120,
		.tests = (const struct tu_test[]){
			TU_TEST(test_writers_block_not_fail),
			TU_TEST(test_reclaim_idle_partials),
			TU_TEST(test_buffers_reused),
			TU_TEST(test_lent_counted),
			TU_TEST(test_lent_wakes_getter),
			{ NULL },
		},
	});
}
