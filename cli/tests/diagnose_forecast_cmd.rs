//! `twinloom diagnose` on NAB series (a known-cause machine failure is found inside NAB's labelled windows;
//! bad input is counted by rule, never a crash) and `twinloom forecast rul` on NASA C-MAPSS FD001 (the
//! shipped model's predictions, a model trained by `--train` and saved, RMSE and NASA score from `--truth`
//! computed exactly, the plots drawn).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use twinloom_tests::{workspace_root, TempDir};

fn twinloom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_twinloom"))
}

fn run_ok(args: &[&str]) -> Output {
    let out = twinloom().args(args).output().expect("start twinloom");
    assert!(out.status.success(), "twinloom {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn shared(rel: &str) -> PathBuf {
    workspace_root().join("../shared/data").join(rel)
}

/// NAB's naive timestamps as ms since the epoch (UTC).
fn nab_ms(ts: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S%.f")
        .expect("a NAB timestamp")
        .and_utc()
        .timestamp_millis()
}

#[test]
fn diagnose_finds_the_machine_failure_inside_the_labelled_windows() {
    let file = "realKnownCause/machine_temperature_system_failure.csv";
    let dir = TempDir::new("diagnose");
    let svg = dir.path().join("machine.svg");
    let csv = shared(&format!("nab/data/{file}"));
    let out = run_ok(&["diagnose", "--csv", csv.to_str().unwrap(), "--json", "--plot", svg.to_str().unwrap()]);
    let doc = json_of(&out);
    assert_eq!(doc["samples"], 22_695, "{doc}");
    let labels: Value =
        serde_json::from_str(&std::fs::read_to_string(shared("nab/labels/combined_windows.json")).unwrap()).unwrap();
    let windows: Vec<(i64, i64)> = labels[file]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (nab_ms(w[0].as_str().unwrap()), nab_ms(w[1].as_str().unwrap())))
        .collect();
    let anomalies = doc["anomalies"].as_array().unwrap();
    assert!(!anomalies.is_empty() && anomalies.len() <= 40, "{} episodes", anomalies.len());
    let inside = anomalies
        .iter()
        .filter(|a| {
            let t = a["from_ms"].as_i64().unwrap();
            windows.iter().any(|&(from, to)| (from..=to).contains(&t))
        })
        .count();
    // Most episodes fall inside NAB's windows (the failure itself, the third window, is labelled only at
    // NAB's optimised threshold: below).
    assert!(inside >= 4, "{inside} of {} episodes inside NAB's windows", anomalies.len());
    let third = windows[2];
    let found_third = |doc: &Value| {
        doc["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| (third.0..=third.1).contains(&a["from_ms"].as_i64().unwrap()))
    };
    assert!(!found_third(&doc));
    let tuned = json_of(&run_ok(&["diagnose", "--csv", csv.to_str().unwrap(), "--json", "--set", "alarm_score=0.55"]));
    assert!(found_third(&tuned), "the failure window {third:?} at alarm_score 0.55");
    for a in anomalies {
        let text = a["explanation"].as_str().unwrap();
        assert!(text.contains("normal band") && text.contains("peak score"), "{text}");
        assert!(a["band_low"].as_f64().unwrap() <= a["band_high"].as_f64().unwrap());
    }
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<title>").count() == anomalies.len());

    // The same run as text: one line per episode after the summary.
    let text = String::from_utf8(run_ok(&["diagnose", "--csv", csv.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(text.lines().filter(|l| l.starts_with("anomaly ")).count(), anomalies.len(), "{text}");
}

#[test]
fn diagnose_counts_bad_input_by_rule_and_refuses_malformed_files() {
    let dir = TempDir::new("diagnose-bad");
    let mut csv = String::from("timestamp,value\n");
    for i in 0..600 {
        csv.push_str(&format!("2024-01-01 {:02}:{:02}:00,{}\n", i / 60, i % 60, 50.0 + (i % 7) as f64 * 0.1));
    }
    // NaN, a duplicate timestamp, one out of order, an infinite value.
    csv.push_str("2024-01-01 10:00:00,NaN\n2024-01-01 10:00:00,50.0\n2024-01-01 10:00:00,50.1\n");
    csv.push_str("2024-01-01 09:00:00,50.0\n2024-01-01 10:01:00,inf\n2024-01-01 10:02:00,50.2\n");
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, csv).unwrap();
    let doc = json_of(&run_ok(&["diagnose", "--csv", path.to_str().unwrap(), "--json"]));
    assert_eq!(doc["samples"], 606);
    assert_eq!(doc["rejected"]["non_finite"], 2, "{doc}");
    assert_eq!(doc["rejected"]["duplicates"], 1, "{doc}");
    assert_eq!(doc["rejected"]["out_of_order"], 1, "{doc}");
    // A flat, slightly noisy signal raises no alarm.
    assert_eq!(doc["anomalies"].as_array().unwrap().len(), 0, "{doc}");

    std::fs::write(&path, "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,one\n").unwrap();
    let out = twinloom().args(["diagnose", "--csv", path.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.csv") && err.contains("line 3"), "{err}");
    let out = twinloom().args(["diagnose", "--csv", path.to_str().unwrap(), "--set", "nonsense=1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
}

/// The engines of train_FD001 cut `keep` cycles before failure: a test file with known truth.
fn truncated_train(dir: &Path, engines: usize) -> (PathBuf, PathBuf, Vec<f64>) {
    let text = std::fs::read_to_string(shared("cmapss/train_FD001.txt")).unwrap();
    let mut by_unit: Vec<Vec<&str>> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let unit: usize = line.split_whitespace().next().unwrap().parse().unwrap();
        if unit > engines {
            break;
        }
        if by_unit.len() < unit {
            by_unit.push(Vec::new());
        }
        by_unit[unit - 1].push(line);
    }
    let (mut test, mut truth) = (String::new(), Vec::new());
    for (i, rows) in by_unit.iter().enumerate() {
        let rul = 10 + (i * 37) % 120; // between 10 and 129 cycles before failure
        let keep = rows.len().saturating_sub(rul).max(31);
        for r in &rows[..keep] {
            test.push_str(r);
            test.push('\n');
        }
        truth.push((rows.len() - keep) as f64);
    }
    let test_path = dir.join("test.txt");
    let truth_path = dir.join("truth.txt");
    std::fs::write(&test_path, test).unwrap();
    std::fs::write(&truth_path, truth.iter().map(|t| format!("{t}\n")).collect::<String>()).unwrap();
    (test_path, truth_path, truth)
}

#[test]
fn forecast_rul_predicts_with_the_shipped_model_and_scores_against_truth() {
    let dir = TempDir::new("forecast");
    // The shipped model on the real test set: the predictions shipped next to it.
    let test = shared("cmapss/test_FD001.txt");
    let doc = json_of(&run_ok(&["forecast", "rul", "--test", test.to_str().unwrap(), "--json"]));
    let engines = doc["engines"].as_array().unwrap();
    assert_eq!(engines.len(), 100);
    let shipped =
        std::fs::read_to_string(workspace_root().join("extensions/forecast/models/fd001_test_predictions.csv"))
            .expect("the shipped predictions");
    let shipped: Vec<f64> =
        shipped.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap()).collect();
    for (e, s) in engines.iter().zip(&shipped) {
        let p = e["predicted_rul"].as_f64().unwrap();
        assert!((0.0..=150.0).contains(&p) && (p - s).abs() < 0.05, "{e} vs {s}");
    }

    // Known truth: RMSE and NASA's score exactly as defined, and a plot with both series.
    let (test, truth_path, truth) = truncated_train(dir.path(), 20);
    let svg = dir.path().join("rul.svg");
    let args = ["forecast", "rul", "--test", test.to_str().unwrap(), "--truth", truth_path.to_str().unwrap()];
    let doc = json_of(&run_ok(&[&args[..], &["--json", "--plot", svg.to_str().unwrap()]].concat()));
    let pred: Vec<f64> =
        doc["engines"].as_array().unwrap().iter().map(|e| e["predicted_rul"].as_f64().unwrap()).collect();
    let d: Vec<f64> = pred.iter().zip(&truth).map(|(p, t)| p - t).collect();
    let rmse = (d.iter().map(|d| d * d).sum::<f64>() / d.len() as f64).sqrt();
    let nasa: f64 = d.iter().map(|&d| if d < 0.0 { (-d / 13.0).exp() - 1.0 } else { (d / 10.0).exp() - 1.0 }).sum();
    assert!(
        (doc["rmse"].as_f64().unwrap() - rmse).abs() < 1e-9
            && (doc["nasa_score"].as_f64().unwrap() - nasa).abs() < 1e-6
    );
    // These engines were in the training set, so the fit is close.
    assert!(rmse < 20.0, "RMSE {rmse}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(svg.matches("<circle").count(), 40);

    // Bad truth files are refused with file and line.
    std::fs::write(&truth_path, "12\nabc\n").unwrap();
    let out = twinloom().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.code() == Some(2) && err.contains("truth.txt:2"), "{err}");
}

#[test]
fn forecast_rul_trains_a_model_that_reproduces_the_shipped_one() {
    let dir = TempDir::new("forecast-train");
    let model = dir.path().join("fd001.model");
    let train = shared("cmapss/train_FD001.txt");
    let test = shared("cmapss/test_FD001.txt");
    let trained = run_ok(&[
        "forecast",
        "rul",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--save-model",
        model.to_str().unwrap(),
    ]);
    let shipped = run_ok(&["forecast", "rul", "--test", test.to_str().unwrap()]);
    assert_eq!(String::from_utf8_lossy(&trained.stdout), String::from_utf8_lossy(&shipped.stdout));
    let reloaded = run_ok(&["forecast", "rul", "--model", model.to_str().unwrap(), "--test", test.to_str().unwrap()]);
    assert_eq!(reloaded.stdout, shipped.stdout);
}

#[test]
fn the_docs_command_examples_print_what_the_pages_show() {
    for page in ["docs/diagnostics.md", "docs/forecast.md"] {
        let doc = std::fs::read_to_string(workspace_root().join(page)).unwrap();
        let start = doc.find("```text\n$ twinloom ").expect("an example") + "```text\n".len();
        let text = &doc[start..start + doc[start..].find("```").unwrap()];
        let mut lines = text.lines();
        let args: Vec<&str> = lines.next().unwrap()["$ twinloom ".len()..].split_whitespace().collect();
        let want: Vec<&str> = lines.take_while(|l| *l != "…").collect();
        let out = twinloom().args(&args).current_dir(workspace_root()).output().unwrap();
        assert!(out.status.success(), "{page}: {}", String::from_utf8_lossy(&out.stderr));
        let got = String::from_utf8(out.stdout).unwrap();
        assert_eq!(got.lines().take(want.len()).collect::<Vec<_>>(), want, "{page}");
    }
}
