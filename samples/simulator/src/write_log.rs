//! The record of every write and method call the simulator received in the plant namespace, accepted or
//! refused, with the status it answered: in memory ([`crate::SimulatorHandle::write_log`]) and, when
//! [`crate::SimConfig::write_log`] names a file, one JSON object per line there.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use opcua::types::{AttributeId, DateTime, StatusCode, Variant};

/// What a client sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A Write service item (one node, one attribute).
    Write,
    /// A Call service item (one method).
    Call,
}

/// One write or method call as the server received it and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteRecord {
    /// When the server handled it (server clock, UTC).
    pub time: DateTime,
    /// Write or call.
    pub kind: RecordKind,
    /// The written node, or the called method, as `ns=<i>;s=<path>`.
    pub node_id: String,
    /// The written attribute (`Value` for every accepted write; `Value` for calls).
    pub attribute: AttributeId,
    /// The written value (`Variant::Empty` when the write carried none, and for calls).
    pub value: Variant,
    /// The call's input arguments (empty for writes).
    pub arguments: Vec<Variant>,
    /// The call's output arguments when it succeeded (empty otherwise and for writes).
    pub outputs: Vec<Variant>,
    /// The status the server answered: `Good`, or why it refused.
    pub status: StatusCode,
}

impl WriteRecord {
    /// The record as the one-line JSON object written to the log file.
    pub fn to_json(&self) -> String {
        let kind = match self.kind {
            RecordKind::Write => "write",
            RecordKind::Call => "call",
        };
        let mut o = format!(
            "{{\"time\":{},\"kind\":\"{kind}\",\"node\":{}",
            json_string(&self.time.to_rfc3339()),
            json_string(&self.node_id)
        );
        match self.kind {
            RecordKind::Write => {
                let (ty, value) = variant_json(&self.value);
                o += &format!(",\"attribute\":\"{:?}\",\"type\":\"{ty}\",\"value\":{value}", self.attribute);
            }
            RecordKind::Call => {
                let list = |vs: &[Variant]| vs.iter().map(|v| variant_json(v).1).collect::<Vec<_>>().join(",");
                o += &format!(",\"arguments\":[{}],\"outputs\":[{}]", list(&self.arguments), list(&self.outputs));
            }
        }
        o + &format!(",\"status\":{},\"code\":{}}}", json_string(&self.status.to_string()), self.status.bits())
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number for a float (`null` for NaN and infinities, which JSON cannot write).
fn json_f64(x: f64) -> String {
    if x.is_finite() {
        // Debug keeps a decimal point or exponent, so 250.0 stays a float for readers that care.
        format!("{x:?}")
    } else {
        "null".into()
    }
}

/// The OPC UA type name of a value and the value as JSON text (numbers, booleans and strings as
/// themselves; anything else as a string of its debug text).
fn variant_json(v: &Variant) -> (&'static str, String) {
    match v {
        Variant::Empty => ("Empty", "null".into()),
        Variant::Boolean(b) => ("Boolean", b.to_string()),
        Variant::SByte(x) => ("SByte", x.to_string()),
        Variant::Byte(x) => ("Byte", x.to_string()),
        Variant::Int16(x) => ("Int16", x.to_string()),
        Variant::UInt16(x) => ("UInt16", x.to_string()),
        Variant::Int32(x) => ("Int32", x.to_string()),
        Variant::UInt32(x) => ("UInt32", x.to_string()),
        Variant::Int64(x) => ("Int64", x.to_string()),
        Variant::UInt64(x) => ("UInt64", x.to_string()),
        Variant::Float(x) => ("Float", json_f64(f64::from(*x))),
        Variant::Double(x) => ("Double", json_f64(*x)),
        Variant::String(s) => ("String", json_string(s.as_ref())),
        other => ("Other", json_string(&format!("{other:?}"))),
    }
}

/// The log: kept in memory, and appended to a file when one is configured.
#[derive(Debug)]
pub(crate) struct WriteLog {
    records: Mutex<Vec<WriteRecord>>,
    file: Option<Mutex<File>>,
}

impl WriteLog {
    /// A log kept in memory only.
    pub(crate) fn in_memory() -> Self {
        WriteLog { records: Mutex::new(Vec::new()), file: None }
    }

    /// A log kept in memory and appended, one JSON line per record, to `path` (created or truncated).
    pub(crate) fn to_file(path: &Path) -> std::io::Result<Self> {
        Ok(WriteLog { records: Mutex::new(Vec::new()), file: Some(Mutex::new(File::create(path)?)) })
    }

    pub(crate) fn record(&self, r: WriteRecord) {
        tracing::info!(
            kind = ?r.kind, node = %r.node_id, value = ?r.value, arguments = ?r.arguments, status = %r.status,
            "received"
        );
        if let Some(file) = &self.file {
            let mut line = r.to_json();
            line.push('\n');
            // One write per line, unbuffered: a reader sees whole lines as soon as they are answered.
            if let Err(e) = file.lock().unwrap_or_else(|e| e.into_inner()).write_all(line.as_bytes()) {
                tracing::error!(error = %e, "writing the write log failed");
            }
        }
        self.records.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    pub(crate) fn snapshot(&self) -> Vec<WriteRecord> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
