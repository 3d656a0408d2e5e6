//! The workloads, run by `revkv __bench-phase PHASE DIR ...` in a process
//! per phase (so each peak RSS is its own and the crash writer can be killed).
//! They are the comparison harness's (benches/compare/src/workloads.rs) for
//! revkv, with the same keys in the same order. Results and progress go to
//! standard output as [`protocol`](super::protocol) lines.
//!
//! Keys by number: `0..N` bulk load; then the individual durable writes;
//! then the concurrent writers' puts; then the crash writer's 20 batches of
//! 1,000 (see [`Plan`]).

use super::data::{key, value, Key, Rng, Value, KEY_LEN, VALUE_LEN};
use super::protocol::Reporter;
use super::system::{disk_usage, fdatasync_latency, peak_rss, percentile};
use super::table::fmt_count;
use super::{Plan, BATCH, CRASH_BATCHES, RAW_AROUND_SINGLE, THREADS};
use crate::args::BenchPhase;
use crate::error::{Failure, EXIT_FAILED};
use revkv::{Db, Op, Options, RangeRequest, SyncPolicy, Txn};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread::ScopedJoinHandle;
use std::time::{Duration, Instant};

/// The crash writer gives up after this many overwrite batches: `bench`
/// kills it long before.
const CRASH_WRITER_LIMIT: u64 = 10_000;

/// How often a multi-threaded workload reports its progress.
const POLL: Duration = Duration::from_millis(100);

fn failed(message: impl Into<String>) -> Failure {
    Failure::new(EXIT_FAILED, message)
}

/// Runs one phase on the bench directory `root`.
pub fn run(phase: BenchPhase, root: &Path, plan: &Plan, rep: &mut Reporter) -> Result<(), Failure> {
    let store = super::workdir::store_in(root);
    match phase {
        BenchPhase::Load => load(root, &store, plan, rep),
        BenchPhase::Open => open_clean(&store, rep),
        BenchPhase::Crash => crash_writer(&store, plan, rep),
        BenchPhase::Reads => reads(&store, plan, rep),
    }
}

/// Opens the store as every workload does: durable commits
/// (`SyncPolicy::Always`, the default), other options default.
fn open_store(store: &Path) -> Result<Db, Failure> {
    Ok(Db::open(store, Options::new().sync(SyncPolicy::Always))?)
}

/// Pairs `first..first + n` of `version`.
fn pairs(first: u64, n: u64, version: u64) -> Vec<(Key, Value)> {
    (first..first + n)
        .map(|i| (key(i), value(i, version)))
        .collect()
}

/// One transaction putting every pair.
fn put_txn(kvs: &[(Key, Value)]) -> Txn {
    Txn::new().and_then(kvs.iter().map(|(k, v)| Op::put(k.to_vec(), v.to_vec())))
}

fn report_disk(rep: &mut Reporter, name: &str, store: &Path) -> Result<(), Failure> {
    let (alloc, apparent) = disk_usage(store);
    rep.result(&format!("{name}_alloc"), alloc as f64)?;
    rep.result(&format!("{name}_apparent"), apparent as f64)
}

fn report_rss(rep: &mut Reporter, name: &str) -> Result<(), Failure> {
    match peak_rss() {
        Some(bytes) => rep.result(name, bytes as f64),
        None => Ok(()),
    }
}

/// Wall time from the earliest start to the latest end.
fn span(spans: &[(Instant, Instant)]) -> Duration {
    let start = spans.iter().map(|s| s.0).min();
    let end = spans.iter().map(|s| s.1).max();
    match (start, end) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    }
}

/// Joins scoped threads, turning a panic into a failure.
fn join_all<T>(handles: Vec<ScopedJoinHandle<'_, Result<T, Failure>>>) -> Result<Vec<T>, Failure> {
    handles
        .into_iter()
        .map(|h| {
            h.join()
                .map_err(|_| failed("a benchmark thread panicked"))?
        })
        .collect()
}

