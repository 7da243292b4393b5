/* SPDX-License-Identifier: MIT */
/*
 * directfs-progress - live progress of copies into a directfs mount, read
 * from the progress attributes (names, words, the root's list of files in
 * flight: lib/dfs_progress.h).
 *
 *   directfs-progress [-i SECONDS] [-w SECONDS] [-s SIZE | --of SOURCE]
 *                     [--json] TARGET...
 *
 * A TARGET is a file in a directfs mount, or the mount's root for the whole
 * mount.  Output, one of three:
 *  - a terminal: a line per target redrawn in place, in human units; with
 *    a total (-s, --of) a percentage, a bar and an ETA, like pv; on the
 *    mount root, the files in flight below it, busiest first, like iotop;
 *  - otherwise a plain line per target (and per file in flight) every
 *    interval, in bytes, for logs:
 *      TIME TARGET written=N durable=N pending=N rate=N state=S
 *  - --json: one JSON object per target at each of its lines.
 *
 * Targets are sampled every SAMPLE_EVERY seconds whatever the interval;
 * lines come every interval, and a target's last line as soon as its copy
 * has ended.  The rate of a line is how fast written grew since the
 * target's previous line: 0 as soon as nothing moved.  The last line
 * (and JSON's average_rate on every line) gives the copy's own rate: its
 * bytes over the time from its first byte to its last, each end taken
 * halfway between the two samples around it.
 *
 * A file's copy has ended when nobody has it open for writing any more and
 * all of it is durable.  The mount root waits for a copy to begin (a file
 * open for writing, data pending, or written moving), saying so, and has
 * ended once no file has been open and nothing pending for ROOT_QUIET
 * seconds (cp -r opens one file after another).  Exit 0 once every target
 * has ended; 1 as soon as one is in error (naming it and the errno), or
 * when a copy checked with --of ended at another size; 2 for a bad
 * invocation or a target that cannot be watched.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "dfs_size.h"

/* How often the targets are read, whatever the interval between lines:
 * the bound on how late a last line comes and on each end of a span. */
#define SAMPLE_EVERY 0.1
/* The mount root's copy has ended after this long with no file open and
 * nothing pending: far longer than cp -r's gap between two files. */
#define ROOT_QUIET 1.0
/* Lines closer than this make noise of a rate; the next one measures. */
#define RATE_MIN_INTERVAL 0.05

/* How fast a count grew since the previous line: the rate of every line
 * but the last. */
struct rate {
	double tprev; /* the previous line, 0 before the first */
	uint64_t prev, bps;
};

/* A copy's own span, for its average rate: from its first byte written
 * to its last byte on SOURCE (written or pending moved; the fsync after is
 * not the copy's speed).  Each end lies between two samples and is taken
 * halfway between them. */
struct span {
	double tprev;	    /* the previous sample */
	uint64_t wprev, pprev; /* written and pending then */
	uint64_t base;	    /* written before the first move */
	double first, last;    /* the ends; first < 0 until something moved */
	uint64_t bytes;	       /* written from base to the last move */
};

/* A file in flight on a watched mount root. */
struct flight {
	struct dfs_flight f;
	struct rate r;
	bool seen; /* in the latest sample */
};

struct target {
	const char *path;
	bool root;
	bool done, reported;
	bool begun;	   /* root: a copy has begun */
	double quiet_since; /* root: nothing open or pending since, or 0 */
	double t0;	   /* first sample */
	uint64_t written0; /* written then */
	uint64_t total;	   /* -s / --of, 0 for none */
	struct rate r;
	struct span sp;
	/* the latest sample */
	uint64_t written, durable, pending, open_files, size;
	char state[64]; /* as read */
	enum dfs_state st;
	int err; /* of a file in error, -errno */
	/* root: the files in flight, and how many the list left out */
	struct flight *fl;
	size_t nfl, capfl;
	unsigned long long more;
	char *files_buf;
};

enum output { OUT_TTY, OUT_PLAIN, OUT_JSON };

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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

static int sample(struct target *t, double now)
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

/* The rates of a line about to be printed: since the target's last. */
static void line_rates(struct target *t, double now)
{
	for (size_t i = 0; i < t->nfl; i++)
		rate_update(&t->fl[i].r, t->fl[i].f.written, now);
	rate_update(&t->r, t->written, now);
}

/* ---- formatting ---- */

