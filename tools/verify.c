/* SPDX-License-Identifier: MIT */
/*
 * verify.c - directfs-progress --verify SRC DEST: does what reached the
 * disk equal the source?
 *
 * It waits until DEST has reached the disk (a file: durable and nobody
 * writing it; a directory: no file below it in flight, by the mount root's
 * list, then each file as for a file), then reads both and compares them:
 *  - DEST through the mount.  Its files are opened with FUSE direct I/O, so
 *    no read is served from the page cache, and with nothing staged the
 *    daemon reads SOURCE with O_DIRECT: the bytes come from the disk.
 *  - SRC with O_DIRECT; where its filesystem refuses that, buffered with
 *    RWF_DONTCACHE, else buffered with POSIX_FADV_DONTNEED behind each
 *    chunk, so the check leaves no page cache behind on either side.
 * A directory is compared as diff -r would: the same names, types, symlink
 * targets and file contents, in name order.  The first difference is
 * named with its offset, and ends the check.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common.h"
#include "verify.h"

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symbolic link";
	case S_IFIFO: return "a fifo";
	case S_IFSOCK: return "a socket";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "of an unknown type";
	}
}

/* ---- progress lines ---- */

void verify_line(struct verify *v, bool force)
{
	double now = now_s(), el = now - v->start;
	uint64_t rate = el > 0 ? (uint64_t)((double)v->done / el) : 0;
	char a[32], b[32], r[32];

	if (!force && now < v->next_line)
		return;
	v->next_line = now + v->interval;
	if (!v->src) { /* checking tags: no total to show */
		if (v->tty)
			printf("\r\033[Kchecking %s: %s read, %s/s, %lu files", v->dest,
			       human(v->done, a, sizeof(a)), human(rate, r, sizeof(r)), v->files);
		else
			printf("%.1f check %s read=%" PRIu64 " rate=%" PRIu64 " files=%lu\n", el,
			       v->dest, v->done, rate, v->files);
	} else if (v->tty) {
		printf("\r\033[Kverifying %s: %s of %s (%.0f%%), %s/s, %lu of %lu files",
		       v->dest, human(v->done, a, sizeof(a)), human(v->total, b, sizeof(b)),
		       v->total ? 100.0 * (double)v->done / (double)v->total : 100.0,
		       human(rate, r, sizeof(r)), v->files, v->nfiles);
	} else {
		printf("%.1f verify %s compared=%" PRIu64 " total=%" PRIu64 " rate=%" PRIu64
		       " files=%lu/%lu\n",
		       el, v->dest, v->done, v->total, rate, v->files, v->nfiles);
	}
	fflush(stdout);
}

