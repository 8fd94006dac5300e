//! The crate's error type: what is wrong with the stage (the shared [`StageError`], naming prim and
//! attribute), what makes a line unusable as a flow model, and a simulator refusal.

pub use twinloom_usd::kit::StageError;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the stage or writing the results layer failed (a missing, mistyped or invalid attribute, a
    /// results file that is a layer of the stage, an OpenUSD error).
    #[error(transparent)]
    Stage(#[from] StageError),
    /// `--line` names a prim without `TwinloomLineAPI`; `found` is what it is (its type and applied API
    /// schemas).
    #[error("{prim}: not a line (no TwinloomLineAPI applied; {found})")]
    NotALine { prim: String, found: String },
    /// The stage has no line with stations to simulate.
    #[error("{0}: no line (a prim with TwinloomLineAPI) with station children (TwinloomStationAPI)")]
    NoLines(String),
    /// The prims of a line do not form a serial line (no stations, two links in a row, …).
    #[error("{prim}: {message}")]
    InvalidLine { prim: String, message: String },
    /// The line model built from the stage was refused by the simulator.
    #[error("{line}: {source}")]
    Model {
        line: String,
        #[source]
        source: twinloom_flow::FlowError,
    },
}
