//! `twinloom write-root --spec FILE --out PLANT.usda` (hidden): writes the root stage from a JSON spec.
//! The service runs it as a short-lived child process so that the long-running connector never holds the
//! large root layer (see `twinloom_connector::stage`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use twinloom_connector::stage::{read_spec, write_root};

#[derive(clap::Args)]
pub struct Args {
    /// The root stage spec (JSON, written by the service).
    #[arg(long)]
    spec: PathBuf,
    /// The root layer to write (atomically).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stage = read_spec(&args.spec)?;
    write_root(&args.out, &stage).with_context(|| format!("write {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
