// SPDX-License-Identifier: GPL-2.0

//! Char devices whose unregistration is synchronous.
//!
//! C headers: [`include/linux/fenced_fops.h`](srctree/include/linux/fenced_fops.h),
//! [`include/linux/cdev.h`](srctree/include/linux/cdev.h).
//!
//! A device registered in sync mode calls its file operations through a fence: dropping the
//! registration returns only once no file operation of the device runs, and later calls through
//! files that are still open fail with `ENODEV` (poll reports `EPOLLERR | EPOLLHUP`) without
//! reaching the driver. `release` still runs once for every successful open.

use crate::bindings;

/// How the file operations of a sync device are fenced against its unregistration.
///
/// Both give the same guarantees; they differ in cost.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Fence {
    /// A read-write semaphore: every file operation takes it for reading, the unregistration
    /// for writing. Quick to unregister; file operations share one cache line.
    #[default]
    Rwsem,
    /// Sleepable RCU: file operations only touch per-CPU counters; the unregistration waits for
    /// an SRCU grace period.
    Srcu,
}

impl Fence {
    /// The C options for this fence, without a cancel callback.
    pub(crate) fn into_raw(self) -> bindings::fenced_fops_options {
        bindings::fenced_fops_options {
            type_: match self {
                Fence::Rwsem => bindings::fenced_fops_type_FENCED_FOPS_RWSEM,
                Fence::Srcu => bindings::fenced_fops_type_FENCED_FOPS_SRCU,
            },
            cancel: None,
            cancel_data: core::ptr::null_mut(),
        }
    }
}
