//! `twinloom replay` (issue 16, docs/history.md): a past period of the plant, read from the history clips,
//! served on the live stream protocol (docs/live-protocol.md), so a client that follows a live connector
//! (Kit, a browser, a usd-core script) plays an incident back with the code it already has.
//!
//! Every connection gets its own playback: `hello` (with a `replay` object: from, to, speed), snapshots
//! that hold the state at `from` (`x-twinloom-seq: 0`), then one `delta` per shop and sample time in time
//! order, paced at `speed` times real time (0: as fast as the client reads), and a close frame 1000 when
//! the period ends. `since`/`epoch` resume a playback where it was.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use twinloom_history::{HistoryError, HistoryReader};
use twinloom_usd::{Layer, Value};

use crate::history::value_json;

/// A past period ready to serve.
pub struct Replay {
    pub from: f64,
    pub to: f64,
    pub speed: f64,
    /// The playback's epoch: `from` in Unix milliseconds (a live connector's epochs are its start times).
    pub epoch: u64,
    pub shops: Vec<ReplayShop>,
    /// (sample time in seconds, delta body after the sequence number), in time order.
    pub deltas: Vec<(f64, String)>,
    /// Samples in the deltas.
    pub samples: usize,
}

/// One shop of a replay: its live layer's name and the snapshot at `from` (`.usdc` bytes).
pub struct ReplayShop {
    pub name: String,
    pub layer: String,
    pub snapshot: Vec<u8>,
}

/// Why a replay could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error("replay: {0}")]
    Usd(#[from] twinloom_usd::UsdError),
    #[error("replay: {what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("replay: {0} has no history (run the service with [history] enabled = true, docs/history.md)")]
    NoHistory(String),
    #[error("replay: speed must be 0 (as fast as the client reads) or positive, not {0}")]
    BadSpeed(f64),
}

