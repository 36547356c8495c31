// SPDX-License-Identifier: GPL-2.0

//! Char and misc devices whose unregistration is synchronous.
//!
//! C headers: [`include/linux/fenced_fops.h`](srctree/include/linux/fenced_fops.h),
//! [`include/linux/cdev.h`](srctree/include/linux/cdev.h),
//! [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).
//!
//! A device registered in sync mode calls its file operations through a fence: dropping the
//! registration returns only once no file operation of the device runs and every open file was
//! released, and later calls through files that are still open fail with `ENODEV` (poll reports
//! `EPOLLERR | EPOLLHUP`) without reaching the driver.
//!
//! [`Registration`] registers a char device of one or more minors, each with its device node, and
//! [`MiscRegistration`] a misc device, both under a bound parent device and with the file
//! operations of one trait, [`FileOperations`]. Every file operation, `release` included, runs
//! while the registration exists, and a registration lives no longer than the parent's binding
//! to its driver (its constructors are `unsafe` for that: it must be dropped, not leaked), so
//! every file operation is handed the parent as a [`&Device<Bound>`](Device<Bound>): it reaches
//! device resources with [`Devres::access`](crate::devres::Devres::access), without the cost of
//! a [`Revocable`](crate::revocable::Revocable) access per call.
//!
//! The device's data and the data of each open file are `'static`: they are reached from file
//! operations that user space starts at any time until the unregistration, and may not borrow
//! from anything the driver could free before it.

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    error::{
        from_err_ptr,
        to_result,
        VTABLE_DEFAULT_ERROR, //
    },
    fs::{
        File,
        Kiocb,
        LocalFile, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    module::this_module,
    prelude::*,
    str::{
        CStr,
        CString, //
    },
    sync::{
        aref::ARef,
        poll::PollTable, //
    },
    types::{
        ForeignOwnable,
        Opaque, //
    },
};
use core::{
    marker::{
        PhantomData,
        PhantomPinned, //
    },
    ops::{
        BitOr,
        BitOrAssign, //
    },
    sync::atomic::{
        AtomicBool,
        Ordering, //
    },
};

/// How the file operations of a sync device are fenced against its unregistration.
///
/// Both give the same guarantees; they differ in cost. Measured on x86_64, as
/// `Documentation/driver-api/sync_unregister.rst` details: the SRCU fence adds 13 instructions
/// to a no-op `ioctl()` through a misc device, the rwsem fence 65.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Fence {
    /// A read-write semaphore: every file operation takes it for reading, the unregistration
    /// for writing. The unregistration costs little more than a legacy one and there is no
    /// per-CPU memory; file operations share the semaphore's cache line across CPUs.
    Rwsem,
    /// Sleepable RCU, the default: file operations only touch per-CPU counters; the
    /// registration takes per-CPU memory and the unregistration waits for an SRCU grace period.
    #[default]
    Srcu,
}

impl Fence {
    /// The C options for this fence, without a cancel callback.
    fn into_raw(self) -> bindings::fenced_fops_options {
        bindings::fenced_fops_options {
            type_: match self {
                Fence::Rwsem => bindings::fenced_fops_type_FENCED_FOPS_RWSEM,
                Fence::Srcu => bindings::fenced_fops_type_FENCED_FOPS_SRCU,
            },
            cancel: None,
            cancel_data: core::ptr::null_mut(),
            vm_ops: core::ptr::null(),
        }
    }
}

/// The events [`FileOperations::poll`] reports: the kernel's `EPOLL*` bits, which user space
/// sees as its `POLL*` ones.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PollMask(bindings::__poll_t);

impl PollMask {
    /// No event.
    pub const NONE: Self = Self(0);
    /// There is data to read (`EPOLLIN`).
    pub const IN: Self = Self(bindings::EPOLLIN);
    /// There is urgent data to read (`EPOLLPRI`).
    pub const PRI: Self = Self(bindings::EPOLLPRI);
    /// Writing is possible (`EPOLLOUT`).
    pub const OUT: Self = Self(bindings::EPOLLOUT);
    /// There is normal data to read (`EPOLLRDNORM`).
    pub const RDNORM: Self = Self(bindings::EPOLLRDNORM);
    /// Writing normal data is possible (`EPOLLWRNORM`).
    pub const WRNORM: Self = Self(bindings::EPOLLWRNORM);
    /// An error condition (`EPOLLERR`).
    pub const ERR: Self = Self(bindings::EPOLLERR);
    /// Hang up (`EPOLLHUP`).
    pub const HUP: Self = Self(bindings::EPOLLHUP);

