//! Measurements for issues 3 (watches), 4 (compaction) and 5 (leases) that
//! criterion cannot express: percentiles, one-shot timings of multi-second
//! operations, process memory and rates of concurrent activities. A custom
//! harness (`harness = false`) that prints markdown tables; see
//! `benches/RESULTS.md` for figures and how they were taken.
//!
//! Run everything (3–4 minutes on the shared 2-core machine of RESULTS.md;
//! most of it is loading the compaction stores):
//!
//!     cargo bench --bench measure
//!
//! or some sections only, by name prefix: `cargo bench --bench measure -- watch`
//! (sections: watch-latency, watch-catch-up, watch-slow, compaction-rewrite,
//! compaction-space, lease-open, lease-expiry, key-index).
//!
//! Keys are 24 random bytes and values 150 random bytes (splitmix64, fixed
//! seeds), as in `benches/core.rs`, unless a section says otherwise. Stores
//! live in temporary directories under cargo's `CARGO_TARGET_TMPDIR`
//! (`target/tmp`), or under `REVKV_BENCH_DIR` when it is set.
//!
//! The lease section measures `Db::open` in a child process (this binary run
//! again with `__open_child`), so that VmRSS before the open is not inflated
//! by the memory the parent used to build the store.

use revkv::{
    Db, Error, KeyRange, ManualClock, Op, Options, PutRequest, SyncPolicy, Txn, WatchRequest,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 150;
/// Stack of each watcher thread: they only receive and forward timestamps.
const WATCHER_STACK: usize = 128 << 10;
/// Start of the lease section's manual clock (Unix ms, late 2027).
const CLOCK_START_MS: u64 = 1_820_000_000_000;

/// splitmix64, as in `benches/core.rs`.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        for chunk in v.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        v
    }

    fn key(&mut self) -> Vec<u8> {
        self.bytes(KEY_LEN)
    }

    fn value(&mut self) -> Vec<u8> {
        self.bytes(VALUE_LEN)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

fn bench_root() -> PathBuf {
    let root = std::env::var_os("REVKV_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&root).expect("create the benchmark directory");
    root
}

fn temp_dir() -> TempDir {
    tempfile::tempdir_in(bench_root()).expect("tempdir")
}

fn open(path: &Path, options: Options) -> Db {
    Db::open(path, options).expect("open the store")
}

/// Median and 99th percentile (nearest rank) of a sample.
#[derive(Clone, Copy)]
struct Pct {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn pct(samples: &mut [Duration]) -> Pct {
    assert!(!samples.is_empty(), "no samples");
    samples.sort_unstable();
    let rank = |p: f64| {
        let r = (p * samples.len() as f64).ceil() as usize;
        samples[r.clamp(1, samples.len()) - 1]
    };
    Pct {
        p50: rank(0.50),
        p99: rank(0.99),
        max: samples[samples.len() - 1],
    }
}

fn us(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn rate(n: f64, d: Duration) -> f64 {
    n / d.as_secs_f64()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// CPU seconds used so far by this process's threads, summed by thread name
/// (only threads alive now are counted). From /proc/self/task/*/schedstat
/// (nanoseconds on a CPU), which is exact; the tick-sampled utime/stime of
/// `stat` miss threads that run in bursts shorter than a tick.
fn thread_cpu() -> HashMap<String, f64> {
    let mut by_name = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let (Ok(comm), Ok(sched)) = (
            std::fs::read_to_string(task.path().join("comm")),
            std::fs::read_to_string(task.path().join("schedstat")),
        ) else {
            continue;
        };
        if let Some(ns) = sched
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
        {
            *by_name.entry(comm.trim().to_string()).or_insert(0.0) += ns as f64 / 1e9;
        }
    }
    by_name
}

/// CPU seconds of the named threads between two [`thread_cpu`] readings.
fn cpu_delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, name: &str) -> f64 {
    after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
}

/// A field of /proc/self/status in kB (VmRSS, RssAnon, RssFile, VmHWM).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Sizes of the store's segment and index files, by name.
fn store_files(dir: &Path) -> HashMap<String, u64> {
    std::fs::read_dir(dir)
        .expect("list the store")
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.ends_with(".seg") || name.ends_with(".idx"))
                .then(|| (name, e.metadata().map_or(0, |m| m.len())))
        })
        .collect()
}

/// Puts `puts` single-put revisions from `threads` threads (keys drawn from
/// `keys` round-robin, so every key is overwritten `puts / keys.len()` times).
fn load_single_puts(db: &Db, keys: &[Vec<u8>], puts: usize, threads: usize, seed: u64) {
    thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || {
                let mut rng = Rng::new(seed + t as u64);
                let mut i = t;
                while i < puts {
                    db.put(keys[i % keys.len()].clone(), rng.value())
                        .expect("load put");
                    i += threads;
                }
            });
        }
    });
}

