//! The simulator's Sparkplug B edge nodes, through Debian's mosquitto and through the embedded broker:
//! a subscriber decodes every NBIRTH, DBIRTH and DDATA (alias-only data resolved by the births), and the
//! last value of every metric equals the plant model's value after the same number of ticks (replayed
//! here), so Sparkplug says what OPC UA and Modbus say. A rebirth request is answered with new births.
//! The embedded broker keeps retained messages and publishes wills (what Sparkplug's STATE and NDEATH
//! need).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use twinloom_simulator::sparkplug::{edge_metrics, GROUP};
use twinloom_simulator::{PlantModel, SimConfig, SimValue, Simulator};
use twinloom_sparkplug::{DataType, MessageType, MetricValue, Payload, PayloadBuilder, Topic};

const TICKS: u64 = 40;

#[derive(Default)]
struct Seen {
    nbirths: BTreeMap<String, usize>,
    /// (node, device, alias) → metric name, from the DBIRTHs.
    names: HashMap<(String, String, u64), String>,
    /// "node/device/metric" → last value.
    values: BTreeMap<String, f64>,
    ddata: usize,
}

impl Seen {
    fn take(&mut self, topic: &str, payload: &[u8]) {
        let Ok(Topic::Message(t)) = Topic::parse(topic) else { return };
        let p = Payload::decode(payload).expect("a Sparkplug payload");
        match (t.message_type, t.device) {
            (MessageType::NBirth, None) => *self.nbirths.entry(t.node).or_default() += 1,
            (MessageType::DBirth, Some(d)) => {
                for m in p.metrics {
                    let name = m.name.expect("births carry names");
                    self.names.insert((t.node.clone(), d.clone(), m.alias.expect("an alias")), name.clone());
                    self.set(&format!("{}/{d}/{name}", t.node), &m.value);
                }
            }
            (MessageType::DData, Some(d)) => {
                self.ddata += 1;
                for m in p.metrics {
                    assert!(m.name.is_none(), "data by alias only");
                    let key = (t.node.clone(), d.clone(), m.alias.expect("an alias"));
                    let name = self.names.get(&key).unwrap_or_else(|| panic!("alias {key:?} was never born")).clone();
                    self.set(&format!("{}/{d}/{name}", t.node), &m.value);
                }
            }
            _ => {}
        }
    }

    fn set(&mut self, key: &str, v: &MetricValue) {
        let MetricValue::Float(x) = v else { panic!("{key}: {v:?} is not a double") };
        self.values.insert(key.to_string(), *x);
    }
}

