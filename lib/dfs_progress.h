/* SPDX-License-Identifier: MIT */
/*
 * dfs_progress.h - the progress protocol: the user.directfs.* extended
 * attributes the daemon answers and directfs-progress and umount.directfs
 * read.  Every attribute name, the prefix, the state words and the
 * "error:NAME" format are spelled here and nowhere else; both sides format
 * and parse through these functions, so a rename cannot break one side
 * silently.
 *
 * Values are decimal ASCII, except "state": one of the state words, or on a
 * file in error "error:" and the errno's name ("error:ENOSPC"); the mount
 * root's state in error is the bare word "error".
 */
#ifndef DFS_PROGRESS_H
#define DFS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

#define DFS_XATTR_PREFIX "user.directfs."

enum dfs_attr {
	/* On every regular file and on the mount root. */
	DFS_ATTR_WRITTEN,
	DFS_ATTR_SYNCED,
	DFS_ATTR_DURABLE,
	DFS_ATTR_PENDING,
	DFS_ATTR_STATE,
	/* On the mount root only. */
	DFS_ATTR_OPEN_FILES,
	DFS_ATTR_RATE,
	DFS_ATTR_STAGING,
	DFS_ATTR_FALLBACK_FILES,
	DFS_ATTR_ERROR_FILES,
	DFS_ATTR_FILES_DONE,   /* files made durable since the mount (written, then released) */
	DFS_ATTR_FILES_FAILED, /* files whose write-out or fsync failed since the mount */
	DFS_ATTR_PID,
	DFS_ATTR_FILES, /* the files in flight, lines of dfs_flight_format() */
	DFS_ATTR_COUNT,
};

/* The first attribute that only the mount root answers. */
#define DFS_ATTR_ROOT_ONLY DFS_ATTR_OPEN_FILES

/* The full name ("user.directfs.written") of an attribute. */
const char *dfs_attr_name(enum dfs_attr a);
/* Is name under the prefix (ours, whether known or not), and not a
 * checksum tag kept on SOURCE (user.directfs.xxh128 and its .ts,
 * dfs_sum.h), which is SOURCE's like any other attribute? */
bool dfs_attr_is_ours(const char *name);
/* The attribute a full name stands for, or -1. */
int dfs_attr_lookup(const char *name);

enum dfs_state {
	DFS_STATE_IDLE,
	DFS_STATE_WRITING,  /* open for writing, data staged or in flight */
	DFS_STATE_SYNCING,  /* fsync running */
	DFS_STATE_FALLBACK, /* idle, but this file cannot use O_DIRECT */
	DFS_STATE_ERROR,
	DFS_STATE_COUNT,
};

/*
 * The state value into buf: the word, or for DFS_STATE_ERROR "error:NAME"
 * of the negative errno err ("error" alone when err is 0).  Returns the
 * length snprintf() would have written.
 */
int dfs_state_format(enum dfs_state st, int err, char *buf, size_t len);
/*
 * Parse a state value.  Returns 0 and the state, with *err the negative
 * errno of "error:NAME" (0 for a bare "error" or another state), or -EINVAL
 * for text that is not a state.
 */
int dfs_state_parse(const char *text, enum dfs_state *st, int *err);

/*
 * The mount root's "files": one line per file in flight (open for writing,
 * or its last release still writing it out or syncing it), in no order:
 *
 *   WRITTEN DURABLE PENDING STATE PATH
 *
 * the figures of the file's own attributes, and PATH its name in the mount
 * (relative to the root; "(deleted)" appended once it has no name), with
 * backslash and newline spelled "\\" and "\n".  The value is at most
 * DFS_FILES_MAX bytes (the kernel's largest attribute); files that do not
 * fit are counted in a last line "+N".
 */
#define DFS_FILES_MAX 65536

struct dfs_flight {
	unsigned long long written, durable, pending;
	enum dfs_state st;
	int err;      /* of DFS_STATE_ERROR, -errno or 0 */
	char path[4096]; /* unescaped */
};

/* One line, newline included, into buf; the length it needs (as
 * snprintf: if >= len, nothing usable was written). */
int dfs_flight_format(const struct dfs_flight *fl, char *buf, size_t len);
/*
 * Parse the line at *text (up to its newline or the end) and step past it.
 * Returns 1 for a file (into *fl), 2 for a "+N" line (N into *more), 0 at
 * the end of the text, -EINVAL for a line that is neither.
 */
int dfs_flight_parse(const char **text, struct dfs_flight *fl, unsigned long long *more);

#endif /* DFS_PROGRESS_H */
