/* SPDX-License-Identifier: MIT */
/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];
static pid_t scratch_owner;

static int rm_entry(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
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
		printf("SKIP: %s does not accept O_DIRECT\n", dir);
		exit(SKIP_CODE);
	}
}

int tu_create(char *path, size_t len, const char *name, int flags)
{
	snprintf(path, len, "%s/%s", tu_dir(), name);
	return open(path, flags | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
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
		ssize_t r = pread(fd, buf + done, (size_t)st.st_size - done,
				  (off_t)done);
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

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
