// SPDX-License-Identifier: GPL-2.0-only
//! A KTAP/TAP reader for what the guest prints: kselftest harness output
//! (one document per test program) and KUnit results in the kernel log.

/// The result of one test line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
    /// `# XFAIL`: an expected failure, counted as passing.
    XFail,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub status: Status,
    /// Nesting level: 0 for the document's own tests.
    pub depth: usize,
    /// What follows `# ` on the result line (`SKIP reason`), or empty.
    pub directive: String,
    /// The diagnostic lines (`# ...`) at this depth since the previous
    /// result: what a kselftest printed while it ran, its failed
    /// expectations included.
    pub diag: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Doc {
    /// Every result, in order, at every depth.
    pub results: Vec<TestResult>,
    /// The top-level plan (`1..N`), if one was printed.
    pub plan: Option<usize>,
    /// Whether any KTAP/TAP header or result was seen at all.
    pub seen: bool,
}

impl Doc {
    pub fn top(&self) -> impl Iterator<Item = &TestResult> {
        self.results.iter().filter(|r| r.depth == 0)
    }
    pub fn count(&self, depth: usize, s: Status) -> usize {
        self.results
            .iter()
            .filter(|r| r.depth == depth && r.status == s)
            .count()
    }
    /// Top-level tests the plan announced but that never reported (a crash
    /// or a timeout in the middle of the run).
    pub fn missing(&self) -> usize {
        self.plan
            .map_or(0, |p| p.saturating_sub(self.top().count()))
    }
    /// Top-level tests skipped because the kernel lacks an option
    /// (`# SKIP ... needs CONFIG_...`): our config fragments enable every
    /// option the tests need, so such a skip hides a test that did not run.
    pub fn skipped_for_config(&self) -> impl Iterator<Item = &TestResult> {
        self.top()
            .filter(|r| r.status == Status::Skip && r.directive.contains("needs CONFIG_"))
    }
    /// Passed when every top-level result is pass, skip or xfail, the plan
    /// was met, and something ran.
    pub fn passed(&self) -> bool {
        self.seen && self.missing() == 0 && self.top().all(|r| r.status != Status::Fail)
    }
}

/// Strips a kernel log prefix (`[   12.345678] ` or `<6>[ ...] `).
pub fn strip_printk(line: &str) -> &str {
    let mut l = line;
    if l.starts_with('<') {
        if let Some(i) = l.find('>') {
            if i <= 4 {
                l = &l[i + 1..];
            }
        }
    }
    if l.starts_with('[') {
        if let Some(i) = l.find("] ") {
            let inner = &l[1..i];
            if inner.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                l = &l[i + 2..];
            } else if inner.contains("T") || inner.contains("C") {
                // [    1.000000][    T1] caller id
                l = &l[i + 2..];
            }
        }
    }
    l.strip_suffix('\r').unwrap_or(l)
}

