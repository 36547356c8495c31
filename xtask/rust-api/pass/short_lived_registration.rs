// SPDX-License-Identifier: GPL-2.0
//! A registration made and dropped inside a callback that holds the
//! `&Device<Bound>`, and device data holding `'static` references.

use kernel::{
    cdev::{Class, Fence, FileOperations, Registration},
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// The class of the nodes.
pub static CLASS: Class = Class::new(c"rust_api_gate", 0);

/// A table every device shares.
pub static TABLE: [u8; 4] = [1, 2, 3, 4];

/// Device data with a `'static` reference.
pub struct Dev(&'static [u8; 4]);

#[vtable]
impl FileOperations for Dev {
    type Ptr = KBox<&'static [u8; 4]>;

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result<Self::Ptr> {
        Ok(KBox::new(self.0, GFP_KERNEL)?)
    }
}

/// Registers, and unregisters before returning.
pub fn probe_and_test(dev: &Device<Bound>) -> Result {
    // SAFETY: Dropped at the end of this function, while `dev` is bound.
    let reg = unsafe {
        Registration::with_minors(dev, &CLASS, c"gate_short", 2, Fence::Srcu, Ok(Dev(&TABLE)))
    };
    let reg = KBox::pin_init(reg, GFP_KERNEL)?;
    drop(reg);
    Ok(())
}
