//! One module per `twinloom` subcommand: each has `Args` (clap) and `run(args) -> anyhow::Result<ExitCode>`.

pub mod analyze;
pub mod balance;
pub mod check;
pub mod demo;
pub mod flow;
pub mod names;
pub mod run;
pub mod write_layer;
pub mod write_root;

use std::time::Duration;

/// Logs to stderr: human-readable by default, JSON lines with `--log-json`; `RUST_LOG` filters.
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// A runtime for the service: two workers leave the other cores to the USD writer threads.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?)
}

/// Resolves on SIGINT or SIGTERM, or after `seconds` if given.
pub async fn shutdown_signal(seconds: Option<f64>) {
    {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let timer = async {
            match seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = ctrl_c => tracing::info!("SIGINT"),
            _ = term => tracing::info!("SIGTERM"),
            _ = timer => {},
        }
    }
}

/// Arguments of the hidden child-writer commands (`write-root`, `write-layer`), which the service runs as
/// short-lived child processes (see `twinloom_connector::child_writer`).
#[derive(clap::Args)]
pub struct ChildWriterArgs {
    /// The spec the service wrote (JSON for `write-root`, JSON lines for `write-layer`).
    #[arg(long)]
    pub spec: std::path::PathBuf,
    /// The file to write (atomically).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// This program, to write stage files in child processes (`twinloom write-root`, `twinloom write-layer`);
/// `None` (writing them in-process) when the path cannot be found.
pub fn stage_writer() -> Option<std::path::PathBuf> {
    std::env::current_exe().ok().filter(|p| p.is_file())
}

/// Prints what a run did.
pub fn print_summary(s: &twinloom_connector::service::RunSummary) {
    println!("twinloom: {} signals bound in {} shops ({})", s.signals_bound, s.shops.len(), s.shops.join(", "));
    println!(
        "twinloom: {} samples in {:.1} s ({:.0} samples/s), {} rejected, {} deltas published",
        s.samples_in,
        s.seconds,
        s.samples_in as f64 / s.seconds.max(1e-9),
        s.samples_rejected,
        s.deltas
    );
    for f in &s.files {
        println!("twinloom: wrote {}", f.display());
    }
}
