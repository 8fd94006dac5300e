//! The connector's seam for analytics that follow the live signals (docs/diagnostics.md, "Live").
//!
//! With `[diagnostics] enabled = true` and an observer factory in [`crate::Config::observer`], the service
//! hands every accepted numeric sample of the signals the table selects (per shop, per prim subtree or per
//! attribute) to a [`SampleObserver`] on a thread of its own: ingestion copies the converted value into a
//! bounded queue after the twin state's lock is released (a full queue drops the batch and counts it, it
//! never waits), and the observer thread takes what arrived once per tick. The observer answers with
//! [`Observations`]: values for the diagnostics layer (`diagnostics.usdc`, attributes
//! `twinloom:diag:<attr>:<field>` on the signal's prim, never the plant's live values) and complete JSON
//! messages for every live-stream client.
//!
//! The connector knows nothing about what an observer computes (the floors of ARCHITECTURE.md): the
//! `twinloom` program builds one from twinloom-diagnostics' detectors and reads `[diagnostics.detector]`,
//! which the connector keeps as an opaque table.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::{Path as AxumPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::Deserialize;
use twinloom_usd::{AttributeDef, Layer, Specifier, UsdError, Value};

use crate::binding::BindingTable;
use crate::config::DiagnosticsConfig;
pub use crate::config::ForecastSpec;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// The diagnostics layer's file name, next to `plant.usda`.
pub const LAYER_FILE: &str = "diagnostics.usdc";

/// The attribute namespace of the diagnostics layer.
pub const NAMESPACE: &str = "twinloom:diag:";

/// Batches of samples waiting for the observer thread; beyond this, batches are dropped and counted.
const QUEUE_BATCHES: usize = 1024;

/// The attribute namespace of the forecasts in the diagnostics layer.
pub const FORECAST_NAMESPACE: &str = "twinloom:forecast:";

/// `twinloom:diag:<attr>:<field>` for a signal bound to attribute `attr`.
pub fn attribute_name(attr: &str, field: &str) -> String {
    format!("{NAMESPACE}{attr}:{field}")
}

/// Which namespace a [`DiagWrite`] goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Namespace {
    /// `twinloom:diag:` (anomaly scores and episodes).
    #[default]
    Diag,
    /// `twinloom:forecast:` (time-to-threshold forecasts).
    Forecast,
}

impl Namespace {
    /// `<namespace><attr>:<field>`.
    pub fn attribute_name(self, attr: &str, field: &str) -> String {
        match self {
            Namespace::Diag => attribute_name(attr, field),
            Namespace::Forecast => format!("{FORECAST_NAMESPACE}{attr}:{field}"),
        }
    }
}

/// A signal the observer follows, in the order of [`ObservedSample::signal`].
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedSignal {
    /// The shop (live layer) of its binding.
    pub shop: String,
    /// The prim path of its attribute.
    pub prim: String,
    /// The bound attribute's name.
    pub attr: String,
    /// The binding's unit, if configured.
    pub unit: Option<String>,
}

impl ObservedSignal {
    /// `/Prim.attr`.
    pub fn path(&self) -> String {
        format!("{}.{}", self.prim, self.attr)
    }
}

/// One accepted numeric sample, as the live layer got it (scale and offset applied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ObservedSample {
    /// Index into the signals given to [`SampleObserver::attach`].
    pub signal: u32,
    /// Source timestamp in Unix milliseconds (the time it was received when the source gave none).
    pub time_ms: i64,
    pub value: f64,
}

/// A value for the diagnostics layer, in standard USD types.
#[derive(Debug, Clone, PartialEq)]
pub enum DiagValue {
    Bool(bool),
    Int64(i64),
    Double(f64),
    String(String),
    Token(String),
}

impl DiagValue {
    fn to_usd(&self) -> Value {
        match self {
            DiagValue::Bool(b) => Value::Bool(*b),
            DiagValue::Int64(i) => Value::Int64(*i),
            DiagValue::Double(x) => Value::Double(*x),
            DiagValue::String(s) => Value::String(s.clone()),
            DiagValue::Token(s) => Value::Token(s.clone()),
        }
    }
}

/// One attribute value for the diagnostics layer: `twinloom:diag:<attr>:<field>` on the signal's prim.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagWrite {
    pub namespace: Namespace,
    pub signal: u32,
    /// The last name part: a plain identifier such as `score`.
    pub field: &'static str,
    pub value: DiagValue,
}

