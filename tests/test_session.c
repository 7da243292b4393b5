/* SPDX-License-Identifier: MIT */
/*
 * Description: the daemon's session state machine (fs/session.c) without
 * a mount: the first open starts an engine file and later ones share it,
 * a read-only start is made writable, an open waits for a write-out but
 * never for a commit, the group commit holds the inode and lends its
 * descriptor until the session is durable, a failed release reaches every
 * handle open then or opened before anyone saw it (once each), truncates
 * with and without an engine file, O_TRUNC opens, a failed first open
 * leaves nothing, and the exit writes everything out.  The host's calls
 * are fakes that count what they are asked.
 */
#define _GNU_SOURCE
#include "engine_fixture.h"
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the fake host: one inode, a file in the test directory ---- */

static struct fs_host host;
static struct fs_session sess;
static char path[4200];
static atomic_int opens_rdwr, opens_rdonly, pins, lent, failures, last_failure;
static atomic_int deny_rdwr; /* the backing file refuses O_RDWR: EACCES */
static atomic_int deny_open; /* the backing file cannot be opened: ENOENT */

static int fake_open(void *arg, void *owner, int acc)
{
	int fd;

	ck_assert_ptr_eq(arg, &host);
	ck_assert_ptr_eq(owner, &sess);
	if (atomic_load(&deny_open))
		return -ENOENT;
	if (acc == O_RDWR && atomic_load(&deny_rdwr))
		return -EACCES;
	atomic_fetch_add(acc == O_RDWR ? &opens_rdwr : &opens_rdonly, 1);
	fd = open(path, acc | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int fake_truncate(void *arg, void *owner, off_t size)
{
	(void)arg, (void)owner;
	return truncate(path, size) ? -errno : 0;
}

static int fake_stat(void *arg, void *owner, struct stat *st)
{
	(void)arg, (void)owner;
	return stat(path, st) ? -errno : 0;
}

static void fake_failed(void *arg, void *owner, int err)
{
	(void)arg, (void)owner;
	atomic_fetch_add(&failures, 1);
	atomic_store(&last_failure, err);
}

static void fake_hold(void *arg, void *owner)
{
	(void)arg;
	ck_assert_ptr_eq(owner, &sess);
	atomic_fetch_add(&pins, 1);
}

static atomic_int lets_go; /* let_go calls */

static void fake_let_go(void *arg, void *owner)
{
	(void)arg;
	ck_assert_ptr_eq(owner, &sess);
	ck_assert_int_gt(atomic_fetch_sub(&pins, 1), 0);
	atomic_fetch_add(&lets_go, 1);
}

static void fake_lend(void *arg, int delta)
{
	(void)arg;
	atomic_fetch_add(&lent, delta);
	ck_assert_int_ge(atomic_load(&lent), 0);
}

static void fake_untagged(void *arg, void *owner, int err)
{
	(void)arg;
	(void)owner;
	ck_abort_msg("a tag failed: %s", strerror(-err));
}

static atomic_bool paged; /* the file has pages of a mapping */

static bool fake_paged(void *arg, void *owner)
{
	(void)arg, (void)owner;
	return atomic_load(&paged);
}

static const struct fs_host_ops fake_ops = {
	.open = fake_open,
	.truncate = fake_truncate,
	.stat = fake_stat,
	.failed = fake_failed,
	.hold = fake_hold,
	.let_go = fake_let_go,
	.lend = fake_lend,
	.untagged = fake_untagged,
	.paged = fake_paged,
};

static void sess_setup(void)
{
	int fd;

	setup();
	fd = tu_create(path, sizeof(path), "sess", O_RDWR);
	close(fd);
	atomic_store(&opens_rdwr, 0);
	atomic_store(&opens_rdonly, 0);
	atomic_store(&pins, 0);
	atomic_store(&lent, 0);
	atomic_store(&failures, 0);
	atomic_store(&deny_rdwr, 0);
	atomic_store(&deny_open, 0);
	atomic_store(&paged, false);
	session_host_init(&host, eng, &fake_ops, &host);
	session_init(&sess, &sess);
}

static void sess_teardown(void)
{
	fault_io_hold_sync(&fio, false);
	session_commit_stop(&host);
	session_destroy(&sess);
	ck_assert_int_eq(atomic_load(&pins), 0);
	ck_assert_int_eq(atomic_load(&lent), 0);
	teardown();
}

static enum fs_session_state state(void)
{
	enum fs_session_state st;

	pthread_mutex_lock(&sess.lock);
	st = sess.state;
	pthread_mutex_unlock(&sess.lock);
	return st;
}

/* Write len bytes of pattern seed at off through the current engine file. */
static void swrite(const char *buf, size_t len, off_t off)
{
	struct fs_sfile *sf = session_get(&sess);

	ck_assert_ptr_nonnull(sf);
	ck_assert_int_eq(dfs_file_write(session_file(sf), buf, len, off), (ssize_t)len);
	session_put(&sess, sf);
}

static off_t disk_size(void)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* The first open starts the engine file, read-write; a second shares it;
 * the last release writes out and fsyncs (no committer: in the release),
 * and the session's figures stay: durable is the size, idle. */
START_TEST(test_open_share_release)
{
	char buf[5000];
	unsigned seen_w, seen_r;
	struct dfs_file_stats st;
	off_t size;

	tu_pattern(buf, sizeof(buf), 0, 1);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert(!atomic_load(&sess.busy));
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen_w), 0);
	ck_assert_int_eq(state(), FS_OPEN);
	ck_assert(atomic_load(&sess.busy));
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_r), 0);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 1);
	ck_assert_int_eq(atomic_load(&opens_rdonly), 0);
	swrite(buf, sizeof(buf), 0);
	ck_assert(session_size(&sess, &size));
	ck_assert_int_eq(size, 5000);
	session_figures(&host, &sess, &st);
	ck_assert_uint_eq(st.written, 5000);
	ck_assert(session_in_flight(&sess, &st));

	session_release(&host, &sess, false);
	ck_assert_int_eq(state(), FS_OPEN);
	session_release(&host, &sess, true);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert(!atomic_load(&sess.busy));
	ck_assert(!session_size(&sess, &size)); /* SOURCE's size counts now */
	assert_disk(path, buf, sizeof(buf));
	session_figures(&host, &sess, &st);
	ck_assert_uint_eq(st.written, 5000);
	ck_assert_uint_eq(st.durable, 5000);
	ck_assert_int_eq(st.state, DFS_STATE_IDLE);
	ck_assert(!session_in_flight(&sess, &st));
	ck_assert(session_last(&sess, &st));
	ck_assert_uint_eq(st.written, 5000);
	ck_assert_int_eq(atomic_load(&pins), 0); /* no committer: nothing held */
}
END_TEST

