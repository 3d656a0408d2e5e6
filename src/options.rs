//! Options for opening a [`Db`](crate::Db): a builder with etcd-like defaults.

use crate::clock::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

/// When the writer calls `fdatasync` on the active segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every write returns only after its bytes are durable (one fdatasync per
    /// group of concurrent writes). The default.
    Always,
    /// Writes return once written to the OS; the writer syncs at most this
    /// long after a write. A crash may lose the writes of the last interval.
    Interval(Duration),
    /// Never sync except when a segment is sealed and on close. A crash may
    /// lose any write since the last seal.
    Never,
}

/// How frame payloads are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Store payloads as they are.
    None,
    /// zstd-compress a payload of at least `threshold` bytes at `level`,
    /// keeping it only when it comes out smaller.
    Zstd {
        /// Payloads shorter than this are stored as they are.
        threshold: usize,
        /// zstd level (1 is fast; 3 is zstd's default).
        level: i32,
    },
}

/// Automatic compaction, like etcd's `--auto-compaction-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Never compact on its own (the default).
    Off,
    /// Keep the last `n` revisions: compact at `current - n` (checked every second).
    Revisions(u64),
    /// Keep the history of the last `period`: compact at the revision that
    /// was current `period` ago by the store's [`Clock`](crate::Clock)
    /// (checked every tenth of the period, at most every second, and at
    /// every compaction).
    Period(Duration),
}

/// Options for [`Db::open`](crate::Db::open). Build with the methods below,
/// starting from [`Options::default`].
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) sync: SyncPolicy,
    pub(crate) segment_size: u64,
    pub(crate) compression: Compression,
    pub(crate) max_key_size: usize,
    pub(crate) max_value_size: usize,
    pub(crate) max_group_requests: usize,
    pub(crate) create_if_missing: bool,
    pub(crate) auto_compaction: AutoCompaction,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sync: SyncPolicy::Always,
            segment_size: 64 << 20,
            compression: Compression::Zstd {
                threshold: 4096,
                level: 1,
            },
            max_key_size: 32 << 10,
            max_value_size: 3 << 19, // 1.5 MiB, etcd's default request limit
            max_group_requests: 1024,
            create_if_missing: true,
            auto_compaction: AutoCompaction::Off,
            clock: Arc::new(SystemClock),
        }
    }
}

impl Options {
    /// The defaults: `SyncPolicy::Always`, 64 MiB segments, zstd level 1 for
    /// payloads of 4 KiB or more, keys up to 32 KiB, values up to 1.5 MiB.
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets when writes are made durable.
    pub fn sync(mut self, policy: SyncPolicy) -> Options {
        self.sync = policy;
        self
    }

    /// Sets the size at which the active segment is sealed and a new one
    /// started (at least 4 KiB; a single large transaction may exceed it).
    pub fn segment_size(mut self, bytes: u64) -> Options {
        self.segment_size = bytes.max(4096);
        self
    }

    /// Sets payload compression.
    pub fn compression(mut self, compression: Compression) -> Options {
        self.compression = compression;
        self
    }

    /// Sets the largest key accepted, in bytes.
    pub fn max_key_size(mut self, bytes: usize) -> Options {
        self.max_key_size = bytes.max(1);
        self
    }

    /// Sets the largest value accepted, in bytes.
    pub fn max_value_size(mut self, bytes: usize) -> Options {
        self.max_value_size = bytes;
        self
    }

    /// Sets how many queued requests the writer takes into one group commit.
    pub fn max_group_requests(mut self, n: usize) -> Options {
        self.max_group_requests = n.max(1);
        self
    }

    /// Whether `open` creates a missing directory (default true). When false,
    /// opening a directory without a store is an error.
    pub fn create_if_missing(mut self, create: bool) -> Options {
        self.create_if_missing = create;
        self
    }

    /// Sets automatic compaction.
    pub fn auto_compaction(mut self, mode: AutoCompaction) -> Options {
        self.auto_compaction = mode;
        self
    }

    /// Sets the clock lease deadlines and the auto-compaction period are
    /// read from (the system clock by default;
    /// [`ManualClock`](crate::ManualClock) for exact tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Options {
        self.clock = clock;
        self
    }

    /// The sync policy in force.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync
    }
}
