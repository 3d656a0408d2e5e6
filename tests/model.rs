//! Model test: random sequences of puts, deletes, delete ranges,
//! transactions, reads at random revisions, compactions, reopens and abrupt
//! drops, run
//! against a `Db` and against a plain in-memory model of etcd's semantics
//! (a full snapshot of the key space per revision), compared after every
//! step: every response field, the current revision and the whole state;
//! after a reopen or drop and at the end, every past revision too.
//!
//! `PROPTEST_CASES` sets the number of cases (default 500).

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use revkv::{
    Compare, CompareOp, CompareTarget, Compression, Db, DeleteRequest, DeleteResponse, Error,
    KeyRange, KeyValue, Op, OpResponse, Options, PutRequest, PutResponse, RangeRequest,
    RangeResponse, SyncPolicy, Txn, TxnResponse,
};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The key space: small, with shared prefixes, so that keys collide and
/// prefix and interval ranges cover several keys.
const KEYS: [&str; 6] = ["a", "a/1", "a/2", "ab", "b", "b/1"];
/// Interval bounds: keys of the space and keys between them.
const BOUNDS: [&str; 10] = ["a", "a/", "a/1", "a/2", "a0", "ab", "b", "b/", "b/1", "c"];
/// Prefixes; "" means every key.
const PREFIXES: [&str; 5] = ["a", "a/", "ab", "b", ""];

// ---------------------------------------------------------------------------
// Operations, as generated.

/// A key range in the model's own terms.
#[derive(Clone, PartialEq, Eq)]
enum R {
    Key(usize),
    Prefix(&'static str),
    /// `[BOUNDS[a], BOUNDS[b])`; invalid when `b` sorts before `a`.
    Between(usize, usize),
    /// Every key `>= BOUNDS[a]`.
    From(usize),
    All,
}

impl fmt::Debug for R {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            R::Key(k) => write!(f, "{:?}", KEYS[*k]),
            R::Prefix(p) => write!(f, "prefix({p:?})"),
            R::Between(a, b) => write!(f, "[{:?},{:?})", BOUNDS[*a], BOUNDS[*b]),
            R::From(a) => write!(f, "from({:?})", BOUNDS[*a]),
            R::All => write!(f, "all"),
        }
    }
}

impl R {
    /// Does the range hold `key`? Written from the definitions, not from the
    /// library's code.
    fn contains(&self, key: &[u8]) -> bool {
        match self {
            R::Key(k) => key == KEYS[*k].as_bytes(),
            R::Prefix(p) => key.starts_with(p.as_bytes()),
            R::Between(a, b) => BOUNDS[*a].as_bytes() <= key && key < BOUNDS[*b].as_bytes(),
            R::From(a) => BOUNDS[*a].as_bytes() <= key,
            R::All => true,
        }
    }

    fn key_range(&self) -> KeyRange {
        match self {
            R::Key(k) => KeyRange::single(KEYS[*k]),
            R::Prefix(p) => KeyRange::prefix(*p),
            R::Between(a, b) => KeyRange::range(BOUNDS[*a], BOUNDS[*b]),
            R::From(a) => KeyRange::from_key(BOUNDS[*a]),
            R::All => KeyRange::all(),
        }
    }

    /// The error a request over this range must fail with, if any.
    fn invalid(&self) -> Option<Expected> {
        match self {
            R::Between(a, b) if BOUNDS[*b] < BOUNDS[*a] => Some(Expected::InvalidRange {
                key: BOUNDS[*a].as_bytes().to_vec(),
                range_end: BOUNDS[*b].as_bytes().to_vec(),
            }),
            _ => None,
        }
    }
}

/// A value: small ones collide, big ones fill segments (and compress).
#[derive(Clone, Copy, PartialEq, Eq)]
enum V {
    Small(u8),
    Empty,
    Big(u8),
}

impl fmt::Debug for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            V::Small(n) => write!(f, "v{n}"),
            V::Empty => write!(f, "\"\""),
            V::Big(n) => write!(f, "big{n}"),
        }
    }
}

impl V {
    fn bytes(self) -> Vec<u8> {
        match self {
            V::Small(n) => format!("v{n}").into_bytes(),
            V::Empty => Vec::new(),
            // 2000 bytes of letters from a small LCG: only partly
            // compressible, so that even compressed they fill segments.
            V::Big(n) => {
                let mut x = 0x2545_f491u32.wrapping_add(n as u32);
                (0..2000)
                    .map(|_| {
                        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        b'a' + (x >> 24) as u8 % 26
                    })
                    .collect()
            }
        }
    }
}

/// A revision to read at, chosen relative to the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rev {
    /// 0: the current revision.
    Current,
    /// Some revision in `1..=current`.
    Past(u8),
    /// `current + 1 + n`: must fail with `FutureRevision`.
    Future(u8),
}

