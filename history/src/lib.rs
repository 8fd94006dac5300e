//! Twinloom's plant history as USD value clips (issue 16, docs/history.md).
//!
//! The connector compacts its write-ahead journal into this store: per shop and per UTC hour one `.usdc`
//! clip layer `history/<shop>/<YYYYMMDD>T<HH>.usdc` holding time samples at the samples' source times,
//! one manifest `history/<shop>/manifest.usda` declaring every attribute the shop's clips hold, and the
//! root `history.usda` beside `plant.usda`: it sublayers the manifests and the plant root and anchors one
//! value-clip set per shop on the root prim, so any USD application opening it scrubs the plant's past on
//! its timeline (and sees the live values at the default time).
//!
//! **Time codes** are seconds since the Unix epoch (UTC) with `timeCodesPerSecond = 1`: time code
//! 1765070400.25 is 2025-12-07T01:20:00.250Z. **Interpolation**: the samples are the values as the plant
//! sent them; a value holds until the next sample (open the stage with held interpolation to see exactly
//! that; with USD's default, linear, a double between two samples is interpolated). Each hour's clip
//! starts with a *carry* sample at the hour's first instant holding the value in effect then, so the held
//! value is right across clip boundaries; an hour in which an attribute did not change has no samples
//! for it and takes the held value from the clips around it (`interpolateMissingClipValues`). A sample
//! that repeats its attribute's previous value in the same hour is not written: held interpolation gives
//! the same value at every instant.
//!
//! Nothing here knows about journals or sources: [`HistoryStore::add`] takes samples, [`HistoryStore::flush`]
//! writes them, [`HistoryReader`] answers queries.

mod error;
mod reader;
mod store;

pub use error::{HistoryError, Result};
pub use reader::{HistoryReader, Query};
pub use store::{FlushReport, HistoryStore, StoreOptions};

use std::path::{Path, PathBuf};

/// The folder of the clip layers and manifests, relative to the stage folder.
pub const HISTORY_DIR: &str = "history";
/// The history root layer, relative to the stage folder.
pub const HISTORY_ROOT: &str = "history.usda";
/// A shop's manifest file name inside `history/<shop>/`.
pub const MANIFEST_FILE: &str = "manifest.usda";
/// Seconds in one clip.
pub const CLIP_SECONDS: i64 = 3600;

/// The hour (seconds since the epoch / 3600, floored) a time code falls in.
pub fn hour_of(time_s: f64) -> i64 {
    (time_s / CLIP_SECONDS as f64).floor() as i64
}

/// The clip file name of an hour: `YYYYMMDDTHH.usdc` (UTC).
pub fn clip_file_name(hour: i64) -> String {
    match chrono::DateTime::from_timestamp(hour * CLIP_SECONDS, 0) {
        Some(t) => format!("{}.usdc", t.format("%Y%m%dT%H")),
        None => format!("h{hour}.usdc"),
    }
}

/// The hour of a clip file name made by [`clip_file_name`].
pub fn parse_clip_file_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".usdc")?;
    if let Some(h) = stem.strip_prefix('h') {
        return h.parse().ok();
    }
    if stem.len() != 11 || !stem.bytes().enumerate().all(|(i, b)| if i == 8 { b == b'T' } else { b.is_ascii_digit() }) {
        return None;
    }
    let t = chrono::NaiveDateTime::parse_from_str(&format!("{stem}0000"), "%Y%m%dT%H%M%S").ok()?;
    Some(t.and_utc().timestamp().div_euclid(CLIP_SECONDS))
}

/// The folder of one shop's clips.
pub fn shop_dir(stage_dir: &Path, shop: &str) -> PathBuf {
    stage_dir.join(HISTORY_DIR).join(shop)
}

/// Every clip hour of a shop's folder, sorted (files that are not clips are ignored).
pub fn clip_hours(dir: &Path) -> Vec<i64> {
    let mut hours: Vec<i64> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter_map(|e| parse_clip_file_name(&e.file_name().to_string_lossy())).collect())
        .unwrap_or_default();
    hours.sort_unstable();
    hours.dedup();
    hours
}

/// A shop name usable as a folder and clip-set name: `[A-Za-z0-9_-]`, not empty.
pub fn valid_shop_name(shop: &str) -> bool {
    !shop.is_empty() && shop.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_names_round_trip_and_sort_by_time() {
        for hour in [0, 490_000, 491_234, -5] {
            let name = clip_file_name(hour);
            assert_eq!(parse_clip_file_name(&name), Some(hour), "{name}");
        }
        assert_eq!(clip_file_name(1_765_070_400 / 3600), "20251207T01.usdc");
        assert_eq!(hour_of(1_765_070_400.25), 1_765_070_400 / 3600);
        assert_eq!(hour_of(-0.5), -1);
        assert_eq!(parse_clip_file_name("manifest.usda"), None);
        assert_eq!(parse_clip_file_name("20251207T1.usdc"), None);
    }
}
