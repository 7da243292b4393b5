/* SPDX-License-Identifier: MIT */
/*
 * dfs_internal.h - structures shared by the engine's files: file.c (a
 * file's life), read.c (reads and copies), stage.c (the write stage),
 * window.c (the windows both sit on), disk.c (its I/O), pace.c (yielding
 * the disk to other programs), engine.c (pool, workers, reclaim).  Not
 * installed; fs/ uses dfs_engine.h only.
 *
 * Locking and ownership, the one place they are written down:
 *
 *  - f->lock protects everything in a dfs_file that is not _Atomic: the
 *    window list, size, disk_size, counts, spare, appending.  Staging may
 *    drop it to wait for a buffer or a window in flight; an append keeps
 *    others out meanwhile with appending (and f->cv).  err is written
 *    under it (first error wins) and read anywhere.
 *  - e->lock protects the engine's pool (free list, nalloc, inflight), the
 *    job queue, the list of pool clients (open files) and every client's
 *    refs/dying.  engine.c knows files only as clients and windows only as
 *    jobs: it calls back through their function pointers, never into
 *    stage.c or file.c by name.
 *  - e->pace_lock guards the pacer (pace.c): it is taken with no other
 *    lock held (O_DIRECT writes run with none) and held across no I/O
 *    or sleep.
 *  - Lock order is f->lock, then e->lock.  Nobody takes a file lock while
 *    holding e->lock: the reclaim path picks a victim under e->lock, pins
 *    it with refs, drops e->lock and only then locks the victim.
 *  - A window on f->windows and not in flight is staged (it has dirty
 *    blocks) or clean (none): only threads holding f->lock touch it.
 *    Once submitted (inflight) its buffer and bitmap are immutable until
 *    the worker's completion, which runs under f->lock; a reader may copy
 *    from an in-flight buffer under f->lock meanwhile.
 *    At most one window per index exists: a write into an in-flight
 *    window's range waits for it to complete.
 *  - Buffers move between pool, f->spare, staged window and worker by
 *    pointer; nothing is copied on a flush.
 *  - Counters (_Atomic) are written under f->lock and read without it.
 *  - What f->lock is held across.  It is dropped for every wait on
 *    another thread (a buffer from the pool, a window in flight, f->cv)
 *    and for a read of the disk where nothing is staged (read.c).  It is
 *    held across these system calls on the file's own descriptors, so a
 *    second call on the same file waits for them, and a stuck disk stalls
 *    that file (never another file, nor the engine: e->lock is never held
 *    across I/O):
 *      - the read of a block a write covers only in part (window.c,
 *        dfs_window_fill_block: read-modify-write), and reads of the
 *        missing blocks of a window a read falls into, or of a range that
 *        is partly staged (window.c: dfs_window_read_locked; read.c:
 *        file_read);
 *      - ftruncate (dfs_file_truncate), fallocate and the fstat after it
 *        (dfs_file_fallocate), lseek for SEEK_DATA/SEEK_HOLE
 *        (dfs_file_seek_data), the fstat that notes SOURCE's ctime and
 *        size when a lock is let go or taken (dfs_file_lock_release,
 *        dfs_file_lock_acquired).
 *    Never across a write of the data (workers write with no lock held;
 *    a flush that writes its last window itself drops the lock for it),
 *    nor across an fsync or syncfs (sync_begin and sync_end take it on
 *    either side).
 *
 * Invariants (under f->lock):
 *  - disk_size <= size; bytes of the backing file past disk_size are zero
 *    as far as the engine is concerned.
 *  - A valid block holds the file's current bytes for that block; its bytes
 *    at or past size are zero.  No valid block starts at or past size.
 *  - A dirty block is valid (ndirty counts them).  A staged window has
 *    dirty blocks; a clean one has none, and every valid block of it holds
 *    what the disk holds.  nstaged, nclean and nflight count the windows
 *    of each kind.
 */
#ifndef DFS_INTERNAL_H
#define DFS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "dfs_engine.h"
#include "dfs_io.h"

/* Not yet in Debian 12's headers (Linux 6.14 uapi). */
#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

/* The mount-wide rate: written's growth in slots of DFS_RATE_SLOT_NS,
 * the current one and the DFS_RATE_SPAN - 1 before it (a second). */
