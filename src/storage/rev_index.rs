//! The revision index: main revision -> the frame that holds it, across the
//! sealed segments (memory-mapped `.idx`) and the active one (in memory).

use super::files::frame_error;
use super::segment::{ActiveSegment, SealedSegment};
use crate::error::{Error, Result};
use crate::format::frame::{decode_frame_trusted, FrameKind};
use crate::format::idx::IdxEntry;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

/// A frame's bytes, the file that holds them, and their offset in it.
type StoredFrame<'a> = (Cow<'a, [u8]>, &'a Path, u64);

/// All live segments, oldest first, and where each revision is.
#[derive(Debug)]
pub(crate) struct RevIndex {
    sealed: Vec<Arc<SealedSegment>>,
    /// For each sealed segment, the highest revision held by it or any
    /// earlier one: monotonic, so it can be binary searched.
    sealed_last: Vec<u64>,
    pub(crate) active: ActiveSegment,
}

impl RevIndex {
    pub(crate) fn new(sealed: Vec<Arc<SealedSegment>>, active: ActiveSegment) -> RevIndex {
        let mut idx = RevIndex {
            sealed: Vec::new(),
            sealed_last: Vec::new(),
            active,
        };
        for s in sealed {
            idx.push_sealed(s);
        }
        idx
    }

    fn push_sealed(&mut self, seg: Arc<SealedSegment>) {
        let prev = self.sealed_last.last().copied().unwrap_or(0);
        let last = seg.revisions().map_or(prev, |(_, last)| last.max(prev));
        self.sealed_last.push(last);
        self.sealed.push(seg);
    }

    /// Seals the active segment as `sealed` and makes `next` the active one.
    pub(crate) fn roll(&mut self, sealed: Arc<SealedSegment>, next: ActiveSegment) {
        self.push_sealed(sealed);
        self.active = next;
    }

    /// The sealed segments, oldest first.
    pub(crate) fn sealed(&self) -> &[Arc<SealedSegment>] {
        &self.sealed
    }

    /// Replaces the first `n` sealed segments with `with` (compaction output
    /// holding the same revisions, minus what compaction dropped).
    pub(crate) fn replace_oldest(&mut self, n: usize, with: Vec<Arc<SealedSegment>>) {
        let rest: Vec<_> = self.sealed.drain(n.min(self.sealed.len())..).collect();
        self.sealed.clear();
        self.sealed_last.clear();
        for seg in with.into_iter().chain(rest) {
            self.push_sealed(seg);
        }
    }

    /// Records a newly appended transaction frame of the active segment.
    pub(crate) fn push_active(&mut self, e: IdxEntry) {
        self.active.entries.push(e);
    }

    /// The stored frame of revision `rev`, the file it is in and its offset.
    fn frame(&self, rev: u64) -> Result<Option<StoredFrame<'_>>> {
        let i = self.sealed_last.partition_point(|&last| last < rev);
        if let Some(seg) = self.sealed.get(i) {
            let pos = seg.lower_bound(rev)?;
            if pos < seg.count() {
                let e = seg.entry(pos)?;
                if e.revision == rev {
                    return Ok(Some((Cow::Borrowed(seg.frame(&e)?), &seg.path, e.offset)));
                }
            }
            return Ok(None);
        }
        let pos = self.active.lower_bound(rev);
        match self.active.entries.get(pos) {
            Some(e) if e.revision == rev => Ok(Some((
                self.active.read_frame(e)?,
                &self.active.path,
                e.offset,
            ))),
            _ => Ok(None),
        }
    }

    /// Calls `f` with the (decompressed) transaction payload of revision
    /// `rev`; `Ok(None)` when no frame holds that revision.
    pub(crate) fn with_payload<R>(
        &self,
        rev: u64,
        f: impl FnOnce(&[u8]) -> std::result::Result<R, crate::format::DecodeError>,
    ) -> Result<Option<R>> {
        let Some((bytes, path, offset)) = self.frame(rev)? else {
            return Ok(None);
        };
        let payload = txn_payload(&bytes, path, offset)?;
        f(&payload)
            .map(Some)
            .map_err(|e| frame_error(path, offset, e))
    }

    /// Calls `f` with each transaction revision in `from..=to` and its
    /// (decompressed) payload, in revision order, until `f` returns false.
    pub(crate) fn scan(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let first = self.sealed_last.partition_point(|&last| last < from);
        for seg in &self.sealed[first.min(self.sealed.len())..] {
            for i in seg.lower_bound(from)?..seg.count() {
                let e = seg.entry(i)?;
                if e.revision > to {
                    return Ok(());
                }
                let payload = txn_payload(seg.frame(&e)?, &seg.path, e.offset)?;
                if !f(e.revision, &payload)? {
                    return Ok(());
                }
            }
        }
        for e in &self.active.entries[self.active.lower_bound(from)..] {
            if e.revision > to {
                break;
            }
            let bytes = self.active.read_frame(e)?;
            let payload = txn_payload(&bytes, &self.active.path, e.offset)?;
            if !f(e.revision, &payload)? {
                break;
            }
        }
        Ok(())
    }

    /// Bytes of all segment and index files.
    pub(crate) fn disk_bytes(&self) -> u64 {
        let active = self.active.file.metadata().map(|m| m.len()).unwrap_or(0);
        self.sealed.iter().map(|s| s.disk_bytes()).sum::<u64>() + active
    }

    /// Number of segment files.
    pub(crate) fn segment_count(&self) -> usize {
        self.sealed.len() + 1
    }
}

/// Decodes a transaction frame found through the index.
fn txn_payload<'a>(bytes: &'a [u8], path: &Path, offset: u64) -> Result<Cow<'a, [u8]>> {
    // Every frame the index names had its CRC checked when recovery read
    // it, or was written by this process; `verify` re-checks them all.
    let (frame, _) = decode_frame_trusted(bytes).map_err(|e| frame_error(path, offset, e))?;
    if frame.kind != FrameKind::Txn {
        return Err(Error::corruption(
            path,
            offset,
            "index points at a non-transaction frame",
        ));
    }
    frame.payload().map_err(|e| frame_error(path, offset, e))
}
