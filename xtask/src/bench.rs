// SPDX-License-Identifier: GPL-2.0-only
//! `bench`: what the fence costs. Builds the benchmark's kernel (no
//! debugging options) and a QEMU TCG plugin that counts instructions
//! between the benchmark's markers, boots the guest with the plugin, runs
//! tools/testing/selftests/chardev/fence_bench and reports, in one run,
//! ratios against the legacy misc device: instructions per operation
//! (exact, stable under emulation) beside the wall-clock figures of the
//! same run (emulated unless the guest ran under KVM).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::build::{self, kselftest_dir, SELFTEST};
use crate::cmd::{log_tail, Cmd, Step};
use crate::ctx::{Ctx, Flavor};
use crate::test::{self, Accel};

const PROGRAM: &str = "fence_bench";
const BENCH_TIMEOUT: Duration = Duration::from_secs(40 * 60);
const KINDS: [&str; 3] = ["legacy", "rwsem", "srcu"];

/// Median, min and max of one figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    pub fn of(v: &[f64]) -> Option<Stat> {
        if v.is_empty() {
            return None;
        }
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        Some(Stat {
            median: s[s.len() / 2],
            min: s[0],
            max: s[s.len() - 1],
        })
    }
    /// The spread as a percentage of the median.
    pub fn spread(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / self.median * 100.0
        }
    }
}

/// What the guest printed, read.
#[derive(Debug, Default)]
pub struct Results {
    pub nproc: usize,
    /// `bench <name> median m min a max b`, divided by the operation count.
    pub figures: BTreeMap<String, Stat>,
    /// Per marked label: the instruction count of each repeat, divided by
    /// the label's operation count.
    pub insns: BTreeMap<String, Vec<f64>>,
    pub done: bool,
}

/// Reads the benchmark's output and the plugin's log: the n-th `insns`
/// line of the plugin belongs to the n-th `mark` line of the benchmark.
pub fn parse(bench: &str, plugin: &str) -> Result<Results> {
    let mut r = Results::default();
    let mut marks = Vec::new();
    for l in bench.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["bench", "nproc", n] => r.nproc = n.parse()?,
            ["bench", "done"] => r.done = true,
            ["bench", name, "median", m, "min", a, "max", b] => {
                r.figures.insert(
                    name.to_string(),
                    Stat {
                        median: m.parse()?,
                        min: a.parse()?,
                        max: b.parse()?,
                    },
                );
            }
            ["mark", label, ops] => marks.push((label.to_string(), ops.parse::<f64>()?)),
            _ => {}
        }
    }
    let counts: Vec<&str> = plugin
        .lines()
        .filter_map(|l| l.strip_prefix("insns "))
        .filter(|l| !l.starts_with("plugin"))
        .collect();
    if counts.is_empty() && !marks.is_empty() {
        return Ok(r);
    }
    if counts.len() != marks.len() {
        bail!(
            "the plugin counted {} stretches, the benchmark marked {}",
            counts.len(),
            marks.len()
        );
    }
    for ((label, ops), c) in marks.into_iter().zip(counts) {
        let n: f64 = c
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("bad plugin line: insns {c}"))?;
        r.insns.entry(label).or_default().push(n / ops);
    }
    Ok(r)
}

fn pct(x: f64, base: f64) -> String {
    if base == 0.0 {
        "-".into()
    } else {
        format!("{:+.1} %", (x / base - 1.0) * 100.0)
    }
}

