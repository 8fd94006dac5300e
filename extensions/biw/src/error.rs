//! The crate's typed errors.

use std::path::PathBuf;

/// Everything that can go wrong in the BIW analytics.
#[derive(Debug, thiserror::Error)]
pub enum BiwError {
    #[error("cannot read {path}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse { path: PathBuf, line: usize, message: String },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("{path}: unsupported mesh format (expected .stl, .obj, .gltf or .glb)")]
    UnsupportedFormat { path: PathBuf },
    #[error("invalid mesh: {0}")]
    InvalidMesh(String),
    #[error("unknown robot model '{0}' (known: abb-irb2400, kuka-kr6-r700, fanuc-r2000ic-165f)")]
    UnknownRobot(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("trajectory: {0}")]
    Trajectory(String),
    /// GPU selection, kernel compilation or a CUDA driver call failed.
    #[error(transparent)]
    Gpu(#[from] twinloom_gpu::GpuError),
}
