//! Sparkplug B payloads: protobuf bytes decoded into plain Rust values, and built again.
//!
//! [`Payload::decode`] turns bytes into a [`Payload`] of [`Metric`]s; malformed bytes give a
//! [`PayloadError`], never a panic. Each metric's value is decoded by its datatype: Int8, Int16 and Int32
//! travel in the protobuf `uint32` field as two's complement (whether the sender sign-extended them to 32
//! or 64 bits or not) and come back as [`MetricValue::Int`] with their sign. A DATA metric usually carries
//! no datatype (only its birth does): its value is then kept as sent (`int_value`/`long_value` as
//! [`MetricValue::UInt`], `float_value`/`double_value` as [`MetricValue::Float`], …), and
//! [`MetricValue::convert_to`] reads it as the datatype from the birth.
//!
//! [`PayloadBuilder`] builds payloads (birth metrics with name, alias and datatype; data metrics by alias);
//! [`rebirth_command`] and [`death_payload`] build the NCMD rebirth request and the NDEATH. Signed values
//! are written as Eclipse Tahu does: Int8/Int16/Int32 sign-extended to 32 bits in `int_value`, Int64 as
//! its 64 bits in `long_value`.

use std::fmt;

use prost::Message as _;

use crate::proto;
use crate::proto::payload::metric::Value as WireValue;

/// The name of the NBIRTH/NDEATH metric that carries the birth/death sequence number.
pub const BD_SEQ: &str = "bdSeq";

/// The name of the edge node metric a host sets to `true` in an NCMD to ask for new births.
pub const NODE_CONTROL_REBIRTH: &str = "Node Control/Rebirth";

/// A Sparkplug B datatype (the proto's `DataType`), with [`DataType::Unknown`] for any other number.
/// `Unknown(0)` is the proto's `Unknown`: the metric carries no datatype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float,
    Double,
    Boolean,
    String,
    DateTime,
    Text,
    Uuid,
    DataSet,
    Bytes,
    File,
    Template,
    PropertySet,
    PropertySetList,
    Int8Array,
    Int16Array,
    Int32Array,
    Int64Array,
    UInt8Array,
    UInt16Array,
    UInt32Array,
    UInt64Array,
    FloatArray,
    DoubleArray,
    BooleanArray,
    StringArray,
    DateTimeArray,
    Unknown(u32),
}

/// The known datatypes, each at the index of its number minus one.
const KNOWN_TYPES: [DataType; 34] = [
    DataType::Int8,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
    DataType::UInt8,
    DataType::UInt16,
    DataType::UInt32,
    DataType::UInt64,
    DataType::Float,
    DataType::Double,
    DataType::Boolean,
    DataType::String,
    DataType::DateTime,
    DataType::Text,
    DataType::Uuid,
    DataType::DataSet,
    DataType::Bytes,
    DataType::File,
    DataType::Template,
    DataType::PropertySet,
    DataType::PropertySetList,
    DataType::Int8Array,
    DataType::Int16Array,
    DataType::Int32Array,
    DataType::Int64Array,
    DataType::UInt8Array,
    DataType::UInt16Array,
    DataType::UInt32Array,
    DataType::UInt64Array,
    DataType::FloatArray,
    DataType::DoubleArray,
    DataType::BooleanArray,
    DataType::StringArray,
    DataType::DateTimeArray,
];

/// "No datatype sent".
const NO_DATATYPE: DataType = DataType::Unknown(0);

impl DataType {
    /// The datatype for its number in the proto (`Unknown(n)` for 0 and numbers past DateTimeArray).
    pub fn from_u32(number: u32) -> DataType {
        number
            .checked_sub(1)
            .and_then(|index| KNOWN_TYPES.get(index as usize))
            .copied()
            .unwrap_or(DataType::Unknown(number))
    }

    /// The datatype's number in the proto.
    pub fn as_u32(self) -> u32 {
        match self {
            DataType::Unknown(number) => number,
            known => KNOWN_TYPES.iter().position(|t| *t == known).map_or(0, |index| index as u32 + 1),
        }
    }

