//! Lease ids as etcdctl writes and reads them: hexadecimal, printed with 16
//! digits (`442b0eb6542fb976`).

/// Parses a lease id in hexadecimal, as etcdctl does (`strconv.ParseInt(s,
/// 16, 64)`): an optional sign, then hex digits. A `0x` prefix is also
/// accepted.
pub fn parse(s: &str) -> Result<i64, String> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
        .unwrap_or(digits);
    let bad = || format!("bad lease ID {s:?}, expecting ID in hex (as `lease grant` prints it)");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let magnitude = u64::from_str_radix(digits, 16).map_err(|_| bad())?;
    if negative {
        0i64.checked_sub_unsigned(magnitude).ok_or_else(bad)
    } else {
        i64::try_from(magnitude).map_err(|_| bad())
    }
}

/// Formats a lease id as etcdctl does (Go's `%016x` of an int64: 16 hex
/// digits, or a minus sign and 15 digits for a negative id).
pub fn format(id: i64) -> String {
    if id < 0 {
        format!("-{:015x}", id.unsigned_abs())
    } else {
        format!("{id:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_in_hex_like_etcdctl() {
        assert_eq!(format(0x442b0eb6542fb976), "442b0eb6542fb976");
        assert_eq!(format(0x1234), "0000000000001234");
        assert_eq!(format(-1), "-000000000000001");
        assert_eq!(parse("442b0eb6542fb976"), Ok(0x442b0eb6542fb976));
        assert_eq!(parse("0000000000001234"), Ok(0x1234));
        assert_eq!(parse("10"), Ok(16));
        assert_eq!(parse("0x2A"), Ok(42));
        assert_eq!(parse("-1"), Ok(-1));
        assert_eq!(parse(&format(i64::MIN)), Ok(i64::MIN));
        for bad in ["", "x", "0x", "zz", "8000000000000000", "1 2"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
