//! The journal forwarded to a real 3-node NATS JetStream cluster (issue 20, docs/nats.md): the connector
//! runs in a child process (this test binary re-run with `TWINLOOM_NATS_CHILD` set) against the
//! in-process plant simulator, with the journal on and `[nats]` forwarding to three `nats-server`s
//! (tests/src/nats.rs, `ci/nats-env`). Mid-run the stream's leader is killed; then the whole cluster is
//! down for some seconds (the service keeps running, the backlog grows and is kept from truncation);
//! then the connector is killed with SIGKILL and restarted; then it is restarted with its forwarded
//! position set back so the whole journal is sent again. After each step the stream is read back with
//! async-nats: every delta the connector published (sequence numbers 1..=last, without a gap) is in the
//! stream exactly once, in order, under the id `<site>:<epoch>:<seq>`, and each message the journal still
//! holds equals the journal's record.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use twinloom_simulator::{SimConfig, Simulator};
use twinloom_tests::jetstream::{read_stream, read_stream_as, stream_leader, StreamMessage};
use twinloom_tests::nats::NatsCluster;
use twinloom_tests::{free_port, http_get, metric, run_python, wait_until, ChildService, TempDir};

const CHILD_ENV: &str = "TWINLOOM_NATS_CHILD";
const SITE: &str = "north";
const STREAM: &str = "TWINLOOM_NORTH";

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

/// The connector in a child process (this binary's `child_service`), once `/readyz` answers.
fn start(config: &Path, listen: SocketAddr, log: &Path) -> ChildService {
    ChildService::start("child_service", CHILD_ENV, config, listen, log, "/readyz")
}

/// The connector's configuration; `nats` holds the `[nats]` lines after `site`.
fn write_config(dir: &Path, endpoint: &str, ns: u16, listen: SocketAddr, servers: &[String], nats: &str) -> PathBuf {
    let cfg = dir.join("plant.toml");
    let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 50\nsave_interval_s = 1.0\n\n[stream]\nlisten = \"{listen}\"\n\n\
             [journal]\nenabled = true\nsegment_mib = 1\n\n\
             [nats]\nenabled = true\nservers = [{}]\nsite = \"{SITE}\"\n{nats}\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{endpoint}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/Assembly\"\nshop = \"assembly\"\nprim = \"/Plant/Assembly\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/Field\"\nshop = \"field\"\nprim = \"/Plant/Field\"\n",
            servers.join(", ")
        ),
    )
    .unwrap();
    cfg
}

/// Checks the stream against what the connector published: ids `north:<epoch>:1..=last` each exactly
/// once, in order, on their shop's subject. Returns the number of messages.
fn check_exactly_once(msgs: &[StreamMessage], epoch: u64, last: u64) -> usize {
    let mut seqs = Vec::with_capacity(msgs.len());
    // The site's description (docs/nats.md, "The site description") travels in the same stream.
    let (described, msgs): (Vec<&StreamMessage>, Vec<&StreamMessage>) =
        msgs.iter().partition(|m| m.subject == format!("twinloom.{SITE}._.stage"));
    assert!(!described.is_empty(), "the site's description is in the stream");
    for m in msgs {
        let mut parts = m.id.split(':');
        let (site, e, seq) = (parts.next(), parts.next(), parts.next().and_then(|s| s.parse::<u64>().ok()));
        assert_eq!(site, Some(SITE), "message {} id {:?}", m.seq, m.id);
        assert_eq!(e, Some(epoch.to_string().as_str()), "message {} id {:?}: another epoch", m.seq, m.id);
        let seq = seq.unwrap_or_else(|| panic!("message {} id {:?}", m.seq, m.id));
        let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("a JSON delta");
        let shop = body["shop"].as_str().expect("the delta's shop");
        assert_eq!(m.subject, format!("twinloom.{SITE}.{shop}.deltas"), "message {}", m.seq);
        seqs.push(seq);
    }
    let mut count: BTreeMap<u64, u32> = BTreeMap::new();
    for s in &seqs {
        *count.entry(*s).or_default() += 1;
    }
    let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(dups.is_empty(), "ids in the stream more than once: {dups:?}");
    let missing: Vec<u64> = (1..=last).filter(|s| !count.contains_key(s)).take(20).collect();
    assert!(missing.is_empty(), "deltas published but not in the stream (of 1..={last}): {missing:?}");
    assert!(count.keys().all(|s| (1..=last).contains(s)), "ids beyond the last published {last}");
    let out_of_order = seqs.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(out_of_order, 0, "the stream holds the deltas in journal order");
    seqs.len()
}

