//! The transaction format `revkv txn` reads from standard input: etcdctl's.
//! Compares, an empty line, success operations, an empty line, failure
//! operations. See [`crate::args::TXN_HELP`] for the full description.

use crate::args::{TxnOp, TxnOpLine};
use crate::lease_id;
use crate::ops::{self, GetPlan};
use crate::words::{self, Cursor};
use clap::Parser;
use revkv::{Compare, CompareOp, CompareTarget, KeyRange, Op, OpResponse, Txn, TxnResponse};
use std::fmt;

/// A transaction read from the input, with what to do with the answer of
/// each get of each branch.
#[derive(Debug)]
pub struct ParsedTxn {
    /// The transaction to run.
    pub txn: Txn,
    /// For each operation of the success branch: its plan when it is a get.
    pub success_gets: Vec<Option<GetPlan>>,
    /// For each operation of the failure branch: its plan when it is a get.
    pub failure_gets: Vec<Option<GetPlan>>,
}

impl ParsedTxn {
    /// Finishes the answers of the gets of the branch that ran (sort,
    /// limit), and says which print only their count.
    pub fn finish(&self, resp: &mut TxnResponse) -> Vec<bool> {
        let plans = if resp.succeeded {
            &self.success_gets
        } else {
            &self.failure_gets
        };
        let mut count_only = Vec::with_capacity(plans.len());
        for (plan, r) in plans.iter().zip(resp.responses.iter_mut()) {
            match (plan, r) {
                (Some(plan), OpResponse::Range(g)) => {
                    plan.finish(g);
                    count_only.push(plan.count_only);
                }
                _ => count_only.push(false),
            }
        }
        count_only
    }
}

/// What is wrong with the input, and on which line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn input line {}: {}", self.line, self.message)
    }
}

/// The section a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// The compares.
    Compares,
    /// The success operations.
    Success,
    /// The failure operations.
    Failure,
    /// After the empty line that ends the failure operations.
    Done,
}

impl Section {
    /// etcdctl's prompt for the section (`txn -i`).
    pub fn prompt(self) -> Option<&'static str> {
        match self {
            Section::Compares => Some("compares:"),
            Section::Success => Some("success requests (get, put, del):"),
            Section::Failure => Some("failure requests (get, put, del):"),
            Section::Done => None,
        }
    }

    fn next(self) -> Section {
        match self {
            Section::Compares => Section::Success,
            Section::Success => Section::Failure,
            Section::Failure | Section::Done => Section::Done,
        }
    }
}

/// Reads a transaction line by line.
#[derive(Debug)]
pub struct TxnReader {
    parsed: ParsedTxn,
    section: Section,
    line: usize,
}

impl Default for TxnReader {
    fn default() -> TxnReader {
        TxnReader::new()
    }
}

impl TxnReader {
    /// A reader at the start of the compares.
    pub fn new() -> TxnReader {
        TxnReader {
            parsed: ParsedTxn {
                txn: Txn::new(),
                success_gets: Vec::new(),
                failure_gets: Vec::new(),
            },
            section: Section::Compares,
            line: 0,
        }
    }

    /// The section the next line belongs to.
    pub fn section(&self) -> Section {
        self.section
    }

    /// Takes one line (without its newline).
    pub fn push(&mut self, raw: &[u8]) -> Result<(), InputError> {
        self.line += 1;
        let line = raw.trim_ascii();
        let at = |message: String| InputError {
            line: self.line,
            message,
        };
        if line.is_empty() {
            self.section = self.section.next();
            return Ok(());
        }
        if line.starts_with(b"#") {
            return Ok(());
        }
        let p = &mut self.parsed;
        match self.section {
            Section::Compares => p.txn.compares.push(parse_compare(line).map_err(at)?),
            Section::Success => {
                let (op, plan) = parse_op(line).map_err(at)?;
                p.txn.success.push(op);
                p.success_gets.push(plan);
            }
            Section::Failure => {
                let (op, plan) = parse_op(line).map_err(at)?;
                p.txn.failure.push(op);
                p.failure_gets.push(plan);
            }
            Section::Done => {
                return Err(at(
                    "unexpected text after the failure operations (a transaction has three \
                     sections: compares, success, failure)"
                        .into(),
                ))
            }
        }
        Ok(())
    }

    /// The transaction read.
    pub fn finish(self) -> ParsedTxn {
        self.parsed
    }
}

/// Parses a whole transaction.
pub fn parse_txn(input: &[u8]) -> Result<ParsedTxn, InputError> {
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        // The newline that ends the last line does not start another.
        lines.pop();
    }
    let mut reader = TxnReader::new();
    for line in lines {
        reader.push(line)?;
    }
    Ok(reader.finish())
}

