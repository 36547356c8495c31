// SPDX-License-Identifier: GPL-2.0
/*
 * The peers of the fence, for `cargo xtask bench`: benchmark tooling, not
 * part of the series. An out-of-tree module built against the benchmark's
 * kernel, loaded in the same guest run as fence_bench, so that the cost of
 * each mechanism the kernel (or a posting) already has to fence a file
 * operation against removal is counted by the same plugin, beside its own
 * unfenced baseline:
 *
 *   misc devices, one no-op ioctl and one empty read each:
 *     fence_peer_plain         nothing (the baseline of the four below)
 *     fence_peer_rwsem         a driver-local rwsem and dead flag, as
 *                              Jason suggested and cros_ec_chardev got
 *     fence_peer_percpu_ref    percpu_ref_tryget_live()/percpu_ref_put(),
 *                              Dan Williams' 2021 queued cdev
 *     fence_peer_global_srcu   one SRCU for all devices and a lookup by
 *                              minor, the shape of misc_sync_register()
 *     fence_peer_srcu_fast     srcu_read_lock_fast() on a per-device SRCU
 *   debugfs, fence_peers/{unsafe,proxied}: the same operations behind
 *     debugfs_create_file_unsafe() (baseline) and debugfs_create_file()
 *     (the full proxy: a reference and a completion per call)
 *   procfs, fence_peer_{permanent,pde}: a proc_ops with
 *     PROC_ENTRY_PERMANENT (baseline) and without (use_pde()/unuse_pde())
 *
 * At load it prints the memory each registration takes; a write to
 * fence_peers/unregister in debugfs revokes each peer and prints how long
 * that took ("fence_peers: ..." lines in the kernel log). The module stays
 * loaded: a module cannot make a permanent /proc entry (the flag is 0 in
 * modules, as such an entry could never be removed), so the permanent
 * baseline sets the flag's bit itself and the entry must never go.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/percpu-refcount.h>
#include <linux/proc_fs.h>
#include <linux/rwsem.h>
#include <linux/srcu.h>
#include <linux/xarray.h>

#define PEER_IOC_NOP	_IO('P', 0x00)

/* What every peer calls: the driver's operation, never inlined. */
static noinline long peer_op(struct file *file, unsigned int cmd)
{
	return cmd == PEER_IOC_NOP ? 0 : -ENOTTY;
}

static noinline ssize_t peer_read_op(struct file *file)
{
	return -EAGAIN;
}

/* The baseline: no fence. */
static long plain_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return peer_op(file, cmd);
}

static ssize_t plain_read(struct file *file, char __user *buf, size_t len,
			  loff_t *pos)
{
	return peer_read_op(file);
}

/* A rwsem and a dead flag in the driver. */
static DECLARE_RWSEM(peer_rwsem);
static bool peer_rwsem_dead;

static long rwsem_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	long ret = -ENODEV;

	down_read(&peer_rwsem);
	if (!peer_rwsem_dead)
		ret = peer_op(file, cmd);
	up_read(&peer_rwsem);
	return ret;
}

static ssize_t rwsem_read(struct file *file, char __user *buf, size_t len,
			  loff_t *pos)
{
	ssize_t ret = -ENODEV;

	down_read(&peer_rwsem);
	if (!peer_rwsem_dead)
		ret = peer_read_op(file);
	up_read(&peer_rwsem);
	return ret;
}

/* A percpu_ref, killed at the unregister. */
static struct percpu_ref peer_ref;
static DECLARE_COMPLETION(peer_ref_done);

static void peer_ref_release(struct percpu_ref *ref)
{
	complete(&peer_ref_done);
}

static long ref_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	long ret;

	if (!percpu_ref_tryget_live(&peer_ref))
		return -ENODEV;
	ret = peer_op(file, cmd);
	percpu_ref_put(&peer_ref);
	return ret;
}

static ssize_t ref_read(struct file *file, char __user *buf, size_t len,
			loff_t *pos)
{
	ssize_t ret;

	if (!percpu_ref_tryget_live(&peer_ref))
		return -ENODEV;
	ret = peer_read_op(file);
	percpu_ref_put(&peer_ref);
	return ret;
}