/// The report, as text: a table per question, ratios against the legacy
/// device in one run.
pub fn report(r: &Results, machine: &str, kvm: bool) -> String {
    let mut o = String::new();
    let clock = if kvm {
        "wall clock (KVM)"
    } else {
        "wall clock (EMULATED by TCG: distorts the ratio of a syscall to a lock)"
    };
    let _ = writeln!(o, "machine: {machine}; guest vCPUs: {}", r.nproc);
    let _ = writeln!(
        o,
        "figures: median of 7 repeats, spread = (max - min) / median"
    );
    if r.insns.is_empty() {
        let _ = writeln!(o, "\ninstructions: not counted (the plugin did not run)");
    } else {
        let _ = writeln!(
            o,
            "\n== instructions per operation (QEMU TCG plugin, exact; 1 thread) =="
        );
        let _ = writeln!(
            o,
            "{:<8} {:<8} {:>12} {:>8} {:>12} {:>10}",
            "op", "fence", "insns/op", "spread", "added/op", "vs legacy"
        );
        for op in ["ioctl", "read"] {
            let base = r
                .insns
                .get(&format!("insns.{op}.legacy"))
                .and_then(|v| Stat::of(v));
            for k in KINDS {
                if let Some(s) = r
                    .insns
                    .get(&format!("insns.{op}.{k}"))
                    .and_then(|v| Stat::of(v))
                {
                    let (added, rel) = match base {
                        Some(b) => (
                            format!("{:+.0}", s.median - b.median),
                            pct(s.median, b.median),
                        ),
                        None => ("-".into(), "-".into()),
                    };
                    let _ = writeln!(
                        o,
                        "{op:<8} {k:<8} {:>12.0} {:>7.1}% {added:>12} {rel:>10}",
                        s.median,
                        s.spread()
                    );
                }
            }
        }
    }
    let _ = writeln!(o, "\n== ns per operation, {clock} ==");
    let _ = writeln!(
        o,
        "{:<8} {:<8} {:<12} {:>10} {:>8} {:>10}",
        "op", "fence", "threads", "ns/op", "spread", "vs legacy"
    );
    for op in ["ioctl", "read"] {
        for (t, f) in [(1, "shared"), (r.nproc, "shared"), (r.nproc, "own")] {
            if t == 1 && f == "own" || (t == r.nproc && r.nproc == 1) {
                continue;
            }
            let key = |k: &str| format!("ns.{op}.{k}.{t}t.{f}");
            let base = r.figures.get(&key("legacy")).copied();
            for k in KINDS {
                if let Some(s) = r.figures.get(&key(k)) {
                    let rel = base.map_or("-".into(), |b| pct(s.median, b.median));
                    let threads = format!("{t} {f}");
                    let _ = writeln!(
                        o,
                        "{op:<8} {k:<8} {threads:<12} {:>10.0} {:>7.1}% {rel:>10}",
                        s.median,
                        s.spread()
                    );
                }
            }
        }
    }
    let _ = writeln!(
        o,
        "\n== unregister (unbind), by open files; instructions of the unbinding vCPU, \
         which include whatever else it runs while the unbind sleeps: the minimum is the cleanest =="
    );
    let _ = writeln!(
        o,
        "{:<8} {:<22} {:>12} {:>12} {:>12} {:>8}",
        "fence", "files open", "insns min", "insns median", "us", "spread"
    );
    for k in KINDS {
        for (files, busy) in [(0, 0), (1, 0), (100, 0), (10000, 0), (0, r.nproc)] {
            let tag = format!("{k}.{files}files.{busy}busy");
            let ins = r
                .insns
                .get(&format!("insns.unbind.{tag}"))
                .and_then(|v| Stat::of(v));
            let (ins_min, ins) = ins.map_or(("-".into(), "-".into()), |s| {
                (format!("{:.0}", s.min), format!("{:.0}", s.median))
            });
            if let Some(s) = r.figures.get(&format!("ns.unbind.{tag}")) {
                let what = if busy > 0 {
                    format!("{busy} threads calling")
                } else {
                    format!("{files} idle")
                };
                let _ = writeln!(
                    o,
                    "{k:<8} {what:<22} {ins_min:>12} {ins:>12} {:>12.0} {:>7.1}%",
                    s.median / 1000.0,
                    s.spread()
                );
            }
        }
    }
    let _ = writeln!(
        o,
        "\n== kernel memory per open file (slab growth over 10000 opens) =="
    );
    for k in KINDS {
        if let Some(s) = r.figures.get(&format!("bytes.per_file.{k}")) {
            let _ = writeln!(
                o,
                "{k:<8} {:>8.0} bytes (min {:.0}, max {:.0})",
                s.median, s.min, s.max
            );
        }
    }
    o
}

fn plugin(ctx: &Ctx) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let log = ctx.target().join("bench-plugin.log");
    let s = Step::start("building the instruction-count plugin (xtask/insn-plugin)");
    Cmd::new(&cargo)
        .args(["build", "--release", "-p", "insn-plugin"])
        .cwd(&ctx.repo)
        .run_logged(&log)
        .context("the plugin build failed")?;
    s.done();
    let so = ctx.repo.join("target/release/libinsn_plugin.so");
    if !so.exists() {
        bail!("{} was not built", so.display());
    }
    Ok(so)
}

const GUEST_OUT: &str = "/tmp/cdev-sync-bench";

fn guest_script(ks: &Path) -> String {
    format!(
        r#"#!/bin/sh
# Generated by cargo xtask bench; runs inside the virtme-ng guest.
OUT='{GUEST_OUT}'
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' > "$OUT/cpu.txt"
dmesg | grep -m1 'sizeof(struct fenced_fops)' > "$OUT/fence-size.txt"
cd '{ks}/{SELFTEST}' || exit 1
./{PROGRAM} > "$OUT/bench.txt" 2> "$OUT/bench.err"
echo $? > "$OUT/bench.rc"
echo done > "$OUT/done"
"#,
        ks = ks.display()
    )
}

