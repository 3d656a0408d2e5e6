//! Compaction: scheduling (persist "scheduled C", then refuse reads below C
//! and forget unreachable writes in the key index) and the background
//! rewrite (copy the records to keep from the oldest sealed segments into new
//! segments, make them durable, install a MANIFEST that swaps them in and
//! records "finished C", then delete the old files).
//!
//! Keep rule: every record at or above C; below C only the newest write of
//! each key at or below C, and not even that when it is a tombstone below C
//! (it goes together with every older version, so a deleted key never comes
//! back). The key index applies the rule first; the rewrite then keeps
//! exactly the writes the key index still holds, so disk and memory agree.

use super::core::Shared;
use super::protocol::{on_writer_thread, Request};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::format::frame::{encode_frame_if, indexed_len, keep_compressed, FrameKind, Frames};
use crate::format::idx::IdxEntry;
use crate::format::lease::{decode_lease, LeaseRecord};
use crate::format::record::{decode_txn, encode_txn, RecordOp};
use crate::format::segment::SEGMENT_HEADER_LEN;
use crate::options::{AutoCompaction, Compression};
use crate::storage::files::{decode_error, idx_path, sync_dir};
use crate::storage::segment::{write_index, ActiveSegment, SealedSegment};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Duration;

/// What the compactor thread is told.
pub(crate) enum Msg {
    /// A compaction was scheduled.
    Wake,
    /// Reply once every scheduled compaction has been rewritten.
    Wait(Sender<Result<()>>),
    /// Stop.
    Stop,
}

/// Schedules compaction at `rev`: persists it, then applies it to reads and
/// to the key index. From its return, reads below `rev` fail.
pub(crate) fn schedule(shared: &Shared, rev: u64) -> Result<()> {
    let _one_at_a_time = shared.compaction_lock();
    if rev == 0 {
        return Err(Error::bad_request("compaction revision 0"));
    }
    {
        let state = shared.read_state();
        if rev <= state.compacted {
            return Err(Error::Compacted {
                compact_revision: state.compacted,
            });
        }
        if rev > state.current {
            return Err(Error::FutureRevision {
                requested: rev,
                current: state.current,
            });
        }
    }
    shared.update_manifest(|m| m.compact_scheduled = rev)?;
    failpoint::hit("compact.scheduled");
    // Reads below `rev` fail from here on. The key index is compacted by the
    // compactor thread when it starts the rewrite for `rev`: the rewrite
    // judges every record against one unchanging index, so it can never keep
    // an old put while dropping the tombstone that ended it.
    shared.write_state().compacted = rev;
    Ok(())
}

