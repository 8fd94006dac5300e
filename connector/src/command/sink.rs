//! Where writes go: a [`Sink`] reads and writes one source's nodes. The OPC UA source is one
//! (`OpcUaSource`, through the session that also serves its subscriptions); Modbus holding registers and
//! coils or Sparkplug B NCMD/DCMD plug in the same way when those sources exist.

use std::future::Future;
use std::pin::Pin;

use crate::sample::Value;
use crate::source::opcua::OpcUaSource;

/// Why a read or write did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// The address does not parse or does not exist on the server.
    #[error("{0}")]
    Node(String),
    /// The server answered with a bad status (its name, e.g. `BadOutOfRange`).
    #[error("the server answered {status}")]
    Refused { status: String },
    /// The value cannot be written as the node's type (e.g. text to a Double node).
    #[error("{0}")]
    Type(String),
    /// No answer (timeout, connection lost): the outcome is unknown, and the write must not be retried blindly.
    #[error("no answer from the server: {0}")]
    NoAnswer(String),
    /// The server could not be reached: nothing was sent.
    #[error("not sent: {0}")]
    Unreachable(String),
}

/// A boxed future of a sink operation.
pub type SinkFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, SinkError>> + Send + 'a>>;

mod sealed {
    /// Only the connector's live sources are sinks: nothing outside this crate can implement [`super::Sink`].
    pub trait LiveSource {}
    impl LiveSource for crate::source::opcua::OpcUaSource {}
    impl LiveSource for crate::source::modbus::ModbusSource {}
}

/// One source's write side. The trait is sealed: only a connected live source of this crate is a sink, so a
/// digital sibling (a what-if copy of the twin, e.g. `twinloom flow --stage` with changed stations) has no
/// way to reach the plant, whatever its configuration says:
///
/// ```compile_fail
/// use twinloom_connector::command::sink::{Sink, SinkError, SinkFuture};
/// use twinloom_connector::Value;
/// /// A what-if copy that would answer every read and pretend every write went through.
/// struct Sibling;
/// impl Sink for Sibling {
///     fn read<'a>(&'a self, _: &'a str) -> SinkFuture<'a, Value> {
///         Box::pin(async { Ok(Value::Null) })
///     }
///     fn write<'a>(&'a self, _: &'a str, _: &'a Value) -> SinkFuture<'a, ()> {
///         Box::pin(async { Ok(()) })
///     }
///     fn call<'a>(&'a self, _: &'a str, m: &'a str, _: &'a [Value]) -> SinkFuture<'a, Vec<Value>> {
///         Box::pin(async move { Err(SinkError::Node(m.to_string())) })
///     }
/// }
/// ```
pub trait Sink: sealed::LiveSource + Send + Sync {
    /// The node's current value, read fresh from the server (not from a cache or the twin).
    fn read<'a>(&'a self, node: &'a str) -> SinkFuture<'a, Value>;
    /// Writes `value` to the node, as the node's own type.
    fn write<'a>(&'a self, node: &'a str, value: &'a Value) -> SinkFuture<'a, ()>;
    /// Calls `method` on `object` with `args`; returns the output arguments.
    fn call<'a>(&'a self, object: &'a str, method: &'a str, args: &'a [Value]) -> SinkFuture<'a, Vec<Value>>;
}

impl Sink for crate::source::modbus::ModbusSource {
    fn read<'a>(&'a self, node: &'a str) -> SinkFuture<'a, Value> {
        Box::pin(self.read_point(node))
    }
    fn write<'a>(&'a self, node: &'a str, value: &'a Value) -> SinkFuture<'a, ()> {
        Box::pin(self.write_point(node, value))
    }
    fn call<'a>(&'a self, _: &'a str, method: &'a str, _: &'a [Value]) -> SinkFuture<'a, Vec<Value>> {
        Box::pin(async move { Err(SinkError::Node(format!("{method}: Modbus has no methods"))) })
    }
}

impl Sink for OpcUaSource {
    fn read<'a>(&'a self, node: &'a str) -> SinkFuture<'a, Value> {
        Box::pin(async move { Ok(self.read_node(node).await?.0) })
    }
    fn write<'a>(&'a self, node: &'a str, value: &'a Value) -> SinkFuture<'a, ()> {
        Box::pin(async move {
            let (_, like) = self.read_node(node).await?;
            self.write_node(node, &like, value).await
        })
    }
    fn call<'a>(&'a self, object: &'a str, method: &'a str, args: &'a [Value]) -> SinkFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let args = args.iter().map(crate::source::opcua::argument_variant).collect();
            self.call_method(object, method, args).await
        })
    }
}
