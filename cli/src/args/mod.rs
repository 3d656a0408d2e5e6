//! The command line: global options, the commands, and their arguments. The
//! operation arguments ([`PutArgs`], [`DelArgs`], [`GetArgs`]) are shared
//! with the operation lines of `revkv txn`, parsed with [`TxnOpLine`], and
//! [`WatchArgs`] with the request lines of `revkv watch -i`
//! ([`WatchLine`]).

pub mod help;

use crate::lease_id;
use clap::{Args, Parser, Subcommand};
use help::{
    AFTER_HELP, BENCH_HELP, COMPACT_HELP, DUMP_HELP, LEASE_HELP, RESTORE_HELP, TXN_HELP,
    VERIFY_HELP, WATCH_HELP,
};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// `revkv`: an etcdctl-like command line for a revkv data directory.
#[derive(Debug, Parser)]
#[command(
    name = "revkv",
    version,
    about = "Read and write a revkv store (etcd's MVCC model, embedded) from the command line",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Data directory [default: $REVKV_DIR, else ./default.revkv; for bench: ./revkv-bench]
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Output format: simple, json, fields or table (see below)
    #[arg(
        short = 'w',
        long = "write-out",
        global = true,
        value_name = "FORMAT",
        default_value = "simple"
    )]
    pub write_out: String,
    /// Print keys and values as hex escapes (\xHH) in the simple format
    #[arg(long, global = true)]
    pub hex: bool,
    /// Another name for -w json
    #[arg(long, global = true, hide = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Put a value at a key (the value is read from standard input when omitted)
    Put(PutArgs),
    /// Get a key, a range [KEY, END), every key with a prefix or from a key
    #[command(visible_alias = "range")]
    Get(GetArgs),
    /// Delete a key, a range [KEY, END), or every key with a prefix
    #[command(visible_alias = "delete")]
    Del(DelArgs),
    /// Run a transaction read from standard input (see `revkv txn --help`)
    #[command(after_help = TXN_HELP)]
    Txn(TxnArgs),
    /// Show figures about the store (revisions, keys, segments, bytes)
    Stats,
    /// Compact the history below a revision
    #[command(visible_alias = "compact", after_help = COMPACT_HELP)]
    Compaction(CompactArgs),
    /// Grant, revoke, keep alive and inspect leases (see `revkv lease --help`)
    #[command(subcommand, after_help = LEASE_HELP)]
    Lease(LeaseCommand),
    /// Print changes to a key or range: replay them from a revision, or wait for new ones
    #[command(after_help = WATCH_HELP)]
    Watch(WatchArgs),
    /// Check every file of the store; print a summary and each problem found
    #[command(after_help = VERIFY_HELP)]
    Verify,
    /// Write the store (latest state, or its history) as JSON lines
    #[command(after_help = DUMP_HELP)]
    Dump(DumpArgs),
    /// Create a new store from a dump
    #[command(after_help = RESTORE_HELP)]
    Restore(RestoreArgs),
    /// Measure revkv on this machine's disk; print the results as a markdown table
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
    /// One phase of `bench`, run by `bench` itself in a child process
    #[command(name = "__bench-phase", hide = true)]
    BenchPhase(BenchPhaseArgs),
}

impl Command {
    /// True when the command prints a table with `-w table` (revkv's own
    /// figures); the others refuse it, as etcdctl's do.
    pub fn draws_tables(&self) -> bool {
        matches!(
            self,
            Command::Stats | Command::Verify | Command::Restore(_) | Command::Dump(_)
        )
    }
}

/// Arguments of `bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Entries in the bulk load (the read and removal workloads scale with it)
    #[arg(long, value_name = "N", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1_000..=1_000_000_000))]
    pub entries: u64,
    /// Also write the table to FILE
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Keep the data bench wrote (in --dir) instead of removing it at the end
    #[arg(long)]
    pub keep: bool,
    /// Stop each read workload after SECS seconds and report what it did
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = parse_secs)]
    pub cap_secs: Duration,
    /// The fixed counts of the workloads (tests shrink them)
    #[command(flatten)]
    pub counts: BenchCounts,
}

