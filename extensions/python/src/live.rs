//! The live-stream part of the module: decoding of the messages of a Twinloom service's live stream
//! (`/v1/live`, docs/live-protocol.md) for the Python live client (`twinloom.live`).
//!
//! A `LiveDecoder` parses one message (a WebSocket text frame, `bytes` or `str`) with the interpreter
//! released, checks every `set` edit against the protocol's type table (`bool`, `int`, `int64`, `float`,
//! `double`, `float3`, `string`, `token`) and interns attribute paths per shop: each path gets a small
//! integer id, stable for the decoder's life, so the Python side keeps its `Sdf.AttributeSpec`s in a list
//! indexed by id instead of hashing path strings on every edit. A delta's edits come back grouped for the
//! applier: scalars (ready for `spec.default = value`) apart from `float3` vectors (which need a
//! `Gf.Vec3f`). Other messages (`hello`, `resync`, `error`, `pong`, `command`) come back as dicts, as
//! `json.loads` gives them. Malformed input raises `ParseError` naming the edit and the fault; nothing
//! panics.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyList, PyTuple};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::convert::json_to_py;
use crate::{InvalidInputError, ParseError};

/// Messages at least this long are parsed with the interpreter released (below, releasing costs more
/// than it gives).
const DETACH_BYTES: usize = 4096;

/// The value types of protocol 1 (docs/live-protocol.md, "delta").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Bool,
    Int,
    Int64,
    Float,
    Double,
    Float3,
    String,
    Token,
}

impl Ty {
    fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "bool" => Ty::Bool,
            "int" => Ty::Int,
            "int64" => Ty::Int64,
            "float" => Ty::Float,
            "double" => Ty::Double,
            "float3" => Ty::Float3,
            "string" => Ty::String,
            "token" => Ty::Token,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Int64 => "int64",
            Ty::Float => "float",
            Ty::Double => "double",
            Ty::Float3 => "float3",
            Ty::String => "string",
            Ty::Token => "token",
        }
    }
}

/// A JSON value of an edit, as read (before it is checked against the edit's type).
#[derive(Debug)]
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<f64>),
    Object,
}

impl Raw {
    fn kind(&self) -> &'static str {
        match self {
            Raw::Null => "null",
            Raw::Bool(_) => "a boolean",
            Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) => "a number",
            Raw::Str(_) => "a string",
            Raw::Array(_) => "an array",
            Raw::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean, number, string or array of numbers")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut out = Vec::with_capacity(3);
                while let Some(x) = seq.next_element::<f64>()? {
                    out.push(x);
                }
                Ok(Raw::Array(out))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Raw::Object)
            }
        }
        d.deserialize_any(V)
    }
}

/// One edit as it is on the wire.
#[derive(Deserialize)]
struct WireEdit<'a> {
    #[serde(borrow)]
    op: Option<Cow<'a, str>>,
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    ty: Option<Cow<'a, str>>,
    value: Option<Raw>,
    #[serde(rename = "sourceTimeMs")]
    source_time_ms: Option<f64>,
}

/// A message as it is on the wire; only the fields of `delta` are read here.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    seq: Option<u64>,
    #[serde(borrow)]
    shop: Option<Cow<'a, str>>,
    #[serde(borrow)]
    layer: Option<Cow<'a, str>>,
    #[serde(rename = "timeMs")]
    time_ms: Option<f64>,
    #[serde(borrow)]
    edits: Option<Vec<WireEdit<'a>>>,
}

/// A checked value of an edit.
#[derive(Clone, Debug)]
enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Vec3([f64; 3]),
    Str(String),
}

impl Value {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
            Value::Int(i) => i.into_pyobject(py)?.into_any(),
            Value::UInt(u) => u.into_pyobject(py)?.into_any(),
            Value::Float(f) => f.into_pyobject(py)?.into_any(),
            Value::Vec3(v) => PyTuple::new(py, v)?.into_any(),
            Value::Str(s) => s.into_pyobject(py)?.into_any(),
        })
    }
}

/// One checked `set` edit.
#[derive(Clone, Debug)]
struct Edit {
    id: u32,
    path: String,
    ty: Ty,
    value: Value,
    source_time_ms: Option<f64>,
}

