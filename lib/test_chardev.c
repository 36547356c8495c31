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
 * The file operations follow what real drivers do, so that the fence is
 * tested against them rather than against a driver shaped like it:
 * ->release() touches the device (it unlinks the file from the device's
 * list, as DRM and evdev do), ->flush() too, ->fasync() keeps a device-wide fasync list
 * (evdev, tty), a file may poll a wait queue of its own that ->release()
 * frees with wake_up_pollfree() (DRM's drm_file, gpiolib-cdev line
 * requests, a Rust PollCondVar; every other file frees it plainly),
 * splice reads go through
 * copy_splice_read() and 32-bit ioctls through compat_ptr_ioctl(), both of
 * which come back through file->f_op, an ioctl calls the driver's own table
 * through file->f_op again (nesting), another ignores the first wake-up of
 * the cancel callback, and adding the cdev can be made to fail
 * (the fail_add parameter). The device's buffer of a few pages can be
 * mapped both ways drivers map memory: at offset 0 with remap_pfn_range()
 * in ->mmap() (UIO, most ring buffers), at TEST_CHARDEV_MAP_FAULT pages by
 * a ->fault() that inserts the pages (videobuf2's vmalloc and dma-sg
 * memory); the VMA callbacks touch the device, and remove() poisons and
 * frees the pages. remove() reports what a synchronous unregister left
 * behind: files not released, fasync entries.
 *
 * Used by tools/testing/selftests/chardev/.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/delay.h>
#include <linux/fenced_fops.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/wait.h>

#define DRV_NAME	"test_chardev"

/* The ioctls, duplicated in tools/testing/selftests/chardev/test_chardev.h. */
#define TEST_CHARDEV_IOC_NOP		_IO('C', 0x00)
#define TEST_CHARDEV_IOC_SET_HOLD	_IOW('C', 0x01, __u32)
#define TEST_CHARDEV_IOC_HOLD		_IOW('C', 0x02, __u32)
#define TEST_CHARDEV_IOC_DRIVER_FOPS	_IO('C', 0x03)
#define TEST_CHARDEV_IOC_OWN_WQ		_IO('C', 0x05)
#define TEST_CHARDEV_IOC_NESTED		_IOW('C', 0x06, __u32)
#define TEST_CHARDEV_IOC_WAIT_CANCEL	_IO('C', 0x07)

#define TEST_CHARDEV_MAGIC	0x6364657673796e63UL	/* "cdevsync" */
#define TEST_CHARDEV_DEAD	0x6465616464656164UL	/* "deaddead" */
#define TEST_CHARDEV_BUF	64

/* The mappable pages, and the page offset where ->fault() maps them. */
#define TEST_CHARDEV_MAP_PAGES	4
#define TEST_CHARDEV_MAP_FAULT	16

/* The platform device id: how the device registers its char device. */
enum test_chardev_kind {
	TEST_CHARDEV_LEGACY_MISC,	/* misc_register() */
	TEST_CHARDEV_SYNC_MISC,		/* misc_register_sync(), rwsem */
	TEST_CHARDEV_SYNC_MISC_SRCU,	/* misc_register_sync(), SRCU */
	TEST_CHARDEV_SYNC_CDEV,		/* cdev_alloc_sync(), rwsem */
	TEST_CHARDEV_SYNC_CDEV_SRCU,	/* cdev_alloc_sync(), SRCU */
	TEST_CHARDEV_NR_KINDS,
};

static const char * const test_chardev_names[TEST_CHARDEV_NR_KINDS] = {
	[TEST_CHARDEV_LEGACY_MISC] = "test_chardev_legacy_misc",
	[TEST_CHARDEV_SYNC_MISC] = "test_chardev_sync_misc",
	[TEST_CHARDEV_SYNC_MISC_SRCU] = "test_chardev_sync_misc_srcu",
	[TEST_CHARDEV_SYNC_CDEV] = "test_chardev_sync_cdev",
	[TEST_CHARDEV_SYNC_CDEV_SRCU] = "test_chardev_sync_cdev_srcu",
};

static bool test_chardev_is_sync(int kind)
{
	return kind != TEST_CHARDEV_LEGACY_MISC;
}

