//! The service configuration (TOML): stage output, live stream, sources and bindings. Loading checks
//! everything it can and reports every problem with `file:line:col` and what is wrong.
//! The format is documented in docs/configuration.md.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;
use twinloom_usd::ValueType;

use crate::binding::BINDABLE_TYPES;
use crate::command::config::{AutonomyConfig, IdentityConfig, WritableConfig, WriteBackConfig, WriteBackParts};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigProblem {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from("twinloom-out")
}
fn default_root() -> String {
    "Plant".into()
}
fn default_tick_ms() -> u64 {
    50
}
fn default_save_s() -> f64 {
    10.0
}
fn default_listen() -> String {
    "127.0.0.1:8765".into()
}
fn default_ring() -> usize {
    20_000
}
fn default_ring_mib() -> usize {
    64
}
fn default_client_buffer() -> usize {
    64
}
fn default_level() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}
fn one() -> f64 {
    1.0
}
fn default_depth() -> u32 {
    16
}
fn default_publishing_ms() -> u64 {
    50
}
fn default_queue() -> u32 {
    10
}
fn default_security() -> Spanned<String> {
    Spanned::new(0..0, "none".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Folder the stage is written to (relative to the config file's folder).
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// Name of the root prim (defaultPrim).
    #[serde(default = "default_root")]
    pub root: String,
    /// Digital-twin capability level, 0 (model) to 5 (autonomous).
    #[serde(default = "default_level")]
    pub capability_level: Spanned<i64>,
    /// A layout layer to compose under the live layers (relative to `dir`).
    #[serde(default)]
    pub layout: Option<String>,
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    #[serde(default = "default_save_s")]
    pub save_interval_s: f64,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            dir: default_dir(),
            root: default_root(),
            capability_level: Spanned::new(0..0, 1),
            layout: None,
            tick_ms: default_tick_ms(),
            save_interval_s: default_save_s(),
        }
    }
}

/// The `[journal]` table: the write-ahead journal of published ticks (docs/journal.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Journal every tick before it reaches a client (off by default, see docs/journal.md).
    #[serde(default)]
    pub enabled: bool,
    /// The journal's folder (relative to the config file's folder); default `<stage dir>/journal`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// `per_tick` (one fdatasync per published tick), `per_sample` or `os` (never fsync'd).
    #[serde(default = "default_durability")]
    pub durability: Spanned<String>,
    /// Segment size in MiB (a segment rotates before it would grow past it).
    #[serde(default = "default_segment_mib")]
    pub segment_mib: u64,
    /// Delete the oldest segments while the journal takes more than this many MiB.
    #[serde(default)]
    pub max_mib: Option<u64>,
    /// Delete segments whose newest record is older than this many hours.
    #[serde(default)]
    pub max_age_h: Option<f64>,
}

/// The `[history]` table: the journal compacted into USD value clips (docs/history.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// Compact the journal into `history/` clips and `history.usda` (needs `[journal] enabled = true`).
    #[serde(default)]
    pub enabled: bool,
    /// Seconds between compactions (a query through `/v1/history` compacts first).
    #[serde(default = "default_history_flush_s")]
    pub flush_interval_s: f64,
    /// Delete clips whose hour ended more than this many days ago; none: keep everything.
    #[serde(default)]
    pub retention_days: Option<f64>,
}

/// The `[diagnostics]` table: streaming anomaly detectors on the live signals (docs/diagnostics.md,
/// "Live"). The connector selects the signals and runs the observer the program gives it
/// ([`Config::observer`]); `detector` is kept as it is written, for that program to read.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticsConfig {
    /// Follow the selected signals (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// Every numeric signal of these shops …
    #[serde(default)]
    pub shops: Vec<Spanned<String>>,
    /// … of these prims and the prims below them …
    #[serde(default)]
    pub prims: Vec<Spanned<String>>,
    /// … and these attributes (`/Prim.attr`). All three empty: every numeric signal.
    #[serde(default)]
    pub signals: Vec<Spanned<String>>,
    /// Detector and episode settings by name, for the program that builds the observer.
    #[serde(default)]
    pub detector: toml::Table,
    /// Condition signals forecast to their failure threshold (`[[diagnostics.forecasts]]`); each is
    /// followed whether the lists above take it or not.
    #[serde(default)]
    pub forecasts: Vec<ForecastSpec>,
}

/// One asset's time-to-threshold forecast (docs/forecast.md, "Live"): a degrading condition signal and
/// its failure limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSpec {
    /// The condition signal, `/Prim.attr` (a bound numeric attribute).
    pub signal: Spanned<String>,
    /// The failure limit, in the attribute's unit (after scale and offset).
    pub threshold: f64,
    /// True when the signal degrades downwards (a remaining thickness); default false (upwards).
    #[serde(default)]
    pub falling: bool,
    /// Seconds of samples averaged into one block (default 20).
    #[serde(default)]
    pub block_s: Option<f64>,
    /// Blocks of the current life needed before a forecast is given (default 10).
    #[serde(default)]
    pub min_blocks: Option<u32>,
    /// Probability of the interval (default 0.8).
    #[serde(default)]
    pub coverage: Option<f64>,
}

