//! A live-stream client that stops reading never stalls ingestion: while it sleeps, the simulator's changes
//! keep arriving at full rate, a second client receives every delta in order, and when the sleeper reads
//! again it is told to resync (its backlog was dropped, bounded) instead of the connector buffering without
//! limit.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use twinloom_connector as service;
use twinloom_connector::Config;
use twinloom_simulator::{SimConfig, Simulator};
use twinloom_tests::{metric, TempDir};

/// Reads every message for `for_how_long`; returns (deltas, sequence gaps, resyncs).
async fn read_all(
    ws: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    for_how_long: Duration,
) -> (u64, u64, u64) {
    let (mut deltas, mut gaps, mut resyncs) = (0, 0, 0);
    let mut last: Option<u64> = None;
    let end = Instant::now() + for_how_long;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(end.saturating_duration_since(Instant::now()), ws.next()).await {
        let Ok(text) = msg.into_text() else { continue };
        let v: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON message");
        let seq = v["seq"].as_u64();
        match v["type"].as_str() {
            Some("hello") => last = seq,
            Some("resync") => {
                resyncs += 1;
                last = seq;
            }
            Some("delta") => {
                deltas += 1;
                if let (Some(l), Some(s)) = (last, seq) {
                    if s != l + 1 {
                        gaps += 1;
                    }
                }
                last = seq;
            }
            _ => {}
        }
    }
    (deltas, gaps, resyncs)
}

#[test]
fn a_client_that_stops_reading_never_stalls_ingestion_and_is_told_to_resync() {
    let dir = TempDir::new("slow-consumer");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 5,
            signals: 2000,
            update_hz: 20.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let ns = sim.namespace_index();
    // A small ring and client buffer, so the sleeper's backlog is dropped within seconds.
    let text = format!(
        "[stage]\ndir = \"{}\"\ntick_ms = 20\n\n[stream]\nlisten = \"127.0.0.1:0\"\nring = 20\nring_mib = 1\nclient_buffer = 8\n\n\
         [[sources]]\nname = \"sim\"\nkind = \"opcua\"\nendpoint = \"{}\"\npublishing_interval_ms = 20\n\n\
         [[auto_bindings]]\nsource = \"sim\"\nnode = \"ns={ns};s=Plant/Field\"\nshop = \"field\"\nprim = \"/Plant/Field\"\n",
        dir.path().join("stage").display(),
        sim.endpoint_url()
    );
    let cfg = Config::parse(&text, &dir.path().join("twinloom.toml")).expect("config");
    let svc = service::spawn(rt.handle(), cfg).expect("service started");
    let started = svc.started.clone();
    let url = format!("ws://{}/v1/live", started.listen);

    rt.block_on(async {
        let (mut sleeper, _) = tokio_tungstenite::connect_async(&url).await.expect("sleeper connects");
        let (mut reader, _) = tokio_tungstenite::connect_async(&url).await.expect("reader connects");
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The sleeper reads nothing for 8 s; the reader reads everything meanwhile.
        let changes0 = sim.stats().changes.load(Relaxed);
        let samples0 = metric(started.listen, "twinloom_samples_in_total") as u64;
        let (deltas, gaps, resyncs) = read_all(&mut reader, Duration::from_secs(8)).await;
        let changes = sim.stats().changes.load(Relaxed) - changes0;
        let samples = metric(started.listen, "twinloom_samples_in_total") as u64 - samples0;
        eprintln!("8 s while one client sleeps: {changes} changes, {samples} samples in, reader: {deltas} deltas");
        assert!(changes > 100_000, "the simulator changed only {changes} values");
        assert!(samples as f64 >= 0.8 * changes as f64, "ingestion stalled: {samples} samples for {changes} changes");
        assert!(deltas > 100, "the reading client got {deltas} deltas");
        assert_eq!((gaps, resyncs), (0, 0), "the reading client must see every delta in order");

        // The sleeper wakes: its backlog is gone, so it is told to take a snapshot.
        let (_, _, sleeper_resyncs) = read_all(&mut sleeper, Duration::from_secs(5)).await;
        assert!(sleeper_resyncs >= 1, "the slow client was never told to resync");
        assert!(metric(started.listen, "twinloom_stream_resyncs_total") >= 1.0);
        let _ = sleeper.send(Message::Close(None)).await;
        let _ = reader.send(Message::Close(None)).await;
    });
    svc.stop(rt.handle()).expect("service");
    rt.block_on(sim.shutdown());
}
