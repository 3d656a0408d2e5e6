//! Helpers shared by the integration tests: `mod support;` in a test file.
//! Each test binary compiles all of it and uses only a part.
#![allow(dead_code)]

pub mod watch_checker;

/// xorshift64* seeded through splitmix64: a small, reproducible PRNG (no
/// dependency), so a failing run can be replayed from its printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_f491_4f6c_dd1d } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A generator for another thread, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// A seed from the environment variable `var`, or from the clock.
pub fn seed_from_env(var: &str) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Checks the key-index checkpoint left in `dir`, if any, against the
/// MANIFEST's segment list and compaction revisions: after open, a stale
/// checkpoint must have been removed or replaced (format.md §8a).
pub fn checkpoint_fits(
    dir: &std::path::Path,
    segments: &[u64],
    scheduled: u64,
    finished: u64,
) -> Result<(), String> {
    let path = dir.join("KEYINDEX");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("read {}: {e}", path.display())),
    };
    let (h, _) = revkv::format::checkpoint::decode_checkpoint(&bytes)
        .map_err(|e| format!("KEYINDEX does not decode: {e}"))?;
    if segments.starts_with(&h.segments)
        && (h.compact_scheduled, h.compact_finished) == (scheduled, finished)
    {
        Ok(())
    } else {
        Err(format!(
            "stale KEYINDEX (segments {:?}, compaction {}/{}) beside MANIFEST segments {segments:?}, compaction {scheduled}/{finished}",
            h.segments, h.compact_scheduled, h.compact_finished
        ))
    }
}

/// Copies the regular files of a data directory into a new temporary
/// directory: with the store open and its writes acknowledged (fsynced),
/// the copy is what a crash would leave.
pub fn copy_dir(from: &std::path::Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.path().join(entry.file_name())).expect("copy");
        }
    }
    to
}

/// Sets the format version of a file header (the u32 at +8) to `version`
/// and recomputes the CRC-32 at `crc_at`, which covers every byte before
/// it: the file as a build of that version would have written it, for the
/// headers whose layout no version changed (format.md §2.3).
pub fn set_header_version(file: &mut [u8], version: u32, crc_at: usize) {
    file[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&file[..crc_at]);
    file[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
}
