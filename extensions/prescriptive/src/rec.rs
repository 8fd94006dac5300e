//! The recommendation record and the ranking.
//!
//! A recommendation holds an id (stable for the same plant and candidate), its domain and kind, what it
//! changes (`target`), a plain-language explanation, the sibling layer it was simulated in, the expected
//! effect with its 95 % confidence half-width, the writes applying it would send through the guarded
//! write-back path, and its state (`proposed` when the recommender writes it).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::PrescriptiveError;
use crate::stats::Gain;

/// Which part of the plant a recommendation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Assembly,
    Paint,
    Biw,
}

impl Domain {
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Assembly => "assembly",
            Domain::Paint => "paint",
            Domain::Biw => "biw",
        }
    }
}

/// A recommendation's state: the recommender writes `proposed`; the approval and apply path moves it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Proposed,
    Approved,
    Applied,
    Rejected,
    Superseded,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Proposed => "proposed",
            State::Approved => "approved",
            State::Applied => "applied",
            State::Rejected => "rejected",
            State::Superseded => "superseded",
        }
    }
}

/// The expected effect of a recommendation on one metric, with its uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effect {
    /// The metric, e.g. `throughput_per_h` or `min_clearance_mm`.
    pub metric: String,
    /// Its unit, e.g. `jobs/h` or `mm`.
    pub unit: String,
    /// The plant's value (mean over replications for simulated metrics).
    pub baseline: Option<f64>,
    /// The value after the change.
    pub value: f64,
    /// The change (value − baseline for simulated metrics).
    pub change: f64,
    /// Half-width of the 95 % confidence interval of `change` (0 for a deterministic study).
    pub ci95: f64,
    /// The change relative to the baseline, percent.
    pub percent: Option<f64>,
    /// Paired replications behind the interval (0 for a deterministic study).
    pub replications: usize,
}

impl Effect {
    /// The effect of a simulated sibling on `metric` from its paired gain.
    pub fn simulated(metric: &str, unit: &str, g: &Gain) -> Self {
        Effect {
            metric: metric.into(),
            unit: unit.into(),
            baseline: Some(g.baseline),
            value: g.sibling,
            change: g.mean,
            ci95: g.ci95,
            percent: Some(g.percent),
            replications: g.replications,
        }
    }

    /// The effect of a deterministic study on `metric`: the change from `baseline` to `value`, no interval, no
    /// percent, no replications.
    pub fn exact(metric: &str, unit: &str, baseline: f64, value: f64) -> Self {
        Effect {
            metric: metric.into(),
            unit: unit.into(),
            baseline: Some(baseline),
            value,
            change: value - baseline,
            ci95: 0.0,
            percent: None,
            replications: 0,
        }
    }

    /// True for a metric where less is better (`kwh_per_car`): a cut is the gain.
    pub fn lower_is_better(&self) -> bool {
        LOWER_IS_BETTER.contains(&self.metric.as_str())
    }

    /// The gain one can count on, positive when better: the interval's end nearest to no change
    /// (`change − ci95`, or `−(change + ci95)` for a metric where less is better).
    pub fn assured_gain(&self) -> f64 {
        if self.lower_is_better() {
            -(self.change + self.ci95)
        } else {
            self.change - self.ci95
        }
    }

    /// True when the whole 95 % interval of the change lies on the better side of zero (above it; below it
    /// for a metric where less is better).
    pub fn significant(&self) -> bool {
        self.assured_gain() > 0.0
    }
}

/// Metrics where less is better: their gain is a cut.
pub const LOWER_IS_BETTER: &[&str] = &["kwh_per_car"];

/// One attribute write applying the recommendation would send through the write-back path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Write {
    /// Prim path, e.g. `/Plant/Assembly/Line/Station05`.
    pub prim: String,
    /// Attribute name, e.g. `twinloom:cycleTime`.
    pub attribute: String,
    /// The value to write.
    pub value: serde_json::Value,
    /// The value the plant has now, when known.
    pub current: Option<serde_json::Value>,
}

