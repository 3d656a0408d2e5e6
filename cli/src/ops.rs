//! Turning command arguments into the library's requests.

use crate::args::{DelArgs, PutArgs, RangeArgs};
use crate::error::Failure;
use revkv::{DeleteRequest, KeyRange, PutRequest, RangeRequest};
use std::ffi::OsString;

/// How the answer to a read is printed in plain output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Keys and values.
    Full,
    /// Keys only (`--keys-only`).
    KeysOnly,
    /// Only the count (`--count-only`).
    CountOnly,
}

/// The bytes of a command-line argument (any bytes on Unix).
#[cfg(unix)]
pub fn arg_bytes(arg: OsString) -> Result<Vec<u8>, Failure> {
    use std::os::unix::ffi::OsStringExt;
    Ok(arg.into_vec())
}

/// The bytes of a command-line argument (UTF-8 required off Unix).
#[cfg(not(unix))]
pub fn arg_bytes(arg: OsString) -> Result<Vec<u8>, Failure> {
    arg.into_string()
        .map(String::into_bytes)
        .map_err(|a| Failure::usage(format!("argument {a:?} is not valid UTF-8")))
}

/// The key range named by KEY [END] [--prefix | --from-key].
pub fn key_range(
    key: OsString,
    end: Option<OsString>,
    prefix: bool,
    from_key: bool,
) -> Result<KeyRange, Failure> {
    let key = arg_bytes(key)?;
    Ok(if prefix {
        KeyRange::prefix(key)
    } else if from_key {
        if key.is_empty() {
            KeyRange::all()
        } else {
            KeyRange::from_key(key)
        }
    } else if let Some(end) = end {
        KeyRange::range(key, arg_bytes(end)?)
    } else {
        KeyRange::single(key)
    })
}

/// The put request of `put`; `stdin_value` is used when no value was given.
pub fn put_request(args: PutArgs, stdin_value: Option<Vec<u8>>) -> Result<PutRequest, Failure> {
    let value = match (args.value, stdin_value) {
        (Some(v), _) => arg_bytes(v)?,
        (None, Some(v)) => v,
        (None, None) => return Err(Failure::usage("put needs a key and a value")),
    };
    let mut req = PutRequest::new(arg_bytes(args.key)?, value);
    if let Some(lease) = args.lease {
        req = req.lease(lease);
    }
    if args.prev_kv {
        req = req.prev_kv();
    }
    Ok(req)
}

/// The delete request of `del`.
pub fn delete_request(args: DelArgs) -> Result<DeleteRequest, Failure> {
    let mut req = DeleteRequest::new(key_range(args.key, args.end, args.prefix, args.from_key)?);
    if args.prev_kv {
        req = req.prev_kv();
    }
    Ok(req)
}

/// The range request of `range`, and how to print its answer.
pub fn range_request(args: RangeArgs) -> Result<(RangeRequest, Shown), Failure> {
    let mut req = RangeRequest::new(key_range(args.key, args.end, args.prefix, args.from_key)?)
        .revision(args.rev)
        .limit(args.limit);
    let shown = if args.count_only {
        req = req.count_only();
        Shown::CountOnly
    } else if args.keys_only {
        req = req.keys_only();
        Shown::KeysOnly
    } else {
        Shown::Full
    };
    Ok((req, shown))
}
