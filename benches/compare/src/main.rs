//! revkv-bench-compare: one set of workloads against revkv and its peers.
//!
//! The parent process measures the disk's raw limits, then, for each engine,
//! runs the workloads in child processes (this binary, re-executed with the
//! hidden `__phase` subcommand), so that each engine's peak RSS is its own and
//! the crash test can `kill -9` a writer:
//!
//! 1. `load`: bulk load, individual durable writes, 8 concurrent writers, clean close;
//! 2. `open`: open after the clean close;
//! 3. `crash`: write 20 durable batches, report them, keep writing; killed with SIGKILL;
//! 4. `reads`: open after the kill, check the acknowledged batches, random
//!    reads, range reads, removals, compaction.
//!
//! See `RESULTS.md` and `--help`.

mod data;
mod engines;
mod workloads;

use engines::Engine;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use workloads::Params;

const HELP: &str = "\
revkv-bench-compare: the same workloads against revkv and other embedded stores

USAGE: revkv-bench-compare [OPTIONS]

OPTIONS:
  --entries N        entries in the bulk load (default 1000000)
  --dir DIR          data directory, on the disk to measure (default
                     <crate>/target/bench-data); emptied per engine
  --out FILE         also write the markdown table here
  --engines A,B,..   engines to run (default: all built in); names:
                     revkv, redb, fjall, sled, surrealkv-0.9, surrealkv-1, rocksdb
  --open-only        only bulk load, open after clean close, open after kill -9
  --cap-secs S       stop each read workload after S seconds and report the
                     rate of what was done (default 300)
  --timeout-secs S   give up on one engine phase after S seconds (default 1800)
  --keep             keep each engine's data directory afterwards
";

struct Cli {
    entries: u64,
    dir: PathBuf,
    out: Option<PathBuf>,
    engines: Vec<String>,
    open_only: bool,
    cap: Duration,
    timeout: Duration,
    keep: bool,
}

fn built_engines() -> Vec<&'static str> {
    let mut v = vec![
        "revkv",
        "redb",
        "fjall",
        "sled",
        "surrealkv-0.9",
        "surrealkv-1",
    ];
    if cfg!(feature = "rocksdb") {
        v.push("rocksdb");
    }
    v
}

/// The `Info` name of a command-line engine name.
fn display_name(cli_name: &str) -> &'static str {
    match cli_name {
        "surrealkv-0.9" => "surrealkv 0.9",
        "surrealkv-1" => "surrealkv 1.x",
        other => engines::info(other).map_or("?", |i| i.name),
    }
}

