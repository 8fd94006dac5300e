//! From an intent and the twin's [`Facts`] to an [`Answer`]: short plain sentences in which every number is
//! a number of a fact the answer names in `sources` (rounded for reading; percentages are the ratio of two
//! numbers of the same fact; durations in seconds are shown in minutes, hours or days). A fact that cannot
//! be had is said plainly, with what the copilot can answer instead; nothing is estimated or filled in.

use serde::Serialize;

use crate::facts::{
    BiwFacts, ClashFact, FactError, FactValue, Facts, Fix, ForecastFact, ForecastUnit, GapFact, Source, UnreachableFact,
};
use crate::intent::{BalanceFocus, Intent, UnsupportedReason, CAPABILITIES};
use crate::parse::parse;

/// How many findings of one kind an answer lists before it says how many more there are.
const LIST_MAX: usize = 10;

/// The copilot's answer to one question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Answer {
    /// Short plain sentences.
    pub text: String,
    /// The facts every number in `text` comes from (empty when nothing was answered from the twin).
    pub sources: Vec<Source>,
    /// What the question was taken to ask.
    pub intent: Intent,
    /// `true` when the text answers the question from the twin's facts; `false` for refusals, missing or
    /// failed facts and questions that need more detail.
    pub answered: bool,
}

/// Parses the question and answers it: [`parse`] then [`answer`].
pub fn ask(question: &str, facts: &dyn Facts) -> Answer {
    answer(parse(question), facts)
}

/// Answers an intent from the facts.
pub fn answer(intent: Intent, facts: &dyn Facts) -> Answer {
    let result = match &intent {
        Intent::Clashes { variant, station, robot } => {
            biw(facts, variant.as_deref(), station.as_deref(), robot.as_deref(), true)
        }
        Intent::Reach { variant, station, robot } => {
            biw(facts, variant.as_deref(), station.as_deref(), robot.as_deref(), false)
        }
        Intent::Balance { line, focus } => balance(facts, line.as_deref(), *focus),
        Intent::Throughput { line, scenario } => throughput(facts, line.as_deref(), scenario.as_deref()),
        Intent::Anomalies { target } => anomalies(facts, target.as_deref()),
        Intent::Forecast { asset } => forecast(facts, asset.as_deref()),
        Intent::Payback { lever, dimension } => payback(facts, lever.as_deref(), dimension.as_deref()),
        Intent::CurrentState { target } => current(facts, target.as_deref()),
        Intent::Capabilities => Ok(Reply::not_answered(format!(
            "I answer questions about the plant's twin from its own analyses, offline: {}.",
            capability_list()
        ))),
        Intent::Unsupported { reason } => Ok(Reply::not_answered(refusal(reason))),
    };
    let reply = result.unwrap_or_else(|e| {
        Reply::not_answered(format!("I cannot answer this from the twin: {e}. I can answer: {}.", capability_list()))
    });
    Answer { text: reply.sentences.join(" "), sources: reply.sources, intent, answered: reply.answered }
}

/// An answer being written.
struct Reply {
    sentences: Vec<String>,
    sources: Vec<Source>,
    answered: bool,
}

impl Reply {
    fn new(source: &Source) -> Self {
        Reply { sentences: Vec::new(), sources: vec![source.clone()], answered: true }
    }

    fn not_answered(text: String) -> Self {
        Reply { sentences: vec![text], sources: Vec::new(), answered: false }
    }

    fn say(&mut self, s: impl Into<String>) {
        self.sentences.push(s.into());
    }
}

fn capability_list() -> String {
    CAPABILITIES.iter().map(|c| c.split(" (\"").next().unwrap_or(c)).collect::<Vec<_>>().join("; ")
}

fn refusal(reason: &UnsupportedReason) -> String {
    match reason {
        UnsupportedReason::Empty => {
            format!("Ask me a question about the plant's twin. I can answer: {}.", capability_list())
        }
        r => format!("I can't answer that: {r}. I can answer: {}.", capability_list()),
    }
}

