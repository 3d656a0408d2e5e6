//! The commands beyond single reads and writes: `compact`, `lease ...`,
//! `watch` and `verify`. Each opens the store itself, since some keep it
//! open for a while (`watch`, `lease keep-alive --every`) or open it in their
//! own way (`verify`).

use crate::args::{CompactArgs, LeaseCommand, LeaseKeepAliveArgs, WatchArgs};
use crate::error::{Failure, EXIT_FAILED};
use crate::interrupt;
use crate::output::Printer;
use crate::{open, ops, output_error, require_store, Stop};
use indicatif::{ProgressBar, ProgressStyle};
use revkv::{Db, Options, Problem, RecvError, VerifyReport, WatchRequest};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// `verify` draws a progress bar only for stores larger than this.
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

/// `compact REV [--physical]`.
pub fn compact<W: Write>(dir: &Path, args: CompactArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let db = open(dir, false)?;
    if args.physical {
        db.compact_physical(args.rev)?;
    } else {
        db.compact(args.rev)?;
    }
    out.compact(args.rev, db.current_revision())
        .map_err(output_error)?;
    db.close()?;
    Ok(())
}

/// `lease grant|revoke|keep-alive|ttl|list`.
pub fn lease<W: Write>(dir: &Path, cmd: LeaseCommand, out: &mut Printer<W>) -> Result<(), Stop> {
    match cmd {
        LeaseCommand::Grant(args) => {
            let db = open(dir, true)?;
            let granted = db.lease_grant_with_id(args.id.unwrap_or(0), args.ttl)?;
            out.lease_granted(granted.id, granted.ttl, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::Revoke(args) => {
            let db = open(dir, false)?;
            let revision = db.lease_revoke(args.id)?;
            out.lease_revoked(args.id, revision).map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::KeepAlive(args) => keep_alive(dir, args, out)?,
        LeaseCommand::Ttl(args) => {
            let db = open(dir, false)?;
            let ttl = db.lease_time_to_live(args.id, args.keys)?;
            out.lease_ttl(&ttl, args.keys, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
        LeaseCommand::List => {
            let db = open(dir, false)?;
            let ids = db.leases()?;
            out.lease_list(&ids, db.current_revision())
                .map_err(output_error)?;
            db.close()?;
        }
    }
    Ok(())
}

/// `lease keep-alive ID [--every SECS [--count N]]`: one keep-alive, or one
/// every SECS until interrupted or N were done. Each is printed (and
/// flushed) as it happens.
fn keep_alive<W: Write>(
    dir: &Path,
    args: LeaseKeepAliveArgs,
    out: &mut Printer<W>,
) -> Result<(), Stop> {
    if args.every.is_some() {
        interrupt::install();
    }
    let db = open(dir, false)?;
    let mut done: u64 = 0;
    loop {
        let ttl = db.lease_keep_alive(args.id)?;
        out.lease_kept_alive(args.id, ttl, db.current_revision())
            .map_err(output_error)?;
        out.flush().map_err(output_error)?;
        done += 1;
        let Some(every) = args.every else {
            break;
        };
        if done == 1 && every >= Duration::from_secs(ttl.unsigned_abs()) {
            let _ = writeln!(
                io::stderr(),
                "warning: --every {}s is not shorter than the lease's TTL ({ttl}s); \
                 it may expire between keep-alives",
                every.as_secs_f64()
            );
        }
        if args.count.is_some_and(|n| done >= n) || !interrupt::sleep(every) {
            break;
        }
    }
    db.close()?;
    Ok(())
}

/// `watch KEY [END] [--prefix] [--rev R] ...`: prints events as they arrive
/// until interrupted, `--count` events were printed, or none came for
/// `--timeout`.
pub fn watch<W: Write>(dir: &Path, args: WatchArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let mut req = WatchRequest::new(ops::key_range(args.key, args.end, args.prefix, false)?)
        .start_revision(args.rev);
    if args.prev_kv {
        req = req.prev_kv();
    }
    if args.no_put {
        req = req.no_put();
    }
    if args.no_delete {
        req = req.no_delete();
    }
    interrupt::install();
    let db = open(dir, false)?;
    let watcher = db.watch(req)?;
    let mut left = args.count;
    let mut last_event = Instant::now();
    while !interrupt::interrupted() {
        let mut wait = interrupt::POLL;
        if let Some(timeout) = args.timeout {
            let idle = last_event.elapsed();
            if idle >= timeout {
                break;
            }
            wait = wait.min(timeout - idle);
        }
        let mut resp = match watcher.recv_timeout(wait) {
            Ok(resp) => resp,
            Err(RecvError::Timeout | RecvError::Empty) => continue,
            Err(RecvError::Ended) => {
                return Err(Failure::new(
                    EXIT_FAILED,
                    "the watch ended early: the store's history could not be read \
                     (run revkv verify)",
                )
                .into())
            }
        };
        if resp.compact_revision != 0 {
            let compacted = revkv::Error::Compacted {
                compact_revision: resp.compact_revision,
            };
            return Err(compacted.into());
        }
        if resp.events.is_empty() {
            continue; // a progress notification
        }
        if let Some(n) = left {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            resp.events.truncate(n);
            left = Some((n - resp.events.len()) as u64);
        }
        out.watch(&resp).map_err(output_error)?;
        out.flush().map_err(output_error)?;
        last_event = Instant::now();
        if left == Some(0) {
            break;
        }
    }
    drop(watcher);
    db.close()?;
    Ok(())
}

/// `verify`: checks the store and prints what it found. A store that cannot
/// be opened (recovery found damage) is reported as its one problem. Fails
/// (status 1) when any problem was found.
pub fn verify<W: Write>(dir: &Path, out: &mut Printer<W>) -> Result<(), Stop> {
    require_store(dir)?;
    let db = match Db::open(dir, Options::default().create_if_missing(false)) {
        Ok(db) => db,
        // Not a problem of the store: there is none, or another process has it.
        Err(e @ (revkv::Error::Locked { .. } | revkv::Error::InvalidArgument(_))) => {
            return Err(e.into())
        }
        Err(e) => {
            let report = VerifyReport {
                problems: vec![open_problem(dir, &e)],
                ..VerifyReport::default()
            };
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