/// A decoded message: a delta, or any other message for Python to read as a dict.
enum Decoded {
    Delta(Delta),
    Other(serde_json::Value),
}

/// Checks `raw` against `ty`; `Err` says what is wrong.
fn check_value(ty: Ty, raw: Raw) -> Result<Value, String> {
    let bad = |raw: &Raw| Err(format!("'value' must be {} for type {}, got {}", expected(ty), ty.name(), raw.kind()));
    match (ty, raw) {
        (Ty::Bool, Raw::Bool(b)) => Ok(Value::Bool(b)),
        (Ty::Int | Ty::Int64, Raw::Int(i)) => Ok(Value::Int(i)),
        (Ty::Int | Ty::Int64, Raw::UInt(u)) => Ok(Value::UInt(u)),
        (Ty::Int | Ty::Int64, Raw::Float(f)) => {
            Err(format!("'value' must be an integer for type {}, got {f}", ty.name()))
        }
        (Ty::Float | Ty::Double, Raw::Float(f)) => Ok(Value::Float(f)),
        (Ty::Float | Ty::Double, Raw::Int(i)) => Ok(Value::Float(i as f64)),
        (Ty::Float | Ty::Double, Raw::UInt(u)) => Ok(Value::Float(u as f64)),
        (Ty::Float3, Raw::Array(a)) => match a.as_slice() {
            [x, y, z] => Ok(Value::Vec3([*x, *y, *z])),
            _ => Err(format!("'value' must be an array of 3 numbers for type float3, got {} numbers", a.len())),
        },
        (Ty::String | Ty::Token, Raw::Str(s)) => Ok(Value::Str(s)),
        (_, raw) => bad(&raw),
    }
}

fn expected(ty: Ty) -> &'static str {
    match ty {
        Ty::Bool => "a boolean",
        Ty::Int | Ty::Int64 => "an integer",
        Ty::Float | Ty::Double => "a number",
        Ty::Float3 => "an array of 3 numbers",
        Ty::String | Ty::Token => "a string",
    }
}

/// Whether `path` is an absolute attribute path `/Prim/Path.name`.
fn is_attribute_path(path: &str) -> bool {
    let tail = path.rsplit('/').next().unwrap_or("");
    path.starts_with('/')
        && path.len() > 1
        && match tail.split_once('.') {
            Some((prim, name)) => !prim.is_empty() && !name.is_empty(),
            None => false,
        }
}

/// Path interning of one shop: id → path, path → id.
#[derive(Default)]
struct ShopPaths {
    ids: HashMap<String, u32>,
    count: u32,
}

/// The decoder's state: the interned paths of every shop.
#[derive(Default)]
struct Interner {
    shops: HashMap<String, ShopPaths>,
}

impl Interner {
    fn id(&mut self, shop: &str, path: &str) -> Result<u32, String> {
        let paths = match self.shops.get_mut(shop) {
            Some(p) => p,
            None => self.shops.entry(shop.to_owned()).or_default(),
        };
        if let Some(&id) = paths.ids.get(path) {
            return Ok(id);
        }
        let id = paths.count;
        paths.count =
            id.checked_add(1).ok_or_else(|| format!("more than {} attribute paths in shop {shop}", u32::MAX))?;
        paths.ids.insert(path.to_owned(), id);
        Ok(id)
    }
}

