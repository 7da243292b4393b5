/* SPDX-License-Identifier: MIT */
/*
 * dfs_engine.h - the staging write engine of directfs.  No FUSE in here.
 *
 * A struct dfs_engine is shared by every file of a mount: it owns the pool
 * of aligned staging buffers (with a global memory cap), the I/O worker
 * threads, the injected I/O table and the mount-wide counters.
 *
 * A struct dfs_file is one backing file (one inode), shared by every handle
 * of it.  Writes at any offset and size are copied into aligned staging
 * windows of buf_size bytes; a window that fills is handed, without a copy,
 * to a worker thread that writes it with O_DIRECT while new writes go on
 * into a fresh buffer.  The partial block at end of file ("the tail") is
 * written without O_DIRECT, through a second descriptor, by flush and sync.
 *
 * All calls return 0 or a count on success and -errno on failure.  They are
 * thread safe; a file's calls are serialised on its lock except disk reads
 * of ranges that hold no staged data, and fsync itself.
 *
 * Errors are sticky: after a background write, tail write or fsync fails,
 * every later write, flush and sync of that file returns that error until
 * the file is closed (the last handle gone).
 */
#ifndef DFS_ENGINE_H
#define DFS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dfs_align.h"
#include "dfs_io.h"
#include "dfs_log.h"
#include "dfs_progress.h"
#include "dfs_sum.h"

#define DFS_MIB (1024u * 1024u)
/* The ranges dfs_engine_opts_check allows: buf_size a multiple of the
 * least from it to the most; depth and workers from 1 to their most. */
#define DFS_BUF_SIZE_MIN (64u * 1024u)
#define DFS_BUF_SIZE_MAX (256u * DFS_MIB)
#define DFS_DEPTH_MAX 64u
#define DFS_WORKERS_MAX 64u

/* Counters of SOURCE's disk since boot (/sys/dev/block/M:m/stat). */
struct dfs_dev_counts {
	uint64_t read_bytes, write_bytes, flushes;
};

struct dfs_engine_opts {
	size_t buf_size;     /* staging window per file, bytes (multiple of 64 KiB) */
	unsigned depth;	     /* full windows of one file in flight to disk at once
			      * (partly written ones: 4 x, at most 64) */
	size_t mem_cap;	     /* all staging buffers of all files, bytes */
	unsigned max_staged; /* staged windows per file before the oldest is written */
	/* A close of a file of at most small_max bytes writes it through the
	 * page cache (RWF_DONTCACHE where the kernel has it) instead of waiting
	 * for the disk, while the bytes so written and not yet synced stay
	 * within cached_max; its sync drops the pages.  0: never. */
	size_t small_max, cached_max;
	unsigned workers; /* I/O threads */
	int no_fallback;  /* refuse (EOPNOTSUPP) files that cannot do O_DIRECT */
	int no_dontcache; /* never try RWF_DONTCACHE */
	/* Sequential reads of 64 KiB or more read the next four windows ahead
	 * with O_DIRECT on the I/O threads, into pool buffers (within
	 * mem_cap; the pool takes them back first when writers need them). */
	int no_readahead;
	const struct dfs_io_ops *io; /* NULL: real calls */
	dfs_log_sink *log;	     /* NULL: stderr */
	void *log_arg;
	uint64_t (*now_ns)(void); /* NULL: CLOCK_MONOTONIC; tests fake time */
	/* Yield the disk to other programs (pace.c): where the disk's
	 * counters show I/O beyond the engine's own, O_DIRECT writes go one
	 * at a time, each followed by a pause as long as it took.  0 or
	 * -errno (then the disk counts as the engine's alone).  NULL: never
	 * yield, as fast as the disk. */
	int (*dev_counts)(void *arg, struct dfs_dev_counts *out);
	void *dev_arg;
	/* Sum each file written from 0 straight to its end as it streams,
	 * for dfs_file_tag (digest.c).  DFS_SUM_OFF: never. */
	enum dfs_sum_kind checksum;
	/* The last partial block of a file (and so a small file's close,
	 * which goes through the page cache): DFS_TAIL_AUTO writes it
	 * buffered and drops its pages where SOURCE's page cache is this
	 * host's (a local filesystem: dfs_syncfs_covers); elsewhere, and
	 * always with DFS_TAIL_PADDED, it goes as a whole block with
	 * O_DIRECT, zero-padded, and the file is then cut to its size, so
	 * that a server that honours O_DIRECT (GlusterFS) keeps no pages of
	 * it either. */
	enum dfs_tail_mode { DFS_TAIL_AUTO, DFS_TAIL_PADDED } tail;
	/* The filesystem SOURCE's root is on (its st_dev, nonzero), which the
	 * caller keeps mounted for the engine's life (it holds the root
	 * open), and its type (statfs f_type): files there are not asked
	 * fstatfs each, neither at open nor at their first read.  0: every
	 * file is asked. */
	uint64_t source_dev;
	long source_type;
};

