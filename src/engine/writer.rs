//! The single writer thread: takes write transactions off a bounded channel
//! in groups, assigns revisions in order, evaluates each against the
//! published state plus the group's earlier writes, appends the whole group
//! with one write and (under `SyncPolicy::Always`) one fdatasync, and only
//! then publishes it to readers and replies.
//!
//! One writer at a time, not always the writer thread: the committing state
//! sits behind a mutex, and a caller that finds it idle with nothing queued
//! (and the last group a lone request) commits its own request on its own
//! thread, the same way. A lone durable put then costs one write and one
//! fdatasync on the caller's thread and no thread wake-up; concurrent
//! callers queue and the writer thread commits them in groups.

use super::core::Shared;
use super::protocol::{unanswered, Pending, Request};
use crate::error::{Error, Result};
use crate::evaluate::{
    evaluate, evaluate_delete, evaluate_put, Evaluated, Head, HeadView, Overlay,
};
use crate::export::ExportItem;
use crate::format::frame::{
    encode_frame, encode_frame_if, keep_compressed, sample_compresses, FrameKind,
};
use crate::format::idx::IdxEntry;
use crate::format::lease::{encode_lease, LeaseRecord};
use crate::format::record::{encode_txn, RecordOp};
use crate::format::{MAX_COUNTER, MAX_PAYLOAD};
use crate::index::KeyRev;
use crate::lease::LeaseGrantResponse;
use crate::options::{Compression, SyncPolicy};
use crate::state::State;
use crate::storage::segment::{write_index, ActiveSegment, SealedSegment, FIRST_FRAME_OFFSET};
use crate::txn::{Op, Txn, TxnResponse};
use crate::types::{
    DeleteRequest, DeleteResponse, Event, EventKind, KeyValue, PutRequest, PutResponse,
};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// Bytes of a large many-write payload compressed first to judge whether
/// compressing all of it can pay.
const COMPRESSION_SAMPLE: usize = 16 << 10;

/// How far ahead of its appends the active segment is allocated (and its
/// length set). An fdatasync after an append that grows the file must also
/// write the new length; inside allocated space it writes only the data.
/// Measured on the VM of benches/compare/RESULTS.md (245-byte appends, median
/// of 600): ~240 µs growing the file, ~165 µs inside allocated space.
const PREALLOCATE: u64 = 1 << 20;

/// The longest lease TTL accepted, in seconds (etcd's limit).
pub(crate) const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// A frame of the current group that will be appended.
struct Staged {
    /// Offset and length of its frame inside the group buffer.
    frame_at: usize,
    frame_len: usize,
    what: StagedKind,
}

enum StagedKind {
    /// A transaction; one event per write, in sub order: the key index
    /// entries and the watchers' events both come from these.
    Txn {
        revision: u64,
        events: Vec<Event>,
    },
    Lease(LeaseRecord),
}

/// Everything a group has staged so far: frames, the newest state of the
/// keys it wrote, and the leases it changed (`None` = revoked).
#[derive(Default)]
struct Group {
    staged: Vec<Staged>,
    overlay: Overlay,
    leases: HashMap<i64, Option<(i64, u64)>>,
    next_rev: u64,
}

/// The committing half of the writer: everything needed to evaluate, append,
/// sync and publish a group. It sits behind a mutex shared by the writer
/// thread and by callers: a caller that finds it free, with nothing queued
/// and no recent concurrent writes, commits its own request on its own
/// thread ([`commit_inline`]), which spares the two thread wake-ups of a
/// round trip through the writer thread. Whoever holds the mutex is the only
/// one writing, so revisions, appends and publications stay in one order.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    file: Arc<File>,
    /// Bytes of the active segment written so far.
    active_len: u64,
    /// Length of the active segment file: allocated ahead of `active_len`
    /// ([`PREALLOCATE`]); the bytes between are zeros, which recovery treats
    /// as a torn tail. `u64::MAX` when allocation failed for this segment.
    allocated: u64,
    /// Bytes written but not yet synced.
    dirty: bool,
    last_sync: Instant,
    group_buf: Vec<u8>,
    payload_buf: Vec<u8>,
    /// State of the lease id generator.
    id_seed: u64,
    /// Writers seen at work: the requests of the last group plus those that
    /// queued while it committed. Above one, callers queue for the writer
    /// thread so that concurrent writes share one fdatasync, and the writer
    /// thread waits a little for this many before it commits a group.
    callers: usize,
    /// How long the last fdatasync took.
    sync_time: Duration,
    /// Set once the writer thread has stopped: nothing commits any more.
    stopped: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("active_len", &self.active_len)
            .field("dirty", &self.dirty)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

