//! The command engine: takes a command from an identity (or an autonomy rule), reads the twin state it
//! needs fresh from the sources, decides it with the [`Policy`], waits for an approval where one is
//! needed, writes it through the target's [`Sink`] and verifies it by reading it back. Every state change
//! is appended to the audit journal (fsynced) before the engine acts on it, and pushed to live clients.
//!
//! States (docs/write-back.md): `received` → `refused` | `allowed` (dry run) | `awaiting_approval` →
//! `approved` | `refused` | `expired`; `approved` → `written` → `verified` | `failed`. A write that got no
//! answer ends `failed` with `outcome: "unknown"` and the value read back afterwards; it is never retried.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{json, Value as Json};
use tokio::sync::broadcast;

use super::config::token_sha256;
use super::expr::{Scope, Val};
use super::policy::{Decision, Origin, Policy, Request, Rule};
use super::sink::{Sink, SinkError};
use crate::audit::Journal;
use crate::delta::epoch_ms;
use crate::sample::Value;

/// A caller of the command API.
#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub token_sha256: String,
    pub roles: Vec<String>,
}

/// Where a bound attribute is read and written: its source's sink, node, and the binding's conversion
/// (twin value = source value × scale + offset).
#[derive(Clone)]
pub struct Bound {
    pub sink: Arc<dyn Sink>,
    pub node: String,
    pub scale: f64,
    pub offset: f64,
}

/// A method target: the method is called on its object through the source's sink.
#[derive(Clone)]
pub struct MethodTarget {
    pub sink: Arc<dyn Sink>,
    pub object: String,
    pub method: String,
}

/// How a writable target's writes are verified.
#[derive(Debug, Clone, Copy)]
pub struct Verify {
    pub tolerance: f64,
    pub timeout: Duration,
}

/// A command's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Received,
    Refused,
    Allowed,
    AwaitingApproval,
    Approved,
    Written,
    Verified,
    Failed,
    Expired,
}

impl State {
    pub const ALL: [State; 9] = [
        State::Received,
        State::Refused,
        State::Allowed,
        State::AwaitingApproval,
        State::Approved,
        State::Written,
        State::Verified,
        State::Failed,
        State::Expired,
    ];

    /// The state's name in the API and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Received => "received",
            State::Refused => "refused",
            State::Allowed => "allowed",
            State::AwaitingApproval => "awaiting_approval",
            State::Approved => "approved",
            State::Written => "written",
            State::Verified => "verified",
            State::Failed => "failed",
            State::Expired => "expired",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, State::Refused | State::Allowed | State::Verified | State::Failed | State::Expired)
    }
}

/// One state change.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Transition {
    pub state: State,
    /// Epoch milliseconds.
    pub at_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What /metrics shows of the commands: how many reached each state, and refused bearer tokens.
#[derive(Debug, Default)]
pub struct CommandCounters {
    by_state: [AtomicU64; 9],
    pub unauthorized: AtomicU64,
}

impl CommandCounters {
    fn count(&self, s: State) {
        if let Some(i) = State::ALL.iter().position(|&x| x == s) {
            self.by_state[i].fetch_add(1, Relaxed);
        }
    }

    /// Commands that reached `s`.
    pub fn reached(&self, s: State) -> u64 {
        State::ALL.iter().position(|&x| x == s).map_or(0, |i| self.by_state[i].load(Relaxed))
    }
}

/// Commands kept for `GET /v1/commands/{id}` (the oldest finished ones go first; the journal keeps all).
pub const COMMANDS_KEPT: usize = 10_000;

/// A command and everything that happened to it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Command {
    pub id: String,
    pub target: String,
    pub value: Json,
    pub reason: String,
    pub dry_run: bool,
    /// The identity, or `autonomy:<rule>`.
    pub requested_by: String,
    pub state: State,
    /// The policy rule that refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// The twin state the last decision saw (attribute path → value; `current` is the target's).
    pub state_seen: serde_json::Map<String, Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_back: Option<Json>,
    /// `"unknown"` when a write got no answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(default)]
    pub history: Vec<Transition>,
    #[serde(skip)]
    origin: Option<Origin>,
    #[serde(skip)]
    expires: Option<Instant>,
}

