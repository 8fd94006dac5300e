//! A procedural car body-in-white: a lofted sheet-metal shell with door, window, engine-bay, trunk and
//! wheel-arch openings, thickened into one closed (watertight, edge-manifold) triangle mesh, and the
//! spot-weld points along the flanges of its openings.
//!
//! The outer skin is a loft of rounded-rectangle (superellipse) cross-sections along the car (+X from
//! the front, +Y left, +Z up); the roof line rises over the windshield and falls over the rear window,
//! the greenhouse leans in (tumblehome). The skin is a grid of cells (`along` × `around`); a cell is
//! metal or an opening. Every metal cell becomes an outer and an inner quad (the sheet is `thickness`
//! thick) and every border between metal and an opening (or the open front and rear ends) a rim quad,
//! so the result is closed by construction. What stays between the openings reads as a BIW: A-, B- and
//! C-pillars, sills under the doors, roof rails over them, cowl, roof and floor pan.

use crate::mesh::TriMesh;

/// Overall length of the body (m), front at x = 0.
pub const LENGTH: f32 = 4.6;
/// Half of the overall width (m).
pub const HALF_WIDTH: f32 = 0.9;
/// Sheet thickness of the shell (m): thicker than real steel so it reads at plant scale.
pub const THICKNESS: f32 = 0.012;

/// How fine the shell is and whether it has openings (a BIW) or not (a painted, closed body).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyOptions {
    /// Cells along the car.
    pub along: usize,
    /// Cells around the cross-section.
    pub around: usize,
    /// Cut the door, window, engine-bay, trunk and wheel-arch openings.
    pub openings: bool,
}

impl BodyOptions {
    /// The body-in-white of the BIW stations: 70,000-odd triangles.
    pub const BIW: BodyOptions = BodyOptions { along: 184, around: 120, openings: true };
    /// A coarse closed body for the assembly stations.
    pub const PAINTED: BodyOptions = BodyOptions { along: 40, around: 32, openings: false };
}

/// A spot-weld point on the outer skin: where, and the outward surface normal there (the electrode
/// approaches along its negative).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeldPoint {
    pub position: [f32; 3],
    pub normal: [f32; 3],
}

/// The body mesh and the candidate weld points along its flanges.
#[derive(Debug, Clone)]
pub struct Body {
    pub mesh: TriMesh,
    pub welds: Vec<WeldPoint>,
}

fn lerp_table(table: &[(f32, f32)], x: f32) -> f32 {
    let last = table.len() - 1;
    if x <= table[0].0 {
        return table[0].1;
    }
    for w in table.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    table[last].1
}

/// Roof line: top of the cross-section along the car (hood, windshield, roof, rear window, trunk).
pub fn top_z(x: f32) -> f32 {
    lerp_table(&[(0.0, 0.72), (0.35, 0.86), (1.25, 0.97), (1.95, 1.42), (3.25, 1.44), (3.95, 1.06), (4.6, 0.96)], x)
}

fn bottom_z(x: f32) -> f32 {
    lerp_table(&[(0.0, 0.36), (0.55, 0.25), (4.05, 0.25), (4.6, 0.4)], x)
}

