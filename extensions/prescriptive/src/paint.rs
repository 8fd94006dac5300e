//! Paint-shop candidates and their recommendations: oven setpoint and conveyor speed settings that cut the
//! energy per car while every body variant stays inside its cure window.
//!
//! The crate runs no model itself: the program hands [`search`] an evaluator (the paint model of
//! `twinloom-flow`, docs/flow.md "Paint shop model") that gives, at a [`Setting`], the energy per car, the
//! throughput and each body variant's time at cure temperature and peak temperature. [`search`] evaluates a
//! grid of settings around the plant's and picks, per lever, the cheapest setting inside the cure window
//! with the required margins:
//!
//! - **oven setpoint** at today's conveyor speed;
//! - **conveyor speed** at today's oven setpoint (never below the required throughput);
//! - **oven and conveyor** together, when the joint optimum differs from both.
//!
//! A setting that leaves any body variant outside its cure window (too short at temperature, or too hot) is
//! never proposed; a lever with no such setting, or none cheaper than today, is [`Rejected`] with the
//! reason. The model is deterministic, so an effect has no interval (`ci95` 0, 0 replications).

use serde::Serialize;

use crate::error::PrescriptiveError;
use crate::rec::{make_id, Domain, Effect, Recommendation, State, Write};

/// The paint shop's levers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Setting {
    /// Conveyor speed through the oven, m/min.
    pub conveyor_m_min: f64,
    /// Oven air temperature setpoint, °C.
    pub oven_setpoint_c: f64,
}

/// One body variant's cure at a setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BodyCure {
    pub body: String,
    /// Minutes at or above the cure temperature inside the oven.
    pub time_at_temp_min: f64,
    /// Highest body temperature reached, °C.
    pub peak_temp_c: f64,
}

/// What the paint model gives at a setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mix-weighted energy per car, kWh.
    pub kwh_per_car: f64,
    /// Cars per hour the conveyor carries.
    pub throughput_per_h: f64,
    pub cure: Vec<BodyCure>,
}

/// The paint's cure window: at least `cure_time_min` at or above `cure_temp_c`, never above `max_temp_c`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Window {
    pub cure_temp_c: f64,
    pub cure_time_min: f64,
    pub max_temp_c: f64,
}

/// How far inside the cure window the tightest body variant is (negative: outside).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Margin {
    /// Least time at temperature beyond the cure time over the body variants, minutes.
    pub time_min: f64,
    /// The body variant with that least time.
    pub time_body: String,
    /// Least distance of a peak body temperature below the maximum, °C.
    pub temp_c: f64,
    /// The body variant with that least distance.
    pub temp_body: String,
}

impl Margin {
    /// The margins of `eval` in `window` (an evaluation without body variants has none: −∞).
    pub fn of(eval: &Evaluation, window: &Window) -> Margin {
        let mut m = Margin {
            time_min: f64::NEG_INFINITY,
            time_body: String::new(),
            temp_c: f64::NEG_INFINITY,
            temp_body: String::new(),
        };
        for (i, c) in eval.cure.iter().enumerate() {
            let t = c.time_at_temp_min - window.cure_time_min;
            if i == 0 || t < m.time_min {
                m.time_min = t;
                m.time_body = c.body.clone();
            }
            let p = window.max_temp_c - c.peak_temp_c;
            if i == 0 || p < m.temp_c {
                m.temp_c = p;
                m.temp_body = c.body.clone();
            }
        }
        m
    }

    /// True when every body variant is inside the window (both margins ≥ 0).
    pub fn inside(&self) -> bool {
        self.time_min >= 0.0 && self.temp_c >= 0.0
    }
}

/// A setting as the model saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub setting: Setting,
    pub eval: Evaluation,
    pub margin: Margin,
}

/// Where to search and what a proposed setting must keep.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Conveyor speeds searched, as factors of today's (default 0.8..1.2).
    pub speed_factor: (f64, f64),
    /// Conveyor speed step, m/min (default 0.05).
    pub speed_step_m_min: f64,
    /// Oven setpoints searched, °C (default: the cure temperature to 20 °C above the maximum body
    /// temperature, since the body lags the air).
    pub setpoint_c: Option<(f64, f64)>,
    /// Oven setpoint step, °C (default 0.5).
    pub setpoint_step_c: f64,
    /// Least time at temperature beyond the cure time a proposed setting keeps for every body, min (0.5).
    pub min_time_margin_min: f64,
    /// Least distance below the maximum body temperature a proposed setting keeps, °C (1.0).
    pub min_temp_margin_c: f64,
    /// Least throughput a proposed setting keeps, cars/h (default: today's: a cut never costs output).
    pub min_throughput_per_h: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            speed_factor: (0.8, 1.2),
            speed_step_m_min: 0.05,
            setpoint_c: None,
            setpoint_step_c: 0.5,
            min_time_margin_min: 0.5,
            min_temp_margin_c: 1.0,
            min_throughput_per_h: None,
        }
    }
}

