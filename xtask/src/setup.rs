// SPDX-License-Identifier: GPL-2.0-only
//! `setup`: the pinned toolchain root and the base kernel source.
//!
//! Idempotent: a finished root carries a stamp with the package list it was
//! made with, the base repository exists only once it is complete (both are
//! built under a temporary name and renamed at the end).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::cmd::{have, Cmd, Step};
use crate::ctx::{Ctx, Toolchain};

const MIRROR: &str = "http://deb.debian.org/debian";

/// What the toolchain root holds. Packages added to this list are installed
/// into the existing root; any other change remakes it.
pub const PACKAGES: &[&str] = &[
    "build-essential",
    "bc",
    "bison",
    "flex",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "kmod",
    "python3",
    "rsync",
    "clang",
    "lld",
    "llvm",
    "rustc",
    "rust-src",
    "bindgen",
    "libclang-dev",
    "rustfmt",
    "rust-clippy",
    "dwarves",
    "qemu-system-x86",
    "virtme-ng",
    "busybox-static",
    "ccache",
    "git",
    "ca-certificates",
    "xz-utils",
    "zstd",
    "udev",
    "iproute2",
    "procps",
    "b4",
    "python3-sphinx",
    "python3-yaml",
];
/// From trixie-backports: the base kernel source.
pub const BACKPORTS: &[&str] = &["linux-source-7.3"];
const SOURCE_TARBALL: &str = "usr/src/linux-source-7.3.tar.xz";

/// A fixed identity and date for the base commit, so that the base has the
/// same commit id on every machine (it is the series' `base-commit:`).
const BASE_DATE: &str = "2026-01-01T00:00:00Z";
pub const BASE_TAG: &str = "cdev-sync-base";

fn stamp_text() -> String {
    format!("{}\n{}\n", PACKAGES.join(" "), BACKPORTS.join(" "))
}

/// The packages of `PACKAGES` that a root made from the stamp `old` lacks,
/// when that is the only difference (same backports, nothing removed).
fn added_packages(old: &str) -> Option<Vec<&'static str>> {
    let mut lines = old.lines();
    let had: Vec<&str> = lines.next()?.split_whitespace().collect();
    if lines.next()? != BACKPORTS.join(" ") || had.iter().any(|p| !PACKAGES.contains(p)) {
        return None;
    }
    let added: Vec<&'static str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !had.contains(p))
        .collect();
    (!added.is_empty()).then_some(added)
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let log = ctx.target().join("setup.log");
    match ctx.toolchain {
        Toolchain::Trixie => trixie_root(ctx, &log)?,
        Toolchain::Host => host_check(ctx, &log)?,
    }
    base_source(ctx, &log)?;
    println!("setup: ready (cache {})", ctx.cache.display());
    Ok(())
}