/// The epoch and the (sequence number, delta body) of every record the stopped connector's journal
/// still holds.
fn journal_records(stage: &Path) -> (u64, Vec<(u64, Vec<u8>)>) {
    let epoch: u64 = std::fs::read_to_string(stage.join("journal/epoch")).unwrap().trim().parse().unwrap();
    let (journal, _) = twinloom_journal::Journal::open(stage.join("journal"), twinloom_journal::Options::default())
        .expect("open the journal");
    let mut reader = journal.reader(journal.first_position()).expect("journal reader");
    let mut out = Vec::new();
    while let Some(r) = reader.next_record() {
        let (_, payload) = r.expect("a journal record");
        let (seq, packed) = payload.split_at(8);
        let seq = u64::from_le_bytes(seq.try_into().unwrap());
        if seq != 0 {
            out.push((seq, lz4_flex::block::decompress_size_prepended(packed).expect("an LZ4 delta")));
        }
    }
    (epoch, out)
}

/// The /metrics page is valid Prometheus text (prometheus-client's parser) with the forwarder's families.
fn check_metrics_page(listen: SocketAddr, dir: &Path) {
    let (_, text) = http_get(listen, "/metrics");
    let file = dir.join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
names = [f.name for f in text_string_to_metric_families(open(sys.argv[1]).read())]
assert len(names) == len(set(names)), f"families split: {names}"
want = ["twinloom_nats_forwarded", "twinloom_nats_samples_forwarded", "twinloom_nats_dedup_hits", "twinloom_nats_errors", "twinloom_nats_lost_records",
        "twinloom_nats_forward_lag_records", "twinloom_nats_backlog_seconds", "twinloom_nats_connected"]
missing = [w for w in want if w not in names]
assert not missing, f"missing: {missing}"
"#;
    run_python(script, &[file.to_str().unwrap()]);
}

