/* SPDX-License-Identifier: MIT */
/*
 * Description: engine unit tests, writes through the stage: sequential and unaligned streams, sparse
 * files, overwrites of existing data (read-modify-write), writes into a
 * range in flight, truncate while staged, two appenders, whole windows
 * traded instead of copied (dfs_file_write_swap).
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
#include <stdint.h>
#include <unistd.h>

/* For tu_stays_false: more O_DIRECT writes held at the gate than n. */
static bool held_more_than(void *n)
{
	return fault_io_held(&fio) > (int)(intptr_t)n;
}

START_TEST(test_sequential_with_tail)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "seq");
	size_t total = 8 * MiB + 1000;
	char *want = malloc(total);
	tu_pattern(want, total, 0, 1);
	for (size_t off = 0; off < total; off += MiB) {
		size_t n = total - off < MiB ? total - off : MiB;
		ck_assert_int_eq(dfs_file_write(f, want + off, n, (off_t)off),
				 (ssize_t)n);
	}
	ck_assert_int_eq(dfs_file_size(f), (off_t)total);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	/* The tail went through the plain descriptor with RWF_DONTCACHE. */
	ck_assert_uint_ge(fio.plain_writes, 1);
	ck_assert_uint_ge(fio.dontcache_writes, 1);
	ck_assert_uint_ge(fio.direct_writes, 8);
	free(want);
}
END_TEST

/* dd bs=1000: every write is unaligned, blocks straddle writes. */
START_TEST(test_unaligned_stream)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "unal");
	size_t total = 3 * MiB + 777;
	char *want = malloc(total);
	tu_pattern(want, total, 0, 2);
	for (size_t off = 0; off < total; off += 1000) {
		size_t n = total - off < 1000 ? total - off : 1000;
		ck_assert_int_eq(dfs_file_write(f, want + off, n, (off_t)off),
				 (ssize_t)n);
	}
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	/* Appending past the disk's end needs no read-modify-write reads. */
	ck_assert_uint_eq(fio.direct_reads, 0);
	free(want);
}
END_TEST

START_TEST(test_sparse)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "sparse");
	off_t far = 64 * MiB + 123;
	char rec[300], buf[4096];
	tu_pattern(rec, sizeof(rec), far, 3);
	ck_assert_int_eq(dfs_file_write(f, rec, sizeof(rec), far), (ssize_t)sizeof(rec));
	ck_assert_int_eq(dfs_file_size(f), far + (off_t)sizeof(rec));
	/* The hole reads as zeros, staged or not. */
	static const char zeros[4096];
	memset(buf, 0x55, sizeof(buf));
	ck_assert_int_eq(dfs_file_read(f, buf, sizeof(buf), 1000), (ssize_t)sizeof(buf));
	ck_assert_mem_eq(buf, zeros, sizeof(buf));
	ck_assert_int_eq(dfs_file_close(f), 0);

	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, far + (off_t)sizeof(rec));
	ck_assert_int_lt(st.st_blocks * 512, 1 * MiB); /* still a hole */
	int fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, buf, sizeof(rec), far), (ssize_t)sizeof(rec));
	ck_assert_mem_eq(buf, rec, sizeof(rec));
	ck_assert_int_eq(pread(fd, buf, 512, 32 * MiB), 512);
	ck_assert_mem_eq(buf, zeros, 512);
	close(fd);
}
END_TEST

/* Small unaligned overwrites inside an existing file keep its other bytes. */
START_TEST(test_overwrite_existing)
{
	char path[4200];
	size_t total = 2 * MiB + 4321;
	char *want = malloc(total);
	tu_pattern(want, total, 0, 4);
	int fd = tu_create(path, sizeof(path), "over", O_RDWR);
	ck_assert_int_eq(pwrite(fd, want, total, 0), (ssize_t)total);
	fsync(fd);
	close(fd);

	struct dfs_file *f = eopen(path, O_RDWR);
	const off_t offs[] = {0, 1, 511, 4095, 4097, MiB - 3, 2 * MiB + 4000};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		char rec[100];
		memset(rec, 'a' + (int)i, sizeof(rec));
		size_t n = sizeof(rec);
		if (offs[i] + (off_t)n > (off_t)total + 50)
			n = 50;
		ck_assert_int_eq(dfs_file_write(f, rec, n, offs[i]), (ssize_t)n);
		size_t end = (size_t)offs[i] + n;
		if (end > total) {
			want = realloc(want, end);
			total = end;
		}
		memcpy(want + offs[i], rec, n);
	}
	char *got = malloc(total);
	ck_assert_int_eq(dfs_file_read(f, got, total, 0), (ssize_t)total);
	ck_assert(memcmp(got, want, total) == 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	ck_assert_uint_gt(fio.direct_reads, 0); /* read-modify-write happened */
	free(got);
	free(want);
}
END_TEST

