//! Watches end to end: live, from the past, filters, prev_kv, progress, cancel.

use revkv::{Db, DeleteRequest, EventKind, Options, RecvError, WatchRequest};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn live_and_historical_watches_see_every_event_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    // A new store is at revision 1: its first write is 2.
    db.put("a/1", "x").expect("put"); // 2
    db.put("b/1", "y").expect("put"); // 3
    db.put("a/2", "z").expect("put"); // 4
    let live = db.watch(WatchRequest::prefix("a/")).expect("watch");
    let past = db
        .watch(WatchRequest::prefix("a/").start_revision(1).prev_kv())
        .expect("watch");
    db.put("a/1", "x2").expect("put"); // 5
    db.delete_range(DeleteRequest::prefix("a/"))
        .expect("delete"); // 6

    let mut got = Vec::new();
    while got.len() < 5 {
        let resp = past.recv_timeout(WAIT).expect("response");
        assert!(!resp.progress_notify);
        got.extend(resp.events);
    }
    let summary: Vec<(EventKind, &[u8], u64)> = got
        .iter()
        .map(|e| (e.kind, e.kv.key.as_slice(), e.kv.mod_revision))
        .collect();
    assert_eq!(
        summary,
        vec![
            (EventKind::Put, &b"a/1"[..], 2),
            (EventKind::Put, &b"a/2"[..], 4),
            (EventKind::Put, &b"a/1"[..], 5),
            (EventKind::Delete, &b"a/1"[..], 6),
            (EventKind::Delete, &b"a/2"[..], 6),
        ]
    );
    assert_eq!(
        got[2].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b"x".to_vec())
    );
    assert_eq!(
        got[4].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b"z".to_vec())
    );
    assert_eq!(past.try_recv(), Err(RecvError::Empty));

    let first = live.recv_timeout(WAIT).expect("response");
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].kv.value, b"x2");
    assert_eq!(first.events[0].prev_kv, None, "prev_kv not asked for");
    let second = live.recv_timeout(WAIT).expect("response");
    assert_eq!(
        second.events.len(),
        2,
        "both deletes of revision 6 together"
    );
    assert_eq!(second.revision, 6);

    db.request_progress();
    let progress = live.recv_timeout(WAIT).expect("progress");
    assert!(progress.progress_notify);
    assert_eq!(progress.revision, 6);
}

#[test]
fn filters_future_start_and_cancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let deletes = db.watch(WatchRequest::key("k").no_put()).expect("watch");
    let future = db
        .watch(WatchRequest::key("k").start_revision(4))
        .expect("watch");
    db.put("k", "1").expect("put"); // 2 (a new store is at 1)
    db.delete("k").expect("delete"); // 3
    db.put("k", "2").expect("put"); // 4
    let d = deletes.recv_timeout(WAIT).expect("response");
    assert_eq!(d.events.len(), 1);
    assert_eq!(
        (d.events[0].kind, d.events[0].kv.mod_revision),
        (EventKind::Delete, 3)
    );
    let f = future.recv_timeout(WAIT).expect("response");
    assert_eq!(f.events.len(), 1);
    assert_eq!(f.events[0].kv.mod_revision, 4);
    future.cancel();
    db.close().expect("close");
    assert_eq!(deletes.recv_timeout(WAIT), Err(RecvError::Ended));
}

#[test]
fn slow_watcher_falls_back_to_disk_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default().sync(revkv::SyncPolicy::Never),
    )
    .expect("open");
    let w = db.watch(WatchRequest::prefix("")).expect("watch");
    for i in 0..2000u32 {
        db.put(format!("k{}", i % 10), i.to_string()).expect("put");
    }
    // A new store is at revision 1: write i is revision i + 2.
    let mut next = 2u64;
    while next <= 2001 {
        let resp = w.recv_timeout(WAIT).expect("response");
        for e in resp.events {
            assert_eq!(e.kv.mod_revision, next, "no gap, no duplicate");
            assert_eq!(e.kv.value, (next - 2).to_string().into_bytes());
            next += 1;
        }
    }
}
