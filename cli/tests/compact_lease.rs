//! `revkv compact` and `revkv lease ...` run as a user would, each command
//! its own process.

use std::thread::sleep;
use std::time::Duration;
use test_support::cli::*;

/// The id in `lease ID granted with TTL(Ns)`.
fn granted_id(line: &str) -> i64 {
    let id = line
        .strip_prefix("lease ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no lease id in {line:?}"));
    i64::from_str_radix(id, 16).expect("a hex lease id")
}

#[test]
fn compact_refuses_old_reads_and_reports_bad_revisions() {
    let tmp = tempdir();
    let dir = tmp.path();
    // Revisions 2, 3, 4 (a new store is at 1, as etcd's).
    for v in ["1", "2", "3"] {
        ok(run(dir, &["put", "k", v]));
    }
    assert_eq!(ok(run(dir, &["compact", "3"])), "compacted revision 3\n");
    let err = fails(run(dir, &["get", "k", "--rev", "2"]), 1);
    assert!(
        err.contains("required revision has been compacted (compact revision 3)"),
        "{err}"
    );
    assert_eq!(ok(run(dir, &["get", "k", "--rev", "3"])), "k\n2\n");
    assert!(ok(run(dir, &["stats"])).contains("compact_revision: 3\n"));

    // At or below the compaction point, and in the future: the library's
    // messages, status 1.
    let err = fails(run(dir, &["compact", "3"]), 1);
    assert_eq!(
        err,
        "Error: required revision has been compacted (compact revision 3)\n"
    );
    let err = fails(run(dir, &["compact", "9"]), 1);
    assert_eq!(
        err,
        "Error: required revision 9 is a future revision (current 4)\n"
    );
    fails(run(dir, &["compact", "0"]), 2);
    fails(run(dir, &["compact", "x"]), 2);

    // etcdctl prints this line whatever the output format.
    assert_eq!(
        ok(run(dir, &["--json", "compact", "4", "--physical"])),
        "compacted revision 4\n"
    );
    let err = fails(run(dir, &["get", "k", "--rev", "3"]), 1);
    assert!(err.contains("compact revision 4"), "{err}");
    assert_eq!(ok(run(dir, &["get", "k"])), "k\n3\n");
    // table and fields too: etcdctl's compaction does not go through its
    // printer, so no format is refused.
    ok(run(dir, &["put", "k", "4"]));
    ok(run(dir, &["put", "k", "5"]));
    for (format, rev) in [("table", "5"), ("fields", "6")] {
        assert_eq!(
            ok(run(dir, &["-w", format, "compaction", rev])),
            format!("compacted revision {rev}\n"),
        );
    }

    // A missing store is answered as an empty one (at revision 1, as a new
    // etcd), and not created.
    let missing = dir.join("missing");
    let err = fails(run(&missing, &["compact", "2"]), 1);
    assert!(err.contains("future revision"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn physical_compaction_removes_old_segments_of_a_large_store() {
    let tmp = tempdir();
    let dir = tmp.path();
    // 64 MiB segments would be slow to fill: write 40 values of 1 MiB
    // through the library with 4 MiB segments, then compact with the tool.
    {
        let db = revkv::Db::open(
            dir,
            revkv::Options::default()
                .segment_size(4 << 20)
                .sync(revkv::SyncPolicy::Never)
                .compression(revkv::Compression::None),
        )
        .expect("open");
        // Revisions 2..=41.
        for i in 0..40u32 {
            db.put("big", vec![i as u8; 1 << 20]).expect("put");
        }
        db.close().expect("close");
    }
    let before = json(run(dir, &["--json", "stats"]));
    assert_eq!(
        ok(run(dir, &["compact", "41", "--physical"])),
        "compacted revision 41\n"
    );
    let after = json(run(dir, &["--json", "stats"]));
    let bytes = |v: &serde_json::Value| v["disk_bytes"].as_u64().expect("disk_bytes");
    assert!(
        bytes(&after) < bytes(&before) / 4,
        "before {before}, after {after}"
    );
    assert_eq!(after["compact_revision"], 41);
    let v = json(run(dir, &["--json", "get", "big"]));
    assert_eq!(v["kvs"][0]["mod_revision"], 41);
    // Larger than 4 MiB, but standard error is not a terminal: no progress bar.
    let out = run(dir, &["verify"]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ok(out).ends_with("problems: 0\n"));
}

#[test]
fn lease_grant_attach_ttl_list_keep_alive_and_revoke() {
    let tmp = tempdir();
    let dir = tmp.path();
    // grant creates the store; ids are hex, as etcdctl's.
    assert_eq!(
        ok(run(dir, &["lease", "grant", "60", "--id", "0x10"])),
        "lease 0000000000000010 granted with TTL(60s)\n"
    );
    let picked = granted_id(&ok(run(dir, &["lease", "grant", "100"])));
    assert!(picked > 0);
    ok(run(dir, &["put", "a", "1", "--lease", "10"]));
    ok(run(dir, &["put", "b", "2", "--lease", "0x10"]));
    ok(run(
        dir,
        &["put", "c", "3", "--lease", &format!("{picked:x}")],
    ));

    assert_eq!(
        ok(run(dir, &["lease", "ttl", "10"])),
        "lease 0000000000000010 granted with TTL(60s), remaining(60s)\n"
    );
    assert_eq!(
        ok(run(dir, &["lease", "timetolive", "0x10", "--keys"])),
        "lease 0000000000000010 granted with TTL(60s), remaining(60s), attached keys([a b])\n"
    );
    let v = json(run(dir, &["--json", "lease", "ttl", "10", "--keys"]));
    assert_eq!(v["id"], 16);
    assert_eq!(v["ttl"], 60);
    assert_eq!(v["granted-ttl"], 60);
    assert_eq!(v["keys"], serde_json::json!([b64("a"), b64("b")]));
    assert_eq!(v["revision"], 4);

    let mut ids = [16, picked];
    ids.sort();
    assert_eq!(
        ok(run(dir, &["lease", "list"])),
        format!("found 2 leases\n{:016x}\n{:016x}\n", ids[0], ids[1])
    );
    let v = json(run(dir, &["--json", "lease", "list"]));
    assert_eq!(
        v["leases"],
        serde_json::json!([{ "id": ids[0] }, { "id": ids[1] }])
    );

    assert_eq!(
        ok(run(dir, &["lease", "keep-alive", "--once", "10"])),
        "lease 0000000000000010 keepalived with TTL(60)\n"
    );
    let v = json(run(dir, &["--json", "lease", "keep-alive", "10", "--once"]));
    assert_eq!((v["ID"].clone(), v["TTL"].clone()), (16.into(), 60.into()));

    // Revoke deletes both keys in one revision, which JSON reports.
    let v = json(run(dir, &["--json", "lease", "revoke", "10"]));
    assert_eq!(v["header"]["revision"], 5);
    assert_eq!(
        ok(run(dir, &["range", "", "--prefix", "--keys-only"])),
        "c\n\n"
    );
    assert_eq!(
        ok(run(dir, &["lease", "revoke", &format!("{picked:x}")])),
        format!("lease {picked:016x} revoked\n")
    );
    assert_eq!(ok(run(dir, &["lease", "list"])), "found 0 leases\n");
    assert_eq!(
        ok(run(dir, &["range", "", "--prefix", "--count-only"])),
        "0\n"
    );
    // Both deletions are in the history.
    let history = ok(run(
        dir,
        &["watch", "", "--prefix", "--rev", "5", "--timeout", "0.3"],
    ));
    assert_eq!(history, "DELETE\na\n\nDELETE\nb\n\nDELETE\nc\n\n");
}

#[test]
fn lease_failures_and_bad_arguments() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "30", "--id", "7"]));
    let err = fails(run(dir, &["lease", "grant", "30", "--id", "7"]), 1);
    assert_eq!(err, "Error: lease already exists: 0000000000000007\n");
    for args in [
        &["lease", "revoke", "8"][..],
        &["lease", "keep-alive", "0x8", "--once"],
    ] {
        let err = fails(run(dir, args), 1);
        assert_eq!(
            err, "Error: requested lease not found: 0000000000000008\n",
            "{args:?}"
        );
    }
    // As etcdctl: timetolive answers TTL -1, keep-alive says it is gone.
    assert_eq!(
        ok(run(dir, &["lease", "ttl", "8"])),
        "lease 0000000000000008 already expired\n"
    );
    assert_eq!(
        ok(run(dir, &["lease", "keep-alive", "8"])),
        "lease 0000000000000008 expired or revoked.\n"
    );
    // etcdctl says so only in the simple format: with -w json or fields
    // nothing is printed for a lease that is gone, and the status is 0.
    for format in ["json", "fields"] {
        assert_eq!(
            ok(run(dir, &["lease", "keep-alive", "8", "-w", format])),
            "",
            "{format}"
        );
    }
    let err = fails(run(dir, &["lease", "grant", "5", "--id=-3"]), 1);
    assert!(err.contains("negative"), "{err}");
    fails(run(dir, &["lease", "grant", "0"]), 2);
    fails(run(dir, &["lease", "grant", "-5"]), 2);
    fails(run(dir, &["lease", "revoke", "zz"]), 2);
    fails(
        run(dir, &["lease", "keep-alive", "7", "--once", "--count", "2"]),
        2,
    );
    fails(run(dir, &["lease", "keep-alive", "7", "--every", "0"]), 2);
    fails(run(dir, &["lease"]), 2);
    let missing = dir.join("missing");
    assert_eq!(ok(run(&missing, &["lease", "list"])), "found 0 leases\n");
    assert_eq!(
        ok(run(&missing, &["lease", "ttl", "7"])),
        "lease 0000000000000007 already expired\n"
    );
    assert!(!missing.exists());
    let help = ok(run(dir, &["lease", "--help"]));
    assert!(help.contains("wall-clock"), "{help}");
    assert!(
        help.contains("only expires while some process has the store"),
        "{help}"
    );
    let help = ok(run(dir, &["lease", "grant", "--help"]));
    assert!(help.contains("in hex"), "{help}");
}

