//! Recommendations from the BIW collision and reach study: for every robot program with unreachable weld
//! points, the base shift the study found that makes all of them reachable (or that none within the
//! searched box does). A base shift is a re-installation, not a signal: it has no write-back writes.

use crate::rec::{make_id, Domain, Effect, Recommendation, State};

/// One robot program's reach finding, as the study reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReachFinding {
    pub station: String,
    pub robot: String,
    /// The robot's prim path (the target of the recommendation).
    pub robot_prim: String,
    /// Weld points of the program checked.
    pub points: usize,
    /// Ids of the unreachable points.
    pub unreachable: Vec<String>,
    /// The farthest an unreachable point lies outside the reach, mm.
    pub worst_outside_mm: Option<f64>,
    /// The smallest base shift making every point reachable (world axes, mm), `None` when none was found.
    pub shift_mm: Option<[f64; 3]>,
    /// Half size of the searched box per axis, mm.
    pub search_half_mm: f64,
    /// The study's grid resolution, mm.
    pub resolution_mm: f64,
}

/// One recommendation per finding with unreachable points. Found shifts make every point of the program
/// reachable (effect: reachable points, deterministic); where none was found the recommendation says so,
/// with no effect claimed (change 0) and the re-teach left to the planner.
pub fn base_shift_recommendations(findings: &[ReachFinding]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for f in findings.iter().filter(|f| !f.unreachable.is_empty()) {
        let n = f.unreachable.len();
        let reachable = f.points.saturating_sub(n);
        let worst = f.worst_outside_mm.map_or(String::new(), |w| format!("; the farthest {w:.1} mm outside its reach"));
        let (kind, explanation, value, assumptions) = match f.shift_mm {
            Some([x, y, z]) => {
                let norm = (x * x + y * y + z * z).sqrt();
                (
                    "base_shift",
                    format!(
                        "Move {}'s base at {} by ({x:.1}, {y:.1}, {z:.1}) mm ({norm:.1} mm): its {n} unreachable \
                         weld point(s) ({}{worst}) then all lie within reach.",
                        f.robot,
                        f.station,
                        f.unreachable.join(", ")
                    ),
                    f.points,
                    vec![
                        format!("the shift is the smallest on the study's {:.1} mm grid", f.resolution_mm),
                        "clearance to the body and fixtures after the shift is not re-checked here: run the \
                         collision study on the sibling before approving"
                            .to_string(),
                    ],
                )
            }
            None => (
                "reteach",
                format!(
                    "No base shift within ±{:.0} mm makes {}'s {n} unreachable weld point(s) at {} ({}{worst}) \
                     reachable: re-teach the path or move the fixture.",
                    f.search_half_mm,
                    f.robot,
                    f.station,
                    f.unreachable.join(", ")
                ),
                reachable,
                vec!["the study found no fix; no effect is claimed".to_string()],
            ),
        };
        out.push(Recommendation {
            id: make_id(&["biw", kind, &f.station, &f.robot]),
            rank: 0,
            domain: Domain::Biw,
            kind: kind.into(),
            target: f.robot_prim.clone(),
            explanation,
            sibling: None,
            effect: Effect {
                metric: "reachable_points".into(),
                unit: "points".into(),
                baseline: Some(reachable as f64),
                value: value as f64,
                change: value as f64 - reachable as f64,
                ci95: 0.0,
                percent: None,
                replications: 0,
            },
            writes: Vec::new(),
            state: State::Proposed,
            assumptions,
        });
    }
    out
}