/// Parses `target("key"[, "end"]) op "operand"`.
fn parse_compare(line: &[u8]) -> Result<Compare, String> {
    let shown = String::from_utf8_lossy(line);
    let mut cur = Cursor::new(line);
    let name = cur.take_while(|b| b.is_ascii_alphabetic());
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    cur.skip_ws();
    if !cur.eat(b'(') {
        return Err(format!(
            "malformed comparison {shown:?}: expected TARGET(\"KEY\") OP \"OPERAND\""
        ));
    }
    cur.skip_ws();
    let key = cur
        .quoted()
        .map_err(|e| format!("malformed comparison {shown:?}: key: {e}"))?;
    cur.skip_ws();
    let end = if cur.eat(b',') {
        cur.skip_ws();
        let end = cur
            .quoted()
            .map_err(|e| format!("malformed comparison {shown:?}: range end: {e}"))?;
        cur.skip_ws();
        Some(end)
    } else {
        None
    };
    if !cur.eat(b')') {
        return Err(format!(
            "malformed comparison {shown:?}: expected ')' after the key"
        ));
    }
    cur.skip_ws();
    let op_text = cur.take_while(|b| matches!(b, b'=' | b'!' | b'<' | b'>'));
    let op = match op_text {
        b"=" | b"==" => CompareOp::Equal,
        b"!=" => CompareOp::NotEqual,
        b"<" => CompareOp::Less,
        b">" => CompareOp::Greater,
        other => {
            return Err(format!(
                "malformed comparison {shown:?}: unknown operator {:?} (use =, !=, < or >)",
                String::from_utf8_lossy(other)
            ))
        }
    };
    cur.skip_ws();
    let operand = cur
        .word()
        .map_err(|e| format!("malformed comparison {shown:?}: operand: {e}"))?
        .ok_or_else(|| format!("malformed comparison {shown:?}: missing operand"))?;
    cur.skip_ws();
    if !cur.at_end() {
        return Err(format!(
            "malformed comparison {shown:?}: unexpected text after the operand"
        ));
    }
    let number = |what: &str| -> Result<u64, String> {
        std::str::from_utf8(&operand)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| {
                format!(
                    "malformed comparison {shown:?}: {what} operand {:?} is not a non-negative integer",
                    String::from_utf8_lossy(&operand)
                )
            })
    };
    let target = match name.as_str() {
        "m" | "mod" => CompareTarget::ModRevision(number("mod")?),
        "c" | "create" => CompareTarget::CreateRevision(number("create")?),
        "ver" | "version" => CompareTarget::Version(number("version")?),
        "val" | "value" => CompareTarget::Value(operand),
        "lease" => {
            let text = String::from_utf8_lossy(&operand);
            CompareTarget::Lease(
                lease_id::parse(&text)
                    .map_err(|e| format!("malformed comparison {shown:?}: {e}"))?,
            )
        }
        other => {
            return Err(format!(
                "malformed comparison {shown:?}: unknown target {other:?} \
                 (use mod, create, version, value or lease)"
            ))
        }
    };
    let range = match end {
        Some(end) => KeyRange::range(key, end),
        None => KeyRange::single(key),
    };
    Ok(Compare { range, op, target })
}

