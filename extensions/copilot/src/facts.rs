//! The facts the copilot answers from, as plain data, and the [`Facts`] trait a front end (the CLI, the
//! service's `POST /v1/ask`) implements by running or reading the real analyses. This crate depends on no
//! other Twinloom crate: the README says which analysis fills which fact. Every fact bundle carries the
//! [`Source`] it came from, which the answer names; a fact that cannot be had is a [`FactError`], never a
//! guessed value.

use serde::{Deserialize, Serialize};

/// Where a fact came from: the analysis (`name`) and what exactly was run or read (`detail`: the command,
/// file, stage layer, month…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub name: String,
    pub detail: String,
}

impl Source {
    /// A source from its name and detail.
    pub fn new(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Source { name: name.into(), detail: detail.into() }
    }
}

/// The kinds of facts, one per [`Facts`] method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactKind {
    Biw,
    Balance,
    Simulation,
    Anomalies,
    Forecasts,
    Payback,
    Current,
}

impl FactKind {
    /// What the fact is, in words: "the BIW collision and reach study", …
    pub fn describe(self) -> &'static str {
        match self {
            FactKind::Biw => "the BIW collision and reach study",
            FactKind::Balance => "the exact line balance",
            FactKind::Simulation => "the line simulation",
            FactKind::Anomalies => "the anomaly diagnostics",
            FactKind::Forecasts => "the forecasts",
            FactKind::Payback => "the payback ledger",
            FactKind::Current => "the twin's current state",
        }
    }
}

/// Why a fact cannot be had. The answer says this plainly and lists what can be answered instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum FactError {
    /// The fact has no source here: no stage given, no ledger configured, not wired in this front end…
    #[error("{} is not available: {why}", kind.describe())]
    Unavailable { kind: FactKind, why: String },
    /// The analysis ran and failed (unreadable stage, bad ledger, sibling run failed…): its own message.
    #[error("{} failed: {message}", kind.describe())]
    Failed { kind: FactKind, message: String },
}

impl FactError {
    /// The error of a [`Facts`] method a front end does not provide.
    pub fn not_wired(kind: FactKind) -> Self {
        FactError::Unavailable { kind, why: "this front end does not provide it".into() }
    }
}

/// A fix the study found for a clash or an unreachable point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fix", rename_all = "snake_case")]
pub enum Fix {
    /// Move the robot's base by this vector (millimetres, world x, y, z): the reach study's base shift.
    BaseShift { robot: String, shift_mm: [f64; 3] },
    /// The reach study searched a box of +-`search_half_mm` per axis and no shift makes all points reachable.
    NoBaseShift { robot: String, search_half_mm: f64 },
    /// Any other fix (re-teach a path segment, fixture shift) from a recommender, with the clearance left.
    Other { description: String, residual_clearance_mm: Option<f64> },
}

/// One clash or near miss of the collision study (`twinloom analyze biw`, `stations[].events[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClashFact {
    pub station: String,
    pub robot: String,
    /// The robot link (`Tool`, `Link4`, …).
    pub link: String,
    /// The part hit: obstacle path below the station (`Body/BPillarReinforcement`) or another robot.
    pub part: String,
    /// `true` for a near miss (clearance under the threshold), `false` for a clash (penetration).
    pub near_miss: bool,
    /// Penetration depth estimate of a clash, mm.
    pub depth_mm: Option<f64>,
    /// Clearance of a near miss, mm.
    pub clearance_mm: Option<f64>,
    /// The worst moment of the episode, seconds into the weld program.
    pub at_s: Option<f64>,
    pub fix: Option<Fix>,
}

/// One weld point the robot cannot reach (`stations[].robots[].points[]` with `reachable: false`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnreachableFact {
    pub station: String,
    pub robot: String,
    /// The weld point id (`W002`).
    pub point: String,
    /// Distance to the nearest reachable pose, mm; `None` when no pose with that approach exists.
    pub outside_mm: Option<f64>,
    pub fix: Option<Fix>,
}

