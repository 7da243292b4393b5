/* SPDX-License-Identifier: MIT */
/*
 * inodefd.c - descriptors of remembered inodes: kept while used or recently
 * used, evicted beyond a cap, opened again from the inode's kernel file
 * handle.  Locking rules and invariants: inodefd.h.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dfs_io.h"
#include "inodefd.h"

#ifndef MAX_HANDLE_SZ
#define MAX_HANDLE_SZ 128
#endif

/* The handle of the inode fd refers to, and its mount id; NULL where the
 * filesystem has none. */
static struct file_handle *handle_of(int fd, int *mount_id)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ), *small;

	if (!fh)
		return NULL;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", fh, mount_id, AT_EMPTY_PATH)) {
		free(fh);
		return NULL;
	}
	small = realloc(fh, sizeof(*fh) + fh->handle_bytes);
	return small ? small : fh;
}

static int open_handle(struct fs_ifd_cache *c, struct file_handle *fh)
{
	int fd = open_by_handle_at(c->mount_fd, fh, O_PATH | O_NOFOLLOW | O_CLOEXEC);

	/* ESTALE: deleted on SOURCE behind the mount's back and gone; to the
	 * caller that is a name that no longer exists, as on a local disk. */
	if (fd < 0)
		return errno == ESTALE ? -ENOENT : -errno;
	return fd;
}

void ifd_cache_init(struct fs_ifd_cache *c, int rootfd, unsigned max)
{
	struct file_handle *fh;
	int fd;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	TAILQ_INIT(&c->lru);
	c->max = max;
	c->mount_fd = -1;
	fh = handle_of(rootfd, &c->mount_id);
	if (!fh)
		return; /* no handles on this filesystem */
	/* open_by_handle_at() refuses an O_PATH descriptor for the mount. */
	c->mount_fd = dfs_reopen(rootfd, O_RDONLY | O_DIRECTORY);
	if (c->mount_fd < 0) {
		free(fh);
		return;
	}
	/* Opening a handle needs CAP_DAC_READ_SEARCH: try it once. */
	fd = open_handle(c, fh);
	free(fh);
	if (fd >= 0) {
		close(fd);
		c->handles = true;
	} else {
		close(c->mount_fd);
		c->mount_fd = -1;
	}
}

void ifd_cache_destroy(struct fs_ifd_cache *c)
{
	if (c->mount_fd >= 0)
		close(c->mount_fd);
	pthread_mutex_destroy(&c->lock);
}

/* Under c->lock: the handle of an inode about to give up its descriptor,
 * taken now (most inodes are forgotten before they are ever evicted).
 * False where there is none on SOURCE's own mount (another filesystem
 * mounted inside SOURCE): the inode then keeps its descriptor. */
static bool take_handle_locked(struct fs_ifd *ifd, int mount_id)
{
	int id;

	if (!ifd->handle) {
		ifd->handle = handle_of(ifd->fd, &id);
		if (ifd->handle && id != mount_id) {
			free(ifd->handle);
			ifd->handle = NULL;
		}
	}
	return ifd->handle != NULL;
}

/* Under c->lock: close idle descriptors beyond the cap, oldest first. */
static void evict_locked(struct fs_ifd_cache *c)
{
	struct fs_ifd *old;

	while (c->open + c->lent > c->max && (old = TAILQ_FIRST(&c->lru))) {
		assert(!old->users && atomic_load(&old->evictable) && old->fd >= 0);
		TAILQ_REMOVE(&c->lru, old, lru);
		c->open--;
		if (!take_handle_locked(old, c->mount_id)) {
			atomic_store(&old->evictable, false); /* kept for life */
			continue;
		}
		close(old->fd);
		old->fd = -1;
		atomic_fetch_add(&c->evictions, 1);
	}
	assert(c->open + c->lent <= c->max || TAILQ_EMPTY(&c->lru));
}

