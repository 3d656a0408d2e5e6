//! The published state of an open store, shared by readers and the writer
//! under one lock: key index, revision index, current and compaction
//! revisions. Serves every read.

use crate::error::{Error, Result};
use crate::format::record::{find_op, OpKind};
use crate::index::{KeyIndex, KeyRev};
use crate::storage::rev_index::{Located, RevIndex};
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
        let frame = self.revs.locate(at.main)?;
        if let Some(f) = &frame {
            // The frame header and the op table first, then the op: two
            // rounds of cache misses rather than three or four.
            f.prefetch_table(at.sub);
            f.prefetch_op(at.sub);
        }
        self.load_from(key, at, frame.as_ref(), keys_only)
    }

    /// Reads the record of one key write from its frame, found already.
    fn load_from(
        &self,
        key: &[u8],
        at: KeyRev,
        frame: Option<&Located<'_>>,
        keys_only: bool,
    ) -> Result<KeyValue> {
        let kv = match frame {
            Some(frame) => frame.with_payload(|payload| {
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
            })?,
            None => None,
        };
        match kv {
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

    /// Reads the records of several key writes into `out`, in order. Their
    /// frames are found first and their bytes prefetched, so that the cache
    /// misses of all of them overlap rather than follow one another.
    fn load_batch(
        &self,
        batch: &[(&[u8], KeyRev)],
        keys_only: bool,
        out: &mut Vec<KeyValue>,
    ) -> Result<()> {
        let mut frames = Vec::with_capacity(batch.len());
        for (_, at) in batch {
            let frame = self.revs.locate(at.main)?;
            if let Some(f) = &frame {
                f.prefetch_table(at.sub);
            }
            frames.push(frame);
        }
        for (frame, (_, at)) in frames.iter().zip(batch) {
            if let Some(f) = frame {
                f.prefetch_op(at.sub);
            }
        }
        out.reserve(batch.len());
        for (frame, &(key, at)) in frames.iter().zip(batch) {
            out.push(self.load_from(key, at, frame.as_ref(), keys_only)?);
        }
        Ok(())
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
        // Keys are read a batch at a time (see `load_batch`).
        let batch_len = match req.limit {
            0 => LOAD_BATCH,
            limit => LOAD_BATCH.min(usize::try_from(limit).unwrap_or(LOAD_BATCH)),
        };
        let mut batch = Vec::with_capacity(batch_len);
        for (key, r) in self.keys.live_in(&req.range, at) {
            resp.count += 1;
            if req.count_only {
                continue;
            }
            if req.limit > 0 && (resp.kvs.len() + batch.len()) as u64 >= req.limit {
                resp.more = true;
                continue;
            }
            batch.push((key, r));
            if batch.len() == batch_len {
                self.load_batch(&batch, req.keys_only, &mut resp.kvs)?;
                batch.clear();
            }
        }
        self.load_batch(&batch, req.keys_only, &mut resp.kvs)?;
        Ok(resp)
    }
}

/// Most key writes a range reads at once.
const LOAD_BATCH: usize = 16;
