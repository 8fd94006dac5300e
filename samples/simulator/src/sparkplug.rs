//! The plant's Sparkplug B 3.0 edge nodes: one per shop (group `Plant`, edge node `BIW`, `Paint`,
//! `Assembly`), each device a station, booth or zone, each metric one of the simulator's condition and
//! energy signals (temperatures, power, energy, speeds: the same values its OPC UA server and Modbus
//! registers show). Metric `R01/TcpSpeed` of device `Station01` of node `BIW` is the signal
//! `Plant/BIW/Station01/R01/TcpSpeed`; its alias is the signal number + 100.
//!
//! Each node keeps its own MQTT session (rumqttc) with its NDEATH as the will, publishes NBIRTH and the
//! DBIRTHs on every connection and whenever a host application's STATE turns online, answers
//! `Node Control/Rebirth`, and publishes the changes of each model
//! tick as DDATA by alias (QoS 0). Changes are coalesced per signal while a node is not connected or its
//! queue is full, so the latest value always goes out.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::Notify;
use twinloom_sparkplug::{DataType, EdgeMessage, EdgeNodeSession, MetricDefinition, MetricValue};

use crate::model::{SignalInfo, SimValue, ValueType};

/// The Sparkplug group of every edge node of the plant.
pub const GROUP: &str = "Plant";
/// Engineering units of the signals published over Sparkplug: condition and energy data.
pub const UNITS: &[&str] = &["degC", "kW", "kWh", "m/min", "mm/s"];
/// Aliases are signal numbers plus this (small aliases stay free for the node's own metrics).
const ALIAS_BASE: u64 = 100;

/// Where a signal goes: its node, device and metric name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeMetric {
    pub signal: u32,
    pub node: String,
    pub device: String,
    pub metric: String,
}

impl EdgeMetric {
    pub fn alias(&self) -> u64 {
        u64::from(self.signal) + ALIAS_BASE
    }
}

/// The signals published over Sparkplug, in signal order: numeric signals with a condition or energy
/// unit, at least `Plant/<Shop>/<Device>/<Metric>` deep (the field sensors and shift data are not).
pub fn edge_metrics(infos: &[SignalInfo]) -> Vec<EdgeMetric> {
    infos
        .iter()
        .enumerate()
        .filter(|(_, s)| s.value_type == ValueType::Double && UNITS.contains(&s.unit))
        .filter_map(|(i, s)| {
            let parts: Vec<&str> = s.path.split('/').collect();
            if parts.len() < 4 || parts[0] != "Plant" || parts[1] == "Field" {
                return None;
            }
            Some(EdgeMetric {
                signal: i as u32,
                node: parts[1].to_string(),
                device: parts[2].to_string(),
                metric: parts[3..].join("/"),
            })
        })
        .collect()
}

