//! The trained RUL model: named input columns, their normalisation, the feature spec, shared bin edges and
//! an ensemble of boosters. Saved as one line of JSON; usable in batch (`predict`) or online (`Forecaster`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ForecastError, Result};
use crate::features::{FeatureSpec, FeatureState};
use crate::gbm::Booster;

/// Format tag written into every model file.
pub const FORMAT: &str = "twinloom-rul/1";

/// A remaining-useful-life model over named signal columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RulModel {
    /// Always [`FORMAT`].
    pub format: String,
    /// Input signal names, in the order rows are given.
    pub columns: Vec<String>,
    /// Per-column mean subtracted before feature extraction (training statistics).
    pub mean: Vec<f64>,
    /// Per-column scale divided by after subtracting the mean.
    pub scale: Vec<f64>,
    /// Feature extraction parameters.
    pub features: FeatureSpec,
    /// Names of the extracted features (documentation; fixed by `columns` and `features`).
    pub feature_names: Vec<String>,
    /// Cap of the training target (piecewise-linear RUL); predictions lie in `[0, rul_cap]`.
    pub rul_cap: f64,
    /// Bin edges per feature, shared by every booster.
    pub edges: Vec<Vec<f64>>,
    /// Boosters trained with different seeds; the prediction is their mean.
    pub members: Vec<Booster>,
}

impl RulModel {
    /// Normalises one raw row (one value per column).
    pub fn normalize(&self, row: &[f64]) -> Result<Vec<f64>> {
        if row.len() != self.columns.len() {
            return Err(ForecastError::Input(format!(
                "row has {} values, the model expects {} ({})",
                row.len(),
                self.columns.len(),
                self.columns.join(",")
            )));
        }
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(ForecastError::Input(format!("non-finite value {v} in row")));
        }
        Ok(row.iter().zip(&self.mean).zip(&self.scale).map(|((v, m), s)| (v - m) / s).collect())
    }

    /// RUL from an already extracted feature row.
    pub fn predict_features(&self, x: &[f64]) -> f64 {
        let sum: f64 = self.members.iter().map(|b| b.predict(x, &self.edges)).sum();
        (sum / self.members.len().max(1) as f64).clamp(0.0, self.rul_cap)
    }

    /// RUL after the last row of a history (rows in time order, one value per column).
    pub fn predict(&self, history: &[Vec<f64>]) -> Result<f64> {
        let mut f = self.forecaster();
        for row in history {
            f.push(row)?;
        }
        f.rul().ok_or_else(|| ForecastError::Input("empty history".into()))
    }

    /// An online forecaster for one asset.
    pub fn forecaster(&self) -> Forecaster<'_> {
        Forecaster { model: self, state: FeatureState::new(&self.features, self.columns.len()), buf: Vec::new() }
    }

    /// The model as one line of JSON (with a trailing newline); identical models give identical bytes.
    pub fn to_text(&self) -> Result<String> {
        serde_json::to_string(self).map(|s| s + "\n").map_err(|e| ForecastError::Model(e.to_string()))
    }

    /// Parses and validates a model written by [`RulModel::to_text`].
    pub fn from_text(text: &str) -> Result<Self> {
        let m: RulModel = serde_json::from_str(text).map_err(|e| ForecastError::Model(e.to_string()))?;
        m.validate()?;
        Ok(m)
    }

    /// Writes the model file.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_text()?).map_err(|source| ForecastError::Io { path: path.to_path_buf(), source })
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ForecastError::Io { path: path.to_path_buf(), source })?;
        Self::from_text(&text)
    }

    fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(ForecastError::Model(m));
        if self.format != FORMAT {
            return bad(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        let c = self.columns.len();
        if self.mean.len() != c || self.scale.len() != c || self.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return bad("normalisation does not match the columns".into());
        }
        let nf = self.features.len(c);
        if self.edges.len() != nf || self.feature_names.len() != nf {
            return bad(format!("{} edge lists for {nf} features", self.edges.len()));
        }
        if self.members.is_empty() {
            return bad("no boosters".into());
        }
        for (i, b) in self.members.iter().enumerate() {
            for (k, t) in b.trees.iter().enumerate() {
                t.validate(&self.edges).map_err(|e| ForecastError::Model(format!("member {i} tree {k}: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Online RUL estimation for one asset: push each cycle's raw row, read the current estimate.
#[derive(Debug, Clone)]
pub struct Forecaster<'a> {
    model: &'a RulModel,
    state: FeatureState,
    buf: Vec<f64>,
}

impl Forecaster<'_> {
    /// Adds one cycle (raw values, one per model column).
    pub fn push(&mut self, row: &[f64]) -> Result<()> {
        let z = self.model.normalize(row)?;
        self.state.push(&z);
        Ok(())
    }

    /// Current RUL estimate in cycles, `None` before the first row.
    pub fn rul(&mut self) -> Option<f64> {
        if self.state.age() == 0 {
            return None;
        }
        self.state.features(&mut self.buf);
        Some(self.model.predict_features(&self.buf))
    }

    /// Cycles seen so far.
    pub fn age(&self) -> usize {
        self.state.age()
    }
}
