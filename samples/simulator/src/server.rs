//! The OPC UA server: builds the address space from the plant model (folders along each browse path,
//! one variable per signal, string node ids equal to the path; the setpoints writable, an
//! `AcknowledgeFault` method on each assembly station) and runs the model on its own thread, pushing
//! each tick's changes to the server in bulk and applying the commands clients send between ticks.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opcua::crypto::SecurityPolicy;
use opcua::nodes::{MethodBuilder, ObjectBuilder, VariableBuilder};
use opcua::server::address_space::AddressSpace;
use opcua::server::node_manager::memory::InMemoryNodeManagerBuilder;
use opcua::server::{
    ServerBuilder, ServerEndpoint, ServerHandle, ServerUserToken, SubscriptionCache, ANONYMOUS_USER_TOKEN_ID,
};
use opcua::types::{
    Argument, DataTypeId, DataValue, DateTime, MessageSecurityMode, NodeId, ObjectId, QualifiedName, StatusCode,
    VariableTypeId, Variant,
};
use tokio::net::TcpListener;

use crate::config::{SimConfig, NAMESPACE_URI};
use crate::model::{PlantModel, SignalId, SignalInfo, SimValue, ValueType};
use crate::node_manager::{Command, Control, PlantNodeManager, PlantNodesBuilder, Routes};
use crate::write_log::{WriteLog, WriteRecord};
use crate::SimError;

/// Changes pushed to the server per call (bounds how long the address space lock is held).
const PUSH_CHUNK: usize = 20_000;

/// Counters of a running simulator.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Model ticks done.
    pub ticks: AtomicU64,
    /// Value changes pushed to the server.
    pub changes: AtomicU64,
    /// Ticks that started late by more than one period (the model could not keep up).
    pub late_ticks: AtomicU64,
}

/// The browse path of assembly station `station`'s (0 = `Station01`) `AcknowledgeFault` method; its node
/// id is `ns=<i>;s=<path>` like every plant node's.
pub fn acknowledge_fault_path(station: usize) -> String {
    format!("Plant/Assembly/Station{:02}/AcknowledgeFault", station + 1)
}

/// Starts simulators; see [`Simulator::start`].
pub struct Simulator;

