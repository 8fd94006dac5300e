//! The binding table: which source signal feeds which USD attribute (shop, prim path, attribute, type,
//! scale/offset, unit), and the conversion of a source value into the attribute's type.
//!
//! Signals are numbered densely (`signal` = index into the table) so the hot path indexes, never hashes.

use twinloom_usd::ValueType;

use crate::delta::LiveValue;
use crate::sample::Value;

/// One bound signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The source it comes from (config name).
    pub source: String,
    /// Source address (OPC UA node id, Modbus register, MQTT topic…).
    pub address: String,
    /// Index into `BindingTable::shops`.
    pub shop: usize,
    /// Absolute prim path in the stage.
    pub prim: String,
    /// Attribute name (may be namespaced, e.g. `twinloom:state`).
    pub attr: String,
    pub value_type: ValueType,
    pub scale: f64,
    pub offset: f64,
    pub unit: Option<String>,
    /// The source's own name, kept as the attribute's displayName when the USD name had to change.
    pub display_name: Option<String>,
}

impl Binding {
    /// `prim.attr`
    pub fn attr_path(&self) -> String {
        format!("{}.{}", self.prim, self.attr)
    }

    pub fn conversion(&self) -> Conversion {
        Conversion { value_type: self.value_type, scale: self.scale, offset: self.offset }
    }
}

/// What ingestion needs of a binding: the target type and the linear scaling. The running twin keeps only
/// this per signal; names and addresses are needed at start-up alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conversion {
    pub value_type: ValueType,
    pub scale: f64,
    pub offset: f64,
}

/// The USD types a binding may target (the batch path's scalar columns).
pub const BINDABLE_TYPES: [ValueType; 8] = [
    ValueType::Bool,
    ValueType::Int,
    ValueType::Int64,
    ValueType::Float,
    ValueType::Double,
    ValueType::Float3,
    ValueType::String,
    ValueType::Token,
];

/// All bindings of a run, and the shops (live layers) they write to.
#[derive(Debug, Clone, Default)]
pub struct BindingTable {
    pub shops: Vec<String>,
    pub bindings: Vec<Binding>,
    /// Prims whose name had to change to be valid in USD (auto-bindings), with the source's own name,
    /// kept as the prim's displayName.
    pub prim_display_names: std::collections::BTreeMap<String, String>,
}

impl BindingTable {
    /// Index of a shop, adding it if new.
    pub fn shop_index(&mut self, shop: &str) -> usize {
        match self.shops.iter().position(|s| s == shop) {
            Some(i) => i,
            None => {
                self.shops.push(shop.to_string());
                self.shops.len() - 1
            }
        }
    }

    pub fn len(&self) -> usize {
        self.bindings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bindings.is_empty()
    }
}

/// Why a sample was not written; each reason is a label of the rejected-samples metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reject {
    /// The signal handle is not in the binding table.
    UnknownSignal,
    /// The source sent no value (typically with bad quality).
    NoValue,
    /// The value cannot become the attribute's type (e.g. text for a double).
    WrongType,
    /// NaN or infinity, before or after scaling.
    NotFinite,
    /// Outside the attribute type's range (e.g. 2^40 for an int).
    OutOfRange,
}

impl Reject {
    pub const ALL: [Reject; 5] =
        [Reject::UnknownSignal, Reject::NoValue, Reject::WrongType, Reject::NotFinite, Reject::OutOfRange];

    pub fn as_str(self) -> &'static str {
        match self {
            Reject::UnknownSignal => "unknown_signal",
            Reject::NoValue => "no_value",
            Reject::WrongType => "wrong_type",
            Reject::NotFinite => "not_finite",
            Reject::OutOfRange => "out_of_range",
        }
    }
}

fn scaled(b: &Conversion, x: f64) -> Result<f64, Reject> {
    if !x.is_finite() {
        return Err(Reject::NotFinite);
    }
    let y = x * b.scale + b.offset;
    if y.is_finite() {
        Ok(y)
    } else {
        Err(Reject::NotFinite)
    }
}

fn integral(b: &Conversion, v: &Value) -> Result<i128, Reject> {
    let unscaled = b.scale == 1.0 && b.offset == 0.0;
    match v {
        Value::I64(i) if unscaled => Ok(*i as i128),
        Value::U64(u) if unscaled => Ok(*u as i128),
        Value::Bool(x) if unscaled => Ok(*x as i128),
        Value::I64(_) | Value::U64(_) | Value::Bool(_) | Value::F64(_) => {
            let y = scaled(b, v.as_f64().ok_or(Reject::WrongType)?)?;
            if y.fract() != 0.0 {
                return Err(Reject::WrongType);
            }
            if y.abs() > 9.2e18 {
                return Err(Reject::OutOfRange);
            }
            Ok(y as i128)
        }
        Value::String(_) | Value::Vec3(_) => Err(Reject::WrongType),
        Value::Null => Err(Reject::NoValue),
    }
}

