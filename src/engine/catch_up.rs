//! The watch catch-up thread: serves every watcher behind the head from
//! disk, through the revision index, until it has passed the hub's published
//! revision; the hub (`watch.rs`) then marks it synced, and the writer feeds
//! it live from there.

use super::core::Shared;
use crate::error::{Error, Result};
use crate::format::record::{decode_txn, OpKind};
use crate::state::State;
use crate::types::{Event, EventKind, KeyValue};
use crate::watch::{WatchRequest, WatchResponse};
use crossbeam_channel::{Receiver, TrySendError};
use std::sync::Arc;

/// Catch-up stops adding revisions to a response past this many events.
const CATCH_UP_EVENTS: usize = 1000;

/// The catch-up thread's body: runs until the hub is closed.
pub(crate) fn run_catch_up(shared: Arc<Shared>, woken: Receiver<()>) {
    loop {
        let _ = woken.recv_timeout(shared.hub.idle_wait());
        if shared.hub.is_closed() {
            return;
        }
        catch_up_round(&shared);
        shared.hub.progress_round();
    }
}

/// Serves every catching-up watcher one step: reads its next revisions from
/// disk and sends them, marks it synced once it has passed the published
/// revision, or ends it with a compacted response.
fn catch_up_round(shared: &Shared) {
    let behind = shared.hub.behind();
    for (id, mut next_rev, req, tx) in behind {
        // A few batches per watcher per round keeps one slow reader from
        // starving the others.
        for _ in 0..8 {
            // A watcher whose buffer is full cannot take a response: reading
            // its history now would be thrown away (and hold the read lock).
            if tx.is_full() {
                break;
            }
            let step = {
                let state = shared.read_state();
                read_batch(&state, id, next_rev, &req)
            };
            match step {
                Ok(Batch::Compacted(compact_revision)) => {
                    let resp = WatchResponse {
                        watch_id: id,
                        revision: shared.read_state().current,
                        compact_revision,
                        ..WatchResponse::default()
                    };
                    if let Err(TrySendError::Full(_)) = tx.try_send(resp) {
                        break; // delivered on a later round, once there is room
                    }
                    shared.hub.remove(id);
                    break;
                }
                // The history cannot be read: end the stream rather than
                // skip revisions.
                Err(e) => {
                    log::error!(
                        "revkv {}: watch {id} ended: its history from revision {next_rev} \
                         cannot be read: {e}",
                        shared.dir.display()
                    );
                    shared.hub.remove(id);
                    break;
                }
                Ok(Batch::Events { resp, through }) => {
                    if let Some(resp) = resp {
                        match tx.try_send(resp) {
                            Ok(()) => {}
                            Err(TrySendError::Full(_)) => break,
                            Err(TrySendError::Disconnected(_)) => {
                                shared.hub.remove(id);
                                break;
                            }
                        }
                    }
                    next_rev = through + 1;
                }
            }
            if shared.hub.caught_up_to(id, next_rev) {
                break;
            }
        }
    }
}

enum Batch {
    /// The watcher's next revision is below the compaction point.
    Compacted(u64),
    /// Events of revisions up to `through` (none if nothing matched).
    Events {
        resp: Option<WatchResponse>,
        through: u64,
    },
}

/// Reads the next whole revisions from `from` for one watcher.
fn read_batch(state: &State, id: u64, from: u64, req: &WatchRequest) -> Result<Batch> {
    if from < state.compacted {
        return Ok(Batch::Compacted(state.compacted));
    }
    let mut events = Vec::new();
    let mut through = from.saturating_sub(1);
    state.revs.scan(from, state.current, |rev, payload| {
        let (_, ops) = decode_txn(payload).map_err(|e| {
            Error::corruption(&state.revs.active.path, 0, format!("revision {rev}: {e}"))
        })?;
        for op in &ops {
            let kv = match op.kind {
                OpKind::Put => KeyValue {
                    key: op.key.to_vec(),
                    value: op.value.to_vec(),
                    create_revision: op.create_revision,
                    mod_revision: rev,
                    version: op.version,
                    lease: op.lease,
                },
                OpKind::Delete => KeyValue {
                    key: op.key.to_vec(),
                    mod_revision: rev,
                    ..KeyValue::default()
                },
            };
            let kind = match op.kind {
                OpKind::Put => EventKind::Put,
                OpKind::Delete => EventKind::Delete,
            };
            let mut event = Event {
                kind,
                kv,
                prev_kv: None,
            };
            if req.wants(&event) {
                if req.prev_kv {
                    event.prev_kv = prev_kv(state, op.key, rev)?;
                }
                events.push(event);
            }
        }
        through = rev;
        Ok(events.len() < CATCH_UP_EVENTS)
    })?;
    if through < from {
        // Nothing at or after `from` is stored yet: the watcher is at the head.
        through = state.current.max(from.saturating_sub(1));
    }
    let resp = (!events.is_empty()).then(|| WatchResponse {
        watch_id: id,
        revision: state.current,
        events,
        ..WatchResponse::default()
    });
    Ok(Batch::Events { resp, through })
}

/// The key-value `key` had just before revision `rev`, if it was live and
/// its record is still retained.
fn prev_kv(state: &State, key: &[u8], rev: u64) -> Result<Option<KeyValue>> {
    match state.keys.visible(key, rev - 1) {
        Some(r) => state.load(key, r, false).map(Some),
        None => Ok(None),
    }
}
