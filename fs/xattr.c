/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - setxattr, getxattr, listxattr and removexattr, passed through to
 * SOURCE, and the progress attributes (SPEC 5) that directfs answers itself.
 *
 * The xattr calls take no O_PATH descriptor, so they go through
 * /proc/self/fd/N, which names the inode itself.  For a symlink that name
 * would be followed, so symlinks report no attributes and refuse new ones
 * (Linux allows only trusted.* and security.* on them anyway).
 *
 * Progress attributes: every name under "user.directfs." belongs to
 * directfs.  They are answered from atomic counters (the engine file's, or
 * the figures its last session left on the inode), never listed, and
 * cannot be set or removed; the same names on SOURCE are hidden.
 *
 * A regular file's figures are those of its current session (first open
 * to last release) once that session has changed the file; until then,
 * and when the file is not open, those of the session before.  A file not
 * being written holds nothing of directfs's in memory, so once its last
 * release has synced it (or if it was never written through this mount)
 * durable is its size.
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

void fs_progress_attach(struct fs_inode *ino, struct dfs_file *f)
{
	pthread_mutex_lock(&ino->slock);
	ino->stats = f;
	pthread_mutex_unlock(&ino->slock);
}

void fs_progress_detach(struct fs_inode *ino, int err)
{
	struct dfs_file_stats st;

	pthread_mutex_lock(&ino->slock);
	if (ino->stats) {
		dfs_file_stats(ino->stats, &st);
		/* A session that only read leaves the one before as it was. */
		if (st.written || st.error || err)
			ino->last = st;
		ino->last.error = err;
		ino->stats = NULL;
	}
	pthread_mutex_unlock(&ino->slock);
}

/* A regular file's progress figures, as SPEC 5 names them. */
static void file_progress(struct fs_inode *ino, struct dfs_file_stats *st)
{
	struct stat sb;
	bool live = false;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&ino->slock);
	if (ino->stats) {
		dfs_file_stats(ino->stats, st);
		live = st->written || st->pending || st->error ||
		       st->state == DFS_STATE_SYNCING;
	}
	if (!live) {
		off_t size = st->size; /* the open file's logical size */
		bool open = ino->stats != NULL;

		*st = ino->last;
		st->pending = 0;
		pthread_mutex_unlock(&ino->slock);
		if (!open)
			size = fstat(ino->fd, &sb) ? 0 : sb.st_size;
		st->size = size;
		if (!st->error)
			st->durable = (uint64_t)size;
		st->state = st->error	 ? DFS_STATE_ERROR
			    : st->fallback ? DFS_STATE_FALLBACK
					   : DFS_STATE_IDLE;
	} else {
		pthread_mutex_unlock(&ino->slock);
	}
	/* Open for writing is "writing" until the last release is done,
	 * so a watcher knows the copy has not ended yet. */
	if ((st->state == DFS_STATE_IDLE || st->state == DFS_STATE_FALLBACK) &&
	    atomic_load(&ino->writers))
		st->state = DFS_STATE_WRITING;
}

static const char *root_state(struct fs *fs, const struct dfs_engine_stats *es)
{
	if (es->error_files || atomic_load(&fs->release_errors))
		return "error";
	if (es->fallback_files)
		return "fallback";
	if (es->pending || es->open_files)
		return "writing";
	return "idle";
}

/*
 * The value of a progress attribute into buf; returns its length, or
 * -ENODATA for a name directfs does not answer on this inode.
 */
