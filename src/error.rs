//! The one error type of revkv. Everything a caller or a file on disk can
//! cause comes back as one of these; nothing of that kind panics.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A `Result` whose error is [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Every way an operation on a [`Db`](crate::Db) can fail.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with what revkv was doing at the time.
    Io {
        /// What revkv was doing, e.g. "append to 00000000000000000001.seg".
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A file's bytes are damaged somewhere other than a torn tail.
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage within that file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// A file was written by a format version this build cannot read.
    UnsupportedVersion {
        /// The file that carries the version.
        file: PathBuf,
        /// The version found in the file.
        found: u32,
        /// The version this build writes, the newest it reads (it reads
        /// every version from 1 up to this one).
        supported: u32,
    },
    /// Another `Db`, in this process or another, holds the directory's lock.
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The requested revision has been compacted away.
    Compacted {
        /// The store's compaction revision: the oldest revision still readable.
        compact_revision: u64,
    },
    /// The requested revision is newer than the store's current revision.
    FutureRevision {
        /// The revision asked for.
        requested: u64,
        /// The store's current revision.
        current: u64,
    },
    /// A key was empty where a key is required.
    EmptyKey,
    /// A key is longer than [`Options::max_key_size`](crate::Options::max_key_size).
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A value is longer than [`Options::max_value_size`](crate::Options::max_value_size).
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A whole write transaction encodes to more bytes than one frame may hold.
    TxnTooLarge {
        /// The encoded size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A watch of a range that holds no key: its end does not sort after
    /// its start (`[k, k)`, or an end before the key). etcd refuses such a
    /// watch too ("watcher range is empty"). Reads, deletes and compares over
    /// such a range are not refused: they find nothing, as etcd's do.
    EmptyWatchRange {
        /// The range start.
        key: Vec<u8>,
        /// The range end.
        range_end: Vec<u8>,
    },
    /// A transaction writes the same key twice (two puts, or a put inside a
    /// delete range of the same branch).
    DuplicateKeyInTxn {
        /// The key written twice.
        key: Vec<u8>,
    },
    /// A lease id that does not exist.
    LeaseNotFound {
        /// The lease id.
        id: i64,
    },
    /// A lease with this id already exists.
    LeaseExists {
        /// The lease id.
        id: i64,
    },
    /// An argument outside what the call accepts.
    InvalidArgument(String),
    /// An earlier write or fsync failed; the Db accepts no more writes (reads
    /// continue). Reopen the directory to recover.
    Poisoned {
        /// The failure that poisoned it.
        cause: String,
    },
    /// The Db has been closed.
    Closed,
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Error {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "I/O error during {context}: {source}"),
            Error::Corruption {
                file,
                offset,
                reason,
            } => write!(
                f,
                "corruption in {} at offset {offset}: {reason}",
                file.display()
            ),
            Error::UnsupportedVersion {
                file,
                found,
                supported,
            } => write!(
                f,
                "{} has format version {found}; this build reads versions {} to {supported}",
                file.display(),
                crate::format::OLDEST_FORMAT_VERSION
            ),
            Error::Locked { path } => write!(
                f,
                "data directory {} is locked by another open Db",
                path.display()
            ),
            Error::Compacted { compact_revision } => write!(
                f,
                "required revision has been compacted (compact revision {compact_revision})"
            ),
            Error::FutureRevision { requested, current } => write!(
                f,
                "required revision {requested} is a future revision (current {current})"
            ),
            Error::EmptyKey => write!(f, "key must not be empty"),
            Error::KeyTooLarge { len, max } => {
                write!(f, "key of {len} bytes exceeds the limit of {max}")
            }
            Error::ValueTooLarge { len, max } => {
                write!(f, "value of {len} bytes exceeds the limit of {max}")
            }
            Error::TxnTooLarge { len, max } => {
                write!(
                    f,
                    "transaction of {len} encoded bytes exceeds the limit of {max}"
                )
            }
            Error::EmptyWatchRange { key, range_end } => write!(
                f,
                "watcher range is empty: range end {:?} does not sort after key {:?}",
                String::from_utf8_lossy(range_end),
                String::from_utf8_lossy(key)
            ),
            Error::DuplicateKeyInTxn { key } => write!(
                f,
                "duplicate key given in txn request: {:?}",
                String::from_utf8_lossy(key)
            ),
            Error::LeaseNotFound { id } => write!(f, "requested lease not found: {id}"),
            Error::LeaseExists { id } => write!(f, "lease already exists: {id}"),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::Poisoned { cause } => write!(
                f,
                "database is poisoned for writes after a failed write ({cause}); reopen to recover"
            ),
            Error::Closed => write!(f, "database is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