impl Simulator {
    /// Builds the plant, binds the port and starts serving. Must be called inside a tokio runtime.
    pub async fn start(config: SimConfig) -> Result<SimulatorHandle, SimError> {
        config.validate()?;
        let log = match config.write_log.as_deref() {
            Some(path) => WriteLog::to_file(path)
                .map_err(|e| SimError::Config(format!("cannot create the write log {}: {e}", path.display())))?,
            None => WriteLog::in_memory(),
        };
        let control = Arc::new(Control { routes: OnceLock::new(), log });

        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .map_err(|e| SimError::Bind { addr: format!("{}:{}", config.host, config.port), source: e })?;
        let port = listener.local_addr().map_err(|e| SimError::Bind { addr: config.host.clone(), source: e })?.port();
        let endpoint_url = format!("opc.tcp://{}:{}/", config.host, port);

        let (server, handle) = builder(&config, port, control.clone())?.build().map_err(SimError::Server)?;
        let manager = handle
            .node_managers()
            .get_of_type::<PlantNodeManager>()
            .ok_or_else(|| SimError::Server("the plant node manager is missing".into()))?;
        let ns = handle
            .get_namespace_index(NAMESPACE_URI)
            .ok_or_else(|| SimError::Server(format!("namespace {NAMESPACE_URI} is not registered")))?;
        // Building a large plant and its address space takes seconds: keep it off the async workers.
        let model_config = config.model_config();
        let nm = manager.clone();
        let (model, infos) = tokio::task::spawn_blocking(move || {
            let model = PlantModel::new(&model_config);
            let infos: Arc<Vec<SignalInfo>> = Arc::new(model.infos().to_vec());
            let writable: HashSet<SignalId> = model.setpoints().iter().map(|s| s.signal).collect();
            let mut space = nm.address_space().write();
            populate(&mut space, ns, &infos, model.values(), &writable);
            add_methods(&mut space, ns, model.assembly_stations());
            drop(space);
            (model, infos)
        })
        .await
        .map_err(|e| SimError::Server(format!("building the address space failed: {e}")))?;

        let (commands, inbox) = mpsc::channel();
        let routes = Routes {
            setpoints: model
                .setpoints()
                .iter()
                .map(|s| (NodeId::new(ns, infos[s.signal as usize].path.clone()), s.clone()))
                .collect(),
            methods: (0..model.assembly_stations()).map(|s| (NodeId::new(ns, acknowledge_fault_path(s)), s)).collect(),
            commands,
        };
        let _ = control.routes.set(routes);
        // The Modbus TCP side, when asked for: the same values as float registers.
        let (modbus_port, modbus_task, image) = match config.modbus_port {
            None => (None, None, None),
            Some(p) => {
                let listener = TcpListener::bind((config.host.as_str(), p))
                    .await
                    .map_err(|e| SimError::Bind { addr: format!("{}:{p} (Modbus)", config.host), source: e })?;
                let port =
                    listener.local_addr().map_err(|e| SimError::Bind { addr: config.host.clone(), source: e })?.port();
                let image = Arc::new(crate::modbus::RegisterImage::new(model.values()));
                let task = tokio::spawn(crate::modbus::serve(listener, image.clone()));
                (Some(port), Some(task), Some(image))
            }
        };
        // The Sparkplug B edge nodes, when asked for: the condition and energy signals over MQTT.
        let edge_nodes = config.mqtt_broker.map(|b| crate::sparkplug::EdgeNodes::start(b, &infos, model.values()));
        // … and the MES messages of the assembly line's cars.
        let (mes, mes_task) = match config.mqtt_broker {
            Some(b) => {
                let (reporter, task) = crate::mes::start(b, &infos);
                (Some(reporter), Some(task))
            }
            None => (None, None),
        };
        let server_task = tokio::spawn(server.run_with(listener));
        let stop = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SimStats::default());
        let runner = ModelRunner {
            model,
            node_ids: infos.iter().map(|i| NodeId::new(ns, i.path.clone())).collect(),
            manager,
            subscriptions: handle.subscriptions().clone(),
            period: config.tick_period(),
            max_ticks: config.max_ticks,
            stop: stop.clone(),
            paused: paused.clone(),
            stats: stats.clone(),
            inbox,
            image,
            edges: edge_nodes.as_ref().map(|e| e.feed.clone()),
            mes,
        };
        let model_thread = std::thread::Builder::new()
            .name("plant-sim-model".into())
            .spawn(move || runner.run())
            .map_err(|e| SimError::Server(format!("cannot start the model thread: {e}")))?;
        tracing::info!(endpoint = %endpoint_url, signals = infos.len(), "plant simulator serving");
        Ok(SimulatorHandle {
            endpoint_url,
            port,
            namespace_index: ns,
            infos,
            stats,
            control,
            stop,
            paused,
            model_thread: Some(model_thread),
            server: handle,
            server_task,
            modbus_port,
            modbus_task,
            edge_nodes,
            mes_task,
        })
    }
}