static int progress_value(struct fs *fs, struct fs_inode *ino, const char *name,
			  char *buf, size_t len)
{
	const char *key = name + strlen(FS_XATTR_PREFIX);
	char state[48];

	if (ino == &fs->root) {
		struct dfs_engine_stats es;
		unsigned errs = atomic_load(&fs->release_errors);

		dfs_engine_stats(fs->eng, &es);
		if (!strcmp(key, "state"))
			return snprintf(buf, len, "%s", root_state(fs, &es));
		if (!strcmp(key, "pid"))
			return snprintf(buf, len, "%ld", (long)getpid());
		const struct {
			const char *key;
			uint64_t v;
		} figs[] = {
			{ "open_files", es.open_files },
			{ "written", es.written },
			{ "synced", es.synced },
			{ "durable", es.durable },
			{ "pending", es.pending },
			{ "rate", es.rate },
			{ "staging", es.mem_used },
			{ "fallback_files", es.fallback_files },
			{ "error_files", es.error_files + errs },
		};
		for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++)
			if (!strcmp(key, figs[i].key))
				return snprintf(buf, len, "%" PRIu64, figs[i].v);
		return -ENODATA;
	}
	if (ino->type != S_IFREG)
		return -ENODATA;

	struct dfs_file_stats st;
	file_progress(ino, &st);
	if (!strcmp(key, "state"))
		return snprintf(buf, len, "%s", dfs_state_string(&st, state, sizeof(state)));
	uint64_t v;
	if (!strcmp(key, "written"))
		v = st.written;
	else if (!strcmp(key, "synced"))
		v = st.synced;
	else if (!strcmp(key, "durable"))
		v = st.durable;
	else if (!strcmp(key, "pending"))
		v = st.pending;
	else
		return -ENODATA;
	return snprintf(buf, len, "%" PRIu64, v);
}

static bool is_progress_name(const char *name)
{
	return !strncmp(name, FS_XATTR_PREFIX, strlen(FS_XATTR_PREFIX));
}

/* ---- passthrough ---- */

static int xattr_path(fuse_req_t req, fuse_ino_t nodeid, char *path, size_t len)
{
	struct fs_inode *ino = fs_inode_get(fs_of(req), nodeid);

	if (ino->type == S_IFLNK)
		return -EOPNOTSUPP;
	fs_proc_path(path, len, ino->fd);
	return 0;
}

/* Reply to a get or list call: the size when size is 0, else the bytes,
 * or ERANGE when they do not fit. */
static void reply_sized(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
	if (n >= 0 && size && (size_t)n > size)
		n = -ERANGE;
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
}

void fs_getxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n;

	if (is_progress_name(name)) {
		struct fs *fs = fs_of(req);
		char val[64];

		n = progress_value(fs, fs_inode_get(fs, nodeid), name, val, sizeof(val));
		reply_sized(req, n, val, size);
		return;
	}
	n = xattr_path(req, nodeid, path, sizeof(path));

	if (n == -EOPNOTSUPP)
		n = -ENODATA;
	if (!n && size && !(buf = malloc(size)))
		n = -ENOMEM;
	if (!n) {
		n = getxattr(path, name, buf, size);
		if (n < 0)
			n = -errno;
	}
	reply_sized(req, n, buf, size);
	free(buf);
}

/*
 * SOURCE's names without any under user.directfs.; into a buffer of our
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
		if (is_progress_name(p))
			continue;
		memmove(buf + keep, p, l);
		keep += (ssize_t)l;
	}
	*out = buf;
	return keep;
}

void fs_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n = xattr_path(req, nodeid, path, sizeof(path));

	if (n == -EOPNOTSUPP) {
		reply_sized(req, 0, NULL, size);
		return;
	}
	if (!n)
		n = list_visible(path, &buf);
	reply_sized(req, n, buf, size);
	free(buf);
}

static int refuse_progress(fuse_req_t req, const char *name, const char *what)
{
	if (!is_progress_name(name))
		return 0;
	fs_log(fs_of(req), LOG_NOTICE,
	       "%s cannot be %s: user.directfs.* are progress figures kept by "
	       "directfs (pid %ld asked)",
	       name, what, (long)fuse_req_ctx(req)->pid);
	return -EPERM;
}

void fs_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, const char *value,
		 size_t size, int flags)
{
	char path[64];
	int r = refuse_progress(req, name, "set");

	if (!r)
		r = xattr_path(req, nodeid, path, sizeof(path));
	if (!r && setxattr(path, name, value, size, flags))
		r = -errno;
	fuse_reply_err(req, -r);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t nodeid, const char *name)
{
	char path[64];
	int r = refuse_progress(req, name, "removed");

	if (!r)
		r = xattr_path(req, nodeid, path, sizeof(path));
	if (!r && removexattr(path, name))
		r = -errno;
	fuse_reply_err(req, -r);
}
