/* SPDX-License-Identifier: MIT */
/*
 * neighbour - the programs that run beside a copy in bench/neighbour.sh,
 * and the arithmetic on what they logged.
 *
 *   neighbour hold MIB                 touch MIB of anonymous memory, say
 *                                      "held" on stdout, keep it until killed
 *   neighbour reader FILE LOG          4 KiB random preads of FILE (buffered)
 *   neighbour committer FILE LOG       4 KiB random pwrites of FILE, each
 *                                      followed by fdatasync (a database's commit)
 *   neighbour cpu LOG                  a CPU-bound loop; one op is a fixed
 *                                      amount of arithmetic
 *   neighbour alloc MIB LOG            allocate MIB, touch every page, free it,
 *                                      rest 0.5 s, again; one op is one allocation
 *   neighbour meminfo LOG              /proc/meminfo's Dirty + Writeback and
 *                                      Cached - Shmem (KiB), each interval
 *   neighbour sum LOG T0 T1            of the intervals ending in (T0, T1]:
 *                                      "ops seconds p99_us median_us"
 *   neighbour recover LOG T RATE       seconds from T until the first 1 s
 *                                      (4 intervals) at >= RATE ops/s; -1 if never
 *   neighbour rate LOG T0              "seconds-since-T0 ops/s" per interval (plots)
 *
 * The programs log one line per interval of 250 ms, aligned to the
 * wall clock so that all of them line up: "END OPS BIN:COUNT...", END the
 * interval's end (seconds since the epoch), OPS the ops completed in it,
 * and a histogram of their latencies (bin = floor(8 * log2(µs)), so a bin is
 * 9 % wide).  meminfo logs "END DIRTY_KIB CACHED_KIB".  They run until
 * SIGTERM or SIGINT, then write the interval they are in and exit 0.
 * Exits 1 naming the call that failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INTERVAL_NS 250000000LL
#define NBINS 256

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what, const char *name)
{
	fprintf(stderr, "neighbour: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The log of one running neighbour: the current interval's ops and histogram. */
struct log {
	FILE *f;
	int64_t end; /* current interval's end, ns */
	long ops;
	long bins[NBINS];
};

static void log_open(struct log *l, const char *name)
{
	memset(l, 0, sizeof(*l));
	l->f = fopen(name, "w");
	if (!l->f)
		die("open", name);
	l->end = (now_ns() / INTERVAL_NS + 1) * INTERVAL_NS;
}

/* Write out every interval that ended before t. */
static void log_roll(struct log *l, int64_t t)
{
	while (t >= l->end) {
		fprintf(l->f, "%.3f %ld", l->end / 1e9, l->ops);
		for (int i = 0; i < NBINS; i++)
			if (l->bins[i])
				fprintf(l->f, " %d:%ld", i, l->bins[i]);
		fputc('\n', l->f);
		l->ops = 0;
		memset(l->bins, 0, sizeof(l->bins));
		l->end += INTERVAL_NS;
	}
}

static void log_op(struct log *l, int64_t start, int64_t end)
{
	double us = (end - start) / 1e3;
	int bin = us < 1 ? 0 : (int)(8 * log2(us));

	log_roll(l, end);
	l->ops++;
	l->bins[bin < NBINS ? bin : NBINS - 1]++;
}

static void log_close(struct log *l)
{
	log_roll(l, l->end); /* the interval in progress, as it stands */
	if (fclose(l->f))
		die("close", "log");
}

