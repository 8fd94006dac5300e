//! Recommendations from the BIW collision and reach study: for every robot program with unreachable weld
//! points, the base shift the study found that makes all of them reachable (or that none within the
//! searched box does), with the residual clearance the study re-run from the shifted base found; and for
//! every program segment with clashes, the fix the search found (a re-taught approach of the segment's
//! weld, or a fixture shift) with its residual clearance, or that none was found. A base shift, a
//! re-teach and a fixture shift are planning actions, not signals: they have no write-back writes.

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
    /// The collision study re-run with the shifted base, when it was (`None`: not re-checked).
    pub residual: Option<ShiftResidual>,
}

/// What the collision study re-run from a shifted base found over the robot's whole program.
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftResidual {
    /// The robot's smallest clearance to the body, the fixtures and the other robots, mm (0 when it still
    /// clashes somewhere).
    pub clearance_mm: f64,
    /// The robot's clash episodes before and after the shift.
    pub clashes_before: usize,
    pub clashes_after: usize,
    /// Clash episodes the shift creates (ones the plant's study did not have), one phrase each.
    pub new_clashes: Vec<String>,
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
                let mut explanation = format!(
                    "Move {}'s base at {} by ({x:.1}, {y:.1}, {z:.1}) mm ({norm:.1} mm): its {n} unreachable weld \
                     point(s) ({}{worst}) then all lie within reach.",
                    f.robot,
                    f.station,
                    f.unreachable.join(", ")
                );
                let mut assumptions =
                    vec![format!("the shift is the smallest on the study's {:.1} mm grid", f.resolution_mm)];
                match &f.residual {
                    Some(r) => {
                        explanation.push_str(&format!(
                            " Re-studied from the shifted base, its smallest clearance to the body, the fixtures \
                             and the other robots over its whole program is {:.1} mm (residual clearance; {} clash \
                             episode(s), {} before).",
                            r.clearance_mm, r.clashes_after, r.clashes_before
                        ));
                        if !r.new_clashes.is_empty() {
                            explanation = format!(
                                "Do not apply as-is: the shift creates {} clash(es) the plant does not have ({}). {}",
                                r.new_clashes.len(),
                                r.new_clashes.join("; "),
                                explanation
                            );
                        }
                        assumptions.push(
                            "the residual clearance is the collision study re-run on the robot's program rebuilt from \
                             the shifted base, with the plant study's sampling (every 0.1 s); 0 mm means it still \
                             clashes somewhere in its program"
                                .to_string(),
                        );
                    }
                    None => assumptions.push(
                        "clearance to the body and fixtures after the shift is not re-checked here: run the \
                         collision study on the sibling before approving"
                            .to_string(),
                    ),
                }
                ("base_shift", explanation, f.points, assumptions)
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
            effect: Effect::exact("reachable_points", "points", reachable as f64, value as f64),
            writes: Vec::new(),
            state: State::Proposed,
            assumptions,
        });
    }
    out
}

/// One clash episode of a segment, as the study reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClashEpisode {
    /// The robot's link (`Tool`, `Link4`, …).
    pub link: String,
    /// The obstacle (`Body/BPillarReinforcement`, `Fixture/Geom`) or the other robot.
    pub other: String,
    /// Penetration depth at the worst sample, mm.
    pub depth_mm: f64,
    /// Time of the worst sample, s.
    pub worst_s: f64,
}

/// The change a clash fix makes.
#[derive(Clone, Debug, PartialEq)]
pub enum ClashChange {
    /// Re-teach: the weld's approach axis tilted by `tilt_deg` to `approach` (world axes, unit vector).
    Reteach { weld: String, weld_prim: String, tilt_deg: f64, approach: [f64; 3] },
    /// The fixture (and everything below it) moved by `shift_mm` (world axes).
    FixtureShift { fixture_prim: String, shift_mm: [f64; 3] },
}

/// The fix found for a segment's clashes.
#[derive(Clone, Debug, PartialEq)]
pub struct ClashFix {
    pub change: ClashChange,
    /// The robot's smallest clearance over the segment after the change, mm (the residual clearance).
    pub clearance_mm: f64,
    /// That motion's time span, s.
    pub window_s: [f64; 2],
    /// The robot's smallest clearance over its whole program after the change, mm (0 when it still clashes
    /// elsewhere): what the study reports for it on the sibling.
    pub robot_clearance_mm: f64,
    /// The robot's clash episodes over its whole program after the change.
    pub clashes_after: usize,
    /// Clash episodes the change creates (ones the plant's study did not have), one phrase each.
    pub new_clashes: Vec<String>,
}

/// The clashes of one segment of a robot's weld program and the fix the study's search found.
#[derive(Clone, Debug, PartialEq)]
pub struct ClashFinding {
    pub station: String,
    pub robot: String,
    pub robot_prim: String,
    /// The weld the segment leaves (`None`: the home pose) and the one it goes to (`None`: the end).
    pub from: Option<String>,
    pub to: Option<String>,
    /// The segment's time span, s.
    pub start_s: f64,
    pub end_s: f64,
    pub clashes: Vec<ClashEpisode>,
    pub fix: Option<ClashFix>,
    /// Candidates re-studied.
    pub tried: usize,
    /// The largest approach tilt searched, degrees.
    pub max_tilt_deg: f64,
    /// The near-miss threshold of the study, mm.
    pub near_miss_mm: f64,
}

