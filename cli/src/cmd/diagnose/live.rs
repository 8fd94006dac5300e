//! The live diagnostics of `twinloom run` and `twinloom demo` (docs/diagnostics.md, "Live"): with
//! `[diagnostics] enabled = true`, an observer for the connector ([`twinloom_connector::observe`]) that runs
//! twinloom-diagnostics' [`Monitor`] (one detector per selected signal, episodes that open, update and
//! close) and answers with the diagnostics layer's attributes and the live stream's `anomaly` messages.
//! `[diagnostics.detector]` holds the monitor's settings by name ([`MonitorConfig::set`]).

use anyhow::{anyhow, Result};
use serde_json::json;
use twinloom_connector::observe::{
    AckError, DiagValue, DiagWrite, Observations, ObservedSample, ObservedSignal, ObserverFactory, SampleObserver,
};
use twinloom_connector::Config;
use twinloom_diagnostics::{Event, EventKind, Label, Monitor, MonitorConfig};

use super::assets::AssetForecasts;
use super::related::{self, RelatedSignals};

/// A signal's score is written to the layer at most this often (ms of its own time) …
const SCORE_EVERY_MS: i64 = 1_000;
/// … and only when it moved by at least this much since it was last written (events always write it).
const SCORE_STEP: f64 = 0.05;

/// The monitor's settings from `[diagnostics.detector]` (numbers, or text that parses as one).
pub fn monitor_config(table: &toml::Table) -> Result<MonitorConfig> {
    let mut cfg = MonitorConfig::default();
    for (name, value) in table {
        let text = match value {
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::String(s) => s.clone(),
            other => return Err(anyhow!("diagnostics.detector.{name}: expected a number, not {}", other.type_str())),
        };
        cfg.set(name, &text).map_err(|e| anyhow!("diagnostics.detector.{name}: {e}"))?;
    }
    Ok(cfg)
}

/// The observer for `cfg`'s `[diagnostics]`, or `None` when it is not enabled; a bad setting is an error.
pub fn observer(cfg: &Config) -> Result<Option<ObserverFactory>> {
    if !cfg.diagnostics.enabled {
        return Ok(None);
    }
    let settings = monitor_config(&cfg.diagnostics.detector)?;
    let forecasts = cfg.diagnostics.forecasts.clone();
    Ok(Some(ObserverFactory::new(move || {
        let mut d = LiveDiagnostics::new(settings);
        d.forecasts = AssetForecasts::new(forecasts.clone());
        Box::new(d)
    })))
}

/// The connector's observer: a monitor over the attached signals.
struct LiveDiagnostics {
    settings: MonitorConfig,
    monitor: Option<Monitor>,
    signals: Vec<ObservedSignal>,
    paths: Vec<String>,
    /// Per signal: the score last written and when (signal time), `NaN` before the first.
    written: Vec<(f64, i64)>,
    events: Vec<Event>,
    /// Time-to-threshold forecasts of `[[diagnostics.forecasts]]`.
    forecasts: AssetForecasts,
    /// Each signal's neighbours in the hierarchy and their recent moves.
    related: RelatedSignals,
    /// The open episodes by id: their signal, onset and acknowledgement (who, when, note).
    episodes: std::collections::HashMap<u64, OpenEpisode>,
}

/// An open episode as the observer keeps it for acknowledgements.
struct OpenEpisode {
    signal: usize,
    onset_ms: i64,
    acknowledged: Option<(String, i64, String)>,
}

impl LiveDiagnostics {
    fn new(settings: MonitorConfig) -> Self {
        LiveDiagnostics {
            settings,
            monitor: None,
            signals: Vec::new(),
            paths: Vec::new(),
            written: Vec::new(),
            events: Vec::new(),
            forecasts: AssetForecasts::default(),
            related: RelatedSignals::default(),
            episodes: Default::default(),
        }
    }
}

