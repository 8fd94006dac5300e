//! The plain MQTT JSON source against Debian's mosquitto and an independent publisher (paho-mqtt,
//! tests/peers/mqtt_json.py): values found by JSON pointer reach the stage with their timestamps (read back
//! with Pixar's usd-core), one message feeds several bindings, a wildcard filter feeds its binding,
//! malformed JSON and missing fields are counted by reason while the rest goes on, a broker restarted on
//! the same port is reconnected, and a broker that wants a password over TLS is reached with them.

use std::time::Duration;

use twinloom_connector::Config;
use twinloom_tests::{
    free_port, metric, run_python, start_mosquitto, start_mosquitto_with, wait_until, LinePeer, MosquittoOptions,
    TempDir, TestCerts,
};

fn binding(node: &str, attr: &str, ty: &str) -> String {
    format!(
        "\n[[bindings]]\nsource = \"sensors\"\nnode = \"{node}\"\nshop = \"field\"\nprim = \"/Plant/Paint/Oven1\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n"
    )
}

fn config(dir: &TempDir, source: &str) -> Config {
    let mut text = format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 20\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n[[sources]]\nname = \"sensors\"\nkind = \"mqtt\"\n{source}\n"
    );
    text += &binding("topic=plant/paint/oven1/state;value=/zone1/temp;time=/ts", "zone1Temp", "double");
    text += &binding("topic=plant/paint/oven1/state;value=/fan/running", "fanRunning", "bool");
    text += &binding("topic=plant/paint/oven1/state;value=/recipe", "recipe", "string");
    text += &binding("topic=plant/paint/+/vibration;value=/rms", "vibrationRms", "float");
    text += &binding("topic=plant/paint/oven1/count", "count", "int");
    Config::parse(&text, &dir.path().join("mqtt.toml")).unwrap_or_else(|e| panic!("{e}"))
}

const READ_BACK: &str = r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
prim = stage.GetPrimAtPath("/Plant/Paint/Oven1")
for name in sys.argv[2:]:
    print(name, repr(prim.GetAttribute(name).Get()))
"#;

