// SPDX-License-Identifier: GPL-2.0-only
//! `export`: the work tree's commits back into the repository: `patches/`
//! (format-patch, cover letter first, `base-commit:`), `series`, and the
//! overlay of created files.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::apply::{self, git, identity, BRANCH};
use crate::check::COVER;
use crate::ctx::Ctx;
use crate::overlay;
use crate::setup::BASE_TAG;
use crate::topics;

/// The subject (without the `[PATCH 00/N]` prefix) and the blurb of a
/// cover letter: the text between the headers and the shortlog (a line
/// "Name (N):").
pub fn cover_parts(cover: &str) -> (Option<String>, String) {
    let subject = cover
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .and_then(|s| s.split_once("] ").map(|(_, t)| t.to_string()));
    let body_start = cover.find("\n\n").map(|i| i + 2).unwrap_or(0);
    let rest = &cover[body_start..];
    let end = rest
        .lines()
        .scan(0usize, |pos, l| {
            let p = *pos;
            *pos += l.len() + 1;
            Some((p, l))
        })
        .find(|(_, l)| is_shortlog_head(l))
        .map(|(p, _)| p)
        .unwrap_or(rest.len());
    (subject, rest[..end].trim_end().to_string())
}

/// Carries the subject and blurb of the previous cover letter into a fresh
/// `format-patch --cover-letter` template.
pub fn keep_cover_text(fresh: &str, old: Option<&str>) -> String {
    let Some(old) = old else {
        return fresh.to_string();
    };
    let (subject, blurb) = cover_parts(old);
    let mut s = fresh.to_string();
    if let Some(subj) = subject {
        s = s.replace("*** SUBJECT HERE ***", &subj);
    }
    if !blurb.is_empty() && !blurb.contains("*** BLURB HERE ***") {
        s = s.replace("*** BLURB HERE ***", &blurb);
    }
    s
}

fn is_shortlog_head(l: &str) -> bool {
    // "Jane Doe (3):": a number in the parentheses, nothing after them.
    let Some(body) = l.strip_suffix("):") else {
        return false;
    };
    match body.rsplit_once(" (") {
        Some((name, n)) => {
            !l.starts_with(' ')
                && !name.is_empty()
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let repo = ctx.base_repo();
    if identity().is_none() {
        bail!("no git identity: set git config user.name and user.email; Signed-off-by: comes from it");
    }
    if ctx.user_kernel.is_some() {
        bail!(
            "export reads the series from the base work tree ({}); drop --kernel",
            repo.display()
        );
    }
    let tmp = ctx.target().join("export");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    fs::create_dir_all(&tmp)?;
    // The topics are those of `series`; their commits, the branches of
    // the kernel tree that `apply` made and rebases keep in place.
    let mut tops = apply::series_topics(&ctx.repo)?;
    let names: Vec<String> = tops.iter().map(|t| t.name.clone()).collect();
    if names.is_empty() {
        bail!("`series` lists no topic: list the patches as <topic>/NNNN-subject.patch");
    }
    let ranges = topics::ranges(&repo, &names, BASE_TAG)?;
    // A topic on an earlier one than the one before it is written as it
    // applies there.
    let heads = topics::heads(
        &repo,
        &tops,
        &ranges,
        &ctx.data().join("topic-pick"),
        &tmp.join("heads.log"),
    )?;
    for (i, (name, (base, tip))) in names.iter().zip(&heads).enumerate() {
        let dir = tmp.join(name);
        // --base is the kernel's base for every topic: git lists the
        // commits between it and the topic's own base, the topics it
        // applies on, as prerequisite-patch-id lines.
        git(&repo)
            .args([
                "format-patch",
                "-q",
                "--cover-letter",
                "--signoff",
                "--no-signature",
                "--zero-commit",
                "-o",
            ])
            .arg(&dir)
            .arg(format!("--base={BASE_TAG}"))
            .arg(format!("{base}..{tip}"))
            .output()
            .with_context(|| format!("git format-patch of topic {name} failed"))?;
        let old_cover = fs::read_to_string(ctx.patches().join(name).join(COVER)).ok();
        let fresh = fs::read_to_string(dir.join(COVER))?;
        fs::write(
            dir.join(COVER),
            keep_cover_text(&fresh, old_cover.as_deref()),
        )?;
        let mut files: Vec<String> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|f| f != COVER)
            .collect();
        files.sort();
        tops[i].patches = files.iter().map(|f| format!("{name}/{f}")).collect();
    }
    if ctx.patches().exists() {
        fs::remove_dir_all(ctx.patches())?;
    }
    for name in &names {
        let (src, dst) = (tmp.join(name), ctx.patches().join(name));
        fs::create_dir_all(&dst)?;
        for e in fs::read_dir(&src)? {
            let e = e?;
            fs::copy(e.path(), dst.join(e.file_name()))?;
        }
    }
    fs::write(ctx.repo.join("series"), topics::series_text(&tops))?;

    // The overlay: exactly the files the series creates, as in the tree.
    let series: Vec<&String> = tops.iter().flat_map(|t| &t.patches).collect();
    let texts: Vec<String> = series
        .iter()
        .map(|f| fs::read_to_string(ctx.patches().join(f)))
        .collect::<std::io::Result<_>>()?;
    let created = overlay::created_files(&texts);
    for old in overlay::read_overlay(&ctx.repo)?.keys() {
        if !created.contains(old) {
            fs::remove_file(ctx.repo.join(old))?;
        }
    }
    for p in &created {
        let content = git(&repo)
            .args(["show", &format!("{BRANCH}:{p}")])
            .output_bytes()?;
        let dst = ctx.repo.join(p);
        fs::create_dir_all(dst.parent().unwrap_or(Path::new(".")))?;
        fs::write(&dst, content)?;
    }
    println!(
        "export: {} patches in {} topics ({}), each with its cover letter, to {}; {} created files to the overlay",
        series.len(),
        names.len(),
        names.join(", "),
        ctx.patches().display(),
        created.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: &str = "From 0 Mon Sep 17 00:00:00 2001
From: A U Thor <a@example.org>
Subject: [PATCH 0/2] *** SUBJECT HERE ***

*** BLURB HERE ***

A U Thor (2):
  cdev: x
  misc: y

base-commit: 1234
";
    const OLD: &str = "From 0 Mon Sep 17 00:00:00 2001
From: A U Thor <a@example.org>
Subject: [PATCH 0/1] cdev, misc: synchronous unregistration

This series adds a fence.

Second paragraph.

A U Thor (1):
  cdev: x
";

    #[test]
    fn shortlog_head_needs_a_count() {
        assert!(is_shortlog_head("Jane Doe (3):"));
        assert!(is_shortlog_head("Seed f7589772 maintainers (17):"));
        assert!(!is_shortlog_head(
            "the targets I had set (SRCU <= 30, rwsem <= 40):"
        ));
        assert!(!is_shortlog_head("  indented (2):"));
        assert!(!is_shortlog_head("(2):"));
    }

    #[test]
    fn cover_text_survives_export() {
        let s = keep_cover_text(FRESH, Some(OLD));
        assert!(s.contains("Subject: [PATCH 0/2] cdev, misc: synchronous unregistration"));
        assert!(s.contains("This series adds a fence.\n\nSecond paragraph.\n\nA U Thor (2):"));
        assert!(s.contains("  misc: y"));
    }

    #[test]
    fn first_export_keeps_template() {
        assert_eq!(keep_cover_text(FRESH, None), FRESH);
    }
}
