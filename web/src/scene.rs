//! The plant's 3D scene for the browser, built from a stage's layer stack: one JSON document (the prim
//! tree with each prim's xform ops, role, bound signals and mesh reference) and one little-endian binary
//! buffer holding the meshes (the format of docs/web.md).
//!
//! - **Composition**: the root layer and its sublayers (recursively, strongest first), read through
//!   [`twinloom_usd::Layer`] as [`twinloom_usd::LayerStack`] does: children are the union over all layers,
//!   type names and attribute defaults the strongest opinion. A sublayer that is missing, or already held
//!   in this process (the connector's live layers are held by their writers; their values reach the page
//!   through snapshots and deltas), is skipped and named in [`SceneStats::skipped_layers`].
//! - **Xform ops** are given in `xformOpOrder` order with their values (`translate`, `scale`,
//!   `rotateX|Y|Z` in degrees, the six `rotateXYZ`-like orders, `orient` as `[w, x, y, z]`, `transform` as
//!   16 numbers row-major as in OpenUSD, i.e. for row vectors); an op inverted in `xformOpOrder`
//!   (`!invert!`) carries `"invert": true`. A missing op value is the identity.
//! - **Meshes**: `points`, `faceVertexIndices`, `faceVertexCounts` (polygons of more than three vertices
//!   become triangle fans, faces of fewer are dropped) and `primvars:displayColor` (the first value, or the
//!   mean of a per-vertex or per-face one; grey when absent). Positions are quantized to int16 per geometry
//!   (`value = offset + q * scale` per axis, error at most half a step), indices are u16 below 65,536
//!   vertices and u32 above, every section starts on a 4-byte boundary, and identical meshes (same points,
//!   same triangles) share one geometry. No normals: the page computes them. `orientation`
//!   (`leftHanded`) is not applied: the page draws both sides.
//! - **Roles** come from the applied Twinloom API schemas; **signals** from `TwinloomSignalBindingAPI`
//!   instances; `attributes` are the small scalar `twinloom:*` attributes (bindings excluded); a node with a
//!   bound `State` (or `twinloom:state`) attribute names it in `stateAttr`.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use serde::Serialize;
use twinloom_usd::{Layer, UsdError, Value};

/// Where the page fetches the binary buffer (the connector serves it there).
pub const BIN_URL: &str = "/v1/scene.bin";

/// What went wrong building a scene. Every variant names the file or prim.
#[derive(Debug, thiserror::Error)]
pub enum SceneError {
    /// OpenUSD could not open a layer or read a value.
    #[error("{what}: {source}")]
    Usd {
        what: String,
        #[source]
        source: UsdError,
    },
    /// An xform op whose value has a type the op cannot have.
    #[error("{path}: xform op {op}: {why}")]
    BadOp { path: String, op: String, why: String },
    /// A mesh whose topology does not fit its points.
    #[error("mesh {path}: {why}")]
    BadMesh { path: String, why: String },
    /// The scene could not be written as JSON.
    #[error("scene JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn usd(what: impl Into<String>) -> impl FnOnce(UsdError) -> SceneError {
    let what = what.into();
    move |source| SceneError::Usd { what, source }
}

/// Counts and sizes of a built scene.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SceneStats {
    pub nodes: usize,
    pub meshes: usize,
    /// Distinct geometries after sharing identical meshes.
    pub geometries: usize,
    /// Triangles drawn (every mesh counted).
    pub triangles: usize,
    /// Triangles stored (each shared geometry once).
    pub stored_triangles: usize,
    /// Vertices stored.
    pub stored_vertices: usize,
    /// Layers of the stack that were not read, with why.
    pub skipped_layers: Vec<String>,
    /// Milliseconds spent building (reading the stage included, compression excluded).
    pub build_ms: f64,
}

/// A built scene: the JSON document and the binary buffer it indexes, with gzip forms made on first use.
#[derive(Debug)]
pub struct Scene {
    pub json: Vec<u8>,
    pub bin: Vec<u8>,
    pub stats: SceneStats,
    json_gz: OnceLock<Vec<u8>>,
    bin_gz: OnceLock<Vec<u8>>,
}

