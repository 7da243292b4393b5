/* SPDX-License-Identifier: MIT */
/*
 * dfs_align.h - direct I/O alignment of one backing file.
 *
 * Discovered per file, never assumed: statx(STATX_DIOALIGN) first; where
 * the kernel or filesystem does not answer, the logical block size of the
 * block device that holds the file; else 4096.
 */
#ifndef DFS_ALIGN_H
#define DFS_ALIGN_H

#include <stdint.h>

enum dfs_align_source {
	DFS_ALIGN_STATX = 1, /* statx STATX_DIOALIGN answered */
	DFS_ALIGN_BLOCKDEV,  /* logical_block_size of the device in sysfs */
	DFS_ALIGN_DEFAULT,   /* nothing answered: 4096 */
};

struct dfs_align {
	uint32_t mem; /* buffer address alignment, bytes (power of two) */
	uint32_t off; /* file offset and length alignment, bytes */
	enum dfs_align_source source;
	/* statx said this file cannot do direct I/O at all (offset align 0) */
	int no_dio;
	/* the filesystem holding the file (st_dev), 0 if statx is missing */
	uint64_t dev;
};

/* What the same statx says of the file's type and size, so that whoever
 * asks for the alignment needs no fstat of its own. */
struct dfs_fd_kind {
	int known;     /* 0: statx is missing or did not say; fstat instead */
	uint32_t mode; /* st_mode */
	uint64_t size; /* st_size */
};

#define DFS_ALIGN_FALLBACK 4096u

/* Fill *out and *kind for the open file fd, with one statx.  Returns 0 or
 * -errno (statx errors other than "not supported" are returned). */
int dfs_align_for_fd(int fd, struct dfs_align *out, struct dfs_fd_kind *kind);

/*
 * logical_block_size of block device major:minor read under sysfs_root
 * ("/sys" normally; tests pass a fake tree).  Partitions are resolved to
 * their disk.  Returns the size, or -errno when it cannot be read.
 */
int dfs_align_blockdev(const char *sysfs_root, unsigned int major, unsigned int minor);

/*
 * Does syncfs(2) on a filesystem of this statfs f_type write and commit
 * every file's data and metadata, as an fsync of each would?  Only for
 * local filesystems known to: ext2/3/4, xfs, btrfs, f2fs, bcachefs,
 * tmpfs.  Not for FUSE (without FUSE_SYNCFS the kernel answers syncfs
 * with 0 having sent nothing: sshfs), NFS, SMB, CephFS, Lustre, overlayfs
 * or anything unknown: each file there takes its own fsync.
 */
int dfs_syncfs_covers(long f_type);

/* Whether a syncfs of the filesystem holding the open file fd makes the
 * file durable as an fsync would (fstatfs, then dfs_syncfs_covers); 0
 * where fstatfs fails.  Asked once per filesystem of a group commit, not
 * per file: a filesystem's type does not change while fd holds it. */
int dfs_fd_syncfs_covers(int fd);

/*
 * Do O_DIRECT reads on a filesystem of this statfs f_type always bypass
 * its page cache?  ext4, xfs and tmpfs (whose pages are the file itself).
 * btrfs reads inline extents (files of up to 2 KiB), compressed extents
 * and ranges with pages present through its page cache without a word,
 * and of other filesystems nothing is known: after a read there, the
 * engine drops the range (disk.c).
 */
int dfs_direct_reads_uncached(long f_type);

#endif /* DFS_ALIGN_H */
