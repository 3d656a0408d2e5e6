//! What `bench` shows on standard error while it runs: a progress bar for
//! the current step on a terminal, else one line per step.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::time::Duration;

/// The progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar when standard error is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        if !io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{msg:<40} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress { bar: Some(bar) }
    }

    /// A step of `total` units begins.
    pub fn step(&self, total: u64, label: &str) {
        match &self.bar {
            Some(bar) => {
                bar.reset();
                bar.set_length(total);
                bar.set_message(label.to_string());
            }
            None => self.note(label),
        }
    }

    /// `done` units of the current step are done.
    pub fn tick(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// A line of text above the bar.
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            // Not eprintln!, which panics when stderr is a closed pipe.
            None => {
                let _ = writeln!(io::stderr(), "{text}");
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
