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
 * lets the driver wake its sleepers, waits until no operation runs (rwsem:
 * takes the write side; SRCU: waits for a grace period), and then tears
 * down every file that is still open, as kernfs drains its open files:
 * ->fasync(-1, file, 0) where the driver holds a fasync entry, then
 * ->release(), while the device still exists. After that the driver is
 * never called again through files of the device; a later close() calls
 * nothing of it.
 *
 * Read side: it nests and never queues behind a pending unregister. The
 * rwsem is taken with down_read_trylock(): the only writer is the
 * unregister, which sets ->revoked first, so a failed trylock means the
 * device is going away. SRCU readers nest by nature. VFS helpers that
 * reach the driver only through file->f_op (compat_ptr_ioctl(),
 * copy_splice_read(), iter_file_splice_write()) are installed unwrapped.
 * Unregistering a device from one of its own operations still deadlocks,
 * and lockdep reports it: trylock readers are held locks like any other.
 *
 * Per open file, a struct fenced_file, found from the file through a
 * hash table (no field in struct file), only on poll, fasync and release:
 * never on read, write or ioctl. It lists the file's poll relays and says
 * whether the driver holds a fasync entry for the file.
 *
 * Poll: pollers never sleep on a driver wait queue. For each queue a file
 * passes to poll_wait(), a relay entry of that file is hooked on the queue
 * and forwards its wake-ups to a wait queue inside the relay, where poll(),
 * select() and epoll wait. The relays of a file are unhooked before the
 * driver's ->release() of that file runs (at close, or by the unregister),
 * so a driver may free per-file and per-device queues in ->release() and
 * after the unregister. A driver queue freed earlier with
 * wake_up_pollfree() unhooks its relays itself, as epoll does.
 *
 * Mappings: a driver with ->mmap() gives its vm_operations_struct at
 * registration, and the fence makes a shim of it, as of the fops: every
 * VMA callback runs inside the fence, and after the revoke calls nothing
 * of the driver (faults get SIGBUS). Files of the device map through an
 * address_space of the fence's own (an inode of a pseudo filesystem, as
 * DRM's anon_inode), and the unregister, once the fence is drained, zaps
 * every user mapping of it with unmap_mapping_range(), as truncate does:
 * later accesses get SIGBUS rather than a zero page, since a driver's
 * buffer read as zeros would be taken for data. An mmap() or a fault that
 * entered the fence before the revoke links its VMA or maps the page the
 * driver gave only after it leaves the fence, under mmap_lock or the VMA's
 * lock: the unregister remembers the mm of every mmap(), finds those of
 * the other VMAs in the mapping, and takes each one's mmap_lock and VMA
 * locks for writing once before it zaps, so that nothing escapes.
 *
 * Sleepers: the cancel callback runs once new operations are refused, and
 * again every second while operations remain; after ten seconds the
 * unregister says once which device and which task it waits for.
 *
 * Lifetime: the fence is reference counted. The registration holds one
 * reference and every open file holds one, so the shim outlives both the
 * driver's own structures and the unregister. Since __fput() calls
 * fops_put(file->f_op) after ->release(), the release wrapper points
 * file->f_op back at the driver's table (same owner, so module references
 * balance as they do today) before it drops the file's reference.
 *
 * Locks: fence->lock (a spinlock) protects the list of open files, the
 * state of each, the relay lists and the list of mms; it is taken before a
 * driver wait queue's lock, never after. The fence's read side is entered
 * before any driver lock an operation takes, and after mmap_lock (or the
 * VMA lock) in ->mmap() and the VMA callbacks; the unregister takes the
 * write side holding no fence lock and no mmap_lock, and takes
 * i_mmap_rwsem, then (not nested) mmap_lock and the VMA locks, only once
 * the fence is drained, holding nothing of the fence: mmap_lock -> fence
 * never inverts.
 *
 * State: live -> revoked (fenced_fops_revoke(), once) -> freed (last
 * reference). ->revoked only ever goes from false to true.
 */

#include <linux/cleanup.h>
#include <linux/export.h>
#include <linux/fdtable.h>
#include <linux/fenced_fops_internal.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kref.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/poll.h>
#include <linux/pseudo_fs.h>
#include <linux/printk.h>
#include <linux/rculist.h>
#include <linux/rhashtable.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/spinlock.h>
#include <linux/splice.h>
#include <linux/srcu.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

/* How often the unregister calls cancel again, and when it says so. */
#define FENCE_RECANCEL_PERIOD	HZ
#define FENCE_STALL_REPORT	10

struct fenced_fops {
	const struct file_operations shim;	/* what files of the device use */
	const struct file_operations *fops;	/* the driver's */
	const struct vm_operations_struct vm_shim; /* what its VMAs use */
	const struct vm_operations_struct *vm_ops; /* the driver's, or NULL */
	struct inode *inode;			/* whose mapping files map, or NULL */
	struct list_head mms;			/* struct fence_mm */
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
	/*
	 * The SRCU read side as lockdep sees it: SRCU-fast readers are
	 * unchecked try-locks, which record no dependency.
	 */
	struct lockdep_map dep_map;
	struct lock_class_key read_key;		/* dep_map's */
	void (*cancel)(void *cancel_data);
	void *cancel_data;
	void *private_data;			/* for file->private_data, or NULL */
	spinlock_t lock;			/* files, states, relays, mms */
	struct list_head files;			/* open, not torn down */
	unsigned int tearing;			/* teardowns running */
	wait_queue_head_t teardown_wq;		/* for tearing and states */
	struct delayed_work recancel;		/* while the unregister waits */
	unsigned int cancels;			/* calls of cancel so far */
	unsigned long revoked_at;		/* jiffies */
	bool stall_reported;
	struct task_struct *unregistering;
};

enum fenced_file_state {
	FENCED_FILE_OPEN,	/* on fence->files */
	FENCED_FILE_TEARING,	/* ->release() running */
	FENCED_FILE_DONE,	/* the driver is done with the file */
};

/*
 * An open file of a fenced device; kept small, as every open file has
 * one: 48 bytes on 64-bit.
 */
