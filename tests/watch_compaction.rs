//! Watches and compaction (CONTEXT.md, incident 3 and the watch guarantees):
//! - a start below the compaction point fails with `Error::Compacted`
//!   naming the compaction revision;
//! - a start exactly at it succeeds and delivers every event at and after
//!   it, tombstones included (before and after reopening);
//! - a start above it is fine;
//! - a watcher that is behind (a consumer that does not read) when
//!   compaction moves past its position gets a response with
//!   `compact_revision` set, and then its stream ends; one whose position is
//!   still at or above the compaction point goes on;
//! - incident 3: delete K at X, compact at X (physically: K's old versions
//!   rewritten away, the tombstone left as K's only record), close, reopen,
//!   watch at X: the DELETE arrives. Also with the compaction stopped at
//!   each of its failpoints by a crash (a child process of this binary).
//!
//! Every stream is also judged whole by the guarantee checker
//! (tests/support/src/watch_checker.rs).

use revkv::failpoint::FAILPOINT_EXIT;
use revkv::{
    Db, Error, EventKind, KeyRange, Op, Options, RecvError, SyncPolicy, Txn, WatchRequest,
};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};
use test_support::child::{test_child, Running};
use test_support::watch_checker::{
    check, describe, record_through, record_to_end, History, Recorded, Stopped, WriteLog,
};

const WAIT: Duration = Duration::from_secs(20);

/// Small segments, so that a few hundred writes fill several and compaction
/// has sealed segments to rewrite.
fn options() -> Options {
    Options::default()
        .segment_size(4 << 10)
        .sync(SyncPolicy::Never)
}

fn big(i: u32) -> String {
    format!("{i:04}-{}", "v".repeat(180))
}

/// A history with every kind of key around the compaction point C, which it
/// returns:
/// - `k/gone`: put, deleted below C (compaction drops it entirely);
/// - `k/live`: put once below C, untouched at C, updated after;
/// - `k/at`: churned below C (old versions to drop), deleted at C;
/// - `k/p1`, `k/p2`: put by one transaction below C, `k/p1` overwritten
///   below C (the rewritten frame keeps only `k/p2`'s op), `k/p2` after C;
/// - `k/lone`: put once below C, deleted at C (a lone tombstone remains);
/// - `k/new`: created at C, range-deleted after;
/// - C itself is one transaction of three operations;
/// - after C: a recreation of `k/at`, a multi-key transaction, a range
///   delete, and filler so that C lies in a sealed segment.
fn scenario(log: &mut WriteLog) -> u64 {
    log.put("k/gone", "g1");
    log.put("k/live", "l1");
    log.put("k/gone", "g2");
    for i in 0..40 {
        log.put("k/at", big(i));
    }
    log.delete("k/gone");
    // One frame, two ops: compaction keeps only the second (sub 1).
    log.txn(Txn::new().and_then([Op::put("k/p1", "p1"), Op::put("k/p2", "p2")]))
        .expect("txn");
    log.put("k/p1", "p1 again");
    log.put("k/lone", "only");
    for i in 0..10 {
        log.put(format!("f/{}", i % 3), big(i));
    }
    let resp = log
        .txn(Txn::new().and_then([
            Op::delete("k/at"),
            Op::put("k/new", "n1"),
            Op::delete("k/lone"),
        ]))
        .expect("txn at C");
    let c = resp.revision;
    log.put("k/live", "l2");
    log.put("k/p2", "p2 again"); // its prev_kv is in the rewritten frame
    log.put("k/at", "reborn");
    log.txn(Txn::new().and_then([Op::put("k/x", "x1"), Op::put("k/y", "y1")]))
        .expect("txn");
    log.delete_range(KeyRange::prefix("k/n"));
    for i in 0..30 {
        log.put(format!("f/{}", i % 3), big(100 + i));
    }
    log.put("k/y", "y2");
    c
}

/// Watches of every kind, all starting at `start`.
fn requests(start: u64) -> Vec<WatchRequest> {
    [
        WatchRequest::new(KeyRange::all()).prev_kv(),
        WatchRequest::new(KeyRange::all()),
        WatchRequest::prefix("k/").prev_kv(),
        WatchRequest::key("k/at").prev_kv(),
        WatchRequest::key("k/lone"),
        WatchRequest::prefix("k/").no_put(),
        WatchRequest::prefix("k/").no_delete().prev_kv(),
        WatchRequest::new(KeyRange::range("k/l", "k/z")),
    ]
    .into_iter()
    .map(|r| r.start_revision(start))
    .collect()
}

