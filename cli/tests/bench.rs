//! `revkv bench`: a small run whose table is read back and checked row by
//! row, and the refusal of a directory bench did not make.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use test_support::cli::{cmd, fails, ok, tempdir};

/// Runs `revkv bench` on `dir` with the counts shrunk for a debug build.
fn bench(dir: &Path, extra: &[&str]) -> std::process::Output {
    cmd()
        .arg("bench")
        .arg("--dir")
        .arg(dir)
        .args(["--entries", "10000"])
        // The fixed counts, shrunk (hidden options): 100 individual writes,
        // 8 x 25 concurrent ones, 100 raw fdatasyncs, 8 MiB sequential.
        .args(["--single-writes", "100", "--thread-writes", "25"])
        .args(["--raw-syncs", "100", "--raw-mib", "8"])
        .args(extra)
        .output()
        .expect("run revkv bench")
}

/// The table's rows: label -> cell, in order.
fn table(text: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut lines = text.lines().skip_while(|l| !l.starts_with('|'));
    assert_eq!(lines.next(), Some("| workload | revkv |"), "{text}");
    assert_eq!(lines.next(), Some("|---|---:|"), "{text}");
    for line in lines.take_while(|l| l.starts_with('|')) {
        let inner = line
            .strip_prefix("| ")
            .and_then(|l| l.strip_suffix(" |"))
            .unwrap_or_else(|| panic!("a table row: {line}"));
        let (label, cell) = inner
            .split_once(" | ")
            .unwrap_or_else(|| panic!("two cells: {line}"));
        rows.push((label.to_string(), cell.to_string()));
    }
    rows
}

/// Seconds from `261 µs`, `12.5 ms` or `4.77 s`.
fn secs(s: &str) -> f64 {
    let (n, unit) = s
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("a time: {s:?}"));
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("a number: {s:?}"));
    let scale = match unit {
        "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => panic!("a time unit: {s:?}"),
    };
    assert!(n.is_finite() && n >= 0.0, "{s:?}");
    n * scale
}

/// Operations per second from `950/s`, `3.8k/s` or `1.24M/s`.
fn rate(s: &str) -> f64 {
    let s = s.trim();
    let n = s
        .strip_suffix("/s")
        .unwrap_or_else(|| panic!("a rate: {s:?}"));
    let (n, scale) = if let Some(n) = n.strip_suffix('k') {
        (n, 1e3)
    } else if let Some(n) = n.strip_suffix('M') {
        (n, 1e6)
    } else {
        (n, 1.0)
    };
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("a number: {s:?}"));
    assert!(n.is_finite() && n > 0.0, "{s:?}");
    n * scale
}

/// Bytes from `7.7 MiB` or `1.20 GiB` (the apparent size after it, if any,
/// is left out).
fn bytes(s: &str) -> f64 {
    let s = s.split(" (apparent").next().unwrap_or(s);
    let (n, unit) = s
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("a size: {s:?}"));
    let n: f64 = n.parse().unwrap_or_else(|_| panic!("a number: {s:?}"));
    match unit {
        "MiB" => n * 1024.0 * 1024.0,
        "GiB" => n * 1024.0 * 1024.0 * 1024.0,
        _ => panic!("a size unit: {s:?}"),
    }
}

/// A `time · rate` cell for `ops` operations: both parse, and they agree.
fn time_and_rate(cell: &str, ops: f64) -> f64 {
    let (t, r) = cell
        .split_once(" · ")
        .unwrap_or_else(|| panic!("time · rate: {cell:?}"));
    let r = r.split(" (").next().unwrap_or(r);
    let (t, r) = (secs(t), rate(r));
    assert!(t > 0.0, "{cell}");
    let expected = ops / t;
    // Each figure is rounded to two or three digits.
    assert!(
        (r - expected).abs() <= 0.1 * expected,
        "rate {r} for {ops} ops in {t} s: {cell}"
    );
    t
}

