//! The OPC UA source against real servers on 127.0.0.1: the Rust plant simulator (values, determinism,
//! browse, bad nodes, security, restart) and an independent Python `asyncua` server with awkward browse
//! names (browse, values, kill and restart).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use twinloom_connector::source::opcua::{Identity, MonitoredNode, NodeKind, OpcUaConfig, OpcUaSource, SecurityMode};
use twinloom_connector::source::ErrorReason;
use twinloom_connector::{Sample, Value};
use twinloom_simulator::{PlantModel, SimConfig, SimValue, Simulator, SimulatorHandle};
use twinloom_tests::{free_port, workspace_root, ChildGuard, TempDir};

fn expected(v: &SimValue) -> Value {
    match v {
        SimValue::Bool(b) => Value::Bool(*b),
        SimValue::Int(i) => Value::I64(i64::from(*i)),
        SimValue::Long(i) => Value::I64(*i),
        SimValue::Double(x) => Value::F64(*x),
        SimValue::Text(s) => Value::String(s.clone()),
    }
}

fn fast_config(endpoint: &str) -> OpcUaConfig {
    // `TWINLOOM_TEST_LOG=debug cargo test …` shows the client's and server's logs.
    if let Ok(filter) = std::env::var("TWINLOOM_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    let mut c = OpcUaConfig::new(endpoint);
    c.reconnect_initial = Duration::from_millis(100);
    c.reconnect_max = Duration::from_millis(500);
    c.keep_alive = Duration::from_secs(1);
    c.publishing_interval = Duration::from_millis(20);
    c
}

/// Receives batches into `last` (last sample per signal) until `done` holds or the timeout passes.
async fn collect_until(
    rx: &mut mpsc::Receiver<Vec<Sample>>,
    last: &mut HashMap<u32, Sample>,
    timeout: Duration,
    mut done: impl FnMut(&HashMap<u32, Sample>) -> bool,
) -> bool {
    let end = Instant::now() + timeout;
    while !done(last) {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(batch)) => {
                for s in batch {
                    last.insert(s.signal, s);
                }
            }
            _ => return done(last),
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_received_equal_the_values_the_simulator_served_for_its_seed() {
    let ticks = 50;
    let config = SimConfig { port: 0, seed: 7, update_hz: 25.0, max_ticks: Some(ticks), ..Default::default() };
    let sim = Simulator::start(config.clone()).await.unwrap();
    let source = OpcUaSource::connect(fast_config(sim.endpoint_url())).await.unwrap();
    let nodes: Vec<MonitoredNode> =
        sim.signals().iter().enumerate().map(|(i, s)| MonitoredNode::new(i as u32, sim.node_id(&s.path))).collect();
    assert!(nodes.len() >= 2000);
    let (tx, mut rx) = mpsc::channel(256);
    let report = source.subscribe(&nodes, tx).await.unwrap();
    assert_eq!(report.subscribed, nodes.len(), "{:?}", report.rejected.first());

    // Replay the same seed locally: after `ticks` ticks the served values must be exactly these.
    let mut model = PlantModel::new(&config.model_config());
    for _ in 0..ticks {
        model.step();
    }
    let want: Vec<Value> = model.values().iter().map(expected).collect();
    let mut last = HashMap::new();
    let all_equal = |last: &HashMap<u32, Sample>| {
        want.iter().enumerate().all(|(i, w)| last.get(&(i as u32)).is_some_and(|s| &s.value == w))
    };
    let ok = collect_until(&mut rx, &mut last, Duration::from_secs(20), all_equal).await;
    let wrong: Vec<String> = want
        .iter()
        .enumerate()
        .filter(|(i, w)| last.get(&(*i as u32)).map(|s| &s.value) != Some(*w))
        .take(5)
        .map(|(i, w)| format!("{}: want {w}, got {:?}", sim.signals()[i].path, last.get(&(i as u32)).map(|s| &s.value)))
        .collect();
    assert!(ok, "values differ from the seed's replay, e.g. {wrong:?}");
    assert_eq!(sim.stats().ticks.load(Ordering::Relaxed), ticks);
    let s = &last[&0];
    assert!(s.quality.is_good() && s.source_time.is_some() && s.server_time.is_some());
    let counters = source.counters();
    assert!(counters.samples_in() >= want.len() as u64);
    assert!(counters.is_connected());
    source.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_nodes_are_rejected_by_name_and_counted_while_the_rest_flows() {
    let sim = Simulator::start(SimConfig { port: 0, ..Default::default() }).await.unwrap();
    let source = OpcUaSource::connect(fast_config(sim.endpoint_url())).await.unwrap();
    let good = sim.node_id("Plant/Field/Z0001/S0000001");
    let nodes = vec![
        MonitoredNode::new(1, good),
        MonitoredNode::new(2, sim.node_id("Plant/BIW/NoSuchStation/J1")),
        MonitoredNode::new(3, "this is not a node id"),
        MonitoredNode::new(4, sim.node_id("Plant/BIW")),
        MonitoredNode::new(5, "nsu=urn:twinloom:plant-sim;s=Plant/Field/Z0001/S0000002"),
    ];
    let (tx, mut rx) = mpsc::channel(64);
    let report = source.subscribe(&nodes, tx).await.unwrap();
    assert_eq!(report.subscribed, 2);
    let reason = |signal| report.rejected.iter().find(|r| r.signal == signal).map(|r| r.reason);
    assert_eq!(reason(2), Some(ErrorReason::UnknownNode));
    assert_eq!(reason(3), Some(ErrorReason::InvalidNodeId));
    assert_eq!(reason(4), Some(ErrorReason::WrongType));
    let msg = report.rejected.iter().find(|r| r.signal == 2).unwrap().to_string();
    assert!(msg.contains("Plant/BIW/NoSuchStation/J1") && msg.contains("BadNodeIdUnknown"), "{msg}");
    let c = source.counters();
    assert_eq!(c.errors(ErrorReason::UnknownNode), 1);
    assert_eq!(c.errors(ErrorReason::InvalidNodeId), 1);
    assert_eq!(c.errors(ErrorReason::WrongType), 1);
    let mut last = HashMap::new();
    let got =
        collect_until(&mut rx, &mut last, Duration::from_secs(10), |l| l.contains_key(&1) && l.contains_key(&5)).await;
    assert!(got, "the good nodes keep delivering: {:?}", last.keys().collect::<Vec<_>>());
    source.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsing_the_simulator_returns_its_hierarchy_with_types() {
    let sim = Simulator::start(SimConfig { port: 0, ..Default::default() }).await.unwrap();
    let source = OpcUaSource::connect(fast_config(sim.endpoint_url())).await.unwrap();
    let tree = source.browse(&sim.node_id("Plant/BIW"), 8).await.unwrap();
    assert_eq!(tree[0].browse_name, "BIW");
    let j1 = tree.iter().find(|n| n.node_id == sim.node_id("Plant/BIW/Station01/R01/J1")).expect("J1 browsed");
    assert_eq!((j1.kind, j1.data_type.as_deref(), j1.depth), (NodeKind::Variable, Some("Double"), 3));
    let r01 = &tree[j1.parent.unwrap()];
    assert_eq!((r01.browse_name.as_str(), r01.kind), ("R01", NodeKind::Object));
    assert_eq!(tree[r01.parent.unwrap()].browse_name, "Station01");
    let biw_signals = sim.signals().iter().filter(|s| s.path.starts_with("Plant/BIW/")).count();
    assert_eq!(tree.iter().filter(|n| n.kind == NodeKind::Variable).count(), biw_signals);
    let err = source.browse(&sim.node_id("Plant/Nowhere"), 2).await.unwrap_err().to_string();
    assert!(err.contains("Plant/Nowhere"), "{err}");
    source.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic256sha256_sign_and_encrypt_with_a_password_delivers_and_a_wrong_password_is_refused() {
    let pki = TempDir::new("opcua-sec");
    let sim = Simulator::start(SimConfig {
        port: 0,
        secure_endpoints: true,
        pki_dir: Some(pki.path().join("server")),
        users: vec![("operator".into(), "s3cret".into())],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut cfg = fast_config(sim.endpoint_url());
    cfg.security = SecurityMode::SignAndEncrypt;
    cfg.identity = Identity::UserPassword { user: "operator".into(), password: "s3cret".into() };
    cfg.pki_dir = pki.path().join("client");
    cfg.trust_server_certs = true;
    delivers_the_shift_number(&sim, cfg.clone()).await;
    cfg.identity = Identity::UserPassword { user: "operator".into(), password: "wrong".into() };
    is_refused(&sim, cfg, "a wrong password").await;
    sim.shutdown().await;
}

/// A session with `cfg` subscribes and receives the simulator's shift number.
async fn delivers_the_shift_number(sim: &SimulatorHandle, cfg: OpcUaConfig) {
    let source = OpcUaSource::connect(cfg).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let report = source.subscribe(&[MonitoredNode::new(9, sim.node_id("Plant/Shift/Number"))], tx).await.unwrap();
    assert_eq!(report.subscribed, 1);
    let mut last = HashMap::new();
    assert!(collect_until(&mut rx, &mut last, Duration::from_secs(10), |l| l.contains_key(&9)).await);
    assert_eq!(last[&9].value, Value::I64(1));
    source.shutdown().await;
}

/// Connecting with `cfg` fails with an error that names the endpoint.
async fn is_refused(sim: &SimulatorHandle, mut cfg: OpcUaConfig, what: &str) {
    cfg.connect_timeout = Duration::from_secs(5);
    let err = OpcUaSource::connect(cfg).await.err().unwrap_or_else(|| panic!("{what} is refused")).to_string();
    assert!(err.contains(sim.endpoint_url()), "{err}");
}

/// A user certificate (DER) and its private key (PEM) under `dir`, as an operator's X509 identity.
fn user_certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    use opcua::crypto::{CertificateStore, X509Data};
    use opcua::types::{ApplicationDescription, LocalizedText};
    let cert = dir.join(format!("{name}.der"));
    let key = dir.join(format!("{name}.pem"));
    let who = ApplicationDescription {
        application_uri: format!("urn:twinloom:test:user:{name}").into(),
        application_name: LocalizedText::from(name),
        ..Default::default()
    };
    let mut data = X509Data::from((who, None));
    data.key_size = 2048;
    data.certificate_duration_days = 30;
    CertificateStore::create_certificate_and_key(&data, true, &cert, &key).expect("user certificate");
    (cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic256sha256_sign_with_a_user_certificate_delivers_and_an_unknown_certificate_is_refused() {
    let pki = TempDir::new("opcua-x509");
    let users = pki.path().join("users");
    std::fs::create_dir_all(&users).unwrap();
    let (cert, key) = user_certificate(&users, "operator");
    let (stranger_cert, stranger_key) = user_certificate(&users, "stranger");
    let sim = Simulator::start(SimConfig {
        port: 0,
        secure_endpoints: true,
        pki_dir: Some(pki.path().join("server")),
        user_certs: vec![cert.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let mut cfg = fast_config(sim.endpoint_url());
    cfg.security = SecurityMode::Sign;
    cfg.identity = Identity::Certificate { cert, key };
    cfg.pki_dir = pki.path().join("client");
    cfg.trust_server_certs = true;
    delivers_the_shift_number(&sim, cfg.clone()).await;
    cfg.identity = Identity::Certificate { cert: stranger_cert, key: stranger_key };
    is_refused(&sim, cfg, "a certificate the server does not know").await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_simulator_is_reconnected_and_resubscribed() {
    let port = free_port();
    let config = SimConfig { port, update_hz: 20.0, ..Default::default() };
    let sim = Simulator::start(config.clone()).await.unwrap();
    let source = OpcUaSource::connect(fast_config(sim.endpoint_url())).await.unwrap();
    let nodes: Vec<MonitoredNode> =
        (1..=20).map(|i| MonitoredNode::new(i, sim.node_id(&format!("Plant/Field/Z0001/S{i:07}")))).collect();
    let (tx, mut rx) = mpsc::channel(64);
    assert_eq!(source.subscribe(&nodes, tx).await.unwrap().subscribed, 20);
    let mut last = HashMap::new();
    assert!(collect_until(&mut rx, &mut last, Duration::from_secs(10), |l| l.len() == 20).await);
    sim.shutdown().await;

    let counters = source.counters();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.is_connected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!counters.is_connected(), "the source noticed the server going away");
    assert!(counters.errors(ErrorReason::ConnectionLost) >= 1);

    let restarted_at = std::time::SystemTime::now();
    let sim = Simulator::start(config).await.unwrap();
    last.clear();
    let fresh = |l: &HashMap<u32, Sample>| {
        l.len() == 20 && l.values().all(|s| s.source_time.is_some_and(|t| t >= restarted_at))
    };
    let ok = collect_until(&mut rx, &mut last, Duration::from_secs(20), fresh).await;
    assert!(
        ok,
        "values flow again after the restart ({} signals seen; reconnects {}, connected {}, errors {:?})",
        last.len(),
        counters.reconnects(),
        counters.is_connected(),
        counters.errors_by_reason()
    );
    assert!(counters.reconnects() >= 1 && counters.is_connected());
    source.shutdown().await;
    sim.shutdown().await;
}

/// A TCP relay to a server that can black-hole traffic: a silent network cut (no FIN, no RST). A
/// connection that saw the black hole stays dead; new connections pass again once it is lifted.
struct Relay {
    port: u16,
    blackhole: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let blackhole = Arc::new(AtomicBool::new(false));
        let bh = blackhole.clone();
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let (dead, bh) = (Arc::new(AtomicBool::new(false)), bh.clone());
                let (ir, iw) = inbound.into_split();
                let (or, ow) = outbound.into_split();
                tokio::spawn(Self::pipe(ir, ow, bh.clone(), dead.clone()));
                tokio::spawn(Self::pipe(or, iw, bh, dead));
            }
        });
        Relay { port, blackhole, task }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        blackhole: Arc<AtomicBool>,
        dead: Arc<AtomicBool>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if blackhole.load(Ordering::SeqCst) {
                dead.store(true, Ordering::SeqCst);
            }
            if !dead.load(Ordering::SeqCst) && to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_network_cut_is_detected_and_the_session_resumes_when_the_network_returns() {
    let sim = Simulator::start(SimConfig { port: 0, update_hz: 20.0, ..Default::default() }).await.unwrap();
    let relay = Relay::start(sim.port()).await;
    let mut cfg = fast_config(&format!("opc.tcp://127.0.0.1:{}/", relay.port));
    cfg.keep_alive = Duration::from_millis(300);
    cfg.request_timeout = Duration::from_secs(1);
    cfg.max_failed_keep_alives = 2;
    let source = OpcUaSource::connect(cfg).await.unwrap();
    let nodes: Vec<MonitoredNode> =
        (1..=10).map(|i| MonitoredNode::new(i, sim.node_id(&format!("Plant/Field/Z0001/S{i:07}")))).collect();
    let (tx, mut rx) = mpsc::channel(64);
    assert_eq!(source.subscribe(&nodes, tx).await.unwrap().subscribed, 10);
    let mut last = HashMap::new();
    assert!(collect_until(&mut rx, &mut last, Duration::from_secs(10), |l| l.len() == 10).await);

    relay.blackhole.store(true, Ordering::SeqCst);
    let counters = source.counters();
    let deadline = Instant::now() + Duration::from_secs(15);
    while counters.is_connected() && Instant::now() < deadline {
        while rx.try_recv().is_ok() {}
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!counters.is_connected(), "the silent cut was noticed by the keep-alives");
    relay.blackhole.store(false, Ordering::SeqCst);
    let back_at = std::time::SystemTime::now();
    last.clear();
    let fresh =
        |l: &HashMap<u32, Sample>| l.len() == 10 && l.values().all(|s| s.source_time.is_some_and(|t| t >= back_at));
    let ok = collect_until(&mut rx, &mut last, Duration::from_secs(20), fresh).await;
    assert!(
        ok,
        "values flow again after the cut ({} fresh signals; errors {:?})",
        last.len(),
        counters.errors_by_reason()
    );
    assert!(counters.reconnects() >= 1);
    source.shutdown().await;
    relay.task.abort();
    sim.shutdown().await;
}

/// Starts the Python asyncua peer on `port` and waits for its READY line.
fn start_python_peer(port: u16) -> ChildGuard {
    let script = workspace_root().join("tests/peers/opcua_server.py");
    let mut child = Command::new(twinloom_tests::python())
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the asyncua peer");
    let stdout = child.stdout.take().expect("peer stdout");
    let guard = ChildGuard(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the peer's READY line");
    assert!(line.starts_with("READY"), "peer said {line:?}");
    guard
}

const PEER_NS: &str = "nsu=urn:twinloom:test-peer;s=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_independent_asyncua_server_is_browsed_subscribed_and_survives_kill_and_restart() {
    let port = free_port();
    let peer = tokio::task::spawn_blocking(move || start_python_peer(port)).await.unwrap();
    let endpoint = format!("opc.tcp://127.0.0.1:{port}/");
    let source = OpcUaSource::connect(fast_config(&endpoint)).await.unwrap();

    // Browse: the awkward names come back exactly, duplicates included, with their structure.
    let full = source.browse(&format!("{PEER_NS}Line 1"), 4).await.unwrap();
    let mut names: Vec<&str> = full.iter().skip(1).map(|n| n.browse_name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "1st Station",
            "Blob",
            "Cell A",
            "Counter",
            "Dup",
            "Dup",
            "Ready?",
            "Recipe",
            "Temp 1",
            "Température",
            "Torque"
        ]
    );
    let node = |name: &str| full.iter().position(|n| n.browse_name == name).unwrap();
    assert_eq!(full[node("Cell A")].kind, NodeKind::Object);
    assert_eq!(full[node("Torque")].parent, Some(node("Cell A")));
    // Value ranks: the array says so, scalars are -1.
    assert_eq!(full[node("Recipe")].value_rank, Some(1));
    assert_eq!(full[node("Counter")].value_rank, Some(-1));
    // The scalar variables directly under Line 1.
    let tree: Vec<_> = std::iter::once(full[0].clone())
        .chain(
            full.iter()
                .skip(1)
                .filter(|n| n.parent == Some(0) && n.kind == NodeKind::Variable && n.browse_name != "Recipe")
                .cloned(),
        )
        .collect();
    assert_eq!(tree.len(), 9);
    let dups: Vec<&str> = tree.iter().filter(|n| n.browse_name == "Dup").map(|n| n.node_id.as_str()).collect();
    assert_eq!(dups.len(), 2);
    assert_ne!(dups[0], dups[1]);
    let uni = source.browse(&format!("{PEER_NS}Ünïcode ⚙"), 2).await.unwrap();
    assert_eq!(uni[0].browse_name, "Ünïcode ⚙");
    assert_eq!((uni[1].browse_name.as_str(), uni[1].data_type.as_deref()), ("Motor speed", Some("Float")));

    // Subscribe every browsed variable by the node ids browse returned; the ByteString one is refused.
    let mut nodes: Vec<MonitoredNode> =
        tree.iter().skip(1).enumerate().map(|(i, n)| MonitoredNode::new(i as u32, n.node_id.clone())).collect();
    nodes.push(MonitoredNode::new(100, uni[1].node_id.clone()));
    let handle = |name: &str| nodes[tree.iter().skip(1).position(|n| n.browse_name == name).unwrap()].signal;
    let (counter, blob) = (handle("Counter"), handle("Blob"));
    let (tx, mut rx) = mpsc::channel(64);
    let report = source.subscribe(&nodes, tx).await.unwrap();
    assert_eq!(report.subscribed, nodes.len() - 1);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!((report.rejected[0].signal, report.rejected[0].reason), (blob, ErrorReason::WrongType));
    assert!(report.rejected[0].message.contains("ByteString"), "{}", report.rejected[0]);

    let mut last = HashMap::new();
    let all = |l: &HashMap<u32, Sample>| l.len() == nodes.len() - 1;
    assert!(collect_until(&mut rx, &mut last, Duration::from_secs(10), all).await, "{last:?}");
    let by_name = |name: &str| &last[&handle(name)].value;
    assert_eq!(by_name("Temp 1"), &Value::F64(21.5));
    assert_eq!(by_name("Température"), &Value::F64(22.25));
    assert_eq!(by_name("1st Station"), &Value::I64(7));
    assert_eq!(by_name("Ready?"), &Value::Bool(true));
    let mut dup_values: Vec<String> = tree
        .iter()
        .skip(1)
        .zip(&nodes)
        .filter(|(n, _)| n.browse_name == "Dup")
        .map(|(_, m)| last[&m.signal].value.to_string())
        .collect();
    dup_values.sort();
    assert_eq!(dup_values, ["\"first\"", "\"second\""]);
    assert_eq!(last[&100].value, Value::F64(1450.0));

    // Let the counter run a little, then kill the server outright and start a new one on the same
    // port: its counter restarts from 0.
    let running = |l: &HashMap<u32, Sample>| matches!(l.get(&counter).map(|s| &s.value), Some(Value::I64(n)) if *n > 5);
    assert!(collect_until(&mut rx, &mut last, Duration::from_secs(10), running).await);
    drop(peer);
    let counters = source.counters();
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.is_connected() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!counters.is_connected());
    let restarted_at = std::time::SystemTime::now();
    let _peer = tokio::task::spawn_blocking(move || start_python_peer(port)).await.unwrap();
    // Values from the new server (source time after its start) must keep coming and counting up.
    let mut first_fresh = None;
    let ok = collect_until(&mut rx, &mut last, Duration::from_secs(20), |l| match l.get(&counter) {
        Some(Sample { value: Value::I64(n), source_time: Some(t), .. }) if *t >= restarted_at => {
            let first = *first_fresh.get_or_insert(*n);
            *n > first
        }
        _ => false,
    })
    .await;
    assert!(ok, "the restarted server's counter flows");
    assert!(counters.reconnects() >= 1);
    source.shutdown().await;
}
