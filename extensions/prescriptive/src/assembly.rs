//! Assembly-line candidates and their recommendations. The program describes the line as the simulation of
//! the plant saw it ([`LineView`]: stations in order with mean cycle times, shares blocked and starved, the
//! link after each, and the bottleneck); [`candidates`] proposes changes around the bottleneck; the program
//! simulates each as a sibling with the plant's seeds and hands the paired throughputs to
//! [`recommendation`], which explains the change and lists the writes it needs.
//!
//! Candidates (each one change, so its effect is its own):
//! - **buffer before / after the bottleneck**: one more place in the link feeding it (it starves less) or
//!   taking its output (it is blocked less); on a stage only where a buffer or conveyor prim lies between
//!   the two stations (the sibling layer changes its `twinloom:capacity`);
//! - **extra operator at the bottleneck**: its cycle time times `operator_factor` (default 0.6: two people
//!   rarely halve a station's time; the factor is stated in the recommendation's assumptions);
//! - **rebalance**: the stations' loads from the exact SALBP-2 balance of the line's tasks over the same
//!   number of stations, when the program has the task times and precedences;
//! - **takt change** ([`takt_candidate`]): on a line fed by an arrivals source (the takt sets its output),
//!   the takt that loads the bottleneck to [`TARGET_LOAD`]: faster where the bottleneck has room, slower
//!   where it cannot keep up (the queue in front of the line grows). A saturated line has no takt to change.

use serde::Serialize;

use crate::rec::{make_id, Domain, Effect, Recommendation, State, Write};
use crate::stats::Gain;

/// A station as the plant's simulation saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StationView {
    pub name: String,
    /// Its prim on the stage, when the line came from a stage.
    pub prim: Option<String>,
    /// Mean cycle time, seconds.
    pub mean_s: f64,
    pub utilisation: f64,
    pub blocked: f64,
    pub starved: f64,
    /// The buffer or conveyor after it, if any.
    pub link_after: Option<LinkView>,
}

/// The buffer or conveyor after a station.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LinkView {
    /// Its prim on the stage, when known.
    pub prim: Option<String>,
    pub capacity: usize,
}

/// The line as simulated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineView {
    /// Line name (its prim path for a stage).
    pub name: String,
    pub stations: Vec<StationView>,
    /// Index of the bottleneck station.
    pub bottleneck: usize,
}

/// A change to simulate.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Set the capacity of the link after station `after`.
    Buffer { after: usize, capacity: usize },
    /// Scale station `station`'s cycle times by `factor`.
    Operator { station: usize, factor: f64 },
    /// New mean loads per station (seconds), from a balance at `cycle_time`.
    Rebalance { loads: Vec<f64>, cycle_time: f64, optimal: bool },
    /// The arrivals source's mean interarrival time (the takt, seconds) from `from_s` to `takt_s`.
    Takt { from_s: f64, takt_s: f64, load: f64 },
}

/// The bottleneck's busy share a takt change aims at: room for its variability and failures.
pub const TARGET_LOAD: f64 = 0.9;

/// The takt change for a line fed at mean interarrival `takt_s` (an arrivals source): the takt at which the
/// bottleneck, busy `utilisation` of the time today, would be busy [`TARGET_LOAD`] (busy time scales with
/// the arrival rate while the line keeps up). `Err` says why none is proposed: a change under 2 %.
pub fn takt_candidate(line: &LineView, takt_s: f64) -> Result<Candidate, String> {
    let Some(bn) = line.stations.get(line.bottleneck) else { return Err("the line has no stations".into()) };
    if !(takt_s > 0.0 && takt_s.is_finite()) {
        return Err(format!("the arrivals' mean interarrival {takt_s} s is not a takt"));
    }
    let load = bn.utilisation;
    let new = (takt_s * load / TARGET_LOAD * 10.0).round() / 10.0;
    if (new - takt_s).abs() < 0.02 * takt_s {
        return Err(format!(
            "the takt of {takt_s:.1} s already loads the bottleneck {} to {:.0} % (target {:.0} %)",
            bn.name,
            load * 100.0,
            TARGET_LOAD * 100.0
        ));
    }
    let dir = if new < takt_s { "faster" } else { "slower" };
    Ok(Candidate {
        id: make_id(&["assembly", "takt", &line.name]),
        kind: "takt".into(),
        title: format!("change the takt of {} to {new:.1} s (from {takt_s:.1} s, {dir})", line.name),
        change: Change::Takt { from_s: takt_s, takt_s: new, load },
    })
}

/// A candidate: a stable id, a short title and the change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub change: Change,
}

/// What to propose.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Places added to a buffer.
    pub buffer_step: usize,
    /// Cycle-time factor of a station with an extra operator.
    pub operator_factor: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options { buffer_step: 1, operator_factor: 0.6 }
    }
}