    /// The bits, as `->poll()` returns them.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether all events of `other` are in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for PollMask {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for PollMask {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

/// Whether the device of `file` was unregistered.
///
/// True once the synchronous unregistration of the device has started; for the wait conditions
/// of file operations that sleep, which [`FileOperations::cancel`] wakes. False for a file that
/// is not of a device registered in sync mode.
pub fn is_revoked(file: &LocalFile) -> bool {
    // SAFETY: `file` is valid for the duration of the call. `fenced_fops_revoked()` accepts any
    // file, and for a file of a fenced device reads the fence, on which the open file holds a
    // reference.
    unsafe { bindings::fenced_fops_revoked(file.as_ptr()) }
}

/// The file operations of a char device registered with [`Registration`] or of a misc device
/// registered with [`MiscRegistration`].
///
/// The implementing type is the device's data, owned by the registration and shared by all its
/// files; [`FileOperations::Ptr`] is the data of one open file. Every operation runs while the
/// registration exists and gets `&self` and the parent device as a
/// [`&Device<Bound>`](Device<Bound>). Files are streams: user space cannot seek them, and
/// `pread()` and `pwrite()` fail with `ESPIPE`.
#[vtable]
pub trait FileOperations: Sized + Send + Sync + 'static {
    /// What kind of pointer the data of an open file is wrapped in.
    type Ptr: ForeignOwnable + Send + Sync + 'static;

    /// Called when the device is opened; the returned pointer is the file's private data.
    ///
    /// `minor` is the index of the opened node among the minors of a [`Registration`], from 0;
    /// always 0 for a misc device.
    fn open(&self, dev: &Device<Bound>, file: &File, minor: u32) -> Result<Self::Ptr>;

    /// Called when the last reference to an open file is dropped, or by the unregistration for
    /// a file that is still open then.
    ///
    /// Runs once for every successful [`open`](FileOperations::open), always before the
    /// unregistration returns. The fence has detached the pollers of the file from every queue
    /// [`poll`](FileOperations::poll) registered them on, so the file's data may own such
    /// queues. It gets no [`File`]: on the close path the file's last reference is gone.
    fn release(&self, _dev: &Device<Bound>, this: Self::Ptr) {
        drop(this);
    }

