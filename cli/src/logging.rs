//! The logger for the records the library emits through the `log` facade
//! (background errors, recovery decisions): on standard error, at level
//! `warn` unless `RUST_LOG` says otherwise.

use env_logger::{Builder, Env};

/// Installs the logger. A failure (a logger already installed) is ignored:
/// the records then go to that one.
pub fn init() {
    let _ = Builder::from_env(Env::default().default_filter_or("warn")).try_init();
}
