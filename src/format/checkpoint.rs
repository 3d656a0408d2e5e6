//! The key-index checkpoint (`KEYINDEX`): the whole in-memory key index and
//! lease table as of one point in the log, so that open reads it instead of
//! decoding every frame. Derived data: a checkpoint that is missing, damaged,
//! of another version or stale is ignored and the log is scanned in full.
//! format.md §8a is the specification.
//!
//! ```text
//! +0   8 bytes  magic "REVKVKIX"
//! +8   u32      format version
//! +12  u32      segment count N
//! +16  u64      store revision at the checkpoint
//! +24  u64      compaction revision scheduled
//! +32  u64      compaction revision finished
//! +40  u64      end: offset in the last listed segment where the covered
//!               frames end
//! +48  u64      key count K
//! +56  u32      lease count L
//! +60  u32      reserved, 0
//! +64  N x u64  segment ids, as the MANIFEST listed them
//! then L x 24   leases: i64 id, i64 ttl, u64 deadline (Unix ms)
//! then K keys in strictly increasing byte order, each:
//!      varint key length, key bytes, varint lease (as u64),
//!      varint write count R >= 1, then R writes oldest first:
//!      varint main revision (the first absolute, then the increase over
//!      the previous one, >= 1), varint (sub << 1 | tombstone)
//! then u32      CRC32 of every byte before it
//! ```
//! Varints are unsigned LEB128: 7 bits per byte, low bits first, the top bit
//! set on every byte but the last, at most 10 bytes.

use super::{
    check_magic_version, i64_bits, i64_from_bits, put_varint, DecodeError, Reader, FORMAT_VERSION,
    MAX_COUNTER, MAX_PAYLOAD,
};

const MAGIC: &[u8; 8] = b"REVKVKIX";
const FIXED_LEN: usize = 64;
const LEASE_LEN: usize = 24;
/// The smallest encoded key: 1-byte length, 1-byte key, lease, count, one
/// write of two 1-byte varints.
const MIN_KEY_LEN: usize = 6;
/// More segments than any store can have: a bound on what decoding allocates.
const MAX_SEGMENTS: usize = 1 << 24;
/// The largest `sub` the key index can hold (its top bit is the tombstone).
const MAX_SUB: u32 = (1 << 31) - 1;

/// Everything in a checkpoint but its keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckpointHeader {
    /// The MANIFEST's segment list when the checkpoint was taken.
    pub segments: Vec<u64>,
    /// The store revision the key index reflects.
    pub revision: u64,
    /// The MANIFEST's scheduled compaction revision then.
    pub compact_scheduled: u64,
    /// The MANIFEST's finished compaction revision then.
    pub compact_finished: u64,
    /// Offset in the last listed segment where the frames the checkpoint
    /// covers end; frames from there on are not reflected in it.
    pub end: u64,
    /// Number of keys that follow.
    pub key_count: u64,
    /// The live leases.
    pub leases: Vec<CheckpointLease>,
}

impl CheckpointHeader {
    /// Whether the segment and lease counts fit the header's u32 fields,
    /// as [`CheckpointEncoder::new`] needs.
    pub fn counts_fit(&self) -> bool {
        u32::try_from(self.segments.len()).is_ok() && u32::try_from(self.leases.len()).is_ok()
    }
}

/// One live lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointLease {
    /// Lease id.
    pub id: i64,
    /// Granted TTL in seconds.
    pub ttl: i64,
    /// Deadline in Unix milliseconds.
    pub deadline_ms: u64,
}

/// One write of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointRev {
    /// Store revision of the write.
    pub main: u64,
    /// Position of the op inside its revision.
    pub sub: u32,
    /// True for a delete.
    pub tombstone: bool,
}

/// Writes a checkpoint: the header, then each key in increasing order, then
/// [`CheckpointEncoder::finish`].
#[derive(Debug)]
pub struct CheckpointEncoder {
    out: Vec<u8>,
}