pub fn run(ctx: &Ctx, accel: Accel) -> Result<()> {
    let bctx = ctx.with_flavor(Flavor::Bench);
    build::run(&bctx)?;
    let so = plugin(ctx)?;
    let ks = kselftest_dir(&bctx);
    if !ks.join(SELFTEST).join(PROGRAM).exists() {
        bail!(
            "{PROGRAM} was not built into {}: is the series applied (`cargo xtask apply`)?",
            ks.display()
        );
    }
    let _m = bctx.enter()?;
    let dir = ctx.target().join("bench");
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    let out = dir.join("guest-out");
    fs::create_dir_all(&out)?;
    let console = dir.join("console.log");
    let kvm = test::choose_accel(&bctx, accel, &dir.join("kvm-probe.log"))?;
    let script = dir.join("guest.sh");
    fs::write(&script, guest_script(&ks))?;
    let plugin_log = dir.join("plugin.log");
    // The plugin only exists under TCG; under KVM the figures are real.
    let qemu = (!kvm).then(|| {
        format!(
            "-plugin {} -d plugin -D {}",
            so.display(),
            plugin_log.display()
        )
    });
    let s = Step::start(format!(
        "booting the benchmark's kernel ({}) and running {PROGRAM}; console: {}",
        if kvm {
            "KVM"
        } else {
            "TCG + instruction-count plugin"
        },
        console.display()
    ));
    let o = test::vng(
        &bctx,
        kvm,
        GUEST_OUT,
        &[&out],
        &format!("sh {}", script.display()),
        qemu.as_deref(),
    )
    .timeout(BENCH_TIMEOUT)
    .spawn_logged(&console)?;
    s.done();
    if o.timed_out || !out.join("done").exists() {
        bail!(
            "the benchmark did not finish (timeout, crash or no boot); console: {}\n{}",
            console.display(),
            log_tail(&console, 20)
        );
    }
    let rc = fs::read_to_string(out.join("bench.rc")).unwrap_or_default();
    let bench = fs::read_to_string(out.join("bench.txt")).unwrap_or_default();
    if rc.trim() != "0" {
        bail!(
            "{PROGRAM} exited {} in the guest: {}",
            rc.trim(),
            fs::read_to_string(out.join("bench.err"))
                .unwrap_or_default()
                .trim()
        );
    }
    let plugin_text = fs::read_to_string(&plugin_log).unwrap_or_default();
    if !kvm && !plugin_text.contains("insns plugin loaded") {
        bail!(
            "QEMU did not load the instruction-count plugin (log {}); console: {}",
            plugin_log.display(),
            console.display()
        );
    }
    let r = parse(&bench, &plugin_text)?;
    if !r.done {
        bail!(
            "{PROGRAM} stopped early: {}",
            out.join("bench.txt").display()
        );
    }
    let cpu = fs::read_to_string(out.join("cpu.txt")).unwrap_or_default();
    let host_cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(": ").nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    let machine = format!(
        "host {} ({} CPUs), guest CPU \"{}\", {}",
        host_cpu,
        build::jobs(),
        cpu.trim(),
        if kvm { "KVM" } else { "TCG" }
    );
    let mut text = report(&r, &machine, kvm);
    let size = fs::read_to_string(out.join("fence-size.txt")).unwrap_or_default();
    if let Some(i) = size.find("sizeof(struct fenced_fops)") {
        let _ = writeln!(text, "per registration: {} (KUnit)", size[i..].trim());
    }
    let report_file = dir.join("report.txt");
    fs::write(&report_file, &text)?;
    println!("\n{text}\n(report in {})", report_file.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = "bench nproc 2
mark insns.ioctl.legacy 1000
mark insns.ioctl.legacy 1000
mark insns.ioctl.rwsem 1000
mark insns.ioctl.rwsem 1000
bench ns.ioctl.legacy.1t.shared median 500.0 min 490.0 max 520.0
bench ns.ioctl.rwsem.1t.shared median 550.0 min 540.0 max 560.0
mark insns.unbind.rwsem.10000files.0busy 1
bench ns.unbind.rwsem.10000files.0busy median 90000.0 min 80000.0 max 100000.0
bench done
";
    const PLUGIN: &str = "insns plugin loaded
insns 0 1200000
insns 0 1200100
insns 0 1230000
insns 0 1230200
insns 0 45000
";

    #[test]
    fn marks_pair_with_counts_in_order() {
        let r = parse(BENCH, PLUGIN).unwrap();
        assert!(r.done);
        assert_eq!(r.nproc, 2);
        assert_eq!(r.insns["insns.ioctl.legacy"], vec![1200.0, 1200.1]);
        assert_eq!(
            r.insns["insns.unbind.rwsem.10000files.0busy"],
            vec![45000.0]
        );
        let t = report(&r, "test", false);
        assert!(t.contains("EMULATED"), "{t}");
        // rwsem adds 30 instructions per ioctl over legacy (medians 1230.2 - 1200.1).
        assert!(t.contains("+30"), "{t}");
        assert!(t.contains("+10.0 %"), "{t}");
    }

    #[test]
    fn a_lost_count_is_an_error() {
        let plugin = PLUGIN.replace("insns 0 45000\n", "");
        assert!(parse(BENCH, &plugin).is_err());
    }

    #[test]
    fn stat_median_and_spread() {
        let s = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.spread(), 100.0);
        assert!(Stat::of(&[]).is_none());
    }
}