#define DFS_RATE_SLOT_NS 250000000u
#define DFS_RATE_SPAN 4
#define DFS_RATE_SLOTS 8
/* Read-ahead slots of a file: windows read ahead of a sequential reader.
 * 4 read a 2 GiB file at 1.04 x raw dd iflag=direct where 2 did 0.89 x;
 * 8 were faster still but take half the default cap (docs/benchmarks.md). */
#define DFS_RA_SLOTS 4
#define DFD_LATER (-2)

#define dfs_container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* Work for the I/O threads: run(job) on a worker, with no locks held. */
struct dfs_job {
	struct dfs_job *next; /* e->qhead while queued */
	void (*run)(struct dfs_job *job);
};

/* A user of the buffer pool that can give buffers back when the pool runs
 * dry: an open file. */
struct dfs_client {
	LIST_ENTRY(dfs_client) link; /* e->clients */
	/* Give a buffer back, or start writing one out; no locks held. */
	void (*reclaim)(struct dfs_client *c);
	atomic_uint reclaimable; /* buffers it could give back, a hint */
	unsigned refs;		 /* reclaimers holding it, under e->lock */
	bool dying;		 /* leaving: no new reclaimer may take it */
};

struct dfs_window {
	struct dfs_window *next; /* f->windows or f->free_windows */
	struct dfs_job job;	 /* its write-out, while submitted */
	struct dfs_file *file;
	uint64_t idx;	    /* covers [idx * wsize, (idx + 1) * wsize) */
	char *buf;	    /* wsize bytes, aligned */
	uint64_t app_bytes; /* bytes applications wrote into it */
	uint64_t lru;	    /* f->clock at last write */
	off_t eof;	    /* logical size when submitted */
	unsigned nvalid;    /* blocks holding the file's current bytes */
	unsigned ndirty;    /* of those, blocks the disk does not have yet */
	bool inflight;
	bool cached; /* write through the page cache (a small file's close) */
	bool keep;   /* stays, clean, after its write-out (see stage.c) */
	bool extends; /* its write-out grows the backing file (extend_lock) */
	/* Two bitmaps of one bit per block: valid, then dirty (a subset of
	 * valid), each dfs_bitmap_words() long. */
	uint64_t valid[];
};

struct dfs_file {
	struct dfs_engine *eng;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* window completions */
	/* Held, and no other lock, across the write-out of a window that
	 * grows the backing file: one such write at a time per file.  The
	 * kernel takes the inode lock exclusively for it anyway, and a
	 * second writer only spins on that lock (stage.c). */
	pthread_mutex_t extend_lock;

	int fd;		/* plain descriptor: tail, fallback, fsync, truncate */
	atomic_int dfd; /* O_DIRECT descriptor, -1 in fallback, DFD_LATER until
			 * first needed (dfs_disk_direct_fd) */
	int accmode;	/* O_RDONLY / O_WRONLY / O_RDWR */
	struct dfs_align align;
	uint32_t blk;	  /* staging block: align.off, 4096 in fallback */
	unsigned nblocks; /* blocks per window */
	size_t wsize;

	off_t size;		/* logical size; set with size_set() */
	atomic_llong size_seen; /* a copy of size for readers without the lock */
	bool dirty;		/* written, truncated or allocated since the last fsync */
	bool appending;		/* an append is staging (it may drop the lock) */
	bool flush_cached;	/* windows submitted now go through the page cache */
	off_t disk_size;	/* what the backing file holds, as far as we wrote */
	/* The backing file's size as the writes that ended and the
	 * truncates left it: written by the window that extends it, under
	 * extend_lock; else under f->lock with no window in flight. */
	off_t disk_end;
	struct dfs_window *windows;
	struct dfs_window *free_windows;
	/* Windows not in flight: staged (dirty blocks to write) and clean
	 * (every valid block on disk too: kept as a cache for reads and
	 * rewrites, given back first when the pool runs short). */
	unsigned nstaged, nclean, nflight;
	bool closing; /* close's write-out: windows written are not kept */
	/* The backing file's change time and size when this file last
	 * handed it over or took it back under a lock (dfs_file_lock_*). */
	struct timespec seen_ctime;
	off_t seen_size;
	char *spare; /* a pool buffer waiting to become a window */
	uint64_t clock;

