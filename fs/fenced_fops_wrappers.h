/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The wrappers of fs/fenced_fops.c that only enter the fence, call the
 * driver and leave the fence. Included once per fence type, with
 * FENCE_TYPE the type and FENCE_FN(name) the name of a wrapper.
 */

#ifndef FENCE_TYPE
#error "only fs/fenced_fops.c includes this, with FENCE_TYPE defined"
#endif

static loff_t FENCE_FN(llseek)(struct file *file, loff_t offset, int whence)
{
	return FENCED(file, loff_t, drv->llseek(file, offset, whence));
}

static ssize_t FENCE_FN(read)(struct file *file, char __user *buf, size_t len,
			      loff_t *ppos)
{
	return FENCED(file, ssize_t, drv->read(file, buf, len, ppos));
}

static ssize_t FENCE_FN(write)(struct file *file, const char __user *buf,
			       size_t len, loff_t *ppos)
{
	return FENCED(file, ssize_t, drv->write(file, buf, len, ppos));
}

static ssize_t FENCE_FN(read_iter)(struct kiocb *iocb, struct iov_iter *to)
{
	return FENCED(iocb->ki_filp, ssize_t, drv->read_iter(iocb, to));
}

static ssize_t FENCE_FN(write_iter)(struct kiocb *iocb, struct iov_iter *from)
{
	return FENCED(iocb->ki_filp, ssize_t, drv->write_iter(iocb, from));
}

static long FENCE_FN(unlocked_ioctl)(struct file *file, unsigned int cmd,
				     unsigned long arg)
{
	return FENCED(file, long, drv->unlocked_ioctl(file, cmd, arg));
}

static long FENCE_FN(compat_ioctl)(struct file *file, unsigned int cmd,
				   unsigned long arg)
{
	return FENCED(file, long, drv->compat_ioctl(file, cmd, arg));
}

/* Called by every close(): after the revoke it must not fail. */
static int FENCE_FN(flush)(struct file *file, fl_owner_t id)
{
	return FENCED_OR(file, int, 0, drv->flush(file, id));
}

static int FENCE_FN(fsync)(struct file *file, loff_t start, loff_t end,
			   int datasync)
{
	return FENCED(file, int, drv->fsync(file, start, end, datasync));
}

static ssize_t FENCE_FN(splice_read)(struct file *in, loff_t *ppos,
				     struct pipe_inode_info *pipe, size_t len,
				     unsigned int flags)
{
	return FENCED(in, ssize_t, drv->splice_read(in, ppos, pipe, len, flags));
}

static ssize_t FENCE_FN(splice_write)(struct pipe_inode_info *pipe,
				      struct file *out, loff_t *ppos,
				      size_t len, unsigned int flags)
{
	return FENCED(out, ssize_t, drv->splice_write(pipe, out, ppos, len, flags));
}

static long FENCE_FN(fallocate)(struct file *file, int mode, loff_t offset,
				loff_t len)
{
	return FENCED(file, long, drv->fallocate(file, mode, offset, len));
}

/*
 * After the revoke, open and close of a VMA call nothing of the driver.
 * They return nothing: the body's value is a 0 nobody reads.
 */
static void FENCE_FN(vm_open)(struct vm_area_struct *vma)
{
	VMA_FENCED_OR(vma, int, 0, (drv->open(vma), 0));
}

static void FENCE_FN(vm_close)(struct vm_area_struct *vma)
{
	VMA_FENCED_OR(vma, int, 0, (drv->close(vma), 0));
}

static int FENCE_FN(vm_may_split)(struct vm_area_struct *vma,
				  unsigned long addr)
{
	return VMA_FENCED_OR(vma, int, 0, drv->may_split(vma, addr));
}

static int FENCE_FN(vm_mremap)(struct vm_area_struct *vma)
{
	return VMA_FENCED_OR(vma, int, 0, drv->mremap(vma));
}

static int FENCE_FN(vm_mprotect)(struct vm_area_struct *vma,
				 unsigned long start, unsigned long end,
				 unsigned long newflags)
{
	return VMA_FENCED_OR(vma, int, 0, drv->mprotect(vma, start, end, newflags));
}

