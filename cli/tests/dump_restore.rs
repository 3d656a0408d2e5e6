//! `revkv dump` and `revkv restore`: the JSON lines format, round trips of
//! the latest state and of the history, and refusals.

use serde_json::Value;
use std::path::Path;
use test_support::cli::*;
use test_support::files;

/// A store with history, a lease, binary data and a compaction (a new
/// store is at revision 1, as etcd's):
/// 2 put a 1, 3 put b 2, 4 put a 3 (lease 5), 5 del b, 6 txn {put c x,
/// put bin \xff\n}, 7 put a 6 (lease 5), compact 3, 8 del c.
fn source(dir: &Path) {
    ok(run(dir, &["put", "a", "1"]));
    ok(run(dir, &["put", "b", "2"]));
    ok(run(dir, &["lease", "grant", "600", "--id", "5"]));
    ok(run(dir, &["put", "a", "3", "--lease", "5"]));
    ok(run(dir, &["del", "b"]));
    ok(run_in(
        dir,
        &["txn"],
        b"\nput c x\nput bin \"\\xff\\n\\x00\"\n",
    ));
    ok(run(dir, &["put", "a", "6", "--lease", "5"]));
    ok(run(dir, &["compact", "3"]));
    ok(run(dir, &["del", "c"]));
}

fn lines_of(text: &str) -> Vec<Value> {
    json_lines(text)
}

#[test]
fn history_dump_lines_follow_the_documented_format() {
    let tmp = tempdir();
    let dir = tmp.path().join("src");
    source(&dir);
    let lines = lines_of(&ok(run(&dir, &["dump", "--history"])));
    assert_eq!(
        lines[0],
        serde_json::json!({
            "type": "header", "format": "revkv-dump", "version": 1, "history": true,
            "revision": 8, "compact_revision": 3,
        })
    );
    assert_eq!(lines[1]["type"], "lease");
    assert_eq!(lines[1]["ID"], 5);
    assert_eq!(lines[1]["TTL"], 600);
    assert!(lines[1]["deadline_ms"]
        .as_u64()
        .is_some_and(|d| d > 1_700_000_000_000));
    let revisions: Vec<u64> = lines[2..]
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "revision");
            l["revision"].as_u64().expect("revision")
        })
        .collect();
    // Revision 2 is below the compaction point but is a's newest write at it.
    assert_eq!(revisions, [2, 3, 4, 5, 6, 7, 8]);
    let put = &lines[4]["ops"][0]; // revision 4
    assert_eq!(
        *put,
        serde_json::json!({
            "type": "PUT", "key": b64("a"), "value": b64("3"), "create_revision": 2,
            "version": 2, "lease": 5, "prev_mod_revision": 2,
        })
    );
    let del = &lines[5]["ops"][0]; // revision 5
    assert_eq!(del["type"], "DELETE");
    assert_eq!(del["key"], b64("b"));
    assert_eq!(del["value"], "");
    assert_eq!(del["prev_mod_revision"], 3);
    let txn = lines[6]["ops"].as_array().expect("ops");
    assert_eq!(txn.len(), 2, "both writes of the transaction in one line");
    assert_eq!(txn[1]["key"], b64("bin"));
    assert_eq!(txn[1]["value"], "/woA"); // base64 of ff 0a 00
}

#[test]
fn latest_dump_has_each_live_key_once_at_its_mod_revision() {
    let tmp = tempdir();
    let dir = tmp.path().join("src");
    source(&dir);
    let lines = lines_of(&ok(run(&dir, &["dump"])));
    assert_eq!(lines[0]["history"], false);
    assert_eq!(lines[0]["revision"], 8);
    assert_eq!(lines[0]["compact_revision"], 8);
    let keys: Vec<(u64, Value)> = lines[2..]
        .iter()
        .flat_map(|l| {
            let rev = l["revision"].as_u64().expect("revision");
            l["ops"]
                .as_array()
                .expect("ops")
                .iter()
                .map(move |op| (rev, op["key"].clone()))
        })
        .collect();
    assert_eq!(keys, [(6, b64("bin")), (7, b64("a"))]);
}

