//! Live diagnostics end to end (docs/diagnostics.md, "Live"): the plant simulator (OPC UA on 127.0.0.1)
//! → `twinloom run` with `[diagnostics]` on the paint oven's zone temperatures. A Python client follows
//! the live stream, then drives a real abnormal change through the simulator (zone 1's setpoint written
//! from 140 to 300 °C with asyncua, so its temperature leaves its band); the `anomaly` `open` message for
//! that signal arrives on the WebSocket and /metrics counts it. After the run, usd-core reads the
//! diagnostics layer: the `twinloom:diag:` attributes are on the zone's prim, nothing else is in that
//! layer, the live layer holds no diagnostics, and the stage stays portable. Two oven fans are forecast
//! to their failure limit (`[[diagnostics.forecasts]]`): `forecast` messages on the stream, learning then
//! forecasting; `twinloom:forecast:` attributes in the layer, which `twinloom forecast --stage` reads back.
//! `twinloom check` judges the detector settings of `[diagnostics.detector]` and the forecasts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use twinloom_simulator::{SimConfig, Simulator};
use twinloom_tests::{assert_portable_stage, free_port, run_python, ChildGuard, TempDir};

/// Follows the stream; after `WARM_S` seconds writes the setpoint; waits for the zone's `open`; prints
/// what it saw as JSON (anomaly messages before and after the write, the open message, /metrics).
const CLIENT: &str = r#"
import asyncio, json, sys, time, urllib.error, urllib.request
from asyncua import Client, ua
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

base, endpoint, node, target, warm_s = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
for _ in range(300):
    try:
        ws = connect(f"ws://{base}/v1/live", max_size=None)
        break
    except OSError:
        time.sleep(0.1)
hello = json.loads(ws.recv())
assert hello["type"] == "hello", hello
before, types, forecasts = [], set(), {}
t0 = time.time()
while time.time() - t0 < warm_s:
    try:
        msg = json.loads(ws.recv(timeout=0.5))
    except TimeoutError:
        continue
    types.add(msg["type"])
    if msg["type"] == "anomaly":
        before.append(msg)
    if msg["type"] == "forecast":
        forecasts.setdefault(msg["path"], []).append(msg)

async def write():
    async with Client(endpoint) as c:
        await c.get_node(node).write_value(ua.DataValue(ua.Variant(300.0, ua.VariantType.Double)))
asyncio.run(write())
written = time.time()
opened, after = None, []
acked, ack_http = None, {}
while opened is None and time.time() - written < 20:
    try:
        msg = json.loads(ws.recv(timeout=0.5))
    except TimeoutError:
        continue
    except ConnectionClosed:
        break
    types.add(msg["type"])
    if msg["type"] == "forecast":
        forecasts.setdefault(msg["path"], []).append(msg)
    if msg["type"] == "anomaly":
        after.append(msg)
        if msg["event"] == "open" and msg["path"] == target:
            opened = msg
if opened is not None:
    # The shift lead acknowledges it on the live connection; every client gets the `acknowledged` event.
    ws.send(json.dumps({"type": "ack", "anomaly": opened["id"], "by": "shift lead", "note": "checking zone 1"}))
    t_ack = time.time()
    while acked is None and time.time() - t_ack < 10:
        try:
            msg = json.loads(ws.recv(timeout=0.5))
        except TimeoutError:
            continue
        if msg["type"] == "anomaly" and msg["event"] == "acknowledged" and msg["id"] == opened["id"]:
            acked = msg
    # Over HTTP: a second acknowledgement is refused (409), an unknown episode is 404, a bad body 400.
    def post(path, body):
        req = urllib.request.Request(f"http://{base}{path}", data=body, method="POST",
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())
    ack_http["again"] = post(f"/v1/anomalies/{opened['id']}/ack", json.dumps({"by": "maintenance"}).encode())
    ack_http["unknown"] = post("/v1/anomalies/987654/ack", json.dumps({"by": "maintenance"}).encode())
    ack_http["bad"] = post(f"/v1/anomalies/{opened['id']}/ack", b"{}")
try:
    metrics = urllib.request.urlopen(f"http://{base}/metrics").read().decode()
except OSError:
    metrics = ""

ws.close()
print(json.dumps({"before": before, "after": after, "open": opened, "types": sorted(types), "forecasts": forecasts,
                  "acked": acked, "ack_http": ack_http,
                  "seconds_to_open": time.time() - written,
                  "metrics": [l for l in metrics.splitlines() if "anomal" in l or "diagnostics" in l]}))
"#;

