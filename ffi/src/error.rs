//! Errors of the bridge: OpenUSD's own diagnostics and our checks, each carrying OpenUSD's message.

/// What went wrong in a call into OpenUSD.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum UsdError {
    /// A path OpenUSD rejects, or one with no spec where one is needed.
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A prim, property, field or schema name OpenUSD rejects.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A value whose type does not match the attribute or field.
    #[error("type mismatch: {0}")]
    TypeMismatch(String),
    /// Reading, creating, saving or exporting a file failed.
    #[error("I/O: {0}")]
    Io(String),
    /// A `.usdc` file was not written: it might not fit (a full disk or a file-size limit), and OpenUSD
    /// crashes the process when writing a `.usdc` fails (see [`crate::ensure_room`]).
    #[error("{path}: not written, it might not fit: {needed} bytes needed, {room} available (a full disk or a file-size limit)")]
    NoRoom { path: String, needed: u64, room: u64 },
    /// Any other diagnostic OpenUSD raised (TfError), with its text.
    #[error("OpenUSD: {0}")]
    Usd(String),
    /// A value type this crate does not model.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The same layer is already held by another `Layer` in this process (a layer has one writer).
    #[error("layer {0} is already open in this process; a layer has a single owner")]
    AlreadyOpen(String),
    /// An interned handle used with the wrong value type, or one from another writer.
    #[error("bad handle: {0}")]
    BadHandle(String),
    /// A sublayer named by a layer of a [`LayerStack`](crate::LayerStack) does not exist: `layer` names it
    /// as `sublayer`, which was looked for at `path`.
    #[error("sublayer {sublayer} of {layer} not found at {path}")]
    MissingSublayer { layer: std::path::PathBuf, sublayer: String, path: std::path::PathBuf },
}

impl From<cxx::Exception> for UsdError {
    fn from(e: cxx::Exception) -> Self {
        let text = e.what();
        let (tag, msg) = match text.strip_prefix('[').and_then(|r| r.split_once("] ")) {
            Some((tag, msg)) => (tag, msg.to_string()),
            None => ("usd", text.to_string()),
        };
        match tag {
            "path" => UsdError::InvalidPath(msg),
            "name" => UsdError::InvalidName(msg),
            "type" => UsdError::TypeMismatch(msg),
            "io" => UsdError::Io(msg),
            _ => UsdError::Usd(msg),
        }
    }
}

pub type Result<T, E = UsdError> = std::result::Result<T, E>;
