//! The KV API end to end: put, get, range, delete, revisions, reopen.

use revkv::{Db, DeleteRequest, Error, KeyRange, Op, Options, PutRequest, RangeRequest, Txn};

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).expect("open")
}

#[test]
fn revisions_versions_and_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    // A new store is at revision 1 and its first write is 2, as etcd's.
    assert_eq!(db.current_revision(), 1);
    assert_eq!(db.put("a", "1").expect("put").revision, 2);
    assert_eq!(db.put("b", "x").expect("put").revision, 3);
    let r4 = db
        .put_with(PutRequest::new("a", "2").prev_kv())
        .expect("put");
    assert_eq!(r4.revision, 4);
    let prev = r4.prev_kv.expect("prev kv");
    assert_eq!(
        (prev.value.as_slice(), prev.mod_revision, prev.version),
        (&b"1"[..], 2, 1)
    );

    let a = db.get("a").expect("get").expect("present");
    assert_eq!(a.value, b"2");
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 4, 2));
    assert_eq!(
        db.get_at("a", 3).expect("get").expect("present").value,
        b"1"
    );
    assert_eq!(db.get_at("b", 2).expect("get"), None);
    assert_eq!(db.get_at("a", 1).expect("get"), None, "revision 1 is empty");

    let del = db.delete("a").expect("delete");
    assert_eq!((del.revision, del.deleted), (5, 1));
    assert_eq!(db.get("a").expect("get"), None);
    // A delete of nothing consumes no revision.
    let none = db.delete("a").expect("delete");
    assert_eq!((none.revision, none.deleted), (5, 0));
    // Recreated: a new generation starts at version 1.
    db.put("a", "3").expect("put");
    let a = db.get("a").expect("get").expect("present");
    assert_eq!((a.create_revision, a.mod_revision, a.version), (6, 6, 1));
    assert_eq!(db.get_at("a", 4).expect("get").expect("present").version, 2);

    assert!(matches!(
        db.get_at("a", 7),
        Err(Error::FutureRevision {
            requested: 7,
            current: 6
        })
    ));
}

#[test]
fn ranges_limits_and_prefixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for k in ["p/a", "p/b", "p/c", "q/a"] {
        db.put(k, k.to_uppercase()).expect("put");
    }
    let all = db.range(RangeRequest::prefix("p/")).expect("range");
    assert_eq!(all.count, 3);
    assert_eq!(
        all.kvs.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        vec![b"p/a".to_vec(), b"p/b".to_vec(), b"p/c".to_vec()]
    );
    assert_eq!(all.kvs[1].value, b"P/B");
    assert_eq!(all.revision, 5, "four writes on a store at 1");
    let limited = db
        .range(RangeRequest::prefix("p/").limit(2))
        .expect("range");
    assert_eq!(
        (limited.kvs.len(), limited.count, limited.more),
        (2, 3, true)
    );
    let counted = db
        .range(RangeRequest::new(KeyRange::all()).count_only())
        .expect("range");
    assert_eq!((counted.kvs.len(), counted.count), (0, 4));
    let keys = db
        .range(RangeRequest::range("p/b", "q").keys_only())
        .expect("range");
    assert_eq!(keys.kvs.len(), 2);
    assert!(keys
        .kvs
        .iter()
        .all(|kv| kv.value.is_empty() && kv.version == 1));
    let old = db
        .range(RangeRequest::prefix("").revision(3))
        .expect("range");
    assert_eq!(old.count, 2);

    let deleted = db
        .delete_range(DeleteRequest::prefix("p/").prev_kv())
        .expect("delete range");
    assert_eq!((deleted.deleted, deleted.revision), (3, 6));
    assert_eq!(deleted.prev_kvs.len(), 3);
    assert_eq!(db.range(RangeRequest::prefix("")).expect("range").count, 1);
    // A range whose end sorts before its key holds no key (etcd's answer;
    // tests/etcd_parity.rs has the rest).
    let reversed = db.range(RangeRequest::range("q/b", "q/a")).expect("range");
    assert_eq!((reversed.count, reversed.kvs.len()), (0, 0));
}

