//! Targets `ops_model` and `api_misuse`: operation sequences decoded from
//! the fuzz bytes, applied to a `Db` and to a small in-memory model of
//! etcd's semantics, compared after every step (KV state, revisions,
//! responses, leases, watch streams).
//!
//! `ops_model` draws only valid operations. `api_misuse` mixes in every
//! kind of misuse (empty and failing transactions, duplicate keys, invalid
//! ranges, oversize keys and values, unknown leases, future and compacted
//! revisions, cancelled watches, calls after close, errors inside groups of
//! concurrent writes): each must be a typed `Err` that changes nothing, so
//! the model, which ignores it, keeps matching the store (incident 4).

use super::input::Input;
use super::{fresh_dir, wait_until};
use revkv::{
    Compare, CompareOp, CompareTarget, Compression, Db, DeleteRequest, DeleteResponse, Error,
    Event, EventKind, KeyRange, KeyValue, LeaseGrantResponse, LeaseTimeToLive, ManualClock, Op,
    OpResponse, Options, PutRequest, PutResponse, RangeRequest, RangeResponse, RecvError,
    SyncPolicy, Txn, TxnResponse, WatchRequest, WatchResponse, Watcher,
};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const MAX_KEY: usize = 16;
const MAX_VALUE: usize = 4096;
const KEYS: [&[u8]; 8] = [b"a", b"b", b"ba", b"bz", b"c", b"d/1", b"\x00", b"\xff"];
/// Steps per input: bounds the time one input takes.
const MAX_STEPS: usize = 48;
const MAX_WATCHERS: usize = 4;
const START_MS: u64 = 1_700_000_000_000;
/// How long anything asynchronous (watch delivery, lease expiry) may take
/// before the harness calls it a hang.
const PATIENCE: Duration = Duration::from_secs(20);

type Snap = BTreeMap<Vec<u8>, KeyValue>;

/// An error the model expects, with the fields it can predict.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Compacted(u64),
    Future(u64, u64),
    EmptyKey,
    KeyTooLarge,
    ValueTooLarge,
    EmptyWatchRange,
    Duplicate,
    LeaseNotFound(i64),
    LeaseExists(i64),
    BadRequest,
    Closed,
}

fn classify(e: &Error) -> Option<Expect> {
    Some(match e {
        Error::Compacted { compact_revision } => Expect::Compacted(*compact_revision),
        Error::FutureRevision { requested, current } => Expect::Future(*requested, *current),
        Error::EmptyKey => Expect::EmptyKey,
        Error::KeyTooLarge { .. } => Expect::KeyTooLarge,
        Error::ValueTooLarge { .. } => Expect::ValueTooLarge,
        Error::EmptyWatchRange { .. } => Expect::EmptyWatchRange,
        Error::DuplicateKeyInTxn { .. } => Expect::Duplicate,
        Error::LeaseNotFound { id } => Expect::LeaseNotFound(*id),
        Error::LeaseExists { id } => Expect::LeaseExists(*id),
        Error::BadRequest { .. } => Expect::BadRequest,
        Error::Closed => Expect::Closed,
        _ => return None,
    })
}

/// One operation on the store.
#[derive(Debug, Clone)]
enum Action {
    Put(PutRequest),
    Delete(DeleteRequest),
    Txn(Txn),
    Get(Vec<u8>, u64),
    Range(RangeRequest),
    Compact(u64, bool),
    Grant(i64, i64),
    Revoke(i64),
    KeepAlive(i64),
    TimeToLive(i64),
    Leases,
    Watch(WatchRequest),
    Cancel(usize),
    SyncWatches,
    Reopen {
        advance_ms: u64,
        variant: u8,
    },
    Advance {
        ms: u64,
        let_expire: bool,
    },
    Check(u64),
    /// Close the store, try the action (it must fail), reopen.
    AfterClose(Box<Action>),
    /// Run these writes from concurrent threads (one group commit, often).
    Concurrent(Vec<Action>),
}

/// What the store answered.
#[derive(Debug)]
enum Actual {
    Put(revkv::Result<PutResponse>),
    Delete(revkv::Result<DeleteResponse>),
    Txn(revkv::Result<TxnResponse>),
    Get(revkv::Result<Option<KeyValue>>),
    Range(revkv::Result<RangeResponse>),
    Unit(revkv::Result<()>),
    Grant(revkv::Result<LeaseGrantResponse>),
    Revoke(revkv::Result<u64>),
    KeepAlive(revkv::Result<i64>),
    TimeToLive(revkv::Result<LeaseTimeToLive>),
    Leases(revkv::Result<Vec<i64>>),
}

fn contains(r: &KeyRange, key: &[u8]) -> bool {
    if r.range_end.is_empty() {
        return key == r.key.as_slice();
    }
    key >= r.key.as_slice() && (r.range_end == [0] || key < r.range_end.as_slice())
}

fn key_errs(key: &[u8], out: &mut Vec<Expect>) {
    if key.is_empty() {
        out.push(Expect::EmptyKey);
    }
    if key.len() > MAX_KEY {
        out.push(Expect::KeyTooLarge);
    }
}

fn range_errs(r: &KeyRange, out: &mut Vec<Expect>) {
    key_errs(&r.key, out);
    if r.range_end.len() > MAX_KEY {
        out.push(Expect::KeyTooLarge);
    }
}

/// A watch's range errors: a range's, and etcd's "watcher range is empty"
/// for an end that does not sort after the key (a read of such a range
/// just finds nothing).
fn watch_range_errs(r: &KeyRange, out: &mut Vec<Expect>) {
    range_errs(r, out);
    if !r.range_end.is_empty() && r.range_end != [0] && r.range_end <= r.key {
        out.push(Expect::EmptyWatchRange);
    }
}

fn put_errs(p: &PutRequest, out: &mut Vec<Expect>) {
    key_errs(&p.key, out);
    if p.value.len() > MAX_VALUE {
        out.push(Expect::ValueTooLarge);
    }
}

/// True when a branch writes no key twice.
fn branch_ok(ops: &[Op]) -> bool {
    let puts: Vec<&[u8]> = ops
        .iter()
        .filter_map(|o| match o {
            Op::Put(p) => Some(p.key.as_slice()),
            _ => None,
        })
        .collect();
    let dup = puts.iter().enumerate().any(|(i, k)| puts[..i].contains(k));
    let shadowed = ops.iter().any(|o| match o {
        Op::Delete(d) => puts.iter().any(|k| contains(&d.range, k)),
        _ => false,
    });
    !dup && !shadowed
}

