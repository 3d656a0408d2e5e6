//! The command line: global options, the commands, and their arguments. The
//! operation arguments ([`PutArgs`], [`DelArgs`], [`RangeArgs`]) are shared
//! with the operation lines of `revkv txn`, which are parsed with [`TxnOpLine`].

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Text shown after the top-level help.
const AFTER_HELP: &str = "\
Data directory:
  --dir DIR if given, else $REVKV_DIR if set and not empty, else ./default.revkv
  (relative to the current directory, like etcd's default.etcd). put, del, txn
  and lease grant create the store if it is missing and restore makes a new
  one; every other command fails when there is none. Only one process may have
  a directory open, so a command that keeps running (watch, lease keep-alive
  --every) holds it meanwhile.
  Leases whose deadline has passed are revoked when a command opens the store,
  before it runs (see `revkv lease --help`).

Output:
  Plain output is etcdctl's: get/range print each key on one line and its value
  on the next (raw bytes; nothing for no key), only the keys with --keys-only,
  only the count with --count-only; put prints OK (then the previous key and
  value with --prev-kv); del prints the number of keys deleted (then the
  deleted keys and values with --prev-kv); stats prints `name: value` lines.
  compact, lease, watch, verify, dump and restore describe theirs in their
  own --help.
  --json prints one JSON object on one line with etcd's field names. Keys and
  values in JSON are base64 (standard alphabet, padded), as with
  `etcdctl -w json`; revisions, versions, counts and leases are numbers. Every
  field is always present (empty lists, null for an absent prev_kv).

Keys and values:
  Arguments are taken as raw bytes. Put `--` before a key or value that starts
  with '-': `revkv put -- -k -v`.

Exit status:
  0  success
  1  the operation failed (the message says why, e.g. a future or compacted
     revision, an unknown lease, an I/O error; verify: a problem was found)
  2  bad command line (unknown option, missing argument, bad number)
  3  malformed input: a transaction on standard input (txn), a dump (restore)
  4  the data directory is locked by another open store";

/// Text shown after the help of `txn`.
pub const TXN_HELP: &str = "\
Reads one transaction from standard input in etcdctl's txn format: three
sections separated by one empty line each.

  1. compares, one per line, all of which must hold for the success branch:
       TARGET(\"KEY\") OP \"OPERAND\"
       TARGET(\"KEY\", \"END\") OP \"OPERAND\"     (every key in [KEY, END))
     TARGET is one of mod (m), create (c), version (ver), value (val), lease;
     OP is one of = (or ==), !=, <, >. An absent key compares as zeros (mod,
     create, version, lease 0); a value compare on an absent key is false.
     Examples:  mod(\"k\") = \"0\"    value(\"k\") = \"v\"    version(\"k\") > \"2\"
                create(\"k\") < \"5\"  lease(\"k\") = \"0\"
  2. success operations, one per line:
       put KEY VALUE [--lease ID] [--prev-kv]
       del KEY [END] [--prefix | --from-key] [--prev-kv]
       get KEY [END] [--prefix | --from-key] [--rev R] [--limit N]
           [--keys-only] [--count-only]
  3. failure operations, same syntax, up to the next empty line or the end.

Strings may be double-quoted with escapes (\\\" \\\\ \\n \\t \\r \\0 \\xHH \\uHHHH) or
back-quoted (raw); unquoted words end at whitespace. Lines starting with # are
comments. An empty first line means no compares.

Example:
  printf 'mod(\"lock\") = \"0\"\\n\\nput lock me\\n\\nget lock\\n' | revkv txn

Plain output: SUCCESS or FAILURE, then for each operation an empty line and
its output as the put, del or get command prints it. --json prints
{\"header\":{\"revision\":N},\"succeeded\":B,\"responses\":[...]} where each response is
{\"response_put\":{..}}, {\"response_delete_range\":{..}} or {\"response_range\":{..}}.";

/// Text shown after the help of `compact`.
pub const COMPACT_HELP: &str = "\
Compacts the history at REV: from then on reads and watches below REV (get
--rev, range --rev, watch --rev) fail with \"required revision has been
compacted\"; every key keeps its value at REV and later. REV must be above the
current compaction revision (see stats) and at most the current revision.

The space is reclaimed by rewriting the old sealed segments. --physical waits
for that and fails if it fails; without it the rewrite runs in the
background, and one that was interrupted is finished the next time the store
is opened.

Plain output: compacted revision REV
--json: {\"header\":{\"revision\":N},\"compact_revision\":REV}";

/// Text shown after the help of `lease` and of each lease command.
pub const LEASE_HELP: &str = "\
Leases live in the data directory, like keys. Each has a TTL in seconds and a
deadline in wall-clock time that is stored with every grant and keep-alive, so
a lease outlives the command that granted it:

  revkv lease grant 60                  # lease 7587869498488263175 granted with TTL(60s)
  revkv put session me --lease 7587869498488263175
  revkv lease keep-alive 7587869498488263175 --every 20

The store is embedded: a lease only expires while some process has the store
open. Every command that opens the store first revokes the leases whose
deadline has passed, deleting their keys; a command that keeps the store open
(watch, lease keep-alive --every) also revokes leases as they fall due. A
lease whose deadline passed while nothing had the store open is therefore
revoked by the next command, whatever it is.

Lease ids are printed in decimal and accepted in decimal or in hex after 0x
(as etcdctl prints them).

Plain output (etcdctl's, with decimal ids):
  grant       lease ID granted with TTL(Ns)
  revoke      lease ID revoked
  keep-alive  lease ID keepalived with TTL(N)       (one line per keep-alive)
  ttl         lease ID granted with TTL(Ns), remaining(Ns)
              ... , attached keys([K1 K2])          (with --keys)
  list        found N leases, then one id per line
--json prints one object per line with etcd's field names: grant and each
keep-alive {\"header\":{\"revision\":N},\"ID\":ID,\"TTL\":N}; revoke
{\"header\":{\"revision\":N}} (the revision that deleted its keys); ttl
{\"header\":..,\"ID\":ID,\"TTL\":remaining,\"grantedTTL\":N,\"keys\":[base64..]};
list {\"header\":..,\"leases\":[{\"ID\":ID},..]}.

An unknown, revoked or expired lease fails with \"requested lease not found: ID\"
(exit status 1).";

/// Text shown after the help of `watch`.
pub const WATCH_HELP: &str = "\
Prints each change to KEY (or to [KEY, END), or to every key with the prefix
KEY) as etcdctl watch does, three lines per event:
  PUT                       DELETE
  KEY                       KEY
  VALUE                     (an empty line)
With --prev-kv the key and value before the change come between the first
line and the key, when the key existed. Keys and values are raw bytes.
--json prints one JSON object per line for each batch of events:
  {\"header\":{\"revision\":N},\"watch_id\":1,\"compact_revision\":0,
   \"events\":[{\"type\":\"PUT\",\"kv\":{..},\"prev_kv\":null},..]}
with key-values as get --json prints them (type is PUT or DELETE).

The store is embedded and the watch holds its lock, so while it runs no other
process can write: the only new changes it can see are deletions by leases
that expire meanwhile. Its main use is to replay history with --rev: every
change from revision R on, in order, then the new ones. Without --rev it
starts after the current revision.

It runs until interrupted (Ctrl-C or SIGTERM: exit status 0), until COUNT
events were printed with --count, or until no event came for SECS seconds
with --timeout (fractions allowed: --timeout 0.5). A revision below the
compaction revision fails at once (exit status 1).

Example: every change ever made under /config/, then stop:
  revkv watch /config/ --prefix --rev 1 --timeout 1";

/// Text shown after the help of `verify`.
pub const VERIFY_HELP: &str = "\
Re-reads every file of the store and checks it: each frame's checksum and
contents, every index entry against its segment, the MANIFEST against the
files in the directory, and each key's chain of revisions. Opening the store
runs recovery first; damage recovery finds (a store that cannot be opened) is
reported as the problem.

Plain output: `name: value` lines (segments, frames, revisions, keys, bytes,
problems), then one line per problem:
  FILE:OFFSET: WHAT
(OFFSET is a byte offset in FILE; 0 when the problem concerns the whole
file). When the store could not be opened, only the problems line and that
problem are printed. --json prints {\"opened\":B,\"segments\":N,\"frames\":N,\"revisions\":N,
\"keys\":N,\"bytes\":N,\"problems\":[{\"file\":F,\"offset\":N,\"what\":S},..]}.

A progress bar is drawn on standard error when it is a terminal and the store
is larger than 4 MiB; nothing is drawn otherwise.

Exit status: 0 when no problem was found, 1 when any was (or when the store
could not be opened), 4 when the directory is locked.";

/// Text shown after the help of `dump`: the dump format.
pub const DUMP_HELP: &str = "\
Writes the store as JSON lines to standard output, or to FILE with -o (written
under a temporary name, synced and renamed, so FILE is never half written).
Without --history: the live key-values at the current revision. With
--history: every revision the store still holds (from the compaction revision
on, and the versions kept below it), so the restored store answers reads at
every revision the dumped one did. `revkv restore` reads a dump back.

Format: one JSON object per line, its \"type\" saying which:
  {\"type\":\"header\",\"format\":\"revkv-dump\",\"version\":1,\"history\":B,
   \"revision\":N,\"compact_revision\":C}
      First, once. N: the store's revision when the dump began (writes made
      after it are not in the dump). C: reads below it were refused (N
      without --history, where there is no history).
  {\"type\":\"lease\",\"ID\":ID,\"TTL\":SECS,\"deadline_ms\":MS}
      One per live lease; MS is its wall-clock deadline in Unix milliseconds.
  {\"type\":\"revision\",\"revision\":R,\"ops\":[OP,..]}
      The writes of revision R, in increasing order of R. Each OP is
      {\"type\":\"PUT\",\"key\":K,\"value\":V,\"create_revision\":N,\"version\":N,
       \"lease\":ID,\"prev_mod_revision\":N}
      or the same with \"type\":\"DELETE\" (value \"\"; create_revision, version
      and lease 0). K and V are base64 (standard alphabet, padded);
      prev_mod_revision is the revision of the key's previous write (0 if
      none). Without --history each live key appears once, at its mod
      revision, and revisions without a live key are left out.

Output with -o: dumped revision N (R revisions, W writes, L leases) to FILE
--json: {\"header\":{\"revision\":N},\"compact_revision\":C,\"revisions\":R,\"ops\":W,
\"leases\":L,\"file\":FILE}. Without -o the dump itself is the output.";

/// Text shown after the help of `restore`.
pub const RESTORE_HELP: &str = "\
Creates a new store in the data directory (--dir, else $REVKV_DIR, else
./default.revkv) from a dump written by `revkv dump` (see `revkv dump --help`
for the format). The directory must be missing or empty: restore never
writes into an existing store. Every revision keeps its number, every key
its create revision, version and lease, and the dump's compaction revision
is applied at the end. A dump without --history restores the latest state:
the new store's revision is that of its newest live write, which is below
the dumped store's revision when later writes were deletions.

Leases keep their wall-clock deadlines: a lease whose deadline passed since
the dump was taken expires when the next command opens the restored store,
deleting its keys. --renew-leases gives each lease its full TTL from now
instead (as etcd does after restoring a snapshot).

Lines are checked as they are read. A malformed line fails with its number
(exit status 3); on any failure the directory is left as it was found. In a
dump written by hand an op may leave out \"lease\" (0) and \"prev_mod_revision\"
(the revision of the key's previous write in the dump, 0 for its first); a
DELETE needs only \"type\" and \"key\". A prev_mod_revision that is given must
be that same revision (for a key's first write: 0, or below the header's
compact_revision), and a put's lease must be granted by a lease line.

Plain output: `name: value` lines (revision, compact_revision, revisions, ops,
leases) for the new store; --json one object with these fields.";

/// Text shown after the help of `bench`.
pub const BENCH_HELP: &str = "\
Runs revkv's share of the workloads of the comparison harness (benches/compare
in the source tree; redb's benchmark definitions) on this machine's disk, with
the same keys (24 random bytes) and values (150 random bytes), and prints the
harness's table for revkv alone. Every write is durable (SyncPolicy::Always).

  raw limits of the disk, before and after the workloads: append 200 B +
    fdatasync, 1,000 times (median, p99); 256 MiB in 1 MiB writes + fsync
  bulk load of N entries (--entries), 1,000 per durable transaction
  1,000 individual durable writes (one put per commit): total, rate, p50, p99
  durable writes from 8 threads at once, 250 puts each
  N random reads from 1 and from 2 threads; N/2 range reads of 10 entries
  removal of half the keys, 1,000 per durable transaction
  open time after a clean close, and after a kill -9 of a child process
    writing durable batches; every write it acknowledged must be there
  disk size before and after compaction; peak RSS of each process

Data directory: --dir DIR, else ./revkv-bench ($REVKV_DIR is not used). It
must be missing, empty, or left by an earlier `revkv bench --keep`: bench
refuses any other non-empty directory and never deletes what it did not
create. It removes what it wrote at the end, unless --keep. Put it on the disk
you want to measure (not tmpfs). At the default size a run takes a few
minutes and needs about 500 MiB of disk.

Output: progress on standard error (a bar on a terminal, one line per step
otherwise); the results on standard output as a markdown table (also written
to FILE with --out).";

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
    /// Print one JSON object (keys and values base64) instead of plain text
    #[arg(long, global = true)]
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
    /// Get one key, now or at a past revision
    Get(GetArgs),
    /// Delete a key, a range [KEY, END), or every key with a prefix
    #[command(visible_alias = "delete")]
    Del(DelArgs),
    /// Read a key, a range [KEY, END), or every key with a prefix
    Range(RangeArgs),
    /// Run a transaction read from standard input (see `revkv txn --help`)
    #[command(after_help = TXN_HELP)]
    Txn,
    /// Show figures about the store (revisions, keys, segments, bytes)
    Stats,
    /// Compact the history below a revision
    #[command(after_help = COMPACT_HELP)]
    Compact(CompactArgs),
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

/// Arguments of `compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The compaction revision: the oldest revision still readable afterwards
    #[arg(value_parser = clap::value_parser!(u64).range(1..))]
    pub rev: u64,
    /// Wait until the old segments have been rewritten and removed
    #[arg(long)]
    pub physical: bool,
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
    /// Renew a lease to its full TTL from now (once, or repeatedly with --every)
    #[command(after_help = LEASE_HELP)]
    KeepAlive(LeaseKeepAliveArgs),
    /// Show a lease's granted and remaining TTL, and its keys with --keys
    #[command(visible_alias = "timetolive", after_help = LEASE_HELP)]
    Ttl(LeaseTtlArgs),
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
    /// Use this id instead of one the store picks: decimal, or hex with 0x
    #[arg(long, value_name = "ID", value_parser = parse_lease)]
    pub id: Option<i64>,
}

/// Arguments of `lease revoke`: a lease id.
#[derive(Debug, Args)]
pub struct LeaseIdArgs {
    /// The lease id: decimal, or hex with 0x
    #[arg(value_parser = parse_lease)]
    pub id: i64,
}

/// Arguments of `lease keep-alive`.
#[derive(Debug, Args)]
pub struct LeaseKeepAliveArgs {
    /// The lease id: decimal, or hex with 0x
    #[arg(value_parser = parse_lease)]
    pub id: i64,
    /// Keep alive every SECS seconds (fractions allowed) until interrupted
    /// (Ctrl-C or SIGTERM, exit status 0), or --count times
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub every: Option<Duration>,
    /// With --every: stop after N keep-alives (the first one included)
    #[arg(long, value_name = "N", requires = "every",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
}

/// Arguments of `lease ttl`.
#[derive(Debug, Args)]
pub struct LeaseTtlArgs {
    /// The lease id: decimal, or hex with 0x
    #[arg(value_parser = parse_lease)]
    pub id: i64,
    /// Also print the keys attached to the lease
    #[arg(long)]
    pub keys: bool,
}

/// Arguments of `watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The key, or the start of the range
    pub key: OsString,
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
}

/// Arguments of `put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The key
    pub key: OsString,
    /// The value; read from standard input (all of it, as is) when omitted
    pub value: Option<OsString>,
    /// Attach the key to this lease: decimal, or hex with 0x
    #[arg(long, value_name = "ID", value_parser = parse_lease)]
    pub lease: Option<i64>,
    /// Also print the key-value as it was before the put
    #[arg(long)]
    pub prev_kv: bool,
}

/// Arguments of `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The key
    pub key: OsString,
    /// Read at this revision (0 = current); fails if it is in the future or
    /// has been compacted
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub rev: u64,
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

/// Arguments of `range` (and of `get` inside a transaction).
#[derive(Debug, Args)]
pub struct RangeArgs {
    /// The key, or the start of the range
    pub key: OsString,
    /// End of the range (exclusive)
    pub end: Option<OsString>,
    /// Read every key that starts with KEY (every key when KEY is "")
    #[arg(long, conflicts_with_all = ["end", "from_key"])]
    pub prefix: bool,
    /// Read every key >= KEY
    #[arg(long, conflicts_with = "end")]
    pub from_key: bool,
    /// Read at this revision (0 = current)
    #[arg(long, value_name = "R", default_value_t = 0)]
    pub rev: u64,
    /// Return at most N key-values (0 = all); the count is still the total
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub limit: u64,
    /// Print keys without values
    #[arg(long)]
    pub keys_only: bool,
    /// Print only the number of keys
    #[arg(long, conflicts_with = "keys_only")]
    pub count_only: bool,
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
    /// `get KEY [END] [--prefix | --from-key] [--rev R] [--limit N] [--keys-only] [--count-only]`
    #[command(alias = "range")]
    Get(RangeArgs),
}

/// Parses a lease id: decimal, or hexadecimal after `0x` (etcdctl prints
/// lease ids in hex).
pub fn parse_lease(s: &str) -> Result<i64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => s.parse::<i64>(),
    };
    parsed.map_err(|e| format!("invalid lease id {s:?}: {e}"))
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
    }

    #[test]
    fn lease_ids_parse_in_decimal_and_hex() {
        assert_eq!(parse_lease("42"), Ok(42));
        assert_eq!(parse_lease("0x2a"), Ok(42));
        assert_eq!(parse_lease("0X2A"), Ok(42));
        assert!(parse_lease("x").is_err());
        assert!(parse_lease("0x").is_err());
    }

    #[test]
    fn seconds_parse_with_fractions_and_must_be_positive() {
        assert_eq!(parse_secs("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        for bad in ["0", "-1", "x", "NaN", "inf", "1e10"] {
            assert!(parse_secs(bad).is_err(), "{bad}");
        }
    }
}
