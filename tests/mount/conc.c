/* SPDX-License-Identifier: MIT */
/*
 * Description: concurrent writers, readers and truncates in one directory
 * of the mount, verified byte by byte, for t_conc.
 *
 *   conc DIR SOURCE-DIR
 *
 * 1. Eight writers fill eight files (6 MiB each, in pieces of 1 byte to
 *    300 KiB) while two readers read random ranges of them: every byte a
 *    reader gets below what its writer has had acknowledged is the
 *    writer's byte.
 * 2. Four writers fill disjoint stripes (100,000 bytes, unaligned) of one
 *    file, interleaved; two readers read it meanwhile the same way.
 * 3. A writer rewrites a 4 MiB file piece by piece while another thread
 *    truncates it to random sizes: every byte ends as the pattern or
 *    zero, and the size is the last truncate or the last write's end.
 * Afterwards every file, read through the mount and on SOURCE, is checked
 * whole.  Prints what it checked; exits 1 at the first difference.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mhelp.h"

#define MiB (1024 * 1024)
#define NFILES 8
#define FILE_LEN (6 * MiB)
#define STRIPE 100000
#define NSTRIPES 4
#define STRIPES_EACH 24
#define TRUNC_LEN (4 * MiB)

static const char *dir, *srcdir;

static void die(const char *what, const char *path)
{
	fprintf(stderr, "conc: %s: %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* The byte at off of pattern seed: position-dependent, never 0. */
static inline char pat(uint32_t seed, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ull ^ seed * 0xBF58476D1CE4E5B9ull;

	x ^= x >> 29;
	return (char)(x % 255 + 1);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void write_all(int fd, const char *buf, size_t len, off_t off, const char *path)
{
	int r = pwrite_full(fd, buf, len, off);

	if (r) {
		errno = -r;
		die("pwrite", path);
	}
}

/* ---- 1 and 2: writers with readers ---- */

struct target {
	char path[4096];
	uint32_t seed;
	atomic_uint_fast64_t acked; /* bytes [0, acked) all written (part 1) */
	atomic_uint stripes_done[NSTRIPES]; /* part 2: stripes written by each */
};

static struct target files[NFILES], striped;
static atomic_bool writing;
static atomic_ulong checked;

static void *file_writer(void *arg)
{
	struct target *t = arg;
	uint64_t s = t->seed * 7919u + 1, off = 0;
	char *buf = malloc(300 * 1024);
	int fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || !buf)
		die("open", t->path);
	while (off < FILE_LEN) {
		size_t n = 1 + rnd(&s) % (300 * 1024);

		if (n > FILE_LEN - off)
			n = FILE_LEN - off;
		for (size_t i = 0; i < n; i++)
			buf[i] = pat(t->seed, off + i);
		write_all(fd, buf, n, (off_t)off, t->path);
		off += n;
		atomic_store(&t->acked, off);
	}
	if (close(fd))
		die("close", t->path);
	free(buf);
	return NULL;
}

struct stripe_writer {
	int which;
};

static void *stripe_main(void *arg)
{
	int w = ((struct stripe_writer *)arg)->which;
	char *buf = malloc(STRIPE);
	int fd = open(striped.path, O_WRONLY);

	if (fd < 0 || !buf)
		die("open", striped.path);
	for (int k = 0; k < STRIPES_EACH; k++) {
		uint64_t off = ((uint64_t)k * NSTRIPES + (uint64_t)w) * STRIPE;

		for (size_t i = 0; i < STRIPE; i++)
			buf[i] = pat(striped.seed, off + i);
		write_all(fd, buf, STRIPE, (off_t)off, striped.path);
		atomic_store(&striped.stripes_done[w], (unsigned)k + 1);
	}
	if (close(fd))
		die("close", striped.path);
	free(buf);
	return NULL;
}

