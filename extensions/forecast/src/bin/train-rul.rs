//! `train-rul`: the one command that rebuilds the shipped FD001 RUL model.
//!
//! `cargo run --release -p twinloom-forecast --bin train-rul -- --train PATH --test PATH --out PATH
//! [--predictions PATH] [--no-cv]` trains with fixed seeds, prints the cross-validated RMSE and NASA score as
//! JSON lines, writes the model and the test predictions (`unit,predicted_rul`; default next to the model as
//! `fd001_test_predictions.csv`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;
use twinloom_forecast::{cmapss, cross_validate, fd001_config, histories, predict_engines, train, CvConfig};

struct Args {
    train: PathBuf,
    test: PathBuf,
    out: PathBuf,
    predictions: Option<PathBuf>,
    cv: bool,
}

fn parse_args() -> Result<Args, String> {
    let dir = twinloom_forecast::cmapss_dir();
    let mut a = Args {
        train: dir.join("train_FD001.txt"),
        test: dir.join("test_FD001.txt"),
        out: twinloom_forecast::shipped_model_path(),
        predictions: None,
        cv: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().map(PathBuf::from).ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--train" => a.train = value()?,
            "--test" => a.test = value()?,
            "--out" => a.out = value()?,
            "--predictions" => a.predictions = Some(value()?),
            "--no-cv" => a.cv = false,
            "-h" | "--help" => {
                return Err("usage: train-rul --train PATH --test PATH --out MODEL [--predictions CSV] [--no-cv]".into())
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn run(a: &Args) -> Result<(), String> {
    let start = Instant::now();
    let cfg = fd001_config();
    let engines = cmapss::read_cmapss(&a.train).map_err(|e| e.to_string())?;
    let test = cmapss::read_cmapss(&a.test).map_err(|e| e.to_string())?;
    let h = histories(&engines, &cfg).map_err(|e| e.to_string())?;
    if a.cv {
        let cv = CvConfig::default();
        let r = cross_validate(&h, &cfg, &cv).map_err(|e| e.to_string())?;
        let note = format!(
            "{}-fold cross-validation by engine on train_FD001, {} random truncations per held-out engine (true RUL \
             uniform in [{}, {}], >= {} cycles observed); the test truth is not shipped",
            cv.folds, cv.cuts_per_engine, cv.min_rul, cv.max_rul, cv.min_observed
        );
        println!("{}", json!({"name": "cmapss_fd001_rmse", "value": r.rmse, "unit": "cycles", "note": note}));
        println!(
            "{}",
            json!({"name": "cmapss_fd001_rmse_capped_truth", "value": r.rmse_capped_truth, "unit": "cycles",
                   "note": format!("truth capped at {}", cfg.rul_cap)})
        );
        println!("{}", json!({"name": "cmapss_fd001_mae", "value": r.mae, "unit": "cycles"}));
        println!(
            "{}",
            json!({"name": "cmapss_fd001_nasa_score", "value": r.nasa_score, "unit": "score",
                   "note": format!("summed over {} cuts = {:.1}, scaled to 100 engines", r.cuts, r.nasa_score_sum)})
        );
        println!("{}", json!({"name": "cmapss_fd001_fold_rmse", "value": r.fold_rmse, "unit": "cycles"}));
    }
    let t0 = Instant::now();
    let model = train(&h, &cfg).map_err(|e| e.to_string())?;
    let train_s = t0.elapsed().as_secs_f64();
    model.save(&a.out).map_err(|e| e.to_string())?;
    let preds = predict_engines(&model, &test).map_err(|e| e.to_string())?;
    let csv_path = a.predictions.clone().unwrap_or_else(|| a.out.with_file_name("fd001_test_predictions.csv"));
    let mut csv = String::from("unit,predicted_rul\n");
    for (u, p) in &preds {
        csv.push_str(&format!("{u},{p:.2}\n"));
    }
    std::fs::write(&csv_path, csv).map_err(|e| format!("cannot write {}: {e}", csv_path.display()))?;
    let size = std::fs::metadata(&a.out).map(|m| m.len()).unwrap_or(0);
    println!("{}", json!({"name": "cmapss_fd001_final_train_time", "value": train_s, "unit": "s"}));
    println!("{}", json!({"name": "cmapss_fd001_total_time", "value": start.elapsed().as_secs_f64(), "unit": "s"}));
    println!(
        "{}",
        json!({"name": "cmapss_fd001_model_size", "value": size, "unit": "bytes", "note": a.out.display().to_string()})
    );
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(|a| run(&a)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("train-rul: {e}");
            ExitCode::FAILURE
        }
    }
}