impl Rev {
    fn resolve(self, current: u64) -> u64 {
        match self {
            Rev::Current => 0,
            Rev::Past(_) if current == 0 => 0,
            Rev::Past(n) => current - n as u64 % current,
            Rev::Future(n) => current + 1 + n as u64 % 3,
        }
    }
}

/// The operand of a revision compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevOperand {
    /// The compared key's own field (its first live key for a range) plus
    /// `delta`, so that equality holds often.
    OfKey(i8),
    /// `n % (current + 2)`.
    Abs(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Value(V),
    Version(u8),
    Create(RevOperand),
    Mod(RevOperand),
    Lease(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Cmp {
    range: R,
    op: usize,
    target: Target,
}

const CMP_OPS: [CompareOp; 4] = [
    CompareOp::Equal,
    CompareOp::NotEqual,
    CompareOp::Less,
    CompareOp::Greater,
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct RangeSpec {
    range: R,
    rev: Rev,
    limit: u8,
    count_only: bool,
    keys_only: bool,
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TOp {
    Put { key: usize, value: V, prev_kv: bool },
    Delete { range: R, prev_kv: bool },
    Range(RangeSpec),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct TxnSpec {
    compares: Vec<Cmp>,
    success: Vec<TOp>,
    failure: Vec<TOp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Put {
        key: usize,
        value: V,
        prev_kv: bool,
    },
    Delete {
        range: R,
        prev_kv: bool,
    },
    Txn(TxnSpec),
    Range(RangeSpec),
    Get {
        key: usize,
        rev: Rev,
    },
    /// `close()` then `Db::open`.
    Reopen,
    /// Drop without `close()`, then `Db::open`.
    Drop,
    /// `compact` (or `compact_physical`, which waits for the rewrite) at a
    /// revision chosen like a read's.
    Compact {
        rev: Rev,
        physical: bool,
    },
}

// ---------------------------------------------------------------------------
// The model.

/// What a request must fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expected {
    FutureRevision {
        requested: u64,
        current: u64,
    },
    Compacted {
        compact_revision: u64,
    },
    InvalidRange {
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
    DuplicateKey(Vec<u8>),
    /// Any `Error::InvalidArgument`.
    InvalidArgument,
}

impl Expected {
    fn matches(&self, e: &Error) -> bool {
        match (self, e) {
            (
                Expected::FutureRevision { requested, current },
                Error::FutureRevision {
                    requested: r,
                    current: c,
                },
            ) => requested == r && current == c,
            (
                Expected::Compacted { compact_revision },
                Error::Compacted {
                    compact_revision: c,
                },
            ) => compact_revision == c,
            (
                Expected::InvalidRange { key, range_end },
                Error::InvalidRange {
                    key: k,
                    range_end: e,
                },
            ) => key == k && range_end == e,
            (Expected::DuplicateKey(key), Error::DuplicateKeyInTxn { key: k }) => key == k,
            (Expected::InvalidArgument, Error::InvalidArgument(_)) => true,
            _ => false,
        }
    }
}

/// An expected outcome: the value, or the errors any one of which is right
/// (when a request breaks several rules, which one is reported first is not
/// part of the contract).
type Outcome<T> = Result<T, Vec<Expected>>;

type Snapshot = BTreeMap<Vec<u8>, KeyValue>;

/// etcd's KV semantics, as plainly as possible: `snaps[r]` is every live
/// key at revision `r`; revisions below `compacted` cannot be read.
struct Model {
    snaps: Vec<Snapshot>,
    compacted: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            snaps: vec![Snapshot::new()],
            compacted: 0,
        }
    }

    fn current(&self) -> u64 {
        self.snaps.len() as u64 - 1
    }

    fn state(&self) -> &Snapshot {
        &self.snaps[self.snaps.len() - 1]
    }

    fn live(snap: &Snapshot, range: &R) -> Vec<KeyValue> {
        snap.values()
            .filter(|kv| range.contains(&kv.key))
            .cloned()
            .collect()
    }

    /// The snapshot a read at `rev` (0 = current) sees.
    fn at(&self, rev: u64) -> Result<&Snapshot, Expected> {
        if rev > self.current() {
            return Err(Expected::FutureRevision {
                requested: rev,
                current: self.current(),
            });
        }
        if rev != 0 && rev < self.compacted {
            return Err(Expected::Compacted {
                compact_revision: self.compacted,
            });
        }
        Ok(if rev == 0 {
            self.state()
        } else {
            &self.snaps[rev as usize]
        })
    }

    fn range_of(snap: &Snapshot, spec: &RangeSpec, revision: u64) -> RangeResponse {
        let mut kvs = Model::live(snap, &spec.range);
        let count = kvs.len() as u64;
        let mut more = false;
        if spec.count_only {
            kvs.clear();
        } else if spec.limit > 0 && kvs.len() > spec.limit as usize {
            kvs.truncate(spec.limit as usize);
            more = true;
        }
        if spec.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value.clear());
        }
        RangeResponse {
            revision,
            kvs,
            count,
            more,
        }
    }

    fn range(&self, spec: &RangeSpec) -> Outcome<RangeResponse> {
        if let Some(e) = spec.range.invalid() {
            return Err(vec![e]);
        }
        let rev = spec.rev.resolve(self.current());
        let snap = self.at(rev).map_err(|e| vec![e])?;
        Ok(Model::range_of(snap, spec, self.current()))
    }

    fn get(&self, key: usize, rev: Rev) -> Outcome<Option<KeyValue>> {
        let rev = rev.resolve(self.current());
        let snap = self.at(rev).map_err(|e| vec![e])?;
        Ok(snap.get(KEYS[key].as_bytes()).cloned())
    }

    /// Compaction at `rev`: not at 0, only forward, and not past the current
    /// revision.
    fn compact(&mut self, rev: u64) -> Outcome<()> {
        if rev == 0 {
            return Err(vec![Expected::InvalidArgument]);
        }
        if rev <= self.compacted {
            return Err(vec![Expected::Compacted {
                compact_revision: self.compacted,
            }]);
        }
        if rev > self.current() {
            return Err(vec![Expected::FutureRevision {
                requested: rev,
                current: self.current(),
            }]);
        }
        self.compacted = rev;
        Ok(())
    }

    /// Every rule a transaction breaks before it runs: bad ranges, and a
    /// branch that writes one key twice (two puts, or a put inside one of
    /// the branch's delete ranges).
    fn validate(t: &TxnSpec) -> Vec<Expected> {
        let mut errs: Vec<Expected> = t
            .compares
            .iter()
            .filter_map(|c| c.range.invalid())
            .collect();
        for branch in [&t.success, &t.failure] {
            let mut puts: Vec<&str> = Vec::new();
            let mut deletes: Vec<&R> = Vec::new();
            for op in branch {
                match op {
                    TOp::Put { key, .. } => puts.push(KEYS[*key]),
                    TOp::Delete { range, .. } => {
                        errs.extend(range.invalid());
                        deletes.push(range);
                    }
                    TOp::Range(r) => errs.extend(r.range.invalid()),
                }
            }
            for (i, key) in puts.iter().enumerate() {
                let twice = puts[..i].contains(key);
                if twice || deletes.iter().any(|d| d.contains(key.as_bytes())) {
                    errs.push(Expected::DuplicateKey(key.as_bytes().to_vec()));
                }
            }
        }
        errs
    }

    fn holds(c: &Cmp, kvs: &[KeyValue], operand: &CompareTarget) -> bool {
        let absent = KeyValue::default();
        let kvs: Vec<&KeyValue> = if kvs.is_empty() {
            if matches!(operand, CompareTarget::Value(_)) {
                return false; // a value compare on an absent key is false
            }
            vec![&absent] // otherwise an absent key compares as zeros
        } else {
            kvs.iter().collect()
        };
        kvs.iter().all(|kv| {
            let ord = match operand {
                CompareTarget::Value(v) => kv.value.cmp(v),
                CompareTarget::CreateRevision(r) => kv.create_revision.cmp(r),
                CompareTarget::ModRevision(r) => kv.mod_revision.cmp(r),
                CompareTarget::Version(v) => kv.version.cmp(v),
                CompareTarget::Lease(l) => kv.lease.cmp(l),
            };
            match CMP_OPS[c.op] {
                CompareOp::Equal => ord.is_eq(),
                CompareOp::NotEqual => ord.is_ne(),
                CompareOp::Less => ord.is_lt(),
                CompareOp::Greater => ord.is_gt(),
            }
        })
    }

    /// The concrete operand of a compare, chosen from the current state.
    fn operand(&self, c: &Cmp) -> CompareTarget {
        let first = Model::live(self.state(), &c.range).into_iter().next();
        let rev_operand = |o: RevOperand, field: fn(&KeyValue) -> u64| match o {
            RevOperand::OfKey(d) => {
                let base = first.as_ref().map_or(0, field) as i64;
                (base + d as i64).max(0) as u64
            }
            RevOperand::Abs(n) => n as u64 % (self.current() + 2),
        };
        match &c.target {
            Target::Value(v) => CompareTarget::Value(v.bytes()),
            Target::Version(v) => CompareTarget::Version(*v as u64),
            Target::Create(o) => {
                CompareTarget::CreateRevision(rev_operand(*o, |kv| kv.create_revision))
            }
            Target::Mod(o) => CompareTarget::ModRevision(rev_operand(*o, |kv| kv.mod_revision)),
            Target::Lease(l) => CompareTarget::Lease(*l),
        }
    }

    /// Runs a transaction whose compare operands are `operands`; a write
    /// adds a snapshot.
    fn txn(&mut self, t: &TxnSpec, operands: &[CompareTarget]) -> Outcome<TxnResponse> {
        let errs = Model::validate(t);
        if !errs.is_empty() {
            return Err(errs);
        }
        let cur = self.current();
        let rev = cur + 1;
        let succeeded = t
            .compares
            .iter()
            .zip(operands)
            .all(|(c, o)| Model::holds(c, &Model::live(self.state(), &c.range), o));
        let ops = if succeeded { &t.success } else { &t.failure };
        let mut local = self.state().clone();
        let mut wrote = false;
        let mut responses = Vec::new();
        for op in ops {
            match op {
                TOp::Put {
                    key,
                    value,
                    prev_kv,
                } => {
                    let key = KEYS[*key].as_bytes().to_vec();
                    let head = local.get(&key).cloned();
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.bytes(),
                        create_revision: head.as_ref().map_or(rev, |h| h.create_revision),
                        mod_revision: rev,
                        version: head.as_ref().map_or(1, |h| h.version + 1),
                        lease: 0,
                    };
                    local.insert(key, kv);
                    wrote = true;
                    responses.push(OpResponse::Put(PutResponse {
                        revision: 0,
                        prev_kv: if *prev_kv { head } else { None },
                    }));
                }
                TOp::Delete { range, prev_kv } => {
                    let victims = Model::live(&local, range);
                    for kv in &victims {
                        local.remove(&kv.key);
                    }
                    wrote |= !victims.is_empty();
                    responses.push(OpResponse::Delete(DeleteResponse {
                        revision: 0,
                        deleted: victims.len() as u64,
                        prev_kvs: if *prev_kv { victims } else { Vec::new() },
                    }));
                }
                TOp::Range(spec) => {
                    // At revision 0 a transaction reads its own writes; at
                    // an explicit revision, the store as it was.
                    let at = spec.rev.resolve(cur);
                    let snap = if at == 0 {
                        &local
                    } else {
                        self.at(at).map_err(|e| vec![e])?
                    };
                    responses.push(OpResponse::Range(Model::range_of(snap, spec, 0)));
                }
            }
        }
        let revision = if wrote { rev } else { cur };
        for r in &mut responses {
            match r {
                OpResponse::Put(p) => p.revision = revision,
                OpResponse::Delete(d) => d.revision = revision,
                OpResponse::Range(g) => g.revision = revision,
            }
        }
        if wrote {
            self.snaps.push(local);
        }
        Ok(TxnResponse {
            revision,
            succeeded,
            responses,
        })
    }
}