impl SampleObserver for LiveDiagnostics {
    fn attach(&mut self, signals: &[ObservedSignal]) -> Result<(), String> {
        self.monitor = Some(Monitor::new(self.settings, signals.len()).map_err(|e| e.to_string())?);
        self.signals = signals.to_vec();
        self.paths = signals.iter().map(ObservedSignal::path).collect();
        self.written = vec![(f64::NAN, i64::MIN); signals.len()];
        self.related.attach(signals);
        self.forecasts.attach(signals)
    }

    fn observe(&mut self, _now_ms: i64, samples: &[ObservedSample], out: &mut Observations) {
        let Some(monitor) = self.monitor.as_mut() else { return };
        for s in samples {
            self.forecasts.observe(s, &self.signals, out);
            let i = s.signal as usize;
            let Some(v) = monitor.update(i, s.time_ms, s.value, &mut self.events) else { continue };
            match v.label {
                Label::Normal | Label::Anomalous => self.related.scored(i, s.time_ms, s.value, v.score),
                Label::Learning => {
                    self.related.learning(i, s.time_ms, s.value);
                    continue;
                }
                Label::Rejected(_) => continue,
            }
            let Some(w) = self.written.get_mut(i) else { continue };
            let moved = w.0.is_nan() || (v.score - w.0).abs() >= SCORE_STEP;
            if moved && s.time_ms.saturating_sub(w.1) >= SCORE_EVERY_MS {
                *w = (v.score, s.time_ms);
                out.writes.push(DiagWrite::diag(s.signal, "score", DiagValue::Double(v.score)));
            }
        }
        for e in self.events.drain(..) {
            let (Some(signal), Some(path)) = (self.signals.get(e.signal), self.paths.get(e.signal)) else { continue };
            let id = e.signal as u32;
            let open = e.kind != EventKind::Close;
            self.related.set_open(e.signal, open);
            let acknowledged = match e.kind {
                EventKind::Open => {
                    out.opened += 1;
                    let episode = OpenEpisode { signal: e.signal, onset_ms: e.onset_ms, acknowledged: None };
                    self.episodes.insert(e.episode, episode);
                    out.writes.extend([
                        DiagWrite::diag(id, "acknowledged", DiagValue::Bool(false)),
                        DiagWrite::diag(id, "acknowledgedBy", DiagValue::String(String::new())),
                    ]);
                    None
                }
                EventKind::Close => {
                    out.writes.extend([
                        DiagWrite::diag(id, "acknowledged", DiagValue::Bool(false)),
                        DiagWrite::diag(id, "acknowledgedBy", DiagValue::String(String::new())),
                    ]);
                    self.episodes.remove(&e.episode).and_then(|ep| ep.acknowledged)
                }
                _ => self.episodes.get(&e.episode).and_then(|ep| ep.acknowledged.clone()),
            };
            let related = if open { self.related.of(e.signal, e.onset_ms) } else { Vec::new() };
            let text = format!("{}{}", explanation_text(signal, &e), related::sentence(&related, &self.signals));
            let related_json: Vec<serde_json::Value> = related
                .iter()
                .filter_map(|r| {
                    let path = self.paths.get(r.signal as usize)?;
                    let changed = r.changed.map(|(from, to)| json!({"from": from, "to": to}));
                    Some(json!({"path": path, "moved": r.moved(), "score": r.score, "anomaly": r.anomaly, "changed": changed}))
                })
                .collect();
            if let Some(w) = self.written.get_mut(e.signal) {
                *w = (e.score, e.time_ms);
            }
            let since = if open { time_iso(e.onset_ms) } else { String::new() };
            out.writes.extend([
                DiagWrite::diag(id, "score", DiagValue::Double(e.score)),
                DiagWrite::diag(id, "anomaly", DiagValue::Bool(open)),
                DiagWrite::diag(id, "since", DiagValue::String(since)),
                DiagWrite::diag(id, "explanation", DiagValue::String(text.clone())),
            ]);
            let x = &e.explanation;
            let msg = json!({
                "type": "anomaly",
                "event": e.kind.as_str(),
                "id": e.episode,
                "path": path,
                "shop": signal.shop,
                "timeMs": e.time_ms,
                "score": e.score,
                "peakScore": e.peak_score,
                "onsetMs": e.onset_ms,
                "durationMs": e.duration_ms(),
                "samples": e.samples,
                "value": x.value,
                "expected": x.expected,
                "bandLow": x.band_low,
                "bandHigh": x.band_high,
                "deviationSigmas": x.deviation_sigmas,
                "outsideBy": x.outside_by,
                "component": component_name(x.component),
                "unit": signal.unit,
                "explanation": text,
                "related": related_json,
                "acknowledgedBy": acknowledged.as_ref().map(|(by, _, _)| by),
            });
            out.events.push(msg.to_string());
        }
        out.open = monitor.open() as u64;
    }

