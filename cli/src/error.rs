//! How the tool fails: a message for standard error and an exit status
//! (etcdctl's where etcdctl has one).

use crate::lease_id;
use std::fmt;
use std::io;

/// The operation failed (the store returned an error).
pub const EXIT_FAILED: i32 = 1;
/// Bad command line (clap uses the same status for its own errors).
pub const EXIT_USAGE: i32 = 2;
/// Malformed input: a transaction on standard input, a dump, the end of
/// `watch -i`'s input (etcdctl's `ExitInvalidInput`).
pub const EXIT_BAD_INPUT: i32 = 3;
/// The data directory is locked by another open store.
pub const EXIT_LOCKED: i32 = 4;
/// An output format or sort option that is not supported (etcdctl's
/// `ExitBadFeature`; the same status as [`EXIT_LOCKED`]).
pub const EXIT_BAD_FEATURE: i32 = 4;
/// A watch was canceled because its revision has been compacted or its
/// range holds no key (etcdctl's `ExitInterrupted`, "watch is canceled by
/// the server").
pub const EXIT_WATCH_CANCELED: i32 = 5;

/// A failure to report: printed as `Error: <message>`, then the process
/// exits with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit status.
    pub code: i32,
    /// What went wrong, on one line.
    pub message: String,
}

impl Failure {
    /// A failure with the given exit status.
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A bad command line.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(EXIT_USAGE, message)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<revkv::Error> for Failure {
    fn from(e: revkv::Error) -> Failure {
        match e {
            revkv::Error::Locked { .. } => Failure::new(EXIT_LOCKED, e.to_string()),
            // Lease ids in hex, as the tool prints and reads them.
            revkv::Error::LeaseNotFound { id } => Failure::new(
                EXIT_FAILED,
                format!("requested lease not found: {}", lease_id::format(id)),
            ),
            revkv::Error::LeaseExists { id } => Failure::new(
                EXIT_FAILED,
                format!("lease already exists: {}", lease_id::format(id)),
            ),
            _ => Failure::new(EXIT_FAILED, e.to_string()),
        }
    }
}

/// Why a command stopped early.
#[derive(Debug)]
pub enum Stop {
    /// Standard output was closed by the reader (e.g. `| head`): stop quietly.
    Quiet,
    /// Report this failure.
    Report(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Report(f)
    }
}

impl From<revkv::Error> for Stop {
    fn from(e: revkv::Error) -> Stop {
        Stop::Report(e.into())
    }
}

/// A failure to write the output: quiet for a closed pipe.
pub fn output_error(e: io::Error) -> Stop {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Stop::Quiet
    } else {
        Stop::Report(Failure::new(
            EXIT_FAILED,
            format!("write to standard output: {e}"),
        ))
    }
}