impl DiagWrite {
    /// `twinloom:diag:<attr>:<field>` of a signal.
    pub fn diag(signal: u32, field: &'static str, value: DiagValue) -> Self {
        DiagWrite { namespace: Namespace::Diag, signal, field, value }
    }

    /// `twinloom:forecast:<attr>:<field>` of a signal.
    pub fn forecast(signal: u32, field: &'static str, value: DiagValue) -> Self {
        DiagWrite { namespace: Namespace::Forecast, signal, field, value }
    }
}

/// What an observer answers for one tick.
#[derive(Debug, Default)]
pub struct Observations {
    /// Attribute values for the diagnostics layer (the last one per attribute wins).
    pub writes: Vec<DiagWrite>,
    /// Complete JSON messages for every live-stream client (their `type` must be documented in
    /// docs/live-protocol.md).
    pub events: Vec<String>,
    /// Episodes opened during this tick (`twinloom_anomalies_opened_total`).
    pub opened: u64,
    /// Episodes open after this tick (`twinloom_anomalies_open`).
    pub open: u64,
}

impl Observations {
    fn clear(&mut self) {
        self.writes.clear();
        self.events.clear();
        self.opened = 0;
    }
}

/// Analytics over the live signals, run by the service on the observer thread.
pub trait SampleObserver: Send {
    /// Called once before any sample with the signals `[diagnostics]` selected; an error stops the start.
    fn attach(&mut self, signals: &[ObservedSignal]) -> Result<(), String>;
    /// Called once per tick with the samples that arrived since the last call (possibly none), in
    /// arrival order; `now_ms` is the wall clock in Unix milliseconds. Fills `out` (cleared before).
    fn observe(&mut self, now_ms: i64, samples: &[ObservedSample], out: &mut Observations);
    /// An operator acknowledges anomaly episode `id` (`by`: who, `note`: free text). On success the
    /// observer fills `out` (cleared before) with the `acknowledged` event first and the layer values;
    /// an error says why not (no such open episode), for the caller.
    fn acknowledge(
        &mut self,
        id: u64,
        by: &str,
        note: &str,
        now_ms: i64,
        out: &mut Observations,
    ) -> Result<(), AckError> {
        let _ = (id, by, note, now_ms, out);
        Err(AckError::Unsupported)
    }
}

/// Why an acknowledgement was not taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AckError {
    #[error("no open anomaly episode {0} (it closed, or never was)")]
    NoSuchEpisode(u64),
    #[error("episode {id} was already acknowledged by {by}")]
    Already { id: u64, by: String },
    #[error("bad acknowledgement: {0}")]
    Bad(String),
    #[error("this service's diagnostics do not take acknowledgements")]
    Unsupported,
    #[error("diagnostics are not running")]
    NotRunning,
}

/// Hands acknowledgements to the observer thread (cheap to clone; held by the HTTP and WebSocket side).
#[derive(Clone)]
pub struct Acknowledger(std::sync::mpsc::Sender<Ack>);

/// One acknowledgement on its way to the observer thread, with where its answer goes.
struct Ack {
    id: u64,
    by: String,
    note: String,
    reply: tokio::sync::oneshot::Sender<Result<String, AckError>>,
}

/// Longest `by` and `note` taken (characters).
const ACK_TEXT_MAX: usize = 200;

