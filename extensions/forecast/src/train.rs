//! Training of a [`RulModel`] on run-to-failure histories, and the engine-wise cross-validation that
//! estimates the test error when the test truth is not at hand.

use serde::{Deserialize, Serialize};

use crate::error::{ForecastError, Result};
use crate::features::{features_per_cycle, FeatureSpec};
use crate::gbm::{bin_matrix, fit_edges, train_booster, GbmParams};
use crate::model::{RulModel, FORMAT};
use crate::rng::Rng;

/// Everything that defines a trained model besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Input signal names (the order of values in every row).
    pub columns: Vec<String>,
    /// Feature extraction.
    pub features: FeatureSpec,
    /// Piecewise-linear cap of the training target.
    pub rul_cap: f64,
    /// Boosting parameters of each member.
    pub gbm: GbmParams,
    /// One booster per seed; the model averages them.
    pub seeds: Vec<u64>,
}

/// How held-out engines are truncated, mimicking how the C-MAPSS test set was cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvConfig {
    /// Number of folds (engines split by a seeded shuffle).
    pub folds: usize,
    /// Random truncations evaluated per held-out engine.
    pub cuts_per_engine: usize,
    /// Seed of the fold split and of the cut points.
    pub seed: u64,
    /// Smallest true RUL at a cut (FD001 test truth: 7).
    pub min_rul: usize,
    /// Largest true RUL at a cut (FD001 test truth: 145).
    pub max_rul: usize,
    /// Fewest cycles left observed (shortest FD001 test engine: 31).
    pub min_observed: usize,
}

impl Default for CvConfig {
    fn default() -> Self {
        CvConfig { folds: 5, cuts_per_engine: 20, seed: 2008, min_rul: 7, max_rul: 145, min_observed: 31 }
    }
}

/// Cross-validated error estimates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// Truncated held-out histories evaluated.
    pub cuts: usize,
    /// RMSE against the true (uncapped) RUL: the number comparable to published FD001 results.
    pub rmse: f64,
    /// RMSE against the true RUL capped at the training cap.
    pub rmse_capped_truth: f64,
    /// Mean absolute error against the true RUL.
    pub mae: f64,
    /// NASA score summed over all cuts.
    pub nasa_score_sum: f64,
    /// NASA score scaled to 100 engines (the size of the FD001 test set): `sum / cuts * 100`.
    pub nasa_score: f64,
    /// RMSE (uncapped truth) per fold.
    pub fold_rmse: Vec<f64>,
}

/// Root mean squared error.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    let se: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t) * (p - t)).sum();
    (se / pred.len().max(1) as f64).sqrt()
}

/// NASA's asymmetric scoring function (Saxena et al. 2008): late predictions (`d = pred - true > 0`) cost
/// `exp(d/10) - 1`, early ones `exp(-d/13) - 1`; summed.
pub fn nasa_score(pred: &[f64], truth: &[f64]) -> f64 {
    pred.iter()
        .zip(truth)
        .map(|(p, t)| p - t)
        .map(|d| if d < 0.0 { (-d / 13.0).exp() - 1.0 } else { (d / 10.0).exp() - 1.0 })
        .sum()
}

