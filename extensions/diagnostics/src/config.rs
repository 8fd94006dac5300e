//! Detector configuration: one set of values for every signal (and, in the NAB run, the whole corpus).

use crate::error::{DiagnosticsError, Result};

/// Number of time-of-day (or station-cycle) bins in the seasonal profile of each signal.
pub const SEASON_BINS: usize = 24;

/// How the detector learns and scores. [`DetectorConfig::default`] is the configuration used for the
/// NAB benchmark and recommended for plant signals; every field is documented with its unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectorConfig {
    /// Samples a new signal only learns from before it may label anything (NAB's probationary period).
    pub warmup_samples: u32,
    /// Smoothing factor of the long-term level and variance (per sample, in (0, 1)).
    pub alpha_slow: f64,
    /// Smoothing factor of the short-term level and variance (per sample, in (0, 1), > `alpha_slow`).
    pub alpha_fast: f64,
    /// Length of one season in seconds (a day by default; a station cycle or a shift also works).
    pub season_period_s: f64,
    /// Smoothing factor of each seasonal bin (per sample falling in that bin).
    pub alpha_season: f64,
    /// Samples a seasonal bin must have seen before its residual is scored.
    pub season_min_samples: u32,
    /// An interval longer than this many typical intervals is a gap (see the input rules).
    pub gap_factor: f64,
    /// Smallest standard deviation, relative to the signal's magnitude: keeps constant signals quiet.
    pub sigma_floor_rel: f64,
    /// Weight of the jump component (change from the previous sample, in jump sigmas).
    pub w_jump: f64,
    /// Weight of the outlier component (distance from the long-term level, in sigmas).
    pub w_outlier: f64,
    /// Weight of the level-shift component (short-term mean against long-term mean, EWMA chart).
    pub w_shift: f64,
    /// Weight of the variance-change component (log ratio of short- to long-term variance).
    pub w_variance: f64,
    /// Weight of the seasonal component (distance from this bin's learned level, in bin sigmas).
    pub w_season: f64,
    /// Samples after which each component's recent maximum (its calibration) starts being tracked.
    pub calib_start: u32,
    /// Half-life, in samples, of each component's recent maximum.
    pub calib_half_life: f64,
    /// Smallest calibration value (weighted sigmas): a component's score is z / max(recent max, this).
    pub calib_floor: f64,
    /// One sample raises a component's recent maximum by at most this factor.
    pub calib_cap: f64,
    /// Range component: a value beyond the range seen so far by this fraction of the range scores a
    /// ratio of 2 (any excess scores above 1). 0 disables the component.
    pub range_margin: f64,
    /// Per-sample fraction by which the remembered extremes shrink towards the long-term level, so the
    /// range forgets old extremes (5e-5: a half-life of about 14 000 samples).
    pub range_decay: f64,
    /// The range component only counts values at least this many sigmas from the expected (seasonal)
    /// level: a new extreme inside the normal band is noise finding its tail, not an anomaly.
    pub range_gate: f64,
    /// Calibrated ratio that maps to anomaly score 0.5: score = r / (r + z_half), where r is the largest
    /// component deviation divided by that component's recent maximum.
    pub z_half: f64,
    /// Score at or above which a sample is labelled anomalous.
    pub alarm_score: f64,
    /// Half-life, in samples, of the alert suppression after a peak (the "rest period").
    pub rest_samples: f64,
    /// After an alert at or above `alarm_score`, further alerts are silenced for this many samples.
    pub refractory_samples: u32,
    /// Width of the normal band reported in explanations, in sigmas.
    pub band_k: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            warmup_samples: 300,
            alpha_slow: 0.01,
            alpha_fast: 0.2,
            season_period_s: 86_400.0,
            alpha_season: 0.1,
            season_min_samples: 4,
            gap_factor: 10.0,
            sigma_floor_rel: 1e-6,
            w_jump: 1.0,
            w_outlier: 1.0,
            w_shift: 1.0,
            w_variance: 1.0,
            w_season: 1.0,
            calib_start: 20,
            calib_half_life: 5000.0,
            calib_floor: 3.0,
            calib_cap: 1.15,
            range_margin: 0.1,
            range_decay: 5e-5,
            range_gate: 2.0,
            z_half: 1.0,
            alarm_score: 0.6,
            rest_samples: 30.0,
            refractory_samples: 100,
            band_k: 3.0,
        }
    }
}

