//! Incident 3 (CONTEXT.md, etcd #19179 / #18089): a watch at the compaction
//! revision lost a DELETE after a crash in the middle of compaction.
//!
//! Key K gets 500 versions (so they span many 16 KiB segments), then K is
//! deleted at revision X. A child process (the `#[ignore]`d test
//! `child_open_and_compact` of this binary, re-executed with `REVKV_I3_DIR`,
//! `REVKV_I3_AT` and `REVKV_FAILPOINT`) compacts at X and stops at a
//! failpoint in the middle of the rewrite (status 86 required). The store is
//! reopened (which finishes the compaction) and a watch at X must deliver
//! the DELETE at X, once, and nothing else for K; reads at X and later see no
//! K; reads below X fail with `Compacted`. It is reopened once more (now K's
//! only record on disk is its tombstone, which recovery must index) and
//! checked again. Each failpoint runs with the tombstone in a sealed segment
//! (more writes follow) and in the active segment (it is the last write).
//! One more test crashes twice: during the compaction and again while
//! `open` resumes it.

use revkv::failpoint::FAILPOINT_EXIT;
use revkv::format::manifest::decode_manifest;
use revkv::{Db, Error, EventKind, Options, RangeRequest, SyncPolicy, WatchRequest};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_TEST: &str = "child_open_and_compact";
const DIR_ENV: &str = "REVKV_I3_DIR";
const AT_ENV: &str = "REVKV_I3_AT";
const K: &str = "/registry/pods/k";
/// Over the 1 MiB output buffer of a rewrite: copying it makes the
/// compactor flush in the middle of an output segment (compact.mid_segment).
const BIG_LEN: usize = (1 << 20) + (64 << 10);

fn options() -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync(SyncPolicy::Never)
}

#[test]
#[ignore = "the child process of the incident 3 tests"]
fn child_open_and_compact() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let at: u64 = std::env::var(AT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("child: revision");
    // Open resumes an interrupted compaction: it may stop at the failpoint.
    let db = Db::open(&dir, options()).expect("child: open");
    if at > 0 {
        let result = db.compact_physical(at);
        println!("child: compact_physical({at}) returned {result:?}");
    }
}

/// Runs the child with `failpoint` armed; it must stop there (status 86).
fn crash_child(dir: &Path, at: u64, failpoint: &str) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            CHILD_TEST,
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir)
        .env(AT_ENV, at.to_string())
        .env("REVKV_FAILPOINT", failpoint)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let outs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("child (compact at {at}, {failpoint}) hangs");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = outs.join().unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(FAILPOINT_EXIT),
        "child (compact at {at}) did not stop at {failpoint} ({status}):\n{text}"
    );
}

/// Writes the incident's history; returns X, the revision of K's delete.
fn write_history(dir: &Path, tombstone_sealed: bool) -> u64 {
    let db = Db::open(dir, options()).expect("open");
    let mut big = Vec::with_capacity(BIG_LEN);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while big.len() < BIG_LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.extend_from_slice(&x.to_le_bytes());
    }
    db.put("/big", big).expect("put");
    db.put("/other", "alive").expect("put");
    for i in 0..500 {
        db.put(K, format!("{i:04}-{}", "p".repeat(200)))
            .expect("put");
    }
    let x = db.delete(K).expect("delete").revision;
    if tombstone_sealed {
        for i in 0..150 {
            db.put(format!("/after/{}", i % 10), "q".repeat(200))
                .expect("put");
        }
    }
    db.close().expect("close");
    x
}

/// Collects the events of `w` until a progress notification at or above
/// `current` (so nothing more up to `current` can come).
fn events_until(w: &revkv::Watcher, current: u64, ctx: &str) -> Vec<revkv::Event> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        w.request_progress();
        let resp = match w.recv_timeout(Duration::from_millis(200)) {
            Ok(resp) => resp,
            Err(revkv::RecvError::Timeout) if Instant::now() < deadline => continue,
            Err(e) => panic!("{ctx}: watch ended after {} events: {e:?}", events.len()),
        };
        assert_eq!(resp.compact_revision, 0, "{ctx}: watch compacted: {resp:?}");
        events.extend(resp.events);
        if resp.progress_notify && resp.revision >= current {
            return events;
        }
    }
}

