//! Printing answers in etcdctl's output formats (`-w simple|json|fields|
//! table`, `--hex`). Each format lives in its own file; this one picks
//! the format for each answer.

pub mod fields;
pub mod json;
pub mod simple;
pub mod table;
pub mod text;

use revkv::{
    DeleteResponse, LeaseTimeToLive, PutResponse, RangeResponse, Stats, TxnResponse, VerifyReport,
    WatchResponse,
};
use serde_json::{json, Map, Value};
pub use simple::Style;
use std::io::{self, Write};

/// An output format (`-w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// etcdctl's plain text (the default).
    Simple,
    /// One JSON object per answer, on one line, in etcdctl's shapes.
    Json,
    /// `"Name" : value` lines.
    Fields,
    /// A table (only for revkv's own figures: stats, verify, restore, dump -o).
    Table,
}

impl Format {
    /// The format named `name` (what `-w` accepts), or etcdctl's message.
    pub fn from_name(name: &str) -> Result<Format, String> {
        match name {
            "simple" => Ok(Format::Simple),
            "json" => Ok(Format::Json),
            "fields" => Ok(Format::Fields),
            "table" => Ok(Format::Table),
            "protobuf" => Err("protobuf not supported as output format".into()),
            _ => Err("unsupported output format".into()),
        }
    }
}

/// Writes answers to `out` in one format.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    style: Style,
}

impl<W: Write> Printer<W> {
    /// A printer writing to `out`; `hex` is `--hex`.
    pub fn new(out: W, format: Format, hex: bool) -> Printer<W> {
        let style = Style {
            hex,
            ..Style::default()
        };
        Printer { out, format, style }
    }

