//! Saving a live layer in a child process, so the shop's writer never stalls on it.
//!
//! An in-process `.usdc` export of a large layer holds the writer thread while it runs (no tick is written
//! meanwhile) and leaves temporary memory behind in the allocator (measured in the crate README). Instead
//! the writer reads its layer's values back in one FFI call and streams them with its attributes to a spec
//! file (JSON lines), and a short-lived
//! child process (`twinloom write-layer`, see
//! [`write_layer`]) opens the last saved layer, applies them through the same batch path and replaces
//! the file atomically. Snapshots for live clients are built the same way (into a temporary copy of the
//! last saved layer). The in-process export stays the fallback (no helper program, or the child failed
//! at shutdown).

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use twinloom_usd::{Layer, LayerWriter, Tick, ValueType};

use crate::child_writer::ChildWriteError;
use crate::delta::LiveValue;
use crate::shop_attrs::{AttrPath, ShopAttrs};

/// Why a layer could not be saved through the child process.
#[derive(Debug, thiserror::Error)]
pub enum LayerSaveError {
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error(transparent)]
    Child(#[from] ChildWriteError),
    #[error("{file}:{line}: {message}")]
    Spec { file: PathBuf, line: usize, message: String },
    #[error("{0}")]
    Usd(#[from] twinloom_usd::UsdError),
}

/// One line of the spec: an attribute, its type and (when it has one) its current value.
#[derive(Serialize)]
struct SpecLine<'a> {
    path: AttrPath<'a>,
    #[serde(rename = "type")]
    value_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a LiveValue>,
}

/// The journal position a saved layer records in its `customLayerData` (see [`crate::journal`]): the
/// spec's optional first line, `{"position":{"epoch":E,"seq":N}}`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Serialize)]
struct PositionLine {
    position: Position,
}

#[derive(Deserialize)]
struct SpecLineOwned {
    #[serde(default)]
    path: Option<String>,
    #[serde(rename = "type", default)]
    value_type: Option<String>,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    position: Option<Position>,
}

