// SPDX-License-Identifier: GPL-2.0
/*
 * What the fence of a synchronous char device unregistration costs: file
 * operations through a legacy misc device (the baseline), a sync one with
 * the rwsem fence and one with SRCU; the latency of the sync unregister
 * with idle files open and with busy ones; memory per open file.
 *
 * Not a test: it asserts nothing about time. It prints one line per
 * figure, "bench <name> <value> ...", for a harness to compare within one
 * run. Around each measured stretch it executes a marker instruction (a NOP
 * with a magic displacement), so that an emulator that counts instructions
 * (a QEMU TCG plugin, for one) can count exactly those executed in between.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest.h"
#include "test_chardev.h"

#ifdef __x86_64__
/* nopl 0x43440001(%rax) and 0x43440002(%rax): the plugin counts in between. */
static inline void mark_start(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80; .long 0x43440001" ::: "memory");
}

static inline void mark_stop(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80; .long 0x43440002" ::: "memory");
}
#else
/* No marker: the instruction counts are x86_64 only, the timings are not. */
static inline void mark_start(void)
{
}

static inline void mark_stop(void)
{
}
#endif

#define REPEATS		7	/* median and spread over these */
#define OPS		20000	/* operations per timed repeat */
#define COUNTED_OPS	1000	/* operations per counted repeat */

static const struct kind {
	const char *name;	/* in the report */
	const char *node;
	int id;
} kinds[] = {
	{ "legacy", "/dev/test_chardev_legacy_misc", 0 },
	{ "rwsem", "/dev/test_chardev_sync_misc", 1 },
	{ "srcu", "/dev/test_chardev_sync_misc_srcu", 2 },
};

#define NR_KINDS ARRAY_SIZE(kinds)