	atomic_bool fallback;
	atomic_bool no_dontcache;
	/* SOURCE's page cache is this host's (dfs_fd_syncfs_covers, asked
	 * once at adopt): a syncfs commits it, and buffered writes' pages
	 * can be dropped from here. */
	bool cache_local;
	/* The tail goes padded with O_DIRECT, then a cut (dfs_engine_opts
	 * tail); never a small file's close through the page cache. */
	bool tail_padded;
	/* After an O_DIRECT read, drop the range from the page cache: the
	 * filesystem may have read it buffered (dfs_direct_reads_uncached).
	 * -1 until the first read asks fstatfs (known at open on SOURCE's
	 * own filesystem: dfs_engine_opts.source_type). */
	atomic_int drop_reads;
	atomic_int err;
	atomic_int syncing;
	atomic_uint_fast64_t written, synced, durable, pending;
	atomic_uint_fast64_t cached; /* bytes written cached since the last sync */

	struct dfs_client client; /* of the pool; reclaimable: staged windows +
				   * spare + idle read-ahead buffers */

	/* Read-ahead (read.c), under lock but for what a slot's running read
	 * owns (its buf).  A slot holds the disk's bytes [off, off + len) as
	 * they were at disk_gen == gen. */
	struct dfs_ra {
		struct dfs_job job;
		struct dfs_file *file;
		char *buf; /* a pool buffer (wsize), or NULL */
		off_t off;
		size_t len;
		uint64_t gen;
		int err;
		bool busy;     /* its read is running */
		unsigned pins; /* deliveries from buf running without the lock */
	} ra[DFS_RA_SLOTS];
	off_t ra_next; /* where the last read ended: a read here is sequential */
	/* Bumped after every change to the backing file's bytes or size. */
	atomic_uint_fast64_t disk_gen;

	/* The checksum of the session's bytes as they stream (digest.c),
	 * under lock. */
	struct dfs_digest {
		struct dfs_sum sum;	 /* state NULL until first needed */
		bool live;		 /* every byte so far summed, in file order */
		off_t upto;		 /* [0, upto) is summed */
		struct dfs_piece *ahead; /* staged beyond upto, by offset, apart */
		size_t ahead_bytes;	 /* their bytes, <= DFS_DIGEST_AHEAD_MAX */
		bool untagged;		 /* SOURCE's tags removed (or none found) */
	} dg;
};
/* Bytes of out-of-order pieces one file keeps aside for its sum (and all
 * files together: a quarter of mem_cap, struct dfs_engine's aside). */
#define DFS_DIGEST_AHEAD_MAX (16u << 20)

/* Yielding the disk to other programs (pace.c), under e->pace_lock. */
#define DFS_PACE_SAMPLE_NS (100u * 1000u * 1000u) /* device counters, at most this often */
#define DFS_PACE_HOLD_NS (1000u * 1000u * 1000u)  /* shared this long after others were seen */
#define DFS_PACE_GRAIN (1u << 20) /* while shared, O_DIRECT writes go this much at a time */
#define DFS_PACE_REST 2		  /* and rest this many times as long as each took */
struct dfs_pace {
	bool sampled;		 /* dev and own_* hold the last sample */
	bool busy;		 /* a write's turn is taken (while shared: one at a time) */
	uint64_t last_ns;	 /* when sampled */
	uint64_t shared_until;	 /* others used the disk: yield until then */
	uint64_t next_ok;	 /* the last turn's pause ends */
	struct dfs_dev_counts dev;
	uint64_t own_w, own_r, own_f;
};

struct dfs_engine {
	struct dfs_engine_opts o;
	const struct dfs_io_ops *io;
	/* Bytes every file keeps aside for its sum (digest.c): at most a
	 * quarter of mem_cap together, DFS_DIGEST_AHEAD_MAX each. */
	atomic_size_t aside;

	pthread_mutex_t lock;
	pthread_cond_t pool_cv;	 /* a buffer came back */
	pthread_cond_t queue_cv; /* work queued, or stop */
	pthread_cond_t refs_cv;	 /* a dying file's refs reached 0 */

