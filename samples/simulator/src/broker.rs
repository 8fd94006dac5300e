//! The demo's embedded MQTT broker: Bytebeam's rumqttd (pure Rust, MQTT 3.1.1, built without TLS and
//! websockets), in its own threads, on a loopback port, for `twinloom demo` when no broker is given. It
//! keeps retained messages and publishes wills, which Sparkplug B needs. It lives as long as the process
//! (rumqttd has no stop), which suits a demo; plants run their own broker.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::SimError;

/// A running embedded broker.
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedBroker {
    pub addr: SocketAddr,
}

impl EmbeddedBroker {
    /// `mqtt://HOST:PORT`, as the connector's MQTT sources take it.
    pub fn endpoint(&self) -> String {
        format!("mqtt://{}", self.addr)
    }
}

/// Starts a broker on `host` (a loopback address) and a free port, and returns once it accepts
/// connections (within 5 s).
pub fn start_embedded_broker(host: &str) -> Result<EmbeddedBroker, SimError> {
    let bind_err = |source| SimError::Bind { addr: format!("{host}:0 (MQTT)"), source };
    // rumqttd binds the port itself: take a free one first.
    let addr = TcpListener::bind((host, 0)).and_then(|l| l.local_addr()).map_err(bind_err)?;
    let connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: 16 << 20,
        max_inflight_count: 1_000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = rumqttd::ServerSettings {
        name: "twinloom-demo-mqtt".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    };
    let router = rumqttd::RouterConfig {
        max_connections: 1_000,
        max_outgoing_packet_count: 1_000,
        max_segment_size: 64 << 20,
        max_segment_count: 10,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    };
    let config = rumqttd::Config {
        id: 0,
        router,
        v4: Some(HashMap::from([("demo".to_string(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    };
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!("embedded MQTT broker: {e}");
            }
        })
        .map_err(|e| SimError::Server(format!("cannot start the embedded MQTT broker: {e}")))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(SimError::Server(format!("the embedded MQTT broker does not listen on {addr}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!(%addr, "embedded MQTT broker (rumqttd) listening");
    Ok(EmbeddedBroker { addr })
}
