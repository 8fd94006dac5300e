//! The Sparkplug B source (kind `sparkplug`): a Sparkplug 3.0 host application on an MQTT broker. The
//! protocol rules (births, aliases, bdSeq, seq and reorder timeout, deaths, rebirth requests) are the
//! `twinloom-sparkplug` crate's [`Host`]; this module connects it to the broker ([`super::mqtt`]), maps
//! metrics to bound signals, turns births into auto-bindings and deaths into stale quality, and counts
//! every problem by reason (docs/sparkplug.md).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rumqttc::{AsyncClient, LastWill, QoS};
use tokio::sync::mpsc;
use twinloom_sparkplug::payload::rebirth_command;
use twinloom_sparkplug::topic::{HOST_SUBSCRIPTION, NAMESPACE};
use twinloom_sparkplug::{
    DataType, Host, HostConfig, HostEvent, MessageTopic, MessageType, MetricUpdate, MetricValue, ProblemReason,
    TopicError,
};

use super::mqtt::{Handler, MqttSettings};
use super::opcua::{BrowsedNode, NodeKind};
use crate::sample::{Quality, Sample, SampleBatch, Value};
use crate::source::{ErrorReason, SourceCounters};

/// Where a binding's value comes from: one metric of an edge node or device, or the node's or device's
/// quality (`good` while born, `stale` after its death).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricAddress {
    pub group: String,
    pub node: String,
    pub device: Option<String>,
    /// `None`: the quality of the node or device.
    pub metric: Option<String>,
}

/// A binding address or auto-binding filter could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("Sparkplug address {address:?}: {message}")]
pub struct AddressError {
    pub address: String,
    pub message: String,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '+', '#'])
}

/// The `key=value` parts of an address; `metric=` takes the rest of the text (metric names may hold `;`).
fn parts(address: &str) -> Result<Vec<(&str, &str)>, AddressError> {
    let err = |message: String| AddressError { address: address.to_string(), message };
    let mut out = Vec::new();
    let mut rest = address.trim();
    while !rest.is_empty() {
        let (part, tail) = if rest.trim_start().starts_with("metric=") {
            (rest.trim_start(), "")
        } else {
            rest.split_once(';').unwrap_or((rest, ""))
        };
        rest = tail;
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((k, v)) => out.push((k.trim(), v.trim())),
            None if part == "state" => out.push(("state", "")),
            None => return Err(err(format!("{part:?} is not key=value"))),
        }
    }
    Ok(out)
}

impl MetricAddress {
    /// Parses `group=G;node=E[;device=D];metric=NAME` or `group=G;node=E[;device=D];state`.
    pub fn parse(address: &str) -> Result<MetricAddress, AddressError> {
        let err = |message: String| AddressError { address: address.to_string(), message };
        let (mut group, mut node, mut device, mut metric, mut state) = (None, None, None, None, false);
        for (k, v) in parts(address)? {
            match k {
                "group" => group = Some(v.to_string()),
                "node" => node = Some(v.to_string()),
                "device" => device = Some(v.to_string()),
                "metric" => metric = Some(v.to_string()),
                "state" => state = true,
                other => return Err(err(format!("unknown key {other:?} (keys: group, node, device, metric, state)"))),
            }
        }
        let group = group.ok_or_else(|| err("group= is missing".into()))?;
        let node = node.ok_or_else(|| err("node= is missing".into()))?;
        for (what, id) in [("group", Some(&group)), ("node", Some(&node)), ("device", device.as_ref())] {
            if let Some(id) = id.filter(|id| !valid_id(id)) {
                return Err(err(format!("{what} id {id:?} must be non-empty without / + #")));
            }
        }
        match (metric, state) {
            (Some(_), true) => Err(err("metric= and state exclude each other".into())),
            (None, false) => Err(err("metric=NAME (or state) is missing".into())),
            (Some(m), false) if m.is_empty() => Err(err("the metric name is empty".into())),
            (metric, _) => Ok(MetricAddress { group, node, device, metric }),
        }
    }
}

