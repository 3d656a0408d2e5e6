//! The writer's lease rules: granting (TTL bounds, id choice), keep-alive
//! (only before the deadline, never moving it back), revoke (its keys'
//! deletion as one revision, then the revoke) and the expiry thread's
//! revoke-if-expired, each staged into the group.

use super::stage::{Group, Stager};
use crate::error::{Error, Result};
use crate::format::lease::LeaseRecord;
use crate::lease::LeaseGrantResponse;
use crate::state::State;
use crate::txn::{Op, Txn};
use crate::types::DeleteRequest;
use std::collections::BTreeSet;

/// The longest lease TTL accepted, in seconds (etcd's limit).
pub(crate) const MAX_LEASE_TTL: i64 = 9_000_000_000;

impl Stager {
    /// Stages a lease grant.
    pub(super) fn lease_grant(
        &mut self,
        group: &mut Group,
        id: i64,
        ttl: i64,
    ) -> Result<LeaseGrantResponse> {
        let now = self.shared.options.clock.now_ms();
        if !(1..=MAX_LEASE_TTL).contains(&ttl) {
            return Err(Error::bad_request(format!(
                "lease TTL {ttl} is not between 1 and {MAX_LEASE_TTL} seconds"
            )));
        }
        let id = if id == 0 {
            self.pick_lease_id(group)
        } else if self.lease_alive(group, id).is_some() {
            return Err(Error::LeaseExists { id });
        } else {
            id
        };
        // (`ttl` is positive here: checked above.)
        let deadline_ms = now.saturating_add(ttl.unsigned_abs().saturating_mul(1000));
        self.stage_grant(id, ttl, deadline_ms, group);
        Ok(LeaseGrantResponse { id, ttl })
    }

    /// Stages a keep-alive; answers the lease's TTL.
    pub(super) fn lease_keep_alive(&mut self, group: &mut Group, id: i64) -> Result<i64> {
        let now = self.shared.options.clock.now_ms();
        let (ttl, deadline) = self
            .lease_alive(group, id)
            .filter(|&(_, deadline)| deadline > now)
            .ok_or(Error::LeaseNotFound { id })?;
        let deadline_ms = now
            // (A negative TTL, which only a crafted checkpoint can carry,
            // saturates as `ttl as u64` did.)
            .saturating_add(u64::try_from(ttl).map_or(u64::MAX, |t| t.saturating_mul(1000)))
            .max(deadline);
        self.stage_lease(LeaseRecord::KeepAlive { id, deadline_ms }, group);
        group.leases.insert(id, Some((ttl, deadline_ms)));
        Ok(ttl)
    }

    /// Stages the deletion of a lease's keys and its revoke; answers the
    /// revision that deleted them.
    pub(super) fn lease_revoke(
        &mut self,
        state: &State,
        group: &mut Group,
        id: i64,
    ) -> Result<u64> {
        if self.lease_alive(group, id).is_none() {
            return Err(Error::LeaseNotFound { id });
        }
        let victims = self.attached_keys(group, id);
        let txn = Txn::new().and_then(
            victims
                .into_iter()
                .map(|k| Op::Delete(DeleteRequest::key(k))),
        );
        let resp = self.run_txn(state, group, txn)?;
        self.stage_lease(LeaseRecord::Revoke { id }, group);
        group.leases.insert(id, None);
        Ok(resp.revision)
    }

    /// [`Stager::lease_revoke`] if the lease's deadline has passed; `None`
    /// when it has not (kept alive since the expiry thread looked).
    pub(super) fn lease_expire(
        &mut self,
        state: &State,
        group: &mut Group,
        id: i64,
    ) -> Result<Option<u64>> {
        let now = self.shared.options.clock.now_ms();
        let (_, deadline) = self
            .lease_alive(group, id)
            .ok_or(Error::LeaseNotFound { id })?;
        if deadline > now {
            return Ok(None);
        }
        self.lease_revoke(state, group, id).map(Some)
    }

    /// Keys attached to lease `id` as the group sees them.
    fn attached_keys(&self, group: &Group, id: i64) -> Vec<Vec<u8>> {
        let table = self.shared.lock_leases();
        let mut keys: BTreeSet<Vec<u8>> = table
            .leases
            .get(&id)
            .map(|l| {
                l.keys
                    .iter()
                    .filter(|k| !group.overlay.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        for (key, head) in &group.overlay {
            if head.kv.as_ref().is_some_and(|kv| kv.lease == id) {
                keys.insert(key.clone());
            }
        }
        keys.into_iter().collect()
    }

    /// A fresh positive lease id that no live lease has.
    fn pick_lease_id(&mut self, group: &Group) -> i64 {
        loop {
            self.id_seed = self.id_seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.id_seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            // (Shifted right once: always below 2^63.)
            let Ok(id) = i64::try_from((z ^ (z >> 31)) >> 1) else {
                continue;
            };
            if id > 0 && self.lease_alive(group, id).is_none() {
                return id;
            }
        }
    }
}
