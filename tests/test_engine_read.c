/* SPDX-License-Identifier: MIT */
/*
 * Description: engine unit tests, reads: read-ahead and what invalidates it, clean windows (what a
 * file keeps of what it wrote and read), reads of staged and in-flight
 * ranges, delivery straight from the engine's buffers, copies between files.
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

/*
 * Sequential reads read ahead: once the first 1 MiB read of a file on disk
 * returns, the next four windows are being read (five O_DIRECT reads in
 * all; without read-ahead, one), and every byte read sequentially to the
 * end (a short last window included) is the file's.
 */
START_TEST(test_readahead)
{
	char path[4200];
	size_t total = 12 * MiB + 5000;
	char *want = malloc(total), *got = NULL;
	/* Aligned, so that a read without read-ahead is one O_DIRECT read. */
	ck_assert_int_eq(posix_memalign((void **)&got, 4096, MiB), 0);
	struct dfs_file *f = disk_file(path, sizeof(path), "ra", want, total, 12);

	ck_assert_int_eq(dfs_file_read(f, got, MiB, 0), MiB);
	ck_assert_mem_eq(got, want, MiB);
	ck_assert_msg(direct_reads_reach(5), "read-ahead short of four windows: %lu O_DIRECT reads",
		      direct_reads_now());
	for (size_t off = MiB; off < total; off += MiB) {
		size_t n = total - off < MiB ? total - off : MiB;
		ck_assert_int_eq(dfs_file_read(f, got, MiB, (off_t)off), (ssize_t)n);
		ck_assert_msg(memcmp(got, want + off, n) == 0, "bytes at %zu", off);
	}
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
	free(got);
}
END_TEST

/*
 * What was read ahead is never served once the disk changed under it: a
 * write written out into a window already read ahead, then a truncate
 * into another, and the sequential reads that follow see both.  A close
 * while read-ahead reads run waits for them.
 */
START_TEST(test_readahead_invalidated)
{
	char path[4200];
	size_t total = 6 * MiB;
	char *want = malloc(total), *got = malloc(MiB);
	char rec[1000];
	struct dfs_file *f = disk_file(path, sizeof(path), "rainv", want, total, 13);

	ck_assert_int_eq(dfs_file_read(f, got, MiB, 0), MiB);
	ck_assert(direct_reads_reach(3)); /* windows 1 and 2 (and more) read ahead */
	tu_pattern(rec, sizeof(rec), 0, 14);
	ck_assert_int_eq(dfs_file_write(f, rec, sizeof(rec), MiB + 100), (ssize_t)sizeof(rec));
	ck_assert_int_eq(dfs_file_flush(f), 0); /* on disk; nothing staged */
	memcpy(want + MiB + 100, rec, sizeof(rec));
	ck_assert_int_eq(dfs_file_read(f, got, MiB, MiB), MiB);
	ck_assert_msg(memcmp(got, want + MiB, MiB) == 0, "read-ahead served stale bytes");
	/* Window 2 was read ahead by now; cut the file inside it. */
	ck_assert(direct_reads_reach(4));
	ck_assert_int_eq(dfs_file_truncate(f, 2 * MiB + MiB / 2), 0);
	ck_assert_int_eq(dfs_file_read(f, got, MiB, 2 * MiB), MiB / 2);
	ck_assert_mem_eq(got, want + 2 * MiB, MiB / 2);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, 2 * MiB + MiB / 2);

	/* Closed with read-ahead reads queued or running. */
	f = eopen(path, O_RDONLY);
	ck_assert_int_eq(dfs_file_read(f, got, MiB, 0), MiB);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
	free(got);
}
END_TEST

/*
 * A file being written keeps, in clean windows, what it wrote and what its
 * random reads found: after an fsync, the pages written read back with no
 * disk read; a page read once (in a window, and in none) is read from the
 * disk once; a small unaligned rewrite of a kept page needs no
 * read-modify-write, and two dirty pages with a kept page between them go
 * out as one write.  A punched hole and a truncate are seen through them.
 * A stream's full windows are not kept.
 */
