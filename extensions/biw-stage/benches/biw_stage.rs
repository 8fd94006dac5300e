//! `biw_study_cpu_s`: wall time of the sample plant's full BIW study on the CPU (all threads): every
//! station's weld programs, reach checks with base-shift search, and the collision study, read from the
//! stage the sample plant writes (current body). Prints one JSON object per line on stdout; progress on
//! stderr. Optional argument: a name prefix.

use std::time::Instant;

use twinloom_biw_stage::{analyze, Options};
use twinloom_plant_layout::{write_layout, Variant};
use twinloom_tests::TempDir;
use twinloom_usd::{Layer, UpAxis};

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    if !"biw_study_cpu_s".starts_with(&prefix) {
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
    eprintln!("biw_study_cpu_s: sample plant ({:?} body, {} robots, {} weld points)", Variant::Current, summary.robots, summary.weld_points);
    let started = Instant::now();
    let a = analyze(&stage, &Options::default()).expect("study");
    let total = started.elapsed().as_secs_f64();
    let samples: usize = a.stations.iter().flat_map(|s| &s.programs).map(|p| p.trajectory.samples.len()).sum();
    println!(
        "{{\"name\":\"biw_study_cpu_s\",\"value\":{:.3},\"unit\":\"s\",\"threads\":{},\"stations\":{},\"robots\":{},\"weld_points\":{},\"robot_samples\":{samples},\"body_triangles\":{},\"clashes\":{},\"near_misses\":{},\"unreachable_points\":{},\"collision_s\":{:.3},\"with_stage_read_s\":{total:.3},\"runs\":1}}",
        a.elapsed_s,
        rayon_threads(),
        a.stations.len(),
        summary.robots,
        summary.weld_points,
        summary.body_triangles,
        a.clashes(),
        a.near_misses(),
        a.unreachable(),
        a.collision_s
    );
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
