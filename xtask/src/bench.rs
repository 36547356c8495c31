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

impl Results {
    /// The statistics of the instruction counts marked `insns.<label>`.
    pub fn insns_of(&self, label: &str) -> Option<Stat> {
        self.insns
            .get(&format!("insns.{label}"))
            .and_then(|v| Stat::of(v))
    }
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
            let base = r.insns_of(&format!("{op}.legacy"));
            for k in KINDS {
                if let Some(s) = r.insns_of(&format!("{op}.{k}")) {
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
            let ins = r.insns_of(&format!("unbind.{tag}"));
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

/// The mechanisms beside the series: (name in the report, its fenced
/// label, its unfenced baseline label). Labels are `insns.<op>.<label>`.
const PEERS: [(&str, &str, &str); 8] = [
    ("series, SRCU (default)", "srcu", "legacy"),
    ("series, rwsem", "rwsem", "legacy"),
    ("driver rwsem + dead flag", "peer.rwsem", "peer.plain"),
    ("percpu_ref (queued cdev)", "peer.percpu_ref", "peer.plain"),
    (
        "global SRCU + minor lookup",
        "peer.global_srcu",
        "peer.plain",
    ),
    ("srcu_read_lock_fast()", "peer.srcu_fast", "peer.plain"),
    (
        "debugfs full proxy",
        "peer.debugfs_proxied",
        "peer.debugfs_unsafe",
    ),
    (
        "procfs use_pde()",
        "peer.procfs_pde",
        "peer.procfs_permanent",
    ),
];

/// The fence against its peers: added instructions per operation over
/// each one's own baseline, in the same boot, and what the peer module
/// logged (memory per registration, unregister times).
pub fn peer_report(r: &Results, peer_log: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n== the fence and its peers: instructions per operation, each over its own \
         unfenced baseline (same boot, same plugin; 1 thread) =="
    );
    let _ = writeln!(
        o,
        "{:<6} {:<28} {:>9} {:>9} {:>7} {:>10} {:>8}",
        "op", "mechanism", "baseline", "fenced", "added", "vs series", "spread"
    );
    for op in ["ioctl", "read"] {
        let stat = |label: &str| r.insns_of(&format!("{op}.{label}"));
        let added = |fenced: &str, base: &str| match (stat(fenced), stat(base)) {
            (Some(f), Some(b)) => Some((b, f, f.median - b.median)),
            _ => None,
        };
        let default = added(PEERS[0].1, PEERS[0].2).map(|(_, _, a)| a);
        for (name, fenced, base) in PEERS {
            let Some((b, f, a)) = added(fenced, base) else {
                continue;
            };
            let ratio = match default {
                Some(d) if d > 0.0 => format!("{:.2}x", a / d),
                _ => "-".into(),
            };
            let _ = writeln!(
                o,
                "{op:<6} {name:<28} {:>9.0} {:>9.0} {:>+7.0} {ratio:>10} {:>7.1}%",
                b.median,
                f.median,
                a,
                f.spread().max(b.spread())
            );
        }
    }
    let lines: Vec<&str> = peer_log
        .lines()
        .filter_map(|l| l.split_once("fence_peers: ").map(|(_, t)| t))
        .collect();
    let revokes = lines.iter().filter(|l| l.starts_with("unregister")).count();
    if revokes != PEER_REVOKES {
        let _ = writeln!(
            o,
            "\nthe peer module logged {revokes} of its {PEER_REVOKES} revoke times: see peers-dmesg.txt"
        );
    }
    if !lines.is_empty() {
        let _ = writeln!(
            o,
            "\n== the peers' registrations and revokes (peer module; one sample each; wall \
             clock EMULATED under TCG, no reader running; debugfs and procfs: the whole removal) =="
        );
        for l in lines
            .iter()
            .filter(|l| l.starts_with("memory") || l.starts_with("unregister"))
        {
            let _ = writeln!(o, "  {l}");
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

fn guest_script(ks: &Path, peers: &Path) -> String {
    format!(
        r#"#!/bin/sh
# Generated by cargo xtask bench; runs inside the virtme-ng guest.
OUT='{GUEST_OUT}'
grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' > "$OUT/cpu.txt"
dmesg | grep -m1 'sizeof(struct fenced_fops)' > "$OUT/fence-size.txt"
cd '{ks}/{SELFTEST}' || exit 1
./{PROGRAM} > "$OUT/bench.txt" 2> "$OUT/bench.err"
echo $? > "$OUT/bench.rc"
# The peers, in the same boot, counted by the same plugin.
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
if insmod '{peers}/{PEER_MODULE}.ko' 2> "$OUT/peers.err"; then
    '{peers}/{PEER_PROGRAM}' > "$OUT/peers.txt" 2>> "$OUT/peers.err"
    echo $? > "$OUT/peers.rc"
    echo 1 > /sys/kernel/debug/{PEER_MODULE}/unregister
else
    echo insmod > "$OUT/peers.rc"
fi
dmesg | grep '{PEER_MODULE}: ' > "$OUT/peers-dmesg.txt"
echo done > "$OUT/done"
"#,
        ks = ks.display(),
        peers = peers.display()
    )
}

const PEER_MODULE: &str = "fence_peers";
/// The "unregister <peer> <ns> ns" lines the peer module logs.
const PEER_REVOKES: usize = 6;
const PEER_PROGRAM: &str = "peer_bench";

/// The peer fixtures (xtask/bench-peers): the module, built against the
/// benchmark's kernel as an external module, and its user program.
fn build_peers(bctx: &Ctx, dir: &Path) -> Result<()> {
    let src = bctx.repo.join("xtask/bench-peers");
    fs::create_dir_all(dir)?;
    for f in ["Kbuild", "fence_peers.c", "peer_bench.c"] {
        fs::copy(src.join(f), dir.join(f)).with_context(|| format!("copying {f}"))?;
    }
    let log = dir.join("build.log");
    let s = Step::start(format!(
        "building the peer fixtures (xtask/bench-peers; log {})",
        log.display()
    ));
    build::make(bctx, &format!("M='{}' modules", dir.display()))
        .run_logged(&log)
        .context("the peer module (xtask/bench-peers/fence_peers.c) did not build")?;
    bctx.tool(
        dir,
        &format!("clang -O2 -Wall -Werror -o {PEER_PROGRAM} {PEER_PROGRAM}.c"),
    )
    .run_logged(&dir.join("build-user.log"))
    .context("the peer program (xtask/bench-peers/peer_bench.c) did not build")?;
    s.done();
    Ok(())
}

/// How many times the benchmark boots: the figures of the first, and the
/// instruction counts of each beside each other to show they are stable.
const BOOTS: usize = 2;

/// What one boot left: the parsed figures and its output directory.
struct Boot {
    r: Results,
    out: PathBuf,
    console: PathBuf,
}

/// Boots the benchmark's kernel once (number @n) and reads what it printed.
fn boot(bctx: &Ctx, dir: &Path, n: usize, kvm: bool, so: &Path, script: &Path) -> Result<Boot> {
    let out = dir.join(format!("guest-out-{n}"));
    fs::create_dir_all(&out)?;
    let console = dir.join(format!("console-{n}.log"));
    let plugin_log = dir.join(format!("plugin-{n}.log"));
    // The plugin only exists under TCG; under KVM the figures are real.
    let qemu = (!kvm).then(|| {
        format!(
            "-plugin {} -d plugin -D {}",
            so.display(),
            plugin_log.display()
        )
    });
    let s = Step::start(format!(
        "boot {n} of {BOOTS}: the benchmark's kernel ({}) running {PROGRAM} and the peers; console: {}",
        if kvm {
            "KVM"
        } else {
            "TCG + instruction-count plugin"
        },
        console.display()
    ));
    let o = test::vng(
        bctx,
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
    // What a guest program exited with ("<name>.rc") and said ("<name>.err").
    let check = |name: &str, what: &str| -> Result<()> {
        let rc = fs::read_to_string(out.join(format!("{name}.rc"))).unwrap_or_default();
        if rc.trim() != "0" {
            bail!(
                "{what} failed in the guest ({}): {}",
                rc.trim(),
                fs::read_to_string(out.join(format!("{name}.err")))
                    .unwrap_or_default()
                    .trim()
            );
        }
        Ok(())
    };
    check("bench", PROGRAM)?;
    check("peers", "the peer benchmark")?;
    let bench = fs::read_to_string(out.join("bench.txt")).unwrap_or_default();
    // The peers ran after fence_bench: their marks follow its marks.
    let bench = bench + &fs::read_to_string(out.join("peers.txt")).unwrap_or_default();
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
    Ok(Boot { r, out, console })
}

/// The added instructions per operation of every mechanism, boot by boot.
pub fn stability_report(boots: &[&Results]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n== stability: added instructions per operation (median), boot by boot =="
    );
    let _ = write!(o, "{:<6} {:<28}", "op", "mechanism");
    for n in 1..=boots.len() {
        let _ = write!(o, " {:>8}", format!("boot {n}"));
    }
    let _ = writeln!(o);
    for op in ["ioctl", "read"] {
        for (name, fenced, base) in PEERS {
            let added: Vec<Option<f64>> = boots
                .iter()
                .map(|r| {
                    let m = |l: &str| r.insns_of(&format!("{op}.{l}")).map(|s| s.median);
                    Some(m(fenced)? - m(base)?)
                })
                .collect();
            if added.iter().all(Option::is_none) {
                continue;
            }
            let _ = write!(o, "{op:<6} {name:<28}");
            for a in added {
                let _ = write!(o, " {:>8}", a.map_or("-".into(), |a| format!("{a:+.0}")));
            }
            let _ = writeln!(o);
        }
    }
    o
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
    fs::create_dir_all(&dir)?;
    let kvm = test::choose_accel(&bctx, accel, &dir.join("kvm-probe.log"))?;
    let peers = dir.join("peers");
    build_peers(&bctx, &peers)?;
    let script = dir.join("guest.sh");
    fs::write(&script, guest_script(&ks, &peers))?;
    let mut boots = Vec::new();
    for n in 1..=BOOTS {
        boots.push(boot(&bctx, &dir, n, kvm, &so, &script)?);
    }
    let first = &boots[0];
    let cpu = fs::read_to_string(first.out.join("cpu.txt")).unwrap_or_default();
    let host_cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(": ").nth(1).map(str::to_string))
        })
        .unwrap_or_default();
    let machine = format!(
        "host {} ({} CPUs), guest CPU \"{}\", {}; figures of boot 1 of {BOOTS}",
        host_cpu,
        build::jobs(),
        cpu.trim(),
        if kvm { "KVM" } else { "TCG" }
    );
    let mut text = report(&first.r, &machine, kvm);
    let peer_log = fs::read_to_string(first.out.join("peers-dmesg.txt")).unwrap_or_default();
    text.push_str(&peer_report(&first.r, &peer_log));
    if !kvm {
        let all: Vec<&Results> = boots.iter().map(|b| &b.r).collect();
        text.push_str(&stability_report(&all));
    }
    let size = fs::read_to_string(first.out.join("fence-size.txt")).unwrap_or_default();
    if let Some(i) = size.find("sizeof(struct fenced_fops)") {
        let _ = writeln!(
            text,
            "\nper registration: {} (KUnit); an SRCU fence adds an srcu_usage and \
             the per-CPU srcu_data, as the srcu_fast row above",
            size[i..].trim()
        );
    }
    let report_file = dir.join("report.txt");
    fs::write(&report_file, &text)?;
    println!(
        "\n{text}\n(report in {}; consoles {})",
        report_file.display(),
        first.console.display()
    );
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
    fn peers_are_measured_over_their_own_baselines() {
        let bench = "mark insns.ioctl.legacy 1000\nmark insns.ioctl.srcu 1000\n\
                     mark insns.ioctl.peer.plain 1000\nmark insns.ioctl.peer.percpu_ref 1000\n";
        let plugin = "insns 0 300000\ninsns 0 330000\ninsns 0 200000\ninsns 0 260000\n";
        let r = parse(bench, plugin).unwrap();
        let t = peer_report(&r, "[ 1.0] fence_peers: unregister percpu_ref 900 ns\n");
        // The series' default adds 30, the percpu_ref 60: twice the series.
        assert!(t.contains("+30"), "{t}");
        assert!(t.contains("+60"), "{t}");
        assert!(t.contains("2.00x"), "{t}");
        assert!(t.contains("unregister percpu_ref 900 ns"), "{t}");
    }

    #[test]
    fn stability_lists_each_boot() {
        let bench = "mark insns.ioctl.legacy 1000\nmark insns.ioctl.rwsem 1000\n";
        let a = parse(bench, "insns 0 300000\ninsns 0 330000\n").unwrap();
        let b = parse(bench, "insns 0 300000\ninsns 0 331000\n").unwrap();
        let t = stability_report(&[&a, &b]);
        assert!(t.contains("+30      +31"), "{t}");
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
