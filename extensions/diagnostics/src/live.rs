//! Anomaly episodes over many live signals: a [`Monitor`] runs one detector per signal (a
//! [`DetectorBank`]) and turns the per-sample labels into episodes that open, update and close, the
//! events a live stream and a stage carry (docs/diagnostics.md, "Live").
//!
//! An episode opens on a signal's first anomalous sample, stays open while anomalous samples keep
//! coming, and closes after `close_after_samples` consecutive samples that are not anomalous (so a
//! signal that hovers at the threshold gives one episode, not a flood). While open it reports an update
//! at most every `update_every_ms` of the signal's time, and whenever the score reaches a new peak by
//! at least `update_score_step`. Rejected samples (the input rules) neither open nor close anything.

use crate::config::DetectorConfig;
use crate::detector::{DetectorBank, Label, Verdict};
use crate::error::{DiagnosticsError, Result};
use crate::explain::Explanation;

/// Settings of a [`Monitor`]: the detector's and the episodes'.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonitorConfig {
    /// The detector (one configuration for every signal).
    pub detector: DetectorConfig,
    /// An open episode closes after this many consecutive samples that are not anomalous.
    pub close_after_samples: u32,
    /// An open episode reports an update at most this often (ms of the signal's time) …
    pub update_every_ms: i64,
    /// … or when its peak score grew by at least this much since the last report.
    pub update_score_step: f64,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            detector: DetectorConfig::default(),
            close_after_samples: 20,
            update_every_ms: 5_000,
            update_score_step: 0.05,
        }
    }
}

impl MonitorConfig {
    /// Sets one setting by name from text: the episode settings here, every other name on the detector
    /// ([`DetectorConfig::set`]).
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = || DiagnosticsError::InvalidConfig(format!("{name}: cannot parse {value:?}"));
        match name {
            "close_after_samples" => {
                self.close_after_samples = value.trim().parse().map_err(|_| bad())?;
                if self.close_after_samples == 0 {
                    return Err(DiagnosticsError::InvalidConfig("close_after_samples must be at least 1".into()));
                }
            }
            "update_every_ms" => {
                self.update_every_ms = value.trim().parse().map_err(|_| bad())?;
                if self.update_every_ms < 0 {
                    return Err(DiagnosticsError::InvalidConfig("update_every_ms must be >= 0".into()));
                }
            }
            "update_score_step" => {
                let v: f64 = value.trim().parse().map_err(|_| bad())?;
                if !(v.is_finite() && v > 0.0) {
                    return Err(DiagnosticsError::InvalidConfig("update_score_step must be finite and > 0".into()));
                }
                self.update_score_step = v;
            }
            _ => self.detector.set(name, value)?,
        }
        Ok(())
    }
}

/// What happened to an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Open,
    Update,
    Close,
}

impl EventKind {
    /// `open`, `update`, `close`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Open => "open",
            EventKind::Update => "update",
            EventKind::Close => "close",
        }
    }
}

/// An episode event of one signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// The signal's index in the monitor.
    pub signal: usize,
    /// The episode's number (from 1, unique within the monitor).
    pub episode: u64,
    /// Timestamp (ms) of the sample that caused the event.
    pub time_ms: i64,
    /// That sample's score.
    pub score: f64,
    /// Highest score of the episode.
    pub peak_score: f64,
    /// First anomalous sample of the episode (ms).
    pub onset_ms: i64,
    /// Anomalous samples in the episode.
    pub samples: u32,
    /// The explanation of the episode's last anomalous sample (for a close: of its peak).
    pub explanation: Explanation,
}

impl Event {
    /// From the onset to the sample that caused the event, in ms.
    pub fn duration_ms(&self) -> i64 {
        self.time_ms.saturating_sub(self.onset_ms)
    }
}

/// A signal's open episode.
#[derive(Clone, Copy, Debug)]
struct Episode {
    id: u64,
    onset_ms: i64,
    samples: u32,
    peak_score: f64,
    peak: Explanation,
    last: Explanation,
    /// Consecutive samples that were not anomalous.
    quiet: u32,
    reported_ms: i64,
    reported_peak: f64,
}

/// Detectors plus episodes for many signals.
#[derive(Clone, Debug)]
pub struct Monitor {
    config: MonitorConfig,
    bank: DetectorBank,
    episodes: Vec<Option<Episode>>,
    next_id: u64,
    open: usize,
}

impl Monitor {
    /// A monitor of `signals` signals with no history.
    pub fn new(config: MonitorConfig, signals: usize) -> Result<Monitor> {
        let bank = DetectorBank::new(config.detector, signals)?;
        Ok(Monitor { config, bank, episodes: vec![None; signals], next_id: 1, open: 0 })
    }