/// Runs the simulator for [`TICKS`] ticks against the broker at `broker` while a subscriber listens;
/// checks what it heard against the replayed model.
fn check_against(broker: SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut opts = MqttOptions::new("sparkplug-test-host", broker.ip().to_string(), broker.port());
        opts.set_max_packet_size(16 << 20, 16 << 20);
        let (client, mut events) = AsyncClient::new(opts, 1024);
        client.subscribe(format!("spBv1.0/{GROUP}/#"), QoS::AtLeastOnce).await.unwrap();
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.expect("subscribed") {
                break;
            }
        }
        let cfg = SimConfig {
            port: 0,
            signals: 0,
            update_hz: 20.0,
            max_ticks: Some(TICKS),
            mqtt_broker: Some(broker),
            ..SimConfig::default()
        };
        let sim = Simulator::start(cfg.clone()).await.expect("simulator");
        let mut seen = Seen::default();
        let mut rebirth_asked = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        // Until the model stopped and the last DDATA came in (a quiet second), asking one rebirth on the way.
        loop {
            assert!(Instant::now() < deadline, "the edge nodes went on too long");
            match tokio::time::timeout(Duration::from_secs(1), events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => seen.take(&p.topic, &p.payload),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => panic!("subscriber: {e}"),
                Err(_) if sim.stats().ticks.load(std::sync::atomic::Ordering::Relaxed) >= TICKS => break,
                Err(_) => {}
            }
            if !rebirth_asked && seen.ddata > 10 {
                let mut b = PayloadBuilder::new(Some(1), None);
                b.data_metric_by_name("Node Control/Rebirth", DataType::Boolean, &MetricValue::Bool(true)).unwrap();
                client
                    .publish(format!("spBv1.0/{GROUP}/NCMD/Paint"), QoS::AtLeastOnce, false, b.encode())
                    .await
                    .unwrap();
                rebirth_asked = true;
            }
        }
        sim.shutdown().await;
        assert_eq!(seen.nbirths.get("Paint"), Some(&2), "the rebirth request was answered: {:?}", seen.nbirths);
        assert!(seen.ddata > 0);

        // The model replayed to the same tick.
        let mut model = PlantModel::new(&cfg.model_config());
        for _ in 0..TICKS {
            model.step();
        }
        let metrics = edge_metrics(model.infos());
        let mut nodes: Vec<&str> = metrics.iter().map(|m| m.node.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        assert_eq!(nodes, ["BIW", "Paint"], "the shops with condition or energy signals");
        assert!(seen.nbirths.keys().eq(nodes.iter()), "one edge node per shop: {:?}", seen.nbirths);
        assert_eq!(seen.values.len(), metrics.len(), "every published signal was heard");
        for m in metrics {
            let SimValue::Double(want) = model.values()[m.signal as usize] else { panic!("{m:?} is not a double") };
            let key = format!("{}/{}/{}", m.node, m.device, m.metric);
            assert_eq!(seen.values.get(&key), Some(&want), "{key}");
        }
    });
}

#[test]
fn edge_nodes_through_mosquitto_say_what_the_model_says() {
    let port = twinloom_tests::free_port();
    let _broker = twinloom_tests::start_mosquitto(port);
    check_against(SocketAddr::from(([127, 0, 0, 1], port)));
}

#[test]
fn edge_nodes_through_the_embedded_broker_say_what_the_model_says() {
    let broker = twinloom_simulator::broker::start_embedded_broker("127.0.0.1").expect("embedded broker");
    check_against(broker.addr);
}

#[test]
fn the_embedded_broker_keeps_retained_messages_and_publishes_wills() {
    let broker = twinloom_simulator::broker::start_embedded_broker("127.0.0.1").expect("embedded broker");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let opts = |id: &str| MqttOptions::new(id, broker.addr.ip().to_string(), broker.addr.port());
        // A client with a will publishes a retained message, then dies without DISCONNECT.
        let mut o = opts("dies");
        o.set_last_will(rumqttc::LastWill::new("t/will", "gone", QoS::AtLeastOnce, false));
        let (dying, mut dying_events) = AsyncClient::new(o, 16);
        dying.publish("t/retained", QoS::AtLeastOnce, true, "kept").await.unwrap();
        loop {
            if let Event::Incoming(Packet::PubAck(_)) = dying_events.poll().await.expect("connected") {
                break;
            }
        }
        // A later subscriber gets the retained message, then the will when the first client's socket goes.
        let (client, mut events) = AsyncClient::new(opts("watcher"), 16);
        client.subscribe("t/#", QoS::AtLeastOnce).await.unwrap();
        let mut got = Vec::new();
        let mut dropped = false;
        let deadline = Instant::now() + Duration::from_secs(20);
        while got.len() < 2 {
            assert!(Instant::now() < deadline, "only {got:?}");
            if let Ok(Ok(Event::Incoming(Packet::Publish(p)))) =
                tokio::time::timeout(Duration::from_millis(200), events.poll()).await
            {
                got.push((p.topic.clone(), String::from_utf8_lossy(&p.payload).to_string(), p.retain));
            }
            if !got.is_empty() && !dropped {
                drop(std::mem::replace(&mut dying_events, AsyncClient::new(opts("unused"), 1).1));
                dropped = true;
            }
        }
        assert_eq!(got[0], ("t/retained".to_string(), "kept".to_string(), true));
        assert_eq!((got[1].0.as_str(), got[1].1.as_str()), ("t/will", "gone"));
    });
}