/// Parses one KTAP document (or a kernel log holding KUnit's output).
pub fn parse(text: &str) -> Doc {
    let mut doc = Doc::default();
    // Diagnostic lines not yet attached to a result, by depth.
    let mut diag: Vec<Vec<String>> = Vec::new();
    for raw in text.lines() {
        let line = strip_printk(raw);
        let indent = line.len() - line.trim_start_matches(' ').len();
        let l = line.trim_start_matches(' ');
        if l.starts_with("KTAP version") || l.starts_with("TAP version") {
            doc.seen = true;
            continue;
        }
        let depth = indent / 4;
        if let Some(n) = l.strip_prefix("1..") {
            if depth == 0 {
                if let Ok(n) = n.trim().parse::<usize>() {
                    doc.plan = Some(doc.plan.unwrap_or(0) + n);
                }
            }
            continue;
        }
        let (ok, rest) = if let Some(r) = l.strip_prefix("not ok ") {
            (false, r)
        } else if let Some(r) = l.strip_prefix("ok ") {
            (true, r)
        } else {
            if let Some(d) = l.strip_prefix('#') {
                if diag.len() <= depth {
                    diag.resize_with(depth + 1, Vec::new);
                }
                diag[depth].push(d.trim().to_string());
            }
            continue;
        };
        // "<number> [- ]<name> [# DIRECTIVE ...]"
        let mut it = rest.splitn(2, ' ');
        if it.next().and_then(|n| n.parse::<u64>().ok()).is_none() {
            continue;
        }
        let rest = it.next().unwrap_or("");
        let (name, directive) = match rest.find(" # ") {
            Some(i) => (&rest[..i], rest[i + 3..].trim()),
            None => match rest.strip_prefix("# ") {
                Some(d) => ("", d.trim()),
                None => (rest, ""),
            },
        };
        let name = name.trim().trim_start_matches("- ").to_string();
        let dir = directive.to_ascii_uppercase();
        let status = if dir.starts_with("SKIP") {
            Status::Skip
        } else if dir.starts_with("XFAIL") {
            Status::XFail
        } else if ok {
            Status::Pass
        } else {
            Status::Fail
        };
        doc.seen = true;
        doc.results.push(TestResult {
            name,
            status,
            depth,
            directive: directive.to_string(),
            diag: diag.get_mut(depth).map(std::mem::take).unwrap_or_default(),
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    // As printed by a kselftest_harness.h program.
    const HARNESS: &str = "TAP version 13
1..3
# Starting 3 tests from 1 test cases.
#  RUN           global.open_read_close ...
#            OK  global.open_read_close
ok 1 global.open_read_close
#  RUN           global.ioctl ...
# rust_misc_device_test.c:40:ioctl:Expected 0 (0) == ret (-1)
#          FAIL  global.ioctl
not ok 2 global.ioctl
#  RUN           global.needs_root ...
#      SKIP      not root
#            OK  global.needs_root
ok 3 global.needs_root # SKIP not root
# FAILED: 2 / 3 tests passed.
# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0
";

    #[test]
    fn harness_counts() {
        let d = parse(HARNESS);
        assert_eq!(d.plan, Some(3));
        assert_eq!(d.count(0, Status::Pass), 1);
        assert_eq!(d.count(0, Status::Fail), 1);
        assert_eq!(d.count(0, Status::Skip), 1);
        assert_eq!(d.results[1].name, "global.ioctl");
        assert!(!d.passed());
    }

    #[test]
    fn a_result_keeps_what_its_test_printed() {
        let d = parse(HARNESS);
        assert_eq!(
            d.results[1].diag,
            [
                "RUN           global.ioctl ...",
                "rust_misc_device_test.c:40:ioctl:Expected 0 (0) == ret (-1)",
                "FAIL  global.ioctl",
            ]
        );
        // The header lines went with the first result, not the second.
        assert_eq!(d.results[0].diag[0], "Starting 3 tests from 1 test cases.");
    }

    #[test]
    fn skip_for_a_missing_option_is_seen() {
        let d = parse(
            "TAP version 13\n1..3\nok 1 a # SKIP not root\n\
             ok 2 unbind.rust.b # SKIP no rust_sync_chardev driver: needs CONFIG_SAMPLE_RUST_SYNC_CHARDEV\n\
             ok 3 c\n",
        );
        assert!(d.passed());
        let s: Vec<_> = d.skipped_for_config().map(|r| r.name.as_str()).collect();
        assert_eq!(s, ["unbind.rust.b"]);
        assert_eq!(d.results[0].directive, "SKIP not root");
    }

    #[test]
    fn incomplete_run_fails() {
        let d = parse("TAP version 13\n1..4\nok 1 a\nok 2 b\n");
        assert_eq!(d.missing(), 2);
        assert!(!d.passed());
    }

    #[test]
    fn empty_output_is_not_a_pass() {
        assert!(!parse("").passed());
        assert!(!parse("segmentation fault\n").passed());
    }

    // KUnit in the kernel log, with printk timestamps.
    const KUNIT: &str = "[    3.101000] KTAP version 1
[    3.101100] 1..2
[    3.102000]     KTAP version 1
[    3.102100]     # Subtest: rust_doctests_kernel
[    3.102200]     # speed: normal
[    3.102300]     1..3
[    3.110000]     ok 1 rust_doctest_kernel_alloc_allocator_rs_0
[    3.120000]     ok 2 rust_doctest_kernel_alloc_kbox_rs_0
[    3.130000]     ok 3 rust_doctest_kernel_sync_rs_0 # SKIP needs CONFIG_FOO
[    3.140000] # rust_doctests_kernel: pass:2 fail:0 skip:1 total:3
[    3.140100] # Totals: pass:2 fail:0 skip:1 total:3
[    3.140200] ok 1 rust_doctests_kernel
[    3.150000]     KTAP version 1
[    3.150100]     # Subtest: example
[    3.150200]     1..1
[    3.150300]     not ok 1 example_fail_test
[    3.150400] not ok 2 example
";

    #[test]
    fn kunit_in_dmesg() {
        let d = parse(KUNIT);
        assert_eq!(d.plan, Some(2));
        assert_eq!(d.count(0, Status::Pass), 1);
        assert_eq!(d.count(0, Status::Fail), 1);
        assert_eq!(d.count(1, Status::Pass), 2);
        assert_eq!(d.count(1, Status::Skip), 1);
        assert_eq!(d.count(1, Status::Fail), 1);
    }

    #[test]
    fn xfail_counts_as_pass() {
        let d = parse("TAP version 13\n1..1\nok 1 global.legacy_uaf # XFAIL use-after-free seen\n");
        assert_eq!(d.results[0].status, Status::XFail);
        assert!(d.passed());
    }

    #[test]
    fn printk_prefixes() {
        assert_eq!(strip_printk("[   12.345678] ok 1 x"), "ok 1 x");
        assert_eq!(strip_printk("<6>[    1.000000] ok 1 x"), "ok 1 x");
        assert_eq!(strip_printk("[    1.000000][    T1] ok 1 x"), "ok 1 x");
        assert_eq!(strip_printk("ok 1 x"), "ok 1 x");
    }
}
