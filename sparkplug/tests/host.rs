//! The host application session against messages from `EdgeNodeSession` and hand-built payloads: births,
//! aliases, sequence numbers and the reorder window, deaths, rebirth requests and problems.

use std::time::{Duration, Instant};

use twinloom_sparkplug::payload::{death_payload, PayloadBuilder};
use twinloom_sparkplug::{
    DataType, EdgeMessage, EdgeNodeSession, Host, HostConfig, HostEvent, MetricDefinition, MetricUpdate, MetricValue,
    Payload, ProblemReason,
};

const NBIRTH: &str = "spBv1.0/Plant1/NBIRTH/Line3";
const NDATA: &str = "spBv1.0/Plant1/NDATA/Line3";
const NDEATH: &str = "spBv1.0/Plant1/NDEATH/Line3";

fn host() -> Host {
    let mut config = HostConfig::new("twinloom");
    config.rebirth_min_interval = Duration::from_secs(5);
    Host::new(config).unwrap()
}

fn handle(host: &mut Host, topic: &str, payload: &[u8], now: Instant) -> Vec<HostEvent> {
    let mut events = Vec::new();
    host.handle(topic, payload, now, &mut events);
    events
}

fn feed(host: &mut Host, message: &EdgeMessage, now: Instant) -> Vec<HostEvent> {
    handle(host, &message.topic, &message.payload, now)
}

fn edge() -> EdgeNodeSession {
    let mut session = EdgeNodeSession::new(
        "Plant1",
        "Line3",
        vec![MetricDefinition::new("Speed", 1, DataType::Double), MetricDefinition::new("Mode", 2, DataType::Int8)],
    )
    .unwrap();
    session
        .add_device(
            "Robot7",
            vec![
                MetricDefinition::new("Joint1", 10, DataType::Float),
                MetricDefinition::new("Fault", 11, DataType::Int16),
            ],
        )
        .unwrap();
    session
}

fn values(device: Option<&str>, updates: &[(&str, MetricValue, u64)]) -> HostEvent {
    HostEvent::Values {
        group: "Plant1".into(),
        node: "Line3".into(),
        device: device.map(str::to_owned),
        values: updates
            .iter()
            .map(|(name, value, timestamp)| MetricUpdate {
                name: (*name).to_owned(),
                value: value.clone(),
                timestamp_ms: Some(*timestamp),
            })
            .collect(),
    }
}

fn rebirth() -> HostEvent {
    HostEvent::RequestRebirth { group: "Plant1".into(), node: "Line3".into() }
}

fn dead(device: Option<&str>) -> HostEvent {
    HostEvent::Dead { group: "Plant1".into(), node: "Line3".into(), device: device.map(str::to_owned) }
}

