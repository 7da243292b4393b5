/* SPDX-License-Identifier: MIT */
/*
 * Description: the daemon's record of forgotten files' last sessions
 * (fs/forgotten.h), without a mount.  A record comes back once, only while
 * the file's ctime and size are those it was kept with; a new put replaces
 * the file's record; past FS_FORGOTTEN_MAX records the oldest go first, and
 * chains stay whole when records of one bucket leave in any order.
 */
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>

#include "forgotten.h"

static struct stat file(dev_t dev, ino_t ino, long ctime_ns, off_t size)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = dev;
	st.st_ino = ino;
	st.st_ctim.tv_sec = 1000;
	st.st_ctim.tv_nsec = ctime_ns;
	st.st_size = size;
	return st;
}

static struct dfs_file_stats session(uint64_t written)
{
	struct dfs_file_stats s;

	memset(&s, 0, sizeof(s));
	s.written = s.synced = s.durable = written;
	return s;
}

START_TEST(test_take_once_if_unchanged)
{
	struct fs_forgotten m;
	struct dfs_file_stats got, s = session(4096);
	struct stat st = file(1, 42, 5, 4096), changed = file(1, 42, 6, 4096),
		    grown = file(1, 42, 5, 8192), other_dev = file(2, 42, 5, 4096);

	ck_assert_int_eq(fs_forgotten_init(&m), 0);
	fs_forgotten_put(&m, &st, &s);
	ck_assert(!fs_forgotten_take(&m, &other_dev, &got));
	ck_assert_uint_eq(m.count, 1);
	ck_assert(fs_forgotten_take(&m, &st, &got));
	ck_assert_uint_eq(got.written, 4096);
	ck_assert_uint_eq(m.count, 0);
	ck_assert(!fs_forgotten_take(&m, &st, &got)); /* once */

	/* Changed since (ctime, size): no figures, and the record is gone. */
	fs_forgotten_put(&m, &st, &s);
	ck_assert(!fs_forgotten_take(&m, &changed, &got));
	ck_assert(!fs_forgotten_take(&m, &st, &got));
	fs_forgotten_put(&m, &st, &s);
	ck_assert(!fs_forgotten_take(&m, &grown, &got));
	ck_assert_uint_eq(m.count, 0);

	/* A second put of the file replaces its record. */
	fs_forgotten_put(&m, &st, &s);
	s = session(100);
	fs_forgotten_put(&m, &changed, &s);
	ck_assert_uint_eq(m.count, 1);
	ck_assert(fs_forgotten_take(&m, &changed, &got));
	ck_assert_uint_eq(got.written, 100);
	fs_forgotten_destroy(&m);
}
END_TEST

START_TEST(test_oldest_go_first)
{
	struct fs_forgotten m;
	struct dfs_file_stats got, s;
	const ino_t n = FS_FORGOTTEN_MAX + FS_FORGOTTEN_MAX / 2;
	struct stat st;

	ck_assert_int_eq(fs_forgotten_init(&m), 0);
	for (ino_t i = 1; i <= n; i++) {
		st = file(7, i, 0, (off_t)i);
		s = session(i);
		fs_forgotten_put(&m, &st, &s);
		ck_assert_uint_le(m.count, FS_FORGOTTEN_MAX);
	}
	ck_assert_uint_eq(m.count, FS_FORGOTTEN_MAX);
	/* Every other one taken, from the newest down: the chains of the
	 * rest stay whole. */
	for (ino_t i = n; i > n - FS_FORGOTTEN_MAX; i -= 2) {
		st = file(7, i, 0, (off_t)i);
		ck_assert(fs_forgotten_take(&m, &st, &got));
		ck_assert_uint_eq(got.written, i);
	}
	for (ino_t i = 1; i <= n - FS_FORGOTTEN_MAX; i++) {
		st = file(7, i, 0, (off_t)i);
		ck_assert_msg(!fs_forgotten_take(&m, &st, &got), "inode %lu outlived %d newer records",
			      (unsigned long)i, FS_FORGOTTEN_MAX);
	}
	ck_assert_uint_eq(m.count, FS_FORGOTTEN_MAX / 2);
	for (ino_t i = n - 1; i > n - FS_FORGOTTEN_MAX; i -= 2) {
		st = file(7, i, 0, (off_t)i);
		ck_assert(fs_forgotten_take(&m, &st, &got));
		ck_assert_uint_eq(got.written, i);
	}
	ck_assert_uint_eq(m.count, 0);
	/* Freed records are used again, in turn. */
	for (ino_t i = 1; i <= 10; i++) {
		st = file(8, i, 0, 1);
		s = session(i);
		fs_forgotten_put(&m, &st, &s);
	}
	st = file(8, 3, 0, 1);
	ck_assert(fs_forgotten_take(&m, &st, &got));
	ck_assert_uint_eq(got.written, 3);
	fs_forgotten_destroy(&m);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "forgotten",
		.tests = (const struct tu_test[]){
			TU_TEST(test_take_once_if_unchanged),
			TU_TEST(test_oldest_go_first),
			{ NULL },
		},
	});
}