/// A number as read: whole numbers without decimals, others with up to two.
fn num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Millimetres, one decimal.
fn mm(v: f64) -> String {
    format!("{v:.1} mm")
}

/// A share (0..1) as a whole percentage.
fn pct(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// Whole money with thousands separators: `-1,234,567` (the rule of `twinloom_payback::money`, which this
/// crate cannot import: the copilot depends on no other Twinloom crate).
fn money(v: f64) -> String {
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

/// Seconds in the unit that reads best.
fn duration(s: f64) -> String {
    match s {
        s if s < 120.0 => format!("{s:.0} s"),
        s if s < 7200.0 => format!("{:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h", s / 3600.0),
        s => format!("{:.1} days", s / 86_400.0),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn fix_text(fix: &Option<Fix>) -> String {
    match fix {
        Some(Fix::BaseShift { robot, shift_mm: [x, y, z] }) => {
            format!("fix: shift {robot}'s base by ({x:+.0}, {y:+.0}, {z:+.0}) mm in world x, y, z")
        }
        Some(Fix::NoBaseShift { robot, search_half_mm }) => {
            format!("no base shift within +-{search_half_mm:.0} mm per axis makes all of {robot}'s points reachable")
        }
        Some(Fix::Other { description, residual_clearance_mm: Some(c) }) => {
            format!("fix: {description} (leaves {} clearance)", mm(*c))
        }
        Some(Fix::Other { description, residual_clearance_mm: None }) => format!("fix: {description}"),
        None => "the study proposes no fix for it".into(),
    }
}

fn clash_sentence(c: &ClashFact) -> String {
    let at = c.at_s.map(|t| format!(" at t={t:.1} s")).unwrap_or_default();
    match (c.near_miss, c.depth_mm, c.clearance_mm) {
        (false, Some(d), _) => format!(
            "{}: {} ({}) penetrates {} by {}{at}; {}.",
            c.station,
            c.robot,
            c.link,
            c.part,
            mm(d),
            fix_text(&c.fix)
        ),
        (false, None, _) => {
            format!("{}: {} ({}) clashes with {}{at}; {}.", c.station, c.robot, c.link, c.part, fix_text(&c.fix))
        }
        (true, _, Some(cl)) => format!(
            "{}: {} ({}) passes {} from {}{at}; {}.",
            c.station,
            c.robot,
            c.link,
            mm(cl),
            c.part,
            fix_text(&c.fix)
        ),
        (true, _, None) => {
            format!("{}: {} ({}) nearly misses {}{at}; {}.", c.station, c.robot, c.link, c.part, fix_text(&c.fix))
        }
    }
}

fn unreachable_sentence(u: &UnreachableFact) -> String {
    let how = match u.outside_mm {
        Some(d) => format!("is {} outside {}'s reach", mm(d), u.robot),
        None => format!("is out of {}'s reach in any pose with its approach direction", u.robot),
    };
    format!("Weld point {} at {} {how}; {}.", u.point, u.station, fix_text(&u.fix))
}

/// Lists up to [`LIST_MAX`] sentences and says how many more there are.
fn list(reply: &mut Reply, items: Vec<String>, what: &str) {
    let n = items.len();
    for s in items.into_iter().take(LIST_MAX) {
        reply.say(s);
    }
    if n > LIST_MAX {
        reply.say(format!("{} more {what} are in the full report.", n - LIST_MAX));
    }
}

/// Clashes (and unreachable points, from the same study) or unreachable points alone.
fn biw(
    facts: &dyn Facts,
    variant: Option<&str>,
    station: Option<&str>,
    robot: Option<&str>,
    clashes: bool,
) -> Result<Reply, FactError> {
    let f: BiwFacts = facts.biw(variant)?;
    let mut r = Reply::new(&f.source);
    if let Some(st) = station {
        if !f.stations.iter().any(|s| same(&s.station, st)) {
            let names: Vec<&str> = f.stations.iter().map(|s| s.station.as_str()).collect();
            r.say(format!("The BIW study of {} has no station {st}; it checked {}.", f.variant, names.join(", ")));
            r.answered = false;
            return Ok(r);
        }
    }
    let in_station = |s: &str| station.is_none_or(|st| same(s, st));
    if let Some(rb) = robot {
        if !f.stations.iter().filter(|s| in_station(&s.station)).any(|s| s.robots.iter().any(|x| same(x, rb))) {
            let where_ = station.map(|s| format!(" at {s}")).unwrap_or_default();
            r.say(format!("The BIW study of {} has no robot {rb}{where_}.", f.variant));
            r.answered = false;
            return Ok(r);
        }
    }
    let in_scope = |s: &str, rb: &str| in_station(s) && robot.is_none_or(|x| same(rb, x));
    let scope = match (robot, station) {
        (Some(rb), Some(st)) => format!(" for {rb} at {st}"),
        (Some(rb), None) => format!(" for {rb}"),
        (None, Some(st)) => format!(" at {st}"),
        (None, None) => String::new(),
    };
    if clashes {
        let hits: Vec<&ClashFact> =
            f.clashes.iter().filter(|c| !c.near_miss && in_scope(&c.station, &c.robot)).collect();
        let near: Vec<&ClashFact> =
            f.clashes.iter().filter(|c| c.near_miss && in_scope(&c.station, &c.robot)).collect();
        let mut head = if hits.is_empty() {
            format!("The BIW study of {} finds no clash{scope}", f.variant)
        } else {
            format!("The BIW study of {} finds {}{scope}", f.variant, plural(hits.len(), "clash", "clashes"))
        };
        if !near.is_empty() {
            head.push_str(&format!(
                ", and {} under {}",
                plural(near.len(), "near miss", "near misses"),
                mm(f.near_miss_mm)
            ));
        }
        r.say(format!("{head}."));
        list(&mut r, hits.iter().map(|c| clash_sentence(c)).collect(), "clashes");
        list(&mut r, near.iter().map(|c| clash_sentence(c)).collect(), "near misses");
    }
    let out: Vec<&UnreachableFact> = f.unreachable.iter().filter(|u| in_scope(&u.station, &u.robot)).collect();
    if out.is_empty() {
        let points: usize = f.stations.iter().filter(|s| in_station(&s.station)).map(|s| s.weld_points).sum();
        if robot.is_some() {
            r.say(format!("Every weld point{scope} is reachable."));
        } else {
            r.say(format!("All {} weld points{scope} are reachable.", points));
        }
    } else {
        r.say(format!("{} out of reach{scope}:", plural(out.len(), "weld point is", "weld points are")));
        list(&mut r, out.iter().map(|u| unreachable_sentence(u)).collect(), "unreachable weld points");
    }
    Ok(r)
}

fn balance(facts: &dyn Facts, line: Option<&str>, focus: BalanceFocus) -> Result<Reply, FactError> {
    if focus == BalanceFocus::Bottleneck {
        return bottleneck(facts, line);
    }
    let f = facts.balance(line)?;
    let mut r = Reply::new(&f.source);
    let name = f.line.clone();
    let u = &f.unit;
    match focus {
        BalanceFocus::Takt => match f.takt {
            Some(t) => r.say(format!(
                "The takt of {name} is {} {u}; its exact balance runs at a cycle time of {} {u} on {} stations.",
                num(t),
                num(f.cycle_time),
                f.stations
            )),
            None => r.say(format!(
                "The balance of {name} records no takt; it runs at a cycle time of {} {u} on {} stations.",
                num(f.cycle_time),
                f.stations
            )),
        },
        _ => {
            let proof = if f.optimal {
                "proven optimal".to_string()
            } else {
                format!("not proven optimal; lower bound {} stations", f.lower_bound)
            };
            r.say(format!(
                "The exact balance of {name} needs {} stations at a cycle time of {} {u} ({proof}).",
                f.stations,
                num(f.cycle_time)
            ));
            let busiest = f.loads.iter().max_by(|a, b| a.utilisation.total_cmp(&b.utilisation));
            let idlest = f.loads.iter().min_by(|a, b| a.utilisation.total_cmp(&b.utilisation));
            if let (Some(b), Some(i)) = (busiest, idlest) {
                r.say(format!(
                    "The busiest station is {} at {} ({} of {} {u}); the least busy is {} at {}.",
                    b.station,
                    pct(b.utilisation),
                    num(b.load),
                    num(f.cycle_time),
                    i.station,
                    pct(i.utilisation)
                ));
            }
        }
    }
    Ok(r)
}

fn bottleneck(facts: &dyn Facts, line: Option<&str>) -> Result<Reply, FactError> {
    match facts.simulation(line, None) {
        Ok(s) => {
            let mut r = Reply::new(&s.source);
            let name = s.line.clone();
            match s.bottleneck.as_deref().and_then(|b| s.stations.iter().find(|x| same(&x.name, b)).map(|x| (b, x))) {
                Some((b, st)) => r.say(format!(
                    "In {} simulated replications of {name}, the bottleneck is {b}: it was the bottleneck in {} of them \
                     and busy {} of the time (blocked {}, starved {}).",
                    s.replications,
                    pct(st.bottleneck_share),
                    pct(st.utilisation),
                    pct(st.blocked),
                    pct(st.starved)
                )),
                None => match &s.bottleneck {
                    Some(b) => r.say(format!("In {} simulated replications of {name}, the bottleneck is {b}.", s.replications)),
                    None => {
                        r.say(format!("The simulation of {name} names no bottleneck."));
                        r.answered = false;
                    }
                },
            }
            r.say(format!(
                "The line makes {:.1} ± {:.1} jobs per hour.",
                s.throughput_per_h.mean, s.throughput_per_h.ci95
            ));
            Ok(r)
        }
        Err(sim_err) => {
            let f = facts.balance(line).map_err(|_| sim_err.clone())?;
            let mut r = Reply::new(&f.source);
            let name = f.line.clone();
            r.say(format!("I have no simulation to find the bottleneck by ({sim_err})."));
            match f.loads.iter().max_by(|a, b| a.utilisation.total_cmp(&b.utilisation)) {
                Some(b) => r.say(format!(
                    "In the exact balance of {name}, the busiest station is {} at {} of the {} {} cycle time.",
                    b.station,
                    pct(b.utilisation),
                    num(f.cycle_time),
                    f.unit
                )),
                None => {
                    r.say(format!("The balance of {name} lists no stations."));
                    r.answered = false;
                }
            }
            Ok(r)
        }
    }
}

fn throughput(facts: &dyn Facts, line: Option<&str>, scenario: Option<&str>) -> Result<Reply, FactError> {
    let s = facts.simulation(line, scenario)?;
    let mut r = Reply::new(&s.source);
    let name = s.line.clone();
    let what = match &s.scenario {
        Some(sc) => format!("{name} in the what-if sibling {sc}"),
        None => name,
    };
    r.say(format!(
        "Simulated over {} replications, {what} makes {:.1} ± {:.1} jobs per hour (95 % confidence).",
        s.replications, s.throughput_per_h.mean, s.throughput_per_h.ci95
    ));
    if let Some(b) = &s.bottleneck {
        r.say(format!("Its bottleneck is {b}."));
    }
    Ok(r)
}

fn anomalies(facts: &dyn Facts, target: Option<&str>) -> Result<Reply, FactError> {
    let f = facts.anomalies(target)?;
    let mut r = Reply::new(&f.source);
    let scope = target.map(|t| format!(" matching \"{t}\"")).unwrap_or_default();
    if f.anomalies.is_empty() {
        r.say(format!("No anomaly now on the {} signals{scope} the diagnostics watch.", f.signals_watched));
        return Ok(r);
    }
    r.say(format!(
        "{} now on the {} signals{scope} the diagnostics watch:",
        plural(f.anomalies.len(), "anomaly", "anomalies"),
        f.signals_watched
    ));
    let items = f
        .anomalies
        .iter()
        .map(|a| {
            let unit = a.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let inside = a.band_low <= a.value && a.value <= a.band_high;
            let band = format!("{} … {}", num(a.band_low), num(a.band_high));
            let where_ = if inside {
                format!("inside its normal band {band}")
            } else {
                format!("outside its normal band {band}")
            };
            format!(
                "{}: {}{unit} is {where_} ({:+.1} σ) since {}: {}.",
                a.signal,
                num(a.value),
                a.deviation_sigmas,
                a.since,
                a.explanation
            )
        })
        .collect();
    list(&mut r, items, "anomalies");
    Ok(r)
}

fn forecast_sentence(f: &ForecastFact) -> String {
    let show = |v: f64| match f.unit {
        ForecastUnit::Seconds => duration(v),
        ForecastUnit::Cycles => format!("{v:.0} cycles"),
    };
    let what = match f.unit {
        ForecastUnit::Seconds => format!("reaches its failure threshold in {}", show(f.median)),
        ForecastUnit::Cycles => format!("has {} of useful life left", show(f.median)),
    };
    let interval = match (f.low, f.high, f.interval_pct) {
        (Some(lo), Some(hi), Some(p)) => format!(" ({p:.0} % interval {} … {})", show(lo), show(hi)),
        (Some(lo), None, Some(p)) => format!(" ({p:.0} % interval from {} on, with no upper end)", show(lo)),
        _ => String::new(),
    };
    let level = match (f.level, f.threshold) {
        (Some(l), Some(t)) => {
            let u = f.signal_unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            format!("; it reads {}{u} now, the threshold is {}{u}", num(l), num(t))
        }
        _ => String::new(),
    };
    format!("{} {what}{interval}{level}.", f.asset)
}

fn forecast(facts: &dyn Facts, asset: Option<&str>) -> Result<Reply, FactError> {
    let f = facts.forecasts(asset)?;
    let mut r = Reply::new(&f.source);
    let scope = asset.map(|a| format!(" matching \"{a}\"")).unwrap_or_default();
    if f.forecasts.is_empty() {
        if f.without_forecast.is_empty() {
            r.say(format!("No forecast asset{scope}."));
            r.answered = false;
        } else {
            r.say(format!(
                "No asset{scope} is heading for failure: {} show no drift towards their thresholds.",
                f.without_forecast.join(", ")
            ));
        }
        return Ok(r);
    }
    let mut sorted: Vec<&ForecastFact> = f.forecasts.iter().collect();
    sorted.sort_by(|a, b| a.median.total_cmp(&b.median));
    if sorted.len() > 1 {
        r.say(format!("{} forecasts{scope}; the soonest first:", sorted.len()));
    }
    list(&mut r, sorted.iter().map(|x| forecast_sentence(x)).collect(), "forecasts");
    if !f.without_forecast.is_empty() {
        r.say(format!("No forecast for {}: no drift towards the threshold.", f.without_forecast.join(", ")));
    }
    Ok(r)
}

fn gap_sentence(g: &GapFact, currency: &str) -> String {
    match &g.through {
        Some(m) => {
            let realized = if g.projected_to_date > 0.0 {
                format!("{} realized, ", pct(g.actual_to_date / g.projected_to_date))
            } else {
                String::new()
            };
            format!(
                "{} ({}): {} {currency} saved against {} projected to {m} ({realized}gap {}); over the whole horizon {} \
                 actual and forecast against {} projected.",
                g.name,
                g.dimension,
                money(g.actual_to_date),
                money(g.projected_to_date),
                money(g.gap_to_date),
                money(g.actual_total),
                money(g.projected_total)
            )
        }
        None => format!(
            "{} ({}): not measured yet, so its projection of {} {currency} over the horizon stands.",
            g.name,
            g.dimension,
            money(g.projected_total)
        ),
    }
}

fn payback(facts: &dyn Facts, lever: Option<&str>, dimension: Option<&str>) -> Result<Reply, FactError> {
    let f = facts.payback()?;
    let mut r = Reply::new(&f.source);
    let names = |gs: &[GapFact]| gs.iter().map(|g| g.name.clone()).collect::<Vec<_>>().join(", ");
    let selected: Vec<&GapFact> = match (lever, dimension) {
        (Some(l), _) => match f.levers.iter().find(|g| same(&g.name, l)) {
            Some(g) => vec![g],
            None => {
                r.say(format!("The ledger {} has no lever {l}; its levers are {}.", f.ledger, names(&f.levers)));
                r.answered = false;
                return Ok(r);
            }
        },
        (None, Some(d)) => match f.dimensions.iter().find(|g| same(&g.name, d)) {
            Some(g) => vec![g],
            None => {
                r.say(format!(
                    "The ledger {} has no {d} lever; its dimensions are {}.",
                    f.ledger,
                    names(&f.dimensions)
                ));
                r.answered = false;
                return Ok(r);
            }
        },
        (None, None) => f.levers.iter().collect(),
    };
    let through = f.through.as_deref().map_or("no actuals yet".to_string(), |m| format!("actuals through {m}"));
    let when = |m: &Option<String>| m.clone().unwrap_or_else(|| "not within the horizon".into());
    let delay = match f.payback_delay_months {
        Some(0) => ", on plan".to_string(),
        Some(d) if d > 0 => format!(", {} later than projected", plural(d as usize, "month", "months")),
        Some(d) => format!(", {} earlier than projected", plural(d.unsigned_abs() as usize, "month", "months")),
        None => String::new(),
    };
    r.say(format!(
        "{} ({}), {through}: the twin pays back in {} as measured and recalibrated, against {} projected{delay}.",
        f.ledger,
        f.currency,
        when(&f.payback_actual),
        when(&f.payback_projected)
    ));
    if lever.is_none() && dimension.is_none() {
        r.say(format!(
            "Investment: {} {} planned, {} actual.",
            money(f.invest_planned),
            f.currency,
            money(f.invest_actual)
        ));
    }
    for g in selected {
        r.say(gap_sentence(g, &f.currency));
    }
    Ok(r)
}

fn value_text(v: &FactValue) -> String {
    match v {
        FactValue::Bool(b) => b.to_string(),
        FactValue::Number(n) => num(*n),
        FactValue::Text(t) => t.clone(),
    }
}

fn current(facts: &dyn Facts, target: Option<&str>) -> Result<Reply, FactError> {
    let Some(target) = target else {
        return Ok(Reply::not_answered(
            "Which signal or station? Name one, e.g. \"What state is Station04 in?\" or \"What is \
             /Plant/Paint/Oven.energyPerCarKWh now?\""
                .into(),
        ));
    };
    let f = facts.current(target)?;
    let mut r = Reply::new(&f.source);
    if f.values.is_empty() {
        r.say(format!("The twin has no signal or prim matching \"{target}\"."));
        r.answered = false;
        return Ok(r);
    }
    let items = f
        .values
        .iter()
        .map(|v| {
            let unit = v.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default();
            let meta = match (&v.quality, &v.time) {
                (Some(q), Some(t)) => format!(" (quality {q}, at {t})"),
                (Some(q), None) => format!(" (quality {q})"),
                (None, Some(t)) => format!(" (at {t})"),
                (None, None) => String::new(),
            };
            format!("{} is {}{unit}{meta}.", v.path, value_text(&v.value))
        })
        .collect();
    list(&mut r, items, "values");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(money(-1234567.4), "-1,234,567");
        assert_eq!(money(741000.0), "741,000");
        assert_eq!(num(40.0), "40");
        assert_eq!(num(3.456), "3.46");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(duration(90.0), "90 s");
        assert_eq!(duration(1380.0), "23 min");
        assert_eq!(duration(36_000.0), "10.0 h");
    }
}
