//! Collision studies along robot trajectories: each robot's link geometry against the station's obstacles
//! (car body, fixtures) and the other robots' moving links. Per sample: exact minimum distance; a clash
//! when they intersect (with a penetration-depth estimate); a near miss when the clearance is below the
//! pair's threshold. Results are merged into episodes and summarised per robot per station.
//!
//! Everything is given as plain structs, so a caller (a USD stage reader, a test, a benchmark) only has
//! to fill in robots, trajectories, meshes and thresholds. [`run_study`] runs on the CPU;
//! [`run_study_on`] / [`run_study_with`] run the distance queries on another backend ([`backend`]: the
//! CUDA GPU, or the GPU kernel compiled for the host) with the same verdicts.

use crate::distance::{mesh_distance, penetration_depth, Collider, Distance};
use crate::kinematics::RobotModel;
use crate::math::{Iso3, Vec3};
use crate::mesh::TriMesh;
use crate::trajectory::Trajectory;
use rayon::prelude::*;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

pub mod backend;
mod batch;
pub mod kernel;
#[cfg(feature = "cuda")]
pub(crate) mod kernel_cuda;
mod parity;
pub use backend::{run_study_on, run_study_with, study_queries, StudyBackend};
pub use batch::{Batch, KernelResult};
pub use kernel::{host_distance_batch, run_host, KERNEL_FUNCTION, KERNEL_SOURCE};
#[cfg(feature = "cuda")]
pub use kernel_cuda::run_cuda;
pub use parity::{check_parity, compare_reports, Parity};

/// Geometry attached to a robot link. `link` 0 is the fixed base, 1..=6 move with joints 1..=6
/// (the tool is geometry on link 6).
#[derive(Clone, Debug)]
pub struct LinkGeometry {
    pub link: usize,
    pub name: String,
    pub collider: Arc<Collider>,
    /// Pose of the geometry in the link frame.
    pub offset: Iso3,
}

/// A robot of a station: its model, base pose in the world, link geometry and trajectory.
#[derive(Clone, Debug)]
pub struct StudyRobot {
    pub name: String,
    pub model: RobotModel,
    pub base: Iso3,
    pub links: Vec<LinkGeometry>,
    pub trajectory: Trajectory,
}

impl StudyRobot {
    /// Capsule geometry sized from the OPW lengths (for studies without CAD link meshes).
    pub fn default_links(model: &RobotModel) -> Vec<LinkGeometry> {
        let p = &model.params;
        let scale = p.c2 + p.c3;
        let r_arm = 0.06 * scale;
        let r_wrist = 0.045 * scale;
        let cap = |a: Vec3, b: Vec3, r: f64| Arc::new(Collider::new(TriMesh::capsule_between(a, b, r, 8, 16)));
        let shapes = [
            (0, "base", cap(Vec3::ZERO, Vec3::new(0.0, 0.0, p.c1 * 0.45), r_arm * 1.4)),
            (1, "turret", cap(Vec3::new(0.0, 0.0, p.c1 * 0.55), Vec3::new(p.a1, p.b, p.c1), r_arm * 1.1)),
            (2, "upper arm", cap(Vec3::ZERO, Vec3::new(0.0, 0.0, p.c2), r_arm)),
            (3, "elbow", cap(Vec3::ZERO, Vec3::new(p.a2, 0.0, 0.0), r_arm * 0.9)),
            (4, "forearm", cap(Vec3::new(0.0, 0.0, 0.15 * p.c3), Vec3::new(0.0, 0.0, 0.85 * p.c3), r_wrist)),
            (5, "wrist", cap(Vec3::new(0.0, 0.0, -0.02 * scale), Vec3::new(0.0, 0.0, 0.02 * scale), r_wrist * 0.8)),
            (6, "flange", cap(Vec3::new(0.0, 0.0, 0.04 * scale), Vec3::new(0.0, 0.0, p.c4), r_wrist * 0.6)),
        ];
        shapes
            .into_iter()
            .map(|(link, name, collider)| LinkGeometry {
                link,
                name: name.to_string(),
                collider,
                offset: Iso3::IDENTITY,
            })
            .collect()
    }

    /// World poses of each link geometry at joints `q`.
    pub fn link_poses(&self, q: &[f64; 6]) -> Vec<Iso3> {
        let frames = self.model.link_frames(q);
        self.links
            .iter()
            .map(|l| {
                let f = if l.link == 0 { Iso3::IDENTITY } else { frames[(l.link - 1).min(5)] };
                self.base.mul(&f).mul(&l.offset)
            })
            .collect()
    }
}

/// A named range of an obstacle's triangles (e.g. "B-pillar reinforcement").
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    pub name: String,
    pub triangles: Range<u32>,
}

