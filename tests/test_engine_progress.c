/* SPDX-License-Identifier: MIT */
/*
 * Description: engine unit tests, figures and states: the state words and the progress protocol,
 * per-file and mount-wide counters, no fsync of a clean file, the
 * figures while a write runs, the files in flight, the rate.
 */
#define _GNU_SOURCE
#include "fault_io.h"
#include "testutil.h"
#include "engine_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <linux/falloc.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

START_TEST(test_state_strings)
{
	struct dfs_file_stats st = {0};
	char buf[64];
	st.state = DFS_STATE_IDLE;
	ck_assert_str_eq(dfs_state_string(&st, buf, sizeof(buf)), "idle");
	st.state = DFS_STATE_SYNCING;
	ck_assert_str_eq(dfs_state_string(&st, buf, sizeof(buf)), "syncing");
	st.state = DFS_STATE_ERROR;
	st.error = -ENOSPC;
	ck_assert_str_eq(dfs_state_string(&st, buf, sizeof(buf)), "error:ENOSPC");
	st.error = -EDQUOT;
	ck_assert_str_eq(dfs_state_string(&st, buf, sizeof(buf)), "error:EDQUOT");
}
END_TEST

/* What the daemon formats, directfs-progress parses back, for every state
 * and the errors a copy meets; and nothing else parses. */
START_TEST(test_progress_protocol)
{
	const int errs[] = {0, -ENOSPC, -EIO, -EDQUOT, -EROFS};
	enum dfs_state st;
	char buf[64];
	int err;

	for (int s = 0; s < DFS_STATE_COUNT; s++)
		for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
			int e = s == DFS_STATE_ERROR ? errs[i] : 0;
			int n = dfs_state_format((enum dfs_state)s, e, buf, sizeof(buf));

			ck_assert_int_eq(n, (int)strlen(buf));
			ck_assert_int_eq(dfs_state_parse(buf, &st, &err), 0);
			ck_assert_int_eq(st, s);
			ck_assert_int_eq(err, e);
		}
	dfs_state_format(DFS_STATE_ERROR, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "error"); /* the mount root's */
	ck_assert_int_eq(dfs_state_parse("error:ENOSUCH", &st, &err), -EINVAL);
	ck_assert_int_eq(dfs_state_parse("idler", &st, &err), -EINVAL);
	ck_assert_int_eq(dfs_state_parse("", &st, &err), -EINVAL);
	ck_assert_int_eq(dfs_state_parse("idle:EIO", &st, &err), -EINVAL);

	/* Every name is under the prefix, distinct, and looks itself up. */
	for (int a = 0; a < DFS_ATTR_COUNT; a++) {
		const char *name = dfs_attr_name((enum dfs_attr)a);

		ck_assert(dfs_attr_is_ours(name));
		ck_assert_int_eq(dfs_attr_lookup(name), a);
	}
	ck_assert_str_eq(dfs_attr_name(DFS_ATTR_DURABLE), "user.directfs.durable");
	ck_assert_int_eq(dfs_attr_lookup("user.directfs.nosuch"), -1);
	ck_assert(dfs_attr_is_ours("user.directfs.nosuch"));
	ck_assert(!dfs_attr_is_ours("user.other"));
	ck_assert(!dfs_attr_is_ours("user.directfs"));
	/* Checksum tags are SOURCE's, under the prefix or not. */
	ck_assert(!dfs_attr_is_ours("user.directfs.xxh128"));
	ck_assert(!dfs_attr_is_ours("user.directfs.xxh128.ts"));
	ck_assert(dfs_attr_is_ours("user.directfs.sha256"));
}
END_TEST

