/* SPDX-License-Identifier: MIT */
/*
 * Description: faults injected through the engine's I/O table.  EIO,
 * ENOSPC and EDQUOT on a background write, on the tail and on fsync are
 * returned and sticky, nothing hangs, and no byte is counted durable that
 * was not fsynced.  Short writes and EINTR are retried to completion.
 * The runs of a window go out as one batch, every piece tried, and the
 * real batch (Linux AIO) reports each piece as its pwrite would.
 */
#define _GNU_SOURCE
#include "fault_io.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KiB 1024

static struct dfs_engine *eng;
static struct fault_io fio;

static void setup(void)
{
	struct dfs_engine_opts o;
	fault_io_init(&fio);
	tu_small_opts(&o); /* 64 KiB windows */
	o.io = &fio.ops;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
}

static void teardown(void)
{
	fault_io_hold(&fio, false);
	dfs_engine_destroy(eng);
	fault_io_destroy(&fio);
}

static void rule(enum fi_op op, enum fi_target t, int skip, int count, enum fi_action act,
		 int err)
{
	fault_io_add(&fio, (struct fi_rule){.op = op,
					    .target = t,
					    .skip = skip,
					    .count = count,
					    .action = act,
					    .err = err,
					    .short_len = 0});
}

/* After the error err: every write, flush and sync says so; close too. */
static void assert_sticky(struct dfs_file *f, int err, const char *state)
{
	char buf[64], one = 'x';
	struct dfs_file_stats st;
	ck_assert_int_eq(dfs_file_write(f, &one, 1, 0), err);
	ck_assert_int_eq(dfs_file_flush(f), err);
	ck_assert_int_eq(dfs_file_sync(f, 0), err);
	ck_assert_int_eq(dfs_file_sync(f, 1), err);
	ck_assert_int_eq(dfs_file_truncate(f, 0), err);
	ck_assert_int_eq(dfs_file_error(f), err);
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.state, DFS_STATE_ERROR);
	ck_assert_str_eq(dfs_state_string(&st, buf, sizeof(buf)), state);
	ck_assert_uint_le(st.synced, st.written);
	ck_assert_int_eq(dfs_file_close(f), err);
}

static void write_pattern(struct dfs_file *f, size_t len, uint32_t seed)
{
	char *buf = malloc(len);
	tu_pattern(buf, len, 0, seed);
	ssize_t r = dfs_file_write(f, buf, len, 0);
	/* All, part (accepted before the error surfaced), or the error. */
	ck_assert_msg(r != 0 && r <= (ssize_t)len, "write returned %zd", r);
	free(buf);
}

START_TEST(test_eio_background_write)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "eio");
	rule(FI_PWRITE, FI_DIRECT, 1, 1, FI_ERRNO, EIO);
	write_pattern(f, 5 * 64 * KiB, 1);
	ck_assert_int_eq(dfs_file_flush(f), -EIO);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.durable, 0); /* nothing was fsynced */
	ck_assert_uint_lt(st.synced, st.written);
	assert_sticky(f, -EIO, "error:EIO");

	/* A new open after the last close starts clean. */
	fault_io_clear(&fio);
	int fd = open(path, O_RDWR);
	ck_assert_int_eq(dfs_file_open(eng, fd, &f), 0);
	close(fd);
	ck_assert_int_eq(dfs_file_write(f, "ok", 2, 0), 2);
	ck_assert_int_eq(dfs_file_close(f), 0);
}
END_TEST

START_TEST(test_enospc_tail)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "enospc");
	rule(FI_PWRITE, FI_PLAIN, 0, -1, FI_ERRNO, ENOSPC);
	write_pattern(f, 1000, 2);
	ck_assert_int_eq(dfs_file_flush(f), -ENOSPC);
	assert_sticky(f, -ENOSPC, "error:ENOSPC");
}
END_TEST

START_TEST(test_edquot_background)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "edquot");
	rule(FI_PWRITE, FI_DIRECT, 0, -1, FI_ERRNO, EDQUOT);
	write_pattern(f, 3 * 64 * KiB, 3);
	ck_assert_int_eq(dfs_file_sync(f, 0), -EDQUOT);
	assert_sticky(f, -EDQUOT, "error:EDQUOT");
}
END_TEST

