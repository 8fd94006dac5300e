//! Typed errors of the forecaster: unreadable files, malformed rows (named by file and line), bad models.

use std::path::PathBuf;

/// Everything that can go wrong reading data, training or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A row of a data file does not follow the expected format.
    #[error("{}:{line}: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// A model file could not be parsed or is inconsistent.
    #[error("invalid model: {0}")]
    Model(String),
    /// Input handed to the API does not fit the model (wrong width, empty history, unknown column).
    #[error("invalid input: {0}")]
    Input(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ForecastError>;
