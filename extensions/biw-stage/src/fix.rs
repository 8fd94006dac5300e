//! Fixes for the study's findings, re-studied with the library (docs/prescriptive.md, "Method" 6): the
//! program segment each clash happens in (the motion from one weld to the next: retract, joint move,
//! approach), a re-teach of that segment's weld searched over tilts of its approach axis (each candidate
//! re-checked for reach, the robot's program rebuilt with it and the collision study re-run over the
//! motion it changes, with the plant study's sampling), a fixture shift when the clash is with a fixture
//! and no re-teach clears it, and the residual clearance after a base shift (the robot's program rebuilt
//! from the shifted base and the station's collision study re-run). Every number is a re-run of
//! `twinloom-biw`'s study; nothing is estimated.

use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::reach::{check_points_with, WeldPoint};
use twinloom_biw::study::{run_study_with, Event, EventKind, Station, StudyBackend, StudyReport, StudySettings};
use twinloom_biw::trajectory::{Sample, Trajectory};
use twinloom_biw::weld_program::program_from_verdicts;

use crate::analysis::{Options, StationResult};
use crate::error::Error;
use crate::program::{build_program, study_robot, RobotProgram};
use crate::read::{tool_rotation, StageStation, StageWeld};

/// Times closer than this are the same sample (s), as in the study.
const EPS: f64 = 1e-9;

/// A segment of a robot's weld program: the motion from one weld (or the home pose) to the next weld (or
/// the program's end): the retract from the first, the joint move and the approach into the second.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The weld it leaves (`None`: the home pose).
    pub from: Option<String>,
    /// The weld it goes to (`None`: the end of the program, after the last retract).
    pub to: Option<String>,
    /// Its time span (s): from the weld pose of `from` (or 0) to the weld pose of `to` (or the last sample).
    pub start: f64,
    pub end: f64,
}

impl Segment {
    /// `W001-W003`, `home-W001`, `W012-end`.
    pub fn label(&self) -> String {
        format!("{}-{}", self.from.as_deref().unwrap_or("home"), self.to.as_deref().unwrap_or("end"))
    }

    /// Whether time `t` lies in the segment (its start belongs to the segment before, except at 0).
    pub fn contains(&self, t: f64) -> bool {
        (t > self.start + EPS || (self.from.is_none() && t >= self.start - EPS)) && t <= self.end + EPS
    }
}

/// The program's segments in time order.
pub fn segments(program: &RobotProgram) -> Vec<Segment> {
    let end = program.trajectory.samples.last().map_or(0.0, |s| s.time);
    let mut out = Vec::new();
    let mut prev: Option<(String, f64)> = None;
    for (id, t) in &program.weld_times {
        out.push(Segment {
            from: prev.as_ref().map(|p| p.0.clone()),
            to: Some(id.clone()),
            start: prev.as_ref().map_or(0.0, |p| p.1),
            end: *t,
        });
        prev = Some((id.clone(), *t));
    }
    match prev {
        Some((id, t)) if end > t + EPS => out.push(Segment { from: Some(id), to: None, start: t, end }),
        None => out.push(Segment { from: None, to: None, start: 0.0, end }),
        _ => {}
    }
    out
}

/// The segment holding time `t`.
pub fn segment_at(program: &RobotProgram, t: f64) -> Option<Segment> {
    segments(program).into_iter().find(|s| s.contains(t))
}

/// One change to a station.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Re-teach: the weld's approach direction (world, unit vector) replaced, the weld point kept; the
    /// approach axis is tilted by `tilt_deg` from the taught one.
    Approach { weld: String, approach: Vec3, tilt_deg: f64 },
    /// The robot's base moved by `shift` (world axes, m).
    BaseShift { robot: String, shift: Vec3 },
    /// Every obstacle below `fixture` (a path below the station such as `Fixture`) moved by `shift`
    /// (world axes, m).
    Fixture { fixture: String, shift: Vec3 },
}