struct fenced_file {
	struct rhash_head node;			/* in fenced_files */
	struct file *file;			/* the key */
	union {
		struct list_head link;		/* in fence->files */
		struct rcu_head rcu;		/* freeing */
	};
	struct hlist_head relays;		/* struct fenced_relay */
	u8 state;				/* enum fenced_file_state */
	bool fasync;				/* the driver has an entry */
};

/* A driver wait queue a file polled, and where its pollers sleep. */
struct fenced_relay {
	struct hlist_node link;			/* in fenced_file->relays */
	wait_queue_head_t *head;		/* the driver's, NULL once gone */
	wait_queue_entry_t wait;		/* on *head */
	wait_queue_head_t pollers;		/* poll(), select(), epoll */
};

/* An mm that mmap()ed the device: its mmap() may still be linking a VMA. */
struct fence_mm {
	struct list_head link;			/* in fence->mms */
	struct mm_struct *mm;			/* mmgrab()ed */
};

static const struct rhashtable_params fenced_files_params = {
	.key_len		= sizeof(struct file *),
	.key_offset		= offsetof(struct fenced_file, file),
	.head_offset		= offsetof(struct fenced_file, node),
	.automatic_shrinking	= true,
};

static struct rhashtable fenced_files;

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

static struct fenced_fops *file_fence(const struct file *file)
{
	return container_of(file->f_op, struct fenced_fops, shim);
}

/* The file's state; the file is open and its ->release() not done. */
static struct fenced_file *fenced_file(const struct file *file)
{
	return rhashtable_lookup_fast(&fenced_files, &file, fenced_files_params);
}

/*
 * SRCU-fast readers are try-locks lockdep does not check, so it records
 * no dependency of theirs: an unregister that waits for an operation
 * which waits for a lock the unregister holds would go unreported. The
 * fence tells lockdep itself, with a checked shared try-lock as
 * down_read_trylock() is, and the unregister acquires it for writing.
 */
static __always_inline struct srcu_ctr __percpu *fence_srcu_lock(struct fenced_fops *f)
{
	struct srcu_ctr __percpu *scp = srcu_read_lock_fast(&f->srcu);

	lock_acquire_shared(&f->dep_map, 0, 1, NULL, _THIS_IP_);
	return scp;
}

static __always_inline void fence_srcu_unlock(struct fenced_fops *f,
					      struct srcu_ctr __percpu *scp)
{
	lock_release(&f->dep_map, _THIS_IP_);
	srcu_read_unlock_fast(&f->srcu, scp);
}

/* Leaves the read side fence_enter() entered. */
static __always_inline void fence_exit(struct fenced_fops *f,
				       enum fenced_fops_type type,
				       struct srcu_ctr __percpu *scp)
{
	if (type == FENCED_FOPS_SRCU)
		fence_srcu_unlock(f, scp);
	else
		up_read(&f->rwsem);
}

/*
 * Enters the read side; false (and nothing held) once the device is
 * revoked. It never waits: the only writer is the unregister, which sets
 * ->revoked before it takes the write side, so a reader that finds the
 * rwsem contended is one that must fail anyway, and a reader nested in
 * another cannot deadlock behind a waiting writer. SRCU readers are
 * SRCU-fast: a per-CPU increment and no memory barrier. That suffices:
 * a reader the grace period of the unregister does not wait for sees
 * ->revoked, which was set before the grace period started.
 *
 * Inlined into every wrapper, as is fence_exit(), with @type a constant
 * in the wrappers of fenced_fops_wrappers.h: the SRCU ones then make no
 * call but the driver's, and add 13 instructions to an operation on
 * x86_64 (a no-op ioctl(), counted under emulation).
 * The state is tested once, after the read side is entered: a test
 * before it would only make the calls after the revoke fail sooner.
 */
static __always_inline bool fence_enter(struct fenced_fops *f,
					enum fenced_fops_type type,
					struct srcu_ctr __percpu **scp)
{
	if (type == FENCED_FOPS_SRCU)
		*scp = fence_srcu_lock(f);
	else if (unlikely(!down_read_trylock(&f->rwsem)))
		return false;
	if (likely(!READ_ONCE(f->revoked)))
		return true;
	fence_exit(f, type, *scp);
	return false;
}

/*
 * The body of every wrapper of fenced_fops_wrappers.h, in a scope where
 * __f is the fence: enter it or return @dead, run @call, leave the fence.
 * FENCE_TYPE is the fence type the wrappers are made for.
 */
#define FENCE_CALL(type, dead, call) ({					\
	type __fret = (type)(dead);					\
	struct srcu_ctr __percpu *__fscp = NULL;			\
									\
	if (fence_enter(__f, FENCE_TYPE, &__fscp)) {			\
		__fret = (call);					\
		fence_exit(__f, FENCE_TYPE, __fscp);			\
	}								\
	__fret;								\
})

/* A file operation: @call reaches the driver's table as @drv. */
#define FENCED_OR(file, type, dead, call) ({				\
	struct fenced_fops *__f = file_fence(file);			\
	const struct file_operations *drv = __f->fops;			\
									\
	FENCE_CALL(type, dead, call);					\
})

#define FENCED(file, type, call) FENCED_OR(file, type, -ENODEV, call)

/*
 * Records that the driver may hold a fasync entry for the file, before it
 * can, so that the unregister drops it; never cleared, as turning fasync
 * off twice is harmless and racing fcntl() calls could otherwise leave an
 * entry unrecorded. Turning it off after the revoke succeeds: the
 * unregister already did.
 */
static int fence_fasync(int fd, struct file *file, int on)
{
	struct fenced_fops *f = file_fence(file);
	int ret = on ? -ENODEV : 0;
	struct srcu_ctr __percpu *scp = NULL;

	if (!fence_enter(f, f->type, &scp))
		return ret;
	if (on)
		WRITE_ONCE(fenced_file(file)->fasync, true);
	ret = f->fops->fasync(fd, file, on);
	fence_exit(f, f->type, scp);
	return ret;
}

/*
 * After the revoke, mmap() fails in fence_mmap(), but mremap() may still
 * move an old mapping: give it the default placement.
 */
