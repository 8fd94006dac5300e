//! Write-back against an independent OPC UA server (PyPI asyncua, tests/peers/opcua_server.py,
//! `Objects/Commands`): a write the server clamps ends `failed` with the value read back; one the server
//! refuses (`BadUserAccessDenied`) ends `failed` with the server's status and nothing changes; an Int32
//! node takes a whole number and refuses a fraction before anything is sent; a Double write is verified;
//! a server killed while a write is in flight gives `failed` with an unknown outcome, sent once, not retried.

use serde_json::{json, Value};
use twinloom_connector::Config;
use twinloom_tests::{free_port, http_request, start_asyncua_peer, TempDir};

const TOKEN: &str = "operator-token";

/// A level-5 service over the asyncua peer on `port`, with one operator identity (token [`TOKEN`]).
fn peer_service(port: u16) -> String {
    format!(
        r#"
[stage]
dir = "stage"
capability_level = 5

[stream]
listen = "127.0.0.1:0"

[[sources]]
name = "peer"
kind = "opcua"
endpoint = "opc.tcp://127.0.0.1:{port}/"

[[identity]]
name = "op"
token_sha256 = "{}"
roles = ["operator"]
"#,
        twinloom_connector::command::config::token_sha256(TOKEN)
    )
}

fn command(addr: std::net::SocketAddr, target: &str, value: Value) -> Value {
    let body = json!({"target": target, "value": value, "reason": "asyncua peer"}).to_string();
    let (status, text) = http_request(addr, "POST", "/v1/commands", Some(TOKEN), Some(&body));
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_server_clamps_refuses_and_accepts_writes() {
    let dir = TempDir::new("write-back-asyncua");
    let port = free_port();
    let _peer = start_asyncua_peer(port);
    let mut text = peer_service(port);
    for (node, ty) in [("Setpoint", "double"), ("Mode", "int"), ("Locked", "double"), ("Clamped", "double")] {
        text += &format!(
            "\n[[bindings]]\nsource = \"peer\"\nnode = \"nsu=urn:twinloom:test-peer;s=Commands/{node}\"\nshop = \"cmd\"\nprim = \"/Plant/Commands\"\nattr = \"{node}\"\ntype = \"{ty}\"\n\n[[writable]]\ntarget = \"/Plant/Commands.{node}\"\nroles = [\"operator\"]\ntolerance = 0.001\nverify_timeout_ms = 1000\n"
        );
    }
    let cfg = Config::parse(&text, &dir.path().join("peer.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;

    let v = command(addr, "/Plant/Commands.Clamped", json!(150.0));
    assert_eq!((v["state"].as_str(), v["read_back"].as_f64()), (Some("failed"), Some(100.0)), "{v}");
    let detail = v["history"].as_array().unwrap().last().unwrap()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("read back 100") && detail.contains("wrote 150"), "{detail}");

    let v = command(addr, "/Plant/Commands.Locked", json!(9.0));
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["server_status"], "BadUserAccessDenied", "{v}");
    assert_eq!(v["read_back"], 7.5, "nothing changed");

    let v = command(addr, "/Plant/Commands.Mode", json!(2.5));
    assert_eq!(v["state"], "failed", "{v}");
    assert!(v["history"][1]["detail"].as_str().unwrap().contains("not an integer"), "{v}");
    let v = command(addr, "/Plant/Commands.Mode", json!(3));
    assert_eq!(v["state"], "verified", "{v}");

    let v = command(addr, "/Plant/Commands.Setpoint", json!(62.5));
    assert_eq!((v["state"].as_str(), v["read_back"].as_f64()), (Some("verified"), Some(62.5)), "{v}");
    svc.stop(rt.handle()).expect("stop");
}

#[test]
fn a_server_killed_during_a_write_gives_an_unknown_outcome_and_no_retry() {
    let dir = TempDir::new("write-back-killed");
    let port = free_port();
    let mut peer = start_asyncua_peer(port);
    let text = peer_service(port)
        + r#"
[[bindings]]
source = "peer"
node = "nsu=urn:twinloom:test-peer;s=Commands/Slow"
shop = "cmd"
prim = "/Plant/Commands"
attr = "Slow"
type = "double"

[[writable]]
target = "/Plant/Commands.Slow"
roles = ["operator"]
"#;
    let cfg = Config::parse(&text, &dir.path().join("peer.toml")).unwrap_or_else(|e| panic!("{e}"));
    let journal = cfg.audit_path();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    // The peer answers writes to Slow only after 30 s: it is killed while the write is in flight.
    let pending = std::thread::spawn(move || command(addr, "/Plant/Commands.Slow", json!(75.0)));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let _ = peer.0.kill();
    let _ = peer.0.wait();
    let v = pending.join().expect("the command's answer");
    assert_eq!((v["state"].as_str(), v["outcome"].as_str()), (Some("failed"), Some("unknown")), "{v}");
    let states: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["received", "failed"], "one attempt, no retry: {v}");
    assert!(v["history"][1]["detail"].as_str().unwrap().contains("not retried"), "{v}");
    svc.stop(rt.handle()).expect("stop");
    let text = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(text.matches(r#""event":"sending""#).count(), 1, "the write was sent once");
}
