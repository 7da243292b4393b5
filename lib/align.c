/* SPDX-License-Identifier: MIT */
/*
 * align.c - find the direct I/O alignment of a backing file.
 *
 * glibc 2.36's struct statx has no DIO fields, so this file talks to the
 * statx system call with the kernel's own struct from <linux/stat.h> and
 * must not include <sys/stat.h>.
 */
#define _GNU_SOURCE
#include "dfs_align.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x00002000U
#endif

static int is_pow2(unsigned long v)
{
	return v && !(v & (v - 1));
}

static int read_uint_file(const char *path, unsigned long *out)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = n < 0 ? -errno : 0;
	close(fd);
	if (err)
		return err;
	buf[n] = '\0';
	char *end;
	errno = 0;
	unsigned long v = strtoul(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*out = v;
	return 0;
}

int dfs_align_blockdev(const char *sysfs_root, unsigned int major, unsigned int minor)
{
	/* A whole disk has queue/ itself; a partition's queue/ is its
	 * parent's, and /sys/dev/block/M:m is a link into the disk's dir. */
	static const char *const rel[] = {"queue/logical_block_size",
					  "../queue/logical_block_size"};
	char path[512];
	int err = -ENOENT;

	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		unsigned long v = 0;
		snprintf(path, sizeof(path), "%s/dev/block/%u:%u/%s", sysfs_root, major,
			 minor, rel[i]);
		err = read_uint_file(path, &v);
		if (err == 0) {
			if (!is_pow2(v) || v > (1ul << 20))
				return -EINVAL;
			return (int)v;
		}
	}
	return err;
}

int dfs_syncfs_covers(long f_type)
{
	static const unsigned long known[] = {
		0xEF53,	    /* ext2, ext3, ext4 */
		0x58465342, /* xfs */
		0x9123683E, /* btrfs */
		0xF2F52010, /* f2fs */
		0xCA451A4E, /* bcachefs */
		0x01021994, /* tmpfs */
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if ((unsigned long)(unsigned int)f_type == known[i])
			return 1;
	return 0;
}

int dfs_direct_reads_uncached(long f_type)
{
	switch ((unsigned long)(unsigned int)f_type) {
	case 0xEF53:	 /* ext2, ext3, ext4 */
	case 0x58465342: /* xfs */
	case 0x01021994: /* tmpfs */
		return 1;
	default:
		return 0;
	}
}

int dfs_fd_syncfs_covers(int fd)
{
	struct statfs sfs;

	return !fstatfs(fd, &sfs) && dfs_syncfs_covers((long)sfs.f_type);
}

int dfs_align_for_fd(int fd, struct dfs_align *out, struct dfs_fd_kind *kind)
{
	struct statx stx;
	int bs;

	memset(out, 0, sizeof(*out));
	memset(kind, 0, sizeof(*kind));
	memset(&stx, 0, sizeof(stx));
	out->source = DFS_ALIGN_DEFAULT;
	out->mem = out->off = DFS_ALIGN_FALLBACK;
	if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN | STATX_BASIC_STATS,
		    &stx) < 0)
		return errno == ENOSYS ? 0 : -errno;
	out->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
	if ((stx.stx_mask & (STATX_TYPE | STATX_SIZE)) == (STATX_TYPE | STATX_SIZE)) {
		kind->known = 1;
		kind->mode = stx.stx_mode;
		kind->size = stx.stx_size;
	}
	if (stx.stx_mask & STATX_DIOALIGN) {
		out->source = DFS_ALIGN_STATX;
		if (stx.stx_dio_offset_align == 0) {
			/* The filesystem says: no direct I/O on this file. */
			out->no_dio = 1;
			return 0;
		}
		out->off = stx.stx_dio_offset_align;
		out->mem = stx.stx_dio_mem_align ? stx.stx_dio_mem_align
						 : stx.stx_dio_offset_align;
		return 0;
	}
	bs = dfs_align_blockdev("/sys", stx.stx_dev_major, stx.stx_dev_minor);
	if (bs > 0) {
		out->source = DFS_ALIGN_BLOCKDEV;
		out->mem = out->off = (uint32_t)bs;
	}
	return 0;
}
