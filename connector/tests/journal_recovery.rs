//! Crash recovery with the write-ahead journal (issue 16, docs/journal.md): the service runs in a child
//! process (this test binary re-run with `TWINLOOM_JOURNAL_CHILD` set) against the in-process plant
//! simulator, a WebSocket client records every delta, the service is killed with SIGKILL at a seeded
//! random moment and restarted. The client resumes with `since=<last seq>` on the same epoch and must get
//! the next sequence number with no resync and no gap; the layers the restarted service saves, read back
//! with Pixar's usd-core, hold the last value the client received for every attribute. A clean shutdown
//! leaves nothing to replay, and a corrupt journal tail is reported while the service still starts.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use twinloom_simulator::{SimConfig, Simulator};
use twinloom_tests::{free_port, http_get, metric, run_python, TempDir};

const CHILD_ENV: &str = "TWINLOOM_JOURNAL_CHILD";
/// Simulator signals: the BIW and assembly shops plus field sensors, all bound (three shops).
const SIGNALS: usize = 2000;

/// The service itself when this binary runs as the child: runs the config named by `TWINLOOM_JOURNAL_CHILD`
/// until its stdin closes (a clean shutdown) or it is killed. Does nothing in a normal test run.
#[test]
fn child_service() {
    let Some(cfg) = std::env::var_os(CHILD_ENV) else { return };
    let cfg = twinloom_connector::Config::load(Path::new(&cfg)).expect("config");
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).with_writer(std::io::stderr).with_ansi(false).init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // stdin closes when the parent drops it: a clean stop.
    let shutdown = twinloom_connector::Shutdown::when_stdin_closes();
    let summary = rt.block_on(twinloom_connector::run(cfg, shutdown, |_| {})).expect("service ran");
    println!("CHILD-SUMMARY deltas={}", summary.deltas);
}

struct Service {
    child: Child,
}

impl Service {
    fn start(config: &Path, listen: SocketAddr) -> Service {
        Self::start_limited(config, listen, None)
    }

