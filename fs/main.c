/* SPDX-License-Identifier: MIT */
/*
 * main.c - the directfs command: options, checks of SOURCE and MOUNTPOINT,
 * the session, and the final write-out.
 *
 *   directfs [-o OPTIONS] SOURCE MOUNTPOINT
 *
 * Every bad invocation ends here with one line on stderr and exit status 1
 * (2 for a usage error), before anything is mounted.  On unmount or
 * SIGTERM/SIGINT/SIGHUP the session loop returns, in-flight requests
 * finish, and every open file is written out and fsynced before the mount
 * is taken down and the process exits (status 1 if any file failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "dfs_size.h"
#include "dfs_mountinfo.h"
#include "fs.h"

#ifndef INODE_FDS_DEFAULT /* -DINODE_FDS_DEFAULT=16 stresses eviction */
#define INODE_FDS_DEFAULT 4096
#endif
#define INODE_FDS_MIN 16

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

struct cli {
	char *source, *mountpoint;
	unsigned extra; /* positional arguments past the two */
	char *buffer_size, *depth, *memory_cap, *close, *fallback, *io_threads, *timeout,
		*inode_fds, *small_files, *readahead, *request_size, *priority, *checksum;
	bool has_fsname, has_subtype;
	bool allow_other; /* allow_other or allow_root: others use the mount */
	bool io_uring;	  /* -o io_uring, for libfuse */
};

enum { KEY_DISCARD, KEY_FSNAME, KEY_SUBTYPE, KEY_ALLOW_OTHER, KEY_IO_URING };

#define CLI_OPT(t, field)                                                                \
	{                                                                                \
		t, offsetof(struct cli, field), 1                                        \
	}

static const struct fuse_opt cli_opts[] = {
	CLI_OPT("buffer_size=%s", buffer_size),
	CLI_OPT("depth=%s", depth),
	CLI_OPT("memory_cap=%s", memory_cap),
	CLI_OPT("close=%s", close),
	CLI_OPT("fallback=%s", fallback),
	CLI_OPT("io_threads=%s", io_threads),
	CLI_OPT("timeout=%s", timeout),
	CLI_OPT("inode_fds=%s", inode_fds),
	CLI_OPT("small_files=%s", small_files),
	CLI_OPT("readahead=%s", readahead),
	CLI_OPT("request_size=%s", request_size),
	CLI_OPT("priority=%s", priority),
	CLI_OPT("checksum=%s", checksum),
	/* Words meant for mount(8), fstab and systemd, not for us. */
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("owner", KEY_DISCARD),
	FUSE_OPT_KEY("group", KEY_DISCARD),
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("comment=", KEY_DISCARD),
	FUSE_OPT_KEY("helper=", KEY_DISCARD),
	FUSE_OPT_KEY("uhelper=", KEY_DISCARD),
	FUSE_OPT_KEY("fsname=", KEY_FSNAME),
	FUSE_OPT_KEY("subtype=", KEY_SUBTYPE),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("allow_root", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("io_uring", KEY_IO_URING), /* libfuse 3.18's, seen on the way */
	FUSE_OPT_END,
};

static int cli_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *c = data;

	(void)outargs;
	switch (key) {
	case KEY_DISCARD: return 0;
	case KEY_FSNAME: c->has_fsname = true; return 1;
	case KEY_SUBTYPE: c->has_subtype = true; return 1;
	case KEY_ALLOW_OTHER: c->allow_other = true; return 1;
	case KEY_IO_URING: c->io_uring = true; return 1;
	case FUSE_OPT_KEY_OPT:
		return strncmp(arg, "x-", 2) ? 1 : 0; /* x-systemd.*, x-gvfs-* */
	case FUSE_OPT_KEY_NONOPT:
		if (!c->source)
			c->source = strdup(arg);
		else if (!c->mountpoint)
			c->mountpoint = strdup(arg);
		else
			c->extra++;
		return 0;
	}
	return 1;
}

/* The strings fuse_opt_parse and cli_proc made: SOURCE, MOUNTPOINT and
 * each CLI_OPT value, found through cli_opts itself, so that a new option
 * cannot be left out of the list and leak. */