static void die(const char *what)
{
	fprintf(stderr, "fence_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

/* Prints "bench <name> median <m> min <lo> max <hi>" of @v[@n]. */
static void report(const char *name, long long *v, int n, double scale)
{
	qsort(v, n, sizeof(*v), cmp_ll);
	printf("bench %s median %.1f min %.1f max %.1f\n", name,
	       v[n / 2] / scale, v[0] / scale, v[n - 1] / scale);
	fflush(stdout);
}

static int open_node(const char *node)
{
	int fd = open(node, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		die(node);
	return fd;
}

static void sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		die(path);
	close(fd);
}

static void set_bound(int id, bool bound)
{
	char name[32], path[PATH_MAX];

	snprintf(name, sizeof(name), TEST_CHARDEV_DEVICE, id);
	snprintf(path, sizeof(path), TEST_CHARDEV_DRIVER "/%s", name);
	if (bound && !access(path, F_OK))
		return;		/* already bound */
	sysfs_write(bound ? TEST_CHARDEV_DRIVER "/bind" : TEST_CHARDEV_DRIVER "/unbind", name);
}

enum bench_op { OP_IOCTL, OP_READ };
static const char * const op_names[] = { "ioctl", "read" };

static inline void do_op(int fd, enum bench_op op)
{
	char c;

	if (op == OP_IOCTL) {
		if (ioctl(fd, TEST_CHARDEV_IOC_NOP))
			die("ioctl");
	} else if (read(fd, &c, 1) != -1 || errno != EAGAIN) {
		die("read");	/* the buffer is empty: EAGAIN */
	}
}

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Instructions per operation, for the plugin: one marked stretch each. */
static void count_ops(const struct kind *k, enum bench_op op)
{
	int fd = open_node(k->node), r, i;

	for (i = 0; i < COUNTED_OPS; i++)
		do_op(fd, op);			/* warm up */
	for (r = 0; r < REPEATS; r++) {
		printf("mark insns.%s.%s %d\n", op_names[op], k->name, COUNTED_OPS);
		fflush(stdout);
		mark_start();
		for (i = 0; i < COUNTED_OPS; i++)
			do_op(fd, op);
		mark_stop();
	}
	close(fd);
}

struct worker {
	pthread_t t;
	int fd;
	enum bench_op op;
	int cpu;
	pthread_barrier_t *start;
	long long ns;
	atomic_bool *stop;	/* loop until set, for the busy unregister */
	long ops;
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	long long t0;
	int i;

	pin_to(w->cpu);
	pthread_barrier_wait(w->start);
	if (w->stop) {
		while (!atomic_load(w->stop)) {
			if (ioctl(w->fd, TEST_CHARDEV_IOC_NOP) && errno == ENODEV)
				break;
			w->ops++;
		}
		return NULL;
	}
	t0 = now_ns();
	for (i = 0; i < OPS; i++)
		do_op(w->fd, w->op);
	w->ns = now_ns() - t0;
	return NULL;
}

/* Wall-clock ns per operation with @nthreads, on one file or one each. */
static void time_ops(const struct kind *k, enum bench_op op, int nthreads, bool shared)
{
	struct worker w[64];
	long long v[REPEATS];
	pthread_barrier_t start;
	char name[128];
	int shared_fd = open_node(k->node), r, i;

	for (r = 0; r < REPEATS; r++) {
		long long worst = 0;

		pthread_barrier_init(&start, NULL, nthreads);
		for (i = 0; i < nthreads; i++) {
			w[i] = (struct worker){ .op = op, .cpu = i, .start = &start };
			w[i].fd = shared ? shared_fd : open_node(k->node);
			if (pthread_create(&w[i].t, NULL, worker_fn, &w[i]))
				die("pthread_create");
		}
		for (i = 0; i < nthreads; i++) {
			pthread_join(w[i].t, NULL);
			if (w[i].ns > worst)
				worst = w[i].ns;
			if (!shared)
				close(w[i].fd);
		}
		pthread_barrier_destroy(&start);
		v[r] = worst;		/* all threads' ops took this long */
	}
	close(shared_fd);
	snprintf(name, sizeof(name), "ns.%s.%s.%dt.%s", op_names[op], k->name, nthreads,
		 shared ? "shared" : "own");
	report(name, v, REPEATS, OPS);
}

/*
 * The unregister (unbind) of @k with @nfiles files open and idle, or with
 * @busy threads calling ioctl() on files of their own, in ns; instructions
 * through the plugin.
 */
static void time_unbind(const struct kind *k, int nfiles, int busy)
{
	long long v[REPEATS];
	char name[128];
	int *fds = calloc(nfiles + 1, sizeof(int)), r, i;

	if (!fds)
		die("calloc");
	for (r = 0; r < REPEATS; r++) {
		struct worker w[64];
		pthread_barrier_t start;
		atomic_bool stop = false;
		long long t0;

		for (i = 0; i < nfiles; i++)
			fds[i] = open_node(k->node);
		if (busy) {
			pthread_barrier_init(&start, NULL, busy + 1);
			for (i = 0; i < busy; i++) {
				w[i] = (struct worker){ .cpu = i, .start = &start, .stop = &stop };
				w[i].fd = open_node(k->node);
				if (pthread_create(&w[i].t, NULL, worker_fn, &w[i]))
					die("pthread_create");
			}
			pthread_barrier_wait(&start);
			usleep(20000);		/* let them loop */
		}
		printf("mark insns.unbind.%s.%dfiles.%dbusy 1\n", k->name, nfiles, busy);
		fflush(stdout);
		t0 = now_ns();
		mark_start();
		set_bound(k->id, false);
		mark_stop();
		v[r] = now_ns() - t0;
		if (busy) {
			atomic_store(&stop, true);
			for (i = 0; i < busy; i++) {
				pthread_join(w[i].t, NULL);
				close(w[i].fd);
			}
			pthread_barrier_destroy(&start);
		}
		/* Closing after the unbind only frees per-file memory. */
		for (i = 0; i < nfiles; i++)
			close(fds[i]);
		set_bound(k->id, true);
	}
	free(fds);
	snprintf(name, sizeof(name), "ns.unbind.%s.%dfiles.%dbusy", k->name, nfiles, busy);
	report(name, v, REPEATS, 1);
}

/* Slab memory in kB, from /proc/meminfo. */
static long slab_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("/proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Slab: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* Kernel memory per open file of @k: slab growth over @n opens, in bytes. */
static void memory_per_file(const struct kind *k, int n)
{
	long long v[REPEATS];
	int *fds = calloc(n, sizeof(int)), r, i;
	char name[128];

	if (!fds)
		die("calloc");
	for (r = 0; r < REPEATS; r++) {
		long before;

		sync();
		before = slab_kb();
		for (i = 0; i < n; i++)
			fds[i] = open_node(k->node);
		v[r] = (slab_kb() - before) * 1024;
		for (i = 0; i < n; i++)
			close(fds[i]);
	}
	free(fds);
	snprintf(name, sizeof(name), "bytes.per_file.%s", k->name);
	report(name, v, REPEATS, n);
}

int main(int argc, char **argv)
{
	int nproc = sysconf(_SC_NPROCESSORS_ONLN);
	struct rlimit rl = { 20000, 20000 };
	const int files[] = { 0, 1, 100, 10000 };
	unsigned int k, op, f;

	if (access(TEST_CHARDEV_DRIVER, F_OK)) {
		fprintf(stderr, "fence_bench: no test_chardev driver: needs CONFIG_TEST_CHARDEV\n");
		return KSFT_SKIP;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl))
		die("setrlimit");
	if (nproc > 64)
		nproc = 64;
	printf("bench nproc %d\n", nproc);
	for (k = 0; k < NR_KINDS; k++)
		set_bound(kinds[k].id, true);

	pin_to(0);
	for (op = 0; op < 2; op++)
		for (k = 0; k < NR_KINDS; k++)
			count_ops(&kinds[k], op);

	for (op = 0; op < 2; op++)
		for (k = 0; k < NR_KINDS; k++) {
			time_ops(&kinds[k], op, 1, true);
			if (nproc > 1) {
				time_ops(&kinds[k], op, nproc, true);
				time_ops(&kinds[k], op, nproc, false);
			}
		}

	for (k = 0; k < NR_KINDS; k++) {
		for (f = 0; f < ARRAY_SIZE(files); f++)
			time_unbind(&kinds[k], files[f], 0);
		/* Calls into an unbound legacy device are use-after-frees. */
		if (k)
			time_unbind(&kinds[k], 0, nproc);
	}

	for (k = 0; k < NR_KINDS; k++)
		memory_per_file(&kinds[k], 10000);

	printf("bench done\n");
	return 0;
}