    /// With `fsize`, every file the service writes is limited to that many bytes (RLIMIT_FSIZE, SIGXFSZ
    /// ignored): writes past it fail with EFBIG, as on a full disk.
    fn start_limited(config: &Path, listen: SocketAddr, fsize: Option<u64>) -> Service {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = match fsize {
            None => Command::new(&exe),
            Some(bytes) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("trap '' XFSZ; exec prlimit --fsize={bytes}:unlimited -- \"$0\" \"$@\""))
                    .arg(&exe);
                c
            }
        };
        let child = cmd
            .args(["--exact", "child_service", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the service");
        let mut s = Service { child };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(listen).is_ok() && http_get(listen, "/readyz").0 == 200 {
                return s;
            }
            if let Some(status) = s.child.try_wait().unwrap() {
                panic!("the service exited at start ({status}): {}", s.output());
            }
            assert!(Instant::now() < deadline, "the service never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn output(&mut self) -> String {
        let (mut out, mut err) = (String::new(), String::new());
        if let Some(mut o) = self.child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        format!("--- stdout\n{out}\n--- stderr\n{err}")
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: nothing is flushed or saved.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    /// A clean stop (stdin closed); returns the child's output.
    fn stop(mut self) -> String {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.output();
                assert!(status.success(), "the service failed ({status}): {out}");
                return out;
            }
            assert!(Instant::now() < deadline, "the service did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a live client saw: the hello's epoch, every delta's sequence number, resyncs, and the last value
/// per attribute path.
#[derive(Default)]
struct Seen {
    epoch: Option<u64>,
    hello_seq: Option<u64>,
    seqs: Vec<u64>,
    resyncs: u64,
    last: BTreeMap<String, serde_json::Value>,
    /// The last delta's sequence number per shop.
    shop_seq: BTreeMap<String, u64>,
    /// Every edit: (attribute path, time in seconds: `sourceTimeMs`, else the delta's `timeMs`, value).
    edits: Vec<(String, f64, serde_json::Value)>,
    closed: bool,
}

/// Reads the live stream at `query` into `seen` until the connection ends.
fn client(rt: &tokio::runtime::Runtime, listen: SocketAddr, query: String, seen: Arc<Mutex<Seen>>) {
    let url = format!("ws://{listen}/v1/live{query}");
    let (mut ws, _) = rt.block_on(tokio_tungstenite::connect_async(&url)).expect("client connects");
    rt.spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            let Message::Text(text) = msg else { continue };
            let v: serde_json::Value = serde_json::from_str(text.as_str()).expect("JSON message");
            let mut s = seen.lock().unwrap();
            match v["type"].as_str() {
                Some("hello") => {
                    s.epoch = v["epoch"].as_u64();
                    s.hello_seq = v["seq"].as_u64();
                }
                Some("resync") => s.resyncs += 1,
                Some("delta") => {
                    let seq = v["seq"].as_u64().expect("seq");
                    s.seqs.push(seq);
                    s.shop_seq.insert(v["shop"].as_str().unwrap_or_default().to_string(), seq);
                    let tick_ms = v["timeMs"].as_f64().unwrap_or(0.0);
                    for e in v["edits"].as_array().into_iter().flatten() {
                        if let Some(p) = e["path"].as_str() {
                            s.last.insert(p.to_string(), e["value"].clone());
                            let t = e["sourceTimeMs"].as_f64().unwrap_or(tick_ms) / 1e3;
                            s.edits.push((p.to_string(), t, e["value"].clone()));
                        }
                    }
                }
                _ => {}
            }
        }
        seen.lock().unwrap().closed = true;
    });
}

/// Every attribute default of the given layers, read with usd-core (`path → value`, vectors as lists),
/// and each layer's recorded journal position.
const READ_LAYERS: &str = r#"
import sys, json
from pxr import Sdf
out = {"values": {}, "positions": {}}
def plain(v):
    if isinstance(v, (bool, int, float, str)):
        return v
    try:
        return [plain(x) for x in v]
    except TypeError:
        return str(v)
for p in sys.argv[1:]:
    layer = Sdf.Layer.FindOrOpen(p)
    def visit(path):
        if path.IsPropertyPath():
            spec = layer.GetAttributeAtPath(path)
            if spec is not None and spec.HasDefaultValue():
                out["values"][str(path)] = plain(spec.default)
    layer.Traverse(Sdf.Path.absoluteRootPath, visit)
    out["positions"][p] = dict(layer.customLayerData.get("twinloom", {}))
print(json.dumps(out))
"#;

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0)
        }
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// The edits of one attribute as history keeps them: the last value per time, in time order, repeats
/// of the previous value in the same hour left out.
fn series(edits: &[(String, f64, serde_json::Value)], path: &str) -> Vec<(f64, serde_json::Value)> {
    let mut by_time: BTreeMap<u64, (f64, serde_json::Value)> = BTreeMap::new();
    for (_, t, v) in edits.iter().filter(|(p, _, _)| p == path) {
        by_time.insert(t.to_bits(), (*t, v.clone()));
    }
    let mut all: Vec<(f64, serde_json::Value)> = by_time.into_values().collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // A value repeating the previous one in the same hour is not written (held interpolation).
    let mut out: Vec<(f64, serde_json::Value)> = Vec::with_capacity(all.len());
    for (t, v) in all {
        if out.last().is_some_and(|(pt, pv)| (pt / 3600.0).floor() == (t / 3600.0).floor() && same(pv, &v)) {
            continue;
        }
        out.push((t, v));
    }
    out
}

/// `GET /v1/history` for one attribute the clients saw: its samples from the first one the clients
/// received to the answer's last one equal what the clients received. Returns the number of samples.
fn check_history_endpoint(listen: SocketAddr, before: &Mutex<Seen>, after: &Mutex<Seen>) -> usize {
    let path = {
        let a = after.lock().unwrap();
        a.edits.iter().rev().find(|(_, _, v)| v.is_number()).expect("a numeric edit").0.clone()
    };
    let (status, body) = http_get(listen, &format!("/v1/history?attr={path}&from=0&to=4102444800"));
    // The answer may hold deltas still on their way to the client.
    std::thread::sleep(Duration::from_millis(1500));
    let mut edits = before.lock().unwrap().edits.clone();
    edits.extend(after.lock().unwrap().edits.iter().cloned());
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got: Vec<(f64, serde_json::Value)> =
        answer["samples"].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].clone())).collect();
    let last = got.last().map(|(t, _)| *t).expect("history has samples");
    let want: Vec<(f64, serde_json::Value)> = series(&edits, &path).into_iter().filter(|(t, _)| *t <= last).collect();
    // History also holds what was published before the first client connected.
    let first = want.first().map(|(t, _)| *t).expect("the clients saw it");
    let got: Vec<(f64, serde_json::Value)> = got.into_iter().filter(|(t, _)| *t >= first).collect();
    if got.len() != want.len() {
        let only_history: Vec<_> = got.iter().filter(|g| !want.iter().any(|w| w.0 == g.0)).take(5).collect();
        let only_clients: Vec<_> = want.iter().filter(|w| !got.iter().any(|g| w.0 == g.0)).take(5).collect();
        panic!(
            "{path}: /v1/history has {} samples, the clients {}; only in history {only_history:?}, only seen by clients {only_clients:?}",
            got.len(),
            want.len()
        );
    }
    for ((ta, va), (tb, vb)) in got.iter().zip(&want) {
        assert!(ta == tb && same(va, vb), "{path}: history ({ta}, {va}) vs client ({tb}, {vb})");
    }
    let (status, body) = http_get(listen, "/v1/history?attr=/Plant/Nothing.here&from=0&to=1");
    assert_eq!(status, 404, "{body}");
    let (status, _) = http_get(listen, &format!("/v1/history?attr={path}&from=yesterday&to=1"));
    assert_eq!(status, 400);
    got.len()
}

