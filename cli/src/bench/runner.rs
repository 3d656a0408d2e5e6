//! Running the phases: this program re-executed as `revkv __bench-phase
//! PHASE DIR ...`, its protocol lines read into the results and the
//! progress display, and the crash writer killed with SIGKILL.

use super::progress::Progress;
use super::protocol::{self, Line};
use super::{Plan, EXTRA_BATCHES_BEFORE_KILL};
use crate::args::BenchPhase;
use crate::error::{Failure, EXIT_FAILED};
use crate::interrupt;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;

/// Results by name, as the phases report them.
pub type Results = HashMap<String, f64>;

/// How much of a failed phase's standard error is kept for the message.
const STDERR_TAIL: usize = 2_000;

fn failed(message: impl Into<String>) -> Failure {
    Failure::new(EXIT_FAILED, message)
}

/// A running phase process: its lines arrive on `lines`.
struct Running {
    name: &'static str,
    child: Child,
    lines: Receiver<String>,
    stderr: JoinHandle<String>,
}

/// Runs phases of one bench.
pub struct Runner<'a> {
    exe: PathBuf,
    root: &'a Path,
    plan: &'a Plan,
    progress: &'a Progress,
    /// Everything reported so far.
    pub results: Results,
}

fn phase_name(phase: BenchPhase) -> &'static str {
    match phase {
        BenchPhase::Load => "load",
        BenchPhase::Open => "open",
        BenchPhase::Crash => "crash",
        BenchPhase::Reads => "reads",
    }
}

impl<'a> Runner<'a> {
    /// A runner for the bench directory `root`.
    pub fn new(
        root: &'a Path,
        plan: &'a Plan,
        progress: &'a Progress,
    ) -> Result<Runner<'a>, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| failed(format!("cannot find this program to run its phases: {e}")))?;
        Ok(Runner {
            exe,
            root,
            plan,
            progress,
            results: Results::new(),
        })
    }

    fn spawn(&self, phase: BenchPhase, acked: u64) -> Result<Running, Failure> {
        let name = phase_name(phase);
        let c = &self.plan.counts;
        let mut child = Command::new(&self.exe)
            .arg("__bench-phase")
            .arg(name)
            .arg(self.root)
            .arg(format!("--entries={}", self.plan.entries))
            .arg(format!("--cap-secs={}", self.plan.cap.as_secs_f64()))
            .arg(format!("--acked={acked}"))
            .arg(format!("--single-writes={}", c.single_writes))
            .arg(format!("--thread-writes={}", c.thread_writes))
            .arg(format!("--raw-syncs={}", c.raw_syncs))
            .arg(format!("--raw-mib={}", c.raw_mib))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| failed(format!("start the {name} phase: {e}")))?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(format!("the {name} phase has no output pipes")));
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Ok(Running {
            name,
            child,
            lines,
            stderr,
        })
    }

    /// Takes in one line; returns the failure it reports, if any.
    fn take(&mut self, line: &str, acked: &mut Option<u64>) -> Option<String> {
        match protocol::parse(line) {
            Line::Step { total, label } => self.progress.step(total, &label),
            Line::Tick(done) => self.progress.tick(done),
            Line::Acked(n) => {
                self.progress.tick(n);
                *acked = Some(acked.map_or(n, |a| a.max(n)));
            }
            Line::Result(name, v) => {
                self.results.insert(name, v);
            }
            Line::Error(e) => return Some(e),
            Line::Other => {}
        }
        None
    }

    /// Reads lines until the process ends its output, or, with `kill_at`,
    /// until it acknowledged that many overwrite batches (then kills it
    /// with SIGKILL and reads what it had written before it died). Returns
    /// the overwrite batches acknowledged.
    fn follow(&mut self, mut run: Running, kill_at: Option<u64>) -> Result<Option<u64>, Failure> {
        let mut acked = None;
        let mut error = None;
        let mut killed = false;
        loop {
            if interrupt::interrupted() {
                let _ = run.child.kill();
                let _ = run.child.wait();
                return Err(failed("interrupted"));
            }
            match run.lines.recv_timeout(interrupt::POLL) {
                Ok(line) => {
                    if let Some(e) = self.take(&line, &mut acked) {
                        error = Some(e);
                    }
                    let due = kill_at.is_some_and(|k| acked.is_some_and(|a| a >= k));
                    if due && !killed {
                        // SIGKILL, while it writes its next batch.
                        let _ = run.child.kill();
                        killed = true;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let status = run
            .child
            .wait()
            .map_err(|e| failed(format!("wait for the {} phase: {e}", run.name)))?;
        let stderr = run.stderr.join().unwrap_or_default();
        if interrupt::interrupted() {
            return Err(failed("interrupted"));
        }
        if killed {
            return Ok(acked);
        }
        if status.success() && error.is_none() && kill_at.is_none() {
            return Ok(acked);
        }
        let mut message = format!("the {} phase failed", run.name);
        match error {
            Some(e) => message = format!("{message}: {e}"),
            None => {
                message = format!("{message} ({status})");
                let tail = stderr.trim();
                if !tail.is_empty() {
                    let start = tail
                        .char_indices()
                        .map(|(i, _)| i)
                        .find(|&i| tail.len() - i <= STDERR_TAIL)
                        .unwrap_or(0);
                    message = format!("{message}: {}", &tail[start..]);
                }
            }
        }
        Err(failed(message))
    }

    /// Runs `phase` to its end.
    pub fn phase(&mut self, phase: BenchPhase, acked: u64) -> Result<(), Failure> {
        let run = self.spawn(phase, acked)?;
        self.follow(run, None).map(|_| ())
    }

    /// Runs the crash writer and kills it with SIGKILL once it acknowledged
    /// [`EXTRA_BATCHES_BEFORE_KILL`] overwrite batches after its first 20;
    /// returns how many it acknowledged before it died.
    pub fn crash(&mut self) -> Result<u64, Failure> {
        self.progress
            .step(EXTRA_BATCHES_BEFORE_KILL, "durable batches until kill -9");
        let run = self.spawn(BenchPhase::Crash, 0)?;
        match self.follow(run, Some(EXTRA_BATCHES_BEFORE_KILL))? {
            Some(acked) if acked >= EXTRA_BATCHES_BEFORE_KILL => Ok(acked),
            _ => Err(failed("the crash writer ended before it was killed")),
        }
    }
}
