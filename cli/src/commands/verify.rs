//! `verify`: re-reads every file of the store and reports each problem.

use crate::error::{output_error, Failure, Stop, EXIT_FAILED};
use crate::output::Printer;
use crate::store::require_store;
use indicatif::{ProgressBar, ProgressStyle};
use revkv::{Db, Options, Problem, VerifyReport};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

/// `verify` draws a progress bar only for stores larger than this.
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

/// `verify`: checks the store and prints what it found. A store that cannot
/// be opened (recovery found damage) is reported as its one problem. Fails
/// (status 1) when any problem was found.
pub fn verify<W: Write>(dir: &Path, out: &mut Printer<W>) -> Result<(), Stop> {
    require_store(dir)?;
    let db = match Db::open(dir, Options::default().create_if_missing(false)) {
        Ok(db) => db,
        // Not a problem of the store: there is none, or another process has it.
        Err(e @ (revkv::Error::Locked { .. } | revkv::Error::StoreNotFound { .. })) => {
            return Err(e.into())
        }
        Err(e) => {
            let mut report = VerifyReport::default();
            report.problems.push(open_problem(dir, &e));
            out.verify(&report, false).map_err(output_error)?;
            out.flush().map_err(output_error)?;
            let message = format!("the store could not be opened: {e}");
            return Err(Failure::new(EXIT_FAILED, message).into());
        }
    };
    let size = db.stats()?.disk_bytes;
    let bar = (io::stderr().is_terminal() && size > PROGRESS_MIN_BYTES).then(|| progress_bar(size));
    let result = db.verify_with_progress(&mut |done, total| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = result?;
    out.verify(&report, true).map_err(output_error)?;
    out.flush().map_err(output_error)?;
    db.close()?;
    match report.problems.len() {
        0 => Ok(()),
        1 => Err(Failure::new(EXIT_FAILED, "found 1 problem").into()),
        n => Err(Failure::new(EXIT_FAILED, format!("found {n} problems")).into()),
    }
}

/// The problem that made opening fail, with its file and offset when the
/// error names them (else the data directory and 0).
fn open_problem(dir: &Path, e: &revkv::Error) -> Problem {
    match e {
        revkv::Error::Corruption {
            file,
            offset,
            reason,
        } => Problem {
            file: file.clone(),
            offset: *offset,
            what: reason.clone(),
        },
        revkv::Error::UnsupportedVersion {
            file,
            found,
            supported,
        } => Problem {
            file: file.clone(),
            offset: 0,
            what: format!(
                "format version {found}; this build reads versions {} to {supported}",
                revkv::format::OLDEST_FORMAT_VERSION
            ),
        },
        other => Problem {
            file: dir.to_path_buf(),
            offset: 0,
            what: other.to_string(),
        },
    }
}

/// The progress bar of `verify`, on standard error, for `total` bytes.
fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "verifying [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
