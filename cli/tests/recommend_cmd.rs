//! `twinloom recommend` end to end with the built binary (docs/prescriptive.md):
//! - on the sample line model, the plant's throughput is exactly `twinloom flow --model`'s with the same seed
//!   and replications, the bottleneck gets an extra-operator candidate, the rebalance comes from the exact
//!   SALBP-2 balance of the sample tasks, and the ranking puts significant gains first;
//! - on a stage (the sample layout with measured cycle times in a layer above it), each sibling layer,
//!   opened as a stage by `twinloom flow --stage`, gives exactly the throughput the recommendation claims;
//!   the plant's files stay byte-identical; `recommendations.usda` read with usd-core holds every
//!   recommendation in state `proposed`; siblings and the results layer are portable (no Twinloom plugin);
//! - bad input (one replication, a tasks file that does not parse) is a clear message, never a number.

use std::path::Path;

use serde_json::Value;
use twinloom_plant_layout::Variant;
use twinloom_tests::{assert_portable_stage, run_python, workspace_root, TempDir};

#[path = "common/recommend.rs"]
mod recommend;
use recommend::{f, json_out, sample_stage, twinloom, Unchanged};

#[test]
fn model_recommendations_rest_on_the_flow_simulation() {
    let root = workspace_root();
    let model = root.join("samples/models/assembly_line.toml");
    let tasks = root.join("samples/models/assembly_line_tasks.alb");
    let (m, t) = (model.to_str().unwrap(), tasks.to_str().unwrap());
    let r = json_out(&twinloom(&root, &["recommend", "--model", m, "--tasks", t, "--replications", "6", "--json"]));
    let flow = json_out(&twinloom(&root, &["flow", "--model", m, "--replications", "6", "--json"]));
    // The plant: the same simulation as `twinloom flow`, bit for bit.
    assert_eq!(r["baseline"]["throughput_per_h"]["mean"], flow["line"]["throughput_per_h"]["mean"]);
    let bottleneck = flow["line"]["bottleneck"].as_str().unwrap();
    assert_eq!(r["baseline"]["bottleneck"], bottleneck);
    let recs = r["recommendations"].as_array().unwrap();
    let ids: Vec<&str> = recs.iter().map(|x| x["id"].as_str().unwrap()).collect();
    let op = format!("assembly-operator-{}", bottleneck.to_lowercase().replace('_', "-"));
    assert!(ids.contains(&op.as_str()), "{ids:?}");
    assert!(ids.contains(&"assembly-rebalance-assemblyline"), "{ids:?}");
    assert!(ids.iter().filter(|i| i.starts_with("assembly-buffer-")).count() == 2, "{ids:?}");
    // Ranks 1..n; significant gains first, then by the interval's lower end.
    let lower = |x: &Value| f(&x["effect"]["change"]) - f(&x["effect"]["ci95"]);
    for (i, x) in recs.iter().enumerate() {
        assert_eq!(x["rank"], i + 1);
        assert_eq!(x["state"], "proposed");
        assert_eq!(x["effect"]["replications"], 6);
        let e = &x["effect"];
        assert!((f(&e["value"]) - f(&e["baseline"]) - f(&e["change"])).abs() < 1e-9, "{x}");
        if i > 0 && (lower(&recs[i - 1]) > 0.0) == (lower(x) > 0.0) {
            assert!(lower(&recs[i - 1]) >= lower(x), "{ids:?}");
        }
    }
    // The rebalance states its exact balance: SALBP-2 over the 12 stations gives cycle time 51 (twinloom balance).
    let bal = json_out(&twinloom(&root, &["balance", t, "--stations", "12", "--json"]));
    let reb = recs.iter().find(|x| x["kind"] == "rebalance").unwrap();
    let c = bal["cycle_time"].as_u64().unwrap();
    assert!(
        reb["assumptions"][0].as_str().unwrap().contains(&format!("cycle time is {c} s (proven optimal)")),
        "{reb}"
    );
    // No stage: no layers.
    assert!(r["results_layer"].is_null());
    // docs/prescriptive.md's example, as written: one line for the plant, then each recommendation.
    let doc = std::fs::read_to_string(root.join("docs/prescriptive.md")).unwrap();
    let start = doc.find("```sh\n").unwrap() + 6;
    let cmd = &doc[start..start + doc[start..].find("```").unwrap()];
    let words: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(words[0], "twinloom");
    let out = twinloom(&root, &words[1..]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("AssemblyLine: {:.2} ± ", f(&flow_default_mean(&root, m)))), "{text}");
    for id in ["assembly-operator-a10-alignment", "assembly-rebalance-assemblyline"] {
        assert!(text.contains(&format!(" {id} [proposed]: throughput_per_h ")), "{text}");
    }
}

