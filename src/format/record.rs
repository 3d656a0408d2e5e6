//! The transaction record: the payload of a `Txn` frame. One record is one
//! store revision with every operation of its write transaction.
//!
//! ```text
//! +0   u64  revision (main), > 0
//! +8   u32  op count N (>= 1) in the low 31 bits; the top bit set when the
//!           ops are compact (format version 2), clear when fixed (version 1)
//! +12  N x { u32 sub, u32 offset }   op table, sub strictly increasing,
//!                                    offset from the start of the payload
//! ...  N ops, contiguous, in table order, the last ending at the payload end.
//!
//! A compact op (written by this build):
//!      u8   head: bits 0-1 kind (1 = put, 2 = delete), bit 2 a previous
//!           record is named, bit 3 a lease is attached (puts only)
//!      varint key length (>= 1)
//!      put only: varint value length, varint (revision - create revision),
//!                varint version, varint lease (as u64) if bit 3
//!      varint (revision - previous record's revision) if bit 2
//!      key bytes, then value bytes
//! (differences wrap modulo 2^64; varints are unsigned LEB128, minimal)
//!
//! A fixed op (format version 1, still read):
//!      u8   kind: 1 = put, 2 = delete (tombstone)
//!      u32  key length (>= 1)
//!      u32  value length (0 for a delete)
//!      u64  create revision (0 for a delete)
//!      u64  version (0 for a delete)
//!      i64  lease (0 for none and for a delete)
//!      u64  revision of the key's previous record, put or tombstone
//!           (0 when the key had none)
//!      key bytes, then value bytes
//! ```
//!
//! Over 600 lines on purpose: about 450 of code doing one job (this record's
//! codec, both op layouts, which share the op table and the lookup of one op
//! by sub on the read path) and 240 of its unit tests, which stay beside it.

use super::{i64_bits, i64_from_bits, put_varint, DecodeError, Reader, MAX_COUNTER};

const HEADER_LEN: usize = 12;
const TABLE_ENTRY_LEN: usize = 8;
/// The top bit of the op-count field: the record's ops are compact.
const COMPACT_OPS: u32 = 1 << 31;
/// Compact op head bits.
const KIND_BITS: u8 = 0b0011;
const HAS_PREV: u8 = 0b0100;
const HAS_LEASE: u8 = 0b1000;

/// Put or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A put: the key has this value from this revision on.
    Put,
    /// A delete: the key is absent from this revision on (a tombstone).
    Delete,
}

/// How a record lays out its ops; the record says which (format.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpEncoding {
    /// Format version 1: a 41-byte fixed part per op.
    Fixed,
    /// Format version 2: a head byte and varints, what this build writes.
    Compact,
}

/// One operation of a transaction record, borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordOp<'a> {
    /// Position inside the transaction.
    pub sub: u32,
    /// Put or delete.
    pub kind: OpKind,
    /// The key.
    pub key: &'a [u8],
    /// The value (empty for a delete).
    pub value: &'a [u8],
    /// Revision that created this generation of the key (0 for a delete).
    pub create_revision: u64,
    /// Version after this put (0 for a delete).
    pub version: u64,
    /// Attached lease (0 for none).
    pub lease: i64,
    /// Revision of the key's previous record (put or tombstone); 0 when it
    /// had none.
    pub prev_mod_revision: u64,
}