/// Parses and checks one message; `Err` is the message of a `ParseError`.
///
/// A typed `Deserialize` (borrowed strings, a hand-written value visitor): about 1.5 times as fast as
/// going through `serde_json::Value` once optimised. The binding crate is unoptimised in the workspace's
/// dev profile, so ci/python-wheel builds it with opt-level 3 (docs/python.md, "Install").
fn decode(data: &[u8], interner: &mut Interner) -> Result<Decoded, String> {
    let other = |typed_err: Option<serde_json::Error>| -> Result<Decoded, String> {
        let v: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| format!("not a live-stream message: {e}"))?;
        match (v.get("type").and_then(serde_json::Value::as_str), typed_err) {
            (Some("delta"), Some(e)) => Err(format!("not a valid delta: {e}")),
            (Some(_), _) => Ok(Decoded::Other(v)),
            (None, _) => Err("not a live-stream message: no 'type'".into()),
        }
    };
    // Any other message (whose fields may have other shapes than a delta's) is read as a JSON value.
    let wire: Wire = match serde_json::from_slice(data) {
        Ok(w) => w,
        Err(e) => return other(Some(e)),
    };
    if wire.kind.as_deref() != Some("delta") {
        return other(None);
    }
    let seq = wire.seq.ok_or("delta without 'seq' (a sequence number)")?;
    let shop = wire.shop.ok_or_else(|| format!("delta {seq}: no 'shop'"))?.into_owned();
    let layer = wire.layer.ok_or_else(|| format!("delta {seq}: no 'layer'"))?.into_owned();
    let wire_edits = wire.edits.ok_or_else(|| format!("delta {seq}: no 'edits'"))?;
    let mut edits = Vec::with_capacity(wire_edits.len());
    let mut unsupported_op = None;
    for (i, e) in wire_edits.into_iter().enumerate() {
        let at = |msg: String| format!("delta {seq} (shop {shop}), edit {i}: {msg}");
        let op = e.op.ok_or_else(|| at("no 'op'".into()))?;
        if op != "set" {
            // Protocol 1 knows only `set`: a later edit kind means "do not guess, take snapshots again".
            unsupported_op = Some(op.into_owned());
            edits.clear();
            break;
        }
        let path = e.path.ok_or_else(|| at("no 'path'".into()))?;
        if !is_attribute_path(&path) {
            return Err(at(format!("'path' {path:?} is not an attribute path (/Prim.attribute)")));
        }
        let ty_name = e.ty.ok_or_else(|| at("no 'type'".into()))?;
        let ty = Ty::parse(&ty_name).ok_or_else(|| {
            at(format!(
                "unknown 'type' {ty_name:?} (protocol 1: bool, int, int64, float, double, float3, string, token)"
            ))
        })?;
        let raw = e.value.ok_or_else(|| at("no 'value'".into()))?;
        let value = check_value(ty, raw).map_err(at)?;
        let id = interner.id(&shop, &path).map_err(at)?;
        edits.push(Edit { id, path: path.into_owned(), ty, value, source_time_ms: e.source_time_ms });
    }
    Ok(Decoded::Delta(Delta { seq, shop, layer, time_ms: wire.time_ms, edits, unsupported_op }))
}

/// One shop's edits of one tick (a `delta` message), decoded and checked.
#[pyclass(module = "twinloom._native", frozen)]
pub struct Delta {
    seq: u64,
    shop: String,
    layer: String,
    time_ms: Option<f64>,
    edits: Vec<Edit>,
    unsupported_op: Option<String>,
}

#[pymethods]
impl Delta {
    /// The delta's sequence number (global over all shops, strictly increasing within an epoch).
    #[getter]
    fn seq(&self) -> u64 {
        self.seq
    }

    /// The shop whose live layer the edits are for.
    #[getter]
    fn shop(&self) -> &str {
        &self.shop
    }

    /// The live layer, relative to the stage's folder (e.g. `live/biw.usdc`).
    #[getter]
    fn layer(&self) -> &str {
        &self.layer
    }

    /// The connector's tick time (Unix milliseconds), if given.
    #[getter]
    fn time_ms(&self) -> Option<f64> {
        self.time_ms
    }

    /// An edit kind this client does not know (a later protocol); the delta then has no edits and the
    /// client must take snapshots again rather than guess.
    #[getter]
    fn unsupported_op(&self) -> Option<&str> {
        self.unsupported_op.as_deref()
    }

