//! The answer to `lease timetolive`, as etcd gives it.

/// What `lease timetolive` prints: etcd's `LeaseTimeToLiveResponse`. For a
/// lease that is unknown, revoked or expired etcd answers TTL -1 and granted
/// TTL 0 (the library fails with "lease not found"; the tool answers as
/// etcd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTtl {
    /// The lease id.
    pub id: i64,
    /// Seconds left, -1 for a lease that is gone.
    pub ttl: i64,
    /// The TTL it was granted with, 0 for a lease that is gone.
    pub granted_ttl: i64,
    /// Its keys, when asked for.
    pub keys: Vec<Vec<u8>>,
}

impl LeaseTtl {
    /// The answer for a lease that is gone.
    pub fn gone(id: i64) -> LeaseTtl {
        LeaseTtl {
            id,
            ttl: -1,
            granted_ttl: 0,
            keys: Vec::new(),
        }
    }
}

impl From<revkv::LeaseTimeToLive> for LeaseTtl {
    fn from(t: revkv::LeaseTimeToLive) -> LeaseTtl {
        LeaseTtl {
            id: t.id,
            ttl: t.ttl,
            granted_ttl: t.granted_ttl,
            keys: t.keys,
        }
    }
}
