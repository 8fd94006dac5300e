//! Every schema with its kind, built-in schema and own properties: the contract the files must keep
//! (checked against usd-core's `Usd.SchemaRegistry` by the tests).

use crate::names::{attr, schema, value};
use crate::signal::field;

/// How a schema is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    /// An API schema applied once per prim (`prepend apiSchemas = ["TwinloomRobotAPI"]`).
    SingleApplyApi,
    /// An API schema applied several times per prim, each with an instance name.
    MultipleApplyApi,
}

/// A property a schema declares itself, and its allowed tokens (empty when any value goes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub allowed_tokens: &'static [&'static str],
}

/// One schema: name, kind, the Twinloom API schema built into it (applying this schema applies that
/// one too), and the properties it declares itself, including those whose built-in fallback it
/// overrides (for the multiple-apply API schema, the field names after `twinloom:signal:<instance>:`), and
/// the relationships it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schema {
    pub name: &'static str,
    pub kind: SchemaKind,
    pub builtin: Option<&'static str>,
    pub properties: &'static [Property],
    /// Relationships the schema declares (they have no fallback value, so they are not in `properties`).
    pub relationships: &'static [&'static str],
}

impl Schema {
    /// The properties a prim with this schema applied has: its own and those of its built-in schema
    /// (an overridden one counted once).
    pub fn all_properties(&self) -> Vec<Property> {
        let mut all: Vec<Property> = self.properties.to_vec();
        let builtin = self.builtin.and_then(Schema::find);
        for p in builtin.map(Schema::all_properties).unwrap_or_default() {
            if !all.iter().any(|q| q.name == p.name) {
                all.push(p);
            }
        }
        all
    }

    /// The schema named `name`, if it is one of Twinloom's.
    pub fn find(name: &str) -> Option<&'static Schema> {
        SCHEMAS.iter().find(|s| s.name == name)
    }

    /// Whether this is the API schema of a plant element (site, area, line, station, equipment, …):
    /// one with the equipment identity built in.
    pub fn is_element(&self) -> bool {
        self.builtin == Some(schema::EQUIPMENT_IDENTITY)
    }
}

const fn p(name: &'static str) -> Property {
    Property { name, allowed_tokens: &[] }
}

const fn tokens(name: &'static str, allowed_tokens: &'static [&'static str]) -> Property {
    Property { name, allowed_tokens }
}

/// A plant element's API schema: the equipment identity built in.
const fn element(name: &'static str, properties: &'static [Property]) -> Schema {
    Schema {
        name,
        kind: SchemaKind::SingleApplyApi,
        builtin: Some(schema::EQUIPMENT_IDENTITY),
        properties,
        relationships: &[],
    }
}

/// The ISA-95 level, redeclared by the elements whose fallback is not `equipmentModule`.
const ISA95: Property = tokens(attr::ISA95_LEVEL, value::isa95_level::ALL);

/// Every Twinloom schema.
pub const SCHEMAS: &[Schema] = &[
    Schema {
        name: schema::EQUIPMENT_IDENTITY,
        kind: SchemaKind::SingleApplyApi,
        builtin: None,
        properties: &[ISA95, p(attr::EQUIPMENT_ID), p(attr::MANUFACTURER), p(attr::MODEL)],
        relationships: &[],
    },
    element(schema::SITE, &[ISA95, p(attr::TIME_ZONE)]),
    element(schema::AREA, &[ISA95, tokens(attr::SHOP, value::shop::ALL)]),
    element(schema::LINE, &[ISA95, p(attr::TAKT_TIME), p(attr::THROUGHPUT)]),
    element(
        schema::STATION,
        &[
            ISA95,
            p(attr::CYCLE_TIME),
            p(attr::TAKT_TIME),
            tokens(attr::STATE, value::station_state::ALL),
            p(attr::CURRENT_ORDER),
            p(attr::CURRENT_VIN),
        ],
    ),
    element(schema::EQUIPMENT, &[tokens(attr::STATE, value::equipment_state::ALL)]),
    element(
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
    element(
        schema::CONVEYOR,
        &[
            p(attr::SPEED),
            p(attr::LENGTH),
            p(attr::CAPACITY),
            p(attr::OCCUPANCY),
            tokens(attr::STATE, value::conveyor_state::ALL),
        ],
    ),
    element(schema::BUFFER, &[p(attr::CAPACITY), p(attr::OCCUPANCY)]),
    element(
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
    element(
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
    element(
        schema::SENSOR,
        &[
            ISA95,
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
        builtin: None,
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
        relationships: &[],
    },
    Schema {
        name: schema::WORK_IN_PROCESS,
        kind: SchemaKind::SingleApplyApi,
        builtin: None,
        properties: &[
            p(attr::WIP_VIN),
            p(attr::WIP_ORDER_ID),
            p(attr::WIP_MODEL),
            p(attr::WIP_VARIANT),
            p(attr::WIP_OPTIONS),
            p(attr::WIP_SEQUENCE),
            p(attr::WIP_RELEASED_AT_MS),
            p(attr::WIP_ENTERED_AT_MS),
            p(attr::WIP_LAST_EVENT_AT_MS),
            p(attr::WIP_LAST_OPERATION),
            p(attr::WIP_LAST_RESULT),
        ],
        relationships: &[attr::WIP_STATION],
    },
    Schema {
        name: schema::MATERIAL_ACTUAL,
        kind: SchemaKind::SingleApplyApi,
        builtin: None,
        properties: &[
            p(attr::MATERIAL_PART_NUMBER),
            p(attr::MATERIAL_LOT),
            p(attr::MATERIAL_SERIAL),
            p(attr::MATERIAL_QUANTITY),
            p(attr::MATERIAL_UNIT),
            p(attr::MATERIAL_EQUIPMENT_ID),
            p(attr::MATERIAL_AT_MS),
        ],
        relationships: &[attr::MATERIAL_STATION],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_properties_are_counted_once() {
        let station = Schema::find(schema::STATION).expect("station schema");
        let all = station.all_properties();
        assert_eq!(all.iter().filter(|p| p.name == attr::ISA95_LEVEL).count(), 1);
        assert!(all.iter().any(|p| p.name == attr::EQUIPMENT_ID));
        assert_eq!(all.len(), 6 + 3);
    }

    #[test]
    fn every_element_has_the_identity_built_in() {
        let elements: Vec<&str> = SCHEMAS.iter().filter(|s| s.is_element()).map(|s| s.name).collect();
        assert_eq!(elements.len(), 11, "{elements:?}");
        assert!(!Schema::find(schema::EQUIPMENT_IDENTITY).unwrap().is_element());
        assert!(!Schema::find(schema::SIGNAL_BINDING_API).unwrap().is_element());
        assert!(!Schema::find(schema::WORK_IN_PROCESS).unwrap().is_element());
        assert!(!Schema::find(schema::MATERIAL_ACTUAL).unwrap().is_element());
    }

    #[test]
    fn only_the_mes_schemas_declare_relationships() {
        let with: Vec<(&str, &[&str])> =
            SCHEMAS.iter().filter(|s| !s.relationships.is_empty()).map(|s| (s.name, s.relationships)).collect();
        assert_eq!(
            with,
            [
                (schema::WORK_IN_PROCESS, &[attr::WIP_STATION][..]),
                (schema::MATERIAL_ACTUAL, &[attr::MATERIAL_STATION][..])
            ]
        );
    }
}
