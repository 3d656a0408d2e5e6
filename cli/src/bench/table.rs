//! The results as the comparison harness's markdown table (same rows, same
//! `time · rate` cells; benches/compare/src/main.rs), for revkv alone.

use super::runner::Results;
use super::{Plan, BATCH, CRASH_BATCHES, RAW_AROUND_SINGLE, THREADS};
use std::fmt::Write as _;

/// Bytes of one key and its value.
const ENTRY_BYTES: u64 = (super::data::KEY_LEN + super::data::VALUE_LEN) as u64;

/// The disk's raw limits, measured by the `bench` process itself.
#[derive(Debug, Clone, Copy)]
pub struct Raw {
    /// Append 200 B + fdatasync: median, seconds.
    pub fdatasync_p50: f64,
    /// Append 200 B + fdatasync: 99th percentile, seconds.
    pub fdatasync_p99: f64,
    /// Write 200 B into allocated space + fdatasync: median, seconds.
    pub alloc_fdatasync_p50: f64,
    /// Write 200 B into allocated space + fdatasync: 99th percentile, seconds.
    pub alloc_fdatasync_p99: f64,
    /// Sequential write, MiB/s.
    pub seq_mib_s: f64,
}

/// A duration in seconds, in the unit that suits it.
pub fn fmt_secs(s: f64) -> String {
    if s.is_nan() {
        "–".into()
    } else if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else if s < 100.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// Operations per second.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M/s", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.0}k/s", r / 1e3)
    } else if r >= 1e3 {
        format!("{:.1}k/s", r / 1e3)
    } else {
        format!("{r:.0}/s")
    }
}

/// A size in MiB, or GiB from 1 GiB on.
pub fn fmt_bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

/// A count with thousands separators.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn time_and_rate(r: &Results, time_key: &str, ops: u64) -> Option<String> {
    let s = *r.get(time_key)?;
    Some(format!("{} · {}", fmt_secs(s), fmt_rate(ops as f64 / s)))
}

/// A read workload: time for what was done, rate, and a mark when capped or
/// when some reads did not find what they should.
fn reads_cell(r: &Results, prefix: &str, planned: u64, bad_key: &str) -> Option<String> {
    let s = *r.get(&format!("{prefix}_s"))?;
    let ops = *r.get(&format!("{prefix}_ops"))?;
    let mut cell = format!("{} · {}", fmt_secs(s), fmt_rate(ops / s));
    if (ops as u64) < planned {
        let _ = write!(cell, " (capped: {} done)", fmt_count(ops as u64));
    }
    if let Some(bad) = r.get(bad_key).filter(|b| **b > 0.0) {
        let _ = write!(cell, " ({} wrong)", fmt_count(*bad as u64));
    }
    Some(cell)
}

fn disk_cell(r: &Results, key: &str) -> Option<String> {
    let alloc = *r.get(&format!("{key}_alloc"))?;
    let apparent = *r.get(&format!("{key}_apparent"))?;
    let mut cell = fmt_bytes(alloc);
    if (apparent - alloc).abs() > 0.1 * alloc.max(1.0) {
        let _ = write!(cell, " (apparent {})", fmt_bytes(apparent));
    }
    Some(cell)
}

