//! The connector's write-ahead journal of published ticks (issue 16, docs/journal.md): every delta the hub
//! publishes is appended to a [`twinloom_journal::Journal`] and committed under the hub's lock before any
//! client can see it, so journal order is sequence order. At start [`recover`] re-applies to each shop's
//! live layer the ticks its last save lacks, hands the journaled deltas back for the hub's resume ring and
//! keeps the stream's epoch, so a client that resumes after a `kill -9` gets what it missed, not a resync.
//!
//! Record payload: the delta's sequence number (u64, little-endian) followed by the message body exactly
//! as the hub's ring keeps it (LZ4 block with the size prepended, of the JSON `{"shop","layer","timeMs",
//! "edits"}`); the journal adds its own length and CRC32C.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use twinloom_journal::{Durability, Journal, Options, Retention};
use twinloom_usd::{LayerWriter, Tick};

use crate::config::Config;
use crate::delta::LiveValue;
use crate::metrics::JournalMetrics;
use crate::shop_attrs::ShopAttrs;

/// The file in the journal folder that keeps the live stream's epoch across restarts.
pub const EPOCH_FILE: &str = "epoch";
/// `customLayerData` key of the last sequence number a saved live layer includes.
pub const LAYER_SEQ_KEY: &str = "twinloom:seq";
/// `customLayerData` key of the epoch that sequence number belongs to.
pub const LAYER_EPOCH_KEY: &str = "twinloom:epoch";
/// How long a journal that failed waits before it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// Why the journal could not be started.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {dir}: {error}")]
    Open { dir: PathBuf, error: twinloom_journal::Error },
    #[error("journal {dir}: reading it back: {error}")]
    Read { dir: PathBuf, error: twinloom_journal::Error },
    #[error("{what} {path}: {error}")]
    Io { what: &'static str, path: PathBuf, error: std::io::Error },
}

/// The journal's settings taken from the `[journal]` table.
pub fn options(cfg: &Config) -> Options {
    let j = &cfg.journal;
    Options {
        durability: match j.durability.get_ref().as_str() {
            "per_sample" => Durability::PerSample,
            "os" => Durability::Os,
            _ => Durability::PerBatch,
        },
        segment_bytes: j.segment_mib.max(1) << 20,
        retention: Retention {
            max_total_bytes: j.max_mib.map(|m| m << 20),
            max_age: j.max_age_h.filter(|h| h.is_finite() && *h > 0.0).map(|h| Duration::from_secs_f64(h * 3600.0)),
        },
        ..Options::default()
    }
}

/// The sequence number of a history-only record: late and historical samples (see [`crate::twin`]), for
/// the history compactor only; recovery and the resume ring skip it.
pub const HISTORY_ONLY: u64 = 0;

/// The sequence number of a raw-samples record: every sample a shop accepted in one tick, before the tick
/// coalesced them, for the NATS forwarder's `samples` subject only (`[nats] samples = true`,
/// docs/nats.md); recovery, the resume ring and the history compactor skip it.
pub const RAW_SAMPLES: u64 = u64::MAX;

/// Whether a record's sequence number is a published delta's (not [`HISTORY_ONLY`] or [`RAW_SAMPLES`]).
pub fn is_delta(seq: u64) -> bool {
    seq != HISTORY_ONLY && seq != RAW_SAMPLES
}

/// Encodes a record: sequence number, then the packed delta body.
pub fn encode(seq: u64, packed: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + packed.len());
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(packed);
    v
}

/// Decodes a record into its sequence number and packed delta body.
pub fn decode(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (seq, body) = payload.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*seq), body))
}

