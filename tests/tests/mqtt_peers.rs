//! The MQTT peers the Sparkplug B host and the MQTT JSON source are tested against, checked against a real
//! mosquitto broker before the connector relies on them: what tests/peers/mqtt_sniff.py (a plain paho
//! subscriber decoding Eclipse Tahu's protobuf) sees on the broker must be what each peer claims.
//! Needs the venv (ci/python-env) and mosquitto (ci/mosquitto-env).

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use twinloom_tests::{
    free_port, start_mosquitto, start_mosquitto_with, LinePeer, MosquittoOptions, TempDir, TestCerts,
};

const WAIT: Duration = Duration::from_secs(15);

fn sniffer(port: u16, filter: &str) -> LinePeer {
    LinePeer::start("mqtt_sniff.py", &[&port.to_string(), filter])
}

/// The next message the sniffer got on `topic` (earlier messages on other topics are skipped).
fn message(sniff: &mut LinePeer, topic: &str) -> Value {
    let line = sniff
        .wait_unsolicited(WAIT, |l| serde_json::from_str::<Value>(l).map(|v| v["topic"] == topic).unwrap_or(false));
    serde_json::from_str(&line).unwrap()
}

fn metric<'a>(msg: &'a Value, name: &str) -> &'a Value {
    msg["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {msg}"))
}

fn only_metric(msg: &Value) -> &Value {
    let ms = msg["metrics"].as_array().unwrap();
    assert_eq!(ms.len(), 1, "{msg}");
    &ms[0]
}

fn bd_seq(msg: &Value) -> u64 {
    metric(msg, "bdSeq")["value"].as_u64().unwrap()
}

