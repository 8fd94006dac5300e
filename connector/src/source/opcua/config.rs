//! Configuration of the OPC UA source: endpoint, security, identity, subscription tuning and reconnects.

use std::path::PathBuf;
use std::time::Duration;

use super::SourceError;

/// Message security. `Sign` and `SignAndEncrypt` use the Basic256Sha256 policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    #[default]
    None,
    Sign,
    SignAndEncrypt,
}

/// Who the connector says it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Identity {
    #[default]
    Anonymous,
    UserPassword {
        user: String,
        password: String,
    },
    /// X.509 user certificate (DER) and its private key (PEM).
    Certificate {
        cert: PathBuf,
        key: PathBuf,
    },
}

/// Everything [`super::OpcUaSource::connect`] and `subscribe` need. Start from [`OpcUaConfig::new`].
#[derive(Debug, Clone)]
pub struct OpcUaConfig {
    /// `opc.tcp://host:port/path`.
    pub endpoint: String,
    /// Default `None`.
    pub security: SecurityMode,
    /// Default anonymous.
    pub identity: Identity,
    /// The connector's application certificate (DER) and private key (PEM) used with security;
    /// `None` creates a self-signed pair in `pki_dir` on first use.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// Certificate store (own/, private/, trusted/, rejected/).
    pub pki_dir: PathBuf,
    /// Trust any server certificate (otherwise it must be in `pki_dir/trusted`). Default false.
    pub trust_server_certs: bool,
    /// Requested sampling interval; zero (the default) asks for every change.
    pub sampling_interval: Duration,
    /// Requested publishing interval (default 50 ms).
    pub publishing_interval: Duration,
    /// Absolute deadband for numeric values; `None` reports every change.
    pub deadband: Option<f64>,
    /// Server-side queue per monitored item (default 10), oldest discarded when full.
    pub queue_size: u32,
    /// Monitored items per CreateMonitoredItems call (default 1,000, the usual server limit).
    pub max_items_per_call: usize,
    /// Monitored items per subscription (default 50,000); more items use more subscriptions.
    pub max_items_per_subscription: usize,
    /// First delay between reconnect attempts (default 250 ms), doubling up to `reconnect_max`.
    pub reconnect_initial: Duration,
    /// Longest delay between reconnect attempts (default 10 s).
    pub reconnect_max: Duration,
    /// Keep-alive period (default 5 s).
    pub keep_alive: Duration,
    /// Failed keep-alives in a row after which the connection counts as cut and is reopened (default 3;
    /// a keep-alive fails when it gets no answer within `request_timeout`).
    pub max_failed_keep_alives: u64,
    /// Timeout of one service request (default 10 s).
    pub request_timeout: Duration,
    /// How long the first connection may take (default 10 s).
    pub connect_timeout: Duration,
}

impl OpcUaConfig {
    /// Defaults for an endpoint: no security, anonymous, every change, 50 ms publishing.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OpcUaConfig {
            endpoint: endpoint.into(),
            security: SecurityMode::None,
            identity: Identity::Anonymous,
            client_certificate: None,
            pki_dir: std::env::temp_dir().join("twinloom-opcua-pki"),
            trust_server_certs: false,
            sampling_interval: Duration::ZERO,
            publishing_interval: Duration::from_millis(50),
            deadband: None,
            queue_size: 10,
            max_items_per_call: 1000,
            max_items_per_subscription: 50_000,
            reconnect_initial: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(10),
            keep_alive: Duration::from_secs(5),
            max_failed_keep_alives: 3,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// Checks what a user can get wrong, naming the field.
    pub fn validate(&self) -> Result<(), SourceError> {
        let bad = |m: String| Err(SourceError::Config(m));
        if !self.endpoint.starts_with("opc.tcp://") {
            return bad(format!("endpoint {:?} must start with opc.tcp://", self.endpoint));
        }
        if self.queue_size == 0 {
            return bad("queue_size must be at least 1".into());
        }
        if self.max_items_per_call == 0 || self.max_items_per_subscription == 0 {
            return bad("max_items_per_call and max_items_per_subscription must be at least 1".into());
        }
        if let Some(d) = self.deadband {
            if !(d.is_finite() && d >= 0.0) {
                return bad(format!("deadband must be a non-negative number, got {d}"));
            }
        }
        if self.max_failed_keep_alives == 0 {
            return bad("max_failed_keep_alives must be at least 1 (0 would never notice a silent cut)".into());
        }
        if self.publishing_interval.is_zero() {
            return bad("publishing_interval must be greater than zero".into());
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return bad("reconnect_initial must be > 0 and at most reconnect_max".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        assert!(OpcUaConfig::new("opc.tcp://127.0.0.1:4840/").validate().is_ok());
        let e = OpcUaConfig::new("http://x").validate().unwrap_err().to_string();
        assert!(e.contains("opc.tcp://"), "{e}");
        let mut c = OpcUaConfig::new("opc.tcp://h:1/");
        c.deadband = Some(f64::NAN);
        assert!(c.validate().unwrap_err().to_string().contains("deadband"));
    }
}
