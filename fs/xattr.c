/* SPDX-License-Identifier: MIT */
/*
 * xattr.c - setxattr, getxattr, listxattr and removexattr, passed through to
 * SOURCE.
 *
 * The xattr calls take no O_PATH descriptor, so they go through
 * /proc/self/fd/N, which names the inode itself.  For a symlink that name
 * would be followed, so symlinks report no attributes and refuse new ones
 * (Linux allows only trusted.* and security.* on them anyway).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/xattr.h>

#include "fs.h"

static int xattr_path(fuse_req_t req, fuse_ino_t nodeid, char *path, size_t len)
{
	struct fs_inode *ino = fs_inode_get(fs_of(req), nodeid);

	if (ino->type == S_IFLNK)
		return -EOPNOTSUPP;
	fs_proc_path(path, len, ino->fd);
	return 0;
}

/* Reply to a get or list call: the size when size is 0, else the bytes. */
static void reply_sized(fuse_req_t req, ssize_t n, const char *buf, size_t size)
{
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
	ssize_t n = xattr_path(req, nodeid, path, sizeof(path));

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

void fs_listxattr(fuse_req_t req, fuse_ino_t nodeid, size_t size)
{
	char path[64], *buf = NULL;
	ssize_t n = xattr_path(req, nodeid, path, sizeof(path));

	if (n == -EOPNOTSUPP) {
		reply_sized(req, 0, NULL, size);
		return;
	}
	if (!n && size && !(buf = malloc(size)))
		n = -ENOMEM;
	if (!n) {
		n = listxattr(path, buf, size);
		if (n < 0)
			n = -errno;
	}
	reply_sized(req, n, buf, size);
	free(buf);
}

void fs_setxattr(fuse_req_t req, fuse_ino_t nodeid, const char *name, const char *value,
		 size_t size, int flags)
{
	char path[64];
	int r = xattr_path(req, nodeid, path, sizeof(path));

	if (!r && setxattr(path, name, value, size, flags))
		r = -errno;
	fuse_reply_err(req, -r);
}

void fs_removexattr(fuse_req_t req, fuse_ino_t nodeid, const char *name)
{
	char path[64];
	int r = xattr_path(req, nodeid, path, sizeof(path));

	if (!r && removexattr(path, name))
		r = -errno;
	fuse_reply_err(req, -r);
}
