//! The per-signal online detector: O(1) work per sample and a fixed-size state.
//!
//! Each sample is first scored against what the signal has shown so far (prediction), then learned
//! (update), so the score at time t uses only samples at or before t.
//!
//! Five components measure a deviation `z` in sigmas: jump (change from the previous sample), outlier
//! (distance from the long-term level), shift (short-term mean against the long-term level, an EWMA
//! control chart), variance (log ratio of short- to long-term variance) and season (distance from the
//! level this time of day usually has, per 1/24 of the season). Each `z` is then divided by that
//! component's own recent maximum (a slowly decaying record that one sample may raise by at most
//! `calib_cap`): a signal is anomalous when it breaks its own records, which calibrates noisy and quiet
//! signals alike without knowing their scale. A sixth component, range, scores a value outside the
//! normal band that also lies beyond the highest or lowest value seen so far (slowly forgotten):
//! `1 + excess / (range_margin × range)`. The largest ratio `r` gives the score `r / (r + z_half)`.
//!
//! The alert (what a notification or the NAB run uses) is the score when it is a new peak over a
//! decaying recent maximum and no alert fired in the last `refractory_samples` samples: one alert per
//! episode, while the label and explanation follow every anomalous sample.

use crate::config::{DetectorConfig, SEASON_BINS};
use crate::explain::{Component, Explanation};
use crate::input::{InputCounters, Rejection, MAX_ABS};

/// Number of record-calibrated components (all of [`Component`] but `Range`).
const COMPONENTS: usize = 5;

/// What the detector concluded about one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Label {
    /// Still in the warm-up period of a new signal: learning only.
    Learning,
    /// Within the learned normal behaviour.
    Normal,
    /// Outside it (score at or above `alarm_score`).
    Anomalous,
    /// Not used, by the given input rule.
    Rejected(Rejection),
}

/// The result of one sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Anomaly score in [0, 1] of this sample.
    pub score: f64,
    /// The score after the rest-period suppression: equal to `score` when it is a new peak over the
    /// decaying recent maximum, 0 otherwise. One alert per episode; this is what the NAB run reports.
    pub alert: f64,
    /// The label.
    pub label: Label,
    /// Present when the label is [`Label::Anomalous`].
    pub explanation: Option<Explanation>,
}

impl Verdict {
    fn quiet(label: Label) -> Self {
        Self { score: 0.0, alert: 0.0, label, explanation: None }
    }
}

/// The state of one signal. Its size is the memory bound per signal: see [`SignalState::BYTES`].
#[derive(Clone, Debug)]
pub struct SignalState {
    n: u64,
    last_t: i64,
    last_x: f64,
    dt: f64,
    mean: f64,
    var: f64,
    fast_mean: f64,
    lo: f64,
    hi: f64,
    fast_var: f64,
    jump_var: f64,
    peak: f64,
    quiet_left: u32,
    calib: [f32; COMPONENTS],
    onset_ms: i64,
    episode_samples: u32,
    episode_peak: f32,
    season_mean: [f32; SEASON_BINS],
    season_var: [f32; SEASON_BINS],
    season_n: [u16; SEASON_BINS],
    counters: InputCounters,
}

impl Default for SignalState {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-sample factor that halves a value in `h` samples (first-order, no `powf` on the hot path).
fn half_life_decay(h: f64) -> f64 {
    (1.0 - std::f64::consts::LN_2 / h).max(0.0)
}

/// Exponentially weighted update factor that starts as a plain average (1/n) and settles at `alpha`.
fn rate(alpha: f64, n: u64) -> f64 {
    alpha.max(1.0 / n as f64)
}

impl SignalState {
    /// Bytes of state per signal (the whole struct; no heap).
    pub const BYTES: usize = std::mem::size_of::<SignalState>();

