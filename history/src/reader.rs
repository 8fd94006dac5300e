//! Asking the past: [`HistoryReader::query`] reads one attribute's samples in a time range from the
//! shop's hourly clips, with the value in effect at the start of the range (the last sample before it).

use std::path::{Path, PathBuf};

use twinloom_usd::{Layer, Value};

use crate::error::{usd, HistoryError, Result};
use crate::{clip_file_name, clip_hours, hour_of, valid_shop_name, CLIP_SECONDS, HISTORY_DIR, MANIFEST_FILE};

/// One attribute's history in a time range.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `/Prim/Path.attr`.
    pub attr: String,
    /// The shop (live layer) that records it.
    pub shop: String,
    /// Sdf type name, e.g. `double`.
    pub value_type: String,
    /// The last sample before the range: the value in effect at its start (held interpolation).
    pub prior: Option<(f64, Value)>,
    /// The samples in the range, in time order (time codes: seconds since the Unix epoch).
    pub samples: Vec<(f64, Value)>,
}

impl Query {
    /// The value in effect at `t` (the last sample at or before it) under held interpolation.
    pub fn value_at(&self, t: f64) -> Option<&Value> {
        let i = self.samples.partition_point(|(s, _)| *s <= t);
        match i {
            0 => self.prior.as_ref().filter(|(s, _)| *s <= t).map(|(_, v)| v),
            _ => Some(&self.samples[i - 1].1),
        }
    }
}

/// Reads a stage folder's history (manifests and clips as they are on disk, or as this process holds
/// them open).
pub struct HistoryReader {
    stage_dir: PathBuf,
    /// (shop, its manifest).
    shops: Vec<(String, Layer)>,
}

impl HistoryReader {
    /// Opens the manifests of `stage_dir/history/*`. A stage without history has no shops.
    pub fn open(stage_dir: &Path) -> Result<HistoryReader> {
        let base = stage_dir.join(HISTORY_DIR);
        let mut names: Vec<String> = match std::fs::read_dir(&base) {
            Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(HistoryError::Io { path: base, error }),
        };
        names.retain(|n| valid_shop_name(n) && base.join(n).join(MANIFEST_FILE).is_file());
        names.sort();
        let mut shops = Vec::new();
        for n in names {
            let path = base.join(&n).join(MANIFEST_FILE);
            shops.push((n, Layer::open(&path).map_err(usd(&path))?));
        }
        Ok(HistoryReader { stage_dir: stage_dir.to_path_buf(), shops })
    }

    /// The shops with history.
    pub fn shops(&self) -> impl Iterator<Item = &str> {
        self.shops.iter().map(|(n, _)| n.as_str())
    }

    /// The shop whose manifest declares `attr_path`, with its Sdf type name.
    pub fn find(&self, attr_path: &str) -> Option<(&str, String)> {
        self.shops.iter().find_map(|(n, m)| {
            let spec = m.attribute(attr_path).ok()?;
            Some((n.as_str(), spec.type_name))
        })
    }

    /// Every attribute a shop's manifest declares: (`/Prim/Path.attr`, Sdf type name), in path order.
    pub fn attributes(&self, shop: &str) -> Vec<(String, String)> {
        let Some((_, m)) = self.shops.iter().find(|(n, _)| n == shop) else { return Vec::new() };
        let mut out = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(path) = stack.pop() {
            let Ok(spec) = m.prim(&path) else { continue };
            let base = if path == "/" { String::new() } else { path.clone() };
            for p in &spec.properties {
                let attr = format!("{base}.{p}");
                if let Ok(a) = m.attribute(&attr) {
                    out.push((attr, a.type_name));
                }
            }
            stack.extend(spec.children.iter().map(|c| format!("{base}/{c}")));
        }
        out.sort();
        out
    }

