// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of fenced file operations: what the shim table offers, what
 * registration refuses, the order of a revoke, and a read side that nests
 * and that lockdep sees. Included by
 * fs/fenced_fops.c so that it can look at the fence's state.
 */
#include <kunit/test.h>

static int kunit_fops_nop_open(struct inode *inode, struct file *file)
{
	return 0;
}

static ssize_t kunit_fops_nop_read(struct file *file, char __user *buf,
				   size_t len, loff_t *ppos)
{
	return 0;
}

static __poll_t kunit_fops_nop_poll(struct file *file, poll_table *pt)
{
	return 0;
}

static int kunit_fops_nop_mmap(struct file *file, struct vm_area_struct *vma)
{
	return 0;
}

static const struct file_operations kunit_read_poll_fops = {
	.owner	= THIS_MODULE,
	.open	= kunit_fops_nop_open,
	.read	= kunit_fops_nop_read,
	.poll	= kunit_fops_nop_poll,
};

static const struct file_operations kunit_mmap_fops = {
	.owner	= THIS_MODULE,
	.read	= kunit_fops_nop_read,
	.mmap	= kunit_fops_nop_mmap,
};

static int kunit_fops_nop_mmap_prepare(struct vm_area_desc *desc)
{
	return 0;
}

static const struct file_operations kunit_mmap_prepare_fops = {
	.owner		= THIS_MODULE,
	.mmap_prepare	= kunit_fops_nop_mmap_prepare,
};

static void kunit_vm_nop_open(struct vm_area_struct *vma)
{
}

static int kunit_vm_nop_mapped(unsigned long start, unsigned long end,
			       pgoff_t pgoff, const struct file *file,
			       void **vm_private_data)
{
	return 0;
}

static vm_fault_t kunit_vm_nop_fault(struct vm_fault *vmf)
{
	return VM_FAULT_SIGBUS;
}

static const struct vm_operations_struct kunit_vm_ops = {
	.open	= kunit_vm_nop_open,
	.fault	= kunit_vm_nop_fault,
};

static const struct vm_operations_struct kunit_vm_mapped_ops = {
	.mapped	= kunit_vm_nop_mapped,
};

/* Only what the driver implements, each wrapped; open and release always. */
static void fenced_fops_test_shim_mirrors_driver(struct kunit *test)
{
	struct fenced_fops *f = fenced_fops_create(&kunit_read_poll_fops, NULL, NULL);
	const struct file_operations *shim;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	shim = fenced_fops_shim(f);
	KUNIT_EXPECT_PTR_EQ(test, shim->owner, kunit_read_poll_fops.owner);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->read, (void *)fence_srcu_read);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->poll, (void *)fence_poll);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->open, (void *)fence_open);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->release, (void *)fence_release);
	KUNIT_EXPECT_NULL(test, shim->write);
	KUNIT_EXPECT_NULL(test, shim->llseek);
	KUNIT_EXPECT_NULL(test, shim->unlocked_ioctl);
	KUNIT_EXPECT_NULL(test, shim->mmap);
	KUNIT_EXPECT_PTR_EQ(test, fenced_fops_from_fops(shim), f);
	KUNIT_EXPECT_PTR_EQ(test, fenced_fops_real(f), &kunit_read_poll_fops);
	KUNIT_EXPECT_NULL(test, fenced_fops_from_fops(&kunit_read_poll_fops));
	KUNIT_EXPECT_NULL(test, fenced_fops_from_fops(NULL));
	/* The memory of a registration, for the documentation's figures. */
	kunit_info(test, "sizeof(struct fenced_fops) = %zu, kmalloc %zu\n",
		   sizeof(*f), kmalloc_size_roundup(sizeof(*f)));
	fenced_fops_put(f);
}

/*
 * mmap: fenced, with a shim of exactly the driver's VMA callbacks and an
 * address_space of the fence's own.
 */
