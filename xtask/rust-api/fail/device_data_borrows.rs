// SPDX-License-Identifier: GPL-2.0
//! Hole 1: the device's data borrows from the driver. A file operation or
//! `release()` reached through a file held open would read the borrowed
//! value after the driver freed it. `FileOperations` requires `'static`.
//! expect: error[E0478]: lifetime bound not satisfied
//! expect: error[E0495]: cannot infer an appropriate lifetime

use kernel::{
    cdev::FileOperations,
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// Device data that borrows.
pub struct Borrowing<'a>(pub &'a u32);

#[vtable]
impl<'a> FileOperations for Borrowing<'a> {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }
}
