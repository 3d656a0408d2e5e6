//! One adapter per engine: each opens its store in its durable mode and
//! offers the handful of operations the workloads need.

use crate::data::{Kv, KEY_LEN};
use std::path::Path;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T> = std::result::Result<T, Error>;

/// Turns any displayable error into ours (some engines' errors are not `Sync`).
fn e<D: std::fmt::Display>(err: D) -> Error {
    err.to_string().into()
}

/// An engine as the workloads use it. Every write method is one durable
/// commit: it returns only once the engine says the data survives a crash.
pub trait Engine: Sized + Sync {
    /// Opens (creating if needed) the store in directory `dir`.
    fn open(dir: &Path) -> Result<Self>;
    /// Writes all `kvs` in one transaction / batch, durably.
    fn write_batch(&self, kvs: &[Kv]) -> Result<()>;
    /// Writes one key in its own durable commit.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes all `keys` in one transaction / batch, durably.
    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()>;
    /// A reader for one thread.
    fn reader(&self) -> Result<Box<dyn Reader + '_>>;
    /// Runs the engine's compaction, if it has one to call; says what it did.
    fn compact(&mut self) -> Result<&'static str>;
    /// Closes the store cleanly.
    fn close(self) -> Result<()>;
}

/// Reads, from one thread.
pub trait Reader {
    /// The length of `key`'s value, if present.
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>>;
    /// How many entries `[start, end)` holds, reading each key and value.
    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize>;
}

/// What the output says about each engine.
pub struct Info {
    pub name: &'static str,
    pub version: &'static str,
    pub durability: &'static str,
    pub concurrency: &'static str,
    pub compaction: &'static str,
}

pub const ENGINES: &[Info] = &[
    Info {
        name: "revkv",
        version: "path ../.. (commit in the header)",
        durability: "`SyncPolicy::Always` (the default: fdatasync before a commit returns); other options default (64 MiB segments, zstd level 1 for frames ≥ 4 KiB)",
        concurrency: "concurrent writers share group commits",
        compaction: "`compact_physical(current_revision())`",
    },
    Info {
        name: "redb",
        version: "4.5.0",
        durability: "`Durability::Immediate` on every write transaction; default cache",
        concurrency: "one write transaction at a time: `begin_write` blocks (redb serializes the 8 threads itself)",
        compaction: "`Database::compact()` until it returns false",
    },
    Info {
        name: "fjall",
        version: "3.1.13",
        durability: "every write is a `WriteBatch` with `durability(Some(PersistMode::SyncData))` (fdatasync of the journal before commit returns); one keyspace, default options",
        concurrency: "thread-safe; batches serialize on the journal writer lock, each syncing under it",
        compaction: "`rotate_memtable_and_wait()` then `major_compact()`",
    },
    Info {
        name: "sled",
        version: "0.34.7",
        durability: "`insert` / `apply_batch` followed by `Db::flush()` before the write counts as done. **Not comparable:** on Linux sled 0.34's flush writes its log with `sync_file_range(WAIT_BEFORE|WRITE|WAIT_AFTER)` (`pagecache/iobuf.rs`), which neither flushes the disk's write cache nor syncs metadata, so it is cheaper than the fdatasync/fsync the others pay and does not survive power loss",
        concurrency: "thread-safe; inserts run concurrently, each thread then calls `flush()`",
        compaction: "none to call (sled reclaims space in the background)",
    },
    Info {
        name: "surrealkv 0.9",
        version: "0.9.3 (log segments + in-memory index)",
        durability: "`Durability::Immediate` on every transaction (`sync_all`, i.e. fsync, before commit returns); default options (versions kept, 512 MiB segments)",
        concurrency: "thread-safe; commits serialize on its commit lock",
        compaction: "`Store::compact()`",
    },
    Info {
        name: "surrealkv 1.x",
        version: "1.2.0 (LSM tree)",
        durability: "`Durability::Immediate` on every transaction (WAL sync before commit returns); default options; commits awaited with `block_on` on a tokio multi-thread runtime",
        concurrency: "thread-safe; concurrent commits go through its commit pipeline",
        compaction: "`compact_range(None, None, default)` (flushes memtables, compacts to the last level)",
    },
    Info {
        name: "rocksdb",
        version: "0.25.0 (librocksdb-sys 0.19, RocksDB 11.8.1; cargo feature `rocksdb`)",
        durability: "`WriteOptions::set_sync(true)` on every write; default options",
        concurrency: "thread-safe; concurrent writers share group commits",
        compaction: "`compact_range(None, None)`",
    },
];

