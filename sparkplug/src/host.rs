//! The Sparkplug B 3.0 host application session, as a pure state machine.
//!
//! The caller owns the MQTT client: it subscribes to [`HOST_SUBSCRIPTION`](crate::topic::HOST_SUBSCRIPTION),
//! publishes its own state on [`Host::state_topic`] ([`Host::state_payload`]: `online: true` retained on
//! connect, `online: false` as the will), feeds every message it receives to [`Host::handle`], calls
//! [`Host::poll`] when [`Host::next_deadline`] passes, and acts on the [`HostEvent`]s: births, values,
//! deaths, problems, and rebirth requests it answers by publishing [`rebirth_command`] on the node's NCMD
//! topic.
//!
//! What the host keeps per edge node: the `bdSeq` of its NBIRTH, the last sequence number, the metric
//! tables (name ↔ alias ↔ datatype) of the node and of each born device, and, while a sequence number is
//! missing, the messages after it (at most [`HostConfig::max_buffered_per_node`], for at most
//! [`HostConfig::reorder_timeout`]). Every NDATA, DBIRTH, DDATA and DDEATH must carry the previous sequence
//! number plus one (mod 256); a message that arrives early waits for the missing one, and the whole run is
//! then applied in order. If the missing message does not come in time (or the buffer fills), the buffer is
//! dropped, a [`ProblemReason::SeqGap`] and a rebirth request are emitted, and the next message starts the
//! count again.
//!
//! Births list every metric except `bdSeq`; the `Node Control/*` metrics of an NBIRTH are listed (and their
//! values reported) like any other. A value's timestamp is the metric's own, else the payload's.
//! Rebirth requests for a node are sent at most once per [`HostConfig::rebirth_min_interval`] until it
//! sends a new NBIRTH. Commands (NCMD, DCMD) and other hosts' STATE messages are ignored.
//!
//! [`rebirth_command`]: crate::payload::rebirth_command

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::payload::{DataType, Metric, MetricValue, Payload, BD_SEQ};
use crate::topic::{check_id, IdKind, MessageType, Topic, TopicError, NAMESPACE, STATE};

/// How a [`Host`] behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// This host application's id (its STATE topic is `spBv1.0/STATE/<host_id>`).
    pub host_id: String,
    /// How long messages after a missing sequence number wait for it.
    pub reorder_timeout: Duration,
    /// How many messages of one edge node may wait for a missing sequence number; one more gives up.
    pub max_buffered_per_node: usize,
    /// The least time between two rebirth requests to the same edge node (until it re-births).
    pub rebirth_min_interval: Duration,
}

impl HostConfig {
    /// The defaults: 2 s reorder timeout, 1000 buffered messages per node, 5 s between rebirth requests.
    pub fn new(host_id: impl Into<String>) -> HostConfig {
        HostConfig {
            host_id: host_id.into(),
            reorder_timeout: Duration::from_secs(2),
            max_buffered_per_node: 1000,
            rebirth_min_interval: Duration::from_secs(5),
        }
    }
}

/// One metric's new value.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricUpdate {
    pub name: String,
    pub value: MetricValue,
    /// Milliseconds since the Unix epoch: the metric's timestamp, else the payload's.
    pub timestamp_ms: Option<u64>,
}

/// What the host application learnt from a message or a timer.
#[derive(Clone, Debug, PartialEq)]
pub enum HostEvent {
    /// A valid NBIRTH (`device` None) or DBIRTH: the metrics it defines, `bdSeq` left out.
    Born { group: String, node: String, device: Option<String>, metrics: Vec<(String, DataType)> },
    /// Values from a birth or an NDATA/DDATA, names resolved from aliases. Never empty.
    Values { group: String, node: String, device: Option<String>, values: Vec<MetricUpdate> },
    /// The device, or (`device` None) the edge node and all its devices, are offline: their values stale.
    Dead { group: String, node: String, device: Option<String> },
    /// Historical metrics (`is_historical`) arrived: values of the past, for history only; they update no
    /// current value. Never empty.
    Historical { group: String, node: String, device: Option<String>, values: Vec<MetricUpdate> },
    /// The caller should publish an NCMD `Node Control/Rebirth` = true to this edge node.
    RequestRebirth { group: String, node: String },
    /// Something was wrong; `message` names the topic and what.
    Problem {
        reason: ProblemReason,
        group: Option<String>,
        node: Option<String>,
        device: Option<String>,
        message: String,
    },
}

