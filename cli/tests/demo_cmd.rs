//! `twinloom demo` as a user runs it: it exits cleanly after --seconds with every layer saved, shuts down
//! gracefully on SIGTERM, its stage renders the same with and without the Twinloom schema plugin (and
//! passes NVIDIA's omni_asset_validate both ways), and it moves (robot links carry joint values).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use twinloom_tests::{assert_portable_stage, check_output, run_python, TempDir};

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

#[test]
fn demo_runs_for_n_seconds_and_its_stage_validates() {
    let dir = TempDir::new("demo-cmd");
    let out = twinloom()
        .args(["demo", "--seconds", "4", "--listen", "127.0.0.1:0", "--out"])
        .arg(dir.path())
        .output()
        .expect("run demo");
    check_output("twinloom demo", &out);
    // Quiet by default: INFO lines are Twinloom's own; the libraries speak from WARN up.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let foreign: Vec<&str> = stderr.lines().filter(|l| l.contains("INFO") && !l.contains("twinloom")).collect();
    assert!(foreign.is_empty(), "libraries' INFO lines in the default log: {foreign:#?}");
    assert!(stderr.contains("twin is live"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("signals bound in 6 shops"), "{stdout}");
    assert!(stdout.contains("embedded MQTT broker (rumqttd) at mqtt://127.0.0.1:"), "{stdout}");
    for f in [
        "plant.usda",
        "layout.usda",
        "layout_geometry.usdc",
        "live/biw.usdc",
        "live/paint.usdc",
        "live/assembly.usdc",
        "live/edge.usdc",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing; {stdout}");
        assert!(stdout.contains(f) || f.starts_with("layout"), "summary does not name {f}: {stdout}");
    }
    let stage = dir.path().join("plant.usda");
    // A plain OpenUSD application (no Twinloom plugin) renders the demo stage as one with it does, and
    // NVIDIA's validator passes both ways.
    let portable: serde_json::Value = serde_json::from_str(assert_portable_stage(&stage).trim()).unwrap();
    assert!(portable["prims_compared"].as_u64().unwrap() > 300, "{portable}");
    eprintln!("portable demo stage: {portable}");
    // The robots' links carry the simulator's joint values.
    let moved = run_python(
        r#"
import sys
from pxr import Usd
s = Usd.Stage.Open(sys.argv[1])
n = 0
for p in s.Traverse():
    if p.GetName() in ("Link1", "Link2", "Link3"):
        for a in p.GetAttributes():
            if a.GetName().startswith("xformOp:rotate") and a.Get() not in (None, 0.0):
                n += 1
print(n)
"#,
        &[stage.to_str().unwrap()],
    );
    assert!(moved.trim().parse::<u32>().unwrap() >= 12, "rotated links: {moved}");
    // The Sparkplug B edge nodes (through the embedded broker) reached the stage: every born metric of the
    // paint shop's edge node has a value, and the nodes are good.
    let edge = run_python(
        r#"
import sys
from pxr import Usd
s = Usd.Stage.Open(sys.argv[1])
root = s.GetPrimAtPath("/Plant/Signals/Sparkplug")
values, empty, quality = 0, 0, []
for p in Usd.PrimRange(root):
    for a in p.GetAuthoredAttributes():
        if a.GetName() == "twinloom:quality":
            quality.append(a.Get())
        elif a.GetNamespace() == "":
            if a.Get() is None:
                empty += 1
            else:
                values += 1
print(values, empty, sorted(set(quality)), [c.GetName() for c in root.GetChildren()])
"#,
        &[stage.to_str().unwrap()],
    );
    let mut parts = edge.split_whitespace();
    let values: u32 = parts.next().unwrap().parse().unwrap();
    assert!(values >= 20, "Sparkplug values on the stage: {edge}");
    assert!(edge.contains(" 0 ['good'] ['BIW', 'Paint']"), "{edge}");
}

#[test]
fn sigterm_saves_and_exits_cleanly() {
    let dir = TempDir::new("demo-sigterm");
    let mut child = twinloom()
        .args(["demo", "--listen", "127.0.0.1:0", "--out"])
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo");
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = lines.next().expect("demo output").unwrap();
        if line.contains("is live") {
            break;
        }
        assert!(Instant::now() < deadline, "demo never went live");
    }
    std::thread::sleep(Duration::from_secs(2));
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("samples in")), "{rest:?}");
    assert!(dir.path().join("live/biw.usdc").is_file());
    // RUST_LOG still gives everything, the libraries' INFO lines included.
    let stderr = stderr.join().unwrap();
    assert!(stderr.lines().any(|l| l.contains("INFO") && l.contains("opcua")), "{stderr}");
}
