//! Automatic compaction, etcd's two modes: keep the last N revisions, or the
//! history of the last period. Off by default.
//!
//! No test sleeps: the compactor checks its mode on every round it runs, and
//! `compact_physical` returns only after a round that began after it was
//! called, so each test runs a round with a small manual compaction and then
//! asserts on what the auto-compaction check did in that round. The period
//! mode reads a `ManualClock`, which only the test moves.

use revkv::{AutoCompaction, Db, Error, ManualClock, Options, SyncPolicy};
use std::sync::Arc;
use std::time::Duration;

/// Puts "k" = i for each i in `from..to`; on a fresh store (at revision 1,
/// its first write 2), revision r holds value r - 2.
fn put_many(db: &Db, from: u32, to: u32) {
    for i in from..to {
        db.put("k", i.to_string()).expect("put");
    }
}

/// The value of "k" at `rev`, or the error reading it.
fn value_at(db: &Db, rev: u64) -> Result<Vec<u8>, Error> {
    Ok(db.get_at("k", rev)?.expect("k exists").value)
}

#[test]
fn off_by_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().sync(SyncPolicy::Never)).expect("open");
    put_many(&db, 0, 50);
    // A round of the compactor: only the manual compaction at 2 happens.
    db.compact_physical(2).expect("compact");
    assert_eq!(db.compact_revision(), 2);
    assert_eq!(value_at(&db, 2).expect("kept"), b"0");
}

#[test]
fn keep_last_revisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .auto_compaction(AutoCompaction::Revisions(10));
    let db = Db::open(dir.path(), options).expect("open");
    put_many(&db, 0, 100);
    // The round that rewrites the manual compaction at 2 also checks the
    // mode, which compacts at current - 10.
    db.compact_physical(2).expect("compact");
    assert_eq!(db.compact_revision(), 91, "compacts at current - 10");
    assert!(matches!(
        value_at(&db, 90),
        Err(Error::Compacted {
            compact_revision: 91
        })
    ));
    assert_eq!(value_at(&db, 91).expect("kept"), b"89");
    assert_eq!(value_at(&db, 96).expect("kept"), b"94");
}

#[test]
fn keep_last_period_on_the_manual_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(1_000_000);
    let period = Duration::from_secs(60);
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .clock(Arc::new(clock.clone()))
        .auto_compaction(AutoCompaction::Period(period));
    let db = Db::open(dir.path(), options).expect("open");

    // At t0 the store is at revision 11: a round samples that.
    put_many(&db, 0, 10);
    db.compact_physical(2).expect("compact");
    assert_eq!(db.compact_revision(), 2);

    // Half a period later it is at revision 21; nothing is a period old yet.
    clock.advance(period / 2);
    put_many(&db, 10, 20);
    db.compact_physical(3).expect("compact");
    assert_eq!(db.compact_revision(), 3, "no sample is a period old");
    assert_eq!(value_at(&db, 3).expect("kept"), b"1");

    // A whole period after t0: the history before revision 11 (current at
    // t0) goes, and no more.
    clock.advance(period / 2);
    db.compact_physical(4).expect("compact");
    assert_eq!(db.compact_revision(), 11);
    assert!(matches!(
        value_at(&db, 10),
        Err(Error::Compacted {
            compact_revision: 11
        })
    ));
    assert_eq!(value_at(&db, 11).expect("kept"), b"9");

    // Another half period: revision 21 was current a period ago.
    clock.advance(period / 2);
    db.compact_physical(12).expect("compact");
    assert_eq!(db.compact_revision(), 21);
    assert!(matches!(value_at(&db, 20), Err(Error::Compacted { .. })));
    assert_eq!(value_at(&db, 21).expect("kept"), b"19");
}