fn parse_cli(args: &[String]) -> Result<Cli, String> {
    let mut cli = Cli {
        entries: 1_000_000,
        dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data"),
        out: None,
        engines: built_engines().iter().map(|s| s.to_string()).collect(),
        open_only: false,
        cap: Duration::from_secs(300),
        timeout: Duration::from_secs(1800),
        keep: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--entries" => {
                cli.entries = value(arg)?
                    .replace('_', "")
                    .parse()
                    .map_err(|e| format!("--entries: {e}"))?
            }
            "--dir" => cli.dir = PathBuf::from(value(arg)?),
            "--out" => cli.out = Some(PathBuf::from(value(arg)?)),
            "--engines" => {
                let list = value(arg)?;
                cli.engines = list.split(',').map(|s| s.trim().to_string()).collect();
                for e in &cli.engines {
                    if !built_engines().contains(&e.as_str()) {
                        return Err(format!(
                            "unknown or not built engine {e:?} (built: {})",
                            built_engines().join(", ")
                        ));
                    }
                }
            }
            "--open-only" => cli.open_only = true,
            "--cap-secs" => {
                cli.cap = Duration::from_secs_f64(
                    value(arg)?
                        .parse()
                        .map_err(|e| format!("--cap-secs: {e}"))?,
                )
            }
            "--timeout-secs" => {
                cli.timeout = Duration::from_secs_f64(
                    value(arg)?
                        .parse()
                        .map_err(|e| format!("--timeout-secs: {e}"))?,
                )
            }
            "--keep" => cli.keep = true,
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n\n{HELP}")),
        }
    }
    if cli.entries < 10_000 {
        return Err("--entries must be at least 10000".into());
    }
    Ok(cli)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__phase") {
        std::process::exit(child(&args[1..]));
    }
    let cli = match parse_cli(&args) {
        Ok(cli) => cli,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(e) = parent(&cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------------ child

/// `__phase ENGINE PHASE DIR ENTRIES CAP_SECS OPEN_ONLY`
fn child(args: &[String]) -> i32 {
    let [engine, phase, dir, entries, cap, open_only] = args else {
        eprintln!("bad __phase arguments: {args:?}");
        return 2;
    };
    let params = Params {
        entries: entries.parse().expect("entries"),
        cap: Duration::from_secs_f64(cap.parse().expect("cap")),
        open_only: open_only == "1",
    };
    let dir = Path::new(dir);
    let result = match engine.as_str() {
        "revkv" => run_phase::<engines::Revkv>(phase, dir, &params),
        "redb" => run_phase::<engines::Redb>(phase, dir, &params),
        "fjall" => run_phase::<engines::Fjall>(phase, dir, &params),
        "sled" => run_phase::<engines::Sled>(phase, dir, &params),
        "surrealkv-0.9" => run_phase::<engines::Surreal09>(phase, dir, &params),
        "surrealkv-1" => run_phase::<engines::Surreal1>(phase, dir, &params),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => run_phase::<engines::Rocks>(phase, dir, &params),
        other => Err(format!("unknown engine {other}").into()),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{engine} {phase}: error: {e}");
            println!("@@error {e}");
            1
        }
    }
}

fn run_phase<E: Engine>(phase: &str, dir: &Path, p: &Params) -> engines::Result<()> {
    match phase {
        "load" => workloads::load::<E>(dir, p),
        "open" => workloads::open_clean::<E>(dir, p),
        "crash" => workloads::crash_writer::<E>(dir, p),
        "reads" => workloads::reads::<E>(dir, p),
        other => Err(format!("unknown phase {other}").into()),
    }
}

// ------------------------------------------------------------------ parent

type Results = HashMap<String, f64>;

fn child_command(cli: &Cli, engine: &str, phase: &str, dir: &Path) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.arg("__phase")
        .arg(engine)
        .arg(phase)
        .arg(dir)
        .arg(cli.entries.to_string())
        .arg(cli.cap.as_secs_f64().to_string())
        .arg(if cli.open_only { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

fn parse_line(line: &str, results: &mut Results) -> Option<String> {
    if let Some(err) = line.strip_prefix("@@error ") {
        return Some(err.to_string());
    }
    if let Some(rest) = line.strip_prefix("@@ ") {
        let mut parts = rest.split_whitespace();
        if let (Some(k), Some(v)) = (parts.next(), parts.next()) {
            if let Ok(v) = v.parse() {
                results.insert(k.to_string(), v);
            }
        }
    }
    None
}

/// Runs one phase to completion (or `timeout`), collecting its results.
fn run_child(
    cli: &Cli,
    engine: &str,
    phase: &str,
    dir: &Path,
    results: &mut Results,
) -> Result<(), String> {
    let mut child = child_command(cli, engine, phase, dir)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > cli.timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{phase}: timed out after {:?}", cli.timeout));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().unwrap_or_default();
    let mut error = None;
    for line in out.lines() {
        if let Some(e) = parse_line(line, results) {
            error = Some(e);
        }
    }
    match (status.success(), error) {
        (true, _) => Ok(()),
        (false, Some(e)) => Err(format!("{phase}: {e}")),
        (false, None) => Err(format!("{phase}: child exited with {status}")),
    }
}

/// Starts the crash writer, waits for its "ACKED", lets it write on for a
/// moment, then kills it with SIGKILL.
fn run_crash(cli: &Cli, engine: &str, dir: &Path) -> Result<(), String> {
    let mut child = child_command(cli, engine, "crash", dir)
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let kill_at = format!("B {}", workloads::EXTRA_BATCHES_BEFORE_KILL);
    let mut acked = false;
    let killed_in_time = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line == "ACKED" => acked = true,
            Ok(line) if line == kill_at => break true,
            Ok(line) if line.starts_with("@@error") => break false,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if start.elapsed() > cli.timeout {
                    break false;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break false;
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break false,
        }
    };
    let _ = child.kill(); // SIGKILL, while it writes the next batch
    let status = child.wait().map_err(|e| e.to_string())?;
    if !acked || !killed_in_time {
        return Err(format!(
            "crash writer failed before it was killed (acknowledged: {acked}; {status})"
        ));
    }
    eprintln!(
        "    crash writer killed with SIGKILL after {} acknowledged batches and {} more ({status})",
        workloads::CRASH_BATCHES,
        workloads::EXTRA_BATCHES_BEFORE_KILL
    );
    Ok(())
}

fn run_engine(cli: &Cli, engine: &str) -> (Results, Option<String>) {
    let mut results = Results::new();
    let dir = cli.dir.join(engine);
    eprintln!("== {engine} (data in {})", dir.display());
    let t = Instant::now();
    let mut steps = || -> Result<(), String> {
        run_child(cli, engine, "load", &dir, &mut results)?;
        run_child(cli, engine, "open", &dir, &mut results)?;
        run_crash(cli, engine, &dir)?;
        run_child(cli, engine, "reads", &dir, &mut results)?;
        Ok(())
    };
    let error = steps().err();
    if let Some(e) = &error {
        eprintln!("    FAILED: {e}");
    }
    eprintln!("    {engine} took {:.0} s", t.elapsed().as_secs_f64());
    if !cli.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    (results, error)
}

// ---------------------------------------------------------- raw limits

struct Raw {
    fdatasync_p50: f64,
    fdatasync_p99: f64,
    /// The same writes into a file written (zeros) and synced beforehand.
    alloc_fdatasync_p50: f64,
    alloc_fdatasync_p99: f64,
    seq_mib_s: f64,
}

/// Median and p99 of 1,000 writes of 200 bytes + fdatasync to a fresh
/// `path`: appends that grow the file, or (`allocated`) writes into a file
/// whose bytes were written (zeros) and synced beforehand.
fn sync_latency(path: &Path, allocated: bool) -> std::io::Result<(f64, f64)> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    if allocated {
        f.write_all(&vec![0u8; 200 * 1000])?;
        f.sync_all()?;
        f.seek(std::io::SeekFrom::Start(0))?;
    }
    let buf = [0x5au8; 200];
    let mut lat = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let t = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        lat.push(t.elapsed().as_secs_f64());
    }
    drop(f);
    let _ = std::fs::remove_file(path);
    lat.sort_by(f64::total_cmp);
    Ok((lat[500], lat[990]))
}

