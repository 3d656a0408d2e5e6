//! Incident 2 (CONTEXT.md): deleted objects came back after compaction.
//!
//! Key `/b` is updated 3000 times and then deleted at revision D; key `/a`
//! is written once at revision 2, the first write of a new store, and kept
//! alive (as is `~big`, a value over 1 MiB written at revision 3, so that every rewrite that copies it flushes
//! in the middle of an output segment); `/c` is written after the delete.
//! The compaction point then steps through the history: well before the
//! delete, just before it, at it, just after it, and far past it. Most steps
//! crash a child process at a compaction failpoint (the `#[ignore]`d test
//! `child_open_and_compact` of this binary, as `test_support::incident`
//! runs it), some crash it twice
//! (the second time while `open` resumes the interrupted compaction), some
//! compact in process. After every step the store is reopened and checked:
//! at every retained revision `/b` is visible exactly while it was live
//! (never at or after D) by `get`, by `range`, and in watches started at the
//! compaction revision and at D, D+1 and the current revision; the
//! compaction is finished and only the files the MANIFEST names remain.
//! `Db::verify` must find every prev-revision chain intact after each step.

use revkv::{Db, Error, EventKind, KeyValue, RangeRequest, WatchRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;
use test_support::files;
use test_support::incident::{big_value, crash_child, events_until, finished_manifest, options};
use test_support::store::verify_clean;

const UPDATES: u64 = 3000;

#[test]
#[ignore = "the child process of deleted_key_never_comes_back"]
fn child_open_and_compact() {
    test_support::incident::child_open_and_compact();
}

/// value written at `rev` to `key`
fn value(key: &str, rev: u64) -> Vec<u8> {
    format!("{key}@{rev}-{}", "v".repeat(90)).into_bytes()
}

/// The writes, one per revision: (key, value or None for a delete).
#[derive(Default)]
struct History {
    ops: BTreeMap<u64, (String, Option<Vec<u8>>)>,
}

/// (value, create, mod, version)
type Kv = (Vec<u8>, u64, u64, u64);

impl History {
    fn put(&mut self, db: &Db, key: &str, v: Vec<u8>) -> u64 {
        let rev = db.put(key, v.clone()).expect("put").revision;
        assert!(self.ops.insert(rev, (key.into(), Some(v))).is_none());
        rev
    }

    fn delete(&mut self, db: &Db, key: &str) -> u64 {
        let r = db.delete(key).expect("delete");
        assert_eq!(r.deleted, 1, "{key} was live");
        self.ops.insert(r.revision, (key.into(), None));
        r.revision
    }

    fn apply(state: &mut BTreeMap<String, Kv>, rev: u64, key: &str, v: &Option<Vec<u8>>) {
        match v {
            Some(v) => {
                let (create, version) = state.get(key).map_or((rev, 1), |s| (s.1, s.3 + 1));
                state.insert(key.into(), (v.clone(), create, rev, version));
            }
            None => {
                state.remove(key);
            }
        }
    }
}

fn same(kv: &KeyValue, want: &Kv) -> bool {
    kv.value == want.0
        && kv.create_revision == want.1
        && kv.mod_revision == want.2
        && kv.version == want.3
}

fn brief(kv: &KeyValue) -> (String, u64, u64, u64) {
    (
        String::from_utf8_lossy(&kv.key).into_owned(),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
    )
}

/// Everything incident 2 is about, after a reopen.
fn check(dir: &Path, db: &Db, h: &History, deleted_at: u64, expect_compact: u64, ctx: &str) {
    let current = db.current_revision();
    let last = *h.ops.keys().next_back().expect("history");
    assert_eq!(current, last, "{ctx}: current revision");
    let c = db.compact_revision();
    assert_eq!(c, expect_compact, "{ctx}: compaction revision");

    // The MANIFEST says the compaction is finished; only its files remain.
    let m = finished_manifest(dir, c, ctx);
    let mut segs = BTreeSet::new();
    for name in files::names(dir) {
        if let Some(stem) = name.strip_suffix(".seg") {
            segs.insert(stem.parse::<u64>().expect("segment id"));
        } else if name == "KEYINDEX" {
            test_support::checkpoint_fits(dir, &m.segments, c, c)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        } else {
            assert!(
                name.ends_with(".idx") || name == "MANIFEST" || name == "LOCK",
                "{ctx}: stray file {name}"
            );
        }
    }
    assert_eq!(
        segs,
        m.segments.iter().copied().collect::<BTreeSet<_>>(),
        "{ctx}: segment files vs MANIFEST"
    );

    // The prev-revision chains (and everything else verify reads) are intact.
    let report = verify_clean(db, ctx);
    assert!(
        report.keys >= 3,
        "{ctx}: verify followed no chains: {report:?}"
    );

    // Every retained revision reads exactly as the history says.
    let mut state: BTreeMap<String, Kv> = BTreeMap::new();
    for (&rev, (key, v)) in h.ops.range(..c) {
        History::apply(&mut state, rev, key, v);
    }
    for rev in c..=current {
        if let Some((key, v)) = h.ops.get(&rev) {
            History::apply(&mut state, rev, key, v);
        }
        let b = db
            .get_at("/b", rev)
            .unwrap_or_else(|e| panic!("{ctx}: get_at(/b, {rev}): {e}"));
        match (&b, state.get("/b")) {
            (None, None) => {}
            (Some(kv), Some(w)) if same(kv, w) => {}
            (got, _) => panic!(
                "{ctx}: /b at revision {rev} (deleted at {deleted_at}, compacted at {c}): {:?}",
                got.as_ref().map(brief)
            ),
        }
        if rev >= deleted_at {
            assert!(b.is_none(), "{ctx}: /b is back at {rev}");
        }
        let got = db
            .range(RangeRequest::prefix("/").revision(rev))
            .unwrap_or_else(|e| panic!("{ctx}: range at {rev}: {e}"));
        let want: Vec<_> = state.iter().filter(|(k, _)| k.starts_with('/')).collect();
        let ok = got.count == want.len() as u64
            && got.kvs.len() == want.len()
            && got
                .kvs
                .iter()
                .zip(&want)
                .all(|(kv, (k, w))| kv.key == k.as_bytes() && same(kv, w));
        assert!(
            ok,
            "{ctx}: range at {rev} (deleted at {deleted_at}, compacted at {c}): got {:?}, want {:?}",
            got.kvs.iter().map(brief).collect::<Vec<_>>(),
            want.iter().map(|(k, w)| (k, w.1, w.2, w.3)).collect::<Vec<_>>()
        );
        if rev == c || rev == current {
            let big = db.get_at("~big", rev).expect("get ~big").expect("~big");
            assert!(same(&big, &state["~big"]), "{ctx}: ~big at {rev}");
            let a = db.get_at("/a", rev).expect("get /a").expect("/a alive");
            assert_eq!(a.create_revision, 2, "{ctx}: /a");
        }
    }
    assert!(
        matches!(db.get_at("/b", c - 1), Err(Error::Compacted { compact_revision }) if compact_revision == c),
        "{ctx}: read below the compaction revision"
    );

    // A watch of everything from the compaction revision: exactly the
    // history from there, the delete of /b included when c <= D.
    let w = db
        .watch(WatchRequest::prefix("").start_revision(c))
        .unwrap_or_else(|e| panic!("{ctx}: watch all at {c}: {e}"));
    let events = events_until(&w, current, ctx);
    let want: Vec<_> = h.ops.range(c..=current).collect();
    assert_eq!(
        events.len(),
        want.len(),
        "{ctx}: watch all at {c}: {} events, want {}",
        events.len(),
        want.len()
    );
    for (e, (&rev, (key, v))) in events.iter().zip(&want) {
        let ok = e.kv.mod_revision == rev
            && e.kv.key == key.as_bytes()
            && match v {
                Some(v) => e.kind == EventKind::Put && e.kv.value == *v,
                None => e.kind == EventKind::Delete,
            };
        assert!(
            ok,
            "{ctx}: watch all at {c}: got {:?} {:?}, want {rev} {key} {}",
            e.kind,
            brief(&e.kv),
            if v.is_some() { "put" } else { "delete" }
        );
    }

    // Watches of /b alone from several starts.
    for start in [c, deleted_at, deleted_at + 1, current] {
        if start < c || start > current {
            continue;
        }
        let w = db
            .watch(WatchRequest::key("/b").start_revision(start))
            .unwrap_or_else(|e| panic!("{ctx}: watch /b at {start}: {e}"));
        let events = events_until(&w, current, ctx);
        let want: Vec<u64> = h
            .ops
            .range(start..=current)
            .filter(|(_, (k, _))| k == "/b")
            .map(|(&r, _)| r)
            .collect();
        let got: Vec<u64> = events.iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(got, want, "{ctx}: watch /b at {start}: revisions");
        for e in &events {
            let put = e.kind == EventKind::Put;
            assert_eq!(
                put,
                e.kv.mod_revision < deleted_at,
                "{ctx}: watch /b at {start}: {:?} at {}",
                e.kind,
                e.kv.mod_revision
            );
        }
        if start <= deleted_at {
            assert_eq!(
                events.last().map(|e| (e.kind, e.kv.mod_revision)),
                Some((EventKind::Delete, deleted_at)),
                "{ctx}: watch /b at {start}: the delete"
            );
        }
    }
}

/// How one step compacts.
enum How {
    InProcess,
    /// A child stops at this failpoint.
    Crash(&'static str),
    /// A child stops at the first failpoint; a second child stops at the
    /// second while `open` resumes the interrupted compaction.
    CrashTwice(&'static str, &'static str),
}

#[test]
fn deleted_key_never_comes_back() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut h = History::default();
    let deleted_at = {
        let db = Db::open(dir.path(), options()).expect("open");
        assert_eq!(h.put(&db, "/a", value("/a", 2)), 2);
        h.put(&db, "~big", big_value(3));
        for _ in 0..UPDATES {
            let rev = db.current_revision() + 1;
            h.put(&db, "/b", value("/b", rev));
        }
        let d = h.delete(&db, "/b");
        for _ in 0..200 {
            let rev = db.current_revision() + 1;
            h.put(&db, "/c", value("/c", rev));
        }
        db.close().expect("close");
        d
    };
    assert_eq!(deleted_at, UPDATES + 4);
    let d = deleted_at;
    let steps = [
        (1000, How::InProcess),
        (2000, How::Crash("compact.mid_segment")),
        (2500, How::Crash("compact.segment_written")),
        (2900, How::Crash("compact.synced")),
        (d - 2, How::Crash("compact.before_manifest")),
        (
            d - 1,
            How::CrashTwice("compact.scheduled", "compact.mid_segment"),
        ),
        (d, How::Crash("compact.after_manifest")),
        (
            d + 1,
            How::CrashTwice("compact.before_manifest", "compact.synced"),
        ),
        (d + 2, How::Crash("compact.before_remove")),
        (d + 100, How::InProcess),
        (d + 150, How::Crash("compact.segment_written")),
    ];
    for (i, (at, how)) in steps.iter().enumerate() {
        let ctx = format!("step {i}: compaction at {at} (delete at {d})");
        match how {
            How::InProcess => {
                let db = Db::open(dir.path(), options()).expect("open");
                db.compact_physical(*at)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                db.close().expect("close");
            }
            How::Crash(fp) => crash_child(dir.path(), *at, fp),
            How::CrashTwice(first, second) => {
                crash_child(dir.path(), *at, first);
                crash_child(dir.path(), 0, second);
            }
        }
        let db = Db::open(dir.path(), options()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
        check(dir.path(), &db, &h, d, *at, &ctx);
        db.close().expect("close");
    }

    // More history after the deleted key is long gone, then compaction to
    // the head (in process, then a crash just before the old files go).
    {
        let db = Db::open(dir.path(), options()).expect("open");
        for _ in 0..300 {
            let rev = db.current_revision() + 1;
            h.put(&db, "/c", value("/c", rev));
        }
        let head = db.current_revision();
        db.compact_physical(head - 100).expect("compact");
        db.close().expect("close");
        crash_child(dir.path(), head, "compact.before_remove");
        let db = Db::open(dir.path(), options()).expect("reopen");
        check(dir.path(), &db, &h, d, head, "compaction at the head");
        assert!(
            db.range(RangeRequest::prefix("/b"))
                .expect("range")
                .kvs
                .is_empty(),
            "/b is back"
        );
        db.close().expect("close");
    }
    eprintln!("incident 2: {:?}", started.elapsed());
}