START_TEST(test_fsync_eio)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "fsync");
	write_pattern(f, 100 * KiB, 4);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.durable, 100 * KiB);

	rule(FI_FSYNC, FI_ANY, 0, 1, FI_ERRNO, EIO);
	char more[50 * KiB];
	tu_pattern(more, sizeof(more), 100 * KiB, 5);
	ck_assert_int_eq(dfs_file_write(f, more, sizeof(more), 100 * KiB),
			 (ssize_t)sizeof(more));
	ck_assert_int_eq(dfs_file_sync(f, 0), -EIO);
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.synced, 150 * KiB);  /* written out ... */
	ck_assert_uint_eq(st.durable, 100 * KiB); /* ... but not durable */
	assert_sticky(f, -EIO, "error:EIO");
}
END_TEST

START_TEST(test_short_writes)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "short");
	fault_io_add(&fio, (struct fi_rule){.op = FI_PWRITE,
					    .target = FI_DIRECT,
					    .count = -1,
					    .action = FI_SHORT,
					    .short_len = 4096});
	fault_io_add(&fio, (struct fi_rule){.op = FI_PWRITE,
					    .target = FI_PLAIN,
					    .count = -1,
					    .action = FI_SHORT,
					    .short_len = 7});
	size_t len = 300 * KiB + 333;
	char *buf = malloc(len);
	tu_pattern(buf, len, 0, 6);
	ck_assert_int_eq(dfs_file_write(f, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_gt(fio.fired, 100);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, len);
	ck_assert(memcmp(got, buf, len) == 0);
	free(got);
	free(buf);
}
END_TEST

START_TEST(test_eintr)
{
	char path[4200];
	int fd = tu_create(path, sizeof(path), "eintr", O_RDWR);
	char base[8192];
	tu_pattern(base, sizeof(base), 0, 7);
	ck_assert_int_eq(pwrite(fd, base, sizeof(base), 0), (ssize_t)sizeof(base));
	struct dfs_file *f = NULL;
	ck_assert_int_eq(dfs_file_open(eng, fd, &f), 0);
	close(fd);
	rule(FI_PWRITE, FI_ANY, 0, 10, FI_EINTR, 0);
	rule(FI_PREAD, FI_ANY, 0, 3, FI_EINTR, 0); /* a small file's read-modify-write */
	rule(FI_FSYNC, FI_ANY, 0, 2, FI_EINTR, 0);
	size_t len = 200 * KiB + 1;
	char *buf = malloc(len);
	tu_pattern(buf, len, 100, 8);
	ck_assert_int_eq(dfs_file_write(f, buf, len, 100), (ssize_t)len);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	ck_assert_uint_eq(fio.fired, 15);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, len + 100);
	ck_assert_mem_eq(got, base, 100);
	ck_assert(memcmp(got + 100, buf, len) == 0);
	free(got);
	free(buf);
}
END_TEST

/* A write that makes no progress fails instead of spinning. */
START_TEST(test_zero_progress)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "zero");
	fault_io_add(&fio, (struct fi_rule){.op = FI_PWRITE,
					    .target = FI_DIRECT,
					    .count = -1,
					    .action = FI_SHORT,
					    .short_len = 0});
	write_pattern(f, 64 * KiB, 9);
	ck_assert_int_eq(dfs_file_flush(f), -EIO);
	assert_sticky(f, -EIO, "error:EIO");
}
END_TEST

struct bg_writer {
	struct dfs_file *f;
	ssize_t result;
};

static void *bg_write(void *arg)
{
	struct bg_writer *w = arg;
	size_t len = 20 * 64 * KiB;
	char *buf = calloc(1, len);
	w->result = dfs_file_write(w->f, buf, len, 0);
	free(buf);
	return NULL;
}