// ---------------------------------------------------------------------------
// Driving the store.

fn cmp_of(c: &Cmp, operand: CompareTarget) -> Compare {
    Compare {
        range: c.range.key_range(),
        op: CMP_OPS[c.op],
        target: operand,
    }
}

fn range_request(spec: &RangeSpec, current: u64) -> RangeRequest {
    let mut req = RangeRequest::new(spec.range.key_range())
        .revision(spec.rev.resolve(current))
        .limit(spec.limit as u64);
    if spec.count_only {
        req = req.count_only();
    }
    if spec.keys_only {
        req = req.keys_only();
    }
    req
}

fn op_of(op: &TOp, current: u64) -> Op {
    match op {
        TOp::Put {
            key,
            value,
            prev_kv,
        } => {
            let mut req = PutRequest::new(KEYS[*key], value.bytes());
            if *prev_kv {
                req = req.prev_kv();
            }
            Op::Put(req)
        }
        TOp::Delete { range, prev_kv } => {
            let mut req = DeleteRequest::new(range.key_range());
            if *prev_kv {
                req = req.prev_kv();
            }
            Op::Delete(req)
        }
        TOp::Range(spec) => Op::Range(range_request(spec, current)),
    }
}

fn check<T: PartialEq + fmt::Debug>(actual: revkv::Result<T>, expected: Outcome<T>, ctx: &str) {
    match (actual, expected) {
        (Ok(a), Ok(e)) => assert_eq!(a, e, "{ctx}: response"),
        (Err(a), Err(es)) => assert!(
            es.iter().any(|e| e.matches(&a)),
            "{ctx}: error {a:?}, expected one of {es:?}"
        ),
        (Ok(a), Err(es)) => panic!("{ctx}: got {a:?}, expected an error among {es:?}"),
        (Err(a), Ok(e)) => panic!("{ctx}: got error {a:?}, expected {e:?}"),
    }
}

