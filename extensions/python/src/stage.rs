//! The BIW study of a stage from plain data (`twinloom.biw.study_stage`): the Python stage reader
//! (`twinloom/biw.py`, with the caller's `pxr`) hands over each station's robots (OPW parameters in the
//! stage's units and degrees, base and tool frames, link meshes in their link frames), obstacle meshes with
//! their world poses and weld points (world pose, program index, assigned robot); this module builds the
//! same study input as `twinloom-biw-stage` (`extensions/biw-stage/src/{read,analysis}.rs`): the robots'
//! OPW models, each robot's weld program with reach verdicts and the base-shift suggestion (the USD-free
//! `twinloom_biw::weld_program`, which biw-stage's `program.rs` uses too), and runs `twinloom-biw`'s
//! collision study on the CPU, all with the interpreter released. The wheel cannot link
//! `twinloom-biw-stage` itself (it links the OpenUSD bridge); the parts of its reading that are not USD
//! (mesh triangulation, robot model checks, the tool orientation of a weld) are repeated here, and the
//! wheel's tests compare the outcome with `twinloom analyze biw --stage`.

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::sync::Arc;

use numpy::{PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{json, Value};
use twinloom_biw::distance::Collider;
use twinloom_biw::kinematics::{CatalogueEntry, Joints, OpwParams, RobotModel};
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::mesh::TriMesh;
use twinloom_biw::reach::{ReachSettings, WeldPoint};
use twinloom_biw::study::{
    run_study_with, EventKind, LinkGeometry, Obstacle, Station, StudyBackend, StudyRobot, StudySettings,
};
use twinloom_biw::weld_program::{build_weld_program, ProgramSettings, WeldProgram};
use twinloom_biw::BiwError;

use crate::biw::pose_arg;
use crate::convert::json_to_py;
use crate::{biw_err, invalid};

/// A robot as the reader gives it.
struct InRobot {
    prim: String,
    name: String,
    model: RobotModel,
    base: Iso3,
    links: Vec<LinkGeometry>,
    home: Joints,
}

/// A weld point: prim, id, program index, assigned robot prim, world tool pose (z = approach).
struct InWeld {
    prim: String,
    id: String,
    index: i64,
    robot: String,
    pose: Iso3,
}

struct InStation {
    prim: String,
    name: String,
    robots: Vec<InRobot>,
    obstacles: Vec<Obstacle>,
    welds: Vec<InWeld>,
}

fn item<'py>(d: &Bound<'py, PyAny>, key: &str, what: &str) -> PyResult<Bound<'py, PyAny>> {
    d.get_item(key).map_err(|_| invalid(format!("{what}: missing key '{key}'")))
}

fn text(d: &Bound<'_, PyAny>, key: &str, what: &str) -> PyResult<String> {
    item(d, key, what)?.extract().map_err(|_| invalid(format!("{what}: '{key}' must be a str")))
}

fn list<'py>(d: &Bound<'py, PyAny>, key: &str, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    item(d, key, what)?
        .try_iter()
        .map_err(|_| invalid(format!("{what}: '{key}' must be a sequence")))?
        .collect::<PyResult<Vec<_>>>()
}

/// An optional sequence of six numbers.
fn six(d: &Bound<'_, PyAny>, key: &str, what: &str, default: [f64; 6]) -> PyResult<[f64; 6]> {
    let v = item(d, key, what)?;
    if v.is_none() {
        return Ok(default);
    }
    let v: Vec<f64> = v.extract().map_err(|_| invalid(format!("{what}: '{key}' must be six numbers")))?;
    <[f64; 6]>::try_from(v.as_slice())
        .map_err(|_| invalid(format!("{what}: '{key}' must be six numbers, got {}", v.len())))
}