/* One SRCU for every device, and the device looked up by minor. */
DEFINE_STATIC_SRCU(peer_global_srcu);
static DEFINE_XARRAY(peer_minors);

static long global_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	long ret = -ENODEV;
	int idx;

	idx = srcu_read_lock(&peer_global_srcu);
	if (xa_load(&peer_minors, iminor(file_inode(file))))
		ret = peer_op(file, cmd);
	srcu_read_unlock(&peer_global_srcu, idx);
	return ret;
}

static ssize_t global_read(struct file *file, char __user *buf, size_t len,
			   loff_t *pos)
{
	ssize_t ret = -ENODEV;
	int idx;

	idx = srcu_read_lock(&peer_global_srcu);
	if (xa_load(&peer_minors, iminor(file_inode(file))))
		ret = peer_read_op(file);
	srcu_read_unlock(&peer_global_srcu, idx);
	return ret;
}

/* A per-device SRCU-fast and a dead flag. */
static struct srcu_struct peer_fast_srcu;
static bool peer_fast_dead;

static long fast_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct srcu_ctr __percpu *scp;
	long ret = -ENODEV;

	scp = srcu_read_lock_fast(&peer_fast_srcu);
	if (!READ_ONCE(peer_fast_dead))
		ret = peer_op(file, cmd);
	srcu_read_unlock_fast(&peer_fast_srcu, scp);
	return ret;
}

static ssize_t fast_read(struct file *file, char __user *buf, size_t len,
			 loff_t *pos)
{
	struct srcu_ctr __percpu *scp;
	ssize_t ret = -ENODEV;

	scp = srcu_read_lock_fast(&peer_fast_srcu);
	if (!READ_ONCE(peer_fast_dead))
		ret = peer_read_op(file);
	srcu_read_unlock_fast(&peer_fast_srcu, scp);
	return ret;
}

#define PEER_FOPS(name, ioctl_fn, read_fn)			\
	static const struct file_operations name = {		\
		.owner		= THIS_MODULE,			\
		.open		= nonseekable_open,		\
		.unlocked_ioctl	= ioctl_fn,			\
		.read		= read_fn,			\
	}

PEER_FOPS(plain_fops, plain_ioctl, plain_read);
PEER_FOPS(rwsem_fops, rwsem_ioctl, rwsem_read);
PEER_FOPS(ref_fops, ref_ioctl, ref_read);
PEER_FOPS(global_fops, global_ioctl, global_read);
PEER_FOPS(fast_fops, fast_ioctl, fast_read);

#define PEER_MISC(n, f) \
	{ .minor = MISC_DYNAMIC_MINOR, .name = "fence_peer_" n, .fops = &(f), .mode = 0600 }

static struct miscdevice peer_misc[] = {
	PEER_MISC("plain", plain_fops),
	PEER_MISC("rwsem", rwsem_fops),
	PEER_MISC("percpu_ref", ref_fops),
	PEER_MISC("global_srcu", global_fops),
	PEER_MISC("srcu_fast", fast_fops),
};

/* debugfs and procfs: the same operations behind their own fences. */
static struct dentry *peer_dir;

static long proc_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return peer_op(file, cmd);
}

/*
 * PROC_ENTRY_PERMANENT is 0 in a module: its bit, as include/linux/proc_fs.h
 * defines it for built-in code. Never unload the module, even by force.
 */
static const struct proc_ops peer_proc_permanent = {
	.proc_flags	= 1U << 0,
	.proc_open	= nonseekable_open,
	.proc_read	= plain_read,
	.proc_ioctl	= proc_ioctl,
};

static const struct proc_ops peer_proc_pde = {
	.proc_open	= nonseekable_open,
	.proc_read	= plain_read,
	.proc_ioctl	= proc_ioctl,
};

static struct dentry *peer_proxied;