impl ClashFinding {
    /// `W001-W003`, `home-W001`, `W012-end`: the segment's part of the id.
    pub fn segment(&self) -> String {
        format!("{}-{}", self.from.as_deref().unwrap_or("home"), self.to.as_deref().unwrap_or("end"))
    }

    /// The segment in words.
    fn motion(&self) -> String {
        let span = format!(" (t={:.1}..{:.1} s)", self.start_s, self.end_s);
        let what = match (&self.from, &self.to) {
            (Some(a), Some(b)) => format!("the motion from weld point {a} to {b}"),
            (None, Some(b)) => format!("the motion from the home pose to weld point {b}"),
            (Some(a), None) => format!("the retract from weld point {a} at the end of its program"),
            (None, None) => "its program".to_string(),
        };
        format!("{what}{span}")
    }

    /// The deepest penetration of the segment, mm.
    pub fn depth_mm(&self) -> f64 {
        self.clashes.iter().map(|c| c.depth_mm).fold(0.0, f64::max)
    }
}

/// One recommendation per segment with clashes: kind `reteach` (a re-taught approach of the segment's
/// weld) or `fixture_shift`, effect `clearance_mm` from the deepest clash (negative: the penetration) to
/// the residual clearance the re-run study found; where no candidate cleared the clashes, kind `reteach`
/// with no effect claimed. Ids: `biw-<kind>-<station>-<robot>-<from>-<to>`.
pub fn clash_recommendations(findings: &[ClashFinding]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for f in findings {
        let depth = f.depth_mm();
        let episodes: Vec<String> = f
            .clashes
            .iter()
            .map(|c| format!("{} into {} {:.1} mm deep at t={:.1} s", c.link, c.other, c.depth_mm, c.worst_s))
            .collect();
        let what = format!(
            "{} at {} clashes in {} ({} episode(s): {}).",
            f.robot,
            f.station,
            f.motion(),
            f.clashes.len(),
            episodes.join("; ")
        );
        let mut assumptions = vec![format!(
            "the residual clearance is the collision study re-run on the changed motion with the plant study's \
             sampling (every 0.1 s); below {:.0} mm it is a near miss",
            f.near_miss_mm
        )];
        let (kind, target, explanation, value) = match &f.fix {
            Some(fix) => {
                let new = match fix.new_clashes.len() {
                    0 => "none new".to_string(),
                    n => format!("{n} new: {}", fix.new_clashes.join("; ")),
                };
                let whole = format!(
                    " Over the robot's whole program its smallest clearance is then {:.1} mm ({} clash episode(s) \
                     left, {new}).",
                    fix.robot_clearance_mm, fix.clashes_after
                );
                match &fix.change {
                    ClashChange::Reteach { weld, weld_prim, tilt_deg, approach: [x, y, z] } => {
                        assumptions.push(format!(
                            "the re-teach tilts {weld}'s approach axis; the gun welds at the tilted angle (the study \
                             checks reach and collisions, not the weld itself)"
                        ));
                        (
                            "reteach",
                            weld_prim.clone(),
                            format!(
                                "{what} Re-teach the segment: tilt weld point {weld}'s approach axis by {tilt_deg:.0}° \
                                 to ({x:.3}, {y:.3}, {z:.3}) (world); the re-run study finds a residual clearance of \
                                 {:.1} mm on the segment (t={:.1}..{:.1} s; was {:.1} mm deep).{whole}",
                                fix.clearance_mm, fix.window_s[0], fix.window_s[1], depth
                            ),
                            fix.clearance_mm,
                        )
                    }
                    ClashChange::FixtureShift { fixture_prim, shift_mm: [x, y, z] } => {
                        assumptions.push(
                            "the fixture moves with everything below it; the body and the weld points stay where \
                             they are"
                                .to_string(),
                        );
                        (
                            "fixture_shift",
                            fixture_prim.clone(),
                            format!(
                                "{what} No re-teach within {:.0}° of tilt clears it; move the fixture {fixture_prim} \
                                 by ({x:.1}, {y:.1}, {z:.1}) mm (world): the re-run study finds a residual clearance \
                                 of {:.1} mm on the segment (t={:.1}..{:.1} s; was {:.1} mm deep).{whole}",
                                f.max_tilt_deg, fix.clearance_mm, fix.window_s[0], fix.window_s[1], depth
                            ),
                            fix.clearance_mm,
                        )
                    }
                }
            }
            None => {
                assumptions.push("the search found no fix; no effect is claimed".to_string());
                (
                    "reteach",
                    f.robot_prim.clone(),
                    format!(
                        "{what} No fix found: none of {} candidates (the weld's approach tilted up to {:.0}°, or a \
                         fixture shift where the clash is with a fixture) clears it without a new clash; re-plan \
                         the path by hand.",
                        f.tried, f.max_tilt_deg
                    ),
                    -depth,
                )
            }
        };
        out.push(Recommendation {
            id: make_id(&["biw", kind, &f.station, &f.robot, &f.segment()]),
            rank: 0,
            domain: Domain::Biw,
            kind: kind.into(),
            target,
            explanation,
            sibling: None,
            effect: Effect::exact("clearance_mm", "mm", -depth, value),
            writes: Vec::new(),
            state: State::Proposed,
            assumptions,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(fix: Option<ClashFix>) -> ClashFinding {
        ClashFinding {
            station: "Station01".into(),
            robot: "R01".into(),
            robot_prim: "/Plant/BIW/Line/Station01/R01".into(),
            from: None,
            to: Some("W001".into()),
            start_s: 0.0,
            end_s: 1.6,
            clashes: vec![
                ClashEpisode {
                    link: "Tool".into(),
                    other: "Body/BPillarReinforcement".into(),
                    depth_mm: 40.0,
                    worst_s: 1.6,
                },
                ClashEpisode { link: "Link6".into(), other: "Body/Shell".into(), depth_mm: 12.5, worst_s: 1.5 },
            ],
            fix,
            tried: 24,
            max_tilt_deg: 30.0,
            near_miss_mm: 10.0,
        }
    }

    #[test]
    fn a_found_reteach_claims_its_residual_clearance() {
        let fix = ClashFix {
            change: ClashChange::Reteach {
                weld: "W001".into(),
                weld_prim: "/Plant/BIW/Line/Station01/Body/WeldPoints/W001".into(),
                tilt_deg: 20.0,
                approach: [0.0, 0.94, -0.34],
            },
            clearance_mm: 14.26,
            window_s: [0.0, 1.6],
            robot_clearance_mm: 0.0,
            clashes_after: 3,
            new_clashes: Vec::new(),
        };
        let r = clash_recommendations(&[finding(Some(fix))]);
        assert_eq!(r.len(), 1);
        let r = &r[0];
        assert_eq!(r.id, "biw-reteach-station01-r01-home-w001");
        assert_eq!(r.kind, "reteach");
        assert_eq!(r.target, "/Plant/BIW/Line/Station01/Body/WeldPoints/W001");
        assert_eq!((r.effect.baseline, r.effect.value), (Some(-40.0), 14.26));
        assert!((r.effect.change - 54.26).abs() < 1e-9, "{}", r.effect.change);
        assert_eq!((r.effect.ci95, r.effect.replications), (0.0, 0));
        assert!(r.effect.significant());
        assert!(r.explanation.contains("from the home pose to weld point W001 (t=0.0..1.6 s)"), "{}", r.explanation);
        assert!(r.explanation.contains("on the segment (t=0.0..1.6 s; was 40.0 mm deep)"), "{}", r.explanation);
        assert!(r.explanation.contains("residual clearance of 14.3 mm"), "{}", r.explanation);
        assert!(r.explanation.contains("Tool into Body/BPillarReinforcement 40.0 mm deep at t=1.6 s"));
        assert!(r.writes.is_empty());
    }

    #[test]
    fn no_fix_claims_nothing() {
        let r = &clash_recommendations(&[finding(None)])[0];
        assert_eq!(r.id, "biw-reteach-station01-r01-home-w001");
        assert_eq!(r.target, "/Plant/BIW/Line/Station01/R01");
        assert_eq!((r.effect.value, r.effect.change), (-40.0, 0.0));
        assert!(!r.effect.significant());
        assert!(r.explanation.contains("No fix found: none of 24 candidates"), "{}", r.explanation);
    }

    #[test]
    fn a_shift_that_creates_a_clash_is_flagged() {
        let mut f = ReachFinding {
            station: "Station01".into(),
            robot: "R01".into(),
            robot_prim: "/Plant/BIW/Line/Station01/R01".into(),
            points: 12,
            unreachable: vec!["W002".into()],
            worst_outside_mm: Some(62.0),
            shift_mm: Some([430.0, 232.0, 380.0]),
            search_half_mm: 500.0,
            resolution_mm: 1.0,
            residual: Some(ShiftResidual {
                clearance_mm: 0.0,
                clashes_before: 1,
                clashes_after: 2,
                new_clashes: vec!["Link3 into Fixture/Geom in W001-W002".into()],
            }),
        };
        let r = &base_shift_recommendations(std::slice::from_ref(&f))[0];
        assert_eq!(r.kind, "base_shift");
        assert!(r.explanation.starts_with("Do not apply as-is: the shift creates 1 clash(es)"), "{}", r.explanation);
        assert!(r.explanation.contains("whole program is 0.0 mm (residual clearance; 2 clash episode(s), 1 before)"));
        f.residual.as_mut().unwrap().new_clashes.clear();
        f.residual.as_mut().unwrap().clearance_mm = 23.46;
        let r = &base_shift_recommendations(&[f])[0];
        assert!(r.explanation.starts_with("Move R01's base"), "{}", r.explanation);
        assert!(r.explanation.contains("is 23.5 mm (residual clearance"), "{}", r.explanation);
        assert!(!r.assumptions.iter().any(|a| a.contains("not re-checked")));
    }
}
