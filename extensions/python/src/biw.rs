//! The body-in-white part of the module: [`Mesh`] (numpy arrays, files, primitives), the exact mesh–mesh
//! [`distance`] with closest points, the penetration-depth estimate, [`Robot`] (OPW forward and inverse
//! kinematics, joint limits, tool frame) and the reach check with `outside_mm` and the base-shift
//! suggestion, the same computations as `twinloom analyze distance|reach` (docs/biw.md).

use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::time::{Duration, Instant};
use twinloom_biw::distance::{mesh_distance, penetration_depth, Collider};
use twinloom_biw::io::load_mesh;
use twinloom_biw::kinematics::{RobotModel, CATALOGUE};
use twinloom_biw::math::{Iso3, Mat3, Vec3};
use twinloom_biw::mesh::TriMesh;
use twinloom_biw::reach::{check_points, parse_points_csv, suggest_base_shift, ReachSettings, WeldPoint};

use crate::convert::path_arg;
use crate::{biw_err, invalid};

/// `obj` as a C-contiguous float64 numpy array (numpy does the conversion of lists and other dtypes).
fn f64_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.py().import("numpy")?.call_method1("ascontiguousarray", (obj, "float64"))
}

/// Rows of `cols` finite floats from an array-like of shape (n, cols) (or empty).
pub(crate) fn f64_rows<const N: usize>(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<[f64; N]>> {
    let arr = f64_array(obj).map_err(|e| invalid(format!("{what}: not an array of numbers ({e})")))?;
    let arr = arr.cast::<numpy::PyArrayDyn<f64>>().map_err(|e| invalid(format!("{what}: {e}")))?;
    let shape = arr.shape().to_vec();
    if arr.len() == 0 {
        return Ok(Vec::new());
    }
    if shape.len() != 2 || shape[1] != N {
        return Err(invalid(format!("{what}: expected an array of shape (n, {N}), got shape {shape:?}")));
    }
    let ro = arr.readonly();
    let flat = ro.as_slice().map_err(|e| invalid(format!("{what}: {e}")))?;
    if let Some(i) = flat.iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!("{what}: row {} has a non-finite value", i / N)));
    }
    Ok(flat.chunks_exact(N).map(|c| std::array::from_fn(|k| c[k])).collect())
}

/// Triangle index triples from an integer array-like of shape (m, 3) (or empty).
fn index_rows(obj: &Bound<'_, PyAny>) -> PyResult<Vec<[u32; 3]>> {
    let np = obj.py().import("numpy")?;
    let arr = np.call_method1("asarray", (obj,)).map_err(|e| invalid(format!("triangles: not an array ({e})")))?;
    let size: usize = arr.getattr("size")?.extract()?;
    if size == 0 {
        return Ok(Vec::new());
    }
    let kind: String = arr.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(invalid(format!(
            "triangles: expected integer vertex indices, got dtype {}",
            arr.getattr("dtype")?.str()?
        )));
    }
    let arr = np.call_method1("ascontiguousarray", (arr, "int64"))?;
    let arr = arr.cast::<numpy::PyArrayDyn<i64>>().map_err(|e| invalid(format!("triangles: {e}")))?;
    let shape = arr.shape().to_vec();
    if shape.len() != 2 || shape[1] != 3 {
        return Err(invalid(format!("triangles: expected an array of shape (m, 3), got shape {shape:?}")));
    }
    let ro = arr.readonly();
    let flat = ro.as_slice().map_err(|e| invalid(format!("triangles: {e}")))?;
    let mut out = Vec::with_capacity(flat.len() / 3);
    for (t, c) in flat.chunks_exact(3).enumerate() {
        let mut tri = [0u32; 3];
        for k in 0..3 {
            tri[k] = u32::try_from(c[k])
                .map_err(|_| invalid(format!("triangles: triangle {t} has the vertex index {}", c[k])))?;
        }
        out.push(tri);
    }
    Ok(out)
}

