//! `twinloom run` always ends on SIGTERM, whatever its OPC UA server does: with the server killed before
//! the signal (the source reconnecting), and with a server that stops answering (a silent network cut,
//! made by a proxy that keeps the connection open and forwards nothing). It saves its live layers and
//! exits 0 within seconds; a second SIGTERM skips the waits.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use twinloom_simulator::{SimConfig, Simulator, SimulatorHandle};
use twinloom_tests::{free_port, http_get, ChildGuard, TempDir};

/// The longest a shutdown may take here (the service's own bounds add up to about 8 s; a loaded CI
/// machine gets slack).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn simulator(rt: &tokio::runtime::Runtime) -> SimulatorHandle {
    rt.block_on(Simulator::start(SimConfig { port: 0, seed: 3, signals: 600, update_hz: 10.0, ..SimConfig::default() }))
        .expect("simulator")
}

/// A TCP proxy to `target` that goes silent on `freeze`: it keeps every connection open and forwards
/// nothing more, in either direction (what a cut cable or a dropped VPN looks like to the client).
struct Proxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn start(rt: &tokio::runtime::Runtime, target: SocketAddr) -> Proxy {
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let f = frozen.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else { continue };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, f.clone()));
                tokio::spawn(pipe(sr, cw, f.clone()));
            }
        });
        Proxy { addr, frozen }
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Hold both sockets open, forever silent.
            let _keep = (from, to);
            return std::future::pending().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Starts `twinloom run` on `endpoint` (one auto-bound shop) and waits until /readyz answers 200.
fn start_service(dir: &Path, endpoint: &str, ns: u16) -> (ChildGuard, SocketAddr) {
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = dir.join("plant.toml");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 20\nsave_interval_s = 60\n\n[stream]\nlisten = \"{listen}\"\n\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{endpoint}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_twinloom"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start twinloom run");
    let child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if std::net::TcpStream::connect(listen).is_ok() && http_get(listen, "/readyz").0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "twinloom run never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, listen)
}

fn sigterm(child: &Child) {
    let ok = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -TERM");
}

/// Waits for the child to exit within [`SHUTDOWN_LIMIT`]; returns (seconds taken, stdout, stderr).
fn wait_exit(guard: &mut ChildGuard, since: Instant) -> (f64, String, String) {
    let child = &mut guard.0;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let (mut out, mut err) = (String::new(), String::new());
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            assert!(status.success(), "exit {status}\n--- stdout\n{out}\n--- stderr\n{err}");
            return (since.elapsed().as_secs_f64(), out, err);
        }
        assert!(since.elapsed() < SHUTDOWN_LIMIT, "still running {SHUTDOWN_LIMIT:?} after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_saved(dir: &Path, stdout: &str) {
    assert!(stdout.contains("wrote") && stdout.contains("live/biw.usdc"), "{stdout}");
    assert!(dir.join("stage/live/biw.usdc").is_file());
}

#[test]
fn sigterm_ends_the_service_after_its_server_was_killed() {
    let dir = TempDir::new("shutdown-killed");
    let rt = runtime();
    let sim = simulator(&rt);
    let (endpoint, ns) = (sim.endpoint_url().to_string(), sim.namespace_index());
    let (mut child, _) = start_service(dir.path(), &endpoint, ns);
    rt.block_on(sim.shutdown());
    // Let the source notice and start reconnecting.
    std::thread::sleep(Duration::from_secs(3));
    let t = Instant::now();
    sigterm(&child.0);
    let (secs, out, err) = wait_exit(&mut child, t);
    eprintln!("killed server: exited {secs:.1} s after SIGTERM");
    assert!(err.contains("shutting down"), "{err}");
    assert_saved(dir.path(), &out);
}

#[test]
fn sigterm_ends_the_service_when_its_server_goes_silent() {
    let dir = TempDir::new("shutdown-silent");
    let rt = runtime();
    let sim = simulator(&rt);
    let proxy = Proxy::start(&rt, format!("127.0.0.1:{}", sim.port()).parse().unwrap());
    let (mut child, _) = start_service(dir.path(), &format!("opc.tcp://{}/", proxy.addr), sim.namespace_index());
    proxy.freeze();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    sigterm(&child.0);
    let (secs, out, err) = wait_exit(&mut child, t);
    eprintln!("silent server: exited {secs:.1} s after SIGTERM");
    assert_saved(dir.path(), &out);
    assert!(err.contains("did not answer the disconnect") || err.contains("did not close"), "{err}");
}

#[test]
fn a_second_sigterm_skips_the_waits_and_saves() {
    let dir = TempDir::new("shutdown-twice");
    let rt = runtime();
    let sim = simulator(&rt);
    let proxy = Proxy::start(&rt, format!("127.0.0.1:{}", sim.port()).parse().unwrap());
    let (mut child, _) = start_service(dir.path(), &format!("opc.tcp://{}/", proxy.addr), sim.namespace_index());
    proxy.freeze();
    let t = Instant::now();
    sigterm(&child.0);
    std::thread::sleep(Duration::from_millis(300));
    sigterm(&child.0);
    let (secs, out, err) = wait_exit(&mut child, t);
    eprintln!("two signals: exited {secs:.1} s after the first");
    assert!(err.contains("saving the layers without waiting"), "{err}");
    assert_saved(dir.path(), &out);
}
