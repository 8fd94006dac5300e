//! The forwarder against a real `nats-server` that wants mutual TLS and nkeys (issue 20, docs/nats.md
//! "Security"): the server runs docs/nats.md's `tls` and `authorization` blocks as printed (files and keys
//! put in their place), the connector docs/nats.md's `[nats]` security table as printed (servers and
//! files put in their place). The CA, the server's certificate for 127.0.0.1 and the client certificates
//! (and a second CA with a client of its own) are made for the test with Python's `cryptography` (the
//! venv of ci/python-env); the user nkeys with the `nkeys` crate (the one async-nats signs with).
//!
//! With the client certificate and the site's seed the connector makes its stream and forwards, and the
//! documented aggregator nkey reads every delta back, each once. Without the client certificate, trusting
//! another CA, with another CA's client certificate, or with a seed the server does not know, it forwards
//! nothing, counts `twinloom_nats_errors_total` and stays ready. A second test runs the server in
//! operator mode (operator, system and site account and user JWTs signed with nkeys here, preloaded into
//! the memory resolver) with docs/nats.md's `.creds` table: a user of an unknown account is refused, the
//! site's user forwards into its account's stream. A third runs a 3-node cluster whose routes speak
//! mutual TLS with docs/deploy.md's `cluster { tls { } }` block as printed (files put in their place): an
//! R3 stream forwarded into has 3 current replicas, and a fourth server with a route certificate of
//! another CA is refused by every node and stays out of the JetStream meta group.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::nats::NatsCluster;
use twinloom_tests::{free_port, http_get, metric, wait_until, workspace_root, ChildService, TempDir};

const CHILD_ENV: &str = "TWINLOOM_NATS_CHILD";

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

/// The fenced block of `doc` whose first line (after "```lang\n") starts with `first`.
fn block(doc: &str, lang: &str, first: &str) -> String {
    let open = format!("```{lang}\n{first}");
    let start = doc.find(&open).unwrap_or_else(|| panic!("a ```{lang} block starting {first:?}")) + lang.len() + 4;
    doc[start..start + doc[start..].find("```").expect("its end")].to_string()
}

/// The public key written after the `n`-th `nkey:` of a server configuration.
fn documented_nkey(conf: &str, n: usize) -> String {
    let (at, _) = conf.match_indices("nkey: ").nth(n).unwrap_or_else(|| panic!("nkey #{n} in:\n{conf}"));
    conf[at + 6..].split_whitespace().next().unwrap().to_string()
}

/// The plant simulator (500 signals at 10 Hz) on a free port.
fn simulator(rt: &tokio::runtime::Runtime, seed: u64) -> SimulatorHandle {
    rt.block_on(Simulator::start(SimConfig { port: 0, seed, signals: 500, update_hz: 10.0, ..SimConfig::default() }))
        .expect("simulator")
}

/// A connector configuration `dir/name`: the simulator's BIW line, the journal on, the `[nats]` table
/// `nats` with `replicas` and a 1 s ack timeout.
fn service_config(
    dir: &Path,
    name: &str,
    listen: SocketAddr,
    sim: &SimulatorHandle,
    nats: &str,
    replicas: u8,
) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 50\n\n[stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
             {nats}\nreplicas = {replicas}\nack_timeout_s = 1\n\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n",
            sim.endpoint_url(),
            sim.namespace_index()
        ),
    )
    .unwrap();
    path
}

