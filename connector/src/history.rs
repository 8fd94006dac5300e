//! The journal compacted into the plant's history (issue 16, docs/history.md): every `flush_interval_s`,
//! and before each `GET /v1/history` answer, the records journaled since the last compaction are decoded
//! and their `set` edits written as time samples (at `sourceTimeMs`, else the delta's `timeMs`) into the
//! [`twinloom_history`] clips of the stage folder. The journal position compacted so far is kept in
//! `history/position` (written after the clips are saved: a crash between the two compacts a stretch
//! again, which is harmless) and the journal keeps every record from there on (its truncation floor).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query as UrlQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use twinloom_history::{HistoryError, HistoryStore, Query, StoreOptions, HISTORY_DIR};
use twinloom_usd::{UpAxis, Value, ValueType};

use crate::delta::LiveValue;
use crate::hub::Hub;

/// The file (in `history/`) holding the first journal position not yet compacted.
pub const POSITION_FILE: &str = "position";

/// Counters of the compaction (in /metrics as `twinloom_history_*`).
#[derive(Debug, Default)]
pub struct HistoryCounters {
    pub compactions: AtomicU64,
    pub samples: AtomicU64,
    pub skipped: AtomicU64,
    pub errors: AtomicU64,
    /// Journal records that were gone (retention) before they were compacted.
    pub lost_records: AtomicU64,
    pub last_compaction_us: AtomicU64,
    pub queries: AtomicU64,
}

/// The history of a running service.
pub struct History {
    store: Mutex<HistoryStore>,
    hub: Arc<Hub>,
    position_file: PathBuf,
    /// The first journal position not yet compacted (also the journal's truncation floor).
    next: Arc<AtomicU64>,
    retention: Option<Duration>,
    pub counters: HistoryCounters,
}

/// Why a compaction or a query failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryServiceError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("history: reading the journal: {0}")]
    Journal(#[from] twinloom_journal::Error),
    #[error("history {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
}

