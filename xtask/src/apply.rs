// SPDX-License-Identifier: GPL-2.0-only
//! `apply`: the series onto the base (or the user's tree) with `git am -3`,
//! one commit per patch.
//!
//! On the base, `git am` runs in a scratch worktree first and the built tree
//! is then moved to the result with a checkout, which rewrites only the files
//! that differ: the next build stays incremental. On a user's tree the series
//! goes onto a new branch; on a conflict the tree is put back as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

use crate::cmd::{Cmd, Step};
use crate::ctx::Ctx;
use crate::setup::BASE_TAG;
use crate::topics::{self, Topic};

/// The branch the series is applied on.
pub const BRANCH: &str = "cdev-sync";

/// The patch files of `series`, in order, as paths.
pub fn series_patches(repo: &Path) -> Result<Vec<PathBuf>> {
    let text = fs::read_to_string(repo.join("series")).context("cannot read `series`")?;
    Ok(parse_series(&text)
        .into_iter()
        .map(|p| repo.join("patches").join(p))
        .collect())
}

/// The topics of `series`, in order, with their bases.
pub fn series_topics(repo: &Path) -> Result<Vec<Topic>> {
    let text = fs::read_to_string(repo.join("series")).context("cannot read `series`")?;
    topics::parse(&text)
}

/// The patch names listed in a quilt `series` file.
pub fn parse_series(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().next().unwrap_or(l).to_string())
        .collect()
}

/// The user's git identity (name, email): the committer variables of the
/// environment, or `git config user.name`/`user.email`. Read once.
pub fn identity() -> Option<&'static (String, String)> {
    static IDENTITY: OnceLock<Option<(String, String)>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let get = |var: &str, key: &str| {
                std::env::var(var)
                    .ok()
                    .or_else(|| Cmd::new("git").args(["config", key]).output().ok())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            Some((
                get("GIT_COMMITTER_NAME", "user.name")?,
                get("GIT_COMMITTER_EMAIL", "user.email")?,
            ))
        })
        .as_ref()
}

/// git in `dir`, committing as the user. Without a git identity, `git am`
/// still needs a committer: the scratch commits get a placeholder, which
/// never reaches a patch (`export` refuses to run without an identity).
pub fn git(dir: &Path) -> Cmd {
    let (name, email) = identity()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .unwrap_or(("cdev-sync apply", "apply@invalid"));
    Cmd::new("git")
        .cwd(dir)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
}

/// The object `r` names in the repository `dir` (`git rev-parse --verify`).
pub fn rev(dir: &Path, r: &str) -> Result<String> {
    Ok(git(dir)
        .args(["rev-parse", "--verify", "-q", r])
        .output()
        .with_context(|| format!("{r} is not in {}", dir.display()))?
        .trim()
        .to_string())
}

