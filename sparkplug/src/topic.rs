//! Sparkplug B topics: `spBv1.0/<group>/<message type>/<edge node>[/<device>]` for edge node and device
//! messages, `spBv1.0/STATE/<host id>` for a host application's state (Sparkplug 3.0).
//!
//! [`Topic::parse`] checks every level and says which one is wrong; [`Topic`]'s `Display` writes the topic
//! back. Group, edge node, device and host ids must be non-empty and must not contain `/`, `+` or `#`.

use std::fmt;
use std::str::FromStr;

/// The first level of every Sparkplug B topic.
pub const NAMESPACE: &str = "spBv1.0";

/// The MQTT topic filter a host application subscribes to: every Sparkplug B message.
pub const HOST_SUBSCRIPTION: &str = "spBv1.0/#";

/// The second level of a host application's state topic.
pub const STATE: &str = "STATE";

/// The message types of edge nodes (`N…`) and their devices (`D…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    NBirth,
    NDeath,
    NData,
    NCmd,
    DBirth,
    DDeath,
    DData,
    DCmd,
}

impl MessageType {
    /// Every message type, in the order the specification lists them.
    pub const ALL: [MessageType; 8] = [
        MessageType::NBirth,
        MessageType::NDeath,
        MessageType::NData,
        MessageType::NCmd,
        MessageType::DBirth,
        MessageType::DDeath,
        MessageType::DData,
        MessageType::DCmd,
    ];

    /// The topic level, e.g. `"NBIRTH"`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NDeath => "NDEATH",
            MessageType::NData => "NDATA",
            MessageType::NCmd => "NCMD",
            MessageType::DBirth => "DBIRTH",
            MessageType::DDeath => "DDEATH",
            MessageType::DData => "DDATA",
            MessageType::DCmd => "DCMD",
        }
    }

    /// The message type for a topic level (exact, case-sensitive), if it is one.
    pub fn from_level(level: &str) -> Option<MessageType> {
        MessageType::ALL.into_iter().find(|kind| kind.as_str() == level)
    }

    /// Whether the message is about a device (its topic has a device level).
    pub fn is_device(self) -> bool {
        matches!(self, MessageType::DBirth | MessageType::DDeath | MessageType::DData | MessageType::DCmd)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The topic of an edge node or device message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageTopic {
    pub group: String,
    pub message_type: MessageType,
    pub node: String,
    /// Present exactly when `message_type` is a device message type.
    pub device: Option<String>,
}

impl MessageTopic {
    /// The topic of an edge node message (`message_type` must be an `N…` type); ids are checked.
    pub fn node(group: &str, message_type: MessageType, node: &str) -> Result<MessageTopic, TopicError> {
        MessageTopic::new(group, message_type, node, None)
    }

    /// The topic of a device message (`message_type` must be a `D…` type); ids are checked.
    pub fn device(
        group: &str,
        message_type: MessageType,
        node: &str,
        device: &str,
    ) -> Result<MessageTopic, TopicError> {
        MessageTopic::new(group, message_type, node, Some(device))
    }

    fn new(
        group: &str,
        message_type: MessageType,
        node: &str,
        device: Option<&str>,
    ) -> Result<MessageTopic, TopicError> {
        check_id(IdKind::Group, group)?;
        check_id(IdKind::EdgeNode, node)?;
        match (message_type.is_device(), device) {
            (true, Some(device)) => check_id(IdKind::Device, device)?,
            (false, None) => {}
            (true, None) => return Err(TopicError::MissingDevice { message_type }),
            (false, Some(_)) => return Err(TopicError::UnexpectedDevice { message_type }),
        }
        Ok(MessageTopic {
            group: group.to_owned(),
            message_type,
            node: node.to_owned(),
            device: device.map(str::to_owned),
        })
    }
}

impl fmt::Display for MessageTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{NAMESPACE}/{}/{}/{}", self.group, self.message_type, self.node)?;
        if let Some(device) = &self.device {
            write!(f, "/{device}")?;
        }
        Ok(())
    }
}

