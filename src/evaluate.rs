//! Evaluating transactions: a transaction's compares and operations against
//! the published state plus the unpublished writes of its group, producing
//! its response, its events and the new head of every key it writes. The
//! writer evaluates; nothing here changes the store.

use crate::error::{Error, Result};
use crate::format::record::{OpKind, RecordOp};
use crate::format::MAX_COUNTER;
use crate::state::State;
use crate::txn::{Op, OpResponse, Txn, TxnResponse};
use crate::types::{
    DeleteRequest, DeleteResponse, Event, EventKind, KeyRange, KeyValue, PutRequest, PutResponse,
    RangeRequest, RangeResponse,
};
use std::collections::BTreeMap;

/// The newest state of one key as a transaction sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Head {
    /// The live key-value, `None` when absent or deleted.
    pub kv: Option<KeyValue>,
    /// Revision of the key's newest record (put or tombstone), 0 if none.
    pub last_rev: u64,
}

/// Writes not yet published, newest state per key.
pub(crate) type Overlay = BTreeMap<Vec<u8>, Head>;

/// The state a transaction evaluates against: the published state at its
/// current revision, then unpublished writes of the same group, then the
/// transaction's own earlier writes.
pub(crate) struct HeadView<'a> {
    pub state: &'a State,
    pub layers: [&'a Overlay; 2],
}

impl HeadView<'_> {
    pub(crate) fn head(&self, key: &[u8]) -> Result<Head> {
        for layer in self.layers.iter().rev() {
            if let Some(h) = layer.get(key) {
                return Ok(h.clone());
            }
        }
        Ok(match self.state.keys.latest(key, self.state.current) {
            None => Head::default(),
            Some(r) if r.tombstone => Head {
                kv: None,
                last_rev: r.main,
            },
            Some(r) => Head {
                kv: Some(self.state.load(key, r, false)?),
                last_rev: r.main,
            },
        })
    }

    /// Every live key-value of `range` at the head, in key order.
    fn live(&self, range: &KeyRange) -> Result<Vec<KeyValue>> {
        if range.is_single() {
            return Ok(self.head(&range.key)?.kv.into_iter().collect());
        }
        let base = self.state.range(&RangeRequest::new(range.clone()))?;
        let mut merged: BTreeMap<Vec<u8>, KeyValue> = base
            .kvs
            .into_iter()
            .map(|kv| (kv.key.clone(), kv))
            .collect();
        for layer in self.layers {
            for (key, head) in layer.iter().filter(|(k, _)| range.contains(k)) {
                match &head.kv {
                    Some(kv) => merged.insert(key.clone(), kv.clone()),
                    None => merged.remove(key),
                };
            }
        }
        Ok(merged.into_values().collect())
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        if req.revision != 0 {
            return self.state.range(req);
        }
        let kvs = self.live(&req.range)?;
        let count = kvs.len() as u64;
        if req.count_only {
            return Ok(RangeResponse {
                count,
                ..RangeResponse::default()
            });
        }
        let keep = if req.limit == 0 {
            kvs.len()
        } else {
            usize::try_from(req.limit)
                .unwrap_or(usize::MAX)
                .min(kvs.len())
        };
        let mut kvs = kvs;
        kvs.truncate(keep);
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        Ok(RangeResponse {
            revision: 0,
            more: (keep as u64) < count,
            kvs,
            count,
        })
    }
}

/// What evaluating a transaction (or a lone put or delete) produced.
pub(crate) struct Evaluated<R = TxnResponse> {
    pub response: R,
    /// One event per write, in write order (= `sub` order), each with its
    /// previous kv; empty when the transaction wrote nothing. The record's
    /// ops are made from these ([`Evaluated::record_ops`]).
    pub events: Vec<Event>,
    /// Per event, the revision of the key's previous record, put or
    /// tombstone (the op's `prev_mod_revision`, format.md §5.3).
    pub prev_mod_revisions: Vec<u64>,
    /// The new head of every key written.
    pub overlay: Overlay,
}

impl<R> Evaluated<R> {
    /// The ops of the transaction's record, borrowed from its events.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "2^32 ops or more make a record longer than MAX_PAYLOAD, which the \
                  writer rejects after encoding; such `sub`s are never stored"
    )]
    pub(crate) fn record_ops(&self) -> Vec<RecordOp<'_>> {
        self.events
            .iter()
            .zip(&self.prev_mod_revisions)
            .enumerate()
            .map(|(sub, (e, &prev_mod_revision))| RecordOp {
                sub: sub as u32,
                kind: match e.kind {
                    EventKind::Put => OpKind::Put,
                    EventKind::Delete => OpKind::Delete,
                },
                key: &e.kv.key,
                value: &e.kv.value,
                create_revision: e.kv.create_revision,
                version: e.kv.version,
                lease: e.kv.lease,
                prev_mod_revision,
            })
            .collect()
    }
}

/// A transaction's writes so far: the new head of each key written, and
/// per write its event and its key's previous record revision.
#[derive(Default)]
struct Writes {
    local: Overlay,
    events: Vec<Event>,
    prev_mod_revisions: Vec<u64>,
}

impl Writes {
    fn into_evaluated<R>(self, response: R) -> Evaluated<R> {
        Evaluated {
            response,
            events: self.events,
            prev_mod_revisions: self.prev_mod_revisions,
            overlay: self.local,
        }
    }
}

