//! Damaged files: a bad frame anywhere but the torn tail of the active
//! segment is `Error::Corruption` naming the file and the damaged frame's
//! offset; a future format version is `Error::UnsupportedVersion`; a lost or
//! damaged `.idx` is derived data and is rebuilt; a missing segment is an
//! error, never a panic.

use revkv::format::frame::decode_frame;
use revkv::format::segment::SEGMENT_HEADER_LEN;
use revkv::{Db, Error, KeyRange, KeyValue, Options, RangeRequest, SyncPolicy};
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use test_support::files::segments;

fn small_segments() -> Options {
    Options::default()
        .segment_size(4096)
        .sync(SyncPolicy::Never)
}

/// `(offset, length)` of every frame of a segment file.
fn frames(seg: &Path) -> Vec<(usize, usize)> {
    let bytes = fs::read(seg).expect("read segment");
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER_LEN;
    while pos < bytes.len() {
        let (_, len) = decode_frame(&bytes[pos..])
            .unwrap_or_else(|e| panic!("{}: frame at {pos}: {e}", seg.display()));
        out.push((pos, len));
        pos += len;
    }
    out
}

fn flip_bit(path: &Path, at: usize, bit: u8) {
    let mut bytes = fs::read(path).expect("read");
    bytes[at] ^= 1 << bit;
    fs::write(path, bytes).expect("write");
}

/// Copies every regular file of `from` into a fresh temporary directory.
/// Opens, failing the test if `Db::open` panics instead of returning.
fn open_no_panic(dir: &Path, options: Options) -> revkv::Result<Db> {
    catch_unwind(AssertUnwindSafe(|| Db::open(dir, options)))
        .unwrap_or_else(|_| panic!("Db::open panicked on {}", dir.display()))
}

/// A closed store of `n` puts over 13 keys; returns its directory and every
/// put as (revision, key, value).
fn store(options: Options, n: u32) -> (tempfile::TempDir, Vec<(u64, String, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options).expect("open");
    let mut puts = Vec::new();
    for i in 0..n {
        let key = format!("key/{:02}", i % 13);
        let value = format!("value-{i}-{}", "v".repeat((i % 23) as usize));
        let rev = db.put(key.clone(), value.clone()).expect("put").revision;
        puts.push((rev, key, value));
    }
    db.close().expect("close");
    (dir, puts)
}

fn check_puts(db: &Db, puts: &[(u64, String, String)]) {
    for (rev, key, value) in puts {
        let kv = db
            .get_at(key, *rev)
            .expect("get_at")
            .unwrap_or_else(|| panic!("revision {rev} of {key} is missing"));
        assert_eq!(kv.value, value.as_bytes(), "revision {rev}");
        assert_eq!(kv.mod_revision, *rev);
    }
}

fn all_kvs(db: &Db) -> Vec<KeyValue> {
    db.range(RangeRequest::new(KeyRange::all()))
        .expect("range all")
        .kvs
}

/// Checks that `result` is `Error::Corruption` in `file` inside the frame
/// `(start, len)`; with `exact`, at the frame's own offset. A mismatch comes
/// back as a description.
fn check_corruption(
    result: revkv::Result<Db>,
    file: &Path,
    (start, len): (usize, usize),
    exact: bool,
    what: &str,
) -> Result<(), String> {
    match result {
        Err(Error::Corruption {
            file: f,
            offset: o,
            reason,
        }) => {
            if f != file {
                return Err(format!(
                    "{what}: Corruption names {} instead of {} ({reason})",
                    f.display(),
                    file.display()
                ));
            }
            let o = o as usize;
            if exact && o != start {
                return Err(format!(
                    "{what}: Corruption offset {o}, expected the damaged frame's offset {start} ({reason})"
                ));
            }
            if !(start..start + len).contains(&o) {
                return Err(format!(
                    "{what}: Corruption offset {o} outside the damaged frame {start}..{} ({reason})",
                    start + len
                ));
            }
            Ok(())
        }
        Err(e) => Err(format!("{what}: expected Corruption, got {e:?}")),
        Ok(_) => Err(format!("{what}: damaged store opened")),
    }
}