/// Which levers a candidate moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lever {
    OvenSetpoint,
    ConveyorSpeed,
    OvenAndConveyor,
}

impl Lever {
    /// The recommendation kind.
    pub fn kind(self) -> &'static str {
        match self {
            Lever::OvenSetpoint => "oven_setpoint",
            Lever::ConveyorSpeed => "conveyor_speed",
            Lever::OvenAndConveyor => "oven_and_conveyor",
        }
    }
}

/// A proposed setting.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub lever: Lever,
    pub point: Point,
}

/// A lever with no setting to propose, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rejected {
    pub id: String,
    pub reason: String,
}

/// The search's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Search {
    /// The model's (shop's) name.
    pub name: String,
    pub window: Window,
    /// Today's setting.
    pub baseline: Point,
    pub candidates: Vec<Candidate>,
    pub rejected: Vec<Rejected>,
    /// Settings evaluated.
    pub evaluated: usize,
    /// The searched ranges and steps: speeds (m/min) and setpoints (°C).
    pub speeds: (f64, f64, f64),
    pub setpoints: (f64, f64, f64),
    pub min_time_margin_min: f64,
    pub min_temp_margin_c: f64,
    pub min_throughput_per_h: f64,
}

/// `x0 + k·step` for every k that keeps it within `[lo, hi]` (so `x0` itself is on the grid when inside).
fn grid(x0: f64, lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let k0 = ((lo - x0) / step - 1e-9).ceil() as i64;
    let k1 = ((hi - x0) / step + 1e-9).floor() as i64;
    (k0..=k1).map(|k| ((x0 + k as f64 * step) * 1e9).round() / 1e9).filter(|x| *x > 0.0).collect()
}

fn positive(what: &'static str, v: f64) -> Result<(), PrescriptiveError> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(PrescriptiveError::InvalidOption { what, why: format!("{v} must be a positive number") })
    }
}