/// The reasons of the problems among the events.
fn problems(events: &[HostEvent]) -> Vec<ProblemReason> {
    events
        .iter()
        .filter_map(|event| match event {
            HostEvent::Problem { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

fn problem_message(events: &[HostEvent]) -> String {
    events
        .iter()
        .find_map(|event| match event {
            HostEvent::Problem { message, .. } => Some(message.clone()),
            _ => None,
        })
        .unwrap()
}

/// An NBIRTH with bdSeq, Speed (alias 1, Double) and Mode (alias 2, Int8) at this seq.
fn nbirth(seq: u64, bd_seq: u64) -> Vec<u8> {
    let mut builder = PayloadBuilder::new(Some(100), Some(seq));
    builder.birth_metric("bdSeq", None, DataType::UInt64, &MetricValue::UInt(bd_seq)).unwrap();
    builder.birth_metric("Speed", Some(1), DataType::Double, &MetricValue::Float(1.0)).unwrap();
    builder.birth_metric("Mode", Some(2), DataType::Int8, &MetricValue::Int(-1)).unwrap();
    builder.encode()
}

/// An NDATA setting Speed (by alias) at this seq.
fn ndata(seq: u64, speed: f64) -> Vec<u8> {
    let mut builder = PayloadBuilder::new(Some(200 + seq), Some(seq));
    builder.data_metric_by_alias(1, DataType::Double, &MetricValue::Float(speed)).unwrap();
    builder.encode()
}

fn speed(seq: u64, speed: f64) -> HostEvent {
    values(None, &[("Speed", MetricValue::Float(speed), 200 + seq)])
}

#[test]
fn edge_session_messages_decode_end_to_end() {
    let mut edge = edge();
    let mut host = host();
    let now = Instant::now();
    edge.begin_session();
    edge.set_values(None, &[(1, MetricValue::Float(12.5)), (2, MetricValue::Int(-7))]).unwrap();
    edge.set_values(Some("Robot7"), &[(11, MetricValue::Int(-300))]).unwrap();
    let births = edge.births(1000).unwrap();
    let mut events = feed(&mut host, &births[0], now);
    events.extend(feed(&mut host, &births[1], now));
    assert_eq!(
        events,
        vec![
            HostEvent::Born {
                group: "Plant1".into(),
                node: "Line3".into(),
                device: None,
                metrics: vec![
                    ("Node Control/Rebirth".into(), DataType::Boolean),
                    ("Speed".into(), DataType::Double),
                    ("Mode".into(), DataType::Int8),
                ],
            },
            values(
                None,
                &[
                    ("Node Control/Rebirth", MetricValue::Bool(false), 1000),
                    ("Speed", MetricValue::Float(12.5), 1000),
                    ("Mode", MetricValue::Int(-7), 1000),
                ]
            ),
            HostEvent::Born {
                group: "Plant1".into(),
                node: "Line3".into(),
                device: Some("Robot7".into()),
                metrics: vec![("Joint1".into(), DataType::Float), ("Fault".into(), DataType::Int16)],
            },
            values(Some("Robot7"), &[("Joint1", MetricValue::Null, 1000), ("Fault", MetricValue::Int(-300), 1000)]),
        ]
    );
    assert!(host.is_online("Plant1", "Line3"));
    assert_eq!(host.online_devices("Plant1", "Line3"), vec!["Robot7".to_owned()]);

    // Data by alias only, no datatype on the wire: the birth's datatype gives the sign back.
    let message = edge.node_data(2000, &[(2, MetricValue::Int(-128))]).unwrap();
    assert_eq!(feed(&mut host, &message, now), vec![values(None, &[("Mode", MetricValue::Int(-128), 2000)])]);
    let message =
        edge.device_data("Robot7", 2001, &[(10, MetricValue::Float(0.25)), (11, MetricValue::Int(-2))]).unwrap();
    assert_eq!(
        feed(&mut host, &message, now),
        vec![values(
            Some("Robot7"),
            &[("Joint1", MetricValue::Float(0.25), 2001), ("Fault", MetricValue::Int(-2), 2001)]
        )]
    );
    let message = edge.device_death("Robot7", 2002).unwrap();
    assert_eq!(feed(&mut host, &message, now), vec![dead(Some("Robot7"))]);
    assert!(host.online_devices("Plant1", "Line3").is_empty());
    assert_eq!(feed(&mut host, &edge.will(), now), vec![dead(None)]);
    assert!(!host.is_online("Plant1", "Line3"));
}

#[test]
fn sequence_numbers_wrap_from_255_to_0() {
    let mut host = host();
    let now = Instant::now();
    let events = handle(&mut host, NBIRTH, &nbirth(254, 0), now);
    assert_eq!(problems(&events), vec![]);
    assert_eq!(handle(&mut host, NDATA, &ndata(255, 2.0), now), vec![speed(255, 2.0)]);
    assert_eq!(handle(&mut host, NDATA, &ndata(0, 3.0), now), vec![speed(0, 3.0)]);
    assert_eq!(handle(&mut host, NDATA, &ndata(1, 4.0), now), vec![speed(1, 4.0)]);
    assert_eq!(host.next_deadline(), None);
}

#[test]
fn edge_session_seq_wrap_is_followed_by_the_host() {
    let mut edge = edge();
    let mut host = host();
    let now = Instant::now();
    edge.begin_session();
    for message in edge.births(0).unwrap() {
        feed(&mut host, &message, now);
    }
    for step in 0..600u64 {
        let message = edge.node_data(step, &[(1, MetricValue::Float(step as f64))]).unwrap();
        assert_eq!(
            feed(&mut host, &message, now),
            vec![values(None, &[("Speed", MetricValue::Float(step as f64), step)])]
        );
    }
}

#[test]
fn a_gap_healed_within_the_timeout_applies_everything_in_order() {
    let mut host = host();
    let start = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), start);
    // 2 and 3 arrive before 1: they wait.
    assert_eq!(handle(&mut host, NDATA, &ndata(2, 2.0), start), vec![]);
    assert_eq!(host.next_deadline(), Some(start + Duration::from_secs(2)));
    assert_eq!(handle(&mut host, NDATA, &ndata(3, 3.0), start + Duration::from_millis(100)), vec![]);
    let mut events = Vec::new();
    host.poll(start + Duration::from_millis(1500), &mut events);
    assert_eq!(events, vec![]);
    // 1 arrives late but in time: 1, 2, 3 in order, no problem, no rebirth request.
    assert_eq!(
        handle(&mut host, NDATA, &ndata(1, 1.0), start + Duration::from_millis(1900)),
        vec![speed(1, 1.0), speed(2, 2.0), speed(3, 3.0)]
    );
    assert_eq!(host.next_deadline(), None);
    host.poll(start + Duration::from_secs(10), &mut events);
    assert_eq!(events, vec![]);
    assert_eq!(handle(&mut host, NDATA, &ndata(4, 4.0), start + Duration::from_secs(10)), vec![speed(4, 4.0)]);
}

#[test]
fn a_gap_not_healed_gives_seq_gap_and_one_rebirth_request() {
    let mut host = host();
    let start = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), start);
    assert_eq!(handle(&mut host, NDATA, &ndata(2, 2.0), start), vec![]);
    assert_eq!(handle(&mut host, NDATA, &ndata(3, 3.0), start + Duration::from_millis(500)), vec![]);
    let deadline = host.next_deadline().unwrap();
    assert_eq!(deadline, start + Duration::from_secs(2));
    let mut events = Vec::new();
    host.poll(deadline - Duration::from_millis(1), &mut events);
    assert_eq!(events, vec![]);
    host.poll(deadline, &mut events);
    assert_eq!(problems(&events), vec![ProblemReason::SeqGap]);
    assert_eq!(events[1], rebirth());
    assert_eq!(events.len(), 2);
    assert_eq!(
        problem_message(&events),
        "spBv1.0/Plant1/NDATA/Line3: seq 1 did not arrive within 2s; 2 later message(s) dropped"
    );
    assert_eq!(host.next_deadline(), None);
    // Polling again does nothing; the next message starts the count again.
    events.clear();
    host.poll(deadline + Duration::from_secs(1), &mut events);
    assert_eq!(events, vec![]);
    assert_eq!(handle(&mut host, NDATA, &ndata(9, 9.0), deadline), vec![speed(9, 9.0)]);
    assert_eq!(handle(&mut host, NDATA, &ndata(10, 10.0), deadline), vec![speed(10, 10.0)]);
    // The node re-births: back to normal.
    let events = handle(&mut host, NBIRTH, &nbirth(0, 0), deadline + Duration::from_secs(1));
    assert_eq!(problems(&events), vec![]);
}

