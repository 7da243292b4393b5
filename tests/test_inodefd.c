/* SPDX-License-Identifier: MIT */
/*
 * Description: the daemon's descriptors of remembered inodes
 * (fs/inodefd.h), without a mount.  Beyond the cap the least recently
 * used idle descriptor goes, and only then is its file handle taken (an
 * inode that keeps its descriptor never asks for one); an evicted inode
 * is opened again from its handle and is the same file; an inode in use
 * is never evicted; lent descriptors count against the cap.  Needs
 * CAP_DAC_READ_SEARCH (open_by_handle_at) and a filesystem with handles.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inodefd.h"

#define N 5

static struct fs_ifd_cache cache;
static struct fs_ifd ifds[N];
static struct stat made[N];
static int rootfd;

/* A cache of at most max idle descriptors over N fresh files of tu_dir(). */
static void start(unsigned max)
{
	char path[4200];

	rootfd = open(tu_dir(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(rootfd, 0);
	ifd_cache_init(&cache, rootfd, max);
	if (!cache.handles)
		tu_skip("no file handles to open here (CAP_DAC_READ_SEARCH, or %s has none)",
			tu_dir());
	for (int i = 0; i < N; i++) {
		char name[32];

		snprintf(name, sizeof(name), "ifd%d", i);
		close(tu_create(path, sizeof(path), name, O_RDWR));
		int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &made[i]), 0);
		ifd_init(&cache, &ifds[i], fd);
	}
}

static void stop(void)
{
	for (int i = 0; i < N; i++)
		ifd_destroy(&cache, &ifds[i]);
	ifd_cache_destroy(&cache);
	close(rootfd);
}

/* ifd_get gives a descriptor of file i. */
static void same_file(int i)
{
	struct stat st;
	int fd = ifd_get(&cache, &ifds[i]);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(st.st_dev == made[i].st_dev && st.st_ino == made[i].st_ino);
	ifd_put(&cache, &ifds[i]);
}

START_TEST(test_handle_taken_at_eviction)
{
	start(3);
	/* Five inodes, room for three: the two oldest gave theirs up, and
	 * only they took a handle. */
	for (int i = 0; i < N; i++) {
		bool evicted = i < N - 3;

		ck_assert_int_eq(ifds[i].fd < 0, evicted);
		ck_assert_int_eq(ifds[i].handle != NULL, evicted);
	}
	ck_assert_uint_eq(atomic_load(&cache.evictions), 2);
	ck_assert_uint_eq(cache.open, 3);

	/* An evicted inode comes back from its handle, the same file; the
	 * least recently used of the others makes room. */
	same_file(0);
	ck_assert_uint_eq(atomic_load(&cache.reopens), 1);
	ck_assert_int_ge(ifds[0].fd, 0);
	ck_assert_int_lt(ifds[2].fd, 0);
	ck_assert_ptr_nonnull(ifds[2].handle);
	for (int i = 0; i < N; i++)
		same_file(i);
	ck_assert_uint_le(cache.open, 3);
	stop();
}
END_TEST

START_TEST(test_in_use_and_lent)
{
	int fds[N];

	start(N);
	ck_assert_uint_eq(atomic_load(&cache.evictions), 0);
	for (int i = 0; i < N; i++)
		ck_assert_ptr_null(ifds[i].handle);
	/* All in use: lending the whole budget evicts none of them. */
	for (int i = 0; i < N; i++)
		fds[i] = ifd_get(&cache, &ifds[i]);
	ifd_lend(&cache, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ifds[i].fd, fds[i]);
	/* Let go: each goes as it becomes idle, the budget being lent. */
	for (int i = 0; i < N; i++)
		ifd_put(&cache, &ifds[i]);
	ck_assert_uint_eq(cache.open, 0);
	ck_assert_uint_eq(atomic_load(&cache.evictions), N);
	ifd_unlend(&cache, N);
	for (int i = 0; i < N; i++)
		same_file(i);
	stop();
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "inodefd",
		.tests = (const struct tu_test[]){
			TU_TEST(test_handle_taken_at_eviction),
			TU_TEST(test_in_use_and_lent),
			{ NULL },
		},
	});
}
