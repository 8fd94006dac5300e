//! Discrete-event simulation of serial lines: model, distributions, shift calendars, engine, replications.

pub mod calendar;
pub mod dist;
pub mod engine;
pub mod model;
pub mod replicate;
pub mod rng;

pub use dist::Dist;
pub use engine::{RunStats, Sim, StationStats};
pub use model::{Failures, LineModel, Link, Source, Station, Variant};
pub use replicate::{replicate, Estimate, Summary};
