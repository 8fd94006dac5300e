//! Write-back through the Modbus source's sink against an independent server (pymodbus,
//! tests/peers/modbus_server.py): a u16 holding register, an f32 register pair and a coil are written,
//! read back and verified (and read again by an independent client); an input register, one bit of a
//! register and a fraction for an integer register are refused before anything is sent; an address the
//! server does not have ends `failed` with the server's exception.

use serde_json::{json, Value};
use tokio_modbus::client::Reader;
use tokio_modbus::prelude::{Slave, SlaveContext};
use twinloom_connector::Config;
use twinloom_tests::{free_port, http_request, start_modbus_peer, TempDir};

const TOKEN: &str = "modbus-operator";

/// (address, attribute, USD type) on /Plant/Energy/Meter1, every one writable by the operator.
const TARGETS: [(&str, &str, &str); 6] = [
    ("holding=40", "setpoint", "int"),
    ("holding=30;type=f32", "limit", "double"),
    ("coil=3", "enable", "bool"),
    ("input=0;type=f32", "frequency", "double"),
    ("holding=12;bit=13", "alarm", "bool"),
    ("holding=150", "missing", "int"),
];

fn command(addr: std::net::SocketAddr, attr: &str, value: Value) -> Value {
    let body = json!({"target": format!("/Plant/Energy/Meter1.{attr}"), "value": value, "reason": "test"}).to_string();
    let (status, text) = http_request(addr, "POST", "/v1/commands", Some(TOKEN), Some(&body));
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

fn detail(v: &Value) -> String {
    v["history"].as_array().unwrap().last().unwrap()["detail"].as_str().unwrap_or("").to_string()
}

#[test]
fn registers_and_coils_are_written_and_verified_and_the_rest_refused() {
    let dir = TempDir::new("write-back-modbus");
    let port = free_port();
    let _peer = start_modbus_peer(port);
    let mut text = format!(
        "[stage]\ndir = \"stage\"\ncapability_level = 5\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n[[sources]]\nname = \"meters\"\nkind = \"modbus\"\nendpoint = \"127.0.0.1:{port}\"\nsampling_interval_ms = 200\n\n[[identity]]\nname = \"op\"\ntoken_sha256 = \"{}\"\nroles = [\"operator\"]\n",
        twinloom_connector::command::config::token_sha256(TOKEN)
    );
    for (node, attr, ty) in TARGETS {
        text += &format!(
            "\n[[bindings]]\nsource = \"meters\"\nnode = \"{node}\"\nshop = \"energy\"\nprim = \"/Plant/Energy/Meter1\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n\n[[writable]]\ntarget = \"/Plant/Energy/Meter1.{attr}\"\nroles = [\"operator\"]\nverify_timeout_ms = 1000\n"
        );
    }
    let cfg = Config::parse(&text, &dir.path().join("meters.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;

    for (attr, value) in [("setpoint", json!(1234)), ("limit", json!(42.5)), ("enable", json!(true))] {
        let v = command(addr, attr, value.clone());
        assert_eq!(v["state"], "verified", "{attr}: {v}");
        // Numbers read back in twin units (doubles), booleans as booleans.
        let same = v["read_back"] == value || v["read_back"].as_f64().is_some_and(|x| Some(x) == value.as_f64());
        assert!(same, "{attr}: {v}");
    }
    let (words, coils) = rt.block_on(async {
        let mut c = tokio_modbus::client::tcp::connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        c.set_slave(Slave(1));
        let w = c.read_holding_registers(30, 11).await.unwrap().unwrap();
        let coils = c.read_coils(0, 8).await.unwrap().unwrap();
        (w, coils)
    });
    assert_eq!(words[10], 1234, "register 40");
    assert_eq!(f32::from_bits((u32::from(words[0]) << 16) | u32::from(words[1])), 42.5, "registers 30-31");
    assert!(coils[3], "coil 3");

    let v = command(addr, "frequency", json!(50.0));
    assert_eq!(v["state"], "failed", "{v}");
    assert!(detail(&v).contains("read-only"), "{v}");
    let v = command(addr, "alarm", json!(true));
    assert!(detail(&v).contains("one bit"), "{v}");
    let v = command(addr, "setpoint", json!(2.5));
    assert!(detail(&v).contains("whole number"), "{v}");
    let v = command(addr, "missing", json!(1));
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["server_status"], "Modbus exception IllegalDataAddress", "{v}");
    svc.stop(rt.handle()).expect("stop");
}
