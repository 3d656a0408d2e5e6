//! A store written in format version 1 (fixed 41-byte op headers, version 1
//! in every file header, a MANIFEST without the initial revision) opens in
//! this build, reads exactly as it did, is marked version 3 before anything
//! new is written, and from then on mixes old and new records without
//! losing either (format.md §11). A version 2 store keeps its revision
//! numbering (its first write was 1) through the upgrade.
//!
//! The version 1 store is made by writing a store with this build and
//! rewriting every byte that versions 2 and 3 changed: each record
//! re-encoded with `OpEncoding::Fixed`, each header carrying version 1, the
//! MANIFEST laid out as version 1 did, the derived files (`.idx`,
//! `KEYINDEX`) dropped as an older build may have left none.

use revkv::format::frame::{decode_frame, encode_frame, FrameKind};
use revkv::format::manifest::{decode_manifest_and_version, encode_manifest_as};
use revkv::format::record::{decode_txn, encode_txn_as, op_encoding, OpEncoding};
use revkv::format::segment::SEGMENT_HEADER_LEN;
use revkv::{Db, KeyValue, Options, PutRequest, RangeRequest, SyncPolicy};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use test_support::files::with_ext;

fn options() -> Options {
    Options::default()
        .segment_size(8192)
        .sync(SyncPolicy::Never)
}

fn header_version(path: &Path) -> u32 {
    let bytes = fs::read(path).expect("read");
    u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"))
}

/// Rewrites a closed store's MANIFEST as format version `version` (1 or 2)
/// laid it out: without the initial revision.
fn downgrade_manifest(dir: &Path, version: u32) {
    let path = dir.join("MANIFEST");
    let (manifest, _) = decode_manifest_and_version(&fs::read(&path).expect("read MANIFEST"))
        .expect("decode MANIFEST");
    fs::write(&path, encode_manifest_as(version, &manifest)).expect("write MANIFEST");
}

/// Rewrites a closed store into what format version 1 wrote.
fn downgrade_to_version_1(dir: &Path) {
    for seg in with_ext(dir, "seg") {
        let bytes = fs::read(&seg).expect("read segment");
        let mut out = bytes[..SEGMENT_HEADER_LEN].to_vec();
        test_support::set_header_version(&mut out, 1, 24);
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < bytes.len() {
            let (frame, len) = decode_frame(&bytes[pos..]).expect("a sound frame");
            let payload = frame.payload().expect("payload").into_owned();
            if frame.kind == FrameKind::Txn {
                let (rev, ops) = decode_txn(&payload).expect("a sound record");
                let mut fixed = Vec::new();
                encode_txn_as(OpEncoding::Fixed, rev, &ops, &mut fixed);
                encode_frame(FrameKind::Txn, &fixed, None, &mut out);
            } else {
                out.extend_from_slice(&bytes[pos..pos + len]);
            }
            pos += len;
        }
        fs::write(&seg, out).expect("write segment");
    }
    for idx in with_ext(dir, "idx") {
        fs::remove_file(idx).expect("remove .idx");
    }
    let _ = fs::remove_file(dir.join("KEYINDEX"));
    downgrade_manifest(dir, 1);
}

/// Every record's op encoding in the store's segments, in file order.
fn encodings(dir: &Path) -> Vec<OpEncoding> {
    let mut out = Vec::new();
    for seg in with_ext(dir, "seg") {
        let bytes = fs::read(&seg).expect("read segment");
        let mut pos = SEGMENT_HEADER_LEN;
        while pos < bytes.len() {
            let (frame, len) = decode_frame(&bytes[pos..]).expect("a sound frame");
            if frame.kind == FrameKind::Txn {
                let payload = frame.payload().expect("payload");
                out.push(op_encoding(&payload).expect("a record header"));
            }
            pos += len;
        }
    }
    out
}

/// Everything a reader can see: the whole key space at every revision.
fn snapshot(db: &Db, revisions: std::ops::RangeInclusive<u64>) -> BTreeMap<u64, Vec<KeyValue>> {
    revisions
        .map(|rev| {
            let kvs = db
                .range(RangeRequest::prefix("").revision(rev))
                .expect("range")
                .kvs;
            (rev, kvs)
        })
        .collect()
}

/// Writes puts (some with a lease), overwrites and deletes over 40 keys,
/// enough to fill several 8 KiB segments.
fn write_history(db: &Db, rounds: u32) {
    let lease = db.lease_grant(3600).expect("lease").id;
    for i in 0..rounds {
        let key = format!("key/{:02}", (i * 7) % 40);
        if i % 9 == 4 {
            db.delete(key).expect("delete");
        } else if i % 5 == 0 {
            db.put_with(PutRequest::new(key, format!("leased-{i}")).lease(lease))
                .expect("put with lease");
        } else {
            db.put(key, format!("value-{i}-{}", "x".repeat((i % 37) as usize)))
                .expect("put");
        }
    }
}

