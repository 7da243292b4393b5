/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - setxattr, getxattr, listxattr and removexattr, passed through to
 * SOURCE, and the progress attributes that directfs answers itself (names
 * and words: lib/dfs_progress.h; figures of a file: ofile_progress()).
 *
 * The xattr calls take no O_PATH descriptor, so they go through
 * /proc/self/fd/N, which names the inode itself.  For a symlink that name
 * would be followed, so symlinks report no attributes and refuse new ones
 * (Linux allows only trusted.* and security.* on them anyway).
 *
 * Progress attributes: every name under the prefix belongs to directfs.
 * They are answered from atomic counters (the engine file's, or the
 * figures its last session left on the inode), never listed, and cannot be
 * set or removed; the same names on SOURCE are hidden.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

/* ---- progress ---- */

static enum dfs_state root_state(struct fs *fs, const struct dfs_engine_stats *es)
{
	if (es->error_files || atomic_load(&fs->release_errors))
		return DFS_STATE_ERROR;
	if (es->fallback_files)
		return DFS_STATE_FALLBACK;
	if (es->pending || es->open_files)
		return DFS_STATE_WRITING;
	return DFS_STATE_IDLE;
}

/* A mount-wide figure. */
static int root_value(struct fs *fs, enum dfs_attr a, char *buf, size_t len)
{
	struct dfs_engine_stats es;
	uint64_t v;

	dfs_engine_stats(fs->eng, &es);
	switch (a) {
	case DFS_ATTR_STATE: return dfs_state_format(root_state(fs, &es), 0, buf, len);
	case DFS_ATTR_PID: return snprintf(buf, len, "%ld", (long)getpid());
	case DFS_ATTR_OPEN_FILES: v = es.open_files; break;
	case DFS_ATTR_WRITTEN: v = es.written; break;
	case DFS_ATTR_SYNCED: v = es.synced; break;
	case DFS_ATTR_DURABLE: v = es.durable; break;
	case DFS_ATTR_PENDING: v = es.pending; break;
	case DFS_ATTR_RATE: v = es.rate; break;
	case DFS_ATTR_STAGING: v = es.mem_used; break;
	case DFS_ATTR_FALLBACK_FILES: v = es.fallback_files; break;
	case DFS_ATTR_ERROR_FILES:
		v = es.error_files + atomic_load(&fs->release_errors);
		break;
	default: return -ENODATA;
	}
	return snprintf(buf, len, "%" PRIu64, v);
}

/* A regular file's figure. */
static int file_value(struct fs *fs, struct fs_inode *ino, enum dfs_attr a, char *buf,
		      size_t len)
{
	struct dfs_file_stats st;
	uint64_t v;

	if (a >= DFS_ATTR_ROOT_ONLY)
		return -ENODATA;
	ofile_progress(fs, ino, &st);
	switch (a) {
	case DFS_ATTR_STATE: return dfs_state_format(st.state, st.error, buf, len);
	case DFS_ATTR_WRITTEN: v = st.written; break;
	case DFS_ATTR_SYNCED: v = st.synced; break;
	case DFS_ATTR_DURABLE: v = st.durable; break;
	case DFS_ATTR_PENDING: v = st.pending; break;
	default: return -ENODATA;
	}
	return snprintf(buf, len, "%" PRIu64, v);
}

/*
 * The value of a progress attribute into buf; returns its length, or
 * -ENODATA for a name directfs does not answer on this inode.
 */
static int progress_value(struct fs *fs, struct fs_inode *ino, const char *name,
			  char *buf, size_t len)
{
	int a = dfs_attr_lookup(name);

	if (a < 0)
		return -ENODATA;
	if (ino == &fs->root)
		return root_value(fs, (enum dfs_attr)a, buf, len);
	if (ino->type == S_IFREG)
		return file_value(fs, ino, (enum dfs_attr)a, buf, len);
	return -ENODATA;
}

/* ---- passthrough ---- */

/* The inode an xattr call names, held by its /proc/self/fd path for the
 * length of the call. */
struct xattr_target {
	struct fs *fs;
	struct fs_inode *ino;
	char path[64];
};

