/* SPDX-License-Identifier: MIT */
/*
 * inodeops.c - the metadata handlers: lookup, forget, getattr, setattr,
 * readlink, mknod, mkdir, symlink, link, unlink, rmdir, rename and statfs.
 *
 * Names are resolved by the table (table.c), one component at a time
 * relative to the parent's O_PATH descriptor.  Calls that cannot take an
 * O_PATH descriptor (chmod, utimens) go through /proc/self/fd/N, which
 * names the inode itself and resolves nothing; a size change goes to the
 * inode's engine file, open or not (session.c).
 *
 * Permission checks are the kernel's on a mount others use (allow_other
 * brings default_permissions); on a mount only its owner uses, SOURCE's
 * own, with access(2) answered here.  Creating calls run as the caller
 * (creds.c).
 *
 * Not here: opening and I/O (fileops.c), directories' contents (dirops.c),
 * xattrs (xattrops.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs.h"

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FS_TRACE(req, "lookup parent=%llu name=%s", INO(parent), name);
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int r = fs_lookup_name(fs, fs_inode_get(fs, parent), name, &e);

	if (r == -ENOENT) {
		/* A negative entry, cached like a positive one. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->o.timeout;
		fuse_reply_entry(req, &e);
	} else if (r) {
		fs_reply_err(req, r, "lookup", parent, name);
	} else {
		fuse_reply_entry(req, &e);
	}
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	FS_TRACE(req, "forget ino=%llu nlookup=%" PRIu64, INO(ino), nlookup);
	struct fs *fs = fs_of(req);

	fs_inode_unref(fs, fs_inode_get(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	FS_TRACE(req, "forget_multi count=%zu", count);
	struct fs *fs = fs_of(req);
	size_t k;

	for (k = 0; k < count; k++)
		fs_inode_unref(fs, fs_inode_get(fs, forgets[k].ino), forgets[k].nlookup);
	fuse_reply_none(req);
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	FS_TRACE(req, "getattr ino=%llu%s", INO(ino), fi ? " (open file)" : "");
	struct fs *fs = fs_of(req);
	struct stat st;
	int r = fs_inode_stat(fs, fs_inode_get(fs, ino), &st);

	(void)fi;
	if (r)
		fs_reply_err(req, r, "getattr", ino, NULL);
	else
		fuse_reply_attr(req, &st, fs->o.timeout);
}

static int set_times(struct fs *fs, struct fs_inode *ino, const struct stat *attr,
		     int valid)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
	char path[64];
	int fd, r;

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		ts[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		ts[1] = attr->st_mtim;

	/* Staged data written later would move mtime past what cp -p set. */
	r = session_write_out(&ino->sess);
	if (r)
		return r;

	fd = fs_inode_fd(fs, ino);
	if (fd < 0)
		return fd;
	if (ino->type == S_IFLNK) {
		r = utimensat(fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno
									       : 0;
	} else if (ino->type != S_IFREG || ts[1].tv_nsec == UTIME_OMIT) {
		dfs_proc_path(path, sizeof(path), fd);
		r = utimensat(AT_FDCWD, path, ts, 0) ? -errno : 0;
	} else {
		/* A new mtime for the same bytes (cp -p, rsync -t, tar): a
		 * checksum tag current before is current after.  No tag is
		 * kept meanwhile (session.h). */
		struct stat before, after;

		dfs_proc_path(path, sizeof(path), fd);
		session_tagging_begin(&ino->sess);
		r = stat(path, &before) ? -errno : 0;
		if (!r)
			r = utimensat(AT_FDCWD, path, ts, 0) ? -errno : 0;
		if (!r && !stat(path, &after))
			dfs_tag_follow(path, &before.st_mtim, &after.st_mtim);
		session_tagging_end(&ino->sess);
	}
	fs_inode_fd_put(fs, ino);
	return r;
}

/* chown and chmod. */
static int set_owner_mode(struct fs *fs, struct fs_inode *ino, const struct stat *attr,
			  int valid)
{
	int fd = fs_inode_fd(fs, ino), r = 0;
	char path[64];

	if (fd < 0)
		return fd;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			r = -errno;
	}
	if (!r && (valid & FUSE_SET_ATTR_MODE)) {
		dfs_proc_path(path, sizeof(path), fd);
		if (ino->type == S_IFLNK)
			r = -EOPNOTSUPP;
		else if (chmod(path, attr->st_mode & 07777))
			r = -errno;
	}
	fs_inode_fd_put(fs, ino);
	return r;
}

