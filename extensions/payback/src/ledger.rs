//! The ledger file (docs/payback.md): a TOML file with the plan (`[ledger]`, `[[investment]]`, `[[lever]]`)
//! and the actuals (`[[actual]]` entries, and/or a CSV named by `[ledger] actuals`). Every entry is checked
//! and every error names the file and line.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{PaybackError, Result};
use crate::month::Month;

/// The four dimensions a lever pays back in.
pub const DIMENSIONS: [&str; 4] = ["cost", "efficiency", "quality", "revenue"];

/// An investment: one-off (`month` + `amount`) or recurring (`from` [+ `to`] + `monthly`).
#[derive(Debug, Clone, PartialEq)]
pub struct Investment {
    pub phase: String,
    pub from: Month,
    /// The last month of a recurring investment (inclusive); a one-off has `to == from`.
    pub to: Option<Month>,
    /// Planned amount per month it runs (the whole amount for a one-off).
    pub planned: f64,
    /// What was spent per month, where it differs from the plan.
    pub actual: Option<f64>,
}

impl Investment {
    /// The planned and the actual amount in `m`.
    pub fn in_month(&self, m: Month) -> (f64, f64) {
        if m < self.from || self.to.is_some_and(|t| m > t) {
            return (0.0, 0.0);
        }
        (self.planned, self.actual.unwrap_or(self.planned))
    }
}

/// A savings lever with its projected monthly saving from `from` on (ramping up linearly over `ramp_months`).
#[derive(Debug, Clone, PartialEq)]
pub struct Lever {
    pub id: String,
    pub dimension: String,
    pub description: String,
    pub from: Month,
    pub projected_monthly: f64,
    pub ramp_months: u32,
    /// How the twin measures this lever's saving from one attribute of the stage (`--stage`).
    pub measure: Option<Measure>,
}

/// A lever measured by the twin: the saving of a month is `(baseline - value) × value_per_unit ×
/// volume_per_month` when lower is better (energy per car, downtime minutes), `(value - baseline) × …` when
/// higher is better (throughput).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    /// The attribute, `/Prim/Path.attribute`.
    pub attr: String,
    /// Its value before the twin.
    pub baseline: f64,
    /// Money per unit of the attribute, per unit of volume.
    pub value_per_unit: f64,
    /// Units of volume a month (cars, shifts…); 1 when the attribute is already a monthly figure.
    #[serde(default = "one")]
    pub volume_per_month: f64,
    #[serde(default)]
    pub higher_is_better: bool,
}

fn one() -> f64 {
    1.0
}

impl Measure {
    /// The attribute's prim path and name.
    pub fn prim_and_name(&self) -> Option<(&str, &str)> {
        let slash = self.attr.rfind('/')?;
        let dot = self.attr[slash..].find('.')? + slash;
        Some((&self.attr[..dot], &self.attr[dot + 1..]))
    }

    /// The month's saving for a measured value.
    pub fn saving(&self, value: f64) -> f64 {
        let better = if self.higher_is_better { value - self.baseline } else { self.baseline - value };
        better * self.value_per_unit * self.volume_per_month
    }
}

impl Lever {
    /// The projected saving in `m`: 0 before `from`, then `k / ramp_months` of the full saving in the
    /// k-th month of the ramp (k = 1…), the full saving after it.
    pub fn projected(&self, m: Month) -> f64 {
        if m < self.from {
            return 0.0;
        }
        let k = m.since(self.from) + 1;
        if self.ramp_months == 0 || k >= self.ramp_months as i32 {
            self.projected_monthly
        } else {
            self.projected_monthly * k as f64 / self.ramp_months as f64
        }
    }
}

/// A measured saving of one lever in one month (negative: the lever cost money that month).
#[derive(Debug, Clone, PartialEq)]
pub struct Actual {
    pub month: Month,
    pub lever: String,
    pub saving: f64,
}

/// A checked ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Ledger {
    pub name: String,
    pub currency: String,
    pub start: Month,
    pub months: u32,
    /// Months of actuals the realization ratio of a lever is taken over (docs/payback.md).
    pub recalibrate_months: u32,
    pub investments: Vec<Investment>,
    pub levers: Vec<Lever>,
    pub actuals: Vec<Actual>,
}

