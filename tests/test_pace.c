/* SPDX-License-Identifier: MIT */
/*
 * Description: yielding the disk to other programs (lib/pace.c).  A fake
 * disk's counters are the engine's own I/O plus what the test says the
 * others did per sample.  Alone (only the engine's own I/O, or a journal
 * commit's two flushes) the engine never yields and its workers write
 * side by side; with others committing (three flushes or more per
 * sample), writing (beyond 4 MiB) or reading (beyond 256 KiB) it yields:
 * one O_DIRECT write at a time, and the mount's figures say so.  A disk without counters is
 * never yielded to.  The bytes always arrive intact.
 */
#define _GNU_SOURCE
#include "fault_io.h"
#include "testutil.h"
#include "engine_fixture.h"
#include "dfs_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* What the others do to the fake disk per sample, and the calls seen. */
static struct {
	uint64_t read, write, flushes;
	int fail; /* -errno from every call */
	atomic_int calls;
	uint64_t dev_r, dev_w, dev_f; /* the others' share so far */
} other;

static int fake_counts(void *arg, struct dfs_dev_counts *c)
{
	struct dfs_engine *e = *(struct dfs_engine **)arg;

	atomic_fetch_add(&other.calls, 1);
	if (other.fail)
		return other.fail;
	other.dev_r += other.read;
	other.dev_w += other.write;
	other.dev_f += other.flushes;
	c->read_bytes = atomic_load(&e->own_read_bytes) + other.dev_r;
	c->write_bytes = atomic_load(&e->own_write_bytes) + other.dev_w;
	c->flushes = 2 * atomic_load(&e->own_flushes) + other.dev_f;
	return 0;
}

static struct dfs_engine *peng;

/* The fixture's engine (eng, over fio) with windows of buf_size and the
 * fake disk's counters. */
static void pace_engine(size_t buf_size)
{
	struct dfs_engine_opts o;

	setup_opts(&o);
	o.buf_size = buf_size;
	o.dev_counts = fake_counts;
	o.dev_arg = &peng;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
	peng = eng;
}

static void pace_setup(void)
{
	memset(&other, 0, sizeof(other));
	pace_engine(MiB);
}

#define NFILES 3
#define WINDOWS 4

/* Write WINDOWS whole windows into each of NFILES files, with at least
 * two samples of the disk between the first writes and the rest, then
 * flush and check the bytes; the figures at the end into st. */
static void write_files(struct dfs_engine_stats *st)
{
	char path[NFILES][4200], *want = malloc(WINDOWS * MiB);
	struct dfs_file *f[NFILES];

	tu_pattern(want, WINDOWS * MiB, 0, 31);
	for (int i = 0; i < NFILES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		f[i] = ecreate(path[i], sizeof(path[i]), name);
	}
	for (int w = 0; w < WINDOWS; w++) {
		for (int i = 0; i < NFILES; i++)
			ck_assert_int_eq(dfs_file_write(f[i], want + w * MiB, MiB, (off_t)w * MiB),
					 MiB);
		if (w < 2)
			usleep(120 * 1000); /* a sample's time: the next write samples */
	}
	for (int i = 0; i < NFILES; i++) {
		ck_assert_int_eq(dfs_file_flush(f[i]), 0);
		ck_assert_int_eq(dfs_file_close(f[i]), 0);
		assert_disk(path[i], want, WINDOWS * MiB);
	}
	ck_assert_int_ge(atomic_load(&other.calls), 2);
	dfs_engine_stats(eng, st);
	free(want);
}

/* Alone: no yielding, and the workers write side by side (two O_DIRECT
 * writes held at the gate at once). */
START_TEST(test_alone)
{
	struct dfs_engine_stats st;
	char path[4200], *buf = malloc(4 * MiB);
	struct dfs_file *f = ecreate(path, sizeof(path), "alone");

	write_files(&st);
	ck_assert_uint_eq(st.yielded, 0);
	ck_assert_int_eq(st.yielding, 0);
	/* Two files' windows in flight at once. */
	struct dfs_file *g = ecreate(path, sizeof(path), "alone2");
	tu_pattern(buf, 4 * MiB, 0, 32);
	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, buf, MiB, 0), MiB);
	ck_assert_int_eq(dfs_file_write(f, buf, MiB, MiB), MiB);
	ck_assert_int_eq(dfs_file_write(g, buf, MiB, 0), MiB);
	ck_assert_int_eq(dfs_file_write(g, buf, MiB, MiB), MiB);
	fault_io_wait_held(&fio, 2);
	fault_io_hold(&fio, false);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_int_eq(dfs_file_close(g), 0);
	free(buf);
}
END_TEST

/* A journal commit of the filesystem's own (two flushes a sample) and
 * writes and reads within the slack are not others. */
START_TEST(test_slack)
{
	struct dfs_engine_stats st;

	other.flushes = 2;
	other.write = 4u << 20;
	other.read = 256u << 10;
	write_files(&st);
	ck_assert_uint_eq(st.yielded, 0);
}
END_TEST

