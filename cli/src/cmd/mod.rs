//! One module per `twinloom` subcommand: each has `Args` (clap) and `run(args) -> anyhow::Result<ExitCode>`.

pub mod analyze;
pub mod ask;
pub mod audit;
pub mod balance;
pub mod check;
pub mod demo;
pub mod diagnose;
pub mod flow;
pub mod forecast;
pub mod history;
pub mod names;
pub mod payback;
pub mod plot;
pub mod recommend;
pub mod recommend_biw;
pub mod recommend_paint;
pub mod replay;
pub mod run;
pub mod write_layer;
pub mod write_root;

use std::time::Duration;

/// Writes one line to standard output (through [`out!`]). A closed pipe (`twinloom … | head -1`) is a
/// normal end: the process exits 0 quietly; any other write error exits 2 with a message.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("twinloom: writing to standard output: {e}");
        std::process::exit(2);
    }
}

/// The log filter without `RUST_LOG`: Twinloom's own messages from INFO up, the libraries' from WARN up
/// (but for the OPC UA client's warning that its own endpoint list is empty: Twinloom never serves one).
pub const DEFAULT_LOG_FILTER: &str = "warn,twinloom=info,opcua_client::config=error";

/// Logs to stderr: human-readable by default, JSON lines with `--log-json`; `RUST_LOG` filters (e.g.
/// `RUST_LOG=info` shows the libraries' INFO messages too), otherwise [`DEFAULT_LOG_FILTER`].
pub fn init_logging(json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
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

/// The service's stop conditions from the signals: the first SIGINT or SIGTERM (or `seconds` passing)
/// stops it cleanly, a second one hurries it (save the layers and exit without waiting for sources or
/// clients), a third exits at once without saving. Call it inside the runtime: the handlers are in place
/// when it returns, so a signal during start-up is not lost.
pub fn shutdown_on_signals(seconds: Option<f64>) -> twinloom_connector::Shutdown {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    let int = signal(SignalKind::interrupt());
    let term = signal(SignalKind::terminate());
    tokio::spawn(async move {
        let (mut int, mut term) = match (int, term) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("cannot listen for SIGINT/SIGTERM: {e}");
                return std::future::pending::<()>().await;
            }
        };
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            tx.send_modify(|n| *n += 1);
            let n = *tx.borrow();
            match n {
                1 => tracing::info!("{name}: stopping (a second signal skips waiting for sources and clients)"),
                2 => tracing::warn!("{name} again: saving the layers and exiting"),
                _ => {
                    eprintln!("twinloom: {name} a third time: exiting without saving");
                    std::process::exit(130);
                }
            }
        }
    });
    let after = |k: u32| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.wait_for(|n| *n >= k).await;
        }
    };
    let timer = async move {
        match seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => std::future::pending::<()>().await,
        }
    };
    let first = after(1);
    twinloom_connector::Shutdown::when(async move {
        tokio::select! {
            _ = first => {},
            _ = timer => {},
        }
    })
    .hurry_when(after(2))
}

/// How long the runtime waits for leftover tasks once the service has returned (a task stuck in a
/// source library must not keep the process alive).
pub const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Arguments of the hidden child-writer commands (`write-root`, `write-layer`), which the service runs as
/// short-lived child processes (see the connector's child_writer module).
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
pub fn print_summary(s: &twinloom_connector::RunSummary) {
    out!("twinloom: {} signals bound in {} shops ({})", s.signals_bound, s.shops.len(), s.shops.join(", "));
    out!(
        "twinloom: {} samples in {:.1} s ({:.0} samples/s), {} rejected, {} deltas published",
        s.samples_in,
        s.seconds,
        s.samples_in as f64 / s.seconds.max(1e-9),
        s.samples_rejected,
        s.deltas
    );
    for f in &s.files {
        out!("twinloom: wrote {}", f.display());
    }
}
