/* SPDX-License-Identifier: MIT */
/* helper.c - see helper.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

int helper_run(const char *me, char *const argv[], bool verbose)
{
	pid_t pid;
	int st;

	if (verbose) {
		fprintf(stderr, "%s:", me);
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", me, strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "%s: cannot run %s: %s\n", me, argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int helper_setns(const char *me, const char *ns)
{
	int fd = open(ns, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || setns(fd, CLONE_NEWNS)) {
		fprintf(stderr, "%s: cannot enter namespace %s: %s\n", me, ns,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
