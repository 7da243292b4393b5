/* SPDX-License-Identifier: MIT */
/*
 * disk.c - the disk I/O of one backing file: O_DIRECT writes of whole
 * aligned blocks, uncached buffered writes (the tail, and whole files in
 * fallback), and reads that zero-fill past what the disk holds.  No lock
 * is needed here: only descriptors and flags are read.  Locking rules:
 * dfs_internal.h.
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/vfs.h>
#include <unistd.h>

/* A range dropped after a read is widened to multiples of this, so that
 * the pages it only partly covers go too (fadvise keeps those), whatever
 * the page size (up to 64 KiB). */
#define DROP_ROUND 65536

/* Largest bounce buffer for an unaligned piece of a read. */
#define BOUNCE_MAX (256u * 1024u)

/* A range that ends inside a block goes whole through a bounce buffer,
 * in one read, up to this long: copying 64 KiB costs less than a second
 * trip to the device for its last block. */
#define ONE_READ_MAX (64u * 1024u)

void dfs_disk_enter_fallback(struct dfs_file *f, const char *why)
{
	if (atomic_exchange(&f->fallback, true))
		return;
	atomic_fetch_add(&f->eng->fallback_files, 1);
	if (!atomic_exchange(&f->eng->fallback_logged, true))
		dfs_log(f->eng, LOG_WARNING,
			"backing filesystem refuses O_DIRECT (%s): writing uncached "
			"buffered instead",
			why);
}

/* Through the page cache, left there (dfs_internal.h). */
int dfs_disk_write_cached(struct dfs_file *f, const char *buf, size_t len, off_t off)
{
	int r = dfs_io_write_full(f->eng->io, f->fd, buf, len, off, 0);

	atomic_fetch_add(&f->eng->own_write_bytes, len);
	atomic_fetch_add(&f->disk_gen, 1); /* after: see read.c */
	return r;
}

/*
 * Buffered write that leaves no page cache behind: RWF_DONTCACHE where the
 * kernel and filesystem have it, else write, write back the range and drop
 * it.  Used for the tail and for whole files in fallback mode.
 */
int dfs_disk_write_uncached(struct dfs_file *f, const char *buf, size_t len, off_t off)
{
	const struct dfs_io_ops *io = f->eng->io;
	int r;

	if (!atomic_load(&f->no_dontcache)) {
		r = dfs_io_write_full(io, f->fd, buf, len, off, RWF_DONTCACHE);
		atomic_fetch_add(&f->eng->own_write_bytes, len);
		atomic_fetch_add(&f->disk_gen, 1);
		if (r != -EOPNOTSUPP && r != -EINVAL)
			return r; /* failed, or the kernel drops the pages itself */
		atomic_store(&f->no_dontcache, true);
	}
	r = dfs_disk_write_cached(f, buf, len, off);
	if (r)
		return r;
	r = io->sync_file_range(io->arg, f->fd, off, (off_t)len,
				SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					SYNC_FILE_RANGE_WAIT_AFTER);
	if (r && r != -ENOSYS && r != -EINVAL && r != -ESPIPE)
		return r;
	io->fadvise(io->arg, f->fd, off, (off_t)len, POSIX_FADV_DONTNEED);
	return 0;
}

int dfs_disk_direct_fd(struct dfs_file *f)
{
	int fd = atomic_load(&f->dfd), expect = DFD_LATER;

	if (fd != DFD_LATER)
		return fd;
	fd = dfs_reopen(f->fd, f->accmode | O_DIRECT);
	if (fd == -EINVAL) {
		dfs_disk_enter_fallback(f, "open with O_DIRECT refused");
		fd = -1;
	} else if (fd < 0) {
		return fd; /* EMFILE, ENOMEM ...: this call fails, a later one retries */
	}
	if (!atomic_compare_exchange_strong(&f->dfd, &expect, fd)) {
		if (fd >= 0)
			close(fd); /* a racing call's is in place */
		fd = expect;
	}
	return fd;
}

