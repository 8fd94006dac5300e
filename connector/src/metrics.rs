//! Connector metrics: lock-free counters updated on the hot path and rendered in Prometheus text format
//! for `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::binding::Reject;
use crate::source::SourceCounters;

/// Histogram bucket bounds (seconds) for USD write time per tick and source-to-publish lag.
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0];

/// A fixed-bucket histogram of seconds.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; 13],
    sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        let i = BUCKETS.iter().position(|&b| secs <= b).unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add((secs.max(0.0) * 1e9) as u64, Relaxed);
    }

    /// One histogram family: its `# HELP`/`# TYPE` lines, then every labelled series (`labels` such as
    /// `shop="biw"`, empty for none).
    fn render_family<'a>(
        out: &mut String,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (String, &'a Histogram)>,
    ) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (labels, h) in series {
            h.render_series(out, name, &labels);
        }
    }

    fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        cum += self.counts[BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cum}");
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum_ns.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{braced} {cum}");
    }
}

/// Per-shop writer counters.
#[derive(Default)]
pub struct ShopMetrics {
    pub ticks: AtomicU64,
    pub edits: AtomicU64,
    pub usd_write_seconds: Histogram,
    pub write_errors: AtomicU64,
    pub saves: AtomicU64,
    pub save_errors: AtomicU64,
    /// Unix ms of the last tick the writer completed (0 = none yet).
    pub last_tick_ms: AtomicU64,
    /// Late and historical samples journaled for history only (never written to the live layer).
    pub late_samples: AtomicU64,
    /// Late and historical samples lost: no journal to keep them, or too many waiting.
    pub late_dropped: AtomicU64,
    /// Raw samples journaled for the NATS `samples` subject (`[nats] samples = true`).
    pub raw_samples: AtomicU64,
    /// Raw samples lost: no journal to keep them, or too many waiting.
    pub raw_dropped: AtomicU64,
}

/// The write-ahead journal's counters (shown when the journal is on).
#[derive(Default)]
pub struct JournalMetrics {
    /// Deltas appended and committed.
    pub appended: AtomicU64,
    /// Record bytes appended (payload, without the journal's 8-byte record header).
    pub appended_bytes: AtomicU64,
    /// Appends, commits or reopens that failed.
    pub errors: AtomicU64,
    /// Published deltas that are not in the journal (published while it failed).
    pub unjournaled: AtomicU64,
    /// Damage found at open (cut at the last good record).
    pub damaged: AtomicU64,
    /// Segment bytes on disk.
    pub bytes_on_disk: AtomicU64,
    /// Ticks re-applied to live layers at start.
    pub replayed: AtomicU64,
    /// Seconds the start-up recovery took (f64 bits).
    pub recovery_seconds_bits: AtomicU64,
}

/// Everything `/metrics` shows.
#[derive(Default)]
pub struct Metrics {
    pub samples_in: AtomicU64,
    pub samples_accepted: AtomicU64,
    rejected: [AtomicU64; 5],
    pub samples_bad_quality: AtomicU64,
    pub deltas_out: AtomicU64,
    /// Source timestamp → published delta, seconds.
    pub lag_seconds: Histogram,
    pub stream_clients: AtomicI64,
    pub stream_messages: AtomicU64,
    pub stream_resyncs: AtomicU64,
    pub stream_client_errors: AtomicU64,
    pub snapshots_served: AtomicU64,
    pub config_errors: AtomicU64,
    /// Signals bound to USD attributes (set once the service is up).
    pub signals_bound: AtomicU64,
    /// Diagnostics (docs/diagnostics.md, "Live"): shown once an observer runs.
    pub diagnostics_on: std::sync::atomic::AtomicBool,
    /// Signals the observer follows.
    pub diagnostics_signals: AtomicU64,
    /// Samples the observer took.
    pub diagnostics_samples: AtomicU64,
    /// Attribute values written to the diagnostics layer.
    pub diagnostics_writes: AtomicU64,
    /// Samples dropped because the observer was behind.
    pub diagnostics_dropped: AtomicU64,
    /// Failed writes or saves of the diagnostics layer.
    pub diagnostics_write_errors: AtomicU64,
    /// Anomaly episodes open now.
    pub anomalies_open: AtomicU64,
    /// Anomaly episodes opened since start.
    pub anomalies_opened: AtomicU64,
    /// Anomaly episodes acknowledged by an operator since start.
    pub anomalies_acknowledged: AtomicU64,
    shops: Mutex<Vec<(String, Arc<ShopMetrics>)>>,
    sources: Mutex<Vec<(String, Arc<SourceCounters>)>>,
    gpu: Mutex<Option<crate::gpu::GpuProbe>>,
    commands: Mutex<Option<Arc<crate::command::engine::CommandCounters>>>,
    journal: Mutex<Option<Arc<JournalMetrics>>>,
    nats: Mutex<Option<Arc<crate::nats::ForwardStatus>>>,
    aggregate: Mutex<Option<Arc<crate::aggregate::AggregateStatus>>>,
}