impl Write {
    /// The body of the write-back command that applies this write (`POST /v1/commands`, docs/write-back.md):
    /// target `/Prim.attribute`, the value, and the recommendation as the reason.
    pub fn command(&self, recommendation: &str) -> serde_json::Value {
        serde_json::json!({
            "target": format!("{}.{}", self.prim, self.attribute),
            "value": self.value,
            "reason": format!("recommendation {recommendation}"),
            "dry_run": false,
        })
    }
}

/// A ranked, explained action.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Stable id: `<domain>-<kind>-<target name>`, lower case, `[a-z0-9-]`.
    pub id: String,
    /// 1 for the best; recommendations of each domain are ranked on their own.
    pub rank: usize,
    pub domain: Domain,
    /// `buffer`, `operator`, `rebalance`, `base_shift`, …
    pub kind: String,
    /// What it changes: a prim path or a station name.
    pub target: String,
    /// One or two plain sentences: what to change, why, and what the sibling showed.
    pub explanation: String,
    /// The sibling layer the effect comes from (a path the stage's folder resolves), if one was written.
    pub sibling: Option<String>,
    pub effect: Effect,
    pub writes: Vec<Write>,
    pub state: State,
    /// Assumptions the effect rests on, one sentence each.
    pub assumptions: Vec<String>,
}

/// An id of `[a-z0-9-]` from free text (other characters become `-`, runs collapse).
pub fn make_id(parts: &[&str]) -> String {
    let mut id = String::new();
    for part in parts {
        for c in part.chars().flat_map(char::to_lowercase) {
            let c = if c.is_ascii_alphanumeric() { c } else { '-' };
            if c == '-' && (id.is_empty() || id.ends_with('-')) {
                continue;
            }
            id.push(c);
        }
        if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_string()
}

/// Ranks recommendations: by domain, then significant effects first, then by the gain one can count on
/// (the end of the change's interval nearest to no change, [`Effect::assured_gain`]), largest first; ids
/// break ties. Sets `rank` (1-based per domain). Two recommendations with one id are an error.
pub fn rank(mut recs: Vec<Recommendation>) -> Result<Vec<Recommendation>, PrescriptiveError> {
    let mut seen = BTreeSet::new();
    for r in &recs {
        if !seen.insert(r.id.clone()) {
            return Err(PrescriptiveError::DuplicateId(r.id.clone()));
        }
    }
    recs.sort_by(|a, b| {
        a.domain
            .cmp(&b.domain)
            .then(b.effect.significant().cmp(&a.effect.significant()))
            .then(b.effect.assured_gain().total_cmp(&a.effect.assured_gain()))
            .then(a.id.cmp(&b.id))
    });
    let mut last = None;
    let mut n = 0;
    for r in &mut recs {
        if last != Some(r.domain) {
            last = Some(r.domain);
            n = 0;
        }
        n += 1;
        r.rank = n;
    }
    Ok(recs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, change: f64, ci95: f64) -> Recommendation {
        Recommendation {
            id: id.into(),
            rank: 0,
            domain: Domain::Assembly,
            kind: "buffer".into(),
            target: "S".into(),
            explanation: String::new(),
            sibling: None,
            effect: Effect {
                metric: "throughput_per_h".into(),
                unit: "jobs/h".into(),
                baseline: Some(60.0),
                value: 60.0 + change,
                change,
                ci95,
                percent: None,
                replications: 10,
            },
            writes: Vec::new(),
            state: State::Proposed,
            assumptions: Vec::new(),
        }
    }

    #[test]
    fn significant_first_then_lower_bound() {
        let r = rank(vec![rec("a", 3.0, 4.0), rec("b", 1.0, 0.5), rec("c", 2.0, 0.5)]).unwrap();
        let ids: Vec<_> = r.iter().map(|r| (r.id.as_str(), r.rank)).collect();
        assert_eq!(ids, [("c", 1), ("b", 2), ("a", 3)]);
        assert!(matches!(rank(vec![rec("a", 1.0, 0.0), rec("a", 2.0, 0.0)]), Err(PrescriptiveError::DuplicateId(_))));
    }

    #[test]
    fn ids_are_plain() {
        assert_eq!(make_id(&["assembly", "buffer", "A03_Dashboard→A04"]), "assembly-buffer-a03-dashboard-a04");
    }
}
