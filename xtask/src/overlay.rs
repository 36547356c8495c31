// SPDX-License-Identifier: GPL-2.0-only
//! The overlay: the files the series creates, kept in the repository at
//! their kernel paths, byte-identical to what applying the series gives.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use anyhow::Result;

/// The top-level directories of the repository that mirror kernel paths.
pub const ROOTS: &[&str] = &[
    "Documentation",
    "arch",
    "drivers",
    "fs",
    "include",
    "kernel",
    "lib",
    "rust",
    "samples",
    "scripts",
    "tools",
];

/// The paths the patches create and do not delete again, in series order.
pub fn created_files<S: AsRef<str>>(patches: &[S]) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for p in patches {
        let mut current: Option<String> = None;
        for l in p.as_ref().lines() {
            if let Some(rest) = l.strip_prefix("diff --git a/") {
                current = rest.split(" b/").nth(1).map(str::to_string);
            } else if l.starts_with("new file mode") {
                if let Some(c) = &current {
                    set.insert(c.clone());
                }
            } else if l.starts_with("deleted file mode") {
                if let Some(c) = &current {
                    set.remove(c);
                }
            } else if let Some(to) = l.strip_prefix("rename to ") {
                if set.remove(current.as_deref().unwrap_or("")) {
                    set.insert(to.to_string());
                }
            }
        }
    }
    set
}

#[derive(Debug, PartialEq, Eq)]
pub enum Problem {
    /// The series creates it; the repository does not have it.
    Missing(String),
    /// The repository has it under a kernel directory; the series does not create it.
    Extra(String),
    /// Both have it, with other bytes.
    Differs(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing(p) => {
                write!(f, "{p}: created by the series, missing from the repository")
            }
            Problem::Extra(p) => write!(f, "{p}: in the repository, not created by the series"),
            Problem::Differs(p) => write!(f, "{p}: differs from what the series creates"),
        }
    }
}

/// Compares what the series creates (path → bytes) with the overlay.
pub fn compare(
    series: &BTreeMap<String, Vec<u8>>,
    overlay: &BTreeMap<String, Vec<u8>>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for (p, want) in series {
        match overlay.get(p) {
            None => out.push(Problem::Missing(p.clone())),
            Some(have) if have != want => out.push(Problem::Differs(p.clone())),
            Some(_) => {}
        }
    }
    for p in overlay.keys() {
        if !series.contains_key(p) {
            out.push(Problem::Extra(p.clone()));
        }
    }
    out
}

/// Every file under the overlay roots of `repo`, path → bytes.
pub fn read_overlay(repo: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut m = BTreeMap::new();
    for r in ROOTS {
        walk(repo, &repo.join(r), &mut m)?;
    }
    Ok(m)
}

fn walk(repo: &Path, dir: &Path, m: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in rd {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            walk(repo, &p, m)?;
        } else {
            let rel = p.strip_prefix(repo)?.to_string_lossy().into_owned();
            m.insert(rel, fs::read(&p)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "From 1 Mon Sep 17 00:00:00 2001
Subject: [PATCH 1/2] selftests: chardev: add a test

diff --git a/tools/testing/selftests/chardev/Makefile b/tools/testing/selftests/chardev/Makefile
new file mode 100644
index 000000000000..1111111111
--- /dev/null
+++ b/tools/testing/selftests/chardev/Makefile
@@ -0,0 +1 @@
+TEST_GEN_PROGS := a
diff --git a/tools/testing/selftests/Makefile b/tools/testing/selftests/Makefile
index 2222..3333 100644
--- a/tools/testing/selftests/Makefile
+++ b/tools/testing/selftests/Makefile
@@ -1 +1,2 @@
 TARGETS += cgroup
+TARGETS += chardev
diff --git a/fs/tmp.c b/fs/tmp.c
new file mode 100644
";
    const P2: &str = "diff --git a/fs/tmp.c b/fs/tmp.c
deleted file mode 100644
diff --git a/fs/cdev_sync.c b/fs/cdev_sync.c
new file mode 100644
";

    #[test]
    fn created_minus_deleted() {
        let s = created_files(&[P1, P2]);
        let v: Vec<&str> = s.iter().map(String::as_str).collect();
        assert_eq!(
            v,
            ["fs/cdev_sync.c", "tools/testing/selftests/chardev/Makefile"]
        );
    }

    #[test]
    fn compare_reports_each_problem() {
        let mut series = BTreeMap::new();
        series.insert("fs/a.c".to_string(), b"a".to_vec());
        series.insert("fs/b.c".to_string(), b"b".to_vec());
        let mut overlay = BTreeMap::new();
        overlay.insert("fs/a.c".to_string(), b"a".to_vec());
        overlay.insert("fs/b.c".to_string(), b"B".to_vec());
        overlay.insert("fs/c.c".to_string(), b"c".to_vec());
        assert_eq!(
            compare(&series, &overlay),
            vec![
                Problem::Differs("fs/b.c".into()),
                Problem::Extra("fs/c.c".into())
            ]
        );
        overlay.clear();
        assert_eq!(compare(&series, &overlay).len(), 2);
    }
}
