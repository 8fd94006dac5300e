//! Subscribing: checks the requested nodes (known? a scalar variable of a convertible type?), creates
//! subscriptions and monitored items in chunks, and turns each publish response into one
//! `Vec<Sample>` batch on the consumer's bounded channel.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use opcua::client::{MonitoredItemMap, OnSubscriptionNotificationCore};
use opcua::types::{
    AttributeId, DataChangeFilter, DataChangeNotification, DataChangeTrigger, DataTypeId, DeadbandType,
    ExtensionObject, MonitoredItemCreateRequest, MonitoringMode, MonitoringParameters, NodeClass, NodeId,
    NotificationMessage, QualifiedName, ReadValueId, StatusChangeNotification, StatusCode, TimestampsToReturn, Variant,
};
use tokio::sync::mpsc;

use super::convert::{data_type_name, data_type_supported, sample_of};
use super::{OpcUaSource, SourceError};
use crate::sample::SampleBatch;
use crate::source::{ErrorReason, SourceCounters};

/// Nodes checked per Read request (three attributes each).
const CHECK_CHUNK: usize = 300;

/// A node to monitor and the signal handle its samples carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredNode {
    pub signal: u32,
    /// `ns=2;s=…`, `ns=2;i=…` or `nsu=URI;s=…`.
    pub node_id: String,
}

impl MonitoredNode {
    pub fn new(signal: u32, node_id: impl Into<String>) -> Self {
        MonitoredNode { signal, node_id: node_id.into() }
    }
}

/// A node that was not subscribed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedNode {
    pub signal: u32,
    pub node_id: String,
    pub reason: ErrorReason,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for RejectedNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OPC UA node {} (signal {}): {} [{}]", self.node_id, self.signal, self.message, self.reason)
    }
}

/// The outcome of [`OpcUaSource::subscribe`].
#[derive(Debug, Clone, Default)]
pub struct SubscribeReport {
    /// Monitored items created.
    pub subscribed: usize,
    /// Nodes refused, each named with its reason (also counted in the source's counters).
    pub rejected: Vec<RejectedNode>,
    /// Server subscription ids used.
    pub subscription_ids: Vec<u32>,
}

/// A node that passed the checks.
struct Accepted {
    signal: u32,
    text: String,
    id: NodeId,
    numeric: bool,
}

pub(super) async fn subscribe(
    src: &OpcUaSource,
    nodes: &[MonitoredNode],
    tx: mpsc::Sender<SampleBatch>,
) -> Result<SubscribeReport, SourceError> {
    let counters = src.counters();
    let mut report = SubscribeReport::default();
    let reject = |n: &MonitoredNode, reason: ErrorReason, message: String, report: &mut SubscribeReport| {
        counters.count_error(reason);
        let r = RejectedNode { signal: n.signal, node_id: n.node_id.clone(), reason, message };
        tracing::warn!("{r}");
        report.rejected.push(r);
    };

    let mut parsed = Vec::with_capacity(nodes.len());
    for n in nodes {
        match src.resolve_node_id(&n.node_id).await {
            Ok(id) => parsed.push((n, id)),
            Err(e) => reject(n, ErrorReason::InvalidNodeId, e.to_string(), &mut report),
        }
    }
    let mut accepted = Vec::with_capacity(parsed.len());
    for chunk in parsed.chunks(CHECK_CHUNK) {
        let reads: Vec<ReadValueId> = chunk
            .iter()
            .flat_map(|(_, id)| {
                [AttributeId::NodeClass, AttributeId::DataType, AttributeId::ValueRank].map(|a| ReadValueId {
                    node_id: id.clone(),
                    attribute_id: a as u32,
                    index_range: Default::default(),
                    data_encoding: QualifiedName::null(),
                })
            })
            .collect();
        let vals =
            src.session().read(&reads, TimestampsToReturn::Neither, 0.0).await.map_err(|e| SourceError::Subscribe {
                endpoint: src.endpoint().to_owned(),
                reason: format!("reading node attributes: {e}"),
            })?;
        for ((n, id), v) in chunk.iter().zip(vals.chunks(3)) {
            let class_status = v[0].status();
            if !class_status.is_good() {
                let reason = if class_status == StatusCode::BadNodeIdUnknown {
                    ErrorReason::UnknownNode
                } else {
                    ErrorReason::SubscribeFailed
                };
                reject(n, reason, format!("the server does not know this node ({class_status})"), &mut report);
                continue;
            }
            let class = match &v[0].value {
                Some(Variant::Int32(c)) => NodeClass::try_from(*c).unwrap_or(NodeClass::Unspecified),
                _ => NodeClass::Unspecified,
            };
            if class != NodeClass::Variable {
                reject(n, ErrorReason::WrongType, format!("is a {class:?} node, not a variable"), &mut report);
                continue;
            }
            let data_type = match &v[1].value {
                Some(Variant::NodeId(t)) => (**t).clone(),
                _ => NodeId::null(),
            };
            if !data_type_supported(&data_type) {
                let name = data_type_name(&data_type);
                reject(
                    n,
                    ErrorReason::WrongType,
                    format!("has data type {name}, which no twin attribute takes"),
                    &mut report,
                );
                continue;
            }
            if let Some(Variant::Int32(rank)) = v[2].value {
                if rank >= 0 {
                    reject(
                        n,
                        ErrorReason::WrongType,
                        format!("is an array (value rank {rank}); bind scalars"),
                        &mut report,
                    );
                    continue;
                }
            }
            accepted.push(Accepted {
                signal: n.signal,
                text: n.node_id.clone(),
                id: id.clone(),
                numeric: is_numeric(&data_type),
            });
        }
    }

    for group in accepted.chunks(src.config().max_items_per_subscription) {
        create_group(src, group, &tx, &counters, &mut report, &mut reject_created(&counters)).await?;
    }
    Ok(report)
}

