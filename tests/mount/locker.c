/* SPDX-License-Identifier: MIT */
/*
 * locker.c - takes and tests file locks for t_locks.sh.
 *
 *   locker try   KIND TYPE FILE [START LEN]  one attempt: prints locked
 *                                            (exit 0; the lock let go at
 *                                            once) or busy (exit 1)
 *   locker wait  KIND TYPE FILE              waits: prints locked (0), or
 *                                            eintr (3) on SIGUSR1
 *   locker hold  KIND TYPE FILE READY [START LEN]
 *                                            locks, creates READY, sleeps
 *                                            until killed
 *   locker getlk TYPE FILE [START LEN]       F_GETLK: prints unlocked, or
 *                                            the holder's type and pid
 *   locker closeother KIND TYPE FILE READY   as hold, then opens and closes
 *                                            a second descriptor of FILE
 *   locker writeunlock FILE DATA READY       POSIX write lock, writes DATA
 *                                            at offset 0, unlocks, creates
 *                                            READY, sleeps with FILE open
 *
 * KIND is posix (fcntl F_SETLK), ofd (F_OFD_SETLK) or flock; TYPE r or w.
 * Any other failure prints the errno and exits 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* TYPE 'w', 'r', or 'u' to let go. */
static int take(int fd, const char *kind, char type, off_t start, off_t len, int wait)
{
	if (!strcmp(kind, "flock"))
		return flock(fd, (type == 'w' ? LOCK_EX : type == 'u' ? LOCK_UN : LOCK_SH) |
				     (wait ? 0 : LOCK_NB));
	struct flock fl = {.l_type = type == 'w' ? F_WRLCK : type == 'u' ? F_UNLCK : F_RDLCK,
			   .l_whence = SEEK_SET,
			   .l_start = start,
			   .l_len = len};
	int cmd = !strcmp(kind, "ofd") ? (wait ? F_OFD_SETLKW : F_OFD_SETLK)
				       : (wait ? F_SETLKW : F_SETLK);
	return fcntl(fd, cmd, &fl);
}

static void noop(int sig)
{
	(void)sig;
}

static void made(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY, 0644);

	if (fd < 0) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void die(const char *what)
{
	printf("error %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	off_t start = 0, len = 0;
	int fd;

	if (!strcmp(op, "getlk") && argc >= 4) {
		if (argc >= 6) {
			start = atoll(argv[4]);
			len = atoll(argv[5]);
		}
		fd = open(argv[3], O_RDWR);
		if (fd < 0)
			die("open");
		struct flock fl = {.l_type = argv[2][0] == 'w' ? F_WRLCK : F_RDLCK,
				   .l_whence = SEEK_SET,
				   .l_start = start,
				   .l_len = len};
		if (fcntl(fd, F_GETLK, &fl))
			die("F_GETLK");
		if (fl.l_type == F_UNLCK)
			printf("unlocked\n");
		else
			printf("%s pid=%d\n", fl.l_type == F_WRLCK ? "w" : "r", (int)fl.l_pid);
		return 0;
	}
	if (!strcmp(op, "writeunlock") && argc == 5) {
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		fd = open(argv[2], O_RDWR);
		if (fd < 0)
			die("open");
		if (fcntl(fd, F_SETLKW, &fl))
			die("lock");
		if (pwrite(fd, argv[3], strlen(argv[3]), 0) != (ssize_t)strlen(argv[3]))
			die("pwrite");
		fl.l_type = F_UNLCK;
		if (fcntl(fd, F_SETLK, &fl))
			die("unlock");
		made(argv[4]);
		for (;;)
			pause();
	}
	if (argc < 5) {
		fprintf(stderr, "usage: see locker.c\n");
		return 2;
	}
	const char *kind = argv[2], *file = argv[4];
	char type = argv[3][0];
	int at = !strcmp(op, "hold") || !strcmp(op, "closeother") ? 6 : 5;

	if (argc >= at + 2) {
		start = atoll(argv[at]);
		len = atoll(argv[at + 1]);
	}
	fd = open(file, type == 'w' ? O_RDWR : O_RDONLY);
	if (fd < 0)
		die("open");
	if (!strcmp(op, "try")) {
		if (!take(fd, kind, type, start, len, 0)) {
			/* Let go before exiting: a lock taken through the
			 * mount would otherwise last until the kernel's
			 * release of the file, after the exit, and meet the
			 * next try. */
			if (take(fd, kind, 'u', start, len, 0))
				die("unlock");
			printf("locked\n");
			return 0;
		}
		if (errno == EAGAIN || errno == EACCES || errno == EWOULDBLOCK) {
			printf("busy\n");
			return 1;
		}
		die("lock");
	}
	if (!strcmp(op, "wait")) {
		struct sigaction sa = {.sa_handler = noop}; /* no SA_RESTART */
		sigaction(SIGUSR1, &sa, NULL);
		if (!take(fd, kind, type, start, len, 1)) {
			printf("locked\n");
			return 0;
		}
		if (errno == EINTR) {
			printf("eintr\n");
			return 3;
		}
		die("lock");
	}
	if ((!strcmp(op, "hold") || !strcmp(op, "closeother")) && argc >= 6) {
		if (take(fd, kind, type, start, len, 0))
			die("lock");
		if (!strcmp(op, "closeother")) {
			int fd2 = open(file, O_RDONLY);
			if (fd2 < 0)
				die("open again");
			close(fd2);
		}
		made(argv[5]);
		for (;;)
			pause();
	}
	fprintf(stderr, "usage: see locker.c\n");
	return 2;
}
