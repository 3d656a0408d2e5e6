//! Targets over the pure codecs of `revkv::format`: arbitrary bytes must
//! decode or fail with a `DecodeError` (never panic), whatever decodes must
//! re-encode to the same bytes where the format is canonical, and whatever
//! the encoders produce must decode back to what was encoded.

use super::input::Input;
use revkv::format::frame::{self, encode_frame, Frame, FrameKind, FRAME_HEADER_LEN};
use revkv::format::idx::{
    decode_idx_entry, decode_idx_header, encode_idx, IdxEntry, IDX_ENTRY_LEN, IDX_HEADER_LEN,
};
use revkv::format::lease::{decode_lease, encode_lease, LeaseKind, LeaseRecord};
use revkv::format::manifest::{encode_manifest_as, Manifest};
use revkv::format::record::{
    decode_txn, encode_txn_as, find_op, op_encoding, txn_revision, OpEncoding, OpKind, RecordOp,
};
use revkv::format::segment::{decode_segment_header, encode_segment_header, SEGMENT_HEADER_LEN};
use revkv::format::{DecodeError, MAX_COUNTER};

const LEASE_KINDS: [LeaseKind; 3] = [LeaseKind::Grant, LeaseKind::KeepAlive, LeaseKind::Revoke];

/// Target `decode_frame`: frames, payloads, transaction and lease records.
pub fn decode_frame(data: &[u8]) {
    // The input as a run of frames, as recovery walks a segment.
    let mut pos = 0;
    while pos < data.len() {
        match frame::decode_frame(&data[pos..]) {
            Ok((f, len)) => {
                check_frame(&data[pos..], &f, len);
                pos += len;
            }
            Err(e) => {
                check_decode_error(&e, data.len() - pos);
                break;
            }
        }
    }
    // The input as a bare payload of every kind.
    check_txn_payload(data);
    for kind in LEASE_KINDS {
        check_lease_payload(kind, data);
    }
    // The input as the stored bytes of a compressed frame.
    let stored = Frame {
        kind: FrameKind::Txn,
        compressed: true,
        stored: data,
    };
    if let Ok(p) = stored.payload() {
        assert_eq!(
            p.len() as u32,
            u32::from_le_bytes(data[..4].try_into().unwrap())
        );
        check_txn_payload(&p);
    }
    // Structure-aware: records built from the input by the encoders.
    let mut input = Input::new(data);
    match input.byte() % 4 {
        0 | 1 => encoded_txn_round_trip(&mut input),
        2 => encoded_lease_round_trip(&mut input),
        _ => {
            let kind = FrameKind::from_byte(1 + input.byte() % 4).unwrap();
            let level = level(&mut input);
            let payload = input.rest();
            let mut buf = Vec::new();
            let n = encode_frame(kind, payload, level, &mut buf);
            assert_eq!(n, buf.len());
            let (f, len) = frame::decode_frame(&buf).expect("an encoded frame decodes");
            assert_eq!((f.kind, len), (kind, n));
            assert_eq!(f.payload().expect("its payload decodes").as_ref(), payload);
            check_frame(&buf, &f, len);
        }
    }
}

fn level(input: &mut Input<'_>) -> Option<i32> {
    match input.byte() % 3 {
        0 => None,
        n => Some(n as i32),
    }
}

/// A decoded file's bytes with what depends on the format version that
/// wrote it blanked: the version field at +8 and the CRC at `crc_at` (which
/// covers it; the decoder has checked it). Comparing these shows that the
/// encoder reproduces a file of an older version (format.md §11) except for
/// its version.
fn written_now(file: &[u8], crc_at: usize) -> Vec<u8> {
    let mut out = file.to_vec();
    out[8..12].fill(0);
    if let Some(crc) = out.get_mut(crc_at..crc_at + 4) {
        crc.fill(0);
    }
    out
}

fn check_decode_error(e: &DecodeError, available: usize) {
    match *e {
        DecodeError::Incomplete { needed } => assert!(needed > available, "{e:?} of {available}"),
        DecodeError::Invalid { offset, .. } => assert!(offset <= available.max(64), "{e:?}"),
        DecodeError::Version { found } => assert!(
            !(revkv::format::OLDEST_FORMAT_VERSION..=revkv::format::FORMAT_VERSION)
                .contains(&found),
            "a version this build reads reported as unknown: {found}"
        ),
    }
}