impl CheckpointEncoder {
    /// Starts a checkpoint with `header` (whose `key_count` must be the
    /// number of [`CheckpointEncoder::key`] calls that follow, and whose
    /// segment and lease counts must fit a u32: see
    /// [`CheckpointHeader::counts_fit`]).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "the counts fit a u32 by this function's contract; the engine checks \
                  counts_fit before encoding and skips the checkpoint otherwise"
    )]
    pub fn new(header: &CheckpointHeader) -> CheckpointEncoder {
        let mut out = Vec::with_capacity(
            FIXED_LEN + header.segments.len() * 8 + header.leases.len() * LEASE_LEN,
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.segments.len() as u32).to_le_bytes());
        for v in [
            header.revision,
            header.compact_scheduled,
            header.compact_finished,
            header.end,
            header.key_count,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(header.leases.len() as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for id in &header.segments {
            out.extend_from_slice(&id.to_le_bytes());
        }
        for l in &header.leases {
            out.extend_from_slice(&l.id.to_le_bytes());
            out.extend_from_slice(&l.ttl.to_le_bytes());
            out.extend_from_slice(&l.deadline_ms.to_le_bytes());
        }
        CheckpointEncoder { out }
    }

    /// Appends one key: its attached lease (0 = none) and its writes,
    /// oldest first.
    pub fn key(&mut self, key: &[u8], lease: i64, revs: &[CheckpointRev]) {
        let out = &mut self.out;
        put_varint(out, key.len() as u64);
        out.extend_from_slice(key);
        put_varint(out, i64_bits(lease));
        put_varint(out, revs.len() as u64);
        let mut prev = 0;
        for r in revs {
            // Wrapping: revisions out of order encode to a delta the decoder
            // rejects, instead of a panic here.
            put_varint(out, r.main.wrapping_sub(prev));
            put_varint(out, (u64::from(r.sub) << 1) | u64::from(r.tombstone));
            prev = r.main;
        }
    }

    /// The finished file.
    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.out);
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out
    }
}

/// Checks a checkpoint's checksum and header. Returns the header and an
/// iterator over its keys, which checks each key as it goes (order,
/// revisions, bounds) and fails if bytes remain after the last one.
pub fn decode_checkpoint(
    buf: &[u8],
) -> Result<(CheckpointHeader, CheckpointKeys<'_>), DecodeError> {
    let body_len = buf.len().saturating_sub(4);
    decode_header(buf).map_err(|e| inside_body(e, body_len))
}

/// The checksum covers everything but its own 4 bytes: a structure that
/// runs into them is invalid, not a file cut short.
fn inside_body(e: DecodeError, body_len: usize) -> DecodeError {
    match e {
        DecodeError::Incomplete { needed } if needed > body_len && body_len >= 12 => {
            DecodeError::invalid(body_len, "structure runs past the checksum")
        }
        other => other,
    }
}

fn decode_header(buf: &[u8]) -> Result<(CheckpointHeader, CheckpointKeys<'_>), DecodeError> {
    let Some((body, crc)) = buf.split_last_chunk::<4>() else {
        return Err(DecodeError::Incomplete { needed: 4 });
    };
    let body_len = body.len();
    let mut r = Reader::new(buf);
    check_magic_version(&mut r, MAGIC)?;
    if crc32fast::hash(body) != u32::from_le_bytes(*crc) {
        return Err(DecodeError::invalid(
            body_len,
            "checkpoint checksum mismatch",
        ));
    }
    let mut r = Reader::at(body, 12);
    let segment_count = r.u32()? as usize;
    let revision = r.u64()?;
    let compact_scheduled = r.u64()?;
    let compact_finished = r.u64()?;
    let end = r.u64()?;
    let key_count = r.u64()?;
    let lease_count = r.u32()? as usize;
    let _reserved = r.u32()?;
    if revision > MAX_COUNTER
        || compact_scheduled > revision
        || compact_finished > compact_scheduled
    {
        return Err(DecodeError::invalid(16, "revisions out of bounds"));
    }
    if segment_count == 0 || segment_count > MAX_SEGMENTS {
        return Err(DecodeError::invalid(12, "segment count out of bounds"));
    }
    let mut segments = Vec::with_capacity(segment_count.min(body_len / 8));
    for _ in 0..segment_count {
        segments.push(r.u64()?);
    }
    if lease_count > body_len / LEASE_LEN {
        return Err(DecodeError::invalid(56, "lease count out of bounds"));
    }
    let mut leases = Vec::with_capacity(lease_count);
    for _ in 0..lease_count {
        leases.push(CheckpointLease {
            id: r.i64()?,
            ttl: r.i64()?,
            deadline_ms: r.u64()?,
        });
    }
    if key_count > ((body_len - r.pos()) / MIN_KEY_LEN) as u64 {
        return Err(DecodeError::invalid(48, "key count out of bounds"));
    }
    let header = CheckpointHeader {
        segments,
        revision,
        compact_scheduled,
        compact_finished,
        end,
        key_count,
        leases,
    };
    let keys = CheckpointKeys {
        r,
        left: key_count,
        revision,
        prev: None,
        done: false,
    };
    Ok((header, keys))
}

