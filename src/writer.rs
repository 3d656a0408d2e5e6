//! The single writer thread: takes write transactions off a bounded channel
//! in groups, assigns revisions in order, evaluates each against the
//! published state plus the group's earlier writes, appends the whole group
//! with one write and (under `SyncPolicy::Always`) one fdatasync, and only
//! then publishes it to readers and replies.

use crate::db::Shared;
use crate::error::{Error, Result};
use crate::format::frame::{encode_frame, FrameKind};
use crate::format::idx::IdxEntry;
use crate::format::record::{encode_txn, RecordOp};
use crate::format::MAX_PAYLOAD;
use crate::index::KeyRev;
use crate::options::{Compression, SyncPolicy};
use crate::storage::segment::{write_index, ActiveSegment, SealedSegment, FIRST_FRAME_OFFSET};
use crate::txn::{evaluate, Overlay, Txn, TxnResponse};
use crate::types::{Event, EventKind};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What callers send the writer.
pub(crate) enum Request {
    /// A transaction that may write.
    Txn {
        txn: Txn,
        reply: Sender<Result<TxnResponse>>,
    },
    /// Finish queued work, sync, and stop.
    Shutdown,
}

/// A transaction of the current group that will be appended.
struct Staged {
    revision: u64,
    /// Offset and length of its frame inside the group buffer.
    frame_at: usize,
    frame_len: usize,
    /// One event per write, in sub order: the key index entries and the
    /// watchers' events both come from these.
    events: Vec<Event>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: Receiver<Request>,
    file: Arc<File>,
    /// Bytes of the active segment written so far.
    active_len: u64,
    /// Bytes written but not yet synced.
    dirty: bool,
    last_sync: Instant,
    group_buf: Vec<u8>,
    payload_buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        rx: Receiver<Request>,
        file: Arc<File>,
        active_len: u64,
    ) -> Writer {
        Writer {
            shared,
            rx,
            file,
            active_len,
            dirty: false,
            last_sync: Instant::now(),
            group_buf: Vec::new(),
            payload_buf: Vec::new(),
        }
    }

    /// The thread's body: runs until `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self) {
        let max = self.shared.options.max_group_requests;
        let mut group = Vec::with_capacity(max);
        loop {
            let Some(first) = self.next_request() else {
                break;
            };
            let mut stop = matches!(first, Request::Shutdown);
            if let Request::Txn { txn, reply } = first {
                group.push((txn, reply));
                while group.len() < max {
                    match self.rx.try_recv() {
                        Ok(Request::Txn { txn, reply }) => group.push((txn, reply)),
                        Ok(Request::Shutdown) => {
                            stop = true;
                            break;
                        }
                        Err(_) => break,
                    }
                }
                self.commit_group(&mut group);
            }
            if stop {
                break;
            }
        }
        if self.dirty {
            if let Err(e) = self.sync() {
                self.shared.poison(&e);
            }
        }
    }

    /// Waits for the next request; under `Interval` it also syncs when the
    /// interval has passed with unsynced bytes.
    fn next_request(&mut self) -> Option<Request> {
        loop {
            let interval = match self.shared.options.sync {
                SyncPolicy::Interval(d) if self.dirty => d,
                _ => return self.rx.recv().ok(),
            };
            let wait = interval.saturating_sub(self.last_sync.elapsed());
            match self.rx.recv_timeout(wait.max(Duration::from_micros(100))) {
                Ok(r) => return Some(r),
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = self.sync() {
                        self.shared.poison(&e);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn sync(&mut self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| Error::io("fdatasync of the active segment", e))?;
        self.dirty = false;
        self.last_sync = Instant::now();
        Ok(())
    }

    fn commit_group(&mut self, group: &mut Vec<(Txn, Sender<Result<TxnResponse>>)>) {
        let mut replies: Vec<(Sender<Result<TxnResponse>>, Result<TxnResponse>)> =
            Vec::with_capacity(group.len());
        let mut staged: Vec<Staged> = Vec::new();
        self.group_buf.clear();
        if let Some(cause) = self.shared.poisoned() {
            for (_, reply) in group.drain(..) {
                let _ = reply.send(Err(Error::Poisoned {
                    cause: cause.clone(),
                }));
            }
            return;
        }
        {
            let shared = Arc::clone(&self.shared);
            let state = shared.read_state();
            let mut overlay = Overlay::new();
            let mut next_rev = state.current + 1;
            let no_leases = |_: i64| false;
            for (txn, reply) in group.drain(..) {
                let result = evaluate(&state, &overlay, &txn, next_rev, &no_leases)
                    .and_then(|ev| self.stage(next_rev, ev, &mut staged, &mut overlay));
                if result.as_ref().is_ok_and(|r| r.revision == next_rev) {
                    next_rev += 1;
                }
                replies.push((reply, result));
            }
        }
        if let Err(e) = self.append_and_publish(staged) {
            self.shared.poison(&e);
            let cause = e.to_string();
            for (reply, _) in replies {
                let _ = reply.send(Err(Error::Poisoned {
                    cause: cause.clone(),
                }));
            }
            return;
        }
        for (reply, result) in replies {
            let _ = reply.send(result);
        }
        if self.active_len >= self.shared.options.segment_size {
            if let Err(e) = self.roll() {
                self.shared.poison(&e);
            }
        }
    }

    /// Encodes an evaluated transaction's frame into the group buffer and
    /// merges its writes into the group overlay. Nothing is touched when it
    /// fails, so no state of a failed transaction leaks into the next one.
    fn stage(
        &mut self,
        rev: u64,
        ev: crate::txn::Evaluated,
        staged: &mut Vec<Staged>,
        overlay: &mut Overlay,
    ) -> Result<TxnResponse> {
        if ev.writes.is_empty() {
            return Ok(ev.response);
        }
        let ops: Vec<RecordOp<'_>> = ev.writes.iter().map(|w| w.as_record()).collect();
        self.payload_buf.clear();
        encode_txn(rev, &ops, &mut self.payload_buf);
        if self.payload_buf.len() > MAX_PAYLOAD {
            return Err(Error::TxnTooLarge {
                len: self.payload_buf.len(),
                max: MAX_PAYLOAD,
            });
        }
        let level = match self.shared.options.compression {
            Compression::Zstd { threshold, level } if self.payload_buf.len() >= threshold => {
                Some(level)
            }
            _ => None,
        };
        let frame_at = self.group_buf.len();
        let frame_len = encode_frame(
            FrameKind::Txn,
            &self.payload_buf,
            level,
            &mut self.group_buf,
        );
        staged.push(Staged {
            revision: rev,
            frame_at,
            frame_len,
            events: ev.events,
        });
        overlay.extend(ev.overlay);
        Ok(ev.response)
    }

    /// Appends the group's frames with one write, syncs per the policy, then
    /// publishes the new revisions to readers.
    fn append_and_publish(&mut self, staged: Vec<Staged>) -> Result<()> {
        if staged.is_empty() {
            return Ok(());
        }
        let base = self.active_len;
        self.file
            .write_all_at(&self.group_buf, base)
            .map_err(|e| Error::io("append to the active segment", e))?;
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
                state.revs.push_active(IdxEntry {
                    revision: s.revision,
                    offset: base + s.frame_at as u64,
                    len: s.frame_len as u32,
                });
                for (sub, e) in s.events.iter().enumerate() {
                    let key_rev = KeyRev {
                        main: s.revision,
                        sub: sub as u32,
                        tombstone: e.kind == EventKind::Delete,
                    };
                    state.keys.push(&e.kv.key, key_rev);
                }
                state.current = s.revision;
            }
        }
        let published: Vec<(u64, Vec<Event>)> =
            staged.into_iter().map(|s| (s.revision, s.events)).collect();
        self.shared.hub.publish(&published);
        Ok(())
    }

    /// Seals the active segment and starts the next: sync it, write its
    /// `.idx`, create the next segment durably, install a MANIFEST naming it,
    /// then swap the maps in. A crash at any step leaves a store that opens.
    fn roll(&mut self) -> Result<()> {
        let dir = self.shared.dir.clone();
        self.sync()?;
        let (id, entries) = {
            let state = self.shared.read_state();
            (state.revs.active.id, state.revs.active.entries.clone())
        };
        write_index(&dir, id, &entries)?;
        crate::failpoint::hit("roll.index_written");
        let next_id = self.shared.allocate_segment_id();
        let next = ActiveSegment::create(&dir, next_id)?;
        crate::failpoint::hit("roll.segment_created");
        self.shared.update_manifest(|m| m.segments.push(next_id))?;
        let sealed = Arc::new(SealedSegment::open(&dir, id)?);
        self.file = Arc::clone(&next.file);
        self.active_len = FIRST_FRAME_OFFSET;
        self.shared.write_state().revs.roll(sealed, next);
        Ok(())
    }
}
