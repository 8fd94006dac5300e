//! Discrete-event simulation of serial lines: model, distributions, shift calendars, engine, replications;
//! and max-plus Monte-Carlo replications of plain serial lines on the CPU or the GPU.

pub mod calendar;
pub mod dist;
pub mod engine;
pub mod maxplus;
pub mod maxplus_kernel;
pub mod model;
pub mod replicate;
pub mod rng;

pub use dist::Dist;
pub use engine::{RunStats, Sim, StationStats};
pub use maxplus::{replicate_maxplus, MaxPlusLine, MaxPlusSummary, MpRun, MpStation};
pub use model::{Failures, LineModel, Link, Source, Station, Variant};
pub use replicate::{replicate, Estimate, Summary};
