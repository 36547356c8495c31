// SPDX-License-Identifier: GPL-2.0
/*
 * The user half of the peer benchmark (see fence_peers.c): a no-op ioctl()
 * and an empty read() on each peer's file, each run of COUNTED_OPS between
 * the marker instructions fence_bench uses, so that the same QEMU TCG
 * plugin counts the instructions. Prints "mark insns.<op>.peer.<name> <ops>"
 * before each marked run, as fence_bench does. Asserts nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define PEER_IOC_NOP	_IO('P', 0x00)
#define REPEATS		7
#define COUNTED_OPS	1000

static inline void mark_start(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80; .long 0x43440001" ::: "memory");
}

static inline void mark_stop(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x80; .long 0x43440002" ::: "memory");
}

static const struct peer {
	const char *name;
	const char *path;
} peers[] = {
	{ "plain", "/dev/fence_peer_plain" },
	{ "rwsem", "/dev/fence_peer_rwsem" },
	{ "percpu_ref", "/dev/fence_peer_percpu_ref" },
	{ "global_srcu", "/dev/fence_peer_global_srcu" },
	{ "srcu_fast", "/dev/fence_peer_srcu_fast" },
	{ "debugfs_unsafe", "/sys/kernel/debug/fence_peers/unsafe" },
	{ "debugfs_proxied", "/sys/kernel/debug/fence_peers/proxied" },
	{ "procfs_permanent", "/proc/fence_peer_permanent" },
	{ "procfs_pde", "/proc/fence_peer_pde" },
};

static void die(const char *what, const char *path)
{
	fprintf(stderr, "peer_bench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

static void op(int fd, int read_op, const char *path)
{
	char c;

	if (!read_op) {
		if (ioctl(fd, PEER_IOC_NOP))
			die("ioctl", path);
	} else if (read(fd, &c, 1) != -1 || errno != EAGAIN) {
		die("read", path);
	}
}

int main(void)
{
	static const char * const ops[] = { "ioctl", "read" };
	unsigned int p;
	int o, r, i, fd;
	cpu_set_t cpu0;

	/* On one vCPU, as fence_bench: a stretch must not migrate. */
	CPU_ZERO(&cpu0);
	CPU_SET(0, &cpu0);
	if (sched_setaffinity(0, sizeof(cpu0), &cpu0))
		die("sched_setaffinity", "cpu 0");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (p = 0; p < ARRAY_SIZE(peers); p++) {
		fd = open(peers[p].path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			die("open", peers[p].path);
		for (o = 0; o < 2; o++) {
			for (i = 0; i < COUNTED_OPS; i++)
				op(fd, o, peers[p].path);	/* warm up */
			for (r = 0; r < REPEATS; r++) {
				printf("mark insns.%s.peer.%s %d\n", ops[o], peers[p].name,
				       COUNTED_OPS);
				fflush(stdout);
				mark_start();
				for (i = 0; i < COUNTED_OPS; i++)
					op(fd, o, peers[p].path);
				mark_stop();
			}
		}
		close(fd);
	}
	printf("peers done\n");
	return 0;
}
