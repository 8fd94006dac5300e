//! Forwarding the journal to a NATS JetStream cluster (`[nats]`, issue 20, docs/nats.md).
//!
//! Every published delta the write-ahead journal holds (docs/journal.md) is sent, in journal order, to
//! `<subject_prefix>.<site>.<shop>.deltas` with the header `Nats-Msg-Id: <site>:<epoch>:<seq>`
//! (`<site>.<partition>:<epoch>:<seq>` for one of several processes of a site), so the stream's duplicate
//! window drops a resend after a restart. The position forwarded so far is kept in
//! `<stage dir>/nats/position` (written after the stream acknowledged everything before it) and is the
//! journal's truncation floor, so a record leaves the journal only once the stream has it: when the
//! cluster is unreachable the service runs on and the backlog goes out, in order, once it is back.
//! With `samples = true` the raw samples the writers journal per tick (uncoalesced) go out the same way,
//! on `<subject_prefix>.<site>.<shop>.samples` with the id `<site>:<epoch>:s<journal position>`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;

use crate::hub::Hub;
use crate::journal;

/// The folder (in the stage folder) of the forwarder's state.
pub const STATE_DIR: &str = "nats";
/// The file (in [`STATE_DIR`]) holding the first journal position not yet acknowledged by the stream,
/// and the epoch it was written under: `POSITION EPOCH`.
pub const POSITION_FILE: &str = "position";
/// How long the forwarder goes on sending at shutdown before it stops.
pub const FINISH_GRACE: Duration = Duration::from_secs(3);

/// The `[nats]` table: forward the journal to a JetStream cluster (docs/nats.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Forward (off by default; needs `[journal] enabled = true`).
    #[serde(default)]
    pub enabled: bool,
    /// The cluster's servers (`nats://host:port` or `tls://host:port`); default the local server only.
    #[serde(default = "default_servers")]
    pub servers: Vec<String>,
    /// This site's name: one subject token (letters, digits, `_`, `-`).
    #[serde(default)]
    pub site: Option<String>,
    /// This process's part of the site when one site's signals are split over several connector
    /// processes (one subject token); it makes the message ids of the processes distinct
    /// (`<site>.<partition>:<epoch>:<seq>`, docs/nats.md "Partitions").
    #[serde(default)]
    pub partition: Option<String>,
    /// Also forward every accepted sample, uncoalesced, on `<prefix>.<site>.<shop>.samples` (the writers
    /// journal them per tick); off by default.
    #[serde(default)]
    pub samples: bool,
    /// The first subject token (default `twinloom`).
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    /// The stream (default `TWINLOOM_<SITE>`, subjects `<prefix>.<site>.>`); made when missing.
    #[serde(default)]
    pub stream: Option<String>,
    /// Replicas of a stream this forwarder makes (1..5; 3 on a 3-node cluster).
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The stream's duplicate window in seconds: a resend within it is dropped by the server.
    #[serde(default = "default_duplicate_window_s")]
    pub duplicate_window_s: f64,
    /// Limits of a stream this forwarder makes: its age in hours and size in MiB (none: unlimited).
    #[serde(default)]
    pub max_age_h: Option<f64>,
    #[serde(default)]
    pub max_mib: Option<u64>,
    /// Publishes awaiting their acknowledgement at once. 1 (default): the stream holds the deltas in
    /// journal order whatever fails; more is faster, but a publish lost in a leader change can then be
    /// stored after its successors (each still once).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Seconds to wait for a publish's acknowledgement before sending it again.
    #[serde(default = "default_ack_timeout_s")]
    pub ack_timeout_s: f64,
    /// User and password.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A `.creds` file (JWT and nkey seed), relative to the config file.
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
    /// A file holding an nkey seed (`SU…`), relative to the config file.
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// PEM CA bundle the servers' certificates are checked against (TLS).
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate and key (mutual TLS).
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Refuse a connection without TLS (implied by `tls_ca` or `tls_cert`).
    #[serde(default)]
    pub tls_required: bool,
}

fn default_servers() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".into()]
}
fn default_prefix() -> String {
    "twinloom".into()
}
fn default_replicas() -> usize {
    3
}
fn default_duplicate_window_s() -> f64 {
    600.0
}
fn default_max_in_flight() -> usize {
    1
}
fn default_ack_timeout_s() -> f64 {
    5.0
}

