//! `compaction REV [--physical]` (also `compact`).

use crate::args::CompactArgs;
use crate::error::{output_error, Stop};
use crate::output::Printer;
use crate::store::{self, Missing};
use std::io::Write;
use std::path::Path;

/// Compacts at `REV`, waiting for the rewrite with `--physical`.
pub fn compaction<W: Write>(
    dir: &Path,
    args: CompactArgs,
    out: &mut Printer<W>,
) -> Result<(), Stop> {
    let db = store::open(dir, Missing::AnswerEmpty)?;
    if args.physical {
        db.compact_physical(args.rev)?;
    } else {
        db.compact(args.rev)?;
    }
    out.compacted(args.rev).map_err(output_error)?;
    db.close()?;
    Ok(())
}
