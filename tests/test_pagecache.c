/* SPDX-License-Identifier: MIT */
/*
 * Description: after sync, a 64 MiB file written through the engine has no
 * page in the page cache (mincore), tail included; a file written with
 * plain write() in the same place does, so the measurement can fail.  A
 * small file's close goes through the page cache within a cap, and its
 * sync leaves no page.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024 * 1024)
#define TOTAL (64 * MiB + 777)

static void write_engine(const char *name, int no_dontcache, int explicit_sync)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	char path[4200];
	dfs_engine_opts_init(&o);
	o.log = tu_log;
	o.no_dontcache = no_dontcache;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	int fd = tu_create(path, sizeof(path), name, O_RDWR);
	struct dfs_file *f;
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	close(fd);
	char *buf = malloc(MiB);
	for (size_t off = 0; off < TOTAL; off += MiB) {
		size_t n = TOTAL - off < MiB ? TOTAL - off : MiB;
		tu_pattern(buf, n, (off_t)off, 3);
		ck_assert_int_eq(dfs_file_write(f, buf, n, (off_t)off), (ssize_t)n);
	}
	if (explicit_sync)
		ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_destroy(e);
	free(buf);
	ck_assert_int_eq(tu_resident_pages(path), 0);
	/* and the bytes are right (this read fills the cache: do it last) */
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, TOTAL);
	char *want = malloc(MiB);
	for (size_t off = 0; off < TOTAL; off += MiB) {
		size_t m = TOTAL - off < MiB ? TOTAL - off : MiB;
		tu_pattern(want, m, (off_t)off, 3);
		ck_assert(memcmp(got + off, want, m) == 0);
	}
	free(want);
	free(got);
	unlink(path);
}

/*
 * A small file's close-flush goes through the page cache within the cap:
 * the bytes are in the backing file at once, the engine counts them as
 * cached, and the sync drops every page and gives the cap back.  A second
 * file that does not fit the cap is written directly instead.
 */
static void small_files(int no_dontcache)
{
	struct dfs_engine_opts o;
	struct dfs_engine_stats es;
	struct dfs_engine *e;
	struct dfs_file *f, *g;
	char p1[4200], p2[4200], buf[10000], got[10000];
	int fd;

	dfs_engine_opts_init(&o);
	o.log = tu_log;
	o.no_dontcache = no_dontcache;
	o.cached_max = 12000; /* one file of 10,000 bytes, not two */
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	fd = tu_create(p1, sizeof(p1), "small1", O_RDWR);
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	close(fd);
	fd = tu_create(p2, sizeof(p2), "small2", O_RDWR);
	ck_assert_int_eq(dfs_file_open(e, fd, &g), 0);
	close(fd);
	tu_pattern(buf, sizeof(buf), 0, 5);
	ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	ck_assert_int_eq(dfs_file_write(g, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));

	ck_assert_int_eq(dfs_file_close_flush(f), 0);
	dfs_engine_stats(e, &es);
	ck_assert_uint_eq(es.cached, sizeof(buf));
	ck_assert_int_eq(dfs_file_close_flush(g), 0); /* over the cap: direct */
	dfs_engine_stats(e, &es);
	ck_assert_uint_eq(es.cached, sizeof(buf));
	ck_assert_uint_eq(es.pending, 0);

	/* On SOURCE already, read through another descriptor. */
	fd = open(p1, O_RDONLY);
	ck_assert_int_eq(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
	close(fd);
	ck_assert(memcmp(got, buf, sizeof(buf)) == 0);

	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	dfs_engine_stats(e, &es);
	ck_assert_uint_eq(es.cached, 0);
	ck_assert_int_eq(tu_resident_pages(p1), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_int_eq(dfs_file_close(g), 0);
	ck_assert_int_eq(tu_resident_pages(p2), 0);
	dfs_engine_destroy(e);
	unlink(p1);
	unlink(p2);
}

START_TEST(test_small_file_close_cached)
{
	small_files(0);
}
END_TEST

START_TEST(test_small_file_close_cached_no_dontcache)
{
	small_files(1);
}
END_TEST

START_TEST(test_sync_leaves_no_pages)
{
	write_engine("cache-sync", 0, 1);
}
END_TEST

START_TEST(test_close_leaves_no_pages)
{
	write_engine("cache-close", 0, 0);
}
END_TEST

START_TEST(test_no_dontcache_leaves_no_pages)
{
	write_engine("cache-nodc", 1, 1);
}
END_TEST

/* The control: buffered writes do fill the cache, so mincore sees pages. */
START_TEST(test_control_buffered_fills_cache)
{
	char path[4200];
	int fd = tu_create(path, sizeof(path), "cache-control", O_RDWR);
	char *buf = calloc(1, MiB);
	for (int i = 0; i < 64; i++)
		ck_assert_int_eq(write(fd, buf, MiB), MiB);
	fsync(fd);
	close(fd);
	ck_assert_int_gt(tu_resident_pages(path), 1000);
	free(buf);
	unlink(path);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "pagecache", .odirect = true, .timeout = 120,
		.tests = (const struct tu_test[]){
			TU_TEST(test_sync_leaves_no_pages),
			TU_TEST(test_small_file_close_cached),
			TU_TEST(test_small_file_close_cached_no_dontcache),
			TU_TEST(test_close_leaves_no_pages),
			TU_TEST(test_no_dontcache_leaves_no_pages),
			TU_TEST(test_control_buffered_fills_cache),
			{ NULL },
		},
	});
}