/// The disk's limits, measured in `dir`: write 200 bytes + fdatasync, 1,000
/// times, appending and into allocated space (median, p99); 256 MiB in 1 MiB
/// writes + fsync.
fn raw_limits(dir: &Path) -> std::io::Result<Raw> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw.log");
    let (fdatasync_p50, fdatasync_p99) = sync_latency(&path, false)?;
    let (alloc_fdatasync_p50, alloc_fdatasync_p99) = sync_latency(&path, true)?;
    let path2 = dir.join("raw.seq");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path2)?;
    let mut chunk = vec![0u8; 1 << 20];
    let mut rng = data::Rng::new(42);
    rng.fill(&mut chunk);
    let t = Instant::now();
    for _ in 0..256 {
        f.write_all(&chunk)?;
    }
    f.sync_all()?;
    let secs = t.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path2);
    Ok(Raw {
        fdatasync_p50,
        fdatasync_p99,
        alloc_fdatasync_p50,
        alloc_fdatasync_p99,
        seq_mib_s: 256.0 / secs,
    })
}

// ---------------------------------------------------------- machine facts

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The filesystem type and device holding `dir` (longest mount-point prefix).
fn filesystem(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 {
            continue;
        }
        let mp = Path::new(f[1]);
        if dir.starts_with(mp) && best.as_ref().is_none_or(|(l, _)| f[1].len() > *l) {
            best = Some((
                f[1].len(),
                format!("{} on {} ({}, {})", f[2], f[0], f[1], f[3]),
            ));
        }
    }
    best.map_or_else(|| "unknown".into(), |(_, s)| s)
}

