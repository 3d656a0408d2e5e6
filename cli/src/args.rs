//! The command line: global options, the commands, and their arguments. The
//! operation arguments ([`PutArgs`], [`DelArgs`], [`RangeArgs`]) are shared
//! with the operation lines of `revkv txn`, which are parsed with [`TxnOpLine`].

use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

/// Text shown after the top-level help.
const AFTER_HELP: &str = "\
Data directory:
  --dir DIR if given, else $REVKV_DIR if set and not empty, else ./default.revkv
  (relative to the current directory, like etcd's default.etcd). Writes (put,
  del, txn) create the store if it is missing; reads (get, range, stats) fail
  when there is no directory. Only one process may have a directory open.

Output:
  Plain output is etcdctl's: get/range print each key on one line and its value
  on the next (raw bytes; nothing for no key), only the keys with --keys-only,
  only the count with --count-only; put prints OK (then the previous key and
  value with --prev-kv); del prints the number of keys deleted (then the
  deleted keys and values with --prev-kv); stats prints `name: value` lines.
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
     revision, an unknown lease, an I/O error)
  2  bad command line (unknown option, missing argument, bad number)
  3  malformed transaction on standard input (txn)
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

/// `revkv`: an etcdctl-like command line for a revkv data directory.
#[derive(Debug, Parser)]
#[command(
    name = "revkv",
    version,
    about = "Read and write a revkv store (etcd's MVCC model, embedded) from the command line",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Data directory [default: $REVKV_DIR, else ./default.revkv]
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
}
