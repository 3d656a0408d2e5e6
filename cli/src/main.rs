//! `revkv`: an etcdctl-like command line tool for a revkv data directory.
//!
//! ```text
//! revkv put hello world            # OK
//! revkv get hello                  # hello\nworld
//! revkv --json range / --prefix    # {"header":{"revision":2},"kvs":[...],...}
//! ```
//!
//! Each invocation opens the store (taking the directory's exclusive lock),
//! runs one command, prints its answer and closes the store. See `revkv
//! --help` for the data directory, the output formats and the exit statuses,
//! and `revkv txn --help` for the transaction format.

mod args;
mod bench;
mod commands;
mod dump;
mod error;
mod interrupt;
mod ops;
mod output;
mod txn_input;

use args::{Cli, Command};
use clap::Parser;
use error::{Failure, EXIT_BAD_INPUT, EXIT_FAILED};
use ops::Shown;
use output::{Format, Printer};
use revkv::{Db, Options, RangeRequest};
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// The data directory used when neither `--dir` nor `$REVKV_DIR` is given.
const DEFAULT_DIR: &str = "default.revkv";

fn main() -> ExitCode {
    // clap prints its own usage errors and exits with status 2 (0 for --help).
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Quiet) => ExitCode::SUCCESS,
        Err(Report(failure)) => {
            // Not eprintln!, which panics when stderr is a closed pipe.
            let _ = writeln!(io::stderr(), "Error: {}", failure.message);
            ExitCode::from(u8::try_from(failure.code).unwrap_or(1))
        }
    }
}

/// Why `run` stopped early.
enum Stop {
    /// Standard output was closed by the reader (e.g. `| head`): stop quietly.
    Quiet,
    /// Report this failure.
    Report(Failure),
}
use Stop::{Quiet, Report};

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Report(f)
    }
}

impl From<revkv::Error> for Stop {
    fn from(e: revkv::Error) -> Stop {
        Report(e.into())
    }
}

/// A failure to write the output.
fn output_error(e: io::Error) -> Stop {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Quiet
    } else {
        Report(Failure::new(
            EXIT_FAILED,
            format!("write to standard output: {e}"),
        ))
    }
}

/// The data directory: `--dir`, else `$REVKV_DIR` when set and not empty,
/// else `./default.revkv`.
fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os("REVKV_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// How long opening waits for the expiry of leases that are already due.
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// Opens the store, then lets the expiry thread revoke the leases whose
/// deadline has passed, so the command sees the store as of now. Reads
/// (`create` false) refuse a missing directory instead of creating an
/// empty store.
fn open(dir: &Path, create: bool) -> Result<Db, Failure> {
    if !create {
        require_store(dir)?;
    }
    let db = Db::open(dir, Options::default().create_if_missing(create))?;
    settle_leases(&db)?;
    Ok(db)
}

/// Fails unless `dir` is a directory.
fn require_store(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_FAILED,
        format!(
            "no revkv store at {} (a write creates one; use --dir or REVKV_DIR \
             for another directory)",
            dir.display()
        ),
    ))
}

/// Waits (at most [`SETTLE_LIMIT`]) until no live lease is past its
/// deadline. The store revokes due leases on its own expiry thread, right
/// after open but not before it returns; a command that ran at once would
/// still see the keys of a lease that expired while nothing had the store
/// open.
fn settle_leases(db: &Db) -> Result<(), Failure> {
    let give_up = Instant::now() + SETTLE_LIMIT;
    loop {
        let mut due = false;
        for id in db.leases()? {
            match db.lease_time_to_live(id, false) {
                Ok(t) if t.ttl == 0 => {
                    due = true;
                    break;
                }
                Ok(_) | Err(revkv::Error::LeaseNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !due || Instant::now() >= give_up {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// All of standard input, with a hint on stderr when it is a terminal.
fn read_stdin(what: &str) -> Result<Vec<u8>, Failure> {
    let mut stdin = io::stdin().lock();
    if stdin.is_terminal() {
        let _ = writeln!(
            io::stderr(),
            "reading {what} from standard input; end it with Ctrl-D"
        );
    }
    let mut buf = Vec::new();
    stdin
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(EXIT_FAILED, format!("read standard input: {e}")))?;
    Ok(buf)
}

fn run(cli: Cli) -> Result<(), Stop> {
    // bench has a directory of its own: it never works in the store's.
    let bench_dir = cli
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(bench::DEFAULT_DIR));
    let dir = data_dir(cli.dir);
    let format = if cli.json {
        Format::Json
    } else {
        Format::Plain
    };
    let mut out = Printer::new(BufWriter::new(io::stdout().lock()), format);
    // Input is read and checked before the store is opened, so a bad request
    // never touches the directory and the lock is held only while needed.
    match cli.command {
        Command::Put(args) => {
            let stdin_value = match args.value {
                Some(_) => None,
                None => Some(read_stdin("the value")?),
            };
            let req = ops::put_request(args, stdin_value)?;
            let db = open(&dir, true)?;
            let resp = db.put_with(req)?;
            out.put(&resp).map_err(output_error)?;
            db.close()?;
        }
        Command::Get(args) => {
            let req = RangeRequest::key(ops::arg_bytes(args.key)?).revision(args.rev);
            let db = open(&dir, false)?;
            let resp = db.range(req)?;
            out.range(&resp, Shown::Full).map_err(output_error)?;
            db.close()?;
        }
        Command::Del(args) => {
            let req = ops::delete_request(args)?;
            let db = open(&dir, true)?;
            let resp = db.delete_range(req)?;
            out.delete(&resp).map_err(output_error)?;
            db.close()?;
        }
        Command::Range(args) => {
            let (req, shown) = ops::range_request(args)?;
            let db = open(&dir, false)?;
            let resp = db.range(req)?;
            out.range(&resp, shown).map_err(output_error)?;
            db.close()?;
        }
        Command::Txn => {
            let input = read_stdin("a transaction")?;
            let parsed = txn_input::parse_txn(&input)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?;
            let db = open(&dir, true)?;
            let resp = db.txn(parsed.txn)?;
            let shown = if resp.succeeded {
                &parsed.success_shown
            } else {
                &parsed.failure_shown
            };
            out.txn(&resp, shown).map_err(output_error)?;
            db.close()?;
        }
        Command::Stats => {
            let db = open(&dir, false)?;
            let stats = db.stats()?;
            out.stats(&stats).map_err(output_error)?;
            db.close()?;
        }
        Command::Compact(args) => commands::compact(&dir, args, &mut out)?,
        Command::Lease(cmd) => commands::lease(&dir, cmd, &mut out)?,
        Command::Watch(args) => commands::watch(&dir, args, &mut out)?,
        Command::Verify => commands::verify(&dir, &mut out)?,
        Command::Dump(args) => dump::dump(&dir, args, &mut out)?,
        Command::Restore(args) => dump::restore(&dir, args, &mut out)?,
        Command::Bench(args) => {
            if format == Format::Json {
                let message = "bench prints a markdown table; --json is not supported";
                return Err(Failure::usage(message).into());
            }
            bench::bench(&bench_dir, args, &mut out)?
        }
        Command::BenchPhase(args) => bench::phase(args, &mut out)?,
    }
    out.finish()
        .map_err(output_error)?
        .flush()
        .map_err(output_error)
}