/// The journal while the service runs: owned by the hub (under its lock). A failed append is counted and
/// logged, and the tick is published anyway (the live stage and stream never stop for the journal); a
/// journal poisoned by a failed fsync is reopened (and its recovery run) after [`REOPEN_AFTER`].
pub struct JournalSink {
    dir: PathBuf,
    options: Options,
    journal: Option<Journal>,
    failed_at: Option<Instant>,
    /// Whether the last append failed (an error is logged once per failure period, plus its recovery).
    failing: bool,
    /// (sequence number, journal position) of each record since the last truncation.
    positions: VecDeque<(u64, u64)>,
    metrics: Arc<JournalMetrics>,
    /// The first positions the history compactor and the NATS forwarder still need: nothing from the
    /// lowest on is truncated.
    floors: Vec<Arc<std::sync::atomic::AtomicU64>>,
}

impl JournalSink {
    fn new(dir: PathBuf, options: Options, journal: Journal, metrics: Arc<JournalMetrics>) -> Self {
        let s = JournalSink {
            dir,
            options,
            journal: Some(journal),
            failed_at: None,
            failing: false,
            positions: VecDeque::new(),
            metrics,
            floors: Vec::new(),
        };
        s.update_disk();
        s
    }

    /// Appends and commits one published delta (or a history-only or raw-samples record, `seq`
    /// [`HISTORY_ONLY`] or [`RAW_SAMPLES`]); false
    /// when it is not in the journal. Never fails: problems are logged and counted.
    pub fn append(&mut self, seq: u64, packed: &[u8]) -> bool {
        if self.journal.is_none() && self.failed_at.is_none_or(|t| t.elapsed() >= REOPEN_AFTER) {
            match Journal::open(&self.dir, self.options.clone()) {
                Ok((j, rec)) => {
                    if let Some(d) = &rec.damage {
                        self.metrics.damaged.fetch_add(1, Relaxed);
                        tracing::error!(dir = %self.dir.display(), segment = %d.segment.display(), offset = d.offset, "journal reopened after a failure: damage cut ({})", d.reason);
                    }
                    self.positions.clear();
                    self.journal = Some(j);
                }
                Err(e) => {
                    self.failed_at = Some(Instant::now());
                    self.fail(seq, &e);
                    return false;
                }
            }
        }
        let Some(j) = self.journal.as_mut() else {
            self.metrics.errors.fetch_add(1, Relaxed);
            self.metrics.unjournaled.fetch_add(1, Relaxed);
            return false;
        };
        let record = encode(seq, packed);
        let result = j.append(&record).and_then(|p| j.commit().map(|()| p));
        match result {
            Ok(position) => {
                if is_delta(seq) {
                    self.positions.push_back((seq, position));
                }
                self.metrics.appended.fetch_add(1, Relaxed);
                self.metrics.appended_bytes.fetch_add(record.len() as u64, Relaxed);
                if let Err(e) = j.enforce_retention() {
                    tracing::warn!(dir = %self.dir.display(), "journal retention: {e}");
                }
                if self.failing {
                    self.failing = false;
                    tracing::info!(dir = %self.dir.display(), seq, "journaling works again");
                }
                self.update_disk();
                true
            }
            Err(e) => {
                if matches!(e, twinloom_journal::Error::Sync { .. } | twinloom_journal::Error::Poisoned { .. }) {
                    // After a failed fsync only a reopen (and its recovery) tells what is on disk.
                    self.journal = None;
                    self.failed_at = Some(Instant::now());
                }
                self.fail(seq, &e);
                false
            }
        }
    }

    fn fail(&mut self, seq: u64, e: &twinloom_journal::Error) {
        self.metrics.errors.fetch_add(1, Relaxed);
        self.metrics.unjournaled.fetch_add(1, Relaxed);
        if !self.failing {
            self.failing = true;
            tracing::error!(dir = %self.dir.display(), seq, "journaling failed, the live stage and stream go on without it and it is retried at every tick: {e}");
        }
    }

