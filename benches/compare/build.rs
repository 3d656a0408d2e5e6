//! Records which revkv commit the harness was built against (it is a path
//! dependency on `../..`, which changes under it).

use std::process::Command;

fn git(args: &[&str]) -> String {
    Command::new("git")
        .arg("-C")
        .arg("../..")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn main() {
    println!("cargo:rerun-if-changed=../../src");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/logs/HEAD");
    let head = git(&["log", "-1", "--format=%h %s"]);
    let dirty = git(&["status", "--porcelain", "--", "src"]).replace('\n', "; ");
    println!("cargo:rustc-env=REVKV_BUILD_COMMIT={head}");
    println!("cargo:rustc-env=REVKV_BUILD_DIRTY={dirty}");
}
