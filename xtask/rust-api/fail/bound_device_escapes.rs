// SPDX-License-Identifier: GPL-2.0
//! The `&Device<Bound>` a file operation gets is only true during the call:
//! keeping it beyond (here in a `'static`) does not compile.
//! expect: error[E0521]: borrowed data escapes outside of method

use kernel::{
    cdev::FileOperations,
    device::{Bound, Device},
    fs::File,
    prelude::*,
};

/// Device data.
pub struct Dev;

/// Where the bound device would be kept.
pub fn keep(_dev: &'static Device<Bound>) {}

#[vtable]
impl FileOperations for Dev {
    type Ptr = ();

    fn open(&self, dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        keep(dev);
        Ok(())
    }
}
