//! Incident 3 (CONTEXT.md, etcd #19179 / #18089): a watch at the compaction
//! revision lost a DELETE after a crash in the middle of compaction.
//!
//! Key K gets 500 versions (so they span many 16 KiB segments), then K is
//! deleted at revision X. A child process (the `#[ignore]`d test
//! `child_open_and_compact` of this binary, as `test_support::incident`
//! runs it) compacts at X and stops at a
//! failpoint in the middle of the rewrite (status 86 required). The store is
//! reopened (which finishes the compaction) and a watch at X must deliver
//! the DELETE at X, once, and nothing else for K; reads at X and later see no
//! K; reads below X fail with `Compacted`. It is reopened once more (now K's
//! only record on disk is its tombstone, which recovery must index) and
//! checked again. Each failpoint runs with the tombstone in a sealed segment
//! (more writes follow) and in the active segment (it is the last write).
//! One more test crashes twice: during the compaction and again while
//! `open` resumes it.

use revkv::{Db, Error, EventKind, RangeRequest, WatchRequest};
use std::path::Path;
use std::time::Duration;
use test_support::incident::{
    big_value, crash_child, events_until, finished_manifest, options, BIG_LEN,
};
use test_support::store::verify_clean;

const K: &str = "/registry/pods/k";

#[test]
#[ignore = "the child process of the incident 3 tests"]
fn child_open_and_compact() {
    test_support::incident::child_open_and_compact();
}

/// Writes the incident's history; returns X, the revision of K's delete.
fn write_history(dir: &Path, tombstone_sealed: bool) -> u64 {
    let db = Db::open(dir, options()).expect("open");
    db.put("/big", big_value(3)).expect("put"); // revision 2, the first write
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

/// The incident's symptom and its neighbours, on an open store.
fn check(dir: &Path, x: u64, ctx: &str) {
    let db = Db::open(dir, options()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let current = db.current_revision();
    assert!(
        current >= x,
        "{ctx}: current {current} below the delete {x}"
    );
    assert_eq!(db.compact_revision(), x, "{ctx}: compaction revision");
    finished_manifest(dir, x, ctx);
    verify_clean(&db, ctx);

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
        Some((BIG_LEN, 2)),
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
