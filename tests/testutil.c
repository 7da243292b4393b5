/* SPDX-License-Identifier: MIT */
/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char scratch[4096];
static pid_t scratch_owner;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Lazily unmount whatever a failed test left mounted under the scratch dir. */
static void umount_scratch(void)
{
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[8192];
	size_t n = strlen(scratch);
	if (!m)
		return;
	while (fgets(line, sizeof(line), m)) {
		char *dir = strchr(line, ' ');
		if (!dir)
			continue;
		dir++;
		char *end = strchr(dir, ' ');
		if (end)
			*end = '\0';
		if (strncmp(dir, scratch, n) == 0 && (dir[n] == '/' || dir[n] == '\0'))
			umount2(dir, MNT_DETACH);
	}
	fclose(m);
}

static void rm_scratch(void)
{
	if (!scratch[0] || getpid() != scratch_owner)
		return;
	umount_scratch();
	/* loop devices still backed by our images */
	tu_sh("for img in '%s'/*.img; do [ -e \"$img\" ] || continue; "
	      "losetup -j \"$img\" | cut -d: -f1 | xargs -r -n1 losetup -d; done",
	      scratch);
	nftw(scratch, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

const char *tu_dir(void)
{
	if (!scratch[0]) {
		const char *base = getenv("DFS_TEST_DIR");
		snprintf(scratch, sizeof(scratch), "%s/t.XXXXXX",
			 base ? base : "/var/tmp");
		if (!mkdtemp(scratch)) {
			perror(scratch);
			exit(1);
		}
		scratch_owner = getpid();
		atexit(rm_scratch);
	}
	return scratch;
}

void tu_skip(const char *fmt, ...)
{
	bool ci = getenv("CI") && !strcmp(getenv("CI"), "true");
	va_list ap;

	printf(ci ? "FAIL: would skip, and in CI nothing may: " : "SKIP: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(ci ? 1 : SKIP_CODE);
}

void tu_require_odirect(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/.odirect-probe", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	void *buf = NULL;
	ssize_t r = -1;
	if (fd >= 0 && posix_memalign(&buf, 4096, 4096) == 0) {
		memset(buf, 0, 4096);
		r = pwrite(fd, buf, 4096, 0);
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	unlink(path);
	if (r != 4096) {
		tu_skip("%s does not accept O_DIRECT", dir);
	}
}

int tu_create(char *path, size_t len, const char *name, int flags)
{
	snprintf(path, len, "%s/%s", tu_dir(), name);
	return open(path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

struct dfs_file *tu_engine_open(struct dfs_engine *e, const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	struct dfs_file *f = NULL;
	ck_assert_int_eq(dfs_file_open(e, fd, &f), 0);
	close(fd);
	return f;
}

struct dfs_file *tu_engine_create(struct dfs_engine *e, char *path, size_t len,
				  const char *name)
{
	int fd = tu_create(path, len, name, O_RDWR);
	ck_assert_int_ge(fd, 0);
	close(fd);
	return tu_engine_open(e, path, O_RDWR);
}

char *tu_slurp(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	char *buf = malloc((size_t)st.st_size + 1);
	size_t done = 0;
	while (buf && done < (size_t)st.st_size) {
		ssize_t r = pread(fd, buf + done, (size_t)st.st_size - done, (off_t)done);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	close(fd);
	*size = done;
	return buf;
}

long tu_resident_pages(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	long page = sysconf(_SC_PAGESIZE);
	size_t pages = ((size_t)st.st_size + (size_t)page - 1) / (size_t)page;
	unsigned char *vec = malloc(pages);
	long n = -1;
	if (vec && mincore(map, (size_t)st.st_size, vec) == 0) {
		n = 0;
		for (size_t i = 0; i < pages; i++)
			n += vec[i] & 1;
	}
	free(vec);
	munmap(map, (size_t)st.st_size);
	return n;
}

void tu_small_opts(struct dfs_engine_opts *o)
{
	dfs_engine_opts_init(o);
	o->buf_size = 64 * 1024;
	o->mem_cap = 4 * 64 * 1024;
	o->max_staged = 2;
	o->depth = 2;
	o->workers = 2;
	o->log = tu_log;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_count;
static char log_last[512];

void tu_log(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&log_lock);
	log_count++;
	snprintf(log_last, sizeof(log_last), "%s", msg);
	pthread_mutex_unlock(&log_lock);
}

int tu_log_count(void)
{
	pthread_mutex_lock(&log_lock);
	int n = log_count;
	pthread_mutex_unlock(&log_lock);
	return n;
}

const char *tu_log_last(void)
{
	return log_last;
}

uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void tu_pattern(char *buf, size_t len, off_t off, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		uint64_t p = (uint64_t)off + i;
		buf[i] = (char)((p * 31 + (p >> 9) + seed * 131) | 1);
	}
}

void tu_add_case(Suite *s, const struct tu_case *c)
{
	assert(c->name && c->tests);
	if (c->odirect)
		tu_require_odirect(tu_dir());
	TCase *tc = tcase_create(c->name);
	if (c->once)
		tcase_add_unchecked_fixture(tc, c->setup, c->teardown);
	else if (c->setup || c->teardown)
		tcase_add_checked_fixture(tc, c->setup, c->teardown);
	if (c->timeout)
		tcase_set_timeout(tc, c->timeout);
	for (const struct tu_test *t = c->tests; t->test; t++) {
		assert(t->from < t->to);
		tcase_add_loop_test(tc, t->test, t->from, t->to);
	}
	suite_add_tcase(s, tc);
}

int tu_main(const struct tu_case *c)
{
	Suite *s = suite_create(c->name);
	tu_add_case(s, c);
	return tu_run(s);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

int tu_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	return r == -1 ? -1 : WEXITSTATUS(r);
}

void tu_loopfs_create(struct tu_loopfs *l, const char *fstype, unsigned sector,
		      unsigned size_mib)
{
	static int seq;
	if (geteuid() != 0) {
		tu_skip("loop devices need root");
	}
	if (access("/dev/loop-control", F_OK) != 0) {
		tu_skip("this machine has no loop devices");
	}
	memset(l, 0, sizeof(*l));
	seq++;
	snprintf(l->image, sizeof(l->image), "%s/%s-%u-%d.img", tu_dir(), fstype, sector,
		 seq);
	snprintf(l->dir, sizeof(l->dir), "%s/%s-%u-%d.mnt", tu_dir(), fstype, sector,
		 seq);
	if (tu_sh("truncate -s %uM '%s' && mkdir -p '%s'", size_mib, l->image, l->dir)) {
		fprintf(stderr, "cannot make %s\n", l->image);
		exit(1);
	}
	char cmd[8400];
	snprintf(cmd, sizeof(cmd), "losetup --find --show --sector-size %u '%s'", sector,
		 l->image);
	FILE *p = popen(cmd, "r");
	if (!p || !fgets(l->dev, sizeof(l->dev), p)) {
		fprintf(stderr, "losetup failed for %s\n", l->image);
		exit(1);
	}
	pclose(p);
	l->dev[strcspn(l->dev, "\n")] = '\0';
	const char *mkfs =
		strcmp(fstype, "xfs") == 0 ? "mkfs.xfs -q -f" : "mkfs.ext4 -q -F";
	if (tu_sh("%s %s >/dev/null && mount %s '%s'", mkfs, l->dev, l->dev, l->dir)) {
		fprintf(stderr, "mkfs/mount of %s on %s failed\n", fstype, l->dev);
		tu_loopfs_destroy(l);
		exit(1);
	}
}

void tu_loopfs_destroy(struct tu_loopfs *l)
{
	if (!l->dev[0])
		return;
	for (int i = 0; i < 50; i++) {
		if (tu_sh("mountpoint -q '%s'", l->dir) != 0)
			break;
		if (tu_sh("umount '%s' 2>/dev/null", l->dir) == 0)
			break;
		usleep(100 * 1000);
	}
	if (tu_sh("mountpoint -q '%s'", l->dir) == 0)
		tu_sh("umount -l '%s'", l->dir);
	tu_sh("losetup -d %s", l->dev);
	unlink(l->image);
	rmdir(l->dir);
	l->dev[0] = '\0';
}

void tu_stays_false(unsigned ms, const char *what, bool (*happened)(void *), void *arg)
{
	struct timespec t0, t;
	long long spent;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ck_assert_msg(!happened(arg), "%s (within %u ms)", what, ms);
		usleep(10 * 1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		spent = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
	} while (spent < (long long)ms);
	ck_assert_msg(!happened(arg), "%s (within %u ms)", what, ms);
}
