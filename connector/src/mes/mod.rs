//! The MES part of the digital thread: production context from a manufacturing execution system (job
//! orders and the build sequence, station events, material actuals; ISA-95 / B2MML-JSON shaped, over
//! MQTT or `POST /v1/mes`) turned into work-in-process prims on the live stage (docs/mes.md).
//!
//! - [`message`]: payloads parsed into [`Message`]s, each problem a [`Rejection`] naming message id and
//!   JSON pointer;
//! - [`wip`]: the pure WIP model ([`Wip::apply`]): cars in work, stations and genealogy; duplicates,
//!   out-of-order, unknown and finished VINs refused and counted;
//! - [`edit`]: the layer edits ([`Edit`]: `def`, `over`, `set`, `rel`, `remove`) that go to live clients
//!   and [`apply_edits`], which applies them to a layer exactly as a client does;
//! - [`config`]: the `[mes]` table ([`MesConfig`]);
//! - [`Mes`]: what the service holds: `mes.usda` in the stage folder, restored at start, edited per
//!   message, saved at most every `save_interval_ms` ([`Mes::save_if_due`]) and at shutdown
//!   ([`Mes::save`]), with [`MesCounters`] for `/metrics`;
//! - [`live`]: the service's side: deltas to live clients, `POST /v1/mes`, MES over MQTT.

pub mod config;
pub mod edit;
pub mod live;
pub mod message;
pub mod wip;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use twinloom_usd::{Layer, UsdError};

pub use config::{MesConfig, MesConfigProblem, ShopMapping, StationMapping, UnmappedStations};
pub use edit::{apply_edit, apply_edits, Edit, EditError};
pub use message::{parse_payload, Body, EventKind, Message, Reason, Rejection};
pub use wip::{Car, Part, Wip};

/// The MES layer's file name in the stage folder (next to `plant.usda` and `commands.usda`).
pub const LAYER_FILE: &str = "mes.usda";

/// The shop name MES deltas are published under on the live stream (`Hub::publish(SHOP, LAYER_FILE, …)`).
pub const SHOP: &str = "mes";

/// Why the MES layer could not be opened, saved or snapshot.
#[derive(Debug, thiserror::Error)]
pub enum MesError {
    #[error("MES layer {}: {source}", path.display())]
    Layer {
        path: PathBuf,
        #[source]
        source: UsdError,
    },
    #[error("MES layer {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Live counters of the MES part; cheap to update, read by `/metrics` ([`MesCounters::render`]).
#[derive(Debug, Default)]
pub struct MesCounters {
    applied: AtomicU64,
    rejected: [AtomicU64; Reason::ALL.len()],
    cars: AtomicU64,
    saves: AtomicU64,
    save_errors: AtomicU64,
}

impl MesCounters {
    /// Messages applied so far.
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Messages not applied for this reason so far.
    pub fn rejected(&self, reason: Reason) -> u64 {
        self.rejected[reason.index()].load(Ordering::Relaxed)
    }

    /// Every outcome label (`applied` and every [`Reason`]) with its count, zeros included.
    pub fn outcomes(&self) -> Vec<(&'static str, u64)> {
        let mut out = vec![("applied", self.applied())];
        out.extend(Reason::ALL.iter().map(|r| (r.as_str(), self.rejected(*r))));
        out
    }

    /// Cars in work now.
    pub fn cars_in_work(&self) -> u64 {
        self.cars.load(Ordering::Relaxed)
    }

    /// Saves of `mes.usda` so far, and failed ones.
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::Relaxed)
    }
    pub fn save_errors(&self) -> u64 {
        self.save_errors.load(Ordering::Relaxed)
    }

    fn count(&self, reason: Reason) {
        self.rejected[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Appends the MES families in Prometheus text format: `twinloom_mes_messages_total{outcome}`,
    /// `twinloom_mes_wip_cars`, `twinloom_mes_layer_saves_total`, `twinloom_mes_layer_save_errors_total`.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP twinloom_mes_messages_total MES messages by outcome: applied, or why not.\n\
             # TYPE twinloom_mes_messages_total counter"
        );
        for (outcome, n) in self.outcomes() {
            let _ = writeln!(out, "twinloom_mes_messages_total{{outcome=\"{outcome}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP twinloom_mes_wip_cars Cars in work (WIP prims) now.\n# TYPE twinloom_mes_wip_cars gauge\n\
             twinloom_mes_wip_cars {}",
            self.cars_in_work()
        );
        let _ = writeln!(
            out,
            "# HELP twinloom_mes_layer_saves_total Saves of mes.usda.\n# TYPE twinloom_mes_layer_saves_total counter\n\
             twinloom_mes_layer_saves_total {}",
            self.saves()
        );
        let _ = writeln!(
            out,
            "# HELP twinloom_mes_layer_save_errors_total Failed saves of mes.usda.\n\
             # TYPE twinloom_mes_layer_save_errors_total counter\ntwinloom_mes_layer_save_errors_total {}",
            self.save_errors()
        );
    }
}

