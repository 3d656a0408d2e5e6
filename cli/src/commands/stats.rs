//! `stats`.

use crate::error::{output_error, Stop};
use crate::output::Printer;
use crate::store::{self, Missing};
use std::io::Write;
use std::path::Path;

/// Prints the store's figures.
pub fn stats<W: Write>(dir: &Path, out: &mut Printer<W>) -> Result<(), Stop> {
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let stats = db.stats()?;
    out.stats(&stats).map_err(output_error)?;
    db.close()?;
    Ok(())
}