/* Others committing: the engine yields, one O_DIRECT write at a time. */
START_TEST(test_committer)
{
	struct dfs_engine_stats st;

	other.flushes = 3;
	write_files(&st);
	ck_assert_uint_ge(st.yielded, 1);
	ck_assert_int_eq(st.yielding, 1);

	/* Now yielding: a batch of windows goes one at a time. */
	char path[NFILES][4200], *buf = malloc(MiB);
	struct dfs_file *f[NFILES];
	tu_pattern(buf, MiB, 0, 33);
	pthread_mutex_lock(&fio.lock);
	fio.max_in_direct = 0;
	pthread_mutex_unlock(&fio.lock);
	for (int i = 0; i < NFILES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "q%d", i);
		f[i] = ecreate(path[i], sizeof(path[i]), name);
	}
	for (int w = 0; w < WINDOWS; w++)
		for (int i = 0; i < NFILES; i++)
			ck_assert_int_eq(dfs_file_write(f[i], buf, MiB, (off_t)w * MiB), MiB);
	for (int i = 0; i < NFILES; i++)
		ck_assert_int_eq(dfs_file_flush(f[i]), 0);
	pthread_mutex_lock(&fio.lock);
	int most = fio.max_in_direct;
	pthread_mutex_unlock(&fio.lock);
	ck_assert_msg(most == 1, "%d O_DIRECT writes at once while yielding", most);
	for (int i = 0; i < NFILES; i++)
		ck_assert_int_eq(dfs_file_close(f[i]), 0);
	free(buf);
}
END_TEST

/* Others writing beyond the slack, or reading beyond it: yields too
 * (one case per loop index). */
START_TEST(test_others_io)
{
	struct dfs_engine_stats st;

	if (_i == 0)
		other.write = 5u << 20;
	else
		other.read = 300u << 10;
	write_files(&st);
	ck_assert_uint_ge(st.yielded, 1);
}
END_TEST

/* Windows larger than a grain: alone, a window goes in one write; while
 * yielding, a grain at a time, one after another, and after each the
 * disk is left alone at least DFS_PACE_REST times as long as the write
 * took.  The bytes arrive intact. */
START_TEST(test_grains)
{
	const size_t win = 4 * DFS_PACE_GRAIN;
	char path[4200], *buf = malloc(2 * win);
	struct dfs_file *f;

	dfs_engine_destroy(eng); /* the fixture's, with windows of a grain */
	fault_io_destroy(&fio);
	pace_engine(win);
	tu_pattern(buf, 2 * win, 0, 34);

	f = ecreate(path, sizeof(path), "alone");
	ck_assert_int_eq(dfs_file_write(f, buf, win, 0), (ssize_t)win);
	ck_assert_int_eq(dfs_file_flush(f), 0);
	ck_assert_uint_eq(fio.max_direct_len, win);
	ck_assert_int_eq(dfs_file_close(f), 0);

	/* Others commit from now on: two samples to see them. */
	other.flushes = 3;
	dfs_pace_leave(eng, dfs_pace_enter(eng), dfs_engine_now(eng));
	usleep(120 * 1000);
	dfs_pace_leave(eng, dfs_pace_enter(eng), dfs_engine_now(eng));
	ck_assert_uint_eq(eng->pace_shared_count, 1);

	pthread_mutex_lock(&fio.lock);
	fio.max_direct_len = 0;
	fio.max_in_direct = 0;
	fio.ndlog = 0;
	pthread_mutex_unlock(&fio.lock);
	f = ecreate(path, sizeof(path), "yielding");
	ck_assert_int_eq(dfs_file_write(f, buf, 2 * win, 0), (ssize_t)(2 * win));
	ck_assert_int_eq(dfs_file_flush(f), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, buf, 2 * win);
	pthread_mutex_lock(&fio.lock);
	ck_assert_uint_eq(fio.max_direct_len, DFS_PACE_GRAIN);
	ck_assert_int_eq(fio.max_in_direct, 1);
	ck_assert_int_eq(fio.ndlog, 8);
	for (int i = 1; i < fio.ndlog; i++) {
		unsigned long long took = fio.dlog[i - 1].end - fio.dlog[i - 1].start;
		unsigned long long rest = fio.dlog[i].start - fio.dlog[i - 1].end;

		/* One after another in time, whichever worker wrote it. */
		ck_assert_uint_ge(fio.dlog[i].start, fio.dlog[i - 1].end);
		ck_assert_msg(rest >= DFS_PACE_REST * took,
			      "grain %d: rested %llu ns after a write of %llu ns", i, rest, took);
	}
	pthread_mutex_unlock(&fio.lock);
	free(buf);
}
END_TEST

/* A disk whose counters cannot be read is never yielded to. */
START_TEST(test_no_counters)
{
	struct dfs_engine_stats st;

	other.flushes = 100;
	other.fail = -ENOENT;
	write_files(&st);
	ck_assert_uint_eq(st.yielded, 0);
	ck_assert_int_eq(st.yielding, 0);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "pace", .odirect = true, .timeout = 120,
		.setup = pace_setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_alone),
			TU_TEST(test_slack),
			TU_TEST(test_committer),
			TU_LOOP(test_others_io, 0, 2),
			TU_TEST(test_grains),
			TU_TEST(test_no_counters),
			{ NULL },
		},
	});
}