#[test]
fn mutual_tls_and_nkeys_as_documented() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("nats-security");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    twinloom_tests::make_test_certificates(&certs);
    let doc = std::fs::read_to_string(workspace_root().join("docs/nats.md")).unwrap();

    // The server's files where docs/nats.md puts them (/etc/nats/…, here in the test's folder).
    let etc_nats = dir.path().join("etc-nats");
    std::fs::create_dir_all(&etc_nats).unwrap();
    for (from, to) in [("server.pem", "server-cert.pem"), ("server.key", "server-key.pem"), ("ca.pem", "ca.pem")] {
        std::fs::copy(certs.join(from), etc_nats.join(to)).unwrap();
    }
    let tls = block(&doc, "conf", "tls {").replace("/etc/nats/", &format!("{}/", etc_nats.display()));
    // The documented nkeys, replaced by ours (the site's connector, then the aggregator).
    let connector_key = nkeys::KeyPair::new_user();
    let aggregator_key = nkeys::KeyPair::new_user();
    let stranger_key = nkeys::KeyPair::new_user();
    let auth = block(&doc, "conf", "authorization {");
    let auth = auth
        .replace(&documented_nkey(&auth, 0), &connector_key.public_key())
        .replace(&documented_nkey(&auth, 1), &aggregator_key.public_key());
    let cluster = NatsCluster::start_with(1, &format!("{tls}\n{auth}"));
    let url = format!("tls://127.0.0.1:{}", cluster.nodes[0].port);

    // The connector's files where docs/nats.md puts them (/etc/twinloom/…).
    let etc = dir.path().join("etc-twinloom");
    std::fs::create_dir_all(&etc).unwrap();
    let seed = |name: &str, key: &nkeys::KeyPair| std::fs::write(etc.join(name), key.seed().unwrap() + "\n").unwrap();
    seed("north.nk", &connector_key);
    seed("stranger.nk", &stranger_key);
    for (from, to) in [
        ("ca.pem", "nats-ca.pem"),
        ("client.pem", "north-cert.pem"),
        ("client.key", "north-key.pem"),
        ("other-ca.pem", "other-ca.pem"),
        ("other-client.pem", "other-cert.pem"),
        ("other-client.key", "other-key.pem"),
    ] {
        std::fs::copy(certs.join(from), etc.join(to)).unwrap();
    }
    let table = block(&doc, "toml", "[nats]\nenabled = true\nservers = [\"tls://");
    let table: String = table
        .lines()
        .map(|l| if l.starts_with("servers = ") { format!("servers = [{url:?}]") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("/etc/twinloom/", &format!("{}/", etc.display()));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = simulator(&rt, 23);
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("service.log");
    let config = |name: &str, nats: &str| service_config(dir.path(), name, listen, &sim, nats, 1);

    // Refused: each changes one thing of the documented table.
    let refused = [
        (
            "without the client certificate",
            table.replace("tls_cert = ", "# tls_cert = ").replace("tls_key = ", "# tls_key = "),
        ),
        ("trusting another CA", table.replace("nats-ca.pem", "other-ca.pem")),
        (
            "with another CA's client certificate",
            table.replace("north-cert.pem", "other-cert.pem").replace("north-key.pem", "other-key.pem"),
        ),
        ("with a seed the server does not know", table.replace("north.nk", "stranger.nk")),
    ];
    for (i, (what, nats)) in refused.iter().enumerate() {
        let svc = start(&config(&format!("refused-{i}.toml"), nats), listen, &log);
        wait_until(&format!("errors counted {what}"), 30, || metric(listen, "twinloom_nats_errors_total") >= 1.0);
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(metric(listen, "twinloom_nats_connected"), 0.0, "{what}: not connected");
        assert_eq!(metric(listen, "twinloom_nats_forwarded_total"), 0.0, "{what}: nothing forwarded");
        assert!(metric(listen, "twinloom_nats_forward_lag_records") > 0.0, "{what}: the backlog waits in the journal");
        assert_eq!(http_get(listen, "/readyz").0, 200, "{what}: the service runs on without the cluster");
        eprintln!("{what}: refused, {} errors counted", metric(listen, "twinloom_nats_errors_total"));
        svc.stop();
    }

    // The documented table: it forwards (the backlog of the refused runs included).
    let svc = start(&config("plant.toml", &table), listen, &log);
    wait_until("deltas forwarded over mutual TLS with the nkey", 60, || {
        metric(listen, "twinloom_nats_forwarded_total") >= 50.0
            && metric(listen, "twinloom_nats_forward_lag_records") < 5.0
    });
    assert_eq!(metric(listen, "twinloom_nats_connected"), 1.0);
    svc.stop();

    // The documented aggregator key reads every delta back, over TLS.
    let journal = dir.path().join("stage/journal");
    let epoch: u64 = std::fs::read_to_string(journal.join("epoch")).unwrap().trim().parse().unwrap();
    let (j, _) =
        twinloom_journal::Journal::open(&journal, twinloom_journal::Options::default()).expect("open the journal");
    let mut reader = j.reader(j.first_position()).expect("journal reader");
    let mut last = 0;
    while let Some(r) = reader.next_record() {
        let (_, payload) = r.expect("a journal record");
        last = last.max(u64::from_le_bytes(payload[..8].try_into().unwrap()));
    }
    let ids: Vec<String> = rt.block_on(async {
        let client = async_nats::ConnectOptions::with_nkey(aggregator_key.seed().unwrap())
            .add_root_certificates(etc.join("nats-ca.pem"))
            .add_client_certificate(etc.join("north-cert.pem"), etc.join("north-key.pem"))
            .require_tls(true)
            .connect(url.as_str())
            .await
            .expect("the aggregator connects");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("TWINLOOM_NORTH").await.expect("the stream exists");
        let info = stream.info().await.expect("stream info").clone();
        let mut ids = Vec::new();
        for seq in info.state.first_sequence..=info.state.last_sequence {
            let m = stream.get_raw_message(seq).await.expect("get a stream message");
            // The deltas (the stream also holds the site's description, `<prefix>.<site>._.stage`).
            if m.subject.ends_with(".deltas") {
                ids.push(m.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_string()).unwrap_or_default());
            }
        }
        ids
    });
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "every id once");
    let want: BTreeSet<String> = (1..=last).map(|s| format!("north:{epoch}:{s}")).collect();
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), want, "every delta of the journal, 1..={last}");
    eprintln!("mutual TLS + nkey: {} deltas forwarded, read back with the aggregator's nkey", ids.len());
    drop(sim);
}