/*
 * An append to a small file that a close has just written through the
 * page cache: the block it lands in is read back without O_DIRECT (which
 * would first write the dirty page out, then read it from the disk), and
 * the sync after the write drops every page of the file.
 */
START_TEST(test_small_rmw_cached)
{
	char path[4200];
	char want[1536];
	struct dfs_file *f = ecreate(path, sizeof(path), "smallrmw");

	tu_pattern(want, sizeof(want), 0, 6);
	ck_assert_int_eq(dfs_file_write(f, want, 300, 0), 300);
	ck_assert_int_eq(dfs_file_close_flush(f), 0); /* through the page cache */
	ck_assert_int_eq(dfs_file_close(f), 0);
	f = eopen(path, O_RDWR);
	unsigned long before = fio.direct_reads;
	/* Unaligned for any block size: block 0 is read first. */
	ck_assert_int_eq(dfs_file_write(f, want + 300, 1236, 300), 1236);
	ck_assert_uint_eq(fio.direct_reads, before);
	ck_assert_int_eq(dfs_file_sync(f, 0), 0);
	ck_assert_int_eq(tu_resident_pages(path), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, sizeof(want));
	/* A big file's read-modify-write still reads with O_DIRECT
	 * (test_overwrite_existing). */
}
END_TEST

/* An overwrite of a range whose window is being written out. */
struct overwrite {
	struct dfs_file *f;
	const char *buf;
	atomic_bool done;
};

static bool overwrite_returned(void *arg)
{
	return atomic_load(&((struct overwrite *)arg)->done);
}

static void *overwrite_main(void *arg)
{
	struct overwrite *o = arg;

	ck_assert_int_eq(dfs_file_write(o->f, o->buf, 5000, 1000), 5000);
	atomic_store(&o->done, true);
	return NULL;
}

/* Windows that grow the file are written one at a time (extend_lock: a
 * second would only spin on the inode lock); windows inside what the
 * file holds already are written side by side. */
START_TEST(test_extending_one_at_a_time)
{
	char path[4200];
	size_t total = 2 * MiB;
	char *want = malloc(total);
	struct dfs_file *f = ecreate(path, sizeof(path), "extend");

	tu_pattern(want, total, 0, 7);
	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	fault_io_wait_held(&fio, 1);
	tu_stays_false(200, "a second window that grows the file went to the disk at once",
		       held_more_than, (void *)1);
	fault_io_hold(&fio, false);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);

	/* Overwrite both windows in place: both writes go at once. */
	f = eopen(path, O_RDWR);
	tu_pattern(want, total, 0, 8);
	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	fault_io_wait_held(&fio, 2);
	ck_assert_int_eq(fault_io_held(&fio), 2);
	fault_io_hold(&fio, false);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	free(want);
}
END_TEST

/* Partly written windows go deeper than depth: a random writer's small
 * write-outs do not wait for each other (lib/stage.c, depth_for).  The
 * writer: one block into each of 7 windows (buf is the whole file). */
static void *sparse_write(void *arg)
{
	struct overwrite *s = arg;

	for (unsigned k = 0; k < 7; k++) {
		off_t off = (off_t)k * MiB;
		ck_assert_int_eq(dfs_file_write(s->f, s->buf + off, 4096, off), 4096);
	}
	atomic_store(&s->done, true);
	return NULL;
}

