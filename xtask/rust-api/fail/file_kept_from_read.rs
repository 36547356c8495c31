// SPDX-License-Identifier: GPL-2.0
//! Files are streams, so `read(2)` may call `read_iter` inside an
//! `fdget_pos()` region that did not take the file's position lock: the
//! file is a `LocalFile` there, which cannot be shared with another thread.
//! expect: error[E0277]
//! expect: cannot be shared between threads safely

use kernel::{
    cdev::FileOperations,
    device::{Bound, Device},
    fs::{File, Kiocb, LocalFile},
    iov::IovIterDest,
    prelude::*,
};

/// Device data.
pub struct Dev;

fn send<T: Send>(_: T) {}

#[vtable]
impl FileOperations for Dev {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }

    fn read_iter(
        &self,
        _dev: &Device<Bound>,
        file: &LocalFile,
        _kiocb: Kiocb<'_, ()>,
        _iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        send(file);
        Ok(0)
    }
}
