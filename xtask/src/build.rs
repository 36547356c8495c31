// SPDX-License-Identifier: GPL-2.0-only
//! `build`: a small config from fragments, the kernel (LLVM=1, ccache,
//! incremental in a persistent O= directory) and the series' kselftests.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cmd::Step;
use crate::ctx::{Ctx, Flavor};
use crate::kconfig;

/// The kselftest directory of the series (a `TARGETS=` name).
pub const SELFTEST: &str = "chardev";

/// The fragments, in merge order. The test kernel: the guest's needs, the
/// debugging options, the drivers the series converts, then the series' own
/// kselftest `config` (the kernel convention). The benchmark's kernel: the guest's needs and the test
/// driver, without the debugging options, which multiply the cost of every
/// lock and memory access the benchmark measures.
pub fn fragments(ctx: &Ctx) -> Vec<PathBuf> {
    if ctx.flavor == Flavor::Bench {
        return vec![
            ctx.repo.join("xtask/kconfig/guest.config"),
            ctx.repo.join("xtask/kconfig/bench.config"),
        ];
    }
    let mut v = vec![
        ctx.repo.join("xtask/kconfig/guest.config"),
        ctx.repo.join("xtask/kconfig/debug.config"),
        ctx.repo.join("xtask/kconfig/converted.config"),
    ];
    let st = ctx
        .kernel()
        .join(format!("tools/testing/selftests/{SELFTEST}/config"));
    if st.exists() {
        v.push(st);
    }
    v
}

pub fn jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `make` in the kernel tree. Rust is compiled by clippy-driver
/// (`CLIPPY=1`, the same code as rustc plus the lints) in every build, so
/// that the clippy gate of `check` and the test build share their objects.
pub fn make(ctx: &Ctx, targets: &str) -> crate::cmd::Cmd {
    ctx.tool(
        &ctx.kernel(),
        &format!(
            "make O='{}' LLVM=1 CC='ccache clang' CLIPPY=1 -j{} {targets}",
            ctx.build_dir().display(),
            jobs()
        ),
    )
}

pub fn run(ctx: &Ctx) -> Result<()> {
    ctx.require_setup()?;
    let _m = ctx.enter()?;
    let log = ctx.target().join(match ctx.flavor {
        Flavor::Test => "build.log",
        Flavor::Bench => "build-bench.log",
    });
    let _ = fs::remove_file(&log);
    fs::create_dir_all(ctx.build_dir())?;
    config(ctx, &log)?;
    let s = Step::start(format!(
        "building the kernel ({} jobs, log {})",
        jobs(),
        log.display()
    ));
    make(ctx, "")
        .run_logged(&log)
        .context("the kernel build failed")?;
    s.done();
    let s = Step::start(format!("building the kselftests (TARGETS={SELFTEST})"));
    kselftests(ctx, &log)?;
    s.done();
    Ok(())
}

/// Where the kselftests are installed for the guest.
pub fn kselftest_dir(ctx: &Ctx) -> PathBuf {
    ctx.build_dir().join("kselftest-install")
}

pub fn kselftests(ctx: &Ctx, log: &Path) -> Result<()> {
    let dir = ctx
        .kernel()
        .join(format!("tools/testing/selftests/{SELFTEST}"));
    if !dir.exists() {
        bail!(
            "{} does not exist: is the series applied (`cargo xtask apply`)?",
            dir.display()
        );
    }
    let b = ctx.build_dir();
    ctx.tool(
        &ctx.kernel(),
        &format!(
            "make O='{b}' LLVM=1 -j{j} headers && \
             make -C tools/testing/selftests LLVM=1 O='{b}/kselftest' KHDR_INCLUDES='-isystem {b}/usr/include' \
             TARGETS={SELFTEST} INSTALL_PATH='{i}' install",
            b = b.display(),
            j = jobs(),
            i = kselftest_dir(ctx).display()
        ),
    )
    .run_logged(log)
    .context("the kselftest build failed")?;
    Ok(())
}

pub fn config(ctx: &Ctx, log: &Path) -> Result<()> {
    let b = ctx.build_dir();
    let frags = fragments(ctx);
    let mut texts = Vec::new();
    let mut stamp = String::new();
    for f in &frags {
        let t = fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        // Names, not paths: a fresh clone elsewhere must not reconfigure.
        stamp.push_str(&format!(
            "## {}\n{t}",
            f.file_name().unwrap_or_default().to_string_lossy()
        ));
        texts.push((
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            t,
        ));
    }
    let stamp_file = b.join(".cdev-sync-fragments");
    let s;
    if !b.join(".config").exists()
        || fs::read_to_string(&stamp_file).ok().as_deref() != Some(&stamp)
    {
        s = Step::start(format!(
            "configuring: tinyconfig + {} fragments",
            frags.len()
        ));
        let list: Vec<String> = frags.iter().map(|f| format!("'{}'", f.display())).collect();
        ctx.tool(
            &ctx.kernel(),
            &format!(
                "make O='{b}' LLVM=1 tinyconfig && \
                 scripts/kconfig/merge_config.sh -m -O '{b}' '{b}/.config' {l} && \
                 make O='{b}' LLVM=1 olddefconfig",
                b = b.display(),
                l = list.join(" ")
            ),
        )
        .run_logged(log)?;
    } else {
        s = Step::start("configuring: olddefconfig (fragments unchanged)");
        make(ctx, "olddefconfig").run_logged(log)?;
    }
    let cfg = fs::read_to_string(b.join(".config"))?;
    let bad = kconfig::check(&texts, &cfg);
    if !bad.is_empty() {
        let _ = fs::remove_file(&stamp_file);
        let list: Vec<String> = bad.iter().map(|m| format!("  {m}")).collect();
        bail!(
            "{} required option(s) did not stick after olddefconfig (a dependency is missing, or the toolchain lacks a feature):\n{}",
            bad.len(),
            list.join("\n")
        );
    }
    fs::write(&stamp_file, &stamp)?;
    let builtin = cfg.lines().filter(|l| l.ends_with("=y")).count();
    s.done();
    println!("    {builtin} built-in options, every fragment option in place");
    Ok(())
}
