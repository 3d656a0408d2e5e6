//! `revkv dump` and `revkv restore`: a store as JSON lines (see
//! [`crate::args::DUMP_HELP`] for the format), written from
//! [`revkv::Db::export`] and read back through [`revkv::Db::import`].

use crate::args::{DumpArgs, RestoreArgs};
use crate::error::{output_error, Failure, Stop, EXIT_BAD_INPUT, EXIT_FAILED};
use crate::interrupt;
use crate::output::text::go_quote;
use crate::output::{Format, Printer};
use crate::store::{self, Missing};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use revkv::{Db, EventKind, ExportItem, ExportOp, ManualClock, Options, SyncPolicy};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `format` field of a dump's header line.
pub const FORMAT: &str = "revkv-dump";
/// The dump format version this build writes and reads.
pub const VERSION: u64 = 1;

/// What a dump held, or what a restore wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// The revision of the header (dump) or of the restored store (restore).
    pub revision: u64,
    /// The compaction revision of the header or of the restored store.
    pub compact_revision: u64,
    /// Revision lines.
    pub revisions: u64,
    /// Writes in those revisions.
    pub ops: u64,
    /// Lease lines.
    pub leases: u64,
}

impl Counts {
    /// The figures `restore` prints.
    pub fn figures(&self) -> [(&'static str, u64); 5] {
        [
            ("revision", self.revision),
            ("compact_revision", self.compact_revision),
            ("revisions", self.revisions),
            ("ops", self.ops),
            ("leases", self.leases),
        ]
    }
}

/// The answer to `dump -o FILE`: a line, or the figures and the file.
fn dumped<W: Write>(out: &mut Printer<W>, c: &Counts, file: &Path) -> io::Result<()> {
    match out.format() {
        Format::Json => out.json(&json!({
            "header": { "revision": c.revision },
            "compact_revision": c.compact_revision,
            "revisions": c.revisions,
            "ops": c.ops,
            "leases": c.leases,
            "file": file.display().to_string(),
        })),
        Format::Simple => out.line(&format!(
            "dumped revision {} ({} revisions, {} writes, {} leases) to {}",
            c.revision,
            c.revisions,
            c.ops,
            c.leases,
            file.display()
        )),
        Format::Fields | Format::Table => {
            out.figures(&c.figures())?;
            if out.format() == Format::Fields {
                let name = go_quote(file.display().to_string().as_bytes());
                out.line(&format!("\"File\" : {name}"))
            } else {
                out.line(&format!("file: {}", file.display()))
            }
        }
    }
}

/// The header line of a dump.
pub fn header_json(revision: u64, compact_revision: u64, history: bool) -> Value {
    json!({
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "history": history,
        "revision": revision,
        "compact_revision": compact_revision,
    })
}

/// One line of a dump for an exported item (`history` goes in the header).
pub fn item_json(item: &ExportItem, history: bool) -> Value {
    match item {
        ExportItem::Header {
            revision,
            compact_revision,
        } => header_json(*revision, *compact_revision, history),
        ExportItem::Lease {
            id,
            ttl,
            deadline_ms,
        } => json!({ "type": "lease", "ID": id, "TTL": ttl, "deadline_ms": deadline_ms }),
        ExportItem::Revision { revision, ops } => json!({
            "type": "revision",
            "revision": revision,
            "ops": ops.iter().map(op_json).collect::<Vec<_>>(),
        }),
    }
}

fn op_json(op: &ExportOp) -> Value {
    json!({
        "type": match op.kind {
            EventKind::Put => "PUT",
            EventKind::Delete => "DELETE",
        },
        "key": STANDARD.encode(&op.key),
        "value": STANDARD.encode(&op.value),
        "create_revision": op.create_revision,
        "version": op.version,
        "lease": op.lease,
        "prev_mod_revision": op.prev_mod_revision,
    })
}

/// Reads dump lines into export items, checking what the library's import
/// does not: the header comes first and once, each key at most once per
/// revision, a put's lease is one the dump grants, and each write's
/// `prev_mod_revision` names the key's previous write in the dump (a
/// missing one is filled in so), as `verify` checks the chains of a store.
#[derive(Debug, Default)]
pub struct Reader {
    line: usize,
    seen_header: bool,
    leases: HashSet<i64>,
    last_write: HashMap<Vec<u8>, u64>,
    last_revision: u64,
    compact_revision: u64,
}

impl Reader {
    /// Parses the next line (1-based numbering is kept for messages);
    /// `None` for a blank line.
    pub fn parse(&mut self, line: &[u8]) -> Result<Option<ExportItem>, String> {
        self.line += 1;
        if line.trim_ascii().is_empty() {
            return Ok(None);
        }
        let line_no = self.line;
        let at = move |what: String| format!("dump line {line_no}: {what}");
        let value: Value =
            serde_json::from_slice(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| at("not a JSON object".into()))?;
        let kind = str_field(obj, "type").map_err(at)?;
        if !self.seen_header && kind != "header" {
            return Err(at(format!(
                "the first line must be the header, not a {kind:?} line"
            )));
        }
        let item = match kind {
            "header" => self.header(obj),
            "lease" => self.lease(obj),
            "revision" => self.revision(obj),
            other => Err(format!(
                "unknown type {other:?} (header, lease or revision)"
            )),
        };
        item.map(Some).map_err(at)
    }

