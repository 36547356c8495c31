// SPDX-License-Identifier: GPL-2.0
//! Registrations can be shared and sent like the driver data they live in:
//! `Send` and `Sync` whenever the device's data is.

use kernel::{
    cdev::{FileOperations, MiscRegistration, Registration},
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

fn send_sync<T: Send + Sync>() {}

/// Compiles only if the registrations are `Send` and `Sync`.
pub fn check() {
    send_sync::<Registration<'static, Nop>>();
    send_sync::<MiscRegistration<'static, Nop>>();
}
