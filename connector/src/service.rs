//! The running connector: connects the sources, builds the binding table (explicit and auto-bindings),
//! writes the root stage, starts one USD writer thread per shop, ingests samples into the twin state,
//! serves the live stream and ops endpoints, and shuts everything down cleanly (last tick flushed, layers
//! saved, sessions closed).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use twinloom_usd::{Layer, LayerWriter, ValueType};
use twinloom_usd_names::{display_name, valid_child_names, valid_property_names};

use crate::binding::{Binding, BindingTable};
use crate::config::{AutoBindingConfig, Config, SourceConfig};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::sample::SampleBatch;
use crate::server::AppState;
use crate::shop_attrs::ShopAttrs;
use crate::shop_writer::{self, ShopWriterConfig};
use crate::shutdown::{Shutdown, CLIENTS_CLOSE_TIMEOUT, INGEST_DRAIN_TIMEOUT, SOURCE_CLOSE_TIMEOUT};
use crate::source::modbus::{ModbusConfig, ModbusError, ModbusSource};
use crate::source::mqtt::json::MqttJsonSource;
use crate::source::mqtt::{MqttError, MqttSettings};
use crate::source::opcua::{BrowsedNode, Identity, MonitoredNode, NodeKind, OpcUaConfig, OpcUaSource, SecurityMode};
use crate::source::sparkplug::{BirthFilter, MetricAddress, SparkplugError, SparkplugSettings, SparkplugSource};
use crate::stage::{write_root, write_root_in_child, BoundAttribute, RootStage};
use crate::twin::TwinState;

/// What can stop the service from starting. Each message is complete on its own (the inner error is part
/// of the text, not a separate `source`), so `{:#}` chains print it once.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Source(crate::source::opcua::SourceError),
    #[error("source {source_name}: {error}")]
    Modbus { source_name: String, error: ModbusError },
    #[error("source {source_name}: {error}")]
    Mqtt { source_name: String, error: MqttError },
    #[error("source {source_name}: {error}")]
    Sparkplug { source_name: String, error: SparkplugError },
    #[error("{0}")]
    Mes(#[from] crate::mes::MesError),
    #[error("MES over MQTT (mes.mqtt_source {source_name}): {error}")]
    MesMqtt { source_name: String, error: MqttError },
    #[error("OpenUSD: {0}")]
    Usd(twinloom_usd::UsdError),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("binding {what}: {message}")]
    Binding { what: String, message: String },
    #[error("root stage: {0}")]
    RootStage(crate::stage::RootWriteError),
    /// The write-back engine could not start (its audit journal, or a target that is not bound).
    #[error("write-back: {0}")]
    WriteBack(String),
    /// The write-ahead journal could not be opened or read at start.
    #[error("{0}")]
    Journal(crate::journal::JournalError),
    /// The NATS forwarder could not start (`[nats]`, docs/nats.md).
    #[error(transparent)]
    Nats(crate::nats::NatsError),
    /// The aggregator could not start (`[aggregate]`, docs/nats.md).
    #[error(transparent)]
    Aggregate(crate::aggregate::AggregateError),
    /// The history folder could not be opened at start.
    #[error("{0}")]
    History(crate::history::HistoryServiceError),
    /// The diagnostics observer could not start (its layer, or the observer refused the signals).
    #[error("{0}")]
    Observe(crate::observe::ObserveError),
    /// A stop was asked for before the service was up (nothing to save yet, or the layers were saved).
    #[error("stopped before the service was up")]
    StoppedDuringStartup,
}

impl From<crate::source::opcua::SourceError> for ServiceError {
    fn from(e: crate::source::opcua::SourceError) -> Self {
        ServiceError::Source(e)
    }
}

impl From<twinloom_usd::UsdError> for ServiceError {
    fn from(e: twinloom_usd::UsdError) -> Self {
        ServiceError::Usd(e)
    }
}

impl From<crate::stage::RootWriteError> for ServiceError {
    fn from(e: crate::stage::RootWriteError) -> Self {
        ServiceError::RootStage(e)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let what = what.into();
    move |error| ServiceError::Io { what, error }
}

/// What a finished run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub signals_bound: usize,
    pub shops: Vec<String>,
    pub samples_in: u64,
    pub samples_rejected: u64,
    pub deltas: u64,
    pub seconds: f64,
    pub stage_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub listen: Option<SocketAddr>,
}

/// Information available once the service is up (for the demo and tests).
#[derive(Debug, Clone)]
pub struct Started {
    pub listen: SocketAddr,
    /// The command API's TLS address, when it is served over TLS (`write_back.tls_listen`).
    pub command_tls: Option<SocketAddr>,
    pub signals_bound: usize,
    pub shops: Vec<String>,
    pub stage: PathBuf,
}

/// The OPC UA type names an auto-binding maps, and the USD type each becomes.
fn usd_type_for(data_type: &str) -> Option<ValueType> {
    Some(match data_type {
        "Boolean" => ValueType::Bool,
        "SByte" | "Byte" | "Int16" | "UInt16" | "Int32" => ValueType::Int,
        "UInt32" | "Int64" | "UInt64" => ValueType::Int64,
        "Float" => ValueType::Float,
        "Double" => ValueType::Double,
        "String" | "LocalizedText" => ValueType::String,
        _ => return None,
    })
}

fn opcua_config(s: &SourceConfig, pki: &Path) -> OpcUaConfig {
    let mut c = OpcUaConfig::new(s.endpoint.get_ref().clone());
    c.security = match s.security.get_ref().as_str() {
        "sign" => SecurityMode::Sign,
        "sign-and-encrypt" => SecurityMode::SignAndEncrypt,
        _ => SecurityMode::None,
    };
    c.identity = match (&s.user, &s.password, &s.certificate, &s.private_key) {
        (Some(user), Some(password), _, _) => Identity::UserPassword { user: user.clone(), password: password.clone() },
        (_, _, Some(cert), Some(key)) => Identity::Certificate { cert: cert.clone(), key: key.clone() },
        _ => Identity::Anonymous,
    };
    c.trust_server_certs = s.trust_server_certs;
    c.pki_dir = pki.to_path_buf();
    c.sampling_interval = Duration::from_millis(s.sampling_interval_ms);
    c.publishing_interval = Duration::from_millis(s.publishing_interval_ms);
    c.deadband = s.deadband;
    c.queue_size = s.queue_size;
    c
}

