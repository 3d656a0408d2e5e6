//! The directory `bench` works in, and the promise that it never deletes
//! anything it did not create.
//!
//! Bench works only in a directory that is missing (it creates it), empty,
//! or left by an earlier `bench --keep`: one that holds bench's marker file
//! and nothing but the names bench writes. The marker is locked for the whole
//! run, so two benches never share a directory. At the end bench removes the
//! names it writes, the marker, and the directories it created (only if they
//! are empty by then).

use crate::error::{Failure, EXIT_FAILED};
use fs2::FileExt;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The marker file that says bench made this directory's contents.
const MARKER: &str = ".revkv-bench";
/// The store's directory, inside the bench directory.
const STORE: &str = "store";
/// The raw fdatasync latency file.
pub const RAW_SYNC: &str = "raw-sync.log";
/// The raw sequential write file.
pub const RAW_SEQ: &str = "raw-seq.bin";
/// The raw fdatasync file of the load phase (around the individual writes).
pub const RAW_SINGLE: &str = "raw-single.log";
/// Every name bench writes besides the marker.
const WRITTEN: [&str; 4] = [STORE, RAW_SYNC, RAW_SEQ, RAW_SINGLE];

/// What the marker file says to whoever finds it.
const MARKER_TEXT: &str = "This directory was made by `revkv bench`. \
Everything in it is benchmark data and may be deleted.\n";

/// The bench directory, prepared and locked.
pub struct Workdir {
    root: PathBuf,
    /// Directories bench created, the outermost first.
    created: Vec<PathBuf>,
    /// The marker, locked until the directory is cleaned up or dropped.
    marker: File,
}

fn failed(message: String) -> Failure {
    Failure::new(EXIT_FAILED, message)
}

fn io_failed(what: &str, path: &Path, e: io::Error) -> Failure {
    failed(format!("{what} {}: {e}", path.display()))
}

impl Workdir {
    /// Checks `root` (see the module docs), creates it when missing, clears
    /// what an earlier `bench --keep` left there, and locks it.
    pub fn prepare(root: &Path) -> Result<Workdir, Failure> {
        let created = create_missing(root)?;
        let names = entries(root)?;
        if !names.is_empty() {
            check_leftover(root, &names)?;
        }
        let marker_path = root.join(MARKER);
        let mut marker = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&marker_path)
            .map_err(|e| io_failed("create", &marker_path, e))?;
        if marker.try_lock_exclusive().is_err() {
            return Err(failed(format!(
                "another revkv bench is running in {}",
                root.display()
            )));
        }
        marker
            .set_len(0)
            .and_then(|()| marker.write_all(MARKER_TEXT.as_bytes()))
            .and_then(|()| marker.sync_all())
            .map_err(|e| io_failed("write", &marker_path, e))?;
        let dir = Workdir {
            root: root.to_path_buf(),
            created,
            marker,
        };
        dir.remove_written()?;
        Ok(dir)
    }

    /// The bench directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The store's directory (not created yet: the first phase opens it).
    #[cfg(test)]
    pub fn store(&self) -> PathBuf {
        store_in(&self.root)
    }

    /// A file bench writes directly (one of the `RAW_*` names).
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Removes everything bench wrote, the marker, and the directories bench
    /// created if nothing else was put in them meanwhile.
    pub fn remove(self) -> Result<(), Failure> {
        self.remove_written()?;
        let Workdir {
            root,
            created,
            marker,
        } = self;
        let _ = FileExt::unlock(&marker);
        drop(marker);
        let marker_path = root.join(MARKER);
        fs::remove_file(&marker_path).map_err(|e| io_failed("remove", &marker_path, e))?;
        for dir in created.iter().rev() {
            // Fails, and so keeps the directory, when it is not empty.
            let _ = fs::remove_dir(dir);
        }
        Ok(())
    }

    fn remove_written(&self) -> Result<(), Failure> {
        for name in WRITTEN {
            let path = self.root.join(name);
            let removed = match fs::symlink_metadata(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
                Ok(md) if md.is_dir() => fs::remove_dir_all(&path),
                Ok(_) => fs::remove_file(&path),
            };
            removed.map_err(|e| io_failed("remove", &path, e))?;
        }
        Ok(())
    }
}

/// The store's directory in the bench directory `root`.
pub fn store_in(root: &Path) -> PathBuf {
    root.join(STORE)
}

/// Creates `root` and its missing parents; returns the ones it created,
/// the outermost first. Fails when `root` exists and is not a directory.
fn create_missing(root: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut missing = Vec::new();
    for dir in root.ancestors() {
        if dir.as_os_str().is_empty() {
            break;
        }
        match fs::symlink_metadata(dir) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(dir.to_path_buf()),
            Err(e) => return Err(io_failed("look at", dir, e)),
        }
    }
    if missing.is_empty() {
        let md = fs::metadata(root).map_err(|e| io_failed("look at", root, e))?;
        if !md.is_dir() {
            return Err(failed(format!("{} is not a directory", root.display())));
        }
        return Ok(missing);
    }
    fs::create_dir_all(root).map_err(|e| io_failed("create", root, e))?;
    missing.reverse();
    Ok(missing)
}

