/* SPDX-License-Identifier: MIT */
/*
 * mount.directfs - the helper mount(8) runs for `mount -t directfs` and for
 * fstab lines of type directfs (installed also as mount.fuse.directfs for
 * type fuse.directfs).
 *
 *   mount.directfs SOURCE MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS]
 *
 * It starts the daemon, which mounts and goes to the background, and then
 * records the mount in libmount's table (/run/mount/utab) with the
 * userspace option x-directfs, unless -n.  That entry is what makes
 * umount(8) find the mount's real type, fuse.directfs, and run
 * umount.fuse.directfs, which waits until the daemon has written out and
 * synced everything before returning.
 *
 * The daemon ignores words meant for mount(8), fstab and systemd (noauto,
 * nofail, _netdev, x-systemd.* ...); they are passed on as given.
 * mount(8)'s own flags are not the daemon's: -f here means "fake", and
 * -s "sloppy", so they are not passed on.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helper.h"

#ifndef DFS_DAEMON_PATH
#define DFS_DAEMON_PATH "/usr/local/bin/directfs"
#endif
#ifndef DFS_MOUNT_PATH
#define DFS_MOUNT_PATH "/bin/mount"
#endif

static void usage(void)
{
	fprintf(stderr, "usage: mount.directfs SOURCE MOUNTPOINT [-sfnv] [-N NAMESPACE] "
			"[-o OPTIONS]\n"
			"       (run by mount(8); see directfs(1) for OPTIONS)\n");
}

int main(int argc, char **argv)
{
	const char *src, *mnt, *opts = NULL, *ns = NULL;
	bool fake = false, nomtab = false, verbose = false;
	int opt;

	if (argc < 3) {
		usage();
		return 1;
	}
	src = argv[1];
	mnt = argv[2];
	optind = 3;
	while ((opt = getopt(argc, argv, "sfnvo:t:N:")) != -1) {
		switch (opt) {
		case 's':
			break; /* sloppy: the daemon ignores what it need not know */
		case 'f':
			fake = true;
			break;
		case 'n':
			nomtab = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'o':
			opts = optarg;
			break;
		case 't':
			break; /* directfs or fuse.directfs: both are us */
		case 'N':
			ns = optarg;
			break;
		default:
			usage();
			return 1;
		}
	}
	if (optind != argc) {
		usage();
		return 1;
	}
	/* Mount in another mount namespace (mount -N). */
	if (ns && helper_setns("mount.directfs", ns))
		return 1;
	if (fake)
		return 0;

	char *dargv[] = { DFS_DAEMON_PATH, (char *)src, (char *)mnt,
			  opts ? "-o" : NULL, (char *)opts, NULL };
	int r = helper_run("mount.directfs", dargv, verbose);
	if (r)
		return 32; /* mount(8)'s "mount failure"; the daemon said why */
	if (nomtab)
		return 0;

	char *margv[] = { DFS_MOUNT_PATH, "--fake", "--no-canonicalize", "-i",
			  "-t", "fuse.directfs", "-o", "x-directfs", (char *)src,
			  (char *)mnt, NULL };
	if (helper_run("mount.directfs", margv, verbose))
		fprintf(stderr,
			"mount.directfs: %s is mounted, but could not be recorded in "
			"the mount table; umount will not wait for the daemon "
			"(use umount.directfs %s)\n",
			mnt, mnt);
	return 0;
}
