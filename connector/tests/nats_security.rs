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
//! site's user forwards into its account's stream.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use twinloom_simulator::{SimConfig, Simulator};
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
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 23,
            signals: 500,
            update_hz: 10.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("service.log");
    let config = |name: &str, nats: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[stage]\ndir = \"stage\"\ntick_ms = 50\n\n[stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
                 {nats}\nreplicas = 1\nack_timeout_s = 1\n\n\
                 [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{}\"\n\n\
                 [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n",
                sim.endpoint_url(),
                sim.namespace_index()
            ),
        )
        .unwrap();
        path
    };

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
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 24,
            signals: 500,
            update_hz: 10.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let log = dir.path().join("service.log");
    let config = |name: &str, nats: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[stage]\ndir = \"stage\"\ntick_ms = 50\n\n[stream]\nlisten = \"{listen}\"\n\n[journal]\nenabled = true\n\n\
                 {nats}\nreplicas = 1\nack_timeout_s = 1\n\n\
                 [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{}\"\n\n\
                 [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n",
                sim.endpoint_url(),
                sim.namespace_index()
            ),
        )
        .unwrap();
        path
    };

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