/// A Sparkplug B topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// An edge node or device message.
    Message(MessageTopic),
    /// `spBv1.0/STATE/<host id>`: a host application's online state (Sparkplug 3.0).
    State { host_id: String },
}

impl Topic {
    /// Parses a topic, naming the first level that is wrong.
    pub fn parse(topic: &str) -> Result<Topic, TopicError> {
        let levels: Vec<&str> = topic.split('/').collect();
        if levels[0] != NAMESPACE {
            return Err(TopicError::Namespace { found: levels[0].to_owned() });
        }
        if levels.len() < 3 {
            return Err(TopicError::TooShort { levels: levels.len() });
        }
        if levels[1] == STATE && levels.len() == 3 {
            check_id(IdKind::Host, levels[2])?;
            return Ok(Topic::State { host_id: levels[2].to_owned() });
        }
        check_id(IdKind::Group, levels[1])?;
        let message_type = MessageType::from_level(levels[2])
            .ok_or_else(|| TopicError::UnknownMessageType { found: levels[2].to_owned() })?;
        let expected = if message_type.is_device() { 5 } else { 4 };
        if levels.len() != expected {
            return Err(TopicError::LevelCount { message_type, expected, found: levels.len() });
        }
        MessageTopic::new(levels[1], message_type, levels[3], levels.get(4).copied()).map(Topic::Message)
    }

    /// The state topic of a host application; the id is checked.
    pub fn state(host_id: &str) -> Result<Topic, TopicError> {
        check_id(IdKind::Host, host_id)?;
        Ok(Topic::State { host_id: host_id.to_owned() })
    }
}

impl FromStr for Topic {
    type Err = TopicError;

    fn from_str(topic: &str) -> Result<Topic, TopicError> {
        Topic::parse(topic)
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Message(message) => message.fmt(f),
            Topic::State { host_id } => write!(f, "{NAMESPACE}/{STATE}/{host_id}"),
        }
    }
}

/// Which id of a topic is meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Group,
    EdgeNode,
    Device,
    Host,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Group => "group id",
            IdKind::EdgeNode => "edge node id",
            IdKind::Device => "device id",
            IdKind::Host => "host id",
        })
    }
}

/// Why a topic, or an id for one, is not valid Sparkplug B.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    #[error("the first level is `{found}`, not `spBv1.0`")]
    Namespace { found: String },
    #[error("{levels} level(s): a Sparkplug B topic has at least 3")]
    TooShort { levels: usize },
    #[error("`{found}` is not a Sparkplug B message type (NBIRTH, NDEATH, NDATA, NCMD, DBIRTH, DDEATH, DDATA, DCMD)")]
    UnknownMessageType { found: String },
    #[error("a {message_type} topic has {expected} levels, this one has {found}")]
    LevelCount { message_type: MessageType, expected: usize, found: usize },
    #[error("the {kind} is empty")]
    EmptyId { kind: IdKind },
    #[error("the {kind} `{id}` contains `{character}` (ids must not contain '/', '+' or '#')")]
    ForbiddenCharacter { kind: IdKind, id: String, character: char },
    #[error("a {message_type} topic needs a device id")]
    MissingDevice { message_type: MessageType },
    #[error("a {message_type} topic has no device id")]
    UnexpectedDevice { message_type: MessageType },
}

