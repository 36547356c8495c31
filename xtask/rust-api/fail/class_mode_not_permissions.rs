// SPDX-License-Identifier: GPL-2.0
//! A node mode is permission bits only: devtmpfs ORs the file type in
//! without masking, so `0o104777` would make a setuid node of another
//! type. A class with such a mode does not compile.
//! expect: error[E0080]
//! expect: a node mode has only permission bits

use kernel::cdev::Class;

/// A class whose nodes would be setuid.
pub static CLASS: Class = Class::new(c"setuid_nodes", 0o4666);