static void cli_free(struct cli *c)
{
	for (const struct fuse_opt *o = cli_opts; o->templ; o++) {
		if (!strstr(o->templ, "=%s")) /* a key, not a value kept */
			continue;
		char **str = (char **)((char *)c + o->offset);
		free(*str);
		*str = NULL;
	}
	free(c->source);
	free(c->mountpoint);
	c->source = c->mountpoint = NULL;
}

static void usage(const char *prog)
{
	printf("usage: %s [options] SOURCE MOUNTPOINT\n"
	       "\n"
	       "Shows the directory SOURCE at MOUNTPOINT.  Writes are staged in aligned\n"
	       "buffers and written to SOURCE with O_DIRECT, so the page cache stays "
	       "empty.\n"
	       "\n"
	       "directfs options:\n"
	       "    -o buffer_size=SIZE    staging buffer per file, a multiple of 64K\n"
	       "                           (default 1M); sizes take K, M, G, T or P\n"
	       "    -o depth=N             full buffers of one file in flight to disk "
	       "(default 2)\n"
	       "    -o memory_cap=SIZE     staging memory of all files together (default "
	       "64M);\n"
	       "                           writers wait when it is reached\n"
	       "    -o close=flush|sync    flush: close() returns once all data is "
	       "written and\n"
	       "                           the fsync runs at release (default); sync: "
	       "close()\n"
	       "                           also waits for the fsync\n"
	       "    -o fallback=uncached|refuse\n"
	       "                           where SOURCE refuses O_DIRECT: write buffered "
	       "without\n"
	       "                           caching (default), or refuse to mount/open\n"
	       "    -o io_threads=N        disk writer threads (default 4)\n"
	       "    -o timeout=SECONDS     kernel cache of names and attributes (default "
	       "1)\n"
	       "    -o inode_fds=N         descriptors kept open for files the kernel\n"
	       "                           remembers but nobody uses (default: a "
	       "quarter\n"
	       "                           of the descriptor limit, at most 4096)\n"
	       "    -o small_files=SIZE    a file of at most SIZE is written at close "
	       "through\n"
	       "                           SOURCE's page cache, the pages dropped by its\n"
	       "                           group commit (default 1M; 0: every close waits\n"
	       "                           for the disk)\n"
	       "    -o readahead=on|off    sequential reads read the next four buffers "
	       "ahead\n"
	       "                           (default on)\n"
	       "    -o priority=full|background\n"
	       "                           full: as fast as the disk (default); background:\n"
	       "                           while other programs use SOURCE's disk, write one\n"
	       "                           buffer at a time and leave it idle as long again\n"
	       "    -o checksum=xxh128|sha256|off\n"
	       "                           sum each file copied from start to end as it\n"
	       "                           streams, and tag it on SOURCE once durable:\n"
	       "                           user.directfs.xxh128 (default), or sha256 in\n"
	       "                           shatag's user.shatag.sha256\n"
	       "    -o request_size=SIZE   largest read or write request from the kernel\n"
	       "                           (default 1M); more needs a raised\n"
	       "                           /proc/sys/fs/fuse/max_pages_limit\n"
	       "    -d, -o debug           log every request (inode, offset, size, the\n"
	       "                           caller's pid) to stderr; stays in the "
	       "foreground\n"
	       "\n"
	       "mount options:\n"
	       "    -o ro                  read-only\n"
	       "    -o default_permissions the kernel checks permissions against "
	       "SOURCE's\n"
	       "                           owners and modes (on with allow_other)\n"
	       "    -o fsname=NAME         the mount's source in the mount table "
	       "(default:\n"
	       "                           SOURCE)\n"
	       "    -o subtype=NAME        its type after fuse. (default: directfs)\n"
	       "\n"
	       "fstab words (auto, noauto, user, users, defaults, _netdev, nofail, "
	       "comment=,\n"
	       "helper=, uhelper=, "
	       "x-*) are accepted and ignored.\n"
	       "\n",
	       prog);
}

/* A size option (dfs_size.h), into a size_t. */
static int parse_size(const char *s, size_t *out)
{
	uint64_t v;
	int r = dfs_parse_size(s, &v);

	if (r)
		return r;
	if (v > SIZE_MAX)
		return -ERANGE;
	*out = (size_t)v;
	return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	if (!s[0] || s[0] == '-')
		return -EINVAL;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > UINT_MAX)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

static int bad_value(const char *name, const char *val, const char *want)
{
	fprintf(stderr, "directfs: bad value for %s: '%s' (%s)\n", name, val, want);
	return -EINVAL;
}

