//! The aggregator (`twinloom aggregate`, `[aggregate]`, issue 20, docs/nats.md): a connector whose source
//! is the sites' JetStream streams. At start it reads each site's description (the stage subject the
//! forwarders publish, [`crate::federation`]) and binds every site attribute under `/<root>/<Site>/…`
//! (one live layer per site and shop); then a durable pull consumer per site stream turns each delta's
//! edits into samples for the same twin, writers, journal and live server as `twinloom run`.
//!
//! **Nothing lost.** A message is acknowledged (ack policy *all*) only once the live layers saved after
//! its samples were ingested hold them: two saves of every shop later. A crash redelivers what was not
//! acknowledged; at start the consumer is re-made at its acknowledged floor so the redelivery comes first
//! and in order. Values already newer are kept (the twin keeps an attribute's newest source time).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;
use twinloom_usd::ValueType;

use crate::binding::{Binding, BindingTable};
use crate::federation::{reroot, site_prim_name, SiteSpec};
use crate::metrics::Metrics;
use crate::sample::{Quality, Sample, SampleBatch, Value};
use crate::source::{ErrorReason, SourceCounters};

/// The most bytes one pull of a consumer asks for.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// The source name and kind of the aggregator's bindings (`sourceKind` in the root layer).
pub const SOURCE: &str = "jetstream";

/// The `[aggregate]` table (docs/nats.md, "Aggregator").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateConfig {
    /// The sites whose streams (`TWINLOOM_<SITE>`) this aggregator consumes.
    pub sites: Vec<String>,
    /// The durable consumer's name on each site stream: one per aggregator.
    #[serde(default = "default_durable")]
    pub durable: String,
    /// Seconds to wait at start for the sites' descriptions (a site without one is left out, logged).
    #[serde(default = "default_wait_s")]
    pub wait_s: f64,
    /// Seconds between looks at the sites' descriptions while running; a changed one (new or removed
    /// attributes, a new partition, a site described late) binds the stage again. 0: only at start.
    #[serde(default = "default_rescan_s")]
    pub rescan_s: f64,
}

fn default_durable() -> String {
    "twinloom-aggregator".into()
}
fn default_wait_s() -> f64 {
    30.0
}
fn default_rescan_s() -> f64 {
    10.0
}

impl AggregateConfig {
    /// The problems of the table, as (key, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.sites.is_empty() {
            out.push(("sites", "aggregate.sites is empty: name the sites to aggregate".into()));
        }
        let mut seen = HashSet::new();
        for s in &self.sites {
            if !crate::nats::is_token(s) {
                out.push(("sites", format!("aggregate.sites: {s:?} must be letters, digits, `_` or `-`")));
            } else if !seen.insert(s.as_str()) {
                out.push(("sites", format!("aggregate.sites: {s:?} is named twice")));
            }
        }
        if !crate::nats::is_token(&self.durable) {
            out.push(("durable", format!("aggregate.durable {:?} must be letters, digits, `_` or `-`", self.durable)));
        }
        if !self.wait_s.is_finite() || self.wait_s < 0.0 {
            out.push(("wait_s", "aggregate.wait_s must be 0 or more".into()));
        }
        if !self.rescan_s.is_finite() || self.rescan_s < 0.0 {
            out.push(("rescan_s", "aggregate.rescan_s must be 0 (only at start) or more".into()));
        }
        out
    }
}

/// Why the aggregator could not start.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error(transparent)]
    Files(#[from] crate::nats::NatsError),
    #[error("aggregate: {0}")]
    Client(String),
    #[error("aggregate: no site could be described within {wait_s} s: {detail}")]
    NoSites { wait_s: f64, detail: String },
    #[error("aggregate: site {site}: {error}")]
    Lease { site: String, error: crate::lease::LeaseError },
}

/// How long a site's lease outlives its holder's last refresh (refreshed every third of it): a standby
/// with the same `durable` takes over this long after the holder died.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// This aggregator's identity in the leases: the host and its stage folder (the same aggregator
/// restarted, after `kill -9` too, takes its leases back at once).
fn lease_holder(cfg: &crate::config::Config) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let dir = cfg.stage_dir();
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    format!("{}:{}", host.trim(), dir.display())
}

/// Times this process bound the stage again after a site's description changed (the service's counters
/// start again at each rebind; this one lives as long as the process).
static REBINDS: AtomicU64 = AtomicU64::new(0);