/// Encodes a transaction record for `revision` with `ops` into `out`, with
/// compact ops (what this build writes).
pub fn encode_txn(revision: u64, ops: &[RecordOp<'_>], out: &mut Vec<u8>) {
    encode_txn_as(OpEncoding::Compact, revision, ops, out)
}

/// Encodes a transaction record with the given op encoding: [`encode_txn`]
/// for new records; [`OpEncoding::Fixed`] writes what format version 1
/// wrote, for tests and tools that need such a record. Compact ops do not
/// store a delete's value, create revision, version or lease (a valid
/// delete has none: they read back empty and 0).
///
/// The op count, offsets and (fixed) lengths are u32 fields: a record whose
/// any of them reaches 2^32 is longer than [`MAX_PAYLOAD`](super::MAX_PAYLOAD)
/// and must not be stored (the writer checks the length after encoding).
#[allow(
    clippy::cast_possible_truncation,
    reason = "a count, offset or length >= 2^32 makes the record longer than MAX_PAYLOAD \
              (256 MiB): the writer rejects it after encoding (stage.rs) and never stores \
              those bytes, and the compactor re-encodes a subset of ops of a record that \
              decoded within MAX_PAYLOAD"
)]
pub fn encode_txn_as(encoding: OpEncoding, revision: u64, ops: &[RecordOp<'_>], out: &mut Vec<u8>) {
    let start = out.len();
    let count = ops.len() as u32;
    let count_field = match encoding {
        OpEncoding::Fixed => count,
        OpEncoding::Compact => count | COMPACT_OPS,
    };
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&count_field.to_le_bytes());
    let table = out.len();
    out.resize(table + ops.len() * TABLE_ENTRY_LEN, 0);
    for (i, op) in ops.iter().enumerate() {
        let offset = (out.len() - start) as u32;
        let slot = table + i * TABLE_ENTRY_LEN;
        // The table was sized for every op just above.
        if let Some(entry) = out
            .get_mut(slot..)
            .and_then(|s| s.first_chunk_mut::<TABLE_ENTRY_LEN>())
        {
            entry[..4].copy_from_slice(&op.sub.to_le_bytes());
            entry[4..].copy_from_slice(&offset.to_le_bytes());
        }
        match encoding {
            OpEncoding::Fixed => encode_fixed_op(op, out),
            OpEncoding::Compact => encode_compact_op(revision, op, out),
        }
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "as for encode_txn_as: a key or value of 2^32 bytes or more makes a record \
              longer than MAX_PAYLOAD, which is never stored"
)]
fn encode_fixed_op(op: &RecordOp<'_>, out: &mut Vec<u8>) {
    out.push(match op.kind {
        OpKind::Put => 1,
        OpKind::Delete => 2,
    });
    out.extend_from_slice(&(op.key.len() as u32).to_le_bytes());
    out.extend_from_slice(&(op.value.len() as u32).to_le_bytes());
    out.extend_from_slice(&op.create_revision.to_le_bytes());
    out.extend_from_slice(&op.version.to_le_bytes());
    out.extend_from_slice(&op.lease.to_le_bytes());
    out.extend_from_slice(&op.prev_mod_revision.to_le_bytes());
    out.extend_from_slice(op.key);
    out.extend_from_slice(op.value);
}

fn encode_compact_op(revision: u64, op: &RecordOp<'_>, out: &mut Vec<u8>) {
    let put = op.kind == OpKind::Put;
    let mut head = if put { 1 } else { 2 };
    if op.prev_mod_revision != 0 {
        head |= HAS_PREV;
    }
    if put && op.lease != 0 {
        head |= HAS_LEASE;
    }
    out.push(head);
    put_varint(out, op.key.len() as u64);
    if put {
        put_varint(out, op.value.len() as u64);
        put_varint(out, revision.wrapping_sub(op.create_revision));
        put_varint(out, op.version);
        if op.lease != 0 {
            put_varint(out, i64_bits(op.lease));
        }
    }
    if op.prev_mod_revision != 0 {
        put_varint(out, revision.wrapping_sub(op.prev_mod_revision));
    }
    out.extend_from_slice(op.key);
    if put {
        out.extend_from_slice(op.value);
    }
}

/// What a record's first 12 bytes say.
#[derive(Clone, Copy)]
struct Header {
    revision: u64,
    count: usize,
    encoding: OpEncoding,
}

/// A record's header, checking that the op table fits.
fn header(payload: &[u8]) -> Result<Header, DecodeError> {
    let mut r = Reader::new(payload);
    let revision = r.u64()?;
    if revision == 0 || revision > MAX_COUNTER {
        return Err(DecodeError::invalid(0, "revision out of range"));
    }
    let count_field = r.u32()?;
    let encoding = if count_field & COMPACT_OPS != 0 {
        OpEncoding::Compact
    } else {
        OpEncoding::Fixed
    };
    let count = (count_field & !COMPACT_OPS) as usize;
    if count == 0 {
        return Err(DecodeError::invalid(8, "record without ops"));
    }
    count
        .checked_mul(TABLE_ENTRY_LEN)
        .and_then(|n| n.checked_add(HEADER_LEN))
        .filter(|&end| end <= payload.len())
        .ok_or(DecodeError::invalid(8, "op table past the payload"))?;
    Ok(Header {
        revision,
        count,
        encoding,
    })
}