impl Scene {
    /// Builds the scene of the stage whose root layer is `root` (e.g. `plant.usda`).
    pub fn build(root: &Path) -> Result<Scene, SceneError> {
        let started = Instant::now();
        let stack = Stack::open(root)?;
        let mut b = Builder::default();
        b.walk(&stack)?;
        let stage = root.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        let up_axis = match stack.root_metadata("upAxis")? {
            Some(Value::Token(t)) | Some(Value::String(t)) => t,
            _ => "Y".to_string(),
        };
        let meters_per_unit = match stack.root_metadata("metersPerUnit")? {
            Some(Value::Double(m)) => m,
            Some(Value::Float(m)) => m as f64,
            _ => 0.01,
        };
        let doc = Document {
            stage,
            up_axis,
            meters_per_unit,
            bin: BIN_URL,
            bin_bytes: b.bin.len(),
            nodes: &b.nodes,
            geometries: &b.geometries,
            skipped_layers: &stack.skipped,
        };
        let json = serde_json::to_vec(&doc)?;
        let stats = SceneStats {
            nodes: b.nodes.len(),
            meshes: b.meshes,
            geometries: b.geometries.len(),
            triangles: b.triangles,
            stored_triangles: b.stored_triangles,
            stored_vertices: b.stored_vertices,
            skipped_layers: stack.skipped.clone(),
            build_ms: started.elapsed().as_secs_f64() * 1e3,
        };
        Ok(Scene { json, bin: b.bin, stats, json_gz: OnceLock::new(), bin_gz: OnceLock::new() })
    }

    /// The JSON document gzip-compressed (made once).
    pub fn json_gz(&self) -> &[u8] {
        self.json_gz.get_or_init(|| crate::gzip::compress(&self.json))
    }

    /// The binary buffer gzip-compressed (made once).
    pub fn bin_gz(&self) -> &[u8] {
        self.bin_gz.get_or_init(|| crate::gzip::compress(&self.bin))
    }
}

// ---------------------------------------------------------------------------------------------------
// The layer stack

/// The layers of the stage, strongest first (see the module docs for what is skipped).
struct Stack {
    layers: Vec<Layer>,
    skipped: Vec<String>,
}

/// A prim composed over the stack.
struct Prim {
    type_name: String,
    children: Vec<String>,
    properties: Vec<String>,
    /// The layers with a spec for the prim, strongest first: index and the properties it has there.
    layers: Vec<(usize, Vec<String>)>,
}

impl Stack {
    fn open(root: &Path) -> Result<Stack, SceneError> {
        let layer = Layer::open(root).map_err(usd(root.display().to_string()))?;
        let mut stack = Stack { layers: Vec::new(), skipped: Vec::new() };
        let mut seen = vec![root.canonicalize().unwrap_or_else(|_| root.to_path_buf())];
        stack.add(root, layer, &mut seen)?;
        Ok(stack)
    }

    fn add(&mut self, path: &Path, layer: Layer, seen: &mut Vec<PathBuf>) -> Result<(), SceneError> {
        let subs = layer.sublayers();
        self.layers.push(layer);
        let dir = path.parent().unwrap_or(Path::new("."));
        for sub in subs {
            let sub_path = dir.join(&sub);
            let canonical = sub_path.canonicalize().unwrap_or_else(|_| sub_path.clone());
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            if !sub_path.exists() {
                self.skipped.push(format!("{sub} (missing)"));
                continue;
            }
            match Layer::open(&sub_path) {
                Ok(l) => self.add(&sub_path, l, seen)?,
                Err(UsdError::AlreadyOpen(_)) => self.skipped.push(format!("{sub} (held by its writer)")),
                Err(e) => return Err(usd(sub_path.display().to_string())(e)),
            }
        }
        Ok(())
    }

    fn prim(&self, path: &str) -> Prim {
        let mut p = Prim { type_name: String::new(), children: Vec::new(), properties: Vec::new(), layers: Vec::new() };
        // Weakest first, so children keep the layout's namespace order.
        for (i, l) in self.layers.iter().enumerate().rev() {
            if !l.has_spec(path) {
                continue;
            }
            let Ok(spec) = l.prim(path) else { continue };
            if !spec.type_name.is_empty() {
                p.type_name = spec.type_name;
            }
            for c in spec.children {
                if !p.children.contains(&c) {
                    p.children.push(c);
                }
            }
            for c in &spec.properties {
                if !p.properties.contains(c) {
                    p.properties.push(c.clone());
                }
            }
            p.layers.insert(0, (i, spec.properties));
        }
        p
    }

