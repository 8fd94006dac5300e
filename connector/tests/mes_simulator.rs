//! The plant simulator's MES messages through Debian's mosquitto into the running service: after the
//! simulator's assembly line has indexed a dozen times, every message was applied (none refused), and the
//! saved stage, read back with Pixar's usd-core, holds exactly the cars the replayed model has at its
//! stations, each related to its station prim, and each station shows its VIN.

use std::time::Duration;

use twinloom_connector::Config;
use twinloom_simulator::{PlantModel, SimConfig, SimValue, Simulator};
use twinloom_tests::{free_port, metric, run_python, start_mosquitto, wait_until, TempDir};

const TICKS: u64 = 300;

fn station_prim(k: usize) -> String {
    format!("/Plant/Assembly/Line/Station{:02}", k + 1)
}

#[test]
fn the_wip_follows_the_cars_the_simulator_moves() {
    let dir = TempDir::new("mes-sim");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let mut text = format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 20\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n[[sources]]\nname = \"mqtt\"\nkind = \"mqtt\"\nendpoint = \"mqtt://127.0.0.1:{port}\"\n\n[[bindings]]\nsource = \"mqtt\"\nnode = \"topic=plant/unused\"\nshop = \"site\"\nprim = \"/Plant/Site\"\nattr = \"unused\"\ntype = \"int\"\n\n[mes]\ntopics = [\"plant/mes/#\"]\nmqtt_source = \"mqtt\"\n\n[[mes.shop]]\nscope = \"{}\"\nprim = \"/Plant/Assembly\"\n",
        twinloom_simulator::mes::SCOPE
    );
    for k in 0..twinloom_simulator::model::ASSEMBLY_STATIONS {
        text += &format!(
            "\n[[mes.station]]\nequipment = \"{}\"\nprim = \"{}\"\n",
            twinloom_simulator::mes::equipment_id(k),
            station_prim(k)
        );
    }
    let cfg = Config::parse(&text, &dir.path().join("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    wait_until("the MES session", 10, || metric(addr, r#"twinloom_source_connected{source="mes"}"#) == 1.0);

    // A minute of takt per simulated second: an index every 20 ticks.
    let sim_cfg = SimConfig {
        port: 0,
        signals: 0,
        update_hz: 20.0,
        time_scale: 60.0,
        max_ticks: Some(TICKS),
        mqtt_broker: Some(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
        ..SimConfig::default()
    };
    let sim = rt.block_on(Simulator::start(sim_cfg.clone())).expect("simulator");
    wait_until("the simulator's ticks", 120, || sim.stats().ticks.load(std::sync::atomic::Ordering::Relaxed) >= TICKS);
    let applied = || metric(addr, r#"twinloom_mes_messages_total{outcome="applied"}"#);
    // Quiet for a second: everything published has arrived.
    let mut last = -1.0;
    wait_until("the MES messages to settle", 30, || {
        let now = applied();
        let settled = now == last && now > 0.0;
        last = now;
        std::thread::sleep(Duration::from_millis(900));
        settled
    });
    let (_, page) = twinloom_tests::http_get(addr, "/metrics");
    let refused: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("twinloom_mes_messages_total{") && !l.contains("\"applied\"") && !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "refused MES messages: {refused:?}");
    rt.block_on(sim.shutdown());
    svc.stop(rt.handle()).expect("stop");

    // The model at the same tick: which VIN each station holds.
    let mut model = PlantModel::new(&sim_cfg.model_config());
    for _ in 0..TICKS {
        model.step();
    }
    let mut want = Vec::new();
    for k in 0..twinloom_simulator::model::ASSEMBLY_STATIONS {
        let id = model.infos().iter().position(|s| s.path == format!("Plant/Assembly/Station{:02}/Vin", k + 1));
        if let Some(SimValue::Text(vin)) = id.map(|i| &model.values()[i]) {
            if !vin.is_empty() {
                want.push(format!("{vin} {} {vin}", station_prim(k)));
            }
        }
    }
    assert!(want.len() >= 10, "the line has filled: {want:?}");
    want.sort();
    let out = run_python(
        r#"
import sys
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
# No layout defines /Plant/Assembly here (the MES layer only overs it), so its children are not "defined"
# for the default traversal: take them all.
for car in stage.GetPrimAtPath("/Plant/Assembly/WIP").GetAllChildren():
    targets = car.GetRelationship("twinloom:wip:station").GetTargets()
    station = stage.GetPrimAtPath(targets[0]) if targets else None
    vin = station.GetAttribute("twinloom:currentVin").Get() if station else None
    print(car.GetName(), targets[0] if targets else "-", vin)
"#,
        &[&dir.path().join("stage/plant.usda").display().to_string()],
    );
    let mut got: Vec<String> = out.lines().map(str::to_string).collect();
    got.sort();
    assert_eq!(got, want);
}
