/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the table of operations under -d / -o debug: each request is
 * logged (inode, name, offset, size, flags, the caller's pid) before the
 * handler of ops.c runs it, so a bug report can say what the kernel
 * asked.  libfuse's own debug lines (request number, opcode, the reply's
 * status) come with them; "ino" is the FUSE inode number, libfuse's
 * "nodeid".  Without -d the plain table is used and nothing here runs.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>

#include "fs.h"

#define T(req, ...) trace_line((req), __VA_ARGS__)

__attribute__((format(printf, 2, 3))) static void trace_line(fuse_req_t req,
							      const char *fmt, ...)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs_log(fs_of(req), LOG_DEBUG, "trace: %s pid=%d", line, (int)ctx->pid);
}

#define INO(i) ((unsigned long long)(i))
#define OFF(o) ((long long)(o))

static void t_init(void *userdata, struct fuse_conn_info *conn)
{
	fs_ops.init(userdata, conn);
}

static void t_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	T(req, "lookup parent=%llu name=%s", INO(parent), name);
	fs_ops.lookup(req, parent, name);
}

static void t_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	T(req, "forget ino=%llu nlookup=%" PRIu64, INO(ino), nlookup);
	fs_ops.forget(req, ino, nlookup);
}

static void t_forget_multi(fuse_req_t req, size_t count,
			   struct fuse_forget_data *forgets)
{
	T(req, "forget_multi count=%zu", count);
	fs_ops.forget_multi(req, count, forgets);
}

static void t_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "getattr ino=%llu%s", INO(ino), fi ? " (open file)" : "");
	fs_ops.getattr(req, ino, fi);
}

static void t_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		      struct fuse_file_info *fi)
{
	T(req, "setattr ino=%llu valid=0x%x mode=0%o uid=%d gid=%d size=%lld", INO(ino),
	  (unsigned)valid, (unsigned)attr->st_mode, (int)attr->st_uid, (int)attr->st_gid,
	  OFF(attr->st_size));
	fs_ops.setattr(req, ino, attr, valid, fi);
}

static void t_readlink(fuse_req_t req, fuse_ino_t ino)
{
	T(req, "readlink ino=%llu", INO(ino));
	fs_ops.readlink(req, ino);
}

static void t_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		    dev_t rdev)
{
	T(req, "mknod parent=%llu name=%s mode=0%o rdev=%llu", INO(parent), name,
	  (unsigned)mode, (unsigned long long)rdev);
	fs_ops.mknod(req, parent, name, mode, rdev);
}

static void t_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	T(req, "mkdir parent=%llu name=%s mode=0%o", INO(parent), name, (unsigned)mode);
	fs_ops.mkdir(req, parent, name, mode);
}

static void t_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		      const char *name)
{
	T(req, "symlink parent=%llu name=%s target=%s", INO(parent), name, link);
	fs_ops.symlink(req, link, parent, name);
}

static void t_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		   const char *newname)
{
	T(req, "link ino=%llu newparent=%llu newname=%s", INO(ino), INO(newparent),
	  newname);
	fs_ops.link(req, ino, newparent, newname);
}

static void t_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	T(req, "unlink parent=%llu name=%s", INO(parent), name);
	fs_ops.unlink(req, parent, name);
}

static void t_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	T(req, "rmdir parent=%llu name=%s", INO(parent), name);
	fs_ops.rmdir(req, parent, name);
}

static void t_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	T(req, "rename parent=%llu name=%s newparent=%llu newname=%s flags=0x%x",
	  INO(parent), name, INO(newparent), newname, flags);
	fs_ops.rename(req, parent, name, newparent, newname, flags);
}

static void t_statfs(fuse_req_t req, fuse_ino_t ino)
{
	T(req, "statfs ino=%llu", INO(ino));
	fs_ops.statfs(req, ino);
}

static void t_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	T(req, "access ino=%llu mask=0%o", INO(ino), (unsigned)mask);
	fs_ops.access(req, ino, mask);
}

static void t_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "open ino=%llu flags=0%o", INO(ino), (unsigned)fi->flags);
	fs_ops.open(req, ino, fi);
}

static void t_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     struct fuse_file_info *fi)
{
	T(req, "create parent=%llu name=%s mode=0%o flags=0%o", INO(parent), name,
	  (unsigned)mode, (unsigned)fi->flags);
	fs_ops.create(req, parent, name, mode, fi);
}

static void t_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	T(req, "read ino=%llu fh=%" PRIu64 " off=%lld size=%zu", INO(ino), fi->fh,
	  OFF(off), size);
	fs_ops.read(req, ino, size, off, fi);
}

static void t_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv,
			off_t off, struct fuse_file_info *fi)
{
	T(req, "write ino=%llu fh=%" PRIu64 " off=%lld size=%zu", INO(ino), fi->fh,
	  OFF(off), fuse_buf_size(bufv));
	fs_ops.write_buf(req, ino, bufv, off, fi);
}

