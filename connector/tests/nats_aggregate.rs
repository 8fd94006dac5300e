//! Two sites federated over a real 3-node NATS JetStream cluster (issue 20, docs/nats.md "Aggregator"):
//! two connectors (sites `north` and `south`, each with its own plant simulator) forward to their site
//! streams, one aggregator (`[aggregate]`) consumes both and serves `/Enterprise/<Site>/…`. During the run
//! the stream leader is killed, a connector is killed with SIGKILL and restarted, the aggregator is
//! killed with SIGKILL and restarted, and the whole cluster is down for 20 s (`TWINLOOM_NATS_OUTAGE_S`).
//! A live client of the aggregator follows throughout (resuming with `since=` after the aggregator's
//! restart). Then the simulators stop, everything drains, and: every attribute of each connector's live
//! layers equals the aggregator's at `/Enterprise/<Site>/…`, read with usd-core; every message id is in
//! its stream exactly once; the client saw no sequence gap and no resync; the federated root passes
//! the portable-stage checks.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::jetstream::{read_stream, stream_leader};
use twinloom_tests::nats::{aggregated_equals_site, NatsCluster};
use twinloom_tests::{assert_portable_stage, free_port, http_get, try_metric, wait_until, ChildService, TempDir};

const CHILD_ENV: &str = "TWINLOOM_AGGREGATE_CHILD";

/// The service itself when this binary runs as the child (until its stdin closes or it is killed).
#[test]
fn child_service() {
    let Some(cfg) = std::env::var_os(CHILD_ENV) else { return };
    let cfg = twinloom_connector::Config::load(Path::new(&cfg)).expect("config");
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).with_ansi(false).init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let shutdown = twinloom_connector::Shutdown::when_stdin_closes();
    rt.block_on(twinloom_connector::run(cfg, shutdown, |_| {})).expect("service ran");
}

/// A connector or the aggregator in a child process (this binary's `child_service`).
fn start(config: &Path, listen: SocketAddr, log: &Path) -> ChildService {
    ChildService::start("child_service", CHILD_ENV, config, listen, log, "/healthz")
}

fn servers(urls: &[String]) -> String {
    urls.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

/// A site's connector: the simulator's BIW and Assembly trees, journal on, forwarding to its stream.
fn connector_config(
    dir: &Path,
    site: &str,
    sim: &SimulatorHandle,
    listen: SocketAddr,
    urls: &[String],
    replicas: usize,
) -> PathBuf {
    let ns = sim.namespace_index();
    let cfg = dir.join(format!("{site}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"{site}\"\ntick_ms = 50\nsave_interval_s = 1.0\n\n[stream]\nlisten = \"{listen}\"\n\n\
             [journal]\nenabled = true\n\n\
             [nats]\nenabled = true\nservers = [{}]\nsite = \"{site}\"\nreplicas = {replicas}\nack_timeout_s = 2\n\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/Assembly\"\nshop = \"assembly\"\nprim = \"/Plant/Assembly\"\n",
            servers(urls),
            sim.endpoint_url()
        ),
    )
    .unwrap();
    cfg
}

/// The aggregator of both sites, journal on (its clients resume across its restarts).
fn aggregator_config(dir: &Path, listen: SocketAddr, urls: &[String]) -> PathBuf {
    let cfg = dir.join("aggregate.toml");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"enterprise\"\nroot = \"Enterprise\"\ntick_ms = 50\nsave_interval_s = 1.0\n\n\
             [stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
             [nats]\nservers = [{}]\n\n\
             [aggregate]\nsites = [\"north\", \"south\"]\ndurable = \"enterprise\"\nwait_s = 60\n",
            servers(urls)
        ),
    )
    .unwrap();
    cfg
}

/// A plant simulator of `signals` signals changing at `hz`.
fn simulator(rt: &tokio::runtime::Runtime, seed: u64, signals: usize, hz: f64) -> SimulatorHandle {
    rt.block_on(Simulator::start(SimConfig { port: 0, seed, signals, update_hz: hz, ..SimConfig::default() }))
        .expect("simulator")
}