// ---------------------------------------------------------------- watches

/// Put-to-receive latency with `watchers` watchers of the key that is put,
/// each in its own thread blocked in `recv`. Returns the time from just
/// before `put` to its return, to the first watcher's receipt and to the
/// last watcher's receipt, one sample per put.
fn watch_latency(
    watchers: usize,
    sync: SyncPolicy,
    puts: usize,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    const WARMUP: usize = 50;
    let dir = temp_dir();
    let db = open(&dir.path().join("db"), Options::new().sync(sync));
    let key = b"/watched/key".to_vec();
    let (ack_tx, ack_rx) = mpsc::channel::<(u64, Instant)>();
    let mut handles = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let w = db.watch(WatchRequest::key(key.clone())).expect("watch");
        let tx = ack_tx.clone();
        let h = thread::Builder::new()
            .name("watcher".into())
            .stack_size(WATCHER_STACK)
            .spawn(move || {
                while let Some(resp) = w.recv() {
                    let at = Instant::now();
                    for e in &resp.events {
                        let _ = tx.send((e.kv.mod_revision, at));
                    }
                }
            })
            .expect("spawn watcher");
        handles.push(h);
    }
    drop(ack_tx);
    let mut rng = Rng::new(11);
    let (mut ret, mut first, mut last) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..WARMUP + puts {
        let value = rng.value();
        let k = key.clone();
        let t0 = Instant::now();
        let rev = db.put(k, value).expect("put").revision;
        let returned = t0.elapsed();
        let (mut lo, mut hi) = (None::<Instant>, t0);
        for _ in 0..watchers {
            let (r, at) = ack_rx.recv().expect("ack");
            assert_eq!(r, rev, "a watcher saw another revision");
            lo = Some(lo.map_or(at, |l| l.min(at)));
            hi = hi.max(at);
        }
        if i >= WARMUP {
            ret.push(returned);
            first.push(lo.map_or(Duration::ZERO, |l| l.saturating_duration_since(t0)));
            last.push(hi.saturating_duration_since(t0));
        }
    }
    db.close().expect("close");
    for h in handles {
        h.join().expect("watcher thread");
    }
    (ret, first, last)
}

fn section_watch_latency() {
    println!("\n### Watch: put-to-receive latency\n");
    println!(
        "Each watcher is a thread blocked in `Watcher::recv` on the one key that is put; \
         puts are sequential (the next starts once every watcher has the event). \
         `put returns` = `put()` call to return; `first`/`last` = `put()` call to the \
         first/last watcher's `recv` returning.\n"
    );
    println!("| sync | watchers | puts | put returns p50 / p99 | first recv p50 / p99 | last recv p50 / p99 (max) | wall |");
    println!("|---|---|---|---|---|---|---|");
    for (sync, name) in [(SyncPolicy::Never, "Never"), (SyncPolicy::Always, "Always")] {
        for (watchers, puts) in [(1, 3000), (100, 3000), (1000, 1000)] {
            let began = Instant::now();
            let (mut r, mut f, mut l) = watch_latency(watchers, sync, puts);
            let (r, f, l) = (pct(&mut r), pct(&mut f), pct(&mut l));
            println!(
                "| {name} | {watchers} | {puts} | {} / {} | {} / {} | {} / {} ({}) | {:.1} s |",
                us(r.p50),
                us(r.p99),
                us(f.p50),
                us(f.p99),
                us(l.p50),
                us(l.p99),
                us(l.max),
                began.elapsed().as_secs_f64()
            );
        }
    }
}