START_TEST(test_clean_windows)
{
	char path[4200], page[4096];
	const size_t total = 4 * MiB;
	char *want = malloc(total);
	struct dfs_file *f = disk_file(path, sizeof(path), "clean", want, total, 21);
	const off_t offs[] = {MiB + 8192, 2 * MiB + 40960, 3 * MiB};

	for (int i = 0; i < 3; i++) {
		tu_pattern(page, sizeof(page), offs[i], 22 + i);
		ck_assert_int_eq(dfs_file_write(f, page, sizeof(page), offs[i]), 4096);
		memcpy(want + offs[i], page, sizeof(page));
	}
	struct dfs_file_stats st;
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	dfs_file_stats(f, &st);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_uint_eq(st.durable, 3 * 4096);
	unsigned long r0 = direct_reads_now();
	for (int i = 0; i < 3; i++)
		read_eq(f, want, 4096, offs[i]);
	ck_assert_uint_eq(direct_reads_now(), r0);

	/* In a kept window (1), and in none (window 0): once from the disk. */
	read_eq(f, want, 4096, MiB + 12288);
	read_eq(f, want, 4096, 65536);
	ck_assert_uint_eq(direct_reads_now(), r0 + 2);
	read_eq(f, want, 4096, MiB + 12288);
	read_eq(f, want, 4096, 65536);
	read_eq(f, want, 4096, offs[0]);
	ck_assert_uint_eq(direct_reads_now(), r0 + 2);

	/* Rewrites: 100 bytes inside a kept page, and the page after the one
	 * just read: no disk read, one write for the three pages. */
	unsigned long w0 = direct_writes_now();
	tu_pattern(page, sizeof(page), 0, 30);
	ck_assert_int_eq(dfs_file_write(f, page, 100, offs[0] + 10), 100);
	memcpy(want + offs[0] + 10, page, 100);
	ck_assert_int_eq(dfs_file_write(f, page, 4096, MiB + 16384), 4096);
	memcpy(want + MiB + 16384, page, 4096);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_uint_eq(direct_reads_now(), r0 + 2);
	ck_assert_uint_eq(direct_writes_now(), w0 + 1);
	read_eq(f, want, 3 * 4096, offs[0]);
	ck_assert_uint_eq(direct_reads_now(), r0 + 2);

	/* A hole punched under a kept page reads as zeros. */
	ck_assert_int_eq(dfs_file_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					    offs[0], 4096),
			 0);
	memset(want + offs[0], 0, 4096);
	read_eq(f, want, 4096, offs[0]);
	/* Cut inside a kept page, then grown again: zeros past the cut. */
	read_eq(f, want, 4096, offs[1]); /* kept again */
	ck_assert_int_eq(dfs_file_truncate(f, offs[1] + 100), 0);
	ck_assert_int_eq(dfs_file_truncate(f, (off_t)total), 0);
	memset(want + offs[1] + 100, 0, total - (size_t)offs[1] - 100);
	read_eq(f, want, 4096, offs[1]);
	read_eq(f, want, 4096, offs[2]);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);

	/* A stream: its full windows leave once written. */
	f = ecreate(path, sizeof(path), "cleanstream");
	for (size_t off = 0; off < 4 * MiB; off += MiB)
		ck_assert_int_eq(dfs_file_write(f, want, MiB, (off_t)off), MiB);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	r0 = direct_reads_now();
	read_eq(f, want, 4096, 0);
	ck_assert_uint_eq(direct_reads_now(), r0 + 1);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
}
END_TEST

struct delivery {
	struct dfs_file *f;
	const char *want; /* the file's bytes */
	const char *buf;  /* the caller's buffer */
	off_t off;
	int calls, from_buf;
	bool nest;	/* read the file again from inside the delivery */
	bool nested_ok;
};

static void deliver_check(void *arg, const void *data, size_t n)
{
	struct delivery *d = arg;
	char other[4096];

	d->calls++;
	d->from_buf += data == d->buf;
	ck_assert_msg(memcmp(data, d->want + d->off, n) == 0, "delivered bytes at %lld differ",
		      (long long)d->off);
	/* No lock of the file is held here: another read of it goes through. */
	if (d->nest)
		d->nested_ok = dfs_file_read(d->f, other, sizeof(other), 0) ==
				       (ssize_t)sizeof(other) &&
			       memcmp(other, d->want, sizeof(other)) == 0;
}

