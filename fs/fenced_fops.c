// SPDX-License-Identifier: GPL-2.0
/*
 * Fenced file operations for the synchronous unregistration of char and
 * misc devices.
 *
 * A device registered in sync mode gets a shim file_operations table: every
 * operation the driver implements is replaced by a wrapper that enters a
 * read-side fence, checks that the device is not revoked, calls the
 * driver's operation and leaves the fence. The synchronous unregister
 * revokes the device: it sets ->revoked so that no new operation starts,
 * lets the driver wake its sleepers, then waits until no operation runs
 * (rwsem: takes the write side; SRCU: waits for a grace period). After
 * that, the driver is never called again through files of the device,
 * except for ->release(), which runs once for every successful open.
 *
 * Lifetime: the fence is reference counted. The registration holds one
 * reference and every open file holds one, so the shim outlives both the
 * driver's own structures and the unregister. Files reach the fence through
 * file->f_op (the shim table is embedded in it). Since __fput() calls
 * fops_put(file->f_op) after ->release(), the release wrapper points
 * file->f_op back at the driver's table (same owner, so module references
 * balance as they do today) before it drops the file's reference.
 *
 * Poll: a poller sleeps on the wait queues the driver passes to
 * poll_wait(), which usually live in driver memory that is freed right
 * after the unregister, while poll() or epoll may still hold entries on
 * them. So pollers never wait on driver wait queues directly: the fence
 * hooks a relay entry onto each driver wait queue that forwards wake-ups to
 * the fence's own poll wait queue, which is where pollers sleep. The
 * unregister unhooks the relays, while the driver's queues are still
 * alive, and wakes the pollers with EPOLLERR | EPOLLHUP.
 *
 * State: live -> revoked (fenced_fops_revoke(), once) -> freed (last
 * reference). ->revoked only ever goes from false to true.
 */

#include <linux/cleanup.h>
#include <linux/export.h>
#include <linux/fenced_fops.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/lockdep.h>
#include <linux/poll.h>
#include <linux/printk.h>
#include <linux/rwsem.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/wait.h>

/* The driver wait queues one fenced device can pass to poll_wait(). */
#define FENCED_FOPS_POLL_QUEUES	4

struct fenced_fops_relay {
	wait_queue_entry_t wait;	/* on the driver's wait queue */
	wait_queue_head_t *head;	/* the driver's wait queue, or NULL */
	struct fenced_fops *fence;
};

struct fenced_fops {
	const struct file_operations shim;	/* what files of the device use */
	const struct file_operations *fops;	/* the driver's */
	struct kref ref;
	enum fenced_fops_type type;
	bool revoked;
	union {
		struct rw_semaphore rwsem;
		struct srcu_struct srcu;
	};
	/*
	 * A lockdep class per fence: an operation of one fenced device may
	 * unregister another one; unregistering the device itself from one of
	 * its operations is the deadlock lockdep must report.
	 */
	struct lock_class_key key;
	void (*cancel)(void *cancel_data);
	void *cancel_data;
	void *private_data;			/* for file->private_data, or NULL */
	wait_queue_head_t poll_wq;		/* pollers sleep here */
	spinlock_t relay_lock;			/* protects relays[].head */
	struct fenced_fops_relay relays[FENCED_FOPS_POLL_QUEUES];
};

static int fence_release(struct inode *inode, struct file *file);

/**
 * fenced_fops_from_fops() - the fence of a shim file_operations table
 * @fops: a file_operations table
 *
 * Return: the fence whose shim @fops is, or NULL if @fops is not a shim.
 */
struct fenced_fops *fenced_fops_from_fops(const struct file_operations *fops)
{
	if (!fops || fops->release != fence_release)
		return NULL;
	return container_of(fops, struct fenced_fops, shim);
}
EXPORT_SYMBOL_GPL(fenced_fops_from_fops);

static struct fenced_fops *file_fence(const struct file *file)
{
	return container_of(file->f_op, struct fenced_fops, shim);
}

/*
 * Enters the read side; false (and nothing held) once the device is
 * revoked. Checking ->revoked before taking the rwsem keeps callers from
 * queueing behind an unregister that waits for a slow operation.
 *
 * Inlined into every wrapper, as is fence_exit(): out of line, the calls
 * and the registers they save cost a third of what a fenced operation adds
 * (measured by tools/testing/selftests/chardev/fence_bench.c).
 */