/// A site's stream when `[nats] stream` is not set: `TWINLOOM_<SITE>` (upper case, `-` as `_`); the
/// aggregator finds the sites' streams by it.
pub fn default_stream(site: &str) -> String {
    format!("TWINLOOM_{}", site.to_uppercase().replace('-', "_"))
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            enabled: false,
            servers: default_servers(),
            site: None,
            partition: None,
            samples: false,
            subject_prefix: default_prefix(),
            stream: None,
            replicas: default_replicas(),
            duplicate_window_s: default_duplicate_window_s(),
            max_age_h: None,
            max_mib: None,
            max_in_flight: default_max_in_flight(),
            ack_timeout_s: default_ack_timeout_s(),
            user: None,
            password: None,
            creds_file: None,
            nkey_seed_file: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
        }
    }
}

/// Whether `s` is one subject token this module writes (letters, digits, `_`, `-`).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `name` as one subject token: every other character becomes `_`.
pub fn token(name: &str) -> String {
    let t: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    if t.is_empty() {
        "_".into()
    } else {
        t
    }
}

impl NatsConfig {
    /// The problems of the table, as (key, message); `journal` tells whether the journal is on.
    pub fn problems(&self, journal: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.enabled {
            return out;
        }
        if !journal {
            out.push(("enabled", "nats.enabled needs journal.enabled = true (the journal is forwarded)".into()));
        }
        match &self.site {
            None => out.push(("enabled", "nats.site is missing: the site's name, one subject token".into())),
            Some(s) if !is_token(s) => {
                out.push(("site", format!("nats.site {s:?} must be letters, digits, `_` or `-`")))
            }
            Some(_) => {}
        }
        if let Some(p) = &self.partition {
            if !is_token(p) {
                out.push(("partition", format!("nats.partition {p:?} must be letters, digits, `_` or `-`")));
            } else if p == crate::federation::NO_PARTITION {
                out.push(("partition", format!("nats.partition {p:?} is reserved: it stands for \"no partition\"")));
            }
        }
        out.extend(self.connection_problems());
        out
    }

    /// The problems of the connection settings (servers, prefix, credentials, TLS), which an aggregator
    /// uses without forwarding.
    pub fn connection_problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !is_token(&self.subject_prefix) {
            out.push((
                "subject_prefix",
                format!("nats.subject_prefix {:?} must be letters, digits, `_` or `-`", self.subject_prefix),
            ));
        }
        if let Some(s) = &self.stream {
            if !is_token(s) {
                out.push(("stream", format!("nats.stream {s:?} must be letters, digits, `_` or `-`")));
            }
        }
        if self.servers.is_empty() {
            out.push(("servers", "nats.servers is empty".into()));
        }
        for s in &self.servers {
            let ok = ["nats://", "tls://"].iter().any(|p| s.strip_prefix(p).is_some_and(|rest| rest.contains(':')));
            if !ok {
                out.push(("servers", format!("nats.servers: {s:?} is not like nats://host:port or tls://host:port")));
            }
        }
        if !(1..=5).contains(&self.replicas) {
            out.push(("replicas", format!("nats.replicas must be 1..5, not {}", self.replicas)));
        }
        if !self.duplicate_window_s.is_finite() || self.duplicate_window_s <= 0.0 {
            out.push(("duplicate_window_s", "nats.duplicate_window_s must be positive".into()));
        }
        if !self.ack_timeout_s.is_finite() || self.ack_timeout_s <= 0.0 {
            out.push(("ack_timeout_s", "nats.ack_timeout_s must be positive".into()));
        }
        if self.max_age_h.is_some_and(|h| !h.is_finite() || h <= 0.0) {
            out.push(("max_age_h", "nats.max_age_h must be positive".into()));
        }
        if self.max_mib == Some(0) {
            out.push(("max_mib", "nats.max_mib must be positive".into()));
        }
        if !(1..=10_000).contains(&self.max_in_flight) {
            out.push(("max_in_flight", format!("nats.max_in_flight must be 1..10000, not {}", self.max_in_flight)));
        }
        if self.user.is_some() != self.password.is_some() {
            out.push(("user", "nats.user and nats.password go together".into()));
        }
        let ways = [self.user.is_some(), self.creds_file.is_some(), self.nkey_seed_file.is_some()];
        if ways.iter().filter(|w| **w).count() > 1 {
            out.push(("creds_file", "nats: one of user/password, creds_file or nkey_seed_file".into()));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            out.push(("tls_cert", "nats.tls_cert and nats.tls_key go together".into()));
        }
        out
    }

    /// The site (checked by [`NatsConfig::problems`]).
    pub fn site(&self) -> &str {
        self.site.as_deref().unwrap_or("site")
    }

    /// The stream's name: `stream`, or `TWINLOOM_<SITE>` (upper case, `-` as `_`).
    pub fn stream_name(&self) -> String {
        self.stream.clone().unwrap_or_else(|| default_stream(self.site()))
    }

    /// The subject of a shop's deltas: `<prefix>.<site>.<shop>.deltas`.
    pub fn deltas_subject(&self, shop: &str) -> String {
        format!("{}.{}.{}.deltas", self.subject_prefix, self.site(), token(shop))
    }

    /// The subject of a shop's raw samples: `<prefix>.<site>.<shop>.samples`.
    pub fn samples_subject(&self, shop: &str) -> String {
        format!("{}.{}.{}.samples", self.subject_prefix, self.site(), token(shop))
    }

    /// The stream's subjects: `<prefix>.<site>.>`.
    pub fn stream_subjects(&self) -> String {
        format!("{}.{}.>", self.subject_prefix, self.site())
    }
}

