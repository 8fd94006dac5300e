//! Deltas: what one tick changed in one shop's live layer, as Sdf-level edits that map 1:1 onto Sdf calls.
//! The same values go to the USD writer (as a `twinloom_usd::Tick`) and to the live stream (as JSON,
//! see docs/live-protocol.md).

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

impl LiveValue {
    /// The USD value type this value is stored as.
    pub fn value_type(&self) -> ValueType {
        match self {
            LiveValue::Bool(_) => ValueType::Bool,
            LiveValue::Int(_) => ValueType::Int,
            LiveValue::Int64(_) => ValueType::Int64,
            LiveValue::Float(_) => ValueType::Float,
            LiveValue::Double(_) => ValueType::Double,
            LiveValue::Float3(_) => ValueType::Float3,
            LiveValue::String(_) => ValueType::String,
            LiveValue::Token(_) => ValueType::Token,
        }
    }

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

    /// As a `twinloom_usd::Value` (for reading back and comparing).
    pub fn to_usd(&self) -> twinloom_usd::Value {
        use twinloom_usd::Value as V;
        match self {
            LiveValue::Bool(b) => V::Bool(*b),
            LiveValue::Int(i) => V::Int(*i),
            LiveValue::Int64(i) => V::Int64(*i),
            LiveValue::Float(x) => V::Float(*x),
            LiveValue::Double(x) => V::Double(*x),
            LiveValue::Float3(v) => V::Float3(*v),
            LiveValue::String(s) => V::String(s.clone()),
            LiveValue::Token(s) => V::Token(s.clone()),
        }
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

/// One Sdf-level edit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// `SdfCreatePrimInLayer` + specifier + typeName + prepended apiSchemas.
    DefinePrim {
        path: String,
        specifier: &'static str,
        #[serde(rename = "typeName", skip_serializing_if = "String::is_empty")]
        type_name: String,
        #[serde(rename = "apiSchemas", skip_serializing_if = "Vec::is_empty")]
        api_schemas: Vec<String>,
    },
    /// Set an attribute's default value (creating the attribute spec with `type` if missing).
    Set {
        /// Shared with the writer's attribute table: a tick clones no path strings.
        path: std::sync::Arc<str>,
        #[serde(rename = "type")]
        value_type: &'static str,
        value: LiveValue,
        /// Source timestamp of the value, Unix epoch milliseconds, when the source gave one.
        #[serde(rename = "sourceTimeMs", skip_serializing_if = "Option::is_none")]
        source_time_ms: Option<f64>,
    },
    /// Add a time sample (`SdfLayer::SetTimeSample`).
    Sample {
        path: String,
        #[serde(rename = "type")]
        value_type: &'static str,
        time: f64,
        value: LiveValue,
    },
    /// Remove the spec at `path` (a prim or a property).
    Remove { path: String },
}

/// A borrowed [`Edit::Set`], serialised exactly like it: writers encode a tick's edits straight from their
/// pending values, without building an `Edit` per value.
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

/// A shop's delta for one tick.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// Global, strictly increasing sequence number across all shops.
    pub seq: u64,
    /// The shop (live layer) the edits apply to.
    pub shop: String,
    /// The live layer's path relative to the stage folder, e.g. `live/biw.usdc`.
    pub layer: String,
    /// Wall-clock time the tick closed, Unix epoch milliseconds.
    #[serde(rename = "timeMs")]
    pub time_ms: f64,
    pub edits: Vec<Edit>,
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_ref_serialises_like_set() {
        let v = LiveValue::Double(12.5);
        for t in [Some(1.0), None] {
            let owned = Edit::Set { path: "/Plant/BIW/R01.j1".into(), value_type: "double", value: v.clone(), source_time_ms: t };
            let path = crate::shop_attrs::AttrPath { prim: "/Plant/BIW/R01", name: "j1" };
            let borrowed = SetRef { op: "set", path, value_type: "double", value: &v, source_time_ms: t };
            assert_eq!(serde_json::to_string(&owned).unwrap(), serde_json::to_string(&borrowed).unwrap());
        }
    }

    #[test]
    fn edits_serialise_as_documented() {
        let d = Delta {
            seq: 7,
            shop: "biw".into(),
            layer: "live/biw.usdc".into(),
            time_ms: 1.5,
            edits: vec![
                Edit::Set { path: "/Plant/BIW/R01.j1".into(), value_type: "double", value: LiveValue::Double(12.5), source_time_ms: Some(1.0) },
                Edit::Set { path: "/Plant/BIW/R01.tcp".into(), value_type: "float3", value: LiveValue::Float3([1.0, 2.0, 3.0]), source_time_ms: None },
                Edit::DefinePrim { path: "/Plant/X".into(), specifier: "over", type_name: String::new(), api_schemas: vec![] },
                Edit::Remove { path: "/Plant/X".into() },
            ],
        };
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(
            j,
            r#"{"seq":7,"shop":"biw","layer":"live/biw.usdc","timeMs":1.5,"edits":[{"op":"set","path":"/Plant/BIW/R01.j1","type":"double","value":12.5,"sourceTimeMs":1.0},{"op":"set","path":"/Plant/BIW/R01.tcp","type":"float3","value":[1.0,2.0,3.0]},{"op":"define_prim","path":"/Plant/X","specifier":"over"},{"op":"remove","path":"/Plant/X"}]}"#
        );
    }
}
