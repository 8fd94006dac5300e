//! The sample plant's structure and placement: the same stations, robots, booths, oven zones and
//! conveyors as the OPC UA plant simulator (`samples/simulator`), with their prim paths and the
//! simulator's signal paths. A test checks every name against the simulator's own signal table.

use crate::robot::{RobotType, ABB_IRB2400, FANUC_R2000IC_165F};

/// The simulator's OPC UA namespace URI; node ids are `nsu=<this>;s=<signal path>`.
pub const NAMESPACE_URI: &str = "urn:twinloom:plant-sim";

/// BIW welding stations (simulator: `Plant/BIW/Station01..06`).
pub const BIW_STATIONS: usize = 6;
/// Robots per BIW station; robots are numbered across the line (`R01..R12`).
pub const ROBOTS_PER_STATION: usize = 2;
/// Assembly stations (simulator: `Plant/Assembly/Station01..12`).
pub const ASSEMBLY_STATIONS: usize = 12;
/// Pretreatment tanks (simulator: `Plant/Paint/Pretreatment/<name>`).
pub const TANKS: [&str; 6] = ["Degrease", "Rinse1", "Phosphate", "Rinse2", "Ecoat", "Rinse3"];
/// Spray booths (simulator: `Plant/Paint/Booths/<name>`).
pub const BOOTHS: [&str; 6] = ["Sealer", "Primer", "Base1", "Base2", "Clear1", "Clear2"];
/// Oven zones and their setpoints (°C) (simulator: `Plant/Paint/Oven/Zone01..06`).
pub const OVEN_ZONES: [f64; 6] = [140.0, 160.0, 175.0, 180.0, 170.0, 120.0];
/// Paint-shop conveyors (simulator: `Plant/Paint/Conveyor/<name>/Speed`, m/min).
pub const PAINT_CONVEYORS: [&str; 3] = ["Pretreatment", "Booths", "Oven"];

/// Station and robot state codes the simulator serves, and the colours the layout shows for them.
pub mod state {
    pub const IDLE: i32 = 0;
    pub const RUNNING: i32 = 1;
    /// Blocked (assembly), welding (robots).
    pub const BLOCKED: i32 = 2;
    pub const FAULTED: i32 = 3;
    pub const BREAK: i32 = 4;
    /// (code, name, linear RGB) for every state, in code order.
    pub const COLORS: [(i32, &str, [f32; 3]); 5] = [
        (IDLE, "idle", [1.0, 0.7, 0.0]),
        (RUNNING, "running", [0.1, 0.75, 0.2]),
        (BLOCKED, "blocked", [0.1, 0.35, 0.95]),
        (FAULTED, "faulted", [0.9, 0.08, 0.08]),
        (BREAK, "break", [0.8, 0.8, 0.8]),
    ];
}

/// Paths of the areas and lines.
pub const PLANT: &str = "/Plant";
pub const BIW_LINE: &str = "/Plant/BIW/Line";
pub const ASSEMBLY_LINE: &str = "/Plant/Assembly/Line";
pub const PAINT: &str = "/Plant/Paint";

/// Distance between BIW station centres along the line (m), and where station 1 is.
pub const BIW_PITCH: f32 = 8.0;
pub const BIW_ORIGIN: [f32; 2] = [14.0, 0.0];
/// Distance between assembly station centres (m), and where station 1 is.
pub const ASSEMBLY_PITCH: f32 = 7.0;
pub const ASSEMBLY_ORIGIN: [f32; 2] = [14.0, 25.0];
/// The paint shop's centre line (y, m).
pub const PAINT_Y: f32 = -25.0;

/// A BIW station: its number (1-based), prim path, simulator path and centre.
#[derive(Debug, Clone, PartialEq)]
pub struct BiwStation {
    pub number: usize,
    pub prim: String,
    pub signal_base: String,
    pub center: [f32; 2],
    pub robots: Vec<BiwRobot>,
}

/// A welding robot of a BIW station.
#[derive(Debug, Clone, PartialEq)]
pub struct BiwRobot {
    /// Line-wide number, 1-based (`R01`).
    pub number: usize,
    pub name: String,
    pub prim: String,
    pub signal_base: String,
    pub kind: &'static RobotType,
    /// Position of the base in the station frame (m) and its rotation about Z (deg).
    pub position: [f32; 2],
    pub yaw_deg: f32,
}