/// Mirrors a browsed subtree under `a.prim`: objects become prims, variables attributes of their parent
/// object, names made valid and unique like usd-exchange (the original kept as displayName). Returns the
/// prim path of every object node (`None` for variables).
pub fn mirror(
    a: &AutoBindingConfig,
    nodes: &[BrowsedNode],
    table: &mut BindingTable,
    skipped: &mut Vec<String>,
) -> Vec<Option<String>> {
    let shop = table.shop_index(a.shop.get_ref());
    // Prim path of each object node (None for variables).
    let mut prim_of: Vec<Option<String>> = vec![None; nodes.len()];
    if nodes.is_empty() {
        return prim_of;
    }
    prim_of[0] = Some(a.prim.get_ref().clone());
    // Children of each node, in browse order.
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, n) in nodes.iter().enumerate().skip(1) {
        if let Some(p) = n.parent {
            children[p].push(i);
        }
    }
    // Parents precede children in browse (breadth-first) order.
    for i in 0..nodes.len() {
        let Some(prim) = prim_of[i].clone() else { continue };
        let objects: Vec<usize> = children[i].iter().copied().filter(|&c| nodes[c].kind == NodeKind::Object).collect();
        let vars: Vec<usize> = children[i].iter().copied().filter(|&c| nodes[c].kind == NodeKind::Variable).collect();
        let obj_names = valid_child_names(&objects.iter().map(|&c| nodes[c].browse_name.as_str()).collect::<Vec<_>>());
        for (&c, name) in objects.iter().zip(obj_names) {
            let path = format!("{prim}/{name}");
            if let Some(original) = display_name(&nodes[c].browse_name, &name) {
                table.prim_display_names.insert(path.clone(), original.to_string());
            }
            prim_of[c] = Some(path);
        }
        let var_names =
            valid_property_names(&vars.iter().map(|&c| nodes[c].browse_name.as_str()).collect::<Vec<_>>(), &[]);
        for (&c, attr) in vars.iter().zip(var_names) {
            let n = &nodes[c];
            let dt = n.data_type.as_deref().unwrap_or("?");
            if let Some(rank) = n.value_rank.filter(|r| *r >= 0) {
                skipped.push(format!("{} ({}): an array of {dt} (value rank {rank}); arrays are not auto-bound (bind one of three numbers explicitly as float3)", n.node_id, n.browse_name));
                continue;
            }
            let Some(ty) = usd_type_for(dt) else {
                skipped.push(format!("{} ({}): type {dt} is not mapped to a USD type", n.node_id, n.browse_name));
                continue;
            };
            table.bindings.push(Binding {
                source: a.source.get_ref().clone(),
                address: n.node_id.clone(),
                shop,
                prim: prim.clone(),
                display_name: display_name(&n.browse_name, &attr).map(str::to_string),
                attr,
                value_type: ty,
                scale: 1.0,
                offset: 0.0,
                unit: None,
            });
        }
    }
    prim_of
}

fn explicit_bindings(cfg: &Config, table: &mut BindingTable) -> Result<(), ServiceError> {
    for b in &cfg.bindings {
        let shop = table.shop_index(b.shop.get_ref());
        let value_type = ValueType::from_sdf_name(b.value_type.get_ref()).ok_or_else(|| ServiceError::Binding {
            what: b.node.get_ref().clone(),
            message: format!("unknown type {}", b.value_type.get_ref()),
        })?;
        table.bindings.push(Binding {
            source: b.source.get_ref().clone(),
            address: b.node.get_ref().clone(),
            shop,
            prim: b.prim.get_ref().clone(),
            attr: b.attr.get_ref().clone(),
            value_type,
            scale: b.scale,
            offset: b.offset,
            unit: b.unit.clone(),
            display_name: None,
        });
    }
    Ok(())
}

/// A connected source of any kind.
enum Connected {
    OpcUa(Arc<OpcUaSource>),
    Modbus(Arc<ModbusSource>),
    MqttJson(Arc<MqttJsonSource>),
    Sparkplug(Arc<SparkplugSource>),
    /// The aggregator's: the sites' JetStream streams.
    Federation(Arc<crate::aggregate::Federation>),
}

impl Connected {
    fn counters(&self) -> Arc<crate::source::SourceCounters> {
        match self {
            Connected::OpcUa(s) => s.counters(),
            Connected::Modbus(s) => s.counters(),
            Connected::MqttJson(s) => s.counters(),
            Connected::Sparkplug(s) => s.counters(),
            Connected::Federation(s) => s.counters(),
        }
    }

    async fn close(&self) {
        match self {
            Connected::OpcUa(s) => s.close().await,
            Connected::Modbus(s) => s.close().await,
            Connected::MqttJson(s) => s.close().await,
            Connected::Sparkplug(s) => s.close().await,
            Connected::Federation(s) => s.close().await,
        }
    }

    /// Where write-back commands go; `None`: the source takes no writes.
    fn sink(&self) -> Option<Arc<dyn crate::command::sink::Sink>> {
        match self {
            Connected::OpcUa(s) => Some(s.clone()),
            Connected::Modbus(s) => Some(s.clone()),
            Connected::MqttJson(_) | Connected::Sparkplug(_) | Connected::Federation(_) => None,
        }
    }
}