    /// Every attribute of every shop in `from..=to`: the value in effect at `from` and the samples after,
    /// each clip opened once.
    pub fn period(&self, from: f64, to: f64) -> Result<Vec<(String, Vec<Query>)>> {
        check_query("/period.all", from, to)?;
        let mut out = Vec::new();
        for (shop, _) in &self.shops {
            let dir = self.stage_dir.join(HISTORY_DIR).join(shop);
            let hours = clip_hours(&dir);
            let mut open: std::collections::HashMap<i64, Layer> = std::collections::HashMap::new();
            let mut queries = Vec::new();
            for (attr, value_type) in self.attributes(shop) {
                let mut read = |hour: i64, lo: f64, hi: f64, with_prior: bool| {
                    let path = dir.join(clip_file_name(hour));
                    let layer = match open.entry(hour) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => {
                            e.insert(Layer::open(&path).map_err(usd(&path))?)
                        }
                    };
                    read_clip(layer, &path, &attr, lo, hi, with_prior)
                };
                let (prior, samples) = query_clips(&hours, from, to, &mut read)?;
                queries.push(Query { attr, shop: shop.clone(), value_type, prior, samples });
            }
            out.push((shop.clone(), queries));
        }
        Ok(out)
    }

    /// The samples of `attr_path` with `from <= t <= to` (seconds since the Unix epoch), and the last
    /// one before `from`. Carry samples (an hour's first instant repeating the value held into it) are
    /// left out.
    pub fn query(&self, attr_path: &str, from: f64, to: f64) -> Result<Query> {
        check_query(attr_path, from, to)?;
        let (shop, value_type) =
            self.find(attr_path).ok_or_else(|| HistoryError::UnknownAttribute(attr_path.to_string()))?;
        let dir = self.stage_dir.join(HISTORY_DIR).join(shop);
        let hours = clip_hours(&dir);
        let mut read = |hour: i64, lo: f64, hi: f64, with_prior: bool| {
            let path = dir.join(clip_file_name(hour));
            let layer = Layer::open(&path).map_err(usd(&path))?;
            read_clip(&layer, &path, attr_path, lo, hi, with_prior)
        };
        let (prior, samples) = query_clips(&hours, from, to, &mut read)?;
        Ok(Query { attr: attr_path.to_string(), shop: shop.to_string(), value_type, prior, samples })
    }
}

/// Checks a query's arguments.
pub(crate) fn check_query(attr_path: &str, from: f64, to: f64) -> Result<()> {
    if !(from.is_finite() && to.is_finite() && from <= to) {
        return Err(HistoryError::BadRange { from, to });
    }
    if !attr_path.starts_with('/') || !attr_path.contains('.') {
        return Err(HistoryError::BadPath(attr_path.to_string()));
    }
    Ok(())
}

/// The samples of one attribute in one clip layer (none when the clip does not hold it).
pub(crate) fn read_clip(
    layer: &Layer,
    path: &Path,
    attr_path: &str,
    lo: f64,
    hi: f64,
    with_prior: bool,
) -> Result<Vec<(f64, Value)>> {
    if layer.attribute(attr_path).is_err() {
        return Ok(Vec::new());
    }
    layer.time_samples_in(attr_path, lo, hi, with_prior).map_err(usd(path))
}

/// (time code, value) pairs in time order.
pub(crate) type Samples = Vec<(f64, Value)>;

/// The prior value and the samples in `from..=to` over a shop's clip `hours`, read with `read(hour, lo,
/// hi, with_prior)`: the clips in the range (the first one also gives the last sample before `from`),
/// then, when none had it, the earlier clips, latest first, until one has a sample before `from`. Carry
/// samples (an hour's first instant repeating the value held into it) are left out.
pub(crate) fn query_clips(
    hours: &[i64],
    from: f64,
    to: f64,
    read: &mut dyn FnMut(i64, f64, f64, bool) -> Result<Samples>,
) -> Result<(Option<(f64, Value)>, Samples)> {
    let (first, last) = (hour_of(from), hour_of(to));
    let mut prior = None;
    let mut raw = Vec::new();
    for h in hours.iter().filter(|h| (first..=last).contains(*h)) {
        for (t, v) in read(*h, from, to, prior.is_none())? {
            if t < from {
                prior = Some((t, v));
            } else {
                raw.push((t, v));
            }
        }
    }
    if prior.is_none() {
        for h in hours.iter().rev().filter(|h| **h < first) {
            if let Some(p) = read(*h, from, f64::NEG_INFINITY, true)?.pop() {
                prior = Some(p);
                break;
            }
        }
    }
    raw.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut samples: Samples = Vec::with_capacity(raw.len());
    for (t, v) in raw {
        let previous = samples.last().or(prior.as_ref()).map(|(_, p)| p);
        let carry = t.rem_euclid(CLIP_SECONDS as f64) == 0.0 && previous == Some(&v);
        if !carry {
            samples.push((t, v));
        }
    }
    Ok((prior, samples))
}
