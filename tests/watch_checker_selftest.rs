//! The watch checker's own tests (tests/support/src/watch_checker.rs): it must
//! accept correct streams and catch hand-made bad ones: a gap, a duplicate,
//! a reordering, a split revision, a bookmark sent too early, wrong filters,
//! prev_kv and contents, bad compacted endings and bad resumptions.

use revkv::{Event, EventKind, KeyRange, KeyValue, WatchRequest, WatchResponse};
use test_support::watch_checker::*;

fn put(
    key: &str,
    value: &str,
    rev: u64,
    create: u64,
    version: u64,
    prev: Option<KeyValue>,
) -> Event {
    Event {
        kind: EventKind::Put,
        kv: KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: create,
            mod_revision: rev,
            version,
            lease: 0,
        },
        prev_kv: prev,
    }
}

fn del(key: &str, rev: u64, prev: Option<KeyValue>) -> Event {
    Event {
        kind: EventKind::Delete,
        kv: KeyValue {
            key: key.into(),
            mod_revision: rev,
            ..KeyValue::default()
        },
        prev_kv: prev,
    }
}

/// 1: put a=1; 2: put b=1; 3: txn put a=2, put c=1; 4: delete a, c;
/// 5: put b=2; 6: put a=3.
fn writes() -> Vec<Write> {
    let p = |k: &str, v: &str| WriteOp::Put {
        key: k.into(),
        value: v.into(),
        lease: 0,
    };
    vec![
        Write {
            revision: 1,
            ops: vec![p("a", "1")],
        },
        Write {
            revision: 2,
            ops: vec![p("b", "1")],
        },
        // A delete of nothing consumes no revision.
        Write {
            revision: 2,
            ops: vec![WriteOp::Delete {
                range: KeyRange::single("zz"),
                deleted: 0,
            }],
        },
        Write {
            revision: 3,
            ops: vec![p("a", "2"), p("c", "1")],
        },
        Write {
            revision: 4,
            ops: vec![WriteOp::Delete {
                range: KeyRange::range("a", "c\0"),
                deleted: 3,
            }],
        },
        Write {
            revision: 5,
            ops: vec![p("b", "2")],
        },
        Write {
            revision: 6,
            ops: vec![p("a", "3")],
        },
    ]
}

/// The history of `writes()`, numbered from 1 as they are (a store's
/// first write is 2; the checker does not care where a history starts).
fn history() -> History {
    History::from_writes_from(1, writes()).expect("history")
}

/// The stream a watch of every key from `start` should see, as events
/// shaped for `req` (no prev_kv unless asked), one response per revision.
fn good(h: &History, req: &WatchRequest, start: u64) -> Vec<WatchResponse> {
    (start..=h.head())
        .filter_map(|rev| {
            let events: Vec<Event> = h
                .events_at(rev)
                .iter()
                .filter(|e| wants(req, e))
                .map(|e| Event {
                    prev_kv: if req.prev_kv { e.prev_kv.clone() } else { None },
                    ..e.clone()
                })
                .collect();
            (!events.is_empty()).then(|| resp(rev, events))
        })
        .collect()
}

fn resp(rev: u64, events: Vec<Event>) -> WatchResponse {
    WatchResponse::new(7, rev).events(events)
}

fn progress(rev: u64) -> WatchResponse {
    WatchResponse::new(7, rev).progress_notify(true)
}

fn all_from(start: u64) -> WatchRequest {
    WatchRequest::new(KeyRange::all())
        .start_revision(start)
        .prev_kv()
}

fn stream(req: WatchRequest, responses: Vec<WatchResponse>) -> Recorded {
    Recorded {
        responses,
        ..Recorded::new(req).id(7)
    }
}

fn violation(h: &History, s: &Recorded) -> Violation {
    match check(h, s) {
        Ok(sum) => panic!("accepted a bad stream: {sum:?}\n{s:#?}"),
        Err(v) => v,
    }
}