/// Per-column mean and standard deviation over every row of every history (scale 1 for constant columns).
fn fit_normalizer(histories: &[Vec<Vec<f64>>], c: usize) -> (Vec<f64>, Vec<f64>) {
    let mut n = 0usize;
    let mut sum = vec![0.0; c];
    for row in histories.iter().flatten() {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
        n += 1;
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / n.max(1) as f64).collect();
    let mut ss = vec![0.0; c];
    for row in histories.iter().flatten() {
        for ((s, v), m) in ss.iter_mut().zip(row).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let scale = ss.iter().map(|s| (s / n.max(1) as f64).sqrt()).map(|s| if s > 1e-12 { s } else { 1.0 }).collect();
    (mean, scale)
}

/// Trains a model on run-to-failure histories (each ends at the failure cycle; rows in `cfg.columns` order).
/// The target after `t` observed cycles of a history of length `L` is `min(L - t, rul_cap)`.
pub fn train(histories: &[Vec<Vec<f64>>], cfg: &TrainConfig) -> Result<RulModel> {
    let c = cfg.columns.len();
    if histories.is_empty() || histories.iter().any(|h| h.is_empty()) {
        return Err(ForecastError::Input("training needs non-empty histories".into()));
    }
    if let Some(r) = histories.iter().flatten().find(|r| r.len() != c) {
        return Err(ForecastError::Input(format!("row of {} values for {c} columns", r.len())));
    }
    if cfg.seeds.is_empty() {
        return Err(ForecastError::Input("no seeds".into()));
    }
    let (mean, scale) = fit_normalizer(histories, c);
    let nf = cfg.features.len(c);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for h in histories {
        let z: Vec<Vec<f64>> =
            h.iter().map(|r| r.iter().zip(&mean).zip(&scale).map(|((v, m), s)| (v - m) / s).collect()).collect();
        x.extend(features_per_cycle(&cfg.features, &z, c));
        y.extend((1..=h.len()).map(|t| ((h.len() - t) as f64).min(cfg.rul_cap)));
    }
    let edges = fit_edges(&x, nf, cfg.gbm.bins);
    let cols = bin_matrix(&x, nf, &edges);
    let members = cfg.seeds.iter().map(|&s| train_booster(&cols, &edges, &y, &cfg.gbm, s)).collect();
    Ok(RulModel {
        format: FORMAT.to_string(),
        columns: cfg.columns.clone(),
        mean,
        scale,
        features: cfg.features.clone(),
        feature_names: cfg.features.names(&cfg.columns),
        rul_cap: cfg.rul_cap,
        edges,
        members,
    })
}

/// K-fold cross-validation by engine: each fold trains on the other engines and predicts the RUL of its own
/// engines truncated at random cut points (true RUL uniform in `[min_rul, max_rul]`, at least
/// `min_observed` cycles left observed), as the C-MAPSS test trajectories are.
pub fn cross_validate(histories: &[Vec<Vec<f64>>], cfg: &TrainConfig, cv: &CvConfig) -> Result<CvReport> {
    if cv.folds < 2 || histories.len() < cv.folds {
        return Err(ForecastError::Input(format!("{} folds over {} histories", cv.folds, histories.len())));
    }
    let mut rng = Rng::new(cv.seed);
    let mut order: Vec<usize> = (0..histories.len()).collect();
    rng.shuffle(&mut order);
    let (mut pred, mut truth, mut fold_rmse) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..cv.folds {
        let held: Vec<usize> = order.iter().enumerate().filter(|(i, _)| i % cv.folds == k).map(|(_, &e)| e).collect();
        let train_set: Vec<Vec<Vec<f64>>> =
            order.iter().filter(|e| !held.contains(e)).map(|&e| histories[e].clone()).collect();
        let model = train(&train_set, cfg)?;
        let (mut fp, mut ft) = (Vec::new(), Vec::new());
        for &e in &held {
            let h = &histories[e];
            let hi = cv.max_rul.min(h.len().saturating_sub(cv.min_observed));
            for _ in 0..cv.cuts_per_engine {
                let r = rng.range(cv.min_rul.min(hi), hi);
                fp.push(model.predict(&h[..h.len() - r])?);
                ft.push(r as f64);
            }
        }
        fold_rmse.push(rmse(&fp, &ft));
        pred.extend(fp);
        truth.extend(ft);
    }
    let capped: Vec<f64> = truth.iter().map(|t| t.min(cfg.rul_cap)).collect();
    let sum = nasa_score(&pred, &truth);
    let n = pred.len();
    Ok(CvReport {
        cuts: n,
        rmse: rmse(&pred, &truth),
        rmse_capped_truth: rmse(&pred, &capped),
        mae: pred.iter().zip(&truth).map(|(p, t)| (p - t).abs()).sum::<f64>() / n.max(1) as f64,
        nasa_score_sum: sum,
        nasa_score: sum / n.max(1) as f64 * 100.0,
        fold_rmse,
    })
}
