//! Transactions: compares, then the `success` or `failure` list of operations.
//! Building them, checking them, and evaluating compares; evaluating a whole
//! transaction against the store is `evaluate.rs`.

use crate::error::{Error, Result};
use crate::types::{
    DeleteRequest, DeleteResponse, KeyRange, KeyValue, PutRequest, PutResponse, RangeRequest,
    RangeResponse,
};
use std::cmp::Ordering;

/// How a compare relates the key's field to the given operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// field == operand
    Equal,
    /// field != operand
    NotEqual,
    /// field < operand
    Less,
    /// field > operand
    Greater,
}

/// The field a compare looks at, with the operand to compare it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    /// The value (bytewise order). A value compare on an absent key is false.
    Value(Vec<u8>),
    /// The create revision (0 when absent).
    CreateRevision(u64),
    /// The mod revision (0 when absent).
    ModRevision(u64),
    /// The version (0 when absent).
    Version(u64),
    /// The lease (0 when absent or not leased).
    Lease(i64),
}

/// One condition of a transaction, over a key or a range of keys. Over a
/// range, every key in it must satisfy the condition; an empty range compares
/// like one absent key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    /// The key or keys compared.
    pub range: KeyRange,
    /// The relation.
    pub op: CompareOp,
    /// Field and operand.
    pub target: CompareTarget,
}

impl Compare {
    /// A compare of `key`'s `target` field with `op`.
    pub fn new(key: impl Into<Vec<u8>>, op: CompareOp, target: CompareTarget) -> Compare {
        Compare {
            range: KeyRange::single(key),
            op,
            target,
        }
    }

    /// Compares the value.
    pub fn value(key: impl Into<Vec<u8>>, op: CompareOp, value: impl Into<Vec<u8>>) -> Compare {
        Compare::new(key, op, CompareTarget::Value(value.into()))
    }

    /// Compares the version (0 for an absent key).
    pub fn version(key: impl Into<Vec<u8>>, op: CompareOp, version: u64) -> Compare {
        Compare::new(key, op, CompareTarget::Version(version))
    }

    /// Compares the create revision (0 for an absent key).
    pub fn create_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: u64) -> Compare {
        Compare::new(key, op, CompareTarget::CreateRevision(revision))
    }

    /// Compares the mod revision (0 for an absent key).
    pub fn mod_revision(key: impl Into<Vec<u8>>, op: CompareOp, revision: u64) -> Compare {
        Compare::new(key, op, CompareTarget::ModRevision(revision))
    }

    /// Compares the lease (0 for an absent key).
    pub fn lease(key: impl Into<Vec<u8>>, op: CompareOp, lease: i64) -> Compare {
        Compare::new(key, op, CompareTarget::Lease(lease))
    }

    /// Applies the compare to every key of `range` instead of one key.
    pub fn over(mut self, range: KeyRange) -> Compare {
        self.range = range;
        self
    }

    /// Evaluates the compare against the key-values its range holds now.
    pub(crate) fn holds(&self, kvs: &[KeyValue]) -> bool {
        if kvs.is_empty() {
            if matches!(self.target, CompareTarget::Value(_)) {
                return false;
            }
            return self.holds_for(&KeyValue::default());
        }
        kvs.iter().all(|kv| self.holds_for(kv))
    }

    fn holds_for(&self, kv: &KeyValue) -> bool {
        let ord = match &self.target {
            CompareTarget::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
            CompareTarget::CreateRevision(r) => kv.create_revision.cmp(r),
            CompareTarget::ModRevision(r) => kv.mod_revision.cmp(r),
            CompareTarget::Version(v) => kv.version.cmp(v),
            CompareTarget::Lease(l) => kv.lease.cmp(l),
        };
        match self.op {
            CompareOp::Equal => ord == Ordering::Equal,
            CompareOp::NotEqual => ord != Ordering::Equal,
            CompareOp::Less => ord == Ordering::Less,
            CompareOp::Greater => ord == Ordering::Greater,
        }
    }
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Put a key.
    Put(PutRequest),
    /// Delete a key or range.
    Delete(DeleteRequest),
    /// Read a key or range. Inside a transaction that writes, a read at
    /// revision 0 sees the transaction's own earlier writes.
    ///
    /// Each op's response carries the revision at its point of the
    /// transaction, as etcd's do: the store's revision before the
    /// transaction until the first op that writes something (a delete of
    /// nothing writes nothing), the transaction's revision from that op on.
    Range(RangeRequest),
}