static unsigned long fence_get_unmapped_area(struct file *file,
					     unsigned long addr,
					     unsigned long len,
					     unsigned long pgoff,
					     unsigned long flags)
{
	struct fenced_fops *f = file_fence(file);
	unsigned long ret;
	struct srcu_ctr __percpu *scp = NULL;

	if (!fence_enter(f, f->type, &scp))
#ifdef CONFIG_MMU
		return mm_get_unmapped_area(file, addr, len, pgoff, flags);
#else
		return -ENODEV;	/* never installed: fence_unsupported() */
#endif
	ret = f->fops->get_unmapped_area(file, addr, len, pgoff, flags);
	fence_exit(f, f->type, scp);
	return ret;
}

/*
 * Under the fence: remembers @mm, whose mmap() links its VMA into the
 * fence's mapping only after ->mmap() returns. Forgets, at each mmap(),
 * the mms that have exited (until then they stay, grabbed), so that the
 * list is about as long as the live processes that mapped the device.
 */
static int fence_note_mm(struct fenced_fops *f, struct mm_struct *mm)
{
	struct fence_mm *e, *tmp, *new = NULL;
	LIST_HEAD(dead);
	bool found;

again:
	found = false;
	spin_lock(&f->lock);
	list_for_each_entry_safe(e, tmp, &f->mms, link) {
		if (e->mm == mm)
			found = true;
		else if (!atomic_read(&e->mm->mm_users))
			list_move(&e->link, &dead);
	}
	if (!found && new) {
		mmgrab(mm);
		new->mm = mm;
		list_add(&new->link, &f->mms);
		new = NULL;
		found = true;
	}
	spin_unlock(&f->lock);
	if (!found) {
		new = kmalloc_obj(*new);
		if (new)
			goto again;
	}
	kfree(new);
	list_for_each_entry_safe(e, tmp, &dead, link) {
		mmdrop(e->mm);
		kfree(e);
	}
	return found ? 0 : -ENOMEM;
}

static int fence_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct fenced_fops *f = file_fence(file);
	int ret;
	struct srcu_ctr __percpu *scp = NULL;

	if (!fence_enter(f, f->type, &scp))
		return -ENODEV;
	ret = fence_note_mm(f, vma->vm_mm);
	if (!ret)
		ret = f->fops->mmap(file, vma);
	/*
	 * A driver that sets no vm_ops leaves the core's dummy table; NULL
	 * would make the VMA anonymous (vma_set_anonymous()).
	 */
	if (!ret && (vma->vm_ops != (f->vm_ops ?: &vma_dummy_vm_ops) ||
		     vma->vm_file != file)) {
		/*
		 * A table the fence does not know, or another file (whose
		 * mapping the unregister would not zap): undo and fail.
		 */
		pr_warn_ratelimited("%ps: ->mmap() set vm_ops %ps or a vm_file the fence does not cover\n",
				    f->fops, vma->vm_ops);
		if (vma->vm_ops && vma->vm_ops->close)
			vma->vm_ops->close(vma);
		ret = -EINVAL;
	}
	if (!ret)
		vma->vm_ops = &f->vm_shim;
	fence_exit(f, f->type, scp);
	return ret;
}

/*
 * The fence of a VMA of the device: through its file, as a stacking
 * filesystem (coda) may copy the shim into a table of its own. The VMA
 * holds the file, and the file the fence.
 */
static struct fenced_fops *vma_fence(const struct vm_area_struct *vma)
{
	return file_fence(vma->vm_file);
}

/* A VMA callback: @call reaches the driver's table as @drv. */
#define VMA_FENCED_OR(vma, type, dead, call) ({				\
	struct fenced_fops *__f = vma_fence(vma);			\
	const struct vm_operations_struct *drv = __f->vm_ops;		\
									\
	FENCE_CALL(type, dead, call);					\
})

/*
 * The wrappers of the operations that only need the fence around the
 * driver's call, once per fence type with the type a constant, as
 * arch/x86/kvm/mmu/paging_tmpl.h is included once per paging mode: each
 * has only its own read side, and the SRCU ones keep no register across
 * a call but the driver's.
 */
#define FENCE_TYPE	FENCED_FOPS_RWSEM
#define FENCE_FN(name)	fence_rwsem_##name
#include "fenced_fops_wrappers.h"

#define FENCE_TYPE	FENCED_FOPS_SRCU
#define FENCE_FN(name)	fence_srcu_##name
#include "fenced_fops_wrappers.h"

/* Names a callback of @vm the shim cannot fence, or NULL. */
static const char *fence_vm_unsupported(const struct vm_operations_struct *vm)
{
	if (!vm)
		return NULL;
	if (vm->mapped)
		return "mapped";
#ifdef CONFIG_NUMA
	if (vm->set_policy || vm->get_policy)
		return "set_policy";
#endif
#ifdef CONFIG_FIND_NORMAL_PAGE
	if (vm->find_normal_page)
		return "find_normal_page";
#endif
#ifdef CONFIG_USERFAULTFD
	if (vm->uffd_ops)
		return "uffd_ops";
#endif
	return NULL;
}

/* The pseudo filesystem of the fences' mappings. */
#define FENCED_FOPS_MAGIC	0x66656e63	/* "fenc" */

static struct vfsmount *fence_mnt;
static int fence_mnt_count;

static int fence_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, FENCED_FOPS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type fence_fs_type = {
	.name			= "fenced_fops",
	.init_fs_context	= fence_init_fs_context,
	.kill_sb		= kill_anon_super,
};

static struct inode *fence_inode_new(void)
{
	struct inode *inode;
	int ret;

	ret = simple_pin_fs(&fence_fs_type, &fence_mnt, &fence_mnt_count);
	if (ret)
		return ERR_PTR(ret);
	inode = alloc_anon_inode(fence_mnt->mnt_sb);
	if (IS_ERR(inode))
		simple_release_fs(&fence_mnt, &fence_mnt_count);
	return inode;
}

static void fence_inode_free(struct inode *inode)
{
	if (inode) {
		iput(inode);
		simple_release_fs(&fence_mnt, &fence_mnt_count);
	}
}

static int fence_mm_cmp(const void *a, const void *b)
{
	unsigned long x = (unsigned long)*(struct mm_struct * const *)a;
	unsigned long y = (unsigned long)*(struct mm_struct * const *)b;

	return x < y ? -1 : x > y;
}