/// The rows: a label and a cell ("–" for a figure that is missing; "n/a"
/// for a peak RSS this system does not report).
pub fn rows(plan: &Plan, raw: [Raw; 2], r: &Results) -> Vec<(String, String)> {
    let n = plan.entries;
    let c = &plan.counts;
    let singles = c.single_writes;
    let threaded = THREADS * c.thread_writes;
    let crash = CRASH_BATCHES * BATCH;
    let live_end = plan.entries - plan.removed() + singles + threaded + crash;
    let [before, after] = raw;
    let secs = |key: &str| r.get(key).map(|s| fmt_secs(*s));
    let rss = |key: &str| Some(r.get(key).map_or_else(|| "n/a".into(), |b| fmt_bytes(*b)));
    let rows: Vec<(String, Option<String>)> = vec![
        (
            format!(
                "raw limit: append 200 B + fdatasync, {} times: median (p99), before / after the workloads",
                fmt_count(c.raw_syncs)
            ),
            Some(format!(
                "{} ({}) / {} ({})",
                fmt_secs(before.fdatasync_p50),
                fmt_secs(before.fdatasync_p99),
                fmt_secs(after.fdatasync_p50),
                fmt_secs(after.fdatasync_p99)
            )),
        ),
        (
            format!(
                "raw limit: write 200 B into allocated space + fdatasync, {} times: median (p99), before / after the workloads",
                fmt_count(c.raw_syncs)
            ),
            Some(format!(
                "{} ({}) / {} ({})",
                fmt_secs(before.alloc_fdatasync_p50),
                fmt_secs(before.alloc_fdatasync_p99),
                fmt_secs(after.alloc_fdatasync_p50),
                fmt_secs(after.alloc_fdatasync_p99)
            )),
        ),
        (
            format!(
                "raw limit: sequential write, {} MiB in 1 MiB writes + fsync, before / after the workloads",
                fmt_count(c.raw_mib)
            ),
            Some(format!(
                "{:.0} MiB/s / {:.0} MiB/s",
                before.seq_mib_s, after.seq_mib_s
            )),
        ),
        (
            format!("bulk load: {} entries, 1,000 per durable txn", fmt_count(n)),
            time_and_rate(r, "bulk_load_s", n),
        ),
        (
            format!(
                "individual durable writes: {} × (1 put + commit)",
                fmt_count(singles)
            ),
            (|| {
                let s = *r.get("single_puts_s")?;
                Some(format!(
                    "{} · {} (p50 {}, p99 {})",
                    fmt_secs(s),
                    fmt_rate(singles as f64 / s),
                    fmt_secs(*r.get("single_put_p50_s")?),
                    fmt_secs(*r.get("single_put_p99_s")?)
                ))
            })(),
        ),
        (
            format!(
                "raw append 200 B + fdatasync, median of {RAW_AROUND_SINGLE}, just before / after the {} writes",
                fmt_count(singles)
            ),
            (|| {
                Some(format!(
                    "{} / {}",
                    fmt_secs(*r.get("raw_before_single_p50_s")?),
                    fmt_secs(*r.get("raw_after_single_p50_s")?)
                ))
            })(),
        ),
        (
            format!(
                "raw write 200 B into allocated space + fdatasync, median of {RAW_AROUND_SINGLE}, before / after"
            ),
            (|| {
                Some(format!(
                    "{} / {}",
                    fmt_secs(*r.get("raw_alloc_before_single_p50_s")?),
                    fmt_secs(*r.get("raw_alloc_after_single_p50_s")?)
                ))
            })(),
        ),
        (
            format!(
                "durable writes, {THREADS} threads × {} puts",
                fmt_count(c.thread_writes)
            ),
            time_and_rate(r, "threaded_puts_s", threaded),
        ),
        (
            format!("random reads: {}, 1 thread", fmt_count(n)),
            reads_cell(r, "reads1", n, "reads1_missing"),
        ),
        (
            format!("random reads: {}, 2 threads", fmt_count(n)),
            reads_cell(r, "reads2", n, "reads2_missing"),
        ),
        (
            format!("range reads: {} × 10 entries", fmt_count(n / 2)),
            reads_cell(r, "ranges", n / 2, "ranges_wrong"),
        ),
        (
            format!(
                "removals: {} keys, 1,000 per durable txn",
                fmt_count(plan.removed())
            ),
            time_and_rate(r, "removals_s", plan.removed()),
        ),
        ("open after clean close".into(), secs("open_clean_s")),
        (
            "open after kill -9 (killed inside a durable batch of 1,000)".into(),
            secs("open_crash_s"),
        ),
        (
            format!(
                "acknowledged writes missing after kill -9 (of {})",
                fmt_count(crash)
            ),
            r.get("crash_lost").map(|v| fmt_count(*v as u64)),
        ),
        (
            format!(
                "disk: after load ({} entries)",
                fmt_count(n + singles + threaded)
            ),
            disk_cell(r, "disk_after_load"),
        ),
        (
            "disk: after removals, before compaction".into(),
            disk_cell(r, "disk_before_compaction"),
        ),
        ("compaction call".into(), secs("compaction_s")),
        (
            format!(
                "disk: after compaction ({} live entries = {} of keys + values)",
                fmt_count(live_end),
                fmt_bytes((live_end * ENTRY_BYTES) as f64)
            ),
            disk_cell(r, "disk_after_compaction"),
        ),
        (
            "disk: after compaction and close".into(),
            disk_cell(r, "disk_after_close"),
        ),
        (
            "peak RSS: load + durable writes process".into(),
            rss("rss_load"),
        ),
        (
            "peak RSS: open after kill -9 + reads + removals + compaction process".into(),
            rss("rss_reads"),
        ),
    ];
    rows.into_iter()
        .map(|(label, cell)| (label, cell.unwrap_or_else(|| "–".into())))
        .collect()
}

