//! Reads the BIW stations of a plant stage: every prim with `TwinloomStationAPI` applied holding prims with
//! `TwinloomRobotAPI`, with each robot's OPW model (from its `twinloom:opw:*`, joint-limit and tool-frame
//! attributes), base frame and link geometry (meshes under `Base/Link1/…/Link6/Tool`, in their link
//! frames), the station's other meshes (body, fixtures, …) in the world frame as obstacles, and its weld
//! points (position, approach direction, assigned robot).

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::sync::Arc;

use twinloom_biw::distance::Collider;
use twinloom_biw::kinematics::{CatalogueEntry, Joints, OpwParams, RobotModel};
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::study::{LinkGeometry, Obstacle};
use twinloom_usd::Value;
use twinloom_usd_schemas::{attr, schema};

use twinloom_usd::kit::{Stage, StageError};
use twinloom_usd::stack::join;

use crate::error::Error;
use crate::geometry::{self, matrix_to_iso};

fn invalid(prim: &str, message: impl Into<String>) -> StageError {
    StageError::invalid(prim, message)
}

/// A robot as the stage describes it.
#[derive(Clone, Debug)]
pub struct StageRobot {
    /// Prim path, e.g. `/Plant/BIW/Line/Station01/R01`.
    pub prim: String,
    /// Prim name, e.g. `R01`.
    pub name: String,
    pub model: RobotModel,
    /// World pose of the robot's base frame (joint 1 at its origin).
    pub base: Iso3,
    pub links: Vec<LinkGeometry>,
    /// Joint values the layout is posed in (radians), the start of the weld program.
    pub home: Joints,
}

/// A weld point: prim, name, program index, assigned robot and the tool pose in the world (z = approach).
#[derive(Clone, Debug)]
pub struct StageWeld {
    pub prim: String,
    pub id: String,
    pub index: i32,
    /// Prim path of the assigned robot (empty when none is assigned).
    pub robot: String,
    pub pose: Iso3,
}

/// A BIW station: its robots, obstacles (every other mesh of the station) and weld points.
#[derive(Clone, Debug)]
pub struct StageStation {
    pub prim: String,
    pub name: String,
    pub robots: Vec<StageRobot>,
    pub obstacles: Vec<Obstacle>,
    pub welds: Vec<StageWeld>,
}

const WELD_APPROACH: &str = "twinloom:weld:approach";
const WELD_INDEX: &str = "twinloom:weld:index";
const WELD_ROBOT: &str = "twinloom:weld:robot";

/// Every station with robots, in stage order.
pub fn read_stations(stack: &Stage) -> Result<Vec<StageStation>, Error> {
    let mut out = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        let children: Vec<String> = stack.children(&path).iter().map(|c| join(&path, c)).collect();
        if stack.has_api(&path, schema::STATION) && children.iter().any(|c| stack.has_api(c, schema::ROBOT)) {
            out.push(read_station(stack, &path, &children)?);
            continue;
        }
        todo.extend(children.into_iter().rev());
    }
    if out.is_empty() {
        return Err(Error::NoStations(stack.root().display().to_string()));
    }
    Ok(out)
}

fn read_station(stack: &Stage, prim: &str, children: &[String]) -> Result<StageStation, StageError> {
    let mut robots = Vec::new();
    let mut obstacles = Vec::new();
    let mut welds = Vec::new();
    for c in children {
        if stack.has_api(c, schema::ROBOT) {
            robots.push(read_robot(stack, c)?);
        } else {
            collect(stack, prim, c, &mut obstacles, &mut welds)?;
        }
    }
    welds.sort_by(|a: &StageWeld, b| a.index.cmp(&b.index).then(a.id.cmp(&b.id)));
    let name = prim.rsplit('/').next().unwrap_or(prim).to_string();
    Ok(StageStation { prim: prim.to_string(), name, robots, obstacles, welds })
}

/// Meshes (as obstacles named by their path below the station) and weld points below `path`.
fn collect(
    stack: &Stage,
    station: &str,
    path: &str,
    obstacles: &mut Vec<Obstacle>,
    welds: &mut Vec<StageWeld>,
) -> Result<(), StageError> {
    if stack.type_name(path) == "Mesh" {
        let mesh = geometry::mesh(stack, path)?;
        if !mesh.is_empty() {
            let name = path.strip_prefix(station).unwrap_or(path).trim_start_matches('/').to_string();
            obstacles.push(Obstacle {
                name,
                collider: Arc::new(Collider::new(mesh)),
                pose: geometry::world_xform(stack, path)?,
                regions: Vec::new(),
            });
        }
    }
    if let Some(approach) = stack.value(path, WELD_APPROACH)? {
        welds.push(read_weld(stack, path, &approach)?);
    }
    for c in stack.children(path) {
        collect(stack, station, &join(path, &c), obstacles, welds)?;
    }
    Ok(())
}

fn read_weld(stack: &Stage, path: &str, approach: &Value) -> Result<StageWeld, StageError> {
    let a = match approach {
        Value::Vector3f(v) | Value::Float3(v) => Vec3::new(v[0] as f64, v[1] as f64, v[2] as f64),
        Value::Double3(v) => Vec3::new(v[0], v[1], v[2]),
        other => return Err(StageError::wrong_type(path, WELD_APPROACH, "a vector3f", other)),
    };
    if !(a.norm() > 1e-9) {
        return Err(invalid(path, format!("{WELD_APPROACH} is a zero vector")));
    }
    let world = geometry::world_xform(stack, path)?;
    // The approach is authored in the weld's parent frame (like its translate).
    let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("/");
    let z = geometry::world_xform(stack, parent)?.rot.mul_vec(a).normalized();
    let index = match stack.value(path, WELD_INDEX)? {
        Some(Value::Int(i)) => i,
        _ => 0,
    };
    let robot = stack.targets(&format!("{path}.{WELD_ROBOT}")).into_iter().next().unwrap_or_default();
    let id = path.rsplit('/').next().unwrap_or(path).to_string();
    Ok(StageWeld { prim: path.to_string(), id, index, robot, pose: Iso3::new(tool_rotation(z), world.trans) })
}

