//! The signal table: every served signal's path, type and unit, its current value, and the list of
//! signals that changed during the current tick (what the server pushes to its subscribers).

use std::fmt;

/// A signal's value as the plant model produces it.
#[derive(Debug, Clone, PartialEq)]
pub enum SimValue {
    /// OPC UA Boolean.
    Bool(bool),
    /// OPC UA Int32 (states, fault codes, program and step numbers).
    Int(i32),
    /// OPC UA Int64 (counters).
    Long(i64),
    /// OPC UA Double (angles, temperatures, speeds, energies).
    Double(f64),
    /// OPC UA String (VINs, order numbers, body ids).
    Text(String),
}

/// The OPC UA data type a signal is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Boolean,
    Int32,
    Int64,
    Double,
    String,
}

impl SimValue {
    /// The OPC UA data type of this value.
    pub fn value_type(&self) -> ValueType {
        match self {
            SimValue::Bool(_) => ValueType::Boolean,
            SimValue::Int(_) => ValueType::Int32,
            SimValue::Long(_) => ValueType::Int64,
            SimValue::Double(_) => ValueType::Double,
            SimValue::Text(_) => ValueType::String,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValueType::Boolean => "Boolean",
            ValueType::Int32 => "Int32",
            ValueType::Int64 => "Int64",
            ValueType::Double => "Double",
            ValueType::String => "String",
        })
    }
}

/// What a signal is: its browse path below the plant namespace, its type and its engineering unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalInfo {
    /// Browse path, also the string node id: e.g. `Plant/BIW/Station01/R01/J1`.
    pub path: String,
    /// OPC UA data type.
    pub value_type: ValueType,
    /// Engineering unit ("deg", "degC", "s", "" for none).
    pub unit: &'static str,
}

/// Index of a signal in the table (dense, in creation order; stable for a given configuration).
pub type SignalId = u32;

/// All signals of the plant, their current values and this tick's changes.
#[derive(Debug, Default)]
pub struct Signals {
    infos: Vec<SignalInfo>,
    values: Vec<SimValue>,
    changed: Vec<SignalId>,
}

impl Signals {
    /// Adds a signal with its initial value; returns its id.
    pub fn add(&mut self, path: String, unit: &'static str, initial: SimValue) -> SignalId {
        let id = self.infos.len() as SignalId;
        self.infos.push(SignalInfo { path, value_type: initial.value_type(), unit });
        self.values.push(initial);
        id
    }

    /// Sets a value; records a change only when it differs from the current one.
    /// The type never changes: the model always writes a signal with the same variant.
    pub fn set(&mut self, id: SignalId, value: SimValue) {
        let slot = &mut self.values[id as usize];
        if *slot != value {
            *slot = value;
            self.changed.push(id);
        }
    }

    pub fn set_f64(&mut self, id: SignalId, x: f64) {
        self.set(id, SimValue::Double(x));
    }

    pub fn set_i32(&mut self, id: SignalId, x: i32) {
        self.set(id, SimValue::Int(x));
    }

    pub fn set_i64(&mut self, id: SignalId, x: i64) {
        self.set(id, SimValue::Long(x));
    }

    pub fn set_bool(&mut self, id: SignalId, x: bool) {
        self.set(id, SimValue::Bool(x));
    }

    pub fn set_text(&mut self, id: SignalId, x: &str) {
        if !matches!(&self.values[id as usize], SimValue::Text(t) if t == x) {
            self.set(id, SimValue::Text(x.to_owned()));
        }
    }

    pub fn infos(&self) -> &[SignalInfo] {
        &self.infos
    }

    pub fn values(&self) -> &[SimValue] {
        &self.values
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    /// The signals changed since the last `clear_changes`.
    pub fn changed(&self) -> &[SignalId] {
        &self.changed
    }

    pub fn clear_changes(&mut self) {
        self.changed.clear();
    }
}

/// Rounds to a fixed number of decimals, as a PLC's fixed-point scaling would.
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}
