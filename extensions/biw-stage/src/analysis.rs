//! The whole BIW analysis of a stage: read the stations, build each robot's weld program with its reach
//! verdicts, run the collision study on all stations (reach checks and collision study on the device
//! `--gpu auto|on|off` selects: the CUDA GPU, or the CPU on all cores), and report the outcome as
//! plain-language sentences and as JSON (schema in docs/biw.md).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};
use twinloom_biw::math::{Iso3, Vec3};
use twinloom_biw::reach::ReachSettings;
use twinloom_biw::study::{run_study_with, Event, EventKind, RobotSummary, Station, StudyBackend, StudySettings};
use twinloom_gpu::Device;

use twinloom_usd::kit::Stage;

use crate::error::Error;
use crate::geometry;
use crate::program::{build_program, study_robot, ProgramSettings, RobotProgram};
use crate::read::{read_stations, StageStation};

/// Where the study runs (`--gpu auto|on|off`): twinloom-gpu's mode.
pub use twinloom_gpu::GpuMode;

/// Everything the analysis can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// Near-miss threshold for every pair (m).
    pub near_miss: f64,
    pub gpu: GpuMode,
    pub reach: ReachSettings,
    pub program: ProgramSettings,
    /// Only these stations (prim names such as `Station01`); all when empty.
    pub stations: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            near_miss: 0.010,
            gpu: GpuMode::Auto,
            reach: ReachSettings { spin_tolerance: 30f64.to_radians(), spin_step: 1f64.to_radians() },
            program: ProgramSettings::default(),
            stations: Vec::new(),
        }
    }
}

/// The device the study (reach checks and collision study) runs on: the CUDA GPU when this build has the `cuda` feature and one is
/// present (and the mode allows it), otherwise the CPU with the reason; `on` without a GPU is an error
/// saying what is missing.
pub fn select_device(mode: GpuMode) -> Result<Device, Error> {
    Ok(twinloom_gpu::select(mode)?)
}

/// One station's outcome.
#[derive(Clone, Debug)]
pub struct StationResult {
    pub station: StageStation,
    pub programs: Vec<RobotProgram>,
    pub summaries: Vec<RobotSummary>,
    pub events: Vec<Event>,
    /// Weld points assigned to no robot of the station.
    pub unassigned: Vec<String>,
}

impl StationResult {
    pub fn clashes(&self) -> usize {
        self.events.iter().filter(|e| e.kind == EventKind::Clash).count()
    }
    pub fn near_misses(&self) -> usize {
        self.events.iter().filter(|e| e.kind == EventKind::NearMiss).count()
    }
    pub fn unreachable(&self) -> usize {
        self.programs.iter().flat_map(|p| &p.reach).filter(|r| !r.reachable).count()
    }
    /// Smallest clearance of any robot (m; infinity when nothing was sampled).
    pub fn min_clearance(&self) -> f64 {
        self.summaries.iter().map(|s| s.min_clearance).fold(f64::INFINITY, f64::min)
    }
    pub fn max_depth(&self) -> f64 {
        self.summaries.iter().map(|s| s.max_depth).fold(0.0, f64::max)
    }
    /// The stage robot of a program.
    pub fn robot(&self, name: &str) -> Option<&crate::read::StageRobot> {
        self.station.robots.iter().find(|r| r.name == name)
    }
}

/// The analysis of a whole stage.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub stage: String,
    /// Every layer of the stage (canonical paths, strongest first): results never go to one of these.
    pub layers: Vec<PathBuf>,
    /// Where the reach checks and the collision study ran: `cpu` or `gpu (<device name>)`.
    pub device: String,
    /// Why the CPU ran it although the mode allowed the GPU (`None` on the GPU).
    pub device_reason: Option<String>,
    pub near_miss: f64,
    pub stations: Vec<StationResult>,
    /// Wall time of reach checks, programs and the collision study (s).
    pub elapsed_s: f64,
    /// Wall time of the collision study alone (s).
    pub collision_s: f64,
    /// Wall time of the reach checks and base-shift searches alone (s).
    pub reach_s: f64,
    /// The world transform of the stage's root prim (markers are written below it).
    pub root_prim: String,
    pub root_xform: Iso3,
}