/* Read a random acknowledged range of a random target and check it. */
static void *reader_main(void *arg)
{
	uint64_t s = (uintptr_t)arg * 104729u + 3;
	char *buf = malloc(256 * 1024);

	while (atomic_load(&writing)) {
		int i = (int)(rnd(&s) % (NFILES + 1));
		struct target *t = i == NFILES ? &striped : &files[i];
		uint64_t lo, len;

		if (t == &striped) {
			/* a stripe whose writer said it is done */
			int w = (int)(rnd(&s) % NSTRIPES);
			unsigned done = atomic_load(&t->stripes_done[w]);

			if (!done)
				continue;
			lo = ((rnd(&s) % done) * NSTRIPES + (uint64_t)w) * STRIPE;
			len = STRIPE;
		} else {
			uint64_t acked = atomic_load(&t->acked);

			if (!acked)
				continue;
			lo = rnd(&s) % acked;
			len = 1 + rnd(&s) % (256 * 1024);
			if (len > acked - lo)
				len = acked - lo;
		}
		int fd = open(t->path, O_RDONLY);
		if (fd < 0)
			continue; /* not created yet */
		ssize_t n = pread(fd, buf, len, (off_t)lo);
		if (n != (ssize_t)len) {
			fprintf(stderr, "conc: read of %s at %llu: %zd of %llu\n", t->path,
				(unsigned long long)lo, n, (unsigned long long)len);
			exit(1);
		}
		for (uint64_t j = 0; j < len; j++)
			if (buf[j] != pat(t->seed, lo + j)) {
				fprintf(stderr,
					"conc: %s: byte %llu read while writing differs\n",
					t->path, (unsigned long long)(lo + j));
				exit(1);
			}
		close(fd);
		atomic_fetch_add(&checked, 1);
	}
	free(buf);
	return NULL;
}

/* The whole of path is pattern seed for len bytes. */
static void check_whole(const char *path, uint32_t seed, uint64_t len)
{
	char *buf = malloc(len + 1);
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0 || !buf)
		die("open", path);
	n = pread(fd, buf, len + 1, 0);
	if (n != (ssize_t)len) {
		fprintf(stderr, "conc: %s holds %zd bytes, want %llu\n", path, n,
			(unsigned long long)len);
		exit(1);
	}
	for (uint64_t j = 0; j < len; j++)
		if (buf[j] != pat(seed, j)) {
			fprintf(stderr, "conc: %s: byte %llu differs\n", path,
				(unsigned long long)j);
			exit(1);
		}
	close(fd);
	free(buf);
}

/* ---- 3: a writer racing truncate ---- */

static char trunc_path[4096];
static atomic_bool trunc_writing;

static void *trunc_writer(void *arg)
{
	char *buf = malloc(256 * 1024);
	uint64_t s = 99;
	int fd = open(trunc_path, O_WRONLY);

	(void)arg;
	if (fd < 0 || !buf)
		die("open", trunc_path);
	for (int round = 0; round < 20; round++)
		for (uint64_t off = 0; off < TRUNC_LEN;) {
			size_t n = 1 + rnd(&s) % (256 * 1024);

			if (n > TRUNC_LEN - off)
				n = TRUNC_LEN - off;
			for (size_t i = 0; i < n; i++)
				buf[i] = pat(77, off + i);
			write_all(fd, buf, n, (off_t)off, trunc_path);
			off += n;
		}
	atomic_store(&trunc_writing, false);
	if (close(fd))
		die("close", trunc_path);
	free(buf);
	return NULL;
}

static void *truncator(void *arg)
{
	uint64_t s = 12345;
	long *count = arg;

	while (atomic_load(&trunc_writing)) {
		if (truncate(trunc_path, (off_t)(rnd(&s) % TRUNC_LEN)))
			die("truncate", trunc_path);
		(*count)++;
		usleep(200);
	}
	return NULL;
}

/*
 * Every byte of path is the pattern or zero, and it is as long as stat
 * says.  Right after the race the kernel's cached size may lag the
 * daemon's by a reply that crossed a truncate (seen once in many runs):
 * then, past the attribute timeout (1 s), stat must agree with what reads
 * return, and the lag is reported.
 */
