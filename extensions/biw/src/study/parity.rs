//! Parity checks between the kernel and the Rust CPU path: per query (verdicts equal, distances and
//! closest points within a tolerance) and per study report (the same events and summaries). Tests use them
//! on the host-compiled kernel, the GPU benchmark on the GPU's results.

use rayon::prelude::*;

use super::KernelResult;
use crate::distance::{mesh_distance, Collider, Distance, Query};
use crate::math::Iso3;
use crate::study::{Event, StudyReport};

/// How kernel results agree with the Rust path on the same queries.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Parity {
    pub queries: usize,
    /// Results equal to the Rust ones bit for bit.
    pub bit_identical: usize,
    /// Queries the kernel flagged for recomputation on the CPU (not compared).
    pub overflowed: usize,
    /// Largest difference of a distance or closest point (m).
    pub max_diff: f64,
}

/// The study's inside verdict in Rust: not intersecting, and the first vertex of one mesh is inside the other.
fn rust_inside(q: &Query<'_>, d: &Distance) -> bool {
    let inside = |x: &Collider, px: &Iso3, y: &Collider, py: &Iso3| {
        y.mesh.vertices.first().is_some_and(|&v| x.contains_local(px.apply_inv(py.apply(v))))
    };
    !d.intersect && (inside(q.b, &q.pose_b, q.a, &q.pose_a) || inside(q.a, &q.pose_a, q.b, &q.pose_b))
}

/// Compares `kernel` with the Rust path on `queries` (on all threads). `Err` names the first query whose
/// verdicts (found, intersect, inside) differ or whose distance or closest points differ by more than `tol`.
pub fn check_parity(queries: &[Query<'_>], kernel: &[KernelResult], tol: f64) -> Result<Parity, String> {
    if queries.len() != kernel.len() {
        return Err(format!("{} queries but {} kernel results", queries.len(), kernel.len()));
    }
    let per_query: Vec<Result<Parity, String>> = queries
        .par_iter()
        .zip(kernel.par_iter())
        .enumerate()
        .with_min_len(4)
        .map(|(i, (q, k))| {
            let one = Parity { queries: 1, ..Parity::default() };
            if k.overflow {
                return Ok(Parity { overflowed: 1, ..one });
            }
            match (mesh_distance(q.a, &q.pose_a, q.b, &q.pose_b), k.distance) {
                (None, None) => Ok(Parity { bit_identical: 1, ..one }),
                (Some(r), Some(g)) => {
                    let diffs = [
                        (r.distance - g.distance).abs(),
                        (r.point_a - g.point_a).norm(),
                        (r.point_b - g.point_b).norm(),
                    ];
                    let diff = diffs.into_iter().fold(0.0, f64::max);
                    // `all(<= tol)` also fails on NaN.
                    if r.intersect != g.intersect || rust_inside(q, &r) != k.inside || !diffs.iter().all(|d| *d <= tol)
                    {
                        return Err(format!("query {i}: rust {r:?} (inside {}), kernel {k:?}", rust_inside(q, &r)));
                    }
                    Ok(Parity { bit_identical: usize::from(r == g), max_diff: diff, ..one })
                }
                (r, _) => Err(format!("query {i}: rust {r:?}, kernel {k:?}")),
            }
        })
        .collect();
    per_query.into_iter().try_fold(Parity::default(), |acc, p| {
        let p = p?;
        Ok(Parity {
            queries: acc.queries + p.queries,
            bit_identical: acc.bit_identical + p.bit_identical,
            overflowed: acc.overflowed + p.overflowed,
            max_diff: acc.max_diff.max(p.max_diff),
        })
    })
}

/// Whether two study reports have the same verdicts: the same events (station, robot, link, other, region,
/// kind, start, end and worst times) and summaries (clashes, near misses, worst place), with clearances,
/// depths and points within `tol`. `Err` describes the first difference.
pub fn compare_reports(expected: &StudyReport, got: &StudyReport, tol: f64) -> Result<(), String> {
    if expected.events.len() != got.events.len() {
        return Err(format!(
            "{} events expected, {} found:\n{}\n---\n{}",
            expected.events.len(),
            got.events.len(),
            expected.describe().join("\n"),
            got.describe().join("\n")
        ));
    }
    let key = |e: &Event| {
        (
            e.station.clone(),
            e.robot.clone(),
            e.link.clone(),
            e.other.clone(),
            e.region.clone(),
            e.kind,
            e.start_time,
            e.end_time,
            e.worst_time,
        )
    };
    for (e, g) in expected.events.iter().zip(&got.events) {
        let close = (e.min_distance - g.min_distance).abs() <= tol
            && (e.max_depth - g.max_depth).abs() <= tol
            && (e.point - g.point).norm() <= tol;
        if key(e) != key(g) || !close {
            return Err(format!("event {e:?} expected, {g:?} found"));
        }
    }
    if expected.summaries.len() != got.summaries.len() {
        return Err(format!("{} summaries expected, {} found", expected.summaries.len(), got.summaries.len()));
    }
    for (e, g) in expected.summaries.iter().zip(&got.summaries) {
        let same = (&e.station, &e.robot, e.samples, e.clashes, e.near_misses, &e.worst)
            == (&g.station, &g.robot, g.samples, g.clashes, g.near_misses, &g.worst);
        let close = (e.max_depth - g.max_depth).abs() <= tol
            && (e.min_clearance == g.min_clearance || (e.min_clearance - g.min_clearance).abs() <= tol);
        if !same || !close {
            return Err(format!("summary {e:?} expected, {g:?} found"));
        }
    }
    Ok(())
}