static __always_inline bool fence_enter(struct fenced_fops *f, int *idx)
{
	if (unlikely(READ_ONCE(f->revoked)))
		return false;
	if (f->type == FENCED_FOPS_SRCU)
		*idx = srcu_read_lock(&f->srcu);
	else
		down_read(&f->rwsem);
	if (likely(!READ_ONCE(f->revoked)))
		return true;
	if (f->type == FENCED_FOPS_SRCU)
		srcu_read_unlock(&f->srcu, *idx);
	else
		up_read(&f->rwsem);
	return false;
}

static __always_inline void fence_exit(struct fenced_fops *f, int idx)
{
	if (f->type == FENCED_FOPS_SRCU)
		srcu_read_unlock(&f->srcu, idx);
	else
		up_read(&f->rwsem);
}

/*
 * The body of every wrapper: enter the fence or fail with -ENODEV, run
 * @call, leave the fence. @call reaches the driver's table as @drv.
 */
#define FENCED(file, type, call) ({					\
	struct fenced_fops *__f = file_fence(file);			\
	const struct file_operations *drv = __f->fops;			\
	type __ret = (type)-ENODEV;					\
	int __idx;							\
									\
	if (fence_enter(__f, &__idx)) {					\
		__ret = (call);						\
		fence_exit(__f, __idx);					\
	}								\
	__ret;								\
})

static loff_t fence_llseek(struct file *file, loff_t offset, int whence)
{
	return FENCED(file, loff_t, drv->llseek(file, offset, whence));
}

static ssize_t fence_read(struct file *file, char __user *buf, size_t len,
			  loff_t *ppos)
{
	return FENCED(file, ssize_t, drv->read(file, buf, len, ppos));
}

static ssize_t fence_write(struct file *file, const char __user *buf,
			   size_t len, loff_t *ppos)
{
	return FENCED(file, ssize_t, drv->write(file, buf, len, ppos));
}

static ssize_t fence_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	return FENCED(iocb->ki_filp, ssize_t, drv->read_iter(iocb, to));
}

static ssize_t fence_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	return FENCED(iocb->ki_filp, ssize_t, drv->write_iter(iocb, from));
}

static long fence_unlocked_ioctl(struct file *file, unsigned int cmd,
				 unsigned long arg)
{
	return FENCED(file, long, drv->unlocked_ioctl(file, cmd, arg));
}

static long fence_compat_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	return FENCED(file, long, drv->compat_ioctl(file, cmd, arg));
}

static int fence_flush(struct file *file, fl_owner_t id)
{
	return FENCED(file, int, drv->flush(file, id));
}

static int fence_fsync(struct file *file, loff_t start, loff_t end,
		       int datasync)
{
	return FENCED(file, int, drv->fsync(file, start, end, datasync));
}

static int fence_fasync(int fd, struct file *file, int on)
{
	return FENCED(file, int, drv->fasync(fd, file, on));
}

static int fence_lock(struct file *file, int cmd, struct file_lock *fl)
{
	return FENCED(file, int, drv->lock(file, cmd, fl));
}

static int fence_flock(struct file *file, int cmd, struct file_lock *fl)
{
	return FENCED(file, int, drv->flock(file, cmd, fl));
}

static ssize_t fence_splice_read(struct file *in, loff_t *ppos,
				 struct pipe_inode_info *pipe, size_t len,
				 unsigned int flags)
{
	return FENCED(in, ssize_t, drv->splice_read(in, ppos, pipe, len, flags));
}

static ssize_t fence_splice_write(struct pipe_inode_info *pipe,
				  struct file *out, loff_t *ppos, size_t len,
				  unsigned int flags)
{
	return FENCED(out, ssize_t, drv->splice_write(pipe, out, ppos, len, flags));
}

static long fence_fallocate(struct file *file, int mode, loff_t offset,
			    loff_t len)
{
	return FENCED(file, long, drv->fallocate(file, mode, offset, len));
}

static void fence_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	int idx;

	if (!fence_enter(f, &idx))
		return;
	f->fops->show_fdinfo(m, file);
	fence_exit(f, idx);
}

/* Forwards a wake-up of a driver wait queue to the fence's pollers. */
static int fence_relay_wake(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct fenced_fops_relay *r = container_of(wait, struct fenced_fops_relay, wait);

	__wake_up(&r->fence->poll_wq, mode, 0, key);
	return 0;
}

