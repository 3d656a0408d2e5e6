//! The writer's request protocol: what callers send the writer, each request
//! with a reply channel of its own type, and how a reply is held until its
//! group is durable.

use super::core::Shared;
use crate::error::{Error, Result};
use crate::export::ExportItem;
use crate::lease::LeaseGrantResponse;
use crate::txn::{Txn, TxnResponse};
use crate::types::{DeleteRequest, DeleteResponse, PutRequest, PutResponse};
use crossbeam_channel::Sender;
use std::sync::Arc;

/// Where the writer sends its answer to one request.
pub(crate) type Reply<T> = Sender<Result<T>>;

/// What callers send the writer.
pub(crate) enum Request {
    /// A transaction that may write.
    Txn { txn: Txn, reply: Reply<TxnResponse> },
    /// A lone put (a transaction of that one op).
    Put {
        req: PutRequest,
        reply: Reply<PutResponse>,
    },
    /// A lone delete (a transaction of that one op).
    Delete {
        req: DeleteRequest,
        reply: Reply<DeleteResponse>,
    },
    /// Grant a lease; id 0 lets the writer choose one.
    LeaseGrant {
        id: i64,
        ttl: i64,
        reply: Reply<LeaseGrantResponse>,
    },
    /// Push a lease's deadline out by its granted TTL; answers that TTL.
    LeaseKeepAlive { id: i64, reply: Reply<i64> },
    /// Delete a lease's attached keys in one revision, then drop the lease;
    /// answers that revision (the current one when it had no keys).
    LeaseRevoke { id: i64, reply: Reply<u64> },
    /// [`Request::LeaseRevoke`] only if the lease's deadline has passed (the
    /// expiry thread's check, repeated here so a keep-alive in between
    /// wins); `None` when it had been kept alive meanwhile.
    LeaseExpire { id: i64, reply: Reply<Option<u64>> },
    /// Restore one exported item as it was (revision numbers included).
    Import { item: ExportItem, reply: Reply<()> },
    /// Run a function on the writer thread between two groups, while no
    /// segment roll can be under way (verify takes its snapshot this way).
    Barrier(Box<dyn FnOnce() + Send>),
    /// Seal the active segment now (if it holds any frame), so that
    /// compaction can rewrite what it holds.
    Roll(Reply<()>),
    /// Finish queued work, sync, and stop.
    Shutdown,
}

/// Runs `f` on the writer thread between two groups (a
/// [`Request::Barrier`]) and waits for its result: there, no group is half
/// published and no segment roll is under way.
pub(crate) fn on_writer_thread<T: Send + 'static>(
    shared: &Arc<Shared>,
    writer: &Sender<Request>,
    f: impl FnOnce(&Shared) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (reply, answer) = crossbeam_channel::bounded(1);
    let on_writer = Arc::clone(shared);
    let take = move || {
        let _ = reply.send(f(&on_writer));
    };
    writer
        .send(Request::Barrier(Box::new(take)))
        .map_err(|_| Error::Closed)?;
    shared.await_reply(&answer)
}

/// A reply held until the group is durable.
pub(crate) enum Pending {
    Txn(Reply<TxnResponse>, Result<TxnResponse>),
    Put(Reply<PutResponse>, Result<PutResponse>),
    Delete(Reply<DeleteResponse>, Result<DeleteResponse>),
    LeaseGrant(Reply<LeaseGrantResponse>, Result<LeaseGrantResponse>),
    LeaseKeepAlive(Reply<i64>, Result<i64>),
    LeaseRevoke(Reply<u64>, Result<u64>),
    LeaseExpire(Reply<Option<u64>>, Result<Option<u64>>),
    Import(Reply<()>, Result<()>),
}

impl Pending {
    /// Sends the result, or `Poisoned` when the group failed to commit.
    pub(crate) fn send(self, failed: Option<&Arc<Error>>) {
        fn answer<T>(tx: Reply<T>, r: Result<T>, failed: Option<&Arc<Error>>) {
            let _ = tx.send(failed.map_or(r, |cause| {
                Err(Error::Poisoned {
                    cause: Arc::clone(cause),
                })
            }));
        }
        match self {
            Pending::Txn(tx, r) => answer(tx, r, failed),
            Pending::Put(tx, r) => answer(tx, r, failed),
            Pending::Delete(tx, r) => answer(tx, r, failed),
            Pending::LeaseGrant(tx, r) => answer(tx, r, failed),
            Pending::LeaseKeepAlive(tx, r) => answer(tx, r, failed),
            Pending::LeaseRevoke(tx, r) => answer(tx, r, failed),
            Pending::LeaseExpire(tx, r) => answer(tx, r, failed),
            Pending::Import(tx, r) => answer(tx, r, failed),
        }
    }
}

/// The pending reply of a request that never ran.
pub(crate) fn unanswered(req: Request) -> Option<Pending> {
    fn closed<T>() -> Result<T> {
        Err(Error::Closed)
    }
    match req {
        Request::Txn { reply, .. } => Some(Pending::Txn(reply, closed())),
        Request::Put { reply, .. } => Some(Pending::Put(reply, closed())),
        Request::Delete { reply, .. } => Some(Pending::Delete(reply, closed())),
        Request::LeaseGrant { reply, .. } => Some(Pending::LeaseGrant(reply, closed())),
        Request::LeaseKeepAlive { reply, .. } => Some(Pending::LeaseKeepAlive(reply, closed())),
        Request::LeaseRevoke { reply, .. } => Some(Pending::LeaseRevoke(reply, closed())),
        Request::LeaseExpire { reply, .. } => Some(Pending::LeaseExpire(reply, closed())),
        Request::Import { reply, .. } => Some(Pending::Import(reply, closed())),
        Request::Roll(reply) => {
            let _ = reply.send(Err(Error::Closed));
            None
        }
        Request::Shutdown | Request::Barrier(_) => None,
    }
}
