// SPDX-License-Identifier: GPL-2.0-only
//! Where things live, and how a command runs with the pinned toolchain.
//!
//! Everything large is cached outside the repository, under
//! `$CDEV_SYNC_CACHE` (default `~/.cache/cdev-sync`):
//!
//! ```text
//! trixie/        the Debian trixie toolchain root (debootstrap)
//! data/linux/    git repository of the base kernel; its work tree carries
//!                the applied series and is what gets built
//! data/am/       scratch worktree where `git am -3` runs first
//! data/build/    the O= build directory (incremental)
//! data/ccache/   ccache
//! ```
//!
//! With the trixie toolchain every command runs under `chroot` with the
//! cache's `data/` and the repository bind-mounted at their own paths, so a
//! path means the same inside and outside.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Cmd;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Toolchain {
    /// A Debian trixie root made with debootstrap (the pinned toolchain).
    Trixie,
    /// The host's own clang/rustc/bindgen/vng (must pass `make LLVM=1 rustavailable`).
    Host,
}

/// Which kernel is built: the test kernel (KASAN, lockdep, Rust, KUnit) or
/// the benchmark's (no debugging options), each in its own O= directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Test,
    Bench,
}

#[derive(Clone)]
pub struct Ctx {
    pub repo: PathBuf,
    pub cache: PathBuf,
    pub toolchain: Toolchain,
    /// A kernel tree named by the user (`--kernel`), instead of the base.
    pub user_kernel: Option<PathBuf>,
    pub flavor: Flavor,
}

impl Ctx {
    pub fn new(toolchain: Toolchain, user_kernel: Option<PathBuf>) -> Result<Self> {
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask must live in the repository")?
            .to_path_buf();
        let cache = match std::env::var_os("CDEV_SYNC_CACHE") {
            Some(c) => PathBuf::from(c),
            None => {
                let home = std::env::var_os("HOME").context("HOME is not set")?;
                PathBuf::from(home).join(".cache/cdev-sync")
            }
        };
        let user_kernel = match user_kernel {
            Some(k) => Some(
                fs::canonicalize(&k)
                    .with_context(|| format!("--kernel {}: no such directory", k.display()))?,
            ),
            None => None,
        };
        Ok(Ctx {
            repo,
            cache,
            toolchain,
            user_kernel,
            flavor: Flavor::Test,
        })
    }

    pub fn root(&self) -> PathBuf {
        self.cache.join("trixie")
    }
    pub fn data(&self) -> PathBuf {
        self.cache.join("data")
    }
    /// The git repository holding the base kernel.
    pub fn base_repo(&self) -> PathBuf {
        self.data().join("linux")
    }
    /// The kernel source tree that is built and tested.
    pub fn kernel(&self) -> PathBuf {
        self.user_kernel.clone().unwrap_or_else(|| self.base_repo())
    }
    /// The same context for another kernel flavor.
    pub fn with_flavor(&self, flavor: Flavor) -> Ctx {
        Ctx {
            flavor,
            ..self.clone()
        }
    }
    /// The O= directory for [`Self::kernel`] and [`Self::flavor`].
    pub fn build_dir(&self) -> PathBuf {
        let base = match &self.user_kernel {
            None => "build".to_string(),
            Some(k) => {
                let name: String = k
                    .to_string_lossy()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                    .collect();
                format!("build-{name}")
            }
        };
        match self.flavor {
            Flavor::Test => self.data().join(base),
            Flavor::Bench => self.data().join(format!("{base}-bench")),
        }
    }
    /// Logs and results of this repository's runs.
    pub fn target(&self) -> PathBuf {
        self.repo.join("target/xtask")
    }
    pub fn patches(&self) -> PathBuf {
        self.repo.join("patches")
    }

    pub fn ready_stamp(&self) -> PathBuf {
        self.root().join(".cdev-sync-ready")
    }

    /// Fails with what to do when `setup` has not run.
    pub fn require_setup(&self) -> Result<()> {
        if self.toolchain == Toolchain::Trixie && !self.ready_stamp().exists() {
            bail!(
                "the toolchain root {} is not set up: run `cargo xtask setup` first",
                self.root().display()
            );
        }
        if self.user_kernel.is_none() && !self.base_repo().join(".git").exists() {
            bail!(
                "the base kernel is not unpacked in {}: run `cargo xtask setup` first",
                self.base_repo().display()
            );
        }
        Ok(())
    }

    /// A shell script run with the toolchain, in `dir`.
    pub fn tool(&self, dir: &Path, script: &str) -> Cmd {
        let ccache = self.data().join("ccache");
        match self.toolchain {
            Toolchain::Trixie => Cmd::new("chroot")
                .arg(self.root())
                .args([
                    "/usr/bin/env",
                    "-i",
                    "HOME=/root",
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG=C.UTF-8",
                    "TERM=dumb",
                ])
                .arg(format!("CCACHE_DIR={}", ccache.display()))
                .args(["bash", "-eo", "pipefail", "-c"])
                .arg(format!("cd '{}' && {}", dir.display(), script)),
            Toolchain::Host => Cmd::new("bash")
                .args(["-eo", "pipefail", "-c", script])
                .cwd(dir)
                .env("CCACHE_DIR", ccache),
        }
    }

    /// Makes the toolchain usable for the lifetime of the returned guard:
    /// with the trixie root, mounts /proc, /sys, /dev, the data directory,
    /// the repository and the user's kernel tree into it, and unmounts what
    /// it mounted when dropped.
    pub fn enter(&self) -> Result<Mounts> {
        let mut m = Mounts { done: Vec::new() };
        if self.toolchain == Toolchain::Host {
            return Ok(m);
        }
        fs::create_dir_all(self.data().join("ccache"))?;
        let mut binds: Vec<(PathBuf, PathBuf)> = vec![
            ("/proc".into(), self.root().join("proc")),
            ("/sys".into(), self.root().join("sys")),
            ("/dev".into(), self.root().join("dev")),
        ];
        for p in [
            Some(self.data()),
            Some(self.repo.clone()),
            self.user_kernel.clone(),
        ]
        .into_iter()
        .flatten()
        {
            let inside = self.root().join(p.strip_prefix("/").unwrap_or(&p));
            binds.push((p, inside));
        }
        for (src, dst) in binds {
            if is_mountpoint(&dst) {
                continue;
            }
            fs::create_dir_all(&dst)?;
            Cmd::new("mount")
                .args(["--rbind".as_ref(), src.as_os_str(), dst.as_os_str()])
                .output()
                .with_context(|| {
                    format!(
                        "cannot bind-mount {} into the toolchain root",
                        src.display()
                    )
                })?;
            // --rbind mounts are shared by default on systemd hosts; keep
            // the unmount below from propagating back to the host.
            let _ = Cmd::new("mount")
                .args(["--make-rslave".as_ref(), dst.as_os_str()])
                .output();
            m.done.push(dst);
        }
        Ok(m)
    }
}

/// Mounts made by [`Ctx::enter`], undone in reverse order on drop.
pub struct Mounts {
    done: Vec<PathBuf>,
}

impl Drop for Mounts {
    fn drop(&mut self) {
        for d in self.done.iter().rev() {
            if !Cmd::new("umount").arg("-R").arg(d).status_quiet() {
                let _ = Cmd::new("umount").arg("-R").arg("-l").arg(d).status_quiet();
            }
        }
    }
}

/// The mount points of this process's mount namespace.
pub fn mountpoints() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(str::to_string)
        .collect()
}

fn is_mountpoint(p: &Path) -> bool {
    let want = p.to_string_lossy();
    mountpoints().iter().any(|mp| *mp == want)
}
