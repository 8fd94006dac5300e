//! The BIW part of `twinloom recommend --stage` (docs/prescriptive.md, "Method" 6): runs the stage's
//! collision and reach study (`twinloom-biw-stage`), then, with the library, re-runs it for every fix:
//! the residual clearance of each base shift (the robot's program rebuilt from the shifted base and the
//! station's collision study re-run), and for each program segment with clashes the search for a
//! re-taught approach or a fixture shift with its residual clearance (`twinloom_biw_stage::fix`). The
//! findings go to `twinloom-prescriptive`, which words and ranks them; each fix's sibling layer
//! (`sibling-<id>.usda`: the plant with the shifted base, the re-taught weld's approach or the shifted
//! fixture, as `over`s) is written to the output folder, where `twinloom analyze biw --stage` re-runs it.

use std::path::Path;

use anyhow::{anyhow, Context};
use twinloom_biw::math::Vec3;
use twinloom_biw::study::{Event, StudyBackend};
use twinloom_biw_stage::fix::{self, Change, FixSearch};
use twinloom_biw_stage::geometry::world_xform;
use twinloom_biw_stage::{analyze_on, select_device, GpuMode, Options, StationResult};
use twinloom_prescriptive::biw::{
    base_shift_recommendations, clash_recommendations, ClashChange, ClashEpisode, ClashFinding, ClashFix, ReachFinding,
    ShiftResidual,
};
use twinloom_prescriptive::layer::{write_sibling, Override, Plant};
use twinloom_prescriptive::Recommendation;
use twinloom_usd::kit::Stage;
use twinloom_usd::Value;

const TRANSLATE: &str = "xformOp:translate";
const APPROACH: &str = "twinloom:weld:approach";

/// Millimetres rounded to 0.1 mm, as the study's report gives them.
fn mm(m: f64) -> f64 {
    (m * 1e4).round() / 10.0
}