/// `data` in base64url without padding (the JWT encoding).
fn base64url(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// A NATS JWT (v2) of `nats` claims about `subject`, signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use sha2::Digest;
    let header = base64url(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let iat = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut claims =
        serde_json::json!({"iat": iat, "iss": issuer.public_key(), "name": name, "sub": subject, "nats": nats});
    let jti = sha2::Sha256::digest(claims.to_string().as_bytes());
    claims["jti"] = serde_json::Value::String(base64url(&jti));
    let body = format!("{header}.{}", base64url(claims.to_string().as_bytes()));
    let signature = issuer.sign(body.as_bytes()).expect("sign the JWT");
    format!("{body}.{}", base64url(&signature))
}

/// A `.creds` file's text: the user's JWT and seed, as `nsc generate creds` writes them.
fn creds(user_jwt: &str, user: &nkeys::KeyPair) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().unwrap()
    )
}

/// Operator mode (decentralised JWT auth, as `nsc` sets it up): an operator, an account with JetStream
/// and a user of it, preloaded into the server's memory resolver. docs/nats.md's `.creds` table (file put
/// in its place) forwards; a user issued by an account the server does not know is refused.
#[test]
fn a_creds_file_in_operator_mode() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("nats-creds");
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let stranger = nkeys::KeyPair::new_account();
    // JetStream in operator mode needs a system account.
    let system = nkeys::KeyPair::new_account();
    let unlimited = serde_json::json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1,
        "leaf": -1, "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1
    });
    let operator_jwt =
        jwt(&operator, &operator.public_key(), "plant-it", serde_json::json!({"type": "operator", "version": 2}));
    let account_jwt = jwt(
        &operator,
        &account.public_key(),
        "NORTH",
        serde_json::json!({"limits": unlimited, "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2}),
    );
    let user_claims =
        serde_json::json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2});
    let user = nkeys::KeyPair::new_user();
    let etc = dir.path().join("etc-twinloom");
    std::fs::create_dir_all(&etc).unwrap();
    let user_creds = creds(&jwt(&account, &user.public_key(), "north-connector", user_claims.clone()), &user);
    std::fs::write(etc.join("north.creds"), &user_creds).unwrap();
    let other = nkeys::KeyPair::new_user();
    std::fs::write(
        etc.join("stranger.creds"),
        creds(&jwt(&stranger, &other.public_key(), "stranger", user_claims), &other),
    )
    .unwrap();
    let system_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1}, "type": "account", "version": 2}),
    );
    let server = format!(
        "operator: \"{operator_jwt}\"\nsystem_account: {sys}\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{account_jwt}\"\n  {sys}: \"{system_jwt}\"\n}}\n",
        account.public_key(),
        sys = system.public_key()
    );
    let cluster = NatsCluster::start_with(1, &server);
    let url = cluster.nodes[0].url();

    let doc = std::fs::read_to_string(workspace_root().join("docs/nats.md")).unwrap();
    let table = block(&doc, "toml", "[nats]\nenabled = true\nservers = [\"nats://10.1.0.11:4222\"");
    let table: String = table
        .lines()
        .map(|l| if l.starts_with("servers = ") { format!("servers = [{url:?}]") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
        .replace("/etc/twinloom/", &format!("{}/", etc.display()));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = simulator(&rt, 24);
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("service.log");
    let config = |name: &str, nats: &str| service_config(dir.path(), name, listen, &sim, nats, 1);

    let svc = start(&config("stranger.toml", &table.replace("north.creds", "stranger.creds")), listen, &log);
    wait_until("errors counted with another account's user", 30, || {
        metric(listen, "twinloom_nats_errors_total") >= 1.0
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(metric(listen, "twinloom_nats_connected"), 0.0);
    assert_eq!(metric(listen, "twinloom_nats_forwarded_total"), 0.0);
    assert_eq!(http_get(listen, "/readyz").0, 200, "the service runs on without the cluster");
    svc.stop();

    let svc = start(&config("plant.toml", &table), listen, &log);
    wait_until("deltas forwarded with the .creds file", 60, || {
        metric(listen, "twinloom_nats_forwarded_total") >= 50.0
            && metric(listen, "twinloom_nats_forward_lag_records") < 5.0
    });
    svc.stop();
    let n = rt.block_on(async {
        let client = async_nats::ConnectOptions::with_credentials(&user_creds)
            .expect("the creds parse")
            .connect(url.as_str())
            .await
            .expect("connect with the creds");
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("TWINLOOM_NORTH").await.expect("the stream exists in the account");
        stream.info().await.expect("stream info").state.messages
    });
    assert!(n >= 50, "the account's stream holds the deltas: {n}");
    eprintln!(".creds (operator mode): {n} messages in the account's stream");
    drop(sim);
}

/// Route certificates for 127.0.0.1 signed by the kit's CAs (`make_test_certificates` in `certs`):
/// `route.pem`/`.key` by `ca`, `other-route.pem`/`.key` by `other-ca`. A server both dials and is dialled
/// on its routes, so its certificate is for server and client authentication both (the kit's server
/// certificate is for server authentication only, which the dialled side refuses).
fn make_route_certificates(certs: &Path) {
    const ROUTE_CERTS: &str = r#"
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

d = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)
for ca, name in [("ca", "route"), ("other-ca", "other-route")]:
    ca_key = serialization.load_pem_private_key((d / f"{ca}.key").read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate((d / f"{ca}.pem").read_bytes())
    k = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject).public_key(k.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256()))
    (d / f"{name}.key").write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
"#;
    twinloom_tests::run_python(ROUTE_CERTS, &[certs.to_str().expect("a UTF-8 path")]);
}

/// The `tls { }` block inside the `cluster { }` block of a nats-server configuration, as written there.
fn cluster_tls_block(conf: &str) -> String {
    let cluster = &conf[conf.find("\ncluster {").expect("a cluster block")..];
    let cluster = &cluster[..cluster.find("\n}").expect("its end")];
    let at = cluster.find("  tls {").unwrap_or_else(|| panic!("a tls block inside:{cluster}"));
    let end = at + cluster[at..].find("\n  }").expect("the tls block's end") + 4;
    cluster[at..end].to_string()
}

/// A node's monitoring endpoint `path`, answered 200.
fn monitor(port: u16, path: &str) -> String {
    let (status, body) = http_get(SocketAddr::from(([127, 0, 0, 1], port)), path);
    assert_eq!(status, 200, "GET {path} on {port}: {body}");
    body
}

/// The number after `"key": ` in a JSON text (the first one).
fn json_number(text: &str, key: &str) -> u64 {
    let rest = &text[text.find(&format!("\"{key}\": ")).unwrap_or_else(|| panic!("{key} in {text}")) + key.len() + 4..];
    rest[..rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len())].parse().expect("a number")
}

