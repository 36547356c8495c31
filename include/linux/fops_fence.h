/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fenced file operations: the machinery behind the synchronous
 * unregistration of char and misc devices (cdev_device_del_sync(),
 * misc_deregister_sync()).
 */
#ifndef _LINUX_FOPS_FENCE_H
#define _LINUX_FOPS_FENCE_H

#include <linux/types.h>

struct file;
struct file_operations;
struct fops_fence;

/**
 * enum fops_fence_type - how file operations are fenced against removal
 * @FOPS_FENCE_RWSEM: a read-write semaphore; every operation takes it for
 *	reading, the unregister takes it for writing. Cheap to remove, a
 *	shared cache line per operation.
 * @FOPS_FENCE_SRCU: sleepable RCU; operations are cheaper (per-CPU
 *	counters), the unregister waits for an SRCU grace period.
 */
enum fops_fence_type {
	FOPS_FENCE_RWSEM,
	FOPS_FENCE_SRCU,
};

/**
 * struct fops_fence_options - options of a synchronous registration
 * @type: the fence, rwsem by default
 * @cancel: called by the synchronous unregister once new file operations
 *	are refused and before it waits for the running ones, to wake the
 *	driver's sleepers (whose wait conditions test fops_fence_revoked());
 *	may be NULL
 * @cancel_data: argument of @cancel
 */
struct fops_fence_options {
	enum fops_fence_type type;
	void (*cancel)(void *cancel_data);
	void *cancel_data;
};

bool fops_fence_revoked(const struct file *file);

/* For the char device and misc device cores. */
struct fops_fence *fops_fence_create(const struct file_operations *fops,
				     void *private_data,
				     const struct fops_fence_options *opts);
const struct file_operations *fops_fence_shim(struct fops_fence *fence);
const struct file_operations *fops_fence_real(struct fops_fence *fence);
struct fops_fence *fops_fence_from_fops(const struct file_operations *fops);
void fops_fence_revoke(struct fops_fence *fence);
void fops_fence_put(struct fops_fence *fence);

#endif /* _LINUX_FOPS_FENCE_H */
