//! Replays the checked-in cargo-fuzz corpus: every file of every
//! `fuzz/corpus/<target>/` directory (seeds and `regress-*` regressions)
//! goes through the same harness function the fuzz target calls, so CI
//! catches a regression without cargo-fuzz or a nightly compiler.
//!
//! `cargo test --test fuzz_corpus -- --nocapture` shows the counts.
//! The seeds were written by `generate_seeds` below:
//! `cargo test --test fuzz_corpus -- --ignored generate_seeds` (the checked-in
//! seeds made of random bytes, `noise` below, were drawn by the generator
//! the tests had before `rand`'s: running it again rewrites those few with
//! other random bytes, which is harmless).

#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use test_support::files;

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    files::list(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect()
}

/// Panics in any thread (revkv's writer, compactor, watch and expiry
/// threads included), counted so that one the harness did not notice still
/// fails the replay.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

#[test]
fn replay_corpus() {
    count_panics();
    let mut total = 0;
    for (target, run) in harness::TARGETS {
        let dir = corpus_root().join(target);
        let files = inputs(&dir);
        assert!(!files.is_empty(), "{} holds no input", dir.display());
        for path in &files {
            let data = std::fs::read(path).expect("read a corpus file");
            let before = PANICS.load(Ordering::SeqCst);
            let outcome = catch_unwind(AssertUnwindSafe(|| run(&data)));
            assert!(
                outcome.is_ok() && PANICS.load(Ordering::SeqCst) == before,
                "{target}: {} fails (replay it with REVKV_FUZZ_TRACE=1 for a trace)",
                path.display()
            );
        }
        println!("{target}: replayed {} inputs", files.len());
        total += files.len();
    }
    println!("fuzz corpus: replayed {total} inputs");
}

#[test]
fn every_corpus_directory_is_a_target() {
    for name in files::names(&corpus_root()) {
        assert!(
            harness::TARGETS.iter().any(|(t, _)| *t == name),
            "fuzz/corpus/{name} is not replayed: no harness target has that name"
        );
    }
}

/// Writes the seed corpus (the `seed-*` files). Run by hand after changing
/// an input format of the harness; the fuzzer's own corpus is not checked in.
#[test]
#[ignore]
fn generate_seeds() {
    seeds::write_all(&corpus_root());
}

mod seeds {
    use revkv::format::checkpoint::{
        CheckpointEncoder, CheckpointHeader, CheckpointLease, CheckpointRev,
    };
    use revkv::format::frame::{encode_frame, FrameKind};
    use revkv::format::idx::{encode_idx, IdxEntry};
    use revkv::format::lease::{encode_lease, LeaseRecord};
    use revkv::format::manifest::{encode_manifest, encode_manifest_as, Manifest};
    use revkv::format::record::{encode_txn_as, OpEncoding, OpKind, RecordOp};
    use revkv::format::segment::encode_segment_header;
    use std::path::Path;

