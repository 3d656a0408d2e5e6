//! Watches: the public watch types and the hub of watchers, fed live by the
//! writer; the catch-up thread (`engine/catch_up.rs`) serves watchers behind
//! the head from disk.
//!
//! A watcher is *synced* when it has been sent every matching event up to the
//! hub's published revision; the writer sends synced watchers each group's
//! events under the hub lock. Any other watcher (started in the past, or whose
//! bounded buffer was full) is *catching up*: the catch-up thread reads its
//! next revisions through the revision index and, once it has passed the
//! published revision, marks it synced under that same lock, so there is
//! neither a gap nor a duplicate at the handoff. The writer never blocks on a
//! watcher: a full buffer only moves the watcher back to catching up.

use crate::error::{Error, Result};
use crate::types::{Event, EventKind, KeyRange};
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Responses a watcher's buffer holds before it falls back to catching up.
const BUFFER_RESPONSES: usize = 64;

/// What to watch and from where.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WatchRequest {
    /// The keys watched.
    pub range: KeyRange,
    /// First revision to deliver; 0 means "changes after now".
    pub start_revision: u64,
    /// Attach the previous key-value to each event.
    pub prev_kv: bool,
    /// Leave out put events.
    pub no_put: bool,
    /// Leave out delete events.
    pub no_delete: bool,
    /// Send a progress notification when nothing was sent for this long.
    pub progress_notify: Option<Duration>,
}

impl WatchRequest {
    /// A watch of the given key range.
    pub fn new(range: KeyRange) -> WatchRequest {
        WatchRequest {
            range,
            ..WatchRequest::default()
        }
    }

    /// A watch of one key.
    pub fn key(key: impl Into<Vec<u8>>) -> WatchRequest {
        WatchRequest::new(KeyRange::single(key))
    }

    /// A watch of every key with this prefix.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> WatchRequest {
        WatchRequest::new(KeyRange::prefix(prefix))
    }

    /// Starts at `revision` (0 = after now).
    pub fn start_revision(mut self, revision: u64) -> WatchRequest {
        self.start_revision = revision;
        self
    }

    /// Asks for previous key-values.
    pub fn prev_kv(mut self) -> WatchRequest {
        self.prev_kv = true;
        self
    }

    /// Filters out puts.
    pub fn no_put(mut self) -> WatchRequest {
        self.no_put = true;
        self
    }

    /// Filters out deletes.
    pub fn no_delete(mut self) -> WatchRequest {
        self.no_delete = true;
        self
    }

    /// Asks for progress notifications after `interval` without a response.
    pub fn progress_notify(mut self, interval: Duration) -> WatchRequest {
        self.progress_notify = Some(interval);
        self
    }

    pub(crate) fn wants(&self, e: &Event) -> bool {
        self.range.contains(&e.kv.key)
            && match e.kind {
                EventKind::Put => !self.no_put,
                EventKind::Delete => !self.no_delete,
            }
    }

    fn shape(&self, e: &Event) -> Event {
        Event {
            kind: e.kind,
            kv: e.kv.clone(),
            prev_kv: if self.prev_kv {
                e.prev_kv.clone()
            } else {
                None
            },
        }
    }
}

/// One message of a watch stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WatchResponse {
    /// The watcher's id.
    pub watch_id: u64,
    /// The store revision of the header: every event of this watch up to it
    /// has been delivered once this response is received, when it is a
    /// progress notification.
    pub revision: u64,
    /// Events, in revision order, all events of a revision together.
    pub events: Vec<Event>,
    /// Non-zero when the watch fell below the compaction point: the stream
    /// ends after this response.
    pub compact_revision: u64,
    /// True for a progress notification (no events).
    pub progress_notify: bool,
}

/// Builders, for code that makes responses (a server relaying them, a test
/// predicting them); the struct is `#[non_exhaustive]` so that fields can
/// be added.
impl WatchResponse {
    /// A response of watcher `watch_id` with header revision `revision`,
    /// and no events yet.
    pub fn new(watch_id: u64, revision: u64) -> WatchResponse {
        WatchResponse {
            watch_id,
            revision,
            ..WatchResponse::default()
        }
    }

    /// Sets the events.
    pub fn events(mut self, events: Vec<Event>) -> WatchResponse {
        self.events = events;
        self
    }