/// The keys of a checkpoint, in order; see [`decode_checkpoint`].
#[derive(Debug)]
pub struct CheckpointKeys<'a> {
    r: Reader<'a>,
    left: u64,
    revision: u64,
    prev: Option<&'a [u8]>,
    done: bool,
}

/// One key of a checkpoint, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointKey<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The lease its newest write attached it to (0 = none).
    pub lease: i64,
    /// Number of writes.
    pub count: u64,
    /// The encoded writes, already checked.
    revs: &'a [u8],
}

impl<'a> CheckpointKey<'a> {
    /// The key's writes, oldest first.
    pub fn revs(&self) -> impl Iterator<Item = CheckpointRev> + 'a {
        let mut r = Reader::new(self.revs);
        let mut main = 0u64;
        // The bytes were checked when the key was decoded, so reading them
        // again cannot fail; if it somehow did, the iteration just ends.
        (0..self.count).map_while(move |_| {
            main = main.checked_add(r.varint().ok()?)?;
            let packed = r.varint().ok()?;
            Some(CheckpointRev {
                main,
                sub: u32::try_from(packed >> 1).ok()?,
                tombstone: packed & 1 == 1,
            })
        })
    }
}

impl<'a> CheckpointKeys<'a> {
    fn next_key(&mut self) -> Result<CheckpointKey<'a>, DecodeError> {
        let at = self.r.pos();
        let key_len = match usize::try_from(self.r.varint()?) {
            Ok(n) if n > 0 && n <= MAX_PAYLOAD => n,
            _ => return Err(DecodeError::invalid(at, "key length out of bounds")),
        };
        let key = self.r.bytes(key_len)?;
        if self.prev.is_some_and(|p| p >= key) {
            return Err(DecodeError::invalid(at, "keys out of order"));
        }
        self.prev = Some(key);
        let lease = i64_from_bits(self.r.varint()?);
        let count = self.r.varint()?;
        let left = (self.r.buf_len() - self.r.pos()) as u64;
        if count == 0 || count > left / 2 {
            return Err(DecodeError::invalid(at, "write count out of bounds"));
        }
        let revs_at = self.r.pos();
        let mut main = 0u64;
        for _ in 0..count {
            let rev_at = self.r.pos();
            let delta = self.r.varint()?;
            main = match main.checked_add(delta) {
                Some(m) if delta > 0 && m <= self.revision => m,
                _ => return Err(DecodeError::invalid(rev_at, "revision out of order")),
            };
            if self.r.varint()? >> 1 > u64::from(MAX_SUB) {
                return Err(DecodeError::invalid(rev_at, "sub out of bounds"));
            }
        }
        let revs = self.r.slice(revs_at);
        Ok(CheckpointKey {
            key,
            lease,
            count,
            revs,
        })
    }
}

