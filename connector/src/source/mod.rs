//! Sources: tasks that read a plant protocol and deliver [`crate::sample::Sample`] batches over a bounded
//! tokio mpsc channel, with counters the service renders in `/metrics`.

pub mod modbus;
pub mod mqtt;
pub mod opcua;
pub mod sparkplug;

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Why a source counted an error (a label value in `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// A configured node id is not known to the server.
    UnknownNode,
    /// A configured node id is not valid syntax.
    InvalidNodeId,
    /// The node exists but is not a scalar value of a supported type (an object, an array, a structure),
    /// or a received value had such a type.
    WrongType,
    /// The server refused a monitored item or subscription for another reason.
    SubscribeFailed,
    /// The connection to the server was lost.
    ConnectionLost,
    /// A reconnection attempt failed (it is retried with backoff).
    ReconnectFailed,
    /// A batch could not be delivered because the consumer's channel was closed or full.
    Dropped,
    /// Modbus exception 1: the server does not support the function.
    ModbusIllegalFunction,
    /// Modbus exception 2: an address of the read does not exist on the server.
    ModbusIllegalDataAddress,
    /// Modbus exception 3: the server refused a value of the request.
    ModbusIllegalDataValue,
    /// Modbus exception 4: the server failed while answering.
    ModbusServerDeviceFailure,
    /// Modbus exceptions 5 and 6: the server is busy (acknowledge, device busy).
    ModbusServerBusy,
    /// Modbus exceptions 10 and 11: a gateway found no path or no answer from the device behind it.
    ModbusGateway,
    /// Any other Modbus exception code.
    ModbusOtherException,
    /// A message payload could not be decoded (JSON syntax, protobuf).
    MalformedPayload,
    /// A bound field (JSON pointer) or timestamp is missing from a message.
    MissingField,
    /// A message arrived on a topic that is not valid for the protocol (Sparkplug namespace).
    BadTopic,
    /// Sparkplug: data from an edge node or device that has not been born (or died).
    DataBeforeBirth,
    /// Sparkplug: a sequence number was missing past the reorder timeout.
    SeqGap,
    /// Sparkplug: a metric alias (or name) that the birth did not declare.
    UnknownAlias,
    /// Sparkplug: a metric name that the birth did not declare.
    UnknownMetric,
    /// Sparkplug: an NDEATH whose bdSeq is not the current session's (ignored).
    StaleDeath,
    /// Sparkplug: an NBIRTH or NDEATH without its bdSeq metric.
    MissingBdSeq,
    /// A value of a type the twin does not map (Sparkplug datasets, templates, arrays).
    UnsupportedType,
    /// A value of a metric that no binding maps to the stage.
    Unbound,
}

impl ErrorReason {
    /// Every reason, in a fixed order.
    pub const ALL: [ErrorReason; 25] = [
        ErrorReason::UnknownNode,
        ErrorReason::InvalidNodeId,
        ErrorReason::WrongType,
        ErrorReason::SubscribeFailed,
        ErrorReason::ConnectionLost,
        ErrorReason::ReconnectFailed,
        ErrorReason::Dropped,
        ErrorReason::ModbusIllegalFunction,
        ErrorReason::ModbusIllegalDataAddress,
        ErrorReason::ModbusIllegalDataValue,
        ErrorReason::ModbusServerDeviceFailure,
        ErrorReason::ModbusServerBusy,
        ErrorReason::ModbusGateway,
        ErrorReason::ModbusOtherException,
        ErrorReason::MalformedPayload,
        ErrorReason::MissingField,
        ErrorReason::BadTopic,
        ErrorReason::DataBeforeBirth,
        ErrorReason::SeqGap,
        ErrorReason::UnknownAlias,
        ErrorReason::UnknownMetric,
        ErrorReason::StaleDeath,
        ErrorReason::MissingBdSeq,
        ErrorReason::UnsupportedType,
        ErrorReason::Unbound,
    ];

    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorReason::UnknownNode => "unknown_node",
            ErrorReason::InvalidNodeId => "invalid_node_id",
            ErrorReason::WrongType => "wrong_type",
            ErrorReason::SubscribeFailed => "subscribe_failed",
            ErrorReason::ConnectionLost => "connection_lost",
            ErrorReason::ReconnectFailed => "reconnect_failed",
            ErrorReason::Dropped => "dropped",
            ErrorReason::ModbusIllegalFunction => "modbus_illegal_function",
            ErrorReason::ModbusIllegalDataAddress => "modbus_illegal_data_address",
            ErrorReason::ModbusIllegalDataValue => "modbus_illegal_data_value",
            ErrorReason::ModbusServerDeviceFailure => "modbus_server_device_failure",
            ErrorReason::ModbusServerBusy => "modbus_server_busy",
            ErrorReason::ModbusGateway => "modbus_gateway",
            ErrorReason::ModbusOtherException => "modbus_other_exception",
            ErrorReason::MalformedPayload => "malformed_payload",
            ErrorReason::MissingField => "missing_field",
            ErrorReason::BadTopic => "bad_topic",
            ErrorReason::DataBeforeBirth => "data_before_birth",
            ErrorReason::SeqGap => "seq_gap",
            ErrorReason::UnknownAlias => "unknown_alias",
            ErrorReason::UnknownMetric => "unknown_metric",
            ErrorReason::StaleDeath => "stale_death",
            ErrorReason::MissingBdSeq => "missing_bd_seq",
            ErrorReason::UnsupportedType => "unsupported_type",
            ErrorReason::Unbound => "unbound",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for ErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Live counters of one source; cheap to update from any thread, read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Samples delivered to the channel.
    pub samples_in: AtomicU64,
    /// Batches delivered to the channel.
    pub batches_in: AtomicU64,
    /// Successful reconnections after a lost connection.
    pub reconnects: AtomicU64,
    /// Whether the source is connected now.
    pub connected: AtomicBool,
    /// Sparkplug: rebirth requests sent to edge nodes (after a sequence gap, an unknown alias, data
    /// before a birth).
    pub rebirth_requests: AtomicU64,
    /// Sparkplug: edge nodes and devices whose values are stale now (dead, or not heard of since the
    /// host's connection came back).
    pub stale: AtomicU64,
    /// Sparkplug: historical metric values (`is_historical`) delivered for history only.
    pub historical: AtomicU64,
    errors: [AtomicU64; ErrorReason::ALL.len()],
}

impl SourceCounters {
    /// Adds one error of this reason.
    pub fn count_error(&self, reason: ErrorReason) {
        self.count_errors(reason, 1);
    }

    /// Adds `n` errors of this reason.
    pub fn count_errors(&self, reason: ErrorReason, n: u64) {
        self.errors[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Errors of one reason so far.
    pub fn errors(&self, reason: ErrorReason) -> u64 {
        self.errors[reason.index()].load(Ordering::Relaxed)
    }

    /// Every reason with its count (zeros included, so metrics series exist from the start).
    pub fn errors_by_reason(&self) -> Vec<(ErrorReason, u64)> {
        ErrorReason::ALL.iter().map(|r| (*r, self.errors(*r))).collect()
    }

    pub fn samples_in(&self) -> u64 {
        self.samples_in.load(Ordering::Relaxed)
    }

    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_counted_per_reason() {
        let c = SourceCounters::default();
        c.count_error(ErrorReason::UnknownNode);
        c.count_errors(ErrorReason::WrongType, 3);
        assert_eq!(c.errors(ErrorReason::UnknownNode), 1);
        assert_eq!(c.errors(ErrorReason::WrongType), 3);
        assert_eq!(c.errors(ErrorReason::Dropped), 0);
        let all = c.errors_by_reason();
        assert_eq!(all.len(), ErrorReason::ALL.len());
        assert!(all.contains(&(ErrorReason::WrongType, 3)));
        assert_eq!(ErrorReason::UnknownNode.to_string(), "unknown_node");
    }
}
