//! Two processes, one directory: while one holds the store open, a second
//! process's open fails at once with `Error::Locked`; after the first exits,
//! the second opens it.

use revkv::{Db, Error, Options};
use std::io::Write;
use std::process::Stdio;
use test_support::child::{test_child, Running};

const CHILD_ENV: &str = "REVKV_LOCK_CHILD_DIR";

/// The child: opens the store, says so, and holds it until stdin closes.
#[test]
#[ignore = "run by lock_is_exclusive_across_processes as a child process"]
fn child_holds_store() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open(&dir, Options::default()).expect("child open");
    db.put("owner", "child").expect("child put");
    // Straight to the stdout handle: the test harness captures `println!`.
    let mut out = std::io::stdout().lock();
    out.write_all(b"REVKV-CHILD-READY\n").expect("write");
    out.flush().expect("flush");
    drop(out);
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn lock_is_exclusive_across_processes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = test_child("child_holds_store");
    cmd.env(CHILD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Running::start(&mut cmd);
    // libtest prints the test's name on the same line first.
    let ready = std::iter::from_fn(|| child.line()).any(|l| l.contains("REVKV-CHILD-READY"));
    assert!(ready, "child never opened the store");

    match Db::open(dir.path(), Options::default()) {
        Err(Error::Locked { path }) => assert_eq!(path, dir.path()),
        other => panic!("expected Locked while the child holds it, got {other:?}"),
    }

    drop(child.take_stdin()); // the child returns and exits
    let status = child.wait().expect("wait");
    assert!(status.success());
    let db = Db::open(dir.path(), Options::default()).expect("open after the child exited");
    assert_eq!(
        db.get("owner").expect("get").expect("present").value,
        b"child"
    );
}
