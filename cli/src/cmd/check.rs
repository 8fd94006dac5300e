//! `twinloom check --config FILE [--with OTHER …]`: validates a configuration and prints every problem as
//! `file:line:col: message`; exits 1 when there are problems. With `--with`, the files are the
//! connector processes of one or more sites split into partitions (docs/nats.md "Partitions"): each is
//! checked, then they are compared and overlapping partitions are refused.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use twinloom_connector::Config;

#[derive(clap::Args)]
pub struct Args {
    /// The configuration file (TOML, see docs/configuration.md).
    #[arg(long)]
    config: PathBuf,
    /// Another process's configuration of the same site(s) (a partition, docs/nats.md): no two of them
    /// may write the same attribute or share a site and partition key. Repeatable.
    #[arg(long = "with", value_name = "OTHER")]
    with: Vec<PathBuf>,
}

/// One file checked: its configuration, or `None` once its problems are printed.
fn check_one(path: &Path) -> Option<Config> {
    match Config::load(path) {
        Ok(c) => {
            // The detector settings are the diagnostics' to judge (the connector keeps them as written).
            if let Err(e) = super::diagnose::live::monitor_config(&c.diagnostics.detector) {
                eprintln!("{}: {e}", path.display());
                eprintln!("{}: 1 problem(s)", path.display());
                return None;
            }
            out!(
                "{}: ok ({} sources, {} bindings, {} auto-bindings)",
                path.display(),
                c.sources.len(),
                c.bindings.len(),
                c.auto_bindings.len()
            );
            Some(c)
        }
        Err(e) => {
            for p in &e.problems {
                eprintln!("{p}");
            }
            eprintln!("{}: {} problem(s)", path.display(), e.problems.len());
            None
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files: Vec<PathBuf> = std::iter::once(args.config).chain(args.with).collect();
    let loaded: Vec<Option<Config>> = files.iter().map(|f| check_one(f)).collect();
    if loaded.iter().any(Option::is_none) {
        return Ok(ExitCode::from(1));
    }
    if files.len() == 1 {
        return Ok(ExitCode::SUCCESS);
    }
    let configs: Vec<Config> = loaded.into_iter().flatten().collect();
    let problems = twinloom_connector::partition::check(&configs);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("partitions: {} problem(s) in {} files", problems.len(), files.len());
        return Ok(ExitCode::from(1));
    }
    for c in &configs {
        out!(
            "{}: site {} partition {}",
            c.file.display(),
            c.nats.site(),
            c.nats.partition.as_deref().unwrap_or("(none)")
        );
    }
    out!(
        "partitions: ok ({} files, no attribute bound twice; auto-bindings compared by their prims, the sources are not browsed)",
        files.len()
    );
    Ok(ExitCode::SUCCESS)
}
