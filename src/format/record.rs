//! The transaction record: the payload of a `Txn` frame. One record is one
//! store revision with every operation of its write transaction.
//!
//! ```text
//! +0   u64  revision (main), > 0
//! +8   u32  op count N, >= 1
//! +12  N x { u32 sub, u32 offset }   op table, sub strictly increasing,
//!                                    offset from the start of the payload
//! ...  N ops, contiguous, in table order, the last ending at the payload end:
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

use super::{DecodeError, Reader, MAX_COUNTER};

const HEADER_LEN: usize = 12;
const TABLE_ENTRY_LEN: usize = 8;
/// Bytes of an op before its key and value.
pub const OP_FIXED_LEN: usize = 41;

/// Put or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// A put: the key has this value from this revision on.
    Put,
    /// A delete: the key is absent from this revision on (a tombstone).
    Delete,
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

/// Encodes a transaction record for `revision` with `ops` into `out`.
pub fn encode_txn(revision: u64, ops: &[RecordOp<'_>], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&revision.to_le_bytes());
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    let table = out.len();
    out.resize(table + ops.len() * TABLE_ENTRY_LEN, 0);
    for (i, op) in ops.iter().enumerate() {
        let offset = (out.len() - start) as u32;
        let slot = table + i * TABLE_ENTRY_LEN;
        out[slot..slot + 4].copy_from_slice(&op.sub.to_le_bytes());
        out[slot + 4..slot + 8].copy_from_slice(&offset.to_le_bytes());
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
}

/// The encoded size of a record with ops of these key and value lengths.
pub fn encoded_len(ops: impl IntoIterator<Item = (usize, usize)>) -> usize {
    ops.into_iter().fold(HEADER_LEN, |n, (k, v)| {
        n + TABLE_ENTRY_LEN + OP_FIXED_LEN + k + v
    })
}

fn header(payload: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut r = Reader::new(payload);
    let revision = r.u64()?;
    if revision == 0 || revision > MAX_COUNTER {
        return Err(DecodeError::invalid(0, "revision out of range"));
    }
    let count = r.u32()? as usize;
    if count == 0 {
        return Err(DecodeError::invalid(8, "record without ops"));
    }
    count
        .checked_mul(TABLE_ENTRY_LEN)
        .and_then(|n| n.checked_add(HEADER_LEN))
        .filter(|&end| end <= payload.len())
        .ok_or(DecodeError::invalid(8, "op table past the payload"))?;
    Ok((revision, count))
}

fn table_entry(payload: &[u8], i: usize) -> Result<(u32, usize), DecodeError> {
    let mut r = Reader::at(payload, HEADER_LEN + i * TABLE_ENTRY_LEN);
    Ok((r.u32()?, r.u32()? as usize))
}

fn decode_op(
    payload: &[u8],
    sub: u32,
    offset: usize,
) -> Result<(RecordOp<'_>, usize), DecodeError> {
    let mut r = Reader::at(payload, offset);
    let kind = match r.u8()? {
        1 => OpKind::Put,
        2 => OpKind::Delete,
        _ => return Err(DecodeError::invalid(offset, "unknown op kind")),
    };
    let key_len = r.u32()? as usize;
    let value_len = r.u32()? as usize;
    let create_revision = r.u64()?;
    let version = r.u64()?;
    let lease = r.i64()?;
    let prev_mod_revision = r.u64()?;
    if key_len == 0 {
        return Err(DecodeError::invalid(offset, "empty key"));
    }
    let key = r
        .bytes(key_len)
        .map_err(|_| DecodeError::invalid(offset, "key past the payload"))?;
    let value = r
        .bytes(value_len)
        .map_err(|_| DecodeError::invalid(offset, "value past the payload"))?;
    if kind == OpKind::Delete
        && (value_len != 0 || create_revision != 0 || version != 0 || lease != 0)
    {
        return Err(DecodeError::invalid(offset, "delete with put fields"));
    }
    if kind == OpKind::Put && (version == 0 || create_revision == 0) {
        return Err(DecodeError::invalid(offset, "put without version"));
    }
    if version > MAX_COUNTER || create_revision > MAX_COUNTER || prev_mod_revision > MAX_COUNTER {
        return Err(DecodeError::invalid(
            offset,
            "version or revision out of range",
        ));
    }
    Ok((
        RecordOp {
            sub,
            kind,
            key,
            value,
            create_revision,
            version,
            lease,
            prev_mod_revision,
        },
        r.pos(),
    ))
}

/// The revision of a record, checking only its header.
pub fn txn_revision(payload: &[u8]) -> Result<u64, DecodeError> {
    header(payload).map(|(rev, _)| rev)
}

/// Decodes and validates a whole record: its revision and every op.
pub fn decode_txn(payload: &[u8]) -> Result<(u64, Vec<RecordOp<'_>>), DecodeError> {
    let (revision, count) = header(payload)?;
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
        let (op, end) = decode_op(payload, sub, offset)?;
        ops.push(op);
        expected = end;
        prev_sub = Some(sub);
    }
    if expected != payload.len() {
        return Err(DecodeError::invalid(expected, "bytes after the last op"));
    }
    Ok((revision, ops))
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
    let Ok((_, count)) = header(payload) else {
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
    let (_, count) = header(payload)?;
    // Subs strictly increase from 0 or more, so the op with `sub` is at or
    // before table position `sub`, and exactly there when the transaction
    // wrote one op per sub (the usual case): probe it first, then search
    // the rest by bisection.
    let guess = (sub as usize).min(count - 1);
    let (s, offset) = table_entry(payload, guess)?;
    if s == sub {
        return decode_op(payload, s, offset).map(|(op, _)| Some(op));
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
                return decode_op(payload, s, offset).map(|(op, _)| Some(op))
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
        let mut buf = Vec::new();
        encode_txn(9, &ops, &mut buf);
        assert_eq!(
            buf.len(),
            encoded_len(ops.iter().map(|o| (o.key.len(), o.value.len())))
        );
        let (rev, decoded) = decode_txn(&buf).expect("decodes");
        assert_eq!(rev, 9);
        assert_eq!(decoded, ops);
        assert_eq!(txn_revision(&buf), Ok(9));
        assert_eq!(find_op(&buf, 2).expect("find"), Some(ops[1]));
        assert_eq!(find_op(&buf, 0).expect("find"), Some(ops[0]));
        assert_eq!(find_op(&buf, 1).expect("find"), None);
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
        let mut buf = Vec::new();
        encode_txn(9, &sample(), &mut buf);
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
    }
}
