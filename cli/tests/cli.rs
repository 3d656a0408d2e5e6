//! Runs the built `revkv` binary against temporary data directories and
//! checks what it prints and how it exits.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use serde_json::Value;
use test_support::cli::{b64, cmd, fails, json, ok, run, run_in, tempdir};

#[test]
fn put_then_get_prints_the_value() {
    let tmp = tempdir();
    let dir = tmp.path().join("data");
    assert_eq!(ok(run(&dir, &["put", "hello", "world"])), "OK\n");
    assert_eq!(ok(run(&dir, &["get", "hello"])), "hello\nworld\n");
    assert_eq!(ok(run(&dir, &["get", "absent"])), "");
    assert_eq!(
        ok(run(&dir, &["put", "hello", "there", "--prev-kv"])),
        "OK\nhello\nworld\n"
    );
    assert_eq!(ok(run(&dir, &["get", "hello"])), "hello\nthere\n");
    // Values starting with '-' go after `--`.
    assert_eq!(ok(run(&dir, &["put", "--", "neg", "-5"])), "OK\n");
    assert_eq!(ok(run(&dir, &["get", "neg"])), "neg\n-5\n");
}

#[test]
fn put_reads_a_binary_value_from_stdin_when_none_is_given() {
    let tmp = tempdir();
    let value = b"line one\nbin\x00\xffary";
    assert_eq!(ok(run_in(tmp.path(), &["put", "blob"], value)), "OK\n");
    let got = run(tmp.path(), &["get", "blob"]);
    assert!(got.status.success());
    assert_eq!(got.stdout, [&b"blob\n"[..], value, b"\n"].concat());
    let v = json(run(tmp.path(), &["--json", "get", "blob"]));
    assert_eq!(v["kvs"][0]["value"], Value::String(STANDARD.encode(value)));
}

#[test]
fn json_fields_and_revisions_are_etcds() {
    let tmp = tempdir();
    let dir = tmp.path();
    // A new store is at revision 1, as etcd's: its first write is 2.
    let v = json(run(dir, &["--json", "put", "a", "1"]));
    assert_eq!(v["header"]["revision"], 2);
    assert_eq!(v["prev_kv"], Value::Null);
    json(run(dir, &["put", "a", "2", "--json"]));
    json(run(dir, &["put", "b", "x", "--json"]));

    let v = json(run(dir, &["--json", "get", "a"]));
    assert_eq!(v["header"]["revision"], 4);
    assert_eq!(v["count"], 1);
    // etcdctl leaves out fields that are false or zero (Go's omitempty).
    assert_eq!(v.get("more"), None);
    let kv = &v["kvs"][0];
    assert_eq!(kv["key"], b64("a"));
    assert_eq!(kv["value"], b64("2"));
    assert_eq!(kv["create_revision"], 2);
    assert_eq!(kv["mod_revision"], 3);
    assert_eq!(kv["version"], 2);
    assert_eq!(kv.get("lease"), None);

    // A read at an old revision sees the old value; the header is current.
    let v = json(run(dir, &["--json", "get", "a", "--rev", "2"]));
    assert_eq!(v["header"]["revision"], 4);
    assert_eq!(v["kvs"][0]["value"], b64("1"));
    assert_eq!(v["kvs"][0]["version"], 1);
    assert_eq!(ok(run(dir, &["get", "b", "--rev", "3"])), "");

    let v = json(run(dir, &["--json", "put", "a", "3", "--prev-kv"]));
    assert_eq!(v["header"]["revision"], 5);
    assert_eq!(v["prev_kv"]["value"], b64("2"));
    assert_eq!(v["prev_kv"]["mod_revision"], 3);

    let v = json(run(dir, &["--json", "stats"]));
    assert_eq!(v["revision"], 5);
    assert_eq!(v["compact_revision"], 0);
    assert_eq!(v["live_keys"], 2);
    assert!(v["segments"].as_u64().is_some_and(|n| n >= 1));
    assert!(v["disk_bytes"].as_u64().is_some_and(|n| n > 0));
    let plain = ok(run(dir, &["stats"]));
    assert!(plain.contains("revision: 5\n"), "{plain}");
    assert!(plain.contains("live_keys: 2\n"), "{plain}");
}