/// The BIW recommendations of the stage `root`; with `out_dir` and `plant`, each fix's sibling layer is
/// written there and named in its recommendation.
pub fn recommendations(
    root: &Path,
    out_dir: Option<&Path>,
    plant: Option<&Plant>,
) -> anyhow::Result<Vec<Recommendation>> {
    let options = Options::default();
    let device = select_device(GpuMode::Auto).map_err(|e| anyhow!("BIW study of {}: {e:#}", root.display()))?;
    let backend = StudyBackend::for_device(&device);
    let analysis =
        analyze_on(root, &options, &device).map_err(|e| anyhow!("BIW study of {}: {e:#}", root.display()))?;
    let stack = Stage::open(root).with_context(|| root.display().to_string())?;
    let search = FixSearch::default();
    let max_tilt = search.tilts_deg.iter().copied().fold(0.0, f64::max);
    let siblings = out_dir.zip(plant).map(|(dir, plant)| Siblings { root, dir, plant, stack: &stack });
    let mut recs = Vec::new();
    for st in &analysis.stations {
        let study_err =
            |e: twinloom_biw_stage::Error| anyhow!("BIW study of {} at {}: {e:#}", root.display(), st.station.name);
        // Unreachable points: the base shift the study found, re-studied from the shifted base.
        let mut findings = Vec::new();
        let mut shifts = Vec::new();
        for p in &st.programs {
            let robot = st.robot(&p.robot);
            let unreachable: Vec<&twinloom_biw::reach::PointReach> = p.reach.iter().filter(|x| !x.reachable).collect();
            let shift = p.base_shift.as_ref();
            let world = shift.and_then(|s| s.shift).zip(robot).map(|(v, r)| r.base.rot.mul_vec(v));
            let residual = match world.filter(|_| !unreachable.is_empty()) {
                Some(w) => {
                    let r = fix::check_base_shift(st, &p.robot, w, &options, &backend).map_err(study_err)?;
                    shifts.push((p.robot.clone(), w));
                    Some(ShiftResidual {
                        clearance_mm: mm(r.robot_clearance),
                        clashes_before: r.clashes_before,
                        clashes_after: r.clashes_after,
                        new_clashes: r.new_clashes.iter().map(|e| episode(st, e)).collect(),
                    })
                }
                None => None,
            };
            findings.push(ReachFinding {
                station: st.station.name.clone(),
                robot: p.robot.clone(),
                robot_prim: robot.map_or_else(|| p.robot.clone(), |r| r.prim.clone()),
                points: p.reach.len(),
                unreachable: unreachable.iter().map(|x| x.id.clone()).collect(),
                worst_outside_mm: unreachable.iter().map(|x| x.outside_mm).filter(|v| v.is_finite()).reduce(f64::max),
                shift_mm: world.map(|w| [w.x * 1000.0, w.y * 1000.0, w.z * 1000.0]),
                search_half_mm: shift.map_or(0.0, |s| s.search_half.x * 1000.0),
                resolution_mm: shift.map_or(0.0, |s| s.resolution * 1000.0),
                residual,
            });
        }
        let mut reach_recs = base_shift_recommendations(&findings);
        for rec in reach_recs.iter_mut().filter(|r| r.kind == "base_shift") {
            let Some((robot, w)) = st
                .station
                .robots
                .iter()
                .find(|r| r.prim == rec.target)
                .and_then(|r| shifts.iter().find(|(name, _)| *name == r.name))
            else {
                continue;
            };
            let change = Change::BaseShift { robot: robot.clone(), shift: *w };
            if let Some(s) = &siblings {
                rec.sibling = s.write(st, &rec.id, &change, &format!("{robot}'s base shifted"))?;
            }
        }
        recs.extend(reach_recs);

        // Clashes: per program segment, the fix the search finds.
        let found = fix::find_clash_fixes(st, &options, &search, &backend).map_err(study_err)?;
        let clash_findings: Vec<ClashFinding> = found
            .iter()
            .map(|f| ClashFinding {
                station: st.station.name.clone(),
                robot: f.robot.clone(),
                robot_prim: st.robot(&f.robot).map_or_else(|| f.robot.clone(), |r| r.prim.clone()),
                from: f.segment.from.clone(),
                to: f.segment.to.clone(),
                start_s: f.segment.start,
                end_s: f.segment.end,
                clashes: f
                    .clashes
                    .iter()
                    .map(|c| ClashEpisode {
                        link: c.link.clone(),
                        other: c.other.clone(),
                        depth_mm: mm(c.max_depth),
                        worst_s: c.worst_time,
                    })
                    .collect(),
                fix: f.fix.as_ref().and_then(|x| {
                    Some(ClashFix {
                        change: clash_change(st, &x.change)?,
                        clearance_mm: mm(x.clearance),
                        window_s: [x.window.0, x.window.1],
                        robot_clearance_mm: mm(x.residual.robot_clearance),
                        clashes_after: x.residual.clashes_after,
                        new_clashes: x.residual.new_clashes.iter().map(|e| episode(st, e)).collect(),
                    })
                }),
                tried: f.tried,
                max_tilt_deg: max_tilt,
                near_miss_mm: mm(options.near_miss),
            })
            .collect();
        let mut clash_recs = clash_recommendations(&clash_findings);
        for (rec, f) in clash_recs.iter_mut().zip(&found) {
            if let (Some(s), Some(x)) = (&siblings, &f.fix) {
                let what = format!("{} re-taught for {} ({})", f.robot, f.segment.label(), rec.kind);
                rec.sibling = s.write(st, &rec.id, &x.change, &what)?;
            }
        }
        recs.extend(clash_recs);
    }
    Ok(recs)
}

/// A clash fix's change as the recommendation states it (a base shift is no clash fix: `None`).
fn clash_change(st: &StationResult, change: &Change) -> Option<ClashChange> {
    match change {
        Change::Approach { weld, approach, tilt_deg } => Some(ClashChange::Reteach {
            weld: weld.clone(),
            weld_prim: st.station.welds.iter().find(|w| w.id == *weld).map_or_else(|| weld.clone(), |w| w.prim.clone()),
            tilt_deg: *tilt_deg,
            approach: [approach.x, approach.y, approach.z],
        }),
        Change::Fixture { fixture, shift } => Some(ClashChange::FixtureShift {
            fixture_prim: format!("{}/{fixture}", st.station.prim),
            shift_mm: [shift.x * 1000.0, shift.y * 1000.0, shift.z * 1000.0],
        }),
        Change::BaseShift { .. } => None,
    }
}

