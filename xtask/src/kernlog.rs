// SPDX-License-Identifier: GPL-2.0-only
//! The kernel-log scanner: finds every report a guest run must not have
//! (KASAN, KFENCE, lockdep, refcount, WARN, BUG, Oops, panic, a stray call
//! trace) and says where each one starts.

use std::collections::BTreeMap;
use std::fmt;

use crate::ktap::strip_printk;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Kasan,
    Kfence,
    Lockdep,
    Refcount,
    Warn,
    Bug,
    Oops,
    Panic,
    Ubsan,
    HungTask,
    RcuStall,
    CallTrace,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Kasan => "KASAN",
            Kind::Kfence => "KFENCE",
            Kind::Lockdep => "lockdep",
            Kind::Refcount => "refcount",
            Kind::Warn => "WARN",
            Kind::Bug => "BUG",
            Kind::Oops => "Oops",
            Kind::Panic => "panic",
            Kind::Ubsan => "UBSAN",
            Kind::HungTask => "hung task",
            Kind::RcuStall => "RCU stall",
            Kind::CallTrace => "Call Trace",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    /// 1-based line number in the log.
    pub line: usize,
    /// The line that starts the report, without the printk prefix.
    pub text: String,
}

/// How far (in lines) a `Call Trace:` may follow the report it belongs to.
const TRACE_WINDOW: usize = 120;

fn classify(l: &str) -> Option<Kind> {
    // Order matters: the specific "BUG: KASAN:" before the generic "BUG:".
    if l.contains("BUG: KASAN:") {
        Some(Kind::Kasan)
    } else if l.contains("BUG: KFENCE:") {
        Some(Kind::Kfence)
    } else if l.contains("refcount_t:") {
        Some(Kind::Refcount)
    } else if l.contains("UBSAN:") {
        Some(Kind::Ubsan)
    } else if l.starts_with("WARNING: CPU:") || l.contains("] WARNING: CPU:") {
        Some(Kind::Warn)
    } else if l.starts_with("WARNING: ")
        || l.starts_with("BUG: held lock freed")
        || l.starts_with("INFO: possible")
    {
        // Lockdep's reports: "WARNING: possible circular locking
        // dependency detected", "WARNING: inconsistent lock state", ...
        Some(Kind::Lockdep)
    } else if l.starts_with("Kernel panic") {
        Some(Kind::Panic)
    } else if l.starts_with("kernel BUG at") || l.contains("BUG: ") {
        Some(Kind::Bug)
    } else if l.starts_with("Oops") || l.contains("general protection fault") {
        Some(Kind::Oops)
    } else if l.starts_with("INFO: task ") && l.contains("blocked for more than") {
        Some(Kind::HungTask)
    } else if l.contains("rcu: INFO:") && l.contains("stall") {
        Some(Kind::RcuStall)
    } else if l.trim_start() == "Call Trace:" {
        Some(Kind::CallTrace)
    } else {
        None
    }
}

/// Every report in `log`. A `Call Trace:` that belongs to a report just
/// before it is part of that report, not a report of its own.
pub fn scan(log: &str) -> Vec<Report> {
    let mut out: Vec<Report> = Vec::new();
    let mut last_report_line: Option<usize> = None;
    for (i, raw) in log.lines().enumerate() {
        let l = strip_printk(raw).trim_end();
        let Some(kind) = classify(l) else { continue };
        let n = i + 1;
        if kind == Kind::CallTrace && last_report_line.is_some_and(|r| n - r <= TRACE_WINDOW) {
            continue;
        }
        // One report often prints several of these headers (a KASAN report
        // has "BUG: KASAN" then its own trace; an Oops follows a BUG).
        if kind == Kind::Oops && out.last().is_some_and(|r| n - r.line <= 5) {
            continue;
        }
        last_report_line = Some(n);
        out.push(Report {
            kind,
            line: n,
            text: l.to_string(),
        });
    }
    out
}

/// Reports counted by kind, for a one-line summary.
pub fn by_kind(reports: &[Report]) -> BTreeMap<Kind, usize> {
    let mut m = BTreeMap::new();
    for r in reports {
        *m.entry(r.kind).or_insert(0) += 1;
    }
    m
}

pub fn summary(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "0".into();
    }
    by_kind(reports)
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KASAN_UAF: &str = include_str!("../fixtures/kasan-uaf.log");
    const LOCKDEP: &str = include_str!("../fixtures/lockdep-circular.log");
    const WARN: &str = include_str!("../fixtures/warn.log");
    const REFCOUNT: &str = include_str!("../fixtures/refcount.log");
    const CLEAN: &str = include_str!("../fixtures/clean-boot.log");

    #[test]
    fn kasan_use_after_free() {
        let r = scan(KASAN_UAF);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].kind, Kind::Kasan);
        assert!(r[0]
            .text
            .contains("slab-use-after-free in test_chardev_enter"));
    }

    #[test]
    fn lockdep_circular() {
        let r = scan(LOCKDEP);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].kind, Kind::Lockdep);
    }

    #[test]
    fn warn_on() {
        let r = scan(WARN);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].kind, Kind::Warn);
    }

    #[test]
    fn refcount_underflow() {
        let r = scan(REFCOUNT);
        assert_eq!(by_kind(&r).get(&Kind::Refcount), Some(&1), "{r:?}");
        // The refcount report is printed through WARN: both are seen, and
        // the run fails either way.
        assert!(r
            .iter()
            .all(|x| matches!(x.kind, Kind::Refcount | Kind::Warn)));
    }

    #[test]
    fn clean_boot_passes() {
        assert_eq!(scan(CLEAN), vec![]);
        assert_eq!(summary(&scan(CLEAN)), "0");
    }

    #[test]
    fn stray_call_trace_and_panic() {
        let log = "[    1.0] foo\n[    2.0] Call Trace:\n[    2.1]  <TASK>\n[    3.0] Kernel panic - not syncing: Fatal exception\n";
        let k: Vec<Kind> = scan(log).iter().map(|r| r.kind).collect();
        assert_eq!(k, vec![Kind::CallTrace, Kind::Panic]);
    }
}