/// Why a [`HostEvent::Problem`] was emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProblemReason {
    /// The payload is not valid protobuf, lacks its sequence number, or a birth metric lacks a name or
    /// datatype or repeats one.
    MalformedPayload,
    /// The topic is not a Sparkplug B topic.
    BadTopic,
    /// A DBIRTH, DATA or DDEATH from an edge node (or device) that is not born: never, or not since its death.
    DataBeforeBirth,
    /// A sequence number was missing and did not arrive within the reorder timeout.
    SeqGap,
    /// A DATA metric's alias is not in the birth.
    UnknownAlias,
    /// A DATA metric's name is not in the birth.
    UnknownMetric,
    /// A value does not fit the metric's datatype from the birth.
    WrongType,
    /// An NDEATH whose bdSeq is not the current NBIRTH's: ignored, the node stays online.
    StaleDeath,
    /// An NBIRTH or NDEATH without a `bdSeq` metric.
    MissingBdSeq,
    /// Metrics of types this crate does not decode (datasets, templates, arrays, property sets): skipped.
    UnsupportedType,
}

impl ProblemReason {
    /// A label for metrics, e.g. `"seq_gap"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemReason::MalformedPayload => "malformed_payload",
            ProblemReason::BadTopic => "bad_topic",
            ProblemReason::DataBeforeBirth => "data_before_birth",
            ProblemReason::SeqGap => "seq_gap",
            ProblemReason::UnknownAlias => "unknown_alias",
            ProblemReason::UnknownMetric => "unknown_metric",
            ProblemReason::WrongType => "wrong_type",
            ProblemReason::StaleDeath => "stale_death",
            ProblemReason::MissingBdSeq => "missing_bd_seq",
            ProblemReason::UnsupportedType => "unsupported_type",
        }
    }
}

/// The host application session: every edge node it has heard of, by group and node id.
#[derive(Debug)]
pub struct Host {
    config: HostConfig,
    groups: HashMap<String, HashMap<String, NodeState>>,
}

