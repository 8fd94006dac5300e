//! Names for the multiple-apply `TwinloomSignalBindingAPI`: one instance per live attribute.
//!
//! The instance name is the live attribute's name with `:` written as `_` (instance names are single
//! identifiers), so the binding of `twinloom:state` is the applied schema
//! `TwinloomSignalBindingAPI:twinloom_state` with properties `twinloom:signal:twinloom_state:address`, ….

use crate::schema::SIGNAL_BINDING_API;

/// Namespace of every signal-binding property, before the instance name.
pub const PROPERTY_PREFIX: &str = "twinloom:signal";

/// The binding's fields (the part after the instance name).
pub mod field {
    /// Name of the attribute on this prim that the signal writes.
    pub const ATTRIBUTE: &str = "attribute";
    /// Kind of source (allowed: [`crate::value::source_kind::ALL`]).
    pub const SOURCE_KIND: &str = "sourceKind";
    /// The source's address (OPC UA node id, Modbus register, MQTT topic, …).
    pub const ADDRESS: &str = "address";
    /// Quality of the latest value (allowed: [`crate::value::quality::ALL`]).
    pub const QUALITY: &str = "quality";
    /// When the source produced the latest value, seconds since 1970-01-01 UTC.
    pub const SOURCE_TIMESTAMP: &str = "sourceTimestamp";
    /// UCUM unit of the source value.
    pub const UNIT: &str = "unit";
    /// attribute value = source value × scale + offset.
    pub const SCALE: &str = "scale";
    pub const OFFSET: &str = "offset";
    /// Every field, in schema order.
    pub const ALL: &[&str] = &[ATTRIBUTE, SOURCE_KIND, ADDRESS, QUALITY, SOURCE_TIMESTAMP, UNIT, SCALE, OFFSET];
}

/// The instance name binding the attribute `attribute` (`:` → `_`).
pub fn instance_name(attribute: &str) -> String {
    attribute.replace(':', "_")
}

/// The applied-schema entry for `apiSchemas`, e.g. `TwinloomSignalBindingAPI:twinloom_state`.
pub fn applied_schema(instance: &str) -> String {
    format!("{SIGNAL_BINDING_API}:{instance}")
}

/// A binding property's full name, e.g. `twinloom:signal:twinloom_state:quality`.
pub fn property(instance: &str, field: &str) -> String {
    format!("{PROPERTY_PREFIX}:{instance}:{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_binding() {
        let instance = instance_name(crate::attr::JOINT_POSITIONS);
        assert_eq!(instance, "twinloom_joints_positions");
        assert_eq!(applied_schema(&instance), "TwinloomSignalBindingAPI:twinloom_joints_positions");
        assert_eq!(property(&instance, field::QUALITY), "twinloom:signal:twinloom_joints_positions:quality");
    }
}