impl Acknowledger {
    /// Acknowledges episode `id`; answers the `acknowledged` event as sent to every live client.
    pub async fn acknowledge(&self, id: u64, by: &str, note: &str) -> Result<String, AckError> {
        let by = by.trim();
        if by.is_empty() || by.chars().count() > ACK_TEXT_MAX || note.chars().count() > ACK_TEXT_MAX {
            return Err(AckError::Bad(format!(
                "`by` names who acknowledges (1 to {ACK_TEXT_MAX} characters); `note` has at most {ACK_TEXT_MAX}"
            )));
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let ack = Ack { id, by: by.to_string(), note: note.to_string(), reply };
        self.0.send(ack).map_err(|_| AckError::NotRunning)?;
        answer.await.map_err(|_| AckError::NotRunning)?
    }
}

#[derive(Deserialize)]
struct AckBody {
    by: String,
    #[serde(default)]
    note: String,
}

/// `POST /v1/anomalies/{id}/ack` with `{"by": "…", "note": "…"}` (docs/diagnostics.md, "Acknowledging").
pub fn router(acks: Option<Acknowledger>) -> Router {
    Router::new().route("/v1/anomalies/{id}/ack", post(acknowledge)).with_state(acks)
}

async fn acknowledge(
    State(acks): State<Option<Acknowledger>>,
    AxumPath(id): AxumPath<String>,
    body: axum::body::Bytes,
) -> Response {
    let problem = |status: StatusCode, message: String| {
        (status, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({"error": message}).to_string())
            .into_response()
    };
    let Some(acks) = acks else {
        return problem(StatusCode::NOT_FOUND, "diagnostics are not configured: no [diagnostics] table".into());
    };
    let Ok(id) = id.parse::<u64>() else {
        return problem(StatusCode::BAD_REQUEST, format!("{id:?} is not an anomaly episode id"));
    };
    let body: AckBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("expected {{\"by\": \"…\", \"note\": \"…\"}}: {e}")),
    };
    match acks.acknowledge(id, &body.by, &body.note).await {
        Ok(event) => ([(header::CONTENT_TYPE, "application/json")], event).into_response(),
        Err(e @ AckError::NoSuchEpisode(_)) => problem(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ AckError::Already { .. }) => problem(StatusCode::CONFLICT, e.to_string()),
        Err(e @ AckError::Bad(_)) => problem(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => problem(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Makes the service's observer (set by the program that runs the service; cheap to clone).
#[derive(Clone)]
pub struct ObserverFactory(pub Arc<dyn Fn() -> Box<dyn SampleObserver> + Send + Sync>);

impl ObserverFactory {
    pub fn new(f: impl Fn() -> Box<dyn SampleObserver> + Send + Sync + 'static) -> Self {
        ObserverFactory(Arc::new(f))
    }
}

impl std::fmt::Debug for ObserverFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObserverFactory")
    }
}

/// What can stop the observer from starting.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error("diagnostics layer {path}: {error}")]
    Layer { path: PathBuf, error: UsdError },
    #[error("diagnostics: {0}")]
    Attach(String),
    #[error("diagnostics: cannot start the observer thread: {0}")]
    Thread(std::io::Error),
}

/// Which bound signals `[diagnostics]` selects: per signal (index into the binding table) its index
/// among the observed signals, or `u32::MAX`; and the observed signals in order. Only numeric bindings
/// (`int`, `int64`, `float`, `double`) are observed.
pub fn select(cfg: &DiagnosticsConfig, table: &BindingTable) -> (Vec<u32>, Vec<ObservedSignal>) {
    use twinloom_usd::ValueType::*;
    let everything = cfg.shops.is_empty() && cfg.prims.is_empty() && cfg.signals.is_empty();
    let mut index = vec![u32::MAX; table.bindings.len()];
    let mut signals = Vec::new();
    for (i, b) in table.bindings.iter().enumerate() {
        if !matches!(b.value_type, Int | Int64 | Float | Double) {
            continue;
        }
        let shop = &table.shops[b.shop];
        let taken = everything
            || cfg.shops.iter().any(|s| s.get_ref() == shop)
            || cfg.prims.iter().any(|p| {
                let p = p.get_ref().trim_end_matches('/');
                b.prim == p || b.prim.strip_prefix(p).is_some_and(|rest| rest.starts_with('/'))
            })
            || cfg.signals.iter().any(|s| s.get_ref().split_once('.') == Some((b.prim.as_str(), b.attr.as_str())))
            || cfg
                .forecasts
                .iter()
                .any(|f| f.signal.get_ref().split_once('.') == Some((b.prim.as_str(), b.attr.as_str())));
        if taken {
            index[i] = signals.len() as u32;
            signals.push(ObservedSignal {
                shop: shop.clone(),
                prim: b.prim.clone(),
                attr: b.attr.clone(),
                unit: b.unit.clone(),
            });
        }
    }
    (index, signals)
}

/// Ingestion's side: hands observed samples to the observer thread without waiting.
#[derive(Clone)]
pub struct ObserverFeed {
    /// Per bound signal: its index among the observed signals, or `u32::MAX`.
    index: Arc<[u32]>,
    tx: SyncSender<Vec<ObservedSample>>,
    metrics: Arc<Metrics>,
}