/// A fixed obstacle: car body, fixture, ...
#[derive(Clone, Debug)]
pub struct Obstacle {
    pub name: String,
    pub collider: Arc<Collider>,
    pub pose: Iso3,
    pub regions: Vec<Region>,
}

impl Obstacle {
    /// The region holding triangle `tri`, or the obstacle's name.
    pub fn region_of(&self, tri: u32) -> &str {
        self.regions.iter().find(|r| r.triangles.contains(&tri)).map(|r| r.name.as_str()).unwrap_or(&self.name)
    }
}

/// A station: its robots and obstacles.
#[derive(Clone, Debug)]
pub struct Station {
    pub name: String,
    pub robots: Vec<StudyRobot>,
    pub obstacles: Vec<Obstacle>,
}

/// Near-miss thresholds (metres): a default and overrides per (robot, obstacle or other robot) pair.
#[derive(Clone, Debug, PartialEq)]
pub struct StudySettings {
    pub near_miss_default: f64,
    pub near_miss: HashMap<(String, String), f64>,
}

impl Default for StudySettings {
    fn default() -> Self {
        StudySettings { near_miss_default: 0.010, near_miss: HashMap::new() }
    }
}

impl StudySettings {
    /// Threshold for a robot against an obstacle or another robot (either order for robot pairs).
    pub fn threshold(&self, robot: &str, other: &str) -> f64 {
        self.near_miss
            .get(&(robot.to_string(), other.to_string()))
            .or_else(|| self.near_miss.get(&(other.to_string(), robot.to_string())))
            .copied()
            .unwrap_or(self.near_miss_default)
    }
}

/// Clash (intersection) or near miss (clearance below the threshold).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Clash,
    NearMiss,
}

/// One episode of consecutive samples with the same verdict for one link against one other thing.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Event {
    pub station: String,
    pub robot: String,
    pub link: String,
    /// Obstacle name, or `robot/link` for another robot.
    pub other: String,
    /// Region of the obstacle (or link of the other robot) at the worst sample.
    pub region: String,
    pub kind: EventKind,
    pub start_time: f64,
    pub end_time: f64,
    pub worst_time: f64,
    /// Smallest clearance over the episode (0 for clashes), metres.
    pub min_distance: f64,
    /// Largest penetration-depth estimate over the episode (clashes), metres.
    pub max_depth: f64,
    /// Where (world, metres) at the worst sample.
    pub point: Vec3,
}

/// Summary per robot per station.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RobotSummary {
    pub station: String,
    pub robot: String,
    pub samples: usize,
    pub clashes: usize,
    pub near_misses: usize,
    pub max_depth: f64,
    pub min_clearance: f64,
    /// "link vs other (region) at t=..." for the smallest clearance or deepest clash.
    pub worst: String,
}

/// Everything a study found.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct StudyReport {
    pub events: Vec<Event>,
    pub summaries: Vec<RobotSummary>,
}

impl StudyReport {
    /// One plain-language sentence per event, e.g.
    /// "station 14: R3 forearm penetrates body/B-pillar by 40.2 mm at t=3.10 s".
    pub fn describe(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| match e.kind {
                EventKind::Clash => format!(
                    "station {}: {} {} penetrates {} ({}) by {:.1} mm at t={:.2} s (t={:.2}..{:.2} s)",
                    e.station,
                    e.robot,
                    e.link,
                    e.other,
                    e.region,
                    e.max_depth * 1000.0,
                    e.worst_time,
                    e.start_time,
                    e.end_time
                ),
                EventKind::NearMiss => format!(
                    "station {}: {} {} passes {:.1} mm from {} ({}) at t={:.2} s (near miss, t={:.2}..{:.2} s)",
                    e.station,
                    e.robot,
                    e.link,
                    e.min_distance * 1000.0,
                    e.other,
                    e.region,
                    e.worst_time,
                    e.start_time,
                    e.end_time
                ),
            })
            .collect()
    }
}

/// What one (link, other) pair found at one sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    distance: f64,
    depth: f64,
    intersect: bool,
    point: Vec3,
    other_tri: u32,
}

/// A pair's hit from its distance and its inside verdict: a clash when the meshes intersect or one lies
/// inside the other, with the penetration depth computed on the CPU (only clashing pairs need it).
pub(crate) fn hit_of(
    d: &Distance,
    inside: bool,
    link: &Collider,
    link_pose: &Iso3,
    other: &Collider,
    other_pose: &Iso3,
) -> Hit {
    let intersect = d.intersect || inside;
    let depth = if intersect { penetration_depth(link, link_pose, other, other_pose) } else { 0.0 };
    Hit { distance: if intersect { 0.0 } else { d.distance }, depth, intersect, point: d.point_a, other_tri: d.tri_b }
}

