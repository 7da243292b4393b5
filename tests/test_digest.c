/* SPDX-License-Identifier: MIT */
/*
 * Description: a file's checksum taken as it streams (lib/digest.c) and
 * its tag (lib/sum.c), on the engine without a mount.  The sums equal
 * the libraries' one-shot sums of the bytes on disk, for both kinds; a
 * file written straight through, in pieces that arrive out of order, or
 * appended is summed; a rewrite, a gap, a truncate to anything but 0, an
 * fallocate that changes bytes, a write through a mapping, more pieces
 * aside than the cap, or a file that was not empty gets none; a truncate
 * to 0 starts again.  The tag is the sum and the mtime in shatag's form;
 * the first change of a later session removes it before the bytes
 * change, and a failure to remove it fails the change; a SOURCE without
 * user xattrs (EOPNOTSUPP) leaves the copy alone.
 */
#define _GNU_SOURCE
#include "engine_fixture.h"
#include "dfs_internal.h" /* DFS_DIGEST_AHEAD_MAX */

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

/* The mount's sums are of kind; setup makes an engine that sums. */
static enum dfs_sum_kind kind = DFS_SUM_XXH128;

static void sum_setup(void)
{
	struct dfs_engine_opts o;

	setup_opts(&o);
	o.checksum = kind;
	ck_assert_int_eq(dfs_engine_create(&o, &eng), 0);
}

/* The one-shot sum of buf in hex, as xxhsum -H2 or sha256sum print it. */
static void want_hex(enum dfs_sum_kind k, const char *buf, size_t len, char *hex)
{
	unsigned char d[32];
	size_t n;

	if (k == DFS_SUM_XXH128) {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
		memcpy(d, c.digest, 16);
		n = 16;
	} else {
		SHA256((const unsigned char *)buf, len, d);
		n = 32;
	}
	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
}

static char *pattern(size_t len, uint32_t seed)
{
	char *b = malloc(len);
	ck_assert_ptr_nonnull(b);
	tu_pattern(b, len, 0, seed);
	return b;
}

/* f's sum is of want[0..len), of kind k. */
static void assert_sum(struct dfs_file *f, const char *want, size_t len)
{
	char hex[DFS_SUM_HEX_MAX], exp[DFS_SUM_HEX_MAX];
	enum dfs_sum_kind k;

	ck_assert_int_eq(dfs_file_digest(f, &k, hex), 0);
	ck_assert_int_eq(k, kind);
	want_hex(kind, want, len, exp);
	ck_assert_str_eq(hex, exp);
}

static void assert_no_sum(struct dfs_file *f, const char *why)
{
	char hex[DFS_SUM_HEX_MAX];
	enum dfs_sum_kind k;

	ck_assert_msg(dfs_file_digest(f, &k, hex) == -ENODATA, "a sum after %s", why);
}

