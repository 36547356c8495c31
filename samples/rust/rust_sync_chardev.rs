// SPDX-License-Identifier: GPL-2.0

//! Rust sample: char devices whose file operations outlive nothing.
//!
//! A PCI driver that, for every device it binds, registers a char device of two minors with
//! [`Registration`] (nodes `rust_sync_chardev0` and `rust_sync_chardev1`, which share one buffer)
//! and a misc device with [`MiscRegistration`] (node `rust_sync_misc`, a buffer per open file),
//! both with the file operations of [`FileOperations`]. User space may unbind the device while it
//! holds files open: the unbind waits for the running file operations, wakes the sleeping ones,
//! and later ones fail with `ENODEV`.
//!
//! The char device keeps its buffer in a device resource ([`Devres`]), freed at unbind, and its
//! file operations reach it with [`Devres::access`] through the `&Device<Bound>` the
//! registration hands them: no revocable access per call. The misc device's files each own the
//! wait queue they poll on, freed at their release. The only `unsafe` is the promise that the
//! registrations are dropped with the driver's data, not leaked.
//!
//! It binds QEMU's `pci-testdev`, like `samples/rust/rust_driver_pci.rs`: run QEMU with
//! `-device pci-testdev`, and unbind and bind the device through
//! `/sys/bus/pci/drivers/rust_sync_chardev/`, as `tools/testing/selftests/chardev/unbind_test.c`
//! does. Both devices speak the user interface of the char device test driver
//! (`tools/testing/selftests/chardev/test_chardev.h`); the char device also answers
//! `_IO('C', 0x04)` with the index of the minor a file was opened on.

use core::sync::atomic::{
    AtomicU32,
    Ordering, //
};
use kernel::{
    cdev::{
        is_revoked,
        Class,
        ClassRegistration,
        Fence,
        FileOperations,
        MiscRegistration,
        PollMask,
        Registration, //
    },
    device::{
        Bound,
        Core,
        Device, //
    },
    devres::Devres,
    driver,
    fs::{
        file::flags,
        File,
        Kiocb,
        LocalFile, //
    },
    ioctl::{
        _IO,
        _IOW, //
    },
    iov::{
        IovIterDest,
        IovIterSource, //
    },
    new_condvar, new_mutex, new_poll_condvar, pci,
    prelude::*,
    sync::{
        poll::{
            PollCondVar,
            PollTable, //
        },
        CondVar,
        Mutex, //
    },
    time::{
        delay::fsleep,
        Delta, //
    },
    uaccess::UserSlice,
};

const IOC_NOP: u32 = _IO('C' as u32, 0x00);
const IOC_SET_HOLD: u32 = _IOW::<u32>('C' as u32, 0x01);
const IOC_HOLD: u32 = _IOW::<u32>('C' as u32, 0x02);
const IOC_MINOR: u32 = _IO('C' as u32, 0x04);

const BUF_SIZE: usize = 64;

/// The contents of a buffer.
struct Contents {
    data: [u8; BUF_SIZE],
    len: usize,
    /// Set by the unregistration: sleeping readers leave.
    dead: bool,
}

impl Contents {
    fn new() -> Self {
        Self {
            data: [0; BUF_SIZE],
            len: 0,
            dead: false,
        }
    }

    /// Waits on `cv` until there is data, and takes it into `iov`; `revoked` ends the wait.
    fn read(
        this: &Mutex<Self>,
        cv: &CondVar,
        file: &LocalFile,
        iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        let mut contents = this.lock();
        while contents.len == 0 {
            if contents.dead || is_revoked(file) {
                return Err(ENODEV);
            }
            if file.flags() & flags::O_NONBLOCK != 0 {
                return Err(EAGAIN);
            }
            if cv.wait_interruptible(&mut contents) {
                return Err(ERESTARTSYS);
            }
        }
        let len = contents.len;
        contents.len = 0;
        Ok(iov.copy_to_iter(&contents.data[..len]))
    }

    /// Replaces the contents with what `iov` holds.
    fn write(this: &Mutex<Self>, iov: &mut IovIterSource<'_>) -> usize {
        let mut contents = this.lock();
        let len = iov.copy_from_iter(&mut contents.data);
        contents.len = len;
        len
    }

    /// The poll events of the contents.
    fn events(this: &Mutex<Self>) -> PollMask {
        let ready = if this.lock().len != 0 {
            PollMask::IN | PollMask::RDNORM
        } else {
            PollMask::NONE
        };
        PollMask::OUT | PollMask::WRNORM | ready
    }
}