#[test]
fn raw_sparkplug_peer_births_data_gaps_rebirth_and_will() {
    let port = free_port();
    let _broker = start_mosquitto(port);
    let p = port.to_string();
    let mut sniff = sniffer(port, "spBv1.0/#");
    let mut edge = LinePeer::start("sparkplug_raw.py", &[&p, "Plant1", "Edge1", "--bdseq", "7"]);
    let node = |t: &str| format!("spBv1.0/Plant1/{t}/Edge1");
    let dev = |t: &str| format!("spBv1.0/Plant1/{t}/Edge1/Dev1");

    assert_eq!(edge.cmd("birth"), "OK birth bdSeq=7");
    let nb = message(&mut sniff, &node("NBIRTH"));
    assert_eq!((nb["qos"].clone(), nb["retain"].clone(), nb["seq"].clone()), (json!(0), json!(false), json!(0)));
    assert!(nb["timestamp"].as_u64().unwrap() > 1_600_000_000_000, "{nb}");
    assert_eq!(bd_seq(&nb), 7);
    assert_eq!(metric(&nb, "bdSeq")["datatype"], 8, "bdSeq is UInt64");
    let rebirth = metric(&nb, "Node Control/Rebirth");
    assert_eq!(
        (rebirth["alias"].clone(), rebirth["datatype"].clone(), rebirth["value"].clone()),
        (json!(1), json!(11), json!(false))
    );
    for m in nb["metrics"].as_array().unwrap() {
        assert!(m["timestamp"].is_u64() && m["datatype"].is_u64(), "{m}");
    }
    let db = message(&mut sniff, &dev("DBIRTH"));
    assert_eq!(db["seq"], 1);
    let born: BTreeMap<String, (u64, u64, Value)> = db["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["name"].as_str().unwrap().to_string();
            (name, (m["alias"].as_u64().unwrap(), m["datatype"].as_u64().unwrap(), m["value"].clone()))
        })
        .collect();
    assert_eq!(born["Temp"], (10, 9, json!(21.5)));
    assert_eq!(born["Count"], (11, 3, json!(0)));
    assert_eq!(born["Running"], (12, 11, json!(true)));
    assert_eq!(born["Pressure"], (13, 10, json!(1.013)));
    assert_eq!(born["Delta"], (14, 2, json!(-7)));
    assert_eq!(born["Label"], (15, 12, json!("idle")));
    assert_eq!(born["Total"], (16, 8, json!(9_223_372_036_854_775_808u64)));

    // Data by alias only, then with name + alias, then a node metric.
    assert_eq!(edge.cmd("data Temp 22.25"), "OK data seq=2");
    let d = message(&mut sniff, &dev("DDATA"));
    let m = only_metric(&d);
    assert_eq!(d["seq"], 2);
    assert_eq!((m["name"].clone(), m["alias"].clone(), m["datatype"].clone()), (Value::Null, json!(10), Value::Null));
    assert_eq!((m["value"].clone(), m["resolved"].clone()), (json!(22.25), json!("Dev1/Temp")));
    assert!(m["timestamp"].is_u64() && d["timestamp"].is_u64());
    assert_eq!(edge.cmd("datanamed Count -5"), "OK datanamed seq=3");
    let d = message(&mut sniff, &dev("DDATA"));
    let m = only_metric(&d);
    assert_eq!((m["name"].clone(), m["alias"].clone(), m["value"].clone()), (json!("Count"), json!(11), json!(-5)));
    assert_eq!(edge.cmd("ndata Uptime 100"), "OK ndata seq=4");
    let d = message(&mut sniff, &node("NDATA"));
    assert_eq!((d["seq"].clone(), only_metric(&d)["resolved"].clone()), (json!(4), json!("/Uptime")));
    assert_eq!(only_metric(&d)["value"], 100);

    // A gap: seq 5 is never sent.
    assert_eq!(edge.cmd("gap"), "OK gap");
    assert_eq!(edge.cmd("data Delta -3"), "OK data seq=6");
    let d = message(&mut sniff, &dev("DDATA"));
    assert_eq!((d["seq"].clone(), only_metric(&d)["value"].clone()), (json!(6), json!(-3)));

    assert_eq!(edge.cmd("unknownalias"), "OK unknownalias seq=7");
    let d = message(&mut sniff, &dev("DDATA"));
    assert_eq!((only_metric(&d)["alias"].clone(), only_metric(&d)["resolved"].clone()), (json!(999), Value::Null));

    assert_eq!(edge.cmd("historical Temp 1.5"), "OK historical seq=8");
    let d = message(&mut sniff, &dev("DDATA"));
    let m = only_metric(&d);
    assert_eq!((m["is_historical"].clone(), m["value"].clone()), (json!(true), json!(1.5)));
    assert!(m["timestamp"].as_u64().unwrap() < d["timestamp"].as_u64().unwrap());

    assert_eq!(edge.cmd("staledeath"), "OK staledeath bdSeq=6");
    let death = message(&mut sniff, &node("NDEATH"));
    assert_eq!((bd_seq(&death), death["seq"].clone()), (6, Value::Null));

    assert_eq!(edge.cmd("ddeath"), "OK ddeath seq=9");
    assert_eq!(message(&mut sniff, &dev("DDEATH"))["seq"], 9);
    assert_eq!(edge.cmd("malformed"), "OK malformed");
    assert_eq!(message(&mut sniff, &dev("DDATA"))["kind"], "sparkplug-error");
    assert!(edge.request("data Nope 1").starts_with("ERR"));
    assert!(edge.request("frobnicate").starts_with("ERR"));

    // A host's rebirth request: births again, seq from 0, the same bdSeq, and an EVENT line.
    sniff.cmd("rebirth Plant1 Edge1");
    assert_eq!(edge.wait_unsolicited(WAIT, |l| l.starts_with("EVENT REBIRTH")), "EVENT REBIRTH 1");
    let nb = message(&mut sniff, &node("NBIRTH"));
    assert_eq!((nb["seq"].clone(), bd_seq(&nb)), (json!(0), 7));
    let db = message(&mut sniff, &dev("DBIRTH"));
    assert_eq!(db["seq"], 1);
    assert_eq!(metric(&db, "Temp")["value"], 22.25, "births carry the last live values");

    let state = edge.cmd("state");
    let state: Value = serde_json::from_str(state.strip_prefix("OK ").unwrap()).unwrap();
    assert_eq!(
        (state["bdSeq"].clone(), state["seq"].clone(), state["rebirths"].clone()),
        (json!(7), json!(1), json!(1))
    );
    assert_eq!(state["values"]["Dev1/Temp"], 22.25, "historical values are not live values");
    assert_eq!(state["values"]["Dev1/Count"], -5);
    assert_eq!(state["values"]["/Uptime"], 100);

    // kill: the connection drops without DISCONNECT, so the broker sends the will (QoS 1, this bdSeq).
    assert_eq!(edge.cmd("kill"), "OK kill");
    assert!(edge.wait_exit(WAIT).is_some_and(|s| s.success()));
    let will = message(&mut sniff, &node("NDEATH"));
    assert_eq!((will["qos"].clone(), will["retain"].clone(), bd_seq(&will)), (json!(1), json!(false), 7));
    assert_eq!(metric(&will, "bdSeq")["datatype"], 8);
}