static ssize_t get(const char *path, const char *name, char *buf, size_t len)
{
	ssize_t n = getxattr(path, name, buf, len - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

START_TEST(test_straight_through)
{
	char path[4200];
	const size_t len = 5 * MiB + 4321; /* windows, then an unaligned tail */
	char *want = pattern(len, 1);
	struct dfs_file *f = ecreate(path, sizeof(path), "straight");

	for (size_t off = 0; off < len; off += 65536 + 17) {
		size_t n = len - off < 65536 + 17 ? len - off : 65536 + 17;
		ck_assert_int_eq(dfs_file_write(f, want + off, n, (off_t)off), (ssize_t)n);
	}
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_sum(f, want, len);
	assert_disk(path, want, len);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
}
END_TEST

START_TEST(test_out_of_order_pieces)
{
	char path[4200];
	const size_t len = 4 * MiB;
	char *want = pattern(len, 2);
	struct dfs_file *f = ecreate(path, sizeof(path), "ooo");
	/* One write's four pieces, as threads might deliver them. */
	const int order[4] = {2, 0, 3, 1};

	for (int i = 0; i < 4; i++) {
		off_t off = (off_t)order[i] * MiB;
		ck_assert_int_eq(dfs_file_write(f, want + off, MiB, off), MiB);
	}
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_sum(f, want, len);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
}
END_TEST

START_TEST(test_append_and_swap)
{
	char path[4200];
	const size_t len = 3 * MiB + 5;
	char *want = pattern(len, 3);
	struct dfs_file *f = ecreate(path, sizeof(path), "append");
	char *b = dfs_engine_buf_alloc(eng);
	off_t at;

	/* A whole window traded into the stage, then appends. */
	memcpy(b, want, MiB);
	ck_assert_int_eq(dfs_file_write_swap(f, &b, MiB, 0), MiB);
	ck_assert_int_eq(dfs_file_append(f, want + MiB, 2 * MiB, &at), 2 * MiB);
	ck_assert_int_eq(at, MiB);
	ck_assert_int_eq(dfs_file_append(f, want + 3 * MiB, 5, &at), 5);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_sum(f, want, len);
	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_buf_free(eng, b);
	free(want);
}
END_TEST

/* Each way the sum is given up, on a fresh file: _i picks it. */
START_TEST(test_given_up)
{
	static const char *const why[] = {
		"a rewrite", "a rewrite of a piece aside", "a gap", "a truncate to 1000",
		"a punched hole", "a write through a mapping", "more aside than the cap",
	};
	char path[4200];
	const size_t len = 2 * MiB;
	char *want = pattern(len + 1, 4);
	struct dfs_file *f = ecreate(path, sizeof(path), "given_up");
	char *big;

	switch (_i) {
	case 0:
		ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
		ck_assert_int_eq(dfs_file_write(f, want, 100, 4096), 100);
		break;
	case 1:
		ck_assert_int_eq(dfs_file_write(f, want + MiB, MiB, MiB), MiB);
		ck_assert_int_eq(dfs_file_write(f, want + MiB, 100, MiB + 4096), 100);
		ck_assert_int_eq(dfs_file_write(f, want, MiB, 0), MiB);
		break;
	case 2:
		ck_assert_int_eq(dfs_file_write(f, want + MiB, MiB, MiB), MiB);
		break;
	case 3:
		ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
		ck_assert_int_eq(dfs_file_truncate(f, 1000), 0);
		break;
	case 4:
		ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
		ck_assert_int_eq(dfs_file_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						    4096, 4096), 0);
		break;
	case 5:
		ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
		dfs_file_digest_give_up(f);
		break;
	case 6:
		big = malloc(DFS_DIGEST_AHEAD_MAX + MiB);
		ck_assert_ptr_nonnull(big);
		tu_pattern(big, DFS_DIGEST_AHEAD_MAX + MiB, 0, 5);
		/* Everything but the first byte first: more than may wait. */
		ck_assert_int_eq(dfs_file_write(f, big + 1, DFS_DIGEST_AHEAD_MAX + 1, 1),
				 DFS_DIGEST_AHEAD_MAX + 1);
		ck_assert_int_eq(dfs_file_write(f, big, 1, 0), 1);
		free(big);
		break;
	}
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_no_sum(f, why[_i]);
	ck_assert_int_eq(dfs_file_tag(f), -ENODATA);
	ck_assert_int_eq(dfs_file_close(f), 0);
	char v[128];
	ck_assert_msg(get(path, dfs_tag_attr(kind), v, sizeof(v)) < 0, "tagged after %s", why[_i]);
	free(want);
}
END_TEST

/* Pieces aside count against the mount's share, a quarter of memory_cap:
 * with a cap of 8 MiB, 3 MiB waiting aside is too much. */
START_TEST(test_mount_share)
{
	struct dfs_engine_opts o;
	struct dfs_engine *small;
	struct dfs_file *f;
	char path[4200];
	const size_t len = 4 * MiB;
	char *want = pattern(len, 10);

	setup_opts(&o);
	o.checksum = kind;
	o.mem_cap = 8 * MiB;
	ck_assert_int_eq(dfs_engine_create(&o, &small), 0);
	int fd = tu_create(path, sizeof(path), "share", O_RDWR);
	ck_assert_int_ge(fd, 0);
	close(fd);
	f = tu_engine_open(small, path, O_RDWR);
	ck_assert_int_eq(dfs_file_write(f, want + MiB, 3 * MiB, MiB), 3 * MiB);
	ck_assert_int_eq(dfs_file_write(f, want, MiB, 0), MiB);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_no_sum(f, "more aside than the mount's share");
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, len);
	dfs_engine_destroy(small);
	free(want);
}
END_TEST