static void full(int fd, char *buf, size_t len, off_t off, int write_it, const char *name)
{
	while (len) {
		ssize_t n = write_it ? pwrite(fd, buf, len, off) : pread(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			die(write_it ? "pwrite" : "pread", name);
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
}

static off_t blocks_of(int fd, const char *name)
{
	struct stat st;

	if (fstat(fd, &st))
		die("fstat", name);
	if (st.st_size < 4096) {
		errno = EINVAL;
		die("size under 4 KiB:", name);
	}
	return st.st_size / 4096;
}

static void run_io(const char *file, const char *logname, int commit)
{
	char buf[4096];
	struct log l;
	int fd = open(file, commit ? O_RDWR : O_RDONLY);
	off_t nblocks;

	if (fd < 0)
		die("open", file);
	nblocks = blocks_of(fd, file);
	memset(buf, 0x5a, sizeof(buf));
	log_open(&l, logname);
	while (!stop) {
		off_t off = (off_t)(next_rand() % (uint64_t)nblocks) * 4096;
		int64_t t0 = now_ns();

		full(fd, buf, sizeof(buf), off, commit, file);
		if (commit && fdatasync(fd))
			die("fdatasync", file);
		log_op(&l, t0, now_ns());
	}
	log_close(&l);
	close(fd);
}

static void run_cpu(const char *logname)
{
	struct log l;
	volatile uint64_t sink = 0;

	log_open(&l, logname);
	while (!stop) {
		int64_t t0 = now_ns();
		uint64_t x = 0;

		for (int i = 0; i < 100000; i++)
			x += next_rand() >> 7;
		sink += x;
		log_op(&l, t0, now_ns());
	}
	log_close(&l);
}

static void touch(char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (char)i | 1;
}

static void run_alloc(size_t len, const char *logname)
{
	struct log l;

	log_open(&l, logname);
	while (!stop) {
		int64_t t0 = now_ns();
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			die("mmap", "anonymous");
		touch(p, len);
		munmap(p, len);
		log_op(&l, t0, now_ns());
		for (int i = 0; i < 10 && !stop; i++)
			usleep(50000);
		log_roll(&l, now_ns());
	}
	log_close(&l);
}

static void run_meminfo(const char *logname)
{
	FILE *f = fopen(logname, "w");
	int64_t next = (now_ns() / INTERVAL_NS + 1) * INTERVAL_NS;

	if (!f)
		die("open", logname);
	while (!stop) {
		char line[256];
		long dirty = 0, wb = 0, cached = 0, shmem = 0;
		FILE *m;
		int64_t t = now_ns();

		if (t < next) {
			struct timespec ts = { 0, (long)(next - t) };

			nanosleep(&ts, NULL);
			continue;
		}
		m = fopen("/proc/meminfo", "r");
		if (!m)
			die("open", "/proc/meminfo");
		while (fgets(line, sizeof(line), m)) {
			sscanf(line, "Dirty: %ld", &dirty);
			sscanf(line, "Writeback: %ld", &wb);
			sscanf(line, "Cached: %ld", &cached);
			sscanf(line, "Shmem: %ld", &shmem);
		}
		fclose(m);
		fprintf(f, "%.3f %ld %ld\n", next / 1e9, dirty + wb, cached - shmem);
		fflush(f);
		next += INTERVAL_NS;
	}
	if (fclose(f))
		die("close", logname);
}

static void run_hold(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap", "anonymous");
	touch(p, len);
	printf("held\n");
	fflush(stdout);
	while (!stop)
		pause();
}

/* One interval of a log, parsed; bins are added into hist. */
static int read_interval(FILE *f, double *end, long *ops, long *hist)
{
	char line[8192], *p, *q;

	if (!fgets(line, sizeof(line), f))
		return 0;
	*end = strtod(line, &p);
	*ops = strtol(p, &p, 10);
	while (hist && *p && *p != '\n') {
		long bin = strtol(p, &q, 10);

		if (q == p || *q != ':')
			break;
		p = q + 1;
		hist[bin >= 0 && bin < NBINS ? bin : 0] += strtol(p, &p, 10);
	}
	return 1;
}

/* The upper edge of the bin holding the q-th quantile, in µs. */
static double quantile(const long *hist, double q)
{
	long n = 0, seen = 0;

	for (int i = 0; i < NBINS; i++)
		n += hist[i];
	if (!n)
		return 0;
	for (int i = 0; i < NBINS; i++) {
		seen += hist[i];
		if (seen >= q * n)
			return exp2((i + 1) / 8.0);
	}
	return exp2(NBINS / 8.0);
}

static FILE *open_log(const char *name)
{
	FILE *f = fopen(name, "r");

	if (!f)
		die("open", name);
	return f;
}

static int do_sum(const char *name, double t0, double t1)
{
	FILE *f = open_log(name);
	long hist[NBINS] = { 0 }, one[NBINS] = { 0 }, total = 0, ops;
	double end, first = 0, last = 0;

	while (read_interval(f, &end, &ops, one)) {
		if (end > t0 && end <= t1 + 1e-6) {
			total += ops;
			for (int i = 0; i < NBINS; i++)
				hist[i] += one[i];
			if (!first)
				first = end - INTERVAL_NS / 1e9;
			last = end;
		}
		memset(one, 0, sizeof(one));
	}
	fclose(f);
	printf("%ld %.2f %.0f %.0f\n", total, last - first, quantile(hist, 0.99), quantile(hist, 0.5));
	return 0;
}

static int do_recover(const char *name, double t, double rate)
{
	FILE *f = open_log(name);
	long win[4] = { 0 }, ops;
	int n = 0;
	double end;

	while (read_interval(f, &end, &ops, NULL)) {
		if (end <= t)
			continue;
		win[n % 4] = ops;
		n++;
		if (n >= 4 && (win[0] + win[1] + win[2] + win[3]) >= rate) {
			printf("%.2f\n", end - 1.0 - t > 0 ? end - 1.0 - t : 0.0);
			fclose(f);
			return 0;
		}
	}
	fclose(f);
	printf("-1\n");
	return 0;
}

static int do_rate(const char *name, double t0)
{
	FILE *f = open_log(name);
	long ops;
	double end;

	while (read_interval(f, &end, &ops, NULL))
		printf("%.2f %.0f\n", end - t0, ops * 1e9 / INTERVAL_NS);
	fclose(f);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: neighbour hold MIB | reader FILE LOG | committer FILE LOG | cpu LOG |\n"
			"       alloc MIB LOG | meminfo LOG | sum LOG T0 T1 | recover LOG T RATE | rate LOG T0\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *m = argc > 1 ? argv[1] : "";

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	rng ^= (uint64_t)now_ns() ^ ((uint64_t)getpid() << 32);
	if (!strcmp(m, "hold") && argc == 3)
		run_hold((size_t)strtoull(argv[2], NULL, 10) << 20);
	else if (!strcmp(m, "reader") && argc == 4)
		run_io(argv[2], argv[3], 0);
	else if (!strcmp(m, "committer") && argc == 4)
		run_io(argv[2], argv[3], 1);
	else if (!strcmp(m, "cpu") && argc == 3)
		run_cpu(argv[2]);
	else if (!strcmp(m, "alloc") && argc == 4)
		run_alloc((size_t)strtoull(argv[2], NULL, 10) << 20, argv[3]);
	else if (!strcmp(m, "meminfo") && argc == 3)
		run_meminfo(argv[2]);
	else if (!strcmp(m, "sum") && argc == 5)
		return do_sum(argv[2], atof(argv[3]), atof(argv[4]));
	else if (!strcmp(m, "recover") && argc == 5)
		return do_recover(argv[2], atof(argv[3]), atof(argv[4]));
	else if (!strcmp(m, "rate") && argc == 4)
		return do_rate(argv[2], atof(argv[3]));
	else
		usage();
	return 0;
}