/* Fill fs->o from the command line; one line on stderr on error. */
static int options_from_cli(const struct cli *c, struct fs_opts *o,
			    struct dfs_engine_opts *eo)
{
	const char *why;
	char *end;
	size_t v;

	dfs_engine_opts_init(eo);
	memset(o, 0, sizeof(*o));
	o->timeout = 1.0;
	/* Each value is checked against its own range here, so that the
	 * line names the option the user gave (the engine's own check below
	 * only guards what no option can reach). */
	if (c->buffer_size &&
	    (parse_size(c->buffer_size, &eo->buf_size) || eo->buf_size < DFS_BUF_SIZE_MIN ||
	     eo->buf_size > DFS_BUF_SIZE_MAX || eo->buf_size % DFS_BUF_SIZE_MIN))
		return bad_value("buffer_size", c->buffer_size,
				 "a multiple of 64K from 64K to 256M, such as 1M");
	if (c->memory_cap && (parse_size(c->memory_cap, &eo->mem_cap) || eo->mem_cap < DFS_BUF_SIZE_MIN))
		return bad_value("memory_cap", c->memory_cap,
				 "a size of at least 64K, such as 64M");
	if (c->buffer_size && c->memory_cap && eo->mem_cap < eo->buf_size) {
		fprintf(stderr,
			"directfs: bad value for memory_cap: '%s' (less than buffer_size=%s: "
			"it must hold one buffer at least)\n",
			c->memory_cap, c->buffer_size);
		return -EINVAL;
	}
	if (c->depth && (parse_uint(c->depth, &eo->depth) || eo->depth < 1 || eo->depth > DFS_DEPTH_MAX))
		return bad_value("depth", c->depth, "a count from 1 to 64, such as 2");
	if (c->small_files && parse_size(c->small_files, &eo->small_max))
		return bad_value("small_files", c->small_files,
				 "a size such as 1M, or 0");
	if (c->io_threads &&
	    (parse_uint(c->io_threads, &eo->workers) || eo->workers < 1 || eo->workers > DFS_WORKERS_MAX))
		return bad_value("io_threads", c->io_threads, "a count from 1 to 64, such as 4");
	if (c->close) {
		if (!strcmp(c->close, "sync"))
			o->close_policy = FS_CLOSE_SYNC;
		else if (strcmp(c->close, "flush"))
			return bad_value("close", c->close, "flush or sync");
	}
	if (c->fallback) {
		if (!strcmp(c->fallback, "refuse"))
			o->no_fallback = true;
		else if (strcmp(c->fallback, "uncached"))
			return bad_value("fallback", c->fallback, "uncached or refuse");
	}
	if (c->priority) {
		if (!strcmp(c->priority, "background"))
			o->background = true;
		else if (strcmp(c->priority, "full"))
			return bad_value("priority", c->priority, "full or background");
	}
	eo->checksum = FS_CHECKSUM_DEFAULT;
	if (c->checksum && dfs_sum_parse(c->checksum, &eo->checksum))
		return bad_value("checksum", c->checksum, "xxh128, sha256 or off");
	o->checksum = eo->checksum;
	if (c->readahead) {
		if (!strcmp(c->readahead, "off"))
			eo->no_readahead = 1;
		else if (strcmp(c->readahead, "on"))
			return bad_value("readahead", c->readahead, "on or off");
	}
	o->request_size = FS_REQUEST_DEFAULT;
	if (c->request_size &&
	    (parse_size(c->request_size, &v) || v < 4096 || v % 4096 || v > FS_REQUEST_MAX))
		return bad_value("request_size", c->request_size,
				 "a multiple of 4K from 4K to 64M, such as 4M");
	if (c->request_size)
		o->request_size = (uint32_t)v;
	if (c->inode_fds && (parse_uint(c->inode_fds, &o->inode_fds) || o->inode_fds < 1))
		return bad_value("inode_fds", c->inode_fds, "a count such as 1024");
	if (c->timeout) {
		errno = 0;
		o->timeout = strtod(c->timeout, &end);
		if (errno || end == c->timeout || *end ||
		    !(o->timeout >= 0 && o->timeout <= 3600))
			return bad_value("timeout", c->timeout, "seconds from 0 to 3600");
	}
	eo->no_fallback = o->no_fallback;
	if (eo->mem_cap < eo->buf_size && c->memory_cap && !c->buffer_size) {
		v = eo->mem_cap; /* a small cap alone shrinks the buffer to fit */
		eo->buf_size = v - v % DFS_BUF_SIZE_MIN;
	}
	/* Every option was checked above: the engine refusing is a bug. */
	if (dfs_engine_opts_check(eo, &why)) {
		fprintf(stderr, "directfs: bad options (a directfs bug: please report): %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/* SOURCE: an existing directory.  Returns an O_PATH descriptor. */
static int check_source(const char *src, char *real)
{
	struct stat st;
	int fd;

	if (!realpath(src, real) || stat(real, &st)) {
		fprintf(stderr, "directfs: source %s: %s\n", src, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "directfs: source %s: not a directory\n", src);
		return -1;
	}
	fd = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "directfs: source %s: %s\n", src, strerror(errno));
	return fd;
}

/* MOUNTPOINT: an existing directory, not already a mount.  SOURCE itself
 * is fine (mounting in place): the daemon reaches SOURCE only through the
 * descriptor opened before the mount.  So is a directory below SOURCE
 * (*inner): the daemon's lookups that land on its own mount are given
 * the directory underneath instead (fs_lookup_name). */
static int check_mountpoint(const char *mnt, const char *src_real, char *real, bool *inner)
{
	struct statx stx;
	size_t n = strlen(src_real);

	if (!realpath(mnt, real) || statx(AT_FDCWD, real, 0, STATX_TYPE, &stx)) {
		if (errno == ENOTCONN)
			fprintf(stderr,
				"directfs: mount point %s: %s (a dead mount? "
				"fusermount3 -u %s)\n",
				mnt, strerror(errno), mnt);
		else
			fprintf(stderr, "directfs: mount point %s: %s\n", mnt,
				strerror(errno));
		return -1;
	}
	if (!S_ISDIR(stx.stx_mode)) {
		fprintf(stderr, "directfs: mount point %s: not a directory\n", mnt);
		return -1;
	}
	if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
		fprintf(stderr,
			"directfs: mount point %s: busy (something is mounted there)\n",
			mnt);
		return -1;
	}
	*inner = (!strncmp(real, src_real, n) && real[n] == '/') ||
		 (n == 1 && real[1]); /* SOURCE "/" holds every other path */
	return 0;
}

/* fallback=refuse refuses to mount a SOURCE that refuses O_DIRECT. */
static int check_odirect(int srcfd, const char *src)
{
	int fd = openat(srcfd, ".", O_TMPFILE | O_RDWR | O_DIRECT | O_CLOEXEC, 0600);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != EINVAL)
		return 0; /* cannot tell here (no O_TMPFILE, read-only): per file */
	fprintf(stderr,
		"directfs: source %s refuses O_DIRECT and fallback=refuse is set\n", src);
	return -1;
}