const BELT_Z: f32 = 0.97;

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A point of the outer skin: `x` along the car, `theta` around the cross-section (0 = +Y side,
/// counter-clockwise seen from the front, so pi/2 is the roof).
fn skin(x: f32, theta: f32) -> [f32; 3] {
    let (top, bottom) = (top_z(x), bottom_z(x));
    let s = (2.0 * x / LENGTH - 1.0).abs();
    let half_width = HALF_WIDTH * (1.0 - 0.12 * s.powi(6));
    let superellipse = |c: f32| c.signum() * c.abs().powf(2.0 / 8.0);
    let (sin, cos) = theta.sin_cos();
    let z = 0.5 * (top + bottom) + 0.5 * (top - bottom) * superellipse(sin);
    let tumblehome = 1.0 - 0.2 * smoothstep(BELT_Z, BELT_Z + 0.45, z) * smoothstep(BELT_Z + 0.05, BELT_Z + 0.3, top);
    [x, half_width * tumblehome * superellipse(cos), z]
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn normalized(v: [f32; 3]) -> [f32; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
    [v[0] / n, v[1] / n, v[2] / n]
}

/// Outward unit normal of the skin at (x, theta), from central differences.
fn skin_normal(x: f32, theta: f32) -> [f32; 3] {
    let (dx, dt) = (1e-3, 1e-3);
    let along = sub(skin(x + dx, theta), skin(x - dx, theta));
    let around = sub(skin(x, theta + dt), skin(x, theta - dt));
    normalized(cross(around, along))
}

/// The point of the outer skin at `x` along the car and `theta` around it (0 = +Y side, pi/2 = roof,
/// pi = -Y side), with its outward normal: where a weld point on the skin goes.
pub fn skin_point(x: f32, theta: f32) -> WeldPoint {
    WeldPoint { position: skin(x, theta), normal: skin_normal(x, theta) }
}

/// Whether the skin cell centred at (x, theta) is cut away.
fn is_opening(x: f32, theta: f32) -> bool {
    let p = skin(x, theta);
    let z = p[2];
    // The cross-section's own normal, without the slope along the car: tells side, roof and floor apart.
    let n = normalized(cross(sub(skin(x, theta + 1e-3), skin(x, theta - 1e-3)), [1.0, 0.0, 0.0]));
    let side = n[1].abs() > 0.8;
    let top = n[2] > 0.85;
    let lift = (z - BELT_Z).max(0.0);
    let windshield = top && (1.34..1.9).contains(&x);
    let rear_window = top && (3.32..3.88).contains(&x);
    let engine_bay = top && (0.28..1.1).contains(&x);
    let trunk = top && (4.04..4.44).contains(&x);
    let front_door = side && z > 0.5 && x > 1.62 + 0.8 * lift && x < 2.6;
    let rear_door = side && z > 0.5 && x > 2.74 && x < 3.4 - 0.9 * lift;
    let arch = |xw: f32| n[1].abs() > 0.3 && (x - xw).powi(2) + (z - 0.3).powi(2) < 0.37 * 0.37;
    windshield || rear_window || engine_bay || trunk || front_door || rear_door || arch(0.85) || arch(3.88)
}

/// Which cells are metal: `metal[i][j]`, `i` along (not periodic), `j` around (periodic). Removes the
/// diagonal-only contacts (2×2 checkerboards) that would make the thickened shell non-manifold.
fn metal_cells(opt: &BodyOptions) -> Vec<Vec<bool>> {
    let (na, nr) = (opt.along, opt.around);
    let mut metal: Vec<Vec<bool>> = (0..na)
        .map(|i| {
            let x = LENGTH * (i as f32 + 0.5) / na as f32;
            (0..nr)
                .map(|j| !opt.openings || !is_opening(x, std::f32::consts::TAU * (j as f32 + 0.5) / nr as f32))
                .collect()
        })
        .collect();
    let mut changed = true;
    while changed {
        changed = false;
        for i in 0..na.saturating_sub(1) {
            for j in 0..nr {
                let k = (j + 1) % nr;
                let (a, b, c, d) = (metal[i][j], metal[i + 1][k], metal[i + 1][j], metal[i][k]);
                if a == b && c == d && a != c {
                    // Fill both openings of the checkerboard.
                    metal[i][j] = true;
                    metal[i + 1][k] = true;
                    metal[i + 1][j] = true;
                    metal[i][k] = true;
                    changed = true;
                }
            }
        }
    }
    metal
}

/// Builds the body.
pub fn body(opt: &BodyOptions) -> Body {
    let (na, nr) = (opt.along.max(2), opt.around.max(4));
    let opt = BodyOptions { along: na, around: nr, ..*opt };
    let metal = metal_cells(&opt);
    let grid =
        |i: usize, j: usize| (LENGTH * i as f32 / na as f32, std::f32::consts::TAU * (j % nr) as f32 / nr as f32);
    // Vertex ids, made on first use so unused grid corners leave no points: outer and inner sheet.
    let mut ids: Vec<[Option<u32>; 2]> = vec![[None, None]; (na + 1) * nr];
    let mut mesh = TriMesh::default();
    let mut vertex = |mesh: &mut TriMesh, i: usize, j: usize, inner: usize| -> u32 {
        let slot = &mut ids[i * nr + j % nr][inner];
        *slot.get_or_insert_with(|| {
            let (x, t) = grid(i, j);
            let p = skin(x, t);
            let q = if inner == 1 {
                let n = skin_normal(x.clamp(1e-3, LENGTH - 1e-3), t);
                [p[0] - THICKNESS * n[0], p[1] - THICKNESS * n[1], p[2] - THICKNESS * n[2]]
            } else {
                p
            };
            mesh.points.push(q);
            (mesh.points.len() - 1) as u32
        })
    };
    let is_metal = |i: isize, j: usize| i >= 0 && (i as usize) < na && metal[i as usize][j % nr];
    let mut welds = Vec::new();
    for (i, row) in metal.iter().enumerate() {
        for (j, &is_cell_metal) in row.iter().enumerate() {
            if !is_cell_metal {
                continue;
            }
            // Corners counter-clockwise seen from outside: (i,j) (i,j+1) (i+1,j+1) (i+1,j).
            let corners = [(i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j)];
            let o = corners.map(|(a, b)| vertex(&mut mesh, a, b, 0));
            let n = corners.map(|(a, b)| vertex(&mut mesh, a, b, 1));
            mesh.quad(o[0], o[1], o[2], o[3]);
            mesh.quad(n[0], n[3], n[2], n[1]);
            // Neighbours across each outer edge o[k] -> o[k+1]: -x side is (i, j)-(i, j+1) etc.
            let across = [(i as isize - 1, j), (i as isize, j + 1), (i as isize + 1, j), (i as isize, j + nr - 1)];
            let mut border = false;
            for (k, &(ni, nj)) in across.iter().enumerate() {
                if !is_metal(ni, nj) {
                    let (a, b) = (k, (k + 1) % 4);
                    mesh.quad(o[b], o[a], n[a], n[b]);
                    border |= ni >= 0 && (ni as usize) < na;
                }
            }
            if border && opt.openings {
                let (x, t) =
                    (LENGTH * (i as f32 + 0.5) / na as f32, std::f32::consts::TAU * (j as f32 + 0.5) / nr as f32);
                welds.push(WeldPoint { position: skin(x, t), normal: skin_normal(x, t) });
            }
        }
    }
    Body { mesh, welds }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biw_body_is_closed_and_large_enough() {
        let b = body(&BodyOptions::BIW);
        assert!(b.mesh.triangles.len() >= 50_000, "{}", b.mesh.triangles.len());
        assert!(b.mesh.is_closed(), "the BIW shell is watertight and edge-manifold");
        // A closed shell of sheet metal: its volume is about area × thickness, far below the box's.
        let v = b.mesh.volume();
        assert!(v > 0.05 && v < 0.5, "shell volume {v}");
        let [lo, hi] = b.mesh.extent().unwrap();
        assert!((hi[0] - LENGTH).abs() < 1e-4 && lo[0].abs() < 1e-4);
        assert!((hi[1] - HALF_WIDTH).abs() < 0.02 && (lo[1] + HALF_WIDTH).abs() < 0.02);
        assert!((hi[2] - 1.44).abs() < 0.01, "roof height {}", hi[2]);
    }

    #[test]
    fn openings_leave_pillars_sills_and_roof_rails() {
        let opt = BodyOptions::BIW;
        let metal = metal_cells(&opt);
        let cell = |x: f32, theta_deg: f32| {
            let i = ((x / LENGTH) * opt.along as f32) as usize;
            let j = ((theta_deg.rem_euclid(360.0) / 360.0) * opt.around as f32) as usize;
            metal[i][j]
        };
        // Left side (theta ~ 0): front door and rear door open at mid height, B-pillar between them.
        assert!(!cell(2.1, 0.0) && !cell(3.0, 0.0));
        assert!(cell(2.67, 0.0), "B-pillar");
        // Sill: low on the side under the doors.
        assert!(cell(2.1, -60.0) && cell(3.0, -60.0), "sill");
        // Roof closed, windshield open, roof rail between roof and door opening.
        assert!(cell(2.6, 90.0) && !cell(1.6, 90.0));
        assert!(cell(2.1, 40.0), "roof rail");
        // Floor pan closed.
        assert!(cell(2.1, 270.0));
    }

    #[test]
    fn painted_body_is_closed_without_openings() {
        let b = body(&BodyOptions::PAINTED);
        assert!(b.mesh.is_closed());
        assert_eq!(b.mesh.triangles.len(), 40 * 32 * 4 + 2 * 32 * 2);
        assert!(b.welds.is_empty());
    }

    #[test]
    fn weld_points_lie_on_the_skin_with_unit_normals() {
        let b = body(&BodyOptions::BIW);
        assert!(b.welds.len() > 200, "{}", b.welds.len());
        for w in &b.welds {
            let n = w.normal;
            assert!(((n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() - 1.0).abs() < 1e-4);
            assert!(w.position[0] > 0.0 && w.position[0] < LENGTH);
        }
    }
}
