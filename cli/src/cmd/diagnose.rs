//! `twinloom diagnose --csv FILE [--json] [--plot FILE.svg] [--set NAME=VALUE]…`: runs the streaming anomaly
//! detector (twinloom-diagnostics, docs/diagnostics.md) over one series in NAB's format (`timestamp,value`
//! with a header line) and reports each anomaly episode with its explanation, plus how many samples each
//! bad-input rule set aside.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use twinloom_diagnostics::nab::read_series;
use twinloom_diagnostics::{Detector, DetectorConfig, Explanation, Label};

use super::plot::{self, Band, Chart, Series, Style};

pub mod assets;
pub mod live;
pub mod related;

#[derive(clap::Args)]
pub struct Args {
    /// The series: `timestamp,value` lines after a header (timestamps `YYYY-MM-DD HH:MM:SS`, NAB's format).
    #[arg(long)]
    csv: PathBuf,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// Also draw the series with its anomaly episodes shaded into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Override one detector setting (docs/diagnostics.md lists them), e.g. `--set alarm_score=0.9`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
}

/// One anomaly episode: consecutive anomalous samples (a normal sample or a gap closes it).
struct Episode {
    from_ms: i64,
    to_ms: i64,
    samples: u32,
    peak_score: f64,
    /// The explanation at the episode's peak.
    peak: Explanation,
}

fn time_text(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub(crate) fn duration_text(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

fn component_text(e: &Explanation) -> &'static str {
    use twinloom_diagnostics::Component::*;
    match e.component {
        Jump => "a sudden jump from the previous samples",
        Outlier => "far from its usual level",
        Shift => "its level shifted",
        Variance => "its noise changed (noisier, or stuck)",
        Season => "unusual for this time of the cycle",
        Range => "beyond the range seen so far",
    }
}

/// The plain-language line of an episode.
fn explain(ep: &Episode) -> String {
    let e = &ep.peak;
    let samples = if ep.samples == 1 { "1 sample".to_string() } else { format!("{} samples", ep.samples) };
    let what = if e.outside_by > 0.0 {
        let side = if e.value >= e.expected { "above" } else { "below" };
        format!(
            "value {:.4} is {:.4} {side} its normal band {:.4} … {:.4} ({:+.1} σ, {})",
            e.value,
            e.outside_by,
            e.band_low,
            e.band_high,
            e.deviation_sigmas,
            component_text(e)
        )
    } else {
        format!(
            "value {:.4}, inside its normal band {:.4} … {:.4} but {}",
            e.value,
            e.band_low,
            e.band_high,
            component_text(e)
        )
    };
    format!(
        "{} for {} ({samples}): {what}; peak score {:.3}",
        time_text(ep.from_ms),
        duration_text(ep.to_ms - ep.from_ms),
        ep.peak_score
    )
}

pub fn run(args: Args) -> Result<ExitCode> {
    let mut cfg = DetectorConfig::default();
    for s in &args.settings {
        let (name, value) = s.split_once('=').with_context(|| format!("--set {s}: expected NAME=VALUE"))?;
        cfg.set(name.trim(), value).with_context(|| format!("--set {s}"))?;
    }
    let rows = read_series(&args.csv).with_context(|| format!("read {}", args.csv.display()))?;
    let mut detector = Detector::new(cfg).context("detector settings")?;
    let mut episodes: Vec<Episode> = Vec::new();
    let mut open: Option<Episode> = None;
    for row in &rows {
        let v = detector.update(row.t_ms, row.value);
        match (v.label, v.explanation) {
            (Label::Anomalous, Some(e)) => {
                let ep = open.get_or_insert(Episode {
                    from_ms: e.onset_ms,
                    to_ms: row.t_ms,
                    samples: 0,
                    peak_score: -1.0,
                    peak: e,
                });
                ep.to_ms = row.t_ms;
                ep.samples += 1;
                if v.score > ep.peak_score {
                    ep.peak_score = v.score;
                    ep.peak = e;
                }
            }
            (Label::Rejected(_), _) => {}
            _ => episodes.extend(open.take()),
        }
    }
    episodes.extend(open.take());
    let counters = detector.state().counters();

    if let Some(path) = &args.plot {
        let chart = Chart {
            title: format!("{} — {} anomaly episodes", args.csv.display(), episodes.len()),
            x_label: "time (UTC)".into(),
            y_label: "value".into(),
            series: vec![Series {
                name: "value".into(),
                color: "#1f77b4",
                style: Style::Line,
                points: rows.iter().map(|r| (r.t_ms as f64, r.value)).collect(),
            }],
            bands: episodes
                .iter()
                .map(|ep| Band { from: ep.from_ms as f64, to: ep.to_ms as f64, color: "#d62728", label: explain(ep) })
                .collect(),
            x_text: |x| time_text(x as i64),
        };
        std::fs::write(path, plot::render(&chart)).with_context(|| format!("write {}", path.display()))?;
    }

    if args.json {
        let list: Vec<_> = episodes
            .iter()
            .map(|ep| {
                let e = &ep.peak;
                json!({
                    "from": time_text(ep.from_ms), "to": time_text(ep.to_ms),
                    "from_ms": ep.from_ms, "to_ms": ep.to_ms, "samples": ep.samples,
                    "peak_score": ep.peak_score, "value": e.value, "expected": e.expected, "sigma": e.sigma,
                    "band_low": e.band_low, "band_high": e.band_high, "deviation_sigmas": e.deviation_sigmas,
                    "outside_by": e.outside_by, "component": format!("{:?}", e.component).to_lowercase(),
                    "explanation": explain(ep),
                })
            })
            .collect();
        let doc = json!({
            "file": args.csv.display().to_string(),
            "samples": rows.len(),
            "rejected": {
                "non_finite": counters.non_finite, "out_of_range": counters.out_of_range,
                "duplicates": counters.duplicates, "out_of_order": counters.out_of_order,
            },
            "gaps": counters.gaps,
            "anomalies": list,
        });
        out!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        out!(
            "{}: {} samples, {} anomaly episodes; set aside: {} non-finite, {} out of range, {} duplicate, {} out of order; {} gaps",
            args.csv.display(),
            rows.len(),
            episodes.len(),
            counters.non_finite,
            counters.out_of_range,
            counters.duplicates,
            counters.out_of_order,
            counters.gaps
        );
        for (i, ep) in episodes.iter().enumerate() {
            out!("anomaly {}: {}", i + 1, explain(ep));
        }
    }
    Ok(ExitCode::SUCCESS)
}
