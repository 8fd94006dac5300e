//! OPC UA source (async-opcua client): connect with or without security, browse a subtree, subscribe
//! monitored items for bound signals and deliver [`Sample`](crate::sample::Sample) batches over a bounded
//! channel. The session reconnects with exponential backoff after a server restart or a network cut and
//! recreates its subscriptions; every failure is counted in [`SourceCounters`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), twinloom_connector::source::opcua::SourceError> {
//! use twinloom_connector::source::opcua::{MonitoredNode, OpcUaConfig, OpcUaSource};
//! let source = OpcUaSource::connect(OpcUaConfig::new("opc.tcp://127.0.0.1:4840/")).await?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
//! let nodes = [MonitoredNode::new(0, "ns=2;s=Plant/BIW/Station01/R01/J1")];
//! let report = source.subscribe(&nodes, tx).await?;
//! for bad in &report.rejected { eprintln!("{bad}"); }
//! while let Some(batch) = rx.recv().await { println!("{} samples", batch.len()); }
//! # Ok(()) }
//! ```

mod browse;
mod config;
mod convert;
mod subscribe;
mod write;

pub use browse::{BrowsedNode, NodeKind};
pub use config::{Identity, OpcUaConfig, SecurityMode};
pub use subscribe::{MonitoredNode, RejectedNode, SubscribeReport};
pub use write::{argument_variant, variant_like};

use std::str::FromStr;
use std::sync::Arc;

use futures::StreamExt;
use opcua::client::{Client, ClientBuilder, IdentityToken, Session, SessionPollResult, SubscriptionActivity};
use opcua::crypto::SecurityPolicy;
use opcua::types::{MessageSecurityMode, NodeId};
use tokio::sync::mpsc;

use crate::sample::SampleBatch;
use crate::source::{ErrorReason, SourceCounters};

/// What can go wrong with the OPC UA source. Every message names the endpoint or node concerned.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("OPC UA source configuration: {0}")]
    Config(String),
    #[error("cannot connect to {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("invalid OPC UA node id {node:?}: {reason}")]
    InvalidNodeId { node: String, reason: String },
    #[error("browsing {node} failed: {reason}")]
    Browse { node: String, reason: String },
    #[error("subscribing on {endpoint} failed: {reason}")]
    Subscribe { endpoint: String, reason: String },
}

/// A connected OPC UA source. Cloning is not needed: share it behind an `Arc`.
pub struct OpcUaSource {
    config: OpcUaConfig,
    session: Arc<Session>,
    counters: Arc<SourceCounters>,
    event_loop: tokio::task::JoinHandle<()>,
    _client: Client,
}

