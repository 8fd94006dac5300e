//! One site split over two connector processes (`[nats] partition`, docs/nats.md "Partitions") forwarding
//! into one stream of a real 3-node JetStream cluster (tests/src/nats.rs, `ci/nats-env`).
//!
//! Both processes read the same plant simulator, split by shop and by source: partition `body` mirrors the
//! BIW line into shop `biw`; partition `rest` mirrors the assembly line into shop `assembly` and the
//! field sensors into shop `biw` too, so both publish on `twinloom.north.biw.deltas`. Their journals start
//! with the same epoch (as two processes started in the same millisecond, or restored from one image), so
//! their sequence numbers and epochs are the same: without partition keys the stream drops one's deltas
//! as duplicates of the other's (shown first, on site `west`); with them every delta of both arrives
//! exactly once, under `north.<partition>:<epoch>:<seq>` with a `Twinloom-Partition` header, and equals
//! its journal record. The connectors run in child processes (this test binary re-run with
//! `TWINLOOM_NATS_CHILD` set), as in connector/tests/nats_forward.rs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::jetstream::{read_stream, StreamMessage};
use twinloom_tests::nats::{aggregated_equals_site, NatsCluster};
use twinloom_tests::{free_port, wait_until, ChildService, TempDir};

const CHILD_ENV: &str = "TWINLOOM_NATS_CHILD";
/// The epoch both journals start with.
const EPOCH: u64 = 1_765_000_000_000;

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

/// A connector in a child process (this binary's `child_service`), once `/readyz` answers.
fn start(config: &Path, listen: SocketAddr, log: &Path) -> ChildService {
    ChildService::start("child_service", CHILD_ENV, config, listen, log, "/readyz")
}

/// One process of `site`: its folder `dir/name` with its config and a journal that starts at [`EPOCH`];
/// `partition` is its `[nats] partition` line (or nothing), `shops` its `(browse path, shop)` pairs.
fn process(
    dir: &Path,
    name: &str,
    site: &str,
    partition: Option<&str>,
    shops: &[(&str, &str)],
    sim: &SimulatorHandle,
    urls: &[String],
) -> (PathBuf, SocketAddr) {
    let dir = dir.join(name);
    std::fs::create_dir_all(dir.join("stage/journal")).unwrap();
    std::fs::write(dir.join("stage/journal/epoch"), format!("{EPOCH}\n")).unwrap();
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers: Vec<String> = urls.iter().map(|s| format!("{s:?}")).collect();
    let partition = partition.map(|p| format!("partition = \"{p}\"\n")).unwrap_or_default();
    let mut text = format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 50\n\n[stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
         [nats]\nenabled = true\nservers = [{}]\nsite = \"{site}\"\n{partition}replicas = 3\nack_timeout_s = 2\n\n\
         [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{}\"\n\n",
        servers.join(", "),
        sim.endpoint_url()
    );
    for (node, shop) in shops {
        let prim = node.replace("Plant/", "/Plant/");
        text.push_str(&format!(
            "[[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={};s={node}\"\nshop = \"{shop}\"\nprim = \"{prim}\"\n\n",
            sim.namespace_index()
        ));
    }
    let cfg = dir.join("plant.toml");
    std::fs::write(&cfg, text).unwrap();
    (cfg, listen)
}

/// The (sequence number, delta body) of every published record of a stopped connector's journal, after
/// checking that it kept the epoch it was given.
fn journal_records(stage: &Path) -> Vec<(u64, Vec<u8>)> {
    let epoch: u64 = std::fs::read_to_string(stage.join("journal/epoch")).unwrap().trim().parse().unwrap();
    assert_eq!(epoch, EPOCH, "the journal kept the epoch it started with");
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
    out
}