    /// The edits as `(path, type, value, source_time_ms)` tuples, in stream order; `float3` values are
    /// `(x, y, z)` tuples.
    fn edits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let items = self
            .edits
            .iter()
            .map(|e| {
                let v = e.value.to_py(py)?;
                PyTuple::new(
                    py,
                    [
                        e.path.as_str().into_pyobject(py)?.into_any(),
                        e.ty.name().into_pyobject(py)?.into_any(),
                        v,
                        e.source_time_ms.into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The decoder's path id of each edit, in the order of `edits()`.
    fn ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.edits.iter().map(|e| e.id))
    }

    /// The edits grouped for applying: `(scalar_ids, scalar_values, vec3_ids, vec3_values)`. Scalars
    /// (bool, int, float, str) can be assigned to `spec.default` as they are; `float3` values are
    /// `(x, y, z)` tuples that need a `Gf.Vec3f`. Ids are the decoder's path ids.
    fn batch<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let n = self.edits.iter().filter(|e| e.ty == Ty::Float3).count();
        let mut sid = Vec::with_capacity(self.edits.len() - n);
        let mut sval = Vec::with_capacity(self.edits.len() - n);
        let mut vid = Vec::with_capacity(n);
        let mut vval = Vec::with_capacity(n);
        for e in &self.edits {
            if e.ty == Ty::Float3 {
                vid.push(e.id);
                vval.push(e.value.to_py(py)?);
            } else {
                sid.push(e.id);
                sval.push(e.value.to_py(py)?);
            }
        }
        PyTuple::new(
            py,
            [
                PyList::new(py, sid)?.into_any(),
                PyList::new(py, sval)?.into_any(),
                PyList::new(py, vid)?.into_any(),
                PyList::new(py, vval)?.into_any(),
            ],
        )
    }

    fn __len__(&self) -> usize {
        self.edits.len()
    }

    fn __repr__(&self) -> String {
        format!("Delta(seq={}, shop={:?}, layer={:?}, edits={})", self.seq, self.shop, self.layer, self.edits.len())
    }
}

/// Decodes the messages of one live-stream connection (or several, in turn); keeps the path ids.
#[pyclass(module = "twinloom._native")]
pub struct LiveDecoder {
    interner: Interner,
}

/// The bytes of a `bytes`, `bytearray` or `str` argument.
enum Data {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
}

impl Data {
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Data> {
        if let Ok(b) = obj.extract::<PyBackedBytes>() {
            return Ok(Data::Bytes(b));
        }
        match obj.extract::<PyBackedStr>() {
            Ok(s) => Ok(Data::Str(s)),
            Err(_) => Err(InvalidInputError::new_err(format!(
                "a live-stream message is bytes or str, got {}",
                obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
            ))),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b,
            Data::Str(s) => s.as_bytes(),
        }
    }
}

impl LiveDecoder {
    /// Parses and checks `data` (the interpreter released for a large message).
    fn decode_any(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Decoded> {
        let data = Data::from_py(data)?;
        let bytes = data.bytes();
        let interner = &mut self.interner;
        let decoded =
            if bytes.len() >= DETACH_BYTES { py.detach(|| decode(bytes, interner)) } else { decode(bytes, interner) };
        decoded.map_err(ParseError::new_err)
    }
}

#[pymethods]
impl LiveDecoder {
    #[new]
    fn new() -> Self {
        LiveDecoder { interner: Interner::default() }
    }

    /// Decodes one message (a text frame's `bytes` or `str`): a `Delta` for a `delta`, a dict for any
    /// other message. Raises `ParseError` for a malformed message, naming the delta, edit and fault.
    fn decode<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        match self.decode_any(py, data)? {
            Decoded::Delta(d) => Ok(Bound::new(py, d)?.into_any()),
            Decoded::Other(v) => json_to_py(py, &v),
        }
    }

    /// Decodes one message that must be a `delta` (typed: always a `Delta`); `ParseError` for a
    /// malformed message or one of another type.
    fn decode_delta<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Delta>> {
        match self.decode_any(py, data)? {
            Decoded::Delta(d) => Bound::new(py, d),
            Decoded::Other(v) => Err(ParseError::new_err(format!(
                "not a delta: a {} message",
                v.get("type").and_then(serde_json::Value::as_str).unwrap_or("?")
            ))),
        }
    }

    /// How many attribute paths of `shop` have an id.
    fn path_count(&self, shop: &str) -> usize {
        self.interner.shops.get(shop).map_or(0, |p| p.count as usize)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Delta>()?;
    m.add_class::<LiveDecoder>()?;
    Ok(())
}
