//! The MES part end to end on real message sequences: docs/mes.md's examples in page order (every JSON
//! block parsed and checked), a shift of cars from tests/peers/mes_feed.py written to `mes.usda` and read
//! back with Pixar's usd-core through a root stage (WIP prims, attributes, station relationship,
//! genealogy, the VIN each station shows, finished cars gone; portable without the Twinloom plugin), the
//! live edits of the run rebuilding the saved layer (in Rust and with the docs' Python client), and a
//! restart in the middle of a noisy feed giving the same layer as a clean run.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde::Deserialize;
use serde_json::{json, Value as Json};
use twinloom_connector::mes::{apply_edits, Edit, Mes, MesConfig, Reason, LAYER_FILE};
use twinloom_tests::{assert_portable_stage, check_output, python, workspace_root, TempDir};
use twinloom_usd::Layer;
use twinloom_usd_schemas::{plugin_path_env, PXR_PLUGIN_PATH_VAR};

const VIN: &str = "WVWZZZE1ZPP000123";
const CAR: &str = "/Plant/Assembly/WIP/WVWZZZE1ZPP000123";
const ST010: &str = "/Plant/Assembly/Line1/Station010";
const ST020: &str = "/Plant/Assembly/Line1/Station020";

#[derive(Deserialize)]
struct File {
    mes: MesConfig,
}

fn parse_config(text: &str) -> MesConfig {
    let cfg = toml::from_str::<File>(text).expect("a valid [mes] table").mes;
    assert!(cfg.check("Plant").is_empty(), "{:?}", cfg.check("Plant"));
    cfg
}

