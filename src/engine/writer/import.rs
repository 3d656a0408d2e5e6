//! The writer's import rules: an exported lease or revision is checked
//! (ids, TTLs, revision order, versions, leases) and staged exactly as it
//! was, revision numbers included.

use super::lease::MAX_LEASE_TTL;
use super::stage::{Group, StagedKind, Stager};
use crate::error::{Error, Result};
use crate::evaluate::{Evaluated, Head, HeadView, Overlay};
use crate::export::ExportItem;
use crate::format::MAX_COUNTER;
use crate::state::State;
use crate::txn::TxnResponse;
use crate::types::{Event, EventKind, KeyValue};

impl Stager {
    /// Stages an exported revision or lease exactly as it was.
    pub(super) fn run_import(
        &mut self,
        state: &State,
        group: &mut Group,
        item: ExportItem,
    ) -> Result<()> {
        match item {
            ExportItem::Header { .. } => Ok(()),
            ExportItem::Lease {
                id,
                ttl,
                deadline_ms,
            } => {
                if id <= 0 || !(1..=MAX_LEASE_TTL).contains(&ttl) {
                    return Err(Error::bad_request(format!("lease {id} with TTL {ttl}")));
                }
                self.stage_grant(id, ttl, deadline_ms, group);
                Ok(())
            }
            ExportItem::Revision { revision, ops } => {
                // A store without records takes the first revision of an
                // export numbered from 1 (format versions 1 and 2) too.
                let staged_txn = group
                    .staged
                    .iter()
                    .any(|s| matches!(s.what, StagedKind::Txn { .. }));
                let floor = if state.holds_no_record() && !staged_txn {
                    1
                } else {
                    group.next_rev
                };
                if revision < floor || revision > MAX_COUNTER {
                    return Err(Error::bad_request(format!(
                        "revision {revision} does not follow {}",
                        group.next_rev - 1
                    )));
                }
                if ops.is_empty() {
                    return Err(Error::bad_request(format!(
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
                        return Err(Error::bad_request(format!(
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
}
