/* SPDX-License-Identifier: MIT */
/*
 * Description: thousands of seeded random operations (write, append, read,
 * truncate, punch hole, flush, sync, reopen) on an engine file and on a
 * plain reference file must leave identical bytes, across staging
 * geometries that force reclaim, depth waits and window reuse.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "workload.h"

#include <stdlib.h>

static void run(struct dfs_engine_opts *o, uint64_t seed, int nops, off_t span,
		size_t max_len)
{
	struct workload wl = {
		.dir = tu_dir(),
		.seed = seed,
		.nops = nops,
		.span = span,
		.max_len = max_len,
		.opts = o,
	};
	ck_assert_int_eq(workload_run(&wl), nops);
}

/* 64 KiB windows, four buffers for everything, depth 1: every write path
 * that waits or reclaims is taken. */
START_TEST(test_tiny_geometry)
{
	struct dfs_engine_opts o;
	tu_small_opts(&o);
	o.depth = 1;
	o.workers = 1;
	run(&o, 1000 + (uint64_t)_i, 3000, 600 * 1024, 150 * 1024);
}
END_TEST

START_TEST(test_small_geometry)
{
	struct dfs_engine_opts o;
	tu_small_opts(&o);
	o.mem_cap = 16 * 64 * 1024;
	o.max_staged = 6;
	o.depth = 3;
	o.workers = 3;
	run(&o, 2000 + (uint64_t)_i, 3000, 1024 * 1024, 200 * 1024);
}
END_TEST

/* Buffers smaller than any one write. */
START_TEST(test_one_buffer)
{
	struct dfs_engine_opts o;
	tu_small_opts(&o);
	o.mem_cap = 64 * 1024;
	o.max_staged = 1;
	o.depth = 1;
	run(&o, 3000 + (uint64_t)_i, 1500, 400 * 1024, 100 * 1024);
}
END_TEST

START_TEST(test_default_geometry)
{
	struct dfs_engine_opts o;
	dfs_engine_opts_init(&o);
	o.log = tu_log;
	run(&o, 4000 + (uint64_t)_i, 1500, 6 * 1024 * 1024, 3 * 1024 * 1024);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "random", .odirect = true, .timeout = 300,
		.tests = (const struct tu_test[]){
			TU_LOOP(test_tiny_geometry, 0, 4),
			TU_LOOP(test_small_geometry, 0, 4),
			TU_LOOP(test_one_buffer, 0, 2),
			TU_LOOP(test_default_geometry, 0, 2),
			{ NULL },
		},
	});
}
