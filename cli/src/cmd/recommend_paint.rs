//! Paint recommendations of `twinloom recommend` (docs/prescriptive.md "Paint"): the paint model of
//! `twinloom-flow` (docs/flow.md "Paint shop model") evaluates every setting `twinloom-prescriptive`'s
//! search asks for; the cheapest oven setpoint and conveyor speed inside every body variant's cure window
//! become recommendations.
//!
//! The model: `--paint-model FILE`'s `[paint]`, else `--model FILE`'s `[paint]`, else (with `--stage` and
//! oven zones on it) the sample plant's paint model built into the binary (samples/models/paint_shop.toml),
//! said in the notes. With a stage, the oven conveyor's measured `twinloom:speed` (m/s) replaces the
//! model's conveyor speed when it is above 0, and each sibling layer overrides the oven zones'
//! `twinloom:temperatureSetpoint` (all moved by the model setpoint's change) and the conveyor's
//! `twinloom:speed`.

use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Value as Json};
use twinloom_flow::paint::PaintModel;
use twinloom_prescriptive::layer::{write_sibling, Override, Plant};
use twinloom_prescriptive::paint::{self, BodyCure, Candidate, Evaluation, Search, Setting, Window};
use twinloom_prescriptive::{PrescriptiveError, Recommendation, Write};
use twinloom_usd::kit::Stage;
use twinloom_usd::stack::join;
use twinloom_usd::Value;
use twinloom_usd_schemas::{attr, schema};

use super::recommend::{Args, Failed};

/// The sample plant's paint model, used for a stage without `--paint-model`.
const SAMPLE_MODEL: &str = include_str!("../../../samples/models/paint_shop.toml");
const SAMPLE_NAME: &str = "samples/models/paint_shop.toml (built in)";

/// What the paint part found.
pub struct Outcome {
    pub recommendations: Vec<Recommendation>,
    /// Rejected levers (`id`, `rejected: <reason>`).
    pub failed: Vec<Failed>,
    /// The search for `--json` (`paint`): source, baseline, candidates with their settings, rejected.
    pub json: Json,
    /// One line for the text output: today's setting, energy and margins.
    pub summary: String,
}

/// The paint shop on a stage: oven zones with their setpoints and the oven conveyor.
struct StagePaint {
    /// Oven zone prims (`TwinloomOvenZoneAPI`) and their `twinloom:temperatureSetpoint`.
    zones: Vec<(String, Option<f64>)>,
    /// The oven conveyor prim (`TwinloomConveyorAPI`, name containing `Oven`) and its speed, m/s.
    conveyor: Option<(String, Option<f64>)>,
}

fn walk(stack: &Stage, path: &str, depth: usize, out: &mut StagePaint) -> anyhow::Result<()> {
    if stack.has_api(path, schema::OVEN_ZONE) {
        out.zones.push((path.to_string(), stack.real(path, attr::TEMPERATURE_SETPOINT)?));
        return Ok(());
    }
    if stack.has_api(path, schema::CONVEYOR) {
        let name = path.rsplit('/').next().unwrap_or_default().to_ascii_lowercase();
        if out.conveyor.is_none() && name.contains("oven") {
            out.conveyor = Some((path.to_string(), stack.real(path, attr::SPEED)?));
        }
        return Ok(());
    }
    if depth < 6 {
        for c in stack.children(path) {
            walk(stack, &join(path, &c), depth + 1, out)?;
        }
    }
    Ok(())
}