impl Host {
    /// A host with no edge node known yet. The host id must be a valid topic level.
    pub fn new(config: HostConfig) -> Result<Host, TopicError> {
        check_id(IdKind::Host, &config.host_id)?;
        Ok(Host { config, groups: HashMap::new() })
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// `spBv1.0/STATE/<host_id>`.
    pub fn state_topic(host_id: &str) -> String {
        format!("{NAMESPACE}/{STATE}/{host_id}")
    }

    /// The Sparkplug 3.0 STATE payload: `{"online":true,"timestamp":1700000000000}`.
    pub fn state_payload(online: bool, timestamp_ms: u64) -> Vec<u8> {
        format!("{{\"online\":{online},\"timestamp\":{timestamp_ms}}}").into_bytes()
    }

    /// Whether this edge node is online (born and not dead).
    pub fn is_online(&self, group: &str, node: &str) -> bool {
        self.node(group, node).is_some_and(|state| state.online)
    }

    /// The devices of an online edge node that are born, sorted.
    pub fn online_devices(&self, group: &str, node: &str) -> Vec<String> {
        self.node(group, node).map(NodeState::sorted_devices).unwrap_or_default()
    }

    fn node(&self, group: &str, node: &str) -> Option<&NodeState> {
        self.groups.get(group).and_then(|nodes| nodes.get(node))
    }

    /// Handles one received MQTT message. Expired reorder timers fire first (as [`Host::poll`]).
    pub fn handle(&mut self, topic: &str, payload: &[u8], now: Instant, out: &mut Vec<HostEvent>) {
        self.poll(now, out);
        let message_topic = match Topic::parse(topic) {
            Ok(Topic::Message(message_topic)) => message_topic,
            Ok(Topic::State { .. }) => return,
            Err(error) => {
                out.push(HostEvent::Problem {
                    reason: ProblemReason::BadTopic,
                    group: None,
                    node: None,
                    device: None,
                    message: format!("{topic}: {error}"),
                });
                return;
            }
        };
        let message_type = message_topic.message_type;
        if matches!(message_type, MessageType::NCmd | MessageType::DCmd) {
            return;
        }
        let group = message_topic.group;
        let node_id = message_topic.node;
        let device = message_topic.device;
        let payload = match Payload::decode(payload) {
            Ok(payload) => payload,
            Err(error) => {
                out.push(HostEvent::Problem {
                    reason: ProblemReason::MalformedPayload,
                    group: Some(group),
                    node: Some(node_id),
                    device,
                    message: format!("{topic}: {error}"),
                });
                return;
            }
        };
        let node = self.groups.entry(group.clone()).or_default().entry(node_id.clone()).or_default();
        let context = Context { config: &self.config, group: &group, node: &node_id, now };
        let message = Message { topic: topic.to_owned(), message_type, device, seq: 0, payload };
        match message_type {
            MessageType::NBirth => node.birth(&context, message, out),
            MessageType::NDeath => node.death(&context, &message, out),
            _ => node.sequenced(&context, message, out),
        }
    }

    /// Fires the reorder timers that have expired by `now`: for each, the buffered messages are dropped,
    /// and a seq_gap problem and (rate-limited) a rebirth request are emitted.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<HostEvent>) {
        let mut expired: Vec<(String, String)> = Vec::new();
        for (group, nodes) in &self.groups {
            for (node, state) in nodes {
                if state.gap_deadline.is_some_and(|deadline| deadline <= now) {
                    expired.push((group.clone(), node.clone()));
                }
            }
        }
        expired.sort();
        for (group, node_id) in expired {
            if let Some(node) = self.groups.get_mut(&group).and_then(|nodes| nodes.get_mut(&node_id)) {
                let context = Context { config: &self.config, group: &group, node: &node_id, now };
                let waited = context.config.reorder_timeout;
                node.give_up_gap(&context, &format!("did not arrive within {waited:?}"), out);
            }
        }
    }

    /// When [`Host::poll`] next has something to do: the earliest reorder deadline, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.groups.values().flat_map(HashMap::values).filter_map(|node| node.gap_deadline).min()
    }
}

/// What every node-level step needs besides the node's state.
struct Context<'a> {
    config: &'a HostConfig,
    group: &'a str,
    node: &'a str,
    now: Instant,
}

impl Context<'_> {
    fn problem(&self, reason: ProblemReason, device: Option<&str>, message: String) -> HostEvent {
        HostEvent::Problem {
            reason,
            group: Some(self.group.to_owned()),
            node: Some(self.node.to_owned()),
            device: device.map(str::to_owned),
            message,
        }
    }
}

/// A decoded message of one edge node.
#[derive(Debug)]
struct Message {
    topic: String,
    message_type: MessageType,
    device: Option<String>,
    /// The sequence number, once checked (sequenced messages only).
    seq: u8,
    payload: Payload,
}

/// One metric as a birth defined it.
#[derive(Debug)]
struct MetricDefinition {
    name: String,
    datatype: DataType,
}

/// The metrics of an edge node or device, by name and by alias.
#[derive(Debug, Default)]
struct MetricTable {
    definitions: Vec<MetricDefinition>,
    by_name: HashMap<String, usize>,
    by_alias: HashMap<u64, usize>,
}

