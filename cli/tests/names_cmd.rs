//! `twinloom names` end to end: the built binary's output, line for line, against NVIDIA's usd-exchange
//! (`usdex.core` in the `.venv-usdex` venv made by `ci/python-env`), in all four modes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Names covering spaces, punctuation, several scripts, emoji, digits, empty lines, namespaces, duplicates.
const NAMES: &[&str] = &[
    "Station 010",
    "Robot #1",
    "",
    "",
    "1st shift",
    "Robot_1",
    "Robot_1",
    "tn__abc",
    "Ofen Zone 3 (°C)",
    "Größe",
    "ロボット",
    "Сварка",
    "🤖",
    "a:b",
    "a:b",
    "a::b",
    ":",
    "ns=2;s=Line1.R1",
    "Station 010",
    "x y:z w",
];

fn twinloom(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_twinloom"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start twinloom");
    child.stdin.take().expect("stdin").write_all(stdin).expect("write stdin");
    child.wait_with_output().expect("wait for twinloom")
}

fn lines(out: &Output) -> Vec<String> {
    twinloom_tests::check_output("twinloom names", out);
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output").lines().map(str::to_owned).collect()
}

/// usd-exchange's answer for `NAMES` in one mode: prim|property, single|siblings.
fn usdex(kind: &str, siblings: bool) -> Vec<String> {
    let py = twinloom_tests::workspace_root().join(".venv-usdex/bin/python");
    assert!(py.exists(), "{} is missing: run ci/python-env (ci/test does) first", py.display());
    let script = r#"
import json, sys
import usdex.core as u
from pxr import Usd
kind, siblings, names = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
if siblings and kind == "prim":
    out = u.getValidChildNames(Usd.Stage.CreateInMemory().DefinePrim("/Parent"), names)
elif siblings:
    out = u.getValidPropertyNames(names, [])
elif kind == "prim":
    out = [u.getValidPrimName(n) for n in names]
else:
    out = [u.getValidPropertyName(n) for n in names]
json.dump([str(n) for n in out], sys.stdout)
"#;
    let names = serde_json::to_string(NAMES).expect("names to JSON");
    let out = Command::new(py)
        .args(["-c", script, kind, if siblings { "1" } else { "0" }, &names])
        .output()
        .expect("start usdex python");
    twinloom_tests::check_output("usdex.core", &out);
    serde_json::from_slice(&out.stdout).expect("usdex JSON")
}

fn stdin_text() -> Vec<u8> {
    NAMES.join("\n").into_bytes()
}

#[test]
fn arguments_match_get_valid_prim_name() {
    assert_eq!(lines(&twinloom(&[&["names", "--"], NAMES].concat(), b"")), usdex("prim", false));
}

#[test]
fn stdin_property_matches_get_valid_property_name() {
    assert_eq!(lines(&twinloom(&["names", "--stdin", "--property"], &stdin_text())), usdex("property", false));
}

#[test]
fn stdin_siblings_match_get_valid_child_names() {
    assert_eq!(lines(&twinloom(&["names", "--stdin", "--siblings"], &stdin_text())), usdex("prim", true));
}

#[test]
fn property_siblings_match_get_valid_property_names() {
    let args = [&["names", "--property", "--siblings", "--"], NAMES].concat();
    assert_eq!(lines(&twinloom(&args, b"")), usdex("property", true));
}

#[test]
fn crlf_lines_and_empty_lines() {
    assert_eq!(lines(&twinloom(&["names", "--stdin"], b"a b\r\n\r\nok\n")), ["tn__ab_Z2", "tn__", "ok"]);
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let none = twinloom(&["names"], b"");
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no names given"), "{none:?}");

    let bad = twinloom(&["names", "--stdin"], b"fine\n\xffbad\n");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    assert!(bad.stdout.is_empty(), "nothing printed for rejected input");
}
