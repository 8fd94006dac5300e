//! The crate's error type: what went wrong reading the stage, running the study or writing results.

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// OpenUSD refused to open, read or write something.
    #[error("{what}: {source}")]
    Usd {
        what: String,
        #[source]
        source: twinloom_usd::UsdError,
    },
    /// The stage has a prim or attribute that does not make sense for the study.
    #[error("{prim}: {message}")]
    Invalid { prim: String, message: String },
    /// The stage has no BIW stations with robots.
    #[error("{0}: no BIW stations with robots (expected TwinloomStationAPI prims holding TwinloomRobotAPI prims)")]
    NoStations(String),
    /// `--gpu on` without a usable GPU (the message says what is missing), or a GPU failure.
    #[error(transparent)]
    Gpu(#[from] twinloom_gpu::GpuError),
    /// The study (reach checks or collision study) failed on its device.
    #[error("BIW study: {0}")]
    Study(#[from] twinloom_biw::BiwError),
}

/// Wraps an OpenUSD error with what was being done.
pub(crate) fn usd(what: impl Into<String>) -> impl FnOnce(twinloom_usd::UsdError) -> StageError {
    let what = what.into();
    move |source| StageError::Usd { what, source }
}

/// An invalid-prim error.
pub(crate) fn invalid(prim: &str, message: impl Into<String>) -> StageError {
    StageError::Invalid { prim: prim.to_string(), message: message.into() }
}