/// The robot type of a BIW station: large spot-welding FANUCs for the framing stations 1–3, ABB IRB 2400s
/// for the respot stations 4–6.
pub fn robot_type(station: usize) -> &'static RobotType {
    if station <= 3 {
        &FANUC_R2000IC_165F
    } else {
        &ABB_IRB2400
    }
}

/// The BIW line's stations with their robots.
pub fn biw_stations() -> Vec<BiwStation> {
    (1..=BIW_STATIONS)
        .map(|s| {
            let name = format!("Station{s:02}");
            let prim = format!("{BIW_LINE}/{name}");
            let signal_base = format!("Plant/BIW/{name}");
            let kind = robot_type(s);
            // Robots stand either side of the body, far enough that the arm reaches its middle.
            let side_distance = crate::body::HALF_WIDTH + 0.45 * kind.reach();
            let robots = (0..ROBOTS_PER_STATION)
                .map(|r| {
                    let number = (s - 1) * ROBOTS_PER_STATION + r + 1;
                    let rname = format!("R{number:02}");
                    let side = if r % 2 == 0 { -1.0 } else { 1.0 };
                    BiwRobot {
                        number,
                        prim: format!("{prim}/{rname}"),
                        signal_base: format!("{signal_base}/{rname}"),
                        name: rname,
                        kind,
                        position: [0.6 * side, side * side_distance],
                        // Face the body: the robot's +X points to the line's centre.
                        yaw_deg: if side < 0.0 { 90.0 } else { -90.0 },
                    }
                })
                .collect();
            BiwStation {
                number: s,
                prim,
                signal_base,
                center: [BIW_ORIGIN[0] + BIW_PITCH * (s - 1) as f32, BIW_ORIGIN[1]],
                robots,
            }
        })
        .collect()
}

/// An assembly station: number, prim path, simulator path, centre.
#[derive(Debug, Clone, PartialEq)]
pub struct AssemblyStation {
    pub number: usize,
    pub prim: String,
    pub signal_base: String,
    pub center: [f32; 2],
}

pub fn assembly_stations() -> Vec<AssemblyStation> {
    (1..=ASSEMBLY_STATIONS)
        .map(|s| AssemblyStation {
            number: s,
            prim: format!("{ASSEMBLY_LINE}/Station{s:02}"),
            signal_base: format!("Plant/Assembly/Station{s:02}"),
            center: [ASSEMBLY_ORIGIN[0] + ASSEMBLY_PITCH * (s - 1) as f32, ASSEMBLY_ORIGIN[1]],
        })
        .collect()
}

/// The prim path of paint-shop equipment in `group` (`Pretreatment`, `Booths`, `Conveyors`) named by the
/// simulator: the name becomes a valid USD prim name exactly as usd-exchange makes it (the simulator's
/// names are valid already, so they stay as they are).
pub fn paint_prim(group: &str, name: &str) -> String {
    format!("{PAINT}/{group}/{}", twinloom_usd_names::valid_prim_name(name))
}

/// Centre x of pretreatment tank `k` (0-based).
pub fn tank_x(k: usize) -> f32 {
    12.0 + 5.5 * k as f32
}

/// Centre x of paint booth `k` (0-based).
pub fn booth_x(k: usize) -> f32 {
    49.0 + 7.5 * k as f32
}

/// Centre x of oven zone `k` (0-based).
pub fn oven_zone_x(k: usize) -> f32 {
    97.5 + 5.0 * k as f32
}

/// Start and end x of each paint conveyor, in [`PAINT_CONVEYORS`] order.
pub const PAINT_CONVEYOR_SPANS: [[f32; 2]; 3] = [[8.0, 43.0], [44.0, 93.0], [94.0, 128.0]];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robots_are_numbered_across_the_line() {
        let st = biw_stations();
        assert_eq!(st.len(), 6);
        assert_eq!(st[0].robots[0].signal_base, "Plant/BIW/Station01/R01");
        assert_eq!(st[5].robots[1].prim, "/Plant/BIW/Line/Station06/R12");
        assert_eq!(st[3].robots[0].kind.model, "IRB 2400/10");
    }

    #[test]
    fn paint_names_are_kept() {
        assert_eq!(paint_prim("Booths", "Clear1"), "/Plant/Paint/Booths/Clear1");
        assert_eq!(paint_prim("Conveyors", "Oven"), "/Plant/Paint/Conveyors/Oven");
    }
}