impl Command {
    /// A command just taken, in state `received`, with nothing happened to it yet.
    fn new(id: String, req: CommandRequest, origin: &Origin) -> Command {
        Command {
            id,
            target: req.target,
            value: req.value,
            reason: req.reason,
            dry_run: req.dry_run,
            requested_by: origin_name(origin),
            state: State::Received,
            rule: None,
            approved_by: None,
            state_seen: Default::default(),
            server_status: None,
            read_back: None,
            outcome: None,
            history: Vec::new(),
            origin: Some(origin.clone()),
            expires: None,
        }
    }
}

/// What a caller of the engine gets wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    #[error("missing or unknown bearer token")]
    Unauthorized,
    #[error("{0}")]
    BadRequest(String),
    #[error("no command {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The audit journal refused the entry: nothing is written to the plant (fail closed).
    #[error("audit journal: {0}")]
    Audit(String),
}

/// A command as a client sends it (`POST /v1/commands`, or a live `command` message).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    pub target: String,
    pub value: Json,
    pub reason: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// Everything the engine is built from.
pub struct EngineParts {
    pub policy: Policy,
    pub identities: Vec<Identity>,
    /// Every writable target and interlock reference: attribute path → where it lives.
    pub bound: HashMap<String, Bound>,
    /// Method targets by name (`/Prim.name`).
    pub methods: HashMap<String, MethodTarget>,
    pub verify: HashMap<String, Verify>,
    pub journal: Journal,
    pub approval_expiry: Duration,
    pub autonomy_enabled: bool,
    /// Where the last command per target is shown on the stage (`None`: not shown).
    pub stage_layer: Option<super::stage_layer::CommandLayer>,
}

#[derive(Default)]
struct Registry {
    commands: HashMap<String, Command>,
    /// Command ids in the order they were first stored.
    order: std::collections::VecDeque<String>,
    last_write: HashMap<String, Instant>,
}

impl Registry {
    /// Stores `cmd`; beyond [`COMMANDS_KEPT`], forgets the oldest finished commands.
    fn store(&mut self, cmd: &Command) {
        if self.commands.insert(cmd.id.clone(), cmd.clone()).is_none() {
            self.order.push_back(cmd.id.clone());
        }
        let mut scanned = 0;
        while self.commands.len() > COMMANDS_KEPT && scanned < self.order.len() {
            let Some(oldest) = self.order.pop_front() else { break };
            if self.commands.get(&oldest).is_some_and(|c| c.state.is_final()) {
                self.commands.remove(&oldest);
            } else {
                self.order.push_back(oldest);
                scanned += 1;
            }
        }
    }
}

/// The command engine of one service.
pub struct Engine {
    policy: Policy,
    identities: Vec<Identity>,
    bound: HashMap<String, Bound>,
    methods: HashMap<String, MethodTarget>,
    verify: HashMap<String, Verify>,
    journal: Arc<Mutex<Journal>>,
    registry: Mutex<Registry>,
    approval_expiry: Duration,
    next: AtomicU64,
    run: u64,
    autonomy: AtomicBool,
    events: broadcast::Sender<String>,
    stage_layer: Option<Arc<Mutex<super::stage_layer::CommandLayer>>>,
    counters: Arc<CommandCounters>,
}

/// The twin state a decision reads: fresh values of the referenced attributes, the target's current value
/// and the commanded value.
struct Seen {
    attrs: HashMap<String, Val>,
    current: Option<Val>,
    value: Val,
}

impl Scope for Seen {
    fn attr(&self, p: &str) -> Option<Val> {
        self.attrs.get(p).cloned()
    }
    fn value(&self) -> Option<Val> {
        Some(self.value.clone())
    }
    fn current(&self) -> Option<Val> {
        self.current.clone()
    }
}

fn val_json(v: &Val) -> Json {
    match v {
        Val::Num(x) => json!(x),
        Val::Str(s) => json!(s),
        Val::Bool(b) => json!(b),
    }
}

