/* SPDX-License-Identifier: MIT */
/*
 * fault_io.h - an I/O table for tests: the real calls, plus rules that make
 * chosen calls fail, come back short or be interrupted, gates that hold
 * O_DIRECT writes or syncs until released, and an audit of O_DIRECT
 * alignment.
 */
#ifndef FAULT_IO_H
#define FAULT_IO_H

#include <pthread.h>
#include <stdbool.h>
#include "dfs_io.h"

enum fi_op { FI_PWRITE, FI_PREAD, FI_FSYNC, FI_FTRUNCATE, FI_SYNCFS, FI_SFR, FI_XATTR, FI_OPS };
enum fi_target { FI_ANY, FI_DIRECT, FI_PLAIN };
enum fi_action { FI_ERRNO, FI_SHORT, FI_EINTR };

struct fi_rule {
	enum fi_op op;
	enum fi_target target;
	int rwf_flags_mask; /* pwrite: only calls with one of these RWF flags (0: any) */
	int skip;	    /* let this many matching calls through first */
	int count;	    /* then act on this many (-1: all) */
	enum fi_action action;
	int err;	  /* FI_ERRNO: positive errno */
	size_t short_len; /* FI_SHORT: at most this many bytes */
};

struct fault_io {
	struct dfs_io_ops ops; /* hand &ops to the engine */
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct fi_rule rules[8];
	int nrules;
	bool hold_direct;     /* O_DIRECT pwrites wait while set */
	int held;	      /* how many are waiting */
	bool hold_sync;	      /* fsyncs and syncfs wait while set */
	int held_syncs;	      /* how many are waiting */
	unsigned audit_align; /* nonzero: count direct I/O offsets/lengths off it */
	unsigned audit_mem;   /* nonzero: count direct I/O buffers off it */
	/* counters, under lock */
	unsigned long calls[FI_OPS];
	unsigned long direct_writes, plain_writes, dontcache_writes;
	unsigned long direct_reads, misaligned, misaligned_mem, fired;
	unsigned long batches, batch_pieces; /* pwrite_batch calls, their pieces */
	unsigned long xattr_lists;	     /* flistxattr calls */
	unsigned long dontneeds;	     /* fadvise POSIX_FADV_DONTNEED calls */
	int in_direct, max_in_direct; /* O_DIRECT pwrites inside the table now, the most */
	size_t max_direct_len;	      /* the longest O_DIRECT pwrite */
	/* The first FI_LOG O_DIRECT pwrites: when each ran (CLOCK_MONOTONIC,
	 * ns, from after the gate to its return). */
#define FI_LOG 64
	struct {
		unsigned long long start, end;
	} dlog[FI_LOG];
	int ndlog;
};

void fault_io_init(struct fault_io *fi);
void fault_io_destroy(struct fault_io *fi);
void fault_io_add(struct fault_io *fi, struct fi_rule r);
void fault_io_clear(struct fault_io *fi);
void fault_io_hold(struct fault_io *fi, bool hold);
/* Hold fsync and syncfs calls (or let them go), and wait until n are held. */
void fault_io_hold_sync(struct fault_io *fi, bool hold);
void fault_io_wait_held_syncs(struct fault_io *fi, int n);
/* Wait until n direct writes are held at the gate; how many are now. */
void fault_io_wait_held(struct fault_io *fi, int n);
int fault_io_held(struct fault_io *fi);

#endif