/// Reads the stage and runs the analysis, reach checks and collision study on the device `options.gpu`
/// selects.
pub fn analyze(stage: &Path, options: &Options) -> Result<Analysis, Error> {
    let device = select_device(options.gpu)?;
    analyze_on(stage, options, &device)
}

/// Reads the stage and runs the analysis with reach checks and collision study on `device`
/// ([`select_device`]).
pub fn analyze_on(stage: &Path, options: &Options, device: &Device) -> Result<Analysis, Error> {
    let backend = StudyBackend::for_device(device);
    #[allow(irrefutable_let_patterns)] // Device has one variant without the `cuda` feature
    let device_reason = if let Device::Cpu { reason } = device {
        Some(reason.clone())
    } else if let StudyBackend::Cpu = backend {
        Some("this build's study has no CUDA path".into())
    } else {
        None
    };
    let mut analysis = analyze_with(stage, options, &backend)?;
    analysis.device_reason = device_reason;
    Ok(analysis)
}

/// Reads the stage and runs the analysis, reach checks and collision study, on `backend` (e.g.
/// [`StudyBackend::HostKernel`]: the GPU's kernels compiled for the host, for comparisons with the CPU).
/// `device_reason` is left `None`.
pub fn analyze_with(stage: &Path, options: &Options, backend: &StudyBackend) -> Result<Analysis, Error> {
    let Prepared { mut results, study, layers, root_prim, root_xform, started, reach_s } =
        prepare(stage, options, backend)?;
    let collision_started = Instant::now();
    let report = run_study_with(&study, &study_settings(options), backend)?;
    let collision_s = collision_started.elapsed().as_secs_f64();
    for r in &mut results {
        r.summaries = report.summaries.iter().filter(|s| s.station == r.station.name).cloned().collect();
        r.events = report.events.iter().filter(|e| e.station == r.station.name).cloned().collect();
    }
    Ok(Analysis {
        stage: stage.display().to_string(),
        layers,
        device: backend.label(),
        device_reason: None,
        near_miss: options.near_miss,
        stations: results,
        elapsed_s: started.elapsed().as_secs_f64(),
        collision_s,
        reach_s,
        root_prim,
        root_xform,
    })
}

/// The collision study's input as [`analyze`] builds it (stations with the robots' weld-program
/// trajectories), and its settings: for running the study on other backends and comparing them.
pub fn study_input(stage: &Path, options: &Options) -> Result<(Vec<Station>, StudySettings), Error> {
    Ok((prepare(stage, options, &StudyBackend::Cpu)?.study, study_settings(options)))
}

fn study_settings(options: &Options) -> StudySettings {
    StudySettings { near_miss_default: options.near_miss, ..StudySettings::default() }
}

/// The stage read, the programs built and the collision study's input, before the study runs.
struct Prepared {
    results: Vec<StationResult>,
    study: Vec<Station>,
    layers: Vec<PathBuf>,
    root_prim: String,
    root_xform: Iso3,
    /// When the reach checks and programs started.
    started: Instant,
    /// Wall time of the reach checks and base-shift searches (s).
    reach_s: f64,
}

