//! Related signals of an anomaly (docs/diagnostics.md, "Related signals"): the signals that sit with it in
//! the stage hierarchy (the same prim — the same equipment — or a sibling prim under the same parent, e.g.
//! the other zones of an oven or the other robots of a station), and which of them moved with it: a signal
//! moved when its detector scored at least [`MOVED_SCORE`] within [`WINDOW_MS`] before the episode's onset
//! or since (co-movement in time), when it has an open episode itself, or — for a signal its detector is
//! still learning, such as a setpoint that changes rarely and so has few samples — when its value changed
//! by more than [`CHANGED_SHARE`] of its size in that window.

use twinloom_connector::observe::ObservedSignal;

/// A score at or above this counts as a move (the detectors' usual alarm level is 0.6).
pub const MOVED_SCORE: f64 = 0.5;
/// For a signal still learning: a change of value by more than this share of its size is a move.
pub const CHANGED_SHARE: f64 = 0.05;
/// How long before an episode's onset a related signal's move still counts as moving with it.
pub const WINDOW_MS: i64 = 30_000;
/// At most this many related signals are named in an explanation (the ones that moved first).
pub const SHOWN: usize = 6;

/// A related signal's part in an explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub signal: u32,
    /// Its highest score in the window (0 when it never moved).
    pub score: f64,
    /// Whether it has an open episode itself.
    pub anomaly: bool,
    /// For a signal still learning: the value change in the window (from, to).
    pub changed: Option<(f64, f64)>,
}

impl Related {
    pub fn moved(&self) -> bool {
        self.anomaly || self.score >= MOVED_SCORE || self.changed.is_some()
    }
}

/// Per signal: its related signals and its latest move.
#[derive(Default)]
pub struct RelatedSignals {
    /// Per signal: the signals on its prim, then those on sibling prims.
    related: Vec<Vec<u32>>,
    /// Per signal: (time, score) of its latest sample scoring at least [`MOVED_SCORE`]; and the highest
    /// such score since that time began a run of moves.
    moves: Vec<Option<(i64, f64)>>,
    /// Per signal: whether an episode is open.
    open: Vec<bool>,
    /// Per signal: its last value, and its latest change while learning (time, from, to).
    last: Vec<f64>,
    changes: Vec<Option<(i64, f64, f64)>>,
}

fn parent(prim: &str) -> &str {
    prim.rsplit_once('/').map_or("", |(p, _)| p)
}

impl RelatedSignals {
    /// Groups `signals` by prim and parent prim. At most 64 per signal are kept (same prim first).
    pub fn attach(&mut self, signals: &[ObservedSignal]) {
        use std::collections::HashMap;
        let mut by_prim: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut by_parent: HashMap<&str, Vec<u32>> = HashMap::new();
        for (i, s) in signals.iter().enumerate() {
            by_prim.entry(&s.prim).or_default().push(i as u32);
            by_parent.entry(parent(&s.prim)).or_default().push(i as u32);
        }
        self.related = signals
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let same = by_prim.get(s.prim.as_str()).into_iter().flatten();
                let siblings = by_parent
                    .get(parent(&s.prim))
                    .into_iter()
                    .flatten()
                    .filter(|&&j| signals[j as usize].prim != s.prim);
                same.chain(siblings).copied().filter(|&j| j as usize != i).take(64).collect()
            })
            .collect();
        self.moves = vec![None; signals.len()];
        self.open = vec![false; signals.len()];
        self.last = vec![f64::NAN; signals.len()];
        self.changes = vec![None; signals.len()];
    }

    /// Notes a sample of `signal` its detector is still learning from: a change of value is a move.
    pub fn learning(&mut self, signal: usize, time_ms: i64, value: f64) {
        let Some(last) = self.last.get_mut(signal) else { return };
        if last.is_finite() && (value - *last).abs() > CHANGED_SHARE * last.abs().max(value.abs()) {
            self.changes[signal] = Some((time_ms, *last, value));
        }
        *last = value;
    }

    /// Notes one scored sample of `signal`.
    pub fn scored(&mut self, signal: usize, time_ms: i64, value: f64, score: f64) {
        if let Some(last) = self.last.get_mut(signal) {
            *last = value;
        }
        if score < MOVED_SCORE {
            return;
        }
        if let Some(m) = self.moves.get_mut(signal) {
            *m = Some(match *m {
                Some((t, best)) if time_ms - t <= WINDOW_MS => (time_ms, best.max(score)),
                _ => (time_ms, score),
            });
        }
    }

    /// Notes an episode of `signal` opening or closing.
    pub fn set_open(&mut self, signal: usize, open: bool) {
        if let Some(o) = self.open.get_mut(signal) {
            *o = open;
        }
    }

    /// The related signals of `signal` for an episode that began at `onset_ms`: those that moved first
    /// (highest score first), then the others, at most [`SHOWN`].
    pub fn of(&self, signal: usize, onset_ms: i64) -> Vec<Related> {
        let mut out: Vec<Related> = self
            .related
            .get(signal)
            .into_iter()
            .flatten()
            .map(|&j| {
                let score = match self.moves.get(j as usize).copied().flatten() {
                    Some((t, s)) if t >= onset_ms - WINDOW_MS => s,
                    _ => 0.0,
                };
                let changed = match self.changes.get(j as usize).copied().flatten() {
                    Some((t, from, to)) if t >= onset_ms - WINDOW_MS => Some((from, to)),
                    _ => None,
                };
                Related { signal: j, score, anomaly: self.open.get(j as usize).copied().unwrap_or(false), changed }
            })
            .collect();
        out.sort_by(|a, b| b.moved().cmp(&a.moved()).then(b.score.total_cmp(&a.score)).then(a.signal.cmp(&b.signal)));
        out.truncate(SHOWN);
        out
    }
}

