//! Core benchmarks of revkv: durable puts (one thread, eight threads sharing
//! group commits, 1000-put transactions) against the raw `fdatasync` limit of
//! the disk, and random point and range reads over a 1M-key store.
//!
//! Keys are 24 random bytes and values 150 random bytes, from a splitmix64
//! generator with fixed seeds so that every run writes the same data.
//!
//! Every store and the raw-fdatasync file live in temporary directories under
//! cargo's `CARGO_TARGET_TMPDIR` (`target/tmp`), so all the figures are taken
//! on one filesystem. Set `REVKV_BENCH_DIR` to measure another one.
//!
//! Run with `cargo bench --bench core`; see `benches/RESULTS.md`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use revkv::{Db, Op, Options, RangeRequest, SyncPolicy, Txn};
use std::cell::OnceCell;
use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 150;
/// Bytes appended per raw fdatasync: about one put's frame.
const RAW_APPEND: usize = 200;
const THREADS: u64 = 8;
const TXN_PUTS: usize = 1000;
const LOADED_KEYS: usize = 1_000_000;
const RANGE_LEN: usize = 10;

/// splitmix64: a tiny, deterministic generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.fill(&mut v);
        v
    }

    fn key(&mut self) -> Vec<u8> {
        self.bytes(KEY_LEN)
    }

    fn value(&mut self) -> Vec<u8> {
        self.bytes(VALUE_LEN)
    }

    /// A number in `0..n` (n is far below 2^32, so the bias is negligible).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Where the temporary directories go: `REVKV_BENCH_DIR`, else `target/tmp`.
fn bench_root() -> PathBuf {
    let root = std::env::var_os("REVKV_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&root).expect("create the benchmark directory");
    root
}

fn temp_dir() -> TempDir {
    tempfile::tempdir_in(bench_root()).expect("tempdir")
}

fn open(dir: &TempDir, sync: SyncPolicy) -> Db {
    Db::open(dir.path().join("db"), Options::new().sync(sync)).expect("open the store")
}

/// The disk's limit: append ~200 bytes and fdatasync, one after the other.
fn raw_fdatasync(c: &mut Criterion) {
    let dir = temp_dir();
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw.log"))
        .expect("create the raw file");
    let mut rng = Rng::new(1);
    let buf = rng.bytes(RAW_APPEND);
    let mut group = c.benchmark_group("durable");
    group.throughput(Throughput::Elements(1));
    group.bench_function("raw_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&buf).expect("append");
            file.sync_data().expect("fdatasync");
        })
    });
    group.finish();
}

/// One put per commit, `SyncPolicy::Always`, from one thread.
fn put_durable_1thread(c: &mut Criterion) {
    let dir = temp_dir();
    let db = open(&dir, SyncPolicy::Always);
    let mut rng = Rng::new(2);
    let mut group = c.benchmark_group("durable");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_durable_1thread", |b| {
        b.iter(|| black_box(db.put(rng.key(), rng.value()).expect("put")))
    });
    group.finish();
    db.close().expect("close");
}

/// Eight threads putting at once under `SyncPolicy::Always`: `iters` puts
/// spread over the threads, timed from a common start until the last one
/// returns. One element = one put, so the elem/s figure is directly
/// comparable with `put_durable_1thread`.
fn put_durable_8threads(c: &mut Criterion) {
    let dir = temp_dir();
    let db = Arc::new(open(&dir, SyncPolicy::Always));
    let mut round = 0u64;
    let mut group = c.benchmark_group("durable");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_durable_8threads", |b| {
        b.iter_custom(|iters| {
            round += 1;
            let start = Barrier::new(THREADS as usize + 1);
            std::thread::scope(|s| {
                for t in 0..THREADS {
                    let n = iters / THREADS + u64::from(t < iters % THREADS);
                    let db = Arc::clone(&db);
                    let start = &start;
                    let mut rng = Rng::new(round << 8 | (t + 16));
                    s.spawn(move || {
                        start.wait();
                        for _ in 0..n {
                            black_box(db.put(rng.key(), rng.value()).expect("put"));
                        }
                    });
                }
                start.wait();
                let began = Instant::now();
                // Leaving the scope joins every thread.
                began
            })
            .elapsed()
        })
    });
    group.finish();
    db.close().expect("close");
}