#[test]
fn range_prefix_limit_keys_and_count_only() {
    let tmp = tempdir();
    let dir = tmp.path();
    for (k, v) in [("/p/2", "b"), ("/p/1", "a"), ("/q", "z"), ("/p/3", "c")] {
        ok(run(dir, &["put", k, v]));
    }
    assert_eq!(
        ok(run(dir, &["range", "/p/", "--prefix"])),
        "/p/1\na\n/p/2\nb\n/p/3\nc\n"
    );
    assert_eq!(
        ok(run(dir, &["range", "/p/", "--prefix", "--limit", "2"])),
        "/p/1\na\n/p/2\nb\n"
    );
    let v = json(run(
        dir,
        &["--json", "range", "/p/", "--prefix", "--limit", "2"],
    ));
    assert_eq!(v["count"], 3);
    assert_eq!(v["more"], true);
    assert_eq!(v["kvs"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["header"]["revision"], 5);
    assert_eq!(
        ok(run(dir, &["range", "/p/", "--prefix", "--count-only"])),
        "3\n"
    );
    let v = json(run(
        dir,
        &["range", "/p/", "--prefix", "--count-only", "--json"],
    ));
    assert_eq!(v["count"], 3);
    assert_eq!(v.get("kvs"), None);
    // etcdctl prints the (empty) value of each key under --keys-only.
    assert_eq!(
        ok(run(dir, &["range", "/p/", "--prefix", "--keys-only"])),
        "/p/1\n\n/p/2\n\n/p/3\n\n"
    );
    assert_eq!(
        ok(run(dir, &["range", "/p/1", "/p/3"])),
        "/p/1\na\n/p/2\nb\n"
    );
    assert_eq!(
        ok(run(dir, &["range", "/p/3", "--from-key", "--keys-only"])),
        "/p/3\n\n/q\n\n"
    );
    assert_eq!(
        ok(run(dir, &["range", "", "--prefix", "--count-only"])),
        "4\n"
    );
    // At revision 3 only /p/2 and /p/1 existed.
    assert_eq!(
        ok(run(
            dir,
            &["range", "/", "--prefix", "--rev", "3", "--keys-only"]
        )),
        "/p/1\n\n/p/2\n\n"
    );
}

#[test]
fn del_prints_the_deleted_count() {
    let tmp = tempdir();
    let dir = tmp.path();
    for k in ["a1", "a2", "a3", "b1", "c1"] {
        ok(run(dir, &["put", k, "v"]));
    }
    assert_eq!(ok(run(dir, &["del", "absent"])), "0\n");
    assert_eq!(ok(run(dir, &["del", "c1"])), "1\n");
    assert_eq!(ok(run(dir, &["delete", "a1", "a3"])), "2\n");
    let v = json(run(dir, &["--json", "del", "a", "--prefix", "--prev-kv"]));
    assert_eq!(v["deleted"], 1);
    assert_eq!(v["header"]["revision"], 9);
    assert_eq!(v["prev_kvs"][0]["key"], b64("a3"));
    assert_eq!(v["prev_kvs"][0]["value"], b64("v"));
    assert_eq!(ok(run(dir, &["del", "b1", "--prev-kv"])), "1\nb1\nv\n");
    // A delete of nothing consumes no revision.
    let v = json(run(dir, &["--json", "del", "zzz"]));
    assert_eq!(v.get("deleted"), None);
    assert_eq!(v["header"]["revision"], 10);
    assert_eq!(
        ok(run(dir, &["range", "", "--prefix", "--count-only"])),
        "0\n"
    );
}

#[test]
fn txn_with_a_failing_compare_runs_the_failure_branch() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "k", "1"]));
    let input = b"value(\"k\") = \"2\"\nmod(\"k\") > \"0\"\n\nput s yes\n\nput k failed\nget k\nput \"x y\" \"z\"\n";
    assert_eq!(
        ok(run_in(dir, &["txn"], input)),
        "FAILURE\n\nOK\n\nk\nfailed\n\nOK\n"
    );
    assert_eq!(ok(run(dir, &["get", "s"])), "");
    assert_eq!(ok(run(dir, &["get", "x y"])), "x y\nz\n");

    // The same compare now holds; the success branch runs, as one revision.
    let input = b"value(\"k\") = \"failed\"\nversion(\"k\") = \"2\"\ncreate(\"k\") < \"3\"\nlease(\"k\") = \"0\"\n\nput s yes\ndel k\nget k\n\nput never ran\n";
    let v = json(run_in(dir, &["--json", "txn"], input));
    assert_eq!(v["succeeded"], true);
    assert_eq!(v["header"]["revision"], 4);
    let r = &v["responses"];
    assert_eq!(r[0]["Response"]["ResponsePut"]["header"]["revision"], 4);
    assert_eq!(r[1]["Response"]["ResponseDeleteRange"]["deleted"], 1);
    assert_eq!(r[2]["Response"]["ResponseRange"].get("count"), None);
    assert_eq!(ok(run(dir, &["get", "s"])), "s\nyes\n");
    assert_eq!(ok(run(dir, &["get", "never"])), "");

    // A read-only transaction consumes no revision.
    let v = json(run_in(dir, &["--json", "txn"], b"\nget s --count-only\n"));
    assert_eq!(v["header"]["revision"], 4);
    assert_eq!(v["responses"][0]["Response"]["ResponseRange"]["count"], 1);
}

