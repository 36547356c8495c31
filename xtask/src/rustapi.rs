// SPDX-License-Identifier: GPL-2.0-only
//! The soundness gate of the Rust API: small driver-shaped files compiled
//! against the series' built `kernel` crate, as an external module would be.
//! Every file in `xtask/rust-api/fail/` is a misuse that must NOT compile,
//! and must fail for the reason its `//! expect:` lines name (substrings of
//! the compiler's output); every file in `xtask/rust-api/pass/` is the
//! sound way to do the same and must compile. A should-fail file that
//! compiles, or fails for another reason, fails the gate.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ctx::Ctx;

/// One file of the gate.
#[derive(Debug, PartialEq)]
pub struct Case {
    pub name: String,
    pub path: PathBuf,
    /// What the compiler must say; empty for a file that must compile.
    pub expect: Vec<String>,
}

/// The `//! expect:` lines of a case.
pub fn expectations(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("//! expect:"))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect()
}

/// The verdict on one compilation: None if it is what the case wants, or
/// why not.
pub fn verdict(case: &Case, compiled: bool, output: &str) -> Option<String> {
    if case.expect.is_empty() {
        return (!compiled).then(|| "must compile, but does not".to_string());
    }
    if compiled {
        return Some("must not compile, but does".to_string());
    }
    let missing: Vec<&String> = case
        .expect
        .iter()
        .filter(|e| !output.contains(e.as_str()))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "fails, but not for the reason it names: no {}",
            missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // Every error must be one the case names: a file that fails for the
    // named reason and for another one proves nothing about the first.
    let other: Vec<&str> = errors(output)
        .filter(|l| !case.expect.iter().any(|e| l.contains(e.as_str())))
        .collect();
    (!other.is_empty()).then(|| format!("also fails for another reason: {}", other.join(" | ")))
}

/// The compiler's error lines, without its closing summary.
fn errors(output: &str) -> impl Iterator<Item = &str> {
    output.lines().map(str::trim).filter(|l| {
        (l.starts_with("error:") || l.starts_with("error["))
            && !l.starts_with("error: aborting due to")
    })
}

/// Appended to every case: `#[vtable]` and the module macros need a module.
const MODULE: &str = "
kernel::prelude::module! {
    type: RustApiCase,
    name: \"rust_api_case\",
    authors: [\"cargo xtask check\"],
    description: \"A case of the Rust API gate\",
    license: \"GPL\",
}

/// The module of the case.
pub struct RustApiCase;

impl kernel::Module for RustApiCase {
    fn init(_module: &'static kernel::ThisModule) -> kernel::error::Result<Self> {
        Ok(Self)
    }
}
";

fn cases(dir: &Path, fail: bool) -> Result<Vec<Case>> {
    let mut out = Vec::new();
    let rd = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    paths.sort();
    for path in paths {
        let text = fs::read_to_string(&path)?;
        let expect = expectations(&text);
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if fail && expect.is_empty() {
            anyhow::bail!(
                "{}: a should-fail file needs `//! expect:` lines",
                path.display()
            );
        }
        if !fail && !expect.is_empty() {
            anyhow::bail!(
                "{}: a should-compile file has `//! expect:` lines",
                path.display()
            );
        }
        out.push(Case { name, path, expect });
    }
    Ok(out)
}

/// Compiles every case against the built kernel; prints one line per case
/// and returns the failures. The kernel build must be of the whole series.
pub fn run(ctx: &Ctx) -> Result<Vec<String>> {
    let src = ctx.repo.join("xtask/rust-api");
    let mut all = cases(&src.join("fail"), true)?;
    let n_fail = all.len();
    all.extend(cases(&src.join("pass"), false)?);
    let work = ctx.target().join("rust-api");
    let _ = fs::remove_dir_all(&work);
    let mut failures = Vec::new();
    let _m = ctx.enter()?;
    for (i, case) in all.iter().enumerate() {
        let dir = work.join(&case.name);
        fs::create_dir_all(&dir)?;
        fs::write(dir.join("Kbuild"), "obj-m := case.o\n")?;
        let mut text = fs::read_to_string(&case.path)?;
        text.push_str(MODULE);
        fs::write(dir.join("case.rs"), text)?;
        let log = dir.join("build.log");
        // The kernel build's own make line (compiler, clippy, O=), so that a
        // case is compiled as the series' Rust code is.
        let o =
            crate::build::make(ctx, &format!("M='{}' case.o", dir.display())).spawn_logged(&log)?;
        let output = fs::read_to_string(&log).unwrap_or_default();
        let kind = if i < n_fail {
            "must not compile"
        } else {
            "must compile"
        };
        match verdict(case, o.success(), &output) {
            None => println!(
                "    {}: {kind}: ok{}",
                case.name,
                if case.expect.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", case.expect.join("; "))
                }
            ),
            Some(why) => {
                println!("    {}: {kind}: {why} (log {})", case.name, log.display());
                failures.push(format!("rust-api: {}: {why}", case.name));
            }
        }
    }
    Ok(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(expect: &[&str]) -> Case {
        Case {
            name: "c".into(),
            path: "c.rs".into(),
            expect: expect.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn expect_lines() {
        let t = "// SPDX\n//! Hole 1.\n//! expect: error[E0477]\n  //! expect: `Foo<'a>`\n";
        assert_eq!(expectations(t), vec!["error[E0477]", "`Foo<'a>`"]);
        assert!(expectations("//! nothing\n").is_empty());
    }

    #[test]
    fn verdicts() {
        let f = case(&["error[E0133]"]);
        assert_eq!(verdict(&f, false, "error[E0133]: call to unsafe"), None);
        assert!(verdict(&f, true, "").unwrap().contains("but does"));
        assert!(verdict(&f, false, "error[E0308]")
            .unwrap()
            .contains("not for the reason"));
        let two = "error[E0412]: cannot find type\nerror[E0133]: call to unsafe\nerror: aborting due to 2 previous errors";
        assert!(verdict(&f, false, two)
            .unwrap()
            .contains("another reason: error[E0412]"));
        let p = case(&[]);
        assert_eq!(verdict(&p, true, "warning"), None);
        assert!(verdict(&p, false, "error").is_some());
    }
}
