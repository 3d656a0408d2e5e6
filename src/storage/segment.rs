//! Segment files: the sealed ones, read through memory maps together with
//! their `.idx`, and the active one, appended to by the writer and read with
//! positioned reads.

use super::files::{decode_error, idx_path, install_atomically, segment_path, sync_dir};
use crate::error::{Error, Result};
use crate::format::idx::{decode_idx_entry, decode_idx_header, encode_idx, IdxEntry};
use crate::format::segment::{encode_segment_header, SEGMENT_HEADER_LEN};
use memmap2::Mmap;
use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A number that no other segment handle of this process has, for caches of
/// what was read from a segment: compaction's replacement segments and the
/// next active segment after a roll get new ones, so a cache keyed by it
/// never serves bytes of a segment that is gone.
fn next_uid() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Maps a whole file read-only.
pub(crate) fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).map_err(|e| Error::io_at("open", path, e))?;
    // SAFETY: revkv never modifies a sealed segment or index file in place,
    // and the directory lock keeps other revkv processes out; a file changed
    // underneath by something else is outside what revkv can defend against.
    unsafe { Mmap::map(&file) }.map_err(|e| Error::io_at("map", path, e))
}

/// A sealed (immutable) segment and its revision index.
#[derive(Debug)]
pub(crate) struct SealedSegment {
    pub(crate) id: u64,
    /// Unique among the segment handles of this process (see [`next_uid`]).
    pub(crate) uid: u64,
    pub(crate) path: PathBuf,
    data: Mmap,
    idx_path: PathBuf,
    idx: Mmap,
    count: usize,
    first_rev: u64,
    last_rev: u64,
}

impl SealedSegment {
    /// Opens a sealed segment whose `.idx` exists; the index header is checked
    /// here, entries when they are read.
    pub(crate) fn open(dir: &Path, id: u64) -> Result<SealedSegment> {
        let path = segment_path(dir, id);
        let idx_path = idx_path(dir, id);
        let data = map_file(&path)?;
        let idx = map_file(&idx_path)?;
        let (idx_id, count) = decode_idx_header(&idx).map_err(|e| decode_error(&idx_path, 0, e))?;
        if idx_id != id {
            return Err(Error::corruption(
                &idx_path,
                16,
                "index names another segment",
            ));
        }
        let mut seg = SealedSegment {
            id,
            uid: next_uid(),
            path,
            data,
            idx_path,
            idx,
            count,
            first_rev: 0,
            last_rev: 0,
        };
        if count > 0 {
            seg.first_rev = seg.entry(0)?.revision;
            seg.last_rev = seg.entry(count - 1)?.revision;
        }
        Ok(seg)
    }

    /// The segment's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Number of transaction frames.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Revisions held, `None` when the segment has no transaction.
    pub(crate) fn revisions(&self) -> Option<(u64, u64)> {
        (self.count > 0).then_some((self.first_rev, self.last_rev))
    }

    /// Index entry `i`.
    pub(crate) fn entry(&self, i: usize) -> Result<IdxEntry> {
        decode_idx_entry(&self.idx, i).map_err(|e| decode_error(&self.idx_path, 0, e))
    }

