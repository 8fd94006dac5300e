//! End to end against real peers on 127.0.0.1: the Rust plant simulator (OPC UA) → connector → USD layers
//! and the live stream. Checks that the values Pixar's usd-core reads from the saved stage equal the
//! simulator's last values, that a WebSocket client applying snapshot + deltas (and resuming once) ends with
//! exactly the saved live layers (saved by `twinloom write-layer` child processes), that the stage passes omni_asset_validate, and that /metrics and /readyz
//! answer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use twinloom_connector as service;
use twinloom_connector::Config;
use twinloom_simulator::{PlantModel, SimConfig, SimValue, Simulator};
use twinloom_tests::{
    check_output, http_get, omni_asset_validate, python, run_python, workspace_root, ChildGuard, TempDir,
};

/// `address → value` of every bound attribute of the composed stage, read with usd-core.
const READ_STAGE: &str = r#"
import sys, json
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
out = {}
for prim in stage.Traverse():
    for a in prim.GetAttributes():
        n = a.GetName()
        if n.startswith("twinloom:signal:") and n.endswith(":address"):
            inst = n[len("twinloom:signal:"):-len(":address")]
            attr_name = prim.GetAttribute(f"twinloom:signal:{inst}:attribute").Get()
            v = prim.GetAttribute(attr_name).Get()
            out[a.Get()] = v
print(json.dumps(out))
"#;

/// Parses a /metrics page with prometheus-client and checks that no family is split or repeated; prints
/// the number of families.
const PARSE_METRICS: &str = r##"
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
types = [l.split()[2] for l in text.splitlines() if l.startswith("# TYPE ")]
dups = sorted({t for t in types if types.count(t) > 1})
assert not dups, f"families declared more than once: {dups}"
families = list(text_string_to_metric_families(text))
names = [f.name for f in families]
assert len(names) == len(set(names)), f"families split: {names}"
print(len(families))
"##;

fn json_matches(sim: &SimValue, usd: &serde_json::Value) -> bool {
    match sim {
        SimValue::Bool(b) => usd.as_bool() == Some(*b),
        SimValue::Int(i) => usd.as_i64() == Some(*i as i64),
        SimValue::Long(i) => usd.as_i64() == Some(*i),
        SimValue::Double(x) => usd.as_f64() == Some(*x),
        SimValue::Text(t) => usd.as_str() == Some(t.as_str()),
    }
}