    /// Every shop's live layer is saved up to `seq`: whole segments holding only older records go.
    pub fn saved_up_to(&mut self, seq: u64) {
        let Some(j) = self.journal.as_mut() else { return };
        while self.positions.front().is_some_and(|(s, _)| *s <= seq) {
            self.positions.pop_front();
        }
        let mut before = match self.positions.front() {
            Some((_, p)) => *p,
            None => j.next_position(),
        };
        for floor in &self.floors {
            before = before.min(floor.load(Relaxed).max(1));
        }
        if let Err(e) = j.truncate_before(before) {
            tracing::warn!(dir = %self.dir.display(), "journal truncation: {e}");
        }
        self.update_disk();
    }

    /// Keeps every record from `floor` on (the history compactor's or the NATS forwarder's position) when
    /// truncating; each call adds one floor.
    pub fn set_floor(&mut self, floor: Arc<std::sync::atomic::AtomicU64>) {
        self.floors.push(floor);
    }

    /// A reader over the records from `from` (clamped to what the journal holds) to the last written one,
    /// and the position it starts at; `None` while the journal is not open.
    pub fn reader(&self, from: u64) -> Option<twinloom_journal::Result<(twinloom_journal::Reader, u64)>> {
        let j = self.journal.as_ref()?;
        let next = j.written_position().map_or(j.first_position(), |p| p + 1);
        let start = from.clamp(j.first_position(), next);
        Some(j.reader(start).map(|r| (r, start)))
    }

    /// The position the next record gets; `None` while the journal is not open.
    pub fn next_position(&self) -> Option<u64> {
        self.journal.as_ref().map(|j| j.next_position())
    }

    /// Forces everything down and closes the journal (at shutdown).
    pub fn close(&mut self) {
        if let Some(j) = self.journal.take() {
            if let Err(e) = j.close() {
                self.metrics.errors.fetch_add(1, Relaxed);
                tracing::error!(dir = %self.dir.display(), "closing the journal: {e}");
            }
        }
    }

    fn update_disk(&self) {
        if let Some(j) = &self.journal {
            self.metrics.bytes_on_disk.store(j.disk_usage().bytes, Relaxed);
        }
    }
}

/// A shop's layer as recovery sees it: its writer (values of the last save, opened) and attributes.
pub struct ShopLayer<'a> {
    pub name: &'a str,
    pub usd: &'a mut LayerWriter,
    pub attrs: &'a ShopAttrs,
}

/// What [`recover`] found and did.
pub struct Recovered {
    pub sink: JournalSink,
    pub epoch: u64,
    /// The last sequence number published before the restart (the next one is `last_seq + 1`).
    pub last_seq: u64,
    /// Journaled deltas for the resume ring: contiguous sequence numbers ending at `last_seq`.
    pub ring: Vec<(u64, Box<[u8]>)>,
    /// Ticks re-applied to live layers.
    pub replayed: u64,
    /// The position each shop's saved layer records (0: none in this epoch).
    pub saved: Vec<u64>,
    pub seconds: f64,
}

/// One of a saved layer's position keys.
fn layer_key(usd: &LayerWriter, key: &str) -> Option<u64> {
    match usd.layer().custom_layer_data(key) {
        Ok(Some(twinloom_usd::Value::Int64(v))) => u64::try_from(v).ok(),
        _ => None,
    }
}

/// The sequence number a saved layer includes, when it was saved under `epoch`.
pub fn layer_seq(usd: &LayerWriter, epoch: Option<u64>) -> Option<u64> {
    let layer_epoch = layer_key(usd, LAYER_EPOCH_KEY)?;
    (Some(layer_epoch) == epoch).then(|| layer_key(usd, LAYER_SEQ_KEY)).flatten()
}

/// The file in the journal folder holding the first sequence number recovery may re-apply: records before
/// it are older than a layer saved by a later run without the journal (kept for history, never replayed).
pub const REPLAY_FROM_FILE: &str = "replay-from";

