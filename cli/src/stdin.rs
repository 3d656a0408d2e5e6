//! Reading standard input.

use crate::error::{Failure, EXIT_FAILED};
use std::io::{self, IsTerminal, Read, Write};

/// All of standard input, with a hint on stderr when it is a terminal.
pub fn read_all(what: &str) -> Result<Vec<u8>, Failure> {
    let mut stdin = io::stdin().lock();
    if stdin.is_terminal() {
        let _ = writeln!(
            io::stderr(),
            "reading {what} from standard input; end it with Ctrl-D"
        );
    }
    let mut buf = Vec::new();
    stdin
        .read_to_end(&mut buf)
        .map_err(|e| Failure::new(EXIT_FAILED, format!("read standard input: {e}")))?;
    Ok(buf)
}
