//! Sparkplug B 3.0 for Twinloom, without any network code.
//!
//! The connector's Sparkplug host and the plant simulator's edge node talk MQTT themselves (rumqttc); this
//! crate gives them the protocol layer underneath:
//!
//! - [`topic`]: the `spBv1.0/<group>/<message type>/<edge node>[/<device>]` and `spBv1.0/STATE/<host id>`
//!   topics, parsed into [`Topic`] and formatted back.
//! - [`payload`]: the protobuf payload decoded into plain Rust values ([`Payload`], [`Metric`],
//!   [`MetricValue`]) and built again ([`PayloadBuilder`], NCMD rebirth, NDEATH).
//! - [`host`]: [`Host`], the host application's session state machine (births, aliases, sequence numbers
//!   with a reorder window, deaths, rebirth requests), pure: messages and the clock go in, [`HostEvent`]s
//!   come out.
//! - [`edge`]: [`EdgeNodeSession`], the edge node's side (bdSeq, births, data by alias, will, answering a
//!   rebirth request).
//!
//! The protobuf messages are generated at build time from Eclipse Tahu's `sparkplug_b.proto` (in `proto/`,
//! EPL-2.0) and stay private to the crate.

pub mod edge;
pub mod host;
pub mod payload;
mod proto;
pub mod topic;

pub use edge::{EdgeError, EdgeMessage, EdgeNodeSession, MetricDefinition};
pub use host::{Host, HostConfig, HostEvent, MetricUpdate, ProblemReason};
pub use payload::{DataType, EncodeError, Metric, MetricValue, Payload, PayloadBuilder, PayloadError};
pub use topic::{MessageTopic, MessageType, Topic, TopicError};
