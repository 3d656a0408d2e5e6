//! Key-index checkpoints of an open store (`KEYINDEX`, format.md §8a): what
//! one of the published state would reflect ([`mark_of`]), encoding it
//! (taken where the key index and the lease table agree) and saving it, and
//! decoding one into a key index and a lease table for recovery. The file
//! itself is `storage/checkpoint.rs`.

use super::core::Shared;
use crate::error::{Error, Result};
use crate::format::checkpoint::{
    decode_checkpoint, CheckpointEncoder, CheckpointHeader, CheckpointLease, CheckpointRev,
};
use crate::format::manifest::Manifest;
use crate::index::{KeyIndex, KeyRev};
use crate::lease::LeaseTable;
use crate::state::State;
use crate::storage::checkpoint::{self, Mark};
use memmap2::Mmap;
use std::collections::HashMap;
use std::path::Path;

/// A checkpoint that matches the MANIFEST, decoded.
pub(crate) struct Checkpoint {
    /// What it reflects: the segments it covers (a prefix of the
    /// MANIFEST's list), where the covered frames end in the last of them,
    /// and its revision.
    pub(crate) mark: Mark,
    pub(crate) keys: KeyIndex,
    pub(crate) leases: LeaseTable,
    /// key -> the lease its newest write attached it to.
    pub(crate) attached: HashMap<Vec<u8>, i64>,
}

/// The mark of a checkpoint of `state` now, or `None` when the MANIFEST
/// does not name exactly the state's segments (a roll or an install is
/// half-way: the next checkpoint will do).
pub(crate) fn mark_of(state: &State, manifest: &Manifest) -> Option<Mark> {
    let segments: Vec<u64> = state
        .revs
        .sealed()
        .iter()
        .map(|s| s.id)
        .chain([state.revs.active.id])
        .collect();
    if segments != manifest.segments || state.compacted != manifest.compact_scheduled {
        return None;
    }
    Some(Mark {
        segments,
        end: state.revs.active.published_len,
        revision: state.current,
        scheduled: manifest.compact_scheduled,
        finished: manifest.compact_finished,
    })
}

/// Encodes `state`'s key index and `leases` as the checkpoint `mark`
/// describes (from [`mark_of`] under the same locks); `None` when its
/// segment or lease count does not fit the format's u32 fields (the store
/// then goes without a checkpoint, which is derived data).
pub(crate) fn encode(state: &State, mark: &Mark, leases: &LeaseTable) -> Option<Vec<u8>> {
    let mut attached: HashMap<&[u8], i64> = HashMap::new();
    let mut live: Vec<CheckpointLease> = Vec::with_capacity(leases.leases.len());
    for (&id, lease) in &leases.leases {
        live.push(CheckpointLease {
            id,
            ttl: lease.ttl,
            deadline_ms: lease.deadline_ms,
        });
        for key in &lease.keys {
            attached.insert(key, id);
        }
    }
    live.sort_unstable_by_key(|l| l.id);
    let header = CheckpointHeader {
        segments: mark.segments.clone(),
        revision: mark.revision,
        compact_scheduled: mark.scheduled,
        compact_finished: mark.finished,
        end: mark.end,
        key_count: state.keys.key_count() as u64,
        leases: live,
    };
    if !header.counts_fit() {
        return None;
    }
    let mut enc = CheckpointEncoder::new(&header);
    let mut revs = Vec::new();
    for (key, writes) in state.keys.entries() {
        revs.clear();
        revs.extend(writes.map(|w| CheckpointRev {
            main: w.main,
            sub: w.sub,
            tombstone: w.tombstone,
        }));
        enc.key(key, attached.get(key).copied().unwrap_or(0), &revs);
    }
    Some(enc.finish())
}