/* Whole aligned blocks from an aligned buffer: a batch of one. */
int dfs_disk_write_direct(struct dfs_file *f, const char *buf, size_t len, off_t off)
{
	struct dfs_io_piece p = {buf, len, off, 0};

	return dfs_disk_write_direct_batch(f, &p, 1);
}

/* The batch at once, or, while other programs use the disk (pace.c), a
 * grain at a time, each with its turn and its pause.  Every piece is
 * tried, as dfs_io_write_batch does; the first error is returned. */
static int write_direct_paced(struct dfs_engine *e, int dfd, struct dfs_io_piece *p,
			      unsigned n)
{
	bool turn = dfs_pace_enter(e);
	int r = 0;

	if (!turn)
		return dfs_io_write_batch(e->io, dfd, p, n);
	for (unsigned i = 0; i < n; i++) {
		for (size_t done = 0; done < p[i].len; done += DFS_PACE_GRAIN) {
			size_t len = p[i].len - done;
			struct dfs_io_piece g = {(const char *)p[i].buf + done,
						 len < DFS_PACE_GRAIN ? len : DFS_PACE_GRAIN,
						 p[i].off + (off_t)done, 0};
			uint64_t t0;
			int gr;

			if (!turn) /* false once the disk is ours again */
				turn = dfs_pace_enter(e);
			t0 = dfs_engine_now(e);
			gr = dfs_io_write_batch(e->io, dfd, &g, 1);
			dfs_pace_leave(e, turn, t0);
			turn = false;
			if (gr && !r)
				r = gr;
		}
	}
	return r;
}

/* In fallback, or no descriptor to be had now (EMFILE...): the pieces go
 * uncached through the plain descriptor, never lost.  An O_DIRECT write
 * refused although aligned (by construction) means this filesystem took
 * the O_DIRECT open but not the I/O: fallback. */
int dfs_disk_write_direct_batch(struct dfs_file *f, struct dfs_io_piece *p, unsigned n)
{
	int dfd = atomic_load(&f->fallback) ? -1 : dfs_disk_direct_fd(f), r = 0;

	if (dfd >= 0) {
		struct dfs_engine *e = f->eng;
		uint64_t bytes = 0;

		r = write_direct_paced(e, dfd, p, n);
		for (unsigned i = 0; i < n; i++)
			bytes += p[i].len;
		atomic_fetch_add(&e->own_write_bytes, bytes);
		atomic_fetch_add(&f->disk_gen, 1);
		if (r != -EINVAL)
			return r;
		dfs_disk_enter_fallback(f, "write refused");
		r = 0;
	}
	/* Every piece again, uncached: rewriting one that got through
	 * writes the same bytes. */
	for (unsigned i = 0; i < n && !r; i++)
		r = dfs_disk_write_uncached(f, p[i].buf, p[i].len, p[i].off);
	return r;
}

/* The bytes of [off, off + len) before disk_size. */
static size_t disk_part(size_t len, off_t off, off_t disk_size)
{
	if (off >= disk_size)
		return 0;
	return (off_t)(off + len) > disk_size ? (size_t)(disk_size - off) : len;
}

/* A plain read of [off, off + len) through the page cache, zero-filled
 * past disk_size; its pages dropped afterwards when drop. */
static ssize_t plain_read(struct dfs_file *f, char *buf, size_t len, off_t off,
			  off_t disk_size, bool drop)
{
	const struct dfs_io_ops *io = f->eng->io;
	size_t want = disk_part(len, off, disk_size);
	ssize_t r = 0;

	if (want) {
		r = dfs_io_read_full(io, f->fd, buf, want, off, 1);
		if (r < 0)
			return r;
		atomic_fetch_add(&f->eng->own_read_bytes, (uint64_t)r);
		if (drop)
			io->fadvise(io->arg, f->fd, off, (off_t)want, POSIX_FADV_DONTNEED);
	}
	memset(buf + r, 0, len - (size_t)r);
	return (ssize_t)len;
}

ssize_t dfs_disk_read_cached(struct dfs_file *f, char *buf, size_t len, off_t off,
			     off_t disk_size)
{
	assert(f->accmode != O_RDONLY);
	return plain_read(f, buf, len, off, disk_size, false);
}

