//! Degrading assets: the paint oven's circulation fans (vibration rising), BIW robot axis-2 motors
//! (temperature creeping) and weld tips (wearing). Each one's condition follows the standard degradation
//! process of prognostics — a Wiener process with drift, `x(t + dt) = x(t) + μ dt + σ √dt N(0, 1)`, with a
//! drift drawn per life — and is served with measurement noise. When the condition reaches the asset's
//! failure threshold the asset fails (`…/Failed` true, `…/Failures` counts up), is repaired for
//! `repair_s` model seconds, and comes back as new (condition at its baseline, a new drift).
//!
//! Deterministic for a seed, and independent of the rest of the plant: [`Degradation::standalone`] runs the
//! same assets without the plant (the forecast tests run many lives of them in a fraction of a second).

use super::{round_to, ModelConfig, SignalId, Signals, SimValue};
use crate::rng::Rng;

/// What kind of asset, with its condition signal's name, unit and behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AssetKind {
    /// The condition signal's last path element, e.g. `FanVibration`.
    pub signal: &'static str,
    pub unit: &'static str,
    /// Condition of a new asset.
    pub baseline: f64,
    /// Condition at which it fails.
    pub threshold: f64,
    /// Range of the drift per model hour, drawn uniformly per life.
    pub drift_per_h: (f64, f64),
    /// Diffusion per √(model hour).
    pub sigma_per_sqrt_h: f64,
    /// Standard deviation of the measurement noise.
    pub noise: f64,
    pub decimals: i32,
    /// Model seconds a repair takes.
    pub repair_s: f64,
}

/// Paint oven circulation fan, vibration velocity (mm/s RMS): 1.8 when new, failure at 7.1 mm/s (the
/// zone C/D boundary of ISO 10816-3 for medium machines). Lives of about 40–70 model minutes.
pub const FAN: AssetKind = AssetKind {
    signal: "FanVibration",
    unit: "mm/s",
    baseline: 1.8,
    threshold: 7.1,
    drift_per_h: (4.5, 8.0),
    sigma_per_sqrt_h: 0.6,
    noise: 0.05,
    decimals: 3,
    repair_s: 300.0,
};

/// Robot axis-2 motor winding temperature (degC): 55 when new, failure at 110 degC. About 35–80 minutes.
pub const MOTOR: AssetKind = AssetKind {
    signal: "A2WindingTemperature",
    unit: "degC",
    baseline: 55.0,
    threshold: 110.0,
    drift_per_h: (40.0, 95.0),
    sigma_per_sqrt_h: 6.0,
    noise: 0.3,
    decimals: 2,
    repair_s: 600.0,
};

/// Spot-weld electrode tip wear (mm): new at 0, weld quality lost at 1.5 mm. About 30–60 minutes.
pub const TIP: AssetKind = AssetKind {
    signal: "TipWear",
    unit: "mm",
    baseline: 0.0,
    threshold: 1.5,
    drift_per_h: (1.5, 3.0),
    sigma_per_sqrt_h: 0.12,
    noise: 0.01,
    decimals: 4,
    repair_s: 120.0,
};

/// The degrading assets of the sample plant: (prim path, kind).
pub fn assets() -> Vec<(String, AssetKind)> {
    let mut out: Vec<(String, AssetKind)> = (1..=6).map(|z| (format!("Plant/Paint/Oven/Zone{z:02}"), FAN)).collect();
    // The first robot of each BIW station: its axis-2 motor and its weld tip.
    for s in 1..=6 {
        out.push((format!("Plant/BIW/Station{s:02}/R{:02}", 2 * s - 1), MOTOR));
    }
    for s in 1..=6 {
        out.push((format!("Plant/BIW/Station{s:02}/R{:02}", 2 * s - 1), TIP));
    }
    out
}