/// A rejection sink for items the server refuses at creation.
fn reject_created(counters: &Arc<SourceCounters>) -> impl FnMut(&Accepted, StatusCode, &mut SubscribeReport) + '_ {
    move |a, status, report| {
        let reason = match status {
            StatusCode::BadNodeIdUnknown | StatusCode::BadNodeIdInvalid => ErrorReason::UnknownNode,
            StatusCode::BadAttributeIdInvalid | StatusCode::BadFilterNotAllowed | StatusCode::BadTypeMismatch => {
                ErrorReason::WrongType
            }
            _ => ErrorReason::SubscribeFailed,
        };
        counters.count_error(reason);
        let r = RejectedNode {
            signal: a.signal,
            node_id: a.text.clone(),
            reason,
            message: format!("the server refused the monitored item ({status})"),
        };
        tracing::warn!("{r}");
        report.rejected.push(r);
    }
}

async fn create_group(
    src: &OpcUaSource,
    group: &[Accepted],
    tx: &mpsc::Sender<SampleBatch>,
    counters: &Arc<SourceCounters>,
    report: &mut SubscribeReport,
    reject: &mut impl FnMut(&Accepted, StatusCode, &mut SubscribeReport),
) -> Result<(), SourceError> {
    let cfg = src.config();
    let fail = |what: &str, e: String| SourceError::Subscribe {
        endpoint: cfg.endpoint.clone(),
        reason: format!("{what}: {e}"),
    };
    let deliver = Deliver {
        signals: group.iter().map(|a| a.signal).collect(),
        tx: tx.clone(),
        counters: counters.clone(),
        warned: HashSet::new(),
        multi_thread: matches!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        ),
    };
    let keep_alive = 20;
    let sub_id = src
        .session()
        .create_subscription(cfg.publishing_interval, keep_alive * 30, keep_alive, 0, 0, true, deliver)
        .await
        .map_err(|e| fail("creating a subscription", e.to_string()))?;
    report.subscription_ids.push(sub_id);
    for (c, chunk) in group.chunks(cfg.max_items_per_call).enumerate() {
        let base = c * cfg.max_items_per_call;
        let requests: Vec<MonitoredItemCreateRequest> = chunk
            .iter()
            .enumerate()
            .map(|(k, a)| MonitoredItemCreateRequest {
                item_to_monitor: ReadValueId {
                    node_id: a.id.clone(),
                    attribute_id: AttributeId::Value as u32,
                    index_range: Default::default(),
                    data_encoding: QualifiedName::null(),
                },
                monitoring_mode: MonitoringMode::Reporting,
                requested_parameters: MonitoringParameters {
                    // Handles start at 1: async-opcua replaces 0 with its own.
                    client_handle: (base + k + 1) as u32,
                    sampling_interval: cfg.sampling_interval.as_secs_f64() * 1000.0,
                    filter: match cfg.deadband {
                        Some(d) if a.numeric => ExtensionObject::from_message(DataChangeFilter {
                            trigger: DataChangeTrigger::StatusValue,
                            deadband_type: DeadbandType::Absolute as u32,
                            deadband_value: d,
                        }),
                        _ => ExtensionObject::null(),
                    },
                    queue_size: cfg.queue_size,
                    discard_oldest: true,
                },
            })
            .collect();
        let created = src
            .session()
            .create_monitored_items(sub_id, TimestampsToReturn::Both, requests)
            .await
            .map_err(|e| fail("creating monitored items", e.to_string()))?;
        for (a, item) in chunk.iter().zip(created) {
            let status = item.result.status_code;
            if status.is_good() {
                report.subscribed += 1;
            } else {
                reject(a, status, report);
            }
        }
    }
    Ok(())
}

