//! The record frame: the unit of appending, checksumming and recovery.
//!
//! ```text
//! +0  u32  payload length in bytes (as stored, after any compression)
//! +4  u32  CRC32 (IEEE) of bytes +8 .. +10+length
//! +8  u8   kind: 1 = transaction, 2 = lease grant, 3 = lease revoke,
//!          4 = lease keep-alive
//! +9  u8   flags: bit 0 = payload is zstd-compressed; other bits 0
//! +10      payload
//! ```
//! A compressed payload is `u32 uncompressed length` then one zstd frame.

use super::{DecodeError, Reader, MAX_PAYLOAD};
use std::borrow::Cow;

/// Bytes before a frame's payload.
pub const FRAME_HEADER_LEN: usize = 10;

/// Flag bit: the payload is zstd-compressed.
pub const FLAG_ZSTD: u8 = 1;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// One write transaction: one store revision.
    Txn,
    /// A lease was granted.
    LeaseGrant,
    /// A lease was revoked (its keys are deleted by a separate transaction).
    LeaseRevoke,
    /// A lease was kept alive.
    LeaseKeepAlive,
}

impl FrameKind {
    /// The lease record kind of a lease frame, `None` for a transaction.
    pub fn lease_kind(self) -> Option<crate::format::lease::LeaseKind> {
        use crate::format::lease::LeaseKind;
        match self {
            FrameKind::Txn => None,
            FrameKind::LeaseGrant => Some(LeaseKind::Grant),
            FrameKind::LeaseRevoke => Some(LeaseKind::Revoke),
            FrameKind::LeaseKeepAlive => Some(LeaseKind::KeepAlive),
        }
    }

    /// The frame kind that holds a lease record.
    pub fn of_lease(rec: &crate::format::lease::LeaseRecord) -> FrameKind {
        use crate::format::lease::LeaseRecord;
        match rec {
            LeaseRecord::Grant { .. } => FrameKind::LeaseGrant,
            LeaseRecord::KeepAlive { .. } => FrameKind::LeaseKeepAlive,
            LeaseRecord::Revoke { .. } => FrameKind::LeaseRevoke,
        }
    }

    /// The byte stored for this kind.
    pub fn to_byte(self) -> u8 {
        match self {
            FrameKind::Txn => 1,
            FrameKind::LeaseGrant => 2,
            FrameKind::LeaseRevoke => 3,
            FrameKind::LeaseKeepAlive => 4,
        }
    }

    /// The kind a stored byte names, if any.
    pub fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Txn),
            2 => Some(FrameKind::LeaseGrant),
            3 => Some(FrameKind::LeaseRevoke),
            4 => Some(FrameKind::LeaseKeepAlive),
            _ => None,
        }
    }
}

/// A decoded frame whose checksum has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the payload holds.
    pub kind: FrameKind,
    /// Whether `stored` is compressed.
    pub compressed: bool,
    /// The payload as stored.
    pub stored: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The payload, decompressed when it was stored compressed.
    pub fn payload(&self) -> Result<Cow<'a, [u8]>, DecodeError> {
        if !self.compressed {
            return Ok(Cow::Borrowed(self.stored));
        }
        let Some((raw_len, data)) = self.stored.split_first_chunk::<4>() else {
            return Err(DecodeError::Incomplete { needed: 4 });
        };
        let raw_len = u32::from_le_bytes(*raw_len) as usize;
        if raw_len > MAX_PAYLOAD {
            return Err(DecodeError::invalid(0, "uncompressed length too large"));
        }
        let out =
            decompress(data, raw_len).map_err(|_| DecodeError::invalid(4, "bad zstd data"))?;
        if out.len() != raw_len {
            return Err(DecodeError::invalid(0, "uncompressed length mismatch"));
        }
        Ok(Cow::Owned(out))
    }
}

thread_local! {
    /// One zstd decompression context per thread: making a context costs as
    /// much as decompressing a typical payload.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

thread_local! {
    /// One zstd compression context per thread (the writer's, in practice).
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Compresses `data` at `level` with this thread's context.
fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(l, _)| *l != level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        match slot.as_mut() {
            Some((_, c)) => c.compress(data),
            None => zstd::bulk::compress(data, level),
        }
    })
}

/// Decompresses `data` into at most `capacity` bytes with this thread's context.
fn decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        match slot.as_mut() {
            Some(d) => d.decompress(data, capacity),
            None => zstd::bulk::decompress(data, capacity),
        }
    })
}