/* Makes sure a relay forwards wake-ups of @head; false if none is free. */
static bool fence_relay(struct fenced_fops *f, wait_queue_head_t *head)
{
	struct fenced_fops_relay *free = NULL;
	int i;

	guard(spinlock)(&f->relay_lock);
	for (i = 0; i < FENCED_FOPS_POLL_QUEUES; i++) {
		if (f->relays[i].head == head)
			return true;
		if (!f->relays[i].head && !free)
			free = &f->relays[i];
	}
	if (!free)
		return false;
	free->head = head;
	add_wait_queue(head, &free->wait);
	return true;
}

/* Removes the relays; the driver's wait queues are still alive. */
static void fence_unrelay(struct fenced_fops *f)
{
	int i;

	guard(spinlock)(&f->relay_lock);
	for (i = 0; i < FENCED_FOPS_POLL_QUEUES; i++) {
		if (f->relays[i].head) {
			remove_wait_queue(f->relays[i].head, &f->relays[i].wait);
			f->relays[i].head = NULL;
		}
	}
}

struct fence_poll_table {
	poll_table pt;
	poll_table *orig;
	struct fenced_fops *fence;
};

/* poll_wait() of the driver: the poller waits on the fence's queue. */
static void fence_queue_proc(struct file *file, wait_queue_head_t *head,
			     poll_table *pt)
{
	struct fence_poll_table *fpt = container_of(pt, struct fence_poll_table, pt);
	struct fenced_fops *f = fpt->fence;

	if (WARN_ONCE(!fence_relay(f, head),
		      "%ps: more than %d poll wait queues, not fenced\n",
		      f->fops, FENCED_FOPS_POLL_QUEUES)) {
		fpt->orig->_qproc(file, head, fpt->orig);
		return;
	}
	fpt->orig->_qproc(file, &f->poll_wq, fpt->orig);
}

static __poll_t fence_poll(struct file *file, poll_table *pt)
{
	struct fenced_fops *f = file_fence(file);
	struct fence_poll_table fpt;
	__poll_t mask;
	int idx;

	/* A mask, never an errno: the device is gone for good. */
	if (!fence_enter(f, &idx))
		return EPOLLERR | EPOLLHUP;
	if (pt && pt->_qproc) {
		init_poll_funcptr(&fpt.pt, fence_queue_proc);
		fpt.pt._key = pt->_key;
		fpt.orig = pt;
		fpt.fence = f;
		pt = &fpt.pt;
	}
	mask = f->fops->poll(file, pt);
	fence_exit(f, idx);
	return mask;
}

static int fence_open(struct inode *inode, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	int ret = 0;
	int idx;

	if (!fence_enter(f, &idx)) {
		ret = -ENODEV;
		goto out;
	}
	if (f->private_data)
		file->private_data = f->private_data;
	if (f->fops->open)
		ret = f->fops->open(inode, file);
	if (!ret && !WARN_ONCE(file->f_op != &f->shim,
			       "%ps: ->open() replaced the fenced fops\n", f->fops))
		kref_get(&f->ref);	/* the file's, put in fence_release() */
	fence_exit(f, idx);
out:
	/*
	 * The caller's fops_put(file->f_op) after a failed open must not
	 * depend on the fence: the driver's table has the same owner.
	 */
	if (ret)
		file->f_op = f->fops;
	return ret;
}

static void fence_free(struct kref *ref)
{
	struct fenced_fops *f = container_of(ref, struct fenced_fops, ref);

	if (f->type == FENCED_FOPS_SRCU)
		cleanup_srcu_struct(&f->srcu);
	lockdep_unregister_key(&f->key);
	kfree(f);
}

/**
 * fenced_fops_put() - drop a reference to a fence
 * @fence: the fence, or NULL
 *
 * Context: process context; the last reference frees the fence.
 */
void fenced_fops_put(struct fenced_fops *fence)
{
	if (fence)
		kref_put(&fence->ref, fence_free);
}
EXPORT_SYMBOL_GPL(fenced_fops_put);

static int fence_release(struct inode *inode, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	bool fenced;
	int ret = 0;
	int idx;

	/*
	 * Unconditionally: ->release() runs once for every successful open,
	 * also after the device was revoked. Until then it runs inside the
	 * fence, so an unregister waits for it; afterwards the driver's state
	 * may be gone and ->release() must only free per-file memory (it can
	 * tell with fenced_fops_revoked()).
	 */
	fenced = fence_enter(f, &idx);
	if (f->fops->release)
		ret = f->fops->release(inode, file);
	if (fenced)
		fence_exit(f, idx);
	/* __fput() calls fops_put(file->f_op) after us: same owner. */
	file->f_op = f->fops;
	fenced_fops_put(f);
	return ret;
}