pub fn info(name: &str) -> Option<&'static Info> {
    ENGINES.iter().find(|i| i.name == name)
}

// ---------------------------------------------------------------- revkv

pub struct Revkv {
    db: revkv::Db,
}

impl Engine for Revkv {
    fn open(dir: &Path) -> Result<Self> {
        let options = revkv::Options::new().sync(revkv::SyncPolicy::Always);
        Ok(Revkv {
            db: revkv::Db::open(dir, options).map_err(e)?,
        })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        let ops = kvs
            .iter()
            .map(|(k, v)| revkv::Op::put(k.to_vec(), v.to_vec()));
        self.db.txn(revkv::Txn::new().and_then(ops)).map_err(e)?;
        Ok(())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.put(key, value).map_err(e)?;
        Ok(())
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        let ops = keys.iter().map(|k| revkv::Op::delete(k.to_vec()));
        self.db.txn(revkv::Txn::new().and_then(ops)).map_err(e)?;
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RevkvReader(&self.db)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        let rev = self.db.current_revision();
        self.db.compact_physical(rev).map_err(e)?;
        Ok("compact_physical")
    }

    fn close(self) -> Result<()> {
        self.db.close().map_err(e)
    }
}

struct RevkvReader<'a>(&'a revkv::Db);

impl Reader for RevkvReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get(key).map_err(e)?.map(|kv| kv.value.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let resp = self
            .0
            .range(revkv::RangeRequest::range(start, end).limit(10))
            .map_err(e)?;
        Ok(resp.kvs.iter().filter(|kv| !kv.value.is_empty()).count())
    }
}

// ---------------------------------------------------------------- redb

const REDB_TABLE: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("data");

pub struct Redb {
    db: redb::Database,
}

impl Redb {
    fn write(&self, f: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<()>) -> Result<()> {
        let mut txn = self.db.begin_write().map_err(e)?;
        txn.set_durability(redb::Durability::Immediate).map_err(e)?;
        {
            let mut table = txn.open_table(REDB_TABLE).map_err(e)?;
            f(&mut table)?;
        }
        txn.commit().map_err(e)?;
        Ok(())
    }
}

impl Engine for Redb {
    fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let db = redb::Database::create(dir.join("db.redb")).map_err(e)?;
        let redb = Redb { db };
        // Make sure the table exists, so readers never see it missing.
        redb.write(|_| Ok(()))?;
        Ok(redb)
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        self.write(|t| {
            for (k, v) in kvs {
                t.insert(k.as_slice(), v.as_slice()).map_err(e)?;
            }
            Ok(())
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|t| {
            t.insert(key, value).map_err(e)?;
            Ok(())
        })
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        self.write(|t| {
            for k in keys {
                t.remove(k.as_slice()).map_err(e)?;
            }
            Ok(())
        })
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        use redb::ReadableDatabase;
        let txn = self.db.begin_read().map_err(e)?;
        let table = txn.open_table(REDB_TABLE).map_err(e)?;
        Ok(Box::new(RedbReader { table }))
    }

    fn compact(&mut self) -> Result<&'static str> {
        let mut rounds = 0;
        while self.db.compact().map_err(e)? && rounds < 100 {
            rounds += 1;
        }
        Ok("compact")
    }

    fn close(self) -> Result<()> {
        drop(self.db);
        Ok(())
    }
}

