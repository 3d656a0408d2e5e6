//! `-w fields`: etcdctl's `"Name" : value` lines. Keys and values are
//! Go-quoted; the header's cluster id, member id and raft term are 0, since
//! revkv has none.

use super::simple::event_type;
use super::text::go_quote;
use revkv::{
    DeleteResponse, KeyValue, LeaseTimeToLive, OpResponse, PutResponse, RangeResponse, TxnResponse,
    WatchResponse,
};
use std::io::{self, Write};

fn field(out: &mut dyn Write, name: &str, value: impl std::fmt::Display) -> io::Result<()> {
    writeln!(out, "\"{name}\" : {value}")
}

/// etcd's response header.
pub fn header(out: &mut dyn Write, revision: u64) -> io::Result<()> {
    field(out, "ClusterID", 0)?;
    field(out, "MemberID", 0)?;
    field(out, "Revision", revision)?;
    field(out, "RaftTerm", 0)
}

/// A key-value, each field name prefixed with `prefix` (`Prev` for a
/// previous key-value).
pub fn kv(out: &mut dyn Write, prefix: &str, kv: &KeyValue) -> io::Result<()> {
    field(out, &format!("{prefix}Key"), go_quote(&kv.key))?;
    field(out, &format!("{prefix}CreateRevision"), kv.create_revision)?;
    field(out, &format!("{prefix}ModRevision"), kv.mod_revision)?;
    field(out, &format!("{prefix}Version"), kv.version)?;
    field(out, &format!("{prefix}Value"), go_quote(&kv.value))?;
    field(out, &format!("{prefix}Lease"), kv.lease)
}

/// The answer to a put.
pub fn put(out: &mut dyn Write, resp: &PutResponse) -> io::Result<()> {
    header(out, resp.revision)?;
    if let Some(prev) = &resp.prev_kv {
        kv(out, "Prev", prev)?;
    }
    Ok(())
}

/// The answer to a get.
pub fn range(out: &mut dyn Write, resp: &RangeResponse) -> io::Result<()> {
    header(out, resp.revision)?;
    for item in &resp.kvs {
        kv(out, "", item)?;
    }
    field(out, "More", resp.more)?;
    field(out, "Count", resp.count)
}

/// The answer to a delete.
pub fn delete(out: &mut dyn Write, resp: &DeleteResponse) -> io::Result<()> {
    header(out, resp.revision)?;
    field(out, "Deleted", resp.deleted)?;
    for item in &resp.prev_kvs {
        kv(out, "Prev", item)?;
    }
    Ok(())
}

/// The answer to a txn: its header, `Succeeded`, then each response.
pub fn txn(out: &mut dyn Write, resp: &TxnResponse) -> io::Result<()> {
    header(out, resp.revision)?;
    field(out, "Succeeded", resp.succeeded)?;
    for r in &resp.responses {
        match r {
            OpResponse::Put(p) => put(out, p)?,
            OpResponse::Delete(d) => delete(out, d)?,
            OpResponse::Range(g) => range(out, g)?,
        }
    }
    Ok(())
}

/// A watch response: its header, then each event's type and key-values.
pub fn watch(out: &mut dyn Write, resp: &WatchResponse) -> io::Result<()> {
    header(out, resp.revision)?;
    for e in &resp.events {
        field(out, "Type", event_type(e.kind))?;
        if let Some(prev) = &e.prev_kv {
            kv(out, "Prev", prev)?;
        }
        kv(out, "", &e.kv)?;
    }
    Ok(())
}

/// The answer to a lease grant or keep-alive.
pub fn lease_id_ttl(out: &mut dyn Write, id: i64, ttl: i64, revision: u64) -> io::Result<()> {
    header(out, revision)?;
    field(out, "ID", id)?;
    field(out, "TTL", ttl)
}

/// The answer to `lease timetolive`.
pub fn lease_time_to_live(
    out: &mut dyn Write,
    t: &LeaseTimeToLive,
    revision: u64,
) -> io::Result<()> {
    header(out, revision)?;
    field(out, "ID", t.id)?;
    field(out, "TTL", t.ttl)?;
    field(out, "GrantedTTL", t.granted_ttl)?;
    for k in &t.keys {
        field(out, "Key", go_quote(k))?;
    }
    Ok(())
}

/// The answer to `lease list`.
pub fn lease_list(out: &mut dyn Write, ids: &[i64], revision: u64) -> io::Result<()> {
    header(out, revision)?;
    for id in ids {
        field(out, "ID", id)?;
    }
    Ok(())
}

/// `"name" : value` lines for revkv's own figures (stats, verify, dump,
/// restore), with etcd-style capitalized names.
pub fn figures(out: &mut dyn Write, figures: &[(&str, u64)]) -> io::Result<()> {
    for (name, v) in figures {
        field(out, &camel(name), v)?;
    }
    Ok(())
}

/// `compact_revision` -> `CompactRevision`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}