/* A file the daemon may only read starts read-only; a writer's open gets
 * a read-write engine file in its place, and the read-only one is closed
 * when the last call on it lets go. */
START_TEST(test_read_only_then_writer)
{
	char buf[4096];
	struct fs_sfile *ro, *rw;
	unsigned seen_r, seen_w;

	tu_pattern(buf, sizeof(buf), 0, 2);
	atomic_store(&deny_rdwr, 1);
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_r), 0);
	ck_assert_int_eq(atomic_load(&opens_rdonly), 1);
	/* A writer while the daemon still may not: the reason comes back. */
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen_w), -EACCES);
	ck_assert_int_eq(state(), FS_OPEN);
	ro = session_get(&sess); /* a read running across the change */
	atomic_store(&deny_rdwr, 0);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen_w), 0);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 1);
	rw = session_get(&sess);
	ck_assert_ptr_ne(ro, rw);
	session_put(&sess, rw);
	session_put(&sess, ro); /* closes the read-only file */
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true);
	session_release(&host, &sess, false);
	ck_assert_int_eq(state(), FS_IDLE);
	assert_disk(path, buf, sizeof(buf));
}
END_TEST

struct call {
	pthread_t t;
	atomic_bool done;
	int r;
	unsigned seen;
	bool writable;
};

static void *release_main(void *arg)
{
	struct call *c = arg;

	session_release(&host, &sess, c->writable);
	atomic_store(&c->done, true);
	return NULL;
}

static void *open_main(void *arg)
{
	struct call *c = arg;

	c->r = session_open(&host, &sess, c->writable, false, -1, &c->seen);
	atomic_store(&c->done, true);
	return NULL;
}

/* For tu_stays_false: has the call returned? */
static bool call_returned(void *c)
{
	return atomic_load(&((struct call *)c)->done);
}

/* A release writing out (its O_DIRECT writes held): the state is CLOSING,
 * an open waits for the write-out, while the size and the figures answer
 * at once; once the writes go, the open gets a fresh engine file. */