/// The aggregator's counters (in /metrics as `twinloom_aggregate_*`).
#[derive(Default)]
pub struct AggregateStatus {
    /// Delta messages consumed (redeliveries included).
    pub messages: AtomicU64,
    /// Edits turned into samples.
    pub edits: AtomicU64,
    /// Messages delivered more than once (after a restart, or an acknowledgement that came late).
    pub redeliveries: AtomicU64,
    /// Edits in those messages (applied again; the twin keeps the newer values it already has).
    pub redelivered_edits: AtomicU64,
    /// Messages that are not a delta, and edits of a type the attribute does not have.
    pub bad_messages: AtomicU64,
    /// Edits of attributes no site description declared.
    pub unknown_attributes: AtomicU64,
    /// Acknowledgements sent (each acknowledges every message before it).
    pub acks: AtomicU64,
    /// Failed stream look-ups, consumer set-ups, fetches and acknowledgements (each retried).
    pub errors: AtomicU64,
    /// 1 while connected to a server.
    pub connected: Arc<AtomicU64>,
    /// Sites bound at start.
    pub sites_bound: AtomicU64,
    /// Per site: messages pending in the consumer, and the age of the last delta applied (ms).
    sites: Mutex<Vec<(String, Arc<SiteGauges>)>>,
}

#[derive(Default)]
struct SiteGauges {
    pending: AtomicU64,
    lag_ms: AtomicU64,
}

impl AggregateStatus {
    fn site(&self, name: &str) -> Arc<SiteGauges> {
        let mut g = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, s)) = g.iter().find(|(n, _)| n == name) {
            return s.clone();
        }
        let s = Arc::new(SiteGauges::default());
        g.push((name.to_string(), s.clone()));
        s
    }

    /// The `twinloom_aggregate_*` metrics.
    pub fn render(&self, out: &mut String) {
        let counters: [(&str, &str, &AtomicU64); 9] = [
            ("messages_total", "Delta messages consumed (redeliveries included).", &self.messages),
            ("edits_total", "Edits turned into samples.", &self.edits),
            ("redeliveries_total", "Messages delivered more than once.", &self.redeliveries),
            ("redelivered_edits_total", "Edits in messages delivered more than once.", &self.redelivered_edits),
            ("bad_messages_total", "Messages or edits that could not be read.", &self.bad_messages),
            ("unknown_attributes_total", "Edits of attributes no site description declared.", &self.unknown_attributes),
            ("acks_total", "Acknowledgements sent (each covers every message before it).", &self.acks),
            ("errors_total", "Failed look-ups, consumer set-ups, fetches and acknowledgements.", &self.errors),
            ("rebinds_total", "Times the stage was bound again after a site's description changed.", &REBINDS),
        ];
        for (name, help, v) in counters {
            out.push_str(&format!(
                "# HELP twinloom_aggregate_{name} {help}\n# TYPE twinloom_aggregate_{name} counter\ntwinloom_aggregate_{name} {}\n",
                v.load(Relaxed)
            ));
        }
        for (name, help, v) in [
            ("connected", "1 while connected to a NATS server.", self.connected.load(Relaxed)),
            ("sites_bound", "Sites whose descriptions were bound at start.", self.sites_bound.load(Relaxed)),
        ] {
            out.push_str(&format!(
                "# HELP twinloom_aggregate_{name} {help}\n# TYPE twinloom_aggregate_{name} gauge\ntwinloom_aggregate_{name} {v}\n"
            ));
        }
        let sites = self.sites.lock().unwrap_or_else(|e| e.into_inner()).clone();
        out.push_str("# HELP twinloom_aggregate_pending_messages Messages of the site stream not yet delivered.\n# TYPE twinloom_aggregate_pending_messages gauge\n");
        for (s, g) in &sites {
            out.push_str(&format!("twinloom_aggregate_pending_messages{{site=\"{s}\"}} {}\n", g.pending.load(Relaxed)));
        }
        out.push_str("# HELP twinloom_aggregate_lag_seconds Age of the last delta applied (its publish time to now).\n# TYPE twinloom_aggregate_lag_seconds gauge\n");
        for (s, g) in &sites {
            let lag = g.lag_ms.load(Relaxed) as f64 / 1e3;
            out.push_str(&format!("twinloom_aggregate_lag_seconds{{site=\"{s}\"}} {lag:.3}\n"));
        }
    }
}