    /// The proto's name, e.g. `"Int8"`, `"UUID"`; `"Unknown"` for unknown numbers.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Int8 => "Int8",
            DataType::Int16 => "Int16",
            DataType::Int32 => "Int32",
            DataType::Int64 => "Int64",
            DataType::UInt8 => "UInt8",
            DataType::UInt16 => "UInt16",
            DataType::UInt32 => "UInt32",
            DataType::UInt64 => "UInt64",
            DataType::Float => "Float",
            DataType::Double => "Double",
            DataType::Boolean => "Boolean",
            DataType::String => "String",
            DataType::DateTime => "DateTime",
            DataType::Text => "Text",
            DataType::Uuid => "UUID",
            DataType::DataSet => "DataSet",
            DataType::Bytes => "Bytes",
            DataType::File => "File",
            DataType::Template => "Template",
            DataType::PropertySet => "PropertySet",
            DataType::PropertySetList => "PropertySetList",
            DataType::Int8Array => "Int8Array",
            DataType::Int16Array => "Int16Array",
            DataType::Int32Array => "Int32Array",
            DataType::Int64Array => "Int64Array",
            DataType::UInt8Array => "UInt8Array",
            DataType::UInt16Array => "UInt16Array",
            DataType::UInt32Array => "UInt32Array",
            DataType::UInt64Array => "UInt64Array",
            DataType::FloatArray => "FloatArray",
            DataType::DoubleArray => "DoubleArray",
            DataType::BooleanArray => "BooleanArray",
            DataType::StringArray => "StringArray",
            DataType::DateTimeArray => "DateTimeArray",
            DataType::Unknown(_) => "Unknown",
        }
    }

    /// Whether [`MetricValue`] holds values of this type: the integers, Float, Double, Boolean, String,
    /// Text, UUID, DateTime, Bytes and File. DataSet, Template, the property sets, the arrays and unknown
    /// types are not.
    pub fn is_supported(self) -> bool {
        !matches!(
            self,
            DataType::DataSet
                | DataType::Template
                | DataType::PropertySet
                | DataType::PropertySetList
                | DataType::Int8Array
                | DataType::Int16Array
                | DataType::Int32Array
                | DataType::Int64Array
                | DataType::UInt8Array
                | DataType::UInt16Array
                | DataType::UInt32Array
                | DataType::UInt64Array
                | DataType::FloatArray
                | DataType::DoubleArray
                | DataType::BooleanArray
                | DataType::StringArray
                | DataType::DateTimeArray
                | DataType::Unknown(_)
        )
    }

    /// Whether a datatype was sent (anything but `Unknown(0)`).
    pub fn is_specified(self) -> bool {
        self != NO_DATATYPE
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Unknown(number) => write!(f, "Unknown({number})"),
            known => f.write_str(known.name()),
        }
    }
}

/// A metric's value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricValue {
    /// `is_null` set, or no value at all.
    Null,
    Bool(bool),
    /// Int8, Int16, Int32, Int64.
    Int(i64),
    /// UInt8, UInt16, UInt32, UInt64; also an integer sent without a datatype.
    UInt(u64),
    /// Float and Double.
    Float(f64),
    /// String, Text and UUID.
    String(String),
    /// Milliseconds since the Unix epoch.
    DateTime(u64),
    /// Bytes and File.
    Bytes(Vec<u8>),
    /// A value of a type this crate does not decode (datasets, templates, property sets, arrays, unknown
    /// types).
    Unsupported(DataType),
}