START_TEST(test_open_waits_for_write_out)
{
	const size_t len = 2 * MiB;
	char *buf = malloc(len);
	struct call rel = {.writable = true}, op = {.writable = false};
	struct dfs_file_stats st;
	unsigned seen;
	off_t size;

	tu_pattern(buf, len, 0, 3);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	fault_io_hold(&fio, true);
	swrite(buf, len, 0); /* two full windows, held at the disk */
	ck_assert_int_eq(pthread_create(&rel.t, NULL, release_main, &rel), 0);
	for (int i = 0; i < 500 && state() != FS_CLOSING; i++)
		usleep(10 * 1000);
	ck_assert_int_eq(state(), FS_CLOSING);
	ck_assert_int_eq(pthread_create(&op.t, NULL, open_main, &op), 0);
	tu_stays_false(200, "the open returned while the release wrote out", call_returned, &op);
	ck_assert(!call_returned(&rel));
	ck_assert(session_size(&sess, &size)); /* the detached file's */
	ck_assert_int_eq(size, (off_t)len);
	session_figures(&host, &sess, &st);
	ck_assert_uint_eq(st.written, len);
	ck_assert_int_ne(st.state, DFS_STATE_IDLE);

	fault_io_hold(&fio, false);
	pthread_join(rel.t, NULL);
	pthread_join(op.t, NULL);
	ck_assert_int_eq(op.r, 0);
	ck_assert_int_eq(state(), FS_OPEN);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 2);
	assert_disk(path, buf, len);
	session_release(&host, &sess, false);
	ck_assert_int_eq(state(), FS_IDLE);
	free(buf);
}
END_TEST

/* With the committer, a release returns once the data is on SOURCE; the
 * session waits for its fsync holding the inode and a descriptor of the
 * budget.  An open, a truncate and the figures meanwhile never wait for
 * that fsync; the figures say syncing.  The queue drains at stop. */
START_TEST(test_commit_never_blocks_open)
{
	char buf[100];
	struct dfs_file_stats st;
	unsigned seen;
	off_t size;

	tu_pattern(buf, sizeof(buf), 0, 4);
	ck_assert_int_eq(session_commit_start(&host, 16), 0);
	fault_io_hold_sync(&fio, true);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true); /* returns: the fsync is queued */
	fault_io_wait_held_syncs(&fio, 1);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert(atomic_load(&sess.busy)); /* committing */
	ck_assert_int_eq(atomic_load(&pins), 1);
	ck_assert_int_eq(atomic_load(&lent), 1);
	ck_assert_int_eq(disk_size(), 100); /* on SOURCE already */
	ck_assert(!session_size(&sess, &size)); /* written out: SOURCE knows */
	session_figures(&host, &sess, &st);
	ck_assert_int_eq(st.state, DFS_STATE_SYNCING);
	ck_assert(session_in_flight(&sess, &st));

	/* A truncate by path and an open while the fsync is held. */
	ck_assert_int_eq(session_truncate(&host, &sess, 50), 0);
	ck_assert_int_eq(disk_size(), 50);
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen), 0);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 2); /* a fresh engine file */
	ck_assert(session_size(&sess, &size));
	ck_assert_int_eq(size, 50);
	session_release(&host, &sess, false);

	fault_io_hold_sync(&fio, false);
	session_commit_stop(&host); /* drains */
	ck_assert_int_eq(atomic_load(&pins), 0);
	ck_assert_int_eq(atomic_load(&lent), 0);
	ck_assert(!atomic_load(&sess.busy));
	session_figures(&host, &sess, &st);
	ck_assert_int_eq(st.state, DFS_STATE_IDLE);
	ck_assert_uint_eq(st.durable, 50);
	ck_assert_uint_eq(st.written, 100); /* the session that wrote */
	ck_assert_int_eq(atomic_load(&failures), 0);
}
END_TEST

/* A session that changed nothing (a reader's, or a writer's that wrote
 * nothing) has nothing to make durable: its release closes it there and
 * then, without the committer, and the figures stay the last writer's. */
