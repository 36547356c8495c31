// SPDX-License-Identifier: GPL-2.0-only
//! `send`: the series as mails, prepared by b4 and not sent.
//!
//! b4 works on a branch it has enrolled. That branch lives in a scratch
//! clone under the cache (`git clone --shared`: the kernel tree's objects,
//! none of its refs or config), so nothing of b4's state reaches the user's
//! kernel tree. There the series is enrolled with the cover letter of
//! `patches/` as the branch description, To/Cc come from
//! `scripts/get_maintainer.pl` (`b4 prep --auto-to-cc`), and
//! `b4 send --no-sign -o DIR` writes the mails. The mails are then applied
//! with `git am` onto the base, and the result must be the series' tree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::apply::{self, git, identity, BRANCH};
use crate::check::COVER;
use crate::cmd::Step;
use crate::ctx::Ctx;
use crate::export::cover_parts;

/// The base of the series, as a branch of the scratch clone.
const BASE_BRANCH: &str = "base";

/// The value of a header of a mail, continuation lines unfolded.
pub fn header(mail: &str, name: &str) -> Option<String> {
    let head = mail.split("\n\n").next().unwrap_or("");
    let mut out: Option<String> = None;
    for l in head.lines() {
        match &mut out {
            Some(v) if l.starts_with([' ', '\t']) => {
                v.push(' ');
                v.push_str(l.trim());
            }
            Some(_) => break,
            None => {
                if let Some((k, v)) = l.split_once(':') {
                    if k.eq_ignore_ascii_case(name) {
                        out = Some(v.trim().to_string());
                    }
                }
            }
        }
    }
    out
}

/// The addresses of a To/Cc header: "Name <a@b>, c@d" -> ["Name <a@b>", "c@d"].
pub fn addresses(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut angle = false;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !quoted && !angle => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out.retain(|a| !a.is_empty());
    out
}

