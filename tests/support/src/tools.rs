//! External programs a test needs (strace, `script`): CI installs them
//! (`.ci/run`), so there a missing one fails the test; elsewhere the test
//! may skip, saying why.

use std::process::{Command, Stdio};

/// Whether this run is CI's: the variable `CI` is set to anything but "",
/// "0" or "false" (CI runs `.ci/run` with `CI=true`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Whether `program` runs here: `probe` (its arguments) must exit with
/// success. When it does not, panics in CI (a test there must never pass
/// by skipping) and otherwise prints that `test` is skipped and returns
/// false.
pub fn usable(program: &str, probe: &[&str], test: &str) -> bool {
    let outcome = Command::new(program)
        .args(probe)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let why = match outcome {
        Ok(status) if status.success() => return true,
        Ok(status) => format!("`{program} {}` ended with {status}", probe.join(" ")),
        Err(e) => format!("{program} cannot be run: {e}"),
    };
    assert!(
        !in_ci(),
        "{test} needs {program}, which .ci/run installs: {why}"
    );
    eprintln!("skipped {test}: {why} (outside CI; in CI this fails)");
    false
}