static bool test_chardev_is_cdev(int kind)
{
	return kind == TEST_CHARDEV_SYNC_CDEV || kind == TEST_CHARDEV_SYNC_CDEV_SRCU;
}

static bool test_chardev_is_srcu(int kind)
{
	return kind == TEST_CHARDEV_SYNC_MISC_SRCU || kind == TEST_CHARDEV_SYNC_CDEV_SRCU;
}

static dev_t test_chardev_devt;
static const struct class test_chardev_class = {
	.name = "test_chardev",
};

/* Per device: devm-allocated, freed right after remove(). */
struct test_chardev {
	unsigned long magic;
	struct device *dev;
	int kind;
	struct miscdevice misc;		/* the misc kinds */
	struct cdev *cdev;		/* the cdev kinds */
	struct device *cdev_dev;	/* the cdev kinds: the node's device */
	struct mutex lock;		/* protects buf, len and files */
	wait_queue_head_t wq;		/* readers and pollers wait for data */
	char buf[TEST_CHARDEV_BUF];
	size_t len;
	struct list_head files;		/* struct test_chardev_file */
	unsigned int nr_files;
	struct fasync_struct *async;	/* SIGIO on write */
	atomic_t cancels;		/* calls of the cancel callback */
	atomic_t own_wqs;		/* files given their own queue */
	struct page *pages[TEST_CHARDEV_MAP_PAGES];	/* what mmap() maps */
	atomic_t vmas;			/* VMAs the driver was told about */
};

/* Per open file. */
struct test_chardev_file {
	struct test_chardev *tc;
	bool sync;
	bool own_wq;			/* poll waits on wq below */
	bool pollfree;			/* wq goes with wake_up_pollfree() */
	u32 hold_ms;
	struct list_head link;		/* in tc->files */
	wait_queue_head_t wq;		/* the file's own poll queue */
	struct rcu_head rcu;
};

/* Makes the next sync cdev fail in device_add(), for the error path. */
static bool fail_add;
module_param(fail_add, bool, 0600);
MODULE_PARM_DESC(fail_add, "make adding the next sync cdev fail");

/* True once a sync registration was revoked: the sleepers' way out. */
static bool test_chardev_revoked(struct file *file)
{
	struct test_chardev_file *tf = file->private_data;

	return tf->sync && fenced_fops_revoked(file);
}

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
	struct test_chardev *tc;
	struct test_chardev_file *tf;

	/* misc: the miscdevice; cdev: what cdev_alloc_sync() was given. */
	if (imajor(inode) == MISC_MAJOR)
		tc = container_of(file->private_data, struct test_chardev, misc);
	else
		tc = file->private_data;
	tf = kzalloc_obj(*tf);
	if (!tf)
		return -ENOMEM;
	tf->tc = tc;
	tf->sync = test_chardev_is_sync(tc->kind);
	init_waitqueue_head(&tf->wq);
	INIT_LIST_HEAD(&tf->link);
	/*
	 * The legacy device stays safe to close after an unbind, as careful
	 * legacy drivers are: its release must not touch the device.
	 */
	if (tf->sync) {
		guard(mutex)(&tc->lock);
		list_add_tail(&tf->link, &tc->files);
		tc->nr_files++;
	}
	file->private_data = tf;
	return 0;
}

/*
 * Touches the device, as most drivers' ->release() does: a synchronous
 * unregister calls it while the device exists, for every file still open.
 * The file's own poll queue goes with the file; pollers on it are told.
 */
static int test_chardev_release(struct inode *inode, struct file *file)
{
	struct test_chardev_file *tf = file->private_data;
	struct test_chardev *tc = tf->sync ? test_chardev_enter(file, "release") : NULL;

	if (tc) {
		guard(mutex)(&tc->lock);
		list_del(&tf->link);
		tc->nr_files--;
	}
	if (tf->pollfree) {
		wake_up_pollfree(&tf->wq);
		kfree_rcu(tf, rcu);
	} else {
		kfree(tf);
	}
	return 0;
}

