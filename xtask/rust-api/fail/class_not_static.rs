// SPDX-License-Identifier: GPL-2.0
//! A class outlives every node of it: registrations and the class
//! registration take it as `&'static`, so a class on the stack (freed while
//! nodes point at it) does not compile.
//! expect: error[E0597]
//! expect: does not live long enough

use kernel::{cdev::Class, prelude::*};

/// Registers a class that lives on the stack.
pub fn register() -> Result {
    let class = Class::new(c"stack_class", 0);
    let _registered = class.register()?;
    Ok(())
}