/// Errors the store must find before looking at its state.
fn txn_errs(txn: &Txn) -> Vec<Expect> {
    let mut out = Vec::new();
    for c in &txn.compares {
        range_errs(&c.range, &mut out);
    }
    for branch in [&txn.success, &txn.failure] {
        for op in branch {
            match op {
                Op::Put(p) => put_errs(p, &mut out),
                Op::Delete(d) => range_errs(&d.range, &mut out),
                Op::Range(r) => range_errs(&r.range, &mut out),
            }
        }
        if !branch_ok(branch) {
            out.push(Expect::Duplicate);
        }
    }
    out
}

fn arg_errs(a: &Action) -> Vec<Expect> {
    let mut out = Vec::new();
    match a {
        Action::Put(p) => put_errs(p, &mut out),
        Action::Delete(d) => range_errs(&d.range, &mut out),
        Action::Txn(t) => out = txn_errs(t),
        Action::Get(k, _) => key_errs(k, &mut out),
        Action::Range(r) => range_errs(&r.range, &mut out),
        Action::Watch(w) => watch_range_errs(&w.range, &mut out),
        Action::Grant(id, _) if *id < 0 => out.push(Expect::BadRequest),
        _ => {}
    }
    out
}

fn compare_holds(c: &Compare, kvs: &[&KeyValue]) -> bool {
    let zero = KeyValue::default();
    let kvs: Vec<&KeyValue> = if kvs.is_empty() {
        if matches!(c.target, CompareTarget::Value(_)) {
            return false;
        }
        vec![&zero]
    } else {
        kvs.to_vec()
    };
    kvs.iter().all(|kv| {
        let ord = match &c.target {
            CompareTarget::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
            CompareTarget::CreateRevision(r) => kv.create_revision.cmp(r),
            CompareTarget::ModRevision(r) => kv.mod_revision.cmp(r),
            CompareTarget::Version(v) => kv.version.cmp(v),
            CompareTarget::Lease(l) => kv.lease.cmp(l),
        };
        match c.op {
            CompareOp::Equal => ord.is_eq(),
            CompareOp::NotEqual => ord.is_ne(),
            CompareOp::Less => ord.is_lt(),
            CompareOp::Greater => ord.is_gt(),
        }
    })
}

fn range_on(snap: &Snap, req: &RangeRequest) -> RangeResponse {
    let live: Vec<&KeyValue> = snap
        .values()
        .filter(|kv| contains(&req.range, &kv.key))
        .collect();
    let count = live.len() as u64;
    if req.count_only {
        return RangeResponse::new(0).count(count);
    }
    let keep = if req.limit == 0 {
        live.len()
    } else {
        (req.limit as usize).min(live.len())
    };
    let mut kvs: Vec<KeyValue> = live[..keep].iter().map(|kv| (*kv).clone()).collect();
    if req.keys_only {
        kvs.iter_mut().for_each(|kv| kv.value.clear());
    }
    RangeResponse::new(0)
        .kvs(kvs)
        .count(count)
        .more((keep as u64) < count)
}

fn expect_err<T: Debug>(r: &revkv::Result<T>, expected: &[Expect]) -> Result<(), String> {
    match r {
        Ok(v) => Err(format!("expected an error in {expected:?}, got Ok({v:?})")),
        Err(e) => match classify(e) {
            Some(k) if expected.contains(&k) => Ok(()),
            _ => Err(format!("expected an error in {expected:?}, got {e:?}")),
        },
    }
}

fn expect_ok<'a, T: Debug + PartialEq>(
    r: &'a revkv::Result<T>,
    want: Option<&T>,
) -> Result<&'a T, String> {
    match r {
        Ok(v) if want.is_none_or(|w| w == v) => Ok(v),
        Ok(v) => Err(format!("expected Ok({want:?}), got Ok({v:?})")),
        Err(e) => Err(format!("expected Ok({want:?}), got {e:?}")),
    }
}

/// The in-memory model: every revision's state and events, and leases.
#[derive(Debug, Clone)]
struct Model {
    rev: u64,
    compacted: u64,
    /// `snaps[r]`: the key-values live at revision r.
    snaps: Vec<Snap>,
    /// `events[r]`: the events of revision r, each with its previous kv.
    events: Vec<Vec<Event>>,
    /// id -> (granted TTL, deadline in ms)
    leases: BTreeMap<i64, (i64, u64)>,
    now: u64,
}

impl Model {
    fn new() -> Model {
        // A new store is at revision 1, as etcd's: its first write is 2.
        Model {
            rev: 1,
            compacted: 0,
            snaps: vec![Snap::new(), Snap::new()],
            events: vec![Vec::new(), Vec::new()],
            leases: BTreeMap::new(),
            now: START_MS,
        }
    }

    fn head(&self) -> &Snap {
        &self.snaps[self.rev as usize]
    }

    fn resolve(&self, rev: u64) -> Result<usize, Expect> {
        if rev == 0 {
            Ok(self.rev as usize)
        } else if rev > self.rev {
            Err(Expect::Future(rev, self.rev))
        } else if rev < self.compacted {
            Err(Expect::Compacted(self.compacted))
        } else {
            Ok(rev as usize)
        }
    }

    fn commit(&mut self, snap: Snap, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.rev += 1;
        self.snaps.push(snap);
        self.events.push(events);
    }

    fn attached(&self, id: i64) -> Vec<KeyValue> {
        self.head()
            .values()
            .filter(|kv| kv.lease == id)
            .cloned()
            .collect()
    }

