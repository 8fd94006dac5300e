//! Test kit shared by every crate's tests: where the repo and its Python venv are,
//! free loopback ports, and a guard that kills a child process when a test ends.
//!
//! The venv (`.venv`, Python 3.11 with usd-core, omniverse-asset-validator, …) is made by
//! `ci/python-env`, which `ci/test` runs first. Tests that need it fail with a message saying so.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

pub mod jetstream;
mod mosquitto;
pub use mosquitto::*;
pub mod nats;
mod service;
pub use service::ChildService;

/// The workspace root (the folder holding the top-level Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The Python interpreter of the test venv; panics with instructions when it is missing.
pub fn python() -> PathBuf {
    let py = workspace_root().join(".venv/bin/python");
    assert!(py.exists(), "{} is missing: run ci/python-env (ci/test does) first", py.display());
    py
}

/// A program installed in the test venv's bin/ (e.g. `omni_asset_validate`).
pub fn venv_bin(name: &str) -> PathBuf {
    let p = workspace_root().join(".venv/bin").join(name);
    assert!(p.exists(), "{} is missing: run ci/python-env (ci/test does) first", p.display());
    p
}

/// Polls `f` (every 50 ms) until it is true; panics naming `what` after `secs` seconds. For outcomes that
/// arrive asynchronously (a value through a broker, a counter in /metrics): never a fixed sleep.
pub fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Runs a Python script (`-c`) in the venv with `args` (`sys.argv[1:]`) and extra environment variables;
/// panics, showing stdout and stderr, when it exits non-zero; returns stdout.
pub fn run_python_with_env(script: &str, args: &[&str], env: &[(&str, &std::ffi::OsStr)], what: &str) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("start python");
    check_output(what, &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a Python snippet in the venv with the given arguments (`sys.argv[1:]`).
/// Panics, showing stdout and stderr, when it exits non-zero; returns stdout.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg("-c").arg(script).args(args).output().expect("start python");
    check_output("python", &out);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Panics with the program's output when it did not exit 0.
pub fn check_output(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs NVIDIA's `omni_asset_validate` on a file and panics with its report unless it exits 0.
pub fn omni_asset_validate(file: &Path) {
    let out = Command::new(venv_bin("omni_asset_validate")).arg(file).output().expect("start omni_asset_validate");
    check_output(&format!("omni_asset_validate {}", file.display()), &out);
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    // Below Linux's ephemeral range (32768 and up): a port the kernel hands out for `:0` listeners or for
    // outgoing connections (a parallel test's simulator, Modbus server or OPC UA client) can never take
    // it between this check and the caller's bind. Each test process starts at its own offset.
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 600) as u16 * 20;
    for _ in 0..12_000 {
        let port = 20_000 + (base - 20_000 + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("bind 127.0.0.1:0")
}

/// Kills and reaps the child when dropped, so a failing test leaves no server behind.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a Python peer server of tests/peers (`script PORT`, serving on 127.0.0.1) and waits until it
/// serves (its `READY` line). Needs the venv (`ci/python-env`).
pub fn start_python_peer(script: &str, port: u16) -> ChildGuard {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(python())
        .arg(workspace_root().join("tests/peers").join(script))
        .arg(port.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        BufReader::new(out).read_line(&mut line).expect("the peer's READY line");
    }
    let guard = ChildGuard(child);
    assert!(line.starts_with("READY"), "{script} said {line:?}");
    guard
}

/// The independent asyncua OPC UA server (tests/peers/opcua_server.py) on `port`.
pub fn start_asyncua_peer(port: u16) -> ChildGuard {
    start_python_peer("opcua_server.py", port)
}

/// The independent pymodbus Modbus TCP server (tests/peers/modbus_server.py) on `port`.
pub fn start_modbus_peer(port: u16) -> ChildGuard {
    start_python_peer("modbus_server.py", port)
}

/// A fresh temporary folder under target/ that is removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = workspace_root().join("target/test-tmp").join(format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plain HTTP/1.1 GET on loopback; returns (status, body). For the connector's ops endpoints.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    http_request(addr, "GET", path, None, None)
}

/// A plain HTTP/1.1 request on loopback with an optional bearer token and JSON body; returns (status,
/// body). For the connector's ops endpoints and command API.
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&str>,
) -> (u16, String) {
    try_http_request(addr, method, path, bearer, json_body).unwrap_or_else(|(step, e)| panic!("{step}: {e:?}"))
}

/// [`http_request`] without panicking: the step that failed (`connect`, `send request`, `read response`)
/// and its error.
fn try_http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    json_body: Option<&str>,
) -> Result<(u16, String), (&'static str, std::io::Error)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| ("connect", e))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = bearer {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = json_body.unwrap_or("");
    if json_body.is_some() {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    write!(s, "{head}\r\n{body}").map_err(|e| ("send request", e))?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| ("read response", e))?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Ok((status, body))
}

