//! Files: directory lock, atomic install, MANIFEST I/O, segments and the
//! revision index. Everything here does I/O; the byte layouts live in
//! [`crate::format`].

pub(crate) mod checkpoint;
pub(crate) mod files;
pub(crate) mod lock;
pub(crate) mod rev_index;
pub(crate) mod segment;
