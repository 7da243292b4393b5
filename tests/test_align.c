/* SPDX-License-Identifier: MIT */
/*
 * Description: alignment discovery.  statx STATX_DIOALIGN on a real file;
 * the sysfs logical_block_size path for disks and partitions (fake tree);
 * bad or missing sysfs values; the engine uses what was discovered.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void put(const char *root, const char *rel, const char *text)
{
	char path[4200], dir[4300];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
	ck_assert_int_eq(system(dir), 0);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void lnk(const char *root, const char *target, const char *devno)
{
	char path[4300], cmd[4400];
	snprintf(path, sizeof(path), "%s/dev/block", root);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/dev/block/%s", root, devno);
	ck_assert_int_eq(symlink(target, path), 0);
}

START_TEST(test_blockdev_fake_sysfs)
{
	char root[4200];
	snprintf(root, sizeof(root), "%s/sys", tu_dir());
	/* a whole disk 7:0 with 4096-byte sectors */
	put(root, "devices/loop0/queue/logical_block_size", "4096\n");
	/* disk 8:0 with 512, and its partition 8:1 (no queue of its own) */
	put(root, "devices/sda/queue/logical_block_size", "512\n");
	put(root, "devices/sda/sda1/partition", "1\n");
	/* garbage */
	put(root, "devices/bad/queue/logical_block_size", "3000\n");
	lnk(root, "../../devices/loop0", "7:0");
	lnk(root, "../../devices/sda", "8:0");
	lnk(root, "../../devices/sda/sda1", "8:1");
	lnk(root, "../../devices/bad", "9:0");

	ck_assert_int_eq(dfs_align_blockdev(root, 7, 0), 4096);
	ck_assert_int_eq(dfs_align_blockdev(root, 8, 0), 512);
	ck_assert_int_eq(dfs_align_blockdev(root, 8, 1), 512);
	ck_assert_int_eq(dfs_align_blockdev(root, 9, 0), -EINVAL);
	ck_assert_int_eq(dfs_align_blockdev(root, 1, 99), -ENOENT);
}
END_TEST

START_TEST(test_statx_real_file)
{
	char path[4200];
	int fd = tu_create(path, sizeof(path), "align", O_RDWR);
	struct dfs_align a;
	struct dfs_fd_kind kind;
	ck_assert_int_eq(pwrite(fd, "x", 1, 12344), 1);
	ck_assert_int_eq(dfs_align_for_fd(fd, &a, &kind), 0);
	/* the same statx gave the type and size */
	ck_assert_int_eq(kind.known, 1);
	ck_assert(S_ISREG(kind.mode));
	ck_assert_uint_eq(kind.size, 12345);
	/* ext4/xfs on Linux >= 6.1 answer STATX_DIOALIGN */
	ck_assert_int_eq(a.source, DFS_ALIGN_STATX);
	ck_assert_int_eq(a.no_dio, 0);
	ck_assert_uint_ge(a.off, 512);
	ck_assert_uint_eq(a.off & (a.off - 1), 0);
	ck_assert_uint_ge(a.mem, 1);
	/* the test directory is on ext4, xfs, btrfs or tmpfs (those take
	 * O_DIRECT), whose syncfs stands in for an fsync */
	ck_assert_int_eq(dfs_fd_syncfs_covers(fd), 1);
	ck_assert_uint_ne(a.dev, 0);
	/* the whitelist: local filesystems that commit everything at a
	 * syncfs; FUSE (sshfs), NFS, SMB, CephFS, overlayfs are not */
	ck_assert_int_eq(dfs_syncfs_covers(0xEF53), 1);
	ck_assert_int_eq(dfs_syncfs_covers(0x58465342), 1);
	ck_assert_int_eq(dfs_syncfs_covers(0x9123683E), 1);
	ck_assert_int_eq(dfs_syncfs_covers(0x01021994), 1);
	ck_assert_int_eq(dfs_syncfs_covers(0x65735546), 0); /* fuse */
	ck_assert_int_eq(dfs_syncfs_covers(0x6969), 0);	    /* nfs */
	ck_assert_int_eq(dfs_syncfs_covers(0xFE534D42), 0); /* smb2 */
	ck_assert_int_eq(dfs_syncfs_covers(0x00C36400), 0); /* ceph */
	ck_assert_int_eq(dfs_syncfs_covers(0x794C7630), 0); /* overlayfs */
	ck_assert_int_eq(dfs_syncfs_covers(0), 0);
	/* the offset alignment is the device's logical block size */
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	int bs = dfs_align_blockdev("/sys", major(st.st_dev), minor(st.st_dev));
	if (bs > 0)
		ck_assert_uint_eq(a.off, (unsigned)bs);

	/* the engine stages in the block size it discovered */
	struct dfs_engine_opts o;
	struct dfs_engine *e;
	dfs_engine_opts_init(&o);
	o.log = tu_log;
	ck_assert_int_eq(dfs_engine_create(&o, &e), 0);
	struct dfs_file *f;
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	struct dfs_file_stats fs;
	dfs_file_stats(f, &fs);
	ck_assert_uint_eq(fs.align.off, a.off);
	ck_assert_int_eq(fs.fallback, 0);
	ck_assert_int_eq(dfs_file_close(f), 0);
	dfs_engine_destroy(e);
	close(fd);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "align", .odirect = true,
		.tests = (const struct tu_test[]){
			TU_TEST(test_blockdev_fake_sysfs),
			TU_TEST(test_statx_real_file),
			{ NULL },
		},
	});
}
