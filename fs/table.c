/* SPDX-License-Identifier: MIT */
/*
 * table.c - the inodes the kernel knows: (st_dev, st_ino) -> struct
 * fs_inode, lookups relative to a parent's O_PATH descriptor, reference
 * counts, stat with the logical size, and the walk over every inode at
 * exit.  Locking rules: table.h.
 *
 * Names are always resolved one component at a time, relative to the
 * parent's O_PATH descriptor, with O_NOFOLLOW: the daemon never follows a
 * symlink while resolving.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

#define TABLE_BUCKETS_MIN 1024

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

static fuse_ino_t node_id(struct fs *fs, struct fs_inode *ino)
{
	return ino == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)ino;
}

/* ---- the hash table: chained, grown at load 1, under t->lock ---- */

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

/* The inode's fields but its descriptor. */
static void inode_init(struct fs_inode *i, const struct stat *st)
{
	memset(i, 0, sizeof(*i));
	i->ifd.fd = -1;
	i->dev = st->st_dev;
	i->ino = st->st_ino;
	i->type = st->st_mode & S_IFMT;
	atomic_init(&i->mode, st->st_mode);
	atomic_init(&i->paged, false);
	atomic_init(&i->paged_next, -1);
	atomic_init(&i->paged_dropped, 0);
	session_init(&i->sess, i);
	fs_locks_init(&i->locks);
}

void fs_inode_saw(struct fs_inode *ino, const struct stat *st)
{
	atomic_store(&ino->mode, st->st_mode);
}

/* A new inode on its O_PATH descriptor fd (taken over). */
static struct fs_inode *inode_new(struct fs *fs, int fd, const struct stat *st)
{
	struct fs_inode *i = malloc(sizeof(*i));

	if (!i) {
		close(fd);
		return NULL;
	}
	inode_init(i, st);
	ifd_init(&fs->ifds, &i->ifd, fd);
	return i;
}

static void inode_free(struct fs *fs, struct fs_inode *i)
{
	fs_locks_destroy(&i->locks);
	session_destroy(&i->sess);
	ifd_destroy(&fs->ifds, &i->ifd);
	if (i != &fs->root)
		free(i);
}

int fs_table_init(struct fs *fs, int rootfd, unsigned inode_fds)
{
	struct fs_table *t = &fs->table;
	struct stat st;

	if (fstat(rootfd, &st))
		return -errno;
	t->nbuckets = TABLE_BUCKETS_MIN;
	t->count = 0;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	if (fs_forgotten_init(&t->forgotten)) {
		free(t->buckets);
		t->buckets = NULL;
		return -ENOMEM;
	}
	pthread_mutex_init(&t->lock, NULL);
	ifd_cache_init(&fs->ifds, rootfd, inode_fds);
	/* The root keeps its descriptor: every path starts there. */
	inode_init(&fs->root, &st);
	fs->root.ifd.fd = rootfd;
	fs->root.nlookup = 1; /* the kernel's, never forgotten */
	table_insert(t, &fs->root);
	return 0;
}