#[derive(Debug, Default)]
struct NodeState {
    online: bool,
    /// Whether an NBIRTH was ever accepted.
    was_born: bool,
    bd_seq: Option<u64>,
    last_seq: u8,
    /// After a gap was given up: the next sequenced message starts the count again.
    resync: bool,
    metrics: MetricTable,
    /// The born devices.
    devices: HashMap<String, MetricTable>,
    /// Messages waiting for a missing sequence number, in arrival order.
    reorder: Vec<Message>,
    gap_deadline: Option<Instant>,
    last_rebirth_request: Option<Instant>,
}

impl NodeState {
    fn sorted_devices(&self) -> Vec<String> {
        let mut devices: Vec<String> = self.devices.keys().cloned().collect();
        devices.sort();
        devices
    }

    fn request_rebirth(&mut self, context: &Context<'_>, out: &mut Vec<HostEvent>) {
        if let Some(last) = self.last_rebirth_request {
            if context.now.saturating_duration_since(last) < context.config.rebirth_min_interval {
                return;
            }
        }
        self.last_rebirth_request = Some(context.now);
        out.push(HostEvent::RequestRebirth { group: context.group.to_owned(), node: context.node.to_owned() });
    }

    fn clear_session(&mut self) {
        self.devices.clear();
        self.reorder.clear();
        self.gap_deadline = None;
        self.resync = false;
    }

    fn birth(&mut self, context: &Context<'_>, message: Message, out: &mut Vec<HostEvent>) {
        let topic = &message.topic;
        let seq = match checked_seq(&message.payload) {
            Ok(seq) => seq,
            Err(what) => {
                out.push(context.problem(ProblemReason::MalformedPayload, None, format!("{topic}: NBIRTH {what}")));
                return;
            }
        };
        if self.online {
            // A new session without an NDEATH first: the devices must be born again.
            for device in self.sorted_devices() {
                out.push(HostEvent::Dead {
                    group: context.group.to_owned(),
                    node: context.node.to_owned(),
                    device: Some(device),
                });
            }
        }
        self.clear_session();
        let birth = read_birth(&message, true);
        self.online = true;
        self.was_born = true;
        self.bd_seq = birth.bd_seq;
        self.last_seq = seq;
        self.last_rebirth_request = None;
        self.metrics = birth.table;
        let mut problems = birth.problems;
        if birth.bd_seq.is_none() {
            problems.add(ProblemReason::MissingBdSeq, "NBIRTH has no bdSeq metric".to_owned());
        }
        out.push(HostEvent::Born {
            group: context.group.to_owned(),
            node: context.node.to_owned(),
            device: None,
            metrics: birth.listed,
        });
        emit_values(context, None, birth.values, birth.historical, out);
        problems.emit(context, topic, None, out);
    }

    fn death(&mut self, context: &Context<'_>, message: &Message, out: &mut Vec<HostEvent>) {
        if !self.online {
            // Unknown, or already dead (a repeated will): nothing changes.
            return;
        }
        let topic = &message.topic;
        match (self.bd_seq, message.payload.bd_seq()) {
            (Some(born), Some(died)) if born != died => {
                let text = format!("{topic}: NDEATH bdSeq {died} is not the NBIRTH's bdSeq {born}; ignored");
                out.push(context.problem(ProblemReason::StaleDeath, None, text));
                return;
            }
            (Some(_), None) => {
                let text = format!("{topic}: NDEATH has no bdSeq metric; ignored");
                out.push(context.problem(ProblemReason::MissingBdSeq, None, text));
                return;
            }
            _ => {}
        }
        self.online = false;
        self.bd_seq = None;
        self.metrics = MetricTable::default();
        self.clear_session();
        out.push(HostEvent::Dead { group: context.group.to_owned(), node: context.node.to_owned(), device: None });
    }

