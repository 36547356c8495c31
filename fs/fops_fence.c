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
 * State: live -> revoked (fops_fence_revoke(), once) -> freed (last
 * reference). ->revoked only ever goes from false to true.
 */

#include <linux/cleanup.h>
#include <linux/export.h>
#include <linux/fops_fence.h>
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
#define FOPS_FENCE_POLL_QUEUES	4

struct fops_fence_relay {
	wait_queue_entry_t wait;	/* on the driver's wait queue */
	wait_queue_head_t *head;	/* the driver's wait queue, or NULL */
	struct fops_fence *fence;
};

struct fops_fence {
	struct file_operations shim;		/* what files of the device use */
	const struct file_operations *fops;	/* the driver's */
	struct kref ref;
	enum fops_fence_type type;
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
	struct fops_fence_relay relays[FOPS_FENCE_POLL_QUEUES];
};

static int fence_release(struct inode *inode, struct file *file);

/**
 * fops_fence_from_fops() - the fence of a shim file_operations table
 * @fops: a file_operations table
 *
 * Return: the fence whose shim @fops is, or NULL if @fops is not a shim.
 */
struct fops_fence *fops_fence_from_fops(const struct file_operations *fops)
{
	if (!fops || fops->release != fence_release)
		return NULL;
	return container_of(fops, struct fops_fence, shim);
}
EXPORT_SYMBOL_GPL(fops_fence_from_fops);

static struct fops_fence *file_fence(const struct file *file)
{
	return container_of(file->f_op, struct fops_fence, shim);
}

/*
 * Enters the read side; false (and nothing held) once the device is
 * revoked. Checking ->revoked before taking the rwsem keeps callers from
 * queueing behind an unregister that waits for a slow operation.
 */
static bool fence_enter(struct fops_fence *f, int *idx)
{
	if (unlikely(READ_ONCE(f->revoked)))
		return false;
	if (f->type == FOPS_FENCE_SRCU)
		*idx = srcu_read_lock(&f->srcu);
	else
		down_read(&f->rwsem);
	if (likely(!READ_ONCE(f->revoked)))
		return true;
	if (f->type == FOPS_FENCE_SRCU)
		srcu_read_unlock(&f->srcu, *idx);
	else
		up_read(&f->rwsem);
	return false;
}

static void fence_exit(struct fops_fence *f, int idx)
{
	if (f->type == FOPS_FENCE_SRCU)
		srcu_read_unlock(&f->srcu, idx);
	else
		up_read(&f->rwsem);
}

#define PROTO(args...) args
#define ARGS(args...) args

/*
 * One wrapper per operation: enter the fence or fail with -ENODEV, call
 * the driver, leave the fence.
 */
#define FENCE_FUNC(name, ret_type, filp, proto, args)			\
static ret_type fence_ ## name(proto)					\
{									\
	struct fops_fence *f = file_fence(filp);			\
	ret_type ret;							\
	int idx;							\
									\
	if (!fence_enter(f, &idx))					\
		return (ret_type)-ENODEV;				\
	ret = f->fops->name(args);					\
	fence_exit(f, idx);						\
	return ret;							\
}

FENCE_FUNC(llseek, loff_t, file,
	   PROTO(struct file *file, loff_t offset, int whence),
	   ARGS(file, offset, whence));
FENCE_FUNC(read, ssize_t, file,
	   PROTO(struct file *file, char __user *buf, size_t len, loff_t *ppos),
	   ARGS(file, buf, len, ppos));
FENCE_FUNC(write, ssize_t, file,
	   PROTO(struct file *file, const char __user *buf, size_t len,
		 loff_t *ppos),
	   ARGS(file, buf, len, ppos));
FENCE_FUNC(read_iter, ssize_t, iocb->ki_filp,
	   PROTO(struct kiocb *iocb, struct iov_iter *to), ARGS(iocb, to));
FENCE_FUNC(write_iter, ssize_t, iocb->ki_filp,
	   PROTO(struct kiocb *iocb, struct iov_iter *from), ARGS(iocb, from));
FENCE_FUNC(unlocked_ioctl, long, file,
	   PROTO(struct file *file, unsigned int cmd, unsigned long arg),
	   ARGS(file, cmd, arg));
FENCE_FUNC(compat_ioctl, long, file,
	   PROTO(struct file *file, unsigned int cmd, unsigned long arg),
	   ARGS(file, cmd, arg));
FENCE_FUNC(flush, int, file,
	   PROTO(struct file *file, fl_owner_t id), ARGS(file, id));
FENCE_FUNC(fsync, int, file,
	   PROTO(struct file *file, loff_t start, loff_t end, int datasync),
	   ARGS(file, start, end, datasync));
FENCE_FUNC(fasync, int, file,
	   PROTO(int fd, struct file *file, int on), ARGS(fd, file, on));
FENCE_FUNC(lock, int, file,
	   PROTO(struct file *file, int cmd, struct file_lock *fl),
	   ARGS(file, cmd, fl));