/* What still counts as written straight through: an allocation that
 * keeps the size, a truncate to 0 (a fresh start), to the size summed. */
START_TEST(test_kept)
{
	char path[4200];
	const size_t len = MiB + 99;
	char *want = pattern(len, 6);
	struct dfs_file *f = ecreate(path, sizeof(path), "kept");

	ck_assert_int_eq(dfs_file_write(f, want + 7, 1000, 0), 1000); /* forgotten below */
	ck_assert_int_eq(dfs_file_truncate(f, 0), 0);
	ck_assert_int_eq(dfs_file_fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 4 * MiB), 0);
	ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
	ck_assert_int_eq(dfs_file_truncate(f, (off_t)len), 0);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_sum(f, want, len);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
}
END_TEST

/* A file that held bytes before the session, or no bytes at all. */
START_TEST(test_not_from_empty)
{
	char path[4200], want[8192];
	struct dfs_file *f = ecreate(path, sizeof(path), "notempty");

	tu_pattern(want, sizeof(want), 0, 7);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_no_sum(f, "no write (an empty file)");
	ck_assert_int_eq(dfs_file_write(f, want, 4096, 0), 4096);
	ck_assert_int_eq(dfs_file_close(f), 0);
	f = eopen(path, O_RDWR);
	ck_assert_int_eq(dfs_file_write(f, want + 4096, 4096, 4096), 4096);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	assert_no_sum(f, "writes to a file that had bytes");
	ck_assert_int_eq(dfs_file_close(f), 0);
}
END_TEST