#[test]
fn the_model_builds_events_with_versions_and_prev_kvs() {
    let h = history();
    assert_eq!(h.head(), 6);
    let a1 = put("a", "1", 1, 1, 1, None).kv;
    let a2 = put("a", "2", 3, 1, 2, Some(a1.clone()));
    assert_eq!(h.events_at(3)[0], a2);
    let c1 = put("c", "1", 3, 3, 1, None).kv;
    assert_eq!(
        h.events_at(4),
        &[
            del("a", 4, Some(a2.kv.clone())),
            del("b", 4, Some(put("b", "1", 2, 2, 1, None).kv)),
            del("c", 4, Some(c1)),
        ]
    );
    assert_eq!(h.events_at(6), &[put("a", "3", 6, 6, 1, None)]);
}

#[test]
fn the_model_rejects_incomplete_or_inconsistent_writes() {
    let mut w = writes();
    w.remove(3);
    assert!(History::from_writes_from(1, w)
        .unwrap_err()
        .contains("revision 3"));
    let mut w = writes();
    w[4].ops = vec![WriteOp::Delete {
        range: KeyRange::single("a"),
        deleted: 2,
    }];
    assert!(History::from_writes_from(1, w)
        .unwrap_err()
        .contains("deletes 1 keys"));
    let mut w = writes();
    w.push(w[0].clone());
    assert!(History::from_writes_from(1, w)
        .unwrap_err()
        .contains("two writes"));
}

#[test]
fn accepts_correct_streams() {
    let h = history();
    for req in [
        all_from(1),
        all_from(3),
        WatchRequest::key("a").start_revision(1),
        WatchRequest::prefix("b").start_revision(2).prev_kv(),
        WatchRequest::new(KeyRange::all())
            .start_revision(1)
            .no_put(),
        WatchRequest::new(KeyRange::range("b", "d"))
            .start_revision(1)
            .no_delete(),
        WatchRequest::key("nothing").start_revision(1),
    ] {
        let mut responses = good(&h, &req, req.start_revision);
        responses.insert(0, progress(req.start_revision - 1));
        responses.push(progress(6));
        let s = stream(req.clone(), responses);
        let sum = check(&h, &s).unwrap_or_else(|v| panic!("{req:?}: {v}"));
        assert_eq!(sum.reached, 6);
    }
    // Several revisions in one response, and a stream stopped early.
    let req = all_from(1);
    let mut r = good(&h, &req, 1);
    let mut merged = r.remove(0);
    merged.events.extend(r.remove(0).events);
    r.insert(0, merged);
    r.truncate(3);
    let sum = check(&h, &stream(req, r)).expect("merged revisions");
    assert_eq!((sum.start, sum.reached, sum.events), (1, 4, 7));
    // Start 0: any start in lo..=hi.
    let req = WatchRequest::new(KeyRange::all());
    let s = Recorded {
        responses: good(&h, &all_from(5), 5)
            .into_iter()
            .map(|mut r| {
                r.events.iter_mut().for_each(|e| e.prev_kv = None);
                r
            })
            .collect(),
        ..Recorded::between(req, 4, 5)
    };
    assert_eq!(check(&h, &s).expect("between").start, 5);
}

#[test]
fn catches_a_gap() {
    let h = history();
    let mut r = good(&h, &all_from(1), 1);
    r.remove(2); // revision 3
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Reliable, "{v}");
    assert!(v.detail.contains("PUT a@3 is missing"), "{v}");
    // A gap at the very start, and inside one revision.
    let mut r = good(&h, &all_from(1), 1);
    r.remove(0);
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Reliable, "{v}");
    let mut r = good(&h, &all_from(1), 1);
    r[3].events.remove(1); // DELETE b@4
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Reliable, "{v}");
    assert!(v.detail.contains("DELETE b@4"), "{v}");
    // A gap at the end, exposed by a progress notification.
    let mut r = good(&h, &all_from(1), 1);
    r.pop();
    r.push(progress(6));
    let v = violation(&h, &stream(all_from(1), r));
    assert!(
        matches!(v.guarantee, Guarantee::Reliable | Guarantee::Bookmarkable),
        "{v}"
    );
}

