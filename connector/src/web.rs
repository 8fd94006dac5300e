//! The web view (issue 21, docs/web.md) on the connector's own address: `GET /` (the page), `GET
//! /web/{file}` (its files, embedded in the binary by twinloom-web), `GET /v1/scene` and `GET
//! /v1/scene.bin` (the plant's 3D scene, built from the stage at the first request and kept: the layout
//! is static; the live values come from snapshots and deltas). Everything is sent gzip-compressed when the
//! request accepts it. These routes are open like `/v1/live` and `/v1/snapshot`: reading the twin needs no
//! token; only the command API and `POST /v1/mes` take bearer tokens.
//!
//! Also here: the JSON form of a layer's values for `/v1/snapshot?format=json` ([`layer_edits`], used
//! for the MES layer; the shop writers answer from their interned attributes).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use twinloom_usd::{Layer, UsdError};
use twinloom_web::{assets, gzip, Scene};

use crate::delta::{LiveValue, SetRef};

/// The scene's bodies, made once (compression included).
struct SceneBodies {
    json: Bytes,
    json_gz: Bytes,
    bin: Bytes,
    bin_gz: Bytes,
}

/// The web view's state: where the stage is, and its scene once built.
pub struct WebView {
    root: PathBuf,
    scene: tokio::sync::Mutex<Option<Arc<SceneBodies>>>,
}

impl WebView {
    /// The web view of the stage whose root layer is `root` (`<stage folder>/plant.usda`).
    pub fn new(root: PathBuf) -> Arc<WebView> {
        Arc::new(WebView { root, scene: tokio::sync::Mutex::new(None) })
    }

    /// The scene, built at the first call (a failed build is tried again at the next request).
    async fn scene(&self) -> Result<Arc<SceneBodies>, String> {
        let mut slot = self.scene.lock().await;
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let root = self.root.clone();
        let built = tokio::task::spawn_blocking(move || {
            let scene = Scene::build(&root).map_err(|e| format!("building the scene of {}: {e}", root.display()))?;
            let s = &scene.stats;
            tracing::info!(
                nodes = s.nodes,
                meshes = s.meshes,
                geometries = s.geometries,
                triangles = s.triangles,
                json_bytes = scene.json.len(),
                bin_bytes = scene.bin.len(),
                build_ms = s.build_ms,
                skipped = ?s.skipped_layers,
                "web scene built"
            );
            Ok::<_, String>(SceneBodies {
                json_gz: Bytes::copy_from_slice(scene.json_gz()),
                bin_gz: Bytes::copy_from_slice(scene.bin_gz()),
                json: Bytes::from(scene.json),
                bin: Bytes::from(scene.bin),
            })
        })
        .await
        .map_err(|e| format!("the scene build stopped: {e}"))??;
        let built = Arc::new(built);
        *slot = Some(built.clone());
        Ok(built)
    }
}

/// The routes of the web view.
pub fn router(web: Arc<WebView>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/web/{*file}", get(file))
        .route("/v1/scene", get(scene_json))
        .route("/v1/scene.bin", get(scene_bin))
        .with_state(web)
}

fn wants_gzip(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).is_some_and(gzip::accepts_gzip)
}

