//! `revkv verify`: a sound store, a problem found by the check, damage that
//! keeps the store from opening, and no progress bar off a terminal.

use revkv::format::frame::{encode_frame, FrameKind};
use revkv::format::record::{encode_txn, OpKind, RecordOp};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use test_support::child::Running;
use test_support::cli::*;
use test_support::files::active_segment;

/// The `name: value` line of plain verify output.
fn figure(out: &str, name: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .parse()
        .expect("a number")
}

#[test]
fn a_sound_store_verifies_clean() {
    let tmp = tempdir();
    let dir = tmp.path();
    for i in 0..5 {
        ok(run(dir, &["put", &format!("k{}", i % 3), "v"]));
    }
    ok(run(dir, &["lease", "grant", "60"]));
    ok(run(dir, &["del", "k0"]));
    let out = run(dir, &["verify"]);
    assert!(out.stderr.is_empty());
    let text = ok(out);
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split(':').next().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "segments",
            "frames",
            "revisions",
            "keys",
            "bytes",
            "problems"
        ]
    );
    assert_eq!(figure(&text, "segments"), 1);
    assert_eq!(figure(&text, "revisions"), 6);
    assert_eq!(figure(&text, "frames"), 7); // six revisions and a lease grant
    assert_eq!(figure(&text, "keys"), 3);
    assert!(figure(&text, "bytes") > 0);
    assert_eq!(figure(&text, "problems"), 0);

    let v = json(run(dir, &["--json", "verify"]));
    assert_eq!(v["opened"], true);
    assert_eq!(v["revisions"], 6);
    assert_eq!(v["problems"], serde_json::json!([]));
}