static int target_open(fuse_req_t req, fuse_ino_t nodeid, struct xattr_target *t)
{
	int fd;

	t->fs = fs_of(req);
	t->ino = fs_inode_get(t->fs, nodeid);
	if (t->ino->type == S_IFLNK)
		return -EOPNOTSUPP;
	fd = fs_inode_fd(t->fs, t->ino);
	if (fd < 0)
		return fd;
	dfs_proc_path(t->path, sizeof(t->path), fd);
	return 0;
}

static void target_close(struct xattr_target *t)
{
	fs_inode_fd_put(t->fs, t->ino);
}

/* Reply to a get or list call: the size when size is 0, else the bytes,
 * or ERANGE when they do not fit. */
static void reply_sized(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
	if (n >= 0 && size && (size_t)n > size)
		n = -ERANGE;
	if (n < 0)
		fs_reply_fail(req, (int)n, "getxattr", 0, NULL);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void fs_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, size_t size)
{
	struct xattr_target t;
	char *buf = NULL;
	ssize_t n;

	if (dfs_attr_is_ours(name)) {
		struct fs *fs = fs_of(req);
		char val[64];

		n = progress_value(fs, fs_inode_get(fs, nodeid), name, val, sizeof(val));
		reply_sized(req, n, val, size);
		return;
	}
	n = target_open(req, nodeid, &t);
	if (!n) {
		if (size && !(buf = malloc(size)))
			n = -ENOMEM;
		else if ((n = getxattr(t.path, name, buf, size)) < 0)
			n = -errno;
		target_close(&t);
	}
	if (n == -EOPNOTSUPP)
		n = -ENODATA;
	reply_sized(req, n, buf, size);
	free(buf);
}

/*
 * SOURCE's names without any of ours (dfs_progress.h); into a buffer of our
 * own, since hiding names changes the length a size-0 call must report.
 */
static ssize_t list_visible(const char *path, char **out)
{
	ssize_t n, keep = 0;
	char *buf = NULL;

	for (;;) {
		n = listxattr(path, NULL, 0);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		free(buf);
		buf = malloc((size_t)n);
		if (!buf)
			return -ENOMEM;
		n = listxattr(path, buf, (size_t)n);
		if (n >= 0)
			break;
		if (errno != ERANGE) { /* else it grew meanwhile: again */
			free(buf);
			return -errno;
		}
	}
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		size_t l = strlen(p) + 1;
		if (dfs_attr_is_ours(p))
			continue;
		memmove(buf + keep, p, l);
		keep += (ssize_t)l;
	}
	*out = buf;
	return keep;
}

void fs_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size)
{
	struct xattr_target t;
	char *buf = NULL;
	ssize_t n = target_open(req, nodeid, &t);

	if (!n) {
		n = list_visible(t.path, &buf);
		target_close(&t);
	}
	if (n == -EOPNOTSUPP)
		n = 0; /* a symlink lists none */
	reply_sized(req, n, buf, size);
	free(buf);
}

static int refuse_progress(fuse_req_t req, const char *name, const char *what)
{
	if (!dfs_attr_is_ours(name))
		return 0;
	fs_log(fs_of(req), LOG_NOTICE,
	       "%s cannot be %s: %s* are progress figures kept by directfs (pid %ld "
	       "asked)",
	       name, what, DFS_XATTR_PREFIX, (long)fuse_req_ctx(req)->pid);
	return -EPERM;
}

void fs_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, const char *value,
		 size_t size, int flags)
{
	struct xattr_target t;
	int r = refuse_progress(req, name, "set");

	if (!r)
		r = target_open(req, nodeid, &t);
	if (!r) {
		r = setxattr(t.path, name, value, size, flags) ? -errno : 0;
		target_close(&t);
	}
	fs_reply_fail(req, r, "setxattr", nodeid, NULL);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t nodeid, const char *name)
{
	struct xattr_target t;
	int r = refuse_progress(req, name, "removed");

	if (!r)
		r = target_open(req, nodeid, &t);
	if (!r) {
		r = removexattr(t.path, name) ? -errno : 0;
		target_close(&t);
	}
	fs_reply_fail(req, r, "removexattr", nodeid, NULL);
}
