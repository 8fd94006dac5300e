//! The history store's errors: each names the file or attribute it concerns.

use std::path::PathBuf;

/// Why a history operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history {path}: {error}")]
    Usd { path: PathBuf, error: twinloom_usd::UsdError },
    #[error("history {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("history: shop name {0:?} is not usable as a folder (letters, digits, '_' and '-' only)")]
    BadShop(String),
    #[error("history: {0} is not a recorded attribute (no shop's manifest declares it)")]
    UnknownAttribute(String),
    #[error("history: {0} is not an attribute path (expected /Prim/Path.attr)")]
    BadPath(String),
    #[error("history: the time range {from}..{to} is empty or not finite")]
    BadRange { from: f64, to: f64 },
}

pub type Result<T, E = HistoryError> = std::result::Result<T, E>;

/// Wraps a USD error with the file it concerns.
pub(crate) fn usd(path: &std::path::Path) -> impl FnOnce(twinloom_usd::UsdError) -> HistoryError + '_ {
    move |error| HistoryError::Usd { path: path.to_path_buf(), error }
}
