// SPDX-License-Identifier: GPL-2.0
/*
 * Unbind a char device driver while user space holds its files open.
 *
 * Every test runs against each registration kind of the test driver
 * (lib/test_chardev.c, CONFIG_TEST_CHARDEV): the legacy
 * misc_deregister(), and misc_deregister_sync() and cdev_device_del_sync()
 * with the rwsem and the SRCU fence. The driver frees its per-device state,
 * with the struct miscdevice embedded in it, right after the unregister
 * returns, so any file operation that reaches it afterwards is a
 * use-after-free: on the sync kinds none may, and the tests also check that
 * the kernel log stays free of one.
 *
 * With the legacy misc_deregister() that is exactly what happens: the tests
 * that call into an unbound legacy device are skipped in a normal run and
 * are the negative control when CHARDEV_TEST_NEGATIVE=1 is set: they then
 * pass only if the bug is seen (KASAN in the kernel log, or the driver's own
 * detection of its freed state). Run the negative control last: KASAN
 * disables lockdep after its first report.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kselftest_harness.h"
#include "test_chardev.h"

static bool negative_control(void)
{
	const char *v = getenv("CHARDEV_TEST_NEGATIVE");

	return v && !strcmp(v, "1");
}

static int sysfs_write(const char *path, const char *val)
{
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The sysfs directory of the driver under test; set up by the fixture. */
static const char *driver_dir = TEST_CHARDEV_DRIVER;

/* The device of another driver under test (its bus address), or "". */
static char other_dev[64];

/* The name of the device under test on its bus. */
static void dev_name(char *name, size_t len, int id)
{
	if (other_dev[0])
		snprintf(name, len, "%s", other_dev);
	else
		snprintf(name, len, TEST_CHARDEV_DEVICE, id);
}

static int driver_write(const char *attr, int id)
{
	char path[PATH_MAX], name[64];

	snprintf(path, sizeof(path), "%s/%s", driver_dir, attr);
	dev_name(name, sizeof(name), id);
	return sysfs_write(path, name);
}

static bool is_bound(int id)
{
	char path[PATH_MAX], name[64];

	dev_name(name, sizeof(name), id);
	snprintf(path, sizeof(path), "%s/%s", driver_dir, name);
	return access(path, F_OK) == 0;
}

static int bind_dev(int id)
{
	if (is_bound(id))
		return 0;
	return driver_write("bind", id);
}

static int unbind_dev(int id)
{
	return driver_write("unbind", id);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	usleep(ms * 1000);
}

/*
 * Watches the kernel log from now on for what a use-after-free in the test
 * driver leaves there.
 */
struct kmsg_watch {
	int fd;
};

static void kmsg_watch_start(struct kmsg_watch *w)
{
	w->fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (w->fd >= 0)
		lseek(w->fd, 0, SEEK_END);
}

/* True when the log has a KASAN report or the driver's own detection. */
static bool kmsg_watch_saw_uaf(struct kmsg_watch *w)
{
	char rec[8192];
	bool seen = false;
	ssize_t n;

	if (w->fd < 0)
		return false;
	for (;;) {
		n = read(w->fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: keep reading */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, "BUG: KASAN: ") || strstr(rec, "on a removed device"))
			seen = true;
	}
	close(w->fd);
	w->fd = -1;
	return seen;
}

/*
 * What no test of a fenced device may leave in the kernel log: sanitizer,
 * lockdep, WARN, BUG and refcount reports, and what the test driver says
 * when it is reached after its removal or finds a file or fasync entry
 * left at remove(). Reads the watched log to its end; true and the first
 * such line in @line if there is one.
 */
static const char *const log_reports[] = {
	"BUG: ", "WARNING: ", "INFO: possible", "refcount_t:", "Oops", "UBSAN:",
	"on a removed device", "not released at remove", "left at remove",
};

/* The next record of the watched log into @rec; false at its end. */
static bool kmsg_watch_next(struct kmsg_watch *w, char *rec, size_t size)
{
	ssize_t n;

	if (w->fd < 0)
		return false;
	do {
		n = read(w->fd, rec, size - 1);
	} while (n < 0 && errno == EPIPE);	/* overwritten records */
	if (n <= 0)
		return false;
	rec[n] = '\0';
	return true;
}