/// A station with a change applied: the stage station as changed and every robot's program (only the
/// robot the change concerns is rebuilt).
#[derive(Clone, Debug)]
pub struct Changed {
    pub station: StageStation,
    pub programs: Vec<RobotProgram>,
}

impl Changed {
    /// The collision study's input for the station.
    pub fn study_station(&self) -> Station {
        Station {
            name: self.station.name.clone(),
            robots: self.station.robots.iter().zip(&self.programs).map(|(r, p)| study_robot(r, p)).collect(),
            obstacles: self.station.obstacles.clone(),
        }
    }
}

fn welds_of<'a>(station: &'a StageStation, robot_prim: &str) -> Vec<&'a StageWeld> {
    station.welds.iter().filter(|w| w.robot == robot_prim).collect()
}

/// Applies `change` to the station as the plant study left it. An approach change re-checks that weld's
/// reach alone and rebuilds its robot's program with the other verdicts unchanged (reach is decided per
/// point); a base shift rebuilds the robot's program from the shifted base (reach of every point, and the
/// base-shift search if one is still out of reach); a fixture shift keeps every program.
pub fn apply(st: &StationResult, change: &Change, options: &Options, backend: &StudyBackend) -> Result<Changed, Error> {
    let mut station = st.station.clone();
    let mut programs = st.programs.clone();
    let unknown = |what: &'static str, name: &str| Error::NotInStation {
        station: st.station.prim.clone(),
        what,
        name: name.into(),
    };
    match change {
        Change::Approach { weld, approach, .. } => {
            let wi = station.welds.iter().position(|w| &w.id == weld).ok_or_else(|| unknown("weld", weld))?;
            let w = &mut station.welds[wi];
            w.pose = Iso3::new(tool_rotation(*approach), w.pose.trans);
            let robot_prim = w.robot.clone();
            let ri = station
                .robots
                .iter()
                .position(|r| r.prim == robot_prim)
                .ok_or_else(|| unknown("robot", &robot_prim))?;
            let robot = &station.robots[ri];
            let inv = robot.base.inverse();
            let points: Vec<WeldPoint> = welds_of(&station, &robot.prim)
                .iter()
                .map(|w| WeldPoint { id: w.id.clone(), pose: inv.mul(&w.pose) })
                .collect();
            let k = points.iter().position(|p| &p.id == weld).ok_or_else(|| unknown("weld", weld))?;
            let pi =
                programs.iter().position(|p| p.robot == robot.name).ok_or_else(|| unknown("program", &robot.name))?;
            let mut verdicts = programs[pi].reach.clone();
            let again = check_points_with(&robot.model, std::slice::from_ref(&points[k]), &options.reach, backend)?;
            if let (Some(v), Some(slot)) = (again.into_iter().next(), verdicts.get_mut(k)) {
                *slot = v;
            }
            let (trajectory, skipped, weld_times) =
                program_from_verdicts(&robot.model, robot.home, &points, &verdicts, &options.program);
            let p = &mut programs[pi];
            p.reach = verdicts;
            p.skipped = skipped;
            p.weld_times = weld_times;
            p.trajectory = trajectory;
            p.reach_s = 0.0;
        }
        Change::BaseShift { robot, shift } => {
            let ri = station.robots.iter().position(|r| &r.name == robot).ok_or_else(|| unknown("robot", robot))?;
            let r = &mut station.robots[ri];
            r.base = Iso3::new(r.base.rot, r.base.trans + *shift);
            let r = &station.robots[ri];
            let welds = welds_of(&station, &r.prim);
            let program = build_program(r, &welds, &options.reach, &options.program, backend)?;
            let pi = programs.iter().position(|p| &p.robot == robot).ok_or_else(|| unknown("program", robot))?;
            programs[pi] = program;
        }
        Change::Fixture { fixture, shift } => {
            let prefix = format!("{fixture}/");
            let mut moved = 0;
            for o in station.obstacles.iter_mut().filter(|o| o.name.starts_with(&prefix) || &o.name == fixture) {
                o.pose = Iso3::new(o.pose.rot, o.pose.trans + *shift);
                moved += 1;
            }
            if moved == 0 {
                return Err(unknown("fixture", fixture));
            }
        }
    }
    Ok(Changed { station, programs })
}