    /// NDATA, DBIRTH, DDATA, DDEATH: checked against the sequence, buffered across a gap.
    fn sequenced(&mut self, context: &Context<'_>, mut message: Message, out: &mut Vec<HostEvent>) {
        let topic = &message.topic;
        if !self.online {
            let state = if self.was_born { "is dead (NDEATH) and not born again" } else { "has not sent an NBIRTH" };
            let text = format!("{topic}: {} from an edge node that {state}", message.message_type);
            out.push(context.problem(ProblemReason::DataBeforeBirth, message.device.as_deref(), text));
            self.request_rebirth(context, out);
            return;
        }
        message.seq = match checked_seq(&message.payload) {
            Ok(seq) => seq,
            Err(what) => {
                let text = format!("{topic}: {} {what}", message.message_type);
                out.push(context.problem(ProblemReason::MalformedPayload, message.device.as_deref(), text));
                return;
            }
        };
        if self.resync {
            self.resync = false;
            self.last_seq = message.seq.wrapping_sub(1);
        }
        if self.gap_deadline.is_none() && message.seq == self.last_seq.wrapping_add(1) {
            self.apply(context, message, out);
            return;
        }
        if self.gap_deadline.is_none() {
            self.gap_deadline = Some(context.now + context.config.reorder_timeout);
        }
        self.reorder.push(message);
        if self.reorder.len() > context.config.max_buffered_per_node {
            let limit = context.config.max_buffered_per_node;
            self.give_up_gap(context, &format!("did not arrive before {limit} later messages"), out);
            return;
        }
        self.drain(context, out);
    }

    /// Applies the buffered messages that follow on from the last sequence number, in order.
    fn drain(&mut self, context: &Context<'_>, out: &mut Vec<HostEvent>) {
        let mut progressed = false;
        loop {
            let expected = self.last_seq.wrapping_add(1);
            let Some(index) = self.reorder.iter().position(|message| message.seq == expected) else { break };
            let message = self.reorder.remove(index);
            self.apply(context, message, out);
            progressed = true;
        }
        if self.reorder.is_empty() {
            self.gap_deadline = None;
        } else if progressed {
            // Still a gap further on: it gets its own full timeout.
            self.gap_deadline = Some(context.now + context.config.reorder_timeout);
        }
    }

    fn give_up_gap(&mut self, context: &Context<'_>, what: &str, out: &mut Vec<HostEvent>) {
        let expected = self.last_seq.wrapping_add(1);
        let dropped = std::mem::take(&mut self.reorder);
        self.gap_deadline = None;
        self.resync = true;
        let topic = dropped.first().map_or_else(
            || format!("{NAMESPACE}/{}/+/{}", context.group, context.node),
            |message| message.topic.clone(),
        );
        let text = format!("{topic}: seq {expected} {what}; {} later message(s) dropped", dropped.len());
        out.push(context.problem(ProblemReason::SeqGap, None, text));
        self.request_rebirth(context, out);
    }

    fn apply(&mut self, context: &Context<'_>, message: Message, out: &mut Vec<HostEvent>) {
        self.last_seq = message.seq;
        let topic = &message.topic;
        let device = message.device.as_deref();
        match (message.message_type, device) {
            (MessageType::NData, None) => {
                let data = read_data(&self.metrics, &message.payload);
                emit_values(context, None, data.values, data.historical, out);
                data.problems.emit(context, topic, None, out);
                if data.needs_rebirth {
                    self.request_rebirth(context, out);
                }
            }
            (MessageType::DBirth, Some(device)) => {
                let birth = read_birth(&message, false);
                self.devices.insert(device.to_owned(), birth.table);
                out.push(HostEvent::Born {
                    group: context.group.to_owned(),
                    node: context.node.to_owned(),
                    device: Some(device.to_owned()),
                    metrics: birth.listed,
                });
                emit_values(context, Some(device), birth.values, birth.historical, out);
                birth.problems.emit(context, topic, Some(device), out);
            }
            (MessageType::DData, Some(device)) => {
                let Some(table) = self.devices.get(device) else {
                    let text = format!("{topic}: DDATA from a device that is not born");
                    out.push(context.problem(ProblemReason::DataBeforeBirth, Some(device), text));
                    self.request_rebirth(context, out);
                    return;
                };
                let data = read_data(table, &message.payload);
                emit_values(context, Some(device), data.values, data.historical, out);
                data.problems.emit(context, topic, Some(device), out);
                if data.needs_rebirth {
                    self.request_rebirth(context, out);
                }
            }
            // A DDEATH of a device that is not born changes nothing.
            (MessageType::DDeath, Some(device)) if self.devices.remove(device).is_some() => {
                out.push(HostEvent::Dead {
                    group: context.group.to_owned(),
                    node: context.node.to_owned(),
                    device: Some(device.to_owned()),
                });
            }
            // Topic parsing guarantees a device exactly for the D… types; NBIRTH/NDEATH/commands never get here.
            _ => {}
        }
    }
}

