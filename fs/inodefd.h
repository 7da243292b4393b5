/* SPDX-License-Identifier: MIT */
/*
 * inodefd.h - descriptors of remembered inodes, owned by inodefd.c.
 *
 * The kernel remembers every inode it has looked up until memory pressure
 * makes it forget them, and a tree copy looks up every file.  Holding an
 * O_PATH descriptor for each would run the daemon out of descriptors
 * (EMFILE) on any large tree.  So an inode is held by its kernel file
 * handle (name_to_handle_at) where SOURCE's filesystem has them and the
 * daemon may open them (CAP_DAC_READ_SEARCH), and its O_PATH descriptor is
 * kept only while it is in use or among the most recently used ones (at
 * most max of them); an evicted one is opened again from the handle
 * (open_by_handle_at), which never resolves a path.  The handle is taken
 * as the descriptor is evicted, not before: most inodes never are.  An
 * inode without a handle (another filesystem mounted inside SOURCE, no
 * capability) keeps its descriptor for as long as it is remembered.
 *
 * Files waiting for their group commit (session.c) hold descriptors of
 * their own; they are lent against the same budget (ifd_lend), so idle
 * inodes give theirs up while many files wait and the daemon's total stays
 * near max however slowly SOURCE commits.
 *
 * Locking rules, the one place they are written down: c->lock guards
 * everything in the cache and every fs_ifd's fd, users, handle and lru,
 * and evictable's change (read without it: it only ever goes from true to
 * false, on an inode nobody uses); it is a leaf, held only across the
 * name_to_handle_at and close(2) of an evicted descriptor, never across
 * an open.
 *
 * Invariants (under c->lock, asserted): an fs_ifd is on the LRU exactly
 * when it is evictable, has a descriptor and no users; an evicted one has
 * its handle; c->open counts the descriptors of evictable inodes, and
 * c->open + c->lent never exceeds max while idle descriptors are left to
 * evict.
 */
#ifndef DFS_FS_INODEFD_H
#define DFS_FS_INODEFD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct file_handle;

/* One inode's descriptor (embedded in struct fs_inode). */
struct fs_ifd {
	int fd;		 /* O_PATH | O_NOFOLLOW, or -1 while evicted */
	unsigned users;	 /* calls using fd now */
	/* May give fd up (the cache has handles).  Made false, once and
	 * for good, when the handle cannot be had at eviction: fd then
	 * stays open while the inode is remembered. */
	atomic_bool evictable;
	struct file_handle *handle; /* taken at the first eviction */
	TAILQ_ENTRY(fs_ifd) lru;
};

struct fs_ifd_cache {
	pthread_mutex_t lock;
	int mount_fd;		  /* SOURCE's root: open_by_handle_at's mount */
	int mount_id;		  /* handles are used only for inodes on this mount */
	bool handles;		  /* SOURCE has handles and the daemon may open them */
	unsigned open;		  /* descriptors of inodes with handles, open now */
	unsigned lent;		  /* held by files waiting for their commit */
	unsigned max;		  /* open + lent kept at most when nobody uses them */
	TAILQ_HEAD(, fs_ifd) lru; /* least recently used first */
	atomic_uint_fast64_t reopens, evictions;
};

/* Set up the cache for SOURCE's root O_PATH descriptor rootfd (not taken over);
 * max descriptors kept for idle inodes.  Finds out whether handles work. */
void ifd_cache_init(struct fs_ifd_cache *c, int rootfd, unsigned max);
void ifd_cache_destroy(struct fs_ifd_cache *c);

/* A new inode's descriptor fd (taken over): find its handle. */
void ifd_init(struct fs_ifd_cache *c, struct fs_ifd *ifd, int fd);
/* The inode is forgotten: close and free. */
void ifd_destroy(struct fs_ifd_cache *c, struct fs_ifd *ifd);
/* A fresh descriptor of the same inode (from a lookup): keep it if the
 * inode's was evicted, else close it. */
void ifd_offer(struct fs_ifd_cache *c, struct fs_ifd *ifd, int fd);

/* n more (ifd_lend) or fewer (ifd_unlend) descriptors held outside the
 * cache by files waiting for their commit: idle ones make room. */
void ifd_lend(struct fs_ifd_cache *c, unsigned n);
void ifd_unlend(struct fs_ifd_cache *c, unsigned n);

/* The inode's O_PATH descriptor for the length of one call, opened again
 * from its handle if it was evicted; or -errno (-ENOENT: the inode was
 * deleted on SOURCE and is gone).  Every successful ifd_get is paired with an ifd_put. */
int ifd_get(struct fs_ifd_cache *c, struct fs_ifd *ifd);
void ifd_put(struct fs_ifd_cache *c, struct fs_ifd *ifd);
/* The inode's path on SOURCE (its /proc/self/fd link) into name; false
 * when no descriptor can be had or the link cannot be read. */
bool ifd_path(struct fs_ifd_cache *c, struct fs_ifd *ifd, char *name, size_t len);

#endif /* DFS_FS_INODEFD_H */