/* dev_counts from sysfs (pace.c): *arg receives the dev_arg for the disk
 * of st_dev dev (free() it after the engine), or -errno where dev has no
 * block device's counters (btrfs, tmpfs, NFS: then never yield). */
int dfs_dev_counts_sysfs_arg(dev_t dev, void **arg);
int dfs_dev_counts_sysfs(void *arg, struct dfs_dev_counts *out);

/* ---- the engine (engine.c): options, making and ending it ---- */

/* Fill with the defaults. */
void dfs_engine_opts_init(struct dfs_engine_opts *o);
/* Check values; returns 0 or -EINVAL and a reason in why. */
int dfs_engine_opts_check(const struct dfs_engine_opts *o, const char **why);

struct dfs_engine;
struct dfs_file;

int dfs_engine_create(const struct dfs_engine_opts *o, struct dfs_engine **out);
/* Every file must have been closed. */
void dfs_engine_destroy(struct dfs_engine *e);

/*
 * A buffer of the staging buffers' own kind, lent to a caller that keeps
 * it (a request thread's receive buffer): buf_size bytes, page-aligned,
 * with DFS_BUF_HEADROOM writable bytes in front of it for its holder (a
 * request's header).  Lent buffers count within the memory cap as long as
 * the pool keeps a few of its own for writers, beyond it after that; NULL
 * when no memory is to be had.  dfs_engine_buf_free gives one back.
 */
#define DFS_BUF_HEADROOM 4096u
size_t dfs_engine_buf_size(const struct dfs_engine *e);
char *dfs_engine_buf_alloc(struct dfs_engine *e);
void dfs_engine_buf_free(struct dfs_engine *e, char *buf);

/* ---- a file's life (file.c) ---- */

/*
 * Open the engine on backing file fd (opened O_RDWR or O_RDONLY, without
 * O_DIRECT).  The engine keeps its own descriptors; the caller still owns
 * and closes fd.  A file whose filesystem refuses O_DIRECT is opened in
 * fallback mode (uncached buffered writes) unless opts.no_fallback.
 */
int dfs_file_open(struct dfs_engine *e, int fd, struct dfs_file **out);
/* The same, taking over fd, which must be a descriptor of the backing
 * file opened for the engine alone (O_RDWR, or O_RDONLY; no O_APPEND or
 * O_DIRECT): it saves reopening it.  fd is closed on failure. */
int dfs_file_adopt(struct dfs_engine *e, int fd, struct dfs_file **out);
/* ftruncate(2) of the backing file; staged bytes past size are forgotten. */
int dfs_file_truncate(struct dfs_file *f, off_t size);
/* fallocate(2) on the backing file after writing out staged data. */
int dfs_file_fallocate(struct dfs_file *f, int mode, off_t off, off_t len);
/* SEEK_DATA or SEEK_HOLE from off: writes out what is staged, so the
 * backing file has its holes where the logical file has them, and asks it.
 * The offset found, or -errno (-ENXIO past the end). */