/* Called by every close(): after a synchronous unregister, not any more. */
static int test_chardev_flush(struct file *file, fl_owner_t id)
{
	struct test_chardev_file *tf = file->private_data;

	/* The legacy device's close stays safe after an unbind. */
	if (!tf->sync)
		return 0;
	return test_chardev_enter(file, "flush") ? 0 : -EIO;
}

static int test_chardev_fasync(int fd, struct file *file, int on)
{
	struct test_chardev *tc = test_chardev_enter(file, "fasync");

	if (!tc)
		return -EIO;
	return fasync_helper(fd, file, on, &tc->async);
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
		ret = wait_event_interruptible(tc->wq, READ_ONCE(tc->len) ||
					       test_chardev_revoked(file));
		if (ret)
			return ret;
		if (test_chardev_revoked(file))
			return -ENODEV;
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

/* What splice() reaches through copy_splice_read(): never sleeps. */
static ssize_t test_chardev_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct test_chardev *tc = test_chardev_enter(iocb->ki_filp, "read_iter");
	char kbuf[TEST_CHARDEV_BUF];
	size_t n;

	if (!tc)
		return -EIO;
	scoped_guard(mutex, &tc->lock) {
		n = min(iov_iter_count(to), tc->len);
		memcpy(kbuf, tc->buf, n);
		tc->len = 0;
	}
	if (!n)
		return -EAGAIN;
	return copy_to_iter(kbuf, n, to) == n ? n : -EFAULT;
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
		struct test_chardev_file *other;

		memcpy(tc->buf, kbuf, n);
		tc->len = n;
		list_for_each_entry(other, &tc->files, link)
			wake_up_interruptible(&other->wq);
	}
	wake_up_interruptible(&tc->wq);
	kill_fasync(&tc->async, SIGIO, POLL_IN);
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
	struct test_chardev_file *tf = file->private_data;
	struct test_chardev *tc = test_chardev_enter(file, "poll");

	if (!tc)
		return EPOLLERR;
	poll_wait(file, READ_ONCE(tf->own_wq) ? &tf->wq : &tc->wq, wait);
	return EPOLLOUT | EPOLLWRNORM | (READ_ONCE(tc->len) ? EPOLLIN | EPOLLRDNORM : 0);
}

static const struct file_operations test_chardev_fops;

/*
 * Makes the device readable: how a test sees that an operation entered
 * the driver before it unbinds the device.
 */
static void test_chardev_mark_inside(struct test_chardev *tc)
{
	scoped_guard(mutex, &tc->lock) {
		tc->buf[0] = '!';
		tc->len = 1;
	}
	wake_up_all(&tc->wq);
}

static long test_chardev_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct test_chardev_file *tf = file->private_data;
	struct test_chardev *tc;
	long ret;
	u32 ms;

	switch (cmd) {
	case TEST_CHARDEV_IOC_SET_HOLD:
		/* Per file: does not touch the device. */
		return get_user(tf->hold_ms, (u32 __user *)arg);
	case TEST_CHARDEV_IOC_HOLD:
		if (get_user(ms, (u32 __user *)arg))
			return -EFAULT;
		tc = test_chardev_enter(file, "ioctl");
		if (!tc)
			return -EIO;
		test_chardev_mark_inside(tc);
		msleep(ms);
		fallthrough;
	case TEST_CHARDEV_IOC_NOP:
		tc = test_chardev_enter(file, "ioctl");
		return tc ? 0 : -EIO;
	case TEST_CHARDEV_IOC_DRIVER_FOPS:
		/* 1 when the file calls the driver's table directly. */
		return file->f_op == &test_chardev_fops;
	case TEST_CHARDEV_IOC_OWN_WQ:
		/*
		 * Per file: poll waits on the file's own queue from now on.
		 * Every other such file frees it with wake_up_pollfree(), the
		 * others just free it, which is valid: a file is released
		 * only when nothing polls it.
		 */
		tc = test_chardev_enter(file, "ioctl");
		if (!tc)
			return -EIO;
		tf->pollfree = atomic_inc_return(&tc->own_wqs) & 1;
		WRITE_ONCE(tf->own_wq, true);
		return 0;
	case TEST_CHARDEV_IOC_NESTED:
		/*
		 * Calls the driver again through file->f_op after a while, as
		 * compat_ptr_ioctl() and copy_splice_read() do: the fence's
		 * read side is entered twice.
		 */
		if (get_user(ms, (u32 __user *)arg))
			return -EFAULT;
		tc = test_chardev_enter(file, "ioctl");
		if (!tc)
			return -EIO;
		if (ms && tf->sync) {
			/* Inside: readable, until the unbind's cancel. */
			test_chardev_mark_inside(tc);
			wait_event_timeout(tc->wq, fenced_fops_revoked(file),
					   msecs_to_jiffies(ms));
		}
		ret = file->f_op->unlocked_ioctl(file, TEST_CHARDEV_IOC_NOP, 0);
		/* 1: the inner call was refused while the outer one ran. */
		return ret == -ENODEV ? 1 : ret;
	case TEST_CHARDEV_IOC_WAIT_CANCEL:
		/*
		 * A sleep that does not test the revoked predicate: it misses
		 * the first wake-up of the cancel callback, as a mutex or a
		 * completion would, and ends at the second.
		 */
		tc = test_chardev_enter(file, "ioctl");
		if (!tc)
			return -EIO;
		if (!tf->sync)
			return -ENOTTY;
		ms = atomic_read(&tc->cancels);
		test_chardev_mark_inside(tc);
		/* Bounded, so that a kernel without the second call fails. */
		if (!wait_event_timeout(tc->wq, atomic_read(&tc->cancels) >= ms + 2,
					30 * HZ))
			return -ETIMEDOUT;
		return 0;
	default:
		return -ENOTTY;
	}
}