/// A rigid transform from 16 row-major values of a 4x4 matrix (or 12 of a 3x4 one), checked.
fn iso_from_rows(m: &[f64], rows: usize, what: &str) -> PyResult<Iso3> {
    if m.iter().any(|v| !v.is_finite()) {
        return Err(invalid(format!("{what}: the matrix has a non-finite entry")));
    }
    let at = |r: usize, c: usize| m[r * 4 + c];
    if rows == 4 && (at(3, 0) != 0.0 || at(3, 1) != 0.0 || at(3, 2) != 0.0 || (at(3, 3) - 1.0).abs() > 1e-12) {
        return Err(invalid(format!("{what}: the last row of a 4x4 pose must be [0, 0, 0, 1]")));
    }
    let col = |c: usize| Vec3::new(at(0, c), at(1, c), at(2, c));
    let rot = Mat3::from_cols(col(0), col(1), col(2));
    let rtr = rot.transpose().mul_mat(&rot);
    let mut err: f64 = 0.0;
    for r in 0..3 {
        for c in 0..3 {
            err = err.max((rtr.at(r, c) - if r == c { 1.0 } else { 0.0 }).abs());
        }
    }
    let det = col(0).cross(col(1)).dot(col(2));
    if err > 1e-6 || det < 0.0 {
        return Err(invalid(format!(
            "{what}: the upper-left 3x3 block is not a rotation (|R^T R - I| = {err:.3e}, det = {det:.6})"
        )));
    }
    Ok(Iso3::new(rot, col(3)))
}

/// A pose argument: `None` is the identity; otherwise an array-like of shape (4, 4) or (3, 4).
pub(crate) fn pose_arg(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Iso3> {
    let Some(obj) = obj else {
        return Ok(Iso3::IDENTITY);
    };
    if obj.is_none() {
        return Ok(Iso3::IDENTITY);
    }
    // Fast path: already a contiguous float64 array (no call into numpy).
    if let Ok(a) = obj.cast::<PyArray2<f64>>() {
        if let Ok(ro) = a.try_readonly() {
            if let (Ok(s), [rows @ (3 | 4), 4]) = (ro.as_slice(), a.shape()) {
                return iso_from_rows(s, *rows, what);
            }
        }
    }
    let arr = f64_array(obj).map_err(|e| invalid(format!("{what}: not a matrix of numbers ({e})")))?;
    let arr = arr.cast::<numpy::PyArrayDyn<f64>>().map_err(|e| invalid(format!("{what}: {e}")))?;
    let shape = arr.shape().to_vec();
    let rows = match shape.as_slice() {
        [r @ (3 | 4), 4] => *r,
        _ => return Err(invalid(format!("{what}: expected a 4x4 (or 3x4) matrix, got shape {shape:?}"))),
    };
    let ro = arr.readonly();
    let s = ro.as_slice().map_err(|e| invalid(format!("{what}: {e}")))?;
    iso_from_rows(s, rows, what)
}

/// A pose as a 4x4 row-major numpy array.
fn pose_out<'py>(py: Python<'py>, p: &Iso3) -> Bound<'py, PyArray2<f64>> {
    let mut a = Array2::<f64>::zeros((4, 4));
    for r in 0..3 {
        for c in 0..3 {
            a[[r, c]] = p.rot.at(r, c);
        }
    }
    a[[0, 3]] = p.trans.x;
    a[[1, 3]] = p.trans.y;
    a[[2, 3]] = p.trans.z;
    a[[3, 3]] = 1.0;
    a.into_pyarray(py)
}

fn xyz(v: Vec3) -> (f64, f64, f64) {
    (v.x, v.y, v.z)
}

fn positive(v: f64, what: &str) -> PyResult<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(format!("{what} must be a finite number > 0, got {v}")))
    }
}

/// A triangle mesh (metres) prepared for distance queries (its bounding-volume hierarchy is built once).
#[pyclass(module = "twinloom._native", frozen)]
pub struct Mesh {
    pub(crate) inner: Collider,
}

impl Mesh {
    fn build(py: Python<'_>, mesh: TriMesh) -> Mesh {
        Mesh { inner: py.detach(move || Collider::new(mesh)) }
    }
}

