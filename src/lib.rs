//! revkv: an embedded, revisioned key-value store with etcd's storage model.
//!
//! Every write transaction gets one store-wide revision; each key keeps its
//! create revision, mod revision and version; deletes leave tombstones; reads
//! can be served at any revision that has not been compacted. Underneath is an
//! append-only, checksummed segment log with group commit, a memory-mapped
//! revision index, and a recovery pass that rebuilds the full key index before
//! the store is handed out. The on-disk format is specified in `format.md`.
//!
//! ```
//! # fn main() -> revkv::Result<()> {
//! # let dir = tempfile::tempdir().expect("tempdir");
//! use revkv::{Compare, CompareOp, Db, Op, Options, RangeRequest, Txn};
//!
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put("/config/a", "1")?;
//! db.put("/config/b", "2")?;
//! let all = db.range(RangeRequest::prefix("/config/"))?;
//! assert_eq!(all.count, 2);
//!
//! // Create /lock only if it does not exist yet.
//! let resp = db.txn(
//!     Txn::new()
//!         .when([Compare::mod_revision("/lock", CompareOp::Equal, 0)])
//!         .and_then([Op::put("/lock", "me")]),
//! )?;
//! assert!(resp.succeeded);
//! # Ok(())
//! # }
//! ```

// Lints (issue 14), in the spirit of fjall/lsm-tree. Outside tests, nothing
// a caller or a file on disk can cause may panic: no unwrap/expect, no
// panicking indexing (bytes from files go through `get`, checked splits or
// the codecs' `Reader`). Truncating casts are fixed with `try_from` or carry
// an `allow` with the bound that makes them exact, at the narrowest scope.
// Tests may index and unwrap: a panic there is a failed assertion.
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

mod clock;
mod db;
mod engine;
mod error;
mod evaluate;
mod export;
#[doc(hidden)]
pub mod failpoint;
pub mod format;
mod index;
mod lease;
mod options;
mod state;
mod storage;
mod txn;
mod types;
mod watch;

pub use clock::{Clock, ManualClock, SystemClock};
pub use db::Db;
pub use engine::verify::{Problem, VerifyReport};
pub use error::{Counter, Error, Result};
pub use export::{ExportItem, ExportOp};
pub use lease::{LeaseGrantResponse, LeaseTimeToLive};
pub use options::{AutoCompaction, Compression, Options, SyncPolicy};
pub use txn::{Compare, CompareOp, CompareTarget, Op, OpResponse, Txn, TxnResponse};
pub use types::{
    prefix_end, DeleteRequest, DeleteResponse, Event, EventKind, KeyRange, KeyValue, PutRequest,
    PutResponse, RangeRequest, RangeResponse, Revision, Stats,
};
pub use watch::{RecvError, WatchRequest, WatchResponse, Watcher};