/* A difference or trouble on stderr, after the terminal's line. */
int verify_say(struct verify *v, int status, const char *fmt, ...)
{
	va_list ap;

	if (v->tty)
		printf("\n");
	fflush(stdout);
	fputs("directfs-progress: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

/* ---- waiting for DEST to reach the disk ---- */

static bool out_of_time(const struct verify *v)
{
	return v->deadline >= 0 && now_s() >= v->deadline;
}

static void say_waiting(struct verify *v, const char *what)
{
	if (v->said_wait)
		return;
	v->said_wait = true;
	fprintf(stderr, "directfs-progress: waiting for %s to reach the disk\n", what);
}

/* (Only the mount root answers its pid attribute.) */
int verify_find_root(struct verify *v, bool quiet)
{
	char path[PATH_MAX], pid[32];
	struct stat st, up;

	if (!realpath(v->dest, path))
		return verify_say(v, TROUBLE, "%s: %s", v->dest, strerror(errno));
	if (stat(path, &st))
		return verify_say(v, TROUBLE, "%s: %s", v->dest, strerror(errno));
	for (;;) {
		char *slash;
		int r = get_text(path, DFS_ATTR_PID, pid, sizeof(pid));

		if (!r) {
			snprintf(v->root, sizeof(v->root), "%s", path);
			break;
		}
		slash = strrchr(path, '/');
		if (!slash || slash == path)
			return quiet ? TROUBLE
				     : verify_say(v, TROUBLE, "%s: not in a directfs mount",
						  v->dest);
		*slash = '\0';
		/* Past the filesystem DEST is on: no mount root above. */
		if (stat(path, &up) || up.st_dev != st.st_dev)
			return quiet ? TROUBLE
				     : verify_say(v, TROUBLE, "%s: not in a directfs mount",
						  v->dest);
	}
	if (!realpath(v->dest, path))
		return verify_say(v, TROUBLE, "%s: %s", v->dest, strerror(errno));
	const char *rest = path + strlen(v->root);
	while (*rest == '/')
		rest++;
	snprintf(v->rel, sizeof(v->rel), "%s", rest);
	return 0;
}

/* Is a file in flight at the root's path p below DEST? */
static bool below_dest(const struct verify *v, const char *p)
{
	size_t n = strlen(v->rel);

	return !n || (!strncmp(p, v->rel, n) && (p[n] == '/' || !p[n]));
}

/* Wait until no file below DEST is in flight.  0, or TROUBLE said. */
int verify_wait_tree(struct verify *v)
{
	static char buf[DFS_FILES_MAX + 1];

	for (;;) {
		struct dfs_flight f;
		unsigned long long more = 0;
		const char *p = buf;
		ssize_t n = getxattr(v->root, dfs_attr_name(DFS_ATTR_FILES), buf,
				     DFS_FILES_MAX);
		bool busy = false;
		int r;

		if (n < 0)
			return verify_say(v, TROUBLE, "%s: %s", v->root, strerror(errno));
		buf[n] = '\0';
		while ((r = dfs_flight_parse(&p, &f, &more)) > 0)
			if (r == 1 && below_dest(v, f.path))
				busy = true;
		if (r < 0)
			return verify_say(v, TROUBLE, "%s: a list of files it cannot read", v->root);
		busy = busy || more; /* those left out may be below DEST */
		if (!busy)
			return 0;
		if (out_of_time(v))
			return verify_say(v, TROUBLE, "%s: files below it are still being written",
				   v->dest);
		say_waiting(v, v->dest);
		sleep_s(POLL);
	}
}

/* Wait until one file of DEST has ended its copy.  0; DIFFER for a file
 * in error (its data did not all arrive); TROUBLE for the rest; said. */
int verify_wait_file(struct verify *v, const char *path)
{
	for (;;) {
		char state[64];
		enum dfs_state st;
		uint64_t durable;
		struct stat sb;
		int err, r;

		r = get_text(path, DFS_ATTR_STATE, state, sizeof(state));
		if (!r)
			r = dfs_state_parse(state, &st, &err);
		if (!r)
			r = get_u64(path, DFS_ATTR_DURABLE, &durable);
		if (!r && stat(path, &sb))
			r = -errno;
		if (r == -ENODATA || r == -ENOTSUP)
			return verify_say(v, TROUBLE, "%s: not a file in a directfs mount", path);
		if (r)
			return verify_say(v, TROUBLE, "%s: %s", path, strerror(-r));
		if (st == DFS_STATE_ERROR)
			return verify_say(v, DIFFER, "%s: its copy failed (%s)", path,
				   err ? strerrorname_np(-err) : "error");
		if (file_copy_ended(st, durable, (uint64_t)sb.st_size))
			return 0;
		if (out_of_time(v))
			return verify_say(v, TROUBLE, "%s: still being written (%s, %" PRIu64
				   " of %jd bytes durable)", path, state, durable,
				   (intmax_t)sb.st_size);
		say_waiting(v, path);
		sleep_s(POLL);
	}
}

/* ---- reading ---- */

/* Read up to CHUNK bytes at off into buf in *mode, looping on short reads
 * and EINTR; the count (short only at the end of the file) or -errno.  A
 * mode SRC refuses is dropped for the next (for this file and the rest:
 * *mode is v->mode), and the chunk read again. */
ssize_t verify_read_chunk(enum read_mode *mode, int *fd, const char *path, char *buf,
			  off_t off)
{
	size_t got = 0;

	while (got < CHUNK) {
		struct iovec iov = {buf + got, CHUNK - got};
		ssize_t n;

		if (*mode == SRC_DONTCACHE)
			n = preadv2(*fd, &iov, 1, off + (off_t)got, RWF_DONTCACHE);
		else
			n = pread(*fd, iov.iov_base, iov.iov_len, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && *mode == SRC_DIRECT && errno == EINVAL) {
			/* Direct I/O refused at this alignment or at all. */
			int nfd = open(path, O_RDONLY | O_CLOEXEC);
			if (nfd < 0)
				return -errno;
			close(*fd);
			*fd = nfd;
			*mode = SRC_DONTCACHE;
			continue;
		}
		if (n < 0 && *mode == SRC_DONTCACHE &&
		    (errno == EOPNOTSUPP || errno == EINVAL)) {
			*mode = SRC_FADVISE;
			continue;
		}
		if (n < 0)
			return -errno;
		if (!n)
			break;
		got += (size_t)n;
		if (*mode == SRC_DIRECT && got % 512)
			break; /* a direct read ends short only at the end */
	}
	if (*mode == SRC_FADVISE && got)
		posix_fadvise(*fd, off, (off_t)got, POSIX_FADV_DONTNEED);
	return (ssize_t)got;
}

int verify_open_uncached(struct verify *v, const char *path)
{
	int fd = -1;

	if (v->mode == SRC_DIRECT)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && (v->mode != SRC_DIRECT || errno == EINVAL)) {
		if (v->mode == SRC_DIRECT)
			v->mode = SRC_DONTCACHE;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

/* ---- comparing ---- */

/* The contents of two regular files, DEST once it has reached the disk. */
static int compare_file(struct verify *v, const char *s, const char *d)
{
	enum read_mode dmode = READ_PLAIN;
	int sfd, dfd, rc = SAME;
	off_t off = 0;

	rc = verify_wait_file(v, d);
	if (rc)
		return rc;
	sfd = verify_open_uncached(v, s);
	if (sfd < 0)
		return verify_say(v, TROUBLE, "%s: %s", s, strerror(-sfd));
	dfd = open(d, O_RDONLY | O_CLOEXEC);
	if (dfd < 0) {
		close(sfd);
		return verify_say(v, TROUBLE, "%s: %s", d, strerror(errno));
	}
	for (;;) {
		ssize_t a = verify_read_chunk(&v->mode, &sfd, s, v->sbuf, off);
		ssize_t b = a < 0 ? 0 : verify_read_chunk(&dmode, &dfd, d, v->dbuf, off);
		size_t n;

		if (a < 0 || b < 0) {
			rc = verify_say(v, TROUBLE, "%s: %s", a < 0 ? s : d,
				 strerror(a < 0 ? (int)-a : (int)-b));
			break;
		}
		n = (size_t)(a < b ? a : b);
		if (memcmp(v->sbuf, v->dbuf, n)) {
			size_t i = 0;
			while (v->sbuf[i] == v->dbuf[i])
				i++;
			rc = verify_say(v, DIFFER, "%s differs from %s at offset %jd", d, s,
				 (intmax_t)(off + (off_t)i));
			break;
		}
		if (a != b) {
			rc = verify_say(v, DIFFER, "%s is %s than %s: they differ at offset %jd", d,
				 a > b ? "shorter" : "longer", s, (intmax_t)(off + (off_t)n));
			break;
		}
		v->done += (uint64_t)n;
		off += (off_t)n;
		verify_line(v, false);
		if ((size_t)a < CHUNK)
			break;
	}
	close(sfd);
	close(dfd);
	if (!rc)
		v->files++;
	return rc;
}

static int compare(struct verify *v, const char *s, const char *d);

int verify_filter_dots(const struct dirent *e)
{
	return strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
}

/* Two directories: the same names, each pair compared, in name order. */
static int compare_dir(struct verify *v, const char *s, const char *d)
{
	struct dirent **sl = NULL, **dl = NULL;
	int ns = scandir(s, &sl, verify_filter_dots, alphasort);
	int nd = ns < 0 ? 0 : scandir(d, &dl, verify_filter_dots, alphasort);
	int rc = SAME, i = 0, j = 0;

	if (ns < 0 || nd < 0)
		rc = verify_say(v, TROUBLE, "%s: %s", ns < 0 ? s : d, strerror(errno));
	while (!rc && (i < ns || j < nd)) {
		int c = i == ns ? 1 : j == nd ? -1 : strcmp(sl[i]->d_name, dl[j]->d_name);
		char *sp, *dp;

		if (c < 0)
			rc = verify_say(v, DIFFER, "%s/%s: missing (it is in %s)", d, sl[i]->d_name, s);
		else if (c > 0)
			rc = verify_say(v, DIFFER, "%s/%s: not in %s", d, dl[j]->d_name, s);
		else if (asprintf(&sp, "%s/%s", s, sl[i]->d_name) < 0)
			rc = verify_say(v, TROUBLE, "%s", strerror(ENOMEM));
		else {
			if (asprintf(&dp, "%s/%s", d, dl[j]->d_name) < 0)
				rc = verify_say(v, TROUBLE, "%s", strerror(ENOMEM));
			else {
				rc = compare(v, sp, dp);
				free(dp);
			}
			free(sp);
			i++;
			j++;
		}
	}
	for (i = 0; i < ns; i++)
		free(sl[i]);
	for (j = 0; j < nd; j++)
		free(dl[j]);
	free(sl);
	free(dl);
	return rc;
}

/* Two symbolic links: the same target. */
static int compare_link(struct verify *v, const char *s, const char *d)
{
	char a[PATH_MAX], b[PATH_MAX];
	ssize_t na = readlink(s, a, sizeof(a) - 1), nb;

	if (na < 0)
		return verify_say(v, TROUBLE, "%s: %s", s, strerror(errno));
	nb = readlink(d, b, sizeof(b) - 1);
	if (nb < 0)
		return verify_say(v, TROUBLE, "%s: %s", d, strerror(errno));
	a[na] = b[nb] = '\0';
	if (strcmp(a, b))
		return verify_say(v, DIFFER, "%s points to '%s', %s to '%s'", d, b, s, a);
	return SAME;
}

static int compare(struct verify *v, const char *s, const char *d)
{
	struct stat ss, ds;

	if (lstat(s, &ss))
		return verify_say(v, TROUBLE, "%s: %s", s, strerror(errno));
	if (lstat(d, &ds))
		return errno == ENOENT ? verify_say(v, DIFFER, "%s: missing", d)
				       : verify_say(v, TROUBLE, "%s: %s", d, strerror(errno));
	if ((ss.st_mode & S_IFMT) != (ds.st_mode & S_IFMT))
		return verify_say(v, DIFFER, "%s is %s, %s %s", d, type_name(ds.st_mode), s,
			   type_name(ss.st_mode));
	switch (ss.st_mode & S_IFMT) {
	case S_IFREG: return compare_file(v, s, d);
	case S_IFDIR: return compare_dir(v, s, d);
	case S_IFLNK: return compare_link(v, s, d);
	case S_IFCHR:
	case S_IFBLK:
		if (ss.st_rdev != ds.st_rdev)
			return verify_say(v, DIFFER, "%s is another device than %s", d, s);
		return SAME;
	default: return SAME; /* a fifo or a socket has no contents */
	}
}

/* What SRC holds, for the progress line: regular files and their bytes. */
static void count(struct verify *v, const char *path)
{
	struct stat st;
	struct dirent **l;
	int n;

	if (lstat(path, &st))
		return;
	if (S_ISREG(st.st_mode)) {
		v->nfiles++;
		v->total += (uint64_t)st.st_size;
		return;
	}
	if (!S_ISDIR(st.st_mode) || (n = scandir(path, &l, verify_filter_dots, NULL)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char *p;
		if (asprintf(&p, "%s/%s", path, l[i]->d_name) >= 0) {
			count(v, p);
			free(p);
		}
		free(l[i]);
	}
	free(l);
}

int verify_main(const char *src, const char *dest, double interval, double wait)
{
	struct verify v = {.src = src, .dest = dest, .interval = interval,
			   .tty = isatty(STDOUT_FILENO), .mode = SRC_DIRECT};
	struct stat st;
	char a[32], r[32];
	int rc;

	v.start = now_s();
	v.deadline = wait < 0 ? -1 : v.start + wait;
	if (stat(src, &st))
		return verify_say(&v, TROUBLE, "%s: %s", src, strerror(errno));
	if (lstat(dest, &st))
		return errno == ENOENT ? verify_say(&v, DIFFER, "%s: missing", dest)
				       : verify_say(&v, TROUBLE, "%s: %s", dest, strerror(errno));
	rc = verify_find_root(&v, false);
	if (rc)
		return rc;
	if (S_ISDIR(st.st_mode)) {
		rc = verify_wait_tree(&v);
		if (rc)
			return rc;
	}
	if (posix_memalign((void **)&v.sbuf, 4096, CHUNK) ||
	    posix_memalign((void **)&v.dbuf, 4096, CHUNK))
		return verify_say(&v, TROUBLE, "%s", strerror(ENOMEM));
	count(&v, src);
	v.start = now_s(); /* the rate is of the reading, not the wait */
	v.next_line = v.start;
	verify_line(&v, true);
	rc = compare(&v, src, dest);
	free(v.sbuf);
	free(v.dbuf);
	if (rc)
		return rc;
	double el = now_s() - v.start;
	verify_line(&v, true);
	if (v.tty)
		printf("\n");
	printf("verified %s: the same as %s (%lu files, %s, %s/s)\n", dest, src, v.files,
	       human(v.done, a, sizeof(a)),
	       human(el > 0 ? (uint64_t)((double)v.done / el) : 0, r, sizeof(r)));
	return SAME;
}