/// The fixed counts of `bench`'s workloads, hidden options so tests can run
/// a small bench; the defaults are the comparison harness's.
#[derive(Debug, Clone, Copy, Args)]
pub struct BenchCounts {
    /// Individual durable writes (one put per commit)
    #[arg(long, hide = true, default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub single_writes: u64,
    /// Durable puts of each of the 8 concurrent writer threads
    #[arg(long, hide = true, default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub thread_writes: u64,
    /// Appends + fdatasync of the raw latency limit
    #[arg(long, hide = true, default_value_t = 1_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub raw_syncs: u64,
    /// MiB written for the raw sequential bandwidth limit
    #[arg(long, hide = true, default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub raw_mib: u64,
}

/// Arguments of the hidden `__bench-phase` command.
#[derive(Debug, Args)]
pub struct BenchPhaseArgs {
    /// Which phase
    #[arg(value_enum)]
    pub phase: BenchPhase,
    /// The bench directory (the store is its `store` subdirectory)
    pub dir: PathBuf,
    /// Entries in the bulk load
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub entries: u64,
    /// Stop each read workload after SECS seconds
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub cap_secs: Duration,
    /// Overwrite batches the crash writer acknowledged before it was killed
    /// (`reads` checks them)
    #[arg(long, default_value_t = 0)]
    pub acked: u64,
    /// The fixed counts.
    #[command(flatten)]
    pub counts: BenchCounts,
}

/// The phases of `bench`, each in a process of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchPhase {
    /// Bulk load, individual durable writes, concurrent writers, clean close.
    Load,
    /// Open after the clean close.
    Open,
    /// Durable batches until killed with SIGKILL.
    Crash,
    /// Open after the kill and check, reads, range reads, removals, compaction.
    Reads,
}

/// Arguments of `dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// Every revision the store holds, not only the live key-values
    #[arg(long)]
    pub history: bool,
    /// Write to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Arguments of `restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The dump to read (- for standard input)
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Give every lease its full TTL from now instead of its dumped deadline
    #[arg(long)]
    pub renew_leases: bool,
}

/// Arguments of `compaction`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The compaction revision: the oldest revision still readable afterwards
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub rev: u64,
    /// Wait until the old segments have been rewritten and removed
    #[arg(long)]
    pub physical: bool,
}

/// Arguments of `txn`.
#[derive(Debug, Args)]
pub struct TxnArgs {
    /// Prompt for each section, as etcdctl txn -i does
    #[arg(short = 'i', long)]
    pub interactive: bool,
}

/// The lease commands.
#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Grant a lease of TTL seconds; print its id
    #[command(after_help = LEASE_HELP)]
    Grant(LeaseGrantArgs),
    /// Revoke a lease and delete every key attached to it (in one revision)
    #[command(after_help = LEASE_HELP)]
    Revoke(LeaseIdArgs),
    /// Keep a lease alive until interrupted or it is gone (once with --once)
    #[command(after_help = LEASE_HELP)]
    KeepAlive(LeaseKeepAliveArgs),
    /// Show a lease's granted and remaining TTL, and its keys with --keys
    #[command(visible_alias = "ttl", after_help = LEASE_HELP)]
    Timetolive(LeaseTtlArgs),
    /// List the ids of every live lease
    #[command(after_help = LEASE_HELP)]
    List,
}

/// Arguments of `lease grant`.
#[derive(Debug, Args)]
pub struct LeaseGrantArgs {
    /// Time to live in seconds (at least 1)
    #[arg(value_parser = clap::value_parser!(i64).range(1..))]
    pub ttl: i64,
    /// Use this id (hex) instead of one the store picks
    #[arg(long, value_name = "ID", value_parser = lease_id::parse)]
    pub id: Option<i64>,
}