/// One asset's state.
#[derive(Debug, Clone)]
pub struct Asset {
    pub path: String,
    pub kind: AssetKind,
    rng: Rng,
    /// The true condition (without measurement noise).
    pub condition: f64,
    /// Drift of the current life, per second.
    pub drift_per_s: f64,
    /// Model time the current life started, and the time it failed (when down).
    pub life_start_s: f64,
    pub failed_at_s: Option<f64>,
    pub failures: i64,
    sig_condition: Option<SignalId>,
    sig_failed: Option<SignalId>,
    sig_failures: Option<SignalId>,
}

impl Asset {
    fn new(path: String, kind: AssetKind, mut rng: Rng) -> Self {
        let drift_per_s = rng.range(kind.drift_per_h.0, kind.drift_per_h.1) / 3600.0;
        Asset {
            path,
            kind,
            rng,
            condition: kind.baseline,
            drift_per_s,
            life_start_s: 0.0,
            failed_at_s: None,
            failures: 0,
            sig_condition: None,
            sig_failed: None,
            sig_failures: None,
        }
    }

    /// The condition as a sensor reads it now (noise added, rounded).
    pub fn measure(&mut self) -> f64 {
        round_to(self.condition + self.rng.noise(self.kind.noise), self.kind.decimals)
    }

    /// Advances `dt` model seconds to time `t`; returns true when the asset failed in this step.
    pub fn step(&mut self, dt: f64, t: f64) -> bool {
        if let Some(at) = self.failed_at_s {
            if t - at >= self.kind.repair_s {
                // Repaired: as new, with a new drift.
                self.failed_at_s = None;
                self.condition = self.kind.baseline;
                self.life_start_s = t;
                self.drift_per_s = self.rng.range(self.kind.drift_per_h.0, self.kind.drift_per_h.1) / 3600.0;
            }
            return false;
        }
        let sigma = self.kind.sigma_per_sqrt_h / 60.0; // per √s
        self.condition += self.drift_per_s * dt + sigma * dt.sqrt() * self.rng.noise(1.0);
        if self.condition >= self.kind.threshold {
            self.failed_at_s = Some(t);
            self.failures += 1;
            return true;
        }
        false
    }
}

/// Every degrading asset of the plant.
#[derive(Debug, Clone)]
pub struct Degradation {
    pub assets: Vec<Asset>,
}

impl Degradation {
    /// The assets with their signals (`<prim>/<kind.signal>`, `…Failed`, `…Failures`) in the plant's table.
    pub fn new(sig: &mut Signals, cfg: &ModelConfig) -> Self {
        let mut d = Degradation::standalone(cfg.seed);
        for a in &mut d.assets {
            let base = format!("{}/{}", a.path, a.kind.signal);
            a.sig_condition = Some(sig.add(base.clone(), a.kind.unit, SimValue::Double(a.kind.baseline)));
            a.sig_failed = Some(sig.add(format!("{base}Failed"), "", SimValue::Bool(false)));
            a.sig_failures = Some(sig.add(format!("{base}Failures"), "", SimValue::Long(0)));
        }
        d
    }

    /// The same assets for `seed`, without signals.
    pub fn standalone(seed: u64) -> Self {
        let assets = assets()
            .into_iter()
            .enumerate()
            .map(|(i, (p, k))| Asset::new(p, k, Rng::new(seed, 9000 + i as u64)))
            .collect();
        Degradation { assets }
    }

    /// Advances every asset `dt` model seconds to time `t` and serves their readings.
    pub fn step(&mut self, sig: &mut Signals, dt: f64, t: f64) {
        for a in &mut self.assets {
            let failed = a.step(dt, t);
            let reading = a.measure();
            if let Some(id) = a.sig_condition {
                sig.set_f64(id, reading);
            }
            if let (Some(f), Some(n)) = (a.sig_failed, a.sig_failures) {
                sig.set_bool(f, a.failed_at_s.is_some());
                if failed {
                    sig.set_i64(n, a.failures);
                }
            }
        }
    }
}