/* Waits for what @mm may be installing from the device, see below. */
static void fence_wait_mm(struct fenced_fops *f, struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	struct vma_iterator vmi;

	vma_iter_init(&vmi, mm, 0);
	mmap_write_lock(mm);
	for_each_vma(vmi, vma)
		if (vma->vm_file && vma->vm_file->f_op == &f->shim)
			vma_start_write(vma);
	mmap_write_unlock(mm);
}

/*
 * Once the fence is drained, no fault or mmap() enters the driver any
 * more, but one that entered before may still be on its way to install
 * what the driver gave it: mmap() links its VMA, a fault maps the page its
 * ->fault() returned, after they leave the fence. Both hold mmap_lock or
 * the VMA's lock until they have, so wait for those of every live mm that
 * has a VMA of the device or was in its mmap(), then zap every user
 * mapping of the device's files, private copies included. Later faults
 * get SIGBUS, so nothing maps the driver's memory again.
 *
 * The mms of the mapping are collected under i_mmap_rwsem, which reclaim
 * takes, so without allocating: into an array sized by a previous walk,
 * sorted and waited for each once. mmgrab() keeps an mm_struct, not its
 * address space; no mmget(), whose mmput() could tear a whole process down
 * here. An mm that exited has nothing in flight, and its exit zapped it.
 */
static void fence_unmap(struct fenced_fops *f)
{
	struct mm_struct **mms = NULL;
	struct address_space *mapping;
	struct vm_area_struct *vma;
	struct fence_mm *e, *tmp;
	size_t cap = 0, n, vmas, i;
	LIST_HEAD(mmap_mms);

	if (!f->inode)
		return;
	mapping = f->inode->i_mapping;
	spin_lock(&f->lock);
	list_splice_init(&f->mms, &mmap_mms);
	spin_unlock(&f->lock);
	for (;;) {
		n = 0;
		vmas = 0;
		i_mmap_lock_read(mapping);
		mapping_rmap_tree_foreach(vma, mapping, 0, ULONG_MAX) {
			if (vmas++ < cap && atomic_read(&vma->vm_mm->mm_users)) {
				mmgrab(vma->vm_mm);
				mms[n++] = vma->vm_mm;
			}
		}
		i_mmap_unlock_read(mapping);
		if (vmas <= cap)
			break;
		while (n)
			mmdrop(mms[--n]);
		kvfree(mms);
		cap = 2 * vmas;
		mms = kvmalloc_array(cap, sizeof(*mms), GFP_KERNEL | __GFP_NOFAIL);
	}
	sort(mms, n, sizeof(*mms), fence_mm_cmp, NULL);
	for (i = 0; i < n; i++) {
		if (!i || mms[i] != mms[i - 1])
			fence_wait_mm(f, mms[i]);
		mmdrop(mms[i]);
	}
	kvfree(mms);
	list_for_each_entry_safe(e, tmp, &mmap_mms, link) {
		if (atomic_read(&e->mm->mm_users))
			fence_wait_mm(f, e->mm);
		mmdrop(e->mm);
		kfree(e);
	}
	unmap_mapping_range(mapping, 0, 0, 1);
}

static void fence_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	struct srcu_ctr __percpu *scp = NULL;

	if (!fence_enter(f, f->type, &scp))
		return;
	f->fops->show_fdinfo(m, file);
	fence_exit(f, f->type, scp);
}

/*
 * Forwards a wake-up of a driver wait queue to the pollers of one file.
 * Called with the driver queue's lock held. A queue that goes away with
 * wake_up_pollfree() is left here: its memory stays valid for an RCU grace
 * period, which is what fence_unhook() relies on.
 */
static int fence_relay_wake(wait_queue_entry_t *wait, unsigned int mode,
			    int sync, void *key)
{
	struct fenced_relay *r = container_of(wait, struct fenced_relay, wait);

	if (!(key_to_poll(key) & POLLFREE)) {
		__wake_up(&r->pollers, mode, 1, key);
		return 0;
	}
	/* The pollers poll again and find the driver's new queue. */
	__wake_up(&r->pollers, mode, 0, NULL);
	list_del_init(&wait->entry);
	/*
	 * Paired with smp_load_acquire() in fence_unhook(). The last access
	 * to the relay: once it reads NULL, the file's close may free it.
	 */
	smp_store_release(&r->head, NULL);
	return 0;
}

/* The relay of @ff on @head, made and hooked if there is none. */
static struct fenced_relay *fence_relay(struct fenced_fops *f,
					struct fenced_file *ff,
					wait_queue_head_t *head)
{
	struct fenced_relay *r, *new = NULL;

	spin_lock(&f->lock);
	hlist_for_each_entry(r, &ff->relays, link)
		if (READ_ONCE(r->head) == head)
			goto out;
	spin_unlock(&f->lock);

	/* poll_wait() may sleep: select() and epoll allocate there too. */
	new = kzalloc_obj(*new);
	if (!new)
		return NULL;
	init_waitqueue_func_entry(&new->wait, fence_relay_wake);
	init_waitqueue_head(&new->pollers);
	new->head = head;

	spin_lock(&f->lock);
	hlist_for_each_entry(r, &ff->relays, link)
		if (READ_ONCE(r->head) == head)
			goto out;
	r = new;
	new = NULL;
	add_wait_queue(head, &r->wait);
	hlist_add_head(&r->link, &ff->relays);
out:
	spin_unlock(&f->lock);
	kfree(new);
	return r;
}

/*
 * Unhooks the relays of a file from the driver's wait queues, which are
 * still alive, and wakes the file's pollers; they are left on the relays'
 * own queues, which live until the file is closed.
 */
static void fence_unhook(struct fenced_fops *f, struct fenced_file *ff)
{
	struct fenced_relay *r;
	wait_queue_head_t *head;

	spin_lock(&f->lock);
	hlist_for_each_entry(r, &ff->relays, link) {
		rcu_read_lock();
		/*
		 * Paired with smp_store_release() in fence_relay_wake(): NULL
		 * once the queue went away with POLLFREE; otherwise RCU keeps
		 * it alive and its lock orders us against that wake-up.
		 */
		head = smp_load_acquire(&r->head);
		if (head) {
			remove_wait_queue(head, &r->wait);
			WRITE_ONCE(r->head, NULL);
		}
		rcu_read_unlock();
		wake_up_poll(&r->pollers, EPOLLERR | EPOLLHUP);
	}
	spin_unlock(&f->lock);
}

