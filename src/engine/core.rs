//! The core every thread of an open store shares ([`Shared`]): directory,
//! options, published state, MANIFEST and its install, poison, watch hub,
//! lease table, counters, and the wait for the writer's reply.

use crate::error::{Counter, Error, Result};
use crate::format::manifest::Manifest;
use crate::lease::LeaseTable;
use crate::options::Options;
use crate::state::State;
use crate::storage::checkpoint::Mark;
use crate::storage::files::write_manifest;
use crate::watch::Hub;
use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a caller polls for the writer's reply, yielding the CPU between
/// polls, before it sleeps on it. A sleeping caller costs a thread wake-up
/// to answer; on the 2-vCPU VM of benches/compare/RESULTS.md that left 8
/// writers returning too slowly to share fdatasyncs (groups of ~5 of 8).
/// 300 µs is about one to two small fdatasyncs there; longer polls measured
/// no better.
const REPLY_POLL: Duration = Duration::from_micros(300);

/// What every thread of an open store shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    /// Sharded so that readers on different threads lock different cache
    /// lines: with a plain `RwLock` every get moved its one reader count
    /// between cores (two threads' gets on a store that fits in cache:
    /// 7.2M/s with it, 9.1M/s sharded).
    state: ShardedLock<State>,
    /// The failure that poisoned the store for writes, if one did.
    poison: Mutex<Option<Arc<Error>>>,
    pub(crate) hub: Arc<Hub>,
    /// The MANIFEST as last installed; every install goes through it.
    manifest: Mutex<Manifest>,
    /// Held while a compaction is scheduled, so two never interleave.
    compaction: Mutex<()>,
    /// Held for the whole of a compaction rewrite.
    rewrite: Mutex<()>,
    /// Set when the writer thread has stopped.
    writer_done: AtomicBool,
    /// fdatasyncs of the active segment by the writer ([`Stats::data_syncs`](crate::Stats::data_syncs)).
    pub(crate) data_syncs: AtomicU64,
    /// Live leases; changed by the writer after each commit.
    leases: Mutex<LeaseTable>,
    /// What the key-index checkpoint on disk reflects, when known to be
    /// current: a close with nothing new to record writes none.
    checkpoint_mark: Mutex<Option<Mark>>,
}

impl Shared {
    /// The core of a store just recovered: `state`, `leases` and `manifest`
    /// as recovery left them, `checkpoint` what the checkpoint on disk
    /// reflects (when known to be current).
    pub(crate) fn new(
        dir: PathBuf,
        options: Options,
        state: State,
        hub: Arc<Hub>,
        manifest: Manifest,
        leases: LeaseTable,
        checkpoint: Option<Mark>,
    ) -> Shared {
        Shared {
            dir,
            options,
            state: ShardedLock::new(state),
            poison: Mutex::new(None),
            hub,
            manifest: Mutex::new(manifest),
            compaction: Mutex::new(()),
            rewrite: Mutex::new(()),
            writer_done: AtomicBool::new(false),
            data_syncs: AtomicU64::new(0),
            leases: Mutex::new(leases),
            checkpoint_mark: Mutex::new(checkpoint),
        }
    }

    /// The published state, for reading. A panic elsewhere never makes this
    /// fail: the state is only changed by whole assignments under the lock.
    pub(crate) fn read_state(&self) -> ShardedLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The published state, for the writer to publish into.
    pub(crate) fn write_state(&self) -> ShardedLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The lease table.
    pub(crate) fn lock_leases(&self) -> std::sync::MutexGuard<'_, LeaseTable> {
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Held by a compaction rewrite from start to end.
    pub(crate) fn rewrite_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.rewrite.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serializes compaction scheduling.
    pub(crate) fn compaction_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.compaction.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the MANIFEST as last installed.
    pub(crate) fn manifest(&self) -> Manifest {
        self.manifest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes a fresh segment id (recorded in the next MANIFEST installed).
    pub(crate) fn allocate_segment_id(&self) -> Result<u64> {
        let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        let id = m.next_segment_id;
        if id >= crate::format::MAX_COUNTER {
            return Err(Error::Exhausted {
                counter: Counter::SegmentId,
            });
        }
        m.next_segment_id += 1;
        Ok(id)
    }

    /// Changes the MANIFEST and installs it atomically; the in-memory copy
    /// changes only if the install succeeded.
    pub(crate) fn update_manifest(&self, change: impl FnOnce(&mut Manifest)) -> Result<()> {
        let mut m = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = m.clone();
        change(&mut next);
        write_manifest(&self.dir, &next)?;
        *m = next;
        Ok(())
    }

    /// Marks the store as failed for writes because of `cause`, and logs it
    /// the first time. Returns `cause`, shared, for the replies that report
    /// it.
    pub(crate) fn poison(&self, cause: Error) -> Arc<Error> {
        let cause = Arc::new(cause);
        let mut p = self.poison.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            log::error!(
                "revkv {}: writes are refused from now on (reopen to recover): {cause}",
                self.dir.display()
            );
            *p = Some(Arc::clone(&cause));
        }
        cause
    }

    /// Waits for the writer's reply to a request: polls for it for
    /// [`REPLY_POLL`], then sleeps on it. A request that reached the
    /// queue after the writer stopped is never answered: once the writer
    /// has stopped and no reply is there, this returns `Closed` instead of
    /// waiting forever.
    pub(crate) fn await_reply<T>(&self, answer: &Receiver<Result<T>>) -> Result<T> {
        let poll_until = Instant::now() + REPLY_POLL;
        while Instant::now() < poll_until {
            match answer.try_recv() {
                Ok(r) => return r,
                Err(TryRecvError::Disconnected) => return Err(Error::Closed),
                Err(TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
        loop {
            match answer.recv_timeout(Duration::from_millis(50)) {
                Ok(r) => return r,
                Err(RecvTimeoutError::Disconnected) => return Err(Error::Closed),
                Err(RecvTimeoutError::Timeout) => {
                    if self.writer_done.load(Ordering::Acquire) {
                        return answer.try_recv().unwrap_or(Err(Error::Closed));
                    }
                }
            }
        }
    }

    /// Marks the writer as stopped: nothing queued from now on is answered.
    pub(crate) fn set_writer_done(&self) {
        self.writer_done.store(true, Ordering::Release);
    }

    /// What the key-index checkpoint on disk reflects, when known.
    pub(crate) fn lock_checkpoint_mark(&self) -> std::sync::MutexGuard<'_, Option<Mark>> {
        self.checkpoint_mark
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Why writes are refused, if they are.
    pub(crate) fn poisoned(&self) -> Option<Arc<Error>> {
        self.poison
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
