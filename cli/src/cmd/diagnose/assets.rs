//! Live time-to-threshold forecasts of degrading assets (docs/forecast.md, "Live"): for each
//! `[[diagnostics.forecasts]]` entry a twinloom-forecast [`HittingTime`] follows the condition signal at its
//! source timestamps, and every few seconds (of the signal's own time) the forecast goes to the diagnostics
//! layer under `twinloom:forecast:<attr>:` and to every live client as a `forecast` message.

use serde_json::json;
use twinloom_connector::observe::{DiagValue, DiagWrite, ForecastSpec, Observations, ObservedSample, ObservedSignal};
use twinloom_forecast::{HittingConfig, HittingForecast, HittingTime};

use super::live::time_iso;

/// A forecast is published at most this often per asset (ms of the signal's own time) …
const EVERY_MS: i64 = 5_000;

/// One followed asset.
struct Asset {
    /// Index of its condition signal among the observed signals.
    signal: u32,
    path: String,
    threshold: f64,
    coverage: f64,
    hitting: HittingTime,
    /// Signal time of the last published forecast, and whether it had one.
    published: Option<(i64, bool)>,
}

/// The forecasts of every configured asset.
#[derive(Default)]
pub struct AssetForecasts {
    specs: Vec<ForecastSpec>,
    assets: Vec<Asset>,
    /// Per observed signal: the asset following it, or `usize::MAX`.
    by_signal: Vec<usize>,
}

impl AssetForecasts {
    pub fn new(specs: Vec<ForecastSpec>) -> Self {
        AssetForecasts { specs, ..Default::default() }
    }

    /// Finds each configured signal among the observed ones; one that is not there is an error.
    pub fn attach(&mut self, signals: &[ObservedSignal]) -> Result<(), String> {
        self.by_signal = vec![usize::MAX; signals.len()];
        self.assets.clear();
        for spec in &self.specs {
            let path = spec.signal.get_ref();
            let Some(i) = signals.iter().position(|s| s.path() == *path) else {
                return Err(format!(
                    "diagnostics.forecasts: {path} is not a bound numeric attribute (bind it with type double, float, int or int64)"
                ));
            };
            let mut cfg = HittingConfig::new(spec.threshold);
            cfg.falling = spec.falling;
            cfg.block_s = spec.block_s.unwrap_or(cfg.block_s);
            cfg.min_blocks = spec.min_blocks.unwrap_or(cfg.min_blocks);
            cfg.coverage = spec.coverage.unwrap_or(cfg.coverage);
            self.by_signal[i] = self.assets.len();
            self.assets.push(Asset {
                signal: i as u32,
                path: path.clone(),
                threshold: spec.threshold,
                coverage: cfg.coverage,
                hitting: HittingTime::new(cfg),
                published: None,
            });
        }
        Ok(())
    }

    /// Takes one sample; publishes the asset's forecast into `out` when it is due.
    pub fn observe(&mut self, s: &ObservedSample, signals: &[ObservedSignal], out: &mut Observations) {
        let Some(asset) = self.by_signal.get(s.signal as usize).and_then(|&a| self.assets.get_mut(a)) else { return };
        if !asset.hitting.push(s.time_ms as f64 / 1e3, s.value) {
            return;
        }
        let forecast = asset.hitting.forecast();
        let due = match asset.published {
            None => true,
            Some((t, had)) => s.time_ms.saturating_sub(t) >= EVERY_MS || had != forecast.is_some(),
        };
        if !due {
            return;
        }
        asset.published = Some((s.time_ms, forecast.is_some()));
        let Some(signal) = signals.get(s.signal as usize) else { return };
        publish(asset, signal, s.time_ms, forecast, out);
    }
}