    /// The format answers are printed in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Prints values without keys (`get --print-value-only`) and only the
    /// count (`get --count-only`) in the simple format.
    pub fn set_get_style(&mut self, value_only: bool, count_only: bool) {
        self.style.value_only = value_only;
        self.style.count_only = count_only;
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

    /// The writer itself, for output that is not an answer (`dump`, `bench`).
    pub fn writer(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes `value` on one line.
    pub fn json(&mut self, value: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")
    }

    /// Writes one line of text.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")
    }

    /// The answer to `put`.
    pub fn put(&mut self, resp: &PutResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::put(resp)),
            Format::Fields => fields::put(&mut self.out, resp),
            Format::Simple | Format::Table => simple::put(&mut self.out, self.style, resp),
        }
    }

    /// The answer to `get`.
    pub fn range(&mut self, resp: &RangeResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::range(resp)),
            Format::Fields => fields::range(&mut self.out, resp),
            Format::Simple | Format::Table => simple::range(&mut self.out, self.style, resp),
        }
    }

    /// The answer to `del`.
    pub fn delete(&mut self, resp: &DeleteResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::delete(resp)),
            Format::Fields => fields::delete(&mut self.out, resp),
            Format::Simple | Format::Table => simple::delete(&mut self.out, self.style, resp),
        }
    }

    /// The answer to `txn`; `count_only` says which gets of the branch that
    /// ran print only their count in the simple format.
    pub fn txn(&mut self, resp: &TxnResponse, count_only: &[bool]) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::txn(resp)),
            Format::Fields => fields::txn(&mut self.out, resp),
            Format::Simple | Format::Table => {
                simple::txn(&mut self.out, self.style, resp, count_only)
            }
        }
    }

    /// One response of `watch`.
    pub fn watch(&mut self, resp: &WatchResponse) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::watch(resp)),
            Format::Fields => fields::watch(&mut self.out, resp),
            Format::Simple | Format::Table => simple::watch(&mut self.out, self.style, resp),
        }
    }

    /// The response that cancels a watch below the compaction revision: an
    /// empty header and no event.
    pub fn watch_canceled(&mut self, compact_revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::watch_canceled(compact_revision)),
            Format::Fields => fields::header(&mut self.out, 0),
            Format::Simple | Format::Table => Ok(()),
        }
    }

    /// The answer to `compaction`: `compacted revision REV` in every format,
    /// as etcdctl prints it.
    pub fn compacted(&mut self, revision: u64) -> io::Result<()> {
        self.line(&format!("compacted revision {revision}"))
    }

    /// The answer to `lease grant`.
    pub fn lease_granted(&mut self, id: i64, ttl: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::lease_grant(id, ttl, revision)),
            Format::Fields => fields::lease_id_ttl(&mut self.out, id, ttl, revision),
            Format::Simple | Format::Table => simple::lease_grant(&mut self.out, id, ttl),
        }
    }

    /// The answer to `lease revoke`; `revision` is the one that deleted its keys.
    pub fn lease_revoked(&mut self, id: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::lease_revoke(revision)),
            Format::Fields => fields::header(&mut self.out, revision),
            Format::Simple | Format::Table => simple::lease_revoke(&mut self.out, id),
        }
    }

    /// One keep-alive of `lease keep-alive`.
    pub fn lease_kept_alive(&mut self, id: i64, ttl: i64, revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::lease_keep_alive(id, ttl, revision)),
            Format::Fields => fields::lease_id_ttl(&mut self.out, id, ttl, revision),
            Format::Simple | Format::Table => simple::lease_keep_alive(&mut self.out, id, ttl),
        }
    }

    /// The answer to `lease timetolive`; the keys are printed when `with_keys`.
    pub fn lease_ttl(
        &mut self,
        t: &LeaseTimeToLive,
        with_keys: bool,
        revision: u64,
    ) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::lease_time_to_live(t, revision)),
            Format::Fields => fields::lease_time_to_live(&mut self.out, t, revision),
            Format::Simple | Format::Table => {
                simple::lease_time_to_live(&mut self.out, t, with_keys)
            }
        }
    }

    /// The answer to `lease list`.
    pub fn lease_list(&mut self, ids: &[i64], revision: u64) -> io::Result<()> {
        match self.format {
            Format::Json => self.json(&json::lease_list(ids, revision)),
            Format::Fields => fields::lease_list(&mut self.out, ids, revision),
            Format::Simple | Format::Table => simple::lease_list(&mut self.out, ids),
        }
    }

    /// revkv's own figures: `name: value` lines, one JSON object, `"Name" :
    /// value` lines, or a table.
    pub fn figures(&mut self, figures: &[(&str, u64)]) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let map: Map<String, Value> = figures
                    .iter()
                    .map(|(name, v)| (name.to_string(), json!(v)))
                    .collect();
                self.json(&Value::Object(map))
            }
            Format::Fields => fields::figures(&mut self.out, figures),
            Format::Table => {
                let cells: Vec<(&str, String)> =
                    figures.iter().map(|(n, v)| (*n, v.to_string())).collect();
                table::one_row(&mut self.out, &cells)
            }
            Format::Simple => {
                for (name, v) in figures {
                    self.line(&format!("{name}: {v}"))?;
                }
                Ok(())
            }
        }
    }

    /// The answer to `stats`.
    pub fn stats(&mut self, s: &Stats) -> io::Result<()> {
        self.figures(&[
            ("revision", s.revision),
            ("compact_revision", s.compact_revision),
            ("live_keys", s.live_keys),
            ("indexed_keys", s.indexed_keys),
            ("indexed_revisions", s.indexed_revisions),
            ("segments", s.segments),
            ("disk_bytes", s.disk_bytes),
            ("data_syncs", s.data_syncs),
        ])
    }

    /// The answer to `verify`: the figures, then one `file:offset: what`
    /// line per problem. `opened` is false when the store could not be
    /// opened (the problems then say why, and the figures are zeros).
    pub fn verify(&mut self, report: &VerifyReport, opened: bool) -> io::Result<()> {
        let figures = [
            ("segments", report.segments),
            ("frames", report.frames),
            ("revisions", report.revisions),
            ("keys", report.keys),
            ("bytes", report.bytes),
        ];
        let problems: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("{}:{}: {}", p.file.display(), p.offset, p.what))
            .collect();
        match self.format {
            Format::Json => {
                let mut map = Map::new();
                map.insert("opened".into(), json!(opened));
                for (name, v) in figures {
                    map.insert(name.into(), json!(v));
                }
                let list: Vec<Value> = report
                    .problems
                    .iter()
                    .map(|p| {
                        json!({
                            "file": p.file.display().to_string(),
                            "offset": p.offset,
                            "what": p.what,
                        })
                    })
                    .collect();
                map.insert("problems".into(), json!(list));
                self.json(&Value::Object(map))
            }
            Format::Fields => {
                if opened {
                    fields::figures(&mut self.out, &figures)?;
                }
                fields::figures(&mut self.out, &[("problems", problems.len() as u64)])?;
                for p in &problems {
                    self.line(&format!("\"Problem\" : {}", text::go_quote(p.as_bytes())))?;
                }
                Ok(())
            }
            Format::Simple | Format::Table => {
                let mut all = if opened { figures.to_vec() } else { vec![] };
                all.push(("problems", problems.len() as u64));
                if self.format == Format::Table {
                    self.figures(&all)?;
                } else {
                    for (name, v) in all {
                        self.line(&format!("{name}: {v}"))?;
                    }
                }
                for p in &problems {
                    self.line(p)?;
                }
                Ok(())
            }
        }
    }
}