START_TEST(test_partial_windows_deeper)
{
	char path[4200];
	size_t total = 8 * MiB;
	char *want = malloc(total);
	struct overwrite s = {.buf = want};
	pthread_t t;

	s.f = disk_file(path, sizeof(path), "sparse", want, total, 9);
	for (unsigned k = 0; k < 7; k++)
		tu_pattern(want + (size_t)k * MiB, 4096, (off_t)k * MiB, 10);
	fault_io_hold(&fio, true);
	/* One block into each of 7 windows: past max_staged (4), the three
	 * oldest leave; with depth 2 the third would wait. */
	ck_assert_int_eq(pthread_create(&t, NULL, sparse_write, &s), 0);
	for (int i = 0; i < 500 && !(atomic_load(&s.done) && fault_io_held(&fio) >= 3); i++)
		usleep(10 * 1000);
	tu_stays_false(100, "a fourth window went to the disk", held_more_than, (void *)3);
	bool done = atomic_load(&s.done);
	int held = fault_io_held(&fio);
	fault_io_hold(&fio, false); /* before asserting: teardown waits for them */
	pthread_join(t, NULL);
	ck_assert_msg(done, "the writer waited for a small write-out");
	ck_assert_int_eq(held, 3);
	ck_assert_int_eq(dfs_file_close(s.f), 0);
	assert_disk(path, want, total);
	free(want);
}
END_TEST

/*
 * A write into a range still in flight waits for that write-out, then
 * lands: with the first window of a 2 MiB write held at the disk (the
 * second waits its turn: both grow the file), an overwrite of bytes
 * 1000..6000 must not return until it is let go (an engine that copied
 * into the buffer being written, or raced it, would return at once), and
 * the disk ends with the overwrite.
 */
START_TEST(test_overwrite_inflight)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "owinfl");
	size_t total = 2 * MiB;
	char *want = malloc(total);
	struct overwrite o = {.f = f};
	pthread_t t;

	tu_pattern(want, total, 0, 6);
	fault_io_hold(&fio, true);
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	fault_io_wait_held(&fio, 1); /* window 0; window 1 waits its turn */
	memset(want + 1000, 'Z', 5000);
	o.buf = want + 1000;
	ck_assert_int_eq(pthread_create(&t, NULL, overwrite_main, &o), 0);
	tu_stays_false(300, "the overwrite returned while its range was still in flight",
		       overwrite_returned, &o);
	fault_io_hold(&fio, false);
	pthread_join(t, NULL);
	ck_assert(atomic_load(&o.done));
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	free(want);
}
END_TEST

START_TEST(test_truncate_staged)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "trunc");
	size_t total = 300000;
	char *want = calloc(1, total);
	tu_pattern(want, 200000, 0, 7);
	ck_assert_int_eq(dfs_file_write(f, want, 200000, 0), 200000);
	ck_assert_int_eq(dfs_file_truncate(f, 70001), 0);
	ck_assert_int_eq(dfs_file_size(f), 70001);
	memset(want + 70001, 0, total - 70001);
	ck_assert_int_eq(dfs_file_truncate(f, 300000), 0);
	char rec[5000];
	tu_pattern(rec, sizeof(rec), 100000, 8);
	ck_assert_int_eq(dfs_file_write(f, rec, sizeof(rec), 100000),
			 (ssize_t)sizeof(rec));
	memcpy(want + 100000, rec, sizeof(rec));
	char *got = malloc(total);
	ck_assert_int_eq(dfs_file_read(f, got, total, 0), (ssize_t)total);
	ck_assert(memcmp(got, want, total) == 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	free(got);
	free(want);
}
END_TEST

struct appender {
	struct dfs_file *f;
	char tag;
	int n;
};

#define REC 4099

static void *append_thread(void *arg)
{
	struct appender *a = arg;
	char rec[REC];
	memset(rec, a->tag, sizeof(rec));
	for (int i = 0; i < a->n; i++)
		if (dfs_file_append(a->f, rec, sizeof(rec), NULL) != REC)
			return (void *)1;
	return NULL;
}

