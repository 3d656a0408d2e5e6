//! The engine: everything that runs an open store below the public facade
//! ([`Db`](crate::Db)). The shared core context, the writer and its request
//! protocol, the background threads (compactor, lease expiry, watch
//! catch-up), and the passes over the whole store (recovery, verify, export,
//! checkpoints). Nothing here imports `db.rs`.

pub(crate) mod catch_up;
pub(crate) mod checkpoint;
pub(crate) mod compactor;
pub(crate) mod core;
pub(crate) mod expiry;
pub(crate) mod export;
pub(crate) mod protocol;
pub(crate) mod recovery;
pub(crate) mod verify;
pub(crate) mod writer;
