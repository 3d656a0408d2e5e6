//! `revkv watch`: replaying history with --rev (the store is embedded, so
//! another process cannot write while a watch holds it), filters, limits,
//! JSON, live lease expiry and interruption.

use std::time::{Duration, Instant};
use test_support::cli::*;

/// A store with this history (a new store is at revision 1, as etcd's):
/// 2 put /a 1, 3 put /b 2, 4 put /a 3, 5 del /b, 6 txn {put /c x, put /a 4},
/// 7 put other o.
fn history() -> tempfile::TempDir {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "/a", "1"]));
    ok(run(dir, &["put", "/b", "2"]));
    ok(run(dir, &["put", "/a", "3"]));
    ok(run(dir, &["del", "/b"]));
    ok(run_in(dir, &["txn"], b"\nput /c x\nput /a 4\n"));
    ok(run(dir, &["put", "other", "o"]));
    tmp
}

#[test]
fn replays_history_like_etcdctl_watch() {
    let tmp = history();
    let dir = tmp.path();
    assert_eq!(
        ok(run(
            dir,
            &["watch", "/", "--prefix", "--rev", "1", "--timeout", "0.3"]
        )),
        "PUT\n/a\n1\nPUT\n/b\n2\nPUT\n/a\n3\nDELETE\n/b\n\nPUT\n/c\nx\nPUT\n/a\n4\n"
    );
    // One key, from a later revision.
    assert_eq!(
        ok(run(dir, &["watch", "/a", "--rev", "4", "--timeout", "0.3"])),
        "PUT\n/a\n3\nPUT\n/a\n4\n"
    );
    // A range [KEY, END).
    assert_eq!(
        ok(run(
            dir,
            &["watch", "/b", "/d", "--rev", "1", "--timeout", "0.3"]
        )),
        "PUT\n/b\n2\nDELETE\n/b\n\nPUT\n/c\nx\n"
    );
}

#[test]
fn prev_kv_and_put_delete_filters() {
    let tmp = history();
    let dir = tmp.path();
    // The previous key-value comes before the new one, when there was one.
    assert_eq!(
        ok(run(
            dir,
            &[
                "watch",
                "/",
                "--prefix",
                "--rev",
                "3",
                "--prev-kv",
                "--timeout",
                "0.3"
            ]
        )),
        "PUT\n/b\n2\nPUT\n/a\n1\n/a\n3\nDELETE\n/b\n2\n/b\n\nPUT\n/c\nx\nPUT\n/a\n3\n/a\n4\n"
    );
    assert_eq!(
        ok(run(
            dir,
            &[
                "watch",
                "/",
                "--prefix",
                "--rev",
                "1",
                "--no-put",
                "--timeout",
                "0.3"
            ]
        )),
        "DELETE\n/b\n\n"
    );
    assert_eq!(
        ok(run(
            dir,
            &[
                "watch",
                "/b",
                "--rev",
                "1",
                "--no-delete",
                "--timeout",
                "0.3"
            ]
        )),
        "PUT\n/b\n2\n"
    );
    fails(run(dir, &["watch", "/b", "--no-put", "--no-delete"]), 2);
}

#[test]
fn count_stops_after_exactly_n_events_even_inside_a_revision() {
    let tmp = history();
    let dir = tmp.path();
    // Revision 6 holds two events; the count cuts between them.
    let started = Instant::now();
    assert_eq!(
        ok(run(
            dir,
            &["watch", "/", "--prefix", "--rev", "6", "--count", "1"]
        )),
        "PUT\n/c\nx\n"
    );
    assert_eq!(
        ok(run(
            dir,
            &["watch", "/", "--prefix", "--rev", "1", "--count", "4"]
        )),
        "PUT\n/a\n1\nPUT\n/b\n2\nPUT\n/a\n3\nDELETE\n/b\n\n"
    );
    // No timeout was needed to stop.
    assert!(started.elapsed() < Duration::from_secs(20));
    fails(run(dir, &["watch", "/a", "--count", "0"]), 2);
}

