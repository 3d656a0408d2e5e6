//! The revision index: main revision -> the frame that holds it, across the
//! sealed segments (memory-mapped `.idx`) and the active one (in memory).

use super::files::frame_error;
use super::segment::{ActiveSegment, SealedSegment};
use crate::error::{Error, Result};
use crate::format::frame::{decode_frame_trusted, Frame, FrameKind, FRAME_HEADER_LEN};
use crate::format::idx::IdxEntry;
use crate::format::prefetch;
use crate::format::record::{prefetch_op, table_slot};
use crate::format::DecodeError;
use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

/// A transaction frame found through the index: its bytes, the file that
/// holds them, their offset in it, and the uid of the segment handle they
/// were read through.
pub(crate) struct Located<'a> {
    bytes: Cow<'a, [u8]>,
    path: &'a Path,
    offset: u64,
    uid: u64,
}

impl Located<'_> {
    /// Starts loading, without waiting, the cache lines that reading op
    /// `sub` of this frame touches first: the frame and record headers and
    /// the op-table slot where a transaction of one op per sub keeps it.
    pub(crate) fn prefetch_table(&self, sub: u32) {
        prefetch(&self.bytes, 0, FRAME_HEADER_LEN);
        let slot = FRAME_HEADER_LEN + table_slot(sub);
        prefetch(&self.bytes, slot, slot + 8);
    }

    /// Starts loading op `sub` itself (its fixed fields, key and value),
    /// found through the op table: pays once [`Located::prefetch_table`]'s
    /// lines have arrived, so that the op's misses overlap each other (and,
    /// over a batch, other ops' misses). A hint: a damaged or compressed
    /// frame is simply not prefetched.
    pub(crate) fn prefetch_op(&self, sub: u32) {
        if let Ok((frame, _)) = decode_frame_trusted(&self.bytes) {
            if frame.kind == FrameKind::Txn && !frame.compressed {
                prefetch_op(frame.stored, sub);
            }
        }
    }

    /// Calls `f` with the (decompressed) transaction payload of this frame.
    pub(crate) fn with_payload<R>(
        &self,
        f: impl FnOnce(&[u8]) -> std::result::Result<R, crate::format::DecodeError>,
    ) -> Result<R> {
        let (path, offset) = (self.path, self.offset);
        let frame = txn_frame(&self.bytes, path, offset)?;
        let result = if frame.compressed {
            let payload = cached_payload(self.uid, offset, &frame)
                .map_err(|e| frame_error(path, offset, e))?;
            f(&payload)
        } else {
            f(frame.stored)
        };
        result.map_err(|e| frame_error(path, offset, e))
    }
}

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

    /// The stored frame of revision `rev`, found without touching its bytes
    /// (except in the active segment's rare unmapped case, read here).
    pub(crate) fn locate(&self, rev: u64) -> Result<Option<Located<'_>>> {
        let i = self.sealed_last.partition_point(|&last| last < rev);
        if let Some(seg) = self.sealed.get(i) {
            let pos = seg.lower_bound(rev)?;
            if pos < seg.count() {
                let e = seg.entry(pos)?;
                if e.revision == rev {
                    return Ok(Some(Located {
                        bytes: Cow::Borrowed(seg.frame(&e)?),
                        path: &seg.path,
                        offset: e.offset,
                        uid: seg.uid,
                    }));
                }
            }
            return Ok(None);
        }
        let pos = self.active.lower_bound(rev);
        match self.active.entries.get(pos) {
            Some(e) if e.revision == rev => Ok(Some(Located {
                bytes: self.active.read_frame(e)?,
                path: &self.active.path,
                offset: e.offset,
                uid: self.active.uid,
            })),
            _ => Ok(None),
        }
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
        for seg in self.sealed.get(first..).unwrap_or_default() {
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
        let active = &self.active.entries;
        for e in active
            .get(self.active.lower_bound(from)..)
            .unwrap_or_default()
        {
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
        // The active segment up to its last published frame: the writer
        // allocates it ahead of its appends.
        self.sealed.iter().map(|s| s.disk_bytes()).sum::<u64>() + self.active.published_len
    }

    /// Number of segment files.
    pub(crate) fn segment_count(&self) -> usize {
        self.sealed.len() + 1
    }
}

