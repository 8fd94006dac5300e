//! Conversions between OPC UA types and Twinloom's protocol-free sample types.

use std::time::SystemTime;

use opcua::types::{DataTypeId, DataValue, DateTime, NodeId, StatusCode, Variant};

use crate::sample::{Quality, Sample, Value};

/// Why a received value could not become a [`Value`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnsupportedValue(pub &'static str);

/// Converts a scalar variant, or an array of exactly three numbers (a vector, for a `float3` attribute);
/// other arrays and structures are not values a twin attribute takes from one signal.
pub fn value_of(v: &Variant) -> Result<Value, UnsupportedValue> {
    Ok(match v {
        Variant::Empty => Value::Null,
        Variant::Boolean(b) => Value::Bool(*b),
        Variant::SByte(i) => Value::I64(i64::from(*i)),
        Variant::Byte(i) => Value::I64(i64::from(*i)),
        Variant::Int16(i) => Value::I64(i64::from(*i)),
        Variant::UInt16(i) => Value::I64(i64::from(*i)),
        Variant::Int32(i) => Value::I64(i64::from(*i)),
        Variant::UInt32(i) => Value::I64(i64::from(*i)),
        Variant::Int64(i) => Value::I64(*i),
        Variant::UInt64(u) => Value::U64(*u),
        Variant::Float(x) => Value::F64(f64::from(*x)),
        Variant::Double(x) => Value::F64(*x),
        Variant::String(s) => Value::String(s.as_ref().to_owned()),
        Variant::LocalizedText(t) => Value::String(t.text.as_ref().to_owned()),
        Variant::StatusCode(s) => Value::I64(i64::from(s.bits())),
        Variant::DateTime(_) => return Err(UnsupportedValue("DateTime")),
        Variant::Guid(_) => return Err(UnsupportedValue("Guid")),
        Variant::ByteString(_) => return Err(UnsupportedValue("ByteString")),
        Variant::XmlElement(_) => return Err(UnsupportedValue("XmlElement")),
        Variant::QualifiedName(_) => return Err(UnsupportedValue("QualifiedName")),
        Variant::NodeId(_) | Variant::ExpandedNodeId(_) => return Err(UnsupportedValue("NodeId")),
        Variant::ExtensionObject(_) => return Err(UnsupportedValue("structure (ExtensionObject)")),
        Variant::Variant(_) | Variant::DataValue(_) | Variant::DiagnosticInfo(_) => {
            return Err(UnsupportedValue("nested variant"))
        }
        Variant::Array(a) => match a.values.iter().map(number).collect::<Option<Vec<f64>>>().as_deref() {
            Some(&[x, y, z]) => Value::Vec3([x, y, z]),
            _ => return Err(UnsupportedValue("array (only three numbers, for a float3, are taken)")),
        },
    })
}

/// A numeric scalar as f64 (not booleans).
fn number(v: &Variant) -> Option<f64> {
    Some(match v {
        Variant::SByte(i) => f64::from(*i),
        Variant::Byte(i) => f64::from(*i),
        Variant::Int16(i) => f64::from(*i),
        Variant::UInt16(i) => f64::from(*i),
        Variant::Int32(i) => f64::from(*i),
        Variant::UInt32(i) => f64::from(*i),
        Variant::Int64(i) => *i as f64,
        Variant::UInt64(u) => *u as f64,
        Variant::Float(x) => f64::from(*x),
        Variant::Double(x) => *x,
        _ => return None,
    })
}

/// An OPC UA timestamp as `SystemTime`; `None` for the null (unset) timestamp.
pub fn time_of(t: Option<&DateTime>) -> Option<SystemTime> {
    let t = t?;
    if t.ticks() == 0 {
        return None;
    }
    Some(SystemTime::from(t.as_chrono()))
}