/* Revokes each peer once, timing what its unregister waits for. */
static void peer_unregister(void)
{
	ktime_t t;

	/* The fence of each, timed: what its unregister waits for. */
	t = ktime_get();
	down_write(&peer_rwsem);
	peer_rwsem_dead = true;
	up_write(&peer_rwsem);
	pr_info("unregister rwsem %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));

	t = ktime_get();
	percpu_ref_kill(&peer_ref);
	wait_for_completion(&peer_ref_done);
	pr_info("unregister percpu_ref %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));

	t = ktime_get();
	xa_erase(&peer_minors, peer_misc[3].minor);
	synchronize_srcu(&peer_global_srcu);
	pr_info("unregister global_srcu %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));

	t = ktime_get();
	WRITE_ONCE(peer_fast_dead, true);
	synchronize_srcu(&peer_fast_srcu);
	pr_info("unregister srcu_fast %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));

	t = ktime_get();
	debugfs_remove(peer_proxied);
	pr_info("unregister debugfs %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));

	t = ktime_get();
	remove_proc_entry("fence_peer_pde", NULL);
	pr_info("unregister procfs %lld ns\n", ktime_to_ns(ktime_sub(ktime_get(), t)));
}

static ssize_t unregister_write(struct file *file, const char __user *buf,
				size_t len, loff_t *pos)
{
	static DEFINE_MUTEX(once_lock);
	static bool done;

	mutex_lock(&once_lock);
	if (!done)
		peer_unregister();
	done = true;
	mutex_unlock(&once_lock);
	return len;
}

static const struct file_operations unregister_fops = {
	.owner	= THIS_MODULE,
	.write	= unregister_write,
};

static int __init fence_peers_init(void)
{
	int i, ret;

	ret = percpu_ref_init(&peer_ref, peer_ref_release, 0, GFP_KERNEL);
	if (ret)
		return ret;
	ret = init_srcu_struct_fast(&peer_fast_srcu);
	if (ret)
		goto err_ref;
	for (i = 0; i < ARRAY_SIZE(peer_misc); i++) {
		ret = misc_register(&peer_misc[i]);
		if (ret)
			goto err_misc;
	}
	ret = xa_err(xa_store(&peer_minors, peer_misc[3].minor, &peer_misc[3], GFP_KERNEL));
	if (ret)
		goto err_misc;
	peer_dir = debugfs_create_dir("fence_peers", NULL);
	debugfs_create_file_unsafe("unsafe", 0600, peer_dir, NULL, &plain_fops);
	peer_proxied = debugfs_create_file("proxied", 0600, peer_dir, NULL, &plain_fops);
	debugfs_create_file_unsafe("unregister", 0200, peer_dir, NULL, &unregister_fops);
	/* The permanent entry last: it can never be removed. */
	ret = -ENOMEM;
	if (!proc_create("fence_peer_pde", 0600, NULL, &peer_proc_pde))
		goto err_debugfs;
	if (!proc_create("fence_peer_permanent", 0600, NULL, &peer_proc_permanent))
		goto err_proc;

	/* Memory per registration, beside the device itself. */
	pr_info("memory rwsem %zu bytes\n", sizeof(struct rw_semaphore) + sizeof(bool));
	pr_info("memory percpu_ref %zu bytes + %zu per CPU x %u CPUs\n",
		sizeof(struct percpu_ref) + sizeof(struct percpu_ref_data),
		sizeof(unsigned long), num_possible_cpus());
	pr_info("memory srcu_fast %zu bytes + %zu per CPU x %u CPUs\n",
		sizeof(struct srcu_struct) + sizeof(struct srcu_usage),
		sizeof(struct srcu_data), num_possible_cpus());
	pr_info("memory global_srcu: an xarray slot (the first dynamic minor, 255 or below, allocates the xarray's nodes; the SRCU is shared)\n");
	pr_info("loaded\n");
	return 0;

err_proc:
	remove_proc_entry("fence_peer_pde", NULL);
err_debugfs:
	debugfs_remove(peer_dir);
	xa_erase(&peer_minors, peer_misc[3].minor);
err_misc:
	while (--i >= 0)
		misc_deregister(&peer_misc[i]);
	cleanup_srcu_struct(&peer_fast_srcu);
err_ref:
	percpu_ref_exit(&peer_ref);
	return ret;
}

/* No module_exit(): the module cannot be unloaded, see above. */
module_init(fence_peers_init);
MODULE_DESCRIPTION("The peers of the fenced fops, for its benchmark");
MODULE_LICENSE("GPL");
