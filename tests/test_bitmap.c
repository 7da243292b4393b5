/* SPDX-License-Identifier: MIT */
/*
 * Description: the word-at-a-time scans of a window's bitmaps
 * (dfs_blk_next, dfs_blk_dirty_end) find what a block-by-block scan
 * finds, for every start, both bitmaps and both values, over window
 * sizes that end inside a word, on one and at a word's edge.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "dfs_internal.h"

#include <stdlib.h>

static unsigned naive_next(const struct dfs_file *f, const struct dfs_window *w, bool dirty,
			   unsigned from, bool set)
{
	for (unsigned b = from; b < f->nblocks; b++)
		if ((dirty ? dfs_blk_dirty(f, w, b) : dfs_blk_valid(w, b)) == set)
			return b;
	return f->nblocks;
}

static unsigned naive_dirty_end(const struct dfs_file *f, const struct dfs_window *w)
{
	unsigned end = 0;

	for (unsigned b = 0; b < f->nblocks; b++)
		if (dfs_blk_dirty(f, w, b))
			end = b + 1;
	return end;
}

START_TEST(test_scans)
{
	static const unsigned sizes[] = {1, 2, 63, 64, 65, 127, 128, 130, 1024, 8192};
	const unsigned nblocks = sizes[_i];
	struct dfs_file *f = calloc(1, sizeof(*f));
	uint64_t seed = 77 + _i;

	ck_assert_ptr_nonnull(f);
	f->nblocks = nblocks;
	size_t words = dfs_bitmap_words(f);
	struct dfs_window *w = calloc(1, sizeof(*w) + 2 * words * sizeof(uint64_t));
	ck_assert_ptr_nonnull(w);
	/* Empty, full, sparse and dense patterns, valid a superset of dirty. */
	for (int pattern = 0; pattern < 6; pattern++) {
		memset(w->valid, 0, 2 * words * sizeof(uint64_t));
		for (unsigned b = 0; b < nblocks; b++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			unsigned r = (unsigned)(seed >> 33) % 100;
			bool valid = pattern == 1 || (pattern >= 2 && r < 10u + 20u * (unsigned)pattern);
			bool dirty = valid && (pattern == 1 || r % 3 == 0 || pattern == 5);
			if (valid)
				w->valid[b / 64] |= 1ull << (b % 64);
			if (dirty)
				w->valid[words + b / 64] |= 1ull << (b % 64);
		}
		for (unsigned from = 0; from <= nblocks + 1; from++)
			for (int k = 0; k < 4; k++) {
				bool dirty = k & 1, set = k & 2;
				ck_assert_uint_eq(dfs_blk_next(f, w, dirty, from, set),
						  naive_next(f, w, dirty, from, set));
			}
		ck_assert_uint_eq(dfs_blk_dirty_end(f, w), naive_dirty_end(f, w));
	}
	free(w);
	free(f);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "bitmap",
		.tests = (const struct tu_test[]){
			TU_LOOP(test_scans, 0, 10),
			{ NULL },
		},
	});
}