#[test]
fn an_expired_gap_fires_before_the_next_message_is_handled() {
    let mut host = host();
    let start = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), start);
    handle(&mut host, NDATA, &ndata(2, 2.0), start);
    // No poll: the message after the deadline first expires the gap, then starts the count again.
    let events = handle(&mut host, NDATA, &ndata(1, 1.0), start + Duration::from_secs(3));
    assert_eq!(problems(&events), vec![ProblemReason::SeqGap]);
    assert_eq!(events[1..], [rebirth(), speed(1, 1.0)]);
}

#[test]
fn a_full_reorder_buffer_gives_up_at_once() {
    let mut config = HostConfig::new("twinloom");
    config.max_buffered_per_node = 3;
    let mut host = Host::new(config).unwrap();
    let now = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    for seq in 2..5 {
        assert_eq!(handle(&mut host, NDATA, &ndata(seq, 0.0), now), vec![]);
    }
    let events = handle(&mut host, NDATA, &ndata(5, 0.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::SeqGap]);
    assert_eq!(events[1], rebirth());
    assert_eq!(host.next_deadline(), None);
}

#[test]
fn data_by_alias_by_name_and_by_both() {
    let mut host = host();
    let now = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    let mut builder = PayloadBuilder::new(Some(300), Some(1));
    builder.data_metric_by_alias(2, DataType::Int8, &MetricValue::Int(-5)).unwrap();
    builder.data_metric_by_name("Speed", DataType::Double, &MetricValue::Float(6.0)).unwrap();
    // Name and alias: the alias decides (the name here is even wrong).
    let both = Payload {
        timestamp: None,
        seq: None,
        metrics: vec![twinloom_sparkplug::Metric {
            name: Some("Not the name".into()),
            alias: Some(1),
            timestamp: Some(301),
            datatype: DataType::Double,
            value: MetricValue::Float(7.0),
            is_historical: false,
            is_transient: false,
        }],
    };
    builder.metric(&both.metrics[0]).unwrap();
    assert_eq!(
        handle(&mut host, NDATA, &builder.encode(), now),
        vec![values(
            None,
            &[
                ("Mode", MetricValue::Int(-5), 300),
                ("Speed", MetricValue::Float(6.0), 300),
                ("Speed", MetricValue::Float(7.0), 301)
            ]
        )]
    );
}