/// The layer attributes and the `forecast` message of one asset's forecast at `time_ms`.
fn publish(a: &Asset, signal: &ObservedSignal, time_ms: i64, f: Option<HittingForecast>, out: &mut Observations) {
    let at = |s: f64| if s.is_finite() { time_iso(time_ms + (s * 1e3) as i64) } else { String::new() };
    let w = |field: &'static str, value: DiagValue| DiagWrite::forecast(a.signal, field, value);
    out.writes.push(w("threshold", DiagValue::Double(a.threshold)));
    out.writes.push(w("coverage", DiagValue::Double(a.coverage)));
    out.writes.push(w("time", DiagValue::String(time_iso(time_ms))));
    match f {
        Some(f) => {
            out.writes.extend([
                w("status", DiagValue::Token(if f.median_s == 0.0 { "reached" } else { "forecast" }.into())),
                w("level", DiagValue::Double(f.level)),
                w("remainingS", DiagValue::Double(f.median_s)),
                w("remainingLowS", DiagValue::Double(f.low_s)),
                w("remainingHighS", DiagValue::Double(if f.high_s.is_finite() { f.high_s } else { -1.0 })),
                w("failAt", DiagValue::String(at(f.median_s))),
                w("failAtLow", DiagValue::String(at(f.low_s))),
                w("failAtHigh", DiagValue::String(at(f.high_s))),
            ]);
        }
        None => out.writes.push(w("status", DiagValue::Token("learning".into()))),
    }
    let finite = |x: f64| if x.is_finite() { json!(x) } else { serde_json::Value::Null };
    let msg = match f {
        Some(f) => json!({
            "type": "forecast", "path": a.path, "shop": signal.shop, "timeMs": time_ms,
            "status": if f.median_s == 0.0 { "reached" } else { "forecast" },
            "threshold": a.threshold, "unit": signal.unit, "level": f.level, "driftPerS": f.drift_per_s,
            "remainingS": f.median_s, "remainingLowS": f.low_s, "remainingHighS": finite(f.high_s),
            "failAtMs": time_ms as f64 + f.median_s * 1e3, "failAtLowMs": time_ms as f64 + f.low_s * 1e3,
            "failAtHighMs": finite(time_ms as f64 + f.high_s * 1e3), "coverage": a.coverage,
        }),
        None => json!({
            "type": "forecast", "path": a.path, "shop": signal.shop, "timeMs": time_ms, "status": "learning",
            "threshold": a.threshold, "unit": signal.unit, "coverage": a.coverage,
        }),
    };
    out.events.push(msg.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(signal: &str, threshold: f64) -> ForecastSpec {
        let text = format!("signal = \"{signal}\"\nthreshold = {threshold}\nblock_s = 5\nmin_blocks = 6\n");
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn a_drifting_signal_gets_a_forecast_whose_interval_holds_the_crossing() {
        let fan = ObservedSignal {
            shop: "paint".into(),
            prim: "/Plant/Paint/Oven/Zone01".into(),
            attr: "fanVibration".into(),
            unit: Some("mm/s".into()),
        };
        let mut f = AssetForecasts::new(vec![spec("/Plant/Paint/Oven/Zone01.fanVibration", 7.1)]);
        f.attach(std::slice::from_ref(&fan)).unwrap();
        let mut out = Observations::default();
        let t0 = 1_796_600_000_000i64;
        // 1.8 mm/s rising 0.01 mm/s per second: crosses 7.1 at t = 530 s. Observed for 200 s.
        for i in 0..200 {
            let wobble = 0.02 * ((i * 7919 % 13) as f64 - 6.0);
            let s = ObservedSample { signal: 0, time_ms: t0 + i * 1000, value: 1.8 + 0.01 * i as f64 + wobble };
            f.observe(&s, std::slice::from_ref(&fan), &mut out);
        }
        let last: serde_json::Value = serde_json::from_str(out.events.last().unwrap()).unwrap();
        assert_eq!((last["type"].as_str(), last["status"].as_str()), (Some("forecast"), Some("forecast")), "{last}");
        let cross_ms = (t0 + 530_000) as f64;
        let (low, high) = (last["failAtLowMs"].as_f64().unwrap(), last["failAtHighMs"].as_f64().unwrap());
        assert!(low < cross_ms && cross_ms < high, "{low} … {high} vs {cross_ms}");
        assert!(out
            .writes
            .iter()
            .any(|w| w.namespace == twinloom_connector::observe::Namespace::Forecast && w.field == "failAt"));
        // Learning first: the first message says so.
        let first: serde_json::Value = serde_json::from_str(&out.events[0]).unwrap();
        assert_eq!(first["status"], "learning");
    }

    #[test]
    fn a_forecast_signal_that_is_not_observed_is_refused() {
        let mut f = AssetForecasts::new(vec![spec("/Plant/Nothing.here", 1.0)]);
        assert!(f.attach(&[]).unwrap_err().contains("/Plant/Nothing.here"));
    }
}