impl MetricValue {
    /// This value read as a value of `datatype`, or `None` where it cannot be one (a string for an Int32,
    /// 300 for a UInt8, …). An integer sent without a datatype (`UInt`) becomes a signed `Int` for the
    /// signed types, read as two's complement of the type's width (zero-extended or sign-extended to 32 or
    /// 64 bits). `Null` stays `Null`; any value of an unsupported `datatype` becomes `Unsupported`;
    /// `Unknown(0)` (no datatype) keeps the value as it is.
    pub fn convert_to(&self, datatype: DataType) -> Option<MetricValue> {
        use DataType as T;
        use MetricValue as V;
        if *self == V::Null {
            return Some(V::Null);
        }
        if !datatype.is_specified() {
            return Some(self.clone());
        }
        if !datatype.is_supported() {
            return Some(V::Unsupported(datatype));
        }
        match (self, datatype) {
            (V::UInt(raw), T::Int8 | T::Int16 | T::Int32 | T::Int64) => {
                signed_from_raw(*raw, integer_bits(datatype)).map(V::Int)
            }
            (V::Int(value), T::Int8 | T::Int16 | T::Int32 | T::Int64) => {
                fits_signed(*value, integer_bits(datatype)).then_some(V::Int(*value))
            }
            (V::UInt(value), T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64) => {
                fits_unsigned(*value, integer_bits(datatype)).then_some(V::UInt(*value))
            }
            (V::Int(value), T::UInt8 | T::UInt16 | T::UInt32 | T::UInt64) => {
                u64::try_from(*value).ok().filter(|value| fits_unsigned(*value, integer_bits(datatype))).map(V::UInt)
            }
            (V::UInt(ms) | V::DateTime(ms), T::DateTime) => Some(V::DateTime(*ms)),
            (V::Int(ms), T::DateTime) => u64::try_from(*ms).ok().map(V::DateTime),
            (V::Float(value), T::Float | T::Double) => Some(V::Float(*value)),
            (V::Bool(value), T::Boolean) => Some(V::Bool(*value)),
            (V::String(text), T::String | T::Text | T::Uuid) => Some(V::String(text.clone())),
            (V::Bytes(bytes), T::Bytes | T::File) => Some(V::Bytes(bytes.clone())),
            _ => None,
        }
    }

    /// A short description for messages: the variant and, for small values, the value.
    pub fn describe(&self) -> String {
        match self {
            MetricValue::Null => "null".to_owned(),
            MetricValue::Bool(value) => format!("boolean {value}"),
            MetricValue::Int(value) => format!("integer {value}"),
            MetricValue::UInt(value) => format!("unsigned integer {value}"),
            MetricValue::Float(value) => format!("floating-point {value}"),
            MetricValue::String(text) if text.chars().count() <= 32 => format!("string {text:?}"),
            MetricValue::String(text) => format!("string of {} characters", text.chars().count()),
            MetricValue::DateTime(ms) => format!("date-time {ms}"),
            MetricValue::Bytes(bytes) => format!("{} bytes", bytes.len()),
            MetricValue::Unsupported(datatype) => format!("{datatype} value"),
        }
    }
}

/// The width in bits of an integer datatype (64 for the others).
fn integer_bits(datatype: DataType) -> u32 {
    match datatype {
        DataType::Int8 | DataType::UInt8 => 8,
        DataType::Int16 | DataType::UInt16 => 16,
        DataType::Int32 | DataType::UInt32 => 32,
        _ => 64,
    }
}

/// A signed integer of `bits` bits sent as `raw`: zero-extended (e.g. Int8 -1 as 0xFF) or sign-extended to
/// 32 bits (0xFFFF_FFFF) or 64 bits. `None` where `raw` is none of these.
fn signed_from_raw(raw: u64, bits: u32) -> Option<i64> {
    if bits >= 64 {
        return Some(raw as i64);
    }
    let shift = 64 - bits;
    let value = ((raw << shift) as i64) >> shift;
    let zero_extended = (value as u64) & ((1u64 << bits) - 1);
    let sign_extended_32 = u64::from(value as i32 as u32);
    let sign_extended_64 = value as u64;
    (raw == zero_extended || raw == sign_extended_32 || raw == sign_extended_64).then_some(value)
}

fn fits_signed(value: i64, bits: u32) -> bool {
    bits >= 64 || (-(1i64 << (bits - 1))..(1i64 << (bits - 1))).contains(&value)
}

fn fits_unsigned(value: u64, bits: u32) -> bool {
    bits >= 64 || value < (1u64 << bits)
}

/// One metric of a payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    pub name: Option<String>,
    pub alias: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: Option<u64>,
    /// `Unknown(0)` where the metric carries no datatype (usual in DATA messages).
    pub datatype: DataType,
    pub value: MetricValue,
    pub is_historical: bool,
    pub is_transient: bool,
}