    /// Evaluates a transaction as revision `rev + 1`.
    #[allow(clippy::type_complexity)]
    fn eval(&self, txn: &Txn) -> Result<(TxnResponse, Snap, Vec<Event>), Vec<Expect>> {
        let errs = txn_errs(txn);
        if !errs.is_empty() {
            return Err(errs);
        }
        let next = self.rev + 1;
        let mut head = self.head().clone();
        let succeeded = txn.compares.iter().all(|c| {
            let kvs: Vec<&KeyValue> = head
                .values()
                .filter(|kv| contains(&c.range, &kv.key))
                .collect();
            compare_holds(c, &kvs)
        });
        let ops = if succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        // etcd's checks of the chosen branch, before any of it runs: every
        // put's lease, then every read's revision.
        for op in ops {
            if let Op::Put(p) = op {
                if p.lease != 0 && !self.leases.contains_key(&p.lease) {
                    return Err(vec![Expect::LeaseNotFound(p.lease)]);
                }
            }
        }
        for op in ops {
            if let Op::Range(r) = op {
                if r.revision != 0 {
                    self.resolve(r.revision).map_err(|e| vec![e])?;
                }
            }
        }
        let mut events = Vec::new();
        let mut responses = Vec::new();
        // An op answers at the revision of its point of the transaction.
        let at = |events: &Vec<Event>| if events.is_empty() { self.rev } else { next };
        for op in ops {
            match op {
                Op::Put(p) => {
                    let prev = head.get(&p.key).cloned();
                    let kv = KeyValue {
                        key: p.key.clone(),
                        value: p.value.clone(),
                        create_revision: prev.as_ref().map_or(next, |kv| kv.create_revision),
                        mod_revision: next,
                        version: prev.as_ref().map_or(1, |kv| kv.version + 1),
                        lease: p.lease,
                    };
                    events.push(Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev_kv: prev.clone(),
                    });
                    head.insert(p.key.clone(), kv);
                    responses.push(OpResponse::Put(
                        PutResponse::new(next).prev_kv(if p.prev_kv { prev } else { None }),
                    ));
                }
                Op::Delete(d) => {
                    let victims: Vec<KeyValue> = head
                        .values()
                        .filter(|kv| contains(&d.range, &kv.key))
                        .cloned()
                        .collect();
                    for kv in &victims {
                        head.remove(&kv.key);
                        events.push(Event {
                            kind: EventKind::Delete,
                            kv: KeyValue {
                                key: kv.key.clone(),
                                mod_revision: next,
                                ..KeyValue::default()
                            },
                            prev_kv: Some(kv.clone()),
                        });
                    }
                    responses.push(OpResponse::Delete(
                        DeleteResponse::new(at(&events))
                            .deleted(victims.len() as u64)
                            .prev_kvs(if d.prev_kv { victims } else { Vec::new() }),
                    ));
                }
                Op::Range(r) => {
                    let mut resp = if r.revision == 0 {
                        range_on(&head, r)
                    } else {
                        let read_at = self.resolve(r.revision).map_err(|e| vec![e])?;
                        range_on(&self.snaps[read_at], r)
                    };
                    resp.revision = at(&events);
                    responses.push(OpResponse::Range(resp));
                }
            }
        }
        let revision = at(&events);
        let resp = TxnResponse::new(revision)
            .succeeded(succeeded)
            .responses(responses);
        Ok((resp, head, events))
    }

    fn revoke(&mut self, id: i64) -> u64 {
        let victims = self.attached(id);
        let next = self.rev + 1;
        let mut head = self.head().clone();
        let mut events = Vec::new();
        for kv in victims {
            head.remove(&kv.key);
            events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: kv.key.clone(),
                    mod_revision: next,
                    ..KeyValue::default()
                },
                prev_kv: Some(kv),
            });
        }
        self.commit(head, events);
        self.leases.remove(&id);
        self.rev
    }

    fn deadline(&self, ttl: i64) -> u64 {
        self.now.saturating_add((ttl as u64).saturating_mul(1000))
    }

    /// Checks what the store answered to `a` and, when it matches, moves
    /// the model along. `Err` describes a mismatch.
    fn step(&mut self, a: &Action, actual: &Actual) -> Result<(), String> {
        match (a, actual) {
            (Action::Put(p), Actual::Put(r)) => {
                match self.eval(&Txn::new().and_then([Op::Put(p.clone())])) {
                    Err(errs) => expect_err(r, &errs),
                    Ok((mut resp, snap, events)) => {
                        let Some(OpResponse::Put(want)) = resp.responses.pop() else {
                            unreachable!()
                        };
                        expect_ok(r, Some(&want))?;
                        self.commit(snap, events);
                        Ok(())
                    }
                }
            }
            (Action::Delete(d), Actual::Delete(r)) => {
                match self.eval(&Txn::new().and_then([Op::Delete(d.clone())])) {
                    Err(errs) => expect_err(r, &errs),
                    Ok((mut resp, snap, events)) => {
                        let Some(OpResponse::Delete(want)) = resp.responses.pop() else {
                            unreachable!()
                        };
                        expect_ok(r, Some(&want))?;
                        self.commit(snap, events);
                        Ok(())
                    }
                }
            }
            (Action::Txn(t), Actual::Txn(r)) => match self.eval(t) {
                Err(errs) => expect_err(r, &errs),
                Ok((resp, snap, events)) => {
                    expect_ok(r, Some(&resp))?;
                    self.commit(snap, events);
                    Ok(())
                }
            },
            (Action::Get(key, rev), Actual::Get(r)) => {
                let mut errs = Vec::new();
                key_errs(key, &mut errs);
                if !errs.is_empty() {
                    return expect_err(r, &errs);
                }
                match self.resolve(*rev) {
                    Err(e) => expect_err(r, &[e]),
                    Ok(at) => expect_ok(r, Some(&self.snaps[at].get(key).cloned())).map(|_| ()),
                }
            }
            (Action::Range(req), Actual::Range(r)) => {
                let mut errs = Vec::new();
                range_errs(&req.range, &mut errs);
                if !errs.is_empty() {
                    return expect_err(r, &errs);
                }
                match self.resolve(req.revision) {
                    Err(e) => expect_err(r, &[e]),
                    Ok(at) => {
                        let mut want = range_on(&self.snaps[at], req);
                        want.revision = self.rev;
                        expect_ok(r, Some(&want)).map(|_| ())
                    }
                }
            }
            (Action::Compact(rev, _), Actual::Unit(r)) => {
                if *rev == 0 {
                    // Revision 0 is never a compaction point.
                    let errs = [Expect::Compacted(self.compacted), Expect::BadRequest];
                    return expect_err(r, &errs);
                }
                if *rev <= self.compacted {
                    return expect_err(r, &[Expect::Compacted(self.compacted)]);
                }
                if *rev > self.rev {
                    return expect_err(r, &[Expect::Future(*rev, self.rev)]);
                }
                expect_ok(r, Some(&()))?;
                self.compacted = *rev;
                Ok(())
            }
            (Action::Grant(id, ttl), Actual::Grant(r)) => {
                let mut errs = Vec::new();
                if *id < 0 || *ttl <= 0 {
                    errs.push(Expect::BadRequest);
                }
                if *id > 0 && self.leases.contains_key(id) {
                    errs.push(Expect::LeaseExists(*id));
                }
                if !errs.is_empty() {
                    return expect_err(r, &errs);
                }
                // etcd refuses TTLs above 9e9 s; revkv may accept them
                // (saturating the deadline) or refuse them the same way.
                if *ttl > 9_000_000_000 && matches!(r, Err(Error::BadRequest { .. })) {
                    return Ok(());
                }
                let got = expect_ok(r, None)?;
                if got.ttl != *ttl || (*id != 0 && got.id != *id) {
                    return Err(format!("grant({id}, {ttl}) answered {got:?}"));
                }
                if got.id <= 0 || self.leases.contains_key(&got.id) {
                    return Err(format!("grant picked a bad id: {got:?}"));
                }
                self.leases.insert(got.id, (*ttl, self.deadline(*ttl)));
                Ok(())
            }
            (Action::Revoke(id), Actual::Revoke(r)) => {
                if !self.leases.contains_key(id) {
                    return expect_err(r, &[Expect::LeaseNotFound(*id)]);
                }
                let mut after = self.clone();
                let rev = after.revoke(*id);
                expect_ok(r, Some(&rev))?;
                *self = after;
                Ok(())
            }
            (Action::KeepAlive(id), Actual::KeepAlive(r)) => {
                let Some(&(ttl, deadline)) = self.leases.get(id) else {
                    return expect_err(r, &[Expect::LeaseNotFound(*id)]);
                };
                expect_ok(r, Some(&ttl))?;
                let renewed = self.deadline(ttl).max(deadline);
                self.leases.insert(*id, (ttl, renewed));
                Ok(())
            }
            (Action::TimeToLive(id), Actual::TimeToLive(r)) => {
                let Some(&(ttl, deadline)) = self.leases.get(id) else {
                    return expect_err(r, &[Expect::LeaseNotFound(*id)]);
                };
                let left = deadline.saturating_sub(self.now).div_ceil(1000) as i64;
                let want = LeaseTimeToLive::new(*id, left, ttl)
                    .keys(self.attached(*id).into_iter().map(|kv| kv.key).collect());
                expect_ok(r, Some(&want)).map(|_| ())
            }
            (Action::Leases, Actual::Leases(r)) => {
                let want: Vec<i64> = self.leases.keys().copied().collect();
                expect_ok(r, Some(&want)).map(|_| ())
            }
            (Action::Watch(w), Actual::Unit(r)) => {
                let mut errs = Vec::new();
                watch_range_errs(&w.range, &mut errs);
                if w.start_revision != 0 && w.start_revision < self.compacted {
                    errs.push(Expect::Compacted(self.compacted));
                }
                if errs.is_empty() {
                    expect_ok(r, Some(&())).map(|_| ())
                } else {
                    expect_err(r, &errs)
                }
            }
            (a, r) => Err(format!("harness bug: {a:?} answered by {r:?}")),
        }
    }

    /// The events a watch of `req` must deliver for revisions `from..=to`.
    fn watch_events(&self, req: &WatchRequest, from: u64, to: u64) -> Vec<Event> {
        let mut out = Vec::new();
        for r in from..=to.min(self.rev) {
            for e in &self.events[r as usize] {
                let wanted = contains(&req.range, &e.kv.key)
                    && match e.kind {
                        EventKind::Put => !req.no_put,
                        EventKind::Delete => !req.no_delete,
                    };
                if wanted {
                    out.push(Event {
                        kind: e.kind,
                        kv: e.kv.clone(),
                        prev_kv: if req.prev_kv { e.prev_kv.clone() } else { None },
                    });
                }
            }
        }
        out
    }
}

