//! The workloads, run inside a child process per phase (see `main.rs`). Each
//! result is printed on stdout as `@@ <name> <number>` for the parent.

use crate::data::{key, pairs, value, Rng, KEY_LEN, VALUE_LEN};
use crate::engines::{Engine, Result};
use std::io::{Seek, Write};
use std::path::Path;
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Keys written by the workloads, by number:
/// `0..n` bulk load; `n..n+1000` individual durable writes;
/// `n+1000..n+3000` the eight writer threads; `n+3000..n+23000` the
/// crash writer's acknowledged batches.
pub const SINGLE_PUTS: u64 = 1_000;
pub const THREADS: u64 = 8;
pub const PUTS_PER_THREAD: u64 = 250;
pub const CRASH_BATCHES: u64 = 20;
pub const BATCH: u64 = 1_000;
/// Durable batches the crash writer completes after its acknowledgement
/// before the parent kills it (it is then inside the next one or two).
pub const EXTRA_BATCHES_BEFORE_KILL: u64 = 5;

pub struct Params {
    pub entries: u64,
    pub open_only: bool,
    /// A read workload stops after this long and reports what it did.
    pub cap: Duration,
}

fn crash_first(n: u64) -> u64 {
    n + SINGLE_PUTS + THREADS * PUTS_PER_THREAD
}

fn crash_end(n: u64) -> u64 {
    crash_first(n) + CRASH_BATCHES * BATCH
}

pub fn report(name: &str, v: f64) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "@@ {name} {v}");
    let _ = out.flush();
}

fn progress(msg: &str) {
    eprintln!("    {msg}");
}

/// This process's peak resident set (VmHWM), in bytes.
pub fn peak_rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb * 1024.0)
}

/// Allocated and apparent bytes of everything under `dir`.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut alloc = 0;
    let mut apparent = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(md) = entry.metadata() else { continue };
            if md.is_dir() {
                stack.push(entry.path());
            } else {
                alloc += md.blocks() * 512;
                apparent += md.len();
            }
        }
    }
    (alloc, apparent)
}

fn report_disk(name: &str, dir: &Path) {
    let (alloc, apparent) = disk_usage(dir);
    report(&format!("{name}_alloc"), alloc as f64);
    report(&format!("{name}_apparent"), apparent as f64);
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64()
}

/// The median of 200 writes of 200 bytes + fdatasync to a fresh `path`:
/// appends that grow the file, or (`allocated`) writes into a file whose
/// bytes were written (zeros) and synced beforehand, so that fdatasync has no
/// file length to write.
pub fn raw_fdatasync_p50(path: &Path, allocated: bool) -> Result<f64> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    if allocated {
        f.write_all(&[0u8; 200 * 200])?;
        f.sync_all()?;
        f.seek(std::io::SeekFrom::Start(0))?;
    }
    let mut lat = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        f.write_all(&[0xa5u8; 200])?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    drop(f);
    std::fs::remove_file(path)?;
    lat.sort();
    Ok(percentile(&lat, 0.5))
}

