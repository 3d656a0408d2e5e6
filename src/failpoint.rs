//! Named crash points for the crash tests. With the `failpoints` feature, a
//! process whose `REVKV_FAILPOINT` environment variable names a point exits
//! at once (status 86) when it reaches it, as a crash would stop it; without
//! the feature, `hit` compiles to nothing.

/// The exit status of a process stopped at a failpoint.
pub const FAILPOINT_EXIT: i32 = 86;

/// Stops the process here if `REVKV_FAILPOINT` names `name`.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    if std::env::var("REVKV_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::exit(FAILPOINT_EXIT);
    }
}

/// True when `REVKV_FAILPOINT` names `name`: the caller then fails the
/// operation with an injected I/O error (fault injection, not a crash).
#[cfg(feature = "failpoints")]
pub fn fails(name: &str) -> bool {
    std::env::var("REVKV_FAILPOINT").is_ok_and(|v| v == name)
}

/// Always false: the `failpoints` feature is off.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn fails(_name: &str) -> bool {
    false
}

/// Does nothing: the `failpoints` feature is off.
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