/* The device of a VMA; after remove(), a use-after-free KASAN reports. */
static struct test_chardev *test_chardev_vma(struct vm_area_struct *vma,
					     const char *op)
{
	struct test_chardev *tc = vma->vm_private_data;

	if (READ_ONCE(tc->magic) != TEST_CHARDEV_MAGIC) {
		pr_err("%s on a removed device (magic %#lx)\n", op, READ_ONCE(tc->magic));
		return NULL;
	}
	return tc;
}

static void test_chardev_vm_open(struct vm_area_struct *vma)
{
	struct test_chardev *tc = test_chardev_vma(vma, "vm_open");

	if (tc)
		atomic_inc(&tc->vmas);
}

static void test_chardev_vm_close(struct vm_area_struct *vma)
{
	struct test_chardev *tc = test_chardev_vma(vma, "vm_close");

	if (tc)
		atomic_dec(&tc->vmas);
}

/* The pages at TEST_CHARDEV_MAP_FAULT, inserted one fault at a time. */
static vm_fault_t test_chardev_vm_fault(struct vm_fault *vmf)
{
	struct test_chardev_file *tf = vmf->vma->vm_file->private_data;
	struct test_chardev *tc;
	pgoff_t i = vmf->pgoff - TEST_CHARDEV_MAP_FAULT;

	/*
	 * The file's hold time, to keep a fault in flight across an unbind:
	 * the device is readable while it lasts. Only a sync device's
	 * files hold a fault, so tf->tc is still there.
	 */
	if (tf->hold_ms) {
		test_chardev_mark_inside(tf->tc);
		msleep(tf->hold_ms);
	}
	tc = test_chardev_vma(vmf->vma, "fault");
	if (!tc || vmf->pgoff < TEST_CHARDEV_MAP_FAULT || i >= TEST_CHARDEV_MAP_PAGES)
		return VM_FAULT_SIGBUS;
	vmf->page = tc->pages[i];
	get_page(vmf->page);
	return 0;
}

static const struct vm_operations_struct test_chardev_vm_ops = {
	.open	= test_chardev_vm_open,
	.close	= test_chardev_vm_close,
	.fault	= test_chardev_vm_fault,
};

/*
 * Offset 0: the pages, remapped by PFN right away; TEST_CHARDEV_MAP_FAULT:
 * the same pages, by ->fault().
 */