static bool kmsg_watch_report(struct kmsg_watch *w, char *line, size_t size)
{
	char rec[8192];
	bool seen = false;
	size_t i;

	while (kmsg_watch_next(w, rec, sizeof(rec))) {
		for (i = 0; !seen && i < ARRAY_SIZE(log_reports); i++) {
			if (strstr(rec, log_reports[i])) {
				snprintf(line, size, "%s", rec);
				seen = true;
			}
		}
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	return seen;
}

FIXTURE(unbind)
{
	char node[PATH_MAX];
	int fd;
	struct kmsg_watch log;	/* this test's part of the kernel log */
};

/* What a driver under test does not implement. */
#define LACKS_LLSEEK	0x1	/* no ->llseek */
#define LACKS_POLL	0x2	/* no ->poll */
#define LACKS_SLEEP	0x4	/* read never sleeps */
#define LACKS_DRIVER_FOPS 0x8	/* no TEST_CHARDEV_IOC_DRIVER_FOPS */
#define LACKS_MMAP	0x10	/* no ->mmap */

FIXTURE_VARIANT(unbind)
{
	const char *name;	/* the device node in /dev */
	int id;			/* the platform device id */
	bool fenced;		/* registered with a synchronous unregister */
	const char *driver;	/* a PCI driver other than test_chardev, or NULL */
	unsigned int lacks;	/* LACKS_* */
	bool reports_minor;	/* answers TEST_CHARDEV_IOC_MINOR */
	int minor;		/* its answer: the index of the node's minor */
	const char *class;	/* the node's class, if the test checks it */
	mode_t mode;		/* and the node's permissions */
};

FIXTURE_VARIANT_ADD(unbind, legacy_misc)
{
	.name = "test_chardev_legacy_misc",
	.id = 0,
	.fenced = false,
};

FIXTURE_VARIANT_ADD(unbind, sync_misc)
{
	.name = "test_chardev_sync_misc",
	.id = 1,
	.fenced = true,
};

FIXTURE_VARIANT_ADD(unbind, sync_misc_srcu)
{
	.name = "test_chardev_sync_misc_srcu",
	.id = 2,
	.fenced = true,
};

FIXTURE_VARIANT_ADD(unbind, sync_cdev)
{
	.name = "test_chardev_sync_cdev",
	.id = 3,
	.fenced = true,
};

FIXTURE_VARIANT_ADD(unbind, sync_cdev_srcu)
{
	.name = "test_chardev_sync_cdev_srcu",
	.id = 4,
	.fenced = true,
};

/*
 * samples/rust/rust_sync_chardev.rs, bound to QEMU's pci-testdev: a
 * kernel::cdev::Registration (rwsem) of two minors, each tested
 * on its own, and a kernel::cdev::MiscRegistration (SRCU) whose files each
 * own the wait queue they poll on. Rust files are streams: no llseek.
 */
#define RUST_SYNC_CHARDEV "rust_sync_chardev"
/* The device the sample binds: QEMU's pci-testdev. */
#define PCI_TESTDEV_VENDOR	0x1b36
#define PCI_TESTDEV_DEVICE	0x0005

FIXTURE_VARIANT_ADD(unbind, rust_sync_cdev)
{
	.name = "rust_sync_chardev0",
	.id = -1,
	.fenced = true,
	.driver = RUST_SYNC_CHARDEV,
	.lacks = LACKS_LLSEEK | LACKS_DRIVER_FOPS | LACKS_MMAP,
	.reports_minor = true,
	.minor = 0,
	.class = "rust_sync_chardev",
	.mode = 0660,
};

FIXTURE_VARIANT_ADD(unbind, rust_sync_cdev1)
{
	.name = "rust_sync_chardev1",
	.id = -1,
	.fenced = true,
	.driver = RUST_SYNC_CHARDEV,
	.lacks = LACKS_LLSEEK | LACKS_DRIVER_FOPS | LACKS_MMAP,
	.reports_minor = true,
	.minor = 1,
	.class = "rust_sync_chardev",
	.mode = 0660,
};

FIXTURE_VARIANT_ADD(unbind, rust_sync_misc)
{
	.name = "rust_sync_misc",
	.id = -1,
	.fenced = true,
	.driver = RUST_SYNC_CHARDEV,
	.lacks = LACKS_LLSEEK | LACKS_DRIVER_FOPS | LACKS_MMAP,
	.class = "misc",
	.mode = 0660,
};

/* The platform device ids of the test driver, and one misc node of each. */
#define NR_KINDS 5
static const char * const misc_nodes[] = {
	"/dev/test_chardev_legacy_misc",
	"/dev/test_chardev_sync_misc",
	"/dev/test_chardev_sync_misc_srcu",
};

/* Reads a number from a sysfs attribute; -1 if it cannot. */
static long sysfs_read_long(const char *path)
{
	char buf[32] = "";
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	return strtol(buf, NULL, 0);
}

/*
 * Finds the first PCI device of @vendor:@device and writes its address to
 * @addr; false if there is none.
 */
static bool find_pci_dev(long vendor, long device, char *addr, size_t len)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool found = false;
	DIR *dir;

	dir = opendir("/sys/bus/pci/devices");
	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", de->d_name);
		if (sysfs_read_long(path) != vendor)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", de->d_name);
		if (sysfs_read_long(path) != device)
			continue;
		snprintf(addr, len, "%s", de->d_name);
		found = true;
	}
	closedir(dir);
	return found;
}

/*
 * The name of the driver the PCI device @addr is bound to, in @name; false
 * if it is bound to none.
 */
static bool pci_driver_of(const char *addr, char *name, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *slash;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", addr);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	slash = strrchr(target, '/');
	snprintf(name, len, "%s", slash ? slash + 1 : target);
	return true;
}

FIXTURE_SETUP(unbind)
{
	static char dir[PATH_MAX];
	char bound[NAME_MAX + 1];
	int ret;

	self->fd = -1;
	self->log.fd = -1;
	if (!variant->driver && access(TEST_CHARDEV_DRIVER, F_OK))
		SKIP(return, "no test_chardev driver: needs CONFIG_TEST_CHARDEV");
	/* The negative control expects reports: its caller judges its log. */
	if (!negative_control()) {
		kmsg_watch_start(&self->log);
		ASSERT_LE(0, self->log.fd) TH_LOG("/dev/kmsg: %s", strerror(errno));
	}
	if (variant->driver) {
		snprintf(dir, sizeof(dir), "/sys/bus/pci/drivers/%s", variant->driver);
		if (access(dir, F_OK))
			SKIP(return, "no %s driver: needs CONFIG_SAMPLE_RUST_SYNC_CHARDEV",
			     variant->driver);
		if (!find_pci_dev(PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE, other_dev,
				  sizeof(other_dev)))
			SKIP(return, "no PCI device %04x:%04x: run QEMU with -device pci-testdev",
			     PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE);
		if (pci_driver_of(other_dev, bound, sizeof(bound)) &&
		    strcmp(bound, variant->driver))
			SKIP(return, "%s is bound to %s", other_dev, bound);
		driver_dir = dir;
	}
	ret = bind_dev(variant->id);
	ASSERT_EQ(0, ret) TH_LOG("bind: %s", strerror(-ret));
	snprintf(self->node, sizeof(self->node), "/dev/%s", variant->name);
	self->fd = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->node, strerror(errno));
	/* Each node of a device of several minors reaches its own minor. */
	if (variant->reports_minor) {
		ret = ioctl(self->fd, TEST_CHARDEV_IOC_MINOR);
		ASSERT_EQ(variant->minor, ret)
			TH_LOG("%s: opened minor %d: %s", self->node, ret,
			       ret < 0 ? strerror(errno) : "");
	}
}

/* The test judges its own part of the kernel log. */
FIXTURE_TEARDOWN(unbind)
{
	char line[8192];

	if (self->fd >= 0)
		close(self->fd);
	EXPECT_EQ(0, bind_dev(variant->id));
	EXPECT_FALSE(kmsg_watch_report(&self->log, line, sizeof(line)))
		TH_LOG("kernel log: %s", line);
}

#define LEGACY_UAF "legacy unregister: a use-after-free by design; run " \
	"with CHARDEV_TEST_NEGATIVE=1 as the negative control"

/* Whether a test would use freed memory, outside the negative control. */
static bool legacy_uaf(bool fenced)
{
	return !fenced && !negative_control();
}

/*
 * The outcome of one file operation on an unbound device: on a fenced
 * device it must fail with ENODEV (poll: POLLERR | POLLHUP); on a legacy
 * one it reaches freed memory, and *bug is set when the driver noticed.
 */
static void check_dead_op(struct __test_metadata *_metadata, bool fenced,
			  const char *op, long ret, int err, bool *bug)
{
	if (fenced) {
		EXPECT_EQ(-1, ret) TH_LOG("%s on a revoked device returned %ld", op, ret);
		EXPECT_EQ(ENODEV, err) TH_LOG("%s: %s", op, strerror(err));
	} else if (ret == -1 && err == EIO) {
		*bug = true;
	}
}

