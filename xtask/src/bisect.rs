// SPDX-License-Identifier: GPL-2.0-only
//! The build gates of `check`: every patch of the series builds on its own,
//! in order, incrementally in the test kernel's `O=` directory, with no
//! compiler or clippy warning in a file the series touches; `rustfmtcheck`
//! after each patch that touches Rust; and, on the whole series, `make
//! rustdoc` and `make htmldocs` (the Documentation/ directories the series
//! touches) without a warning about its files.
//!
//! The work tree is moved from patch to patch with `git checkout`, which
//! rewrites only the files that differ, so each build recompiles what the
//! patch changed (and, through Kbuild's dependencies, what uses it). It is
//! put back on the series' branch at the end, also on failure.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::apply::{git, BRANCH};
use crate::build::{self, SELFTEST};
use crate::cmd::log_tail;
use crate::ctx::Ctx;

/// The files a patch touches ("+++ b/path", and "--- a/path" for deletions).
pub fn touched_files(patch: &str) -> BTreeSet<String> {
    patch
        .lines()
        .filter_map(|l| {
            l.strip_prefix("+++ b/")
                .or_else(|| l.strip_prefix("--- a/"))
        })
        .map(|p| p.trim().to_string())
        .collect()
}

/// Whether the kernel build reads the file: everything but the
/// kselftests, the documentation (Documentation/Kconfig excepted) and
/// MAINTAINERS.
pub fn kernel_build_input(f: &str) -> bool {
    let doc = f.starts_with("Documentation/") && !f.ends_with("/Kconfig");
    !(f.starts_with("tools/testing/selftests/") || doc || f == "MAINTAINERS")
}

/// The warnings of a build log about the given files: clang's
/// "path:line:col: warning: text", and rustc's or clippy's
/// "warning: text" followed by " --> path:line:col". Paths in the log may be
/// absolute or relative; a file matches when the path ends with it.
pub fn warnings_in(log: &str, files: &BTreeSet<String>) -> Vec<String> {
    let ours = |path: &str| {
        let path = path.trim();
        files
            .iter()
            .any(|f| path == f || path.ends_with(&format!("/{f}")))
    };
    let lines: Vec<&str> = log.lines().collect();
    let mut out = BTreeSet::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(at) = l.find(": warning: ") {
            let loc = &l[..at];
            let path = loc.split(':').next().unwrap_or("");
            if ours(path) {
                out.insert(format!(
                    "{}: warning: {}",
                    strip_to(loc, files),
                    &l[at + 11..]
                ));
            }
        } else if let Some(msg) = l.strip_prefix("warning: ") {
            if msg.ends_with("emitted") {
                continue; // "warning: 2 warnings emitted"
            }
            let loc = lines[i + 1..]
                .iter()
                .take_while(|l| !l.trim().is_empty())
                .find_map(|l| l.trim_start().strip_prefix("--> "));
            if let Some(loc) = loc {
                let path = loc.split(':').next().unwrap_or("");
                if ours(path) {
                    out.insert(format!("{}: warning: {msg}", strip_to(loc.trim(), files)));
                }
            }
        }
    }
    out.into_iter().collect()
}

/// "…/linux/fs/x.c:3:4" -> "fs/x.c:3:4" for a file of the series.
fn strip_to(loc: &str, files: &BTreeSet<String>) -> String {
    files
        .iter()
        .find_map(|f| loc.find(f.as_str()).map(|i| loc[i..].to_string()))
        .unwrap_or_else(|| loc.to_string())
}

/// What the build gates found; printed by `check`.
pub struct Report {
    pub lines: Vec<String>,
    pub failures: Vec<String>,
    /// The files the series touches: warnings about them fail the gates.
    files: BTreeSet<String>,
}

impl Report {
    /// One build's line, and a failure for the build failing or for each
    /// warning `find` reads in its log about the series' files.
    fn record(
        &mut self,
        name: &str,
        r: Result<()>,
        log: &Path,
        start: Instant,
        find: fn(&str, &BTreeSet<String>) -> Vec<String>,
        ok: &str,
    ) {
        let secs = start.elapsed().as_secs_f64();
        match r {
            Ok(()) => {
                let w = find(&fs::read_to_string(log).unwrap_or_default(), &self.files);
                self.lines.push(format!(
                    "{name}: {ok}, {} warning(s) about the series' files, {secs:.0} s",
                    w.len()
                ));
                for x in &w {
                    self.lines.push(format!("    {x}"));
                    self.failures.push(format!("{name}: {x}"));
                }
            }
            Err(e) => {
                self.lines.push(format!(
                    "{name}: FAILS: {e:#} ({secs:.0} s, log {})",
                    log.display()
                ));
                self.lines.push(log_tail(log, 15));
                self.failures
                    .push(format!("{name} fails: {e:#} (log {})", log.display()));
            }
        }
    }
}

/// Puts the work tree back on the series' branch when dropped.
struct BackToBranch<'a>(&'a Path);

