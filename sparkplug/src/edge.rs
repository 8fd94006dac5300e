//! The Sparkplug B 3.0 edge node session, as a pure helper: it builds every message an edge node publishes
//! (topic and payload bytes) and keeps the sequence numbers and the current values right.
//!
//! Use: before each MQTT connect (the first included), [`EdgeNodeSession::begin_session`] gives the
//! NDEATH to set as the will (the first session has bdSeq 0, each next one the next value, mod 256); once
//! connected, publish [`EdgeNodeSession::births`] (the NBIRTH with `bdSeq` and `Node Control/Rebirth`, then
//! a DBIRTH per device, carrying the current values), then [`EdgeNodeSession::node_data`] and
//! [`EdgeNodeSession::device_data`] by alias. Feed received NCMD messages to
//! [`EdgeNodeSession::handle_command`]: a rebirth request is answered with new births (same bdSeq, seq
//! from 0). Aliases are unique across the node and all its devices, as Sparkplug requires.

use std::collections::{HashMap, HashSet};

use crate::payload::{
    death_payload, DataType, EncodeError, MetricValue, Payload, PayloadBuilder, PayloadError, BD_SEQ,
    NODE_CONTROL_REBIRTH,
};
use crate::topic::{MessageTopic, MessageType, Topic, TopicError};

/// A metric of the edge node or of one of its devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricDefinition {
    pub name: String,
    pub alias: u64,
    pub datatype: DataType,
}

impl MetricDefinition {
    pub fn new(name: impl Into<String>, alias: u64, datatype: DataType) -> MetricDefinition {
        MetricDefinition { name: name.into(), alias, datatype }
    }
}

/// A message to publish: its topic and payload bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeMessage {
    pub topic: String,
    pub payload: Vec<u8>,
}

/// What an [`EdgeNodeSession`] refuses.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("metric `{name}` is defined twice")]
    DuplicateName { name: String },
    #[error("alias {alias} is given to `{first}` and `{second}` (aliases are unique across the node and its devices)")]
    DuplicateAlias { alias: u64, first: String, second: String },
    #[error("`{name}` is a metric the session adds itself")]
    ReservedName { name: String },
    #[error("metric `{name}`: {datatype} metrics are not supported")]
    UnsupportedType { name: String, datatype: DataType },
    #[error("device `{device}` is defined twice")]
    DuplicateDevice { device: String },
    #[error("there is no device `{device}`")]
    UnknownDevice { device: String },
    #[error("alias {alias} is not a metric of {}", .device.as_deref().map_or("the edge node".to_owned(), |device| format!("device `{device}`")))]
    UnknownAlias { device: Option<String>, alias: u64 },
    #[error("the edge node has not published its births in this session")]
    NotBorn,
    #[error("device `{device}` is not born (DDEATH sent)")]
    DeviceNotBorn { device: String },
    #[error("metric `{name}`: {source}")]
    Value { name: String, source: EncodeError },
    #[error("command payload: {0}")]
    Payload(#[from] PayloadError),
}

/// The metrics of the node or a device, with their current values.
#[derive(Debug)]
struct MetricSet {
    definitions: Vec<MetricDefinition>,
    values: Vec<MetricValue>,
    by_alias: HashMap<u64, usize>,
}

impl MetricSet {
    fn new(definitions: Vec<MetricDefinition>) -> MetricSet {
        let by_alias = definitions.iter().enumerate().map(|(index, metric)| (metric.alias, index)).collect();
        let values = vec![MetricValue::Null; definitions.len()];
        MetricSet { definitions, values, by_alias }
    }

    /// Checks every update (alias known, value fits) and builds the DATA payload; values are kept only
    /// when all of them are valid.
    fn data_payload(
        &mut self,
        device: Option<&str>,
        timestamp_ms: u64,
        seq: u8,
        updates: &[(u64, MetricValue)],
    ) -> Result<Vec<u8>, EdgeError> {
        let mut builder = PayloadBuilder::new(Some(timestamp_ms), Some(u64::from(seq)));
        let mut indices = Vec::with_capacity(updates.len());
        for (alias, value) in updates {
            let index = *self
                .by_alias
                .get(alias)
                .ok_or_else(|| EdgeError::UnknownAlias { device: device.map(str::to_owned), alias: *alias })?;
            let metric = &self.definitions[index];
            builder
                .data_metric_by_alias(*alias, metric.datatype, value)
                .map_err(|source| EdgeError::Value { name: metric.name.clone(), source })?;
            indices.push(index);
        }
        for (index, (_, value)) in indices.into_iter().zip(updates) {
            self.values[index] = value.clone();
        }
        Ok(builder.encode())
    }

