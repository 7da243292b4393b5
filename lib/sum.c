/* SPDX-License-Identifier: MIT */
/*
 * sum.c - whole-file checksums through libxxhash and libcrypto, and the
 * names and timestamps of their tags (dfs_sum.h).
 */
#include "dfs_sum.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <xxhash.h>

static const struct {
	const char *name, *attr, *ts_attr;
	size_t hex_len;
} kinds[DFS_SUM_KINDS] = {
	[DFS_SUM_OFF] = {"off", NULL, NULL, 0},
	[DFS_SUM_XXH128] = {"xxh128", "user.directfs.xxh128", "user.directfs.xxh128.ts", 32},
	[DFS_SUM_SHA256] = {"sha256", "user.shatag.sha256", "user.shatag.ts", 64},
};

int dfs_sum_init(struct dfs_sum *s, enum dfs_sum_kind kind)
{
	s->kind = kind;
	s->state = NULL;
	switch (kind) {
	case DFS_SUM_XXH128:
		s->state = XXH3_createState();
		break;
	case DFS_SUM_SHA256:
		s->state = EVP_MD_CTX_new();
		break;
	default:
		return -EINVAL;
	}
	if (!s->state)
		return -ENOMEM;
	dfs_sum_reset(s);
	return 0;
}

void dfs_sum_reset(struct dfs_sum *s)
{
	assert(s->state);
	if (s->kind == DFS_SUM_XXH128) {
		XXH3_128bits_reset(s->state);
	} else {
		int ok = EVP_DigestInit_ex(s->state, EVP_sha256(), NULL);
		assert(ok == 1);
		(void)ok;
	}
}

void dfs_sum_update(struct dfs_sum *s, const void *p, size_t n)
{
	if (s->kind == DFS_SUM_XXH128) {
		XXH3_128bits_update(s->state, p, n);
	} else {
		int ok = EVP_DigestUpdate(s->state, p, n);
		assert(ok == 1);
		(void)ok;
	}
}

static void to_hex(const unsigned char *b, size_t n, char *hex)
{
	for (size_t i = 0; i < n; i++)
		sprintf(hex + 2 * i, "%02x", b[i]);
	hex[2 * n] = '\0';
}

void dfs_sum_hex(const struct dfs_sum *s, char hex[DFS_SUM_HEX_MAX])
{
	if (s->kind == DFS_SUM_XXH128) {
		XXH128_canonical_t c;

		/* Canonical: big-endian, as xxhsum -H2 prints it. */
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s->state));
		to_hex(c.digest, sizeof(c.digest), hex);
	} else {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned len = 0;
		EVP_MD_CTX *copy = EVP_MD_CTX_new();
		int ok = copy && EVP_MD_CTX_copy_ex(copy, s->state) &&
			 EVP_DigestFinal_ex(copy, md, &len);

		EVP_MD_CTX_free(copy);
		if (!ok) { /* out of memory: no sum is better than a wrong one */
			hex[0] = '\0';
			return;
		}
		assert(len == 32);
		to_hex(md, len, hex);
	}
}

void dfs_sum_free(struct dfs_sum *s)
{
	if (!s->state)
		return;
	if (s->kind == DFS_SUM_XXH128)
		XXH3_freeState(s->state);
	else
		EVP_MD_CTX_free(s->state);
	s->state = NULL;
}

const char *dfs_sum_name(enum dfs_sum_kind k)
{
	assert(k >= 0 && k < DFS_SUM_KINDS);
	return kinds[k].name;
}

int dfs_sum_parse(const char *word, enum dfs_sum_kind *k)
{
	for (int i = 0; i < DFS_SUM_KINDS; i++)
		if (!strcmp(word, kinds[i].name)) {
			*k = (enum dfs_sum_kind)i;
			return 0;
		}
	return -EINVAL;
}

size_t dfs_sum_hex_len(enum dfs_sum_kind k)
{
	assert(k > DFS_SUM_OFF && k < DFS_SUM_KINDS);
	return kinds[k].hex_len;
}

const char *dfs_tag_attr(enum dfs_sum_kind k)
{
	assert(k > DFS_SUM_OFF && k < DFS_SUM_KINDS);
	return kinds[k].attr;
}