/// Checks a group, edge node, device or host id: non-empty, without `/`, `+` or `#`.
pub fn check_id(kind: IdKind, id: &str) -> Result<(), TopicError> {
    if id.is_empty() {
        return Err(TopicError::EmptyId { kind });
    }
    match id.chars().find(|c| matches!(c, '/' | '+' | '#')) {
        Some(character) => Err(TopicError::ForbiddenCharacter { kind, id: id.to_owned(), character }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_and_device_topics() {
        let topic = Topic::parse("spBv1.0/Plant1/NDATA/Line-3").unwrap();
        assert_eq!(
            topic,
            Topic::Message(MessageTopic {
                group: "Plant1".into(),
                message_type: MessageType::NData,
                node: "Line-3".into(),
                device: None,
            })
        );
        let topic = Topic::parse("spBv1.0/Plant1/DBIRTH/Line-3/Robot 7").unwrap();
        assert_eq!(
            topic,
            Topic::Message(MessageTopic {
                group: "Plant1".into(),
                message_type: MessageType::DBirth,
                node: "Line-3".into(),
                device: Some("Robot 7".into()),
            })
        );
    }

    #[test]
    fn every_message_type_round_trips() {
        for message_type in MessageType::ALL {
            let topic = if message_type.is_device() {
                MessageTopic::device("g", message_type, "n", "d").unwrap()
            } else {
                MessageTopic::node("g", message_type, "n").unwrap()
            };
            let text = topic.to_string();
            assert_eq!(Topic::parse(&text).unwrap(), Topic::Message(topic.clone()));
            assert!(text.starts_with("spBv1.0/g/"));
            assert!(text.contains(message_type.as_str()));
        }
        assert_eq!(MessageTopic::device("g", MessageType::DCmd, "n", "d").unwrap().to_string(), "spBv1.0/g/DCMD/n/d");
    }

    #[test]
    fn parses_and_formats_state_topics() {
        assert_eq!(Topic::parse("spBv1.0/STATE/scada-1").unwrap(), Topic::State { host_id: "scada-1".into() });
        assert_eq!(Topic::state("twinloom").unwrap().to_string(), "spBv1.0/STATE/twinloom");
        assert_eq!(
            Topic::parse("spBv1.0/STATE/a+b").unwrap_err(),
            TopicError::ForbiddenCharacter { kind: IdKind::Host, id: "a+b".into(), character: '+' }
        );
    }

    #[test]
    fn parse_errors_name_the_wrong_level() {
        assert_eq!(Topic::parse("spAv1.0/g/NDATA/n").unwrap_err(), TopicError::Namespace { found: "spAv1.0".into() });
        assert_eq!(Topic::parse("spBv1.0/g").unwrap_err(), TopicError::TooShort { levels: 2 });
        assert_eq!(
            Topic::parse("spBv1.0/g/NDAT/n").unwrap_err(),
            TopicError::UnknownMessageType { found: "NDAT".into() }
        );
        assert_eq!(
            Topic::parse("spBv1.0/g/DDATA/n").unwrap_err(),
            TopicError::LevelCount { message_type: MessageType::DData, expected: 5, found: 4 }
        );
        assert_eq!(
            Topic::parse("spBv1.0/g/NDATA/n/d").unwrap_err(),
            TopicError::LevelCount { message_type: MessageType::NData, expected: 4, found: 5 }
        );
        assert_eq!(Topic::parse("spBv1.0/g/NDATA/").unwrap_err(), TopicError::EmptyId { kind: IdKind::EdgeNode });
        assert_eq!(
            Topic::parse("spBv1.0/g#/NDATA/n").unwrap_err(),
            TopicError::ForbiddenCharacter { kind: IdKind::Group, id: "g#".into(), character: '#' }
        );
        assert_eq!(
            Topic::parse("spBv1.0/g/DDATA/n/+").unwrap_err(),
            TopicError::ForbiddenCharacter { kind: IdKind::Device, id: "+".into(), character: '+' }
        );
        let message = Topic::parse("spBv1.0/g/DDATA/n").unwrap_err().to_string();
        assert_eq!(message, "a DDATA topic has 5 levels, this one has 4");
    }

    #[test]
    fn constructors_check_ids_and_device_presence() {
        assert_eq!(
            MessageTopic::node("g/h", MessageType::NBirth, "n").unwrap_err(),
            TopicError::ForbiddenCharacter { kind: IdKind::Group, id: "g/h".into(), character: '/' }
        );
        assert_eq!(
            MessageTopic::node("g", MessageType::DBirth, "n").unwrap_err(),
            TopicError::MissingDevice { message_type: MessageType::DBirth }
        );
        assert_eq!(
            MessageTopic::device("g", MessageType::NBirth, "n", "d").unwrap_err(),
            TopicError::UnexpectedDevice { message_type: MessageType::NBirth }
        );
        assert_eq!(Topic::state("").unwrap_err(), TopicError::EmptyId { kind: IdKind::Host });
    }
}
