//! The study on the sample plant (station 1, FANUC R-2000iC/165F robots R01 and R02): the new body
//! variant's B-pillar reinforcement is clashed by R01's weld path and its moved weld point W002 is out of
//! R01's reach, with a base shift that fixes it; the current body has neither. results.usda is read back
//! with usd-core and the composed stage passes omni_asset_validate. The GPU path's kernels (collision and
//! reach, compiled for the host) agree with the CPU study there, and `--gpu on` without a GPU is a clear
//! error.

use std::path::{Path, PathBuf};
use std::process::Command;

use twinloom_biw::math::Iso3;
use twinloom_biw::reach::{check_point, WeldPoint};
use twinloom_biw::study::{check_parity, compare_reports, host_distance_batch};
use twinloom_biw::study::{run_study, run_study_with, study_queries, EventKind, StudyBackend, StudyReport};
use twinloom_biw_stage::{
    analyze, analyze_with, select_device, study_input, write_results, Analysis, Error, GpuMode, Options, StageError,
};
use twinloom_gpu::Device;
use twinloom_plant_layout::{write_layout_variant, Variant, REINFORCEMENT_PROUD};
use twinloom_tests::{check_output, python, venv_bin, TempDir};
use twinloom_usd::{Layer, UpAxis};
use twinloom_usd_schemas::{plugin_path_env, PXR_PLUGIN_PATH_VAR};

/// Writes the sample plant's layout (`variant`) and a root `plant.usda` over `sublayers` + the layout.
fn plant(variant: Variant) -> (TempDir, PathBuf) {
    let dir = TempDir::new("biw-stage");
    write_layout_variant(&dir.path().join("layout.usda"), variant).expect("write layout");
    let root = dir.path().join("plant.usda");
    write_root(&root, &[]);
    (dir, root)
}

fn write_root(path: &Path, extra: &[&str]) {
    let mut l = Layer::create_anonymous("plant-root", "usda").expect("layer");
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_kilograms_per_unit(1.0).unwrap();
    let mut subs: Vec<&str> = extra.to_vec();
    subs.push("./layout.usda");
    l.set_sublayers(&subs).unwrap();
    l.export_atomic(path).expect("write root");
}

fn station01() -> Options {
    Options { stations: vec!["Station01".into()], ..Options::default() }
}

/// Reach verdicts (id, reachable, outside_mm) of one robot.
fn reach_of(a: &Analysis, robot: &str) -> Vec<(String, bool, f64)> {
    a.stations[0]
        .programs
        .iter()
        .find(|p| p.robot == robot)
        .expect("robot program")
        .reach
        .iter()
        .map(|r| (r.id.clone(), r.reachable, r.outside_mm))
        .collect()
}

fn unreachable_ids(a: &Analysis, robot: &str) -> Vec<String> {
    reach_of(a, robot).into_iter().filter(|r| !r.1).map(|r| r.0).collect()
}

/// Every reachable point's joint solution puts the tool on the weld pose (forward kinematics).
fn assert_reach_consistent(a: &Analysis) {
    for st in &a.stations {
        for p in &st.programs {
            let robot = st.robot(&p.robot).unwrap();
            for (r, prim) in p.reach.iter().zip(&p.weld_prims) {
                let weld = st.station.welds.iter().find(|w| &w.prim == prim).unwrap();
                if r.reachable {
                    let q = r.joints.expect("joints of a reachable point");
                    let tool = robot.base.mul(&robot.model.forward(&q));
                    assert!((tool.trans - weld.pose.trans).norm() < 1e-6, "{} FK misses the weld", r.id);
                    assert!(tool.rot.cols[2].dot(weld.pose.rot.cols[2]) > 1.0 - 1e-9, "{} approach", r.id);
                    assert_eq!(r.outside_mm, 0.0);
                } else {
                    assert!(r.outside_mm > 0.0, "{} unreachable with outside_mm {}", r.id, r.outside_mm);
                }
            }
        }
    }
}

