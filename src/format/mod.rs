//! Pure codecs for every byte revkv puts on disk: no I/O here, so the fuzz
//! targets reach all of it. `format.md` at the repository root is the
//! specification these functions implement; all integers are little-endian.

pub mod checkpoint;
pub mod frame;
pub mod idx;
pub mod lease;
pub mod manifest;
pub mod record;
pub mod segment;

use std::fmt;

/// The on-disk format version this build writes. It reads this one and
/// every older one, from [`OLDEST_FORMAT_VERSION`] on (format.md §11).
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u32 = 1;

/// The largest revision, version, compaction revision or segment id a file
/// may hold: etcd's revisions are signed 64-bit, and staying below `i64::MAX`
/// leaves every `+ 1` the engine does on them room.
pub const MAX_COUNTER: u64 = i64::MAX as u64;

/// The largest frame payload (after decompression) revkv writes or accepts.
pub const MAX_PAYLOAD: usize = 256 << 20;

/// Why a codec rejected its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ends before the structure does: at the end of the active
    /// segment this is a torn tail.
    Incomplete {
        /// Bytes the structure needs from its start.
        needed: usize,
    },
    /// The bytes are there but wrong.
    Invalid {
        /// Offset of the problem from the start of the input.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A well-formed header names a format version this build does not know.
    Version {
        /// The version found.
        found: u32,
    },
}

impl DecodeError {
    pub(crate) fn invalid(offset: usize, reason: &'static str) -> DecodeError {
        DecodeError::Invalid { offset, reason }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Incomplete { needed } => {
                write!(f, "incomplete: {needed} bytes needed")
            }
            DecodeError::Invalid { offset, reason } => write!(f, "{reason} (at +{offset})"),
            DecodeError::Version { found } => {
                write!(
                    f,
                    "unknown format version {found} (this build: {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})"
                )
            }
        }
    }
}

/// Asks the CPU to start loading the cache lines of `bytes[from..to]`
/// (clamped to `bytes`) and returns at once: a hint, with no effect on any
/// result. A read that is about to touch several scattered places of a
/// memory-mapped segment asks for all of them first, so that their cache
/// misses overlap instead of following one another. (A no-op off x86-64.)
pub(crate) fn prefetch(bytes: &[u8], from: usize, to: usize) {
    let Some(span) = bytes.get(from..to.min(bytes.len())) else {
        return;
    };
    for byte in span.iter().step_by(64) {
        prefetch_line(byte);
    }
    // The last line, when the steps from `from` stepped over it.
    if let Some(last) = span.last() {
        prefetch_line(last);
    }
}

#[inline(always)]
fn prefetch_line(byte: &u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads and writes nothing a program can observe and
    // never faults, whatever the address; this one is a valid reference.
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>((byte as *const u8).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

/// A bounds-checked little-endian reader over a byte slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn at(buf: &'a [u8], pos: usize) -> Reader<'a> {
        Reader { buf, pos }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn buf_len(&self) -> usize {
        self.buf.len()
    }

    /// The bytes from `start` to the current position (empty when the
    /// position is past the end of the input).
    pub(crate) fn slice(&self, start: usize) -> &'a [u8] {
        self.buf
            .get(start.min(self.pos)..self.pos)
            .unwrap_or_default()
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(DecodeError::invalid(self.pos, "length overflows"))?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(DecodeError::Incomplete { needed: end })?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// An unsigned LEB128 varint written by [`put_varint`]: at most 10
    /// bytes, minimal (no needless trailing zero byte), within `u64`.
    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let start = self.pos();
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return Err(DecodeError::invalid(start, "varint overflows u64"));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(DecodeError::invalid(start, "varint not minimal"));
                }
                return Ok(v);
            }
        }
        Err(DecodeError::invalid(start, "varint longer than 10 bytes"))
    }
}

/// The bits of a signed field (a lease id) as the u64 a varint stores
/// (two's complement, format.md): `v as u64`, without a cast to justify.
pub(crate) fn i64_bits(v: i64) -> u64 {
    u64::from_ne_bytes(v.to_ne_bytes())
}

/// The signed field whose bits a varint stored: the inverse of [`i64_bits`].
pub(crate) fn i64_from_bits(v: u64) -> i64 {
    i64::from_ne_bytes(v.to_ne_bytes())
}

/// Appends `v` as an unsigned LEB128 varint: 7 bits per byte, low bits
/// first, the top bit set on every byte but the last.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push((v & 0x7f) as u8);
}

/// Checks a file header's magic and version, shared by segment, index and
/// manifest headers: `magic` (8 bytes), then the version as u32, one this
/// build reads. Returns the version.
pub(crate) fn check_magic_version(r: &mut Reader<'_>, magic: &[u8; 8]) -> Result<u32, DecodeError> {
    if r.bytes(8)? != magic {
        return Err(DecodeError::invalid(0, "bad magic"));
    }
    let version = r.u32()?;
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(DecodeError::Version { found: version });
    }
    Ok(version)
}