impl Metric {
    fn from_wire(metric: proto::payload::Metric) -> Metric {
        let datatype = DataType::from_u32(metric.datatype.unwrap_or(0));
        let value = if metric.is_null == Some(true) {
            MetricValue::Null
        } else if datatype.is_specified() && !datatype.is_supported() {
            MetricValue::Unsupported(datatype)
        } else {
            let raw = raw_value(metric.value, datatype);
            // A value that does not fit its own datatype is kept as sent: a host compares it with the
            // birth and reports it.
            raw.convert_to(datatype).unwrap_or(raw)
        };
        Metric {
            name: metric.name,
            alias: metric.alias,
            timestamp: metric.timestamp,
            datatype,
            value,
            is_historical: metric.is_historical.unwrap_or(false),
            is_transient: metric.is_transient.unwrap_or(false),
        }
    }

    /// The value as a sequence number (bdSeq): a non-negative integer.
    fn as_sequence_number(&self) -> Option<u64> {
        match self.value {
            MetricValue::UInt(value) => Some(value),
            MetricValue::Int(value) => u64::try_from(value).ok(),
            _ => None,
        }
    }
}

/// The value as the protobuf field carries it, before the datatype is applied.
fn raw_value(value: Option<WireValue>, datatype: DataType) -> MetricValue {
    match value {
        None => MetricValue::Null,
        Some(WireValue::IntValue(value)) => MetricValue::UInt(u64::from(value)),
        Some(WireValue::LongValue(value)) => MetricValue::UInt(value),
        Some(WireValue::FloatValue(value)) => MetricValue::Float(f64::from(value)),
        Some(WireValue::DoubleValue(value)) => MetricValue::Float(value),
        Some(WireValue::BooleanValue(value)) => MetricValue::Bool(value),
        Some(WireValue::StringValue(text)) => MetricValue::String(text),
        Some(WireValue::BytesValue(bytes)) => MetricValue::Bytes(bytes),
        Some(WireValue::DatasetValue(_)) => MetricValue::Unsupported(DataType::DataSet),
        Some(WireValue::TemplateValue(_)) => MetricValue::Unsupported(DataType::Template),
        Some(WireValue::ExtensionValue(_)) => MetricValue::Unsupported(datatype),
    }
}

/// A decoded Sparkplug B payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Payload {
    /// Milliseconds since the Unix epoch, when the message was sent.
    pub timestamp: Option<u64>,
    /// The message sequence number (0..=255 when valid; not range-checked here).
    pub seq: Option<u64>,
    pub metrics: Vec<Metric>,
}

impl Payload {
    /// Decodes protobuf bytes. Bytes that are not a valid `Payload` message give an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Payload, PayloadError> {
        let wire = proto::Payload::decode(bytes)?;
        Ok(Payload {
            timestamp: wire.timestamp,
            seq: wire.seq,
            metrics: wire.metrics.into_iter().map(Metric::from_wire).collect(),
        })
    }

    /// Encodes the payload: every metric with its own fields, its datatype sent unless `Unknown(0)`.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut builder = PayloadBuilder::new(self.timestamp, self.seq);
        for metric in &self.metrics {
            builder.metric(metric)?;
        }
        Ok(builder.encode())
    }

    /// The first metric with this name.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.name.as_deref() == Some(name))
    }

    /// The value of the `bdSeq` metric, where there is one holding a non-negative integer.
    pub fn bd_seq(&self) -> Option<u64> {
        self.metric(BD_SEQ).and_then(Metric::as_sequence_number)
    }

    /// Whether this (NCMD) payload asks for a rebirth: `Node Control/Rebirth` = true.
    pub fn is_rebirth_request(&self) -> bool {
        self.metrics.iter().any(|metric| {
            metric.name.as_deref() == Some(NODE_CONTROL_REBIRTH) && metric.value == MetricValue::Bool(true)
        })
    }
}

/// Bytes that are not a Sparkplug B payload.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("not a Sparkplug B protobuf payload: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

