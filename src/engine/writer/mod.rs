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

mod compress;
mod import;
mod lease;
mod log;
mod stage;
pub(crate) mod thread;

use self::log::ActiveLog;
use self::stage::{Group, Staged, StagedKind, Stager};
use super::core::Shared;
use super::protocol::{unanswered, Pending, Request};
use crate::error::Result;
use crate::format::frame::indexed_len;
use crate::format::idx::IdxEntry;
use crate::index::KeyRev;
use crate::options::SyncPolicy;
use crate::types::{Event, EventKind};
use crossbeam_channel::Sender;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// The committing half of the writer: everything needed to evaluate, append,
/// sync and publish a group. It sits behind a mutex shared by the writer
/// thread and by callers: a caller that finds it free, with nothing queued
/// and no recent concurrent writes, commits its own request on its own
/// thread ([`commit_inline`]), which spares the two thread wake-ups of a
/// round trip through the writer thread. Whoever holds the mutex is the only
/// one writing, so revisions, appends and publications stay in one order.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    /// The active segment, as appended to.
    log: ActiveLog,
    /// Evaluates requests into the group's frames.
    stager: Stager,
    /// Writers seen at work: the requests of the last group plus those that
    /// queued while it committed. Above one, callers queue for the writer
    /// thread so that concurrent writes share one fdatasync, and the writer
    /// thread waits a little for this many before it commits a group.
    callers: usize,
    /// Set once the writer thread has stopped: nothing commits any more.
    stopped: bool,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("active_len", &self.log.active_len)
            .field("dirty", &self.log.dirty)
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

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, file: Arc<File>, active_len: u64) -> Writer {
        let path = shared.read_state().revs.active.path.clone();
        Writer {
            stager: Stager::new(Arc::clone(&shared)),
            shared,
            log: ActiveLog::new(file, path, active_len),
            callers: 1,
            stopped: false,
        }
    }

    /// Commits a group and answers its requests. Just before the answers
    /// go out, notes how many writers are at work (`callers`): the group's
    /// and the `queued()` ones that did not make it into the group. Counted
    /// later, a writer the answer sends straight back would be counted
    /// twice (in the group and queued again), and the next group would wait
    /// the whole deadline for a writer that does not exist.
    fn commit_group(&mut self, requests: &mut Vec<Request>, queued: &dyn Fn() -> usize) {
        self.stager.group_buf.clear();
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
                        let result = self.stager.run_txn(&state, &mut group, txn);
                        replies.push(Pending::Txn(reply, result));
                    }
                    Request::Put { req, reply } => {
                        let result = self.stager.run_put(&state, &mut group, req);
                        replies.push(Pending::Put(reply, result));
                    }
                    Request::Delete { req, reply } => {
                        let result = self.stager.run_delete(&state, &mut group, req);
                        replies.push(Pending::Delete(reply, result));
                    }
                    Request::LeaseGrant { id, ttl, reply } => {
                        let result = self.stager.lease_grant(&mut group, id, ttl);
                        replies.push(Pending::LeaseGrant(reply, result));
                    }
                    Request::LeaseKeepAlive { id, reply } => {
                        let result = self.stager.lease_keep_alive(&mut group, id);
                        replies.push(Pending::LeaseKeepAlive(reply, result));
                    }
                    Request::LeaseRevoke { id, reply } => {
                        let result = self.stager.lease_revoke(&state, &mut group, id);
                        replies.push(Pending::LeaseRevoke(reply, result));
                    }
                    Request::LeaseExpire { id, reply } => {
                        let result = self.stager.lease_expire(&state, &mut group, id);
                        replies.push(Pending::LeaseExpire(reply, result));
                    }
                    Request::Import { item, reply } => {
                        let result = self.stager.run_import(&state, &mut group, item);
                        replies.push(Pending::Import(reply, result));
                    }
                    Request::Shutdown | Request::Barrier(_) | Request::Roll(_) => {}
                }
            }
        }
        if let Err(e) = self.append_and_publish(group.staged) {
            let cause = self.shared.poison(e);
            for p in replies {
                p.send(Some(&cause));
            }
            return;
        }
        self.callers = replies.len() + queued();
        for p in replies {
            p.send(None);
        }
        if self.log.active_len >= self.shared.options.segment_size {
            if let Err(e) = self.log.roll(&self.shared) {
                self.shared.poison(e);
            }
        }
    }

    /// Appends the group's frames with one write, syncs per the policy, then
    /// publishes: revisions to readers, lease changes to the table, events to
    /// the watchers.
    fn append_and_publish(&mut self, staged: Vec<Staged>) -> Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        let base = self.log.append(&self.shared, &self.stager.group_buf)?;
        {
            let mut state = self.shared.write_state();
            for s in &staged {
                let StagedKind::Txn { revision, events } = &s.what else {
                    continue;
                };
                state.revs.push_active(IdxEntry {
                    revision: *revision,
                    offset: base + s.frame_at as u64,
                    len: indexed_len(s.frame_len),
                });
                for (sub, e) in events.iter().enumerate() {
                    #[allow(
                        clippy::cast_possible_truncation,
                        reason = "the events of a staged transaction, whose record is at most \
                                  MAX_PAYLOAD bytes with at least 8 per op: far below 2^32"
                    )]
                    let key_rev = KeyRev {
                        main: *revision,
                        sub: sub as u32,
                        tombstone: e.kind == EventKind::Delete,
                    };
                    state.keys.push(&e.kv.key, key_rev);
                }
                state.current = *revision;
            }
            state.revs.active.published_len = self.log.active_len;
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
}
