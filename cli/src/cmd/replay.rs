//! `twinloom replay`: a past period from the stage folder's history served on the live stream protocol
//! (docs/history.md, "Replay"), until SIGINT/SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args as ClapArgs;
use twinloom_connector::history::parse_time;
use twinloom_connector::replay::Replay;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The stage folder (holds history.usda and history/).
    #[arg(long)]
    pub stage: PathBuf,
    /// Start: seconds since the Unix epoch or RFC 3339 (e.g. 2026-12-07T01:00:00Z).
    #[arg(long)]
    pub from: String,
    /// End (inclusive), in the same forms.
    #[arg(long)]
    pub to: String,
    /// Times real time (2: twice as fast); 0 sends every delta as fast as the client reads.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Where to serve the live protocol (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8766")]
    pub listen: String,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let from = parse_time(&a.from).with_context(|| format!("--from {:?} is not a time", a.from))?;
    let to = parse_time(&a.to).with_context(|| format!("--to {:?} is not a time", a.to))?;
    let replay = Arc::new(Replay::prepare(&a.stage, from, to, a.speed)?);
    let rt = super::runtime()?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&a.listen).await.with_context(|| format!("listening on {}", a.listen))?;
        let addr = listener.local_addr()?;
        super::write_line(format_args!(
            "replaying {} deltas ({} samples, {} shops) of {}..{} at {}x on ws://{addr}/v1/live",
            replay.deltas.len(),
            replay.samples,
            replay.shops.len(),
            a.from,
            a.to,
            a.speed
        ));
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        };
        replay.serve(listener, stop).await.context("serving the replay")
    })?;
    Ok(ExitCode::SUCCESS)
}