impl Ledger {
    /// The months of the horizon, in order.
    pub fn horizon(&self) -> impl Iterator<Item = Month> + '_ {
        (0..self.months as i32).map(|i| self.start.plus(i))
    }

    /// Adds the actual of `lever` in `month` measured by the twin (`value` of its measure's attribute);
    /// refused when the ledger already has an actual there, the lever has no measure, or the month is outside
    /// the horizon. Returns the saving added.
    pub fn add_measured(&mut self, lever: &str, month: Month, value: f64) -> std::result::Result<f64, String> {
        let end = self.start.plus(self.months as i32 - 1);
        if month < self.start || month > end {
            return Err(format!("{month} is outside the ledger's {} … {end}", self.start));
        }
        let l = self.levers.iter().find(|l| l.id == lever).ok_or_else(|| format!("no lever {lever:?}"))?;
        let m = l.measure.as_ref().ok_or_else(|| format!("lever {lever:?} has no measure"))?;
        if !value.is_finite() {
            return Err(format!("lever {lever:?}: {} is {value}, not a number", m.attr));
        }
        if self.actuals.iter().any(|a| a.month == month && a.lever == lever) {
            return Err(format!("lever {lever:?} already has an actual for {month} in the ledger"));
        }
        let saving = m.saving(value);
        self.actuals.push(Actual { month, lever: lever.to_string(), saving });
        self.actuals.sort_by(|a, b| (a.month, &a.lever).cmp(&(b.month, &b.lever)));
        Ok(saving)
    }

    /// The last month with an actual of `lever` (`None`: not measured yet).
    pub fn lever_through(&self, lever: &str) -> Option<Month> {
        self.actuals.iter().filter(|a| a.lever == lever).map(|a| a.month).max()
    }

    /// Checks the actuals again after [`Ledger::add_measured`] (`name` is used in the error).
    pub fn check(&self, name: &str) -> Result<()> {
        check_missing_months(self, name)
    }

    /// The last month with any actual (`None`: no actuals yet).
    pub fn actuals_through(&self) -> Option<Month> {
        self.actuals.iter().map(|a| a.month).max()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHead {
    name: String,
    #[serde(default = "default_currency")]
    currency: String,
    start: Spanned<String>,
    months: Spanned<i64>,
    #[serde(default)]
    recalibrate_months: Option<Spanned<i64>>,
    #[serde(default)]
    actuals: Option<Spanned<String>>,
}

fn default_currency() -> String {
    "EUR".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInvestment {
    phase: String,
    month: Option<String>,
    amount: Option<f64>,
    actual: Option<f64>,
    from: Option<String>,
    to: Option<String>,
    monthly: Option<f64>,
    actual_monthly: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLever {
    id: String,
    dimension: String,
    #[serde(default)]
    description: String,
    from: String,
    projected_monthly: f64,
    #[serde(default)]
    ramp_months: Option<i64>,
    #[serde(default)]
    measure: Option<Measure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileActual {
    month: String,
    lever: String,
    saving: f64,
    #[serde(default)]
    #[allow(dead_code)] // kept in the file for people; not used in the numbers
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    ledger: FileHead,
    #[serde(default)]
    investment: Vec<Spanned<FileInvestment>>,
    #[serde(default)]
    lever: Vec<Spanned<FileLever>>,
    #[serde(default)]
    actual: Vec<Spanned<FileActual>>,
}

/// Where errors are reported: the file's name and text (for line numbers).
struct Source<'a> {
    path: String,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn invalid(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> PaybackError {
        PaybackError::Invalid { path: self.path.clone(), line: self.line(span), message: message.into() }
    }

    fn month(&self, span: &std::ops::Range<usize>, what: &str, text: &str) -> Result<Month> {
        Month::parse(text).ok_or_else(|| self.invalid(span.clone(), format!("{what} {text:?} is not a month YYYY-MM")))
    }

    fn amount(&self, span: &std::ops::Range<usize>, what: &str, v: f64) -> Result<f64> {
        if !v.is_finite() || v < 0.0 {
            return Err(self.invalid(span.clone(), format!("{what} must be a finite amount ≥ 0, not {v}")));
        }
        Ok(v)
    }
}

/// Reads and checks a ledger file (and the actuals CSV it names, relative to the file).
pub fn read_ledger(path: &Path) -> Result<Ledger> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| PaybackError::Io { path: path.display().to_string(), source })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_ledger(&text, &path.display().to_string(), &dir)
}

/// Parses and checks ledger text; `name` is used in errors, `dir` resolves `[ledger] actuals`.
pub fn parse_ledger(text: &str, name: &str, dir: &Path) -> Result<Ledger> {
    let src = Source { path: name.to_string(), text };
    let file: File = toml::from_str(text).map_err(|e| PaybackError::Parse {
        path: name.to_string(),
        line: e.span().map_or(1, |s| src.line(s)),
        message: e.message().to_string(),
    })?;
    let head = &file.ledger;
    let start = src.month(&head.start.span(), "start", head.start.get_ref())?;
    let months = *head.months.get_ref();
    if !(1..=600).contains(&months) {
        return Err(src.invalid(head.months.span(), format!("months must be 1…600, not {months}")));
    }
    let recalibrate_months = match &head.recalibrate_months {
        Some(r) if !(1..=120).contains(r.get_ref()) => {
            return Err(src.invalid(r.span(), format!("recalibrate_months must be 1…120, not {}", r.get_ref())))
        }
        Some(r) => *r.get_ref() as u32,
        None => 3,
    };
    let end = start.plus(months as i32 - 1);
    let in_horizon = |span: &std::ops::Range<usize>, what: &str, m: Month| {
        if m < start || m > end {
            return Err(src.invalid(span.clone(), format!("{what} {m} is outside the ledger's {start} … {end}")));
        }
        Ok(m)
    };

    let mut investments = Vec::new();
    for inv in &file.investment {
        let span = inv.span();
        let i = inv.get_ref();
        let one_off = i.month.is_some() || i.amount.is_some() || i.actual.is_some();
        let recurring = i.from.is_some() || i.to.is_some() || i.monthly.is_some() || i.actual_monthly.is_some();
        let what = format!("investment {:?}", i.phase);
        let inv = match (one_off, recurring) {
            (true, false) => {
                let (Some(m), Some(amount)) = (&i.month, i.amount) else {
                    return Err(src.invalid(span, format!("{what}: a one-off investment needs month and amount")));
                };
                let m = in_horizon(&span, &what, src.month(&span, &what, m)?)?;
                Investment {
                    phase: i.phase.clone(),
                    from: m,
                    to: Some(m),
                    planned: src.amount(&span, &format!("{what} amount"), amount)?,
                    actual: i.actual.map(|a| src.amount(&span, &format!("{what} actual"), a)).transpose()?,
                }
            }
            (false, true) => {
                let (Some(from), Some(monthly)) = (&i.from, i.monthly) else {
                    return Err(src.invalid(span, format!("{what}: a recurring investment needs from and monthly")));
                };
                let from = in_horizon(&span, &what, src.month(&span, &what, from)?)?;
                let to = i.to.as_deref().map(|t| src.month(&span, &what, t)).transpose()?;
                if to.is_some_and(|t| t < from) {
                    return Err(src.invalid(span, format!("{what}: to is before from")));
                }
                Investment {
                    phase: i.phase.clone(),
                    from,
                    to,
                    planned: src.amount(&span, &format!("{what} monthly"), monthly)?,
                    actual: i
                        .actual_monthly
                        .map(|a| src.amount(&span, &format!("{what} actual_monthly"), a))
                        .transpose()?,
                }
            }
            _ => {
                return Err(src.invalid(
                    span,
                    format!(
                        "{what}: either month + amount (one-off) or from + monthly (recurring), not both or neither"
                    ),
                ))
            }
        };
        investments.push(inv);
    }

    let mut levers: Vec<Lever> = Vec::new();
    for lv in &file.lever {
        let span = lv.span();
        let l = lv.get_ref();
        if l.id.trim().is_empty() || levers.iter().any(|o| o.id == l.id) {
            return Err(src.invalid(span, format!("lever id {:?} is empty or used twice", l.id)));
        }
        if !DIMENSIONS.contains(&l.dimension.as_str()) {
            return Err(src.invalid(
                span,
                format!("lever {:?}: dimension {:?} is not one of {}", l.id, l.dimension, DIMENSIONS.join(", ")),
            ));
        }
        let what = format!("lever {:?}", l.id);
        if let Some(ms) = &l.measure {
            let finite = [ms.baseline, ms.value_per_unit, ms.volume_per_month].iter().all(|v| v.is_finite());
            if ms.prim_and_name().is_none() || !ms.attr.starts_with('/') {
                return Err(
                    src.invalid(span, format!("{what}: measure.attr {:?} is not /Prim/Path.attribute", ms.attr))
                );
            }
            if !finite || ms.value_per_unit < 0.0 || ms.volume_per_month <= 0.0 {
                return Err(src.invalid(
                    span,
                    format!("{what}: measure needs finite numbers, value_per_unit ≥ 0 and volume_per_month > 0"),
                ));
            }
        }
        let ramp = l.ramp_months.unwrap_or(0);
        if !(0..=120).contains(&ramp) {
            return Err(src.invalid(span, format!("{what}: ramp_months must be 0…120, not {ramp}")));
        }
        levers.push(Lever {
            id: l.id.clone(),
            dimension: l.dimension.clone(),
            description: l.description.clone(),
            from: in_horizon(&span, &what, src.month(&span, &what, &l.from)?)?,
            projected_monthly: src.amount(&span, &format!("{what} projected_monthly"), l.projected_monthly)?,
            ramp_months: ramp as u32,
            measure: l.measure.clone(),
        });
    }

    let known: BTreeSet<&str> = levers.iter().map(|l| l.id.as_str()).collect();
    let mut actuals = Vec::new();
    let mut add = |actual: Actual, at: &dyn Fn(&str) -> PaybackError| -> Result<()> {
        if !known.contains(actual.lever.as_str()) {
            return Err(at(&format!("unknown lever {:?} (the ledger's levers: {})", actual.lever, known_list(&known))));
        }
        if !actual.saving.is_finite() {
            return Err(at(&format!("saving {} is not a number", actual.saving)));
        }
        if actual.month < start || actual.month > end {
            return Err(at(&format!("month {} is outside the ledger's {start} … {end}", actual.month)));
        }
        if actuals.iter().any(|a: &Actual| a.month == actual.month && a.lever == actual.lever) {
            return Err(at(&format!("a second actual for lever {:?} in {}", actual.lever, actual.month)));
        }
        actuals.push(actual);
        Ok(())
    };
    for a in &file.actual {
        let span = a.span();
        let v = a.get_ref();
        let month = src.month(&span, "actual month", &v.month)?;
        add(Actual { month, lever: v.lever.clone(), saving: v.saving }, &|m| src.invalid(span.clone(), m))?;
    }
    if let Some(csv) = &head.actuals {
        let csv_path: PathBuf = dir.join(csv.get_ref());
        let csv_name = csv_path.display().to_string();
        let csv_text =
            std::fs::read_to_string(&csv_path).map_err(|source| PaybackError::Io { path: csv_name.clone(), source })?;
        for (i, line) in csv_text.lines().enumerate() {
            let line_no = i + 1;
            let at = |m: &str| PaybackError::Invalid { path: csv_name.clone(), line: line_no, message: m.to_string() };
            let cells: Vec<&str> = line.split(',').map(str::trim).collect();
            if line.trim().is_empty() || (i == 0 && cells.first() == Some(&"month")) {
                continue;
            }
            let [month, lever, saving] = cells[..] else {
                return Err(at(&format!("expected month,lever,saving, got {line:?}")));
            };
            let month = Month::parse(month).ok_or_else(|| at(&format!("{month:?} is not a month YYYY-MM")))?;
            let saving: f64 = saving.parse().map_err(|_| at(&format!("saving {saving:?} is not a number")))?;
            add(Actual { month, lever: lever.to_string(), saving }, &at)?;
        }
    }
    actuals.sort_by(|a, b| (a.month, &a.lever).cmp(&(b.month, &b.lever)));

    let ledger = Ledger {
        name: head.name.clone(),
        currency: head.currency.clone(),
        start,
        months: months as u32,
        recalibrate_months,
        investments,
        levers,
        actuals,
    };
    check_missing_months(&ledger, name)?;
    Ok(ledger)
}

fn known_list(known: &BTreeSet<&str>) -> String {
    known.iter().copied().collect::<Vec<_>>().join(", ")
}

/// Every lever's actuals run without a hole from its first month to its last actual (a lever may be
/// measured through an earlier month than another: its forecast starts there).
fn check_missing_months(ledger: &Ledger, name: &str) -> Result<()> {
    let mut missing = Vec::new();
    for l in &ledger.levers {
        let Some(last) = ledger.lever_through(&l.id) else { continue };
        let mut m = l.from;
        while m <= last {
            if !ledger.actuals.iter().any(|a| a.month == m && a.lever == l.id) {
                missing.push(format!("{} {m}", l.id));
            }
            m = m.plus(1);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(PaybackError::MissingMonths { path: name.to_string(), missing: missing.join(", ") })
}