/// Phase 1, on a fresh store: bulk load, individual durable writes (with
/// the raw fdatasync latency right before and after), concurrent writers;
/// then a clean close.
fn load(root: &Path, store: &Path, plan: &Plan, rep: &mut Reporter) -> Result<(), Failure> {
    let n = plan.entries;
    let db = open_store(store)?;

    rep.step(n, &format!("bulk load: {} entries", fmt_count(n)))?;
    let mut spent = Duration::ZERO;
    let mut first = 0;
    while first < n {
        let kvs = pairs(first, BATCH.min(n - first), 0);
        let t = Instant::now();
        db.txn(put_txn(&kvs))?;
        spent += t.elapsed();
        first += kvs.len() as u64;
        rep.tick(first)?;
    }
    rep.secs("bulk_load_s", spent)?;

    // Individual durable writes, with the raw limit measured right before
    // and after from this process, next to the store: on a shared machine
    // the limit moves minute to minute.
    let singles = plan.counts.single_writes;
    let raw = root.join(super::workdir::RAW_SINGLE);
    let raw_failed = |e: std::io::Error| failed(format!("raw fdatasync in {}: {e}", raw.display()));
    rep.step(RAW_AROUND_SINGLE, "raw fdatasync, before the single writes")?;
    let (before, _) =
        fdatasync_latency(&raw, RAW_AROUND_SINGLE, false, &mut |_| {}).map_err(raw_failed)?;
    rep.secs("raw_before_single_p50_s", before)?;
    let (before, _) =
        fdatasync_latency(&raw, RAW_AROUND_SINGLE, true, &mut |_| {}).map_err(raw_failed)?;
    rep.secs("raw_alloc_before_single_p50_s", before)?;
    rep.step(
        singles,
        &format!("{} individual durable writes", fmt_count(singles)),
    )?;
    let mut lat = Vec::with_capacity(usize::try_from(singles).unwrap_or(0));
    let t0 = Instant::now();
    for i in plan.single_first()..plan.single_first() + singles {
        let (k, v) = (key(i), value(i, 0));
        let t = Instant::now();
        db.put(k, v)?;
        lat.push(t.elapsed());
        rep.tick(lat.len() as u64)?;
    }
    let total = t0.elapsed();
    lat.sort_unstable();
    rep.secs("single_puts_s", total)?;
    rep.secs("single_put_p50_s", percentile(&lat, 0.5))?;
    rep.secs("single_put_p99_s", percentile(&lat, 0.99))?;
    rep.step(RAW_AROUND_SINGLE, "raw fdatasync, after the single writes")?;
    let (after, _) =
        fdatasync_latency(&raw, RAW_AROUND_SINGLE, false, &mut |_| {}).map_err(raw_failed)?;
    rep.secs("raw_after_single_p50_s", after)?;
    let (after, _) =
        fdatasync_latency(&raw, RAW_AROUND_SINGLE, true, &mut |_| {}).map_err(raw_failed)?;
    rep.secs("raw_alloc_after_single_p50_s", after)?;

    // THREADS threads of durable puts, all at once. The time runs from the
    // first thread's start to the last thread's end, taken in the threads.
    let per_thread = plan.counts.thread_writes;
    rep.step(
        THREADS * per_thread,
        &format!(
            "durable writes, {THREADS} threads × {}",
            fmt_count(per_thread)
        ),
    )?;
    let barrier = Barrier::new(THREADS as usize);
    let spans = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (db, barrier) = (&db, &barrier);
                let kvs = pairs(plan.threads_first() + t * per_thread, per_thread, 0);
                s.spawn(move || -> Result<(Instant, Instant), Failure> {
                    barrier.wait();
                    let start = Instant::now();
                    for (k, v) in &kvs {
                        db.put(k, v)?;
                    }
                    Ok((start, Instant::now()))
                })
            })
            .collect();
        join_all(handles)
    })?;
    rep.secs("threaded_puts_s", span(&spans))?;

    report_disk(rep, "disk_after_load", store)?;
    db.close()?;
    report_rss(rep, "rss_load")
}

/// Phase 2: open after the clean close of phase 1.
fn open_clean(store: &Path, rep: &mut Reporter) -> Result<(), Failure> {
    rep.step(1, "open after clean close")?;
    let t = Instant::now();
    let db = open_store(store)?;
    rep.secs("open_clean_s", t.elapsed())?;
    let found = db.get(key(0))?.map(|kv| kv.value);
    if found.as_deref() != Some(&value(0, 0)[..]) {
        return Err(failed("key 0 has not its value after reopening"));
    }
    db.close()?;
    Ok(())
}