void fs_setattr(fuse_req_t req, fuse_ino_t nodeid, struct stat *attr, int valid,
		struct fuse_file_info *fi)
{
	FS_TRACE(req, "setattr ino=%llu valid=0x%x mode=0%o uid=%d gid=%d size=%lld",
		 INO(nodeid), (unsigned)valid, (unsigned)attr->st_mode, (int)attr->st_uid,
		 (int)attr->st_gid, OFF(attr->st_size));
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct stat st;
	int r = 0;

	(void)fi;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_MODE))
		r = set_owner_mode(fs, ino, attr, valid);
	if (!r && (valid & FUSE_SET_ATTR_SIZE)) {
		if (ino->type == S_IFDIR)
			r = -EISDIR;
		else if (ino->type != S_IFREG)
			r = -EINVAL;
		else if (!(r = fs_kill_privs(req, fs, nodeid, ino)))
			r = session_truncate(&fs->host, &ino->sess, attr->st_size);
	}
	if (!r && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		r = set_times(fs, ino, attr, valid);
	if (!r)
		r = fs_inode_stat(fs, ino, &st);
	if (r)
		fs_reply_err(req, r, "setattr", nodeid, NULL);
	else
		fuse_reply_attr(req, &st, fs->o.timeout);
}

void fs_readlink(fuse_req_t req, fuse_ino_t nodeid)
{
	FS_TRACE(req, "readlink ino=%llu", INO(nodeid));
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	char buf[PATH_MAX + 1];
	int fd = fs_inode_fd(fs, ino);
	ssize_t n = fd;

	if (fd >= 0) {
		n = readlinkat(fd, "", buf, sizeof(buf));
		if (n < 0)
			n = -errno;
		else if ((size_t)n >= sizeof(buf))
			n = -ENAMETOOLONG;
		fs_inode_fd_put(fs, ino);
	}
	if (n < 0) {
		fs_reply_err(req, (int)n, "readlink", nodeid, NULL);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* ---- making names ---- */

struct node_spec {
	mode_t mode; /* with S_IFMT */
	dev_t rdev;
	const char *link;
};

static int make_node(int dfd, const char *name, const struct node_spec *s)
{
	int r;

	switch (s->mode & S_IFMT) {
	case S_IFDIR: r = mkdirat(dfd, name, s->mode & 07777); break;
	case S_IFLNK: r = symlinkat(s->link, dfd, name); break;
	default: r = mknodat(dfd, name, s->mode, s->rdev); break;
	}
	return r ? -errno : 0;
}

static void reply_new_node(fuse_req_t req, fuse_ino_t parent, const char *name,
			   const struct node_spec *s)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = fs_inode_get(fs, parent);
	struct fuse_entry_param e;
	bool as_caller;
	int dfd, r = fs_name_ok(name);

	if (!r)
		r = fs_creds_enter(req, &as_caller);
	if (r) {
		fs_reply_err(req, r, "make", parent, name);
		return;
	}
	dfd = fs_inode_fd(fs, dir);
	r = dfd < 0 ? dfd : make_node(dfd, name, s);
	if (dfd >= 0)
		fs_inode_fd_put(fs, dir);
	fs_creds_leave(fs, as_caller);
	if (!r)
		r = fs_lookup_name(fs, dir, name, &e);
	if (r)
		fs_reply_err(req, r, "make", parent, name);
	else
		fuse_reply_entry(req, &e);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	FS_TRACE(req, "mknod parent=%llu name=%s mode=0%o rdev=%llu", INO(parent), name,
		 (unsigned)mode, (unsigned long long)rdev);
	struct node_spec s = {.mode = mode, .rdev = rdev};

	reply_new_node(req, parent, name, &s);
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	FS_TRACE(req, "mkdir parent=%llu name=%s mode=0%o", INO(parent), name,
		 (unsigned)mode);
	struct node_spec s = {.mode = S_IFDIR | (mode & 07777)};

	reply_new_node(req, parent, name, &s);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	FS_TRACE(req, "symlink parent=%llu name=%s target=%s", INO(parent), name, link);
	struct node_spec s = {.mode = S_IFLNK | 0777, .link = link};

	reply_new_node(req, parent, name, &s);
}

/* A new name for ino in dir. */
static int link_inode(struct fs *fs, struct fs_inode *ino, struct fs_inode *dir,
		      const char *name)
{
	int fd = fs_inode_fd(fs, ino), dfd, r;
	char path[64];

	if (fd < 0)
		return fd;
	dfd = fs_inode_fd(fs, dir);
	if (dfd < 0) {
		fs_inode_fd_put(fs, ino);
		return dfd;
	}
	r = linkat(fd, "", dfd, name, AT_EMPTY_PATH) ? -errno : 0;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link does not,
	 * and names this inode, not a path. */
	if (r == -ENOENT || r == -EPERM) {
		dfs_proc_path(path, sizeof(path), fd);
		r = linkat(AT_FDCWD, path, dfd, name, AT_SYMLINK_FOLLOW) ? -errno : 0;
	}
	fs_inode_fd_put(fs, dir);
	fs_inode_fd_put(fs, ino);
	return r;
}

void fs_link(fuse_req_t req, fuse_ino_t nodeid, fuse_ino_t newparent, const char *newname)
{
	FS_TRACE(req, "link ino=%llu newparent=%llu newname=%s", INO(nodeid),
		 INO(newparent), newname);
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct fs_inode *dir = fs_inode_get(fs, newparent);
	struct fuse_entry_param e;
	int r = fs_name_ok(newname);

	if (!r)
		r = link_inode(fs, ino, dir, newname);
	if (!r)
		r = fs_lookup_inode(fs, ino, &e);
	if (r)
		fs_reply_err(req, r, "link", newparent, newname);
	else
		fuse_reply_entry(req, &e);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *dir = fs_inode_get(fs, parent);
	int dfd, r = fs_name_ok(name);

	if (!r) {
		dfd = fs_inode_fd(fs, dir);
		r = dfd < 0 ? dfd : unlinkat(dfd, name, flags) ? -errno : 0;
		if (dfd >= 0)
			fs_inode_fd_put(fs, dir);
	}
	if (!r && !(flags & AT_REMOVEDIR))
		session_names_removed(&fs->host);
	fs_reply_err(req, r, "remove", parent, name);
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FS_TRACE(req, "unlink parent=%llu name=%s", INO(parent), name);
	remove_name(req, parent, name, 0);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	FS_TRACE(req, "rmdir parent=%llu name=%s", INO(parent), name);
	remove_name(req, parent, name, AT_REMOVEDIR);
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	FS_TRACE(req, "rename parent=%llu name=%s newparent=%llu newname=%s flags=0x%x",
		 INO(parent), name, INO(newparent), newname, flags);
	struct fs *fs = fs_of(req);
	struct fs_inode *a = fs_inode_get(fs, parent), *b = fs_inode_get(fs, newparent);
	int afd, bfd, r = fs_name_ok(name);

	if (!r)
		r = fs_name_ok(newname);
	if (!r && (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)))
		r = -EINVAL; /* RENAME_WHITEOUT is for overlay filesystems */
	if (r) {
		fs_reply_err(req, r, "rename", parent, name);
		return;
	}
	afd = fs_inode_fd(fs, a);
	if (afd < 0) {
		fs_reply_err(req, afd, "rename", parent, name);
		return;
	}
	bfd = fs_inode_fd(fs, b);
	r = bfd < 0 ? bfd : renameat2(afd, name, bfd, newname, flags) ? -errno : 0;
	if (bfd >= 0)
		fs_inode_fd_put(fs, b);
	fs_inode_fd_put(fs, a);
	if (!r && !(flags & (RENAME_NOREPLACE | RENAME_EXCHANGE)))
		session_names_removed(&fs->host); /* newname may have been a file */
	fs_reply_err(req, r, "rename", parent, name);
}

