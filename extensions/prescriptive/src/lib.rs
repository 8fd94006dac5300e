//! Twinloom's recommender (docs/prescriptive.md): turns the results of digital-sibling runs into ranked,
//! explained recommendations. The crate runs no analysis itself and imports no other family (the peers'
//! rule, ARCHITECTURE.md; its only Twinloom dependency is the ground's `twinloom-usd`, for its layers): the
//! program (the CLI) runs the line simulation of the plant and of each candidate sibling, or the BIW study,
//! and hands the numbers in.
//!
//! - [`stats`]: the effect of a sibling against the plant from paired replications (common random numbers),
//!   with a Student-t 95 % confidence interval.
//! - [`rec`]: the recommendation record (id, sibling layer, effect and its uncertainty, writes, state) and
//!   the ranking.
//! - [`assembly`]: candidate changes around an assembly line's bottleneck and their recommendations.
//! - [`paint`]: oven setpoint and conveyor speed settings that cut energy per car inside the cure window.
//! - [`biw`]: recommendations from the BIW study's findings (a base shift per unreachable program, with its
//!   residual clearance; a re-teach or fixture shift per program segment with clashes).
//! - [`layer`]: the portable `.usda` text of a sibling layer and of the `recommendations.usda` results layer.

pub mod assembly;
pub mod biw;
pub mod error;
pub mod layer;
pub mod paint;
pub mod rec;
pub mod stats;

pub use error::PrescriptiveError;
pub use rec::{rank, Domain, Effect, Recommendation, State, Write};
pub use stats::{paired_gain, Gain};
