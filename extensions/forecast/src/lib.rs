//! Remaining-useful-life forecasting (issue 18).
//!
//! A model over named signal columns: each cycle's row is normalised with training statistics, summarised
//! over a sliding window (last value, mean, least-squares slope, EWMA, min, max, drift from the asset's own
//! baseline, plus its age in cycles), and mapped to RUL by an ensemble of hand-written histogram
//! gradient-boosted trees. Trained here on NASA C-MAPSS FD001 (Saxena, Goebel, Simon, Eklund, PHM 2008);
//! see `README.md` for the method, the numbers and how to rebuild `models/fd001.model`.

pub mod cmapss;
pub mod error;
pub mod features;
pub mod gbm;
pub mod hitting;
pub mod model;
pub mod rng;
pub mod train;

use std::path::{Path, PathBuf};

pub use error::{ForecastError, Result};
pub use hitting::{HittingConfig, HittingForecast, HittingTime};
pub use model::{Forecaster, RulModel};
pub use train::{cross_validate, nasa_score, rmse, train, CvConfig, CvReport, TrainConfig};

use cmapss::{Engine, INFORMATIVE_SENSORS};
use features::FeatureSpec;
use gbm::GbmParams;

/// Where the workspace keeps the C-MAPSS files (`/work/shared/data/cmapss` next to the checkout).
pub fn cmapss_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/cmapss")
}

/// The shipped model file of FD001.
pub fn shipped_model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fd001.model")
}

/// The shipped FD001 model, compiled into the library (no file needed at run time).
pub fn shipped_fd001() -> Result<RulModel> {
    RulModel::from_text(include_str!("../models/fd001.model"))
}

/// The configuration that produced `models/fd001.model`.
pub fn fd001_config() -> TrainConfig {
    TrainConfig {
        columns: INFORMATIVE_SENSORS.iter().map(|s| s.to_string()).collect(),
        features: FeatureSpec::default(),
        rul_cap: 125.0,
        gbm: GbmParams::default(),
        seeds: vec![1, 2, 3],
    }
}

/// The engines' histories restricted to the configuration's columns.
pub fn histories(engines: &[Engine], cfg: &TrainConfig) -> Result<Vec<Vec<Vec<f64>>>> {
    engines.iter().map(|e| e.select(&cfg.columns)).collect()
}

/// Trains the FD001 model from a `train_FD001.txt` (the function behind `train-rul` and its rebuild test).
pub fn train_fd001(train_path: &Path) -> Result<RulModel> {
    let cfg = fd001_config();
    let engines = cmapss::read_cmapss(train_path)?;
    train::train(&histories(&engines, &cfg)?, &cfg)
}

/// Predicted RUL at the last cycle of every engine of a test file, as `(unit, rul)`.
pub fn predict_engines(model: &RulModel, engines: &[Engine]) -> Result<Vec<(u32, f64)>> {
    engines.iter().map(|e| Ok((e.unit, model.predict(&e.select(&model.columns)?)?))).collect()
}

/// docs/forecast.md's Rust examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/forecast.md")]
struct ForecastDocs;