#[pymethods]
impl Mesh {
    /// A mesh from vertices (array-like (n, 3), metres) and triangles (integer array-like (m, 3),
    /// counter-clockwise seen from outside).
    #[new]
    #[pyo3(signature = (vertices, triangles))]
    fn new(py: Python<'_>, vertices: &Bound<'_, PyAny>, triangles: &Bound<'_, PyAny>) -> PyResult<Mesh> {
        let v = f64_rows::<3>(vertices, "vertices")?;
        let t = index_rows(triangles)?;
        let mesh = TriMesh::new(v.into_iter().map(|[x, y, z]| Vec3::new(x, y, z)).collect(), t).map_err(biw_err)?;
        Ok(Mesh::build(py, mesh))
    }

    /// Loads a mesh file: STL (ASCII or binary), OBJ, glTF 2.0 (.gltf, .glb), coordinates in metres.
    #[staticmethod]
    #[pyo3(signature = (path))]
    fn load(py: Python<'_>, path: &Bound<'_, PyAny>) -> PyResult<Mesh> {
        let path = path_arg(path)?;
        let mesh = py.detach(|| load_mesh(&path)).map_err(biw_err)?;
        Ok(Mesh::build(py, mesh))
    }

    /// An axis-aligned box centred at the origin with the given half extents (12 triangles).
    #[staticmethod]
    #[pyo3(name = "box", signature = (half_extents))]
    fn cuboid(py: Python<'_>, half_extents: (f64, f64, f64)) -> PyResult<Mesh> {
        let (x, y, z) = half_extents;
        for (v, n) in [(x, "x"), (y, "y"), (z, "z")] {
            positive(v, &format!("half_extents.{n}"))?;
        }
        Ok(Mesh { inner: py.detach(|| Collider::new(TriMesh::cuboid(Vec3::new(x, y, z)))) })
    }

    /// A UV sphere centred at the origin (vertices on the sphere).
    #[staticmethod]
    #[pyo3(signature = (radius, rings=16, segments=32))]
    fn sphere(py: Python<'_>, radius: f64, rings: usize, segments: usize) -> PyResult<Mesh> {
        positive(radius, "radius")?;
        if !(2..=4096).contains(&rings) || !(3..=4096).contains(&segments) {
            return Err(invalid("rings must be in 2..=4096 and segments in 3..=4096"));
        }
        Ok(Mesh { inner: py.detach(|| Collider::new(TriMesh::uv_sphere(radius, rings, segments))) })
    }

    /// A capsule along z centred at the origin: a cylinder of half length `half_length` capped by
    /// hemispheres of `radius`.
    #[staticmethod]
    #[pyo3(signature = (radius, half_length, rings=16, segments=32))]
    fn capsule(py: Python<'_>, radius: f64, half_length: f64, rings: usize, segments: usize) -> PyResult<Mesh> {
        positive(radius, "radius")?;
        if !(half_length.is_finite() && half_length >= 0.0) {
            return Err(invalid(format!("half_length must be a finite number >= 0, got {half_length}")));
        }
        if !(2..=4096).contains(&rings) || !(3..=4096).contains(&segments) {
            return Err(invalid("rings must be in 2..=4096 and segments in 3..=4096"));
        }
        Ok(Mesh { inner: py.detach(|| Collider::new(TriMesh::capsule(radius, half_length, rings, segments))) })
    }

    /// This mesh with every vertex moved by `pose` (4x4).
    #[pyo3(signature = (pose))]
    fn transformed(&self, py: Python<'_>, pose: &Bound<'_, PyAny>) -> PyResult<Mesh> {
        let p = pose_arg(Some(pose), "pose")?;
        Ok(Mesh { inner: py.detach(|| Collider::new(self.inner.mesh.transformed(&p))) })
    }