/// A body in its plain or gzip form, whichever the request accepts.
fn body(
    headers: &HeaderMap,
    plain: Bytes,
    gz: Option<Bytes>,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut r = match gz.filter(|_| wants_gzip(headers)) {
        Some(gz) => {
            let mut r = gz.into_response();
            r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => plain.into_response(),
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    r
}

fn asset(headers: &HeaderMap, path: &str) -> Response {
    match assets::get(path) {
        Some(a) => body(
            headers,
            Bytes::from_static(a.bytes),
            a.gzipped().map(Bytes::from_static),
            a.content_type(),
            a.cache_control(),
        ),
        None => (StatusCode::NOT_FOUND, format!("no file {path:?} in the web view\n")).into_response(),
    }
}

async fn index(headers: HeaderMap) -> Response {
    asset(&headers, "index.html")
}

async fn file(headers: HeaderMap, Path(file): Path<String>) -> Response {
    asset(&headers, &file)
}

async fn scene_json(State(web): State<Arc<WebView>>, headers: HeaderMap) -> Response {
    match web.scene().await {
        Ok(s) => body(&headers, s.json.clone(), Some(s.json_gz.clone()), "application/json", "no-cache"),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn scene_bin(State(web): State<Arc<WebView>>, headers: HeaderMap) -> Response {
    match web.scene().await {
        Ok(s) => body(&headers, s.bin.clone(), Some(s.bin_gz.clone()), "application/octet-stream", "no-cache"),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Every attribute default of `layer` that has a live type, as the JSON array of a delta's `set` edits
/// (prims in namespace order, attributes in the layer's order).
pub fn layer_edits(layer: &Layer) -> Result<String, UsdError> {
    let mut edits: Vec<(String, &'static str, LiveValue)> = Vec::new();
    let mut todo = vec!["/".to_string()];
    while let Some(path) = todo.pop() {
        let prim = layer.prim(&path)?;
        if path != "/" {
            for name in &prim.properties {
                let attr = format!("{path}.{name}");
                // Relationships and values of other types are not part of the live protocol.
                let Ok(Some(v)) = layer.default_value(&attr) else { continue };
                let ty = v.value_type().sdf_name();
                if let Some(v) = LiveValue::from_usd(v) {
                    edits.push((attr, ty, v));
                }
            }
        }
        let base = if path == "/" { String::new() } else { path.clone() };
        todo.extend(prim.children.iter().rev().map(|c| format!("{base}/{c}")));
    }
    let refs: Vec<SetRef> = edits
        .iter()
        .map(|(attr, ty, value)| {
            let (prim, name) = attr.split_once('.').unwrap_or((attr.as_str(), ""));
            SetRef {
                op: "set",
                path: crate::shop_attrs::AttrPath { prim, name },
                value_type: ty,
                value,
                source_time_ms: None,
            }
        })
        .collect();
    serde_json::to_string(&refs).map_err(|e| UsdError::Io(format!("JSON of the layer's values: {e}")))
}

/// The body of `/v1/snapshot?format=json`: the snapshot's edits with its shop, layer, seq and epoch.
pub fn snapshot_json_body(shop: &str, layer: &str, seq: u64, epoch: u64, edits: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    format!(r#"{{"shop":{},"layer":{},"seq":{seq},"epoch":{epoch},"edits":{edits}}}"#, q(shop), q(layer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinloom_usd::{Specifier, Value};

    #[test]
    fn layer_values_as_edits() {
        let mut l = Layer::create_anonymous("web-edits", "usda").unwrap();
        l.define_prim("/Plant", Specifier::Over, "").unwrap();
        l.upsert_default("/Plant/Line/Station01.State", &Value::Token("running".into())).unwrap();
        l.upsert_default("/Plant/Line.twinloom:taktTime", &Value::Double(60.5)).unwrap();
        l.upsert_default("/Plant/Line.points", &Value::Point3fArray(vec![[0.0; 3]])).unwrap();
        let edits: serde_json::Value = serde_json::from_str(&layer_edits(&l).unwrap()).unwrap();
        assert_eq!(
            edits,
            serde_json::json!([
                {"op": "set", "path": "/Plant/Line.twinloom:taktTime", "type": "double", "value": 60.5},
                {"op": "set", "path": "/Plant/Line/Station01.State", "type": "token", "value": "running"}
            ])
        );
        let body = snapshot_json_body("mes", "mes.usda", 7, 9, "[]");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v, serde_json::json!({"shop": "mes", "layer": "mes.usda", "seq": 7, "epoch": 9, "edits": []}));
    }
}
