//! Watch soak: 8 writer threads do puts, deletes, delete ranges and multi-key
//! transactions (with compares, reads and failure branches) on a small key
//! space under three prefixes, while 50 watchers watch random keys, prefixes
//! and ranges from random start revisions (in the past, 0 = now, a little in
//! the future), some with prev_kv and put/delete filters, some with periodic
//! progress notifications, some slow (sleeping between receives, so their
//! buffers fill and they fall back to catching up from disk), some cancelled
//! and resumed at last seen + 1 at random points, a few cancelled for good.
//! Progress is requested from every watcher all along. At the end each
//! watcher waits for a progress notification at the final revision, and
//! every stream, joined across its resumptions, must pass the guarantee
//! checker (tests/support/src/watch_checker.rs) against the history that the
//! writers' own responses define (replayed through a model, and cross-checked
//! with a full-history watch read back from the store).
//!
//! Environment:
//! - `REVKV_SOAK_SECS`: how long to soak, in seconds. Unset, one short round
//!   (about 1.5 s of writes) runs, for CI. Longer soaks run as rounds of at
//!   most 10 s of writes, each on a fresh store with its own seed, e.g.
//!   `REVKV_SOAK_SECS=600 cargo test --release --test watch_soak -- --nocapture`.
//! - `REVKV_SOAK_SEED`: the seed of the first round (default: from the
//!   clock). Every failure prints its round's seed. Thread timing is not
//!   reproducible, but the seed fixes every random choice (operations, keys,
//!   watch requests, slowness, cancel points).

