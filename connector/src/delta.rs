//! The live message, defined once: a `delta` is what one tick changed in one shop's live layer, as `set`
//! edits that map 1:1 onto Sdf calls (docs/live-protocol.md). The same values go to the USD writer (as a
//! `twinloom_usd::Tick`) and to live clients (as the JSON text built here).

use serde::Serialize;
use twinloom_usd::ValueType;

/// A value in a delta, typed like the attribute it is written to.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveValue {
    Bool(bool),
    Int(i32),
    Int64(i64),
    Float(f32),
    Double(f64),
    Float3([f32; 3]),
    String(String),
    Token(String),
}

/// A live value as a sample value (32-bit numbers widened), e.g. an aggregator's edit as a sample.
impl From<LiveValue> for crate::sample::Value {
    fn from(v: LiveValue) -> Self {
        use crate::sample::Value as S;
        match v {
            LiveValue::Bool(b) => S::Bool(b),
            LiveValue::Int(i) => S::I64(i.into()),
            LiveValue::Int64(i) => S::I64(i),
            LiveValue::Float(x) => S::F64(x.into()),
            LiveValue::Double(x) => S::F64(x),
            LiveValue::Float3(v) => S::Vec3(v.map(f64::from)),
            LiveValue::String(s) | LiveValue::Token(s) => S::String(s),
        }
    }
}

impl LiveValue {
    /// Adds this value to `tick` for attribute `h` (strings are cloned).
    pub fn stage_into(&self, tick: &mut twinloom_usd::Tick, h: twinloom_usd::AttrHandle) {
        match self {
            LiveValue::Bool(b) => tick.set_bool(h, *b),
            LiveValue::Int(i) => tick.set_i32(h, *i),
            LiveValue::Int64(i) => tick.set_i64(h, *i),
            LiveValue::Float(x) => tick.set_f32(h, *x),
            LiveValue::Double(x) => tick.set_f64(h, *x),
            LiveValue::Float3(v) => tick.set_float3(h, *v),
            LiveValue::String(s) => tick.set_string(h, s.clone()),
            LiveValue::Token(s) => tick.set_token(h, s.clone()),
        }
    }

    /// Reads a value of type `t` from its JSON form (as [`Serialize`] writes it); `None` when the JSON does
    /// not hold a value of that type (an integer out of range included) or `t` is not a live type.
    pub fn from_json(t: ValueType, v: &serde_json::Value) -> Option<LiveValue> {
        Some(match t {
            ValueType::Bool => LiveValue::Bool(v.as_bool()?),
            ValueType::Int => LiveValue::Int(i32::try_from(v.as_i64()?).ok()?),
            ValueType::Int64 => LiveValue::Int64(v.as_i64()?),
            ValueType::Float => LiveValue::Float(v.as_f64()? as f32),
            ValueType::Double => LiveValue::Double(v.as_f64()?),
            ValueType::Float3 => {
                let a = v.as_array().filter(|a| a.len() == 3)?;
                let c = |i: usize| a[i].as_f64().map(|x| x as f32);
                LiveValue::Float3([c(0)?, c(1)?, c(2)?])
            }
            ValueType::String => LiveValue::String(v.as_str()?.to_string()),
            ValueType::Token => LiveValue::Token(v.as_str()?.to_string()),
            _ => return None,
        })
    }

    /// From a `twinloom_usd::Value` of a live type (`None` for the others).
    pub fn from_usd(v: twinloom_usd::Value) -> Option<LiveValue> {
        use twinloom_usd::Value as V;
        Some(match v {
            V::Bool(b) => LiveValue::Bool(b),
            V::Int(i) => LiveValue::Int(i),
            V::Int64(i) => LiveValue::Int64(i),
            V::Float(x) => LiveValue::Float(x),
            V::Double(x) => LiveValue::Double(x),
            V::Float3(v) => LiveValue::Float3(v),
            V::String(s) => LiveValue::String(s),
            V::Token(s) => LiveValue::Token(s),
            _ => return None,
        })
    }
}

