//! Compaction end to end: reads below fail, at and above are unchanged,
//! space is reclaimed, deleted keys stay deleted, reopen keeps it all.

use revkv::{Db, Error, Op, Options, RangeRequest, SyncPolicy, Txn, WatchRequest};
use std::time::Duration;

fn options() -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync(SyncPolicy::Never)
}

#[test]
fn compaction_keeps_history_at_and_above_and_reclaims_space() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    db.put("alive", "early").expect("put"); // 2 (a new store is at 1)
    for i in 0..3000u32 {
        db.put("churn", format!("value-{i:05}-{}", "x".repeat(100)))
            .expect("put");
    }
    let del = db.delete("churn").expect("delete").revision; // 3003
    db.put("after", "a").expect("put"); // 3004
    let before = db.stats().expect("stats").disk_bytes;
    db.compact_physical(del - 1).expect("compact"); // at 3002: churn live
    let after = db.stats().expect("stats").disk_bytes;
    assert!(after * 5 < before, "space reclaimed: {before} -> {after}");
    assert!(matches!(
        db.get_at("churn", 3001),
        Err(Error::Compacted {
            compact_revision: 3002
        })
    ));
    assert_eq!(
        db.get_at("churn", 3002)
            .expect("get")
            .expect("live at the point")
            .value,
        format!("value-02999-{}", "x".repeat(100)).into_bytes()
    );
    assert_eq!(
        db.get_at("alive", 3002).expect("get").expect("kept").value,
        b"early"
    );
    assert_eq!(db.get("churn").expect("get"), None);
    assert!(matches!(db.compact(3002), Err(Error::Compacted { .. })));
    assert!(matches!(
        db.compact(9999),
        Err(Error::FutureRevision { .. })
    ));

    // Compact past the delete: the key must not come back, at any revision.
    db.compact_physical(del + 1).expect("compact");
    for rev in [del + 1, 0] {
        assert_eq!(db.get_at("churn", rev).expect("get"), None);
        assert_eq!(
            db.range(RangeRequest::prefix("").revision(rev))
                .expect("range")
                .count,
            2
        );
    }
    db.close().expect("close");

    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.compact_revision(), del + 1);
    assert_eq!(db.current_revision(), del + 1);
    assert_eq!(db.get("churn").expect("get"), None);
    assert_eq!(
        db.get("alive").expect("get").expect("kept").create_revision,
        2
    );
    assert!(matches!(
        db.get_at("alive", del),
        Err(Error::Compacted { .. })
    ));
    assert!(matches!(
        db.watch(WatchRequest::key("churn").start_revision(del)),
        Err(Error::Compacted { compact_revision }) if compact_revision == del + 1
    ));
}

#[test]
fn watch_at_the_compaction_revision_gets_the_delete_after_reopen() {
    // Incident 3: delete K at X, compact at X, reopen, watch at X.
    let dir = tempfile::tempdir().expect("tempdir");
    let x = {
        let db = Db::open(dir.path(), options()).expect("open");
        for i in 0..500u32 {
            db.put("k", format!("{i}-{}", "y".repeat(200)))
                .expect("put");
        }
        let x = db.delete("k").expect("delete").revision;
        db.compact_physical(x).expect("compact");
        x
    };
    let db = Db::open(dir.path(), options()).expect("reopen");
    let w = db
        .watch(WatchRequest::key("k").start_revision(x))
        .expect("watch at X");
    let resp = w.recv_timeout(Duration::from_secs(5)).expect("the delete");
    assert_eq!(resp.events.len(), 1);
    assert_eq!(resp.events[0].kind, revkv::EventKind::Delete);
    assert_eq!(resp.events[0].kv.mod_revision, x);
}

#[test]
fn compaction_reclaims_history_still_in_the_active_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every write fits in the first segment: nothing would ever be sealed.
    let options = Options::default().segment_size(4 << 20);
    let db = Db::open(dir.path(), options.clone()).expect("open");
    for i in 0..3000u32 {
        db.put(format!("key-{}", i % 10), format!("{i:0>200}"))
            .expect("put");
    }
    let before = db.stats().expect("stats");
    assert_eq!(before.segments, 1);
    let at = db.current_revision();
    db.compact_physical(at).expect("compact");
    let after = db.stats().expect("stats");
    // 3,000 records of ~260 bytes down to the 10 live ones (and a segment
    // header or two).
    assert!(before.disk_bytes > 700_000, "{before:?}");
    assert!(after.disk_bytes < 20_000, "{after:?}");
    for k in 0..10u32 {
        let kv = db.get(format!("key-{k}")).expect("get").expect("live");
        assert_eq!(kv.value, format!("{:0>200}", 2990 + k).into_bytes());
        assert_eq!(kv.version, 300);
    }
    assert!(matches!(
        db.get_at("key-0", at - 20),
        Err(Error::Compacted { compact_revision }) if compact_revision == at
    ));
    db.close().expect("close");
    // And the same after reopening (from the checkpoint compaction wrote).
    let db = Db::open(dir.path(), options).expect("reopen");
    assert_eq!(db.stats().expect("stats").disk_bytes, after.disk_bytes);
    assert_eq!(
        db.get("key-3").expect("get").expect("live").value,
        format!("{:0>200}", 2993).into_bytes()
    );
}

/// Compaction re-encodes a frame whose ops it thins out under the writer's
/// rule (format.md §4.4): a many-op frame stays compressed only if that
/// halves it, so a read of compacted history does not decompress a whole
/// frame. Here values are random (incompressible) and only the fixed op
/// fields would compress.
#[test]
fn compaction_output_keeps_many_op_frames_plain_unless_halved() {
    use revkv::format::frame::decode_frame;
    use revkv::format::record::{decode_txn, OpKind};
    use revkv::format::segment::SEGMENT_HEADER_LEN;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().segment_size(64 << 10)).expect("open");
    let mut rng = test_support::Rng::new(1);
    let mut random = |n: usize| rng.bytes(n);
    for t in 0..20 {
        let ops: Vec<Op> = (0..100)
            .map(|i| Op::put(format!("k{t:02}-{i:03}"), random(150)))
            .collect();
        db.txn(Txn::new().and_then(ops)).expect("txn");
    }
    for t in 0..20 {
        let ops: Vec<Op> = (0..100)
            .step_by(2)
            .map(|i| Op::delete(format!("k{t:02}-{i:03}")))
            .collect();
        db.txn(Txn::new().and_then(ops)).expect("txn");
    }
    db.compact_physical(db.current_revision()).expect("compact");
    let (mut thinned, mut compressed) = (0, 0);
    for path in test_support::files::segments(dir.path()) {
        let bytes = std::fs::read(&path).expect("read segment");
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < bytes.len() {
            let (frame, len) = decode_frame(&bytes[pos..]).expect("frame");
            let payload = frame.payload().expect("payload");
            if let Ok((_, ops)) = decode_txn(&payload) {
                if ops.len() == 50 && ops.iter().all(|o| o.kind == OpKind::Put) {
                    thinned += 1;
                    compressed += usize::from(frame.compressed);
                }
            }
            pos += len;
        }
    }
    assert_eq!(thinned, 20, "every 100-put frame was thinned to 50 puts");
    assert_eq!(
        compressed, 0,
        "a thinned frame that zstd cannot halve is plain"
    );
    let kv = db.get("k07-051").expect("get").expect("live");
    assert_eq!(kv.value.len(), 150);
    assert_eq!(db.get("k07-050").expect("get"), None);
}