/// Watches with `req` until a progress notification at `head`; checks the
/// stream and returns it.
fn watch_through(db: &Db, history: &History, req: WatchRequest, head: u64) -> Recorded {
    let w = db
        .watch(req.clone())
        .unwrap_or_else(|e| panic!("watch {req:?}: {e}"));
    let mut rec = Recorded::new(req.clone()).id(w.id());
    let stopped = record_through(&w, &mut rec, head, WAIT).expect("record");
    assert_eq!(stopped, Stopped::Reached, "{req:?}: the stream ended");
    if let Err(v) = check(history, &rec) {
        panic!("{req:?}: {v}\n{:#?}", rec.responses);
    }
    rec
}

/// Every kind of watch at `start` delivers exactly the history from there;
/// in particular both deletes of the transaction at C, when they match.
fn check_watches_from(db: &Db, history: &History, start: u64, c: u64) {
    let head = db.current_revision();
    for req in requests(start) {
        let rec = watch_through(db, history, req.clone(), head);
        if start == c {
            let at_c: Vec<String> = rec
                .events()
                .filter(|e| e.kv.mod_revision == c)
                .map(describe)
                .collect();
            for key in ["k/at", "k/lone"] {
                let want = format!("DELETE {key}@{c}");
                if req.range.contains(key.as_bytes()) && !req.no_delete {
                    assert!(
                        at_c.contains(&want),
                        "{req:?}: {want} missing; at C got {at_c:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn start_below_the_compaction_point_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let c = scenario(&mut WriteLog::new(&db));
    db.compact(c).expect("compact");
    let below = |db: &Db, compacted: u64| {
        for start in [1, c / 2, compacted - 1] {
            for req in requests(start) {
                match db.watch(req.clone()) {
                    Err(e @ Error::Compacted { compact_revision }) => {
                        assert_eq!(compact_revision, compacted, "{req:?}");
                        assert!(
                            e.to_string().contains(&compacted.to_string()),
                            "the message names the compaction revision: {e}"
                        );
                    }
                    other => panic!("watch {req:?} below {compacted}: {other:?}"),
                }
            }
        }
    };
    below(&db, c);
    // Physically, and further: the error names the new point.
    db.compact_physical(c + 2).expect("compact");
    below(&db, c + 2);
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.compact_revision(), c + 2);
    below(&db, c + 2);
}

#[test]
fn start_at_the_compaction_point_delivers_every_event_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut log = WriteLog::new(&db);
    let c = scenario(&mut log);
    let mut history = History::from_writes(log.writes).expect("history");
    history.compacted(c);

    // Logical compaction: watches at C are served while the compactor
    // rewrites the segments in the background...
    db.compact(c).expect("compact");
    check_watches_from(&db, &history, c, c);
    db.close().expect("close");
    // ...and after reopening (which finishes the rewrite if it was not).
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.compact_revision(), c);
    check_watches_from(&db, &history, c, c);
}

#[test]
fn start_at_the_compaction_point_after_the_rewrite_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut log = WriteLog::new(&db);
    let c = scenario(&mut log);
    let mut history = History::from_writes(log.writes).expect("history");
    history.compacted(c);
    let before = db.stats().expect("stats").disk_bytes;
    db.compact_physical(c).expect("compact");
    let after = db.stats().expect("stats").disk_bytes;
    assert!(
        after < before,
        "the rewrite dropped old versions: {before} -> {after} bytes"
    );
    check_watches_from(&db, &history, c, c);
    db.close().expect("close");

    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.compact_revision(), c);
    check_watches_from(&db, &history, c, c);
    // Above the point, up to the head.
    check_watches_from(&db, &history, c + 1, c);
    check_watches_from(&db, &history, history.head(), c);
}

