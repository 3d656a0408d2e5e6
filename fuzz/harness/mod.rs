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

pub use codecs::{decode_frame, decode_idx, decode_manifest};
pub use model::{api_misuse, ops_model};
pub use store::open_dir;

use std::time::{Duration, Instant};

/// A target: takes any bytes, panics on a finding.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz target and corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("decode_frame", decode_frame),
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

// Findings in the library that are reported but not fixed yet. While one
// is open the harness tolerates exactly its symptom (or stops generating
// its trigger), so that fuzzing goes on and the corpus replay stays green.
// `REVKV_FUZZ_STRICT=1` turns every tolerance off: the `regress-*` input
// named with each then fails, until the library is fixed. Delete the
// constant and its uses once it is.

/// `Db::verify` flags "key K at revision R names previous revision 0 but
/// its previous record is P" after a compaction above P dropped K's
/// tombstone from the key index while the record at P is still in a
/// segment that was not rewritten (the active one): the writer then starts
/// K's new generation with prev_mod_revision 0.
/// Regression: `ops_model/regress-verify-chain-after-compaction`.
pub const KNOWN_VERIFY_CHAIN: &str = "verify-chain-after-compaction";

/// `Db::verify` reads the MANIFEST, the open store's segment list and the
/// directory at different moments, without excluding a background
/// compaction, so it can report "MANIFEST lists [..], the open store uses
/// [..]" and "file not named by the MANIFEST" on a healthy store. The
/// harness retries verify for up to 2 s while these are all it reports.
/// Regression (timing-dependent): `ops_model/regress-verify-compaction-race`.
pub const KNOWN_VERIFY_RACE: &str = "verify-races-compaction";

/// A MANIFEST or record naming a revision at u64::MAX opens, and the next
/// revision is then computed with a plain `+ 1` (watch catch-up, writer).
/// While open, generated images keep revisions below u64::MAX / 2.
/// Regression: `open_dir/regress-revision-max-watch`.
pub const KNOWN_REVISION_SPACE: &str = "revision-space-exhausted";

/// The writer computes a lease deadline as `now + ttl as u64 * 1000`: a
/// TTL above u64::MAX / 1000 seconds overflows (a panic of the writer
/// thread with overflow checks; without them a wrapped deadline, so a lease
/// granted for "forever" expires at once). While open, no such TTL is
/// granted or kept alive.
/// Regressions: `api_misuse/regress-lease-ttl-overflow`,
/// `open_dir/regress-lease-ttl-overflow`.
pub const KNOWN_TTL_OVERFLOW: &str = "lease-ttl-overflow";

/// Recovery accepts a MANIFEST whose next segment id is u64::MAX, and the
/// next roll computes `next_segment_id += 1` unchecked: a panic of the
/// writer thread with overflow checks; without them the MANIFEST installed
/// says next id 0 and the store no longer opens. While open, generated
/// MANIFESTs keep the next id below u64::MAX / 2.
/// Regression: `open_dir/regress-segment-id-overflow`.
pub const KNOWN_SEGMENT_ID_OVERFLOW: &str = "segment-id-overflow";

/// A put to a key whose recovered version is u64::MAX computes
/// `version + 1` unchecked (txn.rs): a panic of the writer thread with
/// overflow checks; without them a record with version 0 is written and
/// acknowledged, which every later read and open rejects as corruption.
/// While open, `open_dir` does not overwrite such a key.
/// Regression: `open_dir/regress-version-overflow`.
pub const KNOWN_VERSION_OVERFLOW: &str = "version-overflow";

fn strict() -> bool {
    std::env::var_os("REVKV_FUZZ_STRICT").is_some()
}

/// True when `symptom` is that of the known, still-open finding `which`
/// (an empty symptom asks whether the finding is tolerated at all).
fn known_issue(which: &str, symptom: &str) -> bool {
    if strict() {
        return false;
    }
    match which {
        KNOWN_VERIFY_CHAIN => {
            symptom.contains("names previous revision 0 but its previous record is")
        }
        KNOWN_VERIFY_RACE => {
            symptom.starts_with("MANIFEST lists") || symptom == "file not named by the MANIFEST"
        }
        KNOWN_REVISION_SPACE
        | KNOWN_TTL_OVERFLOW
        | KNOWN_SEGMENT_ID_OVERFLOW
        | KNOWN_VERSION_OVERFLOW => true,
        _ => false,
    }
}

/// A revision for a generated image (see [`KNOWN_REVISION_SPACE`]).
fn clamp_revision(rev: u64) -> u64 {
    if known_issue(KNOWN_REVISION_SPACE, "") {
        rev.min(u64::MAX / 2)
    } else {
        rev
    }
}

/// A next segment id for a generated MANIFEST (see
/// [`KNOWN_SEGMENT_ID_OVERFLOW`]).
fn clamp_segment_id(id: u64) -> u64 {
    if known_issue(KNOWN_SEGMENT_ID_OVERFLOW, "") {
        id.min(u64::MAX / 2)
    } else {
        id
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
