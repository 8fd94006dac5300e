//! `twinloom history query`: one attribute's past from the stage folder's history clips (docs/history.md).
//! The clips hold what the service has compacted (every `flush_interval_s`, at start and at a clean
//! stop); what the journal holds beyond them is answered by a running service's `GET /v1/history`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use twinloom_connector::history::{parse_time, query_csv, query_json, value_json, POSITION_FILE};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// One attribute's samples in a time range, with the value in effect at its start.
    Query(QueryArgs),
}

#[derive(ClapArgs, Debug)]
pub struct QueryArgs {
    /// The stage folder (holds history.usda and history/).
    #[arg(long)]
    pub stage: PathBuf,
    /// The attribute, `/Prim/Path.name`.
    #[arg(long)]
    pub attr: String,
    /// Start: seconds since the Unix epoch or RFC 3339 (e.g. 2026-12-07T01:00:00Z).
    #[arg(long)]
    pub from: String,
    /// End (inclusive), in the same forms.
    #[arg(long)]
    pub to: String,
    /// `time,value` rows.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
    /// `{attr, shop, type, prior, samples}`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    let Command::Query(a) = c;
    let from = parse_time(&a.from).with_context(|| format!("--from {:?} is not a time", a.from))?;
    let to = parse_time(&a.to).with_context(|| format!("--to {:?} is not a time", a.to))?;
    twinloom_usd::init().context("OpenUSD")?;
    let reader = twinloom_history::HistoryReader::open(&a.stage)
        .with_context(|| format!("reading the history of {}", a.stage.display()))?;
    if reader.shops().next().is_none() {
        anyhow::bail!(
            "{} has no history: run the service with [history] enabled = true (docs/history.md)",
            a.stage.display()
        );
    }
    let q = reader.query(&a.attr, from, to)?;
    if a.json {
        super::write_line(format_args!("{}", query_json(&q)));
    } else if a.csv {
        for line in query_csv(&q).lines() {
            super::write_line(format_args!("{line}"));
        }
    } else {
        let when = |t: f64| {
            chrono::DateTime::from_timestamp_millis((t * 1e3).round() as i64)
                .map_or_else(|| format!("{t}"), |d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        };
        super::write_line(format_args!("{} ({}, shop {})", q.attr, q.value_type, q.shop));
        if let Some((t, v)) = &q.prior {
            super::write_line(format_args!("{}  {}  (in effect at the start)", when(*t), value_json(v)));
        }
        for (t, v) in &q.samples {
            super::write_line(format_args!("{}  {}", when(*t), value_json(v)));
        }
        super::write_line(format_args!("{} samples", q.samples.len()));
    }
    if let Ok(p) = std::fs::read_to_string(a.stage.join("history").join(POSITION_FILE)) {
        tracing::debug!(position = p.trim(), "history compacted up to this journal position");
    }
    Ok(ExitCode::SUCCESS)
}
