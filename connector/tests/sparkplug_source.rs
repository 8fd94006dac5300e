//! The Sparkplug B host source (kind `sparkplug`) against Debian's mosquitto and two edge nodes: the
//! independent pysparkplug edge node (tests/peers/sparkplug_edge.py), whose births are auto-bound into a
//! prim hierarchy with valid USD names and whose last values are read back from the saved stage with
//! Pixar's usd-core; and a precisely controlled raw edge node (tests/peers/sparkplug_raw.py) that makes
//! every case a host must handle: alias-only data, sequence gaps and unknown aliases (rebirth requests),
//! historical values (counted, kept out of the live values), garbage payloads, stale deaths (ignored), will deaths (stale
//! quality), new sessions (good again), and nodes born late or in other groups (not mirrored). Also: the
//! STATE birth and will (retained, QoS 1) over TLS with a password and across a broker restart, explicit
//! bindings by metric address, `twinloom check`'s reports on bad addresses, and docs/sparkplug.md's
//! configuration run as printed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use twinloom_connector::Config;
use twinloom_tests::{
    free_port, http_get, metric, run_python, start_mosquitto, start_mosquitto_with, wait_until, workspace_root,
    LinePeer, MosquittoOptions, TempDir, TestCerts,
};

const SOURCE: &str = "spb";
const PEER_WAIT: Duration = Duration::from_secs(30);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The service's metrics of one source.
struct Metrics {
    addr: std::net::SocketAddr,
    source: String,
}

