//! twinloom-flow-stage: the line flow simulation on an OpenUSD plant stage.
//!
//! Reads a stage's lines through `twinloom-usd`'s stage kit (`twinloom_usd::kit`: the root layer and its
//! sublayers, composed just enough, with typed reads; [`read`]: prims with `TwinloomLineAPI`, their stations, buffers and conveyors in
//! namespace order, as `twinloom_flow` line models), simulates them with `twinloom_flow`'s replications
//! ([`study`]) and writes a results layer of `over`s the root stage can sublayer ([`results`]), through the
//! kit's guarded writer that never writes over a layer of the stage.
//! `twinloom flow --stage plant.usda` is the command-line front end (docs/flow.md).
//!
//! ```no_run
//! use twinloom_flow_stage::{analyze, default_results_path, write_results, Options};
//! let stage = std::path::Path::new("plant.usda");
//! let study = analyze(stage, &Options::default())?;
//! for line in &study.lines {
//!     println!("{}: {:.1} jobs/h", line.line.prim, line.summary.throughput_per_h.mean);
//! }
//! write_results(&study, &default_results_path(stage))?;
//! # Ok::<(), twinloom_flow_stage::Error>(())
//! ```

mod error;
pub mod read;
pub mod results;
pub mod study;

pub use error::{Error, StageError};
pub use read::{StageLine, CYCLE_TIME_SD, MTBF, MTTR};
pub use results::write_results;
pub use study::{analyze, default_results_path, LineResult, Options, Study};

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
