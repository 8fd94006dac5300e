//! The HTTP side: the live stream (`/v1/live`, WebSocket), snapshots (`/v1/snapshot?shop=…`, `.usdc` or
//! with `&format=json` JSON edits), the web view (`/`, `/web/…`, `/v1/scene`, [`crate::web`]) and the ops
//! endpoints (`/healthz`, `/readyz`, `/metrics`). The protocol is documented in docs/live-protocol.md.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::delta::epoch_ms;
use crate::hub::{Hub, Resume};
use crate::metrics::Metrics;
use crate::shop_writer::WriterClient;

/// Version of the live protocol (docs/live-protocol.md).
pub const PROTOCOL_VERSION: u32 = 1;

/// What the handlers share.
pub struct AppState {
    pub hub: Arc<Hub>,
    pub metrics: Arc<Metrics>,
    pub writers: Vec<WriterClient>,
    /// The layer path of each shop, relative to the stage folder.
    pub layers: Vec<String>,
    /// The root layer's file name (e.g. `plant.usda`).
    pub stage: String,
    /// Identifies this run: sequence numbers restart with a new epoch.
    pub epoch: u64,
    /// A writer that has not ticked for this long makes /readyz fail.
    pub ready_tick_age_ms: u64,
    /// Write-back: commands from HTTP and live clients (docs/write-back.md).
    pub engine: Arc<crate::command::engine::Engine>,
    /// Where commands are served instead (TLS), when they are not served here.
    pub commands_over_tls: Option<SocketAddr>,
    /// MES (`[mes]`): its layer's deltas, snapshots and `POST /v1/mes`.
    pub mes: Option<Arc<crate::mes::live::MesLive>>,
    /// History (`[history]`): `GET /v1/history` and its metrics.
    pub history: Option<Arc<crate::history::History>>,
    /// Becomes true when the service stops: live clients get what was published (the last tick
    /// included), then a close frame (1001, going away).
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// The web view: its page and the stage's 3D scene (docs/web.md).
    pub web: Arc<crate::web::WebView>,
    /// Acknowledgements of anomaly episodes, when diagnostics run.
    pub acks: Option<crate::observe::Acknowledger>,
    /// The stage folder's `recommendations.usda`, read and served ([`crate::recommend`]).
    pub recommendations: Arc<crate::recommend::Recommendations>,
    /// `POST /v1/ask`: the program's copilot over the stage folder ([`crate::ask`]).
    pub ask: crate::ask::AskRoute,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/live", get(live))
        .route("/v1/snapshot", get(snapshot))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(crate::web::router(state.web.clone()))
        .merge(crate::observe::router(state.acks.clone()))
        .merge(crate::recommend::router(state.recommendations.clone()))
        .merge(crate::ask::router(state.ask.clone()))
        .merge(match state.commands_over_tls {
            Some(tls) => crate::command::http::refusing_router(tls),
            None => crate::command::http::router(state.engine.clone()),
        })
        .merge(match &state.history {
            Some(h) => crate::history::router(h.clone()),
            None => crate::history::disabled_router(),
        })
        .merge(match &state.mes {
            Some(mes) => crate::mes::live::router(mes.clone()),
            None => Router::new().route(
                "/v1/mes",
                axum::routing::post(|| async { (StatusCode::NOT_FOUND, "MES is not configured: no [mes] table\n") }),
            ),
        })
}

