/* SPDX-License-Identifier: MIT */
/*
 * lockwait.c - blocking requests on threads of their own (lockwait.h).
 *
 * A blocking lock request that cannot be granted at once waits on a
 * thread of its own: FUSE's workers are few and must keep serving.  An
 * interrupt from the kernel (the caller got a signal) wakes that thread
 * with a signal, repeated by a timer until the thread has seen it, since
 * a signal that comes just before the thread enters fcntl(2) would be
 * lost; the request then ends with EINTR, as a local F_SETLKW does.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

/* Waiting requests at most; more get ENOLCK (no lock records left). */
#define WAITERS_MAX 4096
#define WAITER_STACK (256u * 1024u)
/* How often an interrupted waiter is signalled until it has seen it. */
#define WAKE_REPEAT_NS (10 * 1000 * 1000)

struct fs_wait {
	struct fs_waits *ws;
	fuse_req_t req;
	fs_wait_block_fn *block;
	fs_wait_done_fn *done_fn;
	void *arg;
	pid_t tid;
	pthread_mutex_t lock; /* done, timer */
	bool done, has_timer;
	timer_t timer;
	atomic_bool interrupted;
	LIST_ENTRY(fs_wait) link; /* ws->list */
};

static int wake_signal(void)
{
	return SIGRTMIN + FS_SIG_LOCK_WAKE;
}

/* w is over: off the list, and freed.  The one way a waiter ends. */
static void wait_forget(struct fs_wait *w)
{
	struct fs_waits *ws = w->ws;

	pthread_mutex_lock(&ws->lock);
	LIST_REMOVE(w, link);
	assert(ws->n > 0);
	ws->n--;
	pthread_cond_broadcast(&ws->gone);
	pthread_mutex_unlock(&ws->lock);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

static void wake(struct fs_wait *w)
{
	pthread_mutex_lock(&w->lock);
	if (!w->done) {
		atomic_store(&w->interrupted, true);
		if (w->has_timer) {
			struct itimerspec it = {.it_value = {0, 1},
						.it_interval = {0, WAKE_REPEAT_NS}};
			timer_settime(w->timer, 0, &it, NULL);
		} else {
			tgkill(getpid(), w->tid, wake_signal());
		}
	}
	pthread_mutex_unlock(&w->lock);
}

static void wait_interrupted(fuse_req_t req, void *data)
{
	(void)req;
	wake(data);
}

static void *waiter_main(void *arg)
{
	struct fs_wait *w = arg;
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID};
	sigset_t set;
	int r;

	/* Made by a FUSE worker, which blocks every signal. */
	sigemptyset(&set);
	sigaddset(&set, wake_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	w->tid = gettid();
	sev.sigev_signo = wake_signal();
	sev._sigev_un._tid = w->tid;
	w->has_timer = !timer_create(CLOCK_MONOTONIC, &sev, &w->timer);
	/* Called at once if the request was interrupted already. */
	fuse_req_interrupt_func(w->req, wait_interrupted, w);
	for (;;) {
		if (atomic_load(&w->interrupted)) {
			r = -EINTR;
			break;
		}
		r = w->block(w->arg);
		if (r != -EINTR)
			break;
	}
	/* After this no interrupt callback runs, or is running, on w. */
	fuse_req_interrupt_func(w->req, NULL, NULL);
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_mutex_unlock(&w->lock);
	if (w->has_timer)
		timer_delete(w->timer);
	w->done_fn(w->arg, r); /* replies */
	wait_forget(w);
	return NULL;
}

int fs_wait_start(struct fs_waits *ws, fuse_req_t req, fs_wait_block_fn *block,
		  fs_wait_done_fn *done, void *arg)
{
	struct fs_wait *w = calloc(1, sizeof(*w));
	pthread_attr_t attr;
	pthread_t t;
	int r;

	if (!w)
		return -ENOMEM;
	w->ws = ws;
	w->req = req;
	w->block = block;
	w->done_fn = done;
	w->arg = arg;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_lock(&ws->lock);
	if (ws->stop || ws->n >= WAITERS_MAX) {
		pthread_mutex_unlock(&ws->lock);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return -ENOLCK;
	}
	ws->n++;
	LIST_INSERT_HEAD(&ws->list, w, link);
	pthread_mutex_unlock(&ws->lock);

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, WAITER_STACK);
	r = -pthread_create(&t, &attr, waiter_main, w);
	pthread_attr_destroy(&attr);
	if (r)
		wait_forget(w);
	return r;
}

static void wake_noop(int sig)
{
	(void)sig;
}

int fs_waits_start(struct fs_waits *ws)
{
	struct sigaction sa;

	pthread_mutex_init(&ws->lock, NULL);
	pthread_cond_init(&ws->gone, NULL);
	LIST_INIT(&ws->list);
	ws->n = 0;
	ws->stop = false;
	/* No SA_RESTART: the waiting fcntl(2) or flock(2) returns EINTR. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = wake_noop;
	sigemptyset(&sa.sa_mask);
	return sigaction(wake_signal(), &sa, NULL) ? -errno : 0;
}

void fs_waits_stop(struct fs_waits *ws)
{
	struct fs_wait *w;

	pthread_mutex_lock(&ws->lock);
	ws->stop = true;
	LIST_FOREACH(w, &ws->list, link)
	wake(w);
	while (ws->n)
		pthread_cond_wait(&ws->gone, &ws->lock);
	pthread_mutex_unlock(&ws->lock);
}