/// Phase 3: writes CRASH_BATCHES durable batches of 1,000 and says
/// `@@acked 0`, then overwrites them in durable batches of 1,000, saying
/// `@@acked N` after the N-th, until `bench` kills it.
fn crash_writer(store: &Path, plan: &Plan, rep: &mut Reporter) -> Result<(), Failure> {
    let db = open_store(store)?;
    let first = plan.crash_first();
    for b in 0..CRASH_BATCHES {
        db.txn(put_txn(&pairs(first + b * BATCH, BATCH, 0)))?;
    }
    rep.acked(0)?;
    for done in 1..=CRASH_WRITER_LIMIT {
        let (batch, version) = overwrite(done);
        db.txn(put_txn(&pairs(first + batch * BATCH, BATCH, version)))?;
        rep.acked(done)?;
    }
    Err(failed("the crash writer was not killed"))
}

/// The crash batch that the `done`-th overwrite (from 1) rewrites, and the
/// version it writes.
fn overwrite(done: u64) -> (u64, u64) {
    ((done - 1) % CRASH_BATCHES, 1 + (done - 1) / CRASH_BATCHES)
}

/// The versions a key of crash batch `batch` may hold after the crash
/// writer acknowledged `acked` overwrites: the last one acknowledged for
/// the batch, or the one that was being written when it was killed.
fn allowed_versions(batch: u64, acked: u64) -> [u64; 2] {
    let last_acked = (1..=acked)
        .rev()
        .map(overwrite)
        .find(|(b, _)| *b == batch)
        .map_or(0, |(_, v)| v);
    let (inflight_batch, inflight_version) = overwrite(acked + 1);
    if inflight_batch == batch {
        [last_acked, inflight_version]
    } else {
        [last_acked, last_acked]
    }
}

/// Phase 4: open after the kill of phase 3, check every acknowledged write,
/// then random reads, range reads, removals and compaction.
fn reads(store: &Path, plan: &Plan, rep: &mut Reporter) -> Result<(), Failure> {
    let n = plan.entries;
    rep.step(1, "open after kill -9")?;
    let t = Instant::now();
    let db = open_store(store)?;
    rep.secs("open_crash_s", t.elapsed())?;

    let crash_keys = CRASH_BATCHES * BATCH;
    rep.step(
        crash_keys,
        &format!("checking the {} acknowledged writes", fmt_count(crash_keys)),
    )?;
    let mut missing = 0u64;
    for j in 0..crash_keys {
        let i = plan.crash_first() + j;
        let allowed = allowed_versions(j / BATCH, plan.acked);
        let found = db.get(key(i))?.map(|kv| kv.value);
        let ok = found.is_some_and(|v| allowed.iter().any(|&ver| v[..] == value(i, ver)[..]));
        if !ok {
            missing += 1;
        }
        rep.tick(j + 1)?;
    }
    rep.result("crash_lost", missing as f64)?;

    // N random reads of loaded keys, from 1 and from 2 threads.
    for threads in [1, 2] {
        let plural = if threads == 1 { "thread" } else { "threads" };
        let label = format!("random reads: {}, {threads} {plural}", fmt_count(n));
        let (done, took, bad) = timed_reads(threads, n, plan.cap, &label, rep, |rng| {
            let found = db.get(key(rng.below(n)))?;
            Ok(found.is_some_and(|kv| kv.value.len() == VALUE_LEN))
        })?;
        rep.result(&format!("reads{threads}_ops"), done as f64)?;
        rep.secs(&format!("reads{threads}_s"), took)?;
        rep.result(&format!("reads{threads}_missing"), bad as f64)?;
    }

    // N/2 range reads of 10 entries: [k_j, k_j+10) over the sorted keys.
    let mut sorted: Vec<[u8; KEY_LEN]> = (0..plan.crash_end()).map(key).collect();
    sorted.sort_unstable();
    let span_of_starts = sorted.len() as u64 - 10;
    let label = format!("range reads: {} × 10 entries", fmt_count(n / 2));
    let (done, took, bad) = timed_reads(1, n / 2, plan.cap, &label, rep, |rng| {
        let j = rng.below(span_of_starts) as usize;
        let resp = db.range(RangeRequest::range(sorted[j], sorted[j + 10]).limit(10))?;
        Ok(resp.kvs.iter().filter(|kv| !kv.value.is_empty()).count() == 10)
    })?;
    drop(sorted);
    rep.result("ranges_ops", done as f64)?;
    rep.secs("ranges_s", took)?;
    rep.result("ranges_wrong", bad as f64)?;

    // Remove half the loaded keys (the even ones), 1,000 per durable txn.
    rep.step(
        plan.removed(),
        &format!("removals: {} keys", fmt_count(plan.removed())),
    )?;
    let mut spent = Duration::ZERO;
    let (mut i, mut removed) = (0, 0);
    while i < n {
        let keys: Vec<Key> = (i..(i + 2 * BATCH).min(n)).step_by(2).map(key).collect();
        let t = Instant::now();
        db.txn(Txn::new().and_then(keys.iter().map(|k| Op::delete(k.to_vec()))))?;
        spent += t.elapsed();
        removed += keys.len() as u64;
        i += 2 * BATCH;
        rep.tick(removed)?;
    }
    rep.secs("removals_s", spent)?;
    report_disk(rep, "disk_before_compaction", store)?;

    rep.step(1, "compaction")?;
    let t = Instant::now();
    db.compact_physical(db.current_revision())?;
    rep.secs("compaction_s", t.elapsed())?;
    report_disk(rep, "disk_after_compaction", store)?;
    let kept = db
        .get(key(1))?
        .is_some_and(|kv| kv.value[..] == value(1, 0)[..]);
    if !kept || db.get(key(0))?.is_some() {
        return Err(failed("wrong contents after removals and compaction"));
    }
    db.close()?;
    report_disk(rep, "disk_after_close", store)?;
    report_rss(rep, "rss_reads")
}