/// One station of the study (`stations[]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiwStationFact {
    pub station: String,
    pub robots: Vec<String>,
    pub weld_points: usize,
    pub min_clearance_mm: Option<f64>,
}

/// The BIW collision and reach study of one body variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiwFacts {
    pub source: Source,
    /// The body variant studied, in words (`the new variant`, `the current body`).
    pub variant: String,
    pub near_miss_mm: f64,
    pub stations: Vec<BiwStationFact>,
    /// Clashes and near misses.
    pub clashes: Vec<ClashFact>,
    pub unreachable: Vec<UnreachableFact>,
}

/// One station of a balance (`assignment[]` of `twinloom balance --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StationLoadFact {
    pub station: String,
    pub load: f64,
    pub idle: f64,
    /// load / cycle time.
    pub utilisation: f64,
}

/// The exact line balance of a line (`BalanceSummary`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BalanceFact {
    pub source: Source,
    pub line: String,
    /// The time unit of the task times (`s`).
    pub unit: String,
    pub cycle_time: f64,
    pub stations: usize,
    /// Proven lower bound on the station count at this cycle time.
    pub lower_bound: usize,
    pub optimal: bool,
    /// The line's takt (`twinloom:taktTime` of the line prim), when known.
    pub takt: Option<f64>,
    pub loads: Vec<StationLoadFact>,
}

/// Mean and 95 % confidence half-width over replications.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EstimateFact {
    pub mean: f64,
    pub ci95: f64,
}

/// One station of a simulation (`line.stations[]` of `twinloom flow --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimStationFact {
    pub name: String,
    /// Shares of working time, 0..1.
    pub utilisation: f64,
    pub blocked: f64,
    pub starved: f64,
    /// Share of replications in which this station was the bottleneck.
    pub bottleneck_share: f64,
}

/// A simulated line (`Summary` of `twinloom flow`), the plant's model or a what-if sibling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulationFact {
    pub source: Source,
    pub line: String,
    /// The what-if sibling simulated, `None` for the line as it is.
    pub scenario: Option<String>,
    pub replications: usize,
    pub throughput_per_h: EstimateFact,
    pub bottleneck: Option<String>,
    pub stations: Vec<SimStationFact>,
}

/// One anomaly episode open now (`twinloom diagnose`'s episode with its explanation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyFact {
    pub signal: String,
    /// Onset, as the diagnostics print it (`2026-01-05 10:00:00`).
    pub since: String,
    pub value: f64,
    pub band_low: f64,
    pub band_high: f64,
    pub deviation_sigmas: f64,
    /// The detector's plain explanation (`a sudden jump from the previous samples`).
    pub explanation: String,
    pub unit: Option<String>,
}

/// The anomalies the diagnostics report now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnomalyFacts {
    pub source: Source,
    pub signals_watched: usize,
    pub anomalies: Vec<AnomalyFact>,
}

/// The unit of a forecast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForecastUnit {
    Seconds,
    Cycles,
}

/// One asset's forecast: time to its failure threshold (`HittingForecast`) or remaining useful life in
/// cycles (`RulModel::predict`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastFact {
    /// The asset (signal path or `engine 3`).
    pub asset: String,
    pub unit: ForecastUnit,
    pub median: f64,
    /// The interval, when the method gives one (`high` `None`: unbounded).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// The interval's coverage in percent (80).
    pub interval_pct: Option<f64>,
    /// The condition signal's level now and its failure threshold, in `signal_unit`.
    pub level: Option<f64>,
    pub threshold: Option<f64>,
    pub signal_unit: Option<String>,
}

/// The forecasts of the watched assets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastFacts {
    pub source: Source,
    pub forecasts: Vec<ForecastFact>,
    /// Assets watched with no forecast (their drift is not towards the threshold).
    pub without_forecast: Vec<String>,
}