TEST_F(unbind, every_fop_after_unbind)
{
	struct kmsg_watch w;
	struct pollfd pfd;
	bool bug = false;
	char buf[8] = "x";
	char buf2[64];
	long ret;

	if (legacy_uaf(variant->fenced))
		SKIP(return, LEGACY_UAF);
	kmsg_watch_start(&w);
	ASSERT_EQ(0, unbind_dev(variant->id));

	ret = read(self->fd, buf, sizeof(buf));
	check_dead_op(_metadata, variant->fenced, "read", ret, errno, &bug);
	ret = write(self->fd, buf, 1);
	check_dead_op(_metadata, variant->fenced, "write", ret, errno, &bug);
	ret = ioctl(self->fd, TEST_CHARDEV_IOC_NOP);
	check_dead_op(_metadata, variant->fenced, "ioctl", ret, errno, &bug);
	if (!(variant->lacks & LACKS_LLSEEK)) {
		ret = lseek(self->fd, 1, SEEK_SET);
		check_dead_op(_metadata, variant->fenced, "llseek", ret, errno, &bug);
	}

	pfd.fd = self->fd;
	pfd.events = POLLIN | POLLOUT;
	pfd.revents = 0;
	ret = poll(&pfd, 1, 0);
	if (variant->lacks & LACKS_POLL) {
		/* No ->poll: the VFS answers without calling the device. */
	} else if (variant->fenced) {
		EXPECT_EQ(1, ret);
		EXPECT_EQ(POLLERR | POLLHUP, pfd.revents & (POLLERR | POLLHUP));
	} else if (pfd.revents & POLLERR) {
		bug = true;
	}

	/* Opening the stale inode again must fail, without reaching the driver. */
	snprintf(buf2, sizeof(buf2), "/proc/self/fd/%d", self->fd);
	ret = open(buf2, O_RDWR | O_CLOEXEC);
	EXPECT_EQ(-1, ret);
	if (ret >= 0)
		close(ret);

	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	if (variant->fenced) {
		ASSERT_FALSE(kmsg_watch_saw_uaf(&w));
	} else {
		ASSERT_TRUE(kmsg_watch_saw_uaf(&w) || bug)
			TH_LOG("negative control: no use-after-free seen on the legacy path");
	}
}

/* Release only frees per-file memory: closing after unbind is always safe. */
TEST_F(unbind, close_after_unbind)
{
	int fd2 = open(self->node, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, unbind_dev(variant->id));
	EXPECT_EQ(0, close(fd2));
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
}

/*
 * The test driver makes the device readable once an operation that holds
 * or waits is inside it: wait for that before unbinding, rather than for
 * a guessed time.
 */
static void drain(int fd)
{
	char buf[TEST_CHARDEV_BUF];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static bool wait_inside(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 30000) == 1 && (pfd.revents & POLLIN);
}

/* An operation held inside the driver while the device unbinds. */
#define HOLD_MS 400

struct held_op {
	int fd;
	__u32 ms;		/* how long, HOLD_MS if 0 */
	long ret;
	int err;
	long long start_ms;	/* taken before the ioctl enters the driver */
};

static void *held_ioctl(void *arg)
{
	struct held_op *h = arg;
	__u32 ms = h->ms ?: HOLD_MS;

	h->start_ms = now_ms();
	h->ret = ioctl(h->fd, TEST_CHARDEV_IOC_HOLD, &ms);
	h->err = errno;
	return NULL;
}

TEST_F(unbind, ioctl_held_at_unbind)
{
	struct held_op h = { .fd = self->fd };
	long long unbound_ms;
	struct kmsg_watch w;
	pthread_t t;

	if (legacy_uaf(variant->fenced))
		SKIP(return, LEGACY_UAF);
	kmsg_watch_start(&w);
	ASSERT_EQ(0, pthread_create(&t, NULL, held_ioctl, &h));
	sleep_ms(100);		/* let the ioctl enter the driver */
	ASSERT_EQ(0, unbind_dev(variant->id));
	unbound_ms = now_ms();
	ASSERT_EQ(0, pthread_join(t, NULL));

	if (variant->fenced) {
		/*
		 * The ioctl completed normally, and the unbind returned only
		 * after it left the driver: not before the ioctl's hold time
		 * had passed since it was called.
		 */
		EXPECT_EQ(0, h.ret) TH_LOG("held ioctl: %s", strerror(h.err));
		EXPECT_GE(unbound_ms, h.start_ms + HOLD_MS);
		ASSERT_FALSE(kmsg_watch_saw_uaf(&w));
	} else {
		/* The unbind did not wait: the ioctl woke up on freed state. */
		ASSERT_TRUE(kmsg_watch_saw_uaf(&w) || (h.ret == -1 && h.err == EIO))
			TH_LOG("negative control: no use-after-free seen on the legacy path");
	}
}

/* Threads looping on file operations while the device unbinds. */
struct hammer {
	int fd;
	atomic_bool stop;
	bool bug;
	long ops;
	int bad_errno;
};

static void *hammer_thread(void *arg)
{
	struct hammer *h = arg;
	struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
	char buf[4] = "abc";

	while (!h->stop) {
		long r1 = ioctl(h->fd, TEST_CHARDEV_IOC_NOP);
		long r2 = write(h->fd, buf, sizeof(buf));
		long r3 = read(h->fd, buf, sizeof(buf));

		poll(&pfd, 1, 0);
		h->ops += 4;
		if (r1 == -1 && errno == EIO) {
			h->bug = true;
			break;
		}
		if (r1 == -1 && errno != ENODEV)
			h->bad_errno = errno;
		if (r1 == -1 || r2 == -1 || r3 == -1)
			if (errno == ENODEV)
				break;
	}
	return NULL;
}

#define HAMMER_THREADS 4

TEST_F(unbind, fops_hammered_during_unbind)
{
	struct hammer h[HAMMER_THREADS];
	pthread_t t[HAMMER_THREADS];
	struct kmsg_watch w;
	bool bug = false;
	long ops = 0;
	int i;

	if (legacy_uaf(variant->fenced))
		SKIP(return, LEGACY_UAF);
	kmsg_watch_start(&w);
	for (i = 0; i < HAMMER_THREADS; i++) {
		h[i] = (struct hammer){ .fd = self->fd };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, hammer_thread, &h[i]));
	}
	sleep_ms(300);
	ASSERT_EQ(0, unbind_dev(variant->id));
	sleep_ms(300);
	for (i = 0; i < HAMMER_THREADS; i++) {
		h[i].stop = true;
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		bug |= h[i].bug;
		ops += h[i].ops;
		EXPECT_EQ(0, h[i].bad_errno) TH_LOG("thread %d: %s", i, strerror(h[i].bad_errno));
	}
	TH_LOG("%ld operations", ops);
	EXPECT_LT(0, ops);
	if (variant->fenced) {
		EXPECT_FALSE(bug);
		ASSERT_FALSE(kmsg_watch_saw_uaf(&w));
	} else {
		ASSERT_TRUE(kmsg_watch_saw_uaf(&w) || bug)
			TH_LOG("negative control: no use-after-free seen on the legacy path");
	}
}

