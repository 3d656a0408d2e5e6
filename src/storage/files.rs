//! File naming, directory fsync, atomic install and MANIFEST I/O.

use crate::error::{Error, Result};
use crate::format::manifest::{decode_manifest_and_version, encode_manifest, Manifest};
use crate::format::DecodeError;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Name of the MANIFEST file.
pub(crate) const MANIFEST: &str = "MANIFEST";
/// Name of the lock file.
pub(crate) const LOCK: &str = "LOCK";

/// `<id as 20 digits>.seg`
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

/// `<id as 20 digits>.idx`
pub(crate) fn idx_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.idx"))
}

/// What a file in a data directory is, by its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment(u64),
    Index(u64),
    Temp,
    Other,
}

pub(crate) fn classify(name: &str) -> FileKind {
    let id = |stem: &str| {
        (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse::<u64>().ok())
            .flatten()
    };
    if name.ends_with(".tmp") {
        return FileKind::Temp;
    }
    if let Some(id) = name.strip_suffix(".seg").and_then(id) {
        return FileKind::Segment(id);
    }
    if let Some(id) = name.strip_suffix(".idx").and_then(id) {
        return FileKind::Index(id);
    }
    FileKind::Other
}

/// fsyncs a directory so that renames and new entries in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io_at("fsync directory", dir, e))
}

/// Writes `bytes` to `path` atomically: write `path.tmp`, fsync it, rename it
/// over `path`, fsync the directory. After a crash `path` holds either the
/// old or the new bytes, never a mix.
pub(crate) fn install_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.tmp", ext.to_string_lossy()),
        None => "tmp".to_string(),
    });
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io_at("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io_at("write", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io_at("fsync", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, path)
        .map_err(|e| Error::io_at(format!("rename {} to", tmp.display()), path, e))?;
    sync_dir(dir)
}

/// Reads the MANIFEST and the format version it was written with; `Ok(None)`
/// when the directory has none.
pub(crate) fn read_manifest(dir: &Path) -> Result<Option<(Manifest, u32)>> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io_at("read", &path, e)),
    };
    decode_manifest_and_version(&bytes)
        .map(Some)
        .map_err(|e| decode_error(&path, 0, e))
}

/// Installs a new MANIFEST atomically.
pub(crate) fn write_manifest(dir: &Path, m: &Manifest) -> Result<()> {
    install_atomically(dir, &dir.join(MANIFEST), &encode_manifest(m))
}

/// Turns a codec error inside the frame that starts at `frame` of `file`
/// into an [`Error`] whose offset is the frame's own.
pub(crate) fn frame_error(file: &Path, frame: u64, e: DecodeError) -> Error {
    match e {
        DecodeError::Invalid { offset, reason } => Error::corruption(
            file,
            frame,
            format!("{reason} (at byte {offset} of the frame)"),
        ),
        other => decode_error(file, frame, other),
    }
}

/// Turns a codec error at `base + offset` of `file` into an [`Error`].
pub(crate) fn decode_error(file: &Path, base: u64, e: DecodeError) -> Error {
    match e {
        DecodeError::Version { found } => Error::UnsupportedVersion {
            file: file.to_path_buf(),
            found,
            supported: crate::format::FORMAT_VERSION,
        },
        DecodeError::Incomplete { needed } => {
            Error::corruption(file, base, format!("truncated: {needed} bytes needed"))
        }
        DecodeError::Invalid { offset, reason } => {
            Error::corruption(file, base + offset as u64, reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_of(path: &Path) -> String {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    #[test]
    fn names_round_trip() {
        let dir = Path::new("/d");
        assert_eq!(
            classify(&name_of(&segment_path(dir, 7))),
            FileKind::Segment(7)
        );
        assert_eq!(classify(&name_of(&idx_path(dir, 7))), FileKind::Index(7));
        assert_eq!(classify("MANIFEST.tmp"), FileKind::Temp);
        assert_eq!(classify("7.seg"), FileKind::Other);
        assert_eq!(classify("+0000000000000000001.seg"), FileKind::Other);
        assert_eq!(classify("LOCK"), FileKind::Other);
    }

    #[test]
    fn atomic_install_replaces_whole_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = Manifest {
            segments: vec![1],
            next_segment_id: 2,
            ..Manifest::default()
        };
        assert_eq!(read_manifest(dir.path()).expect("read"), None);
        write_manifest(dir.path(), &m).expect("write");
        assert_eq!(
            read_manifest(dir.path()).expect("read"),
            Some((m, crate::format::FORMAT_VERSION))
        );
        assert!(!dir.path().join("MANIFEST.tmp").exists());
    }
}