	/* pool, under lock.  cap_bufs: what the pool may allocate, mem_cap
	 * less the buffers lent outside it that it counts (lent_counted of
	 * lent, dfs_engine_buf_alloc); never under POOL_MIN. */
	size_t cap_bufs, nalloc, nfree, inflight;
	size_t lent, lent_counted;
	char **free_bufs;

	/* work queue, under lock */
	struct dfs_job *qhead, *qtail;
	bool stop;
	pthread_t *threads;
	unsigned nthreads;

	/* open files, under lock */
	LIST_HEAD(, dfs_client) clients;
	struct dfs_client *reclaim_cursor; /* where the next reclaim looks first */
	uint64_t nfiles;

	atomic_bool fallback_logged;
	/* Bytes written into files per slot of CLOCK_MONOTONIC, the last
	 * few, for the mount-wide rate. */
	pthread_mutex_t rate_lock;
	struct {
		uint64_t slot, bytes;
	} rate[DFS_RATE_SLOTS];
	atomic_uint_fast64_t written, synced, durable, pending;
	atomic_uint_fast64_t fallback_files, error_files;
	atomic_uint_fast64_t cached; /* all files' cached bytes, within cached_max */

	/* What the engine did to the disk, for pace.c to tell others' from
	 * its own: bytes written and read, fsyncs and syncfs calls. */
	atomic_uint_fast64_t own_write_bytes, own_read_bytes, own_flushes;
	pthread_mutex_t pace_lock;
	pthread_cond_t pace_cv; /* a turn was given back */
	struct dfs_pace pace;
	uint64_t pace_shared_count; /* times the disk became shared, under pace_lock */
};

/* ---- small helpers shared by the engine's files ---- */

/* Under f->lock: publish how many buffers the file could give back now:
 * staged windows, the spare, and read-ahead slots not being read into. */
static inline void dfs_update_reclaimable(struct dfs_file *f)
{
	unsigned n = f->nstaged + f->nclean + (f->spare ? 1 : 0);

	for (int i = 0; i < DFS_RA_SLOTS; i++)
		n += f->ra[i].buf && !f->ra[i].busy && !f->ra[i].pins;
	atomic_store(&f->client.reclaimable, n);
}

/* The sticky error: set once, under f->lock; read anywhere. */
static inline int file_err(struct dfs_file *f)
{
	return atomic_load(&f->err);
}

/* Under f->lock (or before the file is shared): the logical size, and its
 * copy for readers without the lock. */
static inline void size_set(struct dfs_file *f, off_t size)
{
	f->size = size;
	atomic_store(&f->size_seen, (long long)size);
}

static inline void count_add(atomic_uint_fast64_t *fc, atomic_uint_fast64_t *ec,
			     uint64_t n)
{
	atomic_fetch_add(fc, n);
	atomic_fetch_add(ec, n);
}

static inline void count_sub_pending(struct dfs_file *f, uint64_t n)
{
	atomic_fetch_sub(&f->pending, n);
	atomic_fetch_sub(&f->eng->pending, n);
}

/* Bytes leave the stage: written out, or dropped by a truncate. */
static inline void settle(struct dfs_file *f, uint64_t n)
{
	count_sub_pending(f, n);
	count_add(&f->synced, &f->eng->synced, n);
}

/* engine.c */
char *dfs_pool_try_get(struct dfs_engine *e);
char *dfs_pool_get(struct dfs_engine *e); /* blocks; NULL only if mmap fails */
void dfs_pool_put(struct dfs_engine *e, char *buf);
/* A worker finished window w's buffer: back to the pool, one less in flight. */
void dfs_pool_put_written(struct dfs_engine *e, char *buf);
void dfs_engine_enqueue(struct dfs_engine *e, struct dfs_job *job);
/* A queued job that gives no buffer back (a read-ahead) is done. */
void dfs_engine_job_done(struct dfs_engine *e);
/* Run a job on the calling thread, no locks held, counted like a queued one. */
void dfs_engine_run_here(struct dfs_engine *e, struct dfs_job *job);
/* n bytes were written into a file just now (its written grew by n). */
void dfs_engine_count_rate(struct dfs_engine *e, uint64_t n);
/* CLOCK_MONOTONIC, or the test's clock (opts.now_ns), in ns. */
uint64_t dfs_engine_now(const struct dfs_engine *e);
/* pace.c: before an O_DIRECT write, wait for a turn while other programs
 * use the disk; true when a turn was taken, to be handed to
 * dfs_pace_leave with the write's start time once the write is done. */