/// A value that cannot be encoded as the given datatype.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("a {datatype} metric cannot carry a {}", .value.describe())]
    ValueDoesNotFit { datatype: DataType, value: MetricValue },
    #[error("{0} values cannot be encoded by this crate")]
    Unsupported(DataType),
}

/// Builds a payload metric by metric. Metrics added by name or alias get the payload's timestamp.
#[derive(Clone, Debug, Default)]
pub struct PayloadBuilder {
    timestamp: Option<u64>,
    seq: Option<u64>,
    metrics: Vec<proto::payload::Metric>,
}

impl PayloadBuilder {
    /// A payload with this timestamp (ms since the Unix epoch) and sequence number.
    pub fn new(timestamp_ms: Option<u64>, seq: Option<u64>) -> PayloadBuilder {
        PayloadBuilder { timestamp: timestamp_ms, seq, metrics: Vec::new() }
    }

    /// A birth metric: name, alias (if any) and datatype, with its value.
    pub fn birth_metric(
        &mut self,
        name: &str,
        alias: Option<u64>,
        datatype: DataType,
        value: &MetricValue,
    ) -> Result<&mut PayloadBuilder, EncodeError> {
        self.push(Some(name.to_owned()), alias, datatype, true, value)
    }

    /// A data metric by alias only; `datatype` (from the birth) picks the protobuf field but is not sent.
    pub fn data_metric_by_alias(
        &mut self,
        alias: u64,
        datatype: DataType,
        value: &MetricValue,
    ) -> Result<&mut PayloadBuilder, EncodeError> {
        self.push(None, Some(alias), datatype, false, value)
    }

    /// A data metric by name only; `datatype` (from the birth) picks the protobuf field but is not sent.
    pub fn data_metric_by_name(
        &mut self,
        name: &str,
        datatype: DataType,
        value: &MetricValue,
    ) -> Result<&mut PayloadBuilder, EncodeError> {
        self.push(Some(name.to_owned()), None, datatype, false, value)
    }

    /// A metric exactly as given (its own timestamp and flags; its datatype sent unless `Unknown(0)`, in
    /// which case the value's variant picks the field: integers and date-times in `long_value`, floats in
    /// `double_value`).
    pub fn metric(&mut self, metric: &Metric) -> Result<&mut PayloadBuilder, EncodeError> {
        let (value, is_null) = encode_value(&metric.value, metric.datatype)?;
        self.metrics.push(proto::payload::Metric {
            name: metric.name.clone(),
            alias: metric.alias,
            timestamp: metric.timestamp,
            datatype: metric.datatype.is_specified().then(|| metric.datatype.as_u32()),
            is_historical: metric.is_historical.then_some(true),
            is_transient: metric.is_transient.then_some(true),
            is_null: is_null.then_some(true),
            value,
            ..Default::default()
        });
        Ok(self)
    }

    fn push(
        &mut self,
        name: Option<String>,
        alias: Option<u64>,
        datatype: DataType,
        send_datatype: bool,
        value: &MetricValue,
    ) -> Result<&mut PayloadBuilder, EncodeError> {
        let (value, is_null) = encode_value(value, datatype)?;
        self.metrics.push(proto::payload::Metric {
            name,
            alias,
            timestamp: self.timestamp,
            datatype: send_datatype.then(|| datatype.as_u32()),
            is_null: is_null.then_some(true),
            value,
            ..Default::default()
        });
        Ok(self)
    }

    /// The number of metrics added so far.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether no metric was added.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The protobuf bytes.
    pub fn encode(&self) -> Vec<u8> {
        proto::Payload {
            timestamp: self.timestamp,
            metrics: self.metrics.clone(),
            seq: self.seq,
            uuid: None,
            body: None,
        }
        .encode_to_vec()
    }
}