/**
 * fenced_fops_revoked() - whether a fenced device was unregistered
 * @file: a file of a device registered in sync mode
 *
 * For the wait conditions of a driver's sleeping file operations (woken
 * by the &fenced_fops_options.cancel callback), and for a ->release() that
 * wants to touch device state.
 *
 * Return: true once the synchronous unregister of the device has started.
 */
bool fenced_fops_revoked(const struct file *file)
{
	if (WARN_ON_ONCE(!fenced_fops_from_fops(file->f_op)))
		return false;
	return READ_ONCE(file_fence(file)->revoked);
}
EXPORT_SYMBOL_GPL(fenced_fops_revoked);

/**
 * fenced_fops_private() - the private data of a fenced device
 * @file: a file of a device registered in sync mode
 *
 * Returns the @private_data given to fenced_fops_create() (through
 * cdev_alloc_sync()): how a file operation finds its device once ->open()
 * has replaced file->private_data with per-file state, as container_of()
 * on inode->i_cdev cannot for a cdev that the core allocated.
 *
 * Context: inside a file operation of @file that the fence admitted, where
 *	the device cannot go away.
 * Return: the private data, NULL if none was given.
 */
void *fenced_fops_private(const struct file *file)
{
	if (WARN_ON_ONCE(!fenced_fops_from_fops(file->f_op)))
		return NULL;
	return file_fence(file)->private_data;
}
EXPORT_SYMBOL_GPL(fenced_fops_private);

/*
 * Names an operation of @fops that the shim cannot fence, or NULL. Mapped
 * memory outlives any fence, and the others bypass the file or run
 * asynchronously to the call.
 */
static const char *fence_unsupported(const struct file_operations *fops)
{
	if (fops->mmap)
		return "mmap";
	if (fops->mmap_prepare)
		return "mmap_prepare";
	if (fops->get_unmapped_area)
		return "get_unmapped_area";
	if (fops->iopoll)
		return "iopoll";
	if (fops->iterate_shared)
		return "iterate_shared";
	if (fops->check_flags)
		return "check_flags";
	if (fops->setlease)
		return "setlease";
	if (fops->splice_eof)
		return "splice_eof";
	if (fops->copy_file_range)
		return "copy_file_range";
	if (fops->remap_file_range)
		return "remap_file_range";
	if (fops->fadvise)
		return "fadvise";
	if (fops->uring_cmd)
		return "uring_cmd";
	if (fops->uring_cmd_iopoll)
		return "uring_cmd_iopoll";
	return NULL;
}

/**
 * fenced_fops_create() - make a fence and its shim for a driver's fops
 * @fops: the driver's file operations
 * @private_data: if not NULL, stored in file->private_data before the
 *	driver's ->open() is called
 * @opts: the fence type and cancel callback, or NULL for an rwsem fence
 *	without one
 *
 * The shim implements exactly the operations @fops implements, each fenced,
 * plus open and release. Operations the fence cannot cover (mmap, io_uring
 * commands, ...) make the registration fail.
 *
 * Context: process context.
 * Return: the fence with one reference (the registration's), or an
 * ERR_PTR(): -EOPNOTSUPP for an operation that cannot be fenced, -ENOMEM.
 */