/// A frame that decoded from `buf` with total length `len`.
fn check_frame(buf: &[u8], f: &Frame<'_>, len: usize) {
    assert!(len <= buf.len());
    assert_eq!(len, FRAME_HEADER_LEN + f.stored.len());
    assert_eq!(f.stored, &buf[FRAME_HEADER_LEN..len]);
    assert_eq!(buf[8], f.kind.to_byte());
    assert_eq!(FrameKind::from_byte(buf[8]), Some(f.kind));
    // Every cut of a good frame is "incomplete" (the torn-tail rule of
    // format.md §10.3 relies on it), never "invalid" and never a frame.
    for cut in 0..len {
        match frame::decode_frame(&buf[..cut]) {
            Err(DecodeError::Incomplete { needed }) => assert!(needed > cut),
            other => panic!("frame of {len} bytes cut at {cut}: {other:?}"),
        }
    }
    // A plain frame is canonical: the encoder reproduces it byte for byte.
    if !f.compressed {
        let mut again = Vec::new();
        encode_frame(f.kind, f.stored, None, &mut again);
        assert_eq!(
            again.as_slice(),
            &buf[..len],
            "plain frame is not canonical"
        );
    }
    let Ok(payload) = f.payload() else {
        assert!(f.compressed, "a plain payload always decodes");
        return;
    };
    if f.compressed {
        assert_eq!(
            payload.len() as u32,
            u32::from_le_bytes(f.stored[..4].try_into().unwrap())
        );
        if payload.len() > 1 << 20 {
            return; // zstd expands a few bytes a long way; keep runs fast
        }
        // Compressed frames are not canonical (the zstd level is free), but
        // re-compressing what came out must give the same payload back.
        let mut again = Vec::new();
        encode_frame(f.kind, &payload, Some(1), &mut again);
        let (g, n) = frame::decode_frame(&again).expect("re-encoded frame decodes");
        assert_eq!(n, again.len());
        assert_eq!(
            g.payload().expect("re-encoded payload").as_ref(),
            &payload[..]
        );
    } else {
        assert_eq!(&payload[..], f.stored);
    }
    match f.kind.lease_kind() {
        Some(kind) => check_lease_payload(kind, &payload),
        None => check_txn_payload(&payload),
    }
}

/// A transaction record payload: decodes or fails; if it decodes it is
/// canonical and `find_op` agrees with `decode_txn` on every op.
fn check_txn_payload(p: &[u8]) {
    let rev = txn_revision(p);
    match decode_txn(p) {
        Ok((r, ops)) => {
            assert_eq!(rev, Ok(r));
            assert!(r > 0 && !ops.is_empty());
            for w in ops.windows(2) {
                assert!(w[0].sub < w[1].sub, "subs out of order accepted");
            }
            for op in &ops {
                assert!(!op.key.is_empty(), "empty key accepted");
                match op.kind {
                    OpKind::Put => assert!(op.version > 0 && op.create_revision > 0),
                    OpKind::Delete => {
                        assert!(op.value.is_empty() && op.create_revision == 0);
                        assert!(op.version == 0 && op.lease == 0);
                    }
                }
            }
            let encoding = op_encoding(p).expect("a decoded record has a header");
            let mut again = Vec::new();
            encode_txn_as(encoding, r, &ops, &mut again);
            assert_eq!(again.as_slice(), p, "transaction record is not canonical");
            for op in &ops {
                assert_eq!(find_op(p, op.sub), Ok(Some(*op)));
            }
            let last = ops[ops.len() - 1].sub;
            for s in [
                0,
                1,
                last.wrapping_add(1),
                u32::MAX,
                ops[0].sub.wrapping_sub(1),
            ] {
                if !ops.iter().any(|o| o.sub == s) {
                    assert_eq!(find_op(p, s), Ok(None), "sub {s}");
                }
            }
        }
        Err(_) => {
            for s in [0, 1, 2, u32::MAX] {
                let found = find_op(p, s);
                if rev.is_err() {
                    assert!(found.is_err(), "find_op ignores a bad header");
                }
            }
        }
    }
}

