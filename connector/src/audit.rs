//! The audit journal: an append-only, hash-chained JSON-lines file that every write command goes through
//! (docs/audit.md).
//!
//! Each line is one entry: a JSON object with the journal's own fields `seq` (1, 2, 3, …), `ts` (RFC 3339
//! UTC with milliseconds, e.g. `2025-06-02T07:14:03.120Z`), `prev` (the previous entry's `hash`, 64 zeros
//! for the first) and `hash`, plus the caller's record fields (who, command, target, value, rule, …).
//!
//! **Canonical bytes.** An entry's canonical bytes are its JSON object without `hash`, serialized by
//! serde_json compactly (no spaces, no newline) with the top-level keys in byte order (a `BTreeMap`;
//! nested objects are in byte order too, since the workspace does not enable serde_json's
//! `preserve_order`). `hash` is the lowercase hex SHA-256 of those bytes. The stored line is the canonical
//! bytes with `,"hash":"<hex>"` inserted before the final `}`, then `\n`: `hash` is always the line's last
//! field, and a verifier gets the canonical bytes back by cutting that field out of the line's text, without
//! parsing and re-serializing numbers.
//!
//! [`Journal::append`] writes the whole line with one `write` and `sync_data` (fsync) before it returns, so
//! a caller that sends a write to the plant only after `append` returned never acts on a decision the
//! journal could lose. [`Journal::open`] verifies the whole file first and refuses to append to a broken
//! chain or a torn last line (fail closed); it continues the chain (`seq`, `prev`) of the last entry.
//! [`verify`] reports the first problem with its line. Cutting entries off the end of the file leaves a
//! valid chain: only the entry count and last hash that [`verify`] prints, kept elsewhere, show that.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The `prev` of the first entry: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The journal's own fields; a record that has one of them is refused.
pub const RESERVED_FIELDS: [&str; 4] = ["seq", "ts", "prev", "hash"];

/// What precedes the hex digest at the end of every line: `,"hash":"`.
const HASH_FIELD: &[u8] = b",\"hash\":\"";
/// The length of a line's hash field: `,"hash":"` + 64 hex digits + `"}`.
const HASH_SUFFIX_LEN: usize = HASH_FIELD.len() + 64 + 2;

/// Why the journal cannot be opened, appended to or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file or its folder could not be created, opened, read, written or synced.
    /// (The message includes the cause, so it is not a separate `source()`.)
    #[error("cannot {action} audit journal {}: {error}", path.display())]
    Io { path: PathBuf, action: &'static str, error: std::io::Error },
    /// Another [`Journal`] (in this process or another) has the file open for appending.
    #[error("audit journal {} is open for appending elsewhere (one writer per journal)", path.display())]
    Locked { path: PathBuf },
    /// [`Journal::open`] found a problem in the existing file and appends nothing.
    #[error(
        "audit journal {}:{}: {}: {}; refusing to append to a broken audit trail",
        path.display(),
        problem.line,
        problem.kind,
        problem.detail
    )]
    Broken { path: PathBuf, problem: Problem },
    /// The record has one of [`RESERVED_FIELDS`].
    #[error("audit record field {0:?} is reserved (seq, ts, prev and hash are the journal's own)")]
    ReservedField(String),
    /// The record is not a JSON object.
    #[error("an audit record must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// The record could not be serialized as JSON.
    #[error("audit record is not serializable as JSON: {0}")]
    Record(serde_json::Error),
    /// An earlier append failed to write or sync; the journal takes no more entries until it is opened
    /// again (which verifies the file).
    #[error("audit journal {}: an earlier append failed; open it again before appending", path.display())]
    Poisoned { path: PathBuf },
    /// The system clock reads before 1970.
    #[error("the system clock reads before 1970-01-01")]
    Clock,
}

/// The kinds of problems [`verify`] tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not a journal entry: an empty line, not UTF-8, not JSON, not an object, `hash` not the last field,
    /// or `seq`, `ts`, `prev` or `hash` missing or of the wrong form.
    Malformed,
    /// The entry's content does not match its `hash`, or its `prev` does not match the previous entry's
    /// `hash` while its `seq` follows on (an entry changed and rehashed breaks the next line's link).
    Altered,
    /// `seq` jumps forward and the skipped entries appear nowhere later in the file.
    Removed,
    /// `seq` goes backwards or repeats, or jumps forward to an entry whose predecessors come later.
    Reordered,
    /// The last line has no newline: an append was cut off.
    Torn,
}