/// Receives from `w` until a progress notification at or past `rev`
/// (which promises every event up to it has been delivered). Panics on a
/// hang or an unexpected end of the stream.
fn drain_until(w: &Watcher, rev: u64) -> Vec<WatchResponse> {
    w.request_progress();
    let deadline = Instant::now() + PATIENCE;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match w.recv_timeout(left) {
            Ok(resp) if resp.progress_notify && resp.revision >= rev => {
                assert!(resp.events.is_empty(), "progress notification with events");
                return out;
            }
            Ok(resp) if resp.progress_notify => {}
            Ok(resp) => {
                assert_eq!(resp.compact_revision, 0, "watch compacted unexpectedly");
                out.push(resp);
            }
            Err(RecvError::Timeout) => {
                panic!(
                    "watch {} gave no progress at {rev} within {PATIENCE:?}",
                    w.id()
                )
            }
            Err(e) => panic!("watch {} ended unexpectedly: {e:?}", w.id()),
        }
    }
}

/// Events of the responses, checking that no revision is split over two
/// responses and that revisions increase.
fn flatten(resps: Vec<WatchResponse>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for resp in resps {
        assert!(!resp.events.is_empty(), "empty watch response");
        let first = resp.events[0].kv.mod_revision;
        if let Some(prev) = out.last() {
            assert!(
                prev.kv.mod_revision < first,
                "revision {first} split over two responses or out of order"
            );
        }
        for e in &resp.events {
            assert!(e.kv.mod_revision <= resp.revision, "event after its header");
        }
        assert!(resp
            .events
            .windows(2)
            .all(|w| w[0].kv.mod_revision <= w[1].kv.mod_revision));
        out.extend(resp.events);
    }
    out
}

/// Every event of a watch of `req` from `start` up to revision `rev`.
pub fn collect_until(db: &Db, req: WatchRequest, start: u64, rev: u64) -> Vec<Event> {
    let w = db
        .watch(req.start_revision(start))
        .unwrap_or_else(|e| panic!("watch from {start} on a store at {rev}: {e:?}"));
    let events = flatten(drain_until(&w, rev));
    w.cancel();
    events
}

struct OpenWatch {
    w: Watcher,
    req: WatchRequest,
    /// The first revision not yet compared.
    next: u64,
}

struct Runner {
    dir: tempfile::TempDir,
    clock: ManualClock,
    db: Db,
    variant: u8,
    m: Model,
    watches: Vec<OpenWatch>,
}

impl Runner {
    fn new(variant: u8) -> Runner {
        let dir = fresh_dir();
        let clock = ManualClock::new(START_MS);
        let db = Db::open(dir.path(), options(&clock, variant)).expect("open a new store");
        Runner {
            dir,
            clock,
            db,
            variant,
            m: Model::new(),
            watches: Vec::new(),
        }
    }

    fn open(&mut self) {
        self.db = Db::open(self.dir.path(), options(&self.clock, self.variant))
            .unwrap_or_else(|e| panic!("reopen failed: {e:?}"));
    }