static int test_chardev_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct test_chardev_file *tf = file->private_data;
	unsigned long pages = vma_pages(vma);
	struct test_chardev *tc;
	unsigned long i;
	int ret;

	/* Held (sync devices only): readable while the hold lasts. */
	if (tf->hold_ms)
		test_chardev_mark_inside(tf->tc);
	tc = test_chardev_enter(file, "mmap");
	if (!tc)
		return -EIO;
	vma->vm_private_data = tc;
	vma->vm_ops = &test_chardev_vm_ops;
	if (vma->vm_pgoff == TEST_CHARDEV_MAP_FAULT && pages <= TEST_CHARDEV_MAP_PAGES) {
		vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
		atomic_inc(&tc->vmas);
		return 0;
	}
	if (vma->vm_pgoff || pages > TEST_CHARDEV_MAP_PAGES)
		return -EINVAL;
	for (i = 0; i < pages; i++) {
		ret = remap_pfn_range(vma, vma->vm_start + i * PAGE_SIZE,
				      page_to_pfn(tc->pages[i]), PAGE_SIZE,
				      vma->vm_page_prot);
		if (ret)
			return ret;
	}
	atomic_inc(&tc->vmas);
	return 0;
}

static const struct file_operations test_chardev_fops = {
	.owner		= THIS_MODULE,
	.open		= test_chardev_open,
	.release	= test_chardev_release,
	.read		= test_chardev_read,
	.read_iter	= test_chardev_read_iter,
	.splice_read	= copy_splice_read,
	.write		= test_chardev_write,
	.poll		= test_chardev_poll,
	.flush		= test_chardev_flush,
	.fasync		= test_chardev_fasync,
	.unlocked_ioctl	= test_chardev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= test_chardev_llseek,
	.mmap		= test_chardev_mmap,
};

/* Wakes the sleepers of a revoked device: blocked readers. */
static void test_chardev_cancel(void *data)
{
	struct test_chardev *tc = data;

	atomic_inc(&tc->cancels);
	wake_up_all(&tc->wq);
}

static struct fenced_fops_options test_chardev_fence(struct test_chardev *tc)
{
	return (struct fenced_fops_options) {
		.type = test_chardev_is_srcu(tc->kind) ? FENCED_FOPS_SRCU : FENCED_FOPS_RWSEM,
		.cancel = test_chardev_cancel,
		.cancel_data = tc,
		.vm_ops = &test_chardev_vm_ops,
	};
}

static void test_chardev_release_dev(struct device *dev)
{
	kfree(dev);
}

static int test_chardev_add_cdev(struct test_chardev *tc)
{
	struct fenced_fops_options opts = test_chardev_fence(tc);
	struct device *cdev_dev;
	int ret;

	tc->cdev = cdev_alloc_sync(&test_chardev_fops, tc, &opts);
	if (IS_ERR(tc->cdev))
		return PTR_ERR(tc->cdev);
	cdev_dev = kzalloc_obj(*cdev_dev);
	if (!cdev_dev) {
		cdev_put_sync(tc->cdev);
		return -ENOMEM;
	}
	device_initialize(cdev_dev);
	cdev_dev->class = &test_chardev_class;
	cdev_dev->parent = tc->dev;
	cdev_dev->devt = test_chardev_devt + tc->kind;
	cdev_dev->release = test_chardev_release_dev;
	/* Without a name, device_add() fails after cdev_add() succeeded. */
	if (!fail_add)
		ret = dev_set_name(cdev_dev, "%s", test_chardev_names[tc->kind]);
	else
		ret = 0;
	fail_add = false;
	if (!ret)
		ret = cdev_device_add(tc->cdev, cdev_dev);
	if (ret) {
		cdev_put_sync(tc->cdev);
		put_device(cdev_dev);
		return ret;
	}
	tc->cdev_dev = cdev_dev;
	return 0;
}

static int test_chardev_alloc_pages(struct test_chardev *tc)
{
	int i;

	for (i = 0; i < TEST_CHARDEV_MAP_PAGES; i++) {
		tc->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!tc->pages[i])
			return -ENOMEM;
	}
	return 0;
}

/*
 * Poisons the pages before it frees them, as the driver's data is gone:
 * a mapping that still reaches them (the legacy device's) reads "dead".
 */
