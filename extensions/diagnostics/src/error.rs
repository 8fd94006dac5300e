//! Typed errors of the diagnostics crate.

use std::path::PathBuf;

/// Everything that can go wrong in this crate. Detection itself never fails: bad samples are
/// classified by the input rules (see [`crate::input`]) instead of returning an error.
#[derive(Debug, thiserror::Error)]
pub enum DiagnosticsError {
    /// A detector configuration value is out of its documented range.
    #[error("invalid detector configuration: {0}")]
    InvalidConfig(String),
    /// A file could not be read or written.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A NAB data, label or result file is malformed.
    #[error("malformed NAB file {path}: {reason}")]
    Nab {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line where known.
        reason: String,
    },
    /// A timestamp string is not `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    #[error("bad timestamp {0:?}: expected YYYY-MM-DD HH:MM:SS[.ffffff]")]
    Timestamp(String),
}

/// Shorthand result type.
pub type Result<T> = std::result::Result<T, DiagnosticsError>;