#[test]
fn new_variant_clashes_with_the_reinforcement_and_misses_the_moved_weld() {
    let (dir, root) = plant(Variant::New);
    let a = analyze(&root, &station01()).expect("analysis");
    if a.device == "cpu" {
        assert!(a.device_reason.as_deref().is_some_and(|r| !r.is_empty()), "auto fell back to the CPU: why?");
    } else {
        assert!(a.device.starts_with("gpu ("), "{}", a.device);
    }
    assert_eq!(a.stations.len(), 1);
    assert_reach_consistent(&a);
    // R01's weld path into W001 (moved onto the B-pillar) goes through the new reinforcement.
    let clash = a.stations[0]
        .events
        .iter()
        .filter(|e| e.kind == EventKind::Clash && e.robot == "R01" && e.other == "Body/BPillarReinforcement")
        .max_by(|x, y| x.max_depth.total_cmp(&y.max_depth))
        .expect("a clash of R01 with the B-pillar reinforcement");
    assert!(clash.max_depth > 0.0 && clash.max_depth <= REINFORCEMENT_PROUD as f64 + 0.01, "depth {}", clash.max_depth);
    assert_eq!(clash.min_distance, 0.0);
    assert!(clash.start_time <= clash.worst_time && clash.worst_time <= clash.end_time);
    // W002, moved to the rear quarter panel, is out of R01's reach by a computed distance.
    let reach = reach_of(&a, "R01");
    let w002 = reach.iter().find(|r| r.0 == "W002").expect("W002 assigned to R01");
    assert!(!w002.1);
    assert!(w002.2 > 1.0 && w002.2 < 300.0, "W002 outside by {} mm", w002.2);
    // The suggested base shift makes every R01 point reachable when checked again.
    let st = &a.stations[0];
    let program = st.programs.iter().find(|p| p.robot == "R01").unwrap();
    let robot = st.robot("R01").unwrap();
    let shift = program.base_shift.and_then(|s| s.shift).expect("a base shift for R01");
    assert!(shift.norm() > 0.0);
    let settings = Options::default().reach;
    for prim in &program.weld_prims {
        let weld = st.station.welds.iter().find(|w| &w.prim == prim).unwrap();
        let local = robot.base.inverse().mul(&weld.pose);
        let shifted = WeldPoint { id: weld.id.clone(), pose: Iso3::new(local.rot, local.trans - shift) };
        assert!(check_point(&robot.model, &shifted, &settings).reachable, "{} after the shift", weld.id);
    }
    let text = a.sentences().join("\n");
    assert!(text.contains("Station01: R01 weld path penetrates Body/BPillarReinforcement by"), "{text}");
    assert!(text.contains("Station01: weld point W002 is "), "{text}");

    // Results never go over a layer of the stage they were computed from (the root, the layout spelled
    // another way), and the refused files stay byte-identical.
    for out in [root.clone(), dir.path().join("./layout.usda")] {
        let before = std::fs::read(&out).unwrap();
        let err = write_results(&a, &out).unwrap_err();
        assert!(matches!(err, StageError::WouldOverwriteStage { .. }), "{}: {err:?}", out.display());
        assert_eq!(std::fs::read(&out).unwrap(), before, "{} changed", out.display());
    }

    // results.usda, composed with the plant, read back with usd-core and validated.
    let results = dir.path().join("results.usda");
    let markers = write_results(&a, &results).expect("write results");
    assert_eq!(markers, st.events.len());
    let composed = dir.path().join("plant_with_results.usda");
    write_root(&composed, &["./results.usda"]);
    let out = Command::new(python())
        .arg("-c")
        .arg(READ_BACK)
        .arg(&composed)
        .env(PXR_PLUGIN_PATH_VAR, plugin_path_env(None))
        .output()
        .expect("start python");
    check_output("read back results.usda", &out);
    let out = String::from_utf8_lossy(&out.stdout).to_string();
    let expect_clashes = st.events.iter().filter(|e| e.kind == EventKind::Clash).count();
    assert!(out.contains(&format!("clash markers {expect_clashes}\n")), "{out}");
    assert!(out.contains("reinforcement clash True\n"), "{out}");
    assert!(out.contains(&format!("W002 False {:.1}\n", (w002.2 * 10.0).round() / 10.0)), "{out}");
    assert!(out.contains("station clashes "), "{out}");
    let check = Command::new(venv_bin("omni_asset_validate"))
        .arg(&composed)
        .env(PXR_PLUGIN_PATH_VAR, plugin_path_env(None))
        .output()
        .expect("start omni_asset_validate");
    check_output("omni_asset_validate plant_with_results.usda", &check);
    let report = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(report.contains("No issues found"), "{report}");
    // The plant with its results is placed the same without the Twinloom plugin (markers included), and
    // passes UsdValidation and omni_asset_validate both ways.
    let portable: serde_json::Value =
        serde_json::from_str(twinloom_tests::assert_portable_stage(&composed).trim()).expect("JSON summary");
    eprintln!("portable: {portable}");
    assert_eq!(portable["max_difference"], 0.0, "{portable}");
    let layout_prims = 365; // the layout's prims with xform ops (samples/plant)
    assert_eq!(portable["prims_compared"], layout_prims + markers, "{portable}");
}