fn check_lease_payload(kind: LeaseKind, p: &[u8]) {
    let Ok(rec) = decode_lease(kind, p) else {
        return;
    };
    assert!(rec.id() > 0);
    assert_eq!(FrameKind::of_lease(&rec).lease_kind(), Some(kind));
    if let LeaseRecord::Grant { ttl, .. } = rec {
        assert!(ttl > 0);
    }
    let mut again = Vec::new();
    encode_lease(&rec, &mut again);
    assert_eq!(again.as_slice(), p, "lease record is not canonical");
}

struct OwnedOp {
    sub: u32,
    kind: OpKind,
    key: Vec<u8>,
    value: Vec<u8>,
    create_revision: u64,
    version: u64,
    lease: i64,
    prev_mod_revision: u64,
}

impl OwnedOp {
    fn as_record(&self) -> RecordOp<'_> {
        RecordOp {
            sub: self.sub,
            kind: self.kind,
            key: &self.key,
            value: &self.value,
            create_revision: self.create_revision,
            version: self.version,
            lease: self.lease,
            prev_mod_revision: self.prev_mod_revision,
        }
    }

    fn valid(&self) -> bool {
        !self.key.is_empty()
            && self.version <= MAX_COUNTER
            && self.create_revision <= MAX_COUNTER
            && self.prev_mod_revision <= MAX_COUNTER
            && match self.kind {
                OpKind::Put => self.version > 0 && self.create_revision > 0,
                OpKind::Delete => {
                    self.value.is_empty()
                        && self.create_revision == 0
                        && self.version == 0
                        && self.lease == 0
                }
            }
    }
}

/// Builds a record with the encoder and checks that it decodes exactly
/// when it obeys the record rules of format.md §5.4.
fn encoded_txn_round_trip(input: &mut Input<'_>) {
    let sane = input.bool();
    let revision = if sane {
        1 + input.byte() as u64
    } else {
        input.wild_u64()
    };
    let count = input.below(6);
    let mut ops = Vec::new();
    let mut sub = 0u32;
    for _ in 0..count {
        sub = if sane || input.byte() < 200 {
            sub.wrapping_add(1 + input.byte() as u32 % 3)
        } else {
            input.u32()
        };
        let kind = if input.bool() {
            OpKind::Put
        } else {
            OpKind::Delete
        };
        let key_len = if sane {
            1 + input.below(8)
        } else {
            input.below(9)
        };
        let key = input.bytes(key_len).to_vec();
        let value = if kind == OpKind::Put || !sane {
            let n = input.byte() as usize;
            vec![input.byte(); n * 17]
        } else {
            Vec::new()
        };
        let op = if sane && kind == OpKind::Put {
            OwnedOp {
                sub,
                kind,
                key,
                value,
                create_revision: 1 + input.byte() as u64,
                version: 1 + input.byte() as u64,
                lease: input.byte() as i64,
                prev_mod_revision: input.byte() as u64,
            }
        } else if sane {
            OwnedOp {
                sub,
                kind,
                key,
                value,
                create_revision: 0,
                version: 0,
                lease: 0,
                prev_mod_revision: input.byte() as u64,
            }
        } else {
            OwnedOp {
                sub,
                kind,
                key,
                value,
                create_revision: input.wild_u64(),
                version: input.wild_u64(),
                lease: input.wild_u64() as i64,
                prev_mod_revision: input.wild_u64(),
            }
        };
        ops.push(op);
    }
    let encoding = if input.bool() {
        OpEncoding::Compact
    } else {
        OpEncoding::Fixed
    };
    if encoding == OpEncoding::Compact {
        // Compact ops store none of a delete's put fields (format.md §5.2).
        for op in ops.iter_mut().filter(|o| o.kind == OpKind::Delete) {
            op.value.clear();
            (op.create_revision, op.version, op.lease) = (0, 0, 0);
        }
    }
    let records: Vec<RecordOp<'_>> = ops.iter().map(OwnedOp::as_record).collect();
    let mut payload = Vec::new();
    encode_txn_as(encoding, revision, &records, &mut payload);
    let subs_increase = records.windows(2).all(|w| w[0].sub < w[1].sub);
    let valid = (1..=MAX_COUNTER).contains(&revision)
        && !ops.is_empty()
        && subs_increase
        && ops.iter().all(OwnedOp::valid);
    match decode_txn(&payload) {
        Ok((r, decoded)) => {
            assert!(valid, "invalid record accepted");
            assert_eq!(r, revision);
            assert_eq!(decoded, records);
            assert_eq!(op_encoding(&payload), Ok(encoding));
        }
        Err(e) => assert!(!valid, "valid record rejected: {e:?}"),
    }
    check_txn_payload(&payload);
    let lvl = level(input);
    let mut buf = Vec::new();
    encode_frame(FrameKind::Txn, &payload, lvl, &mut buf);
    let (f, len) = frame::decode_frame(&buf).expect("an encoded frame decodes");
    assert_eq!(len, buf.len());
    assert_eq!(f.payload().expect("payload").as_ref(), payload.as_slice());
    check_frame(&buf, &f, len);
}

