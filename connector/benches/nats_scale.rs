//! Scale run of the NATS federation (issue 20, docs/deploy.md "Scale: measured on one 2-core machine"):
//! a 3-node JetStream cluster (R3), four plant simulators, four connector processes (sites `site1` …
//! `site4`, journal on, `[nats]` forwarding) and one aggregator process of all four sites, all on this
//! machine. Each connector and the aggregator is its own process: this binary re-executes itself with
//! `TWINLOOM_SCALE_CHILD=<config>` and runs the service in the child, so each has its own resident memory.
//!
//! - `nats_samples_per_s`: samples per second end to end while the simulators run at their maximum rate
//!   (`TWINLOOM_BENCH_SIGNALS` signals in all, default 1,000,000, a quarter per simulator): the samples
//!   the connectors accepted, in the share of their edits (each attribute's newest value per 50 ms tick,
//!   what a delta carries) that the aggregator applied in the same window; measured once the aggregator
//!   has worked off the backlog of its start. `nats_aggregate_edits_per_s` is what it applied in the
//!   window, `nats_aggregate_catchup_edits_per_s` its rate on that backlog (its capacity here);
//!   after the simulators stop and everything drains: the connectors' forward lag, the aggregator's
//!   pending messages, every delta id in its stream exactly once and 1..=last, and the edits the
//!   connectors applied against the edits the aggregator consumed, those of redelivered messages aside
//!   (`nats_lost_edits`);
//! - `aggregate_latency_p50_ms` / `aggregate_latency_p99_ms`: source time → receipt by a live client of the
//!   aggregator, with the simulators throttled to about 50,000 samples/s in all (a second run, signals at
//!   5 Hz, as many as give `TWINLOOM_BENCH_LATENCY_RATE` changes/s, default 50,000);
//! - `rss_mib`: resident memory (VmRSS) of every process at the end of each run's measurement: connectors,
//!   aggregator, nats-servers, and this process (the simulators).
//!
//! Usage: `cargo bench -p twinloom-connector --bench nats_scale -- [PREFIX]`; prints JSON lines. Needs
//! `.venv/bin/nats-server` (ci/nats-env) or `TWINLOOM_NATS_SERVER`. `TWINLOOM_BENCH_SECONDS` sets the
//! throughput window (default 30), `TWINLOOM_BENCH_HZ` the simulators' tick rate in the throughput run,
//! `TWINLOOM_BENCH_MAX_PAYLOAD` the servers' `max_payload` (default 8MB: see docs/deploy.md "Scale").
//! `TWINLOOM_BENCH_RAW_SAMPLES=1` turns on `[nats] samples` in the connectors (every sample also on the
//! `samples` subject) and adds `nats_raw_samples_per_s`: raw samples journaled per second in the window,
//! with the raw-samples messages in the streams (each id once) after the drain.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::nats::NatsCluster;
use twinloom_tests::{free_port, http_get, TempDir};

/// The same allocator as the `twinloom` binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CHILD_ENV: &str = "TWINLOOM_SCALE_CHILD";
const SITES: usize = 4;