/* Two appenders: every record whole, none lost, none overlapping. */
/* Two threads appending records to one file: every record whole, none
 * lost.  Run on the default engine and on one with a single 64 KiB buffer,
 * where every new window waits for the pool and drops the file's lock. */
static void two_appenders(void)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "append");
	struct appender a = {f, 'a', 500}, b = {f, 'b', 500};
	pthread_t ta, tb;
	void *ra, *rb;
	pthread_create(&ta, NULL, append_thread, &a);
	pthread_create(&tb, NULL, append_thread, &b);
	pthread_join(ta, &ra);
	pthread_join(tb, &rb);
	ck_assert_ptr_null(ra);
	ck_assert_ptr_null(rb);
	ck_assert_int_eq(dfs_file_close(f), 0);
	size_t n;
	char *got = tu_slurp(path, &n);
	ck_assert_uint_eq(n, 1000 * REC);
	int na = 0, nb = 0;
	for (size_t r = 0; r < 1000; r++) {
		char c = got[r * REC];
		size_t same = 0;
		while (same < REC && got[r * REC + same] == c)
			same++;
		ck_assert_msg(same == REC, "record %zu torn at byte %zu", r, same);
		na += c == 'a';
		nb += c == 'b';
	}
	ck_assert_int_eq(na, 500);
	ck_assert_int_eq(nb, 500);
	free(got);
}

START_TEST(test_two_appenders)
{
	two_appenders();
}
END_TEST

START_TEST(test_two_appenders_one_buffer)
{
	struct dfs_engine_opts o;

	dfs_engine_destroy(eng);
	dfs_engine_opts_init(&o);
	o.buf_size = o.mem_cap = 64 * 1024;
	o.depth = 1;
	o.io = &fio.ops;
	o.log = tu_log;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
	two_appenders();
}
END_TEST

/*
 * One copy: dfs_file_write_swap of a whole window at a multiple of its
 * size trades buffers (the caller gets another buffer of the engine's
 * kind, whose headroom is writable); a write over a staged window whole
 * replaces it; anything else is copied and leaves the caller's buffer.
 * The disk ends up with exactly the bytes written, and reads of the
 * staged, traded window see them.
 */
