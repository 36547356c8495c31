// SPDX-License-Identifier: GPL-2.0
/*
 * Test driver for char device lifetimes across driver unbind.
 *
 * The module creates one platform device per registration kind and a
 * platform driver bound to them; user space unbinds and rebinds a device
 * through /sys/bus/platform/drivers/test_chardev/{unbind,bind} while it
 * holds files of the device open. The per-device state is devm-allocated,
 * so it is freed when remove() returns: any file operation that reaches the
 * driver afterwards is a use-after-free, which KASAN reports. The state also
 * carries a magic value that remove() overwrites, so that a late access is
 * seen (-EIO and an error message) even without KASAN.
 *
 * Used by tools/testing/selftests/chardev/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#define DRV_NAME	"test_chardev"

/* The ioctls, duplicated in tools/testing/selftests/chardev/test_chardev.h. */
#define TEST_CHARDEV_IOC_NOP		_IO('C', 0x00)
#define TEST_CHARDEV_IOC_SET_HOLD	_IOW('C', 0x01, __u32)
#define TEST_CHARDEV_IOC_HOLD		_IOW('C', 0x02, __u32)

#define TEST_CHARDEV_MAGIC	0x6364657673796e63UL	/* "cdevsync" */
#define TEST_CHARDEV_DEAD	0x6465616464656164UL	/* "deaddead" */
#define TEST_CHARDEV_BUF	64

enum test_chardev_kind {
	TEST_CHARDEV_LEGACY_MISC,
	TEST_CHARDEV_NR_KINDS,
};

static const char * const test_chardev_names[TEST_CHARDEV_NR_KINDS] = {
	[TEST_CHARDEV_LEGACY_MISC] = "test_chardev_legacy_misc",
};

/* Per device: devm-allocated, freed right after remove(). */
struct test_chardev {
	unsigned long magic;
	struct device *dev;
	struct miscdevice misc;
	struct mutex lock;		/* protects buf and len */
	wait_queue_head_t wq;		/* readers and pollers wait for data */
	char buf[TEST_CHARDEV_BUF];
	size_t len;
};

/* Per open file: the only memory ->release() touches. */
struct test_chardev_file {
	struct test_chardev *tc;
	u32 hold_ms;
};

/*
 * Every operation that reaches the driver goes through here: it sleeps for
 * the file's hold time first (to widen a race on purpose), then touches the
 * device state. After remove() that state is freed: KASAN reports the read
 * of ->magic, and the overwritten magic makes the operation fail.
 */
static struct test_chardev *test_chardev_enter(struct file *file, const char *op)
{
	struct test_chardev_file *tf = file->private_data;
	struct test_chardev *tc = tf->tc;

	if (tf->hold_ms)
		msleep(tf->hold_ms);
	if (READ_ONCE(tc->magic) != TEST_CHARDEV_MAGIC) {
		pr_err("%s on a removed device (magic %#lx)\n", op, READ_ONCE(tc->magic));
		return NULL;
	}
	return tc;
}

static int test_chardev_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct test_chardev *tc = container_of(misc, struct test_chardev, misc);
	struct test_chardev_file *tf;

	tf = kzalloc(sizeof(*tf), GFP_KERNEL);
	if (!tf)
		return -ENOMEM;
	tf->tc = tc;
	file->private_data = tf;
	return 0;
}

static int test_chardev_release(struct inode *inode, struct file *file)
{
	/* Only per-file memory: release may run after the device is gone. */
	kfree(file->private_data);
	return 0;
}

static ssize_t test_chardev_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct test_chardev *tc = test_chardev_enter(file, "read");
	char kbuf[TEST_CHARDEV_BUF];
	size_t n;
	int ret;

	if (!tc)
		return -EIO;
	if (!(file->f_flags & O_NONBLOCK)) {
		ret = wait_event_interruptible(tc->wq, READ_ONCE(tc->len));
		if (ret)
			return ret;
	}
	scoped_guard(mutex, &tc->lock) {
		n = min(count, tc->len);
		memcpy(kbuf, tc->buf, n);
		tc->len = 0;
	}
	if (!n)
		return -EAGAIN;
	if (copy_to_user(ubuf, kbuf, n))
		return -EFAULT;
	return n;
}

static ssize_t test_chardev_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct test_chardev *tc = test_chardev_enter(file, "write");
	char kbuf[TEST_CHARDEV_BUF];
	size_t n = min_t(size_t, count, TEST_CHARDEV_BUF);

	if (!tc)
		return -EIO;
	if (copy_from_user(kbuf, ubuf, n))
		return -EFAULT;
	scoped_guard(mutex, &tc->lock) {
		memcpy(tc->buf, kbuf, n);
		tc->len = n;
	}
	wake_up_interruptible(&tc->wq);
	return n;
}