impl Op {
    /// A put of `value` at `key`.
    pub fn put(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Op {
        Op::Put(PutRequest::new(key, value))
    }

    /// A delete of `key`.
    pub fn delete(key: impl Into<Vec<u8>>) -> Op {
        Op::Delete(DeleteRequest::key(key))
    }

    /// A read of `key`.
    pub fn get(key: impl Into<Vec<u8>>) -> Op {
        Op::Range(RangeRequest::key(key))
    }

    pub(crate) fn is_write(&self) -> bool {
        !matches!(self, Op::Range(_))
    }
}

/// The answer to one [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResponse {
    /// Answer to [`Op::Put`].
    Put(PutResponse),
    /// Answer to [`Op::Delete`].
    Delete(DeleteResponse),
    /// Answer to [`Op::Range`].
    Range(RangeResponse),
}

/// A transaction: if every compare holds, run `success`, else `failure`.
/// The whole transaction is one revision when it writes, none when it does not.
///
/// It is refused whole, before anything runs, for what etcd refuses, and
/// of several faults for the one etcd reports: an empty key (compares, then
/// either branch), a key written twice in one branch, a key or value over
/// the limits; then, in the branch that runs, a put's unknown lease before
/// a read's compacted or future revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Txn {
    /// Conditions, all of which must hold for `success` to run.
    pub compares: Vec<Compare>,
    /// Operations run when every compare holds.
    pub success: Vec<Op>,
    /// Operations run otherwise.
    pub failure: Vec<Op>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Txn {
        Txn::default()
    }

    /// Adds conditions.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Txn {
        self.compares.extend(compares);
        self
    }

    /// Adds operations to the success branch.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.success.extend(ops);
        self
    }

    /// Adds operations to the failure branch.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Txn {
        self.failure.extend(ops);
        self
    }

    /// True when either branch may write.
    pub(crate) fn may_write(&self) -> bool {
        self.success.iter().chain(&self.failure).any(Op::is_write)
    }
}

/// The answer to a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TxnResponse {
    /// The store revision after the transaction: its own revision when it
    /// wrote, the current revision otherwise.
    pub revision: u64,
    /// True when every compare held and `success` ran.
    pub succeeded: bool,
    /// One answer per operation of the branch that ran.
    pub responses: Vec<OpResponse>,
}

/// Builders (see [`RangeResponse::new`](crate::RangeResponse::new)).
impl TxnResponse {
    /// The answer at `revision` of a transaction whose compares failed and
    /// that has no answers yet.
    pub fn new(revision: u64) -> TxnResponse {
        TxnResponse {
            revision,
            ..TxnResponse::default()
        }
    }

    /// Sets whether every compare held (and `success` ran).
    pub fn succeeded(mut self, succeeded: bool) -> TxnResponse {
        self.succeeded = succeeded;
        self
    }

    /// Sets the answers, one per operation of the branch that ran.
    pub fn responses(mut self, responses: Vec<OpResponse>) -> TxnResponse {
        self.responses = responses;
        self
    }
}

/// Limits that requests are checked against before anything happens.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_key: usize,
    pub max_value: usize,
}

pub(crate) fn check_key(key: &[u8], limits: Limits) -> Result<()> {
    if key.is_empty() {
        return Err(Error::EmptyKey);
    }
    if key.len() > limits.max_key {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max: limits.max_key,
        });
    }
    Ok(())
}

