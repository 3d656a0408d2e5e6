//! `verify`: re-reads every byte of an open store and reports each problem
//! with its file and offset: frame checksums and records, every `.idx` entry
//! against its segment, the MANIFEST against the files in the directory, and
//! each key's prev-revision chain (exactly one successor per write: the
//! property whose loss brought deleted objects back in incident 2).

use super::core::Shared;
use super::protocol::{on_writer_thread, Request};
use crate::error::Result;
use crate::format::frame::{indexed_len, FrameAt, FrameKind, Frames};
use crate::format::idx::IdxEntry;
use crate::format::lease::decode_lease;
use crate::format::manifest::Manifest;
use crate::format::record::decode_txn;
use crate::format::segment::{decode_segment_header, SEGMENT_HEADER_LEN};
use crate::storage::files::{classify, idx_path, segment_path, FileKind};
use crate::storage::segment::SealedSegment;
use crossbeam_channel::Sender;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file it is in.
    pub file: PathBuf,
    /// Byte offset in that file (0 when it concerns the whole file).
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// What [`Db::verify`](crate::Db::verify) checked and found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segment files read.
    pub segments: u64,
    /// Frames whose checksum and contents were checked.
    pub frames: u64,
    /// Transaction revisions read.
    pub revisions: u64,
    /// Distinct keys whose chains were followed.
    pub keys: u64,
    /// Bytes of segment data read.
    pub bytes: u64,
    /// Every problem found; empty for a sound store.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

struct Checker {
    report: VerifyReport,
    /// key -> revision of its newest record seen so far.
    chain: HashMap<Vec<u8>, u64>,
    compacted: u64,
    last_rev: u64,
}

impl Checker {
    fn problem(&mut self, file: &Path, offset: u64, what: impl Into<String>) {
        self.report.problems.push(Problem {
            file: file.to_path_buf(),
            offset,
            what: what.into(),
        });
    }

    /// Checks the frames of one segment; returns the transaction frames'
    /// index entries, `None` when a damaged frame stopped the scan (the rest
    /// of the segment cannot be framed).
    fn segment(&mut self, path: &Path, id: u64, bytes: &[u8]) -> Option<Vec<IdxEntry>> {
        let mut entries = Vec::new();
        match decode_segment_header(bytes) {
            Ok(h) if h == id => {}
            Ok(h) => self.problem(path, 16, format!("header names segment {h}")),
            Err(e) => {
                self.problem(path, 0, format!("bad segment header: {e}"));
                return None;
            }
        }
        for found in Frames::new(bytes, SEGMENT_HEADER_LEN) {
            let FrameAt {
                offset: pos,
                len,
                frame,
                ..
            } = match found {
                Ok(f) => f,
                Err(e) => {
                    self.problem(path, e.offset as u64, format!("bad frame: {}", e.error));
                    return None;
                }
            };
            self.report.frames += 1;
            let payload = match frame.payload() {
                Ok(p) => p,
                Err(e) => {
                    self.problem(path, pos as u64, format!("bad payload: {e}"));
                    continue;
                }
            };
            if let Some(kind) = frame.kind.lease_kind() {
                if let Err(e) = decode_lease(kind, &payload) {
                    self.problem(path, pos as u64, format!("bad lease record: {e}"));
                }
            } else if frame.kind == FrameKind::Txn {
                match decode_txn(&payload) {
                    Ok((rev, ops)) => {
                        if rev <= self.last_rev {
                            self.problem(
                                path,
                                pos as u64,
                                format!("revision {rev} does not follow {}", self.last_rev),
                            );
                        }
                        self.last_rev = self.last_rev.max(rev);
                        self.report.revisions += 1;
                        for op in &ops {
                            let expected = self.chain.insert(op.key.to_vec(), rev);
                            let ok = match expected {
                                // A write names the key's previous record;
                                // 0 when the writer no longer knew it, which
                                // only happens below the compaction point.
                                Some(prev) => {
                                    op.prev_mod_revision == prev
                                        || (op.prev_mod_revision == 0 && prev < self.compacted)
                                }
                                // The first surviving record of a key may
                                // point below the compaction point, nowhere else.
                                None => {
                                    op.prev_mod_revision == 0
                                        || op.prev_mod_revision < self.compacted
                                }
                            };
                            if !ok {
                                let what = format!(
                                    "key {:?} at revision {rev} names previous revision {} but its previous record is {}",
                                    String::from_utf8_lossy(op.key),
                                    op.prev_mod_revision,
                                    expected.map_or("absent".to_string(), |p| p.to_string()),
                                );
                                self.problem(path, pos as u64, what);
                            }
                        }
                        entries.push(IdxEntry {
                            revision: rev,
                            offset: pos as u64,
                            len: indexed_len(len),
                        });
                    }
                    Err(e) => self.problem(path, pos as u64, format!("bad record: {e}")),
                }
            }
        }
        Some(entries)
    }
}

