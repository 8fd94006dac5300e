//! The crate's error type: what is wrong with the stage (the shared [`StageError`], naming prim and
//! attribute), a stage without BIW stations, and failures of the device or the study.

pub use twinloom_usd::kit::StageError;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the stage or writing results failed (a missing, mistyped or invalid attribute or prim, a
    /// results file that is a layer of the stage, an OpenUSD error).
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The stage has no BIW stations with robots.
    #[error("{0}: no BIW stations with robots (expected TwinloomStationAPI prims holding TwinloomRobotAPI prims)")]
    NoStations(String),
    /// `--station` names a station the stage does not have.
    #[error("{stage}: no BIW station named {name} (stations: {known})")]
    NoSuchStation { stage: String, name: String, known: String },
    /// A fix names a weld, robot, program or fixture the station does not have.
    #[error("{station}: no {what} named {name}")]
    NotInStation { station: String, what: &'static str, name: String },
    /// `--gpu on` without a usable GPU (the message says what is missing), or a GPU failure.
    #[error(transparent)]
    Gpu(#[from] twinloom_gpu::GpuError),
    /// The study (reach checks or collision study) failed on its device.
    #[error("BIW study: {0}")]
    Study(#[from] twinloom_biw::BiwError),
}
