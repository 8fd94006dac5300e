//! OPC UA source throughput: samples/s the source delivers from the in-process plant simulator at a
//! high update rate (simulator model thread, OPC UA server, client and consumer all share this machine).
//! Prints one JSON object per line on stdout; progress on stderr. Optional argument: a name prefix.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use twinloom_connector::source::opcua::{MonitoredNode, OpcUaConfig, OpcUaSource};
use twinloom_simulator::{SimConfig, Simulator};

const NAME: &str = "opcua_source_samples_per_s";

struct Case {
    signals: usize,
    update_hz: f64,
}

async fn measure(case: &Case, warmup: Duration, window: Duration) -> Result<String, String> {
    let sim =
        Simulator::start(SimConfig { port: 0, signals: case.signals, update_hz: case.update_hz, ..Default::default() })
            .await
            .map_err(|e| e.to_string())?;
    let mut cfg = OpcUaConfig::new(sim.endpoint_url());
    cfg.publishing_interval = Duration::from_millis(20);
    cfg.max_items_per_call = 10_000;
    cfg.queue_size = 100;
    let source = OpcUaSource::connect(cfg).await.map_err(|e| e.to_string())?;
    let nodes: Vec<MonitoredNode> =
        sim.signals().iter().enumerate().map(|(i, s)| MonitoredNode::new(i as u32, sim.node_id(&s.path))).collect();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let t0 = Instant::now();
    let report = source.subscribe(&nodes, tx).await.map_err(|e| e.to_string())?;
    eprintln!("{NAME}: subscribed {} items in {:.2} s", report.subscribed, t0.elapsed().as_secs_f64());
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let consumer = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            counter.fetch_add(batch.len() as u64, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(warmup).await;
    let (r0, c0, start) =
        (received.load(Ordering::Relaxed), sim.stats().changes.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(window).await;
    let secs = start.elapsed().as_secs_f64();
    let got = (received.load(Ordering::Relaxed) - r0) as f64 / secs;
    let offered = (sim.stats().changes.load(Ordering::Relaxed) - c0) as f64 / secs;
    let late = sim.stats().late_ticks.load(Ordering::Relaxed);
    source.shutdown().await;
    consumer.abort();
    sim.shutdown().await;
    Ok(format!(
        "{{\"name\":\"{NAME}\",\"value\":{got:.0},\"unit\":\"samples/s\",\"signals\":{},\"update_hz\":{},\"offered_per_s\":{offered:.0},\"received_ratio\":{:.4},\"late_ticks\":{late},\"seconds\":{secs:.1}}}",
        case.signals,
        case.update_hz,
        if offered > 0.0 { got / offered } else { 0.0 }
    ))
}

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    if !NAME.starts_with(&prefix) {
        return;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{NAME}: cannot start a runtime: {e}");
            std::process::exit(1);
        }
    };
    // Offered load ~100k, ~200k and ~500k changes/s: the target is 100,000 samples/s end to end.
    let cases = [
        Case { signals: 10_000, update_hz: 10.0 },
        Case { signals: 20_000, update_hz: 10.0 },
        Case { signals: 50_000, update_hz: 10.0 },
    ];
    for case in &cases {
        eprintln!("{NAME}: {} signals at {} Hz", case.signals, case.update_hz);
        match rt.block_on(measure(case, Duration::from_secs(2), Duration::from_secs(5))) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("{NAME}: {e}");
                std::process::exit(1);
            }
        }
    }
}