impl fmt::Display for MetricAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group={};node={}", self.group, self.node)?;
        if let Some(d) = &self.device {
            write!(f, ";device={d}")?;
        }
        match &self.metric {
            Some(m) => write!(f, ";metric={m}"),
            None => f.write_str(";state"),
        }
    }
}

/// What an auto-binding mirrors: a group, one edge node of it, or one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirthFilter {
    pub group: String,
    pub node: Option<String>,
    pub device: Option<String>,
}

impl BirthFilter {
    /// Parses `group=G[;node=E[;device=D]]`.
    pub fn parse(address: &str) -> Result<BirthFilter, AddressError> {
        let err = |message: String| AddressError { address: address.to_string(), message };
        let (mut group, mut node, mut device) = (None, None, None);
        for (k, v) in parts(address)? {
            let slot = match k {
                "group" => &mut group,
                "node" => &mut node,
                "device" => &mut device,
                other => return Err(err(format!("unknown key {other:?} (keys: group, node, device)"))),
            };
            if !valid_id(v) {
                return Err(err(format!("{k} id {v:?} must be non-empty without / + #")));
            }
            *slot = Some(v.to_string());
        }
        let group = group.ok_or_else(|| err("group= is missing".into()))?;
        if device.is_some() && node.is_none() {
            return Err(err("device= needs node=".into()));
        }
        Ok(BirthFilter { group, node, device })
    }

    /// Whether the filter takes this node or device.
    pub fn takes(&self, group: &str, node: &str, device: Option<&str>) -> bool {
        self.group == group
            && self.node.as_deref().is_none_or(|n| n == node)
            && (self.device.is_none() || self.device.as_deref() == device)
    }
}

/// Signals by the metric they are bound to.
#[derive(Debug, Default)]
pub struct SignalIndex {
    by_address: HashMap<MetricAddress, Vec<u32>>,
}

impl SignalIndex {
    pub fn insert(&mut self, address: MetricAddress, signal: u32) {
        self.by_address.entry(address).or_default().push(signal);
    }

