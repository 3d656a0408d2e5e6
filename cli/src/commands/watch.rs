//! `watch KEY [END] [--prefix] [--rev R] ... [-- CMD ARGS...]`: prints events
//! as they arrive until interrupted, `--count` events were printed, or none
//! came for `--timeout`. The parts shared with `watch -i` (the request,
//! printing a response, a canceled watch) are here too.

use crate::args::WatchArgs;
use crate::commands::watch_exec;
use crate::error::{output_error, Failure, Stop, EXIT_FAILED, EXIT_WATCH_CANCELED};
use crate::interrupt;
use crate::ops;
use crate::output::Printer;
use crate::store::{self, Missing};
use revkv::{RecvError, WatchRequest, WatchResponse};
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

/// The library's request for a watch's arguments.
pub fn request(args: &WatchArgs) -> Result<WatchRequest, Failure> {
    let key = args
        .key
        .clone()
        .ok_or_else(|| Failure::usage("watch needs a key"))?;
    let mut req = WatchRequest::new(ops::key_range(key, args.end.clone(), args.prefix, false)?)
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
    Ok(req)
}

/// The end of a watch canceled below the compaction revision, as etcdctl
/// ends it: the canceled response printed, `watch was canceled (...)` on
/// standard error, exit status 5.
pub fn canceled<W: Write>(out: &mut Printer<W>, compact_revision: u64) -> Stop {
    let why = revkv::Error::Compacted { compact_revision };
    refused(out, compact_revision, &why)
}

/// The end of a watch the store refused (`why`: below the compaction
/// revision, or a range that holds no key), as etcdctl ends a watch the
/// server canceled at once: the canceled response printed,
/// `watch was canceled (...)` on standard error, exit status 5.
pub fn refused<W: Write>(out: &mut Printer<W>, compact_revision: u64, why: &revkv::Error) -> Stop {
    if let Err(e) = out
        .watch_canceled(compact_revision)
        .and_then(|()| out.flush())
    {
        return output_error(e);
    }
    let _ = writeln!(io::stderr(), "watch was canceled ({why})");
    Failure::new(EXIT_WATCH_CANCELED, "watch is canceled by the server").into()
}

/// What a response held.
pub enum Delivered {
    /// Events, printed (this many).
    Events(usize),
    /// A progress notification or nothing.
    Nothing,
}

/// Prints one response (keeping at most `left` events when given) and runs
/// `exec` for each event; a response that cancels the watch ends it.
/// Progress notifications are printed only when `show_progress`.
pub fn deliver<W: Write>(
    out: &mut Printer<W>,
    mut resp: WatchResponse,
    left: Option<u64>,
    exec: &[OsString],
    show_progress: bool,
) -> Result<Delivered, Stop> {
    if resp.compact_revision != 0 {
        return Err(canceled(out, resp.compact_revision));
    }
    if resp.events.is_empty() {
        if show_progress && resp.progress_notify {
            out.line(&format!("progress notify: {}", resp.revision))
                .map_err(output_error)?;
            out.watch(&resp).map_err(output_error)?;
            out.flush().map_err(output_error)?;
        }
        return Ok(Delivered::Nothing);
    }
    if let Some(n) = left {
        resp.events
            .truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    out.watch(&resp).map_err(output_error)?;
    out.flush().map_err(output_error)?;
    watch_exec::run_for_events(exec, &resp)?;
    Ok(Delivered::Events(resp.events.len()))
}

/// The error for a stream that ended without a cancel.
pub fn ended_early() -> Stop {
    Failure::new(
        EXIT_FAILED,
        "the watch ended early: the store's history could not be read (run revkv verify)",
    )
    .into()
}

/// Runs one watch until it is done.
pub fn watch<W: Write>(dir: &Path, args: WatchArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let req = request(&args)?;
    interrupt::install();
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let watcher = match db.watch(req) {
        Ok(w) => w,
        Err(revkv::Error::Compacted { compact_revision }) => {
            return Err(canceled(out, compact_revision))
        }
        Err(e @ revkv::Error::EmptyWatchRange { .. }) => return Err(refused(out, 0, &e)),
        Err(e) => return Err(e.into()),
    };
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
        let resp = match watcher.recv_timeout(wait) {
            Ok(resp) => resp,
            Err(RecvError::Timeout | RecvError::Empty) => continue,
            Err(RecvError::Ended) => return Err(ended_early()),
        };
        if let Delivered::Events(n) = deliver(out, resp, left, &args.exec, false)? {
            last_event = Instant::now();
            left = left.map(|l| l.saturating_sub(n as u64));
            if left == Some(0) {
                break;
            }
        }
    }
    drop(watcher);
    db.close()?;
    Ok(())
}
