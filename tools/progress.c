/* SPDX-License-Identifier: MIT */
/*
 * directfs-progress - live progress of writes into a directfs mount, read
 * from the progress attributes (names and state words: lib/dfs_progress.h).
 *
 *   directfs-progress [-i SECONDS] [-w SECONDS] TARGET...
 *
 * A TARGET is a file in a directfs mount, or the mount's root for the whole
 * mount.  On a terminal each target has one line, redrawn in place, in
 * human units; otherwise a plain line per target is printed every interval
 * with figures in bytes, for scripts and logs:
 *
 *   TIME TARGET written=N durable=N pending=N rate=N state=S
 *
 * A file's copy has ended when nobody has it open for writing any more and
 * all of it is durable; the mount's, when no file is open and nothing is
 * pending for two samples in a row (cp -r opens one file after another).
 * Exit 0 once every target has ended; 1 as soon as one is in error, naming
 * it and the errno; 2 for a bad invocation or a target that is not in a
 * directfs mount.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "dfs_progress.h"

struct target {
	const char *path;
	bool root;
	bool done, reported;
	int idle_samples;
	double t0, tprev;
	uint64_t written0, prev_written;
	/* the latest sample */
	uint64_t written, durable, pending, rate, open_files, size;
	char state[64]; /* as read */
	enum dfs_state st;
	int err; /* of a file in error, -errno */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One attribute as text; 0 or -errno. */
static int get_text(const char *path, enum dfs_attr a, char *buf, size_t len)
{
	ssize_t n = getxattr(path, dfs_attr_name(a), buf, len - 1);

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

static int get_u64(const char *path, enum dfs_attr a, uint64_t *v)
{
	char buf[32], *end;
	int r = get_text(path, a, buf, sizeof(buf));

	if (r)
		return r;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno || *end || end == buf ? -EINVAL : 0;
}

static int sample(struct target *t)
{
	struct stat st;
	int r;

	/* One at a time, so in an order that keeps a line consistent while
	 * they move: written last covers what pending and durable counted. */
	r = get_text(t->path, DFS_ATTR_STATE, t->state, sizeof(t->state));
	if (!r)
		r = dfs_state_parse(t->state, &t->st, &t->err);
	if (!r)
		r = get_u64(t->path, DFS_ATTR_PENDING, &t->pending);
	if (!r)
		r = get_u64(t->path, DFS_ATTR_DURABLE, &t->durable);
	if (!r)
		r = get_u64(t->path, DFS_ATTR_WRITTEN, &t->written);
	if (!r && t->root) {
		r = get_u64(t->path, DFS_ATTR_RATE, &t->rate);
		if (!r)
			r = get_u64(t->path, DFS_ATTR_OPEN_FILES, &t->open_files);
	}
	if (!r && !t->root) {
		if (stat(t->path, &st))
			return -errno;
		t->size = (uint64_t)st.st_size;
	}
	return r;
}

static const char *human(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.*f %s", x < 10 ? 2 : x < 100 ? 1 : 0, x, units[u]);
	return buf;
}

/* Update a file target's rate from its samples: bytes written per second
 * over the last interval. */
static void file_rate(struct target *t, double now)
{
	/* Samples closer than this (the first one after the start) would
	 * make noise of a rate; the next sample measures it. */
	if (t->tprev > 0 && now - t->tprev < 0.05)
		return;
	if (t->tprev > 0 && t->written >= t->prev_written)
		t->rate = (uint64_t)((double)(t->written - t->prev_written) /
				     (now - t->tprev));
	t->tprev = now;
	t->prev_written = t->written;
}

static bool ended(struct target *t)
{
	bool quiet = t->st == DFS_STATE_IDLE || t->st == DFS_STATE_FALLBACK;

	if (t->root) {
		quiet = quiet && !t->open_files && !t->pending;
		t->idle_samples = quiet ? t->idle_samples + 1 : 0;
		return t->idle_samples >= 2;
	}
	return quiet && t->durable >= t->size;
}

static void print_plain(const struct target *t, double now, double start)
{
	printf("%.1f %s written=%" PRIu64 " durable=%" PRIu64 " pending=%" PRIu64
	       " rate=%" PRIu64 " state=%s\n",
	       now - start, t->path, t->written, t->durable, t->pending, t->rate,
	       t->state);
}

static void print_human(const struct target *t, double now)
{
	char w[32], d[32], r[32];
	uint64_t rate = t->rate;

	/* A finished target shows its average rate over the watch. */
	if (t->done && now > t->t0 && t->written > t->written0)
		rate = (uint64_t)((double)(t->written - t->written0) / (now - t->t0));
	printf("\r\033[K%s: %s written, %s durable, %s/s, %s", t->path,
	       human(t->written, w, sizeof(w)), human(t->durable, d, sizeof(d)),
	       human(rate, r, sizeof(r)), t->state);
	if (t->root)
		printf(", %" PRIu64 " open", t->open_files);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: directfs-progress [-i SECONDS] [-w SECONDS] TARGET...\n"
		"Show the progress of writes into a directfs mount.  A TARGET is a file\n"
		"in the mount, or the mount's root for the whole mount.\n"
		"  -i SECONDS  interval between samples (default 1 on a terminal, 10 "
		"otherwise)\n"
		"  -w SECONDS  how long to wait for a TARGET to appear (default 10)\n"
		"  -h          this help\n"
		"Exit 0 when every copy has ended and is durable, 1 on a file in error,\n"
		"2 on a bad invocation or a TARGET outside a directfs mount.\n");
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !isfinite(v) || v < 0 || v > 86400)
		return false;
	*out = v;
	return true;
}

