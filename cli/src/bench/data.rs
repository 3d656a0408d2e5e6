//! The data of every workload: 24-byte random keys and 150-byte random values
//! (redb's benchmark sizes) from a counter-based splitmix64 generator. It is
//! the comparison harness's generator (benches/compare/src/data.rs), byte for
//! byte, so key `i` is the same in every process, in the harness and here,
//! and nothing has to be kept in memory.

/// Bytes in a key.
pub const KEY_LEN: usize = 24;
/// Bytes in a value.
pub const VALUE_LEN: usize = 150;

/// A key.
pub type Key = [u8; KEY_LEN];
/// A value.
pub type Value = [u8; VALUE_LEN];

const KEY_SEED: u64 = 0x5eed_0000_0000_0001;
const VALUE_SEED: u64 = 0x5eed_0000_0000_0002;

/// One splitmix64 step, as a mixing function.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A splitmix64 generator.
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A number in `0..n` (n far below 2^32: the modulo bias is negligible).
    /// `n` must not be 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Key number `i`.
pub fn key(i: u64) -> Key {
    let mut k = [0u8; KEY_LEN];
    Rng::new(mix(KEY_SEED ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d))).fill(&mut k);
    k
}

/// The value of key number `i` in its `version`-th write.
pub fn value(i: u64, version: u64) -> Value {
    let mut v = [0u8; VALUE_LEN];
    Rng::new(mix(VALUE_SEED
        ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d)
        ^ (version << 48)))
    .fill(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_distinct() {
        assert_eq!(key(7), key(7));
        assert_ne!(key(7), key(8));
        assert_ne!(value(7, 0), value(7, 1));
        let mut ks: Vec<_> = (0..100_000).map(key).collect();
        ks.sort();
        ks.dedup();
        assert_eq!(ks.len(), 100_000);
    }

    #[test]
    fn bytes_are_the_harness_generators() {
        // Computed by an independent implementation of the definition; a
        // change here makes the figures of `revkv bench` and of the harness
        // incomparable.
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&key(0)),
            "d9d24a85bd85e6eef9b12386022ad7d19218e892110693d9"
        );
        assert_eq!(
            hex(&key(12345)),
            "cbab1ba181083b57e2ec583fdb816988bf48cfdeb3e1de9c"
        );
        let v = value(3, 2);
        assert_eq!(hex(&v[..16]), "97b4e6cdd258da20b73ea915040f1ff2");
        assert_eq!(hex(&v[VALUE_LEN - 6..]), "48b1d062a049");
    }
}
