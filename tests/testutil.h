/* SPDX-License-Identifier: MIT */
/*
 * testutil.h - helpers shared by the Check unit tests of lib/.
 *
 * Scratch files go under $DFS_TEST_DIR (CTest sets it inside the build
 * tree).  A test that needs O_DIRECT there and cannot have it exits 77.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dfs_engine.h"

#define SKIP_CODE 77
/* Say in one line what the machine lacks and skip (exit 77); in CI
 * (CI=true) nothing may skip, so this fails instead. */
void tu_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A fresh scratch directory for this process (removed at exit). */
const char *tu_dir(void);
/* Exit 77 (skip) unless dir accepts O_DIRECT. */
void tu_require_odirect(const char *dir);
/* Create an empty file under tu_dir(); path receives its name. */
int tu_create(char *path, size_t len, const char *name, int flags);
/* Open path with flags and hand it to the engine (assertions on failure). */
struct dfs_file *tu_engine_open(struct dfs_engine *e, const char *path, int flags);
/* tu_create() a fresh file, then tu_engine_open() it read-write. */
struct dfs_file *tu_engine_create(struct dfs_engine *e, char *path, size_t len,
				  const char *name);
/* Whole file into a malloc'd buffer; *size receives its length. */
char *tu_slurp(const char *path, size_t *size);
/* Pages of path resident in the page cache (mincore). */
long tu_resident_pages(const char *path);
/* Small-geometry options that exercise windows, reclaim and depth. */
void tu_small_opts(struct dfs_engine_opts *o);
/* Collect engine log lines; tu_log_count() tells how many. */
void tu_log(void *arg, int level, const char *msg);
int tu_log_count(void);
const char *tu_log_last(void);
/* xorshift64* */
uint64_t tu_rand(uint64_t *state);
/* Fill buf with a pattern tied to (seed, offset) so misplaced bytes show. */
void tu_pattern(char *buf, size_t len, off_t off, uint32_t seed);
/*
 * A filesystem of type fstype on a loop device with the given logical
 * sector size, over a sparse image of size_mib under tu_dir(), mounted at
 * dir.  Exits 77 only where the machine has no loop devices.  Everything
 * is undone by tu_loopfs_destroy() and, failing that, at exit.
 */
struct tu_loopfs {
	char image[4200];
	char dev[64];
	char dir[4200];
};
void tu_loopfs_create(struct tu_loopfs *l, const char *fstype, unsigned sector,
		      unsigned size_mib);
void tu_loopfs_destroy(struct tu_loopfs *l);
/* Run a shell command; its exit status. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The one runner of the unit tests.  A test file's main() is a table:
 *
 *	return tu_main(&(struct tu_case){
 *		.name = "pool", .odirect = true, .timeout = 120,
 *		.setup = setup, .teardown = teardown,
 *		.tests = (const struct tu_test[]){
 *			TU_TEST(test_a), TU_LOOP(test_b, 0, 6), { NULL },
 *		},
 *	});
 */
struct tu_test {
	const TTest *test;
	int from, to; /* run as _i = from .. to - 1 */
};
#define TU_TEST(t) { (t), 0, 1 }
#define TU_LOOP(t, from, to) { (t), (from), (to) }
/* Tests that share a fixture and a timeout. */
struct tu_case {
	const char *name;
	bool odirect;   /* skip (77) unless tu_dir() takes O_DIRECT */
	unsigned timeout; /* seconds per test; 0 keeps Check's 4 */
	void (*setup)(void), (*teardown)(void); /* around each test */
	bool once;      /* ... or once for the case (a costly fixture) */
	const struct tu_test *tests; /* ends with { NULL } */
};
/* Add case c to s. */
void tu_add_case(Suite *s, const struct tu_case *c);
/* Run a suite of the one case c (named after it): the exit code. */
int tu_main(const struct tu_case *c);
/* Run the suite; the process's exit code. */
int tu_run(Suite *s);
/* Something must not happen: happened(arg), true once it has, is asked
 * every 10 ms for ms milliseconds, and the test fails the first time it
 * is true, saying what and the window watched.  A slow machine can only
 * make the watch longer, never pass it for something that happened. */
void tu_stays_false(unsigned ms, const char *what, bool (*happened)(void *), void *arg);

#endif