/// The compactor thread's body.
pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Msg>, writer: Sender<Request>) {
    let mut samples: VecDeque<(u64, u64)> = VecDeque::new();
    let tick = match shared.options.auto_compaction {
        AutoCompaction::Off => Duration::from_secs(3600),
        AutoCompaction::Revisions(_) => Duration::from_secs(1),
        AutoCompaction::Period(p) => {
            (p / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
        }
    };
    let mut waiters = Vec::new();
    loop {
        match rx.recv_timeout(tick) {
            Ok(Msg::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Msg::Wait(reply)) => waiters.push(reply),
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
        }
        auto_schedule(&shared, &mut samples);
        // A failed roll (the store is then poisoned) leaves the active
        // segment out of this compaction, nothing worse.
        match seal_active_for(&shared, &writer) {
            Ok(()) | Err(Error::Closed) => {}
            Err(e) => log::warn!(
                "revkv {}: compaction goes on without sealing the active segment: {e}",
                shared.dir.display()
            ),
        }
        // A checkpoint that cannot be written only costs the next open a
        // full scan (the stale one no longer matches the MANIFEST), so it
        // does not fail the compaction.
        let result = rewrite_pending(&shared).map(|rewritten| {
            if rewritten {
                match checkpoint_on_writer(&shared, &writer) {
                    Ok(()) | Err(Error::Closed) => {}
                    Err(e) => log::warn!(
                        "revkv {}: no key-index checkpoint after compaction (the next open \
                         scans the whole log): {e}",
                        shared.dir.display()
                    ),
                }
            }
        });
        // Every waiter gets the same typed failure.
        let result = result.map_err(|e| {
            log::error!(
                "revkv {}: compaction failed; the old segments stay in force and it is \
                 tried again later: {e}",
                shared.dir.display()
            );
            Arc::new(e)
        });
        for w in waiters.drain(..) {
            let copy = match &result {
                Ok(()) => Ok(()),
                Err(cause) => Err(Error::Compaction {
                    cause: Arc::clone(cause),
                }),
            };
            let _ = w.send(copy);
        }
    }
}

/// Schedules the compaction the auto-compaction mode asks for now, if any.
/// For `Period`, `samples` holds (clock time in ms, current revision) as
/// seen at each call; the target is the revision current a whole period ago
/// by the store's [`Clock`](crate::Clock), so a manual clock drives it.
fn auto_schedule(shared: &Shared, samples: &mut VecDeque<(u64, u64)>) {
    let (current, compacted) = {
        let s = shared.read_state();
        (s.current, s.compacted)
    };
    let target = match shared.options.auto_compaction {
        AutoCompaction::Off => return,
        AutoCompaction::Revisions(keep) => current.saturating_sub(keep),
        AutoCompaction::Period(period) => {
            let now = shared.options.clock.now_ms();
            samples.push_back((now, current));
            let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
            let mut target = 0;
            while let Some(&(at, rev)) = samples.front() {
                if now.saturating_sub(at) < period_ms {
                    break;
                }
                target = rev;
                samples.pop_front();
            }
            target
        }
    };
    if target > compacted {
        // A failure leaves the old files in force; it is tried again next
        // tick. A caller's compaction may have passed the target meanwhile.
        match schedule(shared, target) {
            Ok(()) | Err(Error::Compacted { .. }) => {}
            Err(e) => log::warn!(
                "revkv {}: auto-compaction could not schedule revision {target} \
                 (tried again next tick): {e}",
                shared.dir.display()
            ),
        }
    }
}

/// Rewrites segments if a scheduled compaction is not yet finished; true
/// when it did.
pub(crate) fn rewrite_pending(shared: &Shared) -> Result<bool> {
    let target = shared.manifest().compact_scheduled;
    if target > shared.manifest().compact_finished {
        rewrite(shared, target)?;
        return Ok(true);
    }
    Ok(false)
}

/// Has the writer seal the active segment before a pending rewrite when it
/// holds revisions below the compaction target and is big enough to be
/// worth a segment of its own (a sixteenth of the segment size): otherwise
/// the history it holds would outlive every compaction until it fills up.
fn seal_active_for(shared: &Shared, writer: &Sender<Request>) -> Result<()> {
    let m = shared.manifest();
    let target = m.compact_scheduled;
    if target <= m.compact_finished {
        return Ok(());
    }
    {
        let state = shared.read_state();
        let active = &state.revs.active;
        let below = active.entries.first().is_some_and(|e| e.revision < target);
        if !below || active.published_len < shared.options.segment_size / 16 {
            return Ok(());
        }
    }
    let (reply, answer) = bounded(1);
    writer
        .send(Request::Roll(reply))
        .map_err(|_| Error::Closed)?;
    shared.await_reply(&answer)
}

/// Replaces the key-index checkpoint that a compaction made stale. It is
/// encoded on the writer thread between two groups, where the key index and
/// the lease table agree.
fn checkpoint_on_writer(shared: &Arc<Shared>, writer: &Sender<Request>) -> Result<()> {
    let taken = on_writer_thread(shared, writer, Shared::encode_checkpoint)?;
    shared.save_checkpoint(taken)
}

/// True when some write in `seg` is no longer in the key index.
fn has_garbage(shared: &Shared, seg: &SealedSegment) -> Result<bool> {
    let mut found = false;
    for_each_frame(seg, |_, kind, payload| {
        if kind == FrameKind::Txn {
            let (rev, ops) = decode_txn(payload).map_err(|e| decode_error(&seg.path, 0, e))?;
            let state = shared.read_state();
            found = ops
                .iter()
                .any(|op| !state.keys.contains(op.key, rev, op.sub));
        }
        Ok(!found)
    })?;
    Ok(found)
}

/// Lease frames to keep: the grant of a live lease, and the keep-alive that
/// set its current deadline. Older keep-alives are superseded by a later
/// frame, and every frame of a revoked lease goes (its grant lies in this or
/// an earlier segment, which the rewrite covers as well).
fn keep_lease_frame(
    shared: &Shared,
    seg: &SealedSegment,
    kind: FrameKind,
    payload: &[u8],
) -> Result<bool> {
    let Some(lease_kind) = kind.lease_kind() else {
        return Ok(true);
    };
    let rec = decode_lease(lease_kind, payload).map_err(|e| decode_error(&seg.path, 0, e))?;
    let table = shared.lock_leases();
    let live = table.leases.get(&rec.id());
    Ok(match rec {
        LeaseRecord::Grant { .. } => live.is_some(),
        LeaseRecord::KeepAlive { deadline_ms, .. } => {
            live.is_some_and(|l| l.deadline_ms == deadline_ms)
        }
        LeaseRecord::Revoke { .. } => false,
    })
}

/// Calls `f(stored frame bytes, kind, decompressed payload)` for each frame.
fn for_each_frame(
    seg: &SealedSegment,
    mut f: impl FnMut(&[u8], FrameKind, &[u8]) -> Result<bool>,
) -> Result<()> {
    for found in Frames::new(seg.bytes(), SEGMENT_HEADER_LEN) {
        let found = found.map_err(|e| decode_error(&seg.path, e.offset as u64, e.error))?;
        let payload = found
            .frame
            .payload()
            .map_err(|e| decode_error(&seg.path, found.offset as u64, e))?;
        if !f(found.raw, found.frame.kind, &payload)? {
            break;
        }
    }
    Ok(())
}

/// New segment files being written by a rewrite.
struct Output<'a> {
    shared: &'a Shared,
    current: Option<(ActiveSegment, u64, Vec<u8>)>,
    done: Vec<u64>,
}