#[test]
fn journal_forwarded_to_a_3_node_cluster_exactly_once() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let outage =
        Duration::from_secs(std::env::var("TWINLOOM_NATS_OUTAGE_S").ok().and_then(|s| s.parse().ok()).unwrap_or(10));
    let mut cluster = NatsCluster::start(3);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-forward");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 20,
            signals: 2000,
            update_hz: 20.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let nats = "replicas = 3\nduplicate_window_s = 600\nack_timeout_s = 2\n";
    let cfg = write_config(dir.path(), sim.endpoint_url(), sim.namespace_index(), listen, &urls, nats);
    let stage = dir.path().join("stage");
    let log = dir.path().join("service.log");
    let forwarded = || metric(listen, "twinloom_nats_forwarded_total");
    let lag = || metric(listen, "twinloom_nats_forward_lag_records");

    // 1. Forwarding, then the stream's leader is killed mid-run.
    let svc = start(&cfg, listen, &log);
    wait_until("first deltas forwarded", 30, || forwarded() >= 20.0);
    let leader = stream_leader(&urls, STREAM);
    let i = cluster.index_of(&leader).expect("the leader is one of ours");
    let before = forwarded();
    cluster.kill_node(i);
    let t = Instant::now();
    wait_until("forwarding after the leader was killed", 60, || forwarded() >= before + 100.0);
    eprintln!("stream leader {leader} killed: 100 more deltas forwarded {:.2} s later", t.elapsed().as_secs_f64());
    cluster.start_node(i);
    cluster.wait_ready(Duration::from_secs(30));

    // 2. The whole cluster down: the service keeps running and the backlog grows (kept in the journal).
    cluster.kill_all();
    let down = Instant::now();
    std::thread::sleep(outage);
    assert_eq!(http_get(listen, "/readyz").0, 200, "the service is ready while the cluster is down");
    let backlog = lag();
    eprintln!("journal bytes appended so far: {}", metric(listen, "twinloom_journal_appended_bytes_total"));
    assert!(backlog > 20.0, "the backlog grows while the cluster is down: {backlog}");
    assert_eq!(metric(listen, "twinloom_nats_connected"), 0.0);
    assert!(metric(listen, "twinloom_nats_backlog_seconds") > 1.0);
    check_metrics_page(listen, dir.path());
    cluster.restart_all();
    let back = Instant::now();
    wait_until("the backlog forwarded", 90, || lag() < 10.0);
    eprintln!(
        "cluster down {:.1} s: backlog of {backlog} records forwarded {:.2} s after it was back",
        back.duration_since(down).as_secs_f64(),
        back.elapsed().as_secs_f64()
    );

    // 3. kill -9 the connector and restart it: the stream goes on without a gap or a duplicate.
    let before = forwarded();
    assert!(before > 0.0);
    svc.kill9();
    let svc = start(&cfg, listen, &log);
    wait_until("forwarding after the restart", 30, || forwarded() >= 50.0);
    svc.stop();
    let (epoch, records) = journal_records(&stage);
    let last = records.last().map(|(s, _)| *s).expect("the journal holds deltas");
    eprintln!("journal holds seq {}..={last}", records[0].0);
    // segment_mib = 1: layer saves truncated the journal during the run, the outage included, so the
    // forwarder's floor is what kept the backlog.
    assert!(records[0].0 > 1, "the journal was truncated during the run");
    let msgs = read_stream(&urls, STREAM);
    let n = check_exactly_once(&msgs, epoch, last);
    eprintln!("after kill -9 and restart: {n} deltas in the stream, each once, in order (epoch {epoch})");

    // 4. Every record the journal holds is in the stream, unchanged.
    let by_id: BTreeMap<&str, &StreamMessage> = msgs.iter().map(|m| (m.id.as_str(), m)).collect();
    for (seq, body) in &records {
        let id = format!("{SITE}:{epoch}:{seq}");
        let m = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{id} is not in the stream"));
        assert_eq!(&m.payload, body, "{id}: the stream's message differs from the journal's record");
    }

    // 5. A resend (the forwarded position set back, as after a crash between the acknowledgement and
    // its save): every message again, each one a duplicate the stream drops.
    std::fs::write(stage.join("nats/position"), format!("0 {epoch}\n")).unwrap();
    let svc = start(&cfg, listen, &log);
    wait_until("the resend de-duplicated", 60, || {
        metric(listen, "twinloom_nats_dedup_hits_total") >= records.len() as f64
    });
    let dedup = metric(listen, "twinloom_nats_dedup_hits_total");
    svc.stop();
    let (_, records) = journal_records(&stage);
    let last = records.last().map(|(s, _)| *s).unwrap();
    let msgs = read_stream(&urls, STREAM);
    let n = check_exactly_once(&msgs, epoch, last);
    eprintln!("resend of the journal: {dedup} dedup hits; {n} deltas in the stream, each once");
    drop(sim);
}

