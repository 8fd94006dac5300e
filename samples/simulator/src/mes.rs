//! The plant's MES messages (docs/mes.md): the assembly line's cars as an MES reports them, derived from
//! the same model that serves the stations' `Vin` and `Order` signals over OPC UA. When a car appears at
//! the first station: a `JobOrder` (its order, VIN, model, variant, options, sequence) and `entered`; at
//! each index: `left` at its station and `entered` at the next, with a `MaterialActual` for the part
//! that station builds in; after the last station: `leftShop`. Equipment ids are `ASM-010`, `ASM-020`, …
//! (station *k* is `ASM-<10k>`), the hierarchy scope `ASSY`; message ids `SIM-<n>`.
//!
//! Each model tick's messages go out as one JSON array on the MQTT topic [`TOPIC`] (QoS 1), from a task
//! with its own MQTT session; while it is disconnected they are queued (up to [`QUEUE`] payloads).

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, MqttOptions, QoS};
use tokio::sync::mpsc;

use crate::model::{SignalInfo, SimValue};

/// The MQTT topic the MES messages are published on.
pub const TOPIC: &str = "plant/mes/assembly";
/// The hierarchy scope of the assembly shop.
pub const SCOPE: &str = "ASSY";
/// Payloads kept while the broker is unreachable.
pub const QUEUE: usize = 10_000;

/// The equipment id of assembly station `k` (0-based).
pub fn equipment_id(k: usize) -> String {
    format!("ASM-{:03}", (k + 1) * 10)
}

const MODELS: &[(&str, &str)] = &[("ID.3", "Pure"), ("ID.4", "Pro"), ("ID.4", "Pro Performance"), ("ID.5", "GTX")];
const OPTIONS: &[&str] = &["PANORAMA_ROOF", "TOW_BAR", "HEAT_PUMP", "MATRIX_LED", "HEAD_UP", "ACC_PLUS"];
/// Per station: part number, quantity, unit, whether each part has a serial number.
const PARTS: &[(&str, f64, &str, bool)] = &[
    ("1EA915105", 1.0, "EA", true),
    ("11A601025", 4.0, "EA", false),
    ("11A881105", 2.0, "EA", false),
    ("11A857001", 1.0, "EA", true),
    ("G052190A2", 2.5, "l", false),
    ("11A845011", 1.0, "EA", false),
    ("11A831055", 4.0, "EA", false),
    ("11A919605", 1.0, "EA", true),
];

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Turns the stations' VIN changes into MES messages (runs on the model thread; no I/O).
pub struct MesReporter {
    /// Per station: the `Vin` and `Order` signal ids.
    stations: Vec<(u32, u32)>,
    /// The VIN at each station as last reported.
    at: Vec<String>,
    next_id: u64,
    sequence: u64,
    tx: mpsc::Sender<String>,
}

impl MesReporter {
    /// Finds the assembly stations (`Plant/Assembly/StationNN/Vin` and `…/Order`) in `infos`.
    fn new(infos: &[SignalInfo], tx: mpsc::Sender<String>) -> MesReporter {
        let id_of = |path: &str| infos.iter().position(|s| s.path == path).map(|i| i as u32);
        let stations: Vec<(u32, u32)> = (1..)
            .map_while(|k| {
                let base = format!("Plant/Assembly/Station{k:02}");
                Some((id_of(&format!("{base}/Vin"))?, id_of(&format!("{base}/Order"))?))
            })
            .collect();
        let at = vec![String::new(); stations.len()];
        MesReporter { stations, at, next_id: 1, sequence: 1, tx }
    }

    fn message(&mut self, kind: &str, fields: serde_json::Value) -> serde_json::Value {
        let mut m = serde_json::json!({
            "messageId": format!("SIM-{}", self.next_id),
            "messageType": kind,
            "timestamp": now_ms(),
        });
        self.next_id += 1;
        if let (Some(m), serde_json::Value::Object(f)) = (m.as_object_mut(), fields) {
            m.extend(f);
        }
        m
    }

    fn event(&mut self, vin: &str, station: Option<usize>, event: &str) -> serde_json::Value {
        let mut f = serde_json::json!({"VIN": vin, "Event": event});
        if let Some(k) = station {
            f["EquipmentID"] = equipment_id(k).into();
        }
        self.message("OperationsEvent", f)
    }

