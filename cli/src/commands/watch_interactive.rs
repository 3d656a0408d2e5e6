//! `watch -i`: watch requests read from standard input, one per line, as
//! etcdctl reads them: `watch KEY [END] [--prefix] [--rev R] [--prev-kv]
//! [-- CMD ARGS...]` starts a watch (several may run at once) and `progress`
//! asks each for a progress notification. The end of the input ends the
//! command with status 3, as etcdctl's (after the events already waiting
//! have been printed).

use crate::args::{WatchLine, WatchRequestLine};
use crate::commands::watch::{self, Delivered};
use crate::error::{output_error, Failure, Stop, EXIT_BAD_INPUT, EXIT_WATCH_CANCELED};
use crate::interrupt;
use crate::output::Printer;
use crate::store::{self, Missing};
use crate::words;
use clap::Parser;
use revkv::{Db, RecvError, Watcher};
use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Duration;

/// How long the loop sleeps when neither a line nor an event came.
const IDLE: Duration = Duration::from_millis(5);

/// One running watch and its command.
struct Running {
    watcher: Watcher,
    exec: Vec<OsString>,
}

/// A line of standard input, or its end.
enum Input {
    Line(Vec<u8>),
    End,
}

/// Reads standard input on a thread of its own, one line at a time.
fn read_lines() -> Receiver<Input> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Input::End);
                    return;
                }
                Ok(_) => {
                    if tx.send(Input::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Runs `watch -i` until the end of its input or an interrupt.
pub fn run<W: Write>(dir: &Path, out: &mut Printer<W>) -> Result<(), Stop> {
    interrupt::install();
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let lines = read_lines();
    let mut running: Vec<Running> = Vec::new();
    while !interrupt::interrupted() {
        let mut busy = poll(out, &mut running)?;
        match lines.try_recv() {
            Ok(Input::Line(line)) => {
                busy = true;
                request(&db, out, &line, &mut running)?;
            }
            Ok(Input::End) | Err(TryRecvError::Disconnected) => {
                while poll(out, &mut running)? {}
                return Err(
                    Failure::new(EXIT_BAD_INPUT, "error reading watch request line: EOF").into(),
                );
            }
            Err(TryRecvError::Empty) => {}
        }
        if !busy {
            std::thread::sleep(IDLE);
        }
    }
    drop(running);
    db.close()?;
    Ok(())
}

/// Prints what every watch has waiting; true if anything came.
fn poll<W: Write>(out: &mut Printer<W>, running: &mut Vec<Running>) -> Result<bool, Stop> {
    let mut any = false;
    let mut i = 0;
    while let Some(r) = running.get(i) {
        match r.watcher.try_recv() {
            Ok(resp) => {
                any = true;
                match watch::deliver(out, resp, None, &r.exec, true) {
                    Ok(Delivered::Events(_) | Delivered::Nothing) => {}
                    // A canceled watch ends alone, as etcdctl's goroutine does.
                    Err(Stop::Report(f)) if f.code == EXIT_WATCH_CANCELED => {
                        running.remove(i);
                        continue;
                    }
                    Err(stop) => return Err(stop),
                }
            }
            Err(RecvError::Empty | RecvError::Timeout) => i += 1,
            Err(RecvError::Ended) => return Err(watch::ended_early()),
        }
    }
    Ok(any)
}

/// Handles one request line, with etcdctl's messages for bad ones (on
/// standard error; the command goes on).
fn request<W: Write>(
    db: &Db,
    out: &mut Printer<W>,
    raw: &[u8],
    running: &mut Vec<Running>,
) -> Result<(), Stop> {
    let text = String::from_utf8_lossy(raw.strip_suffix(b"\n").unwrap_or(raw)).into_owned();
    let invalid = |why: &str| {
        let _ = writeln!(io::stderr(), "Invalid command {text} ({why})");
    };
    let words = match words::split(text.as_bytes()) {
        Ok(words) => words,
        Err(e) => {
            invalid(&e);
            return Ok(());
        }
    };
    match words.first().and_then(|w| w.to_str()) {
        None => {
            let _ = writeln!(
                io::stderr(),
                "Invalid command: {text} (watch and progress supported)"
            );
            return Ok(());
        }
        Some("watch" | "progress") => {}
        Some(_) => {
            invalid("only support watch");
            return Ok(());
        }
    }
    if words.len() == 1 && words[0] == "watch" {
        invalid("command type or key is not provided");
        return Ok(());
    }
    let parsed = match WatchLine::try_parse_from(&words) {
        Ok(parsed) => parsed,
        Err(e) => {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            invalid(first.strip_prefix("error: ").unwrap_or(first));
            return Ok(());
        }
    };
    match parsed.request {
        WatchRequestLine::Progress => db.request_progress(),
        WatchRequestLine::Watch(args) => {
            // A line such as `watch -i` parses but names no key: reported
            // like every other bad line, and the command goes on.
            let req = match watch::request(&args) {
                Ok(req) => req,
                Err(f) => {
                    invalid(&f.message);
                    return Ok(());
                }
            };
            match db.watch(req) {
                Ok(watcher) => running.push(Running {
                    watcher,
                    exec: args.exec,
                }),
                Err(revkv::Error::Compacted { compact_revision }) => {
                    match watch::canceled(out, compact_revision) {
                        Stop::Report(f) if f.code == EXIT_WATCH_CANCELED => {}
                        other => return Err(other),
                    }
                }
                Err(e @ revkv::Error::EmptyWatchRange { .. }) => match watch::refused(out, 0, &e) {
                    Stop::Report(f) if f.code == EXIT_WATCH_CANCELED => {}
                    other => return Err(other),
                },
                Err(e) => invalid(&e.to_string()),
            }
        }
    }
    out.flush().map_err(output_error)?;
    Ok(())
}
