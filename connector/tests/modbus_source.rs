//! The Modbus TCP source against an independent server (PyPI pymodbus, tests/peers/modbus_server.py):
//! every register type and order, bits of a register, coils, discrete inputs and a second unit id reach
//! the stage with the server's values (read back with Pixar's usd-core after the counters are frozen); a
//! read the server answers with exception 2 is counted by code while the other reads go on; a server
//! killed and restarted on the same port is reconnected and values flow again.

use std::time::Duration;

use tokio_modbus::client::{Reader, Writer};
use tokio_modbus::prelude::{Slave, SlaveContext};
use twinloom_connector::Config;
use twinloom_tests::{free_port, metric, run_python, start_modbus_peer, wait_until, TempDir};

/// (address, USD attribute, USD type) of every binding, all on /Plant/Energy/Meter1.
const BINDINGS: [(&str, &str, &str); 15] = [
    ("holding=0", "counter", "int"),
    ("holding=1;type=i16", "signed", "int"),
    ("holding=2;type=u32", "u32", "int64"),
    ("holding=4;type=f32", "voltage", "double"),
    ("holding=6;type=f32;order=CDAB", "voltageSwapped", "double"),
    ("holding=8;type=f64", "f64", "double"),
    ("holding=12;bit=13", "bit13", "bool"),
    ("holding=12;bit=1", "bit1", "bool"),
    ("holding=21;type=u32;poll_ms=50", "energy", "int64"),
    ("input=0;type=f32", "frequency", "double"),
    ("input=2;type=i16", "inputSigned", "int"),
    ("coil=0", "coil0", "bool"),
    ("coil=1", "coil1", "bool"),
    ("discrete=1", "discrete1", "bool"),
    ("unit=2;holding=0;type=u32", "unit2", "int64"),
];

