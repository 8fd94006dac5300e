//! The flow study on stages built with the bridge: a deterministic three-station line (buffer, conveyor
//! whose speed comes from a live layer) against the closed form, read back with usd-core; errors naming
//! prim and attribute; the plant's files left byte-identical; and the sample plant's layout, with a
//! what-if layer that slows one assembly station.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use twinloom_flow_stage::{analyze, default_results_path, write_results, Error, Options, StageError, Study};
use twinloom_plant_layout::write_layout;
use twinloom_tests::{check_output, python, TempDir};
use twinloom_usd::{AttributeDef, Layer, Specifier, UpAxis, Value, ValueType};
use twinloom_usd_schemas::{attr, plugin_path_env, schema, PXR_PLUGIN_PATH_VAR};

const LINE: &str = "/Plant/Line";
/// Cycle times of the test line's stations, seconds: S2 is the slowest.
const CYCLE_TIMES: [(&str, f64); 3] = [("S1", 40.0), ("S2", 72.0), ("S3", 50.0)];

/// A root layer `name` in `dir` with Z up, metres, and the given sublayers (strongest first).
fn write_root(dir: &Path, name: &str, sublayers: &[&str]) -> PathBuf {
    let mut l = Layer::create_anonymous("root", "usda").expect("layer");
    l.set_default_prim("Plant").unwrap();
    l.set_up_axis(UpAxis::Z).unwrap();
    l.set_meters_per_unit(1.0).unwrap();
    l.set_sublayers(sublayers).unwrap();
    let path = dir.join(name);
    l.export_atomic(&path).expect("write root");
    path
}

fn set(l: &mut Layer, prim: &str, name: &str, value: Value) {
    let def = AttributeDef::new(name, value.value_type());
    l.set_attribute(prim, &def, &value).unwrap_or_else(|e| panic!("{prim}.{name}: {e}"));
}

/// A plant element as the layout writes it: an `Xform` with its element API schema applied.
fn element(l: &mut Layer, path: &str, api: &str) {
    l.define_prim(path, Specifier::Def, schema::PRIM_TYPE).unwrap();
    l.set_api_schemas(path, &[api]).unwrap();
}

/// The test plant: `plant.usda` over `live.usda` (the conveyor's speed) over `layout.usda`:
/// S1 (40 s) → Buffer1 (2 places) → S2 (72 s) → Conveyor1 (12 m at 0.1 m/s, 3 carriers) → S3 (50 s).
/// `edit` changes the layout before it is written.
fn test_plant(edit: impl FnOnce(&mut Layer)) -> (TempDir, PathBuf) {
    let dir = TempDir::new("flow-stage");
    let mut l = Layer::create_anonymous("layout", "usda").expect("layer");
    element(&mut l, "/Plant", schema::SITE);
    element(&mut l, LINE, schema::LINE);
    let station = |l: &mut Layer, k: usize| {
        let (name, t) = CYCLE_TIMES[k];
        let p = format!("{LINE}/{name}");
        element(l, &p, schema::STATION);
        set(l, &p, attr::CYCLE_TIME, Value::Double(t));
    };
    station(&mut l, 0);
    element(&mut l, &format!("{LINE}/Buffer1"), schema::BUFFER);
    set(&mut l, &format!("{LINE}/Buffer1"), attr::CAPACITY, Value::Int(2));
    station(&mut l, 1);
    let c = format!("{LINE}/Conveyor1");
    element(&mut l, &c, schema::CONVEYOR);
    set(&mut l, &c, attr::CAPACITY, Value::Int(3));
    set(&mut l, &c, attr::LENGTH, Value::Double(12.0));
    station(&mut l, 2);
    edit(&mut l);
    l.export_atomic(&dir.path().join("layout.usda")).expect("write layout");

    let mut live = Layer::create_anonymous("live", "usda").expect("layer");
    live.define_prim(&c, Specifier::Over, "").unwrap();
    set(&mut live, &c, attr::SPEED, Value::Double(0.1));
    live.export_atomic(&dir.path().join("live.usda")).expect("write live");
    let root = write_root(dir.path(), "plant.usda", &["./live.usda", "./layout.usda"]);
    (dir, root)
}

fn quick(lines: &[&str]) -> Options {
    Options {
        lines: lines.iter().map(|s| s.to_string()).collect(),
        replications: 3,
        seed: 7,
        horizon_h: 100.0,
        warmup_h: 2.0,
    }
}