    /// The strongest default of `path.name` among the prim's layers.
    fn value(&self, prim: &Prim, path: &str, name: &str) -> Result<Option<Value>, SceneError> {
        let mut attr = None;
        for (i, props) in &prim.layers {
            if !props.iter().any(|p| p == name) {
                continue;
            }
            let attr = attr.get_or_insert_with(|| format!("{path}.{name}"));
            if let Some(v) = self.layers[*i].default_value(attr).map_err(usd(attr.clone()))? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    fn api_schemas(&self, prim: &Prim, path: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (i, _) in &prim.layers {
            for s in self.layers[*i].api_schemas(path).unwrap_or_default() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    fn root_metadata(&self, key: &str) -> Result<Option<Value>, SceneError> {
        match self.layers.first() {
            Some(l) => l.metadata("/", key).map_err(usd(format!("root layer metadata {key}"))),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The document

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    stage: String,
    up_axis: String,
    meters_per_unit: f64,
    bin: &'static str,
    bin_bytes: usize,
    nodes: &'a [Node],
    geometries: &'a [Geometry],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    skipped_layers: &'a [String],
}

/// A number as authored: floats keep their short form.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(untagged)]
enum Num {
    F(f32),
    D(f64),
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
enum OpValue {
    One(Num),
    Many(Vec<Num>),
}

#[derive(Debug, Serialize)]
struct Op {
    attr: String,
    kind: String,
    value: OpValue,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    invert: bool,
}

#[derive(Debug, Serialize)]
struct MeshRef {
    geometry: usize,
    color: [f32; 3],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Signal {
    attribute: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scale: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<f64>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Num(Num),
    Text(String),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    path: String,
    parent: i64,
    #[serde(rename = "type")]
    type_name: String,
    api_schemas: Vec<String>,
    role: Option<&'static str>,
    ops: Vec<Op>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mesh: Option<MeshRef>,
    signals: Vec<Signal>,
    attributes: BTreeMap<String, Scalar>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_attr: Option<String>,
}

#[derive(Debug, Serialize)]
struct Geometry {
    /// [byte offset, vertex count]
    positions: [usize; 2],
    scale: [f64; 3],
    offset: [f64; 3],
    /// [byte offset, index count, 16 | 32]
    indices: [usize; 3],
}

/// The role of a prim by its applied Twinloom API schemas (the most specific one wins).
fn role(schemas: &[String]) -> Option<&'static str> {
    const ROLES: [(&str, &str); 9] = [
        ("TwinloomSiteAPI", "site"),
        ("TwinloomAreaAPI", "area"),
        ("TwinloomLineAPI", "line"),
        ("TwinloomStationAPI", "station"),
        ("TwinloomPaintBoothAPI", "paintBooth"),
        ("TwinloomOvenZoneAPI", "ovenZone"),
        ("TwinloomConveyorAPI", "conveyor"),
        ("TwinloomRobotAPI", "robot"),
        ("TwinloomEquipmentAPI", "equipment"),
    ];
    ROLES.iter().find(|(api, _)| schemas.iter().any(|s| s == api)).map(|(_, r)| *r)
}

/// Prim types whose subtrees hold no geometry or transforms the page draws.
fn skipped_type(t: &str) -> bool {
    matches!(t, "Material" | "Shader" | "NodeGraph" | "GeomSubset")
}

// ---------------------------------------------------------------------------------------------------
// Building

/// A geometry's source data, kept to tell identical meshes apart from hash collisions.
struct Source {
    points: Vec<[f32; 3]>,
    triangles: Vec<u32>,
}

#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    geometries: Vec<Geometry>,
    sources: Vec<Source>,
    by_hash: HashMap<u64, Vec<usize>>,
    bin: Vec<u8>,
    meshes: usize,
    triangles: usize,
    stored_triangles: usize,
    stored_vertices: usize,
}

fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

fn text(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s) | Value::Token(s) | Value::Asset(s)) => Some(s),
        _ => None,
    }
}

fn real(v: Option<Value>) -> Option<f64> {
    match v {
        Some(Value::Double(x)) => Some(x),
        Some(Value::Float(x)) => Some(x as f64),
        Some(Value::Int(i)) => Some(i as f64),
        Some(Value::Int64(i)) => Some(i as f64),
        _ => None,
    }
}

impl Builder {
    fn walk(&mut self, stack: &Stack) -> Result<(), SceneError> {
        let root = stack.prim("/");
        let mut todo: Vec<(String, i64)> = root.children.iter().rev().map(|c| (join("/", c), -1)).collect();
        while let Some((path, parent)) = todo.pop() {
            let prim = stack.prim(&path);
            if skipped_type(&prim.type_name) {
                continue;
            }
            let index = self.nodes.len() as i64;
            let node = self.node(stack, &path, parent, &prim)?;
            self.nodes.push(node);
            todo.extend(prim.children.iter().rev().map(|c| (join(&path, c), index)));
        }
        Ok(())
    }

    fn node(&mut self, stack: &Stack, path: &str, parent: i64, prim: &Prim) -> Result<Node, SceneError> {
        let api_schemas = stack.api_schemas(prim, path);
        let role = role(&api_schemas);
        let ops = ops(stack, prim, path)?;
        let mesh = if prim.type_name == "Mesh" { self.mesh(stack, prim, path)? } else { None };
        let mut signals = Vec::new();
        for s in &api_schemas {
            let Some(inst) = s.strip_prefix("TwinloomSignalBindingAPI:") else { continue };
            let field = |f: &str| stack.value(prim, path, &format!("twinloom:signal:{inst}:{f}"));
            let Some(attribute) = text(field("attribute")?) else { continue };
            signals.push(Signal {
                attribute,
                unit: text(field("unit")?),
                address: text(field("address")?),
                source_kind: text(field("sourceKind")?),
                scale: real(field("scale")?),
                offset: real(field("offset")?),
            });
        }
        let state_attr = signals
            .iter()
            .find(|s| {
                let last = s.attribute.rsplit(':').next().unwrap_or(&s.attribute);
                last.eq_ignore_ascii_case("state")
            })
            .map(|s| format!("{path}.{}", s.attribute));
        let mut attributes = BTreeMap::new();
        for name in &prim.properties {
            if !name.starts_with("twinloom:") || name.starts_with("twinloom:signal:") {
                continue;
            }
            // Only small static scalars; anything else (or a type this reader does not model) is left out.
            let scalar = match stack.value(prim, path, name) {
                Ok(Some(Value::Bool(b))) => Scalar::Bool(b),
                Ok(Some(Value::Int(i))) => Scalar::Int(i as i64),
                Ok(Some(Value::Int64(i))) => Scalar::Int(i),
                Ok(Some(Value::Float(x))) if x.is_finite() => Scalar::Num(Num::F(x)),
                Ok(Some(Value::Double(x))) if x.is_finite() => Scalar::Num(Num::D(x)),
                Ok(Some(Value::String(s) | Value::Token(s))) if s.len() <= 256 => Scalar::Text(s),
                _ => continue,
            };
            attributes.insert(name.clone(), scalar);
        }
        Ok(Node {
            path: path.to_string(),
            parent,
            type_name: prim.type_name.clone(),
            api_schemas,
            role,
            ops,
            mesh,
            signals,
            attributes,
            state_attr,
        })
    }

    fn mesh(&mut self, stack: &Stack, prim: &Prim, path: &str) -> Result<Option<MeshRef>, SceneError> {
        let bad = |why: String| SceneError::BadMesh { path: path.to_string(), why };
        let points = match stack.value(prim, path, "points")? {
            Some(Value::Point3fArray(p) | Value::Float3Array(p) | Value::Vector3fArray(p)) => p,
            None => return Ok(None),
            Some(v) => return Err(bad(format!("points of type {}", v.value_type()))),
        };
        let ints = |name: &str| -> Result<Vec<i32>, SceneError> {
            match stack.value(prim, path, name)? {
                Some(Value::IntArray(a)) => Ok(a),
                None => Ok(Vec::new()),
                Some(v) => Err(bad(format!("{name} of type {}", v.value_type()))),
            }
        };
        let indices = ints("faceVertexIndices")?;
        let counts = ints("faceVertexCounts")?;
        if points.is_empty() || counts.is_empty() {
            return Ok(None);
        }
        let triangles = triangulate(&counts, &indices, points.len()).map_err(bad)?;
        if triangles.is_empty() {
            return Ok(None);
        }
        if let Some(p) = points.iter().flatten().find(|c| !c.is_finite()) {
            return Err(bad(format!("a point coordinate is {p}")));
        }
        let color = match stack.value(prim, path, "primvars:displayColor")? {
            Some(Value::Color3fArray(c) | Value::Float3Array(c)) if !c.is_empty() => {
                let n = c.len() as f32;
                let sum = c.iter().fold([0.0f32; 3], |a, v| [a[0] + v[0], a[1] + v[1], a[2] + v[2]]);
                sum.map(|s| s / n)
            }
            _ => [0.6, 0.6, 0.6],
        };
        self.meshes += 1;
        self.triangles += triangles.len() / 3;
        let geometry = self.geometry(points, triangles);
        Ok(Some(MeshRef { geometry, color }))
    }

    /// The index of the geometry of these points and triangles, added when no identical one exists.
    fn geometry(&mut self, points: Vec<[f32; 3]>, triangles: Vec<u32>) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        points.len().hash(&mut h);
        for p in &points {
            p.map(f32::to_bits).hash(&mut h);
        }
        triangles.hash(&mut h);
        let key = h.finish();
        if let Some(found) = self.by_hash.get(&key).and_then(|c| {
            c.iter().copied().find(|&i| self.sources[i].points == points && self.sources[i].triangles == triangles)
        }) {
            return found;
        }
        let index = self.geometries.len();
        let (scale, offset) = quantization(&points);
        align4(&mut self.bin);
        let pos_offset = self.bin.len();
        self.bin.reserve(points.len() * 6 + triangles.len() * 4 + 4);
        for p in &points {
            for axis in 0..3 {
                self.bin.extend_from_slice(&quantize(p[axis], scale[axis], offset[axis]).to_le_bytes());
            }
        }
        align4(&mut self.bin);
        let idx_offset = self.bin.len();
        let bits = if points.len() < 65_536 {
            for &i in &triangles {
                self.bin.extend_from_slice(&(i as u16).to_le_bytes());
            }
            16
        } else {
            for &i in &triangles {
                self.bin.extend_from_slice(&i.to_le_bytes());
            }
            32
        };
        self.stored_triangles += triangles.len() / 3;
        self.stored_vertices += points.len();
        self.geometries.push(Geometry {
            positions: [pos_offset, points.len()],
            scale,
            offset,
            indices: [idx_offset, triangles.len(), bits],
        });
        self.by_hash.entry(key).or_default().push(index);
        self.sources.push(Source { points, triangles });
        index
    }
}

fn align4(bin: &mut Vec<u8>) {
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
}

/// Per-axis scale and offset mapping the points' bounding box onto -32767..=32767.
fn quantization(points: &[[f32; 3]]) -> ([f64; 3], [f64; 3]) {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for p in points {
        for a in 0..3 {
            lo[a] = lo[a].min(p[a] as f64);
            hi[a] = hi[a].max(p[a] as f64);
        }
    }
    let offset = std::array::from_fn(|a| (lo[a] + hi[a]) / 2.0);
    let scale = std::array::from_fn(|a| {
        let half = (hi[a] - lo[a]) / 2.0;
        if half > 0.0 {
            half / 32767.0
        } else {
            1.0
        }
    });
    (scale, offset)
}

fn quantize(x: f32, scale: f64, offset: f64) -> i16 {
    ((x as f64 - offset) / scale).round().clamp(-32767.0, 32767.0) as i16
}

/// Triangle fans of the faces (faces of fewer than three vertices dropped), checked against the points.
fn triangulate(counts: &[i32], indices: &[i32], points: usize) -> Result<Vec<u32>, String> {
    let mut out = Vec::with_capacity(indices.len().saturating_sub(counts.len() * 2) * 3);
    let mut at = 0usize;
    for (face, &n) in counts.iter().enumerate() {
        let n = usize::try_from(n).map_err(|_| format!("face {face} has {n} vertices"))?;
        let Some(face_indices) = indices.get(at..at + n) else {
            return Err(format!(
                "faceVertexCounts needs more than the {} faceVertexIndices (at face {face})",
                indices.len()
            ));
        };
        at += n;
        let mut checked = Vec::with_capacity(n);
        for &i in face_indices {
            match usize::try_from(i) {
                Ok(u) if u < points && u <= u32::MAX as usize => checked.push(u as u32),
                _ => return Err(format!("face {face} uses point {i}, but there are {points} points")),
            }
        }
        for k in 1..n.saturating_sub(1) {
            out.extend_from_slice(&[checked[0], checked[k], checked[k + 1]]);
        }
    }
    Ok(out)
}

fn vec3(v: Value) -> Option<Vec<Num>> {
    Some(match v {
        Value::Double3(a) => a.iter().map(|&x| Num::D(x)).collect(),
        Value::Float3(a) | Value::Vector3f(a) | Value::Point3f(a) | Value::Color3f(a) => {
            a.iter().map(|&x| Num::F(x)).collect()
        }
        _ => return None,
    })
}

/// The node's xform ops in `xformOpOrder` order.
fn ops(stack: &Stack, prim: &Prim, path: &str) -> Result<Vec<Op>, SceneError> {
    let order = match stack.value(prim, path, "xformOpOrder")? {
        Some(Value::TokenArray(t) | Value::StringArray(t)) => t,
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::with_capacity(order.len());
    for entry in order {
        let (invert, attr) = match entry.strip_prefix("!invert!") {
            Some(a) => (true, a.to_string()),
            None => (false, entry),
        };
        let bad = |why: String| SceneError::BadOp { path: path.to_string(), op: attr.clone(), why };
        let kind = attr
            .strip_prefix("xformOp:")
            .map(|rest| rest.split(':').next().unwrap_or(rest).to_string())
            .ok_or_else(|| bad("not an xformOp: attribute".into()))?;
        let v = stack.value(prim, path, &attr)?;
        let value = match kind.as_str() {
            "translate" | "scale" => match v {
                None if kind == "scale" => OpValue::Many(vec![Num::D(1.0); 3]),
                None => OpValue::Many(vec![Num::D(0.0); 3]),
                Some(v) => {
                    let t = v.value_type();
                    OpValue::Many(vec3(v).ok_or_else(|| bad(format!("a {t} value")))?)
                }
            },
            "rotateX" | "rotateY" | "rotateZ" => match v {
                None => OpValue::One(Num::D(0.0)),
                Some(Value::Float(x)) => OpValue::One(Num::F(x)),
                Some(Value::Double(x)) => OpValue::One(Num::D(x)),
                Some(v) => return Err(bad(format!("a {} value", v.value_type()))),
            },
            "rotateXYZ" | "rotateXZY" | "rotateYXZ" | "rotateYZX" | "rotateZXY" | "rotateZYX" => match v {
                None => OpValue::Many(vec![Num::D(0.0); 3]),
                Some(v) => {
                    let t = v.value_type();
                    OpValue::Many(vec3(v).ok_or_else(|| bad(format!("a {t} value")))?)
                }
            },
            "orient" => match v {
                None => OpValue::Many(vec![Num::D(1.0), Num::D(0.0), Num::D(0.0), Num::D(0.0)]),
                Some(Value::Quatf(q)) => OpValue::Many(q.iter().map(|&x| Num::F(x)).collect()),
                Some(Value::Quatd(q)) => OpValue::Many(q.iter().map(|&x| Num::D(x)).collect()),
                Some(v) => return Err(bad(format!("a {} value", v.value_type()))),
            },
            "transform" => match v {
                None => OpValue::Many((0..16).map(|i| Num::D(if i % 5 == 0 { 1.0 } else { 0.0 })).collect()),
                Some(Value::Matrix4d(m)) => OpValue::Many(m.iter().map(|&x| Num::D(x)).collect()),
                Some(v) => return Err(bad(format!("a {} value", v.value_type()))),
            },
            other => return Err(bad(format!("unknown op kind {other:?}"))),
        };
        out.push(Op { attr, kind, value, invert });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinloom_usd::{AttributeDef, Specifier, ValueType};

    fn tiny_stage(dir: &Path) -> PathBuf {
        let root = dir.join("plant.usda");
        let geo = dir.join("geo.usda");
        {
            let mut g = Layer::create_new(&geo).unwrap();
            let quad = |g: &mut Layer, path: &str, dx: f32| {
                g.define_prim(path, Specifier::Def, "Mesh").unwrap();
                let pts = vec![[dx, 0.0, 0.0], [dx + 2.0, 0.0, 0.0], [dx + 2.0, 1.0, 0.5], [dx, 1.0, 0.5]];
                g.set_attribute(path, &AttributeDef::new("points", ValueType::Point3fArray), &Value::Point3fArray(pts))
                    .unwrap();
                g.set_attribute(
                    path,
                    &AttributeDef::new("faceVertexIndices", ValueType::IntArray),
                    &Value::IntArray(vec![0, 1, 2, 3]),
                )
                .unwrap();
                g.set_attribute(
                    path,
                    &AttributeDef::new("faceVertexCounts", ValueType::IntArray),
                    &Value::IntArray(vec![4]),
                )
                .unwrap();
                g.set_attribute(
                    path,
                    &AttributeDef::new("primvars:displayColor", ValueType::Color3fArray),
                    &Value::Color3fArray(vec![[1.0, 0.5, 0.25]]),
                )
                .unwrap();
            };
            g.define_prim("/Plant", Specifier::Over, "").unwrap();
            g.define_prim("/Plant/Arm", Specifier::Over, "").unwrap();
            quad(&mut g, "/Plant/Arm/Body", 0.0);
            quad(&mut g, "/Plant/Arm/Twin", 0.0);
            quad(&mut g, "/Plant/Arm/Other", 5.0);
            g.save().unwrap();
        }
        let mut l = Layer::create_new(&root).unwrap();
        l.set_sublayers(&["geo.usda", "missing.usda"]).unwrap();
        l.set_up_axis(twinloom_usd::UpAxis::Z).unwrap();
        l.set_meters_per_unit(1.0).unwrap();
        l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
        l.set_api_schemas("/Plant", &["TwinloomSiteAPI"]).unwrap();
        l.define_prim("/Plant/Arm", Specifier::Def, "Xform").unwrap();
        l.set_api_schemas("/Plant/Arm", &["TwinloomRobotAPI", "TwinloomSignalBindingAPI:xformOp_rotateZ"]).unwrap();
        let arm = "/Plant/Arm";
        l.set_attribute(
            arm,
            &AttributeDef::new("xformOp:translate", ValueType::Double3),
            &Value::Double3([1.5, -2.0, 0.25]),
        )
        .unwrap();
        l.set_attribute(arm, &AttributeDef::new("xformOp:rotateZ", ValueType::Float), &Value::Float(30.0)).unwrap();
        l.set_attribute(
            arm,
            &AttributeDef::new("xformOpOrder", ValueType::TokenArray).uniform(),
            &Value::TokenArray(vec!["xformOp:translate".into(), "xformOp:rotateZ".into()]),
        )
        .unwrap();
        let sig = |n: &str| format!("twinloom:signal:xformOp_rotateZ:{n}");
        for (n, v) in [("attribute", "xformOp:rotateZ"), ("unit", "deg"), ("sourceKind", "opcua")] {
            l.set_attribute(arm, &AttributeDef::new(&sig(n), ValueType::Token).uniform(), &Value::Token(v.into()))
                .unwrap();
        }
        l.set_attribute(
            arm,
            &AttributeDef::new(&sig("address"), ValueType::String).uniform(),
            &Value::String("ns=2;s=Arm/J1".into()),
        )
        .unwrap();
        l.set_attribute(
            arm,
            &AttributeDef::new("twinloom:equipmentId", ValueType::String).uniform(),
            &Value::String("R01".into()),
        )
        .unwrap();
        l.save().unwrap();
        root
    }

    #[test]
    fn tiny_stage_scene() {
        let tmp = twinloom_tests::TempDir::new("web-scene");
        let root = tiny_stage(tmp.path());
        let scene = Scene::build(&root).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&scene.json).unwrap();
        assert_eq!(doc["stage"], "plant.usda");
        assert_eq!(doc["upAxis"], "Z");
        assert_eq!(doc["metersPerUnit"], 1.0);
        assert_eq!(doc["binBytes"], scene.bin.len());
        assert_eq!(doc["skippedLayers"][0], "missing.usda (missing)");
        let nodes = doc["nodes"].as_array().unwrap();
        let paths: Vec<&str> = nodes.iter().map(|n| n["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["/Plant", "/Plant/Arm", "/Plant/Arm/Body", "/Plant/Arm/Twin", "/Plant/Arm/Other"]);
        assert_eq!(nodes[0]["parent"], -1);
        assert_eq!(nodes[0]["role"], "site");
        let arm = &nodes[1];
        assert_eq!(arm["parent"], 0);
        assert_eq!(arm["role"], "robot");
        assert_eq!(arm["type"], "Xform");
        assert_eq!(
            arm["ops"],
            serde_json::json!([
                {"attr": "xformOp:translate", "kind": "translate", "value": [1.5, -2.0, 0.25]},
                {"attr": "xformOp:rotateZ", "kind": "rotateZ", "value": 30.0}
            ])
        );
        assert_eq!(arm["signals"][0]["attribute"], "xformOp:rotateZ");
        assert_eq!(arm["signals"][0]["unit"], "deg");
        assert_eq!(arm["signals"][0]["address"], "ns=2;s=Arm/J1");
        assert_eq!(arm["signals"][0]["sourceKind"], "opcua");
        assert_eq!(arm["attributes"]["twinloom:equipmentId"], "R01");
        // The quad is two triangles; the identical Twin shares its geometry, Other has its own.
        assert_eq!(nodes[2]["mesh"]["geometry"], 0);
        assert_eq!(nodes[3]["mesh"]["geometry"], 0);
        assert_eq!(nodes[4]["mesh"]["geometry"], 1);
        assert_eq!(nodes[2]["mesh"]["color"], serde_json::json!([1.0, 0.5, 0.25]));
        assert_eq!(scene.stats.geometries, 2);
        assert_eq!(scene.stats.triangles, 6);
        assert_eq!(scene.stats.stored_triangles, 4);
        let g = &doc["geometries"][0];
        assert_eq!(g["positions"][1], 4);
        assert_eq!(g["indices"][1], 6);
        assert_eq!(g["indices"][2], 16);
        let (idx_off, pos_off) = (g["indices"][0].as_u64().unwrap() as usize, g["positions"][0].as_u64().unwrap());
        assert_eq!(idx_off % 4, 0);
        assert_eq!(pos_off % 4, 0);
        let idx: Vec<u16> =
            (0..6).map(|k| u16::from_le_bytes([scene.bin[idx_off + 2 * k], scene.bin[idx_off + 2 * k + 1]])).collect();
        assert_eq!(idx, [0, 1, 2, 0, 2, 3]);
        // Dequantized positions are within half a step of the points.
        let pts = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [2.0, 1.0, 0.5], [0.0, 1.0, 0.5]];
        for (v, p) in pts.iter().enumerate() {
            for a in 0..3 {
                let at = pos_off as usize + 6 * v + 2 * a;
                let q = i16::from_le_bytes([scene.bin[at], scene.bin[at + 1]]) as f64;
                let scale = g["scale"][a].as_f64().unwrap();
                let x = g["offset"][a].as_f64().unwrap() + q * scale;
                assert!((x - p[a]).abs() <= scale / 2.0 + 1e-9, "vertex {v} axis {a}: {x} vs {}", p[a]);
            }
        }
        assert!(scene.json_gz().len() < scene.json.len());
        assert!(!scene.bin_gz().is_empty());
    }

    #[test]
    fn every_op_kind_and_held_layers() {
        let tmp = twinloom_tests::TempDir::new("web-ops");
        let root = tmp.path().join("plant.usda");
        let live = tmp.path().join("live.usda");
        let mut held = Layer::create_new(&live).unwrap();
        held.define_prim("/Plant", Specifier::Over, "").unwrap();
        held.upsert_default("/Plant.xformOp:rotateX", &Value::Float(45.0)).unwrap();
        held.save().unwrap();
        {
            let mut l = Layer::create_new(&root).unwrap();
            l.set_sublayers(&["live.usda"]).unwrap();
            let p = "/Plant";
            l.define_prim(p, Specifier::Def, "Xform").unwrap();
            let attr = |l: &mut Layer, name: &str, v: Value| {
                l.set_attribute(p, &AttributeDef::new(name, v.value_type()), &v).unwrap();
            };
            attr(&mut l, "xformOp:translate:pivot", Value::Float3([1.0, 2.0, 3.0]));
            attr(&mut l, "xformOp:orient", Value::Quatf([1.0, 0.0, 0.0, 0.0]));
            attr(&mut l, "xformOp:scale", Value::Float3([2.0, 2.0, 2.0]));
            attr(&mut l, "xformOp:rotateXYZ", Value::Float3([10.0, 20.0, 30.0]));
            let mut m = [0.0; 16];
            for i in [0, 5, 10, 15] {
                m[i] = 1.0;
            }
            m[12] = 7.0;
            attr(&mut l, "xformOp:transform", Value::Matrix4d(m));
            let order = [
                "xformOp:translate:pivot",
                "xformOp:orient",
                "xformOp:scale",
                "xformOp:rotateXYZ",
                "xformOp:transform",
                "xformOp:rotateX",
                "!invert!xformOp:translate:pivot",
            ];
            attr(&mut l, "xformOpOrder", Value::TokenArray(order.iter().map(|s| s.to_string()).collect()));
            l.save().unwrap();
        }
        // The sublayer is held (as the connector's writers hold the live layers): it is skipped.
        let scene = Scene::build(&root).unwrap();
        assert_eq!(scene.stats.skipped_layers, ["live.usda (held by its writer)"]);
        let doc: serde_json::Value = serde_json::from_slice(&scene.json).unwrap();
        let ops = &doc["nodes"][0]["ops"];
        let kinds: Vec<&str> = ops.as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["translate", "orient", "scale", "rotateXYZ", "transform", "rotateX", "translate"]);
        assert_eq!(ops[0]["attr"], "xformOp:translate:pivot");
        assert_eq!(ops[1]["value"], serde_json::json!([1.0, 0.0, 0.0, 0.0]));
        assert_eq!(ops[3]["value"], serde_json::json!([10.0, 20.0, 30.0]));
        assert_eq!(ops[4]["value"][12], 7.0);
        assert_eq!(ops[5]["value"], 0.0, "the held layer's 45 is not read: identity");
        assert_eq!(ops[6]["invert"], true);
        assert!(ops[0].get("invert").is_none());
        // Released, the sublayer is read.
        drop(held);
        let doc: serde_json::Value = serde_json::from_slice(&Scene::build(&root).unwrap().json).unwrap();
        assert_eq!(doc["nodes"][0]["ops"][5]["value"], 45.0);
    }

    #[test]
    fn an_op_of_the_wrong_type_is_a_typed_error() {
        let tmp = twinloom_tests::TempDir::new("web-bad-op");
        let root = tmp.path().join("plant.usda");
        {
            let mut l = Layer::create_new(&root).unwrap();
            l.define_prim("/Plant", Specifier::Def, "Xform").unwrap();
            l.upsert_default("/Plant.xformOp:rotateZ", &Value::String("ninety".into())).unwrap();
            l.upsert_default("/Plant.xformOpOrder", &Value::TokenArray(vec!["xformOp:rotateZ".into()])).unwrap();
            l.save().unwrap();
        }
        match Scene::build(&root).unwrap_err() {
            SceneError::BadOp { path, op, .. } => {
                assert_eq!((path.as_str(), op.as_str()), ("/Plant", "xformOp:rotateZ"))
            }
            e => panic!("{e}"),
        }
    }

    #[test]
    fn quantization_error_is_half_a_step() {
        let points: Vec<[f32; 3]> =
            (0..1000).map(|i| [i as f32 * 0.37 - 100.0, (i as f32).sin() * 50.0, 3.0]).collect();
        let (scale, offset) = quantization(&points);
        for p in &points {
            for a in 0..3 {
                let q = quantize(p[a], scale[a], offset[a]) as f64;
                let err = (offset[a] + q * scale[a] - p[a] as f64).abs();
                assert!(err <= scale[a] / 2.0 + 1e-9, "{err} > {}", scale[a] / 2.0);
            }
        }
        // A flat axis quantizes exactly.
        assert_eq!(quantize(3.0, scale[2], offset[2]), 0);
        assert_eq!(offset[2], 3.0);
    }

    #[test]
    fn triangulation_checks_its_input() {
        assert_eq!(triangulate(&[3, 5], &[0, 1, 2, 0, 1, 2, 3, 4], 5).unwrap(), [0, 1, 2, 0, 1, 2, 0, 2, 3, 0, 3, 4]);
        assert_eq!(triangulate(&[2, 3], &[0, 1, 0, 1, 2], 3).unwrap(), [0, 1, 2]);
        assert!(triangulate(&[4], &[0, 1, 2], 3).unwrap_err().contains("faceVertexCounts"));
        assert!(triangulate(&[3], &[0, 1, 7], 3).unwrap_err().contains("point 7"));
        assert!(triangulate(&[3], &[0, -1, 2], 3).is_err());
        assert!(triangulate(&[-3], &[0, 1, 2], 3).is_err());
    }

    #[test]
    fn missing_root_is_a_typed_error() {
        let e = Scene::build(Path::new("/nonexistent/plant.usda")).unwrap_err();
        assert!(matches!(e, SceneError::Usd { .. }), "{e}");
    }
}