    fn acknowledge(
        &mut self,
        id: u64,
        by: &str,
        note: &str,
        now_ms: i64,
        out: &mut Observations,
    ) -> Result<(), AckError> {
        let ep = self.episodes.get_mut(&id).ok_or(AckError::NoSuchEpisode(id))?;
        if let Some((who, _, _)) = &ep.acknowledged {
            return Err(AckError::Already { id, by: who.clone() });
        }
        ep.acknowledged = Some((by.to_string(), now_ms, note.to_string()));
        let (Some(signal), Some(path)) = (self.signals.get(ep.signal), self.paths.get(ep.signal)) else {
            return Err(AckError::NoSuchEpisode(id));
        };
        let msg = json!({
            "type": "anomaly",
            "event": "acknowledged",
            "id": id,
            "path": path,
            "shop": signal.shop,
            "timeMs": now_ms,
            "onsetMs": ep.onset_ms,
            "acknowledgedBy": by,
            "note": note,
        });
        out.events.push(msg.to_string());
        let s = ep.signal as u32;
        out.writes.extend([
            DiagWrite::diag(s, "acknowledged", DiagValue::Bool(true)),
            DiagWrite::diag(s, "acknowledgedBy", DiagValue::String(by.to_string())),
        ]);
        Ok(())
    }
}

fn component_name(c: twinloom_diagnostics::Component) -> &'static str {
    use twinloom_diagnostics::Component::*;
    match c {
        Jump => "jump",
        Outlier => "outlier",
        Shift => "shift",
        Variance => "variance",
        Season => "season",
        Range => "range",
    }
}

