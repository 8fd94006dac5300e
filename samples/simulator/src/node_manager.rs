//! The plant's node manager: async-opcua's in-memory address space with the plant's own Write and Call
//! handling. Only the setpoints are writable (their variables carry `CurrentWrite`); a write is checked
//! against the setpoint's type and range, stored, and handed to the model thread. `AcknowledgeFault`
//! calls go to the model thread and wait for its answer. Every write and call that reaches this
//! namespace is recorded in the [`WriteLog`], with the status it got.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use opcua::nodes::{NodeType, TypeTree};
use opcua::server::address_space::AddressSpace;
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::{
    InMemoryNodeManager, InMemoryNodeManagerImpl, InMemoryNodeManagerImplBuilder,
};
use opcua::server::node_manager::{MethodCall, ParsedWriteValue, RequestContext, ServerContext, WriteNode};
use opcua::sync::RwLock;
use opcua::types::{AttributeId, DataValue, DateTime, NodeClass, NodeId, StatusCode, Variant};

use crate::model::{Acknowledgement, Setpoint, SignalId, SimValue, WriteError};
use crate::server::to_variant;
use crate::write_log::{RecordKind, WriteLog, WriteRecord};

/// How long a method call waits for the model thread.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The plant namespace's node manager.
pub(crate) type PlantNodeManager = InMemoryNodeManager<PlantNodes>;

/// What the server hands to the model thread.
pub(crate) enum Command {
    /// Apply an accepted setpoint write (already checked and stored in the address space).
    Write { signal: SignalId, value: SimValue },
    /// Acknowledge an assembly station's fault; the answer goes back on `reply`.
    Acknowledge { station: usize, reply: tokio::sync::oneshot::Sender<Option<Acknowledgement>> },
}

/// Where writes and calls go, known once the plant is built.
pub(crate) struct Routes {
    /// Writable variables by node id.
    pub setpoints: HashMap<NodeId, Setpoint>,
    /// `AcknowledgeFault` methods by node id: the assembly station each acknowledges.
    pub methods: HashMap<NodeId, usize>,
    /// The model thread's command queue.
    pub commands: mpsc::Sender<Command>,
}

/// Shared between the node manager and the simulator handle.
pub(crate) struct Control {
    pub routes: OnceLock<Routes>,
    pub log: WriteLog,
}

/// Builds [`PlantNodes`] when the server is built (registers the namespace).
pub(crate) struct PlantNodesBuilder {
    pub namespace_uri: String,
    pub control: Arc<Control>,
}

impl InMemoryNodeManagerImplBuilder for PlantNodesBuilder {
    type Impl = PlantNodes;

    fn build(self, context: ServerContext, address_space: &mut AddressSpace) -> PlantNodes {
        let namespace_index = context.type_tree.write().namespaces_mut().add_namespace(&self.namespace_uri);
        address_space.add_namespace(&self.namespace_uri, namespace_index);
        let namespace = NamespaceMetadata { namespace_uri: self.namespace_uri, namespace_index, ..Default::default() };
        PlantNodes { namespace, control: self.control }
    }
}

/// The Write and Call handling of the plant namespace (reads, browses and subscriptions are
/// async-opcua's in-memory defaults).
pub(crate) struct PlantNodes {
    namespace: NamespaceMetadata,
    control: Arc<Control>,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// The trait is declared with `#[async_trait]`; these are the signatures that macro generates, written
// out so the simulator needs no extra crate.
impl InMemoryNodeManagerImpl for PlantNodes {
    fn init<'life0, 'life1, 'async_trait>(
        &'life0 self,
        _address_space: &'life1 mut AddressSpace,
        _context: ServerContext,
    ) -> BoxFuture<'async_trait, ()>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async {})
    }

    fn name(&self) -> &str {
        "plant"
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    fn write<'life0, 'life1, 'life2, 'life3, 'life4, 'async_trait>(
        &'life0 self,
        context: &'life1 RequestContext,
        address_space: &'life2 RwLock<AddressSpace>,
        nodes_to_write: &'life3 mut [&'life4 mut WriteNode],
    ) -> BoxFuture<'async_trait, Result<(), StatusCode>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        'life4: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let mut space = address_space.write();
            let type_tree = context.type_tree.read();
            for node in nodes_to_write.iter_mut() {
                let status = self.write_one(context, &mut space, &*type_tree, node.value());
                node.set_status(status);
                let w = node.value();
                self.control.log.record(WriteRecord {
                    time: DateTime::now(),
                    kind: RecordKind::Write,
                    node_id: w.node_id.to_string(),
                    attribute: w.attribute_id,
                    value: w.value.value.clone().unwrap_or_default(),
                    arguments: Vec::new(),
                    outputs: Vec::new(),
                    status,
                });
            }
            Ok(())
        })
    }

    fn call<'life0, 'life1, 'life2, 'life3, 'life4, 'life5, 'async_trait>(
        &'life0 self,
        _context: &'life1 RequestContext,
        _address_space: &'life2 RwLock<AddressSpace>,
        methods_to_call: &'life3 mut [&'life4 mut &'life5 mut MethodCall],
    ) -> BoxFuture<'async_trait, Result<(), StatusCode>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        'life3: 'async_trait,
        'life4: 'async_trait,
        'life5: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            for method in methods_to_call.iter_mut() {
                let (status, outputs) = self.call_one(method.method_id()).await;
                method.set_status(status);
                if status.is_good() {
                    method.set_outputs(outputs.clone());
                }
                self.control.log.record(WriteRecord {
                    time: DateTime::now(),
                    kind: RecordKind::Call,
                    node_id: method.method_id().to_string(),
                    attribute: AttributeId::Value,
                    value: Variant::Empty,
                    arguments: method.arguments().to_vec(),
                    outputs,
                    status,
                });
            }
            Ok(())
        })
    }
}

