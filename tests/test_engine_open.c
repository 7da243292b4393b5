/* SPDX-License-Identifier: MIT */
/*
 * Description: engine unit tests, descriptors and fallback: access modes, bad arguments, the tail
 * without RWF_DONTCACHE, O_DIRECT refused at open or at run time (ramfs),
 * no O_DIRECT descriptor to be had.
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

START_TEST(test_descriptor_modes)
{
	char path[4200];
	int fd = tu_create(path, sizeof(path), "modes", O_RDWR);
	ck_assert_int_eq(pwrite(fd, "0123456789", 10, 0), 10);
	close(fd);

	/* Read-only: writes are refused, reads work. */
	struct dfs_file *f = eopen(path, O_RDONLY);
	char buf[16] = {0};
	ck_assert_int_eq(dfs_file_write(f, "x", 1, 0), -EBADF);
	ck_assert_int_eq(dfs_file_truncate(f, 0), -EBADF);
	ck_assert_int_eq(dfs_file_read(f, buf, sizeof(buf), 0), 10);
	ck_assert_mem_eq(buf, "0123456789", 10);
	ck_assert_int_eq(dfs_file_close(f), 0);

	/* Write-only: still able to read-modify-write a partial block. */
	f = eopen(path, O_WRONLY);
	ck_assert_int_eq(dfs_file_write(f, "AB", 2, 4), 2);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, "0123AB6789", 10);

	/* O_APPEND on the caller's descriptor must not redirect pwrites. */
	f = eopen(path, O_RDWR | O_APPEND);
	ck_assert_int_eq(dfs_file_write(f, "zz", 2, 0), 2);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, "zz23AB6789", 10);
}
END_TEST

START_TEST(test_bad_args)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "bad");
	char c = 0;
	ck_assert_int_eq(dfs_file_write(f, &c, 1, -1), -EINVAL);
	ck_assert_int_eq(dfs_file_write(f, &c, 1, INT64_MAX), -EFBIG);
	ck_assert_int_eq(dfs_file_read(f, &c, 1, -5), -EINVAL);
	ck_assert_int_eq(dfs_file_truncate(f, -1), -EINVAL);
	ck_assert_int_eq(dfs_file_write(f, &c, 0, 0), 0);
	ck_assert_int_eq(dfs_file_read(f, &c, 1, 100), 0); /* past EOF */
	ck_assert_int_eq(dfs_file_close(f), 0);

	/* Not a regular file. */
	int dfd = open(tu_dir(), O_RDONLY | O_DIRECTORY);
	ck_assert_int_eq(dfs_file_open(eng, dfd, &f), -EINVAL);
	close(dfd);

	struct dfs_engine_opts o;
	const char *why = NULL;
	dfs_engine_opts_init(&o);
	o.buf_size = 1000;
	ck_assert_int_eq(dfs_engine_opts_check(&o, &why), -EINVAL);
	ck_assert_ptr_nonnull(why);
	dfs_engine_opts_init(&o);
	o.depth = 0;
	ck_assert_int_eq(dfs_engine_opts_check(&o, &why), -EINVAL);
	dfs_engine_opts_init(&o);
	o.mem_cap = o.buf_size - 1;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), -EINVAL);
	dfs_engine_opts_init(&o);
	ck_assert_int_eq(dfs_engine_opts_check(&o, &why), 0);
	ck_assert_ptr_null(why);
}
END_TEST

/* Without RWF_DONTCACHE the tail is written plainly and dropped. */
START_TEST(test_no_dontcache)
{
	struct dfs_engine_opts o;
	dfs_engine_destroy(eng);
	setup_opts(&o);
	o.no_dontcache = 1;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "nodc");
	char buf[5000];
	tu_pattern(buf, sizeof(buf), 0, 9);
	ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_eq(fio.dontcache_writes, 0);
	ck_assert_uint_ge(fio.plain_writes, 1);
	ck_assert_int_eq(tu_resident_pages(path), 0);
	assert_disk(path, buf, sizeof(buf));
}
END_TEST