/* open() racing unbind and rebind: every open succeeds or fails cleanly. */
struct opener {
	const char *node;
	bool fenced;
	atomic_bool stop;
	long opened;
	int bad_errno;
	const char *bad_op;
};

static void *opener_thread(void *arg)
{
	struct opener *o = arg;

	while (!o->stop) {
		int fd = open(o->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0) {
			if (errno != ENOENT && errno != ENODEV && errno != ENXIO) {
				o->bad_errno = errno;
				o->bad_op = "open";
			}
			continue;
		}
		o->opened++;
		/* Only a fenced device may be called into at any time. */
		if (o->fenced && ioctl(fd, TEST_CHARDEV_IOC_NOP) && errno != ENODEV) {
			o->bad_errno = errno;
			o->bad_op = "ioctl";
		}
		close(fd);
	}
	return NULL;
}

TEST_F(unbind, open_racing_unbind)
{
	struct opener o[2];
	pthread_t t[2];
	int i, cycle;

	for (i = 0; i < 2; i++) {
		o[i] = (struct opener){ .node = self->node, .fenced = variant->fenced };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, opener_thread, &o[i]));
	}
	for (cycle = 0; cycle < 10; cycle++) {
		sleep_ms(20);
		ASSERT_EQ(0, unbind_dev(variant->id));
		sleep_ms(20);
		ASSERT_EQ(0, bind_dev(variant->id));
	}
	for (i = 0; i < 2; i++) {
		o[i].stop = true;
		ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, o[i].bad_errno)
			TH_LOG("opener %d: %s: %s", i, o[i].bad_op, strerror(o[i].bad_errno));
	}
	EXPECT_LT(0, o[0].opened + o[1].opened);
}

/* A file left open across unbind does not disturb the rebound device. */
TEST_F(unbind, rebind_and_reuse)
{
	char buf[16] = { 0 };
	int fd2;

	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, bind_dev(variant->id));
	fd2 = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, fd2) TH_LOG("open after rebind: %s", strerror(errno));
	EXPECT_EQ(5, write(fd2, "hello", 5));
	EXPECT_EQ(5, read(fd2, buf, sizeof(buf)));
	EXPECT_EQ(0, memcmp(buf, "hello", 5));
	EXPECT_EQ(0, ioctl(fd2, TEST_CHARDEV_IOC_NOP));
	EXPECT_EQ(0, close(fd2));
	/* The stale file is closed without being used. */
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
}

TEST_F(unbind, bind_unbind_cycles)
{
	char buf[8];
	int cycle, fd2;

	close(self->fd);
	self->fd = -1;
	for (cycle = 0; cycle < 25; cycle++) {
		ASSERT_EQ(0, bind_dev(variant->id));
		fd2 = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, fd2) TH_LOG("cycle %d: open: %s", cycle, strerror(errno));
		EXPECT_EQ(3, write(fd2, "abc", 3));
		EXPECT_EQ(3, read(fd2, buf, sizeof(buf)));
		EXPECT_EQ(0, close(fd2));
		ASSERT_EQ(0, unbind_dev(variant->id));
	}
}

/*
 * A sleeper that only the unregister can wake, which must not wait for it
 * forever. The legacy unregister wakes nobody: the sleeper would sleep on
 * freed memory.
 */
#define LEGACY_SLEEPER "legacy unregister: nothing wakes a sleeper"

struct sleeper {
	int fd;
	long ret;
	int err;
	short revents;
};

static void *blocked_read(void *arg)
{
	struct sleeper *s = arg;
	char buf[8];

	s->ret = read(s->fd, buf, sizeof(buf));
	s->err = errno;
	return NULL;
}

TEST_F(unbind, blocked_read_at_unbind)
{
	struct sleeper s = { .ret = 0 };
	pthread_t t;

	if (!variant->fenced)
		SKIP(return, LEGACY_SLEEPER);
	if (variant->lacks & LACKS_SLEEP)
		SKIP(return, "the device's read never sleeps");
	s.fd = open(self->node, O_RDWR | O_CLOEXEC);	/* blocking */
	ASSERT_LE(0, s.fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_read, &s));
	sleep_ms(300);		/* let it block in the driver */
	/* Returns only once the reader left the driver. */
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(-1, s.ret);
	EXPECT_EQ(ENODEV, s.err) TH_LOG("blocked read: %s", strerror(s.err));
	EXPECT_EQ(0, close(s.fd));
}

static void *blocked_poll(void *arg)
{
	struct sleeper *s = arg;
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

	s->ret = poll(&pfd, 1, -1);
	s->err = errno;
	s->revents = pfd.revents;
	return NULL;
}

TEST_F(unbind, blocked_poll_at_unbind)
{
	struct sleeper s = { .fd = self->fd };
	pthread_t t;

	if (!variant->fenced)
		SKIP(return, LEGACY_SLEEPER);
	if (variant->lacks & LACKS_POLL)
		SKIP(return, "the device has no poll");
	ASSERT_EQ(0, pthread_create(&t, NULL, blocked_poll, &s));
	sleep_ms(300);		/* let it sleep on the device */
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(1, s.ret) TH_LOG("poll: %s", strerror(s.err));
	EXPECT_EQ(POLLERR | POLLHUP, s.revents & (POLLERR | POLLHUP));
	EXPECT_FALSE(s.revents & POLLIN);
}

/* An epoll set keeps its entry across the unbind and sees the hang-up. */
TEST_F(unbind, epoll_across_unbind)
{
	struct epoll_event ev = { .events = EPOLLIN }, out;
	int ep;

	if (!variant->fenced)
		SKIP(return, LEGACY_SLEEPER);
	if (variant->lacks & LACKS_POLL)
		SKIP(return, "the device has no poll");
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, ep);
	ev.data.fd = self->fd;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->fd, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 5000));
	EXPECT_EQ(EPOLLERR | EPOLLHUP, out.events & (EPOLLERR | EPOLLHUP));
	/* Rebinding allocates anew; the entry sits on the fence until close. */
	ASSERT_EQ(0, bind_dev(variant->id));
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, close(ep));
}

/* Unregistering one device leaves every other misc device working. */
TEST_F(unbind, other_devices_unaffected)
{
	int fds[NR_KINDS], i, n = 0;
	char buf[8];

	for (i = 0; i < (int)ARRAY_SIZE(misc_nodes); i++) {
		if (i == variant->id)
			continue;
		fds[n] = open(misc_nodes[i], O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, fds[n]) TH_LOG("open %s: %s", misc_nodes[i], strerror(errno));
		n++;
	}
	ASSERT_EQ(0, unbind_dev(variant->id));
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, ioctl(fds[i], TEST_CHARDEV_IOC_NOP));
		EXPECT_EQ(2, write(fds[i], "ok", 2));
		EXPECT_EQ(2, read(fds[i], buf, sizeof(buf)));
		EXPECT_EQ(0, close(fds[i]));
	}
	/* This device's own file is stale now: close it without using it. */
	EXPECT_EQ(0, close(self->fd));
	self->fd = -1;
}

