//! One shop's USD writer thread: once per tick it takes the shop's pending values from the twin state,
//! applies them to the live layer in one batch (one FFI call, one SdfChangeBlock), publishes the delta,
//! saves the layer atomically every few seconds (in a child process when it can, see [`crate::layer_save`])
//! and on stop, and serves snapshots between ticks.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use twinloom_usd::{LayerWriter, Tick};

use crate::delta::{epoch_ms, LiveValue, SetRef};
use crate::hub::Hub;
use crate::journal;
use crate::layer_save::{self, LayerSaveError};
use crate::metrics::{Metrics, ShopMetrics};
use crate::shop_attrs::ShopAttrs;
use crate::twin::{Pending, TwinState};

/// A live layer exported at a sequence number: every delta of this shop up to `seq` is in it.
pub struct Snapshot {
    pub seq: u64,
    pub bytes: Vec<u8>,
}

/// The live layer's values as the `set` edits of a delta (a JSON array), at a sequence number: what
/// `/v1/snapshot?format=json` serves (the values of the shop's bound attributes that have one).
pub struct JsonSnapshot {
    pub seq: u64,
    pub edits: String,
}

pub enum Command {
    Snapshot(tokio::sync::oneshot::Sender<Result<Snapshot, String>>),
    /// The same state as [`Command::Snapshot`], as JSON edits (for the web view).
    SnapshotJson(tokio::sync::oneshot::Sender<Result<JsonSnapshot, String>>),
    /// Values arrived for a shop that had none pending (sent by ingestion, see [`Waker`]).
    Wake,
    Stop,
}

/// Tells a writer that its shop has pending values again, so a burst after a quiet period is written at
/// once instead of at the next tick boundary (cheap to clone; used by ingestion).
#[derive(Clone)]
pub struct Waker(mpsc::Sender<Command>);

impl Waker {
    pub fn wake(&self) {
        let _ = self.0.send(Command::Wake);
    }
}

pub struct ShopWriterConfig {
    pub shop: usize,
    pub name: String,
    /// The layer's path relative to the stage folder (`live/biw.usdc`), as clients see it.
    pub layer_rel: String,
    /// Where the layer is saved.
    pub path: PathBuf,
    pub tick: Duration,
    pub save_every: Duration,
    /// The program whose `write-layer` command saves the layer in a child process (see
    /// [`crate::layer_save`]); `None` exports in-process, holding the writer meanwhile.
    pub saver: Option<PathBuf>,
    /// The journal's epoch when the journal is on (saves then let the journal drop older segments).
    pub journal_epoch: Option<u64>,
    /// The stream's epoch: each save records it in the layer's `customLayerData` with the last sequence
    /// number it includes (see [`crate::journal`]), journal on or off — so a journal that is turned on
    /// again after a run without it knows the layers are newer than its ticks.
    pub epoch: u64,
    /// The sequence number the layer already includes at start (after journal recovery).
    pub start_seq: u64,
}

/// Owns a writer thread; `stop` flushes, saves and joins it.
pub struct ShopWriterHandle {
    pub name: String,
    cmd: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

/// Talks to a writer thread (cheap to clone; used by the HTTP handlers).
#[derive(Clone)]
pub struct WriterClient {
    pub name: String,
    cmd: mpsc::Sender<Command>,
}

impl WriterClient {
    /// Asks the writer for a snapshot (answered between ticks).
    pub async fn snapshot(&self) -> Result<Snapshot, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cmd.send(Command::Snapshot(tx)).map_err(|_| format!("the {} writer has stopped", self.name))?;
        rx.await.map_err(|_| format!("the {} writer has stopped", self.name))?
    }

    /// Asks the writer for its values as JSON edits (answered between ticks).
    pub async fn snapshot_json(&self) -> Result<JsonSnapshot, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cmd.send(Command::SnapshotJson(tx)).map_err(|_| format!("the {} writer has stopped", self.name))?;
        rx.await.map_err(|_| format!("the {} writer has stopped", self.name))?
    }
}

impl ShopWriterHandle {
    pub fn client(&self) -> WriterClient {
        WriterClient { name: self.name.clone(), cmd: self.cmd.clone() }
    }

    pub fn waker(&self) -> Waker {
        Waker(self.cmd.clone())
    }

