//! End-to-end benchmarks: plant simulator → OPC UA → connector → USD → WebSocket client, all on this
//! machine (simulator, connector and client share the cores).
//!
//! - `e2e_samples_per_s`: sustained samples/s the connector ingests from a fast simulator, with the loss
//!   (simulator changes − samples received) and the client's view (no resync, no sequence gap);
//! - `e2e_latency_p50_ms` / `e2e_latency_p99_ms`: source timestamp → receipt by the client, at ~20,000
//!   samples/s;
//! - `command_roundtrip_p50_ms` / `command_roundtrip_p99_ms`: a write-back command from `POST /v1/commands`
//!   to its answer in state `verified` (policy, audit fsyncs, OPC UA write, read-back), ten a second, while
//!   the connector ingests ~20,000 samples/s (target p99 <= 100 ms);
//! - `e2e_samples_per_s_with_commands`: `e2e_samples_per_s` with those commands flowing (must not drop);
//! - `rss_bytes_per_signal`: resident memory the `twinloom run` process adds per bound signal, at 100,000
//!   signals (against the same process with 2 signals bound).
//!
//! Usage: `cargo bench -p twinloom-connector --bench e2e -- [PREFIX]`; prints JSON lines. With
//! `TWINLOOM_BENCH_JOURNAL=per_tick` (or `per_sample`, `os`) the connector runs with its write-ahead journal,
//! and with `TWINLOOM_BENCH_HISTORY=1` as well the journal is compacted into history clips.
//! With `TWINLOOM_BENCH_DIAGNOSTICS=N` it runs with `[diagnostics]` on every numeric signal: one
//! twinloom-diagnostics detector per signal on the observer thread, as `twinloom run` does
//! (docs/diagnostics.md, "Live"; the observer here mirrors cli/src/cmd/diagnose/live.rs), with a warm-up
//! of N samples (the default 300 is longer than a run at 10 Hz: use e.g. 20 to score and write too).

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use twinloom_connector::Config;
use twinloom_connector::{self as service, RunSummary};
use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};

/// The same allocator as the `twinloom` binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn emit(name: &str, value: f64, unit: &str, extra: &str) {
    println!(r#"{{"name":"{name}","value":{value:.3},"unit":"{unit}"{extra}}}"#);
}

/// A counter from the connector's /metrics.
fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return 0 };
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0)
}

/// The bench's command caller: its token, and the level-5 write-back tables that let it write the oven
/// zones' setpoints without approval.
const TOKEN: &str = "bench-token";

fn write_back_tables() -> String {
    let mut t = format!(
        "\n[[identity]]\nname = \"bench\"\ntoken_sha256 = \"{}\"\nroles = [\"operator\"]\n",
        twinloom_connector::command::config::token_sha256(TOKEN)
    );
    for z in 1..=6 {
        t += &format!(
            "\n[[writable]]\ntarget = \"/Plant/Paint/Oven/Zone{z:02}.Setpoint\"\nroles = [\"operator\"]\nmin = 100.0\nmax = 250.0\ntolerance = 0.001\n"
        );
    }
    t
}

