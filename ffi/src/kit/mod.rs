//! The stage kit every `*-stage` crate shares: a plant stage opened as a [`LayerStack`] with typed reads
//! that name the prim and attribute in their errors ([`Stage`]), one error type for what can be wrong
//! with a stage or a results file ([`StageError`]), and one guarded writer for a results layer the root
//! stage can sublayer ([`ResultsLayer`]), which refuses to write over any layer of the stage it read:
//! an analysis or a what-if never writes the plant.
//!
//! ```no_run
//! use twinloom_usd::kit::{ResultsLayer, Stage};
//! use twinloom_usd::Value;
//! let stage = Stage::open("plant.usda".as_ref())?;
//! let takt = stage.real("/Plant/Line/S1", "twinloom:taktTime")?;
//! let mut out = ResultsLayer::create("results.usda".as_ref(), stage.layer_paths(), "example")?;
//! out.over("/Plant/Line/S1")?;
//! out.set_custom("/Plant/Line/S1", "example:takt", Value::Double(takt.unwrap_or(0.0)))?;
//! out.save()?;
//! # Ok::<(), twinloom_usd::kit::StageError>(())
//! ```

mod error;
mod read;
mod results;

pub use error::{usd, StageError};
pub use read::Stage;
pub use results::ResultsLayer;