/// Decodes the header of a transaction frame found through the index.
#[inline]
fn txn_frame<'a>(bytes: &'a [u8], path: &Path, offset: u64) -> Result<Frame<'a>> {
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
    Ok(frame)
}

/// Decodes a transaction frame found through the index and its payload.
fn txn_payload<'a>(bytes: &'a [u8], path: &Path, offset: u64) -> Result<Cow<'a, [u8]>> {
    txn_frame(bytes, path, offset)?
        .payload()
        .map_err(|e| frame_error(path, offset, e))
}

/// Decompressed payloads kept per thread. A frame of many writes is
/// compressed as a whole, so reading one of its ops decompresses all of
/// them; the keys of a range, or gets of neighbouring keys, written by the
/// same transaction then decompress it once instead of once per key.
const CACHED_PAYLOADS: usize = 4;

/// Larger payloads are not kept (the cache stays a few MiB per thread).
const MAX_CACHED_PAYLOAD: usize = 2 << 20;

/// A decompressed payload, keyed by the uid of the segment handle it was
/// read through (never reused, so compaction and rolls cannot alias it) and
/// the frame's offset in that segment.
struct CachedPayload {
    uid: u64,
    offset: u64,
    payload: Rc<Vec<u8>>,
}

thread_local! {
    /// Most recently used first.
    static PAYLOADS: RefCell<Vec<CachedPayload>> = const { RefCell::new(Vec::new()) };
}