fn config(endpoint: &str, ns: u16, dir: &std::path::Path, tick_ms: u64, commands: bool) -> Config {
    let text = format!(
        r#"
[stage]
dir = "{}"
capability_level = 5
tick_ms = {tick_ms}
save_interval_s = 10

[stream]
listen = "127.0.0.1:0"
client_buffer = 65536
ring = 200000
ring_mib = 16

[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 10
queue_size = 4

"#,
        dir.display()
    );
    let mut text = text;
    for (area, shop) in
        [("BIW", "biw"), ("Paint", "paint"), ("Assembly", "assembly"), ("Field", "field"), ("Shift", "site")]
    {
        text.push_str(&format!("\n[[auto_bindings]]\nsource = \"sim\"\nnode = \"ns={ns};s=Plant/{area}\"\nshop = \"{shop}\"\nprim = \"/Plant/{area}\"\n"));
    }
    if commands {
        text.push_str(&write_back_tables());
    }
    // `TWINLOOM_BENCH_JOURNAL=per_tick|per_sample|os` runs with the write-ahead journal on (docs/journal.md).
    if let Ok(durability) = std::env::var("TWINLOOM_BENCH_JOURNAL") {
        text.push_str(&format!("\n[journal]\nenabled = true\ndurability = \"{durability}\"\n"));
        // `TWINLOOM_BENCH_HISTORY=1` compacts the journal into history clips as well (docs/history.md).
        if std::env::var_os("TWINLOOM_BENCH_HISTORY").is_some() {
            text.push_str("\n[history]\nenabled = true\nflush_interval_s = 1\n");
        }
    }
    let diagnostics = std::env::var_os("TWINLOOM_BENCH_DIAGNOSTICS").is_some();
    if diagnostics {
        text.push_str("\n[diagnostics]\nenabled = true\n");
    }
    let mut cfg = Config::parse(&text, std::path::Path::new("bench.toml")).expect("bench config");
    if diagnostics {
        let warmup = std::env::var("TWINLOOM_BENCH_DIAGNOSTICS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
        cfg.observer = Some(twinloom_connector::observe::ObserverFactory::new(move || {
            Box::new(BenchDiagnostics { warmup, ..BenchDiagnostics::default() })
        }));
    }
    // As `twinloom run` does: periodic saves in `twinloom write-layer` child processes (ci/bench builds it).
    cfg.stage_writer = std::env::var_os("TWINLOOM_BIN").map(std::path::PathBuf::from);
    cfg
}

/// The diagnostics observer of `twinloom run` (cli/src/cmd/diagnose/live.rs) in short: a monitor over
/// every signal, scores written at most once a second per signal when they move, and for each episode
/// event the layer's attributes and an `anomaly` message.
#[derive(Default)]
struct BenchDiagnostics {
    warmup: u32,
    monitor: Option<twinloom_diagnostics::Monitor>,
    paths: Vec<String>,
    written: Vec<(f64, i64)>,
    events: Vec<twinloom_diagnostics::Event>,
}

impl twinloom_connector::observe::SampleObserver for BenchDiagnostics {
    fn attach(&mut self, signals: &[twinloom_connector::observe::ObservedSignal]) -> Result<(), String> {
        let mut cfg = twinloom_diagnostics::MonitorConfig::default();
        cfg.detector.warmup_samples = self.warmup;
        self.monitor = Some(twinloom_diagnostics::Monitor::new(cfg, signals.len()).map_err(|e| e.to_string())?);
        self.paths = signals.iter().map(|s| s.path()).collect();
        self.written = vec![(f64::NAN, i64::MIN); signals.len()];
        Ok(())
    }

    fn observe(
        &mut self,
        _now_ms: i64,
        samples: &[twinloom_connector::observe::ObservedSample],
        out: &mut twinloom_connector::observe::Observations,
    ) {
        use twinloom_connector::observe::{DiagValue, DiagWrite};
        let Some(m) = self.monitor.as_mut() else { return };
        for s in samples {
            let i = s.signal as usize;
            let Some(v) = m.update(i, s.time_ms, s.value, &mut self.events) else { continue };
            if !matches!(v.label, twinloom_diagnostics::Label::Normal | twinloom_diagnostics::Label::Anomalous) {
                continue;
            }
            let w = &mut self.written[i];
            if (w.0.is_nan() || (v.score - w.0).abs() >= 0.05) && s.time_ms.saturating_sub(w.1) >= 1000 {
                *w = (v.score, s.time_ms);
                out.writes.push(DiagWrite::diag(s.signal, "score", DiagValue::Double(v.score)));
            }
        }
        for e in self.events.drain(..) {
            let open = e.kind != twinloom_diagnostics::EventKind::Close;
            out.opened += u64::from(e.kind == twinloom_diagnostics::EventKind::Open);
            let signal = e.signal as u32;
            out.writes.push(DiagWrite::diag(signal, "score", DiagValue::Double(e.score)));
            out.writes.push(DiagWrite::diag(signal, "anomaly", DiagValue::Bool(open)));
            out.events.push(format!(
                r#"{{"type":"anomaly","event":"{}","id":{},"path":"{}","score":{}}}"#,
                e.kind.as_str(),
                e.episode,
                self.paths[e.signal],
                e.score
            ));
        }
        out.open = m.open() as u64;
    }
}

/// What the WebSocket client saw.
#[derive(Default, Debug)]
struct ClientStats {
    deltas: u64,
    edits: u64,
    resyncs: u64,
    gaps: u64,
    latencies_ms: Vec<f64>,
}

/// Latencies are recorded only while `recording` is set: the first deltas carry every signal's initial
/// value, whose source timestamps are as old as the start-up, not the connector's latency.
async fn client(
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Receiver<bool>,
    recording: Arc<AtomicBool>,
) -> ClientStats {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/live")).await.expect("ws connect");
    let mut st = ClientStats::default();
    let mut last: Option<u64> = None;
    let mut stop = stop;
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Ok(text) = msg.into_text() else { continue };
                let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0);
                let v: serde_json::Value = match serde_json::from_str(text.as_str()) { Ok(v) => v, Err(_) => continue };
                match v["type"].as_str() {
                    Some("hello") => last = v["seq"].as_u64(),
                    Some("resync") => st.resyncs += 1,
                    Some("delta") => {
                        let seq = v["seq"].as_u64().unwrap_or(0);
                        if let Some(l) = last { if seq != l + 1 { st.gaps += 1; } }
                        last = Some(seq);
                        st.deltas += 1;
                        if let Some(edits) = v["edits"].as_array() {
                            st.edits += edits.len() as u64;
                            for e in edits {
                                if let Some(t) = e["sourceTimeMs"].as_f64() {
                                    if recording.load(Relaxed) {
                                        st.latencies_ms.push(now_ms - t);
                                    }
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    st
}

/// POSTs a command; returns the milliseconds to its answer and the state it reached.
fn post_command(addr: std::net::SocketAddr, zone: u32, value: f64) -> (f64, String) {
    use std::io::{Read, Write};
    let body = format!(r#"{{"target":"/Plant/Paint/Oven/Zone{zone:02}.Setpoint","value":{value},"reason":"bench"}}"#);
    let t0 = Instant::now();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return (f64::NAN, "no connection".into()) };
    let _ = write!(
        s,
        "POST /v1/commands HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let ms = t0.elapsed().as_secs_f64() * 1e3;
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    let state = serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["state"].as_str().map(String::from))
        .unwrap_or_else(|| format!("bad answer: {text}"));
    (ms, state)
}

/// Sends a command ten times a second (zones in turn, alternating values) until `stop`; returns each
/// round trip (ms) and how many did not end `verified`.
fn command_load(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> (Vec<f64>, u64) {
    let (mut times, mut not_verified) = (Vec::new(), 0);
    let mut k = 0u32;
    while !stop.load(Relaxed) {
        let (ms, state) = post_command(addr, k % 6 + 1, 150.0 + f64::from(k % 2));
        if state == "verified" {
            times.push(ms);
        } else {
            not_verified += 1;
            if not_verified <= 3 {
                eprintln!("command {k}: {state}");
            }
        }
        k += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    (times, not_verified)
}

struct Run {
    summary: RunSummary,
    /// Command round trips (ms) when commands flowed, and those that did not end verified.
    commands: (Vec<f64>, u64),
    client: ClientStats,
    sim_changes: u64,
    samples_window: u64,
    seconds: f64,
    /// With diagnostics: samples the detectors scored and dropped, episodes opened (whole run).
    diagnostics: Option<(u64, u64, u64, u64)>,
}

/// Runs simulator + connector + client for `seconds` of measurement after a warm-up.
fn run(signals: usize, update_hz: f64, seconds: f64, tick_ms: u64, commands: bool) -> Run {
    let dir = std::env::temp_dir().join(format!("twinloom-e2e-bench-{}-{signals}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sim_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim: SimulatorHandle = sim_rt
        .block_on(Simulator::start(SimConfig { port: 0, signals, update_hz, seed: 3, ..SimConfig::default() }))
        .expect("simulator");
    std::thread::sleep(Duration::from_millis(500));
    let cfg = config(sim.endpoint_url(), sim.namespace_index(), &dir, tick_ms, commands);
    let svc = service::spawn(rt.handle(), cfg).expect("service start");
    let started = svc.started.clone();
    let (cstop_tx, cstop_rx) = tokio::sync::watch::channel(false);
    let recording = Arc::new(AtomicBool::new(false));
    let cl = rt.spawn(client(started.listen, cstop_rx, recording.clone()));
    std::thread::sleep(Duration::from_secs(2)); // warm-up
    recording.store(true, Relaxed);
    let stop_commands = Arc::new(AtomicBool::new(false));
    let load = commands.then(|| {
        let (addr, stop) = (started.listen, stop_commands.clone());
        std::thread::spawn(move || command_load(addr, stop))
    });
    let changes0 = sim.stats().changes.load(Relaxed);
    let samples0 = metric(started.listen, "twinloom_samples_in_total");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let sim_changes = sim.stats().changes.load(Relaxed) - changes0;
    let samples_window = metric(started.listen, "twinloom_samples_in_total") - samples0;
    let elapsed = t0.elapsed().as_secs_f64();
    let diagnostics = std::env::var_os("TWINLOOM_BENCH_DIAGNOSTICS").is_some().then(|| {
        (
            metric(started.listen, "twinloom_diagnostics_samples_total"),
            metric(started.listen, "twinloom_diagnostics_dropped_total"),
            metric(started.listen, "twinloom_anomalies_opened_total"),
            metric(started.listen, "twinloom_diagnostics_writes_total"),
        )
    });
    stop_commands.store(true, Relaxed);
    let commands = load.map(|l| l.join().expect("command load")).unwrap_or_default();
    let _ = cstop_tx.send(true);
    let client = rt.block_on(cl).expect("client");
    let summary = svc.stop(rt.handle()).expect("service");
    sim_rt.block_on(sim.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
    Run { summary, commands, client, sim_changes, samples_window, seconds: elapsed, diagnostics }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    twinloom_connector::tune_allocator();
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let wants = |name: &str| name.starts_with(&prefix) || prefix.starts_with(name);

    if wants("e2e_samples_per_s") {
        // 20,000 field signals at 10 Hz: up to 200,000 changes/s offered.
        let r = run(20_000, 10.0, 10.0, 50, false);
        let rate = r.samples_window as f64 / r.seconds;
        let offered = r.sim_changes as f64 / r.seconds;
        let loss = 1.0 - (r.samples_window as f64 / r.sim_changes.max(1) as f64);
        let diag = r.diagnostics.map_or(String::new(), |(scored, dropped, opened, written)| {
            format!(
                r#","diagnostics_scored":{scored},"diagnostics_dropped":{dropped},"anomalies_opened":{opened},"diagnostics_writes":{written}"#
            )
        });
        emit(
            "e2e_samples_per_s",
            rate,
            "samples/s",
            &format!(
                r#","offered_per_s":{offered:.0},"window_loss_share":{loss:.4},"signals":{},"rejected":{},"client_deltas":{},"client_edits":{},"client_resyncs":{},"client_seq_gaps":{}{diag}"#,
                r.summary.signals_bound,
                r.summary.samples_rejected,
                r.client.deltas,
                r.client.edits,
                r.client.resyncs,
                r.client.gaps
            ),
        );
    }
    if wants("e2e_latency") {
        // About 20,000 samples/s: 4,000 signals at 5 Hz, for 30 s (~150 bursts, so p99 is not just the worst one).
        let mut r = run(4_000, 5.0, 30.0, 20, false);
        let n = r.client.latencies_ms.len();
        let p50 = percentile(&mut r.client.latencies_ms, 0.5);
        let p99 = percentile(&mut r.client.latencies_ms, 0.99);
        let rate = r.samples_window as f64 / r.seconds;
        let ctx =
            format!(r#","samples_per_s":{rate:.0},"latencies":{n},"tick_ms":20,"client_resyncs":{}"#, r.client.resyncs);
        if wants("e2e_latency_p50_ms") {
            emit("e2e_latency_p50_ms", p50, "ms", &ctx);
        }
        if wants("e2e_latency_p99_ms") {
            emit("e2e_latency_p99_ms", p99, "ms", &ctx);
        }
    }
    if wants("command_roundtrip") {
        // ~20,000 samples/s as for the latency, with ten commands a second.
        let mut r = run(4_000, 5.0, 20.0, 20, true);
        let (mut times, failed) = std::mem::take(&mut r.commands);
        let n = times.len();
        let rate = r.samples_window as f64 / r.seconds;
        let ctx = format!(
            r#","samples_per_s":{rate:.0},"commands_verified":{n},"commands_not_verified":{failed},"target_p99_ms":100"#
        );
        let (p50, p99) = (percentile(&mut times, 0.5), percentile(&mut times, 0.99));
        if wants("command_roundtrip_p50_ms") {
            emit("command_roundtrip_p50_ms", p50, "ms", &ctx);
        }
        if wants("command_roundtrip_p99_ms") {
            emit("command_roundtrip_p99_ms", p99, "ms", &ctx);
        }
    }
    if wants("e2e_samples_per_s_with_commands") {
        let r = run(20_000, 10.0, 10.0, 50, true);
        let rate = r.samples_window as f64 / r.seconds;
        let offered = r.sim_changes as f64 / r.seconds;
        let ctx = format!(
            r#","offered_per_s":{offered:.0},"commands_verified":{},"commands_not_verified":{}"#,
            r.commands.0.len(),
            r.commands.1
        );
        emit("e2e_samples_per_s_with_commands", rate, "samples/s", &ctx);
    }
    if wants("rss_bytes_per_signal") {
        rss_per_signal(100_000);
    }
}

/// Resident memory per bound signal of the real service: `twinloom run` (built by ci/bench, with its
/// allocator settings and its child-process root-stage writer) against `twinloom-plant-sim`, each its own
/// process. Measured twice — with every signal bound, and with only the site's 2 shift signals bound —
/// so the per-signal figure is what the signals add, not the process's fixed libraries and runtime.
fn rss_per_signal(signals: usize) {
    let release = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/");
    let sim_bin = std::env::var("TWINLOOM_PLANT_SIM").unwrap_or_else(|_| format!("{release}twinloom-plant-sim"));
    let twinloom_bin = std::env::var("TWINLOOM_BIN").unwrap_or_else(|_| format!("{release}twinloom"));
    let port = free_port();
    let mut sim = std::process::Command::new(&sim_bin)
        .args(["--port", &port.to_string(), "--signals", &signals.to_string(), "--rate", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {sim_bin} (ci/bench builds it): {e}"));
    wait_listening(port, Duration::from_secs(120));
    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
    let small = service_rss(&twinloom_bin, &endpoint, &["Shift"]);
    let full = service_rss(&twinloom_bin, &endpoint, &["BIW", "Paint", "Assembly", "Field", "Shift"]);
    let _ = sim.kill();
    let _ = sim.wait();
    let per = full.rss.saturating_sub(small.rss) as f64 / (full.signals - small.signals).max(1) as f64;
    emit(
        "rss_bytes_per_signal",
        per,
        "bytes",
        &format!(
            r#","signals":{},"rss_mean":{},"rss_max":{},"baseline_signals":{},"baseline_rss_mean":{},"total_rss_per_signal":{:.0},"samples_per_s":{:.0},"saves_while_sampled":{},"ring_mib":{RING_MIB},"ring_history_s":{:.1}"#,
            full.signals,
            full.rss,
            full.rss_max,
            small.signals,
            small.rss,
            full.rss as f64 / full.signals.max(1) as f64,
            full.samples_per_s,
            full.saves,
            full.ring_seconds
        ),
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn wait_listening(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

struct ServiceRss {
    signals: u64,
    /// Mean of the samples.
    rss: u64,
    rss_max: u64,
    samples_per_s: f64,
    /// Live-layer saves during the samples.
    saves: u64,
    /// Seconds of deltas the resume ring held at the end.
    ring_seconds: f64,
}

/// The resume ring's budget in the memory benchmark. The ring keeps deltas compressed (the ratio this
/// plant's deltas reach is in docs/configuration.md), so a small budget still holds seconds of deltas.
const RING_MIB: usize = 4;

/// Runs `twinloom run` binding the given plant areas (default save interval, 10 s); its mean resident size
/// over 30 s of live traffic after 10 s of warm-up.
fn service_rss(bin: &str, endpoint: &str, areas: &[&str]) -> ServiceRss {
    let dir = std::env::temp_dir().join(format!("twinloom-rss-bench-{}-{}", std::process::id(), areas.len()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let listen_port = free_port();
    let mut text = format!(
        "[stage]\ndir = \"{}\"\ntick_ms = 50\nsave_interval_s = 10\n\n[stream]\nlisten = \"127.0.0.1:{listen_port}\"\nring_mib = {RING_MIB}\n\n\
         [[sources]]\nname = \"sim\"\nkind = \"opcua\"\nendpoint = \"{endpoint}\"\npublishing_interval_ms = 10\nqueue_size = 4\n",
        dir.join("stage").display()
    );
    for area in areas {
        let shop = area.to_lowercase();
        text.push_str(&format!("\n[[auto_bindings]]\nsource = \"sim\"\nnode = \"ns=2;s=Plant/{area}\"\nshop = \"{shop}\"\nprim = \"/Plant/{area}\"\n"));
    }
    let config = dir.join("twinloom.toml");
    std::fs::write(&config, text).expect("bench config");
    let mut child = std::process::Command::new(bin)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} (ci/bench builds it): {e}"));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{listen_port}").parse().expect("address");
    wait_listening(listen_port, Duration::from_secs(900));
    std::thread::sleep(Duration::from_secs(10));
    // Resident size every 370 ms for 30 s: the mean over three periodic saves and thirty bursts (each
    // second the simulator changes every signal). 370 ms is not a divisor of the 1 s burst period, so the
    // samples fall on every phase of the burst cycle, not always on the same one.
    let s0 = metric(addr, "twinloom_samples_in_total");
    let d0 = metric(addr, "twinloom_deltas_out_total");
    let mut samples = Vec::new();
    let t0 = Instant::now();
    for _ in 0..81 {
        std::thread::sleep(Duration::from_millis(370));
        samples.push(metric(addr, "process_resident_memory_bytes"));
    }
    let s1 = metric(addr, "twinloom_samples_in_total");
    let d1 = metric(addr, "twinloom_deltas_out_total");
    let saves = metric_sum(addr, "twinloom_saves_total{");
    let ring_deltas = metric(addr, "twinloom_stream_ring_deltas");
    let bound = metric(addr, "twinloom_signals_bound");
    // SIGTERM: the service saves and exits.
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let rss = samples.iter().sum::<u64>() / samples.len() as u64;
    let rss_max = samples.iter().copied().max().unwrap_or(0);
    let secs = t0.elapsed().as_secs_f64();
    let deltas_per_s = (d1 - d0) as f64 / secs;
    ServiceRss {
        signals: bound,
        rss,
        rss_max,
        samples_per_s: (s1 - s0) as f64 / secs,
        saves,
        ring_seconds: ring_deltas as f64 / deltas_per_s.max(1e-9),
    }
}

/// The sum of a labelled counter's series (`name` ends with `{`).
fn metric_sum(addr: std::net::SocketAddr, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return 0 };
    let _ = write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
}
