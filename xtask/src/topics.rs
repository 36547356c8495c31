// SPDX-License-Identifier: GPL-2.0-only
//! Topic series: the series is posted as several series that maintainers
//! take separately (the core, the tests, Rust, the driver conversions),
//! each with its own cover letter, each applying on top of the ones before
//! it, or on an earlier one it names: a line `# <topic> applies on <base>`
//! in `series` says that <topic> needs only <base> and the topics <base>
//! needs. Such a topic is written and checked as its commits cherry-picked
//! onto <base>, so that its mails apply there.
//!
//! In the repository a topic is a directory of `patches/` (its cover letter
//! and its patches, numbered from 1 as `git format-patch` numbers them), and
//! `series` lists `topic/NNNN-subject.patch` in the order they apply. In the
//! kernel tree, the branch `cdev-sync-<topic>` points at the last commit of
//! each topic, and `cdev-sync` at the last commit of the last topic;
//! `apply` sets them, and in the base tree turns on `rebase.updateRefs`, so
//! that a rebase of `cdev-sync` keeps them where they belong.

use std::path::Path;

use anyhow::{bail, Result};

use crate::apply::{git, BRANCH};

/// One topic series: its directory in `patches/` and its patches there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub name: String,
    /// `topic/NNNN-subject.patch`, relative to `patches/`.
    pub patches: Vec<String>,
    /// The earlier topic it applies on, when not the one just before it.
    pub base: Option<String>,
}

