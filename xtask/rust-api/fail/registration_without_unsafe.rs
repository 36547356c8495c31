// SPDX-License-Identifier: GPL-2.0
//! Hole 2: a registration that is leaked, or dropped after the parent's
//! unbind, keeps calling file operations that are handed the parent as
//! `&Device<Bound>` while devres frees the resources they reach. Creating a
//! registration is `unsafe`: the caller promises to drop it, as upstream's
//! irq, DRM and auxiliary registrations ask.
//! expect: error[E0133]
//! expect: call to unsafe function

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

/// Registers and leaks.
pub fn leak(dev: &Device<Bound>) -> Result {
    let reg = KBox::pin_init(
        Registration::new(dev, &CLASS, c"leaked", Fence::Rwsem, Ok(Nop)),
        GFP_KERNEL,
    )?;
    core::mem::forget(reg);
    Ok(())
}