static int sync_source(int pathfd)
{
	int fd = dfs_reopen(pathfd, O_RDONLY | O_DIRECTORY), r = 0;

	if (fd < 0)
		return fd;
	if (syncfs(fd))
		r = -errno;
	close(fd);
	return r;
}

/* -ofsname=SOURCE, with SOURCE's commas and backslashes escaped. */
static int add_fsname(struct fuse_args *args, const char *src)
{
	char *esc = NULL, *arg = NULL;
	int r = -1;

	if (!fuse_opt_add_opt_escaped(&esc, src) &&
	    asprintf(&arg, "-ofsname=%s", esc) > 0)
		r = fuse_opt_add_arg(args, arg);
	free(arg);
	free(esc);
	return r;
}

/*
 * The daemon holds descriptors for the inodes the kernel remembers and the
 * files open through it; a shell or a systemd service starts it with a
 * soft limit of 1,024.  Take the hard limit, so that an application never
 * sees EMFILE because of how many files the mount has seen.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		fprintf(stderr,
			"directfs: cannot raise the descriptor limit to %llu: %s\n",
			(unsigned long long)rl.rlim_max, strerror(errno));
}

/* Descriptors kept for idle remembered inodes, unless inode_fds= says:
 * a quarter of the limit, at most INODE_FDS_DEFAULT, so open files and
 * directories always have room. */