/// A source value in twin units (numbers through the binding's scale and offset).
fn twin_val(v: &Value, b: &Bound) -> Option<Val> {
    match v {
        Value::Bool(x) => Some(Val::Bool(*x)),
        Value::String(s) => Some(Val::Str(s.clone())),
        other => other.as_f64().map(|x| Val::Num(x * b.scale + b.offset)),
    }
}

/// A twin-unit value as the source value to write.
fn source_value(v: &Val, b: &Bound) -> Value {
    match v {
        Val::Num(x) => Value::F64((x - b.offset) / b.scale),
        Val::Str(s) => Value::String(s.clone()),
        Val::Bool(x) => Value::Bool(*x),
    }
}

fn now_ms() -> i64 {
    epoch_ms(SystemTime::now()) as i64
}

/// The commands of earlier runs, rebuilt from the audit journal at `path` (its `"event": "command"` entries,
/// each a command's state change): every command as it last was, with its history. A command still
/// awaiting approval gets its requester's identity back (by name) and what is left of its expiry; one
/// whose requester is no longer configured is left without an identity and expires at once.
fn restore(path: &std::path::Path, identities: &[Identity], approval_expiry: Duration) -> Vec<Command> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, (serde_json::Map<String, Json>, Vec<Transition>)> = HashMap::new();
    for line in text.lines() {
        let Ok(Json::Object(mut o)) = serde_json::from_str::<Json>(line) else { continue };
        if o.get("event").and_then(Json::as_str) != Some("command") {
            continue;
        }
        let (Some(id), Some(state)) = (
            o.get("id").and_then(Json::as_str).map(String::from),
            o.get("state").and_then(|s| serde_json::from_value::<State>(s.clone()).ok()),
        ) else {
            continue;
        };
        let at_ms = o.get("at_ms").and_then(Json::as_i64).unwrap_or(0);
        let detail = o.remove("detail").and_then(|d| d.as_str().map(String::from));
        let entry = latest.entry(id.clone()).or_insert_with(|| {
            order.push(id.clone());
            (serde_json::Map::new(), Vec::new())
        });
        entry.1.push(Transition { state, at_ms, detail });
        entry.0 = o;
    }
    let now = now_ms();
    order
        .into_iter()
        .filter_map(|id| {
            let (record, history) = latest.remove(&id)?;
            let mut cmd: Command = serde_json::from_value(Json::Object(record)).ok()?;
            cmd.history = history;
            if cmd.state == State::AwaitingApproval {
                cmd.origin = identities
                    .iter()
                    .find(|i| i.name == cmd.requested_by)
                    .map(|i| Origin::Identity { name: i.name.clone(), roles: i.roles.clone() });
                let since = cmd.history.last().map_or(now, |t| t.at_ms);
                let left = (since + approval_expiry.as_millis() as i64 - now).max(0) as u64;
                let left = if cmd.origin.is_some() { Duration::from_millis(left) } else { Duration::ZERO };
                cmd.expires = Some(Instant::now() + left);
            }
            Some(cmd)
        })
        .collect()
}

impl Engine {
    pub fn new(p: EngineParts) -> Arc<Engine> {
        let (events, _) = broadcast::channel(256);
        let mut registry = Registry::default();
        for cmd in restore(p.journal.path(), &p.identities, p.approval_expiry) {
            // The last write to each target (sent: written, verified or failed after it was sent) keeps
            // min_interval_s across the restart.
            let sent = cmd.history.iter().rev().find(|t| t.state == State::Written).map(|t| t.at_ms).or_else(|| {
                (cmd.state == State::Failed && cmd.outcome.is_some()).then(|| cmd.history.last().map_or(0, |t| t.at_ms))
            });
            if let Some(at_ms) = sent {
                let ago = Duration::from_millis((now_ms() - at_ms).max(0) as u64);
                let at = Instant::now().checked_sub(ago).unwrap_or_else(Instant::now);
                let newer = registry.last_write.get(&cmd.target).is_none_or(|t| *t < at);
                if newer {
                    registry.last_write.insert(cmd.target.clone(), at);
                }
            }
            registry.store(&cmd);
        }
        if !registry.commands.is_empty() {
            let pending = registry.commands.values().filter(|c| c.state == State::AwaitingApproval).count();
            tracing::info!(
                commands = registry.commands.len(),
                pending,
                "write-back commands restored from the audit journal"
            );
        }
        Arc::new(Engine {
            policy: p.policy,
            identities: p.identities,
            bound: p.bound,
            methods: p.methods,
            verify: p.verify,
            journal: Arc::new(Mutex::new(p.journal)),
            registry: Mutex::new(registry),
            approval_expiry: p.approval_expiry,
            next: AtomicU64::new(1),
            run: now_ms() as u64,
            autonomy: AtomicBool::new(p.autonomy_enabled),
            events,
            stage_layer: p.stage_layer.map(|l| Arc::new(Mutex::new(l))),
            counters: Arc::new(CommandCounters::default()),
        })
    }

