//! Recommendations on the running service (docs/prescriptive.md, "On the service"): the results layer
//! `recommendations.usda` that `twinloom recommend --stage` writes into the stage folder is read by the
//! service (checked every [`POLL`]), served as JSON (`GET /v1/recommendations`) and sent to every live
//! client as a `recommendations` message whenever it changes. Operators move a recommendation through its
//! states with `POST /v1/recommendations/{id}/state` (`approved` or `rejected`, with who); the state is
//! written back into the layer (`twinloom:rec:state`, `:stateBy`, `:stateTime`), so any USD app that opens
//! the layer sees it. Recommendations that a new `twinloom recommend` run no longer lists are announced
//! as `superseded`. The connector knows nothing of how recommendations are made (the floors): it only
//! reads and writes the documented attributes.
//!
//! Applying (`POST /v1/recommendations/{id}/apply`, docs/prescriptive.md "Apply: through write-back")
//! sends an approved recommendation's writes as commands through the service's own command engine
//! ([`crate::command::engine::Engine::submit`], the engine behind `POST /v1/commands`): each write is first
//! decided as a dry run, so a policy refusal sends nothing; then each is submitted, the recommendation
//! becomes `applying` with its command ids (`twinloom:rec:commands`), and the engine's command events move
//! it to `applied` once every command is `verified`, or back to `approved` with `twinloom:rec:applyError`
//! when one ends `refused`, `failed` or `expired`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path as AxumPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use twinloom_usd::{Layer, UsdError, Value};

use crate::command::engine::{Command, CommandError, CommandRequest, Engine, State as CommandState};
use crate::command::policy::Origin;
use crate::hub::Hub;

/// The results layer's file name in the stage folder.
pub const FILE: &str = "recommendations.usda";
/// How often the service looks at the layer's modification time (and at applying recommendations'
/// commands, besides the engine's events).
pub const POLL: Duration = Duration::from_secs(1);
/// The attribute namespace of a recommendation.
const NS: &str = "twinloom:rec:";
/// The states an operator may set, and from which states.
const TRANSITIONS: [(&str, &[&str]); 2] = [("approved", &["proposed"]), ("rejected", &["proposed", "approved"])];

/// Why a state change or an apply was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error("no recommendation {0:?} in {FILE}")]
    Unknown(String),
    #[error("recommendation {id} is {from}: it cannot become {to} (allowed: {allowed})")]
    Transition { id: String, from: String, to: String, allowed: String },
    #[error("bad request: {0}")]
    Bad(String),
    /// Apply: the caller's bearer token is missing or unknown (the command API's identities).
    #[error("missing or unknown bearer token")]
    Unauthorized,
    /// Apply: not allowed on this listener, or `by` is not the token's identity.
    #[error("{0}")]
    Forbidden(String),
    /// Apply: the recommendation has nothing to send (or its writes cannot be read).
    #[error("{0}")]
    NothingToSend(String),
    /// Apply: the policy refused at least one write (dry run); nothing was sent.
    #[error("{message}")]
    Refused { message: String, refused: Vec<Command> },
    /// Apply: the command engine refused a request (e.g. its audit journal: nothing was sent).
    #[error("write-back: {0}")]
    Command(#[from] CommandError),
    #[error("{FILE}: {0}")]
    Usd(#[from] UsdError),
}

/// The service's view of the stage folder's recommendations.
pub struct Recommendations {
    path: PathBuf,
    hub: Arc<Hub>,
    state: Mutex<Loaded>,
    /// The command engine applying sends the writes through.
    engine: Arc<Engine>,
    /// Where the command API is served instead, when only over TLS (apply is then refused here).
    commands_over_tls: Option<SocketAddr>,
    /// Ids whose apply is being decided and submitted right now (one apply at a time per id).
    in_flight: Mutex<BTreeSet<String>>,
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

/// Every recommendation of the results layer at `path` (e.g. `<stage>/recommendations.usda`): its fields
/// without the `twinloom:rec:` namespace, `writes` as JSON (for readers outside the service, such as the
/// copilot).
pub fn read_layer(path: &Path) -> Result<Vec<Map<String, Json>>, UsdError> {
    Ok(read(path)?.into_iter().map(|(_, _, fields)| fields).collect())
}

/// A recommendation's state as listed (`proposed` when the layer has none).
fn state_of(item: &Json) -> &str {
    item.get("state").and_then(Json::as_str).unwrap_or("proposed")
}

/// The command requests that apply `item` (recommendation `id`): one per entry of its `writes`, target
/// `<prim>.<attribute>`, reason `recommendation <id>`.
fn requests(id: &str, item: &Json) -> Result<Vec<CommandRequest>, RecommendError> {
    let none = Vec::new();
    let writes = match item.get("writes") {
        None | Some(Json::Null) => &none,
        Some(Json::Array(w)) => w,
        Some(other) => {
            return Err(RecommendError::NothingToSend(format!(
                "recommendation {id}: twinloom:rec:writes is not a JSON list of writes: {other}"
            )))
        }
    };
    if writes.is_empty() {
        return Err(RecommendError::NothingToSend(format!(
            "recommendation {id} is a planning action: nothing to send (it has no writes; people apply it)"
        )));
    }
    writes
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let field = |name: &str| w.get(name).and_then(Json::as_str).filter(|s| !s.is_empty());
            match (field("prim"), field("attribute"), w.get("value")) {
                (Some(prim), Some(attribute), Some(value)) => Ok(CommandRequest {
                    target: format!("{prim}.{attribute}"),
                    value: value.clone(),
                    reason: format!("recommendation {id}"),
                    dry_run: false,
                }),
                _ => Err(RecommendError::NothingToSend(format!(
                    "recommendation {id}: write {k} needs `prim`, `attribute` and `value`, got {w}"
                ))),
            }
        })
        .collect()
}

