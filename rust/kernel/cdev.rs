// SPDX-License-Identifier: GPL-2.0

//! Char devices whose unregistration is synchronous.
//!
//! C headers: [`include/linux/fenced_fops.h`](srctree/include/linux/fenced_fops.h),
//! [`include/linux/cdev.h`](srctree/include/linux/cdev.h).
//!
//! A device registered in sync mode calls its file operations through a fence: dropping the
//! registration returns only once no file operation of the device runs, and later calls through
//! files that are still open fail with `ENODEV` (poll reports `EPOLLERR | EPOLLHUP`) without
//! reaching the driver. `release` still runs once for every successful open.
//!
//! [`SyncRegistration`] registers a char device of one or more minors, each with its device node,
//! under a bound parent device. Because its file operations can only run while the registration
//! exists, and the registration cannot outlive the parent's binding to its driver, every file
//! operation is handed the parent as a [`&Device<Bound>`](Device<Bound>): it reaches device
//! resources with [`Devres::access`], without the cost of a
//! [`Revocable`](crate::revocable::Revocable) access per call.

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    devres::Devres,
    error::{
        from_err_ptr,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    fs::{
        File,
        Kiocb, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    module::this_module,
    prelude::*,
    str::CStr,
    sync::{
        aref::ARef,
        poll::PollTable, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    },
};
use core::marker::PhantomPinned;

/// How the file operations of a sync device are fenced against its unregistration.
///
/// Both give the same guarantees; they differ in cost. Measured on x86_64, as
/// `Documentation/driver-api/sync_unregister.rst` details: a no-op `ioctl()` through a legacy
/// misc device takes 306 instructions, the rwsem fence adds 69 and the SRCU fence 61.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Fence {
    /// A read-write semaphore: every file operation takes it for reading, the unregistration
    /// for writing. The unregistration costs what a legacy one does; file operations share the
    /// semaphore's cache line across CPUs.
    #[default]
    Rwsem,
    /// Sleepable RCU: file operations only touch per-CPU counters; the unregistration waits for
    /// an SRCU grace period.
    Srcu,
}

impl Fence {
    /// The C options for this fence, without a cancel callback.
    pub(crate) fn into_raw(self) -> bindings::fenced_fops_options {
        bindings::fenced_fops_options {
            type_: match self {
                Fence::Rwsem => bindings::fenced_fops_type_FENCED_FOPS_RWSEM,
                Fence::Srcu => bindings::fenced_fops_type_FENCED_FOPS_SRCU,
            },
            cancel: None,
            cancel_data: core::ptr::null_mut(),
        }
    }
}

/// Poll events: what [`FileOperations::poll`] returns.
pub mod events {
    use crate::bindings;

    /// There is data to read.
    pub const POLLIN: u32 = bindings::POLLIN;
    /// There is normal data to read.
    pub const POLLRDNORM: u32 = bindings::POLLRDNORM;
    /// Writing is possible.
    pub const POLLOUT: u32 = bindings::POLLOUT;
    /// Writing normal data is possible.
    pub const POLLWRNORM: u32 = bindings::POLLWRNORM;
    /// An error condition.
    pub const POLLERR: u32 = bindings::POLLERR;
    /// Hang up.
    pub const POLLHUP: u32 = bindings::POLLHUP;
}

/// Whether the device of `file` was unregistered.
///
/// True once the synchronous unregistration of the device has started; for the wait conditions
/// of file operations that sleep, which [`FileOperations::cancel`] wakes. `file` must be a file
/// of a device registered in sync mode ([`SyncRegistration`], or a misc device of
/// [`register_sync`](crate::miscdevice::MiscDeviceRegistration::register_sync)); for any other
/// file this returns `false` (and warns once).
pub fn is_revoked(file: &File) -> bool {
    // SAFETY: `file` is a valid file for the duration of the call.
    unsafe { bindings::fenced_fops_revoked(file.as_ptr()) }
}

