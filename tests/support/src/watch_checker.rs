//! A checker of the watch guarantees revkv promises (etcd's, see CONTEXT.md):
//!
//! - ordered: events in revision order, and in request order within a revision;
//! - unique: no event twice;
//! - reliable: no gap: every matching event from the start revision up to the
//!   last revision the stream reached is delivered;
//! - atomic: all matching events of one revision in the same response;
//! - resumable: a stream started again at (last seen + 1) continues exactly
//!   ([`check_resumed`]);
//! - bookmarkable: a progress notification at R comes only after every
//!   matching event <= R was delivered;
//! - filters (range, `no_put`, `no_delete`), event contents and `prev_kv`
//!   match the history; a compacted response ends the stream and only comes
//!   when the stream's position really fell below a compaction.
//!
//! The truth is a [`History`]: for each revision, the ordered events it made,
//! each with the previous key-value. It is built independently of the streams
//! it judges: from the writes' own responses replayed through a plain model
//! ([`History::from_writes`]); [`History::read_back`] reads it from the store
//! with a full-history watch, as a cross-check of the model.
//!
//! A stream is a [`Recorded`]: one watcher's request, its start revision and
//! the responses it received. [`check`] returns the first [`Violation`],
//! naming the guarantee and the events involved.

use revkv::{
    Db, Event, EventKind, KeyRange, KeyValue, Op, OpResponse, RecvError, Txn, TxnResponse,
    WatchRequest, WatchResponse, Watcher,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Violations

/// Which promise a stream broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guarantee {
    /// Events out of revision order (or out of request order inside one),
    /// or a progress notification going backwards.
    Ordered,
    /// An event delivered twice.
    Unique,
    /// A matching event missing between the start and the last revision reached.
    Reliable,
    /// The events of one revision split over several responses.
    Atomic,
    /// A resumed stream does not continue exactly where the previous one stopped.
    Resumable,
    /// A progress notification before an event it covers.
    Bookmarkable,
    /// An event the request's range or filters exclude.
    Filter,
    /// A wrong (or unasked-for) previous key-value.
    PrevKv,
    /// An event that is not in the history, or differs from it.
    Content,
    /// An event below the start revision.
    Start,
    /// A compacted response that should not have come.
    Compaction,
    /// A malformed stream: wrong watch id, empty response, response after the end.
    Protocol,
}

impl fmt::Display for Guarantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Guarantee::Ordered => "ordered",
            Guarantee::Unique => "unique",
            Guarantee::Reliable => "reliable",
            Guarantee::Atomic => "atomic",
            Guarantee::Resumable => "resumable",
            Guarantee::Bookmarkable => "bookmarkable",
            Guarantee::Filter => "filter",
            Guarantee::PrevKv => "prev_kv",
            Guarantee::Content => "content",
            Guarantee::Start => "start revision",
            Guarantee::Compaction => "compaction",
            Guarantee::Protocol => "protocol",
        };
        f.write_str(name)
    }
}

/// A broken promise, with a description of where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The guarantee broken.
    pub guarantee: Guarantee,
    /// What was seen, naming the events and responses involved.
    pub detail: String,
}

impl Violation {
    fn new(guarantee: Guarantee, detail: impl Into<String>) -> Violation {
        Violation {
            guarantee,
            detail: detail.into(),
        }
    }

    fn context(mut self, what: &str) -> Violation {
        self.detail = format!("{what}: {}", self.detail);
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "watch guarantee violated ({}): {}",
            self.guarantee, self.detail
        )
    }
}

impl std::error::Error for Violation {}

fn fail<T>(guarantee: Guarantee, detail: impl Into<String>) -> Result<T, Violation> {
    Err(Violation::new(guarantee, detail))
}

/// `PUT a/1@5`, `DELETE a/1@7`.
pub fn describe(e: &Event) -> String {
    let kind = match e.kind {
        EventKind::Put => "PUT",
        EventKind::Delete => "DELETE",
    };
    format!(
        "{kind} {}@{}",
        String::from_utf8_lossy(&e.kv.key),
        e.kv.mod_revision
    )
}

/// A key-value in one line.
pub fn show_kv(kv: &KeyValue) -> String {
    format!(
        "{{key={} value={:?} create={} mod={} version={} lease={}}}",
        String::from_utf8_lossy(&kv.key),
        String::from_utf8_lossy(&kv.value),
        kv.create_revision,
        kv.mod_revision,
        kv.version,
        kv.lease
    )
}

