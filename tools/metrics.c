/* SPDX-License-Identifier: MIT */
/*
 * metrics.c - directfs-progress --prometheus: the mount-wide progress
 * figures of directfs mounts in Prometheus's text exposition format, for
 * node_exporter's textfile collector (a systemd timer runs it every 15 s:
 * mount-helpers/directfs-metrics.service, .timer).
 *
 * One label set per mount: mountpoint and source.  Counters (since the
 * mount; a new mount starts them again, which Prometheus takes as a
 * reset) and gauges, from the root's attributes (lib/dfs_progress.h).
 * Without MOUNTs, every mount of type fuse.directfs in /proc/self/mountinfo.
 * With --output FILE the text goes to a temporary file beside FILE, which
 * then replaces it (rename), so the collector never reads half of one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "dfs_mountinfo.h"

static const struct {
	enum dfs_attr attr;
	const char *name, *type, *help;
} metrics[] = {
	{DFS_ATTR_WRITTEN, "directfs_written_bytes_total", "counter",
	 "Bytes applications wrote through the mount."},
	{DFS_ATTR_SYNCED, "directfs_synced_bytes_total", "counter",
	 "Bytes of those written out to SOURCE."},
	{DFS_ATTR_DURABLE, "directfs_durable_bytes_total", "counter",
	 "Bytes of those covered by a completed fsync."},
	{DFS_ATTR_FILES_DONE, "directfs_files_completed_total", "counter",
	 "Files written through the mount and made durable."},
	{DFS_ATTR_FILES_FAILED, "directfs_files_failed_total", "counter",
	 "Files whose write-out or fsync failed."},
	{DFS_ATTR_PENDING, "directfs_pending_bytes", "gauge",
	 "Bytes staged in memory or in flight, not yet on SOURCE."},
	{DFS_ATTR_OPEN_FILES, "directfs_open_files", "gauge", "Files open through the mount."},
	{DFS_ATTR_RATE, "directfs_write_rate_bytes_per_second", "gauge",
	 "How fast written grew over the last second."},
	{DFS_ATTR_ERROR_FILES, "directfs_error_files", "gauge",
	 "Files in error whose error no application has seen yet."},
};
#define NMETRICS (sizeof(metrics) / sizeof(metrics[0]))

struct mount {
	char *point, *source;
	uint64_t v[NMETRICS];
};

/* A label value: backslash, double quote and newline escaped. */
static void label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(out, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

struct found {
	struct mount *ms;
	int n;
};

static int add_mount(void *arg, uint64_t id, const char *point, const char *type,
		     const char *source)
{
	struct found *f = arg;
	struct mount *m;

	(void)id;
	if (strcmp(type, "fuse.directfs"))
		return 0;
	m = realloc(f->ms, (size_t)(f->n + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	f->ms = m;
	m[f->n] = (struct mount){.point = strdup(point), .source = strdup(source)};
	if (!m[f->n].point || !m[f->n].source) {
		free(m[f->n].point);
		free(m[f->n].source);
		return -ENOMEM;
	}
	f->n++;
	return 0;
}

/* Every fuse.directfs mount, in mountinfo's order: 0 or -errno. */
static int find_mounts(struct mount **out, int *n)
{
	struct found f = {0};
	int r = dfs_mountinfo_each(add_mount, &f);

	*out = f.ms;
	*n = f.n;
	return r;
}

/* The figures of one mount's root: 0 or -errno (-ENODATA: not one). */
static int sample(struct mount *m)
{
	for (size_t i = 0; i < NMETRICS; i++) {
		int r = get_u64(m->point, metrics[i].attr, &m->v[i]);
		if (r)
			return r;
	}
	return 0;
}

static void print(FILE *out, const struct mount *ms, int n)
{
	for (size_t i = 0; i < NMETRICS; i++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", metrics[i].name, metrics[i].help,
			metrics[i].name, metrics[i].type);
		for (int k = 0; k < n; k++) {
			fprintf(out, "%s{mountpoint=\"", metrics[i].name);
			label(out, ms[k].point);
			fputs("\",source=\"", out);
			label(out, ms[k].source ? ms[k].source : "");
			fprintf(out, "\"} %" PRIu64 "\n", ms[k].v[i]);
		}
	}
}

/* Write to a temporary file beside path, then rename it over path. */
static int write_atomically(const char *path, const struct mount *ms, int n)
{
	char tmp[PATH_MAX];
	FILE *out;
	int r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	out = fopen(tmp, "we");
	if (!out)
		return -errno;
	print(out, ms, n);
	if (fflush(out) || ferror(out) || fsync(fileno(out)))
		r = errno ? -errno : -EIO;
	if (fclose(out) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int metrics_main(char **points, int npoints, const char *output)
{
	struct mount *ms = NULL, *all = NULL;
	int n = 0, nall = 0, r, rc = 0;

	r = find_mounts(&all, &nall);
	if (r) {
		fprintf(stderr, "directfs-progress: /proc/self/mountinfo: %s\n", strerror(-r));
		return 2;
	}
	if (npoints) {
		/* The mounts named, each with its source where mountinfo has it. */
		ms = calloc((size_t)npoints, sizeof(*ms));
		if (!ms) {
			perror("directfs-progress");
			rc = 2;
			goto out;
		}
		for (n = 0; n < npoints; n++) {
			char real[PATH_MAX];

			ms[n].point = realpath(points[n], real) ? strdup(real) : strdup(points[n]);
			for (int k = 0; k < nall; k++)
				if (!strcmp(all[k].point, ms[n].point))
					ms[n].source = strdup(all[k].source);
		}
	} else {
		ms = all;
		n = nall;
		all = NULL;
		nall = 0;
	}
	for (int k = 0; k < n; k++) {
		r = sample(&ms[k]);
		if (!r)
			continue;
		fprintf(stderr, "directfs-progress: %s: %s\n", ms[k].point,
			r == -ENODATA || r == -ENOTSUP ? "not the root of a directfs mount"
						       : strerror(-r));
		if (npoints) {
			rc = 2; /* a mount asked for */
			continue;
		}
		/* Found, but not ours to read (another user's, without
		 * allow_other): the others are still reported. */
		free(ms[k].point);
		free(ms[k].source);
		memmove(&ms[k], &ms[k + 1], (size_t)(n - k - 1) * sizeof(*ms));
		n--;
		k--;
	}
	if (!rc) {
		if (!output) {
			print(stdout, ms, n);
			if (fflush(stdout))
				rc = 2;
		} else if ((r = write_atomically(output, ms, n))) {
			fprintf(stderr, "directfs-progress: %s: %s\n", output, strerror(-r));
			rc = 2;
		}
	}
out:
	for (int k = 0; k < n; k++) {
		free(ms[k].point);
		free(ms[k].source);
	}
	for (int k = 0; k < nall; k++) {
		free(all[k].point);
		free(all[k].source);
	}
	free(ms);
	free(all);
	return rc;
}