static void t_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "flush ino=%llu fh=%" PRIu64, INO(ino), fi->fh);
	fs_ops.flush(req, ino, fi);
}

static void t_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "release ino=%llu fh=%" PRIu64 " flags=0%o", INO(ino), fi->fh,
	  (unsigned)fi->flags);
	fs_ops.release(req, ino, fi);
}

static void t_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	T(req, "fsync ino=%llu fh=%" PRIu64 " datasync=%d", INO(ino), fi->fh, datasync);
	fs_ops.fsync(req, ino, datasync, fi);
}

static void t_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			off_t length, struct fuse_file_info *fi)
{
	T(req, "fallocate ino=%llu fh=%" PRIu64 " mode=0x%x off=%lld size=%lld",
	  INO(ino), fi->fh, (unsigned)mode, OFF(offset), OFF(length));
	fs_ops.fallocate(req, ino, mode, offset, length, fi);
}

static void t_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		    struct fuse_file_info *fi)
{
	T(req, "lseek ino=%llu fh=%" PRIu64 " off=%lld whence=%d", INO(ino), fi->fh,
	  OFF(off), whence);
	fs_ops.lseek(req, ino, off, whence, fi);
}

static void t_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock)
{
	T(req, "getlk ino=%llu fh=%" PRIu64 " owner=%" PRIx64 " type=%d off=%lld size=%lld",
	  INO(ino), fi->fh, fi->lock_owner, lock->l_type, OFF(lock->l_start), OFF(lock->l_len));
	fs_ops.getlk(req, ino, fi, lock);
}

static void t_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct flock *lock, int sleep)
{
	T(req, "setlk ino=%llu fh=%" PRIu64 " owner=%" PRIx64 " type=%d off=%lld size=%lld%s",
	  INO(ino), fi->fh, fi->lock_owner, lock->l_type, OFF(lock->l_start), OFF(lock->l_len),
	  sleep ? " wait" : "");
	fs_ops.setlk(req, ino, fi, lock, sleep);
}

static void t_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	T(req, "flock ino=%llu fh=%" PRIu64 " owner=%" PRIx64 " op=0x%x", INO(ino), fi->fh,
	  fi->lock_owner, op);
	fs_ops.flock(req, ino, fi, op);
}

static void t_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "opendir ino=%llu", INO(ino));
	fs_ops.opendir(req, ino, fi);
}

static void t_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	T(req, "readdir ino=%llu off=%lld size=%zu", INO(ino), OFF(off), size);
	fs_ops.readdir(req, ino, size, off, fi);
}

static void t_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	T(req, "readdirplus ino=%llu off=%lld size=%zu", INO(ino), OFF(off), size);
	fs_ops.readdirplus(req, ino, size, off, fi);
}

static void t_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	T(req, "releasedir ino=%llu", INO(ino));
	fs_ops.releasedir(req, ino, fi);
}

static void t_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		       struct fuse_file_info *fi)
{
	T(req, "fsyncdir ino=%llu datasync=%d", INO(ino), datasync);
	fs_ops.fsyncdir(req, ino, datasync, fi);
}

static void t_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       const char *value, size_t size, int flags)
{
	T(req, "setxattr ino=%llu name=%s size=%zu flags=0x%x", INO(ino), name, size,
	  (unsigned)flags);
	fs_ops.setxattr(req, ino, name, value, size, flags);
}

static void t_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	T(req, "getxattr ino=%llu name=%s size=%zu", INO(ino), name, size);
	fs_ops.getxattr(req, ino, name, size);
}

static void t_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	T(req, "listxattr ino=%llu size=%zu", INO(ino), size);
	fs_ops.listxattr(req, ino, size);
}

static void t_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	T(req, "removexattr ino=%llu name=%s", INO(ino), name);
	fs_ops.removexattr(req, ino, name);
}

const struct fuse_lowlevel_ops fs_trace_ops = {
	.init = t_init,
	.lookup = t_lookup,
	.forget = t_forget,
	.forget_multi = t_forget_multi,
	.getattr = t_getattr,
	.setattr = t_setattr,
	.readlink = t_readlink,
	.mknod = t_mknod,
	.mkdir = t_mkdir,
	.symlink = t_symlink,
	.link = t_link,
	.unlink = t_unlink,
	.rmdir = t_rmdir,
	.rename = t_rename,
	.statfs = t_statfs,
	.access = t_access,
	.open = t_open,
	.create = t_create,
	.read = t_read,
	.write_buf = t_write_buf,
	.flush = t_flush,
	.release = t_release,
	.fsync = t_fsync,
	.fallocate = t_fallocate,
	.lseek = t_lseek,
	.getlk = t_getlk,
	.setlk = t_setlk,
	.flock = t_flock,
	.opendir = t_opendir,
	.readdir = t_readdir,
	.readdirplus = t_readdirplus,
	.releasedir = t_releasedir,
	.fsyncdir = t_fsyncdir,
	.setxattr = t_setxattr,
	.getxattr = t_getxattr,
	.listxattr = t_listxattr,
	.removexattr = t_removexattr,
};
