/* SPDX-License-Identifier: MIT */
/*
 * watch.c - the watch (watch.h): every target sampled every SAMPLE_EVERY,
 * its lines printed every interval and as soon as its copy ends, until
 * every copy has ended or one is in error.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "watch.h"

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
		target_line_rates(t, now);
		switch (wa->out) {
		case OUT_TTY:
			if (*lines)
				printf("\n");
			render_tty(t);
			(*lines)++;
			if (t->root)
				*lines += render_tty_flights(t, (int)term_rows() - *lines - 1);
			break;
		case OUT_PLAIN:
			if (!t->root || t->begun)
				render_plain(t, now, wa->start);
			t->reported = t->done; /* its last line printed */
			break;
		case OUT_JSON:
			render_json(t, now, wa->start);
			t->reported = t->done;
			break;
		}
	}
	fflush(stdout);
}

int watch(struct watch *wa)
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
			r = target_sample(t, now);
			if (r) {
				fprintf(stderr, "%sdirectfs-progress: %s: %s\n",
					wa->out == OUT_TTY ? "\n" : "", t->path, strerror(-r));
				return 1;
			}
			if (report_error(t, wa->out))
				return 1;
			if (target_ended(t, now)) {
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
		uint64_t got = t->root ? target_copied(t) : t->size;

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
