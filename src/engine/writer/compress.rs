//! The writer's compression policy for transaction frames: which payloads
//! are worth a zstd pass at all. (Whether a compressed frame is kept is
//! `format::frame::keep_compressed`, shared with compaction.)

use crate::format::frame::sample_compresses;
use crate::options::Compression;

/// Bytes of a large many-write payload compressed first to judge whether
/// compressing all of it can pay.
const COMPRESSION_SAMPLE: usize = 16 << 10;

/// The zstd level to compress a transaction payload at, `None` to store it
/// as it is; `single` when it holds one write.
pub(super) fn txn_level(compression: Compression, payload: &[u8], single: bool) -> Option<i32> {
    match compression {
        Compression::Zstd { threshold, level } if payload.len() >= threshold => {
            // A large frame of many writes is compressed whole only if
            // its head compresses well (to 60%): incompressible values
            // would otherwise cost a full zstd pass that is thrown away.
            let worth = single
                || payload.len() <= 2 * COMPRESSION_SAMPLE
                || sample_compresses(payload, level, COMPRESSION_SAMPLE, |raw, packed| {
                    packed * 5 <= raw * 3
                });
            worth.then_some(level)
        }
        _ => None,
    }
}