/// The file operations of a char device registered with [`SyncRegistration`].
///
/// The implementing type is the device's data, owned by the registration and shared by all its
/// files; [`FileOperations::Ptr`] is the data of one open file. Every operation but
/// [`release`](FileOperations::release) runs inside the fence, so it gets `&self` and the parent
/// device as a [`&Device<Bound>`](Device<Bound>).
#[vtable]
pub trait FileOperations: Sized + Send + Sync {
    /// What kind of pointer the data of an open file is wrapped in.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Called when the device is opened; the returned pointer is the file's private data.
    ///
    /// `minor` is the index of the opened node among the registration's minors, from 0.
    fn open(&self, dev: &Device<Bound>, file: &File, minor: u32) -> Result<Self::Ptr>;

    /// Called when the last reference to an open file is dropped, or by the unregistration for
    /// a file that is still open then.
    ///
    /// Runs once for every successful [`open`](FileOperations::open), always before the
    /// unregistration returns; it only gets the file's own data.
    fn release(this: Self::Ptr, _file: &File) {
        drop(this);
    }

    /// Read from the device.
    fn read_iter(
        &self,
        _dev: &Device<Bound>,
        _file: &File,
        _kiocb: Kiocb<'_, Self::Ptr>,
        _iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Write to the device.
    fn write_iter(
        &self,
        _dev: &Device<Bound>,
        _file: &File,
        _kiocb: Kiocb<'_, Self::Ptr>,
        _iov: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for ioctls; `compat_ptr_ioctl` serves 32-bit user space unless
    /// `compat_ioctl` is implemented.
    fn ioctl(
        &self,
        _dev: &Device<Bound>,
        _this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Handler for the ioctls of 32-bit user space on 64-bit kernels.
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        &self,
        _dev: &Device<Bound>,
        _this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Poll: registers the file's wait queues in `table` and returns the ready [`events`].
    ///
    /// Pollers never sleep on the driver's wait queues themselves: the fence relays their
    /// wake-ups, and detaches from them at unregistration.
    fn poll(
        &self,
        _dev: &Device<Bound>,
        _this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _table: PollTable<'_>,
    ) -> u32 {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Wakes the sleepers of the device at unregistration.
    ///
    /// Called once new file operations are refused and before the unregistration waits for the
    /// running ones: a file operation that sleeps must wake up here and return, with
    /// [`is_revoked`] in its wait condition.
    fn cancel(&self, _dev: &Device<Bound>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The char device numbers of a [`SyncRegistration`].
///
/// # Invariants
///
/// `first` is the first of `count` char device numbers allocated with `alloc_chrdev_region()`.
struct Region {
    first: bindings::dev_t,
    count: u32,
}

impl Region {
    fn new(name: &'static CStr, count: u32) -> Result<Self> {
        if count == 0 {
            return Err(EINVAL);
        }
        let mut first: bindings::dev_t = 0;
        // SAFETY: `first` is valid for writing and `name` is a valid C string that outlives the
        // region.
        to_result(unsafe {
            bindings::alloc_chrdev_region(&mut first, 0, count, name.as_char_ptr())
        })?;
        // INVARIANT: The numbers were allocated above.
        Ok(Self { first, count })
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: By the type invariants, the numbers were allocated with
        // `alloc_chrdev_region()`.
        unsafe { bindings::unregister_chrdev_region(self.first, self.count) };
    }
}

/// Drops our references to `devs`, which frees the devices that were never added.
///
/// # Safety
///
/// Each of `devs` is an initialized device holding a reference that is ours.
unsafe fn put_devices(devs: &[*mut bindings::device]) {
    for &dev in devs {
        // SAFETY: The requirements of this function.
        unsafe { bindings::put_device(dev) };
    }
}

/// The C side of a [`SyncRegistration`]: the cdev and the devices of its nodes.
///
/// # Invariants
///
/// `cdev` was allocated with `cdev_alloc_sync()` and added with `cdev_add()` for the
/// registration's numbers; `devs` are the devices of its nodes, one per number in order, each
/// initialized, added, and holding a reference that is ours.
struct Node {
    cdev: *mut bindings::cdev,
    devs: KVec<*mut bindings::device>,
}

// SAFETY: The C functions `Node` calls on drop may be called from any thread.
unsafe impl Send for Node {}

impl Drop for Node {
    fn drop(&mut self) {
        for &dev in self.devs.iter().rev() {
            // SAFETY: By the type invariants, `dev` was added.
            unsafe { bindings::device_del(dev) };
        }
        // SAFETY: By the type invariants, the cdev was added. This returns once no file
        // operation of the device runs; later calls fail with `ENODEV` without reaching the
        // driver.
        unsafe { bindings::cdev_del_sync(self.cdev) };
        // SAFETY: By the type invariants, these references are ours.
        unsafe { put_devices(&self.devs) };
    }
}

/// A char device registered in sync mode under a bound parent device.
///
/// Allocates char device numbers, one for each minor, registers a cdev whose file operations
/// are `T`'s for all of them, and a device node for each (children of the parent); the file
/// operations tell the minors apart by the index [`FileOperations::open`] gets. Dropping the
/// registration is the synchronous unregistration: it returns once no file operation of the
/// device runs, after [`FileOperations::cancel`] woke the sleepers; files that stay open fail
/// with `ENODEV` from then on, and [`FileOperations::release`] still runs for each. The
/// registration is also device-managed: if it is still registered when the parent is unbound,
/// the unbind unregisters it (synchronously as well).
///
/// Keep it in the driver's data, or drop it earlier: the driver's data is dropped at unbind
/// before any device resource ([`Devres`]) is released, so every resource the file operations
/// reach through [`Devres::access`] outlives them.
///
/// # Examples
///
/// Devices under a faux parent, of one and of two minors, registered and dropped with each
/// fence; the drop calls [`FileOperations::cancel`] before it waits.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use kernel::{
///     cdev::{Fence, FileOperations, SyncRegistration},
///     device::{Bound, Device},
///     faux,
///     fs::File,
///     prelude::*,
/// };
///
/// static CANCELLED: AtomicU32 = AtomicU32::new(0);
///
/// struct Nop;
///
/// #[vtable]
/// impl FileOperations for Nop {
///     type Ptr = ();
///
///     fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result {
///         Ok(())
///     }
///
///     fn cancel(&self, _dev: &Device<Bound>) {
///         CANCELLED.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let parent = faux::Registration::new(c"rust_doctest_cdev", None)?;
/// let dev: &Device<Bound> = parent.as_ref().as_ref();
/// for fence in [Fence::Rwsem, Fence::Srcu] {
///     let reg = KBox::pin_init(
///         SyncRegistration::new(dev, c"rust_doctest_cdev0", fence, Ok(Nop)),
///         GFP_KERNEL,
///     )?;
///     // The synchronous unregistration.
///     drop(reg);
///
///     // Nodes `rust_doctest_cdev_m0` and `rust_doctest_cdev_m1`.
///     let reg = KBox::pin_init(
///         SyncRegistration::with_minors(dev, c"rust_doctest_cdev_m", 2, fence, Ok(Nop)),
///         GFP_KERNEL,
///     )?;
///     drop(reg);
/// }
/// assert_eq!(CANCELLED.load(Ordering::Relaxed), 4);
///
/// // A registration needs a minor.
/// assert_eq!(
///     KBox::pin_init(
///         SyncRegistration::with_minors(dev, c"rust_doctest_cdev_z", 0, Fence::Rwsem, Ok(Nop)),
///         GFP_KERNEL,
///     )
///     .err(),
///     Some(EINVAL)
/// );
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// Until `node` is revoked, the registered cdev's fence was created with a pointer to `self` as
/// its private data and cancel data, and the cdev and its nodes use the numbers of `region`.
#[pin_data]
pub struct SyncRegistration<T: FileOperations> {
    // Dropped first: unregisters and waits for the file operations, which use `data` and
    // `parent`. The file operations never touch `node`.
    node: Devres<Node>,
    #[pin]
    data: T,
    parent: ARef<Device>,
    // Dropped after the node: the numbers are given back once the cdev is gone.
    region: Region,
    #[pin]
    _pin: PhantomPinned,
}

impl<T: FileOperations> SyncRegistration<T> {
    /// Registers a char device of one minor, whose node is named `name`, under `parent`, fenced
    /// by `fence`, with `data` as the device's data.
    ///
    /// Fails with `EOPNOTSUPP` if the file operations cannot be fenced.
    pub fn new<'a>(
        parent: &'a Device<Bound>,
        name: &'static CStr,
        fence: Fence,
        data: impl PinInit<T, Error> + 'a,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        Self::init(parent, name, 1, false, fence, data)
    }

    /// Registers a char device of `minors` minors under `parent`, fenced by `fence`, with `data`
    /// as the device's data. The nodes are named `name` followed by the index of their minor,
    /// from 0.
    ///
    /// Fails with `EINVAL` if `minors` is 0, and with `EOPNOTSUPP` if the file operations cannot
    /// be fenced.
    pub fn with_minors<'a>(
        parent: &'a Device<Bound>,
        name: &'static CStr,
        minors: u32,
        fence: Fence,
        data: impl PinInit<T, Error> + 'a,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        Self::init(parent, name, minors, true, fence, data)
    }

    fn init<'a>(
        parent: &'a Device<Bound>,
        name: &'static CStr,
        minors: u32,
        numbered: bool,
        fence: Fence,
        data: impl PinInit<T, Error> + 'a,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        // The initializer names the fields it has initialized after them.
        let dev = parent;

        try_pin_init!(&this in Self {
            data <- data,
            parent: dev.into(),
            region: Region::new(name, minors)?,
            // Registered last: the file operations may run as soon as the cdev is added, and
            // they use `data`, `parent` and `region`.
            node: Devres::new(
                dev,
                // SAFETY: `this` is pinned, `data`, `parent` and `region` are initialized;
                // `node` is dropped, and the device unregistered, before them and before the
                // memory of `this` goes.
                unsafe { Self::register(dev, name, numbered, fence, this.as_ptr()) },
            )?,
            _pin: PhantomPinned,
        })
    }

    /// Allocates and initializes the device of the node of number `devt`, a child of `parent`,
    /// named `name`, followed by `index` if given.
    fn new_device(
        parent: &Device<Bound>,
        name: &'static CStr,
        devt: bindings::dev_t,
        index: Option<u32>,
    ) -> Result<*mut bindings::device> {
        let dev = KBox::<Opaque<bindings::device>>::new(Opaque::zeroed(), GFP_KERNEL)?;
        let dev = KBox::into_raw(dev).cast::<bindings::device>();

        // SAFETY: `dev` is a zeroed `struct device` that we own; from here on it is freed by
        // `release_device()` when its last reference is put.
        unsafe {
            bindings::device_initialize(dev);
            (*dev).parent = parent.as_raw();
            (*dev).devt = devt;
            (*dev).release = Some(Self::release_device);
        }

        let ret = match index {
            // SAFETY: `dev` is initialized; the format takes one C string.
            None => unsafe { bindings::dev_set_name(dev, c"%s".as_char_ptr(), name.as_char_ptr()) },
            // SAFETY: `dev` is initialized; the format takes a C string and an unsigned int.
            Some(index) => unsafe {
                bindings::dev_set_name(dev, c"%s%u".as_char_ptr(), name.as_char_ptr(), index)
            },
        };
        if ret != 0 {
            // SAFETY: `dev` is initialized and the reference is ours.
            unsafe { bindings::put_device(dev) };
            return Err(Error::from_errno(ret));
        }
        Ok(dev)
    }

    /// Registers the cdev for the registration's numbers, and a node for each.
    ///
    /// # Safety
    ///
    /// `this` must point to a pinned `Self` whose `data`, `parent` and `region` are initialized,
    /// and must stay valid until the returned [`Node`] is dropped.
    unsafe fn register(
        parent: &Device<Bound>,
        name: &'static CStr,
        numbered: bool,
        fence: Fence,
        this: *mut Self,
    ) -> Result<Node> {
        // SAFETY: `region` is initialized (the safety requirements).
        let (first, count) = unsafe { ((*this).region.first, (*this).region.count) };

        let mut opts = fence.into_raw();
        if T::HAS_CANCEL {
            opts.cancel = Some(Self::cancel_callback);
            opts.cancel_data = this.cast();
        }

        let mut devs = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for index in 0..count {
            let dev = Self::new_device(parent, name, first + index, numbered.then_some(index));
            if let Err(err) = dev.and_then(|dev| {
                devs.push_within_capacity(dev).map_err(|_| {
                    // SAFETY: `dev` is initialized and the reference is ours.
                    unsafe { bindings::put_device(dev) };
                    ENOMEM
                })
            }) {
                // SAFETY: Initialized devices whose references are ours.
                unsafe { put_devices(&devs) };
                return Err(err);
            }
        }

        // SAFETY: The table is static; `this` stays valid for as long as the cdev is registered
        // (the safety requirements), and `opts` is only read during the call.
        let cdev = unsafe { bindings::cdev_alloc_sync(Self::VTABLE_PTR, this.cast(), &opts) };
        if let Err(err) = from_err_ptr(cdev) {
            // SAFETY: Initialized devices whose references are ours.
            unsafe { put_devices(&devs) };
            return Err(err);
        }

        // SAFETY: `cdev` is valid and not added; the first device is initialized. As
        // `cdev_device_add()` does, the first node's device is the parent of the cdev, which
        // holds a reference to it from `cdev_add()` on.
        let ret = unsafe {
            bindings::cdev_set_parent(cdev, &raw mut (*devs[0]).kobj);
            bindings::cdev_add(cdev, first, count)
        };
        if ret != 0 {
            // SAFETY: The cdev was not added: `cdev_put_sync()` undoes `cdev_alloc_sync()` after a
            // failed `cdev_add()`, then we drop our references to the devices.
            unsafe {
                bindings::cdev_put_sync(cdev);
                put_devices(&devs);
            }
            return Err(Error::from_errno(ret));
        }

        for (added, &dev) in devs.iter().enumerate() {
            // SAFETY: `dev` is initialized and not added yet.
            let ret = unsafe { bindings::device_add(dev) };
            if ret != 0 {
                // SAFETY: The first `added` devices and the cdev were added; remove them, then
                // drop our references to the devices.
                unsafe {
                    for &dev in devs[..added].iter().rev() {
                        bindings::device_del(dev);
                    }
                    bindings::cdev_del_sync(cdev);
                    put_devices(&devs);
                }
                return Err(Error::from_errno(ret));
            }
        }

        // INVARIANT: `cdev` was added for the registration's numbers, and `devs` are the
        // devices of its nodes, in order, added, with our references.
        Ok(Node { cdev, devs })
    }

    /// Returns the device's data.
    pub fn data(&self) -> &T {
        &self.data
    }

    /// Returns the device's data and its bound parent, for a file operation or the cancel
    /// callback.
    ///
    /// # Safety
    ///
    /// `this` is the pointer the fence was created with, the caller runs inside the fence (a
    /// file operation other than a `release` after the unregistration) or is the cancel
    /// callback, and `'a` ends when it returns.
    unsafe fn fenced<'a>(this: *const Self) -> (&'a T, &'a Device<Bound>) {
        // SAFETY: The fence was created with a pointer to this pinned registration, which
        // outlives every file operation and the cancel callback: the registration's memory is
        // only released after `node` is dropped (pinning, and `node` is its first field), and
        // dropping `node`, or its devres release, unregisters the cdev, which refuses new file
        // operations and waits for the running ones. Only `data` and `parent` are borrowed, never
        // `node`, which its drop may be borrowing mutably at the same time.
        let data = unsafe { &(*this).data };
        // SAFETY: As above for the pointer. The parent is bound for all of `'a`: the cdev is
        // unregistered when `node` is dropped, which happens either when the registration is
        // dropped, while the parent is bound since `node` was not released by devres yet, or at
        // the latest when devres releases `node` during the parent's unbind, before the parent
        // is marked unbound. The unregistration returns only once no file operation runs, so
        // none runs, and no cancel callback either, once the parent is unbound.
        let dev = unsafe { (*this).parent.as_bound() };
        (data, dev)
    }

    /// Returns the device's data and its bound parent, for a file operation.
    ///
    /// # Safety
    ///
    /// `file` is a file of a `SyncRegistration<T>`, inside a fenced file operation, and `'a`
    /// ends when the operation returns.
    unsafe fn from_file<'a>(file: *mut bindings::file) -> (&'a T, &'a Device<Bound>) {
        // SAFETY: The file belongs to a sync device whose fence was created with a pointer to its
        // `SyncRegistration<T>` as private data (type invariants); the rest are the requirements
        // of this function.
        unsafe { Self::fenced(bindings::fenced_fops_private(file).cast::<Self>()) }
    }

    /// # Safety
    ///
    /// Called by the device core on the last put of a device allocated by `register()`.
    unsafe extern "C" fn release_device(dev: *mut bindings::device) {
        // SAFETY: `dev` was allocated as a `KBox<Opaque<bindings::device>>` in `register()`.
        drop(unsafe { KBox::from_raw(dev.cast::<Opaque<bindings::device>>()) });
    }

    /// # Safety
    ///
    /// Called by the fence with the cancel data given in `register()`.
    unsafe extern "C" fn cancel_callback(data: *mut c_void) {
        // SAFETY: The cancel data is the pointer to the registration the fence was created with,
        // and the fence calls this from the unregistration, before it returns.
        let (data, dev) = unsafe { Self::fenced(data.cast::<Self>()) };
        data.cancel(dev);
    }

    /// # Safety
    ///
    /// `file` is being opened on a sync cdev of a `SyncRegistration<T>`, inside its fence.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `file` is being opened on a sync cdev (the requirements of this function),
        // whose fence was created with a pointer to its `SyncRegistration<T>` as private data
        // (type invariants).
        let reg = unsafe { bindings::fenced_fops_private(file) }.cast::<Self>();
        // SAFETY: `reg` is the pointer the fence was created with, and the open call is fenced.
        let (this, dev) = unsafe { Self::fenced(reg) };
        // SAFETY: The registration outlives the fenced call, and its `region` is only dropped
        // after the cdev was unregistered. The inode is the node of one of the registration's
        // numbers, which share their major.
        let minor = unsafe { (*inode).i_rdev - (*reg).region.first };
        // SAFETY: The file is valid for the duration of the call, with no fdget_pos region.
        let f = unsafe { File::from_raw_file(file) };
        match this.open(dev, f, minor) {
            Ok(ptr) => {
                // SAFETY: The open call of a file owns its private data; from now on every
                // other operation reads it as `T::Ptr`.
                unsafe { (*file).private_data = ptr.into_foreign() };
                0
            }
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` is being released after a successful `open()`.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The release call owns the private data set by `open()`.
        let ptr = unsafe { T::Ptr::from_foreign((*file).private_data) };
        // SAFETY: The file is valid for the duration of the call, with no fdget_pos region.
        T::release(ptr, unsafe { File::from_raw_file(file) });
        0
    }

    /// Runs `op` with the device's data, the bound parent, the data of the open `file` and
    /// `file`, for the file operations that only get a file.
    ///
    /// # Safety
    ///
    /// A fenced call on an open file of a `SyncRegistration<T>`.
    unsafe fn on_file<R>(
        file: *mut bindings::file,
        op: impl for<'a> FnOnce(
            &'a T,
            &'a Device<Bound>,
            <T::Ptr as ForeignOwnable>::Borrowed<'a>,
            &'a File,
        ) -> R,
    ) -> R {
        // SAFETY: The call is fenced (the requirements of this function).
        let (this, dev) = unsafe { Self::from_file(file) };
        // SAFETY: The file is open, so its private data is the `T::Ptr` from `open()`.
        let ptr = unsafe { T::Ptr::borrow((*file).private_data) };
        // SAFETY: The file is valid for the duration of the call, with no fdget_pos region.
        let f = unsafe { File::from_raw_file(file) };
        op(this, dev, ptr, f)
    }

    /// Runs `op` with the device's data, the bound parent, the file and `kiocb`, for
    /// `read_iter` and `write_iter`.
    ///
    /// # Safety
    ///
    /// A fenced call with a valid `kiocb` of an open file of a `SyncRegistration<T>`.
    unsafe fn on_kiocb(
        kiocb: *mut bindings::kiocb,
        op: impl FnOnce(&T, &Device<Bound>, &File, Kiocb<'_, T::Ptr>) -> Result<usize>,
    ) -> isize {
        // SAFETY: The call is fenced (the requirements of this function).
        let (this, dev) = unsafe { Self::from_file((*kiocb).ki_filp) };
        // SAFETY: The file is valid for the duration of the call, with no fdget_pos region.
        let file = unsafe { File::from_raw_file((*kiocb).ki_filp) };
        // SAFETY: The kiocb is valid for the call and its file's private data is a `T::Ptr`.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        match op(this, dev, file, kiocb) {
            Ok(n) => n as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    fn to_c_long(ret: Result<isize>) -> c_long {
        match ret {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// A fenced call with a valid `kiocb` of a file of a `SyncRegistration<T>`, and an
    /// `iov_iter` for writing.
    unsafe extern "C" fn read_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: A valid `iov_iter` for writing.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        // SAFETY: A fenced call with a valid `kiocb`.
        unsafe { Self::on_kiocb(kiocb, |this, dev, f, k| this.read_iter(dev, f, k, iov)) }
    }

    /// # Safety
    ///
    /// A fenced call with a valid `kiocb` of a file of a `SyncRegistration<T>`, and an
    /// `iov_iter` for reading.
    unsafe extern "C" fn write_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: A valid `iov_iter` for reading.
        let iov = unsafe { IovIterSource::from_raw(iter) };
        // SAFETY: A fenced call with a valid `kiocb`.
        unsafe { Self::on_kiocb(kiocb, |this, dev, f, k| this.write_iter(dev, f, k, iov)) }
    }

    /// # Safety
    ///
    /// A fenced call on an open file of a `SyncRegistration<T>`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: A fenced call on an open file.
        Self::to_c_long(unsafe {
            Self::on_file(file, |this, dev, ptr, f| this.ioctl(dev, ptr, f, cmd, arg))
        })
    }

    /// # Safety
    ///
    /// A fenced call on an open file of a `SyncRegistration<T>`.
    #[cfg(CONFIG_COMPAT)]
    unsafe extern "C" fn compat_ioctl(
        file: *mut bindings::file,
        cmd: c_uint,
        arg: c_ulong,
    ) -> c_long {
        // SAFETY: A fenced call on an open file.
        Self::to_c_long(unsafe {
            Self::on_file(file, |this, dev, ptr, f| {
                this.compat_ioctl(dev, ptr, f, cmd, arg)
            })
        })
    }

    /// # Safety
    ///
    /// A fenced call on an open file of a `SyncRegistration<T>`; `table` is null or valid for
    /// the call.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        table: *mut bindings::poll_table,
    ) -> bindings::__poll_t {
        // SAFETY: `table` is null or valid for the duration of the call.
        let table = unsafe { PollTable::from_raw(table) };
        // SAFETY: A fenced call on an open file.
        unsafe { Self::on_file(file, |this, dev, ptr, f| this.poll(dev, ptr, f, table)) }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: if T::HAS_READ_ITER {
            Some(Self::read_iter)
        } else {
            None
        },
        write_iter: if T::HAS_WRITE_ITER {
            Some(Self::write_iter)
        } else {
            None
        },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        poll: if T::HAS_POLL { Some(Self::poll) } else { None },
        owner: this_module::<T::OwnerModule>().as_ptr(),
        ..pin_init::zeroed()
    };

    const VTABLE_PTR: *const bindings::file_operations = &Self::VTABLE;
}
