/* SPDX-License-Identifier: MIT */
/*
 * Description: random-operation verifier for a file in a directfs mount.
 *
 *   verify FILE REFERENCE SEED OPS MAXSIZE [BACKING]
 *
 * Applies OPS seeded random operations to FILE (in the mount) and to
 * REFERENCE (on a plain filesystem): pwrite at any offset and length through
 * two O_RDWR handles, appends through an O_APPEND handle, pread, ftruncate,
 * fallocate (allocate, keep size, punch hole, zero range), fsync, fdatasync,
 * and closing and reopening any handle.  After every operation the sizes
 * must agree and the range the operation touched is read back through
 * another handle and compared; every 64 operations, and at the end, the
 * whole file is compared.  With BACKING (FILE's path on SOURCE), the backing
 * file is compared too once every handle is closed.  With VERIFY_MAPS=1 in
 * the environment the mapped set joins them: loads and stores through
 * shared mappings (MAP_SHARED) of any range inside the file, stores
 * msync'ed or not, checked like the rest.  With VERIFY_NO_FALLOCATE=1
 * (a SOURCE without fallocate) the mount may refuse a fallocate with
 * EOPNOTSUPP, changing nothing.  With VERIFY_WINDOW=N a quarter of the
 * pwrites are of N bytes at a multiple of N.
 *
 * Exit 0 when all agree; 1 with the operation log tail on a mismatch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mhelp.h"

#define NH 3 /* 0, 1: O_RDWR; 2: O_WRONLY | O_APPEND */
#define LOGN 24
#define CHUNK (1 << 20)

static const char *path, *refpath;
static int h[NH], ref;
static uint64_t rng;
static char logbuf[LOGN][160];
static unsigned long step;
static char *a, *b; /* CHUNK-sized comparison buffers */
static bool maps;    /* VERIFY_MAPS=1: the mapped set too */
/* VERIFY_NO_FALLOCATE=1: SOURCE has no fallocate, so the mount refuses it */
static bool nofalloc;
/* VERIFY_WINDOW=N: a quarter of the pwrites are of N bytes at a multiple
 * of N (the mount's buffer_size: whole windows, traded, not copied) */
static unsigned long window;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t upto(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(logbuf[step % LOGN], sizeof(logbuf[0]), fmt, ap);
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	unsigned long k = step >= LOGN ? step - LOGN + 1 : 0;
	va_list ap;

	fprintf(stderr, "verify: step %lu: ", step);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nlast operations:\n");
	for (; k <= step; k++)
		fprintf(stderr, "  %lu: %s\n", k, logbuf[k % LOGN]);
	exit(1);
}

static int open_handle(int k)
{
	int flags = k == 2 ? O_WRONLY | O_APPEND : O_RDWR;
	int fd = open(path, flags | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	return fd;
}

static void write_all(int fd, const char *buf, size_t len, off_t off, const char *who)
{
	int r = pwrite_full(fd, buf, len, off);

	if (r)
		die("pwrite %s: %s", who, strerror(-r));
}

static size_t read_all(int fd, char *buf, size_t len, off_t off, const char *who)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("pread %s: %s", who, strerror(errno));
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static off_t size_of(int fd, const char *who)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat %s: %s", who, strerror(errno));
	return st.st_size;
}

/* Compare [off, off + len) of fd (the mount) and the reference. */
static void compare_range(int fd, off_t off, off_t len, const char *what)
{
	while (len > 0) {
		size_t n = len > CHUNK ? CHUNK : (size_t)len;
		size_t x = read_all(fd, a, n, off, "mount");
		size_t y = read_all(ref, b, n, off, "reference");

		if (x != y)
			die("%s: read %zu bytes at %jd from the mount, %zu from the "
			    "reference",
			    what, x, (intmax_t)off, y);
		if (memcmp(a, b, x)) {
			size_t i = 0;

			while (a[i] == b[i])
				i++;
			die("%s: bytes differ at %jd (mount %02x, reference %02x)", what,
			    (intmax_t)(off + (off_t)i), (unsigned char)a[i],
			    (unsigned char)b[i]);
		}
		if (x < n)
			return;
		off += (off_t)n;
		len -= (off_t)n;
	}
}