#[test]
fn unknown_alias_and_unknown_name_ask_for_a_rebirth_at_most_once_per_interval() {
    let mut host = host();
    let start = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), start);
    let mut builder = PayloadBuilder::new(Some(300), Some(1));
    builder.data_metric_by_alias(1, DataType::Double, &MetricValue::Float(1.5)).unwrap();
    builder.data_metric_by_alias(42, DataType::Double, &MetricValue::Float(2.0)).unwrap();
    let events = handle(&mut host, NDATA, &builder.encode(), start);
    // The rest of the message still applies.
    assert_eq!(events[0], values(None, &[("Speed", MetricValue::Float(1.5), 300)]));
    assert_eq!(problems(&events), vec![ProblemReason::UnknownAlias]);
    assert_eq!(problem_message(&events), "spBv1.0/Plant1/NDATA/Line3: alias 42 is not defined by the birth");
    assert_eq!(events[2], rebirth());
    assert_eq!(events.len(), 3);

    let mut builder = PayloadBuilder::new(Some(300), Some(2));
    builder.data_metric_by_name("Torque", DataType::Double, &MetricValue::Float(2.0)).unwrap();
    let events = handle(&mut host, NDATA, &builder.encode(), start + Duration::from_secs(1));
    assert_eq!(problems(&events), vec![ProblemReason::UnknownMetric]);
    assert_eq!(events.len(), 1, "no second rebirth request within the interval: {events:?}");

    let mut builder = PayloadBuilder::new(Some(300), Some(3));
    builder.data_metric_by_alias(43, DataType::Double, &MetricValue::Float(2.0)).unwrap();
    let events = handle(&mut host, NDATA, &builder.encode(), start + Duration::from_secs(5));
    assert_eq!(problems(&events), vec![ProblemReason::UnknownAlias]);
    assert_eq!(events[1], rebirth());
}

