// SPDX-License-Identifier: GPL-2.0
//! Hole 2, for misc devices: `MiscRegistration::new()` is `unsafe` for the
//! same reason as `Registration::new()`.
//! expect: error[E0133]
//! expect: call to unsafe function

use kernel::{
    cdev::{Fence, FileOperations, MiscRegistration},
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

/// Registers a misc device without promising to drop it.
pub fn register(dev: &Device<Bound>) -> Result<Pin<KBox<MiscRegistration<'_, Nop>>>> {
    KBox::pin_init(
        MiscRegistration::new(dev, c"misc", 0, Fence::Srcu, Ok(Nop)),
        GFP_KERNEL,
    )
}