fn show_prev(kv: &Option<KeyValue>) -> String {
    kv.as_ref().map_or_else(|| "none".to_string(), show_kv)
}

/// True when `req` asks for event `e` (range and filters).
pub fn wants(req: &WatchRequest, e: &Event) -> bool {
    req.range.contains(&e.kv.key)
        && match e.kind {
            EventKind::Put => !req.no_put,
            EventKind::Delete => !req.no_delete,
        }
}

// ---------------------------------------------------------------------------
// The history

/// One operation of a write as its caller sent it, with what the response
/// said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// A put.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        lease: i64,
    },
    /// A delete of a key or range, and how many keys the response says it
    /// deleted.
    Delete { range: KeyRange, deleted: u64 },
}

/// One acknowledged write transaction: the operations of the branch that ran,
/// and the revision of the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The response's revision (the current revision when nothing was written).
    pub revision: u64,
    /// The operations that ran, in order (reads left out).
    pub ops: Vec<WriteOp>,
}

impl Write {
    /// The write a transaction made, from the transaction and its response.
    pub fn from_txn(txn: &Txn, resp: &TxnResponse) -> Write {
        let branch = if resp.succeeded {
            &txn.success
        } else {
            &txn.failure
        };
        let mut ops = Vec::new();
        for (op, r) in branch.iter().zip(&resp.responses) {
            match (op, r) {
                (Op::Put(p), _) => ops.push(WriteOp::Put {
                    key: p.key.clone(),
                    value: p.value.clone(),
                    lease: p.lease,
                }),
                (Op::Delete(d), OpResponse::Delete(dr)) => ops.push(WriteOp::Delete {
                    range: d.range.clone(),
                    deleted: dr.deleted,
                }),
                _ => {}
            }
        }
        Write {
            revision: resp.revision,
            ops,
        }
    }

    /// True when the write consumed a revision: it put something or deleted
    /// at least one key.
    pub fn wrote(&self) -> bool {
        self.ops.iter().any(|op| match op {
            WriteOp::Put { .. } => true,
            WriteOp::Delete { deleted, .. } => *deleted > 0,
        })
    }
}

/// Runs writes against a [`Db`] and records each one as a [`Write`].
#[derive(Debug)]
pub struct WriteLog<'a> {
    pub db: &'a Db,
    pub writes: Vec<Write>,
}

impl<'a> WriteLog<'a> {
    pub fn new(db: &'a Db) -> WriteLog<'a> {
        WriteLog {
            db,
            writes: Vec::new(),
        }
    }

    /// Runs and records a transaction.
    pub fn txn(&mut self, txn: Txn) -> revkv::Result<TxnResponse> {
        let resp = self.db.txn(txn.clone())?;
        self.writes.push(Write::from_txn(&txn, &resp));
        Ok(resp)
    }

    /// Puts; returns the revision.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> u64 {
        let txn = Txn::new().and_then([Op::put(key, value)]);
        self.txn(txn).expect("put").revision
    }

    /// Deletes a range; returns (revision, deleted).
    pub fn delete_range(&mut self, range: KeyRange) -> (u64, u64) {
        let txn = Txn::new().and_then([Op::Delete(revkv::DeleteRequest::new(range))]);
        let resp = self.txn(txn).expect("delete");
        let deleted = match resp.responses.first() {
            Some(OpResponse::Delete(d)) => d.deleted,
            _ => 0,
        };
        (resp.revision, deleted)
    }

    /// Deletes one key; returns (revision, deleted).
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> (u64, u64) {
        self.delete_range(KeyRange::single(key))
    }
}

/// What the store did at each revision: the events in order, each with the
/// previous key-value (whether or not a watch asked for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    revisions: BTreeMap<u64, Vec<Event>>,
    head: u64,
    compactions: Vec<u64>,
}

impl History {
    /// An empty history.
    pub fn new() -> History {
        History::default()
    }

    /// Appends one revision's events (for hand-made histories).
    pub fn push(&mut self, revision: u64, events: Vec<Event>) {
        assert!(revision > self.head, "revisions are appended in order");
        self.head = revision;
        self.revisions.insert(revision, events);
    }

    /// Records that the store was compacted at `revision`.
    pub fn compacted(&mut self, revision: u64) {
        self.compactions.push(revision);
    }

