//! The open-time pass: MANIFEST -> sealed segments (each frame checked, each
//! `.idx` checked or rebuilt) -> active segment (torn tail truncated) -> the
//! full key index, lone tombstones included. A `Db` is returned only after
//! this has finished, so no read or watch is served from a partial index.

use super::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::format::frame::{
    decode_frame, indexed_len, FrameAt, FrameError, FrameKind, Frames, FLAG_ZSTD, FRAME_HEADER_LEN,
};
use crate::format::idx::IdxEntry;
use crate::format::lease::decode_lease;
use crate::format::manifest::Manifest;
use crate::format::record::{decode_txn, txn_revision, OpKind};
use crate::format::segment::{decode_segment_header, SEGMENT_HEADER_LEN};
use crate::format::FORMAT_VERSION;
use crate::index::{KeyIndex, KeyRev};
use crate::lease::LeaseTable;
use crate::state::State;
use crate::storage::checkpoint::{self as checkpoint_file, Mark};
use crate::storage::files::{
    classify, decode_error, frame_error, read_manifest, segment_path, sync_dir, write_manifest,
    FileKind,
};
use crate::storage::rev_index::RevIndex;
use crate::storage::segment::{map_file, write_index, ActiveSegment, SealedSegment};
use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::sync::Arc;

/// What recovery hands to `Db::open`.
pub(crate) struct Recovered {
    pub(crate) state: State,
    pub(crate) leases: LeaseTable,
    pub(crate) manifest: Manifest,
    pub(crate) active_len: u64,
    /// What the checkpoint on disk reflects, when open used it and the log
    /// holds nothing after it.
    pub(crate) checkpoint: Option<Mark>,
}

/// Running totals of the scan.
#[derive(Default)]
struct Scan {
    keys: KeyIndex,
    last_rev: u64,
    leases: LeaseTable,
    /// The lease each key's newest write attached it to, when non-zero.
    attached: HashMap<Vec<u8>, i64>,
    /// The checkpoint's revision (0 without one).
    base_rev: u64,
    /// Set when the log contradicts the checkpoint the scan started from.
    stale: bool,
}

pub(crate) fn recover(dir: &Path, create_if_missing: bool, map_ahead: u64) -> Result<Recovered> {
    let (manifest, version) = match read_manifest(dir)? {
        Some(found) => found,
        None if create_if_missing => (init_store(dir)?, FORMAT_VERSION),
        None => {
            return Err(Error::StoreNotFound {
                path: dir.to_path_buf(),
            })
        }
    };
    let Some((&active_id, sealed_ids)) = manifest.segments.split_last() else {
        return Err(Error::corruption(
            dir.join("MANIFEST"),
            12,
            "MANIFEST lists no segment",
        ));
    };
    remove_orphans(dir, &manifest)?;
    let base = checkpoint::load(dir, &manifest);
    let base_mark = base.as_ref().map(|b| b.mark.clone());
    let mut log = None;
    if base.is_some() {
        log = scan_log(dir, sealed_ids, active_id, base)?;
    }
    let from_checkpoint = log.is_some();
    if !from_checkpoint {
        if base_mark.is_some() {
            log::warn!(
                "revkv {}: key-index checkpoint discarded: the log does not hold the frames \
                 it covers as it recorded them (lost in a crash, rewritten or damaged); \
                 scanning the whole log",
                dir.display()
            );
        }
        // No checkpoint, or one that does not fit the log: it goes, so that
        // it can never seem to fit a log rewritten after a crash (§8a.3).
        checkpoint_file::remove(dir)?;
        log = scan_log(dir, sealed_ids, active_id, None)?;
    }
    let Some(log) = log else {
        return Err(Error::corruption(
            dir.join("MANIFEST"),
            0,
            "log scan without a checkpoint found it stale",
        ));
    };
    let Log {
        mut scan,
        sealed,
        mut active,
        active_len,
    } = log;
    // Reads of the recovered tail go through a map, as after any write;
    // without one they fall back to positioned reads.
    let _ = active.map_published(map_ahead);
    // A store without records is at its initial revision (1 for a store
    // created by format version 3, as etcd's; 0 for an older one).
    let current = scan
        .last_rev
        .max(manifest.compact_scheduled)
        .max(manifest.initial_revision);
    // The finished point; an unfinished one is applied by the rewrite that
    // open runs next. A checkpoint's index is compacted already.
    if manifest.compact_finished > 0 && !from_checkpoint {
        scan.keys.compact(manifest.compact_finished);
    }
    let mut leases = scan.leases;
    for (key, lease) in &scan.attached {
        leases.attach(key, 0, *lease);
    }
    let state = State {
        keys: scan.keys,
        revs: RevIndex::new(sealed, active),
        current,
        compacted: manifest.compact_scheduled,
    };
    let checkpoint = base_mark
        .filter(|m| from_checkpoint && checkpoint::mark_of(&state, &manifest).as_ref() == Some(m));
    if version < FORMAT_VERSION {
        // The store was written by an older build and has been read whole;
        // this build appends in its own format from now on, so the MANIFEST
        // says so before anything is appended, and an older build then
        // refuses the store instead of misreading it (format.md §11).
        write_manifest(dir, &manifest)?;
        log::info!(
            "revkv {}: MANIFEST upgraded from format version {version} to {FORMAT_VERSION}",
            dir.display()
        );
    }
    Ok(Recovered {
        state,
        leases,
        manifest,
        active_len,
        checkpoint,
    })
}

