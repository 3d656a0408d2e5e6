//! The library answers as etcd 3.4 does (issue 15). Each test replays what
//! was run against a real etcd 3.4.23 (etcdctl -w json and etcd's JSON
//! gateway, on a fresh data directory) and asserts etcd's answer field by
//! field; the comments quote what etcd printed.

use revkv::{
    Compare, CompareOp, Db, DeleteRequest, Error, KeyRange, Op, OpResponse, Options, PutRequest,
    RangeRequest, Txn, TxnResponse, WatchRequest,
};

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default()).expect("open")
}

/// The header revision of every op response, in order.
fn op_revisions(resp: &TxnResponse) -> Vec<u64> {
    resp.responses
        .iter()
        .map(|r| match r {
            OpResponse::Put(p) => p.revision,
            OpResponse::Delete(d) => d.revision,
            OpResponse::Range(g) => g.revision,
        })
        .collect()
}

fn range_of(resp: &TxnResponse, i: usize) -> &revkv::RangeResponse {
    match &resp.responses[i] {
        OpResponse::Range(g) => g,
        other => panic!("op {i} is not a range: {other:?}"),
    }
}

fn delete_of(resp: &TxnResponse, i: usize) -> &revkv::DeleteResponse {
    match &resp.responses[i] {
        OpResponse::Delete(d) => d,
        other => panic!("op {i} is not a delete: {other:?}"),
    }
}

/// Item 1. Each op of a txn answers at the revision of its point of the
/// txn: the store's revision until the first op that writes something, the
/// txn's new revision from that op on. etcd, on a store at revision 2:
/// `get k/x; del k/d; put k/b v9` (k/d absent) -> 2, 2, 3 (header 3);
/// then `del k/nothing; get k/b` -> 3, 3 (header 3, nothing written);
/// `put k/c 1; get k/b; del k/zz; put k/e 1` -> 4, 4, 4, 4;
/// `get k/b; del k/b; get k/b` -> 4, 5 (deleted 1), 5 (count 0).
#[test]
fn txn_ops_answer_at_their_point_of_the_txn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let base = db.put("a", "1").expect("put").revision;

    let t = db
        .txn(Txn::new().and_then([Op::get("k/x"), Op::delete("k/d"), Op::put("k/b", "v9")]))
        .expect("txn");
    assert!(t.succeeded);
    assert_eq!(t.revision, base + 1);
    assert_eq!(op_revisions(&t), [base, base, base + 1]);
    assert_eq!(range_of(&t, 0).count, 0);
    assert_eq!(delete_of(&t, 1).deleted, 0);

    let t = db
        .txn(Txn::new().and_then([Op::delete("k/nothing"), Op::get("k/b")]))
        .expect("txn");
    assert_eq!(t.revision, base + 1);
    assert_eq!(op_revisions(&t), [base + 1, base + 1]);
    let kv = &range_of(&t, 1).kvs[0];
    assert_eq!(
        (
            kv.value.as_slice(),
            kv.create_revision,
            kv.mod_revision,
            kv.version
        ),
        (&b"v9"[..], base + 1, base + 1, 1)
    );
    assert_eq!(db.current_revision(), base + 1, "nothing was written");

    let t = db
        .txn(Txn::new().and_then([
            Op::put("k/c", "1"),
            Op::get("k/b"),
            Op::delete("k/zz"),
            Op::put("k/e", "1"),
        ]))
        .expect("txn");
    assert_eq!(t.revision, base + 2);
    assert_eq!(op_revisions(&t), [base + 2; 4]);
    assert_eq!(range_of(&t, 1).kvs[0].mod_revision, base + 1);
    assert_eq!(delete_of(&t, 2).deleted, 0);

    let t = db
        .txn(Txn::new().and_then([Op::get("k/b"), Op::delete("k/b"), Op::get("k/b")]))
        .expect("txn");
    assert_eq!(t.revision, base + 3);
    assert_eq!(op_revisions(&t), [base + 2, base + 3, base + 3]);
    assert_eq!(range_of(&t, 0).count, 1);
    assert_eq!(delete_of(&t, 1).deleted, 1);
    assert_eq!(range_of(&t, 2).count, 0);

    // A read-only txn answers at the store's revision throughout, and a get
    // at a past revision inside a txn still answers at the txn's point.
    let t = db
        .txn(Txn::new().and_then([
            Op::get("a"),
            Op::Range(RangeRequest::key("k/b").revision(base + 1)),
        ]))
        .expect("txn");
    assert_eq!(t.revision, base + 3);
    assert_eq!(op_revisions(&t), [base + 3, base + 3]);
    assert_eq!(range_of(&t, 1).kvs[0].value, b"v9");
}