pub fn run(ctx: &Ctx) -> Result<()> {
    ctx.require_setup()?;
    let patches = series_patches(&ctx.repo)?;
    for p in &patches {
        if !p.exists() {
            bail!("`series` names {}, which does not exist", p.display());
        }
    }
    let topics = series_topics(&ctx.repo)?;
    let log = ctx.target().join("apply.log");
    let _ = fs::remove_file(&log);
    match &ctx.user_kernel {
        None => {
            apply_base(ctx, &patches, &log)?;
            topics::set_branches(&ctx.base_repo(), &topics, BRANCH, true, &log)?;
        }
        Some(k) => apply_user(k, &topics, &patches, &log)?,
    }
    println!(
        "    topics: {}",
        topics
            .iter()
            .map(|t| format!(
                "{} ({}, branch {})",
                t.name,
                t.patches.len(),
                topics::branch(&t.name)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn apply_base(ctx: &Ctx, patches: &[PathBuf], log: &Path) -> Result<()> {
    let repo = ctx.base_repo();
    let am = ctx.data().join("am");
    if !am.join(".git").exists() {
        git(&repo).args(["worktree", "prune"]).run_logged(log)?;
        git(&repo)
            .args(["worktree", "add", "-q", "--detach"])
            .arg(&am)
            .arg(BASE_TAG)
            .run_logged(log)?;
    }
    let s = Step::start(format!(
        "git am -3: {} patches onto {BASE_TAG}",
        patches.len()
    ));
    let _ = git(&am).args(["am", "--abort"]).status_quiet();
    git(&am)
        .args(["reset", "-q", "--hard", BASE_TAG])
        .run_logged(log)?;
    git(&am).args(["clean", "-q", "-fdx"]).run_logged(log)?;
    if !patches.is_empty() {
        am_or_explain(&am, patches, log)?;
    }
    let head = git(&am)
        .args(["rev-parse", "HEAD"])
        .output()?
        .trim()
        .to_string();
    // Move the built tree only now, so a failed am leaves it untouched.
    git(&repo)
        .args(["checkout", "-q", "-f", "-B", BRANCH, &head])
        .run_logged(log)?;
    s.done();
    println!(
        "    {} is at {} ({} commits over the base)",
        repo.display(),
        &head[..12],
        patches.len()
    );
    Ok(())
}

/// Runs `git am -3`; on failure aborts it and says which patch and files.
fn am_or_explain(dir: &Path, patches: &[PathBuf], log: &Path) -> Result<()> {
    let o = git(dir)
        .args(["am", "-3", "-q"])
        .args(patches.iter().map(|p| p.as_os_str()))
        .spawn_logged(log)?;
    if o.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let failed = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("Patch failed at "))
        .unwrap_or("(see the log)")
        .to_string();
    let files = git(dir)
        .args(["diff", "--name-only", "--diff-filter=U"])
        .output()
        .unwrap_or_default();
    let _ = git(dir).args(["am", "--abort"]).status_quiet();
    let files: Vec<&str> = files.lines().collect();
    bail!(
        "the series does not apply: patch {failed}\n  conflicting files: {}\n  full output: {}\n  \
         the tree was left as it was; rebase that patch onto this tree",
        if files.is_empty() {
            "(none recorded; see the log)".into()
        } else {
            files.join(", ")
        },
        log.display()
    )
}

fn apply_user(tree: &Path, topics: &[Topic], patches: &[PathBuf], log: &Path) -> Result<()> {
    if !tree.join(".git").exists() {
        bail!(
            "--kernel {}: not a git work tree (git am needs one)",
            tree.display()
        );
    }
    let dirty = git(tree)
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()?;
    if !dirty.trim().is_empty() {
        bail!(
            "--kernel {}: the work tree has uncommitted changes; commit or stash them first",
            tree.display()
        );
    }
    if git(tree)
        .args([
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{BRANCH}"),
        ])
        .status_quiet()
    {
        bail!(
            "--kernel {}: branch {BRANCH} exists already; delete it (git branch -D {BRANCH}) or check out another commit to apply onto",
            tree.display()
        );
    }
    for t in topics {
        let b = topics::branch(&t.name);
        if git(tree)
            .args(["rev-parse", "--verify", "-q", &format!("refs/heads/{b}")])
            .status_quiet()
        {
            bail!(
                "--kernel {}: branch {b} exists already; delete it (git branch -D {b}) first",
                tree.display()
            );
        }
    }
    let orig = git(tree)
        .args(["symbolic-ref", "-q", "--short", "HEAD"])
        .output()
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or(
            git(tree)
                .args(["rev-parse", "HEAD"])
                .output()?
                .trim()
                .to_string(),
        );
    let s = Step::start(format!(
        "git am -3: {} patches onto {} ({orig})",
        patches.len(),
        tree.display()
    ));
    git(tree)
        .args(["checkout", "-q", "-b", BRANCH])
        .run_logged(log)?;
    let done = am_or_explain(tree, patches, log)
        .and_then(|()| topics::set_branches(tree, topics, BRANCH, false, log));
    if let Err(e) = done {
        // Nothing half-done: the user's tree as it was, without our branches.
        let _ = git(tree).args(["am", "--abort"]).status_quiet();
        let _ = git(tree).args(["checkout", "-q", &orig]).status_quiet();
        for b in topics
            .iter()
            .map(|t| topics::branch(&t.name))
            .chain([BRANCH.to_string()])
        {
            let _ = git(tree).args(["branch", "-q", "-D", &b]).status_quiet();
        }
        return Err(e);
    }
    s.done();
    println!("    {} branch {BRANCH} carries the series", tree.display());
    Ok(())
}