    /// Sets the compaction revision (non-zero: the watch fell below it and
    /// ends).
    pub fn compact_revision(mut self, compact_revision: u64) -> WatchResponse {
        self.compact_revision = compact_revision;
        self
    }

    /// Sets whether this is a progress notification.
    pub fn progress_notify(mut self, progress_notify: bool) -> WatchResponse {
        self.progress_notify = progress_notify;
        self
    }
}

/// Why a watcher's receive returned without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing is waiting (`try_recv`).
    Empty,
    /// The timeout passed (`recv_timeout`).
    Timeout,
    /// The stream has ended: cancelled, compacted, or the Db closed.
    Ended,
}

/// A live watch: a blocking receiver of [`WatchResponse`]s. Dropping it
/// cancels the watch.
#[derive(Debug)]
pub struct Watcher {
    id: u64,
    rx: Receiver<WatchResponse>,
    hub: Arc<Hub>,
}

impl Watcher {
    /// The watch id (also in every response).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Waits for the next response; `None` once the stream has ended.
    pub fn recv(&self) -> Option<WatchResponse> {
        self.rx.recv().ok()
    }

    /// Waits at most `timeout` for the next response.
    pub fn recv_timeout(&self, timeout: Duration) -> std::result::Result<WatchResponse, RecvError> {
        self.rx.recv_timeout(timeout).map_err(|e| {
            if e.is_timeout() {
                RecvError::Timeout
            } else {
                RecvError::Ended
            }
        })
    }

    /// The next response if one is waiting.
    pub fn try_recv(&self) -> std::result::Result<WatchResponse, RecvError> {
        self.rx.try_recv().map_err(|e| match e {
            TryRecvError::Empty => RecvError::Empty,
            TryRecvError::Disconnected => RecvError::Ended,
        })
    }

    /// A blocking iterator over the responses, ending with the stream.
    pub fn iter(&self) -> impl Iterator<Item = WatchResponse> + '_ {
        self.rx.iter()
    }

    /// Asks for a progress notification on this watcher.
    pub fn request_progress(&self) {
        self.hub.request_progress(Some(self.id));
    }

    /// Cancels the watch and frees its resources (dropping does the same).
    pub fn cancel(self) {}
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.hub.remove(self.id);
    }
}

#[derive(Debug)]
struct Slot {
    req: WatchRequest,
    tx: Sender<WatchResponse>,
    /// The lowest revision not yet delivered.
    next_rev: u64,
    synced: bool,
    last_sent: Instant,
    progress_pending: bool,
}

#[derive(Debug, Default)]
struct HubInner {
    /// The newest revision whose events synced watchers have been sent.
    published: u64,
    next_id: u64,
    slots: HashMap<u64, Slot>,
    closed: bool,
}

/// All watchers of one Db.
#[derive(Debug)]
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
    wake: Sender<()>,
}