/// The checkpoint in `dir` if there is one that decodes and matches
/// `manifest` (same compaction state, its segments a prefix of the
/// MANIFEST's). Anything else, a damaged file included, is `None`: the
/// checkpoint is derived data and open then scans the whole log (a
/// checkpoint that is there but not used is logged, with the reason).
pub(crate) fn load(dir: &Path, manifest: &Manifest) -> Option<Checkpoint> {
    let discarded = |why: &dyn std::fmt::Display| {
        log::warn!(
            "revkv {}: key-index checkpoint discarded ({why}); scanning the whole log",
            dir.display()
        );
    };
    let bytes = match checkpoint::map(dir) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return None,
        Err(e) => {
            discarded(&e);
            return None;
        }
    };
    decode(&bytes, manifest)
        .inspect_err(|why| discarded(why))
        .ok()
}

fn decode(bytes: &Mmap, manifest: &Manifest) -> std::result::Result<Checkpoint, String> {
    let (header, keys) =
        decode_checkpoint(bytes).map_err(|e| format!("it does not decode: {e}"))?;
    if !manifest.segments.starts_with(&header.segments) {
        return Err("it covers segments the MANIFEST does not list".into());
    }
    if header.compact_scheduled != manifest.compact_scheduled
        || header.compact_finished != manifest.compact_finished
    {
        return Err("it was taken at another compaction point than the MANIFEST's".into());
    }
    let mut attached = HashMap::new();
    let mut damaged = false;
    let index = KeyIndex::from_sorted(keys.map_while(|k| k.map_err(|_| damaged = true).ok()).map(
        |k| {
            if k.lease != 0 {
                attached.insert(k.key.to_vec(), k.lease);
            }
            let writes = k.revs().map(|r| KeyRev {
                main: r.main,
                sub: r.sub,
                tombstone: r.tombstone,
            });
            (k.key, writes)
        },
    ));
    if damaged {
        return Err("its key entries are damaged".into());
    }
    let mut leases = LeaseTable::default();
    for l in &header.leases {
        leases.grant(l.id, l.ttl, l.deadline_ms);
    }
    Ok(Checkpoint {
        mark: Mark {
            segments: header.segments.clone(),
            end: header.end,
            revision: header.revision,
            scheduled: header.compact_scheduled,
            finished: header.compact_finished,
        },
        keys: index,
        leases,
        attached,
    })
}

impl Shared {
    /// Encodes a key-index checkpoint of the published state (format.md
    /// §8a), after syncing the active segment so that it never covers a
    /// frame that is not on disk; `None` when the one on disk reflects this
    /// state already (or a roll is half-way). Must run where the key index
    /// and the lease table agree: on the writer thread between groups, or
    /// with no writer.
    pub(crate) fn encode_checkpoint(&self) -> Result<Option<(Mark, Vec<u8>)>> {
        let state = self.read_state();
        let manifest = self.manifest();
        let Some(mark) = mark_of(&state, &manifest) else {
            return Ok(None);
        };
        if self.lock_checkpoint_mark().as_ref() == Some(&mark) {
            return Ok(None);
        }
        let active = &state.revs.active;
        active.file.sync_data().map_err(|e| {
            Error::io_at(
                "fdatasync for a checkpoint of the active segment",
                &active.path,
                e,
            )
        })?;
        let leases = self.lock_leases();
        Ok(encode(&state, &mark, &leases).map(|bytes| (mark, bytes)))
    }

    /// Writes what [`Shared::encode_checkpoint`] encoded and remembers
    /// what it reflects.
    pub(crate) fn save_checkpoint(&self, taken: Option<(Mark, Vec<u8>)>) -> Result<()> {
        if let Some((mark, bytes)) = taken {
            checkpoint::write(&self.dir, &bytes)?;
            *self.lock_checkpoint_mark() = Some(mark);
        }
        Ok(())
    }

    /// Checkpoints the key index unless the checkpoint on disk is current.
    pub(crate) fn write_checkpoint(&self) -> Result<()> {
        self.save_checkpoint(self.encode_checkpoint()?)
    }
}