impl Output<'_> {
    fn append(&mut self, frame: &[u8], revision: Option<u64>) -> Result<()> {
        if self.current.is_none() {
            let id = self.shared.allocate_segment_id()?;
            let seg = ActiveSegment::create(&self.shared.dir, id)?;
            self.current = Some((seg, SEGMENT_HEADER_LEN as u64, Vec::new()));
        }
        let Some((seg, len, buf)) = self.current.as_mut() else {
            return Ok(());
        };
        if let Some(revision) = revision {
            seg.entries.push(IdxEntry {
                revision,
                offset: *len + buf.len() as u64,
                len: indexed_len(frame.len()),
            });
        }
        buf.extend_from_slice(frame);
        if buf.len() >= 1 << 20 {
            flush(seg, len, buf)?;
            failpoint::hit("compact.mid_segment");
        }
        if *len + buf.len() as u64 >= self.shared.options.segment_size {
            self.seal()?;
        }
        Ok(())
    }

    /// Makes the current output segment durable with its index.
    fn seal(&mut self) -> Result<()> {
        if let Some((seg, mut len, mut buf)) = self.current.take() {
            flush(&seg, &mut len, &mut buf)?;
            failpoint::hit("compact.segment_written");
            seg.file
                .sync_data()
                .map_err(|e| Error::io_at("fsync", &seg.path, e))?;
            write_index(&self.shared.dir, seg.id, &seg.entries)?;
            self.done.push(seg.id);
        }
        Ok(())
    }
}

fn flush(seg: &ActiveSegment, len: &mut u64, buf: &mut Vec<u8>) -> Result<()> {
    seg.file
        .write_all_at(buf, *len)
        .map_err(|e| Error::io_at("write", &seg.path, e))?;
    *len += buf.len() as u64;
    buf.clear();
    Ok(())
}

