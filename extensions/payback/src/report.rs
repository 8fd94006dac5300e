//! The numbers of a ledger (docs/payback.md): the monthly cash flows planned and as measured, each lever's
//! realization ratio and recalibrated forecast, the payback months, and the gaps per lever and dimension.
//!
//! Rules, in one place:
//! - A month's net is savings minus investment. Projected: planned investment and projected savings.
//!   Actual: actual investment (the plan where no actual amount is given) and each lever's measured savings
//!   up to its last actual month, then its recalibrated forecast.
//! - Recalibration: a lever's realization ratio is the sum of its actual savings over the sum of its
//!   projected savings in its last `recalibrate_months` measured months with a projection > 0; its forecast
//!   for every later month is the projection times that ratio. A lever without actuals keeps its projection
//!   (ratio 1, reported as not yet measured). Nothing is ever filled in for a month inside a lever's
//!   measured run: a hole is an error when the ledger is read.
//! - Payback: the first month from which the cumulative net stays ≥ 0 to the end of the horizon (`None`
//!   when the horizon ends below zero). A later phase that drives the cumulative below zero again moves it.

use std::collections::BTreeMap;

use crate::ledger::{Ledger, DIMENSIONS};
use crate::month::Month;

/// One month of the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthRow {
    pub month: Month,
    pub invest_planned: f64,
    pub invest_actual: f64,
    pub saving_projected: f64,
    /// Measured savings when every lever active this month has an actual for it, else `None`.
    pub saving_measured: Option<f64>,
    /// Measured savings, or the recalibrated forecast after the last actual month.
    pub saving_actual: f64,
    pub cumulative_projected: f64,
    pub cumulative_actual: f64,
}

/// The plan against the measurements for one lever or one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// Lever id or dimension name.
    pub name: String,
    /// The last measured month (for a dimension: the latest of its levers').
    pub through: Option<Month>,
    /// For a lever its dimension, for a dimension the same as `name`.
    pub dimension: String,
    /// Projected savings of the measured months.
    pub projected_to_date: f64,
    /// Measured savings of the same months.
    pub actual_to_date: f64,
    /// `actual_to_date - projected_to_date`.
    pub gap_to_date: f64,
    /// Realization ratio used for the forecast (`None`: not measured yet, the projection stands).
    pub ratio: Option<f64>,
    /// Projected savings over the whole horizon.
    pub projected_total: f64,
    /// Measured plus recalibrated forecast savings over the whole horizon.
    pub actual_total: f64,
}

/// Everything `twinloom payback` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub rows: Vec<MonthRow>,
    /// The last month with actuals.
    pub through: Option<Month>,
    pub payback_projected: Option<Month>,
    pub payback_actual: Option<Month>,
    pub levers: Vec<Gap>,
    pub dimensions: Vec<Gap>,
    pub invest_planned_total: f64,
    pub invest_actual_total: f64,
}

/// The first month from which `cum` stays ≥ 0 to the end.
fn payback(months: &[Month], cum: impl DoubleEndedIterator<Item = f64> + ExactSizeIterator) -> Option<Month> {
    let n = cum.len();
    let below: Vec<bool> = cum.map(|c| c < 0.0).collect();
    match below.iter().rposition(|&b| b) {
        None => months.first().copied(),
        Some(i) if i + 1 < n => Some(months[i + 1]),
        Some(_) => None,
    }
}