/// The char device's buffer: a device resource.
#[pin_data]
struct Buffer {
    #[pin]
    contents: Mutex<Contents>,
}

/// The data of the char device, owned by its registration.
#[pin_data]
struct SampleCdev {
    /// Freed at unbind, after the registration: the file operations reach it through the bound
    /// parent.
    buffer: Devres<Buffer>,
    /// Readers and pollers wait here for data.
    #[pin]
    readers: PollCondVar,
}

/// The data of one open file.
struct OpenFile {
    /// Every later file operation sleeps this long first, to widen races with an unbind on
    /// purpose.
    hold_ms: AtomicU32,
    /// The index of the char device's minor the file was opened on.
    minor: Option<u32>,
}

impl OpenFile {
    fn new(minor: Option<u32>) -> Self {
        Self {
            hold_ms: AtomicU32::new(0),
            minor,
        }
    }

    fn hold(&self) {
        let ms = self.hold_ms.load(Ordering::Relaxed);
        if ms != 0 {
            fsleep(Delta::from_millis(ms.into()));
        }
    }

    /// The ioctls both devices share.
    fn ioctl(&self, cmd: u32, arg: usize, touch: impl Fn() -> Result) -> Result<isize> {
        let user = || UserSlice::new(UserPtr::from_addr(arg), size_of::<u32>()).reader();
        match cmd {
            IOC_SET_HOLD => {
                self.hold_ms.store(user().read::<u32>()?, Ordering::Relaxed);
                Ok(0)
            }
            IOC_HOLD => {
                let ms = user().read::<u32>()?;
                touch()?;
                fsleep(Delta::from_millis(ms.into()));
                touch()?;
                Ok(0)
            }
            IOC_NOP => {
                touch()?;
                Ok(0)
            }
            IOC_MINOR => Ok(self.minor.ok_or(ENOTTY)?.try_into()?),
            _ => Err(ENOTTY),
        }
    }
}

impl SampleCdev {
    fn buffer<'a>(&'a self, dev: &'a Device<Bound>, file: &OpenFile) -> Result<&'a Buffer> {
        file.hold();
        self.buffer.access(dev)
    }
}

#[vtable]
impl FileOperations for SampleCdev {
    type Ptr = KBox<OpenFile>;

    fn open(&self, _dev: &Device<Bound>, _file: &File, minor: u32) -> Result<KBox<OpenFile>> {
        Ok(KBox::new(OpenFile::new(Some(minor)), GFP_KERNEL)?)
    }

    fn release(&self, dev: &Device<Bound>, this: KBox<OpenFile>) {
        // The device is still registered: its resources are there, for what the file left.
        if let Ok(buffer) = self.buffer.access(dev) {
            let _contents = buffer.contents.lock();
        }
        drop(this);
    }

    fn read_iter(
        &self,
        dev: &Device<Bound>,
        file: &LocalFile,
        kiocb: Kiocb<'_, Self::Ptr>,
        iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        let buffer = self.buffer(dev, kiocb.file())?;
        Contents::read(&buffer.contents, &self.readers, file, iov)
    }

    fn write_iter(
        &self,
        dev: &Device<Bound>,
        _file: &LocalFile,
        kiocb: Kiocb<'_, Self::Ptr>,
        iov: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        let buffer = self.buffer(dev, kiocb.file())?;
        let len = Contents::write(&buffer.contents, iov);
        self.readers.notify_all();
        Ok(len)
    }

    fn ioctl(
        &self,
        dev: &Device<Bound>,
        this: &OpenFile,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        this.ioctl(cmd, arg, || self.buffer(dev, this).map(|_| ()))
    }

    fn poll(
        &self,
        dev: &Device<Bound>,
        this: &OpenFile,
        file: &File,
        table: PollTable<'_>,
    ) -> PollMask {
        let Ok(buffer) = self.buffer(dev, this) else {
            return PollMask::ERR;
        };
        table.register_wait(file, &self.readers);
        Contents::events(&buffer.contents)
    }

    fn cancel(&self, dev: &Device<Bound>) {
        // Under the lock, so that no reader is between its check and its wait.
        if let Ok(buffer) = self.buffer.access(dev) {
            buffer.contents.lock().dead = true;
            self.readers.notify_all();
        }
    }
}

/// The misc device: the same interface on a buffer per open file.
#[pin_data]
struct SampleMisc {
    /// Readers of every file sleep here, for the unregistration to wake them.
    #[pin]
    readers: CondVar,
}

