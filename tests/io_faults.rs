//! I/O faults: a full disk (ENOSPC on append) and a failing fsync (EIO).
//! Each gives a typed error, poisons the Db for writes while reads go on,
//! loses nothing acknowledged, and a reopen recovers.
//!
//! The faults are injected through the `failpoints` feature by setting
//! `REVKV_FAILPOINT` in this process, so this file holds a single test that
//! runs the cases one after another.

use revkv::{Db, Error, Options, RangeRequest};

fn case(fault: &str, expect_in_message: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for i in 0..20u32 {
        db.put(format!("k{i}"), format!("v{i}")).expect("put");
    }
    std::env::set_var("REVKV_FAILPOINT", fault);
    let failed = db.put("k-fail", "never acknowledged");
    std::env::remove_var("REVKV_FAILPOINT");
    match &failed {
        Err(e @ Error::Poisoned { cause }) => {
            // The typed I/O error is kept, with the file it concerns and its
            // source, and is the poisoned error's source in turn.
            let Error::Io { path, source, .. } = &**cause else {
                panic!("{fault}: expected an I/O cause, got {cause:?}");
            };
            assert!(
                source.to_string().contains(expect_in_message),
                "{fault}: {source}"
            );
            let path = path.as_deref().expect("the segment's path");
            assert_eq!(path.parent(), Some(dir.path()), "{fault}: {path:?}");
            assert_eq!(path.extension().and_then(|x| x.to_str()), Some("seg"));
            let inner = std::error::Error::source(e).expect("source");
            assert!(inner.to_string().contains(expect_in_message), "{inner}");
            let io = std::error::Error::source(inner).expect("the io::Error");
            assert!(io.to_string().contains(expect_in_message), "{io}");
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        other => panic!("{fault}: expected Poisoned, got {other:?}"),
    }
    // Poisoned for writes, even with the fault gone...
    assert!(matches!(
        db.put("k-after", "v"),
        Err(Error::Poisoned { .. })
    ));
    assert!(matches!(db.lease_grant(5), Err(Error::Poisoned { .. })));
    // ...while reads are served, without the failed write.
    assert_eq!(db.get("k7").expect("read").expect("present").value, b"v7");
    assert_eq!(db.get("k-fail").expect("read"), None);
    assert_eq!(db.current_revision(), 21, "20 writes on a store at 1");
    assert!(matches!(db.close(), Err(Error::Poisoned { .. })));

    let db = Db::open(dir.path(), Options::default()).expect("reopen recovers");
    let all = db.range(RangeRequest::prefix("k")).expect("range");
    for i in 0..20u32 {
        let key = format!("k{i}");
        let kv = all
            .kvs
            .iter()
            .find(|kv| kv.key == key.as_bytes())
            .expect("acknowledged write kept");
        assert_eq!(kv.value, format!("v{i}").into_bytes());
    }
    // The failed write was never acknowledged: whether its bytes reached the
    // disk is undetermined (an fsync error says nothing about that), but the
    // store is consistent either way and continues from its last revision.
    let current = db.current_revision();
    assert!(current == 21 || current == 22, "{fault}: current {current}");
    assert_eq!(
        db.put("k-new", "v").expect("put after reopen").revision,
        current + 1
    );
    assert!(db.verify().expect("verify").is_ok());
}

#[test]
fn disk_full_and_failing_fsync_poison_writes_and_lose_nothing() {
    case("writer.append_enospc", "No space left on device");
    case("writer.fsync_eio", "Input/output error");
}