fn as_f64(v: &SimValue) -> f64 {
    match v {
        SimValue::Double(x) => *x,
        SimValue::Int(i) => f64::from(*i),
        SimValue::Long(i) => *i as f64,
        SimValue::Bool(b) => f64::from(u8::from(*b)),
        SimValue::Text(_) => f64::NAN,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What the model thread hands the edge nodes: each node's changed values since it last published.
pub struct EdgeFeed {
    /// Node index of each signal (`u16::MAX`: not published).
    node_of: Vec<u16>,
    pending: Vec<Mutex<HashMap<u32, f64>>>,
    wake: Vec<Notify>,
}

impl EdgeFeed {
    /// Records the tick's changed signals (called by the model thread; never blocks on the network).
    pub fn changed(&self, changed: &[u32], values: &[SimValue]) {
        let mut touched = vec![false; self.pending.len()];
        for &id in changed {
            let Some(&node) = self.node_of.get(id as usize) else { continue };
            if let Some(p) = self.pending.get(usize::from(node)) {
                p.lock().unwrap_or_else(|e| e.into_inner()).insert(id, as_f64(&values[id as usize]));
                touched[usize::from(node)] = true;
            }
        }
        for (n, t) in touched.into_iter().enumerate() {
            if t {
                self.wake[n].notify_one();
            }
        }
    }
}

/// The running edge nodes.
pub struct EdgeNodes {
    pub feed: Arc<EdgeFeed>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Node names, in node index order.
    pub nodes: Vec<String>,
}

impl EdgeNodes {
    /// Starts one edge node per shop publishing to the broker at `broker`, with the model's current
    /// `values` as the first births.
    pub fn start(broker: SocketAddr, infos: &[SignalInfo], values: &[SimValue]) -> EdgeNodes {
        let metrics = edge_metrics(infos);
        let mut nodes: Vec<String> = metrics.iter().map(|m| m.node.clone()).collect();
        nodes.sort();
        nodes.dedup();
        let mut node_of = vec![u16::MAX; infos.len()];
        for m in &metrics {
            node_of[m.signal as usize] = nodes.iter().position(|n| *n == m.node).unwrap_or(0) as u16;
        }
        let feed = Arc::new(EdgeFeed {
            node_of,
            pending: nodes.iter().map(|_| Mutex::new(HashMap::new())).collect(),
            wake: nodes.iter().map(|_| Notify::new()).collect(),
        });
        let tasks = nodes
            .iter()
            .enumerate()
            .map(|(n, name)| {
                let mine: Vec<EdgeMetric> = metrics.iter().filter(|m| &m.node == name).cloned().collect();
                let initial: Vec<(u32, f64)> =
                    mine.iter().map(|m| (m.signal, as_f64(&values[m.signal as usize]))).collect();
                tokio::spawn(run_node(broker, name.clone(), mine, initial, feed.clone(), n))
            })
            .collect();
        tracing::info!(%broker, nodes = ?nodes, metrics = metrics.len(), "Sparkplug B edge nodes started");
        EdgeNodes { feed, tasks, nodes }
    }

    /// Stops the nodes (their will NDEATHs go out when the broker notices).
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for EdgeNodes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One edge node: a session per MQTT connection, births on each, DDATA for each batch of changes.
async fn run_node(
    broker: SocketAddr,
    node: String,
    metrics: Vec<EdgeMetric>,
    initial: Vec<(u32, f64)>,
    feed: Arc<EdgeFeed>,
    index: usize,
) {
    let mut devices: BTreeMap<String, Vec<MetricDefinition>> = BTreeMap::new();
    let mut device_of: HashMap<u32, (String, u64)> = HashMap::new();
    for m in &metrics {
        devices.entry(m.device.clone()).or_default().push(MetricDefinition::new(
            &m.metric,
            m.alias(),
            DataType::Double,
        ));
        device_of.insert(m.signal, (m.device.clone(), m.alias()));
    }
    let session = EdgeNodeSession::new(GROUP, &node, Vec::new()).and_then(|mut s| {
        for (d, defs) in devices {
            s.add_device(&d, defs)?;
        }
        Ok(s)
    });
    let mut session = match session {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(%node, "Sparkplug edge node not started: {e}");
            return;
        }
    };
    for (signal, x) in initial {
        if let Some((device, alias)) = device_of.get(&signal) {
            let _ = session.set_values(Some(device), &[(*alias, MetricValue::Float(x))]);
        }
    }
    let ncmd = format!("spBv1.0/{GROUP}/NCMD/{node}");
    let mut backoff = Duration::from_millis(250);
    loop {
        let will = session.begin_session();
        let mut opts = MqttOptions::new(format!("plant-sim-{node}"), broker.ip().to_string(), broker.port());
        opts.set_keep_alive(Duration::from_secs(10));
        opts.set_clean_session(true);
        opts.set_max_packet_size(16 << 20, 16 << 20);
        opts.set_last_will(LastWill::new(will.topic, will.payload, QoS::AtLeastOnce, false));
        let (client, mut events) = AsyncClient::new(opts, 4096);
        let mut born = false;
        loop {
            tokio::select! {
                ev = events.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = Duration::from_millis(250);
                        let _ = client.try_subscribe(ncmd.clone(), QoS::AtLeastOnce);
                        // Host applications coming online (Sparkplug 3.0 STATE): they get fresh births.
                        let _ = client.try_subscribe("spBv1.0/STATE/+", QoS::AtLeastOnce);
                        born = match session.births(now_ms()) {
                            Ok(births) => publish_all(&client, births, &node),
                            Err(e) => { tracing::error!(%node, "births: {e}"); false }
                        };
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) if p.topic.starts_with("spBv1.0/STATE/") => {
                        if born && host_online(&p.payload) {
                            born = match session.births(now_ms()) {
                                Ok(births) => publish_all(&client, births, &node),
                                Err(e) => { tracing::error!(%node, "births: {e}"); false }
                            };
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        match session.handle_command(&p.topic, &p.payload, now_ms()) {
                            Ok(Some(births)) => born = publish_all(&client, births, &node),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(%node, topic = %p.topic, "command not understood: {e}"),
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(%node, "MQTT connection to {broker} lost: {e}; reconnecting in {backoff:?}");
                        break;
                    }
                },
                _ = feed.wake[index].notified(), if born => {
                    let changes = std::mem::take(&mut *feed.pending[index].lock().unwrap_or_else(|e| e.into_inner()));
                    let mut by_device: BTreeMap<&str, Vec<(u64, MetricValue)>> = BTreeMap::new();
                    for (signal, x) in changes {
                        if let Some((device, alias)) = device_of.get(&signal) {
                            by_device.entry(device).or_default().push((*alias, MetricValue::Float(x)));
                        }
                    }
                    let ts = now_ms();
                    let data: Vec<EdgeMessage> = by_device
                        .into_iter()
                        .filter_map(|(d, updates)| session.device_data(d, ts, &updates).ok())
                        .collect();
                    publish_all(&client, data, &node);
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Whether a STATE payload (`{"online": true, "timestamp": …}`) says the host is online.
fn host_online(payload: &[u8]) -> bool {
    let text = String::from_utf8_lossy(payload);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    compact.contains("\"online\":true")
}

/// Queues messages (QoS 0, not retained); false when the client's queue refused one.
fn publish_all(client: &AsyncClient, messages: Vec<EdgeMessage>, node: &str) -> bool {
    for m in messages {
        if let Err(e) = client.try_publish(m.topic, QoS::AtMostOnce, false, m.payload) {
            tracing::warn!(%node, "publish not queued: {e}");
            return false;
        }
    }
    true
}
