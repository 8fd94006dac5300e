//! Writes the analysis as `results.usda`, a layer the root stage can sublayer: under
//! `<root>/Results/BIW/<station>` a scope per station with summary attributes, a scope per robot (counts,
//! reach, base shift) and a `Sphere` marker per clash (red) and near miss (amber) at the worst sample;
//! and an `over` on every checked weld point with `twinloom:reach:reachable` and `twinloom:reach:outsideMm`.

use std::path::Path;

use twinloom_biw::math::Vec3;
use twinloom_biw::study::EventKind;
use twinloom_usd::kit::{usd, ResultsLayer, StageError};
use twinloom_usd::{AttributeDef, UpAxis, Value, ValueType};

use crate::analysis::Analysis;

/// Marker radius for clashes and near misses (m).
pub const MARKER_RADIUS: f64 = 0.03;
const CLASH_COLOR: [f32; 3] = [0.9, 0.08, 0.08];
const NEAR_MISS_COLOR: [f32; 3] = [1.0, 0.7, 0.0];

fn mm(v: f64) -> f64 {
    if v.is_finite() {
        (v * 1e4).round() / 10.0
    } else {
        -1.0
    }
}

/// Writes `analysis` to `path` (atomically). Returns the number of markers written. Refuses when `path` is
/// a layer of the analysed stage.
pub fn write_results(analysis: &Analysis, path: &Path) -> Result<usize, StageError> {
    let creator = format!("twinloom-biw-stage {}", env!("CARGO_PKG_VERSION"));
    let mut w = ResultsLayer::create(path, &analysis.layers, &creator)?;
    let root = analysis.root_prim.clone();
    let root_name = root.trim_start_matches('/').to_string();
    w.layer().set_default_prim(&root_name).map_err(usd("defaultPrim"))?;
    w.layer().set_up_axis(UpAxis::Z).map_err(usd("upAxis"))?;
    w.layer().set_meters_per_unit(1.0).map_err(usd("metersPerUnit"))?;
    w.layer().set_kilograms_per_unit(1.0).map_err(usd("kilogramsPerUnit"))?;
    w.layer()
        .set_documentation(
            "Twinloom BIW study results: clash and near-miss markers, weld-point reach, summaries per station.",
        )
        .map_err(usd("documentation"))?;
    w.over(&root)?;
    let results = format!("{root}/Results");
    w.def(&results, "Scope")?;
    let biw = format!("{results}/BIW");
    w.def(&biw, "Scope")?;
    w.set_custom(&biw, "twinloom:biw:device", Value::String(analysis.device.clone()))?;
    w.set_custom(&biw, "twinloom:biw:nearMissMm", Value::Double(mm(analysis.near_miss)))?;
    w.set_custom(&biw, "twinloom:biw:clashes", Value::Int(analysis.clashes() as i32))?;
    w.set_custom(&biw, "twinloom:biw:nearMisses", Value::Int(analysis.near_misses() as i32))?;
    w.set_custom(&biw, "twinloom:biw:unreachablePoints", Value::Int(analysis.unreachable() as i32))?;
    let to_root = analysis.root_xform.inverse();
    let mut markers = 0;
    for st in &analysis.stations {
        let scope = format!("{biw}/{}", st.station.name);
        w.def(&scope, "Scope")?;
        w.set_custom(&scope, "twinloom:biw:station", Value::String(st.station.prim.clone()))?;
        w.set_custom(&scope, "twinloom:biw:clashes", Value::Int(st.clashes() as i32))?;
        w.set_custom(&scope, "twinloom:biw:nearMisses", Value::Int(st.near_misses() as i32))?;
        w.set_custom(&scope, "twinloom:biw:unreachablePoints", Value::Int(st.unreachable() as i32))?;
        w.set_custom(&scope, "twinloom:biw:minClearanceMm", Value::Double(mm(st.min_clearance())))?;
        w.set_custom(&scope, "twinloom:biw:maxDepthMm", Value::Double(mm(st.max_depth())))?;
        for p in &st.programs {
            let rs = format!("{scope}/{}", p.robot);
            w.def(&rs, "Scope")?;
            let summary = st.summaries.iter().find(|s| s.robot == p.robot);
            if let Some(robot) = st.robot(&p.robot) {
                w.set_custom(&rs, "twinloom:biw:robot", Value::String(robot.prim.clone()))?;
            }
            w.set_custom(&rs, "twinloom:biw:clashes", Value::Int(summary.map_or(0, |s| s.clashes) as i32))?;
            w.set_custom(&rs, "twinloom:biw:nearMisses", Value::Int(summary.map_or(0, |s| s.near_misses) as i32))?;
            w.set_custom(
                &rs,
                "twinloom:biw:minClearanceMm",
                Value::Double(summary.map_or(-1.0, |s| mm(s.min_clearance))),
            )?;
            w.set_custom(&rs, "twinloom:biw:maxDepthMm", Value::Double(summary.map_or(0.0, |s| mm(s.max_depth))))?;
            let unreachable = p.reach.iter().filter(|r| !r.reachable).count();
            w.set_custom(&rs, "twinloom:biw:unreachablePoints", Value::Int(unreachable as i32))?;
            if let (Some(s), Some(robot)) = (&p.base_shift, st.robot(&p.robot)) {
                w.set_custom(&rs, "twinloom:reach:baseShiftFound", Value::Bool(s.shift.is_some()))?;
                if let Some(v) = s.shift {
                    let world = robot.base.rot.mul_vec(v) * 1000.0;
                    w.set_custom(
                        &rs,
                        "twinloom:reach:baseShiftMm",
                        Value::Double3([world.x, world.y, world.z].map(|c| (c * 10.0).round() / 10.0)),
                    )?;
                }
            }
            for (r, prim) in p.reach.iter().zip(&p.weld_prims) {
                w.over(prim)?;
                w.set_custom(prim, "twinloom:reach:reachable", Value::Bool(r.reachable))?;
                w.set_custom(
                    prim,
                    "twinloom:reach:outsideMm",
                    Value::Double(if r.outside_mm.is_finite() { (r.outside_mm * 10.0).round() / 10.0 } else { -1.0 }),
                )?;
            }
        }
        for (k, e) in st.events.iter().enumerate() {
            let (prefix, color) = match e.kind {
                EventKind::Clash => ("Clash", CLASH_COLOR),
                EventKind::NearMiss => ("NearMiss", NEAR_MISS_COLOR),
            };
            let m = format!("{scope}/{prefix}{:03}", k + 1);
            marker(&mut w, &m, to_root.apply(e.point), color)?;
            w.set_custom(&m, "twinloom:biw:kind", Value::Token(prefix.to_lowercase()))?;
            w.set_custom(&m, "twinloom:biw:depthMm", Value::Double(mm(e.max_depth)))?;
            w.set_custom(&m, "twinloom:biw:clearanceMm", Value::Double(mm(e.min_distance)))?;
            w.set_custom(&m, "twinloom:biw:robot", Value::String(e.robot.clone()))?;
            w.set_custom(&m, "twinloom:biw:link", Value::String(e.link.clone()))?;
            w.set_custom(&m, "twinloom:biw:other", Value::String(e.other.clone()))?;
            w.set_custom(&m, "twinloom:biw:region", Value::String(e.region.clone()))?;
            w.set_custom(&m, "twinloom:biw:time", Value::Double(e.worst_time))?;
            w.set_custom(&m, "twinloom:biw:startTime", Value::Double(e.start_time))?;
            w.set_custom(&m, "twinloom:biw:endTime", Value::Double(e.end_time))?;
            w.set_custom(&m, "twinloom:biw:station", Value::String(st.station.prim.clone()))?;
            markers += 1;
        }
    }
    w.save()?;
    Ok(markers)
}

/// A coloured `Sphere` at `at` (in the root prim's frame).
fn marker(w: &mut ResultsLayer, path: &str, at: Vec3, color: [f32; 3]) -> Result<(), StageError> {
    w.def(path, "Sphere")?;
    w.set(path, "radius", Value::Double(MARKER_RADIUS))?;
    let r = MARKER_RADIUS as f32;
    w.set(path, "extent", Value::Float3Array(vec![[-r, -r, -r], [r, r, r]]))?;
    w.set(path, "xformOp:translate", Value::Double3([at.x, at.y, at.z]))?;
    w.layer()
        .set_attribute(
            path,
            &AttributeDef::new("xformOpOrder", ValueType::TokenArray).uniform(),
            &Value::TokenArray(vec!["xformOp:translate".into()]),
        )
        .map_err(usd(format!("{path}.xformOpOrder")))?;
    w.set(path, "primvars:displayColor", Value::Color3fArray(vec![color]))?;
    w.layer()
        .set_metadata(&format!("{path}.primvars:displayColor"), "interpolation", &Value::Token("constant".into()))
        .map_err(usd(format!("{path} displayColor interpolation")))
}
