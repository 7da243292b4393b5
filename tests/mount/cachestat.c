/* SPDX-License-Identifier: MIT */
/*
 * cachestat - pages of a file in the page cache, by cachestat(2) (Linux
 * 6.5), which needs no mapping: it also counts the pages the kernel keeps
 * of a file in a FUSE mount's own page cache, where fincore (mmap) is
 * refused.
 *
 *   cachestat FILE          print the pages cached now
 *   cachestat --max FILE    sample every 2 ms until SIGTERM, then print
 *                           the most seen, through one descriptor: a FUSE
 *                           open drops the file's pages (no keep_cache)
 *
 * Exits 1 naming the failed call; 77 where the kernel lacks cachestat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

struct cs_range {
	uint64_t off, len;
};
struct cs {
	uint64_t cache, dirty, writeback, evicted, recently_evicted;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static long pages(int fd)
{
	struct cs_range r = {0, 0}; /* len 0: to the end */
	struct cs c;

	return syscall(__NR_cachestat, fd, &r, &c, 0) ? -1 : (long)c.cache;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_term};
	long n = 0, most = 0;
	int fd;

	if (argc != 2 && (argc != 3 || strcmp(argv[1], "--max"))) {
		fprintf(stderr, "usage: cachestat [--max] FILE\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	fd = open(argv[argc - 1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "cachestat: open %s: %s\n", argv[argc - 1], strerror(errno));
		return 1;
	}
	do {
		n = pages(fd);
		if (n > most)
			most = n;
		if (argc == 3 && n >= 0)
			usleep(2000);
	} while (argc == 3 && !stop && n >= 0);
	n = n < 0 ? n : most;
	if (n < 0) {
		fprintf(stderr, "cachestat %s: %s\n", argv[argc - 1], strerror(errno));
		return errno == ENOSYS ? 77 : 1;
	}
	printf("%ld\n", n);
	return 0;
}
