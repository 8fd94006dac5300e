//! MES inside the running service, configured with docs/mes.md's `[mes]` block as it stands: payloads over
//! `POST /v1/mes` (bearer token) and over MQTT (Debian's mosquitto, published by an independent paho-mqtt
//! client, tests/peers/mqtt_json.py) reach the WIP; live clients get the shop `mes` in `hello` and each
//! payload's edits as one delta; `/v1/snapshot?shop=mes` serves the layer; the saved `plant.usda` composes
//! `mes.usda`, read back with Pixar's usd-core; a restarted service goes on with the cars in work.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use twinloom_connector::Config;
use twinloom_tests::{free_port, http_request, metric, run_python, start_mosquitto, wait_until, LinePeer, TempDir};

const VIN: &str = "WVWZZZE1ZPP000123";
const CAR: &str = "/Plant/Assembly/WIP/WVWZZZE1ZPP000123";
const ST010: &str = "/Plant/Assembly/Line1/Station010";

fn doc() -> String {
    std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/mes.md")).expect("docs/mes.md")
}

/// The JSON block of docs/mes.md that starts with `{"messageId": "<id>"`, on one line.
fn doc_message(id: &str) -> String {
    let doc = doc();
    let start = doc.find(&format!("```json\n{{\"messageId\": \"{id}\"")).expect("the example") + "```json\n".len();
    let text = &doc[start..start + doc[start..].find("```").unwrap()];
    serde_json::from_str::<Value>(text).expect("JSON").to_string()
}