static void test_chardev_free_pages(struct test_chardev *tc)
{
	int i;

	for (i = 0; i < TEST_CHARDEV_MAP_PAGES; i++) {
		if (!tc->pages[i])
			continue;
		memset(page_address(tc->pages[i]), 'd', PAGE_SIZE);
		__free_page(tc->pages[i]);
		tc->pages[i] = NULL;
	}
}

static int test_chardev_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct fenced_fops_options opts;
	struct test_chardev *tc;
	int ret;

	if (pdev->id < 0 || pdev->id >= TEST_CHARDEV_NR_KINDS)
		return -EINVAL;
	tc = devm_kzalloc(dev, sizeof(*tc), GFP_KERNEL);
	if (!tc)
		return -ENOMEM;
	tc->magic = TEST_CHARDEV_MAGIC;
	tc->dev = dev;
	tc->kind = pdev->id;
	mutex_init(&tc->lock);
	init_waitqueue_head(&tc->wq);
	INIT_LIST_HEAD(&tc->files);
	ret = test_chardev_alloc_pages(tc);
	if (ret)
		goto out;
	platform_set_drvdata(pdev, tc);

	if (test_chardev_is_cdev(tc->kind)) {
		ret = test_chardev_add_cdev(tc);
		goto out;
	}

	tc->misc.minor = MISC_DYNAMIC_MINOR;
	tc->misc.name = test_chardev_names[tc->kind];
	tc->misc.fops = &test_chardev_fops;
	tc->misc.parent = dev;
	tc->misc.mode = 0600;
	if (!test_chardev_is_sync(tc->kind)) {
		ret = misc_register(&tc->misc);
		goto out;
	}
	opts = test_chardev_fence(tc);
	ret = misc_register_sync(&tc->misc, &opts);
out:
	if (ret)
		test_chardev_free_pages(tc);
	return ret;
}

static void test_chardev_remove(struct platform_device *pdev)
{
	struct test_chardev *tc = platform_get_drvdata(pdev);

	if (test_chardev_is_cdev(tc->kind)) {
		cdev_device_del_sync(tc->cdev, tc->cdev_dev);
		put_device(tc->cdev_dev);
	} else if (test_chardev_is_sync(tc->kind)) {
		misc_deregister_sync(&tc->misc);
	} else {
		misc_deregister(&tc->misc);
	}
	/* What a synchronous unregister must not leave behind. */
	if (test_chardev_is_sync(tc->kind)) {
		if (tc->nr_files)
			pr_err("%u files not released at remove\n", tc->nr_files);
		if (tc->async)
			pr_err("fasync entries left at remove\n");
	}
	/* No mapping of a sync device reaches the pages any more. */
	test_chardev_free_pages(tc);
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

	ret = alloc_chrdev_region(&test_chardev_devt, 0, TEST_CHARDEV_NR_KINDS, DRV_NAME);
	if (ret)
		return ret;
	ret = class_register(&test_chardev_class);
	if (ret)
		goto err_region;
	ret = platform_driver_register(&test_chardev_driver);
	if (ret)
		goto err_class;
	for (i = 0; i < TEST_CHARDEV_NR_KINDS; i++) {
		test_chardev_pdevs[i] = platform_device_register_simple(DRV_NAME, i, NULL, 0);
		if (IS_ERR(test_chardev_pdevs[i])) {
			ret = PTR_ERR(test_chardev_pdevs[i]);
			test_chardev_unregister_devices();
			platform_driver_unregister(&test_chardev_driver);
			goto err_class;
		}
	}
	return 0;

err_class:
	class_unregister(&test_chardev_class);
err_region:
	unregister_chrdev_region(test_chardev_devt, TEST_CHARDEV_NR_KINDS);
	return ret;
}
module_init(test_chardev_init);

static void __exit test_chardev_exit(void)
{
	test_chardev_unregister_devices();
	platform_driver_unregister(&test_chardev_driver);
	class_unregister(&test_chardev_class);
	unregister_chrdev_region(test_chardev_devt, TEST_CHARDEV_NR_KINDS);
}
module_exit(test_chardev_exit);

MODULE_DESCRIPTION("Test driver for char device lifetimes across driver unbind");
MODULE_LICENSE("GPL");
