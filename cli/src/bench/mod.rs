//! `revkv bench`: revkv's share of the comparison harness's workloads
//! (benches/compare) on a directory of the user's choice, printed as the
//! harness's table for revkv alone, so a user can check their own disk.
//!
//! The `bench` process prepares the directory ([`workdir`]), measures the
//! disk's raw limits ([`system`]) and runs each phase ([`phases`]) in a
//! process of its own (this program re-executed, [`runner`]), showing its
//! progress ([`progress`]); then it prints the table ([`table`]).

mod data;
mod phases;
mod progress;
mod protocol;
mod runner;
mod system;
mod table;
mod workdir;

use crate::args::{BenchArgs, BenchCounts, BenchPhaseArgs};
use crate::error::{output_error, Failure, Stop, EXIT_FAILED};
use crate::interrupt;
use crate::output::{Format, Printer};
use progress::Progress;
use runner::Runner;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use table::Raw;
use workdir::Workdir;

/// The bench directory when `--dir` is not given.
pub const DEFAULT_DIR: &str = "revkv-bench";

/// Entries per durable transaction in the bulk load, the crash writer and
/// the removals.
pub const BATCH: u64 = 1_000;
/// Concurrent writer threads.
pub const THREADS: u64 = 8;
/// Durable batches of 1,000 the crash writer writes (and acknowledges)
/// before it starts overwriting them.
pub const CRASH_BATCHES: u64 = 20;
/// Overwrite batches the crash writer acknowledges before it is killed (it
/// is then inside the next one).
pub const EXTRA_BATCHES_BEFORE_KILL: u64 = 5;
/// Appends + fdatasync of the raw latency right before and after the
/// individual durable writes.
pub const RAW_AROUND_SINGLE: u64 = 200;

/// What one bench runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Entries in the bulk load.
    pub entries: u64,
    /// The fixed counts.
    pub counts: BenchCounts,
    /// Each read workload stops after this long.
    pub cap: Duration,
    /// Overwrite batches the crash writer acknowledged (for `reads`).
    pub acked: u64,
}

impl Plan {
    /// The first key of the individual durable writes.
    pub fn single_first(&self) -> u64 {
        self.entries
    }

    /// The first key of the concurrent writers.
    pub fn threads_first(&self) -> u64 {
        self.single_first() + self.counts.single_writes
    }

    /// The first key of the crash writer.
    pub fn crash_first(&self) -> u64 {
        self.threads_first() + THREADS * self.counts.thread_writes
    }

    /// One past the last key written.
    pub fn crash_end(&self) -> u64 {
        self.crash_first() + CRASH_BATCHES * BATCH
    }

    /// Keys the removals delete: the even ones of the bulk load.
    pub fn removed(&self) -> u64 {
        self.entries.div_ceil(2)
    }
}

/// `revkv bench`.
pub fn bench<W: Write>(dir: &Path, args: BenchArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    if let Some(file) = &args.out {
        check_out_file(file)?;
    }
    let plan = Plan {
        entries: args.entries,
        counts: args.counts,
        cap: args.cap_secs,
        acked: 0,
    };
    interrupt::install();
    let work = Workdir::prepare(dir)?;
    let progress = Progress::new();
    let result = run(&work, &plan, &progress);
    progress.finish();
    let report = match result {
        Ok(report) => report.render(out.format()),
        Err(e) => {
            // The failure of the run is the one to report.
            if let Err(cleanup) = finish(work, args.keep, &progress) {
                progress.note(&format!("also: {}", cleanup.message));
            }
            return Err(e.into());
        }
    };
    out.writer()
        .write_all(report.as_bytes())
        .map_err(output_error)?;
    out.flush().map_err(output_error)?;
    if let Some(file) = &args.out {
        std::fs::write(file, &report)
            .map_err(|e| Failure::new(EXIT_FAILED, format!("write {}: {e}", file.display())))?;
        progress.note(&format!("table written to {}", file.display()));
    }
    finish(work, args.keep, &progress)?;
    Ok(())
}

/// Removes what bench wrote, or says where it is with `--keep`.
fn finish(work: Workdir, keep: bool, progress: &Progress) -> Result<(), Failure> {
    if keep {
        progress.note(&format!("data kept in {}", work.root().display()));
        return Ok(());
    }
    work.remove()
}

/// Fails early, before minutes of work, when `--out` cannot be written:
/// its directory must exist.
fn check_out_file(file: &Path) -> Result<(), Failure> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.is_dir() && !file.is_dir() {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_FAILED,
        format!(
            "cannot write the table to {}: no such directory",
            file.display()
        ),
    ))
}

/// What a run found: a preamble (markdown lines about the run), the rows
/// of the table, and the notes under it.
struct Report {
    preamble: String,
    rows: Vec<(String, String)>,
    notes: String,
}

impl Report {
    /// The report as markdown, or (`-w json`) as one JSON object:
    /// `{"about":[lines],"rows":[{"workload":W,"revkv":R},..],"notes":S}`.
    fn render(&self, format: Format) -> String {
        if format == Format::Json {
            let rows: Vec<serde_json::Value> = self
                .rows
                .iter()
                .map(|(w, r)| serde_json::json!({ "workload": w, "revkv": r }))
                .collect();
            let about: Vec<&str> = self.preamble.lines().filter(|l| !l.is_empty()).collect();
            let value = serde_json::json!({
                "about": about,
                "rows": rows,
                "notes": self.notes.trim(),
            });
            return format!("{value}\n");
        }
        format!(
            "{}{}{}",
            self.preamble,
            table::markdown(&self.rows),
            self.notes
        )
    }
}