    /// Command updates as live-protocol messages (`{"type":"command", …}`).
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.events.subscribe()
    }

    /// The counters /metrics shows.
    pub fn counters(&self) -> Arc<CommandCounters> {
        self.counters.clone()
    }

    /// The capability level the engine enforces.
    pub fn level(&self) -> i64 {
        self.policy.level
    }

    /// The identity holding `bearer` (compared by SHA-256).
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Origin, CommandError> {
        let Some(token) = bearer else {
            self.counters.unauthorized.fetch_add(1, Relaxed);
            return Err(CommandError::Unauthorized);
        };
        let hash = token_sha256(token);
        self.identities
            .iter()
            .find(|i| constant_time_eq(i.token_sha256.as_bytes(), hash.as_bytes()))
            .map(|i| Origin::Identity { name: i.name.clone(), roles: i.roles.clone() })
            .ok_or_else(|| {
                self.counters.unauthorized.fetch_add(1, Relaxed);
                CommandError::Unauthorized
            })
    }

    /// Whether autonomy rules may act.
    pub fn autonomy_enabled(&self) -> bool {
        self.autonomy.load(Relaxed)
    }

    /// The kill switch: stops every autonomy rule until the service restarts (audited).
    pub async fn stop_autonomy(&self, by: &Origin) -> Result<(), CommandError> {
        self.autonomy.store(false, Relaxed);
        self.audit(json!({"event": "autonomy_stopped", "by": origin_name(by)})).await
    }

    /// A command by id.
    pub async fn get(&self, id: &str) -> Result<Command, CommandError> {
        self.expire_due().await?;
        self.lock().commands.get(id).cloned().ok_or_else(|| CommandError::NotFound(id.to_string()))
    }

    /// Pending approvals past their expiry become `expired` (audited). The service calls it every second.
    pub async fn expire_due(&self) -> Result<(), CommandError> {
        let now = Instant::now();
        let due: Vec<Command> = {
            let mut reg = self.lock();
            let mut due = Vec::new();
            for cmd in reg.commands.values_mut() {
                if cmd.state == State::AwaitingApproval && cmd.expires.is_some_and(|t| t <= now) {
                    // Out of the waiting state under the lock, so an approval cannot take it meanwhile.
                    cmd.state = State::Expired;
                    due.push(cmd.clone());
                }
            }
            due
        };
        for mut cmd in due {
            self.transition(&mut cmd, State::Expired, Some("no approval in time".into())).await?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `record` to the journal (fsynced) off the runtime's workers.
    async fn audit(&self, record: Json) -> Result<(), CommandError> {
        let journal = self.journal.clone();
        tokio::task::spawn_blocking(move || {
            journal.lock().unwrap_or_else(|e| e.into_inner()).append(&record).map(|_| ())
        })
        .await
        .map_err(|e| CommandError::Audit(e.to_string()))?
        .map_err(|e| CommandError::Audit(e.to_string()))
    }

    /// Moves `cmd` to `state`: audited first (the caller acts only after this returns), then stored and
    /// pushed to live clients.
    async fn transition(&self, cmd: &mut Command, state: State, detail: Option<String>) -> Result<(), CommandError> {
        cmd.state = state;
        cmd.history.push(Transition { state, at_ms: now_ms(), detail: detail.clone() });
        let mut record = serde_json::to_value(&*cmd).unwrap_or_default();
        if let Some(o) = record.as_object_mut() {
            o.remove("history");
            o.insert("event".into(), json!("command"));
            o.insert("at_ms".into(), json!(cmd.history.last().map_or(0, |t| t.at_ms)));
            if let Some(d) = detail {
                o.insert("detail".into(), json!(d));
            }
        }
        self.audit(record).await?;
        self.counters.count(state);
        self.lock().store(cmd);
        if let Some(layer) = &self.stage_layer {
            let (layer, shown) = (layer.clone(), cmd.clone());
            let saved =
                tokio::task::spawn_blocking(move || layer.lock().unwrap_or_else(|e| e.into_inner()).record(&shown))
                    .await;
            if let Ok(Err(e)) | Err(e) = saved.map_err(|e| twinloom_usd::UsdError::Io(e.to_string())) {
                tracing::warn!(command = %cmd.id, "showing the command on the stage: {e}");
            }
        }
        let msg = json!({"type": "command", "command": &*cmd});
        let _ = self.events.send(msg.to_string());
        Ok(())
    }

    /// Reads the target's current value and every attribute the target's interlock references, fresh.
    async fn observe(&self, target: &str, value: Val) -> Seen {
        let mut attrs = HashMap::new();
        let refs: Vec<String> = self
            .policy
            .writable(target)
            .and_then(|w| w.interlock.as_ref())
            .map(|e| e.references().into_iter().map(String::from).collect())
            .unwrap_or_default();
        for r in refs {
            if let Some(b) = self.bound.get(&r) {
                if let Ok(v) = b.sink.read(&b.node).await {
                    if let Some(v) = twin_val(&v, b) {
                        attrs.insert(r, v);
                    }
                }
            }
        }
        let current = match self.bound.get(target) {
            Some(b) => b.sink.read(&b.node).await.ok().and_then(|v| twin_val(&v, b)),
            None => None,
        };
        Seen { attrs, current, value }
    }

    fn decide(&self, cmd: &Command, origin: &Origin, seen: &Seen) -> Decision {
        let since = self.lock().last_write.get(&cmd.target).map(|t| t.elapsed());
        let req = Request { target: &cmd.target, value: &seen.value, origin, since_last_write: since };
        self.policy.check(&req, seen)
    }

    /// The commanded value as the policy sees it: a number, boolean or string; for a method target the
    /// list of input arguments (as its JSON text).
    fn command_value(&self, target: &str, value: &Json) -> Result<Val, CommandError> {
        if self.methods.contains_key(target) {
            return match value {
                Json::Array(_) | Json::Null => Ok(Val::Str(value.to_string())),
                other => Err(CommandError::BadRequest(format!(
                    "{target} is a method: value must be the list of its input arguments, not {other}"
                ))),
            };
        }
        match value {
            Json::Number(n) => Ok(Val::Num(n.as_f64().unwrap_or(f64::NAN))),
            Json::Bool(b) => Ok(Val::Bool(*b)),
            Json::String(s) => Ok(Val::Str(s.clone())),
            other => Err(CommandError::BadRequest(format!("value must be a number, boolean or string, not {other}"))),
        }
    }

    /// Takes a command: decides it and, when allowed without approval, writes and verifies it. Returns
    /// the command in the state it reached (final, or `awaiting_approval`).
    pub async fn submit(&self, origin: Origin, req: CommandRequest) -> Result<Command, CommandError> {
        let value = self.command_value(&req.target, &req.value)?;
        if req.reason.trim().is_empty() {
            return Err(CommandError::BadRequest("reason is empty: say why the plant should change".into()));
        }
        let id = format!("c{}-{}", self.run, self.next.fetch_add(1, Relaxed));
        let mut cmd = Command::new(id, req, &origin);
        self.transition(&mut cmd, State::Received, None).await?;
        let seen = self.observe(&cmd.target, value).await;
        record_seen(&mut cmd, &seen);
        match self.decide(&cmd, &origin, &seen) {
            Decision::Refused { rule, detail } => {
                cmd.rule = Some(rule);
                self.transition(&mut cmd, State::Refused, Some(detail)).await?;
            }
            _ if cmd.dry_run => {
                self.transition(&mut cmd, State::Allowed, Some("dry run: within the policy, nothing written".into()))
                    .await?;
            }
            Decision::NeedsApproval => {
                cmd.expires = Some(Instant::now() + self.approval_expiry);
                let detail = format!("expires in {} s", self.approval_expiry.as_secs());
                self.transition(&mut cmd, State::AwaitingApproval, Some(detail)).await?;
            }
            Decision::Allowed => self.write(&mut cmd, &seen).await?,
        }
        Ok(cmd)
    }

    /// Approves a pending command (a different identity holding the approver role), then decides it again
    /// against the twin state of that moment and writes it.
    pub async fn approve(&self, id: &str, approver: Origin) -> Result<Command, CommandError> {
        self.expire_due().await?;
        let mut cmd = {
            let mut reg = self.lock();
            let cmd = reg.commands.get(id).cloned().ok_or_else(|| CommandError::NotFound(id.to_string()))?;
            if cmd.state != State::AwaitingApproval {
                return Err(CommandError::Conflict(format!("{id} is {}, not awaiting approval", cmd.state.as_str())));
            }
            if cmd.origin.is_none() {
                return Err(CommandError::Conflict(format!("{id}: its requester is no longer a configured identity")));
            }
            // Taken out of the waiting state under the lock: one approval at a time.
            let mut taken = cmd.clone();
            taken.state = State::Approved;
            reg.commands.insert(id.to_string(), taken);
            cmd
        };
        if let Err((rule, detail)) = Policy::check_approver(&cmd.requested_by, &approver) {
            // The command keeps waiting for a valid approver.
            self.lock().store(&cmd);
            self.audit(json!({"event": "approval_refused", "command": id, "by": origin_name(&approver), "rule": rule, "detail": detail}))
                .await?;
            return Err(CommandError::Conflict(detail));
        }
        cmd.approved_by = Some(origin_name(&approver));
        self.transition(&mut cmd, State::Approved, None).await?;
        let Some(origin) = cmd.origin.clone() else {
            return Err(CommandError::Conflict(format!("{id}: its requester is no longer a configured identity")));
        };
        let value = self.command_value(&cmd.target, &cmd.value)?;
        let seen = self.observe(&cmd.target, value).await;
        record_seen(&mut cmd, &seen);
        match self.decide(&cmd, &origin, &seen) {
            Decision::Refused { rule, detail } => {
                cmd.rule = Some(rule);
                self.transition(&mut cmd, State::Refused, Some(format!("at the moment of the write: {detail}")))
                    .await?;
            }
            _ => self.write(&mut cmd, &seen).await?,
        }
        Ok(cmd)
    }

    /// Journals that `cmd` is being sent to `node` as `sent` (in the source's units), with the decision's
    /// basis; returns only once that entry is synced to disk.
    async fn audit_sending(&self, cmd: &Command, node: &str, sent: Json) -> Result<(), CommandError> {
        self.audit(json!({
            "event": "sending",
            "command": cmd.id,
            "target": cmd.target,
            "node": node,
            "value": cmd.value,
            "sent": sent,
            "requested_by": cmd.requested_by,
            "approved_by": cmd.approved_by,
            "state_seen": cmd.state_seen,
        }))
        .await
    }

    /// Calls an allowed method command: `verified` when the server answers Good (the outputs in
    /// `read_back`).
    async fn call(&self, cmd: &mut Command, m: &MethodTarget) -> Result<(), CommandError> {
        let args: Vec<Value> = cmd.value.as_array().map(|a| a.iter().map(json_value).collect()).unwrap_or_default();
        self.audit_sending(cmd, &m.method, cmd.value.clone()).await?;
        self.lock().last_write.insert(cmd.target.clone(), Instant::now());
        match m.sink.call(&m.object, &m.method, &args).await {
            Ok(outputs) => {
                cmd.read_back = Some(Json::Array(outputs.iter().map(value_json).collect()));
                self.transition(cmd, State::Written, Some(format!("{} answered Good", m.method))).await?;
                self.transition(cmd, State::Verified, None).await
            }
            Err(SinkError::NoAnswer(why)) => {
                cmd.outcome = Some("unknown".into());
                self.transition(cmd, State::Failed, Some(format!("unknown outcome: {why}; not retried"))).await
            }
            Err(e) => {
                if let SinkError::Refused { status } = &e {
                    cmd.server_status = Some(status.clone());
                }
                self.transition(cmd, State::Failed, Some(e.to_string())).await
            }
        }
    }

    /// Writes an allowed command and verifies it by reading it back.
    async fn write(&self, cmd: &mut Command, seen: &Seen) -> Result<(), CommandError> {
        if let Some(m) = self.methods.get(&cmd.target).cloned() {
            return self.call(cmd, &m).await;
        }
        let Some(b) = self.bound.get(&cmd.target).cloned() else {
            self.transition(cmd, State::Failed, Some(format!("{} is not bound to a source node", cmd.target))).await?;
            return Ok(());
        };
        if b.scale == 0.0 {
            let detail = format!("{} is bound with scale 0: no source value gives the commanded one", cmd.target);
            self.transition(cmd, State::Failed, Some(detail)).await?;
            return Ok(());
        }
        let verify =
            self.verify.get(&cmd.target).copied().unwrap_or(Verify { tolerance: 0.0, timeout: Duration::from_secs(2) });
        let out = source_value(&seen.value, &b);
        // The decision, what is sent where, and the state it was decided on are durable before the write.
        self.audit_sending(cmd, &b.node, value_json(&out)).await?;
        self.lock().last_write.insert(cmd.target.clone(), Instant::now());
        match b.sink.write(&b.node, &out).await {
            Ok(()) => {
                self.transition(cmd, State::Written, Some(format!("{} accepted the write", b.node))).await?;
            }
            Err(SinkError::NoAnswer(why)) => {
                cmd.outcome = Some("unknown".into());
                cmd.read_back = self.read_back(&b).await;
                let detail = format!("unknown outcome: {why}; not retried");
                self.transition(cmd, State::Failed, Some(detail)).await?;
                return Ok(());
            }
            Err(e) => {
                if let SinkError::Refused { status } = &e {
                    cmd.server_status = Some(status.clone());
                }
                cmd.read_back = self.read_back(&b).await;
                self.transition(cmd, State::Failed, Some(e.to_string())).await?;
                return Ok(());
            }
        }
        let deadline = Instant::now() + verify.timeout;
        loop {
            let back = b.sink.read(&b.node).await.ok().and_then(|v| twin_val(&v, &b));
            cmd.read_back = back.as_ref().map(val_json);
            let ok = match (&back, &seen.value) {
                (Some(Val::Num(r)), Val::Num(w)) => (r - w).abs() <= verify.tolerance.max(1e-9 * w.abs()),
                (Some(r), w) => r == w,
                (None, _) => false,
            };
            if ok {
                self.transition(cmd, State::Verified, None).await?;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let got = cmd.read_back.clone().map_or("nothing".to_string(), |v| v.to_string());
                let detail = format!(
                    "read back {got} within {} ms, wrote {} (tolerance {})",
                    verify.timeout.as_millis(),
                    val_json(&seen.value),
                    verify.tolerance
                );
                self.transition(cmd, State::Failed, Some(detail)).await?;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn read_back(&self, b: &Bound) -> Option<Json> {
        let read = tokio::time::timeout(Duration::from_secs(2), b.sink.read(&b.node)).await;
        read.ok().and_then(|r| r.ok()).and_then(|v| twin_val(&v, b)).map(|v| val_json(&v))
    }
}

/// A JSON argument as a source value (whole numbers as integers).
fn json_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n.as_i64().map(Value::I64).unwrap_or_else(|| Value::F64(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Value::String(s.clone()),
        other => Value::String(other.to_string()),
    }
}

/// A source value as JSON.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Bool(b) => json!(b),
        Value::I64(i) => json!(i),
        Value::U64(u) => json!(u),
        Value::F64(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Vec3(v) => json!(v),
    }
}

fn record_seen(cmd: &mut Command, seen: &Seen) {
    cmd.state_seen = seen.attrs.iter().map(|(k, v)| (k.clone(), val_json(v))).collect();
    if let Some(c) = &seen.current {
        cmd.state_seen.insert("current".into(), val_json(c));
    }
}

fn origin_name(o: &Origin) -> String {
    match o {
        Origin::Identity { name, .. } => name.clone(),
        Origin::Autonomy { rule } => format!("autonomy:{rule}"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An `[[autonomy]]` rule, parsed.
#[derive(Debug, Clone)]
pub struct AutonomyRule {
    pub name: String,
    pub when: super::expr::Expr,
    pub target: String,
    pub set: super::expr::Expr,
    pub min_interval: Duration,
}

/// What the rule's expressions read: fresh values of their references, the target's current value.
struct RuleScope {
    attrs: HashMap<String, Val>,
    current: Option<Val>,
}

impl Scope for RuleScope {
    fn attr(&self, p: &str) -> Option<Val> {
        self.attrs.get(p).cloned()
    }
    fn value(&self) -> Option<Val> {
        None
    }
    fn current(&self) -> Option<Val> {
        self.current.clone()
    }
}

impl Engine {
    /// Runs each rule whose interval has passed (`last` holds when each last commanded): when its condition
    /// holds, it commands its target to the computed value, as `autonomy:<name>`, through the policy like
    /// any command. Nothing runs below level 5 or after the kill switch. Returns the commands issued.
    pub async fn run_autonomy(&self, rules: &[AutonomyRule], last: &mut HashMap<String, Instant>) -> Vec<Command> {
        let mut issued = Vec::new();
        if self.policy.level < super::policy::LEVEL_AUTONOMOUS {
            return issued;
        }
        for r in rules {
            if !self.autonomy_enabled() {
                break;
            }
            if last.get(&r.name).is_some_and(|t| t.elapsed() < r.min_interval) {
                continue;
            }
            let mut attrs = HashMap::new();
            for p in r.when.references().into_iter().chain(r.set.references()) {
                if let Some(b) = self.bound.get(p) {
                    if let Some(v) = b.sink.read(&b.node).await.ok().and_then(|v| twin_val(&v, b)) {
                        attrs.insert(p.to_string(), v);
                    }
                }
            }
            let current = match self.bound.get(&r.target) {
                Some(b) => b.sink.read(&b.node).await.ok().and_then(|v| twin_val(&v, b)),
                None => None,
            };
            let scope = RuleScope { attrs, current };
            match r.when.holds(&scope) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(rule = %r.name, "autonomy condition cannot be evaluated: {e}");
                    continue;
                }
            }
            let value = match r.set.eval(&scope) {
                Ok(v) => val_json(&v),
                Err(e) => {
                    tracing::warn!(rule = %r.name, "autonomy value cannot be evaluated: {e}");
                    continue;
                }
            };
            last.insert(r.name.clone(), Instant::now());
            let req = CommandRequest {
                target: r.target.clone(),
                value,
                reason: format!("autonomy rule {}: {} holds", r.name, r.when),
                dry_run: false,
            };
            match self.submit(Origin::Autonomy { rule: r.name.clone() }, req).await {
                Ok(cmd) => issued.push(cmd),
                Err(e) => tracing::error!(rule = %r.name, "autonomy command: {e}"),
            }
        }
        issued
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(id: usize, state: State) -> Command {
        let req =
            CommandRequest { target: "/Plant/A.x".into(), value: json!(1.0), reason: "test".into(), dry_run: false };
        let origin = Origin::Identity { name: "alice".into(), roles: vec!["operator".into()] };
        Command { state, ..Command::new(format!("c-{id}"), req, &origin) }
    }

    #[test]
    fn the_registry_forgets_the_oldest_finished_commands_only() {
        let mut reg = Registry::default();
        reg.store(&cmd(0, State::AwaitingApproval));
        for i in 1..=COMMANDS_KEPT + 5 {
            reg.store(&cmd(i, State::Verified));
        }
        assert_eq!(reg.commands.len(), COMMANDS_KEPT);
        assert!(reg.commands.contains_key("c-0"), "a pending command is never forgotten");
        assert!(!reg.commands.contains_key("c-1") && reg.commands.contains_key(&format!("c-{}", COMMANDS_KEPT + 5)));
        // Storing a known command again (a state change) adds nothing.
        reg.store(&cmd(0, State::Approved));
        assert_eq!((reg.commands.len(), reg.order.len()), (COMMANDS_KEPT, COMMANDS_KEPT));
    }
}
