//! Automatic compaction, etcd's two modes: keep the last N revisions, or the
//! history of the last period. Off by default.

use revkv::{AutoCompaction, Db, Error, Options, SyncPolicy};
use std::time::{Duration, Instant};

/// Polls until the store's compaction revision reaches `at_least` (the
/// compactor checks on its own schedule), or gives up after `within`.
fn wait_for_compaction(db: &Db, at_least: u64, within: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let c = db.compact_revision();
        if c >= at_least || start.elapsed() > within {
            return c;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn off_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().sync(SyncPolicy::Never)).expect("open");
    for i in 0..50u32 {
        db.put("k", i.to_string()).expect("put");
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(db.compact_revision(), 0);
    assert_eq!(db.get_at("k", 1).expect("get").expect("kept").value, b"0");
}

#[test]
fn keep_last_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .auto_compaction(AutoCompaction::Revisions(10));
    let db = Db::open(dir.path(), options).expect("open");
    for i in 0..100u32 {
        db.put("k", i.to_string()).expect("put");
    }
    let c = wait_for_compaction(&db, 90, Duration::from_secs(10));
    assert_eq!(c, 90, "compacts at current - 10");
    assert!(matches!(
        db.get_at("k", 89),
        Err(Error::Compacted {
            compact_revision: 90
        })
    ));
    assert_eq!(db.get_at("k", 95).expect("get").expect("kept").value, b"94");
}

#[test]
fn keep_last_period() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .auto_compaction(AutoCompaction::Period(Duration::from_millis(300)));
    let db = Db::open(dir.path(), options).expect("open");
    for i in 0..20u32 {
        db.put("k", i.to_string()).expect("put");
    }
    // Revision 20 was current at some moment; once more than the period has
    // passed, the history before it goes.
    // No write follows, so the target can never pass revision 20.
    let c = wait_for_compaction(&db, 20, Duration::from_secs(10));
    assert_eq!(c, 20);
    assert_eq!(db.get_at("k", 20).expect("get").expect("kept").value, b"19");
    assert!(matches!(db.get_at("k", 19), Err(Error::Compacted { .. })));
}
