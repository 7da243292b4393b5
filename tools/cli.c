/* SPDX-License-Identifier: MIT */
/*
 * cli.c - directfs-progress's command line: live progress of copies into a directfs mount, read
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
#include <ftw.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "dfs_size.h"
#include "watch.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: directfs-progress [-i SECONDS] [-w SECONDS] [-s SIZE | --of SOURCE]\n"
		"                         [--json] TARGET...\n"
		"       directfs-progress --verify [-i SECONDS] [-w SECONDS] [SRC] DEST\n"
		"       directfs-progress --prometheus [--output FILE] [MOUNT...]\n"
		"Show the progress of copies into a directfs mount.  A TARGET is a file\n"
		"in the mount, or the mount's root for the whole mount (with the files\n"
		"in flight listed below it).  With --verify, wait until DEST (a file or\n"
		"directory in the mount) has reached the disk, then read it back from the\n"
		"disk and compare it with SRC, leaving neither in the page cache.  Without\n"
		"SRC, read every file below DEST (in a mount, or on a plain disk) and\n"
		"check it against its checksum tag: same, CORRUPT, stale or untagged.\n"
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
		"  --prometheus   the mount-wide figures of each MOUNT (default: every\n"
		"                 directfs mount) in Prometheus's text format\n"
		"  --output FILE  with --prometheus: replace FILE (atomically) instead of\n"
		"                 printing\n"
		"  -h, --help     this help\n"
		"Exit 0 when every copy has ended and is durable, 1 on a file in error or a\n"
		"copy of another size than --of's, 2 on a bad invocation or a TARGET that\n"
		"cannot be watched.  --verify: 0 the same, 1 a difference (the first, with\n"
		"its offset), 2 trouble (unreadable, not in a mount, -w ran out).  --verify\n"
		"DEST: 0 no file corrupt (stale and untagged files are listed, and do not\n"
		"count: nothing says they were damaged), 1 a file corrupt, 2 trouble.\n");
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

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"of", required_argument, NULL, 'O'},
		{"json", no_argument, NULL, 'J'},
		{"verify", no_argument, NULL, 'V'},
		{"prometheus", no_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct watch wa = {.out = isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN,
			   .wait = -1};
	double wait = 10;
	bool wait_given = false, verify = false, prometheus = false;
	const char *of = NULL, *size_arg = NULL, *output = NULL;
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
		case 'P': prometheus = true; break;
		case 'o': output = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	wa.n = argc - optind;
	if (output && !prometheus) {
		fprintf(stderr, "directfs-progress: --output is for --prometheus\n");
		return 2;
	}
	if (prometheus) {
		if (verify || of || size_arg || wa.out == OUT_JSON) {
			fprintf(stderr, "directfs-progress: --prometheus takes [--output FILE] "
					"[MOUNT...], and none of --verify, -s, --of, --json\n");
			return 2;
		}
		return metrics_main(argv + optind, wa.n, output);
	}
	if (verify) {
		if (wa.n < 1 || wa.n > 2 || of || size_arg || wa.out == OUT_JSON) {
			fprintf(stderr, "directfs-progress: --verify takes [SRC] DEST, "
					"and none of -s, --of, --json\n");
			return 2;
		}
		if (!wa.interval)
			wa.interval = isatty(STDOUT_FILENO) ? 0.25 : 10;
		if (wa.n == 1)
			return tags_main(argv[optind], wa.interval, wait_given ? wait : -1);
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
	r = targets_open(wa.ts, wa.n, argv + optind, wait);
	wa.ts[0].total = total;
	if (!r)
		r = watch(&wa);
	targets_free(wa.ts, wa.n);
	free(wa.ts);
	return r;
}
