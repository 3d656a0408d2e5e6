//! Group commit under `SyncPolicy::Always`: a lone writer pays one
//! fdatasync per write; concurrent writers share them, and every write they
//! were told is done is there, with its own revision.

use revkv::{Db, Options, SyncPolicy};
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

const THREADS: usize = 8;
const PUTS_PER_THREAD: usize = 100;

fn open(dir: &std::path::Path) -> Db {
    Db::open(dir, Options::default().sync(SyncPolicy::Always)).expect("open")
}

#[test]
fn a_lone_writer_syncs_once_per_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let before = db.stats().expect("stats").data_syncs;
    for i in 0..50u32 {
        let rev = db.put(format!("k{i}"), i.to_be_bytes()).expect("put");
        // A new store is at revision 1: its first write is 2.
        assert_eq!(rev.revision, u64::from(i) + 2);
    }
    let after = db.stats().expect("stats");
    assert_eq!(after.revision, 51);
    assert_eq!(
        after.data_syncs - before,
        50,
        "one fdatasync per lone write"
    );
}

#[test]
fn concurrent_writers_share_fdatasyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(open(dir.path()));
    let before = db.stats().expect("stats").data_syncs;
    let start = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                (0..PUTS_PER_THREAD)
                    .map(|i| {
                        let key = format!("t{t}/{i:03}");
                        let rev = db
                            .put(key.as_str(), format!("v{t}.{i}"))
                            .expect("put")
                            .revision;
                        (key, rev)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: Vec<(String, u64)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("writer thread"))
        .collect();
    let total = THREADS * PUTS_PER_THREAD;

    // Every write has its own revision, and together they are
    // 2..=total + 1 (a new store is at revision 1).
    let revisions: BTreeSet<u64> = acked.iter().map(|(_, r)| *r).collect();
    assert_eq!(revisions, (2..=total as u64 + 1).collect::<BTreeSet<_>>());
    let stats = db.stats().expect("stats");
    assert_eq!(stats.revision, total as u64 + 1);
    let syncs = stats.data_syncs - before;
    assert!(
        syncs < total as u64,
        "{total} concurrent writes took {syncs} fdatasyncs: none was shared"
    );

    // After a reopen every acknowledged write is there, at its revision.
    Arc::into_inner(db)
        .expect("sole owner")
        .close()
        .expect("close");
    let db = open(dir.path());
    for (key, rev) in &acked {
        let kv = db.get(key).expect("get").expect("acknowledged write");
        assert_eq!(kv.mod_revision, *rev, "{key}");
        let (t, i) = key[1..].split_once('/').expect("key shape");
        let i: usize = i.parse().expect("index");
        assert_eq!(kv.value, format!("v{t}.{i}").into_bytes());
    }
}