static void compare_all(int fd, const char *what)
{
	off_t ms = size_of(fd, "mount"), rs = size_of(ref, "reference");

	if (ms != rs)
		die("%s: size %jd in the mount, %jd in the reference", what, (intmax_t)ms,
		    (intmax_t)rs);
	compare_range(fd, 0, rs, what);
}

static void fill(char *buf, size_t len)
{
	uint64_t x = rnd();
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		buf[i] = (char)(x >> (8 * (i & 7)));
	}
}

static size_t pick_len(void)
{
	switch (upto(4)) {
	case 0: return 1 + upto(512);
	case 1: return 1 + upto(64 * 1024);
	case 2: return (1 + upto(16)) * 4096; /* aligned lengths */
	default: return 1 + upto(CHUNK);
	}
}

/* A shared mapping of [off, off + len) of fd, page-aligned around it;
 * *at is where off lies in it. */
static char *map_range(int fd, off_t off, off_t len, int prot, size_t *mlen, char **at)
{
	off_t moff = off & ~(off_t)4095;
	char *m;

	*mlen = (size_t)(off + len - moff);
	m = mmap(NULL, *mlen, prot, MAP_SHARED, fd, moff);
	if (m == MAP_FAILED)
		die("mmap off %jd len %jd: %s", (intmax_t)off, (intmax_t)len, strerror(errno));
	*at = m + (off - moff);
	return m;
}

static off_t pick_off(off_t max)
{
	return upto(3) ? (off_t)upto((uint64_t)max)
		       : (off_t)(upto((uint64_t)max / 4096) * 4096);
}