fn builder(config: &SimConfig, port: u16, control: Arc<Control>) -> Result<ServerBuilder, SimError> {
    let mut user_ids = vec![ANONYMOUS_USER_TOKEN_ID.to_string()];
    let pki = config.pki_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("twinloom-plant-sim-pki"));
    let mut b = ServerBuilder::new()
        .application_name("Twinloom plant simulator")
        .application_uri("urn:twinloom:plant-sim:server")
        .product_uri("urn:twinloom:plant-sim")
        .host(config.host.clone())
        .port(port)
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_client_certs(true)
        .discovery_urls(vec![format!("opc.tcp://{}:{}/", config.host, port)])
        .subscription_poll_interval_ms(10)
        .max_message_size(64 * 1024 * 1024)
        .max_chunk_count(4096)
        .max_array_length(10_000_000)
        .with_node_manager(InMemoryNodeManagerBuilder::new(PlantNodesBuilder {
            namespace_uri: NAMESPACE_URI.to_owned(),
            control,
        }));
    for (i, (user, pass)) in config.users.iter().enumerate() {
        let id = format!("user{i}");
        b = b.add_user_token(&id, ServerUserToken::user_pass(user.as_str(), pass.as_str()));
        user_ids.push(id);
    }
    for (i, cert) in config.user_certs.iter().enumerate() {
        let id = format!("cert{i}");
        b = b.add_user_token(&id, ServerUserToken::x509(id.as_str(), cert));
        user_ids.push(id);
    }
    b = b.add_endpoint("none", ServerEndpoint::new_none("/", &user_ids));
    if config.secure_endpoints {
        b = b
            .add_endpoint(
                "basic256sha256_sign",
                ServerEndpoint::new("/", SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign, &user_ids),
            )
            .add_endpoint(
                "basic256sha256_sign_encrypt",
                ServerEndpoint::new(
                    "/",
                    SecurityPolicy::Basic256Sha256,
                    MessageSecurityMode::SignAndEncrypt,
                    &user_ids,
                ),
            );
    }
    let limits = b.limits_mut();
    limits.subscriptions.min_sampling_interval_ms = 0.0;
    limits.subscriptions.min_publishing_interval_ms = 10.0;
    limits.subscriptions.max_monitored_items_per_sub = 0;
    limits.subscriptions.max_queued_notifications = 1000;
    limits.subscriptions.max_monitored_item_queue_size = 1000;
    limits.operational.max_monitored_items_per_call = 100_000;
    limits.operational.max_nodes_per_read = 100_000;
    limits.operational.max_nodes_per_browse = 10_000;
    limits.operational.max_references_per_browse_node = 10_000;
    Ok(b)
}

/// Adds a folder per path prefix and a variable per signal (writable: `CurrentWrite` in its access and
/// user access levels). Node ids are the browse paths.
fn populate(
    space: &mut AddressSpace,
    ns: u16,
    infos: &[SignalInfo],
    values: &[SimValue],
    writable: &HashSet<SignalId>,
) {
    let mut folders: HashSet<&str> = HashSet::new();
    for (id, (info, value)) in infos.iter().zip(values).enumerate() {
        let path = info.path.as_str();
        // Make sure every ancestor folder exists, outermost first.
        for (pos, _) in path.match_indices('/') {
            let folder = &path[..pos];
            if folders.insert(folder) {
                let parent = match folder.rfind('/') {
                    Some(p) => NodeId::new(ns, &folder[..p]),
                    None => ObjectId::ObjectsFolder.into(),
                };
                let name = &folder[folder.rfind('/').map_or(0, |p| p + 1)..];
                ObjectBuilder::new(&NodeId::new(ns, folder), QualifiedName::new(ns, name), name)
                    .is_folder()
                    .organized_by(parent)
                    .insert(space);
            }
        }
        let (parent, name) = match path.rfind('/') {
            Some(p) => (NodeId::new(ns, &path[..p]), &path[p + 1..]),
            None => (ObjectId::ObjectsFolder.into(), path),
        };
        let mut v = VariableBuilder::new(&NodeId::new(ns, path), QualifiedName::new(ns, name), name)
            .data_type(data_type(info.value_type))
            .value(to_variant(value))
            .has_type_definition(VariableTypeId::BaseDataVariableType)
            .organized_by(parent);
        if !info.unit.is_empty() {
            v = v.description(info.unit);
        }
        if writable.contains(&(id as SignalId)) {
            v = v.writable();
        }
        v.insert(space);
    }
}

