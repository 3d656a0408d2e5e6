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

    /// True when the store holds no record and never did: nothing was
    /// written and nothing compacted. (Every record adds at least one key to
    /// the index, and only a compaction removes keys.) Its revision is then
    /// its initial one, 1 for a store created by format version 3.
    pub(crate) fn holds_no_record(&self) -> bool {
        self.compacted == 0 && self.keys.key_count() == 0
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
        let mut kv = None;
        self.load_from(key, at, frame.as_ref(), keys_only, |v| kv = Some(v))?;
        kv.ok_or_else(|| self.missing(key, at))
    }

    /// Reads the record of one key write from its frame, found already, and
    /// hands it to `put` (built in place there, rather than returned through
    /// each layer of `Result`s on the way out).
    fn load_from(
        &self,
        key: &[u8],
        at: KeyRev,
        frame: Option<&Located<'_>>,
        keys_only: bool,
        put: impl FnOnce(KeyValue),
    ) -> Result<()> {
        let found = match frame {
            Some(frame) => frame.with_payload(|payload| match find_op(payload, at.sub)? {
                Some(op) if op.key == key => {
                    put(KeyValue {
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
                    });
                    Ok(true)
                }
                _ => Ok(false),
            })?,
            None => false,
        };
        if found {
            Ok(())
        } else {
            Err(self.missing(key, at))
        }
    }

    /// The error for a write the key index names but no record holds.
    #[cold]
    fn missing(&self, key: &[u8], at: KeyRev) -> Error {
        Error::corruption(
            &self.revs.active.path,
            0,
            format!(
                "key index names revision {}.{} for {:?}, which no record holds",
                at.main,
                at.sub,
                String::from_utf8_lossy(key)
            ),
        )
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
            self.load_from(key, at, frame.as_ref(), keys_only, |kv| out.push(kv))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, Op, Options, SyncPolicy, Txn};

    /// A key-index entry naming a write whose record holds another key, or
    /// no op at that sub, or no frame at that revision, is a corruption
    /// error, from a get and from a range alike.
    #[test]
    fn index_entries_without_their_record_are_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(dir.path(), Options::new().sync(SyncPolicy::Never)).expect("open");
        let ops = ["a", "b", "c"].map(|k| Op::put(k, format!("value of {k}")));
        db.txn(Txn::new().and_then(ops)).expect("txn");
        db.close().expect("close");
        let state = crate::engine::recovery::recover(dir.path(), false, 1 << 20)
            .expect("recover")
            .state;
        let b = state.keys.visible(b"b", 2).expect("b is indexed");
        assert_eq!((b.main, b.sub), (2, 1));
        let kv = state.load(b"b", b, false).expect("b loads");
        assert_eq!((kv.key, kv.value), (b"b".to_vec(), b"value of b".to_vec()));
        for (key, at) in [
            (&b"x"[..], b),
            (b"b", KeyRev { sub: 7, ..b }),
            (b"b", KeyRev { main: 9, ..b }),
        ] {
            let err = state.load(key, at, false).expect_err("no such record");
            assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
            let frame = state.revs.locate(at.main).expect("locate");
            let mut out = Vec::new();
            let err = state
                .load_batch(&[(key, at)], false, &mut out)
                .expect_err("no such record");
            assert!(matches!(err, Error::Corruption { .. }), "{err:?}");
            assert!(out.is_empty());
            assert_eq!(frame.is_some(), at.main == 2);
        }
    }
}
