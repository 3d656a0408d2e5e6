//! The etcdctl flags and behaviours that the comparison with etcdctl
//! (etcd_parity.rs) cannot run as one-shot steps: `watch -i`, the variables
//! of `watch -- CMD`, `lease keep-alive` renewing until stopped, and the
//! formats only revkv has (`-w table` for its own figures, `bench -w json`).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use test_support::cli::{b64, cmd, fails, json, ok, run, run_in, spawn, tempdir};

#[test]
fn watch_exec_sets_etcdctls_variables_and_stops_on_a_failing_command() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "k\"q", "line1\nline2"]));
    ok(run(dir, &["del", "k\"q"]));
    let script = "printf '%s|%s|%s|%s\\n' \"$ETCD_WATCH_REVISION\" \"$ETCD_WATCH_EVENT_TYPE\" \
                  \"$ETCD_WATCH_KEY\" \"$ETCD_WATCH_VALUE\"";
    let out = ok(run(
        dir,
        &[
            "watch", "k\"q", "--rev", "1", "--count", "2", "--", "sh", "-c", script,
        ],
    ));
    // The events are printed, then the command runs once per event with the
    // response's revision and Go-quoted type, key and value (quotes kept).
    assert_eq!(
        out,
        "PUT\nk\"q\nline1\nline2\nDELETE\nk\"q\n\n\
         3|\"PUT\"|\"k\\\"q\"|\"line1\\nline2\"\n\
         3|\"DELETE\"|\"k\\\"q\"|\"\"\n"
    );
    let err = fails(
        run(
            dir,
            &["watch", "k\"q", "--rev", "1", "--", "sh", "-c", "exit 3"],
        ),
        1,
    );
    assert_eq!(
        err,
        "Error: command [\"sh\" \"-c\" \"exit 3\"] error (exit status 3)\n"
    );
}

#[test]
fn watch_interactive_reads_requests_until_the_end_of_its_input() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "a", "1"]));
    ok(run(dir, &["put", "b", "2"]));
    let mut child = cmd()
        .arg("--dir")
        .arg(dir)
        .args(["watch", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = BufReader::new(child.stdout.take().expect("stdout"));
    let mut lines = |n: usize| -> String {
        (0..n)
            .map(|_| {
                let mut line = String::new();
                output.read_line(&mut line).expect("read");
                line
            })
            .collect()
    };
    input
        .write_all(b"watch a --rev 1\nwatch --rev 3 b -- echo ran\n")
        .expect("write");
    input.flush().expect("flush");
    let mut got: Vec<String> = vec![lines(3), lines(4)];
    got.sort();
    assert_eq!(got, ["PUT\na\n1\n", "PUT\nb\n2\nran\n"]);
    input
        .write_all(b"bogus\nwatch\nwatch -i\n\nprogress\n")
        .expect("write");
    input.flush().expect("flush");
    // Each watch answers the progress request.
    assert_eq!(lines(2), "progress notify: 3\nprogress notify: 3\n");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "Invalid command bogus (only support watch)\n\
         Invalid command watch (command type or key is not provided)\n\
         Invalid command watch -i (watch needs a key)\n\
         Invalid command:  (watch and progress supported)\n\
         Error: error reading watch request line: EOF\n"
    );
}

#[test]
fn keep_alive_renews_until_interrupted_and_once_renews_once() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "3", "--id", "2a"]));
    assert_eq!(
        ok(run(dir, &["lease", "keep-alive", "--once", "2a"])),
        "lease 000000000000002a keepalived with TTL(3)\n"
    );
    // Without --once: every TTL/3 (1 s here) until stopped.
    let mut child = spawn(dir, &["lease", "keep-alive", "2a"]);
    for _ in 0..2 {
        assert_eq!(
            child.line().as_deref(),
            Some("lease 000000000000002a keepalived with TTL(3)")
        );
    }
    child.interrupt();
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    fails(
        run(
            dir,
            &["lease", "keep-alive", "2a", "--once", "--every", "1"],
        ),
        2,
    );
}

