//! [`Db`]: open/close and every public entry point. Thin: reads go to the
//! published [`State`](crate::state::State), writes to the writer thread.

use crate::engine::catch_up::run_catch_up;
use crate::engine::compactor;
use crate::engine::core::Shared;
use crate::engine::expiry::run_expiry;
use crate::engine::protocol::{Reply, Request};
use crate::engine::recovery::recover;
use crate::engine::verify::VerifyReport;
use crate::engine::writer::thread::WriterThread;
use crate::engine::writer::{commit_inline, SharedWriter, Writer};
use crate::error::{Error, Result};
use crate::evaluate::{evaluate, Overlay};
use crate::export::ExportItem;
use crate::lease::{remaining_secs, LeaseGrantResponse, LeaseTimeToLive};
use crate::options::Options;
use crate::storage::lock::DirLock;
use crate::txn::{check_put, check_range, check_txn, check_watch_range, Limits, Txn, TxnResponse};
use crate::types::{
    DeleteRequest, DeleteResponse, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse,
    Stats,
};
use crate::watch::{Hub, WatchRequest, Watcher};
use crossbeam_channel::{bounded, Sender};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// An open store. `Send + Sync`: share it between threads (e.g. in an `Arc`)
/// and call it from all of them at once.
///
/// ```
/// # fn main() -> revkv::Result<()> {
/// # let dir = tempfile::tempdir().expect("tempdir");
/// use revkv::{Db, Options};
/// let db = Db::open(dir.path(), Options::default())?;
/// let rev = db.put("greeting", "hello")?.revision;
/// assert_eq!(db.get("greeting")?.map(|kv| kv.value), Some(b"hello".to_vec()));
/// db.delete("greeting")?;
/// assert_eq!(db.get_at("greeting", rev)?.map(|kv| kv.version), Some(1));
/// db.close()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Db {
    shared: Arc<Shared>,
    tx: Sender<Request>,
    /// The writer's committing half, for callers that commit inline.
    writer: SharedWriter,
    compact_tx: Sender<compactor::Msg>,
    expiry_stop: Sender<()>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    lock: Mutex<Option<DirLock>>,
    closed: AtomicBool,
}

