// SPDX-License-Identifier: GPL-2.0
//! `->poll()` returns `EPOLL*` bits, not user space's `POLL*` values, which
//! differ on some architectures: poll returns a typed `PollMask`.
//! expect: error[E0308]
//! expect: expected `PollMask`, found `u32`

use kernel::{
    bindings,
    cdev::{FileOperations, PollMask},
    device::{Bound, Device},
    fs::File,
    prelude::*,
    sync::poll::PollTable,
};

/// Device data.
pub struct Dev;

#[vtable]
impl FileOperations for Dev {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }

    fn poll(&self, _dev: &Device<Bound>, _this: (), _file: &File, _t: PollTable<'_>) -> PollMask {
        bindings::POLLIN
    }
}