    /// Position of the first entry with revision >= `rev`.
    pub(crate) fn lower_bound(&self, rev: u64) -> Result<usize> {
        if self.count == 0 || rev <= self.first_rev {
            return Ok(0);
        }
        if rev > self.last_rev {
            return Ok(self.count);
        }
        // Revisions strictly increase, so entry `i` holds at least
        // `first_rev + i`: the answer is at or before `guess`, and exactly
        // there when the segment's revisions have no gap (the usual case).
        let guess = usize::try_from(rev - self.first_rev)
            .unwrap_or(usize::MAX)
            .min(self.count - 1);
        let at_guess = self.entry(guess)?.revision;
        if at_guess == rev {
            return Ok(guess);
        }
        // (`at_guess < rev` only in a damaged index; search the rest then.)
        let (mut lo, mut hi) = if at_guess > rev {
            (0, guess)
        } else {
            (guess + 1, self.count)
        };
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.revision < rev {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The frame bytes an entry points to.
    pub(crate) fn frame(&self, e: &IdxEntry) -> Result<&[u8]> {
        usize::try_from(e.offset)
            .ok()
            .and_then(|start| self.data.get(start..start.checked_add(e.len as usize)?))
            .ok_or_else(|| {
                Error::corruption(&self.idx_path, 0, "index entry points past its segment")
            })
    }

    /// Bytes of the segment and its index on disk.
    pub(crate) fn disk_bytes(&self) -> u64 {
        (self.data.len() + self.idx.len()) as u64
    }
}

/// Writes the `.idx` of segment `id` atomically.
pub(crate) fn write_index(dir: &Path, id: u64, entries: &[IdxEntry]) -> Result<()> {
    install_atomically(dir, &idx_path(dir, id), &encode_idx(id, entries))
}

/// The segment being appended to. The writer owns appends; readers use
/// positioned reads through the shared file handle.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub(crate) id: u64,
    /// Unique among the segment handles of this process (see [`next_uid`]).
    pub(crate) uid: u64,
    pub(crate) path: PathBuf,
    pub(crate) file: Arc<File>,
    /// Index of the transaction frames written so far, in revision order.
    pub(crate) entries: Vec<IdxEntry>,
    /// Bytes of whole frames published to readers (the writer may have
    /// appended more that is not published yet).
    pub(crate) published_len: u64,
    /// A read-only map of the file, at least `published_len` long once the
    /// writer has called [`ActiveSegment::map_published`]. Appends go
    /// through `file`; Linux's page cache keeps the map coherent with them.
    map: Option<Mmap>,
}

impl ActiveSegment {
    /// Creates segment `id` with its header, durable (file and directory)
    /// before it returns, so that a MANIFEST may name it.
    pub(crate) fn create(dir: &Path, id: u64) -> Result<ActiveSegment> {
        let path = segment_path(dir, id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io_at("create", &path, e))?;
        file.write_all_at(&encode_segment_header(id), 0)
            .map_err(|e| Error::io_at("write header of", &path, e))?;
        file.sync_all()
            .map_err(|e| Error::io_at("fsync", &path, e))?;
        sync_dir(dir)?;
        Ok(ActiveSegment {
            id,
            uid: next_uid(),
            path,
            file: Arc::new(file),
            entries: Vec::new(),
            published_len: SEGMENT_HEADER_LEN as u64,
            map: None,
        })
    }

    /// Opens an existing segment for appending, with the entries recovery
    /// found in its first `len` bytes.
    pub(crate) fn open(
        dir: &Path,
        id: u64,
        entries: Vec<IdxEntry>,
        len: u64,
    ) -> Result<ActiveSegment> {
        let path = segment_path(dir, id);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io_at("open", &path, e))?;
        Ok(ActiveSegment {
            id,
            uid: next_uid(),
            path,
            file: Arc::new(file),
            entries,
            published_len: len,
            map: None,
        })
    }

    /// Position of the first entry with revision >= `rev`.
    pub(crate) fn lower_bound(&self, rev: u64) -> usize {
        let Some(first) = self.entries.first() else {
            return 0;
        };
        // As for sealed segments: the answer is at or before `guess`, and
        // exactly there when the revisions have no gap.
        let guess = usize::try_from(rev.saturating_sub(first.revision))
            .unwrap_or(usize::MAX)
            .min(self.entries.len() - 1);
        let below = |e: &IdxEntry| e.revision < rev;
        // (`guess` is below the length: the fallback is never taken.)
        let Some((before, [at_guess, after @ ..])) = self.entries.split_at_checked(guess) else {
            return self.entries.partition_point(below);
        };
        match at_guess.revision.cmp(&rev) {
            std::cmp::Ordering::Equal => guess,
            std::cmp::Ordering::Greater => before.partition_point(below),
            // `rev` is past the last entry.
            std::cmp::Ordering::Less => guess + 1 + after.partition_point(below),
        }
    }

