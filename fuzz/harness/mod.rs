//! The logic of revkv's cargo-fuzz targets, shared by the targets in
//! `fuzz/fuzz_targets/` and by `tests/fuzz_corpus.rs`, which replays the
//! checked-in corpus in CI. Depends only on revkv, std and tempfile.
//!
//! Each target is one `pub fn(&[u8])` that panics when the library
//! misbehaves: a panic, a hang, an unbounded allocation or a broken
//! property is a finding; an `Err` from the library is not, unless the
//! target says what else was owed.
#![allow(dead_code)]

mod codecs;
mod input;
mod model;
mod store;

pub use codecs::{decode_checkpoint, decode_frame, decode_idx, decode_manifest};
pub use model::{api_misuse, ops_model};
pub use store::open_dir;

use std::time::{Duration, Instant};

/// A target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz target and corpus directory.
pub const TARGETS: [(&str, Target); 7] = [
    ("decode_frame", decode_frame),
    ("decode_checkpoint", decode_checkpoint),
    ("decode_manifest", decode_manifest),
    ("decode_idx", decode_idx),
    ("open_dir", open_dir),
    ("ops_model", ops_model),
    ("api_misuse", api_misuse),
];

/// A new empty directory, on tmpfs when there is one (fsync is free there).
fn fresh_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    let mut b = tempfile::Builder::new();
    b.prefix("revkv-fuzz-");
    if shm.is_dir() {
        if let Ok(d) = b.tempdir_in(shm) {
            return d;
        }
    }
    b.tempdir().expect("create a temporary directory")
}

/// Polls `done` every millisecond until it holds (true) or `patience`
/// has passed (false).
fn wait_until(patience: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + patience;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Debug output with long byte lists cut short, for traces.
fn shorten(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inner = &rest[..close];
        let numeric = inner
            .chars()
            .all(|c| c.is_ascii_digit() || c == ',' || c == ' ');
        let n = inner.split(',').count();
        if numeric && n > 12 {
            let head: Vec<&str> = inner.split(',').take(4).collect();
            out.push_str(&format!("{}, .. {n} bytes", head.join(",")));
        } else {
            out.push_str(inner);
        }
        rest = &rest[close..];
    }
    out.push_str(rest);
    out
}