/// Fails the test with every collected mismatch.
fn assert_no_failures(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Flips one bit at several places of a frame in the middle of a sealed
/// segment and checks each open against `check_corruption`.
fn flip_in_sealed_segment(exact: bool) {
    let (dir, _) = store(small_segments(), 400);
    let segs = segments(dir.path());
    assert!(segs.len() >= 5, "only {} segments", segs.len());
    let target = &segs[segs.len() / 2];
    let frames = frames(target);
    assert!(frames.len() >= 5, "only {} frames", frames.len());
    let mut failures = Vec::new();
    // The first frame, one in the middle, and the last one: damage at the
    // end of a sealed segment is no torn tail either.
    for index in [0, frames.len() / 2, frames.len() - 1] {
        let (start, len) = frames[index];
        let positions = [
            ("payload middle", start + len / 2, 3),
            ("payload first byte", start + 10, 0),
            ("payload last byte", start + len - 1, 0),
            ("checksum", start + 5, 6),
            ("kind byte", start + 8, 1),
            ("flags byte", start + 9, 4),
            ("length bit 0", start, 0),
            ("length bit 15", start + 1, 7),
            ("length bit 19", start + 2, 3),
            ("length bit 31", start + 3, 7),
        ];
        for (what, at, bit) in positions {
            let copy = test_support::copy_dir(dir.path());
            let seg = copy.path().join(target.file_name().expect("name"));
            flip_bit(&seg, at, bit);
            let what = format!(
                "{what} (byte {at}) of frame {index} at {start} of {} in a sealed segment",
                frames.len()
            );
            let result = open_no_panic(copy.path(), small_segments());
            if let Err(f) = check_corruption(result, &seg, (start, len), exact, &what) {
                failures.push(f);
            }
        }
    }
    assert_no_failures(failures);
}

#[test]
fn bit_flip_in_a_sealed_segment_is_corruption_inside_that_frame() {
    flip_in_sealed_segment(false);
}

// Regression test for a library bug this test found (fixed in d1cd690):
// for a frame whose checksum did not match (damage in its payload,
// checksum, kind or flags byte, or a length that still fits the file),
// `Error::Corruption::offset` was the frame's offset + 4, the position of
// the CRC field, because recovery added the codec's offset inside the frame
// to the frame's position. It must be the damaged frame's own offset.
#[test]
fn corruption_offset_is_the_damaged_frames_offset() {
    flip_in_sealed_segment(true);
}

#[test]
fn bad_frame_in_the_middle_of_the_active_segment_is_corruption_not_a_torn_tail() {
    let options = || Options::default().sync(SyncPolicy::Never);
    let (dir, puts) = store(options(), 60);
    let segs = segments(dir.path());
    assert_eq!(segs.len(), 1, "one active segment");
    let frames = frames(&segs[0]);
    assert_eq!(frames.len(), 60);
    let original = fs::read(&segs[0]).expect("read");
    // Frames in the middle, and the one right before the last frame (only a
    // single valid frame follows it); payload, checksum and length damage.
    let mut failures = Vec::new();
    for (index, at_in_frame, bit) in [(30, 20, 2), (58, 12, 5), (10, 2, 0), (20, 6, 1), (40, 2, 1)]
    {
        let (start, len) = frames[index];
        let copy = test_support::copy_dir(dir.path());
        let seg = copy.path().join(segs[0].file_name().expect("name"));
        flip_bit(&seg, start + at_in_frame, bit);
        let damaged = fs::read(&seg).expect("read");
        let what = format!(
            "byte {} of frame {index} at {start} in the active segment",
            start + at_in_frame
        );
        let result = open_no_panic(copy.path(), options());
        if let Err(f) = check_corruption(result, &seg, (start, len), false, &what) {
            failures.push(f);
        }
        // Nothing was truncated or rewritten: the valid frames after the
        // damage are still on disk.
        assert_eq!(fs::read(&seg).expect("read"), damaged, "{what}");
        assert_eq!(damaged.len(), original.len());
        // Still an error on a second attempt.
        assert!(matches!(
            open_no_panic(copy.path(), options()),
            Err(Error::Corruption { .. })
        ));
    }
    assert_no_failures(failures);
    // The undamaged original still opens with everything in it.
    let db = Db::open(dir.path(), options()).expect("open original");
    check_puts(&db, &puts);
    assert_eq!(db.current_revision(), 61, "60 writes on a store at 1");
}

/// The CRC every file uses is CRC-32/IEEE (format.md §2.2): its check value.
#[test]
fn crc32_matches_the_check_value() {
    assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
}

#[test]
fn manifest_of_a_future_version_is_unsupported() {
    let (dir, _) = store(small_segments(), 50);
    let path = dir.path().join("MANIFEST");
    let mut bytes = fs::read(&path).expect("read MANIFEST");
    assert_eq!(&bytes[..8], b"REVKVMAN");
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().expect("4")), 3);
    // A well-formed MANIFEST of version 4: the checksum is made valid again.
    let crc_at = bytes.len() - 4;
    test_support::set_header_version(&mut bytes, 4, crc_at);
    fs::write(&path, &bytes).expect("write MANIFEST");
    match open_no_panic(dir.path(), small_segments()) {
        Err(Error::UnsupportedVersion {
            file,
            found,
            supported,
        }) => {
            assert_eq!(file, path);
            assert_eq!((found, supported), (4, 3));
        }
        Err(e) => panic!("expected UnsupportedVersion, got {e:?}"),
        Ok(_) => panic!("a version 4 MANIFEST was accepted"),
    }
    // Nothing was rewritten by the failed open.
    assert_eq!(fs::read(&path).expect("read"), bytes);
}