    /// Read from the device.
    ///
    /// The file is a [`LocalFile`]: `read(2)` may run inside `fdget_pos()` without its lock, as
    /// files are streams.
    fn read_iter(
        &self,
        _dev: &Device<Bound>,
        _file: &LocalFile,
        _kiocb: Kiocb<'_, Self::Ptr>,
        _iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Write to the device; the file is a [`LocalFile`] as for
    /// [`read_iter`](FileOperations::read_iter).
    fn write_iter(
        &self,
        _dev: &Device<Bound>,
        _file: &LocalFile,
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

    /// Poll: registers the file's wait queues in `table` and returns the ready events.
    ///
    /// Pollers never sleep on the driver's wait queues themselves: the fence relays their
    /// wake-ups, and detaches from the queues before the file's
    /// [`release`](FileOperations::release) and at the unregistration.
    fn poll(
        &self,
        _dev: &Device<Bound>,
        _this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _table: PollTable<'_>,
    ) -> PollMask {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Wakes the sleepers of the device at unregistration.
    ///
    /// Called once new file operations are refused and before the unregistration waits for the
    /// running ones, and again every second while some still run: a file operation that sleeps
    /// must wake up here and return, with [`is_revoked`] in its wait condition.
    fn cancel(&self, _dev: &Device<Bound>) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// What the file operations of a device reach: its data and its bound parent.
#[pin_data]
struct Shared<T: FileOperations> {
    #[pin]
    data: T,
    parent: ARef<Device>,
}

impl<T: FileOperations> Shared<T> {
    /// Returns the device's data and its bound parent, for a file operation or the cancel
    /// callback.
    ///
    /// # Safety
    ///
    /// `this` is the `Shared<T>` of a registration whose fence calls the caller: a file
    /// operation, `release` included, or the cancel callback; `'a` ends when the caller returns.
    unsafe fn fenced<'a>(this: *const Self) -> (&'a T, &'a Device<Bound>) {
        // SAFETY: The registration outlives every call its fence makes: its drop unregisters the
        // device, which refuses new file operations, calls the cancel callback, waits for the
        // running operations and releases the files still open before it returns, and only then
        // are the fields of the registration dropped and its pinned memory freed. Only
        // `Shared<T>` is borrowed, never the C side of the registration, which its drop uses at
        // the same time. The drop holds a `&mut` or `Pin<&mut>` of the whole registration while
        // this reference lives: the `PhantomPinned` field, which makes the registration
        // `!Unpin`, is what exempts that from the uniqueness of `&mut`.
        let this = unsafe { &*this };
        // SAFETY: The parent is bound for all of `'a`: the registration is dropped before the
        // parent's binding ends (the safety requirements of its constructors), and its drop
        // returns only once no call of the fence runs.
        let dev = unsafe { this.parent.as_bound() };
        (&this.data, dev)
    }
}

/// How the file operations of a kind of registration find its [`Shared`].
trait Kind<T: FileOperations> {
    /// Returns the `Shared<T>` of the registration of `file`, and the index of `inode`'s minor.
    ///
    /// # Safety
    ///
    /// `file` is a file of a registration of this kind, in a call of its fence.
    unsafe fn find(
        inode: *const bindings::inode,
        file: *const bindings::file,
    ) -> (*const Shared<T>, u32);
}

/// The [`Kind`] of [`Registration`].
struct CdevKind;

impl<T: FileOperations> Kind<T> for CdevKind {
    unsafe fn find(
        inode: *const bindings::inode,
        file: *const bindings::file,
    ) -> (*const Shared<T>, u32) {
        // SAFETY: The fence of a `Registration<T>` was created with a pointer to it as private
        // data (its type invariants), and the registration outlives the call.
        let reg = unsafe { bindings::fenced_fops_private(file) }.cast::<Registration<'static, T>>();
        let minor = if inode.is_null() {
            0
        } else {
            // SAFETY: As above; `inode` is the node of one of the registration's numbers, which
            // share their major and follow `region.first`.
            unsafe { (*inode).i_rdev - (*reg).region.first }
        };
        // SAFETY: As above.
        (unsafe { &raw const (*reg).shared }, minor)
    }
}

/// The [`Kind`] of [`MiscRegistration`].
struct MiscKind;

impl<T: FileOperations> Kind<T> for MiscKind {
    unsafe fn find(
        _inode: *const bindings::inode,
        file: *const bindings::file,
    ) -> (*const Shared<T>, u32) {
        // SAFETY: The fence of a misc device has its `struct miscdevice` as private data, which
        // is the `misc` field of a `MiscRegistration<T>` (type invariants) that outlives the
        // call.
        let misc = unsafe { bindings::fenced_fops_private(file) };
        let misc = misc.cast::<Opaque<bindings::miscdevice>>();
        // SAFETY: As above.
        let reg = unsafe { crate::container_of!(misc, MiscRegistration<'static, T>, misc) };
        // SAFETY: As above.
        (unsafe { &raw const (*reg).shared }, 0)
    }
}

/// The file operations of a kind of registration of `T`: trampolines to `T`'s.
struct Vtable<T, K>(PhantomData<(T, K)>);

impl<T: FileOperations, K: Kind<T>> Vtable<T, K> {
    /// # Safety
    ///
    /// Called by the fence with the cancel data it was created with: the registration's
    /// `Shared<T>`.
    unsafe extern "C" fn cancel(data: *mut c_void) {
        // SAFETY: The cancel callback of the registration's fence.
        let (data, dev) = unsafe { Shared::<T>::fenced(data.cast()) };
        data.cancel(dev);
    }

    /// # Safety
    ///
    /// `file` is being opened on a device of kind `K`, inside its fence.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: A fenced call on a file of kind `K`.
        let (shared, minor) = unsafe { K::find(inode, file) };
        // SAFETY: As above.
        let (this, dev) = unsafe { Shared::fenced(shared) };
        // Files are streams: no file position for the driver to get wrong. This cannot fail.
        // SAFETY: The file is being opened.
        unsafe { bindings::stream_open(inode, file) };
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
    /// `file` of kind `K` is being released after a successful `open()`.
    unsafe extern "C" fn release(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: The fence calls `release()` of every open file before the unregistration
        // returns.
        let (shared, _) = unsafe { K::find(inode, file) };
        // SAFETY: As above.
        let (this, dev) = unsafe { Shared::fenced(shared) };
        // SAFETY: The release call owns the private data set by `open()`.
        let ptr = unsafe { T::Ptr::from_foreign((*file).private_data) };
        this.release(dev, ptr);
        0
    }

    /// Runs `op` with the device's data, the bound parent, the data of the open `file` and
    /// `file`, for the file operations that only get a file.
    ///
    /// # Safety
    ///
    /// A fenced call on an open file of kind `K`.
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
        let (shared, _) = unsafe { K::find(core::ptr::null(), file) };
        // SAFETY: As above.
        let (this, dev) = unsafe { Shared::fenced(shared) };
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
    /// A fenced call with a valid `kiocb` of an open file of kind `K`.
    unsafe fn on_kiocb(
        kiocb: *mut bindings::kiocb,
        op: impl FnOnce(&T, &Device<Bound>, &LocalFile, Kiocb<'_, T::Ptr>) -> Result<usize>,
    ) -> isize {
        // SAFETY: The call is fenced (the requirements of this function).
        let file = unsafe { (*kiocb).ki_filp };
        // SAFETY: As above.
        let (shared, _) = unsafe { K::find(core::ptr::null(), file) };
        // SAFETY: As above.
        let (this, dev) = unsafe { Shared::fenced(shared) };
        // SAFETY: The file is valid for the duration of the call; an fdget_pos region without
        // `f_pos_lock` (a stream's `read(2)`) is on this thread, and `LocalFile` is not `Send`.
        let f = unsafe { LocalFile::from_raw_file(file) };
        // SAFETY: The kiocb is valid for the call and its file's private data is a `T::Ptr`.
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        match op(this, dev, f, kiocb) {
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
    /// A fenced call with a valid `kiocb` of a file of kind `K`, and an `iov_iter` for writing.
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
    /// A fenced call with a valid `kiocb` of a file of kind `K`, and an `iov_iter` for reading.
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
    /// A fenced call on an open file of kind `K`.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: A fenced call on an open file.
        Self::to_c_long(unsafe {
            Self::on_file(file, |this, dev, ptr, f| this.ioctl(dev, ptr, f, cmd, arg))
        })
    }

    /// # Safety
    ///
    /// A fenced call on an open file of kind `K`.
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
    /// A fenced call on an open file of kind `K`; `table` is null or valid for the call.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        table: *mut bindings::poll_table,
    ) -> bindings::__poll_t {
        // SAFETY: `table` is null or valid for the duration of the call.
        let table = unsafe { PollTable::from_raw(table) };
        // SAFETY: A fenced call on an open file.
        unsafe { Self::on_file(file, |this, dev, ptr, f| this.poll(dev, ptr, f, table)) }.bits()
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

    const PTR: *const bindings::file_operations = &Self::VTABLE;

    /// The fence options of a registration whose `Shared<T>` is at `shared`.
    fn options(fence: Fence, shared: *const Shared<T>) -> bindings::fenced_fops_options {
        let mut opts = fence.into_raw();
        if T::HAS_CANCEL {
            opts.cancel = Some(Self::cancel);
            opts.cancel_data = shared.cast_mut().cast();
        }
        opts
    }
}

/// The char device numbers of a [`Registration`].
///
/// # Invariants
///
/// `first` is the first of `count` char device numbers allocated with `alloc_chrdev_region()`.
struct Region {
    first: bindings::dev_t,
    count: u32,
}

impl Region {
    fn new(name: &CStr, count: u32) -> Result<Self> {
        if count == 0 {
            return Err(EINVAL);
        }
        let mut first: bindings::dev_t = 0;
        // SAFETY: `first` is valid for writing and `name` is a valid C string, which the call
        // copies.
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

/// A device class for the nodes of char device [`Registration`]s.
///
/// Defined statically by a module and registered while the module is loaded, as C drivers do
/// with `class_register()`: the device core then tells udev about the nodes of the registrations
/// that use it, which appear under `/sys/class/<name>/`, and devtmpfs gives them the class's
/// permissions. A mode with bits other than permissions does not compile.
///
/// # Examples
///
/// ```
/// use kernel::cdev::Class;
///
/// static CLASS: Class = Class::new(c"rust_doctest_class", 0o660);
///
/// let registered = CLASS.register()?;
/// // A class is registered once at a time.
/// assert_eq!(CLASS.register().err(), Some(EBUSY));
/// drop(registered);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `raw` is a `struct class` whose `devnode` is `class_devnode()`; `registered` is true while
/// it is registered.
#[repr(C)]
pub struct Class {
    // First: `class_devnode()` finds the `Class` of a `struct class` at its address.
    raw: Opaque<bindings::class>,
    mode: bindings::umode_t,
    registered: AtomicBool,
}

// SAFETY: The C class is only used through the device core, which serialises its use, and it is
// only registered by the one `ClassRegistration` that `registered` allows.
unsafe impl Sync for Class {}

// SAFETY: As above.
unsafe impl Send for Class {}

impl Class {
    /// A class named `name`, whose nodes get the permissions `mode` (0 for the default, 0600).
    pub const fn new(name: &'static CStr, mode: u16) -> Self {
        assert!(mode & !0o777 == 0, "a node mode has only permission bits");
        let mut raw: bindings::class = pin_init::zeroed();
        // `as_char_ptr()` is not `const`: this is what it does.
        #[expect(clippy::disallowed_methods)]
        let name = name.as_ptr();
        raw.name = name.cast();
        raw.devnode = Some(class_devnode);
        // INVARIANT: `devnode` is `class_devnode()`, and the class is not registered.
        Self {
            raw: Opaque::new(raw),
            mode,
            registered: AtomicBool::new(false),
        }
    }

    /// Registers the class, until the returned [`ClassRegistration`] is dropped.
    ///
    /// Fails with `EBUSY` if the class is registered already.
    pub fn register(&'static self) -> Result<ClassRegistration> {
        if self
            .registered
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EBUSY);
        }
        // SAFETY: `raw` is a valid `struct class` that lives for ever, and not registered.
        if let Err(err) = to_result(unsafe { bindings::class_register(self.raw.get()) }) {
            self.registered.store(false, Ordering::Release);
            return Err(err);
        }
        // INVARIANT: Registered above.
        Ok(ClassRegistration { class: self })
    }
}

/// A registered [`Class`]; dropping it unregisters the class.
///
/// Keep it in the module, dropped after the driver whose devices' registrations use the class.
///
/// # Invariants
///
/// `class` is registered.
pub struct ClassRegistration {
    class: &'static Class,
}

impl Drop for ClassRegistration {
    fn drop(&mut self) {
        // SAFETY: Registered, by the type invariants.
        unsafe { bindings::class_unregister(self.class.raw.get()) };
        self.class.registered.store(false, Ordering::Release);
    }
}

/// The `devnode` of a [`Class`]: its nodes get the class's mode.
///
/// # Safety
///
/// Called by the device core for a device of a class made by [`Class::new()`].
unsafe extern "C" fn class_devnode(
    dev: *const bindings::device,
    mode: *mut bindings::umode_t,
) -> *mut c_char {
    if !mode.is_null() {
        // SAFETY: The device's class is the `raw` field, the first, of a `repr(C)` `Class`
        // (the requirements of this function), which lives for ever.
        let class_mode = unsafe { (*(*dev).class.cast::<Class>()).mode };
        if class_mode != 0 {
            // SAFETY: `mode` is valid for writing during the call.
            unsafe { *mode = class_mode };
        }
    }
    core::ptr::null_mut()
}

/// Frees the device of a node of a [`Registration`] on its last put.
///
/// Not generic, so that it is code of the kernel, not of the module that registered the node: a
/// reference to the node may be put after that module is gone.
///
/// # Safety
///
/// Called by the device core on the last put of a device allocated by [`new_node()`].
unsafe extern "C" fn release_node(dev: *mut bindings::device) {
    // SAFETY: `dev` was allocated as a `KBox<Opaque<bindings::device>>` in `new_node()`.
    drop(unsafe { KBox::from_raw(dev.cast::<Opaque<bindings::device>>()) });
}

/// Allocates and initializes the device of the node of number `devt`, a child of `parent` of
/// class `class`, named `name`, followed by `index` if given.
fn new_node(
    parent: &Device<Bound>,
    class: &'static Class,
    name: &CStr,
    devt: bindings::dev_t,
    index: Option<u32>,
) -> Result<*mut bindings::device> {
    let dev = KBox::<Opaque<bindings::device>>::new(Opaque::zeroed(), GFP_KERNEL)?;
    let dev = KBox::into_raw(dev).cast::<bindings::device>();

    // SAFETY: `dev` is a zeroed `struct device` that we own; from here on it is freed by
    // `release_node()` when its last reference is put.
    unsafe {
        bindings::device_initialize(dev);
        (*dev).parent = parent.as_raw();
        (*dev).class = class.raw.get();
        (*dev).devt = devt;
        (*dev).release = Some(release_node);
    }

    let ret = match index {
        // SAFETY: `dev` is initialized; the format takes one C string, which is copied.
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

/// Drops our references to `devs`, which frees the devices that were never added.
///
/// # Safety
///
/// Each of `devs` is an initialized device holding a reference that is ours.
unsafe fn put_nodes(devs: &[*mut bindings::device]) {
    for &dev in devs {
        // SAFETY: The requirements of this function.
        unsafe { bindings::put_device(dev) };
    }
}

/// The C side of a [`Registration`]: the cdev and the devices of its nodes.
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
        // operation of the device runs and every open file was released; later calls fail with
        // `ENODEV` without reaching the driver.
        unsafe { bindings::cdev_del_sync(self.cdev) };
        // SAFETY: By the type invariants, these references are ours.
        unsafe { put_nodes(&self.devs) };
    }
}

/// A char device registered in sync mode under a bound parent device.
///
/// Allocates char device numbers, one for each minor, registers a cdev whose file operations
/// are `T`'s for all of them, and a device node for each (children of the parent); the file
/// operations tell the minors apart by the index [`FileOperations::open`] gets. Dropping the
/// registration is the synchronous unregistration: it returns once no file operation of the
/// device runs and every open file was released, after [`FileOperations::cancel`] woke the
/// sleepers; files that stay open fail with `ENODEV` from then on.
///
/// A registration lives no longer than `'bound`, the parent's binding: keep it in the driver's
/// data (`Driver::Data<'bound>`), which the driver core drops at unbind before it releases any
/// device resource, or drop it earlier. The nodes belong to a [`Class`], from which udev learns
/// about them and which gives them their mode.
///
/// # Examples
///
/// Devices under a faux parent, of one and of two minors, registered and dropped with each
/// fence; the drop calls [`FileOperations::cancel`] before it waits.
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering};
/// use kernel::{
///     cdev::{Class, Fence, FileOperations, Registration},
///     device::{Bound, Device},
///     faux,
///     fs::File,
///     prelude::*,
/// };
///
/// static CANCELLED: AtomicU32 = AtomicU32::new(0);
/// static CLASS: Class = Class::new(c"rust_doctest_cdev", 0o600);
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
/// let class = CLASS.register()?;
/// let parent = faux::Registration::new(c"rust_doctest_cdev", None)?;
/// let dev: &Device<Bound> = parent.as_ref().as_ref();
/// for fence in [Fence::Rwsem, Fence::Srcu] {
///     let name = c"rust_doctest_cdev0";
///     // SAFETY: Dropped below, while `parent` is registered.
///     let reg = unsafe { Registration::new(dev, &CLASS, name, fence, Ok(Nop)) };
///     let reg = KBox::pin_init(reg, GFP_KERNEL)?;
///     // The synchronous unregistration.
///     drop(reg);
///
///     // Nodes `rust_doctest_cdev_m0` and `rust_doctest_cdev_m1`.
///     let name = c"rust_doctest_cdev_m";
///     // SAFETY: As above.
///     let reg = unsafe { Registration::with_minors(dev, &CLASS, name, 2, fence, Ok(Nop)) };
///     let reg = KBox::pin_init(reg, GFP_KERNEL)?;
///     drop(reg);
/// }
/// assert_eq!(CANCELLED.load(Ordering::Relaxed), 4);
///
/// // A registration needs a minor.
/// let name = c"rust_doctest_cdev_z";
/// // SAFETY: Never registered.
/// let reg = unsafe { Registration::with_minors(dev, &CLASS, name, 0, Fence::Rwsem, Ok(Nop)) };
/// assert_eq!(KBox::pin_init(reg, GFP_KERNEL).err(), Some(EINVAL));
/// drop(parent);
/// drop(class);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// The registered cdev's fence was created with a pointer to `self` as its private data, and
/// with a pointer to `shared` as its cancel data; the cdev and its nodes use the numbers of
/// `region`.
#[pin_data]
pub struct Registration<'bound, T: FileOperations> {
    // Dropped first: unregisters and waits for the file operations, which use `shared` and
    // `region`. The file operations never touch `node`.
    node: Node,
    #[pin]
    shared: Shared<T>,
    // Dropped after the node: the numbers are given back once the cdev is gone.
    region: Region,
    _bound: PhantomData<&'bound Device<Bound>>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: A shared reference to a registration only gives a shared reference to `T`, which is
// `Sync`; the C side is only used by the drop.
unsafe impl<T: FileOperations> Sync for Registration<'_, T> {}

impl<'bound, T: FileOperations> Registration<'bound, T> {
    /// Registers a char device of one minor, whose node of class `class` is named `name`, under
    /// `parent`, fenced by `fence`, with `data` as the device's data.
    ///
    /// Fails with `EOPNOTSUPP` if the file operations cannot be fenced.
    ///
    /// # Safety
    ///
    /// Callers must not `mem::forget()` the returned [`Registration`] or otherwise prevent its
    /// [`Drop`] implementation from running before the binding of `parent` ends: the file
    /// operations are handed `parent` as bound.
    pub unsafe fn new(
        parent: &'bound Device<Bound>,
        class: &'static Class,
        name: &CStr,
        fence: Fence,
        data: impl PinInit<T, Error> + 'bound,
    ) -> impl PinInit<Self, Error> + 'bound {
        // SAFETY: The requirements of this function.
        unsafe { Self::init(parent, class, name, 1, false, fence, data) }
    }

    /// Registers a char device of `minors` minors under `parent`, fenced by `fence`, with `data`
    /// as the device's data. The nodes, of class `class`, are named `name` followed by the index
    /// of their minor, from 0.
    ///
    /// Fails with `EINVAL` if `minors` is 0, and with `EOPNOTSUPP` if the file operations cannot
    /// be fenced.
    ///
    /// # Safety
    ///
    /// As for [`new`](Self::new).
    pub unsafe fn with_minors(
        parent: &'bound Device<Bound>,
        class: &'static Class,
        name: &CStr,
        minors: u32,
        fence: Fence,
        data: impl PinInit<T, Error> + 'bound,
    ) -> impl PinInit<Self, Error> + 'bound {
        // SAFETY: The requirements of this function.
        unsafe { Self::init(parent, class, name, minors, true, fence, data) }
    }

    /// # Safety
    ///
    /// As for [`new`](Self::new).
    unsafe fn init(
        parent: &'bound Device<Bound>,
        class: &'static Class,
        name: &CStr,
        minors: u32,
        numbered: bool,
        fence: Fence,
        data: impl PinInit<T, Error> + 'bound,
    ) -> impl PinInit<Self, Error> + 'bound {
        // The name only has to last until the registration: the calls copy it.
        let name = CString::try_from(name).map_err(Error::from);
        try_pin_init!(&this in Self {
            shared <- try_pin_init!(Shared {
                data <- data,
                parent: parent.into(),
            }),
            region: Region::new(name.as_deref().map_err(|e| *e)?, minors)?,
            // Registered last: the file operations may run as soon as the cdev is added, and
            // they use `shared` and `region`.
            // SAFETY: `this` is pinned, `shared` and `region` are initialized; `node` is dropped,
            // and the device unregistered, before them and before the memory of `this` goes.
            node: unsafe {
                let name = name.as_deref().map_err(|e| *e)?;
                Self::register(parent, class, name, numbered, fence, this.as_ptr())
            }?,
            _bound: PhantomData,
            _pin: PhantomPinned,
        })
    }

    /// Registers the cdev for the registration's numbers, and a node for each.
    ///
    /// # Safety
    ///
    /// `this` must point to a pinned `Self` whose `shared` and `region` are initialized, and
    /// must stay valid until the returned [`Node`] is dropped.
    unsafe fn register(
        parent: &Device<Bound>,
        class: &'static Class,
        name: &CStr,
        numbered: bool,
        fence: Fence,
        this: *mut Self,
    ) -> Result<Node> {
        // SAFETY: `region` is initialized (the safety requirements).
        let (first, count) = unsafe { ((*this).region.first, (*this).region.count) };
        // SAFETY: `shared` is initialized.
        let opts = Vtable::<T, CdevKind>::options(fence, unsafe { &raw const (*this).shared });

        let mut devs = KVec::with_capacity(count as usize, GFP_KERNEL)?;
        for index in 0..count {
            let dev = new_node(
                parent,
                class,
                name,
                first + index,
                numbered.then_some(index),
            );
            if let Err(err) = dev.and_then(|dev| {
                devs.push_within_capacity(dev).map_err(|_| {
                    // SAFETY: `dev` is initialized and the reference is ours.
                    unsafe { bindings::put_device(dev) };
                    ENOMEM
                })
            }) {
                // SAFETY: Initialized devices whose references are ours.
                unsafe { put_nodes(&devs) };
                return Err(err);
            }
        }

        // SAFETY: The table is static; `this` stays valid for as long as the cdev is registered
        // (the safety requirements), and `opts` is only read during the call.
        let cdev =
            unsafe { bindings::cdev_alloc_sync(Vtable::<T, CdevKind>::PTR, this.cast(), &opts) };
        if let Err(err) = from_err_ptr(cdev) {
            // SAFETY: Initialized devices whose references are ours.
            unsafe { put_nodes(&devs) };
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
                put_nodes(&devs);
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
                    put_nodes(&devs);
                }
                return Err(Error::from_errno(ret));
            }
        }

        // INVARIANT: `cdev` was added for the registration's numbers, with a fence whose private
        // data is `this` and cancel data its `shared`, and `devs` are the devices of its nodes,
        // in order, added, with our references.
        Ok(Node { cdev, devs })
    }

    /// Returns the device's data.
    pub fn data(&self) -> &T {
        &self.shared.data
    }
}

/// A misc device registered in sync mode under a bound parent device.
///
/// Registers a misc device with a dynamic minor, whose node is named as the device, with the file
/// operations of `T`; the misc class makes the node visible to udev, with the mode the driver
/// chose. Dropping the registration is the synchronous deregistration, as for a
/// [`Registration`]: it returns once no file operation of the device runs and every open file
/// was released, after [`FileOperations::cancel`] woke the sleepers.
///
/// A registration lives no longer than `'bound`, the parent's binding, as a [`Registration`]
/// does.
///
/// # Examples
///
/// ```
/// use kernel::{
///     cdev::{Fence, FileOperations, MiscRegistration},
///     device::{Bound, Device},
///     faux,
///     fs::File,
///     prelude::*,
/// };
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
/// }
///
/// let parent = faux::Registration::new(c"rust_doctest_misc", None)?;
/// let dev: &Device<Bound> = parent.as_ref().as_ref();
/// for fence in [Fence::Rwsem, Fence::Srcu] {
///     let name = c"rust_doctest_misc0";
///     // SAFETY: Dropped below, while `parent` is registered.
///     let reg = unsafe { MiscRegistration::new(dev, name, 0o666, fence, Ok(Nop)) };
///     let reg = KBox::pin_init(reg, GFP_KERNEL)?;
///     // `misc_deregister_sync()`.
///     drop(reg);
/// }
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `misc` is registered with `misc_register_sync()`, with `name` as its name, the table of
/// `Vtable<T, MiscKind>` as its file operations, and a fence whose cancel data points to
/// `shared`.
#[pin_data(PinnedDrop)]
pub struct MiscRegistration<'bound, T: FileOperations> {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    #[pin]
    shared: Shared<T>,
    name: CString,
    _bound: PhantomData<&'bound Device<Bound>>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The misc device may be deregistered from any thread.
unsafe impl<T: FileOperations> Send for MiscRegistration<'_, T> {}

// SAFETY: A shared reference to a registration only gives a shared reference to `T`, which is
// `Sync`; the misc device is only used by the drop.
unsafe impl<T: FileOperations> Sync for MiscRegistration<'_, T> {}

impl<'bound, T: FileOperations> MiscRegistration<'bound, T> {
    /// Registers a misc device named `name`, whose node has the permissions `mode` (0 for the
    /// default, 0600), under `parent`, fenced by `fence`, with `data` as the device's data.
    ///
    /// Fails with `EINVAL` if `mode` has bits other than permissions (`0o777`), with
    /// `EOPNOTSUPP` if the file operations cannot be fenced, and as `misc_register()` does.
    ///
    /// # Safety
    ///
    /// Callers must not `mem::forget()` the returned [`MiscRegistration`] or otherwise prevent
    /// its [`Drop`] implementation from running before the binding of `parent` ends: the file
    /// operations are handed `parent` as bound.
    pub unsafe fn new(
        parent: &'bound Device<Bound>,
        name: &CStr,
        mode: u16,
        fence: Fence,
        data: impl PinInit<T, Error> + 'bound,
    ) -> impl PinInit<Self, Error> + 'bound {
        let name = CString::try_from(name)
            .map_err(Error::from)
            .and_then(|name| {
                if mode & !0o777 == 0 {
                    Ok(name)
                } else {
                    Err(EINVAL)
                }
            });
        try_pin_init!(&this in Self {
            shared <- try_pin_init!(Shared {
                data <- data,
                parent: parent.into(),
            }),
            name: name?,
            // Registered last: the file operations may run as soon as it is, and they use
            // `shared`.
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: `this` is pinned and its `shared` and `name` are initialized.
                let (shared, name) = unsafe {
                    let this = this.as_ptr();
                    (&raw const (*this).shared, (*this).name.as_char_ptr())
                };
                let opts = Vtable::<T, MiscKind>::options(fence, shared);
                // SAFETY: The initializer may write to `slot`.
                unsafe {
                    slot.write(pin_init::zeroed());
                    (*slot).minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                    (*slot).name = name;
                    (*slot).fops = Vtable::<T, MiscKind>::PTR;
                    (*slot).parent = parent.as_raw();
                    (*slot).mode = mode;
                }
                // SAFETY: `slot` is a misc device, whose name and data outlive its registration:
                // the drop deregisters it before the other fields are dropped and the memory
                // goes. `opts` is only read during the call.
                // INVARIANT: If this succeeds, `slot` is registered in sync mode with
                // `Vtable<T, MiscKind>`'s table and a fence whose cancel data is `shared`.
                to_result(unsafe { bindings::misc_register_sync(slot, &opts) })
            }),
            _bound: PhantomData,
            _pin: PhantomPinned,
        })
    }

    /// Returns the device's data.
    pub fn data(&self) -> &T {
        &self.shared.data
    }
}

#[pinned_drop]
impl<T: FileOperations> PinnedDrop for MiscRegistration<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The misc device was registered with `misc_register_sync()` (type invariants).
        // This returns once no file operation of the device runs and every open file was
        // released; later calls fail with `ENODEV` without reaching the driver.
        unsafe { bindings::misc_deregister_sync(self.misc.get()) };
    }
}