/// The rows as one markdown table with a `revkv` column.
pub fn markdown(rows: &[(String, String)]) -> String {
    let mut md = String::from("| workload | revkv |\n|---|---:|\n");
    for (label, cell) in rows {
        let _ = writeln!(md, "| {label} | {cell} |");
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::BenchCounts;

    #[test]
    fn figures_are_formatted_as_the_harness_does() {
        assert_eq!(fmt_secs(0.000_261), "261 µs");
        assert_eq!(fmt_secs(0.2665), "266.5 ms");
        assert_eq!(fmt_secs(4.771), "4.77 s");
        assert_eq!(fmt_secs(123.4), "123 s");
        assert_eq!(fmt_rate(3_752.0), "3.8k/s");
        assert_eq!(fmt_rate(209_600.0), "210k/s");
        assert_eq!(fmt_rate(1_240_000.0), "1.24M/s");
        assert_eq!(fmt_rate(950.0), "950/s");
        assert_eq!(fmt_bytes(213.4 * 1024.0 * 1024.0), "213.4 MiB");
        assert_eq!(fmt_count(1_003_000), "1,003,000");
        assert_eq!(fmt_count(999), "999");
    }

    #[test]
    fn default_labels_are_the_harness_rows() {
        let plan = Plan {
            entries: 1_000_000,
            counts: BenchCounts {
                single_writes: 1_000,
                thread_writes: 250,
                raw_syncs: 1_000,
                raw_mib: 256,
            },
            cap: std::time::Duration::from_secs(300),
            acked: 0,
        };
        let raw = Raw {
            fdatasync_p50: 146e-6,
            fdatasync_p99: 254e-6,
            alloc_fdatasync_p50: 120e-6,
            alloc_fdatasync_p99: 200e-6,
            seq_mib_s: 1892.0,
        };
        let mut r = Results::new();
        r.insert("bulk_load_s".into(), 4.77);
        r.insert("crash_lost".into(), 0.0);
        let rows = rows(&plan, [raw, raw], &r);
        let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
        // The rows of benches/compare/RESULTS.md, run 8, after the three raw
        // limits (which the harness shows in a table of their own).
        assert_eq!(
            labels[3..],
            [
                "bulk load: 1,000,000 entries, 1,000 per durable txn",
                "individual durable writes: 1,000 × (1 put + commit)",
                "raw append 200 B + fdatasync, median of 200, just before / after the 1,000 writes",
                "raw write 200 B into allocated space + fdatasync, median of 200, before / after",
                "durable writes, 8 threads × 250 puts",
                "random reads: 1,000,000, 1 thread",
                "random reads: 1,000,000, 2 threads",
                "range reads: 500,000 × 10 entries",
                "removals: 500,000 keys, 1,000 per durable txn",
                "open after clean close",
                "open after kill -9 (killed inside a durable batch of 1,000)",
                "acknowledged writes missing after kill -9 (of 20,000)",
                "disk: after load (1,003,000 entries)",
                "disk: after removals, before compaction",
                "compaction call",
                "disk: after compaction (523,000 live entries = 86.8 MiB of keys + values)",
                "disk: after compaction and close",
                "peak RSS: load + durable writes process",
                "peak RSS: open after kill -9 + reads + removals + compaction process",
            ]
        );
        assert_eq!(rows[0].1, "146 µs (254 µs) / 146 µs (254 µs)");
        assert_eq!(rows[1].1, "120 µs (200 µs) / 120 µs (200 µs)");
        assert_eq!(rows[2].1, "1892 MiB/s / 1892 MiB/s");
        assert_eq!(rows[3].1, "4.77 s · 210k/s");
        assert_eq!(rows[14].1, "0");
        // Missing figures are dashes; a missing peak RSS is "n/a".
        assert_eq!(rows[4].1, "–");
        assert_eq!(rows[21].1, "n/a");
    }
}
