//! The segment file header. A segment is this header followed by frames.
//!
//! ```text
//! +0   8 bytes  magic "REVKVSEG"
//! +8   u32      format version
//! +12  u32      reserved, 0
//! +16  u64      segment id (the number in the file name)
//! +24  u32      CRC32 of bytes +0 .. +24
//! +28  u32      reserved, 0
//! ```

use super::{check_magic_version, DecodeError, Reader, FORMAT_VERSION};

/// Length of the segment header; the first frame starts here.
pub const SEGMENT_HEADER_LEN: usize = 32;
const MAGIC: &[u8; 8] = b"REVKVSEG";

/// Encodes the header of segment `id`.
pub fn encode_segment_header(id: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&id.to_le_bytes());
    let crc = crc32fast::hash(&h[..24]);
    h[24..28].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Decodes a segment header, returning the segment id.
pub fn decode_segment_header(buf: &[u8]) -> Result<u64, DecodeError> {
    let mut r = Reader::new(buf);
    check_magic_version(&mut r, MAGIC)?;
    let _reserved = r.u32()?;
    let id = r.u64()?;
    let covered = r.slice(0);
    let crc = r.u32()?;
    let _reserved = r.u32()?;
    if crc32fast::hash(covered) != crc {
        return Err(DecodeError::invalid(24, "segment header checksum mismatch"));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        let mut bad = h;
        bad[17] ^= 1;
        assert!(decode_segment_header(&bad).is_err());
        assert_eq!(h[8], 3, "written as format version 3");
        let mut old = h;
        old[8] = 1;
        let crc = crc32fast::hash(&old[..24]);
        old[24..28].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_segment_header(&old), Ok(42), "version 1 still reads");
        let mut future = h;
        future[8] = 4;
        assert_eq!(
            decode_segment_header(&future),
            Err(DecodeError::Version { found: 4 })
        );
        assert!(matches!(
            decode_segment_header(&h[..20]),
            Err(DecodeError::Incomplete { .. })
        ));
    }
}
