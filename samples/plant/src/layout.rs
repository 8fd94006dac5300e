//! Writes the sample plant's layout.usda through `twinloom-usd`: stage metadata, the building, the BIW
//! line (fixtures, body-in-white shells with weld points, articulated OPW robots), the paint shop
//! (pretreatment tanks, booths, oven zones, conveyors) and the assembly line, with the Twinloom schemas
//! applied and every live attribute's `TwinloomSignalBindingAPI` filled from [`demo_bindings`].

use std::collections::BTreeMap;
use std::path::Path;

use twinloom_usd::{AttributeDef, Layer, Specifier, UpAxis, Value, ValueType};
use twinloom_usd_schemas::{attr, schema, signal, value, Schema};

use crate::bindings::{demo_bindings, DemoBinding, DEGREES_PER_STATE};
use crate::body::{body, BodyOptions, WeldPoint, LENGTH};
use crate::error::LayoutError;
use crate::mesh::{cuboid, cylinder_z, prism, regular_polygon, TriMesh};
use crate::plant::{self, state, BiwRobot, BOOTHS, OVEN_ZONES, PAINT_CONVEYORS, TANKS};
use crate::robot::{weld_gun_mesh, RobotType, TCP};

/// The joint values (deg, controller convention) the layout is posed in: the simulator's home position.
pub const HOME_DEG: [f32; 6] = [0.0, -30.0, 30.0, 0.0, 45.0, 0.0];
/// Height the body sits at on its fixture (m).
pub const BODY_Z: f32 = 0.45;
/// Weld points per BIW station.
pub const WELDS_PER_STATION: usize = 24;

/// Which body the BIW line builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Variant {
    /// The body in production.
    #[default]
    Current,
    /// The new variant: a taller B-pillar reinforcement on both sides (`Body/BPillarReinforcement`,
    /// standing 60 mm proud of the skin), and in station 1 weld point W001 moved onto the B-pillar under
    /// it and W002 moved to the rear quarter panel (x = 4.3 m along the body), beyond R01's reach.
    New,
}

/// Where the new variant's B-pillar reinforcement sits, in the body frame: x range, z range, and how far
/// it stands proud of the side skin (m).
pub const REINFORCEMENT_X: [f32; 2] = [2.58, 2.76];
pub const REINFORCEMENT_Z: [f32; 2] = [0.55, 1.15];
pub const REINFORCEMENT_PROUD: f32 = 0.06;

/// The new variant's reinforcement: one closed box per side, from inside the skin to
/// [`REINFORCEMENT_PROUD`] outside it.
pub fn b_pillar_reinforcement() -> TriMesh {
    let [x0, x1] = REINFORCEMENT_X;
    let [z0, z1] = REINFORCEMENT_Z;
    let (inner, outer) = (crate::body::HALF_WIDTH - 0.02, crate::body::HALF_WIDTH + REINFORCEMENT_PROUD);
    let mut m = cuboid([x0, inner, z0], [x1, outer, z1]);
    m.append(&cuboid([x0, -outer, z0], [x1, -inner, z1]));
    m
}

/// The new variant's moved weld points of station 1: (weld number, x along the body, angle around it).
pub const MOVED_WELDS: [(usize, f32, f32); 2] = [(1, 2.67, std::f32::consts::PI), (2, 4.3, 3.3)];

/// Counts of what was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutSummary {
    pub meshes: usize,
    pub triangles: usize,
    /// Triangles of one BIW body shell.
    pub body_triangles: usize,
    pub robots: usize,
    pub weld_points: usize,
    pub bindings: usize,
}

/// The two layers of the layout, in memory: `layout` (structure, schemas, transforms, bindings; it
/// sublayers `geometry`) and `geometry` (every mesh).
#[derive(Debug)]
pub struct Layout {
    pub layout: Layer,
    pub geometry: Layer,
    pub summary: LayoutSummary,
}

/// How a mesh's normals are authored: one per face corner (flat, for machined parts) or one per vertex
/// (smooth, for the body's sheet metal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shading {
    Flat,
    Smooth,
}

const STEEL: [f32; 3] = [0.62, 0.64, 0.66];
const CONCRETE: [f32; 3] = [0.55, 0.55, 0.52];
const WALL: [f32; 3] = [0.78, 0.8, 0.82];
const FIXTURE_BLUE: [f32; 3] = [0.15, 0.3, 0.55];
const CONVEYOR_GREY: [f32; 3] = [0.3, 0.3, 0.32];
const SAFETY_YELLOW: [f32; 3] = [0.95, 0.75, 0.1];
const DARK: [f32; 3] = [0.12, 0.12, 0.13];
const BOOTH_WHITE: [f32; 3] = [0.9, 0.92, 0.95];
const PAINTED: [f32; 3] = [0.55, 0.05, 0.08];

fn robot_color(kind: &RobotType) -> [f32; 3] {
    match kind.manufacturer {
        "FANUC" => [0.95, 0.8, 0.05],
        "KUKA" => [0.95, 0.45, 0.05],
        _ => [0.85, 0.35, 0.1],
    }
}

/// Authors into two layers: `layer` (layout.usda: structure, schemas, transforms, bindings) and `geom`
/// (the mesh data, a crate sublayer: large arrays in `.usda` make viewers slow, and
/// `omni_asset_validate` rejects them).
struct Writer {
    layer: Layer,
    geom: Layer,
    summary: LayoutSummary,
}

