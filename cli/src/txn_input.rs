//! The transaction format `revkv txn` reads from standard input: etcdctl's.
//! Compares, an empty line, success operations, an empty line, failure
//! operations. See [`crate::args::TXN_HELP`] for the full description.

use crate::args::{TxnOp, TxnOpLine};
use crate::ops::{self, Shown};
use clap::Parser;
use revkv::{Compare, CompareOp, CompareTarget, KeyRange, Op, Txn};
use std::ffi::OsString;
use std::fmt;

/// A transaction read from the input, with how to print each read of each
/// branch.
#[derive(Debug)]
pub struct ParsedTxn {
    /// The transaction to run.
    pub txn: Txn,
    /// How to print the answer of each operation of the success branch.
    pub success_shown: Vec<Shown>,
    /// How to print the answer of each operation of the failure branch.
    pub failure_shown: Vec<Shown>,
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

/// Parses a whole transaction.
pub fn parse_txn(input: &[u8]) -> Result<ParsedTxn, InputError> {
    let mut parsed = ParsedTxn {
        txn: Txn::new(),
        success_shown: Vec::new(),
        failure_shown: Vec::new(),
    };
    // 0 = compares, 1 = success, 2 = failure, 3 = done.
    let mut section = 0;
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        // The newline that ends the last line does not start another.
        lines.pop();
    }
    for (i, raw) in lines.into_iter().enumerate() {
        let line = raw.trim_ascii();
        let at = |message: String| InputError {
            line: i + 1,
            message,
        };
        if line.is_empty() {
            if section < 3 {
                section += 1;
            }
            continue;
        }
        if line.starts_with(b"#") {
            continue;
        }
        match section {
            0 => parsed.txn.compares.push(parse_compare(line).map_err(at)?),
            1 | 2 => {
                let (op, shown) = parse_op(line).map_err(at)?;
                if section == 1 {
                    parsed.txn.success.push(op);
                    parsed.success_shown.push(shown);
                } else {
                    parsed.txn.failure.push(op);
                    parsed.failure_shown.push(shown);
                }
            }
            _ => {
                return Err(at(
                    "unexpected text after the failure operations (a transaction has three \
                     sections: compares, success, failure)"
                        .into(),
                ))
            }
        }
    }
    Ok(parsed)
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
                crate::args::parse_lease(&text)
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
fn parse_op(line: &[u8]) -> Result<(Op, Shown), String> {
    let mut cur = Cursor::new(line);
    let mut words = Vec::new();
    loop {
        cur.skip_ws();
        match cur.word()? {
            Some(w) => words.push(to_os(w)?),
            None => break,
        }
    }
    let parsed = TxnOpLine::try_parse_from(words).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        format!("bad operation {:?}: {first}", String::from_utf8_lossy(line))
    })?;
    match parsed.op {
        TxnOp::Put(args) => {
            if args.value.is_none() {
                return Err(format!(
                    "bad operation {:?}: put needs a key and a value",
                    String::from_utf8_lossy(line)
                ));
            }
            let req = ops::put_request(args, None).map_err(|e| e.message)?;
            Ok((Op::Put(req), Shown::Full))
        }
        TxnOp::Del(args) => Ok((
            Op::Delete(ops::delete_request(args).map_err(|e| e.message)?),
            Shown::Full,
        )),
        TxnOp::Get(args) => {
            let (req, shown) = ops::range_request(args).map_err(|e| e.message)?;
            Ok((Op::Range(req), shown))
        }
    }
}

#[cfg(unix)]
fn to_os(bytes: Vec<u8>) -> Result<OsString, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn to_os(bytes: Vec<u8>) -> Result<OsString, String> {
    String::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|_| "arguments must be UTF-8 on this platform".to_string())
}

/// A position in one line.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    /// A quoted string (required).
    fn quoted(&mut self) -> Result<Vec<u8>, String> {
        match self.peek() {
            Some(b'"') => self.double_quoted(),
            Some(b'`') => self.back_quoted(),
            _ => Err("expected a string in double quotes".into()),
        }
    }

    /// A quoted string or an unquoted word; `None` at the end of the line.
    fn word(&mut self) -> Result<Option<Vec<u8>>, String> {
        match self.peek() {
            None => Ok(None),
            Some(b'"' | b'`') => self.quoted().map(Some),
            Some(_) => Ok(Some(self.take_while(|b| !b.is_ascii_whitespace()).to_vec())),
        }
    }

    fn back_quoted(&mut self) -> Result<Vec<u8>, String> {
        self.pos += 1;
        let body = self.take_while(|b| b != b'`').to_vec();
        if !self.eat(b'`') {
            return Err("unterminated `string`".into());
        }
        Ok(body)
    }

    fn double_quoted(&mut self) -> Result<Vec<u8>, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err("unterminated \"string\"".into());
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(b),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(b) = self.peek() else {
            return Err("unterminated \"string\"".into());
        };
        self.pos += 1;
        match b {
            b'"' | b'\\' | b'\'' | b'`' => out.push(b),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'0' => out.push(0),
            b'x' => out.push(self.hex(2)? as u8),
            b'u' => {
                let code = self.hex(4)?;
                let c = char::from_u32(code)
                    .ok_or_else(|| format!("\\u{code:04x} is not a character"))?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            other => {
                return Err(format!(
                    "unknown escape \\{}",
                    String::from_utf8_lossy(&[other])
                ))
            }
        }
        Ok(())
    }

    fn hex(&mut self, digits: usize) -> Result<u32, String> {
        let end = self.pos + digits;
        let text = self
            .bytes
            .get(self.pos..end)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("an escape needs {digits} hex digits"))?;
        self.pos = end;
        u32::from_str_radix(text, 16).map_err(|e| e.to_string())
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
        assert_eq!(p.failure_shown, vec![Shown::Full, Shown::KeysOnly]);
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
                b"lease(\"k\") = \"0\"",
                Compare::lease("k", CompareOp::Equal, 0),
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
        let (op, shown) = parse_op(b"range a --from-key --count-only").expect("range");
        assert_eq!(
            op,
            Op::Range(RangeRequest::new(KeyRange::from_key("a")).count_only())
        );
        assert_eq!(shown, Shown::CountOnly);
        let (op, _) = parse_op(b"put k v --lease 0x10").expect("put");
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