/// Reads the saved stage: every attribute of diagnostics.usdc, the diagnostics attributes of the live
/// layer (must be none), and the composed values of the zone's diagnostics.
const READ: &str = r#"
import json, sys
from pxr import Sdf, Usd
stage_dir, prim = sys.argv[1], sys.argv[2]
diag = Sdf.Layer.FindOrOpen(f"{stage_dir}/diagnostics.usdc")
attrs = {}
def visit(path):
    if path.IsPropertyPath():
        spec = diag.GetAttributeAtPath(path)
        attrs[str(path)] = [str(spec.typeName), str(spec.default)]
diag.Traverse(diag.pseudoRoot.path, visit)
live = Sdf.Layer.FindOrOpen(f"{stage_dir}/live/paint.usdc")
leaked = []
def visit_live(path):
    if path.IsPropertyPath() and "twinloom:diag:" in str(path):
        leaked.append(str(path))
live.Traverse(live.pseudoRoot.path, visit_live)
root = Sdf.Layer.FindOrOpen(f"{stage_dir}/plant.usda")
stage = Usd.Stage.Open(f"{stage_dir}/plant.usda")
p = stage.GetPrimAtPath(prim)
composed = {a.GetName(): a.Get() for a in p.GetAttributes() if a.GetName().startswith("twinloom:diag:")}
print(json.dumps({"attrs": attrs, "leaked": leaked, "sublayers": list(root.subLayerPaths),
                  "temperature": p.GetAttribute("temperature").Get(),
                  "composed": {k: (v if isinstance(v, (bool, int, float, str)) else str(v)) for k, v in composed.items()}}))
"#;