/// The protobuf field for a value of `datatype` (`Unknown(0)`: picked by the value's variant), and whether
/// it is null.
fn encode_value(value: &MetricValue, datatype: DataType) -> Result<(Option<WireValue>, bool), EncodeError> {
    use DataType as T;
    use MetricValue as V;
    if *value == V::Null {
        return Ok((None, true));
    }
    if !datatype.is_specified() {
        let wire = match value {
            V::Null => None,
            V::Bool(value) => Some(WireValue::BooleanValue(*value)),
            V::Int(value) => Some(WireValue::LongValue(*value as u64)),
            V::UInt(value) | V::DateTime(value) => Some(WireValue::LongValue(*value)),
            V::Float(value) => Some(WireValue::DoubleValue(*value)),
            V::String(text) => Some(WireValue::StringValue(text.clone())),
            V::Bytes(bytes) => Some(WireValue::BytesValue(bytes.clone())),
            V::Unsupported(datatype) => return Err(EncodeError::Unsupported(*datatype)),
        };
        return Ok((wire, false));
    }
    if !datatype.is_supported() {
        return Err(EncodeError::Unsupported(datatype));
    }
    let does_not_fit = || EncodeError::ValueDoesNotFit { datatype, value: value.clone() };
    let wire = match (value.convert_to(datatype).ok_or_else(does_not_fit)?, datatype) {
        // Sign-extended to 32 bits, as Eclipse Tahu writes them.
        (V::Int(value), T::Int8 | T::Int16 | T::Int32) => WireValue::IntValue(value as i32 as u32),
        (V::Int(value), _) => WireValue::LongValue(value as u64),
        (V::UInt(value), T::UInt8 | T::UInt16 | T::UInt32) => WireValue::IntValue(value as u32),
        (V::UInt(value) | V::DateTime(value), _) => WireValue::LongValue(value),
        (V::Float(value), T::Float) => WireValue::FloatValue(value as f32),
        (V::Float(value), _) => WireValue::DoubleValue(value),
        (V::Bool(value), _) => WireValue::BooleanValue(value),
        (V::String(text), _) => WireValue::StringValue(text),
        (V::Bytes(bytes), _) => WireValue::BytesValue(bytes),
        (V::Null, _) => return Ok((None, true)),
        (V::Unsupported(datatype), _) => return Err(EncodeError::Unsupported(datatype)),
    };
    Ok((Some(wire), false))
}

/// The NCMD payload a host sends to ask an edge node for new births: `Node Control/Rebirth` = true.
pub fn rebirth_command(timestamp_ms: u64) -> Vec<u8> {
    let metric = proto::payload::Metric {
        name: Some(NODE_CONTROL_REBIRTH.to_owned()),
        timestamp: Some(timestamp_ms),
        datatype: Some(DataType::Boolean.as_u32()),
        value: Some(WireValue::BooleanValue(true)),
        ..Default::default()
    };
    proto::Payload { timestamp: Some(timestamp_ms), metrics: vec![metric], ..Default::default() }.encode_to_vec()
}

