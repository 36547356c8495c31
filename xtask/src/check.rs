// SPDX-License-Identifier: GPL-2.0-only
//! `check`: the gates of the series. The cheap ones: `series` matches
//! `patches/`, the series applies, the overlay equals what it creates,
//! every new file has a MAINTAINERS section, kernel-doc and checkpatch
//! --strict are clean. Then the build gates ([`crate::bisect`]): every patch
//! builds on its own without warnings in the series' files (clippy
//! included), rustfmtcheck and rustdoc.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{bail, Result};

use crate::apply::{self, parse_series};
use crate::cmd::Step;
use crate::ctx::Ctx;
use crate::overlay;

pub const COVER: &str = "0000-cover-letter.patch";

/// Problems between `series` and the files in `patches/`: `files` are the
/// paths under `patches/` (`topic/NNNN-subject.patch`), each topic a block
/// of `series` in the order of its patch numbers, with a cover letter.
pub fn series_problems(series: &str, files: &[String]) -> Vec<String> {
    let listed = parse_series(series);
    let mut out = Vec::new();
    let topics = match crate::topics::parse(series) {
        Ok(t) => t,
        Err(e) => return vec![e.to_string()],
    };
    let is_cover = |f: &str| f.rsplit('/').next() == Some(COVER);
    let on_disk: Vec<&String> = files
        .iter()
        .filter(|f| f.ends_with(".patch") && !is_cover(f))
        .collect();
    for l in &listed {
        if !on_disk.contains(&l) {
            out.push(format!("series lists {l}, which is not in patches/"));
        }
    }
    for f in &on_disk {
        if !listed.contains(f) {
            out.push(format!("patches/{f} is not listed in series"));
        }
    }
    for t in &topics {
        let mut sorted = t.patches.clone();
        sorted.sort();
        if out.is_empty() && sorted != t.patches {
            out.push(format!(
                "series lists topic {} out of the order of its patch numbers",
                t.name
            ));
        }
        let cover = format!("{}/{COVER}", t.name);
        if !files.contains(&cover) {
            out.push(format!("patches/{cover} is missing"));
        }
    }
    out
}

/// Problems of a topic's cover letter: a subject and a text of its own.
pub fn cover_problems(topic: &str, cover: &str) -> Vec<String> {
    let (subject, blurb) = crate::export::cover_parts(cover);
    let mut out = Vec::new();
    if subject.is_none_or(|s| s.contains("*** SUBJECT HERE ***")) {
        out.push(format!("patches/{topic}/{COVER} has no subject"));
    }
    if blurb.is_empty() || blurb.contains("*** BLURB HERE ***") {
        out.push(format!("patches/{topic}/{COVER} has no text"));
    }
    out
}

/// The files under `patches/`, as `topic/file` (and `file` at the top).
fn patch_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return out;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            if let Ok(sub) = fs::read_dir(e.path()) {
                for f in sub.filter_map(|f| f.ok()) {
                    out.push(format!("{name}/{}", f.file_name().to_string_lossy()));
                }
            }
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

/// Counts of checkpatch's verdict lines: `ERROR: ...`, or with
/// `--showfile`, `path:line: ERROR: ...`.
pub fn checkpatch_counts(out: &str) -> (usize, usize, usize) {
    let c = |p: &str| {
        out.lines()
            .filter(|l| l.starts_with(p) || l.contains(&format!(": {p}")))
            .count()
    };
    (c("ERROR:"), c("WARNING:"), c("CHECK:"))
}

