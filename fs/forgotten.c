/* SPDX-License-Identifier: MIT */
/*
 * forgotten.c - the last sessions of forgotten files (forgotten.h): a fixed array
 * of records used in turn, chained into hash buckets by (dev, ino).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "forgotten.h"

int fs_forgotten_init(struct fs_forgotten *m)
{
	memset(m, 0, sizeof(*m));
	m->recs = calloc(FS_FORGOTTEN_MAX, sizeof(*m->recs));
	m->buckets = malloc(FS_FORGOTTEN_BUCKETS * sizeof(*m->buckets));
	if (!m->recs || !m->buckets) {
		free(m->recs);
		free(m->buckets);
		return -ENOMEM;
	}
	for (size_t i = 0; i < FS_FORGOTTEN_BUCKETS; i++)
		m->buckets[i] = -1;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void fs_forgotten_destroy(struct fs_forgotten *m)
{
	pthread_mutex_destroy(&m->lock);
	free(m->recs);
	free(m->buckets);
}

static size_t bucket_of(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 32)) * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 40) & (FS_FORGOTTEN_BUCKETS - 1);
}

/* Under the lock: the link that points at the record of (dev, ino), or at
 * the -1 ending its bucket's chain. */
static int32_t *find_locked(struct fs_forgotten *m, dev_t dev, ino_t ino)
{
	int32_t *p = &m->buckets[bucket_of(dev, ino)];

	while (*p >= 0) {
		struct fs_forgotten_rec *r = &m->recs[*p];

		assert(r->used);
		if (r->dev == dev && r->ino == ino)
			break;
		p = &r->next;
	}
	return p;
}

/* Under the lock: unchain the record *p points at. */
static void drop_locked(struct fs_forgotten *m, int32_t *p)
{
	struct fs_forgotten_rec *r = &m->recs[*p];

	assert(r->used && m->count > 0);
	*p = r->next;
	r->used = false;
	m->count--;
}

void fs_forgotten_put(struct fs_forgotten *m, const struct stat *st,
		      const struct dfs_file_stats *last)
{
	struct fs_forgotten_rec *r;
	int32_t *p, i;

	pthread_mutex_lock(&m->lock);
	p = find_locked(m, st->st_dev, st->st_ino);
	if (*p >= 0)
		drop_locked(m, p);
	i = (int32_t)(m->turn++ % FS_FORGOTTEN_MAX);
	r = &m->recs[i];
	if (r->used) /* the oldest record goes */
		drop_locked(m, find_locked(m, r->dev, r->ino));
	r->dev = st->st_dev;
	r->ino = st->st_ino;
	r->ctime = st->st_ctim;
	r->size = st->st_size;
	r->last = *last;
	r->used = true;
	p = &m->buckets[bucket_of(r->dev, r->ino)];
	r->next = *p;
	*p = i;
	m->count++;
	assert(m->count <= FS_FORGOTTEN_MAX);
	pthread_mutex_unlock(&m->lock);
}

bool fs_forgotten_take(struct fs_forgotten *m, const struct stat *st,
		       struct dfs_file_stats *last)
{
	struct fs_forgotten_rec *r;
	bool same = false;
	int32_t *p;

	pthread_mutex_lock(&m->lock);
	p = find_locked(m, st->st_dev, st->st_ino);
	if (*p >= 0) {
		r = &m->recs[*p];
		same = r->ctime.tv_sec == st->st_ctim.tv_sec &&
		       r->ctime.tv_nsec == st->st_ctim.tv_nsec && r->size == st->st_size;
		if (same)
			*last = r->last;
		drop_locked(m, p);
	}
	pthread_mutex_unlock(&m->lock);
	return same;
}