/// A clash episode in words, with the segment it lies in.
fn episode(st: &StationResult, e: &Event) -> String {
    let seg = st
        .programs
        .iter()
        .find(|p| p.robot == e.robot)
        .and_then(|p| fix::segment_at(p, e.worst_time))
        .map_or_else(String::new, |s| format!(" in {}", s.label()));
    format!("{} {} into {}{seg} at t={:.1} s", e.robot, e.link, e.other, e.worst_time)
}

/// Where and against what the sibling layers are written.
struct Siblings<'a> {
    root: &'a Path,
    dir: &'a Path,
    plant: &'a Plant,
    stack: &'a Stage,
}

impl Siblings<'_> {
    /// The `over`s that make the plant as `change` would: a robot's or fixture's `xformOp:translate` moved
    /// (in its parent's frame), a weld's `twinloom:weld:approach` (authored in its parent's frame).
    /// `None` when the prim's transform has no leading translate op to move.
    fn overrides(&self, st: &StationResult, change: &Change) -> anyhow::Result<Option<Vec<Override>>> {
        let parent_rot = |prim: &str| -> anyhow::Result<twinloom_biw::math::Mat3> {
            let parent = prim.rsplit_once('/').map_or("/", |(p, _)| p);
            Ok(world_xform(self.stack, parent).with_context(|| format!("the transform of {parent}"))?.rot)
        };
        let moved = |prim: &str, shift: Vec3| -> anyhow::Result<Option<Override>> {
            let order = self.stack.tokens(prim, "xformOpOrder")?.unwrap_or_default();
            if order.first().map(String::as_str) != Some(TRANSLATE) {
                return Ok(None);
            }
            let t = match self.stack.value(prim, TRANSLATE)? {
                Some(Value::Double3(t)) => t,
                Some(Value::Float3(t)) => t.map(f64::from),
                _ => return Ok(None),
            };
            let d = parent_rot(prim)?.tmul_vec(shift);
            Ok(Some(Override {
                prim: prim.to_string(),
                attribute: TRANSLATE.into(),
                value: Value::Double3([t[0] + d.x, t[1] + d.y, t[2] + d.z]),
            }))
        };
        Ok(match change {
            Change::BaseShift { robot, shift } => match st.robot(robot) {
                Some(r) => moved(&r.prim, *shift)?.map(|o| vec![o]),
                None => None,
            },
            Change::Fixture { fixture, shift } => {
                moved(&format!("{}/{fixture}", st.station.prim), *shift)?.map(|o| vec![o])
            }
            Change::Approach { weld, approach, .. } => match st.station.welds.iter().find(|w| w.id == *weld) {
                Some(w) => {
                    let a = parent_rot(&w.prim)?.tmul_vec(*approach);
                    Some(vec![Override {
                        prim: w.prim.clone(),
                        attribute: APPROACH.into(),
                        value: Value::Vector3f([a.x as f32, a.y as f32, a.z as f32]),
                    }])
                }
                None => None,
            },
        })
    }

    /// Writes `sibling-<id>.usda` for `change`; its file name, or `None` when the change has no stage form.
    fn write(&self, st: &StationResult, id: &str, change: &Change, what: &str) -> anyhow::Result<Option<String>> {
        let Some(sets) = self.overrides(st, change)? else { return Ok(None) };
        let file = format!("sibling-{id}.usda");
        let root_abs = self.root.canonicalize().unwrap_or_else(|_| self.root.to_path_buf());
        let dir_abs = self.dir.canonicalize().unwrap_or_else(|_| self.dir.to_path_buf());
        let sub = match root_abs.strip_prefix(&dir_abs) {
            Ok(rel) => format!("./{}", rel.display()),
            Err(_) => root_abs.display().to_string(),
        };
        let doc = format!("Twinloom digital sibling {id}: {what} (docs/prescriptive.md).");
        write_sibling(&self.dir.join(&file), self.plant, &sub, &doc, &sets)
            .with_context(|| format!("sibling layer {file}"))?;
        Ok(Some(file))
    }
}