/// The Modbus settings of `s`.
fn modbus_config(s: &SourceConfig) -> ModbusConfig {
    let mut c = ModbusConfig::new(s.endpoint.get_ref().trim_start_matches("tcp://"));
    if s.sampling_interval_ms > 0 {
        c.default_poll = Duration::from_millis(s.sampling_interval_ms);
    }
    c
}

/// The MQTT session settings of `s` (files resolved against the config file's folder).
fn mqtt_settings(cfg: &Config, s: &SourceConfig) -> MqttSettings {
    let name = s.name.get_ref();
    let mut m =
        MqttSettings::new(s.endpoint.get_ref().clone(), s.client_id.clone().unwrap_or(format!("twinloom-{name}")));
    m.user = s.user.clone();
    m.password = s.password.clone();
    m.ca_certificate = s.ca_certificate.as_ref().map(|p| cfg.relative_to_file(p));
    if let (Some(c), Some(k)) = (&s.certificate, &s.private_key) {
        m.client_certificate = Some((cfg.relative_to_file(c), cfg.relative_to_file(k)));
    }
    m
}

/// The Sparkplug host settings of `s`: the groups its bindings and auto-bindings name are subscribed.
fn sparkplug_settings(cfg: &Config, s: &SourceConfig) -> SparkplugSettings {
    let name = s.name.get_ref();
    let mut groups: Vec<String> = cfg
        .bindings
        .iter()
        .filter(|b| b.source.get_ref() == name)
        .filter_map(|b| MetricAddress::parse(b.node.get_ref()).ok().map(|a| a.group))
        .chain(
            cfg.auto_bindings
                .iter()
                .filter(|a| a.source.get_ref() == name)
                .filter_map(|a| BirthFilter::parse(a.node.get_ref()).ok().map(|f| f.group)),
        )
        .collect();
    groups.sort();
    groups.dedup();
    SparkplugSettings {
        mqtt: mqtt_settings(cfg, s),
        host_id: s.host_id.as_ref().map_or_else(|| "twinloom".to_string(), |h| h.get_ref().clone()),
        groups,
        reorder_timeout: Duration::from_millis(s.reorder_timeout_ms),
    }
}

