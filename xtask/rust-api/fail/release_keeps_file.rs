// SPDX-License-Identifier: GPL-2.0
//! `release` runs on the close path after the file's last reference was
//! dropped: it gets no `File` that could be kept (`ARef<File>`) and used
//! after the file is freed. A release that asks for one does not match the
//! trait.
//! expect: error[E0050]
//! expect: has 4 parameters but the declaration in trait

use kernel::{
    cdev::FileOperations,
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// Device data.
pub struct Dev;

#[vtable]
impl FileOperations for Dev {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }

    fn release(&self, _dev: &Device<Bound>, _this: (), _file: &File) {}
}