/*
 * Mappings. The test driver maps its pages at offset 0 by PFN in ->mmap()
 * and at TEST_CHARDEV_MAP_FAULT pages by ->fault(); remove() fills them
 * with 'd' and frees them. After a synchronous unregister every access to
 * an old mapping gets SIGBUS; on the legacy device it reads the freed pages,
 * and unmapping calls the driver's VMA callbacks on its freed state.
 */
static __thread sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

/* Reads *p into *v: false, or true if that raised SIGBUS. */
static bool read_bus(const char *p, char *v)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool bus = false;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(bus_jmp, 1) == 0)
		*v = __atomic_load_n(p, __ATOMIC_RELAXED);
	else
		bus = true;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/* The other mapping tests have no verdict on the legacy device. */
#define LEGACY_MAP "legacy unregister: mmap_across_unbind is the negative " \
	"control of mappings"

/* Why a mapping test, but the negative control's, skips a variant, or NULL. */
static const char *map_skip(unsigned int lacks, bool fenced)
{
	if (lacks & LACKS_MMAP)
		return "the device has no mmap";
	return fenced ? NULL : LEGACY_MAP;
}

static size_t map_len(void)
{
	return TEST_CHARDEV_MAP_PAGES * getpagesize();
}

/* The device's pages, mapped by PFN (fault false) or by ->fault(). */
static char *map_dev(int fd, bool fault)
{
	return mmap(NULL, map_len(), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    fault ? (off_t)TEST_CHARDEV_MAP_FAULT * getpagesize() : 0);
}

TEST_F(unbind, mmap_across_unbind)
{
	struct kmsg_watch w;
	bool bug = false;
	char *m[2], v;
	size_t i;
	int mode;

	if (variant->lacks & LACKS_MMAP)
		SKIP(return, "the device has no mmap");
	if (legacy_uaf(variant->fenced))
		SKIP(return, LEGACY_UAF);
	for (mode = 0; mode < 2; mode++) {
		m[mode] = map_dev(self->fd, mode);
		ASSERT_NE(MAP_FAILED, m[mode]) TH_LOG("mmap: %s", strerror(errno));
		memset(m[mode], 'p', map_len());
	}
	/* The two mappings share the device's pages. */
	EXPECT_EQ('p', m[0][map_len() - 1]);
	kmsg_watch_start(&w);
	ASSERT_EQ(0, unbind_dev(variant->id));
	for (mode = 0; mode < 2; mode++) {
		for (i = 0; i < map_len(); i += getpagesize()) {
			if (variant->fenced) {
				EXPECT_TRUE(read_bus(m[mode] + i, &v))
					TH_LOG("mapping %d, offset %zu: readable after unbind",
					       mode, i);
			} else if (!read_bus(m[mode] + i, &v) && v == 'd') {
				bug = true;	/* the freed, poisoned page */
			}
		}
		/* PFN maps refuse MADV_DONTNEED (EINVAL), revoked or not. */
		if (variant->fenced)
			EXPECT_EQ(mode ? 0 : -1, madvise(m[mode], map_len(), MADV_DONTNEED));
		/* The legacy device's vm_close runs on its freed state here. */
		EXPECT_EQ(0, munmap(m[mode], map_len()));
	}
	if (variant->fenced) {
		ASSERT_FALSE(kmsg_watch_saw_uaf(&w));
	} else {
		ASSERT_TRUE(kmsg_watch_saw_uaf(&w) || bug)
			TH_LOG("negative control: no use-after-free seen through the mapping");
	}
}

struct faulter {
	char *map;
	atomic_bool stop;
	atomic_long faults;	/* before the SIGBUS */
	atomic_bool bus;
};

/* Drops the pages and faults them in again, until SIGBUS. */
static void *fault_loop(void *arg)
{
	struct faulter *f = arg;
	char v;

	while (!atomic_load(&f->stop)) {
		if (madvise(f->map, map_len(), MADV_DONTNEED))
			break;
		if (read_bus(f->map + atomic_load(&f->faults) % map_len(), &v)) {
			atomic_store(&f->bus, true);
			break;
		}
		atomic_fetch_add(&f->faults, 1);
	}
	return NULL;
}

/*
 * Reads /proc/self/maps, which walks the VMAs under the locks the unbind
 * takes to wait for faults, until told to stop.
 */
