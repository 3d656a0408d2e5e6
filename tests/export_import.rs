//! Export then import gives an equal store: the same key-values at every
//! retained revision, the same revisions, compaction point and leases.

use revkv::{Db, ExportItem, ManualClock, Options, PutRequest, RangeRequest, SyncPolicy};
use std::sync::Arc;

fn options(clock: &ManualClock) -> Options {
    Options::default()
        .segment_size(8 << 10)
        .sync(SyncPolicy::Never)
        .clock(Arc::new(clock.clone()))
}

fn export(db: &Db, history: bool) -> Vec<ExportItem> {
    let mut items = Vec::new();
    db.export(history, &mut |item| {
        items.push(item);
        Ok(())
    })
    .expect("export");
    items
}

fn import(dir: &std::path::Path, clock: &ManualClock, items: &[ExportItem]) -> Db {
    let db = Db::open(dir, options(clock)).expect("open target");
    let mut compact = 0;
    for item in items {
        if let ExportItem::Header {
            compact_revision, ..
        } = item
        {
            compact = *compact_revision;
        }
        db.import(item.clone()).expect("import");
    }
    if compact > 0 && compact <= db.current_revision() {
        db.compact(compact).expect("compact");
    }
    db
}

fn source(dir: &std::path::Path, clock: &ManualClock) -> Db {
    let db = Db::open(dir, options(clock)).expect("open");
    let lease = db.lease_grant_with_id(77, 60).expect("grant").id;
    for i in 0..400u32 {
        db.put(format!("k{:02}", i % 23), format!("v{i}"))
            .expect("put");
        if i % 50 == 7 {
            db.delete(format!("k{:02}", (i + 3) % 23)).expect("delete");
        }
    }
    db.put_with(PutRequest::new("leased", "x").lease(lease))
        .expect("put");
    db.compact_physical(200).expect("compact");
    db.put("after", "y").expect("put");
    db
}

#[test]
fn history_round_trip_is_equal_at_every_retained_revision() {
    let clock = ManualClock::new(1_800_000_000_000);
    let a_dir = tempfile::tempdir().expect("tempdir");
    let b_dir = tempfile::tempdir().expect("tempdir");
    let a = source(a_dir.path(), &clock);
    let items = export(&a, true);
    assert!(matches!(
        items[0],
        ExportItem::Header {
            compact_revision: 200,
            ..
        }
    ));
    let b = import(b_dir.path(), &clock, &items);
    assert_eq!(b.current_revision(), a.current_revision());
    assert_eq!(b.compact_revision(), 200);
    for rev in 200..=a.current_revision() {
        let ra = a
            .range(RangeRequest::prefix("").revision(rev))
            .expect("range a");
        let rb = b
            .range(RangeRequest::prefix("").revision(rev))
            .expect("range b");
        assert_eq!(ra.kvs, rb.kvs, "revision {rev}");
    }
    assert_eq!(b.leases().expect("leases"), vec![77]);
    let ttl = b.lease_time_to_live(77, true).expect("ttl");
    assert_eq!((ttl.ttl, ttl.keys), (60, vec![b"leased".to_vec()]));
    assert!(b.verify().expect("verify").is_ok());
    assert_eq!(
        export(&b, true),
        items,
        "exporting the copy gives the same stream"
    );
    // The copy keeps working: the next write continues the revisions.
    assert_eq!(
        b.put("new", "z").expect("put").revision,
        a.current_revision() + 1
    );
}

#[test]
fn latest_round_trip_keeps_live_state_and_refuses_a_non_empty_target() {
    let clock = ManualClock::new(1_800_000_000_000);
    let a_dir = tempfile::tempdir().expect("tempdir");
    let b_dir = tempfile::tempdir().expect("tempdir");
    let a = source(a_dir.path(), &clock);
    let items = export(&a, false);
    let b = import(b_dir.path(), &clock, &items);
    let live_a = a.range(RangeRequest::prefix("")).expect("range a");
    let live_b = b.range(RangeRequest::prefix("")).expect("range b");
    assert_eq!(live_a.kvs, live_b.kvs);
    assert!(b.verify().expect("verify").is_ok());
    assert!(
        b.import(items[0].clone()).is_err(),
        "header into a non-empty store"
    );
}
