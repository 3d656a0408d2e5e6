//! The data model (etcd's): revisions, key-values, events, and the request and
//! response structs of the KV API.

/// A revision: `main` is the store revision (one per write transaction),
/// `sub` orders the operations inside that transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision {
    /// The store revision.
    pub main: u64,
    /// The operation's position inside its transaction.
    pub sub: u32,
}

/// A key's state at some revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty when a request asked for keys only).
    pub value: Vec<u8>,
    /// The revision of the put that (re)created the key.
    pub create_revision: u64,
    /// The revision of the last put to the key.
    pub mod_revision: u64,
    /// Number of puts since the key was (re)created: 1 on creation.
    pub version: u64,
    /// The lease the key is attached to, 0 for none.
    pub lease: i64,
}

/// Whether an event is a put or a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A key was created or updated.
    Put,
    /// A key was deleted. The event's kv holds the key and the deleting
    /// revision as `mod_revision`; every other field is zero.
    Delete,
}

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// The key after the change.
    pub kv: KeyValue,
    /// The key before the change, when the watch asked for it and it existed.
    pub prev_kv: Option<KeyValue>,
}

/// The smallest key greater than every key that starts with `prefix`, in
/// etcd's encoding: `[0]` when no such key exists (the range runs to the end).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Which keys a request covers, in etcd's encoding: `range_end` empty means
/// the single key `key`; `range_end == [0]` means every key `>= key`;
/// otherwise the half-open range `[key, range_end)`. `key == [0]` with
/// `range_end == [0]` means every key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyRange {
    /// First key (or the only key).
    pub key: Vec<u8>,
    /// End of the range, see above.
    pub range_end: Vec<u8>,
}

impl KeyRange {
    /// Just `key`.
    pub fn single(key: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            key: key.into(),
            range_end: Vec::new(),
        }
    }

    /// The half-open range `[key, range_end)`.
    pub fn range(key: impl Into<Vec<u8>>, range_end: impl Into<Vec<u8>>) -> KeyRange {
        KeyRange {
            key: key.into(),
            range_end: range_end.into(),
        }
    }

    /// Every key that starts with `prefix` (every key, for an empty prefix).
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> KeyRange {
        let prefix = prefix.into();
        if prefix.is_empty() {
            return KeyRange::all();
        }
        let range_end = prefix_end(&prefix);
        KeyRange {
            key: prefix,
            range_end,
        }
    }

    /// Every key `>= key` (every key, for an empty key).
    pub fn from_key(key: impl Into<Vec<u8>>) -> KeyRange {
        let key = key.into();
        if key.is_empty() {
            return KeyRange::all();
        }
        KeyRange {
            key,
            range_end: vec![0],
        }
    }

    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            key: vec![0],
            range_end: vec![0],
        }
    }

    /// True when this names exactly one key.
    pub fn is_single(&self) -> bool {
        self.range_end.is_empty()
    }

    /// True when `key` falls inside this range.
    pub fn contains(&self, key: &[u8]) -> bool {
        if self.is_single() {
            return key == self.key.as_slice();
        }
        let after_start = key >= self.key.as_slice() || self.key == [0];
        let before_end = self.range_end == [0] || key < self.range_end.as_slice();
        after_start && before_end
    }

    /// The start bound to scan from (an all-keys range starts at the empty key).
    pub(crate) fn scan_start(&self) -> &[u8] {
        if !self.is_single() && self.key == [0] && self.range_end == [0] {
            &[]
        } else {
            &self.key
        }
    }

    /// The exclusive end bound to scan to, `None` for "to the last key".
    pub(crate) fn scan_end(&self) -> Option<&[u8]> {
        if self.range_end == [0] {
            None
        } else {
            Some(&self.range_end)
        }
    }
}