    /// True once the header line was read.
    pub fn has_header(&self) -> bool {
        self.seen_header
    }

    fn header(&mut self, obj: &Map<String, Value>) -> Result<ExportItem, String> {
        if self.seen_header {
            return Err("a second header".into());
        }
        let format = str_field(obj, "format")?;
        if format != FORMAT {
            return Err(format!("format {format:?} is not {FORMAT:?}"));
        }
        let version = u64_field(obj, "version")?;
        if version != VERSION {
            return Err(format!(
                "dump format version {version}; this build reads version {VERSION}"
            ));
        }
        let revision = u64_field(obj, "revision")?;
        let compact_revision = u64_or(obj, "compact_revision", 0)?;
        self.seen_header = true;
        self.compact_revision = compact_revision;
        Ok(ExportItem::Header {
            revision,
            compact_revision,
        })
    }

    fn lease(&mut self, obj: &Map<String, Value>) -> Result<ExportItem, String> {
        let id = i64_field(obj, "ID")?;
        if id <= 0 {
            return Err(format!("lease ID {id} is not positive"));
        }
        let ttl = i64_field(obj, "TTL")?;
        if ttl <= 0 {
            return Err(format!("lease TTL {ttl} is not positive"));
        }
        if !self.leases.insert(id) {
            return Err(format!("lease {id} granted twice"));
        }
        Ok(ExportItem::Lease {
            id,
            ttl,
            deadline_ms: u64_field(obj, "deadline_ms")?,
        })
    }

    fn revision(&mut self, obj: &Map<String, Value>) -> Result<ExportItem, String> {
        let revision = u64_field(obj, "revision")?;
        if revision <= self.last_revision {
            return Err(format!(
                "revision {revision} does not follow revision {}",
                self.last_revision
            ));
        }
        let ops = obj
            .get("ops")
            .and_then(Value::as_array)
            .ok_or_else(|| "field \"ops\" is missing or not a list".to_string())?;
        if ops.is_empty() {
            return Err(format!("revision {revision} has no ops"));
        }
        let mut keys = HashSet::new();
        let mut parsed = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let op = self
                .op(op, revision)
                .map_err(|e| format!("op {}: {e}", i + 1))?;
            if !keys.insert(op.key.clone()) {
                return Err(format!(
                    "op {}: key {:?} is written twice in revision {revision}",
                    i + 1,
                    String::from_utf8_lossy(&op.key)
                ));
            }
            parsed.push(op);
        }
        for op in &parsed {
            self.last_write.insert(op.key.clone(), revision);
        }
        self.last_revision = revision;
        Ok(ExportItem::Revision {
            revision,
            ops: parsed,
        })
    }