FENCE_FUNC(flock, int, file,
	   PROTO(struct file *file, int cmd, struct file_lock *fl),
	   ARGS(file, cmd, fl));
FENCE_FUNC(get_unmapped_area, unsigned long, file,
	   PROTO(struct file *file, unsigned long addr, unsigned long len,
		 unsigned long pgoff, unsigned long flags),
	   ARGS(file, addr, len, pgoff, flags));
FENCE_FUNC(splice_read, ssize_t, in,
	   PROTO(struct file *in, loff_t *ppos, struct pipe_inode_info *pipe,
		 size_t len, unsigned int flags),
	   ARGS(in, ppos, pipe, len, flags));
FENCE_FUNC(splice_write, ssize_t, out,
	   PROTO(struct pipe_inode_info *pipe, struct file *out, loff_t *ppos,
		 size_t len, unsigned int flags),
	   ARGS(pipe, out, ppos, len, flags));
FENCE_FUNC(fallocate, long, file,
	   PROTO(struct file *file, int mode, loff_t offset, loff_t len),
	   ARGS(file, mode, offset, len));

static void fence_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct fops_fence *f = file_fence(file);
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
	struct fops_fence_relay *r = container_of(wait, struct fops_fence_relay, wait);

	__wake_up(&r->fence->poll_wq, mode, 0, key);
	return 0;
}