/// A config with an MQTT source `sensors` on `port` and docs/mes.md's `[mes]` block.
fn config(dir: &TempDir, port: u16) -> Config {
    let doc = doc();
    let start = doc.find("```toml\n[mes]").expect("the [mes] block") + "```toml\n".len();
    let mes = &doc[start..start + doc[start..].find("```").unwrap()];
    let text = format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 20\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n[[sources]]\nname = \"sensors\"\nkind = \"mqtt\"\nendpoint = \"mqtt://127.0.0.1:{port}\"\n\n[[bindings]]\nsource = \"sensors\"\nnode = \"topic=plant/assembly/count\"\nshop = \"assembly\"\nprim = \"/Plant/Assembly/Line1\"\nattr = \"count\"\ntype = \"int\"\n\n{mes}"
    );
    Config::parse(&text, &dir.path().join("plant.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn post(addr: std::net::SocketAddr, token: Option<&str>, body: &str) -> (u16, Value) {
    let (status, text) = http_request(addr, "POST", "/v1/mes", token, Some(body));
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[test]
fn mes_over_http_and_mqtt_reaches_live_clients_and_the_saved_stage_and_survives_a_restart() {
    let dir = TempDir::new("mes-service");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), config(&dir, port)).expect("service");
    let addr = svc.started.listen;
    let applied = || metric(addr, r#"twinloom_mes_messages_total{outcome="applied"}"#);
    wait_until("the MES session", 10, || metric(addr, r#"twinloom_source_connected{source="mes"}"#) == 1.0);

    // A live client: the shop `mes` is announced.
    let (mut ws, _) = rt.block_on(tokio_tungstenite::connect_async(format!("ws://{addr}/v1/live"))).expect("connect");
    let mut next = || -> Value {
        let msg = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), ws.next()).await })
            .expect("a message in time");
        serde_json::from_str(msg.expect("open").expect("a frame").into_text().expect("text").as_str()).expect("JSON")
    };
    let hello = next();
    let mes_shop = hello["shops"].as_array().unwrap().iter().find(|s| s["name"] == "mes").cloned();
    assert_eq!(
        mes_shop,
        Some(serde_json::json!({"name": "mes", "layer": "mes.usda", "snapshot": "/v1/snapshot?shop=mes"})),
        "{hello}"
    );

    // The job order over HTTP: without the token refused, with it applied.
    let order = doc_message("MES-0001");
    assert_eq!(post(addr, None, &order).0, 401);
    assert_eq!(post(addr, Some("wrong"), &order).0, 401);
    let (status, answer) = post(addr, Some("test"), &order);
    assert_eq!((status, &answer), (200, &serde_json::json!({"received": 1, "applied": 1, "rejected": []})));
    let (status, answer) = post(addr, Some("test"), "[1, 2");
    assert_eq!((status, answer["rejected"][0]["reason"].as_str()), (400, Some("malformed_json")), "{answer}");

    // The car entering ASM-010 over MQTT.
    let mut peer = LinePeer::start("mqtt_json.py", &[&port.to_string()]);
    assert_eq!(peer.cmd(&format!("raw plant/mes/events {}", doc_message("MES-0002"))), "OK");
    wait_until("the MQTT message to be applied", 10, || applied() == 2.0);
    // An event for a VIN without a job order: refused and counted, the rest goes on.
    let unknown = doc_message("MES-0003").replace(VIN, "WVWZZZE1ZPP999999").replace("MES-0003", "MES-X");
    assert_eq!(peer.cmd(&format!("raw plant/mes/events {unknown}")), "OK");
    wait_until("the unknown VIN to be counted", 10, || {
        metric(addr, r#"twinloom_mes_messages_total{outcome="unknown_vin"}"#) == 1.0
    });
    assert_eq!(post(addr, Some("test"), &doc_message("MES-0003")).0, 200);
    assert_eq!(applied(), 3.0);

    // Three deltas of the shop mes, in order: the car defined, moved to ASM-010, a part built in.
    let deltas: Vec<Value> = (0..20).map(|_| next()).filter(|m| m["shop"] == "mes").take(3).collect();
    assert_eq!(deltas.len(), 3);
    // MES deltas count with every other delta published to the live stream.
    assert!(metric(addr, "twinloom_deltas_out_total") >= 3.0);
    assert!(deltas.windows(2).all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    assert!(deltas.iter().all(|d| d["type"] == "delta" && d["layer"] == "mes.usda"));
    assert_eq!(deltas[0]["edits"][0], serde_json::json!({"op": "def", "path": "/Plant/Assembly/WIP", "type": "Scope"}));
    assert!(deltas[1]["edits"].as_array().unwrap().iter().any(|e| e["op"] == "rel"
        && e["path"] == format!("{CAR}.twinloom:wip:station")
        && e["targets"] == serde_json::json!([ST010])));

    // A snapshot of the layer as it is now.
    let snapshot = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(s, "GET /v1/snapshot?shop=mes HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).expect("read the snapshot");
        bytes
    };
    let head_end = snapshot.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&snapshot[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("x-twinloom-seq:"), "{head}");
    assert!(snapshot[head_end..].starts_with(b"PXR-USDC"), "{head}");
    drop(peer);
    svc.stop(rt.handle()).expect("stop");

    let read_back = r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
car, station = stage.GetPrimAtPath(sys.argv[2]), stage.GetPrimAtPath(sys.argv[3])
print(car.GetTypeName(), car.GetAttribute("twinloom:wip:orderId").Get(),
      [str(t) for t in car.GetRelationship("twinloom:wip:station").GetTargets()],
      station.GetAttribute("twinloom:currentVin").Get(), len(car.GetChild("Genealogy").GetChildren()))
"#;
    let plant = dir.path().join("stage/plant.usda").display().to_string();
    let out = run_python(read_back, &[&plant, CAR, ST010]);
    assert_eq!(out.trim(), format!("Xform 4500012345 ['{ST010}'] {VIN} 1"), "{out}");

    // Restarted: the car is still in work, so its next event applies (not unknown_vin).
    let svc = twinloom_connector::spawn(rt.handle(), config(&dir, port)).expect("service again");
    let addr = svc.started.listen;
    let left = doc_message("MES-0002")
        .replace("MES-0002", "MES-0100")
        .replace("entered", "left")
        .replace("2025-11-25T08:01:00Z", "2025-11-25T08:05:00Z");
    let (status, answer) = post(addr, Some("test"), &left);
    assert_eq!((status, answer["applied"].as_u64()), (200, Some(1)), "{answer}");
    svc.stop(rt.handle()).expect("stop");
    let out = run_python(read_back, &[&plant, CAR, ST010]);
    assert_eq!(out.trim_end(), "Xform 4500012345 []  1", "the car left ASM-010: {out}");
}

#[test]
fn check_reports_mes_problems_at_their_keys() {
    let dir = TempDir::new("mes-check");
    let text = "[[sources]]\nname = \"plc\"\nkind = \"modbus\"\nendpoint = \"127.0.0.1:502\"\n\n[mes]\ntopics = [\"plant/mes/#\"]\ndedup_window = 0\n\n[[mes.station]]\nequipment = \"ASM-010\"\nprim = \"/Other/Station010\"\n";
    let err = Config::parse(text, &dir.path().join("plant.toml")).expect_err("refused").to_string();
    for want in [
        "plant.toml:7:1: mes.topics needs mes.mqtt_source",
        "plant.toml:8:1: mes.dedup_window must be at least 1",
        "plant.toml:12:8: \"/Other/Station010\" is not",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
    let text = text.replace("[mes]\n", "[mes]\nmqtt_source = \"plc\"\n");
    let err = Config::parse(&text, &dir.path().join("plant.toml")).expect_err("refused").to_string();
    assert!(
        err.contains("plant.toml:7:15: mes.mqtt_source \"plc\" is a modbus source, not mqtt or sparkplug"),
        "{err}"
    );
}