struct RedbReader {
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.table.get(key).map_err(e)?.map(|v| v.value().len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let mut n = 0;
        for item in self.table.range(start..end).map_err(e)? {
            let (k, v) = item.map_err(e)?;
            if !k.value().is_empty() && !v.value().is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------- fjall

pub struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Fjall {
    fn batch(&self) -> fjall::OwnedWriteBatch {
        self.db
            .batch()
            .durability(Some(fjall::PersistMode::SyncData))
    }
}

impl Engine for Fjall {
    fn open(dir: &Path) -> Result<Self> {
        let db = fjall::Database::builder(dir).open().map_err(e)?;
        let ks = db
            .keyspace("data", fjall::KeyspaceCreateOptions::default)
            .map_err(e)?;
        Ok(Fjall { db, ks })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        let mut b = self.batch();
        for (k, v) in kvs {
            b.insert(&self.ks, k.as_slice(), v.as_slice());
        }
        b.commit().map_err(e)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = self.batch();
        b.insert(&self.ks, key, value);
        b.commit().map_err(e)
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        let mut b = self.batch();
        for k in keys {
            b.remove(&self.ks, k.as_slice());
        }
        b.commit().map_err(e)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader(&self.ks)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        self.ks.rotate_memtable_and_wait().map_err(e)?;
        self.ks.major_compact().map_err(e)?;
        Ok("major_compact")
    }

    fn close(self) -> Result<()> {
        self.db.persist(fjall::PersistMode::SyncAll).map_err(e)?;
        drop(self.ks);
        drop(self.db);
        Ok(())
    }
}

struct FjallReader<'a>(&'a fjall::Keyspace);

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get(key).map_err(e)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let mut n = 0;
        for guard in self.0.range(start..end) {
            let (k, v) = guard.into_inner().map_err(e)?;
            if !k.is_empty() && !v.is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------- sled

pub struct Sled {
    db: sled::Db,
}

impl Engine for Sled {
    fn open(dir: &Path) -> Result<Self> {
        Ok(Sled {
            db: sled::open(dir).map_err(e)?,
        })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        let mut b = sled::Batch::default();
        for (k, v) in kvs {
            b.insert(k.as_slice(), v.as_slice());
        }
        self.db.apply_batch(b).map_err(e)?;
        self.db.flush().map_err(e)?;
        Ok(())
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.insert(key, value).map_err(e)?;
        self.db.flush().map_err(e)?;
        Ok(())
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        let mut b = sled::Batch::default();
        for k in keys {
            b.remove(k.as_slice());
        }
        self.db.apply_batch(b).map_err(e)?;
        self.db.flush().map_err(e)?;
        Ok(())
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(SledReader(&self.db)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        Ok("none")
    }

    fn close(self) -> Result<()> {
        self.db.flush().map_err(e)?;
        drop(self.db);
        Ok(())
    }
}

struct SledReader<'a>(&'a sled::Db);

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get(key).map_err(e)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let mut n = 0;
        for item in self.0.range(start..end) {
            let (k, v) = item.map_err(e)?;
            if !k.is_empty() && !v.is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------- surrealkv 0.9

pub struct Surreal09 {
    store: surrealkv09::Store,
}

impl Surreal09 {
    fn write(&self, f: impl FnOnce(&mut surrealkv09::Transaction) -> Result<()>) -> Result<()> {
        let mut txn = self.store.begin().map_err(e)?;
        txn.set_durability(surrealkv09::Durability::Immediate);
        f(&mut txn)?;
        txn.commit().map_err(e)
    }
}

impl Engine for Surreal09 {
    fn open(dir: &Path) -> Result<Self> {
        let mut opts = surrealkv09::Options::new();
        opts.dir = dir.to_path_buf();
        Ok(Surreal09 {
            store: surrealkv09::Store::new(opts).map_err(e)?,
        })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        self.write(|t| {
            for (k, v) in kvs {
                t.set(k, v).map_err(e)?;
            }
            Ok(())
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|t| t.set(key, value).map_err(e))
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        self.write(|t| {
            for k in keys {
                t.delete(k).map_err(e)?;
            }
            Ok(())
        })
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        let txn = self
            .store
            .begin_with_mode(surrealkv09::Mode::ReadOnly)
            .map_err(e)?;
        Ok(Box::new(Surreal09Reader(txn)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        self.store.compact().map_err(e)?;
        Ok("compact")
    }

    fn close(self) -> Result<()> {
        self.store.close().map_err(e)
    }
}

struct Surreal09Reader(surrealkv09::Transaction);

impl Reader for Surreal09Reader {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get(key).map_err(e)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let mut n = 0;
        for item in self.0.scan(start..end, None) {
            let (k, v, _) = item.map_err(e)?;
            if !k.is_empty() && !v.is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------- surrealkv 1.x

pub struct Surreal1 {
    rt: tokio::runtime::Runtime,
    tree: surrealkv::Tree,
}

impl Surreal1 {
    fn write(&self, f: impl FnOnce(&mut surrealkv::Transaction) -> Result<()>) -> Result<()> {
        let mut txn = self.tree.begin().map_err(e)?;
        txn.set_durability(surrealkv::Durability::Immediate);
        f(&mut txn)?;
        self.rt.block_on(txn.commit()).map_err(e)
    }
}

impl Engine for Surreal1 {
    fn open(dir: &Path) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let tree = {
            let _guard = rt.enter();
            surrealkv::TreeBuilder::new()
                .with_path(dir.to_path_buf())
                .build()
                .map_err(e)?
        };
        Ok(Surreal1 { rt, tree })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        self.write(|t| {
            for (k, v) in kvs {
                t.set(k.as_slice(), v.as_slice()).map_err(e)?;
            }
            Ok(())
        })
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write(|t| t.set(key, value).map_err(e))
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        self.write(|t| {
            for k in keys {
                t.delete(k.as_slice()).map_err(e)?;
            }
            Ok(())
        })
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        let txn = self
            .tree
            .begin_with_mode(surrealkv::Mode::ReadOnly)
            .map_err(e)?;
        Ok(Box::new(Surreal1Reader(txn)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        let _guard = self.rt.enter();
        self.tree
            .compact_range(None, None, &surrealkv::CompactRangeOptions::default())
            .map_err(e)?;
        Ok("compact_range")
    }

    fn close(self) -> Result<()> {
        self.rt.block_on(self.tree.close()).map_err(e)?;
        drop(self.tree);
        self.rt.shutdown_timeout(std::time::Duration::from_secs(10));
        Ok(())
    }
}

struct Surreal1Reader(surrealkv::Transaction);

impl Reader for Surreal1Reader {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get(key).map_err(e)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        use surrealkv::LSMIterator;
        let mut it = self.0.range(start, end).map_err(e)?;
        let mut n = 0;
        it.seek_first().map_err(e)?;
        while it.valid() {
            let v = it.value().map_err(e)?;
            if !it.key().user_key().is_empty() && !v.is_empty() {
                n += 1;
            }
            it.next().map_err(e)?;
        }
        Ok(n)
    }
}

// ---------------------------------------------------------------- rocksdb

#[cfg(feature = "rocksdb")]
pub struct Rocks {
    db: rocksdb::DB,
}

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn write(&self, batch: rocksdb::WriteBatch) -> Result<()> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo).map_err(e)
    }
}

#[cfg(feature = "rocksdb")]
impl Engine for Rocks {
    fn open(dir: &Path) -> Result<Self> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        Ok(Rocks {
            db: rocksdb::DB::open(&opts, dir).map_err(e)?,
        })
    }

    fn write_batch(&self, kvs: &[Kv]) -> Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        for (k, v) in kvs {
            b.put(k, v);
        }
        self.write(b)
    }

    fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        b.put(key, value);
        self.write(b)
    }

    fn remove_batch(&self, keys: &[[u8; KEY_LEN]]) -> Result<()> {
        let mut b = rocksdb::WriteBatch::default();
        for k in keys {
            b.delete(k);
        }
        self.write(b)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(RocksReader(&self.db)))
    }

    fn compact(&mut self) -> Result<&'static str> {
        self.db.compact_range(None::<&[u8]>, None::<&[u8]>);
        Ok("compact_range")
    }

    fn close(self) -> Result<()> {
        self.db.flush().map_err(e)?;
        drop(self.db);
        Ok(())
    }
}

#[cfg(feature = "rocksdb")]
struct RocksReader<'a>(&'a rocksdb::DB);

#[cfg(feature = "rocksdb")]
impl Reader for RocksReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.get_pinned(key).map_err(e)?.map(|v| v.len()))
    }

    fn range(&mut self, start: &[u8], end: &[u8]) -> Result<usize> {
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(end.to_vec());
        let it = self.0.iterator_opt(
            rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward),
            ro,
        );
        let mut n = 0;
        for item in it {
            let (k, v) = item.map_err(e)?;
            if !k.is_empty() && !v.is_empty() {
                n += 1;
            }
        }
        Ok(n)
    }
}