    pub fn get(&self, address: &MetricAddress) -> &[u32] {
        self.by_address.get(address).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}

/// A metric as last heard: its datatype from the birth and its last value.
#[derive(Debug, Clone)]
struct Known {
    datatype: DataType,
    value: Option<(MetricValue, Option<u64>)>,
}

/// An edge node (`device` None) or device as last heard.
#[derive(Debug, Default)]
struct Entity {
    online: bool,
    metrics: BTreeMap<String, Known>,
}

type EntityKey = (String, String, Option<String>);

/// The host's view of the plant, shared by the session task and the service: every born node and device
/// with its metrics and last values, and (once subscribed) which signals they feed.
struct Inner {
    source: String,
    host: Host,
    config: HostConfig,
    entities: BTreeMap<EntityKey, Entity>,
    /// `None` until [`SparkplugSource::subscribe`]: values are kept but not delivered.
    index: Option<SignalIndex>,
    counters: Arc<SourceCounters>,
    events: Vec<HostEvent>,
    /// Node/device ids born after the bindings were built that nothing binds (logged once each).
    unbound_logged: std::collections::HashSet<EntityKey>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn reason_of(r: ProblemReason) -> ErrorReason {
    match r {
        ProblemReason::MalformedPayload => ErrorReason::MalformedPayload,
        ProblemReason::BadTopic => ErrorReason::BadTopic,
        ProblemReason::DataBeforeBirth => ErrorReason::DataBeforeBirth,
        ProblemReason::SeqGap => ErrorReason::SeqGap,
        ProblemReason::UnknownAlias => ErrorReason::UnknownAlias,
        ProblemReason::UnknownMetric => ErrorReason::UnknownMetric,
        ProblemReason::WrongType => ErrorReason::WrongType,
        ProblemReason::StaleDeath => ErrorReason::StaleDeath,
        ProblemReason::MissingBdSeq => ErrorReason::MissingBdSeq,
        ProblemReason::UnsupportedType => ErrorReason::UnsupportedType,
    }
}

/// A metric value as a sample value (`None`: a type the twin does not store).
fn sample_value(v: &MetricValue) -> Option<Value> {
    Some(match v {
        MetricValue::Null => Value::Null,
        MetricValue::Bool(b) => Value::Bool(*b),
        MetricValue::Int(i) => Value::I64(*i),
        MetricValue::UInt(u) => Value::U64(*u),
        MetricValue::Float(x) => Value::F64(*x),
        MetricValue::String(s) => Value::String(s.clone()),
        MetricValue::DateTime(ms) => Value::U64(*ms),
        MetricValue::Bytes(_) | MetricValue::Unsupported(_) => return None,
    })
}

/// The quality value of a node's or device's `state` binding: `good` while it is born, `stale` after its
/// death (or while the broker connection is down).
pub const GOOD: &str = "good";
pub const STALE: &str = "stale";
/// The attribute auto-bindings give every node and device prim for its quality.
pub const QUALITY_ATTR: &str = "twinloom:quality";

fn time_of(ms: Option<u64>) -> Option<SystemTime> {
    ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

impl Inner {
    fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn address(key: &EntityKey, metric: Option<&str>) -> MetricAddress {
        MetricAddress {
            group: key.0.clone(),
            node: key.1.clone(),
            device: key.2.clone(),
            metric: metric.map(str::to_string),
        }
    }

    /// The samples of `key`'s quality (`state` bindings).
    fn quality(&self, key: &EntityKey, good: bool, out: &mut SampleBatch) {
        let Some(index) = &self.index else { return };
        let now = SystemTime::now();
        for &signal in index.get(&Self::address(key, None)) {
            let value = Value::String(if good { GOOD } else { STALE }.into());
            out.push(Sample {
                signal,
                value,
                source_time: Some(now),
                server_time: Some(now),
                quality: Quality::GOOD,
                historical: false,
            });
        }
    }

    /// The samples of one metric's value (`historical`: a value of the past, for history only).
    fn value(&self, key: &EntityKey, u: &MetricUpdate, historical: bool, out: &mut SampleBatch) {
        let (name, value, at_ms) = (&u.name, &u.value, u.timestamp_ms);
        let Some(index) = &self.index else { return };
        let signals = index.get(&Self::address(key, Some(name)));
        if signals.is_empty() {
            return;
        }
        let Some(v) = sample_value(value) else {
            self.counters.count_error(ErrorReason::UnsupportedType);
            return;
        };
        let now = SystemTime::now();
        for &signal in signals {
            out.push(Sample {
                signal,
                value: v.clone(),
                source_time: time_of(at_ms).or(Some(now)),
                server_time: Some(now),
                quality: Quality::GOOD,
                historical,
            });
        }
    }

    fn update_stale_gauge(&self) {
        let stale = self.entities.values().filter(|e| !e.online).count();
        self.counters.stale.store(stale as u64, Relaxed);
    }

    /// Acts on the host's events: the catalogue, samples, rebirth requests, counters.
    fn apply_events(&mut self, client: Option<&AsyncClient>, out: &mut SampleBatch) {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            match ev {
                HostEvent::Born { group, node, device, metrics } => {
                    let key = (group.clone(), node.clone(), device.clone());
                    let entity = self.entities.entry(key.clone()).or_default();
                    entity.online = true;
                    let old = std::mem::take(&mut entity.metrics);
                    entity.metrics = metrics
                        .iter()
                        .map(|(n, t)| {
                            // A rebirth keeps the last values until the birth's own values replace them.
                            let value = old.get(n).filter(|k| k.datatype == *t).and_then(|k| k.value.clone());
                            (n.clone(), Known { datatype: *t, value })
                        })
                        .collect();
                    tracing::info!(source = %self.source, %group, %node, device = device.as_deref().unwrap_or(""), metrics = metrics.len(), "born");
                    self.quality(&key, true, out);
                    if let Some(index) = &self.index {
                        let bound = metrics.iter().any(|(n, _)| !index.get(&Self::address(&key, Some(n))).is_empty());
                        if !bound && self.unbound_logged.insert(key.clone()) {
                            tracing::info!(source = %self.source, %group, %node, device = device.as_deref().unwrap_or(""), "born, but no binding takes its metrics (auto-bindings are built at start: bind it explicitly or restart)");
                        }
                    }
                }
                HostEvent::Values { group, node, device, values } => {
                    let key = (group.clone(), node.clone(), device.clone());
                    for u in values {
                        self.value(&key, u, false, out);
                    }
                    if let Some(entity) = self.entities.get_mut(&key) {
                        for u in values {
                            if let Some(k) = entity.metrics.get_mut(&u.name) {
                                k.value = Some((u.value.clone(), u.timestamp_ms));
                            }
                        }
                    }
                }
                HostEvent::Dead { group, node, device } => {
                    let dead: Vec<EntityKey> = self
                        .entities
                        .keys()
                        .filter(|(g, n, d)| g == group && n == node && (device.is_none() || d == device))
                        .cloned()
                        .collect();
                    for key in dead {
                        if let Some(e) = self.entities.get_mut(&key) {
                            e.online = false;
                        }
                        self.quality(&key, false, out);
                    }
                    tracing::warn!(source = %self.source, %group, %node, device = device.as_deref().unwrap_or(""), "dead: its values are stale");
                }
                HostEvent::Historical { group, node, device, values } => {
                    // Past values: to history only (counted there); the current values stay as they are.
                    let key = (group.clone(), node.clone(), device.clone());
                    for u in values {
                        self.value(&key, u, true, out);
                    }
                    self.counters.historical.fetch_add(values.len() as u64, Relaxed);
                }
                HostEvent::RequestRebirth { group, node } => {
                    self.counters.rebirth_requests.fetch_add(1, Relaxed);
                    let topic = MessageTopic::node(group, MessageType::NCmd, node).map(|t| t.to_string());
                    match (client, topic) {
                        (Some(c), Ok(topic)) => {
                            tracing::info!(source = %self.source, %group, %node, "asking for a rebirth");
                            if let Err(e) = c.try_publish(topic, QoS::AtLeastOnce, false, rebirth_command(now_ms())) {
                                tracing::warn!(source = %self.source, "rebirth request not queued: {e}");
                            }
                        }
                        (_, Err(e)) => tracing::warn!(source = %self.source, "no rebirth topic: {e}"),
                        (None, _) => {}
                    }
                }
                HostEvent::Problem { reason, message, .. } => {
                    self.counters.count_error(reason_of(*reason));
                    tracing::warn!(source = %self.source, reason = reason.as_str(), "{message}");
                }
            }
        }
        self.events = events;
        self.events.clear();
        self.update_stale_gauge();
    }
}

/// The session task's side of the shared state.
#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    subscriptions: Vec<String>,
    state_topic: String,
    /// The STATE birth's timestamp: the will carries the same one (Sparkplug 3.0).
    state_timestamp: u64,
}

impl Handler for Shared {
    fn subscriptions(&self) -> Vec<(String, QoS)> {
        self.subscriptions.iter().map(|f| (f.clone(), QoS::AtLeastOnce)).collect()
    }