#[test]
fn an_abnormal_oven_zone_opens_an_anomaly_on_the_stream_and_in_the_diagnostics_layer() {
    let t0 = Instant::now();
    let dir = TempDir::new("diag-live");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // 50 ticks a second: the oven temperatures change ten times a second; four times real time: a
    // written setpoint moves the zone about 7 °C a second.
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 3,
            update_hz: 50.0,
            time_scale: 4.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let ns = sim.namespace_index();
    let port = free_port();
    let stage = dir.path().join("stage");
    let mut text = format!(
        r#"
[stage]
dir = "{stage}"
tick_ms = 50
save_interval_s = 1

[stream]
listen = "127.0.0.1:{port}"

[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 20

[diagnostics]
enabled = true
signals = ["/Plant/Paint/Oven/Zone01.temperature", "/Plant/Paint/Oven/Zone01.setpoint"]
prims = ["/Plant/Paint/Oven/Zone02"]

[diagnostics.detector]
warmup_samples = 60
close_after_samples = 40

[[diagnostics.forecasts]]
signal = "/Plant/Paint/Oven/Zone01.fanVibration"
threshold = 7.1
block_s = 1
min_blocks = 5

[[diagnostics.forecasts]]
signal = "/Plant/Paint/Oven/Zone03.fanVibration"
threshold = 7.1
block_s = 1
min_blocks = 5
"#,
        stage = stage.display(),
        endpoint = sim.endpoint_url()
    );
    for zone in ["Zone01", "Zone02", "Zone03"] {
        for (node, attr, unit) in [
            ("Temperature", "temperature", "degC"),
            ("Setpoint", "setpoint", "degC"),
            ("FanVibration", "fanVibration", "mm/s"),
        ] {
            text += &format!(
                "\n[[bindings]]\nsource = \"sim\"\nnode = \"ns={ns};s=Plant/Paint/Oven/{zone}/{node}\"\nshop = \"paint\"\nprim = \"/Plant/Paint/Oven/{zone}\"\nattr = \"{attr}\"\ntype = \"double\"\nunit = \"{unit}\"\n"
            );
        }
    }
    let config = dir.path().join("twinloom.toml");
    std::fs::write(&config, &text).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_twinloom"))
        .args(["run", "--config"])
        .arg(&config)
        .args(["--seconds", "20"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("run.log")).unwrap())
        .spawn()
        .expect("start twinloom run");
    let mut run = ChildGuard(run);

    let base = format!("127.0.0.1:{port}");
    let target = "/Plant/Paint/Oven/Zone01.temperature";
    let node = format!("ns={ns};s=Plant/Paint/Oven/Zone01/Setpoint");
    let seen: serde_json::Value =
        serde_json::from_str(&run_python(CLIENT, &[&base, sim.endpoint_url(), &node, target, "10"])).unwrap();
    let open = &seen["open"];
    let log = || std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    assert!(open.is_object(), "no anomaly opened on {target} within 20 s of the write: {seen:#}\n{}", log());
    assert!(open["score"].as_f64().unwrap() >= 0.6, "{open}");
    // Explained with its related signals: the zone's setpoint (same prim) moved with it (140 → 300);
    // zone 2, a sibling, is named too (moved or normal, as its own detector says).
    let related = open["related"].as_array().unwrap();
    let rel = |path: &str| related.iter().find(|r| r["path"] == path).unwrap_or_else(|| panic!("{path}: {open:#}"));
    let setpoint = rel("/Plant/Paint/Oven/Zone01.setpoint");
    assert_eq!(setpoint["moved"], true, "{open:#}");
    assert_eq!((setpoint["changed"]["from"].as_f64(), setpoint["changed"]["to"].as_f64()), (Some(140.0), Some(300.0)));
    rel("/Plant/Paint/Oven/Zone02.temperature");
    let explanation = open["explanation"].as_str().unwrap();
    assert!(explanation.contains("Zone01 setpoint (changed 140 → 300)"), "{explanation}");
    // Acknowledged on the live connection; a second acknowledgement and an unknown episode are refused.
    let acked = &seen["acked"];
    assert_eq!(
        (acked["acknowledgedBy"].as_str(), acked["note"].as_str()),
        (Some("shift lead"), Some("checking zone 1")),
        "{seen:#}"
    );
    assert_eq!(acked["id"], open["id"]);
    let http = &seen["ack_http"];
    assert_eq!(http["again"][0], 409, "{http}");
    assert!(http["again"][1]["error"].as_str().unwrap().contains("already acknowledged by shift lead"), "{http}");
    assert_eq!((http["unknown"][0].as_u64(), http["bad"][0].as_u64()), (Some(404), Some(400)), "{http}");
    assert!(open["value"].as_f64().is_some() && open["outsideBy"].as_f64().is_some_and(|d| d >= 0.0), "{open}");
    let explanation = open["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Zone01 temperature is "), "{explanation}");
    assert_eq!(open["shop"], "paint");
    assert!(open.get("seq").is_none(), "anomaly messages carry no seq: {open}");
    // The client saw deltas as before: the new message type is an addition.
    assert!(seen["types"].as_array().unwrap().iter().any(|t| t == "delta"), "{seen}");
    let metrics: Vec<&str> = seen["metrics"].as_array().unwrap().iter().filter_map(|l| l.as_str()).collect();
    let value = |name: &str| {
        metrics.iter().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok()).unwrap_or(f64::NAN)
    };
    assert!(value("twinloom_anomalies_opened_total") >= 1.0, "{metrics:?}");
    assert_eq!(value("twinloom_anomalies_acknowledged_total"), 1.0, "{metrics:?}");
    assert!(value("twinloom_diagnostics_samples_total") > 60.0, "{metrics:?}");
    assert_eq!(
        value("twinloom_diagnostics_signals"),
        7.0,
        "Zone01 temperature and setpoint by signal, Zone02 temperature, setpoint and fan by prim, Zone01's and Zone03's fans by their forecasts: {metrics:?}"
    );
    // Forecasts of the two fans: learning first, then a forecast whose interval lies ahead.
    let forecasts = seen["forecasts"].as_object().unwrap();
    let mut forecast_paths: Vec<&String> = forecasts.keys().collect();
    forecast_paths.sort();
    assert_eq!(forecast_paths, ["/Plant/Paint/Oven/Zone01.fanVibration", "/Plant/Paint/Oven/Zone03.fanVibration"]);
    for msgs in forecasts.values() {
        let msgs = msgs.as_array().unwrap();
        assert_eq!(msgs[0]["status"], "learning", "{msgs:?}");
        let last =
            msgs.iter().rev().find(|m| m["status"] == "forecast").unwrap_or_else(|| panic!("no forecast: {msgs:?}"));
        let (t, low, median) = (
            last["timeMs"].as_f64().unwrap(),
            last["failAtLowMs"].as_f64().unwrap(),
            last["failAtMs"].as_f64().unwrap(),
        );
        assert!(t <= low && low <= median, "{last}");
        assert!(last["failAtHighMs"].as_f64().is_none_or(|h| h >= median), "{last}");
        assert_eq!(
            (last["threshold"].as_f64(), last["unit"].as_str(), last["shop"].as_str()),
            (Some(7.1), Some("mm/s"), Some("paint"))
        );
        assert!(last["level"].as_f64().is_some_and(|l| l > 1.0 && l < 7.1), "{last}");
    }
    assert!(value("twinloom_anomalies_open") >= 0.0, "{metrics:?}");

    // The run ends by itself (--seconds) and saves every layer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = run.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "twinloom run did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "twinloom run failed: {}", log());
    rt.block_on(sim.shutdown());

    let read: serde_json::Value =
        serde_json::from_str(&run_python(READ, &[stage.to_str().unwrap(), "/Plant/Paint/Oven/Zone01"])).unwrap();
    assert!(read["sublayers"].as_array().unwrap().iter().any(|l| l == "diagnostics.usdc"), "{read}");
    let attrs = read["attrs"].as_object().unwrap();
    let ns_ok = attrs.keys().all(|k| {
        k.split_once('.')
            .is_some_and(|(_, name)| name.starts_with("twinloom:diag:") || name.starts_with("twinloom:forecast:"))
    });
    assert!(ns_ok, "only twinloom:diag: and twinloom:forecast: attributes in diagnostics.usdc: {attrs:?}");
    let zone1 = |field: &str| attrs.get(&format!("/Plant/Paint/Oven/Zone01.twinloom:diag:temperature:{field}"));
    assert_eq!(zone1("score").map(|a| a[0].as_str()), Some(Some("double")), "{attrs:?}");
    assert_eq!(zone1("anomaly").map(|a| a[0].as_str()), Some(Some("bool")), "{attrs:?}");
    assert_eq!(zone1("explanation").map(|a| a[0].as_str()), Some(Some("string")), "{attrs:?}");
    assert!(zone1("since").is_some(), "{attrs:?}");
    assert!(
        !attrs.keys().any(|k| k.starts_with("/Plant/Paint/Oven/Zone03.twinloom:diag:temperature")),
        "Zone03's temperature is not selected: {attrs:?}"
    );
    let fan3 = |field: &str| attrs.get(&format!("/Plant/Paint/Oven/Zone03.twinloom:forecast:fanVibration:{field}"));
    assert_eq!(fan3("remainingS").map(|a| a[0].as_str()), Some(Some("double")), "{attrs:?}");
    assert_eq!(fan3("failAt").map(|a| a[0].as_str()), Some(Some("string")), "{attrs:?}");
    assert_eq!(fan3("status").map(|a| a[0].as_str()), Some(Some("token")), "{attrs:?}");
    // `twinloom forecast --stage` reads them back: the same values usd-core sees.
    let out = Command::new(env!("CARGO_BIN_EXE_twinloom"))
        .args(["forecast", "--json", "--stage"])
        .arg(&stage)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = table.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{table:#}");
    for row in rows {
        let asset = row["asset"].as_str().unwrap();
        let field = |f: &str| {
            &attrs[&format!(
                "{}.twinloom:forecast:{}:{f}",
                asset.split_once('.').unwrap().0,
                asset.split_once('.').unwrap().1
            )][1]
        };
        assert_eq!(field("status").as_str(), row["status"].as_str(), "{row}");
        assert_eq!(
            field("remainingS").as_str().and_then(|v| v.parse::<f64>().ok()),
            row["remainingS"].as_f64(),
            "{row}"
        );
        assert_eq!(row["threshold"], 7.1);
    }
    assert_eq!(read["leaked"], serde_json::json!([]), "the live layer holds no diagnostics");
    assert!(read["temperature"].as_f64().is_some_and(|t| t > 140.0), "the live value is there: {read}");
    assert!(read["composed"]["twinloom:diag:temperature:score"].as_f64().is_some(), "{read}");
    assert_portable_stage(&stage.join("plant.usda"));
    assert!(t0.elapsed() < Duration::from_secs(60), "took {:?}", t0.elapsed());
}