#[test]
fn a_lease_expires_between_invocations_and_the_next_command_sees_it_gone() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "1", "--id", "5"]));
    ok(run(dir, &["put", "session", "me", "--lease", "5"]));
    ok(run(dir, &["put", "stays", "x"]));
    sleep(Duration::from_millis(1300));
    // Nothing had the store open at the deadline; the next command, a read,
    // revokes the lease before it reads.
    assert_eq!(ok(run(dir, &["get", "session"])), "");
    assert_eq!(
        ok(run(dir, &["lease", "ttl", "5"])),
        "lease 0000000000000005 already expired\n"
    );
    assert_eq!(ok(run(dir, &["lease", "list"])), "found 0 leases\n");
    let err = fails(run(dir, &["put", "again", "v", "--lease", "5"]), 1);
    assert!(err.contains("lease not found: 0000000000000005"), "{err}");
    assert_eq!(
        ok(run(
            dir,
            &["watch", "session", "--rev", "1", "--timeout", "0.3"]
        )),
        "PUT\nsession\nme\nDELETE\nsession\n\n"
    );
    assert_eq!(ok(run(dir, &["get", "stays"])), "stays\nx\n");
}

#[test]
fn keep_alive_every_repeats_count_times_and_keeps_the_lease() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "1", "--id", "9"]));
    ok(run(dir, &["put", "k", "v", "--lease", "9"]));
    // Seven keep-alives 0.25 s apart span 1.5 s, longer than the TTL.
    let out = ok(run(
        dir,
        &[
            "lease",
            "keep-alive",
            "9",
            "--every",
            "0.25",
            "--count",
            "7",
        ],
    ));
    assert_eq!(
        out,
        "lease 0000000000000009 keepalived with TTL(1)\n".repeat(7)
    );
    assert_eq!(ok(run(dir, &["get", "k"])), "k\nv\n");
    let out = ok(run(
        dir,
        &[
            "--json",
            "lease",
            "keep-alive",
            "9",
            "--every",
            "0.1",
            "--count",
            "2",
        ],
    ));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2);
    for v in lines {
        assert_eq!((v["ID"].clone(), v["TTL"].clone()), (9.into(), 1.into()));
    }
}

