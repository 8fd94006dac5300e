//! Journal benchmarks: append throughput under each durability policy, bytes on disk per sample, and
//! recovery time (open + scan + read everything) per million samples.
//!
//! Prints one JSON object per line on stdout. The first argument that does not start with `--` is a name
//! prefix filter: measurements whose name does not start with it are skipped.
//! Run: `cargo bench -p twinloom-journal [-- PREFIX]`. Files go to a directory under the system temp dir.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use twinloom_journal::{Durability, Journal, Options};

/// Bytes of one sample record's payload (timestamp, tag id, value, quality: what the connector stores).
const SAMPLE_BYTES: usize = 32;
/// Samples per tick (one group commit).
const TICK: usize = 10_000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("twinloom-journal-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create bench dir");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sample(i: u64) -> [u8; SAMPLE_BYTES] {
    let mut s = [0u8; SAMPLE_BYTES];
    s[0..8].copy_from_slice(&(1_765_000_000_000_000 + i).to_le_bytes());
    s[8..12].copy_from_slice(&((i % 5000) as u32).to_le_bytes());
    s[12..20].copy_from_slice(&(i as f64 * 0.25).to_le_bytes());
    s[20] = 192;
    s
}

fn emit(name: &str, value: f64, unit: &str, extra: &[(&str, String)]) {
    let mut line = format!("{{\"name\":\"{name}\",\"value\":{},\"unit\":\"{unit}\"", fmt_num(value));
    for (k, v) in extra {
        line.push_str(&format!(",\"{k}\":{v}"));
    }
    line.push('}');
    println!("{line}");
}