fn usd(what: impl Into<String>) -> impl FnOnce(twinloom_usd::UsdError) -> LayoutError {
    let what = what.into();
    move |source| LayoutError::Usd { what, source }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn face_normal(m: &TriMesh, t: &[u32; 3]) -> [f32; 3] {
    let [a, b, c] = t.map(|i| m.points[i as usize]);
    let (u, v) = (sub(b, a), sub(c, a));
    [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]
}

fn unit(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n > 0.0 {
        [v[0] / n, v[1] / n, v[2] / n]
    } else {
        [0.0, 0.0, 1.0]
    }
}

fn define(layer: &mut Layer, path: &str, type_name: &str, kind: Option<&str>) -> Result<(), LayoutError> {
    layer.define_prim(path, Specifier::Def, type_name).map_err(usd(path))?;
    if let Some(kind) = kind {
        layer.set_kind(path, kind).map_err(usd(format!("{path} kind")))?;
    }
    Ok(())
}

fn set(layer: &mut Layer, prim: &str, def: AttributeDef, value: Value) -> Result<(), LayoutError> {
    layer.set_attribute(prim, &def, &value).map_err(usd(format!("{prim}.{}", def.name)))
}

fn set_interpolation(layer: &mut Layer, attr_path: &str, interpolation: &str) -> Result<(), LayoutError> {
    layer
        .set_metadata(attr_path, "interpolation", &Value::Token(interpolation.into()))
        .map_err(usd(format!("{attr_path} interpolation")))
}

/// Flat normals (one per triangle corner, `faceVarying`) or smooth ones (area-weighted, `vertex`).
fn normals(m: &TriMesh, shading: Shading) -> (Vec<[f32; 3]>, &'static str) {
    match shading {
        Shading::Flat => (m.triangles.iter().flat_map(|t| [unit(face_normal(m, t)); 3]).collect(), "faceVarying"),
        Shading::Smooth => {
            let mut acc = vec![[0.0f32; 3]; m.points.len()];
            for t in &m.triangles {
                let n = face_normal(m, t);
                for &i in t {
                    for k in 0..3 {
                        acc[i as usize][k] += n[k];
                    }
                }
            }
            (acc.into_iter().map(unit).collect(), "vertex")
        }
    }
}

impl Writer {
    /// A prim of a standard type (`Xform`, `Scope`, …), or, given a Twinloom element API schema (e.g.
    /// `TwinloomRobotAPI`), a plant element: an `Xform` (placed and drawn the same by OpenUSD without the
    /// Twinloom plugin) with that API schema applied.
    fn prim(&mut self, path: &str, type_or_schema: &str, kind: Option<&str>) -> Result<(), LayoutError> {
        if !Schema::find(type_or_schema).is_some_and(Schema::is_element) {
            return define(&mut self.layer, path, type_or_schema, kind);
        }
        define(&mut self.layer, path, schema::PRIM_TYPE, kind)?;
        self.layer.set_api_schemas(path, &[type_or_schema]).map_err(usd(format!("{path} API schemas")))
    }

    fn attr(&mut self, prim: &str, name: &str, value: Value) -> Result<(), LayoutError> {
        set(&mut self.layer, prim, AttributeDef::new(name, value.value_type()), value)
    }

    fn uniform(&mut self, prim: &str, name: &str, value: Value) -> Result<(), LayoutError> {
        set(&mut self.layer, prim, AttributeDef::new(name, value.value_type()).uniform(), value)
    }

    fn custom(&mut self, prim: &str, name: &str, value: Value) -> Result<(), LayoutError> {
        set(&mut self.layer, prim, AttributeDef::new(name, value.value_type()).custom(), value)
    }

    /// Authors `xformOp:translate` followed by single-axis rotations (degrees) and the op order.
    fn xform(&mut self, prim: &str, translate: [f32; 3], rotations: &[(&str, f32)]) -> Result<(), LayoutError> {
        self.attr(prim, "xformOp:translate", Value::Double3(translate.map(f64::from)))?;
        let mut order = vec!["xformOp:translate".to_string()];
        for (op, deg) in rotations {
            self.attr(prim, op, Value::Float(*deg))?;
            order.push(op.to_string());
        }
        self.uniform(prim, "xformOpOrder", Value::TokenArray(order))
    }

    /// An `Xform` (a plant element, given its API schema, or a plain one) placed with translate and yaw.
    fn placed(
        &mut self,
        path: &str,
        type_or_schema: &str,
        kind: Option<&str>,
        at: [f32; 3],
        yaw_deg: f32,
    ) -> Result<(), LayoutError> {
        self.prim(path, type_or_schema, kind)?;
        if yaw_deg == 0.0 {
            self.xform(path, at, &[])
        } else {
            self.xform(path, at, &[("xformOp:rotateZ", yaw_deg)])
        }
    }

    /// A `Mesh` prim, in the geometry layer, with one display colour for the whole mesh.
    fn mesh(&mut self, path: &str, m: &TriMesh, colors: &[[f32; 3]], shading: Shading) -> Result<(), LayoutError> {
        self.mesh_indexed(path, m, colors, None, shading)
    }

    /// A `Mesh` prim in the geometry layer: points, triangles, extent, normals,
    /// `subdivisionScheme = "none"` and a display colour, constant or, with `face_colors`, indexed per
    /// triangle (`colors[face_colors[face]]`).
    fn mesh_indexed(
        &mut self,
        path: &str,
        m: &TriMesh,
        colors: &[[f32; 3]],
        face_colors: Option<Vec<i32>>,
        shading: Shading,
    ) -> Result<(), LayoutError> {
        let g = &mut self.geom;
        define(g, path, "Mesh", None)?;
        let (counts, indices) = m.usd_topology();
        let extent = m.extent().unwrap_or([[0.0; 3]; 2]);
        set(g, path, AttributeDef::new("points", ValueType::Point3fArray), Value::Point3fArray(m.points.clone()))?;
        set(g, path, AttributeDef::new("faceVertexCounts", ValueType::IntArray), Value::IntArray(counts))?;
        set(g, path, AttributeDef::new("faceVertexIndices", ValueType::IntArray), Value::IntArray(indices))?;
        set(g, path, AttributeDef::new("extent", ValueType::Float3Array), Value::Float3Array(extent.to_vec()))?;
        let (normals, interpolation) = normals(m, shading);
        set(g, path, AttributeDef::new("normals", ValueType::Normal3fArray), Value::Normal3fArray(normals))?;
        set_interpolation(g, &format!("{path}.normals"), interpolation)?;
        set(g, path, AttributeDef::new("subdivisionScheme", ValueType::Token).uniform(), Value::Token("none".into()))?;
        let color = AttributeDef::new("primvars:displayColor", ValueType::Color3fArray);
        set(g, path, color, Value::Color3fArray(colors.to_vec()))?;
        let color_interpolation = match face_colors {
            Some(indices) => {
                let def = AttributeDef::new("primvars:displayColor:indices", ValueType::IntArray);
                set(g, path, def, Value::IntArray(indices))?;
                "uniform"
            }
            None => "constant",
        };
        set_interpolation(g, &format!("{path}.primvars:displayColor"), color_interpolation)?;
        self.summary.meshes += 1;
        self.summary.triangles += m.triangles.len();
        Ok(())
    }

    /// Applies one `TwinloomSignalBindingAPI` instance per binding on each bound prim and fills it.
    fn signal_bindings(&mut self, bindings: &[DemoBinding]) -> Result<(), LayoutError> {
        let mut by_prim: BTreeMap<&str, Vec<&DemoBinding>> = BTreeMap::new();
        for b in bindings {
            by_prim.entry(b.prim.as_str()).or_default().push(b);
        }
        for (prim, list) in by_prim {
            // The element's own API schemas (if any) first, then one binding instance per bound attribute.
            let mut applied = self.layer.api_schemas(prim).map_err(usd(format!("{prim} apiSchemas")))?;
            applied.extend(list.iter().map(|b| signal::applied_schema(&signal::instance_name(&b.attribute))));
            self.layer.set_api_schemas(prim, &applied).map_err(usd(format!("{prim} apiSchemas")))?;
            for b in list {
                let inst = signal::instance_name(&b.attribute);
                let p = |field| signal::property(&inst, field);
                self.uniform(prim, &p(signal::field::ATTRIBUTE), Value::Token(b.attribute.clone()))?;
                self.uniform(prim, &p(signal::field::SOURCE_KIND), Value::Token(value::source_kind::OPCUA.into()))?;
                self.uniform(prim, &p(signal::field::ADDRESS), Value::String(b.node_id()))?;
                self.uniform(prim, &p(signal::field::UNIT), Value::String(b.ucum_unit().into()))?;
                self.uniform(prim, &p(signal::field::SCALE), Value::Double(b.scale))?;
                self.uniform(prim, &p(signal::field::OFFSET), Value::Double(b.offset))?;
                self.summary.bindings += 1;
            }
        }
        Ok(())
    }
}

/// A state lamp: a post with an open-top housing holding a five-sided drum; face `k` of the drum has
/// the colour of state code `k`, and turning the drum by `72° × state` about X brings that face up.
fn state_lamp(
    w: &mut Writer,
    path: &str,
    kind: Option<&str>,
    at: [f32; 3],
    initial_state: i32,
) -> Result<(), LayoutError> {
    const R: f32 = 0.2;
    const HALF: f32 = 0.45;
    const HEIGHT: f32 = 3.0;
    w.placed(path, "Xform", kind, at, 0.0)?;
    let mut post = cylinder_z(0.05, 0.0, HEIGHT - R, 12);
    post.append(&cuboid([-0.2, -0.2, 0.0], [0.2, 0.2, 0.04]));
    w.mesh(&format!("{path}/Post"), &post, &[SAFETY_YELLOW], Shading::Flat)?;
    // Housing: floor and four walls; the walls end just below the top face of the drum.
    let apothem = R * 36f32.to_radians().cos();
    let (hy, hx, top) = (R + 0.04, HALF + 0.04, HEIGHT + apothem - 0.01);
    let bottom = HEIGHT - R - 0.05;
    // The parts overlap a little instead of touching, so no two of them share a point (a mesh whose
    // points coincide is flagged by omni_asset_validate, and merging them would make it non-manifold).
    let mut housing = cuboid([-hx - 0.03, -hy - 0.03, bottom - 0.03], [hx + 0.03, hy + 0.03, bottom]);
    housing.append(&cuboid([-hx - 0.03, -hy - 0.03, bottom - 0.01], [hx + 0.03, -hy, top]));
    housing.append(&cuboid([-hx - 0.03, hy, bottom - 0.01], [hx + 0.03, hy + 0.03, top]));
    housing.append(&cuboid([-hx - 0.03, -hy - 0.015, bottom - 0.01], [-hx, hy + 0.015, top]));
    housing.append(&cuboid([hx, -hy - 0.015, bottom - 0.01], [hx + 0.03, hy + 0.015, top]));
    w.mesh(&format!("{path}/Housing"), &housing, &[DARK], Shading::Flat)?;
    // Drum along X: a pentagonal prism. Ring corner i at 54° + 72° i puts face i's normal at
    // 90° − 72° × state(i) with state(i) = (5 − i) mod 5.
    let mut drum = prism(&regular_polygon(5, R, 54f32.to_radians()), -HALF, HALF);
    for p in &mut drum.points {
        *p = [p[2], p[0], p[1]];
    }
    let mut colors: Vec<[f32; 3]> = state::COLORS.iter().map(|c| c.2).collect();
    colors.push(DARK);
    // Two triangles per side face, then the end caps in the dark colour.
    let mut faces: Vec<i32> = (0..5).flat_map(|i: i32| [(5 - i) % 5; 2]).collect();
    faces.resize(drum.triangles.len(), 5);
    let drum_path = format!("{path}/Drum");
    w.prim(&drum_path, "Xform", None)?;
    w.xform(&drum_path, [0.0, 0.0, HEIGHT], &[("xformOp:rotateX", initial_state as f32 * DEGREES_PER_STATE as f32)])?;
    w.mesh_indexed(&format!("{drum_path}/Faces"), &drum, &colors, Some(faces), Shading::Flat)
}

fn building(w: &mut Writer) -> Result<(), LayoutError> {
    let path = "/Plant/Building";
    w.prim(path, "Xform", Some("component"))?;
    let (x0, x1, y0, y1, h) = (0.0, 140.0, -40.0, 40.0, 12.0);
    w.mesh(&format!("{path}/Floor"), &cuboid([x0, y0, -0.3], [x1, y1, 0.0]), &[CONCRETE], Shading::Flat)?;
    let t = 0.3;
    let mut walls = cuboid([x0 - t, y0 - t, 0.0], [x1 + t, y0, h]);
    walls.append(&cuboid([x0 - t, y1, 0.0], [x1 + t, y1 + t, h]));
    // End walls reach into the side walls rather than touching them (no shared points).
    walls.append(&cuboid([x0 - t, y0 - t / 2.0, 0.0], [x0, y1 + t / 2.0, h]));
    walls.append(&cuboid([x1, y0 - t / 2.0, 0.0], [x1 + t, y1 + t / 2.0, h]));
    w.mesh(&format!("{path}/Walls"), &walls, &[WALL], Shading::Flat)?;
    let mut columns = TriMesh::default();
    for i in 1..7 {
        for y in [-12.5f32, 12.5] {
            let x = 20.0 * i as f32;
            columns.append(&cuboid([x - 0.25, y - 0.25, 0.0], [x + 0.25, y + 0.25, h]));
        }
    }
    w.mesh(&format!("{path}/Columns"), &columns, &[STEEL], Shading::Flat)
}

fn robot(w: &mut Writer, r: &BiwRobot) -> Result<(), LayoutError> {
    let k = r.kind;
    w.placed(&r.prim, schema::ROBOT, Some("component"), [r.position[0], r.position[1], 0.0], r.yaw_deg)?;
    w.uniform(&r.prim, attr::EQUIPMENT_ID, Value::String(r.name.clone()))?;
    w.uniform(&r.prim, attr::MANUFACTURER, Value::String(k.manufacturer.into()))?;
    w.uniform(&r.prim, attr::MODEL, Value::String(k.model.into()))?;
    for (name, v) in [
        (attr::OPW_A1, k.a1),
        (attr::OPW_A2, k.a2),
        (attr::OPW_B, k.b),
        (attr::OPW_C1, k.c1),
        (attr::OPW_C2, k.c2),
        (attr::OPW_C3, k.c3),
        (attr::OPW_C4, k.c4),
    ] {
        w.attr(&r.prim, name, Value::Double(v))?;
    }
    let doubles = |a: [f32; 6]| Value::DoubleArray(a.iter().map(|&x| x as f64).collect());
    w.uniform(&r.prim, attr::OPW_OFFSETS, doubles(k.offsets_deg))?;
    w.uniform(&r.prim, attr::OPW_SIGN_CORRECTIONS, Value::IntArray(k.signs.iter().map(|&s| s as i32).collect()))?;
    w.uniform(&r.prim, attr::JOINT_LOWER_LIMITS, doubles(k.lower_limits_deg))?;
    w.uniform(&r.prim, attr::JOINT_UPPER_LIMITS, doubles(k.upper_limits_deg))?;
    w.attr(&r.prim, attr::JOINT_POSITIONS, doubles(HOME_DEG))?;
    // The weld gun's tool centre point in the flange frame (row-vector convention: translation in row 3).
    let [tx, ty, tz] = TCP.map(f64::from);
    let tool_frame = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, tx, ty, tz, 1.0];
    w.attr(&r.prim, attr::TOOL_FRAME, Value::Matrix4d(tool_frame))?;
    let color = robot_color(k);
    let base = format!("{}/Base", r.prim);
    w.prim(&base, "Xform", None)?;
    w.mesh(&format!("{base}/Geom"), &k.base_mesh(), &[DARK], Shading::Flat)?;
    let mut parent = base;
    for (j, link) in k.links().iter().enumerate() {
        let path = format!("{parent}/{}", link.name);
        w.prim(&path, "Xform", None)?;
        w.xform(&path, link.translate, &[(link.axis.rotate_op(), k.model_angle(j, HOME_DEG[j]))])?;
        w.mesh(&format!("{path}/Geom"), &link.mesh, &[color], Shading::Flat)?;
        parent = path;
    }
    let tool = format!("{parent}/Tool");
    w.prim(&tool, "Xform", None)?;
    w.xform(&tool, k.flange(), &[])?;
    w.mesh(&format!("{tool}/Geom"), &weld_gun_mesh(), &[STEEL], Shading::Flat)?;
    w.summary.robots += 1;
    Ok(())
}