/// An aggregator of the north site only, with `extra` lines in its `[aggregate]` table.
fn north_aggregator_config(dir: &Path, listen: SocketAddr, urls: &[String], extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(aggregator_config(dir, listen, urls)).unwrap();
    let text = text.replace("sites = [\"north\", \"south\"]", &format!("sites = [\"north\"]\n{extra}"));
    std::fs::write(dir.join("aggregate.toml"), text).unwrap();
    dir.join("aggregate.toml")
}

/// Once the plants stopped: waits until every connector forwarded its backlog and the aggregator has
/// consumed nothing new for 3 s.
fn drain(connectors: &[&ChildService], agg: &ChildService) {
    wait_until("the backlogs forwarded", 120, || {
        connectors.iter().all(|c| c.metric("twinloom_nats_forward_lag_records") == 0.0)
    });
    let mut stable = (0.0, Instant::now());
    wait_until("the aggregator drained", 120, || {
        let m = agg.metric("twinloom_aggregate_messages_total");
        if m != stable.0 {
            stable = (m, Instant::now());
        }
        stable.1.elapsed() > Duration::from_secs(3)
    });
}

/// What the aggregator's live client saw.
#[derive(Default)]
struct Seen {
    epoch: Option<u64>,
    last: Option<u64>,
    deltas: u64,
    gaps: Vec<(u64, u64)>,
    resyncs: u64,
    closed: bool,
}

/// Follows the live stream at `query` into `seen` until the connection ends.
fn client(rt: &tokio::runtime::Runtime, listen: SocketAddr, query: String, seen: Arc<Mutex<Seen>>) {
    let url = format!("ws://{listen}/v1/live{query}");
    let (mut ws, _) = rt.block_on(tokio_tungstenite::connect_async(&url)).expect("client connects");
    seen.lock().unwrap().closed = false;
    rt.spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON message");
            let mut s = seen.lock().unwrap();
            match v["type"].as_str() {
                Some("hello") => {
                    let epoch = v["epoch"].as_u64();
                    if s.epoch.is_some() && s.epoch != epoch {
                        s.resyncs += 1;
                    }
                    s.epoch = epoch;
                    if s.last.is_none() {
                        s.last = v["seq"].as_u64();
                    }
                }
                Some("resync") => s.resyncs += 1,
                Some("delta") => {
                    let seq = v["seq"].as_u64().expect("seq");
                    if let Some(last) = s.last {
                        if seq != last + 1 {
                            s.gaps.push((last, seq));
                        }
                    }
                    s.last = Some(seq);
                    s.deltas += 1;
                }
                _ => {}
            }
        }
        seen.lock().unwrap().closed = true;
    });
}

