//! The MES part inside the running service (docs/mes.md): [`MesLive`] holds the [`Mes`] model and layer,
//! publishes every message's edits to live clients as deltas of the shop `mes` and serves consistent
//! snapshots; [`router`] is `POST /v1/mes` (bearer tokens from `[mes] token_sha256`); [`MesHandler`]
//! takes MES payloads from the MQTT topics of `[mes] topics`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use rumqttc::{AsyncClient, QoS};

use super::{IngestReport, Mes, MesConfig, MesCounters, MesError, LAYER_FILE, SHOP};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sample::SampleBatch;

/// The MES model of a running service, shared by the HTTP endpoint, the MQTT handler and the saver.
pub struct MesLive {
    mes: Mutex<Mes>,
    hub: Arc<Hub>,
    cfg: MesConfig,
    counters: Arc<MesCounters>,
    metrics: Arc<Metrics>,
}

/// A snapshot of `mes.usda` and the sequence number it includes every MES delta up to.
pub struct MesSnapshot {
    pub seq: u64,
    pub usdc: Vec<u8>,
}

impl MesLive {
    pub fn new(mes: Mes, hub: Arc<Hub>, cfg: MesConfig, metrics: Arc<Metrics>) -> Arc<MesLive> {
        let counters = mes.counters();
        Arc::new(MesLive { mes: Mutex::new(mes), hub, cfg, counters, metrics })
    }

    fn lock(&self) -> MutexGuard<'_, Mes> {
        self.mes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one payload from `origin` (`http` or the MQTT topic) and publishes its edits as one
    /// delta; every rejected message is logged with where it came from (and counted by [`Mes::ingest`]).
    pub fn ingest(&self, payload: &[u8], origin: &str) -> IngestReport {
        let mut mes = self.lock();
        let report = mes.ingest(payload, origin);
        if !report.edits.is_empty() {
            // Published under the lock: deltas leave in the order they were applied to the layer.
            let now = crate::delta::epoch_ms(SystemTime::now());
            self.hub.publish(SHOP, LAYER_FILE, now, &report.edits);
            self.metrics.deltas_out.fetch_add(1, Ordering::Relaxed);
        }
        drop(mes);
        for r in &report.rejected {
            tracing::warn!("{r}");
        }
        report
    }

    /// The layer as it is now and the sequence number of the last delta it includes.
    pub fn snapshot(&self) -> Result<MesSnapshot, MesError> {
        let mes = self.lock();
        // Taken under the lock that publishing holds: every MES delta up to `seq` is in the bytes, none
        // after it.
        let seq = self.hub.subscribe().0;
        Ok(MesSnapshot { seq, usdc: mes.snapshot_usdc()? })
    }

    /// The layer's values as the JSON `set` edits of a delta (`/v1/snapshot?format=json`) and the
    /// sequence number they include every MES delta up to (taken under the lock, as [`Self::snapshot`]).
    pub fn snapshot_json(&self) -> Result<(u64, String), twinloom_usd::UsdError> {
        let mes = self.lock();
        let seq = self.hub.subscribe().0;
        Ok((seq, crate::web::layer_edits(&mes.layer)?))
    }

    /// Saves `mes.usda` when it changed and the last save is old enough (blocking: call off the workers).
    pub fn save_if_due(&self) {
        if let Err(e) = self.lock().save_if_due() {
            tracing::error!("{e}");
        }
    }

    /// Saves `mes.usda` now if anything changed (at shutdown).
    pub fn save(&self) {
        let mut mes = self.lock();
        if mes.is_dirty() {
            if let Err(e) = mes.save() {
                tracing::error!("{e}");
            }
        }
    }

    pub fn counters(&self) -> Arc<MesCounters> {
        self.counters.clone()
    }

    pub fn config(&self) -> &MesConfig {
        &self.cfg
    }
}

/// `POST /v1/mes`, on its own state (merged into the live server's router).
pub fn router(live: Arc<MesLive>) -> Router {
    Router::new().route("/v1/mes", post(post_mes)).with_state(live)
}

async fn post_mes(State(live): State<Arc<MesLive>>, headers: HeaderMap, body: Bytes) -> Response {
    let token = crate::command::http::bearer(&headers);
    if !token.is_some_and(|t| live.cfg.authorizes(t)) {
        let why = if live.cfg.token_sha256.is_empty() {
            "POST /v1/mes is closed: [mes] token_sha256 lists no token\n"
        } else {
            "a bearer token listed in [mes] token_sha256 is required\n"
        };
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], why).into_response();
    }
    let report = live.ingest(&body, "http");
    let status = StatusCode::from_u16(report.http_status()).unwrap_or(StatusCode::OK);
    (status, axum::Json(report)).into_response()
}

/// The MQTT side: subscribes `[mes] topics` (QoS 1) and hands each message to [`MesLive::ingest`].
pub struct MesHandler {
    pub live: Arc<MesLive>,
}

impl crate::source::mqtt::Handler for MesHandler {
    fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.live.cfg.topics.iter().map(|t| (t.clone(), QoS::AtLeastOnce)).collect()
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], _client: &AsyncClient, _out: &mut SampleBatch) {
        self.live.ingest(payload, topic);
    }
}