/// A pair's hit on the CPU.
pub(crate) fn cpu_hit(link: &Collider, link_pose: &Iso3, other: &Collider, other_pose: &Iso3) -> Option<Hit> {
    let d = mesh_distance(link, link_pose, other, other_pose)?;
    // A link entirely inside a closed obstacle (or the reverse) is a clash too.
    let inside = |x: &Collider, px: &Iso3, y: &Collider, py: &Iso3| {
        y.mesh.vertices.first().is_some_and(|&v| x.contains_local(px.apply_inv(py.apply(v))))
    };
    let inside =
        !d.intersect && (inside(other, other_pose, link, link_pose) || inside(link, link_pose, other, other_pose));
    Some(hit_of(&d, inside, link, link_pose, other, other_pose))
}

#[derive(Clone, Copy, Debug)]
enum Other {
    Obstacle(usize),
    Robot(usize, usize),
}

#[derive(Clone, Copy, Debug)]
struct Pair {
    robot: usize,
    link: usize,
    other: Other,
    threshold: f64,
}

/// Runs the collision study on all stations on the CPU (all cores through rayon).
pub fn run_study(stations: &[Station], settings: &StudySettings) -> StudyReport {
    let plans: Vec<Plan> = stations.iter().map(|st| Plan::new(st, settings)).collect();
    let hits = plans.iter().map(Plan::cpu_hits).collect();
    report(&plans, hits)
}

/// A station's sample times, pairs and link poses: query `k` is pair `k % pairs` at time `k / pairs`.
pub(crate) struct Plan<'a> {
    st: &'a Station,
    times: Vec<f64>,
    pairs: Vec<Pair>,
    /// Per time, per robot, per link geometry (empty when the robot has no pose then).
    poses: Vec<Vec<Vec<Iso3>>>,
}