use revkv::{
    Compare, CompareOp, Db, DeleteRequest, KeyRange, Op, Options, RecvError, SyncPolicy, Txn,
    WatchRequest,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread::{self, sleep};
use std::time::{Duration, Instant};
use test_support::watch_checker::{check_resumed, History, Recorded, Summary, Write, WriteLog};
use test_support::{seed_from_env, Rng};

const WRITERS: usize = 8;
const WATCHERS: usize = 50;
const PREFIXES: [&str; 3] = ["a/", "b/", "c/"];
/// Writes of one round when `REVKV_SOAK_SECS` is unset.
const CI_WRITE_TIME: Duration = Duration::from_millis(1500);
/// The longest round of a long soak.
const MAX_ROUND: Duration = Duration::from_secs(10);
/// How long the watchers may take to reach the final revision after the writes.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// One of 24 keys: `a/0`..`a/5`, `a/s/0`, `a/s/1`, the same under `b/` and `c/`.
fn random_key(rng: &mut Rng) -> String {
    let prefix = rng.pick(&PREFIXES);
    match rng.below(8) {
        i @ 0..=5 => format!("{prefix}{i}"),
        i => format!("{prefix}s/{}", i - 6),
    }
}

/// A key range: a prefix (also `a/s/`-like ones, and `d/`, never written), a
/// half-open range between two keys, a from-key range, or every key.
fn random_range(rng: &mut Rng) -> KeyRange {
    match rng.below(10) {
        0..=3 => {
            let prefix = match rng.below(6) {
                0 => "d/".to_string(),
                1 => format!("{}s/", rng.pick(&PREFIXES)),
                _ => rng.pick(&PREFIXES).to_string(),
            };
            KeyRange::prefix(prefix)
        }
        4..=7 => {
            let (a, b) = (random_key(rng), random_key(rng));
            match a.cmp(&b) {
                std::cmp::Ordering::Less => KeyRange::range(a, b),
                std::cmp::Ordering::Greater => KeyRange::range(b, a),
                std::cmp::Ordering::Equal => KeyRange::single(a),
            }
        }
        8 => KeyRange::from_key(random_key(rng)),
        _ => KeyRange::all(),
    }
}

/// A transaction of 2 or 3 puts on distinct keys, sometimes a delete of a
/// prefix none of them is under and a read, behind a random compare; the
/// failure branch writes one key, deletes a range, or does nothing at all
/// (then no revision is consumed).
fn random_multi_txn(rng: &mut Rng, value: &str, acked: u64) -> Txn {
    let n = rng.between(2, 3) as usize;
    let mut keys: Vec<String> = Vec::new();
    while keys.len() < n {
        let k = random_key(rng);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut success: Vec<Op> = keys
        .iter()
        .enumerate()
        .map(|(j, k)| Op::put(k.as_str(), format!("{value}.{j}")))
        .collect();
    if rng.chance(40) {
        let free: Vec<&str> = PREFIXES
            .iter()
            .copied()
            .filter(|p| !keys.iter().any(|k| k.starts_with(p)))
            .collect();
        if !free.is_empty() {
            let at = rng.below(success.len() as u64 + 1) as usize;
            success.insert(at, Op::Delete(DeleteRequest::prefix(*rng.pick(&free))));
        }
    }
    if rng.chance(30) {
        let at = rng.below(success.len() as u64 + 1) as usize;
        success.insert(at, Op::get(random_key(rng)));
    }
    let k = random_key(rng);
    let compare = match rng.below(4) {
        0 => Compare::version(k, CompareOp::Greater, 0),
        1 => Compare::version(k, CompareOp::Equal, 0),
        2 => Compare::mod_revision(k, CompareOp::Less, rng.between(0, acked + 1)),
        _ => Compare::value(k, CompareOp::NotEqual, "nothing"),
    };
    let failure = match rng.below(3) {
        0 => Vec::new(),
        1 => vec![Op::put(random_key(rng), value)],
        _ => vec![Op::Delete(DeleteRequest::new(random_range(rng)))],
    };
    Txn::new()
        .when([compare])
        .and_then(success)
        .or_else(failure)
}

/// What every thread of a round shares.
struct Control {
    /// The newest revision acknowledged to a writer.
    acked: AtomicU64,
    /// The revision after the last write; set before `done`.
    final_rev: AtomicU64,
    /// The writers have finished.
    done: AtomicBool,
}

fn run_writer(
    db: &Db,
    t: usize,
    mut rng: Rng,
    until: Instant,
    ctl: &Control,
) -> Result<Vec<Write>, String> {
    let mut log = WriteLog::new(db);
    let mut i = 0u64;
    while Instant::now() < until {
        let value = format!("w{t}-{i}");
        let txn = match rng.below(100) {
            0..=39 => Txn::new().and_then([Op::put(random_key(&mut rng), value)]),
            40..=54 => Txn::new().and_then([Op::delete(random_key(&mut rng))]),
            55..=64 => {
                Txn::new().and_then([Op::Delete(DeleteRequest::new(random_range(&mut rng)))])
            }
            _ => random_multi_txn(&mut rng, &value, ctl.acked.load(SeqCst)),
        };
        let resp = log
            .txn(txn.clone())
            .map_err(|e| format!("writer {t}: {txn:?}: {e}"))?;
        ctl.acked.fetch_max(resp.revision, SeqCst);
        sleep(Duration::from_micros(rng.below(1200)));
        i += 1;
    }
    Ok(log.writes)
}

/// How one watcher behaves.
#[derive(Debug, Clone)]
struct Spec {
    req: WatchRequest,
    /// 0 = now; otherwise chosen when the watch is created.
    start: StartKind,
    /// Sleep this many milliseconds (range) after each response.
    slow: Option<(u64, u64)>,
    /// Cancel and resume at last seen + 1 now and then.
    resumes: bool,
    /// Cancel for good at some point.
    quits: bool,
    /// Wait this long before the first watch.
    delay: Duration,
}

#[derive(Debug, Clone, Copy)]
enum StartKind {
    Now,
    Past,
    Future,
}

fn random_spec(rng: &mut Rng, write_time: Duration) -> Spec {
    let range = if rng.chance(30) {
        KeyRange::single(random_key(rng))
    } else {
        random_range(rng)
    };
    let mut req = WatchRequest::new(range);
    if rng.chance(50) {
        req = req.prev_kv();
    }
    match rng.below(20) {
        0 | 1 => req = req.no_put(),
        2 | 3 => req = req.no_delete(),
        4 => req = req.no_put().no_delete(),
        _ => {}
    }
    if rng.chance(15) {
        req = req.progress_notify(Duration::from_millis(rng.between(10, 80)));
    }
    let start = match rng.below(20) {
        0..=6 => StartKind::Now,
        7..=17 => StartKind::Past,
        _ => StartKind::Future,
    };
    let slow = rng
        .chance(25)
        .then(|| (rng.between(0, 2), rng.between(3, 10)));
    Spec {
        req,
        start,
        slow,
        resumes: rng.chance(40),
        quits: rng.chance(6),
        delay: Duration::from_millis(rng.below(write_time.as_millis() as u64 * 2 / 3 + 1)),
    }
}

/// What one watcher recorded.
struct Outcome {
    spec: Spec,
    segments: Vec<Recorded>,
    /// Cancelled for good before the end.
    quit: bool,
    error: Option<String>,
}

/// Opens a watch of `req` at `start` (0 = now) and the record for it.
fn open(
    db: &Db,
    req: &WatchRequest,
    start: u64,
    ctl: &Control,
) -> Result<(revkv::Watcher, Recorded), String> {
    let req = req.clone().start_revision(start);
    let lo = ctl.acked.load(SeqCst) + 1;
    let w = db
        .watch(req.clone())
        .map_err(|e| format!("watch {req:?}: {e}"))?;
    let rec = if start == 0 {
        let hi = db.current_revision() + 1;
        Recorded::between(req, lo, hi)
    } else {
        Recorded::new(req)
    };
    let id = w.id();
    Ok((w, rec.id(id)))
}

fn run_watcher(db: &Db, spec: Spec, mut rng: Rng, ctl: &Control) -> Outcome {
    let mut out = Outcome {
        spec: spec.clone(),
        segments: Vec::new(),
        quit: false,
        error: None,
    };
    if let Err(e) = watch_loop(db, &spec, &mut rng, ctl, &mut out) {
        out.error = Some(e);
    }
    out
}

fn watch_loop(
    db: &Db,
    spec: &Spec,
    rng: &mut Rng,
    ctl: &Control,
    out: &mut Outcome,
) -> Result<(), String> {
    sleep(spec.delay);
    let start = match spec.start {
        StartKind::Now => 0,
        StartKind::Past => rng.between(1, ctl.acked.load(SeqCst).max(1)),
        StartKind::Future => db.current_revision() + rng.between(1, 40),
    };
    let (mut w, mut rec) = open(db, &spec.req, start, ctl)?;
    let mut resumes = 0;
    let mut drain_started: Option<Instant> = None;
    let mut last_ask = Instant::now();
    loop {
        let done = ctl.done.load(SeqCst);
        let final_rev = ctl.final_rev.load(SeqCst);
        if done {
            let first = drain_started.is_none();
            let started = *drain_started.get_or_insert_with(Instant::now);
            if first || last_ask.elapsed() >= Duration::from_millis(100) {
                w.request_progress();
                last_ask = Instant::now();
            }
            if started.elapsed() > DRAIN_LIMIT {
                out.segments.push(rec);
                return Err(format!(
                    "no progress notification at the final revision {final_rev} within {DRAIN_LIMIT:?}"
                ));
            }
        }
        match w.recv_timeout(Duration::from_millis(20)) {
            Ok(resp) => {
                let finished = done && resp.progress_notify && resp.revision >= final_rev;
                rec.responses.push(resp);
                if finished {
                    break;
                }
                if let Some((lo, hi)) = spec.slow {
                    sleep(Duration::from_millis(rng.between(lo, hi)));
                }
                if done {
                    continue;
                }
                if spec.quits && rng.chance(2) {
                    drop(w);
                    out.quit = true;
                    break;
                }
                if spec.resumes && resumes < 8 && rng.chance(4) {
                    if let Some(at) = rec.resume_point() {
                        drop(w);
                        out.segments.push(rec);
                        // Let writes go by, so the new watch starts in the past.
                        sleep(Duration::from_millis(rng.below(15)));
                        (w, rec) = open(db, &spec.req, at, ctl)?;
                        resumes += 1;
                    }
                }
            }
            Err(RecvError::Timeout) | Err(RecvError::Empty) => {}
            Err(RecvError::Ended) => {
                out.segments.push(rec);
                return Err("the stream ended by itself".into());
            }
        }
    }
    out.segments.push(rec);
    Ok(())
}

#[derive(Default)]
struct Totals {
    revisions: u64,
    events: usize,
    responses: usize,
    progress: usize,
    segments: usize,
    /// Slow watchers that got a response spanning more revisions than one
    /// group commit holds (at most one per writer): served from disk.
    slow_from_disk: usize,
    slow: usize,
}

/// True when a response spans more revisions than a group commit can hold,
/// so the catch-up thread read it from disk.
fn from_disk(resp: &revkv::WatchResponse) -> bool {
    let mut revs: Vec<u64> = resp.events.iter().map(|e| e.kv.mod_revision).collect();
    revs.dedup();
    revs.len() > WRITERS
}

/// One round on a fresh store; returns the failures.
fn round(seed: u64, write_time: Duration, totals: &mut Totals) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(
        Db::open(
            dir.path(),
            Options::default()
                .sync(SyncPolicy::Never)
                .segment_size(256 << 10),
        )
        .expect("open"),
    );
    let ctl = Arc::new(Control {
        acked: AtomicU64::new(0),
        final_rev: AtomicU64::new(0),
        done: AtomicBool::new(false),
    });
    let until = Instant::now() + write_time;
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (db, ctl, r) = (Arc::clone(&db), Arc::clone(&ctl), rng.fork());
            thread::spawn(move || run_writer(&db, t, r, until, &ctl))
        })
        .collect();
    let watchers: Vec<_> = (0..WATCHERS)
        .map(|_| {
            let spec = random_spec(&mut rng, write_time);
            let (db, ctl, r) = (Arc::clone(&db), Arc::clone(&ctl), rng.fork());
            thread::spawn(move || run_watcher(&db, spec, r, &ctl))
        })
        .collect();
    let progress = {
        let (db, ctl) = (Arc::clone(&db), Arc::clone(&ctl));
        thread::spawn(move || {
            while !ctl.done.load(SeqCst) {
                db.request_progress();
                sleep(Duration::from_millis(15));
            }
        })
    };

    let mut failures = Vec::new();
    let mut writes = Vec::new();
    for (t, h) in writers.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(w)) => writes.extend(w),
            Ok(Err(e)) => failures.push(e),
            Err(_) => failures.push(format!("writer {t} panicked")),
        }
    }
    let final_rev = db.current_revision();
    ctl.final_rev.store(final_rev, SeqCst);
    ctl.done.store(true, SeqCst);
    let outcomes: Vec<Option<Outcome>> = watchers.into_iter().map(|h| h.join().ok()).collect();
    let _ = progress.join();
    totals.revisions += final_rev;

    let history = match History::from_writes(writes) {
        Ok(h) => h,
        Err(e) => {
            failures.push(format!("the writes do not form a history: {e}"));
            return failures;
        }
    };
    if history.head() != final_rev {
        failures.push(format!(
            "the writes end at revision {}, the store at {final_rev}",
            history.head()
        ));
    }
    match History::read_back(&db, 1, final_rev, Duration::from_secs(30)) {
        Ok(read) => {
            if let Some(d) = history.diff(&read) {
                failures.push(format!(
                    "the store's history differs from the writes' at {d}"
                ));
            }
        }
        Err(e) => failures.push(format!("reading the history back: {e}")),
    }

    for (i, outcome) in outcomes.into_iter().enumerate() {
        let Some(o) = outcome else {
            failures.push(format!("watcher {i} panicked"));
            continue;
        };
        let who = format!("watcher {i} ({:?})", o.spec);
        if let Some(e) = &o.error {
            failures.push(format!("{who}: {e}"));
        }
        totals.segments += o.segments.len();
        if o.spec.slow.is_some() {
            totals.slow += 1;
            if o.segments.iter().flat_map(|s| &s.responses).any(from_disk) {
                totals.slow_from_disk += 1;
            }
        }
        match check_resumed(&history, &o.segments) {
            Ok(Summary {
                reached,
                events,
                responses,
                progress_notifications,
                ..
            }) => {
                totals.events += events;
                totals.responses += responses;
                totals.progress += progress_notifications;
                if !o.quit && o.error.is_none() && reached < final_rev {
                    failures.push(format!(
                        "{who}: reached only revision {reached} of {final_rev}"
                    ));
                }
            }
            Err(v) => failures.push(format!(
                "{who}, {} segment(s) starting at {:?}: {v}",
                o.segments.len(),
                o.segments.iter().map(|s| s.start).collect::<Vec<_>>()
            )),
        }
    }
    drop(db);
    failures
}

