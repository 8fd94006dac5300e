//! Applying a recommendation through write-back (docs/prescriptive.md, "Apply: through write-back"),
//! against the plant simulator of a running `twinloom demo`: a `twinloom run` service over the demo's
//! simulator (its OPC UA endpoint read from the demo's `twinloom-demo.toml`) with the oven zone's setpoint
//! `[[writable]]`, and a results layer holding a setpoint recommendation and a planning one (written with
//! the recommender's own layer writer, `twinloom_prescriptive::layer`; `twinloom recommend` proposes no
//! write the simulator can take: its only write is a buffer's `twinloom:capacity`, and the simulator has no
//! buffer-capacity setpoint).
//!
//! At capability level 3: apply before approval is 409, without a token 401, after approval 403 with the
//! `capability_level` refusal, and the recommendation stays `approved` (read back with usd-core). At level
//! 4 (the service restarted on the same folder): a planning action is 422; apply is 202 with the command
//! awaiting approval and the recommendation `applying`; a second apply is 409; left unapproved, the
//! command expires and the recommendation is `approved` again with `applyError`; applied again and
//! approved by a second identity (the requester may not), the value reaches the simulator (read with
//! Python asyncua) and the demo's own live stage (usd-core), and the recommendation is `applied` on the
//! stream, in `GET /v1/recommendations` and in `recommendations.usda`. At level 5: a target without
//! `approval = true` is written at once (200, `applied`); a write the simulator refuses (out of its range)
//! is 409 and the recommendation is `approved` again with `applyError`, in the layer too.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use twinloom_prescriptive::layer::{write_recommendations, Plant};
use twinloom_prescriptive::{Domain, Effect, Recommendation, State, Write};
use twinloom_tests::{http_get, http_request, run_python, wait_until, ChildGuard, TempDir};

#[path = "common/recommend.rs"]
mod recommend;
use recommend::{demo, local_addr};

const REC: &str = "paint-setpoint-zone01";
const PLANNING: &str = "assembly-operator-a10-alignment";
const TARGET: &str = "/Plant/Paint/Oven/Zone01.twinloom:temperatureSetpoint";
/// Level 5: a setpoint written without approval, and one the simulator refuses (out of its 0..300 °C).
const DIRECT: &str = "paint-setpoint-zone02";
const OUT_OF_RANGE: &str = "paint-setpoint-zone03";

fn sha(token: &str) -> String {
    twinloom_connector::command::config::token_sha256(token)
}

/// The simulator's OPC UA endpoint and namespace index, from the demo's written configuration.
fn demo_simulator(stage: &Path) -> (String, u16) {
    let text = std::fs::read_to_string(stage.join("twinloom-demo.toml")).expect("the demo's configuration");
    let value = |prefix: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap_or_else(|| panic!("no {prefix:?} in the demo's configuration"))
    };
    let endpoint = value("endpoint = \"opc.tcp://");
    let ns = value("node = \"ns=").split(';').next().and_then(|n| n.parse().ok()).expect("namespace index");
    (format!("opc.tcp://{endpoint}"), ns)
}

/// A `twinloom run` configuration over the demo's simulator at `level`: the oven zone's setpoint and
/// temperature bound, the setpoint writable by operators, alice (operator) and carol (operator, approver).
fn write_config(path: &Path, stage: &Path, listen: SocketAddr, endpoint: &str, ns: u16, level: u8) {
    let mut text = format!(
        r#"[stage]
dir = "{stage}"
root = "Plant"
capability_level = {level}
tick_ms = 50

[stream]
listen = "{listen}"

[[sources]]
name = "plant-sim"
kind = "opcua"
endpoint = "{endpoint}"
publishing_interval_ms = 50
"#,
        stage = stage.display()
    );
    for zone in ["Zone01", "Zone02", "Zone03"] {
        for (node, attr) in [("Setpoint", "twinloom:temperatureSetpoint"), ("Temperature", "twinloom:temperature")] {
            text += &format!(
                "\n[[bindings]]\nsource = \"plant-sim\"\nnode = \"ns={ns};s=Plant/Paint/Oven/{zone}/{node}\"\nshop = \"paint\"\nprim = \"/Plant/Paint/Oven/{zone}\"\nattr = \"{attr}\"\ntype = \"double\"\n"
            );
        }
    }
    text += &format!(
        r#"
[write_back]
approval_expiry_s = 4

[[identity]]
name = "alice"
token_sha256 = "{alice}"
roles = ["operator"]

[[identity]]
name = "carol"
token_sha256 = "{carol}"
roles = ["operator", "approver"]

[[writable]]
target = "{TARGET}"
roles = ["operator"]
min = 100.0
max = 230.0
max_step = 10.0
approval = true
tolerance = 0.001
verify_timeout_ms = 3000

[[writable]]
target = "/Plant/Paint/Oven/Zone02.twinloom:temperatureSetpoint"
roles = ["operator"]
tolerance = 0.001

[[writable]]
target = "/Plant/Paint/Oven/Zone03.twinloom:temperatureSetpoint"
roles = ["operator"]
"#,
        alice = sha("alice-token"),
        carol = sha("carol-token"),
    );
    std::fs::write(path, text).expect("write the service's configuration");
}