/// The fenced blocks of a Markdown file: (language, text).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_string(), String::new())),
            (Some(_), Some(_)) => out.extend(current.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

/// Runs a Python script in the venv with the Twinloom schemas on the plugin path; returns stdout.
fn python_with_schemas(script: &str, args: &[&str]) -> String {
    let path = plugin_path_env(None);
    twinloom_tests::run_python_with_env(
        script,
        args,
        &[(PXR_PLUGIN_PATH_VAR, &path)],
        "python with the Twinloom schemas",
    )
}

/// tests/peers/mes_feed.py's output for `args`, one message per line.
fn feed(args: &[&str]) -> Vec<String> {
    let out = Command::new(python())
        .arg(workspace_root().join("tests/peers/mes_feed.py"))
        .args(args)
        .output()
        .expect("start mes_feed.py");
    check_output("mes_feed.py", &out);
    String::from_utf8(out.stdout).expect("UTF-8").lines().map(str::to_string).collect()
}

fn feed_config(stations: usize) -> MesConfig {
    parse_config(&feed(&["--config", "--stations", &stations.to_string()]).join("\n"))
}

/// Every spec of a layer below `path`: prims (specifier, type, API schemas), attributes (type and
/// default) and relationships (targets), by path.
fn dump(layer: &Layer, path: &str, out: &mut BTreeMap<String, String>) {
    let spec = layer.prim(path).expect("prim spec");
    if path != "/" {
        let api = layer.api_schemas(path).unwrap_or_default();
        out.insert(path.to_string(), format!("{:?} {} {api:?}", spec.specifier, spec.type_name));
    }
    for prop in &spec.properties {
        let p = format!("{path}.{prop}");
        let v = match layer.attribute(&p) {
            Ok(a) => format!("{} = {:?}", a.type_name, layer.default_value(&p).expect("default")),
            Err(_) => format!("rel {:?}", layer.relationship_targets(&p).expect("relationship")),
        };
        out.insert(p, v);
    }
    for child in &spec.children {
        let c = if path == "/" { format!("/{child}") } else { format!("{path}/{child}") };
        dump(layer, &c, out);
    }
}

fn dump_file(file: &Path) -> BTreeMap<String, String> {
    let layer = Layer::open(file).expect("open the saved layer");
    let mut out = BTreeMap::new();
    dump(&layer, "/", &mut out);
    out
}

fn ingest_lines(mes: &mut Mes, lines: &[String], edits: &mut Vec<Edit>) -> usize {
    let mut rejected = 0;
    for line in lines {
        let r = mes.ingest(line.as_bytes(), "plant/mes/events");
        rejected += r.rejected.len();
        edits.extend(r.edits);
        mes.save_if_due().expect("save");
    }
    rejected
}

#[test]
fn docs_examples_apply_in_page_order() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/mes.md")).expect("docs/mes.md");
    let blocks = fenced_blocks(&doc);
    let toml_blocks: Vec<&String> = blocks.iter().filter(|(l, _)| l == "toml").map(|(_, t)| t).collect();
    assert_eq!(toml_blocks.len(), 1);
    let cfg = parse_config(toml_blocks[0]);
    assert!(cfg.authorizes("test"));
    let dir = TempDir::new("mes-docs");
    let mut mes = Mes::open(dir.path(), "Plant", &cfg).expect("open");
    let mut edits_of: BTreeMap<String, Vec<Edit>> = BTreeMap::new();
    let mut last_report = Json::Null;
    let (mut payloads, mut checked) = (0, 0);
    for (lang, text) in blocks.iter().filter(|(l, _)| l == "json") {
        let v: Json =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("docs/mes.md block is not JSON ({e}):\n{text}"));
        let first = if v.is_array() { &v[0] } else { &v };
        assert_eq!(lang, "json");
        if first.get("messageId").is_some() {
            let r = mes.ingest(text.as_bytes(), "http");
            let id = first["messageId"].as_str().unwrap().to_string();
            edits_of.entry(id).or_insert_with(|| r.edits.clone());
            last_report = serde_json::to_value(&r).unwrap();
            payloads += 1;
            let w = mes.wip();
            // The state each example leads to.
            match payloads {
                1 => {
                    let car = w.car(VIN).expect("car in work");
                    assert_eq!(r.applied, 1, "{last_report}");
                    assert_eq!(car.prim, CAR);
                    assert_eq!(
                        (car.order_id.as_str(), car.model.as_str(), car.variant.as_str()),
                        ("4500012345", "ID.4", "Pro Performance")
                    );
                    assert_eq!(car.options, ["PANORAMA_ROOF", "TOW_BAR", "HEAT_PUMP"]);
                    assert_eq!(
                        (car.sequence, car.released_at_ms, car.station.as_deref()),
                        (1042, 1_764_057_600_000, None)
                    );
                }
                2 => {
                    assert_eq!(w.car(VIN).unwrap().station.as_deref(), Some(ST010));
                    assert_eq!(w.station_vin(ST010), Some(VIN));
                }
                3 => {
                    let g = &w.car(VIN).unwrap().genealogy;
                    assert_eq!(g.len(), 1);
                    assert_eq!(
                        (g[0].lot.as_str(), g[0].serial.as_str(), g[0].quantity, g[0].unit.as_str()),
                        ("LOT-2025-11-0042", "BAT-88213", 1.0, "EA")
                    );
                    assert_eq!((g[0].station.as_str(), g[0].at_ms), (ST010, 1_764_057_750_500));
                }
                4 => {
                    let car = w.car(VIN).unwrap();
                    assert_eq!(
                        (car.last_operation.as_str(), car.last_result.as_str(), car.station.as_deref()),
                        ("MARRIAGE", "OK", None)
                    );
                    assert_eq!(w.station_vin(ST010), None);
                    assert_eq!(r.applied, 2);
                }
                5 => {
                    let car = w.car(VIN).unwrap();
                    assert_eq!(
                        (car.station.as_deref(), car.genealogy.len(), car.genealogy[1].quantity),
                        (Some(ST020), 2, 4.0)
                    );
                    assert_eq!(car.genealogy[1].name, "tn__11A601025_");
                }
                6 => {
                    assert!(w.car(VIN).is_none() && w.is_finished(VIN) && w.station_vin(ST020).is_none());
                }
                7 => {
                    assert_eq!((r.received, r.applied, r.rejected.len(), r.http_status()), (4, 0, 4, 200));
                }
                n => panic!("docs/mes.md has more message examples ({n}) than this test checks"),
            }
        } else if v.get("received").is_some() {
            assert_eq!(v, last_report, "the documented answer is what the connector answers");
            checked += 1;
        } else if v.get("type") == Some(&json!("delta")) {
            let edits: Vec<Edit> = serde_json::from_value(v["edits"].clone()).expect("documented edits");
            assert_eq!(edits, edits_of["MES-0002"], "the documented delta carries MES-0002's edits");
            checked += 1;
        } else {
            let edits: Vec<Edit> = serde_json::from_value(v).expect("a JSON block of edits");
            assert_eq!(edits, edits_of["MES-0008"], "the documented edits are MES-0008's");
            checked += 1;
        }
    }
    assert_eq!((payloads, checked), (7, 3));
    let c = mes.counters();
    assert_eq!(c.applied(), 8, "1 + 1 + 1 + 2 + 2 + 1 messages over the six accepted payloads");
    for (reason, n) in [
        (Reason::Duplicate, 1),
        (Reason::FinishedVin, 1),
        (Reason::MissingField, 1),
        (Reason::UnknownMessageType, 1),
        (Reason::OutOfOrder, 0),
    ] {
        assert_eq!(c.rejected(reason), n, "{reason}");
    }
    // The Python client on the page is valid Python.
    let py: Vec<&String> = blocks.iter().filter(|(l, _)| l == "python").map(|(_, t)| t).collect();
    assert_eq!(py.len(), 1);
}