/// `twinloom flow --model`'s mean throughput with its defaults (10 replications, seed 1).
fn flow_default_mean(root: &Path, model: &str) -> Value {
    json_out(&twinloom(root, &["flow", "--model", model, "--json"]))["line"]["throughput_per_h"]["mean"].clone()
}

/// The sample layout with measured cycle times on the assembly line (Station05 the slowest) in a layer above it.
fn stage(dir: &Path) {
    let mut live = String::from("#usda 1.0\n\nover \"Plant\"\n{\n over \"Assembly\"\n {\n  over \"Line\"\n  {\n");
    for i in 1..=12 {
        let t = if i == 5 { 64.0 } else { 50.0 + (i % 4) as f64 };
        live.push_str(&format!(
            "   over \"Station{i:02}\"\n   {{\n    double twinloom:cycleTime = {t}\n    custom double twinloom:flow:cycleTimeSd = 3\n   }}\n"
        ));
    }
    live.push_str("  }\n }\n}\n");
    sample_stage(dir, Variant::Current, Some(&live));
}

#[test]
fn stage_siblings_reproduce_their_effect_and_the_plant_is_untouched() {
    let tmp = TempDir::new("recommend-stage");
    let dir = tmp.path();
    stage(dir);
    let before = Unchanged::read(dir, &["plant.usda", "live.usda", "layout.usda"]);
    let tasks = workspace_root().join("samples/models/assembly_line_tasks.alb");
    let r = json_out(&twinloom(
        dir,
        &[
            "recommend",
            "--stage",
            ".",
            "--domain",
            "assembly",
            "--replications",
            "5",
            "--tasks",
            tasks.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(r["line"], "/Plant/Assembly/Line");
    assert_eq!(r["baseline"]["bottleneck"], "Station05");
    let recs = r["recommendations"].as_array().unwrap();
    // No buffer prims between the sample line's stations: operator and rebalance only.
    let kinds: Vec<&str> = recs.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    let op = recs.iter().find(|x| x["kind"] == "operator").unwrap();
    assert_eq!(op["target"], "/Plant/Assembly/Line/Station05");
    assert!(f(&op["effect"]["change"]) - f(&op["effect"]["ci95"]) > 0.0, "a 64 s bottleneck at 38 s gains: {op}");
    for x in recs {
        let sibling = x["sibling"].as_str().unwrap();
        let out = dir.join(format!("flow-{sibling}"));
        let flow = json_out(&twinloom(
            dir,
            &[
                "flow",
                "--stage",
                sibling,
                "--line",
                "/Plant/Assembly/Line",
                "--replications",
                "5",
                "--out",
                out.to_str().unwrap(),
                "--json",
            ],
        ));
        let tp = f(&flow["lines"][0]["summary"]["throughput_per_h"]["mean"]);
        assert!((tp - f(&x["effect"]["value"])).abs() < 1e-9, "{sibling}: flow {tp}, recommendation {}", x["effect"]);
    }
    before.check();
    // The results layer, read with usd-core through a root that sublayers it over the operator's sibling
    // (which sublayers the plant): one portability check covers both kinds of layer.
    let sibling = op["sibling"].as_str().unwrap();
    std::fs::write(
        dir.join("check.usda"),
        format!(
            "#usda 1.0\n(\n    defaultPrim = \"Plant\"\n    metersPerUnit = 1\n    upAxis = \"Z\"\n    subLayers = [@./recommendations.usda@, @./{sibling}@]\n)\n"
        ),
    )
    .unwrap();
    let read = run_python(
        r#"
import json, sys
from pxr import Usd
st = Usd.Stage.Open(sys.argv[1])
out = []
for p in st.GetPrimAtPath("/Plant/Recommendations").GetChildren():
    g = lambda n: p.GetAttribute("twinloom:rec:" + n).Get()
    out.append({"type": p.GetTypeName(), "id": g("id"), "rank": g("rank"), "state": g("state"), "change": g("change"), "sibling": g("sibling")})
print(json.dumps(out))
"#,
        &[dir.join("check.usda").to_str().unwrap()],
    );
    let got: Vec<Value> = serde_json::from_str(read.trim()).unwrap();
    assert_eq!(got.len(), recs.len());
    for (g, x) in got.iter().zip(recs) {
        assert_eq!(g["type"], "Scope");
        assert_eq!(g["id"], x["id"]);
        assert_eq!(g["rank"], x["rank"]);
        assert_eq!(g["state"], "proposed");
        assert_eq!(g["sibling"], x["sibling"]);
        assert!((f(&g["change"]) - f(&x["effect"]["change"])).abs() < 1e-9);
    }
    assert_portable_stage(&dir.join("check.usda"));
}

#[test]
fn bad_input_is_a_clear_message() {
    let root = workspace_root();
    let m = root.join("samples/models/assembly_line.toml");
    let out = twinloom(&root, &["recommend", "--model", m.to_str().unwrap(), "--replications", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replications must be at least 2"));
    let tmp = TempDir::new("recommend-bad");
    let bad = tmp.path().join("tasks.alb");
    std::fs::write(&bad, "<number of tasks>\nthree\n").unwrap();
    let r = json_out(&twinloom(
        &root,
        &[
            "recommend",
            "--model",
            m.to_str().unwrap(),
            "--tasks",
            bad.to_str().unwrap(),
            "--replications",
            "2",
            "--json",
        ],
    ));
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{r}");
    assert_eq!(failed[0]["id"], "assembly-rebalance-assemblyline");
    assert!(failed[0]["error"].as_str().unwrap().contains("tasks.alb"), "{r}");
    assert!(r["recommendations"].as_array().unwrap().iter().all(|x| x["kind"] != "rebalance"));
}

/// The numbers in "by (x, y, z) mm" of a base-shift explanation.
fn shift_of(text: &str) -> [f64; 3] {
    let start = text.find(" by (").unwrap() + 5;
    let inner = &text[start..start + text[start..].find(')').unwrap()];
    let v: Vec<f64> = inner.split(',').map(|x| x.trim().parse().unwrap()).collect();
    [v[0], v[1], v[2]]
}

#[test]
fn biw_recommendations_are_the_studys_fixes() {
    let tmp = TempDir::new("recommend-biw");
    let dir = tmp.path();
    sample_stage(dir, Variant::New, None);
    let r = json_out(&twinloom(dir, &["recommend", "--stage", ".", "--domain", "biw", "--json"]));
    // `analyze biw` exits 1 when it finds clashes or unreachable points; its JSON is the same.
    let out = twinloom(dir, &["analyze", "biw", "--stage", "plant.usda", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let study: Value = serde_json::from_slice(&out.stdout).unwrap();
    let recs = r["recommendations"].as_array().unwrap();
    let mut expected = 0;
    for st in study["stations"].as_array().unwrap() {
        for robot in st["robots"].as_array().unwrap() {
            let unreachable = robot["points"].as_array().unwrap().iter().filter(|p| p["reachable"] == false).count();
            if unreachable == 0 {
                continue;
            }
            expected += 1;
            let (station, name) = (st["name"].as_str().unwrap(), robot["name"].as_str().unwrap());
            let found = robot["base_shift"]["found"] == true;
            let id = format!(
                "biw-{}-{}-{}",
                if found { "base-shift" } else { "reteach" },
                station.to_lowercase(),
                name.to_lowercase()
            );
            let rec = recs.iter().find(|x| x["id"] == id.as_str()).unwrap_or_else(|| panic!("{id} missing: {r}"));
            assert_eq!(rec["target"], robot["prim"]);
            assert!(rec["writes"].as_array().unwrap().is_empty(), "a base move is not a plant write");
            let change = f(&rec["effect"]["change"]);
            if found {
                assert_eq!(change, unreachable as f64, "{rec}");
                let got = shift_of(rec["explanation"].as_str().unwrap());
                for (g, w) in got.iter().zip(robot["base_shift"]["shift_mm"].as_array().unwrap()) {
                    assert!((g - f(w)).abs() <= 0.15, "{id}: {got:?} vs {}", robot["base_shift"]);
                }
            } else {
                assert_eq!(change, 0.0, "no fix, no effect claimed: {rec}");
            }
        }
    }
    assert!(expected > 0, "the new variant has unreachable points");
    // One per program with unreachable points; the clash fixes (metric clearance_mm) are recommend_biw.rs's.
    assert_eq!(recs.iter().filter(|x| x["effect"]["metric"] == "reachable_points").count(), expected);
}
