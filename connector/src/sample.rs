//! The unit every source delivers: one value of one bound signal with its timestamps and quality.
//! Sources send `Vec<Sample>` batches over a bounded tokio mpsc channel; nothing here depends on a
//! particular protocol (OPC UA status codes are carried as plain `u32` quality codes).

use std::fmt;
use std::time::SystemTime;

/// A signal's value, in the few shapes the twin stores.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (the source reported none, typically with a bad quality).
    Null,
    Bool(bool),
    /// Every signed integer, and unsigned ones up to 32 bits.
    I64(i64),
    /// Unsigned 64-bit integers.
    U64(u64),
    /// Floating point (32-bit values are widened).
    F64(f64),
    String(String),
    /// Three numbers (an array of exactly three, e.g. a position), for a `float3` attribute.
    Vec3([f64; 3]),
}

impl Value {
    /// The value as a number where that makes sense (booleans as 0/1).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::I64(i) => Some(*i as f64),
            Value::U64(u) => Some(*u as f64),
            Value::F64(x) => Some(*x),
            Value::Null | Value::String(_) | Value::Vec3(_) => None,
        }
    }

    /// A short name of the variant, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::I64(_) => "i64",
            Value::U64(_) => "u64",
            Value::F64(_) => "f64",
            Value::String(_) => "string",
            Value::Vec3(_) => "vec3",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::I64(i) => write!(f, "{i}"),
            Value::U64(u) => write!(f, "{u}"),
            Value::F64(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Vec3([x, y, z]) => write!(f, "[{x}, {y}, {z}]"),
        }
    }
}

/// Quality of a sample: the source's status code (OPC UA encoding: the top two bits say good,
/// uncertain or bad; 0 is Good).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Quality(pub u32);

impl Quality {
    /// Good, no further information.
    pub const GOOD: Quality = Quality(0);

    pub fn is_good(self) -> bool {
        self.0 & 0xC000_0000 == 0
    }

    pub fn is_uncertain(self) -> bool {
        self.0 & 0xC000_0000 == 0x4000_0000
    }

    pub fn is_bad(self) -> bool {
        self.0 & 0x8000_0000 != 0
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:08X}", self.0)
    }
}

/// One value of one signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The handle the consumer gave this signal when subscribing.
    pub signal: u32,
    pub value: Value,
    /// When the value was produced at the source (PLC), if the source said.
    pub source_time: Option<SystemTime>,
    /// When the server sent it, if the source said.
    pub server_time: Option<SystemTime>,
    pub quality: Quality,
    /// A value of the past (a Sparkplug `is_historical` metric): it goes to history only, never to the
    /// live layer (docs/history.md, "Late and historical samples").
    pub historical: bool,
}

/// A batch as sent over the source channel.
pub type SampleBatch = Vec<Sample>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_classes_follow_the_status_code_severity_bits() {
        assert!(Quality::GOOD.is_good());
        let uncertain = Quality(0x4000_0000);
        assert!(uncertain.is_uncertain() && !uncertain.is_good() && !uncertain.is_bad());
        let bad_node = Quality(0x8034_0000); // BadNodeIdUnknown
        assert!(bad_node.is_bad() && !bad_node.is_good());
        assert_eq!(bad_node.to_string(), "0x80340000");
    }

    #[test]
    fn values_convert_to_numbers_where_meaningful() {
        assert_eq!(Value::Bool(true).as_f64(), Some(1.0));
        assert_eq!(Value::I64(-3).as_f64(), Some(-3.0));
        assert_eq!(Value::String("x".into()).as_f64(), None);
        assert_eq!(Value::String("x".into()).to_string(), "\"x\"");
    }
}