/* A writer blocked on back-pressure wakes with the error. */
START_TEST(test_blocked_writer_wakes)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "blocked");
	struct bg_writer w = {f, 0};
	pthread_t t;
	fault_io_hold(&fio, true);
	pthread_create(&t, NULL, bg_write, &w);
	fault_io_wait_held(&fio, 1); /* one writes, one waits: depth reached */
	rule(FI_PWRITE, FI_DIRECT, 0, -1, FI_ERRNO, ENOSPC);
	fault_io_hold(&fio, false);
	pthread_join(t, NULL);
	/* Either part was accepted before the error, or the error itself. */
	ck_assert_msg(w.result == -ENOSPC || (w.result > 0 && w.result < 20 * 64 * KiB),
		      "write returned %zd", w.result);
	ck_assert_int_eq(dfs_file_flush(f), -ENOSPC);
	assert_sticky(f, -ENOSPC, "error:ENOSPC");
}
END_TEST

/* A failed read-modify-write read fails that write only: nothing was lost.
 * A small file's block is read through the page cache, a big file's with
 * O_DIRECT. */
START_TEST(test_rmw_read_error_not_sticky)
{
	const size_t sizes[] = {8192, 2 * 1024 * 1024 + 8192};

	for (size_t i = 0; i < 2; i++) {
		char path[4200];
		char name[16];
		size_t size = sizes[i];
		snprintf(name, sizeof(name), "rmw%zu", i);
		int fd = tu_create(path, sizeof(path), name, O_RDWR);
		char *base = malloc(size);
		tu_pattern(base, size, 0, 10);
		ck_assert_int_eq(pwrite(fd, base, size, 0), (ssize_t)size);
		struct dfs_file *f = NULL;
		ck_assert_int_eq(dfs_file_open(eng, fd, &f), 0);
		close(fd);
		fault_io_clear(&fio);
		rule(FI_PREAD, i ? FI_DIRECT : FI_PLAIN, 0, 1, FI_ERRNO, EIO);
		ck_assert_int_eq(dfs_file_write(f, "abc", 3, 100), -EIO);
		ck_assert_int_eq(dfs_file_error(f), 0);
		ck_assert_int_eq(dfs_file_write(f, "abc", 3, 100), 3);
		memcpy(base + 100, "abc", 3);
		ck_assert_int_eq(dfs_file_close(f), 0);
		size_t n;
		char *got = tu_slurp(path, &n);
		ck_assert_uint_eq(n, size);
		ck_assert_mem_eq(got, base, size);
		free(got);
		free(base);
	}
}
END_TEST

START_TEST(test_truncate_error_keeps_stage)
{
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "trfail");
	char buf[10000];
	tu_pattern(buf, sizeof(buf), 0, 11);
	ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	rule(FI_FTRUNCATE, FI_ANY, 0, 1, FI_ERRNO, EPERM);
	ck_assert_int_eq(dfs_file_truncate(f, 10), -EPERM);
	ck_assert_int_eq(dfs_file_size(f), (off_t)sizeof(buf));
	ck_assert_int_eq(dfs_file_error(f), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, sizeof(buf));
	ck_assert_mem_eq(got, buf, sizeof(buf));
	free(got);
}
END_TEST

/* Every errno at every place the engine writes or syncs: _i picks one. */
START_TEST(test_error_matrix)
{
	static const int errs[] = {EIO, ENOSPC};
	static const char *const names[] = {"error:EIO", "error:ENOSPC"};
	enum { AT_BACKGROUND, AT_TAIL, AT_FSYNC };
	int err = errs[_i % 2], at = _i / 2;
	char path[4200];
	struct dfs_file *f = tu_engine_create(eng, path, sizeof(path), "matrix");
	if (at == AT_BACKGROUND)
		rule(FI_PWRITE, FI_DIRECT, 0, 1, FI_ERRNO, err);
	else if (at == AT_TAIL)
		rule(FI_PWRITE, FI_PLAIN, 0, 1, FI_ERRNO, err);
	else
		rule(FI_FSYNC, FI_ANY, 0, 1, FI_ERRNO, err);
	/* two full windows and a partial tail: every site is reached */
	write_pattern(f, 2 * 64 * KiB + 1000, 12);
	ck_assert_int_eq(dfs_file_sync(f, 0), -err);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.durable, 0);
	ck_assert_uint_eq(fio.fired, 1);
	assert_sticky(f, -err, names[_i % 2]);
}
END_TEST