/// One site: its stream and the descriptions of its connector processes (one per partition).
struct Site {
    name: String,
    stream: String,
    specs: Vec<SiteSpec>,
}

/// The aggregator's source: connected to the cluster, the sites described.
pub struct Federation {
    js: async_nats::jetstream::Context,
    prefix: String,
    durable: String,
    ack_wait: Duration,
    sites: Vec<Site>,
    /// Every site of `[aggregate] sites`, described or not.
    configured: Vec<String>,
    /// How often [`Federation::described_anew`] looks; `None`: never.
    rescan: Option<Duration>,
    /// Told by a consumer that met an attribute no description declared: look now.
    unknown: Arc<tokio::sync::Notify>,
    /// Each bound site's lease on `<durable>.<site>` (kept by a task of [`Federation::subscribe`]).
    leases: Arc<tokio::sync::Mutex<Vec<crate::lease::SiteLease>>>,
    /// Told when a lease was lost to another aggregator.
    lost: Arc<tokio::sync::Notify>,
    /// Set when the service stops to bind again: the leases are kept for the next run (a standby must
    /// not take over in between).
    rebinding: std::sync::atomic::AtomicBool,
    status: Arc<AggregateStatus>,
    counters: Arc<SourceCounters>,
    metrics: Arc<Metrics>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Federation {
    /// Connects and reads every site's description, waiting up to `wait_s` for those not there yet.
    pub async fn connect(cfg: &crate::config::Config, metrics: Arc<Metrics>) -> Result<Federation, AggregateError> {
        let Some(a) = &cfg.aggregate else {
            return Err(AggregateError::Client("no [aggregate] table".into()));
        };
        let files = crate::nats::ClientFiles::of(cfg)?;
        let status = Arc::new(AggregateStatus::default());
        let name = format!("twinloom-aggregate-{}", a.durable);
        let options = crate::nats::connect_options(&cfg.nats, &files, name, status.connected.clone())
            .await
            .map_err(AggregateError::Client)?;
        let client =
            options.connect(cfg.nats.servers.clone()).await.map_err(|e| AggregateError::Client(e.to_string()))?;
        let js = async_nats::jetstream::new(client);
        let prefix = cfg.nats.subject_prefix.clone();
        let deadline = Instant::now() + Duration::from_secs_f64(a.wait_s);
        let mut sites = Vec::new();
        let mut missing = Vec::new();
        for site in &a.sites {
            let stream = crate::nats::default_stream(site);
            let described = loop {
                match describe(&js, &stream, &prefix, site).await {
                    Ok(specs) if !specs.is_empty() => break Ok(specs),
                    Ok(_) => {
                        if Instant::now() >= deadline {
                            break Err(format!("{site}: stream {stream} holds no site description yet"));
                        }
                    }
                    Err(e) => {
                        status.errors.fetch_add(1, Relaxed);
                        if Instant::now() >= deadline {
                            break Err(format!("{site}: {e}"));
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            match described {
                Ok(specs) => {
                    let n: usize = specs.iter().map(|s| s.attributes.len()).sum();
                    tracing::info!(%site, %stream, processes = specs.len(), attributes = n, "aggregate: site described");
                    sites.push(Site { name: site.clone(), stream, specs });
                }
                Err(e) => {
                    tracing::error!("aggregate: site left out until the next start: {e}");
                    missing.push(e);
                }
            }
        }
        if sites.is_empty() {
            return Err(AggregateError::NoSites { wait_s: a.wait_s, detail: missing.join("; ") });
        }
        // One aggregator per durable and site: a second one with this durable is refused here.
        let holder = lease_holder(cfg);
        let mut leases = Vec::new();
        for site in &sites {
            let replicas = match js.get_stream(&site.stream).await {
                Ok(s) => s.cached_info().config.num_replicas,
                Err(e) => return Err(AggregateError::Client(format!("stream {}: {e}", site.stream))),
            };
            let lease = crate::lease::SiteLease::acquire(&js, &a.durable, &site.name, &holder, LEASE_TTL, replicas)
                .await
                .map_err(|error| AggregateError::Lease { site: site.name.clone(), error })?;
            leases.push(lease);
        }
        status.sites_bound.store(sites.len() as u64, Relaxed);
        // Generous: a message is acknowledged only after two saves of every layer, which take long on a
        // large stage, and a late acknowledgement means a redelivery. What a crash left unacknowledged
        // comes first at the next start anyway (the consumer is made again at its acknowledged floor).
        let ack_wait = Duration::from_secs_f64((cfg.stage.save_interval_s * 6.0).max(300.0));
        let (stop, _) = tokio::sync::watch::channel(false);
        Ok(Federation {
            js,
            prefix,
            durable: a.durable.clone(),
            ack_wait,
            sites,
            configured: a.sites.clone(),
            rescan: (a.rescan_s > 0.0).then(|| Duration::from_secs_f64(a.rescan_s)),
            unknown: Arc::new(tokio::sync::Notify::new()),
            leases: Arc::new(tokio::sync::Mutex::new(leases)),
            lost: Arc::new(tokio::sync::Notify::new()),
            rebinding: std::sync::atomic::AtomicBool::new(false),
            status,
            counters: Arc::new(SourceCounters::default()),
            metrics,
            stop,
            tasks: Mutex::new(Vec::new()),
        })
    }

    pub fn status(&self) -> Arc<AggregateStatus> {
        self.status.clone()
    }

    pub fn counters(&self) -> Arc<SourceCounters> {
        self.counters.clone()
    }

    /// Binds every described attribute under `/<root>/<Site>`, one shop per site and shop
    /// (`<site>.<shop>`); an attribute two processes of a site both describe is bound once (logged).
    pub fn bind(&self, root: &str, table: &mut BindingTable) -> usize {
        let mut seen = HashSet::new();
        let before = table.len();
        for site in &self.sites {
            let site_prim = format!("/{root}/{}", site_prim_name(&site.name));
            if site_prim_name(&site.name) != site.name {
                table.prim_display_names.insert(site_prim.clone(), site.name.clone());
            }
            for spec in &site.specs {
                for a in &spec.attributes {
                    let original = format!("{}.{}", a.prim, a.attr);
                    let (Some(prim), Some(value_type)) =
                        (reroot(&a.prim, &spec.root, &site_prim), ValueType::from_sdf_name(&a.value_type))
                    else {
                        tracing::warn!(site = %site.name, "aggregate: {original} ({}) cannot be bound", a.value_type);
                        self.status.bad_messages.fetch_add(1, Relaxed);
                        continue;
                    };
                    let address = format!("{}:{original}", site.name);
                    if !seen.insert(address.clone()) {
                        tracing::warn!(site = %site.name, "aggregate: {original} is described by two processes of the site: bound once");
                        continue;
                    }
                    let shop = table.shop_index(&format!("{}.{}", site.name, spec.shops[a.shop]));
                    table.bindings.push(Binding {
                        source: SOURCE.into(),
                        address,
                        shop,
                        prim,
                        attr: a.attr.clone(),
                        value_type,
                        scale: 1.0,
                        offset: 0.0,
                        unit: a.unit.clone(),
                        display_name: a.display_name.clone(),
                    });
                }
            }
        }
        table.len() - before
    }

    /// Starts one consumer per site; `bound` holds each binding's (signal, address, type), the address
    /// `<site>:<prim path>.<attr>` as [`Federation::bind`] made it.
    pub fn subscribe(&self, bound: Vec<(u32, String, ValueType)>, tx: mpsc::Sender<SampleBatch>) -> usize {
        let n = bound.len();
        // Per site, keyed by the attribute's path in the site's deltas: no key to build per edit.
        let mut by_site: HashMap<String, HashMap<String, (u32, ValueType)>> = HashMap::new();
        for (signal, address, t) in bound {
            if let Some((site, path)) = address.split_once(':') {
                by_site.entry(site.to_string()).or_default().insert(path.to_string(), (signal, t));
            }
        }
        let order = Arc::new(Order::default());
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for site in &self.sites {
            let consumer = Consumer {
                js: self.js.clone(),
                site: site.name.clone(),
                stream: site.stream.clone(),
                filter: format!("{}.{}.*.deltas", self.prefix, site.name),
                durable: self.durable.clone(),
                ack_wait: self.ack_wait,
                index: Arc::new(by_site.remove(&site.name).unwrap_or_default()),
                unknown: self.unknown.clone(),
                tx: tx.clone(),
                order: order.clone(),
                status: self.status.clone(),
                gauges: self.status.site(&site.name),
                counters: self.counters.clone(),
                metrics: self.metrics.clone(),
            };
            tasks.push(tokio::spawn(consumer.run(self.stop.subscribe())));
        }
        tasks.push(tokio::spawn(keep_leases(self.leases.clone(), self.lost.clone(), self.status.clone())));
        n
    }

    /// Resolves when a site's description differs from what was bound (why, for the log): the service
    /// then stops and binds again ([`crate::run`]). Looks every `rescan_s`, and at once when a consumer
    /// met an attribute no description declared (a connector that added signals publishes its new
    /// description before its deltas). Never resolves with `rescan_s = 0`.
    /// Also resolves when a site's lease was lost to another aggregator (the next start is refused).
    pub async fn described_anew(&self) -> String {
        let every = self.rescan.unwrap_or(Duration::from_secs(86_400));
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {},
                _ = self.unknown.notified(), if self.rescan.is_some() => {},
                _ = self.lost.notified() => return "a site's lease was taken by another aggregator".into(),
            }
            for site in &self.configured {
                let stream = crate::nats::default_stream(site);
                let specs = match describe(&self.js, &stream, &self.prefix, site).await {
                    Ok(specs) => specs,
                    Err(e) => {
                        self.status.errors.fetch_add(1, Relaxed);
                        tracing::debug!(%site, "aggregate: description not read (looked at again later): {e}");
                        continue;
                    }
                };
                let count = |specs: &[SiteSpec]| specs.iter().map(|s| s.attributes.len()).sum::<usize>();
                let why = match self.sites.iter().find(|s| &s.name == site) {
                    None if !specs.is_empty() => format!("site {site} is described now ({} attributes)", count(&specs)),
                    Some(bound) if !specs.is_empty() && !same_bindings(&bound.specs, &specs) => format!(
                        "site {site}'s description changed ({} attributes in {} processes; {} bound)",
                        count(&specs),
                        specs.len(),
                        count(&bound.specs)
                    ),
                    _ => continue,
                };
                self.rebinding.store(true, Relaxed);
                return why;
            }
        }
    }

    /// Counts a rebind of this process (in `twinloom_aggregate_rebinds_total`).
    pub fn count_rebind() {
        REBINDS.fetch_add(1, Relaxed);
    }

    /// Stops the consumers (what they had not acknowledged is delivered again at the next start).
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            t.abort();
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        if self.rebinding.load(Relaxed) {
            return; // the next run takes its leases back at once (the same holder)
        }
        // A standby with the same durable may take over at once.
        for lease in std::mem::take(&mut *self.leases.lock().await) {
            let key = lease.key().to_string();
            if let Err(e) = tokio::time::timeout(Duration::from_secs(2), lease.release())
                .await
                .unwrap_or_else(|_| Err(crate::lease::LeaseError::Client("no answer within 2 s".into())))
            {
                tracing::warn!(%key, "aggregate: lease not released (it expires): {e}");
            }
        }
    }
}

/// Refreshes every lease each third of its ttl. A lease another aggregator took (after this one could not
/// refresh it for a ttl, e.g. cut off from the cluster) is told to `lost`; a failed refresh is retried.
async fn keep_leases(
    leases: Arc<tokio::sync::Mutex<Vec<crate::lease::SiteLease>>>,
    lost: Arc<tokio::sync::Notify>,
    status: Arc<AggregateStatus>,
) {
    loop {
        tokio::time::sleep(LEASE_TTL / 3).await;
        for lease in leases.lock().await.iter_mut() {
            match lease.refresh().await {
                Ok(()) => {}
                Err(e @ crate::lease::LeaseError::Held { .. }) => {
                    tracing::error!("aggregate: {e}: this aggregator stops consuming");
                    lost.notify_one();
                    return;
                }
                Err(e) => {
                    status.errors.fetch_add(1, Relaxed);
                    tracing::warn!("aggregate: lease {} not refreshed (retried): {e}", lease.key());
                }
            }
        }
    }
}

/// Whether two descriptions of a site bind the same attributes in the same shops (their epochs aside: a
/// connector restarted without its journal describes the same site under a new epoch).
fn same_bindings(a: &[SiteSpec], b: &[SiteSpec]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.partition == y.partition && x.root == y.root && x.shops == y.shops && x.attributes == y.attributes
        })
}