fn settings(options: &Options) -> StudySettings {
    StudySettings { near_miss_default: options.near_miss, ..StudySettings::default() }
}

/// The station restricted to the samples in `[start, end]`: every robot at the study's sample times in
/// the window (the union of the robots' sample times, as the study samples them), so a study of it sees
/// exactly the poses the whole study sees then.
pub fn window(station: &Station, start: f64, end: f64) -> Station {
    let mut times: Vec<f64> = station
        .robots
        .iter()
        .flat_map(|r| r.trajectory.samples.iter().map(|s| s.time))
        .filter(|t| *t >= start - EPS && *t <= end + EPS)
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times.dedup_by(|a, b| (*a - *b).abs() < EPS);
    let mut out = station.clone();
    for r in &mut out.robots {
        let samples =
            times.iter().filter_map(|&t| r.trajectory.joints_at(t).map(|joints| Sample { time: t, joints })).collect();
        r.trajectory = Trajectory { samples };
    }
    out
}

fn study(station: &Station, options: &Options, backend: &StudyBackend) -> Result<StudyReport, Error> {
    Ok(run_study_with(std::slice::from_ref(station), &settings(options), backend)?)
}

fn involves(e: &Event, robot: &str) -> bool {
    e.robot == robot || e.other == robot
}

/// A clash's identity across programs whose timing differs: the robot, the segment of its program it lies
/// in, the link, the other thing.
type ClashKey = (String, String, String, String);

fn clash_key(programs: &[RobotProgram], e: &Event) -> ClashKey {
    let seg = programs
        .iter()
        .find(|p| p.robot == e.robot)
        .and_then(|p| segment_at(p, e.worst_time))
        .map_or_else(|| format!("t={:.1}", e.worst_time), |s| s.label());
    (e.robot.clone(), seg, e.link.clone(), e.other.clone())
}

fn smallest_clearance(report: &StudyReport, robot: &str) -> f64 {
    report.summaries.iter().filter(|s| s.robot == robot).map(|s| s.min_clearance).fold(f64::INFINITY, f64::min)
}

/// The outcome of a change over the robot's whole program: what the study reports for the robot on the
/// sibling (the station with the change).
#[derive(Clone, Debug)]
pub struct Residual {
    /// The robot's smallest clearance to the body, the fixtures and the other robots over its whole
    /// program (m; 0 when it still clashes somewhere).
    pub robot_clearance: f64,
    /// The robot's clash episodes before and after the change.
    pub clashes_before: usize,
    pub clashes_after: usize,
    /// Clash episodes after the change that the plant's study did not have (same segment, link and other
    /// thing).
    pub new_clashes: Vec<Event>,
}

fn residual(st: &StationResult, changed: &Changed, robot: &str, report: &StudyReport) -> Residual {
    let before: Vec<_> = st
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Clash && involves(e, robot))
        .map(|e| clash_key(&st.programs, e))
        .collect();
    let after: Vec<&Event> =
        report.events.iter().filter(|e| e.kind == EventKind::Clash && involves(e, robot)).collect();
    Residual {
        robot_clearance: smallest_clearance(report, robot),
        clashes_before: before.len(),
        clashes_after: after.len(),
        new_clashes: after
            .into_iter()
            .filter(|e| !before.contains(&clash_key(&changed.programs, e)))
            .cloned()
            .collect(),
    }
}