void fs_table_destroy(struct fs *fs)
{
	struct fs_table *t = &fs->table;
	size_t b;

	if (!t->buckets)
		return;
	for (b = 0; b < t->nbuckets; b++) {
		struct fs_inode *i = t->buckets[b], *next;

		for (; i; i = next) {
			next = i->hnext;
			inode_free(fs, i);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	fs_forgotten_destroy(&t->forgotten);
	pthread_mutex_destroy(&t->lock);
	ifd_cache_destroy(&fs->ifds);
}

unsigned fs_table_shut_all(struct fs *fs)
{
	struct fs_table *t = &fs->table;
	unsigned failed = 0;
	size_t b;

	/* The request loop, the lock waiters and the committer have ended:
	 * nothing else reads or changes the table, so the walk takes no
	 * lock and the write-out's I/O runs under none (table.h). */
	for (b = 0; b < t->nbuckets; b++)
		for (struct fs_inode *i = t->buckets[b]; i; i = i->hnext)
			failed += session_shut(&fs->host, &i->sess) != 0;
	return failed;
}

size_t fs_table_busy_files(struct fs *fs, struct fs_inode **inos, size_t max)
{
	struct fs_table *t = &fs->table;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	for (size_t b = 0; b < t->nbuckets; b++)
		for (struct fs_inode *i = t->buckets[b]; i; i = i->hnext) {
			if (i->type != S_IFREG || !atomic_load(&i->sess.busy))
				continue;
			if (n < max) {
				i->nlookup++;
				inos[n] = i;
			}
			n++;
		}
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* One more lookup on ino: it stays until fs_inode_unref(fs, ino, 1). */
static void inode_pin(struct fs *fs, struct fs_inode *ino)
{
	pthread_mutex_lock(&fs->table.lock);
	ino->nlookup++;
	pthread_mutex_unlock(&fs->table.lock);
}

/* Has the inode no name left on SOURCE (deleted)? */
static bool unlinked(struct fs *fs, struct fs_inode *ino)
{
	struct stat st;
	int r = fs_inode_fstat(fs, ino, &st);

	/* -ENOENT: gone from SOURCE altogether */
	return r ? r == -ENOENT : st.st_nlink == 0;
}

/* Under the table lock: take ino out of the table if nothing holds it
 * (no lookup left, not busy); whether it was. */
static bool remove_if_idle_locked(struct fs *fs, struct fs_inode *ino)
{
	bool idle = !ino->nlookup && !atomic_load(&ino->sess.busy);

	if (idle)
		table_remove(&fs->table, ino);
	return idle;
}

/* Keep the last session of a file being freed among the forgotten, with the
 * ctime and size it has now. */
static void remember(struct fs *fs, struct fs_inode *ino)
{
	struct dfs_file_stats last;
	struct stat st;

	if (ino->type != S_IFREG || !session_last(&ino->sess, &last))
		return;
	/* Gone from SOURCE, or deleted: nothing to remember. */
	if (!fs_inode_fstat(fs, ino, &st) && st.st_nlink)
		fs_forgotten_put(&fs->table.forgotten, &st, &last);
}

void fs_inode_unref(struct fs *fs, struct fs_inode *ino, uint64_t n)
{
	bool gone, kept;

	if (ino == &fs->root)
		return;
	pthread_mutex_lock(&fs->table.lock);
	assert(n <= ino->nlookup);
	ino->nlookup -= n;
	/* An inode whose last release failed stays busy, so the next open of
	 * the file (which finds it again by dev/ino) can report the error. */
	gone = remove_if_idle_locked(fs, ino);
	kept = !ino->nlookup && !gone;
	pthread_mutex_unlock(&fs->table.lock);
	/* But a deleted file can never be opened again: keeping it (and its
	 * descriptor) would only keep its space from being freed. */
	if (kept && unlinked(fs, ino) && !session_forget_error(&fs->host, &ino->sess)) {
		pthread_mutex_lock(&fs->table.lock);
		gone = remove_if_idle_locked(fs, ino);
		pthread_mutex_unlock(&fs->table.lock);
	}
	if (gone) {
		remember(fs, ino);
		inode_free(fs, ino);
	}
}

/* ---- attributes and lookups ---- */

/* What the mount shows of a backing stat: the logical size of a file
 * being written, and the write size tools should use. */
static void stat_shown(const struct fs *fs, bool open, off_t size, struct stat *st)
{
	if (open)
		st->st_size = size;
	/* Tools size their writes by st_blksize (cp: at least 128 KiB); the
	 * largest FUSE write costs the fewest requests. */
	if (S_ISREG(st->st_mode))
		st->st_blksize = fs->max_request;
}

int fs_inode_stat(struct fs *fs, struct fs_inode *ino, struct stat *st)
{
	off_t size;
	bool open = session_size(&ino->sess, &size);
	int fd = fs_inode_fd(fs, ino), r;

	/* Staged bytes and truncates count.  An engine file stays visible to
	 * session_size() until its last release has written everything out, so
	 * when there is none the backing size is complete; and reading it
	 * waits for nothing, not even that write-out. */
	if (fd < 0)
		return fd;
	r = fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	fs_inode_fd_put(fs, ino);
	if (r)
		return r;
	fs_inode_saw(ino, st);
	stat_shown(fs, open, size, st);
	return 0;
}

/* The rest of e, whose attr is filled: the node id of ino, which has
 * taken its lookup, and the timeouts. */
static void entry_of(struct fs *fs, struct fs_inode *ino, struct fuse_entry_param *e)
{
	e->ino = node_id(fs, ino);
	e->attr_timeout = fs->o.timeout;
	e->entry_timeout = fs->o.timeout;
}

int fs_lookup_fd(struct fs *fs, int fd, struct fuse_entry_param *e)
{
	struct stat st;
	int r;

	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) {
		r = -errno;
		close(fd);
		return r;
	}
	return fs_lookup_fd_stat(fs, fd, &st, e);
}

int fs_lookup_fd_stat(struct fs *fs, int fd, const struct stat *st,
		      struct fuse_entry_param *e)
{
	struct fs_inode *ino, *fresh = NULL;

	pthread_mutex_lock(&fs->table.lock);
	ino = table_find(&fs->table, st->st_dev, st->st_ino);
	if (ino)
		ino->nlookup++;
	pthread_mutex_unlock(&fs->table.lock);
	if (ino) {
		fs_inode_saw(ino, st);
		ifd_offer(&fs->ifds, &ino->ifd, fd); /* saves a reopen */
	} else {
		/* Made without the table lock (finding the handle is a system
		 * call); another lookup may have put the inode in meanwhile. */
		fresh = inode_new(fs, fd, st);
		if (!fresh)
			return -ENOMEM;
		pthread_mutex_lock(&fs->table.lock);
		ino = table_find(&fs->table, st->st_dev, st->st_ino);
		if (!ino) {
			struct dfs_file_stats last;

			if (S_ISREG(st->st_mode) && fs_forgotten_take(&fs->table.forgotten, st, &last))
				session_restore(&fresh->sess, &last);
			table_insert(&fs->table, fresh);
			ino = fresh;
			fresh = NULL;
		}
		ino->nlookup++;
		pthread_mutex_unlock(&fs->table.lock);
		if (fresh)
			inode_free(fs, fresh);
	}

	/* The stat taken above serves: an engine file, if any, knows the
	 * size better anyway. */
	memset(e, 0, sizeof(*e));
	e->attr = *st;
	off_t size;
	bool open = session_size(&ino->sess, &size);
	stat_shown(fs, open, size, &e->attr);
	entry_of(fs, ino, e);
	return 0;
}

int fs_lookup_inode(struct fs *fs, struct fs_inode *ino, struct fuse_entry_param *e)
{
	int r;

	memset(e, 0, sizeof(*e));
	r = fs_inode_stat(fs, ino, &e->attr);
	if (r)
		return r;
	inode_pin(fs, ino);
	entry_of(fs, ino, e);
	return 0;
}

/*
 * A name that is the mount point, when it lies below SOURCE: openat
 * crossed into this very mount.  As a non-recursive bind mount would,
 * show the directory underneath instead (opened before the mount), so
 * that nothing walks into the mount again.  Asked with
 * AT_STATX_DONT_SYNC, which answers from the VFS without a request to
 * this daemon.  fd is taken over; returns the descriptor to use, or
 * -errno.
 */
static int below_own_mount(struct fs *fs, int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) ||
	    !(stx.stx_mask & STATX_MNT_ID) || stx.stx_mnt_id != fs->own_mnt_id)
		return fd;
	close(fd);
	fd = fcntl(fs->under_fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

int fs_lookup_name(struct fs *fs, struct fs_inode *parent, const char *name,
		   struct fuse_entry_param *e)
{
	int fd, pfd, r = fs_name_ok(name);

	if (r)
		return r;
	pfd = fs_inode_fd(fs, parent);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	r = fd < 0 ? -errno : 0;
	fs_inode_fd_put(fs, parent);
	if (r)
		return r;
	if (fs->under_fd >= 0 && (fd = below_own_mount(fs, fd)) < 0)
		return fd;
	return fs_lookup_fd(fs, fd, e);
}

/* ---- what the sessions ask of their inodes (session.h) ---- */

static int host_open(void *arg, void *owner, int acc)
{
	return fs_inode_reopen(arg, owner, acc);
}

static int host_truncate(void *arg, void *owner, off_t size)
{
	struct fs *fs = arg;
	struct fs_inode *ino = owner;
	char path[64];
	int fd = fs_inode_fd(fs, ino), r;

	if (fd < 0)
		return fd;
	dfs_proc_path(path, sizeof(path), fd); /* O_PATH: no ftruncate */
	r = dfs_tag_remove(path); /* the tag goes before the bytes change */
	if (!r)
		r = truncate(path, size) ? -errno : 0;
	fs_inode_fd_put(fs, ino);
	return r;
}

static int host_stat(void *arg, void *owner, struct stat *st)
{
	return fs_inode_fstat(arg, owner, st);
}

static void host_failed(void *arg, void *owner, int err)
{
	struct fs *fs = arg;
	char name[4096];

	fs_inode_name(fs, owner, name, sizeof(name));
	fs_log(fs, LOG_ERR,
	       "%s: writing out at release failed: %s; "
	       "the next close or fsync of the file reports it",
	       name, strerror(-err));
}

static void host_untagged(void *arg, void *owner, int err)
{
	struct fs *fs = arg;
	char name[4096];

	if (err == -EOPNOTSUPP) {
		if (!atomic_exchange(&fs->said_no_tags, true))
			fs_log(fs, LOG_WARNING,
			       "SOURCE keeps no user xattrs: files are copied without a "
			       "checksum tag (checksum=%s)",
			       dfs_sum_name(fs->o.checksum));
		return;
	}
	fs_inode_name(fs, owner, name, sizeof(name));
	fs_log(fs, LOG_WARNING, "%s: its checksum tag could not be kept: %s", name,
	       strerror(-err));
}

static void host_hold(void *arg, void *owner)
{
	inode_pin(arg, owner);
}

static void host_let_go(void *arg, void *owner)
{
	struct fs *fs = arg;
	struct fs_inode *ino = owner;

	/* A mapping read the file through the mount's own page cache; once
	 * the session is durable nothing is dirty there, and its pages go
	 * (the kernel unmaps any a new open has mapped meanwhile, which fault
	 * in again and mark the inode once more).  Only then: the kernel
	 * takes any notice as a change of the file, and drops the answer of
	 * a getattr it is waiting for, so that a permission check in flight
	 * goes by the mode it held before (a setfacl just made through the
	 * mount not yet seen).  A failure (the kernel forgot the inode, the
	 * mount is gone) leaves nothing to drop.  Not once the session loop
	 * has ended: pages dirtied by a new mapping meanwhile would wait for
	 * a write that no thread is left to serve. */
	if (atomic_exchange(&ino->paged, false) && !fuse_session_exited(fs->se))
		fuse_lowlevel_notify_inval_inode(fs->se, node_id(fs, owner), 0, 0);
	fs_inode_unref(fs, owner, 1);
}

static bool host_paged(void *arg, void *owner)
{
	struct fs_inode *ino = owner;

	(void)arg;
	return atomic_load(&ino->paged);
}

static void host_lend(void *arg, int delta)
{
	struct fs *fs = arg;

	if (delta > 0)
		ifd_lend(&fs->ifds, (unsigned)delta);
	else
		ifd_unlend(&fs->ifds, (unsigned)-delta);
}

const struct fs_host_ops fs_table_host_ops = {
	.open = host_open,
	.truncate = host_truncate,
	.stat = host_stat,
	.failed = host_failed,
	.hold = host_hold,
	.let_go = host_let_go,
	.lend = host_lend,
	.untagged = host_untagged,
	.paged = host_paged,
};