impl Replay {
    /// Reads `from..=to` from the history of `stage_dir`.
    pub fn prepare(stage_dir: &Path, from: f64, to: f64, speed: f64) -> Result<Replay, ReplayError> {
        if !(speed.is_finite() && speed >= 0.0) {
            return Err(ReplayError::BadSpeed(speed));
        }
        let reader = HistoryReader::open(stage_dir)?;
        let period = reader.period(from, to)?;
        if period.is_empty() {
            return Err(ReplayError::NoHistory(stage_dir.display().to_string()));
        }
        let tmp = std::env::temp_dir().join(format!("twinloom-replay-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|error| ReplayError::Io { what: tmp.display().to_string(), error })?;
        let mut shops = Vec::new();
        let mut samples: Vec<(f64, usize, &str, &str, &Value)> = Vec::new();
        for (index, (shop, queries)) in period.iter().enumerate() {
            let mut layer = Layer::create_anonymous(shop, "usdc")?;
            layer.change_block(|l| -> Result<(), ReplayError> {
                for q in queries {
                    if let Some((_, v)) = &q.prior {
                        l.upsert_default(&q.attr, v)?;
                    }
                }
                Ok(())
            })?;
            let file = tmp.join(format!("{shop}.usdc"));
            layer.export(&file)?;
            let snapshot =
                std::fs::read(&file).map_err(|error| ReplayError::Io { what: file.display().to_string(), error })?;
            let _ = std::fs::remove_file(&file);
            shops.push(ReplayShop { name: shop.clone(), layer: format!("live/{shop}.usdc"), snapshot });
            for q in queries {
                samples.extend(q.samples.iter().map(|(t, v)| (*t, index, q.attr.as_str(), q.value_type.as_str(), v)));
            }
        }
        let _ = std::fs::remove_dir(&tmp);
        samples.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut deltas = Vec::new();
        let mut i = 0;
        while i < samples.len() {
            let (t, shop) = (samples[i].0, samples[i].1);
            let mut edits = Vec::new();
            while i < samples.len() && samples[i].0 == t && samples[i].1 == shop {
                let (_, _, path, ty, v) = samples[i];
                edits.push(serde_json::json!({"op": "set", "path": path, "type": ty, "value": value_json(v), "sourceTimeMs": t * 1e3}));
                i += 1;
            }
            let s = &shops[shop];
            let body = serde_json::json!({"shop": s.name, "layer": s.layer, "timeMs": t * 1e3, "edits": edits});
            deltas.push((t, body.to_string()));
        }
        Ok(Replay { from, to, speed, epoch: (from * 1e3).max(0.0) as u64, shops, deltas, samples: samples.len() })
    }

    /// The router: `/v1/live`, `/v1/snapshot?shop=`, `/healthz`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/v1/live", get(live))
            .route("/v1/snapshot", get(snapshot))
            .route("/healthz", get(|| async { "ok\n" }))
            .with_state(self)
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router().into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

#[derive(Deserialize)]
struct SnapshotQuery {
    shop: Option<String>,
}

async fn snapshot(State(r): State<Arc<Replay>>, Query(q): Query<SnapshotQuery>) -> Response {
    let Some(s) = r.shops.iter().find(|s| Some(&s.name) == q.shop.as_ref()) else {
        let names: Vec<&str> = r.shops.iter().map(|s| s.name.as_str()).collect();
        return (StatusCode::NOT_FOUND, format!("no shop {:?}; shops: {}\n", q.shop, names.join(", "))).into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static("x-twinloom-seq"), "0".to_string()),
            (header::HeaderName::from_static("x-twinloom-epoch"), r.epoch.to_string()),
        ],
        s.snapshot.clone(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LiveQuery {
    since: Option<String>,
    epoch: Option<String>,
}

async fn live(State(r): State<Arc<Replay>>, Query(q): Query<LiveQuery>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| async move {
        if let Err(e) = play(&r, socket, q).await {
            tracing::debug!("replay client ended: {e}");
        }
    })
}

async fn play(r: &Replay, mut socket: WebSocket, q: LiveQuery) -> Result<(), axum::Error> {
    let since = q.since.as_deref().and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let same_epoch = q.epoch.as_deref().is_none_or(|e| e.parse::<u64>().ok() == Some(r.epoch));
    let start = if same_epoch { (since as usize).min(r.deltas.len()) } else { 0 };
    let shops: Vec<serde_json::Value> = r
        .shops
        .iter()
        .map(|s| serde_json::json!({"name": s.name, "layer": s.layer, "snapshot": format!("/v1/snapshot?shop={}", s.name)}))
        .collect();
    let hello = serde_json::json!({
        "type": "hello", "protocol": crate::server::PROTOCOL_VERSION, "stage": "plant.usda", "epoch": r.epoch,
        "seq": start, "shops": shops,
        "replay": {"from": r.from, "to": r.to, "speed": r.speed, "deltas": r.deltas.len()},
    });
    socket.send(Message::Text(hello.to_string().into())).await?;
    if !same_epoch {
        let resync = serde_json::json!({"type": "resync", "reason": "epoch", "seq": 0,
            "detail": "this replay has another epoch; take the snapshots (the state at the period's start)"});
        socket.send(Message::Text(resync.to_string().into())).await?;
    }
    // Pacing: the delta at time t goes out (t - from) / speed after the playback's start.
    let origin = r.deltas.get(start.saturating_sub(1)).map_or(r.from, |(t, _)| if start == 0 { r.from } else { *t });
    let wall = Instant::now();
    for (k, (t, body)) in r.deltas.iter().enumerate().skip(start) {
        if r.speed > 0.0 {
            let due = wall + Duration::from_secs_f64(((t - origin) / r.speed).max(0.0));
            tokio::time::sleep_until(due.into()).await;
        }
        socket.send(Message::Text(crate::delta::delta_text(k as u64 + 1, body).into())).await?;
    }
    let close = CloseFrame { code: 1000, reason: "replay finished".into() };
    socket.send(Message::Close(Some(close))).await?;
    // Wait briefly for the client's close reply.
    let _ = tokio::time::timeout(Duration::from_secs(2), socket.recv()).await;
    Ok(())
}