/// The rotation (w, x, y, z) turning +Z onto the unit vector `n`.
fn quat_z_to(n: [f32; 3]) -> [f32; 4] {
    if n[2] < -0.999_999 {
        return [0.0, 1.0, 0.0, 0.0];
    }
    let q = [1.0 + n[2], -n[1], n[0], 0.0];
    let len = q.iter().map(|c| c * c).sum::<f32>().sqrt();
    q.map(|c| c / len)
}

fn weld_points(
    w: &mut Writer,
    body_path: &str,
    welds: &[WeldPoint],
    station: &plant::BiwStation,
    variant: Variant,
) -> Result<(), LayoutError> {
    let scope = format!("{body_path}/WeldPoints");
    w.prim(&scope, "Scope", None)?;
    // Station s welds every 6th flange point starting at s, spread over the body.
    let picked: Vec<&WeldPoint> = welds.iter().skip(station.number - 1).step_by(plant::BIW_STATIONS).collect();
    let step = (picked.len() / WELDS_PER_STATION).max(1);
    for (n, &&p) in picked.iter().step_by(step).take(WELDS_PER_STATION).enumerate() {
        let moved = MOVED_WELDS.iter().find(|m| variant == Variant::New && station.number == 1 && m.0 == n + 1);
        let p = moved.map_or(p, |&(_, x, theta)| crate::body::skin_point(x, theta));
        let path = format!("{scope}/W{:03}", n + 1);
        w.prim(&path, "Xform", None)?;
        w.attr(&path, "xformOp:translate", Value::Double3(p.position.map(f64::from)))?;
        w.attr(&path, "xformOp:orient", Value::Quatf(quat_z_to(p.normal)))?;
        w.uniform(&path, "xformOpOrder", Value::TokenArray(vec!["xformOp:translate".into(), "xformOp:orient".into()]))?;
        w.custom(&path, "twinloom:weld:approach", Value::Vector3f(p.normal.map(|c| -c)))?;
        w.custom(&path, "twinloom:weld:index", Value::Int(n as i32 + 1))?;
        // The robot on the weld's side of the body (robots alternate −Y, +Y).
        let robot = &station.robots[if p.position[1] < 0.0 { 0 } else { station.robots.len() - 1 }];
        w.layer.define_relationship(&path, "twinloom:weld:robot", &[robot.prim.as_str()], true).map_err(usd(&path))?;
        w.summary.weld_points += 1;
    }
    Ok(())
}