/// `2026-12-07T01:50:36.123Z`.
pub(super) fn time_iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The plain line of an event, e.g. `Zone01 temperature is 12.3 degC above its normal band 138.1 … 141.9
/// (+9.3 σ, its level shifted) since 01:50:36, for 40 s (80 samples); peak score 0.93`.
fn explanation_text(signal: &ObservedSignal, e: &Event) -> String {
    let x = &e.explanation;
    let name = related::short_name(signal);
    let unit = signal.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
    let samples = if e.samples == 1 { "1 sample".to_string() } else { format!("{} samples", e.samples) };
    let since = chrono::DateTime::from_timestamp_millis(e.onset_ms)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    let span = format!(
        "since {since}, for {} ({samples}); peak score {:.2}",
        super::duration_text(e.duration_ms()),
        e.peak_score
    );
    if e.kind == EventKind::Close {
        return format!("{name} is back to normal: {span}");
    }
    if x.outside_by > 0.0 {
        let side = if x.value >= x.expected { "above" } else { "below" };
        format!(
            "{name} is {:.4}{unit} {side} its normal band {:.4} … {:.4}{unit} ({:+.1} σ, {}) {span}",
            x.outside_by,
            x.band_low,
            x.band_high,
            x.deviation_sigmas,
            super::component_text(x)
        )
    } else {
        format!(
            "{name} is {:.4}{unit}, inside its normal band {:.4} … {:.4}{unit} but {} {span}",
            x.value,
            x.band_low,
            x.band_high,
            super::component_text(x)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_detector_table_and_bad_ones_are_refused() {
        let table: toml::Table =
            toml::from_str("warmup_samples = 50\nalarm_score = 0.7\nclose_after_samples = 5").unwrap();
        let cfg = monitor_config(&table).unwrap();
        assert_eq!((cfg.detector.warmup_samples, cfg.detector.alarm_score, cfg.close_after_samples), (50, 0.7, 5));
        let bad: toml::Table = toml::from_str("alarm_score = 2.0").unwrap();
        assert!(monitor_config(&bad).unwrap_err().to_string().contains("diagnostics.detector.alarm_score"));
        let wrong: toml::Table = toml::from_str("warmup = true").unwrap();
        assert!(monitor_config(&wrong).is_err());
    }

    #[test]
    fn a_step_gives_an_open_event_and_the_layer_attributes() {
        let table: toml::Table = toml::from_str("warmup_samples = 50").unwrap();
        let mut d = LiveDiagnostics::new(monitor_config(&table).unwrap());
        let sig = ObservedSignal {
            shop: "paint".into(),
            prim: "/Plant/Paint/Oven/Zone01".into(),
            attr: "temperature".into(),
            unit: Some("degC".into()),
        };
        d.attach(std::slice::from_ref(&sig)).unwrap();
        let mut out = Observations::default();
        let t0 = 1_780_000_000_000;
        let samples: Vec<ObservedSample> = (0..300)
            .map(|i| ObservedSample { signal: 0, time_ms: t0 + i * 100, value: 140.0 + ((i * 37) % 7) as f64 * 0.1 })
            .collect();
        d.observe(t0, &samples, &mut out);
        assert!(out.events.is_empty());
        let step: Vec<ObservedSample> =
            (300..305).map(|i| ObservedSample { signal: 0, time_ms: t0 + i * 100, value: 170.0 }).collect();
        d.observe(t0, &step, &mut out);
        assert_eq!((out.opened, out.open), (1, 1));
        let msg: serde_json::Value = serde_json::from_str(&out.events[0]).unwrap();
        assert_eq!((msg["type"].as_str(), msg["event"].as_str()), (Some("anomaly"), Some("open")));
        assert_eq!(msg["path"], "/Plant/Paint/Oven/Zone01.temperature");
        assert!(msg["explanation"].as_str().unwrap().contains("above its normal band"), "{msg}");
        assert!(out.writes.iter().any(|w| w.field == "anomaly" && w.value == DiagValue::Bool(true)));
        // An operator acknowledges the episode: one `acknowledged` event and the layer values; twice is
        // refused, as is an episode that does not exist.
        let id = msg["id"].as_u64().unwrap();
        let mut ack = Observations::default();
        d.acknowledge(id, "shift lead", "checking the burner", t0 + 31_000, &mut ack).unwrap();
        let event: serde_json::Value = serde_json::from_str(&ack.events[0]).unwrap();
        assert_eq!(
            (event["event"].as_str(), event["acknowledgedBy"].as_str()),
            (Some("acknowledged"), Some("shift lead"))
        );
        assert_eq!((event["id"].as_u64(), event["note"].as_str()), (Some(id), Some("checking the burner")));
        assert!(ack
            .writes
            .iter()
            .any(|w| w.field == "acknowledgedBy" && w.value == DiagValue::String("shift lead".into())));
        let mut again = Observations::default();
        assert_eq!(
            d.acknowledge(id, "someone", "", t0, &mut again),
            Err(AckError::Already { id, by: "shift lead".into() })
        );
        assert_eq!(d.acknowledge(999, "someone", "", t0, &mut again), Err(AckError::NoSuchEpisode(999)));
        assert!(again.events.is_empty());
    }
}