/// Opens the journal in `dir`, keeps or starts the stream's epoch and brings every shop's layer up to the
/// last journaled tick. Damage is cut, logged and counted, never fatal.
pub fn recover(
    dir: &Path,
    options: Options,
    shops: &mut [ShopLayer<'_>],
    metrics: Arc<JournalMetrics>,
) -> Result<Recovered, JournalError> {
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|error| JournalError::Io { what: "create", path: dir.into(), error })?;
    let durability = options.durability;
    let (journal, rec) =
        Journal::open(dir, options.clone()).map_err(|error| JournalError::Open { dir: dir.to_path_buf(), error })?;
    if let Some(d) = &rec.damage {
        metrics.damaged.fetch_add(1, Relaxed);
        tracing::error!(
            segment = %d.segment.display(), offset = d.offset, position = d.position, bytes_cut = d.bytes_cut,
            preserved = ?d.preserved, quarantined = rec.quarantined.len(),
            "the journal was damaged and is cut at its last good record: {}", d.reason
        );
    }
    let epoch_path = dir.join(EPOCH_FILE);
    let stored = std::fs::read_to_string(&epoch_path).ok().and_then(|t| t.trim().parse::<u64>().ok());
    // A torn tail under per_tick/per_sample is a tick that was never published (publish waits for the
    // commit). Under `os`, or with whole segments lost, published deltas may be gone: a new epoch makes
    // clients resync instead of trusting sequence numbers that could repeat.
    let risky = rec.damage.is_some() && (durability == Durability::Os || !rec.quarantined.is_empty());
    let (epoch, new_epoch) = match stored {
        Some(e) if !risky => (e, false),
        _ => {
            let e = (crate::delta::epoch_ms(SystemTime::now()) as u64).max(stored.map_or(0, |s| s + 1));
            write_epoch(&epoch_path, e)?;
            (e, true)
        }
    };
    // Positions are those of the journal's own (stored) epoch: a layer saved under an older one, or
    // before the journal was on, gets every journaled tick of its shop. A layer saved under a newer epoch
    // (a later run with the journal off) is newer than every journaled tick: the journal is stale, nothing
    // of it is re-applied (now or at a later start) and a new epoch begins.
    let positions: Vec<Option<u64>> = shops.iter().map(|s| layer_seq(s.usd, stored)).collect();
    let stale = stored.is_some_and(|e| shops.iter().any(|s| layer_key(s.usd, LAYER_EPOCH_KEY).is_some_and(|l| l > e)));
    let replay_from_path = dir.join(REPLAY_FROM_FILE);
    let replay_from =
        std::fs::read_to_string(&replay_from_path).ok().and_then(|t| t.trim().parse::<u64>().ok()).unwrap_or(0);
    let (epoch, new_epoch) = if stale && !new_epoch {
        // Written after `replay-from` (below): a crash in between must not leave a new epoch without it.
        let e = (crate::delta::epoch_ms(SystemTime::now()) as u64).max(epoch + 1);
        tracing::warn!(dir = %dir.display(), "the live layers were saved by a later run without the journal: the journal's ticks are older and are not re-applied; new epoch {e}");
        (e, true)
    } else {
        (epoch, new_epoch)
    };
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, s) in shops.iter().enumerate() {
        index.insert(s.name, i);
    }
    let mut lookups: Vec<Option<HashMap<String, usize>>> = vec![None; shops.len()];
    let mut ticks: Vec<Tick> = (0..shops.len()).map(|_| Tick::default()).collect();
    let mut last_seq = positions.iter().flatten().copied().max().unwrap_or(0);
    let mut ring: Vec<(u64, Box<[u8]>)> = Vec::new();
    let mut replayed = 0u64;
    let mut sink_positions = VecDeque::new();
    let mut reader = journal
        .reader(journal.first_position())
        .map_err(|error| JournalError::Read { dir: dir.to_path_buf(), error })?;
    loop {
        let (position, payload) = match reader.next_record() {
            None => break,
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                metrics.damaged.fetch_add(1, Relaxed);
                tracing::error!(dir = %dir.display(), "reading the journal back stopped: {e}");
                break;
            }
        };
        let Some((seq, packed)) = decode(payload) else {
            tracing::warn!(dir = %dir.display(), position, "a journal record too short to hold a delta is skipped");
            continue;
        };
        if !is_delta(seq) {
            continue; // late and historical samples (history's) or raw samples (the forwarder's)
        }
        sink_positions.push_back((seq, position));
        // The ring holds contiguous sequence numbers only: a gap (ticks not journaled while the disk was
        // full) or an older epoch's numbers start it over, so a client behind the gap is told to resync.
        if ring.last().is_some_and(|(s, _)| *s + 1 != seq) {
            ring.clear();
        }
        ring.push((seq, packed.into()));
        last_seq = last_seq.max(seq);
        let Some(body) = lz4_flex::block::decompress_size_prepended(packed).ok() else {
            tracing::warn!(dir = %dir.display(), seq, "a journaled delta does not unpack; skipped");
            continue;
        };
        let Ok(delta) = serde_json::from_slice::<JournaledDelta>(&body) else {
            tracing::warn!(dir = %dir.display(), seq, "a journaled delta is not a delta; skipped");
            continue;
        };
        let Some(&shop) = index.get(delta.shop.as_str()) else { continue };
        if stale || seq < replay_from || positions[shop].is_some_and(|p| seq <= p) {
            continue;
        }
        let s = &shops[shop];
        let lookup = lookups[shop]
            .get_or_insert_with(|| s.attrs.iter().enumerate().map(|(i, a)| (s.attrs.path(a).to_string(), i)).collect());
        for e in &delta.edits {
            let Some(&i) = lookup.get(&e.path) else { continue };
            let a = s.attrs.get(i);
            if let Some(v) = LiveValue::from_json(a.value_type, &e.value) {
                v.stage_into(&mut ticks[shop], a.handle);
            }
        }
        replayed += 1;
        // Ticks are coalesced per shop (a later value of the same attribute wins in the batch).
        if ticks[shop].len() >= 65_536 {
            flush(shops, &mut ticks, shop, dir);
        }
    }
    drop(reader);
    for shop in 0..shops.len() {
        flush(shops, &mut ticks, shop, dir);
    }
    if stale {
        let from = last_seq + 1;
        std::fs::write(&replay_from_path, format!("{from}\n"))
            .and_then(|()| std::fs::File::open(&replay_from_path)?.sync_all())
            .map_err(|error| JournalError::Io { what: "write", path: replay_from_path.clone(), error })?;
        write_epoch(&epoch_path, epoch)?;
    }
    if new_epoch || ring.last().is_some_and(|(s, _)| *s != last_seq) {
        // Another epoch's numbers, or a layer saved after the journal's end (its tail was lost).
        ring.clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics.recovery_seconds_bits.store(seconds.to_bits(), Relaxed);
    metrics.replayed.store(replayed, Relaxed);
    tracing::info!(
        dir = %dir.display(), epoch, last_seq, records = rec.records, replayed, seconds,
        "journal recovered"
    );
    let mut sink = JournalSink::new(dir.to_path_buf(), options, journal, metrics);
    sink.positions = sink_positions;
    let saved = if new_epoch { vec![0; positions.len()] } else { positions.iter().map(|p| p.unwrap_or(0)).collect() };
    Ok(Recovered { sink, epoch, last_seq, ring, replayed, saved, seconds })
}