static void fence_free_relays(struct fenced_file *ff)
{
	struct fenced_relay *r;
	struct hlist_node *tmp;

	hlist_for_each_entry_safe(r, tmp, &ff->relays, link)
		kfree(r);
}

struct fence_poll_table {
	poll_table pt;
	poll_table *orig;
	struct fenced_fops *fence;
	struct file *file;		/* the fenced file, not poll_wait()'s */
	struct fenced_file *ff;
	bool failed;
};

/* poll_wait() of the driver: the poller waits on a relay of the file. */
static void fence_queue_proc(struct file *file, wait_queue_head_t *head,
			     poll_table *pt)
{
	struct fence_poll_table *fpt = container_of(pt, struct fence_poll_table, pt);
	struct fenced_relay *r;

	/*
	 * A ->poll() that passes another file's poll table on (vfs_poll() of
	 * an inner file) still polls for the fenced file: its relays are the
	 * fenced file's.
	 */
	if (!fpt->ff)
		fpt->ff = fenced_file(fpt->file);
	r = fence_relay(fpt->fence, fpt->ff, head);
	if (!r) {
		fpt->failed = true;
		return;
	}
	/*
	 * The relay is the fenced file's and is freed at its close: poll() and
	 * select() pin the file they are given until they leave the queue, so
	 * give them the fenced file, whichever file the driver named.
	 */
	fpt->orig->_qproc(fpt->file, &r->pollers, fpt->orig);
}

static __poll_t fence_poll(struct file *file, poll_table *pt)
{
	struct fenced_fops *f = file_fence(file);
	struct fence_poll_table fpt = { };
	__poll_t mask;
	struct srcu_ctr __percpu *scp = NULL;

	/* A mask, never an errno: the device is gone for good. */
	if (!fence_enter(f, f->type, &scp))
		return EPOLLERR | EPOLLHUP;
	if (pt && pt->_qproc) {
		init_poll_funcptr(&fpt.pt, fence_queue_proc);
		fpt.pt._key = pt->_key;
		fpt.orig = pt;
		fpt.fence = f;
		fpt.file = file;
		pt = &fpt.pt;
	}
	mask = f->fops->poll(file, pt);
	fence_exit(f, f->type, scp);
	/* No relay, no wake-up: say so rather than let the poller sleep. */
	if (unlikely(fpt.failed))
		mask |= EPOLLERR;
	return mask;
}