/// Parses one operation line (`put ...`, `del ...`, `get ...`).
fn parse_op(line: &[u8]) -> Result<(Op, Option<GetPlan>), String> {
    let words = words::split(line)?;
    let parsed = TxnOpLine::try_parse_from(words).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        format!("bad operation {:?}: {first}", String::from_utf8_lossy(line))
    })?;
    match parsed.op {
        TxnOp::Put(args) => {
            if args.ignore_value || args.ignore_lease {
                return Err(format!(
                    "bad operation {:?}: --ignore-value and --ignore-lease are not supported \
                     inside a txn (revkv's library has no such put)",
                    String::from_utf8_lossy(line)
                ));
            }
            if args.value.is_none() {
                return Err(format!(
                    "bad operation {:?}: put needs a key and a value",
                    String::from_utf8_lossy(line)
                ));
            }
            let plan = ops::put_plan(args, None).map_err(|e| e.message)?;
            Ok((Op::Put(plan.req), None))
        }
        TxnOp::Del(args) => Ok((
            Op::Delete(ops::delete_request(args).map_err(|e| e.message)?),
            None,
        )),
        TxnOp::Get(args) => {
            let plan = ops::get_plan(args).map_err(|e| e.message)?;
            Ok((Op::Range(plan.req.clone()), Some(plan)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use revkv::{DeleteRequest, PutRequest, RangeRequest};

    #[test]
    fn three_sections_of_etcdctl_format() {
        let input = b"mod(\"k\") = \"0\"\nvalue(\"k\") != \"v\"\n\nput k v\nput \"a b\" \"c\\nd\" --prev-kv\n\ndel k\nget p --prefix --keys-only\n";
        let p = parse_txn(input).expect("parses");
        assert_eq!(
            p.txn.compares,
            vec![
                Compare::mod_revision("k", CompareOp::Equal, 0),
                Compare::value("k", CompareOp::NotEqual, "v"),
            ]
        );
        assert_eq!(
            p.txn.success,
            vec![
                Op::put("k", "v"),
                Op::Put(PutRequest::new("a b", "c\nd").prev_kv())
            ]
        );
        assert_eq!(
            p.txn.failure,
            vec![
                Op::delete("k"),
                Op::Range(RangeRequest::prefix("p").keys_only())
            ]
        );
        assert_eq!(p.failure_gets[0], None);
        assert!(p.failure_gets[1].as_ref().is_some_and(|g| !g.count_only));
    }

    #[test]
    fn every_compare_target_and_operator() {
        let cases: [(&[u8], Compare); 8] = [
            (
                b"m(\"k\") > \"1\"",
                Compare::mod_revision("k", CompareOp::Greater, 1),
            ),
            (
                b"create(\"k\") < \"5\"",
                Compare::create_revision("k", CompareOp::Less, 5),
            ),
            (
                b"c(\"k\")==\"5\"",
                Compare::create_revision("k", CompareOp::Equal, 5),
            ),
            (
                b"version(\"k\") > \"2\"",
                Compare::version("k", CompareOp::Greater, 2),
            ),
            (
                b"ver(\"k\") != 3",
                Compare::version("k", CompareOp::NotEqual, 3),
            ),
            (
                b"lease(\"k\") = \"1f\"",
                Compare::lease("k", CompareOp::Equal, 0x1f),
            ),
            (
                b"val(`k`) = \"\\x00\\u00e9\"",
                Compare::value("k", CompareOp::Equal, b"\x00\xc3\xa9".to_vec()),
            ),
            (
                b"mod(\"a\", \"b\") = \"0\"",
                Compare::mod_revision("a", CompareOp::Equal, 0).over(KeyRange::range("a", "b")),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                parse_compare(line),
                Ok(want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn malformed_compares_are_errors_not_panics() {
        for line in [
            &b"mod(k) = \"0\""[..],
            b"mod(\"k\" = \"0\"",
            b"mod(\"k\") ~ \"0\"",
            b"mod(\"k\") = \"x\"",
            b"mod(\"k\") = \"-1\"",
            b"size(\"k\") = \"0\"",
            b"mod(\"k\") =",
            b"mod(\"k\") = \"0\" extra",
            b"value(\"k) = \"0\"",
            b"value(\"\\q\") = \"0\"",
            b"value(\"\\x4\") = \"0\"",
            b"value(\"\\ud800\") = \"0\"",
            b"(",
            b"\xff\xfe",
        ] {
            assert!(
                parse_compare(line).is_err(),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn operations_use_the_command_syntax() {
        let (op, _) = parse_op(b"del a c --prev-kv").expect("del");
        assert_eq!(op, Op::Delete(DeleteRequest::range("a", "c").prev_kv()));
        let (op, plan) = parse_op(b"range a --from-key --count-only").expect("range");
        assert_eq!(
            op,
            Op::Range(RangeRequest::new(KeyRange::from_key("a")).count_only())
        );
        assert!(plan.is_some_and(|p| p.count_only));
        let (op, _) = parse_op(b"put k v --lease 0x10").expect("put");
        assert_eq!(op, Op::Put(PutRequest::new("k", "v").lease(16)));
        // Lease ids are hex, as etcdctl reads them.
        let (op, _) = parse_op(b"put k v --lease 10").expect("put");
        assert_eq!(op, Op::Put(PutRequest::new("k", "v").lease(16)));
        for bad in [
            &b"put k"[..],
            b"put",
            b"frob k",
            b"get k --bogus",
            b"get k --rev x",
            b"del a b --prefix",
            b"put \"k v",
            b"put --help",
            b"put k --ignore-value",
            b"get k --sort-by size",
        ] {
            let err = parse_op(bad).expect_err(&String::from_utf8_lossy(bad));
            assert!(!err.contains('\n'), "one-line message: {err}");
        }
    }

    #[test]
    fn empty_sections_comments_and_trailing_text() {
        let p = parse_txn(b"").expect("empty");
        assert_eq!(p.txn, Txn::new());
        let p = parse_txn(b"# no compares\n\n\nput k v\r\n").expect("failure only");
        assert!(p.txn.compares.is_empty() && p.txn.success.is_empty());
        assert_eq!(p.txn.failure, vec![Op::put("k", "v")]);
        let err = parse_txn(b"\nput a 1\n\nput b 2\n\nput c 3\n").expect_err("4th section");
        assert_eq!(err.line, 6);
        let err = parse_txn(b"mod(\"k\") = \"0\"\nbogus\n").expect_err("bad compare");
        assert_eq!(err.line, 2);
        assert!(err.to_string().starts_with("txn input line 2: "));
    }
}