START_TEST(test_clean_release_skips_commit)
{
	char buf[300];
	struct dfs_file_stats st;
	unsigned seen;

	tu_pattern(buf, sizeof(buf), 0, 9);
	ck_assert_int_eq(session_commit_start(&host, 16), 0);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true);
	session_commit_stop(&host); /* drains: the writer's commit is done */
	ck_assert_int_eq(session_commit_start(&host, 16), 0);
	unsigned long syncs = fsyncs();

	for (int writable = 0; writable < 2; writable++) {
		ck_assert_int_eq(session_open(&host, &sess, writable, false, -1, &seen), 0);
		session_release(&host, &sess, writable);
		ck_assert_int_eq(atomic_load(&pins), 0); /* not queued */
		ck_assert(!atomic_load(&sess.busy));
		session_figures(&host, &sess, &st);
		ck_assert_int_eq(st.state, DFS_STATE_IDLE);
		ck_assert_uint_eq(st.written, 300);
		ck_assert_uint_eq(st.durable, 300);
	}
	ck_assert_uint_eq(fsyncs(), syncs);
	/* A reader whose mapping left pages in the mount's cache goes to the
	 * committer, which drops them as it lets the inode go. */
	int before = atomic_load(&lets_go);
	atomic_store(&paged, true);
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen), 0);
	session_release(&host, &sess, false);
	session_commit_stop(&host);
	ck_assert_int_eq(atomic_load(&lets_go), before + 1);
	ck_assert_uint_eq(fsyncs(), syncs);
	ck_assert_int_eq(atomic_load(&failures), 0);
}
END_TEST

/* A file whose every name went (through the mount: session_names_removed)
 * before its commit ran is not synced; one that keeps a name is, and so
 * is a deleted one when no removal was seen (nothing asked). */
START_TEST(test_gone_skips_sync)
{
	char buf[200];
	struct dfs_file_stats st;
	unsigned seen;

	tu_pattern(buf, sizeof(buf), 0, 11);
	for (int c = 0; c < 3; c++) { /* gone; a name kept; gone, not told */
		ck_assert_int_eq(session_commit_start(&host, 16), 0);
		fault_io_hold_sync(&fio, false);
		unsigned long syncs = fsyncs() + fio.calls[FI_SYNCFS];
		ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
		swrite(buf, sizeof(buf), 0);
		if (c != 1)
			ck_assert_int_eq(unlink(path), 0);
		if (c != 2)
			session_names_removed(&host);
		session_release(&host, &sess, true);
		session_commit_stop(&host); /* drains */
		unsigned long now = fsyncs() + fio.calls[FI_SYNCFS];
		if (c == 0)
			ck_assert_uint_eq(now, syncs);
		else
			ck_assert_uint_gt(now, syncs);
		ck_assert(!atomic_load(&sess.busy));
		ck_assert_int_eq(atomic_load(&pins), 0);
		ck_assert_int_eq(atomic_load(&failures), 0);
		session_figures(&host, &sess, &st);
		ck_assert_uint_eq(st.written, 200);
		if (c != 1) /* the test's own path: back for the next round */
			close(tu_create(path, sizeof(path), "sess", O_RDWR));
	}
}
END_TEST

/* A release whose fsync fails: logged once, kept, and returned by the
 * next flush or fsync of every handle open when it failed or opened
 * before anyone saw it, once each; not to a handle opened after it was
 * seen.  Until it is seen the inode stays busy and counts in
 * error_files; a deleted file's error is dropped. */
START_TEST(test_release_error_reaches_handles)
{
	char buf[100];
	unsigned seen_h, seen_a, seen_b, seen_c, seen;

	tu_pattern(buf, sizeof(buf), 0, 5);
	ck_assert_int_eq(session_commit_start(&host, 16), 0);
	fault_io_add(&fio, (struct fi_rule){.op = FI_FSYNC, .count = -1, .err = EIO});
	fault_io_add(&fio, (struct fi_rule){.op = FI_SYNCFS, .count = -1, .err = EIO});
	fault_io_add(&fio, (struct fi_rule){.op = FI_SFR, .count = -1, .err = EIO});
	fault_io_hold_sync(&fio, true);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true);
	fault_io_wait_held_syncs(&fio, 1);
	/* H opens while the failing commit runs. */
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_h), 0);
	ck_assert_int_eq(session_error(&host, &sess, &seen_h), 0);
	fault_io_hold_sync(&fio, false);
	session_commit_stop(&host);
	ck_assert_int_eq(atomic_load(&failures), 1);
	ck_assert_int_eq(atomic_load(&last_failure), -EIO);
	ck_assert_uint_eq(atomic_load(&host.error_files), 1);

	/* A and B open before anyone has seen it. */
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_a), 0);
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_b), 0);
	ck_assert_int_eq(session_error(&host, &sess, &seen_h), -EIO);
	ck_assert_uint_eq(atomic_load(&host.error_files), 0);
	ck_assert_int_eq(session_error(&host, &sess, &seen_h), 0); /* once */
	ck_assert_int_eq(session_error(&host, &sess, &seen_a), -EIO);
	ck_assert_int_eq(session_error(&host, &sess, &seen_b), -EIO);
	ck_assert_int_eq(session_error(&host, &sess, &seen_b), 0);
	/* C opens after it was seen. */
	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen_c), 0);
	ck_assert_int_eq(session_error(&host, &sess, &seen_c), 0);
	for (int i = 0; i < 4; i++)
		session_release(&host, &sess, false);
	ck_assert(!atomic_load(&sess.busy)); /* seen: nothing to keep */

	/* Failing again with nobody open: kept (busy) until the file is
	 * deleted, then dropped. */
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true); /* no committer: fails here */
	ck_assert_int_eq(atomic_load(&failures), 2);
	ck_assert(atomic_load(&sess.busy));
	ck_assert_uint_eq(atomic_load(&host.error_files), 1);
	ck_assert(!session_forget_error(&host, &sess));
	ck_assert_uint_eq(atomic_load(&host.error_files), 0);
	fault_io_clear(&fio);
}
END_TEST

