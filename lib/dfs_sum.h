/* SPDX-License-Identifier: MIT */
/*
 * dfs_sum.h - checksums of whole files, and the tags that keep them on
 * SOURCE (sum.c).  No FUSE in here: the engine hashes a copy as it
 * streams (digest.c), directfs-progress --verify checks a file against
 * its tag.
 *
 * Two kinds, each computed by a maintained library, never by hand:
 *  - xxh128: XXH3's 128-bit hash (libxxhash), 32 hex digits as xxhsum -H2
 *    prints them, kept in user.directfs.xxh128 with its timestamp in
 *    user.directfs.xxh128.ts;
 *  - sha256: SHA-256 (OpenSSL's libcrypto through EVP, which uses the
 *    CPU's SHA instructions), 64 lowercase hex digits, kept where the
 *    bit-rot checkers shatag and cshatag look: user.shatag.sha256, with
 *    user.shatag.ts.
 * A timestamp is the file's mtime when the hash was kept, as
 * "%010lld.%09ld" (seconds, a dot, nanoseconds).  A tag is current while
 * its timestamp equals the file's mtime; once the mtime moves it is
 * stale and says nothing about the bytes.
 */
#ifndef DFS_SUM_H
#define DFS_SUM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum dfs_sum_kind { DFS_SUM_OFF, DFS_SUM_XXH128, DFS_SUM_SHA256, DFS_SUM_KINDS };

/* Hex digits and a NUL: enough for every kind. */
#define DFS_SUM_HEX_MAX 65
/* A timestamp's text and its NUL. */
#define DFS_TAG_TS_MAX 32

struct dfs_sum {
	enum dfs_sum_kind kind;
	void *state; /* the library's */
};

/* Start a sum of kind (not OFF).  0, -EINVAL or -ENOMEM. */
int dfs_sum_init(struct dfs_sum *s, enum dfs_sum_kind kind);
/* Start again from no bytes. */
void dfs_sum_reset(struct dfs_sum *s);
void dfs_sum_update(struct dfs_sum *s, const void *p, size_t n);
/* The sum of the bytes so far in lowercase hex (the sum may go on). */
void dfs_sum_hex(const struct dfs_sum *s, char hex[DFS_SUM_HEX_MAX]);
void dfs_sum_free(struct dfs_sum *s);

/* "xxh128", "sha256" or "off"; dfs_sum_parse takes the same words.
 * 0 or -EINVAL. */
const char *dfs_sum_name(enum dfs_sum_kind k);
int dfs_sum_parse(const char *word, enum dfs_sum_kind *k);
/* Hex digits of a kind's sum. */
size_t dfs_sum_hex_len(enum dfs_sum_kind k);

/* The attributes of a kind's tag on SOURCE: the sum, and its timestamp. */
const char *dfs_tag_attr(enum dfs_sum_kind k);
const char *dfs_tag_ts_attr(enum dfs_sum_kind k);
/* Is name one of the tag attributes of any kind? */
bool dfs_tag_is_attr(const char *name);
/* The timestamp text of t. */
void dfs_tag_ts_format(const struct timespec *t, char buf[DFS_TAG_TS_MAX]);

/* Every tag of the file at path, removed (before a change made without
 * the engine).  0 or -errno; a file system without user xattrs has none. */
int dfs_tag_remove(const char *path);
/* The same for a file whose attribute names are in list (n: what
 * listxattr returned for it, a length or -errno), each removed through
 * rm (0 or -errno): -ERANGE (more names than the list holds) removes
 * every tag name blindly.  Both ways, a name not there is no error. */
int dfs_tag_remove_listed(const char *list, long n, int (*rm)(void *arg, const char *name),
			  void *arg);
/* The file's mtime moved from old to now, its bytes unchanged (a
 * utimens): each tag that was current becomes current again. */
void dfs_tag_follow(const char *path, const struct timespec *old, const struct timespec *now);
/* The tag of kind on the file at path, if it has one: the sum into hex
 * and whether it is current against mtime.  0, -ENODATA (no tag, or one
 * not of the kind's form), or -errno. */
int dfs_tag_get(const char *path, enum dfs_sum_kind kind, const struct timespec *mtime,
		char hex[DFS_SUM_HEX_MAX], bool *current);

#endif /* DFS_SUM_H */