fn fmt_num(v: f64) -> String {
    if v >= 1000.0 {
        format!("{}", v.round() as u64)
    } else {
        format!("{v:.4}")
    }
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

struct AppendRun {
    samples_per_s: f64,
    bytes_per_sample: f64,
    /// Latency of one tick: the appends and the commit (one `append_batch` call in batch mode).
    tick_p50_us: f64,
    tick_p99_us: f64,
    syncs: u64,
}

/// Appends `samples` samples in ticks of `tick` (append each, commit per tick); returns the rate.
fn append_run(durability: Durability, samples: usize, tick: usize, use_batch: bool) -> AppendRun {
    let dir = TempDir::new("append");
    let options = Options { durability, ..Options::default() };
    let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
    let syncs_before = journal.io_counters().syncs;
    let mut ticks = Vec::with_capacity(samples / tick + 1);
    let start = Instant::now();
    let mut i = 0u64;
    while (i as usize) < samples {
        let n = tick.min(samples - i as usize) as u64;
        let t = Instant::now();
        if use_batch {
            journal.append_batch((i..i + n).map(sample)).expect("append_batch");
        } else {
            for k in i..i + n {
                journal.append(&sample(k)).expect("append");
            }
            journal.commit().expect("commit");
        }
        ticks.push(t.elapsed());
        i += n;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let usage = journal.disk_usage();
    let syncs = journal.io_counters().syncs - syncs_before;
    drop(journal);
    ticks.sort_unstable();
    AppendRun {
        samples_per_s: samples as f64 / elapsed,
        bytes_per_sample: usage.bytes as f64 / samples as f64,
        tick_p50_us: percentile(&ticks, 0.5),
        tick_p99_us: percentile(&ticks, 0.99),
        syncs,
    }
}

/// Median of `runs` runs by rate.
fn median_run(runs: usize, f: impl Fn() -> AppendRun) -> AppendRun {
    let mut all: Vec<AppendRun> = (0..runs).map(|_| f()).collect();
    all.sort_by(|a, b| a.samples_per_s.total_cmp(&b.samples_per_s));
    all.swap_remove(runs / 2)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.starts_with(f));
    let tick = TICK.to_string();
    let payload = SAMPLE_BYTES.to_string();

    if wants("journal_append_samples_per_s") || wants("journal_bytes_per_sample") {
        let samples = 3_000_000;
        let r = median_run(3, || append_run(Durability::PerBatch, samples, TICK, false));
        if wants("journal_append_samples_per_s") {
            emit(
                "journal_append_samples_per_s",
                r.samples_per_s,
                "samples/s",
                &[
                    ("durability", quoted("PerBatch")),
                    ("api", quoted("append+commit")),
                    ("batch", tick.clone()),
                    ("payload_bytes", payload.clone()),
                    ("samples", samples.to_string()),
                    ("syncs", r.syncs.to_string()),
                    ("tick_p50_us", format!("{:.1}", r.tick_p50_us)),
                    ("tick_p99_us", format!("{:.1}", r.tick_p99_us)),
                    ("runs", "3".into()),
                ],
            );
        }
        if wants("journal_bytes_per_sample") {
            emit(
                "journal_bytes_per_sample",
                r.bytes_per_sample,
                "bytes/sample",
                &[("payload_bytes", payload.clone()), ("samples", samples.to_string())],
            );
        }
    }

    if wants("journal_append_batch_samples_per_s") {
        let samples = 3_000_000;
        let r = median_run(3, || append_run(Durability::PerBatch, samples, TICK, true));
        emit(
            "journal_append_batch_samples_per_s",
            r.samples_per_s,
            "samples/s",
            &[
                ("durability", quoted("PerBatch")),
                ("api", quoted("append_batch")),
                ("batch", tick.clone()),
                ("payload_bytes", payload.clone()),
                ("samples", samples.to_string()),
                ("tick_p50_us", format!("{:.1}", r.tick_p50_us)),
                ("tick_p99_us", format!("{:.1}", r.tick_p99_us)),
                ("runs", "3".into()),
            ],
        );
    }

    if wants("journal_append_os_samples_per_s") {
        let samples = 3_000_000;
        let r = median_run(3, || append_run(Durability::Os, samples, TICK, false));
        emit(
            "journal_append_os_samples_per_s",
            r.samples_per_s,
            "samples/s",
            &[
                ("durability", quoted("Os")),
                ("batch", tick.clone()),
                ("tick_p50_us", format!("{:.1}", r.tick_p50_us)),
                ("payload_bytes", payload.clone()),
                ("samples", samples.to_string()),
                ("runs", "3".into()),
            ],
        );
    }

    if wants("journal_append_per_sample_fsync_samples_per_s") {
        // Each append is a write + fdatasync: bounded by the device's flush latency.
        let samples = 2_000;
        let r = append_run(Durability::PerSample, samples, 1, false);
        emit(
            "journal_append_per_sample_fsync_samples_per_s",
            r.samples_per_s,
            "samples/s",
            &[
                ("durability", quoted("PerSample")),
                ("payload_bytes", payload.clone()),
                ("samples", samples.to_string()),
                ("syncs", r.syncs.to_string()),
                ("append_p50_us", format!("{:.1}", r.tick_p50_us)),
                ("append_p99_us", format!("{:.1}", r.tick_p99_us)),
            ],
        );
    }

    if wants("recovery_s_per_million_samples") {
        let samples = 1_000_000u64;
        let dir = TempDir::new("recovery");
        {
            let options = Options { durability: Durability::Os, ..Options::default() };
            let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
            for chunk in (0..samples).collect::<Vec<_>>().chunks(TICK) {
                journal.append_batch(chunk.iter().map(|&i| sample(i))).expect("append");
            }
            journal.sync().expect("sync");
        }
        let mut best: Option<(f64, f64, f64)> = None;
        for _ in 0..3 {
            let start = Instant::now();
            let (journal, recovery) = Journal::open(dir.path(), Options::default()).expect("reopen");
            let opened = start.elapsed().as_secs_f64();
            assert!(recovery.is_clean() && recovery.records == samples, "{recovery:?}");
            let mut reader = journal.reader(journal.first_position()).expect("reader");
            let mut n = 0u64;
            let mut checksum = 0u64;
            while let Some(record) = reader.next_record() {
                let (position, payload) = record.expect("record");
                checksum = checksum.wrapping_add(position ^ u64::from(payload[0]));
                n += 1;
            }
            assert_eq!(n, samples);
            std::hint::black_box(checksum);
            let total = start.elapsed().as_secs_f64();
            drop(journal);
            if best.is_none_or(|b| total < b.0) {
                best = Some((total, opened, total - opened));
            }
        }
        if let Some((total, opened, read)) = best {
            let per_million = total * 1e6 / samples as f64;
            emit(
                "recovery_s_per_million_samples",
                per_million,
                "s",
                &[
                    ("samples", samples.to_string()),
                    ("payload_bytes", payload.clone()),
                    ("open_scan_s", format!("{opened:.4}")),
                    ("read_all_s", format!("{read:.4}")),
                    ("runs", "3".into()),
                    ("pick", quoted("best")),
                ],
            );
        }
    }
}