#[test]
fn put_ignore_flags_refuse_what_etcd_refuses() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "60", "--id", "7"]));
    ok(run(dir, &["put", "k", "v", "--lease", "7"]));
    let err = fails(run(dir, &["put", "k", "w", "--ignore-value"]), 2);
    assert!(err.contains("needs only 1 argument"), "{err}");
    let err = fails(
        run(dir, &["put", "k", "w", "--ignore-lease", "--lease", "7"]),
        1,
    );
    assert_eq!(err, "Error: lease is provided\n");
    let err = fails(run(dir, &["put", "nokey", "--ignore-lease", "x"]), 1);
    assert_eq!(err, "Error: key not found\n");
    // Both kept: a new revision with the same value and lease.
    let v = json(run(
        dir,
        &["put", "k", "--ignore-value", "--ignore-lease", "-w", "json"],
    ));
    assert_eq!(v["header"]["revision"], 3);
    let v = json(run(dir, &["get", "k", "-w", "json"]));
    assert_eq!(v["kvs"][0]["value"], b64("v"));
    assert_eq!(v["kvs"][0]["lease"], 7);
    assert_eq!(v["kvs"][0]["version"], 2);
    // Inside a txn the library has no such put: refused as bad input.
    let err = fails(run_in(dir, &["txn"], b"\nput k --ignore-value\n"), 3);
    assert!(err.contains("not supported inside a txn"), "{err}");
}

#[test]
fn output_formats_refused_and_revkvs_own_tables() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "k", "v"]));
    for (format, message) in [
        ("bogus", "Error: unsupported output format\n"),
        (
            "protobuf",
            "Error: protobuf not supported as output format\n",
        ),
    ] {
        assert_eq!(fails(run(dir, &["get", "k", "-w", format]), 4), message);
    }
    let table = ok(run(dir, &["stats", "-w", "table"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("+-") && lines[0] == lines[2] && lines[0] == lines[4]);
    assert!(
        lines[1].starts_with("| REVISION | COMPACT REVISION | LIVE KEYS |"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("|        2 |                0 |         1 |"),
        "{table}"
    );
    let fields = ok(run(dir, &["stats", "-w", "fields"]));
    assert!(
        fields.starts_with("\"Revision\" : 2\n\"CompactRevision\" : 0\n"),
        "{fields}"
    );
    // --print-value-only is for the simple format only, as etcdctl says.
    for format in ["json", "fields"] {
        let err = fails(
            run(dir, &["get", "k", "--print-value-only", "-w", format]),
            2,
        );
        assert_eq!(
            err,
            "Error: print-value-only is only for `--write-out=simple`\n"
        );
    }
    // --json is another name for -w json.
    assert_eq!(
        ok(run(dir, &["--json", "get", "k"])),
        ok(run(dir, &["-w", "json", "get", "k"]))
    );
    // --count-only prints the count in the simple format (revkv's), and
    // etcd's shape in JSON: no kvs.
    assert_eq!(
        ok(run(dir, &["get", "", "--prefix", "--count-only"])),
        "1\n"
    );
    let v = json(run(
        dir,
        &["get", "", "--prefix", "--count-only", "-w", "json"],
    ));
    assert_eq!(
        v,
        serde_json::json!({"header": {"revision": 2}, "count": 1})
    );
}

#[test]
fn bench_prints_its_report_as_json_with_w_json() {
    let tmp = tempdir();
    let out = cmd()
        .args(["-w", "json", "bench", "--dir"])
        .arg(tmp.path().join("b"))
        .args(["--entries", "1000", "--cap-secs", "30"])
        .args(["--single-writes", "10", "--thread-writes", "2"])
        .args(["--raw-syncs", "5", "--raw-mib", "1"])
        .output()
        .expect("run");
    let v = json(out);
    let rows = v["rows"].as_array().expect("rows");
    assert!(rows.len() > 10, "{v}");
    for row in rows {
        assert!(
            row["workload"].as_str().is_some_and(|w| !w.is_empty()),
            "{row}"
        );
        assert!(row["revkv"].as_str().is_some(), "{row}");
    }
    assert!(rows.iter().any(|r| r["workload"]
        .as_str()
        .is_some_and(|w| w.starts_with("bulk load"))));
    assert!(v["about"].as_array().is_some_and(|a| !a.is_empty()));
    assert!(v["notes"].as_str().is_some_and(|n| n.contains("durable")));
}