    /// A signal with no history.
    pub fn new() -> Self {
        Self {
            n: 0,
            last_t: i64::MIN,
            last_x: 0.0,
            dt: 0.0,
            mean: 0.0,
            var: 0.0,
            fast_mean: 0.0,
            lo: 0.0,
            hi: 0.0,
            fast_var: 0.0,
            jump_var: 0.0,
            peak: 0.0,
            quiet_left: 0,
            calib: [0.0; COMPONENTS],
            onset_ms: 0,
            episode_samples: 0,
            episode_peak: 0.0,
            season_mean: [0.0; SEASON_BINS],
            season_var: [0.0; SEASON_BINS],
            season_n: [0; SEASON_BINS],
            counters: InputCounters::default(),
        }
    }

    /// Counts of the input rules that fired for this signal.
    pub fn counters(&self) -> InputCounters {
        self.counters
    }

    /// Accepted samples so far.
    pub fn samples(&self) -> u64 {
        self.n
    }

    /// The learned long-term level and standard deviation.
    pub fn level(&self) -> (f64, f64) {
        (self.mean, self.var.sqrt())
    }

    fn sigma_floor(&self, cfg: &DetectorConfig) -> f64 {
        cfg.sigma_floor_rel * self.mean.abs().max(1.0)
    }

    fn season_bin(cfg: &DetectorConfig, t_ms: i64) -> usize {
        let period_ms = cfg.season_period_s * 1000.0;
        let phase = (t_ms as f64).rem_euclid(period_ms) / period_ms;
        ((phase * SEASON_BINS as f64) as usize).min(SEASON_BINS - 1)
    }

    /// Scores, then learns, one sample: `t_ms` is the timestamp in milliseconds, `x` the value.
    pub fn update(&mut self, cfg: &DetectorConfig, t_ms: i64, x: f64) -> Verdict {
        if !x.is_finite() {
            self.counters.count(Rejection::NonFinite);
            return Verdict::quiet(Label::Rejected(Rejection::NonFinite));
        }
        if x.abs() > MAX_ABS {
            self.counters.count(Rejection::OutOfRange);
            return Verdict::quiet(Label::Rejected(Rejection::OutOfRange));
        }
        if self.n > 0 && t_ms <= self.last_t {
            let why = if t_ms == self.last_t { Rejection::Duplicate } else { Rejection::OutOfOrder };
            self.counters.count(why);
            return Verdict::quiet(Label::Rejected(why));
        }
        if self.n == 0 {
            self.n = 1;
            self.last_t = t_ms;
            self.last_x = x;
            self.mean = x;
            self.fast_mean = x;
            self.lo = x;
            self.hi = x;
            self.learn_season(cfg, t_ms, x, 0.0);
            return Verdict::quiet(Label::Learning);
        }
        let interval = (t_ms - self.last_t) as f64;
        let gap = self.n >= 3 && interval > cfg.gap_factor * self.dt;
        if gap {
            self.counters.gaps = self.counters.gaps.saturating_add(1);
            self.fast_mean = self.mean;
            self.fast_var = self.var;
            self.peak = 0.0;
            self.quiet_left = 0;
            self.episode_samples = 0;
        } else {
            self.dt += rate(0.05, self.n) * (interval - self.dt);
        }
        let learning = self.n < u64::from(cfg.warmup_samples);
        let verdict = self.score(cfg, t_ms, x, gap, learning);
        self.learn(cfg, t_ms, x, gap);
        verdict
    }