    fn material(&mut self, vin: &str, k: usize) -> serde_json::Value {
        let (part, qty, unit, serial) = PARTS[k % PARTS.len()];
        let mut f = serde_json::json!({
            "VIN": vin, "EquipmentID": equipment_id(k), "MaterialDefinitionID": part,
            "MaterialLotID": format!("LOT-{part}-{:04}", self.next_id / 97),
            "Quantity": {"QuantityString": qty.to_string(), "UnitOfMeasure": unit},
        });
        if serial {
            f["MaterialSubLotID"] = format!("SN-{}-{k:02}", &vin[vin.len().saturating_sub(6)..]).into();
        }
        self.message("MaterialActual", f)
    }

    /// Reports what changed at the stations this tick (given the tick's changed signals and the values).
    pub fn changed(&mut self, changed: &[u32], values: &[SimValue]) {
        let vin_changed = changed.iter().any(|id| self.stations.iter().any(|(v, _)| v == id));
        if !vin_changed {
            return;
        }
        let text = |id: u32| match values.get(id as usize) {
            Some(SimValue::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let now: Vec<(String, String)> = self.stations.iter().map(|&(v, o)| (text(v), text(o))).collect();
        let mut out = Vec::new();
        // Downstream first, so every station is free before a car enters it.
        for k in (0..self.stations.len()).rev() {
            let old = std::mem::take(&mut self.at[k]);
            if old.is_empty() || now[k].0 == old {
                self.at[k] = old;
                continue;
            }
            out.push(self.event(&old, Some(k), "left"));
            match now.iter().skip(k + 1).position(|(v, _)| *v == old) {
                Some(d) => {
                    out.push(self.event(&old, Some(k + 1 + d), "entered"));
                    out.push(self.material(&old, k + 1 + d));
                }
                None => out.push(self.event(&old, None, "leftShop")),
            }
        }
        for (k, (vin, order)) in now.iter().enumerate() {
            if !vin.is_empty() && !self.at.contains(vin) && !out.iter().any(|m| m["VIN"] == vin.as_str()) {
                let (model, variant) = MODELS[(self.sequence as usize) % MODELS.len()];
                let options: Vec<&str> = OPTIONS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (self.sequence >> i) & 1 == 1)
                    .map(|(_, o)| *o)
                    .collect();
                let order = self.message(
                    "JobOrder",
                    serde_json::json!({
                        "ID": order, "VIN": vin, "WorkMasterID": model, "Variant": variant, "Options": options,
                        "Sequence": self.sequence, "HierarchyScope": {"EquipmentID": SCOPE, "EquipmentElementLevel": "Area"},
                    }),
                );
                self.sequence += 1;
                out.push(order);
                out.push(self.event(vin, Some(k), "entered"));
                out.push(self.material(vin, k));
            }
        }
        for (k, (vin, _)) in now.into_iter().enumerate() {
            self.at[k] = vin;
        }
        if !out.is_empty() {
            let payload = serde_json::Value::Array(out).to_string();
            if self.tx.try_send(payload).is_err() {
                tracing::warn!("MES queue full or closed: a tick's messages were dropped");
            }
        }
    }
}

/// Starts the publisher task (own MQTT session to `broker`) and returns the reporter that feeds it.
pub fn start(broker: SocketAddr, infos: &[SignalInfo]) -> (MesReporter, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let reporter = MesReporter::new(infos, tx);
    tracing::info!(%broker, topic = TOPIC, stations = reporter.stations.len(), "MES messages published");
    (reporter, tokio::spawn(publish(broker, rx)))
}

async fn publish(broker: SocketAddr, mut rx: mpsc::Receiver<String>) {
    let mut opts = MqttOptions::new("plant-sim-mes", broker.ip().to_string(), broker.port());
    opts.set_keep_alive(Duration::from_secs(10));
    opts.set_clean_session(false);
    let (client, mut events) = AsyncClient::new(opts, 1024);
    loop {
        tokio::select! {
            ev = events.poll() => {
                if let Err(e) = ev {
                    tracing::warn!("MES: MQTT connection to {broker}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            payload = rx.recv() => {
                let Some(payload) = payload else { return };
                if let Err(e) = client.publish(TOPIC, QoS::AtLeastOnce, false, payload).await {
                    tracing::warn!("MES: publish not queued: {e}");
                }
            }
        }
    }
}
