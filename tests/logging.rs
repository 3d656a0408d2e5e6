//! What revkv reports through the `log` facade: an error a background
//! thread meets (here the compactor's), and the decisions recovery takes
//! (a torn tail cut, a checkpoint discarded, an interrupted compaction
//! finished). A test logger captures every record of this test binary; each
//! test looks only at the records that name its own data directory.

use log::{Level, LevelFilter, Log, Metadata, Record};
use revkv::{Db, Error, Options, SyncPolicy};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, Once};
use test_support::files;

/// Every record logged in this process: (level, message).
static RECORDS: Mutex<Vec<(Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        RECORDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((record.level(), record.args().to_string()));
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture;

fn install_logger() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        log::set_logger(&CAPTURE).expect("no other logger in this test binary");
        log::set_max_level(LevelFilter::Trace);
    });
}

/// The messages logged at `level` that name `dir`.
fn logged(dir: &Path, level: Level) -> Vec<String> {
    let dir = dir.display().to_string();
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(l, m)| *l == level && m.contains(&dir))
        .map(|(_, m)| m.clone())
        .collect()
}

fn options() -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync(SyncPolicy::Never)
}

fn churn(db: &Db, i: &mut u32) {
    db.put("churn", format!("value-{i:05}-{}", "x".repeat(100)))
        .expect("put");
    *i += 1;
}

#[test]
fn a_failed_background_compaction_is_logged_and_returned_typed() {
    install_logger();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    // Overwrite one key until three segments are sealed: they hold garbage.
    let mut i = 0;
    while files::segments(dir.path()).len() < 4 {
        churn(&db, &mut i);
    }
    let target = db.current_revision();
    // Once more up to a roll: the active segment then holds nothing at or
    // below the target, so the compaction does not roll it.
    let sealed = files::segments(dir.path()).len();
    while files::segments(dir.path()).len() == sealed {
        churn(&db, &mut i);
    }
    let last = format!("value-{:05}-{}", i - 1, "x".repeat(100)).into_bytes();
    // The rewrite's first output segment takes the next segment id; a
    // directory in its place makes creating it fail, as an I/O error.
    let next_id = files::segments(dir.path())
        .iter()
        .filter_map(|p| {
            files::file_name(p)
                .strip_suffix(".seg")?
                .parse::<u64>()
                .ok()
        })
        .max()
        .expect("segments")
        + 1;
    let blocker = dir.path().join(format!("{next_id:020}.seg"));
    std::fs::create_dir(&blocker).expect("mkdir");

    let err = db
        .compact_physical(target)
        .expect_err("the rewrite cannot create its output segment");
    let Error::Compaction { cause } = &err else {
        panic!("expected a compaction error, got {err:?}");
    };
    let Error::Io { context, path, .. } = &**cause else {
        panic!("expected the typed I/O error, got {cause:?}");
    };
    assert_eq!(context, "create");
    assert_eq!(path.as_deref(), Some(blocker.as_path()));
    let source = std::error::Error::source(&err).expect("the cause is the source");
    assert_eq!(source.to_string(), cause.to_string());
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );

    // The compactor thread logged it, naming the store and the file.
    let errors = logged(dir.path(), Level::Error);
    assert!(
        errors
            .iter()
            .any(|m| m.contains("compaction failed") && m.contains(&blocker.display().to_string())),
        "{errors:?}"
    );
    // The old segments stay in force: reads at and above the target go on.
    assert_eq!(db.get("churn").expect("get").expect("live").value, last);
    assert!(db.get_at("churn", target).expect("get").is_some());

    // Reopened without the obstacle, the store finishes the compaction
    // before it is served, and says so.
    std::fs::remove_dir(&blocker).expect("rmdir");
    db.close().expect("close");
    let db = Db::open(dir.path(), options()).expect("reopen");
    let infos = logged(dir.path(), Level::Info);
    let finished = format!("finished the compaction at revision {target}");
    assert!(
        infos.iter().any(|m| m.contains(&finished)),
        "{finished:?} not in {infos:?}"
    );
    assert_eq!(db.get("churn").expect("get").expect("live").value, last);
    assert!(db.verify().expect("verify").is_ok());
    db.close().expect("close");
}

#[test]
fn recovery_logs_a_torn_tail_and_a_discarded_checkpoint() {
    install_logger();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::open(dir.path(), options()).expect("open");
    for i in 0..20u32 {
        db.put(format!("k{i}"), format!("v{i}")).expect("put");
    }
    db.close().expect("close");
    // A write torn by a crash after the last frame...
    let active = files::active_segment(dir.path());
    std::fs::OpenOptions::new()
        .append(true)
        .open(&active)
        .and_then(|mut f| f.write_all(b"half a frame"))
        .expect("append garbage");
    // ...and a key-index checkpoint cut short.
    let keyindex = dir.path().join("KEYINDEX");
    let len = std::fs::metadata(&keyindex).expect("a checkpoint").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&keyindex)
        .and_then(|f| f.set_len(len / 2))
        .expect("cut the checkpoint");
    assert!(logged(dir.path(), Level::Warn).is_empty());

    let db = Db::open(dir.path(), options()).expect("reopen");
    let warnings = logged(dir.path(), Level::Warn);
    assert!(
        warnings.iter().any(|m| m.contains("torn tail truncated")
            && m.contains("12 bytes")
            && m.contains(&active.display().to_string())),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("key-index checkpoint discarded (it does not decode")),
        "{warnings:?}"
    );
    assert_eq!(
        db.current_revision(),
        21,
        "20 writes on a store that starts at 1"
    );
    assert_eq!(db.get("k19").expect("get").expect("kept").value, b"v19");
    db.close().expect("close");
}
