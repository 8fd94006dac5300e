//! The demo's signal bindings: which simulator signal drives which attribute of layout.usda, so the plant
//! moves. Robot joint angles turn the links' rotate ops; station and booth states turn the state lamp's
//! five-coloured drum so the colour of the state faces up; process values fill the Twinloom schema
//! attributes (oven and booth temperatures, conveyor speeds, VINs and orders, cycle times).

use twinloom_usd::ValueType;
use twinloom_usd_schemas::attr;

use crate::plant::{self, assembly_stations, biw_stations, BOOTHS, OVEN_ZONES, PAINT, PAINT_CONVEYORS};

/// The state lamp's drum prim below a station or booth, and the attribute its state turns.
pub const STATE_DRUM: &str = "StateLamp/Drum";
pub const STATE_DRUM_OP: &str = "xformOp:rotateX";
/// Degrees the drum turns per state code (five faces).
pub const DEGREES_PER_STATE: f64 = 72.0;

/// One binding: a simulator signal and the USD attribute it drives (`value × scale + offset`).
#[derive(Debug, Clone, PartialEq)]
pub struct DemoBinding {
    /// The signal's browse path as the simulator names it (its node id is `nsu=<ns>;s=<path>`).
    pub signal: String,
    /// Absolute prim path in layout.usda.
    pub prim: String,
    /// Attribute name on that prim.
    pub attribute: String,
    /// The attribute's USD value type.
    pub value_type: ValueType,
    pub scale: f64,
    pub offset: f64,
    /// The source's engineering unit as the simulator serves it ("deg", "degC", "m/min", "" for none).
    pub unit: &'static str,
}

impl DemoBinding {
    /// `prim.attribute`
    pub fn attr_path(&self) -> String {
        format!("{}.{}", self.prim, self.attribute)
    }

    /// The OPC UA node id (expanded, with the simulator's namespace URI).
    pub fn node_id(&self) -> String {
        format!("nsu={};s={}", plant::NAMESPACE_URI, self.signal)
    }

    /// The shop (live layer) the binding writes to: the area below `/Plant` in lower case (`biw`,
    /// `paint`, `assembly`).
    pub fn shop(&self) -> String {
        self.prim.split('/').nth(2).unwrap_or_default().to_lowercase()
    }

    /// The source unit as a UCUM code, for the signal binding's `unit` field.
    pub fn ucum_unit(&self) -> &'static str {
        match self.unit {
            "degC" => "Cel",
            "%RH" => "%",
            "" => "1",
            other => other,
        }
    }
}

fn binding(
    signal: String,
    prim: String,
    attribute: &str,
    value_type: ValueType,
    scale: f64,
    offset: f64,
    unit: &'static str,
) -> DemoBinding {
    DemoBinding { signal, prim, attribute: attribute.to_string(), value_type, scale, offset, unit }
}

/// The prim path of link `j` (0-based) of a robot: links nest, `Base/Link1/Link2/…`.
pub fn link_prim(robot_prim: &str, j: usize) -> String {
    let mut p = format!("{robot_prim}/Base");
    for name in &crate::robot::LINK_NAMES[..=j] {
        p.push('/');
        p.push_str(name);
    }
    p
}

fn state_binding(signal_base: &str, prim: &str) -> DemoBinding {
    binding(
        format!("{signal_base}/State"),
        format!("{prim}/{STATE_DRUM}"),
        STATE_DRUM_OP,
        ValueType::Float,
        DEGREES_PER_STATE,
        0.0,
        "",
    )
}