static void sleep_s(double s)
{
	struct timespec ts = {.tv_sec = (time_t)s,
			      .tv_nsec = (long)((s - floor(s)) * 1e9)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Wait up to wait seconds for path to exist, saying so on stderr once;
 * 0 or -errno. */
static int appear(const char *path, double wait)
{
	struct stat st;
	double until = now_s() + wait;
	bool said = false;

	for (;;) {
		if (!stat(path, &st))
			return 0;
		if (errno != ENOENT || now_s() >= until)
			return -errno;
		if (!said) {
			fprintf(stderr, "directfs-progress: waiting for %s to appear\n", path);
			said = true;
		}
		sleep_s(0.1);
	}
}

/* Wait for each target to appear and take its first sample; 0, or 2
 * (said on stderr) if one cannot be watched. */
static int open_targets(struct target *ts, int n, char **paths, double wait)
{
	for (int i = 0; i < n; i++) {
		struct target *t = &ts[i];
		char pid[32];
		int r;

		t->path = paths[i];
		r = appear(t->path, wait);
		if (r) {
			fprintf(stderr, "directfs-progress: %s: %s\n", t->path,
				strerror(-r));
			return 2;
		}
		/* Only the mount root answers the root's attributes. */
		t->root = get_text(t->path, DFS_ATTR_PID, pid, sizeof(pid)) == 0;
		r = sample(t);
		if (r == -ENODATA || r == -ENOTSUP) {
			fprintf(stderr,
				"directfs-progress: %s: not a file in a directfs mount\n",
				t->path);
			return 2;
		}
		if (r) {
			fprintf(stderr, "directfs-progress: %s: %s\n", t->path,
				strerror(-r));
			return 2;
		}
		t->t0 = now_s();
		t->written0 = t->written;
		if (!t->root)
			file_rate(t, t->t0);
	}
	return 0;
}

/* Sample and print until every target has ended (0) or one is in
 * error (1). */
static int watch(struct target *ts, int n, bool tty, double interval, double start)
{
	int left, lines = 0;

	for (left = n;;) {
		double now = now_s();

		if (tty && lines > 1)
			printf("\033[%dA", lines - 1);
		lines = 0;
		for (int i = 0; i < n; i++) {
			struct target *t = &ts[i];

			if (!t->done) {
				int r = sample(t);
				if (r) {
					fprintf(stderr, "%sdirectfs-progress: %s: %s\n",
						tty ? "\n" : "", t->path, strerror(-r));
					return 1;
				}
				if (!t->root)
					file_rate(t, now);
				if (t->st == DFS_STATE_ERROR) {
					if (tty)
						printf("\n");
					if (t->root || !t->err)
						fprintf(stderr,
							"directfs-progress: %s: a file "
							"in this "
							"mount is in error (see the "
							"daemon's log)\n",
							t->path);
					else
						fprintf(stderr,
							"directfs-progress: %s: %s "
							"(%s)\n",
							t->path, strerrorname_np(-t->err),
							strerror(-t->err));
					return 1;
				}
				if (ended(t)) {
					t->done = true;
					left--;
				}
			}
			if (tty) {
				if (lines)
					printf("\n");
				print_human(t, now);
				lines++;
			} else if (!t->reported) {
				print_plain(t, now, start);
				t->reported = t->done; /* its last line printed */
			}
		}
		fflush(stdout);
		if (!left)
			break;
		sleep_s(interval);
	}
	if (tty)
		printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	bool tty = isatty(STDOUT_FILENO);
	double interval = tty ? 1 : 10, wait = 10;
	int opt, ntargets, r;

	while ((opt = getopt(argc, argv, "i:w:h")) != -1) {
		switch (opt) {
		case 'i':
			if (!parse_seconds(optarg, &interval) || interval < 0.01) {
				fprintf(stderr, "directfs-progress: bad interval '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'w':
			if (!parse_seconds(optarg, &wait)) {
				fprintf(stderr, "directfs-progress: bad wait '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	ntargets = argc - optind;
	if (ntargets < 1) {
		usage(stderr);
		return 2;
	}
	struct target *ts = calloc((size_t)ntargets, sizeof(*ts));
	if (!ts) {
		perror("directfs-progress");
		return 2;
	}
	double start = now_s();
	r = open_targets(ts, ntargets, argv + optind, wait);
	if (!r)
		r = watch(ts, ntargets, tty, interval, start);
	free(ts);
	return r;
}