    fn put<'a>(
        sub: u32,
        key: &'a [u8],
        value: &'a [u8],
        create: u64,
        version: u64,
    ) -> RecordOp<'a> {
        RecordOp {
            sub,
            kind: OpKind::Put,
            key,
            value,
            create_revision: create,
            version,
            lease: 0,
            prev_mod_revision: 0,
        }
    }

    fn txn_frame(rev: u64, ops: &[RecordOp<'_>], level: Option<i32>) -> Vec<u8> {
        txn_frame_as(OpEncoding::Compact, rev, ops, level)
    }

    fn txn_frame_as(
        encoding: OpEncoding,
        rev: u64,
        ops: &[RecordOp<'_>],
        level: Option<i32>,
    ) -> Vec<u8> {
        let mut payload = Vec::new();
        encode_txn_as(encoding, rev, ops, &mut payload);
        let mut out = Vec::new();
        encode_frame(FrameKind::Txn, &payload, level, &mut out);
        out
    }

    fn lease_frame(rec: LeaseRecord) -> Vec<u8> {
        let mut payload = Vec::new();
        encode_lease(&rec, &mut payload);
        let mut out = Vec::new();
        encode_frame(FrameKind::of_lease(&rec), &payload, None, &mut out);
        out
    }

    /// Random bytes for the op-sequence seeds, the same for the same seed.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        test_support::Rng::new(seed).bytes(len)
    }

    /// A file as format version 1 wrote it (headers did not change).
    fn as_version_1(mut file: Vec<u8>, crc_at: usize) -> Vec<u8> {
        test_support::set_header_version(&mut file, 1, crc_at);
        file
    }

    fn save(root: &Path, target: &str, name: &str, bytes: &[u8]) {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus directory");
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    }

    pub fn write_all(root: &Path) {
        // decode_frame: frames from the encoders, and the appendix store.
        let mut lease = put(0, b"/svc/a", b"10.0.0.1", 3, 1);
        lease.lease = 7;
        let delete = RecordOp {
            sub: 1,
            kind: OpKind::Delete,
            key: b"/svc/b",
            value: b"",
            create_revision: 0,
            version: 0,
            lease: 0,
            prev_mod_revision: 2,
        };
        let big = vec![b'x'; 6000];
        let frames = [
            (
                "txn-put",
                txn_frame(1, &[put(0, b"foo", b"bar", 1, 1)], None),
            ),
            ("txn-two-ops", txn_frame(3, &[lease, delete], None)),
            (
                "txn-two-ops-v1",
                txn_frame_as(OpEncoding::Fixed, 3, &[lease, delete], None),
            ),
            (
                "txn-zstd",
                txn_frame(9, &[put(0, b"big", &big, 9, 4)], Some(1)),
            ),
            (
                "lease-grant",
                lease_frame(LeaseRecord::Grant {
                    id: 7,
                    ttl: 30,
                    deadline_ms: 1_700_000_030_000,
                }),
            ),
            (
                "lease-keepalive",
                lease_frame(LeaseRecord::KeepAlive {
                    id: 7,
                    deadline_ms: 1_700_000_060_000,
                }),
            ),
            ("lease-revoke", lease_frame(LeaseRecord::Revoke { id: 7 })),
        ];
        let mut run = Vec::new();
        for (name, f) in &frames {
            save(root, "decode_frame", name, f);
            run.extend_from_slice(f);
        }
        save(root, "decode_frame", "frame-run", &run);
        save(
            root,
            "decode_frame",
            "built-txn",
            &[0, 1, 9, 3, 1, 1, b'k', 2, 5, 1, 1, 0, 2],
        );
        save(
            root,
            "decode_frame",
            "built-lease",
            &[2, 2, 7, 0, 2, 30, 3, 200],
        );

        // decode_manifest: MANIFESTs and a segment header.
        let manifests = [
            (
                "manifest-new-store",
                Manifest {
                    segments: vec![1],
                    next_segment_id: 2,
                    initial_revision: 1,
                    ..Manifest::default()
                },
            ),
            (
                "manifest-appendix",
                Manifest {
                    segments: vec![1, 2],
                    next_segment_id: 3,
                    initial_revision: 1,
                    ..Manifest::default()
                },
            ),
            (
                "manifest-compacted",
                Manifest {
                    segments: vec![7, 4, 9],
                    next_segment_id: 12,
                    compact_scheduled: 1502,
                    compact_finished: 1400,
                    initial_revision: 0,
                },
            ),
        ];
        for (name, m) in &manifests {
            save(root, "decode_manifest", name, &encode_manifest(m));
        }
        // Versions 1 and 2 have no initial revision field.
        for version in [1, 2] {
            save(
                root,
                "decode_manifest",
                &format!("manifest-v{version}"),
                &encode_manifest_as(version, &manifests[1].1),
            );
        }
        save(
            root,
            "decode_manifest",
            "segment-header",
            &encode_segment_header(1),
        );
        save(
            root,
            "decode_manifest",
            "segment-header-v1",
            &as_version_1(encode_segment_header(1).to_vec(), 24),
        );
        save(
            root,
            "decode_manifest",
            "built",
            &[3, 1, 1, 2, 5, 2, 9, 2, 3],
        );

        // decode_idx: index files.
        let entries = [
            IdxEntry {
                revision: 1,
                offset: 32,
                len: 77,
            },
            IdxEntry {
                revision: 2,
                offset: 109,
                len: 74,
            },
        ];
        save(root, "decode_idx", "idx-appendix", &encode_idx(1, &entries));
        save(
            root,
            "decode_idx",
            "idx-appendix-v1",
            &as_version_1(encode_idx(1, &entries), 24),
        );
        save(root, "decode_idx", "idx-empty", &encode_idx(4, &[]));
        save(root, "decode_idx", "built", &noise(3, 96));

        // decode_checkpoint: KEYINDEX files.
        let header = CheckpointHeader {
            segments: vec![1, 3],
            revision: 9,
            compact_scheduled: 4,
            compact_finished: 4,
            end: 4096,
            key_count: 2,
            leases: vec![CheckpointLease {
                id: 5,
                ttl: 60,
                deadline_ms: 1_700_000_000_000,
            }],
        };
        let mut enc = CheckpointEncoder::new(&header);
        let rev = |main, sub, tombstone| CheckpointRev {
            main,
            sub,
            tombstone,
        };
        enc.key(b"a", 5, &[rev(2, 0, false), rev(7, 1, true)]);
        enc.key(b"b", 0, &[rev(9, 0, false)]);
        save(root, "decode_checkpoint", "two-keys", &enc.finish());
        let empty = CheckpointHeader {
            segments: vec![1],
            key_count: 0,
            ..header
        };
        save(
            root,
            "decode_checkpoint",
            "empty",
            &CheckpointEncoder::new(&empty).finish(),
        );
        save(root, "decode_checkpoint", "built", &noise(5, 160));

        // open_dir: inputs in the harness's image language (see
        // fuzz/harness/store.rs for the order in which bytes are read).
        let put_a = [3, 100, 5, 0, 0, 1, 3, 4, b'A', 1]; // txn: put "a"
        let put_b_lease = [3, 100, 5, 0, 1, 1, 0, 1, 6, b'B', 1]; // txn: put "b" on lease 2
        let delete_a = [3, 100, 5, 0, 0, 0, 1]; // txn: delete "a"
        let grant = [1, 2, 0, 3, 1, 4]; // lease 2, ttl 30, deadline NOW+5s
        let expired = [1, 2, 0, 3, 1, 1]; // lease 2, deadline NOW-1
        let image = |manifest: u8, segs: &[&[&[u8]]], tail: &[u8]| {
            let mut v = vec![manifest, segs.len() as u8 - 1];
            for (i, frames) in segs.iter().enumerate() {
                v.extend([2, frames.len() as u8]);
                frames.iter().for_each(|f| v.extend_from_slice(f));
                v.push(7); // no damage
                if i + 1 < segs.len() {
                    v.push(2); // a correct .idx
                }
            }
            v.extend_from_slice(tail);
            v
        };
        save(root, "open_dir", "new-store", &[0, 0, 2, 0, 7]);
        save(
            root,
            "open_dir",
            "one-segment",
            &image(2, &[&[&put_a, &grant, &put_b_lease]], &[0, 1]),
        );
        save(
            root,
            "open_dir",
            "two-segments-compacted",
            &image(
                2,
                &[&[&put_a, &put_b_lease, &grant], &[&delete_a, &put_a]],
                &[1, 3, 1],
            ),
        );
        save(
            root,
            "open_dir",
            "compaction-pending",
            &image(2, &[&[&put_a, &put_a, &delete_a], &[&put_a]], &[2, 3, 0, 1]),
        );
        save(
            root,
            "open_dir",
            "expired-lease",
            &image(2, &[&[&expired, &put_b_lease, &put_a]], &[0, 1]),
        );
        let mut torn = image(2, &[&[&put_a, &put_b_lease]], &[0, 1]);
        let at = torn.len() - 3;
        torn[at] = 1; // truncate the last segment somewhere
        torn.insert(at + 1, 180); // inside the last frame
        save(root, "open_dir", "torn-tail", &torn);
        save(
            root,
            "open_dir",
            "strays",
            &image(6, &[&[&put_a]], &[0, 1, 4, 1, 2, 3, 4, 0, 0, 0]),
        );

        // ops_model and api_misuse: any bytes are an operation sequence.
        for (i, len) in [24, 64, 160, 400].into_iter().enumerate() {
            save(
                root,
                "ops_model",
                &format!("ops-{len}"),
                &noise(10 + i as u64, len),
            );
            save(
                root,
                "api_misuse",
                &format!("ops-{len}"),
                &noise(20 + i as u64, len),
            );
        }
    }
}