#[test]
fn raw_sparkplug_peer_drop_reconnect_and_seq_wrap() {
    let port = free_port();
    let _broker = start_mosquitto(port);
    let p = port.to_string();
    let mut sniff = sniffer(port, "spBv1.0/G/#");
    let mut edge = LinePeer::start("sparkplug_raw.py", &[&p, "G", "E"]);
    assert_eq!(edge.cmd("birth"), "OK birth bdSeq=0");
    assert_eq!(bd_seq(&message(&mut sniff, "spBv1.0/G/NBIRTH/E")), 0);

    // seq counts 0..255 and wraps: NBIRTH 0, DBIRTH 1, then 258 data messages 2..255, 0..3.
    for i in 0..258 {
        edge.cmd(&format!("data Count {i}"));
    }
    let seqs: Vec<u64> =
        (0..258).map(|_| message(&mut sniff, "spBv1.0/G/DDATA/E/Dev1")["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (2..258 + 2).map(|s| s % 256).collect();
    assert_eq!(seqs, want);

    // drop: the broker sends the will; the peer stays, refuses data, and reconnects with bdSeq + 1.
    assert_eq!(edge.cmd("drop"), "OK drop");
    let will = message(&mut sniff, "spBv1.0/G/NDEATH/E");
    assert_eq!((will["qos"].clone(), bd_seq(&will)), (json!(1), 0));
    assert_eq!(edge.request("data Temp 1"), "ERR not connected");
    assert_eq!(edge.cmd("reconnect"), "OK reconnect bdSeq=1");
    let nb = message(&mut sniff, "spBv1.0/G/NBIRTH/E");
    assert_eq!((nb["seq"].clone(), bd_seq(&nb)), (json!(0), 1));
    assert_eq!(message(&mut sniff, "spBv1.0/G/DBIRTH/E/Dev1")["seq"], 1);

    // reconnect while connected: an NDEATH of this session first (QoS 0), then the new session.
    assert_eq!(edge.cmd("reconnect"), "OK reconnect bdSeq=2");
    let death = message(&mut sniff, "spBv1.0/G/NDEATH/E");
    assert_eq!((death["qos"].clone(), bd_seq(&death)), (json!(0), 1));
    assert_eq!(bd_seq(&message(&mut sniff, "spBv1.0/G/NBIRTH/E")), 2);

    // Closing stdin: gone without DISCONNECT too.
    edge.close_stdin();
    assert!(edge.wait_exit(WAIT).is_some());
    assert_eq!(bd_seq(&message(&mut sniff, "spBv1.0/G/NDEATH/E")), 2);
}

/// Folds what the sniffer decoded into "<device or empty>/<metric>" -> last value, like the edge's DONE.
fn fold_values(values: &mut Map<String, Value>, msg: &Value) {
    for m in msg["metrics"].as_array().unwrap() {
        values.insert(m["resolved"].as_str().unwrap().to_string(), m["value"].clone());
    }
}

#[test]
fn pysparkplug_edge_done_values_match_what_a_subscriber_decoded() {
    let port = free_port();
    let _broker = start_mosquitto(port);
    let p = port.to_string();
    let mut sniff = sniffer(port, "spBv1.0/Body/#");
    let mut edge = LinePeer::start("sparkplug_edge.py", &[&p, "Body", "Cell3", "--steps", "100", "--interval-ms", "1"]);
    let done = edge.answer(WAIT);
    let done: Value = serde_json::from_str(done.strip_prefix("DONE ").expect("DONE line")).unwrap();

    let mut values = Map::new();
    let mut seqs = Vec::new();
    let mut types = BTreeMap::new();
    while values.get("/Uptime") != Some(&json!(100_000)) {
        let line = sniff.next_unsolicited(WAIT).expect("the edge's messages");
        let msg: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(msg["kind"], "sparkplug", "{msg}");
        assert_eq!(msg["qos"], 0);
        seqs.push(msg["seq"].as_u64().unwrap());
        for m in msg["metrics"].as_array().unwrap() {
            assert!(m["name"].is_string() && m["alias"].is_null(), "names, no aliases: {m}");
            types.insert(m["resolved"].as_str().unwrap().to_string(), m["datatype"].as_u64().unwrap());
        }
        fold_values(&mut values, &msg);
    }
    assert_eq!(Value::Object(values), done, "what the subscriber decoded is what the edge says it published");
    // 3 births, then 100 steps: Robot01 DDATA + NDATA each, Oven01 DDATA on the 50 even steps.
    let want: Vec<u64> = (0..3 + 250).map(|s| s % 256).collect();
    assert_eq!(seqs, want, "one seq counter over births and data, wrapping at 256");
    for (metric, datatype) in [
        ("/bdSeq", 4),
        ("/Uptime", 4),
        ("Robot01/Motor/Temperature", 9),
        ("Robot01/Speed", 10),
        ("Robot01/Cycles", 3),
        ("Robot01/Offset", 2),
        ("Robot01/Running", 11),
        ("Robot01/Program", 12),
        ("Robot01/Counter", 8),
        ("Oven01/Zone1/Temperature", 9),
    ] {
        assert_eq!(types[metric], datatype, "{metric}");
    }
    assert_eq!(done["/bdSeq"], 0);
    assert_eq!(done["Robot01/Offset"], -200);
    assert_eq!(done["Robot01/Counter"], json!(9_223_372_036_854_775_908u64));
    assert_eq!(done["Robot01/Motor/Temperature"], 90.0);

    // pysparkplug does not answer rebirth requests itself; the script does, with the same bdSeq.
    sniff.cmd("rebirth Body Cell3");
    assert_eq!(edge.wait_unsolicited(WAIT, |l| l.starts_with("EVENT REBIRTH")), "EVENT REBIRTH 1");
    let nb = message(&mut sniff, "spBv1.0/Body/NBIRTH/Cell3");
    assert_eq!((nb["seq"].clone(), bd_seq(&nb)), (json!(0), 0));
    assert_eq!(metric(&nb, "Uptime")["value"], 100_000, "rebirth carries the current values");
    assert_eq!(message(&mut sniff, "spBv1.0/Body/DBIRTH/Cell3/Robot01")["seq"], 1);
    assert_eq!(message(&mut sniff, "spBv1.0/Body/DBIRTH/Cell3/Oven01")["seq"], 2);

    // Killed: the broker sends pysparkplug's will (QoS 0) with the NBIRTH's bdSeq.
    drop(edge);
    let will = message(&mut sniff, "spBv1.0/Body/NDEATH/Cell3");
    assert_eq!((will["qos"].clone(), bd_seq(&will)), (json!(0), 0));
}

#[test]
fn pysparkplug_edge_with_host_id_waits_for_the_host_state() {
    let port = free_port();
    let _broker = start_mosquitto(port);
    let p = port.to_string();
    let mut sniff = sniffer(port, "spBv1.0/#");
    let mut edge = LinePeer::spawn("sparkplug_edge.py", &[&p, "G", "N", "--steps", "2", "--host-id", "twin"]);
    assert_eq!(edge.next_unsolicited(WAIT).as_deref(), Some("WAITING STATE twin"));
    sniff.cmd("state twin false");
    std::thread::sleep(Duration::from_millis(500));
    let early: Vec<String> = sniff.drain_unsolicited(Duration::from_millis(200));
    assert!(early.iter().all(|l| !l.contains("NBIRTH")), "no birth before the host is online: {early:?}");
    sniff.cmd("state twin true");
    edge.wait_ready();
    assert_eq!(message(&mut sniff, "spBv1.0/G/NBIRTH/N")["seq"], 0);
    assert!(edge.answer(WAIT).starts_with("DONE {"));
}

#[test]
fn mqtt_json_peer_publishes_payloads_as_given() {
    let port = free_port();
    let _broker = start_mosquitto(port);
    let mut sniff = sniffer(port, "plant/#");
    let mut json_peer = LinePeer::start("mqtt_json.py", &[&port.to_string()]);
    json_peer.cmd(r#"pub plant/body/robot1 {"temp": 21.5, "ok": true, "n": -3}"#);
    let m = message(&mut sniff, "plant/body/robot1");
    assert_eq!((m["qos"].clone(), m["kind"].clone()), (json!(1), json!("json")));
    assert_eq!(m["json"], json!({"temp": 21.5, "ok": true, "n": -3}));
    json_peer.cmd("raw plant/bad {not json");
    assert_eq!(message(&mut sniff, "plant/bad")["text"], "{not json");
    json_peer.cmd("rawhex plant/bytes fffe00");
    assert_eq!(message(&mut sniff, "plant/bytes")["hex"], "fffe00");
    json_peer.cmd(r#"retain plant/ret {"v": 1}"#);
    assert_eq!(message(&mut sniff, "plant/ret")["json"], json!({"v": 1}));
    assert_eq!(json_peer.cmd(r#"burst 50 plant/burst {"i": {i}}"#), "OK 50");
    for i in 0..50 {
        assert_eq!(message(&mut sniff, "plant/burst")["json"], json!({"i": i}));
    }
    assert!(json_peer.request("nope x").starts_with("ERR"));

    // A subscriber that comes later gets the retained message, until it is cleared.
    let mut late = sniffer(port, "plant/ret");
    let r = message(&mut late, "plant/ret");
    assert_eq!((r["retain"].clone(), r["json"].clone()), (json!(true), json!({"v": 1})));
    json_peer.cmd("clear plant/ret");
    drop(late);
    let mut later = sniffer(port, "plant/ret");
    assert_eq!(later.drain_unsolicited(Duration::from_millis(300)), Vec::<String>::new());
}

#[test]
fn mosquitto_with_users_and_tls() {
    let dir = TempDir::new("mqtt-tls");
    let certs = TestCerts::make(dir.path());
    let port = free_port();
    let opts = MosquittoOptions {
        users: vec![("plant".into(), "s3cret".into()), ("other".into(), "pw2".into())],
        tls: certs.broker_tls(),
        require_client_cert: false,
    };
    let _broker = start_mosquitto_with(port, &opts);
    let p = port.to_string();
    let ca = certs.ca.display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![p.as_str()];
        args.extend_from_slice(extra);
        let peer = twinloom_tests::workspace_root().join("tests/peers/mqtt_json.py");
        std::process::Command::new(twinloom_tests::python())
            .arg(peer)
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run mqtt_json.py")
    };
    let ok = run(&["--cafile", &ca, "--user", "plant", "--password", "s3cret"]);
    assert!(ok.status.success() && String::from_utf8_lossy(&ok.stdout).starts_with("READY"), "{ok:?}");
    for (bad, why) in [
        (vec!["--cafile", ca.as_str(), "--user", "plant", "--password", "wrong"], "not authorised"),
        (vec!["--cafile", ca.as_str()], "not authorised"),
        (vec!["--user", "plant", "--password", "s3cret"], "mqtt_json: connection to"),
    ] {
        let out = run(&bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{bad:?} must be refused: {out:?}");
        assert!(stderr.contains(why), "{bad:?}: {stderr}");
    }

    // Over TLS with a password, a publish reaches a subscriber.
    let user = ["--cafile", &ca, "--user", "other", "--password", "pw2"];
    let mut sniff =
        LinePeer::start("mqtt_sniff.py", &[&p, "t/#", user[0], user[1], user[2], user[3], user[4], user[5]]);
    let mut args = vec![p.as_str()];
    args.extend_from_slice(&user);
    let mut pubr = LinePeer::start("mqtt_json.py", &args);
    pubr.cmd(r#"pub t/x {"over": "tls"}"#);
    assert_eq!(message(&mut sniff, "t/x")["json"], json!({"over": "tls"}));

    // Mutual TLS: a client certificate signed by the CA is required.
    let port2 = free_port();
    let mtls = MosquittoOptions { users: vec![], tls: certs.broker_tls(), require_client_cert: true };
    let _broker2 = start_mosquitto_with(port2, &mtls);
    let p2 = port2.to_string();
    let peer = twinloom_tests::workspace_root().join("tests/peers/mqtt_json.py");
    let with_cert = std::process::Command::new(twinloom_tests::python())
        .arg(&peer)
        .args([&p2, "--cafile", &ca, "--certfile"])
        .arg(&certs.client_cert)
        .arg("--keyfile")
        .arg(&certs.client_key)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(with_cert.status.success(), "{with_cert:?}");
    let without = std::process::Command::new(twinloom_tests::python())
        .arg(&peer)
        .args([&p2, "--cafile", &ca])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!without.status.success(), "{without:?}");
}
