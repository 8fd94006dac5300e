//! `twinloom balance` (lands with its issue).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`twinloom balance` is not available in this build yet")
}