static void *maps_loop(void *arg)
{
	struct faulter *f = arg;
	char buf[4096];
	int fd;

	while (!atomic_load(&f->stop)) {
		fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	return NULL;
}

TEST_F(unbind, mmap_faults_during_unbind)
{
	struct faulter f = { };
	pthread_t t, maps;
	long long start;

	if (map_skip(variant->lacks, variant->fenced))
		SKIP(return, "%s", map_skip(variant->lacks, variant->fenced));
	f.map = map_dev(self->fd, true);
	ASSERT_NE(MAP_FAILED, f.map) TH_LOG("mmap: %s", strerror(errno));
	ASSERT_EQ(0, pthread_create(&t, NULL, fault_loop, &f));
	ASSERT_EQ(0, pthread_create(&maps, NULL, maps_loop, &f));
	start = now_ms();
	while (!atomic_load(&f.faults) && now_ms() - start < 5000)
		sleep_ms(10);
	ASSERT_EQ(0, unbind_dev(variant->id));
	/* The faulter ends at its first fault after the unbind. */
	start = now_ms();
	while (!atomic_load(&f.bus) && now_ms() - start < 5000)
		sleep_ms(10);
	atomic_store(&f.stop, true);
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(0, pthread_join(maps, NULL));
	EXPECT_LT(0, atomic_load(&f.faults));
	EXPECT_TRUE(atomic_load(&f.bus))
		TH_LOG("%ld faults, none after the unbind failed", atomic_load(&f.faults));
	EXPECT_EQ(0, munmap(f.map, map_len()));
}

struct in_flight {
	int fd;
	bool fault;		/* a fault, else an mmap() */
	char *map;		/* the mapping, made before or by the thread */
	char v;			/* what the fault read */
	bool bus;
	long long start_ms;	/* taken before the call enters the driver */
};

/* An mmap() or a fault that the driver holds across the unbind. */
static void *in_flight_fn(void *arg)
{
	struct in_flight *t = arg;

	t->start_ms = now_ms();
	if (t->fault)
		t->bus = read_bus(t->map, &t->v);
	else
		t->map = map_dev(t->fd, false);
	return NULL;
}

/*
 * An mmap() and a fault that entered the driver before the unbind
 * complete, and what they installed is gone when the unbind returns.
 */
TEST_F(unbind, mmap_in_flight_at_unbind)
{
	long long unbound_ms;
	__u32 ms = 300;
	struct in_flight t;
	pthread_t th;
	int mode;
	char v;

	if (map_skip(variant->lacks, variant->fenced))
		SKIP(return, "%s", map_skip(variant->lacks, variant->fenced));
	for (mode = 0; mode < 2; mode++) {
		int fd = open(self->node, O_RDWR | O_CLOEXEC);
		int watch = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);

		ASSERT_LE(0, fd);
		ASSERT_LE(0, watch);
		t = (struct in_flight){ .fd = fd, .fault = mode };
		if (t.fault) {
			t.map = map_dev(fd, true);
			ASSERT_NE(MAP_FAILED, t.map);
		}
		drain(watch);
		ASSERT_EQ(0, ioctl(fd, TEST_CHARDEV_IOC_SET_HOLD, &ms));
		ASSERT_EQ(0, pthread_create(&th, NULL, in_flight_fn, &t));
		/* The held mmap() or fault makes the device readable. */
		ASSERT_TRUE(wait_inside(watch));
		ASSERT_EQ(0, unbind_dev(variant->id));
		unbound_ms = now_ms();
		ASSERT_EQ(0, pthread_join(th, NULL));
		/* Each entered the driver first: the unbind waited for it. */
		EXPECT_GE(unbound_ms, t.start_ms + ms);
		/*
		 * The mmap() succeeds. The fault does too, but the load that
		 * took it runs again in user space once it returns, and may
		 * meet the revoke there: only a read page is a verdict, and it
		 * is not the freed one.
		 */
		ASSERT_NE(MAP_FAILED, t.map) TH_LOG("an mmap() that entered first failed");
		EXPECT_TRUE(t.bus || t.v != 'd') TH_LOG("the fault read the freed page");
		/* Nothing it installed survived the unbind. */
		EXPECT_TRUE(read_bus(t.map, &v))
			TH_LOG("%s in flight: the mapping reads '%c' after the unbind",
			       mode ? "a fault" : "an mmap()", v);
		EXPECT_EQ(0, munmap(t.map, map_len()));
		EXPECT_EQ(0, close(fd));
		EXPECT_EQ(0, close(watch));
		ASSERT_EQ(0, bind_dev(variant->id));
	}
}

TEST_F(unbind, mmap_fork_across_unbind)
{
	int go[2], ready[2], status;
	char *m, v;
	pid_t pid;

	if (map_skip(variant->lacks, variant->fenced))
		SKIP(return, "%s", map_skip(variant->lacks, variant->fenced));
	m = map_dev(self->fd, false);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	memset(m, 'p', map_len());
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* The child's copy of the mapping: readable, then SIGBUS. */
		close(go[1]);
		close(ready[0]);
		if (read_bus(m, &v) || v != 'p')
			_exit(2);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &v, 1) != 1)
			_exit(3);
		_exit(read_bus(m + map_len() - 1, &v) ? 0 : 1);
	}
	close(go[0]);
	close(ready[1]);
	/* Unbind only once the child has read its copy. */
	ASSERT_EQ(1, read(ready[0], &v, 1));
	close(ready[0]);
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("the child's mapping outlived the unbind");
	EXPECT_TRUE(read_bus(m, &v));
	EXPECT_EQ(0, munmap(m, map_len()));
}

TEST_F(unbind, mmap_mremap_after_unbind)
{
	char *m, *moved, *target, v;

	if (map_skip(variant->lacks, variant->fenced))
		SKIP(return, "%s", map_skip(variant->lacks, variant->fenced));
	m = map_dev(self->fd, true);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	m[0] = 'p';
	target = mmap(NULL, map_len(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, target);
	ASSERT_EQ(0, unbind_dev(variant->id));
	/* A new mapping of a revoked device fails. */
	EXPECT_EQ(MAP_FAILED, map_dev(self->fd, false));
	EXPECT_EQ(ENODEV, errno);
	/* The old one can move, and still reaches nothing. */
	moved = mremap(m, map_len(), map_len(), MREMAP_MAYMOVE | MREMAP_FIXED, target);
	ASSERT_EQ(target, moved) TH_LOG("mremap: %s", strerror(errno));
	EXPECT_TRUE(read_bus(moved, &v));
	EXPECT_EQ(0, munmap(moved, map_len()));
}

TEST_F(unbind, mmap_after_rebind)
{
	char *m;
	int fd;

	if (map_skip(variant->lacks, variant->fenced))
		SKIP(return, "%s", map_skip(variant->lacks, variant->fenced));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, bind_dev(variant->id));
	fd = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	m = map_dev(fd, false);
	ASSERT_NE(MAP_FAILED, m) TH_LOG("mmap: %s", strerror(errno));
	/* The new device's pages, zeroed, not the old ones. */
	EXPECT_EQ(0, m[0]);
	m[0] = 'p';
	EXPECT_EQ(0, munmap(m, map_len()));
	EXPECT_EQ(0, close(fd));
}

