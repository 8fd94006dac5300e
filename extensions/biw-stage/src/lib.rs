//! twinloom-biw-stage: the body-in-white study on an OpenUSD plant stage.
//!
//! Reads a stage's BIW stations through `twinloom-usd`'s stage kit (`twinloom_usd::kit`: the root layer
//! and its sublayers with typed reads; [`geometry`]: transforms and meshes evaluated on it; [`read`]:
//! robots with their OPW models, base frames and link meshes, the station's body and fixture meshes, weld
//! points), derives each robot's weld program and reach verdicts ([`program`]), runs `twinloom-biw`'s
//! collision study ([`analysis`]; reach checks and collision study on the CPU or the GPU) and writes
//! `results.usda` through the kit's guarded writer, never over a layer of the stage ([`results`]). [`fix`]
//! re-runs the study for the fixes `twinloom recommend` proposes (a base shift's residual clearance, a
//! clash's re-taught approach or fixture shift). `twinloom analyze biw --stage plant.usda` is the command-line front end.
//!
//! ```no_run
//! let analysis = twinloom_biw_stage::analyze("plant.usda".as_ref(), &Default::default())?;
//! for line in analysis.sentences() {
//!     println!("{line}");
//! }
//! twinloom_biw_stage::write_results(&analysis, "results.usda".as_ref())?;
//! # Ok::<(), twinloom_biw_stage::Error>(())
//! ```

pub mod analysis;
mod error;
pub mod fix;
pub mod geometry;
pub mod program;
pub mod read;
pub mod results;

pub use analysis::{
    analyze, analyze_on, analyze_with, select_device, study_input, Analysis, GpuMode, Options, StationResult,
};
pub use error::{Error, StageError};
pub use program::ProgramSettings;
pub use results::write_results;