/// What one payload did: how many messages it held, how many were applied, every one that was not
/// (also counted in [`MesCounters`]), and the edits to publish on the live stream (in order).
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub received: usize,
    pub applied: usize,
    pub rejected: Vec<Rejection>,
    #[serde(skip)]
    pub edits: Vec<Edit>,
}

impl IngestReport {
    /// The HTTP status for `POST /v1/mes`: 400 when the payload itself is unusable (not JSON, not an
    /// object or array), 200 otherwise (refused messages are listed in the body and counted).
    pub fn http_status(&self) -> u16 {
        if self.received == 0 && !self.rejected.is_empty() {
            400
        } else {
            200
        }
    }
}

/// The MES part as the service holds it: the WIP model and its layer `<stage>/mes.usda`.
pub struct Mes {
    wip: Wip,
    layer: Layer,
    path: PathBuf,
    dirty: bool,
    last_save: Instant,
    interval: Duration,
    counters: Arc<MesCounters>,
}

impl std::fmt::Debug for Mes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mes").field("path", &self.path).field("cars", &self.wip.len()).finish()
    }
}

impl Mes {
    /// Opens `<stage_dir>/mes.usda` and restores the cars in work from it, or creates it (defaultPrim
    /// `root`, no prims) when there is none. `root` is the stage's root prim name (`Plant`).
    pub fn open(stage_dir: &Path, root: &str, cfg: &MesConfig) -> Result<Mes, MesError> {
        let path = stage_dir.join(LAYER_FILE);
        let usd = |source| MesError::Layer { path: path.clone(), source };
        std::fs::create_dir_all(stage_dir).map_err(|source| MesError::Io { path: path.clone(), source })?;
        let mut wip = Wip::new(root, cfg);
        let layer = if path.exists() {
            let layer = Layer::open(&path).map_err(usd)?;
            wip.restore(&layer);
            layer
        } else {
            let mut l = Layer::create_anonymous("twinloom-mes", "usda").map_err(usd)?;
            l.set_default_prim(root).map_err(usd)?;
            l.set_documentation("Twinloom MES: cars in work, their stations and genealogy (docs/mes.md).")
                .map_err(usd)?;
            l.export_atomic(&path).map_err(usd)?;
            l
        };
        let counters = Arc::new(MesCounters::default());
        counters.cars.store(wip.len() as u64, Ordering::Relaxed);
        Ok(Mes {
            wip,
            layer,
            path,
            dirty: false,
            last_save: Instant::now(),
            interval: Duration::from_millis(cfg.save_interval_ms),
            counters,
        })
    }

    /// Parses and applies one payload (one message or an array) from `origin` (`http`, or the MQTT
    /// topic): each message is applied to the WIP and its edits to the layer at once (the file is saved
    /// later, by [`Mes::save_if_due`]). Never panics on input; every refused message is in the report
    /// and counted.
    pub fn ingest(&mut self, payload: &[u8], origin: &str) -> IngestReport {
        let mut report = IngestReport::default();
        let parsed = match message::parse_payload(payload) {
            Ok(p) => p,
            Err(e) => {
                self.counters.count(e.reason);
                report.rejected.push(Rejection {
                    reason: e.reason,
                    origin: origin.to_string(),
                    message_id: None,
                    index: None,
                    pointer: None,
                    detail: e.detail,
                });
                return report;
            }
        };
        for (i, item) in parsed.messages.iter().enumerate() {
            report.received += 1;
            let msg = match item {
                Ok(m) => m,
                Err(e) => {
                    self.counters.count(e.reason);
                    report.rejected.push(Rejection {
                        reason: e.reason,
                        origin: origin.to_string(),
                        message_id: e.message_id.clone(),
                        index: Some(i),
                        pointer: Some(e.pointer.clone()),
                        detail: e.detail.clone(),
                    });
                    continue;
                }
            };
            let start = report.edits.len();
            match self.wip.apply_into(msg, &mut report.edits) {
                Ok(()) => {
                    report.applied += 1;
                    self.counters.applied.fetch_add(1, Ordering::Relaxed);
                    if report.edits.len() > start {
                        self.dirty = true;
                        if let Err(e) = apply_edits(&mut self.layer, &report.edits[start..]) {
                            self.counters.count(Reason::StageError);
                            tracing::warn!("MES message {:?}: the layer refused an edit: {e}", msg.id);
                        }
                    }
                }
                Err(rej) => {
                    self.counters.count(rej.reason);
                    report.rejected.push(Rejection {
                        reason: rej.reason,
                        origin: origin.to_string(),
                        message_id: Some(msg.id.clone()),
                        index: Some(i),
                        pointer: rej.field.map(|f| format!("{}/{f}", parsed.base(i))),
                        detail: rej.detail,
                    });
                }
            }
        }
        self.counters.cars.store(self.wip.len() as u64, Ordering::Relaxed);
        report
    }

    /// Saves `mes.usda` when something changed and the last save is `save_interval_ms` old; returns
    /// whether it saved. Call it often (e.g. every tick, or after each payload).
    pub fn save_if_due(&mut self) -> Result<bool, MesError> {
        if !self.dirty || self.last_save.elapsed() < self.interval {
            return Ok(false);
        }
        self.save().map(|()| true)
    }

