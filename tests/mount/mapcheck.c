/* SPDX-License-Identifier: MIT */
/*
 * Description: what mmap(2) does on one file, for t_mmap.
 *
 *   mapcheck shared|private FILE
 *
 * Maps FILE (at least one byte) read-write with MAP_SHARED or
 * MAP_PRIVATE.  Prints "ENODEV" (or another errno name) and exits 2 when
 * the mapping is refused.  Otherwise checks that the mapping shows the
 * bytes read(2) returns, then changes its first byte to '#': a shared
 * mapping is msync'ed and read(2) must see the change; a private one must
 * not reach the file.  Prints "ok" and exits 0, or says what differed and
 * exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The file's bytes as read(2) returns them (reachable to the end). */
static char *buf;

int main(int argc, char **argv)
{
	struct stat st;
	char *map, first;
	int fd, shared;

	if (argc != 3 || (strcmp(argv[1], "shared") && strcmp(argv[1], "private"))) {
		fprintf(stderr, "usage: mapcheck shared|private FILE\n");
		return 64;
	}
	shared = !strcmp(argv[1], "shared");
	fd = open(argv[2], O_RDWR);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 1) {
		perror(argv[2]);
		return 1;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		perror("pread");
		return 1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		   shared ? MAP_SHARED : MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		printf("%s\n", errno == ENODEV ? "ENODEV" : strerror(errno));
		return 2;
	}
	if (memcmp(map, buf, (size_t)st.st_size)) {
		printf("the mapping differs from read(2)\n");
		return 1;
	}
	map[0] = '#';
	if (shared && msync(map, (size_t)st.st_size, MS_SYNC)) {
		perror("msync");
		return 1;
	}
	if (pread(fd, &first, 1, 0) != 1) {
		perror("pread");
		return 1;
	}
	if (shared ? first != '#' : first != buf[0]) {
		printf("after the change, read(2) sees '%c'\n", first);
		return 1;
	}
	munmap(map, (size_t)st.st_size);
	close(fd);
	printf("ok\n");
	return 0;
}