static void fence_free(struct kref *ref)
{
	struct fenced_fops *f = container_of(ref, struct fenced_fops, ref);

	struct fence_mm *e, *tmp;

	list_for_each_entry_safe(e, tmp, &f->mms, link) {
		mmdrop(e->mm);
		kfree(e);
	}
	fence_inode_free(f->inode);
	if (f->type == FENCED_FOPS_SRCU) {
		cleanup_srcu_struct(&f->srcu);
		lockdep_unregister_key(&f->read_key);
	}
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

static int fence_open(struct inode *inode, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	struct fenced_file *ff;
	int ret;
	struct srcu_ctr __percpu *scp = NULL;

	ff = kzalloc_obj(*ff);
	if (!ff) {
		ret = -ENOMEM;
		goto out;
	}
	ff->file = file;
	INIT_HLIST_HEAD(&ff->relays);
	ret = rhashtable_insert_fast(&fenced_files, &ff->node, fenced_files_params);
	if (ret) {
		kfree(ff);
		goto out;
	}
	if (!fence_enter(f, f->type, &scp)) {
		ret = -ENODEV;
		goto err;
	}
	if (f->private_data)
		file->private_data = f->private_data;
	/* Mappings go to the fence's address_space, which the revoke zaps. */
	if (f->inode)
		file->f_mapping = f->inode->i_mapping;
	ret = f->fops->open ? f->fops->open(inode, file) : 0;
	if (!ret && file->f_op == &f->shim && f->inode &&
	    file->f_mapping != f->inode->i_mapping) {
		/* Its mappings would escape the revoke: undo and fail. */
		WARN_ONCE(1, "%ps: ->open() replaced the fenced f_mapping\n", f->fops);
		if (f->fops->release)
			f->fops->release(inode, file);
		ret = -EINVAL;
	}
	if (!ret && file->f_op != &f->shim) {
		/*
		 * replace_fops() in a fenced ->open(): the file would call a
		 * table the fence does not cover. Undo the open with the
		 * release of that table and fail it.
		 */
		WARN_ONCE(1, "%ps: ->open() replaced the fenced fops\n", f->fops);
		if (file->f_op->release)
			file->f_op->release(inode, file);
		ret = -EINVAL;
	}
	if (!ret) {
		/* Before leaving the fence: the unregister must see the file. */
		kref_get(&f->ref);
		spin_lock(&f->lock);
		list_add_tail(&ff->link, &f->files);
		spin_unlock(&f->lock);
	}
	fence_exit(f, f->type, scp);
	if (!ret)
		return 0;
err:
	rhashtable_remove_fast(&fenced_files, &ff->node, fenced_files_params);
	kfree_rcu(ff, rcu);
out:
	/*
	 * The caller's fops_put(file->f_op) after a failed open must not
	 * depend on the fence: the driver's table has the same owner. A
	 * table the driver put in place itself is left for the caller.
	 */
	if (file->f_op == &f->shim)
		file->f_op = f->fops;
	if (f->inode && file->f_mapping == f->inode->i_mapping)
		file->f_mapping = inode->i_mapping;
	return ret;
}

/*
 * Under fence->lock: takes a file off the fence's list, so that the caller
 * runs its teardown; false if its close or the unregister already did.
 */
static bool fence_claim(struct fenced_fops *f, struct fenced_file *ff)
{
	lockdep_assert_held(&f->lock);
	if (ff->state != FENCED_FILE_OPEN)
		return false;
	list_del(&ff->link);
	ff->state = FENCED_FILE_TEARING;
	f->tearing++;
	return true;
}

/*
 * The per-file teardown, once for every successful open, by whoever
 * claimed the file: its close, or the unregister for a file still open
 * then. Fasync off if the driver holds an entry, then ->release().
 */
static int fence_teardown(struct fenced_fops *f, struct fenced_file *ff)
{
	struct file *file = ff->file;
	int ret = 0;

	/* The driver may free the queues it polled in ->release(). */
	fence_unhook(f, ff);
	if (READ_ONCE(ff->fasync))
		f->fops->fasync(-1, file, 0);
	if (f->fops->release)
		ret = f->fops->release(file_inode(file), file);

	spin_lock(&f->lock);
	ff->state = FENCED_FILE_DONE;
	f->tearing--;
	spin_unlock(&f->lock);
	wake_up_all(&f->teardown_wq);
	return ret;
}

static bool fence_file_done(struct fenced_fops *f, struct fenced_file *ff)
{
	guard(spinlock)(&f->lock);
	return ff->state == FENCED_FILE_DONE;
}

/*
 * Close: tear the file down, or wait until the unregister has, so that the
 * file outlives the driver's use of it.
 */
static int fence_close(struct fenced_fops *f, struct fenced_file *ff)
{
	bool claimed;

	spin_lock(&f->lock);
	claimed = fence_claim(f, ff);
	spin_unlock(&f->lock);
	if (claimed)
		return fence_teardown(f, ff);
	wait_event(f->teardown_wq, fence_file_done(f, ff));
	return 0;
}

static int fence_release(struct inode *inode, struct file *file)
{
	struct fenced_fops *f = file_fence(file);
	struct fenced_file *ff = fenced_file(file);
	int ret = 0;
	struct srcu_ctr __percpu *scp = NULL;

	/* A file that got the shim without fence_open(): nothing of ours. */
	if (WARN_ON_ONCE(!ff)) {
		file->f_op = f->fops;
		return 0;
	}
	/*
	 * Inside the fence while it is live, so that unregistering the device
	 * from its own ->release() is reported like from any operation; an
	 * unregister that has started waits for the teardown instead.
	 */
	if (fence_enter(f, f->type, &scp)) {
		ret = fence_close(f, ff);
		fence_exit(f, f->type, scp);
	} else {
		ret = fence_close(f, ff);
	}
	rhashtable_remove_fast(&fenced_files, &ff->node, fenced_files_params);
	fence_free_relays(ff);
	kfree_rcu(ff, rcu);
	/* __fput() calls fops_put(file->f_op) after us: same owner. */
	file->f_op = f->fops;
	/* Nothing of the file may point into a fence that goes now. */
	file->f_mapping = file_inode(file)->i_mapping;
	fenced_fops_put(f);
	return ret;
}

/**
 * fenced_fops_revoked() - whether a fenced device was unregistered
 * @file: a file
 *
 * For the wait conditions of a driver's sleeping file operations (woken
 * by the &fenced_fops_options.cancel callback).
 *
 * Return: true once the synchronous unregister of the device of @file has
 * started; false if it has not, or if @file is not of a device registered
 * in sync mode.
 */
bool fenced_fops_revoked(const struct file *file)
{
	if (!fenced_fops_from_fops(file->f_op))
		return false;
	return READ_ONCE(file_fence(file)->revoked);
}
EXPORT_SYMBOL_GPL(fenced_fops_revoked);

/**
 * fenced_fops_live() - whether a table is a shim not revoked yet
 * @fops: a file_operations table
 *
 * For the legacy unregistration functions, to catch a sync device passed
 * to them.
 *
 * Return: true if @fops is the shim of a fence that was not revoked.
 */
bool fenced_fops_live(const struct file_operations *fops)
{
	struct fenced_fops *f = fenced_fops_from_fops(fops);

	return f && !READ_ONCE(f->revoked);
}

/**
 * fenced_fops_private() - the private data of a fenced device
 * @file: a file of a device registered in sync mode
 *
 * Returns the private data of the registration: the @private_data given to
 * cdev_alloc_sync(), or the struct miscdevice of a device registered with
 * misc_register_sync(). It is how a file operation finds its device once
 * ->open() has replaced file->private_data with per-file state, as
 * container_of() on inode->i_cdev cannot for a cdev that the core
 * allocated.
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
 * Names an operation of @fops that the shim cannot fence, or NULL. The
 * actions of ->mmap_prepare() run after it returns, outside the fence
 * (->mmap() is fenced, and the revoke zaps what it mapped); the unlock of
 * a file lock at close must not
 * fail once the device is revoked, or the lock outlives the file; the
 * others bypass the file or run asynchronously to the call.
 */
static const char *fence_unsupported(const struct file_operations *fops)
{
	/* Without an MMU a mapping is the memory itself: nothing to zap. */
	if (!IS_ENABLED(CONFIG_MMU) && (fops->mmap || fops->get_unmapped_area))
		return "mmap";
	if (fops->mmap_prepare)
		return "mmap_prepare";
	if (fops->lock)
		return "lock";
	if (fops->flock)
		return "flock";
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

/*
 * VFS helpers that touch only the file, or reach the driver only through
 * file->f_op and so through the fence (compat_ptr_ioctl(),
 * copy_splice_read(), iter_file_splice_write()): kept as they are, they
 * cost nothing and do not enter the read side twice.
 */
static bool fence_keeps_llseek(const struct file_operations *fops)
{
	return fops->llseek == noop_llseek || fops->llseek == default_llseek ||
	       fops->llseek == generic_file_llseek;
}

static bool fence_keeps_compat_ioctl(const struct file_operations *fops)
{
	return IS_ENABLED(CONFIG_COMPAT) && fops->compat_ioctl &&
	       fops->compat_ioctl == compat_ptr_ioctl;
}

static void fence_recancel(struct work_struct *work);

/* SRCU-fast: no memory barrier on the read side, which is all that runs often. */
static int fence_init_srcu(struct fenced_fops *f)
{
	int ret;

	/*
	 * A key of its own, not a subclass of the fence's: the srcu_struct's
	 * map has that class, and lockdep_unregister_key() frees subclass 0
	 * only.
	 */
	lockdep_register_key(&f->read_key);
	lockdep_init_map(&f->dep_map, "fenced_fops_srcu_read", &f->read_key, 0);
#ifdef CONFIG_DEBUG_LOCK_ALLOC
	ret = __init_srcu_struct_fast(&f->srcu, "fenced_fops_srcu", &f->key);
#else
	ret = init_srcu_struct_fast(&f->srcu);
#endif
	if (ret)
		lockdep_unregister_key(&f->read_key);
	return ret;
}

/**
 * fenced_fops_create() - make a fence and its shim for a driver's fops
 * @fops: the driver's file operations
 * @private_data: if not NULL, stored in file->private_data before the
 *	driver's ->open() is called
 * @opts: the fence type and cancel callback, or NULL for an SRCU fence
 *	without one
 *
 * The shim implements exactly the operations @fops implements, each fenced,
 * plus open and release. A driver with ->mmap() gives in @opts the
 * vm_operations_struct its ->mmap() sets (or none), which is fenced the
 * same way. Operations the fence cannot cover (mmap_prepare, io_uring
 * commands, NUMA policies of VMAs, ...) make the registration fail. compat_ptr_ioctl(),
 * copy_splice_read(), iter_file_splice_write() and the generic llseek
 * helpers are kept unwrapped: they reach the driver only through
 * file->f_op, that is through the fence.
 *
 * Context: process context.
 * Return: the fence with one reference (the registration's), or an
 * ERR_PTR(): -EOPNOTSUPP for an operation that cannot be fenced, -EINVAL
 * for VMA callbacks without ->mmap(), -ENOMEM.
 */
struct fenced_fops *fenced_fops_create(const struct file_operations *fops,
				       void *private_data,
				       const struct fenced_fops_options *opts)
{
	const enum fenced_fops_type type = opts ? opts->type : FENCED_FOPS_SRCU;
	const bool srcu = type == FENCED_FOPS_SRCU;
	/* The wrappers of the fence type, and of its VMA callbacks. */
	const struct file_operations *w = srcu ? &fence_srcu_fops : &fence_rwsem_fops;
	const struct vm_operations_struct *vw = srcu ? &fence_srcu_vm_ops :
						       &fence_rwsem_vm_ops;
	const struct file_operations shim = {
		.owner		= fops->owner,
		.fop_flags	= fops->fop_flags,
		.open		= fence_open,
		.release	= fence_release,
		.llseek		= fence_keeps_llseek(fops) ? fops->llseek :
				  fops->llseek ? w->llseek : NULL,
		.read		= fops->read ? w->read : NULL,
		.write		= fops->write ? w->write : NULL,
		.read_iter	= fops->read_iter ? w->read_iter : NULL,
		.write_iter	= fops->write_iter ? w->write_iter : NULL,
		.poll		= fops->poll ? fence_poll : NULL,
		.unlocked_ioctl	= fops->unlocked_ioctl ? w->unlocked_ioctl : NULL,
		.compat_ioctl	= fence_keeps_compat_ioctl(fops) ? fops->compat_ioctl :
				  fops->compat_ioctl ? w->compat_ioctl : NULL,
		.flush		= fops->flush ? w->flush : NULL,
		.fsync		= fops->fsync ? w->fsync : NULL,
		.fasync		= fops->fasync ? fence_fasync : NULL,
		.splice_read	= fops->splice_read == copy_splice_read ? copy_splice_read :
				  fops->splice_read ? w->splice_read : NULL,
		.splice_write	= fops->splice_write == iter_file_splice_write ?
				  iter_file_splice_write :
				  fops->splice_write ? w->splice_write : NULL,
		.fallocate	= fops->fallocate ? w->fallocate : NULL,
		.show_fdinfo	= fops->show_fdinfo ? fence_show_fdinfo : NULL,
		.mmap		= fops->mmap ? fence_mmap : NULL,
		.get_unmapped_area = fops->get_unmapped_area ?
				  fence_get_unmapped_area : NULL,
	};
	const struct vm_operations_struct *vm = opts ? opts->vm_ops : NULL;
	const struct vm_operations_struct vm_shim = {
		.open		= vm && vm->open ? vw->open : NULL,
		.close		= vm && vm->close ? vw->close : NULL,
		.may_split	= vm && vm->may_split ? vw->may_split : NULL,
		.mremap		= vm && vm->mremap ? vw->mremap : NULL,
		.mprotect	= vm && vm->mprotect ? vw->mprotect : NULL,
		.fault		= vm && vm->fault ? vw->fault : NULL,
		.huge_fault	= vm && vm->huge_fault ? vw->huge_fault : NULL,
		.map_pages	= vm && vm->map_pages ? vw->map_pages : NULL,
		.pagesize	= vm && vm->pagesize ? vw->pagesize : NULL,
		.page_mkwrite	= vm && vm->page_mkwrite ? vw->page_mkwrite : NULL,
		.pfn_mkwrite	= vm && vm->pfn_mkwrite ? vw->pfn_mkwrite : NULL,
		.access		= vm && vm->access ? vw->access : NULL,
		.name		= vm && vm->name ? vw->name : NULL,
	};
	const char *op = fence_unsupported(fops);
	struct fenced_fops *f;

	if (!op)
		op = fence_vm_unsupported(vm);
	if (op) {
		pr_err("%ps: ->%s() cannot be fenced; register without sync\n",
		       fops, op);
		return ERR_PTR(-EOPNOTSUPP);
	}
	/* VMA callbacks without ->mmap(), or the reverse of a misuse. */
	if (WARN_ON(vm && !fops->mmap))
		return ERR_PTR(-EINVAL);
	/* Not a fence type. */
	if (WARN_ON(type != FENCED_FOPS_RWSEM && type != FENCED_FOPS_SRCU))
		return ERR_PTR(-EINVAL);
	/* Registered in sync mode twice, or not unregistered in sync mode. */
	if (WARN_ON(fenced_fops_from_fops(fops)))
		return ERR_PTR(-EINVAL);
	f = kzalloc_obj(*f);
	if (!f)
		return ERR_PTR(-ENOMEM);
	f->fops = fops;
	f->vm_ops = vm;
	f->private_data = private_data;
	INIT_LIST_HEAD(&f->mms);
	if (fops->mmap) {
		f->inode = fence_inode_new();
		if (IS_ERR(f->inode)) {
			struct inode *inode = f->inode;

			kfree(f);
			return ERR_CAST(inode);
		}
	}
	kref_init(&f->ref);
	f->type = type;
	lockdep_register_key(&f->key);
	if (f->type == FENCED_FOPS_SRCU) {
		if (fence_init_srcu(f)) {
			lockdep_unregister_key(&f->key);
			fence_inode_free(f->inode);
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
	spin_lock_init(&f->lock);
	INIT_LIST_HEAD(&f->files);
	init_waitqueue_head(&f->teardown_wq);
	INIT_DELAYED_WORK(&f->recancel, fence_recancel);

	/* The shims are const once made: fill copies, then put them in place. */
	memcpy((void *)&f->shim, &shim, sizeof(shim));
	memcpy((void *)&f->vm_shim, &vm_shim, sizeof(vm_shim));
	return f;
}

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

struct fence_holder {
	const struct file_operations *shim;
	struct task_struct *task;
};

static int fence_fd_matches(const void *data, struct file *file, unsigned int fd)
{
	return file->f_op == data;
}

/*
 * The task the unregister most likely waits for: one that has a file of
 * the device open and is not running, as a sleeping operation is.
 */
static struct task_struct *fence_find_sleeper(struct fenced_fops *f)
{
	struct task_struct *g, *t, *found = NULL;

	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (t == f->unregistering || task_is_running(t) ||
		    (t->flags & PF_KTHREAD))
			continue;
		task_lock(t);
		if (t->files && iterate_fd(t->files, 0, fence_fd_matches, &f->shim))
			found = get_task_struct(t);
		task_unlock(t);
		if (found)
			break;
	}
	rcu_read_unlock();
	return found;
}

/*
 * While the unregister waits: cancel again, as FreeBSD's destroy_dev()
 * runs d_purge again, for a sleeper that missed the first call; and say
 * once, after a while, what the unregister waits for.
 */
static void fence_recancel(struct work_struct *work)
{
	struct fenced_fops *f = container_of(to_delayed_work(work),
					     struct fenced_fops, recancel);
	unsigned long waited = jiffies - f->revoked_at;
	struct task_struct *t;

	if (f->cancel) {
		f->cancel(f->cancel_data);
		f->cancels++;
	}
	if (waited >= FENCE_STALL_REPORT * HZ && !f->stall_reported) {
		f->stall_reported = true;
		t = fence_find_sleeper(f);
		pr_warn("%ps: %s[%d] has waited %lu s for file operations to finish (cancel called %u times); a task with the device open that sleeps: %s[%d]\n",
			f->fops, f->unregistering->comm,
			task_pid_nr(f->unregistering), waited / HZ, f->cancels,
			t ? t->comm : "none", t ? task_pid_nr(t) : 0);
		if (t)
			put_task_struct(t);
	}
	schedule_delayed_work(&f->recancel, FENCE_RECANCEL_PERIOD);
}

/*
 * Waits until no file operation of the device runs; the caller stops the
 * recancel work once the files are torn down too.
 */
static void fence_drain(struct fenced_fops *f)
{
	f->unregistering = current;
	schedule_delayed_work(&f->recancel, FENCE_RECANCEL_PERIOD);
	if (f->type == FENCED_FOPS_SRCU) {
		lock_map_acquire(&f->dep_map);
		lock_map_release(&f->dep_map);
		synchronize_srcu(&f->srcu);
	} else {
		down_write(&f->rwsem);
		up_write(&f->rwsem);
	}
}

/**
 * fenced_fops_revoke() - refuse new file operations, wait, tear down files
 * @fence: the fence of a device being unregistered
 *
 * Sets the revoked state, so that every later file operation fails with
 * -ENODEV (poll with EPOLLERR | EPOLLHUP, flush and fasync off with 0)
 * without reaching the driver; calls the cancel callback so the driver can
 * wake its sleepers, and again every second while operations remain; waits
 * until no file operation of the device runs; zaps every user mapping of
 * the device's files (later accesses get SIGBUS); then runs the per-file
 * teardown of every file still open (fasync off where the driver holds an
 * entry, then ->release()) and waits for teardowns that closes started.
 * When it returns, the driver is never called again through a file or a
 * VMA of the device (a VMA's ->close() included: the driver frees what
 * its VMAs hold without waiting for it), and no poller, relay, fasync
 * entry or page table entry of the fence is on the driver's memory. Pages
 * that user space pinned before (get_user_pages(), O_DIRECT, io_uring
 * buffers) keep their own reference, as with any mapping; what an IOMMU
 * mapped from the VMA (VFIO type1 maps VM_PFNMAP memory without a
 * reference) is not revoked.
 *
 * Context: process context, may sleep for as long as the slowest running
 * file operation, and, for a device with ->mmap(), until every process
 * that maps it lets go of its mmap_lock. Calling it from a file operation
 * or VMA callback of the same device, or under any mmap_lock, deadlocks;
 * lockdep reports it. ->release() of open files is called from here: do
 * not hold a lock that ->release() takes, nor one taken under mmap_lock.
 */
void fenced_fops_revoke(struct fenced_fops *fence)
{
	struct fenced_file *ff;

	might_sleep();
	if (WARN_ON_ONCE(READ_ONCE(fence->revoked)))
		return;
	WRITE_ONCE(fence->revoked, true);
	fence->revoked_at = jiffies;
	if (fence->cancel) {
		fence->cancel(fence->cancel_data);
		fence->cancels++;
	}
	fence_drain(fence);
	fence_unmap(fence);

	for (;;) {
		spin_lock(&fence->lock);
		ff = list_first_entry_or_null(&fence->files, struct fenced_file, link);
		if (ff)
			fence_claim(fence, ff);
		spin_unlock(&fence->lock);
		if (!ff)
			break;
		fence_teardown(fence, ff);
	}
	wait_event(fence->teardown_wq, !READ_ONCE(fence->tearing));
	cancel_delayed_work_sync(&fence->recancel);
}

static int __init fenced_fops_init(void)
{
	return rhashtable_init(&fenced_files, &fenced_files_params);
}
core_initcall(fenced_fops_init);

#ifdef CONFIG_FENCED_FOPS_KUNIT_TEST
#include "tests/fenced_fops_kunit.c"
#endif
