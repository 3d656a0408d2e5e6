//! The key-index checkpoint file (`KEYINDEX`, format.md §8a): written at a
//! clean close and after a compaction, read by recovery so that open costs
//! the un-indexed tail of the log rather than the whole log. This is its
//! file I/O and what it reflects ([`Mark`]); encoding a checkpoint of the
//! published state and decoding one into a key index is
//! `engine/checkpoint.rs`.

use super::files::{install_atomically, sync_dir};
use super::segment::map_file;
use crate::error::{Error, Result};
use memmap2::Mmap;
use std::path::Path;

/// Name of the checkpoint file.
pub(crate) const KEYINDEX: &str = "KEYINDEX";

/// What a checkpoint reflects: two checkpoints with equal marks hold the
/// same bytes (every change to the key index or the lease table appends a
/// frame, which moves `end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) segments: Vec<u64>,
    pub(crate) end: u64,
    pub(crate) revision: u64,
    pub(crate) scheduled: u64,
    pub(crate) finished: u64,
}

/// Writes a checkpoint, replacing the old one atomically.
pub(crate) fn write(dir: &Path, bytes: &[u8]) -> Result<()> {
    install_atomically(dir, &dir.join(KEYINDEX), bytes)
}

/// Deletes the checkpoint (durably), if there is one.
pub(crate) fn remove(dir: &Path) -> Result<()> {
    let path = dir.join(KEYINDEX);
    match std::fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io_at("remove", &path, e)),
    }
}

/// The checkpoint file's bytes, mapped; `None` when there is none.
pub(crate) fn map(dir: &Path) -> Result<Option<Mmap>> {
    match map_file(&dir.join(KEYINDEX)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}