    /// The vertices, a float64 array of shape (n, 3) (a copy).
    #[getter]
    fn vertices<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let v = &self.inner.mesh.vertices;
        let flat: Vec<f64> = v.iter().flat_map(|p| [p.x, p.y, p.z]).collect();
        Array2::from_shape_vec((v.len(), 3), flat).unwrap_or_default().into_pyarray(py)
    }

    /// The triangles, a uint32 array of shape (m, 3) (a copy).
    #[getter]
    fn triangles<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<u32>> {
        let t = &self.inner.mesh.triangles;
        let flat: Vec<u32> = t.iter().flatten().copied().collect();
        Array2::from_shape_vec((t.len(), 3), flat).unwrap_or_default().into_pyarray(py)
    }

    /// Number of triangles.
    #[getter]
    fn triangle_count(&self) -> usize {
        self.inner.mesh.triangles.len()
    }

    /// Number of vertices.
    #[getter]
    fn vertex_count(&self) -> usize {
        self.inner.mesh.vertices.len()
    }

    /// Whether the surface is closed and consistently oriented (it has an inside).
    #[getter]
    fn closed(&self) -> bool {
        self.inner.closed
    }

    fn __repr__(&self) -> String {
        format!(
            "Mesh(vertices={}, triangles={}, closed={})",
            self.inner.mesh.vertices.len(),
            self.inner.mesh.triangles.len(),
            if self.inner.closed { "True" } else { "False" }
        )
    }
}

/// The result of a mesh–mesh distance query (metres, world coordinates).
#[pyclass(module = "twinloom._native", frozen, get_all)]
pub struct Distance {
    /// Minimum distance between the surfaces (0 when they intersect).
    distance: f64,
    /// Whether the surfaces touch or cross.
    intersect: bool,
    /// The closest point on A.
    point_a: (f64, f64, f64),
    /// The closest point on B (the same point as `point_a` when they intersect).
    point_b: (f64, f64, f64),
    /// Index of A's triangle holding `point_a`.
    triangle_a: u32,
    /// Index of B's triangle holding `point_b`.
    triangle_b: u32,
}

#[pymethods]
impl Distance {
    fn __repr__(&self) -> String {
        format!(
            "Distance(distance={:?}, intersect={}, point_a={:?}, point_b={:?}, triangle_a={}, triangle_b={})",
            self.distance,
            if self.intersect { "True" } else { "False" },
            self.point_a,
            self.point_b,
            self.triangle_a,
            self.triangle_b
        )
    }
}

fn nonempty(m: &Mesh, what: &str) -> PyResult<()> {
    if m.inner.mesh.triangles.is_empty() {
        Err(invalid(format!("mesh {what} has no triangles")))
    } else {
        Ok(())
    }
}

/// Exact minimum distance between mesh `a` placed at `pose_a` and mesh `b` placed at `pose_b` (4x4 poses,
/// identity when omitted), with the closest points and their triangles.
#[pyfunction]
#[pyo3(signature = (a, b, pose_a=None, pose_b=None))]
fn distance(
    py: Python<'_>,
    a: &Bound<'_, Mesh>,
    b: &Bound<'_, Mesh>,
    pose_a: Option<&Bound<'_, PyAny>>,
    pose_b: Option<&Bound<'_, PyAny>>,
) -> PyResult<Distance> {
    let (ma, mb) = (a.get(), b.get());
    nonempty(ma, "a")?;
    nonempty(mb, "b")?;
    let (pa, pb) = (pose_arg(pose_a, "pose_a")?, pose_arg(pose_b, "pose_b")?);
    let (ca, cb) = (&ma.inner, &mb.inner);
    let d =
        py.detach(|| mesh_distance(ca, &pa, cb, &pb)).ok_or_else(|| invalid("one of the meshes has no triangles"))?;
    Ok(Distance {
        distance: d.distance,
        intersect: d.intersect,
        point_a: xyz(d.point_a),
        point_b: xyz(d.point_b),
        triangle_a: d.tri_a,
        triangle_b: d.tri_b,
    })
}