impl Drop for BackToBranch<'_> {
    fn drop(&mut self) {
        let _ = git(self.0)
            .args(["checkout", "-q", "-f", BRANCH])
            .status_quiet();
    }
}

pub fn run(ctx: &Ctx, patches: &[PathBuf], texts: &[String]) -> Result<Report> {
    let kernel = ctx.kernel();
    let dir = ctx.target().join("bisect");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let b = ctx.build_dir();
    fs::create_dir_all(&b)?;
    let mut rep = Report {
        lines: Vec::new(),
        failures: Vec::new(),
        files: texts.iter().flat_map(|t| touched_files(t)).collect(),
    };

    // The test kernel's configuration at the top of the series; each patch
    // gets it through olddefconfig, which drops the options its tree does
    // not know yet.
    let cfg_log = dir.join("config.log");
    build::config(ctx, &cfg_log).context("configuring the test kernel for the build gates")?;
    let head_cfg = fs::read_to_string(b.join(".config"))?;

    let n = patches.len();
    let commits: Vec<String> = git(&kernel)
        .args(["rev-list", "--reverse", &format!("{BRANCH}~{n}..{BRANCH}")])
        .output()?
        .lines()
        .map(str::to_string)
        .collect();
    if commits.len() != n {
        anyhow::bail!(
            "{} carries {} commits over the base, the series has {n} patches: run `cargo xtask apply`",
            kernel.display(),
            commits.len()
        );
    }
    let _back = BackToBranch(&kernel);
    for (i, (commit, (patch, text))) in commits
        .iter()
        .zip(patches.iter().zip(texts.iter()))
        .enumerate()
    {
        let name = patch
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let log = dir.join(format!("{:04}.log", i + 1));
        let t = Instant::now();
        git(&kernel)
            .args(["checkout", "-q", "-f", "--detach", commit])
            .run_logged(&log)?;
        let touched = touched_files(text);
        // A patch that changes nothing the kernel build reads leaves the
        // kernel of the previous patch, which built (the first patch is
        // always built: the tree comes from the top of the series).
        let kernel_input = i == 0 || touched.iter().any(|f| kernel_build_input(f));
        let mut what = Vec::new();
        let r = if kernel_input {
            what.push("kernel");
            step_config(ctx, &head_cfg, &log).and_then(|_| {
                build::make(ctx, "")
                    .run_logged(&log)
                    .context("the kernel build failed")
                    .map(|_| ())
            })
        } else {
            what.push("kernel unchanged");
            Ok(())
        };
        let r = r.and_then(|_| {
            if touched
                .iter()
                .any(|f| f.starts_with("tools/testing/selftests/"))
                && kernel
                    .join(format!("tools/testing/selftests/{SELFTEST}"))
                    .exists()
            {
                what.push("kselftests");
                build::kselftests(ctx, &log)?;
            }
            if touched.iter().any(|f| f.ends_with(".rs")) {
                what.push("rustfmtcheck");
                build::make(ctx, "rustfmtcheck").run_logged(&log).context(
                    "make rustfmtcheck: the Rust code is not formatted (make LLVM=1 rustfmt)",
                )?;
            }
            Ok(())
        });
        let ok = format!("builds ({})", what.join(" + "));
        rep.record(&name, r, &log, t, warnings_in, &ok);
    }
    drop(_back);
    // The top of the series with the test configuration again, as `build`
    // leaves it.
    step_config(ctx, &head_cfg, &cfg_log)?;

    let log = dir.join("rustdoc.log");
    let t = Instant::now();
    let r = build::make(ctx, "rustdoc").run_logged(&log).map(|_| ());
    rep.record("rustdoc", r, &log, t, warnings_in, "built");
    docs(ctx, &mut rep);
    Ok(rep)
}

/// The top-level Documentation/ directories the series touches
/// (`SPHINXDIRS`).
pub fn sphinx_dirs(files: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_prefix("Documentation/"))
        .filter_map(|f| f.split_once('/').map(|(d, _)| d.to_string()))
        .collect();
    out.dedup();
    out
}