impl Hub {
    /// A hub whose published revision starts at `current`; returns the
    /// receiver the catch-up thread waits on.
    pub(crate) fn new(current: u64) -> (Hub, Receiver<()>) {
        let (wake, woken) = bounded(1);
        let hub = Hub {
            inner: Mutex::new(HubInner {
                published: current,
                next_id: 1,
                ..HubInner::default()
            }),
            wake,
        };
        (hub, woken)
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// Registers a watcher. `compacted` is the store's compaction revision.
    pub(crate) fn register(self: &Arc<Hub>, req: WatchRequest, compacted: u64) -> Result<Watcher> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(Error::Closed);
        }
        let start = if req.start_revision == 0 {
            inner.published + 1
        } else {
            req.start_revision
        };
        if start < compacted {
            return Err(Error::Compacted {
                compact_revision: compacted,
            });
        }
        let synced = start > inner.published;
        let (tx, rx) = bounded(BUFFER_RESPONSES);
        let id = inner.next_id;
        inner.next_id += 1;
        inner.slots.insert(
            id,
            Slot {
                req,
                tx,
                next_rev: start,
                synced,
                last_sent: Instant::now(),
                progress_pending: false,
            },
        );
        drop(inner);
        if !synced {
            self.wake();
        }
        Ok(Watcher {
            id,
            rx,
            hub: Arc::clone(self),
        })
    }

    /// Ends one watch stream.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().slots.remove(&id);
    }

    /// True once the hub has been closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The watchers that are catching up: (id, next revision, request,
    /// sender) of each.
    pub(crate) fn behind(&self) -> Vec<(u64, u64, WatchRequest, Sender<WatchResponse>)> {
        let inner = self.lock();
        inner
            .slots
            .iter()
            .filter(|(_, s)| !s.synced)
            .map(|(&id, s)| (id, s.next_rev, s.req.clone(), s.tx.clone()))
            .collect()
    }

    /// Records that a catching-up watcher has been sent everything below
    /// `next_rev`, and marks it synced once it has passed the published
    /// revision (under the hub lock, so that the writer's next publication
    /// neither skips nor repeats a revision for it). True when it needs no
    /// more catching up: synced now, or gone.
    pub(crate) fn caught_up_to(&self, id: u64, next_rev: u64) -> bool {
        let mut inner = self.lock();
        let published = inner.published;
        let Some(slot) = inner.slots.get_mut(&id) else {
            return true;
        };
        slot.next_rev = next_rev;
        slot.last_sent = Instant::now();
        if next_rev > published {
            slot.synced = true;
            return true;
        }
        false
    }

    /// Ends every watch stream.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.slots.clear();
        drop(inner);
        self.wake();
    }

    /// Hands a committed group's events (revision order, one entry per
    /// revision) to the synced watchers. Never blocks on a watcher.
    pub(crate) fn publish(&self, revisions: &[(u64, Vec<Event>)]) {
        let (Some(first), Some(last)) = (revisions.first(), revisions.last()) else {
            return;
        };
        let (first, last) = (first.0, last.0);
        let mut inner = self.lock();
        inner.published = last;
        let mut fell_behind = false;
        inner.slots.retain(|&id, slot| {
            if !slot.synced {
                return true;
            }
            let events: Vec<Event> = revisions
                .iter()
                .filter(|(rev, _)| *rev >= slot.next_rev)
                .flat_map(|(_, evs)| evs.iter())
                .filter(|e| slot.req.wants(e))
                .map(|e| slot.req.shape(e))
                .collect();
            if !events.is_empty() {
                let resp = WatchResponse {
                    watch_id: id,
                    revision: last,
                    events,
                    ..WatchResponse::default()
                };
                match slot.tx.try_send(resp) {
                    Ok(()) => slot.last_sent = Instant::now(),
                    Err(TrySendError::Full(_)) => {
                        slot.synced = false;
                        slot.next_rev = slot.next_rev.max(first);
                        fell_behind = true;
                        return true;
                    }
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            slot.next_rev = slot.next_rev.max(last + 1);
            true
        });
        drop(inner);
        if fell_behind {
            self.wake();
        }
    }

    /// Asks one watcher (or all) for a progress notification.
    pub(crate) fn request_progress(&self, only: Option<u64>) {
        let mut inner = self.lock();
        for (id, slot) in inner.slots.iter_mut() {
            if only.is_none_or(|o| o == *id) {
                slot.progress_pending = true;
            }
        }
        drop(inner);
        self.wake();
    }

    /// Sends due progress notifications to synced watchers.
    pub(crate) fn progress_round(&self) {
        let mut inner = self.lock();
        let published = inner.published;
        let now = Instant::now();
        for (&id, slot) in inner.slots.iter_mut() {
            let due = slot.progress_pending
                || slot
                    .req
                    .progress_notify
                    .is_some_and(|every| now.duration_since(slot.last_sent) >= every);
            if !slot.synced || !due {
                continue;
            }
            let resp = WatchResponse {
                watch_id: id,
                revision: published,
                progress_notify: true,
                ..WatchResponse::default()
            };
            if slot.tx.try_send(resp).is_ok() {
                slot.last_sent = now;
                slot.progress_pending = false;
            }
        }
    }

    /// How long the catch-up thread may sleep.
    pub(crate) fn idle_wait(&self) -> Duration {
        let inner = self.lock();
        if inner
            .slots
            .values()
            .any(|s| !s.synced || s.progress_pending)
        {
            Duration::from_millis(2)
        } else if inner
            .slots
            .values()
            .any(|s| s.req.progress_notify.is_some())
        {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(500)
        }
    }
}