/// The residual clearance after moving `robot`'s base by `shift` (world axes, m): its program rebuilt from
/// the shifted base and the station's collision study re-run, with the plant study's sampling.
pub fn check_base_shift(
    st: &StationResult,
    robot: &str,
    shift: Vec3,
    options: &Options,
    backend: &StudyBackend,
) -> Result<Residual, Error> {
    let changed = apply(st, &Change::BaseShift { robot: robot.to_string(), shift }, options, backend)?;
    let report = study(&changed.study_station(), options, backend)?;
    Ok(residual(st, &changed, robot, &report))
}

/// How the clash fixes are searched.
#[derive(Clone, Debug, PartialEq)]
pub struct FixSearch {
    /// Tilts of the approach axis tried, smallest first (degrees).
    pub tilts_deg: Vec<f64>,
    /// Directions of tilt per angle, evenly spread about the approach axis.
    pub directions: usize,
    /// Fixture shifts tried along each world axis, both ways, smallest first (m).
    pub fixture_shifts: Vec<f64>,
}

impl Default for FixSearch {
    fn default() -> Self {
        FixSearch { tilts_deg: vec![15.0, 30.0, 45.0], directions: 4, fixture_shifts: vec![0.05, 0.1, 0.2] }
    }
}

/// A fix found for a segment's clashes.
#[derive(Clone, Debug)]
pub struct Fix {
    pub change: Change,
    /// The robot's smallest clearance over the clashing segment after the change (m).
    pub clearance: f64,
    /// That motion's time span (s).
    pub window: (f64, f64),
    /// The change over the robot's whole program.
    pub residual: Residual,
}

/// The clashes of one program segment and the fix the search found.
#[derive(Clone, Debug)]
pub struct ClashFinding {
    pub robot: String,
    pub segment: Segment,
    /// The clash episodes (of this robot's links) whose worst sample lies in the segment.
    pub clashes: Vec<Event>,
    /// The deepest penetration among them (m).
    pub depth: f64,
    /// The change kept, `None` when no candidate cleared the clashes.
    pub fix: Option<Fix>,
    /// Candidates re-studied.
    pub tried: usize,
}

/// Tilted approach directions about `z`, `directions` per angle, smallest angle first.
fn tilts(pose: &Iso3, search: &FixSearch) -> Vec<(f64, Vec<Vec3>)> {
    let (x, y, z) = (pose.rot.cols[0], pose.rot.cols[1], pose.rot.cols[2]);
    let n = search.directions.max(1);
    search
        .tilts_deg
        .iter()
        .map(|&deg| {
            let dirs = (0..n)
                .map(|k| {
                    let a = std::f64::consts::TAU * k as f64 / n as f64;
                    let axis = x * a.cos() + y * a.sin();
                    Mat3::from_axis_angle(axis, deg.to_radians()).mul_vec(z).normalized()
                })
                .collect();
            (deg, dirs)
        })
        .collect()
}

/// The window of a segment's own samples: its start is the previous segment's last sample (except at 0).
fn span(s: &Segment) -> (f64, f64) {
    (if s.from.is_some() { s.start + 1e-6 } else { s.start }, s.end)
}

/// What a candidate showed over its window.
struct Tried {
    change: Change,
    changed: Changed,
    clearance: f64,
    window: (f64, f64),
}

