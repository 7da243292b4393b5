/* SPDX-License-Identifier: MIT */
/*
 * tags.c - directfs-progress --verify DEST: does every file below DEST
 * still hold the bytes its checksum tag was made of (dfs_sum.h)?
 *
 * It needs no source: the daemon summed each file as it was copied in and
 * kept the sum on SOURCE.  DEST may be in a directfs mount (then the
 * check waits until DEST has reached the disk, and reads through the
 * mount, which reads SOURCE with O_DIRECT) or on a plain disk later, read
 * with O_DIRECT (verify.c's fallbacks where the filesystem refuses it).
 * Either way no page of it stays cached.
 *
 * Each regular file is reported on a line of its own:
 *   same KIND PATH       a current tag, and the bytes read match it
 *   CORRUPT KIND PATH    a current tag, and the bytes read do not
 *   stale PATH           tags, none current: the file changed since (mtime)
 *   untagged PATH        no tag
 * A file with tags of both kinds is read once and checked against each.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dfs_sum.h"
#include "verify.h"

struct held_tag {
	enum dfs_sum_kind kind;
	char want[DFS_SUM_HEX_MAX];
	struct dfs_sum sum;
};

static void report(const char *word, const char *kind, const char *path)
{
	printf("%s%s%s %s\n", word, kind ? " " : "", kind ? kind : "", path);
}

/* The bytes of one regular file against its current tags. */
static int check_file(struct verify *v, const char *path)
{
	struct held_tag tags[DFS_SUM_KINDS] = {0};
	enum read_mode mode = v->mounted ? READ_PLAIN : v->mode;
	struct stat st, after;
	int n = 0, nstale = 0, fd, rc = SAME;
	off_t off = 0;

	if (v->mounted) {
		rc = verify_wait_file(v, path);
		if (rc)
			return rc;
	}
	if (!v->mounted)
		fd = verify_open_uncached(v, path);
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		fd = -errno;
	if (fd < 0)
		return verify_say(v, TROUBLE, "%s: %s", path, strerror(-fd));
	if (!v->mounted)
		mode = v->mode; /* what the open found the filesystem takes */
	if (fstat(fd, &st)) {
		close(fd);
		return verify_say(v, TROUBLE, "%s: %s", path, strerror(errno));
	}
	for (int k = DFS_SUM_OFF + 1; k < DFS_SUM_KINDS; k++) {
		bool current = false;
		int r = dfs_tag_get(path, k, &st.st_mtim, tags[n].want, &current);

		if (r == -ENODATA)
			continue;
		if (r) {
			close(fd);
			return verify_say(v, TROUBLE, "%s: its %s tag: %s", path,
					  dfs_sum_name(k), strerror(-r));
		}
		if (!current) {
			nstale++;
			continue;
		}
		tags[n].kind = k;
		if (dfs_sum_init(&tags[n].sum, k)) {
			close(fd);
			return verify_say(v, TROUBLE, "%s", strerror(ENOMEM));
		}
		n++;
	}
	if (!n) {
		close(fd);
		if (nstale) {
			v->stale++;
			report("stale", NULL, path);
		} else {
			v->untagged++;
			report("untagged", NULL, path);
		}
		return SAME;
	}
	for (;;) {
		ssize_t got = verify_read_chunk(&mode, &fd, path, v->dbuf, off);

		if (got < 0) {
			rc = verify_say(v, TROUBLE, "%s: %s", path, strerror((int)-got));
			break;
		}
		for (int i = 0; i < n; i++)
			dfs_sum_update(&tags[i].sum, v->dbuf, (size_t)got);
		off += got;
		v->done += (uint64_t)got;
		verify_line(v, false);
		if (got < CHUNK)
			break;
	}
	/* Changed while read (a writer beside the check): say nothing of it. */
	if (!rc && (fstat(fd, &after) || after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
		    after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || after.st_size != off)) {
		v->stale++;
		report("stale", NULL, path);
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		char got[DFS_SUM_HEX_MAX];

		if (rc)
			break;
		dfs_sum_hex(&tags[i].sum, got);
		if (!strcmp(got, tags[i].want)) {
			report("same", dfs_sum_name(tags[i].kind), path);
			continue;
		}
		if (v->tty)
			printf("\n");
		report("CORRUPT", dfs_sum_name(tags[i].kind), path);
		fprintf(stderr, "directfs-progress: %s: its %s tag says %s, its bytes sum to %s\n",
			path, dfs_sum_name(tags[i].kind), tags[i].want, got);
		rc = DIFFER;
	}
	for (int i = 0; i < DFS_SUM_KINDS; i++)
		dfs_sum_free(&tags[i].sum);
	close(fd);
	if (rc == DIFFER) {
		v->corrupt++;
		return SAME; /* the rest are still checked */
	}
	if (!rc && n)
		v->same++;
	v->files++;
	return rc;
}

static int check(struct verify *v, const char *path)
{
	struct dirent **l;
	struct stat st;
	int n, rc = SAME;

	if (lstat(path, &st))
		return verify_say(v, TROUBLE, "%s: %s", path, strerror(errno));
	if (S_ISREG(st.st_mode))
		return check_file(v, path);
	if (!S_ISDIR(st.st_mode))
		return SAME;
	n = scandir(path, &l, verify_filter_dots, alphasort);
	if (n < 0)
		return verify_say(v, TROUBLE, "%s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++) {
		char *p;

		if (!rc && asprintf(&p, "%s/%s", path, l[i]->d_name) >= 0) {
			rc = check(v, p);
			free(p);
		}
		free(l[i]);
	}
	free(l);
	return rc;
}

int tags_main(const char *dest, double interval, double wait)
{
	struct verify v = {.dest = dest, .interval = interval, .tty = isatty(STDOUT_FILENO),
			   .mode = SRC_DIRECT};
	struct stat st;
	char a[32];
	int rc;

	v.start = now_s();
	v.deadline = wait < 0 ? -1 : v.start + wait;
	if (lstat(dest, &st))
		return verify_say(&v, TROUBLE, "%s: %s", dest, strerror(errno));
	v.mounted = verify_find_root(&v, true) == SAME;
	if (v.mounted && S_ISDIR(st.st_mode)) {
		rc = verify_wait_tree(&v);
		if (rc)
			return rc;
	}
	if (posix_memalign((void **)&v.dbuf, 4096, CHUNK))
		return verify_say(&v, TROUBLE, "%s", strerror(ENOMEM));
	v.start = now_s();
	v.next_line = v.start + v.interval; /* no line for a check done sooner */
	rc = check(&v, dest);
	free(v.dbuf);
	if (rc)
		return rc;
	if (v.tty && v.done)
		printf("\r\033[K");
	printf("checked %s: %lu same, %lu corrupt, %lu stale, %lu untagged (%s read)\n", dest,
	       v.same, v.corrupt, v.stale, v.untagged, human(v.done, a, sizeof(a)));
	return v.corrupt ? DIFFER : SAME;
}