fn biw(w: &mut Writer, biw_body: &crate::body::Body, variant: Variant) -> Result<(), LayoutError> {
    w.prim("/Plant/BIW", schema::AREA, Some("assembly"))?;
    w.uniform("/Plant/BIW", attr::SHOP, Value::Token("bodyInWhite".into()))?;
    w.prim(plant::BIW_LINE, schema::LINE, Some("assembly"))?;
    w.attr(plant::BIW_LINE, attr::TAKT_TIME, Value::Double(60.0))?;
    let stations = plant::biw_stations();
    let conveyor = format!("{}/Conveyor", plant::BIW_LINE);
    let (cx0, cx1) = (stations[0].center[0] - 6.0, stations[stations.len() - 1].center[0] + 6.0);
    w.placed(&conveyor, schema::CONVEYOR, Some("component"), [0.0, 0.0, 0.0], 0.0)?;
    w.uniform(&conveyor, attr::LENGTH, Value::Double((cx1 - cx0) as f64))?;
    let mut rails = TriMesh::default();
    for y in [-0.55f32, 0.45] {
        rails.append(&cuboid([cx0, y, 0.0], [cx1, y + 0.1, 0.25]));
    }
    w.mesh(&format!("{conveyor}/Geom"), &rails, &[CONVEYOR_GREY], Shading::Flat)?;
    for st in &stations {
        w.placed(&st.prim, schema::STATION, Some("assembly"), [st.center[0], st.center[1], 0.0], 0.0)?;
        w.attr(&st.prim, attr::CYCLE_TIME, Value::Double(0.0))?;
        w.attr(&st.prim, attr::TAKT_TIME, Value::Double(60.0))?;
        let fixture = format!("{}/Fixture", st.prim);
        w.placed(&fixture, schema::EQUIPMENT, Some("component"), [0.0; 3], 0.0)?;
        let mut frame = cuboid([-2.2, -0.75, 0.25], [2.2, 0.75, 0.35]);
        for (x, y) in
            [(-1.6, -0.6), (-1.6, 0.6), (1.4, -0.6), (1.4, 0.6), (-0.2, -0.7), (-0.2, 0.7), (0.6, -0.7), (0.6, 0.7)]
        {
            // Locating posts up to just under the floor pan (its underside is 0.25 m up the body), each
            // with a clamp head.
            frame.append(&cuboid([x - 0.05, y - 0.05, 0.35], [x + 0.05, y + 0.05, BODY_Z + 0.24]));
            frame.append(&cuboid([x - 0.07, y - 0.02, BODY_Z + 0.2], [x + 0.07, y + 0.02, BODY_Z + 0.245]));
        }
        w.mesh(&format!("{fixture}/Geom"), &frame, &[FIXTURE_BLUE], Shading::Flat)?;
        let body_path = format!("{}/Body", st.prim);
        w.placed(&body_path, "Xform", Some("component"), [-LENGTH / 2.0, 0.0, BODY_Z], 0.0)?;
        w.mesh(&format!("{body_path}/Shell"), &biw_body.mesh, &[STEEL], Shading::Smooth)?;
        if variant == Variant::New {
            w.mesh(&format!("{body_path}/BPillarReinforcement"), &b_pillar_reinforcement(), &[STEEL], Shading::Flat)?;
        }
        weld_points(w, &body_path, &biw_body.welds, st, variant)?;
        for r in &st.robots {
            robot(w, r)?;
        }
        state_lamp(w, &format!("{}/StateLamp", st.prim), Some("component"), [3.4, -3.4, 0.0], state::IDLE)?;
    }
    Ok(())
}

