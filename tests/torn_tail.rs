//! A torn tail: the last frame of the active segment was only partly written
//! when the process died. For every byte offset inside that frame the store
//! must open, lose exactly that last revision, keep every earlier one intact,
//! and continue numbering from the previous revision. Garbage after the last
//! frame (a preallocated or half-written block) is a torn tail too.

use revkv::{Db, DeleteRequest, Error, KeyRange, KeyValue, Op, Options, RangeRequest, Txn};
use std::fs;
use std::path::{Path, PathBuf};
use test_support::files::active_segment;

fn options() -> Options {
    Options::default()
        .segment_size(4096)
        .sync(revkv::SyncPolicy::Never)
}

/// One acknowledged write of one key: `value == None` is a delete.
#[derive(Debug, Clone)]
struct Written {
    rev: u64,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("metadata").len()
}

fn all_kvs(db: &Db) -> Vec<KeyValue> {
    db.range(RangeRequest::new(KeyRange::all()))
        .expect("range all")
        .kvs
}

/// Every write in `history` reads back exactly at its revision.
fn check_history(db: &Db, history: &[Written], what: &str) {
    for w in history {
        let got = db.get_at(&w.key, w.rev).expect("get_at");
        match &w.value {
            Some(v) => {
                let kv = got.unwrap_or_else(|| {
                    panic!("{what}: revision {} of {:?} is missing", w.rev, w.key)
                });
                assert_eq!(&kv.value, v, "{what}: value at revision {}", w.rev);
                assert_eq!(kv.mod_revision, w.rev, "{what}: mod revision");
                assert!(
                    kv.version >= 1 && kv.create_revision <= w.rev,
                    "{what}: {kv:?}"
                );
            }
            None => assert_eq!(got, None, "{what}: deleted at revision {}", w.rev),
        }
    }
}

/// A store with several sealed segments and a few frames in the active one,
/// then one last multi-operation frame. Returns the history before the last
/// write, the state before it, the active segment's length before and after
/// it, and the last write's revision.
struct Fixture {
    dir: tempfile::TempDir,
    history: Vec<Written>,
    state_before: Vec<KeyValue>,
    seg: PathBuf,
    len_before: u64,
    len_after: u64,
    last_rev: u64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    let mut history = Vec::new();
    let mut since_roll = 0;
    let mut segments = 1;
    let mut i = 0u32;
    while segments < 3 || since_roll < 4 {
        let key = format!("key/{}", i % 7).into_bytes();
        if i % 5 == 4 {
            let r = db.delete(key.clone()).expect("delete");
            if r.deleted == 1 {
                history.push(Written {
                    rev: r.revision,
                    key,
                    value: None,
                });
            }
        } else if i % 5 == 2 {
            let other = format!("pair/{}", i % 3).into_bytes();
            let v = format!("txn-value-{i}").into_bytes();
            let r = db
                .txn(Txn::new().and_then([
                    Op::put(key.clone(), v.clone()),
                    Op::put(other.clone(), v.clone()),
                ]))
                .expect("txn");
            history.push(Written {
                rev: r.revision,
                key,
                value: Some(v.clone()),
            });
            history.push(Written {
                rev: r.revision,
                key: other,
                value: Some(v),
            });
        } else {
            let v = format!("value-{i}-{}", "x".repeat((i % 40) as usize)).into_bytes();
            let r = db.put(key.clone(), v.clone()).expect("put");
            history.push(Written {
                rev: r.revision,
                key,
                value: Some(v),
            });
        }
        let now = db.stats().expect("stats").segments;
        if now != segments {
            segments = now;
            since_roll = 0;
        } else {
            since_roll += 1;
        }
        i += 1;
    }
    let state_before = all_kvs(&db);
    let prev_rev = db.current_revision();
    // A live store's active segment is allocated ahead of its last frame;
    // a closed one ends at it.
    db.close().expect("close");
    let seg = active_segment(dir.path());
    let len_before = file_len(&seg);
    let db = Db::open(dir.path(), options()).expect("reopen");
    // The last write: one frame holding three operations.
    let last = db
        .txn(Txn::new().and_then([
            Op::put("last/1", "L".repeat(120)),
            Op::put("last/2", "M".repeat(60)),
            Op::Delete(DeleteRequest::key("key/1")),
        ]))
        .expect("last txn");
    assert_eq!(last.revision, prev_rev + 1);
    db.close().expect("close");
    assert_eq!(
        active_segment(dir.path()),
        seg,
        "the last write must not roll the segment"
    );
    let len_after = file_len(&seg);
    assert!(len_after > len_before + 200, "{len_before} -> {len_after}");
    assert!(segments >= 3);
    Fixture {
        dir,
        history,
        state_before,
        seg,
        len_before,
        len_after,
        last_rev: last.revision,
    }
}

