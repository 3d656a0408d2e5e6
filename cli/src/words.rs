//! Splitting a line into words as etcdctl's txn and `watch -i` lines are
//! split: whitespace between words, double-quoted strings with escapes,
//! back-quoted raw strings.

use std::ffi::OsString;

/// The words of `line`.
pub fn split(line: &[u8]) -> Result<Vec<OsString>, String> {
    let mut cur = Cursor::new(line);
    let mut words = Vec::new();
    loop {
        cur.skip_ws();
        match cur.word()? {
            Some(w) => words.push(to_os(w)?),
            None => return Ok(words),
        }
    }
}

#[cfg(unix)]
pub fn to_os(bytes: Vec<u8>) -> Result<OsString, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(OsString::from_vec(bytes))
}

#[cfg(not(unix))]
pub fn to_os(bytes: Vec<u8>) -> Result<OsString, String> {
    String::from_utf8(bytes)
        .map(OsString::from)
        .map_err(|_| "arguments must be UTF-8 on this platform".to_string())
}

/// A position in one line.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Cursor<'a> {
        Cursor { bytes, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    pub fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.bytes[start..self.pos]
    }

    /// A quoted string (required).
    pub fn quoted(&mut self) -> Result<Vec<u8>, String> {
        match self.peek() {
            Some(b'"') => self.double_quoted(),
            Some(b'`') => self.back_quoted(),
            _ => Err("expected a string in double quotes".into()),
        }
    }

    /// A quoted string or an unquoted word; `None` at the end of the line.
    pub fn word(&mut self) -> Result<Option<Vec<u8>>, String> {
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

    #[test]
    fn words_split_on_whitespace_and_keep_quoted_strings() {
        let words = split(br#"watch "a b" `c\d` e\"#).expect("split");
        assert_eq!(words, ["watch", "a b", "c\\d", "e\\"]);
        assert!(split(b"put \"k v").is_err());
        assert_eq!(split(b"  ").expect("empty"), Vec::<OsString>::new());
    }
}
