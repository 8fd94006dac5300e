//! `twinloom analyze biw` end to end: the built binary on the sample plant's new body variant (station 1)
//! finds R01's clash with the B-pillar reinforcement and the moved weld point W002 out of reach, prints
//! them as JSON, writes results.usda and exits 1; `--gpu on` without a GPU is refused with a clear error.

use std::path::Path;
use std::process::Command;

use twinloom_plant_layout::{write_layout_variant, Variant};
use twinloom_tests::TempDir;
use twinloom_usd::{Layer, UpAxis};

fn write_root(path: &Path) {
    let mut l = Layer::create_anonymous("biw-cmd-root", "usda").expect("layer");
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_sublayers(&["./layout.usda"]).unwrap();
    l.export_atomic(path).expect("write root");
}

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

#[test]
fn biw_study_of_the_new_variant_reports_clash_and_reach_as_json() {
    let dir = TempDir::new("analyze-biw");
    write_layout_variant(&dir.path().join("layout.usda"), Variant::New).expect("layout");
    let stage = dir.path().join("plant.usda");
    write_root(&stage);
    let out = twinloom()
        .args(["analyze", "biw", "--stage"])
        .arg(&stage)
        .args(["--station", "Station01", "--json", "--gpu", "off"])
        .output()
        .expect("run twinloom");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "findings exit 1\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["device_reason"], "--gpu off");
    assert_eq!(v["near_miss_mm"], 10.0);
    assert!(v["clashes"].as_u64().unwrap() >= 1);
    assert!(v["unreachable_points"].as_u64().unwrap() >= 1);
    let st = &v["stations"][0];
    assert_eq!(st["prim"], "/Plant/BIW/Line/Station01");
    let events = st["events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["kind"] == "clash"
        && e["robot"] == "R01"
        && e["other"] == "Body/BPillarReinforcement"
        && e["depth_mm"].as_f64().unwrap() > 0.0));
    let r01 = st["robots"].as_array().unwrap().iter().find(|r| r["name"] == "R01").expect("R01");
    assert_eq!(r01["model"], "fanuc-r2000ic-165f");
    let w002 = r01["points"].as_array().unwrap().iter().find(|p| p["id"] == "W002").expect("W002");
    assert_eq!(w002["reachable"], false);
    assert!(w002["outside_mm"].as_f64().unwrap() > 0.0);
    assert_eq!(r01["base_shift"]["found"], true);
    let results = dir.path().join("results.usda");
    assert_eq!(v["results"], results.display().to_string());
    let layer = Layer::open(&results).expect("results.usda");
    let scope = layer.prim("/Plant/Results/BIW/Station01").expect("the station's results scope");
    let clash = scope.children.iter().find(|c| c.starts_with("Clash")).expect("a clash marker");
    let marker = layer.prim(&format!("/Plant/Results/BIW/Station01/{clash}")).expect("marker");
    assert_eq!(marker.type_name, "Sphere");
}

#[test]
fn gpu_on_without_a_gpu_is_refused() {
    use twinloom_biw_stage::{select_device, GpuMode};
    if select_device(GpuMode::Auto).expect("auto never fails").label() != "cpu" {
        return; // a GPU is present: nothing to refuse
    }
    let out =
        twinloom().args(["analyze", "biw", "--stage", "plant.usda", "--gpu", "on"]).output().expect("run twinloom");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Says what is missing: the `cuda` feature in this build, or the driver / device on this machine.
    assert!(err.contains("--gpu on, but "), "{err}");
    assert!(err.contains("`cuda` feature") || err.contains("NVIDIA") || err.contains("nvrtc"), "{err}");
}

#[test]
fn a_closed_stdout_is_a_normal_end() {
    // `twinloom analyze reach … | head -1` where head has already gone: the first write meets a closed pipe.
    let dir = TempDir::new("closed-pipe");
    let points = dir.path().join("points.csv");
    let rows: String = (0..50).map(|i| format!("W{i:03},1.2,{:.2},0.8,0,1,0,0\n", i as f64 * 0.01)).collect();
    std::fs::write(&points, format!("id,x,y,z,qw,qx,qy,qz\n{rows}")).unwrap();
    let mut child = twinloom()
        .args(["analyze", "reach", "--robot", "abb-irb2400", "--points"])
        .arg(&points)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