static const char *clock_text(double s, char *buf, size_t len)
{
	unsigned long v = (unsigned long)(s + 0.5);

	if (v >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", v / 3600, v / 60 % 60, v % 60);
	else
		snprintf(buf, len, "%lu:%02lu", v / 60, v % 60);
	return buf;
}

/* Bytes of the target's copy so far: a file's written; on the root, what
 * was written since the watch began (the total is of this copy). */
static uint64_t copied(const struct target *t)
{
	return t->root ? t->written - t->written0 : t->written;
}

/* The copy's own rate so far, for a last line and the ETA. */
static uint64_t average_rate(const struct target *t)
{
	return span_rate(&t->sp);
}

/* Seconds left at the average rate, or a negative number for unknown. */
static double eta(const struct target *t)
{
	uint64_t avg = average_rate(t), done = copied(t);

	if (!t->total)
		return -1;
	if (t->done || done >= t->total)
		return 0; /* ended (short of a total -s guessed: no more to come) */
	return avg ? (double)(t->total - done) / (double)avg : -1;
}

static double percent(const struct target *t)
{
	double p = t->total ? 100.0 * (double)copied(t) / (double)t->total : 0;

	return p > 100 ? 100 : p;
}

static unsigned term_rows(void)
{
	struct winsize ws;

	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_row >= 5)
		return ws.ws_row;
	return 24;
}

/* The rate a plain or terminal line shows: the last interval's, or once
 * done the copy's own (JSON gives both on every line). */
static uint64_t shown_rate(const struct target *t)
{
	return t->done ? average_rate(t) : t->r.bps;
}

/* One target's terminal line, without a newline. */
static void tty_line(const struct target *t)
{
	char w[32], d[32], r[48], tot[32], e[32];

	printf("\r\033[K%s: ", t->path);
	if (t->root && !t->begun) {
		printf("waiting for a copy to begin (%s written so far, %s)",
		       human(t->written, w, sizeof(w)), t->state);
		return;
	}
	if (t->done && t->sp.first < 0)
		strcpy(r, "nothing moved"); /* ended before the watch began */
	else {
		human(shown_rate(t), r, sizeof(r) - 12);
		strcat(r, t->done ? "/s average" : "/s");
	}
	if (!t->total) {
		printf("%s written, %s durable, %s, %s", human(t->written, w, sizeof(w)),
		       human(t->durable, d, sizeof(d)), r, t->state);
		if (t->root)
			printf(", %" PRIu64 " open", t->open_files);
		return;
	}
	/* pv's way: done of total (percent) [bar] rate ETA, state. */
	double pct = percent(t), left = eta(t);
	char head[192];
	int hn = snprintf(head, sizeof(head), "%s of %s (%.0f%%)",
			  human(copied(t), w, sizeof(w)), human(t->total, tot, sizeof(tot)),
			  floor(pct));
	char tail[160];
	snprintf(tail, sizeof(tail), "%s ETA %s, %s", r,
		 t->done ? "0:00" : left < 0 ? "--:--" : clock_text(left, e, sizeof(e)),
		 t->state);
	int used = (int)strlen(t->path) + 2 + hn + 2 + (int)strlen(tail) + 1;
	int width = (int)term_cols() - used - 2;
	printf("%s ", head);
	if (width >= 10) {
		int full = (int)(pct / 100.0 * width);
		putchar('[');
		for (int i = 0; i < width; i++)
			putchar(i < full ? '=' : i == full ? '>' : ' ');
		printf("] ");
	}
	printf("%s", tail);
}

static int cmp_flight(const void *a, const void *b)
{
	const struct flight *x = a, *y = b;

	if (x->r.bps != y->r.bps)
		return x->r.bps < y->r.bps ? 1 : -1;
	return strcmp(x->f.path, y->f.path);
}

/* Below a root's line on a terminal: its files in flight, busiest first,
 * as many as the terminal has rows for.  Returns the lines printed. */
static int tty_flights(struct target *t, int room)
{
	char w[32], d[32], r[32], st[48];
	int lines = 0;

	if (!t->begun || !t->nfl)
		return 0;
	qsort(t->fl, t->nfl, sizeof(*t->fl), cmp_flight);
	printf("\n\r\033[K  %10s %10s %12s  %-9s %s", "WRITTEN", "DURABLE", "RATE", "STATE",
	       "FILE");
	lines++;
	for (size_t i = 0; i < t->nfl; i++) {
		const struct flight *f = &t->fl[i];
		size_t rest = t->nfl - i + (size_t)t->more;

		if (lines + 1 >= room && rest > 1) {
			printf("\n\r\033[K  ... and %zu more", rest);
			return lines + 1;
		}
		dfs_state_format(f->f.st, f->f.err, st, sizeof(st));
		human(f->r.bps, r, sizeof(r));
		strcat(r, "/s");
		printf("\n\r\033[K  %10s %10s %12s  %-9s %s",
		       human(f->f.written, w, sizeof(w)), human(f->f.durable, d, sizeof(d)),
		       r, st, f->f.path);
		lines++;
	}
	if (t->more) {
		printf("\n\r\033[K  ... and %llu more", t->more);
		lines++;
	}
	return lines;
}

