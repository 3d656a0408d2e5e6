//! The long help texts of the commands (shown after `--help`).

/// Text shown after the top-level help.
pub const AFTER_HELP: &str = "\
Data directory:
  --dir DIR if given, else $REVKV_DIR if set and not empty, else ./default.revkv
  (relative to the current directory, like etcd's default.etcd). put, del, txn
  and lease grant create the store if it is missing and restore makes a new
  one. The other commands never create it: on a missing or empty directory
  they answer as an empty store does (get prints nothing, lease list finds 0
  leases), and verify fails. Only one process may have a directory open, so
  a command that keeps running (watch, lease keep-alive) holds it meanwhile.
  Leases whose deadline has passed are revoked when a command opens the store,
  before it runs (see `revkv lease --help`).

Output (-w, --write-out), as etcdctl's:
  simple  the default. get prints each key on one line and its value on the
          next (raw bytes; --keys-only: an empty line for the value;
          --print-value-only: values only; --count-only: the count); put
          prints OK (then the previous key and value with --prev-kv); del
          prints the number deleted (then the deleted keys and values with
          --prev-kv). With --hex keys and values print as \\xHH escapes.
  json    one JSON object per answer, on one line, in the shapes of
          `etcdctl -w json`: etcd's field names, keys and values in base64,
          numbers as numbers, and (as Go's omitempty does) no field that is
          zero, false or empty: no \"lease\" for a key without one, no \"kvs\"
          when nothing was found, no \"succeeded\" for a failed txn. revkv has
          no cluster, member or raft term, so headers hold only \"revision\".
  fields  \"Name\" : value lines, keys and values Go-quoted.
  table   only for revkv's own figures (stats, verify, restore, dump -o);
          other commands refuse it, as etcdctl does, before running.
  --json is kept as another name for -w json. compaction prints
  `compacted revision N` in every format, table included, as etcdctl does. stats, verify,
  dump and restore have no etcdctl counterpart; their --help describes them.

Keys and values:
  Arguments are taken as raw bytes. Put `--` before a key or value that starts
  with '-': `revkv put -- -k -v`.

Log messages:
  The store reports on standard error what it decided or met on its own:
  warnings (a torn write cut from the log after a crash, a key-index checkpoint
  discarded, an index file rebuilt) and errors of its background work (a failed
  compaction, a failed write that stops all writes). Only warnings and errors
  are shown; RUST_LOG sets another level, e.g. RUST_LOG=info (also orphan
  files removed, an interrupted compaction finished) or RUST_LOG=off.

Exit status (etcdctl's where it has one):
  0  success
  1  the operation failed (the message says why, e.g. a future or compacted
     revision, an unknown lease, an I/O error; verify: a problem was found)
  2  bad command line (unknown option, missing argument, bad number)
  3  malformed input: a transaction on standard input (txn), a dump (restore),
     the end of standard input in watch -i
  4  the data directory is locked by another open store; or an output format
     or sort option that is not supported (etcdctl's 4)
  5  a watch was canceled because its revision has been compacted, or its
     range holds no key (etcdctl's \"watch is canceled by the server\")";

/// Text shown after the help of `txn`.
pub const TXN_HELP: &str = "\
Reads one transaction from standard input in etcdctl's txn format: three
sections separated by one empty line each. With -i (--interactive) it prompts
for each section as etcdctl does (`compares:`, `success requests (get, put,
del):`, `failure requests (get, put, del):`) and stops reading after the empty
line that ends the failure requests.

  1. compares, one per line, all of which must hold for the success branch:
       TARGET(\"KEY\") OP \"OPERAND\"
       TARGET(\"KEY\", \"END\") OP \"OPERAND\"     (every key in [KEY, END))
     TARGET is one of mod (m), create (c), version (ver), value (val), lease
     (its operand a lease id in hex, as etcdctl reads it); OP is one of =
     (or ==), !=, <, >. An absent key compares as zeros (mod, create,
     version, lease 0); a value compare on an absent key is false.
     Examples:  mod(\"k\") = \"0\"    value(\"k\") = \"v\"    version(\"k\") > \"2\"
                create(\"k\") < \"5\"  lease(\"k\") = \"0\"
  2. success operations, one per line, with the flags of the commands:
       put KEY VALUE [--lease ID] [--prev-kv]
       del KEY [END] [--prefix | --from-key] [--prev-kv]
       get KEY [END] [--prefix | --from-key] [--rev R] [--limit N]
           [--keys-only] [--count-only] [--sort-by T] [--order O]
     (put --ignore-value/--ignore-lease are refused inside a txn.)
  3. failure operations, same syntax, up to the next empty line or the end.

Strings may be double-quoted with escapes (\\\" \\\\ \\n \\t \\r \\0 \\xHH \\uHHHH) or
back-quoted (raw); unquoted words end at whitespace. Lines starting with # are
comments. An empty first line means no compares. Unlike etcdctl, the input may
end without the empty lines that close the last sections.

Example:
  printf 'mod(\"lock\") = \"0\"\\n\\nput lock me\\n\\nget lock\\n' | revkv txn

simple output: SUCCESS or FAILURE, then for each operation an empty line and
its output as the put, del or get command prints it. -w json prints etcdctl's
{\"header\":{..},\"succeeded\":true,\"responses\":[{\"Response\":{\"ResponsePut\":{..}}},..]}
(ResponseRange, ResponseDeleteRange for the others; no \"succeeded\" when the
failure branch ran).";

/// Text shown after the help of `compact`.
pub const COMPACT_HELP: &str = "\
Compacts the history at REV: from then on reads and watches below REV (get
--rev, watch --rev) fail with \"required revision has been compacted\"; every
key keeps its value at REV and later. REV must be above the current
compaction revision (see stats) and at most the current revision.
`compact` is another name for this command.

The space is reclaimed by rewriting the old sealed segments. --physical waits
for that and fails if it fails; without it the rewrite runs in the
background, and one that was interrupted is finished the next time the store
is opened.

Output, in every format (as etcdctl): compacted revision REV";

/// Text shown after the help of `lease` and of each lease command.
pub const LEASE_HELP: &str = "\
Leases live in the data directory, like keys. Each has a TTL in seconds and a
deadline in wall-clock time that is stored with every grant and keep-alive, so
a lease outlives the command that granted it:

  revkv lease grant 60                  # lease 694d77aa9e38260f granted with TTL(60s)
  revkv put session me --lease 694d77aa9e38260f
  revkv lease keep-alive 694d77aa9e38260f

Lease ids print and parse in hex, as etcdctl's (a 0x prefix is accepted too).

The store is embedded: a lease only expires while some process has the store
open. Every command that opens the store first revokes the leases whose
deadline has passed, deleting their keys; a command that keeps the store open
(watch, lease keep-alive) also revokes leases as they fall due. A lease whose
deadline passed while nothing had the store open is therefore revoked by the
next command, whatever it is.

lease keep-alive renews the lease every third of its TTL (as etcdctl's client
does) until interrupted (Ctrl-C or SIGTERM: exit status 0), or until the lease
is gone (`lease ID expired or revoked.`, exit status 0); --once renews once.
revkv adds --every SECS (another interval) and --count N (stop after N).

simple output (etcdctl's):
  grant       lease ID granted with TTL(Ns)
  revoke      lease ID revoked
  keep-alive  lease ID keepalived with TTL(N)       (one line per keep-alive)
  timetolive  lease ID granted with TTL(Ns), remaining(Ns)
              ... , attached keys([K1 K2])          (with --keys)
              lease ID already expired              (unknown, revoked, expired)
  list        found N leases, then one id per line
-w json prints etcdctl's objects, one per line, ids as decimal numbers:
grant {\"revision\":N,\"ID\":ID,\"TTL\":N,\"Error\":\"\"}; keep-alive
{\"revision\":N,\"ID\":ID,\"TTL\":N}; revoke {\"header\":{\"revision\":N}}; timetolive
{\"revision\":N,\"id\":ID,\"ttl\":N,\"granted-ttl\":N,\"keys\":null or [base64..]};
list {\"revision\":N,\"leases\":[{\"id\":ID},..]}.

revoke, keep-alive --once, and put --lease of an unknown, revoked or expired
lease fail with \"requested lease not found\" (exit status 1).";

/// Text shown after the help of `watch`.
pub const WATCH_HELP: &str = "\
Prints each change to KEY (or to [KEY, END), or to every key with the prefix
KEY) as etcdctl watch does, three lines per event in the simple format:
  PUT                       DELETE
  KEY                       KEY
  VALUE                     (an empty line)
With --prev-kv the key and value before the change come between the first
line and the key, when the key existed. -w json prints one object per
response, as etcdctl: {\"Header\":{\"revision\":N},\"Events\":[{\"kv\":{..}},
{\"type\":1,\"kv\":{..},\"prev_kv\":{..}}],\"CompactRevision\":0,\"Canceled\":false,
\"Created\":false} (type 1 is DELETE; PUT, 0, is left out).

watch KEY -- CMD ARGS... runs CMD for each event, after printing it, with
etcdctl's variables in its environment: ETCD_WATCH_REVISION (the response's
revision), ETCD_WATCH_EVENT_TYPE, ETCD_WATCH_KEY and ETCD_WATCH_VALUE, the
last three Go-quoted as etcdctl sets them (ETCD_WATCH_KEY=\"foo\", quotes
included). A command that fails stops the watch (exit status 1).

watch -i (--interactive) reads requests from standard input, one per line:
`watch KEY [END] [--prefix] [--rev R] [--prev-kv] [-- CMD ARGS...]` starts a
watch (several may run at once), `progress` asks every watch for a progress
notification (printed as `progress notify: REV`). As with etcdctl, the end of
standard input ends the command (exit status 3).

The store is embedded and the watch holds its lock, so while it runs no other
process can write: the only new changes it can see are deletions by leases
that expire meanwhile. Its main use is to replay history with --rev: every
change from revision R on, in order, then the new ones. Without --rev it
starts after the current revision.

It runs until interrupted (Ctrl-C or SIGTERM: exit status 0), until COUNT
events were printed with --count, or until no event came for SECS seconds
with --timeout (fractions allowed: --timeout 0.5); those two are revkv's. A
revision below the compaction revision, or a range that holds no key (KEY
END with END not after KEY), cancels the watch as etcd does: the canceled
response is printed (-w json), `watch was canceled (...)` goes to standard
error, and the exit status is 5.

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
problem are printed. -w json prints {\"opened\":B,\"segments\":N,\"frames\":N,\"revisions\":N,
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
-w json: {\"header\":{\"revision\":N},\"compact_revision\":C,\"revisions\":R,\"ops\":W,
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

simple output: `name: value` lines (revision, compact_revision, revisions, ops,
leases) for the new store; -w json one object with these fields, -w fields
\"Name\" : value lines, -w table a table.";

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
to FILE with --out); with -w json as one JSON object instead,
{\"about\":[..],\"rows\":[{\"workload\":W,\"revkv\":R},..],\"notes\":S}.";