/// The writer behind its mutex, as the writer thread and `Db` share it.
pub(crate) type SharedWriter = Arc<Mutex<Writer>>;

/// Locks the writer. Like the state lock, a mutex poisoned by a panic is
/// taken over as it is rather than making every later write panic.
fn lock(writer: &Mutex<Writer>) -> MutexGuard<'_, Writer> {
    writer.lock().unwrap_or_else(|e| e.into_inner())
}

/// Commits `req` on the calling thread when the writer is idle, nothing is
/// queued and the last group was a lone request; otherwise hands `req` back
/// to be queued for the writer thread. The reply is sent on the request's
/// own channel either way, so the caller waits on it the same way. Under
/// `SyncPolicy::Interval` everything goes through the writer thread, whose
/// timed wait is what syncs unsynced bytes once the interval has passed.
pub(crate) fn commit_inline(
    writer: &Mutex<Writer>,
    queue: &Sender<Request>,
    req: Request,
) -> Option<Request> {
    let mut w = match writer.try_lock() {
        Ok(w) => w,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return Some(req),
    };
    let timed = matches!(w.shared.options.sync, SyncPolicy::Interval(_));
    if timed || w.stopped || w.callers > 1 || !queue.is_empty() {
        return Some(req);
    }
    let mut group = vec![req];
    w.commit_group(&mut group, &|| 0);
    None
}

/// The longest the writer thread waits for returning writers to join a
/// group (it waits at most half the last fdatasync, and never more than
/// this, so one slow fdatasync does not stall the next groups).
const MAX_GATHER_WAIT: Duration = Duration::from_millis(1);

/// The writer thread: takes queued requests in groups and commits them.
pub(crate) struct WriterThread {
    writer: SharedWriter,
    rx: Receiver<Request>,
}

impl WriterThread {
    pub(crate) fn new(writer: SharedWriter, rx: Receiver<Request>) -> WriterThread {
        WriterThread { writer, rx }
    }

    /// The thread's body: runs until `Shutdown` or until every sender is gone.
    pub(crate) fn run(self) {
        let max = lock(&self.writer).shared.options.max_group_requests;
        let mut group = Vec::with_capacity(max);
        loop {
            let Some(first) = self.next_request() else {
                break;
            };
            let mut w = lock(&self.writer);
            let mut stop = w.gather(&self.rx, first, &mut group, max);
            // Writers answered by the last group are coming back: under
            // `Always`, while fewer than the writers seen at work are here,
            // wait for them (yielding the CPU to them, for at most half an
            // fdatasync) so that they share this group's fdatasync instead of
            // forming a group of their own behind it. A lone writer (groups
            // of one) never waits here.
            if matches!(w.shared.options.sync, SyncPolicy::Always) {
                let want = w.callers.min(max);
                let deadline = Instant::now() + (w.sync_time / 2).min(MAX_GATHER_WAIT);
                while !stop && group.len() < want && Instant::now() < deadline {
                    std::thread::yield_now();
                    if let Ok(req) = self.rx.try_recv() {
                        stop = w.gather(&self.rx, req, &mut group, max);
                    }
                }
            }
            if !group.is_empty() {
                w.commit_group(&mut group, &|| self.rx.len());
            }
            if stop {
                // No caller commits inline from here on.
                w.stopped = true;
                break;
            }
        }
        let mut w = lock(&self.writer);
        w.stopped = true;
        // A closed store's active segment ends at its last frame.
        if let Err(e) = w
            .trim()
            .and_then(|()| if w.dirty { w.sync() } else { Ok(()) })
        {
            w.shared.poison(&e);
        }
        // Whatever is still queued is answered `Closed`; whatever comes
        // later is never read, and its sender stops waiting on this flag.
        w.shared.set_writer_done();
        while let Ok(req) = self.rx.try_recv() {
            if let Some(p) = unanswered(req) {
                p.send(None);
            }
        }
    }

