/* SPDX-License-Identifier: MIT */
/*
 * pace.c - yielding the disk to the other programs on it.
 *
 * A stream of O_DIRECT writes is not held back by the kernel's writeback
 * throttling, which keeps buffered writeback from starving other I/O: a
 * database's commits (a small write and a flush) wait behind the
 * engine's megabytes.  With dev_counts set (struct dfs_engine_opts), the
 * engine reads the counters of SOURCE's disk at most every
 * DFS_PACE_SAMPLE_NS and takes away what it did itself (own_*, counted by
 * disk.c and file.c); where the rest says other programs use the disk,
 * it is shared for the next DFS_PACE_HOLD_NS.  While shared, the engine's
 * O_DIRECT writes (disk.c) go one at a time, DFS_PACE_GRAIN each, and
 * each is followed by a pause DFS_PACE_REST times as long as it took: the
 * engine's writes take at most a third of the disk's time, and the
 * others' I/O finds a queue with at most one grain of them ahead of it.
 * Reads are not paced: pacing them too made a copy take 3.7 times as long
 * and cost a committing neighbour no less (docs/benchmarks.md).  Alone on
 * the disk, nothing waits.
 *
 * Another program is using the disk when, over a sample, beyond the
 * engine's own: three flushes more than twice the engine's fsyncs (each
 * of which may cost the disk two; a journal commit of the filesystem's
 * own costs two, every few seconds), or writes beyond 4 MiB plus an eighth
 * of the engine's (its own metadata and journal), or reads beyond
 * 256 KiB plus an eighth of its own.  Device counters and the engine's
 * own are counted at different moments, hence the slack.
 *
 * Locking: dfs_internal.h (e->pace_lock).
 */
#define _GNU_SOURCE
#include "dfs_internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/* Under pace_lock: sample the device if due; shared_until moves on when
 * others used it since the last sample. */
static void sample_locked(struct dfs_engine *e, uint64_t now)
{
	struct dfs_pace *p = &e->pace;
	struct dfs_dev_counts dev;
	uint64_t own_w = atomic_load(&e->own_write_bytes);
	uint64_t own_r = atomic_load(&e->own_read_bytes);
	uint64_t own_f = atomic_load(&e->own_flushes);

	if (p->sampled && now - p->last_ns < DFS_PACE_SAMPLE_NS)
		return;
	if (e->o.dev_counts(e->o.dev_arg, &dev)) {
		p->sampled = false; /* the device is gone: never shared */
		p->shared_until = 0;
		return;
	}
	if (p->sampled) {
		uint64_t dw = dev.write_bytes - p->dev.write_bytes, ow = own_w - p->own_w;
		uint64_t dr = dev.read_bytes - p->dev.read_bytes, orr = own_r - p->own_r;
		uint64_t df = dev.flushes - p->dev.flushes, of = own_f - p->own_f;

		if (df >= 2 * of + 3 || dw > ow + ow / 8 + (4u << 20) ||
		    dr > orr + orr / 8 + (256u << 10)) {
			if (now >= p->shared_until)
				e->pace_shared_count++;
			p->shared_until = now + DFS_PACE_HOLD_NS;
		}
	}
	p->dev = dev;
	p->own_w = own_w;
	p->own_r = own_r;
	p->own_f = own_f;
	p->last_ns = now;
	p->sampled = true;
}

bool dfs_pace_enter(struct dfs_engine *e)
{
	struct dfs_pace *p = &e->pace;
	uint64_t now;

	if (!e->o.dev_counts)
		return false;
	pthread_mutex_lock(&e->pace_lock);
	for (;;) {
		now = dfs_engine_now(e);
		sample_locked(e, now);
		if (now >= p->shared_until)
			break; /* alone: no turn to take */
		if (p->busy) {
			pthread_cond_wait(&e->pace_cv, &e->pace_lock);
			continue;
		}
		if (now >= p->next_ok) {
			p->busy = true;
			pthread_mutex_unlock(&e->pace_lock);
			return true;
		}
		/* Our pause: sleep it out (at most a sample's time, so that a
		 * disk left alone meanwhile is seen). */
		uint64_t wait = p->next_ok - now;
		if (wait > DFS_PACE_SAMPLE_NS)
			wait = DFS_PACE_SAMPLE_NS;
		struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
		pthread_mutex_unlock(&e->pace_lock);
		nanosleep(&ts, NULL);
		pthread_mutex_lock(&e->pace_lock);
	}
	pthread_mutex_unlock(&e->pace_lock);
	return false;
}

void dfs_pace_leave(struct dfs_engine *e, bool turn, uint64_t t0)
{
	struct dfs_pace *p = &e->pace;

	if (!turn)
		return;
	pthread_mutex_lock(&e->pace_lock);
	uint64_t now = dfs_engine_now(e);
	assert(p->busy);
	p->busy = false;
	assert(now >= t0);
	p->next_ok = now + DFS_PACE_REST * (now - t0);
	pthread_cond_broadcast(&e->pace_cv);
	pthread_mutex_unlock(&e->pace_lock);
}

/* ---- SOURCE's disk, from sysfs ---- */

struct sysfs_dev {
	char path[64];
};

int dfs_dev_counts_sysfs_arg(dev_t dev, void **arg)
{
	struct sysfs_dev *d = malloc(sizeof(*d));
	struct dfs_dev_counts c;
	int r;

	if (!d)
		return -ENOMEM;
	snprintf(d->path, sizeof(d->path), "/sys/dev/block/%u:%u/stat", major(dev), minor(dev));
	r = dfs_dev_counts_sysfs(d, &c);
	if (r) {
		free(d);
		return r;
	}
	*arg = d;
	return 0;
}

/* The stat file's fields (Documentation/block/stat.rst): 3 sectors read,
 * 7 sectors written, 16 flush requests (0 where the kernel has fewer
 * fields); sectors are 512 bytes whatever the device's. */
int dfs_dev_counts_sysfs(void *arg, struct dfs_dev_counts *out)
{
	const struct sysfs_dev *d = arg;
	unsigned long long v[17] = {0};
	char buf[512];
	int fd = open(d->path, O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t len;
	char *p = buf, *end;

	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return len < 0 ? -errno : -EIO;
	buf[len] = '\0';
	while (n < 17) {
		errno = 0;
		v[n] = strtoull(p, &end, 10);
		if (end == p || errno)
			break;
		p = end;
		n++;
	}
	if (n < 11)
		return -EIO;
	out->read_bytes = v[2] * 512;
	out->write_bytes = v[6] * 512;
	out->flushes = v[15];
	return 0;
}
