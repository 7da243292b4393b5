/* SPDX-License-Identifier: MIT */
/*
 * dirops.c - opendir, readdir, readdirplus, releasedir and fsyncdir.
 *
 * A directory handle is a DIR stream on a descriptor opened from the
 * inode's O_PATH descriptor.  Offsets are the backing filesystem's d_off
 * cookies, so a reader that comes back at any offset resumes with
 * seekdir().  readdirplus looks every entry up (taking a lookup the kernel
 * will forget) except "." and "..", which it reports without attributes.
 *
 * The kernel serialises readdir calls on one open directory, so a handle
 * needs no lock of its own.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

struct dir_handle {
	DIR *dp;
	off_t pos;	      /* offset of entry, or of the next readdir() */
	struct dirent *entry; /* read but not yet sent */
};

static struct dir_handle *dir_of(struct fuse_file_info *fi)
{
	return (struct dir_handle *)(uintptr_t)fi->fh;
}

void fs_opendir(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	FS_TRACE(req, "opendir ino=%llu", INO(nodeid));
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct dir_handle *d = calloc(1, sizeof(*d));
	int pfd, fd, r;

	if (!d) {
		fs_reply_err(req, -ENOMEM, "opendir", nodeid, NULL);
		return;
	}
	pfd = fs_inode_fd(fs, ino);
	r = pfd;
	if (pfd >= 0) {
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? -errno : 0;
		fs_inode_fd_put(fs, ino);
	}
	if (!r && !(d->dp = fdopendir(fd))) {
		r = -errno;
		close(fd);
	}
	if (r) {
		free(d);
		fs_reply_err(req, r, "opendir", nodeid, NULL);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		closedir(d->dp);
		free(d);
	}
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* Fill up to size bytes of entries from offset off. */
static void read_dir(fuse_req_t req, fuse_ino_t nodeid, size_t size, off_t off,
		     struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = fs_inode_get(fs, nodeid);
	struct dir_handle *d = dir_of(fi);
	char *buf = malloc(size), *p = buf;
	size_t left = size;
	int err = 0;

	if (!buf) {
		fs_reply_err(req, -ENOMEM, "readdir", nodeid, NULL);
		return;
	}
	if (off != d->pos) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->pos = off;
	}
	for (;;) {
		struct fuse_entry_param e = {0};
		struct dirent *de;
		size_t n;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = -errno;
				break;
			}
		}
		de = d->entry;
		if (plus) {
			if (is_dot(de->d_name)) {
				e.attr.st_ino = de->d_ino;
				e.attr.st_mode = (mode_t)de->d_type << 12;
			} else {
				err = fs_lookup_name(fs, dir, de->d_name, &e);
				if (err == -ENOENT) { /* removed meanwhile */
					err = 0;
					d->entry = NULL;
					d->pos = de->d_off;
					continue;
				}
				if (err)
					break;
			}
			n = fuse_add_direntry_plus(req, p, left, de->d_name, &e,
						   de->d_off);
			if (n > left) {
				if (e.ino)
					fs_inode_unref(fs, fs_inode_get(fs, e.ino), 1);
				break;
			}
		} else {
			struct stat st = {.st_ino = de->d_ino,
					  .st_mode = (mode_t)de->d_type << 12};

			n = fuse_add_direntry(req, p, left, de->d_name, &st, de->d_off);
			if (n > left)
				break;
		}
		p += n;
		left -= n;
		d->entry = NULL;
		d->pos = de->d_off;
	}
	/* An error after some entries: send those, the error comes next time. */
	if (err && p == buf)
		fs_reply_err(req, err, "readdir", nodeid, NULL);
	else
		fuse_reply_buf(req, buf, size - left);
	free(buf);
}

void fs_readdir(fuse_req_t req, fuse_ino_t nodeid, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	FS_TRACE(req, "readdir ino=%llu off=%lld size=%zu", INO(nodeid), OFF(off), size);
	read_dir(req, nodeid, size, off, fi, false);
}

void fs_readdirplus(fuse_req_t req, fuse_ino_t nodeid, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	FS_TRACE(req, "readdirplus ino=%llu off=%lld size=%zu", INO(nodeid), OFF(off),
		 size);
	read_dir(req, nodeid, size, off, fi, true);
}

void fs_releasedir(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	FS_TRACE(req, "releasedir ino=%llu", INO(nodeid));
	struct dir_handle *d = dir_of(fi);

	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

void fs_fsyncdir(fuse_req_t req, fuse_ino_t nodeid, int datasync,
		 struct fuse_file_info *fi)
{
	FS_TRACE(req, "fsyncdir ino=%llu datasync=%d", INO(nodeid), datasync);
	int fd = dirfd(dir_of(fi)->dp), r;

	r = (datasync ? fdatasync(fd) : fsync(fd)) ? -errno : 0;
	fs_reply_err(req, r, "fsyncdir", nodeid, NULL);
}