static unsigned default_inode_fds(void)
{
	struct rlimit rl;
	rlim_t n = INODE_FDS_DEFAULT;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur / 4 < n)
		n = rl.rlim_cur / 4;
	return n < INODE_FDS_MIN ? INODE_FDS_MIN : (unsigned)n;
}

/* -h, -V or a usage error: the exit status, once answered; else -1. */
static int cli_answered(const char *prog, const struct cli *c,
			const struct fuse_cmdline_opts *cmd)
{
	if (cmd->show_help) {
		usage(prog);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 0;
	}
	if (cmd->show_version) {
		printf("directfs version %s\n", DFS_VERSION);
		fuse_lowlevel_version();
		return 0;
	}
	if (!c->source || !c->mountpoint || c->extra) {
		fprintf(stderr,
			"usage: %s [-o OPTIONS] SOURCE MOUNTPOINT (%s -h for help)\n",
			prog, prog);
		return 2;
	}
	return -1;
}

/* After the session: write out and fsync every file, then sync SOURCE
 * (names too: creates, renames and unlinks are in no file's fsync).
 * The exit status: 1 if anything failed. */
static int write_out_at_exit(struct fs *fs, const char *mnt)
{
	unsigned failed = fs_table_shut_all(fs);
	int synced = sync_source(fs->root.ifd.fd); /* the root keeps its own */

	if (synced)
		fs_log(fs, LOG_ERR, "syncing %s failed: %s", fs->o.source,
		       strerror(-synced));
	if (failed)
		fs_log(fs, LOG_ERR, "%u file(s) could not be written out at exit",
		       failed);
	else
		fs_log(fs, LOG_INFO, "all files written out and synced; unmounting %s",
		       mnt);
	return failed || synced ? 1 : 0;
}