/// The revkv commit built into this binary, and the one checked out now.
fn revkv_commit() -> String {
    let built = env!("REVKV_BUILD_COMMIT");
    let dirty = env!("REVKV_BUILD_DIRTY");
    let mut s = format!("`{built}`");
    if !dirty.is_empty() {
        let _ = write!(
            s,
            " plus uncommitted changes in src/ at build time ({dirty})"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let now = sh(&format!(
        "git -C {} log -1 --format='%h %s' 2>/dev/null",
        root.display()
    ));
    if !now.is_empty() && now != built {
        let _ = write!(s, " (HEAD is now `{now}`)");
    }
    s
}

// ---------------------------------------------------------- formatting

fn fmt_secs(s: f64) -> String {
    if s.is_nan() {
        "–".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 100.0 {
        format!("{:.2} s", s)
    } else {
        format!("{:.0} s", s)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M/s", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k/s", r / 1e3)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{:.0}/s", r)
    }
}

fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

type Cell = Box<dyn Fn(&Results) -> Option<String>>;

fn time_and_rate(time_key: &'static str, ops: f64) -> Cell {
    Box::new(move |r| {
        let s = *r.get(time_key)?;
        Some(format!("{} · {}", fmt_secs(s), fmt_rate(ops / s)))
    })
}

/// A read workload: time for what was done, rate, and a mark when capped or
/// when some reads did not find their key.
fn reads_cell(prefix: &'static str, planned: u64, bad_key: &'static str) -> Cell {
    Box::new(move |r| {
        let s = *r.get(&format!("{prefix}_s"))?;
        let ops = *r.get(&format!("{prefix}_ops"))?;
        let mut cell = format!("{} · {}", fmt_secs(s), fmt_rate(ops / s));
        if (ops as u64) < planned {
            let _ = write!(cell, " (capped: {} done)", fmt_count(ops as u64));
        }
        if let Some(bad) = r.get(bad_key).filter(|b| **b > 0.0) {
            let _ = write!(cell, " ({} wrong)", fmt_count(*bad as u64));
        }
        Some(cell)
    })
}

fn disk_cell(key: &'static str) -> Cell {
    Box::new(move |r| {
        let alloc = *r.get(&format!("{key}_alloc"))?;
        let apparent = *r.get(&format!("{key}_apparent"))?;
        let mut cell = fmt_bytes(alloc);
        if (apparent - alloc).abs() > 0.1 * alloc.max(1.0) {
            let _ = write!(cell, " (apparent {})", fmt_bytes(apparent));
        }
        Some(cell)
    })
}

fn rows(cli: &Cli) -> Vec<(String, Cell)> {
    let n = cli.entries;
    let live_end = n / 2 + workloads::SINGLE_PUTS + 2_000 + workloads::CRASH_BATCHES * 1_000;
    let mut rows: Vec<(String, Cell)> = vec![(
        format!("bulk load: {} entries, 1,000 per durable txn", fmt_count(n)),
        time_and_rate("bulk_load_s", n as f64),
    )];
    if !cli.open_only {
        rows.push((
            "individual durable writes: 1,000 × (1 put + commit)".into(),
            Box::new(|r| {
                let s = *r.get("single_puts_s")?;
                Some(format!(
                    "{} · {} (p50 {}, p99 {})",
                    fmt_secs(s),
                    fmt_rate(1000.0 / s),
                    fmt_secs(*r.get("single_put_p50_s")?),
                    fmt_secs(*r.get("single_put_p99_s")?)
                ))
            }),
        ));
        rows.push((
            "raw append 200 B + fdatasync, median of 200, just before / after the 1,000 writes"
                .into(),
            Box::new(|r| {
                Some(format!(
                    "{} / {}",
                    fmt_secs(*r.get("raw_before_single_p50_s")?),
                    fmt_secs(*r.get("raw_after_single_p50_s")?)
                ))
            }),
        ));
        rows.push((
            "raw write 200 B into allocated space + fdatasync, median of 200, before / after"
                .into(),
            Box::new(|r| {
                Some(format!(
                    "{} / {}",
                    fmt_secs(*r.get("raw_alloc_before_single_p50_s")?),
                    fmt_secs(*r.get("raw_alloc_after_single_p50_s")?)
                ))
            }),
        ));
        rows.push((
            "durable writes, 8 threads × 250 puts".into(),
            time_and_rate("threaded_puts_s", 2000.0),
        ));
        rows.push((
            format!("random reads: {}, 1 thread", fmt_count(n)),
            reads_cell("reads1", n, "reads1_missing"),
        ));
        rows.push((
            format!("random reads: {}, 2 threads", fmt_count(n)),
            reads_cell("reads2", n, "reads2_missing"),
        ));
        rows.push((
            format!("range reads: {} × 10 entries", fmt_count(n / 2)),
            reads_cell("ranges", n / 2, "ranges_wrong"),
        ));
        rows.push((
            format!("removals: {} keys, 1,000 per durable txn", fmt_count(n / 2)),
            time_and_rate("removals_s", (n / 2) as f64),
        ));
    }
    rows.push((
        "open after clean close".into(),
        Box::new(|r| Some(fmt_secs(*r.get("open_clean_s")?))),
    ));
    rows.push((
        "open after kill -9 (killed inside a durable batch of 1,000)".into(),
        Box::new(|r| Some(fmt_secs(*r.get("open_crash_s")?))),
    ));
    rows.push((
        "acknowledged writes missing after kill -9 (of 20,000)".into(),
        Box::new(|r| Some(fmt_count(*r.get("crash_lost")? as u64))),
    ));
    rows.push((
        format!(
            "disk: after load ({} entries)",
            fmt_count(n + if cli.open_only { 0 } else { 3_000 })
        ),
        disk_cell("disk_after_load"),
    ));
    if !cli.open_only {
        rows.push((
            "disk: after removals, before compaction".into(),
            disk_cell("disk_before_compaction"),
        ));
        rows.push((
            "compaction call".into(),
            Box::new(|r| Some(fmt_secs(*r.get("compaction_s")?))),
        ));
        rows.push((
            format!(
                "disk: after compaction ({} live entries = {} of keys + values)",
                fmt_count(live_end),
                fmt_bytes((live_end * 174) as f64)
            ),
            disk_cell("disk_after_compaction"),
        ));
        rows.push((
            "disk: after compaction and close".into(),
            disk_cell("disk_after_close"),
        ));
    }
    let (load_process, reads_process) = if cli.open_only {
        ("bulk load", "open after kill -9 + check")
    } else {
        (
            "load + durable writes",
            "open after kill -9 + reads + removals + compaction",
        )
    };
    rows.push((
        format!("peak RSS: {load_process} process"),
        Box::new(|r| Some(fmt_bytes(*r.get("rss_load")?))),
    ));
    rows.push((
        format!("peak RSS: {reads_process} process"),
        Box::new(|r| Some(fmt_bytes(*r.get("rss_reads")?))),
    ));
    rows
}

fn parent(cli: &Cli) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&cli.dir)?;
    let started = sh("date -u '+%Y-%m-%d %H:%M UTC'");
    let fs = filesystem(&cli.dir);
    eprintln!("data directory {} on {fs}", cli.dir.display());
    if fs.starts_with("tmpfs") || fs.starts_with("ramfs") {
        eprintln!("warning: the data directory is on a memory filesystem");
    }
    let load_start = sh("cut -d' ' -f1-3 /proc/loadavg");
    eprintln!("raw limits (before) ...");
    let raw_before = raw_limits(&cli.dir.join("raw"))?;
    let mut all = Vec::new();
    for engine in &cli.engines {
        let (results, error) = run_engine(cli, engine);
        all.push((engine.clone(), results, error));
    }
    eprintln!("raw limits (after) ...");
    let raw_after = raw_limits(&cli.dir.join("raw"))?;
    let load_end = sh("cut -d' ' -f1-3 /proc/loadavg");
    let finished = sh("date -u '+%H:%M UTC'");

    let mut md = String::new();
    let _ = writeln!(md, "revkv-bench-compare, {started} – {finished}\n");
    let _ = writeln!(md, "- revkv commit: {}", revkv_commit());
    let _ = writeln!(
        md,
        "- command: `{}`",
        std::iter::once("revkv-bench-compare".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let _ = writeln!(
        md,
        "- machine: {} CPUs (`nproc`), `{}`, {} memory; data directory `{}` on {fs}",
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'"),
        sh("free -h | awk '/Mem:/ {print $2}'"),
        cli.dir.display()
    );
    let _ = writeln!(
        md,
        "- load average (1/5/15 min): {load_start} at the start, {load_end} at the end"
    );
    let _ = writeln!(md, "\nRaw limits of the disk, same directory:\n");
    let _ = writeln!(md, "| | before the engines | after the engines |");
    let _ = writeln!(md, "|---|---:|---:|");
    let _ = writeln!(
        md,
        "| append 200 B + fdatasync, 1,000 times: median (p99) | {} ({}) | {} ({}) |",
        fmt_secs(raw_before.fdatasync_p50),
        fmt_secs(raw_before.fdatasync_p99),
        fmt_secs(raw_after.fdatasync_p50),
        fmt_secs(raw_after.fdatasync_p99)
    );
    let _ = writeln!(
        md,
        "| write 200 B into allocated space + fdatasync, 1,000 times: median (p99) | {} ({}) | {} ({}) |",
        fmt_secs(raw_before.alloc_fdatasync_p50),
        fmt_secs(raw_before.alloc_fdatasync_p99),
        fmt_secs(raw_after.alloc_fdatasync_p50),
        fmt_secs(raw_after.alloc_fdatasync_p99)
    );
    let _ = writeln!(
        md,
        "| sequential write, 256 MiB in 1 MiB writes + fsync | {:.0} MiB/s | {:.0} MiB/s |",
        raw_before.seq_mib_s, raw_after.seq_mib_s
    );
    let _ = writeln!(md);

    let _ = write!(md, "| workload |");
    for (engine, _, _) in &all {
        let _ = write!(md, " {} |", display_name(engine));
    }
    let _ = write!(md, "\n|---|");
    for _ in &all {
        let _ = write!(md, "---:|");
    }
    let _ = writeln!(md);
    for (label, cell) in rows(cli) {
        let _ = write!(md, "| {label} |");
        for (_, results, _) in &all {
            let _ = write!(md, " {} |", cell(results).unwrap_or_else(|| "–".into()));
        }
        let _ = writeln!(md);
    }
    let failures: Vec<_> = all
        .iter()
        .filter_map(|(engine, _, err)| err.as_ref().map(|e| (engine, e)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "\nFailures:\n");
        for (engine, e) in failures {
            let _ = writeln!(md, "- {engine}: {e}");
        }
    }
    let _ = writeln!(md, "\nEngine settings:\n");
    let _ = writeln!(
        md,
        "| engine | version | durable mode | concurrent writers | compaction |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|");
    for (engine, _, _) in &all {
        if let Some(i) = engines::info(display_name(engine)) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                i.name, i.version, i.durability, i.concurrency, i.compaction
            );
        }
    }
    let _ = writeln!(
        md,
        "\nTimes are wall-clock; `a · b` is the time for the whole workload and its rate. \
         Disk sizes are allocated blocks (`du`), with the apparent size when it differs by \
         more than 10%. Keys are 24 random bytes and values 150 random bytes (splitmix64, fixed \
         seeds); every engine gets the same keys in the same order. Open times are with a warm \
         page cache (the files were just written)."
    );
    println!("{md}");
    if let Some(out) = &cli.out {
        std::fs::write(out, &md)?;
        eprintln!("table written to {}", out.display());
    }
    Ok(())
}