/// Writes a layout (site, shop, line, stations placed along x) and `plant.usda` sublayering `mes.usda`
/// over it; reads the composed stage back and prints the cars and stations as JSON.
const READ_BACK: &str = r#"
import json, sys
from pxr import Usd, UsdGeom, Sdf, Gf
folder, stations = sys.argv[1], int(sys.argv[2])
layout = Usd.Stage.CreateNew(folder + "/layout.usda")
UsdGeom.SetStageUpAxis(layout, UsdGeom.Tokens.z)
UsdGeom.SetStageMetersPerUnit(layout, 1.0)
def element(path, api):
    prim = UsdGeom.Xform.Define(layout, path).GetPrim()
    assert prim.ApplyAPI(api), (path, api)
    return prim
layout.SetDefaultPrim(element("/Plant", "TwinloomSiteAPI"))
element("/Plant/Assembly", "TwinloomAreaAPI")
element("/Plant/Assembly/Line1", "TwinloomLineAPI")
for k in range(stations):
    st = element(f"/Plant/Assembly/Line1/Station{(k + 1) * 10:03d}", "TwinloomStationAPI")
    UsdGeom.Xformable(st).AddTranslateOp().Set(Gf.Vec3d(6.0 * k, 0.0, 0.0))
layout.GetRootLayer().Save()
root = Sdf.Layer.CreateNew(folder + "/plant.usda")
root.subLayerPaths = ["mes.usda", "layout.usda"]
root.defaultPrim = "Plant"
root.Save()
stage = Usd.Stage.Open(folder + "/plant.usda")
UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
UsdGeom.SetStageMetersPerUnit(stage, 1.0)
root.Save()

stage = Usd.Stage.Open(folder + "/plant.usda")
cars = {}
for car in stage.GetPrimAtPath("/Plant/Assembly/WIP").GetChildren():
    assert car.GetTypeName() == "Xform", car
    assert car.GetAppliedSchemas() == ["TwinloomWorkInProcessAPI"], car.GetAppliedSchemas()
    a = lambda name: car.GetAttribute("twinloom:wip:" + name).Get()
    targets = car.GetRelationship("twinloom:wip:station").GetTargets()
    station = stage.GetPrimAtPath(targets[0]) if targets else None
    parts = []
    genealogy = car.GetChild("Genealogy")
    assert genealogy.GetTypeName() == "Scope"
    for p in genealogy.GetChildren():
        assert p.GetTypeName() == "Scope" and p.HasAPI("TwinloomMaterialActualAPI")
        m = lambda name: p.GetAttribute("twinloom:material:" + name).Get()
        parts.append({"part": m("partNumber"), "lot": m("lot"), "serial": m("serial"), "quantity": m("quantity"),
                      "unit": m("unit"), "station": [str(t) for t in p.GetRelationship("twinloom:material:station").GetTargets()]})
    cars[a("vin")] = {"prim": str(car.GetPath()), "order": a("orderId"), "model": a("model"), "variant": a("variant"),
                      "options": list(a("options")), "sequence": a("sequence"), "enteredAtMs": a("enteredAtMs"),
                      "lastOperation": a("lastOperation"), "station": [str(t) for t in targets],
                      "stationShows": station.GetAttribute("twinloom:currentVin").Get() if station else None,
                      "stationIsA": station.GetTypeName() if station else None, "parts": parts}
shows = {str(p.GetPath()): p.GetAttribute("twinloom:currentVin").Get()
         for p in stage.Traverse() if p.HasAPI("TwinloomStationAPI")}
print(json.dumps({"cars": cars, "stations": shows}))
"#;

fn vin(i: usize) -> String {
    format!("WVWZZZE1ZPP{:06}", 100_000 + i)
}

fn station(k: usize) -> String {
    format!("/Plant/Assembly/Line1/Station{:03}", (k + 1) * 10)
}

