/* SPDX-License-Identifier: MIT */
/* workload.c - see workload.h. */
#define _GNU_SOURCE
#include "workload.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	OP_WRITE,
	OP_APPEND,
	OP_READ,
	OP_TRUNC,
	OP_PUNCH,
	OP_FLUSH,
	OP_SYNC,
	OP_REOPEN,
	OP_FULLCMP,
	OP_N
};
static const int op_weight[OP_N] = {50, 8, 20, 6, 3, 3, 2, 3, 1};

static int pick_op(uint64_t *rs)
{
	int total = 0;
	for (int i = 0; i < OP_N; i++)
		total += op_weight[i];
	int x = (int)(tu_rand(rs) % (uint64_t)total);
	for (int i = 0; i < OP_N; i++) {
		if (x < op_weight[i])
			return i;
		x -= op_weight[i];
	}
	return OP_WRITE;
}

/* Lengths: tiny, block-ish, aligned, window-crossing. */
static size_t pick_len(uint64_t *rs, size_t max)
{
	size_t l;
	switch (tu_rand(rs) % 5) {
	case 0: l = 1 + tu_rand(rs) % 64; break;
	case 1: l = 1 + tu_rand(rs) % 8192; break;
	case 2: l = 4096 * (1 + tu_rand(rs) % 32); break;
	default: l = 1 + tu_rand(rs) % max; break;
	}
	return l > max ? max : l;
}

static off_t pick_off(uint64_t *rs, off_t span, off_t size)
{
	switch (tu_rand(rs) % 6) {
	case 0: /* sequential, while the file is within span */
		if (size < span)
			return size;
		/* fall through */
	case 1: return (off_t)(tu_rand(rs) % (uint64_t)span) & ~(off_t)4095;
	case 2: return size > 0 ? (off_t)(tu_rand(rs) % (uint64_t)size) : 0;
	default: return (off_t)(tu_rand(rs) % (uint64_t)span);
	}
}

static off_t ref_size(int rfd)
{
	struct stat st;
	ck_assert_int_eq(fstat(rfd, &st), 0);
	return st.st_size;
}

#define CMP_CHUNK (1024 * 1024)

/* Compare engine and reference over [off, off + len), a chunk at a time. */
static void compare_range(struct dfs_file *f, int rfd, off_t off, size_t len, char *a,
			  char *b, int step)
{
	while (len > 0) {
		size_t n = len < CMP_CHUNK ? len : CMP_CHUNK;
		ssize_t ra = dfs_file_read(f, a, n, off);
		ssize_t rb = pread(rfd, b, n, off);
		ck_assert_msg(ra == rb,
			      "step %d: read %zu at %lld: engine %zd, reference %zd",
			      step, n, (long long)off, ra, rb);
		if (ra > 0 && memcmp(a, b, (size_t)ra)) {
			size_t i = 0;
			while (a[i] == b[i])
				i++;
			ck_abort_msg("step %d: read %zu at %lld differs at byte %lld: "
				     "%02x, reference %02x",
				     step, n, (long long)off, (long long)(off + (off_t)i),
				     (unsigned char)a[i], (unsigned char)b[i]);
		}
		if ((size_t)ra < n)
			return;
		off += (off_t)n;
		len -= n;
	}
}

int workload_run(const struct workload *wl)
{
	char epath[4200], rpath[4200];
	uint64_t rs = wl->seed * 0x9E3779B97F4A7C15ull + 1;
	struct dfs_engine *e = NULL;

	snprintf(epath, sizeof(epath), "%s/wl-engine-%llu", wl->dir,
		 (unsigned long long)wl->seed);
	snprintf(rpath, sizeof(rpath), "%s/wl-ref-%llu", wl->dir,
		 (unsigned long long)wl->seed);
	int efd = open(epath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rfd = open(rpath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert(efd >= 0 && rfd >= 0);
	close(efd);

	ck_assert_int_eq(dfs_engine_create(wl->opts, &e), 0);
	struct dfs_file *f = tu_engine_open(e, epath, O_RDWR);

	char *data = malloc(wl->max_len);
	char *a = malloc(CMP_CHUNK), *b = malloc(CMP_CHUNK);
	ck_assert(data && a && b);

	for (int step = 0; step < wl->nops; step++) {
		off_t size = ref_size(rfd);
		int op = pick_op(&rs);
		off_t off = pick_off(&rs, wl->span, size);
		size_t len = pick_len(&rs, wl->max_len);

		switch (op) {
		case OP_WRITE:
			tu_pattern(data, len, off, (uint32_t)step);
			ck_assert_int_eq(dfs_file_write(f, data, len, off), (ssize_t)len);
			ck_assert_int_eq(pwrite(rfd, data, len, off), (ssize_t)len);
			break;
		case OP_APPEND: {
			off_t at = -1;
			tu_pattern(data, len, size, (uint32_t)step);
			ck_assert_int_eq(dfs_file_append(f, data, len, &at),
					 (ssize_t)len);
			ck_assert_int_eq(at, size);
			ck_assert_int_eq(pwrite(rfd, data, len, size), (ssize_t)len);
			break;
		}
		case OP_READ: compare_range(f, rfd, off, len + 100, a, b, step); break;
		case OP_TRUNC: {
			off_t ns = (off_t)(tu_rand(&rs) % (uint64_t)(wl->span + 1));
			if (tu_rand(&rs) % 3 == 0)
				ns = size + (off_t)(tu_rand(&rs) % 20000); /* extend */
			ck_assert_int_eq(dfs_file_truncate(f, ns), 0);
			ck_assert_int_eq(ftruncate(rfd, ns), 0);
			break;
		}
		case OP_PUNCH:
			ck_assert_int_eq(dfs_file_fallocate(f,
							    FALLOC_FL_PUNCH_HOLE |
								    FALLOC_FL_KEEP_SIZE,
							    off, (off_t)len),
					 0);
			ck_assert_int_eq(
				fallocate(rfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					  off, (off_t)len),
				0);
			break;
		case OP_FLUSH: ck_assert_int_eq(dfs_file_flush(f), 0); break;
		case OP_SYNC:
			ck_assert_int_eq(dfs_file_sync(f, (int)(tu_rand(&rs) & 1)), 0);
			break;
		case OP_REOPEN:
			ck_assert_int_eq(dfs_file_close(f), 0);
			f = tu_engine_open(e, epath, O_RDWR);
			break;
		case OP_FULLCMP:
			compare_range(f, rfd, 0, (size_t)ref_size(rfd) + 10, a, b, step);
			break;
		}
		ck_assert_msg(dfs_file_size(f) == ref_size(rfd),
			      "step %d op %d: size %lld, reference %lld", step, op,
			      (long long)dfs_file_size(f), (long long)ref_size(rfd));
	}

	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_destroy(e);

	/* Bytes on disk, read outside the engine. */
	size_t ne = 0, nr = 0;
	char *de = tu_slurp(epath, &ne), *dr = tu_slurp(rpath, &nr);
	ck_assert(de && dr);
	ck_assert_uint_eq(ne, nr);
	ck_assert_msg(memcmp(de, dr, ne) == 0, "backing file differs from reference");
	free(de);
	free(dr);
	free(data);
	free(a);
	free(b);
	close(rfd);
	unlink(epath);
	unlink(rpath);
	return wl->nops;
}