fn paint(w: &mut Writer) -> Result<(), LayoutError> {
    let y = plant::PAINT_Y;
    w.prim(plant::PAINT, schema::AREA, Some("assembly"))?;
    w.uniform(plant::PAINT, attr::SHOP, Value::Token("paint".into()))?;
    let pre = format!("{}/Pretreatment", plant::PAINT);
    w.prim(&pre, schema::LINE, Some("assembly"))?;
    for (k, name) in TANKS.iter().enumerate() {
        let path = plant::paint_prim("Pretreatment", name);
        w.placed(&path, schema::EQUIPMENT, Some("component"), [plant::tank_x(k), y, 0.0], 0.0)?;
        let tank = cuboid([-2.2, -1.8, 0.0], [2.2, 1.8, 2.4]);
        w.mesh(&format!("{path}/Geom"), &tank, &[[0.35, 0.5, 0.6]], Shading::Flat)?;
    }
    let booths = format!("{}/Booths", plant::PAINT);
    w.prim(&booths, schema::LINE, Some("assembly"))?;
    for (k, name) in BOOTHS.iter().enumerate() {
        let path = plant::paint_prim("Booths", name);
        w.placed(&path, schema::PAINT_BOOTH, Some("assembly"), [plant::booth_x(k), y, 0.0], 0.0)?;
        w.attr(&path, attr::TEMPERATURE_SETPOINT, Value::Double(23.0))?;
        w.attr(&path, attr::TEMPERATURE, Value::Double(23.0))?;
        w.attr(&path, attr::HUMIDITY_SETPOINT, Value::Double(65.0))?;
        w.attr(&path, attr::HUMIDITY, Value::Double(65.0))?;
        w.attr(&path, attr::DOWNDRAFT_VELOCITY, Value::Double(0.35))?;
        let cabin = format!("{path}/Cabin");
        w.prim(&cabin, "Xform", Some("component"))?;
        let mut shell = cuboid([-3.4, -2.6, 0.0], [3.4, -2.5, 4.5]);
        shell.append(&cuboid([-3.4, 2.5, 0.0], [3.4, 2.6, 4.5]));
        shell.append(&cuboid([-3.45, -2.6, 4.45], [3.45, 2.6, 4.8]));
        w.mesh(&format!("{cabin}/Geom"), &shell, &[BOOTH_WHITE], Shading::Flat)?;
        state_lamp(w, &format!("{path}/StateLamp"), Some("component"), [0.0, -3.4, 0.0], state::RUNNING)?;
    }
    let oven = format!("{}/Oven", plant::PAINT);
    w.prim(&oven, schema::LINE, Some("assembly"))?;
    for (k, sp) in OVEN_ZONES.iter().enumerate() {
        let path = format!("{oven}/Zone{:02}", k + 1);
        w.placed(&path, schema::OVEN_ZONE, Some("component"), [plant::oven_zone_x(k), y, 0.0], 0.0)?;
        w.uniform(&path, attr::ZONE_INDEX, Value::Int(k as i32 + 1))?;
        w.attr(&path, attr::TEMPERATURE_SETPOINT, Value::Double(*sp))?;
        w.attr(&path, attr::TEMPERATURE, Value::Double(*sp))?;
        // Hotter zones are drawn redder.
        let heat = ((*sp as f32 - 100.0) / 100.0).clamp(0.0, 1.0);
        let zone = cuboid([-2.45, -2.3, 0.0], [2.45, 2.3, 3.6]);
        w.mesh(
            &format!("{path}/Geom"),
            &zone,
            &[[0.6 + 0.35 * heat, 0.45 - 0.25 * heat, 0.3 - 0.2 * heat]],
            Shading::Flat,
        )?;
    }
    let conveyors = format!("{}/Conveyors", plant::PAINT);
    w.prim(&conveyors, "Scope", Some("group"))?;
    for (name, [x0, x1]) in PAINT_CONVEYORS.iter().zip(plant::PAINT_CONVEYOR_SPANS) {
        let path = plant::paint_prim("Conveyors", name);
        w.placed(&path, schema::CONVEYOR, Some("component"), [0.0, y, 0.0], 0.0)?;
        w.uniform(&path, attr::LENGTH, Value::Double((x1 - x0) as f64))?;
        w.attr(&path, attr::SPEED, Value::Double(0.0))?;
        let mut rails = cuboid([x0, -0.6, 0.0], [x1, -0.5, 0.5]);
        rails.append(&cuboid([x0, 0.5, 0.0], [x1, 0.6, 0.5]));
        w.mesh(&format!("{path}/Geom"), &rails, &[CONVEYOR_GREY], Shading::Flat)?;
    }
    Ok(())
}

