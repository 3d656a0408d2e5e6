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
//! +40  u64      initial revision: the store's revision before its first
//!               write (1 in a store created by version 3, as etcd's;
//!               absent from versions 1 and 2, whose stores start at 0)
//! +48  N x u64  segment ids in log order (revisions increase along the
//!               list); the last is the active segment. Ids are unique but
//!               need not increase: compaction output gets fresh ids.
//! then u32      CRC32 of every byte before it
//! ```
//!
//! Versions 1 and 2 have no initial revision field: their segment ids
//! start at +40.

use super::{check_magic_version, DecodeError, Reader, FORMAT_VERSION, MAX_COUNTER};

const MAGIC: &[u8; 8] = b"REVKVMAN";
/// Length of the fixed fields, by version: 40 in versions 1 and 2, 48 from
/// version 3 on (the initial revision).
const fn fixed_len(version: u32) -> usize {
    if version >= 3 {
        48
    } else {
        40
    }
}
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
    /// The store's revision before its first write: 1 for a store created
    /// by format version 3 or later (etcd's numbering: a new store is at
    /// revision 1, its first write is 2), 0 for a store created by an
    /// older version (its first write was 1), which keeps that numbering.
    pub initial_revision: u64,
}

/// Encodes a MANIFEST in this build's format version.
pub fn encode_manifest(m: &Manifest) -> Vec<u8> {
    encode_manifest_as(FORMAT_VERSION, m)
}

/// Encodes a MANIFEST as format version `version` lays it out (for tests
/// that make stores of older versions): versions 1 and 2 have no initial
/// revision field, so `m.initial_revision` is left out of them.
pub fn encode_manifest_as(version: u32, m: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(fixed_len(version) + m.segments.len() * 8 + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&version.to_le_bytes());
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
    if fixed_len(version) > 40 {
        out.extend_from_slice(&m.initial_revision.to_le_bytes());
    }
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
    let fixed = fixed_len(version);
    let initial_revision = if fixed > 40 { r.u64()? } else { 0 };
    if count > MAX_SEGMENTS {
        return Err(DecodeError::invalid(12, "segment count too large"));
    }
    let body_len = fixed + count * 8;
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
        return Err(DecodeError::invalid(fixed, "segment listed twice"));
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
    if initial_revision > 1 {
        return Err(DecodeError::invalid(40, "initial revision above 1"));
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
            initial_revision,
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
            initial_revision: 1,
        };
        let buf = encode_manifest(&m);
        assert_eq!(buf.len(), 48 + 3 * 8 + 4);
        assert_eq!(buf[40..48], 1u64.to_le_bytes());
        assert_eq!(buf[48..56], 1u64.to_le_bytes(), "the first segment id");
        assert_eq!(decode_manifest(&buf), Ok(m.clone()));
        assert_eq!(
            decode_manifest_and_version(&buf),
            Ok((m.clone(), FORMAT_VERSION))
        );
        // Versions 1 and 2 have no initial revision: their stores start at 0.
        let old = Manifest {
            initial_revision: 0,
            ..m.clone()
        };
        for version in [1, 2] {
            let bytes = encode_manifest_as(version, &m);
            assert_eq!(bytes.len(), 40 + 3 * 8 + 4);
            assert_eq!(bytes[40..48], 1u64.to_le_bytes(), "the first segment id");
            assert_eq!(
                decode_manifest_and_version(&bytes),
                Ok((old.clone(), version))
            );
        }
        // A version 3 MANIFEST that says it is version 2 (or the reverse) is
        // the wrong length for its segment count.
        let mut relabeled = buf.clone();
        relabeled[8] = 2;
        let body = relabeled.len() - 4;
        let crc = crc32fast::hash(&relabeled[..body]);
        relabeled[body..].copy_from_slice(&crc.to_le_bytes());
        assert!(decode_manifest(&relabeled).is_err());
        // The initial revision is 0 or 1.
        let mut two = encode_manifest(&Manifest {
            initial_revision: 2,
            ..m.clone()
        });
        assert_eq!(
            decode_manifest(&two),
            Err(DecodeError::invalid(40, "initial revision above 1"))
        );
        two[40] = 0;
        let body = two.len() - 4;
        let crc = crc32fast::hash(&two[..body]);
        two[body..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_manifest(&two), Ok(old.clone()));
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
            Err(DecodeError::Version { found: 4 })
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
        future[8] = 4;
        decode_manifest(&future)
    }
}