/// The NDEATH payload (an edge node's MQTT will): the `bdSeq` metric (UInt64), no sequence number.
pub fn death_payload(bd_seq: u64, timestamp_ms: Option<u64>) -> Vec<u8> {
    let metric = proto::payload::Metric {
        name: Some(BD_SEQ.to_owned()),
        datatype: Some(DataType::UInt64.as_u32()),
        value: Some(WireValue::LongValue(bd_seq)),
        ..Default::default()
    };
    proto::Payload { timestamp: timestamp_ms, metrics: vec![metric], ..Default::default() }.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire_metric(datatype: Option<DataType>, value: WireValue) -> Vec<u8> {
        let metric = proto::payload::Metric {
            name: Some("m".into()),
            datatype: datatype.map(DataType::as_u32),
            value: Some(value),
            ..Default::default()
        };
        proto::Payload { metrics: vec![metric], ..Default::default() }.encode_to_vec()
    }

    fn single_value(bytes: &[u8]) -> MetricValue {
        let mut payload = Payload::decode(bytes).unwrap();
        assert_eq!(payload.metrics.len(), 1);
        payload.metrics.remove(0).value
    }

    #[test]
    fn datatype_numbers_round_trip() {
        for number in 0..40 {
            assert_eq!(DataType::from_u32(number).as_u32(), number);
        }
        assert_eq!(DataType::from_u32(1), DataType::Int8);
        assert_eq!(DataType::from_u32(15), DataType::Uuid);
        assert_eq!(DataType::from_u32(34), DataType::DateTimeArray);
        assert_eq!(DataType::from_u32(35), DataType::Unknown(35));
        assert_eq!(DataType::from_u32(0), DataType::Unknown(0));
        assert_eq!(DataType::Uuid.to_string(), "UUID");
        assert_eq!(DataType::Unknown(99).to_string(), "Unknown(99)");
    }

    #[test]
    fn negative_small_integers_round_trip() {
        let cases = [
            (DataType::Int8, -1),
            (DataType::Int8, -128),
            (DataType::Int8, 127),
            (DataType::Int16, -2),
            (DataType::Int16, -32768),
            (DataType::Int32, i64::from(i32::MIN)),
            (DataType::Int64, i64::MIN),
            (DataType::Int64, -5),
        ];
        for (datatype, value) in cases {
            let mut builder = PayloadBuilder::new(None, None);
            builder.birth_metric("m", Some(1), datatype, &MetricValue::Int(value)).unwrap();
            assert_eq!(single_value(&builder.encode()), MetricValue::Int(value), "{datatype} {value}");
        }
    }

    #[test]
    fn small_signed_integers_decode_from_every_width_of_two_s_complement() {
        // Int8 -1 zero-extended (0xFF), sign-extended to 32 bits, and in long_value sign-extended to 64 bits.
        assert_eq!(single_value(&wire_metric(Some(DataType::Int8), WireValue::IntValue(0xFF))), MetricValue::Int(-1));
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int8), WireValue::IntValue(0xFFFF_FFFF))),
            MetricValue::Int(-1)
        );
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int8), WireValue::LongValue(u64::MAX))),
            MetricValue::Int(-1)
        );
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int16), WireValue::IntValue(0xFFA9))),
            MetricValue::Int(-87)
        );
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int16), WireValue::IntValue(0xFFFF_FFA9))),
            MetricValue::Int(-87)
        );
        // 0x1FF is no form of an Int8: kept as sent.
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int8), WireValue::IntValue(0x1FF))),
            MetricValue::UInt(0x1FF)
        );
    }

    #[test]
    fn every_supported_type_round_trips() {
        let cases = [
            (DataType::UInt8, MetricValue::UInt(255)),
            (DataType::UInt16, MetricValue::UInt(65535)),
            (DataType::UInt32, MetricValue::UInt(u64::from(u32::MAX))),
            (DataType::UInt64, MetricValue::UInt(u64::MAX)),
            (DataType::Float, MetricValue::Float(1.5)),
            (DataType::Double, MetricValue::Float(-0.1)),
            (DataType::Boolean, MetricValue::Bool(true)),
            (DataType::String, MetricValue::String("Robot 7".into())),
            (DataType::Text, MetricValue::String("long text".into())),
            (DataType::Uuid, MetricValue::String("5f1c0b7e-0000-4000-8000-000000000000".into())),
            (DataType::DateTime, MetricValue::DateTime(1_700_000_000_123)),
            (DataType::Bytes, MetricValue::Bytes(vec![0, 1, 255])),
            (DataType::File, MetricValue::Bytes(vec![7; 3])),
            (DataType::Int32, MetricValue::Null),
        ];
        for (datatype, value) in cases {
            let payload = Payload {
                timestamp: Some(10),
                seq: Some(3),
                metrics: vec![Metric {
                    name: Some("m".into()),
                    alias: Some(4),
                    timestamp: Some(9),
                    datatype,
                    value: value.clone(),
                    is_historical: true,
                    is_transient: true,
                }],
            };
            assert_eq!(Payload::decode(&payload.encode().unwrap()).unwrap(), payload, "{datatype}");
        }
    }

    #[test]
    fn values_without_datatype_are_kept_as_sent_and_converted_by_the_birth_type() {
        let mut builder = PayloadBuilder::new(Some(5), Some(1));
        builder.data_metric_by_alias(3, DataType::Int16, &MetricValue::Int(-300)).unwrap();
        builder.data_metric_by_alias(4, DataType::Float, &MetricValue::Float(2.5)).unwrap();
        let payload = Payload::decode(&builder.encode()).unwrap();
        assert_eq!(payload.metrics[0].datatype, DataType::Unknown(0));
        assert_eq!(payload.metrics[0].name, None);
        assert_eq!(payload.metrics[0].alias, Some(3));
        assert_eq!(payload.metrics[0].timestamp, Some(5));
        assert_eq!(payload.metrics[0].value, MetricValue::UInt(0xFFFF_FED4));
        assert_eq!(payload.metrics[0].value.convert_to(DataType::Int16), Some(MetricValue::Int(-300)));
        assert_eq!(payload.metrics[0].value.convert_to(DataType::Int8), None);
        assert_eq!(payload.metrics[0].value.convert_to(DataType::Boolean), None);
        assert_eq!(payload.metrics[1].value, MetricValue::Float(2.5));
    }

    #[test]
    fn conversions_check_ranges() {
        assert_eq!(MetricValue::UInt(256).convert_to(DataType::UInt8), None);
        assert_eq!(MetricValue::Int(-1).convert_to(DataType::UInt64), None);
        assert_eq!(MetricValue::Int(128).convert_to(DataType::Int8), None);
        assert_eq!(MetricValue::Int(7).convert_to(DataType::UInt8), Some(MetricValue::UInt(7)));
        assert_eq!(MetricValue::UInt(9).convert_to(DataType::DateTime), Some(MetricValue::DateTime(9)));
        assert_eq!(MetricValue::Null.convert_to(DataType::String), Some(MetricValue::Null));
        assert_eq!(
            MetricValue::Bool(true).convert_to(DataType::DataSet),
            Some(MetricValue::Unsupported(DataType::DataSet))
        );
    }

    #[test]
    fn unsupported_types_decode_as_unsupported() {
        let dataset = proto::payload::DataSet { num_of_columns: Some(1), ..Default::default() };
        assert_eq!(
            single_value(&wire_metric(Some(DataType::DataSet), WireValue::DatasetValue(dataset))),
            MetricValue::Unsupported(DataType::DataSet)
        );
        let template = proto::payload::Template::default();
        assert_eq!(
            single_value(&wire_metric(None, WireValue::TemplateValue(template))),
            MetricValue::Unsupported(DataType::Template)
        );
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Int32Array), WireValue::BytesValue(vec![1, 0, 0, 0]))),
            MetricValue::Unsupported(DataType::Int32Array)
        );
        assert_eq!(
            single_value(&wire_metric(Some(DataType::Unknown(77)), WireValue::IntValue(1))),
            MetricValue::Unsupported(DataType::Unknown(77))
        );
    }

    #[test]
    fn encoding_refuses_values_that_do_not_fit() {
        let mut builder = PayloadBuilder::new(None, None);
        assert_eq!(
            builder.birth_metric("m", None, DataType::Int8, &MetricValue::Int(300)).unwrap_err(),
            EncodeError::ValueDoesNotFit { datatype: DataType::Int8, value: MetricValue::Int(300) }
        );
        assert_eq!(
            builder.birth_metric("m", None, DataType::Template, &MetricValue::Bool(true)).unwrap_err(),
            EncodeError::Unsupported(DataType::Template)
        );
        assert!(builder.is_empty());
    }

    #[test]
    fn malformed_bytes_are_an_error() {
        for bytes in [&[0xFF_u8, 0xFF, 0xFF][..], &[0x12, 0x05, 0x0A], &[0x08], &[0x12, 0x80]] {
            assert!(matches!(Payload::decode(bytes), Err(PayloadError::Protobuf(_))), "{bytes:?}");
        }
        assert_eq!(Payload::decode(&[]).unwrap(), Payload::default());
    }

    #[test]
    fn rebirth_command_and_death_payload() {
        let command = Payload::decode(&rebirth_command(42)).unwrap();
        assert!(command.is_rebirth_request());
        assert_eq!(command.seq, None);
        assert_eq!(command.metrics[0].datatype, DataType::Boolean);
        let death = Payload::decode(&death_payload(7, None)).unwrap();
        assert_eq!(death.bd_seq(), Some(7));
        assert_eq!(death.seq, None);
        assert_eq!(death.metrics[0].datatype, DataType::UInt64);
        assert!(!death.is_rebirth_request());
    }
}