START_TEST(test_write_swap)
{
	char path[4200];
	struct dfs_file *f = ecreate(path, sizeof(path), "swap");
	size_t total = 4 * MiB + 300;
	char *want = calloc(1, total);
	char *mine = dfs_engine_buf_alloc(eng), *had;

	ck_assert_ptr_nonnull(mine);
	ck_assert_uint_eq(dfs_engine_buf_size(eng), MiB);
	memset(mine - DFS_BUF_HEADROOM, 0x5a, DFS_BUF_HEADROOM); /* the header's room */
	/* A whole window at 0: traded. */
	tu_pattern(mine, MiB, 0, 21);
	memcpy(want, mine, MiB);
	had = mine;
	ck_assert_int_eq(dfs_file_write_swap(f, &mine, MiB, 0), (ssize_t)MiB);
	ck_assert_ptr_ne(mine, had);
	read_eq(f, want, MiB, 0);
	/* A staged piece of window 2, then window 2 whole: traded over it. */
	char piece[5000];
	tu_pattern(piece, sizeof(piece), 2 * MiB + 7, 22);
	ck_assert_int_eq(dfs_file_write(f, piece, sizeof(piece), 2 * MiB + 7),
			 (ssize_t)sizeof(piece));
	tu_pattern(mine, MiB, 2 * MiB, 23);
	memcpy(want + 2 * MiB, mine, MiB);
	had = mine;
	ck_assert_int_eq(dfs_file_write_swap(f, &mine, MiB, 2 * MiB), (ssize_t)MiB);
	ck_assert_ptr_ne(mine, had);
	read_eq(f, want, MiB, 2 * MiB);
	/* Not a whole window (short, or off its start): copied, kept. */
	tu_pattern(mine, MiB - 4096, 3 * MiB, 24);
	memcpy(want + 3 * MiB, mine, MiB - 4096);
	had = mine;
	ck_assert_int_eq(dfs_file_write_swap(f, &mine, MiB - 4096, 3 * MiB),
			 (ssize_t)(MiB - 4096));
	ck_assert_ptr_eq(mine, had);
	tu_pattern(mine, MiB, 3 * MiB + 4096, 25);
	memcpy(want + 3 * MiB + 4096, mine, total - 3 * MiB - 4096);
	ck_assert_int_eq(dfs_file_write(f, mine, total - 3 * MiB - 4096, 3 * MiB + 4096),
			 (ssize_t)(total - 3 * MiB - 4096));
	had = mine;
	ck_assert_int_eq(dfs_file_write_swap(f, &mine, MiB, MiB / 2), (ssize_t)MiB);
	ck_assert_ptr_eq(mine, had);
	memcpy(want + MiB / 2, mine, MiB);
	read_eq(f, want, total, 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	dfs_engine_buf_free(eng, mine);
	free(want);
}
END_TEST

/* An engine whose tails go padded with O_DIRECT (DFS_TAIL_PADDED, as on a
 * network SOURCE): for tail_padded_case. */
static struct dfs_engine *padded_engine(void)
{
	struct dfs_engine_opts o;
	struct dfs_engine *pe;

	setup_opts(&o);
	o.tail = DFS_TAIL_PADDED;
	ck_assert_int_eq(dfs_engine_create(&o, &pe), 0);
	return pe;
}

/* A padded tail: no byte goes through the page cache, a small file's
 * close included, and the file is cut back to its size. */
START_TEST(test_tail_padded)
{
	struct dfs_engine *pe = padded_engine();
	char path[4200];
	size_t total = 2 * MiB + 1000;
	char *want = malloc(total);
	struct dfs_file *f = tu_engine_create(pe, path, sizeof(path), "padbig");

	tu_pattern(want, total, 0, 21);
	ck_assert_int_eq(dfs_file_write(f, want, total, 0), (ssize_t)total);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);
	ck_assert_uint_eq(fio.plain_writes, 0);
	ck_assert_uint_eq(fio.calls[FI_FTRUNCATE], 1);

	/* A small file: the close writes it with O_DIRECT too. */
	f = tu_engine_create(pe, path, sizeof(path), "padsmall");
	ck_assert_int_eq(dfs_file_write(f, want, 5000, 0), 5000);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, 5000);
	ck_assert_uint_eq(fio.plain_writes, 0);
	ck_assert_uint_eq(fio.calls[FI_FTRUNCATE], 2);

	/* The tail block rewritten and grown after its cut (read-modify-write
	 * of a block the disk holds in part), then a write far beyond it. */
	f = tu_engine_open(pe, path, O_RDWR);
	tu_pattern(want + 5000, 1500, 5000, 22);
	ck_assert_int_eq(dfs_file_write(f, want + 5000, 1500, 5000), 1500);
	ck_assert_int_eq(dfs_file_flush(f), 0);
	assert_disk(path, want, 6500);
	tu_pattern(want + 6500, 100, 6500, 23);
	ck_assert_int_eq(dfs_file_write(f, want + 6500, 100, 6500), 100);
	ck_assert_int_eq(dfs_file_write(f, want + 2 * MiB, 1000, 2 * MiB), 1000);
	memset(want + 6600, 0, 2 * MiB - 6600);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, total);

	/* Both orders of a tail and a window beyond it: whichever reaches
	 * the disk first, the cut never takes the other's bytes. */
	for (int round = 0; round < 8; round++) {
		f = tu_engine_create(pe, path, sizeof(path), "padorder");
		tu_pattern(want, total, 0, 30 + round);
		memset(want + 3000, 0, 2 * MiB - 3000);
		ck_assert_int_eq(dfs_file_write(f, want, 3000, 0), 3000);
		if (round % 2)
			ck_assert_int_eq(dfs_file_flush(f), 0);
		ck_assert_int_eq(dfs_file_write(f, want + 2 * MiB, 1000, 2 * MiB), 1000);
		ck_assert_int_eq(dfs_file_close(f), 0);
		assert_disk(path, want, total);
		unlink(path);
	}
	ck_assert_uint_eq(fio.plain_writes, 0);
	dfs_engine_destroy(pe);
	free(want);
}
END_TEST