impl Serialize for LiveValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LiveValue::Bool(b) => s.serialize_bool(*b),
            LiveValue::Int(i) => s.serialize_i32(*i),
            LiveValue::Int64(i) => s.serialize_i64(*i),
            LiveValue::Float(x) => s.serialize_f32(*x),
            LiveValue::Double(x) => s.serialize_f64(*x),
            LiveValue::Float3(v) => v.serialize(s),
            LiveValue::String(t) | LiveValue::Token(t) => s.serialize_str(t),
        }
    }
}

/// One `set` edit of a delta: create the attribute spec (typed `value_type`) if missing, then set its
/// default. Borrowed, so writers encode a tick's edits straight from their pending values.
#[derive(Debug, Serialize)]
pub struct SetRef<'a> {
    /// Always "set".
    pub op: &'static str,
    pub path: crate::shop_attrs::AttrPath<'a>,
    #[serde(rename = "type")]
    pub value_type: &'static str,
    pub value: &'a LiveValue,
    #[serde(rename = "sourceTimeMs", skip_serializing_if = "Option::is_none")]
    pub source_time_ms: Option<f64>,
}

/// A delta's fields after its sequence number (the hub assigns the number, see [`delta_text`]).
#[derive(Serialize)]
pub struct DeltaBody<'a, E: Serialize + ?Sized> {
    /// The shop (live layer) the edits apply to.
    pub shop: &'a str,
    /// The live layer's path relative to the stage folder, e.g. `live/biw.usdc`.
    pub layer: &'a str,
    /// Wall-clock time the tick closed, Unix epoch milliseconds.
    #[serde(rename = "timeMs")]
    pub time_ms: f64,
    /// The edits, a sequence of [`SetRef`].
    pub edits: &'a E,
}

/// The message text of a delta: `{"type":"delta","seq":N,` + the fields of `body` (the JSON of a
/// [`DeltaBody`], which starts with '{').
pub fn delta_text(seq: u64, body: &str) -> String {
    let head = format!(r#"{{"type":"delta","seq":{seq},"#);
    let fields = body.get(1..).unwrap_or("}");
    let mut text = String::with_capacity(head.len() + fields.len());
    text.push_str(&head);
    text.push_str(fields);
    text
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_survive_json_exactly() {
        // The double of a 32-bit float (a Modbus f32 register pair): serde_json without float_roundtrip
        // read it back one unit in the last place off, so a child-process save differed from the stream.
        for x in [f64::from(210.4f32), 0.1 + 0.2, 1e-310, 12345.678, f64::MAX] {
            let text = serde_json::to_string(&x).unwrap();
            let back = LiveValue::from_json(ValueType::Double, &serde_json::from_str(&text).unwrap());
            assert_eq!(back, Some(LiveValue::Double(x)), "{text}");
        }
    }

    #[test]
    fn deltas_serialise_as_documented() {
        let (j1, tcp) = (LiveValue::Double(12.5), LiveValue::Float3([1.0, 2.0, 3.0]));
        let edits = [
            SetRef {
                op: "set",
                path: crate::shop_attrs::AttrPath { prim: "/Plant/BIW/R01", name: "j1" },
                value_type: "double",
                value: &j1,
                source_time_ms: Some(1.0),
            },
            SetRef {
                op: "set",
                path: crate::shop_attrs::AttrPath { prim: "/Plant/BIW/R01", name: "tcp" },
                value_type: "float3",
                value: &tcp,
                source_time_ms: None,
            },
        ];
        let body =
            serde_json::to_string(&DeltaBody { shop: "biw", layer: "live/biw.usdc", time_ms: 1.5, edits: &edits })
                .unwrap();
        assert_eq!(
            delta_text(7, &body),
            r#"{"type":"delta","seq":7,"shop":"biw","layer":"live/biw.usdc","timeMs":1.5,"edits":[{"op":"set","path":"/Plant/BIW/R01.j1","type":"double","value":12.5,"sourceTimeMs":1.0},{"op":"set","path":"/Plant/BIW/R01.tcp","type":"float3","value":[1.0,2.0,3.0]}]}"#
        );
    }
}
