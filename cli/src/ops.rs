//! Turning command arguments into the library's requests.

use crate::args::{DelArgs, GetArgs, PutArgs};
use crate::error::{Failure, EXIT_FAILED};
use crate::sort::Sort;
use revkv::{DeleteRequest, KeyRange, PutRequest, RangeRequest, RangeResponse};
use std::ffi::OsString;

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

/// A put as the command line asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutPlan {
    /// The request; its value and lease are replaced by the key's current
    /// ones under `ignore_value` and `ignore_lease`.
    pub req: PutRequest,
    /// `--ignore-value`: keep the key's value.
    pub ignore_value: bool,
    /// `--ignore-lease`: keep the key's lease.
    pub ignore_lease: bool,
}

/// The put of `put`; `stdin_value` is used when no value was given.
pub fn put_plan(args: PutArgs, stdin_value: Option<Vec<u8>>) -> Result<PutPlan, Failure> {
    if args.ignore_value && args.value.is_some() {
        return Err(Failure::usage(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    if args.ignore_lease && args.lease.is_some() {
        // etcd's answer to this request.
        return Err(Failure::new(EXIT_FAILED, "lease is provided"));
    }
    let value = match (args.value, stdin_value) {
        (Some(v), _) => arg_bytes(v)?,
        (None, Some(v)) => v,
        (None, None) if args.ignore_value => Vec::new(),
        (None, None) => return Err(Failure::usage("put needs a key and a value")),
    };
    let mut req = PutRequest::new(arg_bytes(args.key)?, value);
    if let Some(lease) = args.lease {
        req = req.lease(lease);
    }
    if args.prev_kv {
        req = req.prev_kv();
    }
    Ok(PutPlan {
        req,
        ignore_value: args.ignore_value,
        ignore_lease: args.ignore_lease,
    })
}

/// The delete request of `del`.
pub fn delete_request(args: DelArgs) -> Result<DeleteRequest, Failure> {
    let mut req = DeleteRequest::new(key_range(args.key, args.end, args.prefix, args.from_key)?);
    if args.prev_kv {
        req = req.prev_kv();
    }
    Ok(req)
}

/// A get as the command line asks for it: the library's request, and what
/// the tool does to the answer (sort, limit, drop values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPlan {
    /// The request sent to the store.
    pub req: RangeRequest,
    /// The sort, done on the answer.
    pub sort: Sort,
    /// `--limit`, applied after sorting when the store read every key.
    pub limit: u64,
    /// `--keys-only` when the store was asked for values to sort by.
    pub drop_values: bool,
    /// `--count-only`.
    pub count_only: bool,
    /// `--print-value-only`.
    pub value_only: bool,
}

impl GetPlan {
    /// The answer as etcd gives it: sorted, limited, values dropped.
    pub fn finish(&self, resp: &mut RangeResponse) {
        if self.count_only {
            return;
        }
        self.sort.apply(resp, self.limit);
        if self.drop_values {
            for kv in &mut resp.kvs {
                kv.value.clear();
            }
        }
    }
}

/// The request of `get`, and what to do with its answer.
pub fn get_plan(args: GetArgs) -> Result<GetPlan, Failure> {
    let sort = Sort::parse(args.sort_by.as_deref(), args.order.as_deref())?;
    let mut req = RangeRequest::new(key_range(args.key, args.end, args.prefix, args.from_key)?)
        .revision(args.rev);
    if !sort.reads_all() || args.count_only {
        req = req.limit(args.limit);
    }
    let mut drop_values = false;
    if args.count_only {
        req = req.count_only();
    } else if args.keys_only {
        if sort.needs_values() {
            drop_values = true;
        } else {
            req = req.keys_only();
        }
    }
    Ok(GetPlan {
        req,
        sort,
        limit: args.limit,
        drop_values,
        count_only: args.count_only,
        value_only: args.print_value_only,
    })
}
