//! `revkv`: an etcdctl-like command line tool for a revkv data directory.
//!
//! ```text
//! revkv put hello world            # OK
//! revkv get hello                  # hello\nworld
//! revkv get / --prefix -w json     # {"header":{"revision":2},"kvs":[...],"count":2}
//! ```
//!
//! Each invocation opens the store (taking the directory's exclusive lock),
//! runs one command, prints its answer and closes the store. See `revkv
//! --help` for the data directory, the output formats and the exit statuses,
//! and `revkv txn --help` for the transaction format.
//!
//! This file only parses the command line and hands it to the command's
//! module; no module imports from it.

mod args;
mod bench;
mod commands;
mod dump;
mod error;
mod interrupt;
mod lease_id;
mod logging;
mod ops;
mod output;
mod sort;
mod stdin;
mod store;
mod txn_input;
mod words;

use args::{Cli, Command};
use clap::Parser;
use commands::{compaction, kv, lease, stats, verify, watch, watch_interactive};
use error::{output_error, Failure, Stop, EXIT_BAD_FEATURE};
use output::{Format, Printer};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap prints its own usage errors and exits with status 2 (0 for --help).
    let cli = Cli::parse();
    logging::init();
    match run(cli) {
        Ok(()) | Err(Stop::Quiet) => ExitCode::SUCCESS,
        Err(Stop::Report(failure)) => {
            // Not eprintln!, which panics when stderr is a closed pipe.
            let _ = writeln!(io::stderr(), "Error: {}", failure.message);
            ExitCode::from(u8::try_from(failure.code).unwrap_or(1))
        }
    }
}

/// The output format asked for, refused (before anything runs, where
/// etcdctl runs the command and then fails to print) when the command does
/// not print in it.
fn format_for(cli: &Cli) -> Result<Format, Failure> {
    let name = if cli.json { "json" } else { &cli.write_out };
    let format = Format::from_name(name).map_err(|m| Failure::new(EXIT_BAD_FEATURE, m))?;
    let refused = match format {
        // compaction prints its line in every format, as etcdctl's does.
        Format::Table => {
            !(cli.command.draws_tables() || matches!(cli.command, Command::Compaction(_)))
        }
        Format::Fields => matches!(cli.command, Command::Bench(_)),
        Format::Simple | Format::Json => false,
    };
    if refused {
        return Err(Failure::new(
            EXIT_BAD_FEATURE,
            format!("{name} not supported as output format"),
        ));
    }
    Ok(format)
}

fn run(cli: Cli) -> Result<(), Stop> {
    let format = format_for(&cli)?;
    // bench has a directory of its own: it never works in the store's.
    let bench_dir = cli
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(bench::DEFAULT_DIR));
    let dir = store::data_dir(cli.dir);
    let mut out = Printer::new(BufWriter::new(io::stdout().lock()), format, cli.hex);
    match cli.command {
        Command::Put(args) => kv::put(&dir, args, &mut out)?,
        Command::Get(args) => kv::get(&dir, args, &mut out)?,
        Command::Del(args) => kv::del(&dir, args, &mut out)?,
        Command::Txn(args) => kv::txn(&dir, args, &mut out)?,
        Command::Stats => stats::stats(&dir, &mut out)?,
        Command::Compaction(args) => compaction::compaction(&dir, args, &mut out)?,
        Command::Lease(cmd) => lease::lease(&dir, cmd, &mut out)?,
        Command::Watch(args) if args.interactive => watch_interactive::run(&dir, &mut out)?,
        Command::Watch(args) => watch::watch(&dir, args, &mut out)?,
        Command::Verify => verify::verify(&dir, &mut out)?,
        Command::Dump(args) => dump::dump(&dir, args, &mut out)?,
        Command::Restore(args) => dump::restore(&dir, args, &mut out)?,
        Command::Bench(args) => bench::bench(&bench_dir, args, &mut out)?,
        Command::BenchPhase(args) => bench::phase(args, &mut out)?,
    }
    out.finish()
        .map_err(output_error)?
        .flush()
        .map_err(output_error)
}