static void fenced_fops_test_mmap_shim(struct kunit *test)
{
	struct fenced_fops_options opts = { .vm_ops = &kunit_vm_ops };
	struct fenced_fops *f = fenced_fops_create(&kunit_mmap_fops, NULL, &opts);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	KUNIT_EXPECT_PTR_EQ(test, (void *)f->shim.mmap, (void *)fence_mmap);
	KUNIT_EXPECT_NULL(test, f->shim.get_unmapped_area);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, f->inode);
	KUNIT_EXPECT_PTR_EQ(test, (void *)f->vm_shim.open, (void *)fence_srcu_vm_open);
	KUNIT_EXPECT_PTR_EQ(test, (void *)f->vm_shim.fault, (void *)fence_srcu_vm_fault);
	KUNIT_EXPECT_NULL(test, f->vm_shim.close);
	KUNIT_EXPECT_NULL(test, f->vm_shim.page_mkwrite);
	kunit_info(test, "sizeof(struct fenced_fops) with mmap = %zu\n", sizeof(*f));
	/* The mm of an mmap() is noted once, and let go by the revoke. */
	KUNIT_EXPECT_EQ(test, fence_note_mm(f, current->mm ?: &init_mm), 0);
	KUNIT_EXPECT_EQ(test, fence_note_mm(f, current->mm ?: &init_mm), 0);
	KUNIT_EXPECT_EQ(test, list_count_nodes(&f->mms), 1);
	fenced_fops_revoke(f);
	KUNIT_EXPECT_TRUE(test, list_empty(&f->mms));
	fenced_fops_put(f);

	/* A driver that sets no vm_ops: its mappings still go. */
	f = fenced_fops_create(&kunit_mmap_fops, NULL, NULL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	KUNIT_EXPECT_NOT_ERR_OR_NULL(test, f->inode);
	KUNIT_EXPECT_NULL(test, f->vm_shim.fault);
	KUNIT_EXPECT_NULL(test, f->vm_shim.open);
	fenced_fops_put(f);
}

/* What the fence cannot cover fails the registration, never passes through. */
static void fenced_fops_test_refuses_unfenceable(struct kunit *test)
{
	struct fenced_fops_options opts = { .vm_ops = &kunit_vm_mapped_ops };
	struct fenced_fops *f;

	f = fenced_fops_create(&kunit_mmap_prepare_fops, NULL, NULL);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EOPNOTSUPP);
	f = fenced_fops_create(&kunit_mmap_fops, NULL, &opts);
	KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(f), -EOPNOTSUPP);
}

struct cancel_seen {
	struct fenced_fops *fence;
	int calls;
	bool revoked_at_call;
};

static void kunit_cancel(void *data)
{
	struct cancel_seen *seen = data;

	seen->calls++;
	seen->revoked_at_call = READ_ONCE(seen->fence->revoked);
}

/*
 * The revoke refuses new entries before it calls cancel, calls it,
 * and afterwards nothing enters.
 */
static void fenced_fops_test_revoke(struct kunit *test)
{
	const enum fenced_fops_type types[] = { FENCED_FOPS_RWSEM, FENCED_FOPS_SRCU };
	struct srcu_ctr __percpu *scp = NULL;
	int i;

	for (i = 0; i < ARRAY_SIZE(types); i++) {
		struct cancel_seen seen = { };
		struct fenced_fops_options opts = {
			.type = types[i],
			.cancel = kunit_cancel,
			.cancel_data = &seen,
		};
		struct fenced_fops *f = fenced_fops_create(&kunit_read_poll_fops, NULL, &opts);

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
		seen.fence = f;
		KUNIT_ASSERT_TRUE(test, fence_enter(f, f->type, &scp));
		fence_exit(f, f->type, scp);

		fenced_fops_revoke(f);
		/* Again a second later: a grace period may take that long. */
		KUNIT_EXPECT_GE(test, seen.calls, 1);
		KUNIT_EXPECT_TRUE(test, seen.revoked_at_call);
		KUNIT_EXPECT_FALSE(test, fence_enter(f, f->type, &scp));
		fenced_fops_put(f);
	}
}

static struct fenced_fops *kunit_nest_fence;
static bool kunit_nest_held;
static ssize_t kunit_nest_inner;

/*
 * Inside an operation: the read side is a lock lockdep knows the task
 * holds, so an unregister from here is reported; and the driver calling
 * itself through file->f_op enters again without waiting.
 */
static ssize_t kunit_nest_read(struct file *file, char __user *buf,
			       size_t len, loff_t *ppos)
{
#ifdef CONFIG_LOCKDEP
	struct fenced_fops *f = kunit_nest_fence;

	if (f->type == FENCED_FOPS_SRCU)
		kunit_nest_held = srcu_read_lock_held(&f->srcu) &&
				  lock_is_held(&f->dep_map);
	else
		kunit_nest_held = lockdep_is_held(&f->rwsem);
#endif
	if (len)
		kunit_nest_inner = file->f_op->read(file, buf, 0, ppos);
	return 0;
}