fn read_back(dir: &TempDir, names: &[&str]) -> std::collections::HashMap<String, String> {
    let mut args = vec![dir.path().join("stage/plant.usda").display().to_string()];
    args.extend(names.iter().map(|n| n.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_python(READ_BACK, &args)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect()
}

#[test]
fn json_values_reach_the_stage_bad_payloads_are_counted_and_a_restarted_broker_is_reconnected() {
    let dir = TempDir::new("mqtt-json");
    let port = free_port();
    let mut broker = start_mosquitto(port);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cfg = config(&dir, &format!("endpoint = \"mqtt://127.0.0.1:{port}\""));
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    let errors =
        |reason: &str| metric(addr, &format!(r#"twinloom_source_errors_total{{source="sensors",reason="{reason}"}}"#));
    let accepted = || metric(addr, "twinloom_samples_accepted_total");
    let port_s = port.to_string();
    let mut peer = LinePeer::start("mqtt_json.py", &[&port_s]);

    let state = r#"{"ts": "2026-12-06T08:00:00.5Z", "zone1": {"temp": 181.25}, "fan": {"running": true}, "recipe": "2K clear"}"#;
    assert_eq!(peer.cmd(&format!("pub plant/paint/oven1/state {state}")), "OK");
    assert_eq!(peer.cmd(r#"pub plant/paint/booth3/vibration {"rms": 2.5}"#), "OK");
    assert_eq!(peer.cmd("pub plant/paint/oven1/count 41"), "OK");
    wait_until("five values", 10, || accepted() >= 5.0);

    // Malformed JSON and a payload without the bound field: counted, nothing else disturbed.
    assert_eq!(peer.cmd(r#"raw plant/paint/oven1/state {"zone1": {"temp": 18"#), "OK");
    assert_eq!(peer.cmd(r#"pub plant/paint/booth3/vibration {"peak": 9}"#), "OK");
    wait_until("the malformed payload to be counted", 10, || errors("malformed_payload") >= 1.0);
    wait_until("the missing field to be counted", 10, || errors("missing_field") >= 1.0);

    // The broker restarted on the same port: the session comes back and resubscribes.
    drop(peer);
    let _ = broker.0.kill();
    let _ = broker.0.wait();
    wait_until("the lost connection", 10, || metric(addr, r#"twinloom_source_connected{source="sensors"}"#) == 0.0);
    broker = start_mosquitto(port);
    wait_until("the reconnect", 20, || metric(addr, r#"twinloom_source_connected{source="sensors"}"#) == 1.0);
    let mut peer = LinePeer::start("mqtt_json.py", &[&port_s]);
    let before = accepted();
    // The resubscription may land a moment after the CONNACK: publish until the value arrives.
    wait_until("a value after the restart", 20, || {
        assert_eq!(peer.cmd("pub plant/paint/oven1/count 42"), "OK");
        std::thread::sleep(Duration::from_millis(100));
        accepted() > before
    });
    std::thread::sleep(Duration::from_millis(200));
    svc.stop(rt.handle()).expect("stop");
    drop(broker);

    let got = read_back(&dir, &["zone1Temp", "fanRunning", "recipe", "vibrationRms", "count"]);
    assert_eq!(got["zone1Temp"], "181.25");
    assert_eq!(got["fanRunning"], "True");
    assert_eq!(got["recipe"], "'2K clear'");
    assert_eq!(got["vibrationRms"], "2.5");
    assert_eq!(got["count"], "42");
}

#[test]
fn a_broker_with_tls_and_a_password_is_reached_with_them() {
    let dir = TempDir::new("mqtt-json-tls");
    let certs = TestCerts::make(dir.path());
    let port = free_port();
    let opts = MosquittoOptions {
        users: vec![("twinloom".into(), "s3cret".into()), ("sensor".into(), "pw".into())],
        tls: certs.broker_tls(),
        require_client_cert: false,
    };
    let _broker = start_mosquitto_with(port, &opts);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    // A wrong password: refused at start, with the broker's reason.
    let bad = format!(
        "endpoint = \"mqtts://127.0.0.1:{port}\"\nuser = \"twinloom\"\npassword = \"wrong\"\nca_certificate = {:?}",
        certs.ca
    );
    let err = twinloom_connector::spawn(rt.handle(), config(&dir, &bad)).err().expect("refused").to_string();
    assert!(err.contains("source sensors") && err.contains("refused"), "{err}");

    let good = format!(
        "endpoint = \"mqtts://127.0.0.1:{port}\"\nuser = \"twinloom\"\npassword = \"s3cret\"\nca_certificate = {:?}",
        certs.ca
    );
    let svc = twinloom_connector::spawn(rt.handle(), config(&dir, &good)).expect("service");
    let addr = svc.started.listen;
    let ca = certs.ca.display().to_string();
    let port_s = port.to_string();
    let mut peer = LinePeer::start("mqtt_json.py", &[&port_s, "--user", "sensor", "--password", "pw", "--cafile", &ca]);
    let before = metric(addr, "twinloom_samples_accepted_total");
    assert_eq!(peer.cmd("pub plant/paint/oven1/count 7"), "OK");
    wait_until("the value over TLS", 10, || metric(addr, "twinloom_samples_accepted_total") > before);
    svc.stop(rt.handle()).expect("stop");
    assert_eq!(read_back(&dir, &["count"])["count"], "7");
}

#[test]
fn the_documented_configuration_reads_the_documented_message() {
    let dir = TempDir::new("mqtt-docs");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/mqtt.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    // The message the page shows in a comment, published as it stands.
    let message = block.lines().find_map(|l| l.strip_prefix("# One message, several values: ")).expect("message");
    let text = block
        .replace("mqtt://127.0.0.1:1883", &format!("mqtt://127.0.0.1:{port}"))
        .replace("dir = \"twinloom-out\"", &format!("dir = {:?}", dir.path().join("stage")))
        + "\n[stream]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = Config::parse(&text, &dir.path().join("sensors.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    let mut peer = LinePeer::start("mqtt_json.py", &[&port.to_string()]);
    assert_eq!(peer.cmd(&format!("pub plant/paint/oven1/state {message}")), "OK");
    assert_eq!(peer.cmd(r#"pub plant/paint/booth2/vibration {"rms": 3.5}"#), "OK");
    assert_eq!(peer.cmd("pub plant/paint/oven1/count 41"), "OK");
    wait_until("four values", 10, || metric(addr, "twinloom_samples_accepted_total") >= 4.0);
    svc.stop(rt.handle()).expect("stop");
    let out = run_python(
        r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
oven, booths = stage.GetPrimAtPath("/Plant/Paint/Oven1"), stage.GetPrimAtPath("/Plant/Paint/Booths")
print(oven.GetAttribute("zone1Temp").Get(), oven.GetAttribute("fanRunning").Get(), oven.GetAttribute("count").Get(),
      booths.GetAttribute("vibrationRms").Get())
"#,
        &[&dir.path().join("stage/plant.usda").display().to_string()],
    );
    assert_eq!(out.trim(), "181.2 True 41 3.5");
}
