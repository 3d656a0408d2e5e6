//! Export and import items: the store as a stream of items (a header, the
//! live leases, then revisions in order), for `revkv dump` / `revkv restore`
//! and for moving data between format versions. Producing them is
//! `engine/export.rs`; the writer restores them.

use crate::types::EventKind;

/// One item of an export, in the order [`Db::export`](crate::Db::export)
/// produces them: one `Header`, every `Lease`, then `Revision`s in
/// increasing order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportItem {
    /// What the export covers.
    Header {
        /// The store's current revision when the export began.
        revision: u64,
        /// Reads below this revision are refused by the exported store (for
        /// a latest-state export: the revision itself, as no history is kept).
        compact_revision: u64,
    },
    /// A live lease.
    Lease {
        /// Lease id.
        id: i64,
        /// Granted TTL in seconds.
        ttl: i64,
        /// Its deadline, Unix milliseconds.
        deadline_ms: u64,
    },
    /// The writes of one revision, in their original order.
    Revision {
        /// The store revision.
        revision: u64,
        /// Its writes.
        ops: Vec<ExportOp>,
    },
}

/// One write of an exported revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportOp {
    /// Put or delete.
    pub kind: EventKind,
    /// The key.
    pub key: Vec<u8>,
    /// The value (empty for a delete).
    pub value: Vec<u8>,
    /// Create revision of the key's generation (0 for a delete).
    pub create_revision: u64,
    /// Version after the put (0 for a delete).
    pub version: u64,
    /// Attached lease (0 for none).
    pub lease: i64,
    /// The key's previous record revision (0 for none or not exported).
    pub prev_mod_revision: u64,
}
