//! Typed errors of the flow crate: every input error names the file (or model) and the line or field.

use thiserror::Error;

/// Errors from reading instances and models, and from the solvers.
#[derive(Debug, Error)]
pub enum FlowError {
    /// A file could not be read.
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    /// A syntax or value error at a given line of an input file.
    #[error("{file}:{line}: {msg}")]
    Parse { file: String, line: usize, msg: String },
    /// An instance or model that parses but is not meaningful (names the field).
    #[error("{what}: {msg}")]
    Invalid { what: String, msg: String },
    /// GPU selection, kernel compilation or a CUDA driver call failed.
    #[error(transparent)]
    Gpu(#[from] twinloom_gpu::GpuError),
}

impl FlowError {
    pub(crate) fn parse(file: &str, line: usize, msg: impl Into<String>) -> Self {
        FlowError::Parse { file: file.to_string(), line, msg: msg.into() }
    }
    pub(crate) fn invalid(what: impl Into<String>, msg: impl Into<String>) -> Self {
        FlowError::Invalid { what: what.into(), msg: msg.into() }
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, FlowError>;