#[test]
fn data_before_birth_asks_for_a_rebirth() {
    let mut host = host();
    let now = Instant::now();
    let events = handle(&mut host, NDATA, &ndata(1, 1.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::DataBeforeBirth]);
    assert_eq!(
        problem_message(&events),
        "spBv1.0/Plant1/NDATA/Line3: NDATA from an edge node that has not sent an NBIRTH"
    );
    assert_eq!(events[1], rebirth());
    let events = handle(&mut host, "spBv1.0/Plant1/DBIRTH/Line3/Robot7", &ndata(2, 1.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::DataBeforeBirth]);
    assert_eq!(events.len(), 1);
    // A DDATA of a device without DBIRTH, on a born node.
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    let events = handle(&mut host, "spBv1.0/Plant1/DDATA/Line3/Robot7", &ndata(1, 1.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::DataBeforeBirth]);
    assert_eq!(events[1], rebirth());
}

#[test]
fn a_stale_ndeath_is_ignored() {
    let mut host = host();
    let now = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 5), now);
    let events = handle(&mut host, NDEATH, &death_payload(4, None), now);
    assert_eq!(problems(&events), vec![ProblemReason::StaleDeath]);
    assert_eq!(events.len(), 1);
    assert_eq!(
        problem_message(&events),
        "spBv1.0/Plant1/NDEATH/Line3: NDEATH bdSeq 4 is not the NBIRTH's bdSeq 5; ignored"
    );
    assert!(host.is_online("Plant1", "Line3"));
    assert_eq!(handle(&mut host, NDATA, &ndata(1, 1.0), now), vec![speed(1, 1.0)]);
    // Without bdSeq: ignored too.
    let events = handle(&mut host, NDEATH, &PayloadBuilder::new(None, None).encode(), now);
    assert_eq!(problems(&events), vec![ProblemReason::MissingBdSeq]);
    assert!(host.is_online("Plant1", "Line3"));
}

#[test]
fn a_matching_ndeath_kills_the_node_and_its_devices_and_a_rebirth_brings_values_back() {
    let mut edge = edge();
    let mut host = host();
    let now = Instant::now();
    edge.begin_session();
    edge.set_values(None, &[(1, MetricValue::Float(3.0))]).unwrap();
    for message in edge.births(10).unwrap() {
        feed(&mut host, &message, now);
    }
    assert_eq!(feed(&mut host, &edge.will(), now), vec![dead(None)]);
    assert!(!host.is_online("Plant1", "Line3"));
    assert!(host.online_devices("Plant1", "Line3").is_empty());
    // A second (repeated) death changes nothing.
    assert_eq!(feed(&mut host, &edge.will(), now), vec![]);
    // Data after the death: not born.
    let events = handle(&mut host, NDATA, &ndata(1, 1.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::DataBeforeBirth]);
    assert!(problem_message(&events).ends_with("NDATA from an edge node that is dead (NDEATH) and not born again"));

    // Reconnect: a new session with the next bdSeq; the old session's will no longer kills it.
    let old_will = edge.will();
    edge.begin_session();
    let births = edge.births(20).unwrap();
    let events = feed(&mut host, &births[0], now);
    assert!(matches!(&events[0], HostEvent::Born { device: None, .. }));
    assert_eq!(
        events[1],
        values(
            None,
            &[
                ("Node Control/Rebirth", MetricValue::Bool(false), 20),
                ("Speed", MetricValue::Float(3.0), 20),
                ("Mode", MetricValue::Null, 20),
            ]
        )
    );
    assert!(
        matches!(&feed(&mut host, &births[1], now)[0], HostEvent::Born { device: Some(device), .. } if device == "Robot7")
    );
    assert_eq!(problems(&feed(&mut host, &old_will, now)), vec![ProblemReason::StaleDeath]);
    assert!(host.is_online("Plant1", "Line3"));
}