/// One sample's value from a Prometheus `/metrics` page (`name` includes any labels); NaN when absent.
/// Panics when the page cannot be fetched.
pub fn metric(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (_, body) = http_get(addr, "/metrics");
    sample(&body, name).unwrap_or(f64::NAN)
}

/// [`metric`] without panicking: `None` when the page cannot be fetched (nothing listens there, say while
/// the service binds again) or the sample is absent.
pub fn try_metric(listen: std::net::SocketAddr, name: &str) -> Option<f64> {
    let (_, body) = try_http_request(listen, "GET", "/metrics", None, None).ok()?;
    sample(&body, name)
}

/// The value of sample `name` on the Prometheus page `body`.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Checks that `stage` renders the same with and without Twinloom's schema plugin
/// (tests/peers/portable_stage.py: every prim with xform ops Xformable without the plugin, world
/// transforms equal to 1e-9, the defaultPrim Xformable or a Scope, no UsdValidation error either way) and
/// that NVIDIA's `omni_asset_validate` passes on it without the plugin and with it. Panics with the
/// reports otherwise; returns the script's JSON summary.
pub fn assert_portable_stage(stage: &Path) -> String {
    let plugin = workspace_root().join("usd-schemas");
    let out = Command::new(python())
        .arg(workspace_root().join("tests/peers/portable_stage.py"))
        .arg(stage)
        .arg(&plugin)
        .env_remove("PXR_PLUGINPATH_NAME")
        .output()
        .expect("start portable_stage.py");
    check_output(&format!("portable_stage.py {}", stage.display()), &out);
    for with_plugin in [false, true] {
        let mut cmd = Command::new(venv_bin("omni_asset_validate"));
        cmd.arg(stage).env_remove("PXR_PLUGINPATH_NAME");
        if with_plugin {
            cmd.env("PXR_PLUGINPATH_NAME", &plugin);
        }
        let v = cmd.output().expect("start omni_asset_validate");
        let how = if with_plugin { "with" } else { "without" };
        check_output(&format!("omni_asset_validate {} ({how} the Twinloom plugin)", stage.display()), &v);
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts `twinloom demo` (the program at `twinloom`) serving on `addr` and writing its stage to `out`, with
/// `extra` arguments before `--out` and its stderr in `log` (or dropped), and waits until it answers
/// `/healthz`. The demo stops when the guard is dropped.
pub fn start_demo(
    twinloom: &str,
    addr: std::net::SocketAddr,
    out: &Path,
    extra: &[&str],
    log: Option<&Path>,
) -> ChildGuard {
    let stderr = match log {
        Some(path) => std::process::Stdio::from(std::fs::File::create(path).expect("demo log")),
        None => std::process::Stdio::null(),
    };
    let demo = ChildGuard(
        Command::new(twinloom)
            .args(["demo", "--listen", &addr.to_string()])
            .args(extra)
            .arg("--out")
            .arg(out)
            .stdout(std::process::Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start twinloom demo"),
    );
    wait_until("the demo serving /healthz", 180, || {
        std::net::TcpStream::connect(addr).is_ok() && http_get(addr, "/healthz").0 == 200
    });
    demo
}

/// Writes PEM files into `dir` (Python's `cryptography`, in the venv): a CA (`ca.pem`, `ca.key`), a server
/// certificate for 127.0.0.1 signed by it (`server.pem`, `server.key`), a client certificate signed by it
/// (`client.pem`, `client.key`), and a second CA with a client certificate of its own (`other-ca.*`,
/// `other-client.*`), for tests of TLS and mutual TLS.
pub fn make_test_certificates(dir: &Path) {
    const MAKE_CERTS: &str = r#"
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

out = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)

def key():
    return ec.generate_private_key(ec.SECP256R1())

def save(name, k, cert):
    (out / f"{name}.key").write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (out / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

def cert(cn, k, issuer=None, issuer_key=None, ca=False, server=False):
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .issuer_name(issuer.subject if issuer else x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(issuer_key or k, hashes.SHA256())

for ca_name, client_name in [("ca", "client"), ("other-ca", "other-client")]:
    ca_key = key(); ca = cert(ca_name, ca_key, ca=True); save(ca_name, ca_key, ca)
    k = key(); save(client_name, k, cert(client_name, k, ca, ca_key))
    if ca_name == "ca":
        k = key(); save("server", k, cert("twinloom", k, ca, ca_key, server=True))
"#;
    run_python(MAKE_CERTS, &[dir.to_str().expect("a UTF-8 path")]);
}
