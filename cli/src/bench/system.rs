//! What bench measures or reads about the machine rather than the store:
//! the disk's raw limits, disk usage, peak RSS, the filesystem, the load
//! average and the time of day.

use super::data::Rng;
use std::fs::{self, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The median and the 99th percentile of `n` writes of 200 bytes +
/// fdatasync to a fresh file at `path` (removed afterwards): appends that
/// grow the file, or (`allocated`) writes into bytes written (zeros) and
/// synced beforehand, so that fdatasync has no file length to write. `tick`
/// is told how many were done.
pub fn fdatasync_latency(
    path: &Path,
    n: u64,
    allocated: bool,
    tick: &mut dyn FnMut(u64),
) -> io::Result<(Duration, Duration)> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let buf = [0x5au8; 200];
    if allocated {
        let zeros = vec![0u8; buf.len()];
        for _ in 0..n {
            f.write_all(&zeros)?;
        }
        f.sync_all()?;
        f.seek(SeekFrom::Start(0))?;
    }
    let mut lat = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 0..n {
        let t = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        lat.push(t.elapsed());
        tick(i + 1);
    }
    drop(f);
    fs::remove_file(path)?;
    lat.sort_unstable();
    Ok((percentile(&lat, 0.5), percentile(&lat, 0.99)))
}

/// Sequential write bandwidth in MiB/s: `mib` MiB of random bytes in 1 MiB
/// writes to a fresh file at `path`, then fsync (removed afterwards); `tick`
/// is told how many MiB were written.
pub fn sequential_write(path: &Path, mib: u64, tick: &mut dyn FnMut(u64)) -> io::Result<f64> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let mut chunk = vec![0u8; 1 << 20];
    Rng::new(42).fill(&mut chunk);
    let t = Instant::now();
    for i in 0..mib {
        f.write_all(&chunk)?;
        tick(i + 1);
    }
    f.sync_all()?;
    let secs = t.elapsed().as_secs_f64();
    drop(f);
    fs::remove_file(path)?;
    Ok(mib as f64 / secs)
}

/// The element at fraction `p` of `sorted` (nearest rank); zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Allocated and apparent bytes of every file under `dir`.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    let mut alloc = 0;
    let mut apparent = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(md) = entry.metadata() else { continue };
            if md.is_dir() {
                stack.push(entry.path());
            } else {
                alloc += allocated(&md);
                apparent += md.len();
            }
        }
    }
    (alloc, apparent)
}

#[cfg(unix)]
fn allocated(md: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    md.blocks() * 512
}

#[cfg(not(unix))]
fn allocated(md: &fs::Metadata) -> u64 {
    md.len()
}

/// This process's peak resident set (VmHWM) in bytes; None where
/// `/proc/self/status` does not say (anywhere but Linux).
pub fn peak_rss() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The filesystem holding `dir`, as `type on device`, from /proc/mounts
/// (the longest mount point that is a prefix of `dir`); None elsewhere.
pub fn filesystem(dir: &Path) -> Option<String> {
    let dir = fs::canonicalize(dir).ok()?;
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [device, mount_point, fs_type, ..] = f[..] else {
            continue;
        };
        if dir.starts_with(mount_point) && best.as_ref().is_none_or(|(l, _)| mount_point.len() > *l)
        {
            best = Some((mount_point.len(), format!("{fs_type} on {device}")));
        }
    }
    best.map(|(_, s)| s)
}

/// The load average over 1, 5 and 15 minutes, from /proc/loadavg.
pub fn load_average() -> Option<String> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    (fields.len() == 3).then(|| fields.join(" "))
}

/// The time now in UTC, `YYYY-MM-DD HH:MM`.
pub fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The calendar date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_the_calendars() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_414), (2025, 11, 22));
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&ms, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn disk_usage_counts_every_file_below() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(tmp.path().join("sub")).expect("mkdir");
        fs::write(tmp.path().join("a"), [1u8; 1000]).expect("write");
        fs::write(tmp.path().join("sub/b"), [1u8; 24]).expect("write");
        assert_eq!(disk_usage(tmp.path()).1, 1024);
    }
}
