/* SPDX-License-Identifier: MIT */
/*
 * watch.h - what watching a copy is made of, for directfs-progress: a
 * watched target and its figures (sample.c reads them and keeps the
 * rates), its lines on a terminal, in a log or as JSON (render.c), and
 * the loop that samples and prints until the copies end (watch.c).  The
 * command line is cli.c's.
 */
#ifndef DFS_TOOLS_WATCH_H
#define DFS_TOOLS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_progress.h"

/* How often the targets are read, whatever the interval between lines:
 * the bound on how late a last line comes and on each end of a span. */
#define SAMPLE_EVERY 0.1

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

/* sample.c: reading targets. */

/* Wait (up to wait s) for each of the n paths to appear and take its
 * first sample into ts; 0, or 2 (said on stderr) if one cannot be
 * watched. */
int targets_open(struct target *ts, int n, char **paths, double wait);
void targets_free(struct target *ts, int n);
/* Read the target's figures at now; 0 or -errno. */
int target_sample(struct target *t, double now);
/* The rates of a line about to be printed: since the target's last. */
void target_line_rates(struct target *t, double now);
/* Has the target's copy ended by the sample at now?  On the root, also
 * notes a copy beginning. */
bool target_ended(struct target *t, double now);
/* Bytes of the target's copy so far: a file's written; on the root, what
 * was written since the watch began (the total is of this copy). */
uint64_t target_copied(const struct target *t);
/* The copy's own rate so far, for a last line and the ETA. */
uint64_t target_average_rate(const struct target *t);
/* Seconds left at the average rate, or a negative number for unknown. */
double target_eta(const struct target *t);
/* The share of the total copied, 0 to 100. */
double target_percent(const struct target *t);

/* render.c: a target's lines. */

/* One target's terminal line, without a newline. */
void render_tty(const struct target *t);
/* Below a root's line on a terminal: its files in flight, busiest first,
 * in at most room lines.  Returns the lines printed. */
int render_tty_flights(struct target *t, int room);
/* The plain lines of a target (and of a root's files in flight). */
void render_plain(struct target *t, double now, double start);
/* One JSON object of a target, on a line. */
void render_json(struct target *t, double now, double start);

/* watch.c: the loop. */

struct watch {
	struct target *ts;
	int n;
	enum output out;
	double interval, start;
	double wait;	 /* root: for a copy to begin; < 0 without limit */
	bool check_size; /* --of: a file must end at the total */
};
/* Sample every SAMPLE_EVERY and print every interval until every target
 * has ended (0), one is in error (1), or a root saw no copy begin within
 * the wait (2).  A target's last line comes at the sample that saw it
 * end, not at the next interval. */
int watch(struct watch *wa);

#endif
