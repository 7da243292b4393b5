/* SPDX-License-Identifier: MIT */
/*
 * Description: hand-picked engine cases: sequential and unaligned streams,
 * sparse files, overwrite of existing data, staged and in-flight reads,
 * truncate while staged, two appenders, descriptor modes, the tail's
 * RWF_DONTCACHE path, fallback, counters and states.
 */
#define _GNU_SOURCE
#include "fault_io.h"
#include "testutil.h"

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

#define MiB (1024 * 1024)

static struct dfs_engine *eng;
static struct fault_io fio;

static void setup_opts(struct dfs_engine_opts *o)
{
	fault_io_init(&fio);
	dfs_engine_opts_init(o);
	o->buf_size = MiB; /* the cases below count windows of 1 MiB */
	o->io = &fio.ops;
	o->log = tu_log;
}

static void setup(void)
{
	struct dfs_engine_opts o;
	setup_opts(&o);
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
}

static void teardown(void)
{
	fault_io_hold(&fio, false);
	dfs_engine_destroy(eng);
	eng = NULL;
	fault_io_destroy(&fio);
}

static struct dfs_file *eopen(const char *path, int flags)
{
	return tu_engine_open(eng, path, flags);
}

static struct dfs_file *ecreate(char *path, size_t plen, const char *name)
{
	return tu_engine_create(eng, path, plen, name);
}

/* The file on disk equals want[0..len). */
static void assert_disk(const char *path, const char *want, size_t len)
{
	size_t n = 0;
	char *got = tu_slurp(path, &n);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(n, len);
	ck_assert_msg(memcmp(got, want, len) == 0, "%s: bytes on disk differ", path);
	free(got);
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

/* A file of total bytes of pattern seed on disk, opened in the engine. */
static struct dfs_file *disk_file(char *path, size_t plen, const char *name, char *want,
				  size_t total, int seed)
{
	tu_pattern(want, total, 0, seed);
	int fd = tu_create(path, plen, name, O_RDWR);
	ck_assert_int_eq(pwrite(fd, want, total, 0), (ssize_t)total);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	return eopen(path, O_RDWR);
}

static unsigned long direct_reads_now(void)
{
	pthread_mutex_lock(&fio.lock); /* the workers count under it */
	unsigned long n = fio.direct_reads;
	pthread_mutex_unlock(&fio.lock);
	return n;
}

/* Wait (5 s at most) until the disk has been read n times with O_DIRECT. */
static bool direct_reads_reach(unsigned long n)
{
	for (int i = 0; i < 500 && direct_reads_now() < n; i++)
		usleep(10 * 1000);
	return direct_reads_now() >= n;
}

/*
 * Sequential reads read ahead: once the first 1 MiB read of a file on disk
 * returns, the next two windows are being read (three O_DIRECT reads in
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
	ck_assert_msg(direct_reads_reach(3), "no read-ahead: %lu O_DIRECT reads",
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
	ck_assert(direct_reads_reach(3)); /* windows 1 and 2 read ahead */
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
	fault_io_wait_held(&fio, 2); /* two windows in flight, depth 2 */
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

/* An overwrite of a range whose window is being written out. */
struct overwrite {
	struct dfs_file *f;
	const char *buf;
	atomic_bool done;
};

static void *overwrite_main(void *arg)
{
	struct overwrite *o = arg;

	ck_assert_int_eq(dfs_file_write(o->f, o->buf, 5000, 1000), 5000);
	atomic_store(&o->done, true);
	return NULL;
}

/*
 * A write into a range still in flight waits for that write-out, then
 * lands: with both windows of a 2 MiB write held at the disk, an
 * overwrite of bytes 1000..6000 must not return until they are let go
 * (an engine that copied into the buffer being written, or raced it,
 * would return at once), and the disk ends with the overwrite.
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
	fault_io_wait_held(&fio, 2);
	memset(want + 1000, 'Z', 5000);
	o.buf = want + 1000;
	ck_assert_int_eq(pthread_create(&t, NULL, overwrite_main, &o), 0);
	usleep(300 * 1000);
	ck_assert_msg(!atomic_load(&o.done),
		      "the overwrite returned while its range was still in flight");
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

static unsigned long fsyncs(void)
{
	pthread_mutex_lock(&fio.lock);
	unsigned long n = fio.calls[FI_FSYNC];
	pthread_mutex_unlock(&fio.lock);
	return n;
}

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

static unsigned long direct_writes_now(void)
{
	pthread_mutex_lock(&fio.lock);
	unsigned long n = fio.direct_writes;
	pthread_mutex_unlock(&fio.lock);
	return n;
}

/* Read len bytes at off through the engine and compare them with want. */
static void read_eq(struct dfs_file *f, const char *want, size_t len, off_t off)
{
	char *got = malloc(len);

	ck_assert_int_eq(dfs_file_read(f, got, len, off), (ssize_t)len);
	ck_assert_msg(memcmp(got, want + off, len) == 0, "bytes at %lld differ",
		      (long long)off);
	free(got);
}

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

int main(void)
{
	tu_require_odirect(tu_dir());
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sequential_with_tail);
	tcase_add_test(tc, test_unaligned_stream);
	tcase_add_test(tc, test_sparse);
	tcase_add_test(tc, test_overwrite_existing);
	tcase_add_test(tc, test_small_rmw_cached);
	tcase_add_test(tc, test_readahead);
	tcase_add_test(tc, test_readahead_invalidated);
	tcase_add_test(tc, test_clean_windows);
	tcase_add_test(tc, test_read_deliver);
	tcase_add_test(tc, test_clean_windows_reclaimed);
	tcase_add_test(tc, test_inflight_reads);
	tcase_add_test(tc, test_overwrite_inflight);
	tcase_add_test(tc, test_truncate_staged);
	tcase_add_test(tc, test_two_appenders);
	tcase_add_test(tc, test_two_appenders_one_buffer);
	tcase_add_test(tc, test_descriptor_modes);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_no_dontcache);
	tcase_add_test(tc, test_fallback_at_runtime);
	tcase_add_test(tc, test_fallback_ramfs);
	tcase_add_test(tc, test_direct_fd_unavailable);
	tcase_add_test(tc, test_state_strings);
	tcase_add_test(tc, test_progress_protocol);
	tcase_add_test(tc, test_engine_counters);
	tcase_add_test(tc, test_finish_skips_clean);
	tcase_add_test(tc, test_stats_during_write);
	tcase_add_test(tc, test_flight_lines);
	tcase_add_test(tc, test_rate);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
