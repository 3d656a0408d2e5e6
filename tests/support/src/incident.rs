//! What the incident 2 and incident 3 tests share (CONTEXT.md): their
//! store's options, a value over the compactor's 1 MiB output buffer, the
//! child process that compacts and stops at a failpoint, and the checks
//! after a reopen that the compaction finished and of what a watch delivers
//! up to the current revision.
//!
//! The child is the `#[ignore]`d test [`CHILD_TEST`] of the incident's own
//! binary, whose body is [`child_open_and_compact`]; it is re-executed with
//! [`DIR_ENV`], [`AT_ENV`] and `REVKV_FAILPOINT`.

use crate::child::{test_child, Running};
use crate::rng::Rng;
use revkv::failpoint::FAILPOINT_EXIT;
use revkv::format::manifest::{decode_manifest, Manifest};
use revkv::{Db, Options, SyncPolicy};
use std::path::Path;
use std::time::{Duration, Instant};

/// The name of the child test in each incident binary.
pub const CHILD_TEST: &str = "child_open_and_compact";
/// The child's data directory.
pub const DIR_ENV: &str = "REVKV_INCIDENT_DIR";
/// The revision the child compacts at (0: it only opens, which resumes an
/// interrupted compaction).
pub const AT_ENV: &str = "REVKV_INCIDENT_AT";
/// Over the 1 MiB output buffer of a rewrite: copying a value this long
/// makes the compactor flush in the middle of an output segment
/// (`compact.mid_segment`).
pub const BIG_LEN: usize = (1 << 20) + (64 << 10);

/// The incidents' store: small segments (the history spans many), no sync.
pub fn options() -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync(SyncPolicy::Never)
}

/// [`BIG_LEN`] random bytes drawn from `seed`.
pub fn big_value(seed: u64) -> Vec<u8> {
    Rng::new(seed).bytes(BIG_LEN)
}

/// The child's body: opens the store in [`DIR_ENV`] (which resumes an
/// interrupted compaction, and may stop at the failpoint) and compacts at
/// [`AT_ENV`] unless that is 0. Without [`DIR_ENV`] it does nothing.
pub fn child_open_and_compact() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let at: u64 = std::env::var(AT_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("child: revision");
    let db = Db::open(&dir, options()).expect("child: open");
    if at > 0 {
        let result = db.compact_physical(at);
        println!("child: compact_physical({at}) returned {result:?}");
    }
}

/// Runs the child on `dir` with `failpoint` armed: it must stop there
/// (exit status [`FAILPOINT_EXIT`]).
pub fn crash_child(dir: &Path, at: u64, failpoint: &str) {
    let mut cmd = test_child(CHILD_TEST);
    cmd.env(DIR_ENV, dir)
        .env(AT_ENV, at.to_string())
        .env("REVKV_FAILPOINT", failpoint);
    let what = format!("child (compact at {at}, {failpoint})");
    let run = Running::start(&mut cmd).finish_within(Duration::from_secs(60), &what);
    assert_eq!(
        run.status.code(),
        Some(FAILPOINT_EXIT),
        "{what} did not stop at {failpoint} ({}):\n{}\n{}",
        run.status,
        run.lines.join("\n"),
        run.stderr
    );
}

/// The MANIFEST of the store in `dir`, after a reopen: the compaction at
/// `compacted` must be finished (scheduled and finished both at it).
pub fn finished_manifest(dir: &Path, compacted: u64, ctx: &str) -> Manifest {
    let path = dir.join("MANIFEST");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{ctx}: read {}: {e}", path.display()));
    let m = decode_manifest(&bytes).unwrap_or_else(|e| panic!("{ctx}: decode MANIFEST: {e}"));
    assert_eq!(
        (m.compact_scheduled, m.compact_finished),
        (compacted, compacted),
        "{ctx}: compaction not finished after open: MANIFEST {m:?}"
    );
    m
}

/// Collects the events of `w` until a progress notification at or above
/// `current` (so nothing more up to `current` can come). A watch that
/// gets there in no 20 s, ends, or is compacted fails the test.
pub fn events_until(w: &revkv::Watcher, current: u64, ctx: &str) -> Vec<revkv::Event> {
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        w.request_progress();
        let resp = match w.recv_timeout(Duration::from_millis(200)) {
            Ok(resp) => resp,
            Err(revkv::RecvError::Timeout) if Instant::now() < deadline => continue,
            Err(e) => panic!("{ctx}: watch ended after {} events: {e:?}", events.len()),
        };
        assert_eq!(resp.compact_revision, 0, "{ctx}: watch compacted: {resp:?}");
        events.extend(resp.events);
        if resp.progress_notify && resp.revision >= current {
            return events;
        }
    }
}