/// Binds `addr` and serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(s): State<Arc<AppState>>) -> Response {
    let mut text = s.metrics.render();
    if let Some(mes) = &s.mes {
        mes.counters().render(&mut text);
    }
    if let Some(h) = &s.history {
        h.render(&mut text);
    }
    let (deltas, bytes) = s.hub.ring_usage();
    text.push_str(&format!(
        "# HELP twinloom_stream_ring_deltas Deltas kept for resuming clients.\n# TYPE twinloom_stream_ring_deltas gauge\ntwinloom_stream_ring_deltas {deltas}\n\
         # HELP twinloom_stream_ring_bytes Compressed bytes of those deltas (at most ring_mib).\n# TYPE twinloom_stream_ring_bytes gauge\ntwinloom_stream_ring_bytes {bytes}\n"
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn readyz(State(s): State<Arc<AppState>>) -> Response {
    let mut problems = Vec::new();
    for (name, c) in s.metrics.sources() {
        if !c.is_connected() {
            problems.push(format!("source {name} is not connected"));
        }
    }
    let now = epoch_ms(SystemTime::now()) as u64;
    for (name, m) in s.metrics.shops() {
        let last = m.last_tick_ms.load(Relaxed);
        if last == 0 || now.saturating_sub(last) > s.ready_tick_age_ms {
            problems.push(format!("writer {name} has not written for {} ms", now.saturating_sub(last)));
        }
    }
    if problems.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", problems.join("; "))).into_response()
    }
}

#[derive(Deserialize)]
struct SnapshotQuery {
    shop: Option<String>,
    /// `json`: the values as the `set` edits of a delta instead of `.usdc` bytes.
    format: Option<String>,
}

async fn snapshot(State(s): State<Arc<AppState>>, Query(q): Query<SnapshotQuery>) -> Response {
    let mut names: Vec<&str> = s.writers.iter().map(|w| w.name.as_str()).collect();
    if s.mes.is_some() {
        names.push(crate::mes::SHOP);
    }
    let json = match q.format.as_deref() {
        None | Some("usdc") => false,
        Some("json") => true,
        Some(other) => {
            return (StatusCode::BAD_REQUEST, format!("format={other:?}: use json or usdc\n")).into_response();
        }
    };
    if let (Some(mes), Some(crate::mes::SHOP), true) = (&s.mes, q.shop.as_deref(), json) {
        return match mes.snapshot_json() {
            Ok((seq, edits)) => {
                s.metrics.snapshots_served.fetch_add(1, Relaxed);
                json_snapshot_response(crate::mes::SHOP, crate::mes::LAYER_FILE, seq, s.epoch, &edits)
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot of mes failed: {e}\n")).into_response(),
        };
    }
    if let (Some(mes), Some(crate::mes::SHOP)) = (&s.mes, q.shop.as_deref()) {
        return match mes.snapshot() {
            Ok(snap) => {
                s.metrics.snapshots_served.fetch_add(1, Relaxed);
                snapshot_response(snap.seq, s.epoch, snap.usdc)
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot of mes failed: {e}\n")).into_response(),
        };
    }
    let Some(shop) = q.shop else {
        return (StatusCode::BAD_REQUEST, format!("missing ?shop=; shops: {}\n", names.join(", "))).into_response();
    };
    let Some(i) = s.writers.iter().position(|w| w.name == shop) else {
        return (StatusCode::NOT_FOUND, format!("no shop {shop:?}; shops: {}\n", names.join(", "))).into_response();
    };
    let w = &s.writers[i];
    if json {
        let layer = s.layers.get(i).map(String::as_str).unwrap_or_default();
        return match w.snapshot_json().await {
            Ok(snap) => {
                s.metrics.snapshots_served.fetch_add(1, Relaxed);
                json_snapshot_response(&shop, layer, snap.seq, s.epoch, &snap.edits)
            }
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot of {shop} failed: {e}\n")).into_response(),
        };
    }
    match w.snapshot().await {
        Ok(snap) => {
            s.metrics.snapshots_served.fetch_add(1, Relaxed);
            snapshot_response(snap.seq, s.epoch, snap.bytes)
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("snapshot of {shop} failed: {e}\n")).into_response(),
    }
}

/// A snapshot's bytes with the sequence number and epoch it belongs to (docs/live-protocol.md).
fn snapshot_response(seq: u64, epoch: u64, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::HeaderName::from_static("x-twinloom-seq"), seq.to_string()),
            (header::HeaderName::from_static("x-twinloom-epoch"), epoch.to_string()),
        ],
        bytes,
    )
        .into_response()
}

/// A JSON snapshot (`format=json`): `{"shop","layer","seq","epoch","edits"}` with the same headers.
fn json_snapshot_response(shop: &str, layer: &str, seq: u64, epoch: u64, edits: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::HeaderName::from_static("x-twinloom-seq"), seq.to_string()),
            (header::HeaderName::from_static("x-twinloom-epoch"), epoch.to_string()),
        ],
        crate::web::snapshot_json_body(shop, layer, seq, epoch, edits),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LiveQuery {
    since: Option<String>,
    epoch: Option<String>,
}

#[derive(Serialize)]
struct ShopInfo<'a> {
    name: &'a str,
    layer: &'a str,
    snapshot: String,
}

#[derive(Serialize)]
struct Hello<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    protocol: u32,
    stage: &'a str,
    epoch: u64,
    seq: u64,
    shops: Vec<ShopInfo<'a>>,
}

async fn live(State(s): State<Arc<AppState>>, Query(q): Query<LiveQuery>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| client(s, socket, q))
}

fn resync(reason: &str, seq: u64, detail: &str) -> String {
    serde_json::json!({"type": "resync", "reason": reason, "seq": seq, "detail": detail}).to_string()
}

/// One WebSocket client: hello, optional replay from `since`, then live deltas in order.
async fn client(s: Arc<AppState>, mut socket: WebSocket, q: LiveQuery) {
    s.metrics.stream_clients.fetch_add(1, Relaxed);
    let m = s.metrics.clone();
    let result = run_client(&s, &mut socket, q).await;
    if let Err(e) = result {
        tracing::debug!("live client ended: {e}");
    }
    m.stream_clients.fetch_sub(1, Relaxed);
}

