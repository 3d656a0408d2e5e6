//! Printing answers: etcdctl's plain format, or one JSON object per command
//! with etcd's field names (keys and values base64).

use crate::dump::Counts;
use crate::ops::Shown;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use revkv::{
    DeleteResponse, Event, EventKind, KeyValue, LeaseTimeToLive, OpResponse, Problem, PutResponse,
    RangeResponse, Stats, TxnResponse, VerifyReport, WatchResponse,
};
use serde_json::{json, Value};
use std::io::{self, Write};
use std::path::Path;

/// Plain text or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// etcdctl's simple format.
    Plain,
    /// One JSON object on one line.
    Json,
}

/// Writes answers to `out` in one format.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`.
    pub fn new(out: W, format: Format) -> Printer<W> {
        Printer { out, format }
    }

    /// Flushes and hands back the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Flushes what was printed so far (after each answer of a command that
    /// keeps running).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The writer itself, for output that is not an answer (`dump`).
    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }

    fn json(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    fn line(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.out.write_all(b"\n")
    }

    fn kv_plain(&mut self, kv: &KeyValue, shown: Shown) -> io::Result<()> {
        self.line(&kv.key)?;
        if shown == Shown::Full {
            self.line(&kv.value)?;
        }
        Ok(())
    }

    /// The answer to `put`: `OK`, then the previous key and value if any.
    pub fn put(&mut self, resp: &PutResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&put_json(resp)),
            Format::Plain => self.put_plain(resp),
        }
    }

    fn put_plain(&mut self, resp: &PutResponse) -> io::Result<()> {
        self.line(b"OK")?;
        if let Some(prev) = &resp.prev_kv {
            self.kv_plain(prev, Shown::Full)?;
        }
        Ok(())
    }

    /// The answer to `get` or `range`.
    pub fn range(&mut self, resp: &RangeResponse, shown: Shown) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&range_json(resp)),
            Format::Plain => self.range_plain(resp, shown),
        }
    }

    fn range_plain(&mut self, resp: &RangeResponse, shown: Shown) -> io::Result<()> {
        if shown == Shown::CountOnly {
            return self.line(resp.count.to_string().as_bytes());
        }
        for kv in &resp.kvs {
            self.kv_plain(kv, shown)?;
        }
        Ok(())
    }

    /// The answer to `del`: the count, then the deleted keys and values if asked.
    pub fn delete(&mut self, resp: &DeleteResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&delete_json(resp)),
            Format::Plain => self.delete_plain(resp),
        }
    }

    fn delete_plain(&mut self, resp: &DeleteResponse) -> io::Result<()> {
        self.line(resp.deleted.to_string().as_bytes())?;
        for kv in &resp.prev_kvs {
            self.kv_plain(kv, Shown::Full)?;
        }
        Ok(())
    }

    /// The answer to `txn`; `shown` says how to print each read of the branch
    /// that ran.
    pub fn txn(&mut self, resp: &TxnResponse, shown: &[Shown]) -> io::Result<()> {
        if self.format == Format::Json {
            let responses: Vec<Value> = resp
                .responses
                .iter()
                .map(|r| match r {
                    OpResponse::Put(p) => json!({ "response_put": put_json(p) }),
                    OpResponse::Delete(d) => json!({ "response_delete_range": delete_json(d) }),
                    OpResponse::Range(g) => json!({ "response_range": range_json(g) }),
                })
                .collect();
            return self.json(&json!({
                "header": header(resp.revision),
                "succeeded": resp.succeeded,
                "responses": responses,
            }));
        }
        self.line(if resp.succeeded {
            b"SUCCESS"
        } else {
            b"FAILURE"
        })?;
        for (i, r) in resp.responses.iter().enumerate() {
            self.line(b"")?;
            match r {
                OpResponse::Put(p) => self.put_plain(p)?,
                OpResponse::Delete(d) => self.delete_plain(d)?,
                OpResponse::Range(g) => {
                    self.range_plain(g, shown.get(i).copied().unwrap_or(Shown::Full))?
                }
            }
        }
        Ok(())
    }

    /// The answer to `stats`: `name: value` lines, or one JSON object.
    pub fn stats(&mut self, s: &Stats) -> io::Result<()> {
        let fields = [
            ("revision", s.revision),
            ("compact_revision", s.compact_revision),
            ("live_keys", s.live_keys),
            ("indexed_keys", s.indexed_keys),
            ("indexed_revisions", s.indexed_revisions),
            ("segments", s.segments),
            ("disk_bytes", s.disk_bytes),
            ("data_syncs", s.data_syncs),
        ];
        match self.format {
            Format::Json => {
                let map: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(name, v)| (name.to_string(), json!(v)))
                    .collect();
                self.json(&Value::Object(map))
            }
            Format::Plain => {
                for (name, v) in fields {
                    self.line(format!("{name}: {v}").as_bytes())?;
                }
                Ok(())
            }
        }
    }

    /// The answer to `compact`: `compacted revision REV`.
    pub fn compact(&mut self, compact_revision: u64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json!({
                "header": header(revision),
                "compact_revision": compact_revision,
            })),
            Format::Plain => self.line(format!("compacted revision {compact_revision}").as_bytes()),
        }
    }

    /// The answer to `lease grant`.
    pub fn lease_granted(&mut self, id: i64, ttl: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json!({ "header": header(revision), "ID": id, "TTL": ttl })),
            Format::Plain => self.line(format!("lease {id} granted with TTL({ttl}s)").as_bytes()),
        }
    }

    /// The answer to `lease revoke`; `revision` is the one that deleted its keys.
    pub fn lease_revoked(&mut self, id: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json!({ "header": header(revision) })),
            Format::Plain => self.line(format!("lease {id} revoked").as_bytes()),
        }
    }

    /// One keep-alive of `lease keep-alive`.
    pub fn lease_kept_alive(&mut self, id: i64, ttl: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json!({ "header": header(revision), "ID": id, "TTL": ttl })),
            Format::Plain => self.line(format!("lease {id} keepalived with TTL({ttl})").as_bytes()),
        }
    }

    /// The answer to `lease ttl`; the keys are printed when `with_keys`.
    pub fn lease_ttl(
        &mut self,
        t: &LeaseTimeToLive,
        with_keys: bool,
        revision: u64,
    ) -> io::Result<()> {
        if self.format == Format::Json {
            return self.json(&json!({
                "header": header(revision),
                "ID": t.id,
                "TTL": t.ttl,
                "grantedTTL": t.granted_ttl,
                "keys": t.keys.iter().map(|k| b64(k)).collect::<Vec<_>>(),
            }));
        }
        let mut line = format!(
            "lease {} granted with TTL({}s), remaining({}s)",
            t.id, t.granted_ttl, t.ttl
        )
        .into_bytes();
        if with_keys {
            line.extend_from_slice(b", attached keys([");
            line.extend_from_slice(&t.keys.join(&b' '));
            line.extend_from_slice(b"])");
        }
        self.line(&line)
    }

    /// The answer to `lease list`: `found N leases`, then one id per line.
    pub fn lease_list(&mut self, ids: &[i64], revision: u64) -> io::Result<()> {
        if self.format == Format::Json {
            let leases: Vec<Value> = ids.iter().map(|id| json!({ "ID": id })).collect();
            return self.json(&json!({ "header": header(revision), "leases": leases }));
        }
        self.line(format!("found {} leases", ids.len()).as_bytes())?;
        for id in ids {
            self.line(id.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// One response of `watch`: three lines per event (five with a previous
    /// key-value), or one JSON object.
    pub fn watch(&mut self, resp: &WatchResponse) -> io::Result<()> {
        if self.format == Format::Json {
            return self.json(&json!({
                "header": header(resp.revision),
                "watch_id": resp.watch_id,
                "compact_revision": resp.compact_revision,
                "events": resp.events.iter().map(event_json).collect::<Vec<_>>(),
            }));
        }
        for e in &resp.events {
            self.line(event_type(e).as_bytes())?;
            if let Some(prev) = &e.prev_kv {
                self.kv_plain(prev, Shown::Full)?;
            }
            self.kv_plain(&e.kv, Shown::Full)?;
        }
        Ok(())
    }

    /// The answer to `verify`: the figures, then one `file:offset: what`
    /// line per problem. `opened` is false when the store could not be
    /// opened (the problems then say why, and the figures are zeros).
    pub fn verify(&mut self, report: &VerifyReport, opened: bool) -> io::Result<()> {
        let fields = [
            ("segments", report.segments),
            ("frames", report.frames),
            ("revisions", report.revisions),
            ("keys", report.keys),
            ("bytes", report.bytes),
        ];
        if self.format == Format::Json {
            let mut map = serde_json::Map::new();
            map.insert("opened".into(), json!(opened));
            for (name, v) in fields {
                map.insert(name.into(), json!(v));
            }
            let problems: Vec<Value> = report.problems.iter().map(problem_json).collect();
            map.insert("problems".into(), json!(problems));
            return self.json(&Value::Object(map));
        }
        if opened {
            for (name, v) in fields {
                self.line(format!("{name}: {v}").as_bytes())?;
            }
        }
        self.line(format!("problems: {}", report.problems.len()).as_bytes())?;
        for p in &report.problems {
            self.line(format!("{}:{}: {}", p.file.display(), p.offset, p.what).as_bytes())?;
        }
        Ok(())
    }

    /// The answer to `dump -o FILE`.
    pub fn dumped(&mut self, c: &Counts, file: &Path) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json!({
                "header": header(c.revision),
                "compact_revision": c.compact_revision,
                "revisions": c.revisions,
                "ops": c.ops,
                "leases": c.leases,
                "file": file.display().to_string(),
            })),
            Format::Plain => self.line(
                format!(
                    "dumped revision {} ({} revisions, {} writes, {} leases) to {}",
                    c.revision,
                    c.revisions,
                    c.ops,
                    c.leases,
                    file.display()
                )
                .as_bytes(),
            ),
        }
    }

    /// The answer to `restore`: figures about the new store.
    pub fn restored(&mut self, c: &Counts) -> io::Result<()> {
        let fields = [
            ("revision", c.revision),
            ("compact_revision", c.compact_revision),
            ("revisions", c.revisions),
            ("ops", c.ops),
            ("leases", c.leases),
        ];
        match self.format {
            Format::Json => {
                let map: serde_json::Map<String, Value> = fields
                    .iter()
                    .map(|(name, v)| (name.to_string(), json!(v)))
                    .collect();
                self.json(&Value::Object(map))
            }
            Format::Plain => {
                for (name, v) in fields {
                    self.line(format!("{name}: {v}").as_bytes())?;
                }
                Ok(())
            }
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn header(revision: u64) -> Value {
    json!({ "revision": revision })
}

/// A key-value in etcd's JSON shape.
fn kv_json(kv: &KeyValue) -> Value {
    json!({
        "key": b64(&kv.key),
        "create_revision": kv.create_revision,
        "mod_revision": kv.mod_revision,
        "version": kv.version,
        "value": b64(&kv.value),
        "lease": kv.lease,
    })
}

/// `PUT` or `DELETE`, as etcd names event types.
fn event_type(e: &Event) -> &'static str {
    match e.kind {
        EventKind::Put => "PUT",
        EventKind::Delete => "DELETE",
    }
}

fn event_json(e: &Event) -> Value {
    json!({
        "type": event_type(e),
        "kv": kv_json(&e.kv),
        "prev_kv": e.prev_kv.as_ref().map(kv_json),
    })
}

fn problem_json(p: &Problem) -> Value {
    json!({
        "file": p.file.display().to_string(),
        "offset": p.offset,
        "what": p.what,
    })
}

fn put_json(resp: &PutResponse) -> Value {
    json!({
        "header": header(resp.revision),
        "prev_kv": resp.prev_kv.as_ref().map(kv_json),
    })
}

fn range_json(resp: &RangeResponse) -> Value {
    json!({
        "header": header(resp.revision),
        "kvs": resp.kvs.iter().map(kv_json).collect::<Vec<_>>(),
        "count": resp.count,
        "more": resp.more,
    })
}

fn delete_json(resp: &DeleteResponse) -> Value {
    json!({
        "header": header(resp.revision),
        "deleted": resp.deleted,
        "prev_kvs": resp.prev_kvs.iter().map(kv_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 0,
        }
    }

    fn render(format: Format, f: impl FnOnce(&mut Printer<Vec<u8>>) -> io::Result<()>) -> String {
        let mut p = Printer::new(Vec::new(), format);
        f(&mut p).expect("print");
        String::from_utf8(p.finish().expect("flush")).expect("utf-8")
    }

    #[test]
    fn plain_txn_prints_each_response_after_an_empty_line() {
        let resp = TxnResponse {
            revision: 4,
            succeeded: false,
            responses: vec![
                OpResponse::Put(PutResponse {
                    revision: 4,
                    prev_kv: None,
                }),
                OpResponse::Delete(DeleteResponse {
                    revision: 4,
                    deleted: 1,
                    prev_kvs: vec![],
                }),
                OpResponse::Range(RangeResponse {
                    revision: 4,
                    kvs: vec![kv("a", "1")],
                    count: 1,
                    more: false,
                }),
            ],
        };
        let text = render(Format::Plain, |p| {
            p.txn(&resp, &[Shown::Full, Shown::Full, Shown::KeysOnly])
        });
        assert_eq!(text, "FAILURE\n\nOK\n\n1\n\na\n");
    }

    #[test]
    fn json_kvs_are_base64_with_numbers() {
        let resp = RangeResponse {
            revision: 7,
            kvs: vec![kv("k", "v")],
            count: 3,
            more: true,
        };
        let text = render(Format::Json, |p| p.range(&resp, Shown::Full));
        let v: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["header"]["revision"], 7);
        assert_eq!(v["kvs"][0]["key"], "aw==");
        assert_eq!(v["kvs"][0]["value"], "dg==");
        assert_eq!(v["kvs"][0]["mod_revision"], 3);
        assert_eq!(v["count"], 3);
        assert_eq!(v["more"], true);
    }
}
