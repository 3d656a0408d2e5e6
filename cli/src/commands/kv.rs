//! `put`, `get`, `del` and `txn`.

use crate::args::{DelArgs, GetArgs, PutArgs, TxnArgs};
use crate::error::{output_error, Failure, Stop, EXIT_BAD_INPUT, EXIT_FAILED};
use crate::ops::{self, PutPlan};
use crate::output::{Format, Printer};
use crate::stdin;
use crate::store::{self, Missing};
use crate::txn_input::{self, Section, TxnReader};
use revkv::{Compare, CompareOp, Db, Op, OpResponse, PutResponse, Txn};
use std::io::{self, BufRead, Write};
use std::path::Path;

/// How many times a put with `--ignore-value`/`--ignore-lease` re-reads
/// the key when it changed between the read and the write (only a lease
/// expiring in this process can change it: the store is locked).
const KEEP_ATTEMPTS: usize = 16;

/// `put KEY [VALUE] [--lease ID] [--prev-kv] [--ignore-value] [--ignore-lease]`.
pub fn put<W: Write>(dir: &Path, args: PutArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let stdin_value = match (&args.value, args.ignore_value) {
        (None, false) => Some(stdin::read_all("the value")?),
        _ => None,
    };
    // Input is read and checked before the store is opened, so a bad request
    // never touches the directory and the lock is held only while needed.
    let plan = ops::put_plan(args, stdin_value)?;
    let db = store::open(dir, Missing::Create)?;
    let resp = if plan.ignore_value || plan.ignore_lease {
        put_keeping(&db, plan)?
    } else {
        db.put_with(plan.req)?
    };
    out.put(&resp).map_err(output_error)?;
    db.close()?;
    Ok(())
}

/// A put that keeps the key's value or lease: a transaction that writes
/// only if the key's mod revision is still the one read, so the value and
/// lease it keeps are the key's at the write. The library has no such
/// put of its own.
fn put_keeping(db: &Db, plan: PutPlan) -> Result<PutResponse, Failure> {
    for _ in 0..KEEP_ATTEMPTS {
        let Some(current) = db.get(&plan.req.key)? else {
            // etcd's answer ("etcdserver: key not found").
            return Err(Failure::new(EXIT_FAILED, "key not found"));
        };
        let mut req = plan.req.clone();
        if plan.ignore_value {
            req.value = current.value.clone();
        }
        if plan.ignore_lease {
            req.lease = current.lease;
        }
        let unchanged =
            Compare::mod_revision(req.key.clone(), CompareOp::Equal, current.mod_revision);
        let mut txn = Txn::new();
        txn.compares.push(unchanged);
        txn.success.push(Op::Put(req));
        let resp = db.txn(txn)?;
        if resp.succeeded {
            if let Some(OpResponse::Put(put)) = resp.responses.into_iter().next() {
                return Ok(put);
            }
            return Err(Failure::new(
                EXIT_FAILED,
                "the store answered a put with no put",
            ));
        }
    }
    Err(Failure::new(
        EXIT_FAILED,
        "the key kept changing while its value or lease was being kept",
    ))
}

/// `get KEY [END] [--prefix | --from-key] [--rev R] [--limit N] ...`.
pub fn get<W: Write>(dir: &Path, args: GetArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    if args.print_value_only && out.format() != Format::Simple {
        // etcdctl's message (its status for it is 128, revkv's usage 2).
        return Err(Failure::usage("print-value-only is only for `--write-out=simple`").into());
    }
    let plan = ops::get_plan(args)?;
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let mut resp = db.range(plan.req.clone())?;
    plan.finish(&mut resp);
    out.set_get_style(plan.value_only, plan.count_only);
    out.range(&resp).map_err(output_error)?;
    db.close()?;
    Ok(())
}

/// `del KEY [END] [--prefix | --from-key] [--prev-kv]`.
pub fn del<W: Write>(dir: &Path, args: DelArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let req = ops::delete_request(args)?;
    let db = store::open(dir, Missing::Create)?;
    let resp = db.delete_range(req)?;
    out.delete(&resp).map_err(output_error)?;
    db.close()?;
    Ok(())
}

/// `txn [-i]`: reads the transaction from standard input (prompting for
/// each section with `-i`), runs it, prints the answer.
pub fn txn<W: Write>(dir: &Path, args: TxnArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let parsed = if args.interactive {
        read_interactive(out)?
    } else {
        let input = stdin::read_all("a transaction")?;
        txn_input::parse_txn(&input).map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?
    };
    let db = store::open(dir, Missing::Create)?;
    let mut resp = db.txn(parsed.txn.clone())?;
    let count_only = parsed.finish(&mut resp);
    out.txn(&resp, &count_only).map_err(output_error)?;
    db.close()?;
    Ok(())
}

/// Reads a transaction line by line, printing etcdctl's prompt before each
/// section, until the empty line that ends the failure requests (or the
/// end of the input).
fn read_interactive<W: Write>(out: &mut Printer<W>) -> Result<txn_input::ParsedTxn, Stop> {
    let mut reader = TxnReader::new();
    let mut prompted = None;
    let mut input = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        let section = reader.section();
        if section == Section::Done {
            break;
        }
        if prompted != Some(section) {
            if let Some(prompt) = section.prompt() {
                out.line(prompt).map_err(output_error)?;
                out.flush().map_err(output_error)?;
            }
            prompted = Some(section);
        }
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::new(EXIT_FAILED, format!("read standard input: {e}")))?;
        if n == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        reader
            .push(text)
            .map_err(|e| Failure::new(EXIT_BAD_INPUT, e.to_string()))?;
    }
    Ok(reader.finish())
}
