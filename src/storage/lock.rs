//! The exclusive directory lock: one open `Db` per directory, across
//! processes and within one process (flock locks belong to the open file, so
//! a second open in the same process is refused too).

use super::files::LOCK;
use crate::error::{Error, Result};
use fs2::FileExt;
use std::fs::{File, OpenOptions};
use std::path::Path;

/// Holds the lock until dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

impl DirLock {
    /// Takes the lock at once or fails with [`Error::Locked`].
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io_at("open", &path, e))?;
        match file.try_lock_exclusive() {
            Ok(()) => Ok(DirLock { file }),
            Err(e) if e.kind() == fs2::lock_contended_error().kind() => Err(Error::Locked {
                path: dir.to_path_buf(),
            }),
            Err(e) => Err(Error::io_at("lock", &path, e)),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking first makes
        // the release immediate even if the descriptor lingers.
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_until_first_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path()).expect("first lock");
        assert!(matches!(
            DirLock::acquire(dir.path()),
            Err(Error::Locked { .. })
        ));
        drop(first);
        DirLock::acquire(dir.path()).expect("lock after release");
    }
}
