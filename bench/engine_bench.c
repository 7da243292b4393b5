/* SPDX-License-Identifier: MIT */
/*
 * engine_bench - sequential write throughput of the staging engine alone
 * (no FUSE): SIZE MiB written in 1 MiB calls, like dd bs=1M, then close
 * (flush, tail, fsync).  Prints one line: MiB/s and the engine's settings.
 *
 *   engine_bench FILE SIZE_MIB [BUF_KIB [DEPTH [WORKERS]]]
 */
#define _GNU_SOURCE
#include "dfs_engine.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s FILE SIZE_MIB [BUF_KIB [DEPTH [WORKERS]]]\n",
			argv[0]);
		return 2;
	}
	struct dfs_engine_opts o;
	dfs_engine_opts_init(&o);
	long mib = atol(argv[2]);
	if (argc > 3)
		o.buf_size = (size_t)atol(argv[3]) * 1024;
	if (argc > 4)
		o.depth = (unsigned)atoi(argv[4]);
	if (argc > 5)
		o.workers = (unsigned)atoi(argv[5]);
	if (o.mem_cap < (o.depth + 2) * o.buf_size)
		o.mem_cap = (o.depth + 2) * o.buf_size;
	const char *why;
	if (mib <= 0 || dfs_engine_opts_check(&o, &why)) {
		fprintf(stderr, "bad arguments: %s\n", mib <= 0 ? "size" : why);
		return 2;
	}

	struct dfs_engine *e;
	struct dfs_file *f;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dfs_engine_create(&o, &e) || dfs_file_open(e, fd, &f)) {
		perror(argv[1]);
		return 1;
	}
	close(fd);
	size_t chunk = 1024 * 1024;
	char *buf = malloc(chunk);
	memset(buf, 0xab, chunk);

	double t0 = now();
	for (long i = 0; i < mib; i++) {
		if (dfs_file_write(f, buf, chunk, (off_t)i * (off_t)chunk) !=
		    (ssize_t)chunk) {
			fprintf(stderr, "write failed at %ld MiB\n", i);
			return 1;
		}
	}
	int r = dfs_file_close(f);
	double t = now() - t0;
	dfs_engine_destroy(e);
	free(buf);
	if (r) {
		fprintf(stderr, "close: %s\n", strerror(-r));
		return 1;
	}
	printf("engine buf=%zuKiB depth=%u workers=%u: %ld MiB in %.2f s = %.0f MiB/s\n",
	       o.buf_size / 1024, o.depth, o.workers, mib, t, (double)mib / t);
	return 0;
}