#[test]
fn start_above_the_compaction_point_is_fine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut log = WriteLog::new(&db);
    let c = scenario(&mut log);
    db.compact_physical(c).expect("compact");
    let head = db.current_revision();
    let future = WatchRequest::prefix("k/")
        .prev_kv()
        .start_revision(head + 2);
    let fw = db.watch(future.clone()).expect("watch in the future");
    let mut frec = Recorded::new(future).id(fw.id());
    log.put("k/y", "y3"); // head + 1: before the start
    log.put("k/y", "y4"); // head + 2
    let mut history = History::from_writes(log.writes).expect("history");
    history.compacted(c);
    for start in [c + 1, c + 2, head, head + 1] {
        check_watches_from(&db, &history, start, c);
    }
    assert_eq!(
        record_through(&fw, &mut frec, head + 2, WAIT),
        Ok(Stopped::Reached)
    );
    let sum = check(&history, &frec).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(sum.events, 1, "only k/y@{}", head + 2);
}

/// A watcher that does not read: with one revision per write, its buffer
/// fills and it falls back to catching up; its position stays where its
/// buffer ended, far below the head.
fn behind_watcher(db: &Db, log: &mut WriteLog, writes: u32) -> (revkv::Watcher, Recorded) {
    let req = WatchRequest::prefix("s/").prev_kv().start_revision(1);
    let w = db.watch(req.clone()).expect("watch");
    let rec = Recorded::new(req).id(w.id());
    for i in 0..writes {
        log.put(format!("s/{}", i % 5), format!("{i}"));
        if i % 7 == 0 {
            log.put("other", format!("{i}"));
        }
    }
    (w, rec)
}

/// Reads `w` as fast as it can until it has seen revision `target` (once
/// that is set).
fn keep_reading(w: &revkv::Watcher, req: WatchRequest, target: &AtomicU64) -> Recorded {
    let mut rec = Recorded::new(req).id(w.id());
    let deadline = Instant::now() + WAIT;
    loop {
        let t = target.load(SeqCst);
        if t != 0 && rec.last_seen().is_some_and(|r| r >= t) {
            return rec;
        }
        match w.recv_timeout(Duration::from_millis(20)) {
            Ok(resp) => rec.responses.push(resp),
            Err(RecvError::Ended) => panic!("the fast reader's stream ended"),
            Err(_) if t != 0 => w.request_progress(),
            Err(_) => {}
        }
        assert!(
            Instant::now() < deadline,
            "the fast reader did not reach {t}"
        );
    }
}

#[test]
fn a_watcher_behind_the_compaction_point_gets_compacted_and_ends() {
    for physical in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), options()).expect("open");
        let mut log = WriteLog::new(&db);
        // A reader that keeps up, as a control.
        let fast_req = WatchRequest::prefix("s/").start_revision(1);
        let fast = db.watch(fast_req.clone()).expect("watch");
        let target = AtomicU64::new(0);
        let (slow, mut rec, mut frec) = std::thread::scope(|s| {
            let reader = s.spawn(|| keep_reading(&fast, fast_req, &target));
            let (slow, rec) = behind_watcher(&db, &mut log, 400);
            target.store(db.current_revision(), SeqCst);
            (slow, rec, reader.join().expect("reader"))
        });
        let head = db.current_revision();
        let c = head - 10;
        if physical {
            db.compact_physical(c).expect("compact");
        } else {
            db.compact(c).expect("compact");
        }
        let mut history = History::from_writes(log.writes.clone()).expect("history");
        history.compacted(c);
        // The catch-up thread retries the full watcher every few ms; a batch
        // it read just before the compaction may still be on its way. Give
        // it time to meet the full buffer, so that the next read sees the
        // compaction. (Were it delivered, the watcher would legitimately
        // have every event and no compacted response.)
        std::thread::sleep(Duration::from_millis(200));

        record_to_end(&slow, &mut rec, WAIT).expect("the behind stream ends");
        let sum = check(&history, &rec).unwrap_or_else(|v| panic!("physical={physical}: {v}"));
        assert_eq!(
            rec.compacted(),
            Some(c),
            "physical={physical}: the last response names the compaction ({} responses, reached {})",
            rec.responses.len(),
            sum.reached
        );
        assert!(
            sum.events > 0,
            "it had events buffered before it fell behind"
        );
        assert!(sum.reached < c);
        assert_eq!(slow.recv(), None, "the stream has ended");
        assert_eq!(slow.try_recv(), Err(RecvError::Ended));

        assert_eq!(
            record_through(&fast, &mut frec, head, WAIT),
            Ok(Stopped::Reached),
            "the reader that kept up goes on after the compaction"
        );
        let fsum = check(&history, &frec).unwrap_or_else(|v| panic!("fast: {v}"));
        assert_eq!(fsum.compacted, None);
        assert_eq!(fsum.reached, head);

        // Resuming where it stopped is now below the point; at the point it works.
        let resume = rec.resume_point().expect("resume point");
        assert!(matches!(
            db.watch(WatchRequest::prefix("s/").start_revision(resume)),
            Err(Error::Compacted { compact_revision }) if compact_revision == c
        ));
        watch_through(
            &db,
            &history,
            WatchRequest::prefix("s/").prev_kv().start_revision(c),
            head,
        );
    }
}