/// Candidates around the bottleneck (and the rebalance when `rebalance` is given).
pub fn candidates(line: &LineView, options: &Options, rebalance: Option<Change>) -> Vec<Candidate> {
    let mut out = Vec::new();
    let b = line.bottleneck;
    let Some(bn) = line.stations.get(b) else { return out };
    let last = line.stations.len() - 1;
    let cap = |i: usize| line.stations[i].link_after.as_ref().map_or(0, |l| l.capacity);
    // On a stage a buffer candidate changes a buffer or conveyor prim; without one between the two
    // stations its sibling layer could not hold the change, so none is proposed.
    let changeable = |i: usize| {
        let st = &line.stations[i];
        st.prim.is_none() || st.link_after.as_ref().is_some_and(|l| l.prim.is_some())
    };
    if b > 0 && changeable(b - 1) {
        let up = &line.stations[b - 1];
        out.push(Candidate {
            id: make_id(&["assembly", "buffer", &up.name, &bn.name]),
            kind: "buffer".into(),
            title: format!("one more place in the buffer between {} and {}", up.name, bn.name),
            change: Change::Buffer { after: b - 1, capacity: cap(b - 1) + options.buffer_step },
        });
    }
    if b < last && changeable(b) {
        let down = &line.stations[b + 1];
        out.push(Candidate {
            id: make_id(&["assembly", "buffer", &bn.name, &down.name]),
            kind: "buffer".into(),
            title: format!("one more place in the buffer between {} and {}", bn.name, down.name),
            change: Change::Buffer { after: b, capacity: cap(b) + options.buffer_step },
        });
    }
    out.push(Candidate {
        id: make_id(&["assembly", "operator", &bn.name]),
        kind: "operator".into(),
        title: format!("an extra operator at {}", bn.name),
        change: Change::Operator { station: b, factor: options.operator_factor },
    });
    if let Some(r @ Change::Rebalance { .. }) = rebalance {
        out.push(Candidate {
            id: make_id(&["assembly", "rebalance", &line.name]),
            kind: "rebalance".into(),
            title: format!("rebalance the tasks of {} over its {} stations", line.name, line.stations.len()),
            change: r,
        });
    }
    out
}

