//! `-w simple` (the default): etcdctl's plain text. A key-value is its key
//! on one line and its value on the next (raw bytes, or `\xHH` escapes with
//! `--hex`; only the value with `get --print-value-only`).

use super::text;
use crate::lease_id;
use revkv::{
    DeleteResponse, EventKind, KeyValue, LeaseTimeToLive, OpResponse, PutResponse, RangeResponse,
    TxnResponse, WatchResponse,
};
use std::io::{self, Write};

/// The options of the simple format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// `--hex`: keys and values as `\xHH` escapes.
    pub hex: bool,
    /// `get --print-value-only`: values without their keys.
    pub value_only: bool,
    /// `get --count-only` (revkv's addition to the simple format): only the
    /// count.
    pub count_only: bool,
}

fn line(out: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    out.write_all(bytes)?;
    out.write_all(b"\n")
}

/// etcdctl's `printKV`.
pub fn kv(out: &mut dyn Write, style: Style, kv: &KeyValue) -> io::Result<()> {
    let (k, v) = if style.hex {
        (text::hex(&kv.key), text::hex(&kv.value))
    } else {
        (kv.key.clone(), kv.value.clone())
    };
    if !style.value_only {
        line(out, &k)?;
    }
    line(out, &v)
}

/// `OK`, then the previous key-value if any.
pub fn put(out: &mut dyn Write, style: Style, resp: &PutResponse) -> io::Result<()> {
    line(out, b"OK")?;
    if let Some(prev) = &resp.prev_kv {
        kv(out, style, prev)?;
    }
    Ok(())
}

/// Each key-value (with `--keys-only` their values are empty, so an empty
/// line follows each key, as etcdctl prints it); only the count with
/// `--count-only`.
pub fn range(out: &mut dyn Write, style: Style, resp: &RangeResponse) -> io::Result<()> {
    if style.count_only {
        return line(out, resp.count.to_string().as_bytes());
    }
    for item in &resp.kvs {
        kv(out, style, item)?;
    }
    Ok(())
}

/// The number deleted, then the deleted key-values if asked for.
pub fn delete(out: &mut dyn Write, style: Style, resp: &DeleteResponse) -> io::Result<()> {
    line(out, resp.deleted.to_string().as_bytes())?;
    for item in &resp.prev_kvs {
        kv(out, style, item)?;
    }
    Ok(())
}

/// `SUCCESS` or `FAILURE`, then each response after an empty line;
/// `styles` gives the style of each response (a get's `--count-only`).
pub fn txn(
    out: &mut dyn Write,
    style: Style,
    resp: &TxnResponse,
    count_only: &[bool],
) -> io::Result<()> {
    line(
        out,
        if resp.succeeded {
            b"SUCCESS"
        } else {
            b"FAILURE"
        },
    )?;
    for (i, r) in resp.responses.iter().enumerate() {
        line(out, b"")?;
        match r {
            OpResponse::Put(p) => put(out, style, p)?,
            OpResponse::Delete(d) => delete(out, style, d)?,
            OpResponse::Range(g) => {
                let count_only = count_only.get(i).copied().unwrap_or(false);
                range(
                    out,
                    Style {
                        count_only,
                        ..style
                    },
                    g,
                )?
            }
        }
    }
    Ok(())
}

/// `PUT` or `DELETE`, as etcd names event types.
pub fn event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Put => "PUT",
        EventKind::Delete => "DELETE",
    }
}

/// Each event: its type, the previous key-value if any, the key-value.
pub fn watch(out: &mut dyn Write, style: Style, resp: &WatchResponse) -> io::Result<()> {
    for e in &resp.events {
        line(out, event_type(e.kind).as_bytes())?;
        if let Some(prev) = &e.prev_kv {
            kv(out, style, prev)?;
        }
        kv(out, style, &e.kv)?;
    }
    Ok(())
}

/// `lease ID granted with TTL(Ns)`.
pub fn lease_grant(out: &mut dyn Write, id: i64, ttl: i64) -> io::Result<()> {
    let id = lease_id::format(id);
    line(
        out,
        format!("lease {id} granted with TTL({ttl}s)").as_bytes(),
    )
}

/// `lease ID revoked`.
pub fn lease_revoke(out: &mut dyn Write, id: i64) -> io::Result<()> {
    line(
        out,
        format!("lease {} revoked", lease_id::format(id)).as_bytes(),
    )
}

/// `lease ID keepalived with TTL(N)`.
pub fn lease_keep_alive(out: &mut dyn Write, id: i64, ttl: i64) -> io::Result<()> {
    let id = lease_id::format(id);
    line(
        out,
        format!("lease {id} keepalived with TTL({ttl})").as_bytes(),
    )
}

/// `lease ID already expired`, or `lease ID granted with TTL(Ns),
/// remaining(Ns)` and `, attached keys([K1 K2])` when keys were asked for.
pub fn lease_time_to_live(out: &mut dyn Write, t: &LeaseTimeToLive, keys: bool) -> io::Result<()> {
    let id = lease_id::format(t.id);
    if t.granted_ttl == 0 && t.ttl == -1 {
        return line(out, format!("lease {id} already expired").as_bytes());
    }
    let mut text = format!(
        "lease {id} granted with TTL({}s), remaining({}s)",
        t.granted_ttl, t.ttl
    )
    .into_bytes();
    if keys {
        text.extend_from_slice(b", attached keys([");
        text.extend_from_slice(&t.keys.join(&b' '));
        text.extend_from_slice(b"])");
    }
    line(out, &text)
}

/// `found N leases`, then one id per line.
pub fn lease_list(out: &mut dyn Write, ids: &[i64]) -> io::Result<()> {
    line(out, format!("found {} leases", ids.len()).as_bytes())?;
    for id in ids {
        line(out, lease_id::format(*id).as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_of(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 0,
        }
    }

    fn render(f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).expect("print");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn txn_prints_each_response_after_an_empty_line() {
        let resp = TxnResponse::new(4).succeeded(false).responses(vec![
            OpResponse::Put(PutResponse::new(4)),
            OpResponse::Delete(DeleteResponse::new(4).deleted(1)),
            OpResponse::Range(RangeResponse::new(4).kvs(vec![kv_of("a", "")]).count(1)),
            OpResponse::Range(RangeResponse::new(4).count(5)),
        ]);
        let text = render(|out| txn(out, Style::default(), &resp, &[false, false, false, true]));
        assert_eq!(text, "FAILURE\n\nOK\n\n1\n\na\n\n\n5\n");
    }

    #[test]
    fn hex_and_value_only() {
        let style = Style {
            hex: true,
            value_only: true,
            count_only: false,
        };
        assert_eq!(render(|out| kv(out, style, &kv_of("a", "b"))), "\\x62\n");
        let style = Style {
            hex: true,
            ..Style::default()
        };
        assert_eq!(render(|out| kv(out, style, &kv_of("a", ""))), "\\x61\n\n");
    }
}