/// Checks a range's keys against the limits. A range whose end sorts
/// before its key is accepted: it holds no key, and a read, delete or
/// compare over it finds nothing, as etcd's do.
pub(crate) fn check_range(range: &KeyRange, limits: Limits) -> Result<()> {
    check_key(&range.key, limits)?;
    if range.range_end.len() > limits.max_key {
        return Err(Error::KeyTooLarge {
            len: range.range_end.len(),
            max: limits.max_key,
        });
    }
    Ok(())
}

/// Checks the range of a watch: as [`check_range`], and refuses a range
/// that holds no key (`range_end` not after `key`) as etcd does ("watcher
/// range is empty"), rather than accepting a watch that can never fire.
pub(crate) fn check_watch_range(range: &KeyRange, limits: Limits) -> Result<()> {
    check_range(range, limits)?;
    if !range.is_single() && range.range_end != [0] && range.range_end <= range.key {
        return Err(Error::EmptyWatchRange {
            key: range.key.clone(),
            range_end: range.range_end.clone(),
        });
    }
    Ok(())
}

pub(crate) fn check_put(put: &PutRequest, limits: Limits) -> Result<()> {
    check_key(&put.key, limits)?;
    check_value(put, limits)
}

fn check_value(put: &PutRequest, limits: Limits) -> Result<()> {
    if put.value.len() > limits.max_value {
        return Err(Error::ValueTooLarge {
            len: put.value.len(),
            max: limits.max_value,
        });
    }
    Ok(())
}

/// The key an op names first (a range's start).
fn op_key(op: &Op) -> &[u8] {
    match op {
        Op::Put(p) => &p.key,
        Op::Delete(d) => &d.range.key,
        Op::Range(r) => &r.range.key,
    }
}

/// Checks a transaction before it runs, in the order etcd checks one
/// before it is proposed (etcdserver/api/v3rpc `checkTxnRequest`, then
/// `checkIntervals` per branch, then the request's size), so that of two
/// faults the one etcd reports is reported: an empty key anywhere (the
/// compares, then the success ops, then the failure ops), then a key
/// written twice in a branch (two puts, or a put inside a delete range of
/// the same branch; success first), then revkv's size limits on keys and
/// values (where etcd limits the size of the whole request). Both branches
/// are checked, whichever runs. What depends on the store (leases, read
/// revisions) is checked when the branch is chosen (`evaluate.rs`).
pub(crate) fn check_txn(txn: &Txn, limits: Limits) -> Result<()> {
    let ops = || txn.success.iter().chain(&txn.failure);
    if txn.compares.iter().any(|c| c.range.key.is_empty()) || ops().any(|op| op_key(op).is_empty())
    {
        return Err(Error::EmptyKey);
    }
    for branch in [&txn.success, &txn.failure] {
        check_duplicates(branch)?;
    }
    for cmp in &txn.compares {
        check_range(&cmp.range, limits)?;
    }
    for op in ops() {
        match op {
            Op::Put(p) => check_put(p, limits)?,
            Op::Delete(d) => check_range(&d.range, limits)?,
            Op::Range(r) => check_range(&r.range, limits)?,
        }
    }
    Ok(())
}

