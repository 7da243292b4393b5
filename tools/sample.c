/* SPDX-License-Identifier: MIT */
/*
 * sample.c - reading a watched target's progress attributes (watch.h):
 * its figures, the root's files in flight, the rate of each line, the
 * copy's own span, and whether its copy has ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "common.h"
#include "watch.h"

/* The mount root's copy has ended after this long with no file open and
 * nothing pending: far longer than cp -r's gap between two files. */
#define ROOT_QUIET 1.0
/* Lines closer than this make noise of a rate; the next one measures. */
#define RATE_MIN_INTERVAL 0.05

static void rate_update(struct rate *r, uint64_t count, double now)
{
	if (r->tprev > 0 && now - r->tprev < RATE_MIN_INTERVAL)
		return;
	if (r->tprev > 0)
		r->bps = count >= r->prev
				 ? (uint64_t)((double)(count - r->prev) / (now - r->tprev))
				 : 0; /* a new session of the file began */
	r->tprev = now;
	r->prev = count;
}

static void span_update(struct span *s, uint64_t written, uint64_t pending, double now)
{
	if (s->tprev > 0 && (written != s->wprev || pending != s->pprev)) {
		double mid = (s->tprev + now) / 2;

		if (s->first < 0 || written < s->wprev) {
			/* The first move, or a new session of the file began:
			 * its written counts from 0 again. */
			s->first = mid;
			s->base = written < s->wprev ? 0 : s->wprev;
		}
		s->last = mid;
		s->bytes = written - s->base;
	}
	s->tprev = now;
	s->wprev = written;
	s->pprev = pending;
}

/* Bytes per second over the span; 0 if nothing moved.  A copy within one
 * sample interval is taken to have lasted half of one. */
static uint64_t span_rate(const struct span *s)
{
	double d = s->last - s->first;

	if (s->first < 0 || !s->bytes)
		return 0;
	if (d < SAMPLE_EVERY / 2)
		d = SAMPLE_EVERY / 2;
	return (uint64_t)((double)s->bytes / d);
}

static struct flight *flight_find(struct target *t, const char *path)
{
	for (size_t i = 0; i < t->nfl; i++)
		if (!strcmp(t->fl[i].f.path, path))
			return &t->fl[i];
	return NULL;
}

/* The root's files in flight.  A file new to the list counts its rate
 * from the root's previous line: its copy began after that. */
static int sample_flights(struct target *t)
{
	struct dfs_flight f;
	const char *p;
	size_t keep = 0;
	int r;

	if (!t->files_buf && !(t->files_buf = malloc(DFS_FILES_MAX + 1)))
		return -ENOMEM;
	ssize_t n = getxattr(t->path, dfs_attr_name(DFS_ATTR_FILES), t->files_buf,
			     DFS_FILES_MAX);
	if (n < 0)
		return -errno;
	t->files_buf[n] = '\0';
	for (size_t i = 0; i < t->nfl; i++)
		t->fl[i].seen = false;
	t->more = 0;
	for (p = t->files_buf; (r = dfs_flight_parse(&p, &f, &t->more)) > 0;) {
		if (r != 1)
			continue;
		struct flight *e = flight_find(t, f.path);
		if (!e) {
			if (t->nfl == t->capfl) {
				size_t cap = t->capfl ? 2 * t->capfl : 16;
				struct flight *nf = realloc(t->fl, cap * sizeof(*nf));
				if (!nf)
					return -ENOMEM;
				t->fl = nf;
				t->capfl = cap;
			}
			e = &t->fl[t->nfl++];
			memset(e, 0, sizeof(*e));
			e->r.tprev = t->r.tprev;
		}
		e->f = f;
		e->seen = true;
	}
	if (r < 0)
		return r;
	/* Those no longer in flight leave the list. */
	for (size_t i = 0; i < t->nfl; i++)
		if (t->fl[i].seen)
			t->fl[keep++] = t->fl[i];
	t->nfl = keep;
	return 0;
}

int target_sample(struct target *t, double now)
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
		r = get_u64(t->path, DFS_ATTR_OPEN_FILES, &t->open_files);
		if (!r)
			r = sample_flights(t);
	}
	if (!r && !t->root) {
		if (stat(t->path, &st))
			return -errno;
		t->size = (uint64_t)st.st_size;
	}
	if (!r)
		span_update(&t->sp, t->written, t->pending, now);
	return r;
}

void target_line_rates(struct target *t, double now)
{
	for (size_t i = 0; i < t->nfl; i++)
		rate_update(&t->fl[i].r, t->fl[i].f.written, now);
	rate_update(&t->r, t->written, now);
}

uint64_t target_copied(const struct target *t)
{
	return t->root ? t->written - t->written0 : t->written;
}

uint64_t target_average_rate(const struct target *t)
{
	return span_rate(&t->sp);
}

double target_eta(const struct target *t)
{
	uint64_t avg = target_average_rate(t), done = target_copied(t);

	if (!t->total)
		return -1;
	if (t->done || done >= t->total)
		return 0; /* ended (short of a total -s guessed: no more to come) */
	return avg ? (double)(t->total - done) / (double)avg : -1;
}

double target_percent(const struct target *t)
{
	double p = t->total ? 100.0 * (double)target_copied(t) / (double)t->total : 0;

	return p > 100 ? 100 : p;
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

int targets_open(struct target *ts, int n, char **paths, double wait)
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
		t->t0 = now_s();
		t->sp.first = -1;
		r = target_sample(t, t->t0);
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
		t->written0 = t->written;
		t->r.tprev = t->t0;
		t->r.prev = t->written;
	}
	return 0;
}

bool target_ended(struct target *t, double now)
{
	bool quiet = t->st == DFS_STATE_IDLE || t->st == DFS_STATE_FALLBACK;

	if (t->root) {
		quiet = quiet && !t->open_files && !t->pending;
		if (!t->begun)
			t->begun = !quiet || t->nfl || t->written != t->written0;
		if (!t->begun || !quiet) {
			t->quiet_since = 0;
			return false;
		}
		if (!t->quiet_since)
			t->quiet_since = now;
		return now - t->quiet_since >= ROOT_QUIET;
	}
	return file_copy_ended(t->st, t->durable, t->size);
}

void targets_free(struct target *ts, int n)
{
	for (int i = 0; i < n; i++) {
		free(ts[i].fl);
		free(ts[i].files_buf);
	}
}