fn encoded_lease_round_trip(input: &mut Input<'_>) {
    let id = input.wild_u64() as i64;
    let rec = match input.byte() % 3 {
        0 => LeaseRecord::Grant {
            id,
            ttl: input.wild_u64() as i64,
            deadline_ms: input.wild_u64(),
        },
        1 => LeaseRecord::KeepAlive {
            id,
            deadline_ms: input.wild_u64(),
        },
        _ => LeaseRecord::Revoke { id },
    };
    let valid = id > 0 && !matches!(rec, LeaseRecord::Grant { ttl, .. } if ttl <= 0);
    let mut payload = Vec::new();
    encode_lease(&rec, &mut payload);
    let kind = FrameKind::of_lease(&rec).lease_kind().unwrap();
    match decode_lease(kind, &payload) {
        Ok(back) => {
            assert!(valid, "invalid lease record accepted: {rec:?}");
            assert_eq!(back, rec);
        }
        Err(e) => assert!(!valid, "valid lease record rejected: {rec:?}: {e:?}"),
    }
    for other in LEASE_KINDS {
        if other != kind {
            // Records of different kinds have different lengths.
            assert!(decode_lease(other, &payload).is_err());
        }
    }
    let mut buf = Vec::new();
    encode_frame(FrameKind::of_lease(&rec), &payload, None, &mut buf);
    let (f, len) = frame::decode_frame(&buf).expect("an encoded lease frame decodes");
    check_frame(&buf, &f, len);
}

/// Target `decode_manifest`: the MANIFEST and the segment header.
pub fn decode_manifest(data: &[u8]) {
    if let Ok((m, version)) = revkv::format::manifest::decode_manifest_and_version(data) {
        check_manifest_invariants(&m);
        let crc_at = data.len() - 4;
        assert_eq!(
            written_now(&encode_manifest_as(version, &m), crc_at),
            written_now(data, crc_at),
            "MANIFEST is not canonical"
        );
    }
    match decode_segment_header(data) {
        Ok(id) => {
            assert!(data.len() >= SEGMENT_HEADER_LEN);
            let h = written_now(&encode_segment_header(id), 24);
            let data = written_now(&data[..SEGMENT_HEADER_LEN], 24);
            // Bytes +12..+16 and +28..+32 are reserved and not checked;
            // the CRC covers +12..+16, so only a zero word there gives
            // back the encoder's bytes.
            assert_eq!(&h[..12], &data[..12]);
            assert_eq!(&h[16..24], &data[16..24]);
            if data[12..16] == [0; 4] {
                assert_eq!(&h[..28], &data[..28], "segment header is not canonical");
            }
        }
        Err(e) => check_decode_error(&e, data.len()),
    }
    // Structure-aware: a MANIFEST built from the input.
    let mut input = Input::new(data);
    let count = input.below(12);
    let small = input.bool();
    let segments: Vec<u64> = (0..count)
        .map(|_| {
            if small {
                input.byte() as u64 % 16
            } else {
                input.wild_u64()
            }
        })
        .collect();
    let m = Manifest {
        segments,
        next_segment_id: if small {
            input.byte() as u64 % 20
        } else {
            input.wild_u64()
        },
        compact_scheduled: input.wild_u64(),
        compact_finished: input.wild_u64(),
        initial_revision: match input.byte() % 4 {
            0 => 0,
            1 => input.wild_u64(),
            _ => 1,
        },
    };
    // Versions 1 and 2 lay it out without the initial revision (0 there).
    let version = 1 + input.below(revkv::format::FORMAT_VERSION as usize) as u32;
    let expected = if version < 3 {
        Manifest {
            initial_revision: 0,
            ..m.clone()
        }
    } else {
        m.clone()
    };
    let valid = manifest_valid(&expected);
    let buf = encode_manifest_as(version, &m);
    match revkv::format::manifest::decode_manifest(&buf) {
        Ok(back) => {
            assert!(valid, "invalid MANIFEST accepted: {m:?}");
            assert_eq!(back, expected);
        }
        Err(e) => assert!(!valid, "valid MANIFEST rejected: {m:?}: {e:?}"),
    }
    for cut in 0..buf.len() {
        assert!(revkv::format::manifest::decode_manifest(&buf[..cut]).is_err());
    }
    // Any change to one byte is caught (CRC-32 catches every burst of up
    // to 32 bits; the header fields are checked on their own).
    let at = input.below(buf.len());
    let mut bad = buf.clone();
    bad[at] ^= input.byte().max(1);
    assert!(
        revkv::format::manifest::decode_manifest(&bad).is_err(),
        "MANIFEST with byte {at} changed accepted"
    );
}