/// The log's segments, opened, and the index built from them.
struct Log {
    scan: Scan,
    sealed: Vec<Arc<SealedSegment>>,
    active: ActiveSegment,
    active_len: u64,
}

/// Opens every segment and builds the key index: from `base` and the frames
/// after it when a checkpoint is given, else from every frame. `Ok(None)`
/// when the log contradicts the checkpoint (then nothing was changed on
/// disk but rebuilt `.idx` files, and the caller scans everything).
///
/// With a checkpoint, the segments before its last one are not decoded:
/// their frames' checksums are checked and matched against their `.idx`
/// (which is rebuilt from the frames if it does not match), which is what
/// a full scan checks too, minus decoding records.
fn scan_log(
    dir: &Path,
    sealed_ids: &[u64],
    active_id: u64,
    base: Option<Checkpoint>,
) -> Result<Option<Log>> {
    let (mut scan, covered, end) = match base {
        Some(b) => {
            let scan = Scan {
                keys: b.keys,
                last_rev: b.mark.revision,
                leases: b.leases,
                attached: b.attached,
                base_rev: b.mark.revision,
                stale: false,
            };
            (scan, b.mark.segments.len(), b.mark.end)
        }
        None => (Scan::default(), 0, 0),
    };
    // Where applying frames to the index starts in segment `i`.
    let apply_from = |i: usize| match (i + 1).cmp(&covered) {
        std::cmp::Ordering::Less => NEVER,
        std::cmp::Ordering::Equal => end,
        std::cmp::Ordering::Greater => 0,
    };
    let mut sealed = Vec::with_capacity(sealed_ids.len());
    for (i, &id) in sealed_ids.iter().enumerate() {
        let Some(seg) = recover_sealed(dir, id, &mut scan, apply_from(i))? else {
            return Ok(None);
        };
        sealed.push(Arc::new(seg));
    }
    let (active, active_len) =
        recover_active(dir, active_id, &mut scan, apply_from(sealed_ids.len()))?;
    if scan.stale {
        return Ok(None);
    }
    Ok(Some(Log {
        scan,
        sealed,
        active,
        active_len,
    }))
}

/// `apply_from` for a segment wholly covered by the checkpoint.
const NEVER: u64 = u64::MAX;