/// The incident's symptom and its neighbours, on an open store.
fn check(dir: &Path, x: u64, ctx: &str) {
    let db = Db::open(dir, options()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let current = db.current_revision();
    assert!(
        current >= x,
        "{ctx}: current {current} below the delete {x}"
    );
    assert_eq!(db.compact_revision(), x, "{ctx}: compaction revision");
    let m = decode_manifest(&std::fs::read(dir.join("MANIFEST")).expect("read MANIFEST"))
        .expect("decode MANIFEST");
    assert_eq!(
        (m.compact_scheduled, m.compact_finished),
        (x, x),
        "{ctx}: compaction not finished after open"
    );

    let report = db.verify().unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
    assert!(
        report.is_ok(),
        "{ctx}: verify found problems: {:#?}",
        report.problems
    );

    // The watch at X on K: the DELETE at X, and nothing else.
    let w = db
        .watch(WatchRequest::key(K).start_revision(x))
        .unwrap_or_else(|e| panic!("{ctx}: watch at {x}: {e}"));
    let first = w
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{ctx}: watch at X={x}: no DELETE ({e:?})"));
    assert_eq!(first.compact_revision, 0, "{ctx}: {first:?}");
    let e = first
        .events
        .first()
        .unwrap_or_else(|| panic!("{ctx}: watch at X={x}: first response has no event: {first:?}"));
    assert_eq!(
        (e.kind, e.kv.key.as_slice(), e.kv.mod_revision),
        (EventKind::Delete, K.as_bytes(), x),
        "{ctx}: watch at X={x}: first event"
    );
    let mut rest = first.events[1..].to_vec();
    rest.extend(events_until(&w, current, ctx));
    assert!(
        rest.is_empty(),
        "{ctx}: watch at X={x}: events after the delete: {:?}",
        rest.iter()
            .map(|e| (e.kind, e.kv.mod_revision))
            .collect::<Vec<_>>()
    );

    // A watch of everything at X starts with that DELETE too, with prev_kv
    // asked for (the previous version is below X: compacted, may be absent).
    let w = db
        .watch(WatchRequest::prefix("").start_revision(x).prev_kv())
        .unwrap_or_else(|e| panic!("{ctx}: watch all at {x}: {e}"));
    let events = events_until(&w, current, ctx);
    let deletes: Vec<_> = events
        .iter()
        .filter(|e| e.kv.key == K.as_bytes())
        .map(|e| (e.kind, e.kv.mod_revision))
        .collect();
    assert_eq!(
        deletes,
        vec![(EventKind::Delete, x)],
        "{ctx}: watch all at X={x}: K's events"
    );
    assert_eq!(
        events.first().map(|e| e.kv.mod_revision),
        Some(x),
        "{ctx}: watch all at X: first event"
    );
    assert_eq!(
        events.len() as u64,
        current - x + 1,
        "{ctx}: watch all at X: one event per revision"
    );

    // Reads: K is gone at X and after; below X is compacted.
    for rev in [x, current, 0] {
        assert_eq!(
            db.get_at(K, rev).expect("get"),
            None,
            "{ctx}: K visible at {rev}"
        );
        let r = db
            .range(RangeRequest::prefix("/registry/").revision(rev))
            .expect("range");
        assert_eq!(r.count, 0, "{ctx}: K in a range at {rev}");
    }
    assert!(
        matches!(db.get_at(K, x - 1), Err(Error::Compacted { compact_revision }) if compact_revision == x),
        "{ctx}: read below X"
    );
    assert_eq!(
        db.get("/other").expect("get").map(|kv| kv.value),
        Some(b"alive".to_vec()),
        "{ctx}: /other"
    );
    assert_eq!(
        db.get_at("/big", x)
            .expect("get")
            .map(|kv| (kv.value.len(), kv.create_revision)),
        Some((BIG_LEN, 1)),
        "{ctx}: /big"
    );
    db.close().expect("close");
}

fn incident3(failpoint: &str, tombstone_sealed: bool) {
    let where_ = if tombstone_sealed { "sealed" } else { "active" };
    let ctx = format!("{failpoint}, tombstone in the {where_} segment");
    let dir = tempfile::tempdir().expect("tempdir");
    let x = write_history(dir.path(), tombstone_sealed);
    crash_child(dir.path(), x, failpoint);
    check(dir.path(), x, &format!("{ctx}, first reopen"));
    // Now the compaction is complete: K's only record is its tombstone.
    check(dir.path(), x, &format!("{ctx}, second reopen"));
}

#[test]
fn crash_at_mid_segment() {
    incident3("compact.mid_segment", true);
    incident3("compact.mid_segment", false);
}

#[test]
fn crash_at_segment_written() {
    incident3("compact.segment_written", true);
    incident3("compact.segment_written", false);
}

#[test]
fn crash_at_before_manifest() {
    incident3("compact.before_manifest", true);
    incident3("compact.before_manifest", false);
}

#[test]
fn crash_at_after_manifest() {
    incident3("compact.after_manifest", true);
    incident3("compact.after_manifest", false);
}

#[test]
fn crash_again_while_open_resumes_the_compaction() {
    for (first, second) in [
        ("compact.mid_segment", "compact.before_manifest"),
        ("compact.before_manifest", "compact.after_manifest"),
    ] {
        let ctx = format!("{first} then {second} on open");
        let dir = tempfile::tempdir().expect("tempdir");
        let x = write_history(dir.path(), true);
        crash_child(dir.path(), x, first);
        crash_child(dir.path(), 0, second);
        check(dir.path(), x, &format!("{ctx}, first reopen"));
        check(dir.path(), x, &format!("{ctx}, second reopen"));
    }
}
