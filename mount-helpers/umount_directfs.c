/* SPDX-License-Identifier: MIT */
/*
 * umount.directfs - unmount a directfs mount and wait until its daemon has
 * written out and synced everything.  umount(8) runs it, as
 * umount.fuse.directfs, for mounts made with mount(8) (see mount.directfs);
 * it can also be run by hand.
 *
 *   umount.directfs MOUNTPOINT [-nlfvr] [-t TYPE] [-N NAMESPACE]
 *
 * Unmounting a FUSE mount only cuts the daemon's connection: umount(2)
 * returns at once while the daemon is still writing out staged data and
 * syncing.  So before unmounting, this reads the daemon's pid from the
 * mount root (user.directfs.pid) and holds a pidfd on it; after the
 * unmount it waits for the daemon to exit.  With -l (lazy) the mount may
 * stay in use for any time, so it does not wait.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dfs_progress.h"
#include "helper.h"

#ifndef DFS_UMOUNT_PATH
#define DFS_UMOUNT_PATH "/bin/umount"
#endif

/* A pidfd on the daemon serving mnt, or -1 if there is none to wait for. */
static int daemon_pidfd(const char *mnt, long *pid)
{
	char buf[32], comm[64], path[64];
	ssize_t n = getxattr(mnt, dfs_attr_name(DFS_ATTR_PID), buf, sizeof(buf) - 1);
	FILE *f;
	int fd;

	if (n <= 0)
		return -1; /* not directfs, or its daemon is gone already */
	buf[n] = '\0';
	*pid = strtol(buf, NULL, 10);
	if (*pid <= 0)
		return -1;
	fd = (int)syscall(SYS_pidfd_open, (pid_t)*pid, 0);
	if (fd < 0)
		return -1;
	/* The pid answered a moment ago, so it is the daemon unless it died
	 * and the pid was reused since; the name tells. */
	snprintf(path, sizeof(path), "/proc/%ld/comm", *pid);
	f = fopen(path, "re");
	if (!f || !fgets(comm, sizeof(comm), f) || strncmp(comm, "directfs", 8)) {
		if (f)
			fclose(f);
		close(fd);
		return -1;
	}
	fclose(f);
	return fd;
}

int main(int argc, char **argv)
{
	bool lazy = false, force = false, nomtab = false, verbose = false;
	const char *mnt, *ns = NULL;
	long pid = 0;
	int opt, pidfd;

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: umount.directfs MOUNTPOINT [-nlfvr] [-t TYPE] "
				"[-N NAMESPACE]\n");
		return 1;
	}
	mnt = argv[1];
	optind = 2;
	while ((opt = getopt(argc, argv, "nlfvrt:N:")) != -1) {
		switch (opt) {
		case 'n': nomtab = true; break;
		case 'l': lazy = true; break;
		case 'f': force = true; break;
		case 'v': verbose = true; break;
		case 'r':
		case 't': break;
		case 'N': ns = optarg; break;
		default: return 1;
		}
	}
	if (ns && helper_setns("umount.directfs", ns))
		return 1;

	pidfd = lazy ? -1 : daemon_pidfd(mnt, &pid);

	/* umount(8) itself, without helpers, does the unmount and the
	 * mount table. */
	char *uargv[8];
	int i = 0;
	uargv[i++] = DFS_UMOUNT_PATH;
	uargv[i++] = "-i";
	if (nomtab)
		uargv[i++] = "-n";
	if (lazy)
		uargv[i++] = "-l";
	if (force)
		uargv[i++] = "-f";
	if (verbose)
		uargv[i++] = "-v";
	uargv[i++] = (char *)mnt;
	uargv[i] = NULL;
	int r = helper_run("umount.directfs", uargv, verbose);
	if (r || pidfd < 0)
		return r;

	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int waited = 0;
	for (;;) {
		int n = poll(&p, 1, 2000);
		if (n > 0 || (n < 0 && errno != EINTR))
			break;
		if (n == 0 && !waited++)
			fprintf(stderr,
				"umount.directfs: waiting for directfs (pid %ld) to "
				"write "
				"out and sync %s\n",
				pid, mnt);
	}
	if (verbose)
		fprintf(stderr, "umount.directfs: directfs (pid %ld) has exited\n", pid);
	close(pidfd);
	return 0;
}