#[test]
fn a_forked_key_chain_is_a_problem_with_file_and_offset() {
    let tmp = tempdir();
    let dir = tmp.path();
    ok(run(dir, &["put", "node", "1"])); // 2 (a new store is at 1)
    ok(run(dir, &["put", "node", "2"])); // 3
    ok(run(dir, &["del", "node"])); // 4
                                    // Append revision 5 naming revision 2 as its predecessor: a second
                                    // successor of revision 2. Recovery accepts it; verify does not.
    let seg = active_segment(dir);
    let offset = std::fs::metadata(&seg).expect("meta").len();
    let mut payload = Vec::new();
    let op = RecordOp {
        sub: 0,
        kind: OpKind::Put,
        key: b"node",
        value: b"zombie",
        create_revision: 2,
        version: 2,
        lease: 0,
        prev_mod_revision: 2,
    };
    encode_txn(5, &[op], &mut payload);
    let mut frame = Vec::new();
    encode_frame(FrameKind::Txn, &payload, None, &mut frame);
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open segment")
        .write_all(&frame)
        .expect("append");

    let out = run(dir, &["verify"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("revisions: 4\n"));
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let err = fails(out, 1);
    assert_eq!(err, "Error: found 1 problem\n");
    let problem = stdout.lines().last().expect("a problem line");
    let prefix = format!("{}:{offset}: ", seg.display());
    assert!(problem.starts_with(&prefix), "{problem}");
    assert!(problem.contains("previous revision 2"), "{problem}");
    assert!(stdout.contains("problems: 1\n"), "{stdout}");

    let out = run(dir, &["--json", "verify"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    fails(out, 1);
    assert_eq!(v["problems"][0]["file"], seg.display().to_string());
    assert_eq!(v["problems"][0]["offset"], offset);
}

#[test]
fn damage_found_when_opening_is_the_problem() {
    let tmp = tempdir();
    let dir = tmp.path();
    for i in 0..5 {
        ok(run(dir, &["put", &format!("k{i}"), "value"]));
    }
    // Rot a byte of the first frame, which starts right after the 32-byte
    // segment header: followed by valid frames, it is damage, not a torn tail.
    let seg = active_segment(dir);
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[32 + 12] ^= 0x01;
    std::fs::write(&seg, &bytes).expect("write");

    let out = run(dir, &["verify"]);
    let stdout = String::from_utf8(out.stdout.clone()).expect("utf-8");
    let err = fails(out, 1);
    // The store's warnings (here: its checkpoint no longer fits the log)
    // come first; the tool's error is the last line.
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Error: the store could not be opened: corruption in"),
        "{err}"
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("problems: 1"));
    let problem = lines.next().expect("the problem");
    assert!(
        problem.starts_with(&format!("{}:32: ", seg.display())),
        "{problem}"
    );
    assert!(problem.contains("checksum"), "{problem}");
    assert_eq!(lines.next(), None);

    let out = run(dir, &["--json", "verify"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    fails(out, 1);
    assert_eq!(v["opened"], false);
    assert_eq!(v["problems"][0]["offset"], 32);
    // Nothing was changed: other commands fail the same way.
    let err = fails(run(dir, &["get", "k1"]), 1);
    assert!(err.contains("corruption"), "{err}");
}

#[test]
fn missing_and_locked_stores_are_not_problems() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let out = run(&missing, &["verify"]);
    assert!(out.stdout.is_empty());
    let err = fails(out, 1);
    assert!(err.contains("no revkv store"), "{err}");
    assert!(!missing.exists());

    let db = revkv::Db::open(tmp.path(), revkv::Options::default()).expect("open");
    let out = run(tmp.path(), &["verify"]);
    assert!(out.stdout.is_empty());
    let err = fails(out, 4);
    assert!(err.contains("locked"), "{err}");
    db.close().expect("close");
    ok(run(tmp.path(), &["verify"]));
}

#[test]
fn help_describes_the_problem_lines() {
    let tmp = tempdir();
    let help = ok(run(tmp.path(), &["verify", "--help"]));
    assert!(help.contains("FILE:OFFSET: WHAT"), "{help}");
    assert!(help.contains("progress bar"), "{help}");
}

/// Runs `revkv --dir DIR verify` on a pseudo-terminal through util-linux
/// `script` (which the test checked is usable) and returns everything the
/// terminal received.
fn verify_on_a_terminal(dir: &Path) -> String {
    let typescript = dir.with_extension("typescript");
    let command = format!("'{}' --dir '{}' verify", binary().display(), dir.display());
    let mut script = std::process::Command::new("script");
    script
        .args(["-q", "-e", "-c", &command])
        .arg(&typescript)
        .env_remove("REVKV_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    let status = Running::start(&mut script)
        .finish_within(std::time::Duration::from_secs(120), "script")
        .status;
    assert!(status.success(), "{status:?}");
    let seen = std::fs::read(&typescript).expect("typescript");
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn progress_bar_only_on_a_terminal_and_for_a_large_store() {
    let tmp = tempdir();
    let small = tmp.path().join("small");
    ok(run(&small, &["put", "k", "v"]));
    let large = tmp.path().join("large");
    {
        let db = revkv::Db::open(
            &large,
            revkv::Options::default()
                .segment_size(2 << 20)
                .sync(revkv::SyncPolicy::Never)
                .compression(revkv::Compression::None),
        )
        .expect("open");
        for i in 0..6u8 {
            db.put(format!("k{i}"), vec![i; 1 << 20]).expect("put");
        }
        db.close().expect("close");
    }
    // Piped: no bar, whatever the size.
    let out = run(&large, &["verify"]);
    assert!(out.stderr.is_empty());
    assert!(figure(&ok(out), "bytes") > 4 << 20);

    // On a terminal: a bar for the large store only. `script` comes with
    // util-linux (Debian: bsdutils), which .ci/run installs.
    if !test_support::tools::usable(
        "script",
        &["--version"],
        "progress_bar_only_on_a_terminal_and_for_a_large_store (its terminal half)",
    ) {
        return;
    }
    let seen = verify_on_a_terminal(&small);
    assert!(seen.contains("problems: 0"), "{seen}");
    assert!(!seen.contains("verifying"), "{seen}");
    let seen = verify_on_a_terminal(&large);
    assert!(seen.contains("problems: 0"), "{seen}");
    assert!(seen.contains("verifying ["), "{seen}");
    assert!(seen.contains("MiB"), "{seen}");
}