/* What the caller says of SOURCE's filesystem (source_dev, source_type)
 * stands for asking it: told NFS, a file in the test directory
 * gets its tail padded like one on a network SOURCE; told of another
 * device, the file is asked, and its local filesystem answers. */
START_TEST(test_source_fs_given)
{
	struct dfs_engine_opts o;
	struct dfs_engine *pe;
	struct stat st;
	char path[4200], buf[5000];

	ck_assert_int_eq(stat(tu_dir(), &st), 0);
	tu_pattern(buf, sizeof(buf), 0, 40);
	for (int other = 0; other < 2; other++) {
		setup_opts(&o);
		o.source_dev = (uint64_t)st.st_dev + (uint64_t)other;
		o.source_type = 0x6969; /* NFS_SUPER_MAGIC */
		ck_assert_int_eq(dfs_engine_create(&o, &pe), 0);
		unsigned long plain = fio.plain_writes;
		struct dfs_file *f = tu_engine_create(pe, path, sizeof(path), "given");
		ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
		ck_assert_int_eq(dfs_file_close(f), 0);
		assert_disk(path, buf, sizeof(buf));
		if (other)
			ck_assert_uint_gt(fio.plain_writes, plain);
		else
			ck_assert_uint_eq(fio.plain_writes, plain);
		dfs_engine_destroy(pe);
	}
}
END_TEST

/* SOURCE's type, given, also says whether a read must drop pages: told
 * ext4 (O_DIRECT reads leave none), a file's reads drop nothing; told
 * btrfs (which may serve them from its page cache), each read drops its
 * range.  Neither asks the file's filesystem. */
START_TEST(test_source_type_reads)
{
	const long types[] = {0xEF53, 0x9123683E}; /* ext4, btrfs */
	struct dfs_engine_opts o;
	struct dfs_engine *pe;
	struct stat st;
	char path[4200], buf[5000], got[5000];

	ck_assert_int_eq(stat(tu_dir(), &st), 0);
	tu_pattern(buf, sizeof(buf), 0, 41);
	for (int i = 0; i < 2; i++) {
		setup_opts(&o);
		o.source_dev = (uint64_t)st.st_dev;
		o.source_type = types[i];
		ck_assert_int_eq(dfs_engine_create(&o, &pe), 0);
		struct dfs_file *f = tu_engine_create(pe, path, sizeof(path), "typed");
		ck_assert_int_eq(dfs_file_write(f, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
		ck_assert_int_eq(dfs_file_close(f), 0);
		f = tu_engine_open(pe, path, O_RDONLY);
		pthread_mutex_lock(&fio.lock);
		unsigned long d0 = fio.dontneeds;
		pthread_mutex_unlock(&fio.lock);
		ck_assert_int_eq(dfs_file_read(f, got, sizeof(got), 0), (ssize_t)sizeof(got));
		ck_assert_mem_eq(got, buf, sizeof(buf));
		pthread_mutex_lock(&fio.lock);
		unsigned long drops = fio.dontneeds - d0;
		pthread_mutex_unlock(&fio.lock);
		if (i)
			ck_assert_uint_eq(drops, 1);
		else
			ck_assert_uint_eq(drops, 0);
		ck_assert_int_eq(dfs_file_close(f), 0);
		dfs_engine_destroy(pe);
	}
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "engine_write", .odirect = true, .timeout = 120,
		.setup = setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_sequential_with_tail),
			TU_TEST(test_unaligned_stream),
			TU_TEST(test_sparse),
			TU_TEST(test_overwrite_existing),
			TU_TEST(test_extending_one_at_a_time),
			TU_TEST(test_partial_windows_deeper),
			TU_TEST(test_small_rmw_cached),
			TU_TEST(test_overwrite_inflight),
			TU_TEST(test_truncate_staged),
			TU_TEST(test_two_appenders),
			TU_TEST(test_two_appenders_one_buffer),
			TU_TEST(test_write_swap),
			TU_TEST(test_tail_padded),
			TU_TEST(test_source_fs_given),
			TU_TEST(test_source_type_reads),
			{ NULL },
		},
	});
}
