//! `twinloom run --config FILE`: the connector service, until SIGINT/SIGTERM; and `twinloom aggregate
//! --config FILE`: the same service as an aggregator of sites over NATS JetStream (`[aggregate]`,
//! docs/nats.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use twinloom_connector::Config;
use twinloom_connector::ServiceError;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML, see docs/configuration.md).
    #[arg(long)]
    config: PathBuf,
    /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    seconds: Option<f64>,
}

/// `twinloom run`: a connector's config (an aggregator's is refused, it has its own command).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    serve(args, false)
}

/// `twinloom aggregate`: a config with an `[aggregate]` table.
pub fn aggregate(args: Args) -> anyhow::Result<ExitCode> {
    serve(args, true)
}

fn serve(args: Args, aggregator: bool) -> anyhow::Result<ExitCode> {
    let mut cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            anyhow::bail!("{}: {} configuration problem(s)", args.config.display(), e.problems.len());
        }
    };
    match (aggregator, cfg.aggregate.is_some()) {
        (true, false) => anyhow::bail!(
            "{}: no [aggregate] table: an aggregator names the sites it consumes (docs/nats.md)",
            args.config.display()
        ),
        (false, true) => anyhow::bail!(
            "{}: an aggregator's configuration ([aggregate]): run it with `twinloom aggregate`",
            args.config.display()
        ),
        _ => {}
    }
    cfg.stage_writer = super::stage_writer();
    cfg.observer = super::diagnose::live::observer(&cfg).with_context(|| args.config.display().to_string())?;
    cfg.ask = Some(super::ask::handler());
    let rt = super::runtime()?;
    let result =
        rt.block_on(async { twinloom_connector::run(cfg, super::shutdown_on_signals(args.seconds), |_| {}).await });
    rt.shutdown_timeout(super::RUNTIME_SHUTDOWN);
    match result {
        Ok(summary) => super::print_summary(&summary),
        Err(ServiceError::StoppedDuringStartup) => eprintln!("twinloom: stopped before the service was up"),
        Err(e) => return Err(e).with_context(|| format!("running {}", args.config.display())),
    }
    Ok(ExitCode::SUCCESS)
}