/// Adds `AcknowledgeFault` (no inputs; outputs `Acknowledged` Boolean and `FaultCode` Int32) to each
/// assembly station.
fn add_methods(space: &mut AddressSpace, ns: u16, stations: usize) {
    let arg = |name: &str, data_type: DataTypeId, description: &str| Argument {
        name: name.into(),
        data_type: data_type.into(),
        value_rank: -1,
        array_dimensions: None,
        description: description.into(),
    };
    let outputs = [
        arg("Acknowledged", DataTypeId::Boolean, "a fault or andon was active and is now cleared"),
        arg("FaultCode", DataTypeId::Int32, "the fault code cleared (0: none)"),
    ];
    for s in 0..stations {
        let path = acknowledge_fault_path(s);
        let station = &path[..path.rfind('/').unwrap_or(0)];
        MethodBuilder::new(
            &NodeId::new(ns, path.as_str()),
            QualifiedName::new(ns, "AcknowledgeFault"),
            "AcknowledgeFault",
        )
        .description("clears the station's fault and andon")
        .component_of(NodeId::new(ns, station))
        .executable(true)
        .user_executable(true)
        .output_args(space, &NodeId::new(ns, format!("{path}/OutputArguments")), &outputs)
        .insert(space);
    }
}

fn data_type(t: ValueType) -> DataTypeId {
    match t {
        ValueType::Boolean => DataTypeId::Boolean,
        ValueType::Int32 => DataTypeId::Int32,
        ValueType::Int64 => DataTypeId::Int64,
        ValueType::Double => DataTypeId::Double,
        ValueType::String => DataTypeId::String,
    }
}

/// The OPC UA variant a model value is served as.
pub fn to_variant(v: &SimValue) -> Variant {
    match v {
        SimValue::Bool(b) => Variant::Boolean(*b),
        SimValue::Int(i) => Variant::Int32(*i),
        SimValue::Long(i) => Variant::Int64(*i),
        SimValue::Double(x) => Variant::Double(*x),
        SimValue::Text(s) => Variant::from(s.as_str()),
    }
}

/// Owns the model on its thread, pushes each tick's changes and applies the clients' commands.
struct ModelRunner {
    model: PlantModel,
    node_ids: Vec<NodeId>,
    manager: Arc<PlantNodeManager>,
    subscriptions: Arc<SubscriptionCache>,
    period: Duration,
    max_ticks: Option<u64>,
    stop: Arc<AtomicBool>,
    /// While set, the plant does not change (commands still act); ticks start again from the resume.
    paused: Arc<AtomicBool>,
    stats: Arc<SimStats>,
    inbox: mpsc::Receiver<Command>,
    /// The Modbus registers, when the Modbus server runs.
    image: Option<Arc<crate::modbus::RegisterImage>>,
    /// The Sparkplug edge nodes' inboxes, when they run.
    edges: Option<Arc<crate::sparkplug::EdgeFeed>>,
    /// The MES reporter, when MES messages are published.
    mes: Option<crate::mes::MesReporter>,
}