pub fn run(ctx: &Ctx) -> Result<()> {
    ctx.require_setup()?;
    let Some((name, email)) = identity() else {
        bail!("send needs your git identity for the mails' From: set git config user.name and user.email");
    };
    let cover_path = ctx.patches().join(COVER);
    let cover = fs::read_to_string(&cover_path)
        .with_context(|| format!("cannot read {}", cover_path.display()))?;
    let (subject, blurb) = cover_parts(&cover);
    let subject = subject
        .filter(|s| !s.contains("*** SUBJECT HERE ***"))
        .with_context(|| format!("{} has no subject", cover_path.display()))?;
    if blurb.is_empty() || blurb.contains("*** BLURB HERE ***") {
        bail!("{} has no text: write it first", cover_path.display());
    }

    apply::run(ctx)?;
    let n = apply::series_patches(&ctx.repo)?.len();
    let kernel = ctx.kernel();
    let rev = |r: &str| -> Result<String> {
        Ok(git(&kernel)
            .args(["rev-parse", "--verify", "-q", r])
            .output()
            .with_context(|| format!("{r} is not in {}", kernel.display()))?
            .trim()
            .to_string())
    };
    let head = rev(&format!("{BRANCH}^{{commit}}"))?;
    let base = rev(&format!("{BRANCH}~{n}"))?;

    let out = ctx.target().join("send");
    let mails = out.join("mails");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::create_dir_all(&out)?;
    let log = out.join("send.log");
    let _m = ctx.enter()?;

    let scratch = ctx.data().join("send");
    let s = Step::start(format!(
        "b4: enrolling the series in a scratch clone ({}, log {})",
        scratch.display(),
        log.display()
    ));
    scratch_branch(&kernel, &scratch, &head, &log)?;
    for (k, v) in [
        ("user.name", name.as_str()),
        ("user.email", email.as_str()),
        ("b4.prep-cover-strategy", "branch-description"),
        // b4 sends through the web endpoint when no SMTP server is set,
        // and refuses that without a signature; -o never sends at all.
        ("sendemail.smtpserver", "/bin/false"),
    ] {
        git(&scratch)
            .args(["config", "--local", k, v])
            .run_logged(&log)?;
    }
    // b4 wants the base as a branch (a bare commit is ambiguous for it).
    git(&scratch)
        .args(["branch", "-q", "-f", BASE_BRANCH, &base])
        .run_logged(&log)?;
    ctx.tool(&scratch, &format!("b4 prep -e {BASE_BRANCH}"))
        .run_logged(&log)
        .context("b4 prep --enroll failed")?;
    git(&scratch)
        .args([
            "config",
            "--local",
            &format!("branch.{BRANCH}.description"),
            &format!("{subject}\n\n{blurb}\n"),
        ])
        .run_logged(&log)?;
    s.done();

    let s = Step::start("b4 prep --auto-to-cc (scripts/get_maintainer.pl)");
    ctx.tool(&scratch, "b4 prep --auto-to-cc")
        .run_logged(&log)
        .context("b4 prep --auto-to-cc failed")?;
    s.done();

    let s = Step::start(format!("b4 send --no-sign -o {}", mails.display()));
    ctx.tool(
        &scratch,
        &format!("b4 send --no-sign -o '{}'", mails.display()),
    )
    .run_logged(&log)
    .context("b4 send -o failed")?;
    // The user's own sendemail setup applies when they send for real.
    git(&scratch)
        .args(["config", "--local", "--unset", "sendemail.smtpserver"])
        .run_logged(&log)?;
    let mut files: Vec<PathBuf> = fs::read_dir(&mails)
        .with_context(|| format!("b4 wrote no mails into {}", mails.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    s.done();
    if files.len() != n + 1 {
        bail!(
            "b4 wrote {} mails for {n} patches and a cover letter (see {})",
            files.len(),
            log.display()
        );
    }

    let s = Step::start(format!("git am of the {n} mails onto the base"));
    let tree = round_trip(&scratch, &base, &files[1..], &log)?;
    let want = rev(&format!("{head}^{{tree}}"))?;
    if tree != want {
        bail!(
            "the mails do not give back the series: git am onto {} gives tree {tree}, the series is {want} (see {})",
            &base[..12],
            log.display()
        );
    }
    s.done();

    let first = fs::read_to_string(&files[0])?;
    let to = addresses(&header(&first, "To").unwrap_or_default());
    let cc = addresses(&header(&first, "Cc").unwrap_or_default());
    println!(
        "send: {} mails in {} (From: {name} <{email}>, not signed, not sent)",
        files.len(),
        mails.display()
    );
    println!(
        "    Subject: {}",
        header(&first, "Subject").unwrap_or_default()
    );
    println!("    To ({}): {}", to.len(), to.join(", "));
    println!("    Cc ({}): {}", cc.len(), cc.join(", "));
    println!(
        "    round trip: git am of the mails onto {} gives the series' tree {}",
        &base[..12],
        &want[..12]
    );
    println!(
        "    to send for real: cd {} && b4 send   (signs with your patatt key, sends with your sendemail/web endpoint setup)",
        scratch.display()
    );
    Ok(())
}

/// The scratch clone, on a fresh branch `BRANCH` at `head`, with no b4
/// state left from an earlier run.
fn scratch_branch(kernel: &Path, scratch: &Path, head: &str, log: &Path) -> Result<()> {
    if !scratch.join(".git").exists() {
        if scratch.exists() {
            fs::remove_dir_all(scratch)?;
        }
        git(kernel)
            .args(["clone", "-q", "--shared", "--no-checkout", "."])
            .arg(scratch)
            .run_logged(log)
            .context("cannot make the scratch clone for b4")?;
        // Its only branches are ours: b4 looks for the base among them.
        git(scratch)
            .args(["remote", "remove", "origin"])
            .run_logged(log)?;
    }
    let g = || git(scratch);
    let _ = g().args(["am", "--abort"]).status_quiet();
    g().args(["checkout", "-q", "-f", "--detach", head])
        .run_logged(log)?;
    let _ = g().args(["branch", "-q", "-D", BRANCH]).status_quiet();
    let _ = g()
        .args([
            "config",
            "--local",
            "--remove-section",
            &format!("branch.{BRANCH}"),
        ])
        .status_quiet();
    g().args(["checkout", "-q", "-b", BRANCH]).run_logged(log)?;
    g().args(["clean", "-q", "-fdx"]).run_logged(log)?;
    Ok(())
}

/// `git am` of `mails` onto `base` in the scratch clone; the tree it gives.
fn round_trip(scratch: &Path, base: &str, mails: &[PathBuf], log: &Path) -> Result<String> {
    let g = || git(scratch);
    g().args(["checkout", "-q", "-f", "--detach", base])
        .run_logged(log)?;
    let ok = g()
        .args(["am", "-q"])
        .args(mails.iter().map(|p| p.as_os_str()))
        .spawn_logged(log)?
        .success();
    if !ok {
        let _ = g().args(["am", "--abort"]).status_quiet();
        bail!(
            "the mails do not apply onto the base with git am (see {})",
            log.display()
        );
    }
    let tree = g().args(["rev-parse", "HEAD^{tree}"]).output()?;
    // Leave the scratch clone on the enrolled branch, ready for `b4 send`.
    g().args(["checkout", "-q", "-f", BRANCH]).run_logged(log)?;
    Ok(tree.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The head of a mail written by `b4 send -o` (b4 0.14.2).
    const MAIL: &str = "From: Test Person <test@example.org>
Subject: [PATCH 00/17] cdev, misc: synchronous unregistration
Date: Wed, 25 Nov 2026 06:18:08 +0000
To: Shuah Khan <shuah@kernel.org>, Miguel Ojeda <ojeda@kernel.org>, 
 =?utf-8?q?Bj=C3=B6rn_Roy_Baron?= <bjorn3_gh@protonmail.com>, 
 \"Doe, Jane\" <jane@example.org>
Cc: linux-kernel@vger.kernel.org, linux-kselftest@vger.kernel.org
X-Mailer: b4 0.14.2

To: not a header
";

    #[test]
    fn folded_headers() {
        let to = header(MAIL, "To").unwrap();
        assert!(to.ends_with("\"Doe, Jane\" <jane@example.org>"), "{to}");
        assert_eq!(
            addresses(&to),
            [
                "Shuah Khan <shuah@kernel.org>",
                "Miguel Ojeda <ojeda@kernel.org>",
                "=?utf-8?q?Bj=C3=B6rn_Roy_Baron?= <bjorn3_gh@protonmail.com>",
                "\"Doe, Jane\" <jane@example.org>"
            ]
        );
        assert_eq!(
            addresses(&header(MAIL, "cc").unwrap()),
            [
                "linux-kernel@vger.kernel.org",
                "linux-kselftest@vger.kernel.org"
            ]
        );
        assert_eq!(header(MAIL, "Reply-To"), None);
    }
}