fn is_numeric(t: &NodeId) -> bool {
    use DataTypeId as D;
    t.namespace == 0
        && [D::SByte, D::Byte, D::Int16, D::UInt16, D::Int32, D::UInt32, D::Int64, D::UInt64, D::Float, D::Double]
            .iter()
            .any(|d| t.as_u32() == Some(*d as u32))
}

/// The subscription callback: one publish response → one batch.
struct Deliver {
    /// Client handle `h` is entry `h - 1`: the signal (the node id, needed only in warnings, is the
    /// client's own monitored-item record).
    signals: Vec<u32>,
    tx: mpsc::Sender<SampleBatch>,
    counters: Arc<SourceCounters>,
    /// Signals already reported for a wrong-typed value (reported once each, counted always).
    warned: HashSet<u32>,
    multi_thread: bool,
}

impl Deliver {
    fn send(&mut self, batch: SampleBatch) {
        let n = batch.len() as u64;
        let result = match self.tx.try_send(batch) {
            Ok(()) => Ok(()),
            // Backpressure: stall this session's event loop (and so the server's publishing) until the
            // consumer catches up; the server's queues absorb the wait.
            Err(mpsc::error::TrySendError::Full(batch)) if self.multi_thread => {
                tokio::task::block_in_place(|| self.tx.blocking_send(batch)).map_err(|_| ())
            }
            Err(_) => Err(()),
        };
        match result {
            Ok(()) => {
                self.counters.samples_in.fetch_add(n, Ordering::Relaxed);
                self.counters.batches_in.fetch_add(1, Ordering::Relaxed);
            }
            Err(()) => self.counters.count_errors(ErrorReason::Dropped, n),
        }
    }
}

impl OnSubscriptionNotificationCore for Deliver {
    fn on_subscription_notification(&mut self, notification: NotificationMessage, items: MonitoredItemMap<'_>) {
        let mut batch = Vec::new();
        for obj in notification.notification_data.into_iter().flatten() {
            if let Some(change) = obj.inner_as::<DataChangeNotification>() {
                batch.reserve(change.monitored_items.as_ref().map_or(0, |m| m.len()));
                for item in change.monitored_items.iter().flatten() {
                    let Some(&signal) = (item.client_handle as usize).checked_sub(1).and_then(|i| self.signals.get(i))
                    else {
                        continue;
                    };
                    match sample_of(signal, &item.value) {
                        Ok(s) => batch.push(s),
                        Err(e) => {
                            self.counters.count_error(ErrorReason::WrongType);
                            if self.warned.insert(signal) {
                                let node = items
                                    .get(item.client_handle)
                                    .map(|m| m.item_to_monitor().node_id.to_string())
                                    .unwrap_or_default();
                                tracing::warn!(node = %node, signal, "OPC UA node sent a {} value, which no twin attribute takes; skipped", e.0);
                            }
                        }
                    }
                }
            } else if let Some(status) = obj.inner_as::<StatusChangeNotification>() {
                tracing::warn!(status = %status.status, "OPC UA subscription status changed");
            }
        }
        if !batch.is_empty() {
            self.send(batch);
        }
    }
}