/// A delta's message id: `<site>:<epoch>:<seq>`, or `<site>.<partition>:<epoch>:<seq>` for a partition of
/// a site (two processes of one site may have the same epoch and sequence numbers).
pub fn message_id(site: &str, partition: Option<&str>, epoch: u64, seq: u64) -> String {
    format!("{}:{seq}", id_prefix(site, partition, epoch))
}

/// A raw-samples record's message id: `<site>:<epoch>:s<position>` (`<site>.<partition>:…` for a partition),
/// the record's journal position (stable across restarts, like a delta's sequence number).
pub fn samples_message_id(site: &str, partition: Option<&str>, epoch: u64, position: u64) -> String {
    format!("{}:s{position}", id_prefix(site, partition, epoch))
}

fn id_prefix(site: &str, partition: Option<&str>, epoch: u64) -> String {
    match partition {
        Some(p) => format!("{site}.{p}:{epoch}"),
        None => format!("{site}:{epoch}"),
    }
}

/// Why the forwarder could not start.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("nats: {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("nats: the journal is not open (the forwarder needs [journal] enabled = true)")]
    NoJournal,
}

/// The forwarder's counters (in /metrics as `twinloom_nats_*`).
#[derive(Debug, Default)]
pub struct ForwardCounters {
    /// Deltas the stream acknowledged (duplicates included).
    pub acked: AtomicU64,
    /// Raw-samples records the stream acknowledged (duplicates included).
    pub samples_acked: AtomicU64,
    /// Acknowledgements that said `duplicate` (a resend the stream already had).
    pub duplicates: AtomicU64,
    /// Publishes, stream look-ups and connections that failed (each is retried).
    pub errors: AtomicU64,
    /// Journal records deleted (retention) before they were forwarded.
    pub lost_records: AtomicU64,
    /// 1 while connected to a server.
    pub connected: Arc<AtomicU64>,
    /// The source time (ms since the Unix epoch) of the oldest record not yet acknowledged; 0: none.
    pub oldest_pending_ms: AtomicU64,
}

/// The forwarder of a running service: [`Forwarder::start`], then [`Forwarder::finish`] at shutdown
/// (before the journal closes).
pub struct Forwarder {
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    status: Arc<ForwardStatus>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// What /metrics shows of the forwarder.
pub struct ForwardStatus {
    pub counters: ForwardCounters,
    /// The first journal position not yet acknowledged (also the journal's truncation floor).
    next: Arc<AtomicU64>,
    hub: Arc<Hub>,
}

impl ForwardStatus {
    /// Journal records not yet acknowledged by the stream.
    pub fn lag_records(&self) -> u64 {
        self.hub.journal_next_position().map_or(0, |n| n.saturating_sub(self.next.load(Relaxed)))
    }