#[test]
fn a_watcher_behind_but_above_the_compaction_point_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut log = WriteLog::new(&db);
    let c = 3;
    let (slow, mut rec) = {
        for i in 0..c {
            log.put("before", format!("{i}"));
        }
        behind_watcher(&db, &mut log, 400)
    };
    let head = db.current_revision();
    db.compact_physical(c).expect("compact");
    let mut history = History::from_writes(log.writes).expect("history");
    history.compacted(c);
    assert_eq!(
        record_through(&slow, &mut rec, head, WAIT),
        Ok(Stopped::Reached)
    );
    let sum = check(&history, &rec).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(sum.compacted, None);
    assert_eq!(sum.reached, head);
}

/// Incident 3's store: `K` written many times (its old versions fill sealed
/// segments), deleted alone at X, `lone` deleted just after, then enough
/// writes that X lies in a sealed segment. Returns X.
fn incident_script(log: &mut WriteLog) -> u64 {
    log.put("other/1", "o1");
    for i in 0..60 {
        log.put("K", big(i));
    }
    log.put("other/2", "o2");
    log.put("lone", "l");
    let (x, deleted) = log.delete("K");
    assert_eq!(deleted, 1);
    log.delete("lone");
    for i in 0..40 {
        log.put(format!("after/{}", i % 4), big(i));
    }
    log.put("K", "reborn");
    log.delete_range(KeyRange::prefix("after/"));
    x
}

/// After reopening: X is the compaction point, the DELETE of K at X is the
/// first thing a watch of K at X sees, and every watch at X delivers the
/// whole history from X.
fn check_incident(db: &Db, history: &History, x: u64, what: &str) {
    assert_eq!(db.compact_revision(), x, "{what}");
    assert_eq!(db.get_at("K", x).expect("get_at"), None, "{what}");
    assert!(
        matches!(db.get_at("K", x - 1), Err(Error::Compacted { compact_revision }) if compact_revision == x),
        "{what}"
    );
    let w = db
        .watch(WatchRequest::key("K").start_revision(x))
        .unwrap_or_else(|e| panic!("{what}: watch K at {x}: {e}"));
    let first = w
        .recv_timeout(WAIT)
        .unwrap_or_else(|e| panic!("{what}: no response for K at {x}: {e:?}"));
    let got: Vec<String> = first.events.iter().map(describe).collect();
    assert_eq!(
        got.first(),
        Some(&format!("DELETE K@{x}")),
        "{what}: the first event of a watch of K at X"
    );
    assert_eq!(first.events[0].kind, EventKind::Delete);
    let head = db.current_revision();
    for req in [
        WatchRequest::key("K").prev_kv(),
        WatchRequest::new(KeyRange::all()).prev_kv(),
        WatchRequest::new(KeyRange::all()).no_put(),
    ] {
        watch_through(db, history, req.start_revision(x), head);
    }
}

#[test]
fn incident_3_the_delete_at_the_compaction_point_survives_compaction_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (x, history) = {
        let db = Db::open(dir.path(), options()).expect("open");
        let mut log = WriteLog::new(&db);
        let x = incident_script(&mut log);
        let mut history = History::from_writes(log.writes).expect("history");
        history.compacted(x);
        let before = db.stats().expect("stats");
        db.compact_physical(x).expect("compact");
        let after = db.stats().expect("stats");
        assert!(
            after.disk_bytes * 2 < before.disk_bytes,
            "K's old versions were rewritten away: {before:?} -> {after:?}"
        );
        check_incident(&db, &history, x, "before close");
        db.close().expect("close");
        (x, history)
    };
    let db = Db::open(dir.path(), options()).expect("reopen");
    check_incident(&db, &history, x, "after reopen");
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("reopen twice");
    check_incident(&db, &history, x, "after a second reopen");
}

