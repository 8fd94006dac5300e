//! The MQTT 3.1.1 link the `mqtt` (JSON) and `sparkplug` sources share: one rumqttc session to a broker
//! (`mqtt://HOST:PORT`, or `mqtts://HOST:PORT` over TLS on rustls/ring with an optional CA file and client
//! certificate; user/password when configured), subscriptions renewed on every (re)connection, reconnects
//! with backoff (250 ms doubling to 10 s), and a [`Handler`] that turns each received message into samples.
//! Samples are handed on with `send().await`, so a slow consumer slows the broker's delivery (TCP back
//! pressure) instead of losing messages.

pub mod json;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::{mpsc, watch};

use crate::sample::SampleBatch;
use crate::source::{ErrorReason, SourceCounters};

/// What can go wrong setting up an MQTT session.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("MQTT endpoint {0:?} must be mqtt://HOST:PORT or mqtts://HOST:PORT")]
    Endpoint(String),
    #[error("MQTT TLS: {0}")]
    Tls(String),
    #[error("cannot connect to MQTT broker {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct MqttSettings {
    /// `mqtt://HOST:PORT` or `mqtts://HOST:PORT`.
    pub endpoint: String,
    pub client_id: String,
    pub user: Option<String>,
    pub password: Option<String>,
    /// PEM file of the CA certificates that may sign the broker's certificate (mqtts only; without it,
    /// the system's roots).
    pub ca_certificate: Option<PathBuf>,
    /// PEM client certificate and key (mqtts only), for brokers that require them.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    pub keep_alive: Duration,
    /// A connection attempt without a CONNACK within this long fails.
    pub connect_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
}

impl MqttSettings {
    pub fn new(endpoint: impl Into<String>, client_id: impl Into<String>) -> Self {
        MqttSettings {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            user: None,
            password: None,
            ca_certificate: None,
            client_certificate: None,
            keep_alive: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(10),
        }
    }
}

/// Host, port and whether TLS is used, from an endpoint URL.
pub fn parse_endpoint(endpoint: &str) -> Option<(String, u16, bool)> {
    let (tls, rest) = if let Some(r) = endpoint.strip_prefix("mqtts://") {
        (true, r)
    } else {
        (false, endpoint.strip_prefix("mqtt://")?)
    };
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?, tls))
}

fn pem_items(path: &PathBuf) -> Result<Vec<u8>, MqttError> {
    std::fs::read(path).map_err(|e| MqttError::Tls(format!("cannot read {}: {e}", path.display())))
}

