//! Time distributions for cycle times, failures and arrivals (seconds), as written in model TOML files:
//! `{ dist = "exp", mean = 50 }`.

use serde::{Deserialize, Serialize};

use crate::des::rng::Rng;

/// A distribution of durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Const { value: f64 },
    /// Exponential with `mean`.
    Exp { mean: f64 },
    /// Uniform on `[min, max]`.
    Uniform { min: f64, max: f64 },
    /// Triangular on `[min, max]` with `mode`.
    Triangular { min: f64, mode: f64, max: f64 },
    /// Normal with `mean` and `sd`, truncated at 0.
    Normal { mean: f64, sd: f64 },
    /// Log-normal with the given `mean` and `sd` of the duration itself.
    Lognormal { mean: f64, sd: f64 },
    /// Erlang: sum of `k` exponentials, total `mean`.
    Erlang { mean: f64, k: u32 },
}

impl Dist {
    /// Draws one duration.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        match *self {
            Dist::Const { value } => value,
            Dist::Exp { mean } => rng.exp(mean),
            Dist::Uniform { min, max } => min + (max - min) * rng.uniform(),
            Dist::Triangular { min, mode, max } => {
                let u = rng.uniform();
                let f = (mode - min) / (max - min);
                if u < f {
                    min + ((max - min) * (mode - min) * u).sqrt()
                } else {
                    max - ((max - min) * (max - mode) * (1.0 - u)).sqrt()
                }
            }
            Dist::Normal { mean, sd } => (mean + sd * rng.normal()).max(0.0),
            Dist::Lognormal { mean, sd } => {
                let s2 = (1.0 + (sd / mean).powi(2)).ln();
                (mean.ln() - s2 / 2.0 + s2.sqrt() * rng.normal()).exp()
            }
            Dist::Erlang { mean, k } => (0..k).map(|_| rng.exp(mean / k as f64)).sum(),
        }
    }

    /// The mean duration.
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Const { value } => value,
            Dist::Exp { mean }
            | Dist::Normal { mean, .. }
            | Dist::Lognormal { mean, .. }
            | Dist::Erlang { mean, .. } => mean,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Triangular { min, mode, max } => (min + mode + max) / 3.0,
        }
    }

    /// Checks the parameters; the error text says which one is wrong.
    pub fn check(&self) -> Result<(), String> {
        let ok = match *self {
            Dist::Const { value } => value >= 0.0,
            Dist::Exp { mean } => mean > 0.0,
            Dist::Uniform { min, max } => 0.0 <= min && min <= max,
            Dist::Triangular { min, mode, max } => 0.0 <= min && min <= mode && mode <= max && min < max,
            Dist::Normal { mean, sd } | Dist::Lognormal { mean, sd } => mean > 0.0 && sd >= 0.0,
            Dist::Erlang { mean, k } => mean > 0.0 && k >= 1,
        };
        let finite = match *self {
            Dist::Const { value } => value.is_finite(),
            Dist::Exp { mean } | Dist::Erlang { mean, .. } => mean.is_finite(),
            Dist::Uniform { min, max } => min.is_finite() && max.is_finite(),
            Dist::Triangular { min, mode, max } => min.is_finite() && mode.is_finite() && max.is_finite(),
            Dist::Normal { mean, sd } | Dist::Lognormal { mean, sd } => mean.is_finite() && sd.is_finite(),
        };
        if ok && finite {
            Ok(())
        } else {
            Err(format!("invalid parameters {self:?}"))
        }
    }
}