/// Item 2. A range whose end sorts before its key holds no key: etcd
/// answers a get of `[k/b0, k/b)` with count 0 and a delete of it with
/// deleted 0 at the current revision; a compare over it compares like one
/// absent key (version = 0 holds, value = "x" does not, though k/b0 holds
/// "x"); a txn holding such ops runs, in either branch. And a put of k/b0
/// beside a delete of `[k/b0, k/b)` is no duplicate: the delete answers at
/// the revision before the put's.
#[test]
fn a_range_whose_end_sorts_before_its_key_holds_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let rev = db.put("k/b0", "x").expect("put").revision;
    let reversed = || KeyRange::range("k/b0", "k/b");

    let got = db.range(RangeRequest::new(reversed())).expect("range");
    assert_eq!(
        (got.count, got.kvs.len(), got.more, got.revision),
        (0, 0, false, rev)
    );
    let counted = db
        .range(RangeRequest::new(reversed()).count_only())
        .expect("range");
    assert_eq!((counted.count, counted.revision), (0, rev));
    let empty = db
        .range(RangeRequest::range("k/b0", "k/b0"))
        .expect("range");
    assert_eq!(empty.count, 0);
    let del = db
        .delete_range(DeleteRequest::new(reversed()).prev_kv())
        .expect("delete");
    assert_eq!((del.deleted, del.revision, del.prev_kvs.len()), (0, rev, 0));
    assert_eq!(db.current_revision(), rev);

    // etcd: compare version("k/b0".."k/b") = 0 -> succeeded; success
    // [get reversed, put k/r 1] -> [range at 6, put at 7].
    let t = db
        .txn(
            Txn::new()
                .when([Compare::version("k/b0", CompareOp::Equal, 0).over(reversed())])
                .and_then([
                    Op::Range(RangeRequest::new(reversed())),
                    Op::put("k/r", "1"),
                ])
                .or_else([Op::Delete(DeleteRequest::new(reversed()))]),
        )
        .expect("txn");
    assert!(t.succeeded);
    assert_eq!(op_revisions(&t), [rev, rev + 1]);
    assert_eq!(range_of(&t, 0).count, 0);

    // etcd: compare value("k/b0".."k/b") = "x" -> failed; failure [delete
    // reversed, get reversed] -> both at 7, deleted 0, count 0.
    let t = db
        .txn(
            Txn::new()
                .when([Compare::value("k/b0", CompareOp::Equal, "x").over(reversed())])
                .and_then([Op::get("k/b0")])
                .or_else([
                    Op::Delete(DeleteRequest::new(reversed())),
                    Op::Range(RangeRequest::new(reversed())),
                ]),
        )
        .expect("txn");
    assert!(!t.succeeded);
    assert_eq!(
        (t.revision, op_revisions(&t)),
        (rev + 1, vec![rev + 1, rev + 1])
    );
    assert_eq!(delete_of(&t, 0).deleted, 0);
    assert_eq!(range_of(&t, 1).count, 0);

    // etcd: compare create("k/b0".."k/b0") = 0 -> succeeded.
    let t = db
        .txn(
            Txn::new()
                .when([Compare::create_revision("k/b0", CompareOp::Equal, 0)
                    .over(KeyRange::range("k/b0", "k/b0"))])
                .and_then([Op::Range(RangeRequest::range("k/b0", "k/b0"))]),
        )
        .expect("txn");
    assert!(t.succeeded);
    assert_eq!(range_of(&t, 0).count, 0);

    // etcd: success [delete reversed, put k/b0 2] -> [delete at 7, put at 8].
    let t = db
        .txn(Txn::new().and_then([
            Op::Delete(DeleteRequest::new(reversed())),
            Op::put("k/b0", "2"),
        ]))
        .expect("a delete of nothing overlaps no put");
    assert_eq!(op_revisions(&t), [rev + 1, rev + 2]);
    assert_eq!(db.get("k/b0").expect("get").expect("present").value, b"2");
}