    /// Makes sure the map covers every published byte, mapping ahead so
    /// that this happens rarely (a length past the end of the file is fine:
    /// only published bytes, which the file holds, are ever read).
    pub(crate) fn map_published(&mut self, ahead: u64) -> Result<()> {
        if self
            .map
            .as_ref()
            .is_some_and(|m| m.len() as u64 >= self.published_len)
        {
            return Ok(());
        }
        let len = self.published_len.max(ahead).next_power_of_two();
        // (Only a 32-bit target can fail this.)
        let len = usize::try_from(len).map_err(|_| {
            Error::io_at(
                "map",
                &self.path,
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    "longer than the address space",
                ),
            )
        })?;
        // SAFETY: while mapped, the file is only appended to, allocated
        // further, or cut back to its last frame (never below
        // `published_len`; the torn-tail truncation happens in recovery,
        // before any map exists), and readers only touch bytes below
        // `published_len`, which are written and never change; the directory lock keeps other revkv
        // processes out.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&*self.file) }
            .map_err(|e| Error::io_at("map", &self.path, e))?;
        self.map = Some(map);
        Ok(())
    }

    /// The frame an entry points to: borrowed from the map when it covers
    /// it, else read from the file.
    pub(crate) fn read_frame(&self, e: &IdxEntry) -> Result<Cow<'_, [u8]>> {
        let end = e.offset.saturating_add(u64::from(e.len));
        if end <= self.published_len {
            let range = usize::try_from(e.offset)
                .ok()
                .zip(usize::try_from(end).ok());
            if let Some(bytes) = self
                .map
                .as_ref()
                .zip(range)
                .and_then(|(m, (start, end))| m.get(start..end))
            {
                return Ok(Cow::Borrowed(bytes));
            }
        }
        let mut buf = vec![0u8; e.len as usize];
        self.file
            .read_exact_at(&mut buf, e.offset)
            .map_err(|err| Error::io_at("read", &self.path, err))?;
        Ok(Cow::Owned(buf))
    }
}

/// The first byte after a segment header.
pub(crate) const FIRST_FRAME_OFFSET: u64 = SEGMENT_HEADER_LEN as u64;

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(revs: &[u64]) -> Vec<IdxEntry> {
        revs.iter()
            .enumerate()
            .map(|(i, &revision)| IdxEntry {
                revision,
                offset: FIRST_FRAME_OFFSET + i as u64,
                len: 1,
            })
            .collect()
    }

    /// The probing lower bounds agree with a plain search, with and without
    /// gaps in the revisions.
    #[test]
    fn lower_bounds_match_a_plain_search() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (id, revs) in [
            vec![7],
            vec![3, 4, 5, 6, 7, 8],
            vec![3, 4, 5, 8, 9, 20],
            vec![1, 10, 11, 12, 30],
        ]
        .into_iter()
        .enumerate()
        {
            let id = id as u64 * 2 + 1;
            let es = entries(&revs);
            std::fs::write(segment_path(dir.path(), id), vec![0u8; 64]).expect("seg");
            write_index(dir.path(), id, &es).expect("idx");
            let sealed = SealedSegment::open(dir.path(), id).expect("open");
            let mut active = ActiveSegment::create(dir.path(), id + 1).expect("create");
            active.entries = es.clone();
            for rev in 0..35 {
                let want = es.partition_point(|e| e.revision < rev);
                assert_eq!(
                    sealed.lower_bound(rev).expect("sealed"),
                    want,
                    "{revs:?} {rev}"
                );
                assert_eq!(active.lower_bound(rev), want, "{revs:?} {rev}");
            }
        }
        let empty = ActiveSegment::create(dir.path(), 100).expect("create");
        assert_eq!(empty.lower_bound(5), 0);
    }
}