/// Arguments of `lease revoke`: a lease id.
#[derive(Debug, Args)]
pub struct LeaseIdArgs {
    /// The lease id, in hex
    #[arg(value_parser = lease_id::parse)]
    pub id: i64,
}

/// Arguments of `lease keep-alive`.
#[derive(Debug, Args)]
pub struct LeaseKeepAliveArgs {
    /// The lease id, in hex
    #[arg(value_parser = lease_id::parse)]
    pub id: i64,
    /// Renew once and stop
    #[arg(long, conflicts_with_all = ["every", "count"])]
    pub once: bool,
    /// Renew every SECS seconds (fractions allowed) instead of every third
    /// of the TTL
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub every: Option<Duration>,
    /// Stop after N keep-alives (the first one included)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// Arguments of `lease timetolive`.
#[derive(Debug, Args)]
pub struct LeaseTtlArgs {
    /// The lease id, in hex
    #[arg(value_parser = lease_id::parse)]
    pub id: i64,
    /// Also print the keys attached to the lease
    #[arg(long)]
    pub keys: bool,
}

/// Arguments of `watch` (and of a `watch` line of `watch -i`).
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Read watch requests from standard input (see below)
    #[arg(short = 'i', long, conflicts_with_all = ["key", "end", "exec"])]
    pub interactive: bool,
    /// The key, or the start of the range
    #[arg(required_unless_present = "interactive")]
    pub key: Option<OsString>,
    /// End of the range (exclusive)
    pub end: Option<OsString>,
    /// Watch every key that starts with KEY (every key when KEY is "")
    #[arg(long, conflicts_with = "end")]
    pub prefix: bool,
    /// Start at this revision: replay every change from R on, then wait for
    /// new ones (0 = only changes after the current revision)
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub rev: u64,
    /// Also print each key-value as it was before the change
    #[arg(long)]
    pub prev_kv: bool,
    /// Leave out puts
    #[arg(long)]
    pub no_put: bool,
    /// Leave out deletes
    #[arg(long, conflicts_with = "no_put")]
    pub no_delete: bool,
    /// Stop after printing N events
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop when no event came for SECS seconds (fractions allowed)
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// A command to run for each event (after `--`), with ETCD_WATCH_* set
    #[arg(last = true, value_name = "CMD")]
    pub exec: Vec<OsString>,
}

/// Arguments of `put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The key
    pub key: OsString,
    /// The value; read from standard input (all of it, as is) when omitted
    /// (and not --ignore-value)
    pub value: Option<OsString>,
    /// Attach the key to this lease (hex)
    #[arg(long, value_name = "ID", value_parser = lease_id::parse)]
    pub lease: Option<i64>,
    /// Also print the key-value as it was before the put
    #[arg(long)]
    pub prev_kv: bool,
    /// Keep the key's current value (the key must exist)
    #[arg(long)]
    pub ignore_value: bool,
    /// Keep the key's current lease (the key must exist)
    #[arg(long)]
    pub ignore_lease: bool,
}

/// Arguments of `get` (and of `get` inside a transaction).
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The key, or the start of the range
    pub key: OsString,
    /// End of the range (exclusive)
    pub end: Option<OsString>,
    /// Get every key that starts with KEY (every key when KEY is "")
    #[arg(long, conflicts_with_all = ["end", "from_key"])]
    pub prefix: bool,
    /// Get every key >= KEY
    #[arg(long, conflicts_with = "end")]
    pub from_key: bool,
    /// Read at this revision (0 = current); fails if it is in the future or
    /// has been compacted
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub rev: u64,
    /// Return at most N key-values (0 = all); the count is still the total
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: u64,
    /// Get only the keys
    #[arg(long)]
    pub keys_only: bool,
    /// Get only the number of keys
    #[arg(long, conflicts_with = "keys_only")]
    pub count_only: bool,
    /// Print only the values (simple format)
    #[arg(long)]
    pub print_value_only: bool,
    /// Sort by CREATE, KEY, MODIFY, VALUE or VERSION
    #[arg(long, value_name = "TARGET")]
    pub sort_by: Option<String>,
    /// ASCEND or DESCEND (ASCEND by default)
    #[arg(long, value_name = "ORDER")]
    pub order: Option<String>,
    /// etcdctl's l(inearizable) or s(erializable): the same here, one store
    #[arg(long, value_name = "C", hide = true, value_parser = ["l", "s"])]
    pub consistency: Option<String>,
}