/// Estimated penetration depth (metres) of intersecting meshes: the deepest sample point (vertices, edge
/// midpoints, centroids) of one mesh inside the other, closed one; 0 when none is inside.
#[pyfunction]
#[pyo3(name = "penetration_depth", signature = (a, b, pose_a=None, pose_b=None))]
fn penetration_depth_of(
    py: Python<'_>,
    a: &Bound<'_, Mesh>,
    b: &Bound<'_, Mesh>,
    pose_a: Option<&Bound<'_, PyAny>>,
    pose_b: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let (pa, pb) = (pose_arg(pose_a, "pose_a")?, pose_arg(pose_b, "pose_b")?);
    let (ca, cb) = (&a.get().inner, &b.get().inner);
    Ok(py.detach(|| penetration_depth(ca, &pa, cb, &pb)))
}

/// Six joint values (radians) from a sequence or array.
fn joints_arg(obj: &Bound<'_, PyAny>) -> PyResult<[f64; 6]> {
    let v = f64_array(obj).map_err(|e| invalid(format!("joints: not numbers ({e})")))?;
    let v = v.cast::<numpy::PyArrayDyn<f64>>().map_err(|e| invalid(format!("joints: {e}")))?;
    if v.shape() != [6] {
        return Err(invalid(format!("joints: expected 6 values (radians), got shape {:?}", v.shape())));
    }
    let ro = v.readonly();
    let s = ro.as_slice().map_err(|e| invalid(format!("joints: {e}")))?;
    if s.iter().any(|x| !x.is_finite()) {
        return Err(invalid("joints: every value must be finite"));
    }
    Ok(std::array::from_fn(|i| s[i]))
}

fn rows6<'py>(py: Python<'py>, rows: &[[f64; 6]]) -> Bound<'py, PyArray2<f64>> {
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    Array2::from_shape_vec((rows.len(), 6), flat).unwrap_or_default().into_pyarray(py)
}

/// A 6-axis ortho-parallel-wrist robot: forward and inverse kinematics, joint limits, a tool frame and
/// the reach check. Joint values are radians in the controller's convention; lengths are metres.
#[pyclass(module = "twinloom._native", frozen)]
pub struct Robot {
    model: RobotModel,
}

#[pymethods]
impl Robot {
    /// A robot of the catalogue by name: `abb-irb2400`, `kuka-kr6-r700` or `fanuc-r2000ic-165f`.
    #[new]
    #[pyo3(signature = (name))]
    fn new(name: &str) -> PyResult<Robot> {
        Ok(Robot { model: RobotModel::by_name(name).map_err(biw_err)? })
    }

    /// The catalogue: (name, manufacturer, model designation) of every robot known.
    #[staticmethod]
    fn catalogue() -> Vec<(String, String, String)> {
        CATALOGUE.iter().map(|e| (e.name.to_string(), e.manufacturer.to_string(), e.model.to_string())).collect()
    }

    /// The model's name.
    #[getter]
    fn name(&self) -> String {
        self.model.name.clone()
    }