impl History {
    /// Opens the history of `stage_dir` (root prim `root`, e.g. `Plant`) and attaches its position to the
    /// hub's journal as the truncation floor.
    pub fn open(
        stage_dir: &Path,
        root: &str,
        hub: Arc<Hub>,
        retention_days: Option<f64>,
    ) -> Result<Arc<History>, HistoryServiceError> {
        let options = StoreOptions {
            root_prim: format!("/{root}"),
            base_layers: vec!["plant.usda".into()],
            up_axis: UpAxis::Z,
            meters_per_unit: 1.0,
        };
        let store = HistoryStore::open(stage_dir, options)?;
        let dir = stage_dir.join(HISTORY_DIR);
        std::fs::create_dir_all(&dir).map_err(|error| HistoryServiceError::Io { path: dir.clone(), error })?;
        let position_file = dir.join(POSITION_FILE);
        let next = std::fs::read_to_string(&position_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        let next = Arc::new(AtomicU64::new(next));
        hub.set_journal_floor(next.clone());
        Ok(Arc::new(History {
            store: Mutex::new(store),
            hub,
            position_file,
            next,
            retention: retention_days.map(|d| Duration::from_secs_f64(d * 86_400.0)),
            counters: HistoryCounters::default(),
        }))
    }

    /// Compacts every record journaled since the last compaction into the clips.
    pub fn compact(&self) -> Result<u64, HistoryServiceError> {
        let t0 = Instant::now();
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let from = self.next.load(Relaxed);
        let Some((mut reader, first)) = self.hub.journal_reader(from).transpose()? else { return Ok(0) };
        if first > from && from > 0 {
            self.counters.lost_records.fetch_add(first - from, Relaxed);
            tracing::error!(from, first, "history: journal records {from}..{first} were deleted before they were compacted (raise journal.max_mib or lower history.flush_interval_s)");
        }
        let mut added = 0u64;
        while let Some(record) = reader.next_record() {
            let (_, payload) = record?;
            added += self.add_record(&mut store, payload);
        }
        let end = reader.end_position();
        let report = store.flush();
        let c = &self.counters;
        c.compactions.fetch_add(1, Relaxed);
        c.last_compaction_us.store(t0.elapsed().as_micros() as u64, Relaxed);
        let report = report.inspect_err(|_| {
            c.errors.fetch_add(1, Relaxed);
        })?;
        c.samples.fetch_add(report.samples, Relaxed);
        c.skipped.fetch_add(report.skipped, Relaxed);
        if end != from {
            write_position(&self.position_file, end)?;
            self.next.store(end, Relaxed);
        }
        if let Some(keep) = self.retention {
            self.enforce_retention(store.stage_dir(), keep);
        }
        Ok(added)
    }

    /// Adds one journal record's `set` edits; returns how many (bad edits are counted, never fatal).
    fn add_record(&self, store: &mut HistoryStore, payload: &[u8]) -> u64 {
        let Some((seq, packed)) = crate::journal::decode(payload) else {
            self.counters.skipped.fetch_add(1, Relaxed);
            return 0;
        };
        if seq == crate::journal::RAW_SAMPLES {
            return 0; // the forwarder's raw samples: their coalesced values are in the tick's delta
        }
        let Some(delta) = unpack(packed) else {
            self.counters.skipped.fetch_add(1, Relaxed);
            return 0;
        };
        let (Some(shop), Some(edits)) = (delta["shop"].as_str(), delta["edits"].as_array()) else { return 0 };
        let tick_ms = delta["timeMs"].as_f64().unwrap_or(0.0);
        let mut n = 0;
        for e in edits {
            let parsed = (|| {
                let (prim, attr) = e["path"].as_str()?.rsplit_once('.')?;
                let ty = ValueType::from_sdf_name(e["type"].as_str()?)?;
                let value = to_usd(LiveValue::from_json(ty, &e["value"])?);
                let ms = e["sourceTimeMs"].as_f64().unwrap_or(tick_ms);
                Some((prim, attr, ty, ms / 1e3, value))
            })();
            let added =
                parsed.is_some_and(|(prim, attr, ty, t, value)| store.add(shop, prim, attr, ty, t, value).is_ok());
            if added {
                n += 1;
            } else {
                self.counters.skipped.fetch_add(1, Relaxed);
            }
        }
        n
    }

    /// `attr_path`'s history in `from..=to` (seconds since the Unix epoch), after compacting what the
    /// journal holds beyond the clips.
    pub fn query(&self, attr_path: &str, from: f64, to: f64) -> Result<Query, HistoryServiceError> {
        self.counters.queries.fetch_add(1, Relaxed);
        if let Err(e) = self.compact() {
            tracing::warn!("history: compaction before a query: {e}");
        }
        let store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        Ok(store.query(attr_path, from, to)?)
    }

    /// Deletes clips whose hour ended more than `keep` ago (history.usda is rewritten at the next flush).
    fn enforce_retention(&self, stage_dir: &Path, keep: Duration) {
        let now = crate::delta::epoch_ms(std::time::SystemTime::now()) / 1e3;
        let oldest_hour = twinloom_history::hour_of(now - keep.as_secs_f64()) - 1;
        let Ok(shops) = std::fs::read_dir(stage_dir.join(HISTORY_DIR)) else { return };
        for shop in shops.flatten().filter(|e| e.path().is_dir()) {
            for h in twinloom_history::clip_hours(&shop.path()).into_iter().filter(|h| *h < oldest_hour) {
                let _ = std::fs::remove_file(shop.path().join(twinloom_history::clip_file_name(h)));
            }
        }
    }

    /// The `twinloom_history_*` metrics.
    pub fn render(&self, out: &mut String) {
        let c = &self.counters;
        let pending = self.hub.journal_next_position().map_or(0, |n| n.saturating_sub(self.next.load(Relaxed)));
        for (name, kind, help, v) in [
            ("compactions_total", "counter", "Journal compactions into history clips.", c.compactions.load(Relaxed)),
            ("samples_total", "counter", "Samples written to history clips.", c.samples.load(Relaxed)),
            ("skipped_total", "counter", "Journal records or edits history could not use.", c.skipped.load(Relaxed)),
            ("errors_total", "counter", "Compactions that failed.", c.errors.load(Relaxed)),
            (
                "lost_records_total",
                "counter",
                "Journal records deleted before compaction.",
                c.lost_records.load(Relaxed),
            ),
            ("queries_total", "counter", "History queries answered.", c.queries.load(Relaxed)),
            ("pending_records", "gauge", "Journal records not yet compacted.", pending),
            ("last_compaction_us", "gauge", "Duration of the last compaction.", c.last_compaction_us.load(Relaxed)),
        ] {
            out.push_str(&format!(
                "# HELP twinloom_history_{name} {help}\n# TYPE twinloom_history_{name} {kind}\ntwinloom_history_{name} {v}\n"
            ));
        }
    }
}

/// The compaction thread: compacts every `every` until it is finished or dropped (then once more).
pub struct Compactor {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Compactor {
    pub fn spawn(history: Arc<History>, every: Duration) -> std::io::Result<Compactor> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new().name("history".into()).spawn(move || {
            // The first compaction runs at once: what the last run journaled and did not compact.
            let mut last: Option<Instant> = None;
            loop {
                let stopping = flag.load(Relaxed);
                if stopping || last.is_none_or(|t| t.elapsed() >= every) {
                    last = Some(Instant::now());
                    if let Err(e) = history.compact() {
                        tracing::error!("history compaction failed: {e}");
                    }
                }
                if stopping {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100).min(every));
            }
        })?;
        Ok(Compactor { stop, thread: Some(thread) })
    }

