//! The crate's error type: what went wrong reading the stage, building a line model or writing results.
//! Errors about the stage name the prim and, where there is one, the attribute.

use std::path::PathBuf;

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
    /// `--line` names a prim the stage does not have.
    #[error("{stage}: no prim at {prim}")]
    NoSuchPrim { stage: String, prim: String },
    /// `--line` names a prim without `TwinloomLineAPI`; `found` is what it is (its type and applied API
    /// schemas).
    #[error("{prim}: not a line (no TwinloomLineAPI applied; {found})")]
    NotALine { prim: String, found: String },
    /// The stage has no line with stations to simulate.
    #[error("{0}: no line (a prim with TwinloomLineAPI) with station children (TwinloomStationAPI)")]
    NoLines(String),
    /// A value the model needs is not authored.
    #[error("{prim}: missing {attribute}: {why}")]
    MissingAttribute { prim: String, attribute: String, why: String },
    /// An attribute holds a value of the wrong type.
    #[error("{prim}: {attribute} must be {expected}, not {found}")]
    WrongType { prim: String, attribute: String, expected: String, found: String },
    /// An attribute holds a value of the right type that makes no sense (negative capacity, …).
    #[error("{prim}: {attribute} = {value}: {message}")]
    InvalidValue { prim: String, attribute: String, value: String, message: String },
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
    /// The results would overwrite a layer of the stage (a what-if never writes the plant).
    #[error("refusing to write {out}: it is a layer of the stage ({layer}); results go to their own file")]
    WouldOverwriteStage { out: PathBuf, layer: PathBuf },
}

/// Wraps an OpenUSD error with what was being done.
pub(crate) fn usd(what: impl Into<String>) -> impl FnOnce(twinloom_usd::UsdError) -> StageError {
    let what = what.into();
    move |source| StageError::Usd { what, source }
}
