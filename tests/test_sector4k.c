/* SPDX-License-Identifier: MIT */
/*
 * Description: the engine on a device with 4096-byte logical sectors (loop
 * device, --sector-size 4096) under ext4 and xfs.  512-aligned O_DIRECT is
 * refused by the device; the engine discovers 4096 and never issues a
 * direct I/O off it; random operations match a reference; a full disk
 * gives a sticky ENOSPC and keeps what was fsynced before.
 */
#define _GNU_SOURCE
#include "fault_io.h"
#include "testutil.h"
#include "workload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MiB (1024 * 1024)

static struct tu_loopfs lfs;

static void setup_ext4(void)
{
	tu_loopfs_create(&lfs, "ext4", 4096, 160);
}

static void setup_xfs(void)
{
	tu_loopfs_create(&lfs, "xfs", 4096, 320);
}

static void teardown(void)
{
	tu_loopfs_destroy(&lfs);
}

START_TEST(test_device_refuses_512)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/raw", lfs.dir);
	int fd = open(path, O_RDWR | O_CREAT | O_DIRECT, 0644);
	ck_assert_int_ge(fd, 0);
	void *buf;
	ck_assert_int_eq(posix_memalign(&buf, 4096, 8192), 0);
	memset(buf, 1, 8192);
	errno = 0;
	ck_assert_int_eq(pwrite(fd, buf, 512, 512), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pwrite(fd, buf, 4096, 4096), 4096);
	close(fd);
	unlink(path);
	free(buf);
}
END_TEST

START_TEST(test_discovers_4096)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/align", lfs.dir);
	int fd = open(path, O_RDWR | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	struct dfs_align a;
	struct dfs_fd_kind kind;
	ck_assert_int_eq(dfs_align_for_fd(fd, &a, &kind), 0);
	ck_assert_uint_eq(a.off, 4096);
	close(fd);
	unlink(path);
}
END_TEST

static void random_on_device(size_t buf_size, size_t cap, uint64_t seed)
{
	struct fault_io fio;
	struct dfs_engine_opts o;
	struct dfs_align a;
	struct dfs_fd_kind kind;
	char probe[4300];
	snprintf(probe, sizeof(probe), "%s/probe", lfs.dir);
	int fd = open(probe, O_RDWR | O_CREAT, 0644);
	ck_assert_int_eq(dfs_align_for_fd(fd, &a, &kind), 0);
	close(fd);
	unlink(probe);
	fault_io_init(&fio);
	fio.audit_align = 4096;
	fio.audit_mem = a.mem; /* the device's own memory alignment */
	dfs_engine_opts_init(&o);
	o.buf_size = buf_size;
	o.mem_cap = cap;
	o.max_staged = 3;
	o.io = &fio.ops;
	o.log = tu_log;
	struct workload wl = {
		.dir = lfs.dir,
		.seed = seed,
		.nops = 2500,
		.span = (off_t)(6 * buf_size),
		.max_len = 2 * buf_size,
		.opts = &o,
	};
	workload_run(&wl);
	ck_assert_uint_gt(fio.direct_writes, 100);
	ck_assert_uint_gt(fio.direct_reads, 10); /* read-modify-write ran */
	ck_assert_uint_eq(fio.misaligned, 0);
	ck_assert_uint_eq(fio.misaligned_mem, 0);
	fault_io_destroy(&fio);
}

START_TEST(test_random_small_windows)
{
	random_on_device(64 * 1024, 4 * 64 * 1024, 77);
}
END_TEST

START_TEST(test_random_default_windows)
{
	random_on_device(MiB, 16 * MiB, 78);
}
END_TEST

/* Fill the disk: ENOSPC is returned and sticky, fsynced data survives. */
START_TEST(test_full_disk)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	char p1[4300], p2[4300];
	dfs_engine_opts_init(&o);
	o.log = tu_log;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	snprintf(p1, sizeof(p1), "%s/kept", lfs.dir);
	snprintf(p2, sizeof(p2), "%s/filler", lfs.dir);

	char *buf = malloc(MiB);
	int fd = open(p1, O_RDWR | O_CREAT | O_TRUNC, 0644);
	struct dfs_file *f;
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	close(fd);
	for (int i = 0; i < 8; i++) {
		tu_pattern(buf, MiB, (off_t)i * MiB, 5);
		ck_assert_int_eq(dfs_file_write(f, buf, MiB, (off_t)i * MiB), MiB);
	}
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);

	fd = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	close(fd);
	memset(buf, 'f', MiB);
	ssize_t r = 0;
	for (int i = 0; i < 400 && r >= 0; i++)
		r = dfs_file_write(f, buf, MiB, (off_t)i * MiB);
	if (r >= 0)
		r = dfs_file_flush(f);
	ck_assert_int_eq(r, -ENOSPC);
	ck_assert_int_eq(dfs_file_write(f, buf, 10, 0), -ENOSPC);
	ck_assert_int_eq(dfs_file_flush(f), -ENOSPC);
	ck_assert_int_eq(dfs_file_sync(f, 0), -ENOSPC);
	struct dfs_file_stats st;
	char sbuf[32];
	dfs_file_stats(f, &st);
	ck_assert_str_eq(dfs_state_string(&st, sbuf, sizeof(sbuf)), "error:ENOSPC");
	ck_assert_int_eq(dfs_file_close(f), -ENOSPC);
	dfs_engine_destroy(e);
	unlink(p2);

	size_t n;
	char *got = tu_slurp(p1, &n);
	ck_assert_uint_eq(n, 8 * MiB);
	for (int i = 0; i < 8; i++) {
		tu_pattern(buf, MiB, (off_t)i * MiB, 5);
		ck_assert(memcmp(got + (size_t)i * MiB, buf, MiB) == 0);
	}
	free(got);
	free(buf);
	unlink(p1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sector4k");
	tu_add_case(s, &(struct tu_case){
		.name = "ext4", .timeout = 300,
		.setup = setup_ext4, .teardown = teardown, .once = true,
		.tests = (const struct tu_test[]){
			TU_TEST(test_device_refuses_512),
			TU_TEST(test_discovers_4096),
			TU_TEST(test_random_small_windows),
			TU_TEST(test_random_default_windows),
			TU_TEST(test_full_disk),
			{ NULL },
		},
	});
	tu_add_case(s, &(struct tu_case){
		.name = "xfs", .timeout = 300,
		.setup = setup_xfs, .teardown = teardown, .once = true,
		.tests = (const struct tu_test[]){
			TU_TEST(test_device_refuses_512),
			TU_TEST(test_discovers_4096),
			TU_TEST(test_random_small_windows),
			{ NULL },
		},
	});
	return tu_run(s);
}
