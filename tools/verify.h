/* SPDX-License-Identifier: MIT */
/*
 * verify.h - what the two checks of directfs-progress --verify share:
 * waiting until DEST has reached the disk, reading without leaving pages
 * cached, and the progress line (verify.c).  verify.c compares DEST with
 * SRC; tags.c checks DEST against its checksum tags (dfs_sum.h).
 */
#ifndef DFS_TOOLS_VERIFY_H
#define DFS_TOOLS_VERIFY_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Bytes compared per read of each side: a multiple of any direct I/O
 * alignment, and a few FUSE requests. */
#define CHUNK (4u << 20)
/* How often the waits look again. */
#define POLL 0.1

enum { SAME = 0, DIFFER = 1, TROUBLE = 2 };

/* How a file is read.  DEST: plainly (the mount caches nothing).  SRC:
 * without leaving it cached, the best its filesystem takes, found on the
 * first file and kept. */
enum read_mode { READ_PLAIN, SRC_DIRECT, SRC_DONTCACHE, SRC_FADVISE };

struct verify {
	const char *src, *dest; /* src NULL: DEST checked against its tags */
	char root[PATH_MAX]; /* the mount root DEST is under */
	char rel[PATH_MAX];  /* DEST's path below it; "" for the root */
	double interval, deadline; /* deadline < 0: none */
	double start, next_line;
	bool tty, said_wait;
	enum read_mode mode; /* SRC's */
	uint64_t total, done; /* bytes of SRC's files, compared so far */
	unsigned long nfiles, files; /* SRC's regular files, compared */
	char *sbuf, *dbuf;
	/* Checking tags (tags.c): files found the same, corrupt, stale,
	 * untagged; whether DEST is in a mount (else on a plain disk). */
	unsigned long same, corrupt, stale, untagged;
	bool mounted;
};

/* The progress line: every interval, or now if force. */
void verify_line(struct verify *v, bool force);
/* A difference or trouble on stderr, after the terminal's line; returns
 * status. */
int verify_say(struct verify *v, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The directfs mount root above DEST and DEST's path below it: 0, or
 * TROUBLE (said unless quiet). */
int verify_find_root(struct verify *v, bool quiet);
/* Wait until no file below DEST is in flight: 0, or TROUBLE said. */
int verify_wait_tree(struct verify *v);
/* Wait until one file of DEST has ended its copy: 0; DIFFER for a file in
 * error; TROUBLE for the rest; said. */
int verify_wait_file(struct verify *v, const char *path);
/* Open path to read it without leaving it cached (mode *v->mode, the best
 * its filesystem takes): a descriptor or -errno. */
int verify_open_uncached(struct verify *v, const char *path);
/* Up to CHUNK bytes at off, looping on short reads and EINTR; the count
 * (short only at the end) or -errno; *mode drops to the next where the
 * filesystem refuses it. */
ssize_t verify_read_chunk(enum read_mode *mode, int *fd, const char *path, char *buf,
			  off_t off);
int verify_filter_dots(const struct dirent *e);

#endif
