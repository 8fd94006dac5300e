//! The connector against an independent OPC UA server (PyPI asyncua, tests/peers/opcua_server.py) whose
//! browse names have spaces, unicode, leading digits and duplicates: the auto-binding mirrors them with
//! usd-exchange-valid names (originals kept as displayName), values read back with usd-core equal the
//! server's, an unsupported type is refused and counted, and a server killed and restarted is reconnected
//! and resubscribed with values flowing again.

use twinloom_connector as service;
use twinloom_connector::Config;
use twinloom_tests::{free_port, metric, run_python, start_asyncua_peer, wait_until, TempDir};

const READ_BACK: &str = r#"
import sys, json
from pxr import Usd
s = Usd.Stage.Open(sys.argv[1])
out = {}
for prim in s.Traverse():
    for a in prim.GetAttributes():
        n = a.GetName()
        if n.startswith("twinloom:"):
            continue
        out[str(a.GetPath())] = {"value": a.Get(), "display": a.GetMetadata("displayName") or ""}
    out[str(prim.GetPath())] = {"display": prim.GetMetadata("displayName") or ""}
print(json.dumps(out, default=str))
"#;

#[test]
fn asyncua_server_with_awkward_names_and_a_restart() {
    let dir = TempDir::new("e2e-asyncua");
    let port = free_port();
    let mut peer = start_asyncua_peer(port);
    let cfg_text = format!(
        r#"
[stage]
dir = "stage"
tick_ms = 20
save_interval_s = 1

[stream]
listen = "127.0.0.1:0"

[[sources]]
name = "peer"
kind = "opcua"
endpoint = "opc.tcp://127.0.0.1:{port}/"
publishing_interval_ms = 20

[[auto_bindings]]
source = "peer"
node = "nsu=urn:twinloom:test-peer;s=Line 1"
shop = "line"
prim = "/Plant/Line1"

[[auto_bindings]]
source = "peer"
node = "nsu=urn:twinloom:test-peer;s=Ünïcode ⚙"
shop = "line"
prim = "/Plant/Unicode"
"#
    );
    let cfg_path = dir.path().join("plant.toml");
    std::fs::write(&cfg_path, &cfg_text).unwrap();
    let cfg = Config::load(&cfg_path).expect("config");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = service::spawn(rt.handle(), cfg).expect("service started");
    let started = svc.started.clone();
    // Line 1 has 9 variables of which Blob (ByteString) is refused and Recipe (an array) left out; plus
    // Cell A's Torque and Motor speed.
    assert_eq!(started.signals_bound, 9, "bound {}", started.signals_bound);
    let addr = started.listen;
    // Blob (no USD type) and Recipe (an array) were left out.
    assert_eq!(metric(addr, "twinloom_config_errors_total"), 2.0);
    wait_until("counter samples", 20, || metric(addr, "twinloom_samples_accepted_total") > 20.0);

    // Kill the server: the source notices, then reconnects to the restarted server and resubscribes.
    drop(peer);
    wait_until("disconnect noticed", 30, || metric(addr, "twinloom_source_connected{source=\"peer\"}") == 0.0);
    let before = metric(addr, "twinloom_samples_accepted_total");
    peer = start_asyncua_peer(port);
    wait_until("reconnect", 60, || metric(addr, "twinloom_source_connected{source=\"peer\"}") == 1.0);
    wait_until("values after the restart", 30, || metric(addr, "twinloom_samples_accepted_total") > before + 20.0);
    assert!(metric(addr, "twinloom_source_reconnects_total{source=\"peer\"}") >= 1.0);

    let run = svc.stop(rt.handle()).expect("service run");
    assert_eq!(run.samples_rejected, 0);
    // The certificate store is where docs/configuration.md says (no pki_dir key: <stage dir>/.pki).
    assert!(dir.path().join("stage/.pki/own").is_dir(), "no certificate store in stage/.pki");
    drop(peer);

    let out = run_python(READ_BACK, &[dir.path().join("stage/plant.usda").to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let get = |p: &str| v.get(p).unwrap_or_else(|| panic!("{p} missing in {v:#}")).clone();
    // Names exactly as usd-exchange makes them; originals kept as displayName.
    assert_eq!(get("/Plant/Line1.tn__Temp1_f5")["value"], 21.5);
    assert_eq!(get("/Plant/Line1.tn__Temp1_f5")["display"], "Temp 1");
    assert_eq!(get("/Plant/Line1.tn__Temprature_uo1")["value"], 22.25, "{v:#}");
    assert_eq!(get("/Plant/Line1.tn__Temprature_uo1")["display"], "Température");
    assert_eq!(get("/Plant/Line1.tn__1stStation_jA")["value"], 7);
    assert_eq!(get("/Plant/Line1.Dup")["value"], "first");
    assert_eq!(get("/Plant/Line1.Dup_1")["value"], "second");
    assert_eq!(get("/Plant/Line1.tn__Ready_gB")["value"], true);
    assert!(get("/Plant/Line1.Counter")["value"].as_i64().unwrap() > 0);
    assert_eq!(get("/Plant/Unicode.tn__Motorspeed_lA")["value"], 1450.0);
    // A renamed prim keeps its original name as displayName, like a renamed attribute.
    let cells: Vec<(&String, &serde_json::Value)> = v
        .as_object()
        .unwrap()
        .iter()
        .filter(|(p, d)| p.starts_with("/Plant/Line1/tn__CellA") && d["display"] == "Cell A")
        .collect();
    assert_eq!(cells.len(), 1, "{v:#}");
    assert_eq!(get(&format!("{}.Torque", cells[0].0))["value"], 12.5);
    // The array is in no prim of the stage.
    assert!(v.as_object().unwrap().keys().all(|p| !p.contains("Recipe")), "{v:#}");
}
