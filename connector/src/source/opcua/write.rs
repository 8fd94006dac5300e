//! Write-back through the source's session: read a node's value, write a value of the node's own type,
//! call a method. Each answers with the server's status so a refusal (`BadUserAccessDenied`,
//! `BadOutOfRange`, `BadNotWritable`, …) reaches the command as the server said it; a request that got no
//! answer is `SinkError::NoAnswer`, whose outcome is unknown (the caller must not retry blindly).

use opcua::types::{AttributeId, CallMethodRequest, DataValue, NumericRange, TimestampsToReturn, Variant, WriteValue};

use super::convert::value_of;
use super::OpcUaSource;
use crate::command::sink::SinkError;
use crate::sample::Value;

fn status_name(s: opcua::types::StatusCode) -> String {
    format!("{s}")
}

/// `value` as a variant of the same type as `like` (the node's current value).
pub fn variant_like(like: &Variant, value: &Value) -> Result<Variant, SinkError> {
    let num = || value.as_f64().ok_or_else(|| SinkError::Type(format!("{} is not a number", value.kind())));
    let int = |lo: f64, hi: f64| -> Result<f64, SinkError> {
        let x = num()?;
        if x.fract() != 0.0 || x < lo || x > hi {
            return Err(SinkError::Type(format!("{x} is not an integer in {lo}..={hi}")));
        }
        Ok(x)
    };
    Ok(match like {
        Variant::Double(_) => Variant::Double(num()?),
        Variant::Float(_) => Variant::Float(num()? as f32),
        Variant::SByte(_) => Variant::SByte(int(i8::MIN as f64, i8::MAX as f64)? as i8),
        Variant::Byte(_) => Variant::Byte(int(0.0, u8::MAX as f64)? as u8),
        Variant::Int16(_) => Variant::Int16(int(i16::MIN as f64, i16::MAX as f64)? as i16),
        Variant::UInt16(_) => Variant::UInt16(int(0.0, u16::MAX as f64)? as u16),
        Variant::Int32(_) => Variant::Int32(int(i32::MIN as f64, i32::MAX as f64)? as i32),
        Variant::UInt32(_) => Variant::UInt32(int(0.0, u32::MAX as f64)? as u32),
        Variant::Int64(_) => Variant::Int64(int(-9.007e15, 9.007e15)? as i64),
        Variant::UInt64(_) => Variant::UInt64(int(0.0, 9.007e15)? as u64),
        Variant::Boolean(_) => match value {
            Value::Bool(b) => Variant::Boolean(*b),
            other => return Err(SinkError::Type(format!("a Boolean node takes true or false, not {}", other.kind()))),
        },
        Variant::String(_) | Variant::LocalizedText(_) => match value {
            Value::String(s) => Variant::from(s.as_str()),
            other => return Err(SinkError::Type(format!("a String node takes text, not {}", other.kind()))),
        },
        other => {
            return Err(SinkError::Type(format!("nodes of type {:?} are not writable by Twinloom", other.type_id())))
        }
    })
}

/// A method argument as a variant: whole numbers as Int32 (Int64 beyond), other numbers as Double,
/// booleans as Boolean, text as String.
pub fn argument_variant(v: &Value) -> Variant {
    match v {
        Value::Null => Variant::Empty,
        Value::Bool(b) => Variant::Boolean(*b),
        Value::I64(i) => i32::try_from(*i).map_or(Variant::Int64(*i), Variant::Int32),
        Value::U64(u) => Variant::UInt64(*u),
        Value::F64(x) => Variant::Double(*x),
        Value::String(s) => Variant::from(s.as_str()),
        Value::Vec3(v) => Variant::from(v.to_vec()),
    }
}

impl OpcUaSource {
    async fn node(&self, node: &str) -> Result<opcua::types::NodeId, SinkError> {
        self.resolve_node_id(node).await.map_err(|e| SinkError::Node(e.to_string()))
    }

    /// Reads the node's value (a fresh read, not a cached one) and its variant.
    pub async fn read_node(&self, node: &str) -> Result<(Value, Variant), SinkError> {
        let id = self.node(node).await?;
        let nodes = [id.into()];
        let read = self.session().read(&nodes, TimestampsToReturn::Neither, 0.0);
        let dv = tokio::time::timeout(self.request_timeout(), read)
            .await
            .map_err(|_| SinkError::NoAnswer(format!("reading {node} timed out")))?
            .map_err(|e| SinkError::NoAnswer(format!("reading {node}: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| SinkError::NoAnswer(format!("reading {node}: empty answer")))?;
        if let Some(s) = dv.status.filter(|s| !s.is_good()) {
            return Err(SinkError::Refused { status: status_name(s) });
        }
        let v = dv.value.unwrap_or(Variant::Empty);
        let value = value_of(&v).map_err(|e| SinkError::Type(format!("{node} holds {}", e.0)))?;
        Ok((value, v))
    }

    /// Writes `value` to the node's Value attribute as a variant of the node's type `like` (from
    /// [`OpcUaSource::read_node`]).
    pub async fn write_node(&self, node: &str, like: &Variant, value: &Value) -> Result<(), SinkError> {
        let id = self.node(node).await?;
        let variant = variant_like(like, value)?;
        let wv = WriteValue {
            node_id: id,
            attribute_id: AttributeId::Value as u32,
            index_range: NumericRange::None,
            value: DataValue::value_only(variant),
        };
        let status = tokio::time::timeout(self.request_timeout(), self.session().write(&[wv]))
            .await
            .map_err(|_| SinkError::NoAnswer(format!("writing {node} timed out")))?
            .map_err(|e| SinkError::NoAnswer(format!("writing {node}: {e}")))?
            .into_iter()
            .next()
            .ok_or_else(|| SinkError::NoAnswer(format!("writing {node}: empty answer")))?;
        if status.is_good() {
            Ok(())
        } else {
            Err(SinkError::Refused { status: status_name(status) })
        }
    }

    /// Calls `method` on `object` with `args` (variants as the method declares them); returns the output
    /// arguments.
    pub async fn call_method(&self, object: &str, method: &str, args: Vec<Variant>) -> Result<Vec<Value>, SinkError> {
        let (object_id, method_id) = (self.node(object).await?, self.node(method).await?);
        let req = CallMethodRequest { object_id, method_id, input_arguments: Some(args) };
        let r = tokio::time::timeout(self.request_timeout(), self.session().call_one(req))
            .await
            .map_err(|_| SinkError::NoAnswer(format!("calling {method} timed out")))?
            .map_err(|e| SinkError::NoAnswer(format!("calling {method}: {e}")))?;
        if !r.status_code.is_good() {
            return Err(SinkError::Refused { status: status_name(r.status_code) });
        }
        r.output_arguments
            .unwrap_or_default()
            .iter()
            .map(|v| value_of(v).map_err(|e| SinkError::Type(format!("{method} returned {}", e.0))))
            .collect()
    }
}