bool dfs_pace_enter(struct dfs_engine *e);
void dfs_pace_leave(struct dfs_engine *e, bool turn, uint64_t t0);
void dfs_engine_link(struct dfs_engine *e, struct dfs_client *c);
/* After this no reclaimer holds or can find c. */
void dfs_engine_unlink(struct dfs_engine *e, struct dfs_client *c);
void dfs_log(struct dfs_engine *e, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* disk.c: no locks needed */
/* The file cannot use O_DIRECT (why, said once per mount in the log). */
void dfs_disk_enter_fallback(struct dfs_file *f, const char *why);
/* Buffered write that leaves no page cache behind. */
int dfs_disk_write_uncached(struct dfs_file *f, const char *buf, size_t len, off_t off);
/* A plain write through the page cache, left there: the file's sync
 * writes the pages back and drops them (a small file's close, within the
 * cap on cached bytes). */
int dfs_disk_write_cached(struct dfs_file *f, const char *buf, size_t len, off_t off);
/* The O_DIRECT descriptor, opened at first use (a small file written
 * through the page cache never needs one); -1 in fallback (entered here
 * when the open is refused), or -errno when none can be had now (the
 * caller then uses the plain descriptor). */
int dfs_disk_direct_fd(struct dfs_file *f);
/* Whole aligned blocks from an aligned buffer, with O_DIRECT. */
int dfs_disk_write_direct(struct dfs_file *f, const char *buf, size_t len, off_t off);
/* The same for n pieces at once (dfs_io_write_batch): 0 or the first
 * -errno, every piece tried. */
int dfs_disk_write_direct_batch(struct dfs_file *f, struct dfs_io_piece *p, unsigned n);
/* [off, off + len) into buf, zero-filled at and past disk_size. */
ssize_t dfs_disk_read(struct dfs_file *f, char *buf, size_t len, off_t off,
		      off_t disk_size);
/* The same through the page cache, pages left there: for the
 * read-modify-write of a small file's block, whose data a close has just
 * written through the page cache (an O_DIRECT read would first write it
 * back and then read it from the disk).  Only for a file open for
 * writing: the sync that follows its write drops its pages. */
ssize_t dfs_disk_read_cached(struct dfs_file *f, char *buf, size_t len, off_t off,
			     off_t disk_size);

/* window.c, all under f->lock: the windows of a file and their bitmaps */
/* Block b of w holds the file's current bytes; holds bytes the disk lacks
 * (the window's first makes it staged; w not in flight); holds nothing
 * (the window's last dirty one gone makes it clean, its applications'
 * bytes settled). */
/* Where w starts in the file; the words of one bitmap; is block b of w
 * valid, dirty. */
off_t dfs_win_off(const struct dfs_file *f, const struct dfs_window *w);
size_t dfs_bitmap_words(const struct dfs_file *f);
bool dfs_blk_valid(const struct dfs_window *w, unsigned b);
bool dfs_blk_dirty(const struct dfs_file *f, const struct dfs_window *w, unsigned b);
/* The first block of w at or after from whose dirty bit (dirty) or valid
 * bit (!dirty) is set (or clear: !set), or f->nblocks if none is; a word
 * of the bitmap at a time. */
unsigned dfs_blk_next(const struct dfs_file *f, const struct dfs_window *w, bool dirty,
		      unsigned from, bool set);
/* One past w's last dirty block; 0 if it has none. */
unsigned dfs_blk_dirty_end(const struct dfs_file *f, const struct dfs_window *w);
void dfs_blk_set_valid(struct dfs_window *w, unsigned b);
void dfs_blk_set_dirty(struct dfs_file *f, struct dfs_window *w, unsigned b);
void dfs_blk_clear(struct dfs_file *f, struct dfs_window *w, unsigned b);
/* The window of index idx, or NULL; whether any lies in [off, off + len). */
struct dfs_window *dfs_window_find(struct dfs_file *f, uint64_t idx);
bool dfs_window_any(struct dfs_file *f, off_t off, size_t len);
/* A new clean window for idx on f->spare, which the caller provides;
 * NULL without memory for its bitmaps. */
struct dfs_window *dfs_window_new(struct dfs_file *f, uint64_t idx);
/* w, not in flight, leaves unwritten: clean, truncated away (settled),
 * or lost with a file in error; its buffer goes to *take, else the pool. */
void dfs_window_drop(struct dfs_file *f, struct dfs_window *w, bool settled, char **take);
/* w leaves the list, its buffer already taken (a completed write-out). */
void dfs_window_unlink(struct dfs_file *f, struct dfs_window *w);
/* Every block dirty and the file reaches its end (a stream's window). */
bool dfs_window_full(const struct dfs_file *f, const struct dfs_window *w);
/* The least recently used staged (full_only: full) or clean window not in
 * flight, or NULL. */
struct dfs_window *dfs_window_oldest_staged(struct dfs_file *f, bool full_only);
struct dfs_window *dfs_window_oldest_clean(struct dfs_file *f);
/* Give the least recently used clean window's buffer back; false when
 * there is none.  drop_clean gives back all (the disk changed under them,
 * or the file is closing). */
bool dfs_window_release_clean(struct dfs_file *f);
void dfs_window_drop_clean(struct dfs_file *f);
/* Make sure f->spare holds a buffer without waiting: a free one from the
 * pool, else the file's least recently used clean window's.  Whether it
 * does. */
bool dfs_window_spare_now(struct dfs_file *f);
/* Make block b of w valid, reading it from the disk if needed (the
 * read-modify-write of a partly covered block).  0 or -errno. */
int dfs_window_fill_block(struct dfs_file *f, struct dfs_window *w, unsigned b);
/* Copy [off, off + len), inside w's index, out of w, reading its missing
 * blocks into it first (around it while it is in flight). */
ssize_t dfs_window_read_locked(struct dfs_file *f, struct dfs_window *w, char *dst,
			       size_t len, off_t off);

/* read.c, under f->lock: give back read-ahead buffers not being read
 * into; all = false stops at the first (reclaim).  Returns how many. */
unsigned dfs_ra_release(struct dfs_file *f, bool all);
/* Under f->lock: wait until no read-ahead read runs (close). */
void dfs_ra_quiesce(struct dfs_file *f);

/* stage.c: all under f->lock but the worker entries */
/* Give the spare buffer back; false when there was none. */
bool dfs_stage_release_spare(struct dfs_file *f);
/* Start the write-out of the oldest staged window, if depth allows; it
 * gives its buffer back when done. */
void dfs_stage_write_oldest(struct dfs_file *f);
/* Record the first error; it stays until close. */
void dfs_stage_set_error(struct dfs_file *f, int err);

/* digest.c, under f->lock: begin a session on a file of size (summed if
 * it is empty and the mount sums), and end it; before a change of the
 * file's bytes or size, remove SOURCE's tags (0 or -errno: then the
 * change must not be made; the lock is dropped for it the first time);
 * after bytes staged at off, a truncate, or a change the sum cannot
 * follow. */
void dfs_digest_open(struct dfs_file *f, off_t size);
void dfs_digest_free(struct dfs_file *f);
int dfs_digest_change(struct dfs_file *f);
void dfs_digest_write(struct dfs_file *f, const char *p, size_t n, off_t off);
void dfs_digest_truncate(struct dfs_file *f, off_t size);
void dfs_digest_give_up(struct dfs_file *f);
/* Wait for one window completion; returns the sticky error. */
int dfs_stage_wait(struct dfs_file *f);
/* Write out every staged window and wait for all; the sticky error. */
int dfs_stage_flush_locked(struct dfs_file *f);
/* Forget staged bytes at and past size. */
void dfs_stage_trim(struct dfs_file *f, off_t size);
/* Drop every staged window of a file in error, and its spare buffer;
 * returns the bytes applications wrote that are lost. */
uint64_t dfs_stage_discard(struct dfs_file *f);

#endif /* DFS_INTERNAL_H */