static void plain_line(const char *path, const char *name, double elapsed,
		       uint64_t written, uint64_t durable, uint64_t pending, uint64_t rate,
		       const char *state, const char *end)
{
	bool slash = name && path[0] && path[strlen(path) - 1] != '/';

	printf("%.1f %s%s%s written=%" PRIu64 " durable=%" PRIu64 " pending=%" PRIu64
	       " rate=%" PRIu64 " state=%s%s",
	       elapsed, path, slash ? "/" : "", name ? name : "", written, durable, pending,
	       rate, state, end);
}

static void plain_target(struct target *t, double now, double start)
{
	char st[48];

	if (t->root)
		for (size_t i = 0; i < t->nfl; i++) {
			const struct flight *f = &t->fl[i];
			dfs_state_format(f->f.st, f->f.err, st, sizeof(st));
			plain_line(t->path, f->f.path, now - start, f->f.written,
				   f->f.durable, f->f.pending, f->r.bps, st, "\n");
		}
	plain_line(t->path, NULL, now - start, t->written, t->durable, t->pending, shown_rate(t),
		   t->state, t->total ? "" : "\n");
	if (t->total) { /* the share of the total, and the seconds left */
		double left = eta(t);
		printf(" percent=%.1f eta=", percent(t));
		if (left < 0)
			printf("unknown\n");
		else
			printf("%.0f\n", left);
	}
}

/* s as a JSON string: quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 as U+FFFD. */
static void json_string(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	while (*p) {
		unsigned c = *p, n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2
						  : (c & 0xf0) == 0xe0 ? 3
						  : (c & 0xf8) == 0xf0 ? 4
								       : 0;
		bool ok = n > 0;

		for (unsigned k = 1; ok && k < n; k++)
			ok = (p[k] & 0xc0) == 0x80;
		if (!ok) {
			fputs("\\ufffd", stdout);
			p++;
			continue;
		}
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			fwrite(p, 1, n, stdout);
		p += n;
	}
	putchar('"');
}

static void json_target(struct target *t, double now, double start)
{
	char st[48];

	printf("{\"time\":%.3f,\"elapsed\":%.3f,\"target\":", wall_s(), now - start);
	json_string(t->path);
	printf(",\"written\":%" PRIu64 ",\"durable\":%" PRIu64 ",\"pending\":%" PRIu64
	       ",\"rate\":%" PRIu64 ",\"average_rate\":%" PRIu64 ",\"state\":",
	       t->written, t->durable, t->pending, t->r.bps, average_rate(t));
	json_string(t->state);
	if (!t->root)
		printf(",\"size\":%" PRIu64, t->size);
	if (t->total) {
		double left = eta(t);
		printf(",\"total\":%" PRIu64 ",\"copied\":%" PRIu64 ",\"percent\":%.1f",
		       t->total, copied(t), percent(t));
		if (left >= 0)
			printf(",\"eta\":%.1f", left);
		else
			printf(",\"eta\":null");
	}
	if (t->root) {
		printf(",\"open_files\":%" PRIu64 ",\"waiting\":%s,\"files\":[", t->open_files,
		       t->begun ? "false" : "true");
		for (size_t i = 0; i < t->nfl; i++) {
			const struct flight *f = &t->fl[i];
			dfs_state_format(f->f.st, f->f.err, st, sizeof(st));
			printf("%s{\"name\":", i ? "," : "");
			json_string(f->f.path);
			printf(",\"written\":%llu,\"durable\":%llu,\"pending\":%llu,"
			       "\"rate\":%" PRIu64 ",\"state\":\"%s\"}",
			       f->f.written, f->f.durable, f->f.pending, f->r.bps, st);
		}
		printf("],\"more\":%llu", t->more);
	}
	printf(",\"done\":%s}\n", t->done ? "true" : "false");
}