/// The results layer, every recommendation `proposed`: one raising the oven zone's setpoint from `current`
/// to `value` (one write), a planning action without writes, one raising zone 2's setpoint from `zone2` by
/// 5 °C and one setting zone 3's to 400 °C (beyond the simulator's range).
fn write_layer(stage: &Path, current: f64, value: f64, zone2: f64) {
    let effect = Effect {
        metric: "temperature_margin_degc".into(),
        unit: "degC".into(),
        baseline: Some(current),
        value,
        change: value - current,
        ci95: 0.0,
        percent: None,
        replications: 0,
    };
    let rec = |id: &str, domain, kind: &str, target: &str, writes: Vec<Write>| Recommendation {
        id: id.into(),
        rank: 1,
        domain,
        kind: kind.into(),
        target: target.into(),
        explanation: format!("Test recommendation {id}."),
        sibling: None,
        effect: effect.clone(),
        writes,
        state: State::Proposed,
        assumptions: vec!["written by the test: the recommender proposes no simulator setpoint".into()],
    };
    let recs = [
        rec(
            REC,
            Domain::Paint,
            "setpoint",
            "/Plant/Paint/Oven/Zone01",
            vec![Write {
                prim: "/Plant/Paint/Oven/Zone01".into(),
                attribute: "twinloom:temperatureSetpoint".into(),
                value: json!(value),
                current: Some(json!(current)),
            }],
        ),
        rec(PLANNING, Domain::Assembly, "operator", "/Plant/Assembly/Line/A10_Alignment", vec![]),
        rec(
            DIRECT,
            Domain::Paint,
            "setpoint",
            "/Plant/Paint/Oven/Zone02",
            vec![Write {
                prim: "/Plant/Paint/Oven/Zone02".into(),
                attribute: "twinloom:temperatureSetpoint".into(),
                value: json!(zone2 + 5.0),
                current: Some(json!(zone2)),
            }],
        ),
        rec(
            OUT_OF_RANGE,
            Domain::Paint,
            "setpoint",
            "/Plant/Paint/Oven/Zone03",
            vec![Write {
                prim: "/Plant/Paint/Oven/Zone03".into(),
                attribute: "twinloom:temperatureSetpoint".into(),
                value: json!(400.0),
                current: None,
            }],
        ),
    ];
    let plant = Plant {
        layers: vec![stage.join("plant.usda")],
        root_metadata: vec![("defaultPrim".into(), twinloom_usd::Value::Token("Plant".into()))],
        creator: "recommend_apply test".into(),
    };
    write_recommendations(&stage.join("recommendations.usda"), &plant, "plant.usda", &recs).expect("results layer");
}

/// Starts `twinloom run --config` and waits until it serves the recommendations.
fn start_service(config: &Path, listen: SocketAddr, log: &Path) -> ChildGuard {
    let svc = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_twinloom"))
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("service log"))
            .spawn()
            .expect("start twinloom run"),
    );
    wait_until("the service listing the recommendations", 120, || {
        std::net::TcpStream::connect(listen).is_ok() && {
            let (status, body) = http_get(listen, "/v1/recommendations");
            status == 200
                && serde_json::from_str::<Value>(&body)
                    .is_ok_and(|v| v["items"].as_array().is_some_and(|i| i.len() == 4))
        }
    });
    svc
}