/// Ranges read their keys a batch at a time: every limit around and across
/// the batch size returns the right key-values, in order, from many
/// transactions and from one.
#[test]
fn ranges_of_many_keys_at_every_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let key = |i: usize| format!("k{i:03}").into_bytes();
    let value = |i: usize| format!("value of {i}").repeat(i % 7 + 1).into_bytes();
    // Odd keys one per transaction, even keys all in one (written backwards,
    // so that a frame's ops are not in key order).
    for i in (1..50).step_by(2) {
        db.put(key(i), value(i)).expect("put");
    }
    let evens = (0..50).step_by(2).rev().map(|i| Op::put(key(i), value(i)));
    db.txn(Txn::new().and_then(evens)).expect("txn");
    for limit in [0u64, 1, 15, 16, 17, 31, 32, 33, 49, 50, 51] {
        for keys_only in [false, true] {
            let mut req = RangeRequest::range("k", "l").limit(limit);
            if keys_only {
                req = req.keys_only();
            }
            let resp = db.range(req).expect("range");
            let want = if limit == 0 {
                50
            } else {
                50.min(limit as usize)
            };
            assert_eq!(resp.count, 50, "limit {limit}");
            assert_eq!(resp.more, want < 50, "limit {limit}");
            assert_eq!(resp.kvs.len(), want, "limit {limit}");
            for (i, kv) in resp.kvs.iter().enumerate() {
                assert_eq!(kv.key, key(i), "limit {limit}");
                let v = if keys_only { Vec::new() } else { value(i) };
                assert_eq!(kv.value, v, "limit {limit} key {i}");
                assert_eq!(kv.version, 1);
            }
        }
    }
}

#[test]
fn reopen_keeps_everything_across_many_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = || Options::default().segment_size(4096);
    {
        let db = Db::open(dir.path(), options()).expect("open");
        for i in 0..500u32 {
            db.put(format!("key{:03}", i % 97), format!("value-{i}"))
                .expect("put");
        }
        db.delete("key005").expect("delete");
        assert!(db.stats().expect("stats").segments > 5);
        db.close().expect("close");
        assert!(matches!(db.get("key001"), Err(Error::Closed)));
    }
    let db = Db::open(dir.path(), options()).expect("reopen");
    assert_eq!(db.current_revision(), 502, "501 writes on a store at 1");
    assert_eq!(db.get("key005").expect("get"), None);
    let k = db.get("key010").expect("get").expect("present");
    assert_eq!(k.value, b"value-495");
    assert_eq!(k.version, 6);
    assert_eq!(
        db.get_at("key010", 12)
            .expect("get")
            .expect("present")
            .value,
        b"value-10"
    );
    assert_eq!(db.put("new", "v").expect("put").revision, 503);
}

#[test]
fn second_open_is_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    assert!(matches!(
        Db::open(dir.path(), Options::default()),
        Err(Error::Locked { .. })
    ));
    db.close().expect("close");
    let again = open(dir.path());
    drop(again);
}

#[test]
fn no_store_without_create_if_missing_is_store_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let absent = dir.path().join("absent");
    for path in [absent.as_path(), dir.path()] {
        let err = Db::open(path, Options::default().create_if_missing(false))
            .map(drop)
            .expect_err("no store");
        assert!(
            matches!(&err, Error::StoreNotFound { path: named } if named == path),
            "{}: {err:?}",
            path.display()
        );
        assert_eq!(
            err.to_string(),
            format!("no revkv store in {}", path.display())
        );
    }
    // Nothing was created.
    assert!(!absent.exists());
    assert!(std::fs::read_dir(dir.path())
        .expect("list")
        .next()
        .is_none());
}

#[test]
fn bad_input_is_a_typed_error_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(
        dir.path(),
        Options::default().max_key_size(8).max_value_size(8),
    )
    .expect("open");
    db.put("k", "v").expect("put");
    assert!(matches!(db.put("", "v"), Err(Error::EmptyKey)));
    assert!(matches!(
        db.put("123456789", "v"),
        Err(Error::KeyTooLarge { len: 9, max: 8 })
    ));
    assert!(matches!(
        db.put("k", "123456789"),
        Err(Error::ValueTooLarge { len: 9, max: 8 })
    ));
    assert!(matches!(
        db.put_with(PutRequest::new("k", "v").lease(7)),
        Err(Error::LeaseNotFound { id: 7 })
    ));
    assert!(matches!(
        db.lease_grant_with_id(-3, 10),
        Err(Error::BadRequest { reason }) if reason.contains("-3")
    ));
    assert!(matches!(
        db.compact(0),
        Err(Error::BadRequest { reason }) if reason.contains("revision 0")
    ));
    assert_eq!(db.current_revision(), 2, "one write on a store at 1");
    assert_eq!(db.get("k").expect("get").expect("present").version, 1);
}
