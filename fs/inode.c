/* SPDX-License-Identifier: MIT */
/*
 * inode.c - the inode table and every metadata operation: lookup, forget,
 * getattr, setattr, readlink, mknod, mkdir, symlink, link, unlink, rmdir,
 * rename and statfs.
 *
 * Names are always resolved one component at a time, relative to the
 * parent's O_PATH descriptor, with O_NOFOLLOW: the daemon never follows a
 * symlink while resolving.  Calls that cannot take an O_PATH descriptor
 * (chmod, utimens, truncate of a closed file) go through /proc/self/fd/N,
 * which names the inode itself and resolves nothing.
 *
 * Permission checks are the kernel's (the mount always has
 * default_permissions); creating calls run with the caller's fsuid, fsgid
 * and groups, so new files belong to the caller and the backing filesystem
 * applies its own rules (setgid directories, ACLs, quotas) as on a local
 * disk.
 *
 * Not here: opening and I/O (file.c), directories' contents (dir.c),
 * xattrs (xattr.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"

#define GROUPS_MAX 256

void fs_proc_path(char *buf, size_t len, int fd)
{
	snprintf(buf, len, "/proc/self/fd/%d", fd);
}

int fs_name_ok(const char *name)
{
	if (!name[0] || strchr(name, '/'))
		return -EINVAL;
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

struct fs_inode *fs_inode_get(struct fs *fs, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &fs->root;
	return (struct fs_inode *)(uintptr_t)ino;
}

static fuse_ino_t node_id(struct fs *fs, struct fs_inode *ino)
{
	return ino == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)ino;
}

/* ---- the table: (st_dev, st_ino) -> inode, chained, grown at load 1 ---- */

