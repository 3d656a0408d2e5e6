//! The key-index checkpoint (format.md §8a): an open that starts from it
//! must serve exactly what a full scan of the log serves, and a checkpoint
//! that is damaged or does not fit the log must be ignored (and removed),
//! never trusted.

use revkv::format::checkpoint::{decode_checkpoint, CheckpointEncoder, CheckpointRev};
use revkv::{
    Db, DeleteRequest, KeyRange, KeyValue, ManualClock, Op, Options, PutRequest, RangeRequest, Txn,
};
use std::fs;
use std::path::Path;
use std::sync::Arc;

const CLOCK_START_MS: u64 = 1_700_000_000_000;

fn options() -> Options {
    Options::default()
        .segment_size(4096)
        .clock(Arc::new(ManualClock::new(CLOCK_START_MS)))
}

/// Writes a history with overwrites, deletes, a delete-range, a txn,
/// leases (one revoked) and a compaction, over several small segments.
fn write_history(db: &Db, round: u64) {
    let lease = db.lease_grant(3600).expect("grant").id;
    let doomed = db.lease_grant(60).expect("grant").id;
    for i in 0..120u64 {
        let key = format!("k{:03}", (i * 7 + round) % 45);
        let value = format!("v{round}-{i}-{}", "x".repeat((i % 5) as usize * 20));
        let req = match i % 9 {
            0 => PutRequest::new(key, value).lease(lease),
            1 => PutRequest::new(key, value).lease(doomed),
            _ => PutRequest::new(key, value),
        };
        db.put_with(req).expect("put");
        if i % 11 == 0 {
            db.delete(format!("k{:03}", (i * 3) % 45)).expect("delete");
        }
    }
    db.delete_range(DeleteRequest::new(KeyRange::range("k010", "k014")))
        .expect("delete range");
    db.txn(Txn::new().and_then([
        Op::put(format!("t{round}"), "in a txn"),
        Op::put("k020", "txn overwrite"),
    ]))
    .expect("txn");
    db.lease_revoke(doomed).expect("revoke");
}

/// Every revision's range, (revision, indexed keys, indexed revisions), and
/// the leases.
type View = (Vec<(u64, Vec<KeyValue>)>, (u64, u64, u64), Vec<String>);

/// Everything a reader can observe: every revision's full range from the
/// compaction point up, the index sizes, and the leases with their keys.
fn observe(db: &Db) -> View {
    let (lo, hi) = (db.compact_revision().max(1), db.current_revision());
    let ranges = (lo..=hi)
        .map(|rev| {
            let resp = db
                .range(RangeRequest::new(KeyRange::all()).revision(rev))
                .expect("range");
            (rev, resp.kvs)
        })
        .collect();
    let stats = db.stats().expect("stats");
    let leases = db
        .leases()
        .expect("leases")
        .into_iter()
        .map(|id| {
            let ttl = db.lease_time_to_live(id, true).expect("ttl");
            format!("{id}: {}/{} {:?}", ttl.ttl, ttl.granted_ttl, ttl.keys)
        })
        .collect();
    (
        ranges,
        (stats.revision, stats.indexed_keys, stats.indexed_revisions),
        leases,
    )
}

/// A closed store with history, a compaction in the middle, and its view.
fn closed_store() -> (tempfile::TempDir, View) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 0);
    let at = db.current_revision() - 40;
    db.compact_physical(at).expect("compact");
    write_history(&db, 1);
    let view = observe(&db);
    assert!(db.stats().expect("stats").segments > 3, "several segments");
    db.close().expect("close");
    (dir, view)
}

fn open_and_observe(dir: &Path) -> View {
    let db = Db::open(dir, options()).expect("open");
    let view = observe(&db);
    db.close().expect("close");
    view
}

/// Re-encodes the checkpoint in `dir` through `change` (header, keys).
fn rewrite_checkpoint(
    dir: &Path,
    change: impl FnOnce(
        &mut revkv::format::checkpoint::CheckpointHeader,
        &mut Vec<(Vec<u8>, i64, Vec<CheckpointRev>)>,
    ),
) {
    let path = dir.join("KEYINDEX");
    let bytes = fs::read(&path).expect("read KEYINDEX");
    let (mut header, keys) = decode_checkpoint(&bytes).expect("decode KEYINDEX");
    let mut keys: Vec<_> = keys
        .map(|k| {
            let k = k.expect("key");
            (k.key.to_vec(), k.lease, k.revs().collect::<Vec<_>>())
        })
        .collect();
    change(&mut header, &mut keys);
    header.key_count = keys.len() as u64;
    let mut enc = CheckpointEncoder::new(&header);
    for (k, lease, revs) in &keys {
        enc.key(k, *lease, revs);
    }
    fs::write(&path, enc.finish()).expect("write KEYINDEX");
}

#[test]
fn checkpointed_open_serves_what_a_full_scan_serves() {
    let (dir, before_close) = closed_store();
    assert!(dir.path().join("KEYINDEX").exists(), "close wrote it");
    let without = test_support::copy_dir(dir.path());
    fs::remove_file(without.path().join("KEYINDEX")).expect("remove");

    let from_checkpoint = open_and_observe(dir.path());
    let from_scan = open_and_observe(without.path());
    assert_eq!(from_checkpoint, before_close);
    assert_eq!(from_scan, before_close);
    // Every revision's range was compared, not only the newest.
    assert!(before_close.0.len() > 40);
    assert!(!before_close.2.is_empty(), "a live lease with keys");
}

