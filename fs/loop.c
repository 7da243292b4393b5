/* SPDX-License-Identifier: MIT */
/*
 * loop.c - the request loop: INIT through libfuse's own loop, then the
 * daemon's threads reading /dev/fuse into buffers of their own.
 *
 * The kernel sends read and write requests of up to max_write bytes and
 * max_pages pages: the lesser of what INIT asked for and
 * /proc/sys/fs/fuse/max_pages_limit (256 pages unless an administrator
 * raised it, which Linux 6.13 allows).  Whoever reads /dev/fuse must offer
 * a buffer for the largest request, or the read fails with EINVAL.
 * libfuse 3.14 sizes its buffers once, for 256 pages, and does not check
 * the max_write an init() sets; 3.17 grows its buffers to max_write, but
 * only in its own loops, and clamps max_write to 256 pages for anyone
 * else's.  No header says which a libfuse does.  So INIT goes through
 * libfuse's loop (fuse_session_loop), which init() stops once INIT is
 * answered (fs_loop_inited), and every later request through threads of
 * the daemon's own, started as requests need them (worker_more): the
 * request size is the daemon's choice with every libfuse, and each
 * buffer is placed so a WRITE's payload starts on a page.  Where a
 * request's payload is as large as a staging buffer (request_size equal
 * to buffer_size, both 1 MiB by default), each thread's payload area is a
 * staging buffer of the engine's own kind (dfs_engine_buf_alloc): a WRITE
 * of a whole window is then traded into the stage instead of copied
 * (fs_loop_swap_buf, dfs_file_write_swap), and the thread reads its next
 * request into the buffer it got back.
 *
 * With -o io_uring (libfuse 3.18 and Linux 6.14), libfuse's own loop
 * serves the session: its ring threads take the requests, and its loop
 * grows its buffers itself.
 *
 * The threads block every signal but their wake signal.  SIGTERM, SIGINT
 * and SIGHUP reach the main thread, which waits in fs_loop_run;
 * libfuse's handler, wrapped here, ends the session.  The main thread
 * then sends each thread its wake signal until it has ended: a thread
 * waiting in read() returns EINTR and sees the session ended, and a
 * request it has read is always answered first.  (Not pthread_cancel:
 * its unwinding leaves AddressSanitizer's stack shadow behind.)
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

/* libfuse's default for max_threads, and fs_loop_run's for the pool. */
#define LOOP_THREADS_DEFAULT 10
/* Room besides a WRITE's payload: the largest other requests (SETXATTR
 * of 64 KiB, a batch of forgets) fit in this even with small requests. */
#define LOOP_BUF_MIN (128u * 1024u)
/* What the kernel reads into before a WRITE's payload. */
#define WRITE_HEADER (sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in))

struct loop_worker {
	struct fs_loop *loop;
	pthread_t thread;
	atomic_bool done; /* worker_main returned */
	char *base;    /* aligned_alloc'd, or NULL for an engine buffer */
	char *payload; /* the engine buffer (traded by writes), or NULL */
	char *buf;     /* base + page or payload, less WRITE_HEADER */
	size_t size; /* of buf */
};

struct fs_loop {
	struct fs *fs;
	struct fuse_session *se;
	atomic_bool inited;   /* INIT answered: libfuse's loop may end */
	sem_t finish;	      /* a thread ended, or a signal came */
	atomic_int error;     /* the first error reading /dev/fuse (-errno) */
	atomic_uint reading;  /* threads waiting in read() */
	pthread_mutex_t lock; /* n and starting threads */
	unsigned n;	      /* threads started, at most max */
	unsigned max;
	bool trade;  /* receive buffers are staging buffers */
	size_t room; /* payload bytes of a receive buffer */
	struct loop_worker *w;
};

/* The loop the signal handler posts to (one session per process). */
static struct fs_loop *volatile signal_loop;
/* The payload buffer of the request this thread is serving, where it may
 * be traded. */
static __thread char **loop_swap;
static volatile sig_atomic_t signalled;
static const int exit_signals[] = {SIGTERM, SIGINT, SIGHUP};
static struct sigaction libfuse_action[3];
static struct sigaction wake_old;

/* The signal that ends a worker's read() with EINTR. */
static int wake_signal(void)
{
	return SIGRTMIN + FS_SIG_LOOP_WAKE;
}

static void on_wake(int sig)
{
	(void)sig;
}

static void on_exit_signal(int sig)
{
	int saved = errno;

	signalled = sig;
	for (unsigned i = 0; i < 3; i++)
		if (exit_signals[i] == sig && libfuse_action[i].sa_handler != SIG_DFL &&
		    libfuse_action[i].sa_handler != SIG_IGN)
			libfuse_action[i].sa_handler(sig); /* fuse_session_exit */
	if (signal_loop)
		sem_post(&signal_loop->finish);
	errno = saved;
}

