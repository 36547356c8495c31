// SPDX-License-Identifier: GPL-2.0
//! Hole 1: the data of an open file copies a reference out of `&self`, the
//! device's data, which the file's data could outlive. `FileOperations::Ptr`
//! requires `'static`, so the reference cannot be stored.
//! expect: lifetime may not live long enough

use kernel::{
    cdev::FileOperations,
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// Device data.
pub struct Dev {
    /// What every file would point at.
    pub value: u32,
}

#[vtable]
impl FileOperations for Dev {
    type Ptr = KBox<&'static u32>;

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result<Self::Ptr> {
        Ok(KBox::new(&self.value, GFP_KERNEL)?)
    }
}
