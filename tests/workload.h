/* SPDX-License-Identifier: MIT */
/*
 * workload.h - seeded random operations applied to an engine file and to a
 * plain reference file side by side, compared as they go and byte for byte
 * on disk at the end.  Failures are Check assertions.
 */
#ifndef WORKLOAD_H
#define WORKLOAD_H

#include <stdint.h>
#include "dfs_engine.h"

struct workload {
	const char *dir; /* where both files live */
	uint64_t seed;
	int nops;
	off_t span;	/* offsets fall mostly in [0, span) */
	size_t max_len; /* longest single write */
	const struct dfs_engine_opts *opts;
};

/* Runs it; returns the number of operations applied. */
int workload_run(const struct workload *wl);

#endif
