//! The Numenta Anomaly Benchmark (NAB) corpus: reading data and label windows, and a port of NAB's
//! sweep scorer (nab/sweeper.py) for tests and quick local runs. Reported scores come from NAB's own
//! Python scorer (`ci/nab`); this port follows it step by step and agrees with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::DetectorConfig;
use crate::detector::SignalState;
use crate::error::{DiagnosticsError, Result};

/// NAB's probationary fraction: the first 15 % of each file (at most 750 rows) is not scored.
pub const PROBATION_PERCENT: f64 = 0.15;

/// One row of a NAB data file.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The timestamp as written in the file.
    pub timestamp: String,
    /// The timestamp in ms since 1970-01-01 (UTC, as NAB's naive timestamps).
    pub t_ms: i64,
    /// The value as written (copied unchanged into result files).
    pub value_text: String,
    /// The value.
    pub value: f64,
}

/// NAB's probationary length for a file of `rows` rows (nab/util.py getProbationPeriod).
pub fn probation_len(rows: usize) -> usize {
    let a = (PROBATION_PERCENT * rows as f64).floor();
    a.min(PROBATION_PERCENT * 5000.0) as usize
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` into ms since the epoch.
pub fn parse_timestamp(s: &str) -> Result<i64> {
    let bad = || DiagnosticsError::Timestamp(s.to_string());
    let b = s.trim().as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || (b[10] != b' ' && b[10] != b'T') {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let t = std::str::from_utf8(&b[r]).map_err(|_| bad())?;
        t.parse::<i64>().map_err(|_| bad())
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut ms = 0;
    if b.len() > 20 && b[19] == b'.' {
        let frac = std::str::from_utf8(&b[20..]).map_err(|_| bad())?;
        let digits: String = frac.chars().take(3).collect();
        let scale = 10i64.pow(3 - digits.len() as u32);
        ms = digits.parse::<i64>().map_err(|_| bad())? * scale;
    }
    Ok(((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + ms)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| DiagnosticsError::Io { path: path.to_path_buf(), source })
}

/// Reads a NAB data file (`timestamp,value` with a header line).
pub fn read_series(path: &Path) -> Result<Vec<Row>> {
    let text = read(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let malformed = |reason: &str| DiagnosticsError::Nab {
            path: path.to_path_buf(),
            reason: format!("line {}: {reason}", i + 1),
        };
        let (ts, v) = line.split_once(',').ok_or_else(|| malformed("expected timestamp,value"))?;
        let value = v.trim().parse::<f64>().map_err(|_| malformed("value is not a number"))?;
        rows.push(Row {
            timestamp: ts.to_string(),
            t_ms: parse_timestamp(ts)?,
            value_text: v.trim().to_string(),
            value,
        });
    }
    Ok(rows)
}

/// The data files of a NAB folder as `category/file.csv`, sorted.
pub fn data_files(nab: &Path) -> Result<Vec<String>> {
    let data = nab.join("data");
    let list = |p: &Path| -> Result<Vec<PathBuf>> {
        let rd = std::fs::read_dir(p).map_err(|source| DiagnosticsError::Io { path: p.to_path_buf(), source })?;
        let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for dir in list(&data)?.into_iter().filter(|p| p.is_dir()) {
        for f in list(&dir)? {
            if f.extension().is_some_and(|e| e == "csv") {
                if let (Some(c), Some(n)) = (dir.file_name(), f.file_name()) {
                    out.push(format!("{}/{}", c.to_string_lossy(), n.to_string_lossy()));
                }
            }
        }
    }
    Ok(out)
}

/// Label windows per file (`labels/combined_windows.json`): `(start_ms, end_ms)` pairs.
pub type Windows = BTreeMap<String, Vec<(i64, i64)>>;

/// Reads NAB's window file. The format is a JSON object of file name to a list of `[start, end]`
/// timestamp pairs; it is read by collecting its strings in order (keys end in `.csv`).
pub fn read_windows(path: &Path) -> Result<Windows> {
    let text = read(path)?;
    let mut strings = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after
            .find('"')
            .ok_or_else(|| DiagnosticsError::Nab { path: path.to_path_buf(), reason: "unterminated string".into() })?;
        strings.push(&after[..end]);
        rest = &after[end + 1..];
    }
    let mut out = Windows::new();
    let mut key: Option<String> = None;
    let mut pending: Option<i64> = None;
    for s in strings {
        if s.ends_with(".csv") {
            key = Some(s.to_string());
            out.entry(s.to_string()).or_default();
            pending = None;
            continue;
        }
        let t = parse_timestamp(s)?;
        let Some(k) = key.as_ref() else {
            return Err(DiagnosticsError::Nab { path: path.to_path_buf(), reason: "window before a file name".into() });
        };
        match pending.take() {
            None => pending = Some(t),
            Some(start) => out.entry(k.clone()).or_default().push((start, t)),
        }
    }
    Ok(out)
}

/// A NAB scoring profile (config/profiles.json).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    /// Profile name as NAB prints it.
    pub name: &'static str,
    /// Weight of a detected window.
    pub tp: f64,
    /// Weight of a false positive.
    pub fp: f64,
    /// Weight of a missed window.
    pub fn_: f64,
}

/// NAB's three profiles.
pub const PROFILES: [Profile; 3] = [
    Profile { name: "standard", tp: 1.0, fp: 0.11, fn_: 1.0 },
    Profile { name: "reward_low_FP_rate", tp: 1.0, fp: 0.22, fn_: 1.0 },
    Profile { name: "reward_low_FN_rate", tp: 1.0, fp: 0.11, fn_: 2.0 },
];

/// One scorable row: its anomaly score, its sweep score and its window (global index) if any.
#[derive(Clone, Copy, Debug)]
pub struct SweepPoint {
    /// The detector's anomaly score.
    pub score: f64,
    /// The row's NAB score if it were a detection.
    pub sweep: f64,
    /// The window the row lies in.
    pub window: Option<usize>,
}

fn scaled_sigmoid(pos: f64) -> f64 {
    if pos > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * pos).exp()) - 1.0
    }
}

/// The rows of one file that NAB scores (after the probationary period), as in sweeper.calcSweepScore.
/// `first_window` numbers this file's windows globally.
pub fn sweep_file(
    t_ms: &[i64],
    scores: &[f64],
    windows: &[(i64, i64)],
    first_window: usize,
    profile: &Profile,
) -> Vec<SweepPoint> {
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probation_len(t_ms.len());
    let index_of = |t: i64| t_ms.iter().position(|&x| x == t);
    let mut out = Vec::new();
    let mut next = 0;
    let mut cur: Option<(usize, f64, usize)> = None; // (right index, width, window id)
    let mut prev: Option<(usize, f64)> = None; // (right index, width)
    for (i, (&t, &s)) in t_ms.iter().zip(scores).enumerate() {
        if next < windows.len() && t == windows[next].0 {
            let right = index_of(windows[next].1).unwrap_or(t_ms.len() - 1);
            cur = Some((right, (right - i + 1) as f64, first_window + next));
            next += 1;
        }
        let (sweep, window) = match cur {
            Some((right, width, id)) => {
                let pos = -((right as f64) - i as f64 + 1.0) / width;
                (scaled_sigmoid(pos) * profile.tp / max_tp, Some(id))
            }
            None => {
                let u = match prev {
                    None => -1.0,
                    Some((right, width)) => scaled_sigmoid((right as f64 - i as f64).abs() / (width - 1.0)),
                };
                (u * profile.fp, None)
            }
        };
        if i >= probation {
            out.push(SweepPoint { score: s, sweep, window });
        }
        if let Some((right, width, _)) = cur {
            if i == right {
                prev = Some((right, width));
                cur = None;
            }
        }
    }
    out
}

/// The best threshold and raw score over all points (sweeper.calcScoreByThreshold + optimizer).
/// `windows` is the total number of windows; windows never detected cost `fn_` each.
pub fn optimize(points: &mut [SweepPoint], windows: usize, profile: &Profile) -> (f64, f64) {
    points.sort_by(|a, b| b.score.total_cmp(&a.score));
    // As NAB: a window counts only when some of its rows are scorable (outside the probation).
    let mut best_window = vec![0.0; windows];
    for p in points.iter() {
        if let Some(w) = p.window {
            best_window[w] = -profile.fn_;
        }
    }
    let mut total: f64 = best_window.iter().sum();
    let mut fp = 0.0;
    let mut best = (1.1, total);
    let mut cur = 1.1;
    for p in points.iter() {
        if p.score != cur {
            if fp + total > best.1 {
                best = (cur, fp + total);
            }
            cur = p.score;
        }
        match p.window {
            Some(w) => {
                if p.sweep > best_window[w] {
                    total += p.sweep - best_window[w];
                    best_window[w] = p.sweep;
                }
            }
            None => fp += p.sweep,
        }
    }
    if fp + total > best.1 {
        best = (cur, fp + total);
    }
    best
}

/// NAB's normalised score: 100 × (raw − null) / (perfect − null), null = every window missed.
pub fn normalize(raw: f64, windows: usize, profile: &Profile) -> f64 {
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    100.0 * (raw - null) / (perfect - null)
}

/// Runs a fresh detector over one NAB series and returns the alert score of every row (what the NAB
/// result file's `anomaly_score` column holds). NAB's convention: the probationary period of the file
/// is the detector's warm-up.
pub fn detect_series(config: &DetectorConfig, rows: &[Row]) -> Vec<f64> {
    let mut cfg = *config;
    cfg.warmup_samples = u32::try_from(probation_len(rows.len())).unwrap_or(u32::MAX);
    let mut state = SignalState::new();
    rows.iter().map(|r| state.update(&cfg, r.t_ms, r.value).alert).collect()
}
