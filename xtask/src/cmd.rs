// SPDX-License-Identifier: GPL-2.0-only
//! Running processes: every command's output goes to a log file, and a
//! failure becomes an error that names the command, the exit status, the log
//! and the last lines of it.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A command line, kept as text so that errors can show it.
#[derive(Clone, Debug)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    cwd: Option<PathBuf>,
    env: Vec<(OsString, OsString)>,
    timeout: Option<Duration>,
}

/// What a finished command left behind.
#[derive(Debug)]
pub struct Outcome {
    pub status: Option<i32>,
    pub timed_out: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        !self.timed_out && self.status == Some(0)
    }
}

impl Cmd {
    pub fn new(program: impl Into<OsString>) -> Self {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            env: Vec::new(),
            timeout: None,
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, it: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    /// The command as a person would type it (for messages only).
    pub fn display(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            let a = a.to_string_lossy();
            if a.contains([' ', '\'', '"']) || a.is_empty() {
                s.push_str(&format!(" '{}'", a.replace('\'', r"'\''")));
            } else {
                s.push(' ');
                s.push_str(&a);
            }
        }
        s
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        if let Some(d) = &self.cwd {
            c.current_dir(d);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.stdin(Stdio::null());
        c
    }

    /// Runs the command with stdout and stderr appended to `log`; returns
    /// what happened without judging it.
    pub fn spawn_logged(&self, log: &Path) -> Result<Outcome> {
        if let Some(parent) = log.parent() {
            fs::create_dir_all(parent)?;
        }
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log {}", log.display()))?;
        {
            use std::io::Write;
            let mut o = &out;
            writeln!(o, "$ {}", self.display())?;
        }
        let err = out.try_clone()?;
        let start = Instant::now();
        let mut child = self
            .command()
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("cannot start `{}`", self.display()))?;
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st.code();
            }
            if let Some(t) = self.timeout {
                if start.elapsed() > t {
                    timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        Ok(Outcome { status, timed_out })
    }

    /// Runs the command logged to `log`; a non-zero exit or a timeout is an
    /// error that names the command and shows the end of the log.
    pub fn run_logged(&self, log: &Path) -> Result<Outcome> {
        let o = self.spawn_logged(log)?;
        if o.timed_out {
            bail!(
                "`{}` did not finish within {} s\n{}",
                self.display(),
                self.timeout.unwrap_or_default().as_secs(),
                log_tail(log, 15)
            );
        }
        if o.status != Some(0) {
            bail!(
                "`{}` failed (exit {})\n{}",
                self.display(),
                o.status.map_or("signal".into(), |c| c.to_string()),
                log_tail(log, 25)
            );
        }
        Ok(o)
    }

    /// Runs the command and returns its stdout (stderr included in errors).
    pub fn output(&self) -> Result<String> {
        let out = self
            .command()
            .output()
            .with_context(|| format!("cannot start `{}`", self.display()))?;
        if !out.status.success() {
            bail!(
                "`{}` failed ({}): {}",
                self.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs the command and returns its raw stdout.
    pub fn output_bytes(&self) -> Result<Vec<u8>> {
        let out = self
            .command()
            .output()
            .with_context(|| format!("cannot start `{}`", self.display()))?;
        if !out.status.success() {
            bail!("`{}` failed ({})", self.display(), out.status);
        }
        Ok(out.stdout)
    }

    /// Runs the command with inherited output; true when it exited 0.
    pub fn status_quiet(&self) -> bool {
        self.command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }
}

/// The last `n` lines of a log, indented, with the log's path.
pub fn log_tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let mut s = format!("--- last lines of {} ---\n", log.display());
    for l in &lines[start..] {
        s.push_str("  ");
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// Whether `prog` is on the PATH.
pub fn have(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
}

/// Prints a stage step and times it.
pub struct Step {
    what: String,
    start: Instant,
}

impl Step {
    pub fn start(what: impl Into<String>) -> Self {
        let what = what.into();
        println!("==> {what}");
        Step {
            what,
            start: Instant::now(),
        }
    }

    pub fn done(self) -> Duration {
        let e = self.start.elapsed();
        println!("    {} done in {}", self.what, fmt_secs(e));
        e
    }
}

pub fn fmt_secs(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}