async fn send(socket: &mut WebSocket, m: &Metrics, text: String) -> Result<(), String> {
    m.stream_messages.fetch_add(1, Relaxed);
    socket.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
}

async fn run_client(s: &AppState, socket: &mut WebSocket, q: LiveQuery) -> Result<(), String> {
    let m = &s.metrics;
    // The query is the client's input: a bad `since` is answered, not fatal.
    let since = match q.since.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            m.stream_client_errors.fetch_add(1, Relaxed);
            let msg = serde_json::json!({"type": "error", "message": format!("since={:?} is not a sequence number", q.since.unwrap_or_default())});
            send(socket, m, msg.to_string()).await?;
            None
        }
    };
    let epoch_ok = match q.epoch.as_deref() {
        None => true,
        Some(e) => e.parse::<u64>().ok() == Some(s.epoch),
    };
    // Subscribe first (under the hub's lock), so nothing published after `current` is missed.
    let (mut rx, replay, mut last_sent, notice) = match since {
        Some(since) if epoch_ok => match s.hub.resume(since) {
            Resume::Replay(items, rx) => (rx, items, since, None),
            Resume::Gone { current, oldest, rx } => {
                let detail =
                    format!("deltas after {since} are no longer kept (oldest kept: {oldest}); take a snapshot");
                (rx, Vec::new(), current, Some(resync("gone", current, &detail)))
            }
        },
        Some(_) => {
            let (current, rx) = s.hub.subscribe();
            let detail = "the server restarted since that sequence number; take a snapshot";
            (rx, Vec::new(), current, Some(resync("epoch", current, detail)))
        }
        None => {
            let (current, rx) = s.hub.subscribe();
            (rx, Vec::new(), current, None)
        }
    };
    // Command updates and notices too are subscribed to before the hello: a client that has its hello
    // gets every later one.
    let mut commands = s.engine.subscribe();
    // Messages that are not deltas (anomaly events, docs/diagnostics.md): no seq, not replayed.
    let mut notices = s.hub.notices();
    let current = replay.last().map(|p| p.seq).unwrap_or(last_sent).max(last_sent);
    send(socket, m, hello(s, current)).await?;
    if let Some(n) = notice {
        m.stream_resyncs.fetch_add(1, Relaxed);
        send(socket, m, n).await?;
    }
    for p in replay {
        last_sent = p.seq;
        send(socket, m, p.text()?).await?;
    }
    let mut closing = s.closing.clone();
    // Answers to this client's command messages (errors; command updates come to every client).
    let (reply_tx, mut replies) = tokio::sync::mpsc::channel::<String>(16);
    loop {
        tokio::select! {
            Some(reply) = replies.recv() => send(socket, m, reply).await?,
            update = commands.recv() => match update {
                Ok(text) => send(socket, m, text).await?,
                Err(RecvError::Lagged(n)) => {
                    let msg = serde_json::json!({"type": "error", "message": format!("{n} command updates were dropped for this slow client; GET /v1/commands/{{id}} has them")});
                    send(socket, m, msg.to_string()).await?;
                }
                Err(RecvError::Closed) => {}
            },
            notice = notices.recv() => match notice {
                Ok(text) => send(socket, m, text.to_string()).await?,
                Err(RecvError::Lagged(n)) => {
                    let msg = serde_json::json!({"type": "error", "message": format!("{n} anomaly events were dropped for this slow client; diagnostics.usdc has the open anomalies")});
                    send(socket, m, msg.to_string()).await?;
                }
                Err(RecvError::Closed) => {}
            },
            _ = async { let _ = closing.wait_for(|c| *c).await; } => {
                while let Ok(p) = rx.try_recv() {
                    if p.seq > last_sent {
                        last_sent = p.seq;
                        send(socket, m, p.text()).await?;
                    }
                }
                let frame = CloseFrame { code: axum::extract::ws::close_code::AWAY, reason: "the connector is shutting down".into() };
                return socket.send(Message::Close(Some(frame))).await.map_err(|e| e.to_string());
            }
            msg = rx.recv() => match msg {
                Ok(p) => {
                    if p.seq <= last_sent {
                        continue;
                    }
                    last_sent = p.seq;
                    send(socket, m, p.text()).await?;
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow for the live channel: replay from the ring if it still holds what we missed.
                    match s.hub.resume(last_sent) {
                        Resume::Replay(items, new_rx) => {
                            rx = new_rx;
                            for p in items {
                                last_sent = p.seq;
                                send(socket, m, p.text()?).await?;
                            }
                        }
                        Resume::Gone { current, rx: new_rx, .. } => {
                            rx = new_rx;
                            m.stream_resyncs.fetch_add(1, Relaxed);
                            send(socket, m, resync("lagged", current, &format!("the client fell behind after {last_sent}; take a snapshot"))).await?;
                            last_sent = current;
                        }
                    }
                }
                Err(RecvError::Closed) => return Ok(()),
            },
            incoming = socket.recv() => match incoming {
                None => return Ok(()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = client_message(s, t.as_str(), &reply_tx) {
                        send(socket, m, reply).await?;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    m.stream_client_errors.fetch_add(1, Relaxed);
                    send(socket, m, serde_json::json!({"type": "error", "message": "binary messages are not part of the protocol"}).to_string()).await?;
                }
                Some(Ok(_)) => {} // ping/pong are handled by the library
            },
        }
    }
}