/// A new store: segment 1, then the MANIFEST that names it. Refuses a
/// directory that holds segment data but no MANIFEST.
fn init_store(dir: &Path) -> Result<Manifest> {
    for entry in list(dir)? {
        if let FileKind::Segment(_) = classify(&entry.0) {
            if entry.1 > SEGMENT_HEADER_LEN as u64 {
                return Err(Error::corruption(
                    dir.join(&entry.0),
                    0,
                    "segment with data but no MANIFEST in the directory",
                ));
            }
        }
    }
    remove_orphans(dir, &Manifest::default())?;
    ActiveSegment::create(dir, 1)?;
    // Revision 1 is the new store itself, as in etcd: its first write is 2.
    let manifest = Manifest {
        segments: vec![1],
        next_segment_id: 2,
        compact_scheduled: 0,
        compact_finished: 0,
        initial_revision: 1,
    };
    write_manifest(dir, &manifest)?;
    Ok(manifest)
}

/// (file name, length) of every file in `dir`.
fn list(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io_at("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io_at("list", dir, e))?;
        let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.push((entry.file_name().to_string_lossy().into_owned(), len));
    }
    Ok(out)
}

/// Removes what an interrupted install or roll left behind: temp files,
/// segments the MANIFEST does not name, and indexes of segments that are not
/// sealed.
fn remove_orphans(dir: &Path, manifest: &Manifest) -> Result<()> {
    let sealed = manifest.segments.split_last().map_or(&[][..], |(_, s)| s);
    let mut removed = false;
    for (name, _) in list(dir)? {
        let orphan = match classify(&name) {
            FileKind::Temp => true,
            FileKind::Segment(id) => !manifest.segments.contains(&id),
            FileKind::Index(id) => !sealed.contains(&id),
            FileKind::Other => false,
        };
        if orphan {
            let path = dir.join(&name);
            fs::remove_file(&path).map_err(|e| Error::io_at("remove", &path, e))?;
            log::info!(
                "revkv {}: removed {name}, left behind by an interrupted install, roll, \
                 compaction or store creation",
                dir.display()
            );
            removed = true;
        }
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Scans the frames of one segment's bytes, feeding the key index with
/// those at or after offset `apply_from` (the ones before it are reflected
/// in the checkpoint the scan started from). Returns the index entries and
/// the offset where valid frames end; `Err` for damage that is not a torn
/// tail (anything in a sealed segment). Sets `scan.stale` and stops when the
/// frames contradict the checkpoint.
fn scan_segment(
    path: &Path,
    id: u64,
    bytes: &[u8],
    active: bool,
    apply_from: u64,
    scan: &mut Scan,
) -> Result<(Vec<IdxEntry>, u64)> {
    let header_id = decode_segment_header(bytes).map_err(|e| decode_error(path, 0, e))?;
    if header_id != id {
        return Err(Error::corruption(
            path,
            16,
            "segment header names another segment",
        ));
    }
    let mut entries = Vec::new();
    // Where the valid frames walked so far end.
    let mut end = SEGMENT_HEADER_LEN;
    // The newest revision among frames before `apply_from`.
    let mut covered_rev = 0;
    for found in Frames::new(bytes, SEGMENT_HEADER_LEN) {
        let FrameAt {
            offset: pos,
            len,
            frame,
            ..
        } = match found {
            Ok(f) => f,
            Err(FrameError { offset: pos, error }) => {
                if active && !valid_frame_after(bytes, pos + 1, scan.last_rev) {
                    break;
                }
                return Err(frame_error(path, pos as u64, error));
            }
        };
        let at = |e| frame_error(path, pos as u64, e);
        let apply = pos as u64 >= apply_from;
        if !apply && (pos + len) as u64 > apply_from {
            // The checkpoint's end falls inside this frame.
            scan.stale = true;
            return Ok((entries, pos as u64));
        }
        if let Some(kind) = frame.kind.lease_kind() {
            if apply {
                let payload = frame.payload().map_err(at)?;
                scan.leases
                    .apply(&decode_lease(kind, &payload).map_err(at)?);
            }
        } else if !apply {
            let rev = txn_revision(&frame.payload().map_err(at)?).map_err(at)?;
            if rev <= covered_rev {
                return Err(Error::corruption(
                    path,
                    pos as u64,
                    format!("revision {rev} does not follow {covered_rev}"),
                ));
            }
            if rev > scan.last_rev {
                scan.stale = true;
                return Ok((entries, pos as u64));
            }
            covered_rev = rev;
            entries.push(IdxEntry {
                revision: rev,
                offset: pos as u64,
                len: indexed_len(len),
            });
        } else {
            let payload = frame.payload().map_err(at)?;
            let (rev, ops) = decode_txn(&payload).map_err(at)?;
            if rev <= scan.last_rev {
                if rev <= scan.base_rev {
                    scan.stale = true;
                    return Ok((entries, pos as u64));
                }
                return Err(Error::corruption(
                    path,
                    pos as u64,
                    format!("revision {rev} does not follow {}", scan.last_rev),
                ));
            }
            for op in &ops {
                let key_rev = KeyRev {
                    main: rev,
                    sub: op.sub,
                    tombstone: op.kind == OpKind::Delete,
                };
                scan.keys.push(op.key, key_rev);
                if op.lease != 0 {
                    scan.attached.insert(op.key.to_vec(), op.lease);
                } else if !scan.attached.is_empty() {
                    scan.attached.remove(op.key);
                }
            }
            scan.last_rev = rev;
            entries.push(IdxEntry {
                revision: rev,
                offset: pos as u64,
                len: indexed_len(len),
            });
        }
        end = pos + len;
    }
    if apply_from != NEVER && (end as u64) < apply_from {
        // Frames the checkpoint covers are missing.
        scan.stale = true;
    }
    Ok((entries, end as u64))
}

/// Checks the frames of a sealed segment the checkpoint covers without
/// decoding them: every checksum, and that the `.idx` lists exactly its
/// transaction frames. `Ok(false)` when the `.idx` does not match.
fn frames_match_index(seg: &SealedSegment) -> Result<bool> {
    // A map of its own, dropped at the end: pages touched through the
    // segment's long-lived map would stay in the process's resident set.
    let bytes = map_file(&seg.path)?;
    let bytes = &bytes[..];
    let header_id = decode_segment_header(bytes).map_err(|e| decode_error(&seg.path, 0, e))?;
    if header_id != seg.id {
        return Err(Error::corruption(
            &seg.path,
            16,
            "segment header names another segment",
        ));
    }
    let (mut i, mut prev_rev) = (0, 0);
    for found in Frames::new(bytes, SEGMENT_HEADER_LEN) {
        let FrameAt {
            offset: pos,
            len,
            frame,
            ..
        } = found.map_err(|e| frame_error(&seg.path, e.offset as u64, e.error))?;
        if frame.kind.lease_kind().is_none() {
            let Ok(e) = seg.entry(i) else {
                return Ok(false);
            };
            let same_place = e.offset == pos as u64 && e.len as usize == len;
            // An uncompressed frame's revision is cheap to check as well.
            let same_rev =
                frame.compressed || txn_revision(frame.stored).is_ok_and(|rev| rev == e.revision);
            if !same_place || !same_rev || e.revision <= prev_rev || i >= seg.count() {
                return Ok(false);
            }
            prev_rev = e.revision;
            i += 1;
        }
    }
    Ok(i == seg.count())
}

/// True when a complete, checksummed transaction frame with a revision
/// newer than `last_rev` starts at or after `from`: then the damage before
/// it is not a torn tail but corruption in the middle, which must not be
/// truncated away. Requiring a newer revision keeps bytes that merely look
/// like a frame (stale data past the end, or a frame stored inside a torn
/// value) from counting, short of one crafted to carry a future revision.
fn valid_frame_after(bytes: &[u8], from: usize, last_rev: u64) -> bool {
    let last = bytes.len().saturating_sub(FRAME_HEADER_LEN);
    (from..=last).any(|p| {
        let Some(at @ [_, _, _, _, _, _, _, _, kind, flags, ..]) = bytes.get(p..) else {
            return false;
        };
        *kind == FrameKind::Txn.to_byte()
            && flags & !FLAG_ZSTD == 0
            && decode_frame(at).is_ok_and(|(frame, _)| {
                frame
                    .payload()
                    .ok()
                    .and_then(|p| txn_revision(&p).ok())
                    .is_some_and(|rev| rev > last_rev)
            })
    })
}

/// Opens a sealed segment, scanning it (or, when the checkpoint covers it
/// whole, only checking its frames against its `.idx`); `None` when it
/// contradicts the checkpoint.
fn recover_sealed(
    dir: &Path,
    id: u64,
    scan: &mut Scan,
    apply_from: u64,
) -> Result<Option<SealedSegment>> {
    if apply_from == NEVER {
        if let Ok(seg) = SealedSegment::open(dir, id) {
            if frames_match_index(&seg)? {
                return Ok(Some(seg));
            }
        }
    }
    let path = segment_path(dir, id);
    let entries = {
        let bytes = map_file(&path)?;
        let (entries, end) = scan_segment(&path, id, &bytes, false, apply_from, scan)?;
        if scan.stale {
            return Ok(None);
        }
        debug_assert_eq!(end, bytes.len() as u64);
        entries
    };
    // The .idx is derived data: if it is missing or disagrees with the
    // segment, write it again from the scan.
    if let Ok(seg) = SealedSegment::open(dir, id) {
        let same = seg.count() == entries.len()
            && entries
                .iter()
                .enumerate()
                .all(|(i, e)| seg.entry(i).is_ok_and(|x| x == *e));
        if same {
            return Ok(Some(seg));
        }
    }
    write_index(dir, id, &entries)?;
    log::warn!(
        "revkv {}: the index of segment {} was missing or did not match its frames; rebuilt",
        dir.display(),
        path.display()
    );
    SealedSegment::open(dir, id).map(Some)
}

fn recover_active(
    dir: &Path,
    id: u64,
    scan: &mut Scan,
    apply_from: u64,
) -> Result<(ActiveSegment, u64)> {
    let path = segment_path(dir, id);
    let (entries, end, file_len, torn_data) = {
        let bytes = map_file(&path)?;
        let (entries, end) = scan_segment(&path, id, &bytes, true, apply_from, scan)?;
        // Zeros past the last frame are only space allocated ahead of the
        // appends; anything else is a write the crash tore.
        let torn_data = usize::try_from(end)
            .ok()
            .and_then(|end| bytes.get(end..))
            .is_some_and(|tail| tail.iter().any(|&b| b != 0));
        (entries, end, bytes.len() as u64, torn_data)
    };
    let active = ActiveSegment::open(dir, id, entries, end)?;
    if end < file_len && !scan.stale {
        active
            .file
            .set_len(end)
            .map_err(|e| Error::io_at("truncate the torn tail of", &path, e))?;
        active
            .file
            .sync_all()
            .map_err(|e| Error::io_at("fsync after truncating the torn tail of", &path, e))?;
        if torn_data {
            log::warn!(
                "revkv {}: torn tail truncated: {} bytes of an incomplete or damaged write \
                 after the last whole frame (offset {end}) of {}",
                dir.display(),
                file_len - end,
                path.display()
            );
        } else {
            log::info!(
                "revkv {}: {} bytes of preallocated space cut after the last frame \
                 (offset {end}) of {}",
                dir.display(),
                file_len - end,
                path.display()
            );
        }
    }
    Ok((active, end))
}
