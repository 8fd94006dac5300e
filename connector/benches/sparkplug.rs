//! Sparkplug B through Debian's mosquitto, all on this machine (edge node, broker, connector and live
//! client share the cores):
//!
//! - `sparkplug_metrics_per_s`: metrics/s the connector's Sparkplug host source (kind `sparkplug`, the
//!   group auto-bound) takes from a Rust edge node (twinloom-sparkplug's `EdgeNodeSession`: 10 devices ×
//!   1,000 Double metrics born, then DDATA by alias, 500 metrics a message, QoS 0) into the twin, from the
//!   first data message to the last metric accepted, with zero loss required (metrics accepted ==
//!   metrics published, no source error, no rebirth request, nothing rejected); a WebSocket client on
//!   /v1/live counts the deltas and edits it gets (values are coalesced per tick). Target >= 300,000/s.
//! - `sparkplug_broker_metrics_per_s`: the same edge node and broker with the service stopped and a plain
//!   rumqttc subscriber on the group counting messages × metrics: what the broker itself tops out at here.
//!   The edge node replays 1,280 DDATA messages encoded beforehand (a valid sequence: a multiple of 256),
//!   so that its encoder does not limit what the broker is offered.
//!
//! The publisher keeps at most `WINDOW` metrics in flight (published, not yet accepted by the service or
//! received by the subscriber), so the broker's queues stay bounded and the rate is what the receiving
//! side takes. Each line also carries the CPU seconds per second of the broker, the service's runtime, the
//! edge node's runtime, the live client's runtime and the rest of this process during the window.
//!
//! Usage: `cargo bench -p twinloom-connector --bench sparkplug -- [PREFIX]`; prints JSON lines.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use twinloom_connector::Config;
use twinloom_sparkplug::{DataType, EdgeNodeSession, MetricDefinition, MetricValue};
use twinloom_tests::{free_port, http_get, start_mosquitto};

/// The same allocator as the `twinloom` binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAME: &str = "sparkplug_metrics_per_s";
const BROKER: &str = "sparkplug_broker_metrics_per_s";
const TARGET: u64 = 300_000;

const GROUP: &str = "Bench";
const NODE: &str = "Edge1";
const HOST_ID: &str = "bench-host";
const SOURCE: &str = "spb";
const DEVICES: u64 = 10;
const METRICS: u64 = 1_000;
const PER_MSG: u64 = 500;
const SECONDS: f64 = 5.0;
/// Metrics published but not yet accepted (or received) at most.
const WINDOW: u64 = 100_000;

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn device(d: u64) -> String {
    format!("Dev{:02}", d + 1)
}

fn alias(d: u64, m: u64) -> u64 {
    (d + 1) * 10_000 + m
}

/// The whole /metrics text.
fn metrics_text(addr: std::net::SocketAddr) -> String {
    http_get(addr, "/metrics").1
}

/// The value of the line `name value`, or the sum of every line that starts with `name` (a prefix with
/// labels), in a /metrics text.
fn sum(text: &str, prefix: &str) -> f64 {
    text.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok()).sum()
}

fn accepted(text: &str) -> u64 {
    sum(text, "twinloom_samples_accepted_total ") as u64
}

