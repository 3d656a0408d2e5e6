//! `-w json`: the JSON etcdctl prints for the same answers.
//!
//! etcdctl marshals etcd's Go response structs with `encoding/json`, whose
//! generated protobuf fields are `omitempty`: a field that is zero, false,
//! empty or absent is left out (so a key-value without a lease has no
//! `lease`, a delete that removed nothing no `deleted`). revkv has no
//! cluster, member or raft term, so those header fields are zero and left
//! out too. Keys and values are base64 (standard alphabet, padded), numbers
//! are JSON numbers. Some answers are clientv3 structs rather than protobuf
//! ones and keep their own field names: a watch response (`Header`,
//! `Events`, `CompactRevision`, `Canceled`, `Created`), and the lease
//! answers, whose header fields sit at the top level.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use revkv::{
    DeleteResponse, Event, EventKind, KeyValue, LeaseTimeToLive, OpResponse, PutResponse,
    RangeResponse, TxnResponse, WatchResponse,
};
use serde_json::{json, Map, Value};

/// A JSON object built field by field, leaving out empty values as Go's
/// `omitempty` does.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn u64(mut self, name: &str, v: u64) -> Obj {
        if v != 0 {
            self.0.insert(name.into(), json!(v));
        }
        self
    }

    fn i64(mut self, name: &str, v: i64) -> Obj {
        if v != 0 {
            self.0.insert(name.into(), json!(v));
        }
        self
    }

    fn bool(mut self, name: &str, v: bool) -> Obj {
        if v {
            self.0.insert(name.into(), json!(true));
        }
        self
    }

    fn bytes(mut self, name: &str, v: &[u8]) -> Obj {
        if !v.is_empty() {
            self.0.insert(name.into(), json!(b64(v)));
        }
        self
    }

    fn value(mut self, name: &str, v: Option<Value>) -> Obj {
        if let Some(v) = v {
            self.0.insert(name.into(), v);
        }
        self
    }

    fn list(mut self, name: &str, v: Vec<Value>) -> Obj {
        if !v.is_empty() {
            self.0.insert(name.into(), Value::Array(v));
        }
        self
    }

    /// Always present, whatever its value (a field without `omitempty`).
    fn always(mut self, name: &str, v: Value) -> Obj {
        self.0.insert(name.into(), v);
        self
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// Base64, as Go's `encoding/json` writes a `[]byte`.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// etcd's `ResponseHeader`: only the revision (the other fields are zero).
pub fn header(revision: u64) -> Value {
    Obj::default().u64("revision", revision).done()
}

/// A `mvccpb.KeyValue`.
pub fn kv(kv: &KeyValue) -> Value {
    Obj::default()
        .bytes("key", &kv.key)
        .u64("create_revision", kv.create_revision)
        .u64("mod_revision", kv.mod_revision)
        .i64("version", i64::try_from(kv.version).unwrap_or(i64::MAX))
        .bytes("value", &kv.value)
        .i64("lease", kv.lease)
        .done()
}

/// A `PutResponse`.
pub fn put(resp: &PutResponse) -> Value {
    Obj::default()
        .always("header", header(resp.revision))
        .value("prev_kv", resp.prev_kv.as_ref().map(kv))
        .done()
}

/// A `RangeResponse`.
pub fn range(resp: &RangeResponse) -> Value {
    Obj::default()
        .always("header", header(resp.revision))
        .list("kvs", resp.kvs.iter().map(kv).collect())
        .bool("more", resp.more)
        .u64("count", resp.count)
        .done()
}

/// A `DeleteRangeResponse`.
pub fn delete(resp: &DeleteResponse) -> Value {
    Obj::default()
        .always("header", header(resp.revision))
        .u64("deleted", resp.deleted)
        .list("prev_kvs", resp.prev_kvs.iter().map(kv).collect())
        .done()
}

/// A `TxnResponse`: each response is `{"Response":{"ResponsePut":{..}}}`
/// (or `ResponseRange`, `ResponseDeleteRange`), the Go name of the oneof.
pub fn txn(resp: &TxnResponse) -> Value {
    let responses = resp
        .responses
        .iter()
        .map(|r| {
            let (name, inner) = match r {
                OpResponse::Put(p) => ("ResponsePut", put(p)),
                OpResponse::Delete(d) => ("ResponseDeleteRange", delete(d)),
                OpResponse::Range(g) => ("ResponseRange", range(g)),
            };
            json!({ "Response": { name: inner } })
        })
        .collect();
    Obj::default()
        .always("header", header(resp.revision))
        .bool("succeeded", resp.succeeded)
        .list("responses", responses)
        .done()
}

/// A `mvccpb.Event`: `type` is 1 for a delete and left out for a put (0).
pub fn event(e: &Event) -> Value {
    let kind = match e.kind {
        EventKind::Put => 0,
        EventKind::Delete => 1,
    };
    Obj::default()
        .u64("type", kind)
        .always("kv", kv(&e.kv))
        .value("prev_kv", e.prev_kv.as_ref().map(kv))
        .done()
}

/// A clientv3 `WatchResponse` with its events.
pub fn watch(resp: &WatchResponse) -> Value {
    json!({
        "Header": header(resp.revision),
        "Events": resp.events.iter().map(event).collect::<Vec<_>>(),
        "CompactRevision": 0,
        "Canceled": false,
        "Created": false,
    })
}

/// The clientv3 `WatchResponse` that cancels a watch below the compaction
/// revision (etcd sends it with an empty header).
pub fn watch_canceled(compact_revision: u64) -> Value {
    json!({
        "Header": {},
        "Events": [],
        "CompactRevision": compact_revision,
        "Canceled": true,
        "Created": false,
    })
}

/// A clientv3 `LeaseGrantResponse`: header fields at the top level, and an
/// `Error` string that is always present.
pub fn lease_grant(id: i64, ttl: i64, revision: u64) -> Value {
    Obj::default()
        .u64("revision", revision)
        .always("ID", json!(id))
        .always("TTL", json!(ttl))
        .always("Error", json!(""))
        .done()
}

/// A clientv3 `LeaseKeepAliveResponse`.
pub fn lease_keep_alive(id: i64, ttl: i64, revision: u64) -> Value {
    Obj::default()
        .u64("revision", revision)
        .always("ID", json!(id))
        .always("TTL", json!(ttl))
        .done()
}

/// A `LeaseRevokeResponse`.
pub fn lease_revoke(revision: u64) -> Value {
    json!({ "header": header(revision) })
}

/// A clientv3 `LeaseTimeToLiveResponse`: `keys` is null when there are none
/// (or they were not asked for).
pub fn lease_time_to_live(t: &LeaseTimeToLive, revision: u64) -> Value {
    let keys = if t.keys.is_empty() {
        Value::Null
    } else {
        t.keys.iter().map(|k| json!(b64(k))).collect()
    };
    Obj::default()
        .u64("revision", revision)
        .always("id", json!(t.id))
        .always("ttl", json!(t.ttl))
        .always("granted-ttl", json!(t.granted_ttl))
        .always("keys", keys)
        .done()
}

/// A clientv3 `LeaseLeasesResponse`.
pub fn lease_list(ids: &[i64], revision: u64) -> Value {
    let leases: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    Obj::default()
        .u64("revision", revision)
        .always("leases", Value::Array(leases))
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv_of(key: &str, value: &str, lease: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease,
        }
    }

    #[test]
    fn empty_fields_are_left_out_as_go_does() {
        let v = kv(&kv_of("k", "", 0));
        assert_eq!(
            v,
            json!({"key":"aw==","create_revision":2,"mod_revision":3,"version":2})
        );
        let v = kv(&kv_of("k", "v", 7));
        assert_eq!(v["lease"], 7);
        assert_eq!(v["value"], "dg==");
        let resp = RangeResponse::new(1);
        assert_eq!(range(&resp).to_string(), r#"{"header":{"revision":1}}"#);
    }

    #[test]
    fn txn_responses_use_the_go_oneof_names() {
        let resp = TxnResponse::new(4)
            .succeeded(true)
            .responses(vec![OpResponse::Put(PutResponse::new(4))]);
        assert_eq!(
            txn(&resp).to_string(),
            r#"{"header":{"revision":4},"succeeded":true,"responses":[{"Response":{"ResponsePut":{"header":{"revision":4}}}}]}"#
        );
    }
}