#[test]
fn two_sites_one_aggregator_through_failures() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let outage =
        Duration::from_secs(std::env::var("TWINLOOM_NATS_OUTAGE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(20));
    let mut cluster = NatsCluster::start(3);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-aggregate");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (sim_n, sim_s) = (simulator(&rt, 40, 300, 10.0), simulator(&rt, 41, 300, 10.0));
    let listen = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (ln, ls, la) = (listen(), listen(), listen());
    let cfg_n = connector_config(dir.path(), "north", &sim_n, ln, &urls, 3);
    let cfg_s = connector_config(dir.path(), "south", &sim_s, ls, &urls, 3);
    let cfg_a = aggregator_config(dir.path(), la, &urls);
    let log = |name: &str| dir.path().join(format!("{name}.log"));

    let north = start(&cfg_n, ln, &log("north"));
    let south = start(&cfg_s, ls, &log("south"));
    wait_until("both sites forwarding", 60, || {
        north.metric("twinloom_nats_forwarded_total") >= 10.0 && south.metric("twinloom_nats_forwarded_total") >= 10.0
    });
    let agg = start(&cfg_a, la, &log("aggregate"));
    assert_eq!(agg.metric("twinloom_aggregate_sites_bound"), 2.0);
    let seen = Arc::new(Mutex::new(Seen::default()));
    client(&rt, la, String::new(), seen.clone());
    wait_until("the aggregator consuming both sites", 60, || {
        agg.metric("twinloom_aggregate_edits_total") >= 1000.0 && agg.metric("twinloom_aggregate_acks_total") >= 2.0
    });

    // 1. The north stream's leader is killed.
    let leader = stream_leader(&urls, "TWINLOOM_NORTH");
    let i = cluster.index_of(&leader).expect("the leader is one of ours");
    let before = agg.metric("twinloom_aggregate_messages_total");
    cluster.kill_node(i);
    wait_until("aggregating after the leader was killed", 90, || {
        agg.metric("twinloom_aggregate_messages_total") >= before + 50.0
    });
    cluster.start_node(i);
    cluster.wait_ready(Duration::from_secs(30));

    // 2. kill -9 the south connector and restart it.
    south.kill9();
    let south = start(&cfg_s, ls, &log("south"));
    wait_until("south forwarding again", 60, || south.metric("twinloom_nats_forwarded_total") >= 10.0);

    // 3. kill -9 the aggregator and restart it: the client resumes on the same epoch.
    let (epoch, last) = {
        let s = seen.lock().unwrap();
        (s.epoch.expect("hello"), s.last.expect("deltas"))
    };
    agg.kill9();
    wait_until("the client saw the aggregator go", 10, || seen.lock().unwrap().closed);
    let last = seen.lock().unwrap().last.unwrap_or(last);
    let agg = start(&cfg_a, la, &log("aggregate"));
    client(&rt, la, format!("?since={last}&epoch={epoch}"), seen.clone());
    let before = seen.lock().unwrap().deltas;
    wait_until("deltas after the aggregator's restart", 60, || seen.lock().unwrap().deltas >= before + 20);

    // 4. The whole cluster down, then back: connectors and aggregator keep running and catch up.
    cluster.kill_all();
    std::thread::sleep(outage);
    for (name, l) in [("north", ln), ("south", ls), ("aggregator", la)] {
        assert_eq!(http_get(l, "/healthz").0, 200, "{name} runs on while the cluster is down");
    }
    assert_eq!(agg.metric("twinloom_aggregate_connected"), 0.0);
    cluster.restart_all();
    let back = Instant::now();
    let consumed = agg.metric("twinloom_aggregate_messages_total");
    wait_until("the aggregator consuming after the outage", 120, || {
        agg.metric("twinloom_aggregate_messages_total") > consumed + 50.0
    });
    eprintln!(
        "cluster down {} s: the aggregator consumed again {:.1} s after",
        outage.as_secs(),
        back.elapsed().as_secs_f64()
    );

    // 5. The plants stop changing; everything drains; the services stop cleanly.
    drop(sim_n);
    drop(sim_s);
    drain(&[&north, &south], &agg);
    north.stop();
    south.stop();
    agg.stop();
    let s = seen.lock().unwrap();
    assert!(s.gaps.is_empty(), "the aggregator's client saw sequence gaps: {:?}", s.gaps);
    assert_eq!(s.resyncs, 0, "the aggregator's client resumed without a resync");
    eprintln!("aggregator client: {} deltas, last seq {:?}, no gap", s.deltas, s.last);
    drop(s);

    // Equal stages, read with usd-core.
    let enterprise = dir.path().join("enterprise/plant.usda");
    for (site, prim) in [("north", "/Enterprise/North"), ("south", "/Enterprise/South")] {
        let site_dir = dir.path().join(site);
        let n = aggregated_equals_site(&site_dir.join("live"), prim, &enterprise);
        eprintln!("{site}: {n} attribute values equal at {prim}");
    }
    assert_portable_stage(&enterprise);

    // Every message id once per stream; every delta of the connectors' journals is there.
    for (site, stream) in [("north", "TWINLOOM_NORTH"), ("south", "TWINLOOM_SOUTH")] {
        let ids: Vec<(String, String)> = read_stream(&urls, stream).into_iter().map(|m| (m.id, m.subject)).collect();
        let mut deltas: Vec<&str> =
            ids.iter().filter(|(_, subj)| subj.ends_with(".deltas")).map(|(id, _)| id.as_str()).collect();
        let n = deltas.len();
        deltas.sort_unstable();
        deltas.dedup();
        assert_eq!(deltas.len(), n, "{stream}: a message id is in the stream twice");
        let described = ids.iter().filter(|(_, subj)| *subj == format!("twinloom.{site}._.stage")).count();
        assert!(described >= 1, "{stream}: the site description is in the stream");
        let epoch = std::fs::read_to_string(dir.path().join(site).join("journal/epoch")).unwrap();
        let last = deltas.iter().filter_map(|id| id.rsplit(':').next()?.parse::<u64>().ok()).max().unwrap_or(0);
        let want: Vec<String> = (1..=last).map(|seq| format!("{site}:{}:{seq}", epoch.trim())).collect();
        let missing: Vec<&String> =
            want.iter().filter(|id| deltas.binary_search(&id.as_str()).is_err()).take(10).collect();
        assert!(missing.is_empty(), "{stream}: ids missing: {missing:?}");
        eprintln!("{stream}: {n} deltas, ids {site}:{}:1..={last} each once", epoch.trim());
    }
}

/// Deltas larger than the server's `max_payload` (32 KiB here: the first tick, every bound value of the
/// simulator's BIW and assembly trees, is larger) travel in parts, `<site>:<epoch>:<seq>:<i>/<n>`, each a delta of its own: every part is
/// in the stream once, and the aggregator holds every value the connector does.
#[test]
fn deltas_larger_than_max_payload_travel_in_parts() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let cluster = NatsCluster::start_with(1, "max_payload: 32768\n");
    let urls = cluster.urls();
    let dir = TempDir::new("nats-aggregate-parts");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = simulator(&rt, 42, 2000, 5.0);
    let listen = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (ln, la) = (listen(), listen());
    let cfg_n = connector_config(dir.path(), "north", &sim, ln, &urls, 1);
    let cfg_a = north_aggregator_config(dir.path(), la, &urls, "");
    let north = start(&cfg_n, ln, &dir.path().join("north.log"));
    wait_until("deltas forwarded", 60, || north.metric("twinloom_nats_forwarded_total") >= 10.0);
    let agg = start(&cfg_a, la, &dir.path().join("aggregate.log"));
    wait_until("the aggregator consuming", 60, || agg.metric("twinloom_aggregate_edits_total") >= 4000.0);
    drop(sim);
    drain(&[&north], &agg);
    north.stop();
    agg.stop();
    let ids: Vec<String> = read_stream(&urls, "TWINLOOM_NORTH")
        .into_iter()
        .filter(|m| m.subject.ends_with(".deltas"))
        .map(|m| m.id)
        .collect();
    let parts: Vec<&String> = ids.iter().filter(|id| id.contains('/')).collect();
    assert!(!parts.is_empty(), "some deltas went in parts: {:?}", &ids[..ids.len().min(5)]);
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "each part once");
    // Every split delta has all its parts: i/n for i in 1..=n.
    let mut by_delta: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for id in &parts {
        let (delta, part) = id.rsplit_once(':').unwrap();
        let n: usize = part.split('/').nth(1).unwrap().parse().unwrap();
        let e = by_delta.entry(delta).or_insert((0, n));
        e.0 += 1;
    }
    assert!(by_delta.values().all(|(got, n)| got == n), "every part of each split delta: {by_delta:?}");
    let n = aggregated_equals_site(
        &dir.path().join("north/live"),
        "/Enterprise/North",
        &dir.path().join("enterprise/plant.usda"),
    );
    eprintln!("{} deltas in {} parts; {n} values equal at /Enterprise/North", by_delta.len(), parts.len());
}