impl<'a> Plan<'a> {
    pub(crate) fn new(st: &'a Station, settings: &StudySettings) -> Plan<'a> {
        let mut times: Vec<f64> = st.robots.iter().flat_map(|r| r.trajectory.samples.iter().map(|s| s.time)).collect();
        times.sort_by(|a, b| a.total_cmp(b));
        times.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let mut pairs = Vec::new();
        for (ri, r) in st.robots.iter().enumerate() {
            for li in 0..r.links.len() {
                for (oi, o) in st.obstacles.iter().enumerate() {
                    pairs.push(Pair {
                        robot: ri,
                        link: li,
                        other: Other::Obstacle(oi),
                        threshold: settings.threshold(&r.name, &o.name),
                    });
                }
                for (rj, r2) in st.robots.iter().enumerate().skip(ri + 1) {
                    for lj in 0..r2.links.len() {
                        pairs.push(Pair {
                            robot: ri,
                            link: li,
                            other: Other::Robot(rj, lj),
                            threshold: settings.threshold(&r.name, &r2.name),
                        });
                    }
                }
            }
        }
        // Link poses of every robot at every time.
        let poses = times
            .par_iter()
            .map(|&t| {
                st.robots
                    .iter()
                    .map(|r| r.trajectory.joints_at(t).map(|q| r.link_poses(&q)).unwrap_or_default())
                    .collect()
            })
            .collect();
        Plan { st, times, pairs, poses }
    }

    /// Number of queries (times x pairs).
    pub(crate) fn len(&self) -> usize {
        self.times.len() * self.pairs.len()
    }

    /// Pairs per time: queries `k` and `k + pairs()` are the same pair at consecutive times.
    pub(crate) fn pairs(&self) -> usize {
        self.pairs.len()
    }

    /// Query `k`: the link and the other thing with their poses; `None` when a robot has no pose then.
    pub(crate) fn query(&self, k: usize) -> Option<(&'a Collider, Iso3, &'a Collider, Iso3)> {
        let (ti, pi) = (k / self.pairs.len(), k % self.pairs.len());
        let pair = &self.pairs[pi];
        let st = self.st;
        let link_pose = *self.poses[ti][pair.robot].get(pair.link)?;
        let link = &*st.robots[pair.robot].links[pair.link].collider;
        let (other, other_pose) = match pair.other {
            Other::Obstacle(oi) => (&*st.obstacles[oi].collider, st.obstacles[oi].pose),
            Other::Robot(rj, lj) => (&*st.robots[rj].links[lj].collider, *self.poses[ti][rj].get(lj)?),
        };
        Some((link, link_pose, other, other_pose))
    }

    pub(crate) fn cpu_hits(&self) -> Vec<Option<Hit>> {
        (0..self.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|k| {
                let (link, link_pose, other, other_pose) = self.query(k)?;
                cpu_hit(link, &link_pose, other, &other_pose)
            })
            .collect()
    }
}

/// The report of all stations from their hits (indexed like [`Plan::query`]).
pub(crate) fn report(plans: &[Plan], hits: Vec<Vec<Option<Hit>>>) -> StudyReport {
    let mut report = StudyReport::default();
    for (plan, hits) in plans.iter().zip(hits) {
        station_report(plan, &hits, &mut report);
    }
    report
}

fn station_report(plan: &Plan, hits: &[Option<Hit>], report: &mut StudyReport) {
    let (st, times, pairs) = (plan.st, &plan.times, &plan.pairs);
    let other_names = |pair: &Pair, tri: u32| -> (String, String) {
        match pair.other {
            Other::Obstacle(oi) => {
                let o = &st.obstacles[oi];
                (o.name.clone(), o.region_of(tri).to_string())
            }
            Other::Robot(rj, lj) => (st.robots[rj].name.clone(), st.robots[rj].links[lj].name.clone()),
        }
    };
    let mut events: Vec<Event> = Vec::new();
    // Per robot: (min clearance, where), (max depth, where).
    let mut worst: Vec<(f64, String, f64, String)> =
        vec![(f64::INFINITY, String::new(), 0.0, String::new()); st.robots.len()];
    for (pi, pair) in pairs.iter().enumerate() {
        let robot = &st.robots[pair.robot];
        let link_name = robot.links[pair.link].name.clone();
        let mut open: Option<Event> = None;
        for (ti, &t) in times.iter().enumerate() {
            let Some(h) = hits[ti * pairs.len() + pi] else {
                if let Some(e) = open.take() {
                    events.push(e);
                }
                continue;
            };
            let (other, region) = other_names(pair, h.other_tri);
            for who in [Some(pair.robot), if let Other::Robot(rj, _) = pair.other { Some(rj) } else { None }]
                .into_iter()
                .flatten()
            {
                let w = &mut worst[who];
                let place = format!("{} vs {} ({}) at t={:.2} s", link_name, other, region, t);
                if h.distance < w.0 {
                    w.0 = h.distance;
                    w.1 = place.clone();
                }
                if h.depth > w.2 {
                    w.2 = h.depth;
                    w.3 = place;
                }
            }
            let kind = if h.intersect {
                Some(EventKind::Clash)
            } else if h.distance < pair.threshold {
                Some(EventKind::NearMiss)
            } else {
                None
            };
            match (&mut open, kind) {
                (Some(e), Some(k)) if e.kind == k => {
                    e.end_time = t;
                    let better =
                        if k == EventKind::Clash { h.depth > e.max_depth } else { h.distance < e.min_distance };
                    if better {
                        e.worst_time = t;
                        e.min_distance = h.distance;
                        e.max_depth = h.depth;
                        e.point = h.point;
                        e.region = region;
                    }
                }
                (_, k) => {
                    if let Some(e) = open.take() {
                        events.push(e);
                    }
                    open = k.map(|k| Event {
                        station: st.name.clone(),
                        robot: robot.name.clone(),
                        link: link_name.clone(),
                        other,
                        region,
                        kind: k,
                        start_time: t,
                        end_time: t,
                        worst_time: t,
                        min_distance: h.distance,
                        max_depth: h.depth,
                        point: h.point,
                    });
                }
            }
        }
        if let Some(e) = open.take() {
            events.push(e);
        }
    }
    events.sort_by(|a, b| a.start_time.total_cmp(&b.start_time).then(a.robot.cmp(&b.robot)));
    for (ri, r) in st.robots.iter().enumerate() {
        let mine = events.iter().filter(|e| e.robot == r.name || e.other == r.name);
        let (clashes, near) =
            mine.fold((0, 0), |(c, n), e| if e.kind == EventKind::Clash { (c + 1, n) } else { (c, n + 1) });
        let w = &worst[ri];
        report.summaries.push(RobotSummary {
            station: st.name.clone(),
            robot: r.name.clone(),
            samples: r.trajectory.samples.len(),
            clashes,
            near_misses: near,
            max_depth: w.2,
            min_clearance: w.0,
            worst: if w.2 > 0.0 { w.3.clone() } else { w.1.clone() },
        });
    }
    report.events.extend(events);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_per_pair_in_either_order() {
        let mut s = StudySettings::default();
        s.near_miss.insert(("R1".into(), "body".into()), 0.025);
        s.near_miss.insert(("R1".into(), "R2".into()), 0.05);
        assert_eq!(s.threshold("R1", "body"), 0.025);
        assert_eq!(s.threshold("R2", "R1"), 0.05);
        assert_eq!(s.threshold("R2", "body"), 0.010);
    }

    #[test]
    fn regions_name_the_triangle_range() {
        let o = Obstacle {
            name: "body".into(),
            collider: Arc::new(Collider::new(TriMesh::cuboid(Vec3::new(1.0, 1.0, 1.0)))),
            pose: Iso3::IDENTITY,
            regions: vec![Region { name: "roof".into(), triangles: 2..4 }],
        };
        assert_eq!(o.region_of(3), "roof");
        assert_eq!(o.region_of(5), "body");
    }
}
