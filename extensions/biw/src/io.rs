//! Mesh loading from STL (ASCII and binary), Wavefront OBJ and glTF 2.0 (`.gltf` with embedded or external
//! buffers, `.glb`) files.

use crate::error::BiwError;
use crate::math::Vec3;
use crate::mesh::TriMesh;
use std::collections::HashMap;
use std::path::Path;

/// Loads a mesh, choosing the format from the file extension (`.stl`, `.obj`, `.gltf`, `.glb`).
pub fn load_mesh(path: &Path) -> Result<TriMesh, BiwError> {
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|source| BiwError::Io { path: path.to_path_buf(), source })?;
    match ext.as_str() {
        "stl" => parse_stl(&bytes, path),
        "obj" => parse_obj(&bytes, path),
        "gltf" | "glb" => parse_gltf(&bytes, path),
        _ => Err(BiwError::UnsupportedFormat { path: path.to_path_buf() }),
    }
}

fn parse_err(path: &Path, line: usize, message: impl Into<String>) -> BiwError {
    BiwError::Parse { path: path.to_path_buf(), line, message: message.into() }
}

/// Parses STL bytes; binary when the size matches the triangle count in the header, ASCII otherwise.
/// Vertices are welded by exact coordinate equality.
pub fn parse_stl(bytes: &[u8], path: &Path) -> Result<TriMesh, BiwError> {
    if bytes.len() >= 84 {
        let n = u32::from_le_bytes([bytes[80], bytes[81], bytes[82], bytes[83]]) as usize;
        if n.checked_mul(50).and_then(|x| x.checked_add(84)) == Some(bytes.len()) {
            return parse_stl_binary(bytes, n, path);
        }
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        parse_err(path, 1, "neither a binary STL (size does not match its triangle count) nor ASCII text")
    })?;
    parse_stl_ascii(text, path)
}

struct Welder {
    index: HashMap<[u64; 3], u32>,
    vertices: Vec<Vec3>,
}

impl Welder {
    fn new() -> Self {
        Welder { index: HashMap::new(), vertices: Vec::new() }
    }
    fn add(&mut self, v: Vec3) -> u32 {
        // +0.0 and -0.0 must weld together.
        let key = [(v.x + 0.0).to_bits(), (v.y + 0.0).to_bits(), (v.z + 0.0).to_bits()];
        let next = self.vertices.len() as u32;
        *self.index.entry(key).or_insert_with(|| {
            self.vertices.push(v);
            next
        })
    }
}

fn parse_stl_binary(bytes: &[u8], n: usize, path: &Path) -> Result<TriMesh, BiwError> {
    let mut welder = Welder::new();
    let mut triangles = Vec::with_capacity(n);
    for t in 0..n {
        let rec = &bytes[84 + 50 * t..84 + 50 * t + 50];
        let f = |k: usize| f32::from_le_bytes([rec[4 * k], rec[4 * k + 1], rec[4 * k + 2], rec[4 * k + 3]]) as f64;
        let mut tri = [0u32; 3];
        for (c, slot) in tri.iter_mut().enumerate() {
            let v = Vec3::new(f(3 + 3 * c), f(4 + 3 * c), f(5 + 3 * c));
            if !v.is_finite() {
                return Err(format_err(path, format!("binary STL triangle {t} has a non-finite vertex")));
            }
            *slot = welder.add(v);
        }
        triangles.push(tri);
    }
    TriMesh::new(welder.vertices, triangles)
}

fn parse_stl_ascii(text: &str, path: &Path) -> Result<TriMesh, BiwError> {
    let mut welder = Welder::new();
    let mut triangles = Vec::new();
    let mut current: Vec<u32> = Vec::new();
    let mut saw_solid = false;
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut words = line.split_whitespace();
        match words.next() {
            Some("solid") => saw_solid = true,
            Some("vertex") => {
                let mut c = [0.0; 3];
                for slot in c.iter_mut() {
                    let w = words.next().ok_or_else(|| parse_err(path, lineno, "vertex needs 3 coordinates"))?;
                    *slot = w
                        .parse::<f64>()
                        .map_err(|_| parse_err(path, lineno, format!("bad vertex coordinate '{w}'")))?;
                }
                let v = Vec3::new(c[0], c[1], c[2]);
                if !v.is_finite() {
                    return Err(parse_err(path, lineno, "non-finite vertex coordinate"));
                }
                current.push(welder.add(v));
            }
            Some("endloop") => {
                if current.len() != 3 {
                    return Err(parse_err(path, lineno, format!("facet has {} vertices, expected 3", current.len())));
                }
                triangles.push([current[0], current[1], current[2]]);
                current.clear();
            }
            Some("facet") | Some("outer") | Some("endfacet") | Some("endsolid") | None => {}
            Some(other) => return Err(parse_err(path, lineno, format!("unexpected keyword '{other}'"))),
        }
    }
    if !saw_solid {
        return Err(parse_err(path, 1, "ASCII STL must start with 'solid'"));
    }
    TriMesh::new(welder.vertices, triangles)
}