/// The data of a file of the misc device.
#[pin_data]
struct MiscFile {
    file: OpenFile,
    #[pin]
    contents: Mutex<Contents>,
    /// The file's own poll queue, freed at its release: the fence has detached the pollers then.
    #[pin]
    pollers: PollCondVar,
}

#[vtable]
impl FileOperations for SampleMisc {
    type Ptr = Pin<KBox<MiscFile>>;

    fn open(&self, _dev: &Device<Bound>, _file: &File, _minor: u32) -> Result<Self::Ptr> {
        KBox::try_pin_init(
            try_pin_init!(MiscFile {
                file: OpenFile::new(None),
                contents <- new_mutex!(Contents::new()),
                pollers <- new_poll_condvar!(),
            }),
            GFP_KERNEL,
        )
    }

    fn read_iter(
        &self,
        _dev: &Device<Bound>,
        file: &LocalFile,
        kiocb: Kiocb<'_, Self::Ptr>,
        iov: &mut IovIterDest<'_>,
    ) -> Result<usize> {
        let this = kiocb.file();
        this.file.hold();
        Contents::read(&this.contents, &self.readers, file, iov)
    }

    fn write_iter(
        &self,
        _dev: &Device<Bound>,
        _file: &LocalFile,
        kiocb: Kiocb<'_, Self::Ptr>,
        iov: &mut IovIterSource<'_>,
    ) -> Result<usize> {
        let this = kiocb.file();
        this.file.hold();
        let len = Contents::write(&this.contents, iov);
        this.pollers.notify_all();
        self.readers.notify_all();
        Ok(len)
    }

    fn ioctl(
        &self,
        _dev: &Device<Bound>,
        this: Pin<&MiscFile>,
        _file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        this.file.ioctl(cmd, arg, || {
            this.file.hold();
            Ok(())
        })
    }

    fn poll(
        &self,
        _dev: &Device<Bound>,
        this: Pin<&MiscFile>,
        file: &File,
        table: PollTable<'_>,
    ) -> PollMask {
        this.file.hold();
        table.register_wait(file, &this.pollers);
        Contents::events(&this.contents)
    }

    fn cancel(&self, _dev: &Device<Bound>) {
        // A reader between its check of `is_revoked()` and its wait misses this; the fence
        // calls `cancel()` again every second while operations run.
        self.readers.notify_all();
    }
}

/// What the driver keeps for a bound device: dropped at unbind, before its device resources.
#[pin_data]
struct SampleData<'bound> {
    #[pin]
    cdev: Registration<'bound, SampleCdev>,
    #[pin]
    misc: MiscRegistration<'bound, SampleMisc>,
}

struct SampleDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <SampleDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

impl pci::Driver for SampleDriver {
    type IdInfo = ();
    type Data<'bound> = SampleData<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<SampleData<'bound>, Error> + 'bound {
        let dev: &Device<Bound> = pdev.as_ref();

        try_pin_init!(SampleData {
            // SAFETY: `SampleData` is the driver's data, which the driver core drops when the
            // device is unbound; it is never leaked.
            cdev <- unsafe {
                Registration::with_minors(
                    dev,
                    &CLASS,
                    c"rust_sync_chardev",
                    2,
                    Fence::Rwsem,
                    try_pin_init!(SampleCdev {
                        buffer: Devres::new(
                            dev,
                            pin_init!(Buffer {
                                contents <- new_mutex!(Contents::new()),
                            }),
                        )?,
                        readers <- new_poll_condvar!(),
                    }),
                )
            },
            // SAFETY: As above.
            misc <- unsafe {
                MiscRegistration::new(
                    dev,
                    c"rust_sync_misc",
                    0o660,
                    Fence::Srcu,
                    try_pin_init!(SampleMisc {
                        readers <- new_condvar!(),
                    }),
                )
            },
        })
    }
}

/// The class of the char device's nodes: udev learns about them from it, and they are 0660.
static CLASS: Class = Class::new(c"rust_sync_chardev", 0o660);

/// The module: the class, registered while the PCI driver is.
#[pin_data]
struct SampleModule {
    // Dropped first: the devices are unbound, and their nodes gone, before the class goes.
    #[pin]
    _driver: driver::Registration<pci::Adapter<SampleDriver>>,
    _class: ClassRegistration,
}

impl kernel::InPlaceModule for SampleModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _class: CLASS.register()?,
            _driver <- driver::Registration::new(c"rust_sync_chardev", module),
        })
    }
}

kernel::prelude::module! {
    type: SampleModule,
    name: "rust_sync_chardev",
    authors: ["Rust for Linux Contributors"],
    description: "Rust sample: synchronous char device unregistration",
    license: "GPL",
}
