//! Parity with NVIDIA's usd-exchange: hundreds of names go through this crate and through
//! `usdex.core` (PyPI `usd-exchange`, in the `.venv-usdex` venv made by `ci/python-env`), and every
//! output must be the same string.

use std::io::Write;
use std::process::{Command, Stdio};

use twinloom_usd_names::{
    valid_child_names, valid_prim_name, valid_prim_names, valid_property_name, valid_property_names,
};

/// Runs `usdex.core` on the cases: per name getValidPrimName and getValidPropertyName, per group
/// getValidChildNames (under a fresh prim) and getValidPropertyNames. Input and output are JSON.
const USDEX_SCRIPT: &str = r#"
import json, sys
import usdex.core as u
from pxr import Usd
cases = json.load(sys.stdin)
def _parent(stage, i, children):
    parent = stage.DefinePrim(f"/E{i}")
    for c in children:
        stage.DefinePrim(parent.GetPath().AppendChild(c))
    return parent
stage = Usd.Stage.CreateInMemory()
out = {
    "prim": [str(u.getValidPrimName(n)) for n in cases["names"]],
    "property": [str(u.getValidPropertyName(n)) for n in cases["names"]],
    "children": [[str(x) for x in u.getValidChildNames(stage.DefinePrim(f"/G{i}"), g)] for i, g in enumerate(cases["groups"])],
    "reserved_prims": [[str(x) for x in u.getValidPrimNames(g, r)] for g, r in cases["reserved"]],
    "existing_children": [[str(x) for x in u.getValidChildNames(_parent(stage, i, r), g)] for i, (g, r) in enumerate(cases["existing"])],
    "properties": [[str(x) for x in u.getValidPropertyNames(g, [])] for g in cases["groups"]],
    "reserved_properties": [[str(x) for x in u.getValidPropertyNames(g, r)] for g, r in cases["reserved"]],
}
json.dump(out, sys.stdout)
"#;

fn usdex_python() -> std::path::PathBuf {
    let py = twinloom_tests::workspace_root().join(".venv-usdex/bin/python");
    assert!(py.exists(), "{} is missing: run ci/python-env (ci/test does) first", py.display());
    py
}

fn run_usdex(cases: &serde_json::Value) -> serde_json::Value {
    let mut child = Command::new(usdex_python())
        .arg("-c")
        .arg(USDEX_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the usd-exchange venv's python");
    child.stdin.take().expect("stdin").write_all(cases.to_string().as_bytes()).expect("write cases");
    let out = child.wait_with_output().expect("wait for python");
    twinloom_tests::check_output("usdex.core parity script", &out);
    serde_json::from_slice(&out.stdout).expect("usdex output is JSON")
}

/// Single names: ASCII with punctuation, several scripts, emoji, digits, empty, valid, `tn__`, namespaces.
fn single_names() -> Vec<String> {
    let base: Vec<&str> = vec![
        "",
        " ",
        "  ",
        "_",
        "__",
        "a",
        "A",
        "z9",
        "abc",
        "Robot",
        "Robot_1",
        "robot1",
        "1",
        "12",
        "1robot",
        "007 agent",
        "hello world",
        "hello  world",
        " leading",
        "trailing ",
        "a-b",
        "a.b",
        "a/b",
        "a\\b",
        "a|b",
        "a+b=c",
        "(x)",
        "[1]",
        "{k}",
        "a,b;c",
        "50%",
        "#tag",
        "@home",
        "$var",
        "~tilde",
        "`tick`",
        "'quote'",
        "\"dq\"",
        "what?",
        "wow!",
        "a&b",
        "a*b",
        "^",
        "<tag>",
        "x\ty",
        "line\nbreak",
        "cr\r",
        "nul\0byte",
        "\0",
        "del\u{7f}",
        "tn__",
        "tn__abc",
        "tn__1abc_",
        "tn__helloworld_lA",
        "tn_",
        "TN__x",
        "_tn__",
        "BIW.L1.ST010.R1",
        "Plant/BIW/Line 1",
        "ns=2;s=Line1.Station10.Robot",
        "spBv1.0/plant/DDATA/edge1/dev1",
        "Station 010 - Framing",
        "Oven Zone #3 (°C)",
        "Speed [m/min]",
        "PLC1.DB10.DBX0.1",
        "a:b",
        "a::b",
        ":",
        "::",
        ":a",
        "a:",
        "a:b:c",
        "a b:c d",
        "a:1",
        "1:2",
        "x:y z",
        "primvars:displayColor",
        "xformOp:rotateXYZ",
        "twinloom:signal:address",
        "a:b c:d-e",
        // Latin with diacritics, Greek, Cyrillic, CJK, Hangul, Arabic, Hebrew, Devanagari, Thai.
        "wörld",
        "München",
        "Ärger",
        "Ça va",
        "façade",
        "naïve",
        "Ελλάδα",
        "Москва",
        "Привет мир",
        "日本語",
        "東京都",
        "ロボット1",
        "中文名字",
        "한국어",
        "로봇 팔",
        "العربية",
        "עברית",
        "हिन्दी",
        "ภาษาไทย",
        "Straße",
        "ŒUVRE",
        "ǅ",
        // Emoji and other astral-plane characters.
        "😀",
        "🤖 robot",
        "robot 🤖",
        "🚗🚗",
        "👍🏽",
        "👨‍👩‍👧",
        "🇩🇪",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
        "𠀀",
        "a😀b😀c",
        // Mixed and combining marks, special spaces.
        "e\u{301}",
        "\u{301}",
        "a\u{a0}b",
        "a\u{2003}b",
        "\u{feff}bom",
        "\u{200b}",
        "x\u{10ffff}",
        "\u{e000}",
        "Käfer 1",
        "1 Käfer",
        "_Käfer",
        "ß",
        "ı",
        "İ",
        "µ",
        "Ω",
        "K",
        "Å",
    ];
    let mut names: Vec<String> = base.iter().map(|s| s.to_string()).collect();
    // Generated: every printable ASCII character alone, after a letter and before a digit.
    for b in 0x20u8..0x7f {
        let c = char::from(b);
        names.push(c.to_string());
        names.push(format!("a{c}"));
        names.push(format!("{c}1"));
    }
    // Generated: a spread of code points across the planes, alone and between ASCII.
    for cp in (0xa0u32..0x3_0000).step_by(997).filter_map(char::from_u32) {
        names.push(cp.to_string());
        names.push(format!("x{cp}y{cp}{cp}z"));
    }
    // Long names.
    names.push("a".repeat(300));
    names.push("ä".repeat(200));
    names.push("Station ".repeat(40));
    names
}

/// Groups of siblings: duplicates, requested suffixes, empties, names that become equal once valid.
fn sibling_groups() -> Vec<Vec<&'static str>> {
    vec![
        vec![],
        vec!["a"],
        vec!["a", "a", "a"],
        vec!["a", "a", "a_1"],
        vec!["a_1", "a", "a"],
        vec!["a", "a", "a_1", "", "", "a b", "a_b", "1", "_1"],
        vec!["", "", "", "_1", "_2"],
        vec!["Robot", "Robot", "Robot_2", "Robot_1", "Robot"],
        vec!["a b", "a b", "a-b", "tn__ab_Z2"],
        vec!["München", "München", "Munchen", "München_1"],
        vec!["😀", "😀", "😀_1"],
        vec!["1", "1", "_1", "tn__1_"],
        vec!["x:y", "x:y", "x:y_1", "x", "x"],
        vec!["a:b", "a:b", "a::b", "a:", ":"],
        vec!["Station 010", "Station 010", "Station 010", "Station_010", "Station 010_1"],
        vec!["tn__", "", "tn__"],
        vec!["nul\0a", "nul\0b", "nul"],
    ]
}