/// Converts a source value to the binding's attribute type, applying scale and offset to numbers.
pub fn convert(b: &Conversion, v: &Value) -> Result<LiveValue, Reject> {
    if matches!(v, Value::Null) {
        return Err(Reject::NoValue);
    }
    Ok(match b.value_type {
        ValueType::Double => LiveValue::Double(scaled(b, v.as_f64().ok_or(Reject::WrongType)?)?),
        ValueType::Float => {
            let y = scaled(b, v.as_f64().ok_or(Reject::WrongType)?)? as f32;
            if !y.is_finite() {
                return Err(Reject::OutOfRange);
            }
            LiveValue::Float(y)
        }
        ValueType::Int => LiveValue::Int(i32::try_from(integral(b, v)?).map_err(|_| Reject::OutOfRange)?),
        ValueType::Int64 => LiveValue::Int64(i64::try_from(integral(b, v)?).map_err(|_| Reject::OutOfRange)?),
        ValueType::Bool => match v {
            Value::Bool(x) => LiveValue::Bool(*x),
            Value::I64(_) | Value::U64(_) | Value::F64(_) => {
                let x = v.as_f64().ok_or(Reject::WrongType)?;
                if !x.is_finite() {
                    return Err(Reject::NotFinite);
                }
                LiveValue::Bool(x != 0.0)
            }
            _ => return Err(Reject::WrongType),
        },
        ValueType::String | ValueType::Token => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::F64(x) if !x.is_finite() => return Err(Reject::NotFinite),
                other => other.to_string(),
            };
            if b.value_type == ValueType::Token {
                LiveValue::Token(text)
            } else {
                LiveValue::String(text)
            }
        }
        ValueType::Float3 => match v {
            Value::Vec3(xyz) => {
                let mut out = [0f32; 3];
                for (o, &x) in out.iter_mut().zip(xyz) {
                    *o = scaled(b, x)? as f32;
                    if !o.is_finite() {
                        return Err(Reject::OutOfRange);
                    }
                }
                LiveValue::Float3(out)
            }
            _ => return Err(Reject::WrongType),
        },
        _ => return Err(Reject::WrongType),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ty: ValueType, scale: f64, offset: f64) -> Conversion {
        Conversion { value_type: ty, scale, offset }
    }

    #[test]
    fn numbers_are_scaled_and_checked() {
        let deg_to_rad = b(ValueType::Double, std::f64::consts::PI / 180.0, 0.0);
        assert_eq!(convert(&deg_to_rad, &Value::F64(180.0)), Ok(LiveValue::Double(std::f64::consts::PI)));
        let c_to_k = b(ValueType::Float, 1.0, 273.15);
        assert_eq!(convert(&c_to_k, &Value::I64(20)), Ok(LiveValue::Float(293.15)));
        assert_eq!(convert(&c_to_k, &Value::F64(f64::NAN)), Err(Reject::NotFinite));
        assert_eq!(convert(&c_to_k, &Value::String("hot".into())), Err(Reject::WrongType));
        assert_eq!(convert(&c_to_k, &Value::Null), Err(Reject::NoValue));
        assert_eq!(convert(&b(ValueType::Float, 1.0, 0.0), &Value::F64(1e300)), Err(Reject::OutOfRange));
    }

    #[test]
    fn integers_must_be_integral_and_in_range() {
        let i = b(ValueType::Int, 1.0, 0.0);
        assert_eq!(convert(&i, &Value::I64(-5)), Ok(LiveValue::Int(-5)));
        assert_eq!(convert(&i, &Value::F64(3.0)), Ok(LiveValue::Int(3)));
        assert_eq!(convert(&i, &Value::F64(3.5)), Err(Reject::WrongType));
        assert_eq!(convert(&i, &Value::I64(1 << 40)), Err(Reject::OutOfRange));
        assert_eq!(convert(&b(ValueType::Int64, 1.0, 0.0), &Value::U64(u64::MAX)), Err(Reject::OutOfRange));
        assert_eq!(convert(&b(ValueType::Int64, 10.0, 0.0), &Value::I64(7)), Ok(LiveValue::Int64(70)));
    }

    #[test]
    fn three_numbers_fill_a_float3_scaled_per_component() {
        let mm_to_m = b(ValueType::Float3, 0.001, 0.0);
        assert_eq!(convert(&mm_to_m, &Value::Vec3([1000.0, -500.0, 250.0])), Ok(LiveValue::Float3([1.0, -0.5, 0.25])));
        assert_eq!(convert(&mm_to_m, &Value::Vec3([1.0, f64::NAN, 0.0])), Err(Reject::NotFinite));
        assert_eq!(convert(&b(ValueType::Float3, 1.0, 0.0), &Value::Vec3([1e300, 0.0, 0.0])), Err(Reject::OutOfRange));
        assert_eq!(convert(&mm_to_m, &Value::F64(1.0)), Err(Reject::WrongType));
        assert_eq!(convert(&b(ValueType::Double, 1.0, 0.0), &Value::Vec3([1.0, 2.0, 3.0])), Err(Reject::WrongType));
    }

    #[test]
    fn text_and_booleans() {
        assert_eq!(
            convert(&b(ValueType::Token, 1.0, 0.0), &Value::String("running".into())),
            Ok(LiveValue::Token("running".into()))
        );
        assert_eq!(convert(&b(ValueType::String, 1.0, 0.0), &Value::I64(42)), Ok(LiveValue::String("42".into())));
        assert_eq!(convert(&b(ValueType::Bool, 1.0, 0.0), &Value::I64(2)), Ok(LiveValue::Bool(true)));
        assert_eq!(convert(&b(ValueType::Bool, 1.0, 0.0), &Value::String("yes".into())), Err(Reject::WrongType));
    }
}
