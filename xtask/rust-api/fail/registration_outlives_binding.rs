// SPDX-License-Identifier: GPL-2.0
//! Hole 2, dropped late: even with the promise to drop it, a registration
//! moved somewhere `'static` (a global, a work item, an `Arc` kept by a
//! timer) could be dropped after the unbind. A registration is bound to the
//! lifetime of the `&Device<Bound>` it was made with.
//! expect: lifetime may not live long enough

use kernel::{
    cdev::{Class, Fence, FileOperations, Registration},
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// The class of the nodes.
pub static CLASS: Class = Class::new(c"rust_api_gate", 0);

/// Device data.
pub struct Nop;

#[vtable]
impl FileOperations for Nop {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }
}

/// Keeps the registration beyond the binding.
pub fn keep(dev: &Device<Bound>) -> Result<Pin<KBox<Registration<'static, Nop>>>> {
    // SAFETY: Wrongly claimed: dropped by whoever holds it, maybe after the unbind.
    let reg = unsafe { Registration::new(dev, &CLASS, c"late", Fence::Rwsem, Ok(Nop)) };
    KBox::pin_init(reg, GFP_KERNEL)
}
