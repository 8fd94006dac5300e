//! Time to threshold for one degrading asset, with an uncertainty interval (docs/forecast.md, "Time to
//! threshold").
//!
//! The signal (a fan's vibration, a motor's temperature, a weld tip's wear) is modelled as the standard
//! degradation process of prognostics: a Wiener process with drift, `x(t) = x0 + μ t + σ W(t)`, seen
//! through measurement noise. The time it first reaches a threshold `D` above its current level then
//! follows an inverse Gaussian distribution with mean `D / μ` and shape `D² / σ²`; the forecast gives its
//! median and a central interval, and folds in the uncertainty of the estimated drift and of the current
//! level (a predictive distribution averaged over their sampling distributions by Gauss–Hermite
//! quadrature).
//!
//! Online and bounded: samples are averaged into blocks of `block_s` seconds (which tames measurement
//! noise); the drift is the slope between the first and the last block mean of the asset's current life,
//! the diffusion comes from the increments of successive block means (scaled by 3/2: the increments of
//! block means of a Wiener process have 2/3 of its variance over the block length). O(1) work per sample
//! and a fixed-size state. A maintenance (the value falling back by more than half of what it rose in
//! this life, or [`HittingTime::reset`]) starts a new life.

/// Settings of a [`HittingTime`] forecaster.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HittingConfig {
    /// The threshold at which the asset has failed.
    pub threshold: f64,
    /// True when the signal degrades downwards (e.g. a remaining thickness); false: upwards.
    pub falling: bool,
    /// Seconds of samples averaged into one block.
    pub block_s: f64,
    /// Blocks needed before a forecast is given.
    pub min_blocks: u32,
    /// Probability of the central interval (0.8: the 10 % and 90 % quantiles).
    pub coverage: f64,
}

impl HittingConfig {
    /// A forecaster for failure at `threshold` (upwards), with 20 s blocks, at least 10 of them, and 80 %
    /// intervals.
    pub fn new(threshold: f64) -> Self {
        HittingConfig { threshold, falling: false, block_s: 20.0, min_blocks: 10, coverage: 0.8 }
    }
}

/// A forecast of when the threshold is reached, in seconds from the last sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HittingForecast {
    /// The median time to threshold.
    pub median_s: f64,
    /// Lower end of the central interval.
    pub low_s: f64,
    /// Upper end of the central interval (`f64::INFINITY` when the chance of ever reaching the threshold
    /// is below the interval's upper quantile).
    pub high_s: f64,
    /// The estimated level now and the drift per second (in the degrading direction).
    pub level: f64,
    pub drift_per_s: f64,
    /// The estimated diffusion (standard deviation per √s).
    pub sigma: f64,
}

/// The online forecaster of one asset (see the module doc).
#[derive(Debug, Clone)]
pub struct HittingTime {
    cfg: HittingConfig,
    // The open block.
    block_start: f64,
    block_n: u32,
    block_t: f64,
    block_y: f64,
    // Closed blocks of this life: first, previous and last mean; sums of increments.
    blocks: u32,
    first: (f64, f64),
    last: (f64, f64),
    peak: f64,
    // Sums over successive block-mean increments (Δy, Δt): Σ Δy², Σ Δy Δt, Σ Δt², Σ Δt, so the residual
    // Σ (Δy − μ Δt)² can be taken for the latest drift μ.
    sum_yy: f64,
    sum_yt: f64,
    sum_tt: f64,
    sum_dt: f64,
    last_t: f64,
    /// Lives started (1 after the first sample).
    pub lives: u32,
}

impl HittingTime {
    pub fn new(cfg: HittingConfig) -> Self {
        HittingTime {
            cfg,
            block_start: f64::NAN,
            block_n: 0,
            block_t: 0.0,
            block_y: 0.0,
            blocks: 0,
            first: (0.0, 0.0),
            last: (0.0, 0.0),
            peak: f64::NEG_INFINITY,
            sum_yy: 0.0,
            sum_yt: 0.0,
            sum_tt: 0.0,
            sum_dt: 0.0,
            last_t: f64::NEG_INFINITY,
            lives: 0,
        }
    }