/// Item 3. etcd refuses a watch of `[k/b, k/b)` and of `[k/b, k/a)`:
/// created and at once canceled, "mvcc: watcher range is empty" (etcdctl
/// exits 5). A from-key watch and a proper range are accepted.
#[test]
fn a_watch_of_an_empty_range_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for end in ["k/b", "k/a"] {
        match db.watch(WatchRequest::new(KeyRange::range("k/b", end))) {
            Err(Error::EmptyWatchRange { key, range_end }) => {
                assert_eq!(
                    (key.as_slice(), range_end.as_slice()),
                    (&b"k/b"[..], end.as_bytes())
                );
            }
            other => panic!("[k/b, {end}): {:?}", other.map(|_| "a watcher")),
        }
    }
    let err = db
        .watch(WatchRequest::new(KeyRange::range("k/b", "k/b")))
        .map(|_| ())
        .expect_err("empty");
    assert!(err.to_string().contains("watcher range is empty"), "{err}");
    for ok in [
        KeyRange::from_key("k/b"),
        KeyRange::range("k/b", "k/c"),
        KeyRange::single("k/b"),
        KeyRange::all(),
    ] {
        let w = db.watch(WatchRequest::new(ok.clone()).start_revision(1));
        assert!(w.is_ok(), "{ok:?}");
    }
}

