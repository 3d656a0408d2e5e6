//! Watch benchmarks (issue 3), as criterion means. Percentiles, the
//! `SyncPolicy::Always` variants and slow readers that sleep are in
//! `benches/measure.rs` (a custom harness); see `benches/RESULTS.md`.
//!
//! - `watch/put_to_last_recv/N`: one put of a key that N watchers watch, each
//!   watcher a thread blocked in `recv`; one iteration lasts from just
//!   before `put` until the last watcher has received the event.
//! - `watch/catch_up_100k`: a watch of every key from revision 1 over a store
//!   of 100k single-put revisions, read to the end; one element = one event.
//! - `watch/put_no_watchers` and `watch/put_1000_stalled_watchers`: one put
//!   from one thread, with no watcher or with 1000 watchers of the key that
//!   never read (their buffers fill and they fall back to catching up).
//!
//! All with `SyncPolicy::Never`, so that the disk does not hide the cost of
//! watching. Keys are 24 random bytes and values 150 random bytes
//! (splitmix64, fixed seeds). Stores live under `CARGO_TARGET_TMPDIR`
//! (`target/tmp`) or `REVKV_BENCH_DIR`.
//!
//! Run with `cargo bench --bench watch`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use revkv::{Db, KeyRange, Options, SyncPolicy, WatchRequest};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 150;
const CATCH_UP_REVISIONS: usize = 100_000;

/// splitmix64, as in `benches/core.rs`.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        for chunk in v.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        v
    }
}

fn temp_dir() -> TempDir {
    let root = std::env::var_os("REVKV_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&root).expect("create the benchmark directory");
    tempfile::tempdir_in(root).expect("tempdir")
}

fn open(dir: &TempDir) -> Db {
    Db::open(
        dir.path().join("db"),
        Options::new().sync(SyncPolicy::Never),
    )
    .expect("open the store")
}

fn put_to_last_recv(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch");
    group.throughput(Throughput::Elements(1));
    for watchers in [1usize, 100, 1000] {
        let dir = temp_dir();
        let db = open(&dir);
        let key = b"/watched/key".to_vec();
        let (ack_tx, ack_rx) = mpsc::channel::<Instant>();
        let handles: Vec<_> = (0..watchers)
            .map(|_| {
                let w = db.watch(WatchRequest::key(key.clone())).expect("watch");
                let tx = ack_tx.clone();
                thread::Builder::new()
                    .stack_size(128 << 10)
                    .spawn(move || {
                        while let Some(resp) = w.recv() {
                            let at = Instant::now();
                            for _ in &resp.events {
                                let _ = tx.send(at);
                            }
                        }
                    })
                    .expect("spawn watcher")
            })
            .collect();
        drop(ack_tx);
        let mut rng = Rng(11);
        group.bench_with_input(
            BenchmarkId::new("put_to_last_recv", watchers),
            &watchers,
            |b, &n| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (k, v) = (key.clone(), rng.bytes(VALUE_LEN));
                        let t0 = Instant::now();
                        black_box(db.put(k, v).expect("put"));
                        let mut last = t0;
                        for _ in 0..n {
                            last = last.max(ack_rx.recv().expect("ack"));
                        }
                        total += last - t0;
                    }
                    total
                })
            },
        );
        db.close().expect("close");
        for h in handles {
            h.join().expect("watcher thread");
        }
    }
    group.finish();
}

fn catch_up_100k(c: &mut Criterion) {
    let dir = temp_dir();
    let db = open(&dir);
    let mut rng = Rng(21);
    let keys: Vec<Vec<u8>> = (0..10_000).map(|_| rng.bytes(KEY_LEN)).collect();
    // 100k single-put revisions from 4 threads (group commit makes the load
    // quick); each of the 10k keys is written 10 times.
    thread::scope(|s| {
        for t in 0..4 {
            let (db, keys) = (&db, &keys);
            s.spawn(move || {
                let mut rng = Rng(22 + t as u64);
                for i in (t..CATCH_UP_REVISIONS).step_by(4) {
                    db.put(keys[i % keys.len()].clone(), rng.bytes(VALUE_LEN))
                        .expect("load put");
                }
            });
        }
    });
    let total = db.current_revision() as usize;
    let mut group = c.benchmark_group("watch");
    group.throughput(Throughput::Elements(total as u64));
    group.bench_function("catch_up_100k", |b| {
        b.iter(|| {
            let w = db
                .watch(WatchRequest::new(KeyRange::all()).start_revision(1))
                .expect("watch");
            let mut events = 0;
            while events < total {
                events += w.recv().expect("catch-up response").events.len();
            }
            black_box(events)
        })
    });
    group.finish();
    db.close().expect("close");
}

fn put_with_stalled_watchers(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch");
    group.throughput(Throughput::Elements(1));
    for (name, watchers) in [
        ("put_no_watchers", 0usize),
        ("put_1000_stalled_watchers", 1000),
    ] {
        let dir = temp_dir();
        let db = open(&dir);
        let held: Vec<_> = (0..watchers)
            .map(|_| db.watch(WatchRequest::prefix("/s/")).expect("watch"))
            .collect();
        let mut rng = Rng(31);
        let keys: Vec<Vec<u8>> = (0..1000)
            .map(|_| {
                let mut k = b"/s/".to_vec();
                k.extend(rng.bytes(KEY_LEN - 3));
                k
            })
            .collect();
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                black_box(
                    db.put(keys[i % keys.len()].clone(), rng.bytes(VALUE_LEN))
                        .expect("put"),
                )
            })
        });
        drop(held);
        db.close().expect("close");
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = watch;
    config = config();
    targets = put_to_last_recv, catch_up_100k, put_with_stalled_watchers
}
criterion_main!(watch);