/// Appends one frame holding `payload` to `out`. When `zstd_level` is given
/// and the compressed form is smaller, the payload is stored compressed.
/// Returns the number of bytes appended.
pub fn encode_frame(
    kind: FrameKind,
    payload: &[u8],
    zstd_level: Option<i32>,
    out: &mut Vec<u8>,
) -> usize {
    encode_frame_if(kind, payload, zstd_level, |raw, packed| packed < raw, out)
}

/// The writer's rule for keeping a transaction payload compressed
/// (format.md §4.4): a read of one key decompresses the whole frame, so a
/// frame of many ops stays compressed only when that at least halves it, a
/// frame of one op whenever it is smaller at all.
pub fn keep_compressed(ops: usize, raw: usize, packed: usize) -> bool {
    packed < raw && (ops == 1 || packed * 2 <= raw)
}

/// Whether compressing `payload` at `zstd_level` looks worth it, judged on
/// at most its first `sample` bytes: true when `keep(sample length,
/// compressed sample length + 4)` holds for them, or when zstd fails on
/// them (the full attempt then decides). A writer uses it to skip
/// compressing a large payload that would be stored plain anyway.
pub fn sample_compresses(
    payload: &[u8],
    zstd_level: i32,
    sample: usize,
    keep: impl Fn(usize, usize) -> bool,
) -> bool {
    let head = payload.get(..sample).unwrap_or(payload);
    match compress(head, zstd_level) {
        Ok(c) => keep(head.len(), c.len() + 4),
        Err(_) => true,
    }
}

/// Like [`encode_frame`], storing the payload compressed only when
/// `keep(raw length, stored compressed length)` says so.
///
/// `payload` must be at most [`MAX_PAYLOAD`] bytes, as every frame revkv
/// writes or accepts is (the length fields are u32).
#[allow(
    clippy::cast_possible_truncation,
    reason = "payload.len() <= MAX_PAYLOAD (256 MiB), so it and the stored length \
              (at most 4 bytes more) fit a u32: the writer rejects a larger transaction \
              before framing it (stage.rs), lease records are a few bytes, and the \
              compactor re-frames payloads that decoded within MAX_PAYLOAD"
)]
pub fn encode_frame_if(
    kind: FrameKind,
    payload: &[u8],
    zstd_level: Option<i32>,
    keep: impl Fn(usize, usize) -> bool,
    out: &mut Vec<u8>,
) -> usize {
    let compressed = zstd_level
        .and_then(|level| compress(payload, level).ok())
        .filter(|c| keep(payload.len(), c.len() + 4));
    // The stored payload: the uncompressed length then the zstd frame, or
    // the payload as it is.
    let (flags, raw_len, body): (u8, Option<[u8; 4]>, &[u8]) = match &compressed {
        Some(c) => (FLAG_ZSTD, Some((payload.len() as u32).to_le_bytes()), c),
        None => (0, None, payload),
    };
    let raw_len: &[u8] = raw_len.as_ref().map_or(&[], |l| l.as_slice());
    let stored_len = raw_len.len() + body.len();
    let kind = kind.to_byte();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind, flags]);
    crc.update(raw_len);
    crc.update(body);
    out.reserve(FRAME_HEADER_LEN + stored_len);
    out.extend_from_slice(&(stored_len as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(raw_len);
    out.extend_from_slice(body);
    FRAME_HEADER_LEN + stored_len
}

/// Like [`decode_frame`] without checking the CRC, for frames whose CRC was
/// checked when they were read at open (or written by this process): the
/// read path then costs what the op it reads costs, not the whole frame.
/// Every length and field is still bounds-checked, so damaged bytes give an
/// error, never a panic; `Db::verify` re-checks every CRC.
#[inline]
pub fn decode_frame_trusted(buf: &[u8]) -> Result<(Frame<'_>, usize), DecodeError> {
    let mut r = Reader::new(buf);
    let len = r.u32()? as usize;
    let _crc = r.u32()?;
    if len > MAX_PAYLOAD + 4 {
        return Err(DecodeError::invalid(0, "frame length too large"));
    }
    let total = FRAME_HEADER_LEN + len;
    let Some(stored) = buf.get(FRAME_HEADER_LEN..total) else {
        return Err(DecodeError::Incomplete { needed: total });
    };
    let kind =
        FrameKind::from_byte(r.u8()?).ok_or(DecodeError::invalid(8, "unknown frame kind"))?;
    let flags = r.u8()?;
    if flags & !FLAG_ZSTD != 0 {
        return Err(DecodeError::invalid(9, "unknown frame flags"));
    }
    Ok((
        Frame {
            kind,
            compressed: flags & FLAG_ZSTD != 0,
            stored,
        },
        total,
    ))
}

/// Decodes the frame at the start of `buf`, returning it and its total
/// length. `Incomplete` means `buf` ends inside the frame.
pub fn decode_frame(buf: &[u8]) -> Result<(Frame<'_>, usize), DecodeError> {
    let mut r = Reader::new(buf);
    let len = r.u32()? as usize;
    let crc = r.u32()?;
    if len > MAX_PAYLOAD + 4 {
        return Err(DecodeError::invalid(0, "frame length too large"));
    }
    let total = FRAME_HEADER_LEN + len;
    // The checksummed bytes: kind, flags and the stored payload.
    let Some(checked @ &[kind_byte, flags, ref stored @ ..]) = buf.get(8..total) else {
        // Check the kind byte when we have it: a zeroed or garbage header is
        // reported as invalid rather than as a short frame.
        if let Some(&k) = buf.get(8) {
            if FrameKind::from_byte(k).is_none() {
                return Err(DecodeError::invalid(8, "unknown frame kind"));
            }
        }
        return Err(DecodeError::Incomplete { needed: total });
    };
    if crc32fast::hash(checked) != crc {
        return Err(DecodeError::invalid(4, "frame checksum mismatch"));
    }
    let kind =
        FrameKind::from_byte(kind_byte).ok_or(DecodeError::invalid(8, "unknown frame kind"))?;
    if flags & !FLAG_ZSTD != 0 {
        return Err(DecodeError::invalid(9, "unknown frame flags"));
    }
    Ok((
        Frame {
            kind,
            compressed: flags & FLAG_ZSTD != 0,
            stored,
        },
        total,
    ))
}

/// A frame's whole length as a revision index entry stores it (a u32), for
/// a frame that decoded or that [`encode_frame_if`] wrote.
#[allow(
    clippy::cast_possible_truncation,
    reason = "such a frame is at most FRAME_HEADER_LEN + MAX_PAYLOAD + 4 bytes (decoding \
              refuses a longer stored length, encoding takes at most MAX_PAYLOAD), far \
              below 2^32"
)]
pub(crate) fn indexed_len(frame_len: usize) -> u32 {
    frame_len as u32
}