/// Removes `id` from the ids being applied when the apply ends, however it ends.
struct InFlight<'a>(&'a Mutex<BTreeSet<String>>, String);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.1);
    }
}

/// Where an applying recommendation's commands stand.
enum Outcome {
    /// Every command is `verified`.
    Applied,
    /// One ended otherwise (why).
    Failed(String),
    /// Some are still on their way.
    Waiting,
}

impl Recommendations {
    /// The recommendations of `stage_dir` (none until `recommendations.usda` appears); applying one sends
    /// its writes through `engine`, unless the command API is served only over TLS (`commands_over_tls`).
    pub fn new(
        stage_dir: &Path,
        hub: Arc<Hub>,
        engine: Arc<Engine>,
        commands_over_tls: Option<SocketAddr>,
    ) -> Arc<Self> {
        Arc::new(Recommendations {
            path: stage_dir.join(FILE),
            hub,
            state: Mutex::new(Loaded::default()),
            engine,
            commands_over_tls,
            in_flight: Mutex::new(BTreeSet::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the layer again when it changed on disk; each change goes to every live client as a
    /// `recommendations` message, with the ids a new run no longer lists as `superseded`.
    pub fn poll(&self) {
        let modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        let mut st = self.lock();
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
        message(&self.lock(), &[])
    }

    /// Writes `set` (and removes `remove`) on recommendation `id` in the layer, atomically, updates the
    /// listed item and sends the new list to every client; returns the item.
    fn write_fields(
        &self,
        st: &mut Loaded,
        id: &str,
        set: &[(&str, Value)],
        remove: &[&str],
    ) -> Result<Json, RecommendError> {
        let prim = st.prims.get(id).cloned().ok_or_else(|| RecommendError::Unknown(id.to_string()))?;
        let mut layer = Layer::open(&self.path)?;
        for (field, value) in set {
            layer.upsert_default(&format!("{prim}.{NS}{field}"), value)?;
        }
        for field in remove {
            let attr = format!("{prim}.{NS}{field}");
            if layer.has_spec(&attr) {
                layer.remove_spec(&attr)?;
            }
        }
        layer.export_atomic(&self.path)?;
        drop(layer);
        st.modified = std::fs::metadata(&self.path).and_then(|m| m.modified()).ok();
        if let Some(Json::Object(o)) = st.items.get_mut(id) {
            for (field, value) in set {
                o.insert((*field).into(), to_json(value));
            }
            for field in remove {
                o.remove(*field);
            }
        }
        self.hub.notify(message(st, &[]).to_string());
        Ok(st.items.get(id).cloned().unwrap_or(Json::Null))
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
        let mut st = self.lock();
        let item = st.items.get(id).ok_or_else(|| RecommendError::Unknown(id.to_string()))?;
        let from = state_of(item).to_string();
        if !allowed.contains(&from.as_str()) || self.in_flight.lock().unwrap_or_else(|e| e.into_inner()).contains(id) {
            return Err(RecommendError::Transition { id: id.into(), from, to: to.into(), allowed: allowed.join(", ") });
        }
        let when = crate::delta::epoch_ms(SystemTime::now());
        let fields = [
            ("state", Value::Token(to.into())),
            ("stateBy", Value::String(by.trim().into())),
            ("stateTimeMs", Value::Double(when)),
        ];
        self.write_fields(&mut st, id, &fields, &[])
    }

    /// Applies an approved recommendation (docs/prescriptive.md, "Apply: through write-back"): the caller
    /// is the command API's identity holding `bearer` (`by`, when given, must name it); every write is
    /// decided as a dry run first, and when the policy refuses one nothing is sent; otherwise each write
    /// is submitted as a command, and the recommendation becomes `applying` with the command ids — or at
    /// once `applied` (every command verified) or `approved` again with `applyError` (one did not make it).
    /// Returns the recommendation and its commands as submitted.
    pub async fn apply(
        self: &Arc<Self>,
        id: &str,
        bearer: Option<&str>,
        by: Option<&str>,
    ) -> Result<(Json, Vec<Command>), RecommendError> {
        if let Some(tls) = self.commands_over_tls {
            return Err(RecommendError::Forbidden(format!(
                "commands are accepted over TLS only, on https://{tls}: apply sends commands, so it is refused here"
            )));
        }
        let origin = self.engine.authenticate(bearer).map_err(|_| RecommendError::Unauthorized)?;
        let Origin::Identity { name, .. } = &origin else { return Err(RecommendError::Unauthorized) };
        let name = name.clone();
        if let Some(by) = by.map(str::trim).filter(|b| !b.is_empty()) {
            if by != name {
                return Err(RecommendError::Forbidden(format!(
                    "`by` is {by:?} but the bearer token is {name:?}'s: a recommendation is applied by the token's identity"
                )));
            }
        }
        let reqs = {
            let st = self.lock();
            let item = st.items.get(id).ok_or_else(|| RecommendError::Unknown(id.to_string()))?;
            let from = state_of(item);
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if from != "approved" || in_flight.contains(id) {
                let from = if in_flight.contains(id) { "being applied" } else { from };
                return Err(RecommendError::Transition {
                    id: id.into(),
                    from: from.into(),
                    to: "applying".into(),
                    allowed: "approved".into(),
                });
            }
            let reqs = requests(id, item)?;
            in_flight.insert(id.to_string());
            reqs
        };
        let _in_flight = InFlight(&self.in_flight, id.to_string());
        // The policy's decision on every write before any is sent: a refusal sends nothing.
        let mut refused = Vec::new();
        for req in &reqs {
            let dry = self.engine.submit(origin.clone(), CommandRequest { dry_run: true, ..req.clone() }).await?;
            if dry.state != CommandState::Allowed {
                refused.push(dry);
            }
        }
        if !refused.is_empty() {
            let why: Vec<String> = refused
                .iter()
                .map(|c| {
                    let rule = c.rule.map(|r| serde_json::to_value(r).unwrap_or_default());
                    let rule = rule.as_ref().and_then(Json::as_str).unwrap_or("refused");
                    format!("{} ({rule})", c.target)
                })
                .collect();
            return Err(RecommendError::Refused {
                message: format!(
                    "recommendation {id}: the write-back policy refuses {}; nothing was sent",
                    why.join(", ")
                ),
                refused,
            });
        }
        let mut commands = Vec::new();
        let mut error = None;
        for req in reqs {
            match self.engine.submit(origin.clone(), req).await {
                Ok(cmd) => commands.push(cmd),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let ids: Vec<String> = commands.iter().map(|c| c.id.clone()).collect();
        let when = crate::delta::epoch_ms(SystemTime::now());
        let mut fields = vec![
            ("state", Value::Token("applying".into())),
            ("stateBy", Value::String(name.clone())),
            ("stateTimeMs", Value::Double(when)),
            ("commands", Value::StringArray(ids.clone())),
        ];
        if let Some(e) = &error {
            let why = format!("write-back refused a command after {} were sent: {e}", ids.len());
            fields[0] = ("state", Value::Token("approved".into()));
            fields.push(("applyError", Value::String(why)));
        }
        let this = self.clone();
        let rid = id.to_string();
        let remove: &'static [&'static str] = if error.is_some() { &[] } else { &["applyError"] };
        let item = tokio::task::spawn_blocking(move || {
            let mut st = this.lock();
            this.write_fields(&mut st, &rid, &fields, remove)
        })
        .await
        .map_err(|e| RecommendError::Usd(UsdError::Io(e.to_string())))??;
        if let Some(e) = error {
            return Err(e.into());
        }
        // Commands that finished at once (no approval needed) settle the recommendation now.
        drop(_in_flight);
        let item = match self.settle(id).await? {
            Some(settled) => settled,
            None => item,
        };
        Ok((item, commands))
    }

    /// Where the commands `ids` stand in the engine.
    async fn outcome(&self, ids: &[String]) -> Outcome {
        let mut waiting = false;
        for c in ids {
            match self.engine.get(c).await {
                // A state the engine set but has not recorded yet (`expire_due` marks a command expired
                // before its transition is journaled): its event follows.
                Ok(cmd) if cmd.history.last().map(|t| t.state) != Some(cmd.state) => waiting = true,
                Ok(cmd) if cmd.state == CommandState::Verified => {}
                Ok(cmd) if cmd.state.is_final() => {
                    let detail = cmd.history.last().and_then(|t| t.detail.clone());
                    let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
                    return Outcome::Failed(format!(
                        "command {} ({}) ended {}{detail}",
                        cmd.id,
                        cmd.target,
                        cmd.state.as_str()
                    ));
                }
                Ok(_) => waiting = true,
                Err(e) => return Outcome::Failed(format!("command {c}: {e}")),
            }
        }
        if waiting {
            Outcome::Waiting
        } else {
            Outcome::Applied
        }
    }

    /// Moves recommendation `id`, when `applying`, to `applied` (every command verified) or back to
    /// `approved` with `applyError` (one ended refused, failed or expired); returns the item when it moved.
    async fn settle(self: &Arc<Self>, id: &str) -> Result<Option<Json>, RecommendError> {
        let ids = {
            let st = self.lock();
            match st.items.get(id) {
                Some(item) if state_of(item) == "applying" => commands_of(item),
                _ => return Ok(None),
            }
        };
        let (state, error) = match self.outcome(&ids).await {
            Outcome::Waiting => return Ok(None),
            Outcome::Applied => ("applied", None),
            Outcome::Failed(why) => ("approved", Some(why)),
        };
        let this = self.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut st = this.lock();
            // Still the same apply (a new run of `twinloom recommend` may have replaced the layer meanwhile).
            match st.items.get(&id) {
                Some(item) if state_of(item) == "applying" && commands_of(item) == ids => {}
                _ => return Ok(None),
            }
            let when = crate::delta::epoch_ms(SystemTime::now());
            let mut fields = vec![("state", Value::Token(state.into())), ("stateTimeMs", Value::Double(when))];
            if let Some(why) = &error {
                tracing::warn!(recommendation = %id, "apply did not complete: {why}");
                fields.push(("applyError", Value::String(why.clone())));
            } else {
                tracing::info!(recommendation = %id, commands = ids.len(), "recommendation applied");
            }
            this.write_fields(&mut st, &id, &fields, &[]).map(Some)
        })
        .await
        .map_err(|e| RecommendError::Usd(UsdError::Io(e.to_string())))?
    }

    /// Settles every `applying` recommendation whose commands finished.
    async fn settle_all(self: &Arc<Self>) {
        let applying: Vec<String> = {
            let st = self.lock();
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            st.items
                .iter()
                .filter(|(id, item)| state_of(item) == "applying" && !in_flight.contains(*id))
                .map(|(id, _)| id.clone())
                .collect()
        };
        for id in applying {
            if let Err(e) = self.settle(&id).await {
                tracing::error!(recommendation = %id, "recording the apply's outcome: {e}");
            }
        }
    }
}

/// The command ids an applying recommendation waits for.
fn commands_of(item: &Json) -> Vec<String> {
    item.get("commands")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).map(String::from).collect())
        .unwrap_or_default()
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

/// Polls the layer every [`POLL`] until the service stops, and settles applying recommendations whenever
/// a command changes (the engine's events) and every [`POLL`] (after a restart, or when events were
/// missed).
pub fn spawn_poller(recs: Arc<Recommendations>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        let mut events = recs.engine.subscribe();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let r = recs.clone();
                    let _ = tokio::task::spawn_blocking(move || r.poll()).await;
                }
                event = events.recv() => match event {
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        events = recs.engine.subscribe();
                        continue;
                    }
                },
            }
            recs.settle_all().await;
        }
    })
}