fn ints(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<i64>> {
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("ascontiguousarray", (obj, "int64")).map_err(|e| invalid(format!("{what}: {e}")))?;
    let arr = arr.cast::<numpy::PyArrayDyn<i64>>().map_err(|e| invalid(format!("{what}: {e}")))?;
    if arr.ndim() != 1 {
        return Err(invalid(format!("{what}: expected a 1-d integer array")));
    }
    let ro = arr.readonly();
    Ok(ro.as_slice().map_err(|e| invalid(format!("{what}: {e}")))?.to_vec())
}

/// A mesh from USD's `points`, `faceVertexCounts` and `faceVertexIndices` (polygons fan-triangulated), as
/// biw-stage's `geometry::mesh`.
fn mesh(d: &Bound<'_, PyAny>, what: &str) -> PyResult<TriMesh> {
    let points = crate::biw::f64_rows::<3>(&item(d, "points", what)?, &format!("{what} points"))?;
    let counts = ints(&item(d, "counts", what)?, &format!("{what} faceVertexCounts"))?;
    let indices = ints(&item(d, "indices", what)?, &format!("{what} faceVertexIndices"))?;
    let mut triangles = Vec::with_capacity(indices.len() / 3);
    let mut at = 0usize;
    for &n in &counts {
        let n = usize::try_from(n).map_err(|_| invalid(format!("{what}: negative face vertex count")))?;
        let face = indices
            .get(at..at + n)
            .ok_or_else(|| invalid(format!("{what}: faceVertexIndices shorter than faceVertexCounts says")))?;
        let idx = |k: usize| {
            u32::try_from(face[k])
                .ok()
                .filter(|&i| (i as usize) < points.len())
                .ok_or_else(|| invalid(format!("{what}: face vertex index {} out of range", face[k])))
        };
        for k in 1..n.saturating_sub(1) {
            triangles.push([idx(0)?, idx(k)?, idx(k + 1)?]);
        }
        at += n;
    }
    let vertices = points.iter().map(|p| Vec3::new(p[0], p[1], p[2])).collect();
    TriMesh::new(vertices, triangles).map_err(|e| invalid(format!("{what}: {e}")))
}

fn real(d: &Bound<'_, PyAny>, key: &str, what: &str) -> PyResult<f64> {
    let v = item(d, key, what)?;
    if v.is_none() {
        return Err(invalid(format!("{what}: robot without {key}")));
    }
    v.extract().map_err(|_| invalid(format!("{what}: '{key}' must be a number")))
}

fn read_robot(d: &Bound<'_, PyAny>) -> PyResult<InRobot> {
    let prim = text(d, "prim", "robot")?;
    let what = prim.as_str();
    let opw = item(d, "opw", what)?;
    let offsets = six(d, "offsets_deg", what, [0.0; 6])?;
    let signs = six(d, "signs", what, [1.0; 6])?;
    if signs.iter().any(|s| s.abs() != 1.0) {
        return Err(invalid(format!("{what}: twinloom:opw:signCorrections must be +1 or -1 per joint")));
    }
    let lower = six(d, "lower_deg", what, [-180.0; 6])?;
    let upper = six(d, "upper_deg", what, [180.0; 6])?;
    let params = OpwParams {
        a1: real(&opw, "twinloom:opw:a1", what)?,
        a2: real(&opw, "twinloom:opw:a2", what)?,
        b: real(&opw, "twinloom:opw:b", what)?,
        c1: real(&opw, "twinloom:opw:c1", what)?,
        c2: real(&opw, "twinloom:opw:c2", what)?,
        c3: real(&opw, "twinloom:opw:c3", what)?,
        c4: real(&opw, "twinloom:opw:c4", what)?,
        offsets: offsets.map(f64::to_radians),
        signs,
    };
    let mut limits = [(0.0, 0.0); 6];
    for j in 0..6 {
        if !(lower[j] < upper[j]) {
            return Err(invalid(format!("{what}: joint {} limits [{}, {}] are empty", j + 1, lower[j], upper[j])));
        }
        limits[j] = (lower[j].to_radians(), upper[j].to_radians());
    }
    let tool = pose_arg(Some(&item(d, "tool", what)?), &format!("{what} tool frame"))?;
    let designation = text(d, "model", what)?;
    let name = CatalogueEntry::by_designation(&designation).map_or_else(|| designation.clone(), |e| e.name.to_string());
    let model = RobotModel { name, params, limits, tool };
    let home = six(d, "home_deg", what, [0.0; 6])?.map(f64::to_radians);
    let base = pose_arg(Some(&item(d, "base", what)?), &format!("{what} base"))?;
    let mut links = Vec::new();
    for (i, l) in list(d, "links", what)?.iter().enumerate() {
        let lw = format!("{what} link mesh {i}");
        let link: usize = item(l, "link", &lw)?.extract().map_err(|_| invalid(format!("{lw}: 'link' must be 0..6")))?;
        if link > 6 {
            return Err(invalid(format!("{lw}: 'link' must be 0..6, got {link}")));
        }
        let m = mesh(l, &lw)?;
        if m.is_empty() {
            continue;
        }
        links.push(LinkGeometry {
            link,
            name: text(l, "name", &lw)?,
            collider: Arc::new(Collider::new(m)),
            offset: pose_arg(Some(&item(l, "offset", &lw)?), &format!("{lw} offset"))?,
        });
    }
    if links.is_empty() {
        return Err(invalid(format!(
            "{what}: robot without link meshes (expected Base/Link1/…/Link6 with Mesh prims)"
        )));
    }
    Ok(InRobot { name: text(d, "name", what)?, prim, model, base, links, home })
}

fn read_station(d: &Bound<'_, PyAny>) -> PyResult<InStation> {
    let prim = text(d, "prim", "station")?;
    let what = prim.clone();
    let robots = list(d, "robots", &what)?.iter().map(read_robot).collect::<PyResult<Vec<_>>>()?;
    let mut obstacles = Vec::new();
    for o in list(d, "obstacles", &what)? {
        let name = text(&o, "name", &what)?;
        let ow = format!("{what}/{name}");
        let m = mesh(&o, &ow)?;
        if m.is_empty() {
            continue;
        }
        obstacles.push(Obstacle {
            name,
            collider: Arc::new(Collider::new(m)),
            pose: pose_arg(Some(&item(&o, "pose", &ow)?), &format!("{ow} pose"))?,
            regions: Vec::new(),
        });
    }
    let mut welds = Vec::new();
    for w in list(d, "welds", &what)? {
        let wp = text(&w, "prim", &what)?;
        let a: Vec<f64> = item(&w, "approach", &wp)?
            .extract()
            .map_err(|_| invalid(format!("{wp}: 'approach' must be three numbers")))?;
        let a = match a.as_slice() {
            [x, y, z] => Vec3::new(*x, *y, *z),
            _ => return Err(invalid(format!("{wp}: 'approach' must be three numbers"))),
        };
        if !(a.norm() > 1e-9) {
            return Err(invalid(format!("{wp}: twinloom:weld:approach is a zero vector")));
        }
        let position: Vec<f64> = item(&w, "position", &wp)?
            .extract()
            .map_err(|_| invalid(format!("{wp}: 'position' must be three numbers")))?;
        let position = match position.as_slice() {
            [x, y, z] if x.is_finite() && y.is_finite() && z.is_finite() => Vec3::new(*x, *y, *z),
            _ => return Err(invalid(format!("{wp}: 'position' must be three finite numbers"))),
        };
        welds.push(InWeld {
            id: text(&w, "id", &wp)?,
            index: item(&w, "index", &wp)?.extract().map_err(|_| invalid(format!("{wp}: 'index' must be an int")))?,
            robot: text(&w, "robot", &wp)?,
            pose: Iso3::new(tool_rotation(a), position),
            prim: wp,
        });
    }
    welds.sort_by(|a, b| a.index.cmp(&b.index).then(a.id.cmp(&b.id)));
    Ok(InStation { name: text(d, "name", &what)?, prim, robots, obstacles, welds })
}

/// A tool orientation with +Z along `approach` (world frame); +X is the world's up direction made
/// perpendicular to it (biw-stage's `read::tool_rotation`).
fn tool_rotation(approach: Vec3) -> Mat3 {
    let z = approach.normalized();
    let up = if z.z.abs() < 0.9 { Vec3::Z } else { Vec3::X };
    let x = (up - z * up.dot(z)).normalized();
    Mat3::from_cols(x, z.cross(x), z)
}

/// A robot's weld program (`twinloom-biw`'s [`build_weld_program`], as biw-stage builds it) with the weld
/// prims parallel to its reach verdicts.
struct Program {
    inner: WeldProgram,
    weld_prims: Vec<String>,
}

fn build_program(robot: &InRobot, welds: &[&InWeld], reach: &ReachSettings) -> Result<Program, BiwError> {
    let points: Vec<WeldPoint> = welds.iter().map(|w| WeldPoint { id: w.id.clone(), pose: w.pose }).collect();
    let settings = ProgramSettings::default();
    let inner =
        build_weld_program(&robot.model, &robot.base, robot.home, &points, reach, &settings, &StudyBackend::Cpu)?;
    Ok(Program { inner, weld_prims: welds.iter().map(|w| w.prim.clone()).collect() })
}

/// Millimetres from metres at the CLI's rounding (0.1 mm), `null` when not finite.
fn mm(v: f64) -> Value {
    if v.is_finite() {
        json!((v * 1e4).round() / 10.0)
    } else {
        Value::Null
    }
}

/// Runs the study on the stations and returns the `twinloom analyze biw --json` shape (without timings,
/// device and results file) as Python dicts and lists.
fn study(stations: Vec<InStation>, near_miss: f64, reach: ReachSettings) -> Result<Value, BiwError> {
    let mut programs: Vec<Vec<Program>> = Vec::new();
    let mut input = Vec::new();
    for st in &stations {
        let progs: Vec<Program> = st
            .robots
            .iter()
            .map(|r| {
                let welds: Vec<&InWeld> = st.welds.iter().filter(|w| w.robot == r.prim).collect();
                build_program(r, &welds, &reach)
            })
            .collect::<Result<_, _>>()?;
        input.push(Station {
            name: st.name.clone(),
            robots: st
                .robots
                .iter()
                .zip(&progs)
                .map(|(r, p)| StudyRobot {
                    name: r.name.clone(),
                    model: r.model.clone(),
                    base: r.base,
                    links: r.links.clone(),
                    trajectory: p.inner.trajectory.clone(),
                })
                .collect(),
            obstacles: st.obstacles.clone(),
        });
        programs.push(progs);
    }
    let settings = StudySettings { near_miss_default: near_miss, ..StudySettings::default() };
    let report = run_study_with(&input, &settings, &StudyBackend::Cpu)?;
    let mut out = Vec::new();
    let (mut clashes, mut near_misses, mut unreachable) = (0, 0, 0);
    for (st, progs) in stations.iter().zip(&programs) {
        let events: Vec<_> = report.events.iter().filter(|e| e.station == st.name).collect();
        let summaries: Vec<_> = report.summaries.iter().filter(|s| s.station == st.name).collect();
        let st_clashes = events.iter().filter(|e| e.kind == EventKind::Clash).count();
        let st_near = events.iter().filter(|e| e.kind == EventKind::NearMiss).count();
        let st_unreach = progs.iter().flat_map(|p| &p.inner.reach).filter(|r| !r.reachable).count();
        clashes += st_clashes;
        near_misses += st_near;
        unreachable += st_unreach;
        let robots: Vec<Value> = st
            .robots
            .iter()
            .zip(progs)
            .map(|(r, p)| {
                let summary = summaries.iter().find(|s| s.robot == r.name);
                let points: Vec<Value> = p
                    .inner
                    .reach
                    .iter()
                    .zip(&p.weld_prims)
                    .map(|(v, prim)| {
                        json!({"id": v.id, "prim": prim, "reachable": v.reachable, "outside_mm": mm(v.outside_mm / 1000.0)})
                    })
                    .collect();
                let shift = p.inner.base_shift.map(|s| {
                    let world = s.shift.map(|v| r.base.rot.mul_vec(v));
                    json!({
                        "found": s.shift.is_some(),
                        "shift_mm": world.map(|w| json!([mm(w.x), mm(w.y), mm(w.z)])),
                        "norm_mm": s.shift.map(|v| mm(v.norm())),
                        "search_half_mm": mm(s.search_half.x),
                    })
                });
                json!({
                    "name": r.name,
                    "prim": r.prim,
                    "model": r.model.name,
                    "samples": p.inner.trajectory.samples.len(),
                    "welds_in_program": p.inner.weld_times.len(),
                    "clashes": summary.map(|s| s.clashes),
                    "near_misses": summary.map(|s| s.near_misses),
                    "min_clearance_mm": summary.map(|s| mm(s.min_clearance)),
                    "max_depth_mm": summary.map(|s| mm(s.max_depth)),
                    "points": points,
                    "base_shift": shift,
                    "skipped": p.inner.skipped.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let ev: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "kind": e.kind,
                    "robot": e.robot,
                    "link": e.link,
                    "other": e.other,
                    "region": e.region,
                    "start_s": e.start_time,
                    "end_s": e.end_time,
                    "worst_s": e.worst_time,
                    "depth_mm": mm(e.max_depth),
                    "clearance_mm": mm(e.min_distance),
                    "point_m": [e.point.x, e.point.y, e.point.z],
                })
            })
            .collect();
        let min_clearance = summaries.iter().map(|s| s.min_clearance).fold(f64::INFINITY, f64::min);
        let max_depth = summaries.iter().map(|s| s.max_depth).fold(0.0, f64::max);
        let unassigned: Vec<&str> =
            st.welds.iter().filter(|w| !st.robots.iter().any(|r| r.prim == w.robot)).map(|w| w.id.as_str()).collect();
        out.push(json!({
            "name": st.name,
            "prim": st.prim,
            "clashes": st_clashes,
            "near_misses": st_near,
            "unreachable_points": st_unreach,
            "min_clearance_mm": mm(min_clearance),
            "max_depth_mm": mm(max_depth),
            "unassigned_points": unassigned,
            "robots": robots,
            "events": ev,
        }));
    }
    Ok(json!({
        "device": "cpu",
        "near_miss_mm": mm(near_miss),
        "clashes": clashes,
        "near_misses": near_misses,
        "unreachable_points": unreachable,
        "stations": out,
    }))
}

/// The study of stations read by `twinloom.biw.read_stations` (plain dicts with numpy arrays); see
/// `twinloom.biw.study_stage`.
#[pyfunction]
#[pyo3(name = "_study_stations", signature = (stations, near_miss_mm=10.0, spin_tolerance_deg=30.0))]
fn study_stations<'py>(
    py: Python<'py>,
    stations: &Bound<'py, PyAny>,
    near_miss_mm: f64,
    spin_tolerance_deg: f64,
) -> PyResult<Bound<'py, PyAny>> {
    if !(near_miss_mm.is_finite() && near_miss_mm >= 0.0) {
        return Err(invalid(format!("near_miss_mm must be a finite number >= 0, got {near_miss_mm}")));
    }
    if !(spin_tolerance_deg.is_finite() && spin_tolerance_deg >= 0.0) {
        return Err(invalid(format!("spin_tolerance_deg must be a finite number >= 0, got {spin_tolerance_deg}")));
    }
    let input = stations
        .try_iter()
        .map_err(|_| invalid("stations: expected a sequence of station dicts"))?
        .map(|s| read_station(&s?))
        .collect::<PyResult<Vec<_>>>()?;
    if input.is_empty() {
        return Err(invalid("no BIW stations (prims with TwinloomStationAPI holding TwinloomRobotAPI robots)"));
    }
    let reach = ReachSettings { spin_tolerance: spin_tolerance_deg.to_radians(), spin_step: 1f64.to_radians() };
    let v = py.detach(|| study(input, near_miss_mm / 1000.0, reach)).map_err(biw_err)?;
    let d = json_to_py(py, &v)?;
    let _: &Bound<'py, PyDict> = d.cast()?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(study_stations, m)?)?;
    Ok(())
}