#[test]
fn an_nbirth_on_an_online_node_makes_its_devices_dead_until_they_rebirth() {
    let mut edge = edge();
    let mut host = host();
    let now = Instant::now();
    edge.begin_session();
    for message in edge.births(0).unwrap() {
        feed(&mut host, &message, now);
    }
    let births = edge.births(1).unwrap();
    let events = feed(&mut host, &births[0], now);
    assert_eq!(events[0], dead(Some("Robot7")));
    assert!(matches!(&events[1], HostEvent::Born { device: None, .. }));
    assert!(host.online_devices("Plant1", "Line3").is_empty());
    feed(&mut host, &births[1], now);
    assert_eq!(host.online_devices("Plant1", "Line3"), vec!["Robot7".to_owned()]);
}

#[test]
fn historical_metrics_are_reported_apart_from_the_current_values() {
    let mut host = host();
    let now = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    let historical = |timestamp, value| twinloom_sparkplug::Metric {
        name: None,
        alias: Some(1),
        timestamp: Some(timestamp),
        datatype: DataType::Unknown(0),
        value: MetricValue::Float(value),
        is_historical: true,
        is_transient: false,
    };
    let mut builder = PayloadBuilder::new(Some(500), Some(1));
    builder.metric(&historical(10, 1.0)).unwrap();
    builder.metric(&historical(20, 2.0)).unwrap();
    builder.data_metric_by_alias(1, DataType::Double, &MetricValue::Float(3.0)).unwrap();
    assert_eq!(
        handle(&mut host, NDATA, &builder.encode(), now),
        vec![
            values(None, &[("Speed", MetricValue::Float(3.0), 500)]),
            HostEvent::Historical {
                group: "Plant1".into(),
                node: "Line3".into(),
                device: None,
                values: vec![
                    MetricUpdate { name: "Speed".into(), value: MetricValue::Float(1.0), timestamp_ms: Some(10) },
                    MetricUpdate { name: "Speed".into(), value: MetricValue::Float(2.0), timestamp_ms: Some(20) },
                ],
            },
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_reported_and_the_rest_applies() {
    let mut host = host();
    let now = Instant::now();
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    let mut builder = PayloadBuilder::new(Some(400), Some(1));
    builder.data_metric_by_alias(1, DataType::String, &MetricValue::String("fast".into())).unwrap();
    builder.data_metric_by_alias(2, DataType::Int8, &MetricValue::Int(3)).unwrap();
    let events = handle(&mut host, NDATA, &builder.encode(), now);
    assert_eq!(events[0], values(None, &[("Mode", MetricValue::Int(3), 400)]));
    assert_eq!(problems(&events), vec![ProblemReason::WrongType]);
    assert_eq!(
        problem_message(&events),
        "spBv1.0/Plant1/NDATA/Line3: metric `Speed` is Double but carries a string \"fast\""
    );
    assert_eq!(events.len(), 2, "no rebirth request for a wrong type: {events:?}");
}

#[test]
fn unsupported_types_are_reported_never_crash() {
    let mut host = host();
    let now = Instant::now();
    let mut builder = PayloadBuilder::new(Some(100), Some(0));
    builder.birth_metric("bdSeq", None, DataType::UInt64, &MetricValue::UInt(0)).unwrap();
    builder.birth_metric("Speed", Some(1), DataType::Double, &MetricValue::Float(1.0)).unwrap();
    let table = twinloom_sparkplug::Metric {
        name: Some("Recipe".into()),
        alias: Some(2),
        timestamp: None,
        datatype: DataType::Int32Array,
        value: MetricValue::Null,
        is_historical: false,
        is_transient: false,
    };
    builder.metric(&table).unwrap();
    let events = handle(&mut host, NBIRTH, &builder.encode(), now);
    assert_eq!(
        events[0],
        HostEvent::Born {
            group: "Plant1".into(),
            node: "Line3".into(),
            device: None,
            metrics: vec![("Speed".into(), DataType::Double), ("Recipe".into(), DataType::Int32Array)],
        }
    );
    assert_eq!(events[1], values(None, &[("Speed", MetricValue::Float(1.0), 100)]));
    assert_eq!(problems(&events), vec![ProblemReason::UnsupportedType]);
    assert_eq!(problem_message(&events), "spBv1.0/Plant1/NBIRTH/Line3: metric `Recipe` is Int32Array, skipped");
}

#[test]
fn malformed_payloads_bad_topics_and_state_messages() {
    let mut host = host();
    let now = Instant::now();
    let events = handle(&mut host, NDATA, &[0x0A, 0xFF, 0x01], now);
    assert_eq!(problems(&events), vec![ProblemReason::MalformedPayload]);
    assert!(problem_message(&events).starts_with("spBv1.0/Plant1/NDATA/Line3: not a Sparkplug B protobuf payload"));
    assert!(matches!(&events[0], HostEvent::Problem { group: Some(group), node: Some(node), device: None, .. }
        if group == "Plant1" && node == "Line3"));
    let events = handle(&mut host, "spBv1.0/Plant1/NDATUM/Line3", &ndata(1, 1.0), now);
    assert_eq!(problems(&events), vec![ProblemReason::BadTopic]);
    assert!(matches!(&events[0], HostEvent::Problem { group: None, node: None, device: None, .. }));
    // Another host's STATE, and commands: ignored.
    assert_eq!(handle(&mut host, "spBv1.0/STATE/other-host", b"{\"online\":true,\"timestamp\":1}", now), vec![]);
    assert_eq!(handle(&mut host, "spBv1.0/Plant1/NCMD/Line3", &[0xFF], now), vec![]);
    // A born node: a message without seq is malformed.
    handle(&mut host, NBIRTH, &nbirth(0, 0), now);
    let events = handle(&mut host, NDATA, &PayloadBuilder::new(None, None).encode(), now);
    assert_eq!(problems(&events), vec![ProblemReason::MalformedPayload]);
    assert_eq!(problem_message(&events), "spBv1.0/Plant1/NDATA/Line3: NDATA has no seq");
    let events = handle(&mut host, NBIRTH, &PayloadBuilder::new(None, Some(300)).encode(), now);
    assert_eq!(problem_message(&events), "spBv1.0/Plant1/NBIRTH/Line3: NBIRTH seq 300 is not in 0..=255");
}

#[test]
fn nbirth_without_bd_seq_is_accepted_with_a_problem() {
    let mut host = host();
    let now = Instant::now();
    let mut builder = PayloadBuilder::new(Some(100), Some(0));
    builder.birth_metric("Speed", Some(1), DataType::Double, &MetricValue::Float(1.0)).unwrap();
    let events = handle(&mut host, NBIRTH, &builder.encode(), now);
    assert_eq!(problems(&events), vec![ProblemReason::MissingBdSeq]);
    assert!(host.is_online("Plant1", "Line3"));
    // Any NDEATH ends such a node.
    assert_eq!(handle(&mut host, NDEATH, &death_payload(3, None), now), vec![dead(None)]);
}

#[test]
fn state_topic_and_payload() {
    assert_eq!(Host::state_topic("twinloom"), "spBv1.0/STATE/twinloom");
    assert_eq!(Host::state_payload(true, 1_700_000_000_000), b"{\"online\":true,\"timestamp\":1700000000000}");
    assert_eq!(Host::state_payload(false, 5), b"{\"online\":false,\"timestamp\":5}");
    assert!(Host::new(HostConfig::new("a/b")).is_err());
    assert_eq!(ProblemReason::SeqGap.as_str(), "seq_gap");
    assert_eq!(ProblemReason::StaleDeath.as_str(), "stale_death");
}
