//! MQTT test infrastructure: Eclipse Mosquitto brokers on free loopback ports (Debian's `mosquitto`, which
//! `ci/mosquitto-env` installs), test certificates for TLS listeners, and [`LinePeer`], the driver of the
//! line-protocol peers of tests/peers (sparkplug_raw.py, sparkplug_edge.py, mqtt_json.py, mqtt_sniff.py:
//! commands on stdin, one answer line each on stdout, unsolicited lines in between).

use crate::{python, workspace_root, ChildGuard, TempDir};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a test broker is set up beyond the defaults (anonymous, plain TCP).
#[derive(Clone, Debug, Default)]
pub struct MosquittoOptions {
    /// (user, password) pairs, written to a password file with `mosquitto_passwd -b`; when non-empty,
    /// anonymous clients are refused.
    pub users: Vec<(String, String)>,
    /// (certificate, key, CA) PEM files: the listener speaks TLS (MQTT over TLS on the same port).
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// With `tls`: clients must present a certificate signed by the CA (mutual TLS).
    pub require_client_cert: bool,
}

/// The mosquitto program: /usr/sbin/mosquitto, or `mosquitto` on PATH. Panics with instructions when it is
/// missing.
pub fn mosquitto_bin() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/mosquitto");
    if sbin.exists() {
        return sbin;
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("mosquitto")).find(|c| c.is_file()))
        .unwrap_or_default();
    on_path.unwrap_or_else(|| panic!("mosquitto is missing: run ci/mosquitto-env (ci/test does) first"))
}

/// An anonymous, plain-TCP mosquitto broker on 127.0.0.1:`port`, ready to accept connections.
pub fn start_mosquitto(port: u16) -> ChildGuard {
    start_mosquitto_with(port, &MosquittoOptions::default())
}

