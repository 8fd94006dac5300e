//! `twinloom check --config FILE`: validates a configuration and prints every problem as
//! `file:line:col: message`; exits 1 when there are problems.

use std::path::PathBuf;
use std::process::ExitCode;

use twinloom_connector::Config;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML, see docs/configuration.md).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match Config::load(&args.config) {
        Ok(c) => {
            // The detector settings are the diagnostics' to judge (the connector keeps them as written).
            if let Err(e) = super::diagnose::live::monitor_config(&c.diagnostics.detector) {
                eprintln!("{}: {e}", args.config.display());
                eprintln!("{}: 1 problem(s)", args.config.display());
                return Ok(ExitCode::from(1));
            }
            out!(
                "{}: ok ({} sources, {} bindings, {} auto-bindings)",
                args.config.display(),
                c.sources.len(),
                c.bindings.len(),
                c.auto_bindings.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            eprintln!("{}: {} problem(s)", args.config.display(), e.problems.len());
            Ok(ExitCode::from(1))
        }
    }
}
