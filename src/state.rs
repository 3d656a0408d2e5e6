//! The published state of an open store, shared by readers and the writer
//! under one lock: key index, revision index, current and compaction
//! revisions. Serves every read.

use crate::error::{Error, Result};
use crate::format::record::{find_op, OpKind};
use crate::index::{KeyIndex, KeyRev};
use crate::storage::rev_index::RevIndex;
use crate::types::{KeyValue, RangeRequest, RangeResponse};

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) keys: KeyIndex,
    pub(crate) revs: RevIndex,
    /// The newest revision readers may see.
    pub(crate) current: u64,
    /// The compaction revision: reads below it fail.
    pub(crate) compacted: u64,
}

impl State {
    /// The revision a read at `rev` is served at (0 = current), checked
    /// against the compaction point and the current revision.
    pub(crate) fn resolve(&self, rev: u64) -> Result<u64> {
        if rev == 0 {
            return Ok(self.current);
        }
        if rev > self.current {
            return Err(Error::FutureRevision {
                requested: rev,
                current: self.current,
            });
        }
        if rev < self.compacted {
            return Err(Error::Compacted {
                compact_revision: self.compacted,
            });
        }
        Ok(rev)
    }

    /// Reads the record of one key write. With `keys_only` the value is left empty.
    pub(crate) fn load(&self, key: &[u8], at: KeyRev, keys_only: bool) -> Result<KeyValue> {
        let kv = self.revs.with_payload(at.main, |payload| {
            Ok(find_op(payload, at.sub)?.map(|op| KeyValue {
                key: op.key.to_vec(),
                value: if keys_only || op.kind == OpKind::Delete {
                    Vec::new()
                } else {
                    op.value.to_vec()
                },
                create_revision: op.create_revision,
                mod_revision: at.main,
                version: op.version,
                lease: op.lease,
            }))
        })?;
        match kv.flatten() {
            Some(kv) if kv.key == key => Ok(kv),
            _ => Err(Error::corruption(
                &self.revs.active.path,
                0,
                format!(
                    "key index names revision {}.{} for {:?}, which no record holds",
                    at.main,
                    at.sub,
                    String::from_utf8_lossy(key)
                ),
            )),
        }
    }

    /// The key-value of `key` at revision `at` (already resolved).
    pub(crate) fn get_at(&self, key: &[u8], at: u64) -> Result<Option<KeyValue>> {
        match self.keys.visible(key, at) {
            Some(r) => self.load(key, r, false).map(Some),
            None => Ok(None),
        }
    }

    /// Serves a range request.
    pub(crate) fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let at = self.resolve(req.revision)?;
        let mut resp = RangeResponse {
            revision: self.current,
            ..RangeResponse::default()
        };
        for (key, r) in self.keys.live_in(&req.range, at) {
            resp.count += 1;
            if req.count_only {
                continue;
            }
            if req.limit > 0 && resp.kvs.len() as u64 >= req.limit {
                resp.more = true;
                continue;
            }
            resp.kvs.push(self.load(key, r, req.keys_only)?);
        }
        Ok(resp)
    }
}