fn read_stage(stack: &Stage, plant: &Plant) -> anyhow::Result<StagePaint> {
    let mut out = StagePaint { zones: Vec::new(), conveyor: None };
    walk(stack, &format!("/{}", plant.default_prim()), 0, &mut out)?;
    out.zones.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn evaluate(model: &PaintModel, s: &Setting) -> Result<Evaluation, PrescriptiveError> {
    let mut m = model.clone();
    m.conveyor_m_min = s.conveyor_m_min;
    m.oven.setpoint_c = s.oven_setpoint_c;
    let r = m.evaluate().map_err(|e| PrescriptiveError::Model(e.to_string()))?;
    Ok(Evaluation {
        kwh_per_car: r.kwh_per_car,
        throughput_per_h: r.throughput_per_h,
        cure: r
            .cure
            .iter()
            .map(|c| BodyCure {
                body: c.body.clone(),
                time_at_temp_min: c.time_at_temp_min,
                peak_temp_c: c.peak_temp_c,
            })
            .collect(),
    })
}

/// The sublayer path of the plant's root as written into a layer in `dir`.
fn sublayer(root: &Path, dir: &Path) -> String {
    let root_abs = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let dir_abs = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    match root_abs.strip_prefix(&dir_abs) {
        Ok(rel) => format!("./{}", rel.display()),
        Err(_) => root_abs.display().to_string(),
    }
}

/// Where the paint model comes from; `None` when `--domain all` finds none (said in `notes`).
fn load_model(
    args: &Args,
    stage: Option<&StagePaint>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<(PaintModel, String)>> {
    let only = args.domain == "paint";
    if let Some(f) = &args.paint_model {
        let fm = twinloom_flow::scenario::read_model(f, None)?;
        let m = fm.paint.with_context(|| format!("--paint-model {}: no [paint] table", f.display()))?;
        return Ok(Some((m, f.display().to_string())));
    }
    if let Some(f) = &args.model {
        let fm = twinloom_flow::scenario::read_model(f, None)?;
        return match fm.paint {
            Some(m) => Ok(Some((m, f.display().to_string()))),
            None if only => {
                bail!("--domain paint: {} has no [paint] table (docs/flow.md \"Paint shop model\")", f.display())
            }
            None => {
                notes.push(format!("paint: {} has no [paint] table, no paint recommendations", f.display()));
                Ok(None)
            }
        };
    }
    match stage {
        Some(s) if !s.zones.is_empty() => {
            let fm = twinloom_flow::scenario::parse_model(SAMPLE_NAME, SAMPLE_MODEL, None)?;
            let m = fm.paint.context("the built-in sample paint model has no [paint] table")?;
            notes.push(format!(
                "paint: the stage holds no paint model parameters (bodies, cure window, booth, oven energy): the \
                 sample plant's paint model {SAMPLE_NAME} is used; give --paint-model FILE for another plant"
            ));
            Ok(Some((m, SAMPLE_NAME.to_string())))
        }
        _ if only => bail!("--domain paint: the stage has no oven zone (TwinloomOvenZoneAPI); give --paint-model FILE"),
        _ => {
            notes.push("paint: the stage has no oven zone (TwinloomOvenZoneAPI), no paint recommendations".into());
            Ok(None)
        }
    }
}

/// Paint recommendations as `args` asks; with a stage (`root`, its `plant` and the output folder), the
/// sibling layers; what was defaulted goes to `notes`. `None` when `--domain all` finds no paint model.
pub fn recommend(
    args: &Args,
    root: Option<&Path>,
    plant: Option<&Plant>,
    out_dir: Option<&Path>,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<Outcome>> {
    let stage = match (root, plant) {
        (Some(r), Some(p)) => {
            let stack = Stage::open(r).with_context(|| r.display().to_string())?;
            Some(read_stage(&stack, p)?)
        }
        _ => None,
    };
    let Some((model, source)) = load_model(args, stage.as_ref(), notes)? else {
        return Ok(None);
    };
    model.validate().with_context(|| format!("paint model {source}"))?;
    let mut today = Setting { conveyor_m_min: model.conveyor_m_min, oven_setpoint_c: model.oven.setpoint_c };
    if let Some(s) = &stage {
        match &s.conveyor {
            Some((p, Some(v))) if *v > 0.0 => {
                today.conveyor_m_min = v * 60.0;
                notes.push(format!("paint: conveyor speed {:.3} m/min from {p}.{} ({v} m/s)", v * 60.0, attr::SPEED));
            }
            Some((p, _)) => notes.push(format!(
                "paint: {p} has no measured {} above 0 (none until live values arrive): the model's {} m/min",
                attr::SPEED,
                model.conveyor_m_min
            )),
            None => notes.push(format!(
                "paint: no oven conveyor prim (TwinloomConveyorAPI named *Oven*): the model's {} m/min",
                model.conveyor_m_min
            )),
        }
        let zones: Vec<String> = s
            .zones
            .iter()
            .map(|(p, v)| format!("{}={}", p.rsplit('/').next().unwrap_or(p), v.map_or("?".into(), |x| x.to_string())))
            .collect();
        notes.push(format!(
            "paint: the model has one oven air temperature ({} °C); a change moves every oven zone setpoint by the \
             same amount ({})",
            model.oven.setpoint_c,
            zones.join(", ")
        ));
    }
    let window = Window {
        cure_temp_c: model.oven.cure_temp_c,
        cure_time_min: model.oven.cure_time_min,
        max_temp_c: model.oven.max_temp_c,
    };
    let options = paint::Options {
        min_time_margin_min: args.cure_margin_min,
        min_temp_margin_c: args.peak_margin_c,
        min_throughput_per_h: args.paint_min_rate,
        ..Default::default()
    };
    let search = paint::search(&model.name, today, &window, &options, |s| evaluate(&model, s))?;
    let mut recs = Vec::new();
    let mut failed = Vec::new();
    for c in &search.candidates {
        match one(&search, c, stage.as_ref(), root, plant, out_dir) {
            Ok(r) => recs.push(r),
            Err(e) => failed.push(Failed { id: c.id.clone(), error: format!("{e:#}") }),
        }
    }
    for r in &search.rejected {
        failed.push(Failed { id: r.id.clone(), error: format!("rejected: {}", r.reason) });
    }
    let b = &search.baseline;
    let summary = format!(
        "{}: {:.3} kWh/car at {:.2} m/min and {:.1} °C ({:.1} cars/h); cure margin {:+.2} min ({}), peak {:+.2} \
         °C ({})",
        model.name,
        b.eval.kwh_per_car,
        b.setting.conveyor_m_min,
        b.setting.oven_setpoint_c,
        b.eval.throughput_per_h,
        b.margin.time_min,
        b.margin.time_body,
        b.margin.temp_c,
        b.margin.temp_body
    );
    let json = json!({ "source": source, "search": &search });
    Ok(Some(Outcome { recommendations: recs, failed, json, summary }))
}

/// The recommendation of candidate `c`, with its sibling layer on a stage.
fn one(
    s: &Search,
    c: &Candidate,
    stage: Option<&StagePaint>,
    root: Option<&Path>,
    plant: Option<&Plant>,
    out_dir: Option<&Path>,
) -> anyhow::Result<Recommendation> {
    let b = &s.baseline.setting;
    let p = &c.point.setting;
    let delta = p.oven_setpoint_c - b.oven_setpoint_c;
    let speed_changed = p.conveyor_m_min != b.conveyor_m_min;
    let mut writes = Vec::new();
    let mut sets = Vec::new();
    let mut assumptions = Vec::new();
    let mut target = s.name.clone();
    let Some(st) = stage else {
        assumptions.push(
            "a model file has no prims to write: apply sets the oven and conveyor setpoints at the line control".into(),
        );
        return Ok(paint::recommendation(s, c, &target, None, writes, assumptions));
    };
    if delta != 0.0 {
        target = st.zones.first().and_then(|(z, _)| z.rsplit_once('/').map(|(o, _)| o.to_string())).unwrap_or(target);
        for (zone, cur) in &st.zones {
            let Some(cur) = cur else {
                bail!("{zone}: no {} to move by {delta:+} °C", attr::TEMPERATURE_SETPOINT);
            };
            let value = ((cur + delta) * 1e6).round() / 1e6;
            writes.push(Write {
                prim: zone.clone(),
                attribute: attr::TEMPERATURE_SETPOINT.into(),
                value: json!(value),
                current: Some(json!(cur)),
            });
            sets.push(Override {
                prim: zone.clone(),
                attribute: attr::TEMPERATURE_SETPOINT.into(),
                value: Value::Double(value),
            });
        }
        assumptions.push(format!(
            "every oven zone setpoint moves by {delta:+.1} °C, keeping the zones' profile; the model's single oven air \
             temperature stands for them"
        ));
    }
    if speed_changed {
        match &st.conveyor {
            Some((prim, _)) => {
                if delta == 0.0 {
                    target = prim.clone();
                }
                sets.push(Override {
                    prim: prim.clone(),
                    attribute: attr::SPEED.into(),
                    value: Value::Double(p.conveyor_m_min / 60.0),
                });
                assumptions.push(format!(
                    "{prim}.{} is the measured speed (m/s), not a setpoint: the sibling shows {:.4} m/s, and the \
                     conveyor's speed setpoint is set at the line control (no write)",
                    attr::SPEED,
                    p.conveyor_m_min / 60.0
                ));
            }
            None => assumptions
                .push("the stage has no oven conveyor prim: the speed is set at the line control (no write)".into()),
        }
    }
    let (Some(root), Some(plant), Some(dir)) = (root, plant, out_dir) else {
        return Ok(paint::recommendation(s, c, &target, None, writes, assumptions));
    };
    let file = format!("sibling-{}.usda", c.id);
    let doc = format!(
        "Twinloom digital sibling {}: paint shop at {:.2} m/min and oven {:.1} °C (docs/prescriptive.md).",
        c.id, p.conveyor_m_min, p.oven_setpoint_c
    );
    write_sibling(&dir.join(&file), plant, &sublayer(root, dir), &doc, &sets)?;
    Ok(paint::recommendation(s, c, &target, Some(file), writes, assumptions))
}