fn config(dir: &TempDir, port: u16) -> Config {
    let mut text = format!(
        r#"
[stage]
dir = "stage"
tick_ms = 20

[stream]
listen = "127.0.0.1:0"

[[sources]]
name = "meters"
kind = "modbus"
endpoint = "127.0.0.1:{port}"
sampling_interval_ms = 100
"#
    );
    for (node, attr, ty) in BINDINGS {
        text += &format!(
            "\n[[bindings]]\nsource = \"meters\"\nnode = \"{node}\"\nshop = \"energy\"\nprim = \"/Plant/Energy/Meter1\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n"
        );
    }
    // A register the server does not have: answered with exception 2, counted, the rest goes on.
    text += "\n[[bindings]]\nsource = \"meters\"\nnode = \"holding=150\"\nshop = \"energy\"\nprim = \"/Plant/Energy/Meter1\"\nattr = \"missing\"\ntype = \"int\"\n";
    Config::parse(&text, &dir.path().join("modbus.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Reads registers `addr..addr+n` of `unit` with an independent client (tokio-modbus).
async fn registers(port: u16, unit: u8, addr: u16, n: u16) -> Vec<u16> {
    let mut c = tokio_modbus::client::tcp::connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
    c.set_slave(Slave(unit));
    c.read_holding_registers(addr, n).await.unwrap().unwrap()
}

const READ_BACK: &str = r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
prim = stage.GetPrimAtPath("/Plant/Energy/Meter1")
for name in sys.argv[2:]:
    print(name, repr(prim.GetAttribute(name).Get()))
"#;

#[test]
fn registers_coils_and_units_reach_the_stage_and_the_source_survives_exceptions_and_restarts() {
    let dir = TempDir::new("modbus-source");
    let port = free_port();
    let mut peer = start_modbus_peer(port);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), config(&dir, port)).expect("service");
    let addr = svc.started.listen;
    let errors =
        |reason: &str| metric(addr, &format!(r#"twinloom_source_errors_total{{source="meters",reason="{reason}"}}"#));
    wait_until("the first values", 10, || metric(addr, "twinloom_samples_accepted_total") >= 15.0);
    wait_until("the exception to be counted", 10, || errors("modbus_illegal_data_address") >= 1.0);
    // The counters keep flowing (only changes are sent): several polls' worth arrive.
    let before = metric(addr, "twinloom_samples_accepted_total");
    wait_until("changes", 10, || metric(addr, "twinloom_samples_accepted_total") >= before + 10.0);

    // A server killed and restarted on the same port: reconnected, values flow again.
    let _ = peer.0.kill();
    let _ = peer.0.wait();
    wait_until("the lost connection", 10, || metric(addr, r#"twinloom_source_connected{source="meters"}"#) == 0.0);
    peer = start_modbus_peer(port);
    wait_until("the reconnect", 15, || metric(addr, r#"twinloom_source_reconnects_total{source="meters"}"#) >= 1.0);
    let after = metric(addr, "twinloom_samples_accepted_total");
    wait_until("values after the restart", 10, || metric(addr, "twinloom_samples_accepted_total") >= after + 10.0);

    // Freeze the changing values, let the source catch up, and compare the stage with the server.
    let (counter, energy, unit2) = rt.block_on(async {
        let mut c = tokio_modbus::client::tcp::connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        c.set_slave(Slave(1));
        c.write_single_register(20, 1).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let counter = registers(port, 1, 0, 1).await[0];
        let e = registers(port, 1, 21, 2).await;
        let u = registers(port, 2, 0, 2).await;
        (counter, (u32::from(e[0]) << 16) | u32::from(e[1]), (u32::from(u[0]) << 16) | u32::from(u[1]))
    });
    std::thread::sleep(Duration::from_millis(800));
    svc.stop(rt.handle()).expect("stop");
    let names: Vec<&str> = BINDINGS.iter().map(|b| b.1).chain(["missing"]).collect();
    let mut args = vec![dir.path().join("stage/plant.usda").display().to_string()];
    args.extend(names.iter().map(|n| n.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_python(READ_BACK, &args);
    let got: std::collections::HashMap<&str, &str> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let want = [
        ("counter", counter.to_string()),
        ("signed", "-1234".into()),
        ("u32", "100000".into()),
        ("voltage", "230.5".into()),
        ("voltageSwapped", "230.5".into()),
        ("f64", "12345.678".into()),
        ("bit13", "True".into()),
        ("bit1", "False".into()),
        ("energy", energy.to_string()),
        ("frequency", "49.95000076293945".into()),
        ("inputSigned", "-40".into()),
        ("coil0", "True".into()),
        ("coil1", "False".into()),
        ("discrete1", "True".into()),
        ("unit2", unit2.to_string()),
        ("missing", "None".into()),
    ];
    for (name, value) in want {
        assert_eq!(got.get(name).copied(), Some(value.as_str()), "{name}: {out}");
    }
    drop(peer);
}

#[test]
fn the_documented_configuration_reads_the_peer() {
    let dir = TempDir::new("modbus-docs");
    let port = free_port();
    let _peer = start_modbus_peer(port);
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/modbus.md")).unwrap();
    let start = doc.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let text = doc[start..start + doc[start..].find("```").unwrap()]
        .replace("127.0.0.1:5020", &format!("127.0.0.1:{port}"))
        .replace("dir = \"twinloom-out\"", &format!("dir = {:?}", dir.path().join("stage")))
        + "\n[stream]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = Config::parse(&text, &dir.path().join("meters.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    wait_until("the documented values", 10, || metric(addr, "twinloom_samples_accepted_total") >= 5.0);
    let unit2 = rt.block_on(async {
        let mut c = tokio_modbus::client::tcp::connect(format!("127.0.0.1:{port}").parse().unwrap()).await.unwrap();
        c.set_slave(Slave(1));
        c.write_single_register(20, 1).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let u = registers(port, 2, 0, 2).await;
        (u32::from(u[0]) << 16) | u32::from(u[1])
    });
    std::thread::sleep(Duration::from_millis(1500)); // one more poll at the documented 1 s
    svc.stop(rt.handle()).expect("stop");
    let script = r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
m1, m2 = stage.GetPrimAtPath("/Plant/Energy/Meter1"), stage.GetPrimAtPath("/Plant/Energy/Meter2")
print(m1.GetAttribute("voltage").Get(), m1.GetAttribute("alarm").Get(), m1.GetAttribute("breakerClosed").Get())
print(repr(m2.GetAttribute("energyKWh").Get()))
"#;
    let out = run_python(script, &[&dir.path().join("stage/plant.usda").display().to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "230.5 True True", "{out}");
    let kwh: f64 = lines[1].parse().expect("a number");
    assert!((kwh - f64::from(unit2) * 0.001).abs() < 1e-9, "{kwh} vs {unit2} Wh");
}

#[test]
fn the_plant_simulator_serves_its_meters_over_modbus() {
    let dir = TempDir::new("modbus-sim");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Five ticks, then the values stay put, so the stage can be compared with the server exactly.
    let sim = rt
        .block_on(twinloom_simulator::Simulator::start(twinloom_simulator::SimConfig {
            port: 0,
            modbus_port: Some(0),
            max_ticks: Some(5),
            ..Default::default()
        }))
        .expect("simulator");
    let port = sim.modbus_port().expect("the Modbus server");
    let meters: Vec<(usize, String)> = sim
        .signals()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.path.starts_with("Plant/Paint/Energy/") && s.path.ends_with("/Energy"))
        .map(|(i, s)| (i, s.path.clone()))
        .collect();
    assert!(meters.len() >= 3, "{meters:?}");
    let mut text = format!(
        "[stage]\ndir = \"stage\"\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n[[sources]]\nname = \"meters\"\nkind = \"modbus\"\nendpoint = \"127.0.0.1:{port}\"\nsampling_interval_ms = 100\n"
    );
    for (k, (i, _)) in meters.iter().enumerate() {
        text += &format!(
            "\n[[bindings]]\nsource = \"meters\"\nnode = \"{}\"\nshop = \"energy\"\nprim = \"/Plant/Energy/Meter{k}\"\nattr = \"energyKWh\"\ntype = \"double\"\n",
            twinloom_simulator::modbus::modbus_address(*i)
        );
    }
    let cfg = Config::parse(&text, &dir.path().join("sim.toml")).unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(1000)); // the five ticks
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    std::thread::sleep(Duration::from_millis(800));
    svc.stop(rt.handle()).expect("stop");
    // The same values over OPC UA (an independent client), as 32-bit floats like the registers.
    let script = r#"
import asyncio, sys
from asyncua import Client
from pxr import Usd
async def main():
    stage = Usd.Stage.Open(sys.argv[2])
    async with Client(url=sys.argv[1]) as c:
        for k, path in enumerate(sys.argv[4:]):
            v = await c.get_node(f"ns={sys.argv[3]};s={path}").read_value()
            got = stage.GetPrimAtPath(f"/Plant/Energy/Meter{k}").GetAttribute("energyKWh").Get()
            print(path, v, got)
asyncio.run(main())
"#;
    let stage = dir.path().join("stage/plant.usda").display().to_string();
    let ns = sim.namespace_index().to_string();
    let mut args = vec![sim.endpoint_url(), stage.as_str(), ns.as_str()];
    args.extend(meters.iter().map(|(_, p)| p.as_str()));
    let out = run_python(script, &args);
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (opcua, stage): (f64, f64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        assert_eq!(stage, f64::from(opcua as f32), "{line}");
    }
    assert_eq!(out.lines().count(), meters.len(), "{out}");
    rt.block_on(sim.shutdown());
}