const READ_BACK: &str = r#"
import sys
from pxr import Usd, UsdGeom
stage = Usd.Stage.Open(sys.argv[1])
scope = stage.GetPrimAtPath("/Plant/Results/BIW/Station01")
assert scope, "no results scope"
clashes = [p for p in scope.GetChildren() if p.GetName().startswith("Clash")]
for p in clashes:
    assert p.GetTypeName() == "Sphere", p.GetPath()
    assert p.GetAttribute("twinloom:biw:depthMm").Get() > 0, p.GetPath()
    assert p.GetAttribute("twinloom:biw:clearanceMm").Get() == 0, p.GetPath()
    assert p.GetAttribute("twinloom:biw:station").Get() == "/Plant/BIW/Line/Station01"
    assert p.GetAttribute("twinloom:biw:time").Get() >= 0
    assert p.GetAttribute("twinloom:biw:link").Get()
print("clash markers", len(clashes))
print("reinforcement clash", any(p.GetAttribute("twinloom:biw:other").Get() == "Body/BPillarReinforcement"
      and p.GetAttribute("twinloom:biw:robot").Get() == "R01" for p in clashes))
w = stage.GetPrimAtPath("/Plant/BIW/Line/Station01/Body/WeldPoints/W002")
assert w.GetTypeName() == "Xform", "the over composes onto the layout's weld point"
print("W002", w.GetAttribute("twinloom:reach:reachable").Get(), round(w.GetAttribute("twinloom:reach:outsideMm").Get(), 1))
print("station clashes", scope.GetAttribute("twinloom:biw:clashes").Get())
"#;

#[test]
fn current_body_has_no_reinforcement_clash_and_keeps_w002_off_r01() {
    let (_dir, root) = plant(Variant::Current);
    let a = analyze(&root, &station01()).expect("analysis");
    assert_reach_consistent(&a);
    let st = &a.stations[0];
    assert!(st.station.obstacles.iter().all(|o| o.name != "Body/BPillarReinforcement"));
    assert!(st.events.iter().all(|e| !e.other.contains("Reinforcement")));
    // What is true of the current program: R01 misses only W023 (far up the roof), R02 its front and
    // roof points; W001 and W002 belong to R02 (the +Y side) here.
    assert_eq!(unreachable_ids(&a, "R01"), ["W023"]);
    assert!(reach_of(&a, "R02").iter().any(|r| r.0 == "W002"));
    // Summaries agree with the events.
    for s in &st.summaries {
        let mine = st.events.iter().filter(|e| e.robot == s.robot || e.other == s.robot);
        assert_eq!(mine.filter(|e| e.kind == EventKind::Clash).count(), s.clashes);
    }
}

