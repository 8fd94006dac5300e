//! What a client may change in the plant: the writable setpoints (each with its type and physical range)
//! and the result of acknowledging an assembly station's fault.

use super::{SignalId, SimValue, ValueType};

/// A signal that accepts writes: oven zone temperature setpoints, conveyor speed setpoints, the assembly
/// takt time and the robots' program selects. Every other signal is read-only.
#[derive(Debug, Clone, PartialEq)]
pub struct Setpoint {
    /// The signal (its path is the node id).
    pub signal: SignalId,
    /// `Double` or `Int32`: a write of any other type is refused.
    pub value_type: ValueType,
    /// Smallest accepted value (inclusive), in the signal's unit.
    pub min: f64,
    /// Largest accepted value (inclusive), in the signal's unit.
    pub max: f64,
    pub(crate) target: Target,
}

/// What a setpoint drives (indices are positions in the shop's own lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    OvenZone(usize),
    Conveyor(usize),
    Takt,
    Program(usize),
}

/// Why a write to a signal was refused; nothing in the plant changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// The signal is not a setpoint (served read-only).
    #[error("the signal is read-only")]
    NotWritable,
    /// The value's type is not the setpoint's (`Double` or `Int32`).
    #[error("the value has the wrong type")]
    TypeMismatch,
    /// The value is outside the setpoint's physical range (or not a number).
    #[error("the value is out of range")]
    OutOfRange,
}

impl Setpoint {
    pub(crate) fn new(signal: SignalId, value_type: ValueType, min: f64, max: f64, target: Target) -> Self {
        Setpoint { signal, value_type, min, max, target }
    }

    /// Checks a value against the setpoint's type and range; returns it as a number.
    pub fn check(&self, value: &SimValue) -> Result<f64, WriteError> {
        let x = match (self.value_type, value) {
            (ValueType::Double, SimValue::Double(x)) => *x,
            (ValueType::Int32, SimValue::Int(i)) => f64::from(*i),
            _ => return Err(WriteError::TypeMismatch),
        };
        // NaN fails both comparisons.
        if x >= self.min && x <= self.max {
            Ok(x)
        } else {
            Err(WriteError::OutOfRange)
        }
    }
}

/// What [`super::PlantModel::acknowledge_fault`] did to an assembly station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The fault code that was active and is now cleared (0: there was no fault).
    pub fault_code: i32,
    /// An andon was pulled and is now cleared.
    pub andon: bool,
}

impl Acknowledgement {
    /// True when a fault or an andon was active (and is now cleared); false when there was nothing to
    /// acknowledge.
    pub fn acknowledged(&self) -> bool {
        self.fault_code != 0 || self.andon
    }
}
