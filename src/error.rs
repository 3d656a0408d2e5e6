//! The one error type of revkv. Everything a caller or a file on disk can
//! cause comes back as one of these; nothing of that kind panics.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// A `Result` whose error is [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Every way an operation on a [`Db`](crate::Db) can fail.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with what revkv was doing at the time
    /// and the file it concerns.
    Io {
        /// What revkv was doing, e.g. "append to the active segment" or
        /// "fsync"; the file it was doing it to is `path`.
        context: String,
        /// The file or directory concerned, when there is one.
        path: Option<PathBuf>,
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
    /// A request the call does not accept, for a reason no other variant
    /// names (a lease TTL out of range, a compaction at revision 0, an
    /// import that does not follow the store, ...).
    BadRequest {
        /// What was wrong with the request.
        reason: String,
    },
    /// A counter the store assigns has no value left: the request would
    /// need one past [`MAX_COUNTER`](crate::format::MAX_COUNTER).
    Exhausted {
        /// The counter that ran out.
        counter: Counter,
    },
    /// There is no revkv store in the directory, and
    /// [`Options::create_if_missing`](crate::Options::create_if_missing) is
    /// off.
    StoreNotFound {
        /// The data directory (which may not exist at all).
        path: PathBuf,
    },
    /// An invariant revkv keeps was found broken: a bug in revkv, never
    /// caused by a caller or by the files on disk.
    Internal {
        /// What was found broken.
        reason: String,
    },
    /// The background compaction failed; the old files stay in force and
    /// the compaction is tried again.
    Compaction {
        /// Why it failed (shared by every caller that waited for it).
        cause: Arc<Error>,
    },
    /// An earlier write or fsync failed; the Db accepts no more writes (reads
    /// continue). Reopen the directory to recover.
    Poisoned {
        /// The failure that poisoned it.
        cause: Arc<Error>,
    },
    /// The Db has been closed.
    Closed,
}

/// A counter the store assigns, as named by [`Error::Exhausted`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Counter {
    /// The store revision: no write transaction can commit any more.
    Revision,
    /// Segment file ids: no new segment can be created.
    SegmentId,
    /// The version of one key: it cannot be put again (delete it first).
    Version {
        /// The key.
        key: Vec<u8>,
    },
}

impl Error {
    /// An I/O error that concerns no particular file.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            path: None,
            source,
        }
    }

    /// An I/O error met while doing `context` to the file at `path`.
    pub(crate) fn io_at(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Error {
        Error::Io {
            context: context.into(),
            path: Some(path.into()),
            source,
        }
    }

    /// A request refused for `reason`.
    pub(crate) fn bad_request(reason: impl Into<String>) -> Error {
        Error::BadRequest {
            reason: reason.into(),
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
            Error::Io {
                context,
                path: Some(path),
                source,
            } => write!(f, "I/O error during {context} {}: {source}", path.display()),
            Error::Io {
                context,
                path: None,
                source,
            } => write!(f, "I/O error during {context}: {source}"),
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
            Error::BadRequest { reason } => write!(f, "bad request: {reason}"),
            Error::Exhausted { counter } => match counter {
                Counter::Revision => write!(f, "the revision space is exhausted"),
                Counter::SegmentId => write!(f, "segment ids are exhausted"),
                Counter::Version { key } => write!(
                    f,
                    "the version of {:?} cannot grow further",
                    String::from_utf8_lossy(key)
                ),
            },
            Error::StoreNotFound { path } => {
                write!(f, "no revkv store in {}", path.display())
            }
            Error::Internal { reason } => {
                write!(f, "internal error (a bug in revkv): {reason}")
            }
            Error::Compaction { cause } => write!(f, "compaction failed: {cause}"),
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
            Error::Compaction { cause } | Error::Poisoned { cause } => Some(&**cause),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_errors_name_their_file_and_keep_their_source() {
        let e = Error::io_at(
            "fsync",
            "/data/00000000000000000002.seg",
            io::Error::from_raw_os_error(5),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("I/O error during fsync /data/00000000000000000002.seg: "),
            "{text}"
        );
        let source = e.source().expect("the io::Error");
        assert_eq!(
            source.to_string(),
            io::Error::from_raw_os_error(5).to_string()
        );
        let e = Error::io("spawn thread revkv-writer", io::Error::other("no threads"));
        assert_eq!(
            e.to_string(),
            "I/O error during spawn thread revkv-writer: no threads"
        );
    }

    #[test]
    fn wrapped_errors_are_their_source_and_name_it() {
        let cause = Arc::new(Error::Exhausted {
            counter: Counter::SegmentId,
        });
        for e in [
            Error::Compaction {
                cause: Arc::clone(&cause),
            },
            Error::Poisoned {
                cause: Arc::clone(&cause),
            },
        ] {
            let source = e.source().expect("the cause");
            assert_eq!(source.to_string(), "segment ids are exhausted");
            assert!(e.to_string().contains("segment ids are exhausted"), "{e}");
            assert!(source.source().is_none());
        }
    }

    #[test]
    fn displays_of_the_conditions_a_caller_can_match() {
        let cases = [
            (
                Error::bad_request("compaction revision 0"),
                "bad request: compaction revision 0",
            ),
            (
                Error::Exhausted {
                    counter: Counter::Version {
                        key: b"/k".to_vec(),
                    },
                },
                "the version of \"/k\" cannot grow further",
            ),
            (
                Error::Exhausted {
                    counter: Counter::Revision,
                },
                "the revision space is exhausted",
            ),
            (
                Error::StoreNotFound {
                    path: PathBuf::from("/nowhere"),
                },
                "no revkv store in /nowhere",
            ),
            (
                Error::Internal {
                    reason: "a revkv thread panicked".into(),
                },
                "internal error (a bug in revkv): a revkv thread panicked",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            assert!(e.source().is_none(), "{e}");
        }
    }
}
