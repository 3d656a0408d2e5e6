//! `get --sort-by TARGET --order ORDER`, done as etcd does it: etcdctl
//! drops ASCEND for a sort by KEY (the store's own order); a sort by
//! another target without an order is ascending; a request with an order
//! reads every key first and applies `--limit` after sorting. revkv's
//! library reads in key order only, so the tool sorts the answer. Ties keep
//! key order (etcd's sort is not stable; in practice it keeps key order on
//! small answers too).

use crate::error::{Failure, EXIT_BAD_FEATURE};
use revkv::{KeyValue, RangeResponse};
use std::cmp::Ordering;

/// What to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The key (the store's own order).
    Key,
    /// The version.
    Version,
    /// The create revision.
    Create,
    /// The mod revision.
    Modify,
    /// The value.
    Value,
}

/// The sort order of a request, as etcd's `RangeRequest.sort_order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// No sort asked for.
    None,
    /// Ascending.
    Ascend,
    /// Descending.
    Descend,
}

/// A request's sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// What to sort by.
    pub target: Target,
    /// The order in the request.
    pub order: Order,
}

impl Sort {
    /// The sort etcdctl sends for `--sort-by` and `--order` (case does not
    /// matter); a bad name fails with etcdctl's message and status.
    pub fn parse(sort_by: Option<&str>, order: Option<&str>) -> Result<Sort, Failure> {
        let order_name = order.unwrap_or("").to_ascii_uppercase();
        let order = match order_name.as_str() {
            "ASCEND" => Order::Ascend,
            "DESCEND" => Order::Descend,
            "" => Order::None,
            _ => {
                let message = format!("bad sort order {}", order.unwrap_or(""));
                return Err(Failure::new(EXIT_BAD_FEATURE, message));
            }
        };
        let target_name = sort_by.unwrap_or("").to_ascii_uppercase();
        let target = match target_name.as_str() {
            "CREATE" => Target::Create,
            "KEY" | "" => Target::Key,
            "MODIFY" => Target::Modify,
            "VALUE" => Target::Value,
            "VERSION" => Target::Version,
            _ => {
                let message = format!("bad sort target {}", sort_by.unwrap_or(""));
                return Err(Failure::new(EXIT_BAD_FEATURE, message));
            }
        };
        // clientv3.WithSort: the store already returns keys ascending.
        let order = if target == Target::Key && order == Order::Ascend {
            Order::None
        } else {
            order
        };
        Ok(Sort { target, order })
    }

    /// True when the store must be read without a limit (etcd reads every
    /// key when the request has an order, and limits after sorting).
    pub fn reads_all(&self) -> bool {
        self.order != Order::None
    }

    /// True when the answer must be sorted here.
    pub fn sorts(&self) -> bool {
        self.effective_order() != Order::None
    }

    /// True when sorting needs the values (which `--keys-only` then drops).
    pub fn needs_values(&self) -> bool {
        self.sorts() && self.target == Target::Value
    }

    fn effective_order(&self) -> Order {
        if self.target != Target::Key && self.order == Order::None {
            Order::Ascend
        } else {
            self.order
        }
    }

    /// Sorts `resp`'s key-values, then keeps the first `limit` (0: all),
    /// setting `more` when some were dropped.
    pub fn apply(&self, resp: &mut RangeResponse, limit: u64) {
        if self.sorts() {
            let descend = self.effective_order() == Order::Descend;
            let target = self.target;
            resp.kvs.sort_by(|a, b| {
                let o = compare(target, a, b);
                if descend {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if limit > 0 && resp.kvs.len() > limit {
            resp.kvs.truncate(limit);
            resp.more = true;
        }
    }
}

fn compare(target: Target, a: &KeyValue, b: &KeyValue) -> Ordering {
    match target {
        Target::Key => a.key.cmp(&b.key),
        Target::Version => a.version.cmp(&b.version),
        Target::Create => a.create_revision.cmp(&b.create_revision),
        Target::Modify => a.mod_revision.cmp(&b.mod_revision),
        Target::Value => a.value.cmp(&b.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str, version: u64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: 1,
            mod_revision: version,
            version,
            lease: 0,
        }
    }

    fn keys(resp: &RangeResponse) -> Vec<String> {
        resp.kvs
            .iter()
            .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
            .collect()
    }

    #[test]
    fn sorts_like_etcd() {
        let resp = RangeResponse::new(9)
            .kvs(vec![kv("a", "1", 3), kv("f", "1", 1), kv("t", "v", 2)])
            .count(3);
        // Recorded from etcd 3.4: `get "" --prefix --sort-by=VALUE
        // --order=DESCEND` puts equal values in key order.
        let sort = Sort::parse(Some("value"), Some("DESCEND")).expect("parse");
        let mut r = resp.clone();
        sort.apply(&mut r, 0);
        assert_eq!(keys(&r), ["t", "a", "f"]);
        let sort = Sort::parse(Some("VERSION"), None).expect("parse");
        assert!(!sort.reads_all() && sort.sorts());
        let mut r = resp.clone();
        sort.apply(&mut r, 2);
        assert_eq!(keys(&r), ["f", "t"]);
        assert!(r.more);
        let sort = Sort::parse(Some("KEY"), Some("ascend")).expect("parse");
        assert!(!sort.reads_all() && !sort.sorts());
        let sort = Sort::parse(None, Some("DESCEND")).expect("parse");
        let mut r = resp.clone();
        sort.apply(&mut r, 0);
        assert_eq!(keys(&r), ["t", "f", "a"]);
        let err = Sort::parse(Some("foo"), None).expect_err("bad target");
        assert_eq!((err.code, err.message.as_str()), (4, "bad sort target foo"));
        let err = Sort::parse(None, Some("up")).expect_err("bad order");
        assert_eq!((err.code, err.message.as_str()), (4, "bad sort order up"));
    }
}