    /// Joint limits, a float64 array of shape (6, 2): lower and upper limit per joint (radians).
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        let flat: Vec<f64> = self.model.limits.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
        Array2::from_shape_vec((6, 2), flat).unwrap_or_default().into_pyarray(py)
    }

    /// The tool frame relative to the flange (4x4).
    #[getter]
    fn tool<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray2<f64>> {
        pose_out(py, &self.model.tool)
    }

    /// The OPW parameters: lengths a1, a2, b, c1, c2, c3, c4 (metres), offsets (radians) and sign corrections.
    #[getter]
    fn opw<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let p = &self.model.params;
        let d = PyDict::new(py);
        for (k, v) in [("a1", p.a1), ("a2", p.a2), ("b", p.b), ("c1", p.c1), ("c2", p.c2), ("c3", p.c3), ("c4", p.c4)] {
            d.set_item(k, v)?;
        }
        d.set_item("offsets", p.offsets.to_vec())?;
        d.set_item("signs", p.signs.to_vec())?;
        Ok(d)
    }

    /// This robot with a tool frame (4x4, relative to the flange).
    #[pyo3(signature = (tool))]
    fn with_tool(&self, tool: &Bound<'_, PyAny>) -> PyResult<Robot> {
        Ok(Robot { model: self.model.clone().with_tool(pose_arg(Some(tool), "tool")?) })
    }

    /// Pose (4x4) of the tool frame in the robot base frame for six joint values.
    #[pyo3(signature = (joints))]
    fn forward<'py>(&self, py: Python<'py>, joints: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        Ok(pose_out(py, &self.model.forward(&joints_arg(joints)?)))
    }

    /// Frames of links 1 to 6 and the flange in the base frame, an array of shape (7, 4, 4).
    #[pyo3(signature = (joints))]
    fn link_frames<'py>(&self, py: Python<'py>, joints: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray3<f64>>> {
        let frames = self.model.link_frames(&joints_arg(joints)?);
        let mut a = Array3::<f64>::zeros((7, 4, 4));
        for (i, f) in frames.iter().enumerate() {
            for r in 0..3 {
                for c in 0..3 {
                    a[[i, r, c]] = f.rot.at(r, c);
                }
            }
            a[[i, 0, 3]] = f.trans.x;
            a[[i, 1, 3]] = f.trans.y;
            a[[i, 2, 3]] = f.trans.z;
            a[[i, 3, 3]] = 1.0;
        }
        Ok(a.into_pyarray(py))
    }

    /// All 8 inverse-kinematics branches for a tool pose (4x4, base frame), ignoring joint limits: an array
    /// of shape (8, 6), NaN rows for unreachable branches, angles in (-pi, pi].
    #[pyo3(signature = (pose))]
    fn inverse<'py>(&self, py: Python<'py>, pose: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let p = pose_arg(Some(pose), "pose")?;
        Ok(rows6(py, &self.model.inverse(&p)))
    }

    /// Every solution within the joint limits (each joint also at whole turns where its range allows), an
    /// array of shape (k, 6).
    #[pyo3(signature = (pose))]
    fn inverse_within_limits<'py>(
        &self,
        py: Python<'py>,
        pose: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let p = pose_arg(Some(pose), "pose")?;
        Ok(rows6(py, &self.model.inverse_within_limits(&p)))
    }

    /// Whether six joint values are within the joint limits.
    #[pyo3(signature = (joints))]
    fn within_limits(&self, joints: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.model.within_limits(&joints_arg(joints)?))
    }

    /// Whether some branch reaches the tool pose (4x4) within the joint limits (no spin tolerance).
    #[pyo3(signature = (pose))]
    fn reachable(&self, pose: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.model.reachable(&pose_arg(Some(pose), "pose")?))
    }

    /// Reach check of weld points, as `twinloom analyze reach`; see `twinloom.Robot.reach`.
    #[pyo3(name = "_reach", signature = (points, spin_tolerance_deg=10.0, search_mm=500.0, base_shift=true))]
    fn reach_raw<'py>(
        &self,
        py: Python<'py>,
        points: &Bound<'py, PyAny>,
        spin_tolerance_deg: f64,
        search_mm: f64,
        base_shift: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        if !(spin_tolerance_deg.is_finite() && spin_tolerance_deg >= 0.0) {
            return Err(invalid(format!("spin_tolerance_deg must be a finite number >= 0, got {spin_tolerance_deg}")));
        }
        positive(search_mm, "search_mm")?;
        let mut pts = Vec::new();
        for (i, item) in
            points.try_iter().map_err(|_| invalid("points: expected a sequence of (id, pose) pairs"))?.enumerate()
        {
            let item = item?;
            let (id, pose): (String, Bound<'py, PyAny>) = item.extract().map_err(|_| {
                invalid(format!("points[{i}]: expected an (id, pose) pair with a str id and a 4x4 pose"))
            })?;
            pts.push(WeldPoint { id, pose: pose_arg(Some(&pose), &format!("points[{i}] pose"))? });
        }
        let model = &self.model;
        let settings = ReachSettings { spin_tolerance: spin_tolerance_deg.to_radians(), ..ReachSettings::default() };
        let (results, shift) = py.detach(|| {
            let results = check_points(model, &pts, &settings);
            let all = results.iter().all(|r| r.reachable);
            let half = Vec3::new(search_mm, search_mm, search_mm) * 0.001;
            let shift =
                if all || !base_shift { None } else { Some(suggest_base_shift(model, &pts, &settings, half, 0.001)) };
            (results, shift)
        });
        let out = PyDict::new(py);
        out.set_item("robot", &model.name)?;
        out.set_item("spin_tolerance_deg", spin_tolerance_deg)?;
        out.set_item("all_reachable", results.iter().all(|r| r.reachable))?;
        let list = PyList::empty(py);
        for r in &results {
            let d = PyDict::new(py);
            d.set_item("id", &r.id)?;
            d.set_item("reachable", r.reachable)?;
            d.set_item("outside_mm", if r.outside_mm.is_finite() { Some(r.outside_mm) } else { None })?;
            d.set_item("joints", r.joints.map(|q| q.to_vec()))?;
            d.set_item("spin", r.spin)?;
            d.set_item("nearest_position", xyz(r.nearest_position))?;
            list.append(d)?;
        }
        out.set_item("points", list)?;
        match shift {
            None => out.set_item("base_shift", py.None())?,
            Some(s) => {
                let d = PyDict::new(py);
                d.set_item("found", s.shift.is_some())?;
                d.set_item("shift_mm", s.shift.map(|v| xyz(v * 1000.0)))?;
                d.set_item("norm_mm", s.shift.map(|v| v.norm() * 1000.0))?;
                d.set_item("search_half_mm", xyz(s.search_half * 1000.0))?;
                d.set_item("resolution_mm", s.resolution * 1000.0)?;
                out.set_item("base_shift", d)?;
            }
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!("Robot({:?})", self.model.name)
    }
}

