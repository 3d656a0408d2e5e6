//! The writer thread: takes queued requests off the channel in groups
//! (waiting briefly, under `SyncPolicy::Always`, for the writers the last
//! group answered), runs barriers and rolls between groups, syncs under
//! `SyncPolicy::Interval`, and answers what is left queued when it stops.

use super::{lock, SharedWriter, Writer};
use crate::engine::protocol::{unanswered, Request};
use crate::options::SyncPolicy;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

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
            let mut stop = gather(&mut w, &self.rx, first, &mut group, max);
            // Writers answered by the last group are coming back: under
            // `Always`, while fewer than the writers seen at work are here,
            // wait for them (yielding the CPU to them, for at most half an
            // fdatasync) so that they share this group's fdatasync instead of
            // forming a group of their own behind it. A lone writer (groups
            // of one) never waits here.
            if matches!(w.shared.options.sync, SyncPolicy::Always) {
                let want = w.callers.min(max);
                let deadline = Instant::now() + (w.log.sync_time / 2).min(MAX_GATHER_WAIT);
                while !stop && group.len() < want && Instant::now() < deadline {
                    std::thread::yield_now();
                    if let Ok(req) = self.rx.try_recv() {
                        stop = gather(&mut w, &self.rx, req, &mut group, max);
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
        let w = &mut *w;
        if let Err(e) = w.log.trim().and_then(|()| {
            if w.log.dirty {
                w.log.sync(&w.shared)
            } else {
                Ok(())
            }
        }) {
            w.shared.poison(e);
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
                    SyncPolicy::Interval(d) if w.log.dirty => {
                        Some(d.saturating_sub(w.log.last_sync.elapsed()))
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
                    let w = &mut *w;
                    if w.log.dirty {
                        if let Err(e) = w.log.sync(&w.shared) {
                            w.shared.poison(e);
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

/// Adds `first` and whatever else is queued (up to `max`) to the group;
/// true when a shutdown request was among them.
fn gather(
    w: &mut Writer,
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
                    w.commit_group(group, &|| rx.len());
                }
                f();
            }
            Request::Roll(reply) => {
                if !group.is_empty() {
                    w.commit_group(group, &|| rx.len());
                }
                let _ = reply.send(w.log.roll_on_request(&w.shared));
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
