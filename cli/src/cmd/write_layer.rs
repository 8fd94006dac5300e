//! `twinloom write-layer --spec FILE --out LIVE.usdc` (hidden): saves a live layer from the spec a shop
//! writer streamed (see the connector's layer_save module). The service runs it as a short-lived child
//! process so that a save never stalls the writer nor leaves its temporary memory behind.

use std::process::ExitCode;

use anyhow::Context;
use twinloom_connector::write_layer;

/// `--spec FILE --out FILE`.
pub type Args = super::ChildWriterArgs;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    write_layer(&args.spec, &args.out).with_context(|| format!("save {}", args.out.display()))?;
    Ok(ExitCode::SUCCESS)
}
