//! Forecast benchmark: cross-validated RMSE and NASA score of the FD001 RUL model (the test truth is not
//! shipped, so the error is estimated by 5-fold cross-validation by engine), and its training time.
//! Prints one JSON object per line. Usage: `cargo bench -p twinloom-forecast -- [PREFIX]`.

use std::time::Instant;

use serde_json::json;
use twinloom_forecast::{cmapss, cross_validate, fd001_config, histories, train, CvConfig};

fn main() {
    let prefix = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let emit = |v: serde_json::Value| {
        if v["name"].as_str().is_some_and(|n| n.starts_with(&prefix)) {
            println!("{v}");
        }
    };
    let path = twinloom_forecast::cmapss_dir().join("train_FD001.txt");
    let engines = match cmapss::read_cmapss(&path) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("forecast bench: {e}");
            std::process::exit(1);
        }
    };
    let cfg = fd001_config();
    let h = histories(&engines, &cfg).expect("FD001 has the informative sensors");
    if "cmapss_fd001_rmse".starts_with(&prefix) || "cmapss_fd001_nasa_score".starts_with(&prefix) || prefix.is_empty() {
        let cv = CvConfig::default();
        let r = cross_validate(&h, &cfg, &cv).expect("cross-validation");
        let note = format!(
            "cross-validated ({}-fold by engine on train_FD001, {} random truncations per engine, true RUL in \
             [{}, {}], uncapped truth) because the test truth RUL_FD001.txt is not shipped",
            cv.folds, cv.cuts_per_engine, cv.min_rul, cv.max_rul
        );
        emit(json!({"name": "cmapss_fd001_rmse", "value": r.rmse, "unit": "cycles", "note": note}));
        emit(json!({"name": "cmapss_fd001_nasa_score", "value": r.nasa_score, "unit": "score",
                    "note": format!("cross-validated, scaled to 100 engines ({} cuts)", r.cuts)}));
    }
    let t0 = Instant::now();
    let model = train(&h, &cfg).expect("training");
    emit(json!({"name": "cmapss_fd001_train_time", "value": t0.elapsed().as_secs_f64(), "unit": "s",
                "note": format!("final model, {} boosters x {} trees, one thread", model.members.len(), cfg.gbm.trees)}));
}