/* The node is announced through its class, with the mode its driver chose. */
TEST_F(unbind, node_class_and_mode)
{
	char path[PATH_MAX], buf[4096], want[NAME_MAX + 16];
	struct stat st;
	ssize_t n;
	int fd;

	if (!variant->class)
		SKIP(return, "the test does not know the node's class");
	ASSERT_EQ(0, stat(self->node, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(variant->mode, st.st_mode & 07777);
	snprintf(path, sizeof(path), "/sys/class/%s/%s/uevent", variant->class, variant->name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "DEVNAME=%s\n", variant->name);
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("%s: %s", path, buf);
	EXPECT_EQ(0, close(fd));
}

/* Opt-in: a legacy device's files call the driver's table directly. */
TEST_F(unbind, legacy_keeps_driver_fops)
{
	if (variant->lacks & LACKS_DRIVER_FOPS)
		SKIP(return, "the driver cannot tell which table a file calls");
	EXPECT_EQ(variant->fenced ? 0 : 1, ioctl(self->fd, TEST_CHARDEV_IOC_DRIVER_FOPS));
}

/*
 * The tests below follow the patterns of real drivers (the test driver's
 * options); they need its ioctls, so they run on its sync devices.
 */
#define NOT_C_SYNC "a pattern of the C test driver's sync devices"

static bool c_sync(bool fenced, const char *driver)
{
	return fenced && !driver;
}

#define NR_OWN_WQ 6

struct epoll_waiter {
	int ep;
	int n;
	struct epoll_event ev[NR_OWN_WQ];
};

static void *epoll_waiter(void *arg)
{
	struct epoll_waiter *e = arg;

	e->n = epoll_wait(e->ep, e->ev, NR_OWN_WQ, 10000);
	return NULL;
}

static void *poll_waiter(void *arg)
{
	struct pollfd *pfd = arg;

	poll(pfd, 1, 10000);
	return NULL;
}

/*
 * Files that poll a wait queue of their own, freed by their ->release()
 * (DRM's drm_file, gpiolib-cdev line requests, a Rust PollCondVar): more
 * files than a fixed table would have, some closed before the unbind, the
 * others in one epoll set and in poll() across it. No poller may stay on a
 * freed queue, and every one must be woken.
 */
TEST_F(unbind, per_file_poll_queues)
{
	struct epoll_waiter e = { };
	struct pollfd pfd = { .events = POLLIN };
	struct epoll_event ev = { .events = EPOLLIN };
	int fds[NR_OWN_WQ];
	pthread_t te, tp;
	int i, fd, n;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	for (i = 0; i < NR_OWN_WQ; i++) {
		struct pollfd p = { .events = POLLIN };

		fd = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, ioctl(fd, TEST_CHARDEV_IOC_OWN_WQ));
		p.fd = fd;
		EXPECT_EQ(0, poll(&p, 1, 10));
		close(fd);
	}

	e.ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, e.ep);
	for (i = 0; i < NR_OWN_WQ; i++) {
		fds[i] = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		ASSERT_LE(0, fds[i]);
		ASSERT_EQ(0, ioctl(fds[i], TEST_CHARDEV_IOC_OWN_WQ));
		ev.data.fd = fds[i];
		ASSERT_EQ(0, epoll_ctl(e.ep, EPOLL_CTL_ADD, fds[i], &ev));
	}
	/* A write wakes every file's own queue. */
	ASSERT_EQ(1, write(fds[0], "x", 1));
	EXPECT_EQ(NR_OWN_WQ, epoll_wait(e.ep, e.ev, NR_OWN_WQ, 2000));
	ASSERT_EQ(1, read(fds[0], &ev, 1));

	ASSERT_EQ(0, pthread_create(&te, NULL, epoll_waiter, &e));
	pfd.fd = fds[1];
	ASSERT_EQ(0, pthread_create(&tp, NULL, poll_waiter, &pfd));
	sleep_ms(200);
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(te, NULL));
	ASSERT_EQ(0, pthread_join(tp, NULL));
	EXPECT_LT(0, e.n) TH_LOG("the epoll waiter was not woken by the unbind");
	EXPECT_EQ(POLLERR | POLLHUP, pfd.revents & (POLLERR | POLLHUP));

	/* Every file of the set now reports the hang-up. */
	n = epoll_wait(e.ep, e.ev, NR_OWN_WQ, 1000);
	EXPECT_EQ(NR_OWN_WQ, n);
	for (i = 0; i < n; i++)
		EXPECT_EQ(EPOLLERR | EPOLLHUP, e.ev[i].events & (EPOLLERR | EPOLLHUP));
	for (i = 0; i < NR_OWN_WQ; i++)
		close(fds[i]);
	close(e.ep);
}

static atomic_int sigio_count;

static void count_sigio(int sig)
{
	sigio_count++;
}

/*
 * A device-wide fasync list (evdev, tty): the unregister drops the entry
 * of a file that is still open, so remove() finds the list empty, and the
 * later close() does not call the driver.
 */
TEST_F(unbind, fasync_dropped_at_unbind)
{
	int fd, i;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	signal(SIGIO, count_sigio);
	sigio_count = 0;
	fd = open(self->node, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fcntl(fd, F_SETOWN, getpid()));
	ASSERT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC));
	ASSERT_EQ(1, write(self->fd, "x", 1));
	for (i = 0; i < 100 && !atomic_load(&sigio_count); i++)
		sleep_ms(10);
	EXPECT_LT(0, atomic_load(&sigio_count)) TH_LOG("no SIGIO from the write");

	ASSERT_EQ(0, unbind_dev(variant->id));
	/* Turning it off after the unbind succeeds, and so does close(). */
	EXPECT_EQ(0, fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_ASYNC));
	EXPECT_EQ(0, close(fd));
	signal(SIGIO, SIG_DFL);
}

/*
 * ->release() touches the device, as most drivers' does: the unregister
 * runs it for the files still open, while the device exists; remove()
 * checks that none is left, and close() after the unbind calls nothing.
 */
TEST_F(unbind, release_before_unbind_returns)
{
	int fds[3], i;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	for (i = 0; i < 3; i++) {
		fds[i] = open(self->node, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fds[i]);
	}
	ASSERT_EQ(0, close(fds[2]));
	ASSERT_EQ(0, unbind_dev(variant->id));
	for (i = 0; i < 2; i++)
		EXPECT_EQ(0, close(fds[i]));
}

/*
 * splice() through copy_splice_read(), which calls ->read_iter() through
 * file->f_op: it works, and fails with ENODEV after the unbind. (Were the
 * helper wrapped too, the fence would be entered twice, which lockdep
 * reports with the rwsem; that it is unwrapped is checked by the KUnit
 * suite.)
 */
TEST_F(unbind, splice_through_f_op)
{
	int p[2];

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(3, write(self->fd, "abc", 3));
	EXPECT_EQ(3, splice(self->fd, NULL, p[1], NULL, 3, SPLICE_F_NONBLOCK));
	ASSERT_EQ(0, unbind_dev(variant->id));
	EXPECT_EQ(-1, splice(self->fd, NULL, p[1], NULL, 3, SPLICE_F_NONBLOCK));
	EXPECT_EQ(ENODEV, errno);
	close(p[0]);
	close(p[1]);
}

struct nested_op {
	int fd;
	__u32 ms;
	long ret;
	int err;
};

static void *nested_ioctl(void *arg)
{
	struct nested_op *n = arg;

	n->ret = ioctl(n->fd, TEST_CHARDEV_IOC_NESTED, &n->ms);
	n->err = errno;
	return NULL;
}

/*
 * An operation that calls the driver again through file->f_op, as
 * compat_ptr_ioctl() does, with an unbind queued between the outer and the
 * inner entry: the inner call must fail with ENODEV, not queue behind the
 * unbind that waits for the outer one.
 */
TEST_F(unbind, nested_call_across_unbind)
{
	struct nested_op n = { .fd = self->fd, .ms = 0 };
	pthread_t t;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	nested_ioctl(&n);
	EXPECT_EQ(0, n.ret) TH_LOG("nested ioctl: %s", strerror(n.err));

	/* The outer call waits inside until the unbind's cancel. */
	n.ms = 20000;
	drain(self->fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, nested_ioctl, &n));
	ASSERT_TRUE(wait_inside(self->fd));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t, NULL));
	/* 1: the inner call was refused, and the outer one was not. */
	EXPECT_EQ(1, n.ret) TH_LOG("nested ioctl: %ld, %s", n.ret, strerror(n.err));
}