/* fs->max_request, with a word where it falls short of the wish. */
static void choose_request_size(struct fs *fs)
{
	uint32_t wish = fs->o.request_size, kernel;

	fs->max_request = fs_loop_request_size(wish, &kernel);
	if (fs->max_request < wish)
		fs_log(fs, LOG_NOTICE,
		       "requests of up to %u KiB, not %u KiB: the kernel's "
		       "/proc/sys/fs/fuse/max_pages_limit allows %u pages",
		       fs->max_request >> 10, wish >> 10,
		       kernel / (uint32_t)sysconf(_SC_PAGESIZE));
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = {0};
	struct dfs_engine_opts eo;
	struct fuse_session *se = NULL;
	struct cli c = {0};
	struct fs fs = {0};
	char src[PATH_MAX], mnt[PATH_MAX];
	struct stat srcst;
	void *dev_arg = NULL; /* SOURCE's disk's counters (priority=background) */
	bool inner = false;   /* MOUNTPOINT is below SOURCE */
	int srcfd, ret, r;

	if (fuse_opt_parse(&args, &c, cli_opts, cli_proc) ||
	    fuse_parse_cmdline(&args, &cmd))
		return 2;
	ret = cli_answered(argv[0], &c, &cmd);
	if (ret >= 0)
		goto out_args;
	ret = 1;
	if (options_from_cli(&c, &fs.o, &eo))
		goto out_args;
	srcfd = check_source(c.source, src);
	if (srcfd < 0)
		goto out_args;
	if (check_mountpoint(c.mountpoint, src, mnt, &inner) ||
	    (fs.o.no_fallback && check_odirect(srcfd, src))) {
		close(srcfd);
		goto out_args;
	}
	fs.o.source = src;
	fs.o.multi_user = c.allow_other;
	/* libfuse 3.18 also takes FUSE_URING_ENABLE=1 from the environment. */
	fs.o.io_uring = c.io_uring || (getenv("FUSE_URING_ENABLE") &&
				       atoi(getenv("FUSE_URING_ENABLE")));

	struct statfs srcfs;
	bool srcst_ok = !fstat(srcfd, &srcst);
	/* priority=background: the engine yields SOURCE's disk to other
	 * programs' I/O, seen in the disk's counters. */
	if (fs.o.background && srcst_ok && !dfs_dev_counts_sysfs_arg(srcst.st_dev, &dev_arg))
		eo.dev_counts = dfs_dev_counts_sysfs;
	eo.dev_arg = dev_arg;
	/* SOURCE's own filesystem stays mounted while srcfd is open: its
	 * type is asked once, not at every file. */
	if (srcst_ok && !fstatfs(srcfd, &srcfs)) {
		eo.source_dev = (uint64_t)srcst.st_dev;
		eo.source_type = (long)srcfs.f_type;
	}

	raise_fd_limit();
	umask(0);	      /* the kernel has applied the caller's umask already */
	fs.foreground = true; /* until daemonized */
	fs_creds_init(&fs);
	eo.log = fs_log_sink;
	eo.log_arg = &fs;
	r = fs_table_init(&fs, srcfd,
			  fs.o.inode_fds ? fs.o.inode_fds : default_inode_fds());
	if (r) {
		close(srcfd);
		fprintf(stderr, "directfs: cannot start: %s\n", strerror(-r));
		goto out_engine;
	}

	/* Others may use the mount: the kernel checks their permissions
	 * against SOURCE's owners and modes (the daemon may be root).  Else
	 * only the mounting user can, and the daemon, running as that user,
	 * meets SOURCE's own checks; the kernel then asks access() of us
	 * instead of fetching the directory's attributes after each create. */
	if ((c.allow_other && fuse_opt_add_arg(&args, "-odefault_permissions")) ||
	    (!c.has_fsname && add_fsname(&args, src)) ||
	    (!c.has_subtype && fuse_opt_add_arg(&args, "-osubtype=directfs"))) {
		fprintf(stderr, "directfs: out of memory\n");
		goto out_engine;
	}
	/* -d / -o debug: every request is logged (FS_TRACE), and libfuse
	 * logs its own lines about each. */
	fs.trace = cmd.debug;
	choose_request_size(&fs);
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!se)
		goto out_engine; /* libfuse said why: an unknown option */
	fs.se = se;
	if (fuse_set_signal_handlers(se))
		goto out_session;
	/* The directory under a mount point below SOURCE, and the mount's
	 * ID, which marks a lookup that crossed into the mount itself. */
	fs.under_fd = inner ? open(mnt, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (inner && fs.under_fd < 0) {
		fprintf(stderr, "directfs: mount point %s: %s\n", mnt, strerror(errno));
		goto out_signals;
	}
	if (fuse_session_mount(se, mnt))
		goto out_signals;
	if (inner && (r = dfs_mountinfo_id(mnt, "fuse.directfs", &fs.own_mnt_id))) {
		fprintf(stderr, "directfs: cannot find its own mount at %s: %s\n", mnt,
			strerror(-r));
		goto out_unmount;
	}
	if (!cmd.foreground) {
		openlog("directfs", LOG_PID, LOG_DAEMON);
		fs.foreground = false;
	}
	fuse_daemonize(cmd.foreground);
	/* After the fork of daemonizing: the engine's threads would not
	 * survive it. */
	r = dfs_engine_create(&eo, &fs.eng);
	if (r) {
		fs_log(&fs, LOG_ERR, "cannot start the engine: %s", strerror(-r));
		ret = 1;
		goto out_unmount;
	}

	r = fs_waits_start(&fs.lock_waits);
	if (r) {
		fs_log(&fs, LOG_ERR, "cannot set up lock waits: %s", strerror(-r));
		ret = 1;
		goto out_unmount;
	}
	session_host_init(&fs.host, fs.eng, &fs_table_host_ops, &fs);
	r = session_commit_start(&fs.host, fs.ifds.max);
	if (r)
		fs_log(&fs, LOG_WARNING,
		       "no committer thread (%s): each release fsyncs its file",
		       strerror(-r));
	r = fs_loop_run(&fs, se, &cmd);
	fs_waits_stop(&fs.lock_waits); /* no reply may follow the session */
	session_commit_stop(&fs.host);
	/* The loop's status is the signal that stopped it, or an error
	 * reading /dev/fuse; either way the data is what matters now. */
	if (r && r != -SIGTERM && r != -SIGINT && r != -SIGHUP && r != SIGTERM &&
	    r != SIGINT && r != SIGHUP)
		fs_log(&fs, LOG_WARNING, "session ended with status %d", r);
	ret = write_out_at_exit(&fs, mnt);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_engine:
	if (fs.eng)
		dfs_engine_destroy(fs.eng);
	fs_handles_free_all();
	fs_table_destroy(&fs);
out_args:
	free(dev_arg);
	fuse_opt_free_args(&args);
	free(cmd.mountpoint);
	cli_free(&c);
	free(fs.groups);
	return ret;
}