off_t dfs_file_seek_data(struct dfs_file *f, off_t off, int whence);
/* The flush of a close(2): as dfs_file_flush, but a small file (see
 * small_max) may go through the page cache, where a later sync(2) or
 * dfs_file_sync covers it; dfs_file_sync then drops its pages. */
int dfs_file_close_flush(struct dfs_file *f);
/* Write out everything staged, tail included, and wait for it. */
int dfs_file_flush(struct dfs_file *f);
/*
 * Locks shared with SOURCE's other users (fs/lockops.c).  Before a lock is
 * let go: write out everything staged, so that the next holder, who may
 * read SOURCE directly, finds it there; note the backing file's ctime and
 * size.  After a lock is taken: if the backing file's ctime or size moved
 * since (another writer held the lock meanwhile), write out what is
 * staged and forget every block kept for reads (clean windows, read-ahead)
 * and take the size from the backing file.  0 or -errno.
 */
int dfs_file_lock_release(struct dfs_file *f);
int dfs_file_lock_acquired(struct dfs_file *f);
/* Flush, then fsync (or fdatasync) and drop the file's cached pages. */
int dfs_file_sync(struct dfs_file *f, int datasync);
/* Logical size: the backing size with staged data and truncates applied.
 * Never waits, not even for a truncate or fallocate in progress (which
 * it sees once done). */
off_t dfs_file_size(struct dfs_file *f);
/* The sticky error (negative errno) or 0. */
int dfs_file_error(struct dfs_file *f);
/*
 * Write out everything staged and fsync, unless nothing was written,
 * truncated or allocated since the last fsync.  Returns the file's error.
 * The file stays open: its stats show the fsync running and its result.
 */
int dfs_file_finish(struct dfs_file *f);
/* Has dfs_file_finish anything to do: a sync to run (something written,
 * truncated or allocated since the last fsync) or an error to return? */
bool dfs_file_finish_pending(struct dfs_file *f);
/*
 * dfs_file_finish of many files at once (group commit): one syncfs per
 * filesystem writes them back together and stands for their fsyncs;
 * each file still gets its own writeback error.  Where a syncfs fails,
 * its files are fsynced one by one, so an error lands on the file it
 * belongs to.  res[i] receives what dfs_file_finish(files[i]) would return.
 */
void dfs_file_finish_many(struct dfs_file **files, size_t n, int *res);
/* Finish and free.  Returns the file's error, if any; the staged data of a
 * file in error is dropped (and logged). */
int dfs_file_close(struct dfs_file *f);
/* Free without the sync, for a file with no name left (nobody can read
 * it again): what is still staged is dropped.  The file's error, if any. */
int dfs_file_close_unsynced(struct dfs_file *f);

struct dfs_file_stats {
	uint64_t written; /* bytes accepted from applications */
	uint64_t synced;  /* of those, written out (or dropped by truncate) */
	uint64_t durable; /* of those, covered by a completed fsync */
	uint64_t pending; /* staged or in flight: written - synced */
	off_t size;
	enum dfs_state state;
	int error; /* negative errno or 0 */
	int fallback;
	struct dfs_align align;
};

/* Never blocks behind disk I/O or the file's lock: the counters are
 * atomics. */
void dfs_file_stats(struct dfs_file *f, struct dfs_file_stats *st);

/* ---- writes (stage.c) ---- */

/* Stage len bytes at off (any offset and size); written out in the
 * background, at flush, sync or close.  len, or -errno. */
ssize_t dfs_file_write(struct dfs_file *f, const void *buf, size_t len, off_t off);
/* Write at the logical end of file, atomically against other writers;
 * *at receives the offset written to. */
ssize_t dfs_file_append(struct dfs_file *f, const void *buf, size_t len, off_t *at);

/*
 * One copy per byte.  dfs_file_write_swap() is dfs_file_write() of a
 * buffer from dfs_engine_buf_alloc: a write of exactly one window
 * (len == buf_size at a multiple of it) takes *buf into the stage instead
 * of copying it, and puts in *buf another buffer of the same kind for the
 * caller to keep.  Anything else is copied.
 */