START_TEST(test_tag)
{
	char path[4200], v[128], ts[DFS_TAG_TS_MAX], hex[DFS_SUM_HEX_MAX];
	const size_t len = 2 * MiB + 3;
	char *want = pattern(len, 8);
	struct dfs_file *f = ecreate(path, sizeof(path), "tag");
	struct stat st;

	ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	ck_assert_int_eq(dfs_file_tag(f), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	want_hex(kind, want, len, hex);
	ck_assert_int_eq(get(path, dfs_tag_attr(kind), v, sizeof(v)), (ssize_t)strlen(hex));
	ck_assert_str_eq(v, hex);
	ck_assert_int_eq(stat(path, &st), 0);
	dfs_tag_ts_format(&st.st_mtim, ts);
	ck_assert_int_eq(get(path, dfs_tag_ts_attr(kind), v, sizeof(v)), 20);
	ck_assert_str_eq(v, ts);

	/* A later session: open, read, no change: the tag stays. */
	f = eopen(path, O_RDWR);
	read_eq(f, want, 4096, 0);
	ck_assert_int_eq(dfs_file_flush(f), 0);
	ck_assert_int_gt(get(path, dfs_tag_attr(kind), v, sizeof(v)), 0);
	/* Its first write removes both attributes before it is staged. */
	ck_assert_int_eq(dfs_file_write(f, "x", 1, 10), 1);
	ck_assert_int_lt(get(path, dfs_tag_attr(kind), v, sizeof(v)), 0);
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_int_lt(get(path, dfs_tag_ts_attr(kind), v, sizeof(v)), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	free(want);
}
END_TEST

/* A file the caller has just made (dfs_file_made) carries no tag: its
 * first write lists no xattrs; an ordinary new file's does, once; and
 * once tagged, a change lists them again. */
START_TEST(test_made_looks_for_no_tag)
{
	char path[4200];
	char *want = pattern(MiB, 10);

	for (int made = 0; made < 2; made++) {
		struct dfs_file *f = ecreate(path, sizeof(path), made ? "made" : "plain");
		unsigned long before = fio.xattr_lists;

		if (made)
			dfs_file_made(f);
		ck_assert_int_eq(dfs_file_write(f, want, MiB, 0), MiB);
		ck_assert_int_eq(dfs_file_write(f, want, 10, MiB), 10);
		ck_assert_uint_eq(fio.xattr_lists - before, (unsigned long)(made ? 0 : 1));
		ck_assert_int_eq(dfs_file_finish(f), 0);
		ck_assert_int_eq(dfs_file_tag(f), 0);
		/* Once tagged, a change looks again. */
		before = fio.xattr_lists;
		ck_assert_int_eq(dfs_file_write(f, "y", 1, 5), 1);
		ck_assert_uint_eq(fio.xattr_lists - before, 1);
		ck_assert_int_eq(dfs_file_close(f), 0);
	}
	free(want);
}
END_TEST

/* SOURCE's xattr calls fail: a copy without a tag goes on; a change whose
 * tag cannot be removed is refused with that error, the bytes unchanged. */
START_TEST(test_xattr_faults)
{
	char path[4200], v[128];
	const size_t len = MiB;
	char *want = pattern(len, 9);
	struct dfs_file *f = ecreate(path, sizeof(path), "faults");

	fault_io_add(&fio, (struct fi_rule){.op = FI_XATTR, .count = -1, .err = EOPNOTSUPP});
	ck_assert_int_eq(dfs_file_write(f, want, len, 0), (ssize_t)len);
	ck_assert_int_eq(dfs_file_finish(f), 0);
	ck_assert_int_eq(dfs_file_tag(f), -EOPNOTSUPP);
	ck_assert_int_eq(dfs_file_error(f), 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, len);
	fault_io_clear(&fio);

	ck_assert_int_eq(setxattr(path, dfs_tag_attr(kind), "planted", 7, 0), 0);
	f = eopen(path, O_RDWR);
	fault_io_add(&fio, (struct fi_rule){.op = FI_XATTR, .count = -1, .err = EIO});
	ck_assert_int_eq(dfs_file_write(f, "x", 1, 0), -EIO);
	ck_assert_int_eq(dfs_file_truncate(f, 10), -EIO);
	fault_io_clear(&fio);
	ck_assert_int_eq(get(path, dfs_tag_attr(kind), v, sizeof(v)), 7);
	ck_assert_int_eq(dfs_file_close(f), 0);
	assert_disk(path, want, len);
	free(want);
}
END_TEST

int main(void)
{
	int r = tu_main(&(struct tu_case){
		.name = "digest", .odirect = true, .timeout = 120,
		.setup = sum_setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_straight_through),
			TU_TEST(test_out_of_order_pieces),
			TU_TEST(test_append_and_swap),
			TU_LOOP(test_given_up, 0, 7),
			TU_TEST(test_mount_share),
			TU_TEST(test_kept),
			TU_TEST(test_not_from_empty),
			TU_TEST(test_tag),
			TU_TEST(test_xattr_faults),
			TU_TEST(test_made_looks_for_no_tag),
			{ NULL },
		},
	});

	/* The same with SHA-256. */
	kind = DFS_SUM_SHA256;
	return tu_main(&(struct tu_case){
		.name = "digest_sha256", .odirect = true, .timeout = 120,
		.setup = sum_setup, .teardown = teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_straight_through),
			TU_TEST(test_out_of_order_pieces),
			TU_TEST(test_tag),
			{ NULL },
		},
	}) | r;
}
