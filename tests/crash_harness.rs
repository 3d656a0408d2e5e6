//! Crash harness: a child process runs a mixed, concurrent workload under
//! `SyncPolicy::Always` with 4 KiB segments (so segments roll all the time)
//! and prints every operation it starts and every acknowledgement it gets;
//! the parent crashes it, perhaps damages what a crash may damage, reopens
//! the store and checks it against a model rebuilt from the acknowledgements.
//! Every round continues on the same directory.
//!
//! The child is the `#[ignore]`d test `crash_harness_child` of this binary,
//! re-executed with `--exact` and `REVKV_CH_*` variables (without them it
//! does nothing). Its writer threads run puts (some attached to leases),
//! deletes, delete ranges, transactions with compares on value, version,
//! create/mod revision and lease, lease grants, keep-alives and revokes,
//! reads, and `compact` / `compact_physical` at random revisions; another
//! thread watches (slowly at times, so it falls back to catching up) and
//! reports any out-of-order or repeated event. Each operation is announced
//! (`I <id> <op>`) before the call and acknowledged (`A <id> <result>`) or
//! failed (`E <id> ...`) after it, one flushed line each.
//!
//! The parent ends each round in one of these ways:
//! - SIGKILL (`Child::kill`) at a random moment, sometimes while the child
//!   is still opening the store;
//! - a named failpoint (`failpoint::hit`, the list is read from `src/` at run
//!   time) armed after a random number of acknowledged operations, so that
//!   the child exits with status 86 there; after a crash at a failpoint the
//!   next round may run without a check in between, with a failpoint armed
//!   from the start (a crash while open finishes the interrupted compaction);
//! - an injected I/O error (`failpoint::fails`), after which the poisoned
//!   child exits at once.
//!
//! Then it may append random garbage after the end of the active segment
//! (a torn, unsynced group), truncate files the MANIFEST does not name
//! (half-written orphans of a roll or a compaction), and leave a torn
//! `MANIFEST.tmp`. On reopen it checks:
//! - the history: every revision from the last checked one to the current
//!   one is explained, in order, by exactly one acknowledged write (which
//!   must be there with exactly the events the model computes, its compares
//!   evaluated against the state just before it) or by one operation that
//!   was in flight at the crash (the only ones that may or may not have
//!   landed); no acknowledged write is above the current revision, so
//!   revisions never went backwards and nothing acknowledged was lost;
//! - reads: `range` of every key at sampled retained revisions and at the
//!   compaction and current revisions equals the model (so no deleted key is
//!   visible and every surviving write is intact), `get_at` of every
//!   acknowledged put still retained, reads below the compaction revision
//!   fail with `Compacted`;
//! - watches from the compaction revision, from a random retained revision
//!   and with a random range and filters deliver exactly the model's history
//!   (the watch checker of `tests/support`); a start below the compaction
//!   revision fails naming it;
//! - leases: an acknowledged revoke stays revoked, an acknowledged grant
//!   survives, each lease's attached keys are the model's, no live key is
//!   attached to a dead lease;
//! - compaction: the compaction revision is the newest acknowledged (or an
//!   in-flight) one, the MANIFEST says it is finished and the directory holds
//!   exactly the files it names;
//! - `Db::verify` reports no problem.
//!
//! Environment:
//! - `REVKV_CRASH_HARNESS_ROUNDS`: rounds (default 20, a few seconds: the CI
//!   mode); the long mode is e.g.
//!   `REVKV_CRASH_HARNESS_ROUNDS=1000 cargo test --release --test crash_harness -- --nocapture`;
//! - `REVKV_CRASH_HARNESS_SEED`: the seed of every random choice of the
//!   parent and of the children's workloads (printed at the start and on
//!   failure). Thread interleavings and kill moments still vary, so a seed
//!   replays the same plan of rounds, not the same bytes;
//! - `REVKV_CRASH_HARNESS_THREADS`: writer threads in the child (default 3;
//!   1 makes a failure easier to reduce);
//! - `REVKV_CRASH_HARNESS_TMPDIR`: where the store lives (default `/dev/shm`
//!   when present, else the system temp directory);
//! - `REVKV_CRASH_HARNESS_VERBOSE`: one line per round.
//!
//! On a failure the directory as it was before the failing reopen, and the
//! child's output, are kept; the panic message says where.

use revkv::format::manifest::decode_manifest;
use revkv::{
    Compare, CompareOp, CompareTarget, Db, DeleteRequest, Error, Event, EventKind, KeyRange,
    KeyValue, Op, OpResponse, Options, PutRequest, RangeRequest, SyncPolicy, Txn, WatchRequest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use test_support::child::{test_child, Running};
use test_support::watch_checker::{
    check, describe, record_through, show_kv, History, Recorded, Stopped,
};
use test_support::{files, seed_from_env, store, Rng};

const ROUNDS_ENV: &str = "REVKV_CRASH_HARNESS_ROUNDS";
const SEED_ENV: &str = "REVKV_CRASH_HARNESS_SEED";
const THREADS_ENV: &str = "REVKV_CRASH_HARNESS_THREADS";
const TMPDIR_ENV: &str = "REVKV_CRASH_HARNESS_TMPDIR";
const VERBOSE_ENV: &str = "REVKV_CRASH_HARNESS_VERBOSE";

const CHILD_TEST: &str = "crash_harness_child";
const C_DIR: &str = "REVKV_CH_DIR";
const C_ROUND: &str = "REVKV_CH_ROUND";
const C_SEED: &str = "REVKV_CH_SEED";
const C_THREADS: &str = "REVKV_CH_THREADS";
/// `<failpoint>@<acknowledged operations before arming it>`.
const C_ARM: &str = "REVKV_CH_ARM";
const C_NO_COMPACT: &str = "REVKV_CH_NO_COMPACT";
const C_COMPACT_PM: &str = "REVKV_CH_COMPACT_PER_MILLE";
const C_BIG: &str = "REVKV_CH_BIG";

const SEGMENT_SIZE: u64 = 4096;
/// Long enough that no lease expires during a run: expiry is not what the
/// harness checks, and an expiry would be a write nobody acknowledged.
const LEASE_TTL: i64 = 1_000_000;
const KEYS: u64 = 40;
const BIG_KEY: &str = "kbig";
/// Over the 1 MiB output buffer of a compaction rewrite, so copying it
/// reaches `compact.mid_segment`.
const BIG_LEN: usize = (1 << 20) + (80 << 10);
/// Operation ids are `round * ID_STRIDE + n`: unique across rounds.
const ID_STRIDE: u64 = 10_000_000;
/// The child's exit status after an injected I/O error poisoned its store.
const POISON_EXIT: i32 = 87;
const FAILPOINT_EXIT: i32 = revkv::failpoint::FAILPOINT_EXIT;
/// A child never outlives a parent that failed to stop it for this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);
const WATCH_TIMEOUT: Duration = Duration::from_secs(60);

fn options() -> Options {
    Options::default()
        .segment_size(SEGMENT_SIZE)
        .sync(SyncPolicy::Always)
}

// ---------------------------------------------------------------------------
// Operations, as the child announces them and the parent replays them

/// One operation of a write's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum WOp {
    Put {
        key: String,
        len: usize,
        lease: i64,
    },
    /// A delete of `key`, or of `[key, end)`.
    Del {
        key: String,
        end: Option<String>,
    },
    Get {
        key: String,
    },
}

impl WOp {
    fn range(key: &str, end: &Option<String>) -> KeyRange {
        match end {
            None => KeyRange::single(key),
            Some(end) => KeyRange::range(key, end.as_str()),
        }
    }
}