/// The rustls client configuration (ring provider) of `s`.
fn tls_config(s: &MqttSettings) -> Result<rustls::ClientConfig, MqttError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &s.ca_certificate {
        Some(ca) => {
            let pem = pem_items(ca)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
                roots.add(cert).map_err(|e| MqttError::Tls(format!("{}: {e}", ca.display())))?;
            }
            if roots.is_empty() {
                return Err(MqttError::Tls(format!("{} holds no certificate", ca.display())));
            }
        }
        None => {
            let found = rustls_native_certs();
            roots.add_parsable_certificates(found);
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(crate::crypto::ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match &s.client_certificate {
        Some((cert, key)) => {
            let pem = pem_items(cert)?;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| MqttError::Tls(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_slice(&pem_items(key)?)
                .map_err(|e| MqttError::Tls(format!("{}: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| MqttError::Tls(e.to_string()))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The system's trust anchors (Debian's /etc/ssl/certs bundle), empty when there is none.
fn rustls_native_certs() -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    let Ok(pem) = std::fs::read("/etc/ssl/certs/ca-certificates.crt") else { return Vec::new() };
    rustls_pki_types::CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect()
}

/// The rumqttc options of `s`, with `will` as the session's last will.
pub fn options(s: &MqttSettings, will: Option<LastWill>) -> Result<MqttOptions, MqttError> {
    let (host, port, tls) = parse_endpoint(&s.endpoint).ok_or_else(|| MqttError::Endpoint(s.endpoint.clone()))?;
    let mut o = MqttOptions::new(s.client_id.clone(), host, port);
    o.set_keep_alive(s.keep_alive.max(Duration::from_secs(1)));
    // Births of large edge nodes and batched JSON can be big: up to 64 MiB a packet.
    o.set_max_packet_size(64 << 20, 64 << 20);
    o.set_clean_session(true);
    o.set_request_channel_capacity(1024);
    o.set_inflight(1000);
    if let (Some(u), Some(p)) = (&s.user, &s.password) {
        o.set_credentials(u.clone(), p.clone());
    }
    if let Some(w) = will {
        o.set_last_will(w);
    }
    if tls {
        o.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls_config(s)?))));
    }
    Ok(o)
}

/// What a source does with its MQTT session: which filters it subscribes, what it publishes on each
/// connection, how it turns messages into samples, and what it does on a timer.
pub trait Handler: Send + 'static {
    /// Topic filters to subscribe (again) on every connection.
    fn subscriptions(&self) -> Vec<(String, QoS)>;
    /// Called on every CONNACK, after the subscriptions were requested (e.g. a Sparkplug host's STATE).
    fn on_connect(&mut self, _client: &AsyncClient) {}
    /// Called when the connection is lost (e.g. to mark values stale).
    fn on_disconnect(&mut self, _out: &mut SampleBatch) {}
    /// One received message: its samples go to `out`.
    fn on_message(&mut self, topic: &str, payload: &[u8], client: &AsyncClient, out: &mut SampleBatch);
    /// When [`Handler::on_timer`] wants to run next.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn on_timer(&mut self, _client: &AsyncClient, _out: &mut SampleBatch) {}
    /// Called once before a clean disconnect (e.g. a Sparkplug host's STATE offline).
    fn on_stop(&mut self, _client: &AsyncClient) {}
}

/// A running MQTT session.
pub struct MqttLink {
    client: AsyncClient,
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Connects (waiting for the first CONNACK, so a wrong endpoint or refused credentials fail at start),
/// then runs the session in a task until [`MqttLink::close`].
pub async fn connect<H: Handler>(
    settings: &MqttSettings,
    will: Option<LastWill>,
    mut handler: H,
    tx: mpsc::Sender<SampleBatch>,
    counters: Arc<SourceCounters>,
) -> Result<MqttLink, MqttError> {
    let opts = options(settings, will)?;
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let fail = |reason: String| MqttError::Connect { endpoint: settings.endpoint.clone(), reason };
    // The first connection, bounded.
    let first = tokio::time::timeout(settings.connect_timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
    })
    .await;
    match first {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Err(fail(reason)),
        Err(_) => return Err(fail(format!("no CONNACK within {} ms", settings.connect_timeout.as_millis()))),
    }
    counters.connected.store(true, Relaxed);
    subscribe(&client, &handler);
    handler.on_connect(&client);
    let (stop, mut stop_rx) = watch::channel(false);
    let endpoint = settings.endpoint.clone();
    let (initial, max) = (settings.reconnect_initial, settings.reconnect_max);
    let task_client = client.clone();
    let task = tokio::spawn(async move {
        let client = task_client;
        let mut out = SampleBatch::new();
        let mut backoff = initial;
        loop {
            let deadline = handler.deadline();
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop_rx.changed() => break,
                _ = timer => handler.on_timer(&client, &mut out),
                ev = eventloop.poll() => match ev {
                    Ok(Event::Incoming(Packet::Publish(p))) => handler.on_message(&p.topic, &p.payload, &client, &mut out),
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        backoff = initial;
                        counters.connected.store(true, Relaxed);
                        counters.reconnects.fetch_add(1, Relaxed);
                        tracing::info!(%endpoint, "MQTT session re-established");
                        subscribe(&client, &handler);
                        handler.on_connect(&client);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let was_connected = counters.connected.swap(false, Relaxed);
                        if was_connected {
                            counters.count_error(ErrorReason::ConnectionLost);
                            tracing::warn!(%endpoint, "MQTT connection lost: {}", describe(&e));
                            handler.on_disconnect(&mut out);
                        } else {
                            counters.count_error(ErrorReason::ReconnectFailed);
                            tracing::debug!(%endpoint, "MQTT reconnect failed: {}", describe(&e));
                        }
                        if !out.is_empty() && !deliver(&tx, &mut out, &counters).await {
                            break;
                        }
                        tokio::select! {
                            _ = stop_rx.changed() => break,
                            _ = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(max);
                        continue;
                    }
                },
            }
            if !out.is_empty() && !deliver(&tx, &mut out, &counters).await {
                break;
            }
        }
        // A clean goodbye: what the handler says last (a Sparkplug host's STATE offline), then DISCONNECT,
        // flushed by polling the event loop a little longer.
        if counters.connected.load(Relaxed) {
            handler.on_stop(&client);
            let _ = client.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(ev) = eventloop.poll().await {
                    if matches!(ev, Event::Outgoing(rumqttc::Outgoing::Disconnect)) {
                        break;
                    }
                }
            })
            .await;
        }
        counters.connected.store(false, Relaxed);
    });
    Ok(MqttLink { client, stop, task: std::sync::Mutex::new(Some(task)) })
}

/// Sends `out` on (waiting while the consumer is busy); false when the consumer is gone.
async fn deliver(tx: &mpsc::Sender<SampleBatch>, out: &mut SampleBatch, counters: &SourceCounters) -> bool {
    let n = out.len() as u64;
    let batch = std::mem::take(out);
    if tx.send(batch).await.is_err() {
        counters.count_error(ErrorReason::Dropped);
        return false;
    }
    counters.samples_in.fetch_add(n, Relaxed);
    counters.batches_in.fetch_add(1, Relaxed);
    true
}

fn subscribe<H: Handler>(client: &AsyncClient, handler: &H) {
    for (filter, qos) in handler.subscriptions() {
        if let Err(e) = client.try_subscribe(filter.clone(), qos) {
            tracing::warn!(%filter, "MQTT subscribe request not queued: {e}");
        }
    }
}

/// A connection error in words (the broker's refusal code when there is one).
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection ({code:?})"),
        other => other.to_string(),
    }
}

impl MqttLink {
    /// The session's client (to publish from outside the handler, e.g. write-back).
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// Ends the session cleanly (the handler's last words, then DISCONNECT) and waits for its task.
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_host_port_and_tls() {
        assert_eq!(parse_endpoint("mqtt://127.0.0.1:1883"), Some(("127.0.0.1".into(), 1883, false)));
        assert_eq!(parse_endpoint("mqtts://broker.plant:8883/"), Some(("broker.plant".into(), 8883, true)));
        assert_eq!(parse_endpoint("mqtt://[::1]:1883"), Some(("::1".into(), 1883, false)));
        assert_eq!(parse_endpoint("tcp://127.0.0.1:1883"), None);
        assert_eq!(parse_endpoint("mqtt://127.0.0.1"), None);
        assert_eq!(parse_endpoint("mqtt://:1883"), None);
        assert_eq!(parse_endpoint("mqtt://h:99999"), None);
    }
}
