// SPDX-License-Identifier: GPL-2.0-only
//! `send`: the series as mails, prepared by b4 and not sent.
//!
//! Each topic series (see `topics`) is sent on its own: b4 works on a
//! branch it has enrolled, one per topic, in a scratch clone under the
//! cache (`git clone --shared`: the kernel tree's objects, none of its refs
//! or config), so nothing of b4's state reaches the user's kernel tree.
//! There each topic is enrolled on the topic it applies on (the one before
//! it unless `series` names another; the first on the base) with its cover letter from `patches/<topic>/` as the branch
//! description, To/Cc come from `scripts/get_maintainer.pl`
//! (`b4 prep --auto-to-cc`), and `b4 send --no-sign -o DIR` writes the
//! mails. The mails of each topic are then applied with `git am` onto the
//! topic it applies on, and the result must be the topic's tree there; and
//! all the mails, in the order of `series`, applied onto the base must give
//! the whole series' tree.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::apply::{self, git, identity, BRANCH};
use crate::check::{self, COVER};
use crate::cmd::Step;
use crate::ctx::Ctx;
use crate::export::cover_parts;
use crate::topics;

/// The base of the series, as a branch of the scratch clone.
const BASE_BRANCH: &str = "base";

/// The version of the posting, [PATCH vN ...]: the first was posted as
/// one series of 22 patches; bump it with every new posting.
const REVISION: u32 = 2;

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
    let topics = apply::series_topics(&ctx.repo)?;
    if topics.is_empty() {
        bail!("`series` lists no patch: nothing to send");
    }
    // Each topic's cover letter: its subject, its text, and the topics it
    // needs (its prerequisite-patch-id lines, as export wrote them).
    let mut covers = Vec::new();
    for t in &topics {
        let cover_path = ctx.patches().join(&t.name).join(COVER);
        let cover = fs::read_to_string(&cover_path)
            .with_context(|| format!("cannot read {}", cover_path.display()))?;
        let problems = check::cover_problems(&t.name, &cover);
        if !problems.is_empty() {
            bail!("{}: write it first", problems.join("; "));
        }
        let (subject, blurb) = cover_parts(&cover);
        covers.push((subject.unwrap_or_default(), blurb, prerequisites(&cover)));
    }

    apply::run(ctx)?;
    let total: usize = topics.iter().map(|t| t.patches.len()).sum();
    let kernel = ctx.kernel();
    let rev = |r: &str| apply::rev(&kernel, r);
    let base = rev(&format!("{BRANCH}~{total}"))?;
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let ranges = topics::ranges(&kernel, &names, &base)?;

    let out = ctx.target().join("send");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::create_dir_all(&out)?;
    let log = out.join("send.log");
    let _m = ctx.enter()?;
    let scratch = ctx.data().join("send");
    // The scratch clone exists from here on, with no branch of an earlier
    // run (of a topic since renamed or removed) left in it.
    scratch_branch(
        &kernel,
        &scratch,
        &ranges[0].1,
        &topics::branch(&names[0]),
        &log,
    )?;
    drop_other_branches(&scratch, &topics::branch(&names[0]), &log)?;
    for (k, v) in [
        ("user.name", name.as_str()),
        ("user.email", email.as_str()),
        ("b4.prep-cover-strategy", "branch-description"),
    ] {
        git(&scratch)
            .args(["config", "--local", k, v])
            .run_logged(&log)?;
    }
    // A topic on an earlier one than the one before it is cherry-picked
    // there, in the scratch clone: nothing of it reaches the kernel tree.
    let ranges = topics::heads(
        &scratch,
        &topics,
        &ranges,
        &ctx.data().join("send-pick"),
        &log,
    )?;
    let srev = |r: &str| apply::rev(&scratch, r);

    let mut summary = Vec::new();
    let mut all_mails: Vec<PathBuf> = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        let (tbase, tip) = &ranges[i];
        let (subject, blurb, deps) = &covers[i];
        let branch = topics::branch(&t.name);
        let base_branch = format!("{BASE_BRANCH}-{}", t.name);
        let mails = out.join("mails").join(&t.name);
        let s = Step::start(format!(
            "topic {} ({} patches): b4 enrolls it on {} in the scratch clone ({}, log {})",
            t.name,
            t.patches.len(),
            match (&t.base, i) {
                (Some(b), _) => format!("topic {b}"),
                (None, 0) => "the base".to_string(),
                (None, _) => format!("topic {}", names[i - 1]),
            },
            scratch.display(),
            log.display()
        ));
        scratch_branch(&kernel, &scratch, tip, &branch, &log)?;
        // b4 wants the base as a branch (a bare commit is ambiguous for it).
        git(&scratch)
            .args(["branch", "-q", "-f", &base_branch, tbase])
            .run_logged(&log)?;
        ctx.tool(&scratch, &format!("b4 prep -e {base_branch}"))
            .run_logged(&log)
            .with_context(|| format!("b4 prep --enroll of topic {} failed", t.name))?;
        ctx.tool(&scratch, &format!("b4 prep --force-revision {REVISION}"))
            .run_logged(&log)
            .with_context(|| format!("b4 prep --force-revision of topic {} failed", t.name))?;
        git(&scratch)
            .args([
                "config",
                "--local",
                &format!("branch.{branch}.description"),
                &format!("{subject}\n\n{blurb}\n"),
            ])
            .run_logged(&log)?;
        // The topics it needs, as the exported cover letter names them, and
        // the real base: b4 would name the topic's base, a local commit.
        if !deps.is_empty() {
            let f = out.join(format!("deps-{}.txt", t.name));
            fs::write(&f, format!("{}\nbase-commit: {base}\n", deps.join("\n")))?;
            git(&scratch)
                .args([
                    "config",
                    "--local",
                    "core.editor",
                    &format!("cp '{}'", f.display()),
                ])
                .run_logged(&log)?;
            let r = ctx.tool(&scratch, "b4 prep --edit-deps").run_logged(&log);
            let _ = git(&scratch)
                .args(["config", "--local", "--unset", "core.editor"])
                .status_quiet();
            r.with_context(|| format!("b4 prep --edit-deps of topic {} failed", t.name))?;
        }
        ctx.tool(&scratch, "b4 prep --auto-to-cc")
            .run_logged(&log)
            .with_context(|| format!("b4 prep --auto-to-cc of topic {} failed", t.name))?;
        // b4 sends through the web endpoint when no SMTP server is set,
        // and refuses that without a signature; -o never sends at all. The
        // user's own setup applies again right after.
        git(&scratch)
            .args(["config", "--local", "sendemail.smtpserver", "/bin/false"])
            .run_logged(&log)?;
        let r = ctx
            .tool(
                &scratch,
                &format!("b4 send --no-sign -o '{}'", mails.display()),
            )
            .run_logged(&log);
        let _ = git(&scratch)
            .args(["config", "--local", "--unset", "sendemail.smtpserver"])
            .status_quiet();
        r.with_context(|| format!("b4 send -o of topic {} failed", t.name))?;
        let mut files: Vec<PathBuf> = fs::read_dir(&mails)
            .with_context(|| format!("b4 wrote no mails into {}", mails.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        let n = t.patches.len();
        if files.len() != n + 1 {
            bail!(
                "b4 wrote {} mails for the {n} patches and the cover letter of topic {} (see {})",
                files.len(),
                t.name,
                log.display()
            );
        }
        let tree = round_trip(&scratch, tbase, &files[1..], &branch, &log)?;
        let want = srev(&format!("{tip}^{{tree}}"))?;
        if tree != want {
            bail!(
                "the mails of topic {} do not give back the topic: git am onto {} gives tree {tree}, the topic is {want} (see {})",
                t.name,
                &tbase[..12],
                log.display()
            );
        }
        s.done();
        let first = fs::read_to_string(&files[0])?;
        all_mails.extend(files[1..].iter().cloned());
        summary.push((t.name.clone(), files.len(), first, tbase.clone(), want));
    }
    // All the mails, topic after topic in the order of `series`, onto the
    // base: the whole series, whatever each topic was written against.
    let s = Step::start(format!(
        "git am of all {} patch mails, topic after topic, onto the base",
        all_mails.len()
    ));
    let whole_am = round_trip(
        &scratch,
        &base,
        &all_mails,
        &topics::branch(&names[0]),
        &log,
    )?;
    s.done();
    let whole = rev(&format!("{BRANCH}^{{tree}}"))?;
    if whole_am != whole {
        bail!(
            "git am of all the mails onto the base gives tree {whole_am}, the whole series is {whole} (see {})",
            log.display()
        );
    }

    println!(
        "send: {} topic series as mails in {} (From: {name} <{email}>, not signed, not sent)",
        summary.len(),
        out.join("mails").display()
    );
    for (topic, n, first, tbase, want) in &summary {
        let to = addresses(&header(first, "To").unwrap_or_default());
        let cc = addresses(&header(first, "Cc").unwrap_or_default());
        println!("  {topic}: {n} mails");
        println!(
            "    Subject: {}",
            header(first, "Subject").unwrap_or_default()
        );
        println!("    To ({}): {}", to.len(), to.join(", "));
        println!("    Cc ({}): {}", cc.len(), cc.join(", "));
        println!(
            "    round trip: git am of the mails onto {} gives the topic's tree {}",
            &tbase[..12],
            &want[..12]
        );
    }
    println!(
        "  round trip of the whole: git am of all the mails, in the order of `series`, onto {} gives the series' tree {}",
        &base[..12],
        &whole[..12]
    );
    println!(
        "  to send for real, topic by topic in this order: cd {} && git checkout {BRANCH}-<topic> && b4 send   (signs with your patatt key, sends with your sendemail/web endpoint setup)",
        scratch.display()
    );
    Ok(())
}