    /// The `twinloom_nats_*` metrics.
    pub fn render(&self, out: &mut String) {
        let c = &self.counters;
        let lag = self.lag_records();
        let oldest = c.oldest_pending_ms.load(Relaxed);
        let now_ms = crate::delta::epoch_ms(SystemTime::now());
        let backlog_s = if lag == 0 || oldest == 0 { 0.0 } else { ((now_ms - oldest as f64) / 1e3).max(0.0) };
        let rows: [(&str, &str, &str, String); 8] = [
            ("forwarded_total", "counter", "Deltas acknowledged by the stream.", c.acked.load(Relaxed).to_string()),
            (
                "samples_forwarded_total",
                "counter",
                "Raw-samples messages (one per shop and tick) acknowledged by the stream.",
                c.samples_acked.load(Relaxed).to_string(),
            ),
            (
                "dedup_hits_total",
                "counter",
                "Acknowledgements marked duplicate (a resend the stream already held).",
                c.duplicates.load(Relaxed).to_string(),
            ),
            (
                "errors_total",
                "counter",
                "Failed connections, stream look-ups and publishes (each retried).",
                c.errors.load(Relaxed).to_string(),
            ),
            (
                "lost_records_total",
                "counter",
                "Journal records deleted by retention before they were forwarded.",
                c.lost_records.load(Relaxed).to_string(),
            ),
            ("forward_lag_records", "gauge", "Journal records not yet acknowledged by the stream.", lag.to_string()),
            (
                "backlog_seconds",
                "gauge",
                "Age of the oldest journal record not yet acknowledged (0: none).",
                format!("{backlog_s:.3}"),
            ),
            ("connected", "gauge", "1 while connected to a NATS server.", c.connected.load(Relaxed).to_string()),
        ];
        for (name, kind, help, v) in rows {
            out.push_str(&format!(
                "# HELP twinloom_nats_{name} {help}\n# TYPE twinloom_nats_{name} {kind}\ntwinloom_nats_{name} {v}\n"
            ));
        }
    }
}

/// One journal record to forward.
struct Pending {
    /// Its journal position.
    position: u64,
    /// Its sequence number; [`journal::HISTORY_ONLY`]: not forwarded; [`journal::RAW_SAMPLES`]: raw
    /// samples, forwarded when `samples` is on.
    seq: u64,
    shop: String,
    time_ms: f64,
    body: Vec<u8>,
}

/// The credential and TLS files of `[nats]`, resolved against the config file's folder.
pub(crate) struct ClientFiles {
    creds_file: Option<PathBuf>,
    nkey_seed_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    tls_cert: Option<(PathBuf, PathBuf)>,
}

impl ClientFiles {
    /// The files `cfg`'s `[nats]` names; a file that cannot be read is an error naming its path.
    pub(crate) fn of(cfg: &crate::config::Config) -> Result<ClientFiles, NatsError> {
        let n = &cfg.nats;
        let files = ClientFiles {
            creds_file: n.creds_file.as_ref().map(|p| cfg.relative_to_file(p)),
            nkey_seed_file: n.nkey_seed_file.as_ref().map(|p| cfg.relative_to_file(p)),
            tls_ca: n.tls_ca.as_ref().map(|p| cfg.relative_to_file(p)),
            tls_cert: n
                .tls_cert
                .as_ref()
                .zip(n.tls_key.as_ref())
                .map(|(c, k)| (cfg.relative_to_file(c), cfg.relative_to_file(k))),
        };
        let paths = [&files.creds_file, &files.nkey_seed_file, &files.tls_ca]
            .into_iter()
            .flatten()
            .chain(files.tls_cert.iter().flat_map(|(c, k)| [c, k]));
        for path in paths {
            std::fs::File::open(path).map_err(|error| NatsError::Io { path: path.clone(), error })?;
        }
        Ok(files)
    }
}

/// Everything the forwarding task needs.
struct Settings {
    cfg: NatsConfig,
    files: ClientFiles,
    epoch: u64,
    position_file: PathBuf,
    /// This site's description, published before the deltas (docs/nats.md, "Site description").
    spec: crate::federation::SiteSpec,
}

impl Forwarder {
    /// Starts forwarding (the journal must be open: after recovery) from the saved position, which becomes
    /// the journal's truncation floor.
    pub fn start(
        cfg: &crate::config::Config,
        hub: Arc<Hub>,
        epoch: u64,
        spec: crate::federation::SiteSpec,
    ) -> Result<Forwarder, NatsError> {
        if hub.journal_next_position().is_none() {
            return Err(NatsError::NoJournal);
        }
        let n = &cfg.nats;
        let dir = cfg.stage_dir().join(STATE_DIR);
        std::fs::create_dir_all(&dir).map_err(|error| NatsError::Io { path: dir.clone(), error })?;
        let position_file = dir.join(POSITION_FILE);
        let (start, saved_epoch) = read_position(&position_file);
        if saved_epoch.is_some_and(|e| e != epoch) {
            tracing::warn!(saved_epoch, epoch, "nats: the journal's epoch changed since the last forward: records from position {start} on go out with ids of epoch {epoch}");
        }
        let next = Arc::new(AtomicU64::new(start));
        hub.set_journal_floor(next.clone());
        let status = Arc::new(ForwardStatus { counters: ForwardCounters::default(), next: next.clone(), hub });
        // A credentials or certificate file that cannot be read stops the start, with its path.
        let settings = Settings { cfg: n.clone(), files: ClientFiles::of(cfg)?, epoch, position_file, spec };
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        tracing::info!(
            servers = ?n.servers, stream = %n.stream_name(), subjects = %n.stream_subjects(), from = start,
            "nats: forwarding the journal"
        );
        let task = tokio::spawn(run(settings, status.clone(), stop_rx));
        Ok(Forwarder { stop, task: Some(task), status })
    }

    /// The forwarder's counters and gauges.
    pub fn status(&self) -> Arc<ForwardStatus> {
        self.status.clone()
    }