    fn score(&mut self, cfg: &DetectorConfig, t_ms: i64, x: f64, gap: bool, learning: bool) -> Verdict {
        let floor = self.sigma_floor(cfg);
        let sigma = self.var.sqrt().max(floor);
        let mut best = (0.0, Component::Outlier);
        let calibrate = self.n >= u64::from(cfg.calib_start);
        let decay = half_life_decay(cfg.calib_half_life);
        let calib = &mut self.calib;
        let mut consider = |z: f64, c: Component| {
            let slot = &mut calib[c as usize];
            let m = f64::from(*slot).max(cfg.calib_floor);
            let r = z / m;
            if r > best.0 {
                best = (r, c);
            }
            if calibrate {
                let old = f64::from(*slot);
                let next = if learning || z <= cfg.calib_cap * m { (old * decay).max(z) } else { m * cfg.calib_cap };
                *slot = next as f32;
            }
        };
        if !gap {
            consider(cfg.w_jump * (x - self.last_x).abs() / self.jump_var.sqrt().max(floor), Component::Jump);
        }
        consider(cfg.w_outlier * (x - self.mean).abs() / sigma, Component::Outlier);
        let a = cfg.alpha_fast;
        let fast_mean = self.fast_mean + a * (x - self.fast_mean);
        let chart_sigma = sigma * (a / (2.0 - a)).sqrt();
        consider(cfg.w_shift * (fast_mean - self.mean).abs() / chart_sigma, Component::Shift);
        let r = x - self.fast_mean;
        let fast_var = self.fast_var + a * (r * r - self.fast_var);
        let ratio = (fast_var.max(floor * floor) / (sigma * sigma)).ln();
        consider(cfg.w_variance * ratio.abs(), Component::Variance);
        let bin = Self::season_bin(cfg, t_ms);
        let (mut expected, mut band_sigma) = (self.mean, sigma);
        if u32::from(self.season_n[bin]) >= cfg.season_min_samples {
            let s_sigma = f64::from(self.season_var[bin]).sqrt().max(floor);
            expected = f64::from(self.season_mean[bin]);
            band_sigma = s_sigma;
            consider(cfg.w_season * (x - expected).abs() / s_sigma, Component::Season);
        }
        let span = self.hi - self.lo;
        let outside_band = (x - expected).abs() > cfg.range_gate * band_sigma;
        if span > floor && cfg.range_margin > 0.0 && outside_band {
            let beyond = (x - self.hi).max(self.lo - x);
            if beyond > 0.0 {
                // Already a ratio: beyond the remembered range at all is past the record.
                let r = 1.0 + beyond / (cfg.range_margin * span);
                if r > best.0 {
                    best = (r, Component::Range);
                }
            }
        }
        let (z, component) = best;
        if learning {
            return Verdict::quiet(Label::Learning);
        }
        let score = if z.is_nan() {
            0.0
        } else if z.is_infinite() {
            1.0
        } else {
            z / (z + cfg.z_half)
        };
        let decay = half_life_decay(cfg.rest_samples);
        let mut alert = if score > self.peak && self.quiet_left == 0 { score } else { 0.0 };
        if self.quiet_left > 0 {
            self.quiet_left -= 1;
            alert = 0.0;
        } else if alert >= cfg.alarm_score {
            self.quiet_left = cfg.refractory_samples;
        }
        self.peak = (self.peak * decay).max(score);
        if score < cfg.alarm_score {
            self.episode_samples = 0;
            return Verdict { score, alert, label: Label::Normal, explanation: None };
        }
        if self.episode_samples == 0 {
            self.onset_ms = t_ms;
            self.episode_peak = 0.0;
        }
        self.episode_samples = self.episode_samples.saturating_add(1);
        self.episode_peak = self.episode_peak.max(score as f32);
        let half = cfg.band_k * band_sigma;
        let outside_by = ((x - expected).abs() - half).max(0.0);
        let explanation = Explanation {
            value: x,
            expected,
            sigma: band_sigma,
            band_low: expected - half,
            band_high: expected + half,
            deviation_sigmas: (x - expected) / band_sigma,
            outside_by,
            component,
            onset_ms: self.onset_ms,
            duration_ms: t_ms - self.onset_ms,
            samples: self.episode_samples,
            peak_score: f64::from(self.episode_peak),
        };
        Verdict { score, alert, label: Label::Anomalous, explanation: Some(explanation) }
    }