/// Every binding of the demo, in a stable order: BIW (stations, robots), paint, assembly.
pub fn demo_bindings() -> Vec<DemoBinding> {
    let mut out = Vec::new();
    for st in biw_stations() {
        out.push(state_binding(&st.signal_base, &st.prim));
        out.push(binding(
            format!("{}/CycleTime", st.signal_base),
            st.prim.clone(),
            attr::CYCLE_TIME,
            ValueType::Double,
            1.0,
            0.0,
            "s",
        ));
        for r in &st.robots {
            let links = r.kind.links();
            for (j, link) in links.iter().enumerate() {
                out.push(binding(
                    format!("{}/J{}", r.signal_base, j + 1),
                    link_prim(&r.prim, j),
                    link.axis.rotate_op(),
                    ValueType::Float,
                    r.kind.signs[j] as f64,
                    -(r.kind.offsets_deg[j] as f64),
                    "deg",
                ));
            }
        }
    }
    for name in BOOTHS {
        let prim = plant::paint_prim("Booths", name);
        let base = format!("Plant/Paint/Booths/{name}");
        out.push(state_binding(&base, &prim));
        out.push(binding(
            format!("{base}/Temperature"),
            prim.clone(),
            attr::TEMPERATURE,
            ValueType::Double,
            1.0,
            0.0,
            "degC",
        ));
        out.push(binding(format!("{base}/Humidity"), prim.clone(), attr::HUMIDITY, ValueType::Double, 1.0, 0.0, "%RH"));
        out.push(binding(
            format!("{base}/DownDraft"),
            prim,
            attr::DOWNDRAFT_VELOCITY,
            ValueType::Double,
            1.0,
            0.0,
            "m/s",
        ));
    }
    for z in 1..=OVEN_ZONES.len() {
        let prim = format!("{PAINT}/Oven/Zone{z:02}");
        let base = format!("Plant/Paint/Oven/Zone{z:02}");
        out.push(binding(
            format!("{base}/Temperature"),
            prim.clone(),
            attr::TEMPERATURE,
            ValueType::Double,
            1.0,
            0.0,
            "degC",
        ));
        out.push(binding(
            format!("{base}/Setpoint"),
            prim,
            attr::TEMPERATURE_SETPOINT,
            ValueType::Double,
            1.0,
            0.0,
            "degC",
        ));
    }
    for name in PAINT_CONVEYORS {
        // The simulator serves m/min; the schema's speed is m/s.
        out.push(binding(
            format!("Plant/Paint/Conveyor/{name}/Speed"),
            plant::paint_prim("Conveyors", name),
            attr::SPEED,
            ValueType::Double,
            1.0 / 60.0,
            0.0,
            "m/min",
        ));
    }
    for st in assembly_stations() {
        out.push(state_binding(&st.signal_base, &st.prim));
        let signals = [
            ("CycleTime", attr::CYCLE_TIME, ValueType::Double, "s"),
            ("Vin", attr::CURRENT_VIN, ValueType::String, ""),
            ("Order", attr::CURRENT_ORDER, ValueType::String, ""),
        ];
        for (signal, attribute, value_type, unit) in signals {
            out.push(binding(
                format!("{}/{signal}", st.signal_base),
                st.prim.clone(),
                attribute,
                value_type,
                1.0,
                0.0,
                unit,
            ));
        }
    }
    out.push(binding(
        "Plant/Assembly/Line/Takt".into(),
        plant::ASSEMBLY_LINE.into(),
        attr::TAKT_TIME,
        ValueType::Double,
        1.0,
        0.0,
        "s",
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joint_bindings_apply_the_opw_sign_and_offset() {
        let b = demo_bindings();
        let j3 = b.iter().find(|b| b.signal == "Plant/BIW/Station01/R01/J3").unwrap();
        assert_eq!(j3.prim, "/Plant/BIW/Line/Station01/R01/Base/Link1/Link2/Link3");
        assert_eq!(j3.attribute, "xformOp:rotateY");
        assert_eq!((j3.scale, j3.offset), (-1.0, 90.0));
        assert_eq!(j3.node_id(), "nsu=urn:twinloom:plant-sim;s=Plant/BIW/Station01/R01/J3");
        assert_eq!(j3.shop(), "biw");
        let shops: std::collections::BTreeSet<String> = b.iter().map(DemoBinding::shop).collect();
        assert_eq!(shops.into_iter().collect::<Vec<_>>(), ["assembly", "biw", "paint"]);
        let paths: std::collections::HashSet<String> = b.iter().map(DemoBinding::attr_path).collect();
        assert_eq!(paths.len(), b.len(), "no attribute is driven twice");
        assert_eq!(b.iter().filter(|b| b.unit == "deg").count(), 12 * 6);
    }
}