/// Reads a composed stage with usd-core: one line per line prim (`line PATH TYPE throughput bottleneck`)
/// and per station (`station PATH TYPE util blocked starved isBottleneck`), and the results layer's
/// customLayerData (`meta seed replications lines stage notes`).
const READ_BACK: &str = r#"
import sys
from pxr import Usd, Sdf
stage = Usd.Stage.Open(sys.argv[1])
def element_api(p):
    return next(s for s in p.GetAppliedSchemas() if s.startswith("Twinloom") and s != "TwinloomEquipmentIdentityAPI")
for p in stage.Traverse():
    a = p.GetAttribute("twinloom:flow:throughputJph")
    if a and a.HasValue():
        t = p.GetRelationship("twinloom:flow:bottleneck").GetTargets()
        print("line", p.GetPath(), element_api(p), a.Get(), " ".join(str(x) for x in t))
    u = p.GetAttribute("twinloom:flow:utilisation")
    if u and u.HasValue():
        g = lambda n: p.GetAttribute("twinloom:flow:" + n).Get()
        print("station", p.GetPath(), element_api(p), u.Get(), g("blockedShare"), g("starvedShare"), g("isBottleneck"), g("modelCycleTimeS"))
d = Sdf.Layer.FindOrOpen(sys.argv[2]).customLayerData["twinloom"]["flow"]
print("meta", d["seed"], d["replications"], ",".join(d["lines"]), d["stage"], len(d["notes"]))
"#;

#[derive(Debug, Default)]
struct ReadBack {
    /// line prim -> (type, throughput, bottleneck targets)
    lines: BTreeMap<String, (String, f64, String)>,
    /// station prim -> (type, utilisation, blocked, starved, is bottleneck, model cycle time)
    stations: BTreeMap<String, (String, f64, f64, f64, bool, f64)>,
    meta: String,
}

