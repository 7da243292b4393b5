/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the two jobs of directfs-progress share: watching a
 * copy (watch.h) and checking it reached the disk (verify.c).
 */
#ifndef DFS_TOOLS_COMMON_H
#define DFS_TOOLS_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dfs_progress.h"

/* Seconds on the monotonic clock. */
double now_s(void);
/* Sleep s seconds, through signals. */
void sleep_s(double s);

/* One progress attribute of path: as text (NUL-terminated in len bytes),
 * or as a number.  0 or -errno (-EINVAL for a value that is no number). */
int get_text(const char *path, enum dfs_attr a, char *buf, size_t len);
int get_u64(const char *path, enum dfs_attr a, uint64_t *v);

/* A file's copy has ended: nobody has it open for writing, nothing is
 * pending, and all size bytes of it are durable. */
bool file_copy_ended(enum dfs_state st, uint64_t durable, uint64_t size);

/* v in human units ("1.50 MiB", "512 B") into buf; returns buf. */
const char *human(uint64_t v, char *buf, size_t len);
/* The terminal's width and height on standard output, 80 and 24 if it
 * does not say. */
unsigned term_cols(void);
unsigned term_rows(void);

/* "0.5", "10" -> seconds in [0, 86400]; false for anything else. */
bool parse_seconds(const char *s, double *out);

/* The job behind --verify: compare SRC with DEST in a directfs mount once
 * DEST has reached the disk.  wait < 0: as long as it takes.  Returns the
 * exit status: 0 the same, 1 a difference (named on stderr), 2 trouble. */
int verify_main(const char *src, const char *dest, double interval, double wait);
/* The job behind --verify DEST (tags.c): check every regular file below
 * DEST, in a mount once it has reached the disk or on a plain disk,
 * against its checksum tags.  Returns the exit status: 0 no file corrupt,
 * 1 a file corrupt, 2 trouble. */
int tags_main(const char *dest, double interval, double wait);
/* The job behind --prometheus (metrics.c): the mount-wide figures of the
 * n mounts named (none: every directfs mount) in Prometheus's text format,
 * on stdout or replacing output.  Returns the exit status: 0, or 2. */
int metrics_main(char **mounts, int n, const char *output);

#endif