#[test]
fn json_prints_one_object_per_response_with_etcd_fields() {
    let tmp = history();
    let dir = tmp.path();
    let out = ok(run(
        dir,
        &[
            "--json",
            "watch",
            "/",
            "--prefix",
            "--rev",
            "5",
            "--prev-kv",
            "--timeout",
            "0.3",
        ],
    ));
    let lines = json_lines(&out);
    assert!(!lines.is_empty());
    let events: Vec<&serde_json::Value> = lines
        .iter()
        .flat_map(|v| {
            // etcdctl's clientv3 WatchResponse shape.
            assert_eq!(v["CompactRevision"], 0);
            assert_eq!(v["Canceled"], false);
            assert_eq!(v["Created"], false);
            assert_eq!(v["Header"]["revision"], 7);
            v["Events"].as_array().expect("events")
        })
        .collect();
    assert_eq!(events.len(), 3);
    // A DELETE is type 1; a PUT (0) has no type field (omitempty).
    assert_eq!(events[0]["type"], 1);
    assert_eq!(events[0]["kv"]["key"], b64("/b"));
    assert_eq!(events[0]["kv"]["mod_revision"], 5);
    assert_eq!(events[0]["prev_kv"]["value"], b64("2"));
    assert_eq!(events[1].get("type"), None);
    assert_eq!(events[1]["kv"]["key"], b64("/c"));
    assert_eq!(events[1]["kv"]["value"], b64("x"));
    assert_eq!(events[1]["prev_kv"], serde_json::Value::Null);
    assert_eq!(events[2]["kv"]["key"], b64("/a"));
    assert_eq!(events[2]["kv"]["version"], 3);
    assert_eq!(events[2]["kv"]["create_revision"], 2);
    assert_eq!(events[2]["prev_kv"]["value"], b64("3"));
}

#[test]
fn compacted_and_bad_starts_fail() {
    let tmp = history();
    let dir = tmp.path();
    ok(run(dir, &["compact", "4"]));
    // As etcdctl: canceled by the server, exit status 5.
    let err = fails(run(dir, &["watch", "/a", "--rev", "3"]), 5);
    assert_eq!(
        err,
        "watch was canceled (required revision has been compacted (compact revision 4))\n\
         Error: watch is canceled by the server\n"
    );
    // At the compaction revision the history is still there.
    assert_eq!(
        ok(run(dir, &["watch", "/a", "--rev", "4", "--timeout", "0.3"])),
        "PUT\n/a\n3\nPUT\n/a\n4\n"
    );
    // A range that holds no key: canceled by the server as etcd cancels it
    // ("mvcc: watcher range is empty"), exit status 5.
    for end in ["/a", "/"] {
        let err = fails(run(dir, &["watch", "/a", end]), 5);
        assert!(
            err.starts_with("watch was canceled (watcher range is empty")
                && err.ends_with("Error: watch is canceled by the server\n"),
            "{err}"
        );
    }
    let err = fails(run(dir, &["watch", ""]), 1);
    assert!(err.contains("empty"), "{err}");
    fails(run(dir, &["watch", "/a", "--timeout", "0"]), 2);
    fails(run(dir, &["watch", "/a", "/b", "--prefix"]), 2);
    // A missing store is watched as an empty one, and not created.
    let missing = dir.join("missing");
    assert_eq!(ok(run(&missing, &["watch", "k", "--timeout", "0.2"])), "");
    assert!(!missing.exists());
}

#[test]
fn without_rev_it_waits_for_new_changes_until_the_timeout() {
    let tmp = history();
    let dir = tmp.path();
    let started = Instant::now();
    assert_eq!(
        ok(run(dir, &["watch", "/", "--prefix", "--timeout", "0.5"])),
        ""
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[test]
fn sees_a_lease_expire_while_it_runs() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "2", "--id", "11"]));
    let v = json(run(
        dir,
        &["--json", "put", "ephemeral", "v", "--lease", "11"],
    ));
    let next = (v["header"]["revision"].as_u64().expect("revision") + 1).to_string();
    // From the next revision on: if the lease expired before the watch
    // started, the deletion is replayed; otherwise it arrives live.
    let out = ok(run(
        dir,
        &[
            "watch",
            "ephemeral",
            "--rev",
            &next,
            "--count",
            "1",
            "--timeout",
            "20",
        ],
    ));
    assert_eq!(out, "DELETE\nephemeral\n\n");
    assert_eq!(ok(run(dir, &["get", "ephemeral"])), "");
}

#[test]
fn stops_cleanly_when_interrupted_with_the_output_flushed() {
    let tmp = history();
    let dir = tmp.path();
    let mut child = spawn(dir, &["watch", "/a", "--rev", "1"]);
    let lines: Vec<String> = (0..9)
        .map(|_| child.line().expect("a complete line"))
        .collect();
    assert_eq!(
        lines,
        ["PUT", "/a", "1", "PUT", "/a", "3", "PUT", "/a", "4"]
    );
    // It holds the store meanwhile.
    let err = fails(run(dir, &["get", "/a"]), 4);
    assert!(err.contains("locked"), "{err}");
    child.interrupt();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(ok(run(dir, &["get", "/a"])), "/a\n4\n");
}

#[test]
fn help_explains_replay_and_the_output() {
    let tmp = tempdir();
    let help = ok(run(tmp.path(), &["watch", "--help"]));
    for needle in [
        "--rev",
        "--timeout",
        "--count",
        "DELETE",
        "replay",
        "interrupted",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