#[test]
fn gpu_on_without_a_gpu_is_a_clear_error_and_auto_falls_back_to_the_cpu() {
    assert_eq!(select_device(GpuMode::Off).unwrap().label(), "cpu");
    #[allow(irrefutable_let_patterns)] // Device has one variant without the `cuda` feature
    let Device::Cpu { reason } = select_device(GpuMode::Auto).unwrap() else {
        eprintln!("a GPU is present: nothing to refuse");
        return;
    };
    // No usable GPU: auto runs on the CPU with the reason, `on` fails with the same reason before the
    // stage is read.
    assert!(!reason.is_empty());
    let options = Options { gpu: GpuMode::On, ..Options::default() };
    let err = analyze(Path::new("does-not-matter.usda"), &options).unwrap_err();
    assert!(matches!(err, Error::Gpu(_)), "{err:?}");
    assert_eq!(err.to_string(), format!("--gpu on, but {reason}"));
    if cfg!(feature = "cuda") {
        assert!(reason.contains("libcuda") || reason.contains("nvrtc") || reason.contains("device"), "{reason}");
    } else {
        assert!(reason.contains("`cuda` feature"), "{reason}");
    }
}

/// The host-compiled GPU kernel on the sample plant's new variant (station 1, with its clash): every query
/// of the study agrees with the Rust path (same verdicts, distances within 0.01 mm), and the study through
/// the kernel has the CPU study's events and summaries.
#[test]
fn host_kernel_matches_the_cpu_on_the_sample_plant() {
    let (_dir, root) = plant(Variant::New);
    let (stations, settings) = study_input(&root, &station01()).expect("study input");
    let queries = study_queries(&stations, &settings);
    let parity = check_parity(&queries, &host_distance_batch(&queries), 1e-5).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("sample plant station 1: {parity:?}");
    assert_eq!((parity.queries, parity.overflowed), (queries.len(), 0));
    assert!(parity.max_diff <= 1e-5);
    let cpu = run_study(&stations, &settings);
    assert!(cpu.events.iter().any(|e| e.kind == EventKind::Clash && e.other == "Body/BPillarReinforcement"));
    let host = run_study_with(&stations, &settings, &StudyBackend::HostKernel).expect("host kernel study");
    compare_reports(&cpu, &host, 1e-5).unwrap_or_else(|e| panic!("{e}"));
}

/// The reach kernels compiled for the host on the sample plant's new variant, station 1 (R01: W002 out of
/// reach with a base shift that fixes it; R02: several unreachable points and no base shift): every reach
/// verdict, out-of-reach distance, joint solution, spin, nearest position and base-shift suggestion is the
/// CPU's bit for bit, so the weld programs are too, and the study through both kernels has the CPU
/// study's events and summaries.
#[test]
fn host_reach_kernel_matches_the_cpu_on_the_sample_plant() {
    let (_dir, root) = plant(Variant::New);
    let cpu = analyze_with(&root, &station01(), &StudyBackend::Cpu).expect("CPU analysis");
    let host = analyze_with(&root, &station01(), &StudyBackend::HostKernel).expect("host kernel analysis");
    assert_eq!(host.device, "cpu (host-compiled kernel)");
    let (cpu_st, host_st) = (&cpu.stations[0], &host.stations[0]);
    assert_eq!(cpu_st.programs.len(), host_st.programs.len());
    for (c, h) in cpu_st.programs.iter().zip(&host_st.programs) {
        assert_eq!(c.reach, h.reach, "{}: reach verdicts", c.robot);
        for (rc, rh) in c.reach.iter().zip(&h.reach) {
            assert_eq!(rc.outside_mm.to_bits(), rh.outside_mm.to_bits(), "{} {}", c.robot, rc.id);
        }
        assert_eq!(c.base_shift, h.base_shift, "{}: base shift", c.robot);
        assert_eq!(c.trajectory, h.trajectory, "{}: weld program", c.robot);
    }
    let shifts: Vec<_> = cpu_st.programs.iter().map(|p| p.base_shift.map(|b| b.shift.is_some())).collect();
    assert!(shifts.contains(&Some(true)) && shifts.contains(&Some(false)), "{shifts:?}");
    assert!(cpu.unreachable() >= 3, "{} unreachable", cpu.unreachable());
    assert_eq!(cpu.sentences(), host.sentences());
    let report =
        |a: &Analysis| StudyReport { events: a.stations[0].events.clone(), summaries: a.stations[0].summaries.clone() };
    compare_reports(&report(&cpu), &report(&host), 1e-5).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_missing_stage_is_a_clear_error() {
    let err = analyze(Path::new("/nonexistent/plant.usda"), &Options::default()).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/plant.usda"), "{err}");
}
