//! Detector benchmark: throughput on one core and bytes of state per signal, as JSON lines
//! (`{"name":...,"value":...,"unit":...}`). An optional first free argument keeps only the metrics whose
//! name starts with it (arguments starting with `--`, such as cargo's `--bench`, are ignored). When
//! the NAB corpus is beside the repository it also prints the NAB scores computed by the crate's port
//! of NAB's scorer (the same numbers `ci/nab` gets from NAB's own Python scorer).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use twinloom_diagnostics::nab::{self, SweepPoint, PROFILES};
use twinloom_diagnostics::{DetectorBank, DetectorConfig, SignalState};

fn emit(filter: &str, name: &str, value: f64, unit: &str) {
    if name.starts_with(filter) {
        println!("{{\"name\":\"{name}\",\"value\":{value:.2},\"unit\":\"{unit}\"}}");
    }
}

/// Samples of 64 seasonal signals (5-minute interval, daily sine, uniform noise), interleaved as a
/// plant feed delivers them.
fn feed(signals: usize, per_signal: usize) -> Vec<(u32, i64, f64)> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut out = Vec::with_capacity(signals * per_signal);
    for i in 0..per_signal {
        let phase = (i % 288) as f64 / 288.0;
        for s in 0..signals {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let x = 50.0 + s as f64 + 10.0 * (std::f64::consts::TAU * phase).sin() + 2.0 * noise;
            out.push((s as u32, 1_700_000_000_000 + i as i64 * 300_000, x));
        }
    }
    out
}

fn throughput() -> f64 {
    let samples = feed(64, 40_000);
    let mut best = 0.0f64;
    for _ in 0..3 {
        let mut bank = DetectorBank::new(DetectorConfig::default(), 64).expect("default config is valid");
        let start = Instant::now();
        let mut acc = 0.0;
        for &(s, t, x) in &samples {
            if let Some(v) = bank.update(s as usize, t, x) {
                acc += v.score;
            }
        }
        black_box(acc);
        best = best.max(samples.len() as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn nab_scores(filter: &str) {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nab"));
    let (Ok(windows), Ok(files)) =
        (nab::read_windows(&dir.join("labels/combined_windows.json")), nab::data_files(&dir))
    else {
        return;
    };
    let mut points: Vec<Vec<SweepPoint>> = vec![Vec::new(); PROFILES.len()];
    let mut count = 0;
    for file in &files {
        let (Some(w), Ok(rows)) = (windows.get(file), nab::read_series(&dir.join("data").join(file))) else {
            return;
        };
        let t: Vec<i64> = rows.iter().map(|r| r.t_ms).collect();
        let alerts = nab::detect_series(&DetectorConfig::default(), &rows);
        for (p, profile) in PROFILES.iter().enumerate() {
            points[p].extend(nab::sweep_file(&t, &alerts, w, count, profile));
        }
        count += w.len();
    }
    for ((p, profile), name) in
        PROFILES.iter().enumerate().zip(["nab_standard_score", "nab_low_fp_score", "nab_low_fn_score"])
    {
        let (_, raw) = nab::optimize(&mut points[p], count, profile);
        emit(filter, name, nab::normalize(raw, count, profile), "score");
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    if "detector_samples_per_s".starts_with(&filter) {
        emit(&filter, "detector_samples_per_s", throughput(), "samples/s");
    }
    emit(&filter, "detector_bytes_per_signal", SignalState::BYTES as f64, "bytes");
    if "nab_".starts_with(&filter) || filter.starts_with("nab_") {
        nab_scores(&filter);
    }
}