struct fenced_fops *fenced_fops_create(const struct file_operations *fops,
				       void *private_data,
				       const struct fenced_fops_options *opts)
{
	const struct file_operations shim = {
		.owner		= fops->owner,
		.fop_flags	= fops->fop_flags,
		.open		= fence_open,
		.release	= fence_release,
		.llseek		= fops->llseek ? fence_llseek : NULL,
		.read		= fops->read ? fence_read : NULL,
		.write		= fops->write ? fence_write : NULL,
		.read_iter	= fops->read_iter ? fence_read_iter : NULL,
		.write_iter	= fops->write_iter ? fence_write_iter : NULL,
		.poll		= fops->poll ? fence_poll : NULL,
		.unlocked_ioctl	= fops->unlocked_ioctl ? fence_unlocked_ioctl : NULL,
		.compat_ioctl	= fops->compat_ioctl ? fence_compat_ioctl : NULL,
		.flush		= fops->flush ? fence_flush : NULL,
		.fsync		= fops->fsync ? fence_fsync : NULL,
		.fasync		= fops->fasync ? fence_fasync : NULL,
		.lock		= fops->lock ? fence_lock : NULL,
		.flock		= fops->flock ? fence_flock : NULL,
		.splice_read	= fops->splice_read ? fence_splice_read : NULL,
		.splice_write	= fops->splice_write ? fence_splice_write : NULL,
		.fallocate	= fops->fallocate ? fence_fallocate : NULL,
		.show_fdinfo	= fops->show_fdinfo ? fence_show_fdinfo : NULL,
	};
	const char *op = fence_unsupported(fops);
	struct fenced_fops *f;
	int i;

	if (op) {
		pr_err("%ps: ->%s() cannot be fenced; register without sync\n",
		       fops, op);
		return ERR_PTR(-EOPNOTSUPP);
	}
	f = kzalloc_obj(*f);
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->fops = fops;
	f->private_data = private_data;
	kref_init(&f->ref);
	f->type = opts ? opts->type : FENCED_FOPS_RWSEM;
	lockdep_register_key(&f->key);
	if (f->type == FENCED_FOPS_SRCU) {
		if (__init_srcu_struct(&f->srcu, "fenced_fops_srcu", &f->key)) {
			lockdep_unregister_key(&f->key);
			kfree(f);
			return ERR_PTR(-ENOMEM);
		}
	} else {
		__init_rwsem(&f->rwsem, "fenced_fops_rwsem", &f->key);
	}
	if (opts) {
		f->cancel = opts->cancel;
		f->cancel_data = opts->cancel_data;
	}
	init_waitqueue_head(&f->poll_wq);
	spin_lock_init(&f->relay_lock);
	for (i = 0; i < FENCED_FOPS_POLL_QUEUES; i++) {
		init_waitqueue_func_entry(&f->relays[i].wait, fence_relay_wake);
		f->relays[i].fence = f;
	}

	/* The shim is const once made: fill a copy, then put it in place. */
	memcpy((void *)&f->shim, &shim, sizeof(shim));
	return f;
}
EXPORT_SYMBOL_GPL(fenced_fops_create);

/**
 * fenced_fops_shim() - the file operations files of a fenced device use
 * @fence: the fence
 *
 * Return: the shim table, to register in place of the driver's.
 */
const struct file_operations *fenced_fops_shim(struct fenced_fops *fence)
{
	return &fence->shim;
}
EXPORT_SYMBOL_GPL(fenced_fops_shim);

/**
 * fenced_fops_real() - the driver's file operations behind a fence
 * @fence: the fence
 *
 * Return: the table fenced_fops_create() was given.
 */
const struct file_operations *fenced_fops_real(struct fenced_fops *fence)
{
	return fence->fops;
}
EXPORT_SYMBOL_GPL(fenced_fops_real);

/**
 * fenced_fops_revoke() - refuse new file operations and wait for running ones
 * @fence: the fence of a device being unregistered
 *
 * Sets the revoked state, so that every later file operation fails with
 * -ENODEV (poll with EPOLLERR | EPOLLHUP) without reaching the driver; calls
 * the cancel callback so the driver can wake its sleepers; waits until no
 * file operation of the device runs; and detaches the pollers from the
 * driver's wait queues. ->release() still runs for files closed later.
 *
 * Context: process context, may sleep for as long as the slowest running
 * file operation. Calling it from a file operation of the same device
 * deadlocks; lockdep reports it.
 */
void fenced_fops_revoke(struct fenced_fops *fence)
{
	might_sleep();
	if (WARN_ON_ONCE(READ_ONCE(fence->revoked)))
		return;
	WRITE_ONCE(fence->revoked, true);
	if (fence->cancel)
		fence->cancel(fence->cancel_data);
	if (fence->type == FENCED_FOPS_SRCU) {
		synchronize_srcu(&fence->srcu);
	} else {
		down_write(&fence->rwsem);
		up_write(&fence->rwsem);
	}
	fence_unrelay(fence);
	wake_up_poll(&fence->poll_wq, EPOLLERR | EPOLLHUP);
}
EXPORT_SYMBOL_GPL(fenced_fops_revoke);

#ifdef CONFIG_FENCED_FOPS_KUNIT_TEST
#include "tests/fenced_fops_kunit.c"
#endif