static int wrap_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_exit_signal;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < 3; i++)
		if (sigaction(exit_signals[i], &sa, &libfuse_action[i]))
			return -errno;
	sa.sa_handler = on_wake; /* no SA_RESTART: read() returns EINTR */
	if (sigaction(wake_signal(), &sa, &wake_old))
		return -errno;
	return 0;
}

static void unwrap_signals(void)
{
	for (unsigned i = 0; i < 3; i++)
		sigaction(exit_signals[i], &libfuse_action[i], NULL);
	sigaction(wake_signal(), &wake_old, NULL);
	signal_loop = NULL;
}

uint32_t fs_loop_request_size(uint32_t wish, uint32_t *kernel)
{
	FILE *f = fopen("/proc/sys/fs/fuse/max_pages_limit", "re");
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), limit;
	unsigned pages = 0;

	assert(wish >= page && wish % page == 0);
	if (f) {
		if (fscanf(f, "%u", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	if (!pages)
		pages = 256; /* before Linux 6.13: FUSE_MAX_MAX_PAGES */
	limit = pages * page;
	if (limit > FS_REQUEST_MAX)
		limit = FS_REQUEST_MAX;
	*kernel = (uint32_t)limit;
	return wish < limit ? wish : (uint32_t)limit;
}

char **fs_loop_swap_buf(const void *data)
{
	return loop_swap && *loop_swap == data ? loop_swap : NULL;
}

char **fs_loop_thread_buf(void)
{
	return loop_swap;
}

void fs_loop_inited(struct fs *fs)
{
	if (!fs->loop)
		return;
	atomic_store(&fs->loop->inited, true);
	fuse_session_exit(fs->se); /* fuse_session_loop returns after the reply */
}

static void worker_more(struct fs_loop *loop);

static void *worker_main(void *arg)
{
	struct loop_worker *w = arg;
	struct fs_loop *loop = w->loop;
	int fd = fuse_session_fd(loop->se), err = 0;
	sigset_t wake;
	ssize_t n;

	sigemptyset(&wake);
	sigaddset(&wake, wake_signal());
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	while (!fuse_session_exited(loop->se)) {
		atomic_fetch_add(&loop->reading, 1);
		n = read(fd, w->buf, w->size);
		err = errno;
		unsigned others = atomic_fetch_sub(&loop->reading, 1) - 1;
		if (fuse_session_exited(loop->se))
			break;
		if (n < 0) {
			/* ENOENT: the request was interrupted before we read it. */
			if (err == EINTR || err == EAGAIN || err == ENOENT)
				continue;
			if (err != ENODEV) { /* ENODEV: unmounted, or aborted */
				int none = 0;

				atomic_compare_exchange_strong(&loop->error, &none, -err);
				fs_log(loop->fs, LOG_ERR, "reading /dev/fuse: %s", strerror(err));
			}
			fuse_session_exit(loop->se);
			break;
		}
		if ((size_t)n < sizeof(struct fuse_in_header)) {
			fs_log(loop->fs, LOG_ERR, "short read from /dev/fuse: %zd bytes", n);
			atomic_store(&loop->error, -EIO);
			fuse_session_exit(loop->se);
			break;
		}
		if (!others)
			worker_more(loop);
		struct fuse_buf fb = {.mem = w->buf, .size = (size_t)n};

		loop_swap = w->payload ? &w->payload : NULL;
		fuse_session_process_buf(loop->se, &fb);
		loop_swap = NULL;
		if (w->payload) /* traded for another, or the same */
			w->buf = w->payload - WRITE_HEADER;
	}
	/* Every way here has ended the session. */
	assert(fuse_session_exited(loop->se));
	atomic_store(&w->done, true);
	sem_post(&loop->finish);
	return NULL;
}

/* Under loop->lock: start thread loop->n with its buffer; all signals but
 * its wake signal blocked in it.  0 or -errno. */
static int worker_start(struct fs_loop *loop)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct dfs_engine *eng = loop->fs->eng;
	struct loop_worker *w = &loop->w[loop->n];
	sigset_t all, old;
	int r;

	assert(loop->n < loop->max);
	w->loop = loop;
	if (loop->trade) {
		w->payload = dfs_engine_buf_alloc(eng);
		w->buf = w->payload ? w->payload - WRITE_HEADER : NULL;
	} else {
		w->base = aligned_alloc(page, page + loop->room);
		w->buf = w->base ? w->base + page - WRITE_HEADER : NULL;
	}
	if (!w->buf)
		return -ENOMEM;
	w->size = WRITE_HEADER + loop->room;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		free(w->base);
		dfs_engine_buf_free(eng, w->payload);
		memset(w, 0, sizeof(*w));
		return r;
	}
	loop->n++;
	return 0;
}

/* A thread took a request and none is left reading /dev/fuse: start one
 * more, up to the limit, as libfuse's own loop does.  So a request never
 * waits while the limit allows a thread for it, and requests that come
 * one at a time (cp -r, tar) keep to a few warm threads (four after a
 * cp -r of 2,500 files: a reply's writer is not always back in read()
 * when the next request comes) instead of waking each of ten in turn
 * (the kernel wakes the longest waiter). */
