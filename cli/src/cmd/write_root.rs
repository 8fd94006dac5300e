//! `twinloom write-root --spec FILE --out PLANT.usda` (hidden): writes the root stage from a JSON spec.
//! The service runs it as a short-lived child process so that the long-running connector never holds the
//! large root layer (see the connector's stage module).

use std::process::ExitCode;

use anyhow::Context;
use twinloom_connector::{read_root_spec as read_spec, write_root};

/// `--spec FILE --out FILE`.
pub type Args = super::ChildWriterArgs;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let stage = read_spec(&args.spec)?;
    write_root(&args.out, &stage).with_context(|| format!("write {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
