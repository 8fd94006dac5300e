//! The floors of ARCHITECTURE.md, checked over `cargo metadata`: every internal dependency (normal and
//! build) of every workspace crate goes to a floor it may use, and samples and the test kit are reached
//! only as dev-dependencies or by the top.

use std::collections::BTreeMap;
use std::process::Command;

use twinloom_tests::workspace_root;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Floor {
    Top,
    Peer,
    Ground,
    Sample,
    TestKit,
}

/// The floor of a crate from its folder, and for peers its family (`connector`, `biw`, `flow`).
fn floor_of(manifest: &str) -> (Floor, String) {
    let rel = manifest.strip_prefix(&format!("{}/", workspace_root().display())).unwrap_or(manifest);
    let dir = rel.trim_end_matches("/Cargo.toml");
    let first = dir.split('/').next().unwrap_or("");
    match first {
        // The Python wheel is a second front end over the analytics, like the CLI.
        "cli" => (Floor::Top, String::new()),
        "extensions" if dir == "extensions/python" => (Floor::Top, String::new()),
        "connector" => (Floor::Peer, "connector".into()),
        "extensions" => {
            let name = dir.split('/').nth(1).unwrap_or("");
            (Floor::Peer, name.split('-').next().unwrap_or(name).to_string())
        }
        "ffi" | "usd-schemas" | "gpu" | "sparkplug" | "journal" | "history" | "web" => (Floor::Ground, String::new()),
        "samples" => (Floor::Sample, String::new()),
        "tests" => (Floor::TestKit, String::new()),
        other => panic!("{manifest}: folder {other:?} has no floor in ARCHITECTURE.md"),
    }
}

/// Why `from` may not use `to` as a normal or build dependency (`None`: it may).
fn violation(from: &(Floor, String), to: &(Floor, String)) -> Option<&'static str> {
    use Floor::*;
    match (from.0, to.0) {
        (_, Top) => Some("nothing depends on the top"),
        (_, TestKit) => Some("the test kit is a dev-dependency only"),
        (Top, _) => None,
        (Peer, Peer) if from.1 != to.1 => Some("peers of different families never import each other"),
        (Peer, Peer | Ground) => None,
        (Peer | Ground, Sample) => Some("samples are reached only as dev-dependencies or by the top"),
        (Ground, Peer) => Some("the ground does not use the peers above it"),
        (Ground, Ground) => None,
        (Sample, Peer | Ground | Sample) => None,
        (TestKit, _) => Some("the test kit uses nothing of ours"),
    }
}

#[test]
fn every_crate_keeps_to_its_floor() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let floors: BTreeMap<String, (Floor, String)> = packages
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), floor_of(p["manifest_path"].as_str().unwrap())))
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for p in packages {
        let name = p["name"].as_str().unwrap();
        for d in p["dependencies"].as_array().unwrap() {
            let dep = d["name"].as_str().unwrap();
            let Some(to) = floors.get(dep) else { continue };
            if d["kind"].as_str() == Some("dev") {
                continue;
            }
            checked += 1;
            if let Some(why) = violation(&floors[name], to) {
                problems.push(format!("{name} → {dep}: {why}"));
            }
        }
    }
    assert!(problems.is_empty(), "floor violations:\n{}", problems.join("\n"));
    assert!(checked >= 15, "only {checked} internal dependencies seen");
}

#[test]
fn the_rules_refuse_what_the_floors_forbid() {
    let peer = |f: &str| (Floor::Peer, f.to_string());
    let g = (Floor::Ground, String::new());
    let s = (Floor::Sample, String::new());
    let top = (Floor::Top, String::new());
    assert!(violation(&peer("connector"), &peer("biw")).is_some());
    assert!(violation(&peer("biw"), &peer("flow")).is_some());
    assert!(violation(&peer("biw"), &peer("biw")).is_none());
    assert!(violation(&peer("connector"), &s).is_some());
    assert!(violation(&g, &peer("biw")).is_some());
    assert!(violation(&peer("flow"), &top).is_some());
    assert!(violation(&top, &s).is_none());
    assert!(violation(&s, &peer("biw")).is_none());
}