    fn call(&self, a: &Action) -> Actual {
        call(&self.db, a)
    }

    fn apply(&mut self, a: Action) {
        match a {
            Action::Watch(req) => {
                let (w, unit) = match self.db.watch(req.clone()) {
                    Ok(w) => (Some(w), Ok(())),
                    Err(e) => (None, Err(e)),
                };
                let a = Action::Watch(req.clone());
                self.check_step(&a, &Actual::Unit(unit));
                if let Some(w) = w {
                    let next = if req.start_revision == 0 {
                        self.m.rev + 1
                    } else {
                        req.start_revision
                    };
                    if self.watches.len() >= MAX_WATCHERS {
                        self.sync_watches();
                        self.watches.remove(0).w.cancel();
                    }
                    self.watches.push(OpenWatch { w, req, next });
                }
            }
            Action::Cancel(i) => {
                if !self.watches.is_empty() {
                    let i = i % self.watches.len();
                    self.watches.remove(i).w.cancel();
                }
            }
            Action::SyncWatches => self.sync_watches(),
            Action::Compact(rev, physical) => {
                // Watchers are synced first, so none is behind the new
                // compaction point and its stream stays deterministic.
                self.sync_watches();
                let r = if physical {
                    self.db.compact_physical(rev)
                } else {
                    self.db.compact(rev)
                };
                self.check_step(&Action::Compact(rev, physical), &Actual::Unit(r));
            }
            Action::Reopen {
                advance_ms,
                variant,
            } => self.reopen(advance_ms, variant),
            Action::Advance { ms, let_expire } => self.advance(ms, let_expire),
            Action::Check(rev) => self.check(rev),
            Action::AfterClose(inner) => self.after_close(*inner),
            Action::Concurrent(actions) => self.concurrent(actions),
            other => {
                let actual = self.call(&other);
                self.check_step(&other, &actual);
            }
        }
        assert_eq!(self.db.current_revision(), self.m.rev, "current revision");
        assert_eq!(
            self.db.compact_revision(),
            self.m.compacted,
            "compaction revision"
        );
    }

    fn check_step(&mut self, a: &Action, actual: &Actual) {
        if let Err(msg) = self.m.step(a, actual) {
            panic!("{a:?}: {msg}");
        }
    }

    fn sync_watches(&mut self) {
        for ow in &mut self.watches {
            let got = flatten(drain_until(&ow.w, self.m.rev));
            let want = self.m.watch_events(&ow.req, ow.next, self.m.rev);
            compare_events(&got, &want, self.m.compacted, &ow.req);
            ow.next = ow.next.max(self.m.rev + 1);
        }
    }

    fn drop_watches(&mut self) {
        self.sync_watches();
        self.watches.clear();
    }

    /// Leases due by `now + ms`, soonest first.
    fn due(&self, ms: u64) -> Vec<i64> {
        let at = self.m.now.saturating_add(ms);
        let mut due: Vec<(u64, i64)> = self
            .m
            .leases
            .iter()
            .filter(|(_, l)| l.1 <= at)
            .map(|(&id, l)| (l.1, id))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    fn revoke_now(&mut self, id: i64) {
        let a = Action::Revoke(id);
        let actual = self.call(&a);
        self.check_step(&a, &actual);
    }

    /// Waits until the expiry thread has revoked `id`, then applies that.
    fn await_expiry(&mut self, id: i64) {
        let gone = wait_until(PATIENCE, || {
            !self.db.leases().expect("leases").contains(&id)
        });
        assert!(gone, "lease {id} is past its deadline but was not revoked");
        self.m.revoke(id);
    }

    fn advance(&mut self, ms: u64, let_expire: bool) {
        let due = self.due(ms);
        // Only one lease may expire on its own: the order in which the
        // expiry thread revokes several is its own business.
        let keep = usize::from(let_expire && !due.is_empty());
        for &id in &due[keep..] {
            self.revoke_now(id);
        }
        self.clock.advance(Duration::from_millis(ms));
        self.m.now += ms;
        if keep == 1 {
            self.await_expiry(due[0]);
        }
    }

    fn reopen(&mut self, advance_ms: u64, variant: u8) {
        self.drop_watches();
        // A lease that expires while the store is closed is revoked right
        // after it opens again (incident 1).
        let due = self.due(advance_ms);
        for &id in due.iter().skip(1) {
            self.revoke_now(id);
        }
        self.db.close().expect("close");
        self.clock.advance(Duration::from_millis(advance_ms));
        self.m.now += advance_ms;
        self.variant = variant;
        self.open();
        if let Some(&id) = due.first() {
            self.await_expiry(id);
        }
        self.check(0);
    }

    fn after_close(&mut self, a: Action) {
        self.drop_watches();
        let w = self
            .db
            .watch(WatchRequest::new(KeyRange::all()))
            .expect("watch");
        self.db.close().expect("close");
        for _ in 0..1000 {
            match w.try_recv() {
                Ok(_) => {}
                Err(RecvError::Ended) => break,
                Err(e) => panic!("a watch outlived close: {e:?}"),
            }
        }
        let mut allowed = arg_errs(&a);
        allowed.push(Expect::Closed);
        let actual = self.call(&a);
        let verdict = match &actual {
            Actual::Put(r) => expect_err(r, &allowed),
            Actual::Delete(r) => expect_err(r, &allowed),
            Actual::Txn(r) => expect_err(r, &allowed),
            Actual::Get(r) => expect_err(r, &allowed),
            Actual::Range(r) => expect_err(r, &allowed),
            Actual::Unit(r) => expect_err(r, &allowed),
            Actual::Grant(r) => expect_err(r, &allowed),
            Actual::Revoke(r) => expect_err(r, &allowed),
            Actual::KeepAlive(r) => expect_err(r, &allowed),
            Actual::TimeToLive(r) => expect_err(r, &allowed),
            Actual::Leases(r) => expect_err(r, &allowed),
        };
        if let Err(msg) = verdict {
            panic!("after close, {a:?}: {msg}");
        }
        assert!(self.db.close().is_ok(), "a second close fails");
        self.open();
        self.check(0);
    }

    fn concurrent(&mut self, actions: Vec<Action>) {
        let barrier = Barrier::new(actions.len());
        let db = &self.db;
        let actuals: Vec<Actual> = std::thread::scope(|s| {
            let handles: Vec<_> = actions
                .iter()
                .map(|a| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        call(db, a)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a writer thread of the harness panicked"))
                .collect()
        });
        // The writer serialized them in some order: one order must explain
        // every answer.
        let mut failures = Vec::new();
        for order in permutations(actions.len()) {
            let mut m = self.m.clone();
            match order
                .iter()
                .try_for_each(|&i| m.step(&actions[i], &actuals[i]).map_err(|e| (i, e)))
            {
                Ok(()) => {
                    self.m = m;
                    return;
                }
                Err(e) => failures.push((order, e)),
            }
        }
        panic!("no order explains concurrent {actions:?} -> {actuals:?}: {failures:?}");
    }

    /// Compares the whole visible state with the model.
    fn check(&mut self, rev: u64) {
        let all = RangeRequest::new(KeyRange::all());
        self.apply_read(Action::Range(all.clone()));
        for key in KEYS {
            self.apply_read(Action::Get(key.to_vec(), 0));
        }
        if rev >= self.m.compacted.max(1) && rev <= self.m.rev {
            self.apply_read(Action::Range(all.revision(rev)));
        }
        self.apply_read(Action::Leases);
        for id in self.m.leases.keys().copied().collect::<Vec<_>>() {
            self.apply_read(Action::TimeToLive(id));
        }
        let stats = self.db.stats().expect("stats");
        assert_eq!(
            (stats.revision, stats.compact_revision, stats.live_keys),
            (self.m.rev, self.m.compacted, self.m.head().len() as u64),
            "stats"
        );
    }

    fn apply_read(&mut self, a: Action) {
        let actual = self.call(&a);
        self.check_step(&a, &actual);
    }

    fn finish(mut self) {
        self.drop_watches();
        // Every event ever written, from the compaction point on.
        let start = self.m.compacted.max(1);
        let req = WatchRequest::new(KeyRange::all()).prev_kv();
        let got = collect_until(&self.db, req.clone(), start, self.m.rev);
        compare_events(
            &got,
            &self.m.watch_events(&req, start, self.m.rev),
            self.m.compacted,
            &req,
        );
        self.check(self.m.compacted);
        let problems = self.db.verify().expect("verify").problems;
        assert!(
            problems.is_empty(),
            "verify of a store built through the API: {problems:#?}"
        );
        self.reopen(0, self.variant);
        self.check(self.m.rev);
        self.db.close().expect("close");
    }
}

fn compare_events(got: &[Event], want: &[Event], compacted: u64, req: &WatchRequest) {
    let same = got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.kind == w.kind
                && g.kv == w.kv
                && (g.prev_kv == w.prev_kv
                    // The version before the compaction revision may be gone.
                    || (g.prev_kv.is_none() && g.kv.mod_revision <= compacted))
        });
    assert!(
        same,
        "watch {req:?} delivered\n{got:#?}\nexpected\n{want:#?}"
    );
}