/// Parses Wavefront OBJ text: `v` and `f` records (polygons are fan-triangulated; `v/vt/vn` and negative
/// indices accepted); other records are ignored.
pub fn parse_obj(bytes: &[u8], path: &Path) -> Result<TriMesh, BiwError> {
    let text = std::str::from_utf8(bytes).map_err(|_| parse_err(path, 1, "OBJ file is not UTF-8 text"))?;
    let mut vertices = Vec::new();
    let mut triangles = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut words = line.split_whitespace();
        match words.next() {
            Some("v") => {
                let mut c = [0.0; 3];
                for slot in c.iter_mut() {
                    let w = words.next().ok_or_else(|| parse_err(path, lineno, "'v' needs 3 coordinates"))?;
                    *slot = w.parse::<f64>().map_err(|_| parse_err(path, lineno, format!("bad coordinate '{w}'")))?;
                }
                let v = Vec3::new(c[0], c[1], c[2]);
                if !v.is_finite() {
                    return Err(parse_err(path, lineno, "non-finite vertex coordinate"));
                }
                vertices.push(v);
            }
            Some("f") => {
                let mut idx = Vec::new();
                for w in words {
                    let first = w.split('/').next().unwrap_or("");
                    let k: i64 = first.parse().map_err(|_| parse_err(path, lineno, format!("bad face index '{w}'")))?;
                    let n = vertices.len() as i64;
                    let resolved = if k > 0 { k - 1 } else { n + k };
                    if k == 0 || resolved < 0 || resolved >= n {
                        return Err(parse_err(
                            path,
                            lineno,
                            format!("face index {k} out of range (1..={n} vertices so far)"),
                        ));
                    }
                    idx.push(resolved as u32);
                }
                if idx.len() < 3 {
                    return Err(parse_err(path, lineno, "face needs at least 3 vertices"));
                }
                for k in 1..idx.len() - 1 {
                    triangles.push([idx[0], idx[k], idx[k + 1]]);
                }
            }
            _ => {}
        }
    }
    TriMesh::new(vertices, triangles)
}

/// Parses glTF 2.0 (JSON or binary GLB): every triangle primitive of the default scene (or, without
/// scenes, of every mesh), with node transforms applied. Buffers may be the GLB chunk, base64 data URIs
/// or files next to `path`. Coordinates are taken as they are (glTF: metres, y up).
pub fn parse_gltf(bytes: &[u8], path: &Path) -> Result<TriMesh, BiwError> {
    let err = |message: String| BiwError::Format { path: path.to_path_buf(), message };
    let g = gltf::Gltf::from_slice(bytes).map_err(|e| err(format!("glTF: {e}")))?;
    let mut buffers: Vec<Vec<u8>> = Vec::new();
    for b in g.buffers() {
        let data = match b.source() {
            gltf::buffer::Source::Bin => g
                .blob
                .clone()
                .ok_or_else(|| err(format!("buffer {} refers to a missing GLB binary chunk", b.index())))?,
            gltf::buffer::Source::Uri(uri) => {
                if let Some(rest) = uri.strip_prefix("data:") {
                    let (_, payload) = rest
                        .split_once(";base64,")
                        .ok_or_else(|| err(format!("buffer {}: only base64 data URIs are supported", b.index())))?;
                    decode_base64(payload).ok_or_else(|| err(format!("buffer {}: invalid base64 data", b.index())))?
                } else {
                    let file = path.parent().unwrap_or(Path::new(".")).join(uri);
                    std::fs::read(&file).map_err(|source| BiwError::Io { path: file, source })?
                }
            }
        };
        if data.len() < b.length() {
            return Err(err(format!("buffer {} has {} bytes, expected {}", b.index(), data.len(), b.length())));
        }
        buffers.push(data);
    }
    let mut out = TriMesh::default();
    let identity = [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]];
    match g.default_scene().or_else(|| g.scenes().next()) {
        Some(scene) => {
            for node in scene.nodes() {
                gltf_node(&node, &identity, &buffers, &mut out, path)?;
            }
        }
        None => {
            for mesh in g.meshes() {
                gltf_mesh(&mesh, &identity, &buffers, &mut out, path)?;
            }
        }
    }
    TriMesh::new(out.vertices, out.triangles)
}

