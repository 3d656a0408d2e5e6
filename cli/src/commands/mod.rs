//! The commands, one file each (or one per family: `kv` for put, get, del
//! and txn; `lease` for the lease commands). Each opens the store itself,
//! since some keep it open for a while (`watch`, `lease keep-alive`) or open
//! it in their own way (`verify`).

pub mod compaction;
pub mod kv;
pub mod lease;
pub mod stats;
pub mod verify;
pub mod watch;
pub mod watch_exec;
pub mod watch_interactive;