/// Phase 1, on a fresh directory: bulk load, individual durable writes,
/// eight concurrent writers; then a clean close.
pub fn load<E: Engine>(dir: &Path, p: &Params) -> Result<()> {
    let n = p.entries;
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let db = E::open(dir)?;

    // Bulk load: N entries, one durable transaction per 1,000.
    let batches = n.div_ceil(BATCH);
    let mut spent = Duration::ZERO;
    for b in 0..batches {
        let first = b * BATCH;
        let kvs = pairs(first, BATCH.min(n - first), 0);
        let t = Instant::now();
        db.write_batch(&kvs)?;
        spent += t.elapsed();
        if (b + 1).is_multiple_of((batches / 10).max(1)) {
            progress(&format!(
                "bulk load {}/{} entries, {:.1} s",
                (b + 1) * BATCH,
                n,
                spent.as_secs_f64()
            ));
        }
    }
    report("bulk_load_s", spent.as_secs_f64());

    if !p.open_only {
        // 1,000 individual durable writes, one put per commit, with the raw
        // limit measured right before and after, from this process, next to
        // the store (the machine is shared: the limit moves minute to minute).
        let raw_file = dir.with_extension("raw");
        report(
            "raw_before_single_p50_s",
            raw_fdatasync_p50(&raw_file, false)?,
        );
        report(
            "raw_alloc_before_single_p50_s",
            raw_fdatasync_p50(&raw_file, true)?,
        );
        let mut lat = Vec::with_capacity(SINGLE_PUTS as usize);
        let t0 = Instant::now();
        for i in n..n + SINGLE_PUTS {
            let (k, v) = (key(i), value(i, 0));
            let t = Instant::now();
            db.put(&k, &v)?;
            lat.push(t.elapsed());
        }
        let total = t0.elapsed();
        lat.sort();
        report("single_puts_s", total.as_secs_f64());
        report("single_put_p50_s", percentile(&lat, 0.5));
        report("single_put_p99_s", percentile(&lat, 0.99));
        report(
            "raw_after_single_p50_s",
            raw_fdatasync_p50(&raw_file, false)?,
        );
        report(
            "raw_alloc_after_single_p50_s",
            raw_fdatasync_p50(&raw_file, true)?,
        );
        progress(&format!(
            "1,000 individual durable writes: {:.2} s",
            total.as_secs_f64()
        ));

        // 8 threads x 250 durable puts, all at once. The time runs from the
        // first thread's start to the last thread's end (taken in the threads,
        // so a late-scheduled coordinating thread cannot shorten it).
        let barrier = Barrier::new(THREADS as usize);
        let first = n + SINGLE_PUTS;
        let spans = std::thread::scope(|s| -> Result<Vec<(Instant, Instant)>> {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (db, barrier) = (&db, &barrier);
                    s.spawn(move || -> Result<(Instant, Instant)> {
                        let from = first + t * PUTS_PER_THREAD;
                        let kvs = pairs(from, PUTS_PER_THREAD, 0);
                        barrier.wait();
                        let start = Instant::now();
                        for (k, v) in &kvs {
                            db.put(k, v)?;
                        }
                        Ok((start, Instant::now()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("writer thread panicked"))
                .collect()
        })?;
        let elapsed = span(&spans);
        report("threaded_puts_s", elapsed.as_secs_f64());
        progress(&format!(
            "8 x 250 concurrent durable writes: {:.2} s",
            elapsed.as_secs_f64()
        ));
    }

    report_disk("disk_after_load", dir);
    db.close()?;
    report("rss_load", peak_rss());
    Ok(())
}

/// Phase 2: open after the clean close of phase 1.
pub fn open_clean<E: Engine>(dir: &Path, _p: &Params) -> Result<()> {
    let t = Instant::now();
    let db = E::open(dir)?;
    let opened = t.elapsed();
    report("open_clean_s", opened.as_secs_f64());
    let found = db.reader()?.get(&key(0))?;
    if found != Some(VALUE_LEN) {
        return Err(format!("key 0 not found after reopening: {found:?}").into());
    }
    progress(&format!(
        "open after clean close: {:.3} s",
        opened.as_secs_f64()
    ));
    db.close()?;
    report("rss_open", peak_rss());
    Ok(())
}

/// Phase 3: writes 20 durable batches of 1,000, says "ACKED" on stdout, then
/// keeps overwriting them in durable batches of 1,000 until the parent kills it.
pub fn crash_writer<E: Engine>(dir: &Path, p: &Params) -> Result<()> {
    let n = p.entries;
    let db = E::open(dir)?;
    for b in 0..CRASH_BATCHES {
        db.write_batch(&pairs(crash_first(n) + b * BATCH, BATCH, 0))?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "ACKED")?;
        out.flush()?;
    }
    // Overwrite them, saying after each batch how many are done; the parent
    // kills us once it has read `EXTRA_BATCHES_BEFORE_KILL`, so every engine
    // has about the same amount of unacknowledged or fresh log to recover.
    let mut done: u64 = 0;
    loop {
        let b = done % CRASH_BATCHES;
        let version = 1 + done / CRASH_BATCHES;
        db.write_batch(&pairs(crash_first(n) + b * BATCH, BATCH, version))?;
        done += 1;
        let mut out = std::io::stdout().lock();
        writeln!(out, "B {done}")?;
        out.flush()?;
    }
}

/// Wall time from the earliest start to the latest end.
fn span(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans.iter().map(|s| s.0).min().expect("some threads");
    let end = spans.iter().map(|s| s.1).max().expect("some threads");
    end - start
}

/// Runs `ops` operations split over `threads` threads; each stops early past
/// `cap`. Returns (operations done, wall time, failures).
fn timed_reads<E: Engine>(
    db: &E,
    threads: u64,
    ops: u64,
    cap: Duration,
    op: impl Fn(&mut dyn crate::engines::Reader, &mut Rng) -> Result<bool> + Sync,
) -> Result<(u64, Duration, u64)> {
    let barrier = Barrier::new(threads as usize);
    let per_thread = std::thread::scope(|s| -> Result<Vec<_>> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op) = (&barrier, &op);
                s.spawn(move || -> Result<(u64, u64, Instant, Instant)> {
                    let mut reader = db.reader()?;
                    let mut rng = Rng::new(0xbeef + t * 7919);
                    let share = ops / threads;
                    barrier.wait();
                    let start = Instant::now();
                    let (mut done, mut failed) = (0, 0);
                    while done < share {
                        if !op(reader.as_mut(), &mut rng)? {
                            failed += 1;
                        }
                        done += 1;
                        if done.is_multiple_of(1024) && start.elapsed() > cap {
                            break;
                        }
                    }
                    Ok((done, failed, start, Instant::now()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread panicked"))
            .collect()
    })?;
    let spans: Vec<_> = per_thread.iter().map(|p| (p.2, p.3)).collect();
    let done = per_thread.iter().map(|p| p.0).sum();
    let failed = per_thread.iter().map(|p| p.1).sum();
    Ok((done, span(&spans), failed))
}

/// Phase 4: open after the kill of phase 3, check the acknowledged writes,
/// then reads, range reads, removals and compaction.
pub fn reads<E: Engine>(dir: &Path, p: &Params) -> Result<()> {
    let n = p.entries;
    let t = Instant::now();
    let mut db = E::open(dir)?;
    let opened = t.elapsed();
    report("open_crash_s", opened.as_secs_f64());
    progress(&format!(
        "open after kill -9: {:.3} s",
        opened.as_secs_f64()
    ));
    {
        let mut r = db.reader()?;
        let mut lost = 0;
        for i in crash_first(n)..crash_end(n) {
            if r.get(&key(i))? != Some(VALUE_LEN) {
                lost += 1;
            }
        }
        report("crash_lost", lost as f64);
    }
    if p.open_only {
        db.close()?;
        report("rss_reads", peak_rss());
        return Ok(());
    }

    // N random reads of loaded keys, from 1 and from 2 threads.
    for threads in [1, 2] {
        let (done, took, missing) = timed_reads(&db, threads, n, p.cap, |r, rng| {
            Ok(r.get(&key(rng.below(n)))? == Some(VALUE_LEN))
        })?;
        report(&format!("reads{threads}_ops"), done as f64);
        report(&format!("reads{threads}_s"), took.as_secs_f64());
        report(&format!("reads{threads}_missing"), missing as f64);
        progress(&format!(
            "{done} random reads, {threads} thread(s): {:.2} s",
            took.as_secs_f64()
        ));
    }

    // N/2 range reads of 10 entries: [k_j, k_j+10) over the sorted keys.
    let mut sorted: Vec<[u8; KEY_LEN]> = (0..crash_end(n)).map(key).collect();
    sorted.sort_unstable();
    let (done, took, wrong) = timed_reads(&db, 1, n / 2, p.cap, |r, rng| {
        let j = rng.below(sorted.len() as u64 - 10) as usize;
        Ok(r.range(&sorted[j], &sorted[j + 10])? == 10)
    })?;
    drop(sorted);
    report("ranges_ops", done as f64);
    report("ranges_s", took.as_secs_f64());
    report("ranges_wrong", wrong as f64);
    progress(&format!(
        "{done} range reads of 10: {:.2} s",
        took.as_secs_f64()
    ));

    // Remove half the loaded keys (the even ones), 1,000 per durable batch.
    let mut spent = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let keys: Vec<[u8; KEY_LEN]> = (i..(i + 2 * BATCH).min(n)).step_by(2).map(key).collect();
        let t = Instant::now();
        db.remove_batch(&keys)?;
        spent += t.elapsed();
        i += 2 * BATCH;
    }
    report("removals_s", spent.as_secs_f64());
    progress(&format!(
        "removed half the keys: {:.2} s",
        spent.as_secs_f64()
    ));
    report_disk("disk_before_compaction", dir);

    let t = Instant::now();
    db.compact()?;
    let took = t.elapsed();
    report("compaction_s", took.as_secs_f64());
    progress(&format!("compaction: {:.2} s", took.as_secs_f64()));
    report_disk("disk_after_compaction", dir);
    {
        // Still readable after compaction?
        let mut r = db.reader()?;
        let ok = r.get(&key(1))? == Some(VALUE_LEN) && r.get(&key(0))?.is_none();
        if !ok {
            return Err("wrong contents after removals and compaction".into());
        }
    }
    db.close()?;
    report_disk("disk_after_close", dir);
    report("rss_reads", peak_rss());
    Ok(())
}