/// Whether a MANIFEST with these fields is valid (format.md §8.1).
fn manifest_valid(m: &Manifest) -> bool {
    let mut sorted = m.segments.clone();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.len() == m.segments.len()
        && m.segments.iter().all(|&id| id < m.next_segment_id)
        && m.next_segment_id <= MAX_COUNTER
        && m.compact_scheduled <= MAX_COUNTER
        && m.compact_finished <= m.compact_scheduled
        && m.initial_revision <= 1
}

fn check_manifest_invariants(m: &Manifest) {
    let mut sorted = m.segments.clone();
    sorted.sort_unstable();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]), "duplicate segment");
    assert!(m.segments.iter().all(|&id| id < m.next_segment_id));
    assert!(m.compact_finished <= m.compact_scheduled);
    assert!(m.initial_revision <= 1);
}

/// Target `decode_idx`: the revision index file.
pub fn decode_idx(data: &[u8]) {
    let header = decode_idx_header(data);
    match revkv::format::idx::decode_idx(data) {
        Ok((id, entries)) => {
            assert_eq!(header, Ok((id, entries.len())));
            assert_eq!(data.len(), IDX_HEADER_LEN + entries.len() * IDX_ENTRY_LEN);
            assert!(entries.windows(2).all(|w| w[0].revision < w[1].revision));
            for (i, e) in entries.iter().enumerate() {
                assert_eq!(decode_idx_entry(data, i), Ok(*e));
            }
            // Canonical except for the reserved word at +28.
            let mut expected = written_now(data, 24);
            expected[28..32].fill(0);
            assert_eq!(
                written_now(&encode_idx(id, &entries), 24),
                expected,
                ".idx is not canonical"
            );
        }
        Err(e) => check_decode_error(&e, data.len()),
    }
    if let Ok((_, n)) = header {
        assert_eq!(data.len(), IDX_HEADER_LEN + n * IDX_ENTRY_LEN);
        assert!(decode_idx_entry(data, n).is_err(), "entry past the end");
    }
    let mut input = Input::new(data);
    for _ in 0..4 {
        let _ = decode_idx_entry(data, input.wild_u64() as usize);
    }
    // Structure-aware: an index built from the input.
    let id = input.wild_u64();
    let count = input.below(24);
    let mut rev = 0u64;
    let entries: Vec<IdxEntry> = (0..count)
        .map(|_| {
            rev = match input.byte() {
                0 => input.wild_u64(),
                b => rev.saturating_add(b as u64 % 4),
            };
            IdxEntry {
                revision: rev,
                offset: input.wild_u64(),
                len: input.u32(),
            }
        })
        .collect();
    let valid = entries.windows(2).all(|w| w[0].revision < w[1].revision);
    let buf = encode_idx(id, &entries);
    match revkv::format::idx::decode_idx(&buf) {
        Ok(back) => {
            assert!(valid, "unordered index accepted");
            assert_eq!(back, (id, entries.clone()));
        }
        Err(e) => assert!(!valid, "valid index rejected: {e:?}"),
    }
    if valid {
        let at = input.below(buf.len());
        let mut bad = buf.clone();
        bad[at] ^= input.byte().max(1);
        let reserved = (28..32).contains(&at);
        assert_eq!(
            revkv::format::idx::decode_idx(&bad).is_ok(),
            reserved,
            "index with byte {at} changed"
        );
        for cut in 0..buf.len() {
            assert!(revkv::format::idx::decode_idx(&buf[..cut]).is_err());
        }
    }
}

