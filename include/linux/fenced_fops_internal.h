/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fence behind the synchronous unregistration of char and misc
 * devices, as the char device and misc device cores (fs/char_dev.c,
 * drivers/char/misc.c) use it. Drivers include <linux/fenced_fops.h>.
 */
#ifndef _LINUX_FENCED_FOPS_INTERNAL_H
#define _LINUX_FENCED_FOPS_INTERNAL_H

#include <linux/fenced_fops.h>

struct fenced_fops *fenced_fops_create(const struct file_operations *fops,
				       void *private_data,
				       const struct fenced_fops_options *opts);
const struct file_operations *fenced_fops_shim(struct fenced_fops *fence);
const struct file_operations *fenced_fops_real(struct fenced_fops *fence);
struct fenced_fops *fenced_fops_from_fops(const struct file_operations *fops);
void fenced_fops_revoke(struct fenced_fops *fence);
void fenced_fops_put(struct fenced_fops *fence);

#ifdef CONFIG_FENCED_FOPS
bool fenced_fops_live(const struct file_operations *fops);
#else
static inline bool fenced_fops_live(const struct file_operations *fops)
{
	return false;
}
#endif

#endif /* _LINUX_FENCED_FOPS_INTERNAL_H */