impl ProblemKind {
    /// The kind's name as printed: `malformed`, `altered`, `removed`, `reordered`, `torn`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Malformed => "malformed",
            ProblemKind::Altered => "altered",
            ProblemKind::Removed => "removed",
            ProblemKind::Reordered => "reordered",
            ProblemKind::Torn => "torn",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem of a journal file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line (1-based) where the chain stops being valid.
    pub line: usize,
    pub kind: ProblemKind,
    /// What is wrong, in words (one line).
    pub detail: String,
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The valid entries: all of them, or those before the first problem.
    pub entries: u64,
    /// The `seq` of the last valid entry (0 when there is none).
    pub last_seq: u64,
    /// The `hash` of the last valid entry ([`GENESIS`] when there is none).
    pub last_hash: String,
    /// The first problem, if any; nothing after it is checked.
    pub first_problem: Option<Problem>,
}

impl Report {
    /// Whether the whole file is a valid chain.
    pub fn is_ok(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// An entry [`Journal::append`] wrote (and synced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    /// RFC 3339 UTC with milliseconds, e.g. `2025-06-02T07:14:03.120Z`.
    pub ts: String,
    pub prev: String,
    pub hash: String,
}

/// An open journal: the only writer of its file (an exclusive advisory lock, held until it is dropped).
/// Appends are synchronous (std::fs, fsync); a service shares it as `Mutex<Journal>` and appends from a
/// blocking task.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file's length after the last good append (an append that fails is cut back to it).
    len: u64,
    last_seq: u64,
    last_hash: String,
    poisoned: bool,
}

impl Journal {
    /// Opens the journal at `path`, creating it (and its folder) when missing. An existing file is verified
    /// entry by entry first: a broken chain, a malformed line or a torn last line is refused with
    /// [`AuditError::Broken`] naming the file and line, and nothing is appended. New entries continue the
    /// chain of the last one.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, AuditError> {
        let path = path.as_ref().to_path_buf();
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf);
        if let Some(dir) = &parent {
            std::fs::create_dir_all(dir).map_err(io_error(&path, "create the folder of"))?;
        }
        let file =
            OpenOptions::new().read(true).append(true).create(true).open(&path).map_err(io_error(&path, "open"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(io_error(&path, "lock")(e)),
        }
        let report = check(BufReader::new(&file), &path)?;
        if let Some(problem) = report.first_problem {
            return Err(AuditError::Broken { path, problem });
        }
        let len = file.metadata().map_err(io_error(&path, "read"))?.len();
        if len == 0 {
            // A new (or empty) journal: make its directory entry durable before the first decision.
            file.sync_all().map_err(io_error(&path, "sync"))?;
            let dir = parent.as_deref().unwrap_or(Path::new("."));
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(&path, "sync the folder of"))?;
        }
        Ok(Journal { path, file, len, last_seq: report.last_seq, last_hash: report.last_hash, poisoned: false })
    }

    /// Appends one entry: the record's fields (a JSON object: a `serde_json::Value` or any `Serialize`
    /// struct or map) with `seq`, `ts`, `prev` and `hash`, as one line. Returns after the line is written
    /// and synced (`sync_data`). A record with a field named `seq`, `ts`, `prev` or `hash` is refused and
    /// nothing is written. When the write or the sync fails, the journal is cut back to its last good
    /// entry where possible and takes no more appends ([`AuditError::Poisoned`]) until opened again.
    pub fn append<R: Serialize + ?Sized>(&mut self, record: &R) -> Result<Entry, AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned { path: self.path.clone() });
        }
        let fields = match serde_json::to_value(record).map_err(AuditError::Record)? {
            Value::Object(fields) => fields,
            other => return Err(AuditError::NotAnObject(json_kind(&other))),
        };
        if let Some(key) = RESERVED_FIELDS.iter().find(|k| fields.contains_key(**k)) {
            return Err(AuditError::ReservedField((*key).to_string()));
        }
        let seq = self.last_seq + 1;
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|_| AuditError::Clock)?;
        let ts = rfc3339_utc_millis(since_epoch);
        let mut entry: BTreeMap<String, Value> = fields.into_iter().collect();
        entry.insert("seq".into(), Value::from(seq));
        entry.insert("ts".into(), Value::from(ts.clone()));
        entry.insert("prev".into(), Value::from(self.last_hash.clone()));
        let canonical = serde_json::to_vec(&entry).map_err(AuditError::Record)?;
        let hash = sha256_hex(&canonical);
        let line = line_from_canonical(&canonical, &hash);

        if let Err(e) = self.file.write_all(&line) {
            self.poisoned = true;
            let _ = self.file.set_len(self.len);
            return Err(io_error(&self.path, "append to")(e));
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(io_error(&self.path, "sync")(e));
        }
        self.len += line.len() as u64;
        let prev = std::mem::replace(&mut self.last_hash, hash.clone());
        self.last_seq = seq;
        Ok(Entry { seq, ts, prev, hash })
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `seq` of the last entry (0 for an empty journal).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The `hash` of the last entry ([`GENESIS`] for an empty journal).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }
}