/// 8 cars, 5 stations, 7 takt steps: cars 0 and 1 have left the shop, 7 is not released yet, and car
/// i of 2..=6 is in station 6 - i with one part per station it has been in.
#[test]
fn a_shift_reads_back_with_usd_core_and_is_portable() {
    let dir = TempDir::new("mes-shift");
    let cfg = MesConfig { save_interval_ms: 50, ..feed_config(5) };
    let lines = feed(&["--print", "--cars", "8", "--stations", "5", "--steps", "7"]);
    let mut mes = Mes::open(dir.path(), "Plant", &cfg).expect("open");
    let mut edits = Vec::new();
    assert_eq!(ingest_lines(&mut mes, &lines, &mut edits), 0);
    mes.save().expect("save");
    let counters = mes.counters();
    assert_eq!((counters.applied(), counters.cars_in_work()), (lines.len() as u64, 5));
    assert!(counters.saves() >= 1);
    drop(mes);

    let folder = dir.path().to_str().expect("UTF-8 path");
    let got: Json = serde_json::from_str(&python_with_schemas(READ_BACK, &[folder, "5"])).expect("JSON");
    let cars = got["cars"].as_object().expect("cars");
    let mut vins: Vec<&String> = cars.keys().collect();
    vins.sort();
    assert_eq!(vins, (2..=6).map(vin).collect::<Vec<_>>().iter().collect::<Vec<_>>(), "{got}");
    for i in 2..=6 {
        let k = 6 - i;
        let car = &cars[&vin(i)];
        assert_eq!(car["prim"], format!("/Plant/Assembly/WIP/{}", vin(i)));
        assert_eq!(car["order"], format!("45000{}", 12_000 + i));
        assert_eq!(car["sequence"], 1000 + i);
        assert_eq!(car["station"], json!([station(k)]), "{car}");
        assert_eq!((car["stationShows"].as_str(), car["stationIsA"].as_str()), (Some(vin(i).as_str()), Some("Xform")));
        let parts = car["parts"].as_array().expect("parts");
        assert_eq!(parts.len(), k + 1, "{car}");
        assert_eq!(parts[0]["part"], "1EA915105");
        assert_eq!(parts[0]["serial"], format!("SN-5105-{i:06}"));
        assert_eq!(parts[0]["station"], json!([station(0)]));
        if k >= 1 {
            assert_eq!((parts[1]["quantity"].as_f64(), parts[1]["unit"].as_str()), (Some(4.0), Some("EA")));
        }
    }
    assert_eq!(cars[&vin(2)]["options"], json!(["TOW_BAR"]));
    assert_eq!(cars[&vin(3)]["options"], json!(["PANORAMA_ROOF", "TOW_BAR"]));
    assert_eq!(cars[&vin(4)]["lastOperation"], "SEATS");
    assert_eq!(cars[&vin(6)]["lastOperation"], "MARRIAGE");
    let shows: BTreeMap<String, String> = serde_json::from_value(got["stations"].clone()).expect("stations");
    let want: BTreeMap<String, String> = (0..5).map(|k| (station(k), vin(6 - k))).collect();
    assert_eq!(shows, want);
    assert_portable_stage(&dir.path().join("plant.usda"));
}

/// Compares the docs' Python client's copy (all edits applied to an empty layer) with the saved layer.
const CLIENT: &str = r#"
import json, sys
from pxr import Sdf
sys.path.insert(0, sys.argv[1])
from mes_client import apply
saved = Sdf.Layer.FindOrOpen(sys.argv[2])
copy = Sdf.Layer.CreateAnonymous(".usda")
with open(sys.argv[3]) as f:
    for line in f:
        apply(copy, json.loads(line))

def dump(layer):
    out = {}
    def visit(path):
        spec = layer.GetObjectAtPath(path)
        if isinstance(spec, Sdf.PrimSpec):
            api = spec.GetInfo("apiSchemas") if spec.HasInfo("apiSchemas") else None
            out[str(path)] = [str(spec.specifier), spec.typeName, list(api.prependedItems) if api else []]
        elif isinstance(spec, Sdf.AttributeSpec):
            v = spec.default
            out[str(path)] = [str(spec.typeName), list(v) if hasattr(v, "__len__") and not isinstance(v, str) else v]
        elif isinstance(spec, Sdf.RelationshipSpec):
            out[str(path)] = ["rel", [str(t) for t in spec.targetPathList.explicitItems], spec.targetPathList.isExplicit]
    layer.Traverse(Sdf.Path.absoluteRootPath, visit)
    out.pop("/", None)
    return out

a, b = dump(saved), dump(copy)
for k in sorted(set(a) | set(b)):
    assert a.get(k) == b.get(k), f"{k}: saved {a.get(k)} client {b.get(k)}"
print(len(a))
"#;