    /// Forgets the current life (after a maintenance or replacement).
    pub fn reset(&mut self) {
        let lives = self.lives;
        *self = HittingTime::new(self.cfg);
        self.lives = lives;
    }

    /// Takes one sample at `t_s` seconds; non-finite values and times that do not move forward are
    /// ignored (returns false).
    pub fn push(&mut self, t_s: f64, value: f64) -> bool {
        if !t_s.is_finite() || !value.is_finite() || t_s <= self.last_t {
            return false;
        }
        self.last_t = t_s;
        // Work in the degrading direction: larger is worse.
        let y = if self.cfg.falling { -value } else { value };
        if self.block_n == 0 {
            if self.lives == 0 {
                self.lives = 1;
            }
            self.block_start = t_s;
        }
        self.block_n += 1;
        self.block_t += t_s;
        self.block_y += y;
        if t_s - self.block_start >= self.cfg.block_s {
            let mean = (self.block_t / self.block_n as f64, self.block_y / self.block_n as f64);
            self.block_n = 0;
            self.block_t = 0.0;
            self.block_y = 0.0;
            self.close_block(mean);
        }
        true
    }

    fn close_block(&mut self, (t, y): (f64, f64)) {
        if self.blocks >= self.cfg.min_blocks && self.maintained(y) {
            let lives = self.lives + 1;
            let cfg = self.cfg;
            *self = HittingTime::new(cfg);
            self.lives = lives;
            self.last_t = t;
        }
        if self.blocks == 0 {
            self.first = (t, y);
        } else {
            let (dt, dy) = (t - self.last.0, y - self.last.1);
            if dt > 0.0 {
                self.sum_yy += dy * dy;
                self.sum_yt += dy * dt;
                self.sum_tt += dt * dt;
                self.sum_dt += dt;
            }
        }
        self.blocks += 1;
        self.last = (t, y);
        self.peak = self.peak.max(y);
    }

    /// A fall by more than half of this life's rise, from its peak: the asset was maintained.
    fn maintained(&self, y: f64) -> bool {
        let rise = self.peak - self.first.1;
        rise > 0.0 && y < self.peak - 0.5 * rise && y < self.first.1 + 0.25 * rise
    }

    fn drift(&self) -> f64 {
        let dt = self.last.0 - self.first.0;
        if self.blocks < 2 || dt <= 0.0 {
            return 0.0;
        }
        (self.last.1 - self.first.1) / dt
    }

    /// The forecast now, or `None` before `min_blocks` blocks or when the signal does not degrade.
    pub fn forecast(&self) -> Option<HittingForecast> {
        if self.blocks < self.cfg.min_blocks.max(4) {
            return None;
        }
        let mu = self.drift();
        // Block-mean increments carry 2/3 of the process variance over the block length.
        let residual = (self.sum_yy - 2.0 * mu * self.sum_yt + mu * mu * self.sum_tt).max(0.0);
        // n / (n − 2) for the n increments the variance was estimated from (Student's t, not the normal).
        let n = f64::from(self.blocks - 1);
        let sigma2 = 1.5 * residual / self.sum_dt.max(f64::MIN_POSITIVE) * n / (n - 2.0);
        let sigma = sigma2.sqrt();
        let threshold = if self.cfg.falling { -self.cfg.threshold } else { self.cfg.threshold };
        let level = self.last.1 + mu * (self.last_t - self.last.0);
        let d = threshold - level;
        let sign = if self.cfg.falling { -1.0 } else { 1.0 };
        let out = |median: f64, low: f64, high: f64| HittingForecast {
            median_s: median,
            low_s: low,
            high_s: high,
            level: sign * level,
            drift_per_s: mu,
            sigma,
        };
        if d <= 0.0 {
            return Some(out(0.0, 0.0, 0.0));
        }
        if mu <= 0.0 || !sigma.is_finite() || sigma == 0.0 {
            return None;
        }
        // The drift's standard error: σ / √(observed time of this life).
        let span = (self.last.0 - self.first.0).max(self.cfg.block_s);
        let mu_se = sigma / span.sqrt();
        // The level now is the last block mean carried forward: a block mean differs from the block's end
        // value by σ²·block/3 in variance, and the time since adds σ² per second.
        let block = self.cfg.block_s;
        let since_end = (self.last_t - (self.last.0 + 0.5 * block)).max(0.0);
        let d_se = (sigma2 * (block / 3.0 + since_end)).sqrt();
        let cdf = |t: f64| predictive_cdf(t, d, d_se, mu, mu_se, sigma2);
        let tail = (1.0 - self.cfg.coverage) / 2.0;
        let q = |p: f64| quantile(&cdf, p, d / mu);
        Some(out(q(0.5), q(tail), q(1.0 - tail)))
    }
}