/// Builds a sample from a received data value.
pub fn sample_of(signal: u32, dv: &DataValue) -> Result<Sample, UnsupportedValue> {
    let value = match &dv.value {
        Some(v) => value_of(v)?,
        None => Value::Null,
    };
    Ok(Sample {
        signal,
        value,
        source_time: time_of(dv.source_timestamp.as_ref()),
        server_time: time_of(dv.server_timestamp.as_ref()),
        quality: Quality(dv.status.unwrap_or(StatusCode::Good).bits()),
        historical: false,
    })
}

/// A readable name of a data type node id (`Double`, `Int32`, …; the node id for others).
pub fn data_type_name(id: &NodeId) -> String {
    if id.namespace == 0 {
        if let Some(n) = id.as_u32() {
            if let Ok(t) = DataTypeId::try_from(n) {
                return format!("{t:?}");
            }
        }
    }
    id.to_string()
}

/// Whether a variable of this data type can deliver values we convert. Namespace-0 types that are
/// never scalars we store are refused up front; others (custom enums, abstract types) are accepted
/// and checked value by value.
pub fn data_type_supported(id: &NodeId) -> bool {
    if id.namespace != 0 {
        return true;
    }
    let refused = [
        DataTypeId::ByteString,
        DataTypeId::Guid,
        DataTypeId::XmlElement,
        DataTypeId::NodeId,
        DataTypeId::ExpandedNodeId,
        DataTypeId::QualifiedName,
        DataTypeId::Structure,
        DataTypeId::DataValue,
        DataTypeId::DiagnosticInfo,
        DataTypeId::DateTime,
    ];
    !refused.iter().any(|t| id.as_u32() == Some(*t as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_convert_and_others_are_refused_with_their_kind() {
        assert_eq!(value_of(&Variant::Int32(-4)), Ok(Value::I64(-4)));
        assert_eq!(value_of(&Variant::UInt64(u64::MAX)), Ok(Value::U64(u64::MAX)));
        assert_eq!(value_of(&Variant::Float(0.5)), Ok(Value::F64(0.5)));
        assert_eq!(value_of(&Variant::from("VIN1")), Ok(Value::String("VIN1".into())));
        assert_eq!(value_of(&Variant::Empty), Ok(Value::Null));
        let xyz = Variant::from(vec![1.0f64, 2.0, 3.0]);
        assert_eq!(value_of(&xyz), Ok(Value::Vec3([1.0, 2.0, 3.0])));
        assert_eq!(value_of(&Variant::from(vec![1i32, 2, 3])), Ok(Value::Vec3([1.0, 2.0, 3.0])));
        let pair = Variant::from(vec![1.0f64, 2.0]);
        assert!(matches!(value_of(&pair), Err(UnsupportedValue(m)) if m.starts_with("array")));
        assert!(value_of(&Variant::from(vec![true, false, true])).is_err());
    }

    #[test]
    fn samples_keep_timestamps_and_status() {
        let now = DateTime::now();
        let dv = DataValue {
            value: Some(Variant::Double(1.5)),
            status: Some(StatusCode::UncertainLastUsableValue),
            source_timestamp: Some(now),
            server_timestamp: None,
            ..Default::default()
        };
        let s = sample_of(9, &dv).unwrap();
        assert_eq!(s.signal, 9);
        assert_eq!(s.value, Value::F64(1.5));
        assert!(s.quality.is_uncertain());
        assert_eq!(s.quality.0, StatusCode::UncertainLastUsableValue.bits());
        assert_eq!(s.source_time, Some(SystemTime::from(now.as_chrono())));
        assert_eq!(s.server_time, None);
    }

    #[test]
    fn data_type_names_and_support() {
        assert_eq!(data_type_name(&DataTypeId::Double.into()), "Double");
        assert!(data_type_supported(&DataTypeId::Double.into()));
        assert!(!data_type_supported(&DataTypeId::ByteString.into()));
        assert!(data_type_supported(&NodeId::new(3, 3002)));
    }
}
