//! Target `open_dir`: arbitrary bytes cut into a data directory (MANIFEST,
//! segments, .idx files, strays), then `Db::open`. Open must either fail
//! with an error (and leave the directory unlocked) or give a consistent
//! store: every listed key reads back, every retained revision reads, a
//! watch from the compaction point replays to the current state, a put then
//! get works, and the store reopens to the same state.

use super::input::Input;
use super::{fresh_dir, wait_until};
use revkv::format::frame::{encode_frame, FrameKind};
use revkv::format::idx::{encode_idx, IdxEntry};
use revkv::format::lease::{encode_lease, LeaseRecord};
use revkv::format::manifest::{encode_manifest, Manifest};
use revkv::format::record::{encode_txn_as, OpEncoding, OpKind, RecordOp};
use revkv::format::segment::encode_segment_header;
use revkv::format::MAX_COUNTER;
use revkv::{
    Db, Error, EventKind, KeyRange, KeyValue, ManualClock, Options, RangeRequest, SyncPolicy,
    WatchRequest,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The manual clock's reading during the whole run, in Unix milliseconds.
const NOW_MS: u64 = 1_000_000_000;
const DEADLINES: [u64; 8] = [
    0,
    NOW_MS - 1,
    NOW_MS,
    NOW_MS + 1,
    NOW_MS + 5_000,
    NOW_MS + 3_600_000,
    u64::MAX / 2,
    u64::MAX,
];
const KEYS: [&[u8]; 6] = [b"a", b"b", b"ba", b"c", b"\x00", b"\xff"];
/// Never a key of a generated record (those are at most 8 bytes).
const PROBE: &[u8] = b"revkv-fuzz-probe-key";

/// One generated op: kind, key, value, create revision, version, lease,
/// previous mod revision.
type GenOp = (OpKind, Vec<u8>, Vec<u8>, u64, u64, i64, u64);

/// Builds frames that are mostly what the writer would write.
#[derive(Default)]
struct Builder {
    last_rev: u64,
    /// key -> (create revision, version, last revision) of live keys.
    live: BTreeMap<Vec<u8>, (u64, u64, u64)>,
    /// key -> revision of its tombstone.
    dead: BTreeMap<Vec<u8>, u64>,
}

impl Builder {
    fn txn_frame(&mut self, input: &mut Input<'_>, seg: &mut Vec<u8>, entries: &mut Vec<IdxEntry>) {
        let wild = input.byte() < 24;
        let revision = match input.byte() % 16 {
            0 => self.last_rev,
            1 => input.wild_u64(),
            2 => self.last_rev.saturating_add(2 + input.byte() as u64 % 4),
            _ => self.last_rev.saturating_add(1),
        };
        let mut ops: Vec<GenOp> = Vec::new();
        for _ in 0..1 + input.below(3) {
            let key = if wild {
                let n = input.below(9);
                input.bytes(n).to_vec()
            } else {
                KEYS[input.below(KEYS.len())].to_vec()
            };
            if !wild && ops.iter().any(|o| o.1 == key) {
                continue;
            }
            let put = input.byte() % 3 != 0;
            let prev = self
                .live
                .get(&key)
                .map(|h| h.2)
                .or_else(|| self.dead.get(&key).copied())
                .unwrap_or(0);
            let op = if wild {
                (
                    if put { OpKind::Put } else { OpKind::Delete },
                    key,
                    {
                        let n = input.below(40);
                        vec![input.byte(); n]
                    },
                    input.wild_u64(),
                    input.wild_u64(),
                    input.wild_u64() as i64,
                    input.wild_u64(),
                )
            } else if put {
                let (create, version) = match self.live.get(&key) {
                    Some(&(c, v, _)) => (c, v + 1),
                    None => (revision, 1),
                };
                let lease = match input.byte() % 4 {
                    0 => 1 + input.byte() as i64 % 3,
                    _ => 0,
                };
                let len = match input.byte() {
                    250.. => 3000,
                    n => n as usize % 24,
                };
                (
                    OpKind::Put,
                    key,
                    vec![input.byte(); len],
                    create,
                    version,
                    lease,
                    prev,
                )
            } else {
                (OpKind::Delete, key, Vec::new(), 0, 0, 0, prev)
            };
            ops.push(op);
        }
        if ops.is_empty() {
            return;
        }
        let records: Vec<RecordOp<'_>> = ops
            .iter()
            .enumerate()
            .map(|(i, o)| RecordOp {
                sub: i as u32,
                kind: o.0,
                key: &o.1,
                value: &o.2,
                create_revision: o.3,
                version: o.4,
                lease: o.5,
                prev_mod_revision: o.6,
            })
            .collect();
        // Version 1 records too: a store written by an older build, or
        // whose untouched records compaction copied (format.md §11).
        let encoding = match input.byte() % 4 {
            0 => OpEncoding::Fixed,
            _ => OpEncoding::Compact,
        };
        let mut payload = Vec::new();
        encode_txn_as(encoding, revision, &records, &mut payload);
        let level = (input.byte() % 4 == 0).then_some(1);
        let offset = seg.len() as u64;
        let len = encode_frame(FrameKind::Txn, &payload, level, seg);
        entries.push(IdxEntry {
            revision,
            offset,
            len: len as u32,
        });
        self.last_rev = self.last_rev.max(revision);
        for o in &ops {
            match o.0 {
                OpKind::Put => {
                    self.dead.remove(&o.1);
                    self.live.insert(o.1.clone(), (o.3, o.4, revision));
                }
                OpKind::Delete => {
                    self.live.remove(&o.1);
                    self.dead.insert(o.1.clone(), revision);
                }
            }
        }
    }

    fn lease_frame(&mut self, input: &mut Input<'_>, seg: &mut Vec<u8>) {
        let id = match input.byte() % 8 {
            0 => input.wild_u64() as i64,
            n => n as i64 % 4,
        };
        let deadline = |input: &mut Input<'_>| match input.byte() % 8 {
            0 => input.wild_u64(),
            _ => DEADLINES[input.below(DEADLINES.len())],
        };
        let rec = match input.byte() % 4 {
            0 | 1 => LeaseRecord::Grant {
                id,
                ttl: match input.byte() % 8 {
                    0 => input.wild_u64() as i64,
                    n => n as i64 * 10,
                },
                deadline_ms: deadline(input),
            },
            2 => LeaseRecord::KeepAlive {
                id,
                deadline_ms: deadline(input),
            },
            _ => LeaseRecord::Revoke { id },
        };
        let mut payload = Vec::new();
        encode_lease(&rec, &mut payload);
        encode_frame(FrameKind::of_lease(&rec), &payload, None, seg);
    }
}

