//! What a phase process tells the `bench` process, one line each on its
//! standard output:
//!
//! ```text
//! @@step TOTAL LABEL    a step of TOTAL units begins (for the progress bar)
//! @@tick DONE           DONE units of the step are done
//! @@acked N             the crash writer acknowledged N overwrite batches
//! @@ NAME NUMBER        a result
//! @@error MESSAGE       the phase failed
//! ```

use crate::error::{Failure, EXIT_FAILED};
use std::io::Write;
use std::time::{Duration, Instant};

/// Ticks closer together than this are not sent.
const TICK_EVERY: Duration = Duration::from_millis(100);

/// One line from a phase process.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// A step of `total` units begins.
    Step {
        /// Units in the step.
        total: u64,
        /// What the step does.
        label: String,
    },
    /// Units done in the current step.
    Tick(u64),
    /// Overwrite batches the crash writer acknowledged.
    Acked(u64),
    /// A result.
    Result(String, f64),
    /// The phase failed.
    Error(String),
    /// Anything else (ignored).
    Other,
}

/// Reads one line.
pub fn parse(line: &str) -> Line {
    let number = |s: &str| s.trim().parse::<u64>().ok();
    if let Some(rest) = line.strip_prefix("@@step ") {
        if let Some((total, label)) = rest.split_once(' ') {
            if let Some(total) = number(total) {
                let label = label.to_string();
                return Line::Step { total, label };
            }
        }
    } else if let Some(rest) = line.strip_prefix("@@tick ") {
        if let Some(done) = number(rest) {
            return Line::Tick(done);
        }
    } else if let Some(rest) = line.strip_prefix("@@acked ") {
        if let Some(n) = number(rest) {
            return Line::Acked(n);
        }
    } else if let Some(rest) = line.strip_prefix("@@error ") {
        return Line::Error(rest.to_string());
    } else if let Some(rest) = line.strip_prefix("@@ ") {
        if let Some((name, v)) = rest.split_once(' ') {
            if let Ok(v) = v.trim().parse::<f64>() {
                return Line::Result(name.to_string(), v);
            }
        }
    }
    Line::Other
}

/// Writes the lines of a phase process, each flushed at once.
pub struct Reporter<'a> {
    out: &'a mut dyn Write,
    last_tick: Instant,
}

impl<'a> Reporter<'a> {
    /// A reporter writing to `out`.
    pub fn new(out: &'a mut dyn Write) -> Reporter<'a> {
        Reporter {
            out,
            last_tick: Instant::now(),
        }
    }

    fn send(&mut self, line: std::fmt::Arguments) -> Result<(), Failure> {
        self.out
            .write_fmt(line)
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| self.out.flush())
            .map_err(|e| Failure::new(EXIT_FAILED, format!("write to standard output: {e}")))
    }

    /// A step of `total` units begins.
    pub fn step(&mut self, total: u64, label: &str) -> Result<(), Failure> {
        self.last_tick = Instant::now();
        self.send(format_args!("@@step {total} {label}"))
    }

    /// `done` units of the step are done; sent at most every 100 ms.
    pub fn tick(&mut self, done: u64) -> Result<(), Failure> {
        if self.last_tick.elapsed() < TICK_EVERY {
            return Ok(());
        }
        self.last_tick = Instant::now();
        self.send(format_args!("@@tick {done}"))
    }

    /// The crash writer acknowledged `n` overwrite batches.
    pub fn acked(&mut self, n: u64) -> Result<(), Failure> {
        self.send(format_args!("@@acked {n}"))
    }

    /// A result.
    pub fn result(&mut self, name: &str, value: f64) -> Result<(), Failure> {
        self.send(format_args!("@@ {name} {value}"))
    }

    /// A duration, in seconds.
    pub fn secs(&mut self, name: &str, d: Duration) -> Result<(), Failure> {
        self.result(name, d.as_secs_f64())
    }

    /// The phase failed.
    pub fn error(&mut self, message: &str) -> Result<(), Failure> {
        let one_line = message.replace('\n', " ");
        self.send(format_args!("@@error {one_line}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_written() {
        let mut buf = Vec::new();
        {
            let mut r = Reporter::new(&mut buf);
            r.step(1_000, "bulk load: 1,000 entries").expect("write");
            r.result("open_clean_s", 0.000_123).expect("write");
            r.secs("x_s", Duration::from_millis(1500)).expect("write");
            r.acked(7).expect("write");
            r.error("bad\nthing").expect("write");
        }
        let text = String::from_utf8(buf).expect("utf-8");
        let lines: Vec<Line> = text.lines().map(parse).collect();
        assert_eq!(
            lines,
            vec![
                Line::Step {
                    total: 1_000,
                    label: "bulk load: 1,000 entries".into()
                },
                Line::Result("open_clean_s".into(), 0.000_123),
                Line::Result("x_s".into(), 1.5),
                Line::Acked(7),
                Line::Error("bad thing".into()),
            ]
        );
        assert_eq!(parse("@@tick 42"), Line::Tick(42));
        assert_eq!(parse("hello"), Line::Other);
        assert_eq!(parse("@@ name notanumber"), Line::Other);
    }
}