impl OpcUaSource {
    /// Connects (discovering the endpoint that matches the configured security) and starts the
    /// session's event loop, which reconnects by itself from then on. Fails if the first connection
    /// does not succeed within `connect_timeout`.
    pub async fn connect(config: OpcUaConfig) -> Result<Self, SourceError> {
        config.validate()?;
        let connect_err = |reason: String| SourceError::Connect { endpoint: config.endpoint.clone(), reason };
        let mut client = client_builder(&config).client().map_err(|errs| SourceError::Config(errs.join("; ")))?;
        let (policy, mode) = match config.security {
            SecurityMode::None => (SecurityPolicy::None, MessageSecurityMode::None),
            SecurityMode::Sign => (SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign),
            SecurityMode::SignAndEncrypt => (SecurityPolicy::Basic256Sha256, MessageSecurityMode::SignAndEncrypt),
        };
        let identity = identity_token(&config.identity)?;
        let endpoints = tokio::time::timeout(
            config.connect_timeout,
            client.get_server_endpoints_from_url(config.endpoint.as_str()),
        )
        .await
        .map_err(|_| connect_err("no answer within the connect timeout".into()))?
        .map_err(|e| connect_err(e.to_string()))?;
        // Pick the server's endpoint with the configured security, but keep talking to the URL we were
        // given: servers behind port forwarding or a proxy advertise addresses the client cannot reach.
        let mut endpoint = endpoints
            .into_iter()
            .filter(|e| e.security_mode == mode && SecurityPolicy::from_uri(e.security_policy_uri.as_ref()) == policy)
            .max_by_key(|e| e.security_level)
            .ok_or_else(|| connect_err(format!("the server offers no {} / {:?} endpoint", policy.to_str(), mode)))?;
        endpoint.endpoint_url = config.endpoint.as_str().into();
        let (session, event_loop) =
            client.connect_to_endpoint_directly(endpoint, identity).map_err(|e| connect_err(e.to_string()))?;

        let counters = Arc::new(SourceCounters::default());
        let (first_tx, first_rx) = tokio::sync::oneshot::channel();
        let event_loop = tokio::spawn(drive_session(
            event_loop.enter(),
            session.clone(),
            counters.clone(),
            config.endpoint.clone(),
            first_tx,
        ));
        let first = tokio::time::timeout(config.connect_timeout, first_rx).await;
        match first {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(reason))) => {
                event_loop.abort();
                return Err(connect_err(reason));
            }
            Ok(Err(_)) | Err(_) => {
                event_loop.abort();
                return Err(connect_err("the session did not open within the connect timeout".into()));
            }
        }
        Ok(OpcUaSource { config, session, counters, event_loop, _client: client })
    }

    /// The counters of this source (share the `Arc` with the metrics endpoint).
    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// The endpoint URL this source talks to.
    pub fn endpoint(&self) -> &str {
        &self.config.endpoint
    }

    /// Parses a node id: `ns=2;s=Plant/BIW`, `i=85`, or with the namespace by URI,
    /// `nsu=urn:twinloom:plant-sim;s=Plant/BIW` (resolved through the server's namespace array).
    pub async fn resolve_node_id(&self, text: &str) -> Result<NodeId, SourceError> {
        let invalid = |reason: String| SourceError::InvalidNodeId { node: text.to_owned(), reason };
        if let Some(rest) = text.strip_prefix("nsu=") {
            let (uri, id) = rest.split_once(';').ok_or_else(|| invalid("expected nsu=URI;<id>".into()))?;
            let ns = self
                .session
                .get_namespace_index(uri)
                .await
                .map_err(|e| invalid(format!("namespace {uri} is not on the server ({e})")))?;
            let local = NodeId::from_str(id).map_err(|e| invalid(format!("{e:?}")))?;
            return Ok(NodeId { namespace: ns, identifier: local.identifier });
        }
        NodeId::from_str(text).map_err(|_| invalid("expected e.g. ns=2;s=Name, ns=2;i=42 or nsu=URI;s=Name".into()))
    }

    /// Browses the subtree under `root` (hierarchical references, objects and variables) down to
    /// `max_depth` levels. Entry 0 is the root; every other entry names its parent's index.
    pub async fn browse(&self, root: &str, max_depth: u32) -> Result<Vec<BrowsedNode>, SourceError> {
        let root_id = self.resolve_node_id(root).await?;
        browse::browse_tree(&self.session, root_id, max_depth).await
    }

    /// Creates monitored items for `nodes` and delivers their values to `tx` in batches (one batch per
    /// publish response). Nodes that are unknown, not variables or of an unsupported type are rejected
    /// (named in the report and counted), and the rest is subscribed. Subscriptions survive reconnects.
    pub async fn subscribe(
        &self,
        nodes: &[MonitoredNode],
        tx: mpsc::Sender<SampleBatch>,
    ) -> Result<SubscribeReport, SourceError> {
        subscribe::subscribe(self, nodes, tx).await
    }

    /// Closes the session (deleting its subscriptions on the server) and stops the event loop. Bounded:
    /// a server that does not answer within `request_timeout` (at most 2 s), or a session that is
    /// reconnecting, is left without a goodbye.
    pub async fn shutdown(mut self) {
        self.disconnect().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), &mut self.event_loop).await;
    }

    /// [`OpcUaSource::shutdown`] for a source that is shared (e.g. with the write-back engine): closes the
    /// session and stops the event loop without waiting for it to end.
    pub async fn close(&self) {
        self.disconnect().await;
        self.event_loop.abort();
    }

    async fn disconnect(&self) {
        let wait = self.config.request_timeout.min(std::time::Duration::from_secs(2));
        match tokio::time::timeout(wait, self.session.disconnect()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "OPC UA disconnect"),
            Err(_) => {
                tracing::info!(endpoint = %self.config.endpoint, "OPC UA server did not answer the disconnect; session dropped")
            }
        }
        self.counters.connected.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long a request may take before it counts as unanswered.
    pub(crate) fn request_timeout(&self) -> std::time::Duration {
        self.config.request_timeout
    }

    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub(crate) fn config(&self) -> &OpcUaConfig {
        &self.config
    }
}

