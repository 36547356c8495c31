// SPDX-License-Identifier: GPL-2.0-only
//! `cargo xtask`: set up, apply, build, test, check and export the
//! synchronous char/misc device unregistration series.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

mod apply;
mod bench;
mod bisect;
mod build;
mod check;
mod cmd;
mod ctx;
mod export;
mod kconfig;
mod kernlog;
mod ktap;
mod overlay;
mod rustapi;
mod send;
mod setup;
mod test;
mod topics;

#[cfg(test)]
mod tests {
    #[test]
    fn cargo_test_counts() {
        let log = "running 28 tests\ntest result: ok. 28 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\ntest result: FAILED. 3 passed; 1 failed; 0 ignored\n";
        assert_eq!(super::cargo_test_counts(log), (31, 1));
    }
}

use ctx::{Ctx, Toolchain};

#[derive(Parser)]
#[command(about, long_about = None)]
struct Cli {
    /// Which toolchain builds and boots the kernel.
    #[arg(long, global = true, value_enum, default_value_t = Toolchain::Trixie)]
    toolchain: Toolchain,
    /// A kernel git tree to use instead of the Linux 7.3.4 base (e.g. linux-next).
    #[arg(long, global = true)]
    kernel: Option<PathBuf>,
    #[command(subcommand)]
    stage: Stage,
}

#[derive(Subcommand)]
enum Stage {
    /// Make the pinned toolchain root and unpack the base kernel (cached).
    Setup,
    /// Apply the series with `git am -3`, one commit per patch.
    Apply,
    /// Configure (fragments) and build the kernel and the kselftests.
    Build,
    /// Set up if needed, apply, build, boot the guest and run the kselftests.
    Test {
        #[arg(long, value_enum, default_value_t = test::Accel::Auto)]
        accel: test::Accel,
    },
    /// Boot the already built kernel and run the kselftests only.
    Guest {
        #[arg(long, value_enum, default_value_t = test::Accel::Auto)]
        accel: test::Accel,
    },
    /// Measure what the fence costs: the benchmark's kernel (no debugging
    /// options), fence_bench in the guest, instructions counted by a QEMU
    /// TCG plugin; ratios against the legacy misc device.
    Bench {
        #[arg(long, value_enum, default_value_t = test::Accel::Auto)]
        accel: test::Accel,
    },
    /// The gates: series vs patches/, overlay, MAINTAINERS, kernel-doc,
    /// checkpatch --strict; then every patch builds on its own (clippy
    /// included), rustfmtcheck, rustdoc, and the Rust API gate (misuses of
    /// the Rust abstractions that must not compile).
    Check {
        /// Only the cheap gates: skip the build of every patch and rustdoc.
        #[arg(long)]
        no_build: bool,
    },
    /// The Rust API gate alone, against the kernel already built: the files
    /// of xtask/rust-api/fail must not compile, those of pass must.
    RustApi,
    /// Write the work tree's commits back to patches/, series and the overlay.
    Export,
    /// The series as mails with b4 (To/Cc from get_maintainer.pl), written
    /// to target/xtask/send/mails and not sent; checks they `git am` back
    /// onto the base to the series' tree.
    Send,
    /// Every test of the repository: the xtask's unit tests, check, send, test.
    Ci,
}

fn timed(
    times: &mut Vec<(&'static str, f64)>,
    name: &'static str,
    f: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let t = Instant::now();
    let r = f();
    times.push((name, t.elapsed().as_secs_f64()));
    r
}

fn full(ctx: &Ctx, accel: test::Accel, times: &mut Vec<(&'static str, f64)>) -> Result<()> {
    if ctx.toolchain == Toolchain::Trixie && !times.iter().any(|(n, _)| *n == "setup") {
        timed(times, "setup", || setup::run(ctx))?;
    }
    timed(times, "apply", || apply::run(ctx))?;
    timed(times, "build", || build::run(ctx))?;
    timed(times, "guest", || test::run(ctx, accel))
}

/// Every test of the repository: the xtask's unit tests and lints, the
/// series' gates, the mails (not sent), then the whole guest run.
fn ci(ctx: &Ctx, times: &mut Vec<(&'static str, f64)>) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    timed(times, "unit tests", || {
        let log = ctx.target().join("unit-tests.log");
        let _ = std::fs::remove_file(&log);
        cmd::Cmd::new(&cargo)
            .args(["test", "--quiet", "--workspace"])
            .cwd(&ctx.repo)
            .run_logged(&log)?;
        let (p, f) = cargo_test_counts(&std::fs::read_to_string(&log).unwrap_or_default());
        println!(
            "xtask unit tests: {p} passed, {f} failed (log {})",
            log.display()
        );
        Ok(())
    })?;
    timed(times, "lint", || {
        let log = ctx.target().join("lint.log");
        let _ = std::fs::remove_file(&log);
        cmd::Cmd::new(&cargo)
            .args(["fmt", "--check"])
            .cwd(&ctx.repo)
            .run_logged(&log)
            .context("cargo fmt --check (needs `rustup component add rustfmt`)")?;
        cmd::Cmd::new(&cargo)
            .args([
                "clippy",
                "--quiet",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
            .cwd(&ctx.repo)
            .run_logged(&log)
            .context("cargo clippy (needs `rustup component add clippy`)")?;
        println!("xtask lint: rustfmt and clippy clean");
        Ok(())
    })?;
    if ctx.toolchain == Toolchain::Trixie {
        timed(times, "setup", || setup::run(ctx))?;
    }
    timed(times, "check", || check::run(ctx, true))?;
    timed(times, "send", || send::run(ctx))?;
    full(ctx, test::Accel::Auto, times)
}

/// Sums the "test result: ok. N passed; M failed; ..." lines of `cargo test`.
fn cargo_test_counts(log: &str) -> (usize, usize) {
    let num = |l: &str, what: &str| -> usize {
        l.split([';', '.'])
            .find_map(|part| {
                part.trim()
                    .strip_suffix(what)
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    };
    log.lines()
        .filter(|l| l.starts_with("test result:"))
        .fold((0, 0), |(p, f), l| {
            (p + num(l, "passed"), f + num(l, "failed"))
        })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut times = Vec::new();
    let r = Ctx::new(cli.toolchain, cli.kernel).and_then(|ctx| match cli.stage {
        Stage::Setup => setup::run(&ctx),
        Stage::Apply => apply::run(&ctx),
        Stage::Build => build::run(&ctx),
        Stage::Test { accel } => full(&ctx, accel, &mut times),
        Stage::Guest { accel } => test::run(&ctx, accel),
        Stage::Bench { accel } => bench::run(&ctx, accel),
        Stage::Check { no_build } => check::run(&ctx, !no_build),
        Stage::RustApi => rustapi::run(&ctx).and_then(|f| {
            if f.is_empty() {
                Ok(())
            } else {
                anyhow::bail!("the Rust API gate failed:\n  {}", f.join("\n  "))
            }
        }),
        Stage::Export => export::run(&ctx),
        Stage::Send => send::run(&ctx),
        Stage::Ci => ci(&ctx, &mut times),
    });
    if !times.is_empty() {
        let t: Vec<String> = times.iter().map(|(n, s)| format!("{n} {s:.0} s")).collect();
        println!("stage times: {}", t.join(", "));
        // The tests' closing line comes last, where CI and people look for it.
        if let Some(total) = test::TOTAL.get() {
            println!("{total}");
        }
    }
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