#[test]
fn history_round_trip_gives_the_same_store() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    source(&src);
    let file = tmp.path().join("all.dump");
    let file_arg = file.to_str().expect("utf-8 path");
    assert_eq!(
        ok(run(&src, &["dump", "--history", "-o", file_arg])),
        format!("dumped revision 8 (7 revisions, 8 writes, 1 leases) to {file_arg}\n")
    );
    // The file holds what standard output would have.
    assert_eq!(
        std::fs::read_to_string(&file).expect("read dump"),
        ok(run(&src, &["dump", "--history"]))
    );
    assert_eq!(
        ok(run(&dst, &["restore", "--from", file_arg])),
        "revision: 8\ncompact_revision: 3\nrevisions: 7\nops: 8\nleases: 1\n"
    );
    assert_eq!(
        ok(run(&dst, &["dump", "--history"])),
        ok(run(&src, &["dump", "--history"]))
    );
    for rev in ["3", "4", "5", "6", "7", "8"] {
        let args = ["--json", "range", "", "--prefix", "--rev", rev];
        assert_eq!(ok(run(&dst, &args)), ok(run(&src, &args)), "revision {rev}");
    }
    let err = fails(run(&dst, &["get", "a", "--rev", "2"]), 1);
    assert!(err.contains("compact revision 3"), "{err}");
    let watch = ["watch", "", "--prefix", "--rev", "3", "--timeout", "0.3"];
    let replayed = run(&dst, &watch);
    assert!(replayed.status.success());
    assert_eq!(replayed.stdout, run(&src, &watch).stdout);
    assert_eq!(
        ok(run(&dst, &["lease", "ttl", "5", "--keys"]))
            .split(", ")
            .last(),
        Some("attached keys([a])\n")
    );
    assert!(ok(run(&dst, &["verify"])).ends_with("problems: 0\n"));
    // The copy goes on from the same revision.
    let v = json(run(&dst, &["--json", "put", "next", "v"]));
    assert_eq!(v["header"]["revision"], 9);
    let bin = run(&dst, &["get", "bin"]);
    assert_eq!(bin.stdout, b"bin\n\xff\n\x00\n");
}

#[test]
fn latest_round_trip_through_a_pipe_keeps_the_live_state() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    let dst = tmp.path().join("dst");
    source(&src);
    let dump = run(&src, &["dump"]).stdout;
    let v = json(run_in(&dst, &["--json", "restore", "--from", "-"], &dump));
    // The newest live write is at 7; the deletion at 8 is not in the dump.
    assert_eq!(v["revision"], 7);
    assert_eq!(v["compact_revision"], 7);
    assert_eq!(
        (v["revisions"].clone(), v["ops"].clone()),
        (2.into(), 2.into())
    );
    let all = ["--json", "range", "", "--prefix"];
    let kvs = |dir: &Path| json(run(dir, &all))["kvs"].clone();
    assert_eq!(kvs(&dst), kvs(&src));
    let err = fails(run(&dst, &["get", "a", "--rev", "6"]), 1);
    assert!(err.contains("compacted"), "{err}");
}

#[test]
fn restore_refuses_a_non_empty_directory_and_leaves_it_alone() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    source(&src);
    let file = tmp.path().join("d.dump");
    let file_arg = file.to_str().expect("utf-8 path");
    ok(run(&src, &["dump", "-o", file_arg]));

    let err = fails(run(&src, &["restore", "--from", file_arg]), 1);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(ok(run(&src, &["get", "a"])), "a\n6\n");
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(other.join("notes.txt"), "mine").expect("write");
    let err = fails(run(&other, &["restore", "--from", file_arg]), 1);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(files::list(&other).len(), 1);

    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    ok(run(&empty, &["restore", "--from", file_arg]));
    assert_eq!(ok(run(&empty, &["get", "a"])), "a\n6\n");
}

#[test]
fn a_malformed_dump_fails_with_its_line_and_leaves_nothing() {
    let tmp = tempdir();
    let src = tmp.path().join("src");
    source(&src);
    let mut dump = ok(run(&src, &["dump", "--history"]));
    dump.push_str(
        "{\"type\":\"revision\",\"revision\":9,\"ops\":[{\"type\":\"PUT\",\"key\":\"!!\"}]}\n",
    );
    let line = dump.lines().count();

    let missing = tmp.path().join("missing");
    let err = fails(
        run_in(&missing, &["restore", "--from", "-"], dump.as_bytes()),
        3,
    );
    assert!(
        err.starts_with(&format!("Error: dump line {line}: op 1:")),
        "{err}"
    );
    assert!(!missing.exists(), "the new directory is removed");

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    fails(
        run_in(&empty, &["restore", "--from", "-"], dump.as_bytes()),
        3,
    );
    assert_eq!(files::list(&empty).len(), 0);

    // Out of order revisions, an empty input, and a dump of another format.
    let swapped = {
        let mut l: Vec<&str> = dump.lines().collect();
        l.swap(3, 4);
        l.join("\n")
    };
    let err = fails(
        run_in(&missing, &["restore", "--from", "-"], swapped.as_bytes()),
        3,
    );
    assert!(
        err.contains("dump line 5: revision 3 does not follow revision 4"),
        "{err}"
    );
    let err = fails(run_in(&missing, &["restore", "--from", "-"], b""), 3);
    assert!(err.contains("no header"), "{err}");
    let err = fails(
        run_in(
            &missing,
            &["restore", "--from", "-"],
            b"{\"type\":\"header\",\"format\":\"revkv-dump\",\"version\":9,\"revision\":1}\n",
        ),
        3,
    );
    assert!(err.contains("dump format version 9"), "{err}");
    assert!(!missing.exists());

    // A write that does not name the key's previous write.
    let forked = b"{\"type\":\"header\",\"format\":\"revkv-dump\",\"version\":1,\"revision\":3}\n\
{\"type\":\"revision\",\"revision\":1,\"ops\":[{\"type\":\"PUT\",\"key\":\"YQ==\",\"value\":\"\",\"create_revision\":1,\"version\":1}]}\n\
{\"type\":\"revision\",\"revision\":2,\"ops\":[{\"type\":\"DELETE\",\"key\":\"YQ==\"}]}\n\
{\"type\":\"revision\",\"revision\":3,\"ops\":[{\"type\":\"PUT\",\"key\":\"YQ==\",\"value\":\"\",\"create_revision\":3,\"version\":1,\"prev_mod_revision\":1}]}\n";
    let err = fails(run_in(&missing, &["restore", "--from", "-"], forked), 3);
    assert!(
        err.contains(
            "dump line 4: op 1: prev_mod_revision 1, but the key's previous write is at revision 2"
        ),
        "{err}"
    );
    let err = fails(
        run(&missing, &["restore", "--from", "/nonexistent/dump"]),
        1,
    );
    assert!(err.contains("/nonexistent/dump"), "{err}");
    fails(run(&missing, &["restore"]), 2);
    assert!(!missing.exists());
}

