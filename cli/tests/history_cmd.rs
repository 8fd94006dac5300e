//! docs/history.md run as written: `twinloom history query` (table, `--csv`, `--json`) on a stage whose
//! history holds the page's example samples answers with the page's JSON, the page's Python snippet reads
//! the held value with usd-core, and bad arguments get clear errors.

use std::path::Path;
use std::process::{Command, Output};

use twinloom_tests::{python, workspace_root, TempDir};
use twinloom_usd::{Value, ValueType};

mod common;

fn twinloom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinloom")).args(args).current_dir(dir).output().expect("start twinloom")
}

fn doc() -> String {
    std::fs::read_to_string(workspace_root().join("docs/history.md")).unwrap()
}

/// The first fenced block of `lang` that contains `marker`.
fn block(lang: &str, marker: &str) -> String {
    let doc = doc();
    let fence = format!("```{lang}\n");
    let mut rest = doc.as_str();
    while let Some(i) = rest.find(&fence) {
        let body = &rest[i + fence.len()..];
        let end = body.find("```").expect("block end");
        if body[..end].contains(marker) {
            return body[..end].to_string();
        }
        rest = &body[end + 3..];
    }
    panic!("no {lang} block with {marker:?} in docs/history.md");
}

/// `stage/` with a plant root and the page's example samples of R01.J1 in its history.
fn stage(dir: &Path) {
    let stage = dir.join("stage");
    let mut store = common::plant_with_history(
        &stage,
        &["/Plant", "/Plant/BIW", "/Plant/BIW/Station01", "/Plant/BIW/Station01/R01"],
    );
    for (t, v) in [(1796605199.95, 12.4), (1796605200.01, 12.5), (1796605200.06, 12.7), (1796608900.0, 13.0)] {
        store.add("biw", "/Plant/BIW/Station01/R01", "J1", ValueType::Double, t, Value::Double(v)).unwrap();
    }
    store.flush().unwrap();
}

fn command_args() -> Vec<String> {
    let sh = block("sh", "twinloom history query").replace("\\\n", " ").replace("[--csv | --json]", "");
    sh.split_whitespace().skip(1).map(str::to_string).collect()
}

#[test]
fn the_documented_query_answers_with_the_documented_json() {
    let dir = TempDir::new("history-cmd");
    stage(dir.path());
    let mut args = command_args();
    assert_eq!(args[..2], ["history", "query"]);
    let run = |extra: &[&str]| {
        let all: Vec<&str> = args.iter().map(String::as_str).chain(extra.iter().copied()).collect();
        let out = twinloom(dir.path(), &all);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    let documented: serde_json::Value = serde_json::from_str(&block("json", "\"prior\"")).unwrap();
    assert_eq!(json, documented);
    assert_eq!(run(&["--csv"]), "time,value\n1796605200.01,12.5\n1796605200.06,12.7\n");
    let table = run(&[]);
    assert!(table.contains("2026-12-07T00:59:59.950Z  12.4  (in effect at the start)"), "{table}");
    assert!(table.contains("2026-12-07T01:00:00.060Z  12.7") && table.contains("2 samples"), "{table}");

    // The Python snippet, run as printed from the folder holding stage/.
    let py = block("python", "history.usda");
    let out = Command::new(python())
        .arg("-c")
        .arg(&py)
        .current_dir(dir.path())
        .env_remove("PXR_PLUGINPATH_NAME")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "12.7");

    // Bad arguments.
    let pos = args.iter().position(|a| a == "--attr").unwrap();
    args[pos + 1] = "/Plant/Nothing.here".into();
    let all: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = twinloom(dir.path(), &all);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/Plant/Nothing.here is not a recorded attribute"));
    let out = twinloom(
        dir.path(),
        &["history", "query", "--stage", "stage", "--attr", "/Plant/A.b", "--from", "soon", "--to", "1"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--from \"soon\" is not a time"));
    let out =
        twinloom(dir.path(), &["history", "query", "--stage", ".", "--attr", "/Plant/A.b", "--from", "0", "--to", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no history"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