/// For every clash episode of the station, the segment of its robot's program it lies in, grouped by
/// (robot, segment), and a fix: a re-teach of the segment's weld (its approach axis tilted, smallest tilt
/// first; kept when the segment is clash-free with a clearance of at least the near-miss threshold and the
/// other motion the tilt alters gains no clash, else the clash-free one with the largest clearance), then, when the clashes are
/// with a fixture and no re-teach reaches the threshold, a fixture shift (a clash-free one over the whole
/// station). A candidate must keep every weld of the program and add no clash the plant did not have.
pub fn find_clash_fixes(
    st: &StationResult,
    options: &Options,
    search: &FixSearch,
    backend: &StudyBackend,
) -> Result<Vec<ClashFinding>, Error> {
    let mut findings: Vec<ClashFinding> = Vec::new();
    for e in st.events.iter().filter(|e| e.kind == EventKind::Clash) {
        let Some(program) = st.programs.iter().find(|p| p.robot == e.robot) else { continue };
        let Some(segment) = segment_at(program, e.worst_time) else { continue };
        match findings.iter_mut().find(|f| f.robot == e.robot && f.segment == segment) {
            Some(f) => {
                f.depth = f.depth.max(e.max_depth);
                f.clashes.push(e.clone());
            }
            None => findings.push(ClashFinding {
                robot: e.robot.clone(),
                segment,
                clashes: vec![e.clone()],
                depth: e.max_depth,
                fix: None,
                tried: 0,
            }),
        }
    }
    let before_all: Vec<_> =
        st.events.iter().filter(|e| e.kind == EventKind::Clash).map(|e| clash_key(&st.programs, e)).collect();
    for f in &mut findings {
        search_fix(st, f, &before_all, options, search, backend)?;
    }
    Ok(findings)
}