#[test]
fn malformed_txn_input_fails_with_the_line_and_writes_nothing() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "k", "1"]));
    let err = fails(
        run_in(
            dir,
            &["txn"],
            b"mod(\"k\") = \"1\"\nsize(\"k\") > \"1\"\n\nput k 2\n",
        ),
        3,
    );
    assert!(err.starts_with("Error: txn input line 2:"), "{err}");
    assert!(err.contains("unknown target"), "{err}");
    let err = fails(run_in(dir, &["txn"], b"\nput k\n"), 3);
    assert!(err.contains("line 2") && err.contains("value"), "{err}");
    let err = fails(run_in(dir, &["txn"], b"\nput a 1\nput a 2\n"), 1);
    assert!(err.contains("duplicate key"), "{err}");
    assert_eq!(ok(run(dir, &["get", "k"])), "k\n1\n");
    assert_eq!(ok(run(dir, &["get", "a"])), "");
}

#[test]
fn get_at_a_future_revision_fails_naming_the_revision() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "k", "v"]));
    let out = run(dir, &["get", "k", "--rev", "99"]);
    assert!(out.stdout.is_empty());
    let err = fails(out, 1);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("99"), "{err}");
    assert!(err.contains("future"), "{err}");
    let err = fails(run(dir, &["range", "k", "--rev", "42"]), 1);
    assert!(err.contains("42"), "{err}");
}

#[test]
fn a_locked_directory_fails_clearly() {
    let tmp = tempdir();
    let db = revkv::Db::open(tmp.path(), revkv::Options::default()).expect("open");
    db.put("k", "v").expect("put");
    for args in [&["get", "k"][..], &["put", "k", "w"]] {
        let err = fails(run(tmp.path(), args), 4);
        assert!(err.starts_with("Error: "), "{err}");
        assert!(err.contains("locked"), "{err}");
        assert!(err.contains(&tmp.path().display().to_string()), "{err}");
    }
    db.close().expect("close");
    assert_eq!(ok(run(tmp.path(), &["get", "k"])), "k\nv\n");
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let tmp = tempdir();
    let dir = tmp.path();
    fails(run(dir, &["frobnicate"]), 2);
    fails(run(dir, &["get"]), 2);
    fails(run(dir, &["get", "k", "--rev", "-1"]), 2);
    fails(run(dir, &["range", "a", "b", "--prefix"]), 2);
    fails(run(dir, &["put", "k", "v", "--lease", "nope"]), 2);
    let err = fails(run(dir, &["put", "k", "v", "--lease", "0x10"]), 1);
    assert!(err.contains("lease not found: 0000000000000010"), "{err}");
    let err = fails(run(dir, &["get", ""]), 1);
    assert!(err.contains("empty"), "{err}");
    // A range whose end sorts before its key holds nothing, as etcd answers.
    assert_eq!(ok(run(dir, &["range", "b", "a"])), "");
    assert_eq!(ok(run(dir, &["range", "b", "a", "--count-only"])), "0\n");
    let help = ok(run(dir, &["txn", "--help"]));
    assert!(help.contains("mod(\"k\") = \"0\""), "{help}");
    let help = ok(run(dir, &["--help"]));
    assert!(help.contains("base64"), "{help}");
    assert!(help.contains("--write-out"), "{help}");
    assert!(help.contains("REVKV_DIR"), "{help}");
}

#[test]
fn data_directory_defaults_to_env_then_default_revkv() {
    let tmp = tempdir();
    let out = cmd()
        .args(["put", "k", "here"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert_eq!(ok(out), "OK\n");
    assert!(tmp.path().join("default.revkv").is_dir());

    let env_dir = tmp.path().join("from-env");
    let out = cmd()
        .args(["put", "k", "env"])
        .env("REVKV_DIR", &env_dir)
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert_eq!(ok(out), "OK\n");
    // --dir wins over the environment.
    let out = cmd()
        .args(["get", "k", "--dir"])
        .arg(tmp.path().join("default.revkv"))
        .env("REVKV_DIR", &env_dir)
        .output()
        .expect("run");
    assert_eq!(ok(out), "k\nhere\n");
    assert_eq!(ok(run(&env_dir, &["get", "k"])), "k\nenv\n");
}

#[test]
fn reads_of_a_missing_directory_answer_empty_without_creating_it() {
    let tmp = tempdir();
    let dir = tmp.path().join("nothing-here");
    for args in [&["get", "k"][..], &["range", "k", "--prefix"]] {
        assert_eq!(ok(run(&dir, args)), "", "{args:?}");
    }
    let v = json(run(&dir, &["stats", "-w", "json"]));
    assert_eq!(v["live_keys"], 0);
    assert!(!dir.exists());
    // An empty directory (made by mkdir, say) holds no store either: read
    // as an empty store, and left empty.
    std::fs::create_dir(&dir).expect("mkdir");
    assert_eq!(ok(run(&dir, &["get", "k"])), "");
    assert_eq!(ok(run(&dir, &["lease", "list"])), "found 0 leases\n");
    let left: Vec<_> = std::fs::read_dir(&dir).expect("read dir").collect();
    assert!(left.is_empty(), "{left:?}");
}