    fn on_connect(&mut self, client: &AsyncClient) {
        let payload = Host::state_payload(true, self.state_timestamp);
        if let Err(e) = client.try_publish(self.state_topic.clone(), QoS::AtLeastOnce, true, payload) {
            tracing::warn!(topic = %self.state_topic, "STATE birth not queued: {e}");
        }
    }

    fn on_disconnect(&mut self, out: &mut SampleBatch) {
        // Nothing is known while the broker is away: every node is stale until it births again.
        let mut inner = Inner::lock(&self.inner);
        let config = inner.config.clone();
        if let Ok(host) = Host::new(config) {
            inner.host = host;
        }
        let keys: Vec<EntityKey> = inner.entities.keys().cloned().collect();
        for key in keys {
            if let Some(e) = inner.entities.get_mut(&key) {
                e.online = false;
            }
            inner.quality(&key, false, out);
        }
        inner.update_stale_gauge();
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], client: &AsyncClient, out: &mut SampleBatch) {
        let mut guard = Inner::lock(&self.inner);
        let inner = &mut *guard;
        inner.host.handle(topic, payload, Instant::now(), &mut inner.events);
        inner.apply_events(Some(client), out);
    }

    fn deadline(&self) -> Option<Instant> {
        Inner::lock(&self.inner).host.next_deadline()
    }

