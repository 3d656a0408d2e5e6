//! Lease records: the payloads of lease frames. Leases are not revisions;
//! their frames sit in the log between transaction frames.
//!
//! ```text
//! grant (frame kind 2), 24 bytes:      keep-alive (kind 4), 16 bytes:
//! +0  i64  lease id (> 0)              +0  i64  lease id (> 0)
//! +8  i64  granted TTL in seconds (>0) +8  u64  deadline, Unix ms
//! +16 u64  deadline, Unix ms
//! revoke (kind 3), 8 bytes:
//! +0  i64  lease id (> 0)
//! ```

use super::{DecodeError, Reader};

/// One lease event as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseRecord {
    /// A lease was granted (or granted again after a revoke).
    Grant {
        /// Lease id.
        id: i64,
        /// Granted TTL, seconds.
        ttl: i64,
        /// When it expires unless kept alive, in Unix milliseconds.
        deadline_ms: u64,
    },
    /// A lease was kept alive: its new deadline.
    KeepAlive {
        /// Lease id.
        id: i64,
        /// New deadline, Unix milliseconds.
        deadline_ms: u64,
    },
    /// A lease was revoked (its keys were deleted by the transaction frame
    /// just before this one).
    Revoke {
        /// Lease id.
        id: i64,
    },
}

impl LeaseRecord {
    /// The lease this record is about.
    pub fn id(&self) -> i64 {
        match *self {
            LeaseRecord::Grant { id, .. }
            | LeaseRecord::KeepAlive { id, .. }
            | LeaseRecord::Revoke { id } => id,
        }
    }
}

/// Encodes a lease record's payload.
pub fn encode_lease(rec: &LeaseRecord, out: &mut Vec<u8>) {
    match *rec {
        LeaseRecord::Grant {
            id,
            ttl,
            deadline_ms,
        } => {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&ttl.to_le_bytes());
            out.extend_from_slice(&deadline_ms.to_le_bytes());
        }
        LeaseRecord::KeepAlive { id, deadline_ms } => {
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&deadline_ms.to_le_bytes());
        }
        LeaseRecord::Revoke { id } => out.extend_from_slice(&id.to_le_bytes()),
    }
}

/// Which lease record a frame kind holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKind {
    /// Frame kind 2.
    Grant,
    /// Frame kind 4.
    KeepAlive,
    /// Frame kind 3.
    Revoke,
}

/// Decodes a lease record payload of the given kind.
pub fn decode_lease(kind: LeaseKind, payload: &[u8]) -> Result<LeaseRecord, DecodeError> {
    let mut r = Reader::new(payload);
    let id = r.i64()?;
    if id <= 0 {
        return Err(DecodeError::invalid(0, "lease id not positive"));
    }
    let rec = match kind {
        LeaseKind::Grant => {
            let ttl = r.i64()?;
            if ttl <= 0 {
                return Err(DecodeError::invalid(8, "lease TTL not positive"));
            }
            LeaseRecord::Grant {
                id,
                ttl,
                deadline_ms: r.u64()?,
            }
        }
        LeaseKind::KeepAlive => LeaseRecord::KeepAlive {
            id,
            deadline_ms: r.u64()?,
        },
        LeaseKind::Revoke => LeaseRecord::Revoke { id },
    };
    if r.pos() != payload.len() {
        return Err(DecodeError::invalid(
            r.pos(),
            "bytes after the lease record",
        ));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        for (kind, rec, len) in [
            (
                LeaseKind::Grant,
                LeaseRecord::Grant {
                    id: 7,
                    ttl: 30,
                    deadline_ms: 1_700_000_000_000,
                },
                24,
            ),
            (
                LeaseKind::KeepAlive,
                LeaseRecord::KeepAlive {
                    id: 7,
                    deadline_ms: 5,
                },
                16,
            ),
            (LeaseKind::Revoke, LeaseRecord::Revoke { id: 7 }, 8),
        ] {
            let mut buf = Vec::new();
            encode_lease(&rec, &mut buf);
            assert_eq!(buf.len(), len);
            assert_eq!(decode_lease(kind, &buf), Ok(rec));
            assert_eq!(rec.id(), 7);
            for cut in 0..buf.len() {
                assert!(decode_lease(kind, &buf[..cut]).is_err());
            }
            let mut long = buf.clone();
            long.push(0);
            assert!(decode_lease(kind, &long).is_err());
        }
        assert!(decode_lease(LeaseKind::Revoke, &0i64.to_le_bytes()).is_err());
    }
}