/// Arguments of `del`.
#[derive(Debug, Args)]
pub struct DelArgs {
    /// The key, or the start of the range
    pub key: OsString,
    /// End of the range (exclusive)
    pub end: Option<OsString>,
    /// Delete every key that starts with KEY (every key when KEY is "")
    #[arg(long, conflicts_with_all = ["end", "from_key"])]
    pub prefix: bool,
    /// Delete every key >= KEY
    #[arg(long, conflicts_with = "end")]
    pub from_key: bool,
    /// Also print the deleted key-values
    #[arg(long)]
    pub prev_kv: bool,
}

/// One operation line of a transaction read by `revkv txn`.
#[derive(Debug, Parser)]
#[command(
    name = "txn operation",
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
pub struct TxnOpLine {
    /// The operation.
    #[command(subcommand)]
    pub op: TxnOp,
}

/// The operations a transaction branch may hold.
#[derive(Debug, Subcommand)]
pub enum TxnOp {
    /// `put KEY VALUE [--lease ID] [--prev-kv]`
    Put(PutArgs),
    /// `del KEY [END] [--prefix | --from-key] [--prev-kv]`
    #[command(alias = "delete")]
    Del(DelArgs),
    /// `get KEY [END] [--prefix | --from-key] [--rev R] [--limit N] ...`
    #[command(alias = "range")]
    Get(GetArgs),
}

/// One request line of `revkv watch -i`.
#[derive(Debug, Parser)]
#[command(
    name = "watch request",
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true
)]
pub struct WatchLine {
    /// The request.
    #[command(subcommand)]
    pub request: WatchRequestLine,
}

/// The requests of `revkv watch -i`.
#[derive(Debug, Subcommand)]
pub enum WatchRequestLine {
    /// `watch KEY [END] [--prefix] [--rev R] [--prev-kv] [-- CMD ARGS...]`
    Watch(WatchArgs),
    /// `progress`: a progress notification from every watch
    Progress,
}

/// Parses a positive number of seconds, fractions allowed (`0.5`).
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|e| format!("invalid number of seconds {s:?}: {e}"))?;
    if !(secs > 0.0 && secs <= 1e9) {
        return Err(format!(
            "invalid number of seconds {s:?}: must be above 0 and at most 1e9"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
        TxnOpLine::command().debug_assert();
        WatchLine::command().debug_assert();
    }

    #[test]
    fn seconds_parse_with_fractions_and_must_be_positive() {
        assert_eq!(parse_secs("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "x", "NaN", "inf", "1e10"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn etcdctl_spellings_parse() {
        let cli = Cli::try_parse_from([
            "revkv",
            "-w",
            "json",
            "get",
            "k",
            "--prefix",
            "--sort-by",
            "MODIFY",
            "--order",
            "DESCEND",
            "--print-value-only",
        ])
        .expect("get");
        assert_eq!(cli.write_out, "json");
        assert!(matches!(cli.command, Command::Get(ref g) if g.prefix && g.print_value_only));
        let cli =
            Cli::try_parse_from(["revkv", "watch", "k", "--rev", "3", "--", "echo", "-n", "x"])
                .expect("watch exec");
        let Command::Watch(w) = cli.command else {
            panic!("watch")
        };
        assert_eq!(w.exec, ["echo", "-n", "x"]);
        assert!(Cli::try_parse_from(["revkv", "compact", "3"]).is_ok());
        assert!(Cli::try_parse_from(["revkv", "range", "a", "b"]).is_ok());
        assert!(Cli::try_parse_from(["revkv", "lease", "keep-alive", "--once", "1f"]).is_ok());
    }
}