#[test]
fn leases_keep_their_deadline_unless_renewed() {
    let tmp = tempdir();
    // Written by hand: a lease whose deadline passed long ago, so fields
    // that may be left out are.
    let dump = b"{\"type\":\"header\",\"format\":\"revkv-dump\",\"version\":1,\"revision\":2}\n\
{\"type\":\"lease\",\"ID\":9,\"TTL\":30,\"deadline_ms\":1000}\n\
{\"type\":\"revision\",\"revision\":1,\"ops\":[{\"type\":\"PUT\",\"key\":\"YQ==\",\"value\":\"MQ==\",\"create_revision\":1,\"version\":1,\"lease\":9}]}\n\
\n\
{\"type\":\"revision\",\"revision\":2,\"ops\":[{\"type\":\"PUT\",\"key\":\"Yg==\",\"value\":\"Mg==\",\"create_revision\":2,\"version\":1}]}\n";
    let kept = tmp.path().join("kept");
    assert!(ok(run_in(&kept, &["restore", "--from", "-"], dump)).contains("leases: 1\n"));
    // The next command revokes the expired lease, deleting its key.
    assert_eq!(
        ok(run(&kept, &["range", "", "--prefix", "--keys-only"])),
        "b\n\n"
    );
    assert_eq!(ok(run(&kept, &["lease", "list"])), "found 0 leases\n");

    let renewed = tmp.path().join("renewed");
    ok(run_in(
        &renewed,
        &["restore", "--from", "-", "--renew-leases"],
        dump,
    ));
    assert_eq!(
        ok(run(&renewed, &["range", "", "--prefix", "--keys-only"])),
        "a\n\nb\n\n"
    );
    let ttl = ok(run(&renewed, &["lease", "ttl", "9", "--keys"]));
    assert!(
        ttl.starts_with("lease 0000000000000009 granted with TTL(30s), remaining("),
        "{ttl}"
    );
    assert!(ttl.ends_with("attached keys([a])\n"), "{ttl}");

    // A put may only name a lease the dump grants.
    let bad = b"{\"type\":\"header\",\"format\":\"revkv-dump\",\"version\":1,\"revision\":1}\n\
{\"type\":\"revision\",\"revision\":1,\"ops\":[{\"type\":\"PUT\",\"key\":\"YQ==\",\"value\":\"\",\"create_revision\":1,\"version\":1,\"lease\":4}]}\n";
    let err = fails(
        run_in(&tmp.path().join("bad"), &["restore", "--from", "-"], bad),
        3,
    );
    assert!(err.contains("lease 4 is not granted"), "{err}");
}

#[test]
fn dump_failures_and_help() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    // A missing store dumps as an empty one (its header alone), and is not
    // created.
    let lines = json_lines(&ok(run(&missing, &["dump"])));
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["type"], "header");
    assert!(!missing.exists());

    let src = tmp.path().join("src");
    ok(run(&src, &["put", "k", "v"]));
    let nowhere = tmp.path().join("no-such-dir").join("out.dump");
    let err = fails(
        run(&src, &["dump", "-o", nowhere.to_str().expect("utf-8")]),
        1,
    );
    assert!(err.contains("out.dump"), "{err}");
    let out = tmp.path().join("out.dump");
    let v = json(run(
        &src,
        &["--json", "dump", "-o", out.to_str().expect("utf-8")],
    ));
    assert_eq!(v["header"]["revision"], 2);
    assert_eq!(v["revisions"], 1);
    assert_eq!(v["file"], out.display().to_string());
    // Only the dump itself is left next to it.
    assert_eq!(files::list(tmp.path()).len(), 2);

    let help = ok(run(&src, &["dump", "--help"]));
    for needle in [
        "\"type\":\"header\"",
        "\"prev_mod_revision\"",
        "base64",
        "--history",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
    let help = ok(run(&src, &["restore", "--help"]));
    for needle in ["empty", "--renew-leases", "exit status 3"] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}
