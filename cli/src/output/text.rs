//! How etcdctl writes bytes in its text formats: as they are, as `\xHH`
//! escapes (`--hex`), or Go-quoted (`%q`, the fields format and the
//! variables of `watch -- CMD`).

/// `bytes` as etcdctl's `--hex` prints them: `\x` and two hex digits per byte.
pub fn hex(bytes: &[u8]) -> Vec<u8> {
    let mut out = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        out.push_str(&format!("\\x{b:02x}"));
    }
    out.into_bytes()
}

/// `bytes` quoted as Go's `%q` quotes a byte string (`strconv.Quote`):
/// double quotes, `\"` and `\\`, `\a \b \f \n \r \t \v`, `\xHH` for other
/// control bytes and for bytes that are not UTF-8, `\uHHHH`/`\UHHHHHHHH` for
/// characters that are not printable; printable characters as they are.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

fn push_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if printable(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.IsPrint`, approximately: the space, and characters that
/// are neither control characters, nor other white space, nor format
/// characters commonly met (zero-width and direction marks, the BOM).
fn printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_etcdctls() {
        assert_eq!(hex(b"a\x01"), b"\\x61\\x01");
        assert_eq!(hex(b""), b"");
    }

    #[test]
    fn quoting_is_gos() {
        // Recorded from `etcdctl get -w fields` on the key `é"\x01` (the
        // four bytes \ x 0 1) and the value "tab\there\x01".
        assert_eq!(go_quote("é\"\\x01".as_bytes()), r#""é\"\\x01""#);
        assert_eq!(go_quote(b"tab\there\x01"), r#""tab\there\x01""#);
        assert_eq!(go_quote(b"a\nb\xff"), r#""a\nb\xff""#);
        assert_eq!(
            go_quote("\u{a0}\u{1F600}".as_bytes()),
            "\"\\u00a0\u{1F600}\""
        );
        assert_eq!(go_quote(b"\x7f"), r#""\x7f""#);
    }
}