#[test]
fn catches_a_duplicate() {
    let h = history();
    let mut r = good(&h, &all_from(1), 1);
    r.insert(2, r[1].clone());
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Unique, "{v}");
    assert!(v.detail.contains("PUT b@2 delivered twice"), "{v}");
    // The same event again inside a later response.
    let mut r = good(&h, &all_from(1), 1);
    let again = r[0].events[0].clone();
    r[4].events.push(again);
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Unique, "{v}");
}

#[test]
fn catches_a_reordering() {
    let h = history();
    let mut r = good(&h, &all_from(1), 1);
    r.swap(1, 2);
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Ordered, "{v}");
    // Out of request order inside one revision.
    let mut r = good(&h, &all_from(1), 1);
    r[3].events.swap(0, 2);
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Ordered, "{v}");
    assert!(v.detail.contains("DELETE b@4"), "{v}");
    // A progress notification going backwards.
    let mut r = good(&h, &all_from(1), 1);
    r.push(progress(6));
    r.push(progress(5));
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Ordered, "{v}");
}

#[test]
fn catches_a_split_revision() {
    let h = history();
    let mut r = good(&h, &all_from(1), 1);
    let tail = r[3].events.split_off(1); // revision 4: a | b, c
    r.insert(4, resp(4, tail));
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Atomic, "{v}");
    assert!(v.detail.contains("revision 4 split"), "{v}");
    // Split with other revisions around it in the same responses.
    let mut r = good(&h, &all_from(1), 1);
    let c = r[2].events.pop().expect("c@3");
    r[3].events.insert(0, c);
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Atomic, "{v}");
}

#[test]
fn catches_a_bookmark_sent_too_early() {
    let h = history();
    let mut r = good(&h, &all_from(1), 1);
    r.insert(2, progress(3)); // before revision 3 was delivered
    let v = violation(&h, &stream(all_from(1), r));
    assert_eq!(v.guarantee, Guarantee::Bookmarkable, "{v}");
    assert!(v.detail.contains("PUT a@3"), "{v}");
    // Fine when the events it covers do not match the watch.
    let req = WatchRequest::key("b").start_revision(1);
    let mut r = good(&h, &req, 1);
    r.insert(1, progress(3));
    check(&h, &stream(req.clone(), r)).expect("a bookmark over non-matching revisions");
    let mut r = good(&h, &req, 1);
    r.insert(1, progress(4));
    let v = violation(&h, &stream(req, r));
    assert_eq!(v.guarantee, Guarantee::Bookmarkable, "{v}");
}

#[test]
fn catches_filter_prev_kv_and_content_errors() {
    let h = history();
    let req = WatchRequest::key("a").start_revision(1).no_delete();
    let r = good(&h, &WatchRequest::key("a").start_revision(1), 1);
    assert_eq!(violation(&h, &stream(req, r)).guarantee, Guarantee::Filter);
    let req = WatchRequest::key("a").start_revision(1);
    let r = good(&h, &WatchRequest::prefix("").start_revision(1), 1);
    assert_eq!(violation(&h, &stream(req, r)).guarantee, Guarantee::Filter);
    // prev_kv missing, wrong, or not asked for.
    let mut r = good(&h, &all_from(1), 1);
    r[2].events[0].prev_kv = None;
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::PrevKv
    );
    let mut r = good(&h, &all_from(1), 1);
    r[3].events[0].prev_kv = r[0].events[0].prev_kv.clone();
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::PrevKv
    );
    let no_prev = WatchRequest::new(KeyRange::all()).start_revision(1);
    let r = good(&h, &all_from(1), 1);
    assert_eq!(
        violation(&h, &stream(no_prev, r)).guarantee,
        Guarantee::PrevKv
    );
    // A wrong value, and an event that never happened.
    let mut r = good(&h, &all_from(1), 1);
    r[1].events[0].kv.value = b"other".to_vec();
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::Content
    );
    let mut r = good(&h, &all_from(1), 1);
    r[1].events.push(put("zz", "1", 2, 2, 1, None));
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::Content
    );
    // Below the start revision.
    let r = good(&h, &all_from(1), 1);
    assert_eq!(
        violation(&h, &stream(all_from(2), r)).guarantee,
        Guarantee::Start
    );
    // An empty response, a wrong watch id.
    let mut r = good(&h, &all_from(1), 1);
    r.insert(1, resp(1, Vec::new()));
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::Protocol
    );
    let mut r = good(&h, &all_from(1), 1);
    r[1].watch_id = 8;
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::Protocol
    );
}