fn table_entry(payload: &[u8], i: usize) -> Result<(u32, usize), DecodeError> {
    let mut r = Reader::at(payload, HEADER_LEN + i * TABLE_ENTRY_LEN);
    Ok((r.u32()?, r.u32()? as usize))
}

/// The fields of an op before its key and value, as stored.
struct OpFields {
    kind: OpKind,
    key_len: u64,
    value_len: u64,
    create_revision: u64,
    version: u64,
    lease: i64,
    prev_mod_revision: u64,
}

fn fixed_fields(r: &mut Reader<'_>, offset: usize) -> Result<OpFields, DecodeError> {
    let kind = match r.u8()? {
        1 => OpKind::Put,
        2 => OpKind::Delete,
        _ => return Err(DecodeError::invalid(offset, "unknown op kind")),
    };
    Ok(OpFields {
        kind,
        key_len: r.u32()?.into(),
        value_len: r.u32()?.into(),
        create_revision: r.u64()?,
        version: r.u64()?,
        lease: r.i64()?,
        prev_mod_revision: r.u64()?,
    })
}

fn compact_fields(
    r: &mut Reader<'_>,
    offset: usize,
    revision: u64,
) -> Result<OpFields, DecodeError> {
    let head = r.u8()?;
    let kind = match head & KIND_BITS {
        1 => OpKind::Put,
        2 => OpKind::Delete,
        _ => return Err(DecodeError::invalid(offset, "unknown op kind")),
    };
    if head & !(KIND_BITS | HAS_PREV | HAS_LEASE) != 0 {
        return Err(DecodeError::invalid(offset, "unknown op head bits"));
    }
    let key_len = r.varint()?;
    let mut f = OpFields {
        kind,
        key_len,
        value_len: 0,
        create_revision: 0,
        version: 0,
        lease: 0,
        prev_mod_revision: 0,
    };
    if kind == OpKind::Put {
        f.value_len = r.varint()?;
        f.create_revision = revision.wrapping_sub(r.varint()?);
        f.version = r.varint()?;
        if head & HAS_LEASE != 0 {
            f.lease = i64_from_bits(r.varint()?);
            if f.lease == 0 {
                return Err(DecodeError::invalid(offset, "lease bit with lease 0"));
            }
        }
    } else if head & HAS_LEASE != 0 {
        return Err(DecodeError::invalid(offset, "delete with a lease"));
    }
    if head & HAS_PREV != 0 {
        f.prev_mod_revision = revision.wrapping_sub(r.varint()?);
        if f.prev_mod_revision == 0 {
            return Err(DecodeError::invalid(
                offset,
                "previous-record bit naming revision 0",
            ));
        }
    }
    Ok(f)
}

fn decode_op(
    payload: &[u8],
    h: Header,
    sub: u32,
    offset: usize,
) -> Result<(RecordOp<'_>, usize), DecodeError> {
    let mut r = Reader::at(payload, offset);
    let f = match h.encoding {
        OpEncoding::Fixed => fixed_fields(&mut r, offset)?,
        OpEncoding::Compact => compact_fields(&mut r, offset, h.revision)?,
    };
    if f.key_len == 0 {
        return Err(DecodeError::invalid(offset, "empty key"));
    }
    let key =
        take(&mut r, f.key_len).ok_or(DecodeError::invalid(offset, "key past the payload"))?;
    let value =
        take(&mut r, f.value_len).ok_or(DecodeError::invalid(offset, "value past the payload"))?;
    if f.kind == OpKind::Delete
        && (f.value_len != 0 || f.create_revision != 0 || f.version != 0 || f.lease != 0)
    {
        return Err(DecodeError::invalid(offset, "delete with put fields"));
    }
    if f.kind == OpKind::Put && (f.version == 0 || f.create_revision == 0) {
        return Err(DecodeError::invalid(offset, "put without version"));
    }
    if f.version > MAX_COUNTER
        || f.create_revision > MAX_COUNTER
        || f.prev_mod_revision > MAX_COUNTER
    {
        return Err(DecodeError::invalid(
            offset,
            "version or revision out of range",
        ));
    }
    Ok((
        RecordOp {
            sub,
            kind: f.kind,
            key,
            value,
            create_revision: f.create_revision,
            version: f.version,
            lease: f.lease,
            prev_mod_revision: f.prev_mod_revision,
        },
        r.pos(),
    ))
}

