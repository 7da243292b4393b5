/* SPDX-License-Identifier: MIT */
/*
 * xattrops.c - setxattr, getxattr, listxattr and removexattr, passed through to
 * SOURCE, and the progress attributes that directfs answers itself (names
 * and words: lib/dfs_progress.h; figures of a file: session_figures()).
 *
 * The xattr calls take no O_PATH descriptor, so they go through
 * /proc/self/fd/N, which names the inode itself.  For a symlink that name
 * would be followed, so symlinks report no attributes and refuse new ones
 * (Linux allows only trusted.* and security.* on them anyway).
 *
 * Progress attributes: every name under the prefix belongs to directfs.
 * They are answered from atomic counters (the engine file's, or the
 * figures its last session left on the inode), never listed, and cannot be
 * set or removed; the same names on SOURCE are hidden.  The checksum tag
 * user.directfs.xxh128 (and .ts) is SOURCE's, passed through like any
 * other name; user.directfs.sha256 answers shatag's tag while current.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs.h"

/* ---- progress ---- */

static enum dfs_state root_state(struct fs *fs, const struct dfs_engine_stats *es)
{
	if (es->error_files || atomic_load(&fs->host.error_files))
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
		v = es.error_files + atomic_load(&fs->host.error_files);
		break;
	case DFS_ATTR_FILES_DONE: v = atomic_load(&fs->host.files_done); break;
	case DFS_ATTR_FILES_FAILED: v = atomic_load(&fs->host.files_failed); break;
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
	session_figures(&fs->host, &ino->sess, &st);
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

/* Files whose figures the root's list takes at most: enough for any real
 * tree copy (tools copy a few files at a time); the rest are counted. */
#define FILES_LISTED 1024

/* The inode's name in the mount, from its SOURCE path; "" if it has none
 * that can be read. */
static void mount_name(struct fs *fs, struct fs_inode *ino, char *out, size_t len)
{
	size_t n = strlen(fs->o.source);
	char path[PATH_MAX];

	out[0] = '\0';
	if (!ifd_path(&fs->ifds, &ino->ifd, path, sizeof(path)))
		return;
	if (!strncmp(path, fs->o.source, n) && path[n] == '/')
		snprintf(out, len, "%s", path + n + 1);
	else if (!strcmp(fs->o.source, "/") && path[0] == '/')
		snprintf(out, len, "%s", path + 1);
	else
		snprintf(out, len, "%s", path); /* outside SOURCE's path */
}

/* The root's "files" (dfs_progress.h) into a new buffer of DFS_FILES_MAX;
 * its length, or -errno. */
static ssize_t root_files(struct fs *fs, char **out)
{
	struct fs_inode **inos = malloc(FILES_LISTED * sizeof(*inos));
	char *buf = malloc(DFS_FILES_MAX);
	struct dfs_flight *fl = malloc(sizeof(*fl));
	size_t total, listed, len = 0, left = 0;

	if (!inos || !buf || !fl) {
		free(inos);
		free(buf);
		free(fl);
		return -ENOMEM;
	}
	total = fs_table_busy_files(fs, inos, FILES_LISTED);
	listed = total < FILES_LISTED ? total : FILES_LISTED;
	left = total - listed; /* may be in flight: counted as such */
	for (size_t i = 0; i < listed; i++) {
		struct dfs_file_stats st;
		int n;

		session_figures(&fs->host, &inos[i]->sess, &st);
		if (session_in_flight(&inos[i]->sess, &st)) {
			fl->written = st.written;
			fl->durable = st.durable;
			fl->pending = st.pending;
			fl->st = st.state;
			fl->err = st.error;
			mount_name(fs, inos[i], fl->path, sizeof(fl->path));
			if (!fl->path[0])
				snprintf(fl->path, sizeof(fl->path), "(inode %llu)",
					 (unsigned long long)inos[i]->ino);
			/* Room for it and for a "+N" line after it. */
			n = dfs_flight_format(fl, buf + len, DFS_FILES_MAX - 24 - len);
			if ((size_t)n < DFS_FILES_MAX - 24 - len)
				len += (size_t)n;
			else
				left++;
		}
		fs_inode_unref(fs, inos[i], 1);
	}
	if (left)
		len += (size_t)snprintf(buf + len, DFS_FILES_MAX - len, "+%zu\n", left);
	free(inos);
	free(fl);
	*out = buf;
	return (ssize_t)len;
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
		fs_reply_err(req, (int)n, "getxattr", 0, NULL);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

/* user.directfs.sha256: SOURCE's user.shatag.sha256 while it is current
 * (its ts the file's mtime); its length, or -ENODATA. */
static ssize_t tag_alias(fuse_req_t req, fuse_ino_t nodeid, char hex[DFS_SUM_HEX_MAX])
{
	struct xattr_target t;
	struct stat st;
	bool current = false;
	int r = target_open(req, nodeid, &t);

	if (r)
		return r == -EOPNOTSUPP ? -ENODATA : r;
	r = t.ino->type != S_IFREG ? -ENODATA : stat(t.path, &st) ? -errno : 0;
	if (!r)
		r = dfs_tag_get(t.path, DFS_SUM_SHA256, &st.st_mtim, hex, &current);
	target_close(&t);
	if (!r && !current)
		r = -ENODATA;
	return r ? r : (ssize_t)strlen(hex);
}

void fs_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, size_t size)
{
	FS_TRACE(req, "getxattr ino=%llu name=%s size=%zu", INO(nodeid), name, size);
	struct xattr_target t;
	char *buf = NULL;
	ssize_t n;

	if (dfs_attr_is_ours(name)) {
		struct fs *fs = fs_of(req);
		char val[DFS_SUM_HEX_MAX];

		if (!strcmp(name, DFS_XATTR_PREFIX "sha256")) {
			n = tag_alias(req, nodeid, val);
			reply_sized(req, n, val, size);
			return;
		}
		if (nodeid == FUSE_ROOT_ID && dfs_attr_lookup(name) == DFS_ATTR_FILES) {
			n = root_files(fs, &buf);
			reply_sized(req, n, buf, size);
			free(buf);
			return;
		}
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
	/* Each name's length is taken before a move, which may overwrite it
	 * (a hidden name shorter than the one after it). */
	for (size_t l, off = 0; off < (size_t)n; off += l) {
		char *p = buf + off;

		l = strlen(p) + 1;
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
	FS_TRACE(req, "listxattr ino=%llu size=%zu", INO(nodeid), size);
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

/*
 * An ACL set on a mount whose ACLs the kernel checks (fs->acl) is set as
 * the caller, so that SOURCE changes the mode with it as for the caller
 * on a local disk: setgid cleared when the caller is not of the file's
 * group and lacks CAP_FSETID (the kernel has checked ownership already).
 */
static bool set_as_caller(struct fs *fs, const char *name)
{
	return fs->acl && !strncmp(name, "system.posix_acl_", 17);
}

void fs_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, const char *value,
		 size_t size, int flags)
{
	FS_TRACE(req, "setxattr ino=%llu name=%s size=%zu flags=0x%x", INO(nodeid), name,
		 size, (unsigned)flags);
	struct xattr_target t;
	bool as_caller = false;
	int r = refuse_progress(req, name, "set");

	if (!r)
		r = target_open(req, nodeid, &t);
	if (!r && set_as_caller(t.fs, name)) {
		r = fs_creds_enter(req, &as_caller);
		if (r)
			target_close(&t);
	}
	if (!r) {
		r = setxattr(t.path, name, value, size, flags) ? -errno : 0;
		if (set_as_caller(t.fs, name))
			fs_creds_leave(t.fs, as_caller);
		target_close(&t);
	}
	fs_reply_err(req, r, "setxattr", nodeid, NULL);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t nodeid, const char *name)
{
	FS_TRACE(req, "removexattr ino=%llu name=%s", INO(nodeid), name);
	struct xattr_target t;
	int r = refuse_progress(req, name, "removed");

	if (!r)
		r = target_open(req, nodeid, &t);
	if (!r) {
		r = removexattr(t.path, name) ? -errno : 0;
		target_close(&t);
	}
	fs_reply_err(req, r, "removexattr", nodeid, NULL);
}
