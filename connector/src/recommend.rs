//! Recommendations on the running service (docs/prescriptive.md, "On the service"): the results layer
//! `recommendations.usda` that `twinloom recommend --stage` writes into the stage folder is read by the
//! service (checked every [`POLL`]), served as JSON (`GET /v1/recommendations`) and sent to every live
//! client as a `recommendations` message whenever it changes. Operators move a recommendation through its
//! states with `POST /v1/recommendations/{id}/state` (`approved` or `rejected`, with who); the state is
//! written back into the layer (`twinloom:rec:state`, `:stateBy`, `:stateTime`), so any USD app that opens
//! the layer sees it. Recommendations that a new `twinloom recommend` run no longer lists are announced
//! as `superseded`. The connector knows nothing of how recommendations are made (the floors): it only
//! reads and writes the documented attributes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path as AxumPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use twinloom_usd::{Layer, UsdError, Value};

use crate::hub::Hub;

/// The results layer's file name in the stage folder.
pub const FILE: &str = "recommendations.usda";
/// How often the service looks at the layer's modification time.
pub const POLL: Duration = Duration::from_secs(1);
/// The attribute namespace of a recommendation.
const NS: &str = "twinloom:rec:";
/// The states an operator may set, and from which states.
const TRANSITIONS: [(&str, &[&str]); 2] = [("approved", &["proposed"]), ("rejected", &["proposed", "approved"])];

/// Why a state change was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("no recommendation {0:?} in {FILE}")]
    Unknown(String),
    #[error("recommendation {id} is {from}: it cannot become {to} (allowed: {allowed})")]
    Transition { id: String, from: String, to: String, allowed: String },
    #[error("bad request: {0}")]
    Bad(String),
    #[error("{FILE}: {0}")]
    Usd(#[from] UsdError),
}

/// The service's view of the stage folder's recommendations.
pub struct Recommendations {
    path: PathBuf,
    hub: Arc<Hub>,
    state: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    modified: Option<SystemTime>,
    /// By id, in rank order when listed.
    items: BTreeMap<String, Json>,
    /// Prim path of each id in the layer.
    prims: BTreeMap<String, String>,
}

/// A USD value as JSON (the types the results layer uses).
fn to_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Int64(i) => json!(i),
        Value::Float(x) => json!(x),
        Value::Double(x) => json!(x),
        Value::String(s) | Value::Token(s) | Value::Asset(s) => json!(s),
        Value::StringArray(a) | Value::TokenArray(a) => json!(a),
        Value::DoubleArray(a) => json!(a),
        _ => Json::Null,
    }
}

/// One recommendation as read from the layer: its id, its prim path, its fields without the namespace.
type ReadRecommendation = (String, String, Map<String, Json>);

/// Every recommendation of the layer at `path`.
fn read(path: &Path) -> Result<Vec<ReadRecommendation>, UsdError> {
    let layer = Layer::open(path)?;
    let mut out = Vec::new();
    for root in layer.prim("/")?.children {
        let scope = format!("/{root}/Recommendations");
        if !layer.has_spec(&scope) {
            continue;
        }
        for child in layer.prim(&scope)?.children {
            let prim = format!("{scope}/{child}");
            let mut fields = Map::new();
            for name in layer.prim(&prim)?.properties {
                let Some(field) = name.strip_prefix(NS) else { continue };
                if let Ok(Some(v)) = layer.default_value(&format!("{prim}.{name}")) {
                    fields.insert(field.to_string(), to_json(&v));
                }
            }
            // `writes` is the JSON of the recommendation's writes: handed on as JSON.
            if let Some(Json::String(w)) = fields.get("writes") {
                if let Ok(parsed) = serde_json::from_str::<Json>(w) {
                    fields.insert("writes".into(), parsed);
                }
            }
            if let Some(id) = fields.get("id").and_then(Json::as_str).map(String::from) {
                out.push((id, prim, fields));
            }
        }
    }
    Ok(out)
}

impl Recommendations {
    /// The recommendations of `stage_dir` (none until `recommendations.usda` appears).
    pub fn new(stage_dir: &Path, hub: Arc<Hub>) -> Arc<Self> {
        Arc::new(Recommendations { path: stage_dir.join(FILE), hub, state: Mutex::new(Loaded::default()) })
    }