/// Item 4. Of two faults, etcd reports the one it checks first: an empty
/// key anywhere (compares, success, failure), then a key written twice in
/// a branch (success, then failure), then the request's size, then, in the
/// branch that runs only, every put's lease, then every read's revision.
/// Each line below is what etcd's JSON gateway answered.
#[test]
fn a_txn_with_two_faults_reports_etcds_choice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default().max_value_size(16)).expect("open");
    let first = db.put("a", "1").expect("put").revision;
    db.put("a", "2").expect("put");
    db.put("a", "3").expect("put");
    db.compact(first + 1).expect("compact");
    let current = db.current_revision();
    let future = || Op::Range(RangeRequest::key("a").revision(current + 100));
    let compacted = || Op::Range(RangeRequest::key("a").revision(first));
    let leased = |key: &str, lease: i64| Op::Put(PutRequest::new(key, "2").lease(lease));
    let err = |txn: Txn| db.txn(txn).expect_err("refused");

    // get at a future revision, then put with an unknown lease:
    // "requested lease not found".
    let e = err(Txn::new().and_then([future(), leased("k/l", 12345)]));
    assert!(matches!(e, Error::LeaseNotFound { id: 12345 }), "{e:?}");
    // Two unknown leases: the first put's.
    let e = err(Txn::new().and_then([leased("k/l", 111), leased("k/m", 222)]));
    assert!(matches!(e, Error::LeaseNotFound { id: 111 }), "{e:?}");
    // A compacted get, then an unknown lease: the lease.
    let e = err(Txn::new().and_then([compacted(), leased("z", 5)]));
    assert!(matches!(e, Error::LeaseNotFound { id: 5 }), "{e:?}");
    // Two bad reads: the first one's ("future revision", then "has been
    // compacted" with the order swapped).
    let e = err(Txn::new().and_then([future(), compacted()]));
    assert!(matches!(e, Error::FutureRevision { .. }), "{e:?}");
    let e = err(Txn::new().and_then([compacted(), future()]));
    assert!(matches!(e, Error::Compacted { .. }), "{e:?}");
    // An unknown lease and an empty key: "key is not provided".
    let e = err(Txn::new().and_then([leased("k/l", 111), Op::put("", "2")]));
    assert!(matches!(e, Error::EmptyKey), "{e:?}");
    // An unknown lease and a key put twice: "duplicate key given in txn
    // request".
    let e = err(Txn::new().and_then([leased("k/l", 111), Op::put("k/l", "2")]));
    assert!(matches!(e, Error::DuplicateKeyInTxn { .. }), "{e:?}");
    // A duplicate in the success branch, an empty key in the failure
    // branch: the empty key.
    let e = err(Txn::new()
        .and_then([Op::put("z", "2"), Op::put("z", "2")])
        .or_else([Op::put("", "2")]));
    assert!(matches!(e, Error::EmptyKey), "{e:?}");
    // An empty compare key and a duplicate: the empty key.
    let e = err(Txn::new()
        .when([Compare::version("", CompareOp::Equal, 0)])
        .and_then([Op::put("z", "2"), Op::put("z", "2")]));
    assert!(matches!(e, Error::EmptyKey), "{e:?}");
    // An unknown lease in the success branch, a duplicate in the failure
    // branch: the duplicate.
    let e = err(Txn::new()
        .and_then([leased("z", 5)])
        .or_else([Op::put("y", "2"), Op::put("y", "2")]));
    assert!(
        matches!(&e, Error::DuplicateKeyInTxn { key } if key == b"y"),
        "{e:?}"
    );
    // Faults of the branch that does not run are checked only when they
    // need no store: an empty key or a duplicate there refuses the txn...
    let e = err(Txn::new()
        .and_then([Op::get("a")])
        .or_else([Op::put("", "2")]));
    assert!(matches!(e, Error::EmptyKey), "{e:?}");
    let e = err(Txn::new()
        .and_then([Op::get("a")])
        .or_else([Op::put("z", "2"), Op::put("z", "2")]));
    assert!(matches!(e, Error::DuplicateKeyInTxn { .. }), "{e:?}");
    // ... an unknown lease or a bad revision there does not.
    let t = db
        .txn(
            Txn::new()
                .and_then([Op::get("a")])
                .or_else([future(), leased("k/l", 12345)]),
        )
        .expect("the faulty branch does not run");
    assert!(t.succeeded);
    assert_eq!(range_of(&t, 0).kvs[0].value, b"3");
    // A value over the size limit (etcd: "request is too large"), a future
    // read and an unknown lease: the size.
    let big = Op::Put(PutRequest::new("q", vec![b'x'; 17]).lease(5));
    let e = err(Txn::new().and_then([future(), big]));
    assert!(
        matches!(e, Error::ValueTooLarge { len: 17, max: 16 }),
        "{e:?}"
    );
    assert_eq!(db.current_revision(), current, "no refused txn wrote");
}

/// Item 5. A new etcd is at revision 1 (a get answers with header
/// revision 1), its first write is revision 2, and it accepts a compaction
/// at revision 1 ("compacted revision 1"). A new revkv store is the same,
/// reopened too; it reports no compaction (0) until one is made.
#[test]
fn a_new_store_starts_at_revision_1_like_etcd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    assert_eq!(db.current_revision(), 1);
    assert_eq!(db.compact_revision(), 0);
    let got = db.range(RangeRequest::key("a")).expect("range");
    assert_eq!((got.revision, got.count), (1, 0));
    assert_eq!(db.get_at("a", 1).expect("revision 1 is readable"), None);
    assert!(matches!(
        db.get_at("a", 2),
        Err(Error::FutureRevision {
            requested: 2,
            current: 1
        })
    ));
    assert_eq!(db.delete("a").expect("delete").revision, 1);
    let t = db.txn(Txn::new().and_then([Op::get("a")])).expect("txn");
    assert_eq!((t.revision, op_revisions(&t)), (1, vec![1]));
    assert_eq!(db.stats().expect("stats").revision, 1);
    db.close().expect("close");
    drop(db);

    let db = open(dir.path());
    assert_eq!(db.current_revision(), 1, "reopened empty");
    let put = db.put("a", "1").expect("put");
    assert_eq!(put.revision, 2);
    let kv = db.get("a").expect("get").expect("present");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
    let w = db
        .watch(WatchRequest::key("a").start_revision(1))
        .expect("watch from 1");
    let resp = w
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("the put");
    assert_eq!(resp.events[0].kv.mod_revision, 2);
    db.compact(1).expect("a compaction at 1, as etcd accepts");
    assert_eq!(db.compact_revision(), 1);
    db.close().expect("close");
    drop(db);
    let db = open(dir.path());
    assert_eq!((db.current_revision(), db.compact_revision()), (2, 1));
}