/// Connects every source and builds the binding table (explicit bindings, then each auto-binding's
/// browsed subtree); returns the sources, the table and each source's kind. Sources that push (MQTT)
/// deliver to `tx` once subscribed.
async fn connect_and_bind(
    cfg: &Config,
    metrics: &Arc<Metrics>,
    tx: &mpsc::Sender<SampleBatch>,
) -> Result<(Vec<(String, Connected)>, BindingTable, BTreeMap<String, String>), ServiceError> {
    let mut sources: Vec<(String, Connected)> = Vec::new();
    let mut source_kinds = BTreeMap::new();
    // The aggregator: the sites' streams are its one source (its config has no other, `Config::check`).
    if cfg.aggregate.is_some() {
        let fed = crate::aggregate::Federation::connect(cfg, metrics.clone()).await.map_err(ServiceError::Aggregate)?;
        metrics.set_aggregate(fed.status());
        metrics.add_source(crate::aggregate::SOURCE, fed.counters());
        source_kinds.insert(crate::aggregate::SOURCE.to_string(), crate::aggregate::SOURCE.to_string());
        sources.push((crate::aggregate::SOURCE.to_string(), Connected::Federation(Arc::new(fed))));
    }
    for s in &cfg.sources {
        let name = s.name.get_ref().clone();
        let src = match s.kind.get_ref().as_str() {
            "modbus" => Connected::Modbus(Arc::new(
                ModbusSource::connect(modbus_config(s))
                    .await
                    .map_err(|error| ServiceError::Modbus { source_name: name.clone(), error })?,
            )),
            "sparkplug" => Connected::Sparkplug(Arc::new(
                SparkplugSource::connect(&name, &sparkplug_settings(cfg, s), tx.clone())
                    .await
                    .map_err(|error| ServiceError::Sparkplug { source_name: name.clone(), error })?,
            )),
            "mqtt" => Connected::MqttJson(Arc::new(
                MqttJsonSource::connect(&name, &mqtt_settings(cfg, s), tx.clone())
                    .await
                    .map_err(|error| ServiceError::Mqtt { source_name: name.clone(), error })?,
            )),
            _ => Connected::OpcUa(Arc::new(OpcUaSource::connect(opcua_config(s, &cfg.pki_dir(s))).await?)),
        };
        tracing::info!(source = %s.name.get_ref(), endpoint = %s.endpoint.get_ref(), "connected");
        metrics.add_source(s.name.get_ref(), src.counters());
        source_kinds.insert(s.name.get_ref().clone(), s.kind.get_ref().clone());
        sources.push((name, src));
    }
    tracing::info!(rss_mib = crate::memory::resident_bytes() >> 20, "sources connected");
    // Sparkplug auto-bindings mirror what was born: give the edge nodes time to answer the host's STATE.
    let birth_wait = cfg
        .sources
        .iter()
        .filter(|s| s.kind.get_ref() == "sparkplug")
        .filter(|s| cfg.auto_bindings.iter().any(|a| a.source.get_ref() == s.name.get_ref()))
        .map(|s| s.birth_wait_ms)
        .max();
    if let Some(ms) = birth_wait {
        tracing::info!("collecting Sparkplug births for {ms} ms");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let mut table = BindingTable::default();
    explicit_bindings(cfg, &mut table)?;
    if let Some((_, Connected::Federation(fed))) = sources.first() {
        let bound = fed.bind(&cfg.stage.root, &mut table);
        tracing::info!(bound, shops = table.shops.len(), "aggregate: site attributes bound");
    }
    for a in &cfg.auto_bindings {
        let src = match sources.iter().find(|(n, _)| n == a.source.get_ref()) {
            Some((_, Connected::OpcUa(src))) => src,
            Some((_, Connected::Sparkplug(src))) => {
                sparkplug_auto_binding(a, src, &mut table, metrics);
                continue;
            }
            _ => continue,
        };
        let nodes = src.browse(a.node.get_ref(), a.max_depth).await?;
        let mut skipped = Vec::new();
        let before = table.len();
        mirror(a, &nodes, &mut table, &mut skipped);
        tracing::info!(root = %a.node.get_ref(), nodes = nodes.len(), bound = table.len() - before, skipped = skipped.len(), "auto-binding");
        for s in skipped.iter().take(20) {
            tracing::warn!("not bound: {s}");
        }
        metrics.config_errors.fetch_add(skipped.len() as u64, Relaxed);
    }

    Ok((sources, table, source_kinds))
}

/// Mirrors what a Sparkplug source heard born that `a` takes (docs/sparkplug.md): metrics like OPC UA
/// variables, plus each node's and device's quality as `twinloom:quality` (`good`, `stale`).
fn sparkplug_auto_binding(a: &AutoBindingConfig, src: &SparkplugSource, table: &mut BindingTable, metrics: &Metrics) {
    let Ok(filter) = BirthFilter::parse(a.node.get_ref()) else { return };
    let born = src.born();
    let (nodes, states) = crate::source::sparkplug::browse_tree(&filter, &born);
    let mut skipped = Vec::new();
    let before = table.len();
    let prims = mirror(a, &nodes, table, &mut skipped);
    let shop = table.shop_index(a.shop.get_ref());
    for (at, address) in states {
        let Some(prim) = prims.get(at).cloned().flatten() else { continue };
        table.bindings.push(Binding {
            source: a.source.get_ref().clone(),
            address: address.to_string(),
            shop,
            prim,
            attr: crate::source::sparkplug::QUALITY_ATTR.to_string(),
            value_type: ValueType::Token,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            display_name: None,
        });
    }
    if born.iter().all(|e| !filter.takes(&e.group, &e.node, e.device.as_deref())) {
        tracing::warn!(source = %a.source.get_ref(), node = %a.node.get_ref(), "auto-binding: nothing it takes was born within birth_wait_ms");
    }
    tracing::info!(source = %a.source.get_ref(), filter = %a.node.get_ref(), entities = born.len(), bound = table.len() - before, skipped = skipped.len(), "Sparkplug auto-binding");
    for s in skipped.iter().take(20) {
        tracing::warn!("not bound: {s}");
    }
    metrics.config_errors.fetch_add(skipped.len() as u64, Relaxed);
}

/// The MES session to the broker of `source` (its endpoint, credentials and TLS; client id
/// `<client id>-mes`), subscribed to `[mes] topics`; its connection shows in /metrics as source `mes`.
async fn connect_mes_mqtt(
    cfg: &Config,
    source: &str,
    live: &Arc<crate::mes::live::MesLive>,
    tx: &mpsc::Sender<SampleBatch>,
    metrics: &Metrics,
) -> Result<crate::source::mqtt::MqttLink, ServiceError> {
    let fail = |error| ServiceError::MesMqtt { source_name: source.to_string(), error };
    let s =
        cfg.sources.iter().find(|s| s.name.get_ref() == source).ok_or_else(|| {
            fail(MqttError::Connect { endpoint: String::new(), reason: format!("no source {source:?}") })
        })?;
    let mut settings = mqtt_settings(cfg, s);
    settings.client_id.push_str("-mes");
    let counters = Arc::new(crate::source::SourceCounters::default());
    let handler = crate::mes::live::MesHandler { live: live.clone() };
    let link =
        crate::source::mqtt::connect(&settings, None, handler, tx.clone(), counters.clone()).await.map_err(fail)?;
    metrics.add_source(crate::mes::SHOP, counters);
    tracing::info!(endpoint = %settings.endpoint, topics = ?live.config().topics, "MES over MQTT");
    Ok(link)
}

/// Subscribes every source's bound signals, delivering to `tx`.
async fn subscribe_all(
    sources: &[(String, Connected)],
    table: &BindingTable,
    tx: &mpsc::Sender<SampleBatch>,
    metrics: &Metrics,
) -> Result<(), ServiceError> {
    for (name, src) in sources {
        let nodes: Vec<MonitoredNode> = table
            .bindings
            .iter()
            .enumerate()
            .filter(|(_, b)| &b.source == name)
            .map(|(i, b)| MonitoredNode::new(i as u32, b.address.clone()))
            .collect();
        let src = match src {
            Connected::OpcUa(src) => src,
            Connected::Modbus(src) => {
                let addresses: Vec<(u32, String)> = nodes.into_iter().map(|n| (n.signal, n.node_id)).collect();
                let (points, reads) = src
                    .subscribe(&addresses, tx.clone())
                    .map_err(|error| ServiceError::Modbus { source_name: name.clone(), error })?;
                tracing::info!(source = %name, points, reads_per_round = reads, "polling");
                continue;
            }
            Connected::Sparkplug(src) => {
                let addresses: Vec<(u32, String)> = nodes.into_iter().map(|n| (n.signal, n.node_id)).collect();
                let points = src
                    .subscribe(&addresses)
                    .await
                    .map_err(|error| ServiceError::Sparkplug { source_name: name.clone(), error })?;
                tracing::info!(source = %name, points, "Sparkplug metrics bound");
                continue;
            }
            Connected::Federation(src) => {
                let bound = table
                    .bindings
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| &b.source == name)
                    .map(|(i, b)| (i as u32, b.address.clone(), b.value_type))
                    .collect();
                let points = src.subscribe(bound, tx.clone());
                tracing::info!(points, "aggregate: consuming the sites' streams");
                continue;
            }
            Connected::MqttJson(src) => {
                let addresses: Vec<(u32, String)> = nodes.into_iter().map(|n| (n.signal, n.node_id)).collect();
                let (points, filters) = src
                    .subscribe(&addresses)
                    .map_err(|e| ServiceError::Binding { what: format!("source {name}"), message: e.to_string() })?;
                tracing::info!(source = %name, points, filters, "subscribed");
                continue;
            }
        };
        let report = src.subscribe(&nodes, tx.clone()).await?;
        for r in &report.rejected {
            tracing::warn!("not subscribed: {r}");
        }
        metrics.config_errors.fetch_add(report.rejected.len() as u64, Relaxed);
        tracing::info!(source = %name, subscribed = report.subscribed, rejected = report.rejected.len(), "subscribed");
    }
    Ok(())
}