#[test]
fn open_reads_the_checkpoint_instead_of_the_log() {
    let (dir, before_close) = closed_store();
    // A checkpoint that (wrongly) lacks one key, under a good checksum: if
    // open used it, the key is missing. This only shows that it is read;
    // such a file cannot come from revkv itself.
    let mut dropped = Vec::new();
    rewrite_checkpoint(dir.path(), |_, keys| {
        let i = keys
            .iter()
            .position(|(k, _, _)| k == b"k020")
            .expect("k020");
        dropped = keys.remove(i).0;
    });
    let db = Db::open(dir.path(), options()).expect("open");
    assert_eq!(dropped, b"k020");
    assert_eq!(db.get("k020").expect("get"), None);
    assert_eq!(db.get("k021").expect("get"), {
        let latest = before_close.0.last().expect("a revision");
        latest.1.iter().find(|kv| kv.key == b"k021").cloned()
    });
}

/// Copies the store in `dir` while `db` has it open (every write
/// acknowledged, so synced: what a crash leaves), closes it, and opens the
/// copy: from the checkpoint (open deletes one it does not use), and
/// showing `live`.
fn crash_and_reopen(db: Db, dir: &Path, live: &View) {
    let crashed = test_support::copy_dir(dir);
    db.close().expect("close");
    let db = Db::open(crashed.path(), options()).expect("open");
    assert!(crashed.path().join("KEYINDEX").exists(), "checkpoint used");
    assert_eq!(observe(&db), *live);
    db.close().expect("close");
}

#[test]
fn writes_after_the_checkpoint_are_replayed_after_a_crash() {
    let (dir, _) = closed_store();
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 2);
    let live = observe(&db);
    // Every write above is acknowledged, so fdatasync'ed: a copy of the
    // files now is what a crash leaves.
    crash_and_reopen(db, dir.path(), &live);
}

#[test]
fn compaction_replaces_the_checkpoint_it_makes_stale() {
    let (dir, _) = closed_store();
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 3);
    let at = db.current_revision() - 10;
    db.compact_physical(at).expect("compact");
    let bytes = fs::read(dir.path().join("KEYINDEX")).expect("read");
    let (header, _) = decode_checkpoint(&bytes).expect("decode");
    assert_eq!(
        (header.compact_scheduled, header.compact_finished),
        (at, at)
    );
    let live = observe(&db);
    crash_and_reopen(db, dir.path(), &live);
}

#[test]
fn a_stale_checkpoint_is_ignored_and_removed() {
    let (dir, _) = closed_store();
    let old = fs::read(dir.path().join("KEYINDEX")).expect("read");
    let db = Db::open(dir.path(), options()).expect("open");
    write_history(&db, 4);
    db.compact_physical(db.current_revision() - 5)
        .expect("compact");
    write_history(&db, 5);
    let live = observe(&db);
    db.close().expect("close");
    // The checkpoint from before the compaction names segments that are gone.
    fs::write(dir.path().join("KEYINDEX"), &old).expect("put back the old one");
    let db = Db::open(dir.path(), options()).expect("open");
    assert!(!dir.path().join("KEYINDEX").exists(), "stale one removed");
    assert_eq!(observe(&db), live);
    db.close().expect("close");
    assert!(
        dir.path().join("KEYINDEX").exists(),
        "close wrote a new one"
    );
}

#[test]
fn a_checkpoint_whose_end_does_not_fit_the_log_is_ignored() {
    for shift in [1i64, -1, 1 << 20] {
        let (dir, before_close) = closed_store();
        rewrite_checkpoint(dir.path(), |h, _| {
            h.end = h.end.saturating_add_signed(shift);
        });
        let db = Db::open(dir.path(), options()).expect("open");
        assert!(!dir.path().join("KEYINDEX").exists(), "shift {shift}");
        assert_eq!(observe(&db), before_close, "shift {shift}");
    }
}

#[test]
fn a_checkpoint_behind_its_own_end_is_ignored() {
    // It claims an older revision than the frames before its `end` hold.
    let (dir, before_close) = closed_store();
    rewrite_checkpoint(dir.path(), |h, keys| {
        h.revision -= 1;
        for (_, _, revs) in keys.iter_mut() {
            revs.retain(|r| r.main <= h.revision);
        }
        keys.retain(|(_, _, revs)| !revs.is_empty());
    });
    let db = Db::open(dir.path(), options()).expect("open");
    assert!(!dir.path().join("KEYINDEX").exists());
    assert_eq!(observe(&db), before_close);
}

#[test]
fn a_damaged_checkpoint_is_ignored() {
    let (dir, before_close) = closed_store();
    let path = dir.path().join("KEYINDEX");
    let mut bytes = fs::read(&path).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    fs::write(&path, &bytes).expect("write");
    let db = Db::open(dir.path(), options()).expect("open");
    assert_eq!(observe(&db), before_close);
    // A truncated one too.
    db.close().expect("close");
    let len = fs::metadata(&path).expect("stat").len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(len / 3))
        .expect("truncate");
    assert_eq!(open_and_observe(dir.path()), before_close);
}

#[test]
fn a_close_with_nothing_new_keeps_the_checkpoint_file() {
    use std::os::unix::fs::MetadataExt;
    let (dir, before_close) = closed_store();
    let inode = || {
        fs::metadata(dir.path().join("KEYINDEX"))
            .expect("KEYINDEX")
            .ino()
    };
    let first = inode();
    // Reads only: the checkpoint on disk is current, nothing is rewritten.
    assert_eq!(open_and_observe(dir.path()), before_close);
    assert_eq!(inode(), first);
    // A write makes it stale: the next close installs a new one.
    let db = Db::open(dir.path(), options()).expect("open");
    db.put("new", "write").expect("put");
    db.close().expect("close");
    let second = inode();
    assert_ne!(second, first);
    let db = Db::open(dir.path(), options()).expect("open");
    assert_eq!(
        db.get("new").expect("get").expect("present").value,
        b"write"
    );
    db.close().expect("close");
    assert_eq!(inode(), second);
}