/// The current revision and the whole current state agree.
fn check_current(db: &Db, model: &Model, ctx: &str) {
    assert_eq!(
        db.current_revision(),
        model.current(),
        "{ctx}: current revision"
    );
    let all = db
        .range(RangeRequest::new(KeyRange::all()))
        .unwrap_or_else(|e| panic!("{ctx}: range all: {e}"));
    let want: Vec<KeyValue> = model.state().values().cloned().collect();
    assert_eq!(all.kvs, want, "{ctx}: state");
    assert_eq!(
        (all.count, all.more, all.revision),
        (want.len() as u64, false, model.current())
    );
    let stats = db.stats().unwrap_or_else(|e| panic!("{ctx}: stats: {e}"));
    assert_eq!(stats.live_keys, want.len() as u64, "{ctx}: live keys");
    assert_eq!(stats.revision, model.current(), "{ctx}: stats revision");
    assert_eq!(
        db.compact_revision(),
        model.compacted,
        "{ctx}: compaction revision"
    );
    assert_eq!(
        stats.compact_revision, model.compacted,
        "{ctx}: stats compaction"
    );
}

/// Every past revision agrees; the compacted ones fail to read.
fn check_history(db: &Db, model: &Model, ctx: &str) {
    for rev in 1..model.compacted {
        let got = db.range(RangeRequest::new(KeyRange::all()).revision(rev));
        assert!(
            matches!(got, Err(Error::Compacted { compact_revision }) if compact_revision == model.compacted),
            "{ctx}: read at compacted revision {rev}: {got:?}"
        );
    }
    for rev in model.compacted.max(1)..=model.current() {
        let got = db
            .range(RangeRequest::new(KeyRange::all()).revision(rev))
            .unwrap_or_else(|e| panic!("{ctx}: range at {rev}: {e}"));
        let want: Vec<KeyValue> = model.snaps[rev as usize].values().cloned().collect();
        assert_eq!(got.kvs, want, "{ctx}: state at revision {rev}");
    }
    let future = model.current() + 1;
    assert!(
        matches!(db.get_at("a", future), Err(Error::FutureRevision { requested, current })
            if requested == future && current == model.current()),
        "{ctx}: read at the future revision {future}"
    );
}