    /// Saves `mes.usda` now (atomically: a reader never sees a partly written file). Call at shutdown.
    pub fn save(&mut self) -> Result<(), MesError> {
        self.last_save = Instant::now();
        match self.layer.export_atomic(&self.path) {
            Ok(()) => {
                self.dirty = false;
                self.counters.saves.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(source) => {
                self.counters.save_errors.fetch_add(1, Ordering::Relaxed);
                Err(MesError::Layer { path: self.path.clone(), source })
            }
        }
    }

    /// Whether there are edits not saved yet.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// The counters, shared with `/metrics`.
    pub fn counters(&self) -> Arc<MesCounters> {
        self.counters.clone()
    }

    /// The WIP model (cars, stations).
    pub fn wip(&self) -> &Wip {
        &self.wip
    }

    /// `<stage_dir>/mes.usda`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The layer as it is now (saved or not), as `.usdc` bytes: what `GET /v1/snapshot?shop=mes` serves.
    pub fn snapshot_usdc(&self) -> Result<Vec<u8>, MesError> {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tmp = std::env::temp_dir().join(format!("twinloom-mes-snapshot-{}-{n}.usdc", std::process::id()));
        let result = self
            .layer
            .export(&tmp)
            .map_err(|source| MesError::Layer { path: tmp.clone(), source })
            .and_then(|()| std::fs::read(&tmp).map_err(|source| MesError::Io { path: tmp.clone(), source }));
        let _ = std::fs::remove_file(&tmp);
        result
    }

    /// The layer as it is now, as `.usda` text.
    pub fn usda_text(&self) -> Result<String, MesError> {
        self.layer.to_usda_string().map_err(|source| MesError::Layer { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twinloom-mes-unit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    const ORDER: &str = r#"{"messageId":"o1","messageType":"JobOrder","timestamp":"2025-11-25T20:00:00Z",
        "ID":"4711","VIN":"WVWZZZE1ZPP000001","WorkMasterID":"ID.4","HierarchyScope":"Assembly"}"#;

    #[test]
    fn ingest_counts_every_outcome_and_saves_when_due() {
        let dir = stage_dir("ingest");
        let cfg = MesConfig { save_interval_ms: 3_600_000, ..MesConfig::default() };
        let mut mes = Mes::open(&dir, "Plant", &cfg).unwrap();
        let r = mes.ingest(ORDER.as_bytes(), "http");
        assert_eq!((r.received, r.applied, r.rejected.len(), r.http_status()), (1, 1, 0, 200));
        assert!(!r.edits.is_empty() && mes.is_dirty());
        let r = mes.ingest(b"[1,2", "plant/mes");
        assert_eq!((r.received, r.http_status(), r.rejected[0].reason), (0, 400, Reason::MalformedJson));
        let r = mes.ingest(
            format!(
                r#"[{ORDER}, {{"messageId":"e1","messageType":"OperationsEvent","timestamp":1,"VIN":"X","EquipmentID":"S1","Event":"entered"}},
                   {{"messageId":"e2","messageType":"OperationsEvent","timestamp":1,"Event":"entered","EquipmentID":"S1"}}]"#
            )
            .as_bytes(),
            "plant/mes",
        );
        let got: Vec<(Reason, Option<&str>)> = r.rejected.iter().map(|x| (x.reason, x.pointer.as_deref())).collect();
        assert_eq!(
            got,
            [
                (Reason::Duplicate, Some("/0/messageId")),
                (Reason::UnknownVin, Some("/1/VIN")),
                (Reason::MissingField, Some("/2/VIN"))
            ]
        );
        assert_eq!(
            r.rejected[1].to_string(),
            "MES unknown_vin (plant/mes, message \"e1\", #1, at /1/VIN): no job order for VIN X"
        );
        let c = mes.counters();
        assert_eq!(
            (c.applied(), c.rejected(Reason::Duplicate), c.rejected(Reason::MalformedJson), c.cars_in_work()),
            (1, 1, 1, 1)
        );
        let mut text = String::new();
        c.render(&mut text);
        assert!(text.contains("twinloom_mes_messages_total{outcome=\"unknown_vin\"} 1\n"), "{text}");
        assert!(text.contains("twinloom_mes_wip_cars 1\n"), "{text}");
        assert!(!mes.save_if_due().unwrap(), "not due yet");
        mes.save().unwrap();
        assert!(!mes.is_dirty() && c.saves() == 1);
        assert!(std::fs::read_to_string(mes.path()).unwrap().contains("WVWZZZE1ZPP000001"));
        let usdc = mes.snapshot_usdc().unwrap();
        assert!(usdc.starts_with(b"PXR-USDC"), "{:?}", &usdc[..8.min(usdc.len())]);
        drop(mes);
        // Reopened: the car is still in work.
        let mes = Mes::open(&dir, "Plant", &cfg).unwrap();
        assert_eq!(mes.wip().car("WVWZZZE1ZPP000001").unwrap().order_id, "4711");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
