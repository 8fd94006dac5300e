//! Why a ledger cannot be read or used: every error names the file and, where it has one, the line.

/// A ledger error.
#[derive(Debug, thiserror::Error)]
pub enum PaybackError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// The file is not valid TOML or does not have the ledger's shape.
    #[error("{path}:{line}: {message}")]
    Parse { path: String, line: usize, message: String },
    /// A value that parses but cannot be right (a negative cost, an unknown lever, a month out of range…).
    #[error("{path}:{line}: {message}")]
    Invalid { path: String, line: usize, message: String },
    /// Levers whose actuals stop and start again: the hole would have to be made up.
    #[error(
        "{path}: missing actuals (a lever needs one for every month from its start to its last actual): {missing}"
    )]
    MissingMonths { path: String, missing: String },
}

pub type Result<T> = std::result::Result<T, PaybackError>;
