//! Writing history: samples are buffered by [`HistoryStore::add`] and written by [`HistoryStore::flush`]
//! into the shop's hourly clip layers (opened or created), its manifest, and the `history.usda` root.
//! Writing the same sample twice is harmless (a time sample is replaced by itself), so compacting a
//! stretch of journal again after a crash is safe.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use twinloom_usd::{AttrHandle, Layer, LayerWriter, Specifier, Tick, UpAxis, Value, ValueClips, ValueType};

use crate::error::{usd, HistoryError, Result};
use crate::reader::{check_query, query_clips, read_clip, Query};
use crate::{
    clip_file_name, clip_hours, hour_of, shop_dir, valid_shop_name, CLIP_SECONDS, HISTORY_DIR, HISTORY_ROOT,
    MANIFEST_FILE,
};

/// How the root `history.usda` is made.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The prim the clip sets are anchored on and the clips hold, e.g. `/Plant` (also the defaultPrim).
    pub root_prim: String,
    /// Layers `history.usda` sublayers after the manifests, relative to the stage folder (e.g. `plant.usda`).
    pub base_layers: Vec<String>,
    pub up_axis: UpAxis,
    pub meters_per_unit: f64,
}

/// What one [`HistoryStore::flush`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlushReport {
    /// Samples written (carry samples not included).
    pub samples: u64,
    /// Carry samples written at hour starts.
    pub carried: u64,
    /// Samples dropped: a value type clips do not carry, or an attribute whose type changed.
    pub skipped: u64,
    /// Samples not written because they repeat the attribute's previous value (held interpolation gives
    /// the same answer at every instant).
    pub unchanged: u64,
    /// Clip layers saved.
    pub clips_saved: u64,
    /// Whether `history.usda` was rewritten (a new hour or shop).
    pub root_written: bool,
}

struct Pending {
    prim: String,
    attr: String,
    ty: ValueType,
    time: f64,
    value: Value,
}

/// One hour's clip layer while it is written.
struct OpenClip {
    hour: i64,
    path: PathBuf,
    writer: LayerWriter,
    handles: HashMap<String, AttrHandle>,
    /// Whether the attribute already has samples in this clip (looked up once per attribute).
    has_samples: HashMap<String, bool>,
    dirty: bool,
    /// Samples written since the clip was last saved (to size the next save).
    unsaved: u64,
}

struct ShopHistory {
    dir: PathBuf,
    manifest_path: PathBuf,
    manifest: LayerWriter,
    declared: HashMap<String, ValueType>,
    manifest_dirty: bool,
    hours: BTreeSet<i64>,
    open: Option<OpenClip>,
    /// The last sample written per attribute (the carry into the next hour).
    last: HashMap<String, (f64, Value)>,
    pending: Vec<Pending>,
}

/// The history of a stage folder, written by one process (the connector's compactor).
pub struct HistoryStore {
    stage_dir: PathBuf,
    options: StoreOptions,
    shops: BTreeMap<String, ShopHistory>,
    root_dirty: bool,
}

impl HistoryStore {
    /// Opens the history of `stage_dir` (creating nothing until the first flush); existing shops' clips
    /// and manifests are picked up.
    pub fn open(stage_dir: &Path, options: StoreOptions) -> Result<HistoryStore> {
        let mut store =
            HistoryStore { stage_dir: stage_dir.to_path_buf(), options, shops: BTreeMap::new(), root_dirty: false };
        let base = stage_dir.join(HISTORY_DIR);
        if let Ok(rd) = std::fs::read_dir(&base) {
            let mut names: Vec<String> = rd
                .flatten()
                .filter(|e| e.path().join(MANIFEST_FILE).is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| valid_shop_name(n))
                .collect();
            names.sort();
            for name in names {
                store.shop(&name)?;
            }
        }
        Ok(store)
    }

    /// The stage folder.
    pub fn stage_dir(&self) -> &Path {
        &self.stage_dir
    }

    /// Buffers one sample of `prim.attr` at `time_s` (seconds since the Unix epoch) for `shop`.
    pub fn add(&mut self, shop: &str, prim: &str, attr: &str, ty: ValueType, time_s: f64, value: Value) -> Result<()> {
        if !time_s.is_finite() {
            return Err(HistoryError::BadRange { from: time_s, to: time_s });
        }
        let s = self.shop(shop)?;
        s.pending.push(Pending { prim: prim.to_string(), attr: attr.to_string(), ty, time: time_s, value });
        Ok(())
    }