/// The warnings and errors of a documentation build about the given files
/// (Sphinx's "path:line: WARNING: text", kernel-doc's "path:line: warning: text").
pub fn doc_warnings(log: &str, files: &BTreeSet<String>) -> Vec<String> {
    log.lines()
        .filter(|l| {
            let u = l.to_ascii_uppercase();
            u.contains("WARNING") || u.contains("ERROR")
        })
        .filter(|l| files.iter().any(|f| l.contains(f.as_str())))
        .map(|l| strip_to(l, files))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `make htmldocs` of the Documentation/ directories the series touches,
/// in an `O=` directory of its own: no warning may name a file of the
/// series (the page, or a source file whose kernel-doc it pulls in).
fn docs(ctx: &Ctx, rep: &mut Report) {
    let dirs = sphinx_dirs(&rep.files);
    if dirs.is_empty() {
        return;
    }
    let log = ctx.target().join("bisect").join("htmldocs.log");
    let t = Instant::now();
    let out = ctx.data().join("build-docs");
    let r = ctx
        .tool(
            &ctx.kernel(),
            &format!(
                "make O='{}' SPHINXDIRS='{}' htmldocs",
                out.display(),
                dirs.join(" ")
            ),
        )
        .run_logged(&log);
    let name = format!("htmldocs (SPHINXDIRS={})", dirs.join(" "));
    rep.record(&name, r.map(|_| ()), &log, t, doc_warnings, "built");
}

/// The test configuration for the checked-out tree, written to `.config`
/// only when it differs: Kbuild rewrites rustc_cfg on every syncconfig, and
/// a new rustc_cfg rebuilds all Rust code.
fn step_config(ctx: &Ctx, head_cfg: &str, log: &Path) -> Result<()> {
    let b = ctx.build_dir();
    let cand = b.join(".config.bisect");
    fs::write(&cand, head_cfg)?;
    ctx.tool(
        &ctx.kernel(),
        &format!(
            "make O='{}' LLVM=1 KCONFIG_CONFIG=.config.bisect olddefconfig",
            b.display()
        ),
    )
    .run_logged(log)?;
    let new = fs::read_to_string(&cand)?;
    if fs::read_to_string(b.join(".config")).ok().as_deref() != Some(new.as_str()) {
        fs::rename(&cand, b.join(".config"))?;
    } else {
        let _ = fs::remove_file(&cand);
    }
    let _ = fs::remove_file(b.join(".config.bisect.old"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(f: &[&str]) -> BTreeSet<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn documentation_of_the_series() {
        let f = files(&[
            "Documentation/driver-api/index.rst",
            "Documentation/driver-api/sync_unregister.rst",
            "fs/fenced_fops.c",
            "MAINTAINERS",
        ]);
        assert_eq!(sphinx_dirs(&f), ["driver-api"]);
        let log = "/root/.cache/cdev-sync/data/linux/Documentation/driver-api/sync_unregister.rst:40: WARNING: undefined label: 'x'
/root/.cache/cdev-sync/data/linux/Documentation/driver-api/gpio/index.rst:3: WARNING: not ours
./fs/fenced_fops.c:212: warning: Function parameter or struct member 'ff' not described in 'fenced_fops_revoke'
Documentation/driver-api/sync_unregister.rst: ERROR: Unknown directive type
";
        assert_eq!(
            doc_warnings(log, &f),
            [
                "Documentation/driver-api/sync_unregister.rst: ERROR: Unknown directive type",
                "Documentation/driver-api/sync_unregister.rst:40: WARNING: undefined label: 'x'",
                "fs/fenced_fops.c:212: warning: Function parameter or struct member 'ff' not described in 'fenced_fops_revoke'",
            ]
        );
    }

    #[test]
    fn what_the_kernel_build_reads() {
        assert!(kernel_build_input("fs/fenced_fops.c"));
        assert!(kernel_build_input("tools/include/uapi/linux/x.h"));
        assert!(kernel_build_input("Documentation/Kconfig"));
        assert!(!kernel_build_input(
            "tools/testing/selftests/chardev/unbind_test.c"
        ));
        assert!(!kernel_build_input(
            "Documentation/driver-api/sync_unregister.rst"
        ));
        assert!(!kernel_build_input("MAINTAINERS"));
    }

    #[test]
    fn files_of_a_patch() {
        let p = "--- a/fs/char_dev.c\n+++ b/fs/char_dev.c\n--- /dev/null\n+++ b/fs/fenced_fops.c\n--- a/gone.c\n+++ /dev/null\n";
        assert_eq!(
            touched_files(p),
            files(&["fs/char_dev.c", "fs/fenced_fops.c", "gone.c"])
        );
    }

    // Real clang and clippy output (paths of an O= build), and one of
    // upstream's clippy warnings, which is not the series'.
    #[test]
    fn warnings_of_the_series_only() {
        let log = "  CC      fs/char_dev.o
/root/.cache/cdev-sync/data/linux/fs/char_dev.c:712:6: warning: unused variable 'x' [-Wunused-variable]
  712 |         int x;
      |             ^
../drivers/char/misc.c:40:1: warning: something else
warning: unsafe block missing a safety comment
   --> /root/.cache/cdev-sync/data/linux/rust/kernel/cpufreq.rs:700:9
    |
700 |         unsafe { x }
    |

warning: this `if` has identical blocks
  --> rust/kernel/cdev.rs:120:5
   |

warning: 1 warning emitted

";
        let w = warnings_in(log, &files(&["fs/char_dev.c", "rust/kernel/cdev.rs"]));
        assert_eq!(
            w,
            [
                "fs/char_dev.c:712:6: warning: unused variable 'x' [-Wunused-variable]",
                "rust/kernel/cdev.rs:120:5: warning: this `if` has identical blocks",
            ]
        );
        assert!(warnings_in(log, &files(&["fs/fenced_fops.c"])).is_empty());
    }
}