const char *dfs_tag_ts_attr(enum dfs_sum_kind k)
{
	assert(k > DFS_SUM_OFF && k < DFS_SUM_KINDS);
	return kinds[k].ts_attr;
}

bool dfs_tag_is_attr(const char *name)
{
	for (int i = DFS_SUM_OFF + 1; i < DFS_SUM_KINDS; i++)
		if (!strcmp(name, kinds[i].attr) || !strcmp(name, kinds[i].ts_attr))
			return true;
	return false;
}

void dfs_tag_ts_format(const struct timespec *t, char buf[DFS_TAG_TS_MAX])
{
	snprintf(buf, DFS_TAG_TS_MAX, "%010lld.%09ld", (long long)t->tv_sec, t->tv_nsec);
}

/* rm of name, where a name not there (or no user xattrs) is no error. */
static int rm_if_there(int (*rm)(void *arg, const char *name), void *arg, const char *name)
{
	int r = rm(arg, name);

	return r == -ENODATA || r == -EOPNOTSUPP ? 0 : r;
}

int dfs_tag_remove_listed(const char *list, long n, int (*rm)(void *arg, const char *name),
			  void *arg)
{
	int r = 0;

	if (n == -EOPNOTSUPP || n == 0)
		return 0; /* no user xattrs, or none at all: no tag */
	if (n == -ERANGE) {
		for (int k = DFS_SUM_OFF + 1; k < DFS_SUM_KINDS && !r; k++)
			if (!(r = rm_if_there(rm, arg, kinds[k].attr)))
				r = rm_if_there(rm, arg, kinds[k].ts_attr);
		return r;
	}
	if (n < 0)
		return (int)n;
	for (const char *p = list; p < list + n && !r; p += strlen(p) + 1)
		if (dfs_tag_is_attr(p))
			r = rm_if_there(rm, arg, p);
	return r;
}

static int path_rm(void *arg, const char *name)
{
	return removexattr(arg, name) ? -errno : 0;
}

int dfs_tag_remove(const char *path)
{
	char list[4096];
	ssize_t n = listxattr(path, list, sizeof(list));

	return dfs_tag_remove_listed(list, n < 0 ? -errno : (long)n, path_rm, (void *)path);
}

void dfs_tag_follow(const char *path, const struct timespec *old, const struct timespec *now)
{
	char was[DFS_TAG_TS_MAX], is[DFS_TAG_TS_MAX], ts[DFS_TAG_TS_MAX];

	dfs_tag_ts_format(old, was);
	dfs_tag_ts_format(now, is);
	if (!strcmp(was, is))
		return;
	for (int k = DFS_SUM_OFF + 1; k < DFS_SUM_KINDS; k++) {
		ssize_t n = getxattr(path, kinds[k].ts_attr, ts, sizeof(ts) - 1);

		if (n < 0)
			continue;
		ts[n] = '\0';
		/* A failure leaves the tag stale, which is what it says. */
		if (!strcmp(ts, was))
			(void)setxattr(path, kinds[k].ts_attr, is, strlen(is), XATTR_REPLACE);
	}
}

int dfs_tag_get(const char *path, enum dfs_sum_kind kind, const struct timespec *mtime,
		char hex[DFS_SUM_HEX_MAX], bool *current)
{
	char ts[DFS_TAG_TS_MAX], now[DFS_TAG_TS_MAX];
	size_t want = dfs_sum_hex_len(kind);
	ssize_t n = getxattr(path, kinds[kind].attr, hex, DFS_SUM_HEX_MAX - 1);

	if (n < 0)
		return errno == ERANGE || errno == EOPNOTSUPP ? -ENODATA : -errno;
	hex[n] = '\0';
	if ((size_t)n != want || strspn(hex, "0123456789abcdef") != want)
		return -ENODATA;
	n = getxattr(path, kinds[kind].ts_attr, ts, sizeof(ts) - 1);
	if (n < 0 && errno != ENODATA && errno != ERANGE)
		return -errno;
	ts[n < 0 ? 0 : n] = '\0';
	dfs_tag_ts_format(mtime, now);
	*current = !strcmp(ts, now);
	return 0;
}
