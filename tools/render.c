/* SPDX-License-Identifier: MIT */
/*
 * render.c - a watched target's lines (watch.h): redrawn in place on a
 * terminal in human units (a bar and an ETA with a total, the root's
 * files in flight below it), plain lines in bytes for logs, or JSON.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "watch.h"

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *clock_text(double s, char *buf, size_t len)
{
	unsigned long v = (unsigned long)(s + 0.5);

	if (v >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", v / 3600, v / 60 % 60, v % 60);
	else
		snprintf(buf, len, "%lu:%02lu", v / 60, v % 60);
	return buf;
}

/* The rate a plain or terminal line shows: the last interval's, or once
 * done the copy's own (JSON gives both on every line). */
static uint64_t shown_rate(const struct target *t)
{
	return t->done ? target_average_rate(t) : t->r.bps;
}

void render_tty(const struct target *t)
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
	double pct = target_percent(t), left = target_eta(t);
	char head[192];
	int hn = snprintf(head, sizeof(head), "%s of %s (%.0f%%)",
			  human(target_copied(t), w, sizeof(w)), human(t->total, tot, sizeof(tot)),
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

int render_tty_flights(struct target *t, int room)
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

void render_plain(struct target *t, double now, double start)
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
		double left = target_eta(t);
		printf(" percent=%.1f eta=", target_percent(t));
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

void render_json(struct target *t, double now, double start)
{
	char st[48];

	printf("{\"time\":%.3f,\"elapsed\":%.3f,\"target\":", wall_s(), now - start);
	json_string(t->path);
	printf(",\"written\":%" PRIu64 ",\"durable\":%" PRIu64 ",\"pending\":%" PRIu64
	       ",\"rate\":%" PRIu64 ",\"average_rate\":%" PRIu64 ",\"state\":",
	       t->written, t->durable, t->pending, t->r.bps, target_average_rate(t));
	json_string(t->state);
	if (!t->root)
		printf(",\"size\":%" PRIu64, t->size);
	if (t->total) {
		double left = target_eta(t);
		printf(",\"total\":%" PRIu64 ",\"copied\":%" PRIu64 ",\"percent\":%.1f",
		       t->total, target_copied(t), target_percent(t));
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
