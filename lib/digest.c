/* SPDX-License-Identifier: MIT */
/*
 * digest.c - a file's checksum taken as it streams to the disk, and its
 * tag on SOURCE (dfs_sum.h).  Everything here runs under f->lock.
 *
 * A session that begins on an empty file (created, or truncated to 0)
 * sums the bytes staged, in file order: a write at the end of what was
 * summed goes in at once, then whatever waits aside and is now next.  A
 * write beyond it (the kernel may send the pieces of one write on several
 * threads) is copied aside, DFS_DIGEST_AHEAD_MAX bytes at most, until the
 * gap before it fills.  Anything else gives the sum up for the session:
 * a write before the end of what was summed or over a piece aside (a
 * rewrite), a truncate to anything but 0 or the size summed, an fallocate
 * that changes the data, a write through a shared mapping, more aside
 * than the cap.  A truncate to 0 starts the sum again.  So the sum is of
 * a file written from 0 straight to its end, and of nothing else.
 *
 * The first change a session makes to the file removes every tag from
 * SOURCE before the change is made, whatever the mount's checksum option:
 * a tag never outlives the bytes it was made of.
 */
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct dfs_piece {
	struct dfs_piece *next;
	off_t off;
	size_t len;
	char data[];
};

/* The piece p leaves the aside list of f (unlinked by the caller). */
static void piece_free(struct dfs_file *f, struct dfs_piece *p)
{
	f->dg.ahead_bytes -= p->len;
	atomic_fetch_sub(&f->eng->aside, p->len);
	free(p);
}

static void drop_ahead(struct dfs_file *f)
{
	while (f->dg.ahead) {
		struct dfs_piece *p = f->dg.ahead;

		f->dg.ahead = p->next;
		piece_free(f, p);
	}
	assert(f->dg.ahead_bytes == 0);
}

static void give_up(struct dfs_file *f)
{
	f->dg.live = false;
	f->dg.upto = 0;
	drop_ahead(f);
}

/* Sum from byte 0 again (the file is empty). */
static void start(struct dfs_file *f)
{
	struct dfs_digest *dg = &f->dg;

	give_up(f);
	if (!dg->sum.state && dfs_sum_init(&dg->sum, f->eng->o.checksum))
		return; /* no memory for it: no tag, the copy goes on */
	dfs_sum_reset(&dg->sum);
	dg->live = true;
}

void dfs_digest_open(struct dfs_file *f, off_t size)
{
	memset(&f->dg, 0, sizeof(f->dg));
	if (f->eng->o.checksum != DFS_SUM_OFF && size == 0 && f->accmode != O_RDONLY)
		start(f);
}

void dfs_digest_free(struct dfs_file *f)
{
	drop_ahead(f);
	dfs_sum_free(&f->dg.sum);
}

static int fd_rm(void *arg, const char *name)
{
	struct dfs_file *f = arg;

	return f->eng->io->fremovexattr(f->eng->io->arg, f->fd, name);
}

/* Every tag attribute on the backing file, removed; 0 or -errno. */
static int untag(struct dfs_file *f)
{
	const struct dfs_io_ops *io = f->eng->io;
	char list[4096];
	ssize_t n = io->flistxattr(io->arg, f->fd, list, sizeof(list));

	return dfs_tag_remove_listed(list, (long)n, fd_rm, f);
}

int dfs_digest_change(struct dfs_file *f)
{
	int r;

	if (f->dg.untagged)
		return 0;
	/* Without the lock: SOURCE's xattr calls may wait (a frozen
	 * filesystem), and the pool's reclaim takes this lock.  Two changes
	 * may both remove; either way the tags are gone before either. */
	pthread_mutex_unlock(&f->lock);
	r = untag(f);
	pthread_mutex_lock(&f->lock);
	if (!r)
		f->dg.untagged = true;
	return r;
}

