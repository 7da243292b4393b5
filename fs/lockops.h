/* SPDX-License-Identifier: MIT */
/*
 * lockops.h - file locks shared with SOURCE, owned by lockops.c.
 *
 * Every lock taken through the mount is taken on the backing file too, so
 * it conflicts with the same lock taken on SOURCE directly, through
 * another mount of it, and (where SOURCE is a network filesystem that
 * forwards locks) from another host.  Each lock owner the kernel names
 * (a process's POSIX locks: its files; an OFD lock or a flock: the open
 * file) gets an open file description of its own on the backing file,
 * and its locks are OFD locks (and flocks) on that: byte ranges, merging
 * and splitting behave as POSIX says, owners conflict with each other and
 * with everyone else, and closing the description lets everything go.
 *
 * Locking rules, the one place they are written down:
 *  - fs_locks.lock guards the inode's owner list and every owner's fields
 *    but fd (fixed once made).  It is never held across a lock call that
 *    may wait, nor across I/O; it is a leaf.
 *  - An owner is referenced by the list (one) and by each call using its
 *    descriptor; it is closed when the last reference goes, after it left
 *    the list (a flush of its process, the release of its file).
 *  - Blocking requests wait on threads of their own (lockwait.h), never
 *    on a FUSE worker, and end with EINTR when the kernel interrupts
 *    them (the caller got a signal).
 *
 * Invariants (asserted): refs > 0 while reachable; an owner in the list
 * is not dead.
 */
#ifndef DFS_FS_LOCKOPS_H
#define DFS_FS_LOCKOPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct fs_lock_owner;

/* Per inode (embedded in struct fs_inode). */
struct fs_locks {
	pthread_mutex_t lock;
	LIST_HEAD(, fs_lock_owner) owners;
};

struct fs;
struct fs_inode;

void fs_locks_init(struct fs_locks *l);
/* The inode is freed: close what is left (nothing can wait on it). */
void fs_locks_destroy(struct fs_locks *l);

/* A close(2) by the process owning `owner` (FUSE flush): its POSIX locks
 * on the file go, after what the file staged reached SOURCE. */
void fs_locks_flush(struct fs_inode *ino, uint64_t owner);
/* The open file fh (fi->fh) is released: its OFD locks and flock go. */
void fs_locks_release(struct fs_inode *ino, uint64_t fh);

#endif /* DFS_FS_LOCKOPS_H */
