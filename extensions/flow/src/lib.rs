//! twinloom-flow: flow analytics for paint and assembly lines, pure Rust with no USD dependency.
//!
//! - [`salbp`]: exact assembly line balancing (SALBP-1, SALBP-2) with readers for Scholl's .IN2 and Otto et al.'s
//!   .alb formats, zoning constraints and station workload figures.
//! - [`des`]: discrete-event simulation of serial lines (buffers, conveyors, failures, shifts, product mix)
//!   with parallel replications and confidence intervals; max-plus Monte-Carlo replications of plain serial
//!   lines on the CPU or, with the `cuda` feature, the GPU.
//! - [`paint`]: paint booth and oven: throughput against setpoints, energy per car, cure-window check.
//! - [`scenario`]: model files (TOML) for `twinloom flow`, with scenario overrides.

pub mod des;
pub mod error;
pub mod paint;
pub mod salbp;
pub mod scenario;

pub use error::{FlowError, Result};
/// GPU selection (`--gpu auto|on|off`) for the max-plus replications, re-exported for the `twinloom` command.
pub use twinloom_gpu as gpu;