/// The sequence number of a payload, or what is wrong with it.
fn checked_seq(payload: &Payload) -> Result<u8, String> {
    match payload.seq {
        None => Err("has no seq".to_owned()),
        Some(seq) => u8::try_from(seq).map_err(|_| format!("seq {seq} is not in 0..=255")),
    }
}

fn emit_values(
    context: &Context<'_>,
    device: Option<&str>,
    values: Vec<MetricUpdate>,
    historical: Vec<MetricUpdate>,
    out: &mut Vec<HostEvent>,
) {
    if !values.is_empty() {
        out.push(HostEvent::Values {
            group: context.group.to_owned(),
            node: context.node.to_owned(),
            device: device.map(str::to_owned),
            values,
        });
    }
    if !historical.is_empty() {
        out.push(HostEvent::Historical {
            group: context.group.to_owned(),
            node: context.node.to_owned(),
            device: device.map(str::to_owned),
            values: historical,
        });
    }
}

/// The problems found in one message, one event per reason.
#[derive(Default)]
struct Problems {
    found: Vec<(ProblemReason, Vec<String>)>,
}

impl Problems {
    /// At most this many details per reason are spelled out in the message.
    const DETAILS_SHOWN: usize = 5;

    fn add(&mut self, reason: ProblemReason, detail: String) {
        match self.found.iter_mut().find(|(found, _)| *found == reason) {
            Some((_, details)) => details.push(detail),
            None => self.found.push((reason, vec![detail])),
        }
    }

    fn emit(self, context: &Context<'_>, topic: &str, device: Option<&str>, out: &mut Vec<HostEvent>) {
        for (reason, details) in self.found {
            let mut text = format!("{topic}: {}", details[..details.len().min(Self::DETAILS_SHOWN)].join("; "));
            if details.len() > Self::DETAILS_SHOWN {
                let _ = write!(text, "; and {} more", details.len() - Self::DETAILS_SHOWN);
            }
            out.push(context.problem(reason, device, text));
        }
    }
}

/// What an NBIRTH or DBIRTH defines and carries.
struct Birth {
    table: MetricTable,
    listed: Vec<(String, DataType)>,
    values: Vec<MetricUpdate>,
    historical: Vec<MetricUpdate>,
    bd_seq: Option<u64>,
    problems: Problems,
}