/// Reads the journal at `path` and checks every line: its form, its hash, its `seq` and its link to the
/// line before. Stops at the first problem. Errors only when the file cannot be read.
pub fn verify(path: impl AsRef<Path>) -> Result<Report, AuditError> {
    let path = path.as_ref();
    let file = File::open(path).map_err(io_error(path, "read"))?;
    check(BufReader::new(file), path)
}

/// An entry as read from a line: the fields the chain needs.
struct ReadEntry {
    seq: u64,
    prev: String,
    hash: String,
    /// The SHA-256 of the line's canonical bytes.
    content_hash: String,
}

fn check<R: BufRead>(mut reader: R, path: &Path) -> Result<Report, AuditError> {
    let mut report = Report { entries: 0, last_seq: 0, last_hash: GENESIS.to_string(), first_problem: None };
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_error(path, "read"))? == 0 {
            return Ok(report);
        }
        line += 1;
        let problem = |kind, detail: String| Problem { line, kind, detail };
        if buf.pop() != Some(b'\n') {
            let detail = format!("the last line has no newline ({} bytes): an append was cut off", buf.len() + 1);
            report.first_problem = Some(problem(ProblemKind::Torn, detail));
            return Ok(report);
        }
        let entry = match read_entry(&buf) {
            Ok(entry) => entry,
            Err(detail) => {
                report.first_problem = Some(problem(ProblemKind::Malformed, detail));
                return Ok(report);
            }
        };
        let before = if line == 1 { "the chain's start (64 zeros)".to_string() } else { format!("line {}", line - 1) };
        let expected = report.last_seq + 1;
        let found = if entry.content_hash != entry.hash {
            Some(problem(ProblemKind::Altered, "the entry's content does not match its hash".to_string()))
        } else if entry.seq == expected && entry.prev != report.last_hash {
            let detail = format!("prev does not match the hash of {before} (an entry changed and rehashed)");
            Some(problem(ProblemKind::Altered, detail))
        } else if entry.seq < expected {
            let detail = if entry.seq == report.last_seq {
                format!("seq {} repeats", entry.seq)
            } else {
                format!("seq {} comes after seq {}", entry.seq, report.last_seq)
            };
            Some(problem(ProblemKind::Reordered, detail))
        } else if entry.seq > expected && entry.prev == report.last_hash {
            let detail = format!(
                "seq {} links to {before}, which has seq {} (seq changed and rehashed)",
                entry.seq, report.last_seq
            );
            Some(problem(ProblemKind::Altered, detail))
        } else if entry.seq > expected {
            let after = if line == 1 { "the start".to_string() } else { format!("seq {}", report.last_seq) };
            Some(match later_seq_in(&mut reader, expected..entry.seq) {
                Some(later) => problem(
                    ProblemKind::Reordered,
                    format!("seq {} follows {after}, and seq {later} comes later in the file", entry.seq),
                ),
                None => {
                    let missing = entry.seq - expected;
                    let which = if missing == 1 {
                        format!("seq {expected}")
                    } else {
                        format!("seq {expected} to {}", entry.seq - 1)
                    };
                    let entries = if missing == 1 { "entry" } else { "entries" };
                    problem(
                        ProblemKind::Removed,
                        format!("seq {} follows {after}: {missing} {entries} missing ({which})", entry.seq),
                    )
                }
            })
        } else {
            None
        };
        if found.is_some() {
            report.first_problem = found;
            return Ok(report);
        }
        report.entries += 1;
        report.last_seq = entry.seq;
        report.last_hash = entry.hash;
    }
}

/// The first `seq` in `range` among the remaining lines (read loosely: unreadable lines are skipped).
fn later_seq_in<R: BufRead>(reader: &mut R, range: std::ops::Range<u64>) -> Option<u64> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let seq = serde_json::from_slice::<Map<String, Value>>(buf.trim_ascii_end())
            .ok()
            .and_then(|m| m.get("seq").and_then(Value::as_u64));
        if let Some(seq) = seq.filter(|s| range.contains(s)) {
            return Some(seq);
        }
    }
}