    /// Samples buffered and not yet flushed.
    pub fn pending(&self) -> usize {
        self.shops.values().map(|s| s.pending.len()).sum()
    }

    /// Writes every buffered sample into its clip, saves what changed and rewrites `history.usda` when
    /// the set of clips changed. A failing shop does not stop the others; the first error is returned
    /// after all were tried. A clip that could not be saved stays in memory, marked unsaved, and is saved
    /// at the next flush; the caller compacts the same stretch again (writing a sample twice is harmless).
    pub fn flush(&mut self) -> Result<FlushReport> {
        let mut report = FlushReport::default();
        let mut first_error = None;
        for s in self.shops.values_mut() {
            let new_hours = s.hours.len();
            if let Err(e) = s.flush(&mut report) {
                first_error.get_or_insert(e);
            }
            if s.hours.len() != new_hours {
                self.root_dirty = true;
            }
        }
        if self.root_dirty || !self.stage_dir.join(HISTORY_ROOT).exists() && !self.shops.is_empty() {
            self.write_root()?;
            self.root_dirty = false;
            report.root_written = true;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Like [`crate::HistoryReader::query`], in the process that writes (which holds the manifests and
    /// the open clip): the samples of `attr_path` in `from..=to` as flushed so far.
    pub fn query(&self, attr_path: &str, from: f64, to: f64) -> Result<Query> {
        check_query(attr_path, from, to)?;
        let (shop, s, value_type) = self
            .shops
            .iter()
            .find_map(|(n, s)| s.manifest.layer().attribute(attr_path).ok().map(|a| (n, s, a.type_name)))
            .ok_or_else(|| HistoryError::UnknownAttribute(attr_path.to_string()))?;
        let hours: Vec<i64> = s.hours.iter().copied().collect();
        let mut read = |hour: i64, lo: f64, hi: f64, with_prior: bool| {
            let path = s.dir.join(clip_file_name(hour));
            match s.open.as_ref().filter(|c| c.hour == hour) {
                Some(c) => read_clip(c.writer.layer(), &path, attr_path, lo, hi, with_prior),
                None => read_clip(&Layer::open(&path).map_err(usd(&path))?, &path, attr_path, lo, hi, with_prior),
            }
        };
        let (prior, samples) = query_clips(&hours, from, to, &mut read)?;
        Ok(Query { attr: attr_path.to_string(), shop: shop.clone(), value_type, prior, samples })
    }

    fn shop(&mut self, shop: &str) -> Result<&mut ShopHistory> {
        if !self.shops.contains_key(shop) {
            if !valid_shop_name(shop) {
                return Err(HistoryError::BadShop(shop.to_string()));
            }
            let dir = shop_dir(&self.stage_dir, shop);
            std::fs::create_dir_all(&dir).map_err(|error| HistoryError::Io { path: dir.clone(), error })?;
            let manifest_path = dir.join(MANIFEST_FILE);
            let (layer, fresh) = open_or_create(&manifest_path)?;
            let s = ShopHistory {
                hours: clip_hours(&dir).into_iter().collect(),
                dir,
                manifest_path,
                manifest: LayerWriter::new(layer),
                declared: HashMap::new(),
                manifest_dirty: fresh,
                open: None,
                last: HashMap::new(),
                pending: Vec::new(),
            };
            self.shops.insert(shop.to_string(), s);
            self.root_dirty = true;
        }
        Ok(self.shops.get_mut(shop).expect("inserted above"))
    }

    /// Writes `history.usda`: the manifests and base layers as sublayers, one clip set per shop.
    fn write_root(&self) -> Result<()> {
        let path = self.stage_dir.join(HISTORY_ROOT);
        let err = usd(&path);
        let o = &self.options;
        let mut layer = Layer::create_anonymous("history", "usda").map_err(usd(&path))?;
        let mut sublayers: Vec<String> =
            self.shops.keys().map(|name| format!("{HISTORY_DIR}/{name}/{MANIFEST_FILE}")).collect();
        sublayers.extend(o.base_layers.iter().cloned());
        let root_name = o.root_prim.trim_start_matches('/');
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        for s in self.shops.values() {
            if let (Some(a), Some(b)) = (s.hours.first(), s.hours.last()) {
                first = first.min(*a);
                last = last.max(*b);
            }
        }
        let result = (|| {
            layer.set_default_prim(root_name)?;
            layer.set_up_axis(o.up_axis)?;
            layer.set_meters_per_unit(o.meters_per_unit)?;
            layer.set_time_codes_per_second(1.0)?;
            if first <= last {
                layer.set_start_time_code((first * CLIP_SECONDS) as f64)?;
                layer.set_end_time_code(((last + 1) * CLIP_SECONDS) as f64)?;
            }
            layer.set_comment(
                "Twinloom plant history: time codes are seconds since the Unix epoch (UTC); open with held \
                 interpolation to see each value as it held until the next one (docs/history.md)",
            )?;
            layer.set_sublayers(&sublayers)?;
            layer.define_prim(&o.root_prim, Specifier::Over, "")?;
            for (name, s) in &self.shops {
                let (Some(a), Some(b)) = (s.hours.first(), s.hours.last()) else { continue };
                let (start, end) = ((a * CLIP_SECONDS) as f64, ((b + 1) * CLIP_SECONDS) as f64);
                let clips = ValueClips {
                    asset_paths: s
                        .hours
                        .iter()
                        .map(|h| format!("{HISTORY_DIR}/{name}/{}", clip_file_name(*h)))
                        .collect(),
                    prim_path: o.root_prim.clone(),
                    active: s.hours.iter().enumerate().map(|(i, h)| ((h * CLIP_SECONDS) as f64, i as f64)).collect(),
                    times: vec![(start, start), (end, end)],
                    manifest: Some(format!("{HISTORY_DIR}/{name}/{MANIFEST_FILE}")),
                    interpolate_missing: true,
                };
                layer.set_value_clips(&o.root_prim, name, &clips)?;
            }
            Ok(())
        })();
        result.map_err(err)?;
        layer.export_atomic(&path).map_err(usd(&path))
    }
}

impl ShopHistory {
    fn flush(&mut self, report: &mut FlushReport) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        pending.sort_by(|a, b| a.time.total_cmp(&b.time));
        let mut tick = Tick::default();
        let mut tick_time = f64::NAN;
        let mut result = Ok(());
        // (hour, attribute) written in an hour with later clips: the next clip's carry may have been taken
        // before this sample arrived.
        let mut late: BTreeSet<(i64, String)> = BTreeSet::new();
        for p in pending {
            let hour = hour_of(p.time);
            if self.open.as_ref().is_none_or(|c| c.hour != hour) {
                if let Err(e) = self.apply(&mut tick).and_then(|()| self.switch_to(hour, report)) {
                    result = Err(e);
                    break;
                }
                // A tick belongs to one writer: start a fresh one for the new clip.
                tick = Tick::default();
                tick_time = f64::NAN;
            }
            let path = format!("{}.{}", p.prim, p.attr);
            match self.declared.get(&path) {
                Some(t) if *t != p.ty => {
                    report.skipped += 1;
                    continue;
                }
                Some(_) => {}
                None => {
                    if self.manifest.intern(&p.prim, &p.attr, p.ty).is_err() {
                        report.skipped += 1;
                        continue;
                    }
                    self.declared.insert(path.clone(), p.ty);
                    self.manifest_dirty = true;
                }
            }
            if self.last.get(&path).is_some_and(|(t, v)| *t <= p.time && *v == p.value && hour_of(*t) == hour) {
                report.unchanged += 1;
                continue;
            }
            let hour_start = (hour * CLIP_SECONDS) as f64;
            let carry = self.carry_for(&path, hour, p.time);
            let clip = self.open.as_mut().expect("switched above");
            let h = match clip.handles.get(&path) {
                Some(h) => *h,
                None => match clip.writer.intern(&p.prim, &p.attr, p.ty) {
                    Ok(h) => *clip.handles.entry(path.clone()).or_insert(h),
                    Err(_) => {
                        report.skipped += 1;
                        continue;
                    }
                },
            };
            if let Some(v) = carry {
                let mut t = Tick::at_time(hour_start);
                if stage_value(&mut t, h, &v) && clip.writer.apply(&t).is_ok() {
                    report.carried += 1;
                }
            }
            if tick_time != p.time {
                if let Err(e) = apply_to(clip, &mut tick) {
                    result = Err(e);
                    break;
                }
                tick.set_time(p.time);
                tick_time = p.time;
            }
            if stage_value(&mut tick, h, &p.value) {
                report.samples += 1;
                clip.has_samples.insert(path.clone(), true);
                clip.dirty = true;
                clip.unsaved += 1;
                if self.hours.range(hour + 1..).next().is_some() {
                    late.insert((hour, path.clone()));
                }
                if self.last.get(&path).is_none_or(|(t, _)| *t <= p.time) {
                    self.last.insert(path, (p.time, p.value));
                }
            } else {
                report.skipped += 1;
            }
        }
        let applied = self.apply(&mut tick);
        let carried = if result.is_ok() { self.refresh_carries(&late, report) } else { Ok(()) };
        let saved = self.save_open(report);
        let manifest = if self.manifest_dirty {
            self.manifest.layer_mut().save().map_err(usd(&self.manifest_path)).map(|()| self.manifest_dirty = false)
        } else {
            Ok(())
        };
        result.and(applied).and(carried).and(saved).and(manifest)
    }

    /// After samples written into an hour that has later clips (late samples): for each (hour, attribute),
    /// when the next recorded hour's clip starts with a carry sample taken before the sample arrived, that
    /// carry is set to the value now in effect at the end of the hour (its last sample). A sample at the
    /// next hour's first instant is taken for a stale carry when it equals the value before the hour's last
    /// sample and differs from that last sample: the value a carry written before the late sample holds.
    fn refresh_carries(&mut self, late: &BTreeSet<(i64, String)>, report: &mut FlushReport) -> Result<()> {
        let mut hours: Vec<i64> = late.iter().map(|(h, _)| *h).collect();
        hours.dedup();
        for hour in hours {
            let Some(&next) = self.hours.range(hour + 1..).next() else { continue };
            let next_start = (next * CLIP_SECONDS) as f64;
            let this_path = self.dir.join(clip_file_name(hour));
            let next_path = self.dir.join(clip_file_name(next));
            let open_hour = self.open.as_ref().map(|c| c.hour);
            let this =
                if open_hour == Some(hour) { None } else { Some(Layer::open(&this_path).map_err(usd(&this_path))?) };
            let mut next_layer =
                if open_hour == Some(next) { None } else { Some(Layer::open(&next_path).map_err(usd(&next_path))?) };
            let mut changed = 0;
            for (_, path) in late.range((hour, String::new())..).take_while(|(h, _)| *h == hour) {
                let this = match (&this, self.open.as_ref()) {
                    (Some(l), _) => l,
                    (None, Some(c)) => c.writer.layer(),
                    (None, None) => continue,
                };
                let last_before = |t: f64| {
                    this.time_samples_in(path, t, f64::NEG_INFINITY, true).ok().and_then(|s| s.into_iter().next_back())
                };
                let Some((last_t, last_v)) = last_before(next_start) else { continue };
                let before_last = last_before(last_t).map(|(_, v)| v);
                let next = match (next_layer.as_mut(), self.open.as_mut()) {
                    (Some(l), _) => l,
                    (None, Some(c)) => c.writer.layer_mut(),
                    (None, None) => continue,
                };
                let carry = next.time_sample(path, next_start).ok().flatten();
                if carry.is_some_and(|c| Some(&c) == before_last.as_ref() && c != last_v) {
                    next.set_time_sample(path, next_start, &last_v).map_err(usd(&next_path))?;
                    changed += 1;
                }
            }
            if changed == 0 {
                continue;
            }
            report.carried += changed;
            match next_layer.as_mut() {
                Some(layer) => {
                    let size = std::fs::metadata(&next_path).map_or(0, |m| m.len());
                    twinloom_usd::ensure_room(&next_path, size + changed * BYTES_PER_SAMPLE_BOUND + 64 * 1024)
                        .map_err(usd(&next_path))?;
                    layer.save().map_err(usd(&next_path))?;
                    report.clips_saved += 1;
                }
                None => {
                    if let Some(c) = self.open.as_mut() {
                        c.dirty = true;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, tick: &mut Tick) -> Result<()> {
        match self.open.as_mut() {
            Some(c) => apply_to(c, tick),
            None => Ok(()),
        }
    }

    /// Makes `hour`'s clip the open one (saving the previous one), opening or creating its file.
    fn switch_to(&mut self, hour: i64, report: &mut FlushReport) -> Result<()> {
        self.save_open(report)?;
        self.open = None;
        let path = self.dir.join(clip_file_name(hour));
        let (layer, _) = open_or_create(&path)?;
        self.hours.insert(hour);
        self.open = Some(OpenClip {
            hour,
            path,
            writer: LayerWriter::new(layer),
            handles: HashMap::new(),
            has_samples: HashMap::new(),
            dirty: false,
            unsaved: 0,
        });
        Ok(())
    }

    fn save_open(&mut self, report: &mut FlushReport) -> Result<()> {
        if let Some(c) = self.open.as_mut().filter(|c| c.dirty) {
            let size = std::fs::metadata(&c.path).map_or(0, |m| m.len());
            // Written only when it surely fits: a failing .usdc write crashes OpenUSD (twinloom_usd::ensure_room).
            twinloom_usd::ensure_room(&c.path, size + c.unsaved * BYTES_PER_SAMPLE_BOUND + 64 * 1024)
                .map_err(usd(&c.path))?;
            c.writer.layer_mut().save().map_err(usd(&c.path))?;
            c.dirty = false;
            c.unsaved = 0;
            report.clips_saved += 1;
        }
        Ok(())
    }

    /// The value to carry into `hour` at its first instant, when `path` has no sample in the open clip
    /// yet and the first new one comes later: the last value written before the hour (in this process,
    /// else read from the latest earlier clip).
    fn carry_for(&mut self, path: &str, hour: i64, time: f64) -> Option<Value> {
        let hour_start = (hour * CLIP_SECONDS) as f64;
        let clip = self.open.as_mut()?;
        let has = match clip.has_samples.get(path) {
            Some(b) => *b,
            None => {
                let b = clip.writer.layer().attribute(path).is_ok_and(|a| !a.time_samples.is_empty());
                clip.has_samples.insert(path.to_string(), b);
                b
            }
        };
        if has || time <= hour_start {
            return None;
        }
        if let Some((t, v)) = self.last.get(path) {
            if *t < hour_start {
                return Some(v.clone());
            }
        }
        let previous = *self.hours.range(..hour).next_back()?;
        let layer = Layer::open(&self.dir.join(clip_file_name(previous))).ok()?;
        let samples = layer.time_samples_in(path, hour_start, f64::NEG_INFINITY, true).ok()?;
        samples.into_iter().next_back().map(|(_, v)| v)
    }
}

/// A generous bound of a clip's bytes per sample (measured: ~30 for a new double every second).
const BYTES_PER_SAMPLE_BOUND: u64 = 64;

fn apply_to(clip: &mut OpenClip, tick: &mut Tick) -> Result<()> {
    if !tick.is_empty() {
        clip.writer.apply(tick).map_err(usd(&clip.path))?;
        tick.clear();
    }
    Ok(())
}

/// Opens a layer file, or creates it when missing (then `true`).
fn open_or_create(path: &Path) -> Result<(Layer, bool)> {
    if path.exists() {
        Ok((Layer::open(path).map_err(usd(path))?, false))
    } else {
        Ok((Layer::create_new(path).map_err(usd(path))?, true))
    }
}

/// Adds `v` to `tick` for `h`; `false` when clips do not carry its type.
fn stage_value(tick: &mut Tick, h: AttrHandle, v: &Value) -> bool {
    match v {
        Value::Bool(b) => tick.set_bool(h, *b),
        Value::Int(i) => tick.set_i32(h, *i),
        Value::Int64(i) => tick.set_i64(h, *i),
        Value::Float(x) => tick.set_f32(h, *x),
        Value::Double(x) => tick.set_f64(h, *x),
        Value::Float3(x) => tick.set_float3(h, *x),
        Value::Double3(x) => tick.set_double3(h, *x),
        Value::String(s) => tick.set_string(h, s.clone()),
        Value::Token(s) => tick.set_token(h, s.clone()),
        _ => return false,
    }
    true
}