/// A tool orientation with +Z along `approach`; +X is the world's up direction made perpendicular to it
/// (the layout does not fix the gun's roll; the reach check allows a spin about the approach axis).
pub fn tool_rotation(approach: Vec3) -> Mat3 {
    let z = approach.normalized();
    let up = if z.z.abs() < 0.9 { Vec3::Z } else { Vec3::X };
    let x = (up - z * up.dot(z)).normalized();
    Mat3::from_cols(x, z.cross(x), z)
}

/// The catalogue name of a model designation (the designation itself for a robot not in the catalogue).
fn model_name(model: &str) -> String {
    CatalogueEntry::by_designation(model).map_or_else(|| model.to_string(), |e| e.name.to_string())
}

fn read_robot(stack: &Stage, prim: &str) -> Result<StageRobot, StageError> {
    let need = |name: &str| -> Result<f64, StageError> {
        stack.real(prim, name)?.ok_or_else(|| invalid(prim, format!("robot without {name}")))
    };
    let six = |name: &str, default: [f64; 6]| -> Result<[f64; 6], StageError> {
        Ok(stack.reals_n(prim, name)?.unwrap_or(default))
    };
    let offsets = six(attr::OPW_OFFSETS, [0.0; 6])?;
    let signs = six(attr::OPW_SIGN_CORRECTIONS, [1.0; 6])?;
    if signs.iter().any(|s| s.abs() != 1.0) {
        return Err(invalid(prim, format!("{} must be +1 or -1 per joint", attr::OPW_SIGN_CORRECTIONS)));
    }
    let lower = six(attr::JOINT_LOWER_LIMITS, [-180.0; 6])?;
    let upper = six(attr::JOINT_UPPER_LIMITS, [180.0; 6])?;
    let params = OpwParams {
        a1: need(attr::OPW_A1)?,
        a2: need(attr::OPW_A2)?,
        b: need(attr::OPW_B)?,
        c1: need(attr::OPW_C1)?,
        c2: need(attr::OPW_C2)?,
        c3: need(attr::OPW_C3)?,
        c4: need(attr::OPW_C4)?,
        offsets: offsets.map(f64::to_radians),
        signs,
    };
    let mut limits = [(0.0, 0.0); 6];
    for j in 0..6 {
        if !(lower[j] < upper[j]) {
            return Err(invalid(prim, format!("joint {} limits [{}, {}] are empty", j + 1, lower[j], upper[j])));
        }
        limits[j] = (lower[j].to_radians(), upper[j].to_radians());
    }
    let frame = |name: &str| -> Result<Iso3, StageError> {
        match stack.value(prim, name)? {
            Some(Value::Matrix4d(m)) => matrix_to_iso(prim, name, &m),
            None => Ok(Iso3::IDENTITY),
            Some(other) => Err(StageError::wrong_type(prim, name, "a matrix4d", &other)),
        }
    };
    let (base_frame, tool) = (frame(attr::BASE_FRAME)?, frame(attr::TOOL_FRAME)?);
    let model_attr = match stack.value(prim, attr::MODEL)? {
        Some(Value::String(s)) | Some(Value::Token(s)) => s,
        _ => "opw robot".into(),
    };
    let model = RobotModel { name: model_name(&model_attr), params, limits, tool };
    let home = match stack.reals_n(prim, attr::JOINT_POSITIONS)? {
        Some(q) => q.map(f64::to_radians),
        None => [0.0; 6],
    };
    let base = geometry::world_xform(stack, prim)?.mul(&base_frame);
    let mut links = Vec::new();
    link_geometry(stack, prim, 0, base_frame.inverse(), &mut links)?;
    if links.is_empty() {
        return Err(invalid(prim, "robot without link meshes (expected Base/Link1/…/Link6 with Mesh prims)"));
    }
    let name = prim.rsplit('/').next().unwrap_or(prim).to_string();
    Ok(StageRobot { prim: prim.to_string(), name, model, base, links, home })
}

/// Meshes below `path`: a child named `Link1`…`Link6` starts that link's frame; anything else is placed
/// by its transform in the current link's frame.
fn link_geometry(
    stack: &Stage,
    path: &str,
    link: usize,
    offset: Iso3,
    out: &mut Vec<LinkGeometry>,
) -> Result<(), StageError> {
    for c in stack.children(path) {
        let child = join(path, &c);
        let (child_link, child_offset) = match c.strip_prefix("Link").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if (1..=6).contains(&n) => (n, Iso3::IDENTITY),
            _ => (link, offset.mul(&geometry::local_xform(stack, &child)?)),
        };
        if stack.type_name(&child) == "Mesh" {
            let mesh = geometry::mesh(stack, &child)?;
            if !mesh.is_empty() {
                // Name a `Geom` mesh after its parent (`Link3`, `Tool`, `Base`).
                let name = if c == "Geom" { path.rsplit('/').next().unwrap_or(&c).to_string() } else { c.clone() };
                out.push(LinkGeometry {
                    link: child_link,
                    name,
                    collider: Arc::new(Collider::new(mesh)),
                    offset: child_offset,
                });
            }
        }
        link_geometry(stack, &child, child_link, child_offset, out)?;
    }
    Ok(())
}
