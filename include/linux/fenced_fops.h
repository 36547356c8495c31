/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fenced file operations: the machinery behind the synchronous
 * unregistration of char and misc devices (cdev_device_del_sync(),
 * misc_deregister_sync()).
 */
#ifndef _LINUX_FENCED_FOPS_H
#define _LINUX_FENCED_FOPS_H

#include <linux/types.h>

struct file;
struct file_operations;
struct fenced_fops;
struct vm_operations_struct;

/**
 * enum fenced_fops_type - how file operations are fenced against removal
 * @FENCED_FOPS_SRCU: sleepable RCU with SRCU-fast readers, the default;
 *	about 13 instructions added per operation on x86_64, on per-CPU
 *	counters only, and 448 bytes of per-CPU data per possible CPU; the
 *	unregister waits for an SRCU grace period.
 * @FENCED_FOPS_RWSEM: a read-write semaphore; every operation takes it for
 *	reading, the unregister takes it for writing. About 65 instructions
 *	added per operation on x86_64 and a cache line shared by every CPU
 *	that uses the device, but no per-CPU memory, and the unregister costs
 *	little more than the legacy one.
 *
 * Documentation/driver-api/sync_unregister.rst has the measurements.
 */
enum fenced_fops_type {
	FENCED_FOPS_SRCU,
	FENCED_FOPS_RWSEM,
};

/**
 * struct fenced_fops_options - options of a synchronous registration
 * @type: the fence, SRCU by default
 * @cancel: called by the synchronous unregister once new file operations
 *	are refused and before it waits for the running ones, and again every
 *	second (from a workqueue) while operations remain, to wake the
 *	driver's sleepers (whose wait conditions test fenced_fops_revoked());
 *	may be NULL
 * @cancel_data: argument of @cancel
 * @vm_ops: the VMA callbacks the driver's ->mmap() sets, if any: they run
 *	inside the fence too, and call nothing of the driver after the
 *	unregister, which zaps every mapping of the device
 */
struct fenced_fops_options {
	enum fenced_fops_type type;
	void (*cancel)(void *cancel_data);
	void *cancel_data;
	const struct vm_operations_struct *vm_ops;
};

bool fenced_fops_revoked(const struct file *file);
void *fenced_fops_private(const struct file *file);

#endif /* _LINUX_FENCED_FOPS_H */