    /// Flushes the last tick, saves the layer and joins the thread.
    pub fn stop(mut self) {
        let _ = self.cmd.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Writer {
    cfg: ShopWriterConfig,
    usd: LayerWriter,
    attrs: ShopAttrs,
    twin: Arc<TwinState>,
    hub: Arc<Hub>,
    metrics: Arc<ShopMetrics>,
    global: Arc<Metrics>,
    pending: Vec<Pending>,
    /// Late and historical samples of the tick (history only).
    late: Vec<Pending>,
    /// Late and historical samples that found no journal.
    late_lost: u64,
    /// Every sample the tick took, uncoalesced (only when raw samples are kept, `[nats] samples`).
    raw: Vec<Pending>,
    /// Raw samples that found no journal.
    raw_lost: u64,
    tick: Tick,
    last_seq: u64,
    /// The save running in a child process, if any, and the sequence number it saves.
    saving: Option<(u64, JoinHandle<Result<(), LayerSaveError>>)>,
    /// Snapshots taken (names their temporary files).
    snapshots: u64,
}

pub fn spawn(
    cfg: ShopWriterConfig,
    usd: LayerWriter,
    attrs: ShopAttrs,
    twin: Arc<TwinState>,
    hub: Arc<Hub>,
    global: Arc<Metrics>,
) -> std::io::Result<ShopWriterHandle> {
    let (tx, rx) = mpsc::channel();
    let name = cfg.name.clone();
    let metrics = global.add_shop(&name);
    let last_seq = cfg.start_seq;
    let w = Writer {
        cfg,
        usd,
        attrs,
        twin,
        hub,
        metrics,
        global,
        pending: Vec::new(),
        late: Vec::new(),
        late_lost: 0,
        raw: Vec::new(),
        raw_lost: 0,
        tick: Tick::default(),
        last_seq,
        saving: None,
        snapshots: 0,
    };
    let thread = std::thread::Builder::new().name(format!("usd-{name}")).spawn(move || w.run(rx))?;
    Ok(ShopWriterHandle { name, cmd: tx, thread: Some(thread) })
}

/// A tick's edits for the live stream, serialised as a sequence of `set` edits straight from the pending
/// values (no per-value edit is built: a burst tick holds every signal of the shop).
struct TickEdits<'a> {
    pending: &'a [Pending],
    attrs: &'a ShopAttrs,
}

impl serde::Serialize for TickEdits<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.pending.iter().map(|p| {
            let a = self.attrs.get(p.local as usize);
            SetRef {
                op: "set",
                path: self.attrs.path(a),
                value_type: a.value_type.sdf_name(),
                value: &p.value,
                source_time_ms: p.source_time.map(epoch_ms),
            }
        }))
    }
}

/// Empties a tick's pending values and gives back all but a small buffer. The buffer goes back to the twin
/// state at the next take, so keeping a burst-sized one would pin a burst's worth of values per shop for
/// the whole run (at 100,000 signals changing at once, megabytes); a burst regrows it while it arrives.
fn release_tick_buffer<T>(v: &mut Vec<T>) {
    const KEEP: usize = 4096;
    v.clear();
    if v.capacity() > KEEP {
        v.shrink_to(KEEP);
    }
}

/// Journals samples set aside from a tick (`values`, emptied) as one record of `kind` that no client sees
/// (see [`Hub::journal_record`]): `Ok(n)` when the journal keeps them, `Err(n)` when they are lost.
fn journal_aside(
    hub: &Hub,
    cfg: &ShopWriterConfig,
    attrs: &ShopAttrs,
    kind: u64,
    values: &mut Vec<Pending>,
) -> Result<u64, u64> {
    if values.is_empty() {
        return Ok(0);
    }
    let n = values.len() as u64;
    let edits = TickEdits { pending: values, attrs };
    let kept = hub.journal_record(kind, &cfg.name, &cfg.layer_rel, epoch_ms(SystemTime::now()), &edits);
    release_tick_buffer(values);
    if kept {
        Ok(n)
    } else {
        Err(n)
    }
}