/*
 * Group commit: NFILES files written and finished together take one syncfs
 * and no fsync, and every one ends durable with no page cached.  When the
 * syncfs fails, each file takes its own fsync (and is durable when that
 * works).  A writeback error of one file (its sync_file_range after the
 * syncfs) lands on that file alone.  A file finished alone takes an fsync,
 * not a syncfs.
 */
#define NFILES 5
START_TEST(test_finish_many)
{
	char path[NFILES][4200], name[32];
	struct dfs_file *f[NFILES];
	int res[NFILES];
	struct dfs_file_stats st;

	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		f[i] = tu_engine_create(eng, path[i], sizeof(path[i]), name);
		write_pattern(f[i], 10 * KiB + (size_t)i, 20 + (uint32_t)i);
		ck_assert_int_eq(dfs_file_close_flush(f[i]), 0);
	}
	unsigned long syncfs0 = fio.calls[FI_SYNCFS], fsync0 = fio.calls[FI_FSYNC];
	unsigned long sfr0 = fio.calls[FI_SFR];
	if (_i == 1)
		rule(FI_SYNCFS, FI_ANY, 0, 1, FI_ERRNO, EIO);
	if (_i == 2) /* the third file's wait after the syncfs */
		rule(FI_SFR, FI_ANY, 2, 1, FI_ERRNO, EIO);
	dfs_file_finish_many(f, NFILES, res);
	ck_assert_uint_eq(fio.calls[FI_SYNCFS] - syncfs0, 1);
	ck_assert_uint_eq(fio.calls[FI_FSYNC] - fsync0, _i == 1 ? NFILES : 0);
	ck_assert_uint_eq(fio.calls[FI_SFR] - sfr0, _i == 1 ? 0 : NFILES);
	for (int i = 0; i < NFILES; i++) {
		int want = _i == 2 && i == 2 ? -EIO : 0;
		ck_assert_int_eq(res[i], want);
		dfs_file_stats(f[i], &st);
		ck_assert_uint_eq(st.durable, want ? 0 : 10 * KiB + (size_t)i);
		ck_assert_int_eq(st.state, want ? DFS_STATE_ERROR : DFS_STATE_IDLE);
		ck_assert_int_eq(dfs_file_close(f[i]), want);
		if (!want)
			ck_assert_int_eq(tu_resident_pages(path[i]), 0);
		unlink(path[i]);
	}

	/* Alone: an fsync. */
	struct dfs_file *one = tu_engine_create(eng, path[0], sizeof(path[0]), "many1");
	write_pattern(one, 3 * KiB, 30);
	ck_assert_int_eq(dfs_file_close_flush(one), 0);
	syncfs0 = fio.calls[FI_SYNCFS];
	fsync0 = fio.calls[FI_FSYNC];
	dfs_file_finish_many(&one, 1, res);
	ck_assert_int_eq(res[0], 0);
	ck_assert_uint_eq(fio.calls[FI_SYNCFS] - syncfs0, 0);
	ck_assert_uint_eq(fio.calls[FI_FSYNC] - fsync0, 1);
	ck_assert_int_eq(dfs_file_close(one), 0);
	ck_assert_int_eq(tu_resident_pages(path[0]), 0);
	unlink(path[0]);
}
END_TEST

/* Five runs of 8 KiB, a 4 KiB hole after each: one window, five runs. */
#define RUN_LEN (8 * KiB)
#define RUN_STRIDE (12 * KiB)
#define RUNS 5

static struct dfs_file *write_runs(char *path, size_t plen, const char *name, char *want)
{
	struct dfs_file *f = tu_engine_create(eng, path, plen, name);
	char piece[RUN_LEN];

	memset(want, 0, RUN_STRIDE * RUNS);
	for (unsigned i = 0; i < RUNS; i++) {
		off_t off = (off_t)i * RUN_STRIDE;
		tu_pattern(piece, RUN_LEN, off, 7);
		memcpy(want + off, piece, RUN_LEN);
		ck_assert_int_eq(dfs_file_write(f, piece, RUN_LEN, off), RUN_LEN);
	}
	ck_assert_uint_eq(fio.direct_writes, 0); /* all staged, in one window */
	return f;
}