#[test]
fn twinloom_check_judges_the_detector_settings() {
    let dir = TempDir::new("diag-check");
    let config = dir.path().join("twinloom.toml");
    let check = |text: &str| {
        std::fs::write(&config, text).unwrap();
        Command::new(env!("CARGO_BIN_EXE_twinloom")).args(["check", "--config"]).arg(&config).output().unwrap()
    };
    let ok = check("[diagnostics]\nenabled = true\n\n[diagnostics.detector]\nwarmup_samples = 100\n");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let bad = check("[diagnostics]\nenabled = true\n\n[diagnostics.detector]\nalarm_score = 2.0\n");
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("diagnostics.detector.alarm_score") && err.contains("(0, 1]"), "{err}");
    let unknown = check("[diagnostics]\nenabled = true\n\n[diagnostics.detector]\nalarm = 0.5\n");
    assert_eq!(unknown.status.code(), Some(1), "{}", String::from_utf8_lossy(&unknown.stderr));
    let forecast =
        check("[diagnostics]\nenabled = true\n\n[[diagnostics.forecasts]]\nsignal = \"/Plant/Fan\"\nthreshold = 7.1\n");
    assert_eq!(forecast.status.code(), Some(1));
    let err = String::from_utf8_lossy(&forecast.stderr);
    assert!(err.contains("diagnostics.forecasts") && err.contains("/Plant/Fan"), "{err}");
}
