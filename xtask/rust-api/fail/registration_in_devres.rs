// SPDX-License-Identifier: GPL-2.0
//! Hole 2, devres order: a registration kept in a `Devres` is released at
//! unbind in reverse order of creation, after the resources created later,
//! which its file operations could still reach. `Devres` needs `'static`
//! data, which a registration is not.
//! expect: error[E0521]: borrowed data escapes outside of function

use kernel::{
    cdev::{Class, Fence, FileOperations, Registration},
    device::{Bound, Device},
    devres::Devres,
    fs::File,
    prelude::*,
};

/// The class of the nodes.
pub static CLASS: Class = Class::new(c"rust_api_gate", 0);

/// Device data.
pub struct Nop;

#[vtable]
impl FileOperations for Nop {
    type Ptr = ();

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
        Ok(())
    }
}

/// Hands the registration to devres, which releases it at unbind.
pub fn managed(dev: &Device<Bound>) -> Result {
    // SAFETY: Wrongly claimed: devres drops it, in its own order.
    let reg = unsafe { Registration::new(dev, &CLASS, c"managed", Fence::Rwsem, Ok(Nop)) };
    let _managed = Devres::new(dev, KBox::pin_init(reg, GFP_KERNEL)?)?;
    Ok(())
}