/* Makes sure a relay forwards wake-ups of @head; false if none is free. */
static bool fence_relay(struct fops_fence *f, wait_queue_head_t *head)
{
	struct fops_fence_relay *free = NULL;
	int i;

	guard(spinlock)(&f->relay_lock);
	for (i = 0; i < FOPS_FENCE_POLL_QUEUES; i++) {
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
static void fence_unrelay(struct fops_fence *f)
{
	int i;

	guard(spinlock)(&f->relay_lock);
	for (i = 0; i < FOPS_FENCE_POLL_QUEUES; i++) {
		if (f->relays[i].head) {
			remove_wait_queue(f->relays[i].head, &f->relays[i].wait);
			f->relays[i].head = NULL;
		}
	}
}

struct fence_poll_table {
	poll_table pt;
	poll_table *orig;
	struct fops_fence *fence;
};

/* poll_wait() of the driver: the poller waits on the fence's queue. */
static void fence_queue_proc(struct file *file, wait_queue_head_t *head,
			     poll_table *pt)
{
	struct fence_poll_table *fpt = container_of(pt, struct fence_poll_table, pt);
	struct fops_fence *f = fpt->fence;

	if (WARN_ONCE(!fence_relay(f, head),
		      "%ps: more than %d poll wait queues, not fenced\n",
		      f->fops, FOPS_FENCE_POLL_QUEUES)) {
		fpt->orig->_qproc(file, head, fpt->orig);
		return;
	}
	fpt->orig->_qproc(file, &f->poll_wq, fpt->orig);
}

static __poll_t fence_poll(struct file *file, poll_table *pt)
{
	struct fops_fence *f = file_fence(file);
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
	struct fops_fence *f = file_fence(file);
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
	struct fops_fence *f = container_of(ref, struct fops_fence, ref);

	if (f->type == FOPS_FENCE_SRCU)
		cleanup_srcu_struct(&f->srcu);
	lockdep_unregister_key(&f->key);
	kfree(f);
}

/**
 * fops_fence_put() - drop a reference to a fence
 * @fence: the fence, or NULL
 *
 * Context: process context; the last reference frees the fence.
 */
void fops_fence_put(struct fops_fence *fence)
{
	if (fence)
		kref_put(&fence->ref, fence_free);
}
EXPORT_SYMBOL_GPL(fops_fence_put);

static int fence_release(struct inode *inode, struct file *file)
{
	struct fops_fence *f = file_fence(file);
	bool fenced;
	int ret = 0;
	int idx;

	/*
	 * Unconditionally: ->release() runs once for every successful open,
	 * also after the device was revoked. Until then it runs inside the
	 * fence, so an unregister waits for it; afterwards the driver's state
	 * may be gone and ->release() must only free per-file memory (it can
	 * tell with fops_fence_revoked()).
	 */
	fenced = fence_enter(f, &idx);
	if (f->fops->release)
		ret = f->fops->release(inode, file);
	if (fenced)
		fence_exit(f, idx);
	/* __fput() calls fops_put(file->f_op) after us: same owner. */
	file->f_op = f->fops;
	fops_fence_put(f);
	return ret;
}

/**
 * fops_fence_revoked() - whether a fenced device was unregistered
 * @file: a file of a device registered in sync mode
 *
 * For the wait conditions of a driver's sleeping file operations (woken
 * by the &fops_fence_options.cancel callback), and for a ->release() that
 * wants to touch device state.
 *
 * Return: true once the synchronous unregister of the device has started.
 */
bool fops_fence_revoked(const struct file *file)
{
	if (WARN_ON_ONCE(!fops_fence_from_fops(file->f_op)))
		return false;
	return READ_ONCE(file_fence(file)->revoked);
}
EXPORT_SYMBOL_GPL(fops_fence_revoked);

/* What the shim cannot fence: registration fails rather than pass it on. */
#define FENCE_REFUSE(fops, op)						\
	do {								\
		if ((fops)->op) {					\
			pr_err("%ps: cannot fence ->" #op "(), use the plain registration\n", \
			       (fops));					\
			return ERR_PTR(-EOPNOTSUPP);			\
		}							\
	} while (0)

#define FENCE_SET(f, op)						\
	do {								\
		if ((f)->fops->op)					\
			(f)->shim.op = fence_ ## op;			\
	} while (0)

/**
 * fops_fence_create() - make a fence and its shim for a driver's fops
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
struct fops_fence *fops_fence_create(const struct file_operations *fops,
				     void *private_data,
				     const struct fops_fence_options *opts)
{
	struct fops_fence *f;
	int i;

	FENCE_REFUSE(fops, mmap);
	FENCE_REFUSE(fops, mmap_prepare);
	FENCE_REFUSE(fops, iopoll);
	FENCE_REFUSE(fops, iterate_shared);
	FENCE_REFUSE(fops, check_flags);
	FENCE_REFUSE(fops, setlease);
	FENCE_REFUSE(fops, splice_eof);
	FENCE_REFUSE(fops, copy_file_range);
	FENCE_REFUSE(fops, remap_file_range);
	FENCE_REFUSE(fops, fadvise);
	FENCE_REFUSE(fops, uring_cmd);
	FENCE_REFUSE(fops, uring_cmd_iopoll);

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->fops = fops;
	f->private_data = private_data;
	kref_init(&f->ref);
	f->type = opts ? opts->type : FOPS_FENCE_RWSEM;
	lockdep_register_key(&f->key);
	if (f->type == FOPS_FENCE_SRCU) {
		if (__init_srcu_struct(&f->srcu, "fops_fence_srcu", &f->key)) {
			lockdep_unregister_key(&f->key);
			kfree(f);
			return ERR_PTR(-ENOMEM);
		}
	} else {
		__init_rwsem(&f->rwsem, "fops_fence_rwsem", &f->key);
	}
	if (opts) {
		f->cancel = opts->cancel;
		f->cancel_data = opts->cancel_data;
	}
	init_waitqueue_head(&f->poll_wq);
	spin_lock_init(&f->relay_lock);
	for (i = 0; i < FOPS_FENCE_POLL_QUEUES; i++) {
		init_waitqueue_func_entry(&f->relays[i].wait, fence_relay_wake);
		f->relays[i].fence = f;
	}

	f->shim.owner = fops->owner;
	f->shim.fop_flags = fops->fop_flags;
	f->shim.open = fence_open;
	f->shim.release = fence_release;
	FENCE_SET(f, llseek);
	FENCE_SET(f, read);
	FENCE_SET(f, write);
	FENCE_SET(f, read_iter);
	FENCE_SET(f, write_iter);
	FENCE_SET(f, poll);
	FENCE_SET(f, unlocked_ioctl);
	FENCE_SET(f, compat_ioctl);
	FENCE_SET(f, flush);
	FENCE_SET(f, fsync);
	FENCE_SET(f, fasync);
	FENCE_SET(f, lock);
	FENCE_SET(f, flock);
	FENCE_SET(f, get_unmapped_area);
	FENCE_SET(f, splice_read);
	FENCE_SET(f, splice_write);
	FENCE_SET(f, fallocate);
	FENCE_SET(f, show_fdinfo);
	return f;
}
EXPORT_SYMBOL_GPL(fops_fence_create);

/**
 * fops_fence_shim() - the file operations files of a fenced device use
 * @fence: the fence
 *
 * Return: the shim table, to register in place of the driver's.
 */
const struct file_operations *fops_fence_shim(struct fops_fence *fence)
{
	return &fence->shim;
}
EXPORT_SYMBOL_GPL(fops_fence_shim);

/**
 * fops_fence_real() - the driver's file operations behind a fence
 * @fence: the fence
 *
 * Return: the table fops_fence_create() was given.
 */
const struct file_operations *fops_fence_real(struct fops_fence *fence)
{
	return fence->fops;
}
EXPORT_SYMBOL_GPL(fops_fence_real);

/**
 * fops_fence_revoke() - refuse new file operations and wait for running ones
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
void fops_fence_revoke(struct fops_fence *fence)
{
	might_sleep();
	if (WARN_ON_ONCE(READ_ONCE(fence->revoked)))
		return;
	WRITE_ONCE(fence->revoked, true);
	if (fence->cancel)
		fence->cancel(fence->cancel_data);
	if (fence->type == FOPS_FENCE_SRCU) {
		synchronize_srcu(&fence->srcu);
	} else {
		down_write(&fence->rwsem);
		up_write(&fence->rwsem);
	}
	fence_unrelay(fence);
	wake_up_poll(&fence->poll_wq, EPOLLERR | EPOLLHUP);
}
EXPORT_SYMBOL_GPL(fops_fence_revoke);