/* Without default_permissions (a mount only its owner uses) the kernel
 * asks here for access(2) and chdir: the daemon runs as that owner, so
 * SOURCE's own answer is the one a local disk would give. */
void fs_access(fuse_req_t req, fuse_ino_t nodeid, int mask)
{
	FS_TRACE(req, "access ino=%llu mask=0%o", INO(nodeid), (unsigned)mask);
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	char path[64];
	int fd, r = 0;

	if (ino->type == S_IFLNK) { /* always 0777; never follow it */
		fuse_reply_err(req, 0);
		return;
	}
	fd = fs_inode_fd(fs, ino);
	if (fd < 0) {
		fs_reply_err(req, fd, "access", nodeid, NULL);
		return;
	}
	dfs_proc_path(path, sizeof(path), fd);
	if (faccessat(AT_FDCWD, path, mask, AT_EACCESS))
		r = -errno;
	fs_inode_fd_put(fs, ino);
	fs_reply_err(req, r, "access", nodeid, NULL);
}

void fs_statfs(fuse_req_t req, fuse_ino_t nodeid)
{
	FS_TRACE(req, "statfs ino=%llu", INO(nodeid));
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct statvfs sv;
	int fd = fs_inode_fd(fs, ino), r = fd;

	if (fd >= 0) {
		r = fstatvfs(fd, &sv) ? -errno : 0;
		fs_inode_fd_put(fs, ino);
	}

	if (r)
		fs_reply_err(req, r, "statfs", nodeid, NULL);
	else
		fuse_reply_statfs(req, &sv);
}