pub fn run(ctx: &Ctx, builds: bool) -> Result<()> {
    let mut failures = Vec::new();

    let files = patch_files(&ctx.patches());
    let series = fs::read_to_string(ctx.repo.join("series")).unwrap_or_default();
    let mut sp = series_problems(&series, &files);
    let topics = crate::topics::parse(&series).unwrap_or_default();
    for t in &topics {
        if let Ok(c) = fs::read_to_string(ctx.patches().join(&t.name).join(COVER)) {
            sp.extend(cover_problems(&t.name, &c));
        }
    }
    println!(
        "check series:     {}",
        if sp.is_empty() {
            format!(
                "ok ({} topics, each a block of `series` with its cover letter: {})",
                topics.len(),
                topics
                    .iter()
                    .map(|t| format!("{} {}", t.name, t.patches.len()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            sp.join("; ")
        }
    );
    failures.extend(sp);

    apply::run(ctx)?;
    let patches = apply::series_patches(&ctx.repo)?;
    let texts: Vec<String> = patches
        .iter()
        .map(fs::read_to_string)
        .collect::<std::io::Result<_>>()?;
    let created = overlay::created_files(&texts);
    let tree = ctx.kernel();
    let mut want = BTreeMap::new();
    for p in &created {
        want.insert(p.clone(), fs::read(tree.join(p))?);
    }
    let op = overlay::compare(&want, &overlay::read_overlay(&ctx.repo)?);
    println!(
        "check overlay:    {}",
        if op.is_empty() {
            format!("ok ({} files)", created.len())
        } else {
            format!("{} problem(s)", op.len())
        }
    );
    for p in &op {
        println!("    {p}");
        failures.push(p.to_string());
    }

    let _m = ctx.enter()?;
    // checkpatch asks "does MAINTAINERS need updating?" for every patch that
    // adds a file and does not touch MAINTAINERS. The real question is
    // whether a MAINTAINERS section covers each new file: ask
    // get_maintainer.pl for every file the series creates, and let
    // checkpatch skip its FILE_PATH_CHANGES question.
    let uncovered = uncovered_files(ctx, &created)?;
    println!(
        "check maintainers: {}",
        if uncovered.is_empty() {
            format!(
                "ok (every one of the {} new files has a MAINTAINERS section)",
                created.len()
            )
        } else {
            format!(
                "{} new file(s) without a MAINTAINERS section",
                uncovered.len()
            )
        }
    );
    for f in &uncovered {
        println!("    {f}");
        failures.push(format!("{f}: no MAINTAINERS section covers it"));
    }
    let kd = kerneldoc_warnings(ctx, &texts)?;
    println!(
        "check kernel-doc: {}",
        if kd.is_empty() {
            "ok (0 warnings on what the series adds)".to_string()
        } else {
            format!("{} warning(s)", kd.len())
        }
    );
    for w in &kd {
        println!("    {w}");
        failures.push(format!("kernel-doc: {w}"));
    }
    let s = Step::start(format!("checkpatch --strict on {} patches", patches.len()));
    let log = ctx.target().join("checkpatch.log");
    let _ = fs::remove_file(&log);
    for p in &patches {
        let out = checkpatch(ctx, p, &log)?;
        let (e, w, c) = checkpatch_counts(&out);
        let name = p
            .strip_prefix(ctx.patches())
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned();
        println!("    {name}: {e} errors, {w} warnings, {c} checks");
        if e + w + c > 0 {
            failures.push(format!(
                "checkpatch: {name}: {e} errors, {w} warnings, {c} checks (see {})",
                log.display()
            ));
        }
    }
    s.done();
    if builds {
        let s = Step::start(format!(
            "build gates: each of the {} patches built in order (kernel, CLIPPY=1; kselftests and rustfmtcheck where it touches them), then rustdoc; logs in {}",
            patches.len(),
            ctx.target().join("bisect").display()
        ));
        let rep = crate::bisect::run(ctx, &patches, &texts)?;
        for l in &rep.lines {
            println!("    {l}");
        }
        failures.extend(rep.failures);
        s.done();
        let s = Step::start(
            "Rust API gate: xtask/rust-api/fail must not compile against the series' kernel crate, xtask/rust-api/pass must",
        );
        failures.extend(crate::rustapi::run(ctx)?);
        s.done();
    }
    if !failures.is_empty() {
        bail!("check failed:\n  {}", failures.join("\n  "));
    }
    if builds {
        println!("check: all gates passed");
    } else {
        println!("check: the cheap gates passed; the build gates (every patch builds, clippy, rustfmtcheck, rustdoc, the Rust API gate) were NOT run (--no-build)");
    }
    Ok(())
}

fn checkpatch(ctx: &Ctx, patch: &Path, log: &Path) -> Result<String> {
    // The base is a release tarball in a repository of one commit: the
    // upstream commits a message cites are not in it, so checkpatch cannot
    // check their ids there. A user's own tree (--kernel) has the history.
    let ignore = if ctx.user_kernel.is_none() {
        "FILE_PATH_CHANGES,UNKNOWN_COMMIT_ID"
    } else {
        "FILE_PATH_CHANGES"
    };
    let out = ctx
        .tool(
            &ctx.kernel(),
            &format!(
                "perl scripts/checkpatch.pl --strict --no-summary --showfile --ignore {ignore} '{}' || true",
                patch.display()
            ),
        )
        .output()?;
    let mut all = fs::read_to_string(log).unwrap_or_default();
    all.push_str(&format!("### {}\n{out}\n", patch.display()));
    fs::write(log, all)?;
    Ok(out)
}

/// The C functions a patch defines: added lines that start a definition,
/// "+static int foo(" or "+void foo(" at column 0.
pub fn added_functions(patch: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut file_is_c = false;
    for l in patch.lines() {
        if let Some(p) = l.strip_prefix("+++ b/") {
            file_is_c = p.ends_with(".c") || p.ends_with(".h");
            continue;
        }
        let Some(code) = l.strip_prefix('+') else {
            continue;
        };
        if !file_is_c
            || code.starts_with([' ', '\t', '#', '/', '*', '}', '{'])
            || code.contains(';')
        {
            continue;
        }
        if let Some(open) = code.find('(') {
            let name: String = code[..open]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// kernel-doc warnings about what the series adds: every warning in a file
/// it creates, and the warnings that name a function it defines elsewhere.
fn kerneldoc_warnings(ctx: &Ctx, patches: &[String]) -> Result<Vec<String>> {
    let created = overlay::created_files(patches);
    let mut files: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut funcs = Vec::new();
    for p in patches {
        for l in p.lines() {
            if let Some(f) = l.strip_prefix("+++ b/") {
                if (f.ends_with(".c") || f.ends_with(".h")) && !f.starts_with("tools/") {
                    files.insert(f.to_string());
                }
            }
        }
        funcs.extend(added_functions(p));
    }
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = files.iter().map(|f| format!("'{f}'")).collect();
    let out = ctx
        .tool(
            &ctx.kernel(),
            &format!(
                "scripts/kernel-doc -none -Wall {} 2>&1 || true",
                list.join(" ")
            ),
        )
        .output()?;
    Ok(ours(&out, &created, &funcs))
}

/// The kernel-doc warnings that concern the series: in a created file, or
/// naming a function it defines.
pub fn ours(
    out: &str,
    created: &std::collections::BTreeSet<String>,
    funcs: &[String],
) -> Vec<String> {
    out.lines()
        .filter(|l| l.contains("arning") || l.contains("rror"))
        .filter(|l| {
            created.iter().any(|c| l.contains(c.as_str()))
                || funcs.iter().any(|f| {
                    l.contains(&format!("'{f}'"))
                        || l.contains(&format!(" {f}("))
                        || l.contains(&format!(" {f} "))
                })
        })
        .map(str::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Files for which get_maintainer.pl names nobody but the catch-all.
fn uncovered_files(ctx: &Ctx, files: &std::collections::BTreeSet<String>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let who = ctx
            .tool(
                &ctx.kernel(),
                &format!("perl scripts/get_maintainer.pl --no-git --no-git-fallback --no-rolestats --nol --sections -f '{f}'"),
            )
            .output()?;
        if !covered(&who) {
            out.push(f.clone());
        }
    }
    Ok(out)
}

/// Whether `get_maintainer.pl --sections` output names a section other
/// than THE REST.
pub fn covered(sections: &str) -> bool {
    // A section starts with its name; its entries are "X:\t..." lines.
    let is_entry = |l: &str| {
        let b = l.as_bytes();
        b.len() > 2 && b[0].is_ascii_uppercase() && b[1] == b':'
    };
    sections
        .lines()
        .any(|l| !l.trim().is_empty() && !is_entry(l) && l.trim() != "THE REST")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn series_in_sync() {
        let files = v(&[
            "core/0000-cover-letter.patch",
            "core/0001-a.patch",
            "core/0002-b.patch",
            "tests/0000-cover-letter.patch",
            "tests/0001-c.patch",
        ]);
        let p = series_problems(
            "core/0001-a.patch\ncore/0002-b.patch\ntests/0001-c.patch\n",
            &files,
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn series_out_of_sync() {
        let files = v(&["t/0001-a.patch", "t/0003-c.patch"]);
        let p = series_problems("t/0001-a.patch\nt/0002-b.patch\n", &files);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("0002-b.patch"));
        assert!(p[1].contains("0003-c.patch"));
        assert!(p[2].contains("cover"));
        assert!(!series_problems("0001-a.patch\n", &v(&["0001-a.patch"])).is_empty());
    }

    #[test]
    fn covers_need_text() {
        let c = "Subject: [PATCH 0/1] *** SUBJECT HERE ***\n\n*** BLURB HERE ***\n";
        assert_eq!(cover_problems("core", c).len(), 2);
        let c = "Subject: [PATCH 0/1] cdev: sync\n\nThe text.\n\nA U Thor (1):\n  x\n";
        assert!(cover_problems("core", c).is_empty());
    }

    #[test]
    fn functions_a_patch_defines() {
        let p = "+++ b/fs/char_dev.c
@@ -1,3 +1,9 @@
+struct cdev *cdev_alloc_sync(const struct file_operations *fops,
+\t\t\t     void *private_data)
+static void cdev_sync_release(struct kobject *kobj)
+\tfenced_fops_put(fence);
+EXPORT_SYMBOL_GPL(cdev_alloc_sync);
+int foo(void);
+++ b/tools/testing/selftests/chardev/Makefile
+TEST_GEN_PROGS := a(b)
";
        assert_eq!(added_functions(p), ["cdev_alloc_sync", "cdev_sync_release"]);
    }

    // Real `scripts/kernel-doc -none -Wall` output on fs/char_dev.c, plus
    // one about a function of ours.
    #[test]
    fn kerneldoc_warnings_of_the_series_only() {
        let out = "Warning: fs/char_dev.c:198 No description found for return value of 'register_chrdev_region'
Warning: fs/char_dev.c:700 No description found for return value of 'cdev_alloc_sync'
Warning: fs/fenced_fops.c:80 struct member 'key' not described in 'fenced_fops'
";
        let created: std::collections::BTreeSet<String> = ["fs/fenced_fops.c".to_string()].into();
        let w = ours(out, &created, &["cdev_alloc_sync".to_string()]);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("'cdev_alloc_sync'"));
        assert!(w[1].contains("fs/fenced_fops.c"));
        assert!(ours(out, &Default::default(), &[]).is_empty());
    }

    #[test]
    fn maintainers_sections() {
        let rest = "THE REST\nM:\tLinus Torvalds <torvalds@linux-foundation.org>\nL:\tlinux-kernel@vger.kernel.org\nS:\tBuried alive in reporters\n";
        assert!(!covered(rest));
        assert!(!covered(""));
        let char_misc = "CHAR and MISC DRIVERS\nM:\tArnd Bergmann <arnd@arndb.de>\nM:\tGreg Kroah-Hartman <gregkh@linuxfoundation.org>\nS:\tSupported\nF:\tdrivers/char/\n\nTHE REST\nM:\tLinus Torvalds <torvalds@linux-foundation.org>\n";
        assert!(covered(char_misc));
    }

    #[test]
    fn checkpatch_verdicts() {
        let out = "WARNING: Missing commit description\nCHECK: Alignment should match open parenthesis\n#12: FILE: fs/x.c:3:\nERROR: trailing whitespace\n";
        assert_eq!(checkpatch_counts(out), (1, 1, 1));
    }

    // Real `checkpatch.pl --strict --showfile` output.
    #[test]
    fn checkpatch_showfile_verdicts() {
        let out = "tools/testing/selftests/chardev/.gitignore:15: WARNING: added, moved or deleted file(s), does MAINTAINERS need updating?
new file mode 100644

drivers/char/test_chardev.c:92: WARNING: Prefer kzalloc_obj over kzalloc with sizeof
+\ttf = kzalloc(sizeof(*tf), GFP_KERNEL);

fs/fops_fence.c:120: CHECK: Macro argument reuse 'f' - possible side-effects?

/work/main/patches/0002-x.patch has style problems, please review.
";
        assert_eq!(checkpatch_counts(out), (0, 2, 1));
        assert_eq!(
            checkpatch_counts("total: 0 errors, 0 warnings, 0 checks, 42 lines checked\n"),
            (0, 0, 0)
        );
    }
}