    /// Waits for the next request; under `Interval` it also syncs when the
    /// interval has passed with unsynced bytes.
    fn next_request(&self) -> Option<Request> {
        loop {
            let wait = {
                let w = lock(&self.writer);
                match w.shared.options.sync {
                    SyncPolicy::Interval(d) if w.dirty => {
                        Some(d.saturating_sub(w.last_sync.elapsed()))
                    }
                    _ => None,
                }
            };
            let Some(wait) = wait else {
                return self.rx.recv().ok();
            };
            match self.rx.recv_timeout(wait.max(Duration::from_micros(100))) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => {
                    let mut w = lock(&self.writer);
                    if w.dirty {
                        if let Err(e) = w.sync() {
                            w.shared.poison(&e);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Writer {
    /// Adds `first` and whatever else is queued (up to `max`) to the group;
    /// true when a shutdown request was among them.
    fn gather(
        &mut self,
        rx: &Receiver<Request>,
        first: Request,
        group: &mut Vec<Request>,
        max: usize,
    ) -> bool {
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Shutdown => return true,
                Request::Barrier(f) => {
                    // Everything queued before it is committed first.
                    if !group.is_empty() {
                        self.commit_group(group, &|| rx.len());
                    }
                    f();
                }
                Request::Roll(reply) => {
                    if !group.is_empty() {
                        self.commit_group(group, &|| rx.len());
                    }
                    let _ = reply.send(self.roll_on_request());
                }
                other => group.push(other),
            }
            if group.len() >= max {
                break;
            }
            next = rx.try_recv().ok();
        }
        false
    }

    pub(crate) fn new(shared: Arc<Shared>, file: Arc<File>, active_len: u64) -> Writer {
        Writer {
            shared,
            file,
            active_len,
            allocated: active_len,
            dirty: false,
            last_sync: Instant::now(),
            group_buf: Vec::new(),
            payload_buf: Vec::new(),
            id_seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64),
            callers: 1,
            sync_time: Duration::ZERO,
            stopped: false,
        }
    }

    fn sync(&mut self) -> Result<()> {
        let started = Instant::now();
        let synced = if crate::failpoint::fails("writer.fsync_eio") {
            // EIO, as a failing device reports it.
            Err(std::io::Error::from_raw_os_error(5))
        } else {
            self.file.sync_data()
        };
        synced.map_err(|e| Error::io("fdatasync of the active segment", e))?;
        self.shared
            .data_syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dirty = false;
        self.last_sync = Instant::now();
        self.sync_time = self.last_sync - started;
        Ok(())
    }

    /// Commits a group and answers its requests. Just before the answers
    /// go out, notes how many writers are at work (`callers`): the group's
    /// and the `queued()` ones that did not make it into the group. Counted
    /// later, a writer the answer sends straight back would be counted
    /// twice (in the group and queued again), and the next group would wait
    /// the whole deadline for a writer that does not exist.
    fn commit_group(&mut self, requests: &mut Vec<Request>, queued: &dyn Fn() -> usize) {
        self.group_buf.clear();
        if let Some(cause) = self.shared.poisoned() {
            for req in requests.drain(..) {
                if let Some(p) = unanswered(req) {
                    p.send(Some(&cause));
                }
            }
            return;
        }
        let mut replies: Vec<Pending> = Vec::with_capacity(requests.len());
        let mut group = Group::default();
        {
            let shared = Arc::clone(&self.shared);
            let state = shared.read_state();
            group.next_rev = state.current + 1;
            for req in requests.drain(..) {
                match req {
                    Request::Txn { txn, reply } => {
                        let result = self.run_txn(&state, &mut group, txn);
                        replies.push(Pending::Txn(reply, result));
                    }
                    Request::Put { req, reply } => {
                        let result = self.run_put(&state, &mut group, req);
                        replies.push(Pending::Put(reply, result));
                    }
                    Request::Delete { req, reply } => {
                        let result = self.run_delete(&state, &mut group, req);
                        replies.push(Pending::Delete(reply, result));
                    }
                    Request::LeaseGrant { id, ttl, reply } => {
                        let result = self.lease_grant(&mut group, id, ttl);
                        replies.push(Pending::LeaseGrant(reply, result));
                    }
                    Request::LeaseKeepAlive { id, reply } => {
                        let result = self.lease_keep_alive(&mut group, id);
                        replies.push(Pending::LeaseKeepAlive(reply, result));
                    }
                    Request::LeaseRevoke { id, reply } => {
                        let result = self.lease_revoke(&state, &mut group, id);
                        replies.push(Pending::LeaseRevoke(reply, result));
                    }
                    Request::LeaseExpire { id, reply } => {
                        let result = self.lease_expire(&state, &mut group, id);
                        replies.push(Pending::LeaseExpire(reply, result));
                    }
                    Request::Import { item, reply } => {
                        let result = self.run_import(&state, &mut group, item);
                        replies.push(Pending::Import(reply, result));
                    }
                    Request::Shutdown | Request::Barrier(_) | Request::Roll(_) => {}
                }
            }
        }
        if let Err(e) = self.append_and_publish(group.staged) {
            self.shared.poison(&e);
            let cause = e.to_string();
            for p in replies {
                p.send(Some(&cause));
            }
            return;
        }
        self.callers = replies.len() + queued();
        for p in replies {
            p.send(None);
        }
        if self.active_len >= self.shared.options.segment_size {
            if let Err(e) = self.roll() {
                self.shared.poison(&e);
            }
        }
    }

    /// Whether lease `id` exists as the group sees it.
    fn lease_alive(&self, group: &Group, id: i64) -> Option<(i64, u64)> {
        match group.leases.get(&id) {
            Some(l) => *l,
            None => self
                .shared
                .lock_leases()
                .leases
                .get(&id)
                .map(|l| (l.ttl, l.deadline_ms)),
        }
    }

    /// Evaluates and stages one transaction.
    fn run_txn(&mut self, state: &State, group: &mut Group, txn: Txn) -> Result<TxnResponse> {
        let rev = group.next_rev;
        let ev = {
            let exists = |id: i64| self.lease_alive(group, id).is_some();
            evaluate(state, &group.overlay, txn, rev, &exists)?
        };
        self.stage(rev, ev, group)
    }

    /// Evaluates and stages a lone put.
    fn run_put(
        &mut self,
        state: &State,
        group: &mut Group,
        req: PutRequest,
    ) -> Result<PutResponse> {
        let rev = group.next_rev;
        let ev = {
            let exists = |id: i64| self.lease_alive(group, id).is_some();
            evaluate_put(state, &group.overlay, req, rev, &exists)?
        };
        self.stage(rev, ev, group)
    }

    /// Evaluates and stages a lone delete.
    fn run_delete(
        &mut self,
        state: &State,
        group: &mut Group,
        req: DeleteRequest,
    ) -> Result<DeleteResponse> {
        let rev = group.next_rev;
        let ev = evaluate_delete(state, &group.overlay, req, rev)?;
        self.stage(rev, ev, group)
    }

    /// Stages a lease grant.
    fn lease_grant(&mut self, group: &mut Group, id: i64, ttl: i64) -> Result<LeaseGrantResponse> {
        let now = self.shared.options.clock.now_ms();
        if !(1..=MAX_LEASE_TTL).contains(&ttl) {
            return Err(Error::InvalidArgument(format!(
                "lease TTL {ttl} is not between 1 and {MAX_LEASE_TTL} seconds"
            )));
        }
        let id = if id == 0 {
            self.pick_lease_id(group)
        } else if self.lease_alive(group, id).is_some() {
            return Err(Error::LeaseExists { id });
        } else {
            id
        };
        let deadline_ms = now.saturating_add((ttl as u64).saturating_mul(1000));
        self.stage_grant(id, ttl, deadline_ms, group);
        Ok(LeaseGrantResponse { id, ttl })
    }

    /// Stages a keep-alive; answers the lease's TTL.
    fn lease_keep_alive(&mut self, group: &mut Group, id: i64) -> Result<i64> {
        let now = self.shared.options.clock.now_ms();
        let (ttl, deadline) = self
            .lease_alive(group, id)
            .filter(|&(_, deadline)| deadline > now)
            .ok_or(Error::LeaseNotFound { id })?;
        let deadline_ms = now
            .saturating_add((ttl as u64).saturating_mul(1000))
            .max(deadline);
        self.stage_lease(LeaseRecord::KeepAlive { id, deadline_ms }, group);
        group.leases.insert(id, Some((ttl, deadline_ms)));
        Ok(ttl)
    }

    /// Stages the deletion of a lease's keys and its revoke; answers the
    /// revision that deleted them.
    fn lease_revoke(&mut self, state: &State, group: &mut Group, id: i64) -> Result<u64> {
        if self.lease_alive(group, id).is_none() {
            return Err(Error::LeaseNotFound { id });
        }
        let victims = self.attached_keys(group, id);
        let txn = Txn::new().and_then(
            victims
                .into_iter()
                .map(|k| Op::Delete(DeleteRequest::key(k))),
        );
        let resp = self.run_txn(state, group, txn)?;
        self.stage_lease(LeaseRecord::Revoke { id }, group);
        group.leases.insert(id, None);
        Ok(resp.revision)
    }

    /// [`Writer::lease_revoke`] if the lease's deadline has passed; `None`
    /// when it has not (kept alive since the expiry thread looked).
    fn lease_expire(&mut self, state: &State, group: &mut Group, id: i64) -> Result<Option<u64>> {
        let now = self.shared.options.clock.now_ms();
        let (_, deadline) = self
            .lease_alive(group, id)
            .ok_or(Error::LeaseNotFound { id })?;
        if deadline > now {
            return Ok(None);
        }
        self.lease_revoke(state, group, id).map(Some)
    }

    /// Stages an exported revision or lease exactly as it was.
    fn run_import(&mut self, state: &State, group: &mut Group, item: ExportItem) -> Result<()> {
        match item {
            ExportItem::Header { .. } => Ok(()),
            ExportItem::Lease {
                id,
                ttl,
                deadline_ms,
            } => {
                if id <= 0 || !(1..=MAX_LEASE_TTL).contains(&ttl) {
                    return Err(Error::InvalidArgument(format!("lease {id} with TTL {ttl}")));
                }
                self.stage_grant(id, ttl, deadline_ms, group);
                Ok(())
            }
            ExportItem::Revision { revision, ops } => {
                if revision < group.next_rev || revision > MAX_COUNTER {
                    return Err(Error::InvalidArgument(format!(
                        "revision {revision} does not follow {}",
                        group.next_rev - 1
                    )));
                }
                if ops.is_empty() {
                    return Err(Error::InvalidArgument(format!(
                        "revision {revision} has no ops"
                    )));
                }
                if let Some(op) = ops
                    .iter()
                    .find(|op| op.lease != 0 && self.lease_alive(group, op.lease).is_none())
                {
                    return Err(Error::LeaseNotFound { id: op.lease });
                }
                let mut ev = Evaluated {
                    response: TxnResponse::default(),
                    events: Vec::with_capacity(ops.len()),
                    prev_mod_revisions: Vec::with_capacity(ops.len()),
                    overlay: Overlay::new(),
                };
                for op in ops {
                    let view = HeadView {
                        state,
                        layers: [&group.overlay, &ev.overlay],
                    };
                    let head = view.head(&op.key)?;
                    let put = op.kind == EventKind::Put;
                    if put && (op.version == 0 || op.create_revision == 0) {
                        return Err(Error::InvalidArgument(format!(
                            "put of {:?} at {revision} without version",
                            String::from_utf8_lossy(&op.key)
                        )));
                    }
                    // A delete's event carries only its key and revision,
                    // and so does its record op.
                    let kv = if put {
                        KeyValue {
                            key: op.key,
                            value: op.value,
                            create_revision: op.create_revision,
                            mod_revision: revision,
                            version: op.version,
                            lease: op.lease,
                        }
                    } else {
                        KeyValue {
                            key: op.key,
                            mod_revision: revision,
                            ..KeyValue::default()
                        }
                    };
                    ev.overlay.insert(
                        kv.key.clone(),
                        Head {
                            kv: put.then(|| kv.clone()),
                            last_rev: revision,
                        },
                    );
                    ev.prev_mod_revisions.push(op.prev_mod_revision);
                    ev.events.push(Event {
                        kind: op.kind,
                        kv,
                        prev_kv: head.kv,
                    });
                }
                group.next_rev = revision;
                self.stage(revision, ev, group).map(|_| ())
            }
        }
    }

    /// Keys attached to lease `id` as the group sees them.
    fn attached_keys(&self, group: &Group, id: i64) -> Vec<Vec<u8>> {
        let table = self.shared.lock_leases();
        let mut keys: BTreeSet<Vec<u8>> = table
            .leases
            .get(&id)
            .map(|l| {
                l.keys
                    .iter()
                    .filter(|k| !group.overlay.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for (key, head) in &group.overlay {
            if head.kv.as_ref().is_some_and(|kv| kv.lease == id) {
                keys.insert(key.clone());
            }
        }
        keys.into_iter().collect()
    }

    /// A fresh positive lease id that no live lease has.
    fn pick_lease_id(&mut self, group: &Group) -> i64 {
        loop {
            self.id_seed = self.id_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.id_seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let id = ((z ^ (z >> 31)) >> 1) as i64;
            if id > 0 && self.lease_alive(group, id).is_none() {
                return id;
            }
        }
    }

    /// Stages a lease grant and makes the group see the lease.
    fn stage_grant(&mut self, id: i64, ttl: i64, deadline_ms: u64, group: &mut Group) {
        let rec = LeaseRecord::Grant {
            id,
            ttl,
            deadline_ms,
        };
        self.stage_lease(rec, group);
        group.leases.insert(id, Some((ttl, deadline_ms)));
    }

    fn stage_lease(&mut self, rec: LeaseRecord, group: &mut Group) {
        self.payload_buf.clear();
        encode_lease(&rec, &mut self.payload_buf);
        let frame_at = self.group_buf.len();
        let frame_len = encode_frame(
            FrameKind::of_lease(&rec),
            &self.payload_buf,
            None,
            &mut self.group_buf,
        );
        group.staged.push(Staged {
            frame_at,
            frame_len,
            what: StagedKind::Lease(rec),
        });
    }

    /// Encodes an evaluated transaction's frame into the group buffer and
    /// merges its writes into the group overlay. Nothing is touched when it
    /// fails, so no state of a failed transaction leaks into the next one.
    fn stage<R>(&mut self, rev: u64, ev: Evaluated<R>, group: &mut Group) -> Result<R> {
        if ev.events.is_empty() {
            return Ok(ev.response);
        }
        // Only a transaction that writes uses up a revision.
        if rev > MAX_COUNTER {
            return Err(Error::InvalidArgument(
                "the revision space is exhausted".into(),
            ));
        }
        let ops: Vec<RecordOp<'_>> = ev.record_ops();
        self.payload_buf.clear();
        encode_txn(rev, &ops, &mut self.payload_buf);
        if self.payload_buf.len() > MAX_PAYLOAD {
            return Err(Error::TxnTooLarge {
                len: self.payload_buf.len(),
                max: MAX_PAYLOAD,
            });
        }
        // A read of one key must decompress its whole frame, so a frame of many
        // writes is kept compressed only when that halves it; a frame of one
        // write whenever compression saves anything.
        let single = ops.len() == 1;
        let level = match self.shared.options.compression {
            Compression::Zstd { threshold, level } if self.payload_buf.len() >= threshold => {
                // A large frame of many writes is compressed whole only if
                // its head compresses well (to 60%): incompressible values
                // would otherwise cost a full zstd pass that is thrown away.
                let worth = single
                    || self.payload_buf.len() <= 2 * COMPRESSION_SAMPLE
                    || sample_compresses(
                        &self.payload_buf,
                        level,
                        COMPRESSION_SAMPLE,
                        |raw, packed| packed * 5 <= raw * 3,
                    );
                worth.then_some(level)
            }
            _ => None,
        };
        let frame_at = self.group_buf.len();
        let frame_len = encode_frame_if(
            FrameKind::Txn,
            &self.payload_buf,
            level,
            |raw, packed| keep_compressed(ops.len(), raw, packed),
            &mut self.group_buf,
        );
        group.staged.push(Staged {
            frame_at,
            frame_len,
            what: StagedKind::Txn {
                revision: rev,
                events: ev.events,
            },
        });
        group.overlay.extend(ev.overlay);
        group.next_rev += 1;
        Ok(ev.response)
    }

    /// Appends the group's frames with one write, syncs per the policy, then
    /// publishes: revisions to readers, lease changes to the table, events to
    /// the watchers.
    fn append_and_publish(&mut self, staged: Vec<Staged>) -> Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        let base = self.active_len;
        let end = base + self.group_buf.len() as u64;
        if end > self.allocated {
            self.preallocate(end);
        }
        let written = if crate::failpoint::fails("writer.append_enospc") {
            // ENOSPC, as a full disk reports it.
            Err(std::io::Error::from_raw_os_error(28))
        } else {
            self.file.write_all_at(&self.group_buf, base)
        };
        written.map_err(|e| Error::io("append to the active segment", e))?;
        self.active_len += self.group_buf.len() as u64;
        self.dirty = true;
        let due = match self.shared.options.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            SyncPolicy::Never => false,
        };
        if due {
            self.sync()?;
        }
        {
            let mut state = self.shared.write_state();
            for s in &staged {
                let StagedKind::Txn { revision, events } = &s.what else {
                    continue;
                };
                state.revs.push_active(IdxEntry {
                    revision: *revision,
                    offset: base + s.frame_at as u64,
                    len: s.frame_len as u32,
                });
                for (sub, e) in events.iter().enumerate() {
                    let key_rev = KeyRev {
                        main: *revision,
                        sub: sub as u32,
                        tombstone: e.kind == EventKind::Delete,
                    };
                    state.keys.push(&e.kv.key, key_rev);
                }
                state.current = *revision;
            }
            state.revs.active.published_len = self.active_len;
            // Without a map, reads fall back to positioned reads.
            let _ = state
                .revs
                .active
                .map_published(self.shared.options.segment_size);
        }
        {
            let mut leases = self.shared.lock_leases();
            for s in &staged {
                match &s.what {
                    StagedKind::Txn { events, .. } => {
                        events.iter().for_each(|e| leases.apply_event(e))
                    }
                    StagedKind::Lease(rec) => leases.apply(rec),
                }
            }
        }
        let published: Vec<(u64, Vec<Event>)> = staged
            .into_iter()
            .filter_map(|s| match s.what {
                StagedKind::Txn { revision, events } => Some((revision, events)),
                StagedKind::Lease(_) => None,
            })
            .collect();
        self.shared.hub.publish(&published);
        Ok(())
    }

    /// Allocates the active segment up to [`PREALLOCATE`] past `end`. On a
    /// file system that cannot, appends simply grow the file.
    fn preallocate(&mut self, end: u64) {
        let target = end + PREALLOCATE.min(self.shared.options.segment_size);
        self.allocated = match fs2::FileExt::allocate(&*self.file, target) {
            Ok(()) => target,
            Err(_) => u64::MAX,
        };
    }

    /// Cuts the active segment back to its last frame, durably (its new
    /// length included): before it is sealed, since a sealed segment ends
    /// at its last frame, and at close.
    fn trim(&mut self) -> Result<()> {
        if self.allocated == self.active_len {
            return Ok(());
        }
        let ctx = |what: &str| format!("{what} the active segment to its last frame");
        self.file
            .set_len(self.active_len)
            .map_err(|e| Error::io(ctx("cut"), e))?;
        self.file
            .sync_all()
            .map_err(|e| Error::io(ctx("fsync after cutting"), e))?;
        self.allocated = self.active_len;
        self.dirty = false;
        Ok(())
    }

    /// A roll asked for by the compactor: refused on a poisoned store, and
    /// a no-op on an empty active segment; a failure poisons the store like
    /// any failed roll.
    fn roll_on_request(&mut self) -> Result<()> {
        if let Some(cause) = self.shared.poisoned() {
            return Err(Error::Poisoned { cause });
        }
        if self.active_len <= FIRST_FRAME_OFFSET {
            return Ok(());
        }
        self.roll().inspect_err(|e| self.shared.poison(e))
    }

    /// Seals the active segment and starts the next: sync it, write its
    /// `.idx`, create the next segment durably, install a MANIFEST naming it,
    /// then swap the maps in. A crash at any step leaves a store that opens.
    fn roll(&mut self) -> Result<()> {
        let dir = self.shared.dir.clone();
        // With no segment id left (only a crafted MANIFEST gets there), the
        // active segment simply keeps growing: nothing is lost by not rolling.
        let Ok(next_id) = self.shared.allocate_segment_id() else {
            return Ok(());
        };
        self.trim()?;
        if self.dirty {
            self.sync()?;
        }
        let (id, entries) = {
            let state = self.shared.read_state();
            (state.revs.active.id, state.revs.active.entries.clone())
        };
        write_index(&dir, id, &entries)?;
        crate::failpoint::hit("roll.index_written");
        let next = ActiveSegment::create(&dir, next_id)?;
        crate::failpoint::hit("roll.segment_created");
        self.shared.update_manifest(|m| m.segments.push(next_id))?;
        let sealed = Arc::new(SealedSegment::open(&dir, id)?);
        self.file = Arc::clone(&next.file);
        self.active_len = FIRST_FRAME_OFFSET;
        self.allocated = FIRST_FRAME_OFFSET;
        self.shared.write_state().revs.roll(sealed, next);
        Ok(())
    }
}