/// Closes every source's session at once, each within [`SOURCE_CLOSE_TIMEOUT`] (a reconnecting source or
/// a silent server is dropped after it).
async fn close_sources(sources: Vec<(String, Connected)>) {
    futures::future::join_all(sources.into_iter().map(|(name, src)| async move {
        if tokio::time::timeout(SOURCE_CLOSE_TIMEOUT, src.close()).await.is_err() {
            tracing::warn!(source = %name, "session did not close within {} s; dropped", SOURCE_CLOSE_TIMEOUT.as_secs());
        }
    }))
    .await;
}

/// Stops every writer: each flushes its last tick (published to live clients) and saves its layer. The
/// saves block, so they run off the runtime's workers (live clients keep being served meanwhile).
async fn stop_writers(writers: Vec<shop_writer::ShopWriterHandle>) {
    if let Err(e) = tokio::task::spawn_blocking(move || writers.into_iter().for_each(|w| w.stop())).await {
        tracing::error!("stopping the writers: {e}");
    }
}

/// The service running on a runtime it does not own (a program or test that hosts it): [`spawn`] starts
/// it and returns once it is up, [`Running::stop`] stops it and returns what the run did.
pub struct Running {
    /// What the service told once it was up.
    pub started: Started,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<RunSummary, ServiceError>>,
}

/// Starts [`run`] on `rt` and waits until it is up; a run that fails before that returns its error.
/// Call it from outside the runtime (it blocks).
pub fn spawn(rt: &tokio::runtime::Handle, cfg: Config) -> Result<Running, ServiceError> {
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<Started>();
    let shutdown = Shutdown::when(async {
        let _ = stop_rx.await;
    });
    let task = rt.spawn(run(cfg, shutdown, move |s| {
        let _ = started_tx.send(s);
    }));
    match started_rx.recv() {
        Ok(started) => Ok(Running { started, stop, task }),
        // The run ended before it was up (the sender went with it): its result says why.
        Err(_) => match join(rt, task) {
            Err(e) => Err(e),
            Ok(_) => Err(ServiceError::StoppedDuringStartup),
        },
    }
}

impl Running {
    /// Stops the service (as a signal would) and waits for the run's summary. Blocks.
    pub fn stop(self, rt: &tokio::runtime::Handle) -> Result<RunSummary, ServiceError> {
        let _ = self.stop.send(());
        join(rt, self.task)
    }
}