static void *close_fd(void *arg)
{
	close(*(int *)arg);
	return NULL;
}

/*
 * Closes racing the unregister's teardown: a file whose ->release() is
 * still running (it sleeps) when the unbind starts, and a file the
 * unregister tears down while another thread closes it. Each is released
 * once, before the unbind returns; remove() checks that none is left.
 */
TEST_F(unbind, close_racing_teardown)
{
	__u32 ms = 300;
	int early, late;
	pthread_t t1, t2;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	early = open(self->node, O_RDWR | O_CLOEXEC);
	late = open(self->node, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, early);
	ASSERT_LE(0, late);
	ASSERT_EQ(0, ioctl(early, TEST_CHARDEV_IOC_SET_HOLD, &ms));
	ASSERT_EQ(0, ioctl(late, TEST_CHARDEV_IOC_SET_HOLD, &ms));
	ASSERT_EQ(0, pthread_create(&t1, NULL, close_fd, &early));
	sleep_ms(100);
	ASSERT_EQ(0, pthread_create(&t2, NULL, close_fd, &late));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t1, NULL));
	ASSERT_EQ(0, pthread_join(t2, NULL));
}

static void *wait_cancel(void *arg)
{
	struct nested_op *n = arg;

	n->ret = ioctl(n->fd, TEST_CHARDEV_IOC_WAIT_CANCEL);
	n->err = errno;
	return NULL;
}

/* A system call as a 32-bit process makes it, through int $0x80. */
static long int80(long nr, long a, long b, long c)
{
#ifdef __x86_64__
	long ret;

	asm volatile("int $0x80"
		     : "=a" (ret)
		     : "a" (nr), "b" (a), "c" (b), "d" (c)
		     : "r8", "r9", "r10", "r11", "memory");
	return ret;
#else
	return -EOPNOTSUPP;
#endif
}

#define NR32_GETPID	20
#define NR32_IOCTL	54

static sigjmp_buf int80_env;

static void int80_fault(int sig)
{
	siglongjmp(int80_env, 1);
}

/* Without 32-bit emulation, int $0x80 raises a general protection fault. */
static bool have_int80(void)
{
	struct sigaction sa = { .sa_handler = int80_fault }, old;
	bool ok = false;

	sigaction(SIGSEGV, &sa, &old);
	if (!sigsetjmp(int80_env, 1))
		ok = int80(NR32_GETPID, 0, 0, 0) == getpid();
	sigaction(SIGSEGV, &old, NULL);
	return ok;
}

/*
 * A 32-bit ioctl() reaches the driver through compat_ptr_ioctl(), which
 * calls ->unlocked_ioctl() through file->f_op: it works, and fails with
 * ENODEV after the unbind. (That compat_ptr_ioctl() is installed
 * unwrapped is checked by the KUnit suite.)
 */
TEST_F(unbind, compat_ioctl_through_f_op)
{
	long ret;

	if (!variant->fenced)
		SKIP(return, LEGACY_UAF);
	if (!have_int80())
		SKIP(return, "no 32-bit syscalls: needs CONFIG_IA32_EMULATION on x86_64");
	ret = int80(NR32_IOCTL, self->fd, TEST_CHARDEV_IOC_NOP, 0);
	EXPECT_EQ(0, ret) TH_LOG("32-bit ioctl: %s", strerror(-ret));
	ASSERT_EQ(0, unbind_dev(variant->id));
	EXPECT_EQ(-ENODEV, int80(NR32_IOCTL, self->fd, TEST_CHARDEV_IOC_NOP, 0));
}

/*
 * A sleep that misses the first wake-up of the cancel callback (a mutex, a
 * completion): the unregister calls cancel again while operations remain.
 */
TEST_F(unbind, cancel_called_again)
{
	struct nested_op n = { .fd = self->fd };
	pthread_t t;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	drain(self->fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, wait_cancel, &n));
	ASSERT_TRUE(wait_inside(self->fd));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, n.ret) TH_LOG("wait_cancel: %s", strerror(n.err));
}

/* An unregister still waiting after ten seconds says so, once. */
TEST_F(unbind, stalled_unbind_reported)
{
	struct held_op h = { .fd = self->fd, .ms = 13000 };
	struct kmsg_watch w;
	char rec[8192];
	int said = 0;
	pthread_t t;

	if (!c_sync(variant->fenced, variant->driver))
		SKIP(return, NOT_C_SYNC);
	/* 13 s each: one rwsem and one SRCU device suffice. */
	if (variant->id != 1 && variant->id != 4)
		SKIP(return, "13 s: run on one rwsem and one SRCU device");
	kmsg_watch_start(&w);
	ASSERT_LE(0, w.fd);
	drain(self->fd);
	ASSERT_EQ(0, pthread_create(&t, NULL, held_ioctl, &h));
	ASSERT_TRUE(wait_inside(self->fd));
	ASSERT_EQ(0, unbind_dev(variant->id));
	ASSERT_EQ(0, pthread_join(t, NULL));
	while (kmsg_watch_next(&w, rec, sizeof(rec)))
		if (strstr(rec, "for file operations to finish") && strstr(rec, "unbind_test"))
			said++;
	close(w.fd);
	EXPECT_EQ(0, h.ret) TH_LOG("held ioctl: %s", strerror(h.err));
	EXPECT_EQ(1, said) TH_LOG("the stalled unregister was reported %d times", said);
}

/*
 * Adding a sync cdev fails in device_add() after cdev_add() succeeded; the
 * driver undoes it with cdev_put_sync() alone, and the next probe works.
 */
TEST(failed_cdev_add_undone)
{
	struct kmsg_watch w;
	char line[8192];
	int id, fd;

	if (access(TEST_CHARDEV_FAIL_ADD, F_OK))
		SKIP(return, "no test_chardev driver: needs CONFIG_TEST_CHARDEV");
	if (negative_control())
		SKIP(return, "not a test of the legacy path");
	kmsg_watch_start(&w);
	for (id = 3; id <= 4; id++) {
		if (is_bound(id))
			ASSERT_EQ(0, unbind_dev(id));
		ASSERT_EQ(0, sysfs_write(TEST_CHARDEV_FAIL_ADD, "Y"));
		driver_write("bind", id);	/* the probe fails */
		EXPECT_FALSE(is_bound(id));
		ASSERT_EQ(0, bind_dev(id));
		fd = open(id == 3 ? "/dev/test_chardev_sync_cdev" :
			  "/dev/test_chardev_sync_cdev_srcu", O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		EXPECT_EQ(0, ioctl(fd, TEST_CHARDEV_IOC_NOP));
		close(fd);
	}
	EXPECT_FALSE(kmsg_watch_report(&w, line, sizeof(line)))
		TH_LOG("kernel log: %s", line);
}

TEST_HARNESS_MAIN