/// A 3-node cluster whose routes run docs/deploy.md's `cluster { tls { } }` block as printed (files put in
/// their place): the routes are up and speak TLS only, a connector forwards into its R3 stream, which has
/// 3 current replicas, and a fourth server with a route certificate of another CA is refused.
#[test]
fn cluster_routes_over_mutual_tls() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let began = Instant::now();
    let dir = TempDir::new("nats-routes");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    twinloom_tests::make_test_certificates(&certs);
    make_route_certificates(&certs);
    let deploy = std::fs::read_to_string(workspace_root().join("docs/deploy.md")).unwrap();
    let tls = cluster_tls_block(&block(&deploy, "conf", "# /etc/nats/nats.conf"));
    assert!(tls.contains("verify: true"), "the routes verify each other's certificates:\n{tls}");
    // The routes' files where docs/deploy.md puts them (/etc/nats/…, here in the test's folder).
    let etc_nats = dir.path().join("etc-nats");
    std::fs::create_dir_all(&etc_nats).unwrap();
    for (from, to) in [
        ("route.pem", "route-cert.pem"),
        ("route.key", "route-key.pem"),
        ("ca.pem", "ca.pem"),
        ("other-route.pem", "other-route-cert.pem"),
        ("other-route.key", "other-route-key.pem"),
    ] {
        std::fs::copy(certs.join(from), etc_nats.join(to)).unwrap();
    }
    let tls = tls.replace("/etc/nats/", &format!("{}/", etc_nats.display()));
    assert!(!tls.contains("/etc/"), "every file put in its place:\n{tls}");
    let mut cluster = NatsCluster::start_with_routes(3, "", &tls);
    let names: Vec<String> = cluster.nodes.iter().map(|n| n.name.clone()).collect();

    // Every node has routes to the two others, and its route port wants TLS with verified certificates.
    for node in &cluster.nodes {
        wait_until(&format!("{}'s routes to the others", node.name), 20, || {
            let routez = monitor(node.http_port, "/routez");
            names.iter().filter(|n| **n != node.name).all(|n| routez.contains(&format!("\"remote_name\": \"{n}\"")))
        });
        let varz = monitor(node.http_port, "/varz");
        let routes = &varz[varz.find("\"cluster\": {").expect("varz's cluster")..];
        let routes = &routes[..routes.find('}').unwrap()];
        assert!(routes.contains("\"tls_required\": true") && routes.contains("\"tls_verify\": true"), "{routes}");
    }
    // A route connection in plain text is refused: the route port speaks TLS only.
    {
        use std::io::Write;
        let n1 = &cluster.nodes[0];
        let mut plain = std::net::TcpStream::connect(("127.0.0.1", n1.cluster_port)).unwrap();
        plain.write_all(b"CONNECT {\"name\":\"plain\"}\r\nPING\r\n").unwrap();
        wait_until("the plain-text route refused", 10, || {
            n1.log_text().contains("TLS route handshake error: tls: first record does not look like a TLS handshake")
        });
    }

    // A connector forwards into its R3 stream over the TLS routes.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = simulator(&rt, 25);
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let servers: Vec<String> = cluster.urls();
    let nats = format!("[nats]\nenabled = true\nservers = {servers:?}\nsite = \"north\"");
    let svc = start(
        &service_config(dir.path(), "plant.toml", listen, &sim, &nats, 3),
        listen,
        &dir.path().join("service.log"),
    );
    let forwarding = Instant::now();
    wait_until("deltas forwarded into the R3 stream", 60, || {
        metric(listen, "twinloom_nats_forwarded_total") >= 100.0
            && metric(listen, "twinloom_nats_forward_lag_records") < 5.0
    });
    let forwarded = metric(listen, "twinloom_nats_forwarded_total");
    let forwarded_in = forwarding.elapsed();
    svc.stop();
    // The stream: 3 replicas, the leader and two current followers, every forwarded delta in it.
    let stream_state = || {
        rt.block_on(async {
            let client = async_nats::connect(servers.clone()).await.expect("connect to the cluster");
            let js = async_nats::jetstream::new(client);
            let mut stream = js.get_stream("TWINLOOM_NORTH").await.expect("the stream exists");
            stream.info().await.expect("stream info").clone()
        })
    };
    let mut info = stream_state();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !info.cluster.as_ref().is_some_and(|c| c.replicas.len() == 2 && c.replicas.iter().all(|r| r.current)) {
        assert!(Instant::now() < deadline, "no 3 current replicas: {:?}", info.cluster);
        std::thread::sleep(Duration::from_millis(200));
        info = stream_state();
    }
    let group = info.cluster.clone().unwrap();
    assert_eq!(info.config.num_replicas, 3);
    let leader = group.leader.clone().expect("the stream has a leader");
    let mut members: Vec<String> = group.replicas.iter().map(|r| r.name.clone()).chain([leader]).collect();
    members.sort();
    assert_eq!(members, names, "the stream's replicas are the three nodes");
    assert!(info.state.messages as f64 >= forwarded, "{} messages, {forwarded} forwarded", info.state.messages);
    eprintln!(
        "routes over mutual TLS: {forwarded} deltas forwarded in {forwarded_in:.1?}, R3 stream with {} messages, \
         leader {} and current followers {:?}",
        info.state.messages,
        group.leader.as_deref().unwrap_or("?"),
        group.replicas.iter().map(|r| &r.name).collect::<Vec<_>>()
    );

    // A fourth server whose route certificate is of the other CA (trusting the plant's CA) is refused.
    let other =
        tls.replace("/route-cert.pem", "/other-route-cert.pem").replace("/route-key.pem", "/other-route-key.pem");
    let n4 = cluster.add_node("", &other);
    // The nodes ask for a certificate of the plant's CA; n4 has none (Go's TLS client then sends none).
    wait_until("every node refuses n4's route", 20, || {
        cluster.nodes[..3]
            .iter()
            .all(|n| n.log_text().contains("TLS route handshake error: tls: client didn't provide a certificate"))
            && cluster.nodes[n4].log_text().contains("TLS route handshake error: remote error: tls: bad certificate")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(json_number(&monitor(cluster.nodes[n4].http_port, "/routez"), "num_routes"), 0, "n4 has no route");
    for node in &cluster.nodes[..3] {
        assert!(!monitor(node.http_port, "/routez").contains("\"remote_name\": \"n4\""), "{} routes to n4", node.name);
        let jsz = monitor(node.http_port, "/jsz");
        let meta = &jsz[jsz.find("\"meta_cluster\"").expect("jsz's meta_cluster")..];
        assert_eq!(json_number(meta, "cluster_size"), 3, "{}: the meta group keeps 3 peers", node.name);
    }
    cluster.kill_node(n4);
    cluster.wait_ready(Duration::from_secs(10));
    eprintln!(
        "routes over mutual TLS: n4 (other CA) refused by n1..n3, meta group of 3; {:.1?} in all",
        began.elapsed()
    );
    drop(sim);
}
