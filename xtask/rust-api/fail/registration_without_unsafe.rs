// SPDX-License-Identifier: GPL-2.0
//! Hole 2: a registration that is leaked, or dropped after the parent's
//! unbind, keeps calling file operations that are handed the parent as
//! `&Device<Bound>` while devres frees the resources they reach. Creating a
//! registration is `unsafe`: the caller promises to drop it, as upstream's
//! irq, DRM and auxiliary registrations ask.
//! expect: error[E0133]
//! expect: call to unsafe function

use kernel::{
    cdev::{Fence, FileOperations, Registration},
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

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
        Registration::new(dev, c"leaked", Fence::Rwsem, Ok(Nop)),
        GFP_KERNEL,
    )?;
    core::mem::forget(reg);
    Ok(())
}