static void check_trunc(const char *path)
{
	char *buf = malloc(TRUNC_LEN + 1);
	int fd = open(path, O_RDONLY);
	struct stat st;
	ssize_t n;

	if (fd < 0 || !buf)
		die("open", path);
	if (fstat(fd, &st))
		die("fstat", path);
	n = pread(fd, buf, TRUNC_LEN + 1, 0);
	if (n != (ssize_t)st.st_size) {
		off_t cached = st.st_size;

		sleep(2);
		if (fstat(fd, &st))
			die("fstat", path);
		n = pread(fd, buf, TRUNC_LEN + 1, 0);
		if (n != (ssize_t)st.st_size) {
			fprintf(stderr, "conc: %s: stat says %lld bytes, reads give %zd\n", path,
				(long long)st.st_size, n);
			exit(1);
		}
		printf("note: %s: stat showed %lld bytes for a moment, then %lld, as reads give\n",
		       path, (long long)cached, (long long)st.st_size);
	}
	for (ssize_t j = 0; j < n; j++)
		if (buf[j] && buf[j] != pat(77, (uint64_t)j)) {
			fprintf(stderr, "conc: %s: byte %zd is neither written nor zero\n",
				path, j);
			exit(1);
		}
	close(fd);
	free(buf);
}

int main(int argc, char **argv)
{
	pthread_t w[NFILES], sw[NSTRIPES], r[2], tw, tt;
	struct stripe_writer sargs[NSTRIPES];
	char path[4096];
	long truncs = 0;
	struct stat st;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: conc DIR SOURCE-DIR\n");
		return 64;
	}
	dir = argv[1];
	srcdir = argv[2];

	/* 1 and 2 at once. */
	snprintf(striped.path, sizeof(striped.path), "%s/striped", dir);
	striped.seed = 4242;
	fd = open(striped.path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create", striped.path);
	close(fd);
	atomic_store(&writing, true);
	for (int i = 0; i < NFILES; i++) {
		snprintf(files[i].path, sizeof(files[i].path), "%s/w%d", dir, i);
		files[i].seed = 1000 + (uint32_t)i;
		pthread_create(&w[i], NULL, file_writer, &files[i]);
	}
	for (int i = 0; i < NSTRIPES; i++) {
		sargs[i].which = i;
		pthread_create(&sw[i], NULL, stripe_main, &sargs[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader_main, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < NFILES; i++)
		pthread_join(w[i], NULL);
	for (int i = 0; i < NSTRIPES; i++)
		pthread_join(sw[i], NULL);
	atomic_store(&writing, false);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	for (int i = 0; i < NFILES; i++) {
		check_whole(files[i].path, files[i].seed, FILE_LEN);
		snprintf(path, sizeof(path), "%s/w%d", srcdir, i);
		check_whole(path, files[i].seed, FILE_LEN);
	}
	check_whole(striped.path, striped.seed, (uint64_t)STRIPE * NSTRIPES * STRIPES_EACH);
	snprintf(path, sizeof(path), "%s/striped", srcdir);
	check_whole(path, striped.seed, (uint64_t)STRIPE * NSTRIPES * STRIPES_EACH);
	printf("8 writers with 2 readers (%lu ranges checked while writing), "
	       "4 writers in stripes of one file: all bytes right, through the mount and on SOURCE\n",
	       atomic_load(&checked));

	/* 3. */
	snprintf(trunc_path, sizeof(trunc_path), "%s/racing", dir);
	fd = open(trunc_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("create", trunc_path);
	close(fd);
	atomic_store(&trunc_writing, true);
	pthread_create(&tw, NULL, trunc_writer, NULL);
	pthread_create(&tt, NULL, truncator, &truncs);
	pthread_join(tw, NULL);
	pthread_join(tt, NULL);
	check_trunc(trunc_path);
	if (stat(trunc_path, &st))
		die("stat", trunc_path);
	snprintf(path, sizeof(path), "%s/racing", srcdir);
	check_trunc(path);
	{
		struct stat on_src;

		if (stat(path, &on_src))
			die("stat", path);
		if (on_src.st_size != st.st_size) {
			fprintf(stderr, "conc: racing: %lld bytes in the mount, %lld on SOURCE\n",
				(long long)st.st_size, (long long)on_src.st_size);
			exit(1);
		}
	}
	printf("a writer racing %ld truncates: every byte written or zero, size %lld, "
	       "the same on SOURCE\n",
	       truncs, (long long)st.st_size);
	return 0;
}