/// Writes the spec of a shop's layer: every attribute (so the child creates the specs of those with no
/// value yet) with its current value, if any. `values` is indexed by handle index. `position`, when the
/// journal is on, goes first.
pub fn write_spec(
    path: &Path,
    attrs: &ShopAttrs,
    values: &[Option<LiveValue>],
    position: Option<Position>,
) -> Result<(), LayerSaveError> {
    let io = |error| LayerSaveError::Io { what: format!("write {}", path.display()), error };
    let mut w = BufWriter::with_capacity(1 << 16, std::fs::File::create(path).map_err(io)?);
    if let Some(position) = position {
        serde_json::to_writer(&mut w, &PositionLine { position }).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    for a in attrs.iter() {
        let value = values.get(a.handle.index() as usize).and_then(Option::as_ref);
        let line = SpecLine { path: attrs.path(a), value_type: a.value_type.sdf_name(), value };
        serde_json::to_writer(&mut w, &line).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Runs `exe write-layer --spec SPEC --out OUT` and waits for it; the spec file is removed either way.
pub fn save_in_child(exe: &Path, spec: &Path, out: &Path) -> Result<(), LayerSaveError> {
    let result = crate::child_writer::run(exe, "write-layer", spec, out);
    let _ = std::fs::remove_file(spec);
    Ok(result?)
}

/// The child's side: opens `out` (the last saved layer) or starts a new one, applies every attribute and
/// value of `spec` in one batch and writes `out` atomically. Returns the number of values written.
pub fn write_layer(spec: &Path, out: &Path) -> Result<usize, LayerSaveError> {
    let file = std::fs::File::open(spec)
        .map_err(|error| LayerSaveError::Io { what: format!("open {}", spec.display()), error })?;
    let layer = if out.exists() { Layer::open(out)? } else { Layer::create_anonymous("live", "usdc")? };
    let mut w = LayerWriter::new(layer);
    let mut tick = Tick::default();
    let mut position = None;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let bad = |message: String| LayerSaveError::Spec { file: spec.to_path_buf(), line: n + 1, message };
        let line = line.map_err(|error| LayerSaveError::Io { what: format!("read {}", spec.display()), error })?;
        if line.is_empty() {
            continue;
        }
        let l: SpecLineOwned = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        if let Some(p) = l.position {
            position = Some(p);
            continue;
        }
        let (Some(path), Some(value_type)) = (&l.path, &l.value_type) else {
            return Err(bad("a line needs a path and a type".into()));
        };
        let t = ValueType::from_sdf_name(value_type).ok_or_else(|| bad(format!("unknown type {value_type:?}")))?;
        let (prim, attr) = path.rsplit_once('.').ok_or_else(|| bad(format!("{path:?} is not an attribute path")))?;
        let h = w.intern(prim, attr, t).map_err(|e| bad(e.to_string()))?;
        if let Some(v) = &l.value {
            let v = LiveValue::from_json(t, v).ok_or_else(|| bad(format!("{v} is not a {value_type}")))?;
            v.stage_into(&mut tick, h);
        }
    }
    let n = w.apply(&tick)?;
    if let Some(p) = position {
        let layer = w.layer_mut();
        layer.set_custom_layer_data(crate::journal::LAYER_EPOCH_KEY, &twinloom_usd::Value::Int64(p.epoch as i64))?;
        layer.set_custom_layer_data(crate::journal::LAYER_SEQ_KEY, &twinloom_usd::Value::Int64(p.seq as i64))?;
    }
    w.layer().export_atomic(out)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(w: &mut LayerWriter, attrs: &mut ShopAttrs, path: &str, t: ValueType) {
        let (prim, name) = path.rsplit_once('.').unwrap();
        attrs.push(w.intern(prim, name, t).unwrap(), prim, name, t);
    }

    #[test]
    fn the_child_side_writes_the_same_values_the_writer_holds() {
        let dir = std::env::temp_dir().join(format!("twinloom-layer-save-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = LayerWriter::new(Layer::create_anonymous("t", "usda").unwrap());
        let mut attrs = ShopAttrs::default();
        attr(&mut w, &mut attrs, "/Plant/BIW/S1/R1.joint1", ValueType::Double);
        attr(&mut w, &mut attrs, "/Plant/BIW/S1/R1.state", ValueType::Token);
        attr(&mut w, &mut attrs, "/Plant/BIW/S1/R1.welds", ValueType::Int);
        attr(&mut w, &mut attrs, "/Plant/BIW/S1/R1.pos", ValueType::Float3);
        attr(&mut w, &mut attrs, "/Plant/BIW/S1/R1.vin", ValueType::String);
        let mut values = vec![
            Some(LiveValue::Double(12.5)),
            Some(LiveValue::Token("running".into())),
            None,
            Some(LiveValue::Float3([1.0, -2.5, 3.25])),
            Some(LiveValue::String("WVW \"quoted\" ü".into())),
        ];
        let out = dir.join("biw.usdc");
        let spec = dir.join("biw.jsonl");
        write_spec(&spec, &attrs, &values, None).unwrap();
        assert_eq!(write_layer(&spec, &out).unwrap(), 4);
        // A second save opens the first: the value it no longer sends stays, the others change.
        values[0] = Some(LiveValue::Double(-1.0));
        values[2] = Some(LiveValue::Int(7));
        values[4] = None;
        write_spec(&spec, &attrs, &values, Some(Position { epoch: 1_700_000_000_000, seq: 42 })).unwrap();
        assert_eq!(write_layer(&spec, &out).unwrap(), 4);
        let saved = Layer::open(&out).unwrap();
        let get = |p: &str| saved.default_value(p).unwrap();
        assert_eq!(get("/Plant/BIW/S1/R1.joint1"), Some(twinloom_usd::Value::Double(-1.0)));
        assert_eq!(get("/Plant/BIW/S1/R1.state"), Some(twinloom_usd::Value::Token("running".into())));
        assert_eq!(get("/Plant/BIW/S1/R1.welds"), Some(twinloom_usd::Value::Int(7)));
        assert_eq!(get("/Plant/BIW/S1/R1.pos"), Some(twinloom_usd::Value::Float3([1.0, -2.5, 3.25])));
        assert_eq!(get("/Plant/BIW/S1/R1.vin"), Some(twinloom_usd::Value::String("WVW \"quoted\" ü".into())));
        // The journal position travels with the spec into customLayerData.
        let w = LayerWriter::new(saved);
        assert_eq!(crate::journal::layer_seq(&w, Some(1_700_000_000_000)), Some(42));
        assert_eq!(crate::journal::layer_seq(&w, Some(1)), None, "another epoch's position is not used");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_bad_spec_line_is_named_with_its_line() {
        let dir = std::env::temp_dir().join(format!("twinloom-layer-save-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let spec = dir.join("s.jsonl");
        std::fs::write(&spec, "{\"path\":\"/A.x\",\"type\":\"double\",\"value\":1}\n{\"path\":\"/A.y\",\"type\":\"int\",\"value\":\"no\"}\n").unwrap();
        let err = write_layer(&spec, &dir.join("out.usdc")).unwrap_err().to_string();
        assert!(err.contains("s.jsonl:2:") && err.contains("is not a int"), "{err}");
        assert!(!dir.join("out.usdc").exists(), "nothing is written from a bad spec");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
