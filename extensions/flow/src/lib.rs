//! twinloom-flow: flow analytics for paint and assembly lines, pure Rust with no USD dependency.
//!
//! - [`salbp`]: exact assembly line balancing (SALBP-1, SALBP-2) with readers for Scholl's .IN2 and Otto et al.'s
//!   .alb formats, zoning constraints and station workload figures.
//! - [`des`]: discrete-event simulation of serial lines (buffers, conveyors, failures, shifts, product mix)
//!   with parallel replications and confidence intervals.
//! - [`paint`]: paint booth and oven: throughput against setpoints, energy per car, cure-window check.
//! - [`scenario`]: model files (TOML) for `twinloom flow`, with scenario overrides.

pub mod des;
pub mod error;
pub mod paint;
pub mod salbp;
pub mod scenario;

pub use error::{FlowError, Result};
