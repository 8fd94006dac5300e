//! The `twinloom` command-line program: a thin layer over the library crates.
//! Each subcommand lives in its own module under `cmd/` with an `Args` type and a `run` function.

/// Prints a line to standard output; a closed pipe ends the program quietly (see [`cmd::write_line`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cmd::write_line(format_args!($($arg)*))
    };
}

mod cmd;

use clap::{Parser, Subcommand};

/// mimalloc replaces malloc for the whole process (OpenUSD's C++ included, through the `override` feature):
/// Sdf's change bookkeeping is allocation-heavy, and this makes the USD writers much faster (README).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Twinloom: a live digital twin of a car plant as an OpenUSD stage.
#[derive(Parser)]
#[command(name = "twinloom", version, about)]
struct Cli {
    /// Log as JSON lines (for log shippers) instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: the sample plant simulator and the connector with embedded defaults.
    Demo(cmd::demo::Args),
    /// Run the connector service with a configuration file.
    Run(cmd::run::Args),
    /// Run an aggregator: the sites' NATS JetStream streams composed under /Enterprise (docs/nats.md).
    Aggregate(cmd::run::Args),
    /// Check a configuration file and print every problem with file:line:col.
    Check(cmd::check::Args),
    /// Make names valid USD identifiers exactly as NVIDIA's usd-exchange does.
    Names(cmd::names::Args),
    /// Body-in-white studies: mesh distance, robot reach, collision.
    #[command(subcommand)]
    Analyze(cmd::analyze::Command),
    /// Assembly line balancing (SALBP-1 / SALBP-2), exact.
    Balance(cmd::balance::Args),
    /// Audit journals of write commands: `audit verify FILE` checks the hash chain.
    #[command(subcommand)]
    Audit(cmd::audit::Command),
    /// Line flow simulation and what-if scenarios.
    Flow(cmd::flow::Args),
    /// Streaming anomaly detection over a series, with explanations (docs/diagnostics.md).
    Diagnose(cmd::diagnose::Args),
    /// Forecasts: remaining useful life of degrading assets, and the plant's assets to their failure
    /// limits (docs/forecast.md).
    Forecast(cmd::forecast::Args),
    /// The plant's past from the history clips: `history query` (docs/history.md).
    #[command(subcommand)]
    History(cmd::history::Command),
    /// A past period from the history served on the live stream protocol (docs/history.md).
    Replay(cmd::replay::Args),
    /// The twin's payback: projected against measured savings, per lever and dimension (docs/payback.md).
    Payback(cmd::payback::Args),
    /// Ask the twin a question in plain English; answered from its own analyses (docs/copilot.md).
    Ask(cmd::ask::Args),
    /// Ranked recommendations backed by digital-sibling runs (docs/prescriptive.md).
    Recommend(cmd::recommend::Args),
    /// Write a root stage from a spec (used by the service as a child process).
    #[command(hide = true)]
    WriteRoot(cmd::write_root::Args),
    /// Save a live layer from a spec (used by the service as a child process).
    #[command(hide = true)]
    WriteLayer(cmd::write_layer::Args),
}

fn main() -> std::process::ExitCode {
    twinloom_connector::tune_allocator();
    let cli = Cli::parse();
    cmd::init_logging(cli.log_json);
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Aggregate(a) => cmd::run::aggregate(a),
        Command::Check(a) => cmd::check::run(a),
        Command::Names(a) => cmd::names::run(a),
        Command::Analyze(c) => cmd::analyze::run(c),
        Command::Balance(a) => cmd::balance::run(a),
        Command::Flow(a) => cmd::flow::run(a),
        Command::Diagnose(a) => cmd::diagnose::run(a),
        Command::Forecast(c) => cmd::forecast::run(c),
        Command::Payback(a) => cmd::payback::run(a),
        Command::Ask(a) => cmd::ask::run(a),
        Command::Recommend(a) => cmd::recommend::run(a),
        Command::History(c) => cmd::history::run(c),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Audit(c) => cmd::audit::run(c),
        Command::WriteRoot(a) => cmd::write_root::run(a),
        Command::WriteLayer(a) => cmd::write_layer::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twinloom: error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