/* Truncates: by path with no engine file (SOURCE's own), through the
 * engine file while open (the staged size), an O_TRUNC open. */
START_TEST(test_truncates)
{
	char buf[10000];
	unsigned seen;
	off_t size;

	tu_pattern(buf, sizeof(buf), 0, 6);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	session_release(&host, &sess, true);
	ck_assert_int_eq(disk_size(), 10000);

	ck_assert_int_eq(session_truncate(&host, &sess, 3000), 0);
	ck_assert_int_eq(disk_size(), 3000);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 1); /* no engine file for it */

	ck_assert_int_eq(session_open(&host, &sess, false, false, -1, &seen), 0);
	ck_assert_int_eq(session_truncate(&host, &sess, 1000), 0);
	ck_assert(session_size(&sess, &size));
	ck_assert_int_eq(size, 1000);
	session_release(&host, &sess, false);
	ck_assert_int_eq(disk_size(), 1000);
	assert_disk(path, buf, 1000);

	ck_assert_int_eq(session_open(&host, &sess, true, true, -1, &seen), 0);
	ck_assert(session_size(&sess, &size));
	ck_assert_int_eq(size, 0);
	session_release(&host, &sess, true);
	ck_assert_int_eq(disk_size(), 0);
}
END_TEST

/* A first open that cannot open the backing file leaves the session as
 * it was; a created descriptor is taken over. */
START_TEST(test_failed_first_open)
{
	unsigned seen;
	int fd;

	atomic_store(&deny_open, 1);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), -ENOENT);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert(!atomic_load(&sess.busy));
	/* A create hands its descriptor over: no open of the backing file. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(session_open(&host, &sess, true, false, fd, &seen), 0);
	ck_assert_int_eq(atomic_load(&opens_rdwr), 0);
	session_release(&host, &sess, true);
	ck_assert_int_eq(state(), FS_IDLE);
}
END_TEST

/* At exit, a file still open (the kernel gone) is written out and
 * fsynced: its unaligned tail too. */
START_TEST(test_shut)
{
	char buf[5000];
	struct dfs_file_stats st;
	unsigned seen;

	tu_pattern(buf, sizeof(buf), 0, 7);
	ck_assert_int_eq(session_open(&host, &sess, true, false, -1, &seen), 0);
	swrite(buf, sizeof(buf), 0);
	ck_assert_int_eq(session_shut(&host, &sess), 0);
	ck_assert_int_eq(state(), FS_IDLE);
	ck_assert(!atomic_load(&sess.busy));
	assert_disk(path, buf, sizeof(buf));
	session_figures(&host, &sess, &st);
	ck_assert_uint_eq(st.durable, 5000);
}
END_TEST

int main(void)
{
	return tu_main(&(struct tu_case){
		.name = "session", .odirect = true, .timeout = 60,
		.setup = sess_setup, .teardown = sess_teardown,
		.tests = (const struct tu_test[]){
			TU_TEST(test_open_share_release),
			TU_TEST(test_read_only_then_writer),
			TU_TEST(test_open_waits_for_write_out),
			TU_TEST(test_commit_never_blocks_open),
			TU_TEST(test_clean_release_skips_commit),
			TU_TEST(test_gone_skips_sync),
			TU_TEST(test_release_error_reaches_handles),
			TU_TEST(test_truncates),
			TU_TEST(test_failed_first_open),
			TU_TEST(test_shut),
			{ NULL },
		},
	});
}