    /// Compacts once more and waits for the thread to end (blocking).
    pub fn finish(mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Compactor {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

fn write_position(path: &Path, position: u64) -> Result<(), HistoryServiceError> {
    let tmp = path.with_extension("tmp");
    let io = |error| HistoryServiceError::Io { path: path.to_path_buf(), error };
    std::fs::write(&tmp, format!("{position}\n")).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn unpack(packed: &[u8]) -> Option<serde_json::Value> {
    let body = lz4_flex::block::decompress_size_prepended(packed).ok()?;
    serde_json::from_slice(&body).ok()
}

fn to_usd(v: LiveValue) -> Value {
    match v {
        LiveValue::Bool(b) => Value::Bool(b),
        LiveValue::Int(i) => Value::Int(i),
        LiveValue::Int64(i) => Value::Int64(i),
        LiveValue::Float(x) => Value::Float(x),
        LiveValue::Double(x) => Value::Double(x),
        LiveValue::Float3(x) => Value::Float3(x),
        LiveValue::String(s) => Value::String(s),
        LiveValue::Token(s) => Value::Token(s),
    }
}

/// `GET /v1/history?attr=/Plant/…​.name&from=T&to=T[&format=csv]` (T: seconds since the Unix epoch, or
/// RFC 3339): JSON `{attr, shop, type, prior, samples:[[t, value], …]}` or CSV `time,value`.
pub fn router(history: Arc<History>) -> Router {
    Router::new().route("/v1/history", get(get_history)).with_state(history)
}

/// The route when history is off.
pub fn disabled_router() -> Router {
    Router::new().route(
        "/v1/history",
        get(|| async {
            (StatusCode::NOT_FOUND, "history is not enabled: [history] enabled = true (docs/history.md)\n")
        }),
    )
}

#[derive(Deserialize)]
struct HistoryParams {
    attr: String,
    from: String,
    to: String,
    #[serde(default)]
    format: Option<String>,
}

/// A time given as seconds since the Unix epoch or as RFC 3339.
pub fn parse_time(s: &str) -> Option<f64> {
    if let Ok(x) = s.trim().parse::<f64>() {
        return x.is_finite().then_some(x);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    Some(t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9)
}

async fn get_history(State(h): State<Arc<History>>, UrlQuery(p): UrlQuery<HistoryParams>) -> Response {
    let bad = |m: String| (StatusCode::BAD_REQUEST, m + "\n").into_response();
    let Some(from) = parse_time(&p.from) else { return bad(format!("from={:?} is not a time", p.from)) };
    let Some(to) = parse_time(&p.to) else { return bad(format!("to={:?} is not a time", p.to)) };
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return bad(format!("format={other:?}: json or csv")),
    };
    let result = tokio::task::spawn_blocking(move || h.query(&p.attr, from, to)).await;
    match result {
        Ok(Ok(q)) if csv => ([(header::CONTENT_TYPE, "text/csv")], query_csv(&q)).into_response(),
        Ok(Ok(q)) => axum::Json(query_json(&q)).into_response(),
        Ok(Err(HistoryServiceError::History(
            e @ (HistoryError::UnknownAttribute(_) | HistoryError::BadPath(_) | HistoryError::BadRange { .. }),
        ))) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("history query failed: {e}\n")).into_response(),
    }
}

/// A value as JSON (the live protocol's form).
pub fn value_json(v: &Value) -> serde_json::Value {
    match LiveValue::from_usd(v.clone()) {
        Some(l) => serde_json::to_value(&l).unwrap_or(serde_json::Value::Null),
        None => serde_json::Value::Null,
    }
}

/// A query as JSON: `{attr, shop, type, prior: [t, v] | null, samples: [[t, v], …]}`.
pub fn query_json(q: &Query) -> serde_json::Value {
    let pair = |(t, v): &(f64, Value)| serde_json::json!([t, value_json(v)]);
    serde_json::json!({
        "attr": q.attr,
        "shop": q.shop,
        "type": q.value_type,
        "prior": q.prior.as_ref().map(pair),
        "samples": q.samples.iter().map(pair).collect::<Vec<_>>(),
    })
}

/// A query as CSV: `time,value` rows (time in seconds since the Unix epoch), the samples in the range.
pub fn query_csv(q: &Query) -> String {
    let mut out = String::from("time,value\n");
    for (t, v) in &q.samples {
        let v = match value_json(v) {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!("{t},{v}\n"));
    }
    out
}