#[test]
fn every_cut_inside_the_last_frame_loses_only_that_frame() {
    let f = fixture();
    let seg_name = f.seg.file_name().expect("name").to_owned();
    for cut in f.len_before..f.len_after {
        let copy = test_support::copy_dir(f.dir.path());
        let seg = copy.path().join(&seg_name);
        fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .expect("open segment")
            .set_len(cut)
            .expect("truncate");
        let what = format!("cut at {cut} (frame {}..{})", f.len_before, f.len_after);
        let db = Db::open(copy.path(), options()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(db.current_revision(), f.last_rev - 1, "{what}");
        assert!(
            matches!(
                db.get_at("last/1", f.last_rev),
                Err(Error::FutureRevision { requested, current })
                    if requested == f.last_rev && current == f.last_rev - 1
            ),
            "{what}"
        );
        assert_eq!(db.get("last/1").expect("get"), None, "{what}");
        assert_eq!(db.get("last/2").expect("get"), None, "{what}");
        assert_eq!(all_kvs(&db), f.state_before, "{what}: state");
        check_history(&db, &f.history, &what);
        // The torn bytes are gone from the file.
        assert_eq!(file_len(&seg), f.len_before, "{what}: truncated length");
        // Numbering continues from the previous revision.
        let put = db.put("after", cut.to_string()).expect("put after");
        assert_eq!(put.revision, f.last_rev, "{what}");
        db.close().expect("close");

        let db = Db::open(copy.path(), options()).expect("reopen");
        assert_eq!(db.current_revision(), f.last_rev, "{what}");
        let after = db.get("after").expect("get").expect("after present");
        assert_eq!(after.value, cut.to_string().into_bytes());
        assert_eq!(after.mod_revision, f.last_rev);
        assert_eq!(db.get("last/1").expect("get"), None, "{what}");
        check_history(&db, &f.history, &what);
        db.close().expect("close");
    }
}

#[test]
fn garbage_after_the_last_frame_is_a_torn_tail() {
    let f = fixture();
    let seg_name = f.seg.file_name().expect("name").to_owned();
    let mut rng = test_support::Rng::new(1);
    let mut tails: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [1usize, 3, 4, 8, 9, 10, 11, 17, 64, 500, 4096, 9000] {
        tails.push((format!("{n} random bytes"), rng.bytes(n)));
    }
    for _ in 0..8 {
        let n = rng.between(1, 2000) as usize;
        tails.push((format!("{n} random bytes"), rng.bytes(n)));
    }
    tails.push(("4096 zero bytes".into(), vec![0; 4096]));
    tails.push(("7 zero bytes".into(), vec![0; 7]));
    tails.push(("300 0xff bytes".into(), vec![0xff; 300]));
    // A frame header that promises more payload than follows, with a
    // plausible kind byte: a half-written frame.
    let mut header = Vec::new();
    header.extend_from_slice(&200u32.to_le_bytes());
    header.extend_from_slice(&rng.bytes(4));
    header.extend_from_slice(&[1, 0]);
    header.extend_from_slice(&rng.bytes(50));
    tails.push(("a half-written frame".into(), header));

    for (what, tail) in tails {
        let copy = test_support::copy_dir(f.dir.path());
        let seg = copy.path().join(&seg_name);
        let mut bytes = fs::read(&seg).expect("read segment");
        assert_eq!(bytes.len() as u64, f.len_after);
        bytes.extend_from_slice(&tail);
        fs::write(&seg, &bytes).expect("write segment");

        let db = Db::open(copy.path(), options()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(db.current_revision(), f.last_rev, "{what}");
        check_history(&db, &f.history, &what);
        let last1 = db.get("last/1").expect("get").expect("last/1 present");
        assert_eq!(
            (last1.value, last1.mod_revision),
            ("L".repeat(120).into_bytes(), f.last_rev),
            "{what}"
        );
        assert_eq!(db.get("key/1").expect("get"), None, "{what}");
        assert_eq!(file_len(&seg), f.len_after, "{what}: garbage truncated");
        let put = db.put("after", "garbage").expect("put after");
        assert_eq!(put.revision, f.last_rev + 1, "{what}");
        db.close().expect("close");

        let db = Db::open(copy.path(), options()).expect("reopen");
        assert_eq!(db.current_revision(), f.last_rev + 1, "{what}");
        assert_eq!(
            db.get("after").expect("get").map(|kv| kv.value),
            Some(b"garbage".to_vec())
        );
        check_history(&db, &f.history, &what);
        db.close().expect("close");
    }
}

/// The writer allocates the active segment ahead of its appends (so that an
/// fdatasync does not also write the file's length): what a crash leaves is
/// the frames, then zeros to the allocated end. Open cuts the zeros as a torn
/// tail and loses nothing; a clean close leaves no zeros behind.
#[test]
fn the_preallocated_tail_of_a_live_store_is_cut_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || Options::default().sync(revkv::SyncPolicy::Always);
    let db = Db::open(dir.path(), options()).expect("open");
    let mut acked = Vec::new();
    for i in 0..20u32 {
        let key = format!("k{i:02}");
        let rev = db.put(key.as_str(), format!("v{i}")).expect("put").revision;
        acked.push((key, rev));
    }
    let image = test_support::copy_dir(dir.path());
    db.close().expect("close");

    let seg = active_segment(dir.path());
    let closed = fs::read(&seg).expect("read closed segment");
    let image_seg = image.path().join(seg.file_name().expect("name"));
    let live = fs::read(&image_seg).expect("read image segment");
    assert!(
        live.len() > closed.len(),
        "live segment {} bytes, closed {}: not allocated ahead",
        live.len(),
        closed.len()
    );
    assert_eq!(&live[..closed.len()], &closed[..], "same frames");
    assert!(
        live[closed.len()..].iter().all(|&b| b == 0),
        "zeros after the last frame"
    );

    let db = Db::open(image.path(), options()).expect("open crash image");
    assert_eq!(file_len(&image_seg), closed.len() as u64, "zeros cut");
    for (i, (key, rev)) in acked.iter().enumerate() {
        let kv = db.get(key).expect("get").expect("acknowledged put");
        assert_eq!(
            (kv.value, kv.mod_revision),
            (format!("v{i}").into_bytes(), *rev)
        );
    }
    // 20 writes on a new store (at 1): the next is 22.
    assert_eq!(db.put("next", "x").expect("put").revision, 22);
    db.close().expect("close");
}

/// A crash in the middle of the last group's write: its frame is torn
/// inside the zeros allocated ahead (the first half written, the rest still
/// zero). Open cuts that frame and the zeros, and keeps every write
/// acknowledged before it.
#[test]
fn a_frame_torn_inside_the_allocated_zeros_is_cut_with_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || Options::default().sync(revkv::SyncPolicy::Always);
    let db = Db::open(dir.path(), options()).expect("open");
    for i in 0..20u32 {
        db.put(format!("k{i:02}"), vec![b'v'; 300]).expect("put");
    }
    let before = test_support::copy_dir(dir.path());
    db.put("last", vec![b'x'; 3000]).expect("put");
    let after = test_support::copy_dir(dir.path());
    db.close().expect("close");
    let closed_len = fs::read(active_segment(dir.path())).expect("read").len();

    let name = active_segment(dir.path());
    let name = name.file_name().expect("name");
    let seg_before = fs::read(before.path().join(name)).expect("read");
    let seg_path = after.path().join(name);
    let mut seg = fs::read(&seg_path).expect("read");
    assert!(seg.len() > closed_len, "allocated ahead");
    // Frames end where the closed store's segment ends; the last frame
    // starts where they ended before it was written.
    let last_start = seg_before.iter().rposition(|&b| b != 0).expect("frames") + 1;
    assert!(seg[closed_len..].iter().all(|&b| b == 0));
    let mid = last_start + (closed_len - last_start) / 2;
    seg[mid..closed_len].fill(0);
    fs::write(&seg_path, &seg).expect("write torn image");

    let db = Db::open(after.path(), options()).expect("open torn image");
    assert_eq!(db.current_revision(), 21, "20 writes on a store at 1");
    assert_eq!(db.get("last").expect("get"), None);
    assert_eq!(
        file_len(&seg_path),
        last_start as u64,
        "torn frame and zeros cut"
    );
    for i in 0..20u32 {
        let kv = db.get(format!("k{i:02}")).expect("get").expect("acked");
        assert_eq!(
            (kv.value, kv.mod_revision),
            (vec![b'v'; 300], u64::from(i) + 2)
        );
    }
    let report = db.verify().expect("verify");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(db.put("next", "x").expect("put").revision, 22);
}