impl Db {
    /// Opens (creating if allowed) the store in directory `path`. Returns only
    /// after recovery has rebuilt the full key index. Fails with
    /// [`Error::Locked`] at once if another `Db` has the directory open, and
    /// with [`Error::StoreNotFound`] when the directory holds no store and
    /// [`Options::create_if_missing`] is off.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let dir = path.as_ref().to_path_buf();
        if options.create_if_missing {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io_at("create directory", &dir, e))?;
        } else if !dir.is_dir() || !dir.join(crate::storage::files::MANIFEST).exists() {
            return Err(Error::StoreNotFound { path: dir });
        }
        let lock = DirLock::acquire(&dir)?;
        let recovered = recover(&dir, options.create_if_missing, options.segment_size)?;
        let file = Arc::clone(&recovered.state.revs.active.file);
        let (tx, rx) = bounded(options.max_group_requests * 4);
        let (hub, woken) = Hub::new(recovered.state.current);
        let shared = Arc::new(Shared::new(
            dir,
            options,
            recovered.state,
            Arc::new(hub),
            recovered.manifest,
            recovered.leases,
            recovered.checkpoint,
        ));
        // An interrupted compaction is finished before the store is served
        // (and the checkpoint it made stale replaced).
        if compactor::rewrite_pending(&shared)? {
            log::info!(
                "revkv {}: finished the compaction at revision {}, left unfinished \
                 when the store was last open (a crash or a failed rewrite)",
                shared.dir.display(),
                shared.manifest().compact_finished
            );
            shared.write_checkpoint()?;
        }
        let writer: SharedWriter = Arc::new(Mutex::new(Writer::new(
            Arc::clone(&shared),
            file,
            recovered.active_len,
        )));
        let writer_thread = WriterThread::new(Arc::clone(&writer), rx);
        let (compact_tx, compact_rx) = bounded(64);
        let (expiry_stop, expiry_stopped) = bounded(1);
        let mut threads = Vec::new();
        let catch_up = Arc::clone(&shared);
        let compaction = Arc::clone(&shared);
        let expiry = Arc::clone(&shared);
        let expiry_tx = tx.clone();
        let compact_writer = tx.clone();
        let spawned = spawn("revkv-writer", move || writer_thread.run(), &mut threads)
            .and_then(|()| {
                spawn(
                    "revkv-watch",
                    move || run_catch_up(catch_up, woken),
                    &mut threads,
                )
            })
            .and_then(|()| {
                spawn(
                    "revkv-compactor",
                    move || compactor::run(compaction, compact_rx, compact_writer),
                    &mut threads,
                )
            })
            .and_then(|()| {
                spawn(
                    "revkv-lease-expiry",
                    move || run_expiry(expiry, expiry_tx, expiry_stopped),
                    &mut threads,
                )
            });
        let db = Db {
            shared,
            tx,
            writer,
            compact_tx,
            expiry_stop,
            threads: Mutex::new(threads),
            lock: Mutex::new(Some(lock)),
            closed: AtomicBool::new(false),
        };
        spawned?; // on failure, dropping `db` stops what did start
        Ok(db)
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.shared.dir
    }

    fn limits(&self) -> Limits {
        Limits {
            max_key: self.shared.options.max_key_size,
            max_value: self.shared.options.max_value_size,
        }
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// Puts `value` at `key`.
    pub fn put(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<PutResponse> {
        self.put_with(PutRequest::new(key, value))
    }

    /// Puts with options (lease, previous key-value).
    pub fn put_with(&self, req: PutRequest) -> Result<PutResponse> {
        self.check_open()?;
        check_put(&req, self.limits())?;
        self.request(|reply| Request::Put { req, reply })
    }

    /// Deletes `key`.
    pub fn delete(&self, key: impl Into<Vec<u8>>) -> Result<DeleteResponse> {
        self.delete_range(DeleteRequest::key(key))
    }

    /// Deletes a key or range of keys.
    pub fn delete_range(&self, req: DeleteRequest) -> Result<DeleteResponse> {
        self.check_open()?;
        check_range(&req.range, self.limits())?;
        self.request(|reply| Request::Delete { req, reply })
    }

    /// The current value of `key`.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<KeyValue>> {
        self.get_at(key, 0)
    }

    /// The value of `key` at `revision` (0 = current).
    pub fn get_at(&self, key: impl AsRef<[u8]>, revision: u64) -> Result<Option<KeyValue>> {
        self.check_open()?;
        let key = key.as_ref();
        crate::txn::check_key(key, self.limits())?;
        let state = self.shared.read_state();
        let at = state.resolve(revision)?;
        state.get_at(key, at)
    }

    /// Reads a key or range at a revision.
    pub fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.check_open()?;
        check_range(&req.range, self.limits())?;
        self.shared.read_state().range(&req)
    }

    /// Sends the writer the request `make` builds around a reply channel and
    /// waits for the answer; refused at once on a poisoned store.
    fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T> {
        if let Some(cause) = self.shared.poisoned() {
            return Err(Error::Poisoned { cause });
        }
        let (reply, answer) = bounded(1);
        self.submit(make(reply))?;
        self.shared.await_reply(&answer)
    }

    /// Hands a request to the writer: committed right here when the writer
    /// is idle and nobody else is writing, else queued for the writer thread.
    fn submit(&self, req: Request) -> Result<()> {
        match commit_inline(&self.writer, &self.tx, req) {
            None => Ok(()),
            Some(req) => self.tx.send(req).map_err(|_| Error::Closed),
        }
    }

    /// Runs a transaction. One that writes gets exactly one new revision;
    /// one that writes nothing (including one whose branch only deletes
    /// absent keys) consumes none.
    pub fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.check_open()?;
        check_txn(&txn, self.limits())?;
        if !txn.may_write() {
            let state = self.shared.read_state();
            let empty = Overlay::new();
            let ev = evaluate(&state, &empty, txn, state.current + 1, &|_| false)?;
            return Ok(ev.response);
        }
        self.request(|reply| Request::Txn { txn, reply })
    }

    /// Starts a watch. A range that holds no key (its end not after its
    /// start) is refused with [`Error::EmptyWatchRange`], as etcd refuses it.
    /// A start revision below the compaction point fails at
    /// once with [`Error::Compacted`]; at or above it, every event from the
    /// start revision on is delivered, in order, each once, whole revisions
    /// at a time.
    pub fn watch(&self, req: WatchRequest) -> Result<Watcher> {
        self.check_open()?;
        check_watch_range(&req.range, self.limits())?;
        let compacted = self.shared.read_state().compacted;
        self.shared.hub.register(req, compacted)
    }

    /// Asks every watcher for a progress notification: each gets a response
    /// with `progress_notify` set whose revision R means every event up to R
    /// has been delivered to it.
    pub fn request_progress(&self) {
        self.shared.hub.request_progress(None);
    }

    /// Compacts the history at `revision`: from the moment this returns,
    /// reads and watches below it fail with [`Error::Compacted`]; at and
    /// above it nothing changes. The space is reclaimed in the background
    /// ([`Db::compact_physical`] waits for that). Fails if `revision` is at
    /// or below the compaction point or above the current revision.
    pub fn compact(&self, revision: u64) -> Result<()> {
        self.check_open()?;
        compactor::schedule(&self.shared, revision)?;
        let _ = self.compact_tx.try_send(compactor::Msg::Wake);
        Ok(())
    }

    /// Like [`Db::compact`], and returns only once the old segments have
    /// been rewritten and removed.
    pub fn compact_physical(&self, revision: u64) -> Result<()> {
        self.check_open()?;
        compactor::schedule(&self.shared, revision)?;
        let (reply, done) = bounded(1);
        self.compact_tx
            .send(compactor::Msg::Wait(reply))
            .map_err(|_| Error::Closed)?;
        done.recv().map_err(|_| Error::Closed)?
    }

    /// Grants a lease of `ttl` seconds with an id the store picks. The lease
    /// is durable (under the sync policy) when this returns.
    pub fn lease_grant(&self, ttl: i64) -> Result<LeaseGrantResponse> {
        self.lease_grant_with_id(0, ttl)
    }

    /// Grants a lease with a chosen positive id (0 = let the store pick);
    /// [`Error::LeaseExists`] if that id is live.
    pub fn lease_grant_with_id(&self, id: i64, ttl: i64) -> Result<LeaseGrantResponse> {
        if id < 0 {
            return Err(Error::bad_request(format!("lease id {id} is negative")));
        }
        self.check_open()?;
        self.request(|reply| Request::LeaseGrant { id, ttl, reply })
    }

    /// Revokes a lease: deletes every key attached to it in one revision
    /// (returned; the current revision when it had no keys), then forgets it.
    pub fn lease_revoke(&self, id: i64) -> Result<u64> {
        self.check_open()?;
        self.request(|reply| Request::LeaseRevoke { id, reply })
    }

    /// Renews a lease to its full TTL from now; returns that TTL. An expired
    /// lease is not found.
    pub fn lease_keep_alive(&self, id: i64) -> Result<i64> {
        self.check_open()?;
        self.request(|reply| Request::LeaseKeepAlive { id, reply })
    }

    /// A lease's granted and remaining TTL, and its keys when asked for.
    /// A lease that is not live (never granted, revoked, or expired and
    /// revoked) is [`Error::LeaseNotFound`]; etcd's API answers it with TTL
    /// -1 instead, which [`LeaseTimeToLive::not_found`] builds for a layer
    /// that serves that API.
    pub fn lease_time_to_live(&self, id: i64, with_keys: bool) -> Result<LeaseTimeToLive> {
        self.check_open()?;
        let now = self.shared.options.clock.now_ms();
        let table = self.shared.lock_leases();
        let lease = table.leases.get(&id).ok_or(Error::LeaseNotFound { id })?;
        Ok(LeaseTimeToLive {
            id,
            ttl: remaining_secs(lease.deadline_ms, now),
            granted_ttl: lease.ttl,
            keys: if with_keys {
                lease.keys.iter().cloned().collect()
            } else {
                Vec::new()
            },
        })
    }

    /// The ids of every live lease, in increasing order.
    pub fn leases(&self) -> Result<Vec<i64>> {
        self.check_open()?;
        let mut ids: Vec<i64> = self.shared.lock_leases().leases.keys().copied().collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Re-reads every file of the store and reports each problem with its
    /// file and offset: checksums, records, every `.idx` entry against its
    /// segment, the MANIFEST against the directory, and each key's
    /// prev-revision chain. Writes continue meanwhile; it checks what was
    /// published when it started.
    pub fn verify(&self) -> Result<VerifyReport> {
        self.verify_with_progress(&mut |_, _| {})
    }

    /// [`Db::verify`] calling `progress(bytes done, bytes total)` as it reads.
    pub fn verify_with_progress(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<VerifyReport> {
        self.check_open()?;
        crate::engine::verify::verify(&self.shared, &self.tx, progress)
    }

    /// Streams the store into `sink` (see [`ExportItem`] for the order):
    /// with `history`, every retained revision as it was written; without,
    /// the live key-values at the current revision. Writes may continue
    /// meanwhile; the export is of the revision current when it began.
    pub fn export(
        &self,
        history: bool,
        sink: &mut dyn FnMut(ExportItem) -> Result<()>,
    ) -> Result<()> {
        self.check_open()?;
        crate::engine::export::export(&self.shared, history, sink)
    }

    /// Writes one exported item back as it was, revision numbers included:
    /// the restore side of [`Db::export`]. Revisions must come in increasing
    /// order above the current one, except that a store that holds no
    /// record yet takes any first revision from 1 on (so that the export of
    /// a store numbered from 1, as format versions 1 and 2 numbered them,
    /// restores into a new store, which is at revision 1); a `Header` is
    /// accepted only by such an empty store without leases. After the last item, [`Db::compact`] at the header's compact
    /// revision (when not 0 and not above the current revision) gives back
    /// the exported store's read horizon.
    pub fn import(&self, item: ExportItem) -> Result<()> {
        self.check_open()?;
        if let ExportItem::Header { .. } = item {
            let empty = self.shared.read_state().holds_no_record()
                && self.shared.lock_leases().leases.is_empty();
            if !empty {
                return Err(Error::bad_request(
                    "import of a header into a store that is not empty",
                ));
            }
            return Ok(());
        }
        self.request(|reply| Request::Import { item, reply })
    }

    /// The current store revision.
    pub fn current_revision(&self) -> u64 {
        self.shared.read_state().current
    }

    /// The compaction revision (0 when never compacted).
    pub fn compact_revision(&self) -> u64 {
        self.shared.read_state().compacted
    }

    /// Figures about the store.
    pub fn stats(&self) -> Result<Stats> {
        self.check_open()?;
        let state = self.shared.read_state();
        let live_keys = state
            .keys
            .live_in(&crate::types::KeyRange::all(), state.current)
            .count() as u64;
        Ok(Stats {
            revision: state.current,
            compact_revision: state.compacted,
            live_keys,
            indexed_keys: state.keys.key_count() as u64,
            indexed_revisions: state.keys.revision_count() as u64,
            segments: state.revs.segment_count() as u64,
            disk_bytes: state.revs.disk_bytes(),
            data_syncs: self.shared.data_syncs.load(Ordering::Relaxed),
        })
    }

    /// Finishes queued writes, syncs, stops every thread and releases the
    /// directory lock. Later calls return [`Error::Closed`]. Dropping a `Db`
    /// closes it too.
    pub fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = self.expiry_stop.try_send(());
        let _ = self.tx.send(Request::Shutdown);
        let _ = self.compact_tx.send(compactor::Msg::Stop);
        self.shared.hub.close();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let mut panicked = false;
        for t in threads {
            panicked |= t.join().is_err();
        }
        if panicked {
            log::error!(
                "revkv {}: a revkv thread panicked (a bug in revkv); no checkpoint saved",
                self.shared.dir.display()
            );
            return Err(Error::Poisoned {
                cause: Arc::new(Error::Internal {
                    reason: "a revkv thread panicked".into(),
                }),
            });
        }
        // Every write is on disk now: checkpoint the key index, so that the
        // next open reads it instead of the whole log.
        let saved = match self.shared.poisoned() {
            None => self.shared.write_checkpoint().inspect_err(|e| {
                log::warn!(
                    "revkv {}: no key-index checkpoint saved at close (the next open \
                     scans the whole log): {e}",
                    self.shared.dir.display()
                )
            }),
            Some(_) => Ok(()),
        };
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        match self.shared.poisoned() {
            Some(cause) => Err(Error::Poisoned { cause }),
            None => saved,
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn spawn(
    name: &str,
    body: impl FnOnce() + Send + 'static,
    threads: &mut Vec<JoinHandle<()>>,
) -> Result<()> {
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map_err(|e| Error::io(format!("spawn thread {name}"), e))?;
    threads.push(handle);
    Ok(())
}