/// CPU seconds (user + system) from a /proc/.../stat line.
fn stat_cpu_s(stat: &str) -> f64 {
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds so far: the broker's, and each thread's of this process (by id, with its name).
#[derive(Clone, Default, Debug)]
struct Cpu {
    broker: f64,
    threads: std::collections::BTreeMap<u32, (String, f64)>,
}

impl Cpu {
    fn now(broker_pid: u32) -> Cpu {
        let mut c = Cpu {
            broker: std::fs::read_to_string(format!("/proc/{broker_pid}/stat")).map_or(0.0, |s| stat_cpu_s(&s)),
            ..Cpu::default()
        };
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for t in tasks.flatten() {
                let Some(tid) = t.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
                let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else { continue };
                let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map_or("", |(c, _)| c);
                c.threads.insert(tid, (comm.to_string(), stat_cpu_s(&stat)));
            }
        }
        c
    }

    /// CPU seconds per second between `self` and `later` as JSON fields: the broker, the service's
    /// runtime (`svc` threads), the edge node's (`edge`), the live client's (`live`) and the rest of this
    /// process (the service's own threads, the main thread, the window's poller). The busiest threads go
    /// to stderr.
    fn share(&self, later: &Cpu, seconds: f64, what: &str) -> String {
        let (mut service, mut edge, mut live, mut other) = (0.0, 0.0, 0.0, 0.0);
        let mut busiest = Vec::new();
        for (tid, (comm, s)) in &later.threads {
            let used = s - self.threads.get(tid).map_or(0.0, |t| t.1);
            busiest.push((used, format!("{comm}[{tid}]")));
            match comm.as_str() {
                c if c.starts_with("svc") => service += used,
                c if c.starts_with("edge") => edge += used,
                c if c.starts_with("live") => live += used,
                _ => other += used,
            }
        }
        busiest.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top: Vec<String> = busiest.iter().take(8).map(|(u, n)| format!("{n} {:.2}", u / seconds)).collect();
        eprintln!("sparkplug bench: {what}: busiest threads (CPU s/s): {}", top.join(", "));
        let r = |x: f64| x / seconds;
        format!(
            r#","cpu_broker":{:.2},"cpu_service":{:.2},"cpu_edge":{:.2},"cpu_live_client":{:.2},"cpu_other":{:.2}"#,
            r(later.broker - self.broker),
            r(service),
            r(edge),
            r(live),
            r(other)
        )
    }
}