#[test]
fn live_edits_rebuild_the_saved_layer() {
    let dir = TempDir::new("mes-live");
    let cfg = MesConfig { save_interval_ms: 0, ..feed_config(5) };
    // A whole run with noise: cars appear, move, are displaced by nothing, leave; rejected messages have
    // no edits.
    let lines = feed(&["--print", "--cars", "9", "--stations", "5", "--steps", "10", "--noise"]);
    let mut mes = Mes::open(dir.path(), "Plant", &cfg).expect("open");
    let edits_file = dir.path().join("edits.jsonl");
    let mut jsonl = String::new();
    let mut all = Vec::new();
    for line in &lines {
        let r = mes.ingest(line.as_bytes(), "http");
        if !r.edits.is_empty() {
            jsonl.push_str(&serde_json::to_string(&r.edits).unwrap());
            jsonl.push('\n');
        }
        all.extend(r.edits);
    }
    mes.save().expect("save");
    let counters = mes.counters();
    assert!(counters.rejected(Reason::Duplicate) > 0 && counters.rejected(Reason::OutOfOrder) > 0);
    assert!(counters.rejected(Reason::UnknownVin) > 0);
    assert!(all.iter().any(|e| matches!(e, Edit::Remove { .. })), "cars left the shop");
    drop(mes);
    let saved_file = dir.path().join(LAYER_FILE);
    let saved = dump_file(&saved_file);
    assert!(saved.len() > 100, "{}", saved.len());

    // In Rust: the edits applied to an empty layer give the saved layer's specs.
    let mut copy = Layer::create_anonymous("mes-live-copy", "usda").expect("layer");
    apply_edits(&mut copy, &all).expect("apply");
    let mut got = BTreeMap::new();
    dump(&copy, "/", &mut got);
    assert_eq!(got, saved);

    // In Python, with the client function from docs/mes.md.
    let doc = std::fs::read_to_string(workspace_root().join("docs/mes.md")).expect("docs/mes.md");
    let client = fenced_blocks(&doc).into_iter().find(|(l, _)| l == "python").expect("python block").1;
    std::fs::write(dir.path().join("mes_client.py"), client).expect("write client");
    std::fs::write(&edits_file, jsonl).expect("write edits");
    let out = twinloom_tests::run_python(
        CLIENT,
        &[dir.path().to_str().unwrap(), saved_file.to_str().unwrap(), edits_file.to_str().unwrap()],
    );
    assert!(out.trim().parse::<usize>().expect("a count") > 100, "{out}");
}

#[test]
fn a_restart_keeps_the_cars_in_work_and_noise_changes_nothing() {
    let cfg = MesConfig { save_interval_ms: 10_000, ..feed_config(4) };
    let args = ["--print", "--cars", "7", "--stations", "4", "--steps", "8"];
    let clean = feed(&args);
    let noisy = feed(&[&args[..], &["--noise"]].concat());
    assert!(noisy.len() > clean.len());

    let a = TempDir::new("mes-clean");
    let mut mes = Mes::open(a.path(), "Plant", &cfg).expect("open");
    assert_eq!(ingest_lines(&mut mes, &clean, &mut Vec::new()), 0);
    let applied = mes.counters().applied();
    mes.save().expect("save");
    drop(mes);

    let b = TempDir::new("mes-restart");
    let half = noisy.len() / 2;
    let mut mes = Mes::open(b.path(), "Plant", &cfg).expect("open");
    let mut rejected = ingest_lines(&mut mes, &noisy[..half], &mut Vec::new());
    let before: Vec<_> = {
        let mut cars: Vec<_> = mes.wip().cars().cloned().collect();
        cars.sort_by(|x, y| x.vin.cmp(&y.vin));
        cars
    };
    assert!(!before.is_empty());
    let applied_first = mes.counters().applied();
    mes.save().expect("save at shutdown");
    drop(mes);
    let mut mes = Mes::open(b.path(), "Plant", &cfg).expect("reopen");
    let mut after: Vec<_> = mes.wip().cars().cloned().collect();
    after.sort_by(|x, y| x.vin.cmp(&y.vin));
    assert_eq!(after, before, "the cars in work survive the restart");
    for car in &after {
        if let Some(st) = &car.station {
            assert_eq!(mes.wip().station_vin(st), Some(car.vin.as_str()));
        }
    }
    assert_eq!(mes.counters().cars_in_work(), before.len() as u64);
    rejected += ingest_lines(&mut mes, &noisy[half..], &mut Vec::new());
    let c = mes.counters();
    // The dedup window starts empty after the restart: a resend of a message from before it may apply
    // again, but applying the same station event twice changes nothing.
    assert!(applied_first + c.applied() >= applied, "{applied_first} + {} < {applied}", c.applied());
    assert!(rejected > 0);
    mes.save().expect("save");
    drop(mes);
    assert_eq!(dump_file(&b.path().join(LAYER_FILE)), dump_file(&a.path().join(LAYER_FILE)));
}
