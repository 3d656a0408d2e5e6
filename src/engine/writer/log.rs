//! The active segment as the writer appends to it: one write per group,
//! fdatasync per the sync policy, allocation ahead of the appends, the cut
//! back to the last frame, and the roll that seals it and starts the next.

use crate::engine::core::Shared;
use crate::error::{Error, Result};
use crate::options::SyncPolicy;
use crate::storage::segment::{write_index, ActiveSegment, SealedSegment, FIRST_FRAME_OFFSET};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far ahead of its appends the active segment is allocated (and its
/// length set). An fdatasync after an append that grows the file must also
/// write the new length; inside allocated space it writes only the data.
/// Measured on the VM of benches/compare/RESULTS.md (245-byte appends, median
/// of 600): ~240 µs growing the file, ~165 µs inside allocated space.
const PREALLOCATE: u64 = 1 << 20;

/// The writer's end of the active segment.
pub(super) struct ActiveLog {
    file: Arc<File>,
    /// The active segment's path, for errors.
    path: PathBuf,
    /// Bytes of the active segment written so far.
    pub(super) active_len: u64,
    /// Length of the active segment file: allocated ahead of `active_len`
    /// ([`PREALLOCATE`]); the bytes between are zeros, which recovery treats
    /// as a torn tail. `u64::MAX` when allocation failed for this segment.
    allocated: u64,
    /// Bytes written but not yet synced.
    pub(super) dirty: bool,
    pub(super) last_sync: Instant,
    /// How long the last fdatasync took.
    pub(super) sync_time: Duration,
}

impl ActiveLog {
    /// The active segment `file` at `path`, holding `active_len` bytes of
    /// frames.
    pub(super) fn new(file: Arc<File>, path: PathBuf, active_len: u64) -> ActiveLog {
        ActiveLog {
            file,
            path,
            active_len,
            allocated: active_len,
            dirty: false,
            last_sync: Instant::now(),
            sync_time: Duration::ZERO,
        }
    }

    /// Appends `bytes` (a group's frames) with one write and syncs per the
    /// policy; returns the offset they start at.
    pub(super) fn append(&mut self, shared: &Shared, bytes: &[u8]) -> Result<u64> {
        let base = self.active_len;
        let end = base + bytes.len() as u64;
        if end > self.allocated {
            self.preallocate(shared, end);
        }
        let written = if crate::failpoint::fails("writer.append_enospc") {
            // ENOSPC, as a full disk reports it.
            Err(std::io::Error::from_raw_os_error(28))
        } else {
            self.file.write_all_at(bytes, base)
        };
        written.map_err(|e| Error::io_at("append to the active segment", &self.path, e))?;
        self.active_len += bytes.len() as u64;
        self.dirty = true;
        let due = match shared.options.sync {
            SyncPolicy::Always => true,
            SyncPolicy::Interval(d) => self.last_sync.elapsed() >= d,
            SyncPolicy::Never => false,
        };
        if due {
            self.sync(shared)?;
        }
        Ok(base)
    }

    /// Syncs the active segment's data (fdatasync).
    pub(super) fn sync(&mut self, shared: &Shared) -> Result<()> {
        let started = Instant::now();
        let synced = if crate::failpoint::fails("writer.fsync_eio") {
            // EIO, as a failing device reports it.
            Err(std::io::Error::from_raw_os_error(5))
        } else {
            self.file.sync_data()
        };
        synced.map_err(|e| Error::io_at("fdatasync of the active segment", &self.path, e))?;
        shared
            .data_syncs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dirty = false;
        self.last_sync = Instant::now();
        self.sync_time = self.last_sync - started;
        Ok(())
    }

    /// Allocates the active segment up to [`PREALLOCATE`] past `end`. On a
    /// file system that cannot, appends simply grow the file.
    fn preallocate(&mut self, shared: &Shared, end: u64) {
        let target = end + PREALLOCATE.min(shared.options.segment_size);
        self.allocated = match fs2::FileExt::allocate(&*self.file, target) {
            Ok(()) => target,
            Err(_) => u64::MAX,
        };
    }

    /// Cuts the active segment back to its last frame, durably (its new
    /// length included): before it is sealed, since a sealed segment ends
    /// at its last frame, and at close.
    pub(super) fn trim(&mut self) -> Result<()> {
        if self.allocated == self.active_len {
            return Ok(());
        }
        self.file
            .set_len(self.active_len)
            .map_err(|e| Error::io_at("cut to its last frame the active segment", &self.path, e))?;
        self.file.sync_all().map_err(|e| {
            Error::io_at(
                "fsync after cutting to its last frame the active segment",
                &self.path,
                e,
            )
        })?;
        self.allocated = self.active_len;
        self.dirty = false;
        Ok(())
    }

    /// A roll asked for by the compactor: refused on a poisoned store, and
    /// a no-op on an empty active segment; a failure poisons the store like
    /// any failed roll.
    pub(super) fn roll_on_request(&mut self, shared: &Shared) -> Result<()> {
        if let Some(cause) = shared.poisoned() {
            return Err(Error::Poisoned { cause });
        }
        if self.active_len <= FIRST_FRAME_OFFSET {
            return Ok(());
        }
        self.roll(shared).map_err(|e| Error::Poisoned {
            cause: shared.poison(e),
        })
    }

    /// Seals the active segment and starts the next: sync it, write its
    /// `.idx`, create the next segment durably, install a MANIFEST naming it,
    /// then swap the maps in. A crash at any step leaves a store that opens.
    pub(super) fn roll(&mut self, shared: &Shared) -> Result<()> {
        let dir = shared.dir.clone();
        // With no segment id left (only a crafted MANIFEST gets there), the
        // active segment simply keeps growing: nothing is lost by not rolling.
        let Ok(next_id) = shared.allocate_segment_id() else {
            return Ok(());
        };
        self.trim()?;
        if self.dirty {
            self.sync(shared)?;
        }
        let (id, entries) = {
            let state = shared.read_state();
            (state.revs.active.id, state.revs.active.entries.clone())
        };
        write_index(&dir, id, &entries)?;
        crate::failpoint::hit("roll.index_written");
        let next = ActiveSegment::create(&dir, next_id)?;
        crate::failpoint::hit("roll.segment_created");
        shared.update_manifest(|m| m.segments.push(next_id))?;
        let sealed = Arc::new(SealedSegment::open(&dir, id)?);
        self.file = Arc::clone(&next.file);
        self.path = next.path.clone();
        self.active_len = FIRST_FRAME_OFFSET;
        self.allocated = FIRST_FRAME_OFFSET;
        shared.write_state().revs.roll(sealed, next);
        Ok(())
    }
}
