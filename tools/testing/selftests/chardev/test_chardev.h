/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The user interface of lib/test_chardev.c, kept in step with it.
 */
#ifndef __SELFTESTS_CHARDEV_TEST_CHARDEV_H
#define __SELFTESTS_CHARDEV_TEST_CHARDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define TEST_CHARDEV_DRIVER	"/sys/bus/platform/drivers/test_chardev"
#define TEST_CHARDEV_DEVICE	"test_chardev.%d"

/* Does nothing but touch the device state. */
#define TEST_CHARDEV_IOC_NOP		_IO('C', 0x00)
/* Every later operation on this file sleeps this many ms first. */
#define TEST_CHARDEV_IOC_SET_HOLD	_IOW('C', 0x01, __u32)
/* Sleeps the given ms inside the driver, then touches the device state. */
#define TEST_CHARDEV_IOC_HOLD		_IOW('C', 0x02, __u32)

/* 1 when the file calls the driver's own file_operations directly. */
#define TEST_CHARDEV_IOC_DRIVER_FOPS	_IO('C', 0x03)

/*
 * The index of the minor the file was opened on, among its device's
 * minors: answered by the char device of samples/rust/rust_sync_chardev.rs.
 */
#define TEST_CHARDEV_IOC_MINOR		_IO('C', 0x04)

/* Per file: poll waits on a queue of the file's own, freed with it. */
#define TEST_CHARDEV_IOC_OWN_WQ		_IO('C', 0x05)
/* Sleeps the given ms, then calls the driver again through file->f_op. */
#define TEST_CHARDEV_IOC_NESTED		_IOW('C', 0x06, __u32)
/* Sleeps until the cancel callback was called twice (sync devices). */
#define TEST_CHARDEV_IOC_WAIT_CANCEL	_IO('C', 0x07)

/* Set to Y, makes the next probe of a sync cdev device fail in device_add(). */
#define TEST_CHARDEV_FAIL_ADD	"/sys/module/test_chardev/parameters/fail_add"

/* The size of the device's buffer (its llseek limit). */
#define TEST_CHARDEV_BUF	64

/*
 * mmap(): TEST_CHARDEV_MAP_PAGES pages at offset 0, mapped by PFN, and the
 * same pages at TEST_CHARDEV_MAP_FAULT pages, mapped by ->fault().
 */
#define TEST_CHARDEV_MAP_PAGES	4
#define TEST_CHARDEV_MAP_FAULT	16

#endif