/// Composes `results` over `stage` in a new root next to them and reads it back with usd-core.
fn read_back(stage: &Path, results: &Path) -> ReadBack {
    let dir = stage.parent().unwrap();
    let rel = |p: &Path| format!("./{}", p.file_name().unwrap().to_str().unwrap());
    let composed = write_root(dir, "with_results.usda", &[&rel(results), &rel(stage)]);
    let out = Command::new(python())
        .arg("-c")
        .arg(READ_BACK)
        .arg(&composed)
        .arg(results)
        .env(PXR_PLUGIN_PATH_VAR, plugin_path_env(None))
        .output()
        .expect("start python");
    check_output("read back the results layer", &out);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut r = ReadBack::default();
    for l in text.lines() {
        let f: Vec<&str> = l.split(' ').collect();
        let num = |i: usize| f[i].parse::<f64>().unwrap_or_else(|_| panic!("number in {l:?}"));
        match f[0] {
            "line" => {
                r.lines.insert(f[1].into(), (f[2].into(), num(3), f.get(4).copied().unwrap_or("").into()));
            }
            "station" => {
                r.stations.insert(f[1].into(), (f[2].into(), num(3), num(4), num(5), f[6] == "True", num(7)));
            }
            "meta" => r.meta = f[1..].join(" "),
            _ => panic!("unexpected output {l:?}"),
        }
    }
    r
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn deterministic_line_matches_the_closed_form_and_reads_back_with_usd_core() {
    let (dir, root) = test_plant(|_| {});
    let study = analyze(&root, &quick(&[])).expect("study");
    assert_eq!(study.lines.len(), 1);
    let r = &study.lines[0];
    assert_eq!(r.line.prim, LINE);
    assert_eq!(r.line.stations, ["/Plant/Line/S1", "/Plant/Line/S2", "/Plant/Line/S3"]);
    // The links as read: buffer of 2 after S1; conveyor after S2 with 12 m / 0.1 m/s = 120 s (speed from
    // the live layer), 3 carriers.
    let links: Vec<_> =
        r.line.model.stations.iter().map(|s| s.next.clone().map(|l| (l.capacity, l.transport_s))).collect();
    assert_eq!(links, [Some((2, 0.0)), Some((3, 120.0)), None]);
    assert!(r.line.notes.is_empty(), "{:?}", r.line.notes);

    // Closed form of a deterministic serial line with a saturated source: 3600 / max cycle time; the
    // slowest station is always busy, the one before it blocked and the one after it starved for the rest.
    let max = CYCLE_TIMES.iter().map(|c| c.1).fold(0.0, f64::max);
    let expected = 3600.0 / max;
    assert!(close(r.summary.throughput_per_h.mean, expected, 0.02), "throughput {}", r.summary.throughput_per_h.mean);
    assert_eq!(r.bottleneck_prim(), Some("/Plant/Line/S2"));
    let s = &r.summary.stations;
    for (st, (name, t)) in s.iter().zip(CYCLE_TIMES) {
        assert!(close(st.utilisation.mean, t / max, 1e-3), "{name}: {st:?}");
        // Upstream of the bottleneck the rest of the time is blocked, downstream it is starved.
        let (blocked, starved) = if name == "S1" { (1.0 - t / max, 0.0) } else { (0.0, 1.0 - t / max) };
        assert!(close(st.blocked.mean, blocked, 1e-3) && close(st.starved.mean, starved, 1e-3), "{name}: {st:?}");
    }

    let results = default_results_path(&root);
    assert_eq!(results, dir.path().join("flow-results.usda"));
    write_results(&study, &results).expect("write results");
    let back = read_back(&root, &results);
    let (ty, tput, bottleneck) = &back.lines[LINE];
    assert_eq!(ty, schema::LINE, "the over composes onto the line");
    assert!(close(*tput, expected, 0.02), "read back throughput {tput}");
    assert_eq!(bottleneck, "/Plant/Line/S2");
    assert_eq!(back.stations.len(), 3);
    for (name, t) in CYCLE_TIMES {
        let (ty, util, blocked, starved, is_b, ct) = &back.stations[&format!("{LINE}/{name}")];
        assert_eq!(ty, schema::STATION);
        assert_eq!(*is_b, name == "S2", "{name}");
        assert_eq!(*ct, t);
        assert!(close(*util, t / max, 1e-3), "{name} utilisation {util}");
        let (want_blocked, want_starved) = if name == "S1" { (1.0 - t / max, 0.0) } else { (0.0, 1.0 - t / max) };
        assert!(
            close(*blocked, want_blocked, 1e-3) && close(*starved, want_starved, 1e-3),
            "{name}: {blocked} {starved}"
        );
    }
    assert_eq!(back.meta, format!("7 3 {LINE} {} 0", root.canonicalize().unwrap().display()));
}

#[test]
fn missing_or_wrong_attributes_name_prim_and_attribute() {
    // A station with neither a cycle time nor a takt time.
    let (_dir, root) = test_plant(|l| l.remove_spec("/Plant/Line/S2.twinloom:cycleTime").unwrap());
    let err = analyze(&root, &quick(&[])).unwrap_err();
    match &err {
        Error::Stage(StageError::MissingAttribute { prim, attribute, .. }) => {
            assert_eq!((prim.as_str(), attribute.as_str()), ("/Plant/Line/S2", attr::CYCLE_TIME));
        }
        other => panic!("expected a missing attribute, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("/Plant/Line/S2") && text.contains("twinloom:cycleTime"), "{text}");

    // A takt time stands in for a missing cycle time, and says so.
    let (_dir, root) = test_plant(|l| {
        l.remove_spec("/Plant/Line/S2.twinloom:cycleTime").unwrap();
        set(l, "/Plant/Line/S2", attr::TAKT_TIME, Value::Double(90.0));
    });
    let study = analyze(&root, &quick(&[])).expect("study with a takt time");
    let r = &study.lines[0];
    assert!(close(r.summary.throughput_per_h.mean, 40.0, 0.02), "{}", r.summary.throughput_per_h.mean);
    assert!(
        r.line.notes.iter().any(|n| n.contains("/Plant/Line/S2") && n.contains("twinloom:taktTime")),
        "{:?}",
        r.line.notes
    );

    // A buffer capacity of the wrong type.
    let (_dir, root) = test_plant(|l| {
        l.remove_spec("/Plant/Line/Buffer1.twinloom:capacity").unwrap();
        set(l, "/Plant/Line/Buffer1", attr::CAPACITY, Value::String("two".into()));
    });
    let err = analyze(&root, &quick(&[])).unwrap_err();
    assert!(
        matches!(&err, Error::Stage(StageError::WrongType { prim, attribute, .. })
        if prim == "/Plant/Line/Buffer1" && attribute == attr::CAPACITY),
        "{err:?}"
    );
    assert!(err.to_string().contains("must be an int, not string"), "{err}");

    // A conveyor between stations without a length.
    let (_dir, root) = test_plant(|l| l.remove_spec("/Plant/Line/Conveyor1.twinloom:length").unwrap());
    let err = analyze(&root, &quick(&[])).unwrap_err();
    assert!(
        matches!(&err, Error::Stage(StageError::MissingAttribute { prim, attribute, .. })
        if prim == "/Plant/Line/Conveyor1" && attribute == attr::LENGTH),
        "{err:?}"
    );

    // --line naming a station, and naming nothing.
    let (_dir, root) = test_plant(|_| {});
    let err = analyze(&root, &quick(&["/Plant/Line/S1"])).unwrap_err();
    assert!(
        matches!(&err, Error::NotALine { prim, found } if prim == "/Plant/Line/S1" && found.contains(schema::STATION)),
        "{err:?}"
    );
    let err = analyze(&root, &quick(&["/Plant/Nowhere"])).unwrap_err();
    assert!(err.to_string().contains("no prim at /Plant/Nowhere"), "{err}");
}

fn bytes_of(dir: &Path, names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|n| std::fs::read(dir.join(n)).expect("read plant file")).collect()
}

#[test]
fn the_plant_files_stay_byte_identical() {
    let (dir, root) = test_plant(|_| {});
    let plant = ["plant.usda", "live.usda", "layout.usda"];
    let before = bytes_of(dir.path(), &plant);
    let study = analyze(&root, &quick(&[])).expect("study");
    // Refused: the root, a live layer (spelled another way), the layout.
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    for out in [root.clone(), dir.path().join("./live.usda"), dir.path().join("sub/../layout.usda")] {
        let err = write_results(&study, &out).unwrap_err();
        assert!(matches!(err, StageError::WouldOverwriteStage { .. }), "{}: {err:?}", out.display());
    }
    write_results(&study, &default_results_path(&root)).expect("write results");
    write_results(&study, &dir.path().join("other.usda")).expect("write results with --out");
    assert_eq!(bytes_of(dir.path(), &plant), before, "a plant file changed");
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["flow-results.usda", "layout.usda", "live.usda", "other.usda", "plant.usda"]);
}

/// The sample plant's layout (`twinloom-plant-layout`) under a root `plant.usda`.
fn sample_plant() -> (TempDir, PathBuf) {
    let dir = TempDir::new("flow-stage-sample");
    write_layout(&dir.path().join("layout.usda")).expect("write layout");
    let root = write_root(dir.path(), "plant.usda", &["./layout.usda"]);
    (dir, root)
}

fn throughput(study: &Study, line: &str) -> f64 {
    study.lines.iter().find(|l| l.line.prim == line).expect("line simulated").summary.throughput_per_h.mean
}

#[test]
fn sample_plant_lines_and_a_what_if_that_slows_one_station() {
    let (dir, root) = sample_plant();
    let files = ["plant.usda", "layout.usda", "layout_geometry.usdc"];
    let before = bytes_of(dir.path(), &files);

    // Every line with stations: BIW (6) and assembly (12). The layout authors cycleTime 0 (a live value)
    // and taktTime 60, so every station works at takt: 60 jobs/h.
    let study = analyze(&root, &quick(&[])).expect("study of the sample plant");
    let prims: Vec<&str> = study.lines.iter().map(|l| l.line.prim.as_str()).collect();
    assert_eq!(prims, ["/Plant/BIW/Line", "/Plant/Assembly/Line"]);
    assert_eq!(study.skipped, ["/Plant/Paint/Pretreatment", "/Plant/Paint/Booths", "/Plant/Paint/Oven"]);
    assert_eq!(study.lines[0].line.stations.len(), 6);
    assert_eq!(study.lines[1].line.stations.len(), 12);
    for l in &study.lines {
        assert!(
            close(l.summary.throughput_per_h.mean, 60.0, 0.02),
            "{}: {}",
            l.line.prim,
            l.summary.throughput_per_h.mean
        );
        assert!(l.line.notes.iter().any(|n| n.contains("twinloom:taktTime")), "{:?}", l.line.notes);
        // The line-long conveyor comes before the first station: reported, not modelled.
        assert!(
            l.line.notes.iter().any(|n| n.starts_with(&format!("{}/Conveyor:", l.line.prim))),
            "{:?}",
            l.line.notes
        );
    }

    // A what-if sibling: its own root over an overrides layer and the plant; Station05 takes 75 s.
    let mut over = Layer::create_anonymous("whatif", "usda").expect("layer");
    let st5 = "/Plant/Assembly/Line/Station05";
    over.define_prim(st5, Specifier::Over, "").unwrap();
    over.set_attribute(st5, &AttributeDef::new(attr::CYCLE_TIME, ValueType::Double), &Value::Double(75.0)).unwrap();
    over.export_atomic(&dir.path().join("slow-station05.usda")).unwrap();
    let whatif = write_root(dir.path(), "whatif.usda", &["./slow-station05.usda", "./plant.usda"]);
    let study = analyze(&whatif, &quick(&["/Plant/Assembly/Line"])).expect("what-if study");
    assert!(
        close(throughput(&study, "/Plant/Assembly/Line"), 48.0, 0.02),
        "{}",
        throughput(&study, "/Plant/Assembly/Line")
    );
    assert_eq!(study.lines[0].bottleneck_prim(), Some(st5));
    let results = default_results_path(&whatif);
    write_results(&study, &results).expect("write what-if results");
    assert_eq!(bytes_of(dir.path(), &files), before, "a plant file changed");

    let back = read_back(&whatif, &results);
    // The what-if sibling with its results is placed the same without the Twinloom plugin, and passes
    // UsdValidation and omni_asset_validate both ways.
    let composed = write_root(dir.path(), "whatif_with_results.usda", &["./flow-results.usda", "./whatif.usda"]);
    let portable: serde_json::Value =
        serde_json::from_str(twinloom_tests::assert_portable_stage(&composed).trim()).expect("JSON summary");
    eprintln!("portable: {portable}");
    assert!(portable["prims_compared"].as_u64().is_some_and(|n| n > 300), "{portable}");
    let (_, tput, bottleneck) = &back.lines["/Plant/Assembly/Line"];
    assert!(close(*tput, 48.0, 0.02) && bottleneck == st5, "{tput} {bottleneck}");
    assert_eq!(back.stations.len(), 12);
    let flagged: Vec<&String> = back.stations.iter().filter(|s| s.1 .4).map(|s| s.0).collect();
    assert_eq!(flagged, [st5]);
    assert_eq!(back.stations[st5].5, 75.0);
    assert!(back.stations.values().all(|s| s.0 == schema::STATION));
    // The layer says what produced it: the what-if root, one line, and a note per defaulted value (the
    // 11 stations at takt) and the conveyor left out.
    let meta = format!("7 3 /Plant/Assembly/Line {} 12", whatif.canonicalize().unwrap().display());
    assert_eq!(back.meta, meta);
}

#[test]
fn variability_and_failures_from_the_flow_input_attributes() {
    use twinloom_flow::des::{Dist, Failures};
    use twinloom_flow_stage::{CYCLE_TIME_SD, MTBF, MTTR};
    // S1's cycle time varies (normal, sd 5 s); the bottleneck S2 fails every hour of work on average
    // and takes 6 minutes to repair.
    let (_dir, root) = test_plant(|l| {
        set(l, "/Plant/Line/S1", CYCLE_TIME_SD, Value::Double(5.0));
        set(l, "/Plant/Line/S2", MTBF, Value::Double(3600.0));
        set(l, "/Plant/Line/S2", MTTR, Value::Double(360.0));
    });
    let options = Options { horizon_h: 400.0, replications: 4, ..quick(&[]) };
    let study = analyze(&root, &options).expect("study");
    let r = &study.lines[0];
    assert_eq!(r.line.model.stations[0].time, Dist::Normal { mean: 40.0, sd: 5.0 });
    assert_eq!(r.line.model.stations[1].failures, Some(Failures { mtbf_s: 3600.0, mttr: Dist::Exp { mean: 360.0 } }));
    // The bottleneck is up MTBF / (MTBF + MTTR) of the time and the line loses what it loses.
    let availability = 3600.0 / (3600.0 + 360.0);
    let expected = 3600.0 / 72.0 * availability;
    let got = r.summary.throughput_per_h.mean;
    assert!((got - expected).abs() < 0.02 * expected, "throughput {got}, expected {expected:.2}");
    assert!(close(r.summary.stations[1].down.mean, 1.0 - availability, 0.01), "{:?}", r.summary.stations[1]);
    assert_eq!(r.bottleneck_prim(), Some("/Plant/Line/S2"));

    // Failures need both values.
    let (_dir, root) = test_plant(|l| set(l, "/Plant/Line/S2", MTBF, Value::Double(3600.0)));
    let err = analyze(&root, &quick(&[])).unwrap_err();
    assert!(
        matches!(&err, Error::Stage(StageError::MissingAttribute { prim, attribute, .. })
        if prim == "/Plant/Line/S2" && attribute == MTTR),
        "{err:?}"
    );
}