/*
 * dfs_file_read_deliver hands read-ahead bytes over straight from the
 * engine's buffer (not through the caller's), with no lock held (a read
 * from inside the delivery goes through); other reads come through the
 * caller's buffer; a failed read delivers nothing.
 */
START_TEST(test_read_deliver)
{
	char path[4200];
	const size_t total = 8 * MiB;
	char *want = malloc(total), *buf = NULL;
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, MiB), 0);
	struct dfs_file *f = disk_file(path, sizeof(path), "deliver", want, total, 50);
	struct delivery d = {.f = f, .want = want, .buf = buf};

	/* A sequential reader: every read is waited for in a read-ahead
	 * buffer (the first one too: it starts the read-ahead) and delivered
	 * from there; the last delivery reads the file again from inside. */
	for (size_t off = 0; off < total; off += MiB) {
		d.off = (off_t)off;
		d.nest = off + MiB == total;
		ck_assert_int_eq(dfs_file_read_deliver(f, buf, MiB, (off_t)off, deliver_check, &d),
				 MiB);
	}
	ck_assert_int_eq(d.calls, 8);
	ck_assert_int_eq(d.from_buf, 0);
	ck_assert(d.nested_ok);
	d.nest = false;

	/* A small random read: through buf. */
	d.off = 12345;
	d.from_buf = d.calls = 0;
	ck_assert_int_eq(dfs_file_read_deliver(f, buf, 100, 12345, deliver_check, &d), 100);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.from_buf, 1);
	ck_assert_int_eq(dfs_file_close(f), 0);

	/* A failed read: nothing delivered. */
	f = eopen(path, O_RDWR);
	fault_io_add(&fio, (struct fi_rule){.op = FI_PREAD, .count = -1, .err = EIO});
	d.calls = 0;
	ck_assert_int_eq(dfs_file_read_deliver(f, buf, 100, 12345, deliver_check, &d), -EIO);
	ck_assert_int_eq(d.calls, 0);
	fault_io_clear(&fio);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
	free(buf);
}
END_TEST

/*
 * Clean windows give their buffers back: with a pool of four buffers all
 * held by one file's kept windows, another file's stream of writes gets
 * them (no wait for a write-out, no deadlock), and both files stay whole.
 */
START_TEST(test_clean_windows_reclaimed)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e2;
	char pa[4200], pb[4200];
	const size_t wsz = 64 * 1024, total = 16 * wsz;
	char *want = malloc(total), *stream = malloc(total);

	tu_small_opts(&o);
	o.max_staged = 4;
	o.io = &fio.ops;
	ck_assert_int_eq(dfs_engine_create(&o, &e2), 0);
	tu_pattern(want, total, 0, 40);
	int fd = tu_create(pa, sizeof(pa), "keeper", O_RDWR);
	ck_assert_int_eq(pwrite(fd, want, total, 0), (ssize_t)total);
	close(fd);
	struct dfs_file *a = tu_engine_open(e2, pa, O_RDWR);
	for (int i = 0; i < 4; i++) {
		off_t off = (off_t)(i * 4 + 1) * (off_t)wsz + 4096;
		ck_assert_int_eq(dfs_file_write(a, want + off, 4096, off), 4096);
	}
	ck_assert_int_eq(dfs_file_sync(a, 0), 0);
	/* Kept: the four pages read back from memory (the whole pool). */
	unsigned long r0 = direct_reads_now();
	for (int i = 0; i < 4; i++)
		read_eq(a, want, 4096, (off_t)(i * 4 + 1) * (off_t)wsz + 4096);
	ck_assert_uint_eq(direct_reads_now(), r0);

	struct dfs_file *b = tu_engine_create(e2, pb, sizeof(pb), "taker");
	tu_pattern(stream, total, 0, 41);
	for (size_t off = 0; off < total; off += 8192)
		ck_assert_int_eq(dfs_file_write(b, stream + off, 8192, (off_t)off), 8192);
	ck_assert_int_eq(dfs_file_close(b), 0);
	assert_disk(pb, stream, total);
	char *got = malloc(total);
	ck_assert_int_eq(dfs_file_read(a, got, total, 0), (ssize_t)total);
	ck_assert_mem_eq(got, want, total);
	ck_assert_int_eq(dfs_file_close(a), 0);
	assert_disk(pa, want, total);
	dfs_engine_destroy(e2);
	free(got);
	free(want);
	free(stream);
}
END_TEST

