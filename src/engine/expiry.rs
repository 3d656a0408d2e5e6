//! The lease expiry thread: revokes, through the writer, every lease whose
//! deadline (read against the store's clock) has passed. Expiry is driven
//! from the lease table, which recovery rebuilds from the log, never from a
//! watch on old history (incident 1).

use super::core::Shared;
use super::protocol::Request;
use crate::error::Error;
use crossbeam_channel::{bounded, Sender};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Revokes sent per batch by the expiry thread before it waits for them:
/// small, so that a foreground write queued behind a batch waits for a few
/// revokes' work, not hundreds (each batch still shares one group commit).
const EXPIRY_BATCH: usize = 32;

/// How long the expiry thread waits before it tries again to revoke a lease
/// whose revoke was refused (instead of asking the writer in a tight loop).
const REFUSED_PAUSE: Duration = Duration::from_millis(50);

/// The expiry thread's body: revokes expired leases through the writer
/// until `stop` is closed.
pub(crate) fn run_expiry(
    shared: Arc<Shared>,
    writer: Sender<Request>,
    stop: crossbeam_channel::Receiver<()>,
) {
    // Leases whose revoke was refused, each logged once.
    let mut refused_ids = HashSet::new();
    loop {
        let (due, wait) = {
            let table = shared.lock_leases();
            let now = shared.options.clock.now_ms();
            let due = table.expired(now);
            let wait = table
                .next_deadline()
                .map_or(50, |d| d.saturating_sub(now).clamp(1, 50));
            (due, wait)
        };
        if due.is_empty() {
            match stop.recv_timeout(Duration::from_millis(wait)) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                _ => return,
            }
        }
        let mut refused = false;
        for chunk in due.chunks(EXPIRY_BATCH) {
            let mut pending = Vec::with_capacity(chunk.len());
            for &id in chunk {
                let (reply, answer) = bounded(1);
                if writer.send(Request::LeaseExpire { id, reply }).is_err() {
                    return;
                }
                pending.push(answer);
            }
            for (&id, answer) in chunk.iter().zip(pending) {
                match shared.await_reply(&answer) {
                    // Closed: nothing more to revoke.
                    Err(Error::Closed) => return,
                    // Poisoned: nothing more can be revoked.
                    Err(e @ Error::Poisoned { .. }) => {
                        log::warn!(
                            "revkv {}: lease expiry stops, leases no longer expire: {e}",
                            shared.dir.display()
                        );
                        return;
                    }
                    // Revoked, or gone meanwhile.
                    Ok(_) | Err(Error::LeaseNotFound { .. }) => {
                        refused_ids.remove(&id);
                    }
                    // Refused for this lease alone (its keys' deletion
                    // needs a revision, and the revision space can be
                    // exhausted): the others still expire, and this one is
                    // tried again after a pause rather than at once.
                    Err(e) => {
                        if refused_ids.insert(id) {
                            log::warn!(
                                "revkv {}: expired lease {id} cannot be revoked (tried again \
                                 every {} ms, logged once): {e}",
                                shared.dir.display(),
                                REFUSED_PAUSE.as_millis()
                            );
                        }
                        refused = true;
                    }
                }
            }
        }
        let pause = if refused {
            REFUSED_PAUSE
        } else {
            Duration::ZERO
        };
        match stop.recv_timeout(pause) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
    }
}