/// One frame found by [`Frames`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameAt<'a> {
    /// Where the frame starts in the walked bytes.
    pub offset: usize,
    /// Its whole length as stored, header included.
    pub len: usize,
    /// The frame as stored, header included (`len` bytes).
    pub raw: &'a [u8],
    /// The frame, its checksum verified.
    pub frame: Frame<'a>,
}

/// Where [`Frames`] stopped: the offset of the frame that did not decode,
/// and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// Where the frame that did not decode starts.
    pub offset: usize,
    /// Why it did not.
    pub error: DecodeError,
}

/// Walks the frames of a segment's bytes one after another from a start
/// offset (the end of the segment header), checking each checksum with
/// [`decode_frame`]. It ends at the end of the bytes, or right after the
/// first frame that does not decode (yielded as an error: what follows
/// cannot be framed). Pure: recovery, verify and compaction walk segments
/// with it, and fuzzing can reach it.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    bytes: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// A walk over `bytes` from offset `start`.
    pub fn new(bytes: &'a [u8], start: usize) -> Frames<'a> {
        Frames {
            bytes,
            pos: start,
            failed: false,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<FrameAt<'a>, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let offset = self.pos;
        let rest = self.bytes.get(offset..).filter(|r| !r.is_empty())?;
        match decode_frame(rest) {
            Ok((frame, len)) => {
                self.pos += len;
                Some(Ok(FrameAt {
                    offset,
                    len,
                    raw: rest.get(..len).unwrap_or(rest),
                    frame,
                }))
            }
            Err(error) => {
                self.failed = true;
                Some(Err(FrameError { offset, error }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_walk_each_frame_then_stop_at_damage() {
        let mut bytes = vec![7u8; 3]; // stands for a header
        let a = encode_frame(FrameKind::Txn, b"first", None, &mut bytes);
        let b = encode_frame(FrameKind::LeaseRevoke, b"second", None, &mut bytes);
        let walked: Vec<(usize, usize, FrameKind, Vec<u8>)> = Frames::new(&bytes, 3)
            .map(|f| {
                let f = f.expect("sound frame");
                assert_eq!(f.raw, &bytes[f.offset..f.offset + f.len]);
                (f.offset, f.len, f.frame.kind, f.frame.stored.to_vec())
            })
            .collect();
        assert_eq!(
            walked,
            vec![
                (3, a, FrameKind::Txn, b"first".to_vec()),
                (3 + a, b, FrameKind::LeaseRevoke, b"second".to_vec()),
            ]
        );
        // A flipped payload byte in the second frame: the first is still
        // yielded, then the error at the second's offset, then nothing.
        let mut damaged = bytes.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        let mut walk = Frames::new(&damaged, 3);
        assert_eq!(walk.next().map(|f| f.map(|f| f.offset)), Some(Ok(3)));
        let err = walk.next().expect("an item").expect_err("damaged");
        assert_eq!(err.offset, 3 + a);
        assert!(walk.next().is_none());
        // A torn tail (the second frame cut short) is an error too.
        let torn = &bytes[..bytes.len() - 2];
        let items: Vec<_> = Frames::new(torn, 3).collect();
        assert_eq!(items.len(), 2);
        assert!(matches!(
            &items[1],
            Err(FrameError {
                error: DecodeError::Incomplete { .. },
                ..
            })
        ));
        assert_eq!(Frames::new(&bytes, bytes.len()).count(), 0);
    }

    #[test]
    fn sample_judges_by_the_head_only() {
        let halves = |raw: usize, packed: usize| packed * 2 <= raw;
        // Pseudo-random bytes do not compress; repeated bytes do.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_le_bytes()[0]
            })
            .collect();
        assert!(!sample_compresses(&noise, 1, 16 << 10, halves));
        assert!(sample_compresses(&[5u8; 40_000], 1, 16 << 10, halves));
        // Only the first `sample` bytes count.
        let mut mixed = vec![5u8; 20_000];
        mixed.extend_from_slice(&noise);
        assert!(sample_compresses(&mixed, 1, 16 << 10, halves));
        assert!(!sample_compresses(&mixed[20_000..], 1, 16 << 10, halves));
    }

    #[test]
    fn round_trip_plain_and_compressed() {
        for (payload, level) in [
            (b"hello".to_vec(), None),
            (vec![7u8; 10_000], Some(1)),
            (b"short".to_vec(), Some(3)), // incompressible: stored plain
        ] {
            let mut buf = Vec::new();
            let n = encode_frame(FrameKind::Txn, &payload, level, &mut buf);
            assert_eq!(n, buf.len());
            let (frame, used) = decode_frame(&buf).expect("decodes");
            assert_eq!(used, n);
            assert_eq!(frame.kind, FrameKind::Txn);
            assert_eq!(frame.compressed, payload.len() == 10_000);
            assert_eq!(frame.payload().expect("payload").as_ref(), &payload[..]);
        }
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_flip_is_caught() {
        let mut buf = Vec::new();
        encode_frame(FrameKind::LeaseGrant, b"abcdefgh", None, &mut buf);
        for cut in 0..buf.len() {
            assert!(
                matches!(
                    decode_frame(&buf[..cut]),
                    Err(DecodeError::Incomplete { .. })
                ),
                "cut at {cut}"
            );
        }
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                match decode_frame(&bad) {
                    Err(_) => {}
                    Ok((f, _)) => panic!("flip at byte {i} bit {bit} accepted: {f:?}"),
                }
            }
        }
    }

    #[test]
    fn trusted_decoding_skips_only_the_checksum() {
        let mut buf = Vec::new();
        encode_frame(FrameKind::Txn, b"payload", None, &mut buf);
        let mut flipped_crc = buf.clone();
        flipped_crc[5] ^= 1;
        assert!(decode_frame(&flipped_crc).is_err());
        let (frame, used) = decode_frame_trusted(&flipped_crc).expect("trusted");
        assert_eq!((frame.stored, used), (&b"payload"[..], buf.len()));
        for cut in 0..buf.len() {
            assert!(decode_frame_trusted(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_kind = buf.clone();
        bad_kind[8] = 9;
        assert!(decode_frame_trusted(&bad_kind).is_err());
    }

    #[test]
    fn zeroes_are_not_a_frame() {
        assert!(matches!(
            decode_frame(&[0u8; 64]),
            Err(DecodeError::Invalid { .. })
        ));
    }
}
