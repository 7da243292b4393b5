/* SPDX-License-Identifier: MIT */
/*
 * mdstress - a metadata stress: PROCS processes, each in its own directory
 * under DIR, run ROUNDS rounds of: create a file and write SIZE bytes to it,
 * rename it, hard-link it, stat the link, append to it through the link,
 * unlink the first name; every 8th round makes a directory and renames the
 * file into it.  Then each lists its directory, reads every file back
 * (checking its bytes) and removes everything.  Prints the wall seconds.
 *
 *   mdstress DIR [PROCS [ROUNDS [SIZE]]]     (defaults 4, 2000, 512)
 *
 * Exits 1 on any failed call or wrong byte, naming it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *name)
{
	fprintf(stderr, "mdstress: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static void put(int fd, const char *buf, size_t len, const char *name)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write", name);
		buf += n;
		len -= (size_t)n;
	}
}

/* The byte at offset i of round r's file. */
static char byte_at(unsigned r, size_t i)
{
	return (char)('a' + (r * 7 + i) % 26);
}

static void check(int dir, const char *name, unsigned r, size_t size)
{
	char buf[65536];
	size_t i, off = 0;
	ssize_t n;
	int fd = openat(dir, name, O_RDONLY);

	if (fd < 0)
		die("open", name);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != byte_at(r, (off + i) % size)) {
				fprintf(stderr, "mdstress: %s: wrong byte at %zu\n", name, off + i);
				exit(1);
			}
		off += (size_t)n;
	}
	if (n < 0)
		die("read", name);
	if (off != 2 * size) {
		fprintf(stderr, "mdstress: %s: %zu bytes, not %zu\n", name, off, 2 * size);
		exit(1);
	}
	close(fd);
}

static void worker(const char *top, int p, unsigned rounds, size_t size)
{
	char path[4096], a[64], b[64], c[64], sub[64];
	char *data = malloc(size);
	struct stat st;
	unsigned r;
	size_t i;
	int dir, fd;

	if (!data)
		die("malloc", "");
	snprintf(path, sizeof(path), "%s/w%d", top, p);
	if (mkdir(path, 0755) && errno != EEXIST)
		die("mkdir", path);
	dir = open(path, O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		die("open", path);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < size; i++)
			data[i] = byte_at(r, i);
		snprintf(a, sizeof(a), "new%u", r);
		snprintf(b, sizeof(b), "f%u", r);
		snprintf(c, sizeof(c), "l%u", r);
		fd = openat(dir, a, O_WRONLY | O_CREAT | O_EXCL, 0644);
		if (fd < 0)
			die("create", a);
		put(fd, data, size, a);
		if (close(fd))
			die("close", a);
		if (renameat(dir, a, dir, b))
			die("rename", a);
		if (linkat(dir, b, dir, c, 0))
			die("link", b);
		if (fstatat(dir, c, &st, 0))
			die("stat", c);
		if (st.st_nlink != 2 || st.st_size != (off_t)size) {
			fprintf(stderr, "mdstress: %s: nlink %lu size %lld\n", c,
				(unsigned long)st.st_nlink, (long long)st.st_size);
			exit(1);
		}
		fd = openat(dir, c, O_WRONLY | O_APPEND);
		if (fd < 0)
			die("open", c);
		put(fd, data, size, c);
		if (close(fd))
			die("close", c);
		if (unlinkat(dir, b, 0))
			die("unlink", b);
		if (r % 8 == 7) {
			snprintf(sub, sizeof(sub), "d%u", r);
			if (mkdirat(dir, sub, 0755))
				die("mkdir", sub);
			snprintf(path, sizeof(path), "d%u/%s", r, c);
			if (renameat(dir, c, dir, path))
				die("rename", c);
		}
	}
	/* List, read back and remove. */
	for (r = 0; r < rounds; r++) {
		if (r % 8 == 7)
			snprintf(c, sizeof(c), "d%u/l%u", r, r);
		else
			snprintf(c, sizeof(c), "l%u", r);
		check(dir, c, r, size);
	}
	{
		DIR *d = fdopendir(dup(dir));
		struct dirent *e;
		unsigned n = 0;

		if (!d)
			die("opendir", top);
		while ((e = readdir(d)))
			n++;
		closedir(d);
		/* ., .., one name per round. */
		if (n != rounds + 2) {
			fprintf(stderr, "mdstress: w%d lists %u names, not %u\n", p, n, rounds + 2);
			exit(1);
		}
	}
	for (r = 0; r < rounds; r++) {
		if (r % 8 == 7) {
			snprintf(c, sizeof(c), "d%u/l%u", r, r);
			if (unlinkat(dir, c, 0))
				die("unlink", c);
			snprintf(sub, sizeof(sub), "d%u", r);
			if (unlinkat(dir, sub, AT_REMOVEDIR))
				die("rmdir", sub);
		} else {
			snprintf(c, sizeof(c), "l%u", r);
			if (unlinkat(dir, c, 0))
				die("unlink", c);
		}
	}
	close(dir);
	free(data);
}

int main(int argc, char **argv)
{
	int procs = argc > 2 ? atoi(argv[2]) : 4;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 2000;
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 512;
	struct timespec t0, t1;
	int p, status, bad = 0;

	if (argc < 2 || procs < 1 || !rounds || !size) {
		fprintf(stderr, "usage: mdstress DIR [PROCS [ROUNDS [SIZE]]]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", "");
		if (!pid) {
			worker(argv[1], p, rounds, size);
			_exit(0);
		}
	}
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (bad)
		return 1;
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}