    /// Episodes open now.
    pub fn open(&self) -> usize {
        self.open
    }

    /// Number of signals.
    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    /// Whether the monitor has no signals.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    /// Scores one sample of `signal` and appends the episode event it causes, if any, to `events`;
    /// `None` when there is no such signal.
    pub fn update(&mut self, signal: usize, t_ms: i64, x: f64, events: &mut Vec<Event>) -> Option<Verdict> {
        let v = self.bank.update(signal, t_ms, x)?;
        let cfg = self.config;
        let slot = self.episodes.get_mut(signal)?;
        match (v.label, slot.as_mut()) {
            (Label::Rejected(_), _) => {}
            (Label::Anomalous, None) => {
                let e = v.explanation.unwrap_or_else(|| blank(x, t_ms));
                let ep = Episode {
                    id: self.next_id,
                    onset_ms: t_ms,
                    samples: 1,
                    peak_score: v.score,
                    peak: e,
                    last: e,
                    quiet: 0,
                    reported_ms: t_ms,
                    reported_peak: v.score,
                };
                self.next_id += 1;
                self.open += 1;
                events.push(event(EventKind::Open, signal, &ep, t_ms, v.score, e));
                *slot = Some(ep);
            }
            (Label::Anomalous, Some(ep)) => {
                let e = v.explanation.unwrap_or_else(|| blank(x, t_ms));
                ep.samples = ep.samples.saturating_add(1);
                ep.quiet = 0;
                ep.last = e;
                if v.score > ep.peak_score {
                    ep.peak_score = v.score;
                    ep.peak = e;
                }
                let due = t_ms.saturating_sub(ep.reported_ms) >= cfg.update_every_ms
                    || ep.peak_score >= ep.reported_peak + cfg.update_score_step;
                if due {
                    ep.reported_ms = t_ms;
                    ep.reported_peak = ep.peak_score;
                    events.push(event(EventKind::Update, signal, ep, t_ms, v.score, e));
                }
            }
            (_, Some(ep)) => {
                ep.quiet += 1;
                if ep.quiet >= cfg.close_after_samples {
                    let peak = ep.peak;
                    events.push(event(EventKind::Close, signal, ep, t_ms, v.score, peak));
                    *slot = None;
                    self.open -= 1;
                }
            }
            (_, None) => {}
        }
        Some(v)
    }
}

fn event(kind: EventKind, signal: usize, ep: &Episode, t_ms: i64, score: f64, e: Explanation) -> Event {
    Event {
        kind,
        signal,
        episode: ep.id,
        time_ms: t_ms,
        score,
        peak_score: ep.peak_score,
        onset_ms: ep.onset_ms,
        samples: ep.samples,
        explanation: e,
    }
}

/// An explanation for an anomalous verdict that came without one (the detector always gives one; this
/// keeps the monitor total).
fn blank(x: f64, t_ms: i64) -> Explanation {
    Explanation {
        value: x,
        expected: x,
        sigma: 0.0,
        band_low: x,
        band_high: x,
        deviation_sigmas: 0.0,
        outside_by: 0.0,
        component: crate::explain::Component::Outlier,
        onset_ms: t_ms,
        duration_ms: 0,
        samples: 1,
        peak_score: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_opens_one_episode_that_closes_after_the_quiet_samples() {
        let mut cfg = MonitorConfig::default();
        cfg.set("warmup_samples", "50").unwrap();
        cfg.set("close_after_samples", "5").unwrap();
        let mut m = Monitor::new(cfg, 2).unwrap();
        let mut events = Vec::new();
        let noise = |i: i64| ((i * 7919) % 13) as f64 * 0.01;
        for i in 0..400 {
            m.update(0, i * 100, 10.0 + noise(i), &mut events);
            m.update(1, i * 100, 5.0 + noise(i), &mut events);
        }
        assert!(events.is_empty(), "clean noise opens nothing: {events:?}");
        for i in 400..410 {
            m.update(0, i * 100, 30.0 + noise(i), &mut events);
        }
        assert_eq!(events[0].kind, EventKind::Open);
        assert_eq!((events[0].signal, events[0].episode), (0, 1));
        assert_eq!(m.open(), 1);
        // Back to normal: the level learned again, the episode closes once.
        for i in 410..2000 {
            m.update(0, i * 100, 10.0 + noise(i), &mut events);
        }
        let closes: Vec<_> = events.iter().filter(|e| e.kind == EventKind::Close).collect();
        assert!(!closes.is_empty(), "{events:?}");
        assert_eq!(m.open(), 0);
        assert!(m.update(2, 0, 1.0, &mut events).is_none());
        assert!(cfg.set("nonsense", "1").is_err());
        assert!(cfg.set("close_after_samples", "0").is_err());
    }
}