/// Evaluates `txn` against `group` (unpublished writes) on top of `state`,
/// as revision `rev` should it write. Nothing is changed: the caller applies
/// the events and `overlay` only if it commits them. The keys and values of
/// its puts move into the events.
pub(crate) fn evaluate(
    state: &State,
    group: &Overlay,
    txn: Txn,
    rev: u64,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<Evaluated> {
    let mut w = Writes::default();
    let mut succeeded = true;
    for cmp in &txn.compares {
        let view = HeadView {
            state,
            layers: [group, &w.local],
        };
        if !cmp.holds(&view.live(&cmp.range)?) {
            succeeded = false;
            break;
        }
    }
    let ops = if succeeded { txn.success } else { txn.failure };
    check_branch(state, &ops, lease_exists)?;
    // Each op answers at the revision of its point of the transaction, as
    // etcd's do: the store's revision (`rev - 1`) until the first op that
    // writes something, `rev` from that op on.
    let at = |w: &Writes| if w.events.is_empty() { rev - 1 } else { rev };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Put(p) => responses.push(OpResponse::Put(put(
                state,
                group,
                &mut w,
                p,
                rev,
                lease_exists,
            )?)),
            Op::Delete(d) => {
                let mut resp = delete(state, group, &mut w, d, rev)?;
                resp.revision = at(&w);
                responses.push(OpResponse::Delete(resp))
            }
            Op::Range(r) => {
                let view = HeadView {
                    state,
                    layers: [group, &w.local],
                };
                let mut resp = view.range(&r)?;
                resp.revision = at(&w);
                responses.push(OpResponse::Range(resp))
            }
        }
    }
    let revision = at(&w);
    Ok(w.into_evaluated(TxnResponse {
        revision,
        succeeded,
        responses,
    }))
}

/// The checks etcd makes on the branch that runs before running any of it
/// (etcdserver's `checkRequestPut`, then `checkRequestRange`): every put's
/// lease exists, then every read's revision is neither compacted nor in the
/// future. So of two faults, a missing lease is reported before a bad
/// revision, whatever their order in the branch.
fn check_branch(state: &State, ops: &[Op], lease_exists: &dyn Fn(i64) -> bool) -> Result<()> {
    for op in ops {
        if let Op::Put(p) = op {
            if p.lease != 0 && !lease_exists(p.lease) {
                return Err(Error::LeaseNotFound { id: p.lease });
            }
        }
    }
    for op in ops {
        if let Op::Range(r) = op {
            state.resolve(r.revision)?;
        }
    }
    Ok(())
}

/// Evaluates a lone put, as [`evaluate`] does a transaction of that one op.
pub(crate) fn evaluate_put(
    state: &State,
    group: &Overlay,
    req: PutRequest,
    rev: u64,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<Evaluated<PutResponse>> {
    let mut w = Writes::default();
    let response = put(state, group, &mut w, req, rev, lease_exists)?;
    Ok(w.into_evaluated(response))
}

/// Evaluates a lone delete, as [`evaluate`] does a transaction of that one
/// op: one that deletes nothing answers at the current revision.
pub(crate) fn evaluate_delete(
    state: &State,
    group: &Overlay,
    req: DeleteRequest,
    rev: u64,
) -> Result<Evaluated<DeleteResponse>> {
    let mut w = Writes::default();
    let mut response = delete(state, group, &mut w, req, rev)?;
    response.revision = if w.events.is_empty() { rev - 1 } else { rev };
    Ok(w.into_evaluated(response))
}

/// One put of a transaction writing as revision `rev`.
fn put(
    state: &State,
    group: &Overlay,
    w: &mut Writes,
    p: PutRequest,
    rev: u64,
    lease_exists: &dyn Fn(i64) -> bool,
) -> Result<PutResponse> {
    if p.lease != 0 && !lease_exists(p.lease) {
        return Err(Error::LeaseNotFound { id: p.lease });
    }
    let view = HeadView {
        state,
        layers: [group, &w.local],
    };
    let head = view.head(&p.key)?;
    if head.kv.as_ref().is_some_and(|kv| kv.version >= MAX_COUNTER) {
        return Err(Error::Exhausted {
            counter: crate::error::Counter::Version { key: p.key },
        });
    }
    let kv = KeyValue {
        create_revision: head.kv.as_ref().map_or(rev, |kv| kv.create_revision),
        mod_revision: rev,
        version: head.kv.as_ref().map_or(1, |kv| kv.version + 1),
        lease: p.lease,
        key: p.key,
        value: p.value,
    };
    w.prev_mod_revisions.push(head.last_rev);
    w.local.insert(
        kv.key.clone(),
        Head {
            kv: Some(kv.clone()),
            last_rev: rev,
        },
    );
    let response = PutResponse {
        revision: rev,
        prev_kv: if p.prev_kv { head.kv.clone() } else { None },
    };
    w.events.push(Event {
        kind: EventKind::Put,
        kv,
        prev_kv: head.kv,
    });
    Ok(response)
}

/// One delete of a transaction writing as revision `rev`; its response's
/// revision is left 0 for the caller to set.
fn delete(
    state: &State,
    group: &Overlay,
    w: &mut Writes,
    d: DeleteRequest,
    rev: u64,
) -> Result<DeleteResponse> {
    let view = HeadView {
        state,
        layers: [group, &w.local],
    };
    let victims = view.live(&d.range)?;
    for kv in &victims {
        w.prev_mod_revisions.push(kv.mod_revision);
        w.local.insert(
            kv.key.clone(),
            Head {
                kv: None,
                last_rev: rev,
            },
        );
        w.events.push(Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: kv.key.clone(),
                mod_revision: rev,
                ..KeyValue::default()
            },
            prev_kv: Some(kv.clone()),
        });
    }
    Ok(DeleteResponse {
        revision: 0,
        deleted: victims.len() as u64,
        prev_kvs: if d.prev_kv { victims } else { Vec::new() },
    })
}