int fs_table_init(struct fs_table *t)
{
	t->nbuckets = 1024;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

static size_t bucket_of(const struct fs_table *t, dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
	return (size_t)(h ^ h >> 29) & (t->nbuckets - 1);
}

static struct fs_inode *table_find(struct fs_table *t, dev_t dev, ino_t ino)
{
	struct fs_inode *i;

	for (i = t->buckets[bucket_of(t, dev, ino)]; i; i = i->hnext)
		if (i->dev == dev && i->ino == ino)
			return i;
	return NULL;
}

static void table_grow(struct fs_table *t)
{
	size_t n = t->nbuckets * 2, old = t->nbuckets, b;
	struct fs_inode **nb = calloc(n, sizeof(*nb)), **ob = t->buckets;

	if (!nb)
		return; /* longer chains, still correct */
	t->buckets = nb;
	t->nbuckets = n;
	for (b = 0; b < old; b++) {
		struct fs_inode *i = ob[b], *next;

		for (; i; i = next) {
			size_t k = bucket_of(t, i->dev, i->ino);

			next = i->hnext;
			i->hnext = nb[k];
			nb[k] = i;
		}
	}
	free(ob);
}

static void table_insert(struct fs_table *t, struct fs_inode *i)
{
	size_t k;

	if (t->count >= t->nbuckets)
		table_grow(t);
	k = bucket_of(t, i->dev, i->ino);
	i->hnext = t->buckets[k];
	t->buckets[k] = i;
	t->count++;
}

static void table_remove(struct fs_table *t, struct fs_inode *i)
{
	struct fs_inode **p = &t->buckets[bucket_of(t, i->dev, i->ino)];

	while (*p != i)
		p = &(*p)->hnext;
	*p = i->hnext;
	t->count--;
}

static struct fs_inode *inode_new(int fd, const struct stat *st)
{
	struct fs_inode *i = calloc(1, sizeof(*i));

	if (!i)
		return NULL;
	i->fd = fd;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->type = st->st_mode & S_IFMT;
	i->bfd = -1;
	pthread_mutex_init(&i->lock, NULL);
	pthread_rwlock_init(&i->io, NULL);
	pthread_mutex_init(&i->slock, NULL);
	return i;
}

void fs_inode_pin(struct fs *fs, struct fs_inode *ino)
{
	pthread_mutex_lock(&fs->table.lock);
	ino->nlookup++;
	pthread_mutex_unlock(&fs->table.lock);
}

void fs_inode_unref(struct fs *fs, struct fs_inode *ino, uint64_t n)
{
	bool gone;

	if (ino == &fs->root)
		return;
	pthread_mutex_lock(&fs->table.lock);
	ino->nlookup = n < ino->nlookup ? ino->nlookup - n : 0;
	/* An inode whose last release failed stays busy, so the next open of
	 * the file (which finds it again by dev/ino) can report the error. */
	gone = !ino->nlookup && !atomic_load(&ino->busy);
	if (gone)
		table_remove(&fs->table, ino);
	pthread_mutex_unlock(&fs->table.lock);
	if (gone) {
		close(ino->fd);
		pthread_rwlock_destroy(&ino->io);
		pthread_mutex_destroy(&ino->lock);
		pthread_mutex_destroy(&ino->slock);
		free(ino);
	}
}

/* ---- attributes ---- */

int fs_inode_stat(struct fs_inode *ino, struct stat *st)
{
	bool open;
	off_t size = 0;

	/* Staged bytes and truncates count.  The engine file whose progress
	 * the inode shows stays attached until its last release has written
	 * everything out, so when it is gone the backing size is complete;
	 * and reading it waits for nothing, not even that write-out. */
	pthread_mutex_lock(&ino->slock);
	open = ino->stats != NULL;
	if (open)
		size = dfs_file_size(ino->stats);
	pthread_mutex_unlock(&ino->slock);
	if (fstatat(ino->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -errno;
	if (open)
		st->st_size = size;
	/* Tools size their writes by st_blksize (cp: at least 128 KiB); the
	 * largest FUSE write costs the fewest requests. */
	if (S_ISREG(st->st_mode))
		st->st_blksize = FS_MAX_WRITE;
	return 0;
}

int fs_lookup_fd(struct fs *fs, int fd, struct fuse_entry_param *e)
{
	struct fs_inode *ino, *fresh = NULL;
	struct stat st;
	int r;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		r = -errno;
		close(fd);
		return r;
	}

	pthread_mutex_lock(&fs->table.lock);
	ino = table_find(&fs->table, st.st_dev, st.st_ino);
	if (!ino) {
		ino = fresh = inode_new(fd, &st);
		if (fresh)
			table_insert(&fs->table, fresh);
	}
	if (ino)
		ino->nlookup++;
	pthread_mutex_unlock(&fs->table.lock);
	if (!fresh)
		close(fd);
	if (!ino)
		return -ENOMEM;

	memset(e, 0, sizeof(*e));
	r = fs_inode_stat(ino, &e->attr);
	if (r) {
		fs_inode_unref(fs, ino, 1);
		return r;
	}
	e->ino = node_id(fs, ino);
	e->attr_timeout = fs->o.timeout;
	e->entry_timeout = fs->o.timeout;
	return 0;
}

int fs_do_lookup(struct fs *fs, struct fs_inode *parent, const char *name,
		 struct fuse_entry_param *e)
{
	int fd, r = fs_name_ok(name);

	if (r)
		return r;
	fd = openat(parent->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fs_lookup_fd(fs, fd, e);
}

void fs_table_add_root(struct fs *fs)
{
	pthread_mutex_lock(&fs->table.lock);
	table_insert(&fs->table, &fs->root);
	pthread_mutex_unlock(&fs->table.lock);
}

void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int r = fs_do_lookup(fs, fs_inode_get(fs, parent), name, &e);

	if (r == -ENOENT) {
		/* A negative entry, cached like a positive one. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->o.timeout;
		fuse_reply_entry(req, &e);
	} else if (r) {
		fuse_reply_err(req, -r);
	} else {
		fuse_reply_entry(req, &e);
	}
}

void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct fs *fs = fs_of(req);

	fs_inode_unref(fs, fs_inode_get(fs, ino), nlookup);
	fuse_reply_none(req);
}

void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);
	size_t k;

	for (k = 0; k < count; k++)
		fs_inode_unref(fs, fs_inode_get(fs, forgets[k].ino), forgets[k].nlookup);
	fuse_reply_none(req);
}

void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct stat st;
	int r = fs_inode_stat(fs_inode_get(fs, ino), &st);

	(void)fi;
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->o.timeout);
}

static int set_size(struct fs *fs, struct fs_inode *ino, off_t size)
{
	char path[64];
	int r = 0;

	pthread_mutex_lock(&ino->lock);
	if (ino->file) {
		r = fs_file_make_writable(fs, ino);
		if (!r) {
			r = dfs_file_truncate(fs_file_get(ino), size);
			fs_file_put(ino);
		}
	} else {
		fs_proc_path(path, sizeof(path), ino->fd);
		if (truncate(path, size))
			r = -errno;
	}
	pthread_mutex_unlock(&ino->lock);
	return r;
}

static int set_times(struct fs_inode *ino, const struct stat *attr, int valid)
{
	struct timespec ts[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_nsec = UTIME_OMIT}};
	struct dfs_file *f;
	char path[64];
	int r = 0;

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		ts[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		ts[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		ts[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		ts[1] = attr->st_mtim;

	/* Staged data written later would move mtime past what cp -p set. */
	f = fs_file_get(ino);
	if (f)
		r = dfs_file_flush(f);
	fs_file_put(ino);
	if (r)
		return r;

	if (ino->type == S_IFLNK) {
		if (utimensat(ino->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			return -errno;
		return 0;
	}
	fs_proc_path(path, sizeof(path), ino->fd);
	if (utimensat(AT_FDCWD, path, ts, 0))
		return -errno;
	return 0;
}

void fs_setattr(fuse_req_t req, fuse_ino_t nodeid, struct stat *attr, int valid,
		struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	char path[64];
	struct stat st;
	int r = 0;

	(void)fi;
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t uid = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t gid = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		if (fchownat(ino->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
			r = -errno;
	}
	if (!r && (valid & FUSE_SET_ATTR_MODE)) {
		fs_proc_path(path, sizeof(path), ino->fd);
		if (ino->type == S_IFLNK)
			r = -EOPNOTSUPP;
		else if (chmod(path, attr->st_mode & 07777))
			r = -errno;
	}
	if (!r && (valid & FUSE_SET_ATTR_SIZE)) {
		if (ino->type == S_IFDIR)
			r = -EISDIR;
		else if (ino->type != S_IFREG)
			r = -EINVAL;
		else
			r = set_size(fs, ino, attr->st_size);
	}
	if (!r && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
			    FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW)))
		r = set_times(ino, attr, valid);
	if (!r)
		r = fs_inode_stat(ino, &st);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_attr(req, &st, fs->o.timeout);
}

void fs_readlink(fuse_req_t req, fuse_ino_t nodeid)
{
	struct fs_inode *ino = fs_inode_get(fs_of(req), nodeid);
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(ino->fd, "", buf, sizeof(buf));

	if (n < 0)
		fuse_reply_err(req, errno);
	else if ((size_t)n >= sizeof(buf))
		fuse_reply_err(req, ENAMETOOLONG);
	else {
		buf[n] = '\0';
		fuse_reply_readlink(req, buf);
	}
}

/* ---- acting as the caller ---- */

int fs_creds_enter(fuse_req_t req, bool *switched)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs *fs = fs_of(req);
	gid_t groups[GROUPS_MAX];
	int n;

	*switched = false;
	if (!fs->is_root || (c->uid == 0 && c->gid == 0))
		return 0;
	n = fuse_req_getgroups(req, GROUPS_MAX, groups);
	if (n < 0) /* the caller is gone, or no /proc: its primary group only */
		n = 0;
	if (n > GROUPS_MAX)
		n = GROUPS_MAX;
	/* The raw system calls change this thread only; glibc's wrappers
	 * would change every thread of the daemon. */
	if (syscall(SYS_setgroups, n, groups))
		return -errno;
	setfsgid(c->gid);
	setfsuid(c->uid);
	*switched = true;
	if ((uid_t)setfsuid((uid_t)-1) != c->uid ||
	    (gid_t)setfsgid((gid_t)-1) != c->gid) {
		fs_creds_leave(fs, true);
		*switched = false;
		return -EPERM;
	}
	return 0;
}

void fs_creds_leave(struct fs *fs, bool switched)
{
	if (!switched)
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	if (syscall(SYS_setgroups, fs->ngroups, fs->groups))
		fs_log(fs, LOG_ERR, "cannot restore the daemon's groups: %s",
		       strerror(errno));
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
	int r = fs_name_ok(name);

	if (!r)
		r = fs_creds_enter(req, &as_caller);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	r = make_node(dir->fd, name, s);
	fs_creds_leave(fs, as_caller);
	if (!r)
		r = fs_do_lookup(fs, dir, name, &e);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	struct node_spec s = {.mode = mode, .rdev = rdev};

	reply_new_node(req, parent, name, &s);
}

void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct node_spec s = {.mode = S_IFDIR | (mode & 07777)};

	reply_new_node(req, parent, name, &s);
}

void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct node_spec s = {.mode = S_IFLNK | 0777, .link = link};

	reply_new_node(req, parent, name, &s);
}

void fs_link(fuse_req_t req, fuse_ino_t nodeid, fuse_ino_t newparent, const char *newname)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *ino = fs_inode_get(fs, nodeid);
	struct fs_inode *dir = fs_inode_get(fs, newparent);
	struct fuse_entry_param e;
	char path[64];
	int r = fs_name_ok(newname);

	if (!r && linkat(ino->fd, "", dir->fd, newname, AT_EMPTY_PATH)) {
		r = -errno;
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link
		 * does not, and names this inode, not a path. */
		if (r == -ENOENT || r == -EPERM) {
			fs_proc_path(path, sizeof(path), ino->fd);
			r = linkat(AT_FDCWD, path, dir->fd, newname, AT_SYMLINK_FOLLOW)
				    ? -errno
				    : 0;
		}
	}
	if (!r)
		r = fs_do_lookup(fs, dir, newname, &e);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_entry(req, &e);
}

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, int flags)
{
	struct fs_inode *dir = fs_inode_get(fs_of(req), parent);
	int r = fs_name_ok(name);

	if (!r && unlinkat(dir->fd, name, flags))
		r = -errno;
	fuse_reply_err(req, -r);
}

