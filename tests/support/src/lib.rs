//! The support shared by the integration tests of both packages (revkv's
//! `tests/` and revkv-cli's `cli/tests/`): one seeded random generator
//! ([`rng`]), one runner of child processes ([`child`]), one directory
//! lister ([`files`]), the check for external tools ([`tools`]), helpers on
//! a store's files ([`store`]), the incident scripts' crashing compaction
//! child ([`incident`]), the watch-guarantee checker ([`watch_checker`]) and
//! the helpers that run the `revkv` command line tool ([`cli`]).
//!
//! It is a crate of its own (not published) rather than a `mod support;`
//! file so that both packages depend on the same code, compiled once.

pub mod child;
pub mod cli;
pub mod files;
pub mod incident;
pub mod rng;
pub mod store;
pub mod tools;
pub mod watch_checker;

pub use files::copy_dir;
pub use rng::{seed_from_env, Rng};
pub use store::{checkpoint_fits, set_header_version};