/// The Rust edge node: its MQTT client and Sparkplug session. It births when the host's STATE says online
/// and answers rebirth requests (counted: a zero-loss run has none).
struct Edge {
    client: AsyncClient,
    session: Arc<tokio::sync::Mutex<EdgeNodeSession>>,
    births: Arc<AtomicU64>,
    rebirths: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

fn mqtt_options(id: &str, port: u16) -> MqttOptions {
    let mut o = MqttOptions::new(id, "127.0.0.1", port);
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(64 << 20, 64 << 20);
    o.set_clean_session(true);
    o
}

async fn publish_births(
    client: AsyncClient,
    session: Arc<tokio::sync::Mutex<EdgeNodeSession>>,
    births: Arc<AtomicU64>,
) {
    let mut s = session.lock().await;
    let messages = s.births(now_ms()).expect("births");
    for m in messages {
        client.publish(m.topic, QoS::AtMostOnce, false, m.payload).await.expect("publish a birth");
    }
    births.fetch_add(1, Relaxed);
}

async fn start_edge(port: u16) -> Edge {
    let mut session = EdgeNodeSession::new(GROUP, NODE, Vec::new()).expect("edge node");
    for d in 0..DEVICES {
        let defs =
            (0..METRICS).map(|m| MetricDefinition::new(format!("M{m:04}"), alias(d, m), DataType::Double)).collect();
        session.add_device(&device(d), defs).expect("device");
        let values: Vec<(u64, MetricValue)> = (0..METRICS).map(|m| (alias(d, m), MetricValue::Float(0.0))).collect();
        session.set_values(Some(&device(d)), &values).expect("initial values");
    }
    let will = session.begin_session();
    let mut opts = mqtt_options("bench-edge", port);
    opts.set_last_will(LastWill::new(will.topic, will.payload, QoS::AtMostOnce, false));
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let session = Arc::new(tokio::sync::Mutex::new(session));
    let (births, rebirths) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let state_topic = format!("spBv1.0/STATE/{HOST_ID}");
    let ncmd_topic = format!("spBv1.0/{GROUP}/NCMD/{NODE}");
    let task = {
        let (client, session, births, rebirths) = (client.clone(), session.clone(), births.clone(), rebirths.clone());
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        let _ = client.try_subscribe(state_topic.clone(), QoS::AtLeastOnce);
                        let _ = client.try_subscribe(ncmd_topic.clone(), QoS::AtLeastOnce);
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic == state_topic => {
                        let online = serde_json::from_slice::<serde_json::Value>(&p.payload)
                            .is_ok_and(|v| v["online"] == serde_json::Value::Bool(true));
                        if online {
                            tokio::spawn(publish_births(client.clone(), session.clone(), births.clone()));
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic == ncmd_topic => {
                        let (client, session, rebirths) = (client.clone(), session.clone(), rebirths.clone());
                        tokio::spawn(async move {
                            let mut s = session.lock().await;
                            if let Ok(Some(messages)) = s.handle_command(&p.topic, &p.payload, now_ms()) {
                                eprintln!("sparkplug bench: the host asked for a rebirth");
                                for m in messages {
                                    let _ = client.publish(m.topic, QoS::AtMostOnce, false, m.payload).await;
                                }
                                rebirths.fetch_add(1, Relaxed);
                            }
                        });
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("sparkplug bench: edge node connection: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        })
    };
    Edge { client, session, births, rebirths, task }
}

/// What one publishing run did.
struct Published {
    messages: u64,
    metrics: u64,
    /// From the first data message to the last one handed to the client.
    seconds: f64,
    /// Times the publisher waited for the window.
    window_waits: u64,
}

/// Publishes DDATA by alias (PER_MSG metrics each, devices and halves in turn, every value new) for
/// `seconds`, keeping `published - consumed()` within WINDOW metrics.
async fn publish_data(
    client: AsyncClient,
    session: Arc<tokio::sync::Mutex<EdgeNodeSession>>,
    seconds: f64,
    consumed: impl Fn() -> u64,
) -> Published {
    let devices: Vec<String> = (0..DEVICES).map(device).collect();
    let t0 = Instant::now();
    let dur = Duration::from_secs_f64(seconds);
    let (mut k, mut metrics, mut window_waits) = (0u64, 0u64, 0u64);
    let mut updates: Vec<(u64, MetricValue)> = Vec::with_capacity(PER_MSG as usize);
    while t0.elapsed() < dur {
        if metrics.saturating_sub(consumed()) > WINDOW {
            window_waits += 1;
            while metrics.saturating_sub(consumed()) > WINDOW && t0.elapsed() < dur {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            continue;
        }
        let d = k % DEVICES;
        let first = (k / DEVICES) % (METRICS / PER_MSG) * PER_MSG;
        updates.clear();
        updates.extend((0..PER_MSG).map(|i| (alias(d, first + i), MetricValue::Float(k as f64 + i as f64 * 1e-3))));
        let mut s = session.lock().await;
        let msg = s.device_data(&devices[d as usize], now_ms(), &updates).expect("DDATA");
        client.publish(msg.topic, QoS::AtMostOnce, false, msg.payload).await.expect("publish DDATA");
        drop(s);
        k += 1;
        metrics += PER_MSG;
    }
    Published { messages: k, metrics, seconds: t0.elapsed().as_secs_f64(), window_waits }
}

/// `n` (a multiple of 256) consecutive DDATA messages as `publish_data` makes them, encoded once: replayed
/// in a cycle they are still a valid sequence (seq wraps 255 → 0).
async fn prebuilt(session: &tokio::sync::Mutex<EdgeNodeSession>, n: u64) -> Vec<(String, Vec<u8>)> {
    let mut s = session.lock().await;
    (0..n)
        .map(|k| {
            let d = k % DEVICES;
            let first = (k / DEVICES) % (METRICS / PER_MSG) * PER_MSG;
            let updates: Vec<(u64, MetricValue)> =
                (0..PER_MSG).map(|i| (alias(d, first + i), MetricValue::Float(k as f64 + i as f64 * 1e-3))).collect();
            let m = s.device_data(&device(d), now_ms(), &updates).expect("DDATA");
            (m.topic, m.payload)
        })
        .collect()
}

/// Publishes `messages` in a cycle for `seconds`, keeping `published - consumed()` within WINDOW metrics.
async fn replay(
    client: AsyncClient,
    messages: Vec<(String, Vec<u8>)>,
    seconds: f64,
    consumed: impl Fn() -> u64,
) -> Published {
    let t0 = Instant::now();
    let dur = Duration::from_secs_f64(seconds);
    let (mut k, mut metrics, mut window_waits) = (0u64, 0u64, 0u64);
    while t0.elapsed() < dur {
        if metrics.saturating_sub(consumed()) > WINDOW {
            window_waits += 1;
            while metrics.saturating_sub(consumed()) > WINDOW && t0.elapsed() < dur {
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            continue;
        }
        let (topic, payload) = &messages[(k % messages.len() as u64) as usize];
        client.publish(topic.clone(), QoS::AtMostOnce, false, payload.clone()).await.expect("publish DDATA");
        k += 1;
        metrics += PER_MSG;
    }
    Published { messages: k, metrics, seconds: t0.elapsed().as_secs_f64(), window_waits }
}

/// What the live client saw.
#[derive(Default)]
struct Live {
    deltas: AtomicU64,
    edits: AtomicU64,
    resyncs: AtomicU64,
    gaps: AtomicU64,
    bytes: AtomicU64,
}

#[derive(serde::Deserialize)]
struct LiveMessage {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    edits: Vec<serde::de::IgnoredAny>,
}

async fn live_client(addr: std::net::SocketAddr, live: Arc<Live>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/live")).await else {
        eprintln!("sparkplug bench: no live stream");
        return;
    };
    let mut last: Option<u64> = None;
    while let Some(Ok(msg)) = ws.next().await {
        let Ok(text) = msg.into_text() else { continue };
        live.bytes.fetch_add(text.as_str().len() as u64, Relaxed);
        let Ok(m) = serde_json::from_str::<LiveMessage>(text.as_str()) else { continue };
        match m.kind.as_str() {
            "hello" => last = m.seq,
            "resync" => {
                live.resyncs.fetch_add(1, Relaxed);
            }
            "delta" => {
                let seq = m.seq.unwrap_or(0);
                if last.is_some_and(|l| seq != l + 1) {
                    live.gaps.fetch_add(1, Relaxed);
                }
                last = Some(seq);
                live.deltas.fetch_add(1, Relaxed);
                live.edits.fetch_add(m.edits.len() as u64, Relaxed);
            }
            _ => {}
        }
    }
}

fn config(port: u16, dir: &std::path::Path) -> Config {
    let text = format!(
        r#"
[stage]
dir = "{}"
tick_ms = 50
save_interval_s = 10

[stream]
listen = "127.0.0.1:0"
client_buffer = 65536
ring = 200000
ring_mib = 16

[[sources]]
name = "{SOURCE}"
kind = "sparkplug"
endpoint = "mqtt://127.0.0.1:{port}"
host_id = "{HOST_ID}"
birth_wait_ms = 1500
reorder_timeout_ms = 2000

[[auto_bindings]]
source = "{SOURCE}"
node = "group={GROUP}"
shop = "field"
prim = "/Plant/Field"
"#,
        dir.display()
    );
    let mut cfg = Config::parse(&text, std::path::Path::new("bench.toml")).expect("bench config");
    // As `twinloom run` does: periodic saves in `twinloom write-layer` child processes (ci/bench builds it).
    cfg.stage_writer = std::env::var_os("TWINLOOM_BIN").map(std::path::PathBuf::from);
    cfg
}

/// Waits until `f` gives the same value for `quiet` (at most `max`); returns it.
fn settle(quiet: Duration, max: Duration, f: impl Fn() -> u64) -> u64 {
    let deadline = Instant::now() + max;
    let mut v = f();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let w = f();
        if w != v {
            (v, since) = (w, Instant::now());
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    v
}

fn main() {
    twinloom_connector::tune_allocator();
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let wants = |name: &str| name.starts_with(&prefix) || prefix.starts_with(name);
    if !wants(NAME) && !wants(BROKER) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("twinloom-sparkplug-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let broker = start_mosquitto(port);
    let broker_pid = broker.0.id();
    let edge_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("edge")
        .enable_all()
        .build()
        .expect("edge runtime");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("svc")
        .enable_all()
        .build()
        .expect("service runtime");
    let live_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("live")
        .enable_all()
        .build()
        .expect("live client runtime");
    let edge = edge_rt.block_on(start_edge(port));
    let shape = format!(
        r#","devices":{DEVICES},"metrics_per_device":{METRICS},"metrics_per_message":{PER_MSG},"window_metrics":{WINDOW}"#
    );

    if wants(NAME) {
        let t_start = Instant::now();
        let svc = twinloom_connector::spawn(rt.handle(), config(port, &dir)).expect("service start");
        let addr = svc.started.listen;
        eprintln!(
            "sparkplug bench: service up in {:.1} s, {} signals bound, births published {}",
            t_start.elapsed().as_secs_f64(),
            svc.started.signals_bound,
            edge.births.load(Relaxed)
        );
        let live = Arc::new(Live::default());
        let client = live_rt.spawn(live_client(addr, live.clone()));
        // The births' values (and the quality of each node and device) first.
        let accepted0 = settle(Duration::from_millis(500), Duration::from_secs(20), || accepted(&metrics_text(addr)));
        std::thread::sleep(Duration::from_millis(300));
        let before = metrics_text(addr);
        let accepted0 = accepted(&before).max(accepted0);
        let (deltas0, edits0) = (live.deltas.load(Relaxed), live.edits.load(Relaxed));
        // The publisher's window follows the service's accepted count, polled here.
        let consumed = Arc::new(AtomicU64::new(0));
        let polling = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let poller = {
            let (consumed, polling) = (consumed.clone(), polling.clone());
            std::thread::spawn(move || {
                while polling.load(Relaxed) {
                    consumed.store(accepted(&metrics_text(addr)).saturating_sub(accepted0), Relaxed);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let cpu0 = Cpu::now(broker_pid);
        let t0 = Instant::now();
        let publisher = {
            let consumed = consumed.clone();
            edge_rt
                .spawn(publish_data(edge.client.clone(), edge.session.clone(), SECONDS, move || consumed.load(Relaxed)))
        };
        let published = edge_rt.block_on(publisher).expect("publisher");
        let at_last_publish = consumed.load(Relaxed);
        // Until every published metric is accepted (or it is clear that some never will be).
        let deadline = Instant::now() + Duration::from_secs(30);
        while consumed.load(Relaxed) < published.metrics && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = Cpu::now(broker_pid);
        polling.store(false, Relaxed);
        let _ = poller.join();
        // Anything late (more than published would be wrong too), and the live stream's last ticks.
        std::thread::sleep(Duration::from_millis(500));
        let after = metrics_text(addr);
        let got = accepted(&after) - accepted0;
        let d = |p: &str| sum(&after, p) - sum(&before, p);
        let errors = d(&format!("twinloom_source_errors_total{{source=\"{SOURCE}\""));
        let rebirth_requests = d(&format!("twinloom_source_rebirth_requests_total{{source=\"{SOURCE}\"}}"));
        let rejected = d("twinloom_samples_rejected_total");
        let (deltas, edits) = (live.deltas.load(Relaxed) - deltas0, live.edits.load(Relaxed) - edits0);
        let (resyncs, gaps) = (live.resyncs.load(Relaxed), live.gaps.load(Relaxed));
        let live_mib = live.bytes.load(Relaxed) as f64 / (1 << 20) as f64;
        let summary = svc.stop(rt.handle()).expect("service");
        client.abort();
        let lost = published.metrics as i64 - got as i64;
        let zero_loss = lost == 0
            && errors == 0.0
            && rebirth_requests == 0.0
            && rejected == 0.0
            && edge.rebirths.load(Relaxed) == 0;
        let rate = got.min(published.metrics) as f64 / seconds;
        if !zero_loss {
            eprintln!(
                "sparkplug bench: LOSS: published {} metrics, accepted {got}; source errors {errors}, rebirth requests {rebirth_requests}, rejected {rejected}",
                published.metrics
            );
        }
        println!(
            r#"{{"name":"{NAME}","value":{rate:.0},"unit":"metrics/s","target":{TARGET},"zero_loss":{zero_loss},"published_metrics":{},"accepted_metrics":{got},"lost_metrics":{lost},"messages":{},"seconds":{seconds:.3},"publish_seconds":{:.3},"drain_ms":{:.0},"offered_per_s":{:.0},"accepted_at_last_publish":{at_last_publish},"window_waits":{},"source_errors":{errors},"rebirth_requests":{rebirth_requests},"rejected":{rejected},"edge_rebirths":{},"signals":{},"live_deltas":{deltas},"live_edits":{edits},"live_resyncs":{resyncs},"live_seq_gaps":{gaps},"live_mib":{live_mib:.1}{shape}{}}}"#,
            published.metrics,
            published.messages,
            published.seconds,
            (seconds - published.seconds) * 1e3,
            published.metrics as f64 / published.seconds,
            published.window_waits,
            edge.rebirths.load(Relaxed),
            summary.signals_bound,
            cpu0.share(&cpu1, seconds, NAME),
        );
    }

    if wants(BROKER) {
        // The broker alone: the service stopped, a plain subscriber on the group counting messages.
        let received = Arc::new(AtomicU64::new(0));
        let subscribed = Arc::new(tokio::sync::Notify::new());
        let sub = {
            let (received, subscribed) = (received.clone(), subscribed.clone());
            rt.spawn(async move {
                let (client, mut eventloop) = AsyncClient::new(mqtt_options("bench-subscriber", port), 1024);
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.try_subscribe(format!("spBv1.0/{GROUP}/#"), QoS::AtMostOnce);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => subscribed.notify_one(),
                        Ok(Event::Incoming(Packet::Publish(p))) if p.topic.contains("/DDATA/") => {
                            received.fetch_add(1, Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("sparkplug bench: subscriber connection: {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            })
        };
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), subscribed.notified()).await.expect("subscribed")
        });
        if edge.births.load(Relaxed) == 0 {
            // No host came online (the service part did not run): birth anyway.
            edge_rt.block_on(publish_births(edge.client.clone(), edge.session.clone(), edge.births.clone()));
        }
        // Encoded beforehand, so that the edge node's encoder does not limit what the broker is offered.
        let messages = edge_rt.block_on(prebuilt(&edge.session, 1280));
        let r0 = received.load(Relaxed);
        let cpu0 = Cpu::now(broker_pid);
        let t0 = Instant::now();
        let publisher = {
            let received = received.clone();
            let consumed = move || (received.load(Relaxed) - r0) * PER_MSG;
            edge_rt.spawn(replay(edge.client.clone(), messages, SECONDS, consumed))
        };
        let published = edge_rt.block_on(publisher).expect("publisher");
        let deadline = Instant::now() + Duration::from_secs(30);
        while (received.load(Relaxed) - r0) < published.messages && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        let seconds = t0.elapsed().as_secs_f64();
        let cpu1 = Cpu::now(broker_pid);
        let got = received.load(Relaxed) - r0;
        sub.abort();
        let rate = (got.min(published.messages) * PER_MSG) as f64 / seconds;
        println!(
            r#"{{"name":"{BROKER}","value":{rate:.0},"unit":"metrics/s","publisher":"pre-encoded DDATA","published_messages":{},"received_messages":{got},"lost_messages":{},"seconds":{seconds:.3},"publish_seconds":{:.3},"messages_per_s":{:.0},"window_waits":{}{shape}{}}}"#,
            published.messages,
            published.messages as i64 - got as i64,
            published.seconds,
            got as f64 / seconds,
            published.window_waits,
            cpu0.share(&cpu1, seconds, BROKER),
        );
    }
    edge.task.abort();
    drop(edge_rt);
    drop(live_rt);
    drop(rt);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
}