#[derive(Debug, Clone, Copy)]
struct Config {
    sync: SyncPolicy,
    compress: bool,
}

impl Config {
    fn options(&self) -> Options {
        let options = Options::default().segment_size(4096).sync(self.sync);
        if self.compress {
            options.compression(Compression::Zstd {
                threshold: 256,
                level: 1,
            })
        } else {
            options.compression(Compression::None)
        }
    }
}

/// A fresh directory, in memory (/dev/shm) where there is one: this test
/// is about semantics, not durability, and fsync there costs nothing.
fn scratch_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("revkv-model")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// Runs `steps` against a fresh store and the model, comparing after each.
/// Returns the model, for tests that look at it.
fn run(config: Config, steps: &[Step]) -> Model {
    let dir = scratch_dir();
    let options = config.options();
    let mut db = Db::open(dir.path(), options.clone()).expect("open");
    let mut model = Model::new();
    for (i, step) in steps.iter().enumerate() {
        let ctx = format!("step {i} ({step:?}) at revision {}", model.current());
        let cur = model.current();
        match step {
            Step::Put {
                key,
                value,
                prev_kv,
            } => {
                let op = TOp::Put {
                    key: *key,
                    value: *value,
                    prev_kv: *prev_kv,
                };
                let want = model
                    .txn(
                        &TxnSpec {
                            success: vec![op.clone()],
                            ..TxnSpec::default()
                        },
                        &[],
                    )
                    .map(|mut r| match r.responses.pop() {
                        Some(OpResponse::Put(p)) => p,
                        other => panic!("model: {other:?}"),
                    });
                let Op::Put(req) = op_of(&op, cur) else {
                    unreachable!()
                };
                check(db.put_with(req), want, &ctx);
            }
            Step::Delete { range, prev_kv } => {
                let op = TOp::Delete {
                    range: range.clone(),
                    prev_kv: *prev_kv,
                };
                let want = model
                    .txn(
                        &TxnSpec {
                            success: vec![op.clone()],
                            ..TxnSpec::default()
                        },
                        &[],
                    )
                    .map(|mut r| match r.responses.pop() {
                        Some(OpResponse::Delete(d)) => d,
                        other => panic!("model: {other:?}"),
                    });
                let Op::Delete(req) = op_of(&op, cur) else {
                    unreachable!()
                };
                check(db.delete_range(req), want, &ctx);
            }
            Step::Txn(t) => {
                let operands: Vec<CompareTarget> =
                    t.compares.iter().map(|c| model.operand(c)).collect();
                let txn = Txn::new()
                    .when(
                        t.compares
                            .iter()
                            .zip(&operands)
                            .map(|(c, o)| cmp_of(c, o.clone())),
                    )
                    .and_then(t.success.iter().map(|op| op_of(op, cur)))
                    .or_else(t.failure.iter().map(|op| op_of(op, cur)));
                let ctx = format!("{ctx} as {txn:?}");
                let want = model.txn(t, &operands);
                check(db.txn(txn), want, &ctx);
            }
            Step::Range(spec) => {
                check(db.range(range_request(spec, cur)), model.range(spec), &ctx);
            }
            Step::Get { key, rev } => {
                check(
                    db.get_at(KEYS[*key], rev.resolve(cur)),
                    model.get(*key, *rev),
                    &ctx,
                );
            }
            Step::Reopen => {
                db.close().unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
                assert!(
                    matches!(db.get("a"), Err(Error::Closed)),
                    "{ctx}: read after close"
                );
                drop(db);
                db = Db::open(dir.path(), options.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                check_history(&db, &model, &ctx);
            }
            Step::Compact { rev, physical } => {
                let rev = rev.resolve(cur);
                let want = model.compact(rev);
                let got = if *physical {
                    db.compact_physical(rev)
                } else {
                    db.compact(rev)
                };
                check(got, want, &ctx);
                if *physical {
                    check_history(&db, &model, &ctx);
                }
            }
            Step::Drop => {
                drop(db);
                db = Db::open(dir.path(), options.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: open after drop: {e}"));
                check_history(&db, &model, &ctx);
            }
        }
        check_current(&db, &model, &ctx);
    }
    check_history(&db, &model, "at the end");
    db.close().expect("close");
    let db = Db::open(dir.path(), options).expect("final reopen");
    check_current(&db, &model, "after the final reopen");
    check_history(&db, &model, "after the final reopen");
    model
}

// ---------------------------------------------------------------------------
// Strategies.

fn key() -> impl Strategy<Value = usize> {
    0..KEYS.len()
}

fn value() -> impl Strategy<Value = V> {
    prop_oneof![
        12 => (0u8..5).prop_map(V::Small),
        1 => Just(V::Empty),
        4 => (0u8..3).prop_map(V::Big),
    ]
}

fn range() -> impl Strategy<Value = R> {
    let n = BOUNDS.len();
    prop_oneof![
        4 => key().prop_map(R::Key),
        2 => prop::sample::select(&PREFIXES[..]).prop_map(R::Prefix),
        // Mostly valid intervals; now and then one whose end sorts first.
        3 => (0..n, 0..n, 0u8..12).prop_map(|(a, b, f)| {
            if f == 0 { R::Between(a, b) } else { R::Between(a.min(b), a.max(b)) }
        }),
        1 => (0..n).prop_map(R::From),
        1 => Just(R::All),
    ]
}

fn rev() -> impl Strategy<Value = Rev> {
    prop_oneof![
        4 => Just(Rev::Current),
        4 => any::<u8>().prop_map(Rev::Past),
        1 => (0u8..3).prop_map(Rev::Future),
    ]
}

/// Where to compact: mostly a past revision (which fails when it is not
/// above the last compaction), sometimes 0 or the future (which fail).
fn compact_rev() -> impl Strategy<Value = Rev> {
    prop_oneof![
        1 => Just(Rev::Current),
        6 => any::<u8>().prop_map(Rev::Past),
        1 => (0u8..3).prop_map(Rev::Future),
    ]
}

fn range_spec() -> impl Strategy<Value = RangeSpec> {
    (
        range(),
        rev(),
        0u8..4,
        prop::bool::weighted(0.15),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(range, rev, limit, count_only, keys_only)| RangeSpec {
            range,
            rev,
            limit,
            count_only,
            keys_only,
        })
}

fn rev_operand() -> impl Strategy<Value = RevOperand> {
    prop_oneof![
        3 => (-1i8..=1).prop_map(RevOperand::OfKey),
        1 => any::<u8>().prop_map(RevOperand::Abs),
    ]
}

fn compare() -> impl Strategy<Value = Cmp> {
    let target = prop_oneof![
        2 => value().prop_map(Target::Value),
        2 => (0u8..4).prop_map(Target::Version),
        1 => rev_operand().prop_map(Target::Create),
        2 => rev_operand().prop_map(Target::Mod),
        1 => prop_oneof![Just(0i64), Just(1i64)].prop_map(Target::Lease),
    ];
    let cmp_range = prop_oneof![3 => key().prop_map(R::Key), 1 => range()];
    (cmp_range, 0..CMP_OPS.len(), target).prop_map(|(range, op, target)| Cmp { range, op, target })
}

fn txn_op() -> impl Strategy<Value = TOp> {
    prop_oneof![
        4 => (key(), value(), any::<bool>()).prop_map(|(key, value, prev_kv)| TOp::Put { key, value, prev_kv }),
        2 => (range(), any::<bool>()).prop_map(|(range, prev_kv)| TOp::Delete { range, prev_kv }),
        2 => range_spec().prop_map(TOp::Range),
    ]
}

/// A branch; unless `allow_dup`, puts that would write a key twice are
/// dropped so that most transactions run.
fn branch() -> impl Strategy<Value = Vec<TOp>> {
    (
        prop::collection::vec(txn_op(), 0..5),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(ops, allow_dup)| {
            if allow_dup {
                return ops;
            }
            let deletes: Vec<R> = ops
                .iter()
                .filter_map(|op| match op {
                    TOp::Delete { range, .. } => Some(range.clone()),
                    _ => None,
                })
                .collect();
            let mut seen = Vec::new();
            ops.into_iter()
                .filter(|op| match op {
                    TOp::Put { key, .. } => {
                        let ok = !seen.contains(key)
                            && !deletes.iter().any(|d| d.contains(KEYS[*key].as_bytes()));
                        seen.push(*key);
                        ok
                    }
                    _ => true,
                })
                .collect()
        })
}

fn txn_spec() -> impl Strategy<Value = TxnSpec> {
    (prop::collection::vec(compare(), 0..3), branch(), branch()).prop_map(
        |(compares, success, failure)| TxnSpec {
            compares,
            success,
            failure,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (key(), value(), prop::bool::weighted(0.3)).prop_map(|(key, value, prev_kv)| Step::Put { key, value, prev_kv }),
        2 => (range(), any::<bool>()).prop_map(|(range, prev_kv)| Step::Delete { range, prev_kv }),
        5 => txn_spec().prop_map(Step::Txn),
        3 => range_spec().prop_map(Step::Range),
        2 => (key(), rev()).prop_map(|(key, rev)| Step::Get { key, rev }),
        1 => Just(Step::Reopen),
        1 => Just(Step::Drop),
        2 => (compact_rev(), prop::bool::weighted(0.3)).prop_map(|(rev, physical)| Step::Compact { rev, physical }),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let sync = prop_oneof![
        8 => Just(SyncPolicy::Never),
        1 => Just(SyncPolicy::Always),
        1 => Just(SyncPolicy::Interval(Duration::from_millis(2))),
    ];
    (sync, any::<bool>()).prop_map(|(sync, compress)| Config { sync, compress })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Failing cases are saved in tests/model.proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn store_matches_the_model(config in config(), steps in prop::collection::vec(step(), 1..60)) {
        run(config, &steps);
    }
}

// ---------------------------------------------------------------------------
// The model on its own, against hand-computed answers.

fn kv(key: &str, value: &str, create: u64, modified: u64, version: u64) -> KeyValue {
    KeyValue {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        create_revision: create,
        mod_revision: modified,
        version,
        lease: 0,
    }
}

fn put(key: usize, n: u8) -> TOp {
    TOp::Put {
        key,
        value: V::Small(n),
        prev_kv: true,
    }
}

fn single(op: TOp) -> TxnSpec {
    TxnSpec {
        success: vec![op],
        ..TxnSpec::default()
    }
}

const NEVER: Config = Config {
    sync: SyncPolicy::Never,
    compress: false,
};

#[test]
fn model_by_hand_generations_and_deletes() {
    let mut m = Model::new();
    // rev 1: a=v1; rev 2: a/1=v2; rev 3: a=v3 (version 2, created at 1).
    let r = m.txn(&single(put(0, 1)), &[]).expect("put");
    assert_eq!((r.revision, r.succeeded), (1, true));
    m.txn(&single(put(1, 2)), &[]).expect("put");
    let r = m.txn(&single(put(0, 3)), &[]).expect("put");
    assert_eq!(
        r.responses,
        vec![OpResponse::Put(PutResponse {
            revision: 3,
            prev_kv: Some(kv("a", "v1", 1, 1, 1)),
        })]
    );
    assert_eq!(m.state().get(&b"a"[..]), Some(&kv("a", "v3", 1, 3, 2)));
    // rev 4: delete prefix "a" takes a and a/1, in key order.
    let del = TOp::Delete {
        range: R::Prefix("a"),
        prev_kv: true,
    };
    let r = m.txn(&single(del.clone()), &[]).expect("delete");
    assert_eq!(
        r.responses,
        vec![OpResponse::Delete(DeleteResponse {
            revision: 4,
            deleted: 2,
            prev_kvs: vec![kv("a", "v3", 1, 3, 2), kv("a/1", "v2", 2, 2, 1)],
        })]
    );
    assert!(m.state().is_empty());
    // Deleting nothing consumes no revision.
    let r = m.txn(&single(del), &[]).expect("delete nothing");
    assert_eq!(r.revision, 4);
    assert_eq!(m.current(), 4);
    // rev 5: a new generation of a starts at version 1.
    m.txn(&single(put(0, 9)), &[]).expect("put");
    assert_eq!(m.state().get(&b"a"[..]), Some(&kv("a", "v9", 5, 5, 1)));
    // Past revisions read as they were; the future is an error.
    let spec = |rev| RangeSpec {
        range: R::All,
        rev,
        limit: 0,
        count_only: false,
        keys_only: false,
    };
    let at3 = m.range(&spec(Rev::Past(2))).expect("range at 3");
    assert_eq!(
        at3.kvs,
        vec![kv("a", "v3", 1, 3, 2), kv("a/1", "v2", 2, 2, 1)]
    );
    assert_eq!(at3.revision, 5, "a range answers with the current revision");
    assert_eq!(
        m.range(&spec(Rev::Future(0))),
        Err(vec![Expected::FutureRevision {
            requested: 6,
            current: 5
        }])
    );
    assert_eq!(m.get(0, Rev::Past(1)), Ok(None), "a was deleted at 4");

    // The same sequence on a store gives the same answers.
    let steps = vec![
        Step::Put {
            key: 0,
            value: V::Small(1),
            prev_kv: true,
        },
        Step::Put {
            key: 1,
            value: V::Small(2),
            prev_kv: true,
        },
        Step::Put {
            key: 0,
            value: V::Small(3),
            prev_kv: true,
        },
        Step::Delete {
            range: R::Prefix("a"),
            prev_kv: true,
        },
        Step::Delete {
            range: R::Prefix("a"),
            prev_kv: true,
        },
        Step::Put {
            key: 0,
            value: V::Small(9),
            prev_kv: true,
        },
        Step::Range(spec(Rev::Past(2))),
        Step::Range(spec(Rev::Future(0))),
        Step::Get {
            key: 0,
            rev: Rev::Past(1),
        },
    ];
    assert_eq!(run(NEVER, &steps).current(), 5);
}

#[test]
fn model_by_hand_transactions() {
    let mut m = Model::new();
    m.txn(&single(put(4, 1)), &[]).expect("put b"); // rev 1
                                                    // Compare b's version == 1: holds; success puts a, reads it back at
                                                    // revision 0 (its own write), deletes b.
    let t = TxnSpec {
        compares: vec![Cmp {
            range: R::Key(4),
            op: 0,
            target: Target::Version(1),
        }],
        success: vec![
            put(0, 2),
            TOp::Range(RangeSpec {
                range: R::Prefix(""),
                rev: Rev::Current,
                limit: 1,
                count_only: false,
                keys_only: true,
            }),
            TOp::Delete {
                range: R::Key(4),
                prev_kv: false,
            },
        ],
        failure: vec![],
    };
    let ops = [m.operand(&t.compares[0])];
    assert_eq!(ops[0], CompareTarget::Version(1));
    let r = m.txn(&t, &ops).expect("txn");
    assert_eq!(
        r,
        TxnResponse {
            revision: 2,
            succeeded: true,
            responses: vec![
                OpResponse::Put(PutResponse {
                    revision: 2,
                    prev_kv: None
                }),
                OpResponse::Range(RangeResponse {
                    revision: 2,
                    kvs: vec![kv("a", "", 2, 2, 1)],
                    count: 2,
                    more: true,
                }),
                OpResponse::Delete(DeleteResponse {
                    revision: 2,
                    deleted: 1,
                    prev_kvs: vec![],
                }),
            ],
        }
    );
    // Same compare again: b is gone, so it compares as version 0 and the
    // failure branch (empty) runs: no write, no revision.
    let r = m.txn(&t, &ops).expect("txn");
    assert_eq!((r.revision, r.succeeded, r.responses.len()), (2, false, 0));
    // A value compare on an absent key is false, even with !=.
    let ne = Cmp {
        range: R::Key(4),
        op: 1,
        target: Target::Value(V::Small(7)),
    };
    let t2 = TxnSpec {
        compares: vec![ne],
        success: vec![put(5, 1)],
        failure: vec![put(5, 2)],
    };
    let ops2 = [m.operand(&t2.compares[0])];
    let r = m.txn(&t2, &ops2).expect("txn");
    assert_eq!((r.revision, r.succeeded), (3, false));
    assert_eq!(
        m.state().get(&b"b/1"[..]).map(|kv| kv.value.clone()),
        Some(b"v2".to_vec())
    );
    // Writing a key twice in a branch is refused before anything runs,
    // even in the branch that would not run.
    let dup = TxnSpec {
        compares: vec![],
        success: vec![],
        failure: vec![
            put(1, 1),
            TOp::Delete {
                range: R::Prefix("a/"),
                prev_kv: false,
            },
        ],
    };
    assert_eq!(
        m.txn(&dup, &[]),
        Err(vec![Expected::DuplicateKey(b"a/1".to_vec())])
    );
    // A read at a future revision inside a transaction fails it whole.
    let future = TxnSpec {
        compares: vec![],
        success: vec![
            put(2, 1),
            TOp::Range(RangeSpec {
                range: R::All,
                rev: Rev::Future(0),
                limit: 0,
                count_only: false,
                keys_only: false,
            }),
        ],
        failure: vec![],
    };
    assert_eq!(
        m.txn(&future, &[]),
        Err(vec![Expected::FutureRevision {
            requested: 4,
            current: 3
        }])
    );
    assert_eq!(m.current(), 3);

    let steps = vec![
        Step::Put {
            key: 4,
            value: V::Small(1),
            prev_kv: false,
        },
        Step::Txn(t.clone()),
        Step::Txn(t),
        Step::Txn(t2),
        Step::Reopen,
        Step::Txn(dup),
        Step::Txn(future),
        Step::Drop,
    ];
    assert_eq!(run(NEVER, &steps).current(), 3);
}
