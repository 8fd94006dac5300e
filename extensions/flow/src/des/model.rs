//! Line models as written in TOML (see docs/flow.md): a source, stations in series with cycle-time
//! distributions (per product variant), failures, and the buffer or conveyor after each station.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::des::calendar::{Calendar, CalendarSpec};
use crate::des::dist::Dist;
use crate::error::{FlowError, Result};

/// Where jobs come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Source {
    /// The first station never waits for work.
    Saturated,
    /// Jobs arrive with the given interarrival time distribution into an unbounded queue.
    Arrivals { interarrival: Dist },
}

/// A product variant and its share of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    pub share: f64,
}

/// Failures of a station: exponential time between failures (counted in busy time) and repair times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failures {
    /// Mean busy time between failures, seconds.
    pub mtbf_s: f64,
    /// Repair time distribution (seconds); a plain number means an exponential with that mean.
    pub mttr: Dist,
}

/// The link after a station: a buffer (transport time 0) or a conveyor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Jobs the link holds (buffer places or conveyor carriers).
    pub capacity: usize,
    /// Time a job needs to ride from one end to the other, seconds (0 for a buffer).
    #[serde(default)]
    pub transport_s: f64,
}

/// A station.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    pub name: String,
    /// Cycle time distribution, seconds.
    pub time: Dist,
    /// Variant-specific cycle times (variant name -> distribution); others use `time`.
    #[serde(default)]
    pub time_by_variant: BTreeMap<String, Dist>,
    #[serde(default)]
    pub failures: Option<Failures>,
    /// The buffer or conveyor after the station (ignored after the last one; default: capacity 0).
    #[serde(default)]
    pub next: Option<Link>,
}

/// A serial line model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineModel {
    pub name: String,
    /// Simulated time in hours (after the warm-up).
    pub horizon_h: f64,
    /// Warm-up in hours, not counted in the statistics.
    #[serde(default)]
    pub warmup_h: f64,
    pub source: Source,
    #[serde(default)]
    pub variants: Vec<Variant>,
    #[serde(default)]
    pub calendar: Option<CalendarSpec>,
    pub stations: Vec<Station>,
}

impl LineModel {
    /// Checks the model; errors name the model and the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, msg: String| Err(FlowError::invalid(format!("model {:?}: {field}", self.name), msg));
        if !(self.horizon_h > 0.0 && self.horizon_h.is_finite()) {
            return bad("horizon_h".into(), format!("{} must be positive", self.horizon_h));
        }
        if !(self.warmup_h >= 0.0 && self.warmup_h.is_finite()) {
            return bad("warmup_h".into(), format!("{} must be >= 0", self.warmup_h));
        }
        if self.stations.is_empty() {
            return bad("stations".into(), "a line needs at least one station".into());
        }
        if let Source::Arrivals { interarrival } = &self.source {
            if let Err(e) = interarrival.check() {
                return bad("source.interarrival".into(), e);
            }
            if interarrival.mean() <= 0.0 {
                return bad("source.interarrival".into(), "mean must be positive".into());
            }
        }
        for (i, v) in self.variants.iter().enumerate() {
            if !(v.share >= 0.0 && v.share.is_finite()) {
                return bad(format!("variants[{i}].share"), format!("{} must be >= 0", v.share));
            }
        }
        if !self.variants.is_empty() && self.variants.iter().map(|v| v.share).sum::<f64>() <= 0.0 {
            return bad("variants".into(), "shares sum to 0".into());
        }
        if let Some(c) = &self.calendar {
            if let Err(e) = Calendar::from_spec(c) {
                return bad("calendar".into(), e);
            }
        }
        for (i, s) in self.stations.iter().enumerate() {
            let at = |f: &str| format!("stations[{i}] ({}).{f}", s.name);
            if let Err(e) = s.time.check() {
                return bad(at("time"), e);
            }
            for (v, d) in &s.time_by_variant {
                if !self.variants.iter().any(|x| &x.name == v) {
                    return bad(at("time_by_variant"), format!("unknown variant {v:?}"));
                }
                if let Err(e) = d.check() {
                    return bad(at(&format!("time_by_variant.{v}")), e);
                }
            }
            if let Some(f) = &s.failures {
                if !(f.mtbf_s > 0.0 && f.mtbf_s.is_finite()) {
                    return bad(at("failures.mtbf_s"), format!("{} must be positive", f.mtbf_s));
                }
                if let Err(e) = f.mttr.check() {
                    return bad(at("failures.mttr"), e);
                }
            }
            if let Some(l) = &s.next {
                if !(l.transport_s >= 0.0 && l.transport_s.is_finite()) {
                    return bad(at("next.transport_s"), format!("{} must be >= 0", l.transport_s));
                }
                if l.transport_s > 0.0 && l.capacity == 0 {
                    return bad(at("next.capacity"), "a conveyor needs a capacity of at least 1".into());
                }
            }
        }
        Ok(())
    }
}