fn prepare(stage: &Path, options: &Options, backend: &StudyBackend) -> Result<Prepared, Error> {
    let (stations, layers, root_prim, root_xform) = {
        let stack = Stage::open(stage)?;
        let mut stations = read_stations(&stack)?;
        if !options.stations.is_empty() {
            if let Some(missing) = options.stations.iter().find(|n| !stations.iter().any(|s| &s.name == *n)) {
                return Err(Error::NoSuchStation {
                    stage: stage.display().to_string(),
                    name: missing.clone(),
                    known: stations.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
            stations.retain(|s| options.stations.contains(&s.name));
        }
        let root_prim = stations[0].prim.split('/').nth(1).map(|r| format!("/{r}")).unwrap_or_else(|| "/".into());
        let root_xform = geometry::world_xform(&stack, &root_prim)?;
        (stations, stack.layer_paths().to_vec(), root_prim, root_xform)
    };
    let started = Instant::now();
    let mut reach_s = 0.0;
    let mut results = Vec::new();
    let mut study = Vec::new();
    for st in stations {
        let programs: Vec<RobotProgram> = st
            .robots
            .iter()
            .map(|r| {
                let welds: Vec<_> = st.welds.iter().filter(|w| w.robot == r.prim).collect();
                let program = build_program(r, &welds, &options.reach, &options.program, backend)?;
                reach_s += program.reach_s;
                Ok(program)
            })
            .collect::<Result<_, Error>>()?;
        let unassigned =
            st.welds.iter().filter(|w| !st.robots.iter().any(|r| r.prim == w.robot)).map(|w| w.id.clone()).collect();
        study.push(Station {
            name: st.name.clone(),
            robots: st.robots.iter().zip(&programs).map(|(r, p)| study_robot(r, p)).collect(),
            obstacles: st.obstacles.clone(),
        });
        results.push(StationResult { station: st, programs, summaries: Vec::new(), events: Vec::new(), unassigned });
    }
    Ok(Prepared { results, study, layers, root_prim, root_xform, started, reach_s })
}

impl Analysis {
    pub fn clashes(&self) -> usize {
        self.stations.iter().map(StationResult::clashes).sum()
    }
    pub fn near_misses(&self) -> usize {
        self.stations.iter().map(StationResult::near_misses).sum()
    }
    pub fn unreachable(&self) -> usize {
        self.stations.iter().map(StationResult::unreachable).sum()
    }

    /// The plain-language report: per station, its findings and a summary line.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        for st in &self.stations {
            let name = &st.station.name;
            for e in &st.events {
                let other = if e.region == e.other { e.other.clone() } else { format!("{} ({})", e.other, e.region) };
                out.push(match e.kind {
                    EventKind::Clash => format!(
                        "{name}: {} weld path penetrates {other} by {:.1} mm at t={:.1} s ({}; t={:.1}..{:.1} s)",
                        e.robot, e.max_depth * 1000.0, e.worst_time, e.link, e.start_time, e.end_time
                    ),
                    EventKind::NearMiss => format!(
                        "{name}: {} {} passes {:.1} mm from {other} at t={:.1} s (near miss under {:.0} mm; t={:.1}..{:.1} s)",
                        e.robot, e.link, e.min_distance * 1000.0, e.worst_time, self.near_miss * 1000.0, e.start_time, e.end_time
                    ),
                });
            }
            for p in &st.programs {
                for r in p.reach.iter().filter(|r| !r.reachable) {
                    let how_far = if r.outside_mm.is_finite() {
                        format!("{:.0} mm outside {}'s envelope", r.outside_mm, p.robot)
                    } else {
                        format!("out of {}'s reach in any pose with its approach direction", p.robot)
                    };
                    let fix = match (&p.base_shift, st.robot(&p.robot)) {
                        (Some(s), Some(robot)) => match s.shift {
                            Some(v) => {
                                let w = robot.base.rot.mul_vec(v) * 1000.0;
                                format!(
                                    "; shifting the base ({:+.0}, {:+.0}, {:+.0}) mm in world x, y, z makes all its points reachable",
                                    w.x, w.y, w.z
                                )
                            }
                            None => format!(
                                "; no base shift within +-{:.0} mm per axis makes all its points reachable",
                                s.search_half.x * 1000.0
                            ),
                        },
                        _ => String::new(),
                    };
                    out.push(format!("{name}: weld point {} is {how_far}{fix}", r.id));
                }
                for (id, why) in &p.skipped {
                    out.push(format!("{name}: {} cannot follow the approach path of weld point {id}: {why}", p.robot));
                }
            }
            let points: usize = st.programs.iter().map(|p| p.reach.len()).sum();
            let clearance = st.min_clearance();
            out.push(format!(
                "{name}: {} robots, {points} weld points ({} unreachable), {} clashes, {} near misses, minimum clearance {}",
                st.station.robots.len(),
                st.unreachable(),
                st.clashes(),
                st.near_misses(),
                if clearance.is_finite() { format!("{:.1} mm", clearance * 1000.0) } else { "n/a".into() }
            ));
        }
        out
    }

    /// The `--json` report (schema in docs/biw.md).
    pub fn to_json(&self) -> Value {
        let mm = |v: f64| if v.is_finite() { json!((v * 1e4).round() / 10.0) } else { Value::Null };
        let xyz = |v: Vec3| json!([v.x, v.y, v.z]);
        let stations: Vec<Value> = self
            .stations
            .iter()
            .map(|st| {
                let robots: Vec<Value> = st
                    .programs
                    .iter()
                    .map(|p| {
                        let robot = st.robot(&p.robot);
                        let summary = st.summaries.iter().find(|s| s.robot == p.robot);
                        let points: Vec<Value> = p
                            .reach
                            .iter()
                            .zip(&p.weld_prims)
                            .map(|(r, prim)| {
                                json!({
                                    "id": r.id,
                                    "prim": prim,
                                    "reachable": r.reachable,
                                    "outside_mm": mm(r.outside_mm / 1000.0),
                                })
                            })
                            .collect();
                        let shift = p.base_shift.map(|s| {
                            let world = s.shift.zip(robot).map(|(v, r)| r.base.rot.mul_vec(v));
                            json!({
                                "found": s.shift.is_some(),
                                "shift_mm": world.map(|w| json!([mm(w.x), mm(w.y), mm(w.z)])),
                                "norm_mm": s.shift.map(|v| mm(v.norm())),
                                "search_half_mm": mm(s.search_half.x),
                            })
                        });
                        json!({
                            "name": p.robot,
                            "prim": robot.map(|r| r.prim.clone()),
                            "model": robot.map(|r| r.model.name.clone()),
                            "samples": p.trajectory.samples.len(),
                            "welds_in_program": p.weld_times.len(),
                            "clashes": summary.map(|s| s.clashes),
                            "near_misses": summary.map(|s| s.near_misses),
                            "min_clearance_mm": summary.map(|s| mm(s.min_clearance)),
                            "max_depth_mm": summary.map(|s| mm(s.max_depth)),
                            "points": points,
                            "base_shift": shift,
                            "skipped": p.skipped.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let events: Vec<Value> = st
                    .events
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
                            "point_m": xyz(e.point),
                        })
                    })
                    .collect();
                json!({
                    "name": st.station.name,
                    "prim": st.station.prim,
                    "clashes": st.clashes(),
                    "near_misses": st.near_misses(),
                    "unreachable_points": st.unreachable(),
                    "min_clearance_mm": mm(st.min_clearance()),
                    "max_depth_mm": mm(st.max_depth()),
                    "unassigned_points": st.unassigned,
                    "robots": robots,
                    "events": events,
                })
            })
            .collect();
        json!({
            "stage": self.stage,
            "device": self.device,
            "device_reason": self.device_reason,
            "near_miss_mm": mm(self.near_miss),
            "elapsed_s": self.elapsed_s,
            "collision_s": self.collision_s,
            "reach_s": self.reach_s,
            "clashes": self.clashes(),
            "near_misses": self.near_misses(),
            "unreachable_points": self.unreachable(),
            "stations": stations,
        })
    }
}