/* Whether reads of f may have left pages behind (dfs_file.drop_reads);
 * fstatfs at the first read.  Where fstatfs fails: yes. */
static bool reads_may_cache(struct dfs_file *f)
{
	int v = atomic_load(&f->drop_reads);
	struct statfs sfs;

	if (v < 0) {
		v = fstatfs(f->fd, &sfs) || !dfs_direct_reads_uncached((long)sfs.f_type);
		atomic_store(&f->drop_reads, v);
	}
	return v;
}

/*
 * Read [off, off + len) of the backing file into buf, zero-filling at and
 * past disk_size (or the real end of file).  O_DIRECT in whole blocks, into
 * buf where it is aligned and the rest is whole blocks or longer than
 * ONE_READ_MAX, else through a bounce buffer: so a short range that ends
 * inside a block (a small file's read back) takes one read, not two.
 * Where the filesystem may have served it from its page cache instead
 * (btrfs), the pages of the range, the partial ones at its edges
 * included, are dropped.
 */
ssize_t dfs_disk_read(struct dfs_file *f, char *buf, size_t len, off_t off,
		      off_t disk_size)
{
	const struct dfs_io_ops *io = f->eng->io;
	size_t want = disk_part(len, off, disk_size);
	char *bounce = NULL;
	size_t bounce_size = 0;
	ssize_t r = 0;

	/* In fallback, or no O_DIRECT descriptor to be had now: a plain read
	 * whose pages are dropped. */
	int dfd = atomic_load(&f->fallback) || !want ? -1 : dfs_disk_direct_fd(f);
	if (dfd < 0 && want)
		return plain_read(f, buf, len, off, disk_size, true);

	const off_t blk = f->blk;
	size_t done = 0;
	while (done < want) {
		off_t pos = off + (off_t)done;
		char *dst = buf + done;
		size_t left = want - done;
		if (pos % blk == 0 && left >= (size_t)blk &&
		    (uintptr_t)dst % f->align.mem == 0 &&
		    (left % (size_t)blk == 0 || left > ONE_READ_MAX)) {
			size_t n = left - left % (size_t)blk;
			r = dfs_io_read_full(io, dfd, dst, n, pos, f->blk);
			if (r < 0)
				goto out;
			done += (size_t)r;
			if ((size_t)r < n)
				break; /* end of file */
			continue;
		}
		/* Unaligned piece: whole blocks into the bounce buffer. */
		off_t astart = pos - pos % blk;
		off_t aend = pos + (off_t)left;
		aend = (aend + blk - 1) / blk * blk;
		size_t alen = (size_t)(aend - astart);
		if (alen > BOUNCE_MAX)
			alen = BOUNCE_MAX;
		if (alen > bounce_size) {
			free(bounce);
			bounce_size = 0;
			if (posix_memalign((void **)&bounce, 4096, alen)) {
				bounce = NULL;
				r = -ENOMEM;
				goto out;
			}
			bounce_size = alen;
		}
		r = dfs_io_read_full(io, dfd, bounce, alen, astart, f->blk);
		if (r < 0)
			goto out;
		off_t got_end = astart + r;
		if (got_end <= pos)
			break; /* end of file */
		size_t n = (size_t)(got_end - pos);
		if (n > left)
			n = left;
		memcpy(dst, bounce + (pos - astart), n);
		done += n;
		if ((size_t)r < alen)
			break;
	}
	memset(buf + done, 0, len - done);
	r = (ssize_t)len;
out:
	free(bounce);
	atomic_fetch_add(&f->eng->own_read_bytes, want);
	if (want && reads_may_cache(f)) {
		off_t first = off / DROP_ROUND * DROP_ROUND;
		off_t end = (off + (off_t)want + DROP_ROUND - 1) / DROP_ROUND * DROP_ROUND;
		io->fadvise(io->arg, f->fd, first, end - first, POSIX_FADV_DONTNEED);
	}
	return r;
}