impl ObserverFeed {
    /// The observed index of bound signal `signal`, if it is observed.
    pub fn observed(&self, signal: u32) -> Option<u32> {
        self.index.get(signal as usize).copied().filter(|&i| i != u32::MAX)
    }

    /// Queues a batch (dropped and counted when the observer is that far behind).
    pub fn send(&self, batch: Vec<ObservedSample>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        match self.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.diagnostics_dropped.fetch_add(n, Relaxed);
            }
        }
    }
}

/// The running observer thread; [`ObserverHandle::stop`] lets it take what is queued, saves the layer
/// and joins it (it also ends once every [`ObserverFeed`] is gone).
pub struct ObserverHandle {
    stop: SyncSender<Vec<ObservedSample>>,
    acks: Acknowledger,
    thread: Option<JoinHandle<()>>,
}

impl ObserverHandle {
    /// Where acknowledgements of anomaly episodes go.
    pub fn acknowledger(&self) -> Acknowledger {
        self.acks.clone()
    }

    /// Stops the thread after a last tick and a last save. Blocks.
    pub fn stop(mut self) {
        // An empty batch is the stop mark (feeds never send one).
        let _ = self.stop.send(Vec::new());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The diagnostics layer: created anew at each start (the detectors' state is not kept across runs).
struct DiagLayer {
    layer: Layer,
    path: PathBuf,
    /// Prims and attributes already authored.
    made: HashSet<String>,
    dirty: bool,
}

impl DiagLayer {
    fn create(path: &Path, root: &str) -> Result<DiagLayer, UsdError> {
        let mut layer = Layer::create_anonymous("twinloom-diagnostics", "usdc")?;
        layer.set_default_prim(root)?;
        layer.set_documentation(
            "Twinloom diagnostics: anomaly scores and open anomalies of the live signals (docs/diagnostics.md).",
        )?;
        layer.export_atomic(path)?;
        Ok(DiagLayer { layer, path: path.to_path_buf(), made: HashSet::new(), dirty: false })
    }

    fn write(&mut self, signals: &[ObservedSignal], writes: &[DiagWrite]) -> Result<(), UsdError> {
        let DiagLayer { layer, made, .. } = self;
        layer.change_block(|layer| {
            for w in writes {
                let Some(s) = signals.get(w.signal as usize) else { continue };
                if !made.contains(&s.prim) {
                    let mut at = String::new();
                    for part in s.prim.split('/').filter(|p| !p.is_empty()) {
                        at.push('/');
                        at.push_str(part);
                        if !layer.has_spec(&at) {
                            layer.define_prim(&at, Specifier::Over, "")?;
                        }
                    }
                    made.insert(s.prim.clone());
                }
                let name = w.namespace.attribute_name(&s.attr, w.field);
                let path = format!("{}.{name}", s.prim);
                let value = w.value.to_usd();
                if !made.contains(&path) {
                    layer.define_attribute(&s.prim, &AttributeDef::new(&name, value.value_type()).custom())?;
                    made.insert(path.clone());
                }
                layer.set_default(&path, &value)?;
            }
            Ok::<(), UsdError>(())
        })?;
        self.dirty |= !writes.is_empty();
        Ok(())
    }

    fn save(&mut self) -> Result<(), UsdError> {
        if self.dirty {
            self.layer.export_atomic(&self.path)?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// Settings of the observer thread.
pub struct ObserverSettings {
    pub stage_dir: PathBuf,
    pub root: String,
    pub tick: Duration,
    pub save_every: Duration,
}

/// Creates the diagnostics layer, attaches `observer` to `signals` and starts the observer thread.
pub fn start(
    settings: ObserverSettings,
    mut observer: Box<dyn SampleObserver>,
    index: Vec<u32>,
    signals: Vec<ObservedSignal>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
) -> Result<(ObserverFeed, ObserverHandle), ObserveError> {
    let path = settings.stage_dir.join(LAYER_FILE);
    let layer = DiagLayer::create(&path, &settings.root).map_err(|error| ObserveError::Layer { path, error })?;
    observer.attach(&signals).map_err(ObserveError::Attach)?;
    metrics.diagnostics_on.store(true, Relaxed);
    metrics.diagnostics_signals.store(signals.len() as u64, Relaxed);
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE_BATCHES);
    let (ack_tx, acks) = std::sync::mpsc::channel();
    let feed = ObserverFeed { index: index.into(), tx: tx.clone(), metrics: metrics.clone() };
    let worker = Worker { observer, signals, layer, hub, metrics, settings, acks };
    let thread = std::thread::Builder::new()
        .name("diagnostics".into())
        .spawn(move || worker.run(rx))
        .map_err(ObserveError::Thread)?;
    Ok((feed, ObserverHandle { stop: tx, acks: Acknowledger(ack_tx), thread: Some(thread) }))
}

struct Worker {
    observer: Box<dyn SampleObserver>,
    signals: Vec<ObservedSignal>,
    layer: DiagLayer,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    settings: ObserverSettings,
    /// Acknowledgements, taken once per tick.
    acks: Receiver<Ack>,
}

impl Worker {
    fn run(mut self, rx: Receiver<Vec<ObservedSample>>) {
        let mut batch: Vec<ObservedSample> = Vec::new();
        let mut out = Observations::default();
        let mut next = Instant::now() + self.settings.tick;
        let mut last_save = Instant::now();
        let mut stopping = false;
        while !stopping {
            match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(b) if b.is_empty() => stopping = true,
                Ok(mut b) => {
                    if batch.is_empty() {
                        std::mem::swap(&mut batch, &mut b);
                    } else {
                        batch.append(&mut b);
                    }
                    if Instant::now() < next {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => stopping = true,
                Err(RecvTimeoutError::Timeout) => {}
            }
            // Whatever is queued belongs to this tick.
            while let Ok(mut b) = rx.try_recv() {
                if b.is_empty() {
                    stopping = true;
                } else {
                    batch.append(&mut b);
                }
            }
            self.tick(&batch, &mut out);
            batch.clear();
            while let Ok(ack) = self.acks.try_recv() {
                self.acknowledge(ack, &mut out);
            }
            if batch.capacity() > 1 << 16 {
                batch = Vec::new();
            }
            next = Instant::now() + self.settings.tick;
            if last_save.elapsed() >= self.settings.save_every {
                self.save();
                last_save = Instant::now();
            }
        }
        self.save();
    }

    fn tick(&mut self, batch: &[ObservedSample], out: &mut Observations) {
        out.clear();
        let now_ms = crate::delta::epoch_ms(SystemTime::now()) as i64;
        self.observer.observe(now_ms, batch, out);
        let m = &self.metrics;
        m.diagnostics_samples.fetch_add(batch.len() as u64, Relaxed);
        m.anomalies_opened.fetch_add(out.opened, Relaxed);
        m.anomalies_open.store(out.open, Relaxed);
        self.emit(out);
    }

    /// Hands one acknowledgement to the observer; its event goes to every client and back to the caller.
    fn acknowledge(&mut self, ack: Ack, out: &mut Observations) {
        out.clear();
        let now_ms = crate::delta::epoch_ms(SystemTime::now()) as i64;
        let result = self.observer.acknowledge(ack.id, &ack.by, &ack.note, now_ms, out);
        let answer = result.and_then(|()| out.events.first().cloned().ok_or(AckError::Unsupported));
        if answer.is_ok() {
            self.metrics.anomalies_acknowledged.fetch_add(1, Relaxed);
            tracing::info!(episode = ack.id, by = %ack.by, "anomaly acknowledged");
        }
        self.emit(out);
        let _ = ack.reply.send(answer);
    }

    /// Writes `out`'s layer values and sends its events to every live client.
    fn emit(&mut self, out: &mut Observations) {
        let m = &self.metrics;
        if !out.writes.is_empty() {
            m.diagnostics_writes.fetch_add(out.writes.len() as u64, Relaxed);
            if let Err(e) = self.layer.write(&self.signals, &out.writes) {
                m.diagnostics_write_errors.fetch_add(1, Relaxed);
                tracing::error!("diagnostics layer: {e}");
            }
        }
        for text in out.events.drain(..) {
            self.hub.notify(text);
        }
    }

    fn save(&mut self) {
        if let Err(e) = self.layer.save() {
            self.metrics.diagnostics_write_errors.fetch_add(1, Relaxed);
            tracing::error!(path = %self.layer.path.display(), "saving the diagnostics layer failed: {e}");
        }
    }
}