/*
 * A short read that ends inside a block goes to the device once: a whole
 * small file whose size is not whole blocks, ranges from unaligned
 * offsets, and a range ending inside a block before the end of file.  A
 * longer one from an aligned offset (past 64 KiB, read-ahead off) goes
 * twice: its whole blocks straight into the caller's buffer, then the last
 * one.  Every byte is the file's.
 */
START_TEST(test_short_read_one_trip)
{
	struct dfs_engine_opts o;
	struct dfs_engine *e2;
	char path[4200];
	const size_t total = 300 * 1000 + 448; /* no block size divides it */
	char *want = malloc(total);
	const struct {
		off_t off;
		size_t len;
		unsigned long reads;
	} cases[] = {
		{0, 5000, 1}, {1000, 10000, 1}, {4096, 40000, 1}, {0, 200 * 1000, 2},
		{204800, total - 204800, 2}, {(off_t)total - 100, 100, 1},
	};

	setup_opts(&o);
	o.no_readahead = true;
	ck_assert_int_eq(dfs_engine_create(&o, &e2), 0);
	dfs_file_close(disk_file(path, sizeof(path), "short", want, total, 50));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Read-only: nothing read is kept, every read goes to the disk. */
		struct dfs_file *f = tu_engine_open(e2, path, O_RDONLY);
		unsigned long r0 = direct_reads_now();
		char *got;

		/* Aligned, as a FUSE request's buffer is: a buffer off the
		 * memory alignment goes through the bounce buffer anyway. */
		ck_assert_int_eq(posix_memalign((void **)&got, 4096, cases[i].len), 0);
		ck_assert_int_eq(dfs_file_read(f, got, cases[i].len, cases[i].off),
				 (ssize_t)cases[i].len);
		ck_assert_mem_eq(got, want + cases[i].off, cases[i].len);
		free(got);
		ck_assert_msg(direct_reads_now() - r0 == cases[i].reads,
			      "%zu bytes at %lld: %lu O_DIRECT reads, want %lu", cases[i].len,
			      (long long)cases[i].off, direct_reads_now() - r0, cases[i].reads);
		ck_assert_int_eq(dfs_file_close(f), 0);
	}
	dfs_engine_destroy(e2);
	free(want);
}
END_TEST

/* While the O_DIRECT writes are held, reads and size come from the stage. */
START_TEST(test_inflight_reads)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "inflight");
	size_t total = 2 * MiB + 10; /* two windows in flight, one staged */
	char *want = malloc(total), *got = malloc(total);
	tu_pattern(want, total, 0, 5);
	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	/* Two windows in flight (depth 2); they grow the file, so one
	 * writes while the other waits its turn (extend_lock). */
	fault_io_wait_held(&fio, 1);
	struct dfs_file_stats st;
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.state, DFS_STATE_WRITING);
	ck_assert_uint_eq(st.written, total);
	ck_assert_uint_eq(st.pending, total);
	ck_assert_uint_eq(st.synced, 0);
	ck_assert_int_eq(dfs_file_size(f), (off_t)total);
	struct stat bst;
	ck_assert_int_eq(stat(path, &bst), 0);
	ck_assert_int_eq(bst.st_size, 0); /* nothing on disk yet */
	ck_assert_int_eq(dfs_file_read(f, got, total, 0), (ssize_t)total);
	ck_assert(memcmp(got, want, total) == 0);
	fault_io_hold(&fio, false);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	dfs_file_stats(f, &st);
	ck_assert_int_eq(st.state, DFS_STATE_IDLE);
	ck_assert_uint_eq(st.synced, total);
	ck_assert_uint_eq(st.durable, total);
	ck_assert_uint_eq(st.pending, 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	free(want);
	free(got);
}
END_TEST