/// Item 5, continued: an export of a store numbered from 1 (what format
/// versions 1 and 2 created) restores, numbers included, into a new store,
/// which is at revision 1 but holds nothing there.
#[test]
fn an_export_numbered_from_1_restores_into_a_new_store() {
    use revkv::{EventKind, ExportItem, ExportOp};
    let op = |key: &str, value: &str, create, version, prev| ExportOp {
        kind: EventKind::Put,
        key: key.into(),
        value: value.into(),
        create_revision: create,
        version,
        lease: 0,
        prev_mod_revision: prev,
    };
    let items = [
        ExportItem::Header {
            revision: 2,
            compact_revision: 0,
        },
        ExportItem::Revision {
            revision: 1,
            ops: vec![op("a", "1", 1, 1, 0)],
        },
        ExportItem::Revision {
            revision: 2,
            ops: vec![op("a", "2", 1, 2, 1)],
        },
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    for item in items.clone() {
        db.import(item).expect("import");
    }
    assert_eq!(db.current_revision(), 2);
    let old = db.get_at("a", 1).expect("get").expect("present at 1");
    assert_eq!((old.value.as_slice(), old.mod_revision), (&b"1"[..], 1));
    assert_eq!(db.put("b", "x").expect("put").revision, 3);
    assert!(db.verify().expect("verify").is_ok());
    // Once it holds a record, revision 1 is no longer free.
    let again = ExportItem::Revision {
        revision: 1,
        ops: vec![op("c", "1", 1, 1, 0)],
    };
    assert!(db.import(again).is_err());
    db.close().expect("close");
    drop(db);
    let db = open(dir.path());
    assert_eq!(db.current_revision(), 3);
    assert_eq!(db.get_at("a", 1).expect("get").expect("kept").value, b"1");
}

/// Item 6. etcd answers LeaseTimeToLive of an unknown, revoked or expired
/// lease with TTL -1 (`{"ID":"4660","TTL":"-1"}` from the JSON gateway;
/// etcdctl: `lease 0000000000001234 already expired`). The library keeps its
/// typed error; `LeaseTimeToLive::not_found` is etcd's answer, for the layer
/// that serves etcd's API (the tool today), as etcd's gRPC layer maps its
/// lessor's ErrLeaseNotFound.
#[test]
fn an_unknown_or_expired_lease_is_not_found_and_maps_to_ttl_minus_1() {
    use revkv::LeaseTimeToLive;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    assert!(matches!(
        db.lease_time_to_live(0x1234, true),
        Err(Error::LeaseNotFound { id: 0x1234 })
    ));
    assert_eq!(
        LeaseTimeToLive::not_found(0x1234),
        LeaseTimeToLive::new(0x1234, -1, 0)
    );
    let id = db.lease_grant(5).expect("grant").id;
    db.put_with(PutRequest::new("k", "v").lease(id))
        .expect("put");
    let live = db.lease_time_to_live(id, true).expect("live");
    assert_eq!(
        (live.ttl, live.granted_ttl, live.keys),
        (5, 5, vec![b"k".to_vec()])
    );
    // Revoked (an expired lease is revoked by the expiry thread the same
    // way): not found.
    db.lease_revoke(id).expect("revoke");
    assert!(matches!(
        db.lease_time_to_live(id, false),
        Err(Error::LeaseNotFound { id: i }) if i == id
    ));
}