/* ---- the watch ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: directfs-progress [-i SECONDS] [-w SECONDS] [-s SIZE | --of SOURCE]\n"
		"                         [--json] TARGET...\n"
		"       directfs-progress --verify [-i SECONDS] [-w SECONDS] SRC DEST\n"
		"Show the progress of copies into a directfs mount.  A TARGET is a file\n"
		"in the mount, or the mount's root for the whole mount (with the files\n"
		"in flight listed below it).  With --verify, wait until DEST (a file or\n"
		"directory in the mount) has reached the disk, then read it back from the\n"
		"disk and compare it with SRC, leaving neither in the page cache.\n"
		"  -i SECONDS     interval between lines (default 1 on a terminal, 10\n"
		"                 otherwise)\n"
		"  -w SECONDS     how long to wait for a TARGET to appear (default 10), or\n"
		"                 on the mount root for a copy to begin, or with --verify\n"
		"                 for DEST to reach the disk (default: as long as it takes)\n"
		"  -s SIZE        the copy's total size (K, M, G, T, P: powers of 1024): show\n"
		"                 a percentage, a bar and an ETA; one TARGET only\n"
		"  --of SOURCE    the total is SOURCE's size (a directory: its files'); at\n"
		"                 the end the copy must be that size\n"
		"  --json         one JSON object per target per line\n"
		"  -h, --help     this help\n"
		"Exit 0 when every copy has ended and is durable, 1 on a file in error or a\n"
		"copy of another size than --of's, 2 on a bad invocation or a TARGET that\n"
		"cannot be watched.  --verify: 0 the same, 1 a difference (the first, with\n"
		"its offset), 2 trouble (unreadable, not in a mount, -w ran out).\n");
}

static uint64_t tree_bytes;

static int add_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode))
		tree_bytes += (uint64_t)st->st_size;
	return 0;
}

/* The size of --of's SOURCE: a file's, or all regular files' below a
 * directory (symlinks not followed); 0 or -errno. */
static int source_size(const char *path, uint64_t *out)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode)) {
		*out = (uint64_t)st.st_size;
		return 0;
	}
	tree_bytes = 0;
	if (nftw(path, add_file, 64, FTW_PHYS))
		return -errno;
	*out = tree_bytes;
	return 0;
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
		t->t0 = now_s();
		t->sp.first = -1;
		r = sample(t, t->t0);
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

/* Has the target's copy ended by the sample at now?  On the root, also
 * notes a copy beginning. */
static bool ended(struct target *t, double now)
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

/* A target in error: say so; true if it is. */
static bool report_error(const struct target *t, enum output out)
{
	if (t->st != DFS_STATE_ERROR)
		return false;
	if (out == OUT_TTY)
		printf("\n");
	fflush(stdout);
	if (t->root || !t->err)
		fprintf(stderr,
			"directfs-progress: %s: a file in this mount is in error (see the "
			"daemon's log)\n",
			t->path);
	else
		fprintf(stderr, "directfs-progress: %s: %s (%s)\n", t->path,
			strerrorname_np(-t->err), strerror(-t->err));
	return true;
}

struct watch {
	struct target *ts;
	int n;
	enum output out;
	double interval, start;
	double wait;	 /* root: for a copy to begin; < 0 without limit */
	bool check_size; /* --of: a file must end at the total */
};

/* One target's line, or a terminal's redraw of all of them. */
static void print_lines(struct watch *wa, double now, bool tick, int *lines)
{
	if (wa->out == OUT_TTY) {
		if (*lines > 1)
			printf("\033[%dA", *lines - 1);
		printf("\r\033[J");
		*lines = 0;
	}
	for (int i = 0; i < wa->n; i++) {
		struct target *t = &wa->ts[i];

		if (t->reported || (wa->out != OUT_TTY && !tick && !t->done))
			continue;
		line_rates(t, now);
		switch (wa->out) {
		case OUT_TTY:
			if (*lines)
				printf("\n");
			tty_line(t);
			(*lines)++;
			if (t->root)
				*lines += tty_flights(t, (int)term_rows() - *lines - 1);
			break;
		case OUT_PLAIN:
			if (!t->root || t->begun)
				plain_target(t, now, wa->start);
			t->reported = t->done; /* its last line printed */
			break;
		case OUT_JSON:
			json_target(t, now, wa->start);
			t->reported = t->done;
			break;
		}
	}
	fflush(stdout);
}

/* Sample every SAMPLE_EVERY and print every interval until every target
 * has ended (0), one is in error (1), or a root saw no copy begin within
 * the wait (2).  A target's last line comes at the sample that saw it
 * end, not at the next interval. */