int main(int argc, char **argv)
{
	unsigned long ops;
	off_t max;
	int k;

	if (argc < 6 || argc > 7) {
		fprintf(stderr,
			"usage: verify FILE REFERENCE SEED OPS MAXSIZE [BACKING]\n");
		return 2;
	}
	path = argv[1];
	refpath = argv[2];
	rng = strtoull(argv[3], NULL, 0) * 2654435761u + 88172645463325252ull;
	ops = strtoul(argv[4], NULL, 0);
	max = (off_t)strtoll(argv[5], NULL, 0);
	maps = getenv("VERIFY_MAPS") && !strcmp(getenv("VERIFY_MAPS"), "1");
	window = getenv("VERIFY_WINDOW") ? strtoul(getenv("VERIFY_WINDOW"), NULL, 0) : 0;
	if (window > CHUNK)
		die("VERIFY_WINDOW %lu is more than %d", window, CHUNK);
	nofalloc = getenv("VERIFY_NO_FALLOCATE") &&
		   !strcmp(getenv("VERIFY_NO_FALLOCATE"), "1");
	/* Page-aligned, so that a write of a whole window is one request. */
	a = aligned_alloc(4096, CHUNK);
	b = malloc(CHUNK);
	if (!a || !b)
		return 1;
	unlink(path);
	unlink(refpath);
	for (k = 0; k < NH; k++)
		h[k] = open_handle(k);
	ref = open(refpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (ref < 0)
		die("open %s: %s", refpath, strerror(errno));

	for (step = 0; step < ops; step++) {
		unsigned op = (unsigned)upto(100);
		int w = (int)upto(2), other = 1 - w; /* a writer, and a reader */
		off_t off = 0, len = 0, at;

		if (op < 40) { /* pwrite */
			len = (off_t)pick_len();
			off = pick_off(max);
			if (window && !upto(4)) {
				len = (off_t)window;
				off = off / len * len;
			}
			fill(a, (size_t)len);
			note("pwrite h%d off %jd len %jd", w, (intmax_t)off,
			     (intmax_t)len);
			write_all(h[w], a, (size_t)len, off, "mount");
			write_all(ref, a, (size_t)len, off, "reference");
		} else if (op < 50) { /* append */
			len = (off_t)pick_len() / 4 + 1;
			fill(a, (size_t)len);
			at = size_of(ref, "reference");
			note("append len %jd (reference size %jd)", (intmax_t)len,
			     (intmax_t)at);
			if (write(h[2], a, (size_t)len) != (ssize_t)len)
				die("append: %s", strerror(errno));
			write_all(ref, a, (size_t)len, at, "reference");
			off = at;
		} else if (op < 65) { /* pread */
			off = pick_off(max);
			len = (off_t)pick_len();
			note("pread h%d off %jd len %jd", other, (intmax_t)off,
			     (intmax_t)len);
		} else if (op < 73) { /* truncate */
			off = upto(4) ? (off_t)upto((uint64_t)max) : 0;
			note("ftruncate h%d to %jd", w, (intmax_t)off);
			if (ftruncate(h[w], off) || ftruncate(ref, off))
				die("ftruncate: %s", strerror(errno));
			len = 8192;
			off = off > 4096 ? off - 4096 : 0;
		} else if (op < 81) { /* fallocate */
			static const int modes[] = {0, FALLOC_FL_KEEP_SIZE,
						    FALLOC_FL_PUNCH_HOLE |
							    FALLOC_FL_KEEP_SIZE,
						    FALLOC_FL_ZERO_RANGE};
			int mode = modes[upto(4)], rm, rr;

			off = pick_off(max);
			len = (off_t)pick_len();
			note("fallocate h%d mode %#x off %jd len %jd", w, mode,
			     (intmax_t)off, (intmax_t)len);
			rm = fallocate(h[w], mode, off, len) ? errno : 0;
			/* A SOURCE without fallocate (sshfs): the mount refuses
			 * it as SOURCE did, and must have changed nothing. */
			if (rm == EOPNOTSUPP && nofalloc) {
				note("fallocate refused by SOURCE, as expected");
				continue;
			}
			rr = fallocate(ref, mode, off, len) ? errno : 0;
			if (rm != rr)
				die("fallocate: mount %s, reference %s", strerror(rm),
				    strerror(rr));
		} else if (op < 88) { /* fsync / fdatasync */
			k = (int)upto(NH);
			note("%s h%d", op & 1 ? "fdatasync" : "fsync", k);
			if (op & 1 ? fdatasync(h[k]) : fsync(h[k]))
				die("fsync: %s", strerror(errno));
		} else if (maps && op < 96 && (at = size_of(ref, "reference")) > 0) {
			/* a store (op < 92) or a load through a shared mapping */
			size_t mlen;
			char *m, *p;

			off = (off_t)upto((uint64_t)at);
			len = (off_t)pick_len();
			if (len > at - off)
				len = at - off;
			if (op < 92) {
				bool sync = upto(2);

				fill(a, (size_t)len);
				note("mapped store h%d off %jd len %jd%s", w, (intmax_t)off,
				     (intmax_t)len, sync ? " msync" : "");
				m = map_range(h[w], off, len, PROT_READ | PROT_WRITE, &mlen, &p);
				memcpy(p, a, (size_t)len);
				if (sync && msync(m, mlen, MS_SYNC))
					die("msync: %s", strerror(errno));
				munmap(m, mlen);
				write_all(ref, a, (size_t)len, off, "reference");
			} else {
				note("mapped load h%d off %jd len %jd", other, (intmax_t)off,
				     (intmax_t)len);
				m = map_range(h[other], off, len, PROT_READ, &mlen, &p);
				if (read_all(ref, b, (size_t)len, off, "reference") != (size_t)len ||
				    memcmp(p, b, (size_t)len))
					die("mapped load at %jd len %jd differs from the reference",
					    (intmax_t)off, (intmax_t)len);
				munmap(m, mlen);
			}
		} else { /* close and reopen */
			k = (int)upto(NH);
			note("close and reopen h%d", k);
			if (close(h[k]))
				die("close h%d: %s", k, strerror(errno));
			h[k] = open_handle(k);
		}

		{
			off_t ms = size_of(h[other], "mount"),
			      rs = size_of(ref, "reference");

			if (ms != rs)
				die("size %jd in the mount, %jd in the reference",
				    (intmax_t)ms, (intmax_t)rs);
		}
		if (len)
			compare_range(h[other], off, len, "range");
		if (step % 64 == 63)
			compare_all(h[other], "whole file");
	}

	for (k = 0; k < NH; k++)
		if (close(h[k]))
			die("close h%d: %s", k, strerror(errno));
	h[0] = open_handle(0);
	compare_all(h[0], "after reopen");
	close(h[0]);
	if (argc == 7) {
		h[0] = open(argv[6], O_RDONLY | O_CLOEXEC);
		if (h[0] < 0)
			die("open %s: %s", argv[6], strerror(errno));
		compare_all(h[0], "backing file");
		close(h[0]);
	}
	printf("verify: %lu operations%s, final size %jd: mount and reference agree\n", ops,
	       maps ? " (mapped set too)" : "", (intmax_t)size_of(ref, "reference"));
	return 0;
}