/// Rewrites the oldest sealed segments for compaction at `target`. Only the
/// compactor thread (or open, before it starts) calls this, so the key index
/// changes under it only by appends above the current revision.
fn rewrite(shared: &Shared, target: u64) -> Result<()> {
    let _rewriting = shared.rewrite_lock();
    shared.write_state().keys.compact(target);
    let sealed: Vec<Arc<SealedSegment>> = shared.read_state().revs.sealed().to_vec();
    // Candidates: the sealed segments that may hold writes below the target.
    let candidates: Vec<&Arc<SealedSegment>> = sealed
        .iter()
        .take_while(|s| s.revisions().is_none_or(|(first, _)| first < target))
        .collect();
    // Rewrite the prefix up to the last one holding garbage. Always a prefix:
    // a dropped tombstone's older versions lie in earlier segments.
    let mut n = 0;
    for (i, seg) in candidates.iter().enumerate() {
        if has_garbage(shared, seg)? {
            n = i + 1;
        }
    }
    // (`n` is at most the number of candidates, a prefix of `sealed`.)
    let picked = sealed.get(..n).unwrap_or_default();
    let mut out = Output {
        shared,
        current: None,
        done: Vec::new(),
    };
    let level = match shared.options.compression {
        Compression::Zstd { threshold, level } => Some((threshold, level)),
        Compression::None => None,
    };
    let mut payload_buf = Vec::new();
    let mut frame_buf = Vec::new();
    for seg in picked {
        for_each_frame(seg, |stored, kind, payload| {
            if kind != FrameKind::Txn {
                if keep_lease_frame(shared, seg, kind, payload)? {
                    out.append(stored, None)?;
                }
                return Ok(true);
            }
            let (rev, ops) = decode_txn(payload).map_err(|e| decode_error(&seg.path, 0, e))?;
            let kept: Vec<RecordOp<'_>> = {
                let state = shared.read_state();
                ops.iter()
                    .filter(|op| state.keys.contains(op.key, rev, op.sub))
                    .copied()
                    .collect()
            };
            if kept.len() == ops.len() {
                out.append(stored, Some(rev))?;
            } else if !kept.is_empty() {
                payload_buf.clear();
                encode_txn(rev, &kept, &mut payload_buf);
                frame_buf.clear();
                let zstd =
                    level.and_then(|(threshold, l)| (payload_buf.len() >= threshold).then_some(l));
                // The writer's rule, so that reads of compacted history
                // do not decompress whole many-op frames.
                encode_frame_if(
                    FrameKind::Txn,
                    &payload_buf,
                    zstd,
                    |raw, packed| keep_compressed(kept.len(), raw, packed),
                    &mut frame_buf,
                );
                out.append(&frame_buf, Some(rev))?;
            }
            Ok(true)
        })?;
    }
    out.seal()?;
    sync_dir(&shared.dir)?;
    // The rewrite dropped versions that newer records supersede; those newer
    // records must be durable before the old versions may go, even under
    // SyncPolicy::Never (they may still sit unsynced in the active segment).
    let (active, active_path) = {
        let state = shared.read_state();
        (
            Arc::clone(&state.revs.active.file),
            state.revs.active.path.clone(),
        )
    };
    active.sync_data().map_err(|e| {
        Error::io_at(
            "fdatasync before compaction of the active segment",
            active_path,
            e,
        )
    })?;
    failpoint::hit("compact.synced");
    let new_ids = out.done;
    let old_ids: Vec<u64> = picked.iter().map(|s| s.id).collect();
    failpoint::hit("compact.before_manifest");
    shared.update_manifest(|m| {
        m.segments.retain(|id| !old_ids.contains(id));
        m.segments.splice(0..0, new_ids.iter().copied());
        m.compact_finished = m.compact_finished.max(target);
    })?;
    failpoint::hit("compact.after_manifest");
    let mut opened = Vec::with_capacity(new_ids.len());
    for &id in &new_ids {
        opened.push(Arc::new(SealedSegment::open(&shared.dir, id)?));
    }
    shared
        .write_state()
        .revs
        .replace_oldest(old_ids.len(), opened);
    failpoint::hit("compact.before_remove");
    for seg in picked {
        for path in [seg.path.clone(), idx_path(&shared.dir, seg.id)] {
            std::fs::remove_file(&path).map_err(|e| Error::io_at("remove", &path, e))?;
        }
    }
    if !picked.is_empty() {
        sync_dir(&shared.dir)?;
    }
    Ok(())
}