#[test]
fn simulator_to_usd_and_live_stream() {
    let dir = TempDir::new("e2e-sim");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let max_ticks = 160;
    let sim_cfg = SimConfig {
        port: 0,
        seed: 7,
        signals: 2000,
        update_hz: 20.0,
        max_ticks: Some(max_ticks),
        ..SimConfig::default()
    };
    let sim = rt.block_on(Simulator::start(sim_cfg.clone())).expect("simulator");
    let ns = sim.namespace_index();
    let cfg_text = format!(
        r#"
[stage]
dir = "stage"
tick_ms = 20
save_interval_s = 1

[stream]
listen = "127.0.0.1:0"

[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{}"
publishing_interval_ms = 20

[[auto_bindings]]
source = "sim"
node = "ns={ns};s=Plant/BIW"
shop = "biw"
prim = "/Plant/BIW"

[[auto_bindings]]
source = "sim"
node = "ns={ns};s=Plant/Paint"
shop = "paint"
prim = "/Plant/Paint"

[[auto_bindings]]
source = "sim"
node = "ns={ns};s=Plant/Assembly"
shop = "assembly"
prim = "/Plant/Assembly"
"#,
        sim.endpoint_url()
    );
    let cfg_path = dir.path().join("plant.toml");
    std::fs::write(&cfg_path, &cfg_text).unwrap();
    let mut cfg = Config::load(&cfg_path).expect("config");
    // As `twinloom run` does: the root stage and the periodic and final live-layer saves are written by
    // child processes of the real binary (the saved layers checked below come from them).
    cfg.stage_writer = Some(env!("CARGO_BIN_EXE_twinloom").into());

    let service = service::spawn(rt.handle(), cfg).expect("service started");
    let started = service.started.clone();
    assert!(started.signals_bound > 500, "{}", started.signals_bound);
    let addr = started.listen;

    // A live client from the protocol doc, resuming once mid-way.
    let stop_file = dir.path().join("stop");
    let client = Command::new(python())
        .arg(workspace_root().join("tests/peers/live_client.py"))
        .args([addr.to_string(), dir.path().display().to_string(), stop_file.display().to_string(), "10".into()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start live client");
    let mut client = ChildGuard(client);

    // Ops endpoints answer while running.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, body) = http_get(addr, "/readyz");
        if code == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "never ready: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(http_get(addr, "/healthz").0, 200);

    // Let the simulator run out its ticks, then let the last values settle through.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.stats().ticks.load(Ordering::Relaxed) < max_ticks {
        assert!(Instant::now() < deadline, "simulator stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let (_, metrics) = http_get(addr, "/metrics");
    // Valid Prometheus text, read by Prometheus' own Python client: each family once, with its series.
    let metrics_file = dir.path().join("metrics.txt");
    std::fs::write(&metrics_file, &metrics).unwrap();
    let families = run_python(PARSE_METRICS, &[metrics_file.to_str().unwrap()]);
    assert!(families.trim().parse::<usize>().unwrap() >= 20, "{families}");
    assert!(metrics.contains("twinloom_stream_clients 1"), "{metrics}");
    assert!(metrics.contains("twinloom_stream_client_errors_total 2"), "{metrics}");
    let samples: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("twinloom_samples_in_total "))
        .and_then(|v| v.parse().ok())
        .expect("samples metric");
    assert!(samples > 300, "{samples}");
    let counter = |name: &str| -> Vec<u64> {
        metrics.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse().ok()).collect()
    };
    let saves = counter("twinloom_saves_total{");
    assert!(saves.len() == 3 && saves.iter().all(|&n| n >= 3), "periodic saves by the child:\n{metrics}");
    assert!(counter("twinloom_save_errors_total{").iter().all(|&n| n == 0), "{metrics}");

    std::fs::write(&stop_file, "").unwrap();
    let started_wait = Instant::now();
    let out = loop {
        if let Some(_status) = client.0.try_wait().unwrap() {
            let mut stdout = String::new();
            let mut stderr = String::new();
            client.0.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
            client.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
            break (client.0.wait().unwrap(), stdout, stderr);
        }
        assert!(started_wait.elapsed() < Duration::from_secs(60), "live client did not finish");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.0.success(), "live client failed:\n{}\n{}", out.1, out.2);
    let summary: serde_json::Value = serde_json::from_str(out.1.trim()).expect("client summary");
    assert_eq!(summary["resumes"], 1, "{summary}");
    assert_eq!((summary["errors"].as_u64(), summary["pongs"].as_u64()), (Some(2), Some(1)), "{summary}");
    assert!(summary["deltas"].as_u64().unwrap() > 10, "{summary}");

    let run = service.stop(rt.handle()).expect("service run");
    assert_eq!(run.samples_rejected, 0);
    rt.block_on(sim.shutdown());

    // 1. The client's layers equal the saved live layers.
    let stage_dir = dir.path().join("stage");
    let cmp = Command::new(python())
        .arg(workspace_root().join("tests/peers/compare_layers.py"))
        .args([
            &stage_dir.display().to_string(),
            &dir.path().display().to_string(),
            "biw,paint,assembly",
            ".client.usda",
        ])
        .output()
        .unwrap();
    check_output("compare client and saved layers", &cmp);
    let cmp: serde_json::Value = serde_json::from_slice(&cmp.stdout).unwrap();
    assert!(cmp["checked"].as_u64().unwrap() > 400, "{cmp}");

    // 2. The composed stage holds the simulator's last values.
    let mut model = PlantModel::new(&sim_cfg.model_config());
    for _ in 0..max_ticks {
        model.step();
    }
    let expected: BTreeMap<String, &SimValue> =
        model.infos().iter().zip(model.values()).map(|(i, v)| (format!("ns={ns};s={}", i.path), v)).collect();
    let read = Command::new(python())
        .args(["-c", READ_STAGE, &stage_dir.join("plant.usda").display().to_string()])
        .output()
        .unwrap();
    check_output("read stage", &read);
    let values: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(values.len(), started.signals_bound);
    for (address, v) in &values {
        let sim_v = expected.get(address).unwrap_or_else(|| panic!("{address} is not a simulator signal"));
        assert!(json_matches(sim_v, v), "{address}: simulator {sim_v:?}, USD {v}");
    }

    // 3. NVIDIA's validator accepts the stage.
    omni_asset_validate(&stage_dir.join("plant.usda"));
    assert!(Path::new(&stage_dir.join("live/biw.usdc")).exists());
}