    /// The newest compaction revision, 0 if none.
    pub fn compact_revision(&self) -> u64 {
        self.compactions.iter().copied().max().unwrap_or(0)
    }

    /// The newest revision recorded.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The events of one revision.
    pub fn events_at(&self, revision: u64) -> &[Event] {
        self.revisions.get(&revision).map_or(&[], |v| v.as_slice())
    }

    /// Every event, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.revisions.values().flatten()
    }

    fn find(&self, revision: u64, key: &[u8]) -> Option<(usize, &Event)> {
        self.revisions
            .get(&revision)?
            .iter()
            .enumerate()
            .find(|(_, e)| e.kv.key == key)
    }

    /// The history that acknowledged writes made on a store that was empty,
    /// computed by replaying them through a plain in-memory model (ordered
    /// by their revisions, each revision exactly once from 2 on: the first
    /// write of a new store, which is at revision 1 as etcd's). Fails if
    /// the writes are not a complete, consistent history: a revision
    /// missing or claimed twice, or a delete whose response counted other
    /// keys than the model holds.
    pub fn from_writes(writes: impl IntoIterator<Item = Write>) -> Result<History, String> {
        History::from_writes_from(2, writes)
    }

    /// [`History::from_writes`] of a history whose first write is `first`
    /// (the checker's own tests number theirs from 1).
    pub fn from_writes_from(
        first: u64,
        writes: impl IntoIterator<Item = Write>,
    ) -> Result<History, String> {
        let mut by_rev: BTreeMap<u64, Write> = BTreeMap::new();
        for w in writes {
            if !w.wrote() {
                continue;
            }
            let rev = w.revision;
            if let Some(other) = by_rev.insert(rev, w.clone()) {
                return Err(format!(
                    "two writes claim revision {rev}: {other:?} and {w:?}"
                ));
            }
        }
        let mut model: BTreeMap<Vec<u8>, KeyValue> = BTreeMap::new();
        let mut history = History::new();
        for (expect, (rev, w)) in (first..).zip(by_rev) {
            if rev != expect {
                return Err(format!("no write recorded for revision {expect}"));
            }
            let mut events = Vec::new();
            for op in w.ops {
                match op {
                    WriteOp::Put { key, value, lease } => {
                        let prev = model.get(&key).cloned();
                        let kv = KeyValue {
                            key: key.clone(),
                            value,
                            create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                            mod_revision: rev,
                            version: prev.as_ref().map_or(1, |p| p.version + 1),
                            lease,
                        };
                        model.insert(key, kv.clone());
                        events.push(Event {
                            kind: EventKind::Put,
                            kv,
                            prev_kv: prev,
                        });
                    }
                    WriteOp::Delete { range, deleted } => {
                        let victims: Vec<KeyValue> = model
                            .values()
                            .filter(|kv| range.contains(&kv.key))
                            .cloned()
                            .collect();
                        if victims.len() as u64 != deleted {
                            return Err(format!(
                                "revision {rev}: the model deletes {} keys of {range:?}, \
                                 the response said {deleted}",
                                victims.len()
                            ));
                        }
                        for v in victims {
                            model.remove(&v.key);
                            events.push(Event {
                                kind: EventKind::Delete,
                                kv: KeyValue {
                                    key: v.key.clone(),
                                    mod_revision: rev,
                                    ..KeyValue::default()
                                },
                                prev_kv: Some(v),
                            });
                        }
                    }
                }
            }
            history.push(rev, events);
        }
        Ok(history)
    }

    /// Reads the history of revisions `from..=through` back from the store
    /// with one watch of every key, with previous key-values.
    pub fn read_back(
        db: &Db,
        from: u64,
        through: u64,
        timeout: Duration,
    ) -> Result<History, String> {
        let mut history = History::new();
        if through < from {
            return Ok(history);
        }
        let w = db
            .watch(
                WatchRequest::new(KeyRange::all())
                    .start_revision(from)
                    .prev_kv(),
            )
            .map_err(|e| format!("read_back: watch from {from}: {e}"))?;
        let deadline = Instant::now() + timeout;
        let mut pending: Option<(u64, Vec<Event>)> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let resp = match w.recv_timeout(left) {
                Ok(resp) => resp,
                Err(e) => {
                    return Err(format!(
                        "read_back: {e:?} before revision {through} (got to {})",
                        history.head
                    ))
                }
            };
            for e in resp.events {
                let rev = e.kv.mod_revision;
                match &mut pending {
                    Some((r, evs)) if *r == rev => evs.push(e),
                    _ => {
                        if let Some((r, evs)) = pending.take() {
                            history.push(r, evs);
                        }
                        pending = Some((rev, vec![e]));
                    }
                }
            }
            // A revision is whole once a response has ended (atomic), so a
            // pending revision at `through` is complete.
            if pending.as_ref().is_some_and(|(r, _)| *r >= through) {
                if let Some((r, evs)) = pending.take() {
                    history.push(r, evs);
                }
                return Ok(history);
            }
        }
    }

    /// The first difference from `other`, if any.
    pub fn diff(&self, other: &History) -> Option<String> {
        let revs: std::collections::BTreeSet<u64> = self
            .revisions
            .keys()
            .chain(other.revisions.keys())
            .copied()
            .collect();
        for rev in revs {
            let (a, b) = (self.events_at(rev), other.events_at(rev));
            if a != b {
                let show = |evs: &[Event]| {
                    evs.iter()
                        .map(|e| {
                            format!(
                                "{} {} prev={}",
                                describe(e),
                                show_kv(&e.kv),
                                show_prev(&e.prev_kv)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                };
                return Some(format!(
                    "revision {rev}: [{}] versus [{}]",
                    show(a),
                    show(b)
                ));
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------
// Recorded streams

/// Where a stream started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this revision (a request with a non-zero start revision).
    Exact(u64),
    /// At some revision in `lo..=hi`: a start revision of 0 ("after now"),
    /// with `lo - 1` a revision acknowledged before the watch was created
    /// and `hi - 1` the current revision read after it was created.
    Between { lo: u64, hi: u64 },
}

/// The responses one watcher received, with its request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub req: WatchRequest,
    pub start: Start,
    /// The watcher's id, if every response must carry it.
    pub watch_id: Option<u64>,
    pub responses: Vec<WatchResponse>,
}

impl Recorded {
    /// A stream of `req`, which has a non-zero start revision.
    pub fn new(req: WatchRequest) -> Recorded {
        assert!(
            req.start_revision > 0,
            "use Recorded::between for a start of 0"
        );
        let start = Start::Exact(req.start_revision);
        Recorded {
            req,
            start,
            watch_id: None,
            responses: Vec::new(),
        }
    }

    /// A stream of `req` (start revision 0) that began somewhere in `lo..=hi`.
    pub fn between(req: WatchRequest, lo: u64, hi: u64) -> Recorded {
        assert!(lo >= 1 && lo <= hi, "bad start bounds {lo}..={hi}");
        Recorded {
            req,
            start: Start::Between { lo, hi },
            watch_id: None,
            responses: Vec::new(),
        }
    }

    /// Requires every response to carry this watch id.
    pub fn id(mut self, id: u64) -> Recorded {
        self.watch_id = Some(id);
        self
    }

    /// The newest revision this stream vouched for: its last event, or its
    /// last progress notification, whichever is later; for a stream that saw
    /// neither, the revision before an exact start (`None` for an inexact one).
    pub fn last_seen(&self) -> Option<u64> {
        let seen = self
            .responses
            .iter()
            .filter_map(|r| {
                if r.progress_notify {
                    Some(r.revision)
                } else {
                    r.events.last().map(|e| e.kv.mod_revision)
                }
            })
            .max();
        match (seen, self.start) {
            (Some(s), Start::Exact(x)) => Some(s.max(x - 1)),
            (Some(s), _) => Some(s),
            (None, Start::Exact(x)) => Some(x - 1),
            (None, Start::Between { .. }) => None,
        }
    }

    /// Where a resumed stream must start: last seen + 1.
    pub fn resume_point(&self) -> Option<u64> {
        self.last_seen().map(|r| r + 1)
    }

    /// The compaction revision of the response that ended the stream, if one did.
    pub fn compacted(&self) -> Option<u64> {
        self.responses
            .last()
            .filter(|r| r.compact_revision != 0)
            .map(|r| r.compact_revision)
    }

    /// The delivered events, in order.
    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.responses.iter().flat_map(|r| r.events.iter())
    }
}

/// What a stream that passed delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The start revision (the effective one, for a start of 0).
    pub start: u64,
    /// The newest revision it reached (last event or progress notification).
    pub reached: u64,
    pub responses: usize,
    pub events: usize,
    pub progress_notifications: usize,
    /// The compaction revision that ended it, if one did.
    pub compacted: Option<u64>,
}

/// Checks one stream against the history; the first violation found.
pub fn check(history: &History, stream: &Recorded) -> Result<Summary, Violation> {
    use Guarantee::*;
    let req = &stream.req;

    // The shape of the responses.
    let mut end: Option<usize> = None;
    for (k, resp) in stream.responses.iter().enumerate() {
        if let Some(id) = stream.watch_id {
            if resp.watch_id != id {
                return fail(
                    Protocol,
                    format!("response #{k} carries watch id {}, not {id}", resp.watch_id),
                );
            }
        }
        if let Some(e) = end {
            return fail(
                Protocol,
                format!(
                    "response #{k} came after the compacted response #{e}, which ends the stream"
                ),
            );
        }
        if resp.progress_notify {
            if !resp.events.is_empty() || resp.compact_revision != 0 {
                return fail(
                    Protocol,
                    format!(
                        "progress notification #{k} carries {} events, compact revision {}",
                        resp.events.len(),
                        resp.compact_revision
                    ),
                );
            }
        } else if resp.compact_revision != 0 {
            if !resp.events.is_empty() {
                return fail(
                    Protocol,
                    format!(
                        "compacted response #{k} carries {} events",
                        resp.events.len()
                    ),
                );
            }
            end = Some(k);
        } else if resp.events.is_empty() {
            return fail(
                Protocol,
                format!("response #{k} has no events and is neither a progress notification nor a compaction"),
            );
        }
    }

    // Each event: allowed, true to the history, in order, once, whole revisions.
    let mut seen: HashMap<(u64, &[u8]), usize> = HashMap::new();
    let mut revision_response: HashMap<u64, usize> = HashMap::new();
    let mut last: Option<(u64, usize, &Event)> = None;
    let mut first_rev: Option<u64> = None;
    let mut events = 0;
    for (k, resp) in stream.responses.iter().enumerate() {
        for e in &resp.events {
            events += 1;
            let rev = e.kv.mod_revision;
            let what = describe(e);
            if !req.range.contains(&e.kv.key) {
                return fail(
                    Filter,
                    format!(
                        "{what} (response #{k}) is outside the watched range {:?}",
                        req.range
                    ),
                );
            }
            if !wants(req, e) {
                return fail(
                    Filter,
                    format!(
                        "{what} (response #{k}) delivered to a watch with no_put={} no_delete={}",
                        req.no_put, req.no_delete
                    ),
                );
            }
            let Some((pos, want)) = history.find(rev, &e.kv.key) else {
                let there: Vec<String> = history.events_at(rev).iter().map(describe).collect();
                return fail(
                    Content,
                    format!(
                        "{what} (response #{k}) is not in the history; revision {rev} holds [{}]",
                        there.join(", ")
                    ),
                );
            };
            if want.kind != e.kind || want.kv != e.kv {
                return fail(
                    Content,
                    format!(
                        "{what} (response #{k}) differs from the history: got {} {}, want {} {}",
                        describe(e),
                        show_kv(&e.kv),
                        describe(want),
                        show_kv(&want.kv)
                    ),
                );
            }
            if !req.prev_kv {
                if e.prev_kv.is_some() {
                    return fail(
                        PrevKv,
                        format!(
                            "{what} (response #{k}) carries prev_kv {} though the watch did not ask for it",
                            show_prev(&e.prev_kv)
                        ),
                    );
                }
            } else if e.prev_kv != want.prev_kv {
                // Compaction at C keeps nothing older than a key's write at C,
                // so an event at C may lack a previous key-value older than C.
                let compacted = history.compact_revision();
                let lost = e.prev_kv.is_none()
                    && rev <= compacted
                    && want
                        .prev_kv
                        .as_ref()
                        .is_some_and(|p| p.mod_revision < compacted);
                if !lost {
                    return fail(
                        PrevKv,
                        format!(
                            "{what} (response #{k}): prev_kv {}, want {}",
                            show_prev(&e.prev_kv),
                            show_prev(&want.prev_kv)
                        ),
                    );
                }
            }
            if let Some(&k0) = seen.get(&(rev, e.kv.key.as_slice())) {
                return fail(
                    Unique,
                    format!("{what} delivered twice: in response #{k0} and again in response #{k}"),
                );
            }
            if let Some((lrev, lpos, le)) = last {
                if (rev, pos) < (lrev, lpos) {
                    return fail(
                        Ordered,
                        format!(
                            "{what} (response #{k}) arrived after {}, which comes after it in the history",
                            describe(le)
                        ),
                    );
                }
            }
            match revision_response.get(&rev) {
                Some(&k0) if k0 != k => {
                    return fail(
                        Atomic,
                        format!(
                            "revision {rev} split: its events came in response #{k0} and in response #{k} ({what})"
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    revision_response.insert(rev, k);
                }
            }
            seen.insert((rev, e.kv.key.as_slice()), k);
            last = Some((rev, pos, e));
            first_rev.get_or_insert(rev);
        }
    }

    // Where the stream started and how far it got.
    let start = match stream.start {
        self::Start::Exact(x) => {
            if let Some(f) = first_rev.filter(|&f| f < x) {
                return fail(
                    Start,
                    format!("the first event is at revision {f}, below the start revision {x}"),
                );
            }
            x
        }
        self::Start::Between { lo, hi } => {
            if let Some(f) = first_rev.filter(|&f| f < lo) {
                return fail(
                    Start,
                    format!(
                        "the first event is at revision {f}, but the watch (start 0) was created after revision {} was acknowledged",
                        lo - 1
                    ),
                );
            }
            first_rev.map_or(hi, |f| f.min(hi))
        }
    };
    let last_event = last.map(|(rev, _, _)| rev);
    let bookmarks: Vec<(usize, u64)> = stream
        .responses
        .iter()
        .enumerate()
        .filter(|(_, r)| r.progress_notify)
        .map(|(k, r)| (k, r.revision))
        .collect();
    let reached_seen = last_event.max(bookmarks.iter().map(|&(_, r)| r).max());
    if let Some(r) = reached_seen.filter(|&r| r > history.head) {
        return fail(
            Content,
            format!(
                "the stream reached revision {r}, beyond the recorded history (head {})",
                history.head
            ),
        );
    }
    let reached = reached_seen.unwrap_or(start - 1).max(start - 1);

    // Every matching event in start..=reached was delivered.
    let expected: Vec<&Event> = if start <= reached {
        history
            .revisions
            .range(start..=reached)
            .flat_map(|(_, evs)| evs.iter())
            .filter(|e| wants(req, e))
            .collect()
    } else {
        Vec::new()
    };
    for want in &expected {
        let rev = want.kv.mod_revision;
        if !seen.contains_key(&(rev, want.kv.key.as_slice())) {
            let before = stream
                .events()
                .filter(|e| e.kv.mod_revision <= rev)
                .last()
                .map_or_else(|| "nothing".to_string(), describe);
            let after = stream
                .events()
                .find(|e| e.kv.mod_revision > rev)
                .map_or_else(|| format!("a progress notification at {reached}"), describe);
            return fail(
                Reliable,
                format!(
                    "{} is missing (stream from {start} reached {reached}): {before} was followed by {after}",
                    describe(want)
                ),
            );
        }
    }
    debug_assert_eq!(expected.len(), events);

    // Progress notifications only after every event they cover. Past the
    // checks above, the delivered events are exactly `expected`, in order.
    let mut delivered = 0;
    let mut last_bookmark: Option<(usize, u64)> = None;
    for (k, resp) in stream.responses.iter().enumerate() {
        if resp.progress_notify {
            let r = resp.revision;
            if let Some((k0, r0)) = last_bookmark.filter(|&(_, r0)| r < r0) {
                return fail(
                    Ordered,
                    format!("progress notification #{k} at {r} after progress notification #{k0} at {r0}"),
                );
            }
            let covered = expected.partition_point(|e| e.kv.mod_revision <= r);
            if delivered < covered {
                let missing = expected[delivered];
                let when = stream
                    .responses
                    .iter()
                    .enumerate()
                    .skip(k)
                    .find(|(_, x)| x.events.iter().any(|e| e == missing))
                    .map_or_else(|| "never".to_string(), |(m, _)| format!("in response #{m}"));
                return fail(
                    Bookmarkable,
                    format!(
                        "progress notification #{k} at revision {r} came before {} was delivered ({when})",
                        describe(missing)
                    ),
                );
            }
            last_bookmark = Some((k, r));
        }
        delivered += resp.events.len();
    }

    // A compacted response only when the stream's position fell below it.
    if let Some(k) = end {
        let c = stream.responses[k].compact_revision;
        if reached + 1 >= c {
            return fail(
                Compaction,
                format!(
                    "response #{k} ends the stream as compacted at {c}, but the stream had already reached revision {reached}"
                ),
            );
        }
        if !history.compactions.contains(&c) {
            return fail(
                Compaction,
                format!(
                    "response #{k} names compaction revision {c}; the store was compacted at {:?}",
                    history.compactions
                ),
            );
        }
    }

    Ok(Summary {
        start,
        reached,
        responses: stream.responses.len(),
        events,
        progress_notifications: bookmarks.len(),
        compacted: end.map(|k| stream.responses[k].compact_revision),
    })
}

/// Checks a stream that was cancelled and resumed: each segment must pass on
/// its own, each must start exactly at the previous one's last seen revision
/// + 1 with the same request, and the segments joined must pass as one stream.
pub fn check_resumed(history: &History, segments: &[Recorded]) -> Result<Summary, Violation> {
    let Some(first) = segments.first() else {
        return Ok(Summary::default());
    };
    for (i, seg) in segments.iter().enumerate() {
        check(history, seg)
            .map_err(|v| v.context(&format!("segment {i} of {}", segments.len())))?;
    }
    for (i, pair) in segments.windows(2).enumerate() {
        let (prev, next) = (&pair[0], &pair[1]);
        let Some(want) = prev.resume_point() else {
            return fail(
                Guarantee::Resumable,
                format!("segment {i} saw nothing and had no exact start: it has no resume point"),
            );
        };
        if next.start != Start::Exact(want) {
            return fail(
                Guarantee::Resumable,
                format!(
                    "segment {} starts at {:?}, but segment {i} last saw revision {}",
                    i + 1,
                    next.start,
                    want - 1
                ),
            );
        }
        let same = next.req.clone().start_revision(first.req.start_revision);
        if same != first.req {
            return fail(
                Guarantee::Resumable,
                format!(
                    "segment {} resumes a different request: {:?}",
                    i + 1,
                    next.req
                ),
            );
        }
    }
    let joined = Recorded {
        req: first.req.clone(),
        start: first.start,
        watch_id: None,
        responses: segments
            .iter()
            .flat_map(|s| s.responses.iter().cloned())
            .collect(),
    };
    check(history, &joined).map_err(|v| Violation {
        guarantee: Guarantee::Resumable,
        detail: format!("the joined stream of {} segments: {v}", segments.len()),
    })
}

// ---------------------------------------------------------------------------
// Recording

/// How [`record_through`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// A progress notification at or above the target arrived.
    Reached,
    /// The stream ended (cancelled, compacted, closed).
    Ended,
}

/// Receives from `w` into `rec` until a progress notification at or above
/// `through` arrives (asking for one whenever the stream is quiet), or the
/// stream ends. Fails after `timeout`.
pub fn record_through(
    w: &Watcher,
    rec: &mut Recorded,
    through: u64,
    timeout: Duration,
) -> Result<Stopped, String> {
    let deadline = Instant::now() + timeout;
    w.request_progress();
    loop {
        match w.recv_timeout(Duration::from_millis(50)) {
            Ok(resp) => {
                let bookmark = resp.progress_notify.then_some(resp.revision);
                rec.responses.push(resp);
                match bookmark {
                    Some(r) if r >= through => return Ok(Stopped::Reached),
                    Some(_) => w.request_progress(),
                    None => {}
                }
            }
            Err(RecvError::Ended) => return Ok(Stopped::Ended),
            Err(_) => {
                if Instant::now() >= deadline {
                    return Err(format!(
                        "no progress notification at {through} within {timeout:?} ({} responses, last seen {:?})",
                        rec.responses.len(),
                        rec.last_seen()
                    ));
                }
                w.request_progress();
            }
        }
    }
}

/// Receives from `w` into `rec` until the stream ends; fails after `timeout`.
pub fn record_to_end(w: &Watcher, rec: &mut Recorded, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match w.recv_timeout(left) {
            Ok(resp) => rec.responses.push(resp),
            Err(RecvError::Ended) => return Ok(()),
            Err(e) => {
                return Err(format!(
                    "the stream did not end within {timeout:?} ({e:?}, {} responses)",
                    rec.responses.len()
                ))
            }
        }
    }
}
