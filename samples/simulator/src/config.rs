//! The simulator's configuration: where to listen, how big and how fast the plant is, and which security
//! endpoints and users to offer.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::ModelConfig;

/// Namespace URI of the plant's nodes; node ids are `nsu=urn:twinloom:plant-sim;s=<browse path>`.
pub const NAMESPACE_URI: &str = "urn:twinloom:plant-sim";

/// Everything [`crate::Simulator::start`] needs. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Host to bind and advertise (default `127.0.0.1`).
    pub host: String,
    /// TCP port; 0 picks a free one (see [`crate::SimulatorHandle::endpoint_url`]).
    pub port: u16,
    /// Seed: the same seed and sizes give the same values, tick by tick.
    pub seed: u64,
    /// Total number of signals (default 2,000; up to 1,000,000 and more).
    pub signals: usize,
    /// Ticks per second (default 10: fast signals change at 10 Hz).
    pub update_hz: f64,
    /// Model seconds per wall-clock second (default 1: real time). A tick advances the plant by
    /// `time_scale / update_hz` model seconds, so 20 runs the plant twenty times faster (tests use it to
    /// see slow responses, such as an oven zone's, within seconds).
    pub time_scale: f64,
    /// Field sensors update every this many ticks (default 1).
    pub field_period_ticks: u32,
    /// Shift length in seconds (default 480, so shift changes show up in a demo).
    pub shift_s: f64,
    /// Multiplies every mean time between failures (default 1.0; smaller = more faults).
    pub mtbf_scale: f64,
    /// Stop advancing after this many ticks (values then stay put; writes and method calls still act);
    /// `None` runs forever.
    pub max_ticks: Option<u64>,
    /// Also append every write and method call received, as one JSON object per line, to this file
    /// (created or truncated at start). They are always kept in memory: [`crate::SimulatorHandle::write_log`].
    pub write_log: Option<PathBuf>,
    /// Also serve every numeric signal over Modbus TCP on this port (0 picks a free one; `None`: no Modbus
    /// server), on the same host; the register map is in [`crate::modbus`].
    pub modbus_port: Option<u16>,
    /// Also publish the condition and energy signals as Sparkplug B edge nodes (one per shop) to the MQTT
    /// broker at this address ([`crate::sparkplug`]); `None`: no Sparkplug.
    pub mqtt_broker: Option<std::net::SocketAddr>,
    /// Also offer Basic256Sha256 Sign and SignAndEncrypt endpoints (needs a certificate, created in `pki_dir`).
    pub secure_endpoints: bool,
    /// Folder of the server's certificate store; default: a folder under the system temp dir.
    pub pki_dir: Option<PathBuf>,
    /// User name / password pairs accepted in addition to anonymous access.
    pub users: Vec<(String, String)>,
    /// User certificates (DER files) accepted as X509 identity tokens on the secure endpoints.
    pub user_certs: Vec<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            host: "127.0.0.1".into(),
            port: 4840,
            seed: 1,
            signals: 2000,
            update_hz: 10.0,
            time_scale: 1.0,
            field_period_ticks: 1,
            shift_s: 480.0,
            mtbf_scale: 1.0,
            max_ticks: None,
            write_log: None,
            modbus_port: None,
            mqtt_broker: None,
            secure_endpoints: false,
            pki_dir: None,
            users: Vec::new(),
            user_certs: Vec::new(),
        }
    }
}

impl SimConfig {
    /// The plant model this configuration runs (tests use it to replay the served values).
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            seed: self.seed,
            tick_s: self.time_scale / self.update_hz,
            signals: self.signals,
            field_period_ticks: self.field_period_ticks,
            mtbf_scale: self.mtbf_scale,
            shift_s: self.shift_s,
        }
    }

    /// Time between ticks.
    pub fn tick_period(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.update_hz)
    }

    /// Checks the values a user can get wrong.
    pub fn validate(&self) -> Result<(), crate::SimError> {
        let bad = |what: &str| Err(crate::SimError::Config(what.to_owned()));
        if !(self.update_hz.is_finite() && self.update_hz > 0.0 && self.update_hz <= 1000.0) {
            return bad(&format!("update_hz must be in (0, 1000], got {}", self.update_hz));
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1000.0) {
            return bad(&format!("time_scale must be in (0, 1000], got {}", self.time_scale));
        }
        if self.signals > 20_000_000 {
            return bad(&format!("signals must be at most 20,000,000, got {}", self.signals));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.shift_s) || !positive(self.mtbf_scale) {
            return bad("shift_s and mtbf_scale must be positive numbers");
        }
        if let Some(c) = self.user_certs.iter().find(|c| !c.is_file()) {
            return bad(&format!("user certificate {} is not a file", c.display()));
        }
        if !self.user_certs.is_empty() && !self.secure_endpoints {
            return bad("user certificates need the secure endpoints (X509 identities are signed with the server's certificate)");
        }
        Ok(())
    }
}
