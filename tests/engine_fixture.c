/* SPDX-License-Identifier: MIT */
/*
 * engine_fixture.c - the engine the test_engine_*.c cases run on (1 MiB
 * windows, the fault-injecting I/O table), and what they count with.
 */
#define _GNU_SOURCE
#include "engine_fixture.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dfs_engine *eng;
struct fault_io fio;

void setup_opts(struct dfs_engine_opts *o)
{
	fault_io_init(&fio);
	dfs_engine_opts_init(o);
	o->buf_size = MiB; /* the cases below count windows of 1 MiB */
	o->io = &fio.ops;
	o->log = tu_log;
}

void setup(void)
{
	struct dfs_engine_opts o;
	setup_opts(&o);
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
}

void teardown(void)
{
	fault_io_hold(&fio, false);
	dfs_engine_destroy(eng);
	eng = NULL;
	fault_io_destroy(&fio);
}

struct dfs_file *eopen(const char *path, int flags)
{
	return tu_engine_open(eng, path, flags);
}

struct dfs_file *ecreate(char *path, size_t plen, const char *name)
{
	return tu_engine_create(eng, path, plen, name);
}

/* The file on disk equals want[0..len). */
void assert_disk(const char *path, const char *want, size_t len)
{
	size_t n = 0;
	char *got = tu_slurp(path, &n);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(n, len);
	ck_assert_msg(memcmp(got, want, len) == 0, "%s: bytes on disk differ", path);
	free(got);
}

/* A file of total bytes of pattern seed on disk, opened in the engine. */
struct dfs_file *disk_file(char *path, size_t plen, const char *name, char *want,
				  size_t total, int seed)
{
	tu_pattern(want, total, 0, seed);
	int fd = tu_create(path, plen, name, O_RDWR);
	ck_assert_int_eq(pwrite(fd, want, total, 0), (ssize_t)total);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	return eopen(path, O_RDWR);
}

unsigned long direct_reads_now(void)
{
	pthread_mutex_lock(&fio.lock); /* the workers count under it */
	unsigned long n = fio.direct_reads;
	pthread_mutex_unlock(&fio.lock);
	return n;
}

/* Wait (5 s at most) until the disk has been read n times with O_DIRECT. */
bool direct_reads_reach(unsigned long n)
{
	for (int i = 0; i < 500 && direct_reads_now() < n; i++)
		usleep(10 * 1000);
	return direct_reads_now() >= n;
}

unsigned long fsyncs(void)
{
	pthread_mutex_lock(&fio.lock);
	unsigned long n = fio.calls[FI_FSYNC];
	pthread_mutex_unlock(&fio.lock);
	return n;
}

unsigned long direct_writes_now(void)
{
	pthread_mutex_lock(&fio.lock);
	unsigned long n = fio.direct_writes;
	pthread_mutex_unlock(&fio.lock);
	return n;
}

/* Read len bytes at off through the engine and compare them with want. */
void read_eq(struct dfs_file *f, const char *want, size_t len, off_t off)
{
	char *got = malloc(len);

	ck_assert_int_eq(dfs_file_read(f, got, len, off), (ssize_t)len);
	ck_assert_msg(memcmp(got, want + off, len) == 0, "bytes at %lld differ",
		      (long long)off);
	free(got);
}