/// Every step; returns the report.
fn run(work: &Workdir, plan: &Plan, progress: &Progress) -> Result<Report, Failure> {
    let started = system::utc_now();
    let load_start = system::load_average();
    let fs = system::filesystem(work.root());
    if let Some(fs) = &fs {
        if fs.starts_with("tmpfs") || fs.starts_with("ramfs") {
            progress.note(&format!(
                "warning: {} is on a memory filesystem ({fs}); the figures say nothing about a disk",
                work.root().display()
            ));
        }
    }
    let before = raw_limits(work, plan, progress)?;
    let mut runner = Runner::new(work.root(), plan, progress)?;
    runner.phase(crate::args::BenchPhase::Load, 0)?;
    runner.phase(crate::args::BenchPhase::Open, 0)?;
    let acked = runner.crash()?;
    runner.phase(crate::args::BenchPhase::Reads, acked)?;
    let after = raw_limits(work, plan, progress)?;

    let mut md = String::new();
    let _ = writeln!(
        md,
        "revkv bench (revkv-cli {}), {started} – {} UTC\n",
        env!("CARGO_PKG_VERSION"),
        system::utc_now()
            .split_once(' ')
            .map_or("", |(_, time)| time)
    );
    let _ = writeln!(
        md,
        "- data directory: `{}`{}",
        work.root().display(),
        fs.map_or_else(String::new, |fs| format!(" ({fs})"))
    );
    if let (Some(start), Some(end)) = (load_start, system::load_average()) {
        let _ = writeln!(
            md,
            "- load average (1/5/15 min): {start} at the start, {end} at the end"
        );
    }
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        md,
        "- {cpus} CPUs; the crash writer was killed after {acked} overwrite batches \
         had been acknowledged\n"
    );
    let rows = table::rows(plan, [before, after], &runner.results);
    let mut notes = String::new();
    let _ = writeln!(
        notes,
        "\nTimes are wall-clock; `a · b` is the time for the whole workload and its rate. \
         Every write is durable (`SyncPolicy::Always`). Keys are 24 random bytes and values \
         150 random bytes (splitmix64, fixed seeds), the same as in the comparison harness \
         (benches/compare), so the figures compare with its tables. Disk sizes are allocated \
         blocks, with the apparent size when it differs by more than 10%. Open times are with \
         a warm page cache."
    );
    Ok(Report {
        preamble: md,
        rows,
        notes,
    })
}

/// The disk's raw limits, measured in the bench directory.
fn raw_limits(work: &Workdir, plan: &Plan, progress: &Progress) -> Result<Raw, Failure> {
    let c = &plan.counts;
    let io = |what: &str, e: std::io::Error| {
        Failure::new(
            EXIT_FAILED,
            format!("{what} in {}: {e}", work.root().display()),
        )
    };
    progress.step(
        c.raw_syncs,
        &format!(
            "raw limit: {} × append + fdatasync",
            table::fmt_count(c.raw_syncs)
        ),
    );
    let (p50, p99) = system::fdatasync_latency(
        &work.file(workdir::RAW_SYNC),
        c.raw_syncs,
        false,
        &mut |done| progress.tick(done),
    )
    .map_err(|e| io("raw fdatasync", e))?;
    progress.step(
        c.raw_syncs,
        &format!(
            "raw limit: {} × write into allocated space + fdatasync",
            table::fmt_count(c.raw_syncs)
        ),
    );
    let (alloc_p50, alloc_p99) = system::fdatasync_latency(
        &work.file(workdir::RAW_SYNC),
        c.raw_syncs,
        true,
        &mut |done| progress.tick(done),
    )
    .map_err(|e| io("raw fdatasync", e))?;
    progress.step(
        c.raw_mib,
        &format!("raw limit: sequential write, {} MiB", c.raw_mib),
    );
    let seq = system::sequential_write(&work.file(workdir::RAW_SEQ), c.raw_mib, &mut |done| {
        progress.tick(done)
    })
    .map_err(|e| io("raw sequential write", e))?;
    Ok(Raw {
        fdatasync_p50: p50.as_secs_f64(),
        fdatasync_p99: p99.as_secs_f64(),
        alloc_fdatasync_p50: alloc_p50.as_secs_f64(),
        alloc_fdatasync_p99: alloc_p99.as_secs_f64(),
        seq_mib_s: seq,
    })
}

/// The hidden `__bench-phase` command: one phase, in this process.
pub fn phase<W: Write>(args: BenchPhaseArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let plan = Plan {
        entries: args.entries,
        counts: args.counts,
        cap: args.cap_secs,
        acked: args.acked,
    };
    let mut reporter = protocol::Reporter::new(out.writer());
    let result = phases::run(args.phase, &args.dir, &plan, &mut reporter);
    if let Err(e) = &result {
        let _ = reporter.error(&e.message);
    }
    Ok(result?)
}