fn assembly(w: &mut Writer, car: &TriMesh) -> Result<(), LayoutError> {
    w.prim("/Plant/Assembly", schema::AREA, Some("assembly"))?;
    w.uniform("/Plant/Assembly", attr::SHOP, Value::Token("assembly".into()))?;
    let line = plant::ASSEMBLY_LINE;
    w.prim(line, schema::LINE, Some("assembly"))?;
    w.attr(line, attr::TAKT_TIME, Value::Double(60.0))?;
    let stations = plant::assembly_stations();
    let conveyor = format!("{line}/Conveyor");
    let (x0, x1) = (stations[0].center[0] - 4.0, stations[stations.len() - 1].center[0] + 4.0);
    let y = plant::ASSEMBLY_ORIGIN[1];
    w.placed(&conveyor, schema::CONVEYOR, Some("component"), [0.0, y, 0.0], 0.0)?;
    w.uniform(&conveyor, attr::LENGTH, Value::Double((x1 - x0) as f64))?;
    w.mesh(&format!("{conveyor}/Geom"), &cuboid([x0, -1.2, 0.0], [x1, 1.2, 0.12]), &[CONVEYOR_GREY], Shading::Flat)?;
    for st in &stations {
        w.placed(&st.prim, schema::STATION, Some("assembly"), [st.center[0], st.center[1], 0.0], 0.0)?;
        w.attr(&st.prim, attr::CYCLE_TIME, Value::Double(0.0))?;
        w.attr(&st.prim, attr::TAKT_TIME, Value::Double(60.0))?;
        w.attr(&st.prim, attr::CURRENT_VIN, Value::String(String::new()))?;
        w.attr(&st.prim, attr::CURRENT_ORDER, Value::String(String::new()))?;
        let platform = format!("{}/Platform", st.prim);
        w.placed(&platform, schema::EQUIPMENT, Some("component"), [0.0; 3], 0.0)?;
        let mut deck = cuboid([-2.8, -1.1, 0.12], [2.8, 1.1, 0.3]);
        deck.append(&cuboid([-2.8, -2.2, 0.0], [2.8, -1.3, 0.05]));
        deck.append(&cuboid([-2.8, 1.3, 0.0], [2.8, 2.2, 0.05]));
        w.mesh(&format!("{platform}/Geom"), &deck, &[[0.4, 0.42, 0.45]], Shading::Flat)?;
        let car_path = format!("{}/Car", st.prim);
        w.placed(&car_path, "Xform", Some("component"), [-LENGTH / 2.0, 0.0, 0.05], 0.0)?;
        w.mesh(&format!("{car_path}/Shell"), car, &[PAINTED], Shading::Smooth)?;
        state_lamp(w, &format!("{}/StateLamp", st.prim), Some("component"), [3.1, -2.6, 0.0], state::IDLE)?;
    }
    Ok(())
}

