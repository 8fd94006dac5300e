//! One module per `twinloom` subcommand: each has `Args` (clap) and `run(args) -> anyhow::Result<ExitCode>`.

pub mod analyze;
pub mod balance;
pub mod demo;
pub mod flow;
pub mod names;
