//! The schemas' names as constants: schema names, property names and allowed token values.

/// Schema names. A plant element is a standard `Xform` prim ([`PRIM_TYPE`]) with one Twinloom element API
/// schema applied: `def Xform "R01" (prepend apiSchemas = ["TwinloomRobotAPI"])`. Every element API
/// schema has [`EQUIPMENT_IDENTITY`] built in. OpenUSD without the plugin ignores the API schemas and
/// still places and draws the `Xform`.
pub mod schema {
    /// The prim type of every plant element (site, area, line, station, equipment).
    pub const PRIM_TYPE: &str = "Xform";
    /// An element's ISA-95 level and identity (equipment id, manufacturer, model); built into every
    /// element API schema below, so it is applied with each of them.
    pub const EQUIPMENT_IDENTITY: &str = "TwinloomEquipmentIdentityAPI";
    pub const SITE: &str = "TwinloomSiteAPI";
    pub const AREA: &str = "TwinloomAreaAPI";
    pub const LINE: &str = "TwinloomLineAPI";
    pub const STATION: &str = "TwinloomStationAPI";
    pub const EQUIPMENT: &str = "TwinloomEquipmentAPI";
    pub const ROBOT: &str = "TwinloomRobotAPI";
    pub const CONVEYOR: &str = "TwinloomConveyorAPI";
    pub const BUFFER: &str = "TwinloomBufferAPI";
    pub const PAINT_BOOTH: &str = "TwinloomPaintBoothAPI";
    pub const OVEN_ZONE: &str = "TwinloomOvenZoneAPI";
    pub const SENSOR: &str = "TwinloomSensorAPI";
    /// A car in work (WIP) as the MES reports it, on a standard `Xform` at `/<Plant>/<Shop>/WIP/<VIN>`.
    pub const WORK_IN_PROCESS: &str = "TwinloomWorkInProcessAPI";
    /// One part or lot of a car's genealogy, on a child of the car's `Genealogy` scope.
    pub const MATERIAL_ACTUAL: &str = "TwinloomMaterialActualAPI";
    /// Multiple-apply API schema: where a live value comes from (see [`crate::signal`]).
    pub const SIGNAL_BINDING_API: &str = "TwinloomSignalBindingAPI";
}

/// Property names of the API schemas (all in the `twinloom:` namespace).
pub mod attr {
    // Equipment identity (every element).
    pub const ISA95_LEVEL: &str = "twinloom:isa95Level";
    pub const EQUIPMENT_ID: &str = "twinloom:equipmentId";
    pub const MANUFACTURER: &str = "twinloom:manufacturer";
    pub const MODEL: &str = "twinloom:model";
    // Site, area.
    pub const TIME_ZONE: &str = "twinloom:timeZone";
    pub const SHOP: &str = "twinloom:shop";
    // Line, station.
    pub const TAKT_TIME: &str = "twinloom:taktTime";
    pub const THROUGHPUT: &str = "twinloom:throughput";
    pub const CYCLE_TIME: &str = "twinloom:cycleTime";
    pub const STATE: &str = "twinloom:state";
    pub const CURRENT_ORDER: &str = "twinloom:currentOrder";
    pub const CURRENT_VIN: &str = "twinloom:currentVin";
    // Robot: OPW kinematics (lengths in stage units, angles in degrees).
    pub const OPW_A1: &str = "twinloom:opw:a1";
    pub const OPW_A2: &str = "twinloom:opw:a2";
    pub const OPW_B: &str = "twinloom:opw:b";
    pub const OPW_C1: &str = "twinloom:opw:c1";
    pub const OPW_C2: &str = "twinloom:opw:c2";
    pub const OPW_C3: &str = "twinloom:opw:c3";
    pub const OPW_C4: &str = "twinloom:opw:c4";
    pub const OPW_OFFSETS: &str = "twinloom:opw:offsets";
    pub const OPW_SIGN_CORRECTIONS: &str = "twinloom:opw:signCorrections";
    pub const JOINT_LOWER_LIMITS: &str = "twinloom:joints:lowerLimits";
    pub const JOINT_UPPER_LIMITS: &str = "twinloom:joints:upperLimits";
    pub const BASE_FRAME: &str = "twinloom:baseFrame";
    pub const TOOL_FRAME: &str = "twinloom:toolFrame";
    pub const JOINT_POSITIONS: &str = "twinloom:joints:positions";
    pub const JOINT_VELOCITIES: &str = "twinloom:joints:velocities";
    pub const PROGRAM: &str = "twinloom:program";
    // Conveyor, buffer.
    pub const SPEED: &str = "twinloom:speed";
    pub const LENGTH: &str = "twinloom:length";
    pub const CAPACITY: &str = "twinloom:capacity";
    pub const OCCUPANCY: &str = "twinloom:occupancy";
    // Paint booth, oven zone.
    pub const TEMPERATURE_SETPOINT: &str = "twinloom:temperatureSetpoint";
    pub const TEMPERATURE: &str = "twinloom:temperature";
    pub const HUMIDITY_SETPOINT: &str = "twinloom:humiditySetpoint";
    pub const HUMIDITY: &str = "twinloom:humidity";
    pub const DOWNDRAFT_VELOCITY: &str = "twinloom:downdraftVelocity";
    pub const POWER: &str = "twinloom:power";
    pub const ENERGY: &str = "twinloom:energy";
    pub const ZONE_INDEX: &str = "twinloom:zoneIndex";
    pub const DWELL_TIME: &str = "twinloom:dwellTime";
    // Sensor.
    pub const QUANTITY: &str = "twinloom:quantity";
    pub const VALUE: &str = "twinloom:value";
    pub const UNIT: &str = "twinloom:unit";
    pub const RANGE_MIN: &str = "twinloom:rangeMin";
    pub const RANGE_MAX: &str = "twinloom:rangeMax";
    // Work in process (a car in work, from the MES).
    pub const WIP_VIN: &str = "twinloom:wip:vin";
    pub const WIP_ORDER_ID: &str = "twinloom:wip:orderId";
    pub const WIP_MODEL: &str = "twinloom:wip:model";
    pub const WIP_VARIANT: &str = "twinloom:wip:variant";
    pub const WIP_OPTIONS: &str = "twinloom:wip:options";
    pub const WIP_SEQUENCE: &str = "twinloom:wip:sequence";
    pub const WIP_RELEASED_AT_MS: &str = "twinloom:wip:releasedAtMs";
    pub const WIP_ENTERED_AT_MS: &str = "twinloom:wip:enteredAtMs";
    pub const WIP_LAST_EVENT_AT_MS: &str = "twinloom:wip:lastEventAtMs";
    pub const WIP_LAST_OPERATION: &str = "twinloom:wip:lastOperation";
    pub const WIP_LAST_RESULT: &str = "twinloom:wip:lastResult";
    /// Relationship: the station prim the car is in now.
    pub const WIP_STATION: &str = "twinloom:wip:station";
    // Material actual (one part or lot of a car's genealogy).
    pub const MATERIAL_PART_NUMBER: &str = "twinloom:material:partNumber";
    pub const MATERIAL_LOT: &str = "twinloom:material:lot";
    pub const MATERIAL_SERIAL: &str = "twinloom:material:serial";
    pub const MATERIAL_QUANTITY: &str = "twinloom:material:quantity";
    pub const MATERIAL_UNIT: &str = "twinloom:material:unit";
    pub const MATERIAL_EQUIPMENT_ID: &str = "twinloom:material:equipmentId";
    pub const MATERIAL_AT_MS: &str = "twinloom:material:atMs";
    /// Relationship: the station prim where the part was built in.
    pub const MATERIAL_STATION: &str = "twinloom:material:station";
}