#[test]
fn every_watch_stream_keeps_the_guarantees_under_load() {
    let soak = std::env::var("REVKV_SOAK_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    let first_seed = seed_from_env("REVKV_SOAK_SEED");
    let began = Instant::now();
    let mut totals = Totals::default();
    for r in 0u64.. {
        let write_time = match soak {
            None if r > 0 => break,
            None => CI_WRITE_TIME,
            Some(total) => {
                let left = total.saturating_sub(began.elapsed());
                if left.is_zero() && r > 0 {
                    break;
                }
                left.clamp(Duration::from_millis(500), MAX_ROUND)
            }
        };
        let seed = first_seed.wrapping_add(r);
        eprintln!(
            "watch_soak round {r}: seed {seed} (REVKV_SOAK_SEED={seed}), {write_time:?} of writes"
        );
        let failures = round(seed, write_time, &mut totals);
        if !failures.is_empty() {
            panic!(
                "watch_soak round {r}, seed {seed} (rerun with REVKV_SOAK_SEED={seed}): {} failure(s):\n{}",
                failures.len(),
                failures.join("\n")
            );
        }
    }
    eprintln!(
        "watch_soak: {:?}, {} revisions, {} watch segments, {} responses, {} events, \
         {} progress notifications, {} of {} slow watchers served from disk, all checked",
        began.elapsed(),
        totals.revisions,
        totals.segments,
        totals.responses,
        totals.events,
        totals.progress,
        totals.slow_from_disk,
        totals.slow
    );
    assert!(
        totals.slow_from_disk > 0,
        "no slow watcher fell behind to catching up from disk: the soak did not test that path (seed {first_seed})"
    );
}