START_TEST(test_engine_counters)
{
	char p1[4200], p2[4200];
	struct dfs_file *a = ecreate(p1, sizeof(p1), "c1");
	struct dfs_file *b = ecreate(p2, sizeof(p2), "c2");
	char buf[10000];
	memset(buf, 'q', sizeof(buf));
	dfs_file_write(a, buf, 6000, 0);
	dfs_file_write(b, buf, 10000, 0);
	struct dfs_engine_stats es;
	dfs_engine_stats(eng, &es);
	ck_assert_uint_eq(es.open_files, 2);
	ck_assert_uint_eq(es.written, 16000);
	ck_assert_uint_eq(es.pending, 16000);
	ck_assert_uint_eq(es.durable, 0);
	ck_assert_int_eq(dfs_file_close(a), 0);
	ck_assert_int_eq(dfs_file_close(b), 0);
	dfs_engine_stats(eng, &es);
	ck_assert_uint_eq(es.open_files, 0);
	ck_assert_uint_eq(es.pending, 0);
	ck_assert_uint_eq(es.synced, 16000);
	ck_assert_uint_eq(es.durable, 16000);
}
END_TEST

/* Release must not fsync a file nobody changed since its last fsync (a
 * reader's open, close=sync's flush then release), and must fsync one
 * that was written, truncated or allocated since. */
START_TEST(test_finish_skips_clean)
{
	char path[4200], buf[5000];
	memset(buf, 'f', sizeof(buf));
	struct dfs_file *f = ecreate(path, sizeof(path), "clean");
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_eq(fsyncs(), 0);

	f = eopen(path, O_RDWR);
	ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), sizeof(buf));
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_uint_eq(fsyncs(), 1);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	ck_assert_uint_eq(fsyncs(), 1);
	ck_assert_int_eq(dfs_file_write(f, buf, 100, 7000), 100);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	ck_assert_uint_eq(fsyncs(), 2);
	ck_assert_int_eq(dfs_file_truncate(f, 10), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_eq(fsyncs(), 3);
	assert_disk(path, buf, 10);

	/* Opened read-write and only read: no fsync. */
	f = eopen(path, O_RDWR);
	char got[10];
	ck_assert_int_eq(dfs_file_read(f, got, sizeof(got), 0), 10);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_eq(fsyncs(), 3);

	/* An error is still reported by a clean file's finish. */
	f = eopen(path, O_RDWR);
	fault_io_add(&fio, (struct fi_rule){.op = FI_FSYNC, .count = 1, .err = EIO});
	ck_assert_int_eq(dfs_file_write(f, buf, 1, 0), 1);
	ck_assert_int_eq(dfs_file_sync(f, 0), -EIO);
	ck_assert_int_eq(dfs_file_finish(f), -EIO);
	ck_assert_int_eq(dfs_file_close(f), -EIO);
}
END_TEST

/* While a window's write is held at the disk, the stats are readable and
 * say so; after finish they say everything is durable. */
START_TEST(test_stats_during_write)
{
	char path[4200];
	size_t len = 2 * MiB + 100;
	char *buf = malloc(len);
	memset(buf, 's', len);
	struct dfs_file *f = ecreate(path, sizeof(path), "stats");
	struct dfs_file_stats st;

	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, buf, len, 0), (ssize_t)len);
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.written, len);
	ck_assert_uint_eq(st.synced + st.pending, len);
	ck_assert_int_eq(st.size, (off_t)len);
	ck_assert_int_eq(st.state, DFS_STATE_WRITING);
	fault_io_wait_held(&fio, 1);
	dfs_file_stats(f, &st); /* the write is held: must not wait for it */
	ck_assert_uint_gt(st.pending, 0);
	fault_io_hold(&fio, false);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.synced, len);
	ck_assert_uint_eq(st.durable, len);
	ck_assert_int_eq(st.state, DFS_STATE_IDLE);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, buf, len);
	free(buf);
}
END_TEST

/* The root's list of files in flight: lines that read back as written,
 * whatever the name holds, and nothing else parses. */