#[test]
fn segment_of_a_future_version_is_unsupported() {
    let (dir, _) = store(small_segments(), 200);
    let segs = segments(dir.path());
    let seg = &segs[1];
    let mut bytes = fs::read(seg).expect("read");
    assert_eq!(&bytes[..8], b"REVKVSEG");
    test_support::set_header_version(&mut bytes, 4, 24);
    fs::write(seg, &bytes).expect("write");
    match open_no_panic(dir.path(), small_segments()) {
        Err(Error::UnsupportedVersion { file, found, .. }) => {
            assert_eq!(&file, seg);
            assert_eq!(found, 4);
        }
        Err(e) => panic!("expected UnsupportedVersion, got {e:?}"),
        Ok(_) => panic!("a version 4 segment was accepted"),
    }
}

#[test]
fn lost_or_damaged_index_of_a_sealed_segment_is_rebuilt() {
    let (dir, puts) = store(small_segments(), 300);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    let state = {
        let db = Db::open(dir.path(), small_segments()).expect("open");
        all_kvs(&db)
    };
    let idx1 = segs[1].with_extension("idx");
    let idx2 = segs[2].with_extension("idx");
    let original1 = fs::read(&idx1).expect("read idx");
    let original2 = fs::read(&idx2).expect("read idx");
    assert!(original1.len() > 32 + 24, "index holds entries");
    // The active segment has no index.
    assert!(!segs[segs.len() - 1].with_extension("idx").exists());

    fs::remove_file(&idx1).expect("remove idx");
    // Damage an entry of another segment's index (its revision field).
    flip_bit(&idx2, 32 + 24 + 1, 4);
    let db = open_no_panic(dir.path(), small_segments()).expect("open without idx");
    check_puts(&db, &puts);
    assert_eq!(all_kvs(&db), state);
    assert_eq!(db.current_revision(), 301, "300 writes on a store at 1");
    assert_eq!(db.put("new", "v").expect("put").revision, 302);
    db.close().expect("close");
    assert_eq!(fs::read(&idx1).expect("rebuilt idx"), original1);
    assert_eq!(fs::read(&idx2).expect("rebuilt idx"), original2);
}

#[test]
fn missing_segment_is_an_error_not_a_panic() {
    let (dir, _) = store(small_segments(), 300);
    let segs = segments(dir.path());
    assert!(segs.len() >= 4);
    let cases = [
        ("a sealed segment", segs[segs.len() / 2].clone(), true),
        ("the first segment", segs[0].clone(), true),
        ("the active segment", segs[segs.len() - 1].clone(), false),
    ];
    for (what, seg, with_idx) in cases {
        let copy = test_support::copy_dir(dir.path());
        let name = seg.file_name().expect("name");
        fs::remove_file(copy.path().join(name)).expect("remove segment");
        if with_idx {
            assert!(copy.path().join(name).with_extension("idx").exists());
        }
        match open_no_panic(copy.path(), small_segments()) {
            Ok(_) => panic!("opened with {what} missing"),
            Err(e @ (Error::Io { .. } | Error::Corruption { .. })) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(&*name.to_string_lossy()),
                    "{what}: the error should name the missing file: {msg}"
                );
            }
            Err(e) => panic!("{what}: unexpected error {e:?}"),
        }
    }
}
