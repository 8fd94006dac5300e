//! The geometry the BIW study reads from a stage (the shared stage kit's [`Stage`]: the root layer and its
//! sublayers, strongest opinion first): transforms evaluated from the `xformOpOrder` ops the layout
//! authors (translate, rotateX/Y/Z, orient, unit scale, transform) and meshes, fan-triangulated.

// `!(x > 0.0)` is deliberate: it is also true for NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use twinloom_biw::math::{Iso3, Mat3, Quat, Vec3};
use twinloom_usd::kit::{Stage, StageError};
use twinloom_usd::Value;

fn invalid(prim: &str, message: impl Into<String>) -> StageError {
    StageError::invalid(prim, message)
}

/// The prim's local transform (to its parent) from its `xformOpOrder`; identity without one.
pub fn local_xform(stack: &Stage, prim: &str) -> Result<Iso3, StageError> {
    let Some(order) = stack.tokens(prim, "xformOpOrder")? else { return Ok(Iso3::IDENTITY) };
    let mut m = Iso3::IDENTITY;
    for op in &order {
        let v =
            stack.value(prim, op)?.ok_or_else(|| invalid(prim, format!("{op} is in xformOpOrder but has no value")))?;
        m = m.mul(&op_transform(prim, op, &v)?);
    }
    Ok(m)
}

/// The prim's transform to the world: the product of the local transforms from the root down.
pub fn world_xform(stack: &Stage, prim: &str) -> Result<Iso3, StageError> {
    let mut m = Iso3::IDENTITY;
    let mut path = String::new();
    for part in prim.split('/').filter(|p| !p.is_empty()) {
        path.push('/');
        path.push_str(part);
        m = m.mul(&local_xform(stack, &path)?);
    }
    Ok(m)
}

/// A `Mesh` prim's points and triangles (polygons fan-triangulated), in the prim's own frame.
pub fn mesh(stack: &Stage, prim: &str) -> Result<twinloom_biw::TriMesh, StageError> {
    let points = match stack.value(prim, "points")? {
        Some(Value::Point3fArray(p)) | Some(Value::Float3Array(p)) => p,
        _ => return Err(invalid(prim, "Mesh without point3f[] points")),
    };
    let ints = |name: &str| match stack.value(prim, name) {
        Ok(Some(Value::IntArray(v))) => Ok(v),
        Ok(_) => Err(invalid(prim, format!("Mesh without int[] {name}"))),
        Err(e) => Err(e),
    };
    let (counts, indices) = (ints("faceVertexCounts")?, ints("faceVertexIndices")?);
    let mut triangles = Vec::with_capacity(indices.len() / 3);
    let mut at = 0usize;
    for &n in &counts {
        let n = usize::try_from(n).map_err(|_| invalid(prim, "negative face vertex count"))?;
        let face = indices
            .get(at..at + n)
            .ok_or_else(|| invalid(prim, "faceVertexIndices shorter than faceVertexCounts says"))?;
        let idx = |k: usize| {
            u32::try_from(face[k])
                .ok()
                .filter(|&i| (i as usize) < points.len())
                .ok_or_else(|| invalid(prim, format!("face vertex index {} out of range", face[k])))
        };
        for k in 1..n.saturating_sub(1) {
            triangles.push([idx(0)?, idx(k)?, idx(k + 1)?]);
        }
        at += n;
    }
    let vertices = points.iter().map(|p| Vec3::new(p[0] as f64, p[1] as f64, p[2] as f64)).collect();
    twinloom_biw::TriMesh::new(vertices, triangles).map_err(|e| invalid(prim, e.to_string()))
}

fn real3(prim: &str, op: &str, v: &Value) -> Result<Vec3, StageError> {
    match v {
        Value::Double3(a) => Ok(Vec3::new(a[0], a[1], a[2])),
        Value::Float3(a) => Ok(Vec3::new(a[0] as f64, a[1] as f64, a[2] as f64)),
        other => Err(StageError::wrong_type(prim, op, "a double3 or float3", other)),
    }
}

/// One xform op as a rigid transform (scale is accepted only when it is 1).
fn op_transform(prim: &str, op: &str, v: &Value) -> Result<Iso3, StageError> {
    let kind = op.strip_prefix("xformOp:").unwrap_or(op);
    let kind = kind.split(':').next().unwrap_or(kind);
    let angle = || match v {
        Value::Float(a) => Ok((*a as f64).to_radians()),
        Value::Double(a) => Ok(a.to_radians()),
        other => Err(StageError::wrong_type(prim, op, "a float or double", other)),
    };
    Ok(match kind {
        "translate" => Iso3::translation(real3(prim, op, v)?),
        "rotateX" => Iso3::rotation(Mat3::rot_x(angle()?)),
        "rotateY" => Iso3::rotation(Mat3::rot_y(angle()?)),
        "rotateZ" => Iso3::rotation(Mat3::rot_z(angle()?)),
        "orient" => {
            let q = match v {
                Value::Quatf(q) => q.map(f64::from),
                Value::Quatd(q) => *q,
                other => return Err(StageError::wrong_type(prim, op, "a quatf or quatd", other)),
            };
            let n = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
            if !(n > 0.0) {
                return Err(invalid(prim, format!("{op} is a zero quaternion")));
            }
            Iso3::rotation(Quat::new(q[0] / n, q[1] / n, q[2] / n, q[3] / n).to_mat3())
        }
        "scale" => {
            let s = real3(prim, op, v)?;
            if (s - Vec3::new(1.0, 1.0, 1.0)).norm() > 1e-9 {
                return Err(invalid(
                    prim,
                    format!("{op} = {s:?}: scaled robots, bodies and fixtures are not supported"),
                ));
            }
            Iso3::IDENTITY
        }
        "transform" => match v {
            Value::Matrix4d(m) => matrix_to_iso(prim, op, m)?,
            other => return Err(StageError::wrong_type(prim, op, "a matrix4d", other)),
        },
        _ => return Err(invalid(prim, format!("unsupported xform op {op}"))),
    })
}

/// A row-major, row-vector-convention matrix4d (USD's) as a rigid transform; rejects non-rigid ones.
pub fn matrix_to_iso(prim: &str, what: &str, m: &[f64; 16]) -> Result<Iso3, StageError> {
    let row = |r: usize| Vec3::new(m[4 * r], m[4 * r + 1], m[4 * r + 2]);
    let rot = Mat3::from_cols(row(0), row(1), row(2));
    let rigid = (rot.mul_mat(&rot.transpose()).cols.iter().zip([Vec3::X, Vec3::Y, Vec3::Z]))
        .all(|(c, e)| (*c - e).norm() < 1e-6)
        && (m[3].abs() + m[7].abs() + m[11].abs() + (m[15] - 1.0).abs()) < 1e-9;
    if !rigid {
        return Err(invalid(prim, format!("{what} is not a rigid transform")));
    }
    Ok(Iso3::new(rot, row(3)))
}