/*
 * dfs_file_copy (copy_file_range through the stage).  An aligned copy of
 * 5 MiB + 5000 bytes reads each window once with O_DIRECT straight into
 * the caller's buffer (six reads: five windows, then the last one's 5,000
 * bytes in one read through a bounce buffer; no read-ahead), trades
 * whole windows into the stage (the caller's buffer comes back another),
 * keeps nothing of the source in a clean window, and the copy on disk is
 * the source.  A copy at unaligned offsets sees
 * bytes still staged in the source; a copy past the source's end is short,
 * one at it copies nothing; a read-only destination is EBADF.
 */
START_TEST(test_copy)
{
	char pin[4200], pout[4200], pout2[4200];
	size_t total = 5 * MiB + 5000;
	char *want = malloc(total), *buf = dfs_engine_buf_alloc(eng), *had = buf;
	struct dfs_file *in = disk_file(pin, sizeof(pin), "cin", want, total, 21);
	struct dfs_file *out = ecreate(pout, sizeof(pout), "cout");
	unsigned long r0 = direct_reads_now();

	ck_assert_ptr_nonnull(buf);
	/* One window first: the buffer comes back another.  (Over many
	 * windows it may come back the same: written windows give their
	 * buffers back to the pool, which hands them out again.) */
	ck_assert_int_eq(dfs_file_copy(in, 0, out, 0, MiB, &buf), MiB);
	ck_assert_msg(buf != had, "no window was traded into the stage");
	ck_assert_int_eq(dfs_file_copy(in, MiB, out, MiB, total, &buf), (ssize_t)(total - MiB));
	ck_assert_uint_eq(direct_reads_now() - r0, 6);
	ck_assert_int_eq(dfs_file_copy(in, (off_t)total, out, (off_t)total, MiB, &buf), 0);
	/* Nothing of the source kept in a clean window: read again, it
	 * comes from the disk. */
	r0 = direct_reads_now();
	read_eq(in, want, MiB, 0);
	ck_assert_uint_gt(direct_reads_now() - r0, 0);
	ck_assert_int_eq(dfs_file_size(out), (off_t)total);
	ck_assert_int_eq(dfs_file_close(out), 0);
	assert_disk(pout, want, total);

	/* Staged bytes of the source, unaligned offsets on both sides. */
	char staged[3000];
	tu_pattern(staged, sizeof(staged), 0, 22);
	ck_assert_int_eq(dfs_file_write(in, staged, sizeof(staged), 1500000), sizeof(staged));
	memcpy(want + 1500000, staged, sizeof(staged));
	out = ecreate(pout2, sizeof(pout2), "cout2");
	ck_assert_int_eq(dfs_file_copy(in, 1000, out, 3, 2 * MiB + 7, &buf), 2 * MiB + 7);
	ck_assert_int_eq(dfs_file_close(out), 0);
	size_t n = 0;
	char *got = tu_slurp(pout2, &n);
	ck_assert_uint_eq(n, 3 + 2 * MiB + 7);
	ck_assert_msg(memcmp(got + 3, want + 1000, 2 * MiB + 7) == 0, "unaligned copy differs");
	free(got);

	struct dfs_file *ro = eopen(pout, O_RDONLY);
	ck_assert_int_eq(dfs_file_copy(in, 0, ro, 0, MiB, &buf), -EBADF);
	ck_assert_int_eq(dfs_file_close(ro), 0);
	ck_assert_int_eq(dfs_file_close(in), 0);
	dfs_engine_buf_free(eng, buf);
	free(want);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "engine_read", .odirect = true, .timeout = 120,
		.setup = setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_readahead),
			TU_TEST(test_readahead_invalidated),
			TU_TEST(test_clean_windows),
			TU_TEST(test_read_deliver),
			TU_TEST(test_clean_windows_reclaimed),
			TU_TEST(test_short_read_one_trip),
			TU_TEST(test_inflight_reads),
			TU_TEST(test_copy),
			{ NULL },
		},
	});
}
