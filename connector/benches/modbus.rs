//! `modbus_registers_per_s`: registers the Modbus source reads per second from the Rust plant simulator's
//! Modbus TCP server (every numeric signal of a 20,000-signal plant as a 32-bit float: about 40,000
//! registers in two unit ids, polled continuously), target >= 200,000/s on this machine, with the
//! simulator sharing it. Prints one JSON line (ci/bench).

use std::time::{Duration, Instant};

use twinloom_connector::source::modbus::{ModbusConfig, ModbusSource};
use twinloom_simulator::{SimConfig, Simulator};

const NAME: &str = "modbus_registers_per_s";

fn main() {
    if std::env::args().skip(1).find(|a| !a.starts_with('-')).is_some_and(|p| !NAME.starts_with(&p)) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let sim = Simulator::start(SimConfig { port: 0, modbus_port: Some(0), signals: 20_000, ..SimConfig::default() })
            .await
            .expect("simulator");
        let port = sim.modbus_port().expect("the Modbus server");
        let nodes: Vec<(u32, String)> = (0..sim.signals().len())
            .map(|i| (i as u32, format!("{};poll_ms=1", twinloom_simulator::modbus::modbus_address(i))))
            .collect();
        let source = ModbusSource::connect(ModbusConfig::new(format!("127.0.0.1:{port}"))).await.expect("connect");
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let (points, reads) = source.subscribe(&nodes, tx).expect("subscribe");
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
        let (r0, t0) = (source.values_read(), Instant::now());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let rate = (source.values_read() - r0) as f64 / t0.elapsed().as_secs_f64();
        source.close().await;
        drain.abort();
        sim.shutdown().await;
        println!(
            "{{\"name\":\"{NAME}\",\"value\":{rate:.0},\"unit\":\"registers/s\",\"target\":200000,\"points\":{points},\"reads_per_round\":{reads}}}"
        );
    });
}
