/* SPDX-License-Identifier: MIT */
/*
 * creds.c - running a creating request (create, mknod, mkdir, symlink) as
 * its caller: fsuid, fsgid and supplementary groups, switched on the
 * calling thread only, so new files belong to the caller and the backing
 * filesystem applies its own rules (setgid directories, ACLs, quotas) as
 * on a local disk.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"

#define GROUPS_MAX 256

void fs_creds_init(struct fs *fs)
{
	fs->is_root = geteuid() == 0;
	fs->ngroups = getgroups(0, NULL);
	if (fs->ngroups <= 0) {
		fs->ngroups = 0;
		return;
	}
	fs->groups = calloc((size_t)fs->ngroups, sizeof(gid_t));
	if (!fs->groups || getgroups(fs->ngroups, fs->groups) != fs->ngroups)
		fs->ngroups = 0;
}

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