/* The runs go to the disk in one batch; a short piece is finished. */
START_TEST(test_batch_runs)
{
	char path[4200], want[RUN_STRIDE * RUNS];
	const size_t size = (RUNS - 1) * RUN_STRIDE + RUN_LEN;
	struct dfs_file *f = write_runs(path, sizeof(path), "batch", want);

	fault_io_add(&fio, (struct fi_rule){.op = FI_PWRITE,
					    .target = FI_DIRECT,
					    .count = -1,
					    .action = FI_SHORT,
					    .short_len = 4 * KiB});
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_uint_eq(fio.batches, 1);
	ck_assert_uint_eq(fio.batch_pieces, RUNS);
	ck_assert_uint_eq(fio.fired, 2 * RUNS); /* each piece cut short, then finished */
	ck_assert_int_eq(dfs_file_close(f), 0);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, size);
	ck_assert(memcmp(got, want, size) == 0);
	free(got);
}
END_TEST

/* A piece that fails does not keep the others from the disk; the error
 * is sticky. */
START_TEST(test_batch_error)
{
	char path[4200], want[RUN_STRIDE * RUNS];
	struct dfs_file *f = write_runs(path, sizeof(path), "batch-eio", want);

	rule(FI_PWRITE, FI_DIRECT, 1, 1, FI_ERRNO, EIO);
	ck_assert_int_eq(dfs_file_sync(f, 0), -EIO);
	ck_assert_uint_eq(fio.direct_writes, RUNS);
	size_t n;
	char *got = tu_slurp(path, &n);
	for (unsigned i = 0; i < RUNS; i++) {
		off_t off = (off_t)i * RUN_STRIDE;
		if (i == 1)
			continue; /* failed: a hole, or zeros */
		ck_assert_uint_ge(n, (size_t)off + RUN_LEN);
		ck_assert_msg(memcmp(got + off, want + off, RUN_LEN) == 0, "run %u", i);
	}
	free(got);
	assert_sticky(f, -EIO, "error:EIO");
}
END_TEST

/* The real batch: pieces at scattered offsets through Linux AIO, each
 * result what its pwrite gives, a misaligned one EINVAL. */
START_TEST(test_aio_batch)
{
	char path[4200];
	char *buf;
	int fd = tu_create(path, sizeof(path), "aio", O_RDWR);

	ck_assert_int_ge(fd, 0);
	close(fd);
	fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 4 * 4096), 0);
	tu_pattern(buf, 4 * 4096, 0, 8);
	struct dfs_io_piece p[] = {
		{buf, 4096, 0, 0},
		{buf + 4096, 4096, 3 * 4096, 0},
		{buf + 8192, 8192, 8 * 4096, 0},
		{buf, 4096, 1, 0}, /* misaligned */
	};
	ck_assert_int_eq(dfs_io_write_batch(dfs_io_default(), fd, p, 4), -EINVAL);
	ck_assert_int_eq(p[0].res, 4096);
	ck_assert_int_eq(p[1].res, 4096);
	ck_assert_int_eq(p[2].res, 8192);
	ck_assert_int_eq(p[3].res, -EINVAL);
	close(fd);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, 10 * 4096);
	ck_assert(memcmp(got, buf, 4096) == 0);
	ck_assert(memcmp(got + 3 * 4096, buf + 4096, 4096) == 0);
	ck_assert(memcmp(got + 8 * 4096, buf + 8192, 8192) == 0);
	for (size_t i = 4096; i < 3 * 4096; i++)
		ck_assert_int_eq(got[i], 0);
	free(got);
	free(buf);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "faults", .odirect = true, .timeout = 60,
		.setup = setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_eio_background_write),
			TU_TEST(test_enospc_tail),
			TU_TEST(test_edquot_background),
			TU_TEST(test_fsync_eio),
			TU_TEST(test_short_writes),
			TU_TEST(test_eintr),
			TU_TEST(test_zero_progress),
			TU_TEST(test_blocked_writer_wakes),
			TU_TEST(test_rmw_read_error_not_sticky),
			TU_TEST(test_truncate_error_keeps_stage),
			TU_LOOP(test_error_matrix, 0, 6),
			TU_LOOP(test_finish_many, 0, 3),
			TU_TEST(test_batch_runs),
			TU_TEST(test_batch_error),
			TU_TEST(test_aio_batch),
			{ NULL },
		},
	});
}