type Mat4 = [[f64; 4]; 4];

fn format_err(path: &Path, message: String) -> BiwError {
    BiwError::Format { path: path.to_path_buf(), message }
}

fn gltf_node(
    node: &gltf::Node,
    parent: &Mat4,
    buffers: &[Vec<u8>],
    out: &mut TriMesh,
    path: &Path,
) -> Result<(), BiwError> {
    let local = node.transform().matrix();
    // Column-major: m[c][r].
    let mut world = [[0.0; 4]; 4];
    for (c, col) in world.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = (0..4).map(|k| parent[k][r] * local[c][k] as f64).sum();
        }
    }
    if let Some(mesh) = node.mesh() {
        gltf_mesh(&mesh, &world, buffers, out, path)?;
    }
    for child in node.children() {
        gltf_node(&child, &world, buffers, out, path)?;
    }
    Ok(())
}

fn gltf_mesh(mesh: &gltf::Mesh, m: &Mat4, buffers: &[Vec<u8>], out: &mut TriMesh, path: &Path) -> Result<(), BiwError> {
    for prim in mesh.primitives() {
        if prim.mode() != gltf::mesh::Mode::Triangles {
            continue;
        }
        let reader = prim.reader(|b| buffers.get(b.index()).map(|d| d.as_slice()));
        let Some(positions) = reader.read_positions() else {
            return Err(format_err(
                path,
                format!("mesh {} primitive {} has no POSITION attribute", mesh.index(), prim.index()),
            ));
        };
        let base = out.vertices.len() as u32;
        let mut n = 0u32;
        for p in positions {
            let (x, y, z) = (p[0] as f64, p[1] as f64, p[2] as f64);
            out.vertices.push(Vec3::new(
                m[0][0] * x + m[1][0] * y + m[2][0] * z + m[3][0],
                m[0][1] * x + m[1][1] * y + m[2][1] * z + m[3][1],
                m[0][2] * x + m[1][2] * y + m[2][2] * z + m[3][2],
            ));
            n += 1;
        }
        let idx: Vec<u32> = match reader.read_indices() {
            Some(i) => i.into_u32().collect(),
            None => (0..n).collect(),
        };
        if !idx.len().is_multiple_of(3) {
            return Err(format_err(
                path,
                format!(
                    "mesh {} primitive {}: {} indices is not a multiple of 3",
                    mesh.index(),
                    prim.index(),
                    idx.len()
                ),
            ));
        }
        for t in idx.chunks_exact(3) {
            if t.iter().any(|&i| i >= n) {
                return Err(format_err(
                    path,
                    format!("mesh {} primitive {}: index out of range", mesh.index(), prim.index()),
                ));
            }
            out.triangles.push([base + t[0], base + t[1], base + t[2]]);
        }
    }
    Ok(())
}

/// Standard base64 (with or without padding); `None` on an invalid character.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Encodes a mesh as a minimal glTF 2.0 JSON document with an embedded base64 buffer, placed by a node
/// translation `offset` (used by tests).
pub fn to_gltf_embedded(mesh: &TriMesh, offset: Vec3) -> String {
    let mut bin = Vec::new();
    for v in &mesh.vertices {
        for x in [v.x, v.y, v.z] {
            bin.extend_from_slice(&(x as f32).to_le_bytes());
        }
    }
    let pos_len = bin.len();
    for t in &mesh.triangles {
        for i in t {
            bin.extend_from_slice(&i.to_le_bytes());
        }
    }
    let (mut lo, mut hi) = ([f32::MAX; 3], [f32::MIN; 3]);
    for v in &mesh.vertices {
        for (k, x) in [v.x, v.y, v.z].into_iter().enumerate() {
            lo[k] = lo[k].min(x as f32);
            hi[k] = hi[k].max(x as f32);
        }
    }
    format!(
        r#"{{"asset":{{"version":"2.0"}},"scene":0,"scenes":[{{"nodes":[0]}}],"nodes":[{{"mesh":0,"translation":[{},{},{}]}}],
"meshes":[{{"primitives":[{{"attributes":{{"POSITION":0}},"indices":1}}]}}],
"buffers":[{{"byteLength":{},"uri":"data:application/octet-stream;base64,{}"}}],
"bufferViews":[{{"buffer":0,"byteOffset":0,"byteLength":{pos_len}}},{{"buffer":0,"byteOffset":{pos_len},"byteLength":{}}}],
"accessors":[{{"bufferView":0,"componentType":5126,"count":{},"type":"VEC3","min":[{},{},{}],"max":[{},{},{}]}},
{{"bufferView":1,"componentType":5125,"count":{},"type":"SCALAR"}}]}}"#,
        offset.x,
        offset.y,
        offset.z,
        bin.len(),
        encode_base64(&bin),
        bin.len() - pos_len,
        mesh.vertices.len(),
        lo[0],
        lo[1],
        lo[2],
        hi[0],
        hi[1],
        hi[2],
        mesh.triangles.len() * 3
    )
}