/// The decompressed payload of compressed `frame`, at `offset` of the
/// segment handle `uid`, from this thread's cache or decompressed (and
/// then cached).
fn cached_payload(
    uid: u64,
    offset: u64,
    frame: &Frame<'_>,
) -> std::result::Result<Rc<Vec<u8>>, DecodeError> {
    let hit = PAYLOADS.with(|cell| {
        let mut cache = cell.try_borrow_mut().ok()?;
        let i = cache
            .iter()
            .position(|c| c.uid == uid && c.offset == offset)?;
        let entry = cache.remove(i);
        let payload = Rc::clone(&entry.payload);
        cache.insert(0, entry);
        Some(payload)
    });
    if let Some(payload) = hit {
        return Ok(payload);
    }
    let payload = Rc::new(frame.payload()?.into_owned());
    if payload.len() <= MAX_CACHED_PAYLOAD {
        PAYLOADS.with(|cell| {
            if let Ok(mut cache) = cell.try_borrow_mut() {
                cache.truncate(CACHED_PAYLOADS - 1);
                cache.insert(
                    0,
                    CachedPayload {
                        uid,
                        offset,
                        payload: Rc::clone(&payload),
                    },
                );
            }
        });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::frame::{encode_frame, FrameKind};
    use crate::{Compression, Db, KeyRange, Op, Options, RangeRequest, SyncPolicy, Txn};

    fn compressed_frame(payload: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_frame(FrameKind::Txn, payload, Some(1), &mut buf);
        buf
    }

    #[test]
    fn payload_cache_is_keyed_by_segment_handle_and_offset() {
        let (a, b) = (vec![b'a'; 5000], vec![b'b'; 5000]);
        let (fa, fb) = (compressed_frame(&a), compressed_frame(&b));
        let frame = |buf| decode_frame_trusted(buf).expect("frame").0;
        let first = cached_payload(u64::MAX, 32, &frame(&fa)).expect("a");
        assert!(frame(&fa).compressed);
        assert_eq!(*first, a);
        // Same handle and offset: the cached copy.
        let again = cached_payload(u64::MAX, 32, &frame(&fa)).expect("a again");
        assert!(Rc::ptr_eq(&first, &again));
        // Same offset in another segment handle (a compaction output, the
        // next active segment): its own bytes.
        let other = cached_payload(u64::MAX - 1, 32, &frame(&fb)).expect("b");
        assert_eq!(*other, b);
        // Older entries fall out once the cache is full.
        for i in 0..CACHED_PAYLOADS as u64 {
            cached_payload(u64::MAX - 2, i, &frame(&fb)).expect("fill");
        }
        let fresh = cached_payload(u64::MAX, 32, &frame(&fa)).expect("a, re-read");
        assert!(!Rc::ptr_eq(&first, &fresh));
        assert_eq!(*fresh, a);
    }

    fn value(i: usize, generation: u32) -> Vec<u8> {
        let h = (i as u64 ^ u64::from(generation) << 32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut v = format!("{h:016x}{:016x}", h.rotate_left(29).wrapping_mul(3)).into_bytes();
        v.extend(
            format!("value {i:04} of generation {generation}; ")
                .repeat(8)
                .bytes(),
        );
        v
    }

    fn load(db: &Db, generation: u32) {
        let ops = (0..200).map(|i| Op::put(format!("key{i:04}"), value(i, generation)));
        db.txn(Txn::new().and_then(ops)).expect("txn");
    }

    fn check(db: &Db, generation: u32) {
        check_split(db, generation, generation);
    }

    /// Keys below 100 hold generation `low`, the others `high`.
    fn check_split(db: &Db, low: u32, high: u32) {
        let generation = |i: usize| if i < 100 { low } else { high };
        let resp = db.range(RangeRequest::new(KeyRange::all())).expect("range");
        assert_eq!(resp.kvs.len(), 200);
        for (i, kv) in resp.kvs.iter().enumerate() {
            assert_eq!(kv.key, format!("key{i:04}").into_bytes());
            assert_eq!(kv.value, value(i, generation(i)), "key {i}");
        }
        for i in (0..200).rev().step_by(7) {
            let kv = db.get(format!("key{i:04}")).expect("get").expect("present");
            assert_eq!(kv.value, value(i, generation(i)), "key {i}");
        }
    }

    /// Reads through the payload cache stay right when the active segment
    /// rolls and when compaction replaces the sealed segments (whose
    /// replacements can hold other frames at the same offsets).
    #[test]
    fn cached_payloads_follow_rolls_and_compaction() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = Options::new()
            .sync(SyncPolicy::Never)
            .segment_size(4096)
            .compression(Compression::Zstd {
                threshold: 0,
                level: 1,
            });
        let db = Db::open(dir.path(), options).expect("open");
        for generation in 1..=6 {
            load(&db, generation);
            check(&db, generation);
        }
        let segments = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
            let mut v: Vec<_> = std::fs::read_dir(dir)
                .expect("read_dir")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "seg"))
                .collect();
            v.sort();
            v
        };
        let old = segments(dir.path());
        assert!(old.len() > 2, "the test needs rolls: {old:?}");
        let first = std::fs::read(&old[0]).expect("read segment");
        let at = crate::format::segment::SEGMENT_HEADER_LEN;
        let (frame, _) = decode_frame_trusted(&first[at..]).expect("first frame");
        assert!(frame.compressed, "the test needs compressed frames");
        // Half of generation 6 overwritten: its frame is half garbage, so
        // compaction rewrites it into a new segment at other offsets.
        let ops = (0..100).map(|i| Op::put(format!("key{i:04}"), value(i, 7)));
        db.txn(Txn::new().and_then(ops)).expect("txn");
        check_split(&db, 7, 6);
        db.compact_physical(db.current_revision()).expect("compact");
        let new = segments(dir.path());
        assert!(
            new.iter().any(|p| !old.contains(p)),
            "compaction wrote new segments: {old:?} -> {new:?}"
        );
        check_split(&db, 7, 6);
        load(&db, 7);
        check(&db, 7);
        db.close().expect("close");
    }
}
