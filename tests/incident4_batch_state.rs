//! Incident 4 (TiKV #17700): per-batch state leaked into the next batch after
//! an empty commit. Here: transactions that write nothing, that fail half-way
//! through evaluation, or that are rejected up front, share write groups with
//! good transactions, and nothing of theirs may leak into what the good ones
//! see or into the store; every misuse is a typed error, never a panic.

use revkv::{Compare, CompareOp, Db, Error, Op, Options, PutRequest, SyncPolicy, Txn};
use std::sync::Arc;

#[test]
fn failed_and_empty_transactions_leave_no_state_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db =
        Arc::new(Db::open(dir.path(), Options::default().sync(SyncPolicy::Always)).expect("open"));
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                let mut good = 0u64;
                for i in 0..60u32 {
                    match (t + i) % 4 {
                        // Fails on its second op's lease. (etcd checks every
                        // put's lease before the branch runs, and so does
                        // revkv now: no op of it was evaluated.)
                        0 => {
                            let txn = Txn::new().and_then([
                                Op::put("leak", format!("from {t}/{i}")),
                                Op::Put(PutRequest::new("other", "x").lease(999)),
                            ]);
                            assert!(matches!(db.txn(txn), Err(Error::LeaseNotFound { id: 999 })));
                        }
                        // Writes nothing: a failure branch that is empty.
                        1 => {
                            let txn = Txn::new()
                                .when([Compare::version("never", CompareOp::Greater, 0)])
                                .and_then([Op::put("leak", "success branch")]);
                            let resp = db.txn(txn).expect("empty commit");
                            assert!(!resp.succeeded);
                            assert!(resp.responses.is_empty());
                        }
                        // Rejected before it runs.
                        2 => {
                            let txn =
                                Txn::new().and_then([Op::put("leak", "a"), Op::put("leak", "b")]);
                            assert!(matches!(db.txn(txn), Err(Error::DuplicateKeyInTxn { .. })));
                        }
                        // A good transaction: must see "leak" absent every time.
                        _ => {
                            let key = format!("good/{t}/{i}");
                            let txn = Txn::new()
                                .when([Compare::mod_revision("leak", CompareOp::Equal, 0)])
                                .and_then([Op::put(key.clone(), "ok"), Op::get("leak")]);
                            let resp = db.txn(txn).expect("good txn");
                            assert!(resp.succeeded, "a failed txn's write leaked into a compare");
                            match &resp.responses[1] {
                                revkv::OpResponse::Range(r) => assert_eq!(r.count, 0),
                                other => panic!("unexpected {other:?}"),
                            }
                            good += 1;
                        }
                    }
                }
                good
            })
        })
        .collect();
    let good: u64 = threads.into_iter().map(|h| h.join().expect("thread")).sum();
    assert_eq!(db.get("leak").expect("get"), None);
    assert_eq!(db.get("other").expect("get"), None);
    // Exactly one revision per good transaction, none for the others (a
    // new store is at revision 1).
    assert_eq!(db.current_revision(), good + 1);
    assert_eq!(
        db.range(revkv::RangeRequest::prefix("good/"))
            .expect("range")
            .count,
        good
    );
    assert!(db.verify().expect("verify").is_ok());
}