/// Catch-up: a store with `revisions` single-put revisions (over 10k keys),
/// then watches of everything from revision 1, read as fast as possible.
fn section_watch_catch_up() {
    const REVISIONS: usize = 100_000;
    const KEYS: usize = 10_000;
    println!("\n### Watch: catch-up from revision 1 over {REVISIONS} revisions\n");
    println!(
        "{REVISIONS} revisions of one put each ({KEYS} keys, each written {} times; \
         `SyncPolicy::Never`, loaded from 4 threads). A watch of all keys from revision 1 \
         is read by one thread until it has every event.\n",
        REVISIONS / KEYS
    );
    println!("| segment size | watch | events | time to first event | total | events/s |");
    println!("|---|---|---|---|---|---|");
    for (seg, seg_name) in [
        (64u64 << 20, "64 MiB (all history in the active segment)"),
        (4 << 20, "4 MiB (history in ~6 sealed segments)"),
    ] {
        let dir = temp_dir();
        let db = open(
            &dir.path().join("db"),
            Options::new().sync(SyncPolicy::Never).segment_size(seg),
        );
        let mut rng = Rng::new(21);
        let keys: Vec<Vec<u8>> = (0..KEYS).map(|_| rng.key()).collect();
        let began = Instant::now();
        load_single_puts(&db, &keys, REVISIONS, 4, 22);
        eprintln!(
            "catch-up store: {REVISIONS} puts in {:.2?}, {} segments",
            began.elapsed(),
            db.stats().expect("stats").segments
        );
        let total = db.current_revision() as usize;
        for prev_kv in [false, true] {
            let mut req = WatchRequest::new(KeyRange::all()).start_revision(1);
            if prev_kv {
                req = req.prev_kv();
            }
            let t0 = Instant::now();
            let w = db.watch(req).expect("watch");
            let mut events = 0usize;
            let mut first = None;
            while events < total {
                let resp = w.recv().expect("catch-up response");
                first.get_or_insert_with(|| t0.elapsed());
                events += resp.events.len();
            }
            let took = t0.elapsed();
            println!(
                "| {seg_name} | all keys{} | {events} | {} | {} | {:.0} |",
                if prev_kv { ", prev_kv" } else { "" },
                us(first.unwrap_or_default()),
                us(took),
                rate(events as f64, took)
            );
        }
        db.close().expect("close");
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Slow {
    None,
    /// Watchers that never read.
    Stalled,
    /// Watchers that read one response, then sleep 10 ms.
    Sleepy,
    /// Watchers that read as fast as they can.
    Eager,
}

/// Puts from `threads` threads over `keys` until `limit` puts are done or
/// `deadline` has passed; returns the number of puts and the time taken.
fn put_for(
    db: &Db,
    keys: &[Vec<u8>],
    limit: usize,
    deadline: Duration,
    threads: usize,
) -> (usize, Duration) {
    let count = AtomicUsize::new(0);
    let t0 = Instant::now();
    thread::scope(|s| {
        for t in 0..threads {
            let count = &count;
            s.spawn(move || {
                let mut rng = Rng::new(32 + t as u64);
                loop {
                    let i = count.fetch_add(1, Ordering::Relaxed);
                    if i >= limit || t0.elapsed() >= deadline {
                        count.fetch_sub(1, Ordering::Relaxed);
                        return;
                    }
                    db.put(keys[i % keys.len()].clone(), rng.value())
                        .expect("put");
                }
            });
        }
    });
    (count.into_inner(), t0.elapsed())
}

/// Writer throughput with 1000 watchers of every key written, by kind.
fn section_watch_slow() {
    const WATCHERS: usize = 1000;
    const PUTS: usize = 20_000;
    const LIMIT: Duration = Duration::from_secs(5);
    const KEYS: usize = 1000;
    const SLEEP: Duration = Duration::from_millis(100);
    println!("\n### Watch: writer throughput with {WATCHERS} slow watchers\n");
    println!(
        "The same workload each time: single puts from 2 threads, `SyncPolicy::Never`, \
         over {KEYS} keys under one prefix, until {PUTS} puts are done or {} s have passed; \
         every watcher watches that prefix (each in its own thread, except the ones that \
         never read, which are only held). CPU = seconds of CPU used during the run by \
         the writer thread, the catch-up thread and the watcher threads (from \
         /proc/self/task/*/schedstat).\n",
        LIMIT.as_secs()
    );
    println!("| watchers | puts | puts/s | vs none | writer CPU | catch-up CPU | watcher threads CPU | wall |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut base = 0.0;
    for mode in [Slow::None, Slow::Stalled, Slow::Sleepy, Slow::Eager] {
        let dir = temp_dir();
        let db = open(
            &dir.path().join("db"),
            Options::new().sync(SyncPolicy::Never),
        );
        let mut rng = Rng::new(31);
        let keys: Vec<Vec<u8>> = (0..KEYS)
            .map(|_| {
                let mut k = b"/slow/".to_vec();
                k.extend(rng.bytes(KEY_LEN - 6));
                k
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let mut held = Vec::new();
        let mut handles = Vec::new();
        if mode != Slow::None {
            for _ in 0..WATCHERS {
                let w = db.watch(WatchRequest::prefix("/slow/")).expect("watch");
                match mode {
                    Slow::Stalled => held.push(w),
                    _ => {
                        let stop = Arc::clone(&stop);
                        let h = thread::Builder::new()
                            .name("watcher".into())
                            .stack_size(WATCHER_STACK)
                            .spawn(move || {
                                while !stop.load(Ordering::Relaxed) {
                                    match w.recv_timeout(Duration::from_millis(50)) {
                                        Ok(_) if mode == Slow::Sleepy => thread::sleep(SLEEP),
                                        Ok(_) | Err(revkv::RecvError::Timeout) => {}
                                        Err(_) => return,
                                    }
                                }
                            })
                            .expect("spawn watcher");
                        handles.push(h);
                    }
                }
            }
        }
        let cpu0 = thread_cpu();
        let (puts, took) = put_for(&db, &keys, PUTS, LIMIT, 2);
        let cpu1 = thread_cpu();
        stop.store(true, Ordering::Relaxed);
        drop(held);
        db.close().expect("close");
        for h in handles {
            h.join().expect("watcher thread");
        }
        let r = rate(puts as f64, took);
        if mode == Slow::None {
            base = r;
        }
        let name = match mode {
            Slow::None => "none".to_string(),
            Slow::Stalled => format!("{WATCHERS} never reading"),
            Slow::Sleepy => format!(
                "{WATCHERS} reading, {} ms sleep after each response",
                SLEEP.as_millis()
            ),
            Slow::Eager => format!("{WATCHERS} reading as fast as they can"),
        };
        println!(
            "| {name} | {puts} | {r:.0} | {:.3}× | {:.2} s | {:.2} s | {:.2} s | {:.2} s |",
            r / base,
            cpu_delta(&cpu0, &cpu1, "revkv-writer"),
            cpu_delta(&cpu0, &cpu1, "revkv-watch"),
            cpu_delta(&cpu0, &cpu1, "watcher"),
            took.as_secs_f64()
        );
    }
}

// ------------------------------------------------------------- compaction

/// Compaction throughput and the put latency it causes: a store of random
/// overwrites with 4 MiB segments, foreground durable puts before and while
/// `compact_physical(current)` runs.
fn section_compaction_rewrite() {
    const KEYS: usize = 200_000;
    const PUTS: usize = 1_000_000;
    const TXN: usize = 1000;
    const BASELINE: Duration = Duration::from_secs(3);
    println!("\n### Compaction: rewrite throughput and put latency during it\n");
    let dir = temp_dir();
    let path = dir.path().join("db");
    let db = Arc::new(open(
        &path,
        Options::new()
            .sync(SyncPolicy::Always)
            .segment_size(4 << 20),
    ));
    let mut rng = Rng::new(41);
    let keys: Vec<Vec<u8>> = (0..KEYS).map(|_| rng.key()).collect();
    let began = Instant::now();
    let mut picked = std::collections::HashSet::with_capacity(TXN);
    for _ in 0..PUTS / TXN {
        // Uniform random keys, distinct within a transaction (a txn may not
        // write a key twice).
        picked.clear();
        while picked.len() < TXN {
            picked.insert(rng.below(KEYS));
        }
        let ops: Vec<Op> = picked
            .iter()
            .map(|&i| Op::put(keys[i].clone(), rng.value()))
            .collect();
        db.txn(Txn::new().and_then(ops)).expect("load txn");
    }
    let loaded = db.stats().expect("stats");
    eprintln!(
        "compaction store: {PUTS} puts in {:.2?}: {} segments, {:.1} MB",
        began.elapsed(),
        loaded.segments,
        mb(loaded.disk_bytes)
    );
    println!(
        "Store: {PUTS} puts of random keys drawn uniformly from {KEYS} (distinct within a transaction; 24 B keys, 150 B \
         values) in {}-put transactions, `SyncPolicy::Always`, **4 MiB segments**: {} \
         segments, {:.1} MB (`stats().disk_bytes`), {} live keys. Compaction at the current \
         revision with `compact_physical`, while one foreground thread puts (one put per \
         transaction, `SyncPolicy::Always`, new random keys) without pause; the baselines are \
         the {} s of the same puts just before and just after.\n",
        TXN,
        loaded.segments,
        mb(loaded.disk_bytes),
        loaded.live_keys,
        BASELINE.as_secs()
    );
    let files_before = store_files(&path);
    // Phase 0: before, 1: during, 2: after the compaction.
    let phase = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let fg = {
        let db = Arc::clone(&db);
        let phase = Arc::clone(&phase);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut rng = Rng::new(42);
            let mut lat: [Vec<Duration>; 3] = Default::default();
            while !done.load(Ordering::Acquire) {
                let (k, v) = (rng.key(), rng.value());
                let p = phase.load(Ordering::Acquire);
                let t0 = Instant::now();
                db.put(k, v).expect("foreground put");
                let d = t0.elapsed();
                // Only puts wholly inside one phase count.
                if p == phase.load(Ordering::Acquire) {
                    lat[p].push(d);
                }
            }
            lat
        })
    };
    thread::sleep(BASELINE);
    let at = db.current_revision();
    let stats_before = db.stats().expect("stats");
    let cpu0 = thread_cpu();
    phase.store(1, Ordering::Release);
    let t0 = Instant::now();
    db.compact_physical(at).expect("compact_physical");
    let took = t0.elapsed();
    phase.store(2, Ordering::Release);
    let cpu1 = thread_cpu();
    thread::sleep(BASELINE);
    done.store(true, Ordering::Release);
    let [mut before, mut during, mut after] = fg.join().expect("foreground thread");
    let stats_after = db.stats().expect("stats");
    let files_after = store_files(&path);
    // Read: the files compaction removed. Written: the sealed segments (with
    // an .idx) it created. A roll of the active segment meanwhile creates a
    // segment without an .idx, and seals one that already existed: neither
    // counts.
    let read: u64 = files_before
        .iter()
        .filter(|(n, _)| !files_after.contains_key(*n))
        .map(|(_, s)| s)
        .sum();
    let written: u64 = files_after
        .iter()
        .filter(|(n, _)| n.ends_with(".seg") && !files_before.contains_key(*n))
        .filter(|(n, _)| files_after.contains_key(&n.replace(".seg", ".idx")))
        .map(|(n, s)| {
            s + files_after
                .get(&n.replace(".seg", ".idx"))
                .copied()
                .unwrap_or(0)
        })
        .sum();
    let secs = took.as_secs_f64();
    println!("| compaction | |");
    println!("|---|---|");
    println!("| `compact_physical` time | {secs:.2} s |");
    println!(
        "| segments before → after | {} → {} |",
        stats_before.segments, stats_after.segments
    );
    println!(
        "| `stats().disk_bytes` before → after | {:.1} MB → {:.1} MB |",
        mb(stats_before.disk_bytes),
        mb(stats_after.disk_bytes)
    );
    println!(
        "| sealed bytes read (files removed) | {:.1} MB ({:.1} MB/s) |",
        mb(read),
        mb(read) / secs
    );
    println!(
        "| bytes written (new sealed segments + .idx) | {:.1} MB ({:.1} MB/s) |",
        mb(written),
        mb(written) / secs
    );
    println!(
        "| **read + written** | **{:.1} MB, {:.1} MB/s** |",
        mb(read + written),
        mb(read + written) / secs
    );
    println!(
        "| compactor thread CPU | {:.2} s |",
        cpu_delta(&cpu0, &cpu1, "revkv-compactor")
    );
    println!(
        "| writer thread CPU (foreground puts) | {:.2} s |",
        cpu_delta(&cpu0, &cpu1, "revkv-writer")
    );
    println!();
    println!("| foreground put (`Always`) | puts | puts/s | p50 | p99 | max |");
    println!("|---|---|---|---|---|---|");
    for (name, lat, secs) in [
        (
            "before compaction (3 s)",
            &mut before,
            BASELINE.as_secs_f64(),
        ),
        ("**during compaction**", &mut during, took.as_secs_f64()),
        ("after compaction (3 s)", &mut after, BASELINE.as_secs_f64()),
    ] {
        let p = pct(lat);
        println!(
            "| {name} | {} | {:.0} | {} | {} | {} |",
            lat.len(),
            lat.len() as f64 / secs,
            us(p.p50),
            us(p.p99),
            us(p.max)
        );
    }
    db.close().expect("close");
}

/// On-disk size after compaction relative to the live data: 10k keys each
/// overwritten 100 times (one put per revision), compacted at the current
/// revision.
fn section_compaction_space() {
    const KEYS: usize = 10_000;
    const ROUNDS: usize = 100;
    println!("\n### Compaction: on-disk size after compaction vs live data\n");
    println!(
        "{KEYS} keys (24 B) each overwritten {ROUNDS} times with 150 B values: {} single-put \
         revisions from 4 threads (each thread cycles over its quarter of the keys), \
         `SyncPolicy::Never`, then `compact_physical(current)`. Live data = \
         sum of key + value bytes of the latest versions = {KEYS} × 174 B = {:.2} MB. \
         The active segment is never rewritten, so what it holds stays.\n",
        KEYS * ROUNDS,
        mb((KEYS * (KEY_LEN + VALUE_LEN)) as u64)
    );
    println!("| segment size | disk before | disk after | after / live | active segment (not rewritten) | sealed after | compact time | load time |");
    println!("|---|---|---|---|---|---|---|---|");
    for (seg, name) in [(4u64 << 20, "4 MiB"), (64 << 20, "64 MiB (default)")] {
        let dir = temp_dir();
        let path = dir.path().join("db");
        let db = open(
            &path,
            Options::new().sync(SyncPolicy::Never).segment_size(seg),
        );
        let mut rng = Rng::new(51);
        let keys: Vec<Vec<u8>> = (0..KEYS).map(|_| rng.key()).collect();
        let t0 = Instant::now();
        load_single_puts(&db, &keys, KEYS * ROUNDS, 4, 52);
        let load = t0.elapsed();
        let before = db.stats().expect("stats");
        let live: u64 = keys
            .iter()
            .map(|k| {
                let kv = db.get(k).expect("get").expect("live key");
                (kv.key.len() + kv.value.len()) as u64
            })
            .sum();
        let t1 = Instant::now();
        db.compact_physical(db.current_revision())
            .expect("compact_physical");
        let took = t1.elapsed();
        let after = db.stats().expect("stats");
        let files = store_files(&path);
        // The active segment: the .seg without an .idx.
        let active: u64 = files
            .iter()
            .filter(|(n, _)| n.ends_with(".seg") && !files.contains_key(&n.replace(".seg", ".idx")))
            .map(|(_, s)| s)
            .sum();
        println!(
            "| {name} | {:.1} MB ({} segments) | {:.2} MB ({} segments) | **{:.2}×** | {:.2} MB | {:.2} MB | {:.2} s | {:.1} s |",
            mb(before.disk_bytes),
            before.segments,
            mb(after.disk_bytes),
            after.segments,
            after.disk_bytes as f64 / live as f64,
            mb(active),
            mb(after.disk_bytes.saturating_sub(active)),
            took.as_secs_f64(),
            load.as_secs_f64()
        );
        db.close().expect("close");
    }
}

// ------------------------------------------------------------------ leases

const LEASES: usize = 100_000;

/// Builds a store with `LEASES` leases (TTL 60 s on the manual clock), each
/// with one key attached; or, when `leases` is false, the same keys without
/// leases (the baseline for open time and memory).
fn build_lease_store(path: &Path, leases: bool) {
    let clock = ManualClock::new(CLOCK_START_MS);
    let db = open(
        path,
        Options::new()
            .sync(SyncPolicy::Never)
            .clock(Arc::new(clock)),
    );
    const THREADS: usize = 4;
    thread::scope(|s| {
        for t in 0..THREADS {
            let db = &db;
            s.spawn(move || {
                let mut rng = Rng::new(61 + t as u64);
                for i in (t..LEASES).step_by(THREADS) {
                    let key = format!("/lease/{i:017}").into_bytes();
                    if leases {
                        let id = db.lease_grant(60).expect("grant").id;
                        db.put_with(PutRequest::new(key, rng.value()).lease(id))
                            .expect("put");
                    } else {
                        db.put(key, rng.value()).expect("put");
                    }
                }
            });
        }
    });
    db.close().expect("close");
}

/// Copies a closed store (a flat directory of files).
fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for e in std::fs::read_dir(from).expect("list the store").flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy a store file");
    }
}

/// Keys of the key-index section.
const INDEX_KEYS: u64 = 1_000_000;

/// Child mode: load [`INDEX_KEYS`] fresh keys into a new store at `path` in
/// transactions of 1,000 puts, print this process's RssAnon growth over the
/// load, close (which writes the key-index checkpoint).
fn build_keys_child(path: &Path) {
    let anon0 = status_kb("RssAnon");
    let db = open(path, Options::new().sync(SyncPolicy::Never));
    let mut rng = Rng::new(0x1de5);
    for _ in 0..INDEX_KEYS / 1000 {
        let ops = (0..1000).map(|_| Op::put(rng.key(), rng.value()));
        db.txn(Txn::new().and_then(ops)).expect("load");
    }
    let anon1 = status_kb("RssAnon");
    let keys = db.stats().expect("stats").live_keys;
    println!("anon_growth_kb={} keys={keys}", anon1.saturating_sub(anon0));
    db.close().expect("close");
}

/// Memory of the in-memory key index: bytes per key, as the growth of the
/// process's anonymous memory, when the index is built by writes and when
/// open loads it from the checkpoint (against opening an empty store).
fn section_key_index() {
    println!("\n### Key index: memory per key ({INDEX_KEYS} keys of {KEY_LEN} bytes)\n");
    let dir = temp_dir();
    let (store, empty) = (dir.path().join("keys"), dir.path().join("empty"));
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .arg("__build_keys")
        .arg(&store)
        .output()
        .expect("run the build child");
    assert!(
        out.status.success(),
        "build child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built: HashMap<String, u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    assert_eq!(built["keys"], INDEX_KEYS, "every key loaded");
    open(&empty, Options::new())
        .close()
        .expect("close the empty store");
    let base = run_open_child(&empty);
    let loaded = run_open_child(&store);
    assert_eq!(loaded["keys"], INDEX_KEYS, "every key back after open");
    let per_key = |kb: u64| kb as f64 * 1024.0 / INDEX_KEYS as f64;
    let from_checkpoint = loaded["anon_kb"].saturating_sub(base["anon_kb"]);
    println!("| index built by | RssAnon growth | bytes per key | of which the key |");
    println!("|---|---:|---:|---:|");
    println!(
        "| writes (1,000-put transactions, `SyncPolicy::Never`, in one process) | {} MiB | {:.1} | {KEY_LEN} |",
        built["anon_growth_kb"] / 1024,
        per_key(built["anon_growth_kb"])
    );
    println!(
        "| open from the checkpoint (a fresh process; minus opening an empty store) | {} MiB | {:.1} | {KEY_LEN} |",
        from_checkpoint / 1024,
        per_key(from_checkpoint)
    );
}

/// Both lease sections, on one pair of stores.
fn section_leases(open: bool, expiry: bool) {
    let dir = temp_dir();
    let (lease_store, baseline) = (dir.path().join("leases"), dir.path().join("baseline"));
    if open {
        section_lease_open(&lease_store, &baseline);
    } else {
        build_lease_store(&lease_store, true);
    }
    if expiry {
        section_lease_expiry(&lease_store);
    }
}

/// Child mode: open the store at `path`, print one line of figures, close.
fn open_child(path: &Path) {
    let rss0 = status_kb("VmRSS");
    let t0 = Instant::now();
    let db = Db::open(
        path,
        Options::new()
            .create_if_missing(false)
            .clock(Arc::new(ManualClock::new(CLOCK_START_MS))),
    )
    .expect("open");
    let took = t0.elapsed();
    let rss1 = status_kb("VmRSS");
    let anon = status_kb("RssAnon");
    let file = status_kb("RssFile");
    let hwm = status_kb("VmHWM");
    let leases = db.leases().expect("leases").len();
    let keys = db.stats().expect("stats").live_keys;
    println!("open_us={} rss_before_kb={rss0} rss_after_kb={rss1} anon_kb={anon} file_kb={file} hwm_kb={hwm} leases={leases} keys={keys}", took.as_micros());
    db.close().expect("close");
}

fn run_open_child(path: &Path) -> HashMap<String, u64> {
    let out = std::process::Command::new(std::env::current_exe().expect("current exe"))
        .arg("__open_child")
        .arg(path)
        .output()
        .expect("run the open child");
    assert!(
        out.status.success(),
        "open child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn section_lease_open(lease_store: &Path, baseline: &Path) {
    println!("\n### Leases: open time and memory with {LEASES} leases\n");
    println!(
        "Stores built with `SyncPolicy::Never` from 4 threads (grant, then put one 150 B value \
         with the lease), closed cleanly, then opened by a fresh process (this binary, \
         `__open_child`), 3 times each; the page cache is warm. RSS from /proc/self/status. \
         Baseline: the same {LEASES} keys and values without leases.\n"
    );
    println!("| store | build | open (3 runs) | VmRSS before → after open | of which anon / file after | VmHWM |");
    println!("|---|---|---|---|---|---|");
    for (leases, path) in [(true, lease_store), (false, baseline)] {
        let t0 = Instant::now();
        build_lease_store(path, leases);
        let build = t0.elapsed();
        let runs: Vec<HashMap<String, u64>> = (0..3).map(|_| run_open_child(path)).collect();
        let opens: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0} ms", r["open_us"] as f64 / 1000.0))
            .collect();
        let last = &runs[runs.len() - 1];
        assert_eq!(last["leases"], if leases { LEASES as u64 } else { 0 });
        assert_eq!(last["keys"], LEASES as u64);
        println!(
            "| {} | {:.1} s | {} | {:.1} → {:.1} MB (+{:.1} MB) | {:.1} / {:.1} MB | {:.1} MB |",
            if leases {
                format!("{LEASES} leases, 1 key each")
            } else {
                format!("{LEASES} keys, no leases")
            },
            build.as_secs_f64(),
            opens.join(", "),
            last["rss_before_kb"] as f64 / 1024.0,
            last["rss_after_kb"] as f64 / 1024.0,
            (last["rss_after_kb"] as f64 - last["rss_before_kb"] as f64) / 1024.0,
            last["anon_kb"] as f64 / 1024.0,
            last["file_kb"] as f64 / 1024.0,
            last["hwm_kb"] as f64 / 1024.0,
        );
    }
}

/// Expiry of every lease at once while one thread puts without pause.
fn section_lease_expiry(lease_store: &Path) {
    const BASELINE: Duration = Duration::from_secs(3);
    println!("\n### Leases: expiry of {LEASES} leases at once\n");
    println!(
        "The store of the previous section (copied afresh for each run) opened with a \
         `ManualClock`; one thread puts without pause (one put per transaction, new random \
         keys) for {} s, then the clock is advanced 61 s so that every lease (TTL 60 s) is \
         due at once. Expiry time = from the advance until `leases()` is empty.\n",
        BASELINE.as_secs()
    );
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let dir = temp_dir();
        let path = dir.path().join("db");
        copy_store(lease_store, &path);
        let clock = ManualClock::new(CLOCK_START_MS);
        let db = Arc::new(open(
            &path,
            Options::new().sync(sync).clock(Arc::new(clock.clone())),
        ));
        let ids = db.leases().expect("leases");
        assert_eq!(ids.len(), LEASES);
        let max_id = ids[ids.len() - 1];
        let expiring = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let start = Arc::new(Barrier::new(2));
        let fg = {
            let (db, expiring, done, start) = (
                Arc::clone(&db),
                Arc::clone(&expiring),
                Arc::clone(&done),
                Arc::clone(&start),
            );
            thread::spawn(move || {
                let mut rng = Rng::new(71);
                let (mut before, mut during) = (Vec::new(), Vec::new());
                start.wait();
                while !done.load(Ordering::Acquire) {
                    let (k, v) = (rng.key(), rng.value());
                    let phase = expiring.load(Ordering::Acquire);
                    let t0 = Instant::now();
                    db.put(k, v).expect("foreground put");
                    let d = t0.elapsed();
                    if phase == expiring.load(Ordering::Acquire) {
                        if phase { &mut during } else { &mut before }.push(d);
                    }
                }
                (before, during)
            })
        };
        start.wait();
        thread::sleep(BASELINE);
        let cpu0 = thread_cpu();
        expiring.store(true, Ordering::Release);
        let t0 = Instant::now();
        clock.advance(Duration::from_secs(61));
        // Expiry goes in deadline order, then id order: the largest id is
        // among the last revoked.
        loop {
            match db.lease_time_to_live(max_id, false) {
                Err(Error::LeaseNotFound { .. }) => break,
                Ok(_) => thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("lease_time_to_live: {e}"),
            }
        }
        while !db.leases().expect("leases").is_empty() {
            thread::sleep(Duration::from_millis(2));
        }
        let took = t0.elapsed();
        expiring.store(false, Ordering::Release);
        let cpu1 = thread_cpu();
        done.store(true, Ordering::Release);
        let (mut before, mut during) = fg.join().expect("foreground thread");
        let live = db.stats().expect("stats").live_keys as usize;
        let fg_keys = before.len() + during.len();
        let name = match sync {
            SyncPolicy::Always => "Always",
            SyncPolicy::Never => "Never",
            SyncPolicy::Interval(_) => "Interval",
        };
        let (b, d) = (pct(&mut before), pct(&mut during));
        println!(
            "`SyncPolicy::{name}` (revokes and foreground puts alike): all {LEASES} leases \
             revoked in **{:.2} s = {:.0} revokes/s**; expiry thread CPU {:.2} s, writer \
             CPU {:.2} s; live keys left {live} (foreground keys written: ~{fg_keys}).\n",
            took.as_secs_f64(),
            rate(LEASES as f64, took),
            cpu_delta(&cpu0, &cpu1, "revkv-lease-exp"),
            cpu_delta(&cpu0, &cpu1, "revkv-writer"),
        );
        println!("| foreground put (`{name}`) | puts | puts/s | p50 | p99 | max |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| before expiry ({} s) | {} | {:.0} | {} | {} | {} |",
            BASELINE.as_secs(),
            before.len(),
            rate(before.len() as f64, BASELINE),
            us(b.p50),
            us(b.p99),
            us(b.max)
        );
        println!(
            "| during expiry | {} | {:.0} | {} | {} | {} |\n",
            during.len(),
            rate(during.len() as f64, took),
            us(d.p50),
            us(d.p99),
            us(d.max)
        );
        db.close().expect("close");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Helpers for profiling one step alone (e.g. under `perf record`):
    // `__build_leases DIR` builds the lease store, `__open_child DIR` opens it.
    match args.first().map(String::as_str) {
        Some("__open_child") => {
            open_child(Path::new(args.get(1).expect("store path")));
            return;
        }
        Some("__build_keys") => {
            build_keys_child(Path::new(args.get(1).expect("store path")));
            return;
        }
        Some("__build_leases") => {
            build_lease_store(Path::new(args.get(1).expect("store path")), true);
            return;
        }
        _ => {}
    }
    // cargo bench passes `--bench`; anything else not starting with `--`
    // selects sections.
    let wanted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.starts_with(w));
    let began = Instant::now();
    println!(
        "revkv measure: {} cores, directory {}",
        thread::available_parallelism().map_or(0, |n| n.get()),
        bench_root().display()
    );
    type Section = (&'static str, fn());
    let sections: [Section; 5] = [
        ("watch-latency", section_watch_latency),
        ("watch-catch-up", section_watch_catch_up),
        ("watch-slow", section_watch_slow),
        ("compaction-rewrite", section_compaction_rewrite),
        ("compaction-space", section_compaction_space),
    ];
    for (name, f) in sections {
        if run(name) {
            let t = Instant::now();
            f();
            eprintln!("[{name}: {:.1} s]", t.elapsed().as_secs_f64());
        }
    }
    if run("key-index") {
        let t = Instant::now();
        section_key_index();
        eprintln!("[key-index: {:.1} s]", t.elapsed().as_secs_f64());
    }
    let (lease_open, lease_expiry) = (run("lease-open"), run("lease-expiry"));
    if lease_open || lease_expiry {
        let t = Instant::now();
        section_leases(lease_open, lease_expiry);
        eprintln!("[leases: {:.1} s]", t.elapsed().as_secs_f64());
    }
    eprintln!("[total: {:.1} s]", began.elapsed().as_secs_f64());
}