/// A mosquitto broker on 127.0.0.1:`port` as `opts` say, ready to accept connections (TCP accepts within
/// 10 s; panics with the broker's stderr otherwise). No persistence; queues and in-flight windows are
/// large so benchmarks do not lose QoS 1 messages; only errors and warnings are logged, to the test's
/// stderr prefixed `mosquitto[PORT]:`.
pub fn start_mosquitto_with(port: u16, opts: &MosquittoOptions) -> ChildGuard {
    let dir = TempDir::new("mosquitto");
    let mut conf = format!(
        "# written by twinloom-tests (tests/src/mosquitto.rs)\n\
         per_listener_settings false\n\
         listener {port} 127.0.0.1\n\
         persistence false\n\
         max_queued_messages 1000000\n\
         max_inflight_messages 1000\n\
         set_tcp_nodelay true\n\
         # when started as root, do not switch to the `mosquitto` user (which could not read the test's files)\n\
         user root\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         log_timestamp false\n"
    );
    if opts.users.is_empty() {
        conf.push_str("allow_anonymous true\n");
    } else {
        let pw = dir.path().join("passwd");
        std::fs::write(&pw, "").expect("write the password file");
        for (user, pass) in &opts.users {
            let out = Command::new("mosquitto_passwd")
                .arg("-b")
                .arg(&pw)
                .arg(user)
                .arg(pass)
                .output()
                .unwrap_or_else(|e| panic!("run mosquitto_passwd (ci/mosquitto-env installs it): {e}"));
            crate::check_output("mosquitto_passwd", &out);
        }
        conf.push_str(&format!("allow_anonymous false\npassword_file {}\n", pw.display()));
    }
    if let Some((cert, key, ca)) = &opts.tls {
        conf.push_str(&format!(
            "certfile {}\nkeyfile {}\ncafile {}\nrequire_certificate {}\n",
            cert.display(),
            key.display(),
            ca.display(),
            opts.require_client_cert
        ));
    }
    let file = dir.path().join("mosquitto.conf");
    std::fs::write(&file, &conf).expect("write mosquitto.conf");
    let mut child = Command::new(mosquitto_bin())
        .arg("-c")
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start mosquitto: {e}"));
    let log = Arc::new(Mutex::new(String::new()));
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (log, started) = (log.clone(), started.clone());
        let err = child.stderr.take().expect("mosquitto's stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("should not be run as root") {
                    continue;
                }
                if started.load(std::sync::atomic::Ordering::Relaxed) {
                    eprintln!("mosquitto[{port}]: {line}");
                }
                let mut l = log.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let _ = reader.join();
            panic!(
                "mosquitto on 127.0.0.1:{port} exited ({status}) before accepting connections:\n{}\n--- config\n{conf}",
                log.lock().unwrap()
            );
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let _ = reader.join();
            panic!(
                "mosquitto did not accept connections on 127.0.0.1:{port} within 10 s:\n{}\n--- config\n{conf}",
                log.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    started.store(true, std::sync::atomic::Ordering::Relaxed);
    // The broker has read its configuration and password file: the folder can go.
    drop(dir);
    ChildGuard(child)
}

/// PEM files for TLS tests, made with Python's `cryptography` by [`TestCerts::make`]: a CA, a server
/// certificate for 127.0.0.1 (and `localhost`) and a client certificate, both signed by the CA.
#[derive(Clone, Debug)]
pub struct TestCerts {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

const MAKE_CERTS: &str = r#"
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

out = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
def make(stem, cn, issuer=None, issuer_key=None, usage=None):
    k = ec.generate_private_key(ec.SECP256R1())
    b = (x509.CertificateBuilder().subject_name(name(cn))
         .issuer_name(issuer.subject if issuer else name(cn)).public_key(k.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True))
    if issuer is None:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
            content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                         x509.DNSName("localhost")]), critical=False)
    cert = b.sign(issuer_key or k, hashes.SHA256())
    (out / f"{stem}.key").write_bytes(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (out / f"{stem}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, k
ca, ca_key = make("ca", "twinloom test CA")
make("server", "127.0.0.1", ca, ca_key, ExtendedKeyUsageOID.SERVER_AUTH)
make("client", "twinloom-client", ca, ca_key, ExtendedKeyUsageOID.CLIENT_AUTH)
"#;

impl TestCerts {
    /// Writes ca.pem, server.pem/.key and client.pem/.key into `dir` (needs the venv).
    pub fn make(dir: &Path) -> TestCerts {
        crate::run_python(MAKE_CERTS, &[&dir.display().to_string()]);
        TestCerts {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }

    /// The `tls` of [`MosquittoOptions`] for a broker with the server certificate.
    pub fn broker_tls(&self) -> Option<(PathBuf, PathBuf, PathBuf)> {
        Some((self.server_cert.clone(), self.server_key.clone(), self.ca.clone()))
    }
}

/// A running peer of tests/peers that speaks the line protocol: commands on stdin, exactly one answer
/// line per command on stdout, and unsolicited lines in between (those starting with `EVENT `, `WAITING `
/// or `{`: events of the Sparkplug peers, messages of mqtt_sniff.py). Answers and unsolicited lines are
/// kept apart in arrival order, so waiting for one never loses the other. Killed when dropped. Panics
/// (with the peer's stderr) when it exits or stays silent past a timeout.
pub struct LinePeer {
    name: String,
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    answers: VecDeque<String>,
    unsolicited: VecDeque<String>,
    stderr: Arc<Mutex<String>>,
}

/// How long [`LinePeer`] waits for an answer by default.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

impl LinePeer {
    /// Starts `python tests/peers/SCRIPT ARGS...` without waiting for anything.
    pub fn spawn(script: &str, args: &[&str]) -> LinePeer {
        let mut child = Command::new(python())
            .arg("-u")
            .arg(workspace_root().join("tests/peers").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}"));
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().expect("the peer's stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("the peer's stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let name = format!("{script} {}", args.join(" "));
        LinePeer {
            name,
            stdin: child.stdin.take(),
            child: ChildGuard(child),
            lines,
            answers: VecDeque::new(),
            unsolicited: VecDeque::new(),
            stderr,
        }
    }

    /// Starts the peer and waits until it says `READY` (its first answer line).
    pub fn start(script: &str, args: &[&str]) -> LinePeer {
        let mut peer = LinePeer::spawn(script, args);
        peer.wait_ready();
        peer
    }

    /// Waits for the `READY` line (unsolicited lines before it, like `WAITING STATE ID`, are kept).
    pub fn wait_ready(&mut self) {
        let line = self.answer(PEER_TIMEOUT);
        assert!(line.starts_with("READY"), "{} said {line:?} instead of READY\n{}", self.name, self.stderr());
    }

    fn is_unsolicited(line: &str) -> bool {
        line.starts_with("EVENT ") || line.starts_with("WAITING ") || line.starts_with('{')
    }

    /// Reads one more line into its queue; false on timeout; panics when the peer has exited.
    fn pump(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                if Self::is_unsolicited(&line) {
                    self.unsolicited.push_back(line);
                } else {
                    self.answers.push_back(line);
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait_exit(Duration::from_secs(5));
                panic!("{} closed its stdout (exit {status:?}); stderr:\n{}", self.name, self.stderr())
            }
        }
    }

    /// Sends one command line (a newline is added).
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is closed");
        writeln!(stdin, "{line}")
            .and_then(|_| stdin.flush())
            .unwrap_or_else(|e| panic!("write {line:?} to {}: {e}\n{}", self.name, self.stderr()));
    }

    /// The next answer line (not an unsolicited one), within `timeout`.
    pub fn answer(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while self.answers.is_empty() {
            if !self.pump(deadline) {
                panic!("{}: no answer within {timeout:?}; stderr:\n{}", self.name, self.stderr());
            }
        }
        self.answers.pop_front().unwrap()
    }

    /// Sends a command and returns its answer line as it is (`OK …` or `ERR …`).
    pub fn request(&mut self, line: &str) -> String {
        self.send(line);
        self.answer(PEER_TIMEOUT)
    }

    /// Sends a command and returns its answer, which must start with `OK`.
    pub fn cmd(&mut self, line: &str) -> String {
        let answer = self.request(line);
        assert!(answer.starts_with("OK"), "{}: {line:?} answered {answer:?}\n{}", self.name, self.stderr());
        answer
    }

    /// The next unsolicited line (`EVENT …`, `WAITING …`, `{…}`) within `timeout`, or None.
    pub fn next_unsolicited(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while self.unsolicited.is_empty() {
            if !self.pump(deadline) {
                return None;
            }
        }
        self.unsolicited.pop_front()
    }

    /// The first unsolicited line for which `want` holds, within `timeout`; the lines before it are
    /// dropped. Panics, listing the lines seen, when none comes.
    pub fn wait_unsolicited(&mut self, timeout: Duration, mut want: impl FnMut(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_unsolicited(left) {
                Some(line) if want(&line) => return line,
                Some(line) => seen.push(line),
                None => panic!(
                    "{}: the awaited line did not come within {timeout:?}; seen:\n{}\nstderr:\n{}",
                    self.name,
                    seen.join("\n"),
                    self.stderr()
                ),
            }
        }
    }

    /// Every unsolicited line until none came for `quiet`.
    pub fn drain_unsolicited(&mut self, quiet: Duration) -> Vec<String> {
        std::iter::from_fn(|| self.next_unsolicited(quiet)).collect()
    }

    /// Closes the peer's stdin (the peers exit then).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits up to `timeout` for the peer to exit; its status, or None if it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.0.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the peer wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}