impl Metrics {
    fn errors(&self, reason: &str) -> f64 {
        let v = metric(
            self.addr,
            &format!(r#"twinloom_source_errors_total{{source="{}",reason="{reason}"}}"#, self.source),
        );
        if v.is_nan() {
            0.0
        } else {
            v
        }
    }
    fn of_source(&self, name: &str) -> f64 {
        metric(self.addr, &format!(r#"{name}{{source="{}"}}"#, self.source))
    }
    fn rebirths(&self) -> f64 {
        self.of_source("twinloom_source_rebirth_requests_total")
    }
    fn stale(&self) -> f64 {
        self.of_source("twinloom_source_stale_entities")
    }
    fn accepted(&self) -> f64 {
        metric(self.addr, "twinloom_samples_accepted_total")
    }
    fn rejected(&self, reason: &str) -> f64 {
        metric(self.addr, &format!(r#"twinloom_samples_rejected_total{{reason="{reason}"}}"#))
    }
}

/// Every attribute under `root` of the saved stage, by its *source* path: each prim and attribute by its
/// displayName when it has one (the original Sparkplug name), else by its name, joined with `/` below
/// `root` (`Edge-1/Robot01/Motor/Temperature`). Names that are not valid USD identifiers are listed under
/// `"invalid"`; `"renamed"` maps each source name that was changed to the USD name used.
const DUMP: &str = r#"
import json, sys
from pxr import Usd, Sdf
stage = Usd.Stage.Open(sys.argv[1])
root = stage.GetPrimAtPath(sys.argv[2])
values, invalid, renamed, logical = {}, [], {}, {}
def plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)
if root:
    for prim in Usd.PrimRange(root):
        if prim == root:
            here = ""
        else:
            name = prim.GetName()
            if not Sdf.Path.IsValidIdentifier(name):
                invalid.append(str(prim.GetPath()))
            shown = prim.GetDisplayName() or name
            if shown != name:
                renamed[shown] = name
            parent = logical[str(prim.GetParent().GetPath())]
            here = (parent + "/" if parent else "") + shown
        logical[str(prim.GetPath())] = here
        for a in prim.GetAuthoredAttributes():
            name = a.GetName()
            if not Sdf.Path.IsValidNamespacedIdentifier(name):
                invalid.append(str(a.GetPath()))
            shown = a.GetDisplayName() or name
            if shown != name:
                renamed[shown] = name
            values[(here + "/" if here else "") + shown] = plain(a.Get())
print(json.dumps({"values": values, "invalid": invalid, "renamed": renamed}))
"#;

struct Dump {
    values: BTreeMap<String, Value>,
    invalid: Vec<String>,
    renamed: BTreeMap<String, String>,
}

fn dump(dir: &TempDir, root: &str) -> Dump {
    let stage = dir.path().join("stage/plant.usda");
    if !stage.exists() {
        return Dump { values: BTreeMap::new(), invalid: Vec::new(), renamed: BTreeMap::new() };
    }
    let out = run_python(DUMP, &[&stage.display().to_string(), root]);
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let map = |k: &str| -> BTreeMap<String, Value> {
        v[k].as_object().map(|o| o.iter().map(|(a, b)| (a.clone(), b.clone())).collect()).unwrap_or_default()
    };
    Dump {
        values: map("values"),
        invalid: v["invalid"].as_array().map(|a| a.iter().map(|x| x.to_string()).collect()).unwrap_or_default(),
        renamed: map("renamed").into_iter().map(|(k, v)| (k, v.as_str().unwrap_or("").to_string())).collect(),
    }
}

/// The entries of `want` that the stage under `root` does not hold (path: (wanted, found)).
fn differences(got: &Dump, want: &BTreeMap<String, Value>) -> BTreeMap<String, (Value, Value)> {
    want.iter()
        .filter_map(|(k, w)| {
            let g = got.values.get(k).cloned().unwrap_or(Value::Null);
            (!same(&g, w)).then(|| (k.clone(), (w.clone(), g)))
        })
        .collect()
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if !(a.is_i64() || a.is_u64()) || !(b.is_i64() || b.is_u64()) => x == y,
        _ => a == b,
    }
}

/// Polls the periodically saved stage until it holds `want` (the writers save every 0.5 s here).
fn wait_for_stage(dir: &TempDir, root: &str, want: &BTreeMap<String, Value>, secs: u64) -> Dump {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = dump(dir, root);
        let diff = differences(&got, want);
        if diff.is_empty() {
            return got;
        }
        assert!(Instant::now() < deadline, "the stage under {root} still differs after {secs} s: {diff:#?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn parse(dir: &TempDir, text: &str) -> Config {
    Config::parse(text, &dir.path().join("sparkplug.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A service with one Sparkplug source `spb`, saving every 0.5 s, plus `rest` (bindings, auto-bindings).
fn config_text(source_keys: &str, rest: &str) -> String {
    format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 20\nsave_interval_s = 0.5\n\n[stream]\nlisten = \"127.0.0.1:0\"\n\n\
         [[sources]]\nname = \"{SOURCE}\"\nkind = \"sparkplug\"\n{source_keys}\n{rest}"
    )
}

fn binding(node: &str, prim: &str, attr: &str, ty: &str) -> String {
    format!(
        "\n[[bindings]]\nsource = \"{SOURCE}\"\nnode = \"{node}\"\nshop = \"field\"\nprim = \"{prim}\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n"
    )
}

fn auto_binding(filter: &str, prim: &str) -> String {
    format!("\n[[auto_bindings]]\nsource = \"{SOURCE}\"\nnode = \"{filter}\"\nshop = \"field\"\nprim = \"{prim}\"\n")
}

/// Waits for the next sniffed message on `topic` and returns it as JSON.
fn sniffed(sniffer: &mut LinePeer, topic: &str) -> Value {
    let want = format!("\"topic\": \"{topic}\"");
    let line = sniffer.wait_unsolicited(PEER_WAIT, |l| l.starts_with('{') && l.contains(&want));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

/// The retained STATE of `host_id` as a fresh subscriber gets it.
fn retained_state(port: u16, host_id: &str, creds: &[&str]) -> Value {
    let topic = format!("spBv1.0/STATE/{host_id}");
    let port_s = port.to_string();
    let mut args = vec![port_s.as_str(), topic.as_str()];
    args.extend_from_slice(creds);
    let mut sniffer = LinePeer::start("mqtt_sniff.py", &args);
    sniffed(&mut sniffer, &topic)
}

#[test]
fn an_independent_edge_node_is_auto_bound_with_valid_names_and_its_last_values_reach_the_stage() {
    let dir = TempDir::new("sparkplug-edge");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let rt = runtime();
    let port_s = port.to_string();
    // The edge node waits for the host's STATE (as one with a configured primary host must), then births.
    let mut edge = LinePeer::spawn(
        "sparkplug_edge.py",
        &[&port_s, "Plant1", "Edge-1", "--host-id", "twin-host", "--steps", "30", "--interval-ms", "50"],
    );
    // Its Python is up (a loaded machine may take seconds) before the host's birth_wait_ms starts.
    edge.wait_unsolicited(PEER_WAIT, |l| l.starts_with("WAITING STATE"));
    let text = config_text(
        &format!(
            "endpoint = \"mqtt://127.0.0.1:{port}\"\nhost_id = \"twin-host\"\nbirth_wait_ms = 3000\nreorder_timeout_ms = 1000"
        ),
        &auto_binding("group=Plant1", "/Plant/Field"),
    );
    let svc = twinloom_connector::spawn(rt.handle(), parse(&dir, &text)).expect("service");
    let m = Metrics { addr: svc.started.listen, source: SOURCE.into() };
    edge.wait_ready();
    let done = edge.answer(Duration::from_secs(60));
    let last: BTreeMap<String, Value> =
        serde_json::from_str(done.strip_prefix("DONE ").unwrap_or_else(|| panic!("{done:?}"))).unwrap();

    // The host's STATE: retained, QoS 1, online, as a subscriber that comes later gets it.
    let state = retained_state(port, "twin-host", &[]);
    assert_eq!((state["retain"].clone(), state["qos"].clone()), (json!(true), json!(1)), "{state}");
    assert_eq!(state["json"]["online"], json!(true), "{state}");
    let birth_ts = state["json"]["timestamp"].as_u64().expect("a timestamp");

    // What the stage must hold: every published metric under Edge-1/<device>/<metric path>, except the
    // bdSeq (not a metric of the birth's list), the Node Control metrics (commands, not mirrored) and the
    // UInt64 Counter past 2^63 (auto-bound as int64: refused as out of range).
    let mut want = BTreeMap::new();
    for (k, v) in &last {
        let (device, name) = k.split_once('/').unwrap();
        if name == "bdSeq" || name.starts_with("Node Control/") || name == "Counter" {
            continue;
        }
        let path = if device.is_empty() { format!("Edge-1/{name}") } else { format!("Edge-1/{device}/{name}") };
        want.insert(path, v.clone());
    }
    for q in ["Edge-1", "Edge-1/Robot01", "Edge-1/Oven01"] {
        want.insert(format!("{q}/twinloom:quality"), json!("good"));
    }
    assert_eq!(want.len(), 19, "{want:?}");
    let got = wait_for_stage(&dir, "/Plant/Field", &want, 30);
    assert!(got.invalid.is_empty(), "names that are not valid USD identifiers: {:?}", got.invalid);
    // Sparkplug names that are not USD identifiers are transcoded, the original kept as displayName.
    for original in ["Edge-1", "Alarm Code", "Door Open"] {
        let name = got.renamed.get(original).unwrap_or_else(|| panic!("{original} not renamed: {:?}", got.renamed));
        assert!(name.starts_with("tn__"), "{original} -> {name}");
    }
    // Node Control/Rebirth is a command: not mirrored.
    assert!(got.values.keys().all(|k| !k.contains("Node Control")), "{:?}", got.values.keys());
    assert!(!got.values.contains_key("Edge-1/Robot01/Counter") || got.values["Edge-1/Robot01/Counter"].is_null());
    assert!(m.rejected("out_of_range") >= 1.0, "the UInt64 past 2^63 is refused by its int64 attribute");
    assert_eq!(m.stale(), 0.0);
    assert_eq!(m.of_source("twinloom_source_connected"), 1.0);
    for reason in ["seq_gap", "malformed_payload", "unknown_alias", "unknown_metric", "data_before_birth"] {
        assert_eq!(m.errors(reason), 0.0, "{reason}");
    }

    // A clean stop leaves STATE offline (retained) with the birth's timestamp, and the same stage.
    svc.stop(rt.handle()).expect("stop");
    let state = retained_state(port, "twin-host", &[]);
    assert_eq!(state["json"], json!({"online": false, "timestamp": birth_ts}), "{state}");
    assert_eq!(state["retain"], json!(true));
    let after = dump(&dir, "/Plant/Field");
    assert!(differences(&after, &want).is_empty(), "{:#?}", differences(&after, &want));
}

/// The raw edge node's last live values as stage paths below the auto-binding root (node Node1, device
/// Dev1), without the UInt64 Total (2^63: refused by its int64 attribute).
fn raw_values(peer: &mut LinePeer) -> BTreeMap<String, Value> {
    let answer = peer.cmd("state");
    let state: Value = serde_json::from_str(answer.strip_prefix("OK ").unwrap()).unwrap();
    let mut want = BTreeMap::new();
    for (k, v) in state["values"].as_object().unwrap() {
        let (device, name) = k.split_once('/').unwrap();
        if name.starts_with("Node Control/") || name == "Total" {
            continue;
        }
        let path = if device.is_empty() { format!("Node1/{name}") } else { format!("Node1/{device}/{name}") };
        want.insert(path, v.clone());
    }
    want
}

/// How many rebirth requests the raw edge node has answered.
fn peer_rebirths(peer: &mut LinePeer) -> u64 {
    let answer = peer.cmd("state");
    let state: Value = serde_json::from_str(answer.strip_prefix("OK ").unwrap()).unwrap();
    state["rebirths"].as_u64().unwrap()
}

/// Waits until the raw edge node says it answered a rebirth request beyond the first `after`.
fn wait_rebirth(peer: &mut LinePeer, after: u64) {
    peer.wait_unsolicited(PEER_WAIT, |l| {
        l.strip_prefix("EVENT REBIRTH ").and_then(|n| n.trim().parse::<u64>().ok()).is_some_and(|n| n > after)
    });
}

fn with_quality(mut want: BTreeMap<String, Value>, quality: &str) -> BTreeMap<String, Value> {
    want.insert("Node1/twinloom:quality".into(), json!(quality));
    want.insert("Node1/Dev1/twinloom:quality".into(), json!(quality));
    want
}

#[test]
fn a_raw_edge_node_exercises_aliases_gaps_rebirths_historical_garbage_and_deaths() {
    let dir = TempDir::new("sparkplug-raw");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let rt = runtime();
    let port_s = port.to_string();
    let mut peer = LinePeer::start("sparkplug_raw.py", &[&port_s, "Plant2", "Node1"]);

    let mut rest = auto_binding("group=Plant2", "/Plant/Line");
    rest += &binding("group=Plant2; node=Node1; device=Dev1; metric=Temp", "/Plant/Panel", "dev1Temp", "double");
    rest += &binding("group=Plant2;node=Node1;metric=Mode", "/Plant/Panel", "mode", "string");
    rest += &binding("group=Plant2;node=Node1;state", "/Plant/Panel", "node1Quality", "token");
    // A UInt64 past 2^63 (refused by the int64 attribute an auto-binding gives it) bound as text.
    rest += &binding("group=Plant2;node=Node1;device=Dev1;metric=Total", "/Plant/Panel", "total", "string");
    rest += &binding("group=Plant2;node=Node1;device=Dev1;state", "/Plant/Panel", "dev1Quality", "token");
    let text = config_text(
        &format!("endpoint = \"mqtt://127.0.0.1:{port}\"\nbirth_wait_ms = 3000\nreorder_timeout_ms = 400"),
        &rest,
    );
    let cfg = parse(&dir, &text);
    // The node was born before the host started (it does not wait for STATE), so the host missed its
    // births: its next NDATA, from a node the host does not know, is counted as data_before_birth and
    // answered with a rebirth request, within birth_wait_ms. It publishes until the service is up.
    peer.cmd("birth");
    let handle = rt.handle().clone();
    let starting = std::thread::spawn(move || twinloom_connector::spawn(&handle, cfg));
    let mut uptime = 0;
    while !starting.is_finished() {
        uptime += 1;
        peer.cmd(&format!("ndata Uptime {uptime}"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let svc = starting.join().unwrap().expect("service");
    let m = Metrics { addr: svc.started.listen, source: SOURCE.into() };
    peer.wait_unsolicited(PEER_WAIT, |l| l.starts_with("EVENT REBIRTH"));
    wait_until("the birth's values", 20, || m.accepted() >= 10.0);
    assert!(m.errors("data_before_birth") >= 1.0 && m.rebirths() >= 1.0);
    let before_birth_at_start = m.errors("data_before_birth");

    // Alias-only DDATA and NDATA, and DDATA carrying name and alias.
    peer.cmd("data Temp 30.5");
    peer.cmd("datanamed Count 5");
    peer.cmd("ndata Uptime 100");
    peer.cmd("data Label run 1");
    let want = with_quality(raw_values(&mut peer), "good");
    assert_eq!(want["Node1/Dev1/Temp"], json!(30.5));
    wait_for_stage(&dir, "/Plant/Line", &want, 30);
    let mut panel = BTreeMap::new();
    panel.insert("dev1Temp".to_string(), json!(30.5));
    panel.insert("mode".to_string(), json!("auto"));
    panel.insert("node1Quality".to_string(), json!("good"));
    panel.insert("dev1Quality".to_string(), json!("good"));
    panel.insert("total".to_string(), json!("9223372036854775808"));
    wait_for_stage(&dir, "/Plant/Panel", &panel, 30);
    assert_eq!(m.errors("unknown_alias") + m.errors("unknown_metric") + m.errors("seq_gap"), 0.0);

    // A missing seq number: the next message waits for it past reorder_timeout_ms, then is dropped, a
    // seq_gap counted and a rebirth asked for (NCMD Node Control/Rebirth), which the node answers.
    let (rebirths, answered) = (m.rebirths(), peer_rebirths(&mut peer));
    peer.cmd("gap");
    peer.cmd("data Count 6");
    wait_rebirth(&mut peer, answered);
    wait_until("the seq gap to be counted", 20, || m.errors("seq_gap") >= 1.0);
    assert!(m.rebirths() > rebirths);
    // After the rebirth every alias works again.
    for cmd in [
        "data Temp 31.25",
        "data Count 7",
        "data Running false",
        "data Pressure 2.5",
        "data Delta -300",
        "data Label after rebirth",
        "ndata Load 0.75",
        "ndata Mode manual",
    ] {
        peer.cmd(cmd);
    }
    let want = with_quality(raw_values(&mut peer), "good");
    assert_eq!((want["Node1/Dev1/Count"].clone(), want["Node1/Mode"].clone()), (json!(7), json!("manual")));
    wait_for_stage(&dir, "/Plant/Line", &want, 30);

    // An alias the birth did not declare: counted, and a rebirth asked for.
    let (rebirths, answered) = (m.rebirths(), peer_rebirths(&mut peer));
    peer.cmd("unknownalias");
    wait_rebirth(&mut peer, answered);
    wait_until("the unknown alias to be counted", 20, || m.errors("unknown_alias") >= 1.0);
    assert!(m.rebirths() > rebirths);

    // Historical values are counted and kept apart for history (lost here: no journal), the live value stays.
    peer.cmd("historical Temp 99.5");
    wait_until("the historical value to be counted", 20, || {
        m.of_source("twinloom_source_historical_samples_total") >= 1.0
    });
    // Garbage: counted, and the source goes on.
    peer.cmd("malformed");
    wait_until("the garbage to be counted", 20, || m.errors("malformed_payload") >= 1.0);
    // An NDEATH of the previous session (stale bdSeq): ignored, the node stays good.
    peer.cmd("staledeath");
    wait_until("the stale death to be counted", 20, || m.errors("stale_death") >= 1.0);
    assert_eq!(m.stale(), 0.0);
    peer.cmd("data Pressure 3.75");
    let want = with_quality(raw_values(&mut peer), "good");
    assert_eq!((want["Node1/Dev1/Temp"].clone(), want["Node1/Dev1/Pressure"].clone()), (json!(31.25), json!(3.75)));
    wait_for_stage(&dir, "/Plant/Line", &want, 30);
    assert_eq!(m.stale(), 0.0);

    // A DDEATH makes the device stale, its next birth good again.
    peer.cmd("ddeath");
    wait_until("the dead device", 20, || m.stale() == 1.0);
    peer.cmd("birth");
    wait_until("the device born again", 20, || m.stale() == 0.0);

    // The node dies without a word: the broker's will NDEATH (bdSeq of the birth) makes the node and its
    // device stale, keeping their last values.
    peer.cmd("data Temp 33.5");
    let last = raw_values(&mut peer);
    peer.cmd("kill");
    assert!(peer.wait_exit(Duration::from_secs(10)).is_some());
    wait_until("the will death", 20, || m.stale() == 2.0);
    wait_for_stage(&dir, "/Plant/Line", &with_quality(last, "stale"), 30);
    let mut panel = BTreeMap::new();
    panel.insert("dev1Temp".to_string(), json!(33.5));
    panel.insert("node1Quality".to_string(), json!("stale"));
    panel.insert("dev1Quality".to_string(), json!("stale"));
    wait_for_stage(&dir, "/Plant/Panel", &panel, 30);

    // A new process (next bdSeq) births again: good, with its values; `reconnect` (NDEATH, new session,
    // births) ends good too, and its data flows.
    let mut peer = LinePeer::start("sparkplug_raw.py", &[&port_s, "Plant2", "Node1", "--bdseq", "1"]);
    peer.cmd("birth");
    wait_until("the new birth", 20, || m.stale() == 0.0);
    wait_for_stage(&dir, "/Plant/Line", &with_quality(raw_values(&mut peer), "good"), 30);
    assert!(peer.cmd("reconnect").contains("bdSeq=2"));
    peer.cmd("data Temp 35.5");
    peer.cmd("datanamed Running false");
    peer.cmd("ndata Uptime 900");
    let want = with_quality(raw_values(&mut peer), "good");
    wait_for_stage(&dir, "/Plant/Line", &want, 30);
    assert_eq!(m.stale(), 0.0);
    assert!(m.rejected("out_of_range") >= 1.0, "Total (UInt64 2^63) is refused by its int64 attribute");
    assert_eq!(m.errors("data_before_birth"), before_birth_at_start);

    // A node of the group born after the start is heard (its death makes it stale) but not auto-bound
    // until a restart; a node of a group no binding names is not even heard (not subscribed).
    let mut late = LinePeer::start("sparkplug_raw.py", &[&port_s, "Plant2", "Node2"]);
    let mut other = LinePeer::start("sparkplug_raw.py", &[&port_s, "Elsewhere", "Node9"]);
    for p in [&mut late, &mut other] {
        p.cmd("birth");
        p.cmd("data Temp 50.5");
    }
    other.cmd("kill");
    late.cmd("kill");
    wait_until("the late node's death", 20, || m.stale() == 2.0);
    svc.stop(rt.handle()).expect("stop");
    let after = dump(&dir, "/Plant/Line");
    assert!(differences(&after, &want).is_empty(), "{:#?}", differences(&after, &want));
    assert!(after.invalid.is_empty(), "{:?}", after.invalid);
    assert!(after.values.keys().all(|k| k.starts_with("Node1/")), "{:?}", after.values.keys());
}

#[test]
fn over_tls_with_a_password_the_host_births_its_state_and_leaves_its_will() {
    let dir = TempDir::new("sparkplug-tls");
    let certs = TestCerts::make(dir.path());
    let port = free_port();
    let opts = MosquittoOptions {
        users: vec![("twinloom".into(), "s3cret".into()), ("edge".into(), "pw".into())],
        tls: certs.broker_tls(),
        require_client_cert: false,
    };
    let _broker = start_mosquitto_with(port, &opts);
    let rt = runtime();
    let keys = format!(
        "endpoint = \"mqtts://127.0.0.1:{port}\"\nuser = \"twinloom\"\npassword = \"s3cret\"\nca_certificate = {:?}\nclient_id = \"twin-spb-1\"\nhost_id = \"tls-host\"",
        certs.ca
    );
    // Explicit bindings only: nothing waits for births (no birth_wait_ms).
    let rest = binding("group=Plant3;node=Gw;device=Dev1;metric=Count", "/Plant/Gw", "count", "int")
        + &binding("group=Plant3;node=Gw;metric=Load", "/Plant/Gw", "load", "float")
        + &binding("group=Plant3;node=Gw;state", "/Plant/Gw", "quality", "token");
    // A wrong password: refused at start, with the broker's reason.
    let bad = keys.replace("s3cret", "wrong");
    let err = twinloom_connector::spawn(rt.handle(), parse(&dir, &config_text(&bad, &rest))).err().expect("refused");
    let err = err.to_string();
    assert!(err.contains(SOURCE) && err.contains("refused"), "{err}");
    let svc = twinloom_connector::spawn(rt.handle(), parse(&dir, &config_text(&keys, &rest))).expect("service");
    let m = Metrics { addr: svc.started.listen, source: SOURCE.into() };
    let creds = ["--user", "edge", "--password", "pw", "--cafile"];
    let ca = certs.ca.display().to_string();
    let mut creds: Vec<&str> = creds.to_vec();
    creds.push(&ca);

    let state = retained_state(port, "tls-host", &creds);
    assert_eq!((state["retain"].clone(), state["qos"].clone()), (json!(true), json!(1)), "{state}");
    assert_eq!(state["json"]["online"], json!(true));
    let birth_ts = state["json"]["timestamp"].as_u64().expect("timestamp");

    let port_s = port.to_string();
    let mut args = vec![port_s.as_str(), "Plant3", "Gw"];
    args.extend_from_slice(&creds);
    let mut peer = LinePeer::start("sparkplug_raw.py", &args);
    peer.cmd("birth");
    peer.cmd("data Count 12");
    peer.cmd("ndata Load 0.25");
    wait_until("the values over TLS", 20, || m.accepted() >= 3.0);
    let mut want = BTreeMap::new();
    want.insert("count".to_string(), json!(12));
    want.insert("load".to_string(), json!(0.25));
    want.insert("quality".to_string(), json!("good"));
    wait_for_stage(&dir, "/Plant/Gw", &want, 30);

    // The broker restarts: the host marks everything stale, reconnects, births its STATE again, and the
    // node's new session is good again.
    let accepted = m.accepted();
    drop(_broker);
    wait_until("the lost connection", 20, || m.of_source("twinloom_source_connected") == 0.0);
    wait_until("the node and its device stale while the broker is away", 20, || m.stale() == 2.0);
    let _broker = start_mosquitto_with(port, &opts);
    wait_until("the reconnect", 30, || m.of_source("twinloom_source_connected") == 1.0);
    assert!(m.errors("connection_lost") >= 1.0);
    assert!(peer.cmd("reconnect").contains("bdSeq=1"));
    peer.cmd("data Count 13");
    wait_until("the node's new session", 20, || m.stale() == 0.0 && m.accepted() > accepted);
    want.insert("count".to_string(), json!(13));
    wait_for_stage(&dir, "/Plant/Gw", &want, 30);
    let state = retained_state(port, "tls-host", &creds);
    assert_eq!(state["json"], json!({"online": true, "timestamp": birth_ts}), "{state}");

    // The host vanishes without DISCONNECT (its runtime is dropped): the broker publishes its will, STATE
    // offline with the birth's timestamp, retained.
    let mut live_args = vec![port_s.as_str(), "spBv1.0/STATE/tls-host"];
    live_args.extend_from_slice(&creds);
    let mut watcher = LinePeer::start("mqtt_sniff.py", &live_args);
    sniffed(&mut watcher, "spBv1.0/STATE/tls-host"); // the retained birth
    rt.shutdown_background();
    let will = sniffed(&mut watcher, "spBv1.0/STATE/tls-host");
    assert_eq!(will["json"], json!({"online": false, "timestamp": birth_ts}), "{will}");
    assert_eq!(will["qos"], json!(1), "{will}");
    let state = retained_state(port, "tls-host", &creds);
    assert_eq!((state["json"].clone(), state["retain"].clone()), (will["json"].clone(), json!(true)));
    drop(svc);
}

#[test]
fn the_documented_configuration_mirrors_the_documented_edge_node() {
    let dir = TempDir::new("sparkplug-docs");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let doc = std::fs::read_to_string(workspace_root().join("docs/sparkplug.md")).unwrap();
    assert_eq!(doc.matches("```toml\n").count(), 1, "docs/sparkplug.md has one configuration block");
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```").unwrap()];
    assert!(block.contains("mqtt://127.0.0.1:1883") && block.contains("dir = \"twinloom-out\""));
    let text = block
        .replace("mqtt://127.0.0.1:1883", &format!("mqtt://127.0.0.1:{port}"))
        .replace("dir = \"twinloom-out\"", &format!("dir = {:?}\nsave_interval_s = 0.5", dir.path().join("stage")))
        + "\n[stream]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = Config::parse(&text, &dir.path().join("line1.toml")).unwrap_or_else(|e| panic!("{e}"));
    let host_id = cfg.sources[0].host_id.as_ref().map_or("twinloom".to_string(), |h| h.get_ref().clone());
    let rt = runtime();
    let port_s = port.to_string();
    // The edge node the page describes: pysparkplug, with aliases, waiting for the host's STATE.
    let mut edge = LinePeer::spawn(
        "sparkplug_edge.py",
        &[&port_s, "Plant1", "Edge-1", "--host-id", &host_id, "--aliases", "--steps", "12"],
    );
    edge.wait_unsolicited(PEER_WAIT, |l| l.starts_with("WAITING STATE"));
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let m = Metrics { addr: svc.started.listen, source: "line1".into() };
    edge.wait_ready();
    let done = edge.answer(Duration::from_secs(60));
    let last: Value = serde_json::from_str(done.strip_prefix("DONE ").unwrap()).unwrap();

    // What the page promises, path by path (each path must be printed on the page).
    let promised = [
        ("/Plant/Line1", "Uptime", last["/Uptime"].clone()),
        ("/Plant/Line1", "Firmware", json!("1.0.0")),
        ("/Plant/Line1", "twinloom:quality", json!("good")),
        ("/Plant/Line1/Robot01", "Speed", last["Robot01/Speed"].clone()),
        ("/Plant/Line1/Robot01", "twinloom:quality", json!("good")),
        ("/Plant/Line1/Robot01/Motor", "Temperature", last["Robot01/Motor/Temperature"].clone()),
        ("/Plant/Line1/Oven01/Zone1", "Temperature", last["Oven01/Zone1/Temperature"].clone()),
        ("/Plant/Line1/Oven01", "Setpoint", json!(180.5)),
        ("/Plant/Dashboard", "ovenTemperature", last["Oven01/Zone1/Temperature"].clone()),
        ("/Plant/Dashboard", "edgeQuality", json!("good")),
    ];
    let mut want = BTreeMap::new();
    for (prim, attr, value) in &promised {
        let path = format!("{prim}.{attr}");
        assert!(doc.contains(&path), "docs/sparkplug.md does not show {path}");
        let logical = format!("{}/{attr}", prim.trim_start_matches("/Plant/"));
        assert!(!value.is_null(), "{path}: the peer published nothing for it: {last}");
        want.insert(logical, value.clone());
    }
    wait_for_stage(&dir, "/Plant", &want, 30);
    // "Alarm Code" (not a USD name) is transcoded, the original kept as displayName, as the page says.
    let got = dump(&dir, "/Plant");
    let alarm = got.renamed.get("Alarm Code").expect("Alarm Code renamed");
    assert!(doc.contains(&format!("/Plant/Line1/Oven01.{alarm}")), "docs/sparkplug.md should name {alarm}");
    assert_eq!(got.values["Line1/Oven01/Alarm Code"], last["Oven01/Alarm Code"]);
    assert_eq!(m.errors("unknown_alias"), 0.0);
    svc.stop(rt.handle()).expect("stop");
}

#[test]
fn bad_addresses_filters_and_keys_are_reported_with_their_place() {
    let dir = TempDir::new("sparkplug-check");
    let rest = binding("group=Plant1;metric=Speed", "/Plant/A", "speed", "double")
        + &binding("group=Plant1;node=E;state;metric=Speed", "/Plant/A", "both", "double")
        + &binding("group=Plant/1;node=E;metric=Speed", "/Plant/A", "slash", "double")
        + &auto_binding("group=Plant1;device=D", "/Plant/B");
    let keys = "endpoint = \"mqtt://127.0.0.1:1883\"\nhost_id = \"a/b\"\nca_certificate = \"ca.pem\"";
    let text = config_text(keys, &rest);
    let err = Config::parse(&text, &dir.path().join("sparkplug.toml")).expect_err("refused").to_string();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for (needle, says) in [
        ("group=Plant1;metric=Speed", "node= is missing"),
        ("state;metric=Speed", "exclude each other"),
        ("group=Plant/1", "must be non-empty without / + #"),
        ("group=Plant1;device=D", "device= needs node="),
        ("host_id", "host_id \"a/b\""),
        ("name = \"spb\"", "ca_certificate and certificate need an mqtts:// endpoint"),
    ] {
        let place = format!("sparkplug.toml:{}:", line_of(needle));
        assert!(err.lines().any(|l| l.contains(&place) && l.contains(says)), "{place} {says}\n{err}");
    }
}

/// `GET /v1/history` of one attribute over all time: (time, value) pairs (none while history lacks it).
fn history_of(addr: std::net::SocketAddr, attr: &str) -> Vec<(f64, Value)> {
    let (status, body) = http_get(addr, &format!("/v1/history?attr={attr}&from=0&to=4102444800"));
    if status != 200 {
        return Vec::new();
    }
    let v: Value = serde_json::from_str(&body).unwrap();
    v["samples"].as_array().unwrap().iter().map(|s| (s[0].as_f64().unwrap(), s[1].clone())).collect()
}

#[test]
fn historical_and_late_values_land_in_history_and_never_in_the_live_layer() {
    let dir = TempDir::new("sparkplug-late");
    let port = free_port();
    let _broker = start_mosquitto(port);
    let rt = runtime();
    let port_s = port.to_string();
    let mut edge = LinePeer::start("sparkplug_raw.py", &[&port_s, "Plant3", "Node1"]);
    let mut rest = binding("group=Plant3; node=Node1; device=Dev1; metric=Temp", "/Plant/Panel", "dev1Temp", "double");
    // A plain MQTT sensor stamping its own time (a JSON pointer), on the same broker.
    rest += &format!(
        "\n[[sources]]\nname = \"sensors\"\nkind = \"mqtt\"\nendpoint = \"mqtt://127.0.0.1:{port}\"\n\n\
         [[bindings]]\nsource = \"sensors\"\nnode = \"topic=plant/oven;value=/v;time=/ts\"\nshop = \"field\"\n\
         prim = \"/Plant/Oven\"\nattr = \"temperature\"\ntype = \"double\"\n\n\
         [journal]\nenabled = true\n\n[history]\nenabled = true\nflush_interval_s = 0.5\n"
    );
    let text = config_text(&format!("endpoint = \"mqtt://127.0.0.1:{port}\"\nbirth_wait_ms = 3000"), &rest);
    let cfg = parse(&dir, &text);
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    let m = Metrics { addr, source: SOURCE.into() };
    let late_total = || metric(addr, r#"twinloom_late_samples_total{shop="field"}"#);
    edge.cmd("birth");
    edge.cmd("data Temp 31.25");
    let mut sensor = LinePeer::start("mqtt_json.py", &[&port_s]);
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    // The live value at `now`, then one stamped 30 s earlier (late: older than the live value).
    wait_until("the sensor's live value", 20, || {
        assert_eq!(sensor.cmd(&format!(r#"pub plant/oven {{"ts": {now_ms}, "v": 181.5}}"#)), "OK");
        std::thread::sleep(Duration::from_millis(200));
        history_of(addr, "/Plant/Oven.temperature").iter().any(|(_, v)| v == &json!(181.5))
    });
    let late_ms = now_ms - 30_000;
    assert_eq!(sensor.cmd(&format!(r#"pub plant/oven {{"ts": {late_ms}, "v": 150.25}}"#)), "OK");
    // A historical Sparkplug value (one minute in the past, `is_historical`).
    edge.cmd("historical Temp 99.5");
    wait_until("the historical value", 20, || m.of_source("twinloom_source_historical_samples_total") >= 1.0);
    wait_until("both values kept for history", 20, || late_total() >= 2.0);
    assert_eq!(metric(addr, r#"twinloom_late_samples_dropped_total{shop="field"}"#), 0.0);

    // History has them at their own times (compacted by the query) ...
    let oven = history_of(addr, "/Plant/Oven.temperature");
    let at = |t_ms: u64| oven.iter().find(|(t, _)| (t * 1e3 - t_ms as f64).abs() < 1.0).map(|(_, v)| v.clone());
    assert_eq!((at(late_ms), at(now_ms)), (Some(json!(150.25)), Some(json!(181.5))), "{oven:?}");
    let temp = history_of(addr, "/Plant/Panel.dev1Temp");
    let values: Vec<&Value> = temp.iter().map(|(_, v)| v).collect();
    assert!(values.contains(&&json!(99.5)) && values.contains(&&json!(31.25)), "{temp:?}");
    let historical_t = temp.iter().find(|(_, v)| v == &json!(99.5)).unwrap().0;
    let live_t = temp.iter().find(|(_, v)| v == &json!(31.25)).unwrap().0;
    assert!(historical_t < live_t - 30.0, "the historical value is at its own (past) time: {temp:?}");
    // ... and the live layer never saw them: the saved stage keeps the live values.
    svc.stop(rt.handle()).expect("stop");
    let stage = dir.path().join("stage");
    let script = "import sys\nfrom pxr import Usd\ns = Usd.Stage.Open(sys.argv[1])\n\
                  print(s.GetAttributeAtPath('/Plant/Oven.temperature').Get(), s.GetAttributeAtPath('/Plant/Panel.dev1Temp').Get())\n\
                  h = Usd.Stage.Open(sys.argv[2]); h.SetInterpolationType(Usd.InterpolationTypeHeld)\n\
                  print(h.GetAttributeAtPath('/Plant/Oven.temperature').Get(float(sys.argv[3])), h.GetAttributeAtPath('/Plant/Panel.dev1Temp').Get(float(sys.argv[4])))\n";
    let out = run_python(
        script,
        &[
            stage.join("plant.usda").to_str().unwrap(),
            stage.join("history.usda").to_str().unwrap(),
            &format!("{:?}", late_ms as f64 / 1e3 + 0.001),
            &format!("{historical_t:?}"),
        ],
    );
    assert_eq!(out.trim().lines().collect::<Vec<_>>(), ["181.5 31.25", "150.25 99.5"], "{out}");
}