/*
 * After the revoke a fault gets SIGBUS. Without a driver ->fault() the core
 * gives SIGBUS for a page the revoke zapped, as for any hole.
 */
static vm_fault_t FENCE_FN(vm_fault)(struct vm_fault *vmf)
{
	return VMA_FENCED_OR(vmf->vma, vm_fault_t, VM_FAULT_SIGBUS, drv->fault(vmf));
}

static vm_fault_t FENCE_FN(vm_huge_fault)(struct vm_fault *vmf,
					  unsigned int order)
{
	return VMA_FENCED_OR(vmf->vma, vm_fault_t, VM_FAULT_SIGBUS,
			     drv->huge_fault(vmf, order));
}

static vm_fault_t FENCE_FN(vm_map_pages)(struct vm_fault *vmf,
					 pgoff_t start_pgoff, pgoff_t end_pgoff)
{
	return VMA_FENCED_OR(vmf->vma, vm_fault_t, 0,
			     drv->map_pages(vmf, start_pgoff, end_pgoff));
}

static unsigned long FENCE_FN(vm_pagesize)(struct vm_area_struct *vma)
{
	return VMA_FENCED_OR(vma, unsigned long, PAGE_SIZE, drv->pagesize(vma));
}

static vm_fault_t FENCE_FN(vm_page_mkwrite)(struct vm_fault *vmf)
{
	return VMA_FENCED_OR(vmf->vma, vm_fault_t, VM_FAULT_SIGBUS,
			     drv->page_mkwrite(vmf));
}

static vm_fault_t FENCE_FN(vm_pfn_mkwrite)(struct vm_fault *vmf)
{
	return VMA_FENCED_OR(vmf->vma, vm_fault_t, VM_FAULT_SIGBUS,
			     drv->pfn_mkwrite(vmf));
}

static int FENCE_FN(vm_access)(struct vm_area_struct *vma, unsigned long addr,
			       void *buf, int len, int write)
{
	return VMA_FENCED_OR(vma, int, -ENODEV, drv->access(vma, addr, buf, len, write));
}

static const char *FENCE_FN(vm_name)(struct vm_area_struct *vma)
{
	return VMA_FENCED_OR(vma, const char *, NULL, drv->name(vma));
}

/* Every wrapper above, for fenced_fops_create() to pick from. */
static const struct file_operations FENCE_FN(fops) = {
	.llseek		= FENCE_FN(llseek),
	.read		= FENCE_FN(read),
	.write		= FENCE_FN(write),
	.read_iter	= FENCE_FN(read_iter),
	.write_iter	= FENCE_FN(write_iter),
	.unlocked_ioctl	= FENCE_FN(unlocked_ioctl),
	.compat_ioctl	= FENCE_FN(compat_ioctl),
	.flush		= FENCE_FN(flush),
	.fsync		= FENCE_FN(fsync),
	.splice_read	= FENCE_FN(splice_read),
	.splice_write	= FENCE_FN(splice_write),
	.fallocate	= FENCE_FN(fallocate),
};

static const struct vm_operations_struct FENCE_FN(vm_ops) = {
	.open		= FENCE_FN(vm_open),
	.close		= FENCE_FN(vm_close),
	.may_split	= FENCE_FN(vm_may_split),
	.mremap		= FENCE_FN(vm_mremap),
	.mprotect	= FENCE_FN(vm_mprotect),
	.fault		= FENCE_FN(vm_fault),
	.huge_fault	= FENCE_FN(vm_huge_fault),
	.map_pages	= FENCE_FN(vm_map_pages),
	.pagesize	= FENCE_FN(vm_pagesize),
	.page_mkwrite	= FENCE_FN(vm_page_mkwrite),
	.pfn_mkwrite	= FENCE_FN(vm_pfn_mkwrite),
	.access		= FENCE_FN(vm_access),
	.name		= FENCE_FN(vm_name),
};

#undef FENCE_TYPE
#undef FENCE_FN
