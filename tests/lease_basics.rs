//! Leases: grant, attach, keep-alive, revoke, expiry on a controlled clock,
//! restart in the middle of a TTL, and incident 1 (expiry after a restart in
//! which every live key is older than the compaction point).

use revkv::{Db, Error, EventKind, ManualClock, Options, PutRequest, SyncPolicy, WatchRequest};
use std::sync::Arc;
use std::time::Duration;

const T0: u64 = 1_800_000_000_000;
const WAIT: Duration = Duration::from_secs(10);

fn options(clock: &ManualClock) -> Options {
    Options::default().clock(Arc::new(clock.clone()))
}

#[test]
fn grant_attach_keep_alive_and_revoke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let db = Db::open(dir.path(), options(&clock)).expect("open");
    let lease = db.lease_grant(10).expect("grant");
    assert_eq!(lease.ttl, 10);
    assert!(lease.id > 0);
    for k in ["a", "b", "c"] {
        db.put_with(PutRequest::new(k, "v").lease(lease.id))
            .expect("put");
    }
    db.put("c", "detached").expect("put"); // a put without the lease detaches
    let ttl = db.lease_time_to_live(lease.id, true).expect("ttl");
    assert_eq!((ttl.ttl, ttl.granted_ttl), (10, 10));
    assert_eq!(ttl.keys, vec![b"a".to_vec(), b"b".to_vec()]);
    assert_eq!(db.get("a").expect("get").expect("present").lease, lease.id);

    clock.advance(Duration::from_secs(7));
    assert_eq!(db.lease_time_to_live(lease.id, false).expect("ttl").ttl, 3);
    assert_eq!(db.lease_keep_alive(lease.id).expect("keep alive"), 10);
    assert_eq!(db.lease_time_to_live(lease.id, false).expect("ttl").ttl, 10);

    let watch = db.watch(WatchRequest::prefix("")).expect("watch");
    let before = db.current_revision();
    let rev = db.lease_revoke(lease.id).expect("revoke");
    assert_eq!(
        rev,
        before + 1,
        "every attached key deleted in one revision"
    );
    let resp = watch.recv_timeout(WAIT).expect("deletes");
    assert_eq!(resp.events.len(), 2);
    assert!(resp
        .events
        .iter()
        .all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == rev));
    assert_eq!(db.get("a").expect("get"), None);
    assert_eq!(db.get("c").expect("get").expect("kept").value, b"detached");
    assert!(matches!(
        db.lease_revoke(lease.id),
        Err(Error::LeaseNotFound { .. })
    ));
    assert!(matches!(
        db.lease_keep_alive(lease.id),
        Err(Error::LeaseNotFound { .. })
    ));
    assert!(matches!(
        db.lease_time_to_live(99, false),
        Err(Error::LeaseNotFound { id: 99 })
    ));
    assert!(matches!(
        db.put_with(PutRequest::new("x", "v").lease(lease.id)),
        Err(Error::LeaseNotFound { .. })
    ));
    assert_eq!(db.current_revision(), rev, "failed calls change nothing");
    assert_eq!(db.leases().expect("leases"), Vec::<i64>::new());
    assert!(matches!(db.lease_grant(0), Err(Error::BadRequest { .. })));
    let chosen = db.lease_grant_with_id(42, 5).expect("grant with id");
    assert_eq!(chosen.id, 42);
    assert!(matches!(
        db.lease_grant_with_id(42, 5),
        Err(Error::LeaseExists { id: 42 })
    ));
}

#[test]
fn expiry_deletes_keys_in_one_revision_and_restart_keeps_remaining_ttl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let (short, long) = {
        let db = Db::open(dir.path(), options(&clock)).expect("open");
        let short = db.lease_grant(5).expect("grant").id;
        let long = db.lease_grant(10).expect("grant").id;
        for i in 0..50 {
            db.put_with(PutRequest::new(format!("s{i}"), "v").lease(short))
                .expect("put");
        }
        db.put_with(PutRequest::new("l", "v").lease(long))
            .expect("put");
        clock.advance(Duration::from_secs(6)); // `short` expires while open
        let w = db.watch(WatchRequest::prefix("s")).expect("watch");
        let resp = w.recv_timeout(WAIT).expect("expiry deletes");
        assert_eq!(resp.events.len(), 50, "all 50 deletes in one response");
        let rev = resp.events[0].kv.mod_revision;
        assert!(resp
            .events
            .iter()
            .all(|e| e.kind == EventKind::Delete && e.kv.mod_revision == rev));
        db.close().expect("close");
        (short, long)
    };
    // Reopen 2 s later: `long` has 2 s left, not a fresh 10.
    clock.advance(Duration::from_secs(2));
    let db = Db::open(dir.path(), options(&clock)).expect("reopen");
    assert!(matches!(
        db.lease_time_to_live(short, false),
        Err(Error::LeaseNotFound { .. })
    ));
    let ttl = db.lease_time_to_live(long, true).expect("ttl");
    assert_eq!((ttl.ttl, ttl.granted_ttl), (2, 10));
    assert_eq!(ttl.keys, vec![b"l".to_vec()]);
    let w = db.watch(WatchRequest::key("l")).expect("watch");
    clock.advance(Duration::from_millis(1500));
    assert!(
        w.recv_timeout(Duration::from_millis(300)).is_err(),
        "not yet due"
    );
    clock.advance(Duration::from_millis(600));
    let resp = w.recv_timeout(WAIT).expect("expiry");
    assert_eq!(resp.events[0].kind, EventKind::Delete);
    assert_eq!(db.get("l").expect("get"), None);
}