#[test]
fn two_partitions_of_one_site_forward_every_delta_exactly_once() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let cluster = NatsCluster::start(3);
    let urls = cluster.urls();
    let dir = TempDir::new("nats-partitions");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 22,
            signals: 2000,
            update_hz: 10.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let body_shops = [("Plant/BIW", "biw")];
    let rest_shops = [("Plant/Assembly", "assembly"), ("Plant/Field", "biw")];

    // 1. Without partition keys (site west): the same epochs and sequence numbers give the same ids, and
    // the stream drops one process's deltas as duplicates of the other's.
    let (a, a_listen) = process(dir.path(), "west-a", "west", None, &body_shops, &sim, &urls);
    let (b, b_listen) = process(dir.path(), "west-b", "west", None, &rest_shops, &sim, &urls);
    let sa = start(&a, a_listen, &dir.path().join("west-a.log"));
    let sb = start(&b, b_listen, &dir.path().join("west-b.log"));
    wait_until("both west processes forward", 60, || {
        sa.metric("twinloom_nats_forwarded_total") >= 50.0 && sb.metric("twinloom_nats_forwarded_total") >= 50.0
    });
    let dropped = sa.metric("twinloom_nats_dedup_hits_total") + sb.metric("twinloom_nats_dedup_hits_total");
    sa.stop();
    sb.stop();
    let west: Vec<StreamMessage> =
        read_stream(&urls, "TWINLOOM_WEST").into_iter().filter(|m| m.subject.ends_with(".deltas")).collect();
    let published = journal_records(&dir.path().join("west-a/stage")).len()
        + journal_records(&dir.path().join("west-b/stage")).len();
    eprintln!(
        "without partition keys: {published} deltas published, {} in the stream, {dropped} dropped as duplicates",
        west.len()
    );
    assert!(dropped > 0.0, "the same ids are dropped as duplicates");
    assert!(west.len() < published, "the stream lost deltas of one process");

    // 2. With partition keys (site north): both forward into TWINLOOM_NORTH, each delta once.
    let (a, a_listen) = process(dir.path(), "north-body", "north", Some("body"), &body_shops, &sim, &urls);
    let (b, b_listen) = process(dir.path(), "north-rest", "north", Some("rest"), &rest_shops, &sim, &urls);
    let configs: Vec<_> = [&a, &b].iter().map(|p| twinloom_connector::Config::load(p).expect("config")).collect();
    let problems = twinloom_connector::partition::check(&configs);
    assert!(problems.is_empty(), "the partitions are disjoint: {problems:?}");
    let sa = start(&a, a_listen, &dir.path().join("north-body.log"));
    let sb = start(&b, b_listen, &dir.path().join("north-rest.log"));
    wait_until("both partitions forward", 60, || {
        sa.metric("twinloom_nats_forwarded_total") >= 100.0 && sb.metric("twinloom_nats_forwarded_total") >= 100.0
    });
    let dedup = sa.metric("twinloom_nats_dedup_hits_total") + sb.metric("twinloom_nats_dedup_hits_total");
    sa.stop();
    sb.stop();
    assert_eq!(dedup, 0.0, "no delta of one partition is taken for the other's");
    let msgs = read_stream(&urls, "TWINLOOM_NORTH");
    let mut total = 0;
    let mut shared_subject = BTreeMap::<String, usize>::new();
    for (partition, shops) in [("body", &body_shops[..]), ("rest", &rest_shops[..])] {
        let records = journal_records(&dir.path().join(format!("north-{partition}/stage")));
        let last = records.last().map(|(s, _)| *s).expect("the journal holds deltas");
        assert_eq!(records[0].0, 1, "the journal holds every delta");
        let prefix = format!("north.{partition}:{EPOCH}:");
        let mine: Vec<&StreamMessage> = msgs.iter().filter(|m| m.id.starts_with(&prefix)).collect();
        let mut count: BTreeMap<u64, u32> = BTreeMap::new();
        for m in &mine {
            assert_eq!(m.partition.as_deref(), Some(partition), "{}: the Twinloom-Partition header", m.id);
            let seq: u64 = m.id[prefix.len()..].parse().unwrap_or_else(|_| panic!("id {:?}", m.id));
            *count.entry(seq).or_default() += 1;
            let body: serde_json::Value = serde_json::from_slice(&m.payload).expect("a JSON delta");
            let shop = body["shop"].as_str().expect("the delta's shop");
            assert!(shops.iter().any(|(_, s)| *s == shop), "{}: shop {shop} is not partition {partition}'s", m.id);
            assert_eq!(m.subject, format!("twinloom.north.{shop}.deltas"), "{}", m.id);
            if shop == "biw" {
                *shared_subject.entry(partition.to_string()).or_default() += 1;
            }
        }
        let dups: Vec<_> = count.iter().filter(|(_, n)| **n > 1).take(10).collect();
        assert!(dups.is_empty(), "partition {partition}: ids in the stream more than once: {dups:?}");
        let missing: Vec<u64> = (1..=last).filter(|s| !count.contains_key(s)).take(20).collect();
        assert!(missing.is_empty(), "partition {partition}: deltas published but not in the stream: {missing:?}");
        let by_seq: BTreeMap<u64, &StreamMessage> =
            mine.iter().map(|m| (m.id[prefix.len()..].parse().unwrap(), *m)).collect();
        for (seq, body) in &records {
            assert_eq!(&by_seq[seq].payload, body, "{prefix}{seq}: the stream's message differs from the journal's");
        }
        eprintln!("partition {partition}: deltas 1..={last} in the stream, each once");
        total += mine.len();
    }
    // Besides the deltas the stream holds each process's site description (`<prefix>.<site>.<partition>.stage`).
    let deltas = msgs.iter().filter(|m| m.subject.ends_with(".deltas")).count();
    assert_eq!(total, deltas, "every delta of the stream is one of the two partitions'");
    assert!(shared_subject.len() == 2, "both partitions published on twinloom.north.biw.deltas: {shared_subject:?}");
    eprintln!("with partition keys: {total} deltas of two processes in one stream, none dropped; on the shared subject {shared_subject:?}");

    // 3. An aggregator of site north binds both partitions' descriptions and holds both processes' values
    // (the shop biw of both in one layer) at /Enterprise/North, read with usd-core.
    let agg_listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers: Vec<String> = urls.iter().map(|s| format!("{s:?}")).collect();
    let agg_cfg = dir.path().join("enterprise.toml");
    std::fs::write(
        &agg_cfg,
        format!(
            "[stage]\ndir = \"enterprise\"\nroot = \"Enterprise\"\ntick_ms = 50\nsave_interval_s = 0.5\n\n\
             [stream]\nlisten = \"{agg_listen}\"\n\n[nats]\nservers = [{}]\n\n[aggregate]\nsites = [\"north\"]\n",
            servers.join(", ")
        ),
    )
    .unwrap();
    let agg = start(&agg_cfg, agg_listen, &dir.path().join("enterprise.log"));
    wait_until("the aggregator consumed both partitions", 60, || {
        agg.metric("twinloom_aggregate_messages_total") >= total as f64
    });
    agg.stop();
    let enterprise = dir.path().join("enterprise/plant.usda");
    for partition in ["body", "rest"] {
        let live = dir.path().join(format!("north-{partition}/stage/live"));
        let n = aggregated_equals_site(&live, "/Enterprise/North", &enterprise);
        eprintln!("partition {partition}: {n} values equal at /Enterprise/North in the aggregator");
    }
    drop(sim);
    drop(cluster);
}