/* Keep a piece beyond what was summed until the gap before it fills. */
static void aside(struct dfs_file *f, const char *p, size_t n, off_t off)
{
	struct dfs_digest *dg = &f->dg;
	struct dfs_piece *prev = NULL, *next = dg->ahead, *piece;
	size_t all;

	while (next && next->off < off) {
		prev = next;
		next = next->next;
	}
	/* Over the piece before it or the one after it: a rewrite. */
	if ((prev && prev->off + (off_t)prev->len > off) ||
	    (next && next->off < off + (off_t)n) || dg->ahead_bytes + n > DFS_DIGEST_AHEAD_MAX) {
		give_up(f);
		return;
	}
	all = atomic_fetch_add(&f->eng->aside, n) + n;
	piece = all <= f->eng->o.mem_cap / 4 ? malloc(sizeof(*piece) + n) : NULL;
	if (!piece) { /* over the mount's share, or no memory */
		atomic_fetch_sub(&f->eng->aside, n);
		give_up(f);
		return;
	}
	piece->off = off;
	piece->len = n;
	memcpy(piece->data, p, n);
	piece->next = next;
	if (prev)
		prev->next = piece;
	else
		dg->ahead = piece;
	dg->ahead_bytes += n;
}

void dfs_digest_write(struct dfs_file *f, const char *p, size_t n, off_t off)
{
	struct dfs_digest *dg = &f->dg;

	if (!dg->live || !n)
		return;
	if (off < dg->upto) {
		give_up(f); /* a rewrite */
		return;
	}
	if (off > dg->upto) {
		aside(f, p, n, off);
		return;
	}
	dfs_sum_update(&dg->sum, p, n);
	dg->upto += (off_t)n;
	while (dg->ahead && dg->ahead->off <= dg->upto) {
		struct dfs_piece *q = dg->ahead;

		if (q->off < dg->upto) { /* overlaps what was just summed */
			give_up(f);
			return;
		}
		dfs_sum_update(&dg->sum, q->data, q->len);
		dg->upto += (off_t)q->len;
		dg->ahead = q->next;
		piece_free(f, q);
	}
}

void dfs_digest_truncate(struct dfs_file *f, off_t size)
{
	struct dfs_digest *dg = &f->dg;

	if (size == 0 && f->eng->o.checksum != DFS_SUM_OFF)
		start(f);
	else if (!(dg->live && size == dg->upto && !dg->ahead))
		give_up(f);
}

void dfs_digest_give_up(struct dfs_file *f)
{
	give_up(f);
}

void dfs_file_made(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	f->dg.untagged = true;
	pthread_mutex_unlock(&f->lock);
}

void dfs_file_digest_give_up(struct dfs_file *f)
{
	pthread_mutex_lock(&f->lock);
	give_up(f);
	pthread_mutex_unlock(&f->lock);
}

/* Under f->lock: the sum into hex if the session wrote the file from 0
 * straight to its end and it is not empty (no bytes to rot, and no tag
 * to remove when it is written next, say after a touch). */
static int digest_locked(struct dfs_file *f, enum dfs_sum_kind *kind, char *hex)
{
	struct dfs_digest *dg = &f->dg;

	if (!dg->live || dg->ahead || dg->upto != f->size || !dg->upto || file_err(f))
		return -ENODATA;
	dfs_sum_hex(&dg->sum, hex);
	*kind = dg->sum.kind;
	return hex[0] ? 0 : -ENOMEM;
}

int dfs_file_digest(struct dfs_file *f, enum dfs_sum_kind *kind, char hex[DFS_SUM_HEX_MAX])
{
	pthread_mutex_lock(&f->lock);
	int r = digest_locked(f, kind, hex);
	pthread_mutex_unlock(&f->lock);
	return r;
}

int dfs_file_tag(struct dfs_file *f)
{
	const struct dfs_io_ops *io = f->eng->io;
	enum dfs_sum_kind kind;
	char hex[DFS_SUM_HEX_MAX], ts[DFS_TAG_TS_MAX];
	struct stat st;
	int r;

	pthread_mutex_lock(&f->lock);
	r = digest_locked(f, &kind, hex);
	/* Nothing staged, nothing in flight: the mtime is the data's last. */
	if (!r && (f->dirty || f->nstaged || f->nflight))
		r = -EBUSY;
	if (!r)
		f->dg.untagged = false; /* a later change looks for a tag to remove */
	pthread_mutex_unlock(&f->lock);
	/* The xattr calls without the lock: the committer holds the only
	 * reference to this session's file now. */
	if (!r && fstat(f->fd, &st))
		r = -errno;
	if (!r) {
		dfs_tag_ts_format(&st.st_mtim, ts);
		r = io->fsetxattr(io->arg, f->fd, dfs_tag_attr(kind), hex, strlen(hex), 0);
	}
	if (!r)
		r = io->fsetxattr(io->arg, f->fd, dfs_tag_ts_attr(kind), ts, strlen(ts), 0);
	return r;
}
