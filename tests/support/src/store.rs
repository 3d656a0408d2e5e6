//! Helpers on a store's files: the checkpoint's fit to the MANIFEST, a
//! header rewritten to another format version, a `verify` that must be
//! clean, the failpoints the library names.

use revkv::{Db, VerifyReport};
use std::collections::BTreeSet;
use std::path::Path;

/// Checks the key-index checkpoint left in `dir`, if any, against the
/// MANIFEST's segment list and compaction revisions: after open, a stale
/// checkpoint must have been removed or replaced (format.md §8a).
pub fn checkpoint_fits(
    dir: &Path,
    segments: &[u64],
    scheduled: u64,
    finished: u64,
) -> Result<(), String> {
    let path = dir.join("KEYINDEX");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    let (h, _) = revkv::format::checkpoint::decode_checkpoint(&bytes)
        .map_err(|e| format!("KEYINDEX does not decode: {e}"))?;
    if segments.starts_with(&h.segments)
        && (h.compact_scheduled, h.compact_finished) == (scheduled, finished)
    {
        Ok(())
    } else {
        Err(format!(
            "stale KEYINDEX (segments {:?}, compaction {}/{}) beside MANIFEST segments {segments:?}, compaction {scheduled}/{finished}",
            h.segments, h.compact_scheduled, h.compact_finished
        ))
    }
}

/// Sets the format version of a file header (the u32 at +8) to `version`
/// and recomputes the CRC-32 at `crc_at`, which covers every byte before
/// it: the file as a build of that version would have written it, for the
/// headers whose layout no version changed (format.md §2.3).
pub fn set_header_version(file: &mut [u8], version: u32, crc_at: usize) {
    file[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&file[..crc_at]);
    file[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// `db.verify()`, which must find no problem.
pub fn verify_clean(db: &Db, ctx: &str) -> VerifyReport {
    let report = db.verify().unwrap_or_else(|e| panic!("{ctx}: verify: {e}"));
    assert!(
        report.is_ok(),
        "{ctx}: verify found problems: {:#?}",
        report.problems
    );
    report
}

/// The failpoints named in the library's source (`src/`): the crash points
/// (`failpoint::hit("…")`) and the injected I/O faults
/// (`failpoint::fails("…")`); `None` when the source is not where this was
/// built.
pub fn failpoints_in_source() -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src");
    if !src.is_dir() {
        return None;
    }
    let mut hits = BTreeSet::new();
    let mut faults = BTreeSet::new();
    for path in crate::files::tree(&src) {
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        for (marker, set) in [
            ("failpoint::hit(\"", &mut hits),
            ("failpoint::fails(\"", &mut faults),
        ] {
            for part in text.split(marker).skip(1) {
                if let Some(name) = part.split('"').next() {
                    set.insert(name.to_string());
                }
            }
        }
    }
    Some((hits, faults))
}
