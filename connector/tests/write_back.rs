//! Write-back against the real plant simulator (OPC UA on 127.0.0.1), through the service's command API:
//! every policy rule refuses before anything reaches the server (the simulator's write log stays empty);
//! a level-4 command waits for approval, the requester cannot approve it, a second identity with the
//! approver role does, the value reaches the server (read independently with a Python asyncua client)
//! and the command ends `verified`; a level-1 twin refuses every write; a write to a server that is gone
//! ends `failed` with an unknown outcome and is not retried; a level-5 rule moves a setpoint within the
//! policy until the kill switch stops it; the audit journal verifies and holds every decision.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use twinloom_connector::audit;
use twinloom_connector::Config;
use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::{http_request, run_python, TempDir};

const ALICE: &str = "alice-token";
const CAROL: &str = "carol-token";
const BOB: &str = "bob-token";
const ZONE1: &str = "/Plant/Paint/Oven/Zone01.twinloom:setpoint";
const ZONE2: &str = "/Plant/Paint/Oven/Zone02.twinloom:setpoint";

fn sha(token: &str) -> String {
    twinloom_connector::command::config::token_sha256(token)
}

/// The service's configuration over the simulator at `endpoint` (namespace `ns`) at `level`, with
/// `extra` appended.
fn config(dir: &TempDir, endpoint: &str, ns: u16, level: u8, extra: &str) -> Config {
    let mut text = format!(
        r#"
[stage]
dir = "{stage}"
capability_level = {level}
tick_ms = 20

[stream]
listen = "127.0.0.1:0"

[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 20
"#,
        stage = dir.path().join("stage").display()
    );
    for zone in ["Zone01", "Zone02", "Zone03"] {
        for (node, attr) in [("Setpoint", "twinloom:setpoint"), ("Temperature", "twinloom:temperature")] {
            text += &format!(
                "\n[[bindings]]\nsource = \"sim\"\nnode = \"ns={ns};s=Plant/Paint/Oven/{zone}/{node}\"\nshop = \"paint\"\nprim = \"/Plant/Paint/Oven/{zone}\"\nattr = \"{attr}\"\ntype = \"double\"\n"
            );
        }
    }
    text += &format!(
        r#"
[[identity]]
name = "alice"
token_sha256 = "{a}"
roles = ["operator"]

[[identity]]
name = "carol"
token_sha256 = "{c}"
roles = ["operator", "approver"]

[[identity]]
name = "bob"
token_sha256 = "{b}"
roles = ["viewer"]

[[writable]]
target = "{ZONE1}"
roles = ["operator"]
min = 100.0
max = 230.0
max_step = 15.0
min_interval_s = 30
interlock = 'abs({{/Plant/Paint/Oven/Zone01.twinloom:temperature}} - current) <= 25'
tolerance = 0.001
verify_timeout_ms = 3000

[[writable]]
target = "{ZONE2}"
roles = ["operator"]
interlock = '{{/Plant/Paint/Oven/Zone01.twinloom:temperature}} > 1000'
"#,
        a = sha(ALICE),
        c = sha(CAROL),
        b = sha(BOB)
    );
    text += extra;
    Config::parse(&text, &dir.path().join("twinloom.toml")).expect("config")
}

fn start_sim(rt: &tokio::runtime::Runtime) -> SimulatorHandle {
    rt.block_on(Simulator::start(SimConfig {
        port: 0,
        seed: 3,
        signals: 2000,
        update_hz: 10.0,
        ..SimConfig::default()
    }))
    .expect("simulator")
}

/// The plant simulator and the service over it (`config` at a level, plus extra tables), on their own
/// runtime and in their own folder.
struct Twin {
    dir: TempDir,
    rt: tokio::runtime::Runtime,
    sim: Option<SimulatorHandle>,
    svc: Option<twinloom_connector::Running>,
    journal: std::path::PathBuf,
}

impl Twin {
    fn start(tag: &str, level: u8, extra: &str) -> Twin {
        let dir = TempDir::new(tag);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sim = start_sim(&rt);
        let cfg = config(&dir, sim.endpoint_url(), sim.namespace_index(), level, extra);
        let journal = cfg.audit_path();
        let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
        Twin { dir, rt, sim: Some(sim), svc: Some(svc), journal }
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.svc.as_ref().expect("the service is running").started.listen
    }

    /// Stops the service and starts it again on the same folder (and journal) with `config` at `level`.
    fn restart_service(&mut self, level: u8, extra: &str) {
        if let Some(svc) = self.svc.take() {
            svc.stop(self.rt.handle()).expect("stop");
        }
        let cfg = config(&self.dir, self.sim().endpoint_url(), self.sim().namespace_index(), level, extra);
        self.svc = Some(twinloom_connector::spawn(self.rt.handle(), cfg).expect("service"));
    }

    fn sim(&self) -> &SimulatorHandle {
        self.sim.as_ref().expect("the simulator is running")
    }

    /// Shuts the simulator down (the service keeps running).
    fn stop_sim(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }

    /// Stops the service (its layers and journal saved) and the simulator; returns the folder.
    fn stop(self) -> TempDir {
        let Twin { dir, rt, sim, svc, .. } = self;
        if let Some(svc) = svc {
            svc.stop(rt.handle()).expect("stop");
        }
        if let Some(sim) = sim {
            rt.block_on(sim.shutdown());
        }
        dir
    }
}

fn post(addr: std::net::SocketAddr, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let (status, text) = http_request(addr, "POST", path, token, Some(&body.to_string()));
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")))
}

fn command(addr: std::net::SocketAddr, token: &str, target: &str, value: f64) -> Value {
    let (status, v) =
        post(addr, "/v1/commands", Some(token), json!({"target": target, "value": value, "reason": "test"}));
    assert_eq!(status, 201, "{v}");
    v
}

fn refused_by(v: &Value) -> &str {
    assert_eq!(v["state"], "refused", "{v}");
    v["rule"].as_str().unwrap_or("")
}

/// The node's value read by an independent OPC UA client (Python asyncua).
fn read_with_asyncua(endpoint: &str, node: &str) -> f64 {
    let script = r#"
import asyncio, sys
from asyncua import Client
async def main():
    async with Client(url=sys.argv[1]) as c:
        print(await c.get_node(sys.argv[2]).read_value())
asyncio.run(main())
"#;
    run_python(script, &[endpoint, node]).trim().parse().expect("a number")
}

#[test]
fn commands_are_refused_approved_written_and_verified() {
    let twin = Twin::start("write-back", 4, "");
    let (addr, sim, journal) = (twin.addr(), twin.sim(), twin.journal.clone());
    let ns = sim.namespace_index();

    // Refused before anything reaches the server.
    let (status, v) =
        post(addr, "/v1/commands", Some("wrong"), json!({"target": ZONE1, "value": 190.0, "reason": "x"}));
    assert_eq!((status, v["error"].as_str()), (401, Some("missing or unknown bearer token")));
    let (status, _) = post(addr, "/v1/commands", None, json!({"target": ZONE1, "value": 190.0, "reason": "x"}));
    assert_eq!(status, 401);
    let (status, v) = post(addr, "/v1/commands", Some(ALICE), json!({"target": ZONE1, "value": "hot"}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(refused_by(&command(addr, BOB, ZONE1, 185.0)), "role");
    assert_eq!(refused_by(&command(addr, ALICE, ZONE1, 90.0)), "min");
    assert_eq!(refused_by(&command(addr, ALICE, ZONE1, 240.0)), "max");
    let v = command(addr, ALICE, ZONE1, 220.0);
    assert_eq!(refused_by(&v), "max_step");
    let start = v["state_seen"]["current"].as_f64().expect("the current setpoint seen");
    assert_eq!(refused_by(&command(addr, ALICE, ZONE2, 200.0)), "interlock");
    assert_eq!(refused_by(&command(addr, ALICE, "/Plant/Paint/Oven/Zone03.twinloom:setpoint", 200.0)), "not_writable");
    let (_, dry) = post(
        addr,
        "/v1/commands",
        Some(ALICE),
        json!({"target": ZONE1, "value": start + 5.0, "reason": "check", "dry_run": true}),
    );
    assert_eq!(dry["state"], "allowed", "{dry}");
    assert!(sim.write_log().is_empty(), "a refused command reached the server: {:?}", sim.write_log());

    // Level 4: approval by a second identity with the approver role.
    let want = start + 10.0;
    let v = command(addr, ALICE, ZONE1, want);
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    let (status, e) = post(addr, &format!("/v1/commands/{id}/approve"), Some(ALICE), json!({}));
    assert_eq!(status, 409, "{e}");
    assert!(e["error"].as_str().unwrap().contains("two-person rule"), "{e}");
    let (status, _) = post(addr, &format!("/v1/commands/{id}/approve"), Some(BOB), json!({}));
    assert_eq!(status, 409, "bob is no approver");
    assert!(sim.write_log().is_empty(), "nothing is written before the approval");
    let t0 = Instant::now();
    let (status, v) = post(addr, &format!("/v1/commands/{id}/approve"), Some(CAROL), json!({}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["state"], "verified", "{v}");
    assert_eq!(v["approved_by"], "carol");
    assert!(t0.elapsed() < Duration::from_secs(3));
    let states: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["received", "awaiting_approval", "approved", "written", "verified"]);
    let node = format!("ns={ns};s=Plant/Paint/Oven/Zone01/Setpoint");
    assert_eq!(read_with_asyncua(sim.endpoint_url(), &node), want, "the value reached the server");
    let log = sim.write_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].node_id, node);
    let (status, got) = http_request(addr, "GET", &format!("/v1/commands/{id}"), Some(BOB), None);
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&got).unwrap()["state"], "verified");

    // Too soon after the last write.
    let last = command(addr, ALICE, ZONE1, want + 1.0);
    assert_eq!(refused_by(&last), "min_interval");
    assert_eq!(sim.write_log().len(), 1);
    // /metrics counts them: 7 refusals (role, min, max, max_step, interlock, not_writable, min_interval),
    // the dry run, the verified write and the 2 bad tokens.
    assert_eq!(twinloom_tests::metric(addr, r#"twinloom_commands_total{state="refused"}"#), 7.0);
    assert_eq!(twinloom_tests::metric(addr, r#"twinloom_commands_total{state="verified"}"#), 1.0);
    assert_eq!(twinloom_tests::metric(addr, r#"twinloom_commands_total{state="allowed"}"#), 1.0);
    assert_eq!(twinloom_tests::metric(addr, "twinloom_command_unauthorized_total"), 2.0);

    let dir = twin.stop();
    // The stage shows the last command on the target's prim, read back with Pixar's usd-core through the
    // composed root stage, without authoring the target attribute itself.
    let script = r#"
import sys
from pxr import Usd, Sdf
stage = Usd.Stage.Open(sys.argv[1])
prim = stage.GetPrimAtPath("/Plant/Paint/Oven/Zone01")
get = lambda f: prim.GetAttribute("twinloom:lastCommand:twinloom:setpoint:" + f).Get()
print(get("state"), get("by"), get("id"), get("value"))
layer = Sdf.Layer.FindOrOpen(sys.argv[2])
print(layer.GetAttributeAtPath("/Plant/Paint/Oven/Zone01.twinloom:setpoint") is None)
"#;
    let stage_dir = dir.path().join("stage");
    let out = run_python(
        script,
        &[&stage_dir.join("plant.usda").display().to_string(), &stage_dir.join("commands.usda").display().to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    // The last command on Zone01 was the one refused for coming too soon.
    assert_eq!(lines[0], format!("refused alice {} {}", last["id"].as_str().unwrap(), last["value"]), "{out}");
    assert_eq!(lines[1], "True", "commands.usda never authors the live value");
    let report = audit::verify(&journal).expect("journal");
    assert!(report.is_ok(), "{report:?}");
    let text = std::fs::read_to_string(&journal).unwrap();
    for needle in [r#""rule":"role""#, r#""rule":"interlock""#, r#""state":"verified""#, r#""approved_by":"carol""#] {
        assert!(text.contains(needle), "the journal lacks {needle}");
    }
    // The write was journaled (and synced) before it was sent: `sending` comes before `written`.
    let lines: Vec<&str> = text.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(&id) && l.contains(needle)).expect(needle);
    assert!(at(r#""event":"sending""#) < at(r#""state":"written""#));
    // A modified entry of the real journal is named by its line.
    let tampered = dir.path().join("tampered.jsonl");
    let k = at(r#""state":"approved""#);
    let mut edited: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    edited[k] = edited[k].replace(r#""approved_by":"carol""#, r#""approved_by":"alice""#);
    std::fs::write(&tampered, edited.join("\n") + "\n").unwrap();
    let problem = audit::verify(&tampered).unwrap().first_problem.expect("the change is found");
    assert_eq!(problem.line, k + 1, "{problem:?}");
}

#[test]
fn a_level_1_twin_refuses_every_write() {
    let twin = Twin::start("write-back-l1", 1, "");
    let addr = twin.addr();
    for token in [ALICE, CAROL] {
        let v = command(addr, token, ZONE1, 185.0);
        assert_eq!(refused_by(&v), "capability_level");
        assert!(v["history"][1]["detail"].as_str().unwrap().contains("capability level 1"), "{v}");
    }
    assert!(twin.sim().write_log().is_empty());
    twin.stop();
}

#[test]
fn a_write_to_a_server_that_is_gone_fails_with_an_unknown_outcome_and_is_not_retried() {
    let zone3 = "/Plant/Paint/Oven/Zone03.twinloom:setpoint";
    let extra = format!("\n[[writable]]\ntarget = \"{zone3}\"\nroles = [\"operator\"]\nmin = 0.0\nmax = 300.0\n");
    let mut twin = Twin::start("write-back-gone", 5, &extra);
    let addr = twin.addr();
    twin.stop_sim();
    let t0 = Instant::now();
    let v = command(addr, ALICE, zone3, 190.0);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["outcome"], "unknown", "{v}");
    assert!(
        v["history"].as_array().unwrap().last().unwrap()["detail"].as_str().unwrap().contains("not retried"),
        "{v}"
    );
    assert_eq!(v["history"].as_array().unwrap().len(), 2, "received, failed: no second attempt");
    assert!(t0.elapsed() < Duration::from_secs(30));
    twin.stop();
}

#[test]
fn an_autonomy_rule_moves_a_setpoint_within_policy_until_the_kill_switch() {
    let zone3 = "/Plant/Paint/Oven/Zone03.twinloom:setpoint";
    let extra = format!(
        r#"
[[writable]]
target = "{zone3}"
roles = ["autonomy"]
min = 0.0
max = 300.0
max_step = 2.0

[[autonomy]]
name = "warm-up"
when = 'current < 290'
target = "{zone3}"
set = "current + 1"
min_interval_s = 1
"#
    );
    let twin = Twin::start("write-back-l5", 5, &extra);
    let (addr, sim, journal) = (twin.addr(), twin.sim(), twin.journal.clone());
    let node = sim.node_id("Plant/Paint/Oven/Zone03/Setpoint");
    let writes = |sim: &SimulatorHandle| sim.write_log().iter().filter(|r| r.node_id == node).count();
    let t0 = Instant::now();
    while writes(sim) < 2 && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(writes(sim) >= 2, "the rule wrote {} times", writes(sim));
    assert!(sim.write_log().iter().all(|r| r.status.is_good()), "{:?}", sim.write_log());
    let (status, v) = post(addr, "/v1/autonomy/stop", Some(BOB), json!({}));
    assert_eq!((status, v["autonomy"].as_str()), (200, Some("stopped")));
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = writes(sim);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(writes(sim), stopped_at, "the rule wrote after the kill switch");
    let _dir = twin.stop();
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains(r#""requested_by":"autonomy:warm-up""#) && text.contains("autonomy_stopped"));
    assert!(audit::verify(&journal).unwrap().is_ok());
}

/// A fenced block of `lang` from a page of docs/.
fn doc_block(page: &str, lang: &str) -> String {
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs").join(page)).unwrap();
    let open = format!("```{lang}\n");
    let start = doc.find(&open).unwrap_or_else(|| panic!("a {lang} block in {page}")) + open.len();
    doc[start..start + doc[start..].find("```").expect("its end")].to_string()
}

#[test]
fn the_documented_configuration_and_client_run_against_the_simulator() {
    let dir = TempDir::new("write-back-docs");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = start_sim(&rt);
    let ns = sim.namespace_index();
    // The page's configuration as printed, pointed at this simulator, this folder and a free port.
    // The method target example (an indented block of the same page) goes into the same file.
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/write-back.md")).unwrap();
    let method: String = doc
        .lines()
        .skip_while(|l| *l != "    [[writable]]")
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    assert!(method.contains("method = "), "the method example: {method}");
    let text = (doc_block("write-back.md", "toml") + "\n" + &method)
        .replace("opc.tcp://127.0.0.1:4840/", sim.endpoint_url())
        .replace("ns=2;", &format!("ns={ns};"))
        .replace("dir = \"twinloom-out\"", &format!("dir = {:?}", dir.path().join("stage")))
        + "\n[stream]\nlisten = \"127.0.0.1:0\"\n";
    let cfg = Config::parse(&text, &dir.path().join("plant.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((cfg.identity.len(), cfg.writable.len()), (2, 2));
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let addr = svc.started.listen;
    let node = sim.node_id("Plant/Paint/Oven/Zone01/Setpoint");
    let start = read_with_asyncua(sim.endpoint_url(), &node);
    let want = start + 5.0;
    // The page's Python client, as printed (the page's tokens are "alice" and "carol").
    let out = run_python(
        &doc_block("write-back.md", "python"),
        &[&format!("http://{addr}"), "alice", ZONE1, &want.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "allowed", "{out}");
    let (id, state) = lines[1].split_once(' ').expect("id and state");
    assert!(state.starts_with("awaiting_approval"), "level 4 waits for an approval: {out}");
    let (status, v) = post(addr, &format!("/v1/commands/{id}/approve"), Some("carol"), json!({}));
    assert_eq!((status, v["state"].as_str()), (200, Some("verified")), "{v}");
    assert_eq!(read_with_asyncua(sim.endpoint_url(), &node), want);
    svc.stop(rt.handle()).expect("stop");
    rt.block_on(sim.shutdown());
}

#[test]
fn a_live_client_sends_a_command_on_its_connection_and_every_client_sees_its_states() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let zone3 = "/Plant/Paint/Oven/Zone03.twinloom:setpoint";
    let extra = format!("\n[[writable]]\ntarget = \"{zone3}\"\nroles = [\"operator\"]\nmin = 0.0\nmax = 300.0\n");
    let twin = Twin::start("write-back-ws", 5, &extra);
    let url = format!("ws://{}/v1/live", twin.addr());
    twin.rt.block_on(async {
        let (mut sender, _) = tokio_tungstenite::connect_async(&url).await.expect("sender connects");
        let (mut watcher, _) = tokio_tungstenite::connect_async(&url).await.expect("watcher connects");
        // Both have their hello (the server subscribes them to command updates before it): every later
        // command update reaches both.
        for ws in [&mut sender, &mut watcher] {
            let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a hello in time");
            let text = msg.expect("open").expect("a frame").into_text().expect("text");
            let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
            assert_eq!(v["type"], "hello", "{v}");
        }
        // The next command-related message of a client (deltas and hello skipped).
        async fn next(
            ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
        ) -> Value {
            loop {
                let msg = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a message in time");
                let text = msg.expect("open").expect("a frame").into_text().expect("text");
                let v: Value = serde_json::from_str(text.as_str()).expect("JSON");
                if matches!(v["type"].as_str(), Some("command" | "error")) {
                    return v;
                }
            }
        }
        let bad = json!({"type": "command", "token": "nope", "target": zone3, "value": 190.0, "reason": "ws"});
        sender.send(Message::text(bad.to_string())).await.unwrap();
        let e = next(&mut sender).await;
        assert_eq!((e["type"].as_str(), e["request"].as_str()), (Some("error"), Some("command")), "{e}");
        assert_eq!(e["message"], "missing or unknown bearer token");
        let good = json!({"type": "command", "token": ALICE, "target": zone3, "value": 190.0, "reason": "ws"});
        sender.send(Message::text(good.to_string())).await.unwrap();
        for ws in [&mut sender, &mut watcher] {
            let mut states = Vec::new();
            while states.last().map(String::as_str) != Some("verified") {
                let v = next(ws).await;
                assert_eq!(v["type"], "command", "{v}");
                assert_eq!(v["command"]["target"], zone3);
                states.push(v["command"]["state"].as_str().unwrap().to_string());
            }
            assert_eq!(states, ["received", "written", "verified"]);
        }
    });
    assert_eq!(twin.sim().write_log().len(), 1);
    twin.stop();
}

#[test]
fn a_method_target_is_called_within_the_policy() {
    let ack = "/Plant/Assembly/Station01.acknowledgeFault";
    // The method and its object by namespace URI (the index is the server's to choose).
    let extra = format!(
        "\n[[writable]]\ntarget = \"{ack}\"\nroles = [\"operator\"]\nmethod = \"nsu=urn:twinloom:plant-sim;s=Plant/Assembly/Station01/AcknowledgeFault\"\nobject = \"nsu=urn:twinloom:plant-sim;s=Plant/Assembly/Station01\"\nsource = \"sim\"\n"
    );
    let twin = Twin::start("write-back-method", 5, &extra);
    let (addr, sim) = (twin.addr(), twin.sim());
    let ns = sim.namespace_index();
    let call = |token: &str, args: Value| {
        post(
            addr,
            "/v1/commands",
            Some(token),
            json!({"target": ack, "value": args, "reason": "andon cleared on site"}),
        )
    };
    let (status, v) = call(BOB, json!([]));
    assert_eq!((status, refused_by(&v)), (201, "role"));
    let (status, v) = call(ALICE, json!(5));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("is a method"), "{v}");
    assert!(sim.write_log().is_empty(), "{:?}", sim.write_log());
    let (status, v) = call(ALICE, json!([]));
    assert_eq!((status, v["state"].as_str()), (201, Some("verified")), "{v}");
    let outputs = v["read_back"].as_array().expect("the method's outputs");
    assert_eq!(outputs.len(), 2, "{v}");
    assert!(outputs[0].is_boolean() && outputs[1].is_i64(), "Acknowledged, FaultCode: {v}");
    let log = sim.write_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].node_id, format!("ns={ns};s=Plant/Assembly/Station01/AcknowledgeFault"));
    assert!(log[0].status.is_good());
    twin.stop();
}

#[test]
fn a_pending_approval_expires() {
    let twin = Twin::start("write-back-expiry", 4, "\n[write_back]\napproval_expiry_s = 1\n");
    let (addr, journal) = (twin.addr(), twin.journal.clone());
    let start = command(addr, ALICE, ZONE1, 1000.0)["state_seen"]["current"].as_f64().expect("current");
    let v = command(addr, ALICE, ZONE1, start + 1.0);
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    let id = v["id"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let (status, got) = http_request(addr, "GET", &format!("/v1/commands/{id}"), Some(ALICE), None);
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!((status, got["state"].as_str()), (200, Some("expired")), "{got}");
    let (status, e) = post(addr, &format!("/v1/commands/{id}/approve"), Some(CAROL), json!({}));
    assert_eq!(status, 409, "{e}");
    assert!(twin.sim().write_log().is_empty());
    let _dir = twin.stop();
    assert!(std::fs::read_to_string(&journal).unwrap().contains(r#""state":"expired""#));
}

#[test]
fn a_pending_approval_survives_a_restart() {
    let mut twin = Twin::start("write-back-restart", 4, "");
    let addr = twin.addr();
    let refused = command(addr, ALICE, ZONE1, 1000.0);
    let start = refused["state_seen"]["current"].as_f64().expect("current");
    let v = command(addr, ALICE, ZONE1, start + 2.0);
    assert_eq!(v["state"], "awaiting_approval", "{v}");
    let id = v["id"].as_str().unwrap().to_string();
    twin.restart_service(4, "");
    let addr = twin.addr();
    // The restarted service knows it from the audit journal, history included, and it can be approved.
    let (status, got) = http_request(addr, "GET", &format!("/v1/commands/{id}"), Some(CAROL), None);
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!((status, got["state"].as_str()), (200, Some("awaiting_approval")), "{got}");
    assert_eq!(got["history"].as_array().unwrap().len(), 2, "{got}");
    let (status, v) = post(addr, &format!("/v1/commands/{id}/approve"), Some(CAROL), json!({}));
    assert_eq!((status, v["state"].as_str()), (200, Some("verified")), "{v}");
    assert_eq!(v["history"].as_array().unwrap().len(), 5, "{v}");
    // The last write's time survives a restart as well: too soon is still too soon.
    twin.restart_service(4, "");
    let addr = twin.addr();
    assert_eq!(refused_by(&command(addr, ALICE, ZONE1, start + 3.0)), "min_interval");
    // A refused command of the first run is still there too.
    let (status, got) =
        http_request(addr, "GET", &format!("/v1/commands/{}", refused["id"].as_str().unwrap()), Some(BOB), None);
    let got: Value = serde_json::from_str(&got).unwrap();
    assert_eq!((status, got["state"].as_str(), got["rule"].as_str()), (200, Some("refused"), Some("max")), "{got}");
    assert_eq!(twin.sim().write_log().len(), 1);
    twin.stop();
}