fn emit(name: &str, value: f64, unit: &str, extra: &str) {
    println!(r#"{{"name":"{name}","value":{value:.3},"unit":"{unit}"{extra}}}"#);
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether the connectors forward raw samples too (`TWINLOOM_BENCH_RAW_SAMPLES=1`).
fn raw_samples_on() -> bool {
    env_num("TWINLOOM_BENCH_RAW_SAMPLES", 0.0) != 0.0
}

/// The service (connector or aggregator) when this binary runs as a child: until its stdin closes.
fn child_service(cfg: &Path) {
    twinloom_connector::tune_allocator();
    let cfg = twinloom_connector::Config::load(cfg).expect("child config");
    // Warnings and errors into the child's log (the bench prints its end when a run does not drain).
    tracing_subscriber::fmt().with_max_level(tracing::Level::WARN).with_writer(std::io::stderr).with_ansi(false).init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let shutdown = twinloom_connector::Shutdown::when(async {
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
    });
    rt.block_on(twinloom_connector::run(cfg, shutdown, |_| {})).expect("service ran");
}

/// Every series of a /metrics page, `name{labels}` → value.
fn metrics(addr: SocketAddr) -> Vec<(String, f64)> {
    let (_, body) = http_get(addr, "/metrics");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// The sum of every series of `name` (with or without labels).
fn metric_sum(addr: SocketAddr, name: &str) -> f64 {
    metrics(addr)
        .iter()
        .filter(|(k, _)| k == name || k.strip_prefix(name).is_some_and(|r| r.starts_with('{')))
        .map(|(_, v)| v)
        .sum()
}

/// Resident memory of a process, MiB (0 when it is gone).
fn rss_mib(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The nats-server processes of `cluster` (their command line names its folder), with their node names.
fn nats_pids(cluster: &NatsCluster) -> Vec<(String, u32)> {
    let dir = cluster.dir().to_string_lossy().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("nats-server") && cmd.contains(&dir) {
            let name =
                cluster.nodes.iter().find(|n| cmd.contains(&format!("/{}.conf", n.name))).map(|n| n.name.clone());
            out.push((name.unwrap_or_else(|| format!("pid{pid}")), pid));
        }
    }
    out.sort();
    out
}

/// A connector or the aggregator in a child process; killed when dropped.
struct Service {
    name: String,
    child: Child,
    log: PathBuf,
    listen: SocketAddr,
}

impl Service {
    fn start(name: &str, config: &Path, listen: SocketAddr, log: &Path, limit: Duration) -> Service {
        let exe = std::env::current_exe().expect("this bench's path");
        let err = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let child = Command::new(exe)
            .env(CHILD_ENV, config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("start the service");
        let mut s = Service { name: name.to_string(), child, log: log.to_path_buf(), listen };
        let deadline = Instant::now() + limit;
        loop {
            if std::net::TcpStream::connect(listen).is_ok() && http_get(listen, "/healthz").0 == 200 {
                return s;
            }
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!("{name} exited at start ({status}):\n{}", s.log_text());
            }
            assert!(Instant::now() < deadline, "{name} never came up:\n{}", s.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_text(&self) -> String {
        let t = std::fs::read_to_string(&self.log).unwrap_or_default();
        t[t.len().saturating_sub(4000)..].to_string()
    }

    fn sum(&self, name: &str) -> f64 {
        metric_sum(self.listen, name)
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("{} did not stop in 120 s: killed", self.name);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn servers(urls: &[String]) -> String {
    urls.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

fn listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A site's connector: every area of its simulator (as the e2e bench binds them), journal on, forwarding
/// to its site stream with three replicas.
fn connector_config(dir: &Path, site: &str, sim: &SimulatorHandle, listen: SocketAddr, urls: &[String]) -> PathBuf {
    let ns = sim.namespace_index();
    let mut text = format!(
        "[stage]\ndir = \"{site}\"\ntick_ms = 50\nsave_interval_s = 10\n\n\
         [stream]\nlisten = \"{listen}\"\nring_mib = 16\n\n[journal]\nenabled = true\n\n\
         [nats]\nenabled = true\nservers = [{}]\nsite = \"{site}\"\nreplicas = 3\nsamples = {}\n\n\
         [[sources]]\nname = \"sim\"\nkind = \"opcua\"\nendpoint = \"{}\"\npublishing_interval_ms = 10\nqueue_size = 4\n",
        servers(urls),
        raw_samples_on(),
        sim.endpoint_url()
    );
    for (area, shop) in
        [("BIW", "biw"), ("Paint", "paint"), ("Assembly", "assembly"), ("Field", "field"), ("Shift", "site")]
    {
        text.push_str(&format!(
            "\n[[auto_bindings]]\nsource = \"sim\"\nnode = \"ns={ns};s=Plant/{area}\"\nshop = \"{shop}\"\nprim = \"/Plant/{area}\"\n"
        ));
    }
    let cfg = dir.join(format!("{site}.toml"));
    std::fs::write(&cfg, text).expect("connector config");
    cfg
}

/// The aggregator of every site (journal off: it measures the live path, not resumption).
fn aggregator_config(dir: &Path, listen: SocketAddr, urls: &[String], sites: &[String]) -> PathBuf {
    let cfg = dir.join("aggregate.toml");
    let sites = sites.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"enterprise\"\nroot = \"Enterprise\"\ntick_ms = 50\nsave_interval_s = 10\n\n\
             [stream]\nlisten = \"{listen}\"\nring_mib = 16\n\n[nats]\nservers = [{}]\n\n\
             [aggregate]\nsites = [{sites}]\ndurable = \"enterprise\"\nwait_s = 120\n",
            servers(urls)
        ),
    )
    .expect("aggregator config");
    cfg
}

/// What the aggregator's live client saw.
#[derive(Default)]
struct Seen {
    deltas: u64,
    edits: u64,
    gaps: u64,
    resyncs: u64,
    latencies_ms: Vec<f64>,
}

/// Follows the aggregator's live stream; latencies (now − `sourceTimeMs`) only while `recording`.
async fn client(addr: SocketAddr, seen: Arc<Mutex<Seen>>, recording: Arc<AtomicBool>, stop: Arc<AtomicBool>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/v1/live")).await else {
        eprintln!("the live client could not connect to the aggregator");
        return;
    };
    let mut last: Option<u64> = None;
    loop {
        if stop.load(Relaxed) {
            break;
        }
        let msg = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            Err(_) => continue,
            Ok(Some(Ok(msg))) => msg,
            Ok(_) => break,
        };
        let Ok(text) = msg.into_text() else { continue };
        let now_ms =
            SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0);
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else { continue };
        let mut s = seen.lock().expect("client stats");
        match v["type"].as_str() {
            Some("hello") => last = v["seq"].as_u64(),
            Some("resync") => s.resyncs += 1,
            Some("delta") => {
                let seq = v["seq"].as_u64().unwrap_or(0);
                if last.is_some_and(|l| seq != l + 1) {
                    s.gaps += 1;
                }
                last = Some(seq);
                s.deltas += 1;
                for e in v["edits"].as_array().into_iter().flatten() {
                    s.edits += 1;
                    if let (true, Some(t)) = (recording.load(Relaxed), e["sourceTimeMs"].as_f64()) {
                        s.latencies_ms.push(now_ms - t);
                    }
                }
            }
            _ => {}
        }
    }
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// What one run measured.
struct Outcome {
    signals: usize,
    bound: f64,
    startup_s: f64,
    window_s: f64,
    offered_per_s: f64,
    ingest_per_s: f64,
    connector_edits_per_s: f64,
    forwarded_per_s: f64,
    /// Raw samples the connectors journaled per second (`[nats] samples`; 0 when off).
    raw_per_s: f64,
    /// Raw-samples messages in the streams after the drain, ids seen more than once, raw samples dropped.
    raw_messages: u64,
    raw_duplicate_ids: u64,
    raw_dropped: f64,
    aggregate_edits_per_s: f64,
    aggregate_messages_per_s: f64,
    /// Edits/s while the aggregator worked off the backlog of its start (its capacity).
    catchup_edits_per_s: f64,
    /// Messages not yet delivered to the aggregator, and its largest lag (s), at the window's end.
    pending_at_end: f64,
    lag_at_end_s: f64,
    drain_s: f64,
    drained: bool,
    forward_lag: f64,
    pending: f64,
    connector_edits: f64,
    aggregate_edits: f64,
    redeliveries: f64,
    /// Edits in redelivered messages (counted twice in `aggregate_edits`).
    redelivered_edits: f64,
    forwarded: f64,
    dedup_hits: f64,
    aggregate_messages: f64,
    ids: u64,
    duplicate_ids: u64,
    missing_ids: u64,
    rss: Vec<(String, f64)>,
    seen: Seen,
}

/// Starts the cluster, simulators, connectors, aggregator and a live client; measures `seconds` with the
/// simulators at `update_hz`; stops the simulators, lets everything drain, checks the streams.
fn run(signals: usize, update_hz: f64, seconds: f64, tag: &str) -> Outcome {
    let t_start = Instant::now();
    // A delta holds every change of a shop in one tick: at hundreds of thousands of changes a second
    // it outgrows the server's default max_payload (1 MiB), which the forwarder cannot publish.
    let max_payload = std::env::var("TWINLOOM_BENCH_MAX_PAYLOAD").unwrap_or_else(|_| "8MB".into());
    let cluster = NatsCluster::start_with(3, &format!("max_payload: {max_payload}\n"));
    let urls = cluster.urls();
    let dir = TempDir::new(&format!("nats-scale-{tag}"));
    let sim_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let per_site = signals / SITES;
    let sites: Vec<String> = (1..=SITES).map(|i| format!("site{i}")).collect();
    let sims: Vec<SimulatorHandle> = (0..SITES)
        .map(|i| {
            sim_rt
                .block_on(Simulator::start(SimConfig {
                    port: 0,
                    seed: 50 + i as u64,
                    signals: per_site,
                    update_hz,
                    ..SimConfig::default()
                }))
                .expect("simulator")
        })
        .collect();
    // The plants hold still while the connectors (and, for large runs, the aggregator) bind: starting a
    // connector next to others already ingesting at full rate takes minutes on two cores.
    let resume_before_aggregator = signals <= 200_000;
    sims.iter().for_each(|s| s.pause(true));
    eprintln!(
        "[{tag}] {SITES} simulators of {per_site} signals at {update_hz} Hz up after {:.1} s (held still until {})",
        t_start.elapsed().as_secs_f64(),
        if resume_before_aggregator { "the connectors are up" } else { "the aggregator is up" }
    );
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let mut connectors = Vec::new();
    for (site, sim) in sites.iter().zip(&sims) {
        let l = listen();
        let cfg = connector_config(dir.path(), site, sim, l, &urls);
        connectors.push(Service::start(site, &cfg, l, &log(site), Duration::from_secs(1800)));
    }
    let bound: f64 = connectors.iter().map(|c| c.sum("twinloom_signals_bound")).sum();
    eprintln!("[{tag}] connectors up ({bound} signals bound) after {:.1} s", t_start.elapsed().as_secs_f64());
    // Every connector has published its description (the aggregator binds from it at start).
    let deadline = Instant::now() + Duration::from_secs(1800);
    while connectors.iter().any(|c| c.sum("twinloom_nats_forwarded_total") < 1.0) {
        assert!(Instant::now() < deadline, "the connectors never forwarded");
        std::thread::sleep(Duration::from_millis(500));
    }
    if resume_before_aggregator {
        sims.iter().for_each(|s| s.pause(false));
    }
    let la = listen();
    let cfg_a = aggregator_config(dir.path(), la, &urls, &sites);
    let agg = Service::start("aggregator", &cfg_a, la, &log("aggregate"), Duration::from_secs(1800));
    let startup_s = t_start.elapsed().as_secs_f64();
    eprintln!(
        "[{tag}] aggregator up ({} sites bound) after {startup_s:.1} s",
        agg.sum("twinloom_aggregate_sites_bound")
    );
    sims.iter().for_each(|s| s.pause(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (recording, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let cl = rt.spawn(client(la, seen.clone(), recording.clone(), stop.clone()));
    // Catch-up: the aggregator works off what the connectors forwarded before it started (its rate here is
    // its capacity next to everything else), then the window measures the steady state.
    let (t_catchup, e_catchup) = (Instant::now(), agg.sum("twinloom_aggregate_edits_total"));
    std::thread::sleep(Duration::from_secs(2));
    while agg.sum("twinloom_aggregate_pending_messages") > (4 * SITES) as f64 && t_catchup.elapsed().as_secs() < 300 {
        std::thread::sleep(Duration::from_millis(250));
    }
    let catchup_s = t_catchup.elapsed().as_secs_f64();
    let catchup_edits_per_s = (agg.sum("twinloom_aggregate_edits_total") - e_catchup) / catchup_s;
    eprintln!("[{tag}] aggregator caught up in {catchup_s:.1} s at {catchup_edits_per_s:.0} edits/s");
    std::thread::sleep(Duration::from_secs(2));

    let read = |agg: &Service, connectors: &[Service]| {
        let c = |n: &str| connectors.iter().map(|c| c.sum(n)).sum::<f64>();
        let changes: u64 = sims.iter().map(|s| s.stats().changes.load(Relaxed)).sum();
        (
            changes as f64,
            c("twinloom_samples_in_total"),
            c("twinloom_edits_total"),
            c("twinloom_nats_forwarded_total"),
            agg.sum("twinloom_aggregate_edits_total"),
            agg.sum("twinloom_aggregate_messages_total"),
            c("twinloom_raw_samples_total"),
        )
    };
    recording.store(true, Relaxed);
    let r0 = read(&agg, &connectors);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let r1 = read(&agg, &connectors);
    let window_s = t0.elapsed().as_secs_f64();
    let pending_at_end = agg.sum("twinloom_aggregate_pending_messages");
    let lag_at_end_s = metrics(agg.listen)
        .iter()
        .filter(|(k, _)| k.starts_with("twinloom_aggregate_lag_seconds"))
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    recording.store(false, Relaxed);
    let mut rss: Vec<(String, f64)> = connectors.iter().map(|c| (c.name.clone(), rss_mib(c.child.id()))).collect();
    rss.push(("aggregator".into(), rss_mib(agg.child.id())));
    for (name, pid) in nats_pids(&cluster) {
        rss.push((format!("nats-server-{name}"), rss_mib(pid)));
    }
    rss.push(("bench+simulators".into(), rss_mib(std::process::id())));

    // The plants stop changing; everything drains.
    for s in sims {
        sim_rt.block_on(s.shutdown());
    }
    let t_drain = Instant::now();
    let mut stable = (f64::NAN, Instant::now());
    let mut drained = false;
    while t_drain.elapsed() < Duration::from_secs(300) {
        let lag: f64 = connectors.iter().map(|c| c.sum("twinloom_nats_forward_lag_records")).sum();
        let pending = agg.sum("twinloom_aggregate_pending_messages");
        let m = agg.sum("twinloom_aggregate_messages_total");
        if m != stable.0 {
            stable = (m, Instant::now());
        }
        // Drained: nothing left to forward or to deliver, every forwarded delta consumed (redeliveries
        // aside), and the aggregator's count steady.
        let unique = m - agg.sum("twinloom_aggregate_redeliveries_total");
        let stored: f64 = connectors
            .iter()
            .map(|c| c.sum("twinloom_nats_forwarded_total") - c.sum("twinloom_nats_dedup_hits_total"))
            .sum();
        if lag == 0.0 && pending == 0.0 && unique >= stored && stable.1.elapsed() > Duration::from_secs(3) {
            drained = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let drain_s = t_drain.elapsed().as_secs_f64();
    if !drained {
        eprintln!("[{tag}] not drained after {drain_s:.0} s; the aggregator's log ends:\n{}", agg.log_text());
    }
    let forward_lag: f64 = connectors.iter().map(|c| c.sum("twinloom_nats_forward_lag_records")).sum();
    let pending = agg.sum("twinloom_aggregate_pending_messages");
    let connector_edits: f64 = connectors.iter().map(|c| c.sum("twinloom_edits_total")).sum();
    let forwarded: f64 = connectors.iter().map(|c| c.sum("twinloom_nats_forwarded_total")).sum();
    let dedup_hits: f64 = connectors.iter().map(|c| c.sum("twinloom_nats_dedup_hits_total")).sum();
    let aggregate_edits = agg.sum("twinloom_aggregate_edits_total");
    let aggregate_messages = agg.sum("twinloom_aggregate_messages_total");
    let redeliveries = agg.sum("twinloom_aggregate_redeliveries_total");
    let redelivered_edits = agg.sum("twinloom_aggregate_redelivered_edits_total");
    let raw_dropped: f64 = connectors.iter().map(|c| c.sum("twinloom_raw_samples_dropped_total")).sum();
    stop.store(true, Relaxed);
    let _ = rt.block_on(cl);
    let seen = std::mem::take(&mut *seen.lock().expect("client stats"));
    agg.stop();
    for c in connectors {
        c.stop();
    }

    // Every delta id once per stream, 1..=last of the connector's epoch.
    let (mut ids, mut duplicate_ids, mut missing_ids) = (0u64, 0u64, 0u64);
    let (mut raw_messages, mut raw_duplicate_ids) = (0u64, 0u64);
    for site in &sites {
        let msgs = twinloom_tests::jetstream::read_stream(&urls, &format!("TWINLOOM_{}", site.to_uppercase()));
        let mut raw: Vec<&str> =
            msgs.iter().filter(|m| m.subject.ends_with(".samples")).map(|m| m.id.as_str()).collect();
        let n = raw.len();
        raw_messages += n as u64;
        raw.sort_unstable();
        raw.dedup();
        raw_duplicate_ids += (n - raw.len()) as u64;
        let mut d: Vec<String> = msgs.into_iter().filter(|m| m.subject.ends_with(".deltas")).map(|m| m.id).collect();
        let n = d.len();
        d.sort_unstable();
        d.dedup();
        ids += d.len() as u64;
        duplicate_ids += (n - d.len()) as u64;
        let epoch = std::fs::read_to_string(dir.path().join(site).join("journal/epoch")).unwrap_or_default();
        let mut seqs: Vec<u64> = d
            .iter()
            .filter(|id| id.starts_with(&format!("{site}:{}:", epoch.trim())))
            .filter_map(|id| id.split(':').nth(2)?.parse().ok()) // `<site>:<epoch>:<seq>[:<i>/<n>]`
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        let last = seqs.last().copied().unwrap_or(0);
        missing_ids += last.saturating_sub(seqs.len() as u64);
        // A delta sent in parts: every part `i/n` of it.
        let mut parts: std::collections::HashMap<&str, (u64, u64)> = Default::default();
        for id in &d {
            if let Some((delta, n)) = id.rsplit_once(':').and_then(|(delta, p)| Some((delta, p.split_once('/')?.1))) {
                let e = parts.entry(delta).or_insert((0, n.parse().unwrap_or(0)));
                e.0 += 1;
            }
        }
        missing_ids += parts.values().map(|(got, n)| n.saturating_sub(*got)).sum::<u64>();
    }
    Outcome {
        signals,
        bound,
        startup_s,
        window_s,
        offered_per_s: (r1.0 - r0.0) / window_s,
        ingest_per_s: (r1.1 - r0.1) / window_s,
        connector_edits_per_s: (r1.2 - r0.2) / window_s,
        forwarded_per_s: (r1.3 - r0.3) / window_s,
        raw_per_s: (r1.6 - r0.6) / window_s,
        raw_messages,
        raw_duplicate_ids,
        raw_dropped,
        aggregate_edits_per_s: (r1.4 - r0.4) / window_s,
        aggregate_messages_per_s: (r1.5 - r0.5) / window_s,
        catchup_edits_per_s,
        pending_at_end,
        lag_at_end_s,
        drain_s,
        drained,
        forward_lag,
        pending,
        connector_edits,
        aggregate_edits,
        redeliveries,
        redelivered_edits,
        forwarded,
        dedup_hits,
        aggregate_messages,
        ids,
        duplicate_ids,
        missing_ids,
        rss,
        seen,
    }
}

fn emit_rss(o: &Outcome, run: &str) {
    for (process, mib) in &o.rss {
        emit("rss_mib", *mib, "MiB", &format!(r#","process":"{process}","run":"{run}","signals":{}"#, o.signals));
    }
}

fn main() {
    if let Some(cfg) = std::env::var_os(CHILD_ENV) {
        child_service(Path::new(&cfg));
        return;
    }
    twinloom_connector::tune_allocator();
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let wants = |name: &str| name.starts_with(&prefix) || prefix.starts_with(name);
    let signals = env_num("TWINLOOM_BENCH_SIGNALS", 1_000_000.0) as usize;
    let seconds = env_num("TWINLOOM_BENCH_SECONDS", 30.0);

    if wants("nats_samples_per_s") || wants("rss_mib") {
        // About 400,000 changes/s offered (0.4 Hz at 1,000,000 signals), at most 10 Hz, at least 0.25 Hz.
        let hz = env_num("TWINLOOM_BENCH_HZ", (400_000.0 / signals as f64).clamp(0.25, 10.0));
        let o = run(signals, hz, seconds, "throughput");
        let ok = o.drained && o.forward_lag == 0.0 && o.pending == 0.0 && o.duplicate_ids == 0 && o.missing_ids == 0;
        let lost_edits = o.connector_edits - (o.aggregate_edits - o.redelivered_edits);
        let ctx = format!(
            concat!(
                r#","signals":{},"signals_bound":{},"update_hz":{},"processes":{{"connectors":4,"aggregator":1,"nats_servers":3}},"#,
                r#""startup_s":{:.1},"window_s":{:.1},"offered_changes_per_s":{:.0},"connector_ingest_samples_per_s":{:.0},"#,
                r#""connector_edits_per_s":{:.0},"forwarded_deltas_per_s":{:.0},"aggregate_messages_per_s":{:.0},"#,
                r#""drained":{},"drain_s":{:.1},"forward_lag_records":{},"aggregate_pending":{},"connector_edits":{},"#,
                r#""aggregate_edits":{},"forwarded":{},"dedup_hits":{},"aggregate_messages":{},"redeliveries":{},"redelivered_edits":{},"#,
                r#""stream_delta_ids":{},"duplicate_ids":{},"missing_ids":{},"zero_loss":{},"#,
                r#""aggregate_edits_per_s":{:.0},"aggregate_catchup_edits_per_s":{:.0},"aggregate_pending_at_end":{},"#,
                r#""aggregate_lag_at_end_s":{:.3},"target":200000"#
            ),
            o.signals,
            o.bound,
            hz,
            o.startup_s,
            o.window_s,
            o.offered_per_s,
            o.ingest_per_s,
            o.connector_edits_per_s,
            o.forwarded_per_s,
            o.aggregate_messages_per_s,
            o.drained,
            o.drain_s,
            o.forward_lag,
            o.pending,
            o.connector_edits,
            o.aggregate_edits,
            o.forwarded,
            o.dedup_hits,
            o.aggregate_messages,
            o.redeliveries,
            o.redelivered_edits,
            o.ids,
            o.duplicate_ids,
            o.missing_ids,
            ok && lost_edits == 0.0,
            o.aggregate_edits_per_s,
            o.catchup_edits_per_s,
            o.pending_at_end,
            o.lag_at_end_s
        );
        // End to end: the samples the connectors took per second, in the share of their edits (each
        // attribute's newest value per tick) that the aggregator applied in the same window.
        let through = (o.aggregate_edits_per_s / o.connector_edits_per_s).min(1.0);
        if wants("nats_samples_per_s") {
            emit("nats_samples_per_s", o.ingest_per_s * through, "samples/s", &ctx);
            if raw_samples_on() {
                let raw_ctx = format!(
                    r#","signals":{},"raw_messages_in_streams":{},"raw_duplicate_ids":{},"raw_dropped":{},"forward_lag_records":{}"#,
                    o.signals, o.raw_messages, o.raw_duplicate_ids, o.raw_dropped, o.forward_lag
                );
                emit("nats_raw_samples_per_s", o.raw_per_s, "samples/s", &raw_ctx);
            }
            emit(
                "nats_aggregate_edits_per_s",
                o.aggregate_edits_per_s,
                "edits/s",
                &format!(r#","signals":{}"#, o.signals),
            );
            emit(
                "nats_aggregate_catchup_edits_per_s",
                o.catchup_edits_per_s,
                "edits/s",
                &format!(r#","signals":{}"#, o.signals),
            );
            emit(
                "nats_connector_ingest_samples_per_s",
                o.ingest_per_s,
                "samples/s",
                &format!(r#","signals":{}"#, o.signals),
            );
            emit("nats_lost_edits", lost_edits, "edits", &format!(r#","signals":{}"#, o.signals));
        }
        if wants("rss_mib") {
            emit_rss(&o, "throughput");
        }
        eprintln!(
            "throughput: {} signals, end to end {:.0} samples/s; aggregator {:.0} edits/s (catch-up {:.0}), connectors ingest {:.0} samples/s (offered {:.0}), zero loss: {}",
            o.signals,
            o.ingest_per_s * through,
            o.aggregate_edits_per_s,
            o.catchup_edits_per_s,
            o.ingest_per_s,
            o.offered_per_s,
            ok && lost_edits == 0.0
        );
    }
    if wants("aggregate_latency") {
        // About 50,000 samples/s in all (`TWINLOOM_BENCH_LATENCY_RATE`), signals at 5 Hz: each simulator's
        // field signals change every tick, beyond its shops' own 543 signals (which change far less often).
        let rate = env_num("TWINLOOM_BENCH_LATENCY_RATE", 50_000.0);
        let lat_signals = SITES * ((rate / (SITES as f64 * 5.0)) as usize + 543);
        let mut o = run(lat_signals, 5.0, seconds, "latency");
        let n = o.seen.latencies_ms.len();
        let p50 = percentile(&mut o.seen.latencies_ms, 0.5);
        let p99 = percentile(&mut o.seen.latencies_ms, 0.99);
        let ctx = format!(
            r#","signals":{lat_signals},"target_rate":{rate},"connector_ingest_samples_per_s":{:.0},"aggregate_edits_per_s":{:.0},"latencies":{n},"client_deltas":{},"client_seq_gaps":{},"client_resyncs":{},"target_p99_ms":250"#,
            o.ingest_per_s, o.aggregate_edits_per_s, o.seen.deltas, o.seen.gaps, o.seen.resyncs
        );
        emit("aggregate_latency_p50_ms", p50, "ms", &ctx);
        emit("aggregate_latency_p99_ms", p99, "ms", &ctx);
        emit_rss(&o, "latency");
        eprintln!("latency: {lat_signals} signals, {:.0} samples/s: p50 {p50:.1} ms, p99 {p99:.1} ms", o.ingest_per_s);
    }
}
