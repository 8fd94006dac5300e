//! The shipped FD001 model: rebuilding it with the `train-rul` function reproduces the file byte for byte,
//! its test predictions are bounded, deterministic and match the shipped CSV, and the online forecaster
//! agrees with batch prediction.

use twinloom_forecast::cmapss::read_cmapss;
use twinloom_forecast::{predict_engines, shipped_model_path, train_fd001, ForecastError, RulModel};

#[test]
fn rebuild_reproduces_shipped_model_and_predictions() {
    let dir = twinloom_forecast::cmapss_dir();
    let shipped = std::fs::read_to_string(shipped_model_path()).expect("models/fd001.model is shipped");
    let rebuilt = train_fd001(&dir.join("train_FD001.txt")).expect("training");
    let text = rebuilt.to_text().expect("serialise");
    // Training is single-threaded and uses only +, -, *, / and integer random numbers, so the file is exact.
    assert!(text == shipped, "rebuilt model differs from models/fd001.model: rerun train-rul (see README)");
    assert!(shipped.len() < 1 << 20, "model file stays under 1 MB");

    let loaded = RulModel::from_text(&shipped).expect("shipped model parses");
    assert_eq!(loaded, rebuilt);
    assert_eq!(twinloom_forecast::shipped_fd001().expect("embedded model"), rebuilt);

    let test = read_cmapss(&dir.join("test_FD001.txt")).expect("test_FD001");
    let a = predict_engines(&loaded, &test).expect("predict");
    let b = predict_engines(&rebuilt, &test).expect("predict");
    assert_eq!(a, b, "predictions are deterministic");
    assert_eq!(a.len(), 100);
    assert!(a.iter().all(|(_, p)| (0.0..=150.0).contains(p)), "{a:?}");

    let csv = std::fs::read_to_string(shipped_model_path().with_file_name("fd001_test_predictions.csv"))
        .expect("shipped predictions");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("unit,predicted_rul"));
    let rows: Vec<String> = lines.map(str::to_string).collect();
    let expect: Vec<String> = a.iter().map(|(u, p)| format!("{u},{p:.2}")).collect();
    assert_eq!(rows, expect);

    // Online use: one asset fed cycle by cycle gives the batch answer after every cycle.
    let engine = &test[0];
    let history = engine.select(&loaded.columns).expect("columns");
    let mut online = loaded.forecaster();
    assert_eq!(online.rul(), None);
    for (t, row) in history.iter().enumerate() {
        online.push(row).expect("push");
        if t % 7 == 0 || t + 1 == history.len() {
            assert_eq!(online.rul(), Some(loaded.predict(&history[..=t]).expect("predict")));
        }
    }
    assert!(matches!(online.push(&[1.0, 2.0]), Err(ForecastError::Input(_))));
    assert!(matches!(loaded.predict(&[]), Err(ForecastError::Input(_))));
}

#[test]
fn corrupt_model_files_are_rejected() {
    let shipped = std::fs::read_to_string(shipped_model_path()).expect("shipped model");
    assert!(matches!(RulModel::from_text("{}"), Err(ForecastError::Model(_))));
    let wrong_format = shipped.replacen("twinloom-rul/1", "twinloom-rul/0", 1);
    assert!(matches!(RulModel::from_text(&wrong_format), Err(ForecastError::Model(_))));
    let mut m = RulModel::from_text(&shipped).expect("parses");
    m.members[0].trees[0].splits[0].2 = 10_000;
    let text = m.to_text().expect("serialise");
    assert!(matches!(RulModel::from_text(&text), Err(ForecastError::Model(_))));
}