    fn op(&self, op: &Value, revision: u64) -> Result<ExportOp, String> {
        let obj = op.as_object().ok_or("not a JSON object")?;
        let kind = match str_field(obj, "type")? {
            "PUT" => EventKind::Put,
            "DELETE" => EventKind::Delete,
            other => return Err(format!("unknown type {other:?} (PUT or DELETE)")),
        };
        let key = bytes_field(obj, "key")?;
        if key.is_empty() {
            return Err("empty key".into());
        }
        // Each write names the key's previous write: the one before it in
        // the dump, or, for the key's first write in the dump, none (0) or
        // one below the compaction revision, which the dump cannot hold.
        let previous = self.last_write.get(&key).copied();
        let prev_mod_revision = match obj.get("prev_mod_revision") {
            Some(_) => u64_field(obj, "prev_mod_revision")?,
            None => previous.unwrap_or(0),
        };
        let chained = match previous {
            Some(p) => prev_mod_revision == p,
            None => prev_mod_revision == 0 || prev_mod_revision < self.compact_revision,
        };
        if !chained {
            return Err(format!(
                "prev_mod_revision {prev_mod_revision}, but the key's previous write is {}",
                previous.map_or_else(
                    || format!(
                        "not in the dump (nor below its compact_revision {})",
                        self.compact_revision
                    ),
                    |p| format!("at revision {p}")
                )
            ));
        }
        if kind == EventKind::Delete {
            return Ok(ExportOp {
                kind,
                key,
                value: Vec::new(),
                create_revision: 0,
                version: 0,
                lease: 0,
                prev_mod_revision,
            });
        }
        let create_revision = u64_field(obj, "create_revision")?;
        let version = u64_field(obj, "version")?;
        if create_revision == 0 || create_revision > revision || version == 0 {
            return Err(format!(
                "a put needs 0 < create_revision <= revision ({revision}) and version > 0"
            ));
        }
        let lease = match obj.get("lease") {
            Some(_) => i64_field(obj, "lease")?,
            None => 0,
        };
        if lease != 0 && !self.leases.contains(&lease) {
            return Err(format!("lease {lease} is not granted by a lease line"));
        }
        Ok(ExportOp {
            kind,
            key,
            value: bytes_field(obj, "value")?,
            create_revision,
            version,
            lease,
            prev_mod_revision,
        })
    }
}

fn str_field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("field {name:?} is missing or not a string"))
}

fn u64_field(obj: &Map<String, Value>, name: &str) -> Result<u64, String> {
    obj.get(name)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("field {name:?} is missing or not a non-negative integer"))
}

fn u64_or(obj: &Map<String, Value>, name: &str, default: u64) -> Result<u64, String> {
    match obj.get(name) {
        None => Ok(default),
        Some(_) => u64_field(obj, name),
    }
}

fn i64_field(obj: &Map<String, Value>, name: &str) -> Result<i64, String> {
    obj.get(name)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("field {name:?} is missing or not an integer"))
}

fn bytes_field(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(str_field(obj, name)?)
        .map_err(|e| format!("field {name:?} is not base64: {e}"))
}

/// `dump [--history] [-o FILE]`. A dump to a file is written next to it
/// under a temporary name, synced, then renamed over it, so FILE is never
/// left half written.
pub fn dump<W: Write>(dir: &Path, args: DumpArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let db = store::open(dir, Missing::AnswerEmpty)?;
    let Some(target) = args.output else {
        write_dump(&db, args.history, out.writer()).map_err(|e| match e {
            DumpError::Store(e) => e.into(),
            DumpError::Write(e) => output_error(e),
        })?;
        db.close()?;
        return Ok(());
    };
    let tmp = temp_path(&target);
    let written = File::create(&tmp)
        .map_err(DumpError::Write)
        .and_then(|mut file| {
            let counts = write_dump(&db, args.history, &mut file)?;
            file.sync_all().map_err(DumpError::Write)?;
            Ok(counts)
        })
        .and_then(|counts| {
            std::fs::rename(&tmp, &target).map_err(DumpError::Write)?;
            Ok(counts)
        });
    let counts = match written {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(match e {
                DumpError::Store(e) => e.into(),
                DumpError::Write(e) => {
                    let message = format!("write {}: {e}", target.display());
                    Failure::new(EXIT_FAILED, message).into()
                }
            });
        }
    };
    db.close()?;
    dumped(out, &counts, &target).map_err(output_error)?;
    Ok(())
}

/// Why writing a dump failed.
enum DumpError {
    /// The store failed to export.
    Store(revkv::Error),
    /// The output could not be written.
    Write(io::Error),
}

/// Writes the whole dump of `db` to `writer`.
fn write_dump(db: &Db, history: bool, writer: &mut dyn Write) -> Result<Counts, DumpError> {
    let mut w = BufWriter::with_capacity(1 << 20, writer);
    let mut counts = Counts::default();
    let mut failed: Option<io::Error> = None;
    let exported = db.export(history, &mut |item| {
        match &item {
            ExportItem::Header {
                revision,
                compact_revision,
            } => {
                counts.revision = *revision;
                counts.compact_revision = *compact_revision;
            }
            ExportItem::Lease { .. } => counts.leases += 1,
            ExportItem::Revision { ops, .. } => {
                counts.revisions += 1;
                counts.ops += ops.len() as u64;
            }
        }
        let written = serde_json::to_writer(&mut w, &item_json(&item, history))
            .map_err(io::Error::from)
            .and_then(|()| w.write_all(b"\n"));
        written.map_err(|e| {
            // Stops the export; the I/O error itself is reported instead.
            let stop = revkv::Error::Io {
                context: "write the dump".into(),
                path: None,
                source: io::Error::from(e.kind()),
            };
            failed = Some(e);
            stop
        })
    });
    if let Some(e) = failed {
        return Err(DumpError::Write(e));
    }
    exported.map_err(DumpError::Store)?;
    w.flush().map_err(DumpError::Write)?;
    Ok(counts)
}

