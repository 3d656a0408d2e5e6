//! The MANIFEST: which segments are live, in order, and the compaction state.
//! It is only ever replaced whole, by atomic install.
//!
//! ```text
//! +0   8 bytes  magic "REVKVMAN"
//! +8   u32      format version
//! +12  u32      segment count N
//! +16  u64      next segment id (ids are never reused)
//! +24  u64      compaction revision scheduled (0 = none)
//! +32  u64      compaction revision finished (0 = none)
//! +40  N x u64  segment ids in log order (revisions increase along the
//!               list); the last is the active segment. Ids are unique but
//!               need not increase: compaction output gets fresh ids.
//! then u32      CRC32 of every byte before it
//! ```

use super::{check_magic_version, DecodeError, Reader, FORMAT_VERSION, MAX_COUNTER};

const MAGIC: &[u8; 8] = b"REVKVMAN";
const FIXED_LEN: usize = 40;
/// More segments than any store can have: a bound on what decoding allocates.
const MAX_SEGMENTS: usize = 1 << 24;

/// The decoded MANIFEST.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    /// Live segment ids in log order; the last one is the active segment.
    pub segments: Vec<u64>,
    /// The id the next new segment gets.
    pub next_segment_id: u64,
    /// Compaction revision requested and persisted (0 = never).
    pub compact_scheduled: u64,
    /// Compaction revision whose rewrite is installed (0 = never).
    pub compact_finished: u64,
}

/// Encodes a MANIFEST.
pub fn encode_manifest(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(FIXED_LEN + m.segments.len() * 8 + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a store of 2^32 segments would be 2^32 files of at least 4 KiB (16 TiB) \
                  and as many maps, and decoding refuses more than MAX_SEGMENTS (2^24) anyway. \
                  A resource bound, not one the writer enforces"
    )]
    out.extend_from_slice(&(m.segments.len() as u32).to_le_bytes());
    out.extend_from_slice(&m.next_segment_id.to_le_bytes());
    out.extend_from_slice(&m.compact_scheduled.to_le_bytes());
    out.extend_from_slice(&m.compact_finished.to_le_bytes());
    for id in &m.segments {
        out.extend_from_slice(&id.to_le_bytes());
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes a MANIFEST, checking its checksum and that segment ids are
/// unique and below the next id.
pub fn decode_manifest(buf: &[u8]) -> Result<Manifest, DecodeError> {
    decode_manifest_and_version(buf).map(|(m, _)| m)
}

/// Decodes a MANIFEST like [`decode_manifest`], with the format version its
/// header names (one this build reads; an older one is upgraded at open,
/// format.md §11).
pub fn decode_manifest_and_version(buf: &[u8]) -> Result<(Manifest, u32), DecodeError> {
    let mut r = Reader::new(buf);
    let version = check_magic_version(&mut r, MAGIC)?;
    let count = r.u32()? as usize;
    let next_segment_id = r.u64()?;
    let compact_scheduled = r.u64()?;
    let compact_finished = r.u64()?;
    if count > MAX_SEGMENTS {
        return Err(DecodeError::invalid(12, "segment count too large"));
    }
    let body_len = FIXED_LEN + count * 8;
    if buf.len() != body_len + 4 {
        return Err(DecodeError::invalid(
            12,
            "length does not match segment count",
        ));
    }
    let mut segments = Vec::with_capacity(count);
    for _ in 0..count {
        segments.push(r.u64()?);
    }
    let body = r.slice(0);
    let crc = r.u32()?;
    if crc32fast::hash(body) != crc {
        return Err(DecodeError::invalid(body_len, "manifest checksum mismatch"));
    }
    let mut sorted = segments.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| matches!(w, [a, b] if a == b)) {
        return Err(DecodeError::invalid(FIXED_LEN, "segment listed twice"));
    }
    if sorted.last().is_some_and(|&last| last >= next_segment_id) {
        return Err(DecodeError::invalid(
            16,
            "segment id at or above the next id",
        ));
    }
    if next_segment_id > MAX_COUNTER || compact_scheduled > MAX_COUNTER {
        return Err(DecodeError::invalid(16, "counter out of range"));
    }
    if compact_finished > compact_scheduled {
        return Err(DecodeError::invalid(
            32,
            "finished compaction above the scheduled one",
        ));
    }
    Ok((
        Manifest {
            segments,
            next_segment_id,
            compact_scheduled,
            compact_finished,
        },
        version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let m = Manifest {
            segments: vec![1, 4, 9],
            next_segment_id: 10,
            compact_scheduled: 100,
            compact_finished: 90,
        };
        let buf = encode_manifest(&m);
        assert_eq!(decode_manifest(&buf), Ok(m.clone()));
        assert_eq!(
            decode_manifest_and_version(&buf),
            Ok((m.clone(), FORMAT_VERSION))
        );
        let mut v1 = buf.clone();
        v1[8] = 1;
        let body = v1.len() - 4;
        let crc = crc32fast::hash(&v1[..body]);
        v1[body..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_manifest_and_version(&v1), Ok((m.clone(), 1)));
        for cut in 0..buf.len() {
            assert!(decode_manifest(&buf[..cut]).is_err(), "cut at {cut}");
        }
        for i in 0..buf.len() {
            let mut bad = buf.clone();
            bad[i] ^= 0x10;
            assert!(decode_manifest(&bad).is_err(), "flip at {i}");
        }
        assert_eq!(
            version_of_future(&buf),
            Err(DecodeError::Version { found: 3 })
        );
    }

    #[test]
    fn ids_follow_log_order_but_must_be_unique() {
        let m = Manifest {
            segments: vec![7, 2, 9],
            next_segment_id: 10,
            ..Manifest::default()
        };
        assert_eq!(decode_manifest(&encode_manifest(&m)), Ok(m));
        let twice = Manifest {
            segments: vec![2, 2],
            next_segment_id: 10,
            ..Manifest::default()
        };
        assert!(decode_manifest(&encode_manifest(&twice)).is_err());
        let above = Manifest {
            segments: vec![3, 10],
            next_segment_id: 10,
            ..Manifest::default()
        };
        assert!(decode_manifest(&encode_manifest(&above)).is_err());
    }

    fn version_of_future(buf: &[u8]) -> Result<Manifest, DecodeError> {
        let mut future = buf.to_vec();
        future[8] = 3;
        decode_manifest(&future)
    }
}