static int watch(struct watch *wa)
{
	int left = wa->n, lines = 0, rc = 0;
	bool said_waiting = false;
	double step = wa->interval < SAMPLE_EVERY ? wa->interval : SAMPLE_EVERY;
	double next_line = 0;

	for (;;) {
		double now = now_s();
		bool tick = now >= next_line, ended_now = false;

		for (int i = 0; i < wa->n; i++) {
			struct target *t = &wa->ts[i];
			int r;

			if (t->done)
				continue;
			r = sample(t, now);
			if (r) {
				fprintf(stderr, "%sdirectfs-progress: %s: %s\n",
					wa->out == OUT_TTY ? "\n" : "", t->path, strerror(-r));
				return 1;
			}
			if (report_error(t, wa->out))
				return 1;
			if (ended(t, now)) {
				t->done = ended_now = true;
				left--;
			}
			if (t->root && !t->begun && wa->wait >= 0 && now - t->t0 >= wa->wait) {
				if (wa->out == OUT_TTY)
					printf("\n");
				fflush(stdout);
				fprintf(stderr,
					"directfs-progress: %s: no copy began within %g s\n",
					t->path, wa->wait);
				return 2;
			}
			if (t->root && !t->begun && !said_waiting && wa->out != OUT_TTY) {
				fprintf(stderr,
					"directfs-progress: %s: waiting for a copy to begin\n",
					t->path);
				said_waiting = true;
			}
		}
		if (tick) {
			next_line += wa->interval;
			if (next_line <= now)
				next_line = now + wa->interval;
		}
		if (tick || ended_now)
			print_lines(wa, now, tick, &lines);
		if (!left)
			break;
		sleep_s(step);
	}
	if (wa->out == OUT_TTY)
		printf("\n");
	for (int i = 0; wa->check_size && i < wa->n; i++) {
		const struct target *t = &wa->ts[i];
		uint64_t got = t->root ? copied(t) : t->size;

		if (got != t->total) {
			fprintf(stderr,
				"directfs-progress: %s: the copy ended at %" PRIu64
				" bytes; the source has %" PRIu64 "\n",
				t->path, got, t->total);
			rc = 1;
		}
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"of", required_argument, NULL, 'O'},
		{"json", no_argument, NULL, 'J'},
		{"verify", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct watch wa = {.out = isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN,
			   .wait = -1};
	double wait = 10;
	bool wait_given = false, verify = false;
	const char *of = NULL, *size_arg = NULL;
	uint64_t total = 0;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "i:w:s:h", longs, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (!parse_seconds(optarg, &wa.interval) || wa.interval < 0.01) {
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
			wait_given = true;
			break;
		case 's':
			if (dfs_parse_size(optarg, &total) || !total) {
				fprintf(stderr,
					"directfs-progress: bad size '%s' (a size such "
					"as 700M or 2.5G)\n",
					optarg);
				return 2;
			}
			size_arg = optarg;
			break;
		case 'O': of = optarg; break;
		case 'J': wa.out = OUT_JSON; break;
		case 'V': verify = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	wa.n = argc - optind;
	if (verify) {
		if (wa.n != 2 || of || size_arg || wa.out == OUT_JSON) {
			fprintf(stderr, "directfs-progress: --verify takes SRC and DEST, "
					"and none of -s, --of, --json\n");
			return 2;
		}
		if (!wa.interval)
			wa.interval = isatty(STDOUT_FILENO) ? 0.25 : 10;
		return verify_main(argv[optind], argv[optind + 1], wa.interval,
				   wait_given ? wait : -1);
	}
	if (wa.n < 1) {
		usage(stderr);
		return 2;
	}
	if (of && size_arg) {
		fprintf(stderr, "directfs-progress: -s and --of both give the total\n");
		return 2;
	}
	if ((of || size_arg) && wa.n != 1) {
		fprintf(stderr, "directfs-progress: a total (%s) is for one TARGET\n",
			of ? "--of" : "-s");
		return 2;
	}
	if (of) {
		r = source_size(of, &total);
		if (r) {
			fprintf(stderr, "directfs-progress: %s: %s\n", of, strerror(-r));
			return 2;
		}
		wa.check_size = true;
	}
	if (!wa.interval)
		wa.interval = wa.out == OUT_TTY ? 1 : 10;
	if (wait_given)
		wa.wait = wait;
	wa.ts = calloc((size_t)wa.n, sizeof(*wa.ts));
	if (!wa.ts) {
		perror("directfs-progress");
		return 2;
	}
	wa.start = now_s();
	r = open_targets(wa.ts, wa.n, argv + optind, wait);
	wa.ts[0].total = total;
	if (!r)
		r = watch(&wa);
	for (int i = 0; i < wa.n; i++) {
		free(wa.ts[i].fl);
		free(wa.ts[i].files_buf);
	}
	free(wa.ts);
	return r;
}