/// Every site description in `stream` (the last message of each `<prefix>.<site>.*.stage` subject).
async fn describe(
    js: &async_nats::jetstream::Context,
    stream: &str,
    prefix: &str,
    site: &str,
) -> Result<Vec<SiteSpec>, String> {
    let s = js.get_stream(stream).await.map_err(|e| format!("stream {stream}: {e}"))?;
    let filter = format!("{prefix}.{site}.*.stage");
    let mut subjects = Vec::new();
    let mut info = s.info_with_subjects(&filter).await.map_err(|e| format!("stream {stream}: {e}"))?;
    while let Some(entry) = info.next().await {
        let (subject, _) = entry.map_err(|e| format!("stream {stream}: {e}"))?;
        subjects.push(subject);
    }
    subjects.sort();
    let mut specs = Vec::new();
    for subject in subjects {
        let m = s.get_last_raw_message_by_subject(&subject).await.map_err(|e| format!("{subject}: {e}"))?;
        let spec = SiteSpec::decode(&m.payload).map_err(|e| format!("{subject} (message {}): {e}", m.sequence))?;
        if spec.site != site {
            return Err(format!("{subject}: describes site {:?}", spec.site));
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// The samples every consumer sent so far, in channel order (a consumer sends and counts under the lock,
/// so "the ingest task has taken `n` samples" means every batch up to a count of `n` is in the twin).
#[derive(Default)]
struct Order {
    sent: tokio::sync::Mutex<u64>,
}

/// A message to acknowledge, once the samples before it are in saved layers.
struct Checkpoint {
    /// Samples sent up to and including this message.
    count: u64,
    acker: async_nats::jetstream::message::Acker,
    /// Every shop's save count when the ingest task had taken `count` samples.
    saves: Option<Vec<u64>>,
}

/// One site's consumer task.
struct Consumer {
    js: async_nats::jetstream::Context,
    site: String,
    stream: String,
    filter: String,
    durable: String,
    ack_wait: Duration,
    /// The site's attributes by their path in its deltas: (signal, type).
    index: Arc<HashMap<String, (u32, ValueType)>>,
    unknown: Arc<tokio::sync::Notify>,
    tx: mpsc::Sender<SampleBatch>,
    order: Arc<Order>,
    status: Arc<AggregateStatus>,
    gauges: Arc<SiteGauges>,
    counters: Arc<SourceCounters>,
    metrics: Arc<Metrics>,
}

/// A delta as the live server writes it (docs/protocol.md), its strings borrowed from the payload.
#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(rename = "timeMs", default)]
    time_ms: f64,
    #[serde(borrow)]
    edits: Vec<Edit<'a>>,
}

#[derive(Deserialize)]
struct Edit<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow)]
    path: Cow<'a, str>,
    value: serde_json::Value,
    #[serde(rename = "sourceTimeMs", default)]
    source_time_ms: Option<f64>,
}

