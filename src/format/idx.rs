//! The revision index file (`.idx`) of a sealed segment: fixed-size entries,
//! one per transaction frame, in revision order, read through a memory map.
//!
//! ```text
//! header, 32 bytes:
//! +0   8 bytes  magic "REVKVIDX"
//! +8   u32      format version
//! +12  u32      entry count N
//! +16  u64      segment id
//! +24  u32      CRC32 of bytes +0 .. +24
//! +28  u32      reserved, 0
//! then N entries of 24 bytes:
//! +0   u64      revision (strictly increasing)
//! +8   u64      offset of the frame in the segment file
//! +16  u32      total frame length (header + stored payload)
//! +20  u32      CRC32 of the entry's bytes +0 .. +20
//! ```

use super::{check_magic_version, DecodeError, Reader, FORMAT_VERSION};

/// Length of the index header.
pub const IDX_HEADER_LEN: usize = 32;
/// Length of one index entry.
pub const IDX_ENTRY_LEN: usize = 24;
const MAGIC: &[u8; 8] = b"REVKVIDX";

/// Where one revision's frame lives in its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdxEntry {
    /// The store revision.
    pub revision: u64,
    /// Byte offset of the frame in the segment file.
    pub offset: u64,
    /// Total frame length in bytes.
    pub len: u32,
}

/// Encodes a whole index file for segment `segment_id`. The entry count
/// field is a u32: `entries` must hold fewer than 2^32 entries.
pub fn encode_idx(segment_id: u64, entries: &[IdxEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IDX_HEADER_LEN + entries.len() * IDX_ENTRY_LEN);
    let mut header = [0u8; 24];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    #[allow(
        clippy::cast_possible_truncation,
        reason = "one entry per transaction frame of one segment: 2^32 of them would take \
                  96 GiB of index in memory and a segment of over 40 GiB of frames. A resource \
                  bound, not one the writer enforces: past it the count would be wrong"
    )]
    header[12..16].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    header[16..24].copy_from_slice(&segment_id.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc32fast::hash(&header).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for e in entries {
        let mut entry = [0u8; 20];
        entry[..8].copy_from_slice(&e.revision.to_le_bytes());
        entry[8..16].copy_from_slice(&e.offset.to_le_bytes());
        entry[16..].copy_from_slice(&e.len.to_le_bytes());
        out.extend_from_slice(&entry);
        out.extend_from_slice(&crc32fast::hash(&entry).to_le_bytes());
    }
    out
}

/// Decodes an index header, checking that the file holds exactly its
/// entries. Returns `(segment id, entry count)`.
pub fn decode_idx_header(buf: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut r = Reader::new(buf);
    check_magic_version(&mut r, MAGIC)?;
    let count = r.u32()? as usize;
    let segment_id = r.u64()?;
    let covered = r.slice(0);
    let crc = r.u32()?;
    let _reserved = r.u32()?;
    if crc32fast::hash(covered) != crc {
        return Err(DecodeError::invalid(24, "index header checksum mismatch"));
    }
    let expected = count
        .checked_mul(IDX_ENTRY_LEN)
        .and_then(|n| n.checked_add(IDX_HEADER_LEN));
    if expected != Some(buf.len()) {
        return Err(DecodeError::invalid(
            12,
            "index length does not match its entry count",
        ));
    }
    Ok((segment_id, count))
}

/// Decodes entry `i` of an index file whose header has been checked.
pub fn decode_idx_entry(buf: &[u8], i: usize) -> Result<IdxEntry, DecodeError> {
    let start = i
        .checked_mul(IDX_ENTRY_LEN)
        .and_then(|n| n.checked_add(IDX_HEADER_LEN))
        .ok_or(DecodeError::invalid(0, "entry index overflows"))?;
    let mut r = Reader::at(buf, start);
    let revision = r.u64()?;
    let offset = r.u64()?;
    let len = r.u32()?;
    let covered = r.slice(start);
    let crc = r.u32()?;
    if crc32fast::hash(covered) != crc {
        return Err(DecodeError::invalid(
            start + 20,
            "index entry checksum mismatch",
        ));
    }
    Ok(IdxEntry {
        revision,
        offset,
        len,
    })
}

/// Decodes every entry, checking that revisions strictly increase.
pub fn decode_idx(buf: &[u8]) -> Result<(u64, Vec<IdxEntry>), DecodeError> {
    let (segment_id, count) = decode_idx_header(buf)?;
    let mut entries: Vec<IdxEntry> = Vec::with_capacity(count);
    for i in 0..count {
        let e = decode_idx_entry(buf, i)?;
        if entries.last().is_some_and(|p| p.revision >= e.revision) {
            return Err(DecodeError::invalid(
                IDX_HEADER_LEN + i * IDX_ENTRY_LEN,
                "revisions out of order",
            ));
        }
        entries.push(e);
    }
    Ok((segment_id, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let entries = vec![
            IdxEntry {
                revision: 5,
                offset: 32,
                len: 60,
            },
            IdxEntry {
                revision: 7,
                offset: 92,
                len: 100,
            },
        ];
        let buf = encode_idx(3, &entries);
        assert_eq!(decode_idx(&buf), Ok((3, entries.clone())));
        assert_eq!(decode_idx_entry(&buf, 1), Ok(entries[1]));
        for cut in 0..buf.len() {
            assert!(decode_idx(&buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = buf.clone();
        bad[IDX_HEADER_LEN + 30] ^= 4;
        assert!(decode_idx(&bad).is_err());
        let swapped = encode_idx(3, &[entries[1], entries[0]]);
        assert!(decode_idx(&swapped).is_err());
    }
}