/// A read of one key or a range of keys at a revision.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RangeRequest {
    /// The keys to read.
    pub range: KeyRange,
    /// The revision to read at; 0 means the current revision.
    pub revision: u64,
    /// At most this many key-values are returned; 0 means no limit.
    pub limit: u64,
    /// Return only the count, no key-values.
    pub count_only: bool,
    /// Return key-values without their values.
    pub keys_only: bool,
}

impl RangeRequest {
    /// A read of one key.
    pub fn key(key: impl Into<Vec<u8>>) -> RangeRequest {
        RangeRequest::new(KeyRange::single(key))
    }

    /// A read of `[key, range_end)`.
    pub fn range(key: impl Into<Vec<u8>>, range_end: impl Into<Vec<u8>>) -> RangeRequest {
        RangeRequest::new(KeyRange::range(key, range_end))
    }

    /// A read of every key with this prefix.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> RangeRequest {
        RangeRequest::new(KeyRange::prefix(prefix))
    }

    /// A read of the given key range.
    pub fn new(range: KeyRange) -> RangeRequest {
        RangeRequest {
            range,
            ..RangeRequest::default()
        }
    }

    /// Reads at `revision` (0 = current).
    pub fn revision(mut self, revision: u64) -> RangeRequest {
        self.revision = revision;
        self
    }

    /// Returns at most `limit` key-values (0 = all).
    pub fn limit(mut self, limit: u64) -> RangeRequest {
        self.limit = limit;
        self
    }

    /// Returns only the count.
    pub fn count_only(mut self) -> RangeRequest {
        self.count_only = true;
        self
    }

    /// Returns keys without values.
    pub fn keys_only(mut self) -> RangeRequest {
        self.keys_only = true;
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RangeResponse {
    /// The store's current revision when the read was served (not the
    /// revision read at, when one was asked for). Inside a transaction, the
    /// revision at that point of it, as etcd's: the store's revision before
    /// the transaction until an earlier op wrote something, the
    /// transaction's own revision after.
    pub revision: u64,
    /// The key-values, in key order (empty for `count_only`).
    pub kvs: Vec<KeyValue>,
    /// How many keys the range holds at that revision, whatever the limit.
    pub count: u64,
    /// True when the limit cut the answer short.
    pub more: bool,
}

/// Builders, for code that makes answers (a server relaying them, a test
/// model predicting them); the struct is `#[non_exhaustive]` so that fields
/// can be added.
impl RangeResponse {
    /// An answer served at `revision`, with no key-values, a count of 0 and
    /// `more` false.
    pub fn new(revision: u64) -> RangeResponse {
        RangeResponse {
            revision,
            ..RangeResponse::default()
        }
    }

    /// Sets the key-values (the count is set separately).
    pub fn kvs(mut self, kvs: Vec<KeyValue>) -> RangeResponse {
        self.kvs = kvs;
        self
    }

    /// Sets how many keys the range holds, whatever the limit.
    pub fn count(mut self, count: u64) -> RangeResponse {
        self.count = count;
        self
    }

    /// Sets whether the limit cut the answer short.
    pub fn more(mut self, more: bool) -> RangeResponse {
        self.more = more;
        self
    }
}

/// A put of one key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PutRequest {
    /// The key.
    pub key: Vec<u8>,
    /// The new value.
    pub value: Vec<u8>,
    /// The lease to attach the key to, 0 for none (a put without a lease
    /// detaches the key from any lease it had).
    pub lease: i64,
    /// Return the key-value as it was before the put.
    pub prev_kv: bool,
}

impl PutRequest {
    /// A put of `value` at `key`.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> PutRequest {
        PutRequest {
            key: key.into(),
            value: value.into(),
            lease: 0,
            prev_kv: false,
        }
    }

    /// Attaches the key to a lease.
    pub fn lease(mut self, lease: i64) -> PutRequest {
        self.lease = lease;
        self
    }

    /// Asks for the previous key-value in the response.
    pub fn prev_kv(mut self) -> PutRequest {
        self.prev_kv = true;
        self
    }
}