/// The names in `dir`.
fn entries(dir: &Path) -> Result<Vec<OsString>, Failure> {
    let read = fs::read_dir(dir).map_err(|e| io_failed("read", dir, e))?;
    let mut names = Vec::new();
    for entry in read {
        names.push(entry.map_err(|e| io_failed("read", dir, e))?.file_name());
    }
    names.sort();
    Ok(names)
}

/// Accepts a non-empty directory only when it holds bench's marker and
/// nothing but the names bench writes.
fn check_leftover(root: &Path, names: &[OsString]) -> Result<(), Failure> {
    let has_marker = names.iter().any(|n| n == MARKER);
    let foreign: Vec<String> = names
        .iter()
        .filter(|n| *n != MARKER && !WRITTEN.iter().any(|w| *n == w))
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    if has_marker && foreign.is_empty() {
        return Ok(());
    }
    let mut shown = foreign
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if foreign.len() > 3 {
        shown.push_str(", ...");
    }
    Err(failed(format!(
        "{} is not empty and was not made by revkv bench (it holds {shown}); \
         bench never writes into or deletes other data: give a missing or \
         empty directory with --dir",
        root.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn a_missing_directory_is_created_and_removed_with_its_parents() {
        let tmp = tempdir();
        let root = tmp.path().join("a/b/bench");
        let dir = Workdir::prepare(&root).expect("prepare");
        assert!(root.join(MARKER).is_file());
        fs::create_dir(dir.store()).expect("store");
        fs::write(dir.store().join("0001.seg"), b"x").expect("seg");
        fs::write(dir.file(RAW_SYNC), b"x").expect("raw");
        dir.remove().expect("remove");
        assert!(!tmp.path().join("a").exists());
        assert!(tmp.path().exists());
    }

    #[test]
    fn an_empty_directory_is_used_and_kept() {
        let tmp = tempdir();
        let dir = Workdir::prepare(tmp.path()).expect("prepare");
        fs::create_dir(dir.store()).expect("store");
        dir.remove().expect("remove");
        assert!(tmp.path().is_dir());
        assert!(entries(tmp.path()).expect("entries").is_empty());
    }

    #[test]
    fn a_foreign_directory_is_refused_and_left_alone() {
        let tmp = tempdir();
        fs::write(tmp.path().join("precious"), b"data").expect("write");
        fs::create_dir(tmp.path().join(STORE)).expect("store");
        let err = Workdir::prepare(tmp.path()).err().expect("refused");
        assert!(err.message.contains("not made by revkv bench"), "{err}");
        assert!(err.message.contains("precious"), "{err}");
        assert_eq!(
            fs::read(tmp.path().join("precious")).expect("read"),
            b"data"
        );
        assert!(tmp.path().join(STORE).is_dir());
        assert!(!tmp.path().join(MARKER).exists());
        // Bench's own names without the marker are not bench's either.
        let tmp2 = tempdir();
        fs::create_dir(tmp2.path().join(STORE)).expect("store");
        assert!(Workdir::prepare(tmp2.path()).is_err());
        assert!(tmp2.path().join(STORE).is_dir());
    }

    #[test]
    fn a_marked_directory_with_a_foreign_file_is_refused() {
        let tmp = tempdir();
        fs::write(tmp.path().join(MARKER), b"").expect("marker");
        fs::write(tmp.path().join("mine.txt"), b"keep me").expect("write");
        assert!(Workdir::prepare(tmp.path()).is_err());
        assert_eq!(
            fs::read(tmp.path().join("mine.txt")).expect("read"),
            b"keep me"
        );
    }

    #[test]
    fn a_kept_directory_is_cleared_and_reused() {
        let tmp = tempdir();
        let first = Workdir::prepare(tmp.path()).expect("prepare");
        fs::create_dir(first.store()).expect("store");
        fs::write(first.store().join("0001.seg"), b"old").expect("seg");
        fs::write(first.file(RAW_SEQ), b"old").expect("raw");
        drop(first); // as --keep leaves it
        let second = Workdir::prepare(tmp.path()).expect("reuse");
        assert!(!second.store().exists());
        assert!(!second.file(RAW_SEQ).exists());
        second.remove().expect("remove");
    }

    #[test]
    fn a_directory_in_use_is_refused() {
        let tmp = tempdir();
        let first = Workdir::prepare(tmp.path()).expect("prepare");
        fs::create_dir(first.store()).expect("store");
        let err = Workdir::prepare(tmp.path()).err().expect("refused");
        assert!(err.message.contains("another revkv bench"), "{err}");
        assert!(first.store().is_dir());
        first.remove().expect("remove");
    }

    #[test]
    fn a_file_is_refused() {
        let tmp = tempdir();
        let file = tmp.path().join("f");
        fs::write(&file, b"x").expect("write");
        let err = Workdir::prepare(&file).err().expect("refused");
        assert!(err.message.contains("not a directory"), "{err}");
        assert_eq!(fs::read(&file).expect("read"), b"x");
    }
}
