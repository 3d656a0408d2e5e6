//! The one directory lister, and copies of a data directory.

use std::path::{Path, PathBuf};

/// Every entry of `dir` (files and directories alike), sorted by path.
pub fn try_list(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        out.push(entry?.path());
    }
    out.sort();
    Ok(out)
}

/// Every entry of `dir` (files and directories alike), sorted by path;
/// panics if `dir` cannot be listed.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    try_list(dir).unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
}

/// The names of every entry of `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    list(dir).iter().map(|p| file_name(p)).collect()
}

/// The file name of `path`, lossily as UTF-8 ("" for none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The entries of `dir` whose name ends in `.ext`, sorted.
pub fn with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    list(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect()
}

/// Every `.seg` of a data directory, oldest first: the last is the active
/// segment.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    with_ext(dir, "seg")
}

/// The highest-numbered `.seg` of a data directory: the active segment.
pub fn active_segment(dir: &Path) -> PathBuf {
    segments(dir)
        .pop()
        .unwrap_or_else(|| panic!("no segment in {}", dir.display()))
}

/// Every path under `dir`, recursively (directories too), sorted.
pub fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for path in list(&d) {
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Copies the regular files of `from` into `to`, which is emptied (or
/// made) first.
pub fn try_copy_dir_into(from: &Path, to: &Path) -> std::io::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    std::fs::create_dir_all(to)?;
    for path in try_list(from)? {
        if std::fs::symlink_metadata(&path)?.file_type().is_file() {
            std::fs::copy(&path, to.join(file_name(&path)))?;
        }
    }
    Ok(())
}

/// Copies the regular files of a data directory into a new temporary
/// directory: with the store open and its writes acknowledged (fsynced),
/// the copy is what a crash would leave.
pub fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    try_copy_dir_into(from, to.path())
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.path().display()));
    to
}
