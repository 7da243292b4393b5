/* SPDX-License-Identifier: MIT */
/*
 * optable.c - the connection setup and the one table of operations.
 *
 * Left out on purpose: bmap, ioctl and poll.  copy_file_range goes
 * through the stage (fileops.c).  Locks are forwarded
 * to SOURCE (lockops.c): libfuse asks the kernel for POSIX and flock locks
 * because the table has getlk, setlk and flock.
 */
#include "fs.h"

/* Under -d: the capabilities the kernel offered that the daemon took,
 * by name, as the headers of this libfuse know them. */
static void log_caps(struct fs *fs, const struct fuse_conn_info *conn)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} caps[] = {
		{FUSE_CAP_ASYNC_READ, "async_read"},
		{FUSE_CAP_POSIX_LOCKS, "posix_locks"},
		{FUSE_CAP_FLOCK_LOCKS, "flock_locks"},
		{FUSE_CAP_ATOMIC_O_TRUNC, "atomic_o_trunc"},
		{FUSE_CAP_EXPORT_SUPPORT, "export_support"},
		{FUSE_CAP_DONT_MASK, "dont_mask"},
		{FUSE_CAP_SPLICE_WRITE, "splice_write"},
		{FUSE_CAP_SPLICE_MOVE, "splice_move"},
		{FUSE_CAP_SPLICE_READ, "splice_read"},
		{FUSE_CAP_IOCTL_DIR, "ioctl_dir"},
		{FUSE_CAP_AUTO_INVAL_DATA, "auto_inval_data"},
		{FUSE_CAP_READDIRPLUS, "readdirplus"},
		{FUSE_CAP_READDIRPLUS_AUTO, "readdirplus_auto"},
		{FUSE_CAP_ASYNC_DIO, "async_dio"},
		{FUSE_CAP_PARALLEL_DIROPS, "parallel_dirops"},
		{FUSE_CAP_POSIX_ACL, "posix_acl"},
		{FUSE_CAP_HANDLE_KILLPRIV, "handle_killpriv"},
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
		{FUSE_CAP_DIRECT_IO_ALLOW_MMAP, "direct_io_allow_mmap"},
#endif
#ifdef FUSE_CAP_EXPIRE_ONLY
		{FUSE_CAP_EXPIRE_ONLY, "expire_only"},
#endif
#ifdef FUSE_CAP_SETXATTR_EXT
		{FUSE_CAP_SETXATTR_EXT, "setxattr_ext"},
#endif
#ifdef FUSE_CAP_PASSTHROUGH
		{FUSE_CAP_PASSTHROUGH, "passthrough"},
#endif
#ifdef FUSE_CAP_OVER_IO_URING
		{FUSE_CAP_OVER_IO_URING, "over_io_uring"},
#endif
	};
	char line[1024] = "";
	size_t n = 0;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if ((conn->want & caps[i].bit) && (conn->capable & caps[i].bit) &&
		    n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", caps[i].name);
	fs_log(fs, LOG_DEBUG, "capabilities taken (libfuse %s):%s", fuse_pkgversion(), line);
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* The daemon's own loop receives it (loop.c); the kernel caps
	 * reads at as many pages. */
	conn->max_write = fs->max_request;
	/* The kernel clears setuid/setgid on truncate itself; writes, O_TRUNC
	 * opens and fallocate are cleared by the daemon (fs_kill_privs). */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Shared mappings of FUSE direct I/O files: only where libfuse can
	 * ask for them.  The kernel refuses them without a request, so the
	 * daemon says it here, once. */
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
	if (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP)
		conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
	else
		fs_log(fs, LOG_NOTICE,
		       "shared mappings (mmap MAP_SHARED) of files in the mount get ENODEV: "
		       "this kernel lacks FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6 has it); "
		       "private mappings work");
#else
	fs_log(fs, LOG_NOTICE,
	       "shared mappings (mmap MAP_SHARED) of files in the mount get ENODEV: "
	       "libfuse %s has no FUSE_CAP_DIRECT_IO_ALLOW_MMAP (libfuse 3.17 with "
	       "Linux 6.6 lifts this); private mappings work",
	       fuse_pkgversion());
#endif
	/* A mount others use: the kernel checks permissions (allow_other
	 * brings default_permissions), and with POSIX ACLs it checks them as
	 * ext4 does, named users and groups and the mask included.  Then the
	 * VFS applies no umask (a default ACL may rule it out), so the kernel
	 * must not either: the caller's umask comes with each creating
	 * request, and the backing filesystem applies it, or the parent's
	 * default ACL instead, when the daemon creates as the caller
	 * (creds.c).  A mount only its owner uses keeps SOURCE's own checks. */
	if (fs->o.multi_user) {
		const unsigned need = FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;

		if ((conn->capable & need) == need) {
			conn->want |= need;
			fs->acl = true;
		} else {
			fs_log(fs, LOG_WARNING,
			       "this kernel offers no POSIX ACLs to FUSE: others using "
			       "the mount are checked against mode bits only");
		}
	}
	/* FUSE over io_uring, where asked for: libfuse's loop serves the
	 * session then (loop.c).  Else it must not start its ring, which the
	 * loop that answers INIT would stop again. */
#ifdef FUSE_CAP_OVER_IO_URING
	if (!fs->o.io_uring)
		conn->want &= ~FUSE_CAP_OVER_IO_URING;
	else if (!(conn->capable & FUSE_CAP_OVER_IO_URING))
		fs_log(fs, LOG_NOTICE,
		       "io_uring asked for, but this kernel offers none to FUSE (Linux 6.14 "
		       "with /sys/module/fuse/parameters/enable_uring set to Y has it): "
		       "requests come through /dev/fuse");
#endif
	conn->time_gran = 1;
	if (fs->trace)
		log_caps(fs, conn);
	fs_log(fs, LOG_INFO, "mounted %s (requests up to %u KiB%s)", fs->o.source,
	       conn->max_write >> 10, fs->acl ? ", POSIX ACLs" : "");
	if (fs->oom_score_adj > FS_OOM_SCORE_ADJ)
		fs_log(fs, LOG_INFO,
		       "oom_score_adj %d, not %d (no CAP_SYS_RESOURCE): the OOM killer "
		       "may choose this daemon like any process",
		       fs->oom_score_adj, FS_OOM_SCORE_ADJ);
	fs_loop_inited(fs);
}

/* Each handler starts with its FS_TRACE line (-d). */
const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.symlink = fs_symlink,
	.link = fs_link,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.rename = fs_rename,
	.statfs = fs_statfs,
	.access = fs_access,
	.open = fs_open,
	.create = fs_create,
	.read = fs_read,
	.write_buf = fs_write_buf,
	.copy_file_range = fs_copy_file_range,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.fallocate = fs_fallocate,
	.lseek = fs_lseek,
	.getlk = fs_getlk,
	.setlk = fs_setlk,
	.flock = fs_flock,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
};