const CHILD_ENV: &str = "REVKV_WATCH_COMPACTION_CHILD";

/// The failpoints of a compaction, in the order it reaches them.
const COMPACTION_FAILPOINTS: [&str; 6] = [
    "compact.scheduled",
    "compact.segment_written",
    "compact.synced",
    "compact.before_manifest",
    "compact.after_manifest",
    "compact.before_remove",
];

#[test]
#[ignore = "the child process of incident_3_with_the_compaction_crashed_at_each_failpoint"]
fn compaction_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(&dir, options()).expect("child: open");
    let x = incident_script(&mut WriteLog::new(&db));
    db.compact_physical(x).expect("child: compact");
    db.close().expect("child: close");
}

fn run_child(dir: &Path, failpoint: &str) -> Option<i32> {
    let mut cmd = test_child("compaction_child");
    cmd.env(CHILD_ENV, dir)
        .env("REVKV_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = Running::start(&mut cmd);
    child
        .wait_at_most(Duration::from_secs(60), &format!("{failpoint}: the child"))
        .unwrap_or_else(|e| panic!("{e}"))
        .code()
}

#[test]
fn incident_3_with_the_compaction_crashed_at_each_failpoint() {
    // The same deterministic script on a scratch store gives the history.
    let scratch = tempfile::tempdir().expect("tempdir");
    let (x, writes) = {
        let db = Db::open(scratch.path(), options()).expect("open");
        let mut log = WriteLog::new(&db);
        let x = incident_script(&mut log);
        (x, log.writes)
    };
    let mut history = History::from_writes(writes.clone()).expect("history");
    history.compacted(x);
    for failpoint in COMPACTION_FAILPOINTS {
        let dir = tempfile::tempdir().expect("tempdir");
        let code = run_child(dir.path(), failpoint);
        assert_eq!(
            code,
            Some(FAILPOINT_EXIT),
            "the child stopped at {failpoint} (exit {FAILPOINT_EXIT})"
        );
        let db = Db::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("reopen after a crash at {failpoint}: {e}"));
        check_incident(&db, &history, x, &format!("crashed at {failpoint}"));
        // Writes go on from where they were, and watches with them.
        let mut log = WriteLog::new(&db);
        let rev = log.put("K", "after the crash");
        assert_eq!(rev, history.head() + 1, "{failpoint}: revisions go on");
        let mut more =
            History::from_writes(writes.iter().cloned().chain(log.writes)).expect("history");
        more.compacted(x);
        watch_through(
            &db,
            &more,
            WatchRequest::key("K").prev_kv().start_revision(x),
            rev,
        );
        db.close().expect("close");
    }
}

#[test]
fn compaction_at_the_head_then_watch_at_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut log = WriteLog::new(&db);
    scenario(&mut log);
    let (head, _) = log.delete_range(KeyRange::prefix("f/"));
    db.compact_physical(head).expect("compact at the head");
    let live = db
        .watch(WatchRequest::prefix("f/").start_revision(head + 1))
        .expect("watch after the head");
    let mut live_rec =
        Recorded::new(WatchRequest::prefix("f/").start_revision(head + 1)).id(live.id());
    let next = log.put("f/9", "after");
    let mut history = History::from_writes(log.writes).expect("history");
    history.compacted(head);
    for req in requests(head) {
        let rec = watch_through(&db, &history, req.clone(), next);
        if req.range.contains(b"f/0") && !req.no_delete {
            assert!(
                rec.events().any(|e| e.kv.mod_revision == head),
                "{req:?}: the range delete at the compaction point"
            );
        }
    }
    assert_eq!(
        record_through(&live, &mut live_rec, next, WAIT),
        Ok(Stopped::Reached)
    );
    let sum = check(&history, &live_rec).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(sum.events, 1);
}
