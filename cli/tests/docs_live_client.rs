//! docs/live-protocol.md's complete client, run exactly as the page prints it: against `twinloom demo` (every
//! shop, 2,000 signals) and against `twinloom run` on an independent asyncua server bound to every value
//! type the protocol carries (float3 and token included). It follows the stream until the service stops and
//! closes it, and the layers it saved equal the service's own saved live layers.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use twinloom_tests::{check_output, free_port, metric, python, workspace_root, ChildGuard, TempDir};

/// The two tests here each run a service, a Python client and (demo) a simulator with its brokers: on a
/// 2-core machine, side by side, the client falls so far behind that the service's bounded close drops it
/// (a dropped connection the documented client resumes from, forever). They take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits until the service at `addr` has a live client and has sent it a few messages, then sends it
/// SIGTERM (so the client is surely connected before the service closes the stream, however slowly a
/// loaded machine starts Python).
fn stop_once_followed(service: &ChildGuard, addr: &str) {
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(metric(addr, "twinloom_stream_clients") >= 1.0 && metric(addr, "twinloom_stream_messages_total") >= 20.0) {
        assert!(Instant::now() < deadline, "the documented client never followed the stream");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let ok = Command::new("kill").args(["-TERM", &service.0.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -TERM");
}

/// Starts the documented client on `addr`, saving its layers to `copies`.
fn start_client(script: &std::path::Path, addr: &str, copies: &std::path::Path) -> ChildGuard {
    std::fs::create_dir_all(copies).unwrap();
    let child = Command::new(python())
        .arg(script)
        .arg(addr)
        .arg(copies)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the documented client");
    ChildGuard(child)
}

/// Waits for the client to end by itself (the service closed the stream); returns its JSON summary.
fn client_summary(mut client: ChildGuard) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the documented client did not end after the service closed the stream");
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = std::mem::replace(&mut client.0, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    check_output("the documented client", &output);
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Compares the client's copies with the service's saved live layers; returns the comparison summary.
fn compare(stage_dir: &std::path::Path, copies: &std::path::Path, shops: &[&str]) -> serde_json::Value {
    let cmp = Command::new(python())
        .arg(workspace_root().join("tests/peers/compare_layers.py"))
        .arg(stage_dir)
        .arg(copies)
        .arg(shops.join(","))
        .output()
        .unwrap();
    check_output("compare the client's copies with the saved live layers", &cmp);
    serde_json::from_slice(&cmp.stdout).unwrap()
}

fn documented_client(dir: &std::path::Path) -> std::path::PathBuf {
    let doc = std::fs::read_to_string(workspace_root().join("docs/live-protocol.md")).unwrap();
    let script = dir.join("live_copy.py");
    std::fs::write(&script, python_block(&doc, "## A complete client")).unwrap();
    script
}

/// The first ```python block after `heading` in a Markdown file.
fn python_block(doc: &str, heading: &str) -> String {
    let after = &doc[doc.find(heading).unwrap_or_else(|| panic!("no {heading:?} in the doc"))..];
    let start = after.find("```python\n").expect("a python block") + "```python\n".len();
    let len = after[start..].find("```").expect("the block's end");
    after[start..start + len].to_string()
}

#[test]
fn the_documented_client_keeps_an_exact_copy_of_the_demo() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("docs-live-client");
    let script = documented_client(dir.path());
    let (out, copies) = (dir.path().join("demo"), dir.path().join("copies"));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut demo = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_twinloom"))
            .args(["demo", "--listen", &addr, "--out"])
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the demo"),
    );
    let mut lines = BufReader::new(demo.0.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("demo output").unwrap();
        if line.contains("is live") {
            break;
        }
    }
    let client = start_client(&script, &addr, &copies);
    stop_once_followed(&demo, &addr);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = demo.0.wait().unwrap();
    assert!(status.success(), "demo: {status}: {rest:?}");

    let summary = client_summary(client);
    assert!(summary["deltas"].as_u64().unwrap() > 20, "{summary}");
    // Every shop of the demo is followed; the live layers are compared (the MES layer `mes.usda` has
    // structural edits of its own, checked by connector/tests/mes_*.rs).
    let shops = ["assembly", "biw", "edge", "field", "mes", "paint", "site"];
    assert_eq!(summary["shops"], serde_json::json!(shops), "{summary}");
    let live: Vec<&str> = shops.into_iter().filter(|s| *s != "mes").collect();
    let cmp = compare(&out, &copies, &live);
    assert!(cmp["checked"].as_u64().unwrap() > 2000, "{cmp}");
}

#[test]
fn the_documented_client_handles_every_value_type() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("docs-live-types");
    let script = documented_client(dir.path());
    let port = free_port();
    let mut peer = Command::new(python())
        .arg(workspace_root().join("tests/peers/opcua_server.py"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the asyncua server");
    let mut ready = String::new();
    BufReader::new(peer.stdout.take().unwrap()).read_line(&mut ready).unwrap();
    assert!(ready.starts_with("READY"), "peer said {ready:?}");
    let _peer = ChildGuard(peer);

    // One explicit binding per protocol type (the peer's Counter counts up every 50 ms, so deltas flow).
    let addr = format!("127.0.0.1:{}", free_port());
    let ns = "nsu=urn:twinloom:test-peer;s=";
    let bindings = [
        ("Line 1/Temp 1", "temp", "double"),
        ("Ünïcode ⚙/Motor speed", "speed", "float"),
        ("Line 1/1st Station", "station", "int"),
        ("Line 1/Counter", "counter", "int64"),
        ("Line 1/Ready?", "ready", "bool"),
        ("Line 1/Dup#1", "label", "string"),
        ("Line 1/Dup#2", "mode", "token"),
        ("Line 1/Recipe", "recipe", "float3"),
    ];
    let mut cfg = format!(
        "[stage]\ndir = \"stage\"\ntick_ms = 20\n\n[stream]\nlisten = \"{addr}\"\n\n\
         [[sources]]\nname = \"peer\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:{port}/\"\npublishing_interval_ms = 20\n"
    );
    for (node, attr, ty) in bindings {
        cfg.push_str(&format!(
            "\n[[bindings]]\nsource = \"peer\"\nnode = \"{ns}{node}\"\nshop = \"line\"\nprim = \"/Plant/Line1\"\nattr = \"{attr}\"\ntype = \"{ty}\"\n"
        ));
    }
    let cfg_path = dir.path().join("plant.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut run = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_twinloom"))
            .args(["run", "--config"])
            .arg(&cfg_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start twinloom run"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "twinloom run never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let copies = dir.path().join("copies");
    let client = start_client(&script, &addr, &copies);
    stop_once_followed(&run, &addr);
    let out = std::mem::replace(&mut run.0, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    check_output("twinloom run", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 rejected"), "{}", String::from_utf8_lossy(&out.stdout));

    let summary = client_summary(client);
    assert!(summary["deltas"].as_u64().unwrap() > 10, "{summary}");
    let cmp = compare(&dir.path().join("stage"), &copies, &["line"]);
    assert_eq!(cmp["checked"], 8, "{cmp}");
    assert_eq!(
        cmp["types"],
        serde_json::json!(["bool", "double", "float", "float3", "int", "int64", "string", "token"]),
        "{cmp}"
    );
}
