// SPDX-License-Identifier: GPL-2.0
/*
 * Exercise the Rust misc device sample (CONFIG_SAMPLE_RUST_MISC_DEVICE)
 * from user space: open, ioctl, write, read back, close.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../kselftest_harness.h"

#define RUST_MISC_DEV_PATH	"/dev/rust-misc-device"
#define RUST_MISC_DEV_HELLO	_IO('|', 0x80)
#define RUST_MISC_DEV_GET_VALUE	_IOR('|', 0x81, int)
#define RUST_MISC_DEV_SET_VALUE	_IOW('|', 0x82, int)

FIXTURE(rust_misc)
{
	int fd;
};

FIXTURE_SETUP(rust_misc)
{
	self->fd = open(RUST_MISC_DEV_PATH, O_RDWR);
	if (self->fd < 0 && errno == ENOENT)
		SKIP(return, RUST_MISC_DEV_PATH " missing: needs CONFIG_SAMPLE_RUST_MISC_DEVICE");
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", RUST_MISC_DEV_PATH, strerror(errno));
}

FIXTURE_TEARDOWN(rust_misc)
{
	if (self->fd >= 0)
		EXPECT_EQ(0, close(self->fd));
}

TEST_F(rust_misc, hello)
{
	ASSERT_EQ(0, ioctl(self->fd, RUST_MISC_DEV_HELLO));
}

TEST_F(rust_misc, unknown_ioctl)
{
	ASSERT_EQ(-1, ioctl(self->fd, _IO('|', 0x8f)));
	ASSERT_EQ(ENOTTY, errno);
}

TEST_F(rust_misc, set_then_get_value)
{
	int in = 42, out = 0;

	ASSERT_EQ(0, ioctl(self->fd, RUST_MISC_DEV_SET_VALUE, &in));
	ASSERT_EQ(0, ioctl(self->fd, RUST_MISC_DEV_GET_VALUE, &out));
	ASSERT_EQ(in, out);
}

TEST_F(rust_misc, value_is_per_open_file)
{
	int in = 7, out = -1, fd2;

	ASSERT_EQ(0, ioctl(self->fd, RUST_MISC_DEV_SET_VALUE, &in));
	fd2 = open(RUST_MISC_DEV_PATH, O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, ioctl(fd2, RUST_MISC_DEV_GET_VALUE, &out));
	EXPECT_EQ(0, out);
	EXPECT_EQ(0, close(fd2));
}

TEST_F(rust_misc, write_then_read_back)
{
	static const char msg[] = "cdev sync";
	char buf[sizeof(msg)] = { 0 };

	ASSERT_EQ(sizeof(msg), write(self->fd, msg, sizeof(msg)));
	ASSERT_EQ(sizeof(msg), read(self->fd, buf, sizeof(buf)));
	ASSERT_EQ(0, memcmp(msg, buf, sizeof(msg)));
	/* The file position is at the end now. */
	ASSERT_EQ(0, read(self->fd, buf, sizeof(buf)));
}

TEST_HARNESS_MAIN
