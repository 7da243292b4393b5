/* SPDX-License-Identifier: MIT */
/*
 * creds.c - running a creating request (create, mknod, mkdir, symlink) as
 * its caller: fsuid, fsgid and supplementary groups, switched on the
 * calling thread only, so new files belong to the caller and the backing
 * filesystem applies its own rules (setgid directories, ACLs, quotas) as
 * on a local disk.  Where the kernel leaves the umask to the daemon (fs->acl),
 * the caller's umask too: each FUSE thread gets a umask of its own
 * (unshare(CLONE_FS) at its first creating call), which the backing
 * filesystem applies, or, under a default ACL, does not, as ext4 does.
 * Also what the caller may do that the daemon must check for it: keep
 * setuid/setgid bits over a write (CAP_FSETID).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs.h"

#define GROUPS_MAX 256

/*
 * Drop CAP_SYS_RESOURCE from the effective set of this thread, before any
 * other is made (they inherit it).  The daemon writes every user's data;
 * with that capability the kernel would let those writes past disk quotas
 * and into the blocks a filesystem keeps back for root, which the user
 * writing on a local disk could not use.  Kept in the permitted set:
 * nothing raises it again.
 */
static void drop_sys_resource(struct fs *fs)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return;
	if (!(d[0].effective & (1u << CAP_SYS_RESOURCE)))
		return;
	d[0].effective &= ~(1u << CAP_SYS_RESOURCE);
	if (syscall(SYS_capset, &h, d))
		fs_log(fs, LOG_ERR, "cannot drop CAP_SYS_RESOURCE: %s; quotas will not "
				    "bind writes through the mount",
		       strerror(errno));
}

/*
 * Ask the OOM killer to choose another process first.  The daemon holds
 * data applications were told is written (memory_cap at most, and its
 * own few MiB), and its death fails every copy through the mount, while
 * the program that ran the machine short of memory goes on.  Lowering the
 * score below 0 needs CAP_SYS_RESOURCE, so this comes before that is
 * dropped; without it the score goes as low as the kernel lets anyone
 * (0, from a positive score inherited: systemd gives user sessions 100).
 * A score already lower (OOMScoreAdjust= in a unit) is kept.
 */
static void spare_from_oom(struct fs *fs)
{
	fs->oom_score_adj = FS_OOM_SCORE_ADJ; /* unless found otherwise */
	static const int tries[] = {FS_OOM_SCORE_ADJ, 0};
	char v[16];
	int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC), now, n;
	ssize_t got = fd < 0 ? -1 : read(fd, v, sizeof(v) - 1);

	if (got <= 0) {
		if (fd >= 0)
			close(fd);
		return;
	}
	v[got] = '\0';
	now = atoi(v);
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]) && tries[i] < now; i++) {
		n = snprintf(v, sizeof(v), "%d", tries[i]);
		if (pwrite(fd, v, (size_t)n, 0) == n)
			now = tries[i];
	}
	close(fd);
	fs->oom_score_adj = now; /* said once mounted (optable.c) */
}

void fs_creds_init(struct fs *fs)
{
	spare_from_oom(fs);
	drop_sys_resource(fs);
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

/* Give this thread a umask of its own, once: umask(2) is per process
 * unless the thread stops sharing its filesystem context. */
static int thread_own_umask(void)
{
	static __thread bool own;

	if (own)
		return 0;
	if (unshare(CLONE_FS))
		return -errno;
	own = true;
	return 0;
}

int fs_creds_enter(fuse_req_t req, bool *switched)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct fs *fs = fs_of(req);
	gid_t groups[GROUPS_MAX];
	int n, r;

	*switched = false;
	if (fs->acl) {
		r = thread_own_umask();
		if (r)
			return r;
		umask(c->umask & 0777);
	}
	if (!fs->is_root || (c->uid == 0 && c->gid == 0))
		return 0;
	n = fuse_req_getgroups(req, GROUPS_MAX, groups);
	if (n < 0) /* the caller is gone, or no /proc: its primary group only */
		n = 0;
	if (n > GROUPS_MAX)
		n = GROUPS_MAX;
	/* The raw system calls change this thread only; glibc's wrappers
	 * would change every thread of the daemon. */
	if (syscall(SYS_setgroups, n, groups)) {
		r = -errno;
		fs_creds_leave(fs, false);
		return r;
	}
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
	if (fs->acl)
		umask(0); /* this thread's own (thread_own_umask) */
	if (!switched)
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	if (syscall(SYS_setgroups, fs->ngroups, fs->groups))
		fs_log(fs, LOG_ERR, "cannot restore the daemon's groups: %s",
		       strerror(errno));
}

bool fs_caller_fsetid(fuse_req_t req)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	char path[64], line[256];
	unsigned long long caps;
	bool found = false, has = c->uid == 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	f = c->pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return has; /* gone, or no /proc: root is taken as capable */
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "CapEff: %llx", &caps) == 1;
	fclose(f);
	return found ? (caps >> CAP_FSETID) & 1 : has;
}

bool fs_caller_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	gid_t groups[GROUPS_MAX];
	int n;

	if (c->gid == gid)
		return true;
	n = fuse_req_getgroups(req, GROUPS_MAX, groups);
	for (int i = 0; i < n && i < GROUPS_MAX; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

/*
 * A write, truncate or fallocate by the caller is about to change ino:
 * clear setuid, and setgid where group-execute is set or the caller is not
 * of the file's group, unless the caller holds CAP_FSETID, as a local
 * filesystem does in file_remove_privs().  The data reaches SOURCE from the
 * daemon, whose own writes would keep the bits.  Costs nothing for a file
 * last seen without either bit.  0 or -errno.
 */
int fs_kill_privs(fuse_req_t req, struct fs *fs, fuse_ino_t nodeid,
		  struct fs_inode *ino)
{
	mode_t kill = 0;
	struct stat st;
	char path[64];
	int fd, r;

	if (ino->type != S_IFREG || !(atomic_load(&ino->mode) & (S_ISUID | S_ISGID)))
		return 0;
	fd = fs_inode_fd(fs, ino);
	if (fd < 0)
		return fd;
	r = fstat(fd, &st) ? -errno : 0;
	if (!r) {
		fs_inode_saw(ino, &st);
		if (st.st_mode & S_ISUID)
			kill |= S_ISUID;
		if ((st.st_mode & S_ISGID) &&
		    ((st.st_mode & S_IXGRP) || !fs_caller_in_group(req, st.st_gid)))
			kill |= S_ISGID;
	}
	if (kill && fs_caller_fsetid(req))
		kill = 0;
	if (!r && kill) {
		/* An O_PATH descriptor takes no fchmod: its /proc name does. */
		dfs_proc_path(path, sizeof(path), fd);
		st.st_mode &= ~kill;
		r = chmod(path, st.st_mode & 07777) ? -errno : 0;
		if (!r)
			fs_inode_saw(ino, &st);
		/* A daemon that is not root and does not own the file: its
		 * own write, without CAP_FSETID, makes SOURCE clear them. */
		if (r == -EPERM && !fs->is_root)
			r = kill = 0;
	}
	fs_inode_fd_put(fs, ino);
	/* The kernel's copy of the mode is stale now (a direct write does
	 * not refresh it): attributes only, no page is involved. */
	if (!r && kill && fs->se)
		fuse_lowlevel_notify_inval_inode(fs->se, nodeid, -1, 0);
	return r;
}
