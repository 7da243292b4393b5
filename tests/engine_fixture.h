/* SPDX-License-Identifier: MIT */
/*
 * engine_fixture.h - the engine the test_engine_*.c cases run on, set up
 * and torn down per test (a Check fixture), and helpers they share.
 */
#ifndef DFS_TEST_ENGINE_FIXTURE_H
#define DFS_TEST_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "fault_io.h"
#include "testutil.h"

#define MiB (1024 * 1024)

extern struct dfs_engine *eng; /* the test's engine, made by setup() */
extern struct fault_io fio;    /* its I/O table: counts, holds and fails calls */

/* The engine options setup() uses: 1 MiB windows (the cases count them),
 * fio as I/O table; for a case that makes an engine of its own. */
void setup_opts(struct dfs_engine_opts *o);
void setup(void);
void teardown(void);

struct dfs_file *eopen(const char *path, int flags);
/* A new file name in the test directory (its path into path), opened. */
struct dfs_file *ecreate(char *path, size_t plen, const char *name);
/* The file on disk equals want[0..len). */
void assert_disk(const char *path, const char *want, size_t len);
/* A file of total bytes of pattern seed on disk (also into want), opened. */
struct dfs_file *disk_file(char *path, size_t plen, const char *name, char *want,
			   size_t total, int seed);
/* Read len bytes at off through the engine and compare them with want + off. */
void read_eq(struct dfs_file *f, const char *want, size_t len, off_t off);

/* Calls the I/O table has seen so far. */
unsigned long direct_reads_now(void);
unsigned long direct_writes_now(void);
unsigned long fsyncs(void);
/* Wait (5 s at most) until the disk has been read n times with O_DIRECT. */
bool direct_reads_reach(unsigned long n);

#endif
