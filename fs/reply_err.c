/* SPDX-License-Identifier: MIT */
/*
 * reply_err.c - replying a failed request, and telling the log about the
 * failures a user cannot act on from the application's side.
 *
 * Most errors a handler returns are the caller's own business (ENOENT,
 * EACCES, EEXIST ...) and SOURCE's answer, exactly as a local disk would
 * give it: they go back unlogged.  A few are the daemon's lot: it ran out
 * of descriptors or memory, or SOURCE's device failed.  The application
 * sees only "Too many open files" and cannot tell that the limit is the
 * daemon's, so those are logged too, with the operation, the file and what
 * to do: the first of each kind at once, then at most one line a minute,
 * saying how many more there were.  The line is decided and written before
 * the reply, so the failure an application saw first is the one logged.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

/* The errors worth a log line, and what a user can do about each. */
static const struct {
	int err;
	const char *why;
} kinds[] = {
	{EMFILE, "the daemon is out of file descriptors (raise its limit: "
		 "ulimit -n, LimitNOFILE=; or lower inode_fds=)"},
	{ENFILE, "the system is out of open files (fs.file-max)"},
	{ENOMEM, "the daemon is out of memory"},
	{EIO, "SOURCE's filesystem or device returned an I/O error"},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
#define QUIET_SECONDS 60

static pthread_mutex_t quiet_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	time_t last;	   /* when the last line of this kind was logged, or 0 */
	unsigned long held; /* failures since, not logged */
} quiet[NKINDS];

void fs_reply_err(fuse_req_t req, int err, const char *op, fuse_ino_t nodeid,
		   const char *name)
{
	struct fs *fs = fs_of(req);
	char file[4096], soft[48], more[64] = "";
	struct timespec now;
	unsigned long held = 0;
	struct rlimit rl;
	size_t k;
	bool say = false;

	assert(err <= 0);
	for (k = 0; k < NKINDS && kinds[k].err != -err; k++)
		;
	if (k == NKINDS) {
		fuse_reply_err(req, -err);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&quiet_lock);
	if (!quiet[k].last || now.tv_sec - quiet[k].last >= QUIET_SECONDS) {
		say = true;
		held = quiet[k].held;
		quiet[k].held = 0;
		quiet[k].last = now.tv_sec ? now.tv_sec : 1;
	} else {
		quiet[k].held++;
	}
	pthread_mutex_unlock(&quiet_lock);
	if (!say) {
		fuse_reply_err(req, -err);
		return;
	}

	if (nodeid)
		fs_inode_name(fs, fs_inode_get(fs, nodeid), file, sizeof(file));
	else
		snprintf(file, sizeof(file), "?");
	if (-err == EMFILE && !getrlimit(RLIMIT_NOFILE, &rl))
		snprintf(soft, sizeof(soft), "; its limit is %llu",
			 (unsigned long long)rl.rlim_cur);
	else
		soft[0] = '\0';
	if (held)
		snprintf(more, sizeof(more), " (%lu more since the last such line)", held);
	fs_log(fs, LOG_ERR, "%s %s%s%s: %s: %s%s%s", op, file, name ? "/" : "",
	       name ? name : "", strerror(-err), kinds[k].why, soft, more);
	fuse_reply_err(req, -err);
}