fn read_birth(message: &Message, is_node: bool) -> Birth {
    let payload = &message.payload;
    let kind = message.message_type;
    let mut birth = Birth {
        table: MetricTable::default(),
        listed: Vec::new(),
        values: Vec::new(),
        historical: Vec::new(),
        bd_seq: None,
        problems: Problems::default(),
    };
    for (index, metric) in payload.metrics.iter().enumerate() {
        let Some(name) = metric.name.as_deref() else {
            birth.problems.add(ProblemReason::MalformedPayload, format!("{kind} metric #{index} has no name"));
            continue;
        };
        if is_node && name == BD_SEQ {
            birth.bd_seq = payload.bd_seq();
            continue;
        }
        if !metric.datatype.is_specified() {
            birth.problems.add(ProblemReason::MalformedPayload, format!("{kind} metric `{name}` has no datatype"));
            continue;
        }
        if birth.table.by_name.contains_key(name) {
            birth.problems.add(ProblemReason::MalformedPayload, format!("{kind} metric `{name}` appears twice"));
            continue;
        }
        let index = birth.table.definitions.len();
        if let Some(alias) = metric.alias {
            if let Some(&other) = birth.table.by_alias.get(&alias) {
                let other = &birth.table.definitions[other].name;
                let text = format!("alias {alias} is given to `{other}` and `{name}`; `{name}` is known by name only");
                birth.problems.add(ProblemReason::MalformedPayload, text);
            } else {
                birth.table.by_alias.insert(alias, index);
            }
        }
        birth.table.by_name.insert(name.to_owned(), index);
        birth.table.definitions.push(MetricDefinition { name: name.to_owned(), datatype: metric.datatype });
        birth.listed.push((name.to_owned(), metric.datatype));
        if let Some(update) =
            current_value(name, metric.datatype, metric, payload, &mut birth.historical, &mut birth.problems)
        {
            birth.values.push(update);
        }
    }
    birth
}

/// What an NDATA or DDATA carries.
struct Data {
    values: Vec<MetricUpdate>,
    historical: Vec<MetricUpdate>,
    problems: Problems,
    needs_rebirth: bool,
}

fn read_data(table: &MetricTable, payload: &Payload) -> Data {
    let mut data =
        Data { values: Vec::new(), historical: Vec::new(), problems: Problems::default(), needs_rebirth: false };
    for (index, metric) in payload.metrics.iter().enumerate() {
        let found = match (metric.alias, metric.name.as_deref()) {
            (Some(alias), _) => table
                .by_alias
                .get(&alias)
                .ok_or_else(|| (ProblemReason::UnknownAlias, format!("alias {alias} is not defined by the birth"))),
            (None, Some(name)) => table
                .by_name
                .get(name)
                .ok_or_else(|| (ProblemReason::UnknownMetric, format!("metric `{name}` is not defined by the birth"))),
            (None, None) => {
                Err((ProblemReason::MalformedPayload, format!("metric #{index} has neither name nor alias")))
            }
        };
        let definition = match found {
            Ok(&index) => &table.definitions[index],
            Err((reason, detail)) => {
                data.needs_rebirth |= reason != ProblemReason::MalformedPayload;
                data.problems.add(reason, detail);
                continue;
            }
        };
        let name = &definition.name;
        if metric.datatype.is_specified() && metric.datatype != definition.datatype && !metric.is_historical {
            let text = format!("metric `{name}` is {} in the birth but {} here", definition.datatype, metric.datatype);
            data.problems.add(ProblemReason::WrongType, text);
            continue;
        }
        if let Some(update) =
            current_value(name, definition.datatype, metric, payload, &mut data.historical, &mut data.problems)
        {
            data.values.push(update);
        }
    }
    data
}

/// The update for a metric's current value, or None where it is historical (put in `historical`), of an
/// unsupported type or of the wrong type (reported).
fn current_value(
    name: &str,
    datatype: DataType,
    metric: &Metric,
    payload: &Payload,
    historical: &mut Vec<MetricUpdate>,
    problems: &mut Problems,
) -> Option<MetricUpdate> {
    if !datatype.is_supported() {
        problems.add(ProblemReason::UnsupportedType, format!("metric `{name}` is {datatype}, skipped"));
        return None;
    }
    let Some(value) = metric.value.convert_to(datatype) else {
        let text = format!("metric `{name}` is {datatype} but carries a {}", metric.value.describe());
        problems.add(ProblemReason::WrongType, text);
        return None;
    };
    let update = MetricUpdate { name: name.to_owned(), value, timestamp_ms: metric.timestamp.or(payload.timestamp) };
    if metric.is_historical {
        historical.push(update);
        return None;
    }
    Some(update)
}