static ssize_t kunit_nest_splice(struct file *in, loff_t *ppos,
				 struct pipe_inode_info *pipe, size_t len,
				 unsigned int flags)
{
	return 0;
}

static const struct file_operations kunit_nest_fops = {
	.owner		= THIS_MODULE,
	.read		= kunit_nest_read,
	.compat_ioctl	= compat_ptr_ioctl,
	.splice_read	= copy_splice_read,
	.splice_write	= iter_file_splice_write,
	.llseek		= noop_llseek,
};

static const struct file_operations kunit_wrapped_fops = {
	.owner		= THIS_MODULE,
	.splice_read	= kunit_nest_splice,
};

/*
 * The read side nests, and unregistering a device from one of its own
 * operations stays visible to lockdep, with either fence.
 */
static void fenced_fops_test_nests(struct kunit *test)
{
	const enum fenced_fops_type types[] = { FENCED_FOPS_RWSEM, FENCED_FOPS_SRCU };
	struct file *file;
	int i;

	file = kunit_kzalloc(test, sizeof(*file), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, file);
	for (i = 0; i < ARRAY_SIZE(types); i++) {
		struct fenced_fops_options opts = { .type = types[i] };
		struct fenced_fops *f = fenced_fops_create(&kunit_nest_fops, NULL, &opts);

		KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
		kunit_nest_fence = f;
		kunit_nest_held = false;
		kunit_nest_inner = -1;
		file->f_op = fenced_fops_shim(f);
		/* Each fence type has wrappers of its own. */
		KUNIT_EXPECT_PTR_EQ(test, (void *)file->f_op->read,
				    types[i] == FENCED_FOPS_SRCU ? (void *)fence_srcu_read :
				    (void *)fence_rwsem_read);
		KUNIT_EXPECT_EQ(test, file->f_op->read(file, NULL, 1, NULL), 0);
		KUNIT_EXPECT_EQ(test, kunit_nest_inner, 0);
		if (IS_ENABLED(CONFIG_PROVE_LOCKING))
			KUNIT_EXPECT_TRUE(test, kunit_nest_held);
		fenced_fops_put(f);
	}
}

/* Helpers that come back through file->f_op are installed unwrapped. */
static void fenced_fops_test_helpers_unwrapped(struct kunit *test)
{
	struct fenced_fops *f = fenced_fops_create(&kunit_nest_fops, NULL, NULL);
	struct fenced_fops *g = fenced_fops_create(&kunit_wrapped_fops, NULL, NULL);
	const struct file_operations *shim;

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, f);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, g);
	shim = fenced_fops_shim(f);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->read, (void *)fence_srcu_read);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->splice_read, (void *)copy_splice_read);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->splice_write,
			    (void *)iter_file_splice_write);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->llseek, (void *)noop_llseek);
	KUNIT_EXPECT_PTR_EQ(test, (void *)shim->compat_ioctl,
			    (void *)kunit_nest_fops.compat_ioctl);
	KUNIT_EXPECT_PTR_EQ(test, (void *)fenced_fops_shim(g)->splice_read,
			    (void *)fence_srcu_splice_read);
	/* Memory per open file, for the documentation's figures. */
	kunit_info(test, "sizeof(struct fenced_file) = %zu, kmalloc %zu\n",
		   sizeof(struct fenced_file),
		   kmalloc_size_roundup(sizeof(struct fenced_file)));
	fenced_fops_put(g);
	fenced_fops_put(f);
}

static struct kunit_case fenced_fops_test_cases[] = {
	KUNIT_CASE(fenced_fops_test_shim_mirrors_driver),
	KUNIT_CASE(fenced_fops_test_mmap_shim),
	KUNIT_CASE(fenced_fops_test_refuses_unfenceable),
	KUNIT_CASE(fenced_fops_test_revoke),
	KUNIT_CASE(fenced_fops_test_nests),
	KUNIT_CASE(fenced_fops_test_helpers_unwrapped),
	{}
};

static struct kunit_suite fenced_fops_test_suite = {
	.name = "fenced_fops",
	.test_cases = fenced_fops_test_cases,
};

kunit_test_suite(fenced_fops_test_suite);