impl<'a> Iterator for CheckpointKeys<'a> {
    type Item = Result<CheckpointKey<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            let pos = self.r.pos();
            return (pos != self.r.buf_len())
                .then(|| Err(DecodeError::invalid(pos, "bytes after the last key")));
        }
        self.left -= 1;
        let key = self
            .next_key()
            .map_err(|e| inside_body(e, self.r.buf_len()));
        self.done = key.is_err();
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key as the tests list it: bytes, lease, writes.
    type Key = (Vec<u8>, i64, Vec<CheckpointRev>);

    fn sample() -> (CheckpointHeader, Vec<Key>) {
        let rev = |main, sub, tombstone| CheckpointRev {
            main,
            sub,
            tombstone,
        };
        let keys = vec![
            (b"a".to_vec(), 0, vec![rev(2, 0, false)]),
            (
                b"b".to_vec(),
                7,
                vec![rev(3, 1, false), rev(300, 0, true), rev(301, 5, false)],
            ),
            (vec![0xff; 200], 0, vec![rev(301, 1 << 20, true)]),
        ];
        let header = CheckpointHeader {
            segments: vec![4, 9],
            revision: 301,
            compact_scheduled: 3,
            compact_finished: 2,
            end: 4096,
            key_count: keys.len() as u64,
            leases: vec![CheckpointLease {
                id: 7,
                ttl: 60,
                deadline_ms: 1_700_000_000_000,
            }],
        };
        (header, keys)
    }

    fn encode(header: &CheckpointHeader, keys: &[(Vec<u8>, i64, Vec<CheckpointRev>)]) -> Vec<u8> {
        let mut enc = CheckpointEncoder::new(header);
        for (k, lease, revs) in keys {
            enc.key(k, *lease, revs);
        }
        enc.finish()
    }

    fn decode_all(buf: &[u8]) -> Result<(CheckpointHeader, Vec<Key>), DecodeError> {
        let (h, keys) = decode_checkpoint(buf)?;
        let keys = keys
            .map(|k| k.map(|k| (k.key.to_vec(), k.lease, k.revs().collect())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((h, keys))
    }

    #[test]
    fn round_trip() {
        let (header, keys) = sample();
        let buf = encode(&header, &keys);
        assert_eq!(decode_all(&buf), Ok((header, keys)));
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let (header, keys) = sample();
        let buf = encode(&header, &keys);
        for cut in 0..buf.len() {
            assert!(decode_all(&buf[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(decode_all(&bad).is_err(), "flip at {i}");
        }
    }

    /// Re-encodes with a fixed checksum, to reach the checks behind it.
    fn with_crc(mut body: Vec<u8>) -> Vec<u8> {
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn semantic_damage_under_a_good_checksum_is_rejected() {
        let (header, keys) = sample();
        // Keys out of order.
        let swapped = vec![keys[1].clone(), keys[0].clone()];
        let mut h = header.clone();
        h.key_count = 2;
        let buf = encode(&h, &swapped);
        assert!(matches!(
            decode_all(&buf),
            Err(DecodeError::Invalid {
                reason: "keys out of order",
                ..
            })
        ));
        // A write newer than the checkpoint's revision.
        let mut h = header.clone();
        h.revision = 300;
        assert!(matches!(
            decode_all(&encode(&h, &keys)),
            Err(DecodeError::Invalid {
                reason: "revision out of order",
                ..
            })
        ));
        // Fewer keys than announced, or more bytes than keys.
        let mut h = header.clone();
        h.key_count = 4;
        assert!(decode_all(&encode(&h, &keys)).is_err());
        h.key_count = 2;
        assert!(matches!(
            decode_all(&encode(&h, &keys)),
            Err(DecodeError::Invalid {
                reason: "bytes after the last key",
                ..
            })
        ));
        // An absurd key count is refused before anything is allocated.
        let mut body = encode(&header, &keys);
        body.truncate(body.len() - 4);
        body[48..56].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode_all(&with_crc(body)),
            Err(DecodeError::Invalid {
                reason: "key count out of bounds",
                ..
            })
        ));
        // A future version is reported as such; version 1 (same layout) reads.
        let mut body = encode(&header, &keys);
        body.truncate(body.len() - 4);
        body[8..12].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(
            decode_all(&with_crc(body.clone())),
            Err(DecodeError::Version { found: 4 })
        );
        body[8..12].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            decode_all(&with_crc(body)),
            decode_all(&encode(&header, &keys)),
            "a version 1 checkpoint reads as the same keys"
        );
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX >> 1, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Ok(v));
            assert_eq!(r.pos(), out.len());
        }
        assert!(Reader::new(&[0x80, 0x00]).varint().is_err(), "not minimal");
        let too_long = [0xffu8; 11];
        assert!(Reader::new(&too_long).varint().is_err());
        let overflow = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader::new(&overflow).varint().is_err());
    }
}