/// Searches the grid of `options` around `baseline` with `eval` (the paint model) and returns the cheapest
/// setting inside the cure window per lever, or why there is none.
pub fn search<F>(
    name: &str,
    baseline: Setting,
    window: &Window,
    options: &Options,
    mut eval: F,
) -> Result<Search, PrescriptiveError>
where
    F: FnMut(&Setting) -> Result<Evaluation, PrescriptiveError>,
{
    positive("paint speed step", options.speed_step_m_min)?;
    positive("paint setpoint step", options.setpoint_step_c)?;
    positive("conveyor speed", baseline.conveyor_m_min)?;
    let (f_lo, f_hi) = options.speed_factor;
    if !(f_lo > 0.0 && f_lo <= 1.0 && f_hi >= 1.0 && f_hi.is_finite()) {
        return Err(PrescriptiveError::InvalidOption {
            what: "paint speed factors",
            why: format!("{f_lo}..{f_hi} must hold 1 and stay above 0"),
        });
    }
    for (what, v) in
        [("paint time margin", options.min_time_margin_min), ("paint peak margin", options.min_temp_margin_c)]
    {
        if !(v >= 0.0 && v.is_finite()) {
            return Err(PrescriptiveError::InvalidOption { what, why: format!("{v} must be ≥ 0") });
        }
    }
    let point = |eval: &mut F, s: Setting| -> Result<Point, PrescriptiveError> {
        let e = eval(&s)?;
        let margin = Margin::of(&e, window);
        Ok(Point { setting: s, eval: e, margin })
    };
    let base = point(&mut eval, baseline)?;
    let min_tp = options.min_throughput_per_h.unwrap_or(base.eval.throughput_per_h);
    let v0 = baseline.conveyor_m_min;
    let t0 = baseline.oven_setpoint_c;
    let (s_lo, s_hi) = options.setpoint_c.unwrap_or((window.cure_temp_c, window.max_temp_c + 20.0));
    let speeds = grid(v0, v0 * f_lo, v0 * f_hi, options.speed_step_m_min);
    let temps = grid(t0, s_lo, s_hi, options.setpoint_step_c);
    if speeds.is_empty() || temps.is_empty() {
        return Err(PrescriptiveError::InvalidOption {
            what: "paint search grid",
            why: format!("no positive setting between {s_lo} and {s_hi} °C"),
        });
    }
    let mut points = Vec::with_capacity(speeds.len() * temps.len());
    for &v in &speeds {
        for &t in &temps {
            points.push(point(&mut eval, Setting { conveyor_m_min: v, oven_setpoint_c: t })?);
        }
    }
    let ok = |p: &Point| {
        p.margin.time_min >= options.min_time_margin_min
            && p.margin.temp_c >= options.min_temp_margin_c
            && p.eval.throughput_per_h >= min_tp - 1e-9
    };
    // Distance from today's setting in steps: breaks ties towards the smaller change.
    let dist = |s: &Setting| {
        ((s.conveyor_m_min - v0) / options.speed_step_m_min).abs()
            + ((s.oven_setpoint_c - t0) / options.setpoint_step_c).abs()
    };
    let mut out = Search {
        name: name.to_string(),
        window: *window,
        candidates: Vec::new(),
        rejected: Vec::new(),
        evaluated: points.len() + 1,
        speeds: (speeds[0], speeds[speeds.len() - 1], options.speed_step_m_min),
        setpoints: (temps[0], temps[temps.len() - 1], options.setpoint_step_c),
        min_time_margin_min: options.min_time_margin_min,
        min_temp_margin_c: options.min_temp_margin_c,
        min_throughput_per_h: min_tp,
        baseline: base,
    };
    let same = |a: f64, b: f64| (a - b).abs() < 1e-9;
    for lever in [Lever::OvenSetpoint, Lever::ConveyorSpeed, Lever::OvenAndConveyor] {
        let id = make_id(&["paint", lever.kind(), name]);
        let on_lever = |p: &&Point| match lever {
            Lever::OvenSetpoint => same(p.setting.conveyor_m_min, v0),
            Lever::ConveyorSpeed => same(p.setting.oven_setpoint_c, t0),
            Lever::OvenAndConveyor => true,
        };
        let best = points.iter().filter(on_lever).filter(|p| ok(p)).min_by(|a, b| {
            a.eval.kwh_per_car.total_cmp(&b.eval.kwh_per_car).then(dist(&a.setting).total_cmp(&dist(&b.setting)))
        });
        let base = &out.baseline;
        let reason = match best {
            None => {
                // The setting nearest to admissible: the largest least margin, among those keeping the
                // throughput when any do.
                let fast = |p: &&Point| p.eval.throughput_per_h >= min_tp - 1e-9;
                let keeps = points.iter().filter(on_lever).any(|p| fast(&p));
                let closest = points.iter().filter(on_lever).filter(|p| !keeps || fast(p)).max_by(|a, b| {
                    a.margin.time_min.min(a.margin.temp_c).total_cmp(&b.margin.time_min.min(b.margin.temp_c))
                });
                Some(format!(
                    "no {} setting searched keeps every body variant inside its cure window with ≥ {} min and ≥ {} °C \
                     margin at ≥ {:.1} cars/h{}",
                    lever.kind().replace('_', " "),
                    options.min_time_margin_min,
                    options.min_temp_margin_c,
                    min_tp,
                    closest.map_or(String::new(), |c| format!(
                        "; the closest, {:.2} m/min at {:.1} °C, has {:.2} min ({}) and {:.2} °C ({}) margin",
                        c.setting.conveyor_m_min,
                        c.setting.oven_setpoint_c,
                        c.margin.time_min,
                        c.margin.time_body,
                        c.margin.temp_c,
                        c.margin.temp_body
                    ))
                ))
            }
            Some(b) if same(b.setting.conveyor_m_min, v0) && same(b.setting.oven_setpoint_c, t0) => {
                Some("today's setting is already the cheapest inside the cure window".to_string())
            }
            Some(b) if base.margin.inside() && b.eval.kwh_per_car >= base.eval.kwh_per_car - 1e-9 => Some(format!(
                "the cheapest setting inside the cure window ({:.2} m/min, {:.1} °C) cuts nothing: {:.3} kWh/car \
                 against today's {:.3}",
                b.setting.conveyor_m_min, b.setting.oven_setpoint_c, b.eval.kwh_per_car, base.eval.kwh_per_car
            )),
            Some(b) => out
                .candidates
                .iter()
                .find(|c| c.point.setting == b.setting)
                .map(|c| format!("the joint search found the setting of {}", c.id)),
        };
        match (reason, best) {
            (Some(reason), _) => out.rejected.push(Rejected { id, reason }),
            (None, Some(b)) => out.candidates.push(Candidate { id, lever, point: b.clone() }),
            (None, None) => {}
        }
    }
    Ok(out)
}