fn default_history_flush_s() -> f64 {
    10.0
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig { enabled: false, flush_interval_s: default_history_flush_s(), retention_days: None }
    }
}

fn default_durability() -> Spanned<String> {
    Spanned::new(0..0, "per_tick".into())
}
fn default_segment_mib() -> u64 {
    64
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: false,
            dir: None,
            durability: default_durability(),
            segment_mib: default_segment_mib(),
            max_mib: None,
            max_age_h: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Deltas kept for resuming clients …
    #[serde(default = "default_ring")]
    pub ring: usize,
    /// … and at most this many MiB of them.
    #[serde(default = "default_ring_mib")]
    pub ring_mib: usize,
    /// Messages a client may fall behind before it is resynced.
    #[serde(default = "default_client_buffer")]
    pub client_buffer: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            listen: default_listen(),
            ring: default_ring(),
            ring_mib: default_ring_mib(),
            client_buffer: default_client_buffer(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub endpoint: Spanned<String>,
    #[serde(default = "default_security")]
    pub security: Spanned<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    #[serde(default)]
    pub trust_server_certs: bool,
    #[serde(default)]
    pub sampling_interval_ms: u64,
    #[serde(default = "default_publishing_ms")]
    pub publishing_interval_ms: u64,
    #[serde(default)]
    pub deadband: Option<f64>,
    #[serde(default = "default_queue")]
    pub queue_size: u32,
    /// The OPC UA certificate store (`own/`, `private/`, `trusted/`, `rejected/`), relative to the config
    /// file's folder; `None` is `<stage dir>/.pki`.
    #[serde(default)]
    pub pki_dir: Option<PathBuf>,
    /// MQTT (`mqtt`, `sparkplug`): the client id; `None` is `twinloom-<source name>`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// MQTT over TLS (`mqtts://`): PEM file of the CAs that may sign the broker's certificate.
    #[serde(default)]
    pub ca_certificate: Option<PathBuf>,
    /// Sparkplug: this host application's id (its `spBv1.0/STATE/<host_id>` topic).
    #[serde(default)]
    pub host_id: Option<Spanned<String>>,
    /// Sparkplug: how long to collect births at start before auto-bindings are built.
    #[serde(default = "default_birth_wait_ms")]
    pub birth_wait_ms: u64,
    /// Sparkplug: how long a sequence gap may wait for the missing message before a rebirth is asked.
    #[serde(default = "default_reorder_ms")]
    pub reorder_timeout_ms: u64,
}

fn default_birth_wait_ms() -> u64 {
    3000
}
fn default_reorder_ms() -> u64 {
    2000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingConfig {
    pub source: Spanned<String>,
    pub node: Spanned<String>,
    pub shop: Spanned<String>,
    pub prim: Spanned<String>,
    pub attr: Spanned<String>,
    #[serde(rename = "type")]
    pub value_type: Spanned<String>,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoBindingConfig {
    pub source: Spanned<String>,
    /// Browse root.
    pub node: Spanned<String>,
    pub shop: Spanned<String>,
    /// Prim the browsed subtree is mirrored under.
    pub prim: Spanned<String>,
    #[serde(default = "default_depth")]
    pub max_depth: u32,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub stage: StageConfig,
    #[serde(default)]
    pub stream: StreamConfig,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub bindings: Vec<BindingConfig>,
    #[serde(default)]
    pub auto_bindings: Vec<AutoBindingConfig>,
    /// Write-back: the audit journal and the autonomy switch (docs/write-back.md).
    #[serde(default)]
    pub write_back: WriteBackConfig,
    /// Callers of the command API.
    #[serde(default)]
    pub identity: Vec<IdentityConfig>,
    /// Targets that may be written; none: writes are off.
    #[serde(default)]
    pub writable: Vec<WritableConfig>,
    /// Rules that write without a person (capability level 5).
    #[serde(default)]
    pub autonomy: Vec<AutonomyConfig>,
    /// MES: cars in work on the stage (docs/mes.md); `None`: no MES layer, `POST /v1/mes` answers 404.
    #[serde(default)]
    pub mes: Option<crate::mes::MesConfig>,
    /// The write-ahead journal of published ticks (docs/journal.md).
    #[serde(default)]
    pub journal: JournalConfig,
    /// The plant's history as USD value clips (docs/history.md).
    #[serde(default)]
    pub history: HistoryConfig,
    /// Forwarding the journal to a NATS JetStream cluster (docs/nats.md).
    #[serde(default)]
    pub nats: crate::nats::NatsConfig,
    /// The aggregator's sites (`twinloom aggregate`, docs/nats.md "Aggregator"); `None`: a connector.
    #[serde(default)]
    pub aggregate: Option<crate::aggregate::AggregateConfig>,
    /// Streaming anomaly detectors on the live signals (docs/diagnostics.md, "Live").
    #[serde(default)]
    pub diagnostics: DiagnosticsConfig,
    /// What follows the `[diagnostics]` signals: set by the program that runs the service (the `twinloom`
    /// program builds it from twinloom-diagnostics); `None` with diagnostics enabled logs a warning.
    #[serde(skip)]
    pub observer: Option<crate::observe::ObserverFactory>,
    /// What answers `POST /v1/ask`: set by the program that runs the service (the `twinloom` program: the
    /// copilot over the stage folder); `None`: the route answers 404.
    #[serde(skip)]
    pub ask: Option<crate::ask::AskHandler>,
    /// The file it came from (for messages and relative paths).
    #[serde(skip)]
    pub file: PathBuf,
    /// A program that writes stage files in short-lived child processes (`PROGRAM write-root …` for the
    /// root stage, `PROGRAM write-layer …` for periodic live-layer saves; the `twinloom` binary sets
    /// itself), so the service never holds the large root layer nor stalls a writer on a save; `None`
    /// does both in-process.
    pub stage_writer: Option<PathBuf>,
}

/// Parsing gives up after this many problems (a file that is not TOML at all).
const MAX_PROBLEMS: usize = 200;

/// What [`blank_key_line`] left out.
enum Blanked {
    Line,
    Table,
    Nothing,
}

/// Replaces the line holding byte `offset` by spaces, or when it is a table header the whole table (up to
/// the next header); `Nothing` when that line is blank or a comment (nothing left to leave out).
fn blank_key_line(text: &mut String, offset: usize) -> Blanked {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = |from: usize| text[from..].find('\n').map_or(text.len(), |i| from + i);
    let mut end = line_end(start);
    let line = text[start..end].trim_start();
    if line.is_empty() || line.starts_with('#') {
        return Blanked::Nothing;
    }
    let table = line.starts_with('[');
    if table {
        while end < text.len() && !text[end + 1..].trim_start().starts_with('[') {
            end = line_end(end + 1);
        }
    }
    // One space per byte (multi-byte characters included), so byte offsets hold.
    let blank: String = text[start..end].bytes().map(|b| if b == b'\n' { '\n' } else { ' ' }).collect();
    text.replace_range(start..end, &blank);
    if table {
        Blanked::Table
    } else {
        Blanked::Line
    }
}

/// `line:col` (1-based) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Where `key = …` stands in the `[table]` of `text` (for messages about plain, unspanned fields);
/// the table header, or the file start, when the key is not written (a default is in use).
pub(crate) fn key_span(text: &str, table: &str, key: &str) -> Range<usize> {
    let header = format!("[{table}]");
    let Some(start) = text
        .lines()
        .scan(0, |off, l| {
            let here = *off;
            *off += l.len() + 1;
            Some((here, l))
        })
        .find(|(_, l)| l.trim() == header)
        .map(|(off, _)| off)
    else {
        return 0..0;
    };
    let mut off = start;
    for (i, line) in text[start..].lines().enumerate() {
        let t = line.trim_start();
        if i > 0 && t.starts_with('[') {
            break;
        }
        if t.strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('=')) {
            let col = line.len() - t.len();
            return off + col..off + line.len();
        }
        off += line.len() + 1;
    }
    start..start
}

/// Whether `s` is an absolute USD prim path made of identifiers (`/A/B_1`).
pub fn is_prim_path(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('/') else { return false };
    !rest.is_empty() && rest.split('/').all(is_identifier)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic()) && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Whether `s` is a valid (possibly namespaced) USD property name.
pub fn is_property_name(s: &str) -> bool {
    !s.is_empty() && s.split(':').all(is_identifier)
}

impl Config {
    /// Reads and checks a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            problems: vec![ConfigProblem {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message: format!("cannot read: {e}"),
            }],
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks configuration text; `path` names it in messages. Every problem of the file is
    /// reported in one go: a line the parser rejects (bad syntax, an unknown key, a wrong type or range)
    /// is reported and left out, a table missing a required key is reported and left out, parsing goes
    /// on with the rest, and the semantic checks run on what parsed (references to a left-out table are
    /// not reported again).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let problem = |offset: usize, message: String| {
            let (line, col) = line_col(text, offset);
            ConfigProblem { file: path.to_path_buf(), line, col, message }
        };
        let mut problems = Vec::new();
        let mut work = text.to_string();
        let mut tables_left_out = false;
        let parsed = loop {
            match toml::from_str::<Config>(&work) {
                Ok(cfg) => break Some(cfg),
                Err(e) => {
                    let offset = e.span().map(|s| s.start).unwrap_or(0);
                    problems.push(problem(offset, e.message().trim().to_string()));
                    // Leave the offending line, or table, out (blanked: positions hold) and go on.
                    let left_out = match blank_key_line(&mut work, offset) {
                        Blanked::Line => true,
                        Blanked::Table => {
                            tables_left_out = true;
                            true
                        }
                        Blanked::Nothing => false,
                    };
                    if !left_out || problems.len() >= MAX_PROBLEMS {
                        break None;
                    }
                }
            }
        };
        if let Some(mut cfg) = parsed {
            cfg.file = path.to_path_buf();
            problems.extend(cfg.check(&work, !tables_left_out));
            if problems.is_empty() {
                return Ok(cfg);
            }
        }
        problems.sort_by_key(|p| (p.line, p.col));
        Err(ConfigError { problems })
    }

    /// The stage folder, resolved against the config file's folder.
    pub fn stage_dir(&self) -> PathBuf {
        self.relative_to_file(&self.stage.dir)
    }

    /// The certificate store of `source`: its `pki_dir` (relative to the config file's folder), or
    /// `<stage dir>/.pki`.
    pub fn pki_dir(&self, source: &SourceConfig) -> PathBuf {
        match &source.pki_dir {
            Some(d) => self.relative_to_file(d),
            None => self.stage_dir().join(".pki"),
        }
    }

    pub(crate) fn relative_to_file(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        // `components` drops the `.` of `dir = "."`.
        self.file.parent().unwrap_or(Path::new(".")).join(p).components().collect()
    }

    /// The semantic checks; `references` also checks that bindings name a defined source.
    fn check(&self, text: &str, references: bool) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        let mut at = |span: Range<usize>, message: String| {
            let (line, col) = line_col(text, span.start);
            out.push(ConfigProblem { file: self.file.clone(), line, col, message });
        };
        let lvl = &self.stage.capability_level;
        if !(0..=5).contains(lvl.get_ref()) {
            at(lvl.span(), format!("capability_level must be 0 (model) to 5 (autonomous), not {}", lvl.get_ref()));
        }
        if !is_identifier(&self.stage.root) {
            at(
                key_span(text, "stage", "root"),
                format!("stage.root {:?} is not a valid USD prim name", self.stage.root),
            );
        }
        if self.stage.tick_ms == 0 || self.stage.tick_ms > 60_000 {
            at(
                key_span(text, "stage", "tick_ms"),
                format!("stage.tick_ms must be 1..60000, not {}", self.stage.tick_ms),
            );
        }
        if self.stage.save_interval_s.is_nan() || self.stage.save_interval_s <= 0.0 {
            at(key_span(text, "stage", "save_interval_s"), "stage.save_interval_s must be positive".into());
        }
        if self.stream.listen.parse::<std::net::SocketAddr>().is_err() {
            at(
                key_span(text, "stream", "listen"),
                format!("stream.listen {:?} is not an address like 127.0.0.1:8765", self.stream.listen),
            );
        }
        let j = &self.journal;
        if !matches!(j.durability.get_ref().as_str(), "per_tick" | "per_sample" | "os") {
            at(
                j.durability.span(),
                format!("journal.durability must be per_tick, per_sample or os, not {:?}", j.durability.get_ref()),
            );
        }
        if j.segment_mib == 0 || j.segment_mib > 4096 {
            at(
                key_span(text, "journal", "segment_mib"),
                format!("journal.segment_mib must be 1..4096, not {}", j.segment_mib),
            );
        }
        if let Some(m) = j.max_mib {
            if m < j.segment_mib.saturating_mul(2) {
                at(
                    key_span(text, "journal", "max_mib"),
                    format!("journal.max_mib ({m}) must be at least two segments ({} MiB)", j.segment_mib * 2),
                );
            }
        }
        if let Some(h) = j.max_age_h {
            if !h.is_finite() || h <= 0.0 {
                at(key_span(text, "journal", "max_age_h"), "journal.max_age_h must be positive".into());
            }
        }
        let h = &self.history;
        if h.enabled && !j.enabled {
            at(
                key_span(text, "history", "enabled"),
                "history.enabled needs journal.enabled = true (history is compacted from the journal)".into(),
            );
        }
        if !h.flush_interval_s.is_finite() || h.flush_interval_s <= 0.0 {
            at(key_span(text, "history", "flush_interval_s"), "history.flush_interval_s must be positive".into());
        }
        if let Some(d) = h.retention_days {
            if !d.is_finite() || d <= 0.0 {
                at(key_span(text, "history", "retention_days"), "history.retention_days must be positive".into());
            }
        }
        for (key, message) in self.nats.problems(j.enabled) {
            at(key_span(text, "nats", key), message);
        }
        if let Some(a) = &self.aggregate {
            for (key, message) in a.problems() {
                at(key_span(text, "aggregate", key), message);
            }
            // The aggregator connects with [nats]'s settings even when it forwards nothing.
            if !self.nats.enabled {
                for (key, message) in self.nats.connection_problems() {
                    at(key_span(text, "nats", key), message);
                }
            }
            if !self.sources.is_empty()
                || !self.bindings.is_empty()
                || !self.auto_bindings.is_empty()
                || self.mes.is_some()
            {
                at(
                    key_span(text, "aggregate", "sites"),
                    "an aggregator's sources are the sites' streams: it takes no [[sources]], [[bindings]], \
                     [[auto_bindings]] or [mes]"
                        .into(),
                );
            }
        }
        for p in &self.diagnostics.prims {
            if !is_prim_path(p.get_ref().trim_end_matches('/')) {
                at(p.span(), format!("diagnostics.prims: {:?} is not a prim path like /Plant/Paint", p.get_ref()));
            }
        }
        for a in &self.diagnostics.signals {
            let ok =
                a.get_ref().split_once('.').is_some_and(|(prim, attr)| is_prim_path(prim) && is_property_name(attr));
            if !ok {
                at(
                    a.span(),
                    format!(
                        "diagnostics.signals: {:?} is not an attribute path like /Plant/Paint/Oven/Zone01.Temperature",
                        a.get_ref()
                    ),
                );
            }
        }
        for f in &self.diagnostics.forecasts {
            let ok = f.signal.get_ref().split_once('.').is_some_and(|(p, a)| is_prim_path(p) && is_property_name(a));
            let bad = if !ok {
                Some(format!(
                    "{:?} is not an attribute path like /Plant/Paint/Oven/Zone01.FanVibration",
                    f.signal.get_ref()
                ))
            } else if !f.threshold.is_finite() {
                Some("its threshold must be a finite number".to_string())
            } else if f.block_s.is_some_and(|b| !b.is_finite() || b <= 0.0) {
                Some("its block_s must be positive".to_string())
            } else if f.min_blocks.is_some_and(|b| b < 4) {
                Some("its min_blocks must be at least 4".to_string())
            } else if f.coverage.is_some_and(|c| !(c > 0.0 && c < 1.0)) {
                Some("its coverage must be between 0 and 1".to_string())
            } else {
                None
            };
            if let Some(why) = bad {
                at(f.signal.span(), format!("diagnostics.forecasts: {why}"));
            }
        }
        let mut names: Vec<&str> = Vec::new();
        for s in &self.sources {
            if names.contains(&s.name.get_ref().as_str()) {
                at(s.name.span(), format!("source {:?} is defined twice", s.name.get_ref()));
            }
            names.push(s.name.get_ref());
            match s.kind.get_ref().as_str() {
                "opcua" => {
                    if !s.endpoint.get_ref().starts_with("opc.tcp://") {
                        at(
                            s.endpoint.span(),
                            format!("endpoint {:?} must start with opc.tcp://", s.endpoint.get_ref()),
                        );
                    }
                }
                "modbus" => {
                    let hp = s.endpoint.get_ref().trim_start_matches("tcp://");
                    if !hp.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
                        at(
                            s.endpoint.span(),
                            format!(
                                "Modbus endpoint {:?} must be HOST:PORT (e.g. 127.0.0.1:502)",
                                s.endpoint.get_ref()
                            ),
                        );
                    }
                    if s.user.is_some() || s.certificate.is_some() || s.security.get_ref() != "none" {
                        at(
                            s.name.span(),
                            format!("source {:?}: Modbus TCP has no security, user or certificate", s.name.get_ref()),
                        );
                    }
                }
                "mqtt" | "sparkplug" => {
                    if crate::source::mqtt::parse_endpoint(s.endpoint.get_ref()).is_none() {
                        at(
                            s.endpoint.span(),
                            format!(
                                "MQTT endpoint {:?} must be mqtt://HOST:PORT or mqtts://HOST:PORT (TLS)",
                                s.endpoint.get_ref()
                            ),
                        );
                    }
                    if s.security.get_ref() != "none" {
                        at(
                            s.security.span(),
                            "MQTT sources take no security mode: use an mqtts:// endpoint for TLS".to_string(),
                        );
                    }
                    let tls = s.endpoint.get_ref().starts_with("mqtts://");
                    if !tls && (s.ca_certificate.is_some() || s.certificate.is_some()) {
                        at(
                            s.name.span(),
                            format!(
                                "source {:?}: ca_certificate and certificate need an mqtts:// endpoint",
                                s.name.get_ref()
                            ),
                        );
                    }
                    if let Some(h) = &s.host_id {
                        if h.get_ref().is_empty() || h.get_ref().contains(['/', '+', '#']) {
                            at(h.span(), format!("host_id {:?} must be a non-empty id without / + #", h.get_ref()));
                        }
                    }
                }
                other => at(
                    s.kind.span(),
                    format!(
                        "source kind {other:?} is not supported (supported: \"opcua\", \"modbus\", \"mqtt\", \"sparkplug\")"
                    ),
                ),
            }
            if !["none", "sign", "sign-and-encrypt"].contains(&s.security.get_ref().as_str()) {
                at(
                    s.security.span(),
                    format!("security {:?} must be \"none\", \"sign\" or \"sign-and-encrypt\"", s.security.get_ref()),
                );
            }
            if s.user.is_some() != s.password.is_some() {
                at(s.name.span(), format!("source {:?}: user and password go together", s.name.get_ref()));
            }
            if s.certificate.is_some() != s.private_key.is_some() {
                at(s.name.span(), format!("source {:?}: certificate and private_key go together", s.name.get_ref()));
            }
            if s.queue_size == 0 {
                at(s.name.span(), format!("source {:?}: queue_size must be at least 1", s.name.get_ref()));
            }
        }
        let known = |n: &Spanned<String>| !references || names.contains(&n.get_ref().as_str());
        let kind_of = |n: &Spanned<String>| {
            self.sources.iter().find(|s| s.name.get_ref() == n.get_ref()).map(|s| s.kind.get_ref().as_str())
        };
        let mut targets: Vec<(String, Range<usize>)> = Vec::new();
        for b in &self.bindings {
            if !known(&b.source) {
                at(b.source.span(), format!("unknown source {:?} (defined: {})", b.source.get_ref(), names.join(", ")));
            }
            match kind_of(&b.source) {
                Some("modbus") => {
                    if let Err(e) = crate::source::modbus::map::Point::parse(b.node.get_ref(), 1000) {
                        at(b.node.span(), e.to_string());
                    }
                }
                Some("mqtt") => {
                    if let Err(e) = crate::source::mqtt::json::JsonPoint::parse(b.node.get_ref()) {
                        at(b.node.span(), e.to_string());
                    }
                }
                Some("sparkplug") => {
                    if let Err(e) = crate::source::sparkplug::MetricAddress::parse(b.node.get_ref()) {
                        at(b.node.span(), e.to_string());
                    }
                }
                _ => {}
            }
            if !is_identifier(b.shop.get_ref()) {
                at(b.shop.span(), format!("shop {:?} must be a plain name like \"biw\"", b.shop.get_ref()));
            }
            if !is_prim_path(b.prim.get_ref()) {
                at(
                    b.prim.span(),
                    format!("prim {:?} is not an absolute USD prim path (like /Plant/BIW/Station01)", b.prim.get_ref()),
                );
            } else if !b.prim.get_ref().starts_with(&format!("/{}", self.stage.root)) {
                at(
                    b.prim.span(),
                    format!("prim {:?} is outside the stage's root /{}", b.prim.get_ref(), self.stage.root),
                );
            }
            if !is_property_name(b.attr.get_ref()) {
                at(b.attr.span(), format!("attr {:?} is not a valid USD property name", b.attr.get_ref()));
            }
            match ValueType::from_sdf_name(b.value_type.get_ref()) {
                Some(t) if BINDABLE_TYPES.contains(&t) => {}
                _ => at(
                    b.value_type.span(),
                    format!(
                        "type {:?} cannot be bound (use one of: {})",
                        b.value_type.get_ref(),
                        BINDABLE_TYPES.iter().map(|t| t.sdf_name()).collect::<Vec<_>>().join(", ")
                    ),
                ),
            }
            if !b.scale.is_finite() || !b.offset.is_finite() {
                at(b.node.span(), "scale and offset must be finite numbers".into());
            }
            let target = format!("{}.{}", b.prim.get_ref(), b.attr.get_ref());
            if let Some((_, first)) = targets.iter().find(|(t, _)| *t == target) {
                let (l, c) = line_col(text, first.start);
                at(b.attr.span(), format!("{target} is already bound at line {l}:{c}"));
            } else {
                targets.push((target, b.attr.span()));
            }
        }
        // Registers bound twice, per Modbus source (points of other sources never overlap these).
        for s in self.sources.iter().filter(|s| s.kind.get_ref() == "modbus") {
            let pts: Vec<(u32, crate::source::modbus::map::Point)> = self
                .bindings
                .iter()
                .filter(|b| b.source.get_ref() == s.name.get_ref())
                .filter_map(|b| crate::source::modbus::map::Point::parse(b.node.get_ref(), 1000).ok())
                .enumerate()
                .map(|(i, p)| (i as u32, p))
                .collect();
            if let Err(e) = crate::source::modbus::map::plan(&pts) {
                at(s.name.span(), format!("source {:?}: {e}", s.name.get_ref()));
            }
        }
        for a in &self.auto_bindings {
            match kind_of(&a.source) {
                Some(kind @ ("modbus" | "mqtt")) => at(
                    a.source.span(),
                    format!(
                        "source {:?} is {}: its values are bound one by one ([[bindings]]), not browsed",
                        a.source.get_ref(),
                        if kind == "modbus" { "Modbus" } else { "MQTT JSON" }
                    ),
                ),
                Some("sparkplug") => {
                    if let Err(e) = crate::source::sparkplug::BirthFilter::parse(a.node.get_ref()) {
                        at(a.node.span(), e.to_string());
                    }
                }
                _ => {}
            }
            if !known(&a.source) {
                at(a.source.span(), format!("unknown source {:?} (defined: {})", a.source.get_ref(), names.join(", ")));
            }
            if !is_identifier(a.shop.get_ref()) {
                at(a.shop.span(), format!("shop {:?} must be a plain name like \"biw\"", a.shop.get_ref()));
            }
            if !is_prim_path(a.prim.get_ref()) {
                at(a.prim.span(), format!("prim {:?} is not an absolute USD prim path", a.prim.get_ref()));
            }
        }
        self.write_back_parts().check(&mut at);
        if let Some(mes) = &self.mes {
            for p in mes.check(&self.stage.root) {
                // Problems without a value span point at their key in `[mes]` (`topics[0]` → `topics`).
                let key = p.field.strip_prefix("mes.").unwrap_or(&p.field);
                let key = key.split(['[', '.']).next().unwrap_or(key);
                at(p.span.clone().unwrap_or_else(|| key_span(text, "mes", key)), p.message);
            }
            let shops = self.bindings.iter().map(|b| &b.shop).chain(self.auto_bindings.iter().map(|a| &a.shop));
            for shop in shops.filter(|s| s.get_ref() == crate::mes::SHOP) {
                at(shop.span(), "shop \"mes\" is the MES layer's name on the live stream: pick another".into());
            }
            match &mes.mqtt_source {
                Some(src) if references => match kind_of(src) {
                    Some("mqtt" | "sparkplug") => {}
                    Some(other) => at(
                        src.span(),
                        format!("mes.mqtt_source {:?} is a {other} source, not mqtt or sparkplug", src.get_ref()),
                    ),
                    None => at(
                        src.span(),
                        format!("mes.mqtt_source: unknown source {:?} (defined: {})", src.get_ref(), names.join(", ")),
                    ),
                },
                None if !mes.topics.is_empty() => at(
                    key_span(text, "mes", "topics"),
                    "mes.topics needs mes.mqtt_source: the mqtt or sparkplug source whose broker carries them".into(),
                ),
                _ => {}
            }
        }
        out
    }

    /// The write-back tables with what their checks need to know of the bindings.
    pub fn write_back_parts(&self) -> WriteBackParts<'_> {
        WriteBackParts {
            identities: &self.identity,
            writables: &self.writable,
            autonomy: &self.autonomy,
            write_back: &self.write_back,
            bound: self.bindings.iter().map(|b| format!("{}.{}", b.prim.get_ref(), b.attr.get_ref())).collect(),
            sources: self.sources.iter().map(|s| s.name.get_ref().clone()).collect(),
            auto_prims: self.auto_bindings.iter().map(|a| a.prim.get_ref().clone()).collect(),
        }
    }

    /// The command API's TLS settings (files resolved against the config file's folder), when
    /// `write_back.tls_listen` is set.
    pub fn command_tls(&self) -> Option<crate::command::tls::TlsSettings> {
        let wb = &self.write_back;
        Some(crate::command::tls::TlsSettings {
            listen: wb.tls_listen.as_ref()?.get_ref().clone(),
            cert: self.relative_to_file(wb.tls_cert.as_ref()?),
            key: self.relative_to_file(wb.tls_key.as_ref()?),
            client_ca: wb.client_ca.as_ref().map(|c| self.relative_to_file(c)),
        })
    }

    /// The write-ahead journal's folder: `journal.dir` (relative to the config file's folder), or
    /// `<stage dir>/journal`.
    pub fn journal_dir(&self) -> PathBuf {
        match &self.journal.dir {
            Some(p) => self.relative_to_file(p),
            None => self.stage_dir().join("journal"),
        }
    }

    /// The audit journal's file: `write_back.audit` (relative to the config file's folder), or
    /// `<stage dir>/audit.jsonl`.
    pub fn audit_path(&self) -> PathBuf {
        match &self.write_back.audit {
            Some(p) => self.relative_to_file(p),
            None => self.stage_dir().join("audit.jsonl"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[stage]
dir = "out"
capability_level = 1

[[sources]]
name = "plc"
kind = "opcua"
endpoint = "opc.tcp://127.0.0.1:4840"

[[bindings]]
source = "plc"
node = "ns=2;s=Plant/BIW/Station01/R01/J1"
shop = "biw"
prim = "/Plant/BIW/Station01/R01"
attr = "j1"
type = "double"
unit = "deg"
"#;

    #[test]
    fn a_good_config_loads() {
        let c = Config::parse(GOOD, Path::new("plant.toml")).unwrap();
        assert_eq!(c.bindings.len(), 1);
        assert_eq!(c.stage_dir(), PathBuf::from("out"));
        assert_eq!(c.stage.tick_ms, 50);
        assert_eq!(c.pki_dir(&c.sources[0]), PathBuf::from("out/.pki"));
        let c = Config::parse(
            &GOOD.replace("kind = \"opcua\"", "kind = \"opcua\"\npki_dir = \"/etc/twinloom/pki\""),
            Path::new("plant.toml"),
        )
        .unwrap();
        assert_eq!(c.pki_dir(&c.sources[0]), PathBuf::from("/etc/twinloom/pki"));
    }

    #[test]
    fn every_semantic_problem_is_reported_with_its_position() {
        let bad = GOOD
            .replace("capability_level = 1", "capability_level = 9")
            .replace("source = \"plc\"", "source = \"plx\"")
            .replace("type = \"double\"", "type = \"matrix4d\"")
            .replace("prim = \"/Plant/BIW/Station01/R01\"", "prim = \"Plant/has space\"");
        let e = Config::parse(&bad, Path::new("plant.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].starts_with("plant.toml:4:20: capability_level must be 0"), "{}", lines[0]);
        assert!(lines[1].starts_with("plant.toml:12:10: unknown source \"plx\""), "{}", lines[1]);
        assert!(lines[2].starts_with("plant.toml:15:8: prim \"Plant/has space\" is not"), "{}", lines[2]);
        assert!(lines[3].starts_with("plant.toml:17:8: type \"matrix4d\" cannot be bound"), "{}", lines[3]);
    }

    #[test]
    fn syntax_and_unknown_keys_name_their_position() {
        let e = Config::parse("[stage]\ndir = \n", Path::new("x.toml")).unwrap_err();
        assert_eq!((e.problems[0].line, e.problems[0].col), (2, 7), "{e}");
        let e = Config::parse("[stage]\ncolour = 1\n", Path::new("x.toml")).unwrap_err();
        assert_eq!(e.problems[0].line, 2, "{e}");
        assert!(e.problems[0].message.contains("colour"), "{e}");
    }

    #[test]
    fn parse_problems_and_semantic_problems_are_reported_together() {
        let text = "[stage]\ncolour = 1\ntick_ms = -5\ncapability_level = 9\n\n[stream]\nlisten = \"nowhere\"\nring = \"big\"\n\n[[sources]]\nname = \"plc\"\nkind = \"opcua\"\nendpoint = \"opc.tcp://127.0.0.1:4840\"\nqueue_size = 1.5\nx = = 2\n";
        let e = Config::parse(text, Path::new("x.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| format!("{}:{}", p.line, p.col)).collect();
        assert_eq!(lines, ["2:1", "3:11", "4:20", "7:1", "8:8", "14:14", "15:5"], "{e}");
        assert!(e.problems[0].message.contains("colour"), "{e}");
        assert!(e.problems[3].message.contains("nowhere"), "{e}");
    }

    #[test]
    fn a_table_missing_a_required_key_is_reported_and_left_out() {
        let text = "[stage]\ntick_ms = -5\n\n[[sources]]\nname = \"plc\"\n\n[[bindings]]\nsource = \"plc\"\nnode = \"ns=2;s=A\"\nshop = \"biw\"\nprim = \"/Plant/A\"\nattr = \"a\"\ntype = \"double\"\n";
        let e = Config::parse(text, Path::new("x.toml")).unwrap_err();
        assert_eq!(e.problems.len(), 2, "{e}");
        assert_eq!((e.problems[0].line, e.problems[0].col), (2, 11), "{e}");
        assert_eq!(e.problems[1].line, 4, "{e}");
        assert!(e.problems[1].message.contains("missing field"), "{e}");
    }

    #[test]
    fn plain_fields_are_reported_where_they_are_written() {
        let text = "[stream]\nlisten = \"nowhere\"\n\n[stage]\n# the tick\n  tick_ms = 0\n";
        let e = Config::parse(text, Path::new("x.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "x.toml:2:1: stream.listen \"nowhere\" is not an address like 127.0.0.1:8765".to_string(),
                "x.toml:6:3: stage.tick_ms must be 1..60000, not 0".to_string(),
            ]
        );
    }

    #[test]
    fn the_journal_table_is_checked_where_it_is_written() {
        let ok = Config::parse("[journal]\nenabled = true\ndurability = \"os\"\nmax_mib = 512\n", Path::new("j.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.journal.enabled);
        assert_eq!(ok.journal_dir(), Path::new("twinloom-out/journal"));
        assert!(!Config::default().journal.enabled, "off unless asked for");
        let text = "[journal]\nenabled = true\ndurability = \"always\"\nsegment_mib = 0\nmax_age_h = -1\n";
        let e = Config::parse(text, Path::new("j.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            lines,
            vec![
                "j.toml:3:14: journal.durability must be per_tick, per_sample or os, not \"always\"".to_string(),
                "j.toml:4:1: journal.segment_mib must be 1..4096, not 0".to_string(),
                "j.toml:5:1: journal.max_age_h must be positive".to_string(),
            ]
        );
        let e = Config::parse("[journal]\nenable = true\n", Path::new("j.toml")).unwrap_err();
        assert_eq!((e.problems[0].line, e.problems[0].col), (2, 1), "{e}");
        assert!(e.problems[0].message.contains("unknown field `enable`"), "{e}");
    }

    #[test]
    fn modbus_sources_and_their_register_maps_are_checked() {
        let text = "[[sources]]\nname = \"m\"\nkind = \"modbus\"\nendpoint = \"meters\"\n\n[[bindings]]\nsource = \"m\"\nnode = \"holding=4;type=f32\"\nshop = \"e\"\nprim = \"/Plant/M\"\nattr = \"a\"\ntype = \"double\"\n\n[[bindings]]\nsource = \"m\"\nnode = \"holding=5\"\nshop = \"e\"\nprim = \"/Plant/M\"\nattr = \"b\"\ntype = \"int\"\n\n[[bindings]]\nsource = \"m\"\nnode = \"holding=1;type=f16\"\nshop = \"e\"\nprim = \"/Plant/M\"\nattr = \"c\"\ntype = \"double\"\n\n[[auto_bindings]]\nsource = \"m\"\nnode = \"x\"\nshop = \"e\"\nprim = \"/Plant/N\"\n";
        let e = Config::parse(text, Path::new("m.toml")).unwrap_err();
        let lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("m.toml:2:8: source \"m\": unit 1 holding 4 and unit 1 holding 5 overlap")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("m.toml:4:12: Modbus endpoint \"meters\" must be HOST:PORT")),
            "{lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("m.toml:24:8: Modbus address \"holding=1;type=f16\"")),
            "{lines:#?}"
        );
        assert!(lines.iter().any(|l| l.starts_with("m.toml:31:10: source \"m\" is Modbus")), "{lines:#?}");
        assert_eq!(lines.len(), 4, "{lines:#?}");
    }

    #[test]
    fn names_and_paths() {
        assert!(is_prim_path("/Plant/BIW_1"));
        assert!(!is_prim_path("/Plant/1BIW"));
        assert!(!is_prim_path("/"));
        assert!(is_property_name("xformOp:rotateZ"));
        assert!(!is_property_name("a::b"));
    }
}