/// `FILE.tmp-PID` next to `target`.
fn temp_path(target: &Path) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "dump".into());
    name.push(format!(".tmp-{}", std::process::id()));
    target.with_file_name(name)
}

/// `restore --from FILE [--renew-leases]` into the data directory, which
/// must be missing or empty. On any failure the directory is left as it
/// was found.
pub fn restore<W: Write>(dir: &Path, args: RestoreArgs, out: &mut Printer<W>) -> Result<(), Stop> {
    let existed = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Failure::new(
                    EXIT_FAILED,
                    format!(
                        "refusing to restore into {}: the directory is not empty \
                         (restore makes a new store; give an empty or missing --dir)",
                        dir.display()
                    ),
                )
                .into());
            }
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => {
            return Err(Failure::new(
                EXIT_FAILED,
                format!("cannot restore into {}: {e}", dir.display()),
            )
            .into())
        }
    };
    let input: Box<dyn Read> =
        if args.from.as_os_str() == "-" {
            Box::new(io::stdin().lock())
        } else {
            Box::new(File::open(&args.from).map_err(|e| {
                Failure::new(EXIT_FAILED, format!("open {}: {e}", args.from.display()))
            })?)
        };
    interrupt::install();
    let result = restore_into(
        dir,
        BufReader::with_capacity(1 << 20, input),
        args.renew_leases,
    );
    match result {
        Ok(counts) => {
            out.figures(&counts.figures()).map_err(output_error)?;
            Ok(())
        }
        Err(stop) => {
            remove_restored(dir, existed);
            Err(stop)
        }
    }
}

/// Reads the dump and imports it into a new store in `dir`.
fn restore_into(dir: &Path, mut input: impl BufRead, renew_leases: bool) -> Result<Counts, Stop> {
    // The store is new and removed on failure, so nothing needs to be
    // durable before close (which syncs). The clock is held at 0 so that no
    // lease expires while the restore runs: expiry would write revisions
    // of its own between the imported ones. Leases past their deadline are
    // revoked by the next command that opens the store.
    let options = Options::default()
        .sync(SyncPolicy::Never)
        .clock(Arc::new(ManualClock::new(0)));
    let db = Db::open(dir, options)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut reader = Reader::default();
    let mut counts = Counts::default();
    let mut compact = 0;
    let mut line = Vec::new();
    loop {
        if interrupt::interrupted() {
            return Err(Failure::new(EXIT_FAILED, "interrupted; nothing was restored").into());
        }
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::new(EXIT_FAILED, format!("read the dump: {e}")))?;
        if n == 0 {
            break;
        }
        let item = match reader.parse(&line) {
            Ok(Some(item)) => item,
            Ok(None) => continue,
            Err(e) => return Err(Failure::new(EXIT_BAD_INPUT, e).into()),
        };
        let item = match item {
            ExportItem::Header {
                compact_revision, ..
            } => {
                compact = compact_revision;
                item
            }
            ExportItem::Lease {
                id,
                ttl,
                deadline_ms,
            } => {
                counts.leases += 1;
                let deadline_ms = if renew_leases {
                    now_ms.saturating_add(ttl.unsigned_abs().saturating_mul(1000))
                } else {
                    deadline_ms
                };
                ExportItem::Lease {
                    id,
                    ttl,
                    deadline_ms,
                }
            }
            ExportItem::Revision { ref ops, .. } => {
                counts.revisions += 1;
                counts.ops += ops.len() as u64;
                item
            }
        };
        let line_no = reader.line;
        db.import(item).map_err(|e| {
            let code = match e {
                revkv::Error::BadRequest { .. } => EXIT_BAD_INPUT,
                _ => EXIT_FAILED,
            };
            Failure::new(code, format!("dump line {line_no}: {e}"))
        })?;
    }
    if !reader.has_header() {
        return Err(Failure::new(EXIT_BAD_INPUT, "the dump is empty: no header line").into());
    }
    // The read horizon of the dumped store: reads below it were refused
    // there. A dump of the latest state ends at the newest live write,
    // which may be below its header's revision.
    let horizon = compact.min(db.current_revision());
    if horizon > 0 {
        db.compact_physical(horizon)?;
    }
    counts.revision = db.current_revision();
    counts.compact_revision = db.compact_revision();
    db.close()?;
    Ok(counts)
}

