//! Finding and opening the store a command works on.
//!
//! Commands that write (`put`, `del`, `txn`, `lease grant`) create a missing
//! store. The others never create the data directory: on a missing or
//! empty one they run against an empty store made for the occasion in a
//! temporary directory, removed afterwards, so they answer exactly as an
//! empty store does (as etcd answers a read of an empty keyspace) and a
//! mistyped `--dir` leaves nothing behind.

use crate::error::{Failure, EXIT_FAILED};
use revkv::{Db, Options};
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The data directory used when neither `--dir` nor `$REVKV_DIR` is given.
pub const DEFAULT_DIR: &str = "default.revkv";

/// How long opening waits for the expiry of leases that are already due.
const SETTLE_LIMIT: Duration = Duration::from_secs(2);

/// The data directory: `--dir`, else `$REVKV_DIR` when set and not empty,
/// else `./default.revkv`.
pub fn data_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| {
        std::env::var_os("REVKV_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

/// What a command does with a missing store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Create it (commands that write).
    Create,
    /// Answer as an empty store, without creating it (commands that read).
    AnswerEmpty,
}

/// An open store: the data directory's, or an empty one in a temporary
/// directory that is removed when this is dropped.
pub struct Store {
    // Declared first so that it is dropped (and closed) before the
    // temporary directory is removed.
    db: Db,
    _scratch: Option<Scratch>,
}

impl Deref for Store {
    type Target = Db;

    fn deref(&self) -> &Db {
        &self.db
    }
}

impl Store {
    /// Closes the store (and removes the temporary one).
    pub fn close(self) -> Result<(), Failure> {
        self.db.close()?;
        Ok(())
    }
}

/// A temporary directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens the store in `dir`, then lets the expiry thread revoke the leases
/// whose deadline has passed, so the command sees the store as of now.
pub fn open(dir: &Path, missing: Missing) -> Result<Store, Failure> {
    if missing == Missing::AnswerEmpty && holds_nothing(dir) {
        return open_empty();
    }
    let create = missing == Missing::Create;
    let db = Db::open(dir, Options::default().create_if_missing(create))?;
    settle_leases(&db)?;
    Ok(Store { db, _scratch: None })
}

/// True when `dir` does not exist or is an empty directory: no store yet,
/// which a read answers as an empty store. Anything else (a store, other
/// files, a directory that cannot be read) is left to [`Db::open`].
fn holds_nothing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// An empty store in a new temporary directory.
fn open_empty() -> Result<Store, Failure> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path = std::env::temp_dir().join(format!("revkv-empty-{}-{nanos}", std::process::id()));
    let scratch = Scratch(path);
    let db = Db::open(&scratch.0, Options::default().create_if_missing(true)).map_err(|e| {
        Failure::new(
            EXIT_FAILED,
            format!("open an empty store in {}: {e}", scratch.0.display()),
        )
    })?;
    Ok(Store {
        db,
        _scratch: Some(scratch),
    })
}

/// Fails unless `dir` is a directory (for `verify`, which checks a store
/// and has nothing to check in a missing one).
pub fn require_store(dir: &Path) -> Result<(), Failure> {
    if dir.is_dir() {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_FAILED,
        format!(
            "no revkv store at {} (a write creates one; use --dir or REVKV_DIR \
             for another directory)",
            dir.display()
        ),
    ))
}

/// Waits (at most [`SETTLE_LIMIT`]) until no live lease is past its
/// deadline. The store revokes due leases on its own expiry thread, right
/// after open but not before it returns; a command that ran at once would
/// still see the keys of a lease that expired while nothing had the store
/// open.
fn settle_leases(db: &Db) -> Result<(), Failure> {
    let give_up = Instant::now() + SETTLE_LIMIT;
    loop {
        let mut due = false;
        for id in db.leases()? {
            match db.lease_time_to_live(id, false) {
                Ok(t) if t.ttl == 0 => {
                    due = true;
                    break;
                }
                Ok(_) | Err(revkv::Error::LeaseNotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !due || Instant::now() >= give_up {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