/// The `# <topic> applies on <base>` lines of a `series` file; a comment
/// that mentions "applies" or "apply" in another shape is an error, not a
/// line silently ignored.
pub fn base_lines(text: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for l in text.lines() {
        let Some(c) = l.trim_start().strip_prefix('#') else {
            continue;
        };
        let w: Vec<&str> = c.split_whitespace().collect();
        match w.as_slice() {
            [t, "applies", "on", b] => out.push((t.to_string(), b.to_string())),
            _ if w.iter().any(|x| x.starts_with("appl")) => {
                bail!("series: `{l}`: write `# <topic> applies on <base-topic>`")
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A topic's name is a directory of `patches/` and part of a branch name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The topics of a `series` file, with the bases its comment lines name.
pub fn parse(text: &str) -> Result<Vec<Topic>> {
    let mut ts = topics(&crate::apply::parse_series(text))?;
    for t in &ts {
        if !valid_name(&t.name) {
            bail!(
                "series: topic `{}`: a topic name is letters, digits, - and _",
                t.name
            );
        }
    }
    for (t, b) in base_lines(text)? {
        let Some(ti) = ts.iter().position(|x| x.name == t) else {
            bail!("series: `# {t} applies on {b}` names no topic {t}");
        };
        match ts.iter().position(|x| x.name == b) {
            Some(bi) if bi < ti => ts[ti].base = Some(b),
            _ => bail!("series: `# {t} applies on {b}`: {b} is not a topic before {t}"),
        }
    }
    Ok(ts)
}

/// The `series` file of `topics`: their patches, and a line for each base.
pub fn series_text(topics: &[Topic]) -> String {
    let mut s = String::new();
    for t in topics {
        if let Some(b) = &t.base {
            s.push_str(&format!("# {} applies on {b}\n", t.name));
        }
        for p in &t.patches {
            s.push_str(&format!("{p}\n"));
        }
    }
    s
}

/// The topics of the names a `series` file lists, in order. A name without
/// a directory is an error: every patch belongs to a topic.
pub fn topics(listed: &[String]) -> Result<Vec<Topic>> {
    let mut out: Vec<Topic> = Vec::new();
    for l in listed {
        let Some((name, file)) = l.split_once('/') else {
            bail!("series lists {l}, which is in no topic: list it as <topic>/{l}");
        };
        if name.is_empty() || file.is_empty() || file.contains('/') {
            bail!("series lists {l}: expected <topic>/NNNN-subject.patch");
        }
        match out.last_mut() {
            Some(t) if t.name == name => t.patches.push(l.clone()),
            _ => {
                if out.iter().any(|t| t.name == name) {
                    bail!("series lists the patches of topic {name} in more than one run: a topic is one block");
                }
                out.push(Topic {
                    name: name.to_string(),
                    patches: vec![l.clone()],
                    base: None,
                });
            }
        }
    }
    Ok(out)
}

/// The branch of the kernel tree that points at the last commit of `topic`.
pub fn branch(topic: &str) -> String {
    format!("{BRANCH}-{topic}")
}

/// Points each topic's branch at its last commit, `head` being the last
/// commit of the last topic; in the base tree, which is ours, also makes
/// rebases move them (a user's tree keeps its configuration: rebase there
/// with `--update-refs`).
pub fn set_branches(
    tree: &Path,
    topics: &[Topic],
    head: &str,
    own_tree: bool,
    log: &Path,
) -> Result<()> {
    let mut after = 0usize;
    for t in topics.iter().rev() {
        let tip = format!("{head}~{after}");
        git(tree)
            .args(["branch", "-q", "-f", &branch(&t.name), &tip])
            .run_logged(log)?;
        after += t.patches.len();
    }
    if own_tree {
        git(tree)
            .args(["config", "--local", "rebase.updateRefs", "true"])
            .run_logged(log)?;
    }
    Ok(())
}

/// The commit ranges of the topics in the kernel tree: (base, tip) of each,
/// the base of the first being `base`. Checks that the branches are stacked
/// in order on `base` and that the last one is `cdev-sync` itself.
pub fn ranges(tree: &Path, names: &[String], base: &str) -> Result<Vec<(String, String)>> {
    let rev = |r: &str| -> Result<String> {
        match crate::apply::rev(tree, &format!("{r}^{{commit}}")) {
            Ok(s) => Ok(s),
            Err(_) => bail!(
                "{}: there is no branch {r}: make it at the last commit of its topic (git branch {r} <commit>); `cargo xtask apply` makes one for each topic of `series`, but resets {BRANCH} to patches/, dropping commits not exported",
                tree.display()
            ),
        }
    };
    let head = rev(BRANCH)?;
    let mut out = Vec::new();
    let mut prev = rev(base)?;
    for n in names {
        let tip = rev(&branch(n))?;
        let stacked = git(tree)
            .args(["merge-base", "--is-ancestor", &prev, &tip])
            .status_quiet();
        if !stacked || tip == prev {
            bail!(
                "{}: branch {} is not on top of the topic before it: rebase with --update-refs (apply sets rebase.updateRefs), or move it with git branch -f",
                tree.display(),
                branch(n)
            );
        }
        out.push((prev.clone(), tip.clone()));
        prev = tip;
    }
    if prev != head {
        bail!(
            "{}: {BRANCH} has commits after branch {}, the last topic's: move that branch (git branch -f {} {BRANCH}) or the commits into a topic",
            tree.display(),
            branch(names.last().map(String::as_str).unwrap_or("?")),
            branch(names.last().map(String::as_str).unwrap_or("?"))
        );
    }
    Ok(out)
}

/// Where each topic applies and what it gives there: (base, head) per
/// topic. A topic on the one before it is its own range of the kernel tree;
/// a topic on an earlier one is its commits cherry-picked onto that one's
/// head, in a scratch worktree `scratch` (made and removed here).
pub fn heads(
    tree: &Path,
    topics: &[Topic],
    ranges: &[(String, String)],
    scratch: &Path,
    log: &Path,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, t) in topics.iter().enumerate() {
        let (prev, tip) = &ranges[i];
        let bi = match &t.base {
            None => None,
            Some(b) => topics.iter().position(|x| &x.name == b),
        };
        // On the topic just before it, as that one is in the tree: its own
        // range of the kernel tree.
        let linear = match bi {
            None => true,
            Some(bi) => bi + 1 == i && out[bi].1 == ranges[bi].1,
        };
        if linear {
            out.push((prev.clone(), tip.clone()));
            continue;
        }
        let b = t.base.as_deref().unwrap_or_default();
        let onto = out[bi.expect("a base")].1.clone();
        if scratch.exists() {
            let _ = git(tree)
                .args(["worktree", "remove", "--force"])
                .arg(scratch)
                .status_quiet();
            let _ = std::fs::remove_dir_all(scratch);
        }
        git(tree).args(["worktree", "prune"]).run_logged(log)?;
        git(tree)
            .args(["worktree", "add", "-q", "--detach"])
            .arg(scratch)
            .arg(&onto)
            .run_logged(log)?;
        let picked = (|| -> Result<Option<String>> {
            let ok = git(scratch)
                .args(["cherry-pick", "--allow-empty", &format!("{prev}..{tip}")])
                .spawn_logged(log)?
                .success();
            if !ok {
                let _ = git(scratch).args(["cherry-pick", "--abort"]).status_quiet();
                return Ok(None);
            }
            Ok(Some(crate::apply::rev(scratch, "HEAD")?))
        })();
        // The worktree goes whatever happened in it.
        let _ = git(tree)
            .args(["worktree", "remove", "--force", "--force"])
            .arg(scratch)
            .status_quiet();
        let _ = std::fs::remove_dir_all(scratch);
        let _ = git(tree).args(["worktree", "prune"]).status_quiet();
        let Some(head) = picked? else {
            bail!(
                "topic {} does not apply on topic {b} alone, as `series` says it does (see {})",
                t.name,
                log.display()
            );
        };
        out.push((onto, head));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn topics_in_order() {
        let t = topics(&v(&[
            "core/0001-a.patch",
            "core/0002-b.patch",
            "tests/0001-c.patch",
        ]))
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "core");
        assert_eq!(t[0].patches.len(), 2);
        assert_eq!(t[1].patches, v(&["tests/0001-c.patch"]));
    }

    #[test]
    fn topic_bases() {
        let text = "a/0001-x.patch\nb/0001-y.patch\n# c applies on a\nc/0001-z.patch\n# d applies on c\nd/0001-w.patch\n";
        let t = parse(text).unwrap();
        assert_eq!(t[2].base.as_deref(), Some("a"));
        assert_eq!(t[1].base, None);
        // kept even on the topic just before: c is not where the tree has it
        assert_eq!(t[3].base.as_deref(), Some("c"));
        assert_eq!(series_text(&t), text);
        assert!(parse("# a applies on c\na/0001-x.patch\nc/0001-z.patch\n").is_err());
        assert!(parse("# q applies on a\na/0001-x.patch\n").is_err());
        assert!(parse("# c apply on a\na/0001-x.patch\nc/0001-z.patch\n").is_err());
        assert!(parse("../0001-x.patch\n").is_err());
        assert!(parse("fix.lock/0001-x.patch\n").is_err());
        // a plain comment stays a comment
        assert!(parse("# the core\na/0001-x.patch\n").is_ok());
    }

    #[test]
    fn topics_refuse_flat_and_split() {
        assert!(topics(&v(&["0001-a.patch"])).is_err());
        assert!(topics(&v(&["a/0001-x.patch", "b/0001-y.patch", "a/0002-z.patch"])).is_err());
        assert!(topics(&v(&["a/b/0001-x.patch"])).is_err());
    }
}
