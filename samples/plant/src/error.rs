//! The library's error type.

/// What can go wrong writing the layout.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// OpenUSD refused an edit or could not write the file.
    #[error("writing {what}: {source}")]
    Usd {
        what: String,
        #[source]
        source: twinloom_usd::UsdError,
    },
    /// The output folder could not be made.
    #[error("creating {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