#[test]
fn a_version_1_store_opens_reads_the_same_and_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 300);
    let before_rev = db.current_revision();
    let before = snapshot(&db, 1..=before_rev);
    db.close().expect("close");
    drop(db);

    downgrade_to_version_1(dir.path());
    let segs = with_ext(dir.path(), "seg");
    assert!(segs.len() >= 3, "several segments: {segs:?}");
    assert!(segs.iter().all(|s| header_version(s) == 1));
    assert_eq!(header_version(&dir.path().join("MANIFEST")), 1);
    let old = encodings(dir.path());
    assert!(!old.is_empty() && old.iter().all(|e| *e == OpEncoding::Fixed));

    // Open reads every revision exactly as the store that wrote it did.
    let db = Db::open(dir.path(), options()).expect("open a version 1 store");
    assert_eq!(db.current_revision(), before_rev);
    assert_eq!(snapshot(&db, 1..=before_rev), before);
    let report = db.verify().expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.revisions, old.len() as u64, "every record read");
    // The MANIFEST says version 3 before anything was appended, with the
    // initial revision of an old store: 0.
    let (manifest, version) =
        decode_manifest_and_version(&fs::read(dir.path().join("MANIFEST")).expect("read"))
            .expect("decode MANIFEST");
    assert_eq!((version, manifest.initial_revision), (3, 0));
    assert_eq!(encodings(dir.path()), old, "open rewrote no record");

    // New writes are compact, appended after the version 1 records, even in
    // the version 1 active segment; both read back after a reopen.
    write_history(&db, 200);
    let after_rev = db.current_revision();
    let after = snapshot(&db, 1..=after_rev);
    db.close().expect("close");
    drop(db);
    let mixed = encodings(dir.path());
    assert_eq!(&mixed[..old.len()], &old[..]);
    assert!(mixed[old.len()..].iter().all(|e| *e == OpEncoding::Compact));
    assert_eq!(
        (mixed.len() - old.len()) as u64,
        after_rev - before_rev,
        "one record per new revision"
    );
    let seg_versions: Vec<u32> = with_ext(dir.path(), "seg")
        .iter()
        .map(|s| header_version(s))
        .collect();
    assert!(seg_versions.contains(&1) && seg_versions.contains(&3));

    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(snapshot(&db, 1..=after_rev), after);

    // Compaction rewrites the records it thins (compact from then on) and
    // copies whole the ones it keeps; reads above the compaction point and
    // verify agree with what was there.
    let point = before_rev + 50;
    db.compact_physical(point).expect("compact");
    for (rev, kvs) in after.range(point..) {
        let got = db
            .range(RangeRequest::prefix("").revision(*rev))
            .expect("range")
            .kvs;
        assert_eq!(&got, kvs, "revision {rev} after compaction");
    }
    let report = db.verify().expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), options()).expect("reopen after compaction");
    assert_eq!(
        db.range(RangeRequest::prefix("")).expect("range").kvs,
        after[&after_rev]
    );
}

#[test]
fn this_build_writes_version_3_everywhere() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 200);
    db.close().expect("close");
    drop(db);
    let segs = with_ext(dir.path(), "seg");
    assert!(segs.len() >= 2);
    for file in segs
        .iter()
        .chain(&with_ext(dir.path(), "idx"))
        .chain([&dir.path().join("MANIFEST"), &dir.path().join("KEYINDEX")])
    {
        assert_eq!(header_version(file), 3, "{}", file.display());
    }
    let all = encodings(dir.path());
    assert!(!all.is_empty() && all.iter().all(|e| *e == OpEncoding::Compact));
    let (manifest, _) =
        decode_manifest_and_version(&fs::read(dir.path().join("MANIFEST")).expect("read"))
            .expect("decode MANIFEST");
    assert_eq!(manifest.initial_revision, 1, "a new store starts at 1");
}

/// A store created by a version 2 build was at revision 0 and wrote its
/// first write as revision 1: it keeps that numbering in this build, empty
/// or not, through the upgrade of its MANIFEST and every reopen after.
#[test]
fn a_version_2_store_keeps_its_revision_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    Db::open(dir.path(), options())
        .expect("create")
        .close()
        .expect("close");
    // What a version 2 build created: the same files, a MANIFEST without
    // the initial revision (and version 2 headers, read like version 3's).
    for seg in with_ext(dir.path(), "seg") {
        let mut bytes = fs::read(&seg).expect("read segment");
        test_support::set_header_version(&mut bytes, 2, 24);
        fs::write(&seg, bytes).expect("write segment");
    }
    let _ = fs::remove_file(dir.path().join("KEYINDEX"));
    downgrade_manifest(dir.path(), 2);

    let db = Db::open(dir.path(), options()).expect("open a version 2 store");
    assert_eq!(db.current_revision(), 0);
    assert_eq!(
        db.range(RangeRequest::prefix("")).expect("range").revision,
        0
    );
    assert_eq!(db.put("a", "1").expect("put").revision, 1);
    let (manifest, version) =
        decode_manifest_and_version(&fs::read(dir.path().join("MANIFEST")).expect("read"))
            .expect("decode MANIFEST");
    assert_eq!((version, manifest.initial_revision), (3, 0));
    db.close().expect("close");
    drop(db);
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.current_revision(), 1);
    let kv = db.get("a").expect("get").expect("present");
    assert_eq!((kv.create_revision, kv.mod_revision), (1, 1));
    assert_eq!(db.put("b", "2").expect("put").revision, 2);
}