/// Removes what a failed restore wrote: the directory it created, or the
/// contents of the empty one it was given.
fn remove_restored(dir: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[ExportItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| item_json(i, true).to_string())
            .collect()
    }

    #[test]
    fn items_round_trip_through_lines() {
        let items = vec![
            ExportItem::Header {
                revision: 9,
                compact_revision: 3,
            },
            ExportItem::Lease {
                id: 7,
                ttl: 60,
                deadline_ms: 1_800_000_000_000,
            },
            ExportItem::Revision {
                revision: 3,
                ops: vec![
                    ExportOp {
                        kind: EventKind::Put,
                        key: b"k\xff".to_vec(),
                        value: b"v\n".to_vec(),
                        create_revision: 1,
                        version: 2,
                        lease: 7,
                        prev_mod_revision: 1,
                    },
                    ExportOp {
                        kind: EventKind::Delete,
                        key: b"gone".to_vec(),
                        value: Vec::new(),
                        create_revision: 0,
                        version: 0,
                        lease: 0,
                        prev_mod_revision: 2,
                    },
                ],
            },
        ];
        let mut reader = Reader::default();
        let back: Vec<ExportItem> = lines(&items)
            .iter()
            .map(|l| reader.parse(l.as_bytes()).expect("parse").expect("item"))
            .collect();
        assert_eq!(back, items);
    }

    #[test]
    fn prev_mod_revision_defaults_to_the_previous_write_in_the_dump() {
        let mut r = Reader::default();
        let header = r#"{"type":"header","format":"revkv-dump","version":1,"revision":2}"#;
        assert!(r.parse(header.as_bytes()).expect("header").is_some());
        let put = |rev: u64, version: u64| {
            format!(
                r#"{{"type":"revision","revision":{rev},"ops":[{{"type":"PUT","key":"aw==","value":"","create_revision":1,"version":{version}}}]}}"#
            )
        };
        let prevs: Vec<u64> = [put(1, 1), put(2, 2)]
            .iter()
            .map(|l| match r.parse(l.as_bytes()) {
                Ok(Some(ExportItem::Revision { ops, .. })) => ops[0].prev_mod_revision,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(prevs, [0, 1]);
    }

    #[test]
    fn bad_lines_are_refused_with_the_line_number() {
        let header = r#"{"type":"header","format":"revkv-dump","version":1,"revision":2}"#;
        let cases = [
            ("{", "not JSON"),
            (
                r#"{"type":"lease","ID":1,"TTL":5,"deadline_ms":0}"#,
                "first line must be the header",
            ),
            (
                r#"{"type":"header","format":"etcd","version":1,"revision":2}"#,
                "is not",
            ),
            (
                r#"{"type":"header","format":"revkv-dump","version":2,"revision":2}"#,
                "version 2",
            ),
        ];
        for (line, expected) in cases {
            let err = Reader::default().parse(line.as_bytes()).expect_err(line);
            assert!(err.starts_with("dump line 1: "), "{err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
        let after_header = [
            (r#"{"type":"revision","revision":1,"ops":[]}"#, "no ops"),
            (
                r#"{"type":"revision","revision":1,"ops":[{"type":"PUT","key":"aw==","value":"","create_revision":1,"version":1,"lease":5}]}"#,
                "lease 5 is not granted",
            ),
            (
                r#"{"type":"revision","revision":1,"ops":[{"type":"DELETE","key":"aw=="},{"type":"DELETE","key":"aw=="}]}"#,
                "written twice",
            ),
            (
                r#"{"type":"revision","revision":1,"ops":[{"type":"PUT","key":"aw==","value":"","version":1}]}"#,
                "create_revision",
            ),
            (
                r#"{"type":"revision","revision":1,"ops":[{"type":"PUT","key":"!","value":"","create_revision":1,"version":1}]}"#,
                "base64",
            ),
            (r#"{"type":"snapshot"}"#, "unknown type"),
            (
                r#"{"type":"revision","revision":0,"ops":[{"type":"DELETE","key":"aw=="}]}"#,
                "does not follow",
            ),
            (header, "a second header"),
        ];
        for (line, expected) in after_header {
            let mut r = Reader::default();
            r.parse(header.as_bytes()).expect("header");
            let err = r.parse(line.as_bytes()).expect_err(line);
            assert!(err.starts_with("dump line 2: "), "{err}");
            assert!(err.contains(expected), "{line}: {err}");
        }
    }
}