    fn learn(&mut self, cfg: &DetectorConfig, t_ms: i64, x: f64, gap: bool) {
        self.n += 1;
        let sigma = self.var.sqrt().max(self.sigma_floor(cfg));
        // Winsorised residuals: one wild sample moves the variance by a bounded amount.
        let clip = |r: f64| r.clamp(-6.0 * sigma, 6.0 * sigma);
        let a = rate(cfg.alpha_slow, self.n);
        let r = x - self.mean;
        self.mean += a * r;
        let rc = if self.n > 10 { clip(r) } else { r };
        self.var += a * (rc * rc - self.var);
        if !gap {
            let j = x - self.last_x;
            let jc = if self.n > 10 { j.clamp(-6.0 * self.jump_var.sqrt(), 6.0 * self.jump_var.sqrt()) } else { j };
            self.jump_var += a * (jc * jc - self.jump_var);
        }
        let af = rate(cfg.alpha_fast, self.n);
        let rf = x - self.fast_mean;
        self.fast_mean += af * rf;
        self.fast_var += af * (rf * rf - self.fast_var);
        self.learn_season(cfg, t_ms, x, sigma);
        let shrink = cfg.range_decay;
        self.hi = x.max(self.hi - shrink * (self.hi - self.mean));
        self.lo = x.min(self.lo + shrink * (self.mean - self.lo));
        self.last_t = t_ms;
        self.last_x = x;
    }

    fn learn_season(&mut self, cfg: &DetectorConfig, t_ms: i64, x: f64, sigma: f64) {
        let bin = Self::season_bin(cfg, t_ms);
        let k = self.season_n[bin];
        self.season_n[bin] = k.saturating_add(1);
        let a = cfg.alpha_season.max(1.0 / f64::from(k.saturating_add(1)));
        let m = f64::from(self.season_mean[bin]);
        let r = x - m;
        let rc = if k > 4 && sigma > 0.0 { r.clamp(-6.0 * sigma, 6.0 * sigma) } else { r };
        self.season_mean[bin] = (m + a * r) as f32;
        let v = f64::from(self.season_var[bin]);
        self.season_var[bin] = (v + a * (rc * rc - v)) as f32;
    }
}

/// A detector for one signal: the shared configuration plus that signal's state.
#[derive(Clone, Debug)]
pub struct Detector {
    config: DetectorConfig,
    state: SignalState,
}

impl Detector {
    /// A detector with a validated configuration.
    pub fn new(config: DetectorConfig) -> crate::Result<Self> {
        config.validate()?;
        Ok(Self { config, state: SignalState::new() })
    }

    /// Scores and learns one sample (timestamp in ms, value).
    pub fn update(&mut self, t_ms: i64, x: f64) -> Verdict {
        self.state.update(&self.config, t_ms, x)
    }

    /// The signal's state (counters, learned level).
    pub fn state(&self) -> &SignalState {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }
}

/// Many signals under one configuration: the state of signal `i` is `signals[i]`.
#[derive(Clone, Debug)]
pub struct DetectorBank {
    config: DetectorConfig,
    signals: Vec<SignalState>,
}

impl DetectorBank {
    /// A bank of `count` signals with no history.
    pub fn new(config: DetectorConfig, count: usize) -> crate::Result<Self> {
        config.validate()?;
        Ok(Self { config, signals: vec![SignalState::new(); count] })
    }

    /// Adds a signal with no history and returns its index.
    pub fn add_signal(&mut self) -> usize {
        self.signals.push(SignalState::new());
        self.signals.len() - 1
    }

    /// Number of signals.
    pub fn len(&self) -> usize {
        self.signals.len()
    }

    /// Whether the bank has no signals.
    pub fn is_empty(&self) -> bool {
        self.signals.is_empty()
    }

    /// Scores and learns one sample of signal `index`; `None` when there is no such signal.
    pub fn update(&mut self, index: usize, t_ms: i64, x: f64) -> Option<Verdict> {
        let config = &self.config;
        self.signals.get_mut(index).map(|s| s.update(config, t_ms, x))
    }

    /// The state of signal `index`.
    pub fn signal(&self, index: usize) -> Option<&SignalState> {
        self.signals.get(index)
    }
}