/// The next `len` bytes, if the payload has them.
fn take<'a>(r: &mut Reader<'a>, len: u64) -> Option<&'a [u8]> {
    r.bytes(usize::try_from(len).ok()?).ok()
}

/// The revision of a record, checking only its header.
pub fn txn_revision(payload: &[u8]) -> Result<u64, DecodeError> {
    header(payload).map(|h| h.revision)
}

/// The op encoding of a record, checking only its header.
pub fn op_encoding(payload: &[u8]) -> Result<OpEncoding, DecodeError> {
    header(payload).map(|h| h.encoding)
}

/// Decodes and validates a whole record: its revision and every op.
pub fn decode_txn(payload: &[u8]) -> Result<(u64, Vec<RecordOp<'_>>), DecodeError> {
    let h = header(payload)?;
    let count = h.count;
    let mut ops = Vec::with_capacity(count);
    let mut expected = HEADER_LEN + count * TABLE_ENTRY_LEN;
    let mut prev_sub = None;
    for i in 0..count {
        let (sub, offset) = table_entry(payload, i)?;
        if prev_sub.is_some_and(|p| sub <= p) {
            return Err(DecodeError::invalid(
                HEADER_LEN + i * TABLE_ENTRY_LEN,
                "subs out of order",
            ));
        }
        if offset != expected {
            return Err(DecodeError::invalid(
                HEADER_LEN + i * TABLE_ENTRY_LEN,
                "op offset not contiguous",
            ));
        }
        let (op, end) = decode_op(payload, h, sub, offset)?;
        ops.push(op);
        expected = end;
        prev_sub = Some(sub);
    }
    if expected != payload.len() {
        return Err(DecodeError::invalid(expected, "bytes after the last op"));
    }
    Ok((h.revision, ops))
}

/// Where in a record the op-table slot of `sub` is when the transaction
/// wrote one op per sub (the usual case, and what [`find_op`] probes first).
pub(crate) fn table_slot(sub: u32) -> usize {
    HEADER_LEN.saturating_add((sub as usize).saturating_mul(TABLE_ENTRY_LEN))
}

/// Most bytes of one op [`prefetch_op`] asks for; the CPU's own prefetcher
/// streams the rest of a large value.
const MAX_OP_PREFETCH: usize = 1024;

/// Starts loading the bytes of the op with `sub` (see
/// [`crate::format::prefetch`]), when the op table has it at the slot
/// [`find_op`] probes first: from its fixed fields to where the next op
/// starts. A hint only: with anything unexpected it does nothing.
pub(crate) fn prefetch_op(payload: &[u8], sub: u32) {
    let Ok(Header { count, .. }) = header(payload) else {
        return;
    };
    let i = sub as usize;
    if i >= count {
        return;
    }
    let Ok((s, start)) = table_entry(payload, i) else {
        return;
    };
    if s != sub {
        return;
    }
    let end = if i + 1 < count {
        table_entry(payload, i + 1).map_or(payload.len(), |(_, next)| next)
    } else {
        payload.len()
    };
    super::prefetch(
        payload,
        start,
        end.min(start.saturating_add(MAX_OP_PREFETCH)),
    );
}

