/* SPDX-License-Identifier: MIT */
/*
 * Description: a preload shim for the daemon that holds its fsyncs.
 *
 *   LD_PRELOAD=libholdsync.so DFS_HOLD_FSYNC=GATE directfs ...
 *
 * While the file GATE exists, every fsync(2), fdatasync(2) and syncfs(2)
 * the daemon makes waits (up to 60 s) before it runs, and appends one line to
 * GATE.held when it starts waiting, so a test knows a release is stuck in
 * its fsync.  When GATE holds text, only fsyncs of files whose path
 * contains it wait.  Removing GATE lets them all go.  Nothing else changes: the
 * backing filesystem stays writable, unlike under fsfreeze, so the test
 * sees only what waits for the fsync.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Does the gate hold text that the path of fd does not contain? */
static int not_matched(const char *gate, int fd)
{
	char want[256] = "", path[64], name[4096];
	ssize_t n;
	int g = open(gate, O_RDONLY | O_CLOEXEC);

	if (g < 0)
		return 1;
	n = read(g, want, sizeof(want) - 1);
	close(g);
	while (n > 0 && (want[n - 1] == '\n' || want[n - 1] == ' '))
		n--;
	want[n > 0 ? n : 0] = '\0';
	if (!want[0])
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, name, sizeof(name) - 1);
	name[n > 0 ? n : 0] = '\0';
	return !strstr(name, want);
}

static void hold(int target)
{
	const char *gate = getenv("DFS_HOLD_FSYNC");
	struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	char held[4096];
	int fd;

	if (!gate || access(gate, F_OK) || not_matched(gate, target))
		return;
	snprintf(held, sizeof(held), "%s.held", gate);
	fd = open(held, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, "held\n", 5) != 5)
			perror("holdsync");
		close(fd);
	}
	for (int i = 0; i < 6000 && !access(gate, F_OK); i++)
		nanosleep(&tick, NULL);
}

/* fsync, fdatasync and syncfs (the committer's group commit: one syncfs
 * stands for many fsyncs) wait at the gate, then run. */
#define HELD(sym)                                                            \
	int sym(int fd)                                                      \
	{                                                                    \
		static int (*real)(int);                                     \
		if (!real)                                                   \
			real = (int (*)(int))dlsym(RTLD_NEXT, #sym);          \
		hold(fd);                                                    \
		return real(fd);                                             \
	}

HELD(fsync)
HELD(fdatasync)
HELD(syncfs)