#[test]
fn lease_expired_during_downtime_is_revoked_right_after_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    {
        let db = Db::open(dir.path(), options(&clock)).expect("open");
        let id = db.lease_grant(3).expect("grant").id;
        db.put_with(PutRequest::new("k", "v").lease(id))
            .expect("put");
    }
    clock.advance(Duration::from_secs(60));
    let db = Db::open(dir.path(), options(&clock)).expect("reopen");
    let start = db.current_revision() + 1;
    let w = db
        .watch(WatchRequest::key("k").start_revision(start))
        .expect("watch");
    let resp = w.recv_timeout(WAIT).expect("revoked after open");
    assert_eq!(resp.events[0].kind, EventKind::Delete);
    assert!(db.leases().expect("leases").is_empty());
}

#[test]
fn incident1_expiry_after_restart_when_every_live_key_is_older_than_compaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = ManualClock::new(T0);
    let opts = || {
        options(&clock)
            .segment_size(64 << 10)
            .sync(SyncPolicy::Never)
    };
    let a_rev = {
        let db = Db::open(dir.path(), opts()).expect("open");
        db.put("/x", "filler").expect("put");
        db.put("/y", "filler").expect("put");
        let lease = db.lease_grant(30).expect("grant").id;
        let a_rev = db
            .put_with(PutRequest::new("/a", "ttl-key").lease(lease))
            .expect("put")
            .revision;
        for i in 0..1500 {
            db.put("/b", format!("update {i}")).expect("put");
        }
        db.delete("/b").expect("delete");
        db.delete("/x").expect("delete");
        db.delete("/y").expect("delete");
        db.compact_physical(db.current_revision()).expect("compact");
        a_rev
    };
    clock.advance(Duration::from_secs(10));
    let db = Db::open(dir.path(), opts()).expect("reopen without error");
    assert!(
        db.compact_revision() > a_rev,
        "every live key is older than the compaction point"
    );
    assert_eq!(
        db.get("/a").expect("get").expect("alive").mod_revision,
        a_rev
    );
    let w = db.watch(WatchRequest::key("/a")).expect("watch from now");
    clock.advance(Duration::from_secs(19));
    assert!(
        w.recv_timeout(Duration::from_millis(300)).is_err(),
        "1 s left"
    );
    clock.advance(Duration::from_secs(2));
    let resp = w.recv_timeout(WAIT).expect("expires on time");
    assert_eq!(resp.events[0].kind, EventKind::Delete);
    assert_eq!(db.get("/a").expect("get"), None);
}

#[test]
fn expiry_on_the_real_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    let id = db.lease_grant(1).expect("grant").id;
    db.put_with(PutRequest::new("rt", "v").lease(id))
        .expect("put");
    let w = db.watch(WatchRequest::key("rt")).expect("watch");
    let resp = w
        .recv_timeout(Duration::from_secs(10))
        .expect("expiry within 10 s");
    assert_eq!(resp.events[0].kind, EventKind::Delete);
    assert_eq!(db.get("rt").expect("get"), None);
}

#[test]
fn huge_or_non_positive_ttls_are_refused_without_harm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), Options::default()).expect("open");
    for ttl in [0, -5, i64::MAX / 100, i64::MAX] {
        assert!(
            matches!(db.lease_grant(ttl), Err(Error::BadRequest { .. })),
            "ttl {ttl}"
        );
    }
    let id = db
        .lease_grant(9_000_000_000)
        .expect("etcd's maximum TTL")
        .id;
    assert_eq!(db.lease_keep_alive(id).expect("keep alive"), 9_000_000_000);
    assert_eq!(db.put("still", "writable").expect("put").revision, 2);
}
