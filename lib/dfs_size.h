/* SPDX-License-Identifier: MIT */
/*
 * dfs_size.h - sizes as a user writes them, for the daemon's options and
 * directfs-progress alike (size.c): one set of rules for both.
 */
#ifndef DFS_SIZE_H
#define DFS_SIZE_H

#include <stdint.h>

/*
 * "123", "64K", "1.5M", "2G", "1GiB", "10MB" and "4096B": a number, with a
 * fraction if a unit follows, and an optional unit K, M, G, T or P (either
 * case; powers of 1024) that may be followed by "iB" or "B"; a bare "B"
 * means bytes.  Nothing else, not even spaces.  0 and the bytes in *out,
 * rounded down; -EINVAL for anything else, -ERANGE past 2^64 - 1.
 */
int dfs_parse_size(const char *s, uint64_t *out);

#endif