/// The recommendation for a simulated candidate: `gain` is the paired throughput gain (jobs/h) of its
/// sibling, `sibling` the sibling layer's path as the stage's folder resolves it.
pub fn recommendation(line: &LineView, c: &Candidate, gain: &Gain, sibling: Option<String>) -> Recommendation {
    let bn = &line.stations[line.bottleneck.min(line.stations.len() - 1)];
    let effect = Effect::simulated("throughput_per_h", "jobs/h", gain);
    let verdict = if effect.significant() {
        format!(
            "the sibling gains {:+.2} ± {:.2} jobs/h ({:+.1} %) over {} paired replications",
            gain.mean, gain.ci95, gain.percent, gain.replications
        )
    } else if gain.mean + gain.ci95 < 0.0 {
        format!(
            "the sibling loses {:.2} ± {:.2} jobs/h ({:+.1} %) over {} paired replications: do not apply",
            -gain.mean, gain.ci95, gain.percent, gain.replications
        )
    } else {
        format!(
            "the sibling's gain {:+.2} ± {:.2} jobs/h over {} paired replications is not distinguishable from none",
            gain.mean, gain.ci95, gain.replications
        )
    };
    let why = format!(
        "{} is the bottleneck ({:.0} % busy, {:.0} % blocked, {:.0} % starved)",
        bn.name,
        bn.utilisation * 100.0,
        bn.blocked * 100.0,
        bn.starved * 100.0
    );
    let mut writes = Vec::new();
    let mut assumptions = Vec::new();
    let target;
    match &c.change {
        Change::Buffer { after, capacity } => {
            let st = &line.stations[*after];
            let link = st.link_after.as_ref();
            let current = link.map_or(0, |l| l.capacity);
            target = link.and_then(|l| l.prim.clone()).unwrap_or_else(|| format!("{} (link after)", st.name));
            match link.and_then(|l| l.prim.as_ref()) {
                Some(p) => writes.push(Write {
                    prim: p.clone(),
                    attribute: "twinloom:capacity".into(),
                    value: (*capacity).into(),
                    current: Some(current.into()),
                }),
                None => assumptions
                    .push(format!("there is no buffer prim after {} to write: the link is added physically", st.name)),
            }
        }
        Change::Operator { station, factor } => {
            let st = &line.stations[*station];
            target = st.prim.clone().unwrap_or_else(|| st.name.clone());
            assumptions.push(format!(
                "a second operator brings {}'s cycle time to {:.0} % of today's ({:.1} s → {:.1} s)",
                st.name,
                factor * 100.0,
                st.mean_s,
                st.mean_s * factor
            ));
            assumptions.push("staffing is not a plant write: apply is a planning action".into());
        }
        Change::Rebalance { loads, cycle_time, optimal } => {
            target = line.name.clone();
            assumptions.push(format!(
                "the balance's cycle time is {cycle_time:.0} s ({}); each station keeps its variability and failures",
                if *optimal { "proven optimal" } else { "best found, not proven optimal" }
            ));
            let old: Vec<String> = line.stations.iter().map(|s| format!("{:.0}", s.mean_s)).collect();
            let new: Vec<String> = loads.iter().map(|l| format!("{l:.0}")).collect();
            assumptions.push(format!("station loads {} s become {} s", old.join("/"), new.join("/")));
            assumptions.push("task assignment lives in the MES, not the stage: apply is a planning action".into());
        }
        Change::Takt { from_s, takt_s, load } => {
            target = line.name.clone();
            assumptions.push(format!(
                "the arrivals keep their distribution's shape; their mean interarrival (the takt) goes from \
                 {from_s:.1} s to {takt_s:.1} s, which would load the bottleneck {} from {:.0} % to about {:.0} %",
                bn.name,
                load * 100.0,
                TARGET_LOAD * 100.0
            ));
            assumptions.push(
                "the takt is the release rate of the upstream shop or the MES: apply is a planning action".into(),
            );
        }
    }
    Recommendation {
        id: c.id.clone(),
        rank: 0,
        domain: Domain::Assembly,
        kind: c.kind.clone(),
        target,
        explanation: format!("Add {}: {why}; {verdict}.", c.title)
            .replace("Add rebalance", "Rebalance")
            .replace("Add change", "Change"),
        sibling,
        effect,
        writes,
        state: State::Proposed,
        assumptions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> LineView {
        let st = |n: &str, mean: f64, cap: usize| StationView {
            name: n.into(),
            prim: Some(format!("/Plant/L/{n}")),
            mean_s: mean,
            utilisation: 0.9,
            blocked: 0.02,
            starved: 0.05,
            link_after: Some(LinkView { prim: Some(format!("/Plant/L/B{n}")), capacity: cap }),
        };
        LineView {
            name: "/Plant/L".into(),
            stations: vec![st("S1", 50.0, 1), st("S2", 55.0, 2), st("S3", 48.0, 0)],
            bottleneck: 1,
        }
    }

    #[test]
    fn takt_loads_the_bottleneck_to_the_target() {
        // The bottleneck S2 is busy 90 % (the test line): a takt of 60 s is already right.
        assert!(takt_candidate(&line(), 60.0).unwrap_err().contains("already loads"));
        let mut l = line();
        l.stations[1].utilisation = 0.6;
        let c = takt_candidate(&l, 75.0).unwrap();
        assert_eq!(c.id, "assembly-takt-plant-l");
        assert_eq!(c.change, Change::Takt { from_s: 75.0, takt_s: 50.0, load: 0.6 });
        assert!(c.title.contains("faster"), "{}", c.title);
        l.stations[1].utilisation = 0.99;
        let slow = takt_candidate(&l, 50.0).unwrap();
        assert!(matches!(slow.change, Change::Takt { takt_s, .. } if takt_s == 55.0), "{slow:?}");
        let g = Gain { baseline: 60.0, sibling: 62.0, mean: 2.0, ci95: 0.5, percent: 3.33, replications: 10 };
        let r = recommendation(&l, &slow, &g, None);
        assert!(r.explanation.starts_with("Change the takt of /Plant/L to 55.0 s"), "{}", r.explanation);
        assert!(r.writes.is_empty());
    }

    #[test]
    fn buffers_around_and_operator_at_the_bottleneck() {
        let c = candidates(&line(), &Options::default(), None);
        let ids: Vec<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["assembly-buffer-s1-s2", "assembly-buffer-s2-s3", "assembly-operator-s2"]);
        assert_eq!(c[0].change, Change::Buffer { after: 0, capacity: 2 });
        assert_eq!(c[1].change, Change::Buffer { after: 1, capacity: 3 });
        let g = Gain { baseline: 60.0, sibling: 62.0, mean: 2.0, ci95: 0.5, percent: 3.33, replications: 10 };
        let r = recommendation(&line(), &c[0], &g, None);
        assert_eq!(r.writes[0].prim, "/Plant/L/BS1");
        assert_eq!(r.writes[0].value, serde_json::json!(2));
        assert_eq!(r.writes[0].command(&r.id)["target"], "/Plant/L/BS1.twinloom:capacity");
        assert!(r.explanation.contains("+2.00 ± 0.50 jobs/h"), "{}", r.explanation);
    }
}