    /// Reads the layer again when it changed on disk; each change goes to every live client as a
    /// `recommendations` message, with the ids a new run no longer lists as `superseded`.
    pub fn poll(&self) {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if modified == st.modified {
            return;
        }
        st.modified = modified;
        let read = match modified {
            None => Ok(Vec::new()),
            Some(_) => read(&self.path),
        };
        let read = match read {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), "recommendations not read: {e}");
                return;
            }
        };
        let before: Vec<String> = st.items.keys().cloned().collect();
        st.items.clear();
        st.prims.clear();
        for (id, prim, fields) in read {
            st.prims.insert(id.clone(), prim);
            st.items.insert(id, Json::Object(fields));
        }
        let superseded: Vec<String> = before.into_iter().filter(|id| !st.items.contains_key(id)).collect();
        tracing::info!(count = st.items.len(), superseded = superseded.len(), "recommendations loaded");
        self.hub.notify(message(&st, &superseded).to_string());
    }

    /// The recommendations now, in rank order.
    pub fn list(&self) -> Json {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        message(&st, &[])
    }

    /// Sets a recommendation's state (`approved` or `rejected`) in the layer and tells every client.
    pub fn set_state(&self, id: &str, to: &str, by: &str) -> Result<Json, RecommendError> {
        let allowed = TRANSITIONS
            .iter()
            .find(|(s, _)| *s == to)
            .map(|(_, from)| *from)
            .ok_or_else(|| RecommendError::Bad(format!("state {to:?}: an operator sets approved or rejected")))?;
        if by.trim().is_empty() || by.chars().count() > 200 {
            return Err(RecommendError::Bad("`by` names who decides (1 to 200 characters)".into()));
        }
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let item = st.items.get(id).ok_or_else(|| RecommendError::Unknown(id.to_string()))?;
        let from = item.get("state").and_then(Json::as_str).unwrap_or("proposed").to_string();
        if !allowed.contains(&from.as_str()) {
            return Err(RecommendError::Transition { id: id.into(), from, to: to.into(), allowed: allowed.join(", ") });
        }
        let prim = st.prims.get(id).cloned().ok_or_else(|| RecommendError::Unknown(id.to_string()))?;
        let when = crate::delta::epoch_ms(SystemTime::now());
        let mut layer = Layer::open(&self.path)?;
        let fields = [
            ("state", Value::Token(to.into())),
            ("stateBy", Value::String(by.trim().into())),
            ("stateTimeMs", Value::Double(when)),
        ];
        for (field, value) in &fields {
            layer.upsert_default(&format!("{prim}.{NS}{field}"), value)?;
        }
        layer.export_atomic(&self.path)?;
        drop(layer);
        st.modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if let Some(Json::Object(o)) = st.items.get_mut(id) {
            for (field, value) in &fields {
                o.insert((*field).into(), to_json(value));
            }
        }
        self.hub.notify(message(&st, &[]).to_string());
        Ok(st.items.get(id).cloned().unwrap_or(Json::Null))
    }
}

/// `{"type":"recommendations","items":[…],"superseded":[…]}`, items by rank.
fn message(st: &Loaded, superseded: &[String]) -> Json {
    let mut items: Vec<&Json> = st.items.values().collect();
    items.sort_by(|a, b| {
        let rank = |j: &Json| j.get("rank").and_then(Json::as_i64).unwrap_or(i64::MAX);
        rank(a).cmp(&rank(b))
    });
    json!({"type": "recommendations", "items": items, "superseded": superseded})
}

/// Polls the layer every [`POLL`] until the service stops.
pub fn spawn_poller(recs: Arc<Recommendations>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        loop {
            tick.tick().await;
            let r = recs.clone();
            let _ = tokio::task::spawn_blocking(move || r.poll()).await;
        }
    })
}

#[derive(Deserialize)]
struct StateBody {
    state: String,
    by: String,
}

/// `GET /v1/recommendations`, `POST /v1/recommendations/{id}/state`.
pub fn router(recs: Arc<Recommendations>) -> Router {
    Router::new()
        .route("/v1/recommendations", get(|State(r): State<Arc<Recommendations>>| async move { axum::Json(r.list()) }))
        .route("/v1/recommendations/{id}/state", post(set_state))
        .with_state(recs)
}

async fn set_state(
    State(recs): State<Arc<Recommendations>>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let problem = |status: StatusCode, message: String| {
        (status, [(header::CONTENT_TYPE, "application/json")], json!({"error": message}).to_string()).into_response()
    };
    let body: StateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("expected {{\"state\": …, \"by\": …}}: {e}")),
    };
    let result = tokio::task::spawn_blocking(move || recs.set_state(&id, &body.state, &body.by)).await;
    match result {
        Ok(Ok(item)) => axum::Json(item).into_response(),
        Ok(Err(e @ RecommendError::Unknown(_))) => problem(StatusCode::NOT_FOUND, e.to_string()),
        Ok(Err(e @ RecommendError::Transition { .. })) => problem(StatusCode::CONFLICT, e.to_string()),
        Ok(Err(e @ RecommendError::Bad(_))) => problem(StatusCode::BAD_REQUEST, e.to_string()),
        Ok(Err(e)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
