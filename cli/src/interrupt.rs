//! Stopping long-running commands (`watch`, `lease keep-alive --every`)
//! cleanly on Ctrl-C or SIGTERM: the signal only sets a flag, which the
//! command checks at least every [`POLL`], so it can close the store and
//! flush its output before exiting.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a waiting command looks at the flag.
pub const POLL: Duration = Duration::from_millis(100);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP set the flag instead of killing
/// the process. Call once, before a command that runs until interrupted.
pub fn install() {
    // Failing to install leaves the default action (the process dies), which
    // loses nothing acknowledged: the store recovers on the next open.
    let _ = ctrlc::set_handler(|| INTERRUPTED.store(true, Ordering::SeqCst));
}

/// True once a signal asked the process to stop.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Sleeps for `how_long` unless interrupted first; returns false if it was.
pub fn sleep(how_long: Duration) -> bool {
    let until = Instant::now() + how_long;
    loop {
        if interrupted() {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(POLL));
    }
}