    fn add_births(&self, builder: &mut PayloadBuilder) -> Result<(), EdgeError> {
        for (metric, value) in self.definitions.iter().zip(&self.values) {
            builder
                .birth_metric(&metric.name, Some(metric.alias), metric.datatype, value)
                .map_err(|source| EdgeError::Value { name: metric.name.clone(), source })?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Device {
    id: String,
    metrics: MetricSet,
    online: bool,
}

/// An edge node's Sparkplug session state.
#[derive(Debug)]
pub struct EdgeNodeSession {
    group: String,
    node: String,
    metrics: MetricSet,
    devices: Vec<Device>,
    bd_seq: u64,
    session_started: bool,
    born: bool,
    next_seq: u8,
    /// Every alias in use, with its metric's name.
    aliases: HashMap<u64, String>,
}

impl EdgeNodeSession {
    /// A session for this edge node with its own metrics; values start as null.
    pub fn new(group: &str, node: &str, metrics: Vec<MetricDefinition>) -> Result<EdgeNodeSession, EdgeError> {
        MessageTopic::node(group, MessageType::NBirth, node)?;
        let mut session = EdgeNodeSession {
            group: group.to_owned(),
            node: node.to_owned(),
            metrics: MetricSet::new(Vec::new()),
            devices: Vec::new(),
            bd_seq: 0,
            session_started: false,
            born: false,
            next_seq: 0,
            aliases: HashMap::new(),
        };
        session.check_definitions(&metrics, true)?;
        session.metrics = MetricSet::new(metrics);
        Ok(session)
    }

    /// Adds a device with its metrics. A device added after the births is born with the next births or
    /// by [`EdgeNodeSession::device_birth`].
    pub fn add_device(&mut self, device: &str, metrics: Vec<MetricDefinition>) -> Result<(), EdgeError> {
        MessageTopic::device(&self.group, MessageType::DBirth, &self.node, device)?;
        if self.devices.iter().any(|known| known.id == device) {
            return Err(EdgeError::DuplicateDevice { device: device.to_owned() });
        }
        self.check_definitions(&metrics, false)?;
        self.devices.push(Device { id: device.to_owned(), metrics: MetricSet::new(metrics), online: false });
        Ok(())
    }

    /// Checks names, aliases and datatypes, and reserves the aliases.
    fn check_definitions(&mut self, metrics: &[MetricDefinition], is_node: bool) -> Result<(), EdgeError> {
        let mut names = HashSet::new();
        let mut aliases = HashMap::new();
        for metric in metrics {
            if is_node && (metric.name == BD_SEQ || metric.name == NODE_CONTROL_REBIRTH) {
                return Err(EdgeError::ReservedName { name: metric.name.clone() });
            }
            if !metric.datatype.is_supported() {
                return Err(EdgeError::UnsupportedType { name: metric.name.clone(), datatype: metric.datatype });
            }
            if !names.insert(metric.name.as_str()) {
                return Err(EdgeError::DuplicateName { name: metric.name.clone() });
            }
            if let Some(first) = self.aliases.get(&metric.alias).or_else(|| aliases.get(&metric.alias)) {
                return Err(EdgeError::DuplicateAlias {
                    alias: metric.alias,
                    first: first.clone(),
                    second: metric.name.clone(),
                });
            }
            aliases.insert(metric.alias, metric.name.clone());
        }
        self.aliases.extend(aliases);
        Ok(())
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// The bdSeq of the current (or, before the first [`EdgeNodeSession::begin_session`], the first)
    /// session.
    pub fn bd_seq(&self) -> u64 {
        self.bd_seq
    }

    /// The sequence number the next NDATA/DBIRTH/DDATA/DDEATH will carry.
    pub fn next_seq(&self) -> u8 {
        self.next_seq
    }

    /// Whether the births of this session were built.
    pub fn is_born(&self) -> bool {
        self.born
    }

    /// Starts a new MQTT session (call before each connect): the next bdSeq (0 for the first session, then
    /// +1 mod 256), not born; returns the NDEATH to set as the connection's will.
    pub fn begin_session(&mut self) -> EdgeMessage {
        if self.session_started {
            self.bd_seq = (self.bd_seq + 1) % 256;
        }
        self.session_started = true;
        self.born = false;
        for device in &mut self.devices {
            device.online = false;
        }
        self.will()
    }

    /// The NDEATH of the current session: the will, or what to publish before a clean disconnect.
    pub fn will(&self) -> EdgeMessage {
        EdgeMessage { topic: self.node_topic(MessageType::NDeath), payload: death_payload(self.bd_seq, None) }
    }

    fn node_topic(&self, message_type: MessageType) -> String {
        format!("spBv1.0/{}/{}/{}", self.group, message_type, self.node)
    }

    fn device_topic(&self, message_type: MessageType, device: &str) -> String {
        format!("spBv1.0/{}/{}/{}/{}", self.group, message_type, self.node, device)
    }

    fn take_seq(&mut self) -> u8 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// The NBIRTH (seq 0, `bdSeq`, `Node Control/Rebirth` = false, the node's metrics) and a DBIRTH for
    /// every device, all with the current values.
    pub fn births(&mut self, timestamp_ms: u64) -> Result<Vec<EdgeMessage>, EdgeError> {
        self.session_started = true;
        self.next_seq = 0;
        let seq = self.take_seq();
        let mut builder = PayloadBuilder::new(Some(timestamp_ms), Some(u64::from(seq)));
        let to_error = |name: &'static str| move |source| EdgeError::Value { name: name.to_owned(), source };
        builder
            .birth_metric(BD_SEQ, None, DataType::UInt64, &MetricValue::UInt(self.bd_seq))
            .map_err(to_error(BD_SEQ))?;
        builder
            .birth_metric(NODE_CONTROL_REBIRTH, None, DataType::Boolean, &MetricValue::Bool(false))
            .map_err(to_error(NODE_CONTROL_REBIRTH))?;
        self.metrics.add_births(&mut builder)?;
        let mut messages = vec![EdgeMessage { topic: self.node_topic(MessageType::NBirth), payload: builder.encode() }];
        self.born = true;
        let devices: Vec<String> = self.devices.iter().map(|device| device.id.clone()).collect();
        for device in devices {
            messages.push(self.device_birth(&device, timestamp_ms)?);
        }
        Ok(messages)
    }

    /// The DBIRTH of one device, with its current values.
    pub fn device_birth(&mut self, device: &str, timestamp_ms: u64) -> Result<EdgeMessage, EdgeError> {
        if !self.born {
            return Err(EdgeError::NotBorn);
        }
        let index = self.device_index(device)?;
        let seq = self.take_seq();
        let mut builder = PayloadBuilder::new(Some(timestamp_ms), Some(u64::from(seq)));
        self.devices[index].metrics.add_births(&mut builder)?;
        self.devices[index].online = true;
        Ok(EdgeMessage { topic: self.device_topic(MessageType::DBirth, device), payload: builder.encode() })
    }

    /// Sets values without publishing them (e.g. before the births): `(alias, value)` pairs, checked.
    pub fn set_values(&mut self, device: Option<&str>, updates: &[(u64, MetricValue)]) -> Result<(), EdgeError> {
        let set = match device {
            None => &mut self.metrics,
            Some(device) => {
                let index = self.device_index(device)?;
                &mut self.devices[index].metrics
            }
        };
        set.data_payload(device, 0, 0, updates).map(drop)
    }

    /// An NDATA with these `(alias, value)` pairs (by alias, no datatype, the timestamp on each metric).
    pub fn node_data(&mut self, timestamp_ms: u64, updates: &[(u64, MetricValue)]) -> Result<EdgeMessage, EdgeError> {
        if !self.born {
            return Err(EdgeError::NotBorn);
        }
        let seq = self.next_seq;
        let payload = self.metrics.data_payload(None, timestamp_ms, seq, updates)?;
        self.take_seq();
        Ok(EdgeMessage { topic: self.node_topic(MessageType::NData), payload })
    }

    /// A DDATA of a born device with these `(alias, value)` pairs.
    pub fn device_data(
        &mut self,
        device: &str,
        timestamp_ms: u64,
        updates: &[(u64, MetricValue)],
    ) -> Result<EdgeMessage, EdgeError> {
        let index = self.online_device(device)?;
        let seq = self.next_seq;
        let payload = self.devices[index].metrics.data_payload(Some(device), timestamp_ms, seq, updates)?;
        self.take_seq();
        Ok(EdgeMessage { topic: self.device_topic(MessageType::DData, device), payload })
    }

    /// The DDEATH of a born device; it is not born until its next DBIRTH.
    pub fn device_death(&mut self, device: &str, timestamp_ms: u64) -> Result<EdgeMessage, EdgeError> {
        let index = self.online_device(device)?;
        self.devices[index].online = false;
        let seq = self.take_seq();
        let payload = PayloadBuilder::new(Some(timestamp_ms), Some(u64::from(seq))).encode();
        Ok(EdgeMessage { topic: self.device_topic(MessageType::DDeath, device), payload })
    }

    /// Handles a received message: an NCMD to this node with `Node Control/Rebirth` = true is answered
    /// with new births. Anything else (other topics, other commands) gives `None`.
    pub fn handle_command(
        &mut self,
        topic: &str,
        payload: &[u8],
        timestamp_ms: u64,
    ) -> Result<Option<Vec<EdgeMessage>>, EdgeError> {
        let is_own_ncmd = matches!(
            Topic::parse(topic),
            Ok(Topic::Message(MessageTopic { ref group, message_type: MessageType::NCmd, ref node, .. }))
                if *group == self.group && *node == self.node
        );
        if !is_own_ncmd || !Payload::decode(payload)?.is_rebirth_request() {
            return Ok(None);
        }
        self.births(timestamp_ms).map(Some)
    }

    fn device_index(&self, device: &str) -> Result<usize, EdgeError> {
        self.devices
            .iter()
            .position(|known| known.id == device)
            .ok_or_else(|| EdgeError::UnknownDevice { device: device.to_owned() })
    }

    fn online_device(&self, device: &str) -> Result<usize, EdgeError> {
        if !self.born {
            return Err(EdgeError::NotBorn);
        }
        let index = self.device_index(device)?;
        if !self.devices[index].online {
            return Err(EdgeError::DeviceNotBorn { device: device.to_owned() });
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::{rebirth_command, Metric};

    fn session() -> EdgeNodeSession {
        let mut session = EdgeNodeSession::new(
            "Plant1",
            "Line3",
            vec![MetricDefinition::new("Speed", 1, DataType::Double), MetricDefinition::new("Mode", 2, DataType::Int8)],
        )
        .unwrap();
        session.add_device("Robot7", vec![MetricDefinition::new("Joint1", 10, DataType::Float)]).unwrap();
        session
    }

    fn birth_metric(name: &str, alias: Option<u64>, datatype: DataType, value: MetricValue) -> Metric {
        Metric {
            name: Some(name.into()),
            alias,
            timestamp: Some(1000),
            datatype,
            value,
            is_historical: false,
            is_transient: false,
        }
    }

    #[test]
    fn births_carry_bd_seq_rebirth_metric_aliases_and_current_values() {
        let mut session = session();
        let will = session.begin_session();
        assert_eq!(will.topic, "spBv1.0/Plant1/NDEATH/Line3");
        assert_eq!(Payload::decode(&will.payload).unwrap().bd_seq(), Some(0));
        session.set_values(None, &[(2, MetricValue::Int(-3))]).unwrap();
        let births = session.births(1000).unwrap();
        assert_eq!(births.len(), 2);
        assert_eq!(births[0].topic, "spBv1.0/Plant1/NBIRTH/Line3");
        let nbirth = Payload::decode(&births[0].payload).unwrap();
        assert_eq!(nbirth.seq, Some(0));
        assert_eq!(nbirth.timestamp, Some(1000));
        assert_eq!(
            nbirth.metrics,
            vec![
                birth_metric("bdSeq", None, DataType::UInt64, MetricValue::UInt(0)),
                birth_metric("Node Control/Rebirth", None, DataType::Boolean, MetricValue::Bool(false)),
                birth_metric("Speed", Some(1), DataType::Double, MetricValue::Null),
                birth_metric("Mode", Some(2), DataType::Int8, MetricValue::Int(-3)),
            ]
        );
        assert_eq!(births[1].topic, "spBv1.0/Plant1/DBIRTH/Line3/Robot7");
        let dbirth = Payload::decode(&births[1].payload).unwrap();
        assert_eq!(dbirth.seq, Some(1));
        assert_eq!(dbirth.metrics, vec![birth_metric("Joint1", Some(10), DataType::Float, MetricValue::Null)]);
    }

    #[test]
    fn data_goes_by_alias_and_seq_wraps_after_255() {
        let mut session = session();
        session.begin_session();
        session.births(0).unwrap();
        let mut last = None;
        for step in 0..300u64 {
            let message = session.node_data(step, &[(1, MetricValue::Float(step as f64))]).unwrap();
            let payload = Payload::decode(&message.payload).unwrap();
            assert_eq!(message.topic, "spBv1.0/Plant1/NDATA/Line3");
            assert_eq!(payload.metrics[0].name, None);
            assert_eq!(payload.metrics[0].alias, Some(1));
            assert_eq!(payload.metrics[0].datatype, DataType::Unknown(0));
            let seq = payload.seq.unwrap();
            if let Some(last) = last {
                assert_eq!(seq, (last + 1) % 256);
            }
            last = Some(seq);
        }
        // Births took 0 and 1; 300 data messages later the next is (2 + 300) % 256.
        assert_eq!(session.next_seq(), 46);
        let message = session.device_data("Robot7", 5, &[(10, MetricValue::Float(0.5))]).unwrap();
        assert_eq!(message.topic, "spBv1.0/Plant1/DDATA/Line3/Robot7");
        assert_eq!(Payload::decode(&message.payload).unwrap().seq, Some(46));
    }

    #[test]
    fn bd_seq_increments_per_session_and_wraps() {
        let mut session = session();
        for expected in [0, 1, 2] {
            let will = session.begin_session();
            assert_eq!(Payload::decode(&will.payload).unwrap().bd_seq(), Some(expected));
            assert_eq!(session.bd_seq(), expected);
        }
        for _ in 3..256 {
            session.begin_session();
        }
        assert_eq!(session.bd_seq(), 255);
        session.begin_session();
        assert_eq!(session.bd_seq(), 0);
    }

    #[test]
    fn rebirth_command_is_answered_with_births_in_the_same_session() {
        let mut session = session();
        session.begin_session();
        session.births(0).unwrap();
        session.node_data(1, &[(1, MetricValue::Float(4.0))]).unwrap();
        let answer = session.handle_command("spBv1.0/Plant1/NCMD/Line3", &rebirth_command(7), 9).unwrap().unwrap();
        assert_eq!(answer.len(), 2);
        let nbirth = Payload::decode(&answer[0].payload).unwrap();
        assert_eq!(nbirth.seq, Some(0));
        assert_eq!(nbirth.bd_seq(), Some(0));
        assert_eq!(nbirth.metric("Speed").unwrap().value, MetricValue::Float(4.0));
        // Not for this node, or not a rebirth: no answer.
        assert!(session.handle_command("spBv1.0/Plant1/NCMD/Line4", &rebirth_command(7), 9).unwrap().is_none());
        assert!(session.handle_command("spBv1.0/Plant1/NDATA/Line3", &rebirth_command(7), 9).unwrap().is_none());
        let other = PayloadBuilder::new(None, None).encode();
        assert!(session.handle_command("spBv1.0/Plant1/NCMD/Line3", &other, 9).unwrap().is_none());
        assert!(matches!(session.handle_command("spBv1.0/Plant1/NCMD/Line3", &[0xFF], 9), Err(EdgeError::Payload(_))));
    }

    #[test]
    fn refuses_what_sparkplug_forbids() {
        assert!(matches!(
            EdgeNodeSession::new("Plant1", "a/b", vec![]),
            Err(EdgeError::Topic(TopicError::ForbiddenCharacter { .. }))
        ));
        assert!(matches!(
            EdgeNodeSession::new("g", "n", vec![MetricDefinition::new("bdSeq", 1, DataType::UInt64)]),
            Err(EdgeError::ReservedName { .. })
        ));
        let mut session = session();
        let error =
            session.add_device("Robot8", vec![MetricDefinition::new("Joint1", 2, DataType::Float)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "alias 2 is given to `Mode` and `Joint1` (aliases are unique across the node and its devices)"
        );
        assert!(matches!(session.node_data(0, &[]), Err(EdgeError::NotBorn)));
        session.begin_session();
        session.births(0).unwrap();
        let seq_before = session.next_seq();
        assert_eq!(
            session.node_data(0, &[(1, MetricValue::Float(1.0)), (99, MetricValue::Null)]).unwrap_err().to_string(),
            "alias 99 is not a metric of the edge node"
        );
        assert!(matches!(
            session.node_data(0, &[(2, MetricValue::Int(500))]),
            Err(EdgeError::Value { ref name, .. }) if name == "Mode"
        ));
        // Refused messages take no sequence number and change no value.
        assert_eq!(session.next_seq(), seq_before);
        let births = session.births(0).unwrap();
        assert_eq!(Payload::decode(&births[0].payload).unwrap().metric("Speed").unwrap().value, MetricValue::Null);
        session.device_death("Robot7", 0).unwrap();
        assert!(matches!(session.device_data("Robot7", 0, &[]), Err(EdgeError::DeviceNotBorn { .. })));
        assert!(matches!(session.device_data("Robot9", 0, &[]), Err(EdgeError::UnknownDevice { .. })));
    }
}