/// Opens `history.usda` with usd-core (held interpolation, no Twinloom plugin) and checks, for up to
/// 3,000 edits spread over the run plus the last edit of every attribute, that `Get(t)` is the last value
/// the clients received for that attribute at time `t`. With `validate`, the asset validator runs too.
fn check_history_clips(stage: &Path, edits: &[(String, f64, serde_json::Value)], validate: bool) {
    let mut last_at: BTreeMap<(String, u64), serde_json::Value> = BTreeMap::new();
    for (p, t, v) in edits {
        last_at.insert((p.clone(), t.to_bits()), v.clone());
    }
    let mut picks: Vec<(&String, f64)> = Vec::new();
    let step = (edits.len() / 3000).max(1);
    picks.extend(edits.iter().step_by(step).map(|(p, t, _)| (p, *t)));
    let mut last_of: BTreeMap<&String, f64> = BTreeMap::new();
    for (p, t, _) in edits {
        let e = last_of.entry(p).or_insert(*t);
        *e = e.max(*t);
    }
    picks.extend(last_of);
    let list: Vec<serde_json::Value> = picks.iter().map(|(p, t)| serde_json::json!([p, t])).collect();
    let file = stage.join("history-checks.json");
    std::fs::write(&file, serde_json::to_string(&list).unwrap()).unwrap();
    let script = r#"
import sys, json
from pxr import Usd
stage = Usd.Stage.Open(sys.argv[1])
stage.SetInterpolationType(Usd.InterpolationTypeHeld)
def plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    try:
        return [plain(x) for x in v]
    except TypeError:
        return str(v)
out = []
for path, t in json.load(open(sys.argv[2])):
    a = stage.GetAttributeAtPath(path)
    out.append(plain(a.Get(t)) if a else "<no attribute>")
print(json.dumps(out))
"#;
    let root = stage.join("history.usda");
    let got: Vec<serde_json::Value> =
        serde_json::from_str(run_python(script, &[root.to_str().unwrap(), file.to_str().unwrap()]).trim()).unwrap();
    let mut wrong = Vec::new();
    for ((p, t), g) in picks.iter().zip(&got) {
        let want = &last_at[&((*p).clone(), t.to_bits())];
        if !same(g, want) {
            wrong.push(format!("{p} at {t}: history {g}, client {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} history values differ: {:#?}",
        wrong.len(),
        picks.len(),
        &wrong[..wrong.len().min(10)]
    );
    if validate {
        twinloom_tests::assert_portable_stage(&root);
    }
}

/// A small deterministic generator for the kill moments.
fn kill_after(seed: u64) -> Duration {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    x ^= x >> 33;
    Duration::from_millis(800 + x % 2200)
}

fn write_config(dir: &Path, endpoint: &str, ns: u16, listen: SocketAddr, journal: &str) -> PathBuf {
    let cfg = dir.join("plant.toml");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 20\nsave_interval_s = 1.0\n\n[stream]\nlisten = \"{listen}\"\n\n\
             [journal]\nenabled = true\n{journal}\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{endpoint}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/Assembly\"\nshop = \"assembly\"\nprim = \"/Plant/Assembly\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/Field\"\nshop = \"field\"\nprim = \"/Plant/Field\"\n"
        ),
    )
    .unwrap();
    cfg
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One kill -9 and restart; returns the stage dir, the listen address and the config (for more starts).
fn kill_and_resume(seed: u64) -> (TempDir, PathBuf, SocketAddr) {
    let dir = TempDir::new(&format!("journal-kill-{seed}"));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed,
            signals: SIGNALS,
            update_hz: 20.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let history = "durability = \"per_tick\"\n\n[history]\nenabled = true\nflush_interval_s = 0.5\n";
    let cfg = write_config(dir.path(), sim.endpoint_url(), sim.namespace_index(), listen, history);

    // Run 1: a client records every delta; SIGKILL at a seeded moment.
    let svc = Service::start(&cfg, listen);
    let before = Arc::new(Mutex::new(Seen::default()));
    client(&rt, listen, String::new(), before.clone());
    wait_for("first deltas", 20, || before.lock().unwrap().seqs.len() > 5);
    let (t0, n0) = (Instant::now(), metric(listen, "twinloom_samples_accepted_total"));
    std::thread::sleep(kill_after(seed));
    let rate = (metric(listen, "twinloom_samples_accepted_total") - n0) / t0.elapsed().as_secs_f64();
    svc.kill9();
    wait_for("the client to see the kill", 10, || before.lock().unwrap().closed);
    let (epoch, last_seen, first) = {
        let b = before.lock().unwrap();
        let first = b.hello_seq.unwrap() + 1;
        for (i, s) in b.seqs.iter().enumerate() {
            assert_eq!(*s, first + i as u64, "gap in the first run's stream");
        }
        (b.epoch.unwrap(), *b.seqs.last().unwrap(), first)
    };
    eprintln!("seed {seed}: killed after seq {last_seen} (first {first}), ingesting {rate:.0} samples/s");

    // Run 2: restart, resume from the last delta seen on the same epoch.
    let svc = Service::start(&cfg, listen);
    let replayed = metric(listen, "twinloom_journal_replayed_ticks");
    let recovery_s = metric(listen, "twinloom_journal_recovery_seconds");
    assert!(recovery_s.is_finite() && recovery_s >= 0.0, "recovery time in /metrics: {recovery_s}");
    eprintln!("seed {seed}: replayed {replayed} ticks in {recovery_s} s");
    let after = Arc::new(Mutex::new(Seen::default()));
    client(&rt, listen, format!("?since={last_seen}&epoch={epoch}"), after.clone());
    wait_for("deltas after the restart", 20, || after.lock().unwrap().seqs.len() > 20);
    let asked = check_history_endpoint(listen, &before, &after);
    let out = svc.stop();
    wait_for("the resumed client to be closed", 10, || after.lock().unwrap().closed);
    let a = after.lock().unwrap();
    assert_eq!(a.epoch, Some(epoch), "the restart kept the epoch");
    assert_eq!(a.resyncs, 0, "no resync after the restart");
    assert_eq!(a.seqs.first(), Some(&(last_seen + 1)), "the resumed stream starts right after the last seen");
    for w in a.seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap in the resumed stream");
    }

    // The saved layers hold the last value the client received for every attribute.
    let mut last = std::mem::take(&mut before.lock().unwrap().last);
    last.extend(a.last.clone());
    let layers: Vec<String> = ["biw", "assembly", "field"]
        .iter()
        .map(|s| dir.path().join(format!("stage/live/{s}.usdc")).to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = layers.iter().map(String::as_str).collect();
    let read: serde_json::Value = serde_json::from_str(run_python(READ_LAYERS, &args).trim()).unwrap();
    let values = read["values"].as_object().unwrap();
    let mut wrong = Vec::new();
    for (path, v) in &last {
        match values.get(path) {
            Some(u) if same(u, v) => {}
            other => wrong.push(format!("{path}: client {v}, layer {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} values differ: {:#?}\n{out}",
        wrong.len(),
        last.len(),
        &wrong[..wrong.len().min(10)]
    );
    // The history holds every value either client received, at its time, across the kill.
    let mut edits = std::mem::take(&mut before.lock().unwrap().edits);
    edits.extend(a.edits.iter().cloned());
    check_history_clips(&dir.path().join("stage"), &edits, seed == 1);
    eprintln!("seed {seed}: history checked ({} edits seen, /v1/history answered {asked} samples)", edits.len());

    // Each layer saved at shutdown records a position at or after its shop's last delta (other shops may
    // have published after it was saved).
    let final_seq = *a.seqs.last().unwrap();
    for (shop, l) in ["biw", "assembly", "field"].iter().zip(&layers) {
        let pos = &read["positions"][l.as_str()];
        assert_eq!(pos["epoch"].as_u64(), Some(epoch), "{l}: {pos}");
        let seq = pos["seq"].as_u64().unwrap_or(0);
        let own = a.shop_seq.get(*shop).copied().unwrap_or(0);
        assert!(own <= seq && seq <= final_seq, "{l}: position {seq}, its last delta {own}, the last {final_seq}");
    }
    drop(a);
    rt.block_on(sim.shutdown());
    (dir, cfg, listen)
}

#[test]
fn kill9_seed_1_resumes_without_resync_and_then_a_clean_stop_leaves_nothing_to_replay() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let (dir, cfg, listen) = kill_and_resume(1);
    // The simulator is gone: a fresh one on the same config's endpoint is not needed for these checks,
    // which look at start-up only, so point the config at a new simulator.
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 1,
            signals: SIGNALS,
            update_hz: 5.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let cfg2 = write_config(dir.path(), sim.endpoint_url(), sim.namespace_index(), listen, "");
    assert_eq!(cfg, cfg2);
    // After a clean stop nothing needs replaying.
    let svc = Service::start(&cfg, listen);
    assert_eq!(metric(listen, "twinloom_journal_replayed_ticks"), 0.0, "a clean stop leaves nothing to replay");
    assert!(http_get(listen, "/metrics").1.contains("twinloom_journal_recovery_seconds"));
    svc.stop();
    // A corrupt tail is cut and reported; the service starts.
    let jdir = dir.path().join("stage/journal");
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&jdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segs.sort();
    let last = segs.last().expect("a segment");
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[0xAB; 97]);
    std::fs::write(last, bytes).unwrap();
    let svc = Service::start(&cfg, listen);
    assert_eq!(metric(listen, "twinloom_journal_damage_total"), 1.0, "the damage is counted");
    let out = svc.stop();
    assert!(out.contains("damaged"), "the damage is logged: {out}");
    assert!(jdir.join("damaged").is_dir(), "the cut bytes are kept for forensics");
    rt.block_on(sim.shutdown());
}

#[test]
fn kill9_seed_7_resumes_without_resync() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    kill_and_resume(7);
}

#[test]
fn kill9_seed_42_resumes_without_resync() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    kill_and_resume(42);
}

#[test]
fn a_full_disk_keeps_the_stream_running_and_journaling_and_history_resume_when_space_returns() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = TempDir::new("journal-full");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sim = rt
        .block_on(Simulator::start(SimConfig {
            port: 0,
            seed: 5,
            signals: 600,
            update_hz: 20.0,
            ..SimConfig::default()
        }))
        .expect("simulator");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let (endpoint, ns) = (sim.endpoint_url(), sim.namespace_index());
    let cfg = dir.path().join("plant.toml");
    std::fs::write(
        &cfg,
        format!(
            "[stage]\ndir = \"stage\"\ntick_ms = 20\nsave_interval_s = 60\n\n[stream]\nlisten = \"{listen}\"\n\n\
             [journal]\nenabled = true\nsegment_mib = 4\n\n[history]\nenabled = true\nflush_interval_s = 0.5\n\n\
             [[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"{endpoint}\"\n\n\
             [[auto_bindings]]\nsource = \"plc\"\nnode = \"ns={ns};s=Plant/BIW\"\nshop = \"biw\"\nprim = \"/Plant/BIW\"\n"
        ),
    )
    .unwrap();
    // Files may grow to 256 KiB: the journal's segment fills up within seconds.
    let svc = Service::start_limited(&cfg, listen, Some(256 * 1024));
    let seen = Arc::new(Mutex::new(Seen::default()));
    client(&rt, listen, String::new(), seen.clone());
    wait_for("journal errors", 60, || metric(listen, "twinloom_journal_errors_total") > 0.0);
    // The stream goes on while the journal fails.
    let n = seen.lock().unwrap().seqs.len();
    wait_for("deltas while the journal fails", 20, || seen.lock().unwrap().seqs.len() > n + 10);
    assert!(metric(listen, "twinloom_journal_unjournaled_total") > 0.0);
    // Space returns: journaling resumes by itself.
    let ok = Command::new("prlimit").arg(format!("--pid={}", svc.pid())).arg("--fsize=unlimited").status().unwrap();
    assert!(ok.success(), "prlimit");
    let appended = metric(listen, "twinloom_journal_appended_total");
    wait_for("journaling to resume", 20, || metric(listen, "twinloom_journal_appended_total") > appended + 5.0);
    // History failed to save its clips meanwhile (counted) and catches up from the journal.
    assert!(metric(listen, "twinloom_history_errors_total") > 0.0, "clip saves failed on the full disk");
    let samples = metric(listen, "twinloom_history_samples_total");
    wait_for("history to catch up", 30, || metric(listen, "twinloom_history_samples_total") > samples);
    let out = svc.stop();
    assert!(dir.path().join("stage/history.usda").is_file());
    let jdir = dir.path().join("stage/journal");
    assert!(out.contains("journaling failed") && out.contains(&jdir.display().to_string()), "{out}");
    assert!(out.contains("journaling works again"), "{out}");
    let s = seen.lock().unwrap();
    assert_eq!(s.resyncs, 0);
    for w in s.seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "gap in the live stream");
    }
    drop(s);
    rt.block_on(sim.shutdown());
}