#[test]
fn keep_alive_every_longer_than_the_ttl_warns_then_stops_once_expired() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "1", "--id", "3"]));
    ok(run(dir, &["put", "k", "v", "--lease", "3"]));
    let out = run(
        dir,
        &["lease", "keep-alive", "3", "--every", "1.6", "--count", "2"],
    );
    // The process kept the store open past the deadline: the lease expired
    // in it, and the next keep-alive found it gone, which ends the command
    // as it ends etcdctl's (status 0).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "lease 0000000000000003 keepalived with TTL(1)\n\
         lease 0000000000000003 expired or revoked.\n"
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: --every 1.6s is not shorter"),
        "{err}"
    );
    assert_eq!(ok(run(dir, &["get", "k"])), "");
}

#[test]
fn keep_alive_every_stops_cleanly_when_interrupted() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["lease", "grant", "2", "--id", "4"]));
    let mut child = spawn(dir, &["lease", "keep-alive", "4", "--every", "0.2"]);
    for _ in 0..3 {
        assert_eq!(
            child.line().as_deref(),
            Some("lease 0000000000000004 keepalived with TTL(2)")
        );
    }
    child.interrupt();
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    // The store was closed properly: it opens at once, the lease alive.
    let ttl = ok(run(dir, &["lease", "ttl", "4"]));
    assert!(
        ttl.starts_with("lease 0000000000000004 granted with TTL(2s), remaining("),
        "{ttl}"
    );
}