/// `Zone02 temperature` for a signal on `/Plant/Paint/Oven/Zone02`, attribute `temperature`.
pub fn short_name(s: &ObservedSignal) -> String {
    match s.prim.rsplit('/').next() {
        Some(prim) if !prim.is_empty() => format!("{prim} {}", s.attr),
        _ => s.attr.clone(),
    }
}

/// The sentence part naming the related signals: `; moved with it: Zone01 setpoint (score 0.91); normal:
/// Zone02 temperature`, or empty when there are none.
pub fn sentence(related: &[Related], signals: &[ObservedSignal]) -> String {
    let name = |r: &Related| signals.get(r.signal as usize).map(short_name).unwrap_or_default();
    let moved: Vec<String> = related
        .iter()
        .filter(|r| r.moved())
        .map(|r| {
            if r.anomaly {
                format!("{} (anomalous too)", name(r))
            } else if let Some((from, to)) = r.changed.filter(|_| r.score < MOVED_SCORE) {
                format!("{} (changed {from} → {to})", name(r))
            } else {
                format!("{} (score {:.2})", name(r), r.score)
            }
        })
        .collect();
    let normal: Vec<String> = related.iter().filter(|r| !r.moved()).map(name).collect();
    let mut text = String::new();
    if !moved.is_empty() {
        text.push_str(&format!("; moved with it: {}", moved.join(", ")));
    }
    if !normal.is_empty() {
        text.push_str(&format!("; normal: {}", normal.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(prim: &str, attr: &str) -> ObservedSignal {
        ObservedSignal { shop: "paint".into(), prim: prim.into(), attr: attr.into(), unit: None }
    }

    #[test]
    fn related_signals_come_from_the_hierarchy_and_moves_from_their_scores_in_time() {
        let signals = [
            sig("/Plant/Paint/Oven/Zone01", "temperature"),
            sig("/Plant/Paint/Oven/Zone01", "burnerValve"),
            sig("/Plant/Paint/Oven/Zone02", "temperature"),
            sig("/Plant/BIW/Station01/R01", "J1"),
        ];
        let mut r = RelatedSignals::default();
        r.attach(&signals);
        // The valve moved 5 s before the temperature's onset; zone 2 scored low; the robot is elsewhere.
        r.scored(1, 95_000, 1.0, 0.8);
        r.scored(2, 97_000, 140.0, 0.1);
        r.learning(2, 98_000, 140.5);
        r.learning(2, 99_000, 141.0); // noise while learning: not a move
        r.scored(3, 99_000, 1.0, 0.9);
        let rel = r.of(0, 100_000);
        assert_eq!(rel.iter().map(|x| x.signal).collect::<Vec<_>>(), vec![1, 2]);
        assert!(rel[0].moved() && !rel[1].moved());
        assert_eq!(
            sentence(&rel, &signals),
            "; moved with it: Zone01 burnerValve (score 0.80); normal: Zone02 temperature"
        );
        // A move long before the onset is not a co-movement; an open episode is.
        assert!(!r.of(0, 200_000)[0].moved());
        r.set_open(2, true);
        assert!(r.of(0, 200_000).iter().any(|x| x.signal == 2 && x.moved()));
        // A signal still learning (a setpoint, few samples) moved when its value changed in the window.
        r.learning(1, 190_000, 140.0);
        r.learning(1, 195_000, 300.0);
        let rel = r.of(0, 200_000);
        assert_eq!(rel.iter().find(|x| x.signal == 1).unwrap().changed, Some((140.0, 300.0)));
        assert!(
            sentence(&rel, &signals).contains("Zone01 burnerValve (changed 140 → 300)"),
            "{}",
            sentence(&rel, &signals)
        );
    }
}