    fn on_timer(&mut self, client: &AsyncClient, out: &mut SampleBatch) {
        let mut guard = Inner::lock(&self.inner);
        let inner = &mut *guard;
        inner.host.poll(Instant::now(), &mut inner.events);
        inner.apply_events(Some(client), out);
    }

    fn on_stop(&mut self, client: &AsyncClient) {
        let payload = Host::state_payload(false, self.state_timestamp);
        let _ = client.try_publish(self.state_topic.clone(), QoS::AtLeastOnce, true, payload);
    }
}

/// Settings of a Sparkplug host source.
#[derive(Debug, Clone)]
pub struct SparkplugSettings {
    pub mqtt: MqttSettings,
    pub host_id: String,
    /// Groups to subscribe (`spBv1.0/<group>/#` each); empty: all (`spBv1.0/#`).
    pub groups: Vec<String>,
    pub reorder_timeout: Duration,
}

/// What can go wrong starting a Sparkplug source.
#[derive(Debug, thiserror::Error)]
pub enum SparkplugError {
    #[error(transparent)]
    Mqtt(#[from] super::mqtt::MqttError),
    #[error("Sparkplug host id: {0}")]
    HostId(#[from] TopicError),
    #[error(transparent)]
    Address(#[from] AddressError),
}

/// A connected Sparkplug B host application.
pub struct SparkplugSource {
    link: super::mqtt::MqttLink,
    inner: Arc<Mutex<Inner>>,
    counters: Arc<SourceCounters>,
    tx: mpsc::Sender<SampleBatch>,
}

/// One born node, device or metric, as the auto-bindings mirror them.
#[derive(Debug, Clone, PartialEq)]
pub struct BornEntity {
    pub group: String,
    pub node: String,
    pub device: Option<String>,
    pub online: bool,
    pub metrics: Vec<(String, DataType)>,
}

impl SparkplugSource {
    /// Connects to the broker as host application `settings.host_id` (STATE birth retained, QoS 1; the
    /// same STATE with `online: false` as the will), and starts collecting births.
    pub async fn connect(
        name: &str,
        settings: &SparkplugSettings,
        tx: mpsc::Sender<SampleBatch>,
    ) -> Result<SparkplugSource, SparkplugError> {
        let mut config = HostConfig::new(settings.host_id.clone());
        config.reorder_timeout = settings.reorder_timeout;
        let host = Host::new(config.clone())?;
        let counters = Arc::new(SourceCounters::default());
        let inner = Arc::new(Mutex::new(Inner {
            source: name.to_string(),
            host,
            config,
            entities: BTreeMap::new(),
            index: None,
            counters: counters.clone(),
            events: Vec::new(),
            unbound_logged: Default::default(),
        }));
        let subscriptions = if settings.groups.is_empty() {
            vec![HOST_SUBSCRIPTION.to_string()]
        } else {
            settings.groups.iter().map(|g| format!("{NAMESPACE}/{g}/#")).collect()
        };
        let state_timestamp = now_ms();
        let state_topic = Host::state_topic(&settings.host_id);
        let will =
            LastWill::new(state_topic.clone(), Host::state_payload(false, state_timestamp), QoS::AtLeastOnce, true);
        let shared = Shared { inner: inner.clone(), subscriptions, state_topic, state_timestamp };
        let link = super::mqtt::connect(&settings.mqtt, Some(will), shared, tx.clone(), counters.clone()).await?;
        Ok(SparkplugSource { link, inner, counters, tx })
    }

    /// Every node and device heard of so far, with the metrics of its last birth.
    pub fn born(&self) -> Vec<BornEntity> {
        let inner = Inner::lock(&self.inner);
        inner
            .entities
            .iter()
            .map(|((g, n, d), e)| BornEntity {
                group: g.clone(),
                node: n.clone(),
                device: d.clone(),
                online: e.online,
                metrics: e.metrics.iter().map(|(m, k)| (m.clone(), k.datatype)).collect(),
            })
            .collect()
    }

    /// Binds `addresses` (signal, address): from now on their values are delivered, starting with the
    /// last value (and quality) of each that was heard before. Returns how many were bound.
    pub async fn subscribe(&self, addresses: &[(u32, String)]) -> Result<usize, SparkplugError> {
        let mut index = SignalIndex::default();
        for (signal, address) in addresses {
            index.insert(MetricAddress::parse(address)?, *signal);
        }
        let mut first = SampleBatch::new();
        {
            let mut inner = Inner::lock(&self.inner);
            inner.index = Some(index);
            let keys: Vec<EntityKey> = inner.entities.keys().cloned().collect();
            for key in keys {
                let Some(e) = inner.entities.get(&key) else { continue };
                let online = e.online;
                let values: Vec<MetricUpdate> = e
                    .metrics
                    .iter()
                    .filter_map(|(n, k)| {
                        k.value.clone().map(|(value, timestamp_ms)| MetricUpdate {
                            name: n.clone(),
                            value,
                            timestamp_ms,
                        })
                    })
                    .collect();
                inner.quality(&key, online, &mut first);
                for u in &values {
                    inner.value(&key, u, false, &mut first);
                }
            }
            // Queued under the lock, so a newer value from the session cannot overtake these.
            if !first.is_empty() {
                let n = first.len() as u64;
                match self.tx.try_send(std::mem::take(&mut first)) {
                    Ok(()) => {
                        self.counters.samples_in.fetch_add(n, Relaxed);
                    }
                    Err(mpsc::error::TrySendError::Full(batch)) | Err(mpsc::error::TrySendError::Closed(batch)) => {
                        first = batch;
                    }
                }
            }
        }
        if !first.is_empty() {
            let n = first.len() as u64;
            if self.tx.send(first).await.is_ok() {
                self.counters.samples_in.fetch_add(n, Relaxed);
            }
        }
        Ok(addresses.len())
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Ends the session: STATE `online: false` (retained), then DISCONNECT.
    pub async fn close(&self) {
        self.link.close().await;
    }
}

/// The Sparkplug datatype as the OPC UA type name the auto-bindings map to USD (docs/sparkplug.md).
pub fn type_name(t: DataType) -> Option<&'static str> {
    Some(match t {
        DataType::Boolean => "Boolean",
        DataType::Int8 => "SByte",
        DataType::UInt8 => "Byte",
        DataType::Int16 => "Int16",
        DataType::UInt16 => "UInt16",
        DataType::Int32 => "Int32",
        DataType::UInt32 => "UInt32",
        DataType::Int64 => "Int64",
        DataType::UInt64 | DataType::DateTime => "UInt64",
        DataType::Float => "Float",
        DataType::Double => "Double",
        DataType::String | DataType::Text | DataType::Uuid => "String",
        _ => return None,
    })
}

/// Whether an auto-binding mirrors this metric: not the commands a host may send (`Node Control/*`,
/// `Device Control/*`).
fn mirrored(metric: &str) -> bool {
    !metric.starts_with("Node Control/") && !metric.starts_with("Device Control/")
}

/// The browse tree of what `filter` takes of `born` (root first, parents before children), in the shape
/// the OPC UA auto-bindings mirror: the group, node or device the filter names is the root; edge nodes and
/// devices are objects; metric names are split at `/` into folder objects and a variable. Also returns
/// the tree index of every node and device object, for their `state` bindings.
pub fn browse_tree(filter: &BirthFilter, born: &[BornEntity]) -> (Vec<BrowsedNode>, Vec<(usize, MetricAddress)>) {
    let root_name = filter.device.as_ref().or(filter.node.as_ref()).unwrap_or(&filter.group).clone();
    let mut nodes = vec![browsed(&root_name, String::new(), NodeKind::Object, None, None)];
    let mut objects: HashMap<String, usize> = HashMap::new(); // object path → index
    let mut states = Vec::new();
    let mut object = |nodes: &mut Vec<BrowsedNode>, path: &str, name: &str, parent: usize| -> usize {
        *objects.entry(path.to_string()).or_insert_with(|| {
            nodes.push(browsed(name, format!("object:{path}"), NodeKind::Object, None, Some(parent)));
            nodes.len() - 1
        })
    };
    for e in born.iter().filter(|e| filter.takes(&e.group, &e.node, e.device.as_deref())) {
        // The object of this node or device below the root.
        let mut at = 0;
        let mut path = String::new();
        if filter.node.is_none() {
            path = e.node.clone();
            at = object(&mut nodes, &path, &e.node, at);
        }
        if let (Some(d), None) = (&e.device, &filter.device) {
            path = format!("{path}/{d}");
            at = object(&mut nodes, &path, d, at);
        }
        states.push((
            at,
            MetricAddress { group: e.group.clone(), node: e.node.clone(), device: e.device.clone(), metric: None },
        ));
        for (metric, t) in e.metrics.iter().filter(|(m, _)| mirrored(m)) {
            let mut parent = at;
            let mut folder = path.clone();
            let parts: Vec<&str> = metric.split('/').collect();
            for part in &parts[..parts.len() - 1] {
                folder = format!("{folder}/{part}");
                parent = object(&mut nodes, &folder, part, parent);
            }
            let address = MetricAddress {
                group: e.group.clone(),
                node: e.node.clone(),
                device: e.device.clone(),
                metric: Some(metric.clone()),
            };
            let type_name = type_name(*t).map(str::to_string).or_else(|| Some(t.to_string()));
            nodes.push(browsed(
                parts[parts.len() - 1],
                address.to_string(),
                NodeKind::Variable,
                type_name,
                Some(parent),
            ));
        }
    }
    (nodes, states)
}

fn browsed(name: &str, id: String, kind: NodeKind, data_type: Option<String>, parent: Option<usize>) -> BrowsedNode {
    BrowsedNode {
        node_id: id,
        browse_name: name.to_string(),
        browse_namespace: 0,
        display_name: name.to_string(),
        kind,
        data_type,
        value_rank: None,
        parent,
        depth: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_addresses_round_trip_and_keep_semicolons_in_names() {
        let a = MetricAddress::parse("group=Plant1;node=Paint;device=Oven1;metric=Zone 1/Temp;raw").unwrap();
        assert_eq!(a.device.as_deref(), Some("Oven1"));
        assert_eq!(a.metric.as_deref(), Some("Zone 1/Temp;raw"));
        assert_eq!(MetricAddress::parse(&a.to_string()).unwrap(), a);
        let s = MetricAddress::parse("group=Plant1; node=Paint; state").unwrap();
        assert_eq!((s.device, s.metric), (None, None));
        for (bad, says) in [
            ("node=E;metric=x", "group= is missing"),
            ("group=G;metric=x", "node= is missing"),
            ("group=G;node=E", "metric=NAME (or state) is missing"),
            ("group=G/1;node=E;metric=x", "must be non-empty"),
            ("group=G;node=E;state;metric=x", "exclude each other"),
            ("group=G;node=E;unit=C;metric=x", "unknown key"),
        ] {
            let e = MetricAddress::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn birth_filters_take_groups_nodes_or_devices() {
        let g = BirthFilter::parse("group=Plant1").unwrap();
        assert!(g.takes("Plant1", "Any", None) && g.takes("Plant1", "Any", Some("D")));
        assert!(!g.takes("Plant2", "Any", None));
        let d = BirthFilter::parse("group=Plant1;node=Paint;device=Oven1").unwrap();
        assert!(d.takes("Plant1", "Paint", Some("Oven1")) && !d.takes("Plant1", "Paint", None));
        assert!(BirthFilter::parse("node=Paint").is_err());
        assert!(BirthFilter::parse("group=P;device=D").is_err());
    }
}
