//! The command API over mutual TLS: with `write_back.tls_listen` and `client_ca`, a client holding a
//! certificate of that CA (and a bearer token) gets its command verified; a client without a certificate,
//! or with one from another CA, is refused in the handshake; the plain listener answers `403` for
//! commands. Certificates are made for the test with Python's `cryptography`; the client is Python's `ssl`.

use serde_json::json;
use twinloom_connector::Config;
use twinloom_simulator::{SimConfig, Simulator};
use twinloom_tests::{http_request, run_python, TempDir};

const TOKEN: &str = "tls-token";

/// POSTs a command over TLS (trusting `ca.pem`, presenting `client` unless it is empty); prints the
/// command's state, or `refused: <why>` when the connection fails.
const CLIENT: &str = r#"
import json, ssl, sys, urllib.request
from pathlib import Path
url, certs, client, token, target = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=str(Path(certs) / "ca.pem"))
if client:
    ctx.load_cert_chain(str(Path(certs) / f"{client}.pem"), str(Path(certs) / f"{client}.key"))
body = json.dumps({"target": target, "value": 190.0, "reason": "over mutual TLS"}).encode()
req = urllib.request.Request(url + "/v1/commands", data=body, method="POST",
                             headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        print(json.load(r)["state"])
except Exception as e:
    print("refused:", type(e).__name__)
"#;

#[test]
fn commands_over_mutual_tls() {
    let dir = TempDir::new("write-back-tls");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    twinloom_tests::make_test_certificates(&certs);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig { port: 0, seed: 3, signals: 2000, ..SimConfig::default() }))
        .expect("simulator");
    let ns = sim.namespace_index();
    let zone3 = "/Plant/Paint/Oven/Zone03.twinloom:setpoint";
    // docs/write-back.md's [write_back] TLS example, as printed, pointed at this test's files and a free port.
    let doc = std::fs::read_to_string(twinloom_tests::workspace_root().join("docs/write-back.md")).unwrap();
    let write_back: String = doc
        .lines()
        .skip_while(|l| *l != "    [write_back]")
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect::<String>()
        .replace("0.0.0.0:8766", "127.0.0.1:0")
        .replace("pki/twinloom.pem", "certs/server.pem")
        .replace("pki/twinloom.key", "certs/server.key")
        .replace("pki/operators-ca.pem", "certs/ca.pem");
    assert!(write_back.contains("client_ca = \"certs/ca.pem\""), "{write_back}");
    let text = format!(
        r#"
[stage]
dir = "stage"
capability_level = 5

[stream]
listen = "127.0.0.1:0"

{write_back}
[[sources]]
name = "sim"
kind = "opcua"
endpoint = "{}"

[[bindings]]
source = "sim"
node = "ns={ns};s=Plant/Paint/Oven/Zone03/Setpoint"
shop = "paint"
prim = "/Plant/Paint/Oven/Zone03"
attr = "twinloom:setpoint"
type = "double"

[[identity]]
name = "op"
token_sha256 = "{}"
roles = ["operator"]

[[writable]]
target = "{zone3}"
roles = ["operator"]
min = 0.0
max = 300.0
"#,
        sim.endpoint_url(),
        twinloom_connector::command::config::token_sha256(TOKEN)
    );
    let cfg = Config::parse(&text, &dir.path().join("tls.toml")).unwrap_or_else(|e| panic!("{e}"));
    let svc = twinloom_connector::spawn(rt.handle(), cfg).expect("service");
    let tls = svc.started.command_tls.expect("the TLS command API");
    let url = format!("https://{tls}");
    let certs_arg = certs.display().to_string();
    let client = |who: &str| run_python(CLIENT, &[&url, &certs_arg, who, TOKEN, zone3]).trim().to_string();
    assert!(client("").starts_with("refused:"), "no client certificate");
    assert!(client("other-client").starts_with("refused:"), "a certificate of another CA");
    assert!(sim.write_log().is_empty());
    assert_eq!(client("client"), "verified");
    assert_eq!(sim.write_log().len(), 1);
    // The plain listener serves the stream, not commands.
    let body = json!({"target": zone3, "value": 191.0, "reason": "plain"}).to_string();
    let (status, text) = http_request(svc.started.listen, "POST", "/v1/commands", Some(TOKEN), Some(&body));
    assert_eq!(status, 403, "{text}");
    assert!(text.contains(&format!("https://{tls}")), "{text}");
    assert_eq!(sim.write_log().len(), 1);
    svc.stop(rt.handle()).expect("stop");
    rt.block_on(sim.shutdown());
}