impl ModelRunner {
    fn run(mut self) {
        let mut next = Instant::now() + self.period;
        let mut batch: Vec<(usize, DataValue)> = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            // Commands act between ticks, as soon as they arrive (also while the plant is frozen).
            while let Ok(command) = self.inbox.try_recv() {
                self.apply(command, &mut batch);
            }
            let now = Instant::now();
            if self.paused.load(Ordering::Relaxed) {
                next = now + self.period;
            }
            if next > now {
                match self.inbox.recv_timeout((next - now).min(Duration::from_millis(50))) {
                    Ok(command) => self.apply(command, &mut batch),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)))
                    }
                }
                continue;
            }
            if now > next + self.period {
                self.stats.late_ticks.fetch_add(1, Ordering::Relaxed);
                next = now;
            }
            next += self.period;
            if self.max_ticks.is_some_and(|m| self.model.tick() >= m) {
                continue;
            }
            self.model.step();
            self.push(&mut batch, None);
            if let Some(mes) = &mut self.mes {
                mes.changed(self.model.changed(), self.model.values());
            }
            self.stats.ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Applies a command to the model and pushes what it changed.
    fn apply(&mut self, command: Command, batch: &mut Vec<(usize, DataValue)>) {
        match command {
            Command::Write { signal, value } => {
                if let Err(e) = self.model.write(signal, &value) {
                    // The server checked the write already; the model agrees, so this does not happen.
                    tracing::error!(error = %e, signal, "the model refused a checked write");
                }
                // The server stored the setpoint itself when it accepted the write.
                self.push(batch, Some(signal));
            }
            Command::Acknowledge { station, reply } => {
                let ack = self.model.acknowledge_fault(station);
                self.push(batch, None);
                let _ = reply.send(ack);
            }
        }
    }

    /// Pushes the model's changed signals (except `skip`) to the server.
    fn push(&self, batch: &mut Vec<(usize, DataValue)>, skip: Option<SignalId>) {
        let stamp = DateTime::now();
        let (changed, values) = (self.model.changed(), self.model.values());
        batch.clear();
        batch.extend(changed.iter().filter(|&&id| Some(id) != skip).map(|&id| {
            let dv = DataValue {
                value: Some(to_variant(&values[id as usize])),
                status: Some(StatusCode::Good),
                source_timestamp: Some(stamp),
                server_timestamp: Some(stamp),
                ..Default::default()
            };
            (id as usize, dv)
        }));
        if let Some(image) = &self.image {
            for &id in changed {
                image.set(id as usize, &values[id as usize]);
            }
        }
        if let Some(edges) = &self.edges {
            edges.changed(changed, values);
        }
        for chunk in batch.chunks(PUSH_CHUNK) {
            let items = chunk.iter().map(|(id, dv)| (&self.node_ids[*id], None, dv.clone()));
            if let Err(e) = self.manager.set_values(&self.subscriptions, items) {
                tracing::error!(error = %e, "pushing values to the server failed");
            }
        }
        self.stats.changes.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// A running simulator. Dropping it stops the model thread and the server (prefer [`Self::shutdown`]).
pub struct SimulatorHandle {
    endpoint_url: String,
    port: u16,
    namespace_index: u16,
    infos: Arc<Vec<SignalInfo>>,
    stats: Arc<SimStats>,
    control: Arc<Control>,
    stop: Arc<AtomicBool>,
    paused: Arc<AtomicBool>,
    model_thread: Option<JoinHandle<()>>,
    server: ServerHandle,
    server_task: tokio::task::JoinHandle<Result<(), String>>,
    modbus_port: Option<u16>,
    modbus_task: Option<tokio::task::JoinHandle<()>>,
    edge_nodes: Option<crate::sparkplug::EdgeNodes>,
    mes_task: Option<tokio::task::JoinHandle<()>>,
}

impl SimulatorHandle {
    /// `opc.tcp://HOST:PORT/`.
    pub fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }

    /// The Modbus TCP port, when the Modbus server runs ([`SimConfig::modbus_port`]).
    pub fn modbus_port(&self) -> Option<u16> {
        self.modbus_port
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Namespace index of [`NAMESPACE_URI`] on this server.
    pub fn namespace_index(&self) -> u16 {
        self.namespace_index
    }

    /// Every signal, in [`crate::model::SignalId`] order.
    pub fn signals(&self) -> &[SignalInfo] {
        &self.infos
    }

    /// The node id string of a signal path on this server, e.g. `ns=2;s=Plant/BIW/Station01/R01/J1`.
    pub fn node_id(&self, path: &str) -> String {
        format!("ns={};s={}", self.namespace_index, path)
    }

    /// Holds the plant still (`true`: no value changes, while clients browse, read and subscribe) or lets
    /// it run again (`false`), e.g. so that a benchmark measures only once every client is up.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    /// Live counters.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }

    /// Every write and method call received in the plant namespace so far, accepted or refused, in the
    /// order they were answered (see [`WriteRecord`]).
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.control.log.snapshot()
    }

    /// Stops the model, closes the server and waits for both.
    pub async fn shutdown(mut self) {
        self.stop_all().await;
    }

    async fn stop_all(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(mut e) = self.edge_nodes.take() {
            e.stop();
        }
        if let Some(t) = self.mes_task.take() {
            t.abort();
        }
        if let Some(t) = self.modbus_task.take() {
            t.abort();
        }
        if let Some(t) = self.model_thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        self.server.cancel();
        if let Err(e) = (&mut self.server_task).await {
            tracing::warn!(error = %e, "server task ended abnormally");
        }
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.cancel();
        if let Some(t) = self.modbus_task.take() {
            t.abort();
        }
    }
}