fn call(db: &Db, a: &Action) -> Actual {
    match a {
        Action::Put(p) => Actual::Put(db.put_with(p.clone())),
        Action::Delete(d) => Actual::Delete(db.delete_range(d.clone())),
        Action::Txn(t) => Actual::Txn(db.txn(t.clone())),
        Action::Get(k, rev) => Actual::Get(db.get_at(k, *rev)),
        Action::Range(r) => Actual::Range(db.range(r.clone())),
        Action::Compact(rev, false) => Actual::Unit(db.compact(*rev)),
        Action::Compact(rev, true) => Actual::Unit(db.compact_physical(*rev)),
        Action::Grant(id, ttl) => Actual::Grant(db.lease_grant_with_id(*id, *ttl)),
        Action::Revoke(id) => Actual::Revoke(db.lease_revoke(*id)),
        Action::KeepAlive(id) => Actual::KeepAlive(db.lease_keep_alive(*id)),
        Action::TimeToLive(id) => Actual::TimeToLive(db.lease_time_to_live(*id, true)),
        Action::Leases => Actual::Leases(db.leases()),
        Action::Watch(w) => Actual::Unit(db.watch(w.clone()).map(|_| ())),
        other => panic!("harness bug: {other:?} is not a single call"),
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for i in 0..=p.len() {
            let mut q = p.clone();
            q.insert(i, n - 1);
            out.push(q);
        }
    }
    out
}

fn options(clock: &ManualClock, variant: u8) -> Options {
    Options::new()
        .sync(match variant % 3 {
            0 => SyncPolicy::Never,
            1 => SyncPolicy::Always,
            _ => SyncPolicy::Interval(Duration::from_millis(1)),
        })
        .segment_size(4096 << (variant / 3 % 3))
        .compression(if variant & 16 != 0 {
            Compression::Zstd {
                threshold: 64,
                level: 1,
            }
        } else {
            Compression::None
        })
        .max_key_size(MAX_KEY)
        .max_value_size(MAX_VALUE)
        .max_group_requests(if variant & 32 != 0 { 1 } else { 64 })
        .clock(Arc::new(clock.clone()))
}

// ---------------------------------------------------------------------
// Decoding actions from bytes.

fn key(input: &mut Input<'_>) -> Vec<u8> {
    KEYS[input.below(KEYS.len())].to_vec()
}

fn value(input: &mut Input<'_>) -> Vec<u8> {
    let b = input.byte();
    let len = match b {
        248.. => 512 << (b % 4),
        _ => b as usize % 24,
    };
    let fill = input.byte();
    (0..len).map(|i| fill.wrapping_add((i % 7) as u8)).collect()
}

fn valid_range(input: &mut Input<'_>) -> KeyRange {
    match input.byte() % 6 {
        0 => KeyRange::single(key(input)),
        1 => KeyRange::all(),
        2 => KeyRange::from_key(key(input)),
        3 => KeyRange::prefix(key(input)),
        _ => {
            let (a, b) = (key(input), key(input));
            KeyRange::range(a.clone().min(b.clone()), a.max(b))
        }
    }
}

/// A revision a read may ask for: 0, one still retained, or the current.
fn read_rev(input: &mut Input<'_>, m: &Model) -> u64 {
    let first = m.compacted.max(1);
    match input.byte() % 3 {
        0 => 0,
        _ if m.rev >= first => first + input.below((m.rev - first + 1) as usize) as u64,
        _ => 0,
    }
}

fn live_lease(input: &mut Input<'_>, m: &Model) -> i64 {
    let ids: Vec<i64> = m.leases.keys().copied().collect();
    if ids.is_empty() {
        0
    } else {
        ids[input.below(ids.len())]
    }
}