/// What verify checks, taken at one moment.
struct Snapshot {
    manifest: Manifest,
    sealed: Vec<Arc<SealedSegment>>,
    active_id: u64,
    /// The active segment's file as it was at the snapshot: read through
    /// this handle, not its path, since once the snapshot is taken the
    /// writer may seal it and a compaction may rewrite and delete it.
    active_file: Arc<File>,
    active_end: u64,
    compacted: u64,
    names: Vec<String>,
}

fn snapshot(shared: &Shared) -> Snapshot {
    let manifest = shared.manifest();
    let state = shared.read_state();
    let names = std::fs::read_dir(&shared.dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    Snapshot {
        manifest,
        sealed: state.revs.sealed().to_vec(),
        active_id: state.revs.active.id,
        active_file: Arc::clone(&state.revs.active.file),
        active_end: state.revs.active.published_len,
        compacted: state.compacted,
        names,
    }
}

/// Verifies the store behind `shared`. `progress(done, total)` is called
/// with bytes of segment data as they are read.
///
/// The MANIFEST, the published state and the directory listing are taken
/// together: with no compaction rewrite running (its lock is held) and on the
/// writer thread between two groups (no segment roll under way), so that no
/// install in progress shows up as a mismatch.
pub(crate) fn verify(
    shared: &Arc<Shared>,
    writer: &Sender<Request>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport> {
    let snap = {
        let _no_rewrite = shared.rewrite_lock();
        on_writer_thread(shared, writer, |s| Ok(snapshot(s)))?
    };
    let Snapshot {
        manifest,
        sealed,
        active_id,
        active_file,
        active_end,
        compacted,
        names,
    } = snap;
    let dir = shared.dir.clone();
    let mut c = Checker {
        report: VerifyReport::default(),
        chain: HashMap::new(),
        compacted,
        last_rev: 0,
    };
    // The MANIFEST against the directory.
    let listed: Vec<u64> = sealed.iter().map(|s| s.id).chain([active_id]).collect();
    if listed != manifest.segments {
        c.problem(
            &dir.join("MANIFEST"),
            40,
            format!(
                "MANIFEST lists {:?}, the open store uses {listed:?}",
                manifest.segments
            ),
        );
    }
    for name in names {
        let stray = match classify(&name) {
            FileKind::Segment(id) => !listed.contains(&id),
            // Sealed segments have an index; the last listed is the active one.
            FileKind::Index(id) => !listed
                .split_last()
                .is_some_and(|(_, sealed)| sealed.contains(&id)),
            _ => false,
        };
        if stray {
            c.problem(&dir.join(&name), 0, "file not named by the MANIFEST");
        }
    }
    let total: u64 = sealed.iter().map(|s| s.bytes().len() as u64).sum::<u64>() + active_end;
    let mut done = 0;
    for seg in &sealed {
        let scanned = c.segment(&seg.path, seg.id, seg.bytes());
        c.report.segments += 1;
        done += seg.bytes().len() as u64;
        progress(done, total);
        let Some(entries) = scanned else {
            continue;
        };
        let idx = idx_path(&dir, seg.id);
        if seg.count() != entries.len() {
            c.problem(
                &idx,
                12,
                format!(
                    "index has {} entries, segment {} frames",
                    seg.count(),
                    entries.len()
                ),
            );
        }
        for (i, e) in entries.iter().enumerate().take(seg.count()) {
            match seg.entry(i) {
                Ok(x) if x == *e => {}
                Ok(x) => c.problem(
                    &idx,
                    32 + 24 * i as u64,
                    format!("entry {x:?}, segment has {e:?}"),
                ),
                Err(err) => c.problem(&idx, 32 + 24 * i as u64, err.to_string()),
            }
        }
    }
    let path = segment_path(&dir, active_id);
    match read_published(&active_file, active_end) {
        Ok(bytes) => {
            c.segment(&path, active_id, &bytes);
            c.report.segments += 1;
        }
        Err(e) => c.problem(&path, 0, format!("read: {e}")),
    }
    progress(total, total);
    c.report.keys = c.chain.len() as u64;
    c.report.bytes = total;
    Ok(c.report)
}

/// The first `len` bytes of the active segment (its published frames), read
/// with positioned reads from a handle that stays valid if the file is
/// sealed, compacted and deleted meanwhile.
fn read_published(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let len = usize::try_from(len)
        .map_err(|_| std::io::Error::other("published length does not fit in memory"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}