impl Drop for OpcUaSource {
    fn drop(&mut self) {
        self.event_loop.abort();
    }
}

fn client_builder(config: &OpcUaConfig) -> ClientBuilder {
    let mut b = ClientBuilder::new()
        .application_name("Twinloom connector")
        .application_uri("urn:twinloom:connector")
        .product_uri("urn:twinloom")
        .pki_dir(config.pki_dir.clone())
        .trust_server_certs(config.trust_server_certs)
        .session_retry_limit(-1)
        .session_retry_initial(config.reconnect_initial)
        .session_retry_max(config.reconnect_max)
        .keep_alive_interval(config.keep_alive)
        .max_failed_keep_alive_count(config.max_failed_keep_alives)
        .request_timeout(config.request_timeout)
        .max_message_size(64 * 1024 * 1024)
        .max_chunk_count(4096)
        .max_array_length(10_000_000)
        .recreate_subscriptions(true);
    match &config.client_certificate {
        Some((cert, key)) => b = b.certificate_path(cert.clone()).private_key_path(key.clone()),
        // An OPC UA application always has an instance certificate (the stack reads it even without security).
        None => b = b.create_sample_keypair(true),
    }
    b
}

fn identity_token(identity: &Identity) -> Result<IdentityToken, SourceError> {
    Ok(match identity {
        Identity::Anonymous => IdentityToken::new_anonymous(),
        Identity::UserPassword { user, password } => IdentityToken::new_user_name(user.clone(), password.clone()),
        Identity::Certificate { cert, key } => IdentityToken::new_x509_path(cert, key).map_err(|e| {
            SourceError::Config(format!("user certificate {} / key {}: {e}", cert.display(), key.display()))
        })?,
    })
}

/// Polls the session event loop, keeps the counters, and reports the first connection's outcome.
///
/// After a reconnect that recreated the subscriptions, async-opcua 0.19 does not start publishing
/// again by itself (its publish trigger fires before the new subscription loop exists), so this loop
/// re-triggers publishing until the first publish response arrives.
async fn drive_session(
    stream: impl futures::Stream<Item = Result<SessionPollResult, opcua::types::StatusCode>>,
    session: Arc<Session>,
    counters: Arc<SourceCounters>,
    endpoint: String,
    first: tokio::sync::oneshot::Sender<Result<(), String>>,
) {
    use std::sync::atomic::Ordering;
    let mut first = Some(first);
    let mut was_connected = false;
    // Publish kicks left after a reconnect (100 ms apart; bounded in case there is no subscription).
    let mut kicks_left = 0u32;
    let mut kick = tokio::time::interval(std::time::Duration::from_millis(100));
    futures::pin_mut!(stream);
    loop {
        let event = tokio::select! {
            e = stream.next() => match e {
                Some(e) => e,
                None => break,
            },
            _ = kick.tick(), if kicks_left > 0 => {
                kicks_left -= 1;
                session.trigger_publish_now();
                continue;
            }
        };
        match event {
            Ok(SessionPollResult::Reconnected(mode)) => {
                counters.connected.store(true, Ordering::Relaxed);
                if let Some(f) = first.take() {
                    let _ = f.send(Ok(()));
                } else if was_connected {
                    counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    kicks_left = 50;
                    tracing::info!(%endpoint, ?mode, "OPC UA session reconnected");
                }
                was_connected = true;
            }
            Ok(SessionPollResult::Subscription(SubscriptionActivity::Publish)) => kicks_left = 0,
            Ok(SessionPollResult::ConnectionLost(status)) => {
                counters.connected.store(false, Ordering::Relaxed);
                counters.count_error(ErrorReason::ConnectionLost);
                tracing::warn!(%endpoint, %status, "OPC UA connection lost; reconnecting with backoff");
            }
            Ok(SessionPollResult::ReconnectFailed(status)) => {
                counters.count_error(ErrorReason::ReconnectFailed);
                if let Some(f) = first.take() {
                    let _ = f.send(Err(status.to_string()));
                    return;
                }
                tracing::debug!(%endpoint, %status, "OPC UA reconnect attempt failed");
            }
            Ok(_) => {}
            Err(status) => {
                counters.connected.store(false, Ordering::Relaxed);
                if let Some(f) = first.take() {
                    let _ = f.send(Err(status.to_string()));
                }
                tracing::error!(%endpoint, %status, "OPC UA session ended");
                return;
            }
        }
    }
    counters.connected.store(false, Ordering::Relaxed);
}
