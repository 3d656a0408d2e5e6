//! Leases: the table of live leases (TTL, deadline, attached keys) and the
//! rules that change it. Deadlines are read against a
//! [`Clock`](crate::Clock); the expiry thread is `engine/expiry.rs`.
//!
//! A lease's deadline is wall-clock time (Unix milliseconds) and is persisted
//! with every grant and keep-alive, so a restart neither resets a TTL nor
//! forgets one: a lease whose deadline passed while the store was closed is
//! revoked right after open. Expiry is driven from this table, which recovery
//! rebuilds from the log, never from a watch on old history (incident 1).

use crate::format::lease::LeaseRecord;
use crate::types::{Event, EventKind};
use std::collections::{BTreeSet, HashMap};

/// The answer to a lease grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrantResponse {
    /// The lease id.
    pub id: i64,
    /// The granted TTL in seconds.
    pub ttl: i64,
}

/// What [`Db::lease_time_to_live`](crate::Db::lease_time_to_live) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseTimeToLive {
    /// The lease id.
    pub id: i64,
    /// Seconds left before expiry (rounded up; 0 when due).
    pub ttl: i64,
    /// The TTL the lease was granted with.
    pub granted_ttl: i64,
    /// Keys attached to it, when asked for.
    pub keys: Vec<Vec<u8>>,
}

impl LeaseTimeToLive {
    /// etcd's answer for a lease it does not know (never granted, revoked
    /// or expired): TTL -1, granted TTL 0, no keys.
    /// [`Db::lease_time_to_live`](crate::Db::lease_time_to_live) fails
    /// with [`Error::LeaseNotFound`](crate::Error::LeaseNotFound) instead;
    /// a layer that serves etcd's API answers this in its place, as etcd's
    /// own gRPC layer does with its lessor's "lease not found".
    pub fn not_found(id: i64) -> LeaseTimeToLive {
        LeaseTimeToLive {
            id,
            ttl: -1,
            granted_ttl: 0,
            keys: Vec::new(),
        }
    }
}

/// One live lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lease {
    pub(crate) ttl: i64,
    pub(crate) deadline_ms: u64,
    pub(crate) keys: BTreeSet<Vec<u8>>,
}

/// Every live lease.
#[derive(Debug, Default)]
pub(crate) struct LeaseTable {
    pub(crate) leases: HashMap<i64, Lease>,
}

impl LeaseTable {
    pub(crate) fn grant(&mut self, id: i64, ttl: i64, deadline_ms: u64) {
        let keys = self.leases.remove(&id).map(|l| l.keys).unwrap_or_default();
        self.leases.insert(
            id,
            Lease {
                ttl,
                deadline_ms,
                keys,
            },
        );
    }

    pub(crate) fn keep_alive(&mut self, id: i64, deadline_ms: u64) {
        if let Some(l) = self.leases.get_mut(&id) {
            l.deadline_ms = deadline_ms;
        }
    }

    pub(crate) fn revoke(&mut self, id: i64) {
        self.leases.remove(&id);
    }

    /// Attaches `key` to `lease` (0 = none), detaching it from `prev`.
    pub(crate) fn attach(&mut self, key: &[u8], prev: i64, lease: i64) {
        if prev != 0 && prev != lease {
            if let Some(l) = self.leases.get_mut(&prev) {
                l.keys.remove(key);
            }
        }
        if lease != 0 {
            if let Some(l) = self.leases.get_mut(&lease) {
                l.keys.insert(key.to_vec());
            }
        }
    }

    /// Applies a committed lease record to the table.
    pub(crate) fn apply(&mut self, rec: &LeaseRecord) {
        match *rec {
            LeaseRecord::Grant {
                id,
                ttl,
                deadline_ms,
            } => self.grant(id, ttl, deadline_ms),
            LeaseRecord::KeepAlive { id, deadline_ms } => self.keep_alive(id, deadline_ms),
            LeaseRecord::Revoke { id } => self.revoke(id),
        }
    }

    /// Follows a committed event's effect on attachments.
    pub(crate) fn apply_event(&mut self, e: &Event) {
        let prev = e.prev_kv.as_ref().map_or(0, |kv| kv.lease);
        let lease = match e.kind {
            EventKind::Put => e.kv.lease,
            EventKind::Delete => 0,
        };
        if prev != 0 || lease != 0 {
            self.attach(&e.kv.key, prev, lease);
        }
    }

    /// Leases whose deadline is at or before `now_ms`, soonest first.
    pub(crate) fn expired(&self, now_ms: u64) -> Vec<i64> {
        let mut due: Vec<(u64, i64)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.deadline_ms <= now_ms)
            .map(|(&id, l)| (l.deadline_ms, id))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// The earliest deadline of any lease.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.leases.values().map(|l| l.deadline_ms).min()
    }
}

/// Seconds left until `deadline_ms`, rounded up.
pub(crate) fn remaining_secs(deadline_ms: u64, now_ms: u64) -> i64 {
    (deadline_ms.saturating_sub(now_ms)).div_ceil(1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::KeyValue;

    fn put(key: &str, lease: i64, prev_lease: Option<i64>) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: key.into(),
                lease,
                ..KeyValue::default()
            },
            prev_kv: prev_lease.map(|l| KeyValue {
                key: key.into(),
                lease: l,
                ..KeyValue::default()
            }),
        }
    }

    #[test]
    fn attachments_follow_puts_and_deletes() {
        let mut t = LeaseTable::default();
        t.grant(1, 10, 1000);
        t.grant(2, 10, 2000);
        t.apply_event(&put("a", 1, None));
        t.apply_event(&put("b", 1, None));
        t.apply_event(&put("a", 2, Some(1)));
        assert_eq!(t.leases[&1].keys.len(), 1);
        assert!(t.leases[&2].keys.contains(b"a".as_slice()));
        t.apply_event(&put("b", 0, Some(1)));
        assert!(t.leases[&1].keys.is_empty());
        t.apply_event(&Event {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: b"a".to_vec(),
                ..KeyValue::default()
            },
            prev_kv: Some(KeyValue {
                key: b"a".to_vec(),
                lease: 2,
                ..KeyValue::default()
            }),
        });
        assert!(t.leases[&2].keys.is_empty());
    }

    #[test]
    fn expiry_order_and_remaining_time() {
        let mut t = LeaseTable::default();
        t.grant(1, 10, 3000);
        t.grant(2, 10, 1000);
        t.grant(3, 10, 9000);
        assert_eq!(t.expired(3000), vec![2, 1]);
        assert_eq!(t.next_deadline(), Some(1000));
        t.keep_alive(2, 5000);
        assert_eq!(t.expired(3000), vec![1]);
        assert_eq!(remaining_secs(3000, 1001), 2);
        assert_eq!(remaining_secs(3000, 3000), 0);
        assert_eq!(remaining_secs(3000, 4000), 0);
    }
}