/// The run's result; a panic in the service task is carried on to the caller.
fn join(
    rt: &tokio::runtime::Handle,
    task: tokio::task::JoinHandle<Result<RunSummary, ServiceError>>,
) -> Result<RunSummary, ServiceError> {
    rt.block_on(task).unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The connector service. `shutdown` says when it should stop (every step of the shutdown is bounded, see
/// [`crate::shutdown`]); `on_started` is told once it is up. A stop before the service is up ends it with
/// [`ServiceError::StoppedDuringStartup`].
///
/// An aggregator whose sites' descriptions change while it runs (`[aggregate] rescan_s`) stops as it would
/// for a signal and runs again with the new bindings, on the same address (`on_started` is told once).
pub async fn run(
    mut cfg: Config,
    shutdown: Shutdown,
    on_started: impl FnOnce(Started) + Send,
) -> Result<RunSummary, ServiceError> {
    let stop = shutdown.watch();
    let mut on_started = Some(on_started);
    loop {
        let (summary, rebind) = run_once(cfg.clone(), stop.clone(), &mut on_started).await?;
        let Some(why) = rebind else { return Ok(summary) };
        tracing::warn!("aggregate: {why}: binding the stage again");
        crate::aggregate::Federation::count_rebind();
        if let Some(listen) = summary.listen {
            cfg.stream.listen = listen.to_string();
        }
    }
}

/// One run of the service, until a stop or (an aggregator) a site's new description, which it returns.
async fn run_once(
    cfg: Config,
    stop: crate::shutdown::ShutdownState,
    on_started: &mut Option<impl FnOnce(Started) + Send>,
) -> Result<(RunSummary, Option<String>), ServiceError> {
    let t0 = Instant::now();
    let metrics = Arc::new(Metrics::default());
    metrics.set_gpu_probe(crate::gpu::GpuProbe::start());
    let dir = cfg.stage_dir();
    std::fs::create_dir_all(dir.join("live")).map_err(io(format!("create {}", dir.join("live").display())))?;

    // Ingestion: every source feeds one bounded channel of batches.
    let (tx, mut rx) = mpsc::channel::<SampleBatch>(1024);
    // Sources first: auto-bindings need their address spaces.
    let connected = stop.unless_stopped(connect_and_bind(&cfg, &metrics, &tx)).await;
    let (sources, table, source_kinds) = connected.ok_or(ServiceError::StoppedDuringStartup)??;
    let mut table = table;
    table.bindings.shrink_to_fit();
    tracing::info!(rss_mib = crate::memory::resident_bytes() >> 20, bindings = table.len(), "bindings built");
    // The stage: root layer composing results, live layers and layout.
    let layers: Vec<String> = table.shops.iter().map(|s| format!("live/{s}.usdc")).collect();
    // The last command per target (write-back), strongest: it authors only its own attributes.
    let command_layer = crate::command::stage_layer::CommandLayer::open_or_create(
        &dir.join(crate::command::stage_layer::FILE),
        &cfg.stage.root,
    )?;
    let mut sublayers = vec![crate::command::stage_layer::FILE.to_string()];
    if dir.join("results.usda").exists() {
        sublayers.push("results.usda".to_string());
    }
    // Diagnostics: their own layer, with attributes of their own (never the live values).
    let observer = match (cfg.diagnostics.enabled, &cfg.observer) {
        (true, Some(factory)) => Some(factory.clone()),
        (true, None) => {
            tracing::warn!("[diagnostics] is enabled but this program runs no observer: no diagnostics");
            None
        }
        (false, _) => None,
    };
    if observer.is_some() {
        sublayers.push(crate::observe::LAYER_FILE.to_string());
    }
    // MES: the cars in work, restored from the last run's mes.usda.
    let mes = match &cfg.mes {
        Some(m) => {
            let mes = crate::mes::Mes::open(&dir, &cfg.stage.root, m)?;
            tracing::info!(cars_in_work = mes.wip().len(), "MES layer open");
            sublayers.push(crate::mes::LAYER_FILE.to_string());
            Some((mes, m.clone()))
        }
        None => None,
    };
    sublayers.extend(layers.iter().cloned());
    if let Some(l) = &cfg.stage.layout {
        sublayers.push(l.clone());
    }
    let root_path = dir.join("plant.usda");
    let root_stage = RootStage {
        root: cfg.stage.root.clone(),
        capability_level: *cfg.stage.capability_level.get_ref(),
        sublayers,
        layout: cfg.stage.layout.as_ref().map(|l| dir.join(l)),
        bindings: BoundAttribute::all(&table, &source_kinds),
        prim_display_names: table.prim_display_names.clone(),
    };
    match &cfg.stage_writer {
        Some(exe) => write_root_in_child(exe, &root_path, &root_stage)?,
        None => write_root(&root_path, &root_stage)?,
    }
    drop(root_stage);

    crate::memory::release_freed_memory();
    tracing::info!(rss_mib = crate::memory::resident_bytes() >> 20, "root stage written");

    // One writer per shop, with every binding of the shop interned once.
    let twin = TwinState::new(&table);
    // The NATS `samples` subject needs every accepted sample, not just each tick's newest (docs/nats.md).
    let twin = Arc::new(if cfg.nats.enabled && cfg.nats.samples { twin.keep_raw_samples() } else { twin });
    let hub = Hub::new(cfg.stream.ring, cfg.stream.ring_mib << 20, cfg.stream.client_buffer);
    let mut prepared = Vec::new();
    for (shop, name) in table.shops.iter().enumerate() {
        let path = dir.join(&layers[shop]);
        // Values of the previous run are kept: the live layer is reopened and updated.
        let layer = if path.exists() { Layer::open(&path)? } else { Layer::create_anonymous(name, "usda")? };
        let mut usd = LayerWriter::new(layer);
        let mut attrs = ShopAttrs::default();
        for b in table.bindings.iter().filter(|b| b.shop == shop) {
            let handle = usd.intern(&b.prim, &b.attr, b.value_type).map_err(|e| ServiceError::Binding {
                what: format!("{} → {}", b.address, b.attr_path()),
                message: e.to_string(),
            })?;
            attrs.push(handle, &b.prim, &b.attr, b.value_type);
        }
        attrs.finish(); // held for the whole run
        prepared.push((path, usd, attrs));
    }
    // The journal: re-apply what the saved layers lack, refill the resume ring, keep the epoch.
    let (epoch, journal_epoch, start_seq) = if cfg.journal.enabled {
        let jm = Arc::new(crate::metrics::JournalMetrics::default());
        metrics.set_journal(jm.clone());
        let mut shop_layers: Vec<crate::journal::ShopLayer<'_>> = prepared
            .iter_mut()
            .zip(&table.shops)
            .map(|((_, usd, attrs), name)| crate::journal::ShopLayer { name, usd, attrs })
            .collect();
        let jdir = cfg.journal_dir();
        let r = crate::journal::recover(&jdir, crate::journal::options(&cfg), &mut shop_layers, jm)
            .map_err(ServiceError::Journal)?;
        drop(shop_layers);
        tracing::info!(
            dir = %jdir.display(), epoch = r.epoch, last_seq = r.last_seq, replayed_ticks = r.replayed,
            ring = r.ring.len(), recovery_s = r.seconds, "journal recovery done"
        );
        let (epoch, last_seq) = (r.epoch, r.last_seq);
        hub.attach_journal(r.sink, r.last_seq, r.ring, r.saved);
        (epoch, Some(epoch), last_seq)
    } else {
        (crate::delta::epoch_ms(SystemTime::now()) as u64, None, 0)
    };
    // History: the journal compacted into value clips (after recovery, so the floor applies to the journal).
    let history = if cfg.history.enabled {
        let h = crate::history::History::open(&dir, &cfg.stage.root, hub.clone(), cfg.history.retention_days)
            .map_err(ServiceError::History)?;
        let every = Duration::from_secs_f64(cfg.history.flush_interval_s);
        let compactor = crate::history::Compactor::spawn(h.clone(), every).map_err(io("start the history thread"))?;
        Some((h, compactor))
    } else {
        None
    };
    // NATS: the journal forwarded to JetStream from its saved position (also a truncation floor).
    let forwarder = if cfg.nats.enabled {
        let spec = crate::federation::SiteSpec::of_table(
            cfg.nats.site(),
            cfg.nats.partition.as_deref(),
            &cfg.stage.root,
            epoch,
            &table,
        );
        let f = crate::nats::Forwarder::start(&cfg, hub.clone(), epoch, spec).map_err(ServiceError::Nats)?;
        metrics.set_nats(f.status());
        Some(f)
    } else {
        None
    };
    let mut writers = Vec::new();
    for (shop, (path, usd, attrs)) in prepared.into_iter().enumerate() {
        let name = &table.shops[shop];
        let wcfg = ShopWriterConfig {
            shop,
            name: name.clone(),
            layer_rel: layers[shop].clone(),
            path,
            tick: Duration::from_millis(cfg.stage.tick_ms),
            save_every: Duration::from_secs_f64(cfg.stage.save_interval_s),
            saver: cfg.stage_writer.clone(),
            journal_epoch,
            epoch,
            start_seq,
        };
        writers.push(
            shop_writer::spawn(wcfg, usd, attrs, twin.clone(), hub.clone(), metrics.clone())
                .map_err(io("start a writer thread"))?,
        );
    }

    let mes = mes.map(|(mes, m)| crate::mes::live::MesLive::new(mes, hub.clone(), m, metrics.clone()));
    let mes_link = match (&mes, cfg.mes.as_ref().and_then(|m| m.mqtt_source.as_ref())) {
        (Some(live), Some(src)) => match connect_mes_mqtt(&cfg, src.get_ref(), live, &tx, &metrics).await {
            Ok(link) => Some(link),
            Err(e) => {
                stop_writers(writers).await;
                close_sources(sources).await;
                return Err(e);
            }
        },
        _ => None,
    };
    let subscribed = stop.unless_stopped(subscribe_all(&sources, &table, &tx, &metrics)).await;
    let Some(subscribed) = subscribed else {
        tracing::info!("stopped while subscribing: saving the layers");
        stop_writers(writers).await;
        return Err(ServiceError::StoppedDuringStartup);
    };
    subscribed?;
    drop(tx);
    // Write-back: every writable target and interlock reference resolved to its source node.
    let sinks: Vec<(String, Arc<dyn crate::command::sink::Sink>)> =
        sources.iter().filter_map(|(n, s)| Some((n.clone(), s.sink()?))).collect();
    let setup = match crate::command::setup::build(&cfg, &sinks, &table, Some(command_layer)) {
        Ok(setup) => setup,
        Err(e) => {
            stop_writers(writers).await;
            close_sources(sources).await;
            return Err(ServiceError::WriteBack(e.to_string()));
        }
    };
    drop(sinks);
    let engine = setup.engine.clone();
    metrics.set_commands(engine.counters());
    // Diagnostics: the selected signals go to the observer thread.
    let diagnostics = match &observer {
        None => None,
        Some(factory) => {
            let (index, signals) = crate::observe::select(&cfg.diagnostics, &table);
            tracing::info!(signals = signals.len(), "diagnostics on");
            let settings = crate::observe::ObserverSettings {
                stage_dir: dir.clone(),
                root: cfg.stage.root.clone(),
                tick: Duration::from_millis(cfg.stage.tick_ms),
                save_every: Duration::from_secs_f64(cfg.stage.save_interval_s),
            };
            match crate::observe::start(settings, (factory.0)(), index, signals, hub.clone(), metrics.clone()) {
                Ok(started) => Some(started),
                Err(e) => {
                    stop_writers(writers).await;
                    close_sources(sources).await;
                    return Err(ServiceError::Observe(e));
                }
            }
        }
    };
    let (feed, observer_handle) = match diagnostics {
        Some((feed, handle)) => (Some(feed), Some(handle)),
        None => (None, None),
    };
    // From here on the twin needs only each signal's conversion (kept by `twin`), not names or addresses.
    let shops = table.shops.clone();
    let signals_bound = table.len();
    metrics.signals_bound.store(signals_bound as u64, Relaxed);
    drop(table);
    crate::memory::release_freed_memory();
    tracing::info!(rss_mib = crate::memory::resident_bytes() >> 20, "writers started and sources subscribed");
    let ingest = {
        let twin = twin.clone();
        let wakers: Vec<shop_writer::Waker> = writers.iter().map(|w| w.waker()).collect();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                metrics.samples_in.fetch_add(batch.len() as u64, Relaxed);
                let bad = batch.iter().filter(|s| !s.quality.is_good()).count();
                metrics.samples_bad_quality.fetch_add(bad as u64, Relaxed);
                let reject = |s: &crate::sample::Sample, r: crate::binding::Reject| {
                    metrics.reject(r);
                    tracing::debug!(signal = s.signal, value = %s.value, reason = r.as_str(), "sample rejected");
                };
                let ok = twin.ingest_and_wake(&batch, reject, |shop| wakers[shop].wake());
                metrics.samples_accepted.fetch_add(ok as u64, Relaxed);
                // Diagnostics: the observed signals' numbers, after the shops' locks are released.
                if let Some(feed) = &feed {
                    let now_ms = crate::delta::epoch_ms(SystemTime::now()) as i64;
                    let observed: Vec<crate::observe::ObservedSample> = batch
                        .iter()
                        .filter(|s| s.quality.is_good())
                        .filter_map(|s| {
                            let signal = feed.observed(s.signal)?;
                            let value = twin.numeric(s)?;
                            let time_ms = s.source_time.map_or(now_ms, |t| crate::delta::epoch_ms(t) as i64);
                            Some(crate::observe::ObservedSample { signal, time_ms, value })
                        })
                        .collect();
                    feed.send(observed);
                }
            }
        })
    };

    // Live stream and ops endpoints.
    let listener = tokio::net::TcpListener::bind(&cfg.stream.listen)
        .await
        .map_err(io(format!("listen on {}", cfg.stream.listen)))?;
    let listen = listener.local_addr().map_err(io("listener address"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The command API over TLS, when configured: there and only there.
    let command_tls = match cfg.command_tls() {
        None => None,
        Some(settings) => {
            let acceptor =
                crate::command::tls::acceptor(&settings).map_err(|e| ServiceError::WriteBack(e.to_string()))?;
            let tls_listener = tokio::net::TcpListener::bind(&settings.listen)
                .await
                .map_err(io(format!("listen on {} (command API, TLS)", settings.listen)))?;
            let addr = tls_listener.local_addr().map_err(io("TLS listener address"))?;
            let router = crate::command::http::router(engine.clone());
            tokio::spawn(crate::command::tls::serve(tls_listener, acceptor, router, stop_rx.clone()));
            tracing::info!(%addr, mutual = settings.client_ca.is_some(), "command API over TLS");
            Some(addr)
        }
    };
    let state = Arc::new(AppState {
        hub: hub.clone(),
        metrics: metrics.clone(),
        writers: writers.iter().map(|w| w.client()).collect(),
        layers: layers.clone(),
        stage: "plant.usda".into(),
        epoch,
        ready_tick_age_ms: (cfg.stage.tick_ms * 20).max(2_000),
        engine: engine.clone(),
        commands_over_tls: command_tls,
        mes: mes.clone(),
        history: history.as_ref().map(|(h, _)| h.clone()),
        closing: stop_rx.clone(),
        web: crate::web::WebView::new(root_path.clone()),
        acks: observer_handle.as_ref().map(|h| h.acknowledger()),
        recommendations: crate::recommend::Recommendations::new(&dir, hub.clone(), engine.clone(), command_tls),
        ask: crate::ask::AskRoute::new(cfg.ask.clone(), dir.clone()),
    });
    // Recommendations: recommendations.usda, read again whenever `twinloom recommend` rewrites it.
    let recommendations_poller = crate::recommend::spawn_poller(state.recommendations.clone());
    // MES: mes.usda is saved at most every save_interval_ms while messages arrive.
    let mes_saver = mes.clone().map(|live| {
        let every = Duration::from_millis(live.config().save_interval_ms.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let live = live.clone();
                let _ = tokio::task::spawn_blocking(move || live.save_if_due()).await;
            }
        })
    });
    // Pending approvals expire, and autonomy rules run (level 5), once a second.
    let housekeeping = {
        let (engine, rules) = (engine.clone(), setup.rules);
        tokio::spawn(async move {
            let mut last = std::collections::HashMap::new();
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                if let Err(e) = engine.expire_due().await {
                    tracing::error!("write-back: {e}");
                }
                engine.run_autonomy(&rules, &mut last).await;
            }
        })
    };
    let server = {
        let state = state.clone();
        let mut stop_rx = stop_rx.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::server::serve(listener, state, stop).await {
                tracing::error!("live server: {e}");
            }
        })
    };
    tracing::info!(%listen, signals = signals_bound, shops = ?shops, stage = %root_path.display(), "twin is live");
    tracing::info!("web view at http://{listen}/ (docs/web.md)");
    if let Some(on_started) = on_started.take() {
        on_started(Started { listen, command_tls, signals_bound, shops: shops.clone(), stage: root_path.clone() });
    }

    let federation = sources.iter().find_map(|(_, s)| match s {
        Connected::Federation(f) => Some(f.clone()),
        _ => None,
    });
    let rebind = match federation {
        Some(f) => tokio::select! {
            _ = stop.stopping() => None,
            why = f.described_anew() => Some(why),
        },
        None => {
            stop.stopping().await;
            None
        }
    };
    tracing::info!("shutting down: closing sources, flushing the last tick, saving layers");
    housekeeping.abort();
    let (mut ingest, mut server) = (ingest, server);
    let drained = stop
        .unless_hurried(async {
            close_sources(sources).await;
            // The sources' senders are gone once their sessions close; let ingestion drain.
            if tokio::time::timeout(INGEST_DRAIN_TIMEOUT, &mut ingest).await.is_err() {
                tracing::warn!("ingestion did not drain within {} s", INGEST_DRAIN_TIMEOUT.as_secs());
            }
        })
        .await;
    if drained.is_none() {
        tracing::warn!("second signal: saving the layers without waiting for sources");
    }
    ingest.abort();
    if let Some(link) = mes_link {
        link.close().await;
    }
    recommendations_poller.abort();
    if let Some(saver) = mes_saver {
        saver.abort();
    }
    if let Some(live) = mes.clone() {
        let _ = tokio::task::spawn_blocking(move || live.save()).await;
    }
    stop_writers(writers).await;
    // The observer scores what is queued and saves the diagnostics layer.
    if let Some(h) = observer_handle {
        let _ = tokio::task::spawn_blocking(move || h.stop()).await;
    }
    // The history thread compacts what the journal holds once more, then ends.
    if let Some((_, compactor)) = history {
        let _ = tokio::task::spawn_blocking(move || compactor.finish()).await;
    }
    // The forwarder sends what the journal holds for a moment more (the rest goes at the next start).
    if let Some(f) = forwarder {
        f.finish(crate::nats::FINISH_GRACE).await;
    }
    // Every layer is saved with its position: the journal is forced down and closed.
    hub.close_journal();
    // Live clients get what is left to send, then a close frame; the server stops.
    let _ = stop_tx.send(true);
    let closed = stop.unless_hurried(tokio::time::timeout(CLIENTS_CLOSE_TIMEOUT, &mut server)).await;
    if !matches!(closed, Some(Ok(_))) {
        tracing::warn!("live clients were not closed within {} s; dropped", CLIENTS_CLOSE_TIMEOUT.as_secs());
    }
    server.abort();
    let mut files = vec![root_path];
    files.extend(layers.iter().map(|l| dir.join(l)));
    if mes.is_some() {
        files.push(dir.join(crate::mes::LAYER_FILE));
    }
    if observer.is_some() {
        files.push(dir.join(crate::observe::LAYER_FILE));
    }
    let rejected: u64 = crate::binding::Reject::ALL.iter().map(|&r| metrics.rejected(r)).sum();
    let summary = RunSummary {
        signals_bound,
        shops,
        samples_in: metrics.samples_in.load(Relaxed),
        samples_rejected: rejected,
        deltas: metrics.deltas_out.load(Relaxed),
        seconds: t0.elapsed().as_secs_f64(),
        stage_dir: dir,
        files,
        listen: Some(listen),
    };
    Ok((summary, rebind))
}