/// Computes the report of a checked ledger.
pub fn evaluate(ledger: &Ledger) -> Report {
    let through = ledger.actuals_through();
    let actual_of = |lever: &str, m: Month| -> Option<f64> {
        ledger.actuals.iter().find(|a| a.month == m && a.lever == lever).map(|a| a.saving)
    };

    let mut levers = Vec::new();
    let mut saving_actual_by_month: BTreeMap<Month, f64> = BTreeMap::new();
    for l in &ledger.levers {
        // The ratio over the last measured months with a projection.
        let lever_through = ledger.lever_through(&l.id);
        let measured = |m: Month| lever_through.is_some_and(|t| m <= t);
        let mut recent: Vec<(f64, f64)> = Vec::new();
        if let Some(t) = lever_through {
            let mut m = t;
            while m >= l.from && recent.len() < ledger.recalibrate_months as usize {
                let p = l.projected(m);
                if p > 0.0 {
                    recent.push((actual_of(&l.id, m).unwrap_or(0.0), p));
                }
                m = m.plus(-1);
            }
        }
        let ratio = (!recent.is_empty())
            .then(|| recent.iter().map(|r| r.0).sum::<f64>() / recent.iter().map(|r| r.1).sum::<f64>());
        let (mut p_date, mut a_date, mut p_total, mut a_total) = (0.0, 0.0, 0.0, 0.0);
        for m in ledger.horizon() {
            let p = l.projected(m);
            p_total += p;
            let a = if measured(m) {
                let a = actual_of(&l.id, m).unwrap_or(0.0);
                p_date += p;
                a_date += a;
                a
            } else {
                p * ratio.unwrap_or(1.0)
            };
            a_total += a;
            *saving_actual_by_month.entry(m).or_default() += a;
        }
        levers.push(Gap {
            name: l.id.clone(),
            through: lever_through,
            dimension: l.dimension.clone(),
            projected_to_date: p_date,
            actual_to_date: a_date,
            gap_to_date: a_date - p_date,
            ratio,
            projected_total: p_total,
            actual_total: a_total,
        });
    }

    let dimensions = DIMENSIONS
        .iter()
        .filter(|d| levers.iter().any(|l| l.dimension == **d))
        .map(|d| {
            let of = |f: fn(&Gap) -> f64| levers.iter().filter(|l| l.dimension == *d).map(f).sum::<f64>();
            let (p_date, a_date) = (of(|g| g.projected_to_date), of(|g| g.actual_to_date));
            Gap {
                name: d.to_string(),
                through: levers.iter().filter(|l| l.dimension == *d).filter_map(|l| l.through).max(),
                dimension: d.to_string(),
                projected_to_date: p_date,
                actual_to_date: a_date,
                gap_to_date: a_date - p_date,
                ratio: (p_date > 0.0).then(|| a_date / p_date),
                projected_total: of(|g| g.projected_total),
                actual_total: of(|g| g.actual_total),
            }
        })
        .collect();

    let mut rows = Vec::new();
    let (mut cum_p, mut cum_a) = (0.0, 0.0);
    for m in ledger.horizon() {
        let (ip, ia) = ledger.investments.iter().map(|i| i.in_month(m)).fold((0.0, 0.0), |s, v| (s.0 + v.0, s.1 + v.1));
        let sp: f64 = ledger.levers.iter().map(|l| l.projected(m)).sum();
        let sa = saving_actual_by_month.get(&m).copied().unwrap_or(0.0);
        let all_measured = ledger.levers.iter().filter(|l| l.from <= m).all(|l| actual_of(&l.id, m).is_some())
            && ledger.levers.iter().any(|l| l.from <= m);
        cum_p += sp - ip;
        cum_a += sa - ia;
        rows.push(MonthRow {
            month: m,
            invest_planned: ip,
            invest_actual: ia,
            saving_projected: sp,
            saving_measured: all_measured.then_some(sa),
            saving_actual: sa,
            cumulative_projected: cum_p,
            cumulative_actual: cum_a,
        });
    }
    let months: Vec<Month> = rows.iter().map(|r| r.month).collect();
    Report {
        payback_projected: payback(&months, rows.iter().map(|r| r.cumulative_projected)),
        payback_actual: payback(&months, rows.iter().map(|r| r.cumulative_actual)),
        invest_planned_total: rows.iter().map(|r| r.invest_planned).sum(),
        invest_actual_total: rows.iter().map(|r| r.invest_actual).sum(),
        rows,
        through,
        levers,
        dimensions,
    }
}

/// Whole money with thousands separators, as reports print it: `-1,234,567`.
pub fn money(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}
