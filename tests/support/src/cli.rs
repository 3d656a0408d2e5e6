//! Running the built `revkv` command line tool (revkv-cli's tests) against
//! a data directory and checking how it exits.

use crate::child::Running;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `revkv` binary under test. Cargo builds it before revkv-cli's
/// integration tests and names it in `CARGO_BIN_EXE_revkv` while they
/// build and (a recent cargo) while they run; otherwise it is found in the
/// profile directory above the test binary's `deps/`, where cargo puts it.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_revkv") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the path of the running test binary");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("revkv"))
        .expect("the test binary is in target/<profile>/deps");
    assert!(
        path.is_file(),
        "no revkv binary at {}: run these tests through cargo test -p revkv-cli",
        path.display()
    );
    path
}

/// A `revkv` command with no inherited data directory setting.
pub fn cmd() -> Command {
    let mut c = Command::new(binary());
    c.env_remove("REVKV_DIR");
    c
}

/// Runs `revkv --dir DIR ARGS...` with `stdin` as its standard input.
pub fn run_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = cmd()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn revkv");
    {
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).expect("write stdin");
    }
    child.wait_with_output().expect("wait for revkv")
}

/// Runs `revkv --dir DIR ARGS...` with an empty standard input.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    run_in(dir, args, b"")
}

/// Starts `revkv --dir DIR ARGS...` in the background, its standard output
/// and error piped.
pub fn spawn(dir: &Path, args: &[&str]) -> Running {
    Running::start(
        cmd()
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// Asserts success and returns standard output.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "revkv failed with {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Asserts failure with `code` and returns standard error.
pub fn fails(out: Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {} stderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// Asserts success and parses the one JSON line printed.
pub fn json(out: Output) -> Value {
    let text = ok(out);
    assert_eq!(text.lines().count(), 1, "one JSON line: {text}");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Parses each line of `text` as JSON.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// `s` in base64, as a JSON string.
pub fn b64(s: &str) -> Value {
    use base64::Engine;
    Value::String(base64::engine::general_purpose::STANDARD.encode(s))
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