impl PlantNodes {
    /// Checks and applies one write; returns the status to answer.
    fn write_one(
        &self,
        context: &RequestContext,
        space: &mut AddressSpace,
        type_tree: &dyn TypeTree,
        w: &ParsedWriteValue,
    ) -> StatusCode {
        // Unknown node, no write access (BadUserAccessDenied for a read-only variable's value, BadNotWritable
        // for other attributes), or a value whose OPC UA type is not the variable's (BadTypeMismatch).
        let node = match space.validate_node_write(context, w, type_tree) {
            Ok(node) => node,
            Err(status) => return status,
        };
        if node.node_class() != NodeClass::Variable || w.attribute_id != AttributeId::Value {
            return StatusCode::BadNotWritable;
        }
        let Some(routes) = self.control.routes.get() else {
            return StatusCode::BadNotWritable;
        };
        let Some(setpoint) = routes.setpoints.get(&w.node_id) else {
            return StatusCode::BadNotWritable;
        };
        if w.index_range.has_range() {
            return StatusCode::BadWriteNotSupported;
        }
        let Some(value) = w.value.value.as_ref().and_then(from_variant) else {
            return StatusCode::BadTypeMismatch;
        };
        if let Err(e) = setpoint.check(&value) {
            return match e {
                WriteError::NotWritable => StatusCode::BadNotWritable,
                WriteError::TypeMismatch => StatusCode::BadTypeMismatch,
                WriteError::OutOfRange => StatusCode::BadOutOfRange,
            };
        }
        let variant = to_variant(&value);
        if routes.commands.send(Command::Write { signal: setpoint.signal, value }).is_err() {
            return StatusCode::BadShutdown;
        }
        // Stored now, so a read right after the write answers the new value.
        let now = DateTime::now();
        let dv = DataValue {
            value: Some(variant),
            status: Some(StatusCode::Good),
            source_timestamp: Some(now),
            server_timestamp: Some(now),
            ..Default::default()
        };
        if let NodeType::Variable(v) = node {
            v.set_data_value(dv.clone());
        }
        context.subscriptions.notify_data_change([(dv, &w.node_id, AttributeId::Value)].into_iter());
        StatusCode::Good
    }

    /// Runs one method call on the model thread; returns the status and the output arguments.
    async fn call_one(&self, method_id: &NodeId) -> (StatusCode, Vec<Variant>) {
        let Some(routes) = self.control.routes.get() else {
            return (StatusCode::BadMethodInvalid, Vec::new());
        };
        let Some(&station) = routes.methods.get(method_id) else {
            return (StatusCode::BadMethodInvalid, Vec::new());
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        if routes.commands.send(Command::Acknowledge { station, reply }).is_err() {
            return (StatusCode::BadShutdown, Vec::new());
        }
        match tokio::time::timeout(CALL_TIMEOUT, answer).await {
            Ok(Ok(Some(ack))) => {
                (StatusCode::Good, vec![Variant::Boolean(ack.acknowledged()), Variant::Int32(ack.fault_code)])
            }
            Ok(Ok(None)) => (StatusCode::BadMethodInvalid, Vec::new()),
            Ok(Err(_)) => (StatusCode::BadShutdown, Vec::new()),
            Err(_) => (StatusCode::BadTimeout, Vec::new()),
        }
    }
}

/// The model value of an OPC UA value of a type the plant serves (`None` for any other type).
fn from_variant(v: &Variant) -> Option<SimValue> {
    Some(match v {
        Variant::Boolean(b) => SimValue::Bool(*b),
        Variant::Int32(i) => SimValue::Int(*i),
        Variant::Int64(i) => SimValue::Long(*i),
        Variant::Double(x) => SimValue::Double(*x),
        Variant::String(s) => SimValue::Text(s.as_ref().to_owned()),
        _ => return None,
    })
}