/// The `prerequisite-patch-id:` lines of a cover letter, as b4's
/// dependency entries (`patch-id: ...`).
pub fn prerequisites(cover: &str) -> Vec<String> {
    cover
        .lines()
        .filter_map(|l| l.strip_prefix("prerequisite-patch-id: "))
        .map(|id| format!("patch-id: {}", id.trim()))
        .collect()
}

/// Deletes every branch of the scratch clone but `keep`, with its b4 and
/// git configuration.
fn drop_other_branches(scratch: &Path, keep: &str, log: &Path) -> Result<()> {
    let list = git(scratch)
        .args(["for-each-ref", "--format=%(refname:short)", "refs/heads"])
        .output()?;
    for b in list
        .lines()
        .map(str::trim)
        .filter(|b| !b.is_empty() && *b != keep)
    {
        git(scratch)
            .args(["branch", "-q", "-D", b])
            .run_logged(log)?;
        let _ = git(scratch)
            .args([
                "config",
                "--local",
                "--remove-section",
                &format!("branch.{b}"),
            ])
            .status_quiet();
    }
    Ok(())
}

/// The scratch clone, on a fresh branch `BRANCH` at `head`, with no b4
/// state left from an earlier run.
fn scratch_branch(
    kernel: &Path,
    scratch: &Path,
    head: &str,
    branch: &str,
    log: &Path,
) -> Result<()> {
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
    let _ = g().args(["branch", "-q", "-D", branch]).status_quiet();
    let _ = g()
        .args([
            "config",
            "--local",
            "--remove-section",
            &format!("branch.{branch}"),
        ])
        .status_quiet();
    g().args(["checkout", "-q", "-b", branch]).run_logged(log)?;
    g().args(["clean", "-q", "-fdx"]).run_logged(log)?;
    Ok(())
}

/// `git am` of `mails` onto `base` in the scratch clone; the tree it gives.
fn round_trip(
    scratch: &Path,
    base: &str,
    mails: &[PathBuf],
    branch: &str,
    log: &Path,
) -> Result<String> {
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
    let tree = apply::rev(scratch, "HEAD^{tree}")?;
    // Leave the scratch clone on the enrolled branch, ready for `b4 send`.
    g().args(["checkout", "-q", "-f", branch]).run_logged(log)?;
    Ok(tree)
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
    fn cover_prerequisites() {
        let c =
            "x\n\nbase-commit: 1234\nprerequisite-patch-id: aa11\nprerequisite-patch-id: bb22\n";
        assert_eq!(prerequisites(c), ["patch-id: aa11", "patch-id: bb22"]);
        assert!(prerequisites("base-commit: 1234\n").is_empty());
    }

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