fn trixie_root(ctx: &Ctx, log: &Path) -> Result<()> {
    let root = ctx.root();
    let old = fs::read_to_string(ctx.ready_stamp()).ok();
    if old.as_deref() == Some(&stamp_text()) {
        guest_fixups(&root)?;
        println!("==> toolchain root {} is ready", root.display());
        return Ok(());
    }
    if let Some(added) = old.as_deref().and_then(added_packages) {
        let _m = ctx.enter()?;
        let s = Step::start(format!(
            "apt-get install {} added package(s) in the root: {}",
            added.len(),
            added.join(" ")
        ));
        ctx.tool(
            Path::new("/"),
            &format!(
                "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && \
                 apt-get install -y -q --no-install-recommends {} && apt-get clean",
                added.join(" ")
            ),
        )
        .run_logged(log)
        .context("installing the added packages failed: is Debian's archive reachable?")?;
        s.done();
        guest_fixups(&root)?;
        fs::write(ctx.ready_stamp(), stamp_text())?;
        return Ok(());
    }
    if !nix_is_root() {
        bail!("making the toolchain root needs root (chroot, debootstrap): run as root, or pass --toolchain host");
    }
    if !have("debootstrap") {
        if !have("apt-get") {
            bail!("debootstrap is missing and there is no apt-get to install it: install debootstrap, or pass --toolchain host");
        }
        let s = Step::start("installing debootstrap on the host (apt-get)");
        Cmd::new("apt-get").args(["update", "-q"]).run_logged(log)?;
        Cmd::new("apt-get")
            .args([
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "debootstrap",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run_logged(log)?;
        s.done();
    }
    // A root without the stamp is half made (or made for another package
    // list): start again from nothing rather than patch it up.
    let tmp = ctx.cache.join("trixie.tmp");
    for d in [&tmp, &root] {
        if d.exists() {
            unmount_below(d);
            fs::remove_dir_all(d).with_context(|| format!("cannot remove {}", d.display()))?;
        }
    }
    fs::create_dir_all(&ctx.cache)?;
    let s = Step::start(format!(
        "debootstrap trixie into {} (log {})",
        tmp.display(),
        log.display()
    ));
    Cmd::new("debootstrap")
        .args(["--variant=minbase", "trixie"])
        .arg(&tmp)
        .arg(MIRROR)
        .run_logged(log)
        .context("debootstrap failed: is Debian's archive reachable?")?;
    s.done();
    fs::write(
        tmp.join("etc/apt/sources.list.d/debian.sources"),
        format!(
            "Types: deb\nURIs: {MIRROR}\nSuites: trixie trixie-updates trixie-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        ),
    )?;
    let _ = fs::remove_file(tmp.join("etc/apt/sources.list"));
    fs::rename(&tmp, &root)?;

    let _m = ctx.enter()?;
    let s = Step::start(format!(
        "apt-get install {} packages in the root",
        PACKAGES.len() + BACKPORTS.len()
    ));
    let script = format!(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && \
         apt-get install -y -q --no-install-recommends {} && \
         apt-get install -y -q --no-install-recommends -t trixie-backports {} && apt-get clean",
        PACKAGES.join(" "),
        BACKPORTS.join(" ")
    );
    ctx.tool(Path::new("/"), &script).run_logged(log)?;
    s.done();
    guest_fixups(&root)?;
    fs::write(ctx.ready_stamp(), stamp_text())?;
    Ok(())
}

/// The root is also the guest's root file system. virtme-ng's init ends
/// with `poweroff -f`, which a minbase root lacks (no init system): without
/// it the guest's init exits and the kernel panics at every shutdown.
/// busybox's applet powers off with the reboot syscall directly.
fn guest_fixups(root: &Path) -> Result<()> {
    let p = root.join("usr/sbin/poweroff");
    if !p.exists() {
        fs::write(&p, "#!/bin/sh\n# cdev-sync: virtme-ng's init needs poweroff -f\nexec /bin/busybox poweroff -f\n")?;
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn host_check(ctx: &Ctx, log: &Path) -> Result<()> {
    for t in [
        "clang",
        "ld.lld",
        "rustc",
        "bindgen",
        "vng",
        "qemu-system-x86_64",
        "git",
        "make",
    ] {
        if !have(t) {
            bail!("--toolchain host: `{t}` is not on the PATH; install it or use the default trixie toolchain");
        }
    }
    if ctx.user_kernel.is_none() {
        bail!("--toolchain host needs --kernel DIR: the base source comes from the trixie root's linux-source package");
    }
    let _ = log;
    Ok(())
}

/// The base kernel: Debian's linux-source tarball, unpacked into a git
/// repository with one commit tagged [`BASE_TAG`].
fn base_source(ctx: &Ctx, log: &Path) -> Result<()> {
    let repo = ctx.base_repo();
    if repo.join(".git").exists() {
        println!("==> base kernel {} is ready", repo.display());
        return Ok(());
    }
    if ctx.toolchain == Toolchain::Host {
        return Ok(());
    }
    let tarball = ctx.root().join(SOURCE_TARBALL);
    if !tarball.exists() {
        bail!(
            "{} is missing: the toolchain root is incomplete, remove {} and run setup again",
            tarball.display(),
            ctx.root().display()
        );
    }
    let tmp = ctx.data().join("linux.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;
    let s = Step::start(format!("unpacking {}", tarball.display()));
    Cmd::new("tar")
        .args([
            "-xf".as_ref(),
            tarball.as_os_str(),
            "--strip-components=1".as_ref(),
            "-C".as_ref(),
            tmp.as_os_str(),
        ])
        .run_logged(log)?;
    s.done();
    let s = Step::start("committing the base to git");
    let version = kernel_version(&tmp)?;
    let gi = tmp.join(".gitignore");
    fs::write(&gi, drop_debian_ignore(&fs::read_to_string(&gi)?))?;
    let git = |args: &[&str]| {
        Cmd::new("git")
            .args([
                "-c",
                "core.autocrlf=false",
                "-c",
                "init.defaultBranch=master",
                "-c",
                "gc.auto=0",
            ])
            .args(args)
            .cwd(&tmp)
            .env("GIT_AUTHOR_NAME", "cdev-sync base")
            .env("GIT_AUTHOR_EMAIL", "base@invalid")
            .env("GIT_COMMITTER_NAME", "cdev-sync base")
            .env("GIT_COMMITTER_EMAIL", "base@invalid")
            .env("GIT_AUTHOR_DATE", BASE_DATE)
            .env("GIT_COMMITTER_DATE", BASE_DATE)
    };
    git(&["init", "-q"]).run_logged(log)?;
    git(&["add", "-A", "-f", "."]).run_logged(log)?;
    git(&[
        "commit",
        "-q",
        "--no-verify",
        "-m",
        &format!("Linux {version} (Debian linux-source)"),
    ])
    .run_logged(log)?;
    git(&["tag", BASE_TAG]).run_logged(log)?;
    s.done();
    fs::rename(&tmp, &repo)?;
    println!("    base: Linux {version}, commit {}", base_commit(&repo)?);
    Ok(())
}

/// Debian's linux-source adds a block to the top-level .gitignore that
/// ignores everything at the top level ("/*"): new files of the series would
/// be invisible to `git status` and `git add`. The base drops that block.
pub fn drop_debian_ignore(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for l in text.lines() {
        if l.starts_with("# Debian packaging") {
            skipping = true;
            // Also drop the "#" line that opened the comment block.
            if out.ends_with("#\n") {
                out.truncate(out.len() - 2);
            }
            continue;
        }
        if skipping {
            if l == "!/debian/" {
                skipping = false;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

pub fn base_commit(repo: &Path) -> Result<String> {
    Ok(Cmd::new("git")
        .args(["rev-parse", &format!("{BASE_TAG}^{{commit}}")])
        .cwd(repo)
        .output()?
        .trim()
        .to_string())
}

pub fn kernel_version(tree: &Path) -> Result<String> {
    let mk = fs::read_to_string(tree.join("Makefile")).context("no Makefile in the kernel tree")?;
    let get = |k: &str| {
        mk.lines()
            .find_map(|l| {
                l.strip_prefix(k)
                    .and_then(|r| r.trim_start().strip_prefix('='))
            })
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    Ok(format!(
        "{}.{}.{}{}",
        get("VERSION"),
        get("PATCHLEVEL"),
        get("SUBLEVEL"),
        get("EXTRAVERSION")
    ))
}

fn nix_is_root() -> bool {
    Cmd::new("id")
        .arg("-u")
        .output()
        .map(|o| o.trim() == "0")
        .unwrap_or(false)
}

fn unmount_below(dir: &Path) {
    let d = dir.to_string_lossy().to_string();
    let mut mps: Vec<String> = crate::ctx::mountpoints()
        .into_iter()
        .filter(|mp| mp.starts_with(&d))
        .collect();
    mps.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for mp in mps {
        let _ = Cmd::new("umount").args(["-R", "-l", &mp]).status_quiet();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_added_to_the_list() {
        let all = PACKAGES.join(" ");
        let bp = BACKPORTS.join(" ");
        let without_b4 = all.replace(" b4 ", " ");
        assert_eq!(
            added_packages(&format!("{without_b4}\n{bp}\n")),
            Some(vec!["b4"])
        );
        // Nothing added, a package removed, other backports: not an update.
        assert_eq!(added_packages(&format!("{all}\n{bp}\n")), None);
        assert_eq!(added_packages(&format!("{all} nano\n{bp}\n")), None);
        assert_eq!(
            added_packages(&format!("{without_b4}\nlinux-source-7.2\n")),
            None
        );
        assert_eq!(added_packages(""), None);
    }

    #[test]
    fn debian_ignore_block_is_dropped() {
        let gi = "*.o\n\n#\n# Debian packaging: ignore everything at the top level, since it isn't\n# included in our repository\n#\n/*\n!/debian/\n";
        assert_eq!(drop_debian_ignore(gi), "*.o\n\n");
        assert_eq!(drop_debian_ignore("*.o\n/vmlinux\n"), "*.o\n/vmlinux\n");
    }
}