    /// Forwards what is left for up to `grace`, then stops (the rest goes out at the next start).
    pub async fn finish(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        let Some(mut task) = self.task.take() else { return };
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            let left = self.status.lag_records();
            tracing::warn!(
                left,
                "nats: stopped with {left} journal records not forwarded (they go out at the next start)"
            );
        }
    }
}

fn read_position(path: &Path) -> (u64, Option<u64>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut it = text.split_whitespace();
    let pos = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (pos, it.next().and_then(|s| s.parse().ok()))
}

fn write_position(path: &Path, position: u64, epoch: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{position} {epoch}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Reads up to `max` records from `from` (blocking): (records, the position the reader started at).
fn read_batch(hub: &Hub, from: u64, max: usize) -> Result<(Vec<Pending>, u64), twinloom_journal::Error> {
    let Some(r) = hub.journal_reader(from) else { return Ok((Vec::new(), from)) };
    let (mut reader, first) = r?;
    let mut out = Vec::new();
    while out.len() < max {
        let Some(record) = reader.next_record() else { break };
        let (position, payload) = record?;
        let pending = match crate::journal::decode(payload) {
            Some((seq, packed)) if seq != journal::HISTORY_ONLY => {
                let body = lz4_flex::block::decompress_size_prepended(packed).ok();
                let meta = body.as_deref().and_then(|b| serde_json::from_slice::<DeltaMeta>(b).ok());
                match (body, meta) {
                    (Some(body), Some(m)) => Pending { position, seq, shop: m.shop, time_ms: m.time_ms, body },
                    _ => {
                        tracing::warn!(position, seq, "nats: a journal record that is not a delta is skipped");
                        Pending { position, seq: 0, shop: String::new(), time_ms: 0.0, body: Vec::new() }
                    }
                }
            }
            _ => Pending { position, seq: 0, shop: String::new(), time_ms: 0.0, body: Vec::new() },
        };
        out.push(pending);
    }
    Ok((out, first))
}

#[derive(Deserialize)]
struct DeltaMeta {
    shop: String,
    #[serde(rename = "timeMs", default)]
    time_ms: f64,
}

/// The client options of `[nats]` (credentials, TLS, reconnecting forever); `connected` follows the
/// connection (1 while connected).
pub(crate) async fn connect_options(
    cfg: &NatsConfig,
    s: &ClientFiles,
    name: String,
    connected: Arc<AtomicU64>,
) -> Result<async_nats::ConnectOptions, String> {
    let mut o = match &s.creds_file {
        Some(p) => async_nats::ConnectOptions::with_credentials_file(p.clone())
            .await
            .map_err(|e| format!("creds_file {}: {e}", p.display()))?,
        None => async_nats::ConnectOptions::new(),
    };
    if let (Some(u), Some(p)) = (&cfg.user, &cfg.password) {
        o = o.user_and_password(u.clone(), p.clone());
    }
    if let Some(p) = &s.nkey_seed_file {
        let seed = std::fs::read_to_string(p).map_err(|e| format!("nkey_seed_file {}: {e}", p.display()))?;
        o = o.nkey(seed.trim().to_string());
    }
    if let Some(ca) = &s.tls_ca {
        o = o.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &s.tls_cert {
        o = o.add_client_certificate(cert.clone(), key.clone());
    }
    if cfg.tls_required || s.tls_ca.is_some() || s.tls_cert.is_some() {
        o = o.require_tls(true);
    }
    Ok(o.name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .reconnect_delay_callback(|attempts| Duration::from_millis((100 * attempts as u64).min(2_000)))
        .event_callback(move |event| {
            let connected = connected.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        connected.store(1, Relaxed);
                        tracing::info!("nats: connected");
                    }
                    async_nats::Event::Disconnected => {
                        connected.store(0, Relaxed);
                        tracing::warn!("nats: disconnected, reconnecting");
                    }
                    other => tracing::debug!("nats: {other}"),
                }
            }
        }))
}