/// Writes the whole layout into an anonymous layer (for tests and for [`write_layout`]).
pub fn build_layout(geometry_sublayer: &str) -> Result<Layout, LayoutError> {
    build_layout_variant(geometry_sublayer, Variant::Current)
}

/// Like [`build_layout`], with the BIW line building `variant`.
pub fn build_layout_variant(geometry_sublayer: &str, variant: Variant) -> Result<Layout, LayoutError> {
    let layer = Layer::create_anonymous("twinloom-plant-layout", "usda").map_err(usd("anonymous layer"))?;
    let geom = Layer::create_anonymous("twinloom-plant-geometry", "usdc").map_err(usd("anonymous layer"))?;
    let mut w = Writer { layer, geom, summary: LayoutSummary::default() };
    w.layer.set_sublayers(&[geometry_sublayer]).map_err(usd("subLayers"))?;
    w.layer.set_default_prim("Plant").map_err(usd("defaultPrim"))?;
    w.layer.set_up_axis(UpAxis::Z).map_err(usd("upAxis"))?;
    w.layer.set_meters_per_unit(1.0).map_err(usd("metersPerUnit"))?;
    w.layer.set_kilograms_per_unit(1.0).map_err(usd("kilogramsPerUnit"))?;
    w.layer
        .set_custom_layer_data(
            "creator",
            &Value::String(format!("twinloom-plant-layout {}", env!("CARGO_PKG_VERSION"))),
        )
        .map_err(usd("customLayerData"))?;
    w.layer
        .set_documentation("Twinloom sample plant layout: building, BIW line, paint shop, assembly line.")
        .map_err(usd("documentation"))?;
    w.prim(plant::PLANT, schema::SITE, Some("assembly"))?;
    w.uniform(plant::PLANT, attr::EQUIPMENT_ID, Value::String("SamplePlant".into()))?;
    building(&mut w)?;
    let biw_body = body(&BodyOptions::BIW);
    w.summary.body_triangles = biw_body.mesh.triangles.len();
    biw(&mut w, &biw_body, variant)?;
    paint(&mut w)?;
    assembly(&mut w, &body(&BodyOptions::PAINTED).mesh)?;
    w.signal_bindings(&demo_bindings())?;
    Ok(Layout { layout: w.layer, geometry: w.geom, summary: w.summary })
}

