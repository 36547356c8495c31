// SPDX-License-Identifier: GPL-2.0
//! The sound shape: both registrations in the driver's data, dropped at
//! unbind before devres; device resources reached through the bound parent;
//! a file's data owning the queue it polls; release reaching the device.

use kernel::{
    cdev::{Class, Fence, FileOperations, MiscRegistration, PollMask, Registration},
    device::{Bound, Core, Device},
    devres::Devres,
    fs::File,
    new_poll_condvar, platform,
    prelude::*,
    sync::poll::{PollCondVar, PollTable},
};

/// The class of the nodes.
pub static CLASS: Class = Class::new(c"rust_api_gate", 0);

/// A device resource.
pub struct Regs(pub u32);

/// The data of a device.
pub struct Dev {
    regs: Devres<Regs>,
}

/// The data of an open file.
#[pin_data]
pub struct Open {
    #[pin]
    pollers: PollCondVar,
}

#[vtable]
impl FileOperations for Dev {
    type Ptr = Pin<KBox<Open>>;

    fn open(&self, dev: &Device<Bound>, _file: &File, _minor: u32) -> Result<Self::Ptr> {
        self.regs.access(dev)?;
        KBox::pin_init(
            pin_init!(Open {
                pollers <- new_poll_condvar!(),
            }),
            GFP_KERNEL,
        )
    }

    fn release(&self, dev: &Device<Bound>, this: Self::Ptr) {
        if let Ok(regs) = self.regs.access(dev) {
            let _ = regs.0;
        }
        drop(this);
    }

    fn poll(
        &self,
        _dev: &Device<Bound>,
        this: Pin<&Open>,
        file: &File,
        table: PollTable<'_>,
    ) -> PollMask {
        table.register_wait(file, &this.pollers);
        PollMask::OUT | PollMask::WRNORM
    }
}

/// The driver's data.
#[pin_data]
pub struct Data<'bound> {
    #[pin]
    cdev: Registration<'bound, Dev>,
    #[pin]
    misc: MiscRegistration<'bound, Dev>,
}

/// The driver.
pub struct Driver;

impl platform::Driver for Driver {
    type IdInfo = ();
    type Data<'bound> = Data<'bound>;

    fn probe<'bound>(
        pdev: &'bound platform::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Data<'bound>, Error> + 'bound {
        let dev: &Device<Bound> = pdev.as_ref();
        try_pin_init!(Data {
            // SAFETY: The driver's data, dropped at unbind, never leaked.
            cdev <- unsafe {
                Registration::new(dev, &CLASS,
                    c"gate_cdev",
                    Fence::Rwsem,
                    Ok(Dev {
                        regs: Devres::new(dev, Regs(1))?,
                    }),
                )
            },
            // SAFETY: As above.
            misc <- unsafe {
                MiscRegistration::new(
                    dev,
                    c"gate_misc",
                    0o666,
                    Fence::Srcu,
                    Ok(Dev {
                        regs: Devres::new(dev, Regs(2))?,
                    }),
                )
            },
        })
    }
}