#[test]
fn checks_compacted_endings() {
    let mut h = history();
    h.compacted(5);
    let compacted = WatchResponse::new(7, 6).compact_revision(5);
    let mut r = good(&h, &all_from(1), 1);
    r.truncate(2);
    r.push(compacted.clone());
    let sum = check(&h, &stream(all_from(1), r.clone())).expect("a stream at 3 compacted at 5");
    assert_eq!(sum.compacted, Some(5));
    // Nothing may follow it.
    let mut more = r.clone();
    more.push(progress(6));
    assert_eq!(
        violation(&h, &stream(all_from(1), more)).guarantee,
        Guarantee::Protocol
    );
    // Not when the stream had already reached the compaction point.
    let mut r = good(&h, &all_from(1), 1);
    r.truncate(4);
    r.push(compacted);
    assert_eq!(
        violation(&h, &stream(all_from(1), r)).guarantee,
        Guarantee::Compaction
    );
    // An event at the compaction revision may lack an older prev_kv.
    let mut r = good(&h, &all_from(5), 5);
    r[0].events[0].prev_kv = None;
    check(&h, &stream(all_from(5), r)).expect("prev_kv lost at the compaction point");
    let mut r = good(&h, &all_from(5), 5);
    r[1].events[0].prev_kv = Some(r[0].events[0].kv.clone());
    assert_eq!(
        violation(&h, &stream(all_from(5), r)).guarantee,
        Guarantee::PrevKv
    );
}

#[test]
fn checks_resumed_streams() {
    let h = history();
    let full = good(&h, &all_from(1), 1);
    let first = stream(all_from(1), full[..2].to_vec());
    assert_eq!(first.resume_point(), Some(3));
    let second = stream(all_from(3), full[2..].to_vec());
    let sum = check_resumed(&h, &[first.clone(), second]).expect("resumed at last seen + 1");
    assert_eq!((sum.start, sum.reached, sum.events), (1, 6, 9));
    // Resumed after a progress notification past its last event.
    let req = WatchRequest::key("b").start_revision(1);
    let b = good(&h, &req, 1); // b@2, b@4, b@5
    let mut bookmarked = stream(req.clone(), b[..1].to_vec());
    bookmarked.responses.push(progress(3));
    assert_eq!(bookmarked.resume_point(), Some(4));
    let rest = stream(req.clone().start_revision(4), b[1..].to_vec());
    check_resumed(&h, &[bookmarked.clone(), rest]).expect("resumed after a bookmark");
    let skipped = stream(req.start_revision(4), b[2..].to_vec());
    let v = check_resumed(&h, &[bookmarked, skipped]).expect_err("b@4 skipped");
    assert_eq!(v.guarantee, Guarantee::Reliable, "{v}");
    // Resumed one too late (a gap) or one too early (a duplicate).
    let late = stream(all_from(4), full[3..].to_vec());
    let v = check_resumed(&h, &[first.clone(), late]).expect_err("gap");
    assert_eq!(v.guarantee, Guarantee::Resumable, "{v}");
    let early = stream(all_from(2), full[1..].to_vec());
    let v = check_resumed(&h, &[first.clone(), early]).expect_err("duplicate");
    assert_eq!(v.guarantee, Guarantee::Resumable, "{v}");
    // Resumed at the right revision but skipping an event: caught in the segment.
    let skipping = stream(all_from(3), full[3..].to_vec());
    let v = check_resumed(&h, &[first.clone(), skipping]).expect_err("skip");
    assert_eq!(v.guarantee, Guarantee::Reliable, "{v}");
    assert!(v.detail.starts_with("segment 1"), "{v}");
    // A different request.
    let other = stream(WatchRequest::key("a").start_revision(3), Vec::new());
    let v = check_resumed(&h, &[first, other]).expect_err("other request");
    assert_eq!(v.guarantee, Guarantee::Resumable, "{v}");
}