fn hello(s: &AppState, seq: u64) -> String {
    let mut shops: Vec<ShopInfo> = s
        .writers
        .iter()
        .zip(&s.layers)
        .map(|(w, layer)| ShopInfo { name: &w.name, layer, snapshot: format!("/v1/snapshot?shop={}", w.name) })
        .collect();
    if s.mes.is_some() {
        let (name, layer) = (crate::mes::SHOP, crate::mes::LAYER_FILE);
        shops.push(ShopInfo { name, layer, snapshot: format!("/v1/snapshot?shop={name}") });
    }
    serde_json::to_string(&Hello {
        kind: "hello",
        protocol: PROTOCOL_VERSION,
        stage: &s.stage,
        epoch: s.epoch,
        seq,
        shops,
    })
    .unwrap_or_default()
}

/// Answers a client's text message: `{"type":"ping"}` gets a pong; `{"type":"command", "token": …,
/// "target": …, "value": …, "reason": …}` and `{"type":"approve", "token": …, "id": …}` go to the command
/// engine in their own task (their updates reach every client; an error only this one, through `replies`);
/// `{"type":"ack","anomaly": ID, "by": …, "note": …}` acknowledges an anomaly episode the same way;
/// anything else an error (counted).
fn client_message(s: &AppState, text: &str, replies: &tokio::sync::mpsc::Sender<String>) -> Option<String> {
    let m = &s.metrics;
    let error = |message: String| {
        m.stream_client_errors.fetch_add(1, Relaxed);
        Some(serde_json::json!({"type": "error", "message": message}).to_string())
    };
    let mut msg: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(o)) => o,
        Ok(_) => return error("not a protocol message: expected a JSON object".into()),
        Err(e) => return error(format!("not a protocol message: {e}")),
    };
    let kind = msg.remove("type").and_then(|t| t.as_str().map(String::from)).unwrap_or_default();
    match kind.as_str() {
        "ping" => Some(r#"{"type":"pong"}"#.to_string()),
        "command" | "approve" if s.commands_over_tls.is_some() => {
            let tls = s.commands_over_tls.map(|a| a.to_string()).unwrap_or_default();
            error(format!("commands are accepted over TLS only, on https://{tls}"))
        }
        "command" | "approve" => {
            let token = msg.remove("token").and_then(|t| t.as_str().map(String::from));
            let engine = s.engine.clone();
            let replies = replies.clone();
            tokio::spawn(async move {
                let result = async {
                    let origin = engine.authenticate(token.as_deref())?;
                    if kind == "approve" {
                        let id = msg.get("id").and_then(|i| i.as_str()).unwrap_or_default().to_string();
                        engine.approve(&id, origin).await
                    } else {
                        let body = serde_json::Value::Object(msg).to_string();
                        engine.submit(origin, crate::command::http::parse_request(body.as_bytes())?).await
                    }
                };
                if let Err(e) = result.await {
                    let text =
                        serde_json::json!({"type": "error", "message": e.to_string(), "request": kind}).to_string();
                    let _ = replies.send(text).await;
                }
            });
            None
        }
        "ack" => {
            let Some(acks) = s.acks.clone() else {
                return error("diagnostics are not configured: nothing to acknowledge".into());
            };
            let id = msg.get("anomaly").and_then(|v| v.as_u64());
            let by = msg.get("by").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let note = msg.get("note").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let Some(id) = id else {
                return error("an ack names its episode: {\"type\":\"ack\",\"anomaly\":ID,\"by\":\"…\"}".into());
            };
            let replies = replies.clone();
            tokio::spawn(async move {
                // The `acknowledged` event reaches every client; an error only this one.
                if let Err(e) = acks.acknowledge(id, &by, &note).await {
                    let text = serde_json::json!({"type": "error", "message": e.to_string(), "request": "ack"});
                    let _ = replies.send(text.to_string()).await;
                }
            });
            None
        }
        other => error(format!("unknown message type {other:?}")),
    }
}