/// Target `decode_checkpoint`: the key-index checkpoint (`KEYINDEX`).
pub fn decode_checkpoint(data: &[u8]) {
    use revkv::format::checkpoint::{
        decode_checkpoint, CheckpointEncoder, CheckpointHeader, CheckpointLease, CheckpointRev,
    };
    match decode_checkpoint(data) {
        Ok((header, keys)) => {
            let mut listed = Vec::new();
            let mut failed = None;
            for k in keys {
                match k {
                    Ok(k) => listed.push((k.key.to_vec(), k.lease, k.revs().collect::<Vec<_>>())),
                    Err(e) => {
                        check_decode_error(&e, data.len());
                        failed = Some(e);
                    }
                }
            }
            if failed.is_none() {
                assert_eq!(listed.len() as u64, header.key_count);
                assert!(listed.windows(2).all(|w| w[0].0 < w[1].0), "keys unordered");
                for (_, _, revs) in &listed {
                    assert!(!revs.is_empty());
                    assert!(revs.windows(2).all(|w| w[0].main < w[1].main));
                    assert!(revs
                        .iter()
                        .all(|r| r.main >= 1 && r.main <= header.revision));
                }
                // Canonical except for the reserved word at +60.
                let mut enc = CheckpointEncoder::new(&header);
                for (k, lease, revs) in &listed {
                    enc.key(k, *lease, revs);
                }
                let crc_at = data.len() - 4;
                let mut expected = written_now(data, crc_at);
                expected[60..64].fill(0);
                let again = written_now(&enc.finish(), crc_at);
                assert_eq!(again, expected, "not canonical");
            }
        }
        Err(e) => check_decode_error(&e, data.len()),
    }
    // Structure-aware: a checkpoint built from the input.
    let mut input = Input::new(data);
    let revision = input.wild_u64();
    let segments = (0..input.below(4)).map(|_| input.wild_u64()).collect();
    let leases = (0..input.below(3))
        .map(|_| CheckpointLease {
            id: input.wild_u64() as i64,
            ttl: input.wild_u64() as i64,
            deadline_ms: input.wild_u64(),
        })
        .collect();
    let mut keys: Vec<(Vec<u8>, i64, Vec<CheckpointRev>)> = Vec::new();
    for _ in 0..input.below(16) {
        let key = (0..input.below(5)).map(|_| input.byte()).collect();
        let mut main = 0u64;
        let revs = (0..input.below(4))
            .map(|_| {
                main = match input.byte() {
                    0 => input.wild_u64(),
                    b => main.saturating_add(u64::from(b % 3)),
                };
                CheckpointRev {
                    main,
                    sub: input.u32() >> input.below(32),
                    tombstone: input.bool(),
                }
            })
            .collect();
        keys.push((key, input.wild_u64() as i64, revs));
    }
    let header = CheckpointHeader {
        segments,
        revision,
        compact_scheduled: revision.min(input.wild_u64()),
        compact_finished: revision.min(input.wild_u64()),
        end: input.wild_u64(),
        key_count: keys.len() as u64,
        leases,
    };
    let valid = !header.segments.is_empty()
        && header.revision <= MAX_COUNTER
        && header.compact_finished <= header.compact_scheduled
        && keys.windows(2).all(|w| w[0].0 < w[1].0)
        && keys.iter().all(|(k, _, revs)| {
            !k.is_empty()
                && !revs.is_empty()
                && revs.windows(2).all(|w| w[0].main < w[1].main)
                && revs
                    .iter()
                    .all(|r| r.main >= 1 && r.main <= header.revision && r.sub < 1 << 31)
        });
    let mut enc = CheckpointEncoder::new(&header);
    for (k, lease, revs) in &keys {
        enc.key(k, *lease, revs);
    }
    let buf = enc.finish();
    let decoded = decode_checkpoint(&buf).and_then(|(h, ks)| {
        let ks = ks
            .map(|k| k.map(|k| (k.key.to_vec(), k.lease, k.revs().collect::<Vec<_>>())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((h, ks))
    });
    match decoded {
        Ok(back) => {
            assert!(valid, "invalid checkpoint accepted: {header:?}");
            assert_eq!(back, (header, keys));
        }
        Err(e) => assert!(!valid, "valid checkpoint rejected: {e:?}"),
    }
}