fn flush(shops: &mut [ShopLayer<'_>], ticks: &mut [Tick], shop: usize, dir: &Path) {
    if ticks[shop].is_empty() {
        return;
    }
    if let Err(e) = shops[shop].usd.apply(&ticks[shop]) {
        tracing::error!(dir = %dir.display(), shop = shops[shop].name, "re-applying journaled ticks failed: {e}");
    }
    ticks[shop].clear();
}

fn write_epoch(path: &Path, epoch: u64) -> Result<(), JournalError> {
    let tmp = path.with_extension("tmp");
    let io = |what, error| JournalError::Io { what, path: path.to_path_buf(), error };
    std::fs::write(&tmp, format!("{epoch}\n")).map_err(|e| io("write", e))?;
    std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| io("sync", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
    Ok(())
}

#[derive(serde::Deserialize)]
struct JournaledDelta {
    shop: String,
    #[serde(default)]
    edits: Vec<JournaledEdit>,
}

#[derive(serde::Deserialize)]
struct JournaledEdit {
    path: String,
    #[serde(default)]
    value: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use twinloom_usd::{Layer, Value, ValueType};

    #[test]
    fn records_carry_the_sequence_number_and_the_packed_body() {
        let r = encode(42, b"abc");
        assert_eq!(decode(&r), Some((42, &b"abc"[..])));
        assert_eq!(decode(b"short"), None);
    }

    fn packed(shop: &str, edits: serde_json::Value) -> Vec<u8> {
        let body =
            serde_json::json!({"shop": shop, "layer": format!("live/{shop}.usdc"), "timeMs": 1.0, "edits": edits});
        lz4_flex::block::compress_prepend_size(body.to_string().as_bytes())
    }

    fn set(path: &str, ty: &str, value: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"op": "set", "path": path, "type": ty, "value": value})
    }

    /// A shop layer with /Plant/A.x (double), .y (int), .z (double), saved at `seq` of `epoch`.
    fn shop_layer(epoch: u64, seq: u64) -> (LayerWriter, ShopAttrs) {
        let mut usd = LayerWriter::new(Layer::create_anonymous("biw", "usda").unwrap());
        let mut attrs = ShopAttrs::default();
        for (name, t) in [("x", ValueType::Double), ("y", ValueType::Int), ("z", ValueType::Double)] {
            let h = usd.intern("/Plant/A", name, t).unwrap();
            attrs.push(h, "/Plant/A", name, t);
        }
        attrs.finish();
        let layer = usd.layer_mut();
        layer.set_custom_layer_data(LAYER_EPOCH_KEY, &Value::Int64(epoch as i64)).unwrap();
        layer.set_custom_layer_data(LAYER_SEQ_KEY, &Value::Int64(seq as i64)).unwrap();
        (usd, attrs)
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("twinloom-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn recovery_reapplies_what_the_layer_lacks_refills_the_ring_and_keeps_the_epoch() {
        let dir = temp("recover");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(EPOCH_FILE), "123\n").unwrap();
        {
            let (mut j, _) = Journal::open(&dir, Options::default()).unwrap();
            j.append(&encode(1, &packed("biw", serde_json::json!([set("/Plant/A.z", "double", 5.0.into())])))).unwrap();
            j.append(&encode(2, &packed("paint", serde_json::json!([set("/Plant/P.q", "double", 1.0.into())]))))
                .unwrap();
            j.append(&encode(
                3,
                &packed(
                    "biw",
                    serde_json::json!([set("/Plant/A.x", "double", 1.5.into()), set("/Plant/A.y", "int", 7.into())]),
                ),
            ))
            .unwrap();
            j.append(&encode(4, &packed("biw", serde_json::json!([set("/Plant/A.x", "double", 2.5.into())])))).unwrap();
            j.close().unwrap();
        }
        let (mut usd, attrs) = shop_layer(123, 1);
        let metrics = Arc::new(JournalMetrics::default());
        let r = {
            let mut shops = [ShopLayer { name: "biw", usd: &mut usd, attrs: &attrs }];
            recover(&dir, Options::default(), &mut shops, metrics.clone()).unwrap()
        };
        assert_eq!((r.epoch, r.last_seq, r.replayed), (123, 4, 2));
        assert_eq!(r.ring.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(r.saved, [1]);
        let get = |p: &str| usd.layer().default_value(p).unwrap();
        assert_eq!(get("/Plant/A.x"), Some(Value::Double(2.5)), "the later tick wins");
        assert_eq!(get("/Plant/A.y"), Some(Value::Int(7)));
        assert_eq!(get("/Plant/A.z"), None, "seq 1 is in the saved layer already: not replayed");
        assert_eq!(metrics.replayed.load(Relaxed), 2);
        drop(r);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn layers_saved_by_a_later_run_without_the_journal_are_not_overwritten_by_its_older_ticks() {
        let dir = temp("stale");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(EPOCH_FILE), "123\n").unwrap();
        {
            let (mut j, _) = Journal::open(&dir, Options::default()).unwrap();
            j.append(&encode(1, &packed("biw", serde_json::json!([set("/Plant/A.x", "double", 1.0.into())])))).unwrap();
            j.append(&encode(2, &packed("biw", serde_json::json!([set("/Plant/A.x", "double", 2.0.into())])))).unwrap();
            j.close().unwrap();
        }
        // The journal ran under epoch 123 up to seq 2; a later run without it (epoch 500) saved x = 9.
        let (mut usd, attrs) = shop_layer(500, 40);
        usd.layer_mut().upsert_default("/Plant/A.x", &Value::Double(9.0)).unwrap();
        let metrics = Arc::new(JournalMetrics::default());
        let r = {
            let mut shops = [ShopLayer { name: "biw", usd: &mut usd, attrs: &attrs }];
            recover(&dir, Options::default(), &mut shops, metrics.clone()).unwrap()
        };
        assert_eq!(r.replayed, 0, "nothing older than the layer is re-applied");
        assert!(r.epoch > 500, "a new epoch: {}", r.epoch);
        assert!(r.ring.is_empty());
        assert_eq!(usd.layer().default_value("/Plant/A.x").unwrap(), Some(Value::Double(9.0)));
        assert_eq!(std::fs::read_to_string(dir.join(REPLAY_FROM_FILE)).unwrap().trim(), "3");
        drop(r);
        // Killed before the layer was saved again (it still says epoch 500, now older than the journal's):
        // the stale ticks are still not re-applied.
        let r = {
            let mut shops = [ShopLayer { name: "biw", usd: &mut usd, attrs: &attrs }];
            recover(&dir, Options::default(), &mut shops, metrics.clone()).unwrap()
        };
        assert_eq!(r.replayed, 0);
        assert_eq!(usd.layer().default_value("/Plant/A.x").unwrap(), Some(Value::Double(9.0)));
        drop(r);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_tail_is_cut_and_counted_and_the_epoch_is_kept() {
        let dir = temp("torn");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(EPOCH_FILE), "77\n").unwrap();
        {
            let (mut j, _) = Journal::open(&dir, Options::default()).unwrap();
            j.append(&encode(1, &packed("biw", serde_json::json!([set("/Plant/A.x", "double", 3.0.into())])))).unwrap();
            j.close().unwrap();
        }
        let seg = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "wal"))
            .unwrap();
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[0x5A; 40]);
        std::fs::write(&seg, bytes).unwrap();
        let (mut usd, attrs) = shop_layer(77, 0);
        let metrics = Arc::new(JournalMetrics::default());
        let r = {
            let mut shops = [ShopLayer { name: "biw", usd: &mut usd, attrs: &attrs }];
            recover(&dir, Options::default(), &mut shops, metrics.clone()).unwrap()
        };
        assert_eq!((r.epoch, r.last_seq, r.replayed), (77, 1, 1));
        assert_eq!(metrics.damaged.load(Relaxed), 1);
        assert_eq!(usd.layer().default_value("/Plant/A.x").unwrap(), Some(Value::Double(3.0)));
        drop(r);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_first_start_writes_a_new_epoch() {
        let dir = temp("fresh");
        let (mut usd, attrs) = shop_layer(1, 0);
        let r = {
            let mut shops = [ShopLayer { name: "biw", usd: &mut usd, attrs: &attrs }];
            recover(&dir, Options::default(), &mut shops, Arc::default()).unwrap()
        };
        let stored: u64 = std::fs::read_to_string(dir.join(EPOCH_FILE)).unwrap().trim().parse().unwrap();
        assert_eq!((r.epoch, r.last_seq, r.replayed), (stored, 0, 0));
        assert!(r.ring.is_empty());
        drop(r);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