#[derive(Deserialize)]
struct StateBody {
    state: String,
    by: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApplyBody {
    #[serde(default)]
    by: Option<String>,
}

/// `GET /v1/recommendations`, `POST /v1/recommendations/{id}/state`, `POST /v1/recommendations/{id}/apply`.
pub fn router(recs: Arc<Recommendations>) -> Router {
    Router::new()
        .route("/v1/recommendations", get(|State(r): State<Arc<Recommendations>>| async move { axum::Json(r.list()) }))
        .route("/v1/recommendations/{id}/state", post(set_state))
        .route("/v1/recommendations/{id}/apply", post(apply))
        .with_state(recs)
}

fn problem(status: StatusCode, body: Json) -> Response {
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

/// The answer to a refused state change or apply.
fn refusal(e: RecommendError) -> Response {
    let status = match &e {
        RecommendError::Unknown(_) => StatusCode::NOT_FOUND,
        RecommendError::Transition { .. } => StatusCode::CONFLICT,
        RecommendError::Bad(_) => StatusCode::BAD_REQUEST,
        RecommendError::Unauthorized => StatusCode::UNAUTHORIZED,
        RecommendError::Forbidden(_) | RecommendError::Refused { .. } => StatusCode::FORBIDDEN,
        RecommendError::NothingToSend(_) => StatusCode::UNPROCESSABLE_ENTITY,
        RecommendError::Command(c) => crate::command::http::error_response(c).status(),
        RecommendError::Usd(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({"error": e.to_string()});
    if let RecommendError::Refused { refused, .. } = &e {
        body["refused"] = json!(refused);
    }
    problem(status, body)
}

async fn set_state(
    State(recs): State<Arc<Recommendations>>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: StateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("expected {{\"state\": …, \"by\": …}}: {e}");
            return problem(StatusCode::BAD_REQUEST, json!({"error": msg}));
        }
    };
    let result = tokio::task::spawn_blocking(move || recs.set_state(&id, &body.state, &body.by)).await;
    match result {
        Ok(Ok(item)) => axum::Json(item).into_response(),
        Ok(Err(e)) => refusal(e),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, json!({"error": e.to_string()})),
    }
}

/// `POST /v1/recommendations/{id}/apply` with `Authorization: Bearer <token>` and `{"by": "<identity>"}`
/// (or no body): `202` and `{"recommendation": …, "commands": […]}` while commands wait (for an approval,
/// or their write), `200` when every command was verified at once; `409` with `error`, `recommendation` and
/// `commands` when one did not make it; refusals as [`refusal`].
async fn apply(
    State(recs): State<Arc<Recommendations>>,
    AxumPath(id): AxumPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: ApplyBody = if body.iter().all(u8::is_ascii_whitespace) {
        ApplyBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => {
                let msg = format!("expected {{\"by\": \"<identity>\"}} or no body: {e}");
                return problem(StatusCode::BAD_REQUEST, json!({"error": msg}));
            }
        }
    };
    let bearer = crate::command::http::bearer(&headers);
    match recs.apply(&id, bearer, body.by.as_deref()).await {
        Ok((item, commands)) => {
            let status = match state_of(&item) {
                "applied" => StatusCode::OK,
                "applying" => StatusCode::ACCEPTED,
                _ => StatusCode::CONFLICT,
            };
            let mut answer = json!({"recommendation": item, "commands": commands});
            if status == StatusCode::CONFLICT {
                answer["error"] = item.get("applyError").cloned().unwrap_or(Json::Null);
            }
            problem(status, answer)
        }
        Err(e) => refusal(e),
    }
}