/// Runs `ops` operations split over `threads` threads, each stopping early
/// past `cap`; `op` says whether the read found what it should. Returns
/// (operations done, wall time, operations that found the wrong thing).
fn timed_reads(
    threads: u64,
    ops: u64,
    cap: Duration,
    label: &str,
    rep: &mut Reporter,
    op: impl Fn(&mut Rng) -> Result<bool, revkv::Error> + Sync,
) -> Result<(u64, Duration, u64), Failure> {
    rep.step(ops, label)?;
    let barrier = Barrier::new(threads as usize);
    let progress = AtomicU64::new(0);
    let per_thread = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, op, progress) = (&barrier, &op, &progress);
                s.spawn(move || -> Result<(u64, u64, Instant, Instant), Failure> {
                    let mut rng = Rng::new(0xbeef + t * 7919);
                    let share = ops / threads;
                    barrier.wait();
                    let start = Instant::now();
                    let (mut done, mut bad) = (0, 0);
                    while done < share {
                        if !op(&mut rng)? {
                            bad += 1;
                        }
                        done += 1;
                        if done % 1024 == 0 {
                            progress.fetch_add(1024, Ordering::Relaxed);
                            if start.elapsed() > cap {
                                break;
                            }
                        }
                    }
                    Ok((done, bad, start, Instant::now()))
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(POLL);
            // A closed standard output ends the phase after the threads.
            let _ = rep.tick(progress.load(Ordering::Relaxed));
        }
        join_all(handles)
    })?;
    let spans: Vec<_> = per_thread.iter().map(|p| (p.2, p.3)).collect();
    let done = per_thread.iter().map(|p| p.0).sum();
    let bad = per_thread.iter().map(|p| p.1).sum();
    Ok((done, span(&spans), bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrites_go_round_the_crash_batches() {
        assert_eq!(overwrite(1), (0, 1));
        assert_eq!(overwrite(20), (19, 1));
        assert_eq!(overwrite(21), (0, 2));
    }

    #[test]
    fn allowed_versions_are_the_last_acknowledged_or_the_one_in_flight() {
        // Nothing overwritten yet: batch 0 may be inside overwrite 1.
        assert_eq!(allowed_versions(0, 0), [0, 1]);
        assert_eq!(allowed_versions(1, 0), [0, 0]);
        // Five acknowledged: batches 0..5 at version 1, batch 5 in flight.
        assert_eq!(allowed_versions(4, 5), [1, 1]);
        assert_eq!(allowed_versions(5, 5), [0, 1]);
        assert_eq!(allowed_versions(6, 5), [0, 0]);
        // A second round: batch 0 acknowledged at 2, batch 1 in flight at 2.
        assert_eq!(allowed_versions(0, 21), [2, 2]);
        assert_eq!(allowed_versions(1, 21), [1, 2]);
    }
}
