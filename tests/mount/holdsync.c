/* SPDX-License-Identifier: MIT */
/*
 * Description: a preload shim for the daemon that holds its fsyncs.
 *
 *   LD_PRELOAD=libholdsync.so DFS_HOLD_FSYNC=GATE directfs ...
 *
 * While the file GATE exists, every fsync(2) and fdatasync(2) the daemon
 * makes waits (up to 60 s) before it runs, and appends one line to
 * GATE.held when it starts waiting, so a test knows a release is stuck in
 * its fsync.  Removing GATE lets them all go.  Nothing else changes: the
 * backing filesystem stays writable, unlike under fsfreeze, so the test
 * sees only what waits for the fsync.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void hold(void)
{
	const char *gate = getenv("DFS_HOLD_FSYNC");
	struct timespec tick = {.tv_nsec = 10 * 1000 * 1000};
	char held[4096];
	int fd;

	if (!gate || access(gate, F_OK))
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

int fsync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	hold();
	return real(fd);
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	hold();
	return real(fd);
}
