//! Recommendations on the running service (docs/prescriptive.md, "On the service"): `twinloom recommend
//! --stage` run on the folder of a running `twinloom demo` writes `recommendations.usda`; a live client
//! (Python, following docs/live-protocol.md) gets them as a `recommendations` message and from `GET
//! /v1/recommendations`; an approval over HTTP reaches every client and is written into the layer (read
//! back with Pixar's usd-core); a second approval is 409, an unknown id 404, a state an operator may not
//! set 400; a new `twinloom recommend` run announces the ids it no longer lists as `superseded`.

use serde_json::Value;
use twinloom_tests::{run_python, wait_until, TempDir};

#[path = "common/recommend.rs"]
mod recommend;
use recommend::demo;

/// Follows the stream, runs `twinloom recommend` (argv 3..) and checks the messages and the HTTP answers;
/// prints what it saw as JSON.
const CLIENT: &str = r#"
import json, subprocess, sys, time, urllib.error, urllib.request
from pxr import Sdf
from websockets.sync.client import connect

base, cli, stage = sys.argv[1], sys.argv[2], sys.argv[3]
# No keepalive pings: the client does not read while a recommend run lasts (a ping unanswered then
# would close it).
ws = connect(f"ws://{base}/v1/live", max_size=None, ping_interval=None)
assert json.loads(ws.recv())["type"] == "hello"

def next_recommendations(pred, seconds=30):
    t0 = time.time()
    while time.time() - t0 < seconds:
        try:
            msg = json.loads(ws.recv(timeout=0.5))
        except TimeoutError:
            continue
        if msg["type"] == "recommendations" and pred(msg):
            return msg
    return None

def post(path, body):
    req = urllib.request.Request(f"http://{base}{path}", data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())

subprocess.run([cli, "recommend", "--stage", stage, "--domain", "assembly"], check=True, capture_output=True)
first = next_recommendations(lambda m: len(m["items"]) > 0)
listed = json.loads(urllib.request.urlopen(f"http://{base}/v1/recommendations").read())
rid = first["items"][0]["id"]
approved = post(f"/v1/recommendations/{rid}/state", {"state": "approved", "by": "line manager"})
after = next_recommendations(lambda m: any(i["id"] == rid and i.get("state") == "approved" for i in m["items"]))
again = post(f"/v1/recommendations/{rid}/state", {"state": "approved", "by": "someone"})
unknown = post("/v1/recommendations/nothing-here/state", {"state": "approved", "by": "someone"})
bad = post(f"/v1/recommendations/{rid}/state", {"state": "applied", "by": "someone"})
# The state is in the results layer, for any USD app.
layer = Sdf.Layer.FindOrOpen(f"{stage}/recommendations.usda")
prim = "/Plant/Recommendations/" + rid.replace("-", "_")
in_layer = [layer.GetAttributeAtPath(f"{prim}.twinloom:rec:{f}").default for f in ("state", "stateBy")]
del layer
# A new run of another domain (paint only, a second): the assembly ones are superseded.
subprocess.run([cli, "recommend", "--stage", stage, "--domain", "paint"], check=True, capture_output=True)
superseded = next_recommendations(lambda m: rid in m["superseded"])
ws.close()
print(json.dumps({"first": first, "listed": listed, "approved": approved, "after": after, "again": again,
                  "unknown": unknown, "bad": bad, "superseded": superseded, "in_layer": in_layer}))
"#;

#[test]
fn recommendations_reach_live_clients_and_operators_move_their_state() {
    let dir = TempDir::new("recommend-live");
    let stage = dir.path().join("stage");
    let (_demo, addr) = demo(&stage, "120", &dir.path().join("demo.log"));
    wait_until("the demo's live layers saved", 60, || {
        ["biw", "paint", "assembly"].iter().all(|s| stage.join(format!("live/{s}.usdc")).exists())
    });
    let seen: Value = serde_json::from_str(&run_python(
        CLIENT,
        &[&addr.to_string(), env!("CARGO_BIN_EXE_twinloom"), stage.to_str().unwrap()],
    ))
    .unwrap();
    let first = &seen["first"]["items"];
    assert!(
        first.as_array().unwrap().iter().all(|i| i["domain"] == "assembly" && i["state"] == "proposed"),
        "{seen:#}"
    );
    assert_eq!(seen["listed"]["items"], *first, "GET /v1/recommendations lists what the message carried");
    assert_eq!(seen["approved"][0], 200, "{seen:#}");
    assert_eq!(
        (seen["approved"][1]["state"].as_str(), seen["approved"][1]["stateBy"].as_str()),
        (Some("approved"), Some("line manager"))
    );
    assert!(seen["after"].is_object(), "every client got the approval: {seen:#}");
    assert_eq!(seen["again"][0], 409, "{seen:#}");
    assert!(seen["again"][1]["error"].as_str().unwrap().contains("is approved"), "{seen:#}");
    assert_eq!((seen["unknown"][0].as_u64(), seen["bad"][0].as_u64()), (Some(404), Some(400)), "{seen:#}");
    assert!(seen["superseded"].is_object(), "a new run supersedes the old ids: {seen:#}");

    assert_eq!(seen["in_layer"], serde_json::json!(["approved", "line manager"]), "{seen:#}");
}