/// A site whose connector restarts with more signals (the Assembly tree added to its BIW tree) publishes
/// a new description; the running aggregator (`rescan_s`) binds its stage again on the same address, and
/// after draining holds every value of the site, the new attributes included.
#[test]
fn a_site_that_adds_signals_is_bound_again() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let cluster = NatsCluster::start(1);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-aggregate-rebind");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = simulator(&rt, 43, 300, 5.0);
    let listen = || -> SocketAddr { format!("127.0.0.1:{}", free_port()).parse().unwrap() };
    let (ln, la) = (listen(), listen());
    let cfg_n = connector_config(dir.path(), "north", &sim, ln, &urls, 1);
    let both = std::fs::read_to_string(&cfg_n).unwrap();
    // The Assembly tree's auto-binding is the file's last table: without it, the BIW tree only.
    let assembly = both.find("s=Plant/Assembly").and_then(|i| both[..i].rfind("\n[[auto_bindings]]")).unwrap();
    let biw_only = both[..assembly].to_string();
    assert!(biw_only.contains("Plant/BIW") && !biw_only.contains("Plant/Assembly"), "{biw_only}");
    std::fs::write(&cfg_n, &biw_only).unwrap();
    let cfg_a = north_aggregator_config(dir.path(), la, &urls, "rescan_s = 2\n");
    let log = |name: &str| dir.path().join(format!("{name}.log"));
    let north = start(&cfg_n, ln, &log("north"));
    wait_until("north forwarding", 60, || north.metric("twinloom_nats_forwarded_total") >= 10.0);
    let agg = start(&cfg_a, la, &log("aggregate"));
    wait_until("the aggregator consuming", 60, || agg.metric("twinloom_aggregate_edits_total") >= 100.0);
    let bound_before = agg.metric("twinloom_signals_bound");

    // A second aggregator with the same durable (another stage folder) is refused: it would split the
    // site's messages with the first.
    let cfg_b = dir.path().join("aggregate-b.toml");
    std::fs::write(
        &cfg_b,
        std::fs::read_to_string(&cfg_a)
            .unwrap()
            .replace("dir = \"enterprise\"", "dir = \"enterprise-b\"")
            .replace(&la.to_string(), &listen().to_string()),
    )
    .unwrap();
    let second = rt.block_on(twinloom_connector::run(
        twinloom_connector::Config::load(&cfg_b).unwrap(),
        twinloom_connector::Shutdown::when(std::future::pending()),
        |_| {},
    ));
    let refused = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("site north: the lease enterprise.north is held by")
            && refused.contains(&format!("{}", dir.path().join("enterprise").canonicalize().unwrap().display())),
        "{refused}"
    );

    // With its own durable the same configuration runs next to the first (a hot standby; two aggregators
    // share work the same way by serving different sites): it builds the whole site too (checked below).
    let lc = listen();
    let cfg_c = dir.path().join("aggregate-standby.toml");
    std::fs::write(
        &cfg_c,
        std::fs::read_to_string(&cfg_a)
            .unwrap()
            .replace("dir = \"enterprise\"", "dir = \"standby\"")
            .replace("durable = \"enterprise\"", "durable = \"standby\"")
            .replace(&la.to_string(), &lc.to_string()),
    )
    .unwrap();
    let standby = start(&cfg_c, lc, &log("standby"));
    wait_until("the standby consuming", 60, || standby.metric("twinloom_aggregate_edits_total") >= 100.0);

    // The connector comes back with the Assembly tree too.
    north.stop();
    std::fs::write(&cfg_n, &both).unwrap();
    let north = start(&cfg_n, ln, &log("north"));
    let bound_site = north.metric("twinloom_signals_bound");
    assert!(bound_site > bound_before, "the site binds more now: {bound_site} > {bound_before}");
    // `try_metric`: `None` while the aggregator does not answer (it is binding again).
    wait_until("the aggregator bound again", 90, || {
        try_metric(la, "twinloom_aggregate_rebinds_total").is_some_and(|n| n >= 1.0)
            && try_metric(la, "twinloom_signals_bound").is_some_and(|n| n == bound_site)
    });
    assert!(agg.log_text().contains("site north's description changed"), "{}", agg.log_text());
    // Every metric docs/nats.md lists for the aggregator is on its page.
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/nats.md")).unwrap();
    let table = &doc[doc.find("### Metrics of the aggregator").unwrap()..];
    let table = &table[..table[4..].find("\n###").unwrap()];
    let (_, page) = http_get(la, "/metrics");
    let documented: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split(['`', '{']).next())
        .filter(|name| name.starts_with("twinloom_aggregate_"))
        .collect();
    assert!(documented.len() >= 12, "{documented:?}");
    for name in documented {
        assert!(page.lines().any(|l| l.starts_with(name)), "{name} is documented but not on /metrics:\n{page}");
    }

    wait_until("the standby bound again", 90, || {
        try_metric(lc, "twinloom_signals_bound").is_some_and(|n| n == bound_site)
    });

    drop(sim);
    drain(&[&north], &agg);
    drain(&[&north], &standby);
    north.stop();
    agg.stop();
    standby.stop();
    for stage in ["enterprise", "standby"] {
        let root = dir.path().join(stage).join("plant.usda");
        let n = aggregated_equals_site(&dir.path().join("north/live"), "/Enterprise/North", &root);
        assert!(n as f64 >= bound_site * 0.9, "{stage}: {n} values equal of {bound_site} bound");
        assert_portable_stage(&root);
        eprintln!(
            "{stage}: rebound from {bound_before} to {bound_site} signals; {n} values equal at /Enterprise/North"
        );
    }
}
