/* SPDX-License-Identifier: MIT */
/*
 * Description: what mmap(2) does on one file, for t_mmap.
 *
 *   mapcheck shared|private FILE
 *   mapcheck coherent FILE IMAGE
 *
 * Maps FILE (at least one byte) read-write with MAP_SHARED or
 * MAP_PRIVATE.  Prints "ENODEV" (or another errno name) and exits 2 when
 * the mapping is refused.  Otherwise checks that the mapping shows the
 * bytes read(2) returns, then changes its first byte to '#': a shared
 * mapping is msync'ed and read(2) must see the change; a private one must
 * not reach the file.  Prints "ok" and exits 0, or says what differed and
 * exits 1.
 *
 * coherent: a shared mapping of FILE (20,000 bytes or more) against
 * read(2) and write(2) through the same mount, with data the daemon has
 * staged: a pwrite before the mapping shows in it; a store shows in a
 * pread at once; a pwrite shows in a load at once; a store by a child
 * process through its own mapping shows in the parent's; a truncate
 * makes a load past the new end fault (SIGBUS) and a truncate back up
 * shows zeros there.  Writes the bytes FILE must end with to IMAGE.
 */
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
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

static sigjmp_buf fault;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(fault, 1);
}

#define FAIL(...)                                                                        \
	do {                                                                             \
		printf(__VA_ARGS__);                                                     \
		printf("\n");                                                           \
		return 1;                                                                \
	} while (0)

static int coherent(const char *path, const char *image)
{
	const size_t len = 20000, cut = 8192;
	volatile char *map;
	char got[4], *want;
	pid_t pid;
	int fd, st, ifd;

	fd = open(path, O_RDWR);
	want = malloc(len);
	if (fd < 0 || !want || pread(fd, want, len, 0) != (ssize_t)len)
		FAIL("%s: cannot read %zu bytes", path, len);
	/* Staged by the daemon, not yet on SOURCE, when the mapping reads it. */
	if (pwrite(fd, "EEEE", 4, 300) != 4)
		FAIL("pwrite: %s", strerror(errno));
	memcpy(want + 300, "EEEE", 4);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		FAIL("mmap: %s", errno == ENODEV ? "ENODEV" : strerror(errno));
	if (memcmp((const char *)map + 300, "EEEE", 4))
		FAIL("a write staged before the mapping is not in it");
	memcpy((char *)map, "BBBB", 4); /* a store, then read(2) */
	memcpy(want, "BBBB", 4);
	if (pread(fd, got, 4, 0) != 4 || memcmp(got, "BBBB", 4))
		FAIL("read(2) after a store sees '%.4s'", got);
	if (pwrite(fd, "CCCC", 4, 100) != 4) /* write(2), then a load */
		FAIL("pwrite: %s", strerror(errno));
	memcpy(want + 100, "CCCC", 4);
	if (memcmp((const char *)map + 100, "CCCC", 4))
		FAIL("a load after write(2) sees '%.4s'", (const char *)map + 100);
	if (msync((void *)map, len, MS_SYNC))
		FAIL("msync: %s", strerror(errno));
	pid = fork(); /* another process, its own mapping */
	if (pid == 0) {
		char *m2 = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (m2 == MAP_FAILED)
			_exit(3);
		memcpy(m2 + 200, "DDDD", 4);
		_exit(msync(m2, len, MS_SYNC) ? 4 : 0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		FAIL("the second process's mapping failed");
	memcpy(want + 200, "DDDD", 4);
	if (memcmp((const char *)map + 200, "DDDD", 4))
		FAIL("a store by another process is not seen");
	if (ftruncate(fd, (off_t)cut))
		FAIL("ftruncate: %s", strerror(errno));
	signal(SIGBUS, on_sigbus);
	if (!sigsetjmp(fault, 1)) {
		volatile char c = map[cut + 4096];

		(void)c;
		FAIL("a load past the end after a truncate did not fault");
	}
	signal(SIGBUS, SIG_DFL);
	if (ftruncate(fd, (off_t)len))
		FAIL("ftruncate: %s", strerror(errno));
	memset(want + cut, 0, len - cut);
	for (size_t i = cut; i < len; i++)
		if (map[i])
			FAIL("after a truncate back up, byte %zu is not zero", i);
	if (munmap((void *)map, len) || close(fd))
		FAIL("munmap/close: %s", strerror(errno));
	ifd = open(image, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (ifd < 0 || write(ifd, want, len) != (ssize_t)len || close(ifd))
		FAIL("%s: %s", image, strerror(errno));
	printf("ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct stat st;
	char *map, first;
	int fd, shared;

	if (argc == 4 && !strcmp(argv[1], "coherent"))
		return coherent(argv[2], argv[3]);
	if (argc != 3 || (strcmp(argv[1], "shared") && strcmp(argv[1], "private"))) {
		fprintf(stderr, "usage: mapcheck shared|private FILE | coherent FILE IMAGE\n");
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