#[test]
fn matches_usd_exchange() {
    let names = single_names();
    let groups = sibling_groups();
    let reserved: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["a", "a"], vec!["a"]),
        (vec!["a", "a_1"], vec!["a", "a_2"]),
        (vec!["x:y", "x:y"], vec!["x:y", "x:y_1"]),
        (vec!["", ""], vec!["tn__", "_1"]),
    ];
    // Existing children must be valid prim names already.
    let existing: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["a", "a", "a"], vec!["a", "a_1"]),
        (vec!["", "Robot 1"], vec!["tn__", "tn__Robot1_Z2"]),
        (vec!["b", "b_1", "b"], vec!["b_2"]),
    ];
    let cases = serde_json::json!({ "names": names, "groups": groups, "reserved": reserved, "existing": existing });
    let expected = run_usdex(&cases);
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().expect("array").iter().map(|s| s.as_str().expect("string").to_owned()).collect()
    };
    let nested =
        |v: &serde_json::Value| -> Vec<Vec<String>> { v.as_array().expect("array").iter().map(strings).collect() };

    for (key, len) in
        [("prim", names.len()), ("property", names.len()), ("children", groups.len()), ("properties", groups.len())]
    {
        assert_eq!(expected[key].as_array().map(Vec::len), Some(len), "usdex answered {key} for every case");
    }
    for (key, len) in [
        ("reserved_prims", reserved.len()),
        ("reserved_properties", reserved.len()),
        ("existing_children", existing.len()),
    ] {
        assert_eq!(expected[key].as_array().map(Vec::len), Some(len), "usdex answered {key} for every case");
    }
    let mut mismatches = Vec::new();
    for (name, want) in names.iter().zip(strings(&expected["prim"])) {
        let got = valid_prim_name(name);
        if got != want {
            mismatches.push(format!("prim {name:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for (name, want) in names.iter().zip(strings(&expected["property"])) {
        let got = valid_property_name(name);
        if got != want {
            mismatches.push(format!("property {name:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for (group, want) in groups.iter().zip(nested(&expected["children"])) {
        let got = valid_child_names(group);
        if got != want {
            mismatches.push(format!("children {group:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for (group, want) in groups.iter().zip(nested(&expected["properties"])) {
        let got = valid_property_names(group, &[]);
        if got != want {
            mismatches.push(format!("properties {group:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for ((group, taken), want) in reserved.iter().zip(nested(&expected["reserved_prims"])) {
        let got = valid_prim_names(group, taken);
        if got != want {
            mismatches.push(format!("prims {group:?} reserved {taken:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for ((group, children), want) in existing.iter().zip(nested(&expected["existing_children"])) {
        let got = valid_prim_names(group, children);
        if got != want {
            mismatches.push(format!("children {group:?} of a prim with {children:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    for ((group, taken), want) in reserved.iter().zip(nested(&expected["reserved_properties"])) {
        let got = valid_property_names(group, taken);
        if got != want {
            mismatches.push(format!("properties {group:?} reserved {taken:?}: usdex {want:?}, ours {got:?}"));
        }
    }
    let compared = 2 * names.len() + 2 * groups.len() + 2 * reserved.len() + existing.len();
    assert!(names.len() > 500, "the case list shrank: {}", names.len());
    assert!(mismatches.is_empty(), "{} of {compared} differ:\n{}", mismatches.len(), mismatches.join("\n"));
    eprintln!("{compared} names and sibling groups identical to usd-exchange");
}