START_TEST(test_flight_lines)
{
	struct dfs_flight in = {.written = 5000000, .durable = 4194304, .pending = 805696,
				.st = DFS_STATE_ERROR, .err = -ENOSPC},
			  out;
	unsigned long long more = 0;
	char buf[9000];
	const char *p;

	strcpy(in.path, " dir\\a b\nc\\n");
	int n = dfs_flight_format(&in, buf, sizeof(buf));
	ck_assert_str_eq(buf, "5000000 4194304 805696 error:ENOSPC  dir\\\\a b\\nc\\\\n\n");
	ck_assert_int_eq(n, (int)strlen(buf));
	strcat(buf, "+7\n");
	p = buf;
	ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), 1);
	ck_assert_uint_eq(out.written, in.written);
	ck_assert_uint_eq(out.durable, in.durable);
	ck_assert_uint_eq(out.pending, in.pending);
	ck_assert_int_eq(out.st, DFS_STATE_ERROR);
	ck_assert_int_eq(out.err, -ENOSPC);
	ck_assert_str_eq(out.path, in.path);
	ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), 2);
	ck_assert_uint_eq(more, 7);
	ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), 0);
	/* Too small a buffer: the length it needs, a terminated prefix. */
	ck_assert_int_eq(dfs_flight_format(&in, buf, 10), n);
	ck_assert_uint_eq(strlen(buf), 9);
	/* Not lines of the list. */
	const char *bad[] = {"1 2 3 idle\n", "1 2 3 idle \n", "1 2 3 busy a\n",
			     "1 2 idle a\n", "1 2 3 idle a\\x\n", "1 2 3 idle a\\", "+\n",
			     "+3x\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = bad[i];
		ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), -EINVAL);
	}
	/* The last line may lack its newline. */
	p = "1 2 3 writing x";
	ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), 1);
	ck_assert_str_eq(out.path, "x");
	ck_assert_int_eq(out.st, DFS_STATE_WRITING);
	ck_assert_int_eq(dfs_flight_parse(&p, &out, &more), 0);
}
END_TEST

static _Atomic uint64_t fake_now;
static uint64_t fake_clock(void)
{
	return fake_now;
}

/* The mount-wide rate: written's growth over the last second (the current
 * quarter and the three before it), counted when the write is taken, and
 * 0 a second after the last write. */
START_TEST(test_rate)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e2;
	struct dfs_engine_stats es;
	char path[4200];

	setup_opts(&o);
	o.now_ns = fake_clock;
	fake_now = 100ull * 1000000000u;
	ck_assert_int_eq(dfs_engine_create(&o, &e2), 0);
	dfs_engine_stats(e2, &es);
	ck_assert_uint_eq(es.rate, 0);

	struct dfs_file *f = tu_engine_create(e2, path, sizeof(path), "rate");
	size_t len = 3 * MiB;
	char *buf = malloc(len);
	memset(buf, 'r', len);
	ck_assert_int_eq(dfs_file_write(f, buf, len, 0), (ssize_t)len);
	/* At once, still staged: counted already, over 0.75 s. */
	dfs_engine_stats(e2, &es);
	ck_assert_uint_eq(es.rate, (uint64_t)(3.0 * MiB / 0.75));
	ck_assert_int_eq(dfs_file_flush(f), 0);
	/* Written out later, it is not counted again. */
	fake_now += 500000000u;
	dfs_engine_stats(e2, &es);
	ck_assert_uint_eq(es.rate, (uint64_t)(3.0 * MiB / 0.75));
	/* 0.9 s after: over 0.9 s; a second after: 0. */
	fake_now += 400000000u;
	dfs_engine_stats(e2, &es);
	ck_assert_uint_eq(es.rate, (uint64_t)(3.0 * MiB / 0.9));
	fake_now += 100000000u;
	dfs_engine_stats(e2, &es);
	ck_assert_uint_eq(es.rate, 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_destroy(e2);
	free(buf);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "engine_progress", .odirect = true, .timeout = 120,
		.setup = setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_state_strings),
			TU_TEST(test_progress_protocol),
			TU_TEST(test_engine_counters),
			TU_TEST(test_finish_skips_clean),
			TU_TEST(test_stats_during_write),
			TU_TEST(test_flight_lines),
			TU_TEST(test_rate),
			{ NULL },
		},
	});
}