/// The answer to a put.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PutResponse {
    /// The revision of the write (inside a transaction, the transaction's
    /// revision).
    pub revision: u64,
    /// The key-value before the put, if asked for and it existed.
    pub prev_kv: Option<KeyValue>,
}

/// Builders (see [`RangeResponse::new`]).
impl PutResponse {
    /// The answer to a put written at `revision`, without a previous
    /// key-value.
    pub fn new(revision: u64) -> PutResponse {
        PutResponse {
            revision,
            prev_kv: None,
        }
    }

    /// Sets the key-value before the put.
    pub fn prev_kv(mut self, prev_kv: Option<KeyValue>) -> PutResponse {
        self.prev_kv = prev_kv;
        self
    }
}

/// A delete of one key or a range of keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeleteRequest {
    /// The keys to delete.
    pub range: KeyRange,
    /// Return the deleted key-values.
    pub prev_kv: bool,
}

impl DeleteRequest {
    /// A delete of one key.
    pub fn key(key: impl Into<Vec<u8>>) -> DeleteRequest {
        DeleteRequest::new(KeyRange::single(key))
    }

    /// A delete of `[key, range_end)`.
    pub fn range(key: impl Into<Vec<u8>>, range_end: impl Into<Vec<u8>>) -> DeleteRequest {
        DeleteRequest::new(KeyRange::range(key, range_end))
    }

    /// A delete of every key with this prefix.
    pub fn prefix(prefix: impl Into<Vec<u8>>) -> DeleteRequest {
        DeleteRequest::new(KeyRange::prefix(prefix))
    }

    /// A delete of the given key range.
    pub fn new(range: KeyRange) -> DeleteRequest {
        DeleteRequest {
            range,
            prev_kv: false,
        }
    }

    /// Asks for the deleted key-values in the response.
    pub fn prev_kv(mut self) -> DeleteRequest {
        self.prev_kv = true;
        self
    }
}

/// The answer to a delete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeleteResponse {
    /// The revision of the write, or the current revision when nothing was
    /// deleted (a delete of nothing consumes no revision). Inside a
    /// transaction, the revision at that point of it, as etcd's: the
    /// transaction's revision once this delete or an earlier op wrote
    /// something, else the store's revision before the transaction.
    pub revision: u64,
    /// How many keys were deleted.
    pub deleted: u64,
    /// The deleted key-values, if asked for.
    pub prev_kvs: Vec<KeyValue>,
}

/// Builders (see [`RangeResponse::new`]).
impl DeleteResponse {
    /// The answer to a delete at `revision` that deleted nothing.
    pub fn new(revision: u64) -> DeleteResponse {
        DeleteResponse {
            revision,
            ..DeleteResponse::default()
        }
    }

    /// Sets how many keys were deleted.
    pub fn deleted(mut self, deleted: u64) -> DeleteResponse {
        self.deleted = deleted;
        self
    }

    /// Sets the deleted key-values (the count is set separately).
    pub fn prev_kvs(mut self, prev_kvs: Vec<KeyValue>) -> DeleteResponse {
        self.prev_kvs = prev_kvs;
        self
    }
}

/// Figures about an open store.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// The current store revision.
    pub revision: u64,
    /// The compaction revision (oldest readable revision; 0 when never compacted).
    pub compact_revision: u64,
    /// Keys live at the current revision.
    pub live_keys: u64,
    /// Keys the in-memory index holds, deleted ones included.
    pub indexed_keys: u64,
    /// Key revisions the in-memory index holds.
    pub indexed_revisions: u64,
    /// Segment files in use.
    pub segments: u64,
    /// Bytes of segment and index files on disk.
    pub disk_bytes: u64,
    /// fdatasyncs of the active segment by the writer since open: under
    /// `SyncPolicy::Always`, one per write group (concurrent writes share
    /// one), so `revision` growth over `data_syncs` growth is the mean group.
    pub data_syncs: u64,
}