impl Writer {
    /// The tick loop, leading-edge: values that arrive when the last delta is at least one tick old are
    /// written at once (on [`Command::Wake`]); values that arrive sooner coalesce until one tick after it.
    /// So a shop publishes at most one delta per tick, and a burst after a quiet period does not wait for a
    /// tick boundary. Without wakes the loop still ticks every tick (it is also the fallback).
    fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut last_delta = Instant::now();
        let mut next = Instant::now() + self.cfg.tick;
        let mut last_save = Instant::now();
        loop {
            match rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(Command::Snapshot(reply)) => self.snapshot(reply),
                Ok(Command::SnapshotJson(reply)) => {
                    let _ = reply.send(self.snapshot_json());
                }
                Ok(Command::Wake) => {
                    // Write now, or one tick after the last delta, whichever is later.
                    next = next.min((last_delta + self.cfg.tick).max(Instant::now()));
                }
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    if self.tick() {
                        last_delta = now;
                    }
                    next = now + self.cfg.tick;
                    if last_save.elapsed() >= self.cfg.save_every {
                        self.save();
                        last_save = Instant::now();
                    }
                }
            }
        }
        self.tick();
        self.final_save();
    }

    /// Writes and publishes the pending values; false when there were none.
    fn tick(&mut self) -> bool {
        let (late_dropped, raw_dropped) = {
            let mut st = self.twin.shop(self.cfg.shop).lock().unwrap_or_else(|e| e.into_inner());
            st.take(&mut self.pending);
            st.take_late(&mut self.late);
            st.take_raw(&mut self.raw);
            (st.late_dropped, st.raw_dropped)
        };
        self.journal_late(late_dropped);
        self.journal_raw(raw_dropped);
        if self.pending.is_empty() {
            self.metrics.last_tick_ms.store(epoch_ms(SystemTime::now()) as u64, Relaxed);
            return false;
        }
        self.tick.clear();
        for p in &self.pending {
            p.value.stage_into(&mut self.tick, self.attrs.get(p.local as usize).handle);
        }
        let started = Instant::now();
        match self.usd.apply(&self.tick) {
            Ok(_) => {
                self.metrics.usd_write_seconds.observe(started.elapsed().as_secs_f64());
                let now = SystemTime::now();
                let now_ms = epoch_ms(now);
                self.last_seq = self.hub.publish(
                    &self.cfg.name,
                    &self.cfg.layer_rel,
                    now_ms,
                    &TickEdits { pending: &self.pending, attrs: &self.attrs },
                );
                self.metrics.ticks.fetch_add(1, Relaxed);
                self.metrics.edits.fetch_add(self.pending.len() as u64, Relaxed);
                self.metrics.last_tick_ms.store(now_ms as u64, Relaxed);
                self.global.deltas_out.fetch_add(1, Relaxed);
                for p in &self.pending {
                    if let Some(t) = p.source_time {
                        if let Ok(lag) = now.duration_since(t) {
                            self.global.lag_seconds.observe(lag.as_secs_f64());
                        }
                    }
                }
            }
            Err(e) => {
                self.metrics.write_errors.fetch_add(1, Relaxed);
                tracing::error!(shop = %self.cfg.name, "OpenUSD refused a tick of {} values: {e}", self.pending.len());
            }
        }
        release_tick_buffer(&mut self.pending);
        if self.tick.len() > 4096 {
            self.tick = Tick::default(); // the same for the burst's USD columns
        }
        true
    }

    /// Journals the tick's late and historical samples for history (never the live layer or the stream);
    /// without a journal they are lost and counted. `full_drops`: those the twin state had no room for.
    fn journal_late(&mut self, full_drops: u64) {
        match journal_aside(&self.hub, &self.cfg, &self.attrs, journal::HISTORY_ONLY, &mut self.late) {
            Ok(n) => {
                self.metrics.late_samples.fetch_add(n, Relaxed);
            }
            Err(n) => {
                self.late_lost += n;
                tracing::warn!(shop = %self.cfg.name, samples = n, "late or historical samples lost: history needs the journal ([journal] enabled)");
            }
        }
        self.metrics.late_dropped.store(full_drops + self.late_lost, Relaxed);
    }

    /// Journals the samples the tick took, uncoalesced and in arrival order, as one raw-samples record for
    /// the NATS forwarder's `samples` subject (before the tick's delta: the record holds every sample whose
    /// newest value the delta carries, and the late ones). `full_drops`: those the twin state had no room
    /// for.
    fn journal_raw(&mut self, full_drops: u64) {
        match journal_aside(&self.hub, &self.cfg, &self.attrs, journal::RAW_SAMPLES, &mut self.raw) {
            Ok(n) => {
                self.metrics.raw_samples.fetch_add(n, Relaxed);
            }
            Err(n) => {
                self.raw_lost += n;
                tracing::warn!(shop = %self.cfg.name, samples = n, "raw samples not journaled: the NATS samples subject misses them");
            }
        }
        self.metrics.raw_dropped.store(full_drops + self.raw_lost, Relaxed);
    }

    /// Starts a periodic save: in a child process when there is a saver (skipped while the previous one
    /// still runs), otherwise in-process.
    fn save(&mut self) {
        let Some(exe) = self.cfg.saver.clone() else {
            let seq = self.stamp();
            let result = self.usd.layer().export_atomic(&self.cfg.path).map_err(LayerSaveError::from);
            self.record_save(result, seq);
            return;
        };
        if self.saving.as_ref().is_some_and(|(_, h)| !h.is_finished()) {
            tracing::debug!(shop = %self.cfg.name, "the previous save still runs; this one is skipped");
            return;
        }
        self.finish_save();
        let spec = self.spec_path();
        let seq = self.hub.current_seq();
        if let Err(e) = self.write_spec(&spec, seq) {
            let _ = std::fs::remove_file(&spec);
            self.record_save(Err(e), seq);
            return;
        }
        let out = self.cfg.path.clone();
        let started = std::thread::Builder::new()
            .name(format!("save-{}", self.cfg.name))
            .spawn(move || layer_save::save_in_child(&exe, &spec, &out));
        match started {
            Ok(h) => self.saving = Some((seq, h)),
            Err(error) => self.record_save(Err(LayerSaveError::Io { what: "start a save thread".into(), error }), seq),
        }
    }

    /// Records in the layer's `customLayerData` the epoch and the sequence number the save includes: every
    /// delta of this shop up to the hub's current number (this thread publishes the shop's deltas, so none
    /// of them can be newer). Returns that number.
    fn stamp(&mut self) -> u64 {
        let seq = self.hub.current_seq();
        let epoch = self.cfg.epoch;
        let layer = self.usd.layer_mut();
        let stamped = layer
            .set_custom_layer_data(crate::journal::LAYER_EPOCH_KEY, &twinloom_usd::Value::Int64(epoch as i64))
            .and_then(|()| {
                layer.set_custom_layer_data(crate::journal::LAYER_SEQ_KEY, &twinloom_usd::Value::Int64(seq as i64))
            });
        if let Err(e) = stamped {
            tracing::error!(shop = %self.cfg.name, "recording the stream position in the live layer failed: {e}");
        }
        seq
    }

    /// Waits for the save running in a child process, if any, and counts its outcome.
    fn finish_save(&mut self) {
        if let Some((seq, h)) = self.saving.take() {
            let result = h.join().unwrap_or_else(|_| {
                Err(LayerSaveError::Io { what: "the save thread".into(), error: std::io::Error::other("panicked") })
            });
            self.record_save(result, seq);
        }
    }

    /// The save at shutdown: waits for a running one, then saves the final values, through the child when
    /// there is a saver and in-process when there is none or the child fails (nothing may be lost).
    fn final_save(&mut self) {
        self.finish_save();
        if let Some(exe) = self.cfg.saver.clone() {
            let spec = self.spec_path();
            let seq = self.hub.current_seq();
            let result =
                self.write_spec(&spec, seq).and_then(|()| layer_save::save_in_child(&exe, &spec, &self.cfg.path));
            let _ = std::fs::remove_file(&spec);
            match result {
                Ok(()) => return self.record_save(Ok(()), seq),
                Err(e) => {
                    tracing::warn!(shop = %self.cfg.name, "saving the live layer in a child process failed ({e}); saving in-process")
                }
            }
        }
        let seq = self.stamp();
        let result = self.usd.layer().export_atomic(&self.cfg.path).map_err(LayerSaveError::from);
        self.record_save(result, seq);
    }

    /// Counts a save's outcome; a save that includes every delta up to `seq` lets the journal drop older
    /// segments.
    fn record_save(&self, result: Result<(), LayerSaveError>, seq: u64) {
        match result {
            Ok(()) => {
                self.metrics.saves.fetch_add(1, Relaxed);
                if self.cfg.journal_epoch.is_some() {
                    self.hub.layer_saved(self.cfg.shop, seq);
                }
            }
            Err(e) => {
                self.metrics.save_errors.fetch_add(1, Relaxed);
                tracing::error!(shop = %self.cfg.name, path = %self.cfg.path.display(), "saving the live layer failed: {e}");
            }
        }
    }

    /// Writes the save spec from what the layer holds (its defaults, read in one FFI call).
    /// The spec carries the position `seq` in this run's epoch (see [`Self::stamp`]).
    fn write_spec(&self, spec: &std::path::Path, seq: u64) -> Result<(), LayerSaveError> {
        let mut values: Vec<Option<LiveValue>> = vec![None; self.attrs.len()];
        self.usd.visit_defaults(|h, v| {
            if let Some(slot) = values.get_mut(h as usize) {
                *slot = LiveValue::from_usd(v);
            }
        })?;
        let position = Some(layer_save::Position { epoch: self.cfg.epoch, seq });
        layer_save::write_spec(spec, &self.attrs, &values, position)
    }

    /// The spec file handed to the child, next to the layer.
    fn spec_path(&self) -> PathBuf {
        let dir = self.cfg.path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        dir.join(format!(".{}.save-{}.jsonl", self.cfg.name, std::process::id()))
    }

    /// The layer's values (its defaults, read in one FFI call) as the `set` edits of a delta, at the
    /// sequence number of the last delta this writer published.
    fn snapshot_json(&self) -> Result<JsonSnapshot, String> {
        let mut values: Vec<Option<LiveValue>> = vec![None; self.attrs.len()];
        self.usd
            .visit_defaults(|h, v| {
                if let Some(slot) = values.get_mut(h as usize) {
                    *slot = LiveValue::from_usd(v);
                }
            })
            .map_err(|e| e.to_string())?;
        let edits: Vec<SetRef> = self
            .attrs
            .iter()
            .zip(&values)
            .filter_map(|(a, v)| {
                let value = v.as_ref()?;
                Some(SetRef {
                    op: "set",
                    path: self.attrs.path(a),
                    value_type: a.value_type.sdf_name(),
                    value,
                    source_time_ms: None,
                })
            })
            .collect();
        let edits = serde_json::to_string(&edits).map_err(|e| e.to_string())?;
        Ok(JsonSnapshot { seq: self.last_seq, edits })
    }

    /// Answers a snapshot request. With a saver the layer's values go to a spec (a few milliseconds) and a
    /// child process builds the `.usdc` from the last saved layer plus that spec while the writer goes on
    /// ticking; the snapshot is at the sequence number of the spec. Without one it is exported in-process.
    fn snapshot(&mut self, reply: tokio::sync::oneshot::Sender<Result<Snapshot, String>>) {
        let dir = self.cfg.path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
        self.snapshots += 1;
        let tmp = dir.join(format!(".snapshot-{}-{}-{}.usdc", self.cfg.name, std::process::id(), self.snapshots));
        let seq = self.last_seq;
        let read = move |tmp: &std::path::Path, made: Result<(), String>| {
            let result = made.and_then(|_| std::fs::read(tmp).map_err(|e| format!("read {}: {e}", tmp.display())));
            let _ = std::fs::remove_file(tmp);
            result.map(|bytes| Snapshot { seq, bytes })
        };
        let Some(exe) = self.cfg.saver.clone() else {
            let made = self.usd.layer().export(&tmp).map_err(|e| e.to_string());
            let _ = reply.send(read(&tmp, made));
            return;
        };
        let spec = tmp.with_extension("jsonl");
        let prepared = self.write_spec(&spec, seq).map_err(|e| e.to_string()).and_then(|()| {
            // The child applies the spec on top of the last saved layer, as a save does.
            if self.cfg.path.exists() {
                std::fs::copy(&self.cfg.path, &tmp)
                    .map(drop)
                    .map_err(|e| format!("copy {}: {e}", self.cfg.path.display()))
            } else {
                Ok(())
            }
        });
        if let Err(e) = prepared {
            let _ = std::fs::remove_file(&spec);
            let _ = reply.send(read(&tmp, Err(e)));
            return;
        }
        let started = std::thread::Builder::new().name(format!("snapshot-{}", self.cfg.name)).spawn(move || {
            let made = layer_save::save_in_child(&exe, &spec, &tmp).map_err(|e| e.to_string());
            let _ = reply.send(read(&tmp, made));
        });
        if let Err(e) = started {
            tracing::error!(shop = %self.cfg.name, "cannot start a snapshot thread: {e}");
        }
    }
}