fn encode_base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                s.push(T[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Writes a mesh as ASCII STL text (used by tests and tools).
pub fn to_ascii_stl(mesh: &TriMesh, name: &str) -> String {
    let mut s = format!("solid {name}\n");
    for t in 0..mesh.triangles.len() {
        let [a, b, c] = mesh.triangle(t);
        let n = (b - a).cross(c - a).normalized();
        s.push_str(&format!(" facet normal {} {} {}\n  outer loop\n", n.x, n.y, n.z));
        for v in [a, b, c] {
            s.push_str(&format!("   vertex {:e} {:e} {:e}\n", v.x, v.y, v.z));
        }
        s.push_str("  endloop\n endfacet\n");
    }
    s.push_str(&format!("endsolid {name}\n"));
    s
}

/// Encodes a mesh as binary STL (f32 coordinates).
pub fn to_binary_stl(mesh: &TriMesh) -> Vec<u8> {
    let mut out = vec![0u8; 80];
    out.extend_from_slice(&(mesh.triangles.len() as u32).to_le_bytes());
    for t in 0..mesh.triangles.len() {
        let [a, b, c] = mesh.triangle(t);
        let n = (b - a).cross(c - a).normalized();
        for v in [n, a, b, c] {
            for x in [v.x, v.y, v.z] {
                out.extend_from_slice(&(x as f32).to_le_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// Writes a mesh as OBJ text.
pub fn to_obj(mesh: &TriMesh) -> String {
    let mut s = String::new();
    for v in &mesh.vertices {
        s.push_str(&format!("v {:e} {:e} {:e}\n", v.x, v.y, v.z));
    }
    for t in &mesh.triangles {
        s.push_str(&format!("f {} {} {}\n", t[0] + 1, t[1] + 1, t[2] + 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stl_ascii_binary_and_obj_round_trip() {
        let m = TriMesh::cuboid(Vec3::new(0.5, 0.25, 0.125));
        let p = Path::new("mem");
        let a = parse_stl(to_ascii_stl(&m, "box").as_bytes(), p).unwrap();
        let b = parse_stl(&to_binary_stl(&m), p).unwrap();
        let o = parse_obj(to_obj(&m).as_bytes(), p).unwrap();
        for mesh in [&a, &b, &o] {
            assert_eq!(mesh.vertices.len(), 8);
            assert_eq!(mesh.triangles.len(), 12);
            assert!(mesh.is_closed());
        }
    }

    #[test]
    fn gltf_embedded_round_trip_with_node_translation() {
        let m = TriMesh::cuboid(Vec3::new(0.5, 0.25, 0.125));
        let text = to_gltf_embedded(&m, Vec3::new(1.0, 2.0, 3.0));
        let g = parse_gltf(text.as_bytes(), Path::new("box.gltf")).unwrap();
        assert_eq!(g.triangles.len(), 12);
        assert_eq!(g.vertices.len(), 8);
        for (a, b) in g.vertices.iter().zip(&m.vertices) {
            assert!((*a - (*b + Vec3::new(1.0, 2.0, 3.0))).norm() < 1e-6);
        }
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        let err = parse_gltf(b"{not json", Path::new("bad.gltf")).unwrap_err();
        assert!(err.to_string().starts_with("bad.gltf: glTF:"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_line() {
        let err = parse_obj(b"v 0 0 0\nv 1 0 0\nf 1 2 7\n", Path::new("x.obj")).unwrap_err();
        assert_eq!(err.to_string(), "x.obj:3: face index 7 out of range (1..=2 vertices so far)");
        let err = parse_stl(b"solid a\n facet normal 0 0 1\n  outer loop\n   vertex 0 0 zz\n", Path::new("a.stl"))
            .unwrap_err();
        assert_eq!(err.to_string(), "a.stl:4: bad vertex coordinate 'zz'");
    }
}