/// The field a compare looks at (revkv's `CompareTarget`, printable).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Value(Vec<u8>),
    Create(u64),
    Mod(u64),
    Version(u64),
    Lease(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cmp {
    key: String,
    op: CompareOp,
    target: Target,
}

/// How the child calls a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `Db::put_with` of the one put of `success`.
    Put,
    /// `Db::delete_range` of the one delete of `success`.
    Delete,
    /// `Db::txn`.
    Txn,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Spec {
    Write {
        call: Call,
        cmps: Vec<Cmp>,
        success: Vec<WOp>,
        failure: Vec<WOp>,
    },
    Grant {
        lease: i64,
    },
    KeepAlive {
        lease: i64,
    },
    Revoke {
        lease: i64,
    },
    Compact {
        rev: u64,
        physical: bool,
    },
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return Some(Vec::new());
    }
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn op_char(op: CompareOp) -> char {
    match op {
        CompareOp::Equal => 'e',
        CompareOp::NotEqual => 'n',
        CompareOp::Less => 'l',
        CompareOp::Greater => 'g',
    }
}

impl Spec {
    fn encode(&self) -> String {
        match self {
            Spec::Write {
                call,
                cmps,
                success,
                failure,
            } => {
                let call = match call {
                    Call::Put => "P",
                    Call::Delete => "D",
                    Call::Txn => "T",
                };
                let mut s = format!("w {call} {}", cmps.len());
                for c in cmps {
                    let (kind, operand) = match &c.target {
                        Target::Value(v) => ('v', hex(v)),
                        Target::Create(r) => ('c', r.to_string()),
                        Target::Mod(r) => ('m', r.to_string()),
                        Target::Version(v) => ('r', v.to_string()),
                        Target::Lease(l) => ('l', l.to_string()),
                    };
                    let _ = write!(s, " {},{},{kind},{operand}", c.key, op_char(c.op));
                }
                for branch in [success, failure] {
                    let _ = write!(s, " {}", branch.len());
                    for op in branch {
                        let _ = match op {
                            WOp::Put { key, len, lease } => write!(s, " p,{key},{len},{lease}"),
                            WOp::Del { key, end: None } => write!(s, " d,{key}"),
                            WOp::Del {
                                key,
                                end: Some(end),
                            } => write!(s, " r,{key},{end}"),
                            WOp::Get { key } => write!(s, " g,{key}"),
                        };
                    }
                }
                s
            }
            Spec::Grant { lease } => format!("grant {lease}"),
            Spec::KeepAlive { lease } => format!("keep {lease}"),
            Spec::Revoke { lease } => format!("revoke {lease}"),
            Spec::Compact { rev, physical } => format!("compact {rev} {}", u8::from(*physical)),
        }
    }

    fn decode(text: &str) -> Option<Spec> {
        let mut t = text.split(' ');
        let spec = match t.next()? {
            "w" => {
                let call = match t.next()? {
                    "P" => Call::Put,
                    "D" => Call::Delete,
                    "T" => Call::Txn,
                    _ => return None,
                };
                let n: usize = t.next()?.parse().ok()?;
                let mut cmps = Vec::new();
                for _ in 0..n {
                    let f: Vec<&str> = t.next()?.split(',').collect();
                    let [key, op, kind, operand] = f.as_slice() else {
                        return None;
                    };
                    let op = match *op {
                        "e" => CompareOp::Equal,
                        "n" => CompareOp::NotEqual,
                        "l" => CompareOp::Less,
                        "g" => CompareOp::Greater,
                        _ => return None,
                    };
                    let target = match *kind {
                        "v" => Target::Value(unhex(operand)?),
                        "c" => Target::Create(operand.parse().ok()?),
                        "m" => Target::Mod(operand.parse().ok()?),
                        "r" => Target::Version(operand.parse().ok()?),
                        "l" => Target::Lease(operand.parse().ok()?),
                        _ => return None,
                    };
                    cmps.push(Cmp {
                        key: key.to_string(),
                        op,
                        target,
                    });
                }
                let mut branches = Vec::new();
                for _ in 0..2 {
                    let n: usize = t.next()?.parse().ok()?;
                    let mut ops = Vec::new();
                    for _ in 0..n {
                        let f: Vec<&str> = t.next()?.split(',').collect();
                        ops.push(match f.as_slice() {
                            ["p", key, len, lease] => WOp::Put {
                                key: key.to_string(),
                                len: len.parse().ok()?,
                                lease: lease.parse().ok()?,
                            },
                            ["d", key] => WOp::Del {
                                key: key.to_string(),
                                end: None,
                            },
                            ["r", key, end] => WOp::Del {
                                key: key.to_string(),
                                end: Some(end.to_string()),
                            },
                            ["g", key] => WOp::Get {
                                key: key.to_string(),
                            },
                            _ => return None,
                        });
                    }
                    branches.push(ops);
                }
                let failure = branches.pop()?;
                let success = branches.pop()?;
                Spec::Write {
                    call,
                    cmps,
                    success,
                    failure,
                }
            }
            "grant" => Spec::Grant {
                lease: t.next()?.parse().ok()?,
            },
            "keep" => Spec::KeepAlive {
                lease: t.next()?.parse().ok()?,
            },
            "revoke" => Spec::Revoke {
                lease: t.next()?.parse().ok()?,
            },
            "compact" => Spec::Compact {
                rev: t.next()?.parse().ok()?,
                physical: t.next()? == "1",
            },
            _ => return None,
        };
        t.next().is_none().then_some(spec)
    }
}

/// The value operation `id` puts at `key`: unique, and rebuilt by the parent
/// from the announcement. Even lengths compress well (zstd frames for the
/// large ones), odd lengths do not.
fn value_of(id: u64, key: &str, len: usize) -> Vec<u8> {
    let mut v = format!("{id}:{key}:").into_bytes();
    if len % 2 == 0 {
        while v.len() < len {
            v.push(b'a' + (v.len() % 13) as u8);
        }
    } else if v.len() < len {
        let tail = Rng::for_item(id, key).bytes(len - v.len());
        v.extend_from_slice(&tail);
    }
    v
}

// ---------------------------------------------------------------------------
// The child

/// Writes one flushed chunk to stdout.
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

struct Child {
    db: Db,
    round: u64,
    next: AtomicU64,
    /// Leases this process knows to be live (granted and not revoked).
    leases: Mutex<Vec<i64>>,
    /// Held shared from an operation's announcement to its acknowledgement,
    /// exclusively to read the revision a compaction may go up to: so every
    /// revision at or below a compaction point was acknowledged, and the
    /// parent can tell what was in flight from what was compacted away.
    quiesce: RwLock<()>,
    acked: AtomicU64,
    arm: Option<(String, u64)>,
    armed: AtomicBool,
    compact_per_mille: u64,
    deadline: Instant,
}

fn key_name(i: u64) -> String {
    format!("k{i:02}")
}

fn rand_key(rng: &mut Rng) -> String {
    if rng.chance(50) {
        key_name(rng.below(8))
    } else {
        key_name(rng.below(KEYS))
    }
}

fn rand_len(rng: &mut Rng) -> usize {
    if rng.chance(3) {
        rng.between(2000, 6000) as usize
    } else {
        rng.between(8, 300) as usize
    }
}

fn rand_range(rng: &mut Rng) -> (String, String) {
    let a = rng.below(KEYS);
    let end = if rng.chance(10) {
        "kz".to_string()
    } else {
        key_name(a + 1 + rng.below(8))
    };
    (key_name(a), end)
}

fn rand_op(rng: &mut Rng) -> CompareOp {
    match rng.below(6) {
        0..=2 => CompareOp::Equal,
        3 => CompareOp::NotEqual,
        4 => CompareOp::Less,
        _ => CompareOp::Greater,
    }
}

fn compare_of(c: &Cmp) -> Compare {
    let target = match &c.target {
        Target::Value(v) => CompareTarget::Value(v.clone()),
        Target::Create(r) => CompareTarget::CreateRevision(*r),
        Target::Mod(r) => CompareTarget::ModRevision(*r),
        Target::Version(v) => CompareTarget::Version(*v),
        Target::Lease(l) => CompareTarget::Lease(*l),
    };
    Compare::new(c.key.as_str(), c.op, target)
}

fn txn_op(id: u64, op: &WOp) -> Op {
    match op {
        WOp::Put { key, len, lease } => {
            Op::Put(PutRequest::new(key.as_str(), value_of(id, key, *len)).lease(*lease))
        }
        WOp::Del { key, end } => Op::Delete(DeleteRequest::new(WOp::range(key, end))),
        WOp::Get { key } => Op::get(key.as_str()),
    }
}

fn one_line(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

impl Child {
    fn next_id(&self) -> u64 {
        self.round * ID_STRIDE + self.next.fetch_add(1, Ordering::SeqCst)
    }

    fn live_leases(&self) -> Vec<i64> {
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn forget_lease(&self, lease: i64) {
        self.leases
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|&l| l != lease);
    }

    /// Runs one announced operation and prints its outcome.
    fn exec(&self, id: u64, spec: &Spec) {
        let _quiet = match spec {
            Spec::Compact { .. } => None,
            _ => Some(self.quiesce.read().unwrap_or_else(|e| e.into_inner())),
        };
        emit(&format!("I {id} {}\n", spec.encode()));
        match self.call(id, spec) {
            Ok(ack) => {
                emit(&format!("A {id} {ack}\n"));
                match spec {
                    Spec::Grant { lease } => self
                        .leases
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(*lease),
                    Spec::Revoke { lease } => self.forget_lease(*lease),
                    _ => {}
                }
                let n = self.acked.fetch_add(1, Ordering::SeqCst) + 1;
                if let Some((name, after)) = &self.arm {
                    if n >= *after && !self.armed.swap(true, Ordering::SeqCst) {
                        // revkv reads the variable through std's locked
                        // accessors, so this is safe with its threads running.
                        std::env::set_var("REVKV_FAILPOINT", name);
                        emit(&format!("ARMED {name}\n"));
                    }
                }
            }
            Err(e) => {
                let maybe = matches!(e, Error::Poisoned { .. } | Error::Io { .. } | Error::Closed);
                emit(&format!(
                    "E {id} {} {}\n",
                    if maybe { "maybe" } else { "no" },
                    one_line(&e)
                ));
                if let (
                    Spec::Revoke { lease } | Spec::KeepAlive { lease },
                    Error::LeaseNotFound { .. },
                ) = (spec, &e)
                {
                    self.forget_lease(*lease);
                }
                if maybe {
                    // Poisoned by an injected fault: stop here, as a crash would.
                    emit("POISONED\n");
                    std::process::exit(POISON_EXIT);
                }
            }
        }
    }

    fn call(&self, id: u64, spec: &Spec) -> revkv::Result<String> {
        let db = &self.db;
        match spec {
            Spec::Write {
                call,
                cmps,
                success,
                failure,
            } => match (call, success.first()) {
                (Call::Put, Some(WOp::Put { key, len, lease })) => {
                    let r = db.put_with(
                        PutRequest::new(key.as_str(), value_of(id, key, *len)).lease(*lease),
                    )?;
                    Ok(format!("{} 1 1", r.revision))
                }
                (Call::Delete, Some(WOp::Del { key, end })) => {
                    let r = db.delete_range(DeleteRequest::new(WOp::range(key, end)))?;
                    Ok(format!("{} 1 {}", r.revision, r.deleted))
                }
                _ => {
                    let txn = Txn::new()
                        .when(cmps.iter().map(compare_of))
                        .and_then(success.iter().map(|op| txn_op(id, op)))
                        .or_else(failure.iter().map(|op| txn_op(id, op)));
                    let r = db.txn(txn)?;
                    let branch = if r.succeeded { success } else { failure };
                    let n: u64 = branch
                        .iter()
                        .zip(&r.responses)
                        .map(|(op, resp)| match (op, resp) {
                            (WOp::Put { .. }, _) => 1,
                            (_, OpResponse::Delete(d)) => d.deleted,
                            _ => 0,
                        })
                        .sum();
                    Ok(format!("{} {} {n}", r.revision, u8::from(r.succeeded)))
                }
            },
            Spec::Grant { lease } => {
                db.lease_grant_with_id(*lease, LEASE_TTL)?;
                Ok(String::new())
            }
            Spec::KeepAlive { lease } => Ok(db.lease_keep_alive(*lease)?.to_string()),
            Spec::Revoke { lease } => Ok(db.lease_revoke(*lease)?.to_string()),
            Spec::Compact { rev, physical } => {
                if *physical {
                    db.compact_physical(*rev)?;
                } else {
                    db.compact(*rev)?;
                }
                Ok(String::new())
            }
        }
    }

    fn gen_cmp(&self, rng: &mut Rng) -> Cmp {
        let key = rand_key(rng);
        let cur = self.db.get(key.as_str()).ok().flatten().unwrap_or_default();
        let target = match rng.below(5) {
            0 => Target::Version(if rng.chance(70) {
                cur.version
            } else {
                rng.below(4)
            }),
            1 => Target::Mod(if rng.chance(70) {
                cur.mod_revision
            } else {
                cur.mod_revision + rng.below(20)
            }),
            2 => Target::Create(if rng.chance(70) {
                cur.create_revision
            } else {
                rng.below(cur.create_revision + 10)
            }),
            3 => Target::Value(if rng.chance(70) {
                cur.value[..cur.value.len().min(24)].to_vec()
            } else {
                format!("{}", rng.below(1000)).into_bytes()
            }),
            _ => Target::Lease(if rng.chance(80) { cur.lease } else { 0 }),
        };
        Cmp {
            key,
            op: rand_op(rng),
            target,
        }
    }

    /// A branch of up to `max` operations that revkv accepts: distinct put
    /// keys, none inside a delete of the same branch.
    fn gen_branch(&self, rng: &mut Rng, max: u64, leases: &[i64]) -> Vec<WOp> {
        let mut ops: Vec<WOp> = Vec::new();
        for _ in 0..rng.below(max + 1) {
            let op = match rng.below(100) {
                0..=59 => WOp::Put {
                    key: rand_key(rng),
                    len: rand_len(rng),
                    lease: self.rand_lease(rng, leases),
                },
                60..=74 => WOp::Del {
                    key: rand_key(rng),
                    end: None,
                },
                75..=84 => {
                    let (key, end) = rand_range(rng);
                    WOp::Del {
                        key,
                        end: Some(end),
                    }
                }
                _ => WOp::Get { key: rand_key(rng) },
            };
            let clash = |a: &WOp, b: &WOp| match (a, b) {
                (WOp::Put { key: x, .. }, WOp::Put { key: y, .. }) => x == y,
                (WOp::Put { key: k, .. }, WOp::Del { key, end })
                | (WOp::Del { key, end }, WOp::Put { key: k, .. }) => {
                    WOp::range(key, end).contains(k.as_bytes())
                }
                _ => false,
            };
            if !ops.iter().any(|o| clash(o, &op)) {
                ops.push(op);
            }
        }
        ops
    }

    fn rand_lease(&self, rng: &mut Rng, leases: &[i64]) -> i64 {
        if !leases.is_empty() && rng.chance(20) {
            *rng.pick(leases)
        } else {
            0
        }
    }

    fn gen_write(&self, rng: &mut Rng) -> Spec {
        let leases = self.live_leases();
        match rng.below(100) {
            0..=39 => Spec::Write {
                call: Call::Put,
                cmps: Vec::new(),
                success: vec![WOp::Put {
                    key: rand_key(rng),
                    len: rand_len(rng),
                    lease: self.rand_lease(rng, &leases),
                }],
                failure: Vec::new(),
            },
            40..=54 => Spec::Write {
                call: Call::Delete,
                cmps: Vec::new(),
                success: vec![WOp::Del {
                    key: if rng.chance(3) {
                        BIG_KEY.to_string()
                    } else {
                        rand_key(rng)
                    },
                    end: None,
                }],
                failure: Vec::new(),
            },
            55..=61 => {
                let (key, end) = rand_range(rng);
                Spec::Write {
                    call: Call::Delete,
                    cmps: Vec::new(),
                    success: vec![WOp::Del {
                        key,
                        end: Some(end),
                    }],
                    failure: Vec::new(),
                }
            }
            _ => {
                let cmps = (0..rng.below(3)).map(|_| self.gen_cmp(rng)).collect();
                let mut success = self.gen_branch(rng, 3, &leases);
                if success.is_empty() {
                    success.push(WOp::Put {
                        key: rand_key(rng),
                        len: rand_len(rng),
                        lease: 0,
                    });
                }
                let failure = self.gen_branch(rng, 2, &leases);
                Spec::Write {
                    call: Call::Txn,
                    cmps,
                    success,
                    failure,
                }
            }
        }
    }

    fn compact(&self, rng: &mut Rng) {
        let (current, compacted) = {
            let _all_acked = self.quiesce.write().unwrap_or_else(|e| e.into_inner());
            (self.db.current_revision(), self.db.compact_revision())
        };
        if current <= compacted {
            return;
        }
        let lo = (compacted + 1).max(current.saturating_sub(150));
        let spec = Spec::Compact {
            rev: rng.between(lo, current),
            physical: rng.chance(30),
        };
        self.exec(self.next_id(), &spec);
    }

    fn read(&self, rng: &mut Rng) {
        let current = self.db.current_revision();
        let rev = if rng.chance(50) {
            0
        } else {
            rng.below(current + 1)
        };
        if rng.chance(50) {
            let _ = self.db.get_at(rand_key(rng), rev);
        } else {
            let (a, b) = rand_range(rng);
            let _ = self.db.range(RangeRequest::range(a, b).revision(rev));
        }
    }

    fn step(&self, rng: &mut Rng) {
        let roll = rng.below(1000);
        let c = self.compact_per_mille;
        if roll < c {
            self.compact(rng);
        } else if roll < c + 60 {
            let leases = self.live_leases();
            let id = self.next_id();
            let spec = if leases.is_empty() || (leases.len() < 6 && rng.chance(40)) {
                Spec::Grant { lease: id as i64 }
            } else if rng.chance(50) {
                Spec::KeepAlive {
                    lease: *rng.pick(&leases),
                }
            } else {
                Spec::Revoke {
                    lease: *rng.pick(&leases),
                }
            };
            self.exec(id, &spec);
        } else if roll < c + 110 {
            self.read(rng);
        } else {
            let id = self.next_id();
            let spec = self.gen_write(rng);
            self.exec(id, &spec);
        }
    }

    /// A watcher that follows the store, sometimes slowly, and reports
    /// events out of order or twice (the parent checks the rest).
    fn watch(&self, mut rng: Rng) {
        let mut start = {
            let lo = self.db.compact_revision().max(1);
            rng.between(lo, self.db.current_revision().max(lo) + 1)
        };
        while Instant::now() < self.deadline {
            let w = match self.db.watch(
                WatchRequest::new(KeyRange::all())
                    .start_revision(start)
                    .prev_kv(),
            ) {
                Ok(w) => w,
                Err(Error::Compacted { compact_revision }) => {
                    start = compact_revision.max(start);
                    continue;
                }
                Err(e) => {
                    emit(&format!("WATCHFAIL watch from {start}: {}\n", one_line(&e)));
                    return;
                }
            };
            let mut last: (u64, Vec<u8>) = (start.saturating_sub(1), Vec::new());
            let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
            loop {
                if Instant::now() >= self.deadline {
                    return;
                }
                let resp = match w.recv_timeout(Duration::from_millis(50)) {
                    Ok(r) => r,
                    Err(revkv::RecvError::Timeout) | Err(revkv::RecvError::Empty) => continue,
                    Err(revkv::RecvError::Ended) => return,
                };
                if resp.compact_revision != 0 {
                    start = resp.compact_revision.max(last.0 + 1);
                    break;
                }
                for e in &resp.events {
                    let rev = e.kv.mod_revision;
                    if rev < last.0 || rev < start || (rev == last.0 && seen.contains(&e.kv.key)) {
                        emit(&format!(
                            "WATCHFAIL watch from {start}: {} after {}@{}\n",
                            describe(e),
                            String::from_utf8_lossy(&last.1),
                            last.0
                        ));
                        return;
                    }
                    if rev > last.0 {
                        seen.clear();
                    }
                    seen.insert(e.kv.key.clone());
                    last = (rev, e.kv.key.clone());
                }
                if rng.chance(5) {
                    // A slow reader: its buffer fills and it catches up from disk.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

#[test]
#[ignore = "the child process of crash_harness"]
fn crash_harness_child() {
    let Ok(dir) = std::env::var(C_DIR) else {
        return;
    };
    let round = env_u64(C_ROUND).unwrap_or(0);
    let mut rng = Rng::new(env_u64(C_SEED).unwrap_or(1));
    let threads = env_u64(C_THREADS).unwrap_or(3).max(1);
    let arm = std::env::var(C_ARM).ok().and_then(|a| {
        let (name, after) = a.rsplit_once('@')?;
        Some((name.to_string(), after.parse().ok()?))
    });
    let compact_per_mille = if std::env::var(C_NO_COMPACT).is_ok() {
        0
    } else {
        env_u64(C_COMPACT_PM).unwrap_or(10)
    };
    let db = match Db::open(&dir, options()) {
        Ok(db) => db,
        Err(e) => {
            emit(&format!("\nOPENERR {}\n", one_line(&e)));
            std::process::exit(3);
        }
    };
    // A newline first: libtest has printed "test ... " without one.
    emit(&format!(
        "\nREADY {} {}\n",
        db.current_revision(),
        db.compact_revision()
    ));
    let leases = db.leases().unwrap_or_default();
    let child = Arc::new(Child {
        db,
        round,
        // From 1: a lease is granted with its operation id, and id 0 would
        // let the store pick one.
        next: AtomicU64::new(1),
        leases: Mutex::new(leases),
        quiesce: RwLock::new(()),
        acked: AtomicU64::new(0),
        arm,
        armed: AtomicBool::new(false),
        compact_per_mille,
        deadline: Instant::now() + CHILD_LIFETIME,
    });
    if std::env::var(C_BIG).is_ok() {
        let spec = Spec::Write {
            call: Call::Put,
            cmps: Vec::new(),
            success: vec![WOp::Put {
                key: BIG_KEY.into(),
                len: BIG_LEN + 1,
                lease: 0,
            }],
            failure: Vec::new(),
        };
        child.exec(child.next_id(), &spec);
    }
    let mut handles = Vec::new();
    {
        let child = Arc::clone(&child);
        let rng = rng.fork();
        handles.push(std::thread::spawn(move || child.watch(rng)));
    }
    for _ in 0..threads {
        let child = Arc::clone(&child);
        let mut rng = rng.fork();
        handles.push(std::thread::spawn(move || {
            while Instant::now() < child.deadline {
                child.step(&mut rng);
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    emit("DEADLINE\n");
}

// ---------------------------------------------------------------------------
// The parent: running a child

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Announced, never answered: may or may not have happened.
    InFlight,
    /// Acknowledged, with the fields of the answer.
    Acked(Vec<String>),
    /// Failed; `maybe` when it may still have been written (I/O error).
    Failed { maybe: bool, text: String },
}

#[derive(Debug, Clone)]
struct OpRec {
    id: u64,
    spec: Spec,
    outcome: Outcome,
}

impl OpRec {
    fn unsure(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::InFlight | Outcome::Failed { maybe: true, .. }
        )
    }

    fn acked(&self) -> Option<&[String]> {
        match &self.outcome {
            Outcome::Acked(f) => Some(f),
            _ => None,
        }
    }

    fn show(&self) -> String {
        format!("op {} [{}] {:?}", self.id, self.spec.encode(), self.outcome)
    }
}

/// Parses a child's output into its operations, in announcement order.
fn parse_ops(lines: &[String]) -> Result<Vec<OpRec>, String> {
    let mut ops: Vec<OpRec> = Vec::new();
    let mut at: BTreeMap<u64, usize> = BTreeMap::new();
    for line in lines {
        if let Some(rest) = line.strip_prefix("WATCHFAIL ") {
            return Err(format!("the child's watcher saw a broken stream: {rest}"));
        }
        if let Some(rest) = line.strip_prefix("OPENERR ") {
            return Err(format!("the child could not open the store: {rest}"));
        }
        let Some((tag, rest)) = line.split_once(' ') else {
            continue;
        };
        let (id, body) = rest.split_once(' ').unwrap_or((rest, ""));
        let Ok(id) = id.parse::<u64>() else {
            continue;
        };
        match tag {
            "I" => {
                let spec = Spec::decode(body).ok_or_else(|| format!("bad line {line:?}"))?;
                at.insert(id, ops.len());
                ops.push(OpRec {
                    id,
                    spec,
                    outcome: Outcome::InFlight,
                });
            }
            "A" | "E" => {
                let &i = at
                    .get(&id)
                    .ok_or_else(|| format!("answer to an unannounced op: {line:?}"))?;
                if ops[i].outcome != Outcome::InFlight {
                    return Err(format!("op {id} answered twice: {line:?}"));
                }
                ops[i].outcome = if tag == "A" {
                    Outcome::Acked(body.split_whitespace().map(String::from).collect())
                } else {
                    let (kind, text) = body.split_once(' ').unwrap_or((body, ""));
                    Outcome::Failed {
                        maybe: kind == "maybe",
                        text: text.to_string(),
                    }
                };
            }
            _ => {}
        }
    }
    Ok(ops)
}

/// How the parent ends a round.
#[derive(Debug, Clone)]
struct Plan {
    /// Kill this long after spawning, without waiting for the store to open.
    early_kill: Option<Duration>,
    /// Kill this long after the store is open (if still running).
    kill_after: Duration,
    /// A failpoint, and how many acknowledgements before it is armed
    /// (`None`: armed from the start, in the environment).
    arm: Option<(String, Option<u64>)>,
    /// The armed failpoint injects an I/O error instead of stopping.
    fault: bool,
    no_compact: bool,
    compact_per_mille: u64,
    big: bool,
    child_seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Killed,
    Failpoint,
    Poisoned,
}

struct ChildRun {
    ended: Ended,
    lines: Vec<String>,
    opened: bool,
}

fn run_child(dir: &Path, round: u64, threads: u64, plan: &Plan) -> Result<ChildRun, String> {
    let mut cmd = test_child(CHILD_TEST);
    cmd.env(C_DIR, dir)
        .env(C_ROUND, round.to_string())
        .env(C_SEED, plan.child_seed.to_string())
        .env(C_THREADS, threads.to_string())
        .env(C_COMPACT_PM, plan.compact_per_mille.to_string());
    match &plan.arm {
        Some((name, None)) => {
            cmd.env("REVKV_FAILPOINT", name);
        }
        Some((name, Some(after))) => {
            cmd.env(C_ARM, format!("{name}@{after}"));
        }
        None => {}
    }
    if plan.no_compact {
        cmd.env(C_NO_COMPACT, "1");
    }
    if plan.big {
        cmd.env(C_BIG, "1");
    }
    let mut child = Running::spawn(&mut cmd).map_err(|e| format!("spawn child: {e}"))?;
    let spawned = Instant::now();
    let mut lines = Vec::new();
    let mut kill_at = plan.early_kill.map(|d| spawned + d);
    let mut opened = false;
    loop {
        if let Ok(line) = child.line_within(Duration::from_millis(2)) {
            if line.starts_with("READY ") {
                opened = true;
                if kill_at.is_none() {
                    kill_at = Some(Instant::now() + plan.kill_after);
                }
            }
            lines.push(line);
            continue;
        }
        if child
            .try_wait()
            .map_err(|e| format!("try_wait: {e}"))?
            .is_some()
        {
            break;
        }
        let now = Instant::now();
        if kill_at.is_some_and(|k| now >= k) || now.duration_since(spawned) > CHILD_LIFETIME {
            break;
        }
    }
    // Kills the child if it still runs (a no-op on one that ended).
    let run = child.kill_and_collect().map_err(|e| format!("wait: {e}"))?;
    let status = run.status;
    lines.extend(run.lines);
    // The READY line may come in only after the child has ended.
    opened |= lines.iter().any(|l| l.starts_with("READY "));
    let stderr = run.stderr;
    let ended = match (status.code(), status.signal()) {
        (_, Some(9)) => Ended::Killed,
        (Some(FAILPOINT_EXIT), _) if plan.arm.is_some() && !plan.fault => Ended::Failpoint,
        (Some(POISON_EXIT), _) if plan.fault => Ended::Poisoned,
        _ => {
            let tail: Vec<&String> = lines.iter().rev().take(5).collect();
            return Err(format!(
                "the child ended by itself ({status}); last lines {tail:?}; stderr:\n{stderr}"
            ));
        }
    };
    if plan.early_kill.is_none() && !opened && ended == Ended::Killed {
        return Err(format!(
            "the child did not open the store within {CHILD_LIFETIME:?}; stderr:\n{stderr}"
        ));
    }
    Ok(ChildRun {
        ended,
        lines,
        opened,
    })
}

/// The failpoints named in the library's source: (`hit` crash points,
/// `fails` I/O faults).
fn failpoints() -> (Vec<String>, Vec<String>) {
    let (mut hits, faults) = store::failpoints_in_source().unwrap_or_default();
    if hits.is_empty() {
        // The source is not where it was built: the names known when this
        // test was written.
        for n in [
            "roll.index_written",
            "roll.segment_created",
            "compact.scheduled",
            "compact.mid_segment",
            "compact.segment_written",
            "compact.synced",
            "compact.before_manifest",
            "compact.after_manifest",
            "compact.before_remove",
        ] {
            hits.insert(n.to_string());
        }
    }
    (hits.into_iter().collect(), faults.into_iter().collect())
}

// ---------------------------------------------------------------------------
// The parent: damage a crash may do

fn read_manifest(dir: &Path) -> Result<revkv::format::manifest::Manifest, String> {
    let bytes = std::fs::read(dir.join("MANIFEST")).map_err(|e| format!("read MANIFEST: {e}"))?;
    decode_manifest(&bytes).map_err(|e| format!("decode MANIFEST: {e:?}"))
}

fn seg_id(name: &str, ext: &str) -> Option<u64> {
    let stem = name.strip_suffix(ext)?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// Garbage after the active segment's end, orphans truncated, a torn
/// `MANIFEST.tmp`: each with some probability. Returns what it did.
fn damage(dir: &Path, rng: &mut Rng, stats: &mut Stats) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let Ok(m) = read_manifest(dir) else {
        // No store yet (killed before it was created): nothing to damage.
        return Ok(done);
    };
    let Some((&active, sealed)) = m.segments.split_last() else {
        return Err(format!("MANIFEST lists no segment: {m:?}"));
    };
    if rng.chance(50) {
        let n = rng.between(1, 1500) as usize;
        let bytes: Vec<u8> = if rng.chance(20) {
            vec![0; n]
        } else {
            (0..n).map(|_| rng.next_u64() as u8).collect()
        };
        let path = dir.join(format!("{active:020}.seg"));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))?;
        f.write_all(&bytes)
            .map_err(|e| format!("append to {}: {e}", path.display()))?;
        done.push(format!("{n} bytes of garbage after {active:020}.seg"));
        stats.garbage += 1;
    }
    let names: Vec<String> = files::try_list(dir)
        .map_err(|e| format!("list {}: {e}", dir.display()))?
        .iter()
        .map(|p| files::file_name(p))
        .collect();
    for name in names {
        let orphan = if name.ends_with(".tmp") {
            true
        } else if let Some(id) = seg_id(&name, ".seg") {
            !m.segments.contains(&id)
        } else if let Some(id) = seg_id(&name, ".idx") {
            !sealed.contains(&id)
        } else {
            false
        };
        if orphan && rng.chance(70) {
            let path = dir.join(&name);
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let to = rng.below(len + 1);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(to))
                .map_err(|e| format!("truncate {}: {e}", path.display()))?;
            done.push(format!("{name} {len} -> {to}"));
            stats.truncated += 1;
        }
    }
    if rng.chance(15) {
        let n = rng.below(80) as usize;
        let mut bytes = b"REVKVMAN".to_vec();
        bytes.extend((0..n).map(|_| rng.next_u64() as u8));
        std::fs::write(dir.join("MANIFEST.tmp"), bytes)
            .map_err(|e| format!("write MANIFEST.tmp: {e}"))?;
        done.push("torn MANIFEST.tmp".into());
        stats.torn_tmp += 1;
    }
    Ok(done)
}

// ---------------------------------------------------------------------------
// The parent: the model

/// The store as the acknowledged (and landed in-flight) writes made it.
#[derive(Default)]
struct Model {
    /// Every revision up to here is accounted for.
    head: u64,
    compact: u64,
    /// Live keys at `head`.
    live: BTreeMap<Vec<u8>, KeyValue>,
    /// Each key's writes: (revision, value after it; `None` = deleted).
    versions: BTreeMap<Vec<u8>, Vec<(u64, Option<KeyValue>)>>,
    /// The events of each revision from `compact` on.
    events: BTreeMap<u64, Vec<Event>>,
    leases: BTreeSet<i64>,
}

type Overlay = BTreeMap<Vec<u8>, Option<KeyValue>>;

impl Model {
    fn head_kv(&self, overlay: &Overlay, key: &[u8]) -> Option<KeyValue> {
        match overlay.get(key) {
            Some(v) => v.clone(),
            None => self.live.get(key).cloned(),
        }
    }

    fn holds(&self, c: &Cmp) -> bool {
        let kv = match self.live.get(c.key.as_bytes()) {
            Some(kv) => kv.clone(),
            None if matches!(c.target, Target::Value(_)) => return false,
            None => KeyValue::default(),
        };
        let ord = match &c.target {
            Target::Value(v) => kv.value.as_slice().cmp(v.as_slice()),
            Target::Create(r) => kv.create_revision.cmp(r),
            Target::Mod(r) => kv.mod_revision.cmp(r),
            Target::Version(v) => kv.version.cmp(v),
            Target::Lease(l) => kv.lease.cmp(l),
        };
        match c.op {
            CompareOp::Equal => ord.is_eq(),
            CompareOp::NotEqual => ord.is_ne(),
            CompareOp::Less => ord.is_lt(),
            CompareOp::Greater => ord.is_gt(),
        }
    }

    /// Keys attached to `lease` at `head`, in order.
    fn attached(&self, lease: i64) -> Vec<Vec<u8>> {
        self.live
            .values()
            .filter(|kv| kv.lease == lease)
            .map(|kv| kv.key.clone())
            .collect()
    }

    /// The events `spec` (operation `id`) makes as revision `head + 1`; a
    /// transaction takes `branch` (`None`: as its compares decide). Also
    /// returns how the compares came out.
    fn effect(&self, id: u64, spec: &Spec, branch: Option<bool>) -> (Vec<Event>, bool) {
        let rev = self.head + 1;
        let mut events = Vec::new();
        let delete = |events: &mut Vec<Event>, kv: KeyValue| {
            events.push(Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: kv.key.clone(),
                    mod_revision: rev,
                    ..KeyValue::default()
                },
                prev_kv: Some(kv),
            })
        };
        match spec {
            Spec::Write {
                cmps,
                success,
                failure,
                ..
            } => {
                let holds = cmps.iter().all(|c| self.holds(c));
                let ops = if branch.unwrap_or(holds) {
                    success
                } else {
                    failure
                };
                let mut overlay = Overlay::new();
                for op in ops {
                    match op {
                        WOp::Put { key, len, lease } => {
                            let k = key.as_bytes().to_vec();
                            let prev = self.head_kv(&overlay, &k);
                            let kv = KeyValue {
                                key: k.clone(),
                                value: value_of(id, key, *len),
                                create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                                mod_revision: rev,
                                version: prev.as_ref().map_or(1, |p| p.version + 1),
                                lease: *lease,
                            };
                            events.push(Event {
                                kind: EventKind::Put,
                                kv: kv.clone(),
                                prev_kv: prev,
                            });
                            overlay.insert(k, Some(kv));
                        }
                        WOp::Del { key, end } => {
                            let range = WOp::range(key, end);
                            let keys: BTreeSet<&Vec<u8>> = self
                                .live
                                .keys()
                                .chain(overlay.keys())
                                .filter(|k| range.contains(k))
                                .collect();
                            let victims: Vec<KeyValue> = keys
                                .into_iter()
                                .filter_map(|k| self.head_kv(&overlay, k))
                                .collect();
                            for kv in victims {
                                overlay.insert(kv.key.clone(), None);
                                delete(&mut events, kv);
                            }
                        }
                        WOp::Get { .. } => {}
                    }
                }
                (events, holds)
            }
            Spec::Revoke { lease } => {
                for key in self.attached(*lease) {
                    if let Some(kv) = self.live.get(&key) {
                        delete(&mut events, kv.clone());
                    }
                }
                (events, true)
            }
            _ => (events, true),
        }
    }

    fn apply(&mut self, events: Vec<Event>) {
        self.head += 1;
        let rev = self.head;
        for e in &events {
            let after = match e.kind {
                EventKind::Put => {
                    self.live.insert(e.kv.key.clone(), e.kv.clone());
                    Some(e.kv.clone())
                }
                EventKind::Delete => {
                    self.live.remove(&e.kv.key);
                    None
                }
            };
            self.versions
                .entry(e.kv.key.clone())
                .or_default()
                .push((rev, after));
        }
        self.events.insert(rev, events);
    }

    fn kv_at(&self, key: &[u8], rev: u64) -> Option<KeyValue> {
        self.versions
            .get(key)?
            .iter()
            .rev()
            .find(|(r, _)| *r <= rev)
            .and_then(|(_, kv)| kv.clone())
    }

    fn state_at(&self, rev: u64) -> Vec<KeyValue> {
        self.versions
            .keys()
            .filter_map(|k| self.kv_at(k, rev))
            .collect()
    }

    /// Forgets what the compaction revision made unreadable.
    fn prune(&mut self, compact: u64) {
        self.compact = compact;
        self.events = self.events.split_off(&compact);
        self.versions.retain(|_, vs| {
            if let Some(keep) = vs.iter().rposition(|(r, _)| *r <= compact) {
                vs.drain(..keep);
            }
            !(vs.len() == 1 && vs[0].0 <= compact && vs[0].1.is_none())
        });
    }

    fn history(&self) -> History {
        let mut h = History::new();
        for (&rev, evs) in &self.events {
            h.push(rev, evs.clone());
        }
        if self.compact > 0 {
            h.compacted(self.compact);
        }
        h
    }
}

fn show_events(evs: &[Event]) -> String {
    let shown: Vec<String> = evs
        .iter()
        .map(|e| {
            format!(
                "{} {} prev={}",
                describe(e),
                show_kv(&e.kv),
                e.prev_kv.as_ref().map_or("none".into(), show_kv)
            )
        })
        .collect();
    format!("[{}]", shown.join("; "))
}

/// Events equal, except that an event at the compaction revision may lack a
/// previous key-value older than it (compaction keeps nothing older).
fn same_events(want: &[Event], got: &[Event], compact: u64) -> bool {
    want.len() == got.len()
        && want.iter().zip(got).all(|(w, g)| {
            w.kind == g.kind
                && w.kv == g.kv
                && (w.prev_kv == g.prev_kv
                    || (g.prev_kv.is_none()
                        && g.kv.mod_revision <= compact
                        && w.prev_kv.as_ref().is_some_and(|p| p.mod_revision < compact)))
        })
}

fn parse_field<T: std::str::FromStr>(f: &[String], i: usize, op: &OpRec) -> Result<T, String> {
    f.get(i)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("malformed acknowledgement of {}", op.show()))
}

#[derive(Default, Debug)]
struct Stats {
    rounds: u64,
    checks: u64,
    acked: u64,
    acked_writes: u64,
    acked_lease_ops: u64,
    acked_compactions: u64,
    in_flight: u64,
    in_flight_landed: u64,
    revisions: u64,
    kills: u64,
    early_kills: u64,
    killed_before_open: u64,
    armed: BTreeMap<String, u64>,
    hits: BTreeMap<String, u64>,
    hits_at_open: BTreeMap<String, u64>,
    poisoned: BTreeMap<String, u64>,
    chained: u64,
    garbage: u64,
    truncated: u64,
    torn_tmp: u64,
    watch_streams: u64,
    range_reads: u64,
    gets: u64,
}

/// Reopens the store after a crash and checks it against the model and the
/// operations of the rounds since the last check; on success the model
/// follows the store.
fn check_store(
    dir: &Path,
    model: &mut Model,
    ops: &[OpRec],
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<(), String> {
    let db = Db::open(dir, options()).map_err(|e| format!("reopen: {e}"))?;
    let result = check_open_store(&db, dir, model, ops, rng, stats);
    let closed = db.close();
    result?;
    closed.map_err(|e| format!("close after the checks: {e}"))
}

fn check_open_store(
    db: &Db,
    dir: &Path,
    model: &mut Model,
    ops: &[OpRec],
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<(), String> {
    let current = db.current_revision();
    let compact = db.compact_revision();
    let base = model.head;
    if current < base {
        return Err(format!(
            "the current revision went back from {base} to {current}"
        ));
    }

    // What the operations claim.
    let mut claims: BTreeMap<u64, usize> = BTreeMap::new();
    let mut revokes: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut unsure: Vec<usize> = Vec::new();
    let mut acked_compact = model.compact;
    let mut unsure_compacts = BTreeSet::new();
    for (i, op) in ops.iter().enumerate() {
        if op.unsure() {
            stats.in_flight += 1;
            match op.spec {
                Spec::Compact { rev, .. } => {
                    unsure_compacts.insert(rev);
                }
                _ => unsure.push(i),
            }
            continue;
        }
        let Some(f) = op.acked() else { continue };
        stats.acked += 1;
        match &op.spec {
            Spec::Write { .. } => {
                stats.acked_writes += 1;
                let rev: u64 = parse_field(f, 0, op)?;
                let n: u64 = parse_field(f, 2, op)?;
                if n == 0 {
                    continue;
                }
                if rev <= base {
                    return Err(format!(
                        "{} was acknowledged at revision {rev}, at or below the revision {base} checked before",
                        op.show()
                    ));
                }
                if let Some(j) = claims.insert(rev, i) {
                    return Err(format!(
                        "revision {rev} acknowledged to two writes: {} and {}",
                        ops[j].show(),
                        op.show()
                    ));
                }
                if rev > current {
                    return Err(format!(
                        "acknowledged write lost: {} at revision {rev}, but the store reopened at revision {current}",
                        op.show()
                    ));
                }
            }
            Spec::Revoke { .. } => {
                stats.acked_lease_ops += 1;
                let rev: u64 = parse_field(f, 0, op)?;
                revokes.entry(rev).or_default().push(i);
            }
            Spec::Grant { .. } | Spec::KeepAlive { .. } => stats.acked_lease_ops += 1,
            Spec::Compact { rev, .. } => {
                stats.acked_compactions += 1;
                acked_compact = acked_compact.max(*rev);
            }
        }
    }

    // Compaction: the newest acknowledged one, or one that was in flight.
    if compact < acked_compact {
        return Err(format!(
            "acknowledged compaction at {acked_compact} lost: the compaction revision is {compact}"
        ));
    }
    if compact != acked_compact && !unsure_compacts.contains(&compact) {
        return Err(format!(
            "compaction revision {compact}: acknowledged {acked_compact}, in flight {unsure_compacts:?}"
        ));
    }
    if compact > current {
        return Err(format!(
            "compaction revision {compact} above the current revision {current}"
        ));
    }

    // Replay every revision since the last check, in order.
    let from = (base + 1).max(compact).max(1);
    let stored = if from <= current {
        History::read_back(db, from, current, WATCH_TIMEOUT)
            .map_err(|e| format!("reading the history {from}..={current} back: {e}"))?
    } else {
        History::new()
    };
    let mut used = vec![false; ops.len()];
    // A revoke that consumed no revision answers with the revision it saw:
    // its lease had no key there.
    let check_revokes_at = |model: &Model, rev: u64, used: &[bool]| -> Result<(), String> {
        for &i in revokes.get(&rev).map_or(&[][..], |v| v.as_slice()) {
            let Spec::Revoke { lease } = ops[i].spec else {
                continue;
            };
            if !used[i] && !model.attached(lease).is_empty() {
                return Err(format!(
                    "{} answered revision {rev}, but lease {lease} still had keys {:?} there",
                    ops[i].show(),
                    model
                        .attached(lease)
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect::<Vec<_>>()
                ));
            }
        }
        Ok(())
    };
    check_revokes_at(model, base, &used)?;
    for rev in base + 1..=current {
        let got = stored.events_at(rev);
        let events = if let Some(&i) = claims.get(&rev) {
            let op = &ops[i];
            let f = op.acked().unwrap_or_default();
            let succeeded = parse_field::<u8>(f, 1, op)? == 1;
            let n: u64 = parse_field(f, 2, op)?;
            let (events, holds) = model.effect(op.id, &op.spec, Some(succeeded));
            if let Spec::Write { cmps, .. } = &op.spec {
                if holds != succeeded {
                    return Err(format!(
                        "{} at revision {rev}: its compares {cmps:?} hold={holds} on the state before it, but it answered succeeded={succeeded}",
                        op.show()
                    ));
                }
            }
            if events.len() as u64 != n {
                return Err(format!(
                    "{} at revision {rev} answered {n} changes; the model makes {}",
                    op.show(),
                    show_events(&events)
                ));
            }
            used[i] = true;
            events
        } else if rev < compact {
            // Every revision at or below a compaction point was acknowledged
            // (the child compacts only below what it has acknowledged): only
            // a revoke can own it.
            let found = revokes.get(&rev).and_then(|v| {
                v.iter().copied().find(|&i| {
                    let (evs, _) = model.effect(ops[i].id, &ops[i].spec, None);
                    !evs.is_empty()
                })
            });
            let Some(i) = found else {
                return Err(format!(
                    "revision {rev} lies below the compaction revision {compact} but no acknowledged operation made it"
                ));
            };
            used[i] = true;
            model.effect(ops[i].id, &ops[i].spec, None).0
        } else {
            // An acknowledged revoke that answered this revision, or an
            // operation in flight at the crash: whichever makes exactly the
            // stored events.
            let mut candidates: Vec<usize> = revokes.get(&rev).cloned().unwrap_or_default();
            candidates.extend(unsure.iter().copied().filter(|&i| !used[i]));
            let found = candidates.iter().copied().find(|&i| {
                let (evs, _) = model.effect(ops[i].id, &ops[i].spec, None);
                !evs.is_empty() && same_events(&evs, got, compact)
            });
            let Some(i) = found else {
                let tried: Vec<String> = candidates
                    .iter()
                    .map(|&i| {
                        let (evs, _) = model.effect(ops[i].id, &ops[i].spec, None);
                        format!("{} would make {}", ops[i].show(), show_events(&evs))
                    })
                    .collect();
                return Err(format!(
                    "revision {rev} holds {} and no acknowledged write claims it; no operation in flight explains it:\n  {}",
                    show_events(got),
                    tried.join("\n  ")
                ));
            };
            if ops[i].unsure() {
                stats.in_flight_landed += 1;
            }
            used[i] = true;
            model.effect(ops[i].id, &ops[i].spec, None).0
        };
        if rev >= compact && !same_events(&events, got, compact) {
            let who = claims.get(&rev).map_or("?".into(), |&i| ops[i].show());
            return Err(format!(
                "revision {rev} ({who}): the store holds {}, the model {}",
                show_events(got),
                show_events(&events)
            ));
        }
        model.apply(events);
        stats.revisions += 1;
        check_revokes_at(model, rev, &used)?;
    }
    model.prune(compact);

    // Leases.
    let live: BTreeSet<i64> = db
        .leases()
        .map_err(|e| format!("leases: {e}"))?
        .into_iter()
        .collect();
    let mut expected = model.leases.clone();
    let (mut acked_revoked, mut maybe_granted, mut maybe_revoked) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for op in ops {
        match (&op.spec, op.acked().is_some(), op.unsure()) {
            (Spec::Grant { lease }, true, _) => {
                expected.insert(*lease);
            }
            (Spec::Grant { lease }, _, true) => {
                maybe_granted.insert(*lease);
            }
            (Spec::Revoke { lease }, true, _) => {
                acked_revoked.insert(*lease);
            }
            (Spec::Revoke { lease }, _, true) => {
                maybe_revoked.insert(*lease);
            }
            _ => {}
        }
    }
    for l in &live {
        if acked_revoked.contains(l) {
            return Err(format!("lease {l} is alive after an acknowledged revoke"));
        }
        if !expected.contains(l) && !maybe_granted.contains(l) {
            return Err(format!("lease {l} is alive but was never granted"));
        }
    }
    for l in expected.difference(&acked_revoked) {
        if !live.contains(l) && !maybe_revoked.contains(l) {
            return Err(format!(
                "lease {l} (granted, never revoked) is gone after reopen"
            ));
        }
    }
    model.leases = live.clone();
    for kv in model.live.values() {
        if kv.lease != 0 && !live.contains(&kv.lease) {
            return Err(format!(
                "{} is live but attached to lease {}, which is not",
                show_kv(kv),
                kv.lease
            ));
        }
    }
    for &l in &live {
        let ttl = db
            .lease_time_to_live(l, true)
            .map_err(|e| format!("lease_time_to_live({l}): {e}"))?;
        let mut keys = ttl.keys.clone();
        keys.sort();
        if keys != model.attached(l) || ttl.granted_ttl != LEASE_TTL || ttl.ttl <= 0 {
            return Err(format!(
                "lease {l}: store says {ttl:?}, the model's keys are {:?}",
                model
                    .attached(l)
                    .iter()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect::<Vec<_>>()
            ));
        }
    }

    // Reads at sampled retained revisions, and every acknowledged put.
    if current > 0 {
        let lo = compact.max(1);
        let mut revs: BTreeSet<u64> = [lo, current].into_iter().collect();
        for _ in 0..24 {
            revs.insert(rng.between(lo, current));
        }
        for rev in revs {
            let got = db
                .range(RangeRequest::new(KeyRange::all()).revision(rev))
                .map_err(|e| format!("range of every key at {rev}: {e}"))?;
            let want = model.state_at(rev);
            if got.kvs != want {
                let show = |kvs: &[KeyValue]| kvs.iter().map(show_kv).collect::<Vec<_>>();
                return Err(format!(
                    "every key at revision {rev}: the store has {:?}, the model {:?}",
                    show(&got.kvs),
                    show(&want)
                ));
            }
            stats.range_reads += 1;
        }
        for op in ops {
            let (Spec::Write { .. }, Some(f)) = (&op.spec, op.acked()) else {
                continue;
            };
            let rev: u64 = parse_field(f, 0, op)?;
            if rev < compact || parse_field::<u64>(f, 2, op)? == 0 {
                continue;
            }
            for e in &model.events[&rev] {
                let got = db
                    .get_at(&e.kv.key, rev)
                    .map_err(|err| format!("get_at({}, {rev}): {err}", describe(e)))?;
                let want = model.kv_at(&e.kv.key, rev);
                if got != want {
                    return Err(format!(
                        "{} at revision {rev} (by {}): get_at gives {:?}",
                        describe(e),
                        op.show(),
                        got.as_ref().map(show_kv)
                    ));
                }
                stats.gets += 1;
            }
        }
        let now = db.stats().map_err(|e| format!("stats: {e}"))?;
        if now.live_keys != model.live.len() as u64 {
            return Err(format!(
                "stats say {} live keys, the model has {}",
                now.live_keys,
                model.live.len()
            ));
        }
    }
    if compact > 1 {
        match db.range(RangeRequest::new(KeyRange::all()).revision(compact - 1)) {
            Err(Error::Compacted { compact_revision }) if compact_revision == compact => {}
            other => {
                return Err(format!(
                    "a read at {} (below the compaction revision {compact}) gave {other:?}",
                    compact - 1
                ))
            }
        }
        match db.watch(WatchRequest::new(KeyRange::all()).start_revision(compact - 1)) {
            Err(Error::Compacted { compact_revision }) if compact_revision == compact => {}
            Err(e) => return Err(format!("a watch from {}: {e}", compact - 1)),
            Ok(_) => {
                return Err(format!(
                    "a watch from {} (below the compaction revision {compact}) started",
                    compact - 1
                ))
            }
        }
    }

    // Watches from the compaction revision, from a random retained revision,
    // and over a random range with random filters.
    if current > 0 {
        let history = model.history();
        let lo = compact.max(1);
        let (a, b) = rand_range(rng);
        let requests = [
            WatchRequest::new(KeyRange::all())
                .start_revision(lo)
                .prev_kv(),
            WatchRequest::new(KeyRange::all())
                .start_revision(rng.between(lo, current + 1))
                .prev_kv(),
            {
                let mut req = WatchRequest::new(KeyRange::range(a, b))
                    .start_revision(rng.between(lo, current + 1));
                req.prev_kv = rng.chance(50);
                req.no_put = rng.chance(20);
                req.no_delete = rng.chance(20);
                req
            },
        ];
        for req in requests {
            let w = db
                .watch(req.clone())
                .map_err(|e| format!("watch {req:?}: {e}"))?;
            let mut rec = Recorded::new(req.clone()).id(w.id());
            let stopped = record_through(&w, &mut rec, current, WATCH_TIMEOUT)
                .map_err(|e| format!("watch {req:?}: {e}"))?;
            if stopped != Stopped::Reached {
                return Err(format!("watch {req:?} ended before revision {current}"));
            }
            let summary = check(&history, &rec).map_err(|v| format!("watch {req:?}: {v}"))?;
            if summary.reached < current {
                return Err(format!(
                    "watch {req:?} reached {} of {current}",
                    summary.reached
                ));
            }
            stats.watch_streams += 1;
        }
    }

    // The compaction is finished and the directory holds what the MANIFEST names.
    let m = read_manifest(dir)?;
    if m.compact_scheduled != compact || m.compact_finished != compact {
        return Err(format!(
            "after open the MANIFEST says {m:?}, the compaction revision is {compact}"
        ));
    }
    let sealed: BTreeSet<u64> = m.segments[..m.segments.len().saturating_sub(1)]
        .iter()
        .copied()
        .collect();
    for path in files::try_list(dir).map_err(|e| format!("list {}: {e}", dir.display()))? {
        let name = files::file_name(&path);
        let ok = if let Some(id) = seg_id(&name, ".seg") {
            m.segments.contains(&id)
        } else if let Some(id) = seg_id(&name, ".idx") {
            sealed.contains(&id)
        } else if name == "KEYINDEX" {
            store::checkpoint_fits(dir, &m.segments, m.compact_scheduled, m.compact_finished)?;
            true
        } else {
            name == "MANIFEST" || name == "LOCK"
        };
        if !ok {
            return Err(format!(
                "{name} is in the directory after open, the MANIFEST names {:?}",
                m.segments
            ));
        }
    }
    for id in &m.segments {
        if !dir.join(format!("{id:020}.seg")).exists()
            || (sealed.contains(id) && !dir.join(format!("{id:020}.idx")).exists())
        {
            return Err(format!("segment {id} of the MANIFEST is missing a file"));
        }
    }

    let report = db.verify().map_err(|e| format!("verify: {e}"))?;
    if !report.is_ok() {
        return Err(format!("verify found problems: {:?}", report.problems));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The parent: rounds

fn store_base() -> PathBuf {
    if let Ok(d) = std::env::var(TMPDIR_ENV) {
        return PathBuf::from(d);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

#[test]
fn crash_harness() {
    let rounds = env_u64(ROUNDS_ENV).unwrap_or(20);
    let seed = seed_from_env(SEED_ENV);
    let threads = env_u64(THREADS_ENV).unwrap_or(3).max(1);
    let verbose = std::env::var(VERBOSE_ENV).is_ok();
    eprintln!("crash_harness: {rounds} rounds, seed {seed} ({SEED_ENV}={seed} repeats the plan)");
    let (hits, faults) = failpoints();
    let mut rng = Rng::new(seed);
    let work = tempfile::Builder::new()
        .prefix("revkv-crash-harness-")
        .tempdir_in(store_base())
        .expect("tempdir");
    let dir = work.path().join("db");
    let snapshot = work.path().join("before-reopen");
    // A new store is at revision 1 (its first write is 2), as etcd's.
    let mut model = Model {
        head: 1,
        ..Model::default()
    };
    let mut stats = Stats::default();
    let mut batch: Vec<OpRec> = Vec::new();
    let mut batch_lines: Vec<String> = Vec::new();
    let mut chain_next = false;
    let started = Instant::now();
    for round in 0..rounds {
        stats.rounds += 1;
        let chained = std::mem::take(&mut chain_next);
        let mut plan = Plan {
            early_kill: None,
            kill_after: Duration::from_millis(rng.between(5, 150)),
            arm: None,
            fault: false,
            no_compact: chained,
            compact_per_mille: 10,
            big: rng.chance(3),
            child_seed: rng.next_u64(),
        };
        if chained {
            stats.chained += 1;
            plan.arm = Some((rng.pick(&hits).clone(), None));
        } else if rng.chance(10) {
            plan.early_kill = Some(Duration::from_millis(rng.below(30)));
        } else if rng.chance(60) {
            let name = if !faults.is_empty() && rng.chance(12) {
                plan.fault = true;
                rng.pick(&faults).clone()
            } else {
                rng.pick(&hits).clone()
            };
            let after = if name == "compact.mid_segment" {
                plan.big = true;
                rng.below(10)
            } else {
                rng.below(200)
            };
            if name.starts_with("compact.") {
                plan.compact_per_mille = 40;
            }
            plan.kill_after = Duration::from_millis(rng.between(100, 500));
            plan.arm = Some((name, Some(after)));
        }
        if let Some((name, _)) = &plan.arm {
            *stats.armed.entry(name.clone()).or_default() += 1;
        }
        let ctx = |what: &str| format!("seed {seed}, round {round}: {what}");
        let run = run_child(&dir, round, threads, &plan)
            .unwrap_or_else(|e| panic!("{}\nplan {plan:?}", ctx(&e)));
        let name = plan
            .arm
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        match run.ended {
            Ended::Killed => {
                stats.kills += 1;
                if plan.early_kill.is_some() {
                    stats.early_kills += 1;
                }
                if !run.opened {
                    stats.killed_before_open += 1;
                }
            }
            Ended::Failpoint => {
                *stats.hits.entry(name.clone()).or_default() += 1;
                if !run.opened {
                    *stats.hits_at_open.entry(name.clone()).or_default() += 1;
                }
            }
            Ended::Poisoned => *stats.poisoned.entry(name.clone()).or_default() += 1,
        }
        let ops = parse_ops(&run.lines).unwrap_or_else(|e| panic!("{}", ctx(&e)));
        let acks = ops.iter().filter(|o| o.acked().is_some()).count();
        batch.extend(ops);
        batch_lines.push(format!("# round {round}: {plan:?} -> {:?}", run.ended));
        batch_lines.extend(run.lines);
        // After a crash at a failpoint, sometimes crash again before any
        // check: the next child opens a store with the damage of this crash
        // (and an interrupted compaction to finish).
        if run.ended == Ended::Failpoint && round + 1 < rounds && rng.chance(30) {
            chain_next = true;
        }
        let damage_done = if rng.chance(70) {
            damage(&dir, &mut rng, &mut stats).unwrap_or_else(|e| panic!("{}", ctx(&e)))
        } else {
            Vec::new()
        };
        if verbose {
            eprintln!(
                "round {round}: {:?}{} {} acks, {} lines; damage {damage_done:?}{}",
                run.ended,
                if name.is_empty() {
                    String::new()
                } else {
                    format!(" ({name})")
                },
                acks,
                batch_lines.len(),
                if chain_next { "; chained" } else { "" }
            );
        }
        if chain_next {
            continue;
        }
        if dir.exists() {
            files::try_copy_dir_into(&dir, &snapshot).expect("snapshot the directory");
        }
        stats.checks += 1;
        let checked = if dir.join("MANIFEST").exists() {
            check_store(&dir, &mut model, &batch, &mut rng, &mut stats)
        } else if batch.iter().any(|o| o.acked().is_some()) {
            Err("acknowledged operations but no store".to_string())
        } else {
            Ok(())
        };
        if let Err(e) = checked {
            let keep = std::env::temp_dir().join(format!("revkv-crash-harness-{seed}-{round}"));
            let _ = files::try_copy_dir_into(&snapshot, &keep);
            let _ = std::fs::write(keep.join("child-output.txt"), batch_lines.join("\n"));
            panic!(
                "{}\n{e}\nplan {plan:?}, ended {:?}, damage {damage_done:?}\n\
                 the directory before this reopen and the child's output are in {}\n\
                 stats so far: {stats:?}",
                ctx("check failed"),
                run.ended,
                keep.display()
            );
        }
        batch.clear();
        batch_lines.clear();
    }
    eprintln!(
        "crash_harness: seed {seed}, {} rounds in {:.1?}: {} checks, {} acknowledged operations \
         ({} writes, {} lease ops, {} compactions), {} revisions replayed, {} in flight of which \
         {} landed; {} kills ({} early, {} before open); failpoints armed {:?}, hit {:?} \
         (during open: {:?}); I/O faults {:?}; {} chained crashes; damage: {} garbage tails, \
         {} orphans truncated, {} torn MANIFEST.tmp; checked {} watch streams, {} full reads, \
         {} gets",
        stats.rounds,
        started.elapsed(),
        stats.checks,
        stats.acked,
        stats.acked_writes,
        stats.acked_lease_ops,
        stats.acked_compactions,
        stats.revisions,
        stats.in_flight,
        stats.in_flight_landed,
        stats.kills,
        stats.early_kills,
        stats.killed_before_open,
        stats.armed,
        stats.hits,
        stats.hits_at_open,
        stats.poisoned,
        stats.chained,
        stats.garbage,
        stats.truncated,
        stats.torn_tmp,
        stats.watch_streams,
        stats.range_reads,
        stats.gets
    );
    assert!(
        stats.acked > 0 || rounds < 5,
        "seed {seed}: no acknowledged operation in {rounds} rounds"
    );
}
