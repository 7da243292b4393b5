/* SPDX-License-Identifier: MIT */
/*
 * Description: data still staged in the daemon is visible through the
 * mount, under every name.  Run as `staged MOUNTDIR SOURCEDIR`.
 *
 * One process, no children: every close(2) of a descriptor of the file,
 * including a forked child's copy or a close-on-exec, is a FUSE flush,
 * which writes staged data out and would hide what this checks.
 *
 * Writes 100,000 bytes (less than one staging buffer), then checks that
 * SOURCE still has none of them while the mount's stat and reads (through
 * another descriptor) show all of them, and so does a hard link made
 * meanwhile; that a reader's close does not write them out; that an
 * unaligned overwrite and a truncate of staged data read back right; and
 * that the writer's close puts exactly them on SOURCE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEN 100000

static char want[LEN], got[LEN + 1];
static char mpath[4096], spath[4096], lpath[4096];

#define CHECK(cond, ...)                                                                 \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "staged: " __VA_ARGS__);                         \
			fprintf(stderr, "\n");                                           \
			exit(1);                                                         \
		}                                                                        \
	} while (0)

static off_t size_of(const char *p)
{
	struct stat st;

	CHECK(!stat(p, &st), "stat %s: %s", p, strerror(errno));
	return st.st_size;
}

/* Read the whole file through a new descriptor and compare with want. */
static void read_back(const char *p, size_t len, const char *what)
{
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
	n = pread(fd, got, sizeof(got), 0);
	CHECK(n == (ssize_t)len, "%s: read %zd bytes, want %zu", what, n, len);
	CHECK(!memcmp(got, want, len), "%s: bytes differ", what);
	CHECK(!close(fd), "close reader: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	size_t i;
	int fd;

	CHECK(argc == 3, "usage: staged MOUNTDIR SOURCEDIR");
	snprintf(mpath, sizeof(mpath), "%s/staged", argv[1]);
	snprintf(spath, sizeof(spath), "%s/staged", argv[2]);
	snprintf(lpath, sizeof(lpath), "%s/staged.link", argv[1]);
	for (i = 0; i < LEN; i++)
		want[i] = (char)(i * 2654435761u >> 13);

	fd = open(mpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(fd >= 0, "open %s: %s", mpath, strerror(errno));
	CHECK(write(fd, want, LEN) == LEN, "write: %s", strerror(errno));
	CHECK(size_of(spath) == 0, "SOURCE has %jd bytes before any flush: not staged",
	      (intmax_t)size_of(spath));
	CHECK(size_of(mpath) == LEN, "stat in the mount says %jd, want %d",
	      (intmax_t)size_of(mpath), LEN);
	read_back(mpath, LEN, "staged read");
	CHECK(size_of(spath) == 0, "a reader's close wrote the writer's staged data out");
	printf("staged read: ok (SOURCE 0 bytes, mount %d)\n", LEN);

	/* A new name for it shows what the old one shows: the link's reply
	 * carries the size, and the kernel keeps it for the timeout. */
	struct stat st;
	CHECK(!link(mpath, lpath), "link %s: %s", lpath, strerror(errno));
	CHECK(!stat(lpath, &st), "stat %s: %s", lpath, strerror(errno));
	CHECK(st.st_size == LEN && st.st_nlink == 2,
	      "the new name shows %jd bytes and %ju links, want %d and 2",
	      (intmax_t)st.st_size, (uintmax_t)st.st_nlink, LEN);
	CHECK(!unlink(lpath), "unlink %s: %s", lpath, strerror(errno));
	CHECK(size_of(spath) == 0, "a link wrote the staged data out");
	printf("link while staged: ok\n");

	memcpy(want + 4097, "XYZ", 3);
	CHECK(pwrite(fd, "XYZ", 3, 4097) == 3, "pwrite: %s", strerror(errno));
	read_back(mpath, LEN, "overwrite of staged data");
	CHECK(size_of(spath) == 0, "SOURCE changed before the writer's close");
	/* The engine sets the backing size at once; the data stays staged. */
	CHECK(!ftruncate(fd, 50001), "ftruncate: %s", strerror(errno));
	read_back(mpath, 50001, "truncate of staged data");
	printf("overwrite and truncate while staged: ok\n");

	CHECK(!close(fd), "close: %s", strerror(errno));
	CHECK(size_of(spath) == 50001, "SOURCE has %jd bytes after close, want 50001",
	      (intmax_t)size_of(spath));
	read_back(spath, 50001, "SOURCE after close");
	printf("close writes out: ok\n");
	return 0;
}
