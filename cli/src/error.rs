//! How the tool fails: a message for standard error and an exit status.

use std::fmt;

/// The operation failed (the store returned an error).
pub const EXIT_FAILED: i32 = 1;
/// Bad command line (clap uses the same status for its own errors).
pub const EXIT_USAGE: i32 = 2;
/// Malformed transaction on standard input.
pub const EXIT_BAD_INPUT: i32 = 3;
/// The data directory is locked by another open store.
pub const EXIT_LOCKED: i32 = 4;

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
        let code = match e {
            revkv::Error::Locked { .. } => EXIT_LOCKED,
            _ => EXIT_FAILED,
        };
        Failure::new(code, e.to_string())
    }
}