/// Standard normal CDF, from the complementary error function.
fn phi(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// ln Φ(x), accurate in the far left tail.
fn ln_phi(x: f64) -> f64 {
    if x > -5.0 {
        return phi(x).ln();
    }
    std::f64::consts::LN_2.mul_add(-1.0, ln_erfc(-x / std::f64::consts::SQRT_2))
}

/// ln erfc(x) for x ≥ 0 (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn ln_erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t.ln() + poly
}

fn erfc(x: f64) -> f64 {
    let r = ln_erfc(x.abs()).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// CDF of the first time a Wiener process with drift `mu` and variance `sigma2` per second travels `d`.
fn inverse_gaussian_cdf(t: f64, d: f64, mu: f64, sigma2: f64) -> f64 {
    if t <= 0.0 {
        return 0.0;
    }
    let s = sigma2.sqrt() * t.sqrt();
    let a = (mu * t - d) / s;
    let b = -(mu * t + d) / s;
    // Φ(a) + exp(2 μ d / σ²) Φ(b), the second term in log space (it overflows otherwise).
    let second = (2.0 * mu * d / sigma2 + ln_phi(b)).exp();
    (phi(a) + second).clamp(0.0, 1.0)
}

/// 5-point Gauss–Hermite nodes and weights (for ∫ e^{-x²} f(x) dx).
const HERMITE: [(f64, f64); 5] = [
    (-2.020_182_870_456_086, 0.019_953_242_059_045_91),
    (-0.958_572_464_613_818_5, 0.393_619_323_152_241_2),
    (0.0, 0.945_308_720_482_941_9),
    (0.958_572_464_613_818_5, 0.393_619_323_152_241_2),
    (2.020_182_870_456_086, 0.019_953_242_059_045_91),
];

/// The predictive CDF: the inverse Gaussian averaged over the normal sampling distributions of the
/// distance still to go (`d`, `d_se`) and of the drift (`mu`, `mu_se`), by Gauss–Hermite quadrature; a
/// drift ≤ 0 never reaches the threshold (CDF 0), a distance ≤ 0 already has (CDF 1).
fn predictive_cdf(t: f64, d: f64, d_se: f64, mu: f64, mu_se: f64, sigma2: f64) -> f64 {
    let norm = std::f64::consts::PI;
    let mut sum = 0.0;
    for &(xd, wd) in &HERMITE {
        let dd = d + std::f64::consts::SQRT_2 * d_se * xd;
        for &(xm, wm) in &HERMITE {
            let m = mu + std::f64::consts::SQRT_2 * mu_se * xm;
            let f = if dd <= 0.0 {
                1.0
            } else if m > 0.0 {
                inverse_gaussian_cdf(t, dd, m, sigma2)
            } else {
                0.0
            };
            sum += wd * wm * f;
        }
    }
    sum / norm
}

/// The time where `cdf` reaches `p` (bisection on a log scale); infinity when it never does.
fn quantile(cdf: &dyn Fn(f64) -> f64, p: f64, scale: f64) -> f64 {
    let mut hi = scale.max(1e-9);
    let mut steps = 0;
    while cdf(hi) < p {
        hi *= 2.0;
        steps += 1;
        if steps > 60 {
            return f64::INFINITY;
        }
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-5 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_and_inverse_gaussian_match_known_values() {
        assert!((phi(0.0) - 0.5).abs() < 1e-7);
        assert!((phi(1.959_963_985) - 0.975).abs() < 1e-6);
        assert!((phi(-3.0) - 0.001_349_898).abs() < 1e-8);
        assert!((ln_phi(-10.0) - (-53.231_285)).abs() < 1e-4);
        // Inverse Gaussian with mean 10 and shape 20 (d = 1, μ = 0.1, σ² = 0.05) at its mean:
        // Φ(0) + e⁴ Φ(−2√2) = 0.5 + 54.59815 × 0.0023389 = 0.62770.
        let f = inverse_gaussian_cdf(10.0, 1.0, 0.1, 0.05);
        assert!((f - 0.627_70).abs() < 1e-4, "{f}");
        // Without uncertainty in the distance or the drift the predictive CDF is the inverse Gaussian.
        assert!((predictive_cdf(10.0, 1.0, 0.0, 0.1, 0.0, 0.05) - f).abs() < 1e-12);
    }

    #[test]
    fn a_noise_free_linear_rise_is_forecast_exactly() {
        let mut h = HittingTime::new(HittingConfig { block_s: 10.0, min_blocks: 5, ..HittingConfig::new(100.0) });
        // 1 unit per 10 s from 0, plus a tiny wiggle so the diffusion is not zero.
        for i in 0..=500 {
            let t = i as f64;
            h.push(t, t / 10.0 + if i % 2 == 0 { 1e-6 } else { -1e-6 });
        }
        let f = h.forecast().unwrap();
        // At t = 500 the level is 50: 500 s to go.
        assert!((f.median_s - 500.0).abs() < 5.0, "{f:?}");
        assert!(f.low_s <= f.median_s && f.median_s <= f.high_s && f.high_s - f.low_s < 10.0, "{f:?}");
        // Falling signals work the same way.
        let mut down = HittingTime::new(HittingConfig {
            falling: true,
            block_s: 10.0,
            min_blocks: 5,
            ..HittingConfig::new(-100.0)
        });
        for i in 0..=500 {
            let t = i as f64;
            down.push(t, -t / 10.0 + if i % 2 == 0 { 1e-6 } else { -1e-6 });
        }
        let g = down.forecast().unwrap();
        assert!((g.median_s - f.median_s).abs() < 1e-3 && (g.level + 50.0).abs() < 0.1, "{g:?}");
    }

    #[test]
    fn flat_signals_bad_samples_and_maintenance() {
        let mut h = HittingTime::new(HittingConfig { block_s: 10.0, min_blocks: 5, ..HittingConfig::new(10.0) });
        for i in 0..300 {
            h.push(i as f64, 1.0 + 0.01 * ((i * 7919) % 13) as f64);
        }
        // No drift upwards: no forecast rather than a made-up date.
        assert!(h.forecast().is_none_or(|f| f.high_s.is_infinite() || f.median_s > 1e5), "{:?}", h.forecast());
        assert!(!h.push(299.0, 1.0) && !h.push(400.0, f64::NAN));
        // A rise, then a fall back to the start: a new life.
        let mut r = HittingTime::new(HittingConfig { block_s: 10.0, min_blocks: 5, ..HittingConfig::new(100.0) });
        for i in 0..600 {
            r.push(i as f64, i as f64 / 10.0);
        }
        assert_eq!(r.lives, 1);
        for i in 600..800 {
            r.push(i as f64, 0.5);
        }
        assert_eq!(r.lives, 2);
    }
}