/// One transaction of 1000 puts per commit, `SyncPolicy::Always`. The
/// transaction is built outside the timed section; one element = one put.
fn txn_batch_1000(c: &mut Criterion) {
    let dir = temp_dir();
    let db = open(&dir, SyncPolicy::Always);
    let mut rng = Rng::new(3);
    let mut group = c.benchmark_group("durable");
    group.throughput(Throughput::Elements(TXN_PUTS as u64));
    group.bench_function("txn_batch_1000", |b| {
        b.iter_batched(
            || Txn::new().and_then((0..TXN_PUTS).map(|_| Op::put(rng.key(), rng.value()))),
            |txn| black_box(db.txn(txn).expect("txn")),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    db.close().expect("close");
}

/// A store holding 1M keys, loaded in transactions of 1000 puts with
/// `SyncPolicy::Never`, and its keys in key order.
struct Loaded {
    db: Db,
    keys: Vec<Vec<u8>>,
    _dir: TempDir,
}

fn load_1m() -> Loaded {
    let dir = temp_dir();
    let db = open(&dir, SyncPolicy::Never);
    let mut rng = Rng::new(4);
    let mut keys = Vec::with_capacity(LOADED_KEYS);
    let began = Instant::now();
    for _ in 0..LOADED_KEYS / TXN_PUTS {
        let batch: Vec<Vec<u8>> = (0..TXN_PUTS).map(|_| rng.key()).collect();
        let ops = batch.iter().map(|k| Op::put(k.clone(), rng.value()));
        db.txn(Txn::new().and_then(ops)).expect("load txn");
        keys.extend(batch);
    }
    eprintln!(
        "loaded {LOADED_KEYS} keys in txns of {TXN_PUTS} (SyncPolicy::Never) in {:.2?}",
        began.elapsed()
    );
    keys.sort_unstable();
    keys.dedup();
    Loaded {
        db,
        keys,
        _dir: dir,
    }
}

/// The same 1M keys' shape, but each key written by its own transaction (one
/// put per commit, from 4 threads, `SyncPolicy::Never`). Only for
/// `get_random_1m_1put_txns`, which isolates how much of a get's cost comes
/// from the size of the transaction frame that holds the key.
fn load_1m_single_puts() -> Loaded {
    const LOADERS: u64 = 4;
    let dir = temp_dir();
    let db = open(&dir, SyncPolicy::Never);
    let began = Instant::now();
    let mut keys: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..LOADERS)
            .map(|t| {
                let db = &db;
                s.spawn(move || {
                    let mut rng = Rng::new(100 + t);
                    let n = LOADED_KEYS / LOADERS as usize;
                    let mut keys = Vec::with_capacity(n);
                    for _ in 0..n {
                        let key = rng.key();
                        db.put(key.clone(), rng.value()).expect("load put");
                        keys.push(key);
                    }
                    keys
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("loader thread"))
            .collect()
    });
    eprintln!(
        "loaded {LOADED_KEYS} keys one put per txn (SyncPolicy::Never) in {:.2?}",
        began.elapsed()
    );
    keys.sort_unstable();
    keys.dedup();
    Loaded {
        db,
        keys,
        _dir: dir,
    }
}

/// Random gets and 10-key ranges over one 1M-key store, loaded once (and only
/// when one of the two benchmarks is selected) and dropped afterwards.
fn reads_1m(c: &mut Criterion) {
    let store: OnceCell<Loaded> = OnceCell::new();
    let mut group = c.benchmark_group("read_1m");
    group.throughput(Throughput::Elements(1));
    let mut rng = Rng::new(5);
    group.bench_function("get_random_1m", |b| {
        let s = store.get_or_init(load_1m);
        b.iter(|| {
            let key = &s.keys[rng.below(s.keys.len())];
            let kv = s.db.get(key).expect("get").expect("key present");
            black_box(kv)
        })
    });
    // Exactly RANGE_LEN consecutive keys: [keys[i], keys[i + RANGE_LEN]).
    group.bench_function("range_10", |b| {
        let s = store.get_or_init(load_1m);
        b.iter(|| {
            let i = rng.below(s.keys.len() - RANGE_LEN);
            let req = RangeRequest::range(s.keys[i].clone(), s.keys[i + RANGE_LEN].clone())
                .limit(RANGE_LEN as u64);
            let resp = s.db.range(req).expect("range");
            debug_assert_eq!(resp.kvs.len(), RANGE_LEN);
            black_box(resp)
        })
    });
    group.finish();
    if let Some(s) = store.into_inner() {
        s.db.close().expect("close");
    }
}

/// Diagnostic: `get_random_1m` again, on a store whose keys were each written
/// by a one-put transaction, so that a get reads a ~250-byte frame instead of
/// the ~190 KB frame of a 1000-put transaction.
fn reads_1m_single_puts(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_1m");
    group.throughput(Throughput::Elements(1));
    let store: OnceCell<Loaded> = OnceCell::new();
    let mut rng = Rng::new(6);
    group.bench_function("get_random_1m_1put_txns", |b| {
        let s = store.get_or_init(load_1m_single_puts);
        b.iter(|| {
            let key = &s.keys[rng.below(s.keys.len())];
            let kv = s.db.get(key).expect("get").expect("key present");
            black_box(kv)
        })
    });
    group.finish();
    if let Some(s) = store.into_inner() {
        s.db.close().expect("close");
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = durable;
    config = config();
    targets = raw_fdatasync, put_durable_1thread, put_durable_8threads, txn_batch_1000
}
criterion_group! {
    name = reads;
    config = config();
    targets = reads_1m, reads_1m_single_puts
}
criterion_main!(durable, reads);