fn seg_name(id: u64) -> String {
    format!("{id:020}.seg")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write a file of the image");
}

/// Target `open_dir`.
pub fn open_dir(data: &[u8]) {
    let tmp = fresh_dir();
    let dir = tmp.path();
    let mut input = Input::new(data);
    let flags = input.byte();
    let n = 1 + input.below(3);
    let ids: Vec<u64> = match (flags >> 4) % 4 {
        0 | 1 => (1..=n as u64).collect(),
        2 => [5, 2, 9][..n].to_vec(),
        _ => (0..n).map(|_| input.byte() as u64 % 8).collect(),
    };
    let mut b = Builder::default();
    for (i, &id) in ids.iter().enumerate() {
        let mut seg = match input.byte() % 16 {
            0 => input.chunk().to_vec(),
            1 => encode_segment_header(id + 1).to_vec(),
            _ => encode_segment_header(id).to_vec(),
        };
        let mut entries = Vec::new();
        for _ in 0..input.below(10) {
            match input.byte() % 8 {
                0 => seg.extend_from_slice(input.chunk()),
                1 | 2 => b.lease_frame(&mut input, &mut seg),
                _ => b.txn_frame(&mut input, &mut seg, &mut entries),
            }
        }
        match input.byte() % 8 {
            0 if !seg.is_empty() => {
                let at = input.below(seg.len());
                seg[at] ^= input.byte().max(1);
            }
            1 if !seg.is_empty() => {
                let at = input.below(seg.len());
                seg.truncate(at);
            }
            2 => seg.extend_from_slice(input.chunk()),
            _ => {}
        }
        write(dir, &seg_name(id), &seg);
        if i + 1 < ids.len() {
            let idx_name = format!("{id:020}.idx");
            match input.byte() % 4 {
                0 => {}
                1 => write(dir, &idx_name, input.chunk()),
                _ => write(dir, &idx_name, &encode_idx(id, &entries)),
            }
        }
    }
    let last = b.last_rev;
    match flags % 4 {
        0 => {}
        1 => write(dir, "MANIFEST", input.chunk()),
        _ => {
            let (scheduled, finished) = match input.byte() % 4 {
                0 => (0, 0),
                1 => {
                    let s = input.below(last.min(1 << 16) as usize + 2) as u64;
                    (s, s)
                }
                2 => {
                    let s = input.below(last.min(1 << 16) as usize + 2) as u64;
                    (s, input.below(s as usize + 1) as u64)
                }
                _ => (input.wild_u64(), input.wild_u64()),
            };
            let next = match input.byte() % 8 {
                0 => input.wild_u64(),
                _ => ids.iter().max().map_or(1, |m| m + 1),
            };
            let m = Manifest {
                segments: ids.clone(),
                next_segment_id: next,
                compact_scheduled: scheduled,
                compact_finished: finished,
                // Bit 3 of the flags: a store of the old numbering.
                initial_revision: u64::from(flags & 8 == 0),
            };
            write(dir, "MANIFEST", &encode_manifest(&m));
        }
    }
    if flags & 4 != 0 {
        write(dir, "MANIFEST.tmp", input.chunk());
        write(dir, &seg_name(77), input.chunk());
        write(dir, "00000000000000000077.idx", input.chunk());
        write(dir, "+0000000000000000001.seg", input.chunk());
    }
    if std::env::var_os("REVKV_FUZZ_TRACE").is_some() {
        for e in std::fs::read_dir(dir).expect("list the image").flatten() {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            eprintln!("{:?}: {} bytes: {:02x?}", e.file_name(), bytes.len(), bytes);
        }
    }
    let clock = ManualClock::new(NOW_MS);
    let options = || {
        Options::new()
            .sync(SyncPolicy::Never)
            .segment_size(4096)
            .clock(Arc::new(clock.clone()))
    };
    let opened = Db::open(dir, options());
    if std::env::var_os("REVKV_FUZZ_TRACE").is_some() {
        eprintln!(
            "open: {:?}",
            opened.as_ref().map(|db| db.current_revision())
        );
    }
    match opened {
        Ok(db) => check_store(&db, dir, &options),
        Err(e) => {
            assert!(
                !matches!(
                    e,
                    Error::Closed | Error::Poisoned { .. } | Error::Locked { .. }
                ),
                "open failed with {e:?}"
            );
            // A failed open releases the lock: a second try is not Locked.
            match Db::open(dir, options()) {
                Err(Error::Locked { .. }) => panic!("a failed open left the directory locked"),
                Ok(db) => check_store(&db, dir, &options),
                Err(_) => {}
            }
        }
    }
}