/* The filesystem accepts the O_DIRECT open but refuses the I/O. */
START_TEST(test_fallback_at_runtime)
{
	fault_io_add(&fio, (struct fi_rule){.op = FI_PWRITE,
					    .target = FI_DIRECT,
					    .count = -1,
					    .action = FI_ERRNO,
					    .err = EINVAL});
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "fb");
	size_t total = 3 * MiB + 5;
	char *want = malloc(total);
	tu_pattern(want, total, 0, 10);
	int logs = tu_log_count();
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	ck_assert_int_eq(dfs_file_flush(f), 0);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.fallback, 1);
	ck_assert_int_eq(st.state, DFS_STATE_FALLBACK);
	ck_assert_int_eq(st.error, 0);
	ck_assert_int_eq(tu_log_count(), logs + 1); /* said once */
	ck_assert_ptr_nonnull(strstr(tu_log_last(), "O_DIRECT"));
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_int_eq(tu_resident_pages(path), 0);
	assert_disk(path, want, total);
	free(want);
}
END_TEST

START_TEST(test_fallback_ramfs)
{
	char dir[4200], path[4300];
	snprintf(dir, sizeof(dir), "%s/ramfs", tu_dir());
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_msg(mount("dfs-test", dir, "ramfs", 0, NULL) == 0, "mount ramfs: %s",
		      strerror(errno));
	snprintf(path, sizeof(path), "%s/f", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	struct dfs_file *f = NULL;
	int logs = tu_log_count();
	ck_assert_int_eq(dfs_file_open(eng, fd, &f), 0);
	close(fd);
	char buf[100000];
	tu_pattern(buf, sizeof(buf), 0, 11);
	ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	/* The O_DIRECT descriptor is opened at the first write-out: the
	 * refusal shows there, said once. */
	ck_assert_int_eq(dfs_file_flush(f), 0);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.fallback, 1);
	ck_assert_int_eq(tu_log_count(), logs + 1);
	ck_assert_int_eq(dfs_file_write(f, "xy", 2, 5), 2);
	memcpy(buf + 5, "xy", 2);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, buf, sizeof(buf));

	/* With fallback refused, the open fails clearly. */
	struct dfs_engine_opts o;
	dfs_engine_destroy(eng);
	setup_opts(&o);
	o.no_fallback = 1;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
	fd = open(path, O_RDWR);
	ck_assert_int_eq(dfs_file_open(eng, fd, &f), -EOPNOTSUPP);
	close(fd);
	unlink(path);
	ck_assert_int_eq(umount(dir), 0);
}
END_TEST

/* A filesystem without direct I/O at all: ramfs refuses O_DIRECT opens. */
/* The O_DIRECT descriptor is opened at the first write-out; when none can
 * be had then (EMFILE), the bytes go through the plain descriptor: the
 * flush succeeds, nothing is lost, and the file is not put in fallback. */
START_TEST(test_direct_fd_unavailable)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "nofd");
	struct dfs_file_stats st;
	struct rlimit old, low;
	size_t len = 600 * 1024 +
		     100; /* less than a window: nothing written before the flush */
	char *buf = malloc(len);
	int probe;

	tu_pattern(buf, len, 0, 13);
	ck_assert_int_eq(dfs_file_write(f, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	probe = dup(0); /* the lowest free descriptor: allow none from it on */
	ck_assert_int_ge(probe, 0);
	close(probe);
	low = old;
	low.rlim_cur = (rlim_t)probe;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int r = dfs_file_flush(f);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(r, 0);
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.fallback, 0);
	ck_assert_int_eq(st.error, 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, buf, len);
	free(buf);
	unlink(path);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "engine_open", .odirect = true, .timeout = 120,
		.setup = setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_descriptor_modes),
			TU_TEST(test_bad_args),
			TU_TEST(test_no_dontcache),
			TU_TEST(test_fallback_at_runtime),
			TU_TEST(test_fallback_ramfs),
			TU_TEST(test_direct_fd_unavailable),
			{ NULL },
		},
	});
}
