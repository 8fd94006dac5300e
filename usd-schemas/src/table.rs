//! Every schema with its kind, base and own properties: the contract the files must keep (checked
//! against usd-core's `Usd.SchemaRegistry` by the tests).

use crate::names::{attr, schema, value};
use crate::signal::field;

/// How a schema is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// A base type no prim has directly.
    AbstractTyped,
    /// A prim type (`def TwinloomRobot "R1"`).
    ConcreteTyped,
    /// An API schema applied several times per prim, each with an instance name.
    MultipleApplyApi,
}

/// A property a schema declares itself, and its allowed tokens (empty when any value goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub allowed_tokens: &'static [&'static str],
}

/// One schema: type name, kind, the Twinloom schema it inherits from, and the properties it declares
/// (for the API schema, the field names after `twinloom:signal:<instance>:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub name: &'static str,
    pub kind: SchemaKind,
    pub base: Option<&'static str>,
    pub properties: &'static [Property],
}

impl Schema {
    /// This schema's properties with those of its Twinloom bases (a redeclared one counted once).
    pub fn all_properties(&self) -> Vec<Property> {
        let mut all: Vec<Property> = self.properties.to_vec();
        let base = self.base.and_then(|b| SCHEMAS.iter().find(|s| s.name == b));
        for inherited in base.map(Schema::all_properties).unwrap_or_default() {
            if !all.iter().any(|p| p.name == inherited.name) {
                all.push(inherited);
            }
        }
        all
    }

    /// The schema named `name`, if it is one of Twinloom's.
    pub fn find(name: &str) -> Option<&'static Schema> {
        SCHEMAS.iter().find(|s| s.name == name)
    }
}

const fn p(name: &'static str) -> Property {
    Property { name, allowed_tokens: &[] }
}

const fn tokens(name: &'static str, allowed_tokens: &'static [&'static str]) -> Property {
    Property { name, allowed_tokens }
}

const fn typed(name: &'static str, properties: &'static [Property]) -> Schema {
    Schema { name, kind: SchemaKind::ConcreteTyped, base: Some(schema::EQUIPMENT_BASE), properties }
}

/// Every Twinloom schema.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: schema::EQUIPMENT_BASE,
        kind: SchemaKind::AbstractTyped,
        base: None,
        properties: &[
            tokens(attr::ISA95_LEVEL, value::isa95_level::ALL),
            p(attr::EQUIPMENT_ID),
            p(attr::MANUFACTURER),
            p(attr::MODEL),
        ],
    },
    typed(schema::SITE, &[tokens(attr::ISA95_LEVEL, value::isa95_level::ALL), p(attr::TIME_ZONE)]),
    typed(schema::AREA, &[tokens(attr::ISA95_LEVEL, value::isa95_level::ALL), tokens(attr::SHOP, value::shop::ALL)]),
    typed(schema::LINE, &[tokens(attr::ISA95_LEVEL, value::isa95_level::ALL), p(attr::TAKT_TIME), p(attr::THROUGHPUT)]),
    typed(
        schema::STATION,
        &[
            tokens(attr::ISA95_LEVEL, value::isa95_level::ALL),
            p(attr::CYCLE_TIME),
            p(attr::TAKT_TIME),
            tokens(attr::STATE, value::station_state::ALL),
            p(attr::CURRENT_ORDER),
            p(attr::CURRENT_VIN),
        ],
    ),
    typed(schema::EQUIPMENT, &[tokens(attr::STATE, value::equipment_state::ALL)]),
    typed(
        schema::ROBOT,
        &[
            p(attr::OPW_A1),
            p(attr::OPW_A2),
            p(attr::OPW_B),
            p(attr::OPW_C1),
            p(attr::OPW_C2),
            p(attr::OPW_C3),
            p(attr::OPW_C4),
            p(attr::OPW_OFFSETS),
            p(attr::OPW_SIGN_CORRECTIONS),
            p(attr::JOINT_LOWER_LIMITS),
            p(attr::JOINT_UPPER_LIMITS),
            p(attr::BASE_FRAME),
            p(attr::TOOL_FRAME),
            p(attr::JOINT_POSITIONS),
            p(attr::JOINT_VELOCITIES),
            p(attr::PROGRAM),
            tokens(attr::STATE, value::robot_state::ALL),
        ],
    ),
    typed(
        schema::CONVEYOR,
        &[
            p(attr::SPEED),
            p(attr::LENGTH),
            p(attr::CAPACITY),
            p(attr::OCCUPANCY),
            tokens(attr::STATE, value::conveyor_state::ALL),
        ],
    ),
    typed(schema::BUFFER, &[p(attr::CAPACITY), p(attr::OCCUPANCY)]),
    typed(
        schema::PAINT_BOOTH,
        &[
            p(attr::TEMPERATURE_SETPOINT),
            p(attr::TEMPERATURE),
            p(attr::HUMIDITY_SETPOINT),
            p(attr::HUMIDITY),
            p(attr::DOWNDRAFT_VELOCITY),
            p(attr::POWER),
            p(attr::ENERGY),
            tokens(attr::STATE, value::paint_booth_state::ALL),
        ],
    ),
    typed(
        schema::OVEN_ZONE,
        &[
            p(attr::ZONE_INDEX),
            p(attr::TEMPERATURE_SETPOINT),
            p(attr::TEMPERATURE),
            p(attr::DWELL_TIME),
            p(attr::POWER),
            p(attr::ENERGY),
        ],
    ),
    typed(
        schema::SENSOR,
        &[
            tokens(attr::ISA95_LEVEL, value::isa95_level::ALL),
            tokens(attr::QUANTITY, value::quantity::ALL),
            p(attr::VALUE),
            p(attr::UNIT),
            p(attr::RANGE_MIN),
            p(attr::RANGE_MAX),
        ],
    ),
    Schema {
        name: schema::SIGNAL_BINDING_API,
        kind: SchemaKind::MultipleApplyApi,
        base: None,
        properties: &[
            p(field::ATTRIBUTE),
            tokens(field::SOURCE_KIND, value::source_kind::ALL),
            p(field::ADDRESS),
            tokens(field::QUALITY, value::quality::ALL),
            p(field::SOURCE_TIMESTAMP),
            p(field::UNIT),
            p(field::SCALE),
            p(field::OFFSET),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherited_properties_are_counted_once() {
        let station = Schema::find(schema::STATION).expect("station schema");
        let all = station.all_properties();
        assert_eq!(all.iter().filter(|p| p.name == attr::ISA95_LEVEL).count(), 1);
        assert!(all.iter().any(|p| p.name == attr::EQUIPMENT_ID));
        assert_eq!(all.len(), 6 + 3);
    }
}