impl Metrics {
    pub fn reject(&self, r: Reject) {
        let i = Reject::ALL.iter().position(|&x| x == r).unwrap_or(0);
        self.rejected[i].fetch_add(1, Relaxed);
    }

    pub fn rejected(&self, r: Reject) -> u64 {
        let i = Reject::ALL.iter().position(|&x| x == r).unwrap_or(0);
        self.rejected[i].load(Relaxed)
    }

    pub fn add_shop(&self, name: &str) -> Arc<ShopMetrics> {
        let m = Arc::new(ShopMetrics::default());
        self.shops.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), m.clone()));
        m
    }

    pub fn add_source(&self, name: &str, counters: Arc<SourceCounters>) {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).push((name.to_string(), counters));
    }

    pub fn set_gpu_probe(&self, probe: crate::gpu::GpuProbe) {
        *self.gpu.lock().unwrap_or_else(|e| e.into_inner()) = Some(probe);
    }

    pub fn sources(&self) -> Vec<(String, Arc<SourceCounters>)> {
        self.sources.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Shows the write-back engine's counters.
    pub fn set_commands(&self, c: Arc<crate::command::engine::CommandCounters>) {
        *self.commands.lock().unwrap_or_else(|e| e.into_inner()) = Some(c);
    }

    /// Shows the journal's counters (the journal is on).
    pub fn set_journal(&self, j: Arc<JournalMetrics>) {
        *self.journal.lock().unwrap_or_else(|e| e.into_inner()) = Some(j);
    }

    /// Shows the NATS forwarder's counters (`[nats]` is on).
    pub fn set_nats(&self, n: Arc<crate::nats::ForwardStatus>) {
        *self.nats.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
    }

    /// Shows the aggregator's counters (`twinloom aggregate`).
    pub fn set_aggregate(&self, a: Arc<crate::aggregate::AggregateStatus>) {
        *self.aggregate.lock().unwrap_or_else(|e| e.into_inner()) = Some(a);
    }

    pub fn shops(&self) -> Vec<(String, Arc<ShopMetrics>)> {
        self.shops.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "twinloom_samples_in_total",
            "Samples received from all sources.",
            self.samples_in.load(Relaxed),
        );
        counter(
            &mut o,
            "twinloom_samples_accepted_total",
            "Samples converted and stored in the twin state.",
            self.samples_accepted.load(Relaxed),
        );
        let _ = writeln!(o, "# HELP twinloom_samples_rejected_total Samples refused, by reason.\n# TYPE twinloom_samples_rejected_total counter");
        for r in Reject::ALL {
            let _ = writeln!(o, "twinloom_samples_rejected_total{{reason=\"{}\"}} {}", r.as_str(), self.rejected(r));
        }
        counter(
            &mut o,
            "twinloom_samples_bad_quality_total",
            "Samples whose source quality was not good.",
            self.samples_bad_quality.load(Relaxed),
        );
        counter(
            &mut o,
            "twinloom_deltas_out_total",
            "Deltas published to the live stream.",
            self.deltas_out.load(Relaxed),
        );
        Histogram::render_family(
            &mut o,
            "twinloom_lag_seconds",
            "Source timestamp to delta publication.",
            [(String::new(), &self.lag_seconds)],
        );
        let _ = writeln!(o, "# HELP twinloom_stream_clients Connected live-stream clients.\n# TYPE twinloom_stream_clients gauge\ntwinloom_stream_clients {}", self.stream_clients.load(Relaxed));
        counter(
            &mut o,
            "twinloom_stream_messages_total",
            "Messages sent to live-stream clients.",
            self.stream_messages.load(Relaxed),
        );
        counter(
            &mut o,
            "twinloom_stream_resyncs_total",
            "Resync messages sent to slow or late clients.",
            self.stream_resyncs.load(Relaxed),
        );
        counter(
            &mut o,
            "twinloom_stream_client_errors_total",
            "Malformed messages received from clients.",
            self.stream_client_errors.load(Relaxed),
        );
        counter(&mut o, "twinloom_snapshots_served_total", "Snapshots served.", self.snapshots_served.load(Relaxed));
        counter(
            &mut o,
            "twinloom_config_errors_total",
            "Configuration entries rejected at start-up.",
            self.config_errors.load(Relaxed),
        );
        if self.diagnostics_on.load(Relaxed) {
            let _ = writeln!(o, "# HELP twinloom_anomalies_open Anomaly episodes open now.\n# TYPE twinloom_anomalies_open gauge\ntwinloom_anomalies_open {}", self.anomalies_open.load(Relaxed));
            let _ = writeln!(o, "# HELP twinloom_diagnostics_signals Signals the diagnostics follow.\n# TYPE twinloom_diagnostics_signals gauge\ntwinloom_diagnostics_signals {}", self.diagnostics_signals.load(Relaxed));
            counter(
                &mut o,
                "twinloom_anomalies_opened_total",
                "Anomaly episodes opened.",
                self.anomalies_opened.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_anomalies_acknowledged_total",
                "Anomaly episodes acknowledged by an operator.",
                self.anomalies_acknowledged.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_diagnostics_samples_total",
                "Samples the diagnostics scored.",
                self.diagnostics_samples.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_diagnostics_writes_total",
                "Attribute values written to the diagnostics layer.",
                self.diagnostics_writes.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_diagnostics_dropped_total",
                "Samples the diagnostics dropped because they were behind.",
                self.diagnostics_dropped.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_diagnostics_write_errors_total",
                "Failed writes or saves of the diagnostics layer.",
                self.diagnostics_write_errors.load(Relaxed),
            );
        }
        if let Some(c) = self.commands.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            let name = "twinloom_commands_total";
            let _ = writeln!(o, "# HELP {name} Write-back commands that reached each state.\n# TYPE {name} counter");
            for s in crate::command::engine::State::ALL {
                let _ = writeln!(o, "{name}{{state=\"{}\"}} {}", s.as_str(), c.reached(s));
            }
            counter(
                &mut o,
                "twinloom_command_unauthorized_total",
                "Command API requests with a missing or unknown bearer token.",
                c.unauthorized.load(Relaxed),
            );
        }
        let journal = self.journal.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(j) = journal {
            let gauge = |o: &mut String, name: &str, help: &str, v: String| {
                let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
            };
            counter(&mut o, "twinloom_journal_appended_total", "Deltas journaled.", j.appended.load(Relaxed));
            counter(
                &mut o,
                "twinloom_journal_appended_bytes_total",
                "Record bytes journaled.",
                j.appended_bytes.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_journal_errors_total",
                "Journal appends, commits or reopens that failed.",
                j.errors.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_journal_unjournaled_total",
                "Deltas published while the journal failed (not in the journal).",
                j.unjournaled.load(Relaxed),
            );
            counter(
                &mut o,
                "twinloom_journal_damage_total",
                "Journal damage found and cut at open.",
                j.damaged.load(Relaxed),
            );
            gauge(
                &mut o,
                "twinloom_journal_bytes",
                "Journal segment bytes on disk.",
                j.bytes_on_disk.load(Relaxed).to_string(),
            );
            gauge(
                &mut o,
                "twinloom_journal_replayed_ticks",
                "Journaled ticks re-applied to live layers at start.",
                j.replayed.load(Relaxed).to_string(),
            );
            gauge(
                &mut o,
                "twinloom_journal_recovery_seconds",
                "Seconds the journal recovery took at start.",
                f64::from_bits(j.recovery_seconds_bits.load(Relaxed)).to_string(),
            );
        }
        if let Some(n) = self.nats.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            n.render(&mut o);
        }
        if let Some(a) = self.aggregate.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            a.render(&mut o);
        }
        let _ = writeln!(o, "# HELP twinloom_signals_bound Signals bound to USD attributes.\n# TYPE twinloom_signals_bound gauge\ntwinloom_signals_bound {}", self.signals_bound.load(Relaxed));

        let shops = self.shops();
        let series = |o: &mut String, name: &str, help: &str, kind: &str, f: &dyn Fn(&ShopMetrics) -> u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (shop, m) in &shops {
                let _ = writeln!(o, "{name}{{shop=\"{shop}\"}} {}", f(m));
            }
        };
        series(&mut o, "twinloom_ticks_total", "Ticks applied to the live layer.", "counter", &|m| {
            m.ticks.load(Relaxed)
        });
        series(&mut o, "twinloom_edits_total", "Attribute edits applied.", "counter", &|m| m.edits.load(Relaxed));
        series(&mut o, "twinloom_usd_write_errors_total", "Ticks OpenUSD refused.", "counter", &|m| {
            m.write_errors.load(Relaxed)
        });
        series(&mut o, "twinloom_saves_total", "Live layer saves.", "counter", &|m| m.saves.load(Relaxed));
        series(&mut o, "twinloom_save_errors_total", "Live layer saves that failed.", "counter", &|m| {
            m.save_errors.load(Relaxed)
        });
        series(
            &mut o,
            "twinloom_late_samples_total",
            "Late (source time before the live value's) and historical samples, kept for history only.",
            "counter",
            &|m| m.late_samples.load(Relaxed),
        );
        series(
            &mut o,
            "twinloom_late_samples_dropped_total",
            "Late and historical samples lost: no journal to keep them, or too many waiting.",
            "counter",
            &|m| m.late_dropped.load(Relaxed),
        );
        series(
            &mut o,
            "twinloom_raw_samples_total",
            "Samples journaled uncoalesced for the NATS samples subject ([nats] samples = true).",
            "counter",
            &|m| m.raw_samples.load(Relaxed),
        );
        series(
            &mut o,
            "twinloom_raw_samples_dropped_total",
            "Raw samples lost: the journal failed to keep them, or too many waiting.",
            "counter",
            &|m| m.raw_dropped.load(Relaxed),
        );
        let per_shop = shops.iter().map(|(shop, m)| (format!("shop=\"{shop}\""), &m.usd_write_seconds));
        Histogram::render_family(&mut o, "twinloom_usd_write_seconds", "USD write time per tick.", per_shop);

        let sources = self.sources();
        let src = |o: &mut String, name: &str, help: &str, kind: &str, f: &dyn Fn(&SourceCounters) -> u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (s, c) in &sources {
                let _ = writeln!(o, "{name}{{source=\"{s}\"}} {}", f(c));
            }
        };
        src(&mut o, "twinloom_source_samples_total", "Samples delivered by the source.", "counter", &|c| {
            c.samples_in()
        });
        src(&mut o, "twinloom_source_reconnects_total", "Reconnections of the source.", "counter", &|c| c.reconnects());
        src(&mut o, "twinloom_source_connected", "1 while the source is connected.", "gauge", &|c| {
            c.is_connected() as u64
        });
        src(
            &mut o,
            "twinloom_source_rebirth_requests_total",
            "Sparkplug rebirth requests sent to edge nodes (0 for other kinds).",
            "counter",
            &|c| c.rebirth_requests.load(Relaxed),
        );
        src(
            &mut o,
            "twinloom_source_stale_entities",
            "Sparkplug edge nodes and devices whose values are stale now (0 for other kinds).",
            "gauge",
            &|c| c.stale.load(Relaxed),
        );
        src(
            &mut o,
            "twinloom_source_historical_samples_total",
            "Sparkplug historical metric values (is_historical), delivered for history only (0 for other kinds).",
            "counter",
            &|c| c.historical.load(Relaxed),
        );
        let _ = writeln!(
            o,
            "# HELP twinloom_source_errors_total Source errors by reason.\n# TYPE twinloom_source_errors_total counter"
        );
        for (s, c) in &sources {
            for (reason, n) in c.errors_by_reason() {
                let _ =
                    writeln!(o, "twinloom_source_errors_total{{source=\"{s}\",reason=\"{}\"}} {n}", reason.as_str());
            }
        }
        let _ = writeln!(
            o,
            "# HELP process_resident_memory_bytes Resident memory of the connector process.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {}",
            crate::memory::resident_bytes()
        );
        if let Some(gpu) = self.gpu.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            gpu.render(&mut o);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.samples_in.fetch_add(5, Relaxed);
        m.reject(Reject::NotFinite);
        let shop = m.add_shop("biw");
        shop.usd_write_seconds.observe(0.003);
        shop.usd_write_seconds.observe(7.0);
        m.add_shop("paint");
        let text = m.render();
        // Each family once, its series together.
        assert_eq!(text.matches("# TYPE twinloom_usd_write_seconds histogram").count(), 1, "{text}");
        assert!(text.contains("twinloom_usd_write_seconds_count{shop=\"paint\"} 0\n"), "{text}");
        assert!(text.contains("twinloom_lag_seconds_count 0\n"), "{text}");
        assert!(text.contains("twinloom_samples_in_total 5\n"), "{text}");
        assert!(text.contains("twinloom_samples_rejected_total{reason=\"not_finite\"} 1\n"));
        assert!(text.contains("twinloom_usd_write_seconds_bucket{shop=\"biw\",le=\"0.005\"} 1\n"));
        assert!(text.contains("twinloom_usd_write_seconds_bucket{shop=\"biw\",le=\"+Inf\"} 2\n"));
        assert!(text.contains("twinloom_usd_write_seconds_count{shop=\"biw\"} 2\n"));
    }
}