/// Finds the op with `sub` over the op table, decoding only that op.
/// `Ok(None)` when the record has no such op.
pub fn find_op(payload: &[u8], sub: u32) -> Result<Option<RecordOp<'_>>, DecodeError> {
    let h = header(payload)?;
    let count = h.count;
    // Subs strictly increase from 0 or more, so the op with `sub` is at or
    // before table position `sub`, and exactly there when the transaction
    // wrote one op per sub (the usual case): probe it first, then search
    // the rest by bisection.
    let guess = (sub as usize).min(count - 1);
    let (s, offset) = table_entry(payload, guess)?;
    if s == sub {
        return decode_op(payload, h, s, offset).map(|(op, _)| Some(op));
    }
    // (`s < sub` when no op has `sub`, or in a damaged record.)
    let (mut lo, mut hi) = if s > sub {
        (0, guess)
    } else {
        (guess + 1, count)
    };
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (s, offset) = table_entry(payload, mid)?;
        match s.cmp(&sub) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                return decode_op(payload, h, s, offset).map(|(op, _)| Some(op))
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<RecordOp<'static>> {
        vec![
            RecordOp {
                sub: 0,
                kind: OpKind::Put,
                key: b"alpha",
                value: b"one",
                create_revision: 3,
                version: 2,
                lease: 7,
                prev_mod_revision: 3,
            },
            RecordOp {
                sub: 2,
                kind: OpKind::Delete,
                key: b"beta",
                value: b"",
                create_revision: 0,
                version: 0,
                lease: 0,
                prev_mod_revision: 4,
            },
        ]
    }

    #[test]
    fn round_trip_and_find() {
        let ops = sample();
        for encoding in [OpEncoding::Compact, OpEncoding::Fixed] {
            let mut buf = Vec::new();
            encode_txn_as(encoding, 9, &ops, &mut buf);
            let (rev, decoded) = decode_txn(&buf).expect("decodes");
            assert_eq!(rev, 9);
            assert_eq!(decoded, ops);
            assert_eq!(txn_revision(&buf), Ok(9));
            assert_eq!(op_encoding(&buf), Ok(encoding));
            assert_eq!(find_op(&buf, 2).expect("find"), Some(ops[1]));
            assert_eq!(find_op(&buf, 0).expect("find"), Some(ops[0]));
            assert_eq!(find_op(&buf, 1).expect("find"), None);
        }
        let mut compact = Vec::new();
        encode_txn(9, &ops, &mut compact);
        assert_eq!(op_encoding(&compact), Ok(OpEncoding::Compact));
    }

    /// The bytes of both encodings, field by field (format.md §5.2).
    #[test]
    fn layouts_are_as_specified() {
        let put = RecordOp {
            sub: 0,
            kind: OpKind::Put,
            key: b"k",
            value: b"vv",
            create_revision: 300,
            version: 2,
            lease: 5,
            prev_mod_revision: 299,
        };
        let mut buf = Vec::new();
        encode_txn(301, &[put], &mut buf);
        let mut want = Vec::new();
        want.extend_from_slice(&301u64.to_le_bytes());
        want.extend_from_slice(&(1u32 | 1 << 31).to_le_bytes());
        want.extend_from_slice(&0u32.to_le_bytes());
        want.extend_from_slice(&20u32.to_le_bytes());
        // head: put, previous record, lease; key length 1, value length 2,
        // 301 - 300, version 2, lease 5, 301 - 299; key; value.
        want.extend_from_slice(&[0b1101, 1, 2, 1, 2, 5, 2, b'k', b'v', b'v']);
        assert_eq!(buf, want);

        let mut fixed = Vec::new();
        encode_txn_as(OpEncoding::Fixed, 301, &[put], &mut fixed);
        assert_eq!(fixed.len(), 12 + 8 + 41 + 3);
        assert_eq!(&fixed[8..12], &1u32.to_le_bytes());
        assert_eq!(fixed[20], 1);
        assert_eq!(&fixed[29..37], &300u64.to_le_bytes());
        assert_eq!(&fixed[53..61], &299u64.to_le_bytes());

        // A first put of a key with a 24-byte key and a 150-byte value at a
        // six-digit revision costs 6 bytes besides its key, value and slot.
        let value = [7u8; 150];
        let first = RecordOp {
            key: &[1u8; 24],
            value: &value,
            create_revision: 500_000,
            version: 1,
            lease: 0,
            prev_mod_revision: 0,
            ..put
        };
        let mut buf = Vec::new();
        encode_txn(500_000, &[first], &mut buf);
        assert_eq!(buf.len(), 12 + 8 + 6 + 24 + 150);
    }

    #[test]
    fn compact_fields_take_any_value_the_fixed_ones_could() {
        let extremes = [
            (1u64, MAX_COUNTER, 1u64, i64::MIN, MAX_COUNTER),
            (MAX_COUNTER, 1, MAX_COUNTER, -1, 1),
            (7, 9, 3, i64::MAX, 8),
        ];
        for (revision, create, version, lease, prev) in extremes {
            let ops = [
                RecordOp {
                    sub: 3,
                    kind: OpKind::Put,
                    key: b"a",
                    value: b"",
                    create_revision: create,
                    version,
                    lease,
                    prev_mod_revision: prev,
                },
                RecordOp {
                    sub: u32::MAX,
                    kind: OpKind::Delete,
                    key: b"b",
                    value: b"",
                    create_revision: 0,
                    version: 0,
                    lease: 0,
                    prev_mod_revision: prev,
                },
            ];
            let mut buf = Vec::new();
            encode_txn(revision, &ops, &mut buf);
            assert_eq!(decode_txn(&buf), Ok((revision, ops.to_vec())));
        }
    }

    #[test]
    fn find_op_with_gaps_in_subs() {
        let keys: Vec<Vec<u8>> = (0..6).map(|i| vec![b'k', i]).collect();
        for subs in [
            vec![0u32, 1, 2, 3, 4, 5],
            vec![0, 3, 4, 9, 10, 40],
            vec![2, 5, 6, 7, 8, 9],
        ] {
            let ops: Vec<RecordOp<'_>> = subs
                .iter()
                .zip(&keys)
                .map(|(&sub, key)| RecordOp {
                    sub,
                    kind: OpKind::Put,
                    key,
                    value: b"v",
                    create_revision: 5,
                    version: 1,
                    lease: 0,
                    prev_mod_revision: 0,
                })
                .collect();
            let mut buf = Vec::new();
            encode_txn(5, &ops, &mut buf);
            for sub in 0..45 {
                let want = ops.iter().find(|o| o.sub == sub).copied();
                assert_eq!(find_op(&buf, sub).expect("find"), want, "{subs:?} {sub}");
            }
        }
    }

    #[test]
    fn prefetch_hints_never_panic() {
        let mut buf = Vec::new();
        encode_txn(9, &sample(), &mut buf);
        let mut huge_count = buf.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut huge_offset = buf.clone();
        huge_offset[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        for damaged in [&buf, &huge_count, &huge_offset] {
            for cut in 0..=damaged.len() {
                for sub in [0, 1, 2, 3, u32::MAX] {
                    prefetch_op(&damaged[..cut], sub);
                    crate::format::prefetch(&damaged[..cut], table_slot(sub), usize::MAX);
                }
            }
        }
        assert_eq!(table_slot(2), HEADER_LEN + 2 * TABLE_ENTRY_LEN);
        assert_eq!(table_slot(u32::MAX), HEADER_LEN + u32::MAX as usize * 8);
    }

    #[test]
    fn damaged_records_are_rejected_not_panicking() {
        for encoding in [OpEncoding::Compact, OpEncoding::Fixed] {
            let mut buf = Vec::new();
            encode_txn_as(encoding, 9, &sample(), &mut buf);
            for cut in 0..buf.len() {
                assert!(decode_txn(&buf[..cut]).is_err(), "cut at {cut}");
            }
            let mut extra = buf.clone();
            extra.push(0);
            assert!(decode_txn(&extra).is_err());
            let mut zero_rev = buf.clone();
            zero_rev[..8].fill(0);
            assert!(decode_txn(&zero_rev).is_err());
            let mut huge_count = buf.clone();
            huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(decode_txn(&huge_count).is_err());
            assert!(find_op(&huge_count, 0).is_err());
            // The same bytes read with the other encoding are not a record.
            let mut other = buf.clone();
            other[11] ^= 0x80;
            assert!(
                decode_txn(&other).is_err(),
                "{encoding:?} read as the other"
            );
        }
    }

    #[test]
    fn compact_heads_that_are_not_canonical_are_rejected() {
        let put = sample()[0];
        let mut buf = Vec::new();
        encode_txn(9, &[put], &mut buf);
        let head = 20;
        assert_eq!(buf[head], 0b1101);
        for bad in [0b1_1101, 0b1000_1101, 0b1100, 0b1111] {
            let mut b = buf.clone();
            b[head] = bad;
            assert!(decode_txn(&b).is_err(), "head {bad:#b}");
        }
        // A lease bit with lease 0: the varint 5 becomes 0.
        let mut zero_lease = buf.clone();
        zero_lease[head + 5] = 0;
        assert!(decode_txn(&zero_lease).is_err());
        // A previous-record bit naming revision 0 (9 - 9).
        let mut prev_zero = buf.clone();
        prev_zero[head + 6] = 9;
        assert!(decode_txn(&prev_zero).is_err());
        // A delete with a lease bit.
        let del = sample()[1];
        let mut d = Vec::new();
        encode_txn(9, &[del], &mut d);
        assert_eq!(d[head], 0b0110);
        d[head] |= HAS_LEASE;
        assert!(decode_txn(&d).is_err());
    }
}