/// Weld points from a CSV file with the header `id,x,y,z,qw,qx,qy,qz` (metres, unit quaternion, robot base
/// frame): a list of (id, 4x4 pose) pairs.
#[pyfunction]
#[pyo3(signature = (path))]
fn load_weld_points<'py>(
    py: Python<'py>,
    path: &Bound<'py, PyAny>,
) -> PyResult<Vec<(String, Bound<'py, PyArray2<f64>>)>> {
    let path = path_arg(path)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|source| biw_err(twinloom_biw::BiwError::Io { path: path.clone(), source }))?;
    let pts = parse_points_csv(&text, &path).map_err(biw_err)?;
    Ok(pts.into_iter().map(|p| (p.id, pose_out(py, &p.pose))).collect())
}

/// Benchmark helper: the same distance queries as `distance(a, b, None, pose)` for each pose, run in Rust
/// in one thread, cyclically for at least `min_seconds`; returns queries per second.
#[pyfunction]
#[pyo3(signature = (a, b, poses, min_seconds=1.0))]
fn _bench_rust_distance(
    py: Python<'_>,
    a: &Bound<'_, Mesh>,
    b: &Bound<'_, Mesh>,
    poses: &Bound<'_, PyAny>,
    min_seconds: f64,
) -> PyResult<f64> {
    let mut ps = Vec::new();
    for (i, p) in poses.try_iter()?.enumerate() {
        ps.push(pose_arg(Some(&p?), &format!("poses[{i}]"))?);
    }
    if ps.is_empty() {
        return Err(invalid("poses: give at least one pose"));
    }
    let (ca, cb) = (&a.get().inner, &b.get().inner);
    let min = Duration::from_secs_f64(positive(min_seconds, "min_seconds")?);
    Ok(py.detach(|| {
        let start = Instant::now();
        let mut n = 0usize;
        while start.elapsed() < min {
            for p in &ps {
                std::hint::black_box(mesh_distance(ca, &Iso3::IDENTITY, cb, p));
                n += 1;
            }
        }
        n as f64 / start.elapsed().as_secs_f64()
    }))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Mesh>()?;
    m.add_class::<Distance>()?;
    m.add_class::<Robot>()?;
    m.add_function(wrap_pyfunction!(distance, m)?)?;
    m.add_function(wrap_pyfunction!(penetration_depth_of, m)?)?;
    m.add_function(wrap_pyfunction!(load_weld_points, m)?)?;
    m.add_function(wrap_pyfunction!(_bench_rust_distance, m)?)?;
    Ok(())
}