#[test]
fn a_small_bench_prints_every_row_with_figures_that_parse() {
    let tmp = tempdir();
    let dir = tmp.path().join("bench");
    let out_file = tmp.path().join("table.md");
    let out = bench(&dir, &["--out", out_file.to_str().expect("utf-8 path")]);
    let text = ok(out);
    assert_eq!(
        fs::read_to_string(&out_file).expect("--out file"),
        text,
        "--out holds what was printed"
    );
    let rows = table(&text);
    let labels: Vec<&str> = rows.iter().map(|(l, _)| l.as_str()).collect();
    let live = 5_000 + 100 + 200 + 20_000;
    let live_mib = live as f64 * 174.0 / (1024.0 * 1024.0);
    let expected = vec![
        "raw limit: append 200 B + fdatasync, 100 times: median (p99), before / after the workloads".to_string(),
        "raw limit: write 200 B into allocated space + fdatasync, 100 times: median (p99), before / after the workloads".into(),
        "raw limit: sequential write, 8 MiB in 1 MiB writes + fsync, before / after the workloads".into(),
        "bulk load: 10,000 entries, 1,000 per durable txn".into(),
        "individual durable writes: 100 × (1 put + commit)".into(),
        "raw append 200 B + fdatasync, median of 200, just before / after the 100 writes".into(),
        "raw write 200 B into allocated space + fdatasync, median of 200, before / after".into(),
        "durable writes, 8 threads × 25 puts".into(),
        "random reads: 10,000, 1 thread".into(),
        "random reads: 10,000, 2 threads".into(),
        "range reads: 5,000 × 10 entries".into(),
        "removals: 5,000 keys, 1,000 per durable txn".into(),
        "open after clean close".into(),
        "open after kill -9 (killed inside a durable batch of 1,000)".into(),
        "acknowledged writes missing after kill -9 (of 20,000)".into(),
        "disk: after load (10,300 entries)".into(),
        "disk: after removals, before compaction".into(),
        "compaction call".into(),
        format!("disk: after compaction (25,300 live entries = {live_mib:.1} MiB of keys + values)"),
        "disk: after compaction and close".into(),
        "peak RSS: load + durable writes process".into(),
        "peak RSS: open after kill -9 + reads + removals + compaction process".into(),
    ];
    assert_eq!(labels, expected);
    let cell: BTreeMap<&str, &str> = rows.iter().map(|(l, c)| (l.as_str(), c.as_str())).collect();
    let at = |i: usize| cell[expected[i].as_str()];

    // Raw limits: "p50 (p99) / p50 (p99)" and "N MiB/s / N MiB/s".
    for side in at(0).split(" / ").chain(at(1).split(" / ")) {
        let (p50, p99) = side.split_once(" (").expect("median (p99)");
        let p99 = p99.strip_suffix(')').expect("(p99)");
        assert!(secs(p50) > 0.0 && secs(p99) >= secs(p50), "{side}");
    }
    for side in at(2).split(" / ") {
        let mib_s: f64 = side
            .strip_suffix(" MiB/s")
            .expect("MiB/s")
            .parse()
            .expect("a number");
        assert!(mib_s > 0.0, "{side}");
    }
    time_and_rate(at(3), 10_000.0);
    let singles = time_and_rate(at(4), 100.0);
    let (_, percentiles) = at(4).split_once(" (p50 ").expect("p50");
    let (p50, p99) = percentiles
        .strip_suffix(')')
        .and_then(|p| p.split_once(", p99 "))
        .expect("p50 .., p99 ..");
    assert!(secs(p50) <= secs(p99) && secs(p99) <= singles, "{}", at(4));
    for i in [5, 6] {
        for side in at(i).split(" / ") {
            assert!(secs(side) > 0.0, "{}", at(i));
        }
    }
    time_and_rate(at(7), 200.0);
    for i in [8, 9] {
        assert!(
            !at(i).contains('('),
            "every read found its key, none capped: {}",
            at(i)
        );
        time_and_rate(at(i), 10_000.0);
    }
    assert!(
        !at(10).contains('('),
        "every range read found 10: {}",
        at(10)
    );
    time_and_rate(at(10), 5_000.0);
    time_and_rate(at(11), 5_000.0);
    assert!(secs(at(12)) > 0.0);
    assert!(secs(at(13)) > 0.0);
    assert_eq!(at(14), "0", "acknowledged writes missing after kill -9");
    // Each stored entry takes at least its 174 bytes of key and value.
    assert!(bytes(at(15)) >= 10_300.0 * 174.0, "{}", at(15));
    assert!(bytes(at(16)) >= bytes(at(15)), "removals add tombstones");
    assert!(secs(at(17)) >= 0.0);
    assert!(bytes(at(18)) >= live as f64 * 174.0, "{}", at(18));
    assert!(bytes(at(19)) >= live as f64 * 174.0, "{}", at(19));
    for i in [20, 21] {
        if cfg!(target_os = "linux") {
            assert!(bytes(at(i)) > 1024.0 * 1024.0, "{}", at(i));
        } else {
            assert_eq!(at(i), "n/a");
        }
    }
    assert!(!dir.exists(), "bench removes the directory it created");
    assert_eq!(
        test_support::files::list(tmp.path()).len(),
        1,
        "only the --out file is left"
    );
}

#[test]
fn bench_refuses_a_directory_it_did_not_make_and_leaves_it_alone() {
    let tmp = tempdir();
    let dir = tmp.path();
    fs::write(dir.join("important.txt"), b"do not delete").expect("write");
    fs::create_dir(dir.join("store")).expect("mkdir");
    fs::write(dir.join("store/0000000001.seg"), b"segment").expect("write");
    let before = listing(dir);

    let err = fails(bench(dir, &[]), 1);
    assert!(err.contains("not made by revkv bench"), "{err}");
    assert!(err.contains("important.txt"), "{err}");

    assert_eq!(listing(dir), before, "nothing added or removed");
    assert_eq!(
        fs::read(dir.join("important.txt")).expect("read"),
        b"do not delete"
    );
    assert_eq!(
        fs::read(dir.join("store/0000000001.seg")).expect("read"),
        b"segment"
    );
}

#[test]
fn bench_refuses_the_formats_it_cannot_print() {
    let tmp = tempdir();
    for format in ["table", "fields"] {
        let out = cmd()
            .args(["-w", format, "bench", "--dir"])
            .arg(tmp.path().join("b"))
            .output()
            .expect("run");
        let err = fails(out, 4);
        assert!(err.contains("not supported as output format"), "{err}");
    }
    assert!(!tmp.path().join("b").exists(), "nothing was created");
}

/// Every path under `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    test_support::files::tree(dir)
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}
