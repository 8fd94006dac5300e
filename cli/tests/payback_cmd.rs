//! `twinloom payback` exactly as docs/payback.md prints it: the page's ledger and actuals CSV give the
//! page's report; `--stage` adds the month measured from a stage; `--json` and `--plot` agree with the
//! text; bad ledgers exit 2 with file and line and print nothing.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use twinloom_tests::{workspace_root, TempDir};

fn twinloom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinloom")).args(args).current_dir(dir).output().expect("start twinloom")
}

/// The body of the fenced block that starts with "```{lang}" (the n-th of that language).
fn block(doc: &str, lang: &str, n: usize) -> String {
    let fence = format!("```{lang}\n");
    let start = doc.match_indices(&fence).nth(n).unwrap_or_else(|| panic!("block {lang} #{n}")).0 + fence.len();
    doc[start..start + doc[start..].find("```").unwrap()].to_string()
}

/// The page's files in a fresh folder: payback.toml, actuals.csv and a stage with the oven at 90 kWh/car.
fn page(dir: &Path) -> String {
    let doc = std::fs::read_to_string(workspace_root().join("docs/payback.md")).unwrap();
    std::fs::write(dir.join("payback.toml"), block(&doc, "toml", 0)).unwrap();
    std::fs::write(dir.join("actuals.csv"), block(&doc, "csv", 0)).unwrap();
    std::fs::create_dir_all(dir.join("stage")).unwrap();
    std::fs::write(
        dir.join("stage/plant.usda"),
        "#usda 1.0\n\ndef Xform \"Plant\"\n{\n    def Xform \"Paint\"\n    {\n        def Xform \"Oven\"\n        {\n            double energyPerCarKWh = 90.0\n        }\n    }\n}\n",
    )
    .unwrap();
    doc
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn the_pages_examples_print_what_the_page_shows() {
    let dir = TempDir::new("payback-doc");
    let doc = page(dir.path());
    for (i, text) in [block(&doc, "text", 0), block(&doc, "text", 1)].iter().enumerate() {
        let mut lines = text.lines();
        let command = lines.next().unwrap().strip_prefix("$ twinloom ").expect("a command line");
        let args: Vec<&str> = command.split_whitespace().collect();
        let want: Vec<&str> = lines.take_while(|l| *l != "…").collect();
        let got = stdout(&twinloom(dir.path(), &args));
        let got: Vec<&str> = got.lines().take(want.len()).collect();
        assert_eq!(got, want, "example {i}: {command}");
    }
}

#[test]
fn json_and_plot_agree_with_the_hand_numbers() {
    let dir = TempDir::new("payback-json");
    page(dir.path());
    let out = stdout(&twinloom(dir.path(), &["payback", "--ledger", "payback.toml", "--json", "--plot", "p.svg"]));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!((doc["payback_projected"].as_str(), doc["payback_actual"].as_str()), (Some("2027-02"), Some("2027-04")));
    let lever = |id: &str| doc["levers"].as_array().unwrap().iter().find(|l| l["name"] == id).unwrap().clone();
    // change_orders: 60,000 measured of 74,666.67 projected in April–June, then 30 months at 22,500.
    let co = lever("change_orders");
    assert!((co["ratio"].as_f64().unwrap() - 60_000.0 / (28_000.0 * 2.0 / 3.0 + 56_000.0)).abs() < 1e-12);
    assert!((co["actual_total"].as_f64().unwrap() - 741_000.0).abs() < 1e-6);
    assert_eq!(lever("downtime")["ratio"], Value::Null);
    // Investment: 180,000 + 420,000 + 35 × 6,500 planned, the pilot cost 195,000.
    assert_eq!(doc["invest_planned_total"], 827_500.0);
    assert_eq!(doc["invest_actual_total"], 842_500.0);
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 36);
    // January: only the pilot; June: all three measured levers, so the month counts as measured.
    assert_eq!(rows[0]["cumulative_actual"], -195_000.0);
    assert_eq!(rows[5]["saving_measured"], 21_000.0 + 19_000.0 + 8_300.0);
    assert_eq!(rows[6]["saving_measured"], Value::Null);
    let svg = std::fs::read_to_string(dir.path().join("p.svg")).unwrap();
    assert!(svg.contains("payback projected 2027-02 (month 14), actual 2027-04 (month 16)"));
    assert_eq!(svg.matches("stroke-width=\"1.2\"").count(), 2, "two curves");

    // Measured by the twin: July's paint energy from the stage.
    let out = stdout(&twinloom(
        dir.path(),
        &["payback", "--ledger", "payback.toml", "--stage", "stage", "--month", "2026-07", "--json"],
    ));
    let doc: Value = serde_json::from_str(&out).unwrap();
    // (92 - 90) kWh × 0.21 EUR × 21,000 cars.
    assert!((doc["measured"][0]["saving"].as_f64().unwrap() - 8_820.0).abs() < 1e-6, "{}", doc["measured"]);
    assert_eq!(doc["levers"][2]["through"], "2026-07");
}

#[test]
fn bad_ledgers_exit_2_with_file_and_line() {
    let dir = TempDir::new("payback-bad");
    let doc = page(dir.path());
    let ledger = block(&doc, "toml", 0);
    let cases = [
        (ledger.replace("amount = 420000", "amount = -420000"), "payback.toml:15:", "finite amount ≥ 0"),
        (ledger.replace("dimension = \"cost\"", "dimension = \"fun\""), "payback.toml:40:", "dimension \"fun\""),
        (ledger.replace("start = \"2026-01\"", "start = \"2026-1\""), "payback.toml:4:", "not a month"),
    ];
    for (text, at, what) in cases {
        std::fs::write(dir.path().join("payback.toml"), text).unwrap();
        let out = twinloom(dir.path(), &["payback", "--ledger", "payback.toml"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(out.stdout.is_empty() && err.contains(at) && err.contains(what), "{at} {what}: {err}");
    }
    // A hole in the actuals, and an actual for a lever the ledger does not have (CSV line named).
    std::fs::write(dir.path().join("payback.toml"), &ledger).unwrap();
    let csv = block(&doc, "csv", 0);
    std::fs::write(dir.path().join("actuals.csv"), csv.replace("2026-05,balancing,20500\n", "")).unwrap();
    let err =
        String::from_utf8_lossy(&twinloom(dir.path(), &["payback", "--ledger", "payback.toml"]).stderr).into_owned();
    assert!(err.contains("missing actuals") && err.contains("balancing 2026-05"), "{err}");
    std::fs::write(dir.path().join("actuals.csv"), csv.replace("2026-06,balancing", "2026-06,welding")).unwrap();
    let err =
        String::from_utf8_lossy(&twinloom(dir.path(), &["payback", "--ledger", "payback.toml"]).stderr).into_owned();
    assert!(err.contains("actuals.csv:8") && err.contains("unknown lever \"welding\""), "{err}");
    // --stage without a month, and a month that already has an actual.
    std::fs::write(dir.path().join("actuals.csv"), &csv).unwrap();
    let out = twinloom(dir.path(), &["payback", "--ledger", "payback.toml", "--stage", "stage"]);
    assert_eq!(out.status.code(), Some(2));
    let out = twinloom(dir.path(), &["payback", "--ledger", "payback.toml", "--stage", "stage", "--month", "2026-06"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has an actual for 2026-06"));
}