static void worker_more(struct fs_loop *loop)
{
	static atomic_bool warned;
	unsigned n;
	int r = 0;

	pthread_mutex_lock(&loop->lock);
	if (!fuse_session_exited(loop->se) && loop->n < loop->max &&
	    !atomic_load(&loop->reading))
		r = worker_start(loop);
	n = loop->n;
	pthread_mutex_unlock(&loop->lock);
	if (r && !atomic_exchange(&warned, true))
		fs_log(loop->fs, LOG_WARNING, "cannot start another request thread (%u running): %s",
		       n, strerror(-r));
}

/* Room for up to n threads with buffers for requests of fs->max_request;
 * the first is started here, the others as requests need them. */
static int workers_start(struct fs_loop *loop, unsigned n)
{
	loop->room = loop->fs->max_request > LOOP_BUF_MIN ? loop->fs->max_request : LOOP_BUF_MIN;
	loop->trade = dfs_engine_buf_size(loop->fs->eng) == loop->room &&
		      WRITE_HEADER <= DFS_BUF_HEADROOM;
	loop->w = calloc(n, sizeof(*loop->w));
	if (!loop->w)
		return -ENOMEM;
	loop->max = n;
	pthread_mutex_lock(&loop->lock);
	int r = worker_start(loop);
	pthread_mutex_unlock(&loop->lock);
	if (r) {
		free(loop->w);
		loop->w = NULL;
	}
	return r;
}

/* After fuse_session_exit: each thread is woken until it has ended (a
 * wake that comes before it enters read() is lost, the next one is not). */
static void workers_stop(struct fs_loop *loop)
{
	const struct timespec pause = {0, 2 * 1000 * 1000};
	bool all;

	/* No thread starts once the session has ended (worker_more). */
	assert(fuse_session_exited(loop->se));
	pthread_mutex_lock(&loop->lock);
	pthread_mutex_unlock(&loop->lock);
	do {
		all = true;
		for (unsigned i = 0; i < loop->n; i++)
			if (!atomic_load(&loop->w[i].done)) {
				pthread_kill(loop->w[i].thread, wake_signal());
				all = false;
			}
		if (!all)
			nanosleep(&pause, NULL);
	} while (!all);
	for (unsigned i = 0; i < loop->n; i++) {
		pthread_join(loop->w[i].thread, NULL);
		free(loop->w[i].base);
		dfs_engine_buf_free(loop->fs->eng, loop->w[i].payload);
	}
	free(loop->w);
	loop->w = NULL;
	loop->n = 0;
}

/* libfuse's loops: they stop the io_uring ring when they end, so the
 * whole session stays in them. */
static int libfuse_loop(struct fs *fs, struct fuse_session *se, const struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *cfg;
	int r;

	if (cmd->singlethread)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		fs_log(fs, LOG_ERR, "out of memory");
		return -ENOMEM;
	}
	fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cmd->clone_fd);
	if (cmd->max_threads && cmd->max_threads != UINT_MAX) /* unset: libfuse's 10 */
		fuse_loop_cfg_set_max_threads(cfg, cmd->max_threads);
	if (cmd->max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, cmd->max_idle_threads);
	r = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return r;
}

int fs_loop_run(struct fs *fs, struct fuse_session *se, const struct fuse_cmdline_opts *cmd)
{
	struct fs_loop loop = {.fs = fs, .se = se};
	unsigned n = LOOP_THREADS_DEFAULT;
	int r;

	if (fs->o.io_uring)
		return libfuse_loop(fs, se, cmd);
	if (cmd->singlethread)
		n = 1;
	else if (cmd->max_threads && cmd->max_threads != UINT_MAX)
		n = cmd->max_threads;
	if (cmd->clone_fd)
		fs_log(fs, LOG_NOTICE, "clone_fd is ignored: the daemon reads /dev/fuse itself");
	if (sem_init(&loop.finish, 0, 0))
		return -errno;
	pthread_mutex_init(&loop.lock, NULL);
	r = wrap_signals();
	if (r)
		goto out;
	signal_loop = &loop;
	fs->loop = &loop;
	r = fuse_session_loop(se); /* INIT, then fs_loop_inited stops it */
	if (!atomic_load(&loop.inited) || r < 0)
		goto out; /* a signal, unmounted, or INIT refused */
	fuse_session_reset(se); /* 3.18 leaves the exit of fs_loop_inited set */
	if (signalled) {
		r = signalled;
		goto out;
	}
	r = workers_start(&loop, n);
	if (r) {
		fs_log(fs, LOG_ERR, "cannot start request threads: %s", strerror(-r));
		goto out;
	}
	while (!fuse_session_exited(se))
		sem_wait(&loop.finish); /* posted by a thread's end, or a signal */
	workers_stop(&loop);
	r = signalled ? signalled : atomic_load(&loop.error);
out:
	unwrap_signals();
	fs->loop = NULL;
	sem_destroy(&loop.finish);
	pthread_mutex_destroy(&loop.lock);
	return r;
}