fn put_req(input: &mut Input<'_>, m: &Model) -> PutRequest {
    let mut p = PutRequest::new(key(input), value(input));
    if input.byte() % 3 == 0 {
        p.lease = live_lease(input, m);
    }
    p.prev_kv = input.bool();
    p
}

fn delete_req(input: &mut Input<'_>) -> DeleteRequest {
    let mut d = DeleteRequest::new(valid_range(input));
    d.prev_kv = input.bool();
    d
}

fn range_req(input: &mut Input<'_>, m: &Model) -> RangeRequest {
    let mut r = RangeRequest::new(valid_range(input)).revision(read_rev(input, m));
    let flags = input.byte();
    if flags & 1 != 0 {
        r.limit = 1 + (flags as u64 >> 4) % 3;
    }
    r.count_only = flags & 2 != 0;
    r.keys_only = flags & 4 != 0;
    r
}

fn compare(input: &mut Input<'_>, m: &Model) -> Compare {
    let op = [
        CompareOp::Equal,
        CompareOp::NotEqual,
        CompareOp::Less,
        CompareOp::Greater,
    ][input.below(4)];
    let small = |input: &mut Input<'_>| input.below(m.rev as usize + 2) as u64;
    let target = match input.byte() % 5 {
        0 => CompareTarget::Value(value(input)),
        1 => CompareTarget::CreateRevision(small(input)),
        2 => CompareTarget::ModRevision(small(input)),
        3 => CompareTarget::Version(input.below(4) as u64),
        _ => CompareTarget::Lease(if input.bool() {
            0
        } else {
            live_lease(input, m)
        }),
    };
    let c = Compare::new(key(input), op, target);
    if input.byte() % 4 == 0 {
        c.over(valid_range(input))
    } else {
        c
    }
}

fn txn_op(input: &mut Input<'_>, m: &Model) -> Op {
    match input.byte() % 4 {
        0 | 1 => Op::Put(put_req(input, m)),
        2 => Op::Delete(delete_req(input)),
        _ => Op::Range(range_req(input, m)),
    }
}

fn valid_txn(input: &mut Input<'_>, m: &Model) -> Txn {
    let mut t = Txn::new();
    for _ in 0..input.below(3) {
        t.compares.push(compare(input, m));
    }
    for branch in [&mut t.success, &mut t.failure] {
        for _ in 0..input.below(4) {
            let op = txn_op(input, m);
            branch.push(op);
            if !branch_ok(branch) {
                branch.pop();
            }
        }
    }
    t
}

fn lease_ttl(input: &mut Input<'_>) -> i64 {
    1 + input.below(120) as i64
}

/// A write for a concurrent group.
fn write_action(input: &mut Input<'_>, m: &Model, misuse: bool) -> Action {
    if misuse && input.byte() % 2 == 0 {
        return misuse_write(input, m);
    }
    match input.byte() % 6 {
        0 | 1 => Action::Put(put_req(input, m)),
        2 | 3 => Action::Txn(valid_txn(input, m)),
        4 => Action::Grant(input.byte() as i64 % 5, lease_ttl(input)),
        _ => Action::Revoke(live_lease(input, m)),
    }
}

/// A valid operation.
fn valid_action(input: &mut Input<'_>, m: &Model, misuse: bool) -> Action {
    match input.byte() % 24 {
        0..=3 => Action::Put(put_req(input, m)),
        4 => Action::Delete(DeleteRequest::key(key(input))),
        5 => Action::Delete(delete_req(input)),
        6..=8 => Action::Txn(valid_txn(input, m)),
        9 => Action::Get(key(input), read_rev(input, m)),
        10 => Action::Range(range_req(input, m)),
        11 => {
            let from = m.compacted + 1;
            if m.rev >= from {
                Action::Compact(
                    from + input.below((m.rev - from + 1) as usize) as u64,
                    input.bool(),
                )
            } else {
                Action::Check(0)
            }
        }
        12 => Action::Grant(
            if input.bool() {
                0
            } else {
                1 + input.byte() as i64 % 4
            },
            lease_ttl(input),
        ),
        13 => Action::Revoke(live_lease(input, m)),
        14 => Action::KeepAlive(live_lease(input, m)),
        15 => Action::TimeToLive(live_lease(input, m)),
        16 => {
            let mut w = WatchRequest::new(valid_range(input));
            w.start_revision = match input.byte() % 3 {
                0 => 0,
                1 => m.compacted.max(1) + input.below(4) as u64,
                _ => read_rev(input, m),
            };
            let flags = input.byte();
            w.prev_kv = flags & 1 != 0;
            w.no_put = flags & 6 == 2;
            w.no_delete = flags & 6 == 4;
            Action::Watch(w)
        }
        17 => match input.byte() % 3 {
            0 => Action::Cancel(input.byte() as usize),
            _ => Action::SyncWatches,
        },
        18 => Action::Reopen {
            advance_ms: match input.byte() % 4 {
                0 => 1000 * input.byte() as u64,
                _ => 0,
            },
            variant: input.byte(),
        },
        19 => Action::Advance {
            ms: 500 * input.byte() as u64,
            let_expire: input.bool(),
        },
        20 => Action::Check(read_rev(input, m)),
        _ => {
            let n = 2 + input.below(2);
            Action::Concurrent((0..n).map(|_| write_action(input, m, misuse)).collect())
        }
    }
}

fn bad_key(input: &mut Input<'_>) -> Vec<u8> {
    match input.byte() % 3 {
        0 => Vec::new(),
        1 => vec![b'k'; MAX_KEY + 1 + input.below(3)],
        _ => key(input),
    }
}

fn bad_range(input: &mut Input<'_>) -> KeyRange {
    match input.byte() % 5 {
        0 => KeyRange::range(b"c".to_vec(), b"b".to_vec()),
        1 => KeyRange::range(Vec::new(), vec![0]),
        2 => KeyRange::range(b"a".to_vec(), vec![b'z'; MAX_KEY + 1]),
        3 => KeyRange::single(bad_key(input)),
        _ => KeyRange::range(key(input), key(input)),
    }
}

fn unknown_lease(input: &mut Input<'_>, m: &Model) -> i64 {
    let id = match input.byte() % 4 {
        0 => -1 - input.byte() as i64,
        1 => i64::MAX,
        2 => i64::MIN,
        _ => 1000 + input.byte() as i64,
    };
    if m.leases.contains_key(&id) {
        99_999
    } else {
        id
    }
}