/// Refuses a branch that writes one key twice: two puts, or a put inside
/// one of its delete ranges.
fn check_duplicates(branch: &[Op]) -> Result<()> {
    let mut puts: Vec<&[u8]> = Vec::new();
    let mut deletes: Vec<&KeyRange> = Vec::new();
    for op in branch {
        match op {
            Op::Put(p) => puts.push(&p.key),
            Op::Delete(d) => deletes.push(&d.range),
            Op::Range(_) => {}
        }
    }
    puts.sort_unstable();
    if let Some(key) = puts.windows(2).find_map(|w| match w {
        [a, b] if a == b => Some(a),
        _ => None,
    }) {
        return Err(Error::DuplicateKeyInTxn { key: key.to_vec() });
    }
    for key in &puts {
        if deletes.iter().any(|d| d.contains(key)) {
            return Err(Error::DuplicateKeyInTxn { key: key.to_vec() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_key: 16,
        max_value: 16,
    };

    fn kv(value: &[u8], version: u64) -> KeyValue {
        KeyValue {
            key: b"k".to_vec(),
            value: value.to_vec(),
            create_revision: 2,
            mod_revision: 5,
            version,
            lease: 0,
        }
    }

    #[test]
    fn absent_key_compares_as_zeros_and_value_compare_is_false() {
        assert!(Compare::mod_revision("k", CompareOp::Equal, 0).holds(&[]));
        assert!(Compare::version("k", CompareOp::Less, 1).holds(&[]));
        assert!(!Compare::value("k", CompareOp::Equal, "").holds(&[]));
        assert!(!Compare::value("k", CompareOp::NotEqual, "x").holds(&[]));
    }

    #[test]
    fn compares_each_field_with_each_op() {
        let kvs = [kv(b"b", 3)];
        assert!(Compare::value("k", CompareOp::Equal, "b").holds(&kvs));
        assert!(Compare::value("k", CompareOp::Greater, "a").holds(&kvs));
        assert!(Compare::value("k", CompareOp::Less, "c").holds(&kvs));
        assert!(!Compare::value("k", CompareOp::NotEqual, "b").holds(&kvs));
        assert!(Compare::version("k", CompareOp::Equal, 3).holds(&kvs));
        assert!(Compare::create_revision("k", CompareOp::Less, 3).holds(&kvs));
        assert!(Compare::mod_revision("k", CompareOp::Greater, 4).holds(&kvs));
        assert!(Compare::lease("k", CompareOp::Equal, 0).holds(&kvs));
    }

    #[test]
    fn range_compare_needs_every_key() {
        let kvs = [kv(b"a", 1), kv(b"b", 5)];
        assert!(Compare::version("k", CompareOp::Greater, 0).holds(&kvs));
        assert!(!Compare::version("k", CompareOp::Greater, 1).holds(&kvs));
    }

    #[test]
    fn duplicate_writes_are_rejected() {
        let txn = Txn::new().and_then([Op::put("a", "1"), Op::put("a", "2")]);
        assert!(matches!(
            check_txn(&txn, LIMITS),
            Err(Error::DuplicateKeyInTxn { key }) if key == b"a"
        ));
        let txn = Txn::new().or_else([Op::Delete(DeleteRequest::prefix("a")), Op::put("ab", "2")]);
        assert!(matches!(
            check_txn(&txn, LIMITS),
            Err(Error::DuplicateKeyInTxn { key }) if key == b"ab"
        ));
        // The same key in different branches is fine.
        let txn = Txn::new()
            .and_then([Op::put("a", "1")])
            .or_else([Op::put("a", "2")]);
        assert!(check_txn(&txn, LIMITS).is_ok());
    }

    #[test]
    fn bad_keys_values_and_ranges_are_rejected() {
        assert!(matches!(check_key(b"", LIMITS), Err(Error::EmptyKey)));
        assert!(matches!(
            check_key(&[1; 17], LIMITS),
            Err(Error::KeyTooLarge { len: 17, max: 16 })
        ));
        assert!(matches!(
            check_put(&PutRequest::new("k", vec![0; 17]), LIMITS),
            Err(Error::ValueTooLarge { len: 17, max: 16 })
        ));
        // A range that holds no key is a range like any other, except to
        // a watch.
        for empty in [KeyRange::range("b", "a"), KeyRange::range("b", "b")] {
            assert!(check_range(&empty, LIMITS).is_ok());
            assert!(matches!(
                check_watch_range(&empty, LIMITS),
                Err(Error::EmptyWatchRange { key, .. }) if key == b"b"
            ));
        }
        for range in [
            KeyRange::from_key("b"),
            KeyRange::all(),
            KeyRange::single("b"),
            KeyRange::range("b", "b\0"),
        ] {
            assert!(check_range(&range, LIMITS).is_ok());
            assert!(check_watch_range(&range, LIMITS).is_ok(), "{range:?}");
        }
    }
}