void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, 0);
}

void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, AT_REMOVEDIR);
}

void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *a = fs_inode_get(fs, parent), *b = fs_inode_get(fs, newparent);
	int r = fs_name_ok(name);

	if (!r)
		r = fs_name_ok(newname);
	if (!r && (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)))
		r = -EINVAL; /* RENAME_WHITEOUT is for overlay filesystems */
	if (!r && renameat2(a->fd, name, b->fd, newname, flags))
		r = -errno;
	fuse_reply_err(req, -r);
}

void fs_statfs(fuse_req_t req, fuse_ino_t nodeid)
{
	struct fs_inode *ino = fs_inode_get(fs_of(req), nodeid);
	struct statvfs sv;

	if (fstatvfs(ino->fd, &sv))
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ---- shutdown ---- */

unsigned fs_sync_all(struct fs *fs)
{
	unsigned failed = 0;
	size_t b;

	pthread_mutex_lock(&fs->table.lock);
	for (b = 0; b < fs->table.nbuckets; b++) {
		struct fs_inode *i;

		for (i = fs->table.buckets[b]; i; i = i->hnext) {
			int r;

			pthread_mutex_lock(&i->lock);
			r = i->file ? fs_file_shut(fs, i) : 0;
			pthread_mutex_unlock(&i->lock);
			failed += r != 0;
		}
	}
	pthread_mutex_unlock(&fs->table.lock);
	return failed;
}

void fs_table_destroy(struct fs *fs)
{
	size_t b;

	if (!fs->table.buckets)
		return;
	for (b = 0; b < fs->table.nbuckets; b++) {
		struct fs_inode *i = fs->table.buckets[b], *next;

		for (; i; i = next) {
			next = i->hnext;
			while (i->handles) {
				struct fs_handle *h = i->handles;

				i->handles = h->next;
				if (h->fd >= 0)
					close(h->fd);
				free(h);
			}
			close(i->fd);
			if (i != &fs->root)
				free(i);
		}
	}
	free(fs->table.buckets);
	fs->table.buckets = NULL;
}
