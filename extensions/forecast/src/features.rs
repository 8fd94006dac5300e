//! Feature extraction over a sliding window of (normalised) signals. The same incremental state serves the
//! batch training path and the online, one-asset-at-a-time path, so both see identical numbers.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// What is computed per signal, in this order, after the leading `age` feature.
pub const PER_SIGNAL: [&str; 7] = ["last", "mean", "slope", "ewma", "min", "max", "drift"];

/// Parameters of the feature extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Cycles in the sliding window of the level statistics `last`, `mean`, `min`, `max`, `drift` (a shorter
    /// history uses all it has).
    pub window: usize,
    /// Cycles in the longer window of the least-squares `slope`.
    pub trend_window: usize,
    /// Smoothing factor of the exponentially weighted mean over the whole history.
    pub ewma_alpha: f64,
    /// Cycles at the start of the history that define the asset's own healthy baseline (for `drift`).
    pub baseline: usize,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec { window: 10, trend_window: 10, ewma_alpha: 0.1, baseline: 30 }
    }
}

impl FeatureSpec {
    /// Number of features for `signals` input columns.
    pub fn len(&self, signals: usize) -> usize {
        1 + PER_SIGNAL.len() * signals
    }

    /// Feature names: `age`, then `<column>.<kind>` for each column and kind of [`PER_SIGNAL`].
    pub fn names(&self, columns: &[String]) -> Vec<String> {
        let mut names = vec!["age".to_string()];
        for c in columns {
            names.extend(PER_SIGNAL.iter().map(|k| format!("{c}.{k}")));
        }
        names
    }
}

/// Incremental feature state of one asset: the last `window` rows, the running EWMA and the baseline sums.
#[derive(Debug, Clone)]
pub struct FeatureState {
    spec: FeatureSpec,
    signals: usize,
    recent: VecDeque<Vec<f64>>,
    ewma: Vec<f64>,
    base_sum: Vec<f64>,
    base_n: usize,
    age: usize,
}

impl FeatureState {
    /// An empty history over `signals` columns.
    pub fn new(spec: &FeatureSpec, signals: usize) -> Self {
        FeatureState {
            spec: spec.clone(),
            signals,
            recent: VecDeque::with_capacity(spec.window.max(spec.trend_window) + 1),
            ewma: vec![0.0; signals],
            base_sum: vec![0.0; signals],
            base_n: 0,
            age: 0,
        }
    }

    /// Cycles seen so far.
    pub fn age(&self) -> usize {
        self.age
    }

    /// Adds one cycle's (normalised) row; its length must be the number of signals.
    pub fn push(&mut self, row: &[f64]) {
        debug_assert_eq!(row.len(), self.signals);
        let a = self.spec.ewma_alpha;
        for (j, &v) in row.iter().enumerate() {
            self.ewma[j] = if self.age == 0 { v } else { a * v + (1.0 - a) * self.ewma[j] };
        }
        if self.base_n < self.spec.baseline.max(1) {
            for (s, &v) in self.base_sum.iter_mut().zip(row) {
                *s += v;
            }
            self.base_n += 1;
        }
        self.recent.push_back(row.to_vec());
        while self.recent.len() > self.spec.window.max(self.spec.trend_window).max(1) {
            self.recent.pop_front();
        }
        self.age += 1;
    }

    /// Writes the features of the history so far into `out` (cleared first); zeros before the first push.
    pub fn features(&self, out: &mut Vec<f64>) {
        out.clear();
        out.push(self.age as f64);
        let n = self.recent.len();
        let m = n.min(self.spec.window.max(1));
        let mt = n.min(self.spec.trend_window.max(1));
        let xm = (mt as f64 - 1.0) / 2.0;
        let sxx: f64 = (0..mt).map(|i| (i as f64 - xm) * (i as f64 - xm)).sum();
        for j in 0..self.signals {
            if n == 0 {
                out.extend([0.0; PER_SIGNAL.len()]);
                continue;
            }
            let (mut sum, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
            for r in self.recent.range(n - m..) {
                sum += r[j];
                lo = lo.min(r[j]);
                hi = hi.max(r[j]);
            }
            let mean = sum / m as f64;
            let mut tsum = 0.0;
            for r in self.recent.range(n - mt..) {
                tsum += r[j];
            }
            let tmean = tsum / mt as f64;
            let mut sxy = 0.0;
            for (i, r) in self.recent.range(n - mt..).enumerate() {
                sxy += (i as f64 - xm) * (r[j] - tmean);
            }
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let last = self.recent[n - 1][j];
            let base = self.base_sum[j] / self.base_n as f64;
            out.extend([last, mean, slope, self.ewma[j], lo, hi, mean - base]);
        }
    }
}

/// Features after every cycle of one history (row `t` = features of the first `t + 1` cycles), flattened.
pub fn features_per_cycle(spec: &FeatureSpec, history: &[Vec<f64>], signals: usize) -> Vec<f64> {
    let mut state = FeatureState::new(spec, signals);
    let mut all = Vec::with_capacity(history.len() * spec.len(signals));
    let mut buf = Vec::new();
    for row in history {
        state.push(row);
        state.features(&mut buf);
        all.extend_from_slice(&buf);
    }
    all
}
