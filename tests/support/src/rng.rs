//! The tests' one seeded random generator: the `rand` crate's [`StdRng`]
//! behind the few draws the tests make, so a failing run can be replayed
//! from its printed seed.

use rand::rngs::StdRng;
use rand::{Rng as _, RngExt, SeedableRng};
use std::hash::{Hash, Hasher};

/// A seeded generator (the same seed gives the same draws in the same build).
#[derive(Debug)]
pub struct Rng(StdRng);

impl Rng {
    /// A generator for `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        Rng(StdRng::seed_from_u64(seed))
    }

    /// A generator for item `n` named `label` (a write's number and its
    /// key, say): the same pair gives the same draws in one build of the
    /// tests, so a parent rebuilds what its child process wrote.
    pub fn for_item(n: u64, label: &str) -> Rng {
        let mut h = std::hash::DefaultHasher::new();
        (n, label).hash(&mut h);
        Rng::new(h.finish())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0)");
        self.0.random_range(0..n)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0.random_range(lo..=hi)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        assert!(!items.is_empty(), "Rng::pick from an empty slice");
        let i = self.0.random_range(0..items.len());
        &items[i]
    }

    /// Fills `out` with random bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.fill(&mut out);
        out
    }

    /// A generator for another thread, derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }
}

/// A seed from the environment variable `var`, or from the clock when it is
/// not set (or not a number).
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
