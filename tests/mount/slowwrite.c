/* SPDX-License-Identifier: MIT */
/*
 * Description: a writer that takes its time, for tests that act during a
 * copy (unmount, SIGTERM, SIGKILL, progress).
 *
 *   slowwrite FILE TOTAL CHUNK DELAY_MS SEED   write, print "acked N"
 *   slowwrite - TOTAL CHUNK 0 SEED            the same bytes, to stdout
 *
 * Writes TOTAL bytes of a pattern derived from SEED, CHUNK bytes per
 * write(2), sleeping DELAY_MS between writes, then closes.  Whatever
 * happens it prints how many bytes write(2) acknowledged, which is what
 * must then be on disk.  Exit 0 if all were written and close succeeded,
 * 1 if a write failed, 2 if close failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void pattern(char *buf, size_t len, uint64_t off, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		uint64_t x = (off + i) / 8 * 0x9e3779b97f4a7c15ull ^ seed;

		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9ull;
		buf[i] = (char)(x >> (8 * ((off + i) % 8)));
	}
}

int main(int argc, char **argv)
{
	uint64_t total, chunk, seed, acked = 0;
	struct timespec nap;
	char *buf;
	int fd, ms;

	if (argc != 6) {
		fprintf(stderr, "usage: slowwrite FILE|- TOTAL CHUNK DELAY_MS SEED\n");
		return 2;
	}
	total = strtoull(argv[2], NULL, 0);
	chunk = strtoull(argv[3], NULL, 0);
	ms = atoi(argv[4]);
	seed = strtoull(argv[5], NULL, 0);
	nap.tv_sec = ms / 1000;
	nap.tv_nsec = (long)(ms % 1000) * 1000000;
	buf = malloc(chunk);
	if (!buf || !chunk)
		return 2;
	fd = strcmp(argv[1], "-")
		     ? open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
		     : STDOUT_FILENO;
	if (fd < 0) {
		fprintf(stderr, "slowwrite: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	while (acked < total) {
		size_t len =
			total - acked < chunk ? (size_t)(total - acked) : (size_t)chunk;
		size_t done = 0;

		pattern(buf, len, acked, seed);
		while (done < len) {
			ssize_t n = write(fd, buf + done, len - done);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				fprintf(stderr, "slowwrite: write at %llu: %s\n",
					(unsigned long long)(acked + done),
					n < 0 ? strerror(errno) : "wrote 0");
				printf("acked %llu\n",
				       (unsigned long long)(acked + done));
				free(buf);
				return 1;
			}
			done += (size_t)n;
		}
		acked += len;
		if (ms && acked < total)
			nanosleep(&nap, NULL);
	}
	if (fd != STDOUT_FILENO && close(fd)) {
		fprintf(stderr, "slowwrite: close: %s\n", strerror(errno));
		printf("acked %llu\n", (unsigned long long)acked);
		free(buf);
		return 2;
	}
	if (fd != STDOUT_FILENO)
		printf("acked %llu\n", (unsigned long long)acked);
	free(buf);
	return 0;
}