/// A write that must fail and change nothing.
fn misuse_write(input: &mut Input<'_>, m: &Model) -> Action {
    match input.byte() % 6 {
        0 => {
            // Valid writes, then a put with a lease that does not exist:
            // the writes evaluated before it must not leak.
            let mut t = valid_txn(input, m);
            t.compares.clear();
            t.success.push(Op::Put(
                PutRequest::new(b"zz".to_vec(), value(input)).lease(unknown_lease(input, m)),
            ));
            Action::Txn(t)
        }
        1 => {
            // A put, then a read at a revision that does not exist yet.
            let mut t = Txn::new().and_then([Op::Put(put_req(input, m))]);
            t.success.push(Op::Range(
                RangeRequest::new(KeyRange::all()).revision(m.rev + 1 + input.below(3) as u64),
            ));
            Action::Txn(t)
        }
        2 => {
            let k = key(input);
            Action::Txn(
                Txn::new().and_then([Op::put(k.clone(), value(input)), Op::put(k, value(input))]),
            )
        }
        3 => {
            let k = key(input);
            Action::Txn(Txn::new().or_else([
                Op::Delete(DeleteRequest::new(KeyRange::prefix(k.clone()))),
                Op::put(k, value(input)),
            ]))
        }
        4 => Action::Put(PutRequest::new(key(input), value(input)).lease(unknown_lease(input, m))),
        _ => Action::Put(PutRequest::new(bad_key(input), vec![b'v'; MAX_VALUE + 1])),
    }
}

/// An operation that must fail (or, for empty and failing transactions,
/// succeed without writing), leaving the store as it was.
fn misuse_action(input: &mut Input<'_>, m: &Model) -> Action {
    match input.byte() % 16 {
        0 => Action::Txn(Txn::new()),
        1 => {
            let mut t = Txn::new();
            for _ in 0..1 + input.below(3) {
                t.compares.push(compare(input, m));
            }
            Action::Txn(t)
        }
        2 => {
            // A compare that cannot hold, a success branch that would write
            // and an empty (or read-only) failure branch.
            let mut t = Txn::new()
                .when([Compare::version(key(input), CompareOp::Equal, 1_000_000)])
                .and_then([Op::Put(put_req(input, m))]);
            if input.bool() {
                t.failure.push(Op::Range(range_req(input, m)));
            }
            Action::Txn(t)
        }
        3 => misuse_write(input, m),
        4 => Action::Put(PutRequest::new(bad_key(input), value(input))),
        5 => {
            match input.byte() % 5 {
                0 => Action::Range(RangeRequest::new(bad_range(input))),
                1 => Action::Delete(DeleteRequest::new(bad_range(input))),
                2 => Action::Watch(WatchRequest::new(bad_range(input))),
                3 => Action::Get(bad_key(input), 0),
                _ => Action::Txn(
                    Txn::new()
                        .when([Compare::version(key(input), CompareOp::Equal, 0)
                            .over(bad_range(input))])
                        .and_then([Op::put(key(input), value(input))]),
                ),
            }
        }
        6 => {
            let rev = match input.byte() % 3 {
                0 => m.rev + 1 + input.below(5) as u64,
                1 => u64::MAX,
                _ => m.compacted.saturating_sub(1 + input.below(3) as u64),
            };
            if input.bool() {
                Action::Get(key(input), rev)
            } else {
                Action::Range(RangeRequest::new(valid_range(input)).revision(rev))
            }
        }
        7 => Action::Compact(
            match input.byte() % 3 {
                0 => m.compacted,
                1 => input.below(m.compacted as usize + 1) as u64,
                _ => m.rev + 1 + input.below(3) as u64,
            },
            input.bool(),
        ),
        8 => Action::Put(PutRequest::new(key(input), value(input)).lease(unknown_lease(input, m))),
        9 => match input.byte() % 7 {
            0 => Action::Revoke(unknown_lease(input, m)),
            1 => Action::KeepAlive(unknown_lease(input, m)),
            2 => Action::TimeToLive(unknown_lease(input, m)),
            3 => Action::Grant(live_lease(input, m), lease_ttl(input)),
            4 => Action::Grant(input.byte() as i64 % 3, -(input.byte() as i64)),
            5 => Action::Grant(-1 - input.byte() as i64, lease_ttl(input)),
            _ => {
                let ttl = [
                    i64::MAX,
                    9_000_000_001,
                    (u64::MAX / 1000) as i64 + 1,
                    1 << 62,
                ][input.below(4)];
                Action::Grant(0, ttl)
            }
        },
        10 => Action::Watch(
            WatchRequest::new(valid_range(input))
                .start_revision(m.compacted.saturating_sub(1 + input.below(3) as u64)),
        ),
        11 => Action::Cancel(input.byte() as usize),
        12 | 13 => {
            let inner = if input.bool() {
                misuse_action(input, m)
            } else {
                valid_action(input, m, true)
            };
            match inner {
                a @ (Action::Put(_)
                | Action::Delete(_)
                | Action::Txn(_)
                | Action::Get(..)
                | Action::Range(_)
                | Action::Compact(..)
                | Action::Grant(..)
                | Action::Revoke(_)
                | Action::KeepAlive(_)
                | Action::TimeToLive(_)
                | Action::Leases
                | Action::Watch(_)) => Action::AfterClose(Box::new(a)),
                _ => Action::AfterClose(Box::new(Action::Leases)),
            }
        }
        14 => {
            let n = 2 + input.below(2);
            Action::Concurrent((0..n).map(|_| write_action(input, m, true)).collect())
        }
        _ => Action::Put(PutRequest::new(
            key(input),
            vec![b'x'; MAX_VALUE + 1 + input.below(2)],
        )),
    }
}

fn run(data: &[u8], misuse: bool) {
    let trace = std::env::var_os("REVKV_FUZZ_TRACE").is_some();
    let mut input = Input::new(data);
    let mut r = Runner::new(input.byte());
    if trace {
        eprintln!("options variant {}", r.variant);
    }
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        let a = if misuse && input.bool() {
            misuse_action(&mut input, &r.m)
        } else {
            valid_action(&mut input, &r.m, misuse)
        };
        if trace {
            eprintln!("step: {}", super::shorten(&format!("{a:?}")));
        }
        r.apply(a);
    }
    r.finish();
}

/// Target `ops_model`.
pub fn ops_model(data: &[u8]) {
    run(data, false);
}

/// Target `api_misuse`.
pub fn api_misuse(data: &[u8]) {
    run(data, true);
}