/// The file name of the geometry sublayer written next to `layout` (`layout.usda` → `layout_geometry.usdc`).
pub fn geometry_file_name(layout: &Path) -> String {
    let stem = layout.file_stem().and_then(|s| s.to_str()).unwrap_or("layout");
    format!("{stem}_geometry.usdc")
}

/// Writes the layout to `path` (a `.usda`) and its geometry sublayer next to it (see
/// [`geometry_file_name`]), each atomically, creating the folder if needed. Returns what was written.
pub fn write_layout(path: &Path) -> Result<LayoutSummary, LayoutError> {
    write_layout_variant(path, Variant::Current)
}

/// Like [`write_layout`], with the BIW line building `variant` (see [`Variant::New`]).
pub fn write_layout_variant(path: &Path, variant: Variant) -> Result<LayoutSummary, LayoutError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| LayoutError::Io { path: dir.display().to_string(), source })?;
    let geometry_name = geometry_file_name(path);
    let layout = build_layout_variant(&format!("./{geometry_name}"), variant)?;
    let geometry_path = dir.join(&geometry_name);
    layout.geometry.export_atomic(&geometry_path).map_err(usd(geometry_path.display().to_string()))?;
    layout.layout.export_atomic(path).map_err(usd(path.display().to_string()))?;
    Ok(layout.summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_counts_what_the_plant_has() {
        let layout = build_layout("./layout_geometry.usdc").unwrap();
        let s = &layout.summary;
        assert_eq!(s.robots, plant::BIW_STATIONS * plant::ROBOTS_PER_STATION);
        assert_eq!(s.weld_points, plant::BIW_STATIONS * WELDS_PER_STATION);
        assert_eq!(s.bindings, demo_bindings().len());
        assert!(s.body_triangles >= 50_000, "{}", s.body_triangles);
        assert!(s.triangles > plant::BIW_STATIONS * s.body_triangles);
        assert_eq!(layout.layout.sublayers(), vec!["./layout_geometry.usdc"]);
        // Meshes live in the geometry layer only; the layout layer holds their parents.
        let shell = "/Plant/BIW/Line/Station01/Body/Shell";
        assert_eq!(layout.geometry.prim(shell).unwrap().type_name, "Mesh");
        assert!(!layout.layout.has_spec(shell));
        let r01 = "/Plant/BIW/Line/Station01/R01";
        assert_eq!(layout.layout.prim(r01).unwrap().type_name, schema::PRIM_TYPE);
        assert_eq!(layout.layout.api_schemas(r01).unwrap(), [schema::ROBOT]);
    }

    #[test]
    fn new_variant_adds_the_reinforcement_and_moves_station_1_welds() {
        assert!(b_pillar_reinforcement().is_closed());
        let layout = build_layout_variant("./layout_geometry.usdc", Variant::New).unwrap();
        let station = "/Plant/BIW/Line/Station01";
        assert_eq!(layout.geometry.prim(&format!("{station}/Body/BPillarReinforcement")).unwrap().type_name, "Mesh");
        let w001 = layout.layout.default_value(&format!("{station}/Body/WeldPoints/W001.xformOp:translate")).unwrap();
        let Some(Value::Double3(p)) = w001 else { panic!("W001 translate {w001:?}") };
        // On the B-pillar (x 2.67 m along the body) on the -Y side, inside the reinforcement's span.
        assert!((p[0] - 2.67).abs() < 1e-4 && p[1] < -0.85, "{p:?}");
        assert!(p[2] > REINFORCEMENT_Z[0] as f64 && p[2] < REINFORCEMENT_Z[1] as f64, "{p:?}");
        let targets =
            layout.layout.relationship_targets(&format!("{station}/Body/WeldPoints/W002.twinloom:weld:robot")).unwrap();
        assert_eq!(targets, vec![format!("{station}/R01")]);
        // The current body has neither.
        let current = build_layout("./layout_geometry.usdc").unwrap();
        assert!(!current.geometry.has_spec(&format!("{station}/Body/BPillarReinforcement")));
    }

    #[test]
    fn quaternion_turns_z_onto_the_normal() {
        for n in [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.6, 0.0, 0.8]] {
            let [qw, qx, qy, qz] = quat_z_to(n);
            // Third column of the rotation matrix = R · (0, 0, 1).
            let z = [2.0 * (qx * qz + qw * qy), 2.0 * (qy * qz - qw * qx), 1.0 - 2.0 * (qx * qx + qy * qy)];
            for k in 0..3 {
                assert!((z[k] - n[k]).abs() < 1e-5, "{n:?} -> {z:?}");
            }
        }
    }
}
