//! `twinloom replay` followed by docs/live-protocol.md's complete client, unchanged: the layers it ends
//! with hold, for every attribute, the history's value at the end of the period; it gets the state at the
//! period's start from the snapshots, a hello marked as a replay, deltas in order, and a clean close.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use twinloom_history::HistoryReader;
use twinloom_tests::{check_output, free_port, python, workspace_root, ChildGuard, TempDir};
use twinloom_usd::{Value, ValueType};

mod common;

/// 2026-12-07T00:00:00Z.
const T0: f64 = 1_796_601_600.0;

fn documented_client(dir: &std::path::Path) -> std::path::PathBuf {
    let doc = std::fs::read_to_string(workspace_root().join("docs/live-protocol.md")).unwrap();
    let after = &doc[doc.find("## A complete client").expect("the client section")..];
    let start = after.find("```python\n").expect("a python block") + "```python\n".len();
    let len = after[start..].find("```").expect("the block's end");
    let script = dir.join("live_copy.py");
    std::fs::write(&script, &after[start..start + len]).unwrap();
    script
}

#[test]
fn the_documented_live_client_plays_a_past_period_back() {
    let dir = TempDir::new("replay-cmd");
    let stage = dir.path().join("stage");
    let mut store = common::plant_with_history(&stage, &["/Plant"]);
    // Two shops, an hour boundary inside the period, a value before it (the snapshot's state).
    for i in 0..400 {
        let t = T0 + 3500.0 + i as f64 * 0.5;
        store.add("biw", "/Plant/BIW/R01", "J1", ValueType::Double, t, Value::Double(i as f64 * 0.25)).unwrap();
        if i % 10 == 0 {
            let state = if i % 20 == 0 { "welding" } else { "idle" };
            store.add("biw", "/Plant/BIW", "state", ValueType::Token, t, Value::Token(state.into())).unwrap();
            store.add("paint", "/Plant/Paint/Oven", "count", ValueType::Int, t, Value::Int(i)).unwrap();
        }
    }
    store.flush().unwrap();
    drop(store);
    let (from, to) = (T0 + 3550.0, T0 + 3650.0);

    // docs/history.md's command, with this test's stage folder and a free port.
    let addr = format!("127.0.0.1:{}", free_port());
    let doc = std::fs::read_to_string(workspace_root().join("docs/history.md")).unwrap();
    let at = doc.find("twinloom replay --stage").expect("the documented replay command");
    let command = doc[at..at + doc[at..].find("```").unwrap()].replace("\\\n", " ");
    let mut args: Vec<String> = command.split_whitespace().skip(1).map(str::to_string).collect();
    for (flag, value) in [("--stage", stage.to_str().unwrap()), ("--listen", addr.as_str())] {
        let i = args.iter().position(|a| a == flag).expect(flag);
        args[i + 1] = value.to_string();
    }
    assert_eq!(args[args.iter().position(|a| a == "--from").unwrap() + 1], "2026-12-07T00:59:10Z");
    let mut replay = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_twinloom"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the replay"),
    );
    let mut line = String::new();
    BufReader::new(replay.0.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("replaying ") && line.contains("2 shops"), "{line}");

    let copies = dir.path().join("copies");
    std::fs::create_dir_all(&copies).unwrap();
    let client = Command::new(python())
        .arg(documented_client(dir.path()))
        .arg(&addr)
        .arg(&copies)
        .output()
        .expect("run the documented client");
    check_output("the documented client on a replay", &client);
    let summary: serde_json::Value = serde_json::from_slice(&client.stdout).unwrap();
    assert_eq!(summary["shops"], serde_json::json!(["biw", "paint"]), "{summary}");
    assert!(summary["deltas"].as_u64().unwrap() > 100, "{summary}");

    // The client's layers hold each attribute's value at the end of the period.
    let reader = HistoryReader::open(&stage).unwrap();
    let mut checks = Vec::new();
    for (shop, queries) in reader.period(from, to).unwrap() {
        for q in queries {
            let want = q.value_at(to).cloned().expect("a value in effect");
            checks.push((shop.clone(), q.attr.clone(), want));
        }
    }
    assert_eq!(checks.len(), 3);
    let mut script = String::from("import sys\nfrom pxr import Sdf\n");
    for (shop, attr, _) in &checks {
        let layer = copies.join(format!("{shop}.usda"));
        script.push_str(&format!(
            "layer = Sdf.Layer.FindOrOpen({:?})\nprint(layer.GetAttributeAtPath({attr:?}).default)\n",
            layer.to_str().unwrap()
        ));
    }
    let out = Command::new(python()).arg("-c").arg(&script).output().unwrap();
    check_output("read the client's layers", &out);
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    for ((_, attr, want), got) in checks.iter().zip(&got) {
        let want = match want {
            Value::Double(x) => format!("{x:?}"),
            Value::Int(i) => i.to_string(),
            Value::Token(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(got, &want, "{attr}");
    }
}
