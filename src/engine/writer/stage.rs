//! Staging a group: evaluating each request against the published state
//! plus the group's earlier writes, encoding its frame into the group buffer,
//! and merging its writes into the group's overlay. Nothing is written or
//! published here.

use super::compress::txn_level;
use crate::engine::core::Shared;
use crate::error::{Counter, Error, Result};
use crate::evaluate::{evaluate, evaluate_delete, evaluate_put, Evaluated, Overlay};
use crate::format::frame::{encode_frame, encode_frame_if, keep_compressed, FrameKind};
use crate::format::lease::{encode_lease, LeaseRecord};
use crate::format::record::{encode_txn, RecordOp};
use crate::format::{MAX_COUNTER, MAX_PAYLOAD};
use crate::state::State;
use crate::txn::{Txn, TxnResponse};
use crate::types::{DeleteRequest, DeleteResponse, Event, PutRequest, PutResponse};
use std::collections::HashMap;
use std::sync::Arc;

/// A frame of the current group that will be appended.
pub(super) struct Staged {
    /// Offset and length of its frame inside the group buffer.
    pub(super) frame_at: usize,
    pub(super) frame_len: usize,
    pub(super) what: StagedKind,
}

pub(super) enum StagedKind {
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
pub(super) struct Group {
    pub(super) staged: Vec<Staged>,
    pub(super) overlay: Overlay,
    pub(super) leases: HashMap<i64, Option<(i64, u64)>>,
    pub(super) next_rev: u64,
}

/// What staging needs besides the group: the store's core, the buffers a
/// group's frames are encoded in (kept across groups), and the lease id
/// generator's state.
pub(super) struct Stager {
    pub(super) shared: Arc<Shared>,
    pub(super) group_buf: Vec<u8>,
    payload_buf: Vec<u8>,
    /// State of the lease id generator.
    pub(super) id_seed: u64,
}

impl Stager {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the lease id seed is the low 64 bits of the time in nanoseconds, on purpose"
    )]
    pub(super) fn new(shared: Arc<Shared>) -> Stager {
        Stager {
            shared,
            group_buf: Vec::new(),
            payload_buf: Vec::new(),
            id_seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x5EED, |d| d.as_nanos() as u64),
        }
    }

    /// Whether lease `id` exists as the group sees it.
    pub(super) fn lease_alive(&self, group: &Group, id: i64) -> Option<(i64, u64)> {
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
    pub(super) fn run_txn(
        &mut self,
        state: &State,
        group: &mut Group,
        txn: Txn,
    ) -> Result<TxnResponse> {
        let rev = group.next_rev;
        let ev = {
            let exists = |id: i64| self.lease_alive(group, id).is_some();
            evaluate(state, &group.overlay, txn, rev, &exists)?
        };
        self.stage(rev, ev, group)
    }

    /// Evaluates and stages a lone put.
    pub(super) fn run_put(
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
    pub(super) fn run_delete(
        &mut self,
        state: &State,
        group: &mut Group,
        req: DeleteRequest,
    ) -> Result<DeleteResponse> {
        let rev = group.next_rev;
        let ev = evaluate_delete(state, &group.overlay, req, rev)?;
        self.stage(rev, ev, group)
    }

    /// Stages a lease grant and makes the group see the lease.
    pub(super) fn stage_grant(&mut self, id: i64, ttl: i64, deadline_ms: u64, group: &mut Group) {
        let rec = LeaseRecord::Grant {
            id,
            ttl,
            deadline_ms,
        };
        self.stage_lease(rec, group);
        group.leases.insert(id, Some((ttl, deadline_ms)));
    }

    pub(super) fn stage_lease(&mut self, rec: LeaseRecord, group: &mut Group) {
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
    pub(super) fn stage<R>(&mut self, rev: u64, ev: Evaluated<R>, group: &mut Group) -> Result<R> {
        if ev.events.is_empty() {
            return Ok(ev.response);
        }
        // Only a transaction that writes uses up a revision.
        if rev > MAX_COUNTER {
            return Err(Error::Exhausted {
                counter: Counter::Revision,
            });
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
        let level = txn_level(
            self.shared.options.compression,
            &self.payload_buf,
            ops.len() == 1,
        );
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
}
