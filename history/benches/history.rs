//! History benchmarks (docs/history.md): writing clips (samples/s), `history_query_ms` for one attribute
//! over 24 h at 1 Hz (target ≤ 50 ms), and history bytes per sample on disk for a slowly changing signal
//! (report; target ≤ 4 B) and for a noisy one.
//!
//! Prints one JSON object per line on stdout. The first argument that does not start with `--` is a name
//! prefix filter. Run: `cargo bench -p twinloom-history [-- PREFIX]`.

use std::path::Path;
use std::time::Instant;

use twinloom_history::{HistoryReader, HistoryStore, StoreOptions};
use twinloom_usd::{UpAxis, Value, ValueType};

/// 2026-12-07T00:00:00Z.
const T0: f64 = 1_796_601_600.0;
const DAY: usize = 86_400;
/// Attributes in the shop besides the queried one (the clips hold the whole shop).
const OTHERS: usize = 20;

fn options() -> StoreOptions {
    StoreOptions { root_prim: "/Plant".into(), base_layers: vec![], up_axis: UpAxis::Z, meters_per_unit: 1.0 }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| if e.path().is_dir() { dir_bytes(&e.path()) } else { e.metadata().map_or(0, |m| m.len()) })
                .sum()
        })
        .unwrap_or(0)
}

/// 24 h at 1 Hz of `1 + OTHERS` attributes; `value(i, k)` is attribute k's value at second i. Returns
/// (samples written, seconds spent writing, bytes on disk).
fn write_day(dir: &Path, value: impl Fn(usize, usize) -> f64) -> (usize, f64, u64) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("bench dir");
    let mut store = HistoryStore::open(dir, options()).expect("store");
    let t = Instant::now();
    let mut n = 0;
    for i in 0..DAY {
        for k in 0..=OTHERS {
            let v = Value::Double(value(i, k));
            store.add("paint", "/Plant/Oven", &format!("a{k}"), ValueType::Double, T0 + i as f64, v).expect("add");
            n += 1;
        }
        if i % 600 == 599 {
            store.flush().expect("flush");
        }
    }
    store.flush().expect("flush");
    let secs = t.elapsed().as_secs_f64();
    drop(store);
    (n, secs, dir_bytes(&dir.join("history")))
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--")).unwrap_or_default();
    let wanted = |name: &str| name.starts_with(&filter) || filter.starts_with(name);
    if !["history_write", "history_query_ms", "history_bytes_per_sample"].iter().any(|n| wanted(n)) {
        return;
    }
    let base = std::env::temp_dir().join(format!("twinloom-history-bench-{}", std::process::id()));
    // A noisy signal: a new value every second.
    let noisy = base.join("noisy");
    let (n, secs, bytes) = write_day(&noisy, |i, k| 200.0 + ((i * 7919 + k * 104_729) % 1000) as f64 / 10.0);
    println!(r#"{{"name":"history_write_samples_per_s","value":{:.0},"samples":{n}}}"#, n as f64 / secs);
    println!(r#"{{"name":"history_bytes_per_sample_noisy","value":{:.2},"bytes":{bytes}}}"#, bytes as f64 / n as f64);
    // A slowly changing signal sampled every second: a repeated value is not written (held interpolation),
    // so the clips hold one sample per change (every 60 s here); reported per second-sample offered.
    let slow = base.join("slow");
    let (_, _, bytes_slow) = write_day(&slow, |i, k| 80.0 + ((i / 60 + k) % 7) as f64);
    println!(
        r#"{{"name":"history_bytes_per_sample_slow","value":{:.2},"bytes":{bytes_slow},"note":"bytes per second-sample of 21 signals changing every 60 s, written at 1 Hz"}}"#,
        bytes_slow as f64 / n as f64
    );
    // history_query_ms: one attribute over 24 h at 1 Hz, from the clips on disk (cold: a fresh reader).
    let mut times = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let reader = HistoryReader::open(&noisy).expect("reader");
        let q = reader.query("/Plant/Oven.a0", T0, T0 + DAY as f64).expect("query");
        times.push(t.elapsed().as_secs_f64() * 1e3);
        count = q.samples.len();
    }
    times.sort_by(f64::total_cmp);
    println!(r#"{{"name":"history_query_ms","value":{:.1},"samples":{count},"target":50}}"#, times[times.len() / 2]);
    let _ = std::fs::remove_dir_all(&base);
}