/// POSTs `body` to `path` with `token`; returns the status and the JSON answer.
fn post(addr: SocketAddr, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
    let (status, text) = http_request(addr, "POST", path, token, Some(body));
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}")))
}

/// The recommendation `id` as `GET /v1/recommendations` lists it.
fn listed(addr: SocketAddr, id: &str) -> Value {
    let (status, body) = http_get(addr, "/v1/recommendations");
    assert_eq!(status, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    all["items"].as_array().unwrap().iter().find(|i| i["id"] == id).cloned().unwrap_or(Value::Null)
}

/// `twinloom:rec:state`, `:commands` and `:applyError` of `id` in the results layer, read with usd-core.
fn in_layer(stage: &Path, id: &str) -> Value {
    let script = r#"
import json, sys
from pxr import Sdf
layer = Sdf.Layer.OpenAsAnonymous(sys.argv[1])
prim = "/Plant/Recommendations/" + sys.argv[2].replace("-", "_")
def get(f):
    a = layer.GetAttributeAtPath(f"{prim}.twinloom:rec:{f}")
    if a is None:
        return None
    v = a.default
    return list(v) if f == "commands" else v
print(json.dumps({f: get(f) for f in ("state", "commands", "applyError")}))
"#;
    let path = stage.join("recommendations.usda");
    serde_json::from_str(&run_python(script, &[path.to_str().unwrap(), id])).unwrap()
}

/// The level-4 client (Python, standard library and websockets, as in docs/live-protocol.md): follows the
/// stream while it applies, lets the command expire, applies again and has carol approve; prints what it
/// saw as JSON.
const CLIENT: &str = r#"
import json, sys, time, urllib.error, urllib.request
from websockets.sync.client import connect

base, rid, planning = sys.argv[1], sys.argv[2], sys.argv[3]
ws = connect(f"ws://{base}/v1/live", max_size=None, ping_interval=None)
assert json.loads(ws.recv())["type"] == "hello"

def post(path, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(f"http://{base}{path}", data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

def state_message(state, seconds=30):
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            msg = json.loads(ws.recv(timeout=0.5))
        except TimeoutError:
            continue
        if msg["type"] == "recommendations":
            for item in msg["items"]:
                if item["id"] == rid and item.get("state") == state:
                    return item
    return None

out = {}
out["approve_planning"] = post(f"/v1/recommendations/{planning}/state", {"state": "approved", "by": "line manager"})
out["planning"] = post(f"/v1/recommendations/{planning}/apply", {"by": "alice"}, "alice-token")
out["first"] = post(f"/v1/recommendations/{rid}/apply", {"by": "alice"}, "alice-token")
out["first_applying"] = state_message("applying", 5)
out["twice"] = post(f"/v1/recommendations/{rid}/apply", {"by": "alice"}, "alice-token")
out["reject_applying"] = post(f"/v1/recommendations/{rid}/state", {"state": "rejected", "by": "line manager"})
out["expired"] = state_message("approved", 30)
out["second"] = post(f"/v1/recommendations/{rid}/apply", {"by": "alice"}, "alice-token")
cid = out["second"][1]["commands"][0]["id"]
out["self_approval"] = post(f"/v1/commands/{cid}/approve", {}, "alice-token")
out["approval"] = post(f"/v1/commands/{cid}/approve", {}, "carol-token")
out["applied"] = state_message("applied", 30)
ws.close()
print(json.dumps(out))
"#;

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

/// The oven zone's setpoint on the demo's own live stage, read with usd-core.
fn on_demo_stage(stage: &Path) -> Option<f64> {
    let script = r#"
import sys
from pxr import Usd
s = Usd.Stage.Open(sys.argv[1])
a = s.GetAttributeAtPath("/Plant/Paint/Oven/Zone01.twinloom:temperatureSetpoint")
print(a.Get() if a else "none")
"#;
    run_python(script, &[stage.join("plant.usda").to_str().unwrap()]).trim().parse().ok()
}

#[test]
fn an_approved_recommendation_is_applied_through_write_back() {
    let dir = TempDir::new("recommend-apply");
    let demo_stage = dir.path().join("demo");
    let (_demo, _) = demo(&demo_stage, "600", &dir.path().join("demo.log"));
    let (endpoint, ns) = demo_simulator(&demo_stage);
    let node = format!("ns={ns};s=Plant/Paint/Oven/Zone01/Setpoint");
    let current = read_with_asyncua(&endpoint, &node);
    let value = current + 5.0;
    let node2 = format!("ns={ns};s=Plant/Paint/Oven/Zone02/Setpoint");
    let zone2 = read_with_asyncua(&endpoint, &node2);

    let stage = dir.path().join("stage");
    std::fs::create_dir_all(&stage).unwrap();
    write_layer(&stage, current, value, zone2);
    let listen = local_addr();
    let config = dir.path().join("twinloom.toml");

    // Level 3 (predictive): apply is refused by the capability level and nothing changes.
    write_config(&config, &stage, listen, &endpoint, ns, 3);
    let svc = start_service(&config, listen, &dir.path().join("level3.log"));
    let apply = format!("/v1/recommendations/{REC}/apply");
    let (status, early) = post(listen, &apply, Some("alice-token"), r#"{"by": "alice"}"#);
    assert_eq!(status, 409, "apply before approval: {early}");
    assert!(early["error"].as_str().unwrap().contains("is proposed"), "{early}");
    let (status, approved) = post(
        listen,
        &format!("/v1/recommendations/{REC}/state"),
        None,
        r#"{"state": "approved", "by": "line manager"}"#,
    );
    assert_eq!((status, approved["state"].as_str()), (200, Some("approved")), "{approved}");
    let (status, _) = post(listen, &apply, None, r#"{"by": "alice"}"#);
    assert_eq!(status, 401, "apply needs the command API's bearer token");
    let (status, _) = post(listen, &apply, Some("alice-token"), r#"{"by": "carol"}"#);
    assert_eq!(status, 403, "`by` must be the token's identity");
    let (status, _) = post(listen, &apply, Some("alice-token"), r#"{"who": "alice"}"#);
    assert_eq!(status, 400, "the body is {{\"by\": …}} or nothing");
    let (status, refused) = post(listen, &apply, Some("alice-token"), r#"{"by": "alice"}"#);
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"],
        format!("recommendation {REC}: the write-back policy refuses {TARGET} (capability_level); nothing was sent"),
        "{refused}"
    );
    assert_eq!(refused["refused"][0]["rule"], "capability_level", "{refused}");
    assert_eq!(refused["refused"][0]["target"], TARGET, "{refused}");
    assert_eq!(listed(listen, REC)["state"], "approved");
    assert_eq!(in_layer(&stage, REC)["state"], "approved");
    assert_eq!(read_with_asyncua(&endpoint, &node), current, "nothing reached the simulator");
    drop(svc);

    // Level 4 (prescriptive), the same folder: the commands wait for a second identity.
    write_config(&config, &stage, listen, &endpoint, ns, 4);
    let _svc = start_service(&config, listen, &dir.path().join("level4.log"));
    assert_eq!(listed(listen, REC)["state"], "approved", "the approval is in the layer across the restart");
    let seen: Value =
        serde_json::from_str(&run_python(CLIENT, &[&listen.to_string(), REC, PLANNING])).expect("client output");

    assert_eq!(seen["approve_planning"][0], 200, "{seen:#}");
    assert_eq!(seen["planning"][0], 422, "{seen:#}");
    assert_eq!(
        seen["planning"][1]["error"],
        format!("recommendation {PLANNING} is a planning action: nothing to send (it has no writes; people apply it)"),
        "{seen:#}"
    );

    let first = &seen["first"];
    assert_eq!(first[0], 202, "{seen:#}");
    assert_eq!(first[1]["recommendation"]["state"], "applying", "{seen:#}");
    let cmd = &first[1]["commands"][0];
    assert_eq!(
        (cmd["target"].as_str(), cmd["value"].as_f64(), cmd["state"].as_str()),
        (Some(TARGET), Some(value), Some("awaiting_approval")),
        "{seen:#}"
    );
    assert_eq!(
        (cmd["reason"].as_str(), cmd["requested_by"].as_str()),
        (Some(&*format!("recommendation {REC}")), Some("alice"))
    );
    assert_eq!(first[1]["recommendation"]["commands"], json!([cmd["id"]]), "{seen:#}");
    assert!(seen["first_applying"].is_object(), "clients saw `applying`: {seen:#}");
    assert_eq!(seen["twice"][0], 409, "{seen:#}");
    assert_eq!(seen["reject_applying"][0], 409, "no rejection while applying: {seen:#}");

    // Left unapproved, the command expired: approved again, with why.
    let error = seen["expired"]["applyError"].as_str().unwrap_or_default();
    let want = format!("command {} ({TARGET}) ended expired: no approval in time", cmd["id"].as_str().unwrap());
    assert_eq!(error, want, "{seen:#}");

    let second = &seen["second"];
    assert_eq!(
        (second[0].as_u64(), second[1]["commands"][0]["state"].as_str()),
        (Some(202), Some("awaiting_approval"))
    );
    assert!(second[1]["recommendation"].get("applyError").is_none(), "a new apply clears the old error: {seen:#}");
    assert_eq!(seen["self_approval"][0], 409, "the requester cannot approve: {seen:#}");
    assert_eq!(seen["approval"][0], 200, "{seen:#}");
    assert_eq!(seen["approval"][1]["state"], "verified", "{seen:#}");
    assert_eq!(seen["approval"][1]["approved_by"], "carol", "{seen:#}");
    let applied = &seen["applied"];
    assert!(applied.is_object(), "clients saw `applied`: {seen:#}");
    assert_eq!(applied["commands"], json!([second[1]["commands"][0]["id"]]), "{seen:#}");

    // The value is in the plant (the simulator), and in the demo's own twin of it.
    assert_eq!(read_with_asyncua(&endpoint, &node), value, "the value reached the simulator");
    wait_until("the demo's live stage showing the new setpoint", 60, || on_demo_stage(&demo_stage) == Some(value));
    // And the state in the service's answer and in the results layer, for any USD app.
    assert_eq!(listed(listen, REC)["state"], "applied");
    let layer = in_layer(&stage, REC);
    assert_eq!(layer["state"], "applied", "{layer}");
    assert_eq!(layer["commands"], applied["commands"], "{layer}");
    assert_eq!(listed(listen, PLANNING)["state"], "approved", "the planning action is untouched");
    drop(_svc);

    // Level 5 (autonomous): a target without `approval = true` is written at once; a write the plant
    // refuses sends the recommendation back to `approved` with why.
    write_config(&config, &stage, listen, &endpoint, ns, 5);
    let _svc = start_service(&config, listen, &dir.path().join("level5.log"));
    for id in [DIRECT, OUT_OF_RANGE] {
        let (status, body) = post(
            listen,
            &format!("/v1/recommendations/{id}/state"),
            None,
            r#"{"state": "approved", "by": "line manager"}"#,
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, direct) = post(listen, &format!("/v1/recommendations/{DIRECT}/apply"), Some("alice-token"), "");
    assert_eq!(status, 200, "{direct}");
    assert_eq!(direct["recommendation"]["state"], "applied", "{direct}");
    assert_eq!(direct["commands"][0]["state"], "verified", "{direct}");
    assert_eq!(read_with_asyncua(&endpoint, &node2), zone2 + 5.0, "the value reached the simulator");
    assert_eq!(in_layer(&stage, DIRECT)["state"], "applied");

    let (status, failed) =
        post(listen, &format!("/v1/recommendations/{OUT_OF_RANGE}/apply"), Some("alice-token"), r#"{"by": "alice"}"#);
    assert_eq!(status, 409, "{failed}");
    assert_eq!(failed["commands"][0]["state"], "failed", "{failed}");
    assert_eq!(failed["recommendation"]["state"], "approved", "{failed}");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("/Plant/Paint/Oven/Zone03.twinloom:temperatureSetpoint) ended failed"), "{failed}");
    let layer = in_layer(&stage, OUT_OF_RANGE);
    assert_eq!((layer["state"].as_str(), layer["applyError"].as_str()), (Some("approved"), Some(error)), "{layer}");
}
