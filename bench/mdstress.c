/* SPDX-License-Identifier: MIT */
/*
 * mdstress - a metadata stress: PROCS processes, each in its own directory
 * under DIR, run ROUNDS rounds of: create a file and write SIZE bytes to it,
 * rename it, hard-link it, stat the link, append to it through the link,
 * unlink the first name; every 8th round makes a directory and renames the
 * file into it.  Then each reads every file back (checking its bytes),
 * lists its directory and removes everything.  Prints the wall seconds.
 *
 *   mdstress [-o] DIR [PROCS [ROUNDS [SIZE]]]     (defaults 4, 2000, 512)
 *
 * -o also prints, on standard error, a line per operation type: its name,
 * a tab and the seconds it took (a process's mean over the processes; the
 * calls in the order above): which of them a filesystem makes dear.
 *
 * Exits 1 on any failed call or wrong byte, naming it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The operation types -o times, in the order a round calls them. */
enum op {
	OP_CREATE, OP_WRITE, OP_CLOSE, OP_RENAME, OP_LINK, OP_STAT, OP_OPEN,
	OP_APPEND, OP_CLOSE2, OP_UNLINK, OP_MKDIR, OP_MOVE, OP_READBACK,
	OP_LIST, OP_REMOVE, OP_RMDIR, OPS
};

static const char *const op_name[OPS] = {
	"create", "write", "close", "rename", "link", "stat", "open (append)",
	"append", "close (append)", "unlink", "mkdir", "rename into dir",
	"read back (open, read, close)", "list", "unlink (removal)", "rmdir",
};

/* Seconds this process spent in each operation type; sent to the parent
 * as one write, which a pipe keeps whole up to PIPE_BUF bytes. */
static double spent[OPS];
_Static_assert(sizeof(spent) <= PIPE_BUF, "one record per write");

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run stmt, adding its time to spent[op]. */
#define TIMED(op, stmt)                       \
	do {                                  \
		double t_ = now();            \
		stmt;                         \
		spent[op] += now() - t_;      \
	} while (0)

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
	int dir, fd, err;

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
		TIMED(OP_CREATE, fd = openat(dir, a, O_WRONLY | O_CREAT | O_EXCL, 0644));
		if (fd < 0)
			die("create", a);
		TIMED(OP_WRITE, put(fd, data, size, a));
		TIMED(OP_CLOSE, err = close(fd));
		if (err)
			die("close", a);
		TIMED(OP_RENAME, err = renameat(dir, a, dir, b));
		if (err)
			die("rename", a);
		TIMED(OP_LINK, err = linkat(dir, b, dir, c, 0));
		if (err)
			die("link", b);
		TIMED(OP_STAT, err = fstatat(dir, c, &st, 0));
		if (err)
			die("stat", c);
		if (st.st_nlink != 2 || st.st_size != (off_t)size) {
			fprintf(stderr, "mdstress: %s: nlink %lu size %lld\n", c,
				(unsigned long)st.st_nlink, (long long)st.st_size);
			exit(1);
		}
		TIMED(OP_OPEN, fd = openat(dir, c, O_WRONLY | O_APPEND));
		if (fd < 0)
			die("open", c);
		TIMED(OP_APPEND, put(fd, data, size, c));
		TIMED(OP_CLOSE2, err = close(fd));
		if (err)
			die("close", c);
		TIMED(OP_UNLINK, err = unlinkat(dir, b, 0));
		if (err)
			die("unlink", b);
		if (r % 8 == 7) {
			snprintf(sub, sizeof(sub), "d%u", r);
			TIMED(OP_MKDIR, err = mkdirat(dir, sub, 0755));
			if (err)
				die("mkdir", sub);
			snprintf(path, sizeof(path), "d%u/%s", r, c);
			TIMED(OP_MOVE, err = renameat(dir, c, dir, path));
			if (err)
				die("rename", c);
		}
	}
	/* Read back, list and remove. */
	for (r = 0; r < rounds; r++) {
		if (r % 8 == 7)
			snprintf(c, sizeof(c), "d%u/l%u", r, r);
		else
			snprintf(c, sizeof(c), "l%u", r);
		TIMED(OP_READBACK, check(dir, c, r, size));
	}
	{
		DIR *d;
		struct dirent *e;
		unsigned n = 0;
		double t0 = now();

		d = fdopendir(dup(dir));
		if (!d)
			die("opendir", top);
		while ((e = readdir(d)))
			n++;
		closedir(d);
		spent[OP_LIST] += now() - t0;
		/* ., .., one name per round. */
		if (n != rounds + 2) {
			fprintf(stderr, "mdstress: w%d lists %u names, not %u\n", p, n, rounds + 2);
			exit(1);
		}
	}
	for (r = 0; r < rounds; r++) {
		if (r % 8 == 7) {
			snprintf(c, sizeof(c), "d%u/l%u", r, r);
			TIMED(OP_REMOVE, err = unlinkat(dir, c, 0));
			if (err)
				die("unlink", c);
			snprintf(sub, sizeof(sub), "d%u", r);
			TIMED(OP_RMDIR, err = unlinkat(dir, sub, AT_REMOVEDIR));
			if (err)
				die("rmdir", sub);
		} else {
			snprintf(c, sizeof(c), "l%u", r);
			TIMED(OP_REMOVE, err = unlinkat(dir, c, 0));
			if (err)
				die("unlink", c);
		}
	}
	close(dir);
	free(data);
}

/* Read one worker's times from fd into sum; false at a short record. */
static bool add_times(int fd, double *sum)
{
	double got[OPS];
	size_t have = 0;
	ssize_t n;

	while (have < sizeof(got)) {
		n = read(fd, (char *)got + have, sizeof(got) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	for (int k = 0; k < OPS; k++)
		sum[k] += got[k];
	return true;
}

int main(int argc, char **argv)
{
	bool per_op = false;
	int opt;

	while ((opt = getopt(argc, argv, "o")) != -1) {
		if (opt != 'o')
			return 2;
		per_op = true;
	}
	argc -= optind - 1;
	argv += optind - 1;

	int procs = argc > 2 ? atoi(argv[2]) : 4;
	unsigned rounds = argc > 3 ? (unsigned)atoi(argv[3]) : 2000;
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 512;
	double sum[OPS] = { 0 };
	struct timespec t0, t1;
	int p, status, bad = 0, times[2];

	if (argc < 2 || procs < 1 || !rounds || !size) {
		fprintf(stderr, "usage: mdstress [-o] DIR [PROCS [ROUNDS [SIZE]]]\n");
		return 2;
	}
	if (pipe(times))
		die("pipe", "");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (p = 0; p < procs; p++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork", "");
		if (!pid) {
			close(times[0]);
			worker(argv[1], p, rounds, size);
			put(times[1], (const char *)spent, sizeof(spent), "times");
			_exit(0);
		}
	}
	close(times[1]);
	for (p = 0; p < procs; p++)
		if (!add_times(times[0], sum))
			bad = 1;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad = 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (bad)
		return 1;
	printf("%.3f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (per_op)
		for (int k = 0; k < OPS; k++)
			fprintf(stderr, "%s\t%.6f\n", op_name[k], sum[k] / procs);
	return 0;
}
