//! `biw_study_cpu_s`: wall time of the sample plant's full BIW study on the CPU (all threads): every
//! station's weld programs, reach checks with base-shift search, and the collision study, read from the
//! stage the sample plant writes (current body); `reach_s` and `collision_s` are its two parts.
//! `biw_study_gpu_s`: the same study with reach checks and collision study on the GPU, printed only when
//! `select(GpuMode::Auto)` gives one (build with `--features cuda`); its verdicts must equal the CPU run's
//! (collision events and summaries; reachable, base shift found and shift per robot, out-of-reach
//! distances within 1 µm). Prints one JSON object per line on stdout; progress on stderr. Optional
//! argument: a name prefix.

use std::time::Instant;

use twinloom_biw::study::compare_reports;
use twinloom_biw::study::StudyReport;
use twinloom_biw_stage::{analyze_on, select_device, Analysis, GpuMode, Options};
use twinloom_gpu::Device;
use twinloom_plant_layout::{write_layout, Variant};
use twinloom_tests::TempDir;
use twinloom_usd::{Layer, UpAxis};

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let want_cpu = "biw_study_cpu_s".starts_with(&prefix);
    let want_gpu = "biw_study_gpu_s".starts_with(&prefix);
    let gpu = if want_gpu {
        let device = select_device(GpuMode::Auto).expect("select a device");
        #[allow(irrefutable_let_patterns)] // Device has one variant without the `cuda` feature
        if let Device::Cpu { reason } = &device {
            eprintln!("biw_study_gpu_s: skipped, the CPU was selected: {reason}");
            None
        } else {
            Some(device)
        }
    } else {
        None
    };
    if !want_cpu && gpu.is_none() {
        return;
    }
    let dir = TempDir::new("biw-study-bench");
    let summary = write_layout(&dir.path().join("layout.usda")).expect("write the sample plant");
    let stage = dir.path().join("plant.usda");
    let mut root = Layer::create_anonymous("bench-root", "usda").expect("layer");
    root.set_default_prim("Plant").expect("defaultPrim");
    root.set_up_axis(UpAxis::Z).expect("upAxis");
    root.set_meters_per_unit(1.0).expect("metersPerUnit");
    root.set_sublayers(&["./layout.usda"]).expect("subLayers");
    root.export_atomic(&stage).expect("write plant.usda");
    drop(root);
    eprintln!(
        "biw_study_cpu_s: sample plant ({:?} body, {} robots, {} weld points)",
        Variant::Current,
        summary.robots,
        summary.weld_points
    );
    let options = Options { gpu: GpuMode::Off, ..Options::default() };
    let cpu_device = select_device(GpuMode::Off).expect("the CPU");
    let started = Instant::now();
    let a = analyze_on(&stage, &options, &cpu_device).expect("study");
    let total = started.elapsed().as_secs_f64();
    let samples: usize = a.stations.iter().flat_map(|s| &s.programs).map(|p| p.trajectory.samples.len()).sum();
    let context = format!(
        "\"threads\":{},\"stations\":{},\"robots\":{},\"weld_points\":{},\"robot_samples\":{samples},\"body_triangles\":{},\"clashes\":{},\"near_misses\":{},\"unreachable_points\":{}",
        rayon_threads(),
        a.stations.len(),
        summary.robots,
        summary.weld_points,
        summary.body_triangles,
        a.clashes(),
        a.near_misses(),
        a.unreachable(),
    );
    if want_cpu {
        println!(
            "{{\"name\":\"biw_study_cpu_s\",\"value\":{:.3},\"unit\":\"s\",{context},\"reach_s\":{:.3},\"collision_s\":{:.3},\"with_stage_read_s\":{total:.3},\"runs\":1}}",
            a.elapsed_s, a.reach_s, a.collision_s
        );
    }
    let Some(device) = gpu else { return };
    // The first run compiles the kernel with NVRTC and warms the device up; the second is timed.
    eprintln!("biw_study_gpu_s: {} (warm-up run)", device.label());
    analyze_on(&stage, &options, &device).expect("GPU study (warm-up)");
    let g = analyze_on(&stage, &options, &device).expect("GPU study");
    if let Err(diff) = compare_reports(&report(&a), &report(&g), 1e-5) {
        panic!("biw_study_gpu_s: the GPU study's verdicts differ from the CPU study's: {diff}");
    }
    if let Err(diff) = compare_reach(&a, &g) {
        panic!("biw_study_gpu_s: the GPU's reach verdicts differ from the CPU's: {diff}");
    }
    println!(
        "{{\"name\":\"biw_study_gpu_s\",\"value\":{:.3},\"unit\":\"s\",\"device\":{},{context},\"reach_s\":{:.3},\"collision_s\":{:.3},\"cpu_s\":{:.3},\"cpu_reach_s\":{:.3},\"cpu_collision_s\":{:.3},\"speedup\":{:.1},\"reach_speedup\":{:.1},\"collision_speedup\":{:.1},\"verdicts\":\"identical\",\"runs\":1}}",
        g.elapsed_s,
        serde_json::to_string(&g.device).expect("a string"),
        g.reach_s,
        g.collision_s,
        a.elapsed_s,
        a.reach_s,
        a.collision_s,
        a.elapsed_s / g.elapsed_s,
        a.reach_s / g.reach_s,
        a.collision_s / g.collision_s
    );
}

/// The reach verdicts of two analyses: per robot, the same points reachable, the same base shift found
/// (the same grid shift), and out-of-reach distances within 1 µm (the GPU's math library may differ from
/// the CPU's in the last bits). `Err` describes the first difference.
fn compare_reach(cpu: &Analysis, gpu: &Analysis) -> Result<(), String> {
    let programs = |a: &Analysis| a.stations.iter().flat_map(|s| s.programs.clone()).collect::<Vec<_>>();
    let (c, g) = (programs(cpu), programs(gpu));
    if c.len() != g.len() {
        return Err(format!("{} robot programs on the CPU, {} on the GPU", c.len(), g.len()));
    }
    for (c, g) in c.iter().zip(&g) {
        for (rc, rg) in c.reach.iter().zip(&g.reach) {
            let close = rc.outside_mm == rg.outside_mm || (rc.outside_mm - rg.outside_mm).abs() <= 1e-3;
            if rc.id != rg.id || rc.reachable != rg.reachable || !close {
                return Err(format!("{}: CPU {rc:?}, GPU {rg:?}", c.robot));
            }
        }
        let shift = |p: &twinloom_biw_stage::program::RobotProgram| p.base_shift.map(|b| b.shift);
        let same_shift = match (shift(c), shift(g)) {
            (Some(Some(x)), Some(Some(y))) => (x - y).norm() <= 1e-9,
            (x, y) => x == y,
        };
        if c.reach.len() != g.reach.len() || !same_shift {
            return Err(format!("{}: CPU base shift {:?}, GPU {:?}", c.robot, c.base_shift, g.base_shift));
        }
    }
    Ok(())
}

/// The collision study's report of an analysis (all stations).
fn report(a: &Analysis) -> StudyReport {
    StudyReport {
        events: a.stations.iter().flat_map(|s| s.events.clone()).collect(),
        summaries: a.stations.iter().flat_map(|s| s.summaries.clone()).collect(),
    }
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
