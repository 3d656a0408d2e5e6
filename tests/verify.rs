//! `Db::verify`: a sound store reports nothing; damage and a forked key chain
//! (incident 2) are reported with file and offset.

use revkv::format::frame::{encode_frame, FrameKind};
use revkv::format::record::{encode_txn, OpKind, RecordOp};
use revkv::{Db, Options, PutRequest, SyncPolicy};
use std::fs::OpenOptions;
use std::io::Write;
use test_support::files::{active_segment, segments};

/// A store with 4 KiB segments, so that a few hundred writes make several.
fn open_small_segments(dir: &std::path::Path) -> Db {
    Db::open(
        dir,
        Options::default()
            .segment_size(4 << 10)
            .sync(SyncPolicy::Never),
    )
    .expect("open")
}

#[test]
fn sound_store_verifies_clean_across_segments_leases_and_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_small_segments(dir.path());
    let lease = db.lease_grant(100).expect("grant").id;
    for i in 0..600u32 {
        db.put(format!("k{}", i % 37), format!("v{i}"))
            .expect("put");
    }
    db.put_with(PutRequest::new("leased", "v").lease(lease))
        .expect("put");
    db.delete("k3").expect("delete");
    db.compact_physical(300).expect("compact");
    db.put("k3", "back").expect("put");
    let mut calls = 0;
    let report = db
        .verify_with_progress(&mut |done, total| {
            calls += 1;
            assert!(done <= total);
        })
        .expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.segments > 3);
    assert_eq!(report.keys, 38); // k0..k36 and leased
    assert!(report.revisions >= 303, "revisions {}", report.revisions);
    assert!(calls >= report.segments as usize);
}

#[test]
fn forked_chain_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = Db::open(dir.path(), Options::default()).expect("open");
        db.put("node", "1").expect("put"); // 2 (a new store is at 1)
        db.put("node", "2").expect("put"); // 3
        db.delete("node").expect("delete"); // 4
    }
    // Append a record for revision 5 whose previous revision is 2: a second
    // successor of revision 2, the fork of incident 2.
    let seg = active_segment(dir.path());
    let fork_offset = std::fs::metadata(&seg).expect("meta").len();
    let mut payload = Vec::new();
    encode_txn(
        5,
        &[RecordOp {
            sub: 0,
            kind: OpKind::Put,
            key: b"node",
            value: b"zombie",
            create_revision: 2,
            version: 2,
            lease: 0,
            prev_mod_revision: 2,
        }],
        &mut payload,
    );
    let mut frame = Vec::new();
    encode_frame(FrameKind::Txn, &payload, None, &mut frame);
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open seg")
        .write_all(&frame)
        .expect("append");

    let db = Db::open(dir.path(), Options::default()).expect("reopen");
    let report = db.verify().expect("verify");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert_eq!(p.file, seg);
    assert_eq!(p.offset, fork_offset);
    assert!(
        p.what.contains("previous revision 2") && p.what.contains("is 4"),
        "{}",
        p.what
    );
}

#[test]
fn bit_rot_after_open_is_reported_with_file_and_offset() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default()
            .segment_size(4096)
            .sync(SyncPolicy::Never),
    )
    .expect("open");
    for i in 0..200u32 {
        db.put(format!("key{i}"), "x".repeat(50)).expect("put");
    }
    assert!(db.verify().expect("verify").is_ok());
    let segs = segments(dir.path());
    let sealed = &segs[1];
    // The first frame starts right after the 32-byte header; rot a byte of
    // its payload.
    let file = OpenOptions::new().write(true).open(sealed).expect("open");
    file.write_all_at(&[0xFF], 32 + 20).expect("rot");
    let report = db.verify().expect("verify");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].file, *sealed);
    assert_eq!(report.problems[0].offset, 32);
    assert!(
        report.problems[0].what.contains("checksum"),
        "{}",
        report.problems[0].what
    );
}

#[test]
fn lease_frames_after_the_last_revision_are_verified_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    db.put("a", "1").expect("put");
    db.lease_grant(60).expect("grant");
    let report = db.verify().expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.frames, 2, "the transaction and the lease grant");
    // Closed, the active segment ends at its last frame (open, it is
    // allocated ahead).
    db.close().expect("close");
    let seg_len = std::fs::metadata(active_segment(dir.path()))
        .expect("meta")
        .len();
    assert_eq!(report.bytes, seg_len);
}

/// A verify during which a compaction seals, rewrites and deletes the segment
/// that was active when its snapshot was taken reports nothing: it reads
/// that segment through the snapshot's handle, not by reopening its path
/// (found by fuzzing `ops_model`: "open ...0001.seg: No such file"). The
/// compaction runs inside verify's progress callback, after the snapshot
/// and before the active segment is read.
#[test]
fn verify_reads_the_active_segment_of_its_snapshot_even_once_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open_small_segments(dir.path());
    // Sealed segments, and an active one with enough history for the
    // compactor to have the writer seal it.
    for i in 0..200u32 {
        db.put(format!("k{}", i % 7), format!("value number {i}"))
            .expect("put");
    }
    let active_then = active_segment(dir.path());
    let mut compacted = false;
    let report = db
        .verify_with_progress(&mut |_, _| {
            if !compacted {
                compacted = true;
                for i in 0..200u32 {
                    db.put(format!("k{}", i % 7), format!("later {i}"))
                        .expect("put");
                }
                db.compact_physical(db.current_revision()).expect("compact");
            }
        })
        .expect("verify");
    assert!(compacted);
    assert!(
        !segments(dir.path()).contains(&active_then),
        "the compaction did not delete the segment verify had as active"
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}
