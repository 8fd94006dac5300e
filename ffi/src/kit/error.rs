//! The one error type for stages and results layers: what was being read or written, where (the prim
//! and attribute, or the file), and why.

use std::path::PathBuf;

use crate::{UsdError, Value};

/// What can be wrong with a stage being read or a results layer being written.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// OpenUSD refused to open, read or write something; `what` says what was being done.
    #[error("{what}: {source}")]
    Usd {
        what: String,
        #[source]
        source: UsdError,
    },
    /// A prim the caller named is not on the stage.
    #[error("{stage}: no prim at {prim}")]
    NoSuchPrim { stage: String, prim: String },
    /// A value the reader needs is not authored.
    #[error("{prim}: missing {attribute}: {why}")]
    MissingAttribute { prim: String, attribute: String, why: String },
    /// An attribute holds a value of the wrong type.
    #[error("{prim}: {attribute} must be {expected}, not {found}")]
    WrongType { prim: String, attribute: String, expected: String, found: String },
    /// An attribute holds a value of the right type that makes no sense (negative capacity, …).
    #[error("{prim}: {attribute} = {value}: {message}")]
    InvalidValue { prim: String, attribute: String, value: String, message: String },
    /// A prim that does not make sense for the reader as a whole (no link meshes, a non-rigid transform, …).
    #[error("{prim}: {message}")]
    Invalid { prim: String, message: String },
    /// The results would overwrite a layer of the stage they were computed from.
    #[error("refusing to write {out}: it is a layer of the stage ({layer}); results go to their own file")]
    WouldOverwriteStage { out: PathBuf, layer: PathBuf },
}

impl StageError {
    /// An attribute of the wrong type; `expected` reads "a double", "token[]", ….
    pub fn wrong_type(prim: &str, attribute: &str, expected: &str, found: &Value) -> StageError {
        StageError::WrongType {
            prim: prim.to_string(),
            attribute: attribute.to_string(),
            expected: expected.to_string(),
            found: found.value_type().sdf_name().to_string(),
        }
    }

    /// An attribute value that makes no sense, with why.
    pub fn invalid_value(prim: &str, attribute: &str, value: impl ToString, message: impl Into<String>) -> StageError {
        StageError::InvalidValue {
            prim: prim.to_string(),
            attribute: attribute.to_string(),
            value: value.to_string(),
            message: message.into(),
        }
    }

    /// A required attribute that is not authored, with what it is needed for.
    pub fn missing(prim: &str, attribute: &str, why: impl Into<String>) -> StageError {
        StageError::MissingAttribute { prim: prim.to_string(), attribute: attribute.to_string(), why: why.into() }
    }

    /// A prim that makes no sense to the reader.
    pub fn invalid(prim: &str, message: impl Into<String>) -> StageError {
        StageError::Invalid { prim: prim.to_string(), message: message.into() }
    }
}

/// Wraps an OpenUSD error with what was being done: `.map_err(usd(format!("reading {path}")))`.
pub fn usd(what: impl Into<String>) -> impl FnOnce(UsdError) -> StageError {
    let what = what.into();
    move |source| StageError::Usd { what, source }
}