static loff_t test_chardev_llseek(struct file *file, loff_t offset, int whence)
{
	if (!test_chardev_enter(file, "llseek"))
		return -EIO;
	return fixed_size_llseek(file, offset, whence, TEST_CHARDEV_BUF);
}

static __poll_t test_chardev_poll(struct file *file, poll_table *wait)
{
	struct test_chardev *tc = test_chardev_enter(file, "poll");

	if (!tc)
		return EPOLLERR;
	poll_wait(file, &tc->wq, wait);
	return EPOLLOUT | EPOLLWRNORM | (READ_ONCE(tc->len) ? EPOLLIN | EPOLLRDNORM : 0);
}

static long test_chardev_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct test_chardev_file *tf = file->private_data;
	struct test_chardev *tc;
	u32 ms;

	switch (cmd) {
	case TEST_CHARDEV_IOC_SET_HOLD:
		/* Per file: does not touch the device. */
		return get_user(tf->hold_ms, (u32 __user *)arg);
	case TEST_CHARDEV_IOC_HOLD:
		if (get_user(ms, (u32 __user *)arg))
			return -EFAULT;
		if (!test_chardev_enter(file, "ioctl"))
			return -EIO;
		msleep(ms);
		fallthrough;
	case TEST_CHARDEV_IOC_NOP:
		tc = test_chardev_enter(file, "ioctl");
		return tc ? 0 : -EIO;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations test_chardev_fops = {
	.owner		= THIS_MODULE,
	.open		= test_chardev_open,
	.release	= test_chardev_release,
	.read		= test_chardev_read,
	.write		= test_chardev_write,
	.poll		= test_chardev_poll,
	.unlocked_ioctl	= test_chardev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= test_chardev_llseek,
};

static int test_chardev_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct test_chardev *tc;
	int ret;

	if (pdev->id < 0 || pdev->id >= TEST_CHARDEV_NR_KINDS)
		return -EINVAL;
	tc = devm_kzalloc(dev, sizeof(*tc), GFP_KERNEL);
	if (!tc)
		return -ENOMEM;
	tc->magic = TEST_CHARDEV_MAGIC;
	tc->dev = dev;
	mutex_init(&tc->lock);
	init_waitqueue_head(&tc->wq);
	tc->misc.minor = MISC_DYNAMIC_MINOR;
	tc->misc.name = test_chardev_names[pdev->id];
	tc->misc.fops = &test_chardev_fops;
	tc->misc.parent = dev;
	tc->misc.mode = 0600;

	ret = misc_register(&tc->misc);
	if (ret)
		return ret;
	platform_set_drvdata(pdev, tc);
	return 0;
}

static void test_chardev_remove(struct platform_device *pdev)
{
	struct test_chardev *tc = platform_get_drvdata(pdev);

	misc_deregister(&tc->misc);
	/* devres frees tc when this returns; mark it for the non-KASAN check. */
	WRITE_ONCE(tc->magic, TEST_CHARDEV_DEAD);
	mutex_destroy(&tc->lock);
}

static struct platform_driver test_chardev_driver = {
	.probe	= test_chardev_probe,
	.remove	= test_chardev_remove,
	.driver	= {
		.name = DRV_NAME,
	},
};

static struct platform_device *test_chardev_pdevs[TEST_CHARDEV_NR_KINDS];

static void test_chardev_unregister_devices(void)
{
	int i;

	for (i = TEST_CHARDEV_NR_KINDS - 1; i >= 0; i--)
		if (!IS_ERR_OR_NULL(test_chardev_pdevs[i]))
			platform_device_unregister(test_chardev_pdevs[i]);
}

static int __init test_chardev_init(void)
{
	int i, ret;

	ret = platform_driver_register(&test_chardev_driver);
	if (ret)
		return ret;
	for (i = 0; i < TEST_CHARDEV_NR_KINDS; i++) {
		test_chardev_pdevs[i] = platform_device_register_simple(DRV_NAME, i, NULL, 0);
		if (IS_ERR(test_chardev_pdevs[i])) {
			ret = PTR_ERR(test_chardev_pdevs[i]);
			test_chardev_unregister_devices();
			platform_driver_unregister(&test_chardev_driver);
			return ret;
		}
	}
	return 0;
}
module_init(test_chardev_init);

static void __exit test_chardev_exit(void)
{
	test_chardev_unregister_devices();
	platform_driver_unregister(&test_chardev_driver);
}
module_exit(test_chardev_exit);

MODULE_DESCRIPTION("Test driver for char device lifetimes across driver unbind");
MODULE_LICENSE("GPL");