ssize_t dfs_file_write_swap(struct dfs_file *f, char **buf, size_t len, off_t off);

/* ---- checksums (digest.c) ---- */

/* A write the sum cannot follow (through a shared mapping): this
 * session's file gets no tag. */
void dfs_file_digest_give_up(struct dfs_file *f);
/* The caller has just made the backing file (O_CREAT | O_EXCL): it carries
 * no tag, and the session's first change looks for none to remove. */
void dfs_file_made(struct dfs_file *f);
/* The sum of the file, if this session wrote it from 0 straight to its
 * end, and it is not empty (and the mount sums): 0, or -ENODATA. */
int dfs_file_digest(struct dfs_file *f, enum dfs_sum_kind *kind, char hex[DFS_SUM_HEX_MAX]);
/* Once the file is durable (dfs_file_finish): keep that sum on the backing
 * file as its tag, stamped with its mtime.  0, -ENODATA (no sum), -EBUSY
 * (written since), or the -errno of setting it (-EOPNOTSUPP: SOURCE keeps
 * no user xattrs). */
int dfs_file_tag(struct dfs_file *f);

/* ---- reads (read.c) ---- */

/* Read through staged data and the backing file (O_DIRECT, bounce buffers
 * where buf or the range is unaligned).  Short only at end of file. */
ssize_t dfs_file_read(struct dfs_file *f, void *buf, size_t len, off_t off);
/*
 * The same, for a caller that only passes the bytes on (a FUSE reply):
 * on success deliver(arg, data, n) is called once, with no lock held, and
 * its n is what the read returns.  Bytes the engine already holds in a
 * read-ahead buffer are delivered from there, without a copy (data is
 * valid only during the call); the rest are read into buf (len bytes)
 * and delivered from it.  On failure deliver is not called.
 */
typedef void dfs_deliver(void *arg, const void *data, size_t n);
ssize_t dfs_file_read_deliver(struct dfs_file *f, void *buf, size_t len, off_t off,
			      dfs_deliver *deliver, void *arg);

/*
 * copy_file_range(2) through the stage: len bytes of in at off_in written
 * to out at off_out as dfs_file_read and dfs_file_write would, without
 * the bytes passing through the caller.  *buf is a buffer of the staging
 * kind (dfs_engine_buf_alloc) to read into; where a piece is one whole
 * window of out it is traded into out's stage (dfs_file_write_swap: *buf
 * comes back another buffer), so an aligned copy costs no memory copy.
 * in and out belong to one engine and may be the same file (ranges not
 * overlapping).  The bytes copied, short only at in's end of file or
 * after a failed write (whose error, sticky, the next call returns), or
 * -errno.
 */
ssize_t dfs_file_copy(struct dfs_file *in, off_t off_in, struct dfs_file *out, off_t off_out,
		      size_t len, char **buf);

/* ---- mount-wide figures (engine.c) ---- */

struct dfs_engine_stats {
	uint64_t open_files;
	uint64_t written, synced, durable, pending; /* since create */
	uint64_t mem_used;			    /* staging bytes allocated */
	uint64_t cached; /* written by closes through the page cache, not yet synced */
	uint64_t fallback_files, error_files; /* currently open */
	uint64_t rate; /* bytes/s written grew by over the last second; 0 once a
			* second passes without a write */
	uint64_t yielded; /* times other programs' I/O made the engine yield */
	int yielding;	  /* it yields now */
};
void dfs_engine_stats(struct dfs_engine *e, struct dfs_engine_stats *st);

/* The file's state as the progress protocol spells it ("idle", ...,
 * "error:ENOSPC"; dfs_progress.h) into buf; returns buf. */
const char *dfs_state_string(const struct dfs_file_stats *st, char *buf, size_t len);

#endif /* DFS_ENGINE_H */