impl DetectorConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<()> {
        let unit = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(DiagnosticsError::InvalidConfig(format!("{name} = {v} must lie in (0, 1)")))
            }
        };
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(DiagnosticsError::InvalidConfig(format!("{name} = {v} must be finite and > 0")))
            }
        };
        let weight = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(DiagnosticsError::InvalidConfig(format!("{name} = {v} must be finite and >= 0")))
            }
        };
        unit("alpha_slow", self.alpha_slow)?;
        unit("alpha_fast", self.alpha_fast)?;
        unit("alpha_season", self.alpha_season)?;
        if self.alpha_fast <= self.alpha_slow {
            return Err(DiagnosticsError::InvalidConfig("alpha_fast must be greater than alpha_slow".into()));
        }
        positive("season_period_s", self.season_period_s)?;
        positive("gap_factor", self.gap_factor)?;
        positive("z_half", self.z_half)?;
        positive("calib_half_life", self.calib_half_life)?;
        positive("calib_floor", self.calib_floor)?;
        positive("calib_cap", self.calib_cap)?;
        positive("rest_samples", self.rest_samples)?;
        positive("band_k", self.band_k)?;
        weight("sigma_floor_rel", self.sigma_floor_rel)?;
        weight("range_margin", self.range_margin)?;
        weight("range_gate", self.range_gate)?;
        if !(0.0..1.0).contains(&self.range_decay) {
            return Err(DiagnosticsError::InvalidConfig(format!(
                "range_decay = {} must lie in [0, 1)",
                self.range_decay
            )));
        }
        for (name, v) in [
            ("w_jump", self.w_jump),
            ("w_outlier", self.w_outlier),
            ("w_shift", self.w_shift),
            ("w_variance", self.w_variance),
            ("w_season", self.w_season),
        ] {
            weight(name, v)?;
        }
        if !(self.alarm_score > 0.0 && self.alarm_score <= 1.0) {
            return Err(DiagnosticsError::InvalidConfig(format!(
                "alarm_score = {} must lie in (0, 1]",
                self.alarm_score
            )));
        }
        Ok(())
    }

    /// Sets one field by name from text (`name=value` overrides of the command-line tools).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = || DiagnosticsError::InvalidConfig(format!("{name}: cannot parse {value:?}"));
        let v: f64 = value.trim().parse().map_err(|_| bad())?;
        match name {
            "warmup_samples" => self.warmup_samples = value.trim().parse().map_err(|_| bad())?,
            "calib_start" => self.calib_start = value.trim().parse().map_err(|_| bad())?,
            "refractory_samples" => self.refractory_samples = value.trim().parse().map_err(|_| bad())?,
            "calib_half_life" => self.calib_half_life = v,
            "calib_floor" => self.calib_floor = v,
            "calib_cap" => self.calib_cap = v,
            "range_margin" => self.range_margin = v,
            "range_gate" => self.range_gate = v,
            "range_decay" => self.range_decay = v,
            "season_min_samples" => self.season_min_samples = value.trim().parse().map_err(|_| bad())?,
            "alpha_slow" => self.alpha_slow = v,
            "alpha_fast" => self.alpha_fast = v,
            "season_period_s" => self.season_period_s = v,
            "alpha_season" => self.alpha_season = v,
            "gap_factor" => self.gap_factor = v,
            "sigma_floor_rel" => self.sigma_floor_rel = v,
            "w_jump" => self.w_jump = v,
            "w_outlier" => self.w_outlier = v,
            "w_shift" => self.w_shift = v,
            "w_variance" => self.w_variance = v,
            "w_season" => self.w_season = v,
            "z_half" => self.z_half = v,
            "alarm_score" => self.alarm_score = v,
            "rest_samples" => self.rest_samples = v,
            "band_k" => self.band_k = v,
            _ => return Err(DiagnosticsError::InvalidConfig(format!("unknown setting {name:?}"))),
        }
        self.validate()
    }
}