/// Allowed token values, one module per token attribute.
pub mod value {
    /// `twinloom:isa95Level` (ISA-95 / IEC 62264 role-based equipment hierarchy).
    pub mod isa95_level {
        pub const ENTERPRISE: &str = "enterprise";
        pub const SITE: &str = "site";
        pub const AREA: &str = "area";
        pub const WORK_CENTER: &str = "workCenter";
        pub const WORK_UNIT: &str = "workUnit";
        pub const EQUIPMENT_MODULE: &str = "equipmentModule";
        pub const CONTROL_MODULE: &str = "controlModule";
        pub const ALL: &[&str] = &[ENTERPRISE, SITE, AREA, WORK_CENTER, WORK_UNIT, EQUIPMENT_MODULE, CONTROL_MODULE];
    }

    /// `twinloom:shop` of an area.
    pub mod shop {
        pub const ALL: &[&str] = &["press", "bodyInWhite", "paint", "assembly", "powertrain", "logistics", "other"];
    }

    /// `twinloom:state` of a station.
    pub mod station_state {
        pub const UNKNOWN: &str = "unknown";
        pub const OFF: &str = "off";
        pub const IDLE: &str = "idle";
        pub const WORKING: &str = "working";
        pub const BLOCKED: &str = "blocked";
        pub const STARVED: &str = "starved";
        pub const FAULT: &str = "fault";
        pub const MAINTENANCE: &str = "maintenance";
        pub const SETUP: &str = "setup";
        pub const ALL: &[&str] = &[UNKNOWN, OFF, IDLE, WORKING, BLOCKED, STARVED, FAULT, MAINTENANCE, SETUP];
    }

    /// `twinloom:state` of generic equipment.
    pub mod equipment_state {
        pub const ALL: &[&str] = &["unknown", "off", "idle", "running", "fault", "maintenance"];
    }

    /// `twinloom:state` of a robot controller.
    pub mod robot_state {
        pub const ALL: &[&str] = &["unknown", "off", "idle", "running", "fault", "emergencyStop", "manual"];
    }

    /// `twinloom:state` of a conveyor.
    pub mod conveyor_state {
        pub const ALL: &[&str] = &["unknown", "off", "stopped", "running", "fault"];
    }

    /// `twinloom:state` of a paint booth.
    pub mod paint_booth_state {
        pub const ALL: &[&str] = &["unknown", "off", "idle", "painting", "fault", "cleaning"];
    }

    /// `twinloom:quantity` of a sensor.
    pub mod quantity {
        pub const ALL: &[&str] = &[
            "temperature",
            "pressure",
            "humidity",
            "flow",
            "vibration",
            "current",
            "voltage",
            "power",
            "torque",
            "force",
            "distance",
            "speed",
            "presence",
            "count",
            "other",
        ];
    }

    /// `sourceKind` of a signal binding.
    pub mod source_kind {
        pub const UNKNOWN: &str = "unknown";
        pub const OPCUA: &str = "opcua";
        pub const MODBUS: &str = "modbus";
        pub const MQTT: &str = "mqtt";
        pub const SPARKPLUG: &str = "sparkplug";
        pub const MES: &str = "mes";
        pub const REPLAY: &str = "replay";
        pub const SIMULATOR: &str = "simulator";
        pub const MANUAL: &str = "manual";
        pub const ALL: &[&str] = &[UNKNOWN, OPCUA, MODBUS, MQTT, SPARKPLUG, MES, REPLAY, SIMULATOR, MANUAL];
    }

    /// `quality` of a signal binding (OPC UA status classes).
    pub mod quality {
        pub const GOOD: &str = "good";
        pub const UNCERTAIN: &str = "uncertain";
        pub const BAD: &str = "bad";
        pub const ALL: &[&str] = &[GOOD, UNCERTAIN, BAD];
    }
}