/// docs/deploy.md's per-site permissions (its `authorization` block, as printed) on a 1-node cluster: the
/// connector with the documented user forwards (it may make and look up its stream and publish its
/// site's subjects, nothing else is needed); with a wrong password it connects nowhere, counts errors and
/// keeps running; the documented aggregator user reads every delta back.
#[test]
fn the_documented_site_permissions_and_credentials() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/deploy.md")).unwrap();
    let conf = &doc[doc.find("```conf\n").expect("the nats-server block")..];
    let conf = &conf[..conf[3..].find("```").expect("its end") + 3];
    let auth = &conf[conf.find("authorization {").expect("the authorization block")..];
    // One user more than the page prints: an aggregator without the lease bucket's subjects.
    let auth = auth.replacen(
        "users: [",
        "users: [\n    { user: aggregator-without-kv, password: \"x\", permissions: { publish: [\"$JS.API.>\", \"$JS.ACK.>\"], subscribe: [\"_INBOX.>\"] } }",
        1,
    );
    let cluster = NatsCluster::start_with(1, &auth);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-auth");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 21,
            signals: 2000,
            update_hz: 5.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("service.log");
    let config = |password: &str| {
        let nats = format!("replicas = 1\nuser = \"north-connector\"\npassword = \"{password}\"\n");
        write_config(dir.path(), sim.endpoint_url(), sim.namespace_index(), listen, &urls, &nats)
    };

    let svc = start(&config("wrong"), listen, &log);
    wait_until("errors counted with a wrong password", 30, || metric(listen, "twinloom_nats_errors_total") >= 1.0);
    assert_eq!(metric(listen, "twinloom_nats_connected"), 0.0);
    assert_eq!(metric(listen, "twinloom_nats_forwarded_total"), 0.0);
    assert_eq!(http_get(listen, "/readyz").0, 200, "the service runs on without the cluster");
    svc.stop();

    let svc = start(&config("change-me"), listen, &log);
    wait_until("deltas forwarded with the documented user", 60, || {
        metric(listen, "twinloom_nats_forwarded_total") >= 20.0
    });
    svc.stop();
    let (epoch, records) = journal_records(&dir.path().join("stage"));
    let last = records.last().map(|(s, _)| *s).expect("the journal holds deltas");
    let reader = async_nats::ConnectOptions::with_user_and_password("aggregator".into(), "change-me-too".into());
    let msgs = read_stream_as(&urls, STREAM, reader);
    let n = check_exactly_once(&msgs, epoch, last);
    eprintln!("documented permissions: {n} deltas forwarded by north-connector, read back by aggregator");
    drop(sim);

    // A real aggregator as the documented `aggregator` user: it takes its lease, consumes, releases.
    let la: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg_a = dir.path().join("aggregate.toml");
    std::fs::write(
        &cfg_a,
        format!(
            "[stage]\ndir = \"enterprise\"\nroot = \"Enterprise\"\n\n[stream]\nlisten = \"{la}\"\n\n\
             [nats]\nservers = [{:?}]\nuser = \"aggregator\"\npassword = \"change-me-too\"\n\n\
             [aggregate]\nsites = [\"north\"]\ndurable = \"enterprise\"\nwait_s = 30\n",
            urls[0]
        ),
    )
    .unwrap();
    // Without `$KV.TWINLOOM_AGGREGATORS.>` it cannot take its lease and does not start, saying why.
    let without = std::fs::read_to_string(&cfg_a).unwrap().replace(
        "user = \"aggregator\"\npassword = \"change-me-too\"",
        "user = \"aggregator-without-kv\"\npassword = \"x\"",
    );
    let cfg_n = dir.path().join("aggregate-without-kv.toml");
    std::fs::write(&cfg_n, without).unwrap();
    let refused = match twinloom_connector::spawn(rt.handle(), twinloom_connector::Config::load(&cfg_n).unwrap()) {
        Ok(_) => panic!("an aggregator without the lease bucket's permissions started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("lease") && refused.contains("$KV.TWINLOOM_AGGREGATORS.>"), "{refused}");
    eprintln!("aggregator without the lease permissions: {refused}");
    let agg = twinloom_connector::spawn(rt.handle(), twinloom_connector::Config::load(&cfg_a).unwrap())
        .expect("the aggregator starts with the documented permissions");
    wait_until("the aggregator consuming with the documented permissions", 30, || {
        metric(la, "twinloom_aggregate_edits_total") >= 1000.0
    });
    assert_eq!(metric(la, "twinloom_aggregate_errors_total"), 0.0, "no refused request");
    agg.stop(rt.handle()).expect("the aggregator stops cleanly");
}

/// The raw samples of one shop in the stream (`samples = true`): per attribute path, its (value,
/// sourceTimeMs) in stream order; checks every raw-samples message's id (`north:<epoch>:s<position>`, each
/// once) and headers on the way. Also returns the number of raw-samples messages.
fn raw_samples(msgs: &[StreamMessage], shop: &str) -> (BTreeMap<String, Vec<(serde_json::Value, f64)>>, usize) {
    let subject = format!("twinloom.{SITE}.{shop}.samples");
    let mut ids = std::collections::BTreeSet::new();
    let mut out: BTreeMap<String, Vec<(serde_json::Value, f64)>> = BTreeMap::new();
    let mut n = 0;
    for m in msgs.iter().filter(|m| m.subject == subject) {
        n += 1;
        let position = m.id.rsplit_once(":s").and_then(|(_, p)| p.parse::<u64>().ok());
        let position =
            position.unwrap_or_else(|| panic!("message {} id {:?}: not <site>:<epoch>:s<position>", m.seq, m.id));
        assert!(m.id.starts_with(&format!("{SITE}:")), "message {} id {:?}", m.seq, m.id);
        assert_eq!(m.header("Twinloom-Position"), Some(position.to_string()), "message {}", m.seq);
        assert_eq!(m.header("Twinloom-Seq"), None, "raw samples are not in the live numbering");
        assert!(ids.insert(m.id.clone()), "{} twice in the stream", m.id);
        let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("a JSON record");
        assert_eq!(body["shop"], shop);
        for e in body["edits"].as_array().expect("edits") {
            let path = e["path"].as_str().expect("path").to_string();
            let at = e["sourceTimeMs"].as_f64().expect("every raw sample has a time");
            out.entry(path).or_default().push((e["value"].clone(), at));
        }
    }
    (out, n)
}

/// `[nats] samples = true` against a real JetStream server and a real MQTT broker (mosquitto, publisher
/// paho-mqtt): a counter published 1, 2, 3, … faster than the 250 ms tick is coalesced in the deltas but
/// arrives on `twinloom.north.field.samples` as every value, once, in order — through a server outage
/// (the backlog kept in the journal), a `kill -9` of the connector and a resend of the whole journal
/// (every raw-samples message a duplicate the stream drops). A late sample (older source time) is in the
/// raw samples but not in the deltas.
#[test]
fn raw_samples_forwarded_every_one_once_through_an_outage_and_a_kill() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let mut cluster = NatsCluster::start(1);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-samples");
    let mqtt_port = free_port();
    let _broker = twinloom_tests::start_mosquitto(mqtt_port);
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers: Vec<String> = urls.iter().map(|s| format!("{s:?}")).collect();
    let binding = |node: &str, attr: &str, ty: &str| {
        format!(
            "\n[[bindings]]\nsource = \"sensors\"\nnode = \"{node}\"\nshop = \"field\"\nprim = \"/Plant/Paint/Oven1\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n"
        )
    };
    let cfg = dir.path().join("plant.toml");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 250\n\n[stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
             [nats]\nenabled = true\nservers = [{}]\nsite = \"{SITE}\"\nreplicas = 1\nack_timeout_s = 2\nsamples = true\n\n\
             [[sources]]\nname = \"sensors\"\nkind = \"mqtt\"\nendpoint = \"mqtt://127.0.0.1:{mqtt_port}\"\n{}{}{}",
            servers.join(", "),
            binding("topic=plant/paint/oven1/count", "count", "int"),
            binding("topic=plant/paint/oven1/state;value=/zone1/temp;time=/ts", "zone1Temp", "double"),
            binding("topic=plant/paint/oven1/probe", "probe", "int"),
        ),
    )
    .unwrap();
    let stage = dir.path().join("stage");
    let log = dir.path().join("service.log");
    let raw = || metric(listen, r#"twinloom_raw_samples_total{shop="field"}"#);
    let lag = || metric(listen, "twinloom_nats_forward_lag_records");
    let port_s = mqtt_port.to_string();
    // Started (or restarted): publish a probe until one arrives (the subscription lands after the CONNACK),
    // so that no counter value is published before the connector listens.
    let listening = |peer: &mut twinloom_tests::LinePeer| {
        wait_until("the MQTT subscription", 30, || {
            assert_eq!(peer.cmd("pub plant/paint/oven1/probe 1"), "OK");
            std::thread::sleep(Duration::from_millis(100));
            raw() >= 1.0
        });
    };
    let count = |peer: &mut twinloom_tests::LinePeer, values: std::ops::RangeInclusive<u64>| {
        for i in values {
            assert_eq!(peer.cmd(&format!("pub plant/paint/oven1/count {i}")), "OK");
        }
    };

    // 1. 1..=200 faster than the tick, and a late sample after a live one.
    let svc = start(&cfg, listen, &log);
    let mut peer = twinloom_tests::LinePeer::start("mqtt_json.py", &[&port_s]);
    listening(&mut peer);
    let base = raw();
    count(&mut peer, 1..=200);
    let live = r#"{"ts": "2026-12-07T08:00:01Z", "zone1": {"temp": 181.5}}"#;
    let late = r#"{"ts": "2026-12-07T08:00:00Z", "zone1": {"temp": 179.0}}"#;
    assert_eq!(peer.cmd(&format!("pub plant/paint/oven1/state {live}")), "OK");
    assert_eq!(peer.cmd(&format!("pub plant/paint/oven1/state {late}")), "OK");
    wait_until("202 raw samples journaled", 30, || raw() >= base + 202.0);
    wait_until("everything forwarded", 30, || lag() == 0.0);
    assert!(metric(listen, "twinloom_nats_samples_forwarded_total") >= 1.0);

    // 2. The server down while 201..=400 arrive: kept in the journal, forwarded once it is back.
    cluster.kill_all();
    count(&mut peer, 201..=400);
    wait_until("400 counter samples journaled", 30, || raw() >= base + 402.0);
    std::thread::sleep(Duration::from_secs(2));
    assert!(lag() > 0.0, "the backlog waits in the journal");
    cluster.restart_all();
    cluster.wait_ready(Duration::from_secs(30));
    wait_until("the backlog forwarded", 60, || lag() == 0.0);

    // 3. kill -9 and a restart: 401..=500 after it.
    svc.kill9();
    let svc = start(&cfg, listen, &log);
    listening(&mut peer);
    let base = raw();
    count(&mut peer, 401..=500);
    wait_until("100 more raw samples journaled", 30, || raw() >= base + 100.0);
    wait_until("everything forwarded", 30, || lag() == 0.0);
    svc.stop();

    // 4. The whole journal sent again: the stream drops every message as a duplicate.
    let epoch: u64 = std::fs::read_to_string(stage.join("journal/epoch")).unwrap().trim().parse().unwrap();
    let msgs = read_stream(&urls, STREAM);
    let (_, records) = raw_samples(&msgs, "field");
    std::fs::write(stage.join("nats/position"), format!("0 {epoch}\n")).unwrap();
    let svc = start(&cfg, listen, &log);
    wait_until("the resend de-duplicated", 60, || {
        lag() == 0.0 && metric(listen, "twinloom_nats_dedup_hits_total") >= records as f64
    });
    svc.stop();
    drop(peer);

    let msgs = read_stream(&urls, STREAM);
    let (samples, n) = raw_samples(&msgs, "field");
    assert_eq!(n, records, "the resend added no message");
    let counter: Vec<i64> =
        samples["/Plant/Paint/Oven1.count"].iter().map(|(v, _)| v.as_i64().expect("an int")).collect();
    assert_eq!(counter, (1..=500).collect::<Vec<i64>>(), "every counter value once, in order");
    let temps: Vec<(f64, f64)> =
        samples["/Plant/Paint/Oven1.zone1Temp"].iter().map(|(v, t)| (v.as_f64().unwrap(), *t)).collect();
    assert_eq!(temps, vec![(181.5, 1796630401000.0), (179.0, 1796630400000.0)], "the late sample too");

    // The deltas coalesced the counter (the newest value per tick) and left the late sample out.
    let mut delta_counts = Vec::new();
    let mut delta_temps = Vec::new();
    for m in msgs.iter().filter(|m| m.subject == format!("twinloom.{SITE}.field.deltas")) {
        let body: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
        for e in body["edits"].as_array().unwrap() {
            match e["path"].as_str() {
                Some("/Plant/Paint/Oven1.count") => delta_counts.push(e["value"].as_i64().unwrap()),
                Some("/Plant/Paint/Oven1.zone1Temp") => delta_temps.push(e["value"].as_f64().unwrap()),
                _ => {}
            }
        }
    }
    assert_eq!(delta_temps, vec![181.5]);
    assert_eq!(delta_counts.last(), Some(&500));
    assert!(delta_counts.len() < 250, "the ticks coalesced the counter: {} edits for 500 samples", delta_counts.len());
    eprintln!(
        "raw samples: {n} messages, 500 counter values each once in order; deltas: {} counter edits",
        delta_counts.len()
    );
}