/// The forwarding task: connect, make the stream, then forward the journal until stopped.
async fn run(s: Settings, status: Arc<ForwardStatus>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let cfg = &s.cfg;
    let name = format!("twinloom-{}", cfg.site());
    let options = match connect_options(cfg, &s.files, name, status.counters.connected.clone()).await {
        Ok(o) => o,
        Err(e) => {
            status.counters.errors.fetch_add(1, Relaxed);
            tracing::error!("nats: forwarding is off: {e}");
            return;
        }
    };
    let client = match options.connect(cfg.servers.clone()).await {
        Ok(c) => c,
        Err(e) => {
            status.counters.errors.fetch_add(1, Relaxed);
            tracing::error!("nats: forwarding is off: {e}");
            return;
        }
    };
    let ack_timeout = Duration::from_secs_f64(cfg.ack_timeout_s);
    let js = async_nats::jetstream::context::ContextBuilder::new()
        .timeout(ack_timeout)
        .ack_timeout(ack_timeout)
        .build(client.clone());
    let stream_config = async_nats::jetstream::stream::Config {
        name: cfg.stream_name(),
        subjects: vec![cfg.stream_subjects()],
        num_replicas: cfg.replicas,
        duplicate_window: Duration::from_secs_f64(cfg.duplicate_window_s),
        max_age: cfg.max_age_h.map_or(Duration::ZERO, |h| Duration::from_secs_f64(h * 3600.0)),
        max_bytes: cfg.max_mib.map_or(-1, |m| (m << 20) as i64),
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    };
    let site = cfg.site().to_string();
    let c = &status.counters;
    let mut stream_ready = false;
    let mut backoff = Duration::from_millis(100);
    let mut failing = false;
    let mut stop_at: Option<Instant> = None;
    loop {
        if *stop.borrow() && stop_at.is_none() {
            stop_at = Some(Instant::now());
        }
        let stopping = stop_at.is_some();
        if !stream_ready {
            match js.get_or_create_stream(stream_config.clone()).await {
                Ok(_) => match publish_spec(&js, cfg, &s.spec, client.server_info().max_payload).await {
                    Ok(subject) => {
                        stream_ready = true;
                        tracing::info!(stream = %stream_config.name, %subject, "nats: stream ready, site described");
                    }
                    Err(e) => {
                        c.errors.fetch_add(1, Relaxed);
                        tracing::warn!("nats: publishing the site's description failed (retrying): {e}");
                        if stopping {
                            return;
                        }
                        wait(&mut stop, backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                },
                Err(e) => {
                    c.errors.fetch_add(1, Relaxed);
                    if !failing {
                        failing = true;
                        tracing::warn!(stream = %stream_config.name, "nats: the stream cannot be had yet (retrying): {e}");
                    }
                    if stopping {
                        return;
                    }
                    wait(&mut stop, backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        let from = status.next.load(Relaxed);
        let batch = {
            let hub = status.hub.clone();
            tokio::task::spawn_blocking(move || read_batch(&hub, from, 512)).await
        };
        let (records, first) = match batch {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                c.errors.fetch_add(1, Relaxed);
                tracing::error!("nats: reading the journal: {e}");
                if stopping {
                    return;
                }
                wait(&mut stop, Duration::from_secs(1)).await;
                continue;
            }
            Err(_) => return,
        };
        if first > from && from > 0 {
            c.lost_records.fetch_add(first - from, Relaxed);
            tracing::error!(
                from,
                first,
                "nats: journal records {from}..{first} were deleted before they were forwarded (raise journal.max_mib)"
            );
        }
        if records.is_empty() {
            if first != from {
                status.next.store(first, Relaxed);
            }
            c.oldest_pending_ms.store(0, Relaxed);
            if stopping {
                return; // nothing left
            }
            wait(&mut stop, Duration::from_millis(20)).await; // a stop is seen at the top of the loop
            continue;
        }
        if let Some(p) = records.iter().find(|p| p.seq != 0) {
            c.oldest_pending_ms.store(p.time_ms.max(1.0) as u64, Relaxed);
        }
        // Publish with at most `max_in_flight` acknowledgements outstanding; stop at the first failure.
        let mut acked_to = first;
        let mut failed = false;
        // Each entry: the journal position it completes (`None`: a part of a delta other than its last),
        // whether it is raw samples, and its acknowledgement.
        let mut in_flight: std::collections::VecDeque<(Option<u64>, bool, Ack)> = std::collections::VecDeque::new();
        // A delta larger than the server's payload limit goes in parts (docs/nats.md, "Subjects, ids and headers").
        let limit = match client.server_info().max_payload {
            0 => 1 << 20,
            n => n,
        }
        .saturating_sub(PART_HEADROOM)
        .max(1024);
        let mut it = records.into_iter();
        loop {
            while in_flight.len() < cfg.max_in_flight && !failed {
                let Some(p) = it.next() else { break };
                let samples = p.seq == journal::RAW_SAMPLES;
                if p.seq == journal::HISTORY_ONLY || (samples && !cfg.samples) {
                    if in_flight.is_empty() {
                        acked_to = p.position + 1;
                        continue;
                    }
                    // Behind the publishes in flight: counted as done once they are acknowledged.
                    in_flight.push_back((Some(p.position), false, Ack::Skip));
                    continue;
                }
                let parts = split_delta(&p.body, limit);
                let n = parts.len();
                let partition = cfg.partition.as_deref();
                let (subject, base_id, place) = if samples {
                    let id = samples_message_id(&site, partition, s.epoch, p.position);
                    (cfg.samples_subject(&p.shop), id, ("Twinloom-Position", p.position))
                } else {
                    (cfg.deltas_subject(&p.shop), message_id(&site, partition, s.epoch, p.seq), ("Twinloom-Seq", p.seq))
                };
                for (i, part) in parts.into_iter().enumerate() {
                    let id = if n > 1 { format!("{base_id}:{}/{n}", i + 1) } else { base_id.clone() };
                    let mut publish = async_nats::jetstream::message::PublishMessage::build()
                        .payload(part.into())
                        .message_id(id)
                        .header("Twinloom-Site", site.as_str())
                        .header("Twinloom-Epoch", s.epoch.to_string().as_str())
                        .header(place.0, place.1.to_string().as_str());
                    if let Some(partition) = &cfg.partition {
                        publish = publish.header("Twinloom-Partition", partition.as_str());
                    }
                    if n > 1 {
                        publish = publish.header("Twinloom-Part", format!("{}/{n}", i + 1).as_str());
                    }
                    let completes = (i + 1 == n).then_some(p.position);
                    match js.send_publish(subject.clone(), publish).await {
                        Ok(ack) => in_flight.push_back((completes, samples, Ack::Publish(ack))),
                        Err(e) => {
                            c.errors.fetch_add(1, Relaxed);
                            if !failing {
                                failing = true;
                                tracing::warn!(
                                    seq = p.seq,
                                    "nats: publish failed, retrying from journal position {acked_to}: {e}"
                                );
                            }
                            failed = true;
                            break;
                        }
                    }
                }
            }
            let Some((completes, samples, ack)) = in_flight.pop_front() else { break };
            match ack.wait().await {
                Ok(duplicate) => {
                    if let Some(position) = completes {
                        if let Some(duplicate) = duplicate {
                            let acked = if samples { &c.samples_acked } else { &c.acked };
                            acked.fetch_add(1, Relaxed);
                            if duplicate {
                                c.duplicates.fetch_add(1, Relaxed);
                            }
                        }
                        acked_to = position + 1;
                    }
                }
                Err(e) => {
                    c.errors.fetch_add(1, Relaxed);
                    if !failing {
                        failing = true;
                        tracing::warn!("nats: no acknowledgement, retrying from journal position {acked_to}: {e}");
                    }
                    failed = true;
                    // What is still in flight is sent again (its ids are de-duplicated by the stream).
                    in_flight.clear();
                    break;
                }
            }
        }
        if acked_to > from {
            status.next.store(acked_to, Relaxed);
            if let Err(e) = write_position(&s.position_file, acked_to, s.epoch) {
                c.errors.fetch_add(1, Relaxed);
                tracing::error!(file = %s.position_file.display(), "nats: saving the forwarded position: {e}");
            }
        }
        if failed {
            // The stream may be gone or moving: it is looked up (or made) again before the next publish.
            stream_ready = false;
            if stopping {
                return;
            }
            wait(&mut stop, backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        } else {
            if failing {
                failing = false;
                tracing::info!(position = acked_to, "nats: forwarding works again");
            }
            backoff = Duration::from_millis(100);
        }
    }
}

/// Publishes the site's description (before any delta of this run) and waits for its acknowledgement;
/// its id holds a hash of the body, so the same description sent again is de-duplicated. Returns its
/// subject.
async fn publish_spec(
    js: &async_nats::jetstream::Context,
    cfg: &NatsConfig,
    spec: &crate::federation::SiteSpec,
    max_payload: usize,
) -> Result<String, String> {
    use std::hash::{Hash, Hasher};
    let body = spec.encode();
    let subject = crate::federation::stage_subject(&cfg.subject_prefix, cfg.site(), spec.partition.as_deref());
    if max_payload > 0 && body.len() > max_payload {
        // Not retried: the deltas go on; an aggregator cannot bind this site until it fits.
        tracing::error!(
            bytes = body.len(),
            max_payload,
            "nats: the site's description is larger than the server's max_payload: not sent (raise max_payload \
             or split the site into partitions, docs/nats.md)"
        );
        return Ok(subject);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let publish = async_nats::jetstream::message::PublishMessage::build()
        .payload(body.into())
        .message_id(format!("{subject}:{}:{:016x}", spec.epoch, h.finish()))
        .header("Twinloom-Site", cfg.site())
        .header("Twinloom-Encoding", crate::federation::ENCODING_LZ4);
    let ack = js.send_publish(subject.clone(), publish).await.map_err(|e| e.to_string())?;
    ack.await.map_err(|e| e.to_string())?;
    Ok(subject)
}

/// Room left for a message's headers under the server's payload limit.
const PART_HEADROOM: usize = 4096;

/// A delta's body as one or more bodies of at most `limit` bytes each: the same delta (`shop`, `layer`,
/// `timeMs`) with its edits split in order (an edit larger than `limit` on its own goes alone, and the
/// server refuses it). Each part is a delta a consumer applies on its own.
fn split_delta(body: &[u8], limit: usize) -> Vec<Vec<u8>> {
    if body.len() <= limit {
        return vec![body.to_vec()];
    }
    let Ok(serde_json::Value::Object(mut delta)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return vec![body.to_vec()];
    };
    let Some(serde_json::Value::Array(edits)) = delta.remove("edits") else { return vec![body.to_vec()] };
    let empty = serde_json::to_vec(&delta).map_or(0, |b| b.len()) + 16;
    let mut parts: Vec<Vec<serde_json::Value>> = vec![Vec::new()];
    let mut size = empty;
    for e in edits {
        let len = serde_json::to_vec(&e).map_or(0, |b| b.len()) + 1;
        if size + len > limit && parts.last().is_some_and(|p| !p.is_empty()) {
            parts.push(Vec::new());
            size = empty;
        }
        size += len;
        if let Some(p) = parts.last_mut() {
            p.push(e);
        }
    }
    parts
        .into_iter()
        .map(|edits| {
            let mut d = delta.clone();
            d.insert("edits".into(), serde_json::Value::Array(edits));
            serde_json::to_vec(&d).unwrap_or_default()
        })
        .collect()
}

/// An acknowledgement being awaited: a publish's, or the place of a history-only record behind them.
enum Ack {
    Publish(async_nats::jetstream::context::PublishAckFuture),
    Skip,
}

impl Ack {
    /// `Some(duplicate)` for a publish's acknowledgement, `None` for a skipped record.
    async fn wait(self) -> Result<Option<bool>, async_nats::jetstream::context::PublishError> {
        match self {
            Ack::Publish(f) => f.await.map(|a| Some(a.duplicate)),
            Ack::Skip => Ok(None),
        }
    }
}

/// Sleeps `d`, or less when the stop signal comes.
async fn wait(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) {
    if *stop.borrow() {
        return;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        r = stop.changed() => {
            if r.is_err() {
                tokio::time::sleep(d).await; // the forwarder is gone: its task is aborted soon
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_delta_is_split_into_deltas_under_the_limit() {
        let edits: Vec<serde_json::Value> = (0..1000)
            .map(|i| serde_json::json!({"op": "set", "path": format!("/Plant/A/S{i}.v"), "type": "double", "value": i}))
            .collect();
        let body = serde_json::to_vec(
            &serde_json::json!({"shop": "biw", "layer": "live/biw.usdc", "timeMs": 1.0, "edits": edits}),
        )
        .unwrap();
        assert_eq!(split_delta(&body, body.len()), vec![body.clone()], "small enough: unchanged");
        let parts = split_delta(&body, 4096);
        assert!(parts.len() > 1 && parts.iter().all(|p| p.len() <= 4096), "{} parts", parts.len());
        let mut all = Vec::new();
        for p in &parts {
            let v: serde_json::Value = serde_json::from_slice(p).unwrap();
            assert_eq!((v["shop"].as_str(), v["timeMs"].as_f64()), (Some("biw"), Some(1.0)));
            all.extend(v["edits"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(all, edits, "every edit once, in order");
    }

    #[test]
    fn names_ids_and_checks() {
        let mut n = NatsConfig { enabled: true, site: Some("north-1".into()), ..Default::default() };
        assert_eq!(n.stream_name(), "TWINLOOM_NORTH_1");
        assert_eq!(n.stream_subjects(), "twinloom.north-1.>");
        assert_eq!(n.deltas_subject("Body Shop"), "twinloom.north-1.Body_Shop.deltas");
        assert_eq!(message_id("north-1", None, 7, 42), "north-1:7:42");
        assert_eq!(message_id("north-1", Some("cell-2"), 7, 42), "north-1.cell-2:7:42");
        assert!(n.problems(true).is_empty());
        assert_eq!(n.problems(false).len(), 1);
        n.site = Some("a.b".into());
        n.servers = vec!["localhost".into()];
        n.user = Some("u".into());
        let keys: Vec<&str> = n.problems(true).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["site", "servers", "user"]);
        n.site = Some("north".into());
        n.servers = default_servers();
        n.user = None;
        n.partition = Some("_".into());
        assert!(n.problems(true)[0].1.contains("reserved"), "{:?}", n.problems(true));
        assert!(NatsConfig::default().problems(false).is_empty(), "off: nothing to check");
    }
}