/// Projected versus actual of one lever or one dimension (`Gap` of `twinloom payback`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GapFact {
    pub name: String,
    pub dimension: String,
    /// Last measured month (`2026-06`), `None` when not measured yet.
    pub through: Option<String>,
    pub projected_to_date: f64,
    pub actual_to_date: f64,
    pub gap_to_date: f64,
    /// Recalibration ratio (actual / projected over the last measured months).
    pub ratio: Option<f64>,
    pub projected_total: f64,
    pub actual_total: f64,
}

/// The payback ledger's report (`twinloom payback --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PaybackFact {
    pub source: Source,
    pub ledger: String,
    pub currency: String,
    pub through: Option<String>,
    pub payback_projected: Option<String>,
    pub payback_actual: Option<String>,
    /// Months the actual payback lies after the projected one (negative: earlier), when both exist.
    pub payback_delay_months: Option<i32>,
    pub invest_planned: f64,
    pub invest_actual: f64,
    pub levers: Vec<GapFact>,
    pub dimensions: Vec<GapFact>,
}

/// A value as the twin holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FactValue {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// One attribute of the twin's state now (a live attribute, or a station's `twinloom:state`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValueFact {
    /// `/Plant/Assembly/Station04.twinloom:state` or the signal name.
    pub path: String,
    pub value: FactValue,
    pub unit: Option<String>,
    /// Source quality (`Good`) and time, when the binding records them.
    pub quality: Option<String>,
    pub time: Option<String>,
}

/// The twin's current values that match a target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentFacts {
    pub source: Source,
    pub values: Vec<ValueFact>,
}

/// Result of a fact method.
pub type FactResult<T> = Result<T, FactError>;

/// What the copilot may ask the twin. A front end implements the methods it can serve; the others keep
/// the default, which answers [`FactError::Unavailable`]. Arguments are the intent's slots, unchanged.
pub trait Facts {
    /// The BIW collision and reach study of a body variant (`None`: the stage as it is).
    fn biw(&self, variant: Option<&str>) -> FactResult<BiwFacts> {
        let _ = variant;
        Err(FactError::not_wired(FactKind::Biw))
    }
    /// The exact balance of a line (`None`: the plant's assembly line).
    fn balance(&self, line: Option<&str>) -> FactResult<BalanceFact> {
        let _ = line;
        Err(FactError::not_wired(FactKind::Balance))
    }
    /// The simulation of a line, or of a what-if sibling.
    fn simulation(&self, line: Option<&str>, scenario: Option<&str>) -> FactResult<SimulationFact> {
        let _ = (line, scenario);
        Err(FactError::not_wired(FactKind::Simulation))
    }
    /// The anomalies open now, for signals whose names contain every term of `target` (`None`: all).
    fn anomalies(&self, target: Option<&str>) -> FactResult<AnomalyFacts> {
        let _ = target;
        Err(FactError::not_wired(FactKind::Anomalies))
    }
    /// The forecasts of assets whose names contain every term of `asset` (`None`: all).
    fn forecasts(&self, asset: Option<&str>) -> FactResult<ForecastFacts> {
        let _ = asset;
        Err(FactError::not_wired(FactKind::Forecasts))
    }
    /// The payback report of the configured ledger.
    fn payback(&self) -> FactResult<PaybackFact> {
        Err(FactError::not_wired(FactKind::Payback))
    }
    /// The current values of the signals and prims whose names contain every term of `target`.
    fn current(&self, target: &str) -> FactResult<CurrentFacts> {
        let _ = target;
        Err(FactError::not_wired(FactKind::Current))
    }
}

/// Facts with nothing wired: every method answers [`FactError::Unavailable`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFacts;

impl Facts for NoFacts {}

/// Whether `name` contains every space-separated term of `terms`, ignoring case: how targets and assets
/// match signal and prim names (a helper for [`Facts`] implementations).
pub fn matches_terms(name: &str, terms: &str) -> bool {
    let name = name.to_lowercase();
    terms.split_whitespace().all(|t| name.contains(&t.to_lowercase()))
}