fn expect<T>(what: &str, r: revkv::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{what} failed on a store that opened: {e:?}"))
}

fn all_at(rev: u64) -> RangeRequest {
    RangeRequest::new(KeyRange::all()).revision(rev)
}

fn check_store(db: &Db, dir: &Path, options: &dyn Fn() -> Options) {
    // Leases whose deadline has passed are revoked right after open
    // (incident 1); wait for that so that the state stops moving. Revoking
    // a lease that has keys deletes them at a new revision: once the
    // revision space is exhausted there is none, every write is refused,
    // and such a lease stays (expired, its keys still there).
    let exhausted = db.current_revision() >= MAX_COUNTER;
    let settled = wait_until(Duration::from_secs(20), || {
        let ids = expect("leases", db.leases());
        !ids.iter().any(|&id| {
            db.lease_time_to_live(id, true)
                .is_ok_and(|t| t.ttl == 0 && (!exhausted || t.keys.is_empty()))
        })
    });
    assert!(settled, "expired leases were not revoked after open");
    let rev = db.current_revision();
    let compacted = db.compact_revision();
    assert!(
        compacted <= rev,
        "compaction {compacted} above current {rev}"
    );
    let all = expect("range of every key", db.range(all_at(0)));
    assert_eq!(all.count as usize, all.kvs.len());
    assert!(!all.more);
    assert_eq!(all.revision, rev);
    assert!(all.kvs.windows(2).all(|w| w[0].key < w[1].key));
    for kv in &all.kvs {
        assert!(
            kv.mod_revision >= 1 && kv.mod_revision <= rev,
            "{kv:?} at {rev}"
        );
        assert_eq!(expect("get", db.get(&kv.key)).as_ref(), Some(kv));
    }
    // Every retained revision reads; the compacted ones say so.
    let first = compacted.max(1);
    if rev >= first {
        let span = rev - first;
        for i in 0..8u64 {
            let r = first + (span as u128 * i as u128 / 7) as u64;
            expect("range at a retained revision", db.range(all_at(r)));
        }
    }
    if compacted > 1 {
        match db.range(all_at(compacted - 1)) {
            Err(Error::Compacted { compact_revision }) => assert_eq!(compact_revision, compacted),
            other => panic!("read below the compaction point: {other:?}"),
        }
    }
    if rev < u64::MAX {
        assert!(matches!(
            db.range(all_at(rev + 1)),
            Err(Error::FutureRevision { .. })
        ));
    }
    let stats = expect("stats", db.stats());
    assert_eq!((stats.revision, stats.live_keys), (rev, all.count));
    // Lease attachments agree with the keys' lease fields.
    let leases = expect("leases", db.leases());
    for &id in &leases {
        let ttl = expect("lease_time_to_live", db.lease_time_to_live(id, true));
        for key in &ttl.keys {
            let kv = all.kvs.iter().find(|kv| &kv.key == key);
            assert_eq!(kv.map(|kv| kv.lease), Some(id), "lease {id} lists {key:?}");
        }
    }
    for &id in &leases {
        let granted = expect("lease_time_to_live", db.lease_time_to_live(id, false));
        match db.lease_keep_alive(id) {
            Ok(ttl) => assert_eq!(ttl, granted.granted_ttl),
            // An expired lease is not found: the only one still listed is
            // one that could not be revoked, above.
            Err(Error::LeaseNotFound { .. }) if exhausted && granted.ttl == 0 => {}
            Err(e) => panic!("lease_keep_alive failed on a store that opened: {e:?}"),
        }
    }
    for kv in all.kvs.iter().filter(|kv| leases.contains(&kv.lease)) {
        let ttl = expect("lease_time_to_live", db.lease_time_to_live(kv.lease, true));
        assert!(
            ttl.keys.contains(&kv.key),
            "{kv:?} not attached to its lease"
        );
    }
    // A watch from the compaction point replays onto the state there.
    let mut state: BTreeMap<Vec<u8>, KeyValue> = BTreeMap::new();
    if compacted > 0 {
        for kv in expect("range at the compaction point", db.range(all_at(compacted))).kvs {
            state.insert(kv.key.clone(), kv);
        }
    }
    let events = super::model::collect_until(db, WatchRequest::new(KeyRange::all()), first, rev);
    let mut last = 0;
    for e in events {
        assert!(e.kv.mod_revision >= last && e.kv.mod_revision >= first);
        last = e.kv.mod_revision;
        if last <= compacted {
            continue;
        }
        match e.kind {
            EventKind::Put => state.insert(e.kv.key.clone(), e.kv),
            EventKind::Delete => state.remove(&e.kv.key),
        };
    }
    assert!(
        state.into_values().eq(all.kvs.iter().cloned()),
        "watch replay differs from the state"
    );
    let _ = expect("verify", db.verify());
    // Writes work: a new key, then an overwrite of a recovered key.
    if rev > MAX_COUNTER - 4 {
        // No revision is left to write at: refused, never wrapped.
        match db.put(PROBE, "v") {
            Ok(p) => assert_eq!(Some(p.revision), rev.checked_add(1)),
            Err(e) => assert!(
                !matches!(e, Error::Closed | Error::Poisoned { .. }),
                "{e:?}"
            ),
        }
        return;
    }
    let put = expect("put", db.put(PROBE, "v"));
    assert_eq!(put.revision, rev + 1);
    let got = expect("get", db.get(PROBE)).expect("the probe key reads back");
    assert_eq!(
        (
            got.value.as_slice(),
            got.create_revision,
            got.mod_revision,
            got.version
        ),
        (&b"v"[..], rev + 1, rev + 1, 1)
    );
    assert_eq!(expect("delete", db.delete(PROBE)).revision, rev + 2);
    let mut expected = all.kvs.clone();
    let mut written = 2;
    let overwrite = all.kvs.first();
    if let Some(old) = overwrite {
        match db.put(old.key.clone(), "w") {
            Ok(p) => {
                assert_eq!(p.revision, rev + 3);
                let new = expect("get", db.get(&old.key)).expect("an overwritten key reads back");
                let want = KeyValue {
                    key: old.key.clone(),
                    value: b"w".to_vec(),
                    create_revision: old.create_revision,
                    mod_revision: rev + 3,
                    version: old.version.checked_add(1).expect("version wrapped"),
                    lease: 0,
                };
                assert_eq!(new, want);
                expected[0] = new;
                written = 3;
            }
            // Only a version that cannot grow any more may refuse a put.
            Err(e) => assert!(
                old.version >= MAX_COUNTER && !matches!(e, Error::Closed | Error::Poisoned { .. }),
                "overwriting {old:?}: {e:?}"
            ),
        }
    }
    let lease = expect("lease_grant", db.lease_grant(60));
    expect("lease_revoke", db.lease_revoke(lease.id));
    expect("close", db.close());
    // The same state after a reopen.
    let again = expect("reopen", Db::open(dir, options()));
    assert_eq!(again.current_revision(), rev + written);
    assert_eq!(again.compact_revision(), compacted);
    assert_eq!(
        expect("range after reopen", again.range(all_at(0))).kvs,
        expected
    );
    let leases_after: Vec<i64> = expect("leases after reopen", again.leases());
    assert_eq!(leases_after, leases);
    expect("close after reopen", again.close());
}