void ifd_init(struct fs_ifd_cache *c, struct fs_ifd *ifd, int fd)
{
	memset(ifd, 0, sizeof(*ifd));
	ifd->fd = fd;
	atomic_init(&ifd->evictable, c->handles);
	if (!c->handles)
		return;
	pthread_mutex_lock(&c->lock);
	c->open++;
	TAILQ_INSERT_TAIL(&c->lru, ifd, lru);
	evict_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void ifd_destroy(struct fs_ifd_cache *c, struct fs_ifd *ifd)
{
	pthread_mutex_lock(&c->lock);
	assert(!ifd->users);
	if (atomic_load(&ifd->evictable) && ifd->fd >= 0) {
		TAILQ_REMOVE(&c->lru, ifd, lru);
		c->open--;
	}
	pthread_mutex_unlock(&c->lock);
	free(ifd->handle);
	if (ifd->fd >= 0)
		close(ifd->fd);
	ifd->fd = -1;
}

void ifd_offer(struct fs_ifd_cache *c, struct fs_ifd *ifd, int fd)
{
	bool taken = false;

	if (atomic_load(&ifd->evictable)) {
		pthread_mutex_lock(&c->lock);
		if (ifd->fd < 0) {
			ifd->fd = fd;
			c->open++;
			if (!ifd->users)
				TAILQ_INSERT_TAIL(&c->lru, ifd, lru);
			evict_locked(c);
			taken = true;
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (!taken)
		close(fd);
}

void ifd_lend(struct fs_ifd_cache *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	c->lent += n;
	evict_locked(c);
	pthread_mutex_unlock(&c->lock);
}

void ifd_unlend(struct fs_ifd_cache *c, unsigned n)
{
	pthread_mutex_lock(&c->lock);
	assert(c->lent >= n);
	c->lent -= n;
	pthread_mutex_unlock(&c->lock);
}

int ifd_get(struct fs_ifd_cache *c, struct fs_ifd *ifd)
{
	int fd;

	if (!atomic_load(&ifd->evictable))
		return ifd->fd; /* kept for the inode's life */
	pthread_mutex_lock(&c->lock);
	if (!atomic_load(&ifd->evictable)) { /* just now */
		fd = ifd->fd;
		pthread_mutex_unlock(&c->lock);
		return fd;
	}
	if (ifd->fd >= 0) {
		if (!ifd->users++)
			TAILQ_REMOVE(&c->lru, ifd, lru);
		fd = ifd->fd;
		pthread_mutex_unlock(&c->lock);
		return fd;
	}
	assert(ifd->handle);
	pthread_mutex_unlock(&c->lock);

	/* Evicted: open it again without the lock; a racing call may have
	 * done the same, and the first one in keeps its descriptor. */
	fd = open_handle(c, ifd->handle);
	if (fd < 0)
		return fd;
	atomic_fetch_add(&c->reopens, 1);
	pthread_mutex_lock(&c->lock);
	if (ifd->fd < 0) {
		ifd->fd = fd;
		c->open++;
		ifd->users++;
	} else {
		close(fd); /* the racing call's is in place */
		if (!ifd->users++)
			TAILQ_REMOVE(&c->lru, ifd, lru);
	}
	fd = ifd->fd;
	pthread_mutex_unlock(&c->lock);
	return fd;
}

void ifd_put(struct fs_ifd_cache *c, struct fs_ifd *ifd)
{
	/* A user keeps it on the LRU's side: never made unevictable under one. */
	if (!atomic_load(&ifd->evictable))
		return;
	pthread_mutex_lock(&c->lock);
	assert(ifd->users > 0 && ifd->fd >= 0);
	if (!--ifd->users) {
		TAILQ_INSERT_TAIL(&c->lru, ifd, lru);
		evict_locked(c);
	}
	pthread_mutex_unlock(&c->lock);
}

bool ifd_path(struct fs_ifd_cache *c, struct fs_ifd *ifd, char *name, size_t len)
{
	char path[64];
	ssize_t n = -1;
	int fd = ifd_get(c, ifd);

	if (fd >= 0) {
		dfs_proc_path(path, sizeof(path), fd);
		n = readlink(path, name, len - 1);
		ifd_put(c, ifd);
	}
	if (n <= 0)
		return false;
	name[n] = '\0';
	return true;
}