fn search_fix(
    st: &StationResult,
    f: &mut ClashFinding,
    before_all: &[ClashKey],
    options: &Options,
    search: &FixSearch,
    backend: &StudyBackend,
) -> Result<(), Error> {
    let Some(program) = st.programs.iter().find(|p| p.robot == f.robot) else { return Ok(()) };
    let segs = segments(program);
    let label = f.segment.label();
    // The clashes the plant has besides this segment's: a candidate may keep those, not add any.
    let others: Vec<&ClashKey> = before_all.iter().filter(|k| !(k.0 == f.robot && k.1 == label)).collect();
    let acceptable = |changed: &Changed, report: &StudyReport| {
        report
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Clash)
            .all(|e| others.contains(&&clash_key(&changed.programs, e)))
    };
    let mut best: Option<Tried> = None;
    // 1. Re-teach: tilt the approach of the weld the segment goes to (or, at the program's end, leaves).
    if let Some(weld) = f.segment.to.clone().or(f.segment.from.clone()) {
        let into = segs.iter().find(|s| s.to.as_deref() == Some(weld.as_str()));
        let out = segs.iter().find(|s| s.from.as_deref() == Some(weld.as_str()));
        // The other motion the tilt alters (out of the weld when the segment goes into it, and the reverse).
        let other = if f.segment.to.as_deref() == Some(weld.as_str()) { out } else { into };
        let (start, end) = span(&f.segment);
        let Some(w) = st.station.welds.iter().find(|w| w.id == weld) else { return Ok(()) };
        for (deg, dirs) in tilts(&w.pose, search) {
            let mut at_angle: Option<Tried> = None;
            for approach in dirs {
                f.tried += 1;
                let change = Change::Approach { weld: weld.clone(), approach, tilt_deg: deg };
                let changed = apply(st, &change, options, backend)?;
                let p = changed.programs.iter().find(|p| p.robot == f.robot);
                if p.map(|p| p.weld_times.len()) != Some(program.weld_times.len()) {
                    continue; // the tilted weld (or a later one) dropped out of the program
                }
                let station = changed.study_station();
                let report = study(&window(&station, start, end), options, backend)?;
                if !acceptable(&changed, &report) {
                    continue;
                }
                let clearance = smallest_clearance(&report, &f.robot);
                if at_angle.as_ref().is_some_and(|b| clearance <= b.clearance) {
                    continue;
                }
                // The other motion may keep the plant's clashes, not gain one.
                if let Some(o) = other {
                    let (a, b) = span(o);
                    if !acceptable(&changed, &study(&window(&station, a, b), options, backend)?) {
                        continue;
                    }
                }
                at_angle = Some(Tried { change, changed, clearance, window: (start, end) });
            }
            if let Some(t) = at_angle {
                let done = t.clearance >= options.near_miss;
                if best.as_ref().is_none_or(|b| t.clearance > b.clearance) {
                    best = Some(t);
                }
                if done {
                    break;
                }
            }
        }
    }
    // 2. A fixture shift, when every clash of the segment is with a fixture.
    let fixture = f.clashes.iter().map(|c| c.other.split('/').next().unwrap_or("").to_string()).next();
    let all_fixture = fixture
        .as_deref()
        .is_some_and(|fx| fx.starts_with("Fixture") && f.clashes.iter().all(|c| c.other.split('/').next() == Some(fx)));
    if all_fixture && best.as_ref().is_none_or(|b| b.clearance < options.near_miss) {
        let fixture = fixture.unwrap_or_default();
        'shifts: for &d in &search.fixture_shifts {
            for axis in [Vec3::X, Vec3::Y, Vec3::Z] {
                for sign in [1.0, -1.0] {
                    f.tried += 1;
                    let change = Change::Fixture { fixture: fixture.clone(), shift: axis * (sign * d) };
                    let changed = apply(st, &change, options, backend)?;
                    let whole = study(&changed.study_station(), options, backend)?;
                    if !acceptable(&changed, &whole) {
                        continue;
                    }
                    let (a, b) = span(&f.segment);
                    let seg_report = study(&window(&changed.study_station(), a, b), options, backend)?;
                    let clearance = smallest_clearance(&seg_report, &f.robot);
                    if best.as_ref().is_none_or(|b| clearance > b.clearance) {
                        let done = clearance >= options.near_miss;
                        best = Some(Tried { change, changed, clearance, window: (a, b) });
                        if done {
                            break 'shifts;
                        }
                    }
                }
            }
        }
    }
    if let Some(t) = best {
        let report = study(&t.changed.study_station(), options, backend)?;
        let residual = residual(st, &t.changed, &f.robot, &report);
        f.fix = Some(Fix { change: t.change, clearance: t.clearance, window: t.window, residual });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(weld_times: &[(&str, f64)], end: f64) -> RobotProgram {
        let samples =
            (0..=(end * 10.0).round() as usize).map(|k| Sample { time: k as f64 * 0.1, joints: [0.0; 6] }).collect();
        RobotProgram {
            robot: "R01".into(),
            reach: Vec::new(),
            weld_prims: Vec::new(),
            base_shift: None,
            reach_s: 0.0,
            skipped: Vec::new(),
            weld_times: weld_times.iter().map(|(id, t)| (id.to_string(), *t)).collect(),
            trajectory: Trajectory { samples },
        }
    }

    #[test]
    fn segments_run_from_weld_to_weld() {
        let p = program(&[("W001", 1.6), ("W003", 4.8)], 5.4);
        let labels: Vec<String> = segments(&p).iter().map(Segment::label).collect();
        assert_eq!(labels, ["home-W001", "W001-W003", "W003-end"]);
        assert_eq!(segment_at(&p, 0.0).unwrap().label(), "home-W001");
        assert_eq!(segment_at(&p, 1.6).unwrap().label(), "home-W001", "the weld pose ends the motion into it");
        assert_eq!(segment_at(&p, 1.7).unwrap().label(), "W001-W003");
        assert_eq!(segment_at(&p, 5.4).unwrap().label(), "W003-end");
        assert!(segment_at(&p, 5.5).is_none());
    }

    #[test]
    fn tilts_keep_the_angle_asked() {
        let pose = Iso3::new(tool_rotation(Vec3::new(0.0, 1.0, -0.2)), Vec3::ZERO);
        let search = FixSearch { tilts_deg: vec![10.0, 30.0], directions: 4, fixture_shifts: Vec::new() };
        let t = tilts(&pose, &search);
        assert_eq!(t.len(), 2);
        for (deg, dirs) in t {
            assert_eq!(dirs.len(), 4);
            for d in dirs {
                let angle = d.dot(pose.rot.cols[2]).clamp(-1.0, 1.0).acos().to_degrees();
                assert!((angle - deg).abs() < 1e-9, "{angle} vs {deg}");
            }
        }
    }
}