/// The recommendation for candidate `c` of `s`: `target` the prim (or shop name) it changes, `sibling` its
/// layer, `writes` what applying it writes, `assumptions` the program's own (e.g. how zones map).
pub fn recommendation(
    s: &Search,
    c: &Candidate,
    target: &str,
    sibling: Option<String>,
    writes: Vec<Write>,
    assumptions: Vec<String>,
) -> Recommendation {
    let b = &s.baseline;
    let p = &c.point;
    let w = &s.window;
    let change = p.eval.kwh_per_car - b.eval.kwh_per_car;
    let percent = if b.eval.kwh_per_car != 0.0 { 100.0 * change / b.eval.kwh_per_car } else { 0.0 };
    let mut what = Vec::new();
    if p.setting.oven_setpoint_c != b.setting.oven_setpoint_c {
        what.push(format!(
            "the oven setpoint to {:.1} °C (from {:.1} °C)",
            p.setting.oven_setpoint_c, b.setting.oven_setpoint_c
        ));
    }
    if p.setting.conveyor_m_min != b.setting.conveyor_m_min {
        what.push(format!(
            "the conveyor to {:.2} m/min (from {:.2} m/min, {:.1} → {:.1} cars/h)",
            p.setting.conveyor_m_min, b.setting.conveyor_m_min, b.eval.throughput_per_h, p.eval.throughput_per_h
        ));
    }
    let margin = format!(
        "every body variant stays inside its cure window: ≥ {:.2} min beyond the {} min at {} °C ({} the tightest) \
         and peak ≥ {:.2} °C below {} °C ({})",
        p.margin.time_min,
        w.cure_time_min,
        w.cure_temp_c,
        p.margin.time_body,
        p.margin.temp_c,
        w.max_temp_c,
        p.margin.temp_body
    );
    let today = if b.margin.inside() {
        String::new()
    } else if b.margin.time_min < 0.0 {
        format!(
            " Today's setting leaves {} {:.2} min short of its cure time: this setting fixes it{}.",
            b.margin.time_body,
            -b.margin.time_min,
            if change > 0.0 { format!(" at a cost of {change:+.3} kWh/car") } else { String::new() }
        )
    } else {
        format!(
            " Today's setting heats {} {:.2} °C above the maximum: this setting fixes it.",
            b.margin.temp_body, -b.margin.temp_c
        )
    };
    let explanation = format!(
        "Set {}: energy per car {:.3} → {:.3} kWh ({:+.1} %) in the paint model; {margin}.{today}",
        what.join(" and "),
        b.eval.kwh_per_car,
        p.eval.kwh_per_car,
        percent
    );
    let mut all = vec![
        "the paint model is deterministic (lumped-capacitance body heating, steady energy balance, docs/flow.md): \
         the effect has no interval (ci95 0, no replications)"
            .to_string(),
        format!(
            "cure window per body variant: at least {} min at or above {} °C, peak body temperature at most {} °C",
            w.cure_time_min, w.cure_temp_c, w.max_temp_c
        ),
        format!(
            "constraint margin: cure time {:+.2} min ({}), peak temperature {:+.2} °C ({}); required at least {} min \
             and {} °C (today: {:+.2} min, {:+.2} °C)",
            p.margin.time_min,
            p.margin.time_body,
            p.margin.temp_c,
            p.margin.temp_body,
            s.min_time_margin_min,
            s.min_temp_margin_c,
            b.margin.time_min,
            b.margin.temp_c
        ),
        format!(
            "throughput {:.1} cars/h (required at least {:.1}); the conveyor carries a car every pitch at that speed",
            p.eval.throughput_per_h, s.min_throughput_per_h
        ),
        format!(
            "searched: conveyor {:.2}–{:.2} m/min in {} m/min steps, oven setpoint {:.1}–{:.1} °C in {} °C steps \
             ({} settings evaluated)",
            s.speeds.0, s.speeds.1, s.speeds.2, s.setpoints.0, s.setpoints.1, s.setpoints.2, s.evaluated
        ),
    ];
    all.extend(assumptions);
    Recommendation {
        id: c.id.clone(),
        rank: 0,
        domain: Domain::Paint,
        kind: c.lever.kind().to_string(),
        target: target.to_string(),
        explanation,
        sibling,
        effect: Effect {
            metric: "kwh_per_car".into(),
            unit: "kWh/car".into(),
            baseline: Some(b.eval.kwh_per_car),
            value: p.eval.kwh_per_car,
            change,
            ci95: 0.0,
            percent: Some(percent),
            replications: 0,
        },
        writes,
        state: State::Proposed,
        assumptions: all,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy oven: one body with τ = 10 min in a 100 m oven; energy grows with the setpoint and falls with
    /// the speed (fixed loads spread over more cars).
    fn toy(s: &Setting) -> Result<Evaluation, PrescriptiveError> {
        let (tau, t_in, cure, len) = (10.0, 20.0, 140.0, 100.0);
        let dwell = len / s.conveyor_m_min;
        let t = s.oven_setpoint_c;
        let peak = t - (t - t_in) * (-dwell / tau).exp();
        let at = if t > cure { (dwell - tau * ((t - t_in) / (t - cure)).ln()).max(0.0) } else { 0.0 };
        let tp = s.conveyor_m_min * 10.0;
        Ok(Evaluation {
            kwh_per_car: t * 0.1 + 100.0 / tp,
            throughput_per_h: tp,
            cure: vec![BodyCure { body: "b".into(), time_at_temp_min: at, peak_temp_c: peak }],
        })
    }

    const WINDOW: Window = Window { cure_temp_c: 140.0, cure_time_min: 10.0, max_temp_c: 180.0 };

    #[test]
    fn grid_holds_today_and_stays_in_range() {
        assert_eq!(grid(5.0, 4.0, 6.0, 0.5), [4.0, 4.5, 5.0, 5.5, 6.0]);
        assert_eq!(grid(165.0, 140.2, 166.0, 10.0), [145.0, 155.0, 165.0]);
    }

    #[test]
    fn cheapest_setting_inside_the_window_per_lever() {
        let today = Setting { conveyor_m_min: 4.0, oven_setpoint_c: 185.0 };
        let s = search("Shop", today, &WINDOW, &Options::default(), toy).unwrap();
        assert!(s.baseline.margin.inside(), "{:?}", s.baseline.margin);
        assert!(!s.candidates.is_empty(), "{:?}", s.rejected);
        for c in &s.candidates {
            let m = &c.point.margin;
            assert!(m.time_min >= 0.5 && m.temp_c >= 1.0, "{c:?}");
            assert!(c.point.eval.throughput_per_h >= s.baseline.eval.throughput_per_h);
            assert!(c.point.eval.kwh_per_car < s.baseline.eval.kwh_per_car, "{c:?}");
            // Nothing cheaper on the same lever is feasible: one setpoint step lower breaks the margin.
            if c.lever == Lever::OvenSetpoint {
                let lower = Setting { oven_setpoint_c: c.point.setting.oven_setpoint_c - 0.5, ..c.point.setting };
                let m = Margin::of(&toy(&lower).unwrap(), &WINDOW);
                assert!(m.time_min < 0.5, "{m:?}");
            }
            let r = recommendation(&s, c, "/Plant/Paint/Oven", None, Vec::new(), Vec::new());
            assert_eq!(r.domain, Domain::Paint);
            assert!(r.effect.change < 0.0 && r.effect.significant(), "{:?}", r.effect);
            assert_eq!((r.effect.ci95, r.effect.replications), (0.0, 0));
            assert!(r.explanation.contains("stays inside its cure window"), "{}", r.explanation);
            assert!(r.assumptions.iter().any(|a| a.starts_with("constraint margin: cure time")), "{r:?}");
        }
    }

    #[test]
    fn a_shop_outside_its_window_gets_the_cheapest_fix_and_nothing_infeasible() {
        // 120 °C never reaches the 140 °C cure temperature.
        let today = Setting { conveyor_m_min: 4.0, oven_setpoint_c: 120.0 };
        let opts = Options { setpoint_c: Some((100.0, 200.0)), ..Options::default() };
        let s = search("Shop", today, &WINDOW, &opts, toy).unwrap();
        assert!(!s.baseline.margin.inside());
        let c = s.candidates.iter().find(|c| c.lever == Lever::OvenSetpoint).expect("a setpoint fixes it");
        let r = recommendation(&s, c, "Shop", None, Vec::new(), Vec::new());
        assert!(r.effect.change > 0.0, "curing costs energy here");
        assert!(r.explanation.contains("short of its cure time"), "{}", r.explanation);
        // The speed alone cannot fix 120 °C: rejected with the reason, never proposed.
        let rej = s.rejected.iter().find(|x| x.id == "paint-conveyor-speed-shop").expect("speed rejected");
        assert!(rej.reason.contains("no conveyor speed setting"), "{}", rej.reason);
    }

    #[test]
    fn bad_options_are_named() {
        let today = Setting { conveyor_m_min: 4.0, oven_setpoint_c: 175.0 };
        let opts = Options { setpoint_step_c: 0.0, ..Options::default() };
        let e = search("Shop", today, &WINDOW, &opts, toy).unwrap_err();
        assert!(e.to_string().contains("paint setpoint step"), "{e}");
    }
}