/// A sample value of type `t` from a delta's JSON value; `None` when it is not one.
fn value_of(t: ValueType, v: &serde_json::Value) -> Option<Value> {
    crate::delta::LiveValue::from_json(t, v).map(Value::from)
}

fn time_of(ms: f64) -> Option<SystemTime> {
    (ms.is_finite() && ms > 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(ms / 1e3))
}

impl Consumer {
    async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut first = true;
        let mut backoff = Duration::from_millis(200);
        let mut checkpoints: VecDeque<Checkpoint> = VecDeque::new();
        while !*stop.borrow() {
            let messages = match self.open(first).await {
                Ok(m) => m,
                Err(e) => {
                    self.status.errors.fetch_add(1, Relaxed);
                    self.counters.count_error(ErrorReason::ReconnectFailed);
                    tracing::warn!(site = %self.site, "aggregate: consumer not ready (retrying): {e}");
                    tokio::select! { _ = tokio::time::sleep(backoff) => {}, _ = stop.changed() => {} }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            first = false;
            backoff = Duration::from_millis(200);
            self.counters.connected.store(true, Relaxed);
            tracing::info!(site = %self.site, stream = %self.stream, durable = %self.durable, "aggregate: consuming");
            let mut messages = std::pin::pin!(messages);
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tick.tick() => self.acknowledge(&mut checkpoints).await,
                    next = messages.next() => match next {
                        Some(Ok(m)) => {
                            if !self.handle(m, &mut checkpoints).await {
                                return; // the service is stopping: the ingest channel is closed
                            }
                        }
                        Some(Err(e)) => {
                            self.status.errors.fetch_add(1, Relaxed);
                            tracing::debug!(site = %self.site, "aggregate: {e}");
                        }
                        None => break,
                    },
                }
            }
            self.counters.connected.store(false, Relaxed);
            self.counters.reconnects.fetch_add(1, Relaxed);
        }
    }

    /// The consumer's message stream. At the first open in this process the durable consumer is made
    /// again at its acknowledged floor, so what it had delivered but not seen acknowledged comes first.
    async fn open(&self, first: bool) -> Result<async_nats::jetstream::consumer::pull::Stream, String> {
        use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
        let stream = self.js.get_stream(&self.stream).await.map_err(|e| format!("stream {}: {e}", self.stream))?;
        let mut deliver_policy = DeliverPolicy::All;
        if first {
            if let Ok(info) = stream.consumer_info(&self.durable).await {
                let floor = info.ack_floor.stream_sequence;
                stream.delete_consumer(&self.durable).await.map_err(|e| format!("re-make {}: {e}", self.durable))?;
                if floor > 0 {
                    deliver_policy = DeliverPolicy::ByStartSequence { start_sequence: floor + 1 };
                }
                tracing::info!(site = %self.site, floor, "aggregate: resuming after the acknowledged floor");
            }
        }
        let config = pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject: self.filter.clone(),
            ack_policy: AckPolicy::All,
            ack_wait: self.ack_wait,
            max_ack_pending: 1_000_000,
            deliver_policy,
            ..Default::default()
        };
        let consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(&self.durable, config)
            .await
            .map_err(|e| format!("consumer {}: {e}", self.durable))?;
        // Bounded in bytes too: a batch of large deltas must stay under what the server holds for one
        // connection (64 MiB), or it drops the aggregator as a slow consumer.
        consumer
            .stream()
            .max_messages_per_batch(512)
            .max_bytes_per_batch(MAX_BATCH_BYTES)
            .messages()
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a message's edits to the twin; false when the ingest channel is closed.
    async fn handle(&self, m: async_nats::jetstream::Message, checkpoints: &mut VecDeque<Checkpoint>) -> bool {
        let st = &self.status;
        st.messages.fetch_add(1, Relaxed);
        let mut redelivered = false;
        if let Ok(info) = m.info() {
            redelivered = info.delivered > 1;
            if redelivered {
                st.redeliveries.fetch_add(1, Relaxed);
            }
            self.gauges.pending.store(info.pending, Relaxed);
        }
        let (message, acker) = m.split();
        let mut batch: SampleBatch = Vec::new();
        match serde_json::from_slice::<Delta>(&message.payload) {
            Err(e) => {
                st.bad_messages.fetch_add(1, Relaxed);
                self.counters.count_error(ErrorReason::MalformedPayload);
                tracing::warn!(site = %self.site, subject = %message.subject, "aggregate: not a delta: {e}");
            }
            Ok(delta) => {
                let now = crate::delta::epoch_ms(SystemTime::now());
                self.gauges.lag_ms.store((now - delta.time_ms).max(0.0) as u64, Relaxed);
                batch.reserve(delta.edits.len());
                for e in delta.edits.iter().filter(|e| e.op == "set") {
                    let Some(&(signal, t)) = self.index.get(e.path.as_ref()) else {
                        if st.unknown_attributes.fetch_add(1, Relaxed) < 20 {
                            tracing::warn!(site = %self.site, "aggregate: {} is not in the site's description: looking for a new one", e.path);
                        }
                        self.unknown.notify_one();
                        continue;
                    };
                    let Some(value) = value_of(t, &e.value) else {
                        st.bad_messages.fetch_add(1, Relaxed);
                        self.counters.count_error(ErrorReason::WrongType);
                        tracing::warn!(site = %self.site, "aggregate: {}: {} is not a {}", e.path, e.value, t.sdf_name());
                        continue;
                    };
                    let source_time = e.source_time_ms.and_then(time_of).or_else(|| time_of(delta.time_ms));
                    batch.push(Sample {
                        signal,
                        value,
                        source_time,
                        server_time: time_of(delta.time_ms),
                        quality: Quality::GOOD,
                        historical: false,
                    });
                }
            }
        }
        let n = batch.len() as u64;
        let count = {
            let mut sent = self.order.sent.lock().await;
            if n > 0 {
                if self.tx.send(batch).await.is_err() {
                    return false;
                }
                *sent += n;
                self.counters.samples_in.fetch_add(n, Relaxed);
                self.counters.batches_in.fetch_add(1, Relaxed);
                st.edits.fetch_add(n, Relaxed);
                if redelivered {
                    st.redelivered_edits.fetch_add(n, Relaxed);
                }
            }
            *sent
        };
        match checkpoints.back_mut() {
            Some(last) if last.saves.is_none() => {
                last.count = count;
                last.acker = acker;
            }
            _ => checkpoints.push_back(Checkpoint { count, acker, saves: None }),
        }
        true
    }

    /// Acknowledges the newest message whose samples every shop's saved layer holds.
    async fn acknowledge(&self, checkpoints: &mut VecDeque<Checkpoint>) {
        let saves: Vec<u64> = self.metrics.shops().iter().map(|(_, m)| m.saves.load(Relaxed)).collect();
        let ingested = self.metrics.samples_in.load(Relaxed);
        if let Some(last) = checkpoints.back_mut() {
            if last.saves.is_none() && ingested >= last.count {
                last.saves = Some(saves.clone());
            }
        }
        // Two saves after the samples were in the twin: the second began after the tick that took them.
        let held = |cp: &Checkpoint| {
            cp.saves.as_ref().is_some_and(|s| s.len() == saves.len() && s.iter().zip(&saves).all(|(a, b)| *b >= a + 2))
        };
        let Some(i) = checkpoints.iter().rposition(held) else { return };
        let Some(cp) = checkpoints.drain(..=i).last() else { return };
        match cp.acker.ack().await {
            Ok(()) => {
                self.status.acks.fetch_add(1, Relaxed);
            }
            Err(e) => {
                // Not acknowledged: delivered again after the ack wait; the values are re-applied.
                self.status.errors.fetch_add(1, Relaxed);
                tracing::debug!(site = %self.site, "aggregate: acknowledgement failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_checked() {
        let ok = AggregateConfig {
            sites: vec!["north".into(), "south".into()],
            durable: default_durable(),
            wait_s: 30.0,
            rescan_s: 10.0,
        };
        assert!(ok.problems().is_empty());
        let bad = AggregateConfig {
            sites: vec!["a.b".into(), "x".into(), "x".into()],
            durable: "d d".into(),
            wait_s: -1.0,
            rescan_s: f64::NAN,
        };
        let keys: Vec<&str> = bad.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["sites", "sites", "durable", "wait_s", "rescan_s"]);
        assert_eq!(crate::nats::default_stream("north-1"), "TWINLOOM_NORTH_1");
    }

    #[test]
    fn a_new_epoch_is_the_same_binding_a_new_attribute_is_not() {
        use crate::federation::SiteAttribute;
        let attr = |name: &str| SiteAttribute {
            prim: "/Plant/BIW/R01".into(),
            attr: name.into(),
            value_type: "double".into(),
            shop: 0,
            unit: None,
            display_name: None,
        };
        let spec = SiteSpec {
            site: "north".into(),
            partition: None,
            root: "Plant".into(),
            epoch: 1,
            shops: vec!["biw".into()],
            attributes: vec![attr("temperature")],
        };
        let restarted = SiteSpec { epoch: 2, ..spec.clone() };
        assert!(same_bindings(std::slice::from_ref(&spec), &[restarted]));
        let grown = SiteSpec { attributes: vec![attr("temperature"), attr("current")], ..spec.clone() };
        assert!(!same_bindings(std::slice::from_ref(&spec), &[grown]));
        let partitioned = SiteSpec { partition: Some("body".into()), ..spec.clone() };
        assert!(!same_bindings(std::slice::from_ref(&spec), &[spec.clone(), partitioned]));
    }

    #[test]
    fn delta_values_become_samples_of_the_attribute_type() {
        use serde_json::json;
        assert_eq!(value_of(ValueType::Double, &json!(0.1)), Some(Value::F64(0.1)));
        assert_eq!(value_of(ValueType::Float, &json!(0.5)), Some(Value::F64(0.5)));
        assert_eq!(value_of(ValueType::Int, &json!(1i64 << 40)), None);
        assert_eq!(value_of(ValueType::Int, &json!(7)), Some(Value::I64(7)));
        assert_eq!(value_of(ValueType::Token, &json!("run")), Some(Value::String("run".into())));
        assert_eq!(value_of(ValueType::Float3, &json!([1, 2, 3])), Some(Value::Vec3([1.0, 2.0, 3.0])));
        assert_eq!(value_of(ValueType::Bool, &json!(1)), None);
        assert_eq!(value_of(ValueType::Double, &json!("x")), None);
        assert_eq!(time_of(0.0), None);
    }
}