/// Reads one line (without its newline) as an entry; `Err` says why it is malformed.
fn read_entry(line: &[u8]) -> Result<ReadEntry, String> {
    if line.is_empty() {
        return Err("empty line".to_string());
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Err("not UTF-8".to_string());
    };
    let split = text.len().checked_sub(HASH_SUFFIX_LEN).filter(|&at| {
        text.as_bytes()[at..].starts_with(HASH_FIELD) && text.ends_with("\"}") && text.is_char_boundary(at)
    });
    let Some(at) = split else {
        return Err(match serde_json::from_str::<Value>(text) {
            Err(e) => format!("not JSON ({e})"),
            Ok(Value::Object(_)) => "hash is missing or not the line's last field".to_string(),
            Ok(other) => format!("not a JSON object but {}", json_kind(&other)),
        });
    };
    let hash = &text[at + HASH_FIELD.len()..text.len() - 2];
    let canonical = format!("{}}}", &text[..at]);
    let fields: Map<String, Value> = match serde_json::from_str::<Value>(&canonical) {
        Ok(Value::Object(fields)) => fields,
        Ok(other) => return Err(format!("not a JSON object but {}", json_kind(&other))),
        Err(e) => return Err(format!("not JSON ({e})")),
    };
    if !is_hex_digest(hash) {
        return Err("hash is not 64 lowercase hex digits".to_string());
    }
    if fields.contains_key("hash") {
        return Err("hash appears twice".to_string());
    }
    let Some(seq) = fields.get("seq").and_then(Value::as_u64).filter(|&s| s >= 1) else {
        return Err("seq is missing or not a positive integer".to_string());
    };
    if !fields.get("ts").is_some_and(Value::is_string) {
        return Err("ts is missing or not a string".to_string());
    }
    let Some(prev) = fields.get("prev").and_then(Value::as_str).filter(|p| is_hex_digest(p)) else {
        return Err("prev is missing or not 64 lowercase hex digits".to_string());
    };
    Ok(ReadEntry {
        seq,
        prev: prev.to_string(),
        hash: hash.to_string(),
        content_hash: sha256_hex(canonical.as_bytes()),
    })
}

/// The stored line: the canonical bytes (a JSON object) with `,"hash":"<hash>"` before the closing brace,
/// and a newline.
fn line_from_canonical(canonical: &[u8], hash: &str) -> Vec<u8> {
    let body = canonical.strip_suffix(b"}").unwrap_or(canonical);
    let mut line = Vec::with_capacity(canonical.len() + HASH_SUFFIX_LEN);
    line.extend_from_slice(body);
    line.extend_from_slice(HASH_FIELD);
    line.extend_from_slice(hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    line
}

fn is_hex_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(HEX[usize::from(b >> 4)] as char);
        hex.push(HEX[usize::from(b & 0xf)] as char);
    }
    hex
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> AuditError {
    let path = path.to_path_buf();
    move |error| AuditError::Io { path, action, error }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time since the Unix epoch.
fn rfc3339_utc_millis(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (day_secs / 3600, day_secs % 3600 / 60, day_secs % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{millis:03}Z")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let at = |ms: u64| rfc3339_utc_millis(Duration::from_millis(ms));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(at(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn serde_json_maps_keep_keys_sorted() {
        // The canonical bytes rely on it for nested objects (docs/audit.md): serde_json's `preserve_order`
        // feature must stay off in this workspace.
        let mut m = Map::new();
        m.insert("b".into(), Value::from(1));
        m.insert("a".into(), Value::from(2));
        assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn a_line_gives_its_canonical_bytes_back() {
        let canonical =
            br#"{"prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"ts":"x","v":1.5}"#;
        let hash = sha256_hex(canonical);
        let line = line_from_canonical(canonical, &hash);
        let entry = read_entry(line.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(entry.hash, hash);
        assert_eq!(entry.content_hash, hash);
        assert_eq!(entry.seq, 1);
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn malformed_lines_say_why() {
        let why = |line: &str| read_entry(line.as_bytes()).err().unwrap();
        assert_eq!(why(""), "empty line");
        assert!(why("garbage").starts_with("not JSON"), "{}", why("garbage"));
        assert_eq!(why("[1,2]"), "not a JSON object but an array");
        assert_eq!(why(r#"{"seq":1}"#), "hash is missing or not the line's last field");
        let no_seq = format!(r#"{{"prev":"{GENESIS}","ts":"x","hash":"{GENESIS}"}}"#);
        assert_eq!(why(&no_seq), "seq is missing or not a positive integer");
        let upper = format!(r#"{{"prev":"{GENESIS}","seq":1,"ts":"x","hash":"{}"}}"#, "A".repeat(64));
        assert_eq!(why(&upper), "hash is not 64 lowercase hex digits");
    }

    #[test]
    fn a_journal_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<std::sync::Mutex<Journal>>();
    }
}
