//! Export: streams an open store as [`ExportItem`]s (a header, the live
//! leases, then revisions in order), either every retained revision or the
//! live key-values at the current revision.

use super::core::Shared;
use crate::error::{Error, Result};
use crate::export::{ExportItem, ExportOp};
use crate::format::record::{decode_txn, OpKind};
use crate::types::{EventKind, KeyRange};
use std::collections::BTreeMap;

/// Streams the store into `sink`: with `history`, every retained revision
/// (at and above the compaction point, plus the versions kept below it);
/// otherwise the live key-values at the current revision, grouped by mod
/// revision.
pub(crate) fn export(
    shared: &Shared,
    history: bool,
    sink: &mut dyn FnMut(ExportItem) -> Result<()>,
) -> Result<()> {
    let (current, compacted) = {
        let s = shared.read_state();
        (s.current, s.compacted)
    };
    sink(ExportItem::Header {
        revision: current,
        compact_revision: if history { compacted } else { current },
    })?;
    let mut leases: Vec<(i64, i64, u64)> = shared
        .lock_leases()
        .leases
        .iter()
        .map(|(&id, l)| (id, l.ttl, l.deadline_ms))
        .collect();
    leases.sort_unstable();
    for (id, ttl, deadline_ms) in leases {
        sink(ExportItem::Lease {
            id,
            ttl,
            deadline_ms,
        })?;
    }
    if history {
        export_history(shared, current, sink)
    } else {
        export_latest(shared, current, sink)
    }
}

fn export_latest(
    shared: &Shared,
    at: u64,
    sink: &mut dyn FnMut(ExportItem) -> Result<()>,
) -> Result<()> {
    let mut by_rev: BTreeMap<u64, Vec<ExportOp>> = BTreeMap::new();
    {
        let state = shared.read_state();
        let all = KeyRange::all();
        for (key, r) in state.keys.live_in(&all, at) {
            let kv = state.load(key, r, false)?;
            by_rev.entry(kv.mod_revision).or_default().push(ExportOp {
                kind: EventKind::Put,
                key: kv.key,
                value: kv.value,
                create_revision: kv.create_revision,
                version: kv.version,
                lease: kv.lease,
                prev_mod_revision: 0,
            });
        }
    }
    for (revision, ops) in by_rev {
        sink(ExportItem::Revision { revision, ops })?;
    }
    Ok(())
}

fn export_history(
    shared: &Shared,
    current: u64,
    sink: &mut dyn FnMut(ExportItem) -> Result<()>,
) -> Result<()> {
    // Batches of revisions under the read lock, handed out without it.
    let mut from = 1;
    while from <= current {
        let mut batch = Vec::new();
        let mut through = current;
        {
            let state = shared.read_state();
            state.revs.scan(from, current, |rev, payload| {
                let (_, ops) = decode_txn(payload).map_err(|e| {
                    Error::corruption(&state.revs.active.path, 0, format!("revision {rev}: {e}"))
                })?;
                let kept: Vec<ExportOp> = ops
                    .iter()
                    .filter(|op| state.keys.contains(op.key, rev, op.sub))
                    .map(|op| ExportOp {
                        kind: match op.kind {
                            OpKind::Put => EventKind::Put,
                            OpKind::Delete => EventKind::Delete,
                        },
                        key: op.key.to_vec(),
                        value: op.value.to_vec(),
                        create_revision: op.create_revision,
                        version: op.version,
                        lease: op.lease,
                        prev_mod_revision: op.prev_mod_revision,
                    })
                    .collect();
                if !kept.is_empty() {
                    batch.push(ExportItem::Revision {
                        revision: rev,
                        ops: kept,
                    });
                }
                through = rev;
                Ok(batch.len() < 1024)
            })?;
        }
        for item in batch {
            sink(item)?;
        }
        from = through + 1;
    }
    Ok(())
}
